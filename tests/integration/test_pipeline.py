"""The persistent pipeline through its service functions and in-process actors, on SQLite and
on a real PostgreSQL: exactly-once effects over redelivery, duplicates, failures, concurrency."""

from __future__ import annotations

import io
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from claims_engine.services import stored_adjudication as adjudication_service
from claims_engine.services.intake import family_batches, ingest_interchange, submit
from claims_engine.services.queries import claim_status, counts, find_claims, identity_of
from claims_engine.services.reference import Runtime, load_runtime, store_reference
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims, read_claim
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import (
    NOW,
    REFERENCE,
    RULES,
    check_835,
    count,
    generated_837,
    prepared_store,
    sequential_outcome,
    states,
    stored_outcome,
)

pytestmark = pytest.mark.integration

_claims = t.claims_table
_adjudications = t.adjudications_table
_items = t.remittance_claims_table
_acks = t.acknowledgments_table


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    return prepared_store(engine)


def _ingest_all(
    engine: Engine, runtime: Runtime, raw: bytes, name: str = "batch"
) -> list[list[int]]:
    sub = submit(engine, raw, name, NOW)
    assert not sub.duplicate
    return ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches


def test_claims_flow_from_submission_to_835_exactly_once(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    raw = generated_837(tmp_path / "a.837", claims=400, seed=11)
    batches = _ingest_all(engine, runtime, raw)
    assert sum(len(b) for b in batches) == count(engine, _claims)
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    # every message delivered again: nothing changes
    before = stored_outcome(engine)
    for batch in batches:
        again = adjudicate_claims(engine, batch, runtime, NOW)
        assert again.adjudicated == again.pended == again.failed == 0
        assert again.skipped == len(batch)
    assert stored_outcome(engine) == before
    assert count(engine, _adjudications, _adjudications.c.kind == "decision") == 400

    # and the store's decisions equal a sequential run in memory, to the cent
    assert stored_outcome(engine) == sequential_outcome(engine, runtime)

    files = run_payment_cycle(engine, runtime, NOW, tmp_path / "835")
    assert files
    for f in files:
        assert f.path is not None
        assert check_835(f.path.read_text()) == []
    assert run_payment_cycle(engine, runtime, NOW, tmp_path / "835-again") == []
    in_835 = count(engine, _items)
    payable = count(engine, _adjudications, _adjudications.c.outcome != "pended")
    assert in_835 == payable
    final = states(engine)
    assert final.get("accepted", 0) == 0
    assert final["remitted"] + final.get("pended", 0) == 400


def test_a_redelivered_intake_message_stores_nothing_twice(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    raw = generated_837(tmp_path / "a.837", claims=60, seed=12)
    sub = submit(engine, raw, "a.837", NOW)
    first = ingest_interchange(engine, sub.interchange_id, runtime, NOW)
    again = ingest_interchange(engine, sub.interchange_id, runtime, NOW)
    assert again.already_done
    assert sorted(map(sorted, again.batches)) == sorted(map(sorted, first.batches))
    assert count(engine, _claims) == 60
    assert count(engine, _acks) == len({(r.kind) for r in _ack_rows(engine)})


def _ack_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(_acks)))


