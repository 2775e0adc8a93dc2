"""FHIR ExplanationOfBenefit (CARIN Blue Button) from hand-made explanations.

Claims are readable 837s adjudicated against fixtures/reference (the golden scenarios'
helpers), or the implementation guides' examples in fixtures/x12; expected money is worked out
by hand in the comments. Every resource must validate against the FHIR R4B models of
fhir.resources after a JSON round trip through :func:`adapters.fhir.dumps`.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.R4B.operationoutcome import OperationOutcome

from adapters.fhir import (
    INPATIENT,
    ORAL,
    OUTPATIENT,
    PROFESSIONAL,
    diagnosis_code,
    dumps,
    explanation_of_benefit,
    is_inpatient,
    operation_outcome,
    searchset_bundle,
)
from claims_engine.adjudication.adjudicate import AccumulatorKey, AdjudicationContext, adjudicate
from claims_engine.adjudication.decision import ClaimDecision, Outcome
from claims_engine.adjudication.payment_cycle import load_payer
from claims_engine.domain.model import Claim, Diagnosis
from claims_engine.services.explanation import Explanation
from claims_engine.x12.envelope import ClaimRead
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import SegmentReader
from tests.conftest import FIXTURES, X12_FIXTURES
from tests.unit.adjudication.support import (
    BUCKEYE,
    LIAM_HILL,
    REFERENCE,
    claim_from_837,
    run,
    subscriber,
)

D = Decimal
RECEIVED = date(2026, 11, 2)
DECIDED = datetime(2026, 11, 2, 9, 30)
PAID_ON = date(2026, 11, 3)
PAYER = load_payer(FIXTURES / "reference" / "payer.yaml")

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
INSTITUTIONAL = "005010X223A2"
DENTAL = "005010X224A2"


def _key(bucket: str, holder: str) -> AccumulatorKey:
    return AccumulatorKey(holder, "PPO-GOLD", date(2026, 1, 1), bucket, "in")


def _explanation(
    claim: Claim,
    decision: ClaimDecision | None,
    *,
    state: str = "remitted",
    row_id: int = 7,
    reversed_by: str | None = None,
    error: str | None = None,
    pccn: str | None = "PCN0001",
) -> Explanation:
    decided = decision is not None or state in ("adjudicated", "remitted")
    remitted = state == "remitted"
    return Explanation(
        claim_row_id=row_id,
        state=state,
        received_on=RECEIVED,
        claim=claim,
        decision=decision,
        decided_at=DECIDED if decided else None,
        reversed_by=reversed_by,
        rule_pack_version="2026.11" if decided else None,
        remittance_trace="0000000042" if remitted else None,
        paid_on=PAID_ON if remitted else None,
        error=error,
        payer_claim_number=pccn,
        member_id=claim.patient.member_id or claim.subscriber.member_id,
    )


def _validated(resource: dict[str, Any]) -> ExplanationOfBenefit:
    """The resource read back by the FHIR models, after a JSON round trip."""
    return ExplanationOfBenefit.model_validate(json.loads(dumps(resource)))


def _codes(adjudications: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Amount by category code (the ``adjudicationamounttype`` entries)."""
    return {
        a["category"]["coding"][0]["code"]: a["amount"]["value"]
        for a in adjudications
        if "amount" in a and a["category"]["coding"][0]["code"] != "adjustmentreason"
    }


def _category(entry: dict[str, Any]) -> str:
    code: str = entry["category"]["coding"][0]["code"]
    return code


def _profile(resource: dict[str, Any]) -> str:
    profile: str = resource["meta"]["profile"][0]
    return profile.split("|", maxsplit=1)[0]


# -- one professional claim, worked by hand --------------------------------------------------

GOLD_MIX = """\
CLM*GOLD-MIX*260***11:B:1*Y*A*Y*Y~
HI*ABK:J069*ABF:R051~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:71046*120*UN*1***2~
DTP*472*D8*20261015~
"""


