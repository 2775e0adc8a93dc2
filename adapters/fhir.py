"""FHIR R4 ExplanationOfBenefit for patients, after the CARIN Blue Button profiles (C4BB STU 2.1).

Pure mapping, no database: :func:`explanation_of_benefit` turns an
:class:`~claims_engine.services.explanation.Explanation` (loaded by
:mod:`claims_engine.services.explanation`) into a JSON-ready resource;
:func:`searchset_bundle` and :func:`operation_outcome` build the search answer and the error
body around it.

Money stays exact: amounts and quantities in the returned dicts are :class:`~decimal.Decimal`
values (two places for money), never floats. A JSON encoder must write them as JSON numbers;
:func:`dumps` does (orjson with a raw fragment per Decimal, so ``12.30`` is written ``12.30``).

How a claim maps:

* profile by claim type: professional → ``C4BB-ExplanationOfBenefit-Professional-NonClinician``;
  dental → ``-Oral``; institutional → ``-Inpatient-Institutional`` when the type of bill is an
  inpatient one (:func:`is_inpatient`: facility type 1, 2, 4, 5 or 6 with bill classification
  1, 2, 5, 6, 7 or 8, e.g. 11x, 12x, 18x, 21x, 41x, 65x), else ``-Outpatient-Institutional``.
* ``status``: ``cancelled`` when a later replacement or void reversed the claim, and for a void
  itself once it took effect; ``active`` otherwise.
* ``outcome``: ``queued`` while received or accepted (and when pended with no decision, after
  adjudication failed); ``partial`` when pended with a decision (adjudication ran and stopped
  for an examiner); ``complete`` once adjudicated or remitted; ``error`` when rejected at intake.
* amounts (``item.adjudication`` and ``total``, from the decision's adjustments):
  submitted = charge; eligible = allowed; deductible = PR-1; coinsurance = PR-2; copay = PR-3;
  memberliability = every PR adjustment (CLP05); paidtoprovider = paid (SVC03 / CLP04);
  discount = contractual reductions (CO/PI 45, 59, 131); priorpayerpaid = OA-23; noncovered =
  the rest of what separates the charge from the allowed amount (denials, caps, an
  out-of-network excess the patient owes as PR-45). The last three appear only when not zero.
  Before a final decision only ``submitted`` is shown: a pended decision's amounts may change.
* each adjustment other than the cost share becomes an ``adjustmentreason`` adjudication with
  its CARC (STU 2 renamed STU 1's ``denialreason``); remark codes (RARC) become process notes.
* in-network or not (``benefitpaymentstatus``) is read from the decision: CO-45 means in
  network, PR-45 out of network; otherwise ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from claims_engine.adjudication.decision import ClaimDecision, LineDecision, Outcome
from claims_engine.adjudication.payment_cycle import Payer
from claims_engine.domain.model import (
    Adjustment,
    Claim,
    ClaimType,
    Diagnosis,
    Procedure,
    Provider,
    ServiceLine,
)
from claims_engine.domain.money import ZERO, round_money
from claims_engine.domain.reasons import (
    describe_adjustment,
    describe_carc,
    describe_rarc,
    format_amount,
)
from claims_engine.services.explanation import Explanation
from claims_engine.store.tables import ClaimState

JSON = dict[str, Any]

# The payer's identity from the reference data (payer.yaml), for ``insurer``.
PayerInfo = Payer

C4BB_VERSION = "2.1.0"
C4BB = "http://hl7.org/fhir/us/carin-bb"
_PROFILE = f"{C4BB}/StructureDefinition/C4BB-ExplanationOfBenefit-"
PROFESSIONAL = f"{_PROFILE}Professional-NonClinician"
INPATIENT = f"{_PROFILE}Inpatient-Institutional"
OUTPATIENT = f"{_PROFILE}Outpatient-Institutional"
ORAL = f"{_PROFILE}Oral"

# Code systems of the CARIN IG.
C4BB_ADJUDICATION = f"{C4BB}/CodeSystem/C4BBAdjudication"
C4BB_DISCRIMINATOR = f"{C4BB}/CodeSystem/C4BBAdjudicationDiscriminator"
C4BB_STATUS = f"{C4BB}/CodeSystem/C4BBPayerAdjudicationStatus"
C4BB_IDENTIFIER = f"{C4BB}/CodeSystem/C4BBIdentifierType"
C4BB_SUPPORTING_INFO = f"{C4BB}/CodeSystem/C4BBSupportingInfoType"
C4BB_CARE_TEAM_ROLE = f"{C4BB}/CodeSystem/C4BBClaimCareTeamRole"
C4BB_DIAGNOSIS_TYPE = f"{C4BB}/CodeSystem/C4BBClaimDiagnosisType"
C4BB_SUBTYPE = f"{C4BB}/CodeSystem/C4BBInstitutionalClaimSubType"
C4BB_RELATED = f"{C4BB}/CodeSystem/C4BBRelatedClaimRelationshipCodes"
C4BB_SURFACE = f"{C4BB}/CodeSystem/C4BBSurfaceCodes"
# HL7 terminology.
_THO = "http://terminology.hl7.org/CodeSystem"
ADJUDICATION = f"{_THO}/adjudication"
CLAIM_TYPE = f"{_THO}/claim-type"
PAYEE_TYPE = f"{_THO}/payeetype"
DIAGNOSIS_TYPE = f"{_THO}/ex-diagnosistype"
CARE_TEAM_ROLE = f"{_THO}/claimcareteamrole"
RELATED_CLAIM = f"{_THO}/ex-relatedclaimrelationship"
DATA_ABSENT = f"{_THO}/data-absent-reason"
IDENTIFIER_TYPE = f"{_THO}/v2-0203"
TOOTH = f"{_THO}/ADAUniversalToothDesignationSystem"
ORAL_AREA = f"{_THO}/ADAAreaOralCavitySystem"
# External code systems, as the CARIN IG names them.
NPI = "http://hl7.org/fhir/sid/us-npi"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CDT = "http://www.ada.org/cdt"
NDC = "http://hl7.org/fhir/sid/ndc"
TAXONOMY = "http://nucc.org/provider-taxonomy"
PLACE_OF_SERVICE = (
    "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
)
REVENUE_CODE = "https://www.nubc.org/CodeSystem/RevenueCodes"
TYPE_OF_BILL = "https://www.nubc.org/CodeSystem/TypeOfBill"
ADMISSION_TYPE = "https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit"
POINT_OF_ORIGIN = "https://www.nubc.org/CodeSystem/PointOfOrigin"
POINT_OF_ORIGIN_NEWBORN = "https://www.nubc.org/CodeSystem/PointOfOriginNewborn"
DISCHARGE_STATUS = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
PRESENT_ON_ADMISSION = (
    "https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/HospitalAcqCond/Coding"
)
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"

CURRENCY = "USD"

# Amount categories: (system, code, display).
Category = tuple[str, str, str]
SUBMITTED: Category = (ADJUDICATION, "submitted", "Submitted Amount")
ELIGIBLE: Category = (ADJUDICATION, "eligible", "Eligible Amount")
DEDUCTIBLE: Category = (ADJUDICATION, "deductible", "Deductible")
COPAY: Category = (ADJUDICATION, "copay", "CoPay")
COINSURANCE: Category = (C4BB_ADJUDICATION, "coinsurance", "Co-insurance")
NONCOVERED: Category = (C4BB_ADJUDICATION, "noncovered", "Noncovered")
DISCOUNT: Category = (C4BB_ADJUDICATION, "discount", "Discount")
PRIOR_PAYER_PAID: Category = (C4BB_ADJUDICATION, "priorpayerpaid", "Prior payer paid")
MEMBER_LIABILITY: Category = (C4BB_ADJUDICATION, "memberliability", "Member liability")
PAID_TO_PROVIDER: Category = (C4BB_ADJUDICATION, "paidtoprovider", "Paid to provider")

# Reasons for a reduction agreed with the provider (the patient owes none of it).
DISCOUNT_REASONS = frozenset({"45", "59", "131"})
COST_SHARE = {"1": DEDUCTIBLE, "2": COINSURANCE, "3": COPAY}

# Type of bill: facility types (first digit) and bill classifications (second) of inpatient
# care: hospital, skilled nursing, religious nonmedical (hospital and extended care),
# intermediate care; inpatient Part A or B, intermediate care levels, subacute, swing bed.
INPATIENT_FACILITY_TYPES = frozenset("12456")
INPATIENT_CLASSIFICATIONS = frozenset("125678")

# 837 provider roles on the care team, by claim kind (C4BB care team role value sets).
_ROLE_PERFORMING = (C4BB_CARE_TEAM_ROLE, "performing", "Performing provider")
_ROLE_REFERRING = (C4BB_CARE_TEAM_ROLE, "referring", "Referring")
_ROLE_PRIMARY = (CARE_TEAM_ROLE, "primary", "Primary provider")
_ROLE_SUPERVISOR = (CARE_TEAM_ROLE, "supervisor", "Supervising Provider")
PROFESSIONAL_ROLES: dict[str, tuple[str, str, str]] = {
    "82": _ROLE_PERFORMING,
    "DN": _ROLE_REFERRING,
    "P3": _ROLE_PRIMARY,
    "DQ": _ROLE_SUPERVISOR,
    "QB": (C4BB_CARE_TEAM_ROLE, "purchasedservice", "Purchased Service"),
}
INSTITUTIONAL_ROLES: dict[str, tuple[str, str, str]] = {
    "71": (C4BB_CARE_TEAM_ROLE, "attending", "Attending"),
    "72": (C4BB_CARE_TEAM_ROLE, "operating", "Operating"),
    "ZZ": (C4BB_CARE_TEAM_ROLE, "otheroperating", "Other Operating"),
    "82": _ROLE_PERFORMING,
    "DN": _ROLE_REFERRING,
}

SURFACES = frozenset("MOIDBFL")
ISSUE_SEVERITIES = frozenset({"fatal", "error", "warning", "information"})
ISSUE_TYPES = frozenset(
    {
        "invalid",
        "structure",
        "required",
        "value",
        "invariant",
        "security",
        "login",
        "unknown",
        "expired",
        "forbidden",
        "suppressed",
        "processing",
        "not-supported",
        "duplicate",
        "multiple-matches",
        "not-found",
        "deleted",
        "too-long",
        "code-invalid",
        "extension",
        "too-costly",
        "business-rule",
        "conflict",
        "transient",
        "lock-error",
        "no-store",
        "exception",
        "timeout",
        "incomplete",
        "throttled",
        "informational",
    }
)
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}\Z")


# -- the resource ----------------------------------------------------------------------------


def explanation_of_benefit(e: Explanation, *, insurer: PayerInfo | None = None) -> JSON:
    """The ExplanationOfBenefit of a claim (see the module docstring for the mapping).

    ``insurer`` is the payer's identity from the reference data; without it the payer named
    in the 837 stands in. Amounts are Decimals: serialize with :func:`dumps`.
    """
    claim = e.claim
    decision = final_decision(e)
    profile = profile_of(claim)
    institutional = claim.claim_type is ClaimType.INSTITUTIONAL
    inpatient = profile == INPATIENT
    notes = _Notes()
    supporting = _Supporting()
    care_team = _CareTeam(claim)
    network = network_status(decision) if decision is not None else "other"

    resource: JSON = {
        "resourceType": "ExplanationOfBenefit",
        "id": str(e.claim_row_id),
        "meta": {"profile": [f"{profile}|{C4BB_VERSION}"], "lastUpdated": _last_updated(e)},
        "identifier": [
            {
                "type": concept(C4BB_IDENTIFIER, "uc", "Unique Claim ID"),
                "value": e.payer_claim_number or str(e.claim_row_id),
            }
        ],
        "status": "cancelled" if e.reversed_by or e.is_void else "active",
        "type": concept(CLAIM_TYPE, *_CLAIM_TYPES[claim.claim_type]),
    }
    if institutional:
        sub = ("inpatient", "Inpatient") if inpatient else ("outpatient", "Outpatient")
        resource["subType"] = concept(C4BB_SUBTYPE, *sub)
    resource["use"] = "claim"
    resource["patient"] = _patient(e.member_id)
    resource["billablePeriod"] = _billable_period(e)
    resource["created"] = instant(e.decided_at) if e.decided_at else e.received_on.isoformat()
    resource["insurer"] = _insurer(claim, insurer)
    resource["provider"] = _provider_reference(claim.billing_provider)
    related = _related(e)
    if related:
        resource["related"] = related
    resource["payee"] = {
        "type": concept(PAYEE_TYPE, "provider", "Provider"),
        "party": _provider_reference(claim.billing_provider),
    }
    resource["outcome"] = outcome_of(e)
    resource["disposition"] = disposition_of(e)

    _claim_supporting_info(supporting, e, profile)
    diagnoses = _diagnoses(claim, profile)
    items = _items(e, decision, profile, network, notes, supporting, care_team)
    if care_team.members:
        resource["careTeam"] = care_team.members
    if supporting.entries:
        resource["supportingInfo"] = supporting.entries
    if diagnoses:
        resource["diagnosis"] = diagnoses
    resource["insurance"] = _insurance(claim, insurer)
    resource["item"] = items
    if institutional or claim.claim_type is ClaimType.DENTAL:
        # Institutional and oral profiles carry the network status at the claim level too.
        resource["adjudication"] = [_status_adjudication(network)]
    resource["total"] = _totals(claim, decision)
    payment = _payment(e, decision)
    if payment is not None:
        resource["payment"] = payment
    if decision is not None:
        for remark in decision.remarks:
            notes.number(remark)
    if notes.entries:
        resource["processNote"] = notes.entries
    return resource


_CLAIM_TYPES: dict[ClaimType, tuple[str, str]] = {
    ClaimType.PROFESSIONAL: ("professional", "Professional"),
    ClaimType.INSTITUTIONAL: ("institutional", "Institutional"),
    ClaimType.DENTAL: ("oral", "Oral"),
}


def final_decision(e: Explanation) -> ClaimDecision | None:
    """The decision whose amounts the resource shows: a pended one is not final."""
    d = e.decision
    if d is None or d.outcome is Outcome.PENDED or e.state == ClaimState.PENDED:
        return None
    return d


def is_inpatient(claim: Claim) -> bool:
    """Whether an institutional claim's type of bill is for inpatient care (see
    :data:`INPATIENT_FACILITY_TYPES` and :data:`INPATIENT_CLASSIFICATIONS`)."""
    code = claim.facility_code
    return (
        claim.claim_type is ClaimType.INSTITUTIONAL
        and len(code) >= 2
        and code[0] in INPATIENT_FACILITY_TYPES
        and code[1] in INPATIENT_CLASSIFICATIONS
    )


def profile_of(claim: Claim) -> str:
    """The C4BB profile the claim's resource follows (canonical URL, without version)."""
    if claim.claim_type is ClaimType.DENTAL:
        return ORAL
    if claim.claim_type is ClaimType.INSTITUTIONAL:
        return INPATIENT if is_inpatient(claim) else OUTPATIENT
    return PROFESSIONAL


