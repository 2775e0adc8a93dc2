"""The 271 writer: the answer to a 270, an eligibility and benefit response (005010X279A1).

It mirrors the request: one 271 transaction set for each 270 transaction set, the same HL
hierarchy (renumbered), the parties as the request named them (the patient as the payer knows
them when found), every trace number of the request echoed as ``TRN*2``, and for each patient
the benefits (2110C/D ``EB`` loops)::

    ISA GS*HB ST*271 BHT*0022*11
      2000A HL 20  2100A NM1*PR
        2000B HL 21  2100B NM1*1P [AAA]                          AAA 43: not a provider the
          2000C HL 22  TRN*2 2100C NM1*IL [AAA] DMG [DTP]        asker may ask for
            2110C EB [REF*18] [DTP]                               when the subscriber is asked
            2000D HL 23  TRN*2 2100D NM1*03 [AAA] DMG INS DTP
              2110D EB ...                                        when a dependent is
    SE GE IEA

Which benefits a patient has, and which AAA reason answers an inquiry the payer cannot answer,
is decided by the caller (:mod:`claims_engine.services.eligibility`): this module only writes.
An inquiry answered with an AAA carries only what the asker sent, nothing the payer knows.

Values are written with the request's delimiters; a value that holds one of them (or a
character outside the X12 sets) has it taken out, since X12 has no escape. Nothing here reads a
clock: ``created`` and the control number are inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import StringIO
from typing import NamedTuple, TextIO

from claims_engine.domain.money import format_x12_amount, format_x12_number
from claims_engine.x12.acks import Envelope, clean_value, write_gs, write_isa
from claims_engine.x12.reader270 import (
    EligibilityInquiry,
    EligibilityRequest,
    EligibilityTransaction,
    Entity,
    Trace,
)
from claims_engine.x12.segments import SegmentWriter, d8, period
from claims_engine.x12.tokenizer import Delimiters

IMPLEMENTATION = "005010X279A1"
FUNCTIONAL_ID = "HB"

# EB01 eligibility or benefit information codes written
ACTIVE, INACTIVE = "1", "6"
COINSURANCE, COPAY, DEDUCTIBLE, OUT_OF_POCKET = "A", "B", "C", "G"
# EB06 time period qualifiers
VISIT, SERVICE_YEAR, CALENDAR_YEAR, REMAINING = "27", "22", "23", "29"
# AAA03 reject reasons (005010X279A1)
REQUIRED_FIELD_MISSING = "15"
UNABLE_TO_RESPOND = "42"  # unable to respond at current time
INVALID_PROVIDER = "43"
INVALID_BIRTH_DATE = "58"
INVALID_PATIENT_NAME = "65"  # a dependent (2100D): invalid or missing patient name
PATIENT_NOT_FOUND = "67"  # a dependent (2100D)
DUPLICATE_PATIENT_ID = "68"  # a dependent (2100D): duplicate patient id number
BIRTH_DATE_MISMATCH = "71"
INVALID_MEMBER_ID = "72"
INVALID_NAME = "73"
SUBSCRIBER_NOT_FOUND = "75"
DUPLICATE_MEMBER_ID = "76"  # the subscriber (2100C): duplicate member id number
# AAA04 follow-up action: C please correct and resubmit, R resubmission allowed (later)
CORRECT_AND_RESUBMIT = "C"
RESUBMIT_LATER = "R"


class Benefit(NamedTuple):
    """One EB segment (loop 2110C or 2110D) and the REF under it (a named tuple: a 271 of a
    CORE inquiry has some 250 of them, made and written on every answer)."""

    info: str  # EB01
    coverage_level: str = ""  # EB02: IND individual, FAM family
    service_type: str = ""  # EB03
    insurance_type: str = ""  # EB04
    plan_name: str = ""  # EB05
    period: str = ""  # EB06
    amount: Decimal | None = None  # EB07
    percent: Decimal | None = None  # EB08: a fraction, 0.2 for 20 %
    in_network: str = ""  # EB12: Y in network, N out of network
    references: tuple[tuple[str, str], ...] = ()  # REF (18 plan number, 6P group number)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An AAA: why the inquiry cannot be answered, in the loop it belongs to."""

    loop: str  # 2100B (the receiver), 2100C (the subscriber) or 2100D (the dependent)
    reason: str  # AAA03
    follow_up: str = CORRECT_AND_RESUBMIT  # AAA04

    @property
    def valid_request(self) -> str:
        """AAA01: ``Y`` when the request was right and the payer could not answer it now
        (42), ``N`` when something in it is wrong or unknown."""
        return "Y" if self.reason == UNABLE_TO_RESPOND else "N"


@dataclass(frozen=True, slots=True)
class Person:
    """The subscriber or dependent as the payer knows them."""

    last_name: str
    first_name: str
    birth_date: date | None
    sex: str = ""
    middle_name: str = ""
    member_id: str = ""
    relationship: str = ""  # INS02 of a dependent: 01 spouse, 19 child ...


class Written(NamedTuple):
    """Segments written already: their text (each with its terminator) and how many."""

    text: str
    segments: int


