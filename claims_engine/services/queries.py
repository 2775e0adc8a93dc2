"""Answers from the store: statistics of the pipeline, the status of one claim, and the lists
and documents the adapters show (each narrowed by the caller's visibility condition, see
:mod:`claims_engine.services.access`).

A pended claim's status says what its submitter and its patient may know of the pend: that it
waits, and whether for the plan's review or for information an examiner asked the provider for
(an open ``INFO-REQUESTED`` pend item): what was asked and by when it must be answered. Nothing
else of its examination shows: not the examiners' notes and reasons (sealed in
``examiner_actions``), nor the pend items' details, rules, queues, priorities or holders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Select,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by

from claims_engine.adjudication.decision import Outcome
from claims_engine.domain.pend_reasons import INFO_REQUESTED
from claims_engine.domain.reasons import describe_adjustment
from claims_engine.store.db import DriverStatement, is_postgres
from claims_engine.store.tables import (
    ACK,
    IDENTITY,
    REMITTANCE,
    AckKind,
    ClaimState,
    InterchangeState,
    PendState,
    acknowledgments_table,
    adjudications_table,
    adjustments_table,
    claim_events_table,
    claims_table,
    interchanges_table,
    pend_items_table,
    phi_reads_table,
    remittance_claims_table,
    remittances_table,
)
from claims_engine.store.vault import current_vault

_claims = claims_table
_events = claim_events_table
_adjudications = adjudications_table
_adjustments = adjustments_table
_interchanges = interchanges_table
_remittances = remittances_table
_items = remittance_claims_table
_acks = acknowledgments_table
_reads = phi_reads_table
_pend_items = pend_items_table


def money_text(value: Decimal | None) -> str | None:
    """An amount as the adapters show it: two places, as a string (``None`` stays)."""
    return None if value is None else f"{value:.2f}"


def utc_text(moment: datetime) -> str:
    """A stored time (UTC, kept without a zone) as RFC 3339: ``2026-11-02T09:30:00Z``."""
    return moment.isoformat() + "Z"


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Interchanges and claims by state; every state is listed, with 0 where none are."""
    with engine.connect() as conn:
        ix: dict[str, int] = dict(
            conn.execute(
                select(_interchanges.c.state, func.count()).group_by(_interchanges.c.state)
            ).all()
        )
        cl: dict[str, int] = dict(
            conn.execute(select(_claims.c.state, func.count()).group_by(_claims.c.state)).all()
        )
    return {
        "interchanges": {s.value: int(ix.get(s.value, 0)) for s in InterchangeState},
        "claims": {s.value: int(cl.get(s.value, 0)) for s in ClaimState},
    }


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    line: int | None
    group: str
    reason: str
    amount: Decimal
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "group": self.group,
            "reason": self.reason,
            "amount": money_text(self.amount),
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    reason: str


@dataclass(frozen=True, slots=True)
class InfoRequest:
    """What an examiner asked a pended claim's provider for (shown to the provider and the
    patient), when, and until when an answer is awaited: with none by then the claim is denied
    (CO-16)."""

    asked: str
    requested_at: datetime
    answer_by: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            "requested_at": utc_text(self.requested_at),
            "answer_by": utc_text(self.answer_by),
        }