def outcome_of(e: Explanation) -> str:
    """FHIR ``outcome`` (RemittanceOutcome) for where the claim stands."""
    if e.state == ClaimState.REJECTED:
        return "error"
    if e.state == ClaimState.PENDED:
        return "partial" if e.decision is not None else "queued"
    if e.state in (ClaimState.ADJUDICATED, ClaimState.REMITTED):
        return "complete"
    return "queued"


def network_status(decision: ClaimDecision) -> str:
    """``innetwork``, ``outofnetwork`` or ``other``, as far as the decision tells: the engine
    writes the amount over the fee schedule as CO-45 in network and PR-45 out of network."""
    groups = {a.group for ln in decision.lines for a in ln.adjustments if a.reason == "45"} | {
        a.group for a in decision.claim_adjustments if a.reason == "45"
    }
    if "PR" in groups:
        return "outofnetwork"
    if "CO" in groups:
        return "innetwork"
    return "other"


def disposition_of(e: Explanation) -> str:
    """One plain sentence or two on where the claim stands."""
    if e.state == ClaimState.REJECTED:
        return f"Rejected when received: {e.error or 'the claim could not be accepted'}."
    if e.is_void:
        text = f"Void of claim {e.claim.original_claim_number}: its payment was reversed."
        if e.remittance_trace:
            text += f" Reversal sent on {e.paid_on} (payment {e.remittance_trace})."
        return text
    if e.state == ClaimState.PENDED:
        return f"Pended for review: {e.error or 'waiting for an examiner'}."
    decision = final_decision(e)
    if decision is None:
        return f"Received on {e.received_on.isoformat()}; not yet adjudicated."
    paid = format_amount(decision.paid)
    owed = format_amount(decision.patient_responsibility)
    if decision.outcome is Outcome.DENIED:
        reason = _first_reason(decision)
        text = f"Denied: {describe_carc(reason)}." if reason else "Denied."
        if decision.patient_responsibility:
            text += f" The patient's share is {owed}."
    elif decision.outcome is Outcome.PARTLY_PAID:
        text = f"Partly paid: the plan pays {paid}; the patient's share is {owed}."
    else:
        text = f"Paid: the plan pays {paid}; the patient's share is {owed}."
    if e.reversed_by:
        text = f"Replaced or voided by claim {e.reversed_by}. " + text
    if e.remittance_trace:
        text += f" Payment {e.remittance_trace} sent on {e.paid_on}."
    return text


