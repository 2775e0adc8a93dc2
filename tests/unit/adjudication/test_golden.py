"""Golden scenarios: readable 837s against fixtures/reference, expected money worked by hand.

The reference data these use (fixtures/reference):
- member PG00000100, LIAM HILL, born 1987-12-27, Gold PPO since 2024-01-01 (family F00001);
- family F00002 on the Gold PPO: SOPHIA JOHNSON (subscriber PG00000200, born 1975-11-20) and
  her spouse LIAM JACKSON (PG00000201, born 1975-01-02);
- billing provider BUCKEYE FAMILY MEDICINE, NPI 2781759230, in the Gold PPO network;
- Gold PPO in network: deductible 500 / family 1,000, out-of-pocket maximum 3,000 / 6,000,
  coinsurance 20%, office visit copay 25 (copay only), preventive free, timely filing 365 days;
- fee schedule: 99213 88.20, 99214 131.20, 80053 48.75, 36415 12.78, 71046 90.00,
  20610 136.90, 11721 55.25, 17110 96.00, 99395 124.25.

Claims are received on 2026-11-02 unless a scenario says otherwise.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from claims_engine.adjudication.adjudicate import AccumulatorKey, PriorService
from claims_engine.adjudication.decision import ClaimStatusCode, Outcome
from claims_engine.adjudication.payment_cycle import load_payer, payment_cycle
from claims_engine.x12.writer835 import write_835
from tests.conftest import FIXTURES
from tests.unit.adjudication.support import LIAM_HILL
from tests.unit.adjudication.support import adjustments as _adjustments
from tests.unit.adjudication.support import claim_from_837 as _claim
from tests.unit.adjudication.support import run as _run

D = Decimal


def _member_key(bucket: str, member: str = "PG00000100") -> AccumulatorKey:
    return AccumulatorKey(f"member:{member}", "PPO-GOLD", date(2026, 1, 1), bucket, "in")


def _family_key(bucket: str, family: str = "F00001") -> AccumulatorKey:
    return AccumulatorKey(f"family:{family}", "PPO-GOLD", date(2026, 1, 1), bucket, "in")


def test_copay_office_visit() -> None:
    # 99213 charged 140.00, allowed 88.20 (CO-45 51.80); office visit copay PR-3 25.00;
    # the plan pays 88.20 - 25.00 = 63.20
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-COPAY*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(claim)
    d = result.decision
    assert _adjustments(result) == [(1, "CO", "45", D("51.80")), (1, "PR", "3", D("25.00"))]
    assert (d.paid, d.patient_responsibility, d.status) == (
        D("63.20"),
        D("25.00"),
        ClaimStatusCode.PRIMARY,
    )
    assert result.accumulator_changes == {
        _member_key("oop"): D("25.00"),
        _family_key("oop"): D("25.00"),
    }


def test_deductible_partly_met_then_coinsurance() -> None:
    # 71046 charged 120.00, allowed 90.00 (CO-45 30.00). 450.00 of the 500.00 deductible met:
    # PR-1 50.00, then 20% of the 40.00 left: PR-2 8.00; the plan pays 32.00
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-DED*120***11:B:1*Y*A*Y*Y~
HI*ABK:R051~
LX*1~
SV1*HC:71046*120*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    met = {
        _member_key("deductible"): D("450"),
        _family_key("deductible"): D("450"),
        _member_key("oop"): D("450"),
        _family_key("oop"): D("450"),
    }
    result = _run(claim, accumulators=met)
    assert _adjustments(result) == [
        (1, "CO", "45", D("30.00")),
        (1, "PR", "1", D("50.00")),
        (1, "PR", "2", D("8.00")),
    ]
    assert result.decision.paid == D("32.00")
    assert result.accumulator_changes[_member_key("deductible")] == D("50.00")
    assert result.accumulator_changes[_member_key("oop")] == D("58.00")


def test_out_of_pocket_maximum_reached_inside_one_claim() -> None:
    # Deductible met, 2,990.00 of the 3,000.00 maximum paid. Line 1: 20610 charged 200.00,
    # allowed 136.90, 20% = 27.38 but only 10.00 left → PR-2 10.00, plan 126.90. Line 2:
    # 93000 charged 80.00 allowed 41.60, the maximum is reached → the plan pays 41.60
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-OOP*280***11:B:1*Y*A*Y*Y~
HI*ABK:M1711*ABF:I10~
LX*1~
SV1*HC:20610*200*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:93000*80*UN*1***2~
DTP*472*D8*20261015~
"""
    )
    met = {
        _member_key("deductible"): D("500"),
        _family_key("deductible"): D("500"),
        _member_key("oop"): D("2990"),
        _family_key("oop"): D("2990"),
    }
    result = _run(claim, accumulators=met)
    lines = result.decision.lines
    assert [ln.paid for ln in lines] == [D("126.90"), D("41.60")]
    assert result.decision.patient_responsibility == D("10.00")
    assert result.accumulator_changes[_member_key("oop")] == D("10.00")


