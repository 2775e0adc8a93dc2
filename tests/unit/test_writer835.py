"""The 835 writer: balanced at line, claim and transaction level, in order, valid under pyx12.

Expected amounts are worked out by hand in the comments, not copied from the program's output.
"""

from __future__ import annotations

import dataclasses
import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims_engine.adjudication.decision import (
    ClaimDecision,
    ClaimStatusCode,
    LineDecision,
    Outcome,
)
from claims_engine.domain.model import (
    Address,
    Adjustment,
    Claim,
    ClaimType,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
    Source,
)
from claims_engine.domain.money import ZERO, money
from claims_engine.domain.reference_data import load_members, load_providers
from claims_engine.synthetic.generator import generate_claims
from claims_engine.x12.tokenizer import Delimiters, SegmentReader
from claims_engine.x12.writer835 import (
    BankAccounts,
    Contact,
    Payment,
    PaymentMethod,
    ProviderAdjustment,
    RemittanceSummary,
    remittance_order,
    write_835,
)
from tests.x12_oracle import pyx12_errors

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
CREATED = datetime(2025, 7, 1, 9, 30)
PAID_ON = date(2025, 7, 2)
STANDARD = Delimiters("*", "^", ":", "~")

PAYMENT = Payment(
    payer_name="ACME HEALTH PLAN",
    payer_tin="311234567",
    payer_address=Address("PO BOX 18200", "", "COLUMBUS", "OH", "43218"),
    payer_contact=Contact("EDI SUPPORT", phone="8005550199"),
    payee_name="BUCKEYE FAMILY MEDICINE",
    payee_npi="2781759230",
    payee_tin="206973390",
    paid_on=PAID_ON,
    trace_number="CHK0000123",
    payer_id="ACMEHP01",
)


def d(text: str) -> Decimal:
    return money(text)


def _pyx12(text: str) -> list[str]:
    """pyx12's errors less one false positive: its 835 map gives PLB ``max_use >1`` (as the
    guide does) but wraps it in a made-up FOOTER loop of ``repeat 1``, so every PLB after the
    first (more than six adjustments) counts as a second footer."""
    return [e for e in pyx12_errors(text) if "Loop FOOTER exceeded max count" not in e]


# -- building claims and decisions by hand ------------------------------------------------------
def _claim(
    claim_id: str,
    *,
    claim_type: ClaimType = ClaimType.PROFESSIONAL,
    frequency: str = "1",
    original: str = "",
    patient: Person | None = None,
    relationship: str = "18",
) -> Claim:
    subscriber = Person("HILL", "LIAM", member_id="PG00000100", birth_date=date(1987, 12, 27))
    institutional = claim_type is ClaimType.INSTITUTIONAL
    return Claim(
        claim_type=claim_type,
        claim_id=claim_id,
        total_charge=ZERO,
        facility_code="11",  # place of service 11 office; for 837I, type of bill 11x inpatient
        facility_qualifier="A" if institutional else "B",
        frequency_code=frequency,
        submitter=Party("BUCKEYE CLAIMS EXCHANGE", "46", "BCX0042"),
        receiver=Party("ACME HEALTH PLAN", "46", "ACMEHP01"),
        billing_provider=Provider("85", "2", "BUCKEYE FAMILY MEDICINE", npi="2781759230"),
        subscriber=subscriber,
        patient=patient or subscriber,
        patient_relationship=relationship,
        payer=Party("ACME HEALTH PLAN", "PI", "ACMEHP01"),
        payer_responsibility="P",
        lines=(ServiceLine(1, ZERO, Decimal(1), "UN"),),
        source=Source("", "", "", "", "", 0),
        claim_filing_indicator="12",
        original_claim_number=original,
        statement_from=date(2025, 6, 2) if institutional else None,
        statement_to=date(2025, 6, 5) if institutional else None,
    )