@dataclass(slots=True)
class ClaimStatusView:
    """Where a claim stands, for the submitter or the patient."""

    id: int
    payer_claim_number: str | None
    submitter_claim_id: str
    billing_npi: str
    member_id: str
    claim_type: str
    state: str
    received_on: date
    charge: Decimal
    error: str | None
    allowed: Decimal | None = None
    paid: Decimal | None = None
    patient_responsibility: Decimal | None = None
    outcome: str | None = None
    rule_pack_version: str | None = None
    reversed_by: str | None = None
    remittance_trace: str | None = None
    adjustments: list[AdjustmentView] = field(default_factory=list)
    history: list[EventView] = field(default_factory=list)
    info_request: InfoRequest | None = None  # an open request for information, when pended

    def pend_json(self) -> dict[str, Any] | None:
        """What the pend of a pended claim shows (None for a claim that is not pended): what
        it waits for, ``review`` (by the plan) or ``information`` (from its provider), and
        the request for information when there is one."""
        if self.state != ClaimState.PENDED:
            return None
        info = self.info_request
        return {
            "waiting_for": "information" if info is not None else "review",
            "information_requested": info.to_json() if info is not None else None,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "payer_claim_number": self.payer_claim_number,
            "submitter_claim_id": self.submitter_claim_id,
            "billing_npi": self.billing_npi,
            "member_id": self.member_id,
            "claim_type": self.claim_type,
            "state": self.state,
            "received_on": self.received_on.isoformat(),
            "charge": money_text(self.charge),
            "allowed": money_text(self.allowed),
            "paid": money_text(self.paid),
            "patient_responsibility": money_text(self.patient_responsibility),
            "outcome": self.outcome,
            "error": self.error,
            "rule_pack_version": self.rule_pack_version,
            "reversed_by": self.reversed_by,
            "remittance_trace": self.remittance_trace,
            "pend": self.pend_json(),
            "adjustments": [a.to_json() for a in self.adjustments],
            "history": [
                {
                    "at": utc_text(e.at),
                    "actor": e.actor,
                    "from": e.from_state,
                    "to": e.to_state,
                    "reason": e.reason,
                }
                for e in self.history
            ],
        }


def find_claims(engine: Engine, key: str, billing_npi: str | None = None) -> list[int]:
    """Claim row ids for a payer claim control number, or for a submitter claim id (CLM01)
    with the billing NPI (several when a provider reused a claim id across files)."""
    c = _claims.c
    with engine.connect() as conn:
        if billing_npi is None:
            found = conn.execute(select(c.id).where(c.payer_claim_number == key)).scalars()
        else:
            found = conn.execute(
                select(c.id)
                .where(
                    c.submitter_claim_id == current_vault().lookup(key),
                    c.billing_npi == billing_npi,
                )
                .order_by(c.id)
            ).scalars()
        return [int(i) for i in found]


def claim_status(engine: Engine, claim_row_id: int) -> ClaimStatusView:
    with engine.connect() as conn:
        view = visible_claim_status(conn, claim_row_id, None)
    if view is None:
        raise LookupError(f"no claim {claim_row_id}")
    return view


def _status_columns() -> list[Any]:
    c = _claims.c
    a = _adjudications.c
    return [
        c.id,
        c.payer_claim_number,
        c.billing_npi,
        c.identity,
        c.claim_type,
        c.state,
        c.received_on,
        c.total_charge,
        c.error,
        a.id.label("decision_id"),
        a.allowed,
        a.paid,
        a.patient_responsibility,
        a.outcome,
        a.rule_pack_version,
        a.reversed_by,
        a.pend_reason,
        _remittances.c.trace_number,
        info_request_column(_pend_items.c.asked).label("info_asked"),
        info_request_column(_pend_items.c.raised_at).label("info_requested_at"),
        info_request_column(_pend_items.c.due_at).label("info_answer_by"),
    ]


