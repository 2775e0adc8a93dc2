"""Eligibility and benefit inquiries: an X12 270 in, its 271 out.

:func:`answer_270` reads the request (:func:`claims_engine.x12.reader270.read_270`), finds each
patient asked about (:func:`find_member`), tells whether they are covered on the day asked and
what their plan makes them pay, and writes the answer
(:func:`claims_engine.x12.writer271.write_271`). A request that cannot be answered raises
:class:`~claims_engine.services.claim_inquiry.UnusableInquiry` with the TA1 (broken
interchange) or 999 (broken functional group or transaction set) answering it.

Members come from the reference data in force (``reference.members`` and its families);
:func:`find_member` is the one place that knows it, so that moving enrollment into the store
changes that function alone. The AAA reasons (AAA03 of 005010X279A1) an inquiry gets when it
cannot be answered, in the order they are tried:

====  ======  ===================================================================
code  loop    when
====  ======  ===================================================================
43    2100B   the asker may not ask for this receiver (a provider key's NPIs)
42    2100C   the store cannot be read now (see below): every patient whose answer
              needed it, the dependents' too (the asker should try again later)
15    2100C   no member id and no name: nothing to look for
72    2100C   no member id (NM109)
75    2100C   no member has the id
76    2100C   the id names more than one person: it is written two ways that find
              two members (``ab1`` and ``AB1``), or it is a subscriber's id, asked
              at the subscriber level (no 2000D), with a name or birth date that
              is not the subscriber's but one of the subscriber's dependents' (the
              family shares the id: the dependent is to be asked in 2000D)
58    2100C/D the birth date is after the day asked, or a dependent's is missing
73    2100C   the subscriber's last name is not the member's
71    2100C   the subscriber's birth date is not the member's
67    2100D   no dependent of the subscriber has the birth date (and first name)
65    2100D   the dependent's last name is not the member's, or two dependents
              have the birth date and no first name tells them apart
68    2100D   two dependents have the birth date and the first name asked
====  ======  ===================================================================

An answer is made in three steps, so that a request costs one round trip to the store: first
what needs no store (the asker's NPI, the member in the reference data held in memory, the
plan covering the day asked, the benefits but what remains of them), then one statement that
reads the accumulators of every patient found covered and, when the caller gives ``audit``
(the API does), writes the ``phi_reads`` row of every member the 271 tells about, then the
271. The audit row is committed before the 271 is written, in that same round trip: on
PostgreSQL a data-modifying ``WITH`` in front of the accumulators' ``SELECT``, on an
autocommit connection, so the statement is its own transaction; on SQLite both statements in
one transaction. A 271 that tells anything therefore never goes out without its audit row,
even if the process dies right after answering; a process that dies between the commit and
the answer leaves a row for a read the asker did not receive (an audit may say too much,
never too little). Rows are not batched across requests for that reason: a batch held in
memory is lost with the process.

The store cannot be read when opening a connection or that statement raises what a database
that is down, unreachable or overloaded raises (:data:`STORE_UNAVAILABLE`: SQLAlchemy's
``OperationalError``, ``InterfaceError`` and pool ``TimeoutError``). The request is still
answered: each patient found (whose answer needed the store, for their accumulators or their
audit row) gets AAA 42, those rejected without the store keep their AAA, no audit row is
written (the statement failed as a whole), the failure is logged as an error by the
request's control numbers (never a patient's data), and :attr:`EligibilityAnswer.unavailable`
counts them (``claims_inquiries_total{outcome="unavailable"}``). When even the 271's control
number cannot be drawn from the store's counter, the 271 takes one of the reserved range
:data:`FALLBACK_CONTROL_BASE` and above, from the clock and a counter of the process, so that
it never reuses one the store gave. The 271's control numbers otherwise come from the store's
counter :data:`CONTROL_BLOCK` at a time (:func:`control_271`): one counter transaction for
that many answers, not one each.

The plan answered for is the one covering the day asked (:meth:`Member.plan_on
<claims_engine.domain.reference_data.Member.plan_on>`, of a medical line: a member whose
coverage moved from one plan to another is answered with each span's plan for its days), and
DTP 356/357 are that span's start and end (a member without spans: their one period).

The EB loops of a plan version for a set of service types are the same for every member but
for what remains (EB06 ``29``): they are written once per plan, version, service types and
request delimiters (:func:`claims_engine.x12.writer271.benefit_template`, kept in
:data:`_TEMPLATES`) and each answer fills in its few amounts; the text is the one
:func:`plan_benefits` and :func:`~claims_engine.x12.writer271.write_271` would write.

What remains of a deductible or out-of-pocket maximum (EB06 ``29``) is read from the live
accumulators of the store (the ``accumulators`` table, keyed as adjudication keys them:
:func:`claims_engine.adjudication.adjudicate.accumulator_keys`), so it is exactly what the next
claim's adjudication starts from: it takes ``min(individual left, family left, out-of-pocket
left)`` of the deductible, the figures the 271 gives. A plan's amount of zero means it has none
(as in :mod:`claims_engine.adjudication.cost_share`): no EB segment is written for it.

Benefits for each service type asked (EQ01; asked ``30``, the CAQH CORE set
:data:`CORE_SERVICE_TYPES` as well): active coverage ``EB*1`` with the plan's name (EB05) and
number (``REF*18``), or ``EB*6`` when the patient is not covered that day; the copay of the
service type's cost-sharing category in network (``EB*B``, per visit), the coinsurance in and
out of network (``EB*A``, EB08 a fraction), the deductible (``EB*C``) and out-of-pocket maximum
(``EB*G``) for the individual and the family, in and out of network, for the plan year (EB06
``23`` calendar year, ``22`` a service year not starting on January 1) and what remains (``29``).
"""

