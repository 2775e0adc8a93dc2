"""The 278 reader: a health care services review request (005010X217), or an inquiry about
one (005010X215), into frozen dataclasses.

A 278 request asks the payer (the utilization management organization, UMO) to certify care
before it is given, through a hierarchy of HL loops::

    ISA GS*HI ST*278 BHT*0007*13
      2000A HL 20  2010A NM1*X3                           the UMO asked
        2000B HL 21  2010B NM1*1P|FA [REF N3 N4 PER PRV]  the requester
          2000C HL 22  2010C NM1*IL [REF N3 N4 DMG INS]   the subscriber
            [2000D HL 23  2010D NM1*QC [REF N3 N4 DMG INS]]  the dependent, when the patient
              2000E HL EV  [TRN*1] UM [REF*BB|NT] [DTP] [HI] [HSD] [CRC CL1 CR1..CR8 PWK MSG]
                           2010E NM1 (providers, transport) [REF N3 N4 PER PRV]
                2000F HL SS  [TRN*1] [UM] [REF*BB|NT] [DTP*472] [SV1|SV2|SV3 TOO] [HSD]
                             2010F NM1 (providers) [REF N3 N4 PER PRV]
    SE GE IEA

Each patient event (2000E) is one :class:`ReviewEvent` carrying the parties above it, its
trace numbers (TRN, echoed in the response as ``TRN*2``), the review asked for (UM: request
category, certification type, service type, facility, level of service), the dates asked
about, the diagnoses (HI: ICD-10 ``ABK``/``ABF``/``ABJ``/``ABN``, and the ICD-9 ``BK``/``BF``
/``BJ``/``BN`` of older files), the quantities (HSD: days, visits, units), a home health
certification period (CR6), the providers
(2010E NM1) and its services (2000F, :class:`ReviewService`: procedure or revenue code with
modifiers, units, service dates, providers).

A request that refers to an earlier one (UM02 ``3`` cancel, ``4`` extension, ``R`` renewal,
``S`` revised, ``1``/``2`` appeal; REF*BB the earlier certification number, REF*NT its
administrative reference) says so in :attr:`ReviewEvent.kind` and
:attr:`ReviewEvent.previous_authorization`: the deciding service answers it with the earlier
request's current state.

An inquiry (the 005010X215 guide's "Health Care Services Review - Inquiry and Response", GS08
and ST03 ``005010X215``) has the same HL tree: each patient event asks where an earlier request
stands, naming it by its certification number (REF*BB), the payer's administrative reference
(REF*NT) or the requester's trace of it (TRN*1); it asks nothing to be decided, and is read as
an event whose :attr:`ReviewEvent.inquiry` is true. Its BHT02 is read as ``28`` (query) or
``13`` (request): every public X215 inquiry found sends 28, and the guide's own code list for
BHT02 could not be checked, so both are taken (docs/prior-auth.md). UM02 may be left out, and
BHT06 is read past; the event still needs its UM (as in X217: not confirmed for X215).

Urgency is UM06, the level of service: ``03`` emergency and ``U`` urgent ask for an expedited
review, ``E`` elective (or none) a standard one (:attr:`ReviewEvent.expedited`).

Whether the payer knows the member, or the requester may ask for them, is not this module's
business (the response says it with AAA segments); only a broken envelope or structure makes
the request :class:`Unreadable` (a TA1 or a 999, as for a 270). There is no guide table of the
278 in :mod:`claims_engine.x12.guides` (pyx12, from which most are derived, has no 5010 278
map): the checks are the reader's own, of the HL tree, the segments it reads and their
places, and the values it keeps. The guide's own example of a non-emergency transportation
request nests its services (an ``SS`` whose HL02 names an ``SS``): such a service is read as
one of its parent's event. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from claims_engine.domain.money import parse_x12_decimal
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    ENVELOPE_SEGMENTS,
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
    TransactionHeader,
    trailer_issues,
)
from claims_engine.x12.envelope_walk import EnvelopeSpec, SetReader, Unreadable, read_interchange
from claims_engine.x12.reader270 import Trace
from claims_engine.x12.reader276 import NO_ENTITY, Entity, TooManyInquiries
from claims_engine.x12.reader837 import parse_date8
from claims_engine.x12.tokenizer import INVALID_CHARACTER

__all__ = [
    "Delivery",
    "Diagnosis",
    "Entity",
    "Review",
    "ReviewEvent",
    "ReviewRequest",
    "ReviewService",
    "ReviewTransaction",
    "ServiceCode",
    "TooManyInquiries",
    "Trace",
    "Unreadable",
    "read_278",
]

IMPLEMENTATION = "005010X217"
INQUIRY_IMPLEMENTATION = "005010X215"  # inquiry and response
FUNCTIONAL_ID = "HI"
TRANSACTION_SET = "278"
SPEC = EnvelopeSpec(
    FUNCTIONAL_ID,
    TRANSACTION_SET,
    (IMPLEMENTATION, INQUIRY_IMPLEMENTATION),
    "health care services review request or inquiry",
)
# BHT02 of a request (13; 01 cancellation) and of an inquiry (28 query, as public X215
# samples send it; 13 request: the guide's list was not available to check)
REQUEST_PURPOSES = frozenset({"01", "13"})
INQUIRY_PURPOSES = frozenset({"13", "28"})

UMO, REQUESTER, SUBSCRIBER, DEPENDENT, EVENT, SERVICE = "20", "21", "22", "23", "EV", "SS"
# HL03 level code -> (the levels its parent may be, NM101 codes of its name, its loop, its
# name's loop); an event's and a service's NM1s are their providers (any number of them)
LEVELS: dict[str, tuple[frozenset[str], frozenset[str], str, str]] = {
    UMO: (frozenset({""}), frozenset({"X3"}), "2000A", "2010A"),
    REQUESTER: (frozenset({UMO}), frozenset({"1P", "FA"}), "2000B", "2010B"),
    SUBSCRIBER: (frozenset({REQUESTER}), frozenset({"IL"}), "2000C", "2010C"),
    DEPENDENT: (frozenset({SUBSCRIBER}), frozenset({"QC"}), "2000D", "2010D"),
    EVENT: (frozenset({SUBSCRIBER, DEPENDENT}), frozenset(), "2000E", "2010EA"),
    SERVICE: (frozenset({EVENT, SERVICE}), frozenset(), "2000F", "2010FA"),
}
LEVEL_NAMES = {
    UMO: "utilization management organization",
    REQUESTER: "requester",
    SUBSCRIBER: "subscriber",
    DEPENDENT: "dependent",
    EVENT: "patient event",
    SERVICE: "service",
}
# NM108 of the named levels (a 5010 dependent has no id of its own)
ID_QUALIFIERS = {
    UMO: frozenset({"24", "46", "PI", "XV", "XX"}),
    REQUESTER: frozenset({"24", "34", "46", "XX"}),
    SUBSCRIBER: frozenset({"MI"}),
}
NAME_LENGTHS = (
    (3, "last or organization name", 60),
    (4, "first name", 35),
    (5, "middle name", 25),
    (7, "suffix", 10),
)
# Segments read past (addresses, contacts, provider taxonomies, clinical details the engine
# does not decide on); where they may come is checked, not their values.
PASSED = frozenset(
    {"N3", "N4", "PER", "PRV", "INS", "CRC", "CL1", "CR1", "CR2", "CR4", "CR5", "CR7"}
    | {"CR8", "PWK", "MSG", "TOO"}
)
# what a party's loop (after its NM1) may hold; the rest belongs before the first NM1 of an
# event or service
AFTER_NAME = frozenset({"REF", "N3", "N4", "PER", "PRV", "DMG", "INS"})
# UM02 certification types (005010X217): what the request asks of the UMO
CERTIFICATION_TYPES = {
    "I": "initial",
    "1": "appeal",  # immediate
    "2": "appeal",  # standard
    "3": "cancel",
    "4": "extension",
    "R": "renewal",
    "S": "revision",
}
# UM06 level of service: 03 emergency, E elective, U urgent
LEVELS_OF_SERVICE = frozenset({"03", "E", "U"})
EXPEDITED = frozenset({"03", "U"})
# UM01 request category: AR admission review, HS health services review, SC specialty care
# review (IN individual: the 4010 code the guide's example of a reservation still writes)
REQUEST_CATEGORIES = frozenset({"AR", "HS", "SC", "IN"})
# DTP01 of an event: 439 accident, 484 last menstrual period, ABC estimated birth, 431 onset,
# AAH event, 435 admission, 096 discharge; of a service: 472 service date
EVENT_DATES = frozenset({"439", "484", "ABC", "431", "AAH", "435", "096"})
SERVICE_DATES = frozenset({"472"})
# HI01-1 of a diagnosis: ICD-10-CM principal, other, admitting, external cause, patient's
# reason for visit; the ICD-9-CM ones; DRG
ICD10_DIAGNOSES = frozenset({"ABK", "ABF", "ABJ", "ABN", "APR"})
ICD9_DIAGNOSES = frozenset({"BK", "BF", "BJ", "BN", "PR"})
DIAGNOSIS_QUALIFIERS = ICD10_DIAGNOSES | ICD9_DIAGNOSES | frozenset({"DR"})
# REF01 of an event or service (before its providers): BB the earlier certification number,
# NT the earlier administrative reference number
PREVIOUS_REFERENCES = frozenset({"BB", "NT"})
MAX_DIAGNOSES = 12
MAX_MODIFIERS = 4
_PAD = ("",) * 16


# -- what a request holds -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Diagnosis:
    """An HI composite: its qualifier (ABK principal ICD-10 ...), code and date (HI0n-4)."""

    qualifier: str
    code: str
    on: date | None = None

    @property
    def icd10(self) -> bool:
        return self.qualifier in ICD10_DIAGNOSES


@dataclass(frozen=True, slots=True)
class ServiceCode:
    """SV101 / SV202 / SV301: a procedure (HC CPT/HCPCS, AD dental, N4 drug ...) and its
    modifiers."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivery:
    """An HSD: how much is asked (HSD01 qualifier DY days, VS visits, FL units, HS hours, MN
    months; HSD02 the number) and how it is spread (HSD03 unit, HSD04 modulus, HSD05 period
    qualifier, HSD06 periods, HSD07 pattern, HSD08 time)."""

    qualifier: str
    quantity: Decimal | None
    unit: str = ""
    modulus: str = ""
    period: str = ""
    periods: str = ""
    pattern: str = ""
    time: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """The UM segment: what kind of review is asked (kept as read, to be echoed)."""

    category: str  # UM01
    certification_type: str  # UM02
    service_type: str = ""  # UM03
    facility: tuple[str, ...] = ()  # UM04 components: facility code, its qualifier (A/B)
    related_causes: tuple[str, ...] = ()  # UM05 components
    level_of_service: str = ""  # UM06

    @property
    def kind(self) -> str:
        """What the request asks: initial, appeal, cancel, extension, renewal or revision."""
        return CERTIFICATION_TYPES.get(self.certification_type, "initial")


