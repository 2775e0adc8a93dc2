"""Pended claims worked to a decision: queues, assignments, examiners' actions, four eyes.

A claim that pends waits in the queue of its most urgent open pend reason (see
:mod:`claims_engine.services.pends`). An examiner lists a queue (:func:`queue_page`), opens a
claim (:func:`show`), takes it (:func:`take`: an assignment that expires, so two examiners
never work one claim) and acts on it (:func:`act`), each action in one write transaction with
its effects:

- ``release``: the named pend reasons (all open ones by default) are resolved and the claim is
  adjudicated again: a resolved reason does not pend it again, every other stage still applies;
- ``deny``: a line, or the whole claim (line 0), with a group code, a CARC and RARCs from the
  code lists (a CARC that needs a remark gets one);
- ``price``: a line's allowed amount, or its charge accepted; cost sharing, accumulators and
  the 835 follow from it as from any adjudication;
- ``override``: a coverage rule's denial of a line (or its missing authorization) set aside;
- ``request-info``: the provider is asked for something; the claim waits for them (the plan
  says whether its prompt-payment clock stops meanwhile), providers see what is asked in the
  claim's status, and :func:`expire_info_requests` denies it CO-16 with the request's remark
  when nothing arrives in the plan's days; ``info-received`` ends the wait;
- ``note``: words for the next examiner (never shown to members or providers).

Price, override and deny act on a line: they resolve the pend reasons of that line. Every
action is a row of ``examiner_actions`` (who, when, which pend items, and sealed: why, what was
asked, the claim before and after) and goes into the audit export's chain. A price or
override whose line would be allowed more than the plan's ``second_approval_above`` waits for
a second examiner's :func:`approve` before it takes effect (four eyes). Actions carry the
claim's ``version`` as their author saw it: of two actions made on one version, one wins and
the other is refused with :class:`ClaimChanged` (HTTP 409). A decided claim leaves its queue
and joins the next payment cycle as any other claim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from claims_engine.adjudication.adjudicate import Adjudication
from claims_engine.adjudication.decision import ClaimDecision, Outcome
from claims_engine.adjudication.directives import Denial, Directives
from claims_engine.domain.benefits import Examination
from claims_engine.domain.errors import ClaimsEngineError, DataKeyError
from claims_engine.domain.money import ZERO, money
from claims_engine.domain.pend_reasons import INFO_REQUESTED, PendItem
from claims_engine.domain.reasons import CARC, CARC_NEEDS_RARC, GROUP_CODES, RARC
from claims_engine.services.pends import (
    DEFAULT_PROMPT_PAY_DAYS,
    PendedClaim,
    among,
    close_pends,
    close_pends_many,
    item_row,
    open_items,
    open_items_of,
    refile,
    resolve,
    resolve_each,
    sync_pends,
    sync_pends_many,
)
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import (
    NotPended,
    decide_again,
    decide_again_many,
    pended_claim,
    read_decision,
)
from claims_engine.store.bulk import insert_rows, update_rows
from claims_engine.store.db import begin_write, error_line, is_postgres
from claims_engine.store.tables import (
    EXAMINER_ACTION,
    ActionState,
    ClaimState,
    PendState,
    adjudications_table,
    claim_lines_table,
    claims_table,
    examiner_actions_table,
    pend_items_table,
    pended_claims_table,
)
from claims_engine.store.vault import current_vault

_claims = claims_table
_items = pend_items_table
_pended = pended_claims_table
_actions = examiner_actions_table
_adjudications = adjudications_table

HOLD = timedelta(hours=4)  # how long a take holds a claim for its examiner
PAGE = 50
MAX_PAGE = 500
DUE_SOON_DAYS = 5  # a claim due within this many days is "due soon" (and alerted on)
SWEEP_ACTOR = "info-request sweep"
DEFAULT_INFO_REMARK = "N29"  # missing documentation/orders/notes/summary/report/chart
_EXAMINER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}\Z")
MAX_WHY = 2000

DECIDING = ("release", "deny", "price", "override")
KINDS = (
    "take",
    "give-back",
    "reassign",
    *DECIDING,
    "request-info",
    "info-received",
    "note",
    "approve",
    "refuse",
)


# -- errors ---------------------------------------------------------------------------------------


class ExaminationError(ClaimsEngineError):
    """An action that cannot be taken; ``status`` is the HTTP status the API answers with."""

    status = 400


class ClaimNotFound(ExaminationError):
    status = 404


class ClaimChanged(ExaminationError):
    """The claim changed since the author looked (or is held, or no longer pended)."""

    status = 409


class NotAllowed(ExaminationError):
    status = 403


# -- who ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Examiner:
    """Who acts: an examiner's name (a key id through the API, a name on the command line)
    and whether they are a supervisor (who may reassign claims held by others)."""

    name: str
    supervisor: bool = False

    def __post_init__(self) -> None:
        if not _EXAMINER.match(self.name):
            raise ExaminationError(
                f"examiner name {self.name!r}: 1 to 100 letters, digits and . _ @ -"
            )


# -- what is asked --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Release:
    why: str
    codes: tuple[str, ...] = ()  # the pend reasons to resolve; none: every open one


@dataclass(frozen=True, slots=True)
class Deny:
    why: str
    line: int  # 0: the whole claim
    carc: str
    group: str = "CO"
    rarcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Price:
    why: str
    line: int
    allowed: Decimal | None  # None: the line's charge is accepted


@dataclass(frozen=True, slots=True)
class Override:
    why: str
    line: int


@dataclass(frozen=True, slots=True)
class RequestInfo:
    why: str
    asked: str  # what the provider is asked for: they see it in the claim's status
    remark: str = DEFAULT_INFO_REMARK  # the RARC a denial for no answer carries


@dataclass(frozen=True, slots=True)
class InfoReceived:
    why: str


@dataclass(frozen=True, slots=True)
class Note:
    why: str


Request = Release | Deny | Price | Override | RequestInfo | InfoReceived | Note
_KIND_OF: dict[type, str] = {
    Release: "release",
    Deny: "deny",
    Price: "price",
    Override: "override",
    RequestInfo: "request-info",
    InfoReceived: "info-received",
    Note: "note",
}


def _request_json(request: Request) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": _KIND_OF[type(request)], "why": request.why}
    if isinstance(request, Release):
        data["codes"] = list(request.codes)
    elif isinstance(request, Deny):
        data.update(line=request.line, group=request.group, carc=request.carc)
        data["rarcs"] = list(request.rarcs)
    elif isinstance(request, Price):
        data["line"] = request.line
        data["allowed"] = None if request.allowed is None else str(request.allowed)
    elif isinstance(request, Override):
        data["line"] = request.line
    elif isinstance(request, RequestInfo):
        data.update(asked=request.asked, remark=request.remark)
    return data


def _request_from_json(data: Mapping[str, Any]) -> Request:
    kind, why = data["kind"], str(data.get("why", ""))
    if kind == "release":
        return Release(why, tuple(data.get("codes", ())))
    if kind == "deny":
        return Deny(why, int(data["line"]), data["carc"], data["group"], tuple(data["rarcs"]))
    if kind == "price":
        allowed = data.get("allowed")
        return Price(why, int(data["line"]), None if allowed is None else Decimal(allowed))
    if kind == "override":
        return Override(why, int(data["line"]))
    if kind == "request-info":
        return RequestInfo(why, data["asked"], data["remark"])
    if kind == "info-received":
        return InfoReceived(why)
    return Note(why)


# -- what is answered -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ActionResult:
    action_id: int
    kind: str
    state: str  # applied / awaiting approval / approved / refused
    claim_state: str  # pended / adjudicated
    outcome: str  # of the claim's decision now ("" when it has none)
    paid: Decimal | None
    version: int  # the claim's examination version now (0: it left its queue)
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "kind": self.kind,
            "state": self.state,
            "claim_state": self.claim_state,
            "outcome": self.outcome or None,
            "paid": None if self.paid is None else str(self.paid),
            "version": self.version,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class QueueSummary:
    queue: str
    claims: int
    charge: Decimal
    oldest_received: date | None
    past_due: int
    due_soon: int
    unassigned: int

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "claims": self.claims,
            "charge": str(self.charge),
            "oldest_received": self.oldest_received.isoformat() if self.oldest_received else None,
            "past_due": self.past_due,
            "due_soon": self.due_soon,
            "unassigned": self.unassigned,
        }


@dataclass(frozen=True, slots=True)
class QueueEntry:
    claim_id: int
    payer_claim_number: str
    queue: str
    priority: int
    charge: Decimal
    received_on: date
    age_days: int
    due_on: date
    days_left: int
    assigned_to: str | None
    waiting_for_provider: bool
    codes: tuple[str, ...]
    version: int

    def as_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "payer_claim_number": self.payer_claim_number,
            "queue": self.queue,
            "priority": self.priority,
            "charge": str(self.charge),
            "received_on": self.received_on.isoformat(),
            "age_days": self.age_days,
            "due_on": self.due_on.isoformat(),
            "days_left": self.days_left,
            "assigned_to": self.assigned_to,
            "waiting_for_provider": self.waiting_for_provider,
            "codes": list(self.codes),
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class QueuePage:
    queue: str
    entries: tuple[QueueEntry, ...]
    next_after: str | None  # pass as ``after`` for the next page

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "claims": [e.as_json() for e in self.entries],
            "next_after": self.next_after,
        }


@dataclass(frozen=True, slots=True)
class ItemView:
    id: int
    code: str
    text: str
    line: int
    rule: str
    detail: str
    queue: str
    priority: int
    raised_at: datetime
    due_at: datetime
    state: str
    asked: str | None
    remark: str | None
    resolved_at: datetime | None
    resolved_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "text": self.text,
            "line": self.line,
            "rule": self.rule or None,
            "detail": self.detail,
            "queue": self.queue,
            "priority": self.priority,
            "raised_at": _iso(self.raised_at),
            "due_at": _iso(self.due_at),
            "state": self.state,
            "asked": self.asked,
            "remark": self.remark,
            "resolved_at": _iso(self.resolved_at),
            "resolved_by": self.resolved_by,
        }


@dataclass(frozen=True, slots=True)
class ActionView:
    id: int
    kind: str
    actor: str
    at: datetime
    state: str
    items: tuple[int, ...]
    why: str
    request: Mapping[str, Any]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    approved_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "actor": self.actor,
            "at": _iso(self.at),
            "state": self.state,
            "items": list(self.items),
            "why": self.why,
            "request": dict(self.request),
            "before": self.before,
            "after": self.after,
            "approved_by": self.approved_by,
        }


@dataclass(frozen=True, slots=True)
class ClaimView:
    """A pended (or once pended) claim as an examiner sees it."""

    claim_id: int
    payer_claim_number: str
    state: str
    queue: str | None
    priority: int | None
    charge: Decimal
    received_on: date
    due_on: date | None
    assigned_to: str | None
    assigned_until: datetime | None
    version: int
    decision: Mapping[str, Any] | None
    items: tuple[ItemView, ...]
    actions: tuple[ActionView, ...]
    history: tuple[Mapping[str, Any], ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "claim_id": self.claim_id,
            "payer_claim_number": self.payer_claim_number,
            "state": self.state,
            "queue": self.queue,
            "priority": self.priority,
            "charge": str(self.charge),
            "received_on": self.received_on.isoformat(),
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "assigned_to": self.assigned_to,
            "assigned_until": _iso(self.assigned_until),
            "version": self.version,
            "decision": self.decision,
            "pend_items": [i.as_json() for i in self.items],
            "actions": [a.as_json() for a in self.actions],
            "member_history": list(self.history),
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat() + "Z"


# -- queues ---------------------------------------------------------------------------------------


def queues(engine: Engine, now: datetime) -> list[QueueSummary]:
    """Every queue with pended claims: how many, their charge, the oldest receipt, how many
    are past due or due within :data:`DUE_SOON_DAYS`, how many nobody holds."""
    p = _pended.c
    today = now.date()
    held = and_(p.assigned_to.is_not(None), p.assigned_until > now)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                p.queue,
                func.count(),
                func.sum(p.charge),
                func.min(p.received_on),
                func.sum(_flag(p.due_on < today)),
                func.sum(
                    _flag(and_(p.due_on >= today, p.due_on <= today + timedelta(DUE_SOON_DAYS)))
                ),
                func.sum(_flag(~held)),
            )
            .group_by(p.queue)
            .order_by(p.queue)
        ).all()
    return [
        QueueSummary(
            str(r[0]),
            int(r[1]),
            _exact(r[2]),
            r[3],
            int(r[4] or 0),
            int(r[5] or 0),
            int(r[6] or 0),
        )
        for r in rows
    ]


def _flag(condition: Any) -> Any:
    return case((condition, 1), else_=0)


def _exact(value: Any) -> Decimal:
    """A SUM of money as the store returns it (Decimal on PostgreSQL; cents on SQLite)."""
    if value is None:
        return money(ZERO)
    return money(p_decimal(value))


def p_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(int(value)).scaleb(-2)


def queue_page(
    engine: Engine,
    queue: str,
    now: datetime,
    *,
    limit: int = PAGE,
    after: str | None = None,
) -> QueuePage:
    """A queue's claims, most urgent first (priority, then due day, then claim id), a page of
    ``limit`` at a time; ``after`` is the ``next_after`` of the page before."""
    if not 1 <= limit <= MAX_PAGE:
        raise ExaminationError(f"limit {limit}: a page holds 1 to {MAX_PAGE} claims")
    p, c = _pended.c, _claims.c
    query = (
        select(
            p.claim_id,
            c.payer_claim_number,
            p.queue,
            p.priority,
            p.charge,
            p.received_on,
            p.due_on,
            p.waiting_since,
            p.assigned_to,
            p.assigned_until,
            p.version,
        )
        .join(_claims, c.id == p.claim_id)
        .where(p.queue == queue)
        .order_by(p.priority, p.due_on, p.claim_id)
        .limit(limit + 1)
    )
    if after is not None:
        priority, due, claim_id = _cursor(after)
        query = query.where(
            or_(
                p.priority > priority,
                and_(p.priority == priority, p.due_on > due),
                and_(p.priority == priority, p.due_on == due, p.claim_id > claim_id),
            )
        )
    today = now.date()
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        more = len(rows) > limit
        rows = rows[:limit]
        codes = _open_codes(conn, [int(r.claim_id) for r in rows])
    entries = tuple(
        QueueEntry(
            claim_id=int(r.claim_id),
            payer_claim_number=str(r.payer_claim_number),
            queue=str(r.queue),
            priority=int(r.priority),
            charge=r.charge,
            received_on=r.received_on,
            age_days=(today - r.received_on).days,
            due_on=r.due_on,
            days_left=(r.due_on - today).days,
            assigned_to=r.assigned_to if _held(r.assigned_to, r.assigned_until, now) else None,
            waiting_for_provider=r.waiting_since is not None,
            codes=tuple(codes.get(int(r.claim_id), ())),
            version=int(r.version),
        )
        for r in rows
    )
    last = entries[-1] if entries and more else None
    next_after = f"{last.priority}.{last.due_on.isoformat()}.{last.claim_id}" if last else None
    return QueuePage(queue, entries, next_after)


def _cursor(after: str) -> tuple[int, date, int]:
    try:
        priority, due, claim_id = after.split(".")
        # numbers a store's integer holds: ASCII digits, at most 18 of them
        if not all(n.isascii() and n.isdigit() and len(n) <= 18 for n in (priority, claim_id)):
            raise ValueError(after)
        return int(priority), date.fromisoformat(due), int(claim_id)
    except ValueError:
        raise ExaminationError(
            f"after {after!r} is not a page cursor (use the next_after of the page before)"
        ) from None


def _open_codes(conn: Connection, claim_ids: Sequence[int]) -> dict[int, list[str]]:
    if not claim_ids:
        return {}
    i = _items.c
    found: dict[int, list[str]] = {}
    for r in conn.execute(
        select(i.claim_id, i.code)
        .where(i.claim_id.in_(list(claim_ids)), i.state == PendState.OPEN)
        .order_by(i.claim_id, i.priority, i.id)
    ):
        codes = found.setdefault(int(r.claim_id), [])
        if r.code not in codes:
            codes.append(str(r.code))
    return found


def _held(who: str | None, until: datetime | None, now: datetime) -> bool:
    return who is not None and until is not None and until > now


# -- one claim ------------------------------------------------------------------------------------


def show(engine: Engine, runtime: Runtime, claim_id: int, now: datetime) -> ClaimView:
    """A claim with its pend items, its decision, the actions taken on it and its member's
    recent services: what an examiner needs to decide."""
    c, p, a = _claims.c, _pended.c, _adjudications.c
    with engine.connect() as conn:
        row = conn.execute(
            select(
                c.id,
                c.payer_claim_number,
                c.state,
                c.total_charge,
                c.received_on,
                c.claim,
                c.member_id,
                p.queue,
                p.priority,
                p.due_on,
                p.assigned_to,
                p.assigned_until,
                p.version,
            )
            .outerjoin(_pended, p.claim_id == c.id)
            .where(c.id == claim_id, c.payer_claim_number.is_not(None))
        ).first()
        if row is None:
            raise ClaimNotFound(f"claim {claim_id} not found")
        decision_row = conn.execute(
            select(a.id, a.decision).where(a.claim_id == claim_id, a.kind == "decision")
        ).first()
        items = _item_views(conn, runtime, claim_id)
        actions = _action_views(conn, claim_id)
        history = _member_history(conn, str(row.member_id), claim_id)
    if not items and not actions:
        raise ClaimNotFound(f"claim {claim_id} has never pended")
    decision = None
    if decision_row is not None:
        decision = _snapshot(
            read_decision(decision_row.decision, row.claim, decision_row.id, claim_id)
        )
    held = _held(row.assigned_to, row.assigned_until, now)
    return ClaimView(
        claim_id=int(row.id),
        payer_claim_number=str(row.payer_claim_number),
        state=str(row.state),
        queue=row.queue,
        priority=row.priority,
        charge=row.total_charge,
        received_on=row.received_on,
        due_on=row.due_on,
        assigned_to=row.assigned_to if held else None,
        assigned_until=row.assigned_until if held else None,
        version=int(row.version or 0),
        decision=decision,
        items=items,
        actions=actions,
        history=history,
    )


def _item_views(conn: Connection, runtime: Runtime, claim_id: int) -> tuple[ItemView, ...]:
    i = _items.c
    catalogue = runtime.reference.pend_reasons
    return tuple(
        ItemView(
            int(r.id),
            str(r.code),
            catalogue.get(str(r.code)).text,
            int(r.line),
            str(r.rule),
            str(r.detail),
            str(r.queue),
            int(r.priority),
            r.raised_at,
            r.due_at,
            str(r.state),
            r.asked,
            r.remark,
            r.resolved_at,
            r.resolved_by,
        )
        for r in conn.execute(select(_items).where(i.claim_id == claim_id).order_by(i.id))
    )


def _action_views(conn: Connection, claim_id: int) -> tuple[ActionView, ...]:
    t = _actions.c
    vault = current_vault()
    views = []
    for r in conn.execute(select(_actions).where(t.claim_id == claim_id).order_by(t.id)):
        content = vault.open_json(r.content, EXAMINER_ACTION, r.id)
        views.append(
            ActionView(
                int(r.id),
                str(r.kind),
                str(r.actor),
                r.at,
                str(r.state),
                tuple(int(x) for x in r._mapping["items"]),
                str(content.get("why", "")),
                content.get("request", {}),
                content.get("before"),
                content.get("after"),
                r.approved_by,
            )
        )
    return tuple(views)


def _member_history(conn: Connection, member: str, claim_id: int) -> tuple[dict[str, Any], ...]:
    """The member's other claims of the last two years, newest first (up to 20): what they
    were charged and paid, and how they were decided."""
    c, a = _claims.c, _adjudications.c
    rows = conn.execute(
        select(c.id, c.payer_claim_number, c.received_on, c.state, a.outcome, a.charge, a.paid)
        .outerjoin(_adjudications, and_(a.claim_id == c.id, a.kind == "decision"))
        .where(c.member_id == member, c.id != claim_id, c.payer_claim_number.is_not(None))
        .order_by(c.id.desc())
        .limit(20)
    )
    return tuple(
        {
            "claim_id": int(r.id),
            "payer_claim_number": r.payer_claim_number,
            "received_on": r.received_on.isoformat(),
            "state": r.state,
            "outcome": r.outcome,
            "charge": None if r.charge is None else str(r.charge),
            "paid": None if r.paid is None else str(r.paid),
        }
        for r in rows
    )


def _m(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _snapshot(decision: ClaimDecision) -> dict[str, Any]:
    """A decision as an action's before and after record it."""
    return {
        "outcome": decision.outcome.value,
        "status": decision.status.value,
        "charge": _m(decision.charge),
        "allowed": _m(decision.allowed),
        "paid": _m(decision.paid),
        "patient_responsibility": _m(decision.patient_responsibility),
        "pends": [
            {"code": p.code, "line": p.line, "rule": p.rule, "detail": p.detail}
            for p in decision.pend_items
        ],
        "claim_adjustments": [
            f"{adj.group}-{adj.reason} {_m(adj.amount)}" for adj in decision.claim_adjustments
        ],
        "lines": [
            {
                "line": ln.line_number,
                "code": ln.procedure.code if ln.procedure else ln.revenue_code,
                "charge": _m(ln.charge),
                "allowed": _m(ln.allowed),
                "paid": _m(ln.paid),
                "outcome": ln.outcome.value,
                "adjustments": [
                    f"{adj.group}-{adj.reason} {_m(adj.amount)}" for adj in ln.adjustments
                ],
                "remarks": list(ln.remarks),
            }
            for ln in decision.lines
        ],
    }