def _line(
    number: int,
    code: str,
    charge: str,
    adjustments: tuple[tuple[str, str, str], ...] = (),
    *,
    revenue: str = "",
    qualifier: str = "HC",
    remarks: tuple[str, ...] = (),
    control: str = "",
) -> LineDecision:
    """A line whose paid amount is its charge less its adjustments, allowed = paid + PR."""
    adj = tuple(Adjustment(g, r, d(a)) for g, r, a in adjustments)
    paid = d(charge) - sum((a.amount for a in adj), start=ZERO)
    patient = sum((a.amount for a in adj if a.group == "PR"), start=ZERO)
    return LineDecision(
        line_number=number,
        procedure=Procedure(qualifier, code) if code else None,
        revenue_code=revenue,
        charge=d(charge),
        units=Decimal(1),
        paid_units=Decimal(1) if paid else ZERO,
        allowed=paid + patient,
        paid=paid,
        adjustments=adj,
        service_from=date(2025, 6, 2),
        service_to=None,
        remarks=remarks,
        control_number=control,
        outcome=Outcome.PAID if paid else Outcome.DENIED,
    )


def _decision(
    claim: Claim,
    number: str,
    *lines: LineDecision,
    status: ClaimStatusCode = ClaimStatusCode.PRIMARY,
    outcome: Outcome = Outcome.PAID,
    claim_adjustments: tuple[Adjustment, ...] = (),
    remarks: tuple[str, ...] = (),
    reverses: str = "",
) -> ClaimDecision:
    return ClaimDecision(
        claim=claim,
        payer_claim_number=number,
        status=status,
        outcome=outcome,
        lines=lines,
        claim_adjustments=claim_adjustments,
        remarks=remarks,
        reverses=reverses,
    )


def _reversal(original: ClaimDecision, number: str) -> ClaimDecision:
    """What adjudication makes of a reversed decision: every amount negated."""

    def neg(adjs: tuple[Adjustment, ...]) -> tuple[Adjustment, ...]:
        return tuple(dataclasses.replace(a, amount=-a.amount) for a in adjs)

    lines = tuple(
        dataclasses.replace(
            ln,
            charge=-ln.charge,
            paid=-ln.paid,
            allowed=-ln.allowed,
            paid_units=-ln.paid_units,
            adjustments=neg(ln.adjustments),
        )
        for ln in original.lines
    )
    return dataclasses.replace(
        original,
        payer_claim_number=number,
        status=ClaimStatusCode.REVERSAL,
        lines=lines,
        claim_adjustments=neg(original.claim_adjustments),
        reverses=original.payer_claim_number,
    )


def _write(
    decisions: list[ClaimDecision],
    payment: Payment = PAYMENT,
    delimiters: Delimiters = STANDARD,
) -> tuple[str, RemittanceSummary]:
    out = io.StringIO()
    summary = write_835(
        out,
        decisions,
        payment=payment,
        interchange_control=905,
        created=CREATED,
        delimiters=delimiters,
    )
    return out.getvalue(), summary


def _segments(text: str) -> list[list[str]]:
    return list(SegmentReader(io.BytesIO(text.encode("ascii"))))


def _lines_of(text: str) -> list[str]:
    return text.splitlines()


# -- the hand-worked claim of the brief ---------------------------------------------------------
# Line 1: charged 100, allowed 80: CO-45 20 (over the fee schedule), deductible PR-1 30,
#         coinsurance PR-2 10  ->  paid 100 - 20 - 30 - 10 = 40.
# Line 2: charged 50, allowed 50, nothing adjusted  ->  paid 50.
# Claim:  charged 150, paid 40 + 50 = 90, patient responsibility 30 + 10 = 40, allowed 130.
# BPR02:  90 (no provider adjustments).
def _two_line_claim() -> ClaimDecision:
    return _decision(
        _claim("PCN1001"),
        "25183000001",
        _line(
            1,
            "99213",
            "100",
            (("CO", "45", "20"), ("PR", "1", "30"), ("PR", "2", "10")),
            control="L1001",
            remarks=("N130",),
        ),
        _line(2, "36415", "50", control="L1002"),
    )