@dataclass(frozen=True, slots=True)
class ReviewService:
    """One service asked for (loop 2000F)."""

    hl_id: str
    position: int  # the segment of its HL in its transaction set (ST is 1)
    traces: tuple[Trace, ...] = ()
    review: Review | None = None
    previous_authorization: str = ""  # REF*BB
    previous_reference: str = ""  # REF*NT
    service_from: date | None = None  # DTP*472
    service_to: date | None = None
    kind: str = ""  # SV1 professional, SV2 institutional, SV3 dental ("": none)
    procedure: ServiceCode | None = None
    revenue_code: str = ""  # SV201
    amount: Decimal | None = None  # SV102 / SV203 / SV302
    unit_basis: str = ""  # SV103 / SV204: UN units, MJ minutes, DA days
    units: Decimal | None = None  # SV104 / SV205 / SV306
    delivery: tuple[Delivery, ...] = ()
    providers: tuple[Entity, ...] = ()

    @property
    def servicing_npis(self) -> tuple[str, ...]:
        return tuple(p.npi for p in self.providers if p.npi)


@dataclass(frozen=True, slots=True)
class ReviewEvent:
    """One patient event (loop 2000E): the parties above it, the review asked for, and its
    services. ``levels`` are the HL ids of its UMO, requester, subscriber, dependent (``""``
    when none) and of the event itself, so a response can mirror the request's hierarchy."""

    umo: Entity
    requester: Entity
    subscriber: Entity
    dependent: Entity | None
    levels: tuple[str, str, str, str, str]
    position: int
    review: Review
    traces: tuple[Trace, ...] = ()
    previous_authorization: str = ""  # REF*BB
    previous_reference: str = ""  # REF*NT
    dates: tuple[tuple[str, date, date], ...] = ()  # DTP: qualifier, from, through
    diagnoses: tuple[Diagnosis, ...] = ()
    delivery: tuple[Delivery, ...] = ()
    providers: tuple[Entity, ...] = ()
    services: tuple[ReviewService, ...] = ()
    care_period: tuple[date, date] | None = None  # CR6-04: a home health certification period
    inquiry: bool = False  # an X215 inquiry: asks where an earlier request stands

    @property
    def member_id(self) -> str:
        """The member id of the request (the subscriber's: a 5010 dependent has none)."""
        return self.subscriber.id

    @property
    def patient(self) -> Entity:
        return self.dependent or self.subscriber

    @property
    def requester_npi(self) -> str:
        return self.requester.npi

    @property
    def servicing_npis(self) -> tuple[str, ...]:
        """The NPIs of the event's providers and its services', each once, in order."""
        found = [p.npi for p in self.providers if p.npi]
        found += [n for s in self.services for n in s.servicing_npis]
        return tuple(dict.fromkeys(found))

    @property
    def kind(self) -> str:
        return self.review.kind

    @property
    def refers_to_earlier(self) -> bool:
        """Whether the request is about an earlier one (an appeal, a cancel, an extension, a
        renewal, a revision, or one naming an earlier certification or reference)."""
        return self.kind != "initial" or bool(
            self.previous_authorization or self.previous_reference
        )

    @property
    def expedited(self) -> bool:
        """UM06 03 (emergency) or U (urgent): an expedited review; else a standard one."""
        return self.review.level_of_service in EXPEDITED

    @property
    def urgency(self) -> str:
        return "expedited" if self.expedited else "standard"

    @property
    def trace_number(self) -> str:
        return self.traces[0].number if self.traces else ""

    def date_of(self, qualifier: str) -> tuple[date, date] | None:
        """The first DTP of ``qualifier`` (AAH event, 435 admission ...) as (from, through)."""
        for q, start, end in self.dates:
            if q == qualifier:
                return start, end
        return None