@dataclass(frozen=True, slots=True)
class BenefitTemplate:
    """The EB loops of a plan's benefits written once with the delimiters of a request, but for
    the amounts that change from member to member (what remains, EB06 ``29``): ``pieces`` are
    the text between them, ``slots`` which of the values given to :meth:`fill` goes between
    ``pieces[k]`` and ``pieces[k + 1]``. Made by :func:`benefit_template`; :meth:`fill` gives
    the same text :func:`write_271` writes for the benefits with those amounts."""

    pieces: tuple[str, ...]
    slots: tuple[int, ...]
    count: int  # segments

    def fill(self, values: Sequence[str]) -> Written:
        pieces = self.pieces
        parts = [pieces[0]]
        for k, slot in enumerate(self.slots, start=1):
            parts.append(values[slot])
            parts.append(pieces[k])
        return Written("".join(parts), self.count)


_SLOT = "\x00"  # marks a slot while a template is written: no X12 value holds it


def benefit_template(
    benefits: Sequence[Benefit], slots: Sequence[int | None], delimiters: Delimiters
) -> BenefitTemplate:
    """``benefits`` written as :func:`write_271` writes them, but for the EB07 of each benefit
    whose ``slots`` entry is a number: that amount is the value of that index given to
    :meth:`BenefitTemplate.fill` (an EB07 of :func:`amount_text`)."""
    out = StringIO()
    w = SegmentWriter(out, delimiters)
    t = _Transaction(w, datetime(2000, 1, 1))
    for b, slot in zip(benefits, slots, strict=True):
        t.eb(b, "" if slot is None else f"{_SLOT}{slot}{_SLOT}")
    parts = out.getvalue().split(_SLOT)
    return BenefitTemplate(tuple(parts[0::2]), tuple(int(s) for s in parts[1::2]), w.count)


def amount_text(amount: Decimal) -> str:
    """EB07 as written."""
    return format_x12_amount(amount)


@dataclass(frozen=True, slots=True)
class EligibilityReport:
    """The answer to one inquiry: a rejection, or the patient and their benefits.

    ``subscriber`` and ``dependent`` are ``None`` when the payer does not know them (the
    request's names are echoed); ``dates`` are the patient's DTP (qualifier, start, end):
    346 plan begin, 356 eligibility begin, 357 eligibility end, 307 eligibility. The benefits
    are ``benefits``, or when ``written`` is given, its segments (written already with the
    request's delimiters, :class:`BenefitTemplate`) in their place.
    """

    inquiry: EligibilityInquiry
    rejection: Rejection | None = None
    subscriber: Person | None = None
    dependent: Person | None = None
    dates: tuple[tuple[str, date, date | None], ...] = ()
    benefits: tuple[Benefit, ...] = ()
    written: Written | None = None


def write_271(
    out: TextIO,
    request: EligibilityRequest,
    reports: Sequence[EligibilityReport],
    *,
    control: int,
    created: datetime,
) -> None:
    """Write the 271 interchange answering ``request``; ``reports`` answer its inquiries, in
    order. ``control`` is ISA13 (and GS06), ``created`` the time written in the envelope."""
    inquiries = request.inquiries
    if len(reports) != len(inquiries) or any(
        r.inquiry is not q for r, q in zip(reports, inquiries, strict=True)
    ):
        raise ValueError("the reports do not answer the request's inquiries in order")
    w = SegmentWriter(out, request.interchange.delimiters)
    env = Envelope(request.interchange, control, created)
    write_isa(w, env)
    write_gs(w, env, FUNCTIONAL_ID, IMPLEMENTATION)
    first = 0
    for n, transaction in enumerate(request.transactions, start=1):
        count = len(transaction.inquiries)
        _Transaction(w, created).write(transaction, reports[first : first + count], f"{n:04d}")
        first += count
    w.seg("GE", str(len(request.transactions)), str(control))
    w.seg("IEA", "1", env.control_text)


def percent_text(fraction: Decimal) -> str:
    """EB08 as the guide writes it: ``.2`` for 20 %, ``1`` for all, ``0`` for none."""
    text = format_x12_number(fraction)
    return text[1:] if text.startswith("0.") else text


