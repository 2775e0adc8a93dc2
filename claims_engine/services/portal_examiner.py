"""What the examiners' pages need beyond :mod:`claims_engine.services.examination` and
:mod:`claims_engine.services.authorizations`.

* Who the examiners are: an action records its examiner by key id (an account's is
  ``web-<user>``); the pages show the account's email instead, and offer a supervisor the
  examiners a claim may be reassigned to, by the API's rule
  (:func:`claims_engine.services.access.active_examiner`).
* The clinical queue of prior authorization requests (:func:`clinical_queue`): the service's
  list of pended requests, the soonest due first, with each request's member masked, its
  services and its clock's mark (overdue, or due soon within its plan's ``alert_before``);
  one request as its reviewer reads it (:func:`reviewed_request`: the service's view, the
  rules that sent it to review, its events), audited as the API audits a read of health data.
  Deciding stays :func:`~claims_engine.services.authorizations.decide`'s,
  :func:`~claims_engine.services.authorizations.extend`'s and
  :func:`~claims_engine.services.authorizations.cancel`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Engine, select

from claims_engine.domain.prior_auth import Urgency
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.rules.authorization_rules import (
    AuthRules,
)
from claims_engine.services import access, authorizations
from claims_engine.services.access import EXAMINING, Principal, Role
from claims_engine.store.db import begin_write
from claims_engine.store.tables import (
    ACCOUNT_EMAIL,
    AUTHORIZATION,
    accounts_table,
    prior_authorization_events_table,
    prior_authorization_services_table,
    prior_authorizations_table,
)
from claims_engine.store.vault import current_vault


@dataclass(frozen=True, slots=True)
class Colleague:
    key_id: str
    email: str
    role: Role
    active: bool  # a claim may be reassigned to them now


def colleagues(engine: Engine, now: datetime) -> list[Colleague]:
    """Every examiner and supervisor account, in the order they were made (no other account's
    email is opened)."""
    a = accounts_table.c
    vault = current_vault()
    found = []
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.id, a.key_id, a.role, a.email)
            .where(a.role.in_(sorted(r.value for r in EXAMINING)))
            .order_by(a.id)
        ).all()
        for r in rows:
            found.append(
                Colleague(
                    str(r.key_id),
                    vault.open_text(r.email, ACCOUNT_EMAIL, r.id),
                    Role(r.role),
                    access.active_examiner(conn, str(r.key_id), now),
                )
            )
    return found


def names(found: list[Colleague]) -> dict[str, str]:
    """The email of each examiner's key id."""
    return {c.key_id: c.email for c in found}


# -- the clinical queue: prior authorization requests waiting for a reviewer ------------------

CLINICAL_LIMIT = 100  # requests the clinical queue's page lists, the soonest due first
OVERDUE = "overdue"
DUE_SOON = "due soon"
_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AskedService:
    """One service of a request as the queue lists it: its codes, how much of what."""

    line: int
    codes: tuple[str, ...]
    quantity: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class ClinicalEntry:
    """A pended request in the clinical queue, as the examiners' page lists it."""

    number: str
    urgency: str
    plan_id: str
    member: str  # masked: the last characters of the member id only
    requesting_npi: str
    requesting_name: str  # as the reference data names the provider ("" when unknown)
    received_at: datetime
    due_at: datetime
    extended: bool
    services: tuple[AskedService, ...]
    hours_left: Decimal  # negative when overdue, to a tenth of an hour
    mark: str  # OVERDUE, DUE_SOON or ""


@dataclass(frozen=True, slots=True)
class ClinicalSummary:
    """The clinical queue in figures, for the queues page."""

    waiting: int
    expedited: int
    overdue: int
    due_soon: int


def masked(member_id: str) -> str:
    """A member id with all but its last four characters hidden ("ending in 0100")."""
    kept = member_id.strip()[-4:]
    return f"ending in {kept}" if kept else "–"


def clock_mark(due: datetime, now: datetime, alert_before: timedelta) -> tuple[Decimal, str]:
    """The hours left until ``due`` (negative: past it) and its mark: overdue once past it,
    due soon within ``alert_before`` of it (the decisions file's alert, per plan)."""
    hours = Decimal((due - now) / _HOUR).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    if now >= due:
        return hours, OVERDUE
    if now >= due - alert_before:
        return hours, DUE_SOON
    return hours, ""


def hours_words(hours: Decimal) -> str:
    """ "in 71.5 hours", "in 1 hour", "3 hours ago" (a tenth of an hour at most)."""
    shown = abs(hours).normalize()
    text = f"{shown:f}"
    unit = "hour" if abs(hours) == 1 else "hours"
    return f"{text} {unit} ago" if hours < 0 else f"in {text} {unit}"