def _gold_mix() -> tuple[Claim, ClaimDecision]:
    # 450.00 of the 500.00 deductible met (member and family)
    met = {
        _key(bucket, holder): D("450")
        for bucket in ("deductible", "oop")
        for holder in ("member:PG00000100", "family:F00001")
    }
    claim = claim_from_837(LIAM_HILL + GOLD_MIX)
    return claim, run(claim, accumulators=met).decision


def test_professional_claim_with_every_amount_worked_by_hand() -> None:
    # Line 1: 99213 charged 140.00, allowed 88.20 (CO-45 51.80: a discount), office visit
    # copay PR-3 25.00 (copay only, no deductible): paid 88.20 - 25.00 = 63.20.
    # Line 2: 71046 charged 120.00, allowed 90.00 (CO-45 30.00); 50.00 of the deductible
    # left: PR-1 50.00, then 20% of 40.00: PR-2 8.00; paid 90.00 - 58.00 = 32.00.
    # Claim: charge 260.00, allowed 178.20, deductible 50.00, copay 25.00, coinsurance 8.00,
    # discount 81.80, paid 95.20, patient's share 83.00 (= 260.00 - 81.80 - 95.20).
    claim, decision = _gold_mix()
    eob = explanation_of_benefit(_explanation(claim, decision), insurer=PAYER)
    model = _validated(eob)

    assert _profile(eob) == PROFESSIONAL
    assert (model.status, model.outcome, model.use) == ("active", "complete", "claim")
    assert eob["type"]["coding"][0]["code"] == "professional"
    assert eob["id"] == "7"
    assert eob["identifier"][0]["value"] == "PCN0001"
    assert eob["identifier"][0]["type"]["coding"][0]["code"] == "uc"
    assert eob["patient"] == {"reference": "Patient/PG00000100"}
    assert eob["provider"]["identifier"] == {
        "system": "http://hl7.org/fhir/sid/us-npi",
        "value": "2781759230",
    }
    assert eob["payee"]["type"]["coding"][0]["code"] == "provider"
    assert eob["insurer"]["display"] == "ACME HEALTH PLAN"
    assert eob["insurance"][0]["focal"] is True
    assert eob["billablePeriod"] == {"start": "2026-10-15", "end": "2026-10-15"}
    assert eob["created"] == "2026-11-02T09:30:00+00:00"
    assert [d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in eob["diagnosis"]] == [
        "J06.9",
        "R05.1",
    ]
    assert [d["type"][0]["coding"][0]["code"] for d in eob["diagnosis"]] == [
        "principal",
        "secondary",
    ]

    first, second = eob["item"]
    assert first["productOrService"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "99213",
    }
    assert first["locationCodeableConcept"]["coding"][0]["code"] == "11"
    assert first["servicedDate"] == "2026-10-15"
    assert first["diagnosisSequence"] == [1] and second["diagnosisSequence"] == [2]
    assert first["net"] == {"value": D("140.00"), "currency": "USD"}
    assert _codes(first["adjudication"]) == {
        "submitted": D("140.00"),
        "eligible": D("88.20"),
        "deductible": D("0.00"),
        "copay": D("25.00"),
        "coinsurance": D("0.00"),
        "discount": D("51.80"),
        "memberliability": D("25.00"),
        "paidtoprovider": D("63.20"),
    }
    assert _codes(second["adjudication"]) == {
        "submitted": D("120.00"),
        "eligible": D("90.00"),
        "deductible": D("50.00"),
        "copay": D("0.00"),
        "coinsurance": D("8.00"),
        "discount": D("30.00"),
        "memberliability": D("58.00"),
        "paidtoprovider": D("32.00"),
    }
    reasons = [a for a in first["adjudication"] if _category(a) == "adjustmentreason"]
    assert [r["reason"]["coding"][0]["code"] for r in reasons] == ["45"]
    status = next(a for a in first["adjudication"] if _category(a) == "benefitpaymentstatus")
    assert status["reason"]["coding"][0]["code"] == "innetwork"  # CO-45: in network

    assert _codes(eob["total"]) == {
        "submitted": D("260.00"),
        "eligible": D("178.20"),
        "deductible": D("50.00"),
        "copay": D("25.00"),
        "coinsurance": D("8.00"),
        "discount": D("81.80"),
        "memberliability": D("83.00"),
        "paidtoprovider": D("95.20"),
    }
    assert eob["payment"]["amount"] == {"value": D("95.20"), "currency": "USD"}
    assert eob["payment"]["date"] == "2026-11-03"
    assert eob["payment"]["identifier"] == {"value": "0000000042"}
    assert eob["payment"]["type"]["coding"][0]["code"] == "paid"
    assert "$95.20" in eob["disposition"] and "$83.00" in eob["disposition"]