def info_request_column(column: Any) -> Any:
    """``column`` of the claim's open request for information (the latest, should there be
    more), as a scalar subquery on the claim's row, looked for only when the claim is pended
    (NULL otherwise: the status read of any other claim costs nothing more)."""
    i = _pend_items.c
    found = (
        select(column)
        .where(
            i.claim_id == _claims.c.id,
            i.state == PendState.OPEN.value,
            i.code == INFO_REQUESTED,
        )
        .order_by(i.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return case((_claims.c.state == ClaimState.PENDED.value, found), else_=null())


def _status_found(claim_row_id: Any, visible: ColumnElement[bool] | None) -> Select[Any]:
    """The claim with its decision and the 835 that paid it, when the caller may see it."""
    c = _claims.c
    a = _adjudications.c
    query = (
        select(*_status_columns())
        .outerjoin(_adjudications, (a.claim_id == c.id) & (a.kind == "decision"))
        .outerjoin(_items, _items.c.adjudication_id == a.id)
        .outerjoin(_remittances, _remittances.c.id == _items.c.remittance_id)
        .where(c.id == claim_row_id)
    )
    return query if visible is None else query.where(visible)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a claim is for and the submitter's id of it (CLM01): kept sealed, and in lookup
    columns as keyed hashes, so read from ``claims.identity``."""

    member_id: str
    claim_id: str


def identity_of(row: Any) -> Identity:
    """The identity of a claim row read with ``claims.identity`` (and ``claims.id``)."""
    found = current_vault().open_json(row.identity, IDENTITY, row.id)
    return Identity(str(found["member_id"]), str(found["claim_id"]))


def _status_view(row: Any) -> ClaimStatusView:
    identity = identity_of(row)
    view = ClaimStatusView(
        id=row.id,
        payer_claim_number=row.payer_claim_number,
        submitter_claim_id=identity.claim_id,
        billing_npi=row.billing_npi,
        member_id=identity.member_id,
        claim_type=row.claim_type,
        state=row.state,
        received_on=row.received_on,
        charge=row.total_charge,
        error=row.error or row.pend_reason or None,
    )
    if row.decision_id is not None:
        view.allowed = row.allowed
        view.paid = paid_by(row.outcome, row.paid)
        view.patient_responsibility = row.patient_responsibility
        view.outcome = row.outcome
        view.rule_pack_version = row.rule_pack_version
        view.reversed_by = row.reversed_by
        view.remittance_trace = row.trace_number
    if (
        row.state == ClaimState.PENDED
        and row.info_asked is not None
        and row.info_requested_at is not None
        and row.info_answer_by is not None
    ):
        view.info_request = InfoRequest(
            str(row.info_asked), stored_time(row.info_requested_at), stored_time(row.info_answer_by)
        )
    return view


def stored_time(value: Any) -> datetime:
    """A stored time as the PostgreSQL driver or SQLAlchemy hands it (a datetime), or as text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def paid_by(outcome: str | None, paid: Decimal | None) -> Decimal | None:
    """What a decision pays: nothing while it is pended (its amounts are not final)."""
    return Decimal("0.00") if outcome == Outcome.PENDED and paid is not None else paid


def _adjustment_view(line: int | None, group: str, reason: str, amount: Decimal) -> AdjustmentView:
    return AdjustmentView(line, group, reason, amount, describe_adjustment(group, reason, amount))


def visible_claim_status(
    conn: Connection,
    claim_row_id: int,
    visible: ColumnElement[bool] | None,
    audit: Mapping[str, Any] | None = None,
) -> ClaimStatusView | None:
    """The status of a claim the caller may see (``visible``: a condition on ``claims``, None
    for every claim); None when there is no such claim or it is not the caller's.

    ``audit`` (the ``phi_reads`` columns ``at``, ``key_id``, ``role``, ``route``) records the
    read when there is one, in the same transaction: three reads and an insert (see
    :func:`claim_status_read` for the one-statement form on PostgreSQL). The stored claim and
    decision documents are not read.
    """
    row = conn.execute(_status_found(claim_row_id, visible)).first()
    if row is None:
        return None
    view = _status_view(row)
    if row.decision_id is not None:
        j = _adjustments.c
        for adj in conn.execute(
            select(j.line_number, j.group_code, j.reason_code, j.amount)
            .where(j.adjudication_id == row.decision_id)
            .order_by(j.id)
        ):
            view.adjustments.append(_adjustment_view(*adj))
    e = _events.c
    for ev in conn.execute(
        select(e.at, e.actor, e.from_state, e.to_state, e.reason)
        .where(e.claim_id == claim_row_id)
        .order_by(e.id)
    ):
        view.history.append(EventView(*ev))
    if audit is not None:
        conn.execute(insert(_reads).values(**audit, record_type="claim", record_id=str(row.id)))
    return view


@dataclass(frozen=True, slots=True)
class ClaimScope:
    """Which claims a caller may see, as data: every claim (``column`` None), or those whose
    ``column`` (``billing_npi`` or ``member_id``) is one of ``values``."""

    column: str | None = None
    values: tuple[str, ...] = ()

    def condition(self) -> ColumnElement[bool] | None:
        if self.column is None:
            return None
        return _claims.c[self.column].in_(self.values)


_STATUS_STATEMENTS: dict[tuple[str | None, bool], DriverStatement] = {}


def _status_sql(column: str | None, audited: bool) -> DriverStatement:
    """The one-statement status read of a scope's shape, on the driver; made once per shape."""
    key = (column, audited)
    found = _STATUS_STATEMENTS.get(key)
    if found is None:
        found = _STATUS_STATEMENTS.setdefault(
            key, DriverStatement(lambda: _status_statement(column, audited))
        )
    return found


def _status_statement(column: str | None, audited: bool) -> Select[Any]:
    """The one-statement status read of a scope's shape (PostgreSQL): the claim id, the
    scope's values (an array) and the audit columns are its parameters."""
    visible = None
    if column is not None:
        visible = _claims.c[column] == any_(bindparam("scope", type_=ARRAY(Text())))
    found = _status_found(bindparam("claim_id"), visible).cte("found")
    j = _adjustments.c
    e = _events.c
    adjustments = (
        select(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(
                        j.line_number, j.group_code, j.reason_code, cast(j.amount, Text)
                    ),
                    j.id,
                )
            )
        )
        .where(j.adjudication_id == found.c.decision_id)
        .scalar_subquery()
    )
    events = (
        select(
            func.json_agg(
                aggregate_order_by(
                    func.json_build_array(
                        cast(e.at, Text), e.actor, e.from_state, e.to_state, e.reason
                    ),
                    e.id,
                )
            )
        )
        .where(e.claim_id == found.c.id)
        .scalar_subquery()
    )
    columns: list[Any] = [*found.c, adjustments.label("adjustments"), events.label("events")]
    if audited:
        columns.append(reads_audited(select(literal("claim"), cast(found.c.id, Text))))
    return select(*columns).select_from(found)


