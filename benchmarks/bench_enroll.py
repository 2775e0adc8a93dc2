"""Enrollment and eligibility on PostgreSQL (issue 19, section 6), one section at a time.

    .venv/bin/python benchmarks/bench_enroll.py [--only enroll|inquiry] [--members 100000]
        [--seconds 15] [--clients 16] [--server-workers 2] [--pool 4000]
        [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--keep]

Each section is one function of :data:`SECTIONS` (``--only NAME`` runs that one, the default
all of them), given the arguments and a scratch folder, returning its JSON; every section
prints its own table. The JSON file (``benchmarks/results/bench_enroll.json``) holds every
section by name: a run of one section keeps the others' last results beside it.

``enroll``: 834 change files (BGN08 ``2``) of ``--members`` members applied to a fresh
PostgreSQL store through :func:`~claims_engine.services.members.apply_834` (bytes in, every
member's new version, report, 999 and claims sent back committed): first a file adding them
(families of a subscriber and up to three dependants, medical and for one family in four dental
coverage lines), then one changing them (every subscriber's address; one family in ten
terminated the day before). Members/s for each, and the time the next runtime takes to read
the new versions. Target (issue 19): at least 10,000 members/s.

``inquiry``: ``POST /v1/x12/270`` at ``--clients`` concurrent clients.

1. a fresh PostgreSQL schema; a copy of ``fixtures/reference`` whose ``members.csv`` holds
   ``--members`` generated members besides the fixtures' (families of a subscriber, a spouse
   one time in two and up to two children, on the PPO and HMO plans), stored as the reference
   set in force; the accumulators of half the families, at random (deductible and
   out-of-pocket met so far this plan year, in network, subscriber and family) written as
   adjudication writes them; a provider key for the receiver's NPI: not timed;
2. ``claims-engine serve``'s app under uvicorn in ``--server-workers`` processes, configured
   with PostgreSQL and Redis as deployed (as ``bench_api.py`` runs it);
3. ``--pool`` different 270s, each asking about one random generated member (a subscriber, or
   a dependent in loop 2000D) for ``EQ*30``, answered with the CAQH CORE set of service
   types (some 250 EB segments: copays, coinsurance, deductible and out-of-pocket with what
   remains of them); ``--clients`` keep-alive connections (``benchmarks/load.py``: asyncio,
   a minimal HTTP/1.1 client, in this process) post them at random for ``--seconds`` (after
   a warm-up that loads the reference data in each server process): answers/s, latency p50 /
   p95 / p99 / max, the client's own CPU time a request (the load shares the machine's cores
   with the server), the status codes, and how many 271s answered the patient (no AAA); the
   warm-up first posts
   270s on new connections until every server process answers fast. Beside it, the peer:
   ``/healthz``, the same server doing no work.

Every answer is audited (one ``phi_reads`` row a member, committed by the one statement that
also reads the member's accumulators: see ``docs/eligibility.md``) and numbered from the
store's counter, as in production. The machine is shared: run it two or three times and
report each. Targets (issue 19): p99 under 50 ms and at least 500 answers/s at
16 clients. The schema is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
sys.path.insert(0, str(ROOT))

from benchmarks import load  # noqa: E402
from benchmarks.api_server import free_port, start_server, stop_server  # noqa: E402
from claims_engine.store.vault import fresh_key_variables  # noqa: E402

CENTS = Decimal(100)
TARGET_ANSWERS_PER_S = 500.0
TARGET_P99_MS = 50.0
RECEIVER_NPI = "2781759230"  # Buckeye Family Medicine, in the fixtures' providers
PLANS = ("PPO-GOLD", "HMO-SILVER")
LAST_NAMES = (
    "ADAMS BAKER CARTER DAVIS EVANS FOSTER GARCIA HARRIS IRWIN JAMES KELLY LEWIS MORGAN "
    "NELSON OWENS PARKER QUINN REED SCOTT TURNER UNDERWOOD VAUGHN WALKER YOUNG ZIMMER"
).split()
FIRST_NAMES = {
    "F": "ANNA CLARA DIANA EMMA GRACE HANNAH IRIS JULIA LAURA MIA NORA OLIVIA RUTH SARA".split(),
    "M": "ADAM BEN CARL DAVID ERIC FRANK GEORGE HENRY IAN JACK KARL LUKE MARK NOAH OSCAR".split(),
}


# -- measuring ------------------------------------------------------------------------------------
def answered(status: int, body: bytes) -> bool:
    """A 271 that told about the patient (no AAA)."""
    return status == 200 and b"AAA*" not in body


def warm_up(
    port: int, bodies: list[bytes], headers: dict[str, str], *, limit: float = 300.0
) -> int:
    """Post 270s, each on a new connection (so that every server process gets some), until 40
    in a row are answered within 250 ms: each process has loaded the reference data (its
    first 270 does, for seconds with 100,000 members). Returns how many were posted."""
    deadline = time.monotonic() + limit
    in_a_row = posted = 0
    while in_a_row < 40:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_enroll: the server was not warm after {limit:.0f} s")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        started = time.perf_counter()
        conn.request("POST", "/v1/x12/270", body=bodies[posted % len(bodies)], headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"bench_enroll: a 270 was answered {response.status}")
        posted += 1
        in_a_row = in_a_row + 1 if time.perf_counter() - started < 0.25 else 0
    return posted


# -- the store and the server ---------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    member_id: str
    subscriber_id: str
    last: str
    first: str
    born: date
    dependent: bool


def members_csv(count: int, seed: int) -> tuple[str, list[Person], list[tuple[str, str, str]]]:
    """``count`` generated members as ``members.csv`` rows, the people, and the families
    (family id, subscriber id, plan)."""
    rng = random.Random(seed)
    rows: list[str] = []
    people: list[Person] = []
    families: list[tuple[str, str, str]] = []
    n = 0
    family = 0
    while n < count:
        family += 1
        plan = PLANS[family % len(PLANS)]
        last = rng.choice(LAST_NAMES)
        sub_id = f"BE{family:07d}00"
        fid = f"FBE{family:07d}"
        sex = rng.choice("FM")
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50))
        members = [(sub_id, "18", rng.choice(FIRST_NAMES[sex]), sex, born)]
        if rng.random() < 0.5:
            other = "M" if sex == "F" else "F"
            spouse_born = born + timedelta(days=rng.randrange(-2000, 2000))
            members.append(
                (f"BE{family:07d}01", "01", rng.choice(FIRST_NAMES[other]), other, spouse_born)
            )
        children = rng.randrange(3)
        for k in range(children):
            csex = rng.choice("FM")
            cborn = date(2005, 1, 1) + timedelta(days=400 * k + rng.randrange(365))
            members.append(
                (f"BE{family:07d}{k + 2:02d}", "19", rng.choice(FIRST_NAMES[csex]), csex, cborn)
            )
        families.append((fid, sub_id, plan))
        for member_id, relationship, first, sex_, day in members[: count - n]:
            rows.append(
                f"{member_id},{sub_id},{fid},{relationship},{last},{first},{day.isoformat()},"
                f"{sex_},{family} MAIN ST,AKRON,OH,44301,{plan},2024-01-01,"
            )
            people.append(Person(member_id, sub_id, last, first, day, relationship != "18"))
            n += 1
    return "\n".join(rows) + "\n", people, families


def prepare(pg_url: str, schema: str, members: int, work: Path) -> dict[str, Any]:
    """The schema, its reference data with ``members`` more members, their accumulators and a
    provider key (see the module docstring); not timed."""
    from sqlalchemy import insert, text

    from claims_engine.services.access import Role, create_key
    from claims_engine.services.reference import load_runtime, store_reference
    from claims_engine.store import tables as t
    from claims_engine.store.db import engine_for, upgrade
    from claims_engine.store.vault import current_vault

    admin = engine_for(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    engine = engine_for(url)
    now = datetime.now().replace(microsecond=0)
    folder = work / "reference"
    shutil.copytree(REFERENCE, folder)
    rows, people, families = members_csv(members, seed=19)
    with (folder / "members.csv").open("a", encoding="utf-8") as f:
        f.write(rows)
    upgrade(engine)
    store_reference(engine, folder, now)
    runtime = load_runtime(engine, RULES)
    vault = current_vault()
    rng = random.Random(6)
    accumulators: list[dict[str, Any]] = []
    for fid, sub_id, plan_id in families:
        if rng.random() < 0.5:
            continue  # nothing met yet this plan year
        plan = runtime.reference.plans[plan_id]
        year = plan.plan_year(now.date())
        family = vault.lookup(f"family:{fid}")
        met = {
            "deductible": Decimal(rng.randrange(0, 50_000)) / CENTS,
            "oop": Decimal(rng.randrange(50_000, 250_000)) / CENTS,
        }
        for holder in (f"member:{sub_id}", f"family:{fid}"):
            for bucket, amount in met.items():
                accumulators.append(
                    {
                        "family": family,
                        "holder": vault.lookup(holder),
                        "plan_id": plan_id,
                        "plan_year": year,
                        "bucket": bucket,
                        "network": "in",
                        "amount": amount,
                    }
                )
    with engine.begin() as conn:
        for k in range(0, len(accumulators), 5000):
            conn.execute(insert(t.accumulators_table), accumulators[k : k + 5000])
        conn.execute(text("ANALYZE"))
    provider = create_key(engine, Role.PROVIDER, now=now, npis=[RECEIVER_NPI])
    engine.dispose()
    return {
        "url": url,
        "people": people,
        "reference_members": len(runtime.reference.members),
        "accumulator_rows": len(accumulators),
        "provider": provider.token,
    }


def request_270(person: Person, control: int) -> bytes:
    """A 270 asking about ``person`` (a dependent in loop 2000D) for EQ*30, as a clinic
    sends it (its NPI as the information receiver)."""
    body = [
        f"BHT*0022*13*B{control}*20261102*0930",
        "HL*1**20*1",
        "NM1*PR*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        f"NM1*1P*2*BUCKEYE FAMILY MEDICINE*****XX*{RECEIVER_NPI}",
    ]
    trace = f"TRN*1*T{control}*9877281234"
    if person.dependent:
        body += [
            "HL*3*2*22*1",
            f"NM1*IL*1*{person.last}*****MI*{person.subscriber_id}",
            "HL*4*3*23*0",
            trace,
            f"NM1*03*1*{person.last}*{person.first}",
            f"DMG*D8*{person.born:%Y%m%d}",
            "EQ*30",
        ]
    else:
        body += [
            "HL*3*2*22*0",
            trace,
            f"NM1*IL*1*{person.last}*{person.first}****MI*{person.member_id}",
            f"DMG*D8*{person.born:%Y%m%d}",
            "EQ*30",
        ]
    segments = ["ST*270*0001*005010X279A1", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    text = (
        "ISA*00*          *00*          *ZZ*CLINIC01       *ZZ*CLAIMSENGINE   *261102*0930*^"
        f"*00501*{control:09d}*0*P*:~GS*HS*CLINIC01*CLAIMSENGINE*20261102*0930*{control}*X"
        "*005010X279A1~" + "~".join(segments) + f"~GE*1*{control}~IEA*1*{control:09d}~"
    )
    return text.encode()


def drop_schema(pg_url: str, schema: str) -> None:
    from sqlalchemy import text

    from claims_engine.store.db import engine_for

    admin = engine_for(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


# -- the sections ---------------------------------------------------------------------------------
def inquiry(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``POST /v1/x12/270`` at ``--clients`` concurrent clients (see the module docstring)."""
    schema = f"bench_enroll_{uuid.uuid4().hex[:8]}"
    print(f"inquiry: preparing {args.members} members in schema {schema} ...", flush=True)
    started = time.perf_counter()
    try:
        data = prepare(args.pg_url, schema, args.members, work)
        prepared = time.perf_counter() - started
        rng = random.Random(270)
        people: list[Person] = data["people"]
        bodies = [
            request_270(people[rng.randrange(len(people))], 1000 + k) for k in range(args.pool)
        ]
        port = free_port()
        server = start_server(
            "bench_enroll",
            {
                "CLAIMS_DATABASE_URL": data["url"],
                "CLAIMS_REDIS_URL": args.redis_url,
                "CLAIMS_RULES_DIR": str(RULES),
            },
            port,
            args.server_workers,
            log=work / "server.log",  # every 270 logged at info, as deployed
            wait=120,
        )
        headers = {
            "Authorization": f"Bearer {data['provider']}",
            "Content-Type": "application/edi-x12",
        }
        try:
            # the warm-up: each server process loads the reference data on its first 270
            warm_up(port, bodies, headers)
            asking = [load.request("POST", "/v1/x12/270", headers=headers, body=b) for b in bodies]
            load.drive(port, "warm-up", asking, clients=args.clients, seconds=5.0)
            peer = load.peer(port, args.clients)
            phase = load.drive(
                port,
                "POST /v1/x12/270, provider",
                asking,
                clients=args.clients,
                seconds=args.seconds,
                judge=answered,
            )
        finally:
            stop_server(server)
    finally:
        if not args.keep:
            drop_schema(args.pg_url, schema)
    rps = phase.requests / phase.seconds
    p99 = phase.percentile(0.99)
    met = (
        rps >= TARGET_ANSWERS_PER_S
        and p99 < TARGET_P99_MS
        and phase.statuses == {200: phase.requests}
    )
    load.print_table(peer, phase, "answered without AAA")
    print(
        f"\ntarget {TARGET_ANSWERS_PER_S:.0f} answers/s with p99 < {TARGET_P99_MS:.0f} ms at "
        f"{args.clients} clients: {rps:.0f} answers/s, p99 {p99:.1f} ms -> "
        f"{'met' if met else 'NOT met'}"
    )
    return {
        "config": {
            "members": args.members,
            "reference_members": data["reference_members"],
            "accumulator_rows": data["accumulator_rows"],
            "distinct_270s": args.pool,
            "seconds": args.seconds,
            "clients": args.clients,
            "server_workers": args.server_workers,
            "database": "postgresql",
            "prepare_seconds": round(prepared, 1),
        },
        "phases": [peer.to_json(), {**phase.to_json(), "answered_without_aaa": phase.accepted}],
        "target": {
            "answers_per_s": TARGET_ANSWERS_PER_S,
            "p99_ms": TARGET_P99_MS,
            "met": met,
        },
    }


