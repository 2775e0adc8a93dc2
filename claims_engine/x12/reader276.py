"""The 276 reader: a claim status request (005010X212) into frozen dataclasses.

A 276 asks about claims through a hierarchy of HL loops::

    ISA GS*HR ST*276 BHT*0010*13
      2000A HL 20  2100A NM1*PR               information source: the payer asked
        2000B HL 21  2100B NM1*41             information receiver: who asks
          2000C HL 19  2100C NM1*1P           service provider (NPI when NM108 is XX)
            2000D HL 22  [DMG] 2100D NM1*IL   subscriber
              2200D TRN*1 REF* AMT*T3 DTP*472 one claim asked about, when the subscriber is
                2210D SVC REF*FJ DTP*472       the patient; service lines asked about
              2000E HL 23  [DMG] 2100E NM1*QC dependent
                2200E TRN*1 ...                one claim asked about for the dependent
    SE GE IEA

Each TRN opens a :class:`ClaimInquiry` carrying the parties above it, its trace number and the
claim's identifiers: payer claim control number (REF*1K), patient control number (REF*EJ, the
837's CLM01 submitter claim id), bill type (REF*BLT), total charge (AMT*T3), service dates.

:func:`read_276` checks the envelope as the 837 intake does (the ISA through
:func:`~claims_engine.x12.envelope.check_isa`, GS, ST/SE, GE, IEA with the same TA1 note and 999
codes) and returns a :class:`StatusRequest`, or an :class:`Unreadable` saying what is wrong and
where, with what a TA1 (a broken interchange) or a 999 (a broken functional group or
transaction set) answering it needs: the problems are values, not exceptions. A request is one
interchange; it is read whole (an inquiry is small), or up to the claim inquiry over a limit
(:class:`TooManyInquiries`); nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import overload

from claims_engine.domain.issues import Scope
from claims_engine.domain.model import Procedure
from claims_engine.domain.money import parse_x12_decimal, round_money
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    ENVELOPE_SEGMENTS,
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
    TransactionHeader,
    trailer_issues,
)
from claims_engine.x12.envelope_walk import (
    EnvelopeSpec,
    SetReader,
    Unreadable,
    read_interchange,
)
from claims_engine.x12.reader837 import parse_date8
from claims_engine.x12.situational import INQUIRY_2200D_MISSING as SITUATIONAL_2200D
from claims_engine.x12.structure import Finding, GuideWalker, compile_guide, unreported
from claims_engine.x12.tokenizer import INVALID_CHARACTER

IMPLEMENTATION = "005010X212"
FUNCTIONAL_ID = "HR"
TRANSACTION_SET = "276"
SPEC = EnvelopeSpec(FUNCTIONAL_ID, TRANSACTION_SET, (IMPLEMENTATION,), "claim status request")

# HL03 level code -> (parent level, NM101 of its name, loop of the level, loop of its name)
LEVELS: dict[str, tuple[str, str, str, str]] = {
    "20": ("", "PR", "2000A", "2100A"),
    "21": ("20", "41", "2000B", "2100B"),
    "19": ("21", "1P", "2000C", "2100C"),
    "22": ("19", "IL", "2000D", "2100D"),
    "23": ("22", "QC", "2000E", "2100E"),
}
# the level of each level's parent ("": the top)
PARENTS = {level: spec[0] for level, spec in LEVELS.items()}
LEVEL_NAMES = {
    "20": "information source",
    "21": "information receiver",
    "19": "service provider",
    "22": "subscriber",
    "23": "dependent",
}
# NM108 of each level's name (a 5010 dependent has no id of its own).
ID_QUALIFIERS = {
    "20": frozenset({"PI", "XV"}),
    "21": frozenset({"46"}),
    "19": frozenset({"FI", "SV", "XX"}),
    "22": frozenset({"24", "II", "MI"}),
}
# NM1 elements echoed in the answer: position, name, longest length.
NAME_LENGTHS = (
    (3, "last or organization name", 60),
    (4, "first name", 35),
    (5, "middle name", 25),
    (7, "suffix", 10),
)
# REF01 codes of the claim loops (2200D/E) and of the service line loops (2210D/E).
CLAIM_REFERENCES = frozenset({"1K", "BLT", "EJ", "XZ", "VV", "D9"})
LINE_REFERENCES = frozenset({"FJ"})
SERVICE_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "NU", "WK"})
KNOWN_SEGMENTS = frozenset({"ST", "BHT", "HL", "NM1", "DMG", "TRN", "REF", "AMT", "DTP", "SVC"})
_PAD = ("",) * 16


# -- what a request holds -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Entity:
    """A party of the request: its NM1 (and, for a subscriber or dependent, its DMG)."""

    entity: str  # NM101: PR, 41, 1P, IL or QC
    entity_type: str  # NM102: 1 person, 2 organization
    last_name: str
    first_name: str = ""
    middle_name: str = ""
    suffix: str = ""
    id_qualifier: str = ""  # NM108
    id: str = ""  # NM109
    birth_date: date | None = None
    sex: str = ""

    @property
    def npi(self) -> str:
        """The NPI, when the party is identified by one (NM108 ``XX``)."""
        return self.id if self.id_qualifier == "XX" else ""


NO_ENTITY = Entity("", "", "")


@dataclass(frozen=True, slots=True)
class LineInquiry:
    """A service line asked about (loop 2210D/E)."""

    procedure: Procedure  # SVC01: qualifier (HC, NU for a revenue code alone ...), code, modifiers
    charge: Decimal
    revenue_code: str = ""  # SVC04
    units: Decimal | None = None  # SVC07
    control_number: str = ""  # REF*FJ
    service_from: date | None = None
    service_to: date | None = None
    position: int = 0


@dataclass(frozen=True, slots=True)
class ClaimInquiry:
    """One claim asked about (loop 2200D, or 2200E for a dependent), with its parties.

    ``levels`` are the HL ids of its information source, receiver, service provider,
    subscriber and dependent (``""`` when there is none), so an answer can mirror the request's
    hierarchy; ``position`` is the TRN's place in its transaction set (ST is 1).
    """

    trace_number: str  # TRN02
    source: Entity
    receiver: Entity
    provider: Entity
    subscriber: Entity
    dependent: Entity | None
    levels: tuple[str, str, str, str, str]
    position: int
    payer_claim_number: str = ""  # REF*1K
    patient_control_number: str = ""  # REF*EJ: the 837's CLM01
    bill_type: str = ""  # REF*BLT
    prescription_number: str = ""  # REF*XZ
    voucher: str = ""  # REF*VV
    clearinghouse_trace: str = ""  # REF*D9
    total_charge: Decimal | None = None  # AMT*T3
    service_from: date | None = None  # DTP*472
    service_to: date | None = None
    lines: tuple[LineInquiry, ...] = ()

    @property
    def member_id(self) -> str:
        """The member id asked about: the subscriber's (a 5010 dependent has none of its own)."""
        return self.subscriber.id

    @property
    def patient(self) -> Entity:
        return self.dependent or self.subscriber