# -- assignments ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Locked:
    claim_id: int
    queue: str
    plan_id: str
    charge: Decimal
    received_on: date
    due_on: date
    waiting_since: date | None
    assigned_to: str | None
    assigned_until: datetime | None
    version: int

    @classmethod
    def of(cls, row: Any) -> _Locked:
        """The ``pended_claims`` row as read."""
        return cls(
            int(row.claim_id),
            str(row.queue),
            str(row.plan_id),
            row.charge,
            row.received_on,
            row.due_on,
            row.waiting_since,
            row.assigned_to,
            row.assigned_until,
            int(row.version),
        )


def _version_now(engine: Engine, claim_id: int) -> int | None:
    with engine.connect() as conn:
        found = conn.execute(
            select(_pended.c.version).where(_pended.c.claim_id == claim_id)
        ).scalar_one_or_none()
    return None if found is None else int(found)


def _lock(conn: Connection, claim_id: int, expected: int | None) -> _Locked:
    """The claim's queue row, locked for this transaction, at the version its author saw."""
    p = _pended.c
    query = select(_pended).where(p.claim_id == claim_id)
    if is_postgres(conn):
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        state = conn.execute(
            select(_claims.c.state).where(
                _claims.c.id == claim_id, _claims.c.payer_claim_number.is_not(None)
            )
        ).scalar_one_or_none()
        if state is None:
            raise ClaimNotFound(f"claim {claim_id} not found")
        raise ClaimChanged(f"claim {claim_id} is not pended (it is {state})")
    if expected is not None and int(row.version) != expected:
        raise ClaimChanged(
            f"claim {claim_id} changed since version {expected} (it is at version "
            f"{row.version}): look at it again"
        )
    return _Locked.of(row)


