"""Prior authorization requests decided by the shipped rules over HTTP (issue 22, section 5).

    .venv/bin/python benchmarks/bench_auth.py [--members 2000] [--seconds 15] [--clients 16]
        [--server-workers 2] [--pool 12000] [--warm 3000]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--keep]

``POST /v1/x12/278`` at ``--clients`` concurrent clients, every request a new one:

1. a fresh PostgreSQL schema; a copy of ``fixtures/reference`` whose ``members.csv`` holds
   ``--members`` generated members besides the fixtures' (families of a subscriber, a spouse
   one time in two and up to two children, on the PPO and HMO plans), stored as the reference
   set in force; one provider key for the NPIs of the two requesting providers (Maumee
   Radiology, gold-carded for imaging in 2026, and Buckeye Family Medicine) and the sender id
   their 278s come under: not timed;
2. ``claims-engine serve``'s app under uvicorn in ``--server-workers`` processes, configured
   with PostgreSQL and Redis as deployed (as ``bench_api.py`` runs it), the shipped rules
   (``rules/``, its ``prior-auth/decisions.yaml``) in force;
3. ``--warm`` + ``--pool`` different 278 requests (005010X217), each for one random generated
   member (the subscriber in 2000C, or a dependent in 2000D named by the subscriber's id, his
   name and birth date), one service, its own trace (TRN) and interchange number, in a mix of
   what the shipped decisions file decides (:data:`MIX`): gold-card imaging approved (A1) or
   modified to one study (A6), a lumbar MRI with a red flag or a sleep study approved (A1), a
   lumbar MRI for uncomplicated low back pain denied (A3, HCR03 0F), an expedited one no rule
   meets, bariatric surgery and an out-of-network provider pended to a reviewer (A4), an
   office visit that needs no authorization (NA). Each is sent once: every answer is a real
   decision, written to the store (the request, its service, two events, its number from the
   store's counter) with its PHI sealed and its read audited, as in production;
4. ``--clients`` keep-alive connections (``benchmarks/load.py``'s client, each taking the next
   request not yet sent) post them for ``--seconds``, after a warm-up (first requests on new
   connections until every server process answers fast, then ``--clients`` clients for 3 s):
   decisions/s, latency p50 / p95 / p99 / max, the client's own CPU time a request, status
   codes, and the answers by HCR01 (A1, A3, A4, A6, NA; AAA: not reviewed). Beside it, the
   peer: ``/healthz``, the same server doing no work.

Target (issue 22): p99 under 100 ms and at least 300 decisions/s at 16 clients. The machine is
shared: run it two or three times and report each. The schema is dropped at the end unless
``--keep``. Prints a table and writes ``benchmarks/results/bench_auth.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402
from benchmarks.api_server import free_port, start_server, stop_server  # noqa: E402
from benchmarks.bench_enroll import Person, drop_schema, members_csv  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

TARGET_DECISIONS_PER_S = 300.0
TARGET_P99_MS = 100.0
MAUMEE = "2422581191"  # MAUMEE RADIOLOGY ASSOCIATES: gold-carded for imaging in 2026
BUCKEYE = "2781759230"  # BUCKEYE FAMILY MEDICINE
OUT_OF_NETWORK = "2014819553"  # MIAMI VALLEY ORTHOPAEDICS: in PPO-GOLD's network only
SENDER = "CLINIC278"
SERVICE_DAYS = "20261214-20261218"  # within the gold cards' 2026


@dataclass(frozen=True)
class Ask:
    """One kind of request of the mix, and what the shipped decisions file decides of it."""

    name: str
    share: int  # in a hundred
    requester: str
    codes: tuple[str, ...]
    diagnosis: str
    expected: str  # HCR01 (for every member's plan unless said)
    units: int = 1
    expedited: bool = False
    servicing: str = ""  # a servicing provider (2010F) out of an HMO-SILVER member's network
    service_type: str = "1"  # UM03: 1 medical care, 2 surgical, 4 diagnostic X-ray


IMAGING = ("70551", "72148", "73721", "74177")
MIX: tuple[Ask, ...] = (
    Ask("gold-card imaging", 30, MAUMEE, IMAGING, "M25561", "A1", service_type="4"),
    Ask("gold-card imaging, 2 studies", 5, MAUMEE, ("70553",), "G4489", "A6", 2, service_type="4"),
    Ask("lumbar MRI, red flag", 10, BUCKEYE, ("72148",), "G834", "A1", service_type="4"),
    Ask("sleep study", 5, BUCKEYE, ("95810",), "G4733", "A1"),
    Ask("lumbar MRI, uncomplicated", 15, BUCKEYE, ("72148",), "M5450", "A3", service_type="4"),
    Ask("lumbar MRI, expedited", 5, BUCKEYE, ("72148",), "M5450", "A4", 1, True, "", "4"),
    Ask("bariatric surgery", 5, BUCKEYE, ("43644",), "E6601", "A4 (PPO), NA", service_type="2"),
    Ask("knee MRI, out of network", 5, BUCKEYE, ("73721",), "M25561", "A4", 1, False, "x", "4"),
    Ask("office visit", 20, BUCKEYE, ("99213",), "J069", "NA"),
)


def request_278(person: Person, ask: Ask, code: str, control: int) -> bytes:
    """A 278 asking for ``ask``'s service for ``person`` (a dependent in loop 2000D, named by
    the subscriber's id), as a provider's system sends it: its own trace, its own ISA13."""
    name = f"NM1*IL*1*{person.last}*{person.first}****MI*{person.subscriber_id}"
    body = [
        f"BHT*0007*13*R{control}*20261207*0930",
        "HL*1**20*1",
        "NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        f"NM1*1P*2*{'MAUMEE RADIOLOGY' if ask.requester == MAUMEE else 'BUCKEYE FAMILY'}"
        f"*****XX*{ask.requester}",
        "HL*3*2*22*1",
    ]
    if person.dependent:
        subscriber = f"NM1*IL*1*{person.last}*****MI*{person.subscriber_id}"
        body += [
            subscriber,
            "HL*4*3*23*1",
            f"NM1*QC*1*{person.last}*{person.first}",
            f"DMG*D8*{person.born:%Y%m%d}",
            "HL*5*4*EV*1",
        ]
        service_hl = "HL*6*5*SS*0"
    else:
        body += [name, "HL*4*3*EV*1"]
        service_hl = "HL*5*4*SS*0"
    body += [
        f"TRN*1*BA{control:09d}*9877281234",
        f"UM*HS*I*{ask.service_type}*11:B**{'U' if ask.expedited else 'E'}",
        f"DTP*AAH*RD8*{SERVICE_DAYS}",
        f"HI*ABK:{ask.diagnosis}",
        service_hl,
        f"SV1*HC:{code}*1200*UN*{ask.units}",
    ]
    if ask.servicing:
        body.append(f"NM1*SJ*2*MIAMI VALLEY ORTHOPAEDICS*****XX*{OUT_OF_NETWORK}")
    segments = ["ST*278*0001*005010X217", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    isa = (
        f"ISA*00*          *00*          *ZZ*{SENDER:<15}*ZZ*CLAIMSENGINE   *261207*0930*^*00501"
        f"*{control:09d}*0*P*:"
    )
    gs = f"GS*HI*{SENDER}*CLAIMSENGINE*20261207*0930*{control}*X*005010X217"
    tail = [f"GE*1*{control}", f"IEA*1*{control:09d}"]
    return ("~".join([isa, gs, *segments, *tail]) + "~").encode()


def requests_278(people: Sequence[Person], count: int, *, first: int, seed: int) -> list[bytes]:
    """``count`` different 278s (controls from ``first``) drawn from :data:`MIX`."""
    rng = random.Random(seed)
    kinds = [ask for ask in MIX for _ in range(ask.share)]
    out = []
    for k in range(count):
        ask = rng.choice(kinds)
        person = people[rng.randrange(len(people))]
        out.append(request_278(person, ask, rng.choice(ask.codes), first + k))
    return out


# -- measuring ------------------------------------------------------------------------------------
def action_of(body: bytes) -> str:
    """HCR01 of the answer's first event (the event's HCR comes before its services'), or
    ``AAA`` for an event rejected without review."""
    at = body.find(b"HCR*")
    if at < 0:
        return "AAA"
    end = at + 4
    while end < len(body) and body[end : end + 1] not in (b"*", b"~"):
        end += 1
    return body[at + 4 : end].decode()


class Tally:
    """The judge of a phase: counts the answers by HCR01."""

    def __init__(self) -> None:
        self.actions: Counter[str] = Counter()

    def __call__(self, status: int, body: bytes) -> bool:
        if status != 200:
            return False
        action = action_of(body)
        self.actions[action] += 1
        return action != "AAA"


async def _client(
    port: int,
    left: deque[bytes],
    stop_at: float,
    phase: load.Phase,
    judge: Callable[[int, bytes], bool],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while left and time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(left.popleft())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            at = head.lower().find(b"\r\ncontent-length:")
            if at >= 0:
                length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
            body = await reader.readexactly(length) if length else b""
            phase.latencies.append(time.perf_counter() - started)
            phase.statuses[status] = phase.statuses.get(status, 0) + 1
            if judge(status, body):
                phase.accepted += 1
    finally:
        writer.close()


def drive_once(
    port: int,
    name: str,
    requests: Sequence[bytes],
    *,
    clients: int,
    seconds: float,
    judge: Callable[[int, bytes], bool],
) -> load.Phase:
    """``clients`` keep-alive connections, each sending the next request not yet sent (none
    twice), for ``seconds`` or until the requests run out."""
    phase = load.Phase(name)
    left = deque(requests)

    async def run() -> None:
        started = time.perf_counter()
        cpu = time.process_time()
        await asyncio.gather(
            *(_client(port, left, started + seconds, phase, judge) for _ in range(clients))
        )
        phase.seconds = time.perf_counter() - started
        phase.client_cpu_seconds = time.process_time() - cpu
        phase.requests = len(phase.latencies)

    asyncio.run(run())
    if not left:
        print(f"bench_auth: {name}: every request was sent before the time was up (--pool)")
    return phase


def warm_up(port: int, bodies: list[bytes], headers: dict[str, str], limit: float = 120.0) -> int:
    """Post 278s, each on a new connection (so that every server process gets some), until 40
    in a row are answered within 250 ms: each process has loaded the reference data, the rule
    packs and the decisions file. Returns how many were posted."""
    import http.client

    deadline = time.monotonic() + limit
    in_a_row = posted = 0
    while in_a_row < 40:
        if time.monotonic() > deadline or posted >= len(bodies):
            raise SystemExit(f"bench_auth: the server was not warm after {posted} requests")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        conn.request("POST", "/v1/x12/278", body=bodies[posted], headers=headers)
        response = conn.getresponse()
        text = response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"bench_auth: a 278 was answered {response.status}: {text[:300]!r}")
        posted += 1
        in_a_row = in_a_row + 1 if time.perf_counter() - started < 0.25 else 0
    return posted


# -- the store ------------------------------------------------------------------------------------
def prepare(pg_url: str, schema: str, members: int, work: Path) -> dict[str, Any]:
    """The schema, its reference data with ``members`` more members and the provider key (see
    the module docstring); not timed."""
    from sqlalchemy import text

    from claims_engine.services.access import Role, create_key
    from claims_engine.services.reference import store_reference
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
    rows, people, _families = members_csv(members, seed=22)
    with (folder / "members.csv").open("a", encoding="utf-8") as f:
        f.write(rows)
    upgrade(engine)
    store_reference(engine, folder, now)
    key = create_key(
        engine, Role.PROVIDER, now=now, npis=[MAUMEE, BUCKEYE], senders=[SENDER], label="bench"
    )
    engine.dispose()
    return {"url": url, "people": people, "provider": key.token}


def stored(url: str) -> dict[str, int]:
    """The requests and their events in the store, by state."""
    from sqlalchemy import func, select

    from claims_engine.store import tables as t
    from claims_engine.store.db import engine_for

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            auths = t.prior_authorizations_table
            states = {
                str(state): int(n)
                for state, n in conn.execute(
                    select(auths.c.state, func.count()).group_by(auths.c.state)
                )
            }
            events = conn.execute(
                select(func.count()).select_from(t.prior_authorization_events_table)
            ).scalar_one()
    finally:
        engine.dispose()
    return {**dict(sorted(states.items())), "events": int(events)}


# -- the benchmark --------------------------------------------------------------------------------
def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    schema = f"bench_auth_{uuid.uuid4().hex[:8]}"
    print(f"bench_auth: preparing {args.members} members in schema {schema} ...", flush=True)
    started = time.perf_counter()
    try:
        data = prepare(args.pg_url, schema, args.members, work)
        prepared = time.perf_counter() - started
        people: list[Person] = data["people"]
        warm = requests_278(people, args.warm, first=1, seed=7)
        pool = requests_278(people, args.pool, first=args.warm + 1, seed=22)
        headers = {
            "Authorization": f"Bearer {data['provider']}",
            "Content-Type": "application/edi-x12",
        }
        port = free_port()
        server = start_server(
            "bench_auth",
            {
                "CLAIMS_DATABASE_URL": data["url"],
                "CLAIMS_REDIS_URL": args.redis_url,
                "CLAIMS_RULES_DIR": str(RULES),
            },
            port,
            args.server_workers,
            log=work / "server.log",  # every 278 logged at info, as deployed
            wait=120,
        )
        try:
            posted = warm_up(port, warm, headers)
            asking = [load.request("POST", "/v1/x12/278", headers=headers, body=b) for b in warm]
            drive_once(
                port,
                "warm-up",
                asking[posted:],
                clients=args.clients,
                seconds=3.0,
                judge=Tally(),
            )
            peer = load.peer(port, args.clients)
            tally = Tally()
            phase = drive_once(
                port,
                "POST /v1/x12/278, provider",
                [load.request("POST", "/v1/x12/278", headers=headers, body=b) for b in pool],
                clients=args.clients,
                seconds=args.seconds,
                judge=tally,
            )
        finally:
            stop_server(server)
        in_store = stored(data["url"])
    finally:
        if not args.keep:
            drop_schema(args.pg_url, schema)
    rps = phase.rate
    p99 = phase.percentile(0.99)
    met = (
        rps >= TARGET_DECISIONS_PER_S
        and p99 < TARGET_P99_MS
        and phase.statuses == {200: phase.requests}
    )
    load.print_table(peer, phase, "decided (HCR)")
    print(f"\n{'HCR01':<6} {'answers':>8} {'share':>7}")
    for action, n in sorted(tally.actions.items()):
        print(f"{action:<6} {n:>8} {n / max(phase.requests, 1):>7.1%}")
    print(f"store after the run (warm-up included): {in_store}")
    print(
        f"\ntarget {TARGET_DECISIONS_PER_S:.0f} decisions/s with p99 < {TARGET_P99_MS:.0f} ms at "
        f"{args.clients} clients: {rps:.0f} decisions/s, p99 {p99:.1f} ms "
        f"({rps / peer.rate:.2f} of the peer's rate) -> {'met' if met else 'NOT met'}"
    )
    return {
        "benchmark": "bench_auth",
        "ran_at": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "config": {
            "members": args.members,
            "requests_generated": args.pool,
            "warm_up_requests": args.warm,
            "seconds": args.seconds,
            "clients": args.clients,
            "server_workers": args.server_workers,
            "database": "postgresql",
            "prepare_seconds": round(prepared, 1),
            "mix": {a.name: {"share": a.share, "expected": a.expected} for a in MIX},
        },
        "phases": [
            peer.to_json(),
            {**phase.to_json(), "by_action": dict(sorted(tally.actions.items()))},
        ],
        "ratio_to_peer": round(rps / peer.rate, 3) if peer.rate else None,
        "store": in_store,
        "target": {
            "decisions_per_s": TARGET_DECISIONS_PER_S,
            "p99_ms": TARGET_P99_MS,
            "met": met,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--members", type=int, default=2000, help="members generated")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds timed")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--pool", type=int, default=12_000, help="different 278s to time")
    parser.add_argument("--warm", type=int, default=3_000, help="different 278s to warm up")
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
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_auth.json")
    args = parser.parse_args(argv)
    for name in ("members", "clients", "server_workers", "pool", "warm"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be more than 0")
    # the store's processes share keys made for this run (unless the environment names some)
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        result = run(args, Path(tmp))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