# -- the 834 section ------------------------------------------------------------------------------
SPONSOR_ID, GROUP_ID = "999888777", "123456001"
TARGET_MEMBERS_PER_S = 10_000.0


def enrollment_834(members: int, *, control: int, day: date, change: bool, seed: int) -> bytes:
    """One 834 of ``members`` members of the guide sponsor: families of a subscriber and up to
    three dependants, medical (HD04 PPO-GOLD or HMO-SILVER) and for some dental lines. As an add
    file (INS03 021, coverage from 2026-01-01), or as a change file (``change``) of the same
    members: every subscriber moves house (001), one in ten families ends (024 on the day
    before the file)."""
    rng = random.Random(seed)
    d8 = day.strftime("%Y%m%d")
    body = [
        "ST*834*0001*005010X220A1",
        f"BGN*00*BENCH{control:04d}*{d8}*1200****2",
        f"N1*P5**FI*{SPONSOR_ID}",
        "N1*IN**FI*654456654",
    ]
    n = 0
    family = 0
    while n < members:
        family += 1
        sub = f"EN{family:08d}"
        plan = "PPO-GOLD" if family % 3 else "HMO-SILVER"
        size = min(1 + rng.randrange(4), members - n)
        ends = change and family % 10 == 0
        for person in range(size):
            subscriber = person == 0
            member_id = sub if subscriber else f"{sub}{person:02d}"
            code = ("024" if ends else "001") if change else "021"
            ins = f"INS*{'Y' if subscriber else 'N'}*{'18' if subscriber else '19'}*{code}*XN*A"
            body += [ins + ("***FT" if subscriber else ""), f"REF*0F*{sub}", f"REF*1L*{GROUP_ID}"]
            if ends:
                body.append(f"DTP*357*D8*{(day - timedelta(days=1)):%Y%m%d}")
            first = "PAT" if subscriber else f"KID{person}"
            body.append(f"NM1*IL*1*BENCH{family}*{first}****ZZ*{member_id}")
            if subscriber:
                street = f"{family + (7 if change else 0)} MAIN ST"
                body += [f"N3*{street}", "N4*COLUMBUS*OH*43215"]
            born = (
                date(1960 + family % 30, 1 + family % 12, 1)
                if subscriber
                else date(2010, 1 + person, 2)
            )
            body.append(f"DMG*D8*{born:%Y%m%d}*{'F' if family % 2 else 'M'}")
            if not change:
                body += [f"HD*021**HLT*{plan}*FAM", "DTP*348*D8*20260101"]
                if family % 4 == 0:
                    body += ["HD*021**DEN*DENTAL-BASIC*FAM", "DTP*348*D8*20260101"]
            n += 1
    body.append(f"SE*{len(body) + 1}*0001")
    isa = (
        f"ISA*00*          *00*          *ZZ*{'SPONSOR01':<15}*ZZ*{'PAYER01':<15}*"
        f"{day:%y%m%d}*1200*^*00501*{control:09d}*0*T*:"
    )
    gs = f"GS*BE*SPONSOR01*PAYER01*{d8}*1200*{control}*X*005010X220A1"
    return (
        "~\n".join([isa, gs, *body, f"GE*1*{control}", f"IEA*1*{control:09d}"]) + "~\n"
    ).encode()