def test_hand_worked_claim_is_written_segment_by_segment() -> None:
    text, summary = _write([_two_line_claim()])
    assert _lines_of(text) == [
        "ISA*00*          *00*          *ZZ*ACMEHP01       *ZZ*2781759230     "
        "*250701*0930*^*00501*000000905*0*P*:~",
        "GS*HP*ACMEHP01*2781759230*20250701*0930*905*X*005010X221A1~",
        "ST*835*0001~",
        "BPR*I*90*C*CHK************20250702~",
        "TRN*1*CHK0000123*1311234567~",
        "DTM*405*20250701~",
        "N1*PR*ACME HEALTH PLAN~",
        "N3*PO BOX 18200~",
        "N4*COLUMBUS*OH*43218~",
        "REF*2U*ACMEHP01~",
        "PER*BL*EDI SUPPORT*TE*8005550199~",
        "N1*PE*BUCKEYE FAMILY MEDICINE*XX*2781759230~",
        "REF*TJ*206973390~",
        "LX*1~",
        "CLP*PCN1001*1*150*90*40*12*25183000001*11*1~",
        "NM1*QC*1*HILL*LIAM****MI*PG00000100~",
        "AMT*AU*130~",
        "SVC*HC:99213*100*40~",
        "DTM*472*20250602~",
        "CAS*CO*45*20~",
        "CAS*PR*1*30**2*10~",
        "REF*6R*L1001~",
        "AMT*B6*80~",
        "LQ*HE*N130~",
        "SVC*HC:36415*50*50~",
        "DTM*472*20250602~",
        "REF*6R*L1002~",
        "AMT*B6*50~",
        "SE*27*0001~",  # ST .. SE: 27 segments
        "GE*1*905~",
        "IEA*1*000000905~",
    ]
    assert summary == RemittanceSummary(d("90"), 1, ZERO, ZERO)
    assert _pyx12(text) == []


def test_paid_denied_and_partly_paid_claims() -> None:
    # Paid in full: 120 charged, CO-45 20 -> paid 100.
    paid = _decision(_claim("PAID1"), "P1", _line(1, "99214", "120", (("CO", "45", "20"),)))
    # Denied: 300 charged, CO-204 300 (not covered) -> paid 0, no patient responsibility.
    denied = _decision(
        _claim("DENY1"),
        "P2",
        _line(1, "97110", "300", (("CO", "204", "300"),), remarks=("N130",)),
        status=ClaimStatusCode.DENIED,
        outcome=Outcome.DENIED,
        remarks=("MA130",),
    )
    # Partly paid: line 1 200 charged, CO-45 50, PR-3 25 copay -> 125;
    #              line 2 80 charged, CO-197 80 (no authorization) -> 0.
    #              claim 280 charged, paid 125, patient 25.
    partly = _decision(
        _claim("PART1"),
        "P3",
        _line(1, "99215", "200", (("CO", "45", "50"), ("PR", "3", "25"))),
        _line(2, "73030", "80", (("CO", "197", "80"),)),
        outcome=Outcome.PARTLY_PAID,
    )
    # BPR02 = 100 + 0 + 125 = 225.
    text, summary = _write([paid, denied, partly])
    lines = _lines_of(text)
    assert "BPR*I*225*C*CHK************20250702~" in lines
    assert "CLP*PAID1*1*120*100**12*P1*11*1~" in lines
    assert "CLP*DENY1*4*300*0**12*P2*11*1~" in lines
    assert "MOA***MA130~" in lines
    assert "CLP*PART1*1*280*125*25*12*P3*11*1~" in lines
    assert "SVC*HC:73030*80*0**0**1~" in lines  # SVC05: no unit paid of SVC07: 1 billed
    assert summary.total_paid == d("225")
    assert summary.claims == 3
    assert _pyx12(text) == []


def test_institutional_and_dental_service_identifiers() -> None:
    # Room and board (revenue code only) -> NU:0120; a HCPCS line also names its revenue code.
    # 1500 - CO-45 300 - PR-1 200 = 1000; 400 - CO-45 100 = 300; claim paid 1300.
    inst = _decision(
        _claim("INST1", claim_type=ClaimType.INSTITUTIONAL),
        "I1",
        _line(1, "", "1500", (("CO", "45", "300"), ("PR", "1", "200")), revenue="0120"),
        _line(2, "71046", "400", (("CO", "45", "100"),), revenue="0320"),
        remarks=("MA01",),
    )
    dental = _decision(
        _claim("DENT1", claim_type=ClaimType.DENTAL),
        "D1",
        _line(1, "D1110", "73", (("CO", "131", "24"),), qualifier="AD"),
    )
    text, summary = _write([inst, dental])
    lines = _lines_of(text)
    assert "SVC*NU:0120*1500*1000~" in lines
    assert "SVC*HC:71046*400*300*0320~" in lines
    assert "SVC*AD:D1110*73*49~" in lines
    # Inpatient (type of bill 11x): the claim remark goes in MIA05, the stay is 3 days.
    assert "MIA*3****MA01~" in lines
    assert "DTM*232*20250602~" in lines and "DTM*233*20250605~" in lines
    assert summary.total_paid == d("1349")  # 1300 + 49
    assert _pyx12(text) == []