def test_multiple_procedure_reduction() -> None:
    # 20610 allowed 136.90 and 11721 allowed 55.25 on the same day: 11721 is reduced by half,
    # CO-59 27.63 (27.625 rounded half up), leaving 27.62. Deductible met, out-of-pocket not:
    # 20% coinsurance: 27.38 on 136.90 and 5.52 on 27.62; the plan pays 109.52 + 22.10 = 131.62
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-MPR*300***11:B:1*Y*A*Y*Y~
HI*ABK:M1711*ABF:B351~
LX*1~
SV1*HC:20610*200*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:11721*100*UN*1***2~
DTP*472*D8*20261015~
"""
    )
    met = {_member_key("deductible"): D("500"), _family_key("deductible"): D("500")}
    result = _run(claim, accumulators=met)
    assert _adjustments(result) == [
        (1, "CO", "45", D("63.10")),
        (1, "PR", "2", D("27.38")),
        (2, "CO", "45", D("44.75")),
        (2, "CO", "59", D("27.63")),
        (2, "PR", "2", D("5.52")),
    ]
    assert result.decision.paid == D("131.62")


def test_family_deductible_met_by_two_members() -> None:
    # Family F00002: SOPHIA has paid 800.00 towards the 1,000.00 family deductible, her spouse
    # LIAM nothing. LIAM's 80053 charged 80.00 allowed 48.75 and 36415 charged 25.00 allowed
    # 12.78. Line 1: deductible 48.75 (family left 200.00). Line 2: deductible 12.78. The
    # family total after: 861.53. The plan pays nothing; LIAM owes 61.53.
    claim = _claim("""\
HL*2*1*22*1~
SBR*P**PPO-GOLD******12~
NM1*IL*1*JOHNSON*SOPHIA****MI*PG00000200~
NM1*PR*2*ACME HEALTH PLAN*****PI*ACMEHP01~
HL*3*2*23*0~
PAT*01~
NM1*QC*1*JACKSON*LIAM~
N3*12 ELM STREET~
N4*AKRON*OH*443201234~
DMG*D8*19750102*M~
CLM*GOLD-FAM*105***11:B:1*Y*A*Y*Y~
HI*ABK:E785~
LX*1~
SV1*HC:80053*80*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:36415*25*UN*1***1~
DTP*472*D8*20261015~
""")
    family = {_family_key("deductible", "F00002"): D("800"), _family_key("oop", "F00002"): D("800")}
    result = _run(claim, accumulators=family)
    assert result.decision.paid == D("0.00")
    assert result.decision.patient_responsibility == D("61.53")
    assert result.accumulator_changes[_family_key("deductible", "F00002")] == D("61.53")
    assert result.accumulator_changes[_member_key("deductible", "PG00000201")] == D("61.53")
    # a zero-paid claim is still processed as primary, not denied
    assert result.decision.status is ClaimStatusCode.PRIMARY
    assert result.decision.outcome is Outcome.PAID


def test_preventive_visit_is_paid_in_full() -> None:
    # 99395 charged 210.00, allowed 124.25 (CO-45 85.75); preventive: no cost share
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-PREV*210***11:B:1*Y*A*Y*Y~
HI*ABK:Z0000~
LX*1~
SV1*HC:99395*210*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(claim)
    assert result.decision.paid == D("124.25")
    assert result.decision.patient_responsibility == 0
    assert result.accumulator_changes == {}


def test_unknown_member_is_denied_co31() -> None:
    claim = _claim(
        LIAM_HILL.replace("PG00000100", "PG99999900")
        + """\