class _Transaction:
    """One 271 transaction set."""

    def __init__(self, w: SegmentWriter, created: datetime) -> None:
        self.w = w
        self.created = created
        self.d = w.d
        self.hl = 0

    def v(self, value: str, high: int) -> str:
        """A value as it can be written: no delimiter, no space at either end, cut to size."""
        return clean_value(value, self.d).strip()[:high].rstrip()

    def write(
        self,
        transaction: EligibilityTransaction,
        reports: Sequence[EligibilityReport],
        control: str,
    ) -> None:
        w = self.w
        start = w.count
        w.seg("ST", "271", control, IMPLEMENTATION)
        reference = self.v(transaction.reference, 50) or control
        w.seg(
            "BHT",
            "0022",
            "11",
            reference,
            d8(self.created.date()),
            self.created.strftime("%H%M"),
        )
        written: list[dict[str, int]] = [{}, {}, {}, {}]
        for k, report in enumerate(reports):
            q = report.inquiry
            later = reports[k + 1 :]
            for depth, hl_id in enumerate(q.levels):
                if not hl_id or hl_id in written[depth]:
                    continue
                parent = written[depth - 1][q.levels[depth - 1]] if depth else 0
                self.hl += 1
                written[depth][hl_id] = self.hl
                self._level(depth, report, parent, later)
        w.seg("SE", str(w.count - start + 1), control)

    def _level(
        self,
        depth: int,
        report: EligibilityReport,
        parent: int,
        later: Sequence[EligibilityReport],
    ) -> None:
        w = self.w
        q = report.inquiry
        parent_text = str(parent) if parent else ""
        if depth == 0:
            w.seg("HL", str(self.hl), "", "20", "1")
            self._party(q.source, "PR")
        elif depth == 1:
            w.seg("HL", str(self.hl), parent_text, "21", "1")
            self._party(q.receiver, "1P")
            self._aaa(report, "2100B")
        elif depth == 2:
            dependents = bool(q.levels[3]) or any(
                r.inquiry.levels[:3] == q.levels[:3] and r.inquiry.levels[3] for r in later
            )
            w.seg("HL", str(self.hl), parent_text, "22", "1" if dependents else "0")
            self._traces(q.subscriber_traces)
            self._patient(report, q.subscriber, report.subscriber, "IL", "2100C")
            if not q.levels[3]:
                self._benefits(report)
        else:
            w.seg("HL", str(self.hl), parent_text, "23", "0")
            self._traces(q.dependent_traces)
            assert q.dependent is not None
            self._patient(report, q.dependent, report.dependent, "03", "2100D")
            self._benefits(report)

    def _party(self, party: Entity, default_entity: str) -> None:
        organization = party.entity_type != "1"
        self.w.seg(
            "NM1",
            self.v(party.entity, 3) or default_entity,
            "2" if organization else "1",
            self.v(party.last_name, 60),
            "" if organization else self.v(party.first_name, 35),
            "" if organization else self.v(party.middle_name, 25),
            "",
            "" if organization else self.v(party.suffix, 10),
            self.v(party.id_qualifier, 2),
            self.v(party.id, 80),
        )

    def _traces(self, traces: Sequence[Trace]) -> None:
        for t in traces:
            self.w.seg(
                "TRN", "2", self.v(t.number, 50), self.v(t.company, 10), self.v(t.supplemental, 50)
            )

    def _aaa(self, report: EligibilityReport, loop: str) -> None:
        rejection = report.rejection
        if rejection is not None and rejection.loop == loop:
            self.w.seg("AAA", rejection.valid_request, "", rejection.reason, rejection.follow_up)

    def _patient(
        self,
        report: EligibilityReport,
        asked: Entity,
        known: Person | None,
        entity: str,
        loop: str,
    ) -> None:
        w = self.w
        answered = report.rejection is None
        if known is not None and answered:
            member_id = known.member_id if entity == "IL" else ""
            w.seg(
                "NM1",
                entity,
                "1",
                self.v(known.last_name, 60),
                self.v(known.first_name, 35),
                self.v(known.middle_name, 25),
                "",
                "",
                "MI" if member_id else "",
                self.v(member_id, 80),
            )
        else:
            w.seg(
                "NM1",
                entity,
                "1",
                self.v(asked.last_name, 60),
                self.v(asked.first_name, 35),
                self.v(asked.middle_name, 25),
                "",
                self.v(asked.suffix, 10),
                self.v(asked.id_qualifier, 2) if asked.id else "",
                self.v(asked.id, 80),
            )
        self._aaa(report, loop)
        born = known.birth_date if known is not None and answered else asked.birth_date
        sex = known.sex if known is not None and answered else asked.sex
        if born is not None:
            w.seg("DMG", "D8", d8(born), sex if sex in ("F", "M", "U") else "")
        patient_level = "2100D" if report.inquiry.dependent is not None else "2100C"
        if known is not None and answered and entity == "03" and known.relationship:
            w.seg("INS", "N", self.v(known.relationship, 2))
        if answered and loop == patient_level:
            for qualifier, start, end in report.dates:
                w.seg("DTP", qualifier, *period(start, end))

    def _benefits(self, report: EligibilityReport) -> None:
        if report.rejection is not None:
            return
        written = report.written
        if written is not None:
            self.w.out.write(written.text)
            self.w.count += written.segments
            return
        for b in report.benefits:
            self.eb(b, "")

    def eb(self, b: Benefit, amount: str) -> None:
        """The EB segment of ``b`` and its REFs; ``amount``, when given, as its EB07."""
        w = self.w
        if not amount and b.amount is not None:
            amount = format_x12_amount(b.amount)
        w.seg(
            "EB",
            b.info,
            b.coverage_level,
            b.service_type,
            b.insurance_type,
            self.v(b.plan_name, 50) if b.plan_name else "",
            b.period,
            amount,
            "" if b.percent is None else percent_text(b.percent),
            "",
            "",
            "",
            b.in_network,
        )
        for qualifier, value in b.references:
            if self.v(value, 50):
                w.seg("REF", qualifier, self.v(value, 50))