def test_dependent_patient_names_the_insured_and_claim_adjustments_balance() -> None:
    child = Person("HILL", "EMMA", birth_date=date(2015, 3, 4))
    # Line: 250 - CO-45 50 = 200; claim-level OA-23 (paid by another payer) 60 -> CLP04 140.
    decision = _decision(
        _claim("DEP1", patient=child, relationship="19"),
        "C9",
        _line(1, "99393", "250", (("CO", "45", "50"),)),
        claim_adjustments=(Adjustment("OA", "23", d("60")),),
    )
    text, summary = _write([decision])
    lines = _lines_of(text)
    assert lines[lines.index("CLP*DEP1*1*250*140**12*C9*11*1~") + 1] == "CAS*OA*23*60~"
    assert "NM1*QC*1*HILL*EMMA****MI*PG00000100~" in lines
    assert "NM1*IL*1*HILL*LIAM****MI*PG00000100~" in lines
    assert summary.total_paid == d("140")
    assert _pyx12(text) == []


def test_more_than_six_reasons_split_into_more_cas_and_plb_segments() -> None:
    reasons = tuple(("CO", str(r), "1") for r in (45, 59, 96, 97, 204, 197, 119, 151))
    # 100 - 8 x 1 = 92.
    decision = _decision(_claim("MANY1"), "M1", _line(1, "99213", "100", reasons))
    # Eight PLB pairs: WO 1 x 4 (take back 4), L6 -0.50 x 4 (interest, pay 2 more).
    # BPR02 = 92 - 4 + 2 = 90.
    adjustments = tuple(ProviderAdjustment("WO", f"OP{n}", d("1")) for n in range(4)) + tuple(
        ProviderAdjustment("L6", f"INT{n}", d("-0.50")) for n in range(4)
    )
    text, summary = _write([decision], dataclasses.replace(PAYMENT, adjustments=adjustments))
    lines = _lines_of(text)
    assert "CAS*CO*45*1**59*1**96*1**97*1**204*1**197*1~" in lines
    assert "CAS*CO*119*1**151*1~" in lines
    assert (
        "PLB*2781759230*20251231*WO:OP0*1*WO:OP1*1*WO:OP2*1*WO:OP3*1*L6:INT0*-0.5*L6:INT1*-0.5~"
        in lines
    )
    assert "PLB*2781759230*20251231*L6:INT2*-0.5*L6:INT3*-0.5~" in lines
    assert summary == RemittanceSummary(d("90"), 1, d("2"), ZERO)
    assert _pyx12(text) == []


def test_same_group_and_reason_twice_is_written_once() -> None:
    # CO-45 10 and CO-45 15 on one line -> one CO-45 25; 100 - 25 = 75.
    decision = _decision(
        _claim("TWICE"), "T1", _line(1, "99213", "100", (("CO", "45", "10"), ("CO", "45", "15")))
    )
    text, _ = _write([decision])
    assert "CAS*CO*45*25~" in _lines_of(text)


# -- reversals ----------------------------------------------------------------------------------
def test_reversal_moves_right_before_its_correction() -> None:
    # The original paid 100 (120 - CO-45 20) on an earlier 835. Now: another claim paying 50,
    # the corrected claim paying 110 (130 - CO-45 20), and the reversal of the original (-100),
    # given after its correction. The reversal must come right before the correction.
    original = _decision(_claim("PCN7"), "ORIG1", _line(1, "99214", "120", (("CO", "45", "20"),)))
    reversal = _reversal(original, "REV1")
    correction = _decision(
        _claim("PCN7", frequency="7", original="ORIG1"),
        "CORR1",
        _line(1, "99214", "130", (("CO", "45", "20"),)),
    )
    other = _decision(_claim("OTHER"), "OTH1", _line(1, "99212", "50"))
    text, summary = _write([other, correction, reversal])
    clps = [s for s in _segments(text) if s[0] == "CLP"]
    assert [(s[1], s[2], s[7]) for s in clps] == [
        ("OTHER", "1", "OTH1"),
        ("PCN7", "22", "REV1"),
        ("PCN7", "1", "CORR1"),
    ]
    lines = _lines_of(text)
    # Written as adjudication negated it: CLP03 -120, CLP04 -100, CAS CO-45 -20.
    assert "CLP*PCN7*22*-120*-100**12*REV1*11*1~" in lines
    assert "CAS*CO*45*-20~" in lines
    # BPR02 = 50 - 100 + 110 = 60.
    assert summary.total_paid == d("60")
    assert _pyx12(text) == []


