"""Explanations of benefit from the store, after a real pipeline run (intake, adjudication,
835s, then a void and a replacement): every claim maps to a valid FHIR ExplanationOfBenefit
and every remitted claim's amounts are the 835's, to the cent."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit
from sqlalchemy import Engine, select

from adapters.fhir import dumps, explanation_of_benefit
from claims_engine.domain.errors import StoredDataError
from claims_engine.services import explanation as explanation_service
from claims_engine.services.explanation import Explanation, load_explanation, load_explanations
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims, read_claim
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import NOW, generated_837, prepared_store

pytestmark = pytest.mark.integration

_claims = t.claims_table
_adjudications = t.adjudications_table


@dataclass
class _Paid:
    """One CLP loop of an 835: the claim's amounts and its lines' paid amounts (SVC03)."""

    trace: str
    status: str
    charge: Decimal
    paid: Decimal
    patient: Decimal
    lines: list[Decimal] = field(default_factory=list)


def _read_835(text: str) -> dict[str, _Paid]:
    """The claims an 835 pays, by payer claim number (CLP07), reversals (CLP02 22) left out."""
    sep, term = text[3], text[105]
    found: dict[str, _Paid] = {}
    trace = ""
    current: _Paid | None = None
    for raw in text.split(term):
        seg = raw.strip().split(sep)
        if seg[0] == "TRN":
            trace = seg[2]
        elif seg[0] == "CLP":
            current = _Paid(
                trace,
                seg[2],
                Decimal(seg[3]),
                Decimal(seg[4]),
                Decimal(seg[5] or "0"),
            )
            if seg[2] != "22":
                found[seg[7]] = current
        elif seg[0] == "SVC" and current is not None:
            current.lines.append(Decimal(seg[3]))
    return found


def _ingest(engine: Engine, runtime: Runtime, raw: bytes, name: str) -> None:
    sub = submit(engine, raw, name, NOW)
    assert not sub.duplicate
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)


def _corrections(engine: Engine) -> bytes:
    """A void of the first claim paid and a replacement of the second."""
    with engine.connect() as conn:
        paid = conn.execute(
            select(_claims.c.payer_claim_number, _claims.c.claim)
            .join(_adjudications, _adjudications.c.claim_id == _claims.c.id)
            .where(_claims.c.state == "remitted", _adjudications.c.paid > Decimal(0))
            .order_by(_claims.c.id)
            .limit(2)
        ).all()
    (void_of, first), (replaced, second) = paid
    original = read_claim(first)
    void = replace(
        original,
        claim_id=original.claim_id + "V",
        frequency_code="8",
        original_claim_number=void_of,
    )
    replacement = replace(read_claim(second), frequency_code="7", original_claim_number=replaced)
    out = io.StringIO()
    write_837(
        [void, replacement],
        out,
        interchange_control=903,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    return out.getvalue().encode()


def _amounts(adjudications: list[dict[str, Any]]) -> dict[str, Decimal]:
    return {
        a["category"]["coding"][0]["code"]: a["amount"]["value"]
        for a in adjudications
        if "amount" in a and a["category"]["coding"][0]["code"] != "adjustmentreason"
    }


def _all_ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(select(_claims.c.id).order_by(_claims.c.id)).scalars()]


def test_every_claim_maps_and_remitted_amounts_equal_the_835s(
    engine: Engine, tmp_path: Path
) -> None:
    runtime = prepared_store(engine)
    _ingest(engine, runtime, generated_837(tmp_path / "a.837", claims=150, seed=41), "a.837")
    first = run_payment_cycle(engine, runtime, NOW, tmp_path / "835")
    _ingest(engine, runtime, _corrections(engine), "corrections.837")
    second = run_payment_cycle(engine, runtime, NOW, tmp_path / "835")
    paid: dict[str, _Paid] = {}
    for remit in (*first, *second):
        assert remit.path is not None
        paid.update(_read_835(remit.path.read_text()))

    ids = _all_ids(engine)
    explanations = load_explanations(engine, ids)
    assert [e.claim_row_id for e in explanations] == ids
    outcomes: dict[tuple[str, str], int] = {}
    checked = 0
    for e in explanations:
        eob = explanation_of_benefit(e, insurer=runtime.payer)
        model = ExplanationOfBenefit.model_validate(json.loads(dumps(eob)))
        key = (e.state, str(model.outcome))
        outcomes[key] = outcomes.get(key, 0) + 1
        assert (
            model.outcome
            == {
                "rejected": "error",
                "accepted": "queued",
                "received": "queued",
                "pended": "partial" if e.decision is not None else "queued",
                "adjudicated": "complete",
                "remitted": "complete",
            }[e.state]
        )
        if e.state != "remitted" or e.decision is None:
            continue
        assert e.payer_claim_number is not None
        clp = paid[e.payer_claim_number]
        # item paid amounts are SVC03, in order; the totals are CLP03, CLP04 and CLP05
        assert [_amounts(i["adjudication"])["paidtoprovider"] for i in eob["item"]] == clp.lines
        totals = _amounts(eob["total"])
        assert totals["submitted"] == clp.charge
        assert totals["paidtoprovider"] == clp.paid
        assert totals["memberliability"] == clp.patient
        assert eob["payment"]["amount"]["value"] == clp.paid
        assert eob["payment"]["identifier"]["value"] == clp.trace == e.remittance_trace
        assert eob["payment"]["date"] == NOW.date().isoformat()
        checked += 1
    assert checked >= 100, outcomes

    # the voided and the replaced claims are cancelled; the void with them, the replacement not
    cancelled = [e for e in explanations if e.reversed_by]
    assert len(cancelled) == 2
    by_number = {e.payer_claim_number: e for e in explanations}
    for e in cancelled:
        eob = explanation_of_benefit(e)
        assert eob["status"] == "cancelled"
        assert eob["related"][0]["reference"]["value"] == e.reversed_by
        assert e.reversed_by is not None
        later = explanation_of_benefit(by_number[e.reversed_by])
        assert later["related"][0]["reference"]["value"] == e.payer_claim_number
        assert later["status"] == ("cancelled" if by_number[e.reversed_by].is_void else "active")
    voids = [e for e in explanations if e.is_void]
    assert len(voids) == 1
    assert voids[0].state == "remitted" and voids[0].remittance_trace  # its reversal was sent


def test_one_at_a_time_in_chunks_and_in_any_order(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = prepared_store(engine)
    _ingest(engine, runtime, generated_837(tmp_path / "a.837", claims=30, seed=42), "a.837")
    run_payment_cycle(engine, runtime, NOW, None)
    ids = _all_ids(engine)
    every = load_explanations(engine, ids)
    monkeypatch.setattr(explanation_service, "CHUNK", 7)
    backwards = [*reversed(ids), ids[0], 10_000_000]
    assert load_explanations(engine, backwards) == [*reversed(every), every[0]]
    assert load_explanation(engine, ids[3]) == every[3]
    assert load_explanation(engine, 10_000_000) is None
    assert load_explanations(engine, []) == []
    one: Explanation = every[0]
    assert one.member_id and one.received_on == NOW.date()
    assert one.decided_at == NOW and one.rule_pack_version == runtime.rules.version


def test_a_stored_claim_that_cannot_be_read_raises_stored_data_error(
    engine: Engine, tmp_path: Path
) -> None:
    runtime = prepared_store(engine)
    _ingest(engine, runtime, generated_837(tmp_path / "a.837", claims=5, seed=43), "a.837")
    victim = _all_ids(engine)[2]
    with engine.begin() as conn:
        conn.execute(
            _claims.update()
            .where(_claims.c.id == victim)
            .values(claim=current_vault().seal_json({"not": "a claim"}, t.CLAIM))
        )
    with pytest.raises(StoredDataError):
        load_explanation(engine, victim)
    assert load_explanation(engine, _all_ids(engine)[0]) is not None
