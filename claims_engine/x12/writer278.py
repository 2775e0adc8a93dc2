"""The 278 writer: the response to a health care services review request (005010X217), or to
an inquiry about one (005010X215).

It mirrors the request, as the guide requires: one 278 transaction set for each transaction set
of the request, the same HL hierarchy (renumbered; a service is written under its event), the
parties as the request named them, every trace number of the request echoed as ``TRN*2``,
the review asked for (UM) and what the request said of the event and its services (dates,
diagnoses, service lines, providers), and the payer's answer to each event and service::

    ISA GS*HI ST*278 BHT*0007*11
      2000A HL 20  2010A NM1*X3 [AAA]
        2000B HL 21  2010B NM1*1P|FA [AAA]              AAA 43: not a requester the key
          2000C HL 22  2010C NM1*IL [AAA] [DMG]          may ask for; AAA 75: no such member
            [2000D HL 23  2010D NM1*QC [AAA] [DMG]]
              2000E HL EV  TRN*2 [AAA] UM HCR [REF*NT] [DTP] [DTP*007 DTP*036] [HI] [HSD] [MSG]
                           2010EA NM1 ...
                2000F HL SS  [TRN*2] [AAA] [UM] HCR [REF*NT] [DTP*472] [DTP*007 DTP*036]
                             [SV1|SV2|SV3] [HSD]  2010FA NM1 ...
    SE GE IEA

HCR01 is the action: ``A1`` certified in total, ``A2`` certified in part, ``A3`` not certified
(HCR03 says why: a code of X12's external code list 886, such as ``0F`` not medically
necessary; the reason in words is the event's MSG), ``A4`` pended, ``A6`` modified, ``C``
cancelled, ``CT`` contact the payer, ``NA`` no action required; HCR02 the certification
number (the review identification number, what a claim quotes later). The period certified
is DTP*007 (effective) and DTP*036 (expiration), the quantity certified an HSD. An event or
service the payer cannot review is answered with an AAA in the loop at fault and no HCR.

What the answer is comes from the caller as :class:`Decision` values, one
:class:`EventDecision` for each event of the request, in order: this module only writes. An
inquiry's response (005010X215, its GS08 and ST03) has the same layout: each event's HCR is
the current state of the request it asked about. A transaction set is answered under its own
guide; an interchange that holds both has one functional group of each (the first GS06 the
control number, the next one more). Values
are written with the request's delimiters; a value that holds one of them (or a character
outside the X12 sets) has it taken out, since X12 has no escape. Nothing here reads a clock:
``created`` and the control number are inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TextIO, TypeAlias

from claims_engine.domain.money import format_x12_amount, format_x12_number
from claims_engine.x12.acks import Envelope, clean_value, write_gs, write_isa
from claims_engine.x12.reader278 import (
    INQUIRY_IMPLEMENTATION,
    Delivery,
    Entity,
    Review,
    ReviewEvent,
    ReviewRequest,
    ReviewService,
    ReviewTransaction,
    Trace,
)
from claims_engine.x12.segments import SegmentWriter, d8, period

IMPLEMENTATION = "005010X217"
FUNCTIONAL_ID = "HI"

# HCR01 action codes
CERTIFIED = "A1"  # certified in total
PARTLY_CERTIFIED = "A2"  # certified, partial
NOT_CERTIFIED = "A3"
PENDED = "A4"
MODIFIED = "A6"
CANCELLED = "C"
CONTACT_PAYER = "CT"
NO_ACTION_REQUIRED = "NA"
ACTIONS = frozenset(
    {
        CERTIFIED,
        PARTLY_CERTIFIED,
        NOT_CERTIFIED,
        PENDED,
        MODIFIED,
        CANCELLED,
        CONTACT_PAYER,
        NO_ACTION_REQUIRED,
    }
)
# the actions that certify something: they carry a certification number
CERTIFYING = frozenset({CERTIFIED, PARTLY_CERTIFIED, MODIFIED})
# AAA03 reject reasons (005010X217) the engine writes
REQUIRED_FIELD_MISSING = "15"
UNABLE_TO_RESPOND = "42"  # unable to respond at current time
INVALID_PROVIDER = "43"  # invalid or missing provider identification (2010B)
INVALID_MEMBER_ID = "72"
SUBSCRIBER_NOT_FOUND = "75"
AUTHORIZATION_NOT_FOUND = "AA"  # the earlier authorization asked about is not known
# AAA04 follow-up action: C please correct and resubmit, N resubmission not allowed,
# R resubmission allowed (later)
CORRECT_AND_RESUBMIT = "C"
NO_RESUBMISSION = "N"
RESUBMIT_LATER = "R"
REJECTION_LOOPS = frozenset({"2010A", "2010B", "2010C", "2010D", "2000E", "2000F"})
# HCR03: a code of X12's external code list 886 (01 ... 09, 0A ... 0Z, 10 ...)
REASON_CODE = re.compile(r"^[0-9A-Z]{2}$")
MESSAGE_MOST = 264  # MSG01
# HSD01 of a quantity certified: DY days, FL units, HS hours, MN months, VS visits
UNITS = "FL"
VISITS = "VS"


@dataclass(frozen=True, slots=True)
class Rejection:
    """An AAA: why the request cannot be reviewed, in the loop it belongs to."""

    loop: str  # 2010A, 2010B (the requester), 2010C, 2010D, 2000E or 2000F
    reason: str  # AAA03
    follow_up: str = CORRECT_AND_RESUBMIT  # AAA04

    def __post_init__(self) -> None:
        if self.loop not in REJECTION_LOOPS:
            raise ValueError(f"an AAA has no place in loop {self.loop!r}")

    @property
    def valid_request(self) -> str:
        """AAA01: ``Y`` when the request was right and the payer could not answer it now
        (42), ``N`` when something in it is wrong or unknown."""
        return "Y" if self.reason == UNABLE_TO_RESPOND else "N"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the payer answers for one event or service: the action (HCR01), the
    certification number (HCR02), the reason (HCR03: a code of X12's external code list 886,
    Health Care Services Review Decision Reason Codes, two letters or digits such as ``0F``),
    the quantity and the period certified, an administrative reference (REF*NT), the reason in
    words (MSG, an event's); or, with ``rejection``, an AAA and no HCR."""

    action: str = ""
    certification_number: str = ""
    reason: str = ""
    approved_units: Decimal | None = None  # HSD02
    unit_qualifier: str = ""  # HSD01 ("": the request's, else FL units / VS visits)
    approved_from: date | None = None  # DTP*007
    approved_through: date | None = None  # DTP*036
    administrative_reference: str = ""  # REF*NT
    rejection: Rejection | None = None
    message: str = ""  # MSG01 of an event: the reason in words

    def __post_init__(self) -> None:
        if self.rejection is None and self.action not in ACTIONS:
            raise ValueError(f"HCR01 {self.action!r} is not an action code")
        if self.reason and not REASON_CODE.match(self.reason):
            raise ValueError(
                f"HCR03 {self.reason!r} is not a code of the list 886 (two characters)"
            )
        if self.rejection is not None and self.action:
            raise ValueError("a rejected event or service has no action")