from __future__ import annotations

import io
import itertools
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from claims_engine.adjudication.adjudicate import AccumulatorKey, accumulator_keys
from claims_engine.domain.benefits import Plan, PlanVersion
from claims_engine.domain.money import ZERO
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services.claim_inquiry import UnusableInquiry, unusable
from claims_engine.store.db import CONTROL_COUNTER, KeptConnections, begin_write, next_numbers
from claims_engine.store.tables import accumulators_table, phi_reads_table
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader270 import (
    EligibilityInquiry,
    Entity,
    TooManyInquiries,
    Unreadable,
    read_270,
)
from claims_engine.x12.tokenizer import Delimiters
from claims_engine.x12.writer271 import (
    ACTIVE,
    BIRTH_DATE_MISMATCH,
    CALENDAR_YEAR,
    COINSURANCE,
    COPAY,
    DEDUCTIBLE,
    DUPLICATE_MEMBER_ID,
    DUPLICATE_PATIENT_ID,
    INACTIVE,
    INVALID_BIRTH_DATE,
    INVALID_MEMBER_ID,
    INVALID_NAME,
    INVALID_PATIENT_NAME,
    INVALID_PROVIDER,
    OUT_OF_POCKET,
    PATIENT_NOT_FOUND,
    REMAINING,
    REQUIRED_FIELD_MISSING,
    RESUBMIT_LATER,
    SERVICE_YEAR,
    SUBSCRIBER_NOT_FOUND,
    UNABLE_TO_RESPOND,
    VISIT,
    Benefit,
    BenefitTemplate,
    EligibilityReport,
    Person,
    Rejection,
    amount_text,
    benefit_template,
    write_271,
)

# Patients (subscribers and dependents) one request may ask about: a real-time 270 is small.
MAX_INQUIRIES = 99
# Asked 30 (health benefit plan coverage), CAQH CORE 154 wants these answered as well.
CORE_SERVICE_TYPES = ("1", "30", "33", "35", "47", "48", "50", "86", "88", "98", "AL", "MH", "UC")
# The cost-sharing category (claims_engine.adjudication.adjudicate.default_category, and the
# plans' copays) a service type's benefits are told by.
SERVICE_CATEGORIES: Mapping[str, str] = {
    "1": "medical",
    "2": "surgery",
    "3": "specialist",  # consultation
    "4": "imaging",  # diagnostic x-ray
    "5": "lab",  # diagnostic lab
    "30": "medical",
    "33": "specialist",  # chiropractic
    "35": "dental_basic",
    "23": "dental_preventive",  # diagnostic dental
    "41": "dental_preventive",  # routine (preventive) dental
    "36": "dental_major",  # dental crowns
    "47": "inpatient",  # hospital
    "48": "inpatient",  # hospital - inpatient
    "50": "outpatient",  # hospital - outpatient
    "86": "emergency",
    "88": "medical",  # pharmacy: the plans carry no pharmacy benefit of their own
    "98": "office_visit",  # professional (physician) visit - office
    "A0": "office_visit",
    "AL": "specialist",  # vision (optometry)
    "BY": "office_visit",  # physician visit - office: sick
    "BZ": "preventive",  # physician visit - office: well
    "MH": "specialist",  # mental health
    "UC": "urgent_care",
}
DEFAULT_CATEGORY = "medical"
HUNDRED = Decimal(100)
NETWORKS = (("in", "Y"), ("out", "N"))
# What a store that cannot be read now raises (answered AAA 42, not an error of the request).
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeout)
# 271 control numbers when the store's counter cannot be read: 900000000 and above, which the
# counter (from 1) does not reach.
FALLBACK_CONTROL_BASE = 900_000_000
_fallback_sequence = itertools.count()
# 271 control numbers a process takes from the store's counter at a time (see control_271).
CONTROL_BLOCK = 200
CONTROL_WRAP = 999_999_999  # as the counter wraps (claims_engine.store.db.next_numbers)


