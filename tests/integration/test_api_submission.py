"""Submitting through the HTTP API in the embedded mode (SQLite, in-process workers): accepted
interchanges flow to adjudication; unusable bodies are answered at once with the TA1 or 999
that says why, and nothing already accepted is lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import Role, create_key
from claims_engine.services.reference import load_runtime
from claims_engine.store import tables as t
from claims_engine.store.db import engine_for
from tests.conftest import VALID_837P
from tests.integration.pipeline_support import NOW, generated_837, prepared_store
from workers.settings import Environment, Settings, environment, use_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VALID = VALID_837P.read_text()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Engine, dict[str, str]]]:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    engine = engine_for(url)
    prepared_store(engine)
    settings = Settings(url, None, ROOT / "rules", frozenset({1, 2, 3, 4, 5}))
    env = Environment(settings, engine)
    previous = environment()
    use_environment(env)  # the in-process actors work on this store
    # a clearinghouse's key: every billing provider of the reference data, and the sample's
    billing = sorted(load_runtime(engine, ROOT / "rules").reference.providers)
    provider = create_key(engine, Role.PROVIDER, now=NOW, npis=["1234567893", *billing])
    one = create_key(engine, Role.PROVIDER, now=NOW, npis=["1234567893"])
    member = create_key(engine, Role.MEMBER, now=NOW, member_id="PG00000100")
    app = create_app(
        ApiConfig(env, now=lambda: NOW + timedelta(minutes=5), max_body_bytes=2_000_000)
    )
    try:
        with TestClient(app) as client:
            yield (
                client,
                engine,
                {"provider": provider.token, "one": one.token, "member": member.token},
            )
    finally:
        use_environment(previous)
        engine.dispose()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"}


def _wait_ingested(client: TestClient, token: str, interchange_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/v1/interchanges/{interchange_id}", headers=_auth(token)
        ).json()
        waiting = body["claims"]["received"] + body["claims"]["accepted"]
        if body["state"] != "received" and waiting == 0:
            return body
        time.sleep(0.05)
    raise AssertionError(f"interchange {interchange_id} not done: {body}")


def test_a_submitted_interchange_is_acknowledged_and_adjudicated(
    api: tuple[TestClient, Engine, dict[str, str]], tmp_path: Path
) -> None:
    client, engine, tokens = api
    raw = generated_837(tmp_path / "a.837", claims=60, seed=41, control=777001)
    r = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["provider"]))
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["claims"] == 60
    assert r.headers["location"] == f"/v1/interchanges/{accepted['id']}"
    done = _wait_ingested(client, tokens["provider"], accepted["id"])
    assert done["state"] == "ingested"
    assert sum(done["claims"].values()) == 60
    assert (
        done["claims"]["adjudicated"] + done["claims"]["pended"] + done["claims"]["rejected"] == 60
    )
    kinds = {a["kind"]: a["href"] for a in done["acknowledgments"]}
    assert set(kinds) == {"999", "277ca"}
    nine = client.get(kinds["999"], headers=_auth(tokens["provider"]))
    assert nine.status_code == 200 and "ST*999*" in nine.text
    # a member key may not read the interchange of a provider
    assert (
        client.get(
            f"/v1/interchanges/{accepted['id']}", headers=_auth(tokens["member"])
        ).status_code
        == 404
    )

    # the same file again: 409 with the TA1 025, and nothing more stored
    again = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["provider"]))
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "duplicate_interchange"
    assert "*R*025~" in error["acknowledgment"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.claims_table)).scalar_one() == 60


def test_unusable_bodies_are_refused_with_their_acknowledgment(
    api: tuple[TestClient, Engine, dict[str, str]],
) -> None:
    client, engine, tokens = api
    headers = _auth(tokens["provider"])

    def post(body: bytes) -> Any:
        return client.post("/v1/interchanges", content=body, headers=headers)

    r = post(b"hello, this is not X12")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "not_x12"
    assert r.json()["error"]["acknowledgment"] is None

    r = post(VALID.replace("IEA*1*000000101~", "IEA*3*000000101~", 1).encode())
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "interchange_refused"
    assert "TA1*000000101*" in r.json()["error"]["acknowledgment"]
    assert "*R*021~" in r.json()["error"]["acknowledgment"]

    r = post(VALID.replace("SE*54*0001~", "SE*50*0001~", 1).encode())
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "transaction_sets_rejected"
    assert "IK5*R*4~" in r.json()["error"]["acknowledgment"]

    r = post(b"")
    assert r.status_code == 400

    r = post(b"ISA" + b"*" * 3_000_000)
    assert r.status_code == 413

    # none of them left anything behind; a good file after them goes through
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar_one() == 0
        )
    good = post(VALID.encode())
    assert good.status_code == 202, good.text
    _wait_ingested(client, tokens["provider"], good.json()["id"])


def test_a_provider_submits_only_claims_it_bills(
    api: tuple[TestClient, Engine, dict[str, str]], tmp_path: Path
) -> None:
    client, engine, tokens = api
    raw = generated_837(tmp_path / "b.837", claims=30, seed=43, control=777002)
    r = client.post("/v1/interchanges", content=raw, headers=_auth(tokens["one"]))
    assert r.status_code == 403
    assert "claims billed under NPIs this key does not hold" in r.json()["error"]["message"]
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.interchanges_table)).scalar_one() == 0
        )
    # its own claims (the sample's billing provider) it may send
    ok = client.post("/v1/interchanges", content=VALID.encode(), headers=_auth(tokens["one"]))
    assert ok.status_code == 202, ok.text
