"""The NCCI edits from intake to the 835, with the made-up tables of ``fixtures/ncci`` loaded:
hand-worked claims of LIAM HILL (PG00000100, PPO-GOLD) at BUCKEYE FAMILY MEDICINE (NPI
2781759230), two files one after the other, an examiner's release of the pended claim, then a
payment cycle. Every 835 validates under pyx12 and balances; the status, the examiner's queue
and ``rules simulate`` show the edits.

Fees: 99213 88.20, 99214 131.20, 36415 12.78, 20610 136.90, J3301 17.00 a unit. The 2026Q4
tables (dates of service in October 2026) hold 99214/99213 (modifier indicator 0), 20610/99213
(indicator 1), 99213/36415 deleted 2026-09-01; MUE J3301 8 (MAI 1), 36415 3 (MAI 3, 2 in
2026Q3), 99213 1 (MAI 2).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit
from sqlalchemy import Engine, select

from adapters.fhir import explanation_of_benefit
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.pend_reasons import NCCI_PTP_PAID
from claims_engine.services import examination as ex
from claims_engine.services.access import Principal, Role
from claims_engine.services.explanation import load_explanation
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.ncci_store import load_ncci
from claims_engine.services.portal import explanation_of_benefits
from claims_engine.services.queries import claim_status, find_claims
from claims_engine.services.reference import load_runtime, store_reference
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.simulation import SimulationRequest, simulate
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.store.db import begin_write
from claims_engine.store.vault import current_vault
from tests.conftest import FIXTURES
from tests.integration.pipeline_support import RULES, check_835, prepared_store

NOW = datetime(2026, 11, 2, 9, 30)
LATER = datetime(2026, 11, 3, 9, 30)
D = Decimal

PATIENT = """\
HL*2*1*22*0~
SBR*P*18*PPO-GOLD******12~
NM1*IL*1*HILL*LIAM****MI*PG00000100~
N3*12 ELM STREET~
N4*AKRON*OH*443201234~
DMG*D8*19871227*M~
NM1*PR*2*ACME HEALTH PLAN*****PI*ACMEHP01~
"""
BILLING = """\
NM1*85*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230~
N3*8411 ASH WAY~
N4*AKRON*OH*443255643~
REF*EI*206973390~
"""


def _claim(claim_id: str, day: str, *lines: str) -> str:
    """A claim of LIAM HILL with ``lines`` (``CODE[:MOD] CHARGE [UNITS]``) dated ``day``."""
    body = []
    total = D(0)
    for n, line in enumerate(lines, 1):
        code, charge, *units = line.split()
        total += D(charge)
        body.append(
            f"LX*{n}~\nSV1*HC:{code}*{charge}*UN*{units[0] if units else 1}***1~\n"
            f"DTP*472*D8*{day}~\n"
        )
    return f"CLM*{claim_id}*{total}***11:B:1*Y*A*Y*Y~\nHI*ABK:M545~\n" + "".join(body)


def _837(control: int, *claims: str) -> bytes:
    """An 837P interchange of one billing provider and LIAM HILL's ``claims``."""
    st = (
        f"ST*837*0001*005010X222A1~\nBHT*0019*00*NCCI{control}*20261102*0900*CH~\n"
        "NM1*41*2*BUCKEYE CLAIMS EXCHANGE*****46*SUBMITTER01~\nPER*IC*EDI DEPARTMENT*TE*"
        "8005550100~\nNM1*40*2*ACME HEALTH PLAN*****46*ACMEHP01~\nHL*1**20*1~\n" + BILLING
    )
    for n, claim in enumerate(claims):
        st += PATIENT.replace("HL*2*1*", f"HL*{n + 2}*1*") + claim
    segments = st.count("~") + 1
    isa = (
        "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*ACMEHP01       "
        f"*261102*0900*^*00501*{control:09d}*0*P*:~\n"
    )
    text = (
        isa
        + f"GS*HC*SUBMITTER01*ACMEHP01*20261102*0900*{control}*X*005010X222A1~\n"
        + st
        + f"SE*{segments}*0001~\nGE*1*{control}~\nIEA*1*{control:09d}~\n"
    )
    return text.encode()