def enroll(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """An add file of ``--members`` members applied to a fresh PostgreSQL store, then a change
    file of the same members (addresses, and one family in ten ended the day before), each
    timed from bytes in to the store committed (the claims a change sends back included: none
    here, no claim being stored); members/s against the target."""
    from sqlalchemy import func, select, text

    from claims_engine.services.members import apply_834
    from claims_engine.services.readjustment import readjust
    from claims_engine.services.reference import load_runtime, store_reference
    from claims_engine.store import tables as t
    from claims_engine.store.db import engine_for, upgrade

    schema = f"bench_enroll_834_{uuid.uuid4().hex[:8]}"
    admin = engine_for(args.pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = engine_for(f"{args.pg_url}?options=-csearch_path%3D{schema}")
    try:
        upgrade(engine)
        now = datetime(2026, 12, 1, 8, 0)
        store_reference(engine, REFERENCE, now)
        runtime = load_runtime(engine, RULES)
        plans, sponsors = tuple(runtime.reference.plans), runtime.sponsors
        files = {
            "add": enrollment_834(
                args.members, control=1, day=date(2026, 12, 1), change=False, seed=3
            ),
            "change": enrollment_834(
                args.members, control=2, day=date(2026, 12, 2), change=True, seed=3
            ),
        }
        rows: dict[str, Any] = {}
        for step, (name, data) in enumerate(files.items(), start=1):
            started = time.perf_counter()
            report = apply_834(
                engine,
                data,
                file_name=f"{name}.834",
                now=now + timedelta(hours=step),
                plans=plans,
                sponsors=sponsors,
                readjust=readjust,
            )
            seconds = time.perf_counter() - started
            assert not report.error, report.error
            counts = {k: v for k, v in report.counts.items() if v}
            rows[name] = {
                "members": len(report.members),
                "bytes": len(data),
                "seconds": round(seconds, 3),
                "members_per_s": round(len(report.members) / seconds, 1),
                "outcomes": counts,
            }
            started = time.perf_counter()
            runtime = load_runtime(engine, RULES)
            rows[name]["runtime_reload_s"] = round(time.perf_counter() - started, 3)
        with engine.connect() as conn:
            versions = conn.execute(select(func.count()).select_from(t.enrollment_members_table))
            rows["versions_stored"] = int(versions.scalar_one())
    finally:
        engine.dispose()
        if not args.keep:
            drop_schema(args.pg_url, schema)
    slowest = min(rows["add"]["members_per_s"], rows["change"]["members_per_s"])
    print(
        f"\n834 applied on PostgreSQL, {args.members:,} members "
        f"(target {TARGET_MEMBERS_PER_S:,.0f} members/s)"
    )
    print(f"{'file':<8} {'members':>9} {'seconds':>8} {'members/s':>10} {'reload s':>9}  outcomes")
    for name in ("add", "change"):
        r = rows[name]
        print(
            f"{name:<8} {r['members']:>9,} {r['seconds']:>8.2f} {r['members_per_s']:>10,.0f}"
            f" {r['runtime_reload_s']:>9.2f}  {r['outcomes']}"
        )
    print(f"target met: {slowest >= TARGET_MEMBERS_PER_S}")
    return {
        **rows,
        "target_members_per_s": TARGET_MEMBERS_PER_S,
        "met": slowest >= TARGET_MEMBERS_PER_S,
    }


# name -> the section: (the arguments, a scratch folder) -> its JSON
SECTIONS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "enroll": enroll,
    "inquiry": inquiry,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--only", choices=sorted(SECTIONS), help="run this section alone")
    parser.add_argument("--members", type=int, default=100_000, help="members generated")
    parser.add_argument("--seconds", type=float, default=15.0, help="seconds timed")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--server-workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument("--pool", type=int, default=4000, help="different 270s sent")
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
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_enroll.json")
    args = parser.parse_args(argv)
    for name in ("members", "clients", "server_workers", "pool"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0:
        parser.error("--seconds must be more than 0")
    # the store's processes share keys made for this run (unless the environment names some)
    if "CLAIMS_DATA_KEYS" not in os.environ:
        os.environ.update(fresh_key_variables("bench"))

    try:
        previous = json.loads(args.json.read_text(encoding="utf-8"))
        sections: dict[str, Any] = dict(previous.get("sections", {}))
    except (OSError, ValueError, AttributeError):
        sections = {}
    chosen = [args.only] if args.only else list(SECTIONS)
    with tempfile.TemporaryDirectory(prefix="bench-enroll-") as tmp:
        for name in chosen:
            work = Path(tmp) / name
            work.mkdir()
            sections[name] = {
                **SECTIONS[name](args, work),
                "ran_at": datetime.now().isoformat(timespec="seconds"),
            }
    result = {
        "benchmark": "bench_enroll",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sections": sections,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
