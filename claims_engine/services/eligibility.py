"""Eligibility and benefit inquiries: an X12 270 in, its 271 out.

:func:`answer_270` reads the request (:func:`claims_engine.x12.reader270.read_270`), finds each
patient asked about (:func:`find_member`), tells whether they are covered on the day asked and
what their plan makes them pay, and writes the answer
(:func:`claims_engine.x12.writer271.write_271`). A request that cannot be answered raises
:class:`~claims_engine.services.claim_inquiry.UnusableInquiry` with the TA1 (broken
interchange) or 999 (broken functional group or transaction set) answering it.

Members come from the reference data in force; :func:`find_member` is the one place that knows
it, so that moving enrollment into the store changes that function alone. The AAA reasons
(AAA03 of 005010X279A1) an inquiry gets when it cannot be answered:

====  ======  ===================================================================
code  loop    when
====  ======  ===================================================================
43    2100B   the asker may not ask for this receiver (a provider key's NPIs)
15    2100C   no member id and no name: nothing to look for
72    2100C   no member id (NM109)
75    2100C   no member has the id
73    2100C   the subscriber's last name is not the member's
58    2100C/D the birth date is after the day asked, or a dependent's is missing
71    2100C   the subscriber's birth date is not the member's
67    2100D   no dependent of the subscriber has the birth date (and first name)
65    2100D   the dependent's last name is not the member's
====  ======  ===================================================================

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
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, select

from claims_engine.adjudication.adjudicate import AccumulatorKey, accumulator_keys
from claims_engine.domain.benefits import Plan, PlanVersion
from claims_engine.domain.money import ZERO
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services.claim_inquiry import UnusableInquiry, next_control, unusable
from claims_engine.store.tables import accumulators_table
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader270 import (
    EligibilityInquiry,
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
    INACTIVE,
    INVALID_BIRTH_DATE,
    INVALID_MEMBER_ID,
    INVALID_NAME,
    INVALID_PROVIDER,
    OUT_OF_POCKET,
    PATIENT_NOT_FOUND,
    REMAINING,
    REQUIRED_FIELD_MISSING,
    SERVICE_YEAR,
    SUBSCRIBER_NOT_FOUND,
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


log = logging.getLogger("claims_engine.services.eligibility")


@dataclass(frozen=True, slots=True)
class EligibilityAnswer:
    x12: str  # the 271 text
    member_ids: tuple[str, ...]  # the members whose data went into the answer (PHI audit)
    asked: int = 0  # patients asked about
    answered: int = 0  # of them, found and answered with benefits


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
    member = reference.members.get(asked.id.strip().upper()) or reference.members.get(asked.id)
    if member is None:
        return Rejection("2100C", SUBSCRIBER_NOT_FOUND)
    subscriber = reference.members.get(member.subscriber_id, member)
    if asked.birth_date is not None and asked.birth_date > on:
        return Rejection("2100C", INVALID_BIRTH_DATE)
    dependent = inquiry.dependent
    if dependent is None:
        if asked.last_name and asked.last_name.strip().upper() != member.last_name:
            return Rejection("2100C", INVALID_NAME)
        if asked.birth_date is not None and asked.birth_date != member.birth_date:
            return Rejection("2100C", BIRTH_DATE_MISMATCH)
        return Found(subscriber, member)
    if asked.last_name and asked.last_name.strip().upper() != subscriber.last_name:
        return Rejection("2100C", INVALID_NAME)
    if dependent.birth_date is None or dependent.birth_date > on:
        return Rejection("2100D", INVALID_BIRTH_DATE)
    patient = reference.find_patient(
        subscriber.member_id, "19", dependent.first_name.strip(), dependent.birth_date
    )
    if patient is None:
        return Rejection("2100D", PATIENT_NOT_FOUND)
    if dependent.last_name and dependent.last_name.strip().upper() != patient.last_name:
        return Rejection("2100D", "65")  # invalid/missing patient name
    return Found(subscriber, patient)


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
    with engine.connect() as conn:
        balances = _Balances(conn)
        for q in request.inquiries:
            report = _report(q, reference, allowed_npis, default_day, balances)
            if report.rejection is None:
                members.update(
                    p.member_id for p in (report.subscriber, report.dependent) if p is not None
                )
            reports.append(report)
    out = io.StringIO()
    control = next_control(engine)
    write_271(out, request, reports, control=control, created=now)
    answered = sum(1 for r in reports if r.rejection is None)
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
        out.getvalue(), tuple(sorted(members)), len(request.inquiries), answered
    )


def _report(
    q: EligibilityInquiry,
    reference: ReferenceData,
    allowed_npis: frozenset[str] | None,
    default_day: date,
    balances: _Balances,
) -> EligibilityReport:
    if allowed_npis is not None and (not q.receiver.npi or q.receiver.npi not in allowed_npis):
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
                left = max(amount - met.get(key, ZERO), ZERO)
                out.append(Benefit(info, level, t, period=period, amount=amount, in_network=flag))
                out.append(Benefit(info, level, t, period=REMAINING, amount=left, in_network=flag))
    return tuple(out)


class _Balances:
    """The live accumulators of the store, read once per family and plan year."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._read: dict[tuple[str, str, str, date], dict[AccumulatorKey, Decimal]] = {}

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
