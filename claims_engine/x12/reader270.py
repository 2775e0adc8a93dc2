"""The 270 reader: an eligibility and benefit inquiry (005010X279A1) into frozen dataclasses.

A 270 asks whether patients are covered, and for what, through a hierarchy of HL loops::

    ISA GS*HS ST*270 BHT*0022*13
      2000A HL 20  2100A NM1*PR                      information source: the payer asked
        2000B HL 21  2100B NM1*1P (or 2B, 36, 80, FA, GP, P5, PR)   information receiver
          2000C HL 22  [TRN*1] 2100C NM1*IL [REF] [N3 N4] [PRV] [DMG] [INS] [HI] [DTP*291]
            2110C EQ [AMT] [III] [REF] [DTP*291]    subscriber, the service types asked
            2000D HL 23  [TRN*1] 2100D NM1*03 ... [DMG] [INS] [DTP*291]
              2110D EQ ...                            dependent, when the patient is one
    SE GE IEA

Each patient asked about (a subscriber without dependents under it, or one with its own EQ;
each dependent) is one :class:`EligibilityInquiry` carrying the parties above it, its trace
numbers (TRN, echoed in the 271), the service types asked (EQ01, repeated; ``30`` when none
is named) and the date or dates asked about (DTP*291, ``None``: the day the payer answers).

What the payer knows of the patient (is the member id known, do name and birth date match) is
not this module's business: an inquiry naming no member, say, is well formed and is answered
with an AAA segment by the 271; only a broken envelope or structure makes the request
:class:`Unreadable` (a TA1 or a 999, as :mod:`claims_engine.x12.reader276` does for a 276).

The structure is checked twice over, as the 276's is: the reader's own checks of what it reads
(the HL tree it builds the inquiries from, the values it keeps), and the guide walker
(:mod:`claims_engine.x12.structure`) on the 270 table (``claims_engine/x12/guides/270.json``,
derived from ``tests/guides/270_source.yaml``) for every segment: its place in its loop,
required and "not used" segments and elements, maximum use and loop repeats, element types,
lengths, code values and syntax rules, the HL tree. Each finding rejects the transaction set
with the IK3/IK4 codes of its 999; where both find the same element, the reader's message
stands. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from typing import overload

from claims_engine.domain.issues import Scope
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
from claims_engine.x12.reader276 import NO_ENTITY, Entity, TooManyInquiries
from claims_engine.x12.reader837 import parse_date8
from claims_engine.x12.situational import INQUIRY_2200D_MISSING
from claims_engine.x12.structure import Finding, GuideWalker, compile_guide, unreported
from claims_engine.x12.tokenizer import INVALID_CHARACTER

__all__ = [
    "EligibilityInquiry",
    "EligibilityRequest",
    "EligibilityTransaction",
    "Entity",
    "TooManyInquiries",
    "Trace",
    "Unreadable",
    "read_270",
]

IMPLEMENTATION = "005010X279A1"
FUNCTIONAL_ID = "HS"
TRANSACTION_SET = "270"
SPEC = EnvelopeSpec(FUNCTIONAL_ID, TRANSACTION_SET, (IMPLEMENTATION,), "eligibility inquiry")

# HL03 level code -> (parent level, NM101 codes of its name, loop of the level, of its name)
LEVELS: dict[str, tuple[str, frozenset[str], str, str]] = {
    "20": ("", frozenset({"2B", "36", "GP", "P5", "PR"}), "2000A", "2100A"),
    "21": ("20", frozenset({"1P", "2B", "36", "80", "FA", "GP", "P5", "PR"}), "2000B", "2100B"),
    "22": ("21", frozenset({"IL"}), "2000C", "2100C"),
    "23": ("22", frozenset({"03"}), "2000D", "2100D"),
}
# the level of each level's parent ("": the top)
PARENTS = {level: spec[0] for level, spec in LEVELS.items()}
LEVEL_NAMES = {
    "20": "information source",
    "21": "information receiver",
    "22": "subscriber",
    "23": "dependent",
}
# NM108 of each level's name (a 5010 dependent has no id of its own).
ID_QUALIFIERS = {
    "20": frozenset({"24", "46", "FI", "NI", "PI", "XV", "XX"}),
    "21": frozenset({"24", "34", "FI", "PI", "PP", "SV", "XV", "XX"}),
    "22": frozenset({"II", "MI"}),
}
NAME_LENGTHS = (
    (3, "last or organization name", 60),
    (4, "first name", 35),
    (5, "middle name", 25),
    (7, "suffix", 10),
)
# Segments of the receiver's, subscriber's and dependent's loops the reader reads past (they
# narrow a search the engine does not make: addresses, provider information, diagnoses,
# amounts); the guide walker checks them.
PASSED = frozenset({"REF", "N3", "N4", "PRV", "INS", "HI", "AMT", "III"})
# DTP01 of the subscriber's and dependent's dates: 291 plan (the day asked about), 102 issue
DATE_QUALIFIERS = frozenset({"102", "291"})
DEFAULT_SERVICE_TYPE = "30"  # health benefit plan coverage: what a 270 without EQ01 asks
MAX_SERVICE_TYPES = 99  # EQ01 repeats up to 99 times
_PAD = ("",) * 16


# -- what a request holds -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Trace:
    """A TRN of the request, echoed in the answer as TRN*2."""

    number: str  # TRN02
    company: str  # TRN03: who made the number
    supplemental: str = ""  # TRN04


@dataclass(frozen=True, slots=True)
class EligibilityInquiry:
    """One patient asked about (the subscriber, loop 2000C, or a dependent, 2000D).

    ``levels`` are the HL ids of its information source, receiver, subscriber and dependent
    (``""`` when there is none), so an answer can mirror the request's hierarchy;
    ``position`` is the segment of the patient's HL in its transaction set (ST is 1).
    """

    source: Entity
    receiver: Entity
    subscriber: Entity
    dependent: Entity | None
    levels: tuple[str, str, str, str]
    position: int
    subscriber_traces: tuple[Trace, ...] = ()
    dependent_traces: tuple[Trace, ...] = ()
    service_types: tuple[str, ...] = (DEFAULT_SERVICE_TYPE,)
    asked_from: date | None = None  # DTP*291 (None: the day of the answer)
    asked_to: date | None = None

    @property
    def member_id(self) -> str:
        """The member id asked about: the subscriber's (a 5010 dependent has none of its own)."""
        return self.subscriber.id

    @property
    def patient(self) -> Entity:
        return self.dependent or self.subscriber

    @property
    def trace_number(self) -> str:
        """The patient's first trace number (the subscriber's when the dependent has none)."""
        traces = self.dependent_traces or self.subscriber_traces
        return traces[0].number if traces else ""