@dataclass(frozen=True, slots=True)
class InquiryTransaction:
    """One 276 transaction set: its ST, its functional group and BHT, and its inquiries."""

    header: TransactionHeader
    group: GroupHeader
    reference: str  # BHT03
    inquiries: tuple[ClaimInquiry, ...]


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """A readable 276 interchange."""

    interchange: InterchangeHeader
    transactions: tuple[InquiryTransaction, ...]

    @property
    def sender(self) -> str:
        return self.interchange.sender_id

    @property
    def receiver(self) -> str:
        return self.interchange.receiver_id

    @property
    def control(self) -> str:
        """ISA13."""
        return self.interchange.control

    @property
    def inquiries(self) -> tuple[ClaimInquiry, ...]:
        return tuple(q for t in self.transactions for q in t.inquiries)


@dataclass(frozen=True, slots=True)
class TooManyInquiries:
    """A 276 asking about more than one request may: reading stopped at the TRN (the start of
    a claim inquiry) over ``limit``, or at the SVC over :data:`MAX_SERVICE_LINES` (``what``
    says which), segment ``position`` of the interchange."""

    limit: int
    position: int
    what: str = "claim inquiries"


# The service lines (SVC) one request may ask about, together: as many as the longest claim
# has (an 837I's 2400 loop repeats 999 times); each is matched against its claims' lines.
MAX_SERVICE_LINES = 999


# -- reading --------------------------------------------------------------------------------------
@overload
def read_276(data: bytes) -> StatusRequest | Unreadable: ...


@overload
def read_276(
    data: bytes, *, max_inquiries: int | None
) -> StatusRequest | Unreadable | TooManyInquiries: ...