def reads_audited(records: Select[Any, Any]) -> Any:
    """A column (``audited``, a count) whose statement writes a ``phi_reads`` row for each row
    of ``records`` (its record type and id, text), in the same statement as the read
    (PostgreSQL: an ``INSERT`` in a ``WITH``, run once whether or not a row is answered); who,
    when and by which route are the parameters ``at``, ``key_id``, ``role``, ``route``
    (:func:`claims_engine.services.access.audit_entry`)."""
    who = select(
        bindparam("at", type_=DateTime()),
        bindparam("key_id", type_=Text()),
        bindparam("role", type_=Text()),
        bindparam("route", type_=Text()),
    )
    rows = records.subquery("reads")
    kind, record = list(rows.c)
    record_rows = insert(_reads).from_select(
        ["at", "key_id", "role", "route", "record_type", "record_id"],
        # the record's id cut to the column's 64 characters, as record_reads_of cuts it
        who.add_columns(kind, func.substr(record, 1, 64)).select_from(rows),
    )
    written = record_rows.returning(_reads.c.id).cte("audited")
    return select(func.count()).select_from(written).scalar_subquery().label("audited")


def claim_row_of_number(conn: Connection, payer_claim_number: str) -> int | None:
    """The row id of the claim with this payer claim control number, if any (whether the
    caller may see it is the status read's business)."""
    c = _claims.c
    found = conn.execute(
        select(c.id).where(c.payer_claim_number == payer_claim_number)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def claim_status_read(
    conn: Connection,
    claim_row_id: int,
    scope: ClaimScope,
    audit: Mapping[str, Any] | None = None,
) -> ClaimStatusView | None:
    """:func:`visible_claim_status` for a caller's :class:`ClaimScope`; on PostgreSQL the read
    and its audit row are one statement, compiled once and prepared by the server, run on the
    driver's connection (the API's hottest route: SQLAlchemy's own work per statement would
    be a third of its time)."""
    if not is_postgres(conn):
        return visible_claim_status(conn, claim_row_id, scope.condition(), audit)
    params: dict[str, Any] = {"claim_id": claim_row_id}
    if scope.column is not None:
        params["scope"] = list(scope.values)
    if audit is not None:
        params.update(audit)
    row = _status_sql(scope.column, audit is not None).first(conn, params)
    if row is None:
        return None
    view = _status_view(row)
    for line, group, reason, amount in row.adjustments or ():
        view.adjustments.append(_adjustment_view(line, group, reason, Decimal(amount)))
    for at, actor, from_state, to_state, reason in row.events or ():
        view.history.append(
            EventView(datetime.fromisoformat(at), actor, from_state, to_state, reason)
        )
    return view


# -- lists and documents for the adapters ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimFilter:
    """The filters of a claim search; every one optional. ``received_from`` / ``received_to``
    bound the receipt date, both ends included."""

    member_id: str | None = None
    billing_npi: str | None = None
    state: str | None = None
    received_from: date | None = None
    received_to: date | None = None
    payer_claim_number: str | None = None
    submitter_claim_id: str | None = None  # CLM01: with billing_npi, as a provider holds it


def _conditions(visible: ColumnElement[bool] | None, where: ClaimFilter) -> list[Any]:
    c = _claims.c
    found: list[Any] = [] if visible is None else [visible]
    if where.member_id is not None:
        found.append(c.member_id == current_vault().lookup(where.member_id))
    if where.billing_npi is not None:
        found.append(c.billing_npi == where.billing_npi)
    if where.payer_claim_number is not None:
        found.append(c.payer_claim_number == where.payer_claim_number)
    if where.submitter_claim_id is not None:
        found.append(c.submitter_claim_id == current_vault().lookup(where.submitter_claim_id))
    if where.state is not None:
        found.append(c.state == where.state)
    if where.received_from is not None:
        found.append(c.received_on >= where.received_from)
    if where.received_to is not None:
        found.append(c.received_on <= where.received_to)
    return found


@dataclass(frozen=True, slots=True)
class ClaimSummary:
    id: int
    payer_claim_number: str | None
    submitter_claim_id: str
    member_id: str
    billing_npi: str
    claim_type: str
    state: str
    received_on: date
    charge: Decimal
    paid: Decimal | None


def search_claims(
    conn: Connection,
    visible: ColumnElement[bool] | None,
    where: ClaimFilter,
    *,
    after: int = 0,
    limit: int = 50,
) -> list[ClaimSummary]:
    """One page of the claims the caller may see that pass ``where``, by id, after ``after``."""
    c = _claims.c
    a = _adjudications.c
    query = (
        select(
            c.id,
            c.payer_claim_number,
            c.identity,
            c.billing_npi,
            c.claim_type,
            c.state,
            c.received_on,
            c.total_charge,
            a.paid,
            a.outcome,
        )
        .outerjoin(_adjudications, (a.claim_id == c.id) & (a.kind == "decision"))
        .where(c.id > after)
        .order_by(c.id)
        .limit(limit)
    )
    query = query.where(*_conditions(visible, where))
    found = []
    for r in conn.execute(query):
        identity = identity_of(r)
        found.append(
            ClaimSummary(
                r.id,
                r.payer_claim_number,
                identity.claim_id,
                identity.member_id,
                r.billing_npi,
                r.claim_type,
                r.state,
                r.received_on,
                r.total_charge,
                paid_by(r.outcome, r.paid),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class AcknowledgmentRef:
    id: int
    kind: str
    control_number: str
    file_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class InterchangeView:
    id: int
    state: str
    reason: str | None
    sender_id: str
    control_number: str
    file_name: str
    received_at: datetime
    claims: dict[str, int]
    acknowledgments: list[AcknowledgmentRef]


def interchange_view(
    conn: Connection, interchange_id: int, visible: ColumnElement[bool] | None
) -> InterchangeView | None:
    """An interchange's state, claim counts and acknowledgments; None when missing or not the
    caller's."""
    i = _interchanges.c
    query = select(
        i.id, i.state, i.reason, i.sender_id, i.control_number, i.file_name, i.received_at
    ).where(i.id == interchange_id)
    if visible is not None:
        query = query.where(visible)
    row = conn.execute(query).first()
    if row is None:
        return None
    c = _claims.c
    by_state: dict[str, int] = dict(
        conn.execute(
            select(c.state, func.count())
            .where(c.interchange_id == interchange_id)
            .group_by(c.state)
        ).all()
    )
    k = _acks.c
    acks = [
        AcknowledgmentRef(r.id, r.kind, r.control_number, r.file_name, r.created_at)
        for r in conn.execute(
            select(k.id, k.kind, k.control_number, k.file_name, k.created_at)
            .where(k.interchange_id == interchange_id)
            .order_by(k.id)
        )
    ]
    return InterchangeView(
        row.id,
        row.state,
        row.reason,
        row.sender_id,
        row.control_number,
        row.file_name,
        row.received_at,
        {s.value: int(by_state.get(s.value, 0)) for s in ClaimState},
        acks,
    )


def acknowledgment(
    conn: Connection, interchange_id: int, ack_id: int, visible: ColumnElement[bool] | None
) -> tuple[AcknowledgmentRef, str] | None:
    """One acknowledgment (and its X12 text) of an interchange the caller may see; None when
    missing or not the caller's."""
    k = _acks.c
    query = (
        select(k.id, k.kind, k.control_number, k.file_name, k.created_at, k.content)
        .join(_interchanges, _interchanges.c.id == k.interchange_id)
        .where(k.id == ack_id, k.interchange_id == interchange_id)
    )
    if visible is not None:
        query = query.where(visible)
    row = conn.execute(query).first()
    if row is None:
        return None
    text = current_vault().open_text(row.content, ACK, row.id)
    return AcknowledgmentRef(
        row.id, row.kind, row.control_number, row.file_name, row.created_at
    ), text


@dataclass(frozen=True, slots=True)
class RemittanceItem:
    claim_id: int
    payer_claim_number: str
    submitter_claim_id: str
    kind: str
    status: str
    outcome: str
    charge: Decimal
    allowed: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    adjustments: list[AdjustmentView]


@dataclass(frozen=True, slots=True)
class RemittanceView:
    id: int
    payee_npi: str
    trace_number: str
    created_at: datetime
    total_paid: Decimal
    file_name: str
    x12: str
    items: list[RemittanceItem]


def remittance_view(
    conn: Connection, remittance_id: int, visible: ColumnElement[bool] | None
) -> RemittanceView | None:
    """An 835 as written, with the decisions it carries; None when missing or not the
    caller's."""
    r = _remittances.c
    query = select(_remittances).where(r.id == remittance_id)
    if visible is not None:
        query = query.where(visible)
    row = conn.execute(query).first()
    if row is None:
        return None
    a = _adjudications.c
    c = _claims.c
    decisions = conn.execute(
        select(
            a.id,
            a.claim_id,
            a.payer_claim_number,
            c.identity,
            a.kind,
            a.status,
            a.outcome,
            a.charge,
            a.allowed,
            a.paid,
            a.patient_responsibility,
        )
        .join(_items, _items.c.adjudication_id == a.id)
        .join(_claims, c.id == a.claim_id)
        .where(_items.c.remittance_id == remittance_id)
        .order_by(a.id)
    ).all()
    j = _adjustments.c
    adjustments: dict[int, list[AdjustmentView]] = {}
    if decisions:
        for adj in conn.execute(
            select(_adjustments)
            .where(j.adjudication_id.in_([d.id for d in decisions]))
            .order_by(j.id)
        ):
            adjustments.setdefault(adj.adjudication_id, []).append(
                _adjustment_view(adj.line_number, adj.group_code, adj.reason_code, adj.amount)
            )
    items = [
        RemittanceItem(
            d.claim_id,
            d.payer_claim_number,
            identity_of(d).claim_id,
            d.kind,
            d.status,
            d.outcome,
            d.charge,
            d.allowed,
            d.paid,
            d.patient_responsibility,
            adjustments.get(d.id, []),
        )
        for d in decisions
    ]
    return RemittanceView(
        row.id,
        row.payee_npi,
        row.trace_number,
        row.created_at,
        row.total_paid,
        row.file_name,
        current_vault().open_text(row.content, REMITTANCE, row.id),
        items,
    )


ACK_KINDS = tuple(k.value for k in AckKind)


def count_claims(conn: Connection, visible: ColumnElement[bool] | None, where: ClaimFilter) -> int:
    """How many claims the caller may see pass ``where``."""
    query = select(func.count()).select_from(_claims)
    query = query.where(*_conditions(visible, where))
    return int(conn.execute(query).scalar_one())


def claim_is_visible(
    conn: Connection, claim_row_id: int, visible: ColumnElement[bool] | None
) -> bool:
    query = select(_claims.c.id).where(_claims.c.id == claim_row_id)
    if visible is not None:
        query = query.where(visible)
    return conn.execute(query).first() is not None


@dataclass(frozen=True, slots=True)
class AdjudicationView:
    """A decision or reversal of a claim, with the 835 it was paid in (``None`` when it is in
    none yet). ``document`` is the stored (sealed) decision, for :func:`read_decision`."""

    id: int
    claim_row_id: int
    kind: str
    payer_claim_number: str
    outcome: str
    charge: Decimal
    allowed: Decimal
    paid: Decimal
    pend_reason: str | None
    reverses: str | None
    reversed_by: str | None
    decided_at: datetime
    remittance_trace: str | None
    remitted_at: datetime | None
    document: bytes


def adjudications_of(conn: Connection, claim_row_ids: Sequence[int]) -> list[AdjudicationView]:
    """Every adjudication row of these claims (their decisions, and the reversals a replacement
    or void made), each with its remittance's trace number and time, in one query."""
    if not claim_row_ids:
        return []
    a, r = _adjudications.c, _remittances.c
    rows = conn.execute(
        select(
            a.id,
            a.claim_id,
            a.kind,
            a.payer_claim_number,
            a.outcome,
            a.charge,
            a.allowed,
            a.paid,
            a.pend_reason,
            a.reverses,
            a.reversed_by,
            a.decided_at,
            a.decision,
            r.trace_number,
            r.created_at,
        )
        .select_from(_adjudications)
        .outerjoin(_items, _items.c.adjudication_id == a.id)
        .outerjoin(_remittances, r.id == _items.c.remittance_id)
        .where(a.claim_id.in_(sorted(set(claim_row_ids))))
        .order_by(a.claim_id, a.id)
    ).all()
    return [
        AdjudicationView(
            id=int(row.id),
            claim_row_id=int(row.claim_id),
            kind=row.kind,
            payer_claim_number=row.payer_claim_number,
            outcome=row.outcome,
            charge=row.charge,
            allowed=row.allowed,
            paid=row.paid,
            pend_reason=row.pend_reason,
            reverses=row.reverses,
            reversed_by=row.reversed_by,
            decided_at=row.decided_at,
            remittance_trace=row.trace_number,
            remitted_at=row.created_at,
            document=row.decision,
        )
        for row in rows
    ]
