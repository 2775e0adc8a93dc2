"""Claim status over HTTP: ``GET /v1/claims/{id}`` under concurrent clients on loopback.

    .venv/bin/python benchmarks/bench_api.py [--claims 2000] [--seconds 15] [--clients 16]
        [--server-workers 2] [--pg-url postgresql://postgres@127.0.0.1:5432/test]

1. a fresh PostgreSQL schema, the reference data, ``--claims`` generated claims taken through
   intake, adjudication and the payment cycle by the service functions (not timed);
2. ``claims-engine serve``'s app under uvicorn in ``--server-workers`` processes, configured
   with PostgreSQL and Redis as deployed, with a provider key and an insurer key;
3. for ``--seconds`` each, ``--clients`` keep-alive connections (``benchmarks/load.py``:
   asyncio, a minimal HTTP/1.1 client, in this process) ask in turn for:
   * ``/healthz``: the same server doing no work, the peer that shows the cost of the route;
   * ``GET /v1/claims/{id}`` with an insurer key, over random claims;
   * ``GET /v1/claims/{id}`` with a provider key, half its own claims (200) and half others'
     (404), the access check's cost;
   each with requests/s, p50 / p99 / max latency, the status codes seen, and the ratio of the
   claim route's rate to /healthz's.

Every answered claim read writes an audit row in the same transaction; the table shows how
many were written. Target on this 2-core machine: at least 1,000 requests/s with p99 under
50 ms. Prints a table and writes JSON to ``benchmarks/results/bench_api.json``; the schema is
dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402
from benchmarks.api_server import free_port, start_server, stop_server  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

TARGET_RPS = 1_000.0
TARGET_P99_MS = 50.0


def _gets(paths: list[str], token: str) -> list[bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return [load.request("GET", path, headers=headers) for path in paths]


def _prepare(pg_url: str, schema: str, claims: int, tmp: Path) -> dict[str, Any]:
    from sqlalchemy import select, text

    from claims_engine.cli.fixtures_commands import generate_file
    from claims_engine.services.access import Role, create_key
    from claims_engine.services.intake import ingest_interchange, submit
    from claims_engine.services.reference import load_runtime, store_reference
    from claims_engine.services.remittance import run_payment_cycle
    from claims_engine.services.stored_adjudication import adjudicate_claims
    from claims_engine.store import tables as t
    from claims_engine.store.db import engine_for, upgrade

    admin = engine_for(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    engine = engine_for(url)
    from datetime import datetime

    now = datetime.now().replace(microsecond=0)
    upgrade(engine)
    store_reference(engine, ROOT / "fixtures" / "reference", now)
    runtime = load_runtime(engine, ROOT / "rules")
    path = tmp / "claims.837"
    generate_file(
        path,
        claims=claims,
        seed=97,
        mix={"P": 70, "I": 20, "D": 10},
        delimiters=("*", "^", ":", "~"),
        as_of=now.date(),
        created=now,
        reference=ROOT / "fixtures" / "reference",
    )
    sub = submit(engine, path.read_bytes(), path.name, now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)
    run_payment_cycle(engine, runtime, now, tmp / "835")
    c = t.claims_table.c
    with engine.connect() as conn:
        rows = conn.execute(select(c.id, c.billing_npi)).all()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.billing_npi] = counts.get(r.billing_npi, 0) + 1
    npi = max(counts, key=lambda n: (counts[n], n))
    insurer = create_key(engine, Role.INSURER, now=now)
    provider = create_key(engine, Role.PROVIDER, now=now, npis=[npi])
    engine.dispose()
    return {
        "url": url,
        "ids": [int(r.id) for r in rows],
        "own": [int(r.id) for r in rows if r.billing_npi == npi],
        "others": [int(r.id) for r in rows if r.billing_npi != npi],
        "insurer": insurer.token,
        "provider": provider.token,
    }


def _audit_rows(url: str) -> int:
    from sqlalchemy import func, select

    from claims_engine.store import tables as t
    from claims_engine.store.db import engine_for

    engine = engine_for(url)
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(t.phi_reads_table)).scalar_one())
    engine.dispose()
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/13",
        help="the broker the server is configured with (it only pings it for /readyz)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_api.json")
    args = parser.parse_args(argv)
    # the store's processes share keys made for this run (unless the environment names some)
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))

    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    from sqlalchemy import text

    from claims_engine.store.db import engine_for

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        print(f"preparing {args.claims} claims in schema {schema} ...", flush=True)
        data = _prepare(args.pg_url, schema, args.claims, Path(tmp))
    port = free_port()
    # as deployed: PostgreSQL and Redis (submissions would go to the workers' queues)
    server = start_server(
        "bench_api",
        {"CLAIMS_DATABASE_URL": data["url"], "CLAIMS_REDIS_URL": args.redis_url},
        port,
        args.server_workers,
    )
    phases: list[load.Phase] = []
    try:
        audit_before = _audit_rows(data["url"])
        own = [f"/v1/claims/{i}" for i in data["own"]]
        others = [f"/v1/claims/{i}" for i in data["others"]]
        mixed = own + random.Random(1).sample(others, min(len(others), len(own)))
        plan = [
            ("/healthz (peer: no work)", ["/healthz"], ""),
            ("GET /v1/claims/{id}, insurer", [f"/v1/claims/{i}" for i in data["ids"]], "insurer"),
            ("GET /v1/claims/{id}, provider 50% own", mixed, "provider"),
        ]
        # a short warm-up: connections, caches, the key lookups
        load.drive(port, "warm-up", _gets(own, data["provider"]), clients=4, seconds=1.0)
        for name, paths, who in plan:
            requests = _gets(paths, data[who] if who else "")
            phases.append(
                load.drive(port, name, requests, clients=args.clients, seconds=args.seconds)
            )
        audit_rows = _audit_rows(data["url"]) - audit_before
    finally:
        stop_server(server)
        if not args.keep:
            admin = engine_for(args.pg_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    peer = phases[0].requests / phases[0].seconds
    print()
    print(
        f"{'phase':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'vs peer':>8}  statuses"
    )
    for ph in phases:
        j = ph.to_json()
        ratio = j["requests_per_s"] / peer if peer else 0
        print(
            f"{ph.name:<40} {j['requests_per_s']:>8.0f} {j['p50_ms']:>8.2f} {j['p99_ms']:>8.2f} "
            f"{j['max_ms']:>8.2f} {ratio:>8.2f}  {j['statuses']}"
        )
    claim_phases = phases[1:]
    worst_rps = min(p.requests / p.seconds for p in claim_phases)
    worst_p99 = max(p.percentile(0.99) for p in claim_phases)
    met = worst_rps >= TARGET_RPS and worst_p99 < TARGET_P99_MS
    print(
        f"\naudit rows written: {audit_rows}; target {TARGET_RPS:.0f} req/s with p99 < "
        f"{TARGET_P99_MS:.0f} ms: worst claim phase {worst_rps:.0f} req/s, p99 {worst_p99:.1f} ms"
        f" -> {'met' if met else 'NOT met'}"
    )
    result = {
        "benchmark": "bench_api",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": {
            "claims": args.claims,
            "seconds": args.seconds,
            "clients": args.clients,
            "server_workers": args.server_workers,
            "database": "postgresql",
        },
        "phases": [p.to_json() for p in phases],
        "audit_rows_written": audit_rows,
        "target": {"requests_per_s": TARGET_RPS, "p99_ms": TARGET_P99_MS, "met": met},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
