"""Adjudication of stored claims, exactly once, family by family.

:func:`adjudicate_claims` takes claim ids (a batch from the intake, a redelivered message, a
recovery sweep) and, in one transaction:

1. finds which of them are still ``accepted`` and the families they belong to;
2. locks those families (transaction-scoped advisory locks in key order on PostgreSQL, so two
   workers never interleave one family and never deadlock; SQLite has one writer at a time);
3. reloads, under the lock, every claim of those families still waiting from the same or
   earlier interchanges, in ``(interchange, ordinal)`` order, so a family's claims are decided
   in submission order whichever worker or message gets there first. Claims of an interchange
   submitted after one whose intake is still running are ``deferred`` (the caller sends them
   again a moment later): the earlier one may hold older claims of the same families;
4. loads the families' accumulators, service history and the decisions their replacements and
   voids reverse, adjudicates (the pure :func:`~claims_engine.adjudication.adjudicate.adjudicate`
   through a :class:`~claims_engine.adjudication.batch.Ledger`), and writes decisions,
   adjustments, accumulators, history, claim states and events with batched statements.

A claim whose adjudication raises ends ``pended`` with the error recorded; its neighbours are
decided as usual. A second delivery finds the claims no longer ``accepted`` and does nothing;
the unique key on ``(claim, kind)`` of the adjudications refuses a second decision outright.
Database errors propagate, so the worker retries the message with backoff.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, text, update

from claims_engine.adjudication.adjudicate import (
    AccumulatorKey,
    Adjudication,
    PriorService,
    adjudicate,
)
from claims_engine.adjudication.batch import Ledger, services_of
from claims_engine.adjudication.decision import ClaimDecision, ClaimStatusCode, Outcome
from claims_engine.adjudication.directives import Directives
from claims_engine.domain.codec import claim_from_json, decision_from_json, decision_to_json
from claims_engine.domain.errors import DataKeyError
from claims_engine.domain.model import Claim
from claims_engine.domain.money import ZERO
from claims_engine.domain.pend_reasons import ADJUDICATION_ERROR, CLAIM_UNREADABLE, PendItem
from claims_engine.services.authorizations import approved_for_families, record_uses
from claims_engine.services.pends import DEFAULT_PROMPT_PAY_DAYS, PendedClaim, among, sync_pends
from claims_engine.services.reference import Runtime
from claims_engine.store.bulk import insert_rows, update_rows
from claims_engine.store.db import begin_write, error_line, is_postgres, is_transient
from claims_engine.store.tables import (
    CLAIM,
    DECISION,
    ClaimState,
    InterchangeState,
    accumulators_table,
    adjudications_table,
    adjustments_table,
    claim_events_table,
    claims_table,
    interchanges_table,
    services_table,
)
from claims_engine.store.vault import current_vault

ACTOR = "adjudication"
# the actor of the claim events of a claim decided again: who the examiner was is in
# examiner_actions (claim events are shown to providers and members)
EXAMINATION_ACTOR = "examination"
ORDER_WINDOW = timedelta(minutes=10)
HISTORY_WINDOW = timedelta(days=366)

_claims = claims_table
_events = claim_events_table
_adjudications = adjudications_table
_adjustments = adjustments_table
_accumulators = accumulators_table
_services = services_table
_interchanges = interchanges_table


@dataclass(slots=True)
class BatchResult:
    """What one call decided: counts by the state each claim ended in."""

    adjudicated: int = 0
    pended: int = 0
    failed: int = 0  # pended because adjudication raised
    skipped: int = 0  # asked for but no longer waiting (done before: a redelivery)
    deferred: int = 0  # waiting for an earlier interchange's intake: send them again later
    claim_ids: list[int] = field(default_factory=list)
    decisions: list[Adjudication] = field(default_factory=list)  # of the claims decided

    def add(self, other: BatchResult) -> None:
        self.adjudicated += other.adjudicated
        self.pended += other.pended
        self.failed += other.failed
        self.skipped += other.skipped
        self.deferred += other.deferred
        self.claim_ids.extend(other.claim_ids)
        self.decisions.extend(other.decisions)


def family_lock_key(family: str) -> int:
    """A signed 64-bit advisory lock key for a family."""
    digest = hashlib.blake2b(family.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def adjudicate_claims(
    engine: Engine, claim_ids: Sequence[int], runtime: Runtime, now: datetime
) -> BatchResult:
    """Adjudicate the claims among ``claim_ids`` that still wait (and the earlier waiting
    claims of their families). A failure that is not transient is retried family by family,
    and a family whose writes still fail has its claims pended with the error."""
    try:
        return _adjudicate(engine, claim_ids, runtime, now)
    except Exception as exc:
        if is_transient(exc):
            raise
    result = BatchResult()
    with engine.connect() as conn:
        families = _waiting_families(conn, claim_ids)
    for family, _last in families:
        with engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(_claims.c.id).where(
                        _claims.c.family == family,
                        _claims.c.id.in_(claim_ids),
                        _claims.c.state == ClaimState.ACCEPTED,
                    )
                ).scalars()
            )
        try:
            result.add(_adjudicate(engine, ids, runtime, now))
        except Exception as exc:
            if is_transient(exc):
                raise
            result.add(_pend_failed(engine, runtime, ids, exc, now))
    return result


def _waiting_families(
    conn: Connection, claim_ids: Sequence[int], before_interchange: int | None = None
) -> list[tuple[str, int]]:
    c = _claims.c
    query = select(c.family, func.max(c.interchange_id)).where(
        c.id.in_(claim_ids), c.state == ClaimState.ACCEPTED
    )
    if before_interchange is not None:
        query = query.where(c.interchange_id < before_interchange)
    rows = conn.execute(query.group_by(c.family)).all()
    return sorted((str(f), int(m)) for f, m in rows)


def _first_unread(conn: Connection, now: datetime) -> int | None:
    """The first interchange still waiting for its intake, received within ``ORDER_WINDOW``:
    claims of it and of later interchanges wait, so that a family's claims are decided in the
    order they were submitted. One stuck longer than that no longer holds the others back."""
    i = _interchanges.c
    found = conn.execute(
        select(func.min(i.id)).where(
            i.state == InterchangeState.RECEIVED, i.received_at >= now - ORDER_WINDOW
        )
    ).scalar()
    return None if found is None else int(found)


def _lock_families(conn: Connection, families: Iterable[str]) -> None:
    if not is_postgres(conn):
        return  # SQLite: the transaction began IMMEDIATE and holds the only write lock
    for key in sorted({family_lock_key(f) for f in families}):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


@dataclass(slots=True)
class _Waiting:
    id: int
    payer_claim_number: str
    family: str
    received_on: date
    claim: Any
    member_id: str  # the lookup of the claim's patient, as its intake stored it
    charge: Decimal = ZERO


def _adjudicate(
    engine: Engine, claim_ids: Sequence[int], runtime: Runtime, now: datetime
) -> BatchResult:
    result = BatchResult()
    if not claim_ids:
        return result
    with begin_write(engine) as conn:
        first_unread = _first_unread(conn, now)
        families = _waiting_families(conn, claim_ids, first_unread)
        if first_unread is not None:
            result.deferred = _count_deferred(conn, claim_ids, first_unread)
        if not families:
            result.skipped = len(set(claim_ids)) - result.deferred
            return result
        # A replacement or void can reach into another family (its original's): lock and
        # load that family too, or its accumulators would change under another worker.
        reached = _original_families(conn, families)
        _lock_families(conn, [*(f for f, _ in families), *reached])
        waiting = _load_waiting(conn, families)
        if not waiting:  # decided by another worker while we waited for the lock
            result.skipped = len(set(claim_ids)) - result.deferred
            return result
        names = sorted({w.family for w in waiting} | set(reached))
        failures: list[tuple[_Waiting, BaseException]] = []
        claims: dict[int, Claim] = {}
        for w in waiting:
            try:
                claims[w.id] = read_claim(w.claim, w.id)
            except DataKeyError:
                raise  # the keys are wrong, not the claim: retried, and swept up once fixed
            except Exception as exc:  # a stored claim that cannot be read pends alone
                failures.append((w, exc))
        unreadable = {w.id for w, _ in failures}
        ledger = _ledger(
            conn, runtime, names, [(claims[w.id], w.member_id) for w in waiting if w.id in claims]
        )
        decided: list[tuple[_Waiting, Adjudication]] = []
        changed: dict[AccumulatorKey, str] = {}
        for w in waiting:
            claim = claims.get(w.id)
            if claim is None:
                continue
            context = runtime.context(w.received_on, claim)
            try:
                outcome = adjudicate(
                    claim, ledger.context_for(claim, context), w.payer_claim_number
                )
            except Exception as exc:  # a fault in one claim's adjudication pends that claim
                failures.append((w, exc))
                continue
            ledger.record(outcome)
            decided.append((w, outcome))
            for key in outcome.accumulator_changes:
                changed[key] = w.family
        _write_decisions(conn, decided, claims, now)
        _write_accumulators(conn, names, ledger, changed)
        _write_history(conn, decided)
        record_uses(conn, [(w.payer_claim_number, o) for w, o in decided], now)
        _write_states(conn, decided, failures, now)
        _record_pends(conn, runtime, decided, failures, unreadable, now)
    requested = set(claim_ids)
    for w, outcome in decided:
        if outcome.decision.outcome is Outcome.PENDED:
            result.pended += 1
        else:
            result.adjudicated += 1
        result.claim_ids.append(w.id)
        result.decisions.append(outcome)
    result.failed = len(failures)
    result.claim_ids.extend(w.id for w, _ in failures)
    result.skipped = len(requested - set(result.claim_ids)) - result.deferred
    return result


def pended_claim(
    runtime: Runtime, claim_id: int, decision: ClaimDecision, received_on: date
) -> PendedClaim:
    """What the queue keeps of a claim that pends with ``decision``: its plan's clock."""
    reference = runtime.reference
    member = reference.members.get(decision.member_id)
    plan = reference.plans.get(member.plan_id) if member is not None else None
    claim = decision.claim
    return PendedClaim(
        claim_id,
        plan.id if plan is not None else "",
        plan.examination.prompt_pay_days if plan is not None else DEFAULT_PROMPT_PAY_DAYS,
        claim.total_charge,
        received_on,
    )


