"""The SNIP 4 situational rules the structure walker checks: data, so the README can list them.

The implementation guides' loop tables say what is required, optional or not used; a few of
their situational notes decide what a claim *means* (who the patient is, what a replacement
claim replaces) and are checked on top of the tables by
:class:`claims_engine.x12.structure.GuideWalker`. Each rule has a stable ``code``, the 999
segment (IK304) and element (IK403) error codes it is reported with, the guides it applies to,
where it sits (guide loop and segment) and a one-line text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class SituationalRule:
    code: str
    segment_error: str  # IK304
    element_error: str  # IK403, "" when the rule is about a segment or loop
    guides: tuple[str, ...]
    loop: str
    segment: str
    text: str


_837: Final = ("837p", "837i", "837d")

SBR02_18_PATIENT_LOOP: Final = "SITUATIONAL-SBR02-18-PATIENT-LOOP"
SBR02_NOT_18_NO_PATIENT_LOOP: Final = "SITUATIONAL-SBR02-NOT-18-NO-PATIENT-LOOP"
PAT_IN_2000B_NOT_PATIENT: Final = "SITUATIONAL-PAT-2000B-SBR02-NOT-18"
SUBSCRIBER_PATIENT_DMG: Final = "SITUATIONAL-SBR02-18-SUBSCRIBER-DMG"
SUBSCRIBER_PATIENT_ADDRESS: Final = "SITUATIONAL-SBR02-18-SUBSCRIBER-ADDRESS"
N3_WITHOUT_N4: Final = "SITUATIONAL-N3-WITHOUT-N4"
N4_WITHOUT_N3: Final = "SITUATIONAL-N4-WITHOUT-N3"
REPLACEMENT_WITHOUT_F8: Final = "SITUATIONAL-CLM05-3-REPLACEMENT-NO-F8"
INQUIRY_2200D_MISSING: Final = "SITUATIONAL-276-2200D-MISSING"

RULES: Final[tuple[SituationalRule, ...]] = (
    SituationalRule(
        SBR02_18_PATIENT_LOOP,
        "I9",
        "",
        _837,
        "2000C",
        "HL",
        "SBR02 is 18 (the subscriber is the patient): no patient (2000C) loop may follow",
    ),
    SituationalRule(
        SBR02_NOT_18_NO_PATIENT_LOOP,
        "I6",
        "",
        _837,
        "2000C",
        "HL",
        "a claim under the subscriber (2000B) needs SBR02 18, else a patient (2000C) loop",
    ),
    SituationalRule(
        PAT_IN_2000B_NOT_PATIENT,
        "I9",
        "",
        _837,
        "2000B",
        "PAT",
        "PAT in the subscriber loop (2000B) only when SBR02 is 18",
    ),
    SituationalRule(
        SUBSCRIBER_PATIENT_DMG,
        "I6",
        "",
        _837,
        "2010BA",
        "DMG",
        "subscriber demographics (2010BA DMG) required when SBR02 is 18",
    ),
    SituationalRule(
        SUBSCRIBER_PATIENT_ADDRESS,
        "I6",
        "",
        _837,
        "2010BA",
        "N3",
        "subscriber address (2010BA N3/N4) required when SBR02 is 18",
    ),
    SituationalRule(
        N3_WITHOUT_N4,
        "I6",
        "",
        _837,
        "*",
        "N4",
        "a situational N3 needs its N4 (city, state, postal code) in the same loop",
    ),
    SituationalRule(
        N4_WITHOUT_N3,
        "I6",
        "",
        _837,
        "*",
        "N3",
        "a situational N4 needs its N3 (street address) in the same loop",
    ),
    SituationalRule(
        REPLACEMENT_WITHOUT_F8,
        "I6",
        "",
        _837,
        "2300",
        "REF",
        "CLM05-3 7 or 8 (replacement or void) needs the payer claim control number REF*F8",
    ),
    SituationalRule(
        INQUIRY_2200D_MISSING,
        "I6",
        "",
        ("276",),
        "2200D",
        "TRN",
        "a subscriber (2000D) with no dependent (2000E) needs its claim status inquiry (2200D)",
    ),
)

RULES_BY_CODE: Final[dict[str, SituationalRule]] = {rule.code: rule for rule in RULES}