def test_money_is_written_exactly() -> None:
    assert dumps({"value": D("12.30"), "n": D("-0.05"), "u": D("1")}) == (
        b'{"value":12.30,"n":-0.05,"u":1}'
    )
    with pytest.raises(TypeError):
        dumps({"value": 1.5j})


# -- institutional and dental ----------------------------------------------------------------

INPATIENT_STAY = """\
CLM*GOLD-INPT*9800***11:A:1**A*Y*Y~
DTP*096*TM*1000~
DTP*434*RD8*20261001-20261004~
DTP*435*DT*202610010800~
CL1*1*1*01~
HI*ABK:J189~
NM1*71*1*HALL*OWEN****XX*2283621045~
LX*1~
SV2*0120**9000*DA*3~
DTP*472*RD8*20261001-20261004~
LX*2~
SV2*0250**800*UN*1~
DTP*472*D8*20261002~
"""


def test_institutional_inpatient_stay() -> None:
    # Type of bill 111, 3 days. 0120 x 3 charged 9,000.00, per diem 1,650.00 x 3 = 4,950.00;
    # deductible 500.00, 20% of 4,450.00 = 890.00, paid 3,560.00. 0250 charged 800.00 at 55%
    # = 440.00, 20% = 88.00, paid 352.00. Paid 3,912.00; the patient's share 1,478.00.
    claim = claim_from_837(
        LIAM_HILL + INPATIENT_STAY, billing=RIVERBEND, implementation=INSTITUTIONAL
    )
    decision = run(claim).decision
    eob = explanation_of_benefit(_explanation(claim, decision, state="adjudicated"))
    model = _validated(eob)

    assert _profile(eob) == INPATIENT
    assert model.outcome == "complete" and model.status == "active"
    assert eob["type"]["coding"][0]["code"] == "institutional"
    assert eob["subType"]["coding"][0]["code"] == "inpatient"
    info = {_category(s): s for s in eob["supportingInfo"]}
    assert info["typeofbill"]["code"]["coding"][0]["code"] == "0111"
    assert info["admissionperiod"]["timingPeriod"]["start"] == "2026-10-01"
    assert info["admtype"]["code"]["coding"][0]["code"] == "1"
    assert info["discharge-status"]["code"]["coding"][0]["code"] == "01"
    assert info["clmrecvddate"]["timingDate"] == "2026-11-02"
    assert [m["role"]["coding"][0]["code"] for m in eob["careTeam"]] == ["attending"]
    first = eob["item"][0]
    assert first["revenue"]["coding"][0]["code"] == "0120"
    assert first["productOrService"]["coding"][0]["code"] == "not-applicable"
    assert first["servicedPeriod"] == {"start": "2026-10-01", "end": "2026-10-04"}
    assert "locationCodeableConcept" not in first
    assert _codes(first["adjudication"])["paidtoprovider"] == D("3560.00")
    totals = _codes(eob["total"])
    assert (totals["paidtoprovider"], totals["memberliability"]) == (D("3912.00"), D("1478.00"))
    assert (totals["deductible"], totals["coinsurance"]) == (D("500.00"), D("978.00"))
    # adjudicated, not yet in an 835: the amount but no payment date or trace
    assert eob["payment"]["amount"]["value"] == D("3912.00")
    assert "date" not in eob["payment"] and "identifier" not in eob["payment"]
    assert eob["adjudication"][0]["category"]["coding"][0]["code"] == "benefitpaymentstatus"


