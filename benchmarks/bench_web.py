"""The portal's pages under load (issue 20, section 4): members' claims lists and explanations of
benefits on PostgreSQL.

    .venv/bin/python benchmarks/bench_web.py [--members 2000] [--claims 10000] [--seconds 15]
        [--clients 16] [--server-workers 2] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
        [--keep]

1. a fresh PostgreSQL schema; a copy of ``fixtures/reference`` whose ``members.csv`` holds
   ``--members`` generated families' members besides the fixtures' (as ``bench_enroll``
   makes them); ``--claims`` generated claims of those members taken through intake,
   adjudication and a payment cycle by the service functions; an account for each of
   ``--members`` members (those with claims first, the most first; the generator spreads
   claims over members as a Zipf law does, so some 1,650 of them have any, and the rest
   of the accounts are members with none), each signed in (password, authenticator app:
   :mod:`claims_engine.services.accounts`, as the pages do it) to a session of its own: not
   timed. The passwords are hashed with argon2id at a low cost while preparing (no page the
   benchmark asks for hashes a password; 2,000 hashes at the real cost would only make the
   preparation slow);
2. ``claims-engine serve``'s app under uvicorn in ``--server-workers`` processes, configured
   with PostgreSQL and Redis as deployed (as ``bench_api.py`` runs it);
3. for ``--seconds``, ``--clients`` keep-alive connections (``benchmarks/load.py``) ask, at
   random, each with the session cookie of one member, for ``/my/claims`` (the member's claims
   and the plan year's deductible and out-of-pocket) or ``/my/claims/{id}`` (the explanation
   of benefits of one of the member's claims), half and half (a member without claims asks
   for its list only); every page is a session check
   (and its touch), the claims or the claim read with the member's scope, the audit rows, and
   HTML: pages/s, p50 / p95 / p99 / max, the status codes and how many pages were the page
   asked for (not the sign-in page). Beside it, the peer: ``/healthz``, the same server doing
   no work.

Targets (issue 20): at least 500 pages/s with p99 under 100 ms at 16 clients. Prints a table
and writes JSON to ``benchmarks/results/bench_web.json``; the schema is dropped at the end unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402
from benchmarks.api_server import free_port, start_server, stop_server  # noqa: E402
from benchmarks.bench_enroll import drop_schema, members_csv  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

TARGET_PAGES_PER_S = 500.0
TARGET_P99_MS = 100.0
PASSWORD = "a benchmark's long passphrase"


def prepare(pg_url: str, schema: str, members: int, claims: int, work: Path) -> dict[str, Any]:
    """The store, its claims and the members' signed-in sessions (see the module docstring)."""
    from argon2 import PasswordHasher
    from sqlalchemy import select, text

    from claims_engine.cli.fixtures_commands import generate_file
    from claims_engine.domain.totp import secret_from_base32, totp
    from claims_engine.services import accounts
    from claims_engine.services.access import Role
    from claims_engine.services.intake import ingest_interchange, submit
    from claims_engine.services.queries import identity_of
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
    now = datetime.now().replace(microsecond=0)
    folder = work / "reference"
    shutil.copytree(REFERENCE, folder)
    rows, _people, _families = members_csv(members * 2, seed=20)
    with (folder / "members.csv").open("a", encoding="utf-8") as f:
        f.write(rows)
    upgrade(engine)
    store_reference(engine, folder, now)
    runtime = load_runtime(engine, RULES)
    path = work / "claims.837"
    generate_file(
        path,
        claims=claims,
        seed=20,
        mix={"P": 70, "I": 20, "D": 10},
        delimiters=("*", "^", ":", "~"),
        as_of=now.date(),
        created=now,
        reference=folder,
    )
    sub = submit(engine, path.read_bytes(), path.name, now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)
    run_payment_cycle(engine, runtime, now, work / "835")
    c = t.claims_table.c
    with engine.connect() as conn:
        found = conn.execute(select(c.id, c.identity)).all()
    by_member: dict[str, list[int]] = {}
    for r in found:
        by_member.setdefault(identity_of(r).member_id, []).append(int(r.id))
    reference = runtime.reference
    # the members with claims, the most first; then, when fewer than ``members`` have any
    # (the generator's members are Zipf-distributed: some have many, most few or none),
    # members without a claim, whose list is empty but a page all the same
    chosen = sorted(by_member, key=lambda m: (-len(by_member[m]), m))[:members]
    others = sorted(m for m in runtime.reference.members if m not in by_member)
    chosen += others[: members - len(chosen)]
    # a low argon2 cost while preparing only (see the module docstring)
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    real = accounts._hasher
    accounts._hasher = lambda: cheap  # type: ignore[assignment]
    sessions: list[tuple[str, list[int]]] = []
    try:
        for n, member_id in enumerate(chosen):
            invitation = accounts.create_user(
                engine,
                Role.MEMBER,
                email=f"member{n}@bench.example.org",
                now=now,
                member_id=member_id,
                reference=reference,
            )
            session = accounts.accept_invitation(engine, invitation.token, PASSWORD, now, reference)
            secret = accounts.totp_enrollment(engine, session, now).secret
            code = totp(secret_from_base32(secret), int(now.replace(tzinfo=UTC).timestamp()))
            full, _codes = accounts.confirm_totp(engine, session, code, now, reference)
            sessions.append((full.token, by_member.get(member_id, [])))
    finally:
        accounts._hasher = real
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "url": url,
        "sessions": sessions,
        "claims": len(found),
        "members_with_claims": len(by_member),
    }


