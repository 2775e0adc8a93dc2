"""What-if simulation throughput: ``rules simulate`` over a store of stored claims.

    .venv/bin/python benchmarks/bench_simulate.py [--claims 100000] [--processes 2]
        [--pg-url postgresql://...]

1. builds a store (SQLite in a temporary folder, or a fresh schema at ``--pg-url``) of
   ``--claims`` generated claims (10,000 an 837), each file through the intake and adjudication
   services in this process: not timed;
2. times :func:`~claims_engine.services.simulation.simulate` of every stored claim with a
   candidate pack (the shipped rules plus two rules: 99213 denied CO-96, 80053 capped to one
   unit) over ``--processes`` worker processes (two replays of every claim, reports written);
3. times the peer: the same claims read and adjudicated once under the rules in force, by the
   plain in-memory replay (one :class:`~claims_engine.adjudication.batch.Ledger`), in this
   process.

Prints a table and writes JSON to ``benchmarks/results/bench_simulate.json``. Target: 100,000
claims in under 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from claims_engine.adjudication.adjudicate import adjudicate  # noqa: E402
from claims_engine.adjudication.batch import Ledger  # noqa: E402
from claims_engine.cli.fixtures_commands import generate_file  # noqa: E402
from claims_engine.rules.simulation_report import write_reports  # noqa: E402
from claims_engine.services.intake import ingest_interchange, submit  # noqa: E402
from claims_engine.services.reference import Runtime, load_runtime, store_reference  # noqa: E402
from claims_engine.services.simulation import SimulationRequest, simulate  # noqa: E402
from claims_engine.services.stored_adjudication import adjudicate_claims, read_claim  # noqa: E402
from claims_engine.store import tables as t  # noqa: E402
from claims_engine.store.db import engine_for, upgrade  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
NOW = datetime(2026, 11, 2, 9, 30)
PER_FILE = 10_000
TARGET_SECONDS = 120.0
EXTRA_RULES = """
  - id: BENCH-NO-OFFICE-VISITS
    description: The candidate no longer covers 99213
    effective_from: 2024-01-01
    scope: {procedures: ["99213"]}
    then: {deny: {group: CO, carc: "96", rarc: "N130"}}
  - id: BENCH-ONE-PANEL
    description: One metabolic panel a line
    effective_from: 2024-01-01
    scope: {procedures: ["80053"]}
    then: {cap_units: {max: 1, group: CO, carc: "119"}}
"""


def build_store(engine: Engine, claims: int, work: Path) -> Runtime:
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    runtime = load_runtime(engine, RULES)
    left, seed = claims, 1
    while left > 0:
        n = min(PER_FILE, left)
        path = work / f"bench-{seed}.837"
        generate_file(
            path,
            claims=n,
            seed=seed,
            mix={"P": 70, "I": 20, "D": 10},
            delimiters=("*", "^", ":", "~"),
            as_of=NOW.date(),
            created=NOW,
            reference=REFERENCE,
        )
        sub = submit(engine, path.read_bytes(), path.name, NOW)
        ingested = ingest_interchange(engine, sub.interchange_id, runtime, NOW)
        for batch in ingested.batches:
            adjudicate_claims(engine, batch, runtime, NOW)
        path.unlink()
        print(f"  stored {claims - left + n:,} claims", file=sys.stderr)
        left -= n
        seed += 1
    return runtime


def candidate_pack(work: Path) -> Path:
    rules = work / "candidate"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests", "*.md"))
    shared = rules / "shared.yaml"
    shared.write_text(shared.read_text() + EXTRA_RULES)
    return rules


def peer(engine: Engine, runtime: Runtime) -> tuple[int, float]:
    """Every stored claim read and adjudicated once, in submission order, in this process."""
    c = t.claims_table.c
    start = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.payer_claim_number, c.received_on, c.claim)
            .where(c.payer_claim_number.is_not(None))
            .order_by(c.interchange_id, c.ordinal)
        )
        ledger, n = Ledger(), 0
        for r in rows:
            claim = read_claim(r.claim)
            ctx = ledger.context_for(claim, runtime.context(r.received_on, claim))
            ledger.record(adjudicate(claim, ctx, r.payer_claim_number))
            n += 1
    return n, time.perf_counter() - start


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    schema = ""
    if args.pg_url:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        admin = engine_for(args.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{args.pg_url}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{work / 'claims.db'}"
    engine = engine_for(url)
    try:
        started = time.perf_counter()
        runtime = build_store(engine, args.claims, work)
        setup = time.perf_counter() - started
        request = SimulationRequest(
            database_url=url,
            rules_dir=RULES,
            candidate=candidate_pack(work),
            processes=args.processes,
        )
        start = time.perf_counter()
        result = simulate(engine, runtime, request)
        write_reports(result, work / "report", NOW.isoformat())
        seconds = time.perf_counter() - start
        peer_claims, peer_seconds = peer(engine, runtime)
    finally:
        engine.dispose()
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return {
        "database": "postgresql" if args.pg_url else "sqlite",
        "claims": result.totals.claims,
        "processes": args.processes,
        "seconds": round(seconds, 2),
        "claims_per_second": round(result.totals.claims / seconds, 1),
        "changed_claims": len(result.changed),
        "paid_delta": str(result.totals.paid_after - result.totals.paid_before),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "peer_claims": peer_claims,
        "peer_seconds": round(peer_seconds, 2),
        "ratio_to_peer": round(seconds / peer_seconds, 2),
        "setup_seconds": round(setup, 1),
        "target_seconds_at_100k": TARGET_SECONDS,
        "projected_seconds_at_100k": round(seconds * 100_000 / max(result.totals.claims, 1), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--pg-url", help="PostgreSQL URL (a schema is made and dropped)")
    args = parser.parse_args()
    # the store's processes share keys made for this run (unless the environment names some)
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as tmp:
        row = run(args, Path(tmp))
    row["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{'database':<10} {'claims':>8} {'procs':>5} {'seconds':>8} {'claims/s':>9} "
        f"{'changed':>8} {'peak RSS MB':>11} {'peer s':>7} {'vs peer':>7}"
    )
    print(
        f"{row['database']:<10} {row['claims']:>8,} {row['processes']:>5} {row['seconds']:>8} "
        f"{row['claims_per_second']:>9} {row['changed_claims']:>8,} {row['peak_rss_mb']:>11} "
        f"{row['peer_seconds']:>7} {row['ratio_to_peer']:>6}x"
    )
    verdict = "meets" if row["projected_seconds_at_100k"] < TARGET_SECONDS else "misses"
    print(
        f"projected at 100,000 claims: {row['projected_seconds_at_100k']} s "
        f"({verdict} the {TARGET_SECONDS:.0f} s target)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_simulate.json").write_text(json.dumps(row, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