def _first_reason(decision: ClaimDecision) -> str:
    for a in (*decision.claim_adjustments, *(a for ln in decision.lines for a in ln.adjustments)):
        if a.group != "PR" or a.reason not in COST_SHARE:
            return a.reason
    return ""


# -- amounts ---------------------------------------------------------------------------------


def money(value: Decimal) -> JSON:
    """FHIR Money in US dollars, the value an exact Decimal to the cent."""
    return {"value": round_money(value), "currency": CURRENCY}


def amounts(
    charge: Decimal, allowed: Decimal, paid: Decimal, adjustments: Iterable[Adjustment]
) -> list[tuple[Category, Decimal]]:
    """The amount categories of a line or a claim (see the module docstring), in the order
    shown; discount, prior payer paid and noncovered only when not zero."""
    cost_share = {DEDUCTIBLE: ZERO, COPAY: ZERO, COINSURANCE: ZERO}
    discount = prior = noncovered = member = ZERO
    for a in adjustments:
        if a.group == "PR":
            member += a.amount
        if a.group == "PR" and a.reason in COST_SHARE:
            cost_share[COST_SHARE[a.reason]] += a.amount
        elif a.reason == "23":
            prior += a.amount
        elif a.group in ("CO", "PI") and a.reason in DISCOUNT_REASONS:
            discount += a.amount
        else:
            noncovered += a.amount
    found: list[tuple[Category, Decimal]] = [(SUBMITTED, charge), (ELIGIBLE, allowed)]
    found += [(c, cost_share[c]) for c in (DEDUCTIBLE, COPAY, COINSURANCE)]
    found += [(c, v) for c, v in ((NONCOVERED, noncovered), (DISCOUNT, discount)) if v]
    if prior:
        found.append((PRIOR_PAYER_PAID, prior))
    found += [(MEMBER_LIABILITY, member), (PAID_TO_PROVIDER, paid)]
    return found


