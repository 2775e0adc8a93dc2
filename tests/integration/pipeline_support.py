"""Helpers of the pipeline tests: a store with reference data, generated 837 files, the
sequential run that concurrent runs must equal, and checks of the 835s written."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from claims_engine.adjudication.adjudicate import AccumulatorKey, adjudicate
from claims_engine.adjudication.batch import Ledger
from claims_engine.cli.fixtures_commands import generate_file
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime, load_runtime, store_reference
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims, read_claim
from claims_engine.store import tables as t
from claims_engine.store.db import upgrade
from claims_engine.store.vault import current_vault
from tests.x12_oracle import pyx12_errors

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
NOW = datetime(2026, 11, 2, 9, 30)


def prepared_store(engine: Engine) -> Runtime:
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    return load_runtime(engine, RULES)


def generated_837(path: Path, claims: int, seed: int, control: int | None = None) -> bytes:
    generate_file(
        path,
        claims=claims,
        seed=seed,
        mix={"P": 70, "I": 20, "D": 10},
        delimiters=("*", "^", ":", "~"),
        as_of=NOW.date(),
        created=NOW,
        reference=REFERENCE,
    )
    raw = path.read_bytes()
    if control is not None:
        from claims_engine.cli.demo import renumber

        raw = renumber(raw, control)
        path.write_bytes(raw)
    return raw


def work_through(
    engine: Engine, runtime: Runtime, files: list[tuple[str, bytes]], now: datetime = NOW
) -> int:
    """Submit, ingest and adjudicate each file, in this thread, then run a payment cycle;
    returns the number of 835s it wrote."""
    for name, raw in files:
        sub = submit(engine, raw, name, now)
        for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
            adjudicate_claims(engine, batch, runtime, now)
    return len(run_payment_cycle(engine, runtime, now, None))


def sequential_outcome(
    engine: Engine, runtime: Runtime
) -> tuple[dict[str, Decimal], dict[AccumulatorKey, Decimal]]:
    """Paid amount by payer claim number and the accumulators, had every accepted claim in the
    store been adjudicated one after the other, in submission order, in memory. Holders are
    given as the store keeps them, as lookups."""
    c = t.claims_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.payer_claim_number, c.received_on, c.claim)
            .where(c.payer_claim_number.is_not(None))
            .order_by(c.interchange_id, c.ordinal)
        ).all()
    ledger = Ledger()
    paid: dict[str, Decimal] = {}
    for r in rows:
        claim = read_claim(r.claim)
        ctx = ledger.context_for(claim, runtime.context(r.received_on, claim))
        result = adjudicate(claim, ctx, r.payer_claim_number)
        ledger.record(result)
        for d in result.decisions:
            key = d.payer_claim_number if d.status.value != "22" else f"reversal:{d.reverses}"
            paid[key] = d.paid
    lookup = current_vault().lookup
    return paid, {
        k._replace(holder=lookup(k.holder)): v for k, v in ledger.accumulators.items() if v
    }


def stored_outcome(engine: Engine) -> tuple[dict[str, Decimal], dict[AccumulatorKey, Decimal]]:
    a = t.adjudications_table.c
    with engine.connect() as conn:
        paid = {
            (r.payer_claim_number if r.kind == "decision" else f"reversal:{r.reverses}"): r.paid
            for r in conn.execute(select(a.kind, a.payer_claim_number, a.reverses, a.paid))
        }
        accumulators = {
            AccumulatorKey(r.holder, r.plan_id, r.plan_year, r.bucket, r.network): r.amount
            for r in conn.execute(select(t.accumulators_table))
            if r.amount
        }
    return paid, accumulators


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def states(engine: Engine) -> dict[str, int]:
    c = t.claims_table.c
    with engine.connect() as conn:
        return {
            str(s): int(n) for s, n in conn.execute(select(c.state, func.count()).group_by(c.state))
        }


def _segments(text: str) -> list[list[str]]:
    sep, term = text[3], text[105]
    return [s.strip().split(sep) for s in text.split(term) if s.strip()]


def check_835(text: str) -> list[str]:
    """pyx12's errors (less its false PLB count) and every balancing rule the 835 breaks."""
    problems = [e for e in pyx12_errors(text) if "Loop FOOTER exceeded max count" not in e]
    paid_total = Decimal(0)
    bpr = plb = Decimal(0)
    clp: list[str] | None = None
    cas = Decimal(0)

    def close() -> None:
        if clp is not None and Decimal(clp[3]) - cas != Decimal(clp[4]):
            problems.append(f"CLP {clp[1]}: charge {clp[3]} - adjustments {cas} != paid {clp[4]}")

    for seg in _segments(text):
        if seg[0] == "BPR":
            bpr = Decimal(seg[2])
        elif seg[0] == "CLP":
            close()
            clp, cas = seg, Decimal(0)
            paid_total += Decimal(seg[4])
        elif seg[0] == "CAS" and clp is not None:
            for i in range(3, len(seg), 3):
                if seg[i]:
                    cas += Decimal(seg[i])
        elif seg[0] == "PLB":
            for i in range(4, len(seg), 2):
                if seg[i]:
                    plb += Decimal(seg[i])
        elif seg[0] == "SE":
            close()
            clp = None
    if paid_total - plb != bpr:
        problems.append(f"BPR02 {bpr} != paid {paid_total} - PLB {plb}")
    return problems
