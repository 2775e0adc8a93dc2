"""The store's side of pend reasons: what a pended claim waits for, and where it is worked.

When adjudication pends a claim (the pipeline's first decision, or an examiner's action that
decides it again and it still pends), :func:`sync_pends` keeps its ``pend_items`` and its
``pended_claims`` row in step with the decision, in the caller's transaction:

- every item the decision raises that is not open already is opened, routed by the reference
  data's pend reasons (queue, priority, due by its days), and open items the decision no
  longer raises are resolved by whoever decided it (a request for information is never closed
  this way: the provider still owes the answer);
- the claim's row names the queue and priority of its most urgent open item, its charge and
  the day it is due (receipt plus its plan's prompt-payment days; a request for information
  moves that day on by the days the clock stood still, where the plan says it does);

and when the claim is decided, :func:`close_pends` resolves what is left open and removes the
row: the claim leaves its queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, any_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from claims_engine.domain.pend_reasons import (
    INFO_REQUESTED,
    PendCatalogue,
    PendItem,
    PendReason,
)
from claims_engine.store.bulk import insert_rows, update_rows
from claims_engine.store.tables import (
    PendState,
    pend_items_table,
    pended_claims_table,
)

_items = pend_items_table
_pended = pended_claims_table

DEFAULT_PROMPT_PAY_DAYS = 30


@dataclass(frozen=True, slots=True)
class PendedClaim:
    """What :func:`sync_pends` needs to know of a claim that pends."""

    claim_id: int
    plan_id: str
    prompt_pay_days: int
    charge: Decimal
    received_on: date


@dataclass(frozen=True, slots=True)
class OpenItem:
    id: int
    code: str
    line: int

    @property
    def key(self) -> tuple[str, int]:
        return (self.code, self.line)


def open_items(conn: Connection, claim_id: int) -> list[OpenItem]:
    i = _items.c
    rows = conn.execute(
        select(i.id, i.code, i.line)
        .where(i.claim_id == claim_id, i.state == PendState.OPEN)
        .order_by(i.id)
    )
    return [OpenItem(int(r.id), str(r.code), int(r.line)) for r in rows]


def item_row(
    claim_id: int, item: PendItem, reason: PendReason, now: datetime, **extra: Any
) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "code": item.code,
        "line": item.line,
        "rule": item.rule[:80],
        "detail": item.detail,
        "queue": reason.queue,
        "priority": reason.priority,
        "raised_at": now,
        "due_at": now + timedelta(days=reason.days),
        "state": PendState.OPEN.value,
        **extra,
    }


def resolve(
    conn: Connection, ids: Sequence[int], actor: str, now: datetime, action: int | None = None
) -> None:
    if not ids:
        return
    i = _items.c
    conn.execute(
        update(_items)
        .where(i.id.in_(list(ids)), i.state == PendState.OPEN)
        .values(
            state=PendState.RESOLVED.value,
            resolved_at=now,
            resolved_by=actor[:100],
            resolved_action=action,
        )
    )


def sync_pends(
    conn: Connection,
    claim: PendedClaim,
    items: Iterable[PendItem],
    catalogue: PendCatalogue,
    actor: str,
    now: datetime,
    action: int | None = None,
) -> None:
    """Open the claim's new ``items``, resolve open ones it no longer raises (not requests for
    information), and file the claim in the queue of its most urgent open item."""
    wanted = {item.key: item for item in items}
    current = open_items(conn, claim.claim_id)
    have = {o.key for o in current}
    stale = [o.id for o in current if o.key not in wanted and o.code != INFO_REQUESTED]
    resolve(conn, stale, actor, now, action)
    insert_rows(
        conn,
        _items,
        [
            item_row(claim.claim_id, item, catalogue.get(item.code), now)
            for key, item in wanted.items()
            if key not in have
        ],
    )
    refile(conn, claim, now)


def refile(conn: Connection, claim: PendedClaim, now: datetime) -> None:
    """The claim's ``pended_claims`` row, made or brought up to date with its open items:
    the queue and priority of the most urgent."""
    i = _items.c
    # a claim waiting for its provider is in that queue, whatever else it waits for: nothing
    # can be done with it until they answer
    first = conn.execute(
        select(i.queue, i.priority)
        .where(i.claim_id == claim.claim_id, i.state == PendState.OPEN)
        .order_by(case((i.code == INFO_REQUESTED, 0), else_=1), i.priority, i.queue, i.id)
        .limit(1)
    ).first()
    if first is None:  # nothing open: an examiner's release with nothing else to wait for
        return
    p = _pended.c
    found = conn.execute(
        select(p.claim_id).where(p.claim_id == claim.claim_id)
    ).scalar_one_or_none()
    if found is None:
        conn.execute(
            _pended.insert().values(
                claim_id=claim.claim_id,
                queue=first.queue,
                priority=first.priority,
                plan_id=claim.plan_id[:50],
                charge=claim.charge,
                received_on=claim.received_on,
                pended_at=now,
                due_on=claim.received_on + timedelta(days=claim.prompt_pay_days),
                version=1,
            )
        )
        return
    values: dict[str, Any] = {"queue": first.queue, "priority": first.priority}
    if claim.plan_id:
        values["plan_id"] = claim.plan_id[:50]
    conn.execute(update(_pended).where(p.claim_id == claim.claim_id).values(**values))


def close_pends(conn: Connection, claim_id: int, actor: str, now: datetime) -> None:
    """The claim is decided: what is open is resolved, and it leaves its queue."""
    resolve(conn, [o.id for o in open_items(conn, claim_id)], actor, now)
    conn.execute(delete(_pended).where(_pended.c.claim_id == claim_id))


# -- many claims at once (a bulk release): the same effects, in a few statements ---------------


def among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter however
    many values: a statement of the same text every time, which the driver converts and the
    server parses once, not one with a placeholder for each of hundreds of values."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def open_items_of(conn: Connection, claim_ids: Sequence[int]) -> dict[int, list[OpenItem]]:
    """:func:`open_items` of many claims (a claim with none is absent)."""
    if not claim_ids:
        return {}
    i = _items.c
    found: dict[int, list[OpenItem]] = {}
    for r in conn.execute(
        select(i.claim_id, i.id, i.code, i.line)
        .where(among(conn, i.claim_id, claim_ids), i.state == PendState.OPEN)
        .order_by(i.id)
    ):
        found.setdefault(int(r.claim_id), []).append(OpenItem(int(r.id), str(r.code), int(r.line)))
    return found


def resolve_each(
    conn: Connection, items: Sequence[tuple[int, int | None]], actor: str, now: datetime
) -> None:
    """:func:`resolve` of many items, each ``(item id, action)`` with the action that resolves
    it (None: none), in one statement."""
    update_rows(
        conn,
        _items,
        [
            {
                "id": item_id,
                "state": PendState.RESOLVED.value,
                "resolved_at": now,
                "resolved_by": actor[:100],
                "resolved_action": action,
            }
            for item_id, action in items
        ],
        where_state=("state", PendState.OPEN.value),
    )


def sync_pends_many(
    conn: Connection,
    claims: Sequence[tuple[PendedClaim, Iterable[PendItem], int | None]],
    catalogue: PendCatalogue,
    actor: str,
    now: datetime,
) -> None:
    """:func:`sync_pends` of many claims, each ``(claim, items, action)``."""
    if not claims:
        return
    current = open_items_of(conn, [claim.claim_id for claim, _, _ in claims])
    stale: list[tuple[int, int | None]] = []
    rows: list[dict[str, Any]] = []
    for claim, items, action in claims:
        wanted = {item.key: item for item in items}
        mine = current.get(claim.claim_id, [])
        have = {o.key for o in mine}
        stale.extend(
            (o.id, action) for o in mine if o.key not in wanted and o.code != INFO_REQUESTED
        )
        rows.extend(
            item_row(claim.claim_id, item, catalogue.get(item.code), now)
            for key, item in wanted.items()
            if key not in have
        )
    resolve_each(conn, stale, actor, now)
    insert_rows(conn, _items, rows)
    refile_many(conn, [claim for claim, _, _ in claims], now)


def refile_many(conn: Connection, claims: Sequence[PendedClaim], now: datetime) -> None:
    """:func:`refile` of many claims: each row made or brought up to date with the queue and
    priority of its most urgent open item (chosen in the same order)."""
    if not claims:
        return
    i, p = _items.c, _pended.c
    ids = [claim.claim_id for claim in claims]
    rank = (
        func.row_number()
        .over(
            partition_by=i.claim_id,
            order_by=(case((i.code == INFO_REQUESTED, 0), else_=1), i.priority, i.queue, i.id),
        )
        .label("rank")
    )
    ranked = (
        select(i.claim_id, i.queue, i.priority, rank)
        .where(among(conn, i.claim_id, ids), i.state == PendState.OPEN)
        .subquery()
    )
    first = {
        int(r.claim_id): (str(r.queue), int(r.priority))
        for r in conn.execute(
            select(ranked.c.claim_id, ranked.c.queue, ranked.c.priority).where(ranked.c.rank == 1)
        )
    }
    filed = {
        int(x)
        for x in conn.execute(select(p.claim_id).where(among(conn, p.claim_id, ids))).scalars()
    }
    new: list[dict[str, Any]] = []
    moved: dict[bool, list[dict[str, Any]]] = {True: [], False: []}  # with a plan, without
    for claim in claims:
        if claim.claim_id not in first:  # nothing open: a release with nothing else to wait for
            continue
        queue, priority = first[claim.claim_id]
        if claim.claim_id not in filed:
            new.append(
                {
                    "claim_id": claim.claim_id,
                    "queue": queue,
                    "priority": priority,
                    "plan_id": claim.plan_id[:50],
                    "charge": claim.charge,
                    "received_on": claim.received_on,
                    "pended_at": now,
                    "due_on": claim.received_on + timedelta(days=claim.prompt_pay_days),
                    "version": 1,
                }
            )
            continue
        values: dict[str, Any] = {"claim_id": claim.claim_id, "queue": queue, "priority": priority}
        if claim.plan_id:
            values["plan_id"] = claim.plan_id[:50]
        moved[bool(claim.plan_id)].append(values)
    if new:
        conn.execute(_pended.insert(), new)
    for rows in moved.values():
        update_rows(conn, _pended, rows, key="claim_id")


def close_pends_many(conn: Connection, claim_ids: Sequence[int], actor: str, now: datetime) -> None:
    """:func:`close_pends` of many claims."""
    if not claim_ids:
        return
    i = _items.c
    conn.execute(
        update(_items)
        .where(among(conn, i.claim_id, claim_ids), i.state == PendState.OPEN)
        .values(
            state=PendState.RESOLVED.value,
            resolved_at=now,
            resolved_by=actor[:100],
            resolved_action=None,
        )
    )
    conn.execute(delete(_pended).where(among(conn, _pended.c.claim_id, claim_ids)))