def test_void_without_correction_keeps_its_place() -> None:
    a = _decision(_claim("A"), "PA", _line(1, "99212", "50"))
    void = _reversal(_decision(_claim("V"), "PV", _line(1, "99212", "40")), "RV")
    b = _decision(_claim("B"), "PB", _line(1, "99212", "60"))
    assert remittance_order([a, void, b]) == [a, void, b]


def test_reversal_of_a_claim_paid_in_the_same_835_goes_before_the_correction() -> None:
    # Same patient control number three times: the original, its correction, its reversal.
    original = _decision(_claim("X1"), "O1", _line(1, "99212", "50"))
    correction = _decision(
        _claim("X1", frequency="7", original="O1"), "C1", _line(1, "99212", "55")
    )
    reversal = _reversal(original, "R1")
    assert remittance_order([original, correction, reversal]) == [original, reversal, correction]


def test_reversal_matched_by_patient_control_number_alone() -> None:
    # The correction does not name the original's payer claim number: the claim id decides.
    original = _decision(_claim("Y1"), "OY", _line(1, "99212", "50"))
    correction = _decision(_claim("Y1", frequency="7"), "CY", _line(1, "99212", "45"))
    other = _decision(_claim("Z1"), "OZ", _line(1, "99212", "30"))
    reversal = _reversal(original, "RY")
    assert remittance_order([correction, other, reversal]) == [reversal, correction, other]


# -- negative balances --------------------------------------------------------------------------
def test_negative_balance_is_carried_forward_then_recovered() -> None:
    # This 835: reversal of a 200 payment (-200) and its correction paying 50:
    # sum(CLP04) = -150, so BPR02 = 0 and PLB FB -150 balances: 0 = -150 - (-150).
    original = _decision(_claim("NEG1"), "N1", _line(1, "99215", "250", (("CO", "45", "50"),)))
    reversal = _reversal(original, "NR1")
    correction = _decision(
        _claim("NEG1", frequency="7", original="N1"),
        "NC1",
        _line(1, "99215", "250", (("CO", "45", "50"), ("CO", "59", "150"))),
    )
    text, summary = _write([correction, reversal])
    lines = _lines_of(text)
    assert "BPR*H*0*C*NON************20250702~" in lines
    assert "PLB*2781759230*20251231*FB:CHK0000123*-150~" in lines
    assert summary == RemittanceSummary(ZERO, 2, d("-150"), d("150"))
    assert _pyx12(text) == []

    # The next 835 pays a claim of 400 and recovers the 150: PLB FB +150, BPR02 = 400 - 150.
    nxt = dataclasses.replace(
        PAYMENT,
        trace_number="CHK0000124",
        forward_balance=summary.carry_forward,
        forward_reference="CHK0000123",
    )
    paid = _decision(_claim("NEXT1"), "NX1", _line(1, "27447", "500", (("CO", "45", "100"),)))
    text2, summary2 = _write([paid], nxt)
    lines2 = _lines_of(text2)
    assert "BPR*I*250*C*CHK************20250702~" in lines2
    assert "PLB*2781759230*20251231*FB:CHK0000123*150~" in lines2
    assert summary2 == RemittanceSummary(d("250"), 1, d("150"), ZERO)
    assert _pyx12(text2) == []