@dataclass(frozen=True, slots=True)
class ReviewTransaction:
    """One 278 transaction set: its ST, its functional group, BHT03 and BHT06, its events."""

    header: TransactionHeader
    group: GroupHeader
    reference: str  # BHT03
    events: tuple[ReviewEvent, ...]
    transaction_type: str = ""  # BHT06: RU medical services reservation

    @property
    def implementation(self) -> str:
        """ST03: 005010X217 (request for review) or 005010X215 (inquiry)."""
        return self.header.implementation

    @property
    def inquiry(self) -> bool:
        return self.header.implementation == INQUIRY_IMPLEMENTATION


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    """A readable 278 request interchange."""

    interchange: InterchangeHeader
    transactions: tuple[ReviewTransaction, ...]

    @property
    def control(self) -> str:
        """ISA13."""
        return self.interchange.control

    @property
    def events(self) -> tuple[ReviewEvent, ...]:
        return tuple(e for t in self.transactions for e in t.events)


# -- reading --------------------------------------------------------------------------------------
def read_278(
    data: bytes, *, max_events: int | None = None
) -> ReviewRequest | Unreadable | TooManyInquiries:
    """Read one 278 request interchange (see the module docstring); with ``max_events``, stop
    at the patient event HL over that many before reading further."""
    asked = 0

    def limit(seg: list[str], position: int) -> TooManyInquiries | None:
        nonlocal asked
        if seg[0] == "HL" and len(seg) > 3 and seg[3] == EVENT:
            asked += 1
            if max_events is not None and asked > max_events:
                return TooManyInquiries(max_events, position, "patient events")
        return None

    read = read_interchange(data, SPEC, _Transaction, stop=limit)
    if isinstance(read, Unreadable | TooManyInquiries):
        return read
    header, transactions = read
    return ReviewRequest(header, transactions)