def test_institutional_outpatient_visit() -> None:
    # Type of bill 131. 0450 with 99283 charged 1,400.00 at 65% = 910.00: emergency copay
    # 250.00, deductible 500.00, 20% of 160.00 = 32.00, paid 128.00. 0300 with 80053 charged
    # 195.00 at 45% = 87.75: 20% = 17.55, paid 70.20. Paid 198.20; the patient's 799.55.
    claim = claim_from_837(
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
        billing=RIVERBEND,
        implementation=INSTITUTIONAL,
    )
    eob = explanation_of_benefit(_explanation(claim, run(claim).decision))
    _validated(eob)
    assert _profile(eob) == OUTPATIENT
    assert eob["subType"]["coding"][0]["code"] == "outpatient"
    info = {_category(s) for s in eob["supportingInfo"]}
    assert "admissionperiod" not in info and "typeofbill" in info
    assert [i["revenue"]["coding"][0]["code"] for i in eob["item"]] == ["0450", "0300"]
    assert eob["item"][0]["productOrService"]["coding"][0]["code"] == "99283"
    totals = _codes(eob["total"])
    assert (totals["paidtoprovider"], totals["memberliability"]) == (D("198.20"), D("799.55"))
    assert (totals["copay"], totals["deductible"], totals["coinsurance"]) == (
        D("250.00"),
        D("500.00"),
        D("49.55"),
    )


def test_dental_claim_with_teeth() -> None:
    # D1110 charged 120.00, allowed 94.80, preventive, paid in full. D2140 on tooth 30,
    # surfaces M and O, charged 160.00, allowed 115.20: deductible 50.00, 20% of 65.20 =
    # 13.04, paid 52.16. Paid 146.96; the patient's share 63.04.
    claim = claim_from_837(
        subscriber("DB00009600", "MARTINEZ", "LUCAS", "19940409", "M", "DENTAL-BASIC")
        + """\
CLM*DENT-1*280***11:B:1*Y*A*Y*Y~
DTP*472*D8*20261015~
LX*1~
SV3*AD:D1110*120~
LX*2~
SV3*AD:D2140*160~
TOO*JP*30*M:O~
""",
        billing=BRIGHT_SMILES,
        implementation=DENTAL,
    )
    eob = explanation_of_benefit(_explanation(claim, run(claim).decision))
    _validated(eob)
    assert _profile(eob) == ORAL
    assert eob["type"]["coding"][0]["code"] == "oral"
    cleaning, filling = eob["item"]
    assert cleaning["productOrService"]["coding"][0] == {
        "system": "http://www.ada.org/cdt",
        "code": "D1110",
    }
    assert cleaning["servicedDate"] == "2026-10-15"
    assert cleaning["locationCodeableConcept"]["coding"][0]["code"] == "11"
    assert filling["bodySite"]["coding"][0]["code"] == "30"
    assert [s["coding"][0]["code"] for s in filling["subSite"]] == ["M", "O"]
    assert [_codes(i["adjudication"])["paidtoprovider"] for i in eob["item"]] == [
        D("94.80"),
        D("52.16"),
    ]
    totals = _codes(eob["total"])
    assert (totals["paidtoprovider"], totals["memberliability"]) == (D("146.96"), D("63.04"))


def test_further_teeth_are_additional_body_sites() -> None:
    [claim] = _fixture_claims(X12_FIXTURES / "837d" / "multiple-tooth-numbers.edi")
    eob = explanation_of_benefit(_explanation(claim, None, state="accepted", pccn="PCN0002"))
    _validated(eob)
    item = eob["item"][0]
    assert item["bodySite"]["coding"][0]["code"] == "31"
    sites = {s["sequence"]: s for s in eob["supportingInfo"]}
    extra = [sites[n]["code"]["coding"][0]["code"] for n in item["informationSequence"]]
    assert extra == ["30", "21", "19", "18"]
    assert {_category(sites[n]) for n in item["informationSequence"]} == {"additionalbodysite"}