FIRST = _837(
    901,
    # A: 99213 denied by 99214/99213 (indicator 0, CO-97 N20); J3301 x10: 2 units above the
    #    MUE of 8 (CO-151 200 * 2 / 10 = 40.00, N362)
    _claim("NCCI-A", "20261015", "99214 150", "99213 100", "J3301 200 10"),
    # B: 20610/99213 (indicator 1) with 25 on the visit: both paid
    _claim("NCCI-B", "20261016", "20610 200", "99213:25 100"),
    # C: 99213/36415 was deleted on 2026-09-01: both paid
    _claim("NCCI-C", "20261017", "99213 100", "36415 20"),
    # D: 97110 x4 on 2026-10-20: within the MUE of 6 a day
    _claim("NCCI-D", "20261020", "97110 200 4"),
)
SECOND = _837(
    902,
    # E: 4 more units of 97110 on 2026-10-20: 2 pass (CO-151 180.00 * 2 / 4 = 90.00)
    _claim("NCCI-E", "20261020", "97110 180 4"),
    # F: 99214 (column 1) on 2026-10-17, after C's 99213 (column 2) was paid: pended
    _claim("NCCI-F", "20261017", "99214 150"),
    # G: 99214/93000 is new in 2026Q4 (indicator 1, no modifier): 93000 denied
    _claim("NCCI-G", "20261022", "99214 150", "93000 60"),
)


def _run(engine: Engine, raw: bytes, name: str, now: datetime) -> None:
    runtime = load_runtime(engine, RULES)
    sub = submit(engine, raw, name, now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)


def _status(engine: Engine, claim_id: str) -> dict[str, object]:
    [row] = find_claims(engine, claim_id, "2781759230")
    return claim_status(engine, row).to_json()


def _adjustments(status: dict[str, object]) -> list[tuple[object, ...]]:
    found = status["adjustments"]
    assert isinstance(found, list)
    return [(a["line"], a["group"], a["reason"], a["amount"]) for a in found]


def test_ncci_edits_from_intake_to_the_835(engine: Engine, tmp_path: Path) -> None:
    prepared_store(engine)
    read, _ = load_ncci(engine, FIXTURES / "ncci", NOW)
    assert read.problems == ()
    _run(engine, FIRST, "first.837", NOW)
    _run(engine, SECOND, "second.837", LATER)

    a = _status(engine, "NCCI-A")
    assert a["outcome"] == "partly paid"
    # line 1: 150.00 - 131.20 = CO-45 18.80, copay 25.00, paid 106.20; line 2 denied whole;
    # line 3: 8 units pass (160.00), allowed 136.00 (CO-45 24.00), all to the deductible
    assert _adjustments(a) == [
        (1, "CO", "45", "18.80"),
        (1, "PR", "3", "25.00"),
        (2, "CO", "97", "100.00"),
        (3, "CO", "151", "40.00"),
        (3, "CO", "45", "24.00"),
        (3, "PR", "1", "136.00"),
    ]
    assert a["paid"] == "106.20"
    reasons = " ".join(str(e["reason"]) for e in a["history"])  # type: ignore[attr-defined]
    assert (
        "line 2: Billed with 99214 on the same day (NCCI PTP edit 99214/99213, practitioner "
        "table, 2026Q4)" in reasons
    )
    assert "line 3: 10 units of J3301 on one line, above the 8 allowed (NCCI MUE J3301 8" in (
        reasons
    )
    # the ExplanationOfBenefit: the line's process note names the edit
    [a_row] = find_claims(engine, "NCCI-A", "2781759230")
    explained = load_explanation(engine, a_row)
    assert explained is not None
    eob = explanation_of_benefit(explained)
    ExplanationOfBenefit.model_validate(eob)
    notes = {n["number"]: n["text"] for n in eob["processNote"]}
    line_2 = [notes[n] for n in eob["item"][1]["noteNumber"]]
    assert line_2 == [
        "N20: Service not payable with other service rendered on the same date",
        "Billed with 99214 on the same day (NCCI PTP edit 99214/99213, practitioner table, 2026Q4)",
    ]
    # the member's explanation of benefits on the portal: the reason in words, and the edit
    insurer = Principal(key_id="test", role=Role.INSURER)
    with begin_write(engine) as conn:
        page = explanation_of_benefits(conn, insurer, a_row, None, route="/test", now=NOW)
    assert page is not None
    assert page.lines[1].note == line_2[1]
    assert [r.code for r in page.lines[1].reasons] == ["CO-97"]
    assert all(adj[2] not in ("97", "151") for adj in _adjustments(_status(engine, "NCCI-B")))
    assert all(adj[2] not in ("97", "151") for adj in _adjustments(_status(engine, "NCCI-C")))
    assert _status(engine, "NCCI-D")["outcome"] == "paid"
    g = _status(engine, "NCCI-G")
    assert (2, "CO", "97", "60.00") in _adjustments(g)
    e = _status(engine, "NCCI-E")
    assert (1, "CO", "151", "90.00") in _adjustments(e)
    assert "8 units of 97110 on 2026-10-20, above the 6 allowed in a day" in " ".join(
        str(x["reason"])
        for x in e["history"]  # type: ignore[attr-defined]
    )

    # F waits in the examiner's queue with the reason
    f = _status(engine, "NCCI-F")
    assert f["state"] == "pended"
    [row] = find_claims(engine, "NCCI-F", "2781759230")
    with engine.connect() as conn:
        items = conn.execute(
            select(
                t.pend_items_table.c.code, t.pend_items_table.c.queue, t.pend_items_table.c.detail
            ).where(t.pend_items_table.c.claim_id == row)
        ).all()
    [(code, queue, detail)] = items
    assert (code, queue) == (NCCI_PTP_PAID, "coding-review")
    assert detail.startswith("99214 billed after 99213 of the same day was paid on claim ")
    assert detail.endswith("(NCCI PTP edit 99214/99213, practitioner table, 2026Q4)")
    # the examiner finds the visits distinct and releases it: decided again, 99214 is paid
    # (allowed 131.20, copay 25.00: 106.20)
    runtime = load_runtime(engine, RULES)
    release = ex.Release("two visits that day: records checked", ())
    done = ex.act(engine, runtime, row, ex.Examiner("alice"), release, LATER)
    assert (done.claim_state, done.paid) == ("adjudicated", D("106.20"))

    # every 835 validates under pyx12 and balances; A's carries the edits' CAS and LQ
    files = run_payment_cycle(engine, runtime, LATER, None)
    assert files
    texts = []
    with engine.connect() as conn:
        for content in conn.execute(select(t.remittances_table.c.content)).scalars():
            texts.append(current_vault().open_text(content, t.REMITTANCE))
    for text in texts:
        assert check_835(text) == []
    joined = "".join(texts)
    assert "CAS*CO*97*100~" in joined and "LQ*HE*N20~" in joined
    assert "CAS*CO*151*40*2*" in joined and "LQ*HE*N362~" in joined  # 2 units, 40.00