def read_276(
    data: bytes, *, max_inquiries: int | None = None
) -> StatusRequest | Unreadable | TooManyInquiries:
    """Read one 276 interchange (see the module docstring); with ``max_inquiries``, stop at
    the TRN over that many, or the SVC over :data:`MAX_SERVICE_LINES`, before reading
    further."""
    asked = lines = 0

    def limit(seg: list[str], position: int) -> TooManyInquiries | None:
        nonlocal asked, lines
        if seg[0] == "TRN":
            asked += 1
            if max_inquiries is not None and asked > max_inquiries:
                return TooManyInquiries(max_inquiries, position)
        elif seg[0] == "SVC":
            lines += 1
            if max_inquiries is not None and lines > MAX_SERVICE_LINES:
                return TooManyInquiries(MAX_SERVICE_LINES, position, "service lines")
        return None

    read = read_interchange(data, SPEC, _Transaction, stop=limit)
    if isinstance(read, Unreadable | TooManyInquiries):
        return read
    header, transactions = read
    return StatusRequest(header, transactions)


# -- the transaction set --------------------------------------------------------------------------
@dataclass(slots=True)
class _Line:
    procedure: Procedure
    charge: Decimal
    position: int
    revenue_code: str = ""
    units: Decimal | None = None
    control_number: str = ""
    service_from: date | None = None
    service_to: date | None = None

    def build(self) -> LineInquiry:
        return LineInquiry(
            self.procedure,
            self.charge,
            self.revenue_code,
            self.units,
            self.control_number,
            self.service_from,
            self.service_to,
            self.position,
        )


@dataclass(slots=True)
class _Inquiry:
    trace_number: str
    levels: tuple[str, str, str, str, str]
    position: int
    loop: str  # 2200D or 2200E
    references: dict[str, str] = field(default_factory=dict)
    total_charge: Decimal | None = None
    service_from: date | None = None
    service_to: date | None = None
    lines: list[_Line] = field(default_factory=list)
    has_charge: bool = False
    has_dates: bool = False


@dataclass(slots=True)
class _Level:
    hl_id: str
    level: str
    parent: str
    position: int
    entity: Entity | None = None
    birth_date: date | None = None
    sex: str = ""
    claims: int = 0
    children: int = 0


