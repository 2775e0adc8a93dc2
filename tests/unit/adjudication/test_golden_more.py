"""More golden scenarios: coverage dates, networks, facilities, dental, authorizations, pends,
replacements. Reference data as in test_golden.py, plus:

- PG00001200 WILLIAM TAYLOR, Gold PPO from 2024-07-01 through 2025-06-30;
- PG00001000 SUSAN THOMPSON, Gold PPO through 2024-12-31;
- LIAM JACKSON, NPI 2716434206, in no network; Gold PPO out of network: deductible 1,000,
  coinsurance 40%, priced at 100% of the fee schedule, the provider may bill the rest (PR-45);
- RIVERBEND GENERAL HOSPITAL, NPI 1165287990, in the Gold PPO network; facility rates: 0120
  semi-private room 1,650.00 a day, 0250 pharmacy 55% of charge, 0450 emergency room 65%,
  0300 laboratory 45%;
- DB00009600 LUCAS MARTINEZ on Basic Dental; BRIGHT SMILES DENTAL GROUP, NPI 2684334669, in
  network: deductible 50, preventive free, basic 20%, major 50%; D1110 94.80, D2140 115.20;
- authorization PA2026000101: PG00000100, 70551 or 70553, 2026-09-01 to 2026-12-31, 1 unit.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from claims_engine.adjudication.adjudicate import (
    AccumulatorKey,
    Adjudication,
    AdjudicationContext,
    LineContext,
    RuleOutcome,
    adjudicate,
)
from claims_engine.adjudication.batch import Ledger
from claims_engine.adjudication.decision import ClaimStatusCode, Outcome, check_balance
from claims_engine.domain.model import Claim, ServiceLine
from tests.unit.adjudication.support import (
    BUCKEYE,
    LIAM_HILL,
    REFERENCE,
    claim_from_837,
    run,
)
from tests.unit.adjudication.support import adjustments as _adj
from tests.unit.adjudication.support import subscriber as _subscriber

D = Decimal

JACKSON = """\
NM1*85*1*JACKSON*LIAM****XX*2716434206~
N3*8101 HIGHLAND RD~
N4*CINCINNATI*OH*452061080~
REF*EI*521478481~
"""
RIVERBEND = """\
NM1*85*2*RIVERBEND GENERAL HOSPITAL*****XX*1165287990~
N3*9001 LAUREL RD~
N4*DAYTON*OH*454158779~
REF*EI*528700813~
"""
BRIGHT_SMILES = """\
NM1*85*2*BRIGHT SMILES DENTAL GROUP*****XX*2684334669~
N3*7586 MADISON RD~
N4*CINCINNATI*OH*452085343~
REF*EI*201625027~
"""


def _claim(implementation: str, billing: str, body: str) -> Claim:
    return claim_from_837(body, billing=billing, implementation=implementation)


def _run(claim: Claim, received: date = date(2026, 11, 2), **kw: Any) -> Adjudication:
    return run(claim, received, "PCN0002", **kw)


def test_coverage_ending_between_two_lines() -> None:
    # Coverage ends 2025-06-30. Line 1 on 06-29: copay 25.00, paid 63.20. Line 2 on 07-01:
    # CO-27 for its whole 140.00. Received 2025-07-15, within filing limits.
    claim = _claim(
        "005010X222A1",
        BUCKEYE,
        _subscriber("PG00001200", "TAYLOR", "WILLIAM", "19660307", "M", "PPO-GOLD")
        + """\
CLM*GOLD-END*280***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20250629~
LX*2~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20250701~
""",
    )
    result = _run(claim, received=date(2025, 7, 15))
    assert _adj(result) == [
        (1, "CO", "45", D("51.80")),
        (1, "PR", "3", D("25.00")),
        (2, "CO", "27", D("140.00")),
    ]
    assert result.decision.outcome is Outcome.PARTLY_PAID
    assert result.decision.paid == D("63.20")


def test_not_eligible_on_the_date_of_service() -> None:
    # SUSAN THOMPSON's coverage ended 2024-12-31; the service is 2026-10-15: CO-27
    claim = _claim(
        "005010X222A1",
        BUCKEYE,
        _subscriber("PG00001000", "THOMPSON", "SUSAN", "19780528", "F", "PPO-GOLD")
        + """\
