"""Payment cycles over the store: every decision that can be paid and is in no 835 yet.

:func:`run_payment_cycle` builds the cycle
(:func:`claims_engine.adjudication.payment_cycle.payment_cycle`) and writes each payee's 835 in one
transaction with the rows that record it: the remittance, one ``remittance_claims`` row per decision
(unique: a decision is in one 835 only), the claims' ``remitted`` state and events. The files are
written into the output folder after the commit; the 835 text stays in the store as well.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, insert, or_, select, text, update

from claims_engine.adjudication.decision import ClaimDecision, Outcome
from claims_engine.adjudication.payment_cycle import payment_cycle
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import family_lock_key, read_decision
from claims_engine.store.bulk import insert_rows
from claims_engine.store.db import CONTROL_COUNTER, begin_write, is_postgres, next_numbers
from claims_engine.store.tables import (
    REMITTANCE,
    ClaimState,
    adjudications_table,
    claim_events_table,
    claims_table,
    remittance_claims_table,
    remittances_table,
)
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer835 import write_835

TRACE_COUNTER = "trace_number"

_claims = claims_table
_events = claim_events_table
_adjudications = adjudications_table
_remittances = remittances_table
_items = remittance_claims_table


@dataclass(frozen=True, slots=True)
class RemitFile:
    remittance_id: int
    payee_npi: str
    trace_number: str
    claims: int
    total_paid: str
    path: Path | None


def _payable(a: Any, c: Any) -> list[Any]:
    return [
        a.outcome != Outcome.PENDED.value,
        or_(
            c.state == ClaimState.ADJUDICATED,
            and_(a.kind == "reversal", c.state == ClaimState.PENDED),
        ),
        ~exists().where(_items.c.adjudication_id == a.id),
    ]


def payable_payees(engine: Engine) -> dict[str, int]:
    """Billing NPIs with decisions waiting for a remittance, and how many each."""
    a, c = _adjudications.c, _claims.c
    with engine.connect() as conn:
        found = conn.execute(
            select(a.payee_npi, func.count())
            .join(_claims, c.id == a.claim_id)
            .where(*_payable(a, c))
            .group_by(a.payee_npi)
            .order_by(a.payee_npi)
        ).all()
        return {str(npi): int(n) for npi, n in found}


def run_payment_cycle(
    engine: Engine,
    runtime: Runtime,
    now: datetime,
    out_dir: Path | None,
    payees: Sequence[str] | None = None,
) -> list[RemitFile]:
    """Pay everything adjudicated and not yet paid (to ``payees`` only, when given); returns
    the 835s written (none when there is nothing to pay).

    Each payee's 835 is one transaction of its own, under that payee's lock: memory holds one
    payee's decisions at a time, cycles for different payees run side by side, and two for one
    payee queue (the second finds nothing left to pay).
    """
    payees = sorted(payees) if payees is not None else list(payable_payees(engine))
    if not payees:
        return []
    # Numbers first, in a short transaction of their own (a gap is harmless), so that cycles
    # running side by side do not queue on the counters.
    with begin_write(engine) as conn:
        first_trace = next_numbers(conn, TRACE_COUNTER, len(payees))
        first_control = next_numbers(conn, CONTROL_COUNTER, len(payees))
    files: list[RemitFile] = []
    for n, npi in enumerate(payees):
        control = (first_control + n - 1) % 999_999_999 + 1
        paid = _pay(engine, runtime, now, npi, first_trace + n, control)
        if paid is None:
            continue
        remit, content = paid
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"835-{remit.payee_npi}-{remit.trace_number}.x12"
            path.write_text(content, encoding="ascii", newline="")
            remit = replace(remit, path=path)
        files.append(remit)
    return files


def _owed(conn: Connection, npi: str) -> tuple[Decimal, str] | None:
    """What the payee owes after its last 835, and that 835's trace number (the FB's
    reference); ``None`` when it owes nothing."""
    r = _remittances.c
    last = conn.execute(
        select(r.carry_forward, r.trace_number)
        .where(r.payee_npi == npi)
        .order_by(r.id.desc())
        .limit(1)
    ).first()
    if last is None or not last.carry_forward:
        return None
    return Decimal(last.carry_forward), str(last.trace_number)


def _pay(
    engine: Engine, runtime: Runtime, now: datetime, npi: str, trace: int, control: int
) -> tuple[RemitFile, str] | None:
    """One payee's 835 and the rows that record it, in one transaction."""
    with begin_write(engine) as conn:
        if is_postgres(conn):
            key = family_lock_key(f"payee:{npi}")
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        a, c = _adjudications.c, _claims.c
        rows = conn.execute(
            select(a.id, a.claim_id, a.kind, a.decision, c.claim)
            .join(_claims, c.id == a.claim_id)
            .where(*_payable(a, c), a.payee_npi == npi)
            .order_by(c.interchange_id, c.ordinal, a.id)  # submission order, whatever the timing
        ).all()
        if not rows:
            return None
        decisions: list[ClaimDecision] = []
        row_of: dict[int, tuple[int, int, str]] = {}
        for r in rows:
            d = read_decision(r.decision, r.claim, r.id, r.claim_id)
            decisions.append(d)
            row_of[id(d)] = (int(r.id), int(r.claim_id), str(r.kind))
        [remittance] = payment_cycle(
            decisions, runtime.payer, paid_on=now.date(), first_trace=trace
        )
        owed = _owed(conn, npi)
        if owed is not None:  # an earlier 835 took more than it paid: this one takes it back
            remittance = replace(
                remittance,
                payment=replace(
                    remittance.payment, forward_balance=owed[0], forward_reference=owed[1]
                ),
            )
        out = io.StringIO()
        summary = write_835(
            out,
            remittance.decisions,
            payment=remittance.payment,
            interchange_control=control,
            created=now,
        )
        trace_number = remittance.payment.trace_number
        content = out.getvalue()
        remittance_id = conn.execute(
            insert(_remittances)
            .values(
                payee_npi=npi,
                trace_number=trace_number,
                interchange_control=control,
                created_at=now,
                claims=len(remittance.decisions),
                total_paid=summary.total_paid,
                carry_forward=summary.carry_forward,
                file_name=f"835-{npi}-{trace_number}.x12",
                content=current_vault().seal_text(content, REMITTANCE),
            )
            .returning(_remittances.c.id)
        ).scalar_one()
        insert_rows(
            conn,
            _items,
            [
                {"remittance_id": remittance_id, "adjudication_id": row_of[id(d)][0]}
                for d in remittance.decisions
            ],
        )
        # A claim is remitted once every payable decision of it is in an 835: its decision,
        # or a void's reversal alone (a replacement's reversal may go to another payee).
        touched = sorted({row_of[id(d)][1] for d in remittance.decisions})
        unpaid = (
            select(a.id)
            .where(a.claim_id == c.id, a.outcome != Outcome.PENDED.value)
            .where(~exists().where(_items.c.adjudication_id == a.id))
        )
        remitted = list(
            conn.execute(
                update(_claims)
                .where(c.id.in_(touched), c.state == ClaimState.ADJUDICATED, ~exists(unpaid))
                .values(state=ClaimState.REMITTED.value, updated_at=now)
                .returning(c.id)
            ).scalars()
        )
        if remitted:
            reason = f"835 trace {trace_number} to {npi}"
            insert_rows(
                conn,
                _events,
                [
                    {
                        "claim_id": cid,
                        "at": now,
                        "actor": "payment cycle",
                        "from_state": ClaimState.ADJUDICATED.value,
                        "to_state": ClaimState.REMITTED.value,
                        "reason": reason,
                    }
                    for cid in remitted
                ],
            )
    remit = RemitFile(
        remittance_id,
        npi,
        trace_number,
        len(remittance.decisions),
        str(summary.total_paid),
        None,
    )
    return remit, content


def write_remittances(engine: Engine, out_dir: Path, traces: Sequence[str] = ()) -> list[Path]:
    """Write stored 835s into ``out_dir`` again: those with the given trace numbers, or all.
    For a file lost after its payment cycle committed (the store keeps every 835's text)."""
    r = _remittances.c
    query = select(r.file_name, r.content).order_by(r.id)
    if traces:
        query = query.where(r.trace_number.in_(list(traces)))
    paths: list[Path] = []
    vault = current_vault()
    with engine.connect() as conn:
        for row in conn.execute(query):
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / row.file_name
            text = vault.open_text(row.content, REMITTANCE, row.file_name)
            path.write_text(text, encoding="ascii", newline="")
            paths.append(path)
    return paths