log = logging.getLogger("claims_engine.services.eligibility")


@dataclass(frozen=True, slots=True)
class EligibilityAnswer:
    x12: str  # the 271 text
    member_ids: tuple[str, ...]  # the members whose data went into the answer (PHI audit)
    asked: int = 0  # patients asked about
    answered: int = 0  # of them, found and answered with benefits
    unavailable: int = 0  # of them, answered AAA 42: the store could not be read


@dataclass(frozen=True, slots=True)
class Found:
    """The member an inquiry asks about, and their subscriber."""

    subscriber: Member
    patient: Member


# -- the one look-up of members -----------------------------------------------------------------
def find_member(
    reference: ReferenceData, inquiry: EligibilityInquiry, on: date
) -> Found | Rejection:
    """The member ``inquiry`` asks about on ``on``, or the AAA reason it gets (see the module
    docstring). The one place that knows where members are kept."""
    asked = inquiry.subscriber
    if not asked.id:
        if not asked.last_name:
            return Rejection("2100C", REQUIRED_FIELD_MISSING)
        return Rejection("2100C", INVALID_MEMBER_ID)
    members = reference.members
    normal = asked.id.strip().upper()
    as_sent = members.get(asked.id) if asked.id != normal else None
    member = members.get(normal)
    if member is None:
        member = as_sent
    elif as_sent is not None and as_sent.member_id != member.member_id:
        return Rejection("2100C", DUPLICATE_MEMBER_ID)  # the id, two ways, finds two people
    if member is None:
        return Rejection("2100C", SUBSCRIBER_NOT_FOUND)
    subscriber = members.get(member.subscriber_id, member)
    if asked.birth_date is not None and asked.birth_date > on:
        return Rejection("2100C", INVALID_BIRTH_DATE)
    dependent = inquiry.dependent
    if dependent is None:
        last_name = _upper(asked.last_name)
        name_differs = bool(last_name) and last_name != member.last_name
        born_differs = asked.birth_date is not None and asked.birth_date != member.birth_date
        differs = name_differs or born_differs
        if differs and member.is_subscriber and _family_matches(reference, member, asked):
            return Rejection("2100C", DUPLICATE_MEMBER_ID)
        if name_differs:
            return Rejection("2100C", INVALID_NAME)
        if born_differs:
            return Rejection("2100C", BIRTH_DATE_MISMATCH)
        return Found(subscriber, member)
    if asked.last_name and _upper(asked.last_name) != subscriber.last_name:
        return Rejection("2100C", INVALID_NAME)
    if dependent.birth_date is None or dependent.birth_date > on:
        return Rejection("2100D", INVALID_BIRTH_DATE)
    born = [
        m
        for m in reference.families.get(subscriber.member_id, ())
        if not m.is_subscriber and m.birth_date == dependent.birth_date
    ]
    first_name = _upper(dependent.first_name)
    if len(born) > 1:
        if not first_name:
            return Rejection("2100D", INVALID_PATIENT_NAME)  # twins: which one?
        born = [m for m in born if m.first_name == first_name]
        if len(born) > 1:
            return Rejection("2100D", DUPLICATE_PATIENT_ID)
    if not born:
        return Rejection("2100D", PATIENT_NOT_FOUND)
    patient = born[0]
    if dependent.last_name and _upper(dependent.last_name) != patient.last_name:
        return Rejection("2100D", INVALID_PATIENT_NAME)
    return Found(subscriber, patient)


def _upper(text: str) -> str:
    return text.strip().upper()


def _family_matches(reference: ReferenceData, subscriber: Member, asked: Entity) -> bool:
    """Whether a dependent of ``subscriber`` has what the 2100C of a subscriber-level inquiry
    gives (its last name, first name and birth date, those given; one of the last two at
    least): the family's shared id then names more than one person."""
    first_name = _upper(asked.first_name)
    if not first_name and asked.birth_date is None:
        return False
    last_name = _upper(asked.last_name)
    return any(
        not m.is_subscriber
        and (not last_name or m.last_name == last_name)
        and (not first_name or m.first_name == first_name)
        and (asked.birth_date is None or m.birth_date == asked.birth_date)
        for m in reference.families.get(subscriber.member_id, ())
    )