def _record_pends(
    conn: Connection,
    runtime: Runtime,
    decided: list[tuple[_Waiting, Adjudication]],
    failures: list[tuple[_Waiting, BaseException]],
    unreadable: set[int],
    now: datetime,
) -> None:
    catalogue = runtime.reference.pend_reasons
    for w, outcome in decided:
        d = outcome.decision
        if d.outcome is Outcome.PENDED:
            where = pended_claim(runtime, w.id, d, w.received_on)
            sync_pends(conn, where, d.pend_items, catalogue, ACTOR, now)
    for w, exc in failures:
        code = CLAIM_UNREADABLE if w.id in unreadable else ADJUDICATION_ERROR
        item = PendItem(
            code, 0, "", f"adjudication failed: {type(exc).__name__}: {error_line(exc)}"
        )
        where = PendedClaim(w.id, "", DEFAULT_PROMPT_PAY_DAYS, w.charge, w.received_on)
        sync_pends(conn, where, [item], catalogue, ACTOR, now)


def _ledger(
    conn: Connection, runtime: Runtime, families: list[str], claims: list[tuple[Claim, str]]
) -> Ledger:
    """What adjudicating ``claims`` (each with the lookup of its patient, as stored) in the
    locked ``families`` starts from: their accumulators, their service history from the first
    day the claims can need, the standing decisions their replacements and voids reverse, and
    their approved prior authorizations with the units left."""
    reversed_decisions = _load_reversed(conn, claims)
    lookups = readable_lookups(
        runtime, [*(c for c, _ in claims), *(d.claim for d in reversed_decisions.values())]
    )
    return Ledger(
        accumulators=_load_accumulators(conn, families, lookups),
        history=_load_history(conn, families, _history_start(c for c, _ in claims), lookups),
        decisions=reversed_decisions,
        authorizations=approved_for_families(conn, families, lookups),
    )


