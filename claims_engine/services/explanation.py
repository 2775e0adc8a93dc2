"""What an explanation of benefits needs, loaded from the store: the claim as received, where it
stands, its decision and the 835 that paid it.

:func:`load_explanations` reads any number of claims in a few statements (claims, their
adjudications with the remittance each is in, the claims that reversed them; chunked for long
id lists) and returns one :class:`Explanation` per claim found, in the order asked. The FHIR adapter
(:mod:`adapters.fhir`) maps them to ExplanationOfBenefit resources; nothing here knows FHIR.

A pended claim for which an examiner asked the provider for information (an open
``INFO-REQUESTED`` pend item) explains itself by that request: what was asked and by when it
must be answered, as the claim's status shows it (:mod:`claims_engine.services.queries`);
nothing else of its examination (notes, pend details) is read.

A stored claim or decision that does not decode raises
:class:`~claims_engine.domain.errors.StoredDataError` (from :mod:`claims_engine.domain.codec`); it
is left to propagate, the caller answers it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Select,
    Text,
    any_,
    bindparam,
    cast,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from claims_engine.adjudication.decision import ClaimDecision
from claims_engine.domain.model import Claim
from claims_engine.domain.pend_reasons import INFO_REQUESTED
from claims_engine.services.queries import ClaimScope, InfoRequest, identity_of, reads_audited
from claims_engine.services.stored_adjudication import read_claim, read_decision
from claims_engine.store.db import DriverStatement, is_postgres
from claims_engine.store.tables import (
    ClaimState,
    PendState,
    adjudications_table,
    claims_table,
    pend_items_table,
    phi_reads_table,
    remittance_claims_table,
    remittances_table,
)

# Ids per statement: well under SQLite's bound-parameter limit, few round trips on PostgreSQL.
CHUNK = 500

_claims = claims_table
_adjudications = adjudications_table
_items = remittance_claims_table
_remittances = remittances_table


@dataclass(frozen=True, slots=True)
class Explanation:
    """One claim as a patient's explanation of benefits sees it.

    ``decision`` is the claim's own decision (None before adjudication, when adjudication
    failed, and for a void, whose only decision is the reversal of its original). The
    remittance fields name the 835 that carried the decision (for a void: its reversal).
    ``error`` is why the claim was rejected at intake or pended (for a claim waiting for
    information from its provider: what was asked, and by when; the request itself is
    ``info_request``). ``updated_at`` is when the claim last changed (naive UTC, as stored),
    for ``meta.lastUpdated``.
    """

    claim_row_id: int
    state: str  # claims.state: received/rejected/accepted/pended/adjudicated/remitted
    received_on: date
    claim: Claim
    decision: ClaimDecision | None
    decided_at: datetime | None
    reversed_by: str | None  # payer claim number of the claim that replaced or voided it
    rule_pack_version: str | None
    remittance_trace: str | None  # TRN02 of the 835
    paid_on: date | None  # the 835's date
    error: str | None
    payer_claim_number: str | None
    member_id: str
    updated_at: datetime | None = None
    info_request: InfoRequest | None = None

    @property
    def is_void(self) -> bool:
        """A void (frequency 8) that reversed its original: it stands for no claim of its own."""
        return (
            self.claim.frequency_code == "8"
            and self.decision is None
            and self.decided_at is not None
            and self.state in (ClaimState.ADJUDICATED, ClaimState.REMITTED)
        )


def load_explanation(engine: Engine, claim_row_id: int) -> Explanation | None:
    """The explanation of one claim, None when there is no such claim."""
    found = load_explanations(engine, [claim_row_id])
    return found[0] if found else None


def load_explanations(engine: Engine, claim_row_ids: Sequence[int]) -> list[Explanation]:
    """The explanations of the claims among ``claim_row_ids`` that exist, in the order asked
    (an id asked twice comes twice). Three or four statements per :data:`CHUNK` ids."""
    with engine.connect() as conn:
        return read_explanations(conn, claim_row_ids)


def read_explanations(
    conn: Connection,
    claim_row_ids: Sequence[int],
    visible: ColumnElement[bool] | ClaimScope | None = None,
    audit: Mapping[str, Any] | None = None,
) -> list[Explanation]:
    """:func:`load_explanations` in the caller's transaction (a page that audits its reads
    reads and audits in one), of the claims among them the condition ``visible`` on
    ``claims`` accepts (None: all), or a caller's :class:`ClaimScope` (on PostgreSQL, the
    claims and their adjudications in one statement, past SQLAlchemy's work per statement: a
    page's path). With ``audit`` (:func:`claims_engine.services.access.audit_entry`), one
    ``phi_reads`` row is written per claim read (with a scope on PostgreSQL, by the same
    statement)."""
    wanted = list(dict.fromkeys(int(i) for i in claim_row_ids))
    loaded: dict[int, Explanation] = {}
    for chunk in _chunks(wanted):
        loaded.update(_load(conn, chunk, visible, audit))
    return [loaded[int(i)] for i in claim_row_ids if int(i) in loaded]


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass(slots=True)
class _Adjudication:
    id: int
    decision: bytes  # sealed
    decided_at: datetime
    reversed_by: str | None
    rule_pack_version: str
    pend_reason: str | None
    trace: str | None
    paid_at: datetime | None


def _reversing_claims(conn: Connection, numbers: list[str | None]) -> dict[str, str]:
    """The payer claim number of the claim (replacement or void) whose reversal reversed each
    of ``numbers``. Read from the reversal rows and their claims rather than from
    ``adjudications.reversed_by``, which holds the reversal decision's own payer claim number,
    the original's (a reversal keeps the number of the decision it negates)."""
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return {}
    a, c = _adjudications.c, _claims.c
    found = conn.execute(
        select(a.reverses, c.payer_claim_number)
        .join(_claims, c.id == a.claim_id)
        .where(a.kind == "reversal", a.reverses.in_(wanted))
        .order_by(a.id)
    ).all()
    result: dict[str, str] = {}
    for reverses, by in found:
        if by:
            result.setdefault(str(reverses), str(by))
    return result