def _bump(conn: Connection, locked: _Locked, **values: Any) -> int:
    """Move the claim's version on (with any other changes to its row): the compare-and-set
    that makes the second of two simultaneous actions fail."""
    p = _pended.c
    done = conn.execute(
        update(_pended)
        .where(p.claim_id == locked.claim_id, p.version == locked.version)
        .values(version=locked.version + 1, **values)
    )
    if done.rowcount != 1:
        raise ClaimChanged(f"claim {locked.claim_id} changed meanwhile: look at it again")
    return locked.version + 1


def _check_holder(locked: _Locked, examiner: Examiner, now: datetime) -> None:
    if (
        _held(locked.assigned_to, locked.assigned_until, now)
        and locked.assigned_to != examiner.name
    ):
        raise ClaimChanged(
            f"claim {locked.claim_id} is held by {locked.assigned_to} until "
            f"{_iso(locked.assigned_until)}"
        )


def _record(
    conn: Connection,
    claim_id: int,
    kind: str,
    examiner: Examiner,
    now: datetime,
    state: ActionState,
    items: Sequence[int],
    content: Mapping[str, Any],
) -> int:
    (action_id,) = insert_rows(
        conn,
        _actions,
        [
            {
                "claim_id": claim_id,
                "kind": kind,
                "actor": examiner.name,
                "at": now,
                "items": list(items),
                "state": state.value,
                "content": current_vault().seal_json(dict(content), EXAMINER_ACTION),
            }
        ],
        return_ids=True,
    )
    return int(action_id)