def _amount_adjudications(found: list[tuple[Category, Decimal]]) -> list[JSON]:
    return [{"category": concept(*c), "amount": money(v)} for c, v in found]


def _status_adjudication(network: str) -> JSON:
    display = {"innetwork": "In Network", "outofnetwork": "Out Of Network"}.get(network, "Other")
    return {
        "category": concept(C4BB_DISCRIMINATOR, "benefitpaymentstatus", "Benefit Payment Status"),
        "reason": concept(C4BB_STATUS, network, display),
    }


def _reason_adjudications(adjustments: Iterable[Adjustment]) -> list[JSON]:
    """An ``adjustmentreason`` per adjustment that is not a cost share (those have their own
    amount categories), same group and reason added up."""
    merged: dict[tuple[str, str], Decimal] = {}
    for a in adjustments:
        if a.group == "PR" and a.reason in COST_SHARE:
            continue
        merged[(a.group, a.reason)] = merged.get((a.group, a.reason), ZERO) + a.amount
    return [
        {
            "category": concept(C4BB_DISCRIMINATOR, "adjustmentreason", "Adjustment Reason"),
            "reason": {
                "coding": [{"system": CARC, "code": reason, "display": describe_carc(reason)}],
                "text": describe_adjustment(group, reason, amount),
            },
            "amount": money(amount),
        }
        for (group, reason), amount in merged.items()
    ]


