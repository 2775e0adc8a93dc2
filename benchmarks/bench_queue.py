"""The examiner's queue on PostgreSQL: a queue's first page, and a bulk release.

    .venv/bin/python benchmarks/bench_queue.py [--claims 100000] [--pages 200] [--release 10000]
        [--peer 300] [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--keep]

1. a fresh PostgreSQL schema and a copy of ``fixtures/reference`` whose plans pend every claim
   charging more than 0.00 (``pend_above: "0.00"``: each claim pends HIGH-DOLLAR, some for
   another reason too, a rule's or a missing price); generated 837 files (10,000 claims each,
   professional, institutional and dental) submitted, ingested and adjudicated by the
   engine's services in this process until ``--claims`` claims pend, then every table
   vacuumed and analyzed, as autovacuum would leave a store in use: not timed;
2. :func:`~claims_engine.services.examination.queue_page` of the ``high-dollar`` queue (its
   first 50 claims, with their open pend reasons), ``--pages`` times after five warm-up calls:
   p50 / p99 / max; beside it, the peer: a ``SELECT 1`` on a pooled connection (the round
   trip's floor), and :func:`~claims_engine.services.examination.queues` (every queue's
   counts, an aggregate over all pended claims; no target, for information);
3. :func:`~claims_engine.services.examination.release_all` of HIGH-DOLLAR bounded to
   ``--release`` claims (``pended release --reason HIGH-DOLLAR --all``): claims/s, and how many
   of them were decided and how many still pend for another reason; the peer: ``--peer``
   other claims released one by one with
   :func:`~claims_engine.services.examination.act` (``pended release CLAIM``).

Targets (issue 18): the first page's p99 under 50 ms; at least 1,000 claims/s released. Prints
a table and writes JSON to ``benchmarks/results/bench_queue.json``; the schema is dropped at
the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from claims_engine.cli.fixtures_commands import generate_file  # noqa: E402
from claims_engine.services import examination as ex  # noqa: E402
from claims_engine.services.intake import ingest_interchange, submit  # noqa: E402
from claims_engine.services.reference import Runtime, load_runtime, store_reference  # noqa: E402
from claims_engine.services.stored_adjudication import adjudicate_claims  # noqa: E402
from claims_engine.store import tables as t  # noqa: E402
from claims_engine.store.db import engine_for, upgrade  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
NOW = datetime(2026, 11, 2, 9, 30)
LATER = NOW + timedelta(days=1)
PER_FILE = 10_000
QUEUE = "high-dollar"
CODE = "HIGH-DOLLAR"
TARGET_P99_MS = 50.0
TARGET_CLAIMS_PER_S = 1_000.0


def pend_everything(work: Path) -> Path:
    """A copy of the fixture reference data whose plans pend every claim above 0.00."""
    reference = work / "reference"
    shutil.copytree(REFERENCE, reference)
    plans = reference / "plans.yaml"
    lines = plans.read_text().splitlines(keepends=True)
    changed = [
        line.split("pend_above:")[0] + 'pend_above: "0.00"\n' if "pend_above:" in line else line
        for line in lines
    ]
    if changed == lines:
        raise SystemExit(f"{plans} names no pend_above: the benchmark cannot pend its claims")
    plans.write_text("".join(changed))
    return reference


def pended_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(t.pended_claims_table)).scalar_one()
        )


def build_store(engine: Engine, claims: int, work: Path) -> tuple[Runtime, int]:
    """A store with at least ``claims`` pended claims (all in the high-dollar queue); the
    runtime, and how many claims were submitted."""
    upgrade(engine)
    reference = pend_everything(work)
    store_reference(engine, reference, NOW)
    runtime = load_runtime(engine, RULES)
    pended, seed, submitted = 0, 1, 0
    while pended < claims:
        # a file a little larger than what is left: a few claims are denied rather than pended
        n = min(PER_FILE, claims - pended + max(50, (claims - pended) // 20))
        path = work / f"bench-{seed}.837"
        generate_file(
            path,
            claims=n,
            seed=seed,
            mix={"P": 70, "I": 20, "D": 10},
            delimiters=("*", "^", ":", "~"),
            as_of=NOW.date(),
            created=NOW,
            reference=reference,
        )
        sub = submit(engine, path.read_bytes(), path.name, NOW)
        ingested = ingest_interchange(engine, sub.interchange_id, runtime, NOW)
        for batch in ingested.batches:
            adjudicate_claims(engine, batch, runtime, NOW)
        path.unlink()
        submitted += n
        seed += 1
        pended = pended_count(engine)
        print(f"  submitted {submitted:,} claims: {pended:,} pended", file=sys.stderr)
    return runtime, submitted


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def timed(calls: int, call: Any) -> dict[str, Any]:
    for _ in range(5):
        call()
    seconds: list[float] = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return {
        "calls": calls,
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 2),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 2),
        "max_ms": round(max(seconds) * 1000, 2),
    }


def listing(engine: Engine, calls: int) -> dict[str, Any]:
    page = ex.queue_page(engine, QUEUE, LATER)
    if len(page.entries) != ex.PAGE:
        raise SystemExit(f"the {QUEUE} queue's first page has {len(page.entries)} claims")

    def select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar()

    return {
        "first_page": timed(calls, lambda: ex.queue_page(engine, QUEUE, LATER)),
        "select_1": timed(calls, select_one),
        "queues": timed(max(10, calls // 10), lambda: ex.queues(engine, LATER)),
    }


def outcomes(engine: Engine, claim_ids: list[int]) -> dict[str, int]:
    c = t.claims_table.c
    found: Counter[str] = Counter()
    with engine.connect() as conn:
        for start in range(0, len(claim_ids), 5_000):
            chunk = claim_ids[start : start + 5_000]
            for state, n in conn.execute(
                select(c.state, func.count()).where(c.id.in_(chunk)).group_by(c.state)
            ):
                found[str(state)] += int(n)
    return dict(found)


def high_dollar_claims(engine: Engine) -> list[int]:
    i = t.pend_items_table.c
    with engine.connect() as conn:
        return [
            int(x)
            for x in conn.execute(
                select(i.claim_id)
                .distinct()
                .where(i.state == t.PendState.OPEN, i.code == CODE)
                .order_by(i.claim_id)
            ).scalars()
        ]


def releasing(engine: Engine, runtime: Runtime, release: int, peer: int) -> dict[str, Any]:
    examiner = ex.Examiner("bench-examiner")
    waiting = high_dollar_claims(engine)
    first = waiting[:release]  # release_all goes in claim order
    # the peer: claims from the end of the queue, one transaction each
    one_by_one = waiting[-peer:] if peer else []
    start = time.perf_counter()
    for claim_id in one_by_one:
        ex.act(engine, runtime, claim_id, examiner, ex.Release("charge checked", (CODE,)), LATER)
    peer_seconds = time.perf_counter() - start
    start = time.perf_counter()
    released, left = ex.release_all(
        engine, runtime, CODE, examiner, "charges checked in bulk", LATER, limit=release
    )
    seconds = time.perf_counter() - start
    return {
        "bulk": {
            "claims": released + left,
            "released": released,
            "left": left,
            "seconds": round(seconds, 2),
            "claims_per_s": round(released / seconds, 1),  # released ones only
            "states_after": outcomes(engine, first),
        },
        "one_by_one": {
            "claims": len(one_by_one),
            "seconds": round(peer_seconds, 2),
            "claims_per_s": round(len(one_by_one) / peer_seconds, 1) if one_by_one else None,
            "states_after": outcomes(engine, one_by_one),
        },
    }


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = engine_for(args.pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = engine_for(f"{args.pg_url}?options=-csearch_path%3D{schema}")
    try:
        started = time.perf_counter()
        runtime, submitted = build_store(engine, args.claims, work)
        # vacuumed and with fresh statistics, as autovacuum would leave a store
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in t.claims_table.metadata.sorted_tables:
                conn.execute(text(f'VACUUM ANALYZE "{table.name}"'))
        setup = time.perf_counter() - started
        pended = pended_count(engine)
        listed = listing(engine, args.pages)
        released = releasing(engine, runtime, args.release, args.peer)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        else:
            print(f"kept schema {schema}", file=sys.stderr)
        admin.dispose()
    return {
        "database": "postgresql",
        "submitted": submitted,
        "pended": pended,
        "setup_seconds": round(setup, 1),
        **listed,
        **released,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000, help="pended claims to build")
    parser.add_argument("--pages", type=int, default=200, help="first-page listings timed")
    parser.add_argument("--release", type=int, default=10_000, help="claims released in bulk")
    parser.add_argument("--peer", type=int, default=300, help="claims released one by one")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL URL (a schema is made and dropped)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_queue.json")
    args = parser.parse_args()
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        row = run(args, Path(tmp))
    row["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    page, peer, summary = row["first_page"], row["select_1"], row["queues"]
    bulk, single = row["bulk"], row["one_by_one"]
    print(f"{row['pended']:,} pended claims on PostgreSQL ({row['setup_seconds']} s to build)")
    print(f"{'listing':<34} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, r in (
        (f"queue_page({QUEUE}), 50 claims", page),
        ("SELECT 1 (peer)", peer),
        ("queues() (every queue's counts)", summary),
    ):
        print(f"{name:<34} {r['calls']:>6} {r['p50_ms']:>8} {r['p99_ms']:>8} {r['max_ms']:>8}")
    print(
        f"{'release ' + CODE:<34} {'claims':>6} {'seconds':>8} {'claims/s':>8} "
        f"{'decided':>8} {'pended':>8}"
    )
    for name, r in (("release_all (bulk)", bulk), ("act, one claim each (peer)", single)):
        if not r["claims"]:
            continue
        states = r["states_after"]
        decided = sum(n for s, n in states.items() if s != "pended")
        print(
            f"{name:<34} {r['claims']:>6,} {r['seconds']:>8} {r['claims_per_s']:>8} "
            f"{decided:>8,} {states.get('pended', 0):>8,}"
        )
    if single["claims"]:
        print(f"bulk / one by one: {bulk['claims_per_s'] / single['claims_per_s']:.1f}x")
    page_ok = page["p99_ms"] < TARGET_P99_MS
    bulk_ok = bulk["claims_per_s"] >= TARGET_CLAIMS_PER_S
    print(
        f"first page p99 {page['p99_ms']} ms ({'meets' if page_ok else 'misses'} the "
        f"{TARGET_P99_MS:.0f} ms target); bulk release {bulk['claims_per_s']:,.0f} claims/s "
        f"({'meets' if bulk_ok else 'misses'} the {TARGET_CLAIMS_PER_S:,.0f} claims/s target)"
    )
    row["targets"] = {
        "first_page_p99_ms": TARGET_P99_MS,
        "release_claims_per_s": TARGET_CLAIMS_PER_S,
        "met": page_ok and bulk_ok,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(row, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