def _reseal(conn: Connection, action_id: int, content: Mapping[str, Any]) -> None:
    conn.execute(
        update(_actions)
        .where(_actions.c.id == action_id)
        .values(content=current_vault().seal_json(dict(content), EXAMINER_ACTION))
    )


def take(
    engine: Engine,
    claim_id: int,
    examiner: Examiner,
    now: datetime,
    *,
    hold: timedelta = HOLD,
    expected_version: int | None = None,
) -> ActionResult:
    """Hold the claim for ``examiner`` until ``now + hold`` (taking it again extends it)."""
    expected = expected_version if expected_version is not None else _version_now(engine, claim_id)
    with begin_write(engine) as conn:
        locked = _lock(conn, claim_id, expected)
        _check_holder(locked, examiner, now)
        version = _bump(conn, locked, assigned_to=examiner.name, assigned_until=now + hold)
        action = _record(
            conn,
            claim_id,
            "take",
            examiner,
            now,
            ActionState.APPLIED,
            (),
            {"why": "", "request": {"kind": "take", "until": _iso(now + hold)}},
        )
    return ActionResult(
        action, "take", ActionState.APPLIED.value, "pended", "", None, version,
        f"claim {claim_id} held by {examiner.name} until {_iso(now + hold)}",
    )  # fmt: skip


def give_back(
    engine: Engine,
    claim_id: int,
    examiner: Examiner,
    now: datetime,
    why: str = "",
    *,
    expected_version: int | None = None,
) -> ActionResult:
    """Let go of a claim: it is anyone's again."""
    with begin_write(engine) as conn:
        locked = _lock(conn, claim_id, expected_version)
        if not _held(locked.assigned_to, locked.assigned_until, now):
            raise ClaimChanged(f"claim {claim_id} is not held by anyone")
        if locked.assigned_to != examiner.name and not examiner.supervisor:
            raise NotAllowed(f"claim {claim_id} is held by {locked.assigned_to}, not by you")
        version = _bump(conn, locked, assigned_to=None, assigned_until=None)
        action = _record(
            conn, claim_id, "give-back", examiner, now, ActionState.APPLIED, (),
            {"why": _why(why, required=False), "request": {"kind": "give-back"}},
        )  # fmt: skip
    return ActionResult(
        action, "give-back", ActionState.APPLIED.value, "pended", "", None, version,
        f"claim {claim_id} given back",
    )  # fmt: skip


def reassign(
    engine: Engine,
    claim_id: int,
    supervisor: Examiner,
    to: Examiner,
    now: datetime,
    why: str,
    *,
    hold: timedelta = HOLD,
    expected_version: int | None = None,
) -> ActionResult:
    """A supervisor hands a claim to another examiner, whoever held it."""
    if not supervisor.supervisor:
        raise NotAllowed("only a supervisor reassigns claims")
    with begin_write(engine) as conn:
        locked = _lock(conn, claim_id, expected_version)
        version = _bump(conn, locked, assigned_to=to.name, assigned_until=now + hold)
        action = _record(
            conn,
            claim_id,
            "reassign",
            supervisor,
            now,
            ActionState.APPLIED,
            (),
            {
                "why": _why(why),
                "request": {"kind": "reassign", "from": locked.assigned_to, "to": to.name},
            },
        )
    return ActionResult(
        action, "reassign", ActionState.APPLIED.value, "pended", "", None, version,
        f"claim {claim_id} reassigned to {to.name}",
    )  # fmt: skip


