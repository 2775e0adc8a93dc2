"""The OpenAPI document against the running app: complete (every route with its schemas,
examples and error bodies), and schemathesis finds no 500 and no response that breaks it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import CreatedKey, Role, create_key
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store.db import engine_for
from claims_engine.x12.reader278 import ReviewRequest
from claims_engine.x12.writer278 import PENDED, Decision, Decisions, EventDecision
from tests.integration.pipeline_support import NOW, generated_837, prepared_store
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Served:
    app: FastAPI
    key: CreatedKey  # the insurer's
    examiner: CreatedKey  # for the examination routes, which an insurer key only reads


def _pend_every_event(request: ReviewRequest, _who: Any) -> Decisions:
    """The 278's decisions here: every event pended (the route's own paths are fuzzed, not a
    prior-authorization service's)."""
    return tuple(EventDecision(e, Decision(PENDED)) for e in request.events)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("schema")
    url = f"sqlite:///{tmp / 'claims.db'}"
    engine = engine_for(url)
    runtime = prepared_store(engine)
    sub = submit(engine, generated_837(tmp / "a.837", claims=40, seed=5), "a.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    run_payment_cycle(engine, runtime, NOW, tmp / "835")
    key = create_key(engine, Role.INSURER, now=NOW)
    examiner = create_key(engine, Role.EXAMINER, now=NOW)
    env = Environment(Settings(url, None, ROOT / "rules", frozenset({1, 2, 3, 4, 5})), engine)
    app = create_app(
        ApiConfig(
            env,
            now=lambda: NOW + timedelta(hours=1),
            inprocess_workers=False,
            decide_278=_pend_every_event,
        )
    )
    yield Served(app, key, examiner)
    engine.dispose()


OPERATIONS = (
    ("POST", "/v1/interchanges"),
    ("GET", "/v1/interchanges/{interchange_id}"),
    ("GET", "/v1/interchanges/{interchange_id}/acknowledgments/{ack_id}"),
    ("GET", "/v1/claims"),
    ("GET", "/v1/claims/{claim_id}"),
    ("GET", "/v1/remittances/{remittance_id}"),
    ("POST", "/v1/x12/276"),
    ("POST", "/v1/x12/270"),
    ("POST", "/v1/x12/278"),
    ("POST", "/v1/x12/834"),
    ("GET", "/v1/x12/834/{interchange_id}"),
    ("GET", "/fhir/r4/ExplanationOfBenefit"),
    ("GET", "/fhir/r4/ExplanationOfBenefit/{eob_id}"),
    ("POST", "/fhir/r4/Claim/$submit"),
    ("POST", "/fhir/r4/Claim/$inquire"),
    ("GET", "/v1/authorizations/{number}"),
    ("GET", "/v1/authorizations"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/queues"),
    ("GET", "/v1/queues/{queue}/claims"),
    ("GET", "/v1/claims/{claim_id}/examination"),
    ("POST", "/v1/claims/{claim_id}/actions"),
    ("GET", "/v1/actions"),
    ("POST", "/v1/actions/{action_id}/approve"),
    ("POST", "/v1/actions/{action_id}/refuse"),
)
EXAMINATION = {path for _method, path in OPERATIONS if "/queues" in path or "/actions" in path}
EXAMINATION.add("/v1/claims/{claim_id}/examination")


# (schemathesis's own pytest integration, from_fixture, does not run under pytest 9: each
# operation's cases are drawn here with its hypothesis strategy instead.)
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_500_and_no_response_outside_the_schema(served: Served, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", served.app)
    operation = schema[path][method]
    key = served.examiner if path in EXAMINATION else served.key
    headers = {"Authorization": f"Bearer {key.token}"}

    # A raw X12 body is a string to OpenAPI: no schema can say which strings are interchanges,
    # so a schema-valid body may rightly be refused (400 / 422 with its TA1 or 999) there; an
    # action's codes and lines are checked against the code lists and the claim (400), and a
    # queue's (and the authorizations poll's) page cursor is opaque: a string that is none is
    # refused with 400.
    excluded = (
        [positive_data_acceptance]
        if method == "POST" or path in ("/v1/queues/{queue}/claims", "/v1/authorizations")
        else []
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    check()


def test_the_document_describes_every_route_completely(served: Served) -> None:
    with TestClient(served.app) as client:
        doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    documented = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert documented == set(OPERATIONS)  # every route is fuzzed above
    schemas = doc["components"]["schemas"]
    for name in (
        "ClaimOut",
        "ClaimPage",
        "InterchangeOut",
        "RemittanceOut",
        "ErrorBody",
        "QueueList",
        "QueuePageOut",
        "ExaminationOut",
        "ActionResultOut",
        "AwaitingList",
        "RefusalIn",
        "PriceIn",
        "DenyIn",
        "EnrollmentAccepted",
        "EnrollmentOut",
        "AuthorizationOut",
        "AuthorizationPage",
    ):
        assert schemas[name].get("examples"), f"{name} has no example"
    for path, operations in paths.items():
        if path in ("/healthz", "/readyz"):
            continue
        for method, op in operations.items():
            responses = op["responses"]
            assert "401" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert response.get("content"), (method, path, status)
            assert op.get("summary"), (method, path)
            if method == "post" and path != "/v1/actions/{action_id}/approve":  # no body
                assert op["requestBody"]["content"], (method, path)