def pages(sessions: list[tuple[str, list[int]]], seed: int) -> list[bytes]:
    """For each session, its claims list and the explanation of one of its claims (if any)."""
    rng = random.Random(seed)
    out = []
    for token, claims in sessions:
        headers = {"Cookie": f"ce_session={token}", "Accept": "text/html"}
        out.append(load.request("GET", "/my/claims", headers=headers))
        if claims:  # a member without claims has no explanation to ask for
            claim = claims[rng.randrange(len(claims))]
            out.append(load.request("GET", f"/my/claims/{claim}", headers=headers))
    return out


def the_page(status: int, body: bytes) -> bool:
    """The page asked for, not the sign-in page a session that ended gets."""
    return status == 200 and (b"<h1>My claims</h1>" in body or b"Explanation of benefits" in body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--keep", action="store_true", help="keep the schema")
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_web.json")
    args = parser.parse_args(argv)
    for name in ("members", "claims", "clients", "server_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be more than 0")
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))

    schema = f"bench_web_{uuid.uuid4().hex[:8]}"
    print(f"preparing {args.claims} claims and {args.members} sessions in {schema} ...", flush=True)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
            data = prepare(args.pg_url, schema, args.members, args.claims, Path(tmp))
        prepared = time.perf_counter() - started
        port = free_port()
        server = start_server(
            "bench_web",
            {
                "CLAIMS_DATABASE_URL": data["url"],
                "CLAIMS_REDIS_URL": args.redis_url,
                "CLAIMS_RULES_DIR": str(RULES),
            },
            port,
            args.server_workers,
        )
        asked = pages(data["sessions"], seed=20)
        try:
            load.drive(port, "warm-up", asked, clients=4, seconds=2.0)
            peer = load.peer(port, args.clients)
            phase = load.drive(
                port,
                "/my/claims and /my/claims/{id}",
                asked,
                clients=args.clients,
                seconds=args.seconds,
                judge=the_page,
            )
        finally:
            stop_server(server)
    finally:
        if not args.keep:
            drop_schema(args.pg_url, schema)
    rate = phase.rate
    p99 = phase.percentile(0.99)
    met = rate >= TARGET_PAGES_PER_S and p99 < TARGET_P99_MS and phase.accepted == phase.requests
    load.print_table(peer, phase, "pages as asked")
    print(
        f"\ntarget {TARGET_PAGES_PER_S:.0f} pages/s with p99 < {TARGET_P99_MS:.0f} ms at "
        f"{args.clients} clients: {rate:.0f} pages/s, p99 {p99:.1f} ms -> "
        f"{'met' if met else 'NOT met'}"
    )
    result = {
        "benchmark": "bench_web",
        "ran_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "config": {
            "members_with_sessions": len(data["sessions"]),
            "claims": data["claims"],
            "members_with_claims": data["members_with_claims"],
            "seconds": args.seconds,
            "clients": args.clients,
            "server_workers": args.server_workers,
            "database": "postgresql",
            "prepare_seconds": round(prepared, 1),
        },
        "phases": [peer.to_json(), {**phase.to_json(), "pages_as_asked": phase.accepted}],
        "target": {"pages_per_s": TARGET_PAGES_PER_S, "p99_ms": TARGET_P99_MS, "met": met},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