CLM*GOLD-GONE*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    result = _run(claim)
    assert _adj(result) == [(1, "CO", "27", D("140.00"))]
    assert result.decision.status is ClaimStatusCode.DENIED


def test_out_of_network() -> None:
    # JACKSON is in no network. 99213 priced at 100% of the fee schedule: 88.20; the 51.80
    # above it is the patient's (PR-45). No copay out of network: the 1,000.00 out-of-network
    # deductible takes the 88.20 (PR-1). The plan pays nothing; the patient owes 140.00.
    claim = _claim(
        "005010X222A1",
        JACKSON,
        LIAM_HILL
        + """\
CLM*GOLD-OON*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    result = _run(claim)
    assert _adj(result) == [(1, "PR", "45", D("51.80")), (1, "PR", "1", D("88.20"))]
    assert (result.decision.paid, result.decision.patient_responsibility) == (
        D("0.00"),
        D("140.00"),
    )


def test_institutional_inpatient_per_diem() -> None:
    # Type of bill 111, 3 days. 0120 x 3 charged 9,000.00: per diem 1,650.00 x 3 = 4,950.00
    # (CO-45 4,050.00); 0250 charged 800.00 at 55% = 440.00 (CO-45 360.00). Nothing met:
    # line 1 deductible 500.00, coinsurance 20% of 4,450.00 = 890.00, paid 3,560.00;
    # line 2 coinsurance 88.00, paid 352.00. Paid 3,912.00, patient 1,478.00.
    claim = _claim(
        "005010X223A2",
        RIVERBEND,
        LIAM_HILL
        + """\
CLM*GOLD-INPT*9800***11:A:1**A*Y*Y~
DTP*096*TM*1000~
DTP*434*RD8*20261001-20261004~
DTP*435*DT*202610010800~
CL1*1*1*01~
HI*ABK:J189~
HI*BJ:R0602~
NM1*71*1*HALL*OWEN****XX*2283621045~
LX*1~
SV2*0120**9000*DA*3~
DTP*472*RD8*20261001-20261004~
LX*2~
SV2*0250**800*UN*1~
DTP*472*D8*20261002~
""".replace("HI*BJ:R0602~\n", ""),
    )
    result = _run(claim)
    assert _adj(result) == [
        (1, "CO", "45", D("4050.00")),
        (1, "PR", "1", D("500.00")),
        (1, "PR", "2", D("890.00")),
        (2, "CO", "45", D("360.00")),
        (2, "PR", "2", D("88.00")),
    ]
    assert (result.decision.paid, result.decision.patient_responsibility) == (
        D("3912.00"),
        D("1478.00"),
    )


def test_institutional_outpatient_revenue_code_lines() -> None:
    # Type of bill 131. 0450 with 99283 charged 1,400.00 at 65% = 910.00: emergency copay
    # 250.00, deductible 500.00, 20% of 160.00 = 32.00 → paid 128.00. 0300 with 80053 charged
    # 195.00 at 45% = 87.75, deductible now met: 20% = 17.55 → paid 70.20.
    claim = _claim(
        "005010X223A2",
        RIVERBEND,
        LIAM_HILL
        + """\
CLM*GOLD-OUTPT*1595***13:A:1**A*Y*Y~
DTP*434*RD8*20261015-20261015~
CL1*1*7*01~
HI*ABK:R079~
LX*1~
SV2*0450*HC:99283*1400*UN*1~
DTP*472*D8*20261015~
LX*2~
SV2*0300*HC:80053*195*UN*1~
DTP*472*D8*20261015~
""",
    )
    result = _run(claim)
    assert [ln.paid for ln in result.decision.lines] == [D("128.00"), D("70.20")]
    assert result.decision.patient_responsibility == D("799.55")


def test_dental_with_tooth_numbers() -> None:
    # D1110 charged 120.00, allowed 94.80: dental preventive, paid in full. D2140 on tooth 30,
    # surfaces M and O, charged 160.00, allowed 115.20: deductible 50.00, 20% of 65.20 =
    # 13.04, paid 52.16.
    claim = _claim(
        "005010X224A2",
        BRIGHT_SMILES,
        _subscriber("DB00009600", "MARTINEZ", "LUCAS", "19940409", "M", "DENTAL-BASIC")
        + """\
CLM*DENT-1*280***11:B:1*Y*A*Y*Y~
DTP*472*D8*20261015~
LX*1~
SV3*AD:D1110*120~
LX*2~
SV3*AD:D2140*160~
TOO*JP*30*M:O~
""",
    )
    result = _run(claim)
    assert claim.lines[1].teeth[0].code == "30"
    assert [ln.paid for ln in result.decision.lines] == [D("94.80"), D("52.16")]
    assert result.decision.patient_responsibility == D("63.04")


def test_pend_over_the_threshold() -> None:
    # Gold PPO pends claims charging more than 25,000.00 for an examiner; nothing is paid yet
    # and no accumulator moves.
    claim = _claim(
        "005010X222A1",
        BUCKEYE,
        LIAM_HILL
        + """\
CLM*GOLD-BIG*30000***11:B:1*Y*A*Y*Y~
HI*ABK:M1711~
LX*1~
SV1*HC:20610*30000*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    result = _run(claim)
    assert result.decision.outcome is Outcome.PENDED
    assert "above 25000.00" in result.decision.pend_reason
    assert result.accumulator_changes == {}


def _needs_authorization(claim: Claim, line: ServiceLine, ctx: LineContext) -> list[RuleOutcome]:
    code = line.procedure.code if line.procedure else ""
    if code in ("70551", "70553", "72148"):
        return [RuleOutcome("require_authorization", "TEST-AUTH")]
    return []


def _mri(units: str, code: str = "70551") -> Claim:
    return _claim(
        "005010X222A1",
        BUCKEYE,
        LIAM_HILL
        + f"""\
CLM*GOLD-MRI-{code}-{units}*{1500 * int(units)}***11:B:1*Y*A*Y*Y~
HI*ABK:G4489~
LX*1~
SV1*HC:{code}*{1500 * int(units)}*UN*{units}***1~
DTP*472*D8*20261015~
""",
    )


def test_authorization_present() -> None:
    # PA2026000101 covers one 70551: allowed 900.00 (CO-45 600.00), deductible 500.00,
    # 20% of 400.00 = 80.00, paid 320.00
    result = _run(_mri("1"), rules=_needs_authorization)
    assert _adj(result) == [
        (1, "CO", "45", D("600.00")),
        (1, "PR", "1", D("500.00")),
        (1, "PR", "2", D("80.00")),
    ]


def test_authorization_missing() -> None:
    result = _run(_mri("1", "72148"), rules=_needs_authorization)
    assert _adj(result) == [(1, "CO", "197", D("1500.00"))]


def test_authorization_units_exceeded() -> None:
    result = _run(_mri("2"), rules=_needs_authorization)
    assert _adj(result) == [(1, "CO", "198", D("3000.00"))]


def test_replacement_reverses_the_original_then_adjudicates_the_new_claim() -> None:
    first = _run(
        _claim(
            "005010X222A1",
            BUCKEYE,
            LIAM_HILL
            + """\
CLM*GOLD-R*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
""",
        )
    ).decision
    replacement = _claim(
        "005010X222A1",
        BUCKEYE,
        LIAM_HILL
        + """\
CLM*GOLD-R*200***11:B:7*Y*A*Y*Y~
REF*F8*PCN0002~
HI*ABK:J069~
LX*1~
SV1*HC:99214*200*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    result = _run(replacement, prior_decisions={"PCN0002": first})
    reversal, new = result.decisions
    assert reversal.status is ClaimStatusCode.REVERSAL and reversal.paid == D("-63.20")
    # 99214 allowed 131.20: copay 25.00, paid 106.20; the copay of the reversed claim is
    # taken back, this one's added: the out-of-pocket total does not move.
    assert new.paid == D("106.20")
    assert all(v == 0 for v in result.accumulator_changes.values())


def test_a_replacement_with_the_same_lines_is_not_a_duplicate_of_its_original() -> None:
    # A provider corrects a claim without changing its lines (say, a diagnosis): the original's
    # services are still in the member's history, but the replacement stands in their place,
    # so it is adjudicated as though the original had never been: paid 63.20 again, not OA-18.
    lines = """\
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    original = _claim(
        "005010X222A1", BUCKEYE, LIAM_HILL + "CLM*GOLD-S*140***11:B:1*Y*A*Y*Y~\n" + lines
    )
    first = _run(original)
    ledger = Ledger()
    ledger.record(first)
    replacement = _claim(
        "005010X222A1",
        BUCKEYE,
        LIAM_HILL + "CLM*GOLD-S*140***11:B:7*Y*A*Y*Y~\nREF*F8*PCN0002~\n" + lines,
    )
    ctx = ledger.context_for(
        replacement, AdjudicationContext(reference=REFERENCE, received_on=date(2026, 11, 3))
    )
    assert ctx.history, "the original's services are in the history the replacement sees"
    result = adjudicate(replacement, ctx, "PCN0003")
    assert all(check_balance(d) == [] for d in result.decisions)
    reversal, new = result.decisions
    assert reversal.paid == D("-63.20")
    assert [(a.group, a.reason) for ln in new.lines for a in ln.adjustments] == [
        ("CO", "45"),
        ("PR", "3"),
    ]
    assert new.paid == D("63.20")
    # and a second copy of the original, not a replacement, is still a duplicate
    again = adjudicate(original, ctx, "PCN0004")
    assert again.decision.outcome is Outcome.DENIED
    assert {(a.group, a.reason) for ln in again.decision.lines for a in ln.adjustments} == {
        ("OA", "18")
    }


SCIOTO = """\
NM1*85*2*SCIOTO VALLEY INTERNAL MEDICINE*****XX*2750062418~
N3*4173 CEDAR RD~
N4*LANCASTER*OH*431334296~
REF*EI*312975124~
"""


def test_coinsurance_after_the_deductible() -> None:
    # Deductible met. 80053 charged 80.00, allowed 48.75 (CO-45 31.25): coinsurance 20% =
    # 9.75, the plan pays 39.00.
    claim = _claim(
        "005010X222A1",
        BUCKEYE,
        LIAM_HILL
        + """\
CLM*GOLD-COINS*80***11:B:1*Y*A*Y*Y~
HI*ABK:E785~
LX*1~
SV1*HC:80053*80*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    met = {
        AccumulatorKey(f"{who}", "PPO-GOLD", date(2026, 1, 1), "deductible", "in"): D("500")
        for who in ("member:PG00000100", "family:F00001")
    }
    result = _run(claim, accumulators=met)
    assert _adj(result) == [(1, "CO", "45", D("31.25")), (1, "PR", "2", D("9.75"))]
    assert result.decision.paid == D("39.00")


def test_hmo_pays_nothing_out_of_network() -> None:
    # ROBERT PATEL (HS00005100) is on the Silver HMO; JACKSON is in no network: CO-242
    claim = _claim(
        "005010X222A1",
        JACKSON,
        _subscriber("HS00005100", "PATEL", "ROBERT", "19690911", "M", "HMO-SILVER")
        + """\
CLM*HMO-OON*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
""",
    )
    result = _run(claim)
    assert _adj(result) == [(1, "CO", "242", D("140.00"))]
    assert result.decision.status is ClaimStatusCode.DENIED


def test_provider_that_left_the_network() -> None:
    # SCIOTO VALLEY was in the Gold PPO network until 2026-06-30. In May: copay 25.00, paid
    # 63.20. In October it is out of network: PR-45 51.80 and the out-of-network deductible
    # takes the 88.20 allowed: the plan pays nothing.
    def visit(day: str) -> Claim:
        return _claim(
            "005010X222A1",
            SCIOTO,
            LIAM_HILL
            + f"""\
CLM*SCIOTO-{day}*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*{day}~
""",
        )

    assert _run(visit("20260501")).decision.paid == D("63.20")
    late = _run(visit("20261015"))
    assert _adj(late) == [(1, "PR", "45", D("51.80")), (1, "PR", "1", D("88.20"))]