# -- answering ----------------------------------------------------------------------------------
def answer_270(
    engine: Engine,
    data: bytes,
    *,
    reference: ReferenceData,
    allowed_npis: frozenset[str] | None,
    now: datetime,
    on: date | None = None,
    max_inquiries: int | None = MAX_INQUIRIES,
    audit: Mapping[str, Any] | None = None,
    connections: KeptConnections | None = None,
) -> EligibilityAnswer:
    """The 271 answering the 270 ``data`` (see the module docstring).

    ``on`` is the day an inquiry without a date (DTP*291) is answered for (default: ``now``'s
    day); ``allowed_npis`` are the receiver NPIs (2100B, NM108 ``XX``) the caller may ask for
    (``None``: any, for the insurer): another is answered AAA 43 and nothing about the
    patient. ``audit``, when given, is the who, when and how of a ``phi_reads`` row
    (:func:`claims_engine.services.access.audit_entry`): one such row for each member the 271
    tells about is committed in the statement that reads their accumulators, before the 271
    is written (see the module docstring). Raises :class:`UnusableInquiry` when the request
    cannot be answered (400 with a TA1, 422 with a 999, 413 over ``max_inquiries`` patients).
    ``connections``: PostgreSQL connections kept open for the store's statement (a server
    answering many 270s a second), instead of one from ``engine``'s pool each time.
    """
    request = read_270(data, max_inquiries=max_inquiries)
    if isinstance(request, TooManyInquiries):
        raise UnusableInquiry(
            413,
            f"more than {request.limit} {request.what} (HL at segment {request.position}): "
            "ask about fewer a request, or send a batch to `claims-engine eligibility`",
            None,
        )
    if isinstance(request, Unreadable):
        raise unusable(engine, request, now)
    default_day = on or now.date()
    delimiters = request.interchange.delimiters
    inquiries = request.inquiries
    # what needs no store first: the member, the plan, the benefits but what remains
    resolved = [_resolve(q, reference, allowed_npis, default_day, delimiters) for q in inquiries]
    pending = [r for r in resolved if isinstance(r, _Pending)]
    members = sorted({m for r in pending for m in r.member_ids})
    down: Exception | None = None
    met: dict[tuple[str, str, date], dict[AccumulatorKey, Decimal]] = {}
    wanted = [r for r in pending if r.active is not None]
    if wanted or (audit is not None and members):
        try:
            met = _read_store(
                engine, wanted, members if audit is not None else (), audit, connections
            )
        except STORE_UNAVAILABLE as exc:
            down = exc
    reports: list[EligibilityReport] = []
    for r in resolved:
        if not isinstance(r, _Pending):
            reports.append(r)
        elif down is not None:
            reports.append(_unavailable(r.inquiry, allowed_npis))
        else:
            reports.append(r.report(met))
    if down is not None:
        members = []
    out = io.StringIO()
    try:
        control = control_271(engine)
    except STORE_UNAVAILABLE as exc:
        down = down or exc
        control = fallback_control(now)
    write_271(out, request, reports, control=control, created=now)
    answered = sum(1 for r in reports if r.rejection is None)
    unavailable = sum(
        1 for r in reports if r.rejection is not None and r.rejection.reason == UNABLE_TO_RESPOND
    )
    if down is not None:
        log.error(
            "270 ISA13 %s: the store cannot be read (%s), %d patients answered AAA 42 "
            "(unable to respond now) in 271 %09d",
            request.interchange.control,
            type(down).__name__,
            unavailable,
            control,
        )
    for t in request.transactions:
        traces = ",".join(
            tr.number for q in t.inquiries for tr in (*q.subscriber_traces, *q.dependent_traces)
        )
        log.info(
            "270 answered with 271 %09d: ISA13 %s GS06 %s ST02 %s TRN02 %s, %d patients",
            control,
            request.interchange.control,
            t.group.control,
            t.header.control,
            traces or "-",
            len(t.inquiries),
        )
    return EligibilityAnswer(out.getvalue(), tuple(members), len(inquiries), answered, unavailable)