def _claims_of(scope_column: str | None = None) -> Select[Any]:
    """The claims' columns an explanation needs, of the ids in the array ``ids``, and with a
    scope's column (``scope_column``) ``= ANY`` of the array ``scope`` (PostgreSQL)."""
    c = _claims.c
    query = select(
        c.id,
        c.state,
        c.received_on,
        c.updated_at,
        c.error,
        c.payer_claim_number,
        c.identity,
        c.claim,
    )
    if scope_column is not None:
        query = query.where(c[scope_column] == any_(bindparam("scope", type_=ARRAY(Text()))))
    return query


def _adjudications_of(ids: Any) -> Select[Any]:
    """Each adjudication of the claims ``ids`` with the 835 it is in (a decision is in one
    remittance at most)."""
    a = _adjudications.c
    return (
        select(
            a.id,
            a.claim_id,
            a.kind,
            a.decision,
            a.decided_at,
            a.reversed_by,
            a.rule_pack_version,
            a.pend_reason,
            _remittances.c.trace_number,
            _remittances.c.created_at,
        )
        .select_from(_adjudications)
        .outerjoin(_items, _items.c.adjudication_id == a.id)
        .outerjoin(_remittances, _remittances.c.id == _items.c.remittance_id)
        .where(ids)
    )


_IDS = bindparam("ids", type_=ARRAY(BigInteger()))
_LOADS: dict[tuple[str | None, bool], DriverStatement] = {}
# the adjudication's columns in the one-statement read, after the claim's (prefixed)
_ADJUDICATION_COLUMNS = (
    "id",
    "claim_id",
    "kind",
    "decision",
    "decided_at",
    "reversed_by",
    "rule_pack_version",
    "pend_reason",
    "trace_number",
    "created_at",
)


def _load_sql(column: str | None, audited: bool) -> DriverStatement:
    """The one-statement read of a scope's shape, audited or not: made once per shape."""
    key = (column, audited)
    found = _LOADS.get(key)
    if found is None:
        found = _LOADS.setdefault(key, DriverStatement(lambda: _load_statement(column, audited)))
    return found


def _load_statement(column: str | None, audited: bool) -> Select[Any]:
    """The claims of the array ``ids`` the scope lets be seen (:func:`_claims_of`), each
    with its adjudications (a row each, their columns prefixed ``a_``; one row with them null
    for a claim without), in one statement (PostgreSQL); ``audited``: a ``phi_reads`` row
    written for each claim found, by the same statement (:func:`reads_audited`)."""
    found = _claims_of(column).where(_claims.c.id == any_(_IDS)).cte("found")
    adjudicated = _adjudications_of(
        _adjudications.c.claim_id.in_(select(found.c.id).scalar_subquery())
    ).subquery("adjudicated")
    columns: list[Any] = [
        *found.c,
        *(adjudicated.c[name].label(f"a_{name}") for name in _ADJUDICATION_COLUMNS),
    ]
    if audited:
        columns.append(reads_audited(select(literal("claim"), cast(found.c.id, Text))))
    return (
        select(*columns)
        .select_from(found.outerjoin(adjudicated, adjudicated.c.claim_id == found.c.id))
        .order_by(found.c.id, adjudicated.c.id)
    )


@dataclass(frozen=True, slots=True)
class _AdjudicationRow:
    """An adjudication's columns of the one-statement read, by the names of
    :func:`_adjudications_of`'s."""

    id: int
    claim_id: int
    kind: str
    decision: bytes
    decided_at: datetime | None
    reversed_by: str | None
    rule_pack_version: str | None
    pend_reason: str | None
    trace_number: str | None
    created_at: datetime | None