def _totals(claim: Claim, decision: ClaimDecision | None) -> list[JSON]:
    if decision is None:
        return _amount_adjudications([(SUBMITTED, claim.total_charge)])
    adjustments = [
        *decision.claim_adjustments,
        *(a for ln in decision.lines for a in ln.adjustments),
    ]
    found = amounts(decision.charge, decision.allowed, decision.paid, adjustments)
    return _amount_adjudications(found)


def _payment(e: Explanation, decision: ClaimDecision | None) -> JSON | None:
    if decision is None:
        return None
    status = {
        Outcome.PAID: ("paid", "Paid"),
        Outcome.PARTLY_PAID: ("partiallypaid", "Partially Paid"),
        Outcome.DENIED: ("denied", "Denied"),
    }.get(decision.outcome, ("paid", "Paid"))
    payment: JSON = {"type": concept(C4BB_STATUS, *status), "amount": money(decision.paid)}
    if e.paid_on is not None:
        payment["date"] = e.paid_on.isoformat()
    if e.remittance_trace:
        payment["identifier"] = {"value": e.remittance_trace}
    return payment


# -- items -----------------------------------------------------------------------------------


def _items(
    e: Explanation,
    decision: ClaimDecision | None,
    profile: str,
    network: str,
    notes: _Notes,
    supporting: _Supporting,
    care_team: _CareTeam,
) -> list[JSON]:
    claim = e.claim
    decided = _line_decisions(claim, decision)
    items: list[JSON] = []
    for n, ln in enumerate(claim.lines, start=1):
        line = decided[n - 1]
        item: JSON = {"sequence": n}
        if ln.rendering is not None:
            item["careTeamSequence"] = [care_team.add(ln.rendering)]
        pointers = [p for p in ln.diagnosis_pointers if 1 <= p <= len(claim.diagnoses)]
        if pointers:
            item["diagnosisSequence"] = pointers
        if claim.claim_type is ClaimType.INSTITUTIONAL and ln.revenue_code:
            item["revenue"] = concept(REVENUE_CODE, ln.revenue_code)
        item["productOrService"] = _product(ln.procedure)
        modifiers = ln.procedure.modifiers if ln.procedure else ()
        if modifiers:
            item["modifier"] = [concept(HCPCS if m[:1].isalpha() else CPT, m) for m in modifiers]
        item.update(_serviced(claim, ln, line))
        if profile in (PROFESSIONAL, ORAL):
            place = ln.place_of_service or claim.facility_code
            if place:
                item["locationCodeableConcept"] = concept(PLACE_OF_SERVICE, place)
        item["quantity"] = {"value": ln.units}
        item["net"] = money(ln.charge)
        if profile == ORAL:
            item.update(_oral_sites(ln, supporting))
        remarks = list(dict.fromkeys(line.remarks)) if line is not None else []
        numbers = [notes.number(r) for r in remarks]
        if line is not None and line.note:  # the NCCI edit the line met, in words
            numbers.append(notes.text(line.note))
        if numbers:
            item["noteNumber"] = numbers
        item["adjudication"] = _item_adjudication(ln, line, network)
        items.append(item)
    return items


def _line_decisions(claim: Claim, decision: ClaimDecision | None) -> list[LineDecision | None]:
    """The decision of each service line, in claim order (None when not decided)."""
    if decision is None:
        return [None] * len(claim.lines)
    lines = decision.lines
    if len(lines) == len(claim.lines) and all(
        d.line_number == ln.number for d, ln in zip(lines, claim.lines, strict=True)
    ):
        return list(lines)
    by_number = {d.line_number: d for d in lines}
    return [by_number.get(ln.number) for ln in claim.lines]


