"""Plain-language descriptions of the adjustment codes the engine emits.

Adjudication explains every amount it does not pay with a claim adjustment (CAS): a **group
code** (who bears the amount) and a **claim adjustment reason code** (CARC, X12 external code
list 139), and may add **remittance advice remark codes** (RARC, external code list 411). This
module turns those codes into text for people asking about a claim: ``claims-engine status``
and, later, the FHIR ExplanationOfBenefit adapter.

- :data:`GROUP_CODES`, :data:`CARC`, :data:`RARC`: the code tables. The texts are the official
  X12 wording without the usage notes meant for implementers, written as one sentence without
  a closing full stop (long official texts are shortened, faithfully), so they read well
  inside :func:`describe_adjustment`.
- :func:`describe_group`, :func:`describe_carc`, :func:`describe_rarc`: one code's text; an
  unknown code gives a neutral fallback naming the code, never an error.
- :func:`describe_adjustment`: one sentence for a CAS triplet, e.g.
  ``"Patient Responsibility: Deductible amount (PR-1), $40.00"``.

The tables cover every code the engine can emit: the adjudication stages (eligibility,
duplicates, timely filing, authorization, pricing, cost sharing, coordination of benefits),
the coverage-rule pack (``rules/*.yaml``) and the codes ``claims_engine.rules.engine`` lets a rule
use. ``tests/unit/test_reasons.py`` scans those sources and fails when a code has no text here.

Pure: standard library and :mod:`claims_engine.domain.money` only, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from claims_engine.domain.money import round_money

# Claim adjustment group codes (CAS01).
_GROUP_CODES: dict[str, str] = {
    "CO": "Contractual Obligations",
    "PR": "Patient Responsibility",
    "OA": "Other Adjustments",
    "PI": "Payer Initiated Reductions",
    # 4010 only: the 5010 835 has no CR. The engine reverses a claim with status 22 and
    # negated amounts under the original group codes; CR is here to describe older data.
    "CR": "Corrections and Reversals",
}

# Claim adjustment reason codes (X12 external code list 139).
_CARC: dict[str, str] = {
    # cost sharing (PR)
    "1": "Deductible amount",
    "2": "Coinsurance amount",
    "3": "Co-payment amount",
    # coding edits
    "4": "The procedure code is inconsistent with the modifier used",
    "5": "The procedure code/type of bill is inconsistent with the place of service",
    "6": "The procedure/revenue code is inconsistent with the patient's age",
    "7": "The procedure/revenue code is inconsistent with the patient's gender",
    "8": "The procedure code is inconsistent with the provider type/specialty (taxonomy)",
    "11": "The diagnosis is inconsistent with the procedure",
    "16": "Claim/service lacks information or has submission/billing error(s)",
    # claim-level decisions: duplicates, other payers, eligibility, filing limits
    "18": "Exact duplicate claim/service",
    "22": "This care may be covered by another payer per coordination of benefits",
    "23": "The impact of prior payer(s) adjudication including payments and/or adjustments",
    "26": "Expenses incurred prior to coverage",
    "27": "Expenses incurred after coverage terminated",
    "29": "The time limit for filing has expired",
    "31": "Patient cannot be identified as our insured",
    "35": "Lifetime benefit maximum has been reached",
    "39": "Services denied at the time authorization/pre-certification was requested",
    "40": "Charges do not meet qualifications for emergent/urgent care",
    # pricing
    "45": "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement",
    # coverage
    "49": "This is a non-covered service because it is a routine/preventive exam or a "
    "diagnostic/screening procedure done in conjunction with a routine/preventive exam",
    "50": "These are non-covered services because this is not deemed a 'medical necessity' by "
    "the payer",
    "55": "Procedure/treatment/drug is deemed experimental/investigational by the payer",
    "58": "Treatment was deemed by the payer to have been rendered in an inappropriate or invalid "
    "place of service",
    "59": "Processed based on multiple or concurrent procedure rules (for example multiple "
    "surgery or diagnostic imaging, concurrent anesthesia)",
    "96": "Non-covered charge(s)",
    "97": "The benefit for this service is included in the payment/allowance for another "
    "service/procedure that has already been adjudicated",
    "109": "Claim/service not covered by this payer/contractor; the claim/service must be sent "
    "to the correct payer/contractor",
    "119": "Benefit maximum for this time period or occurrence has been reached",
    "129": "Prior processing information appears incorrect",
    "131": "Claim specific negotiated discount",
    "151": "Payment adjusted because the payer deems the information submitted does not support "
    "this many/frequency of services",
    "167": "This (these) diagnosis(es) is (are) not covered",
    "170": "Payment is denied when performed/billed by this type of provider",
    "171": "Payment is denied when performed/billed by this type of provider in this type of "
    "facility",
    "181": "Procedure code was invalid on the date of service",
    "182": "Procedure modifier was invalid on the date of service",
    "185": "The rendering provider is not eligible to perform the service billed",
    "189": "'Not otherwise classified' or 'unlisted' procedure code (CPT/HCPCS) was billed when "
    "there is a specific procedure code for this procedure/service",
    # authorization and referral
    "197": "Precertification/authorization/notification/pre-treatment absent",
    "198": "Precertification/notification/authorization/pre-treatment exceeded",
    "199": "Revenue code and procedure code do not match",
    "204": "This service/equipment/drug is not covered under the patient's current benefit plan",
    "236": "This procedure or procedure/modifier combination is not compatible with another "
    "procedure or procedure/modifier combination provided on the same day according to the "
    "National Correct Coding Initiative or workers compensation state regulations/fee schedule "
    "requirements",
    "242": "Services not provided by network/primary care providers",
    "243": "Services not authorized by network/primary care providers",
    "254": "Claim received by the dental plan, but benefits not available under this plan; "
    "submit these services to the patient's medical plan for further consideration",
    "272": "Coverage/program guidelines were not met",
    "273": "Coverage/program guidelines were exceeded",
    "288": "Referral absent",
}

# Remittance advice remark codes (X12 external code list 411).
_RARC: dict[str, str] = {
    "M127": "Missing patient medical record for this service",
    "M15": "Separately billed services/tests have been bundled as they are considered "
    "components of the same procedure; separate payment is not allowed",
    "M51": "Missing/incomplete/invalid procedure code(s)",
    "M62": "Missing/incomplete/invalid treatment authorization code",
    "M77": "Missing/incomplete/invalid/inappropriate place of service",
    "M80": "Not covered when performed during the same session/date as a previously processed "
    "service for the patient",
    "M86": "Service denied because payment already made for same/similar procedure within set "
    "time frame",
    "M114": "This service was processed in accordance with rules and guidelines under the "
    "DMEPOS Competitive Bidding Program or a Demonstration Project",
    "MA01": "Alert: If you do not agree with what we approved for these services, you may "
    "appeal our decision",
    "MA130": "Your claim contains incomplete and/or invalid information, and no appeal rights "
    "are afforded because the claim is unprocessable; please submit a new claim with the "
    "complete/correct information",
    "N4": "Missing/incomplete/invalid prior insurance carrier(s) EOB",
    "N20": "Service not payable with other service rendered on the same date",
    "N29": "Missing documentation/orders/notes/summary/report/chart",
    "N30": "Patient ineligible for this service",
    "N37": "Missing/incomplete/invalid tooth number/letter",
    "N39": "Procedure code is not compatible with tooth number/letter",
    "N54": "Claim information is inconsistent with pre-certified/authorized services",
    "N56": "Procedure code billed is not correct/valid for the services billed or the date of "
    "service billed",
    "N59": "Alert: Please refer to your provider manual for additional program and provider "
    "information",
    "N95": "This provider type/provider specialty may not bill this service",
    "N115": "This decision was based on a Local Coverage Determination (LCD)",
    "N129": "Not eligible due to the patient's age",
    "N130": "Consult plan benefit documents/guidelines for information about restrictions for "
    "this service",
    "N185": "Alert: Do not resubmit this claim/service",
    "N350": "Missing/incomplete/invalid description of service for a Not Otherwise Classified "
    "(NOC) code or for an Unlisted/By Report procedure",
    "N362": "The number of days or units of service exceeds our acceptable maximum",
    "N383": "Not covered when deemed cosmetic",
    "N425": "Statutorily excluded service(s)",
    "N428": "Not covered when performed in this place of service",
    "N429": "Not covered when considered routine",
    "N430": "Procedure code is inconsistent with the units billed",
    "N432": "Alert: Adjustment based on a Recovery Audit",
    "N435": "Exceeds number/frequency approved/allowed within time period without support "
    "documentation",
    "N519": "Invalid combination of HCPCS modifiers",
    "N657": "This should be billed with the appropriate code for these services",
    "N776": "This service is not a covered Telehealth service",
}

# CARCs that the code list says must come with at least one remark code (RARC).
CARC_NEEDS_RARC: frozenset[str] = frozenset({"16", "96", "125", "A1", "226", "252"})

# Read-only views of the tables above.
GROUP_CODES: Mapping[str, str] = MappingProxyType(_GROUP_CODES)
CARC: Mapping[str, str] = MappingProxyType(_CARC)
RARC: Mapping[str, str] = MappingProxyType(_RARC)


def _key(code: str) -> str:
    return code.strip().upper()


def describe_group(group: str) -> str:
    """The X12 name of a group code (``"PR"`` -> ``"Patient Responsibility"``);
    ``"adjustment group <code>"`` for a code not in :data:`GROUP_CODES`."""
    key = _key(group)
    return GROUP_CODES.get(key) or f"adjustment group {key}"


def describe_carc(code: str) -> str:
    """The description of a claim adjustment reason code (``"1"`` -> ``"Deductible
    amount"``); ``"adjustment reason <code>"`` for a code not in :data:`CARC`."""
    key = _key(code)
    return CARC.get(key) or f"adjustment reason {key}"


def describe_rarc(code: str) -> str:
    """The description of a remittance advice remark code (case and surrounding blanks do not
    matter); ``"remark <code>"`` for a code not in :data:`RARC`."""
    key = _key(code)
    return RARC.get(key) or f"remark {key}"


def format_amount(amount: Decimal) -> str:
    """Dollars, rounded half up to the cent, with a thousands separator and the sign in front:
    ``Decimal("1234.5")`` -> ``"$1,234.50"``, ``Decimal("-20")`` -> ``"-$20.00"``. An amount
    that rounds to zero has no sign."""
    cents = round_money(amount)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def describe_adjustment(group: str, carc: str, amount: Decimal) -> str:
    """One sentence for an adjustment: group name, reason, ``(GROUP-CARC)`` and the amount,
    e.g. ``"Patient Responsibility: Deductible amount (PR-1), $40.00"``. Unknown codes use the
    fallbacks of :func:`describe_group` and :func:`describe_carc`."""
    return (
        f"{describe_group(group)}: {describe_carc(carc)} "
        f"({_key(group)}-{_key(carc)}), {format_amount(amount)}"
    )