def test_a_plan_that_switches_the_edits_off(engine: Engine, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    for path in (FIXTURES / "reference").iterdir():
        if path.is_file():
            (reference / path.name).write_bytes(path.read_bytes())
    plans = reference / "plans.yaml"
    marker = '    pend_above: "25000.00"            # claims charging more than this wait'
    text = plans.read_text(encoding="utf-8")
    plans.write_text(text.replace(marker, f"    ncci: {{enabled: false}}\n{marker}", 1))
    prepared_store(engine)
    store_reference(engine, reference, NOW)
    load_ncci(engine, FIXTURES / "ncci", NOW)
    _run(engine, _837(903, _claim("NCCI-OFF", "20261015", "99214 150", "99213 100")), "o", NOW)
    assert all(adj[2] != "97" for adj in _adjustments(_status(engine, "NCCI-OFF")))


def test_rules_simulate_compares_two_quarters(engine: Engine) -> None:
    # 99214/93000 is new in 2026Q4: under 2026Q3 G's 93000 is paid, under 2026Q4 denied
    # (CO-97 60.00). Nothing else changes.
    prepared_store(engine)
    load_ncci(engine, FIXTURES / "ncci", NOW)
    _run(engine, FIRST, "first.837", NOW)
    _run(engine, SECOND, "second.837", LATER)
    runtime = load_runtime(engine, RULES)
    request = SimulationRequest(
        database_url="",  # one process: the engine given
        rules_dir=RULES,
        candidate=None,
        ncci_quarters=("2026Q3", "2026Q4"),
    )
    result = simulate(engine, runtime, request)
    assert result.current_versions.endswith("; NCCI tables of 2026Q3")
    assert result.candidate_versions.endswith("; NCCI tables of 2026Q4")
    g = _status(engine, "NCCI-G")["payer_claim_number"]
    assert [c.payer_claim_number for c in result.changed] == [g]
    [impact] = result.changed
    assert impact.codes_added == ("CO-97",)
    assert [(r.key, r.amount_delta) for r in impact.by_reason if r.key == "CO-97"] == [
        ("CO-97", D("60.00"))
    ]
    with pytest.raises(ConfigurationError, match="no NCCI table of 2025Q1 is loaded"):
        simulate(engine, runtime, replace(request, ncci_quarters=("2025Q1", "2026Q4")))