def _item_adjudication(ln: ServiceLine, line: LineDecision | None, network: str) -> list[JSON]:
    if line is None:
        found = [(SUBMITTED, ln.charge)]
        return [*_amount_adjudications(found), _status_adjudication(network)]
    found = amounts(line.charge, line.allowed, line.paid, line.adjustments)
    result = _amount_adjudications(found)
    result += _reason_adjudications(line.adjustments)
    result.append(_status_adjudication(network))
    result.append(
        {
            "category": concept(C4BB_DISCRIMINATOR, "allowedunits", "allowed units"),
            "value": line.paid_units,
        }
    )
    return result


def _product(proc: Procedure | None) -> JSON:
    if proc is None:
        return concept(DATA_ABSENT, "not-applicable", "Not Applicable")
    code = proc.code
    if proc.qualifier in ("HC", "HP"):
        system = HCPCS if code[:1].isalpha() else CPT  # HCPCS level II codes start with a letter
    elif proc.qualifier == "AD":
        system = CDT
    elif proc.qualifier == "N4":
        system = NDC
    else:
        return {"text": f"{proc.qualifier} {code}"}
    coding: JSON = {"system": system, "code": code}
    if proc.description:
        coding["display"] = proc.description
    return {"coding": [coding]}


def _serviced(claim: Claim, ln: ServiceLine, line: LineDecision | None) -> JSON:
    start = ln.service_from or (line.service_from if line else None)
    end = ln.service_to or (line.service_to if line else None)
    if start is None:  # no date on the line: the claim's statement period
        start, end = claim.statement_from or claim.service_from, claim.statement_to
    if start is None:
        return {}
    if end is None or end == start:
        return {"servicedDate": start.isoformat()}
    return {"servicedPeriod": {"start": start.isoformat(), "end": end.isoformat()}}


def _oral_sites(ln: ServiceLine, supporting: _Supporting) -> JSON:
    """First tooth (or area of the oral cavity) and its surfaces on the item; further teeth
    and areas as ``additionalbodysite`` supporting information the item points to."""
    sites: list[JSON] = [concept(TOOTH, t.code) for t in ln.teeth]
    sites += [concept(ORAL_AREA, area) for area in ln.oral_cavity]
    if not sites:
        return {}
    found: JSON = {"bodySite": sites[0]}
    if ln.teeth:
        surfaces = [s for s in ln.teeth[0].surfaces if s in SURFACES]
        if surfaces:
            found["subSite"] = [concept(C4BB_SURFACE, s) for s in surfaces]
    extra = [
        supporting.add("additionalbodysite", "Additional Body Site", {"code": site})
        for site in sites[1:]
    ]
    if extra:
        found["informationSequence"] = extra
    return found


# -- parties, diagnoses, supporting information ----------------------------------------------


def _patient(member_id: str) -> JSON:
    if _FHIR_ID.match(member_id):
        return {"reference": f"Patient/{member_id}"}
    # not usable as a resource id: a logical reference by member number
    return {
        "identifier": {"type": concept(IDENTIFIER_TYPE, "MB", "Member Number"), "value": member_id}
    }


def _provider_reference(p: Provider) -> JSON:
    ref: JSON = {"type": "Practitioner" if p.entity_type == "1" else "Organization"}
    if p.npi:
        ref["identifier"] = {"system": NPI, "value": p.npi}
    if p.name:
        ref["display"] = p.name
    return ref


def _insurer(claim: Claim, insurer: PayerInfo | None) -> JSON:
    name, ident = (insurer.name, insurer.id) if insurer else (claim.payer.name, claim.payer.id)
    ref: JSON = {"type": "Organization"}
    if ident:
        ref["identifier"] = {
            "type": concept(C4BB_IDENTIFIER, "payerid", "Payer ID"),
            "value": ident,
        }
    if name:
        ref["display"] = name
    return ref


def _insurance(claim: Claim, insurer: PayerInfo | None) -> list[JSON]:
    name = insurer.name if insurer else claim.payer.name
    subscriber = claim.subscriber.member_id
    display = name + (f", group {claim.group_number}" if claim.group_number else "")
    coverage: JSON = {"type": "Coverage", "display": display}
    if subscriber:
        coverage["identifier"] = {
            "type": concept(IDENTIFIER_TYPE, "MB", "Member Number"),
            "value": subscriber,
        }
    found: list[JSON] = [{"focal": True, "coverage": coverage}]
    for other in claim.other_payers:
        other_coverage: JSON = {"type": "Coverage", "display": other.payer_name or other.payer_id}
        found.append({"focal": False, "coverage": other_coverage})
    return found