# -- actions --------------------------------------------------------------------------------------


def _why(text: str, *, required: bool = True) -> str:
    text = text.strip()
    if required and not text:
        raise ExaminationError("say why (a reason is required for every action)")
    if len(text) > MAX_WHY:
        raise ExaminationError(f"the reason is {len(text)} characters; at most {MAX_WHY}")
    return text


def _check_request(request: Request) -> None:
    """Codes and amounts, before anything is locked."""
    _why(request.why)
    if isinstance(request, Deny):
        if request.group not in GROUP_CODES or request.group == "CR":
            raise ExaminationError(f"group code {request.group!r} is not CO, PR, OA or PI")
        if request.carc not in CARC:
            raise ExaminationError(f"CARC {request.carc!r} is not a code of the CARC list")
        for rarc in request.rarcs:
            if rarc not in RARC:
                raise ExaminationError(f"RARC {rarc!r} is not a code of the RARC list")
        if request.carc in CARC_NEEDS_RARC and not request.rarcs:
            raise ExaminationError(
                f"CARC {request.carc} needs at least one remark code (RARC) with it"
            )
        if request.line < 0:
            raise ExaminationError("line is 0 (the whole claim) or a line number")
    elif isinstance(request, Price):
        if request.line < 1:
            raise ExaminationError("price names a line (1, 2, ...)")
        if request.allowed is not None and (
            request.allowed < 0 or request.allowed != money(request.allowed)
        ):
            raise ExaminationError(
                f"allowed amount {request.allowed}: dollars and cents, not negative"
            )
    elif isinstance(request, Override):
        if request.line < 1:
            raise ExaminationError("override names a line (1, 2, ...)")
    elif isinstance(request, RequestInfo):
        if not request.asked.strip() or len(request.asked) > 1000:
            raise ExaminationError("say what is asked of the provider (1 to 1,000 characters)")
        if request.remark not in RARC:
            raise ExaminationError(f"RARC {request.remark!r} is not a code of the RARC list")


def act(
    engine: Engine,
    runtime: Runtime,
    claim_id: int,
    examiner: Examiner,
    request: Request,
    now: datetime,
    *,
    expected_version: int | None = None,
) -> ActionResult:
    """Take one action on a pended claim (see the module docstring), in one transaction with
    its effects. ``expected_version`` is the claim's version as its author saw it; without
    it, the version read as the action starts (two simultaneous actions still conflict)."""
    _check_request(request)
    expected = expected_version if expected_version is not None else _version_now(engine, claim_id)
    with begin_write(engine) as conn:
        locked = _lock(conn, claim_id, expected)
        _check_holder(locked, examiner, now)
        return _apply(conn, runtime, locked, examiner, request, now, approval_of=None)


def _plan_settings(runtime: Runtime, plan_id: str) -> Examination:
    plan = runtime.reference.plans.get(plan_id)
    return plan.examination if plan is not None else Examination()


def _current_decision(conn: Connection, claim_id: int) -> dict[str, Any] | None:
    a, c = _adjudications.c, _claims.c
    row = conn.execute(
        select(a.id, a.decision, c.claim)
        .join(_claims, c.id == a.claim_id)
        .where(a.claim_id == claim_id, a.kind == "decision")
    ).first()
    if row is None:
        return None
    return _snapshot(read_decision(row.decision, row.claim, row.id, claim_id))


def _apply(
    conn: Connection,
    runtime: Runtime,
    locked: _Locked,
    examiner: Examiner,
    request: Request,
    now: datetime,
    *,
    approval_of: int | None,
) -> ActionResult:
    claim_id = locked.claim_id
    kind = _KIND_OF[type(request)]
    settings = _plan_settings(runtime, locked.plan_id)
    before = _current_decision(conn, claim_id)
    content: dict[str, Any] = {"why": request.why, "request": _request_json(request)}
    # acting on a claim nobody holds takes it; one held (by the actor, or by another examiner
    # whose action a second examiner approves) stays with its holder
    held: dict[str, Any] = {}
    if not _held(locked.assigned_to, locked.assigned_until, now):
        held = {"assigned_to": examiner.name, "assigned_until": now + HOLD}
    if isinstance(request, Note):
        action = _record(conn, claim_id, kind, examiner, now, ActionState.APPLIED, (), content)
        return ActionResult(
            action, kind, ActionState.APPLIED.value, "pended", _outcome(before), _paid(before),
            locked.version, f"note added to claim {claim_id}",
        )  # fmt: skip
    if isinstance(request, RequestInfo):
        return _request_info(conn, runtime, locked, examiner, request, now, settings, content)
    if isinstance(request, InfoReceived):
        return _info_received(conn, locked, examiner, request, now, settings, content)

    current = open_items(conn, claim_id)
    chosen = _chosen_items(current, request)
    directives = _directives(conn, claim_id, extra=request, resolving=[o.key for o in chosen])
    trial = _decide(conn, claim_id, directives, runtime, now, examiner, write=False)
    if (
        approval_of is None
        and isinstance(request, Price | Override)
        and _line_allowed(trial, request.line) > settings.second_approval_above
    ):
        content["before"] = before
        content["would_be"] = _snapshot(trial.decision)
        action = _record(
            conn,
            claim_id,
            kind,
            examiner,
            now,
            ActionState.AWAITING_APPROVAL,
            [o.id for o in chosen],
            content,
        )
        version = _bump(conn, locked, **held)
        return ActionResult(
            action, kind, ActionState.AWAITING_APPROVAL.value, "pended", _outcome(before),
            _paid(before), version,
            f"line {request.line} would be allowed {_line_allowed(trial, request.line)}, above "
            f"{settings.second_approval_above}: a second examiner must approve action {action}",
        )  # fmt: skip
    state = ActionState.APPLIED if approval_of is None else ActionState.APPROVED
    if approval_of is None:
        action = _record(
            conn, claim_id, kind, examiner, now, state, [o.id for o in chosen], content
        )
    else:
        action = approval_of
    resolve(conn, [o.id for o in chosen], examiner.name, now, action)
    if any(o.code == INFO_REQUESTED for o in chosen):  # released without waiting for the answer
        held["waiting_since"] = None
    outcome = _decide(conn, claim_id, directives, runtime, now, examiner, write=True)
    decision = outcome.decision
    if decision.outcome is Outcome.PENDED:
        where = pended_claim(runtime, claim_id, decision, locked.received_on)
        sync_pends(
            conn,
            where,
            decision.pend_items,
            runtime.reference.pend_reasons,
            examiner.name,
            now,
            action,
        )
        version = _bump(conn, locked, **held)
        claim_state = ClaimState.PENDED.value
        message = f"claim {claim_id} still pends: {decision.pend_reason}"
    else:
        _bump(conn, locked)  # the compare-and-set, before the row goes
        close_pends(conn, claim_id, examiner.name, now)
        version = 0
        claim_state = ClaimState.ADJUDICATED.value
        message = f"claim {claim_id} {decision.outcome.value}: paid {decision.paid}"
    content["before"] = before
    content["after"] = _snapshot(decision)
    if approval_of is None:
        _reseal(conn, action, content)
    else:
        _approve_row(conn, approval_of, examiner, now, content)
    return ActionResult(
        action, kind, state.value, claim_state, decision.outcome.value, decision.paid, version,
        message,
    )  # fmt: skip