class _ControlBlock:
    """The 271 control numbers a process holds for one store: ``next`` to ``end``, exclusive."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.next = 0
        self.end = 0


_blocks: weakref.WeakKeyDictionary[Engine, _ControlBlock] = weakref.WeakKeyDictionary()
_blocks_lock = threading.Lock()


def control_271(engine: Engine) -> int:
    """The next 271 interchange control number, from the store's counter of the control numbers
    the engine sends (shared with the 277s, 999s and TA1s): a process reserves
    :data:`CONTROL_BLOCK` numbers in one counter transaction and hands them out in order, so
    that concurrent answers do not queue on the counter's row lock one by one. Numbers stay
    unique; a process that stops leaves the rest of its block unused."""
    with _blocks_lock:
        block = _blocks.get(engine)
        if block is None:
            block = _blocks[engine] = _ControlBlock()
    with block.lock:
        if block.next >= block.end:
            with begin_write(engine) as conn:
                first = next_numbers(conn, CONTROL_COUNTER, CONTROL_BLOCK, wrap=CONTROL_WRAP)
            block.next, block.end = first, first + CONTROL_BLOCK
        n = block.next
        block.next += 1
    return (n - 1) % CONTROL_WRAP + 1  # a block reserved at the counter's end wraps to 1


def fallback_control(now: datetime) -> int:
    """A 271 control number when the store's counter cannot be read (see the module
    docstring): :data:`FALLBACK_CONTROL_BASE` plus the clock's milliseconds and this process's
    count, kept under ten digits."""
    span = 1_000_000_000 - FALLBACK_CONTROL_BASE
    tick = int(now.timestamp() * 1000) + next(_fallback_sequence)
    return FALLBACK_CONTROL_BASE + tick % span


def _unavailable(q: EligibilityInquiry, allowed_npis: frozenset[str] | None) -> EligibilityReport:
    """The answer to ``q`` when the store cannot be read: AAA 42, unless the asker may not ask
    for its receiver at all (that needs no store, and says less)."""
    if _not_allowed(q, allowed_npis):
        return EligibilityReport(q, Rejection("2100B", INVALID_PROVIDER))
    return EligibilityReport(q, Rejection("2100C", UNABLE_TO_RESPOND, RESUBMIT_LATER))


def _not_allowed(q: EligibilityInquiry, allowed_npis: frozenset[str] | None) -> bool:
    return allowed_npis is not None and (not q.receiver.npi or q.receiver.npi not in allowed_npis)


@dataclass(frozen=True, slots=True)
class _Active:
    """What a covered patient's benefits need from the store: their accumulators of the plan
    year, to fill the template's amounts that remain."""

    patient: Member
    plan: Plan
    year: date
    limits: tuple[_Limit, ...]
    template: BenefitTemplate


@dataclass(frozen=True, slots=True)
class _Pending:
    """An inquiry whose patient is found: answered once the store is read (its accumulators
    when ``active``, the audit of ``member_ids``)."""

    inquiry: EligibilityInquiry
    subscriber: Person
    dependent: Person | None
    dates: tuple[tuple[str, date, date | None], ...]
    member_ids: tuple[str, ...]
    active: _Active | None
    benefits: tuple[Benefit, ...] = ()  # of an inactive patient

    def report(
        self, met: Mapping[tuple[str, str, date], Mapping[AccumulatorKey, Decimal]]
    ) -> EligibilityReport:
        active = self.active
        if active is None:
            return EligibilityReport(
                self.inquiry, None, self.subscriber, self.dependent, self.dates, self.benefits
            )
        patient = active.patient
        balances = met.get((patient.member_id, active.plan.id, active.year), {})
        values = _remaining(active.limits, balances, patient, active.plan.id, active.year)
        return EligibilityReport(
            self.inquiry,
            None,
            self.subscriber,
            self.dependent,
            self.dates,
            written=active.template.fill(values),
        )