def clinical_queue(
    engine: Engine,
    rules: AuthRules,
    now: datetime,
    reference: ReferenceData | None = None,
    limit: int = CLINICAL_LIMIT,
) -> list[ClinicalEntry]:
    """The requests waiting for a clinical reviewer, the soonest due first (the order of
    :func:`claims_engine.services.authorizations.clinical_queue`, whose list this is), each
    with its member masked, its services and its clock's mark."""
    queued = authorizations.clinical_queue(engine, limit=limit)
    if not queued:
        return []
    a, s = prior_authorizations_table.c, prior_authorization_services_table.c
    vault = current_vault()
    with engine.connect() as conn:
        rows = {
            str(r.number): r
            for r in conn.execute(
                select(a.id, a.number, a.content, a.extended_at).where(
                    a.number.in_([q.number for q in queued])
                )
            )
        }
        asked: dict[int, list[AskedService]] = {}
        for sv in conn.execute(
            select(s.authorization_id, s.line, s.codes, s.requested, s.unit)
            .where(s.authorization_id.in_([int(r.id) for r in rows.values()]))
            .order_by(s.authorization_id, s.line)
        ):
            asked.setdefault(int(sv.authorization_id), []).append(
                AskedService(int(sv.line), tuple(str(sv.codes).split()), sv.requested, str(sv.unit))
            )
    found = []
    for q in queued:
        row = rows.get(q.number)
        if row is None:  # decided between the two reads: no longer waiting
            continue
        content = vault.open_json(row.content, AUTHORIZATION, row.id)
        hours, mark = clock_mark(q.due_at, now, rules.clocks_for(q.plan_id).alert_before)
        found.append(
            ClinicalEntry(
                number=q.number,
                urgency=q.urgency,
                plan_id=q.plan_id,
                member=masked(str(content.get("member_id", ""))),
                requesting_npi=q.requesting_npi,
                requesting_name=_provider_name(reference, q.requesting_npi),
                received_at=q.received_at,
                due_at=q.due_at,
                extended=row.extended_at is not None,
                services=tuple(asked.get(int(row.id), ())),
                hours_left=hours,
                mark=mark,
            )
        )
    return found


def clinical_summary(entries: list[ClinicalEntry]) -> ClinicalSummary:
    return ClinicalSummary(
        waiting=len(entries),
        expedited=sum(1 for e in entries if e.urgency == Urgency.EXPEDITED),
        overdue=sum(1 for e in entries if e.mark == OVERDUE),
        due_soon=sum(1 for e in entries if e.mark == DUE_SOON),
    )


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """One change of a request: when, who, from and to which state, the 278 action, a note."""

    at: datetime
    actor: str
    from_state: str
    to_state: str
    action: str
    note: str


@dataclass(frozen=True, slots=True)
class ReviewedRequest:
    """A request as its clinical reviewer reads it: the service's view, the member and the
    providers as the reference data names them, the rules that sent its services to review,
    its events, and its clock."""

    view: authorizations.AuthorizationView
    member_name: str
    birth_date: date | None
    requesting_name: str
    servicing_name: str
    review_rules: tuple[tuple[int, str], ...]  # (service line, rule id) that pended it
    events: tuple[RequestEvent, ...]
    hours_left: Decimal
    mark: str
    extension: timedelta  # what an extension would add (its plan's clock)


def _provider_name(reference: ReferenceData | None, npi: str) -> str:
    found = reference.providers.get(npi) if reference is not None and npi else None
    if found is None:
        return ""
    return " ".join(p for p in (found.first_name, found.last_or_org_name) if p)


def reviewed_request(
    engine: Engine,
    principal: Principal,
    number: str,
    rules: AuthRules,
    reference: ReferenceData | None,
    now: datetime,
    *,
    route: str,
) -> ReviewedRequest:
    """Request ``number`` as ``principal`` may see it
    (:func:`claims_engine.services.authorizations.inquire`: not found raises
    :class:`~claims_engine.services.authorizations.AuthorizationNotFound`), with its events,
    audited (one ``phi_reads`` row, type ``authorization``) in the transaction that reads
    them."""
    view = authorizations.inquire(engine, principal, number=number)
    e, a = prior_authorization_events_table.c, prior_authorizations_table.c
    with begin_write(engine) as conn:
        events = tuple(
            RequestEvent(
                r.at,
                str(r.actor),
                str(r.from_state or ""),
                str(r.to_state),
                str(r.action or ""),
                str(r.note or ""),
            )
            for r in conn.execute(
                select(e.at, e.actor, e.from_state, e.to_state, e.action, e.note)
                .join(prior_authorizations_table, a.id == e.authorization_id)
                .where(a.number == view.number)
                .order_by(e.id)
            )
        )
        access.record_reads(conn, principal, route, "authorization", [view.number], now)
    member = reference.members.get(view.member_id) if reference is not None else None
    clocks = rules.clocks_for(view.plan_id)
    hours, mark = clock_mark(view.due_at, now, clocks.alert_before)
    return ReviewedRequest(
        view=view,
        member_name=f"{member.first_name} {member.last_name}".strip() if member else "",
        birth_date=member.birth_date if member else None,
        requesting_name=_provider_name(reference, view.requesting_npi),
        servicing_name=_provider_name(reference, view.servicing_npi),
        review_rules=tuple((s.line, s.rule) for s in view.services if s.rule),
        events=events,
        hours_left=hours,
        mark=mark,
        extension=clocks.extension,
    )


def record_queue_reads(
    engine: Engine, principal: Principal, entries: list[ClinicalEntry], route: str, now: datetime
) -> None:
    """One ``phi_reads`` row per request the clinical queue's page lists."""
    if entries:
        with begin_write(engine) as conn:
            access.record_reads(
                conn, principal, route, "authorization", [x.number for x in entries], now
            )
