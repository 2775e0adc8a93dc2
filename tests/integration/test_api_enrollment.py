"""X12 834 enrollment through the HTTP API (``POST /v1/x12/834``, ``GET /v1/x12/834/{id}``),
in the embedded mode (in-process workers) on SQLite and PostgreSQL: stored, applied by the
``apply_enrollment`` actor, its report and 999 readable by the insurer and by the sponsor key
that sent it; a sponsor key sends only its own sponsor's files (another's is refused, nothing
stored or applied) and reads no claim, member or examination route. The recovery sweep sends
received 834s to the enrollment actor, never to the 837 intake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.cli.demo import renumber
from claims_engine.services import recovery
from claims_engine.services.access import Role, create_key
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.members import receive_834
from claims_engine.services.reference import load_runtime
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from tests.conftest import FIXTURES
from tests.e2e.cli_support import TWO_CLAIMS
from tests.integration.enrollment_support import Line, Person, write_834
from tests.integration.pipeline_support import NOW, prepared_store
from tests.x12_oracle import pyx12_errors
from workers.settings import Environment, Settings, environment, use_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
EXAMPLES = FIXTURES / "x12" / "834"
SPONSOR, OTHER = "999888777", "000111000"
Api = tuple[TestClient, Engine, dict[str, str]]


def example(name: str, control: int) -> bytes:
    """A guide example of fixtures/x12/834 with ISA13 ``control`` (they all share one)."""
    return renumber((EXAMPLES / f"{name}.x12").read_bytes(), control)


ENROLL = "enroll-employee-in-managed-care-product"  # sponsor 999888777 adds 202443307
OTHERS = "change-subscriber-information"  # sponsor 000111000's


@contextmanager
def _serving(engine: Engine) -> Iterator[Api]:
    """The app over ``engine``'s store with its in-process workers, and tokens of the insurer,
    sponsor 999888777, sponsor 000111000, a provider and a member."""
    runtime = prepared_store(engine)
    url = engine.url.render_as_string(hide_password=False)
    env = Environment(Settings(url, None, RULES, frozenset({1, 2, 3, 4, 5})), engine)
    previous = environment()
    use_environment(env)  # the in-process actors work on this store
    sponsors = list(runtime.sponsors)
    keys = {
        "insurer": create_key(engine, Role.INSURER, now=NOW),
        "sponsor": create_key(engine, Role.SPONSOR, now=NOW, sponsor_id=SPONSOR, sponsors=sponsors),
        "other": create_key(engine, Role.SPONSOR, now=NOW, sponsor_id=OTHER, sponsors=sponsors),
        "provider": create_key(
            engine, Role.PROVIDER, now=NOW, npis=["1234567893"], senders=["SUBMITTER01"]
        ),
        "member": create_key(engine, Role.MEMBER, now=NOW, member_id="PG00000100"),
    }
    app = create_app(ApiConfig(env, now=lambda: NOW + timedelta(minutes=5)))
    try:
        with TestClient(app) as client:
            yield client, engine, {name: key.token for name, key in keys.items()}
    finally:
        use_environment(previous)


@pytest.fixture
def api(sqlite_engine: Engine) -> Iterator[Api]:
    with _serving(sqlite_engine) as served:
        yield served


@pytest.fixture
def api_on(engine: Engine) -> Iterator[Api]:
    """:func:`api` on SQLite and on PostgreSQL."""
    with _serving(engine) as served:
        yield served


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"}


def _done(client: TestClient, token: str, interchange_id: int) -> dict[str, Any]:
    """The 834's result once the worker applied (or refused) it."""
    deadline = time.monotonic() + 60
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = client.get(f"/v1/x12/834/{interchange_id}", headers=_auth(token))
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] != "received":
            return body
        time.sleep(0.05)
    raise AssertionError(f"834 {interchange_id} not applied: {body}")


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _members(engine: Engine) -> int:
    return _count(engine, t.enrollment_members_table)