def _resolve(
    q: EligibilityInquiry,
    reference: ReferenceData,
    allowed_npis: frozenset[str] | None,
    default_day: date,
    delimiters: Delimiters,
) -> EligibilityReport | _Pending:
    """The answer to ``q`` as far as it needs no store: a rejection, or the patient found."""
    if _not_allowed(q, allowed_npis):
        return EligibilityReport(q, Rejection("2100B", INVALID_PROVIDER))
    day = q.asked_from or default_day
    found = find_member(reference, q, day)
    if isinstance(found, Rejection):
        return EligibilityReport(q, found)
    patient = found.patient
    plan_id = patient.plan_on(day)
    plan = reference.plans.get(plan_id)
    version = plan.version_on(day) if plan is not None else None
    subscriber = _person(found.subscriber)
    dependent = _person(patient) if q.dependent is not None else None
    told = tuple(p.member_id for p in (subscriber, dependent) if p is not None)
    start, end = _eligibility(patient, plan_id, day)
    dates: list[tuple[str, date, date | None]] = [("356", start, None)]
    if end is not None:
        dates.append(("357", end, None))
    types = service_types(q.service_types)
    if plan is None or version is None or not patient.covered_on(day):
        benefits = tuple(Benefit(INACTIVE, service_type=t) for t in types)
        return _Pending(q, subscriber, dependent, tuple(dates), told, None, benefits)
    year = plan.plan_year(day)
    dates.insert(0, ("346", year, None))
    limits, template = _template(plan, version, types, delimiters)
    active = _Active(patient, plan, year, limits, template)
    return _Pending(q, subscriber, dependent, tuple(dates), told, active)


def _eligibility(patient: Member, plan_id: str, day: date) -> tuple[date, date | None]:
    """DTP 356 and 357: the coverage span of ``plan_id`` (the plan answered for) that covers
    ``day``, else the member's first start and last end (a member without spans: their one
    period)."""
    for s in patient.spans:
        if s.plan_id == plan_id and s.covers(day):
            return s.start, s.end
    return patient.effective_from, patient.effective_through


def _person(member: Member) -> Person:
    return Person(
        member.last_name,
        member.first_name,
        member.birth_date,
        member.sex,
        member_id=member.member_id,
        relationship="" if member.is_subscriber else member.relationship,
    )


def service_types(asked: Sequence[str]) -> tuple[str, ...]:
    """The service types answered: those asked, with the CORE set when ``30`` is."""
    out: list[str] = []
    for t in asked:
        for s in CORE_SERVICE_TYPES if t == "30" else (t,):
            if s not in out:
                out.append(s)
    return tuple(out)


def insurance_type(plan: Plan) -> str:
    """EB04: the kind of plan, by its name (C1 commercial when it says none)."""
    text = f"{plan.id} {plan.name}".upper()
    for word, code in (("HMO", "HM"), ("PPO", "PR"), ("EPO", "EP"), ("POS", "PS")):
        if word in text:
            return code
    return "C1"


class _Limit(NamedTuple):
    """A deductible or out-of-pocket maximum of a plan version: (EB01, EB02, the plan-year
    amount, EB12, the network and which of the accumulator keys counts it)."""

    info: str
    level: str
    amount: Decimal
    flag: str
    network: str
    key: int  # index into AccumulatorKeys: member and family deductible, member and family OOP


def _limits(version: PlanVersion) -> tuple[_Limit, ...]:
    """The plan's deductibles and out-of-pocket maximums (a zero amount: it has none)."""
    out: list[_Limit] = []
    for network, flag in NETWORKS:
        inside = network == "in"
        for info, level, limit, key in (
            (DEDUCTIBLE, "IND", version.deductible_individual, 0),
            (DEDUCTIBLE, "FAM", version.deductible_family, 1),
            (OUT_OF_POCKET, "IND", version.oop_individual, 2),
            (OUT_OF_POCKET, "FAM", version.oop_family, 3),
        ):
            amount = limit.for_network(inside)
            if amount != ZERO:
                out.append(_Limit(info, level, amount, flag, network, key))
    return tuple(out)


def _left(
    limits: Sequence[_Limit],
    met: Mapping[AccumulatorKey, Decimal],
    patient: Member,
    plan_id: str,
    year: date,
) -> list[Decimal]:
    """What remains of each of ``limits``, by the accumulators ``met`` (keyed as adjudication
    keys them)."""
    keys = {
        network: accumulator_keys(patient.member_id, patient.family_id, plan_id, year, network)
        for network, _ in NETWORKS
    }
    return [max(m.amount - met.get(keys[m.network][m.key], ZERO), ZERO) for m in limits]


@dataclass(frozen=True, slots=True)
class LimitProgress:
    """A deductible or out-of-pocket maximum of a patient's plan year, as a member reads it."""

    kind: str  # "deductible" or "out-of-pocket maximum"
    level: str  # "individual" or "family"
    network: str  # "in" or "out"
    limit: Decimal
    met: Decimal
    remaining: Decimal