def _count_deferred(conn: Connection, claim_ids: Sequence[int], first_unread: int) -> int:
    c = _claims.c
    return int(
        conn.execute(
            select(func.count()).where(
                c.id.in_(claim_ids),
                c.state == ClaimState.ACCEPTED,
                c.interchange_id >= first_unread,
            )
        ).scalar_one()
    )


def _original_families(conn: Connection, families: list[tuple[str, int]]) -> list[str]:
    """Families, other than ``families``, of the originals that their waiting claims replace
    or void (a claim's original and family never change, so reading before the lock is safe).
    An original of another billing NPI or patient is no claim's to reverse: never reached."""
    c = _claims.c
    original = claims_table.alias("original")
    names = [f for f, _ in families]
    found = conn.execute(
        select(original.c.family)
        .distinct()
        .join(
            original,
            # only an original the claim may reverse: of its billing NPI and its patient
            (original.c.payer_claim_number == c.original_claim_number)
            & (original.c.billing_npi == c.billing_npi)
            & (original.c.member_id == c.member_id),
        )
        .where(
            c.family.in_(names),
            c.state == ClaimState.ACCEPTED,
            c.interchange_id <= max(m for _, m in families),
            c.original_claim_number.is_not(None),
            original.c.family.not_in(names),
        )
    ).scalars()
    return sorted(str(f) for f in found)