def test_resubmission_is_a_duplicate_answered_with_ta1_025(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    raw = generated_837(tmp_path / "a.837", claims=20, seed=13)
    for batch in _ingest_all(engine, runtime, raw):
        adjudicate_claims(engine, batch, runtime, NOW)
    before = counts(engine), stored_outcome(engine)
    again = submit(engine, raw, "again.837", NOW)
    assert again.duplicate
    assert "*R*025~" in again.ta1
    # same sender and ISA13, different bytes: also a duplicate
    changed = raw.replace(b"NM1*41*2*", b"NM1*41*2*X", 1)
    assert submit(engine, changed, "changed.837", NOW).duplicate
    assert (counts(engine), stored_outcome(engine)) == before


def test_a_claim_whose_adjudication_raises_ends_pended_with_the_error(
    engine: Engine, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = generated_837(tmp_path / "a.837", claims=50, seed=14)
    batches = _ingest_all(engine, runtime, raw)
    with engine.connect() as conn:
        victim = conn.execute(
            select(_claims.c.payer_claim_number).order_by(_claims.c.id).limit(1).offset(7)
        ).scalar_one()
    real = adjudication_service.adjudicate  # type: ignore[attr-defined]

    def flaky(claim: Any, ctx: Any, pccn: str) -> Any:
        if pccn == victim:
            raise ZeroDivisionError("a bug in a rule")
        return real(claim, ctx, pccn)

    monkeypatch.setattr(adjudication_service, "adjudicate", flaky)
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    [row_id] = find_claims(engine, victim)
    status = claim_status(engine, row_id)
    assert status.state == "pended"
    assert status.error == "adjudication failed: ZeroDivisionError: a bug in a rule"
    assert status.history[-1].to_state == "pended"
    others = states(engine)
    assert others.get("accepted", 0) == 0
    assert others["adjudicated"] + others["pended"] == 50


def test_status_by_payer_number_or_by_submitter_id_and_npi(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    raw = generated_837(tmp_path / "a.837", claims=30, seed=15)
    for batch in _ingest_all(engine, runtime, raw):
        adjudicate_claims(engine, batch, runtime, NOW)
    run_payment_cycle(engine, runtime, NOW, None)
    with engine.connect() as conn:
        row = conn.execute(
            select(_claims).where(_claims.c.state == "remitted").order_by(_claims.c.id).limit(1)
        ).one()
    by_pccn = find_claims(engine, row.payer_claim_number)
    by_submitter = find_claims(engine, identity_of(row).claim_id, row.billing_npi)
    assert by_pccn == [row.id]
    assert row.id in by_submitter
    view = claim_status(engine, row.id).to_json()
    assert view["state"] == "remitted"
    assert [e["to"] for e in view["history"]] == ["accepted", "adjudicated", "remitted"]
    assert view["remittance_trace"]
    for adj in view["adjustments"]:
        assert adj["description"] and not adj["description"].startswith("adjustment reason")


def test_concurrent_batches_equal_a_sequential_run(postgres_engine: Engine, tmp_path: Path) -> None:
    """Many small batches of a few families, shuffled, on four threads against PostgreSQL:
    the family locks make every accumulator and paid amount what one-by-one gives."""
    engine = postgres_engine
    runtime = prepared_store(engine)
    batches: list[list[int]] = []
    for n, seed in enumerate((21, 22, 23)):
        raw = generated_837(tmp_path / f"{n}.837", claims=300, seed=seed, control=500 + n)
        batches += _ingest_all(engine, runtime, raw, f"{n}.837")
    ids = [i for b in batches for i in b]
    small = [ids[i : i + 7] for i in range(0, len(ids), 7)]
    random.Random(5).shuffle(small)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda b: adjudicate_claims(engine, b, runtime, NOW), small))
    assert states(engine).get("accepted", 0) == 0
    assert stored_outcome(engine) == sequential_outcome(engine, runtime)


def test_family_batches_keep_families_whole() -> None:
    claims = [(i, f"family:{i % 3}") for i in range(1, 10)]
    batches = family_batches(claims, size=4)
    for fam in range(3):
        holding = [b for b in batches if any(i % 3 == fam for i in b)]
        assert len(holding) == 1
    assert sorted(i for b in batches for i in b) == list(range(1, 10))


def test_voids_and_replacements_are_paid_once(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    """A void's reversal is paid to its original's payee and the void itself ends remitted; a
    replacement's reversal and new decision are paid; a void billed under another NPI than its
    original reverses nothing (CO-129: test_reversal_ownership.py has the attack whole)."""
    raw = generated_837(tmp_path / "a.837", claims=80, seed=16)
    for batch in _ingest_all(engine, runtime, raw):
        adjudicate_claims(engine, batch, runtime, NOW)
    run_payment_cycle(engine, runtime, NOW, tmp_path / "835-1")
    with engine.connect() as conn:
        paid = conn.execute(
            select(_claims.c.payer_claim_number, _claims.c.claim)
            .join(_adjudications, _adjudications.c.claim_id == _claims.c.id)
            .where(_claims.c.state == "remitted", _adjudications.c.paid > Decimal(0))
            .order_by(_claims.c.id)
        ).all()
    (void_of, void_claim), (replace_of, replaced_claim) = paid[0], paid[1]
    original = read_claim(void_claim)
    others = sorted(
        npi
        for npi, p in runtime.reference.providers.items()
        if npi != original.billing_provider.npi and not p.is_person
    )
    void = replace(
        original,
        claim_id=original.claim_id + "V",
        frequency_code="8",
        original_claim_number=void_of,
    )
    foreign_void = replace(
        void,
        claim_id=original.claim_id + "F",
        billing_provider=replace(original.billing_provider, npi=others[0]),
    )
    first = read_claim(replaced_claim)
    replacement = replace(
        first,
        claim_id=first.claim_id,
        frequency_code="7",
        original_claim_number=replace_of,
    )
    out = io.StringIO()
    write_837(
        [foreign_void, void, replacement],
        out,
        interchange_control=901,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    batches = _ingest_all(engine, runtime, out.getvalue().encode(), "corrections.837")
    assert sum(len(b) for b in batches) == 3, states(engine)
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    files = run_payment_cycle(engine, runtime, NOW, tmp_path / "835-2")
    for f in files:
        assert f.path is not None
        assert check_835(f.path.read_text()) == []
    assert {f.payee_npi for f in files} >= {original.billing_provider.npi, others[0]}
    (foreign_id,) = find_claims(engine, foreign_void.claim_id, others[0])
    foreign = claim_status(engine, foreign_id)
    assert foreign.outcome == "denied" and foreign.reversed_by is None
    assert {(a.group, a.reason) for a in foreign.adjustments} == {("CO", "129")}
    assert states(engine).get("adjudicated", 0) == 0  # the void is remitted too
    payable = count(engine, _adjudications, _adjudications.c.outcome != "pended")
    assert count(engine, _items) == payable
    assert run_payment_cycle(engine, runtime, NOW, None) == []

    # each original names the claim that reversed it; the replacement, whose lines are those of
    # its original, stands in its place and is no duplicate of it
    with engine.connect() as conn:
        corrections = dict(
            conn.execute(
                select(_claims.c.original_claim_number, _claims.c.payer_claim_number).where(
                    _claims.c.original_claim_number.is_not(None),
                    _claims.c.id != foreign_id,
                )
            ).all()
        )
    for original_number in (void_of, replace_of):
        (row_id,) = find_claims(engine, original_number)
        assert claim_status(engine, row_id).reversed_by == corrections[original_number]
    (new_id,) = find_claims(engine, corrections[replace_of])
    new_status = claim_status(engine, new_id)
    assert new_status.outcome != "denied", new_status.adjustments
    assert all(a.reason != "18" for a in new_status.adjustments)


def test_a_replacement_after_its_patient_moved_family_locks_and_updates_the_old_family(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    """A patient enrolled in another family after the original was decided: the replacement
    (same provider, same patient) reaches into the original's family, which is locked and
    loaded with its own, and reverses the original."""
    raw = generated_837(tmp_path / "a.837", claims=60, seed=17)
    for batch in _ingest_all(engine, runtime, raw):
        adjudicate_claims(engine, batch, runtime, NOW)
    with engine.connect() as conn:
        candidates = conn.execute(
            select(_claims.c.payer_claim_number, _claims.c.claim)
            .join(_adjudications, _adjudications.c.claim_id == _claims.c.id)
            .where(
                _claims.c.state == "adjudicated",
                _adjudications.c.paid > Decimal(0),
                _adjudications.c.patient_responsibility > Decimal(0),  # accumulators moved
            )
            .order_by(_claims.c.id)
        ).all()
    pccn, original = next(
        (p, claim)
        for p, stored in candidates
        if (claim := read_claim(stored)).patient_relationship == "18"
    )
    family = runtime.family_of(original)
    # the subscriber moves to a family of their own in the reference data
    moved_reference = tmp_path / "reference"
    shutil.copytree(REFERENCE, moved_reference)
    members = moved_reference / "members.csv"
    rows = members.read_text().splitlines()
    subscriber = original.subscriber.member_id
    rows = [
        ",".join([*f[:2], "FMOVED", *f[3:]]) if (f := r.split(","))[0] == subscriber else r
        for r in rows
    ]
    members.write_text("\n".join(rows) + "\n")
    store_reference(engine, moved_reference, NOW)
    moved_runtime = load_runtime(engine, RULES)
    assert moved_runtime.family_of(original) != family
    replacement = replace(original, frequency_code="7", original_claim_number=pccn)
    out = io.StringIO()
    write_837(
        [replacement],
        out,
        interchange_control=902,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    [batch] = _ingest_all(engine, moved_runtime, out.getvalue().encode(), "moved.837")
    with engine.connect() as conn:
        reached = adjudication_service._original_families(
            conn, adjudication_service._waiting_families(conn, batch, None)
        )
    assert reached == [current_vault().lookup(family)]
    result = adjudicate_claims(engine, batch, moved_runtime, NOW)
    assert result.failed == 0, claim_status(engine, batch[0]).error
    (row_id,) = find_claims(engine, pccn)
    assert claim_status(engine, row_id).reversed_by is not None
    paid, _ = stored_outcome(engine)
    assert paid[f"reversal:{pccn}"] == -paid[pccn]


def test_an_intake_that_fails_for_good_rejects_its_interchange_and_holds_nothing_back(
    engine: Engine, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from claims_engine.services import intake as intake_service

    first = submit(engine, generated_837(tmp_path / "a.837", 20, 18), "a.837", NOW)
    second = submit(engine, generated_837(tmp_path / "b.837", 20, 19, control=801), "b", NOW)

    def broken(claim: Any) -> Any:
        raise ValueError("a bug in the codec")

    monkeypatch.setattr(intake_service, "claim_to_json", broken)
    failed = ingest_interchange(engine, first.interchange_id, runtime, NOW)
    assert failed.state == "rejected"
    assert failed.reason == "intake failed: ValueError: a bug in the codec"
    monkeypatch.undo()
    assert ingest_interchange(engine, first.interchange_id, runtime, NOW).already_done
    later = ingest_interchange(engine, second.interchange_id, runtime, NOW)
    for batch in later.batches:
        assert adjudicate_claims(engine, batch, runtime, NOW).deferred == 0
    assert states(engine).get("accepted", 0) == 0


def test_a_stored_claim_that_cannot_be_read_pends_alone(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    batches = _ingest_all(engine, runtime, generated_837(tmp_path / "a.837", 40, 20))
    with engine.begin() as conn:
        biggest = conn.execute(  # a family with several claims, to see it is not all pended
            select(_claims.c.family)
            .group_by(_claims.c.family)
            .order_by(func.count().desc(), _claims.c.family)
            .limit(1)
        ).scalar_one()
        row = conn.execute(
            select(_claims.c.id, _claims.c.family)
            .where(_claims.c.family == biggest)
            .order_by(_claims.c.id)
        ).first()
        assert row is not None
        conn.execute(
            _claims.update()
            .where(_claims.c.id == row.id)
            .values(claim=current_vault().seal_json({"not": "a claim"}, t.CLAIM))
        )
    for batch in batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    status = claim_status(engine, row.id)
    assert status.state == "pended"
    assert status.error is not None and "StoredDataError" in status.error
    assert states(engine).get("accepted", 0) == 0
    with engine.connect() as conn:  # its family's other claims were decided as usual
        errors = conn.execute(
            select(_claims.c.error).where(_claims.c.family == row.family, _claims.c.id != row.id)
        ).scalars()
        assert not any(e and e.startswith("adjudication failed") for e in errors)
    assert count(engine, _adjudications, _adjudications.c.kind == "decision") == 39


def test_a_set_rejected_after_a_broken_hl_counts_every_claim_in_the_store(
    engine: Engine, runtime: Runtime, tmp_path: Path
) -> None:
    """The claims after the broken HL are never read, and still counted rejected with the set:
    in the intake's result and in the metrics' reasons (issue 17)."""
    text = generated_837(tmp_path / "a.837", 30, 21).decode()
    segments = [s.strip() for s in text.split("~") if s.strip()]
    hls = [i for i, s in enumerate(segments) if s.startswith("HL*")]
    at = hls[len(hls) // 2]
    parts = segments[at].split("*")
    segments[at] = "*".join([parts[0], parts[1], "99999", *parts[3:]])
    start = max(i for i in range(at) if segments[i].startswith("ST*"))
    end = min(i for i in range(at, len(segments)) if segments[i].startswith("SE*"))
    in_set = sum(s.startswith("CLM*") for s in segments[start:end])
    data = "".join(s + "~\n" for s in segments).encode()
    stored = submit(engine, data, "broken.837", NOW)
    result = ingest_interchange(engine, stored.interchange_id, runtime, NOW)
    assert result.claims_accepted + result.claims_rejected == 30
    assert result.claims_rejected == in_set
    assert result.rejections == {("transaction_set", "IK5"): in_set}
    assert 0 < states(engine)["rejected"] < in_set  # rows of the claims read before the fault