def limit_progress(
    version: PlanVersion,
    met: Mapping[AccumulatorKey, Decimal],
    patient: Member,
    plan_id: str,
    year: date,
) -> tuple[LimitProgress, ...]:
    """Each deductible and out-of-pocket maximum of ``version`` with what ``met`` (the
    accumulators so far, keyed as adjudication keys them) has used and what remains: the
    amounts a 271 tells (pure)."""
    limits = _limits(version)
    left = _left(limits, met, patient, plan_id, year)
    return tuple(
        LimitProgress(
            "deductible" if m.info == DEDUCTIBLE else "out-of-pocket maximum",
            "individual" if m.level == "IND" else "family",
            m.network,
            m.amount,
            m.amount - remaining,
            remaining,
        )
        for m, remaining in zip(limits, left, strict=True)
    )


def _remaining(
    limits: Sequence[_Limit],
    met: Mapping[AccumulatorKey, Decimal],
    patient: Member,
    plan_id: str,
    year: date,
) -> list[str]:
    return [amount_text(v) for v in _left(limits, met, patient, plan_id, year)]


def plan_benefits(
    plan: Plan,
    version: PlanVersion,
    types: Sequence[str],
    met: Mapping[AccumulatorKey, Decimal],
    patient: Member,
    year: date,
) -> tuple[Benefit, ...]:
    """The EB segments of an active patient in the plan year starting ``year`` (pure: ``met``
    are the accumulators so far, keyed as adjudication keys them)."""
    limits = _limits(version)
    left = _left(limits, met, patient, plan.id, year)
    benefits, slots = _plan_benefits(plan, version, types, limits)
    return tuple(
        b if slot is None else b._replace(amount=left[slot])
        for b, slot in zip(benefits, slots, strict=True)
    )


def _plan_benefits(
    plan: Plan, version: PlanVersion, types: Sequence[str], limits: Sequence[_Limit]
) -> tuple[list[Benefit], list[int | None]]:
    """The EB segments of an active patient, but for what remains of ``limits``: each of those
    has the number of its limit in the second list (``None`` for the others)."""
    period = CALENDAR_YEAR if plan.plan_year_start == (1, 1) else SERVICE_YEAR
    kind = insurance_type(plan)
    out: list[Benefit] = []
    slots: list[int | None] = []
    for k, t in enumerate(types):
        out.append(
            Benefit(
                ACTIVE,
                service_type=t,
                insurance_type=kind,
                plan_name=plan.name,
                references=(("18", plan.id),) if k == 0 else (),
            )
        )
        slots.append(None)
        category = SERVICE_CATEGORIES.get(t, DEFAULT_CATEGORY)
        free = category in version.no_cost_share
        copay_only = category in version.copay_only
        if category in version.copays and not free:
            out.append(
                Benefit(
                    COPAY,
                    "IND",
                    t,
                    period=VISIT,
                    amount=version.copays[category],
                    in_network="Y",
                )
            )
            slots.append(None)
        for network, flag in NETWORKS:
            inside = network == "in"
            if inside and (free or copay_only):
                percent = ZERO
            else:
                percent = version.coinsurance_by_category.get(
                    category, version.coinsurance.for_network(inside)
                )
            out.append(Benefit(COINSURANCE, "IND", t, percent=percent / HUNDRED, in_network=flag))
            slots.append(None)
        for n, m in enumerate(limits):
            out.append(
                Benefit(m.info, m.level, t, period=period, amount=m.amount, in_network=m.flag)
            )
            slots.append(None)
            out.append(Benefit(m.info, m.level, t, period=REMAINING, in_network=m.flag))
            slots.append(n)
    return out, slots


# The benefits of a plan version for a set of service types, written with a request's
# delimiters but for the amounts that remain: the same for every member of the plan. Keyed by
# the plan and version objects' identities (a newly loaded reference set has new ones; the
# entry holds them, so an identity is not reused while it is kept), cleared when full.
_TEMPLATES: dict[
    tuple[int, int, tuple[str, ...], Delimiters],
    tuple[Plan, PlanVersion, tuple[_Limit, ...], BenefitTemplate],
] = {}
_TEMPLATES_MAX = 512
_templates_lock = threading.Lock()


def _template(
    plan: Plan, version: PlanVersion, types: tuple[str, ...], delimiters: Delimiters
) -> tuple[tuple[_Limit, ...], BenefitTemplate]:
    key = (id(plan), id(version), types, delimiters)
    found = _TEMPLATES.get(key)
    if found is not None and found[0] is plan and found[1] is version:
        return found[2], found[3]
    limits = _limits(version)
    benefits, slots = _plan_benefits(plan, version, types, limits)
    template = benefit_template(benefits, slots, delimiters)
    with _templates_lock:
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        _TEMPLATES[key] = (plan, version, limits, template)
    return limits, template