CLM*GOLD-WHO*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(claim)
    assert _adjustments(result) == [(1, "CO", "31", D("140.00"))]
    assert result.decision.status is ClaimStatusCode.DENIED


def test_late_filing_is_denied_co29() -> None:
    # service 2025-10-01, received 2026-11-02: 397 days, the Gold PPO allows 365
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-LATE*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20251001~
"""
    )
    result = _run(claim)
    assert _adjustments(result) == [(1, "CO", "29", D("140.00"))]


def test_exact_duplicate_is_denied_oa18() -> None:
    claim = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-DUP*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    earlier = PriorService(
        "PCN0000",
        "GOLD-DUP-FIRST",
        "2781759230",
        "PG00000100",
        "99213",
        date(2026, 10, 15),
        D("140"),
        D("1"),
    )
    result = _run(claim, history=(earlier,))
    assert _adjustments(result) == [(1, "OA", "18", D("140.00"))]


def test_void_reverses_the_original_with_every_amount_negated() -> None:
    original = _run(
        _claim(
            LIAM_HILL
            + """\
CLM*GOLD-ORIG*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
        )
    ).decision
    void = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-ORIG*140***11:B:8*Y*A*Y*Y~
REF*F8*PCN0001~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(void, prior_decisions={"PCN0001": original})
    assert len(result.decisions) == 1
    reversal = result.decisions[0]
    assert reversal.status is ClaimStatusCode.REVERSAL
    assert reversal.paid == D("-63.20")
    assert [a.amount for a in reversal.lines[0].adjustments] == [D("-51.80"), D("-25.00")]
    # the copay taken back out of the out-of-pocket totals
    assert result.accumulator_changes[_member_key("oop")] == D("-25.00")


def test_secondary_claim_pays_what_is_left_of_the_allowed() -> None:
    # The primary paid 60.00 of the 99213 line (2320 AMT*D). Allowed 88.20: 28.20 is left.
    # As primary the plan would pay 63.20 (copay 25.00): it pays 28.20, OA-23 60.00 for the
    # primary's payment, and the patient owes nothing (the copay is covered by the primary's
    # payment: 88.20 - 60.00 - 28.20 = 0).
    claim = _claim(
        LIAM_HILL.replace("SBR*P*18", "SBR*S*18")
        + """\
CLM*GOLD-COB*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
SBR*P*18*OTHERGRP******CI~
CAS*CO*45*80~
AMT*D*60~
OI***Y***Y~
NM1*IL*1*HILL*LIAM****MI*OTHER123~
NM1*PR*2*OTHER INSURANCE CO*****PI*OTHERPAYER~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(claim)
    assert _adjustments(result) == [(1, "CO", "45", D("51.80")), (1, "OA", "23", D("60.00"))]
    assert result.decision.paid == D("28.20")
    assert result.decision.status is ClaimStatusCode.SECONDARY


def test_void_and_replacement_in_the_835_reversal_first() -> None:
    # The original (paid 63.20) is replaced by a 99214 (paid 106.20). The 835 carries the
    # reversal (CLP02 22, every amount negated, the copay too) right before the correction;
    # the check is 106.20 - 63.20 = 43.00.
    original = _run(
        _claim(
            LIAM_HILL
            + """\
CLM*GOLD-R835*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
        )
    ).decision
    replacement = _claim(
        LIAM_HILL
        + """\
CLM*GOLD-R835*200***11:B:7*Y*A*Y*Y~
REF*F8*PCN0001~
HI*ABK:J069~
LX*1~
SV1*HC:99214*200*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    result = _run(replacement, pccn="PCN0002", prior_decisions={"PCN0001": original})
    payer = load_payer(FIXTURES / "reference" / "payer.yaml")
    (remittance,) = payment_cycle(
        list(result.decisions), payer, paid_on=date(2026, 11, 3), first_trace=7
    )
    out = io.StringIO()
    summary = write_835(
        out,
        remittance.decisions,
        payment=remittance.payment,
        interchange_control=9,
        created=datetime(2026, 11, 3, 8, 0),
    )
    clps = [s for s in out.getvalue().splitlines() if s.startswith("CLP*")]
    assert clps == [
        "CLP*GOLD-R835*22*-140*-63.2*-25*12*PCN0001*11*1~",
        "CLP*GOLD-R835*1*200*106.2*25*12*PCN0002*11*7~",
    ]
    assert summary.total_paid == D("43.00")