# -- where the claim stands ------------------------------------------------------------------


def test_denied_claim() -> None:
    # PG99999900 is no member of ours: CO-31 for the whole 140.00, nothing paid, nothing owed
    claim = claim_from_837(
        LIAM_HILL.replace("PG00000100", "PG99999900")
        + """\
CLM*GOLD-WHO*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    decision = run(claim).decision
    assert decision.outcome is Outcome.DENIED
    eob = explanation_of_benefit(_explanation(claim, decision))
    model = _validated(eob)
    assert (model.status, model.outcome) == ("active", "complete")
    assert eob["disposition"].startswith("Denied: Patient cannot be identified as our insured")
    assert eob["payment"]["type"]["coding"][0]["code"] == "denied"
    assert eob["payment"]["amount"]["value"] == D("0.00")
    totals = _codes(eob["total"])
    assert (totals["noncovered"], totals["paidtoprovider"], totals["memberliability"]) == (
        D("140.00"),
        D("0.00"),
        D("0.00"),
    )
    [reason] = [a for a in eob["item"][0]["adjudication"] if _category(a) == "adjustmentreason"]
    assert reason["reason"]["coding"][0] == {
        "system": "https://x12.org/codes/claim-adjustment-reason-codes",
        "code": "31",
        "display": "Patient cannot be identified as our insured",
    }
    assert reason["amount"]["value"] == D("140.00")
    assert eob["patient"] == {"reference": "Patient/PG99999900"}


def test_remark_codes_become_process_notes() -> None:
    claim, decision = _gold_mix()
    first, second = decision.lines
    noted = replace(
        decision,
        lines=(replace(first, remarks=("N130", "N130")), replace(second, remarks=("M15",))),
        remarks=("MA01", "N130"),
    )
    eob = explanation_of_benefit(_explanation(claim, noted))
    _validated(eob)
    assert [(n["number"], n["text"][:5]) for n in eob["processNote"]] == [
        (1, "N130:"),
        (2, "M15: "),
        (3, "MA01:"),
    ]
    assert eob["processNote"][0]["text"].startswith("N130: Consult plan benefit documents")
    assert [i["noteNumber"] for i in eob["item"]] == [[1], [2]]


def test_pended_claims_show_what_was_billed_only() -> None:
    # Gold PPO pends a claim charging more than 25,000.00 for an examiner
    claim = claim_from_837(
        LIAM_HILL
        + """\
CLM*GOLD-BIG*30000***11:B:1*Y*A*Y*Y~
HI*ABK:M1711~
LX*1~
SV1*HC:20610*30000*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    decision = run(claim).decision
    assert decision.outcome is Outcome.PENDED
    pended = _explanation(claim, decision, state="pended", error=decision.pend_reason)
    eob = explanation_of_benefit(pended)
    model = _validated(eob)
    assert (model.status, model.outcome) == ("active", "partial")
    assert eob["disposition"].startswith("Pended for review: charge 30000")
    assert _codes(eob["total"]) == {"submitted": D("30000.00")}
    assert _codes(eob["item"][0]["adjudication"]) == {"submitted": D("30000")}
    assert "payment" not in eob
    # adjudication failed and left no decision: still waiting
    failed = _explanation(claim, None, state="pended", error="adjudication failed: boom")
    assert _validated(explanation_of_benefit(failed)).outcome == "queued"


def test_received_claim_is_queued() -> None:
    claim, _ = _gold_mix()
    eob = explanation_of_benefit(_explanation(claim, None, state="accepted"))
    model = _validated(eob)
    assert (model.status, model.outcome) == ("active", "queued")
    assert eob["created"] == "2026-11-02"
    assert _codes(eob["total"]) == {"submitted": D("260")}
    status = next(a for a in eob["item"][0]["adjudication"] if _category(a) != "submitted")
    assert status["reason"]["coding"][0]["code"] == "other"


def test_rejected_claim() -> None:
    claim, _ = _gold_mix()
    why = "2010BA NM109: subscriber id missing"
    rejected = _explanation(claim, None, state="rejected", row_id=31, error=why, pccn=None)
    eob = explanation_of_benefit(rejected)
    model = _validated(eob)
    assert (model.status, model.outcome) == ("active", "error")
    assert eob["identifier"][0]["value"] == "31"  # no payer claim number was given
    assert eob["disposition"] == f"Rejected when received: {why}."
    assert "payment" not in eob


def test_reversed_replacement_and_void() -> None:
    claim, decision = _gold_mix()
    original = explanation_of_benefit(_explanation(claim, decision, reversed_by="PCN0009"))
    model = _validated(original)
    assert (model.status, model.outcome) == ("cancelled", "complete")
    assert original["related"][0]["relationship"]["coding"][0]["code"] == "replacedby"
    assert original["related"][0]["reference"]["value"] == "PCN0009"
    assert _codes(original["total"])["paidtoprovider"] == D("95.20")  # what it had paid

    replacement = replace(claim, frequency_code="7", original_claim_number="PCN0001")
    later = explanation_of_benefit(_explanation(replacement, decision, row_id=9, pccn="PCN0009"))
    assert _validated(later).status == "active"
    assert later["related"][0]["relationship"]["coding"][0]["code"] == "prior"
    assert later["related"][0]["reference"]["value"] == "PCN0001"

    void = replace(claim, frequency_code="8", original_claim_number="PCN0001")
    voided = explanation_of_benefit(_explanation(void, None, row_id=10, pccn="PCN0010"))
    model = _validated(voided)
    assert (model.status, model.outcome) == ("cancelled", "complete")
    assert voided["disposition"].startswith("Void of claim PCN0001")
    assert "payment" not in voided


# -- every example of the implementation guides ----------------------------------------------


def _fixture_claims(path: Path) -> list[Claim]:
    events = read_events(SegmentReader(io.BytesIO(path.read_bytes())))
    return [e.claim for e in events if isinstance(e, ClaimRead)]


FIXTURE_FILES = [
    *sorted(X12_FIXTURES.glob("837*/*.edi")),
    X12_FIXTURES / "valid" / "837p-two-claims.edi",
]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_claim_maps_to_a_valid_resource(path: Path) -> None:
    claims = _fixture_claims(path)
    assert claims
    ctx = AdjudicationContext(reference=REFERENCE, received_on=RECEIVED)
    for n, claim in enumerate(claims, start=1):
        waiting = _explanation(claim, None, state="accepted", row_id=n)
        decided = adjudicate(claim, ctx, f"PCN{n:04d}").decision
        for e in (waiting, _explanation(claim, decided, row_id=n)):
            eob = explanation_of_benefit(e)
            _validated(eob)
            assert _profile(eob) in (PROFESSIONAL, INPATIENT, OUTPATIENT, ORAL)
            assert len(eob["item"]) == len(claim.lines)
            assert _codes(eob["total"])["submitted"] == claim.total_charge


def test_icd9_diagnoses_of_the_institutional_example() -> None:
    [claim] = _fixture_claims(X12_FIXTURES / "837i" / "837-institutional-claim.edi")
    eob = explanation_of_benefit(_explanation(claim, None, state="accepted"))
    _validated(eob)
    assert _profile(eob) == OUTPATIENT  # type of bill 141
    codings = [d["diagnosisCodeableConcept"]["coding"][0] for d in eob["diagnosis"]]
    assert [(c["system"], c["code"]) for c in codings] == [
        ("http://hl7.org/fhir/sid/icd-9-cm", "366.9"),
        ("http://hl7.org/fhir/sid/icd-9-cm", "401.9"),
        ("http://hl7.org/fhir/sid/icd-9-cm", "794.31"),
    ]
    assert [d["type"][0]["coding"][0]["code"] for d in eob["diagnosis"]] == [
        "principal",
        "other",
        "other",
    ]


@pytest.mark.parametrize(
    ("qualifier", "code", "written"),
    [
        ("ABK", "J069", "J06.9"),
        ("ABF", "I10", "I10"),
        ("ABF", "S060X1A", "S06.0X1A"),
        ("BK", "4019", "401.9"),
        ("BN", "E8889", "E888.9"),
        ("BF", "V700", "V70.0"),
        ("ABK", "J06.9", "J06.9"),
    ],
)
def test_diagnosis_codes_get_their_decimal_point(qualifier: str, code: str, written: str) -> None:
    assert diagnosis_code(Diagnosis(qualifier, code)) == written


@pytest.mark.parametrize(
    ("bill", "inpatient"),
    [
        *[(bill, True) for bill in ("11", "12", "18", "21", "41", "65")],
        *[(bill, False) for bill in ("13", "14", "23", "32", "73", "83", "85")],
    ],
)
def test_inpatient_types_of_bill(bill: str, inpatient: bool) -> None:
    claim = claim_from_837(
        LIAM_HILL + INPATIENT_STAY, billing=RIVERBEND, implementation=INSTITUTIONAL
    )
    assert is_inpatient(replace(claim, facility_code=bill)) is inpatient


def test_a_member_id_that_is_no_resource_id_is_a_logical_reference() -> None:
    claim, decision = _gold_mix()
    odd = replace(_explanation(claim, decision), member_id="PG 0001/2")
    eob = explanation_of_benefit(odd)
    _validated(eob)
    assert eob["patient"]["identifier"]["value"] == "PG 0001/2"
    assert "reference" not in eob["patient"]


# -- bundles and errors ----------------------------------------------------------------------


def test_searchset_bundle_validates() -> None:
    claim, decision = _gold_mix()
    resources = [explanation_of_benefit(_explanation(claim, decision, row_id=n)) for n in (3, 4)]
    base = "https://claims.example.org/fhir/ExplanationOfBenefit"
    bundle = searchset_bundle(
        resources,
        total=5,
        self_url=f"{base}?patient=Patient/PG00000100&_count=2",
        next_url=f"{base}?patient=Patient/PG00000100&_count=2&_page=2",
    )
    model = Bundle.model_validate(json.loads(dumps(bundle)))
    assert (model.type, model.total) == ("searchset", 5)
    assert [link.relation for link in model.link or []] == ["self", "next"]
    assert [e["fullUrl"] for e in bundle["entry"]] == [f"{base}/3", f"{base}/4"]
    assert all(e["search"] == {"mode": "match"} for e in bundle["entry"])

    empty = searchset_bundle([], total=0, self_url=f"{base}?patient=x", next_url=None)
    assert Bundle.model_validate(json.loads(dumps(empty))).total == 0
    assert "entry" not in empty


def test_operation_outcome_validates() -> None:
    body = operation_outcome("error", "not-found", "no ExplanationOfBenefit 12")
    model = OperationOutcome.model_validate(json.loads(dumps(body)))
    issue = model.issue[0]
    assert (issue.severity, issue.code, issue.diagnostics) == (
        "error",
        "not-found",
        "no ExplanationOfBenefit 12",
    )
    with pytest.raises(ValueError, match="severity"):
        operation_outcome("bad", "not-found", "x")
    with pytest.raises(ValueError, match="issue type"):
        operation_outcome("error", "missing", "x")


def test_the_payer_of_the_837_stands_in_without_reference_data() -> None:
    claim, decision = _gold_mix()
    eob = explanation_of_benefit(_explanation(claim, decision))
    assert eob["insurer"]["display"] == claim.payer.name
    assert eob["insurer"]["identifier"]["value"] == claim.payer.id
    assert BUCKEYE.split("*")[3] == eob["provider"]["display"]