def _related(e: Explanation) -> list[JSON]:
    found: list[JSON] = []
    claim = e.claim
    if claim.frequency_code in ("7", "8") and claim.original_claim_number:
        found.append(
            {
                "relationship": concept(RELATED_CLAIM, "prior", "Prior Claim"),
                "reference": _claim_number(claim.original_claim_number),
            }
        )
    if e.reversed_by:
        found.append(
            {
                "relationship": concept(C4BB_RELATED, "replacedby", "Replaced by claim number"),
                "reference": _claim_number(e.reversed_by),
            }
        )
    return found


def _claim_number(number: str) -> JSON:
    return {"type": concept(C4BB_IDENTIFIER, "uc", "Unique Claim ID"), "value": number}


class _CareTeam:
    """The care team, numbered as providers are added (each provider once)."""

    def __init__(self, claim: Claim) -> None:
        self.roles = (
            INSTITUTIONAL_ROLES
            if claim.claim_type is ClaimType.INSTITUTIONAL
            else PROFESSIONAL_ROLES
        )
        self.members: list[JSON] = []
        self._seen: dict[tuple[str, str, str], int] = {}
        for p in claim.providers:
            if p.role in self.roles:
                self.add(p)

    def add(self, p: Provider) -> int:
        role = self.roles.get(p.role, _ROLE_PERFORMING)
        key = (role[1], p.npi, p.name)
        if key in self._seen:
            return self._seen[key]
        sequence = len(self.members) + 1
        member: JSON = {
            "sequence": sequence,
            "provider": _provider_reference(p),
            "role": concept(*role),
        }
        if p.taxonomy:
            member["qualification"] = concept(TAXONOMY, p.taxonomy)
        self.members.append(member)
        self._seen[key] = sequence
        return sequence


class _Supporting:
    """Supporting information, numbered as it is added."""

    def __init__(self) -> None:
        self.entries: list[JSON] = []

    def add(self, code: str, display: str, content: JSON) -> int:
        sequence = len(self.entries) + 1
        self.entries.append(
            {
                "sequence": sequence,
                "category": concept(C4BB_SUPPORTING_INFO, code, display),
                **content,
            }
        )
        return sequence


class _Notes:
    """Process notes, one per remark code (and one per line note), numbered as first met."""

    def __init__(self) -> None:
        self.entries: list[JSON] = []
        self._numbers: dict[str, int] = {}

    def number(self, remark: str) -> int:
        found = self._numbers.get(remark)
        if found is None:
            found = len(self.entries) + 1
            self.entries.append(
                {"number": found, "type": "display", "text": f"{remark}: {describe_rarc(remark)}"}
            )
            self._numbers[remark] = found
        return found

    def text(self, text: str) -> int:
        """A note of its own words (why a line was adjusted, beyond its codes)."""
        key = "\0" + text  # never a remark code
        found = self._numbers.get(key)
        if found is None:
            found = len(self.entries) + 1
            self.entries.append({"number": found, "type": "display", "text": text})
            self._numbers[key] = found
        return found


def _claim_supporting_info(supporting: _Supporting, e: Explanation, profile: str) -> None:
    claim = e.claim
    supporting.add("clmrecvddate", "Claim Received Date", {"timingDate": e.received_on.isoformat()})
    if claim.claim_id:
        supporting.add(
            "patientaccountnumber", "Patient Account Number", {"valueString": claim.claim_id}
        )
    if profile in (PROFESSIONAL, ORAL):
        facility = claim.service_facility
        if facility is not None and facility.npi:
            supporting.add(
                "servicefacility",
                "Service Facility",
                {"valueReference": _provider_reference(facility)},
            )
        return
    if claim.type_of_bill:
        # UB-04 form locator 4: four digits with a leading zero
        supporting.add(
            "typeofbill",
            "Type of Bill",
            {"code": concept(TYPE_OF_BILL, claim.type_of_bill.zfill(4))},
        )
    if profile == INPATIENT:
        start = claim.admission_date or claim.statement_from or claim.service_from
        end = claim.discharge_date or claim.statement_to or claim.service_to
        period: JSON = {"start": (start or e.received_on).isoformat()}
        if end is not None:
            period["end"] = end.isoformat()
        supporting.add("admissionperiod", "Admission Period", {"timingPeriod": period})
    if claim.admission_type:
        supporting.add(
            "admtype", "Admission Type", {"code": concept(ADMISSION_TYPE, claim.admission_type)}
        )
    if claim.admission_source:
        system = POINT_OF_ORIGIN_NEWBORN if claim.admission_type == "4" else POINT_OF_ORIGIN
        supporting.add(
            "pointoforigin", "Point Of Origin", {"code": concept(system, claim.admission_source)}
        )
    if claim.patient_status:
        supporting.add(
            "discharge-status",
            "Discharge Status",
            {"code": concept(DISCHARGE_STATUS, claim.patient_status)},
        )