@dataclass(frozen=True, slots=True)
class EligibilityTransaction:
    """One 270 transaction set: its ST, its functional group and BHT, and its inquiries."""

    header: TransactionHeader
    group: GroupHeader
    reference: str  # BHT03
    inquiries: tuple[EligibilityInquiry, ...]


@dataclass(frozen=True, slots=True)
class EligibilityRequest:
    """A readable 270 interchange."""

    interchange: InterchangeHeader
    transactions: tuple[EligibilityTransaction, ...]

    @property
    def control(self) -> str:
        """ISA13."""
        return self.interchange.control

    @property
    def inquiries(self) -> tuple[EligibilityInquiry, ...]:
        return tuple(q for t in self.transactions for q in t.inquiries)


# -- reading --------------------------------------------------------------------------------------
@overload
def read_270(data: bytes) -> EligibilityRequest | Unreadable: ...


@overload
def read_270(
    data: bytes, *, max_inquiries: int | None
) -> EligibilityRequest | Unreadable | TooManyInquiries: ...


def read_270(
    data: bytes, *, max_inquiries: int | None = None
) -> EligibilityRequest | Unreadable | TooManyInquiries:
    """Read one 270 interchange (see the module docstring); with ``max_inquiries``, stop at
    the subscriber or dependent HL over that many before reading further."""
    asked = 0

    def limit(seg: list[str], position: int) -> TooManyInquiries | None:
        nonlocal asked
        if seg[0] == "HL" and len(seg) > 3 and seg[3] in ("22", "23"):
            asked += 1
            if max_inquiries is not None and asked > max_inquiries:
                return TooManyInquiries(max_inquiries, position, "patients")
        return None

    read = read_interchange(data, SPEC, _Transaction, stop=limit)
    if isinstance(read, Unreadable | TooManyInquiries):
        return read
    header, transactions = read
    return EligibilityRequest(header, transactions)