@dataclass(frozen=True, slots=True)
class EventDecision:
    """The answer to one patient event: its decision, and one for each of its services, in
    order (none: each service is answered with the event's action, number and reason)."""

    event: ReviewEvent
    decision: Decision
    services: tuple[Decision, ...] = ()
    # the member the answer tells about as the payer knows them (a dependent's own member id,
    # where the 278 names only the subscriber's): for the audit, never written; "": the event's
    patient: str = ""


Decisions: TypeAlias = tuple[EventDecision, ...]


def write_278(
    out: TextIO,
    request: ReviewRequest,
    decisions: Sequence[EventDecision],
    *,
    control: int,
    created: datetime,
) -> None:
    """Write the 278 response interchange answering ``request``; ``decisions`` answer its
    events, in order. ``control`` is ISA13 (and GS06), ``created`` the time in the envelope."""
    events = request.events
    if len(decisions) != len(events) or not all(
        d.event is e for d, e in zip(decisions, events, strict=True)
    ):
        raise ValueError("the decisions do not answer the request's events in order")
    for d in decisions:
        if d.services and len(d.services) != len(d.event.services):
            raise ValueError("an event's decisions do not answer each of its services")
    w = SegmentWriter(out, request.interchange.delimiters)
    env = Envelope(request.interchange, control, created)
    write_isa(w, env)
    # the transaction sets with their decisions, grouped by guide (X217, X215) in order
    groups: dict[str, list[tuple[ReviewTransaction, Sequence[EventDecision]]]] = {}
    first = 0
    for transaction in request.transactions:
        count = len(transaction.events)
        version = _implementation(transaction)
        groups.setdefault(version, []).append((transaction, decisions[first : first + count]))
        first += count
    for k, (version, sets) in enumerate(groups.items()):
        group_env = env if k == 0 else Envelope(env.inbound, control % 999_999_999 + k, created)
        write_gs(w, group_env, FUNCTIONAL_ID, version)
        for n, (transaction, answers) in enumerate(sets, start=1):
            _Transaction(w, created, version).write(transaction, answers, f"{n:04d}")
        w.seg("GE", str(len(sets)), str(group_env.control))
    w.seg("IEA", str(len(groups)), env.control_text)