# -- the transaction set --------------------------------------------------------------------------
@dataclass(slots=True)
class _Level:
    hl_id: str
    level: str
    parent: str
    position: int
    entity: Entity | None = None  # the level's name (20 to 23)
    named: bool = False  # an NM1 was read (an event's or service's provider loop began)
    traces: list[Trace] = field(default_factory=list)
    review: Review | None = None
    previous_authorization: str = ""
    previous_reference: str = ""
    dates: list[tuple[str, date, date]] = field(default_factory=list)
    care_period: tuple[date, date] | None = None
    diagnoses: list[Diagnosis] = field(default_factory=list)
    delivery: list[Delivery] = field(default_factory=list)
    providers: list[Entity] = field(default_factory=list)
    kind: str = ""
    procedure: ServiceCode | None = None
    revenue_code: str = ""
    amount: Decimal | None = None
    unit_basis: str = ""
    units: Decimal | None = None
    event: str = ""  # a service's event (its HL id)
    children: int = 0


class _Transaction:
    """Reads one 278 transaction set from ST to SE (see the module docstring)."""

    def __init__(
        self, header: TransactionHeader, group: GroupHeader, component: str, repetition: str = ""
    ) -> None:
        # the checks the set readers share (by composition: a class of the interpreter
        # cannot inherit from a compiled one)
        self.s = SetReader(header, group, component, repetition)
        self.inquiry = header.implementation == INQUIRY_IMPLEMENTATION
        self.reference = ""
        self.transaction_type = ""
        self.bht = False
        self.levels: dict[str, _Level] = {}
        self.current: _Level | None = None

    def envelope(self, code: str, message: str, skip: bool = False) -> None:
        """A problem of the whole set found by the envelope (IK5 ``code``)."""
        self.s.envelope(code, message, skip)

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, seg: list[str], bad: bool) -> None:
        self.s.position += 1
        if self.s.skip or self.s.ended:
            if seg[0] == "SE":
                self._se([*seg, *_PAD])
            return
        if bad:
            element = next((i for i, v in enumerate(seg) if INVALID_CHARACTER.search(v)), 0)
            seg = [INVALID_CHARACTER.sub("", v) for v in seg]
            self.s._element(
                seg,
                element,
                codes.ELEM_INVALID_CHARACTER,
                f"{seg[0][:3] or 'UNK'}{element:02d} holds a character outside the X12 "
                "character sets",
            )
        padded = [*seg, *_PAD]
        sid = seg[0]
        handler = _HANDLERS.get(sid)
        if handler is not None:
            handler(self, padded)
        elif sid in PASSED:
            self._passed(sid)
        elif sid in ENVELOPE_SEGMENTS:
            self.s._structure(sid, codes.SEG_UNEXPECTED, f"{sid} is not expected here")
        else:
            self.s._structure(
                sid if sid.isalnum() else "UNK",
                codes.SEG_UNRECOGNIZED,
                f"unrecognized segment {sid[:3]!r}",
            )

    def _st(self, seg: list[str]) -> None:
        if self.s.position != 1:
            self.s._structure("ST", codes.SEG_UNEXPECTED, "ST inside a transaction set")

    def _bht(self, seg: list[str]) -> None:
        if self.s.position != 2 or self.bht:
            self.s._structure("BHT", codes.SEG_OUT_OF_SEQUENCE, "BHT must follow ST, once")
        self.bht = True
        self.s._code(seg, 1, frozenset({"0007"}), "hierarchical structure code")
        purposes = INQUIRY_PURPOSES if self.inquiry else REQUEST_PURPOSES
        self.s._code(seg, 2, purposes, "transaction set purpose (13 request)")
        self.reference = self.s._required(seg, 3, "submitter transaction identifier")
        self.s._length(seg, 3, "submitter transaction identifier", 50)
        when = self.s._required(seg, 4, "creation date")
        if when and parse_date8(when) is None:
            self.s._element(seg, 4, codes.ELEM_INVALID_DATE, f"BHT04 {when!r} is not a date")
        if seg[6] and not self.inquiry:
            self.transaction_type = self.s._code(seg, 6, frozenset({"RU"}), "transaction type")

    def _passed(self, sid: str) -> None:
        """A segment read past: it belongs to a requester, subscriber or dependent after its
        NM1, or to an event or service (before or after its providers' NM1)."""
        current = self.current
        if current is None or current.level == UMO:
            self.s._structure(sid, codes.SEG_UNEXPECTED, f"{sid} outside a party or an event")
        elif current.level in (REQUESTER, SUBSCRIBER, DEPENDENT) and (
            current.entity is None or sid not in AFTER_NAME
        ):
            self.s._structure(
                sid, codes.SEG_UNEXPECTED, f"{sid} is not expected in the {_name(current)}"
            )

    # -- hierarchy ----------------------------------------------------------------------------
    def _hl(self, seg: list[str]) -> None:
        if not self.bht:
            self.bht = True  # reported once
            self.s._structure("BHT", codes.SEG_REQUIRED_MISSING, "BHT is missing", loop="HEADER")
        self._close_level()
        hl_id, parent_id, level = seg[1], seg[2], seg[3]
        spec = LEVELS.get(level)
        if spec is None:
            self.s._element(
                seg, 3, codes.ELEM_INVALID_CODE, f"HL03 {level!r} is not 20, 21, 22, 23, EV or SS"
            )
            self.s.skip = True
            return
        self.s.loop = spec[2]
        if not hl_id or hl_id in self.levels:
            self.s._element(
                seg, 1, codes.ELEM_INVALID_CODE, f"HL01 {hl_id!r} is missing or repeated"
            )
            self.s.skip = True  # the hierarchy cannot be told apart any more
            return
        parents = spec[0]
        parent = self.levels.get(parent_id)
        if "" in parents:
            if parent_id:
                self.s._element(seg, 2, codes.ELEM_INVALID_CODE, "HL02 must be empty for the UMO")
        elif parent is None or parent.level not in parents:
            wanted = " or ".join(sorted(parents))
            self.s._element(
                seg,
                2,
                codes.ELEM_INVALID_CODE,
                f"HL02 {parent_id!r} does not name an HL of level {wanted} before it",
            )
            self.s.skip = True
            return
        level_read = _Level(hl_id, level, parent_id if parent else "", self.s.position)
        if parent is not None:
            parent.children += 1
            if level == SERVICE:
                level_read.event = parent.hl_id if parent.level == EVENT else parent.event
        self.current = self.levels[hl_id] = level_read

    def _close_level(self) -> None:
        """The HL just left must have had its NM1 (20 to 23) or its UM (an event)."""
        current = self.current
        if current is None:
            return
        if current.level in (UMO, REQUESTER, SUBSCRIBER, DEPENDENT) and current.entity is None:
            _, entities, _, name_loop = LEVELS[current.level]
            self.s._structure(
                "NM1",
                codes.SEG_REQUIRED_MISSING,
                f"the {_name(current)} (HL {current.hl_id}) has no NM1 "
                f"({'/'.join(sorted(entities))})",
                loop=name_loop,
            )
            current.entity = NO_ENTITY
        elif current.level == EVENT and current.review is None:
            self.s._structure(
                "UM",
                codes.SEG_REQUIRED_MISSING,
                f"the patient event (HL {current.hl_id}) has no UM",
                loop="2000E",
            )

    def _event_level(self, sid: str, *, service: bool = True) -> _Level | None:
        """The event or service the segment ``sid`` belongs to (before its providers)."""
        current = self.current
        allowed = (EVENT, SERVICE) if service else (EVENT,)
        if current is None or current.level not in allowed:
            where = "an event or a service" if service else "a patient event"
            self.s._structure(sid, codes.SEG_UNEXPECTED, f"{sid} outside {where}")
            return None
        if current.named:
            self.s._structure(
                sid,
                codes.SEG_OUT_OF_SEQUENCE,
                f"{sid} must come before the {_name(current)}'s providers (NM1)",
            )
            return None
        return current

    def _trn(self, seg: list[str]) -> None:
        current = self._event_level("TRN")
        if current is None:
            return
        if current.review is not None or len(current.traces) >= 2:
            self.s._structure(
                "TRN", codes.SEG_OUT_OF_SEQUENCE, "TRN comes first in an event or service, twice"
            )
            return
        self.s._code(seg, 1, frozenset({"1"}), "trace type (1 current transaction trace)")
        number = self.s._required(seg, 2, "trace number")
        self.s._length(seg, 2, "trace number", 50)
        self.s._required(seg, 3, "trace assigning entity identifier")
        self.s._length(seg, 3, "trace assigning entity identifier", 10, low=10)
        self.s._length(seg, 4, "trace assigning entity additional identifier", 50)
        current.traces.append(Trace(number, seg[3], seg[4]))

    def _nm1(self, seg: list[str]) -> None:
        current = self.current
        if current is None:
            self.s._structure("NM1", codes.SEG_UNEXPECTED, "NM1 outside an HL")
            return
        level = current.level
        _, entities, _, name_loop = LEVELS[level]
        self.s.loop = name_loop
        self.s._code(seg, 2, frozenset({"1", "2"}), "entity type")
        for i, what, high in NAME_LENGTHS:
            self.s._length(seg, i, what, high)
        self.s._length(seg, 9, "identifier", 80, low=2)
        if seg[8] == "XX" and not (len(seg[9]) == 10 and seg[9].isdigit()):
            self.s._element(seg, 9, codes.ELEM_INVALID_CODE, f"NPI {seg[9]!r} is not ten digits")
        if seg[8] and not seg[9]:
            self.s._element(seg, 9, codes.ELEM_MISSING, "NM109 is missing after its NM108")
        entity = Entity(
            entity=seg[1],
            entity_type=seg[2],
            last_name=seg[3],
            first_name=seg[4],
            middle_name=seg[5],
            suffix=seg[7],
            id_qualifier=seg[8],
            id=seg[9],
        )
        if level in (EVENT, SERVICE):
            entity_code = self.s._required(seg, 1, "entity identifier")
            if entity_code and not (len(entity_code) <= 3 and entity_code.isalnum()):
                self.s._element(
                    seg, 1, codes.ELEM_INVALID_CODE, f"NM101 {entity_code!r} is not a code"
                )
            current.named = True
            current.providers.append(entity)
            return
        if current.entity is not None:
            self.s._structure(
                "NM1", codes.SEG_OVER_MAX_USE, f"a second NM1 for the {_name(current)}"
            )
            return
        self.s._code(seg, 1, entities, f"entity of the {_name(current)}")
        if level in ID_QUALIFIERS:
            if level != SUBSCRIBER and seg[2] == "2":
                self.s._required(seg, 3, "organization name")
            self.s._code(seg, 8, ID_QUALIFIERS[level], "identification code qualifier")
            self.s._required(seg, 9, "identifier")
        current.entity = entity

    def _ref(self, seg: list[str]) -> None:
        current = self.current
        if current is None or current.level == UMO:
            self.s._structure("REF", codes.SEG_UNEXPECTED, "REF outside a party or an event")
            return
        value = self.s._required(seg, 2, "reference identification")
        self.s._length(seg, 2, "reference identification", 50)
        if current.level in (EVENT, SERVICE) and not current.named:
            qualifier = self.s._code(
                seg,
                1,
                PREVIOUS_REFERENCES,
                "previous review reference (BB authorization, NT administrative reference)",
            )
            if qualifier == "BB" and not current.previous_authorization:
                current.previous_authorization = value
            elif qualifier == "NT" and not current.previous_reference:
                current.previous_reference = value
        else:
            self.s._required(seg, 1, "reference identification qualifier")
            if current.level in (REQUESTER, SUBSCRIBER, DEPENDENT) and current.entity is None:
                self.s._structure(
                    "REF",
                    codes.SEG_OUT_OF_SEQUENCE,
                    f"REF must follow the {_name(current)}'s NM1",
                )

    def _dmg(self, seg: list[str]) -> None:
        current = self.current
        if current is None or current.level not in (SUBSCRIBER, DEPENDENT):
            self.s._structure("DMG", codes.SEG_UNEXPECTED, "DMG outside a subscriber or dependent")
            return
        if current.entity is None:
            self.s._structure("DMG", codes.SEG_OUT_OF_SEQUENCE, "DMG must follow the patient's NM1")
            return
        self.s._code(seg, 1, frozenset({"D8"}), "birth date format")
        born = self.s._required(seg, 2, "birth date")
        birth_date = None
        if born:
            birth_date = parse_date8(born)
            if birth_date is None:
                self.s._element(seg, 2, codes.ELEM_INVALID_DATE, f"DMG02 {born!r} is not a date")
        sex = self.s._code(seg, 3, frozenset({"F", "M", "U"}), "sex") if seg[3] else ""
        current.entity = replace(current.entity, birth_date=birth_date, sex=sex)

    def _um(self, seg: list[str]) -> None:
        current = self._event_level("UM")
        if current is None:
            return
        if current.review is not None:
            self.s._structure("UM", codes.SEG_OVER_MAX_USE, "a second UM in one event or service")
            return
        category = self.s._code(seg, 1, REQUEST_CATEGORIES, "request category")
        certification = seg[2]
        if certification or not self.inquiry:  # an inquiry may leave UM02 out
            self.s._code(seg, 2, frozenset(CERTIFICATION_TYPES), "certification type")
        self.s._length(seg, 3, "service type", 2)
        level_of_service = seg[6]
        if level_of_service and level_of_service not in LEVELS_OF_SERVICE:
            self.s._element(
                seg,
                6,
                codes.ELEM_INVALID_CODE,
                f"level of service (UM06) {level_of_service!r} is not 03, E or U",
            )
            level_of_service = ""
        facility = tuple(seg[4].split(self.s.component)) if seg[4] else ()
        if facility and (len(facility) < 2 or facility[1] not in ("A", "B")):
            self.s._element(
                seg,
                4,
                codes.ELEM_INVALID_CODE,
                "facility (UM04) needs its code and qualifier A or B",
                component=2,
            )
        causes = tuple(seg[5].split(self.s.component)) if seg[5] else ()
        current.review = Review(category, certification, seg[3], facility, causes, level_of_service)

    def _dtp(self, seg: list[str]) -> None:
        current = self._event_level("DTP")
        if current is None:
            return
        allowed = EVENT_DATES if current.level == EVENT else SERVICE_DATES
        qualifier = self.s._code(seg, 1, allowed, "date qualifier")
        start, end = self.s._period(seg, "date")
        if qualifier in allowed and start is not None and end is not None and end >= start:
            current.dates.append((qualifier, start, end))

    def _hi(self, seg: list[str]) -> None:
        current = self._event_level("HI", service=False)
        if current is None:
            return
        for i in range(1, MAX_DIAGNOSES + 1):
            value = seg[i] if i < len(seg) else ""
            if not value:
                if i == 1:
                    self.s._element(seg, 1, codes.ELEM_MISSING, "HI01 (a diagnosis) is missing")
                continue
            parts = [*value.split(self.s.component), "", "", ""]
            qualifier, code, fmt, when = parts[:4]
            if qualifier not in DIAGNOSIS_QUALIFIERS:
                self.s._element(
                    seg,
                    i,
                    codes.ELEM_INVALID_CODE,
                    f"HI{i:02d}-1 {qualifier!r} is not a diagnosis qualifier",
                    component=1,
                )
                continue
            if not code or len(code) > 30:
                self.s._element(
                    seg, i, codes.ELEM_MISSING, f"HI{i:02d}-2 (the code) is missing", component=2
                )
                continue
            on = None
            if fmt or when:
                on = parse_date8(when) if fmt == "D8" else None
                if on is None:
                    self.s._element(
                        seg,
                        i,
                        codes.ELEM_INVALID_DATE,
                        f"HI{i:02d}-4 {when!r} is not a date CCYYMMDD (D8)",
                        component=4,
                    )
            if len(current.diagnoses) < MAX_DIAGNOSES:
                current.diagnoses.append(Diagnosis(qualifier, code, on))

    def _cr6(self, seg: list[str]) -> None:
        """Home health care information: CR604 the certification period asked (RD8)."""
        current = self._event_level("CR6", service=False)
        if current is None:
            return
        if seg[3] != "RD8" or not seg[4]:
            return  # no period: read past, as the other clinical segments
        start, _, end = seg[4].partition("-")
        first, last = parse_date8(start), parse_date8(end)
        if first is None or last is None or last < first:
            self.s._element(
                seg,
                4,
                codes.ELEM_INVALID_DATE,
                f"CR604 {seg[4]!r} is not a date range CCYYMMDD-CCYYMMDD",
            )
            return
        current.care_period = (first, last)

    def _hsd(self, seg: list[str]) -> None:
        current = self._event_level("HSD")
        if current is None:
            return
        quantity = None
        if seg[1] or seg[2]:
            self.s._required(seg, 1, "quantity qualifier")
            if seg[2]:
                quantity = parse_x12_decimal(seg[2])
                if quantity is None or quantity < 0:
                    self.s._element(
                        seg, 2, codes.ELEM_INVALID_CODE, f"HSD02 {seg[2]!r} is not a quantity"
                    )
                    quantity = None
            else:
                self.s._required(seg, 2, "quantity")
        current.delivery.append(
            Delivery(seg[1], quantity, seg[3], seg[4], seg[5], seg[6], seg[7], seg[8])
        )

    def _service_line(self, seg: list[str]) -> None:
        sid = seg[0]
        current = self._event_level(sid)
        if current is None:
            return
        if current.level != SERVICE:
            self.s._structure(sid, codes.SEG_UNEXPECTED, f"{sid} outside a service (2000F)")
            return
        if current.kind:
            self.s._structure(sid, codes.SEG_OVER_MAX_USE, "a second service line in one service")
            return
        current.kind = sid
        composite, amount, basis, units = {
            "SV1": (1, 2, 3, 4),
            "SV2": (2, 3, 4, 5),
            "SV3": (1, 2, 0, 6),
        }[sid]
        if sid == "SV2":
            current.revenue_code = seg[1]
            self.s._length(seg, 1, "revenue code", 48)
        if seg[composite]:
            parts = seg[composite].split(self.s.component)
            qualifier, code = parts[0], parts[1] if len(parts) > 1 else ""
            if not qualifier or not code:
                self.s._element(
                    seg,
                    composite,
                    codes.ELEM_MISSING,
                    f"{sid}{composite:02d} needs a code qualifier and a code",
                )
            modifiers = tuple(m for m in parts[2 : 2 + MAX_MODIFIERS] if m)
            current.procedure = ServiceCode(qualifier, code, modifiers)
        elif sid != "SV2" or not seg[1]:
            self.s._element(
                seg, composite, codes.ELEM_MISSING, f"{sid}{composite:02d} (the service) is missing"
            )
        current.amount = self._number(seg, amount, "amount")
        if basis:
            current.unit_basis = seg[basis]
        current.units = self._number(seg, units, "quantity")

    def _number(self, seg: list[str], i: int, what: str) -> Decimal | None:
        if not seg[i]:
            return None
        value = parse_x12_decimal(seg[i])
        if value is None or value < 0:
            self.s._element(
                seg, i, codes.ELEM_INVALID_CODE, f"{what} ({seg[0]}{i:02d}) {seg[i]!r} is not one"
            )
            return None
        return value

    def _se(self, seg: list[str]) -> None:
        if not self.s.skip:
            self._close_level()
        self.s.ended = True
        for issue in trailer_issues(seg, self.s.header.control, self.s.position):
            self.s._report(issue)
        if not self.s.skip:
            self._check_hierarchy()

    def _check_hierarchy(self) -> None:
        """A UMO has requesters, a requester subscribers, a subscriber (or dependent) events."""
        if not self.levels:
            self.s._structure("HL", codes.SEG_REQUIRED_MISSING, "no UMO (HL 20)", loop="2000A")
            return
        needs = {UMO: "a requester", REQUESTER: "a subscriber", DEPENDENT: "a patient event"}
        for level in self.levels.values():
            missing = needs.get(level.level)
            if level.level == SUBSCRIBER:
                missing = "a patient event or dependent"
            if missing and not level.children:
                self.s._structure(
                    "HL",
                    codes.SEG_REQUIRED_MISSING,
                    f"the {_name(level)} (HL {level.hl_id}, segment {level.position}) has "
                    f"no {missing} under it",
                    loop=LEVELS[level.level][2],
                )

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> tuple[TransactionEnd, ReviewTransaction | None]:
        events = tuple(self._build())
        end = TransactionEnd(
            self.s.header, tuple(self.s.issues), self.s.position, len(events), self.s.suppressed
        )
        if not end.accepted:
            return end, None
        return end, ReviewTransaction(
            self.s.header, self.s.group, self.reference, events, self.transaction_type
        )

    def _build(self) -> Iterator[ReviewEvent]:
        services: dict[str, list[ReviewService]] = {}
        for level in self.levels.values():
            if level.level == SERVICE:
                services.setdefault(level.event, []).append(_service(level))
        for level in self.levels.values():
            if level.level != EVENT or level.review is None:
                continue
            patient = self.levels.get(level.parent)
            if patient is None:
                continue
            dependent = patient if patient.level == DEPENDENT else None
            subscriber = self.levels.get(patient.parent) if dependent else patient
            requester = self.levels.get(subscriber.parent) if subscriber else None
            umo = self.levels.get(requester.parent) if requester else None
            yield ReviewEvent(
                umo=_entity(umo),
                requester=_entity(requester),
                subscriber=_entity(subscriber),
                dependent=_entity(dependent) if dependent else None,
                levels=(
                    umo.hl_id if umo else "",
                    requester.hl_id if requester else "",
                    subscriber.hl_id if subscriber else "",
                    dependent.hl_id if dependent else "",
                    level.hl_id,
                ),
                position=level.position,
                review=level.review,
                traces=tuple(level.traces),
                previous_authorization=level.previous_authorization,
                previous_reference=level.previous_reference,
                dates=tuple(level.dates),
                diagnoses=tuple(level.diagnoses),
                delivery=tuple(level.delivery),
                providers=tuple(level.providers),
                services=tuple(services.get(level.hl_id, ())),
                care_period=level.care_period,
                inquiry=self.inquiry,
            )