def _load_waiting(conn: Connection, families: list[tuple[str, int]]) -> list[_Waiting]:
    c = _claims.c
    last = max(m for _, m in families)
    query = (
        select(
            c.id,
            c.payer_claim_number,
            c.family,
            c.received_on,
            c.claim,
            c.member_id,
            c.total_charge,
        )
        .where(
            c.family.in_([f for f, _ in families]),
            c.state == ClaimState.ACCEPTED,
            c.interchange_id <= last,
        )
        .order_by(c.interchange_id, c.ordinal)
    )
    if is_postgres(conn):
        query = query.with_for_update()
    return [
        _Waiting(
            int(r.id),
            str(r.payer_claim_number),
            str(r.family),
            r.received_on,
            r.claim,
            str(r.member_id),
            r.total_charge,
        )
        for r in conn.execute(query)
    ]


def readable_lookups(runtime: Runtime, claims: Iterable[Claim]) -> dict[str, str]:
    """Lookup column values (keyed hashes) back to the member ids and accumulator holders
    they were made from, for every one the adjudication of ``claims`` can ask about: the
    pure adjudication names members and holders as the reference data does."""
    vault = current_vault()
    ids = runtime.identifiers_of(claims)
    names = ids | {f"member:{i}" for i in ids}
    return {vault.lookup(n): n for n in names}


def _load_accumulators(
    conn: Connection, families: list[str], lookups: dict[str, str]
) -> dict[AccumulatorKey, Decimal]:
    """The families' running totals, keyed by holder as adjudication names them (a holder no
    claim of the batch can name keeps its lookup: nothing asks for it)."""
    a = _accumulators.c
    rows = conn.execute(
        select(a.holder, a.plan_id, a.plan_year, a.bucket, a.network, a.amount).where(
            a.family.in_(families)
        )
    )
    return {
        AccumulatorKey(
            lookups.get(r.holder, r.holder), r.plan_id, r.plan_year, r.bucket, r.network
        ): r.amount
        for r in rows
    }


def _history_start(claims: Iterable[Claim]) -> date | None:
    """The first day of service history the claims can need: duplicates look at the same day,
    rules at the plan year of each line, which starts less than a year before it. Loading no
    more keeps a batch's cost flat however long a family's history grows."""
    days = [
        day
        for claim in claims
        for day in (
            claim.service_from,
            claim.statement_from,
            *(ln.service_from for ln in claim.lines),
        )
        if day is not None
    ]
    return min(days) - HISTORY_WINDOW if days else None


def _load_history(
    conn: Connection, families: list[str], start: date | None, lookups: dict[str, str]
) -> dict[str, list[PriorService]]:
    s = _services.c
    history: dict[str, list[PriorService]] = {}
    query = select(_services).where(s.family.in_(families))
    if start is not None:
        query = query.where(s.service_date >= start)
    rows = conn.execute(query.order_by(s.id))
    for r in rows:
        history.setdefault(lookups.get(r.subscriber_id, r.subscriber_id), []).append(
            PriorService(
                r.payer_claim_number,
                r.submitter_claim_id,
                r.billing_npi,
                lookups.get(r.member_id, r.member_id),
                r.procedure,
                r.service_date,
                r.charge,
                r.units,
            )
        )
    return history


def _load_reversed(
    conn: Connection, claims: Iterable[tuple[Claim, str]]
) -> dict[str, ClaimDecision]:
    """The standing decisions that replacements and voids among ``claims`` (each with the
    lookup of its patient as stored) name, of those originals only that were billed under the
    same NPI for the same patient (as their intakes stored them, the test ``_original_families``
    makes too): any other is never opened, and adjudication answers it as one that does not
    exist (``may_reverse`` checks the TIN and the patient again)."""
    wanted = {
        (c.original_claim_number, c.billing_provider.npi[:10], member)
        for c, member in claims
        if c.original_claim_number
    }
    if not wanted:
        return {}
    a, c = _adjudications.c, _claims.c
    rows = conn.execute(
        select(a.payer_claim_number, a.decision, c.claim, c.billing_npi, c.member_id)
        .join(_claims, c.id == a.claim_id)
        .where(
            a.payer_claim_number.in_(sorted({w[0] for w in wanted})),
            a.kind == "decision",
            a.reversed_by.is_(None),
        )
    )
    return {
        str(r.payer_claim_number): read_decision(r.decision, r.claim)
        for r in rows
        if (r.payer_claim_number, r.billing_npi, r.member_id) in wanted
    }