def _diagnoses(claim: Claim, profile: str) -> list[JSON]:
    found: list[JSON] = []
    for n, dx in enumerate(claim.diagnoses, start=1):
        entry: JSON = {
            "sequence": n,
            "diagnosisCodeableConcept": {
                "coding": [
                    {
                        "system": ICD10CM if dx.is_icd10 else ICD9CM,
                        "code": diagnosis_code(dx),
                    }
                ]
            },
            "type": [concept(*_diagnosis_type(dx, profile))],
        }
        if profile == INPATIENT and dx.present_on_admission:
            entry["onAdmission"] = concept(PRESENT_ON_ADMISSION, dx.present_on_admission)
        found.append(entry)
    return found


def _diagnosis_type(dx: Diagnosis, profile: str) -> tuple[str, str, str]:
    kind = dx.qualifier.removeprefix("A")  # ICD-10 qualifiers are the ICD-9 ones with an A
    if kind == "BK":
        return (DIAGNOSIS_TYPE, "principal", "Principal Diagnosis")
    if profile in (PROFESSIONAL, ORAL):
        return (C4BB_DIAGNOSIS_TYPE, "secondary", "Secondary")
    if kind == "BJ" and profile == INPATIENT:
        return (DIAGNOSIS_TYPE, "admitting", "Admitting Diagnosis")
    if kind == "PR" and profile == OUTPATIENT:
        return (C4BB_DIAGNOSIS_TYPE, "patientreasonforvisit", "Patient Reason for Visit")
    if kind == "BN":
        return (C4BB_DIAGNOSIS_TYPE, "externalcauseofinjury", "External Cause of Injury")
    return (C4BB_DIAGNOSIS_TYPE, "other", "Other")


def diagnosis_code(dx: Diagnosis) -> str:
    """The code with its decimal point, as the ICD-10-CM and ICD-9-CM code systems write it
    (X12 sends it without): J069 → J06.9, 4019 → 401.9, E8889 → E888.9."""
    code = dx.code.strip().upper()
    if "." in code:
        return code
    head = 4 if not dx.is_icd10 and code.startswith("E") else 3
    return f"{code[:head]}.{code[head:]}" if len(code) > head else code


# -- small builders --------------------------------------------------------------------------


def concept(system: str, code: str, display: str = "") -> JSON:
    """A CodeableConcept of one coding."""
    coding: JSON = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def instant(moment: datetime) -> str:
    """An ISO instant; stored times are naive UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def _last_updated(e: Explanation) -> str:
    if e.updated_at is not None:
        return instant(e.updated_at)
    known = [t for t in (e.decided_at,) if t is not None]
    if e.paid_on is not None:
        known.append(datetime(e.paid_on.year, e.paid_on.month, e.paid_on.day))
    if not known:
        known.append(datetime(e.received_on.year, e.received_on.month, e.received_on.day))
    return instant(max(known))


def _billable_period(e: Explanation) -> JSON:
    claim = e.claim
    start: date | None = claim.statement_from or claim.service_from
    end: date | None = claim.statement_to or claim.service_to
    if e.decision is not None:
        days = [d for ln in e.decision.lines for d in (ln.service_from, ln.service_to) if d]
        if start is None and days:
            start = min(days)
        if end is None and days:
            end = max(days)
    period: JSON = {"start": (start or e.received_on).isoformat()}
    if end is not None and start is not None and end >= start:
        period["end"] = end.isoformat()
    return period


# -- search answers and errors ---------------------------------------------------------------


def searchset_bundle(
    resources: Sequence[JSON], *, total: int, self_url: str, next_url: str | None
) -> JSON:
    """A ``searchset`` Bundle of ``resources`` (one page of ``total`` matches), with its
    ``self`` link and a ``next`` link when there is a further page. Each entry's ``fullUrl``
    is ``<self_url without query>/<id>`` when the self URL ends with the resource type."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    base = self_url.split("?", 1)[0].rstrip("/")
    entries: list[JSON] = []
    for r in resources:
        entry: JSON = {}
        kind, ident = r.get("resourceType"), r.get("id")
        if kind and ident and base.endswith(f"/{kind}"):
            entry["fullUrl"] = f"{base}/{ident}"
        entry["resource"] = r
        entry["search"] = {"mode": "match"}
        entries.append(entry)
    bundle: JSON = {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
    if entries:
        bundle["entry"] = entries
    return bundle


def operation_outcome(severity: str, code: str, diagnostics: str) -> JSON:
    """An OperationOutcome with one issue, for FHIR error bodies. ``severity`` is fatal, error,
    warning or information; ``code`` an IssueType (not-found, invalid, forbidden, exception
    ...). Raises :class:`ValueError` for a value FHIR does not have."""
    if severity not in ISSUE_SEVERITIES:
        raise ValueError(f"not an OperationOutcome severity: {severity!r}")
    if code not in ISSUE_TYPES:
        raise ValueError(f"not an OperationOutcome issue type: {code!r}")
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def _default(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal) and value.is_finite():
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(resource: Any) -> bytes:
    """The resource (or bundle, or outcome) as JSON, Decimals written exactly as numbers."""
    return orjson.dumps(resource, default=_default)