def _implementation(transaction: ReviewTransaction) -> str:
    """The guide a transaction set is answered under: an inquiry's (X215), else X217."""
    if transaction.header.implementation == INQUIRY_IMPLEMENTATION:
        return INQUIRY_IMPLEMENTATION
    return IMPLEMENTATION


# the loops of the party levels, by depth (UMO, requester, subscriber, dependent)
_PARTY_LOOPS = ("2010A", "2010B", "2010C", "2010D")
_PARTY_LEVELS = ("20", "21", "22", "23")


class _Transaction:
    """One 278 response transaction set."""

    def __init__(
        self, w: SegmentWriter, created: datetime, implementation: str = IMPLEMENTATION
    ) -> None:
        self.w = w
        self.created = created
        self.d = w.d
        self.implementation = implementation

    def v(self, value: str, high: int) -> str:
        """A value as it can be written: no delimiter, no space at either end, cut to size."""
        return clean_value(value, self.d).strip()[:high].rstrip()

    def write(
        self, transaction: ReviewTransaction, decisions: Sequence[EventDecision], control: str
    ) -> None:
        w = self.w
        start = w.count
        w.seg("ST", "278", control, self.implementation)
        w.seg(
            "BHT",
            "0007",
            "11",
            self.v(transaction.reference, 50) or control,
            d8(self.created.date()),
            self.created.strftime("%H%M"),
        )
        # the HLs to write, in order: (depth, key, parent key), a party level once
        nodes: list[tuple[int, tuple[str, ...], tuple[str, ...], EventDecision, int]] = []
        seen: set[tuple[str, ...]] = set()
        for d in decisions:
            levels = d.event.levels
            parent: tuple[str, ...] = ()
            for depth in range(4):
                if not levels[depth]:
                    continue
                key = levels[: depth + 1]
                if key not in seen:
                    seen.add(key)
                    nodes.append((depth, key, parent, d, -1))
                parent = key
            event_key = (*levels, "EV")
            nodes.append((4, event_key, parent, d, -1))
            for k in range(len(d.event.services)):
                nodes.append((5, (*event_key, str(k)), event_key, d, k))
        parents = {n[2] for n in nodes}
        numbers: dict[tuple[str, ...], int] = {}
        for depth, key, parent, d, k in nodes:
            numbers[key] = len(numbers) + 1
            hl = [str(numbers[key]), str(numbers[parent]) if parent else ""]
            children = "1" if key in parents else "0"
            if depth < 4:
                w.seg("HL", *hl, _PARTY_LEVELS[depth], children)
                self._party(depth, key, decisions)
            elif depth == 4:
                w.seg("HL", *hl, "EV", children)
                self._event(d)
            else:
                w.seg("HL", *hl, "SS", children)
                self._service(d, k)
        w.seg("SE", str(w.count - start + 1), control)

    # -- parties ------------------------------------------------------------------------------
    def _party(self, depth: int, key: tuple[str, ...], decisions: Sequence[EventDecision]) -> None:
        under = [d for d in decisions if d.event.levels[: depth + 1] == key]
        event = under[0].event
        party = (event.umo, event.requester, event.subscriber, event.dependent)[depth]
        assert party is not None
        default = ("X3", "1P", "IL", "QC")[depth]
        self._nm1(party, default, with_id=depth != 3)
        loop = _PARTY_LOOPS[depth]
        rejection = next(
            (
                d.decision.rejection
                for d in under
                if d.decision.rejection is not None and d.decision.rejection.loop == loop
            ),
            None,
        )
        if rejection is not None:
            self._aaa(rejection)
        if depth >= 2 and party.birth_date is not None:
            sex = party.sex if party.sex in ("F", "M", "U") else ""
            self.w.seg("DMG", "D8", d8(party.birth_date), sex)

    def _nm1(self, party: Entity, default_entity: str, *, with_id: bool = True) -> None:
        person = party.entity_type == "1"
        has_id = with_id and bool(party.id)
        self.w.seg(
            "NM1",
            self.v(party.entity, 3) or default_entity,
            "1" if person else "2",
            self.v(party.last_name, 60),
            self.v(party.first_name, 35) if person else "",
            self.v(party.middle_name, 25) if person else "",
            "",
            self.v(party.suffix, 10) if person else "",
            self.v(party.id_qualifier, 2) if has_id else "",
            self.v(party.id, 80) if has_id else "",
        )

    def _aaa(self, rejection: Rejection) -> None:
        self.w.seg("AAA", rejection.valid_request, "", rejection.reason, rejection.follow_up)

    # -- events and services ------------------------------------------------------------------
    def _event(self, d: EventDecision) -> None:
        w = self.w
        event = d.event
        decision = d.decision
        self._traces(event.traces)
        rejection = decision.rejection
        if rejection is not None and rejection.loop == "2000E":
            self._aaa(rejection)
        self._um(event.review)
        reviewed = rejection is None
        if reviewed:
            self._hcr(decision)
        for qualifier, start, end in event.dates:
            w.seg("DTP", qualifier, *period(start, end))
        if reviewed:
            self._certified_period(decision)
        if event.diagnoses:
            w.seg(
                "HI",
                *(
                    w.comp(
                        self.v(dx.qualifier, 3),
                        self.v(dx.code, 30),
                        "D8" if dx.on else "",
                        d8(dx.on) if dx.on else "",
                    )
                    for dx in event.diagnoses
                ),
            )
        if reviewed:
            self._quantity(decision, event.delivery, VISITS)
            if self.v(decision.message, MESSAGE_MOST):
                w.seg("MSG", self.v(decision.message, MESSAGE_MOST))
        for provider in event.providers:
            self._nm1(provider, "SJ")

    def _service(self, d: EventDecision, k: int) -> None:
        w = self.w
        service = d.event.services[k]
        event_decision = d.decision
        if d.services:
            decision = d.services[k]
        elif event_decision.rejection is not None:
            decision = event_decision
        else:  # the event's answer stands for its services
            decision = Decision(
                event_decision.action,
                event_decision.certification_number,
                event_decision.reason,
            )
        self._traces(service.traces)
        rejection = decision.rejection
        if rejection is not None and rejection.loop == "2000F":
            self._aaa(rejection)
        if service.review is not None:
            self._um(service.review)
        reviewed = rejection is None and event_decision.rejection is None
        if reviewed:
            self._hcr(decision)
        if service.service_from is not None:
            w.seg("DTP", "472", *period(service.service_from, service.service_to))
        if reviewed:
            self._certified_period(decision)
        self._service_line(service)
        if reviewed:
            self._quantity(decision, service.delivery, UNITS)
        for provider in service.providers:
            self._nm1(provider, "SJ")

    def _traces(self, traces: Sequence[Trace]) -> None:
        for t in traces:
            self.w.seg(
                "TRN", "2", self.v(t.number, 50), self.v(t.company, 10), self.v(t.supplemental, 50)
            )

    def _um(self, review: Review) -> None:
        w = self.w
        w.seg(
            "UM",
            self.v(review.category, 2),
            self.v(review.certification_type, 1),
            self.v(review.service_type, 2),
            w.comp(*(self.v(c, 2) for c in review.facility[:2])),
            w.comp(*(self.v(c, 3) for c in review.related_causes[:5])),
            self.v(review.level_of_service, 3),
        )

    def _hcr(self, decision: Decision) -> None:
        self.w.seg(
            "HCR",
            decision.action,
            self.v(decision.certification_number, 50),
            self.v(decision.reason, 30),
        )
        if self.v(decision.administrative_reference, 50):
            self.w.seg("REF", "NT", self.v(decision.administrative_reference, 50))

    def _certified_period(self, decision: Decision) -> None:
        if decision.approved_from is not None:
            self.w.seg("DTP", "007", "D8", d8(decision.approved_from))
        if decision.approved_through is not None:
            self.w.seg("DTP", "036", "D8", d8(decision.approved_through))

    def _quantity(self, decision: Decision, asked: Sequence[Delivery], default: str) -> None:
        if decision.approved_units is None:
            return
        qualifier = decision.unit_qualifier or next(
            (a.qualifier for a in asked if a.qualifier), default
        )
        self.w.seg("HSD", self.v(qualifier, 2), format_x12_number(decision.approved_units))

    def _service_line(self, s: ReviewService) -> None:
        w = self.w
        code = ""
        if s.procedure is not None:
            code = w.comp(
                self.v(s.procedure.qualifier, 2),
                self.v(s.procedure.code, 48),
                *(self.v(m, 2) for m in s.procedure.modifiers),
            )
        amount = format_x12_amount(s.amount) if s.amount is not None else ""
        units = format_x12_number(s.units) if s.units is not None else ""
        basis = self.v(s.unit_basis, 2) if units else ""
        if s.kind == "SV1":
            w.seg("SV1", code, amount, basis, units)
        elif s.kind == "SV2":
            w.seg("SV2", self.v(s.revenue_code, 48), code, amount, basis, units)
        elif s.kind == "SV3":
            w.seg("SV3", code, amount, "", "", "", units)
