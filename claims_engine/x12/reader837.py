"""The 837 reader: one transaction set's segments into :class:`~claims_engine.domain.model.Claim`
objects.

It follows the loop hierarchy of the professional (005010X222A1/A2), institutional
(005010X223A2/A3) and dental (005010X224A2) guides::

    1000A submitter  1000B receiver
    2000A billing provider (2010AA, 2010AB pay-to, 2010AC pay-to plan)
      2000B subscriber (2010BA subscriber, 2010BB payer)
        2000C patient (2010CA)
          2300 claim (2310x claim providers, 2320/2330x other payers)
            2400 service line (2410 drug, 2420x line providers, 2430 line adjudication)

While it reads, it checks the element syntax (SNIP levels 1 and 2) of everything the engine
uses: required elements, dates, numbers, the code values it interprets and the length of every
element it keeps (:data:`~claims_engine.x12.codes.ELEMENT_LENGTHS`; a value that does not fit is
rejected, never cut, since the 277CA and the 835 write it back). A problem inside a
claim's loops (or in the billing provider, subscriber or patient above it) is an issue of that
claim alone; a problem with the transaction's structure is an issue of the transaction set.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Final

from claims_engine.domain.issues import ClaimStatus, Issue, Location, Scope, Syntax
from claims_engine.domain.model import (
    IMPLEMENTATIONS,
    Address,
    Adjustment,
    Claim,
    ClaimType,
    Diagnosis,
    LineAdjudication,
    OtherPayer,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
    Source,
    Tooth,
)
from claims_engine.domain.money import ZERO, parse_x12_decimal, x12_number_length
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    MAX_REPORTED_ISSUES,
    ClaimRead,
    Event,
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
    TransactionHeader,
    trailer_issues,
    transaction_issue,
)
from claims_engine.x12.structure import (
    Finding,
    GuideWalker,
    compile_guide,
    segment_code,
    unreported,
)
from claims_engine.x12.tokenizer import INVALID_CHARACTER

A6: Final = codes.CATEGORY_MISSING
A7: Final = codes.CATEGORY_INVALID
A8: Final = codes.CATEGORY_RELATIONAL

# Segment ids that may occur in an 837; anything else is unrecognized.
KNOWN_SEGMENTS: Final = frozenset(
    (
        "ST BHT NM1 PER HL PRV CUR N3 N4 REF DMG SBR PAT CLM DTP CL1 PWK CN1 AMT K3 NTE CR1 "
        "CR2 CR3 CR4 CR5 CR6 CR7 CRC HI HCP DN1 DN2 QTY MEA OI MIA MOA CAS LX SV1 SV2 SV3 SV5 "
        "TOO PS1 LIN CTP SVD LQ FRM HSD SE"
    ).split()
)
# Segments that only make sense inside a claim (loop 2300 and below).
CLAIM_SEGMENTS: Final = frozenset(
    (
        "CL1 PWK CN1 AMT K3 NTE CR1 CR2 CR3 CR4 CR5 CR6 CR7 CRC HI HCP DN1 DN2 OI MIA MOA CAS "
        "LX SV1 SV2 SV3 SV5 TOO PS1 LIN CTP SVD LQ FRM HSD QTY MEA"
    ).split()
)

DIAGNOSIS_QUALIFIERS: Final = frozenset(
    {"ABK", "ABF", "ABJ", "APR", "ABN", "BK", "BF", "BJ", "PR", "BN"}
)
PRINCIPAL_QUALIFIERS: Final = frozenset({"ABK", "BK"})
OTHER_HI_QUALIFIERS: Final = frozenset(
    {"BBR", "BBQ", "BR", "BQ", "BE", "BH", "BI", "BG", "DR", "TC", "CAH", "BP", "BO"}
)
PAYER_RESPONSIBILITY: Final = frozenset("ABCDEFGHPSTU")
SEX_CODES: Final = frozenset({"F", "M", "U"})
ENTITY_TYPES: Final = frozenset({"1", "2"})
MEMBER_ID_QUALIFIERS: Final = frozenset({"MI", "II"})
PAYER_ID_QUALIFIERS: Final = frozenset({"PI", "XV"})
RELATIONSHIP_CODES: Final = frozenset({"01", "18", "19", "20", "21", "39", "40", "53", "G8"})
ADJUSTMENT_GROUPS: Final = frozenset({"CO", "CR", "OA", "PI", "PR"})
UNIT_TYPES: Final = {
    ClaimType.PROFESSIONAL: frozenset({"MJ", "UN"}),
    ClaimType.INSTITUTIONAL: frozenset({"DA", "UN"}),
    ClaimType.DENTAL: frozenset({"UN"}),
}
PROCEDURE_QUALIFIERS: Final = {
    "SV1": frozenset({"HC", "ER", "IV", "WK"}),
    "SV2": frozenset({"HC", "ER", "HP", "IV", "WK"}),
    "SV3": frozenset({"AD"}),
}
ADJUDICATED_PROCEDURE_QUALIFIERS: Final = frozenset({"HC", "AD", "ER", "IV", "WK", "HP", "NU"})

CLAIM_PROVIDER_LOOPS: Final = {
    ClaimType.PROFESSIONAL: {
        "DN": "2310A",
        "P3": "2310A",
        "82": "2310B",
        "77": "2310C",
        "DQ": "2310D",
        "PW": "2310E",
        "45": "2310F",
    },
    ClaimType.INSTITUTIONAL: {
        "71": "2310A",
        "72": "2310B",
        "ZZ": "2310C",
        "82": "2310D",
        "77": "2310E",
        "DN": "2310F",
    },
    ClaimType.DENTAL: {"DN": "2310A", "P3": "2310A", "82": "2310B", "77": "2310C", "DD": "2310D"},
}
LINE_PROVIDER_LOOPS: Final = {
    ClaimType.PROFESSIONAL: {
        "82": "2420A",
        "QB": "2420B",
        "77": "2420C",
        "DQ": "2420D",
        "DK": "2420E",
        "DN": "2420F",
        "P3": "2420F",
        "PW": "2420G",
        "45": "2420H",
    },
    ClaimType.INSTITUTIONAL: {"72": "2420A", "ZZ": "2420B", "82": "2420C", "DN": "2420D"},
    ClaimType.DENTAL: {"82": "2420A", "DD": "2420B", "DQ": "2420C", "77": "2420D"},
}

# The segments the reader handles, numbered for :meth:`TransactionReader.feed`, most frequent
# first: it calls each handler directly (native calls, compiled), where a table of functions
# would call through Python's calling convention.
_HANDLED: Final[dict[str, int]] = {
    "NM1": 1,
    "DTP": 2,
    "SV1": 3,
    "LX": 4,
    "REF": 5,
    "N4": 6,
    "N3": 7,
    "HI": 8,
    "CLM": 9,
    "PRV": 10,
    "HL": 11,
    "DMG": 12,
    "SBR": 13,
    "PAT": 14,
    "CAS": 15,
    "AMT": 16,
    "SVD": 17,
    "LIN": 18,
    "CTP": 19,
    "SV2": 20,
    "SV3": 21,
    "TOO": 22,
    "CL1": 23,
    "ST": 24,
    "BHT": 25,
    "SE": 26,
}
# The same numbers by segment code (structure.segment_code, which the walker leaves in
# GuideWalker.code for each segment): the dispatch reads a list, not a dict.
_HANDLED_BY_CODE: Final[list[int]] = []
for _sid, _which in _HANDLED.items():
    _code = segment_code(_sid)
    _HANDLED_BY_CODE.extend([0] * (_code + 1 - len(_HANDLED_BY_CODE)))
    _HANDLED_BY_CODE[_code] = _which
_NO_EVENTS: Final[tuple[Event, ...]] = ()
# Every segment fed has at least this many elements: no handler reads further, but for CAS,
# which pads itself to _CAS_PADDED. A split makes room for 12 elements, so that padding to 12
# takes no new memory.
_PADDED: Final = 12
_CAS_PADDED: Final = 24
_PAD: Final = ("",) * _CAS_PADDED
_PADS: Final = tuple(_PAD[n:] for n in range(_CAS_PADDED))  # what pads n elements to 24
_PADS_12: Final = tuple(_PAD[n:_PADDED] for n in range(_PADDED))  # ... n elements to 12
_ONE: Final = Decimal(1)  # the unit count of a line that gives none
# HL03 level code: the level its parent (HL02) must have; a billing provider has none
_HL_PARENT_LEVEL: Final[dict[str, str | None]] = {"20": None, "22": "20", "23": "22"}
_NO_PARTY: Final = Party("", "", "")

# Lengths the reader holds kept elements to (codes.ELEMENT_LENGTHS), as (min, max) pairs or,
# for several elements of one segment, (element, min, max) triples.
Limit = tuple[int, int]
_LENGTHS: Final = codes.ELEMENT_LENGTHS


def _limits(segment: str, *elements: int) -> tuple[tuple[int, int, int], ...]:
    """(element, min, max) of the ``elements`` of ``segment``."""
    limits: list[tuple[int, int, int]] = []
    for i in elements:
        low, high = _LENGTHS[f"{segment}{i:02d}"]
        limits.append((i, low, high))
    return tuple(limits)


_LAST_NAME: Final = _LENGTHS["NM103"]
_FIRST_NAME: Final = _LENGTHS["NM104"]
_MIDDLE_NAME: Final = _LENGTHS["NM105"]
_NAMES: Final = _limits("NM1", 3, 4, 5)
_NM108: Final = _LENGTHS["NM108"]
_NM109: Final = _LENGTHS["NM109"]
_ADDRESS_LINE: Final = _LENGTHS["N301"]
_ADDRESS_LINES: Final = _limits("N3", 1, 2)
_CITY: Final = _LENGTHS["N401"]
_STATE: Final = _LENGTHS["N402"]
_POSTAL_CODE: Final = _LENGTHS["N403"]
_REFERENCE: Final = _LENGTHS["REF02"]
_TAXONOMY: Final = _LENGTHS["PRV03"]
_BATCH_REFERENCE: Final = _LENGTHS["BHT03"]
_SUBSCRIBER_SBR: Final = _limits("SBR", 3, 5, 9)  # SBR02 is held to 18 there
_OTHER_PAYER_SBR: Final = _limits("SBR", 2, 3, 5, 9)
_CLAIM_ID: Final = _LENGTHS["CLM01"]
_INSTITUTIONAL_CODES: Final = _limits("CL1", 1, 2, 3)
_DIAGNOSIS_CODE: Final = _LENGTHS["HI01-02"]
_PRESENT_ON_ADMISSION: Final = _LENGTHS["HI01-09"]
_ADJUSTMENT_REASON: Final = _LENGTHS["CAS02"]
_PROCEDURE_CODE: Final = _LENGTHS["SV101-02"]
_MODIFIER: Final = _LENGTHS["SV101-03"]
_PROCEDURE_DESCRIPTION: Final = _LENGTHS["SV101-07"]
_PLACE_OF_SERVICE: Final = _LENGTHS["SV105"]
_REVENUE_CODE: Final = _LENGTHS["SV201"]
_ORAL_CAVITY: Final = _LENGTHS["SV304-01"]
_TOOTH: Final = _LENGTHS["TOO02"]
_SURFACE: Final = _LENGTHS["TOO03-01"]
_DRUG_UNIT: Final = _LENGTHS["CTP05-01"]
_OTHER_PAYER_ID: Final = _LENGTHS["SVD01"]
_BUNDLED_LINE: Final = _LENGTHS["SVD06"]
_AMOUNT_DIGITS: Final = _LENGTHS["CLM02"][1]  # every amount: element 782
_QUANTITY_DIGITS: Final = _LENGTHS["SV104"][1]  # every quantity: element 380


def _fits(value: str, limit: Limit) -> bool:
    """Whether ``value`` is empty (absent, which is not a length problem) or ``limit`` long."""
    n = len(value)
    return n <= limit[1] and (n >= limit[0] or n == 0)


# A batch spans few days: each text is parsed once (up to 8,192 of them); (0, 0, 0) is kept
# for a text that is not a date.
_DATE8_PARTS: Final[dict[str, tuple[int, int, int]]] = {}
_NOT_A_DATE: Final = (0, 0, 0)


def _date8_parts(text: str) -> tuple[int, int, int] | None:
    parts = _DATE8_PARTS.get(text)
    if parts is None:
        parts = _NOT_A_DATE
        if len(text) == 8 and text.isdigit():
            parts = int(text[:4]), int(text[4:6]), int(text[6:])
            try:
                date(*parts)
            except ValueError:
                parts = _NOT_A_DATE
        if len(_DATE8_PARTS) < 8192:
            _DATE8_PARTS[text] = parts
    return None if parts[1] == 0 else parts  # month 0: not a date


# The dates themselves, each made once (up to 8,192 of them), handed out again only while
# ``date`` is the class they were made of (freezegun's, in a test that freezes the clock, or
# the real one): what comes back is what ``date(...)`` would make now.
_DATE8: Final[dict[str, date]] = {}


def parse_date8(text: str) -> date | None:
    """CCYYMMDD as a date, or ``None``. (The cache of numbers stands whatever the ``date``
    class; a date made while a test's freezegun replaced the class must not outlive that test:
    a cached date is only handed out while ``date`` is still its class.)"""
    made = _DATE8.get(text)
    if made is not None and type(made) is date:
        return made
    parts = _date8_parts(text)
    if parts is None:
        return None
    made = date(*parts)
    if len(_DATE8) < 8192 or text in _DATE8:
        _DATE8[text] = made
    return made


# The same few pointer lists come back line after line: each is read once (up to 4,096 of
# them); (0,) is kept for a list holding a pointer that is not 1 to 12.
_POINTERS: Final[dict[tuple[str, str], tuple[int, ...]]] = {}
_BAD_POINTERS: Final = (0,)


def _well_formed_pointers(text: str, component: str) -> tuple[int, ...] | None:
    """The diagnosis pointers of ``text`` when each is 1 to 12, ``None`` when one is not."""
    key = (text, component)
    found = _POINTERS.get(key)
    if found is None:
        result: list[int] = []
        for p in text.split(component):
            if not p:
                continue
            if not p.isdigit() or not 1 <= int(p) <= 12:
                result = [0]
                break
            result.append(int(p))
        found = _BAD_POINTERS if result == [0] else tuple(result)
        if len(_POINTERS) < 4096:
            _POINTERS[key] = found
    return None if found == _BAD_POINTERS else found


class _Entity:
    """A party being read: the NM1 and the N3/N4/REF/DMG/PRV segments that follow it."""

    __slots__ = (
        "_party",
        "address",
        "birth_date",
        "entity_type",
        "first",
        "id",
        "id_qualifier",
        "last",
        "loop",
        "middle",
        "role",
        "sex",
        "taxonomy",
        "tin",
        "tin_qualifier",
    )

    def __init__(self, seg: Sequence[str], loop: str) -> None:
        self.role = seg[1]
        self.entity_type = seg[2]
        self.last = seg[3]
        self.first = seg[4]
        self.middle = seg[5]
        self.id_qualifier = seg[8]
        self.id = seg[9]
        self.loop = loop
        self.address: Address | None = None
        self.birth_date: date | None = None
        self.sex = ""
        self.taxonomy = ""
        self.tin = ""
        self.tin_qualifier = ""
        self._party: Party | None = None

    def provider(self) -> Provider:
        return Provider(
            self.role,  # role
            self.entity_type,  # entity_type
            self.last,  # last_name
            self.first,  # first_name
            self.middle,  # middle_name
            self.id if self.id_qualifier == "XX" else "",  # npi
            self.taxonomy,  # taxonomy
            self.tin,  # tin
            self.tin_qualifier,  # tin_qualifier
            self.address,  # address
        )

    def person(self, *, member_id: str | None = None) -> Person:
        """The entity as a Person, known by its own id or by ``member_id`` when given."""
        return Person(
            self.last,  # last_name
            self.first,  # first_name
            self.middle,  # middle_name
            self.id if member_id is None else member_id,  # member_id
            self.birth_date,  # birth_date
            self.sex,  # sex
            self.address,  # address
        )

    def party(self) -> Party:
        """The entity as a Party, built once: every claim under it shares the object."""
        if self._party is None:
            self._party = Party(self.last, self.id_qualifier, self.id, self.address)
        return self._party


class _OtherPayer:
    __slots__ = (
        "adjudicated_on",
        "adjustments",
        "claim_number",
        "filing",
        "insurance_type",
        "non_covered",
        "paid",
        "payer",
        "relationship",
        "remaining",
        "responsibility",
        "subscriber",
    )

    def __init__(self, seg: Sequence[str]) -> None:
        self.responsibility = seg[1]
        self.relationship = seg[2]
        self.insurance_type = seg[5]
        self.filing = seg[9]
        self.adjustments: list[Adjustment] = []
        self.paid: Decimal | None = None
        self.remaining: Decimal | None = None
        self.non_covered: Decimal | None = None
        self.subscriber: _Entity | None = None
        self.payer: _Entity | None = None
        self.adjudicated_on: date | None = None
        self.claim_number = ""

    def build(self) -> OtherPayer:
        return OtherPayer(
            responsibility=self.responsibility,
            relationship=self.relationship,
            payer_name=self.payer.last if self.payer else "",
            payer_id=self.payer.id if self.payer else "",
            subscriber=self.subscriber.person() if self.subscriber else None,
            paid_amount=self.paid,
            remaining_patient_liability=self.remaining,
            non_covered_amount=self.non_covered,
            adjustments=tuple(self.adjustments),
            adjudicated_on=self.adjudicated_on,
            claim_number=self.claim_number,
            insurance_type=self.insurance_type,
            claim_filing_indicator=self.filing,
        )


class _LineAdjudication:
    __slots__ = (
        "adjudicated_on",
        "adjustments",
        "bundled",
        "paid",
        "payer_id",
        "procedure",
        "units",
    )

    def __init__(
        self,
        payer_id: str,
        paid: Decimal,
        procedure: Procedure | None,
        units: Decimal,
        bundled: str,
    ) -> None:
        self.payer_id = payer_id
        self.paid = paid
        self.procedure = procedure
        self.units = units
        self.bundled = bundled
        self.adjustments: list[Adjustment] = []
        self.adjudicated_on: date | None = None

    def build(self) -> LineAdjudication:
        return LineAdjudication(
            payer_id=self.payer_id,
            paid_amount=self.paid,
            procedure=self.procedure,
            paid_units=self.units,
            adjustments=tuple(self.adjustments),
            adjudicated_on=self.adjudicated_on,
            bundled_line_number=self.bundled,
        )


class _Line:
    __slots__ = (
        "adjudications",
        "charge",
        "control_number",
        "emergency",
        "ndc",
        "ndc_quantity",
        "ndc_unit",
        "number",
        "oral_cavity",
        "place_of_service",
        "pointers",
        "position",
        "prior_authorization",
        "procedure",
        "rendering",
        "revenue_code",
        "service_from",
        "service_to",
        "teeth",
        "unit_type",
        "units",
    )

    def __init__(self, number: int, position: int) -> None:
        self.number = number
        self.position = position
        self.charge = ZERO
        self.units = _ONE
        self.unit_type = "UN"
        self.procedure: Procedure | None = None
        self.revenue_code = ""
        self.place_of_service = ""
        self.pointers: tuple[int, ...] = ()
        self.service_from: date | None = None
        self.service_to: date | None = None
        self.ndc = ""
        self.ndc_quantity: Decimal | None = None
        self.ndc_unit = ""
        self.teeth: list[Tooth] = []
        self.oral_cavity: tuple[str, ...] = ()
        self.emergency = False
        self.control_number = ""
        self.prior_authorization = ""
        self.rendering: Provider | None = None
        self.adjudications: list[_LineAdjudication] = []

    def build(self) -> ServiceLine:
        adjudications = tuple([a.build() for a in self.adjudications]) if self.adjudications else ()
        return ServiceLine(
            self.number,  # number
            self.charge,  # charge
            self.units,  # units
            self.unit_type,  # unit_type
            self.procedure,  # procedure
            self.revenue_code,  # revenue_code
            self.place_of_service,  # place_of_service
            self.pointers,  # diagnosis_pointers
            self.service_from,  # service_from
            self.service_to,  # service_to
            self.ndc,  # ndc
            self.ndc_quantity,  # ndc_quantity
            self.ndc_unit,  # ndc_unit
            tuple(self.teeth),  # teeth
            self.oral_cavity,  # oral_cavity
            self.emergency,  # emergency
            self.control_number,  # control_number
            self.prior_authorization,  # prior_authorization
            self.rendering,  # rendering
            adjudications,  # adjudications
            self.position,  # position
        )


class _Claim:
    __slots__ = (
        "admission_date",
        "admission_source",
        "admission_type",
        "charge",
        "claim_id",
        "clearinghouse_trace",
        "diagnoses",
        "discharge_date",
        "discharged",
        "facility_code",
        "facility_qualifier",
        "frequency_code",
        "issues",
        "lines",
        "original_claim_number",
        "other_payers",
        "patient_status",
        "position",
        "prior_authorization",
        "providers",
        "referral_number",
        "service_date",
        "statement_from",
        "statement_to",
    )

    def __init__(self, position: int) -> None:
        self.position = position
        self.claim_id = ""
        self.charge = ZERO
        self.facility_code = ""
        self.facility_qualifier = ""
        self.frequency_code = ""
        self.diagnoses: list[Diagnosis] = []
        self.providers: list[_Entity] = []
        self.other_payers: list[_OtherPayer] = []
        self.lines: list[_Line] = []
        self.original_claim_number = ""
        self.prior_authorization = ""
        self.referral_number = ""
        self.clearinghouse_trace = ""
        self.statement_from: date | None = None
        self.statement_to: date | None = None
        self.admission_date: date | None = None
        self.discharge_date: date | None = None
        self.discharged = False
        self.service_date: tuple[date | None, date | None] = (None, None)
        self.admission_type = ""
        self.admission_source = ""
        self.patient_status = ""
        self.issues: list[Issue] = []


class TransactionReader:
    """Reads one 837 transaction set, segment by segment (see the module docstring).

    :meth:`feed` takes each segment from ST to SE and returns the events it completes
    (a :class:`ClaimRead` when a claim ends); :meth:`finish` returns the closing
    :class:`TransactionEnd`.
    """

    def __init__(
        self,
        header: TransactionHeader,
        *,
        interchange: InterchangeHeader,
        group: GroupHeader,
        received_on: date | None = None,
    ) -> None:
        self.header = header
        self.interchange = interchange
        self.group = group
        self.kind = IMPLEMENTATIONS.get(header.implementation, ClaimType.PROFESSIONAL)
        self.component = interchange.delimiters.component
        self.repetition = interchange.delimiters.repetition
        self.position = 0
        self.loop = "HEADER"
        self.issues: list[Issue] = []
        self.suppressed = 0
        self.batch_reference = ""
        self._procedures: dict[str, Procedure] = {}
        self._diagnoses: dict[str, Diagnosis] = {}
        self.skip = False
        self.claims = 0
        self.unread_claims = 0  # CLMs after the reading stopped (see TransactionEnd)
        self.unread_charge = ZERO
        self.ended = False
        # hierarchy
        self.submitter: _Entity | None = None
        self.receiver: _Entity | None = None
        self.hl_levels: dict[str, str] = {}
        self.billing: _Entity | None = None
        self.billing_issues: list[Issue] = []
        self.subscriber: _Entity | None = None
        self.subscriber_issues: list[Issue] = []
        self.sbr: Sequence[str] = _PAD
        self.payer: _Entity | None = None
        self.patient: _Entity | None = None
        self.patient_issues: list[Issue] = []
        self.patient_relationship = ""
        self.level = ""  # the level code of the current HL: 20, 22 or 23
        self.sink = self.billing_issues
        # claim state
        self.claim: _Claim | None = None
        self.line: _Line | None = None
        self.other: _OtherPayer | None = None
        self.line_adj: _LineAdjudication | None = None
        self.entity: _Entity | None = None
        self.built_subscriber: Person | None = None
        self.built_patient: Person | None = None
        self.built_billing: Provider | None = None
        self.billing_taxonomy = ""
        self.pending_line_provider: _Entity | None = None
        # the guide's structure, every segment (claims_engine.x12.structure)
        self.walker = GuideWalker(
            compile_guide(_GUIDES[self.kind]),
            self.component,
            self.repetition,
            check_characters=False,  # interchange.py reports them (invalid_characters)
        )

    # -- issues -------------------------------------------------------------------------------
    def _report(self, issue: Issue) -> None:
        if len(self.issues) < MAX_REPORTED_ISSUES:
            self.issues.append(issue)
        else:
            self.suppressed += 1

    def add_envelope_issue(self, code: str, message: str, skip: bool = False) -> None:
        """A problem with the whole transaction set found by the envelope (IK5 code)."""
        self._report(transaction_issue(code, message, "ST", 1 if self.position == 0 else 0))
        self.skip = self.skip or skip

    def _structure(self, seg: Sequence[str], segment_error: str, message: str) -> None:
        """A structural problem: the transaction set is rejected on the 999."""
        self._report(
            Issue(
                code=f"X12-SEGMENT-{segment_error}",
                message=message,
                level=1,
                scope=Scope.TRANSACTION,
                location=Location(seg[0][:3], self.position, self.loop),
                syntax=Syntax(segment_error),
            )
        )

    def _element(
        self,
        seg: Sequence[str],
        element: int,
        element_error: str,
        message: str,
        status: tuple[ClaimStatus, ...],
        *,
        component: int = 0,
        level: int = 2,
        scope: Scope = Scope.CLAIM,
        code: str = "",
    ) -> None:
        """A problem with one element: reported on the 999 and, for claims, on the 277CA."""
        value = seg[element]
        if component and value:
            parts = value.split(self.component)
            value = parts[component - 1] if len(parts) >= component else ""
        issue = Issue(
            code=code or f"X12-ELEMENT-{element_error}",
            message=message,
            level=level,
            scope=scope,
            location=Location(seg[0], self.position, self.loop, element, component, "", value),
            status=status,
            syntax=Syntax(codes.SEG_ELEMENT_ERRORS, element_error),
        )
        self._report(issue)
        if scope is Scope.CLAIM:
            self.sink.append(issue)

    def _require(self, seg: Sequence[str], i: int, what: str, code: str, entity: str = "") -> str:
        v = seg[i]
        if not v:
            self._element(
                seg,
                i,
                codes.ELEM_MISSING,
                f"{what} ({seg[0]}{i:02d}) is missing",
                (ClaimStatus(A6, code, entity),),
            )
        return v

    def _wrong_length(
        self,
        seg: Sequence[str],
        i: int,
        n: int,
        limit: Limit,
        status: tuple[ClaimStatus, ...],
        *,
        component: int = 0,
        scope: Scope = Scope.CLAIM,
        unit: str = "characters",
    ) -> None:
        """``seg[i]`` (its ``component`` when given) is ``n`` long, outside ``limit``: 999 IK4
        code 5 (too long) or 4 (too short), and for a claim its rejection on the 277CA. Never
        cut to fit: whatever the engine echoes later must be what was sent. Level 1, as the
        X12 syntax it is, so that no trading partner's SNIP levels let it through."""
        low, high = limit
        name = f"{seg[0]}{i:02d}" + (f"-{component}" if component else "")
        if n > high:
            error, message = codes.ELEM_TOO_LONG, f"{name} has {n} {unit}, more than {high}"
        else:
            error, message = codes.ELEM_TOO_SHORT, f"{name} has {n} {unit}, fewer than {low}"
        self._element(seg, i, error, message, status, component=component, level=1, scope=scope)

    def _length(
        self,
        seg: Sequence[str],
        i: int,
        limit: Limit,
        code: str,
        entity: str = "",
        scope: Scope = Scope.CLAIM,
    ) -> bool:
        """Whether ``seg[i]`` is absent or ``limit`` long; reported when it is not."""
        v = seg[i]
        n = len(v)
        if n <= limit[1] and (n >= limit[0] or n == 0):
            return True
        status = (ClaimStatus(A7, code, entity),) if scope is Scope.CLAIM else ()
        self._wrong_length(seg, i, n, limit, status, scope=scope)
        return False

    def _lengths(
        self,
        seg: Sequence[str],
        limits: tuple[tuple[int, int, int], ...],
        code: str,
        entity: str = "",
        scope: Scope = Scope.CLAIM,
    ) -> None:
        """:meth:`_length` for several elements of ``seg``, as (element, min, max)."""
        for i, low, high in limits:
            n = len(seg[i])
            if n > high or 0 < n < low:
                status = (ClaimStatus(A7, code, entity),) if scope is Scope.CLAIM else ()
                self._wrong_length(seg, i, n, (low, high), status, scope=scope)

    def _component_length(
        self, seg: Sequence[str], i: int, component: int, value: str, limit: Limit, code: str
    ) -> bool:
        """Whether ``value``, component ``component`` of ``seg[i]``, is absent or ``limit``
        long; reported when it is not."""
        if _fits(value, limit):
            return True
        status = (ClaimStatus(A7, code),)
        self._wrong_length(seg, i, len(value), limit, status, component=component)
        return False

    def _composite_lengths(self, seg: Sequence[str], i: int, limit: Limit, code: str) -> None:
        """Every component of ``seg[i]`` within ``limit`` (a list such as tooth surfaces)."""
        for k, part in enumerate(seg[i].split(self.component), start=1):
            self._component_length(seg, i, k, part, limit, code)

    def _code(
        self,
        seg: Sequence[str],
        i: int,
        allowed: frozenset[str],
        what: str,
        code: str,
        entity: str = "",
        required: bool = True,
    ) -> str:
        v = seg[i]
        if not v:
            if required:
                self._require(seg, i, what, code, entity)
            return v
        if v not in allowed:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CODE,
                f"{what} ({seg[0]}{i:02d}) {v!r} is not one of {', '.join(sorted(allowed))}",
                (ClaimStatus(A7, code, entity),),
            )
        return v

    def _amount(
        self,
        seg: Sequence[str],
        i: int,
        what: str,
        code: str,
        required: bool = True,
        digits: int = _AMOUNT_DIGITS,
    ) -> Decimal | None:
        """An amount (or, with ``digits`` 15, a quantity) of at most ``digits`` digits."""
        v = seg[i]
        if not v:
            if required:
                self._require(seg, i, what, code)
            return None
        d = parse_x12_decimal(v)
        if d is None:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CHARACTER,
                f"{what} ({seg[0]}{i:02d}) {v!r} is not a number",
                (ClaimStatus(A7, code),),
            )
        elif len(v) > digits and x12_number_length(v) > digits:
            self._wrong_length(
                seg, i, x12_number_length(v), (1, digits), (ClaimStatus(A7, code),), unit="digits"
            )
        return d

    def _date(
        self,
        seg: Sequence[str],
        i: int,
        what: str,
        code: str,
        entity: str = "",
        required: bool = True,
    ) -> date | None:
        v = seg[i]
        if not v:
            if required:
                self._require(seg, i, what, code, entity)
            return None
        d = parse_date8(v)
        if d is None:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_DATE,
                f"{what} ({seg[0]}{i:02d}) {v!r} is not a date CCYYMMDD",
                (ClaimStatus(A7, code, entity),),
            )
        return d

    def _period(self, seg: Sequence[str], what: str, code: str) -> tuple[date | None, date | None]:
        """DTP02 D8 or RD8 and DTP03 as (from, to)."""
        fmt = seg[2]
        v = seg[3]
        if fmt == "D8":
            d = self._date(seg, 3, what, code)
            return d, d
        if fmt == "RD8":
            start, _, end = v.partition("-")
            d1, d2 = parse_date8(start), parse_date8(end)
            if d1 is None or d2 is None or d2 < d1:
                self._element(
                    seg,
                    3,
                    codes.ELEM_INVALID_DATE,
                    f"{what} ({seg[0]}03) {v!r} is not a date range CCYYMMDD-CCYYMMDD",
                    (ClaimStatus(A7, code),),
                    code="DATE-RANGE-INVALID",
                )
            return d1, d2
        self._element(
            seg,
            2,
            codes.ELEM_INVALID_CODE,
            f"DTP02 {fmt!r} is not D8 or RD8",
            (ClaimStatus(A7, code),),
        )
        return None, None

    def _procedure(
        self, seg: Sequence[str], i: int, allowed: frozenset[str], required: bool = True
    ) -> Procedure | None:
        v = seg[i]
        if not v:
            if required:
                self._require(seg, i, "procedure", codes.STATUS_PROCEDURE)
            return None
        known = self._procedures.get(v)
        if known is not None and known.qualifier in allowed:
            return known  # the same composite was read and found good before
        parts = v.split(self.component)
        qual = parts[0]
        code = parts[1] if len(parts) > 1 else ""
        if qual not in allowed:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CODE,
                f"procedure qualifier ({seg[0]}{i:02d}-1) {qual!r} is not one of "
                f"{', '.join(sorted(allowed))}",
                (ClaimStatus(A7, codes.STATUS_PROCEDURE),),
                component=1,
            )
        if not code:
            self._element(
                seg,
                i,
                codes.ELEM_MISSING,
                f"procedure code ({seg[0]}{i:02d}-2) is missing",
                (ClaimStatus(A6, codes.STATUS_PROCEDURE),),
                component=2,
            )
        mods = tuple(m for m in parts[2:6] if m)
        desc = parts[6] if len(parts) > 6 else ""
        fits = self._component_length(seg, i, 2, code, _PROCEDURE_CODE, codes.STATUS_PROCEDURE)
        for k in range(2, min(len(parts), 6)):
            if not self._component_length(
                seg, i, k + 1, parts[k], _MODIFIER, codes.STATUS_MODIFIER
            ):
                fits = False
        if not self._component_length(
            seg, i, 7, desc, _PROCEDURE_DESCRIPTION, codes.STATUS_PROCEDURE
        ):
            fits = False
        proc = Procedure(qual, code, mods, desc)
        if fits and qual in allowed and code and len(self._procedures) < 50_000:
            self._procedures[v] = proc
        return proc

    def invalid_characters(self, seg: list[str]) -> None:
        """The next segment fed holds characters outside the X12 character sets.

        They are reported (999 IK4 code 6, 277CA 511) and dropped from the segment, so that no
        acknowledgment echoes them back.
        """
        element = next((i for i, v in enumerate(seg) if INVALID_CHARACTER.search(v)), 0)
        for i, value in enumerate(seg):
            seg[i] = INVALID_CHARACTER.sub("", value)
        if not seg[0].isalnum():
            seg[0] = "UNK"
        in_claim = self.claim is not None or self.level in ("20", "22", "23")
        self.position += 1  # report against the segment about to be fed
        self._element(
            seg,
            element,
            codes.ELEM_INVALID_CHARACTER,
            f"{seg[0][:3]}{element:02d} holds a character outside the X12 character sets",
            (
                ClaimStatus(A7, codes.STATUS_INVALID_CHARACTER),
                ClaimStatus(A7, codes.STATUS_MISSING_OR_INVALID),
            ),
            scope=Scope.CLAIM if in_claim else Scope.TRANSACTION,
            code="INVALID-CHARACTER",
        )
        self.position -= 1

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, seg: list[str]) -> Sequence[Event]:
        self.position += 1
        if self.skip or self.ended:
            n = len(seg)
            if n < _PADDED:
                seg.extend(_PADS_12[n])
            if seg[0] == "SE":
                self._se(seg)
            elif seg[0] == "CLM" and not self.ended:
                self._unread(seg)
            return _NO_EVENTS
        # The guide's structure first, on the segment as it came (its element count matters),
        # while the loops it may close still have their claim and issue lists.
        found = self.walker.step(seg, self.position)
        if found:
            found = self._route_closing(seg[0], found)
        # Padded, every element a handler asks for exists: seg[9] is "" when NM1 stops at 3.
        n = len(seg)
        if n < _PADDED:
            seg.extend(_PADS_12[n])
        mark = len(self.issues)
        events: Sequence[Event] = _NO_EVENTS
        sid = seg[0]
        code = self.walker.code
        which = _HANDLED_BY_CODE[code] if code < len(_HANDLED_BY_CODE) else 0
        if which == 1:
            events = self._nm1(seg)
        elif which == 2:
            events = self._dtp(seg)
        elif which == 3:
            events = self._sv1(seg)
        elif which == 4:
            events = self._lx(seg)
        elif which == 5:
            events = self._ref(seg)
        elif which == 6:
            events = self._n4(seg)
        elif which == 7:
            events = self._n3(seg)
        elif which == 8:
            events = self._hi(seg)
        elif which == 9:
            events = self._clm(seg)
        elif which == 10:
            events = self._prv(seg)
        elif which == 11:
            events = self._hl(seg)
        elif which == 12:
            events = self._dmg(seg)
        elif which == 13:
            events = self._sbr(seg)
        elif which == 14:
            events = self._pat(seg)
        elif which == 15:
            events = self._cas(seg)
        elif which == 16:
            events = self._amt(seg)
        elif which == 17:
            events = self._svd(seg)
        elif which == 18:
            events = self._lin(seg)
        elif which == 19:
            events = self._ctp(seg)
        elif which == 20:
            events = self._sv2(seg)
        elif which == 21:
            events = self._sv3(seg)
        elif which == 22:
            events = self._too(seg)
        elif which == 23:
            events = self._cl1(seg)
        elif which == 24:
            events = self._st(seg)
        elif which == 25:
            events = self._bht(seg)
        elif which == 26:
            events = self._se(seg)
        elif sid not in KNOWN_SEGMENTS:
            self._structure(seg, codes.SEG_UNRECOGNIZED, f"unrecognized segment {sid[:3]!r}")
        elif sid in CLAIM_SEGMENTS and self.claim is None:
            self._structure(seg, codes.SEG_UNEXPECTED, f"{sid} outside a claim (no CLM before it)")
        if found:
            self._route_current(found, mark)
        return events

    # -- the guide's findings -----------------------------------------------------------------
    def _route_closing(self, sid: str, found: list[Finding]) -> list[Finding]:
        """Reports what the walker found missing in the loops this segment closes, to the
        claims and levels of those loops (before the handler closes them); returns the rest,
        the findings about this segment itself."""
        current: list[Finding] = []
        for f in found:
            if (
                f.position == self.position
                and f.segment_id == sid
                and f.segment_error
                not in (
                    codes.SEG_REQUIRED_MISSING,
                    codes.SEG_IMPL_DEPENDENT_MISSING,
                )
            ):
                current.append(f)
            else:
                self._report_finding(f)
        return current

    def _route_current(self, found: list[Finding], mark: int) -> None:
        """Reports the walker's findings about the current segment, after its handler, unless
        the handler reported them already (its issues from ``mark`` on)."""
        for f in unreported(found, self.issues[mark:]):
            self._report_finding(f)

    def _report_finding(self, f: Finding) -> None:
        level = f.level
        scope = Scope.TRANSACTION if level in _TRANSACTION_LEVELS else Scope.CLAIM
        if (level == "claim" and self.claim is None) or (
            f.loop == "2300" and f.segment_id == "CLM" and f.segment_error in _MISSING_SEGMENT
        ):
            # a required claim loop missing (a 2000C without its 2300): no claim to reject
            scope = Scope.TRANSACTION
        status: tuple[ClaimStatus, ...] = ()
        if scope is Scope.CLAIM:
            category = (
                A6
                if f.element_error in _MISSING_ELEMENT
                or (not f.element_error and f.segment_error in _MISSING_SEGMENT)
                else A7
            )
            code = _STATUS_BY_ELEMENT.get(
                (f.segment_id, f.element), codes.STATUS_MISSING_OR_INVALID
            )
            status = (ClaimStatus(category, code, _ENTITY_BY_LEVEL.get(level, "")),)
        issue = f.issue(scope, status)
        self._report(issue)
        if scope is Scope.CLAIM:
            if level == "billing":
                self.billing_issues.append(issue)
            elif level == "subscriber":
                self.subscriber_issues.append(issue)
            elif level == "patient":
                self.patient_issues.append(issue)
            elif self.claim is not None:
                self.claim.issues.append(issue)
            else:
                self.sink.append(issue)

    def _unread(self, seg: Sequence[str]) -> None:
        """A CLM the reader no longer reads: counted, its CLM02 summed when it is a number."""
        self.unread_claims += 1
        charge = parse_x12_decimal(seg[2]) if len(seg[2]) <= 18 else None
        if charge is not None:
            self.unread_charge += charge

    def finish(self) -> tuple[Event, ...]:
        events: list[Event] = []
        if self.claim is not None:
            events.append(self._close_claim())
        events.append(
            TransactionEnd(
                self.header,
                tuple(self.issues),
                self.position,
                self.claims,
                self.suppressed,
                self.unread_claims,
                self.unread_charge,
            )
        )
        return tuple(events)

    # -- envelope and header ------------------------------------------------------------------
    def _st(self, seg: list[str]) -> Sequence[Event]:
        return _NO_EVENTS

    def _se(self, seg: list[str]) -> Sequence[Event]:
        events: Sequence[Event] = _NO_EVENTS
        if not self.skip and not self.ended:
            for f in self.walker.finish(self.position):
                self._report_finding(f)
        if self.claim is not None:
            events = (self._close_claim(),)
        self.ended = True
        for issue in trailer_issues(seg, self.header.control, self.position):
            self._report(issue)
        if not self.skip and self.hl_levels == {}:
            self._structure(seg, codes.SEG_REQUIRED_MISSING, "no billing provider (HL 20) loop")
        return events

    def _bht(self, seg: list[str]) -> Sequence[Event]:
        self.batch_reference = seg[3]
        self._length(seg, 3, _BATCH_REFERENCE, "", scope=Scope.TRANSACTION)
        if self.position != 2:
            self._structure(seg, codes.SEG_OUT_OF_SEQUENCE, "BHT must follow ST")
        return _NO_EVENTS

    # -- hierarchy ----------------------------------------------------------------------------
    def _hl(self, seg: list[str]) -> Sequence[Event]:
        events: Sequence[Event] = _NO_EVENTS
        if self.claim is not None:
            events = (self._close_claim(),)
        if not self.hl_levels:
            if self.submitter is None:
                self._structure(seg, codes.SEG_REQUIRED_MISSING, "submitter (1000A NM1*41) missing")
            if self.receiver is None:
                self._structure(seg, codes.SEG_REQUIRED_MISSING, "receiver (1000B NM1*40) missing")
        hl_id, parent, level = seg[1], seg[2], seg[3]
        if level not in _HL_PARENT_LEVEL:
            self._element(
                seg,
                3,
                codes.ELEM_INVALID_CODE,
                f"HL03 {level!r} is not 20, 22 or 23",
                (),
                scope=Scope.TRANSACTION,
            )
            self.skip = True
            return events
        if not hl_id or hl_id in self.hl_levels:
            self._element(
                seg,
                1,
                codes.ELEM_INVALID_CODE,
                f"HL01 {hl_id!r} is missing or repeated",
                (),
                scope=Scope.TRANSACTION,
            )
        want = _HL_PARENT_LEVEL[level]
        if want is None:
            if parent:
                self._element(
                    seg,
                    2,
                    codes.ELEM_INVALID_CODE,
                    "HL02 must be empty for a billing provider",
                    (),
                    scope=Scope.TRANSACTION,
                )
        elif self.hl_levels.get(parent) != want:
            self._element(
                seg,
                2,
                codes.ELEM_INVALID_CODE,
                f"HL02 {parent!r} does not name an HL of level {want}",
                (),
                scope=Scope.TRANSACTION,
            )
            self.skip = True
            return events
        self.hl_levels[hl_id] = level
        self.level = level
        self.entity = None
        if level == "20":
            self.loop = "2000A"
            self.billing = None
            self.built_billing = None
            self.billing_issues = []
            self.billing_taxonomy = ""
            self.sink = self.billing_issues
            self.subscriber = None
            self.patient = None
        elif level == "22":
            self.loop = "2000B"
            self.subscriber = None
            self.built_subscriber = None
            self.payer = None
            self.sbr = _PAD
            self.subscriber_issues = []
            self.sink = self.subscriber_issues
            self.patient = None
            self.built_patient = None
            self.patient_relationship = ""
        else:
            self.loop = "2000C"
            self.patient = None
            self.built_patient = None
            self.patient_issues = []
            self.sink = self.patient_issues
            self.patient_relationship = ""
        return events

    def _nm1(self, seg: list[str]) -> Sequence[Event]:
        self._read_nm1(seg)
        self._name_lengths(seg)
        return _NO_EVENTS

    def _read_nm1(self, seg: list[str]) -> None:
        role = seg[1]
        if self.line is not None:
            loop = LINE_PROVIDER_LOOPS[self.kind].get(role, "2420")
            self.loop = loop
            ent = _Entity(seg, loop)
            self._check_provider(seg, ent, required_npi=False)
            if role == "82":
                self.pending_line_provider = ent
            self.entity = ent
            return
        if self.other is not None:
            loop = {"IL": "2330A", "PR": "2330B"}.get(role, "2330C")
            self.loop = loop
            ent = _Entity(seg, loop)
            if role == "IL":
                self.other.subscriber = ent
            elif role == "PR":
                self.other.payer = ent
                if not ent.id:
                    self._require(seg, 9, "other payer id", codes.STATUS_OTHER_PAYER_ID, "PR")
            self.entity = ent
            return
        if self.claim is not None:
            loop = CLAIM_PROVIDER_LOOPS[self.kind].get(role, "2310")
            self.loop = loop
            ent = _Entity(seg, loop)
            self._check_provider(seg, ent, required_npi=False)
            self.claim.providers.append(ent)
            self.entity = ent
            return
        ent = _Entity(seg, "")
        self.entity = ent
        if role == "41":
            self.loop = ent.loop = "1000A"
            self.submitter = ent
            if not ent.last or not ent.id:
                self._structure(seg, codes.SEG_ELEMENT_ERRORS, "submitter name or id missing")
        elif role == "40":
            self.loop = ent.loop = "1000B"
            self.receiver = ent
            if not ent.last or not ent.id:
                self._structure(seg, codes.SEG_ELEMENT_ERRORS, "receiver name or id missing")
        elif role == "85" and self.level == "20":
            self.loop = ent.loop = "2010AA"
            self.billing = ent
            ent.taxonomy = self.billing_taxonomy
            self._check_provider(seg, ent, required_npi=True)
        elif role in ("87", "PE") and self.level == "20":
            self.loop = ent.loop = "2010AB" if role == "87" else "2010AC"
        elif role == "IL" and self.level == "22":
            self.loop = ent.loop = "2010BA"
            self.subscriber = ent
            self._require(seg, 3, "subscriber last name", codes.STATUS_NAME, "IL")
            self._code(
                seg,
                8,
                MEMBER_ID_QUALIFIERS,
                "subscriber id qualifier",
                codes.STATUS_MEMBER_ID,
                "IL",
            )
            self._require(seg, 9, "subscriber member id", codes.STATUS_MEMBER_ID, "IL")
        elif role == "PR" and self.level == "22":
            self.loop = ent.loop = "2010BB"
            self.payer = ent
            self._require(seg, 3, "payer name", codes.STATUS_NAME, "PR")
            self._code(
                seg, 8, PAYER_ID_QUALIFIERS, "payer id qualifier", codes.STATUS_ID_NUMBER, "PR"
            )
            self._require(seg, 9, "payer id", codes.STATUS_ID_NUMBER, "PR")
        elif role == "QC" and self.level == "23":
            self.loop = ent.loop = "2010CA"
            self.patient = ent
            self._require(seg, 3, "patient last name", codes.STATUS_NAME, "QC")
        elif role in ("PW", "45", "DN", "P3", "82", "77", "71", "72", "ZZ", "DQ", "DK"):
            self._structure(seg, codes.SEG_UNEXPECTED, f"NM1*{role} outside a claim")
        else:
            self._structure(seg, codes.SEG_UNEXPECTED, f"NM1*{role} is not expected here")

    def _name_lengths(self, seg: Sequence[str]) -> None:
        """NM103 to NM105, NM108 and NM109 within their lengths: the 277CA and the 835 write
        names and ids back. In the header (1000A, 1000B) a wrong one rejects the transaction
        set, below it the claims of the loop."""
        ident, qualifier = seg[9], seg[8]
        if (
            len(seg[3]) <= _LAST_NAME[1]
            and len(seg[4]) <= _FIRST_NAME[1]
            and len(seg[5]) <= _MIDDLE_NAME[1]
            and len(qualifier) <= _NM108[1]
            and len(ident) <= _NM109[1]
            and (len(ident) >= _NM109[0] or not ident)
        ):
            return  # names have no minimum beyond one character, which an empty one is not
        role = seg[1]
        if not self.level:
            self._lengths(seg, _NAMES, "", scope=Scope.TRANSACTION)
            self._length(seg, 8, _NM108, "", scope=Scope.TRANSACTION)
            self._length(seg, 9, _NM109, "", scope=Scope.TRANSACTION)
            return
        if role in ("IL", "QC"):
            id_status = codes.STATUS_MEMBER_ID
        elif role == "PR":
            other = self.other is not None
            id_status = codes.STATUS_OTHER_PAYER_ID if other else codes.STATUS_ID_NUMBER
        else:
            id_status = codes.STATUS_NPI if qualifier == "XX" else codes.STATUS_ID_NUMBER
        self._lengths(seg, _NAMES, codes.STATUS_NAME, role)
        self._length(seg, 8, _NM108, id_status, role)
        self._length(seg, 9, _NM109, id_status, role)

    def _check_provider(self, seg: Sequence[str], ent: _Entity, *, required_npi: bool) -> None:
        role = ent.role
        self._code(seg, 2, ENTITY_TYPES, "entity type", codes.STATUS_NAME, role)
        if role not in ("PW", "45"):  # ambulance pick-up and drop-off locations have no name
            self._require(seg, 3, "provider name", codes.STATUS_NAME, role)
        if ent.id_qualifier or required_npi:
            if ent.id_qualifier != "XX" and required_npi:
                self._code(
                    seg, 8, frozenset({"XX"}), "provider id qualifier", codes.STATUS_NPI, role
                )
            npi = ent.id
            if not npi and (required_npi or ent.id_qualifier):
                self._require(seg, 9, "provider NPI", codes.STATUS_NPI, role)
            elif (
                npi
                and ent.id_qualifier == "XX"
                and not (len(npi) == 10 and npi.isdigit())
                and _fits(npi, _NM109)  # else its length is what is reported
            ):
                self._element(
                    seg,
                    9,
                    codes.ELEM_PATTERN,
                    f"NPI {npi!r} is not ten digits",
                    (ClaimStatus(A7, codes.STATUS_NPI, role),),
                    code="NPI-NOT-TEN-DIGITS",
                )

    def _prv(self, seg: list[str]) -> Sequence[Event]:
        taxonomy = seg[3]
        if self.entity is not None and self.entity.loop not in ("", "1000A", "1000B"):
            self.entity.taxonomy = taxonomy
            self._length(seg, 3, _TAXONOMY, codes.STATUS_TAXONOMY, self.entity.role)
        elif self.level == "20" and self.billing is None:
            self.billing_taxonomy = taxonomy
            self._length(seg, 3, _TAXONOMY, codes.STATUS_TAXONOMY, codes.ENTITY_BILLING)
        return _NO_EVENTS

    def _n3(self, seg: list[str]) -> Sequence[Event]:
        ent = self.entity
        if ent is not None:
            line1 = self._require(seg, 1, "address line", codes.STATUS_STREET, ent.role)
            if len(line1) > _ADDRESS_LINE[1] or len(seg[2]) > _ADDRESS_LINE[1]:  # N301, N302
                self._lengths(seg, _ADDRESS_LINES, codes.STATUS_STREET, ent.role)
            ent.address = Address(line1, seg[2])
        return _NO_EVENTS

    def _n4(self, seg: list[str]) -> Sequence[Event]:
        ent = self.entity
        if ent is None:
            return _NO_EVENTS
        city = self._require(seg, 1, "city", codes.STATUS_CITY, ent.role)
        state = seg[2]
        postal = seg[3]
        country = seg[4]
        if not (_fits(city, _CITY) and _fits(state, _STATE)):
            self._length(seg, 1, _CITY, codes.STATUS_CITY, ent.role)
            self._length(seg, 2, _STATE, codes.STATUS_STATE, ent.role)
        if country:  # outside the US the postal code has no shape, only a length
            self._length(seg, 3, _POSTAL_CODE, codes.STATUS_POSTAL_CODE, ent.role)
        if ent.loop == "2010AA" and not country:
            # Billing provider: the guide asks for the nine-digit ZIP code in the US.
            if not (len(postal) == 9 and postal.isdigit()):
                self._element(
                    seg,
                    3,
                    codes.ELEM_PATTERN,
                    f"billing provider ZIP code {postal!r} must be nine digits (ZIP+4)",
                    (ClaimStatus(A7, codes.STATUS_POSTAL_CODE, "85"),),
                    code="BILLING-ZIP-NOT-NINE-DIGITS",
                )
        elif postal and not country and not (len(postal) in (5, 9) and postal.isdigit()):
            self._element(
                seg,
                3,
                codes.ELEM_PATTERN,
                f"ZIP code {postal!r} must be five or nine digits",
                (ClaimStatus(A7, codes.STATUS_POSTAL_CODE, ent.role),),
                code="ZIP-CODE-SHAPE",
            )
        base = ent.address or Address("")
        ent.address = Address(base.line1, base.line2, city, state, postal)
        return _NO_EVENTS

    def _ref(self, seg: list[str]) -> Sequence[Event]:
        qual, value = seg[1], seg[2]
        if len(value) > _REFERENCE[1] and qual != "EI":  # an EIN has its own shape
            entity = self.entity
            if qual == "SY" and entity is not None:
                self._length(seg, 2, _REFERENCE, codes.STATUS_TAX_ID, entity.role)
            else:
                scope = Scope.CLAIM if self.level else Scope.TRANSACTION
                self._length(seg, 2, _REFERENCE, codes.STATUS_MISSING_OR_INVALID, scope=scope)
        if self.line is not None and self.entity is None and self.line_adj is None:
            if qual == "6R":
                self.line.control_number = value
            elif qual == "G1":
                self.line.prior_authorization = value
            return _NO_EVENTS
        if self.claim is not None and self.entity is None and self.other is None:
            c = self.claim
            if qual == "F8":
                c.original_claim_number = value
            elif qual == "G1":
                c.prior_authorization = value
            elif qual == "9F":
                c.referral_number = value
            elif qual == "D9":
                c.clearinghouse_trace = value
            return _NO_EVENTS
        ent = self.entity
        if self.other is not None and self.entity is not None and self.entity.role == "PR":
            if qual == "F8":
                self.other.claim_number = value
            return _NO_EVENTS
        if ent is not None and qual in ("EI", "SY"):
            ent.tin, ent.tin_qualifier = value, qual
            if qual == "EI" and not (len(value) == 9 and value.isdigit()):
                self._element(
                    seg,
                    2,
                    codes.ELEM_PATTERN,
                    f"employer id number {value!r} must be nine digits",
                    (ClaimStatus(A7, codes.STATUS_TAX_ID, ent.role),),
                    code="EIN-NOT-NINE-DIGITS",
                )
        return _NO_EVENTS

    def _dmg(self, seg: list[str]) -> Sequence[Event]:
        ent = self.entity
        if ent is None or ent.role not in ("IL", "QC"):
            return _NO_EVENTS
        if self.other is not None:
            return _NO_EVENTS
        if seg[1] != "D8":
            self._code(
                seg,
                1,
                frozenset({"D8"}),
                "date format qualifier",
                codes.STATUS_BIRTH_DATE,
                ent.role,
            )
        ent.birth_date = self._date(seg, 2, "birth date", codes.STATUS_BIRTH_DATE, ent.role)
        ent.sex = self._code(seg, 3, SEX_CODES, "sex", codes.STATUS_GENDER, ent.role)
        return _NO_EVENTS

    def _sbr(self, seg: list[str]) -> Sequence[Event]:
        if self.claim is not None:
            # 2320: another payer of this claim.
            self.line = None
            self.line_adj = None
            self.entity = None
            self.loop = "2320"
            self.other = _OtherPayer(seg)
            self.claim.other_payers.append(self.other)
            self._code(
                seg,
                1,
                PAYER_RESPONSIBILITY,
                "other payer responsibility",
                codes.STATUS_INCONSISTENT,
                "PR",
            )
            self._lengths(seg, _OTHER_PAYER_SBR, codes.STATUS_MISSING_OR_INVALID, "PR")
            return _NO_EVENTS
        if self.level != "22":
            self._structure(seg, codes.SEG_UNEXPECTED, "SBR outside a subscriber (HL 22) loop")
            return _NO_EVENTS
        self.sbr = seg
        self._code(
            seg,
            1,
            PAYER_RESPONSIBILITY,
            "payer responsibility sequence",
            codes.STATUS_INCONSISTENT,
            "PR",
        )
        rel = seg[2]
        if rel and rel != "18":
            self._element(
                seg,
                2,
                codes.ELEM_INVALID_CODE,
                f"SBR02 {rel!r}: only 18 (self) may be sent for the subscriber",
                (ClaimStatus(A7, codes.STATUS_RELATIONSHIP),),
            )
        self._lengths(seg, _SUBSCRIBER_SBR, codes.STATUS_MISSING_OR_INVALID, "IL")
        return _NO_EVENTS

    def _pat(self, seg: list[str]) -> Sequence[Event]:
        if self.level == "23":
            self.patient_relationship = self._code(
                seg, 1, RELATIONSHIP_CODES, "patient relationship", codes.STATUS_RELATIONSHIP
            )
        return _NO_EVENTS

    # -- claim --------------------------------------------------------------------------------
    def _clm(self, seg: list[str]) -> Sequence[Event]:
        events: Sequence[Event] = _NO_EVENTS
        if self.claim is not None:
            events = (self._close_claim(),)
        self.loop = "2300"
        if self.level not in ("22", "23") or self.subscriber is None or self.billing is None:
            self._structure(
                seg, codes.SEG_UNEXPECTED, "CLM without a billing provider and subscriber above it"
            )
            self.skip = True
            self._unread(seg)
            return events
        if self.level == "22" and self.sbr[2] != "18":
            self._structure(
                seg,
                codes.SEG_UNEXPECTED,
                "CLM under a subscriber who is not the patient (SBR02 is not 18)",
            )
        if self.level == "23" and self.patient is None:
            self._structure(seg, codes.SEG_REQUIRED_MISSING, "patient (2010CA NM1*QC) missing")
        claim = _Claim(self.position)
        self.claim = claim
        self.sink = claim.issues
        self.line = None
        self.other = None
        self.line_adj = None
        self.entity = None
        claim.claim_id = self._require(
            seg, 1, "claim submitter's identifier", codes.STATUS_CLAIM_ID
        )
        self._length(seg, 1, _CLAIM_ID, codes.STATUS_CLAIM_ID)
        charge = self._amount(seg, 2, "total claim charge", codes.STATUS_CHARGES)
        claim.charge = charge if charge is not None else ZERO
        facility = seg[5]
        parts = facility.split(self.component) if facility else []
        fcode = parts[0] if parts else ""
        fqual = parts[1] if len(parts) > 1 else ""
        freq = parts[2] if len(parts) > 2 else ""
        is_inst = self.kind is ClaimType.INSTITUTIONAL
        fstatus = codes.STATUS_PLACE_OF_SERVICE
        if not fcode:
            self._element(
                seg,
                5,
                codes.ELEM_MISSING,
                "facility code (CLM05-1) is missing",
                (ClaimStatus(A6, fstatus),),
                component=1,
            )
        elif not (len(fcode) == 2 and fcode.isalnum()):
            self._element(
                seg,
                5,
                codes.ELEM_INVALID_CODE,
                f"facility code (CLM05-1) {fcode!r} is not two characters",
                (ClaimStatus(A7, fstatus),),
                component=1,
            )
        want_qual = "A" if is_inst else "B"
        if fqual != want_qual:
            self._element(
                seg,
                5,
                codes.ELEM_INVALID_CODE,
                f"facility code qualifier (CLM05-2) {fqual!r} must be {want_qual}",
                (ClaimStatus(A7, fstatus),),
                component=2,
            )
        if not freq:
            self._element(
                seg,
                5,
                codes.ELEM_MISSING,
                "claim frequency code (CLM05-3) is missing",
                (ClaimStatus(A6, codes.STATUS_FREQUENCY),),
                component=3,
            )
        elif len(freq) != 1 or not freq.isalnum():
            self._element(
                seg,
                5,
                codes.ELEM_INVALID_CODE,
                f"claim frequency code (CLM05-3) {freq!r} is not one character",
                (ClaimStatus(A7, codes.STATUS_FREQUENCY),),
                component=3,
            )
        claim.facility_code, claim.facility_qualifier, claim.frequency_code = fcode, fqual, freq
        return events

    def _dtp(self, seg: list[str]) -> Sequence[Event]:
        qual = seg[1]
        if self.line_adj is not None and qual == "573":
            self.line_adj.adjudicated_on = self._date(
                seg, 3, "adjudication date", codes.STATUS_SERVICE_DATES
            )
            return _NO_EVENTS
        if self.other is not None and self.line is None:
            if qual == "573":
                self.other.adjudicated_on = self._date(
                    seg, 3, "adjudication date", codes.STATUS_SERVICE_DATES
                )
            return _NO_EVENTS
        if self.line is not None:
            if qual == "472":
                self.line.service_from, self.line.service_to = self._period(
                    seg, "line date of service", codes.STATUS_SERVICE_DATES
                )
            return _NO_EVENTS
        c = self.claim
        if c is None:
            return _NO_EVENTS
        if qual == "434":
            c.statement_from, c.statement_to = self._period(
                seg, "statement dates", codes.STATUS_STATEMENT_DATES
            )
        elif qual == "435":
            v = seg[3]
            if seg[2] == "DT":
                v = v[:8]
            c.admission_date = parse_date8(v)
            if c.admission_date is None:
                self._element(
                    seg,
                    3,
                    codes.ELEM_INVALID_DATE,
                    f"admission date {v!r} is invalid",
                    (ClaimStatus(A7, codes.STATUS_ADMISSION_DATE),),
                )
        elif qual == "096":
            if seg[2] == "D8":  # professional: the discharge date itself
                c.discharge_date = self._date(seg, 3, "discharge date", codes.STATUS_SERVICE_DATES)
            else:  # institutional: the discharge hour; the date is the statement's last day
                c.discharged = True
        elif qual == "472":
            c.service_date = self._period(seg, "date of service", codes.STATUS_SERVICE_DATES)
        return _NO_EVENTS

    def _cl1(self, seg: list[str]) -> Sequence[Event]:
        if self.claim is not None:
            self.claim.admission_type = seg[1]
            self.claim.admission_source = seg[2]
            self.claim.patient_status = seg[3]
            self._lengths(seg, _INSTITUTIONAL_CODES, codes.STATUS_MISSING_OR_INVALID)
        return _NO_EVENTS

    def _hi(self, seg: list[str]) -> Sequence[Event]:
        c = self.claim
        if c is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "HI outside a claim (no CLM before it)")
            return _NO_EVENTS
        comp = self.component
        for i in range(1, min(len(seg), 13)):
            v = seg[i]
            if not v:
                continue
            known = self._diagnoses.get(v)
            if known is not None:
                c.diagnoses.append(known)  # the same composite was read and found good before
                continue
            parts = v.split(comp)
            qual = parts[0]
            code = parts[1] if len(parts) > 1 else ""
            if qual in DIAGNOSIS_QUALIFIERS:
                status = (
                    codes.STATUS_PRINCIPAL_DIAGNOSIS
                    if qual in PRINCIPAL_QUALIFIERS
                    else codes.STATUS_DIAGNOSIS
                )
                if not code:
                    self._element(
                        seg,
                        i,
                        codes.ELEM_MISSING,
                        f"diagnosis code (HI{i:02d}-2) missing",
                        (ClaimStatus(A6, status),),
                        component=2,
                    )
                    continue
                poa = parts[8] if len(parts) > 8 else ""
                diagnosis = Diagnosis(qual, code, poa)
                fits = self._component_length(seg, i, 2, code, _DIAGNOSIS_CODE, status)
                if not self._component_length(seg, i, 9, poa, _PRESENT_ON_ADMISSION, status):
                    fits = False
                if fits and len(self._diagnoses) < 50_000:
                    self._diagnoses[v] = diagnosis
                c.diagnoses.append(diagnosis)
            elif qual not in OTHER_HI_QUALIFIERS:
                self._element(
                    seg,
                    i,
                    codes.ELEM_INVALID_CODE,
                    f"HI{i:02d}-1 {qual!r} is not a code list qualifier",
                    (ClaimStatus(A7, codes.STATUS_DIAGNOSIS),),
                    component=1,
                )
        return _NO_EVENTS

    def _amt(self, seg: list[str]) -> Sequence[Event]:
        other = self.other
        if other is not None and self.line is None:
            qual = seg[1]
            amount = self._amount(seg, 2, f"AMT*{qual}", codes.STATUS_INCONSISTENT)
            if qual == "D":
                other.paid = amount
            elif qual == "EAF":
                other.remaining = amount
            elif qual == "A8":
                other.non_covered = amount
        return _NO_EVENTS

    def _cas(self, seg: list[str]) -> Sequence[Event]:
        n = len(seg)
        if n < _CAS_PADDED:  # it reads up to CAS19
            seg.extend(_PADS[n])
        target: list[Adjustment] | None = None
        if self.line_adj is not None:
            target = self.line_adj.adjustments
        elif self.other is not None and self.line is None:
            target = self.other.adjustments
        if target is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "CAS outside loops 2320 and 2430")
            return _NO_EVENTS
        group = self._code(seg, 1, ADJUSTMENT_GROUPS, "adjustment group", codes.STATUS_INCONSISTENT)
        for i in range(2, min(len(seg), 20), 3):
            reason = seg[i]
            if not reason:
                continue
            if len(reason) > _ADJUSTMENT_REASON[1]:
                self._length(seg, i, _ADJUSTMENT_REASON, codes.STATUS_INCONSISTENT)
            amount = self._amount(seg, i + 1, "adjustment amount", codes.STATUS_INCONSISTENT)
            qty = self._amount(
                seg,
                i + 2,
                "adjustment quantity",
                codes.STATUS_INCONSISTENT,
                required=False,
                digits=_QUANTITY_DIGITS,
            )
            target.append(Adjustment(group, reason, amount if amount is not None else ZERO, qty))
        return _NO_EVENTS

    # -- service lines ------------------------------------------------------------------------
    def _lx(self, seg: list[str]) -> Sequence[Event]:
        c = self.claim
        if c is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "LX outside a claim (no CLM before it)")
            return _NO_EVENTS
        self._end_line()
        self.other = None
        self.entity = None
        self.loop = "2400"
        v = seg[1]
        expected = len(c.lines) + 1
        if v != str(expected):
            self._element(
                seg,
                1,
                codes.ELEM_INVALID_CODE,
                f"LX01 {v!r} should be {expected}: lines are numbered from 1",
                (ClaimStatus(A7, codes.STATUS_INCONSISTENT),),
            )
        self.line = _Line(expected, self.position)
        self.pending_line_provider = None
        c.lines.append(self.line)
        return _NO_EVENTS

    def _end_line(self) -> None:
        line = self.line
        if line is not None:
            pending = self.pending_line_provider
            if pending is not None:
                line.rendering = pending.provider()
                self.pending_line_provider = None
        self.line = None
        self.line_adj = None

    def _service_line(self, seg: list[str]) -> _Line | None:
        line = self.line
        if line is None or line.procedure is not None or line.revenue_code:
            self._structure(seg, codes.SEG_UNEXPECTED, f"{seg[0]} without its LX")
            return None
        self.loop = "2400"
        self.entity = None
        return line

    def _units(self, seg: list[str], i: int) -> Decimal:
        units = self._amount(
            seg, i, "service unit count", codes.STATUS_UNITS, digits=_QUANTITY_DIGITS
        )
        if units is not None and units <= 0:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CODE,
                f"unit count {units} must be positive",
                (ClaimStatus(A7, codes.STATUS_UNITS),),
            )
        return units if units is not None else _ONE

    def _pointers(self, seg: list[str], i: int) -> tuple[int, ...]:
        v = seg[i]
        if not v:
            return ()
        well_formed = _well_formed_pointers(v, self.component)
        if well_formed is not None:
            return well_formed
        result: list[int] = []
        for p in v.split(self.component):
            if not p:
                continue
            if not p.isdigit() or not 1 <= int(p) <= 12:
                self._element(
                    seg,
                    i,
                    codes.ELEM_INVALID_CODE,
                    f"diagnosis pointer {p!r} is not 1 to 12",
                    (ClaimStatus(A7, codes.STATUS_DIAGNOSIS),),
                )
                continue
            result.append(int(p))
        return tuple(result)

    def _sv1(self, seg: list[str]) -> Sequence[Event]:
        line = self._service_line(seg)
        if line is None:
            return _NO_EVENTS
        line.procedure = self._procedure(seg, 1, PROCEDURE_QUALIFIERS["SV1"])
        charge = self._amount(seg, 2, "line charge", codes.STATUS_LINE_CHARGE)
        line.charge = charge if charge is not None else ZERO
        line.unit_type = self._code(seg, 3, UNIT_TYPES[self.kind], "unit type", codes.STATUS_UNITS)
        line.units = self._units(seg, 4)
        line.place_of_service = seg[5]
        if len(seg[5]) > _PLACE_OF_SERVICE[1]:
            self._length(seg, 5, _PLACE_OF_SERVICE, codes.STATUS_PLACE_OF_SERVICE)
        line.pointers = self._pointers(seg, 7)
        line.emergency = seg[9] == "Y"
        return _NO_EVENTS

    def _sv2(self, seg: list[str]) -> Sequence[Event]:
        line = self._service_line(seg)
        if line is None:
            return _NO_EVENTS
        rev = self._require(seg, 1, "revenue code", codes.STATUS_REVENUE_CODE)
        if len(rev) > _REVENUE_CODE[1]:
            self._length(seg, 1, _REVENUE_CODE, codes.STATUS_REVENUE_CODE)
        line.revenue_code = rev
        line.procedure = self._procedure(seg, 2, PROCEDURE_QUALIFIERS["SV2"], required=False)
        charge = self._amount(seg, 3, "line charge", codes.STATUS_LINE_CHARGE)
        line.charge = charge if charge is not None else ZERO
        line.unit_type = self._code(seg, 4, UNIT_TYPES[self.kind], "unit type", codes.STATUS_UNITS)
        line.units = self._units(seg, 5)
        return _NO_EVENTS

    def _sv3(self, seg: list[str]) -> Sequence[Event]:
        line = self._service_line(seg)
        if line is None:
            return _NO_EVENTS
        line.procedure = self._procedure(seg, 1, PROCEDURE_QUALIFIERS["SV3"])
        charge = self._amount(seg, 2, "line charge", codes.STATUS_LINE_CHARGE)
        line.charge = charge if charge is not None else ZERO
        line.place_of_service = seg[3]
        if len(seg[3]) > _PLACE_OF_SERVICE[1]:
            self._length(seg, 3, _PLACE_OF_SERVICE, codes.STATUS_PLACE_OF_SERVICE)
        cavity = seg[4]
        line.oral_cavity = tuple(c for c in cavity.split(self.component) if c) if cavity else ()
        if len(cavity) > _ORAL_CAVITY[1]:  # else no designation in it can be too long
            self._composite_lengths(seg, 4, _ORAL_CAVITY, codes.STATUS_ORAL_CAVITY)
        count = seg[6]
        line.units = self._units(seg, 6) if count else _ONE
        line.pointers = self._pointers(seg, 11)
        return _NO_EVENTS

    def _too(self, seg: list[str]) -> Sequence[Event]:
        line = self.line
        if line is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "TOO outside a service line")
            return _NO_EVENTS
        self._code(seg, 1, frozenset({"JP"}), "tooth code qualifier", codes.STATUS_TOOTH)
        tooth = self._require(seg, 2, "tooth number", codes.STATUS_TOOTH)
        if len(tooth) > _TOOTH[1]:
            self._length(seg, 2, _TOOTH, codes.STATUS_TOOTH)
        surfaces = seg[3]
        if len(surfaces) > _SURFACE[1]:
            self._composite_lengths(seg, 3, _SURFACE, codes.STATUS_SURFACE)
        line.teeth.append(
            Tooth(tooth, tuple(s for s in surfaces.split(self.component) if s) if surfaces else ())
        )
        return _NO_EVENTS

    def _lin(self, seg: list[str]) -> Sequence[Event]:
        line = self.line
        if line is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "LIN outside a service line")
            return _NO_EVENTS
        self.loop = "2410"
        self.entity = None
        if seg[2] == "N4":
            ndc = self._require(seg, 3, "national drug code", codes.STATUS_NDC)
            if ndc and not (len(ndc) == 11 and ndc.isdigit()):
                self._element(
                    seg,
                    3,
                    codes.ELEM_PATTERN,
                    f"NDC {ndc!r} must be eleven digits",
                    (ClaimStatus(A7, codes.STATUS_NDC),),
                    code="NDC-SHAPE",
                )
            line.ndc = ndc
        return _NO_EVENTS

    def _ctp(self, seg: list[str]) -> Sequence[Event]:
        line = self.line
        if line is not None and self.loop == "2410":
            line.ndc_quantity = self._amount(
                seg, 4, "drug quantity", codes.STATUS_NDC, digits=_QUANTITY_DIGITS
            )
            unit = seg[5]
            line.ndc_unit = unit.split(self.component)[0] if unit else ""
            self._component_length(seg, 5, 1, line.ndc_unit, _DRUG_UNIT, codes.STATUS_NDC)
        return _NO_EVENTS

    def _svd(self, seg: list[str]) -> Sequence[Event]:
        line = self.line
        if line is None:
            self._structure(seg, codes.SEG_UNEXPECTED, "SVD outside a service line")
            return _NO_EVENTS
        self.loop = "2430"
        self.entity = None
        payer = self._require(seg, 1, "other payer id", codes.STATUS_OTHER_PAYER_ID)
        self._length(seg, 1, _OTHER_PAYER_ID, codes.STATUS_OTHER_PAYER_ID)
        paid = self._amount(seg, 2, "other payer paid amount", codes.STATUS_INCONSISTENT)
        proc = self._procedure(seg, 3, ADJUDICATED_PROCEDURE_QUALIFIERS, required=False)
        units = self._amount(seg, 5, "paid units", codes.STATUS_UNITS, digits=_QUANTITY_DIGITS)
        self._length(seg, 6, _BUNDLED_LINE, codes.STATUS_INCONSISTENT)
        self.line_adj = _LineAdjudication(
            payer,
            paid if paid is not None else ZERO,
            proc,
            units if units is not None else ZERO,
            seg[6],
        )
        line.adjudications.append(self.line_adj)
        return _NO_EVENTS

    # -- building -----------------------------------------------------------------------------
    def _close_claim(self) -> ClaimRead:
        self._end_line()
        c = self.claim
        assert c is not None
        self.claim = None
        self.other = None
        self.entity = None
        self.claims += 1
        if self.built_billing is None:
            assert self.billing is not None
            self.built_billing = self.billing.provider()
        if self.built_subscriber is None:
            assert self.subscriber is not None
            self.built_subscriber = self.subscriber.person()
        subscriber = self.built_subscriber
        if self.level == "23" and self.patient is not None:
            if self.built_patient is None:
                # The patient has no id of their own in 5010: they are known by the subscriber's.
                self.built_patient = self.patient.person(member_id=subscriber.member_id)
            patient, relationship = self.built_patient, self.patient_relationship
        else:
            patient, relationship = subscriber, "18"
        # Lines without their own date take the claim's (dental, professional) date.
        if c.service_date[0] is not None:
            for ln in c.lines:
                if ln.service_from is None:
                    ln.service_from, ln.service_to = c.service_date
        if c.discharged:
            c.discharge_date = c.statement_to
        payer = self.payer.party() if self.payer is not None else _NO_PARTY
        ix = self.interchange
        claim = Claim(
            self.kind,  # claim_type
            c.claim_id,  # claim_id
            c.charge,  # total_charge
            c.facility_code,  # facility_code
            c.facility_qualifier,  # facility_qualifier
            c.frequency_code,  # frequency_code
            self.submitter.party() if self.submitter else _NO_PARTY,  # submitter
            self.receiver.party() if self.receiver else _NO_PARTY,  # receiver
            self.built_billing,  # billing_provider
            subscriber,  # subscriber
            patient,  # patient
            relationship,  # patient_relationship
            payer,  # payer
            self.sbr[1],  # payer_responsibility
            tuple([ln.build() for ln in c.lines]),  # lines
            Source(
                ix.control,  # interchange_control
                ix.sender_id,  # sender_id
                self.group.control,  # group_control
                self.header.control,  # transaction_control
                self.header.implementation,  # implementation
                c.position,  # position
                self.batch_reference,  # batch_reference
            ),  # source
            tuple(c.diagnoses),  # diagnoses
            tuple([p.provider() for p in c.providers]),  # providers
            tuple([o.build() for o in c.other_payers]),  # other_payers
            self.sbr[3],  # group_number
            self.sbr[9],  # claim_filing_indicator
            c.original_claim_number,  # original_claim_number
            c.prior_authorization,  # prior_authorization
            c.referral_number,  # referral_number
            c.statement_from,  # statement_from
            c.statement_to,  # statement_to
            c.admission_date,  # admission_date
            c.discharge_date,  # discharge_date
            c.admission_type,  # admission_type
            c.admission_source,  # admission_source
            c.patient_status,  # patient_status
            c.clearinghouse_trace,  # clearinghouse_trace
        )
        inherited = [*self.billing_issues, *self.subscriber_issues]
        if self.level == "23":
            inherited += self.patient_issues
        self.sink = self.patient_issues if self.level == "23" else self.subscriber_issues
        return ClaimRead(claim, (*inherited, *c.issues))