# -- the store: accumulators and audit in one round trip -------------------------------------------
# PostgreSQL: the audit rows written by the statement that reads the accumulators (a
# data-modifying WITH runs to completion whether or not its rows are read); the statement is
# its own transaction (autocommit), committed before the 271 is written.
_PG_READ = (
    "SELECT holder, plan_id, plan_year, bucket, network, amount FROM accumulators "
    "WHERE holder = ANY(%(holders)s) AND plan_id = ANY(%(plans)s) "
    "AND plan_year = ANY(%(years)s)"
)
_PG_AUDITED = (
    "WITH audited AS (INSERT INTO phi_reads (at, key_id, role, route, record_type, record_id) "
    "SELECT %(at)s, %(key_id)s, %(role)s, %(route)s, 'member', r "
    "FROM unnest(%(records)s::text[]) AS r) "
)
_PG_AUDIT_ONLY = (
    "INSERT INTO phi_reads (at, key_id, role, route, record_type, record_id) "
    "SELECT %(at)s, %(key_id)s, %(role)s, %(route)s, 'member', r "
    "FROM unnest(%(records)s::text[]) AS r"
)


def _read_store(
    engine: Engine,
    wanted: Sequence[_Pending],
    members: Sequence[str],
    audit: Mapping[str, Any] | None,
    connections: KeptConnections | None,
) -> dict[tuple[str, str, date], dict[AccumulatorKey, Decimal]]:
    """The accumulators of ``wanted`` patients, by (member, plan, plan year), and, with
    ``audit``, a ``phi_reads`` row for each of ``members`` committed with the same round trip
    (PostgreSQL, on one of ``connections`` when given) or transaction (SQLite)."""
    vault = current_vault()
    names: dict[str, str] = {}
    asked: set[tuple[str, str, date]] = set()
    for r in wanted:
        active = r.active
        assert active is not None
        p = active.patient
        for name in (f"member:{p.member_id}", f"family:{p.family_id}"):
            names[vault.lookup(name)] = name
        asked.add((p.member_id, active.plan.id, active.year))
    holders = sorted(names)
    plans = sorted({plan for _, plan, _ in asked})
    years = sorted({year for _, _, year in asked})
    records = [vault.lookup(m)[:64] for m in members] if audit is not None else []
    rows: list[Any] = []
    if engine.dialect.name == "postgresql":
        params: dict[str, Any] = {"holders": holders, "plans": plans, "years": years}
        if records:
            assert audit is not None
            params.update(
                at=audit["at"],
                key_id=audit["key_id"],
                role=audit["role"],
                route=audit["route"],
                records=records,
            )
        with (
            connections.connect()
            if connections is not None
            else KeptConnections(engine, 0).connect()
        ) as conn:
            if wanted:
                sql = (_PG_AUDITED if records else "") + _PG_READ
                rows = list(conn.exec_driver_sql(sql, params))
            elif records:
                conn.exec_driver_sql(_PG_AUDIT_ONLY, params)
    else:
        # the write lock up front only for a write (SQLite): a read alone takes none
        with begin_write(engine) if records else engine.connect() as conn:
            if records:
                assert audit is not None
                entry = dict(audit)
                conn.execute(
                    insert(phi_reads_table).values(
                        [{**entry, "record_type": "member", "record_id": r} for r in records]
                    )
                )
            if wanted:
                a = accumulators_table.c
                rows = list(
                    conn.execute(
                        select(
                            a.holder, a.plan_id, a.plan_year, a.bucket, a.network, a.amount
                        ).where(a.holder.in_(holders), a.plan_id.in_(plans), a.plan_year.in_(years))
                    )
                )
    by_holder: dict[tuple[str, str, date], dict[AccumulatorKey, Decimal]] = {}
    for holder, plan_id, plan_year, bucket, network, amount in rows:
        name = names[holder]
        by_holder.setdefault((name, plan_id, plan_year), {})[
            AccumulatorKey(name, plan_id, plan_year, bucket, network)
        ] = Decimal(amount)
    met: dict[tuple[str, str, date], dict[AccumulatorKey, Decimal]] = {}
    for r in wanted:
        active = r.active
        assert active is not None
        p, plan_id, year = active.patient, active.plan.id, active.year
        balances: dict[AccumulatorKey, Decimal] = {}
        for name in (f"member:{p.member_id}", f"family:{p.family_id}"):
            balances.update(by_holder.get((name, plan_id, year), {}))
        met[(p.member_id, plan_id, year)] = balances
    return met
