"""Issue 15, the attack end to end on SQLite and on PostgreSQL: a provider key submits, through
the API, voids and replacements naming (REF*F8) a paid claim that is not its own, of another
provider for the same patient, or of its own NPI for another patient. The API takes the file
(202), and adjudication answers each exactly as it answers a claim naming an original that
does not exist (CO-129, N185): the original stands, its payee's next 835 does not move, and
nothing of the original shows in the answer, the status, the 277, the EOB or the logs."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.domain.model import Claim, Provider
from claims_engine.services import stored_adjudication as adjudication_service
from claims_engine.services.access import CreatedKey, Role, create_key
from claims_engine.services.queries import claim_status, find_claims
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import read_claim
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, check_835, generated_837, prepared_store
from tests.integration.pipeline_support import work_through as _work_through
from tests.integration.x212_support import Ask, blocks, build_276
from workers.settings import Environment, Settings, environment, use_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NO_SUCH_CLAIM = "99999999999999"  # a payer claim number the store has never given


@dataclass
class Victim:
    payer_claim_number: str
    row_id: int
    claim: Claim
    adjudications: list[tuple[Any, ...]]


@dataclass
class World:
    engine: Engine
    runtime: Runtime
    client: TestClient
    victim: Victim
    provider_a: CreatedKey  # the victim's own billing provider
    provider_b: CreatedKey  # another billing provider
    other_billing: Provider
    other_patient: Any  # a reference Member, not the victim's patient
    insurer: CreatedKey
    member: CreatedKey  # the victim's patient


def _adjudication_rows(engine: Engine, row_id: int) -> list[tuple[Any, ...]]:
    a = t.adjudications_table.c
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    a.kind, a.payer_claim_number, a.reversed_by, a.outcome, a.paid, a.decision
                ).where(a.claim_id == row_id)
            )
        ]


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Iterator[World]:
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "batch.837", claims=60, seed=16)
    _work_through(engine, runtime, [("batch.837", raw)])
    c, a = t.claims_table.c, t.adjudications_table.c
    reference = runtime.reference
    with engine.connect() as conn:
        paid = conn.execute(
            select(c.id, c.payer_claim_number, c.claim)
            .join(t.adjudications_table, a.claim_id == c.id)
            .where(c.state == "remitted", a.paid > Decimal(0), c.claim_type == "P")
            .order_by(c.id)
        ).all()
    victim = next(
        Victim(str(r.payer_claim_number), int(r.id), claim, _adjudication_rows(engine, r.id))
        for r in paid
        if (claim := read_claim(r.claim)).patient_relationship == "18"
        and not reference.providers[claim.billing_provider.npi].is_person
    )
    own_npi = victim.claim.billing_provider.npi
    other_npi = next(
        npi
        for npi, p in sorted(reference.providers.items())
        if npi != own_npi and not p.is_person and p.kind == "professional"
    )
    other = reference.providers[other_npi]
    other_billing = replace(
        victim.claim.billing_provider,
        npi=other_npi,
        last_name=other.last_or_org_name,
        tin=other.tin,
    )
    other_patient = next(
        m
        for m in sorted(reference.members.values(), key=lambda m: m.member_id)
        if m.is_subscriber and m.member_id != victim.claim.subscriber.member_id
    )
    provider_a = create_key(engine, Role.PROVIDER, now=NOW, npis=[own_npi], senders=["SENDERA"])
    provider_b = create_key(engine, Role.PROVIDER, now=NOW, npis=[other_npi], senders=["SENDERB"])
    insurer = create_key(engine, Role.INSURER, now=NOW)
    member = create_key(
        engine,
        Role.MEMBER,
        now=NOW,
        member_id=victim.claim.subscriber.member_id,
        reference=reference,
    )
    settings = Settings(None, None, ROOT / "rules", frozenset({1, 2, 3, 4, 5}))
    previous = environment()
    env = Environment(settings, engine)
    use_environment(env)
    app = create_app(ApiConfig(env, now=lambda: NOW + timedelta(minutes=5)))
    try:
        with TestClient(app) as client:
            yield World(
                engine,
                runtime,
                client,
                victim,
                provider_a,
                provider_b,
                other_billing,
                other_patient,
                insurer,
                member,
            )
    finally:
        use_environment(previous)


def _headers(key: CreatedKey, content: str = "application/edi-x12") -> dict[str, str]:
    return {"Authorization": f"Bearer {key.token}", "Content-Type": content}


def _file(claims: list[Claim], control: int, sender: str) -> bytes:
    out = io.StringIO()
    write_837(
        claims,
        out,
        interchange_control=control,
        created=NOW,
        sender_id=sender,
        receiver_id="CLAIMSENGINE",
    )
    return out.getvalue().encode()


def _post_and_work(w: World, key: CreatedKey, claims: list[Claim], control: int) -> None:
    # each provider key's registered sender id; the insurer's key sends under any
    sender = "SENDERA" if key is w.provider_a else "SENDERB"
    raw = _file(claims, control, sender)
    r = w.client.post("/v1/interchanges", content=raw, headers=_headers(key))
    assert r.status_code == 202, r.text
    interchange = r.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = w.client.get(f"/v1/interchanges/{interchange}", headers=_headers(key)).json()
        worked = body["claims"]["received"] + body["claims"]["accepted"] == 0
        if body["state"] != "received" and worked:
            assert body["claims"]["rejected"] == 0, body
            return
        time.sleep(0.05)
    raise AssertionError(f"interchange {interchange} not worked through: {body}")


def _attacks(w: World, frequency: str, target: str, suffix: str) -> dict[str, Claim]:
    """The two attacks of ``frequency`` naming ``target``: another provider, same patient; the
    same provider, another patient."""
    v, q = w.victim.claim, w.other_patient
    patient = replace(
        v.subscriber,
        member_id=q.member_id,
        last_name=q.last_name,
        first_name=q.first_name,
        birth_date=q.birth_date,
    )
    base = replace(v, frequency_code=frequency, original_claim_number=target)
    return {
        "other_provider": replace(
            base, claim_id=f"B{frequency}{suffix}", billing_provider=w.other_billing
        ),
        "other_patient": replace(
            base, claim_id=f"A{frequency}{suffix}", subscriber=patient, patient=patient
        ),
    }


def _status(w: World, key: CreatedKey, claim: Claim) -> dict[str, Any]:
    (row_id,) = find_claims(w.engine, claim.claim_id, claim.billing_provider.npi)
    r = w.client.get(f"/v1/claims/{row_id}", headers=_headers(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    """A claim's status less what differs between any two claims (ids, numbers, times)."""
    drop = {"id", "payer_claim_number", "submitter_claim_id", "member_id", "history"}
    kept = {k: v for k, v in status.items() if k not in drop}
    kept["history"] = [(e["from"], e["to"]) for e in status["history"]]
    return kept