# The guide table of each claim type, and how the walker's findings reach the acknowledgments.
_GUIDES: Final[dict[ClaimType, str]] = {
    ClaimType.PROFESSIONAL: "837p",
    ClaimType.INSTITUTIONAL: "837i",
    ClaimType.DENTAL: "837d",
}
_TRANSACTION_LEVELS: Final = frozenset({"header", "hierarchy"})
_MISSING_ELEMENT: Final = frozenset(
    {codes.ELEM_MISSING, codes.ELEM_CONDITIONAL_MISSING, codes.ELEM_IMPL_DEPENDENT_MISSING}
)
_MISSING_SEGMENT: Final = frozenset({codes.SEG_REQUIRED_MISSING, codes.SEG_IMPL_DEPENDENT_MISSING})
_ENTITY_BY_LEVEL: Final = {
    "billing": codes.ENTITY_BILLING,
    "subscriber": codes.ENTITY_SUBSCRIBER,
    "patient": codes.ENTITY_PATIENT,
}
# The 277CA status (code source 508) that names an element; others are 21, "missing or invalid
# information", with the entity of their level.
_STATUS_BY_ELEMENT: Final[dict[tuple[str, int], str]] = {
    ("NM1", 3): codes.STATUS_NAME,
    ("NM1", 4): codes.STATUS_NAME,
    ("NM1", 9): codes.STATUS_ID_NUMBER,
    ("N3", 0): codes.STATUS_ADDRESS,
    ("N3", 1): codes.STATUS_STREET,
    ("N4", 0): codes.STATUS_ADDRESS,
    ("N4", 1): codes.STATUS_CITY,
    ("N4", 2): codes.STATUS_STATE,
    ("N4", 3): codes.STATUS_POSTAL_CODE,
    ("DMG", 2): codes.STATUS_BIRTH_DATE,
    ("DMG", 3): codes.STATUS_GENDER,
    ("SBR", 2): codes.STATUS_RELATIONSHIP,
    ("PAT", 1): codes.STATUS_RELATIONSHIP,
    ("CLM", 1): codes.STATUS_CLAIM_ID,
    ("CLM", 2): codes.STATUS_CHARGES,
    ("HI", 1): codes.STATUS_DIAGNOSIS,
    ("SV1", 1): codes.STATUS_PROCEDURE,
    ("SV1", 2): codes.STATUS_LINE_CHARGE,
    ("SV1", 4): codes.STATUS_UNITS,
    ("SV2", 1): codes.STATUS_REVENUE_CODE,
    ("SV2", 2): codes.STATUS_PROCEDURE,
    ("SV2", 3): codes.STATUS_LINE_CHARGE,
    ("SV2", 5): codes.STATUS_UNITS,
    ("SV3", 1): codes.STATUS_PROCEDURE,
    ("SV3", 2): codes.STATUS_LINE_CHARGE,
    ("TOO", 2): codes.STATUS_TOOTH,
    ("TOO", 3): codes.STATUS_SURFACE,
    ("DTP", 3): codes.STATUS_SERVICE_DATES,
}
