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

The store cannot be read when opening a connection or a query raises what a database that is
down, unreachable or overloaded raises (:data:`STORE_UNAVAILABLE`: SQLAlchemy's
``OperationalError``, ``InterfaceError`` and pool ``TimeoutError``), while reading a patient's
accumulators or members. The request is still answered: each patient from that one on gets
AAA 42 (those answered before it keep their answer), the failure is logged as an error by the
request's control numbers (never a patient's data), and :attr:`EligibilityAnswer.unavailable`
counts them (``claims_inquiries_total{outcome="unavailable"}``). When even the 271's control
number cannot be drawn from the store's counter, the 271 takes one of the reserved range
:data:`FALLBACK_CONTROL_BASE` and above, from the clock and a counter of the process, so that
it never reuses one the store gave. The 271's control numbers otherwise come from the store's
counter :data:`CONTROL_BLOCK` at a time (:func:`control_271`): one counter transaction for
that many answers, not one each.

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

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from claims_engine.adjudication.adjudicate import AccumulatorKey, accumulator_keys
from claims_engine.domain.benefits import Plan, PlanVersion
from claims_engine.domain.money import ZERO
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services.claim_inquiry import UnusableInquiry, unusable
from claims_engine.store.db import CONTROL_COUNTER, begin_write, next_numbers
from claims_engine.store.tables import accumulators_table
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader270 import (
    EligibilityInquiry,
    Entity,
    TooManyInquiries,
    Unreadable,
    read_270,
)
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
    EligibilityReport,
    Person,
    Rejection,
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
) -> EligibilityAnswer:
    """The 271 answering the 270 ``data`` (see the module docstring).

    ``on`` is the day an inquiry without a date (DTP*291) is answered for (default: ``now``'s
    day); ``allowed_npis`` are the receiver NPIs (2100B, NM108 ``XX``) the caller may ask for
    (``None``: any, for the insurer): another is answered AAA 43 and nothing about the
    patient. Raises :class:`UnusableInquiry` when the request cannot be answered (400 with a
    TA1, 422 with a 999, 413 over ``max_inquiries`` patients).
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
    reports: list[EligibilityReport] = []
    members: set[str] = set()
    balances = _Balances(engine)
    down: Exception | None = None
    try:
        for q in request.inquiries:
            if down is None:
                try:
                    report = _report(q, reference, allowed_npis, default_day, balances)
                except STORE_UNAVAILABLE as exc:
                    down = exc
            if down is not None:
                report = _unavailable(q, allowed_npis)
            elif report.rejection is None:
                members.update(
                    p.member_id for p in (report.subscriber, report.dependent) if p is not None
                )
            reports.append(report)
    finally:
        balances.close()
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
    return EligibilityAnswer(
        out.getvalue(), tuple(sorted(members)), len(request.inquiries), answered, unavailable
    )


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


def _report(
    q: EligibilityInquiry,
    reference: ReferenceData,
    allowed_npis: frozenset[str] | None,
    default_day: date,
    balances: _Balances,
) -> EligibilityReport:
    if _not_allowed(q, allowed_npis):
        return EligibilityReport(q, Rejection("2100B", INVALID_PROVIDER))
    day = q.asked_from or default_day
    found = find_member(reference, q, day)
    if isinstance(found, Rejection):
        return EligibilityReport(q, found)
    patient = found.patient
    plan = reference.plans.get(patient.plan_id)
    version = plan.version_on(day) if plan is not None else None
    subscriber = _person(found.subscriber)
    dependent = _person(patient) if q.dependent is not None else None
    dates: list[tuple[str, date, date | None]] = [("356", patient.effective_from, None)]
    if patient.effective_through is not None:
        dates.append(("357", patient.effective_through, None))
    types = service_types(q.service_types)
    if plan is None or version is None or not patient.covered_on(day):
        benefits = tuple(Benefit(INACTIVE, service_type=t) for t in types)
        return EligibilityReport(q, None, subscriber, dependent, tuple(dates), benefits)
    year = plan.plan_year(day)
    dates.insert(0, ("346", year, None))
    met = balances.of(patient, plan, year)
    benefits = plan_benefits(plan, version, types, met, patient, year)
    return EligibilityReport(q, None, subscriber, dependent, tuple(dates), benefits)


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
    period = CALENDAR_YEAR if plan.plan_year_start == (1, 1) else SERVICE_YEAR
    kind = insurance_type(plan)
    # the deductibles and out-of-pocket maximums, and what remains of them, are the same for
    # every service type: (EB01, EB02, the plan-year amount, what remains, EB12)
    limits: list[tuple[str, str, Decimal, Decimal, str]] = []
    for network, flag in NETWORKS:
        inside = network == "in"
        keys = accumulator_keys(patient.member_id, patient.family_id, plan.id, year, network)
        for info, level, limit, key in (
            (DEDUCTIBLE, "IND", version.deductible_individual, keys.member_deductible),
            (DEDUCTIBLE, "FAM", version.deductible_family, keys.family_deductible),
            (OUT_OF_POCKET, "IND", version.oop_individual, keys.member_oop),
            (OUT_OF_POCKET, "FAM", version.oop_family, keys.family_oop),
        ):
            amount = limit.for_network(inside)
            if amount == ZERO:  # the plan has none
                continue
            limits.append((info, level, amount, max(amount - met.get(key, ZERO), ZERO), flag))
    out: list[Benefit] = []
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
        for network, flag in NETWORKS:
            inside = network == "in"
            if inside and (free or copay_only):
                percent = ZERO
            else:
                percent = version.coinsurance_by_category.get(
                    category, version.coinsurance.for_network(inside)
                )
            out.append(Benefit(COINSURANCE, "IND", t, percent=percent / HUNDRED, in_network=flag))
        for info, level, amount, left, flag in limits:
            out.append(Benefit(info, level, t, period=period, amount=amount, in_network=flag))
            out.append(Benefit(info, level, t, period=REMAINING, amount=left, in_network=flag))
    return tuple(out)


class _Balances:
    """The live accumulators of the store, read once per family and plan year, on one
    connection opened at the first read (a request of rejections opens none)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._read: dict[tuple[str, str, str, date], dict[AccumulatorKey, Decimal]] = {}

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            engine = self.engine
            if engine.dialect.name == "postgresql":
                # each read its own statement: no BEGIN and ROLLBACK round trips around it
                engine = engine.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = engine.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def of(self, patient: Member, plan: Plan, year: date) -> dict[AccumulatorKey, Decimal]:
        key = (patient.member_id, patient.family_id, plan.id, year)
        found = self._read.get(key)
        if found is None:
            found = self._read[key] = self._load(patient, plan, year)
        return found

    def _load(self, patient: Member, plan: Plan, year: date) -> dict[AccumulatorKey, Decimal]:
        vault = current_vault()
        names = {
            vault.lookup(name): name
            for name in (f"member:{patient.member_id}", f"family:{patient.family_id}")
        }
        a = accumulators_table.c
        rows = self.conn.execute(
            select(a.holder, a.plan_id, a.plan_year, a.bucket, a.network, a.amount).where(
                a.holder.in_(sorted(names)), a.plan_id == plan.id, a.plan_year == year
            )
        )
        met: dict[AccumulatorKey, Decimal] = {}
        for r in rows:
            met[AccumulatorKey(names[r.holder], r.plan_id, r.plan_year, r.bucket, r.network)] = (
                Decimal(r.amount)
            )
        return met