def _decide(
    conn: Connection,
    claim_id: int,
    directives: Directives,
    runtime: Runtime,
    now: datetime,
    examiner: Examiner,
    *,
    write: bool,
) -> Adjudication:
    """:func:`decide_again`, its failures as what the examiner is told: the claim stays as it
    was (the transaction is not committed)."""
    try:
        return decide_again(conn, claim_id, directives, runtime, now, examiner.name, write=write)
    except NotPended as exc:
        raise ClaimChanged(str(exc)) from None
    except (DataKeyError, SQLAlchemyError):
        raise  # the store or its keys, not the claim: the caller's error
    except Exception as exc:  # the claim cannot be adjudicated (unreadable, a fault)
        raise ClaimChanged(
            f"claim {claim_id} could not be adjudicated again, and stays as it was: "
            f"{type(exc).__name__}: {error_line(exc)}"
        ) from exc


def _outcome(snapshot: Mapping[str, Any] | None) -> str:
    return str(snapshot["outcome"]) if snapshot else ""


def _paid(snapshot: Mapping[str, Any] | None) -> Decimal | None:
    return Decimal(snapshot["paid"]) if snapshot else None


def _line_allowed(result: Adjudication, line: int) -> Decimal:
    for ln in result.decision.lines:
        if ln.line_number == line:
            return ln.allowed
    raise ExaminationError(f"the claim has no line {line}")


def _chosen_items(current: Sequence[Any], request: Request) -> list[Any]:
    """The open pend items an action resolves: a release's named codes (all when none is
    named), the items of the line a price, override or line denial is about, and every item
    when the whole claim is denied."""
    if isinstance(request, Release):
        if not request.codes:
            return list(current)
        unknown = set(request.codes) - {o.code for o in current}
        if unknown:
            open_codes = ", ".join(sorted({o.code for o in current})) or "none"
            raise ExaminationError(
                f"the claim has no open pend reason {sorted(unknown)[0]} (open: {open_codes})"
            )
        return [o for o in current if o.code in request.codes]
    if isinstance(request, Deny) and request.line == 0:
        return list(current)
    if isinstance(request, Deny | Price | Override):
        return [o for o in current if o.line == request.line]
    return []


def _directives(
    conn: Connection, claim_id: int, *, extra: Request | None, resolving: Iterable[tuple[str, int]]
) -> Directives:
    """What the claim's examiners have decided so far (resolved pend items, and the prices,
    overrides and denials of its applied and approved actions), with ``extra`` on top."""
    i, t = _items.c, _actions.c
    resolved = {
        (str(r.code), int(r.line))
        for r in conn.execute(
            select(i.code, i.line).where(i.claim_id == claim_id, i.state == PendState.RESOLVED)
        )
    }
    resolved.update(resolving)
    requests: list[Request] = []
    vault = current_vault()
    for r in conn.execute(
        select(t.id, t.content)
        .where(
            t.claim_id == claim_id,
            t.kind.in_(("deny", "price", "override")),
            t.state.in_((ActionState.APPLIED.value, ActionState.APPROVED.value)),
        )
        .order_by(t.id)
    ):
        requests.append(
            _request_from_json(vault.open_json(r.content, EXAMINER_ACTION, r.id)["request"])
        )
    if extra is not None:
        requests.append(extra)
    return _fold_directives(resolved, requests, _line_charges(conn, claim_id))


def _fold_directives(
    resolved: set[tuple[str, int]], requests: Sequence[Request], charges: Mapping[int, Decimal]
) -> Directives:
    """The directives of resolved pend items and examiners' requests, in the order they were
    made (``charges``: the claim's line charges, by line number)."""
    prices: dict[int, Decimal] = {}
    overrides: set[int] = set()
    denials: dict[int, Denial] = {}
    for req in requests:  # later actions win over earlier ones on the same line
        if isinstance(req, Price):
            if req.line not in charges:
                raise ExaminationError(f"the claim has no line {req.line}")
            prices[req.line] = charges[req.line] if req.allowed is None else req.allowed
            denials.pop(req.line, None)
        elif isinstance(req, Override):
            if req.line not in charges:
                raise ExaminationError(f"the claim has no line {req.line}")
            overrides.add(req.line)
            denials.pop(req.line, None)
        elif isinstance(req, Deny):
            if req.line and req.line not in charges:
                raise ExaminationError(f"the claim has no line {req.line}")
            denials[req.line] = Denial(req.group, req.carc, req.rarcs)
    return Directives(frozenset(resolved), prices, frozenset(overrides), denials)


def _line_charges(conn: Connection, claim_id: int) -> dict[int, Decimal]:
    ln = claim_lines_table.c
    return {
        int(r.line_number): r.charge
        for r in conn.execute(select(ln.line_number, ln.charge).where(ln.claim_id == claim_id))
    }


def _request_info(
    conn: Connection,
    runtime: Runtime,
    locked: _Locked,
    examiner: Examiner,
    request: RequestInfo,
    now: datetime,
    settings: Examination,
    content: dict[str, Any],
) -> ActionResult:
    claim_id = locked.claim_id
    if any(o.code == INFO_REQUESTED for o in open_items(conn, claim_id)):
        raise ClaimChanged(f"claim {claim_id} already waits for information from its provider")
    reason = runtime.reference.pend_reasons.get(INFO_REQUESTED)
    action = _record(
        conn, claim_id, "request-info", examiner, now, ActionState.APPLIED, (), content
    )
    row = item_row(
        claim_id,
        PendItem(INFO_REQUESTED, 0, "", request.asked.strip()),
        reason,
        now,
        asked=request.asked.strip(),
        remark=request.remark,
    )
    row["due_at"] = now + timedelta(days=settings.info_request_days)
    (item_id,) = insert_rows(conn, _items, [row], return_ids=True)
    conn.execute(update(_actions).where(_actions.c.id == action).values(items=[int(item_id)]))
    refile(conn, _as_pended(locked), now)
    version = _bump(conn, locked, waiting_since=now.date())
    due = (now + timedelta(days=settings.info_request_days)).date()
    return ActionResult(
        action, "request-info", ActionState.APPLIED.value, "pended", "", None, version,
        f"claim {claim_id} waits for its provider until {due.isoformat()}; denied CO-16 "
        f"{request.remark} after that",
    )  # fmt: skip


def _as_pended(locked: _Locked) -> PendedClaim:
    return PendedClaim(
        locked.claim_id, locked.plan_id, DEFAULT_PROMPT_PAY_DAYS, locked.charge, locked.received_on
    )