def decision_document(decision: ClaimDecision, claim: Claim) -> bytes:
    """The decision as stored, sealed: without its claim when that is the claim of its row
    (kept in ``claims.claim`` already), with it otherwise (a reversal carries the original)."""
    document = decision_to_json(decision)
    if decision.claim is claim or decision.claim == claim:
        del document["claim"]
    return current_vault().seal_json(document, DECISION)


def read_claim(sealed: bytes, row: object = None) -> Claim:
    """A stored claim (``claims.claim``), opened and decoded."""
    return claim_from_json(current_vault().open_json(sealed, CLAIM, row))


def read_decision(
    sealed: bytes, sealed_claim: bytes, row: object = None, claim_row: object = None
) -> ClaimDecision:
    """A stored decision (``adjudications.decision`` of row ``row``), given the stored claim
    (``claims.claim`` of row ``claim_row``); the rows name the place of a value that will not
    open."""
    vault = current_vault()
    document = vault.open_json(sealed, DECISION, row)
    if "claim" not in document:
        document["claim"] = vault.open_json(sealed_claim, CLAIM, claim_row)
    return decision_from_json(document)


def _write_decisions(
    conn: Connection,
    decided: list[tuple[_Waiting, Adjudication]],
    claims: dict[int, Claim],
    now: datetime,
) -> None:
    rows: list[dict[str, Any]] = []
    decisions: list[ClaimDecision] = []
    for w, outcome in decided:
        for d in outcome.decisions:
            reversal = d.status is ClaimStatusCode.REVERSAL
            rows.append(
                {
                    "claim_id": w.id,
                    "kind": "reversal" if reversal else "decision",
                    "payer_claim_number": d.payer_claim_number,
                    "payee_npi": d.claim.billing_provider.npi[:10],
                    "reverses": d.reverses or None,
                    "reversed_by": None,
                    "rule_pack_version": d.rule_pack_version[:64],
                    "status": d.status.value,
                    "outcome": d.outcome.value,
                    "charge": d.charge,
                    "allowed": d.allowed,
                    "paid": d.paid,
                    "patient_responsibility": d.patient_responsibility,
                    "pend_reason": d.pend_reason or None,
                    "decided_at": now,
                    "decision": decision_document(d, claims[w.id]),
                }
            )
            decisions.append(d)
    if not rows:
        return
    ids = insert_rows(conn, _adjudications, rows, return_ids=True)
    adjustments: list[dict[str, Any]] = []
    for adjudication_id, d in zip(ids, decisions, strict=True):
        for adj in d.claim_adjustments:
            adjustments.append(_adjustment(adjudication_id, None, adj))
        for ln in d.lines:
            for adj in ln.adjustments:
                adjustments.append(_adjustment(adjudication_id, ln.line_number, adj))
    insert_rows(conn, _adjustments, adjustments)
    # a reversal carries its original's payer claim number; the claim that reversed it (the
    # void or the replacement) is the one whose adjudication this is
    reversed_by = [
        {"original": d.reverses, "by": w.payer_claim_number}
        for w, outcome in decided
        for d in outcome.decisions
        if d.status is ClaimStatusCode.REVERSAL and d.reverses
    ]
    if reversed_by:
        a = _adjudications.c
        conn.execute(
            update(_adjudications)
            .where(
                a.payer_claim_number == bindparam("original"),
                a.kind == "decision",
                a.reversed_by.is_(None),
            )
            .values(reversed_by=bindparam("by")),
            reversed_by,
        )
        conn.execute(
            delete(_services).where(
                _services.c.payer_claim_number.in_([r["original"] for r in reversed_by])
            )
        )


def _adjustment(adjudication_id: int, line: int | None, adj: Any) -> dict[str, Any]:
    return {
        "adjudication_id": adjudication_id,
        "line_number": line,
        "group_code": adj.group,
        "reason_code": adj.reason,
        "amount": adj.amount,
        "quantity": adj.quantity,
    }