def test_recovery_larger_than_the_payment_carries_the_rest() -> None:
    # Owed 300 from before, claims pay 100: FB +300 recovers, FB -200 carries the rest;
    # BPR02 = 100 - (300 - 200) = 0, and 200 is still owed.
    payment = dataclasses.replace(PAYMENT, forward_balance=d("300"), forward_reference="OLD1")
    text, summary = _write([_decision(_claim("C1"), "Q1", _line(1, "99213", "100"))], payment)
    assert "PLB*2781759230*20251231*FB:OLD1*300*FB:CHK0000123*-200~" in _lines_of(text)
    assert summary == RemittanceSummary(ZERO, 1, d("100"), d("200"))
    assert _pyx12(text) == []


# -- payments and envelopes ---------------------------------------------------------------------
def test_ach_payment_carries_the_bank_fields() -> None:
    payment = dataclasses.replace(
        PAYMENT,
        method=PaymentMethod.ACH,
        bank=BankAccounts("041000124", "1234567890", "044000037", "9876543210"),
        payee_address=Address("8411 ASH WAY", "", "AKRON", "OH", "443255643"),
    )
    text, _ = _write([_two_line_claim()], payment)
    lines = _lines_of(text)
    assert (
        "BPR*I*90*C*ACH*CCP*01*041000124*DA*1234567890*1311234567**01*044000037*DA*9876543210"
        "*20250702~" in lines
    )
    assert "N4*AKRON*OH*443255643~" in lines
    assert _pyx12(text) == []


def test_no_claims_and_nothing_to_pay_is_a_notification() -> None:
    text, summary = _write([])
    assert "BPR*H*0*C*NON************20250702~" in _lines_of(text)
    assert not any(s[0] in ("LX", "PLB") for s in _segments(text))
    assert summary == RemittanceSummary(ZERO, 0, ZERO, ZERO)
    assert _pyx12(text) == []


def test_other_delimiters_are_used_throughout() -> None:
    delimiters = Delimiters("|", "{", ">", "'")
    text, _ = _write([_two_line_claim()], delimiters=delimiters)
    assert "SVC|HC>99213|100|40'" in _lines_of(text)
    assert "*" not in text and "~" not in text
    assert _pyx12(text) == []


def test_same_input_gives_byte_identical_output() -> None:
    decisions = [_two_line_claim(), _reversal(_two_line_claim(), "R9")]
    assert _write(decisions)[0] == _write(decisions)[0]


# -- refusals -----------------------------------------------------------------------------------
def test_a_value_holding_a_delimiter_is_refused_by_name() -> None:
    good = _two_line_claim()
    for bad_id in ("ACCT:1", "ACCT*1", "ACCT~1", "ACCT^1", "ACCT\u00e91"):
        claim = replace(good.claim, claim_id=bad_id)
        with pytest.raises(ValueError, match=re.escape(repr(bad_id))):
            _write([replace(good, claim=claim)])
    # in a component of a composite element too (SVC01's procedure code)
    line = good.lines[0]
    assert line.procedure is not None
    bad_line = replace(line, procedure=replace(line.procedure, code="992*13"))
    with pytest.raises(ValueError, match=re.escape("'992*13'")):
        _write([replace(good, lines=(bad_line, *good.lines[1:]))])