def _counter(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


def test_an_insurer_sends_an_834_that_the_worker_applies(api_on: Api) -> None:
    client, engine, tokens = api_on
    added_before = _counter("claims_enrollment_members_total", outcome="added")
    files_before = _counter("claims_enrollment_files_total", result="applied")
    r = client.post("/v1/x12/834", content=example(ENROLL, 301), headers=_auth(tokens["insurer"]))
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert (accepted["state"], accepted["sponsor"], accepted["members"]) == ("received", SPONSOR, 1)
    assert r.headers["location"] == f"/v1/x12/834/{accepted['id']}"
    done = _done(client, tokens["insurer"], accepted["id"])
    assert done["state"] == "ingested" and done["reason"] is None
    assert done["sponsor"] == SPONSOR
    report = done["report"]
    assert report["counts"]["added"] == 1
    assert [(m["member_id"], m["outcome"]) for m in report["members"]] == [("202443307", "added")]
    assert load_runtime(engine, RULES).reference.members["202443307"].plan_id == "HMO-SILVER"
    [ack] = done["acknowledgments"]
    assert ack["kind"] == "999"
    x12 = client.get(ack["href"], headers=_auth(tokens["insurer"]))
    assert x12.status_code == 200 and "ST*999*" in x12.text and "AK9*A*1*1*1~" in x12.text
    assert pyx12_errors(x12.text) == []
    # counted once, and audited as a read of health data
    assert _counter("claims_enrollment_members_total", outcome="added") == added_before + 1
    assert _counter("claims_enrollment_files_total", result="applied") == files_before + 1
    with engine.connect() as conn:
        reads = conn.execute(
            select(t.phi_reads_table.c.record_id).where(
                t.phi_reads_table.c.record_type == "enrollment_file"
            )
        ).scalars()
        assert str(accepted["id"]) in list(reads)

    # the same file again: 409, nothing changed
    versions = _members(engine)
    again = client.post(
        "/v1/x12/834", content=example(ENROLL, 301), headers=_auth(tokens["insurer"])
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate_interchange"
    assert _members(engine) == versions

    # the insurer may assert the sponsor: another is refused, nothing stored
    stored = _count(engine, t.interchanges_table)
    wrong = client.post(
        f"/v1/x12/834?sponsor={OTHER}",
        content=example(ENROLL, 302),
        headers=_auth(tokens["insurer"]),
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "sponsor_mismatch"
    assert _count(engine, t.interchanges_table) == stored


def test_a_sponsor_key_sends_its_own_sponsors_files_only(api_on: Api) -> None:
    client, engine, tokens = api_on
    versions = _members(engine)
    # sponsor 999888777's key sends a file of sponsor 000111000: refused, nothing stored
    r = client.post("/v1/x12/834", content=example(OTHERS, 311), headers=_auth(tokens["sponsor"]))
    assert r.status_code == 403, r.text
    assert "not this key's sponsor" in r.json()["error"]["message"]
    assert _count(engine, t.interchanges_table) == 0
    assert _members(engine) == versions
    # nor can it ask for another sponsor in the query
    r = client.post(
        f"/v1/x12/834?sponsor={OTHER}",
        content=example(ENROLL, 312),
        headers=_auth(tokens["sponsor"]),
    )
    assert r.status_code == 403
    assert _count(engine, t.interchanges_table) == 0

    # its own file: applied, and its result readable by it and the insurer only
    r = client.post("/v1/x12/834", content=example(ENROLL, 313), headers=_auth(tokens["sponsor"]))
    assert r.status_code == 202, r.text
    interchange_id = r.json()["id"]
    done = _done(client, tokens["sponsor"], interchange_id)
    assert done["report"]["counts"]["added"] == 1
    assert "readjusted" not in done["report"]["counts"]  # a sponsor sees no claim
    assert _members(engine) == versions + 1
    insurer = client.get(f"/v1/x12/834/{interchange_id}", headers=_auth(tokens["insurer"]))
    assert insurer.status_code == 200
    assert insurer.json()["report"]["counts"]["readjusted"] == 0
    assert (
        client.get(f"/v1/x12/834/{interchange_id}", headers=_auth(tokens["other"])).status_code
        == 404
    )
    for name in ("provider", "member"):
        assert (
            client.get(f"/v1/x12/834/{interchange_id}", headers=_auth(tokens[name])).status_code
            == 403
        )
        r = client.post("/v1/x12/834", content=example(ENROLL, 314), headers=_auth(tokens[name]))
        assert r.status_code == 403
    # the interchange's own routes: the sponsor's, not the other sponsor's
    own = client.get(f"/v1/interchanges/{interchange_id}", headers=_auth(tokens["sponsor"]))
    assert own.status_code == 200
    assert (
        client.get(f"/v1/interchanges/{interchange_id}", headers=_auth(tokens["other"])).status_code
        == 404
    )


def test_a_sponsor_key_reads_no_claim_member_or_examination_route(api: Api) -> None:
    client, engine, tokens = api
    runtime = load_runtime(engine, RULES)
    sub = submit(engine, TWO_CLAIMS.read_bytes(), "two.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    with engine.connect() as conn:
        claim_id = conn.execute(select(func.min(t.claims_table.c.id))).scalar_one()
    sponsor = _auth(tokens["sponsor"])
    insurer = _auth(tokens["insurer"])
    assert client.get(f"/v1/claims/{claim_id}", headers=insurer).status_code == 200
    assert client.get(f"/v1/claims/{claim_id}", headers=sponsor).status_code == 404
    assert client.get("/v1/claims", headers=sponsor).json()["items"] == []
    assert client.get("/v1/claims?member=PG00000100", headers=sponsor).json()["items"] == []
    eob = client.get(f"/fhir/r4/ExplanationOfBenefit/{claim_id}", headers=sponsor)
    assert eob.status_code == 404
    bundle = client.get("/fhir/r4/ExplanationOfBenefit?patient=PG00000100", headers=sponsor)
    assert bundle.status_code == 200 and bundle.json()["total"] == 0
    assert client.get("/v1/queues", headers=sponsor).status_code == 403
    assert client.get(f"/v1/claims/{claim_id}/examination", headers=sponsor).status_code == 403
    assert client.post("/v1/x12/270", content=b"ISA", headers=sponsor).status_code == 403
    assert client.post("/v1/x12/276", content=b"ISA", headers=sponsor).status_code == 403
    assert client.post("/v1/interchanges", content=b"ISA", headers=sponsor).status_code == 403


def test_unusable_834s_are_answered_at_once(api: Api) -> None:
    client, engine, tokens = api
    insurer = _auth(tokens["insurer"])
    r = client.post("/v1/x12/834", content=b"not X12 at all", headers=insurer)
    assert r.status_code == 400 and r.json()["error"]["code"] == "not_x12"
    assert _count(engine, t.interchanges_table) == 0

    # a transaction set the guide refuses: 422 with the 999, kept as refused, nothing applied
    versions = _members(engine)
    broken = example(ENROLL, 321).replace(b"SE*18*12345~", b"SE*17*12345~")
    r = client.post("/v1/x12/834", content=broken, headers=insurer)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "transaction_sets_rejected"
    assert "IK5*R*" in error["acknowledgment"] and pyx12_errors(error["acknowledgment"]) == []
    assert _members(engine) == versions
    with engine.connect() as conn:
        [(interchange_id, state)] = conn.execute(
            select(t.interchanges_table.c.id, t.interchanges_table.c.state)
        ).all()
    assert state == "rejected"
    refused = client.get(f"/v1/x12/834/{interchange_id}", headers=insurer).json()
    assert refused["report"] is None and refused["reason"]
    assert [a["kind"] for a in refused["acknowledgments"]] == ["999"]

    # a sponsor sponsors.yaml does not list: 422, nothing stored
    unknown = write_834(
        [Person("021", "X1", lines=[Line(begin=date(2026, 1, 1))])], control=322, sponsor="123"
    )
    r = client.post("/v1/x12/834", content=unknown, headers=insurer)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_sponsor"
    assert _count(engine, t.interchanges_table) == 1


def test_a_retro_add_through_the_api_pays_a_co31_denial(api: Api) -> None:
    """JOHN DOE (JD00999887777) of the two-claim sample is not enrolled: his claim is denied
    CO-31. The sponsor's 834 enrolls him from 2026-10-01: the worker applies it and adjudicates
    his claim again, now covered."""
    client, engine, tokens = api
    runtime = load_runtime(engine, RULES)
    sub = submit(engine, TWO_CLAIMS.read_bytes(), "two.837", NOW)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    john = Person(
        "021",
        "JD00999887777",
        last="DOE",
        first="JOHN",
        birth=date(1970, 1, 15),
        lines=[Line(begin=date(2026, 10, 1))],
    )
    r = client.post(
        "/v1/x12/834",
        content=write_834([john], control=331, created=date(2026, 11, 2)),
        headers=_auth(tokens["insurer"]),
    )
    assert r.status_code == 202, r.text
    done = _done(client, tokens["insurer"], r.json()["id"])
    [sent] = done["report"]["readjusted"]
    assert "covered on 2026-10-15 now" in sent["why"]
    c = t.claims_table.c
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            state = conn.execute(select(c.state).where(c.id == int(sent["claim_id"]))).scalar_one()
        if state != "accepted":
            break
        time.sleep(0.05)
    assert state == "adjudicated"
    with engine.connect() as conn:
        original = conn.execute(
            select(c.id).where(c.payer_claim_number == sent["claim"])
        ).scalar_one()
        reversed_by = conn.execute(
            select(t.adjudications_table.c.reversed_by).where(
                t.adjudications_table.c.claim_id == original,
                t.adjudications_table.c.kind == "decision",
            )
        ).scalar_one()
    assert reversed_by is not None


def test_the_sweep_sends_received_834s_to_the_enrollment_actor(api: Api) -> None:
    client, engine, tokens = api
    from workers import actors

    received = receive_834(engine, example(ENROLL, 341), file_name="lost.834", now=NOW)
    work = recovery.stale_work(engine, NOW + timedelta(minutes=10))
    assert work.enrollments == [received.interchange_id]
    assert work.interchanges == []  # never to the 837 intake
    actors.sweep(None)  # the app's in-process worker takes the message
    done = _done(client, tokens["insurer"], received.interchange_id)
    assert done["state"] == "ingested"
    assert done["report"]["counts"]["added"] == 1
    assert recovery.stale_work(engine, NOW + timedelta(minutes=10)).enrollments == []