def _write_accumulators(
    conn: Connection, families: list[str], ledger: Ledger, changed: dict[AccumulatorKey, str]
) -> None:
    if not changed:
        return
    a = _accumulators.c
    existing = {
        AccumulatorKey(r.holder, r.plan_id, r.plan_year, r.bucket, r.network): int(r.id)
        for r in conn.execute(
            select(a.id, a.holder, a.plan_id, a.plan_year, a.bucket, a.network).where(
                a.family.in_(families)
            )
        )
    }
    updates, inserts = [], []
    vault = current_vault()
    for key, family in changed.items():
        amount = ledger.accumulators.get(key, ZERO)
        stored = key._replace(holder=vault.lookup(key.holder))
        if stored in existing:
            updates.append({"id": existing[stored], "amount": amount})
        else:
            inserts.append({"family": family, **stored._asdict(), "amount": amount})
    update_rows(conn, _accumulators, updates)
    insert_rows(conn, _accumulators, inserts)


def _write_history(conn: Connection, decided: list[tuple[_Waiting, Adjudication]]) -> None:
    rows: list[dict[str, Any]] = []
    vault = current_vault()
    hashed: dict[str, str] = {}  # a claim's lines share its ids: each is hashed once

    def lookup(identifier: str) -> str:
        found = hashed.get(identifier)
        if found is None:
            found = hashed[identifier] = vault.lookup(identifier)
        return found

    for w, outcome in decided:
        for d in outcome.decisions:
            if d.status is ClaimStatusCode.REVERSAL or d.outcome in (
                Outcome.PENDED,
                Outcome.DENIED,
            ):
                continue
            subscriber = lookup(d.claim.subscriber.member_id)[:80]
            for s in services_of(d):
                rows.append(
                    {
                        "family": w.family,
                        "subscriber_id": subscriber,
                        "payer_claim_number": s.payer_claim_number,
                        "submitter_claim_id": lookup(s.claim_id)[:38],
                        "billing_npi": s.billing_npi[:10],
                        "member_id": lookup(s.member_id)[:80],
                        "procedure": s.procedure[:48],
                        "service_date": s.service_date,
                        "charge": s.charge,
                        "units": s.units,
                    }
                )
    insert_rows(conn, _services, rows)


def _write_states(
    conn: Connection,
    decided: list[tuple[_Waiting, Adjudication]],
    failures: list[tuple[_Waiting, BaseException]],
    now: datetime,
) -> None:
    states: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for w, outcome in decided:
        d = outcome.decision
        pended = d.outcome is Outcome.PENDED
        state = ClaimState.PENDED if pended else ClaimState.ADJUDICATED
        reason = f"pended: {d.pend_reason}" if pended else f"{d.outcome.value}: paid {d.paid}"
        reason += f" (rule pack {d.rule_pack_version})" + line_notes(d)
        if len(outcome.decisions) > 1:
            reason += f"; reversed {outcome.decisions[0].reverses}"
        states.append({"id": w.id, "state": state.value, "error": None, "updated_at": now})
        events.append(_event(w.id, state, reason, now))
    for w, exc in failures:
        error = f"adjudication failed: {type(exc).__name__}: {error_line(exc)}"
        states.append(
            {"id": w.id, "state": ClaimState.PENDED.value, "error": error, "updated_at": now}
        )
        events.append(_event(w.id, ClaimState.PENDED, error, now))
    if not states:
        return
    update_rows(conn, _claims, states, where_state=("state", ClaimState.ACCEPTED.value))
    insert_rows(conn, _events, events)


def line_notes(decision: ClaimDecision) -> str:
    """What the decision's lines say in words beyond their codes (the NCCI edit a line met),
    for the claim's event: ``; line 2: Billed with 99214 on the same day (NCCI PTP edit
    ...)``; empty when no line says anything."""
    return "".join(f"; line {ln.line_number}: {ln.note}" for ln in decision.lines if ln.note)


def _event(claim_id: int, state: str, reason: str, now: datetime) -> dict[str, Any]:
    return {
        "claim_id": claim_id,
        "at": now,
        "actor": ACTOR,
        "from_state": ClaimState.ACCEPTED.value,
        "to_state": str(state),
        "reason": reason,
    }