def _info_received(
    conn: Connection,
    locked: _Locked,
    examiner: Examiner,
    request: InfoReceived,
    now: datetime,
    settings: Examination,
    content: dict[str, Any],
) -> ActionResult:
    claim_id = locked.claim_id
    waiting = [o for o in open_items(conn, claim_id) if o.code == INFO_REQUESTED]
    if not waiting:
        raise ClaimChanged(f"claim {claim_id} waits for no information")
    action = _record(
        conn, claim_id, "info-received", examiner, now, ActionState.APPLIED,
        [o.id for o in waiting], content,
    )  # fmt: skip
    resolve(conn, [o.id for o in waiting], examiner.name, now, action)
    due = locked.due_on
    if settings.info_request_stops_clock and locked.waiting_since is not None:
        due = due + timedelta(days=max(0, (now.date() - locked.waiting_since).days))
    refile(conn, _as_pended(locked), now)
    version = _bump(conn, locked, waiting_since=None, due_on=due)
    return ActionResult(
        action, "info-received", ActionState.APPLIED.value, "pended", "", None, version,
        f"claim {claim_id} has its information; due {due.isoformat()}",
    )  # fmt: skip


# -- four eyes ------------------------------------------------------------------------------------


def approve(
    engine: Engine,
    runtime: Runtime,
    action_id: int,
    examiner: Examiner,
    now: datetime,
    *,
    refuse: bool = False,
    why: str = "",
) -> ActionResult:
    """A second examiner approves (or refuses) an action waiting for approval; approved, it
    takes effect now, on the claim as it is now."""
    t = _actions.c
    with begin_write(engine) as conn:
        row = conn.execute(select(_actions).where(t.id == action_id)).first()
        if row is None:
            raise ClaimNotFound(f"action {action_id} not found")
        if row.state != ActionState.AWAITING_APPROVAL:
            raise ClaimChanged(f"action {action_id} is {row.state}, not awaiting approval")
        if row.actor == examiner.name:
            raise NotAllowed(f"action {action_id} is yours: a second examiner approves it")
        locked = _lock(conn, int(row.claim_id), None)
        content = current_vault().open_json(row.content, EXAMINER_ACTION, row.id)
        if refuse:
            content["refused_because"] = _why(why)
            _approve_row(conn, action_id, examiner, now, content, ActionState.REFUSED)
            version = _bump(conn, locked)
            return ActionResult(
                action_id, str(row.kind), ActionState.REFUSED.value, "pended", "", None,
                version, f"action {action_id} refused",
            )  # fmt: skip
        request = _request_from_json(content["request"])
        return _apply(conn, runtime, locked, examiner, request, now, approval_of=action_id)


def _approve_row(
    conn: Connection,
    action_id: int,
    examiner: Examiner,
    now: datetime,
    content: Mapping[str, Any],
    state: ActionState = ActionState.APPROVED,
) -> None:
    conn.execute(
        update(_actions)
        .where(_actions.c.id == action_id)
        .values(
            state=state.value,
            approved_by=examiner.name,
            approved_at=now,
            content=current_vault().seal_json(dict(content), EXAMINER_ACTION),
        )
    )


def awaiting_approval(engine: Engine) -> list[dict[str, Any]]:
    """Actions waiting for a second examiner, oldest first."""
    t = _actions.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.id, t.claim_id, t.kind, t.actor, t.at)
            .where(t.state == ActionState.AWAITING_APPROVAL)
            .order_by(t.id)
        ).all()
    return [
        {
            "action_id": int(r.id),
            "claim_id": int(r.claim_id),
            "kind": r.kind,
            "actor": r.actor,
            "at": _iso(r.at),
        }
        for r in rows
    ]


# -- the sweep and bulk work ----------------------------------------------------------------------


def overdue_info_requests(engine: Engine, now: datetime) -> int:
    """How many requests for information went unanswered past their days (what
    :func:`expire_info_requests` would deny)."""
    i = _items.c
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(
                    i.state == PendState.OPEN, i.code == INFO_REQUESTED, i.due_at <= now
                )
            ).scalar_one()
        )


def expire_info_requests(engine: Engine, runtime: Runtime, now: datetime) -> list[ActionResult]:
    """Deny, CO-16 with the request's remark, every claim whose request for information went
    unanswered past its days. Each claim in its own transaction; one that moved on meanwhile
    (answered, decided) is left alone."""
    i = _items.c
    with engine.connect() as conn:
        due = conn.execute(
            select(i.claim_id, i.remark, i.raised_at)
            .where(i.state == PendState.OPEN, i.code == INFO_REQUESTED, i.due_at <= now)
            .order_by(i.due_at, i.claim_id)
        ).all()
    sweeper = Examiner(SWEEP_ACTOR.replace(" ", "-"))
    results = []
    for r in due:
        request = Deny(
            f"no answer to the request for information of {r.raised_at.date().isoformat()}",
            0,
            "16",
            "CO",
            (r.remark or DEFAULT_INFO_REMARK,),
        )
        try:
            with begin_write(engine) as conn:
                locked = _lock(conn, int(r.claim_id), None)
                results.append(
                    _apply(conn, runtime, locked, sweeper, request, now, approval_of=None)
                )
        except (ClaimChanged, NotPended):
            continue
    return results


RELEASE_BATCH = 500  # claims released in one transaction by release_all
ID_PAGES = 20  # release_all reads the ids of this many batches at a time


def release_all(
    engine: Engine,
    runtime: Runtime,
    code: str,
    examiner: Examiner,
    why: str,
    now: datetime,
    *,
    batch: int = RELEASE_BATCH,
    limit: int | None = None,
) -> tuple[int, int]:
    """Release every claim with an open pend reason ``code`` (``pended release --reason CODE
    --all``), or the first ``limit`` of them in claim order, resolving that reason only.
    Each claim is released as :func:`act` releases it: an action of its own (with the claim
    before and after), that reason resolved, the claim adjudicated again, and still pended
    (for another reason) or decided. Claims held by another examiner are left, and so are
    claims that changed meanwhile (decided, or the reason resolved) and claims whose
    adjudication raises (they stay as they were). ``batch`` claims share a transaction: their
    families are locked once and their reads and writes are batched statements (see
    :func:`~claims_engine.services.stored_adjudication.decide_again_many`); the claims are
    taken a family at a time (each family's in claim order), so that a batch holds the locks
    and loads the accumulators and history of few families. The result is what releasing
    them one by one with :func:`act` in that order gives (which is claim order for each
    family). Returns (released, left)."""
    _why(why)
    if batch < 1:
        raise ExaminationError(f"batch {batch}: at least 1 claim")
    if limit is not None and limit < 0:
        raise ExaminationError(f"limit {limit}: not negative")
    request = Release(why, (code,))
    i, c = _items.c, _claims.c
    released = left = 0
    last = 0
    while limit is None or released + left < limit:
        wanted = batch * ID_PAGES
        if limit is not None:
            wanted = min(wanted, limit - released - left)
        with engine.connect() as conn:
            found = conn.execute(
                select(i.claim_id, c.family)
                .distinct()
                .join(_claims, c.id == i.claim_id)
                .where(i.state == PendState.OPEN, i.code == code, i.claim_id > last)
                .order_by(i.claim_id)
                .limit(wanted)
            ).all()
        if not found:
            break
        last = int(found[-1].claim_id)
        # a batch of few families locks and loads less (a family's claims stay in claim
        # order, and families are adjudicated independently of each other)
        ids = [int(r.claim_id) for r in sorted(found, key=lambda r: (r.family, r.claim_id))]
        for start in range(0, len(ids), batch):
            chunk = ids[start : start + batch]
            with begin_write(engine) as conn:
                done = _release_batch(conn, runtime, chunk, examiner, request, now)
            released += done
            left += len(chunk) - done
    return released, left