class _Transaction(SetReader):
    """Reads one 276 transaction set from ST to SE (see the module docstring)."""

    def __init__(
        self, header: TransactionHeader, group: GroupHeader, component: str, repetition: str = ""
    ) -> None:
        super().__init__(header, group, component, repetition)
        # the guide's structure, every segment (claims_engine.x12.structure)
        self.walker = GuideWalker(compile_guide("276"), component, repetition)
        self.reference = ""
        self.bht = False
        self.levels: dict[str, _Level] = {}
        self.current: _Level | None = None
        self.inquiry: _Inquiry | None = None
        self.line: _Line | None = None
        self.inquiries: list[_Inquiry] = []

    def _amount(self, seg: Sequence[str], i: int, what: str, required: bool) -> Decimal | None:
        value = seg[i]
        if not value:
            if required:
                self._required(seg, i, what)
            return None
        amount = parse_x12_decimal(value)
        if amount is None:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CHARACTER,
                f"{what} ({seg[0]}{i:02d}) {value!r} is not a number",
            )
        return amount

    # -- feeding ------------------------------------------------------------------------------
    def feed(self, seg: list[str], bad: bool) -> None:
        self.position += 1
        if self.skip or self.ended:
            if seg[0] == "SE":
                self._se([*seg, *_PAD])
            return
        if bad:
            element = next((i for i, v in enumerate(seg) if INVALID_CHARACTER.search(v)), 0)
            seg = [INVALID_CHARACTER.sub("", v) for v in seg]
            self._element(
                seg,
                element,
                codes.ELEM_INVALID_CHARACTER,
                f"{seg[0][:3] or 'UNK'}{element:02d} holds a character outside the X12 "
                "character sets",
            )
        found = self.walker.step(seg, self.position)
        mark = len(self.issues)
        padded = [*seg, *_PAD]
        sid = seg[0]
        handler = _HANDLERS.get(sid)
        if handler is not None:
            handler(self, padded)
        elif sid in ENVELOPE_SEGMENTS or sid in KNOWN_SEGMENTS:
            self._structure(sid, codes.SEG_UNEXPECTED, f"{sid} is not expected here")
        else:
            self._structure(
                sid if sid.isalnum() else "UNK",
                codes.SEG_UNRECOGNIZED,
                f"unrecognized segment {sid[:3]!r}",
            )
        if found:
            self._findings(found, mark)

    def _findings(self, found: list[Finding], mark: int) -> None:
        """The walker's findings, each unless the reader reported it already (at ``mark`` and
        after): every one rejects the set."""
        for f in unreported(found, self.issues[mark:]):
            if f.code != SITUATIONAL_2200D:  # _check_hierarchy names the subscriber and its HL
                self._report(f.issue(Scope.TRANSACTION))

    def _st(self, seg: list[str]) -> None:
        if self.position != 1:
            self._structure("ST", codes.SEG_UNEXPECTED, "ST inside a transaction set")

    def _bht(self, seg: list[str]) -> None:
        if self.position != 2 or self.bht:
            self._structure("BHT", codes.SEG_OUT_OF_SEQUENCE, "BHT must follow ST, once")
        self.bht = True
        self._code(seg, 1, frozenset({"0010"}), "hierarchical structure code")
        self._code(seg, 2, frozenset({"13"}), "transaction set purpose (13 request)")
        self.reference = self._required(seg, 3, "originator's transaction reference")
        self._length(seg, 3, "originator's transaction reference", 50)
        when = self._required(seg, 4, "creation date")
        if when and parse_date8(when) is None:
            self._element(seg, 4, codes.ELEM_INVALID_DATE, f"BHT04 {when!r} is not a date")

    # -- hierarchy ----------------------------------------------------------------------------
    def _close_inquiry(self) -> None:
        self.line = None
        self.inquiry = None

    def _hl(self, seg: list[str]) -> None:
        if not self.bht:
            self.bht = True  # reported once
            self._structure("BHT", codes.SEG_REQUIRED_MISSING, "BHT is missing", loop="HEADER")
        self._close_inquiry()
        self._check_named()
        hl_id, parent_id, level = seg[1], seg[2], seg[3]
        spec = LEVELS.get(level)
        if spec is not None:
            self.loop = spec[2]
        if not self._place_hl(seg, PARENTS, LEVEL_NAMES, self.levels):
            return
        self.current = self.levels[hl_id] = _Level(hl_id, level, parent_id, self.position)

    def _check_named(self) -> None:
        """The HL just left must have had its NM1."""
        current = self.current
        if current is not None and current.entity is None:
            _, entity, _, name_loop = LEVELS[current.level]
            self._structure(
                "NM1",
                codes.SEG_REQUIRED_MISSING,
                f"the {LEVEL_NAMES[current.level]} (HL {current.hl_id}) has no NM1*{entity}",
                loop=name_loop,
            )
            current.entity = NO_ENTITY

    def _dmg(self, seg: list[str]) -> None:
        current = self.current
        if current is None or current.level not in ("22", "23") or current.entity is not None:
            self._structure(
                "DMG",
                codes.SEG_UNEXPECTED,
                "DMG is expected before the subscriber's or dependent's NM1",
            )
            return
        self._code(seg, 1, frozenset({"D8"}), "birth date format")
        born = self._required(seg, 2, "birth date")
        if born:
            current.birth_date = parse_date8(born)
            if current.birth_date is None:
                self._element(seg, 2, codes.ELEM_INVALID_DATE, f"DMG02 {born!r} is not a date")
        if seg[3]:
            current.sex = self._code(seg, 3, frozenset({"F", "M", "U"}), "sex")

    def _nm1(self, seg: list[str]) -> None:
        current = self.current
        if current is None or current.entity is not None:
            self._structure("NM1", codes.SEG_UNEXPECTED, "NM1 where no party is expected")
            return
        _, entity, _, name_loop = LEVELS[current.level]
        self.loop = name_loop
        self._code(seg, 1, frozenset({entity}), f"entity of the {LEVEL_NAMES[current.level]}")
        self._code(seg, 2, frozenset({"1", "2"}), "entity type")
        if current.level != "19":
            self._required(seg, 3, "last or organization name")
        qualifiers = ID_QUALIFIERS.get(current.level)
        if qualifiers is not None:
            self._code(seg, 8, qualifiers, "identification code qualifier")
            self._required(seg, 9, "identifier")
        if (
            current.level == "19"
            and seg[8] == "XX"
            and not (len(seg[9]) == 10 and seg[9].isdigit())
        ):
            self._element(seg, 9, codes.ELEM_INVALID_CODE, f"NPI {seg[9]!r} is not ten digits")
        for i, what, high in NAME_LENGTHS:
            self._length(seg, i, what, high)
        self._length(seg, 9, "identifier", 80, low=2)
        current.entity = Entity(
            entity=seg[1],
            entity_type=seg[2],
            last_name=seg[3],
            first_name=seg[4],
            middle_name=seg[5],
            suffix=seg[7],
            id_qualifier=seg[8],
            id=seg[9],
            birth_date=current.birth_date,
            sex=current.sex,
        )

    def _chain(self, level: _Level) -> tuple[str, str, str, str, str]:
        ids = {"20": "", "21": "", "19": "", "22": "", "23": ""}
        node: _Level | None = level
        for _ in LEVELS:  # at most one step per level: no loop on a broken hierarchy
            if node is None:
                break
            ids[node.level] = node.hl_id
            node = self.levels.get(node.parent) if node.parent else None
        return ids["20"], ids["21"], ids["19"], ids["22"], ids["23"]

    def _trn(self, seg: list[str]) -> None:
        self._close_inquiry()
        current = self.current
        if current is None or current.level not in ("22", "23"):
            self._structure(
                "TRN", codes.SEG_UNEXPECTED, "TRN outside a subscriber or dependent level"
            )
            return
        self._check_named()
        loop = "2200D" if current.level == "22" else "2200E"
        if current.level == "22" and current.children:
            self._structure(
                "TRN",
                codes.SEG_OUT_OF_SEQUENCE,
                "a subscriber's claim (2200D) must come before its dependents",
                loop=loop,
            )
        self.loop = loop
        self._code(seg, 1, frozenset({"1"}), "trace type (1 current transaction trace)")
        trace = self._required(seg, 2, "claim status trace number")
        self._length(seg, 2, "claim status trace number", 50)
        current.claims += 1
        self.inquiry = _Inquiry(trace, self._chain(current), self.position, loop)
        self.inquiries.append(self.inquiry)

    def _in_inquiry(self, sid: str) -> _Inquiry | None:
        if self.inquiry is None:
            self._structure(sid, codes.SEG_UNEXPECTED, f"{sid} outside a claim (no TRN before it)")
        return self.inquiry

    def _ref(self, seg: list[str]) -> None:
        inquiry = self._in_inquiry("REF")
        if inquiry is None:
            return
        if self.line is not None:
            self._code(seg, 1, LINE_REFERENCES, "line reference qualifier")
            self.line.control_number = self._required(seg, 2, "line item control number")
            self._length(seg, 2, "line item control number", 50)
            return
        qualifier = self._code(seg, 1, CLAIM_REFERENCES, "claim reference qualifier")
        value = self._required(seg, 2, "reference")
        self._length(seg, 2, "reference", 50)
        if qualifier in inquiry.references:
            self._structure(
                "REF", codes.SEG_OVER_MAX_USE, f"REF*{qualifier} is repeated", loop=inquiry.loop
            )
        elif qualifier in CLAIM_REFERENCES:
            inquiry.references[qualifier] = value

    def _amt(self, seg: list[str]) -> None:
        inquiry = self._in_inquiry("AMT")
        if inquiry is None:
            return
        if self.line is not None:
            self._structure("AMT", codes.SEG_UNEXPECTED, "AMT after a service line (SVC)")
            return
        if inquiry.has_charge:
            self._structure("AMT", codes.SEG_OVER_MAX_USE, "AMT*T3 is repeated")
            return
        inquiry.has_charge = True
        self._code(seg, 1, frozenset({"T3"}), "amount qualifier")
        amount = self._amount(seg, 2, "total claim charge", required=True)
        inquiry.total_charge = None if amount is None else round_money(amount)

    def _dtp(self, seg: list[str]) -> None:
        inquiry = self._in_inquiry("DTP")
        if inquiry is None:
            return
        self._code(seg, 1, frozenset({"472"}), "date qualifier (472 service)")
        start, end = self._period(seg, "service date")
        if self.line is not None:
            self.line.service_from, self.line.service_to = start, end
        elif inquiry.has_dates:
            self._structure("DTP", codes.SEG_OVER_MAX_USE, "DTP*472 is repeated")
        else:
            inquiry.has_dates = True
            inquiry.service_from, inquiry.service_to = start, end

    def _svc(self, seg: list[str]) -> None:
        inquiry = self._in_inquiry("SVC")
        if inquiry is None:
            return
        self.loop = "2210D" if inquiry.loop == "2200D" else "2210E"
        composite = self._required(seg, 1, "procedure")
        parts = composite.split(self.component) if composite else ["", ""]
        qualifier = parts[0]
        code = parts[1] if len(parts) > 1 else ""
        if composite and qualifier not in SERVICE_QUALIFIERS:
            self._element(
                seg,
                1,
                codes.ELEM_INVALID_CODE,
                f"procedure qualifier (SVC01-1) {qualifier!r} is not one of "
                f"{', '.join(sorted(SERVICE_QUALIFIERS))}",
                component=1,
            )
        if composite and not code:
            self._element(
                seg, 1, codes.ELEM_MISSING, "procedure code (SVC01-2) is missing", component=2
            )
        charge = self._amount(seg, 2, "line charge", required=True)
        units = self._amount(seg, 7, "units of service", required=False)
        procedure = Procedure(qualifier, code, tuple(m for m in parts[2:6] if m))
        self.line = _Line(
            procedure,
            round_money(charge) if charge is not None else Decimal(0),
            self.position,
            revenue_code=seg[4],
            units=units,
        )
        inquiry.lines.append(self.line)

    def _se(self, seg: list[str]) -> None:
        if not self.skip and not self.ended:
            mark = len(self.issues)
            found = self.walker.finish(self.position)
            if found:
                self._findings(found, mark)
        self._close_inquiry()
        if not self.skip:
            self._check_named()
        self.ended = True
        for issue in trailer_issues(seg, self.header.control, self.position):
            self._report(issue)
        if not self.skip:
            self._check_hierarchy()

    def _check_hierarchy(self) -> None:
        """Every level has what the guide requires under it: a source has receivers, a receiver
        providers, a provider subscribers, and a subscriber a claim (TRN) or dependents, a
        dependent a claim."""
        if not self.levels:
            self._structure(
                "HL", codes.SEG_REQUIRED_MISSING, "no information source (HL 20)", loop="2000A"
            )
            return
        needs = {"20": "21", "21": "19", "19": "22"}
        for level in self.levels.values():
            name = f"the {LEVEL_NAMES[level.level]} (HL {level.hl_id}, segment {level.position})"
            if level.level in needs and not level.children:
                child = needs[level.level]
                self._structure(
                    "HL",
                    codes.SEG_REQUIRED_MISSING,
                    f"{name} has no {LEVEL_NAMES[child]} (HL {child}) under it",
                    loop=LEVELS[child][2],
                )
            elif level.level == "22" and not level.claims and not level.children:
                self._structure(
                    "TRN",
                    codes.SEG_REQUIRED_MISSING,
                    f"{name} has no claim (TRN, loop 2200D) and no dependent",
                    loop="2200D",
                )
            elif level.level == "23" and not level.claims:
                self._structure(
                    "TRN",
                    codes.SEG_REQUIRED_MISSING,
                    f"{name} has no claim (TRN, loop 2200E)",
                    loop="2200E",
                )

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> tuple[TransactionEnd, InquiryTransaction | None]:
        end = TransactionEnd(
            self.header, tuple(self.issues), self.position, len(self.inquiries), self.suppressed
        )
        if not end.accepted:
            return end, None
        return end, InquiryTransaction(
            self.header, self.group, self.reference, tuple(self._build())
        )

    def _build(self) -> Iterator[ClaimInquiry]:
        for q in self.inquiries:
            source, receiver, provider, subscriber, dependent = (
                self._entity(hl_id) for hl_id in q.levels
            )
            refs = q.references
            yield ClaimInquiry(
                trace_number=q.trace_number,
                source=source,
                receiver=receiver,
                provider=provider,
                subscriber=subscriber,
                dependent=dependent if q.levels[4] else None,
                levels=q.levels,
                position=q.position,
                payer_claim_number=refs.get("1K", ""),
                patient_control_number=refs.get("EJ", ""),
                bill_type=refs.get("BLT", ""),
                prescription_number=refs.get("XZ", ""),
                voucher=refs.get("VV", ""),
                clearinghouse_trace=refs.get("D9", ""),
                total_charge=q.total_charge,
                service_from=q.service_from,
                service_to=q.service_to,
                lines=tuple(line.build() for line in q.lines),
            )

    def _entity(self, hl_id: str) -> Entity:
        level = self.levels.get(hl_id) if hl_id else None
        if level is None or level.entity is None:
            return NO_ENTITY
        return level.entity


_HANDLERS = {
    "ST": _Transaction._st,
    "BHT": _Transaction._bht,
    "HL": _Transaction._hl,
    "DMG": _Transaction._dmg,
    "NM1": _Transaction._nm1,
    "TRN": _Transaction._trn,
    "REF": _Transaction._ref,
    "AMT": _Transaction._amt,
    "DTP": _Transaction._dtp,
    "SVC": _Transaction._svc,
    "SE": _Transaction._se,
}