def _pend_failed(
    engine: Engine, runtime: Runtime, ids: Sequence[int], exc: BaseException, now: datetime
) -> BatchResult:
    """Pend claims whose adjudication could not be stored, with the error, in a transaction of
    their own (the failed one rolled back)."""
    result = BatchResult()
    if not ids:
        return result
    error = f"adjudication failed: {type(exc).__name__}: {error_line(exc)}"
    with begin_write(engine) as conn:
        c = _claims.c
        # the UPDATE decides which claims were still waiting (another worker may have just
        # decided some): only those get the event
        pended = conn.execute(
            update(_claims)
            .where(c.id.in_(ids), c.state == ClaimState.ACCEPTED)
            .values(state=ClaimState.PENDED.value, error=error, updated_at=now)
            .returning(c.id, c.total_charge, c.received_on)
        ).all()
        waiting = [int(r.id) for r in pended]
        if waiting:
            insert_rows(conn, _events, [_event(i, ClaimState.PENDED, error, now) for i in waiting])
        item = PendItem(ADJUDICATION_ERROR, 0, "", error)
        for r in pended:
            where = PendedClaim(
                int(r.id), "", DEFAULT_PROMPT_PAY_DAYS, r.total_charge, r.received_on
            )
            sync_pends(conn, where, [item], runtime.reference.pend_reasons, ACTOR, now)
    result.failed = len(waiting)
    result.claim_ids.extend(waiting)
    return result


# -- deciding a pended claim again -------------------------------------------------------------


class NotPended(Exception):
    """The claim is not (or no longer) pended: nothing to decide again."""


def decide_again(
    conn: Connection,
    claim_id: int,
    directives: Directives,
    runtime: Runtime,
    now: datetime,
    actor: str,
    *,
    write: bool,
) -> Adjudication:
    """Adjudicate pended claim ``claim_id`` again with an examiner's ``directives``, in the
    caller's write transaction, under the same family locks and with the same accumulators,
    history and reversible decisions as the pipeline. With ``write``, the new decision takes
    the pended one's place (a reversal with it, where the claim replaces a paid one), the
    accumulators and service history move, and the claim's state follows (``adjudicated``,
    or still ``pended`` with its pend items in step); without, nothing is written (what an
    action needing a second examiner would do)."""
    result = decide_again_many(
        conn, [claim_id], {claim_id: directives}, runtime, now, actor, write=write
    )
    if claim_id in result.not_pended:
        raise NotPended(f"claim {claim_id} is not pended")
    failure = result.failed.get(claim_id)
    if failure is not None:
        raise failure
    return result.outcomes[claim_id]


@dataclass(slots=True)
class DecidedAgain:
    """What :func:`decide_again_many` did: the new outcome of each claim decided again, the
    claims that were not (or no longer) pended, and those whose adjudication raised (left
    pended as they were, nothing written for them)."""

    outcomes: dict[int, Adjudication] = field(default_factory=dict)
    not_pended: list[int] = field(default_factory=list)
    failed: dict[int, BaseException] = field(default_factory=dict)