def _service(level: _Level) -> ReviewService:
    dates = [d for d in level.dates if d[0] == "472"]
    return ReviewService(
        hl_id=level.hl_id,
        position=level.position,
        traces=tuple(level.traces),
        review=level.review,
        previous_authorization=level.previous_authorization,
        previous_reference=level.previous_reference,
        service_from=dates[0][1] if dates else None,
        service_to=dates[0][2] if dates else None,
        kind=level.kind,
        procedure=level.procedure,
        revenue_code=level.revenue_code,
        amount=level.amount,
        unit_basis=level.unit_basis,
        units=level.units,
        delivery=tuple(level.delivery),
        providers=tuple(level.providers),
    )


def _name(level: _Level) -> str:
    return LEVEL_NAMES[level.level]


def _entity(level: _Level | None) -> Entity:
    if level is None or level.entity is None:
        return NO_ENTITY
    return level.entity


_HANDLERS = {
    "ST": _Transaction._st,
    "BHT": _Transaction._bht,
    "HL": _Transaction._hl,
    "TRN": _Transaction._trn,
    "NM1": _Transaction._nm1,
    "REF": _Transaction._ref,
    "DMG": _Transaction._dmg,
    "UM": _Transaction._um,
    "DTP": _Transaction._dtp,
    "HI": _Transaction._hi,
    "HSD": _Transaction._hsd,
    "CR6": _Transaction._cr6,
    "SV1": _Transaction._service_line,
    "SV2": _Transaction._service_line,
    "SV3": _Transaction._service_line,
    "SE": _Transaction._se,
}