def _stc_of(w: World, key: CreatedKey, claim: Claim, pccn: str, member_id: str) -> Any:
    ask = Ask("T1", claim.billing_provider.npi, member_id, payer_claim_number=pccn)
    r = w.client.post("/v1/x12/276", content=build_276([ask]), headers=_headers(key))
    assert r.status_code == 200, r.text
    [block] = blocks(r.text)["T1"]
    refs = {k: v for k, v in block.refs.items() if k not in ("1K", "EJ")}  # its own numbers
    return [s[1:] for s in block.stc], refs


def _eob(w: World, key: CreatedKey, row_id: int) -> dict[str, Any]:
    r = w.client.get(f"/fhir/r4/ExplanationOfBenefit/{row_id}", headers=_headers(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return {k: body.get(k) for k in ("outcome", "adjudication", "total", "payment", "item")}


@pytest.mark.parametrize("frequency", ["8", "7"])
def test_a_void_or_replacement_of_a_claim_not_yours_reverses_nothing_and_tells_nothing(
    world: World, frequency: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    victim = w.victim
    attacks = _attacks(w, frequency, victim.payer_claim_number, "X")
    controls = _attacks(w, frequency, NO_SUCH_CLAIM, "C")
    keys = {"other_provider": w.provider_b, "other_patient": w.provider_a}
    with caplog.at_level(logging.DEBUG):
        for n, kind in enumerate(attacks):
            # the attack and its control (a claim naming no claim at all) in one file each
            _post_and_work(w, keys[kind], [attacks[kind], controls[kind]], 9100 + n)

    # the original stands: not reversed, nothing of its rows changed
    assert _adjudication_rows(w.engine, victim.row_id) == victim.adjudications
    standing = claim_status(w.engine, victim.row_id)
    assert standing.reversed_by is None and standing.state == "remitted"

    for kind, attack in attacks.items():
        key = keys[kind]
        status = _status(w, key, attack)
        assert status["outcome"] == "denied" and status["paid"] == "0.00", status
        assert {(a["group"], a["reason"]) for a in status["adjustments"]} == {("CO", "129")}
        assert status["reversed_by"] is None
        # answered exactly as the claim that names an original that does not exist
        control = _status(w, key, controls[kind])
        assert _comparable(status) == _comparable(control)
        member = attack.patient.member_id
        stc = _stc_of(w, key, attack, status["payer_claim_number"], member)
        assert stc == _stc_of(w, key, controls[kind], control["payer_claim_number"], member)
        # denied, and no "processed as an adjustment to a previous claim": nothing was
        assert stc[0][0][0].startswith("F2:") and "F3:101" not in repr(stc)
        assert _eob(w, key, status["id"]) == _eob(w, key, control["id"])

    # the next payment cycle: the victim's payee is paid nothing back, nobody is reversed
    files = run_payment_cycle(w.engine, w.runtime, NOW, tmp_path / "835")
    assert files, "the attackers' own denials are remitted to them"
    for f in files:
        assert f.path is not None
        text = f.path.read_text()
        assert check_835(text) == []
        assert victim.payer_claim_number not in text
        assert "PLB*" not in text
        assert all(s.split("*")[2] != "22" for s in text.split("~") if s.strip()[:4] == "CLP*")
    assert _adjudication_rows(w.engine, victim.row_id) == victim.adjudications

    # and no log line names the original
    lines = [r.getMessage() + repr(sorted(r.__dict__.items())) for r in caplog.records]
    assert lines, "the work logged nothing: the check would prove nothing"
    assert not [line for line in lines if victim.payer_claim_number in line]


def test_the_owner_still_voids_its_own_claim_through_the_api(world: World, tmp_path: Path) -> None:
    # the positive control of the attack above: the same route, the same data, the owner's key
    w = world
    victim = w.victim
    void = replace(
        victim.claim,
        claim_id=victim.claim.claim_id + "V",
        frequency_code="8",
        original_claim_number=victim.payer_claim_number,
    )
    _post_and_work(w, w.provider_a, [void], 9200)
    assert claim_status(w.engine, victim.row_id).reversed_by is not None
    files = run_payment_cycle(w.engine, w.runtime, NOW, tmp_path / "835")
    texts = [f.path.read_text() for f in files if f.path is not None]
    assert any(f"CLP*{victim.claim.claim_id}*22*" in text for text in texts)


@pytest.mark.parametrize("frequency", ["8", "7"])
def test_an_original_not_yours_is_never_opened(world: World, frequency: str) -> None:
    # the store loads an original's decision only for a claim of its billing NPI and patient:
    # another's is not opened at all, though adjudication would refuse it again
    w = world
    attacks = _attacks(w, frequency, w.victim.payer_claim_number, "X")
    own = replace(attacks["other_provider"], billing_provider=w.victim.claim.billing_provider)
    with w.engine.connect() as conn:
        member = current_vault().lookup(w.runtime.patient_of(own))
        for attack in attacks.values():
            lookup = current_vault().lookup(w.runtime.patient_of(attack))
            assert adjudication_service._load_reversed(conn, [(attack, lookup)]) == {}
        found = adjudication_service._load_reversed(conn, [(own, member)])
        assert list(found) == [w.victim.payer_claim_number]


# The authorization matrix of replacements and voids: who sends (the key), and whose claim the
# void is billed under and for whom; the rule is on the claim, whoever's key sends it.
MATRIX = [
    # key, billed under the victim's NPI, for the victim's patient, reverses
    ("provider_b", False, True, False),
    ("provider_a", True, False, False),
    ("provider_a", True, True, True),
    ("insurer", False, True, False),
    ("insurer", True, False, False),
    ("insurer", True, True, True),
]


@pytest.mark.parametrize(("key", "own_npi", "own_patient", "reverses"), MATRIX)
def test_the_matrix_of_who_may_void_what(
    world: World, key: str, own_npi: bool, own_patient: bool, reverses: bool
) -> None:
    w = world
    victim = w.victim
    attacks = _attacks(w, "8", victim.payer_claim_number, "M")
    void = attacks["other_patient"] if not own_patient else attacks["other_provider"]
    if own_npi:
        void = replace(void, billing_provider=victim.claim.billing_provider)
    keys = {"provider_a": w.provider_a, "provider_b": w.provider_b, "insurer": w.insurer}
    _post_and_work(w, keys[key], [void], 9300)
    status = _status(w, w.insurer, void)
    standing = claim_status(w.engine, victim.row_id)
    if reverses:
        assert standing.reversed_by == status["payer_claim_number"]
    else:
        assert standing.reversed_by is None
        assert _adjudication_rows(w.engine, victim.row_id) == victim.adjudications
        assert {(a["group"], a["reason"]) for a in status["adjustments"]} == {("CO", "129")}


def test_a_member_key_sends_no_void(world: World) -> None:
    w = world
    void = _attacks(w, "8", w.victim.payer_claim_number, "M")["other_provider"]
    void = replace(void, billing_provider=w.victim.claim.billing_provider)
    r = w.client.post(
        "/v1/interchanges", content=_file([void], 9400, "SENDERA"), headers=_headers(w.member)
    )
    assert r.status_code == 403, r.text
    assert claim_status(w.engine, w.victim.row_id).reversed_by is None