def decide_again_many(
    conn: Connection,
    claim_ids: Sequence[int],
    directives: Mapping[int, Directives],
    runtime: Runtime,
    now: datetime,
    actor: str,
    *,
    write: bool = True,
) -> DecidedAgain:
    """:func:`decide_again` of many pended claims at once, in the caller's
    write transaction, and as though one after the other in the order of ``claim_ids``: the
    families of all of them (and of the originals their replacements reach) are locked once,
    in key order; their accumulators, service history and reversible decisions are loaded
    once; each claim is adjudicated with its ``directives`` through one
    :class:`~claims_engine.adjudication.batch.Ledger`, so each sees what the ones before it
    changed; and the decisions, accumulators, history, claim states and events are written
    with batched statements, as :func:`adjudicate_claims` writes new claims'. A claim that
    cannot be read, or whose adjudication raises, is left as it was (``failed``). Without
    ``write``, the outcomes are worked out and nothing is written."""
    result = DecidedAgain()
    wanted = list(dict.fromkeys(claim_ids))
    if not wanted:
        return result
    c = _claims.c
    rows = {
        int(r.id): r
        for r in conn.execute(
            select(
                c.id,
                c.payer_claim_number,
                c.family,
                c.received_on,
                c.claim,
                c.member_id,
                c.total_charge,
                c.original_claim_number,
                c.billing_npi,
            ).where(among(conn, c.id, wanted), c.state == ClaimState.PENDED)
        )
    }
    names = sorted({str(r.family) for r in rows.values()} | set(_reached_families(conn, rows)))
    _lock_families(conn, names)
    # under the locks: still pended (an examiner's action may have decided some meanwhile)
    still_query = select(c.id).where(among(conn, c.id, rows), c.state == ClaimState.PENDED)
    if is_postgres(conn):
        still_query = still_query.order_by(c.id).with_for_update()
    still = {int(x) for x in conn.execute(still_query).scalars()} if rows else set()
    waiting: list[_Waiting] = []
    for claim_id in wanted:
        r = rows.get(claim_id)
        if r is None or claim_id not in still:
            result.not_pended.append(claim_id)
            continue
        waiting.append(
            _Waiting(
                claim_id,
                str(r.payer_claim_number),
                str(r.family),
                r.received_on,
                r.claim,
                str(r.member_id),
                r.total_charge,
            )
        )
    claims: dict[int, Claim] = {}
    for w in waiting:
        try:
            claims[w.id] = read_claim(w.claim, w.id)
        except DataKeyError:
            raise  # the keys are wrong, not the claim
        except Exception as exc:
            result.failed[w.id] = exc
    if not claims:
        return result
    ledger = _ledger(
        conn, runtime, names, [(claims[w.id], w.member_id) for w in waiting if w.id in claims]
    )
    decided: list[tuple[_Waiting, Adjudication]] = []
    changed: dict[AccumulatorKey, str] = {}
    for w in waiting:
        claim = claims.get(w.id)
        if claim is None:
            continue
        context = replace(runtime.context(w.received_on, claim), directives=directives[w.id])
        try:
            outcome = adjudicate(claim, ledger.context_for(claim, context), w.payer_claim_number)
        except Exception as exc:  # left pended as it was; its neighbours are decided
            result.failed[w.id] = exc
            continue
        ledger.record(outcome)
        decided.append((w, outcome))
        result.outcomes[w.id] = outcome
        for key in outcome.accumulator_changes:
            changed[key] = w.family
    if not decided or not write:
        return result
    a = _adjudications.c
    previous = list(
        conn.execute(
            select(a.id).where(
                among(conn, a.claim_id, [w.id for w, _ in decided]), a.kind == "decision"
            )
        ).scalars()
    )
    if previous:
        conn.execute(
            delete(_adjustments).where(among(conn, _adjustments.c.adjudication_id, previous))
        )
        conn.execute(delete(_adjudications).where(among(conn, a.id, previous)))
    _write_decisions(conn, decided, claims, now)
    _write_accumulators(conn, names, ledger, changed)
    _write_history(conn, decided)
    record_uses(conn, [(w.payer_claim_number, o) for w, o in decided], now)
    states: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for w, outcome in decided:
        d = outcome.decision
        state = ClaimState.PENDED if d.outcome is Outcome.PENDED else ClaimState.ADJUDICATED
        states.append({"id": w.id, "state": state.value, "error": None, "updated_at": now})
        events.append(
            {
                "claim_id": w.id,
                "at": now,
                "actor": EXAMINATION_ACTOR,
                "from_state": ClaimState.PENDED.value,
                "to_state": state.value,
                "reason": _decided_again_reason(outcome, actor),
            }
        )
    update_rows(conn, _claims, states)
    insert_rows(conn, _events, events)
    return result


def _reached_families(conn: Connection, rows: Mapping[int, Any]) -> list[str]:
    """The families of the originals that the replacements and voids among ``rows`` (claims
    as :func:`decide_again_many` reads them) may reverse: of their billing NPI and patient."""
    wanted = {
        (str(r.original_claim_number), r.billing_npi, r.member_id)
        for r in rows.values()
        if r.original_claim_number
    }
    if not wanted:
        return []
    o = claims_table.alias("original").c
    return sorted(
        {
            str(r.family)
            for r in conn.execute(
                select(o.family, o.payer_claim_number, o.billing_npi, o.member_id).where(
                    o.payer_claim_number.in_(sorted({pccn for pccn, _, _ in wanted}))
                )
            )
            if (str(r.payer_claim_number), r.billing_npi, r.member_id) in wanted
        }
    )


def _decided_again_reason(outcome: Adjudication, actor: str) -> str:
    """The event's reason for a claim decided again, as :func:`decide_again` words it."""
    d = outcome.decision
    pended = d.outcome is Outcome.PENDED
    reason = f"pended: {d.pend_reason}" if pended else f"{d.outcome.value}: paid {d.paid}"
    reason += f" (rule pack {d.rule_pack_version}; decided again by an examiner)"
    reason += line_notes(d)
    if len(outcome.decisions) > 1:
        reason += f"; reversed {outcome.decisions[0].reverses}"
    return reason