# -- the transaction set --------------------------------------------------------------------------
@dataclass(slots=True)
class _Level:
    hl_id: str
    level: str
    parent: str
    position: int
    entity: Entity | None = None
    traces: list[Trace] = field(default_factory=list)
    service_types: list[str] = field(default_factory=list)
    asked: bool = False  # an EQ was read
    asked_from: date | None = None
    asked_to: date | None = None
    has_date: bool = False
    children: int = 0


class _Transaction(SetReader):
    """Reads one 270 transaction set from ST to SE (see the module docstring)."""

    def __init__(
        self, header: TransactionHeader, group: GroupHeader, component: str, repetition: str = ""
    ) -> None:
        super().__init__(header, group, component, repetition)
        # the guide's structure, every segment (claims_engine.x12.structure)
        self.walker = GuideWalker(compile_guide("270"), component, repetition)
        self.reference = ""
        self.bht = False
        self.levels: dict[str, _Level] = {}
        self.current: _Level | None = None

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
        elif sid in PASSED:
            self._passed(sid)
        elif sid in ENVELOPE_SEGMENTS:
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
        after): every one rejects the set. The walker's rule that a 276's subscriber loop
        (its 2000D) holds a claim or a dependent is not the 270's: its 2000D is the dependent."""
        for f in unreported(found, self.issues[mark:]):
            if f.code != INQUIRY_2200D_MISSING:
                self._report(f.issue(Scope.TRANSACTION))

    def _st(self, seg: list[str]) -> None:
        if self.position != 1:
            self._structure("ST", codes.SEG_UNEXPECTED, "ST inside a transaction set")

    def _bht(self, seg: list[str]) -> None:
        if self.position != 2 or self.bht:
            self._structure("BHT", codes.SEG_OUT_OF_SEQUENCE, "BHT must follow ST, once")
        self.bht = True
        self._code(seg, 1, frozenset({"0022"}), "hierarchical structure code")
        self._code(seg, 2, frozenset({"01", "13"}), "transaction set purpose (13 request)")
        self.reference = self._required(seg, 3, "originator's transaction reference")
        self._length(seg, 3, "originator's transaction reference", 50)
        when = self._required(seg, 4, "creation date")
        if when and parse_date8(when) is None:
            self._element(seg, 4, codes.ELEM_INVALID_DATE, f"BHT04 {when!r} is not a date")

    def _passed(self, sid: str) -> None:
        """A segment read past: it belongs after the receiver's, subscriber's or dependent's
        NM1 (which of them may have it, and where, is the guide walker's to say)."""
        current = self.current
        if current is None or current.level == "20" or current.entity is None:
            self._structure(
                sid,
                codes.SEG_UNEXPECTED,
                f"{sid} outside the receiver's, a subscriber's or a dependent's name",
            )

    # -- hierarchy ----------------------------------------------------------------------------
    def _hl(self, seg: list[str]) -> None:
        if not self.bht:
            self.bht = True  # reported once
            self._structure("BHT", codes.SEG_REQUIRED_MISSING, "BHT is missing", loop="HEADER")
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
            _, entities, _, name_loop = LEVELS[current.level]
            self._structure(
                "NM1",
                codes.SEG_REQUIRED_MISSING,
                f"the {LEVEL_NAMES[current.level]} (HL {current.hl_id}) has no NM1 "
                f"({'/'.join(sorted(entities))})",
                loop=name_loop,
            )
            current.entity = NO_ENTITY

    def _patient_level(self, sid: str) -> _Level | None:
        current = self.current
        if current is None or current.level not in ("22", "23"):
            self._structure(sid, codes.SEG_UNEXPECTED, f"{sid} outside a subscriber or dependent")
            return None
        return current

    def _trn(self, seg: list[str]) -> None:
        current = self._patient_level("TRN")
        if current is None:
            return
        if current.entity is not None:
            self._structure(
                "TRN", codes.SEG_OUT_OF_SEQUENCE, "TRN must come before the patient's NM1"
            )
            return
        if len(current.traces) >= 2:
            self._structure("TRN", codes.SEG_OVER_MAX_USE, "more than two TRN for one patient")
            return
        self._code(seg, 1, frozenset({"1"}), "trace type (1 current transaction trace)")
        number = self._required(seg, 2, "trace number")
        self._length(seg, 2, "trace number", 50)
        company = self._required(seg, 3, "trace assigning entity identifier")
        self._length(seg, 3, "trace assigning entity identifier", 10, low=10)
        self._length(seg, 4, "trace assigning entity additional identifier", 50)
        current.traces.append(Trace(number, company, seg[4]))

    def _nm1(self, seg: list[str]) -> None:
        current = self.current
        if current is None or current.entity is not None:
            self._structure("NM1", codes.SEG_UNEXPECTED, "NM1 where no party is expected")
            return
        _, entities, _, name_loop = LEVELS[current.level]
        self.loop = name_loop
        name = LEVEL_NAMES[current.level]
        self._code(seg, 1, entities, f"entity of the {name}")
        self._code(seg, 2, frozenset({"1", "2"}), "entity type")
        if current.level in ("20", "21"):
            if seg[2] == "2":
                self._required(seg, 3, "organization name")
            self._code(seg, 8, ID_QUALIFIERS[current.level], "identification code qualifier")
            self._required(seg, 9, "identifier")
        elif current.level == "22" and (seg[8] or seg[9]):
            self._code(seg, 8, ID_QUALIFIERS["22"], "identification code qualifier")
        if seg[8] == "XX" and not (len(seg[9]) == 10 and seg[9].isdigit()):
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
        )
        if current.level in ("22", "23"):
            self.loop = "2100C" if current.level == "22" else "2100D"

    def _dmg(self, seg: list[str]) -> None:
        current = self._patient_level("DMG")
        if current is None:
            return
        if current.entity is None:
            self._structure("DMG", codes.SEG_OUT_OF_SEQUENCE, "DMG must follow the patient's NM1")
            return
        self._code(seg, 1, frozenset({"D8"}), "birth date format")
        born = self._required(seg, 2, "birth date")
        birth_date = None
        if born:
            birth_date = parse_date8(born)
            if birth_date is None:
                self._element(seg, 2, codes.ELEM_INVALID_DATE, f"DMG02 {born!r} is not a date")
        sex = self._code(seg, 3, frozenset({"F", "M", "U"}), "sex") if seg[3] else ""
        current.entity = replace(current.entity, birth_date=birth_date, sex=sex)

    def _dtp(self, seg: list[str]) -> None:
        current = self._patient_level("DTP")
        if current is None:
            return
        qualifier = self._code(seg, 1, DATE_QUALIFIERS, "date qualifier (291 plan, 102 issue)")
        start, end = self._period(seg, "eligibility date")
        if qualifier != "291":
            return  # the date the member's card was issued: not a date asked about
        if not current.has_date:  # the first asked: one date answers the patient's questions
            current.has_date = True
            current.asked_from, current.asked_to = start, end

    def _eq(self, seg: list[str]) -> None:
        current = self._patient_level("EQ")
        if current is None:
            return
        if current.entity is None:
            self._structure("EQ", codes.SEG_OUT_OF_SEQUENCE, "EQ must follow the patient's NM1")
            return
        self.loop = "2110C" if current.level == "22" else "2110D"
        current.asked = True
        types = [t for t in (seg[1].split(self.repetition) if self.repetition else [seg[1]]) if t]
        if not types and not seg[2]:
            self._element(
                seg, 1, codes.ELEM_MISSING, "EQ01 service type or EQ02 procedure is required"
            )
        for t in types:
            if not (1 <= len(t) <= 2 and t.isalnum()):
                self._element(
                    seg, 1, codes.ELEM_INVALID_CODE, f"EQ01 service type {t!r} is not a code"
                )
            elif t not in current.service_types:
                current.service_types.append(t)
        if len(current.service_types) > MAX_SERVICE_TYPES:
            self._element(
                seg, 1, codes.ELEM_TOO_MANY_REPETITIONS, "more than 99 service types asked"
            )

    def _se(self, seg: list[str]) -> None:
        if not self.skip and not self.ended:
            mark = len(self.issues)
            found = self.walker.finish(self.position)
            if found:
                self._findings(found, mark)
        if not self.skip:
            self._check_named()
        self.ended = True
        for issue in trailer_issues(seg, self.header.control, self.position):
            self._report(issue)
        if not self.skip:
            self._check_hierarchy()

    def _check_hierarchy(self) -> None:
        """A source has receivers, a receiver subscribers."""
        if not self.levels:
            self._structure(
                "HL", codes.SEG_REQUIRED_MISSING, "no information source (HL 20)", loop="2000A"
            )
            return
        needs = {"20": "21", "21": "22"}
        for level in self.levels.values():
            if level.level in needs and not level.children:
                child = needs[level.level]
                self._structure(
                    "HL",
                    codes.SEG_REQUIRED_MISSING,
                    f"the {LEVEL_NAMES[level.level]} (HL {level.hl_id}, segment "
                    f"{level.position}) has no {LEVEL_NAMES[child]} (HL {child}) under it",
                    loop=LEVELS[child][2],
                )

    # -- the result ---------------------------------------------------------------------------
    def finish(self) -> tuple[TransactionEnd, EligibilityTransaction | None]:
        inquiries = tuple(self._build())
        end = TransactionEnd(
            self.header, tuple(self.issues), self.position, len(inquiries), self.suppressed
        )
        if not end.accepted:
            return end, None
        return end, EligibilityTransaction(self.header, self.group, self.reference, inquiries)

    def _build(self) -> Iterator[EligibilityInquiry]:
        for level in self.levels.values():
            if level.level == "22" and (level.asked or not level.children):
                yield self._inquiry(level, None)
            elif level.level == "23":
                subscriber = self.levels.get(level.parent)
                if subscriber is not None:
                    yield self._inquiry(subscriber, level)

    def _inquiry(self, subscriber: _Level, dependent: _Level | None) -> EligibilityInquiry:
        receiver = self.levels.get(subscriber.parent)
        source = self.levels.get(receiver.parent) if receiver is not None else None
        patient = dependent or subscriber
        asked = patient if patient.has_date else subscriber
        return EligibilityInquiry(
            source=_entity(source),
            receiver=_entity(receiver),
            subscriber=_entity(subscriber),
            dependent=_entity(dependent) if dependent is not None else None,
            levels=(
                source.hl_id if source else "",
                receiver.hl_id if receiver else "",
                subscriber.hl_id,
                dependent.hl_id if dependent else "",
            ),
            position=patient.position,
            subscriber_traces=tuple(subscriber.traces),
            dependent_traces=tuple(dependent.traces) if dependent else (),
            service_types=tuple(patient.service_types) or (DEFAULT_SERVICE_TYPE,),
            asked_from=asked.asked_from,
            asked_to=asked.asked_to,
        )


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
    "DMG": _Transaction._dmg,
    "DTP": _Transaction._dtp,
    "EQ": _Transaction._eq,
    "SE": _Transaction._se,
}