def _release_batch(
    conn: Connection,
    runtime: Runtime,
    claim_ids: Sequence[int],
    examiner: Examiner,
    request: Release,
    now: datetime,
) -> int:
    """Release ``claim_ids`` (in that order) for ``request``'s one code, in the caller's
    write transaction, with the effects :func:`_apply` has for each; how many were released
    (the others are left as they were)."""
    (code,) = request.codes
    p = _pended.c
    query = select(_pended).where(among(conn, p.claim_id, claim_ids)).order_by(p.claim_id)
    if is_postgres(conn):
        query = query.with_for_update()
    locked = {int(row.claim_id): _Locked.of(row) for row in conn.execute(query)}
    ready = [
        claim_id
        for claim_id in claim_ids
        if claim_id in locked
        and not (
            _held(locked[claim_id].assigned_to, locked[claim_id].assigned_until, now)
            and locked[claim_id].assigned_to != examiner.name
        )
    ]
    current = open_items_of(conn, ready)
    chosen = {c: [o for o in current.get(c, []) if o.code == code] for c in ready}
    ready = [c for c in ready if chosen[c]]
    before = _current_decisions(conn, ready)
    directives = _directives_of(
        conn, ready, {c: [o.key for o in chosen[c]] for c in ready}, extra=request
    )
    ready = [c for c in ready if c in before and c in directives]
    again = decide_again_many(conn, ready, directives, runtime, now, examiner.name)
    done = [c for c in ready if c in again.outcomes]
    if not done:
        return 0
    vault = current_vault()
    request_json = _request_json(request)
    action_rows = []
    for claim_id in done:
        content = {
            "why": request.why,
            "request": request_json,
            "before": before[claim_id],
            "after": _snapshot(again.outcomes[claim_id].decision),
        }
        action_rows.append(
            {
                "claim_id": claim_id,
                "kind": "release",
                "actor": examiner.name,
                "at": now,
                "items": [o.id for o in chosen[claim_id]],
                "state": ActionState.APPLIED.value,
                "content": vault.seal_json(content, EXAMINER_ACTION),
            }
        )
    ids = insert_rows(conn, _actions, action_rows, return_ids=True)
    actions = dict(zip(done, ids, strict=True))
    resolve_each(conn, [(o.id, actions[c]) for c in done for o in chosen[c]], examiner.name, now)
    still: list[tuple[PendedClaim, Sequence[PendItem], int | None]] = []
    bumps: list[dict[str, Any]] = []
    decided: list[int] = []
    for claim_id in done:
        decision = again.outcomes[claim_id].decision
        if decision.outcome is not Outcome.PENDED:
            decided.append(claim_id)
            continue
        row = locked[claim_id]
        where = pended_claim(runtime, claim_id, decision, row.received_on)
        still.append((where, decision.pend_items, actions[claim_id]))
        holder, until = row.assigned_to, row.assigned_until
        if not _held(holder, until, now):  # acting on a claim nobody holds takes it
            holder, until = examiner.name, now + HOLD
        bumps.append(
            {
                "claim_id": claim_id,
                "version": row.version + 1,
                "assigned_to": holder,
                "assigned_until": until,
                # released without waiting for the answer
                "waiting_since": None if code == INFO_REQUESTED else row.waiting_since,
            }
        )
    sync_pends_many(conn, still, runtime.reference.pend_reasons, examiner.name, now)
    update_rows(conn, _pended, bumps, key="claim_id")
    close_pends_many(conn, decided, examiner.name, now)
    return len(done)


def _current_decisions(
    conn: Connection, claim_ids: Sequence[int]
) -> dict[int, dict[str, Any] | None]:
    """:func:`_current_decision` of many claims (one whose decision cannot be read is
    absent)."""
    found: dict[int, dict[str, Any] | None] = dict.fromkeys(claim_ids)
    if not claim_ids:
        return found
    a, c = _adjudications.c, _claims.c
    for row in conn.execute(
        select(a.claim_id, a.id, a.decision, c.claim)
        .join(_claims, c.id == a.claim_id)
        .where(among(conn, a.claim_id, claim_ids), a.kind == "decision")
    ):
        claim_id = int(row.claim_id)
        try:
            found[claim_id] = _snapshot(read_decision(row.decision, row.claim, row.id, claim_id))
        except DataKeyError:
            raise  # the keys are wrong, not the claim
        except Exception:
            del found[claim_id]
    return found


def _directives_of(
    conn: Connection,
    claim_ids: Sequence[int],
    resolving: Mapping[int, Iterable[tuple[str, int]]],
    *,
    extra: Request,
) -> dict[int, Directives]:
    """:func:`_directives` of many claims, each with the pend items ``resolving`` names for
    it (a claim whose actions no longer fit it is absent)."""
    if not claim_ids:
        return {}
    i, t, ln = _items.c, _actions.c, claim_lines_table.c
    ids = list(claim_ids)
    resolved = {c: set(resolving.get(c, ())) for c in ids}
    for item in conn.execute(
        select(i.claim_id, i.code, i.line).where(
            among(conn, i.claim_id, ids), i.state == PendState.RESOLVED
        )
    ):
        resolved[int(item.claim_id)].add((str(item.code), int(item.line)))
    requests: dict[int, list[Request]] = {c: [] for c in ids}
    vault = current_vault()
    taken = (ActionState.APPLIED.value, ActionState.APPROVED.value)
    for r in conn.execute(
        # by claim and kind only, the state checked here: so that the claims' index is the
        # one used, whatever the statistics say of the states (nearly every action applied)
        select(t.id, t.claim_id, t.state, t.content)
        .where(among(conn, t.claim_id, ids), t.kind.in_(("deny", "price", "override")))
        .order_by(t.id)
    ):
        if r.state not in taken:
            continue
        requests[int(r.claim_id)].append(
            _request_from_json(vault.open_json(r.content, EXAMINER_ACTION, r.id)["request"])
        )
    charges: dict[int, dict[int, Decimal]] = {c: {} for c in ids}
    acted = [c for c in ids if requests[c]]  # only actions on lines need the lines' charges
    if acted:
        for line in conn.execute(
            select(ln.claim_id, ln.line_number, ln.charge).where(among(conn, ln.claim_id, acted))
        ):
            charges[int(line.claim_id)][int(line.line_number)] = line.charge
    found: dict[int, Directives] = {}
    for c in ids:
        try:
            found[c] = _fold_directives(resolved[c], [*requests[c], extra], charges[c])
        except ExaminationError:
            continue
    return found