def test_unbalanced_decision_is_refused_and_nothing_is_written() -> None:
    good = _two_line_claim()
    bad_line = dataclasses.replace(good.lines[0], paid=d("41"))  # 100 - 60 is 40, not 41
    bad = dataclasses.replace(good, claim=_claim("BROKEN7"), lines=(bad_line, good.lines[1]))
    out = io.StringIO()
    with pytest.raises(ValueError, match=r"claim BROKEN7.*does not balance"):
        write_835(out, [good, bad], payment=PAYMENT, interchange_control=1, created=CREATED)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"outcome": Outcome.PENDED}, "pended"),
        ({"lines": ()}, "no service lines"),
    ],
)
def test_decisions_not_ready_to_remit_are_refused(change: dict[str, object], message: str) -> None:
    decision = dataclasses.replace(_two_line_claim(), **change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        _write([decision])


def test_fractions_of_a_cent_are_refused() -> None:
    line = _line(1, "99213", "100")
    line = dataclasses.replace(
        line, charge=Decimal("100.005"), paid=Decimal("100.005"), allowed=Decimal("100.005")
    )
    with pytest.raises(ValueError, match="not whole cents"):
        _write([_decision(_claim("FRAC"), "F1", line)])


def test_a_delimiter_in_a_value_is_refused_and_nothing_is_written() -> None:
    decision = dataclasses.replace(_two_line_claim(), claim=_claim("PCN*1"))
    out = io.StringIO()
    with pytest.raises(ValueError, match=r"claim PCN\*1"):
        write_835(out, [decision], payment=PAYMENT, interchange_control=1, created=CREATED)
    assert out.getvalue() == ""


def test_paying_money_without_a_way_to_pay_is_refused() -> None:
    with pytest.raises(ValueError, match="NON"):
        _write([_two_line_claim()], dataclasses.replace(PAYMENT, method=PaymentMethod.NONE))
    with pytest.raises(ValueError, match="ACH"):
        _write([_two_line_claim()], dataclasses.replace(PAYMENT, method=PaymentMethod.ACH))


# -- properties ---------------------------------------------------------------------------------
MEMBERS = load_members(REFERENCE / "members.csv")
PROVIDERS = load_providers(REFERENCE / "providers.csv")
POOL = tuple(generate_claims(11, MEMBERS, PROVIDERS, as_of=date(2025, 6, 30), count=60))
REASONS = {
    "CO": ("45", "59", "96", "97", "197", "204"),
    "PR": ("1", "2", "3"),
    "OA": ("18", "23"),
    "PI": ("96", "119"),
}


def _cents(n: int) -> Decimal:
    return money(Decimal(n) / 100)


@st.composite
def _decisions(draw: st.DrawFn) -> ClaimDecision:
    """A balanced decision on a generated claim: each line's charge cut at random points into
    the paid amount and CO/PR/OA/PI adjustments; sometimes a claim-level adjustment; sometimes
    reversed (everything negated)."""
    claim = draw(st.sampled_from(POOL))
    lines: list[LineDecision] = []
    for ln in claim.lines:
        charge = draw(st.integers(min_value=0, max_value=500_000))
        cuts = sorted(draw(st.lists(st.integers(0, charge), max_size=8)))
        pieces = [b - a for a, b in zip([0, *cuts], [*cuts, charge], strict=True)]
        adjustments: list[Adjustment] = []
        for piece in pieces[1:]:
            group = draw(st.sampled_from(sorted(REASONS)))
            reason = draw(st.sampled_from(REASONS[group]))
            quantity = draw(st.none() | st.integers(1, 3).map(Decimal))
            adjustments.append(Adjustment(group, reason, _cents(piece), quantity))
        paid = _cents(pieces[0])
        patient = sum((a.amount for a in adjustments if a.group == "PR"), start=ZERO)
        lines.append(
            LineDecision(
                line_number=ln.number,
                procedure=ln.procedure,
                revenue_code=ln.revenue_code,
                charge=_cents(charge),
                units=ln.units,
                paid_units=ln.units if paid else ZERO,
                allowed=paid + patient,
                paid=paid,
                adjustments=tuple(adjustments),
                service_from=ln.service_from,
                service_to=ln.service_to,
                remarks=tuple(draw(st.lists(st.sampled_from(("N130", "M15", "N59")), max_size=2))),
                control_number=ln.control_number,
            )
        )
    line_paid = sum((ln.paid for ln in lines), start=ZERO)
    claim_adjustments: tuple[Adjustment, ...] = ()
    if draw(st.booleans()):
        amount = _cents(draw(st.integers(0, int(line_paid * 100) + 1000)))
        claim_adjustments = (Adjustment(draw(st.sampled_from(("OA", "CO"))), "23", amount),)
    decision = ClaimDecision(
        claim=claim,
        payer_claim_number=f"P{draw(st.integers(1, 10**9))}",
        status=ClaimStatusCode.PRIMARY,
        outcome=Outcome.PAID,
        lines=tuple(lines),
        claim_adjustments=claim_adjustments,
        remarks=tuple(draw(st.lists(st.sampled_from(("MA01", "MA130", "N4")), max_size=3))),
    )
    if draw(st.integers(0, 4)) == 0:
        return _reversal(decision, decision.payer_claim_number + "R")
    return decision


_plb_adjustments = st.lists(
    st.builds(
        ProviderAdjustment,
        st.sampled_from(("WO", "L6", "72", "CS")),
        st.sampled_from(("REF1", "REF2")),
        st.integers(-100_000, 100_000).map(_cents),
    ),
    max_size=8,
).map(tuple)

_payments = st.builds(
    lambda adjustments, owed, method: dataclasses.replace(
        PAYMENT,
        adjustments=adjustments,
        forward_balance=_cents(owed),
        forward_reference="PRIOR1" if owed else "",
        method=method,
        bank=BankAccounts("041000124", "1234567890", "044000037", "9876543210"),
    ),
    _plb_adjustments,
    st.integers(0, 200_000) | st.just(0),
    st.sampled_from((PaymentMethod.CHECK, PaymentMethod.ACH)),
)


@dataclass
class _Claim835:
    charge: Decimal
    paid: Decimal
    adjusted: Decimal = ZERO
    lines: list[tuple[Decimal, Decimal, Decimal]] = field(default_factory=list)


def _check_balanced(text: str, delimiters: Delimiters) -> None:
    """Sum the written 835 back up and check the three balancing rules of DESIGN.md."""
    claims: list[_Claim835] = []
    bpr = ZERO
    plb = ZERO
    in_line = False
    for seg in _segments(text):
        tag = seg[0]
        if tag == "BPR":
            bpr = Decimal(seg[2])
        elif tag == "CLP":
            claims.append(_Claim835(Decimal(seg[3]), Decimal(seg[4])))
            in_line = False
        elif tag == "SVC":
            claims[-1].lines.append((Decimal(seg[2]), Decimal(seg[3]), ZERO))
            in_line = True
        elif tag == "CAS":
            amount = sum((Decimal(seg[i]) for i in range(3, len(seg), 3) if seg[i]), start=ZERO)
            claims[-1].adjusted += amount
            if in_line:
                charge, paid, adjusted = claims[-1].lines[-1]
                claims[-1].lines[-1] = (charge, paid, adjusted + amount)
        elif tag == "PLB":
            plb += sum((Decimal(seg[i]) for i in range(4, len(seg), 2)), start=ZERO)
            assert all(delimiters.component in seg[i] for i in range(3, len(seg), 2))
    for c in claims:
        for charge, paid, adjusted in c.lines:
            assert charge - adjusted == paid  # SVC02 - sum(line CAS) = SVC03
        assert c.charge - c.adjusted == c.paid  # CLP03 - sum(all CAS) = CLP04
    assert bpr == sum((c.paid for c in claims), start=ZERO) - plb  # BPR02
    assert bpr >= 0


def _delimiter_sets() -> st.SearchStrategy[Delimiters]:
    sets = st.builds(
        Delimiters,
        element=st.sampled_from(["*", "|", "!"]),
        repetition=st.sampled_from(["^", "{"]),
        component=st.sampled_from([":", ">", "\\"]),
        segment=st.sampled_from(["~", "\n", "'"]),
    )
    return sets.filter(lambda d: d.check() is None)


@settings(max_examples=150, deadline=None)
@given(
    decisions=st.lists(_decisions(), max_size=12),
    payment=_payments,
    delimiters=_delimiter_sets(),
)
def test_written_835_balances_at_every_level(
    decisions: list[ClaimDecision], payment: Payment, delimiters: Delimiters
) -> None:
    text, summary = _write(decisions, payment, delimiters)
    _check_balanced(text, delimiters)
    claims_paid = sum((dc.paid for dc in decisions), start=ZERO)
    assert summary.total_paid == claims_paid - summary.plb_total
    assert summary.carry_forward == max(
        ZERO,
        payment.forward_balance
        + sum((a.amount for a in payment.adjustments), start=ZERO)
        - claims_paid,
    )
    assert summary.claims == len(decisions)
    se = next(s for s in _segments(text) if s[0] == "SE")
    segments = _segments(text)
    st_at = next(i for i, s in enumerate(segments) if s[0] == "ST")
    assert int(se[1]) == segments.index(se) - st_at + 1


@settings(max_examples=40, deadline=None)
@given(decisions=st.lists(_decisions(), max_size=8), payment=_payments)
def test_written_835_is_valid_under_pyx12(decisions: list[ClaimDecision], payment: Payment) -> None:
    text, _ = _write(decisions, payment)
    assert _pyx12(text) == []