def _read_at_once(
    conn: Connection, ids: list[int], scope: ClaimScope, audit: Mapping[str, Any] | None
) -> tuple[list[Any], list[Any]]:
    """:func:`_load_statement`'s claims rows (one each) and adjudications rows."""
    values: dict[str, Any] = {"ids": ids, **(audit or {})}
    if scope.column is not None:
        values["scope"] = list(scope.values)
    claims: dict[int, Any] = {}
    adjudications: list[Any] = []
    for row in _load_sql(scope.column, audit is not None).rows(conn, values):
        claims.setdefault(int(row.id), row)
        if row.a_id is not None:
            adjudications.append(
                _AdjudicationRow(*(getattr(row, f"a_{n}") for n in _ADJUDICATION_COLUMNS))
            )
    return list(claims.values()), adjudications


def _load(
    conn: Connection,
    ids: list[int],
    visible: ColumnElement[bool] | ClaimScope | None = None,
    audit: Mapping[str, Any] | None = None,
) -> dict[int, Explanation]:
    c, a = _claims.c, _adjudications.c
    rows: list[Any]
    found: list[Any]
    if isinstance(visible, ClaimScope) and is_postgres(conn):
        rows, found = _read_at_once(conn, ids, visible, audit)
        if not rows:
            return {}
    else:
        if isinstance(visible, ClaimScope):
            visible = visible.condition()
        query = _claims_of().where(c.id.in_(ids))
        if visible is not None:
            query = query.where(visible)
        rows = list(conn.execute(query).all())
        if not rows:
            return {}
        found = list(
            conn.execute(_adjudications_of(a.claim_id.in_([int(r.id) for r in rows]))).all()
        )
        if audit is not None:
            conn.execute(
                insert(phi_reads_table),
                [{**audit, "record_type": "claim", "record_id": str(r.id)} for r in rows],
            )
    adjudications: dict[tuple[int, str], _Adjudication] = {
        (int(r.claim_id), str(r.kind)): _Adjudication(
            int(r.id),
            r.decision,
            r.decided_at,
            r.reversed_by,
            r.rule_pack_version,
            r.pend_reason,
            r.trace_number,
            r.created_at,
        )
        for r in found
    }
    # only a decision marked reversed was (its mark is written with the reversal)
    reversing = _reversing_claims(
        conn,
        [
            r.payer_claim_number
            for r in rows
            if (own := adjudications.get((int(r.id), "decision"))) and own.reversed_by
        ],
    )
    requests = _info_requests(conn, [int(r.id) for r in rows if r.state == ClaimState.PENDED])
    result: dict[int, Explanation] = {}
    for r in rows:
        row_id = int(r.id)
        claim = read_claim(r.claim, row_id)
        own = adjudications.get((row_id, "decision"))
        reversal = adjudications.get((row_id, "reversal"))
        decision = read_decision(own.decision, r.claim, own.id, row_id) if own is not None else None
        # A void has no decision of its own: what happened to it is its reversal.
        source = own if own is not None else reversal
        error = r.error
        if own is not None and own.pend_reason and r.state == ClaimState.PENDED:
            error = error or own.pend_reason
        info = requests.get(row_id)
        if info is not None:
            error = (
                f"information requested from the provider: {info.asked} (to be answered by "
                f"{info.answer_by.date().isoformat()})"
            )
        result[row_id] = Explanation(
            claim_row_id=row_id,
            state=str(r.state),
            received_on=r.received_on,
            claim=claim,
            decision=decision,
            decided_at=source.decided_at if source is not None else None,
            reversed_by=(
                reversing.get(r.payer_claim_number, own.reversed_by) if own is not None else None
            ),
            rule_pack_version=(source.rule_pack_version or None) if source is not None else None,
            remittance_trace=source.trace if source is not None else None,
            paid_on=source.paid_at.date() if source is not None and source.paid_at else None,
            error=error,
            payer_claim_number=r.payer_claim_number,
            member_id=identity_of(r).member_id,
            updated_at=r.updated_at,
            info_request=info,
        )
    return result


def _info_requests(conn: Connection, ids: list[int]) -> dict[int, InfoRequest]:
    """The open request for information of each of these (pended) claims that has one."""
    if not ids:
        return {}
    i = pend_items_table.c
    found: dict[int, InfoRequest] = {}
    for r in conn.execute(
        select(i.claim_id, i.asked, i.raised_at, i.due_at)
        .where(
            i.claim_id.in_(ids),
            i.state == PendState.OPEN.value,
            i.code == INFO_REQUESTED,
            i.asked.is_not(None),
        )
        .order_by(i.id)
    ):
        found[int(r.claim_id)] = InfoRequest(str(r.asked), r.raised_at, r.due_at)  # the latest
    return found
