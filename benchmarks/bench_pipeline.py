"""End-to-end pipeline throughput: 837 submitted to 835 written, on PostgreSQL + Redis and SQLite.

    .venv/bin/python benchmarks/bench_pipeline.py [--claims 100000] [--workers 1,2,4] [--files 10]

1. generates ``--claims`` claims as ``--files`` 837 interchanges (distinct seeds, so distinct
   ISA13s: the engine answers a reused one as a duplicate), outside the timed part;
2. PostgreSQL + Redis, once for each worker count W: a fresh schema and an emptied Redis db
   (``--redis-url``, db 14 by default: refused when another user's keys are in it),
   ``claims-engine db upgrade`` and ``reference load``, ``claims-engine worker --processes W
   --threads 1`` started and ready; then, timed: the files submitted (the ``submit`` command's
   code in this process: store and enqueue each file), the store polled every 0.2 s until no
   interchange is ``received`` and no claim ``accepted``, and the payment cycle (``remit``);
3. embedded SQLite: the same files through ``submit`` without Redis (the actors run in the
   submitting process on dramatiq's StubBroker, one thread), then ``remit``, in a child process;
4. reports claims/s end to end (claims accepted at intake / seconds from submit to the last 835),
   p50 / p99 of the time from submit to adjudication per claim, rows written per second (rows in
   the store's claim tables at the end / seconds), the ratio to the target of 1,000 claims/s, and
   where the time went (submit, intake, adjudication, remit).

Latency is the adjudication event's ``at`` minus the interchange's ``received_at``; both come
from the engine's clock, which has whole seconds, so p50 / p99 are whole seconds too.

Prints two tables and writes JSON to ``benchmarks/results/bench_pipeline.json``. Schemas and the
Redis db are removed at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, and_, select, text
from sqlalchemy.exc import SQLAlchemyError

from claims_engine.observability.logs import WORKER_READY
from claims_engine.store.vault import fresh_key_variables

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = ROOT / "fixtures" / "reference"
RULES = ROOT / "rules"
TARGET = 1_000.0  # claims/s end to end on PostgreSQL + Redis
POLL_SECONDS = 0.2
READY_TIMEOUT = 90.0  # worker processes booted
STALL_TIMEOUT = 300.0  # no claim decided, no interchange ingested for this long: give up
MIX = {"P": 70, "I": 20, "D": 10}  # the mix of `claims-engine fixtures generate`
ROW_TABLES = (
    "claims",
    "claim_lines",
    "claim_events",
    "adjudications",
    "adjustments",
    "services",
    "accumulators",
    "acknowledgments",
    "remittances",
    "remittance_claims",
)
REDIS_MARKER = "bench-pipeline:owner"  # in the Redis db while a run uses it
ENGINE_CPU = ("workers_s", "submit_remit_poll_s", "process_s")  # keys of a run's "cpu"


class Failure(Exception):
    """A failure of the benchmark, reported as one line."""


# -- inputs ---------------------------------------------------------------------------------------


def generate_files(out_dir: Path, claims: int, files: int, seed: int) -> list[Path]:
    """``claims`` claims in ``files`` interchanges of near-equal size, ISA13s checked distinct."""
    from claims_engine.cli.demo import renumber
    from claims_engine.cli.fixtures_commands import generate_file
    from claims_engine.runtime.clock import now
    from claims_engine.x12.envelope_walk import read_header

    created = now()
    paths: list[Path] = []
    controls: set[str] = set()
    for k in range(files):
        count = claims // files + (1 if k < claims % files else 0)
        path = out_dir / f"batch-{k + 1:03d}.837"
        generate_file(
            path,
            claims=count,
            seed=seed + k,
            mix=MIX,
            delimiters=("*", "^", ":", "~"),
            as_of=created.date(),
            created=created,
            reference=REFERENCE,
        )
        raw = path.read_bytes()
        control = read_header(raw, path.name).control
        if control in controls:  # never with distinct seeds today; renumber if it happens
            fresh = 900_000_000 + k
            path.write_bytes(renumber(raw, fresh))
            control = read_header(path.read_bytes(), path.name).control
            if control in controls:
                raise Failure(f"{path.name}: cannot give it an ISA13 of its own")
        controls.add(control)
        paths.append(path)
    return paths


# -- services -------------------------------------------------------------------------------------


def schema_url(base: str, schema: str) -> str:
    """The database URL on ``schema``; its connections carry the schema's name as their
    application_name, so their server processes can be found for their CPU time."""
    glue = "&" if "?" in base else "?"
    return f"{base}{glue}options=-csearch_path%3D{schema}&application_name={schema}"


def backend_cpu(admin: Engine, schema: str) -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL server processes serving ``schema``'s connections
    (when the server runs on this machine; none otherwise)."""
    with admin.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": schema},
        ).scalars()
        return {int(pid): process_cpu(int(pid)) for pid in pids}


def redis_cpu(client: Any) -> float:
    """CPU seconds of the Redis server so far (all its clients', not only ours)."""
    info = client.info("cpu")
    return float(info.get("used_cpu_user", 0.0)) + float(info.get("used_cpu_sys", 0.0))


def first_line(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip()
    return detail.splitlines()[0] if detail else type(exc).__name__


def admin_engine(url: str) -> Engine:
    from claims_engine.store.db import engine_for

    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise Failure(f"PostgreSQL at {url} is not reachable: {first_line(exc)}") from None
    return engine


def redis_client(url: str) -> Any:
    """A client of the Redis db in ``url``, which must be empty or this benchmark's: holding
    its marker key. (Other users' dramatiq keys look like ours, so only the marker tells.)"""
    import redis

    try:
        client: Any = redis.Redis.from_url(url, socket_connect_timeout=3)
        client.ping()
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        keys = int(client.dbsize())
        ours = bool(client.exists(REDIS_MARKER))
        sample = next(iter(client.scan_iter(count=100)), b"") if keys and not ours else b""
    except (redis.RedisError, ValueError) as exc:
        raise Failure(f"Redis at {url} is not reachable: {first_line(exc)}") from None
    if keys and not ours:
        raise Failure(
            f"Redis db {db} at {url} is in use ({keys} keys, e.g. {sample!r}), and not by this "
            "benchmark: pick an empty db with --redis-url redis://HOST:PORT/DB"
        )
    return client


def claim_redis_db(client: Any) -> None:
    """Empty the (checked) db and mark it as this benchmark's until the cleanup."""
    client.flushdb()
    client.set(REDIS_MARKER, "benchmarks/bench_pipeline.py")


def cli(args: Sequence[str], env: dict[str, str], what: str) -> str:
    """Run ``claims-engine ARGS``; its stdout, or a one-line failure naming ``what``."""
    proc = subprocess.run(
        [sys.executable, "-m", "claims_engine.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise Failure(f"{what} failed (exit {proc.returncode}): {lines[-1] if lines else ''}")
    return proc.stdout


# Keys made for this run alone: the runs with encryption on seal PHI as a deployment would.
_RUN_KEYS = fresh_key_variables("bench")


def base_env(database_url: str, redis_url: str | None, encryption: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = database_url
    env["CLAIMS_RULES_DIR"] = str(RULES)
    if encryption:
        env.update(_RUN_KEYS)
    else:
        env["CLAIMS_ENCRYPTION"] = "off"
    if redis_url:
        env["CLAIMS_REDIS_URL"] = redis_url
    return env


def command(argv: Sequence[str], *, strict: bool = False) -> str:
    """Run ``claims-engine ARGV`` in this process, through the CLI's own parser (so options
    added later get their defaults); its stdout. A non-zero exit, or with ``strict`` any line
    on stderr, is a one-line failure."""
    from claims_engine.cli.main import build_parser
    from claims_engine.domain.errors import ClaimsEngineError

    what = f"claims-engine {argv[0]}"
    err = io.StringIO()
    try:
        args = build_parser().parse_args(argv)
        out = io.StringIO()
        code = args.func(args, out, err)
    except SystemExit:  # the parser refused the arguments
        raise Failure(f"{what}: the command no longer takes {' '.join(argv)!r}") from None
    except ClaimsEngineError as exc:
        raise Failure(f"{what}: {exc}") from None
    problem = err.getvalue().strip()
    if code != 0 or (strict and problem):
        raise Failure(f"{what}: {(problem or f'exit {code}').splitlines()[0]}")
    return out.getvalue()


def set_claims_environ(env: dict[str, str]) -> None:
    """Make this process's CLAIMS_* variables those of ``env``."""
    for key in [k for k in os.environ if k.startswith("CLAIMS_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("CLAIMS_")})


def prepare_store(env: dict[str, str]) -> None:
    cli(["db", "upgrade"], env, "claims-engine db upgrade")
    cli(["reference", "load", str(REFERENCE)], env, "claims-engine reference load")


# -- the workers ----------------------------------------------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """CPU seconds of the whole machine so far, (busy, all cores), from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            ticks = [int(v) for v in fh.readline().split()[1:9]]
    except OSError:
        return 0.0, 0.0
    hz = os.sysconf("SC_CLK_TCK")
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def own_cpu() -> float:
    """CPU seconds of this process and of its children that have been waited for (such as
    the processes a payment cycle may run payees in)."""
    return sum(
        u.ru_utime + u.ru_stime
        for u in (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
    )


def children_peak_rss_mb() -> float:
    """The largest peak RSS of any child of this process waited for so far."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(
    machine: Sequence[tuple[float, float]], wall: float, parts: dict[str, float]
) -> dict[str, float]:
    """Where the machine's CPU went during ``wall`` seconds: ``parts`` (CPU seconds of known
    processes), the rest (anything else running), and the share busy, over the run and in its
    two phases; ``machine`` has :func:`machine_cpu` at the start, at the last adjudication and
    at the end."""

    def share(a: tuple[float, float], b: tuple[float, float]) -> float:
        total = b[1] - a[1]
        return (b[0] - a[0]) / total if total else 0.0

    start, adjudicated, end = machine
    busy = end[0] - start[0]
    split = dict(parts)
    split["pipeline_s"] = sum(parts.values())
    split["rest_s"] = max(0.0, busy - sum(parts.values()))
    split["busy_s"] = busy
    split["busy_share"] = share(start, end)
    split["busy_share_to_adjudicated"] = share(start, adjudicated)
    split["busy_share_remit"] = share(adjudicated, end)
    split["wall_s"] = wall
    return split


def reset_peak_rss() -> None:
    """Start this process's VmHWM afresh (Linux: 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak resident memory of a process (VmHWM), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def group_members(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (zombies left out), from /proc."""
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerPool:
    """``claims-engine worker`` in a process group of its own, its output in a log file."""

    def __init__(self, processes: int, env: dict[str, str], log: Path) -> None:
        self.processes = processes
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "claims_engine.cli.main",
                "worker",
                "--processes",
                str(processes),
                "--threads",
                "1",
                "--metrics-port",  # served, as deployed, on a port no other run holds
                str(free_port()),
            ],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.children: list[int] = []

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 3) -> str:
        last = [ln.strip() for ln in self.log_text().splitlines() if ln.strip()][-lines:]
        return " | ".join(last) or "(no output)"

    def check(self) -> None:
        """Fail when the worker, or one of its processes, has died."""
        code = self.proc.poll()
        if code is not None:
            raise Failure(f"the worker exited (code {code}): {self.tail()}")
        gone = [pid for pid in self.children if vm_hwm_mb(pid) is None or _zombie(pid)]
        if gone:
            raise Failure(f"worker process {gone[0]} died: {self.tail()}")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while self.log_text().count(WORKER_READY) < self.processes:
            self.check()
            if time.monotonic() > deadline:
                raise Failure(
                    f"the worker's {self.processes} processes were not ready in "
                    f"{READY_TIMEOUT:.0f} s: {self.tail()}"
                )
            time.sleep(0.1)
        self.children = [p for p in group_members(self.proc.pid) if p != self.proc.pid]
        # Each process sweeps the (empty) store as it boots; let that finish before the clock
        # starts, or a late sweep would send the first interchanges a second time.
        time.sleep(1.0)

    def cpu_seconds(self) -> float:
        return sum(process_cpu(p) for p in self.children)

    def peak_rss_mb(self) -> float:
        return max((vm_hwm_mb(p) or 0.0 for p in self.children), default=0.0)

    def stop(self) -> None:
        """SIGTERM to the worker's process group (its own: started in a new session), then
        SIGKILL to whatever of the group is left after 20 s."""
        pgid = self.proc.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while group_members(pgid) and time.monotonic() < deadline:
            self.proc.poll()  # reap the worker's main process once it exits
            time.sleep(0.1)
        if group_members(pgid):
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"


# -- measuring the store --------------------------------------------------------------------------


def waiting(engine: Engine) -> tuple[int, int, int]:
    """Interchanges still ``received``, claims still ``accepted``, claims decided."""
    with engine.connect() as conn:
        received = conn.execute(
            text("SELECT count(*) FROM interchanges WHERE state = 'received'")
        ).scalar_one()
        accepted = conn.execute(
            text("SELECT count(*) FROM claims WHERE state = 'accepted'")
        ).scalar_one()
        decided = conn.execute(
            text("SELECT count(*) FROM claims WHERE state IN ('adjudicated', 'pended', 'remitted')")
        ).scalar_one()
    return int(received), int(accepted), int(decided)


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in ROW_TABLES
        }


def claim_states(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM claims GROUP BY state")).all()
    return {str(state): int(n) for state, n in rows}


def latencies(engine: Engine) -> list[float]:
    """Seconds from the interchange's receipt to each claim's adjudication (adjudicated or
    pended by the adjudication actor)."""
    from claims_engine.store.tables import ClaimEventRow, ClaimRow, InterchangeRow

    e = ClaimEventRow.__table__.c  # type: ignore[attr-defined]
    c = ClaimRow.__table__.c  # type: ignore[attr-defined]
    i = InterchangeRow.__table__.c  # type: ignore[attr-defined]
    query = (
        select(e.at, i.received_at)
        .select_from(
            ClaimEventRow.__table__.join(  # type: ignore[attr-defined]
                ClaimRow.__table__,  # type: ignore[attr-defined]
                c.id == e.claim_id,
            ).join(InterchangeRow.__table__, i.id == c.interchange_id)  # type: ignore[attr-defined]
        )
        .where(and_(e.from_state == "accepted", e.to_state.in_(("adjudicated", "pended"))))
    )
    with engine.connect() as conn:
        rows: list[tuple[datetime, datetime]] = [(r[0], r[1]) for r in conn.execute(query)]
    return sorted((at - received).total_seconds() for at, received in rows)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted ``values``."""
    if not values:
        return None
    return values[max(0, math.ceil(q * len(values)) - 1)]


def summarize(
    engine: Engine, timings: dict[str, float | None], submitted: int, interchanges: int
) -> dict[str, Any]:
    total = timings["total_s"]
    assert total is not None
    rows = row_counts(engine)
    states = claim_states(engine)
    lat = latencies(engine)
    accepted = sum(n for s, n in states.items() if s not in ("rejected", "received"))
    if not accepted:
        raise Failure(f"no claim was accepted at intake (claims by state: {states})")
    return {
        **timings,
        "interchanges": interchanges,
        "claims": submitted,
        "claims_accepted": accepted,
        "claim_states": states,
        "claims_per_s": accepted / total,
        "latency_s": {
            "resolution_s": 1,
            "decided": len(lat),
            "p50": percentile(lat, 0.50),
            "p99": percentile(lat, 0.99),
            "max": lat[-1] if lat else None,
        },
        "rows": rows,
        "rows_total": sum(rows.values()),
        "rows_per_s": sum(rows.values()) / total,
        "vs_target": accepted / total / TARGET,
    }


# -- PostgreSQL + Redis ---------------------------------------------------------------------------


def run_postgres(
    args: argparse.Namespace,
    files: list[Path],
    processes: int,
    work: Path,
    submitted: int,
    encryption: bool = True,
) -> dict[str, Any]:
    from claims_engine.store.db import engine_for
    from workers.settings import Environment, Settings, use_environment

    admin = admin_engine(args.pg_url)
    client = redis_client(args.redis_url)
    claim_redis_db(client)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(args.pg_url, schema)
    env = base_env(url, args.redis_url, encryption)
    out = work / f"pg-w{processes}-{'sealed' if encryption else 'plain'}"
    out.mkdir()
    engine = engine_for(url)
    pool: WorkerPool | None = None
    saved = {k: v for k, v in os.environ.items() if k.startswith("CLAIMS_")}
    here: Environment | None = None
    try:
        prepare_store(env)
        pool = WorkerPool(processes, env, out / "worker.log")
        pool.wait_ready()
        # `submit` and `remit` below run in this process, on this schema and Redis db: set in
        # the variables the commands read, and in the process's worker environment.
        set_claims_environ(env)
        here = Environment(Settings.from_env())
        use_environment(here)
        importlib.import_module("workers.actors")  # bound to Redis before the clock starts

        machine0, workers0, own0 = machine_cpu(), pool.cpu_seconds(), own_cpu()
        postgres0, redis0 = backend_cpu(admin, schema), redis_cpu(client)
        started = time.perf_counter()
        submitted_json = command(["submit", "--json", *map(str, files)], strict=True)
        submit_done = time.perf_counter()
        results = json.loads(submitted_json)["submitted"]
        duplicates = [r["file"] for r in results if r["duplicate"]]
        if duplicates:
            raise Failure(f"submit: {duplicates[0]} was answered as a duplicate (TA1 025)")

        intake_done: float | None = None
        last_progress, last_state = time.perf_counter(), (-1, -1, -1)
        while True:
            pool.check()
            try:
                state = waiting(engine)
            except SQLAlchemyError as exc:
                raise Failure(f"PostgreSQL while polling: {first_line(exc)}") from None
            now = time.perf_counter()
            if state[0] == 0 and intake_done is None:
                intake_done = now
            if state[0] == 0 and state[1] == 0:
                break
            if state != last_state:
                last_progress, last_state = now, state
            elif now - last_progress > STALL_TIMEOUT:
                raise Failure(
                    f"no progress for {STALL_TIMEOUT:.0f} s ({state[0]} interchanges received, "
                    f"{state[1]} claims accepted): {pool.tail()}"
                )
            time.sleep(POLL_SECONDS)
        adjudicated = time.perf_counter()
        machine_adjudicated = machine_cpu()
        reset_peak_rss()
        remit_json = command(["remit", "--out", str(out / "835"), "--json"])
        finished = time.perf_counter()
        machine1, workers1, own1 = machine_cpu(), pool.cpu_seconds(), own_cpu()
        postgres1, redis1 = backend_cpu(admin, schema), redis_cpu(client)
        remit_rss = max(vm_hwm_mb() or 0.0, children_peak_rss_mb())
        remits = json.loads(remit_json)["remittances"]
        pool.check()
        rss = pool.peak_rss_mb()
        log = pool.log_text()
        timings: dict[str, float | None] = {
            "total_s": finished - started,
            "submit_s": submit_done - started,
            "intake_done_s": (intake_done or adjudicated) - started,
            "adjudicated_s": adjudicated - started,
            "remit_s": finished - adjudicated,
        }
        result = summarize(engine, timings, submitted, len(results))
        result.update(
            {
                "mode": "postgresql+redis",
                "workers": processes,
                "schema": schema,
                "remittance_files": len(remits),
                "remitted_claims": sum(int(r["claims"]) for r in remits),
                "worker_peak_rss_mb": rss,
                "remit_peak_rss_mb": remit_rss,
                "cpu": cpu_split(
                    (machine0, machine_adjudicated, machine1),
                    finished - started,
                    {
                        "workers_s": workers1 - workers0,
                        "submit_remit_poll_s": own1 - own0,
                        "postgresql_s": sum(
                            cpu - postgres0.get(pid, 0.0) for pid, cpu in postgres1.items()
                        ),
                        "redis_s": redis1 - redis0,
                    },
                ),
                "worker_log": {
                    "sweeps_resent": log.count("sweep: sent again"),
                    "retries": log.count("Retrying message"),
                    "failures": log.count("Failed to process message"),
                    "given_up": log.count("Retries exceeded"),
                },
            }
        )
        return result
    finally:
        if pool is not None:
            pool.stop()
        set_claims_environ(saved)
        if here is not None:
            here.dispose()
        engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            client.flushdb()
        admin.dispose()
        client.close()


# -- embedded SQLite ------------------------------------------------------------------------------


def child_sqlite(out: Path, files: list[Path]) -> dict[str, Any]:
    """In a fresh interpreter with CLAIMS_DATABASE_URL set and no CLAIMS_REDIS_URL: the
    ``submit`` command (actors in this process) and the ``remit`` command, timed."""
    from workers import actors  # noqa: F401 - the StubBroker, bound before the clock starts

    reset_peak_rss()
    machine0, own0 = machine_cpu(), own_cpu()
    started = time.perf_counter()
    submitted_json = command(["submit", "--json", *map(str, files)], strict=True)
    adjudicated = time.perf_counter()
    machine_adjudicated = machine_cpu()
    peak_rss = vm_hwm_mb()
    reset_peak_rss()
    remit_json = command(["remit", "--out", str(out), "--json"])
    finished = time.perf_counter()
    machine1, own1 = machine_cpu(), own_cpu()
    return {
        "cpu": cpu_split(
            (machine0, machine_adjudicated, machine1),
            finished - started,
            {"process_s": own1 - own0},
        ),
        "submitted": json.loads(submitted_json)["submitted"],
        "remittances": json.loads(remit_json)["remittances"],
        "started": started,
        "adjudicated": adjudicated,
        "finished": finished,
        "peak_rss_mb": peak_rss,
        "remit_peak_rss_mb": max(vm_hwm_mb() or 0.0, children_peak_rss_mb()),
    }


def run_sqlite(
    files: list[Path], work: Path, submitted: int, encryption: bool = True
) -> dict[str, Any]:
    from claims_engine.store.db import engine_for

    out = work / f"sqlite-{'sealed' if encryption else 'plain'}"
    out.mkdir()
    url = f"sqlite:///{out / 'claims.db'}"
    env = base_env(url, None, encryption)
    prepare_store(env)
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child-sqlite",
            str(out / "835"),
            *[str(f) for f in files],
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise Failure(f"embedded SQLite run failed: {lines[-1] if lines else proc.returncode}")
    child: dict[str, Any] = json.loads(proc.stdout)
    duplicates = [r["file"] for r in child["submitted"] if r["duplicate"]]
    if duplicates:
        raise Failure(f"embedded submit: {duplicates[0]} was answered as a duplicate (TA1 025)")
    timings: dict[str, float | None] = {
        "total_s": child["finished"] - child["started"],
        "submit_s": None,  # submit stores and then works its messages: one step
        "intake_done_s": None,
        "adjudicated_s": child["adjudicated"] - child["started"],
        "remit_s": child["finished"] - child["adjudicated"],
    }
    engine = engine_for(url)
    try:
        result = summarize(engine, timings, submitted, len(child["submitted"]))
    finally:
        engine.dispose()
    result.update(
        {
            "mode": "sqlite (embedded)",
            "workers": "in-process",
            "remittance_files": len(child["remittances"]),
            "remitted_claims": sum(int(r["claims"]) for r in child["remittances"]),
            "peak_rss_mb": child["peak_rss_mb"],
            "remit_peak_rss_mb": child["remit_peak_rss_mb"],
            "cpu": child["cpu"],
        }
    )
    return result


# -- report ---------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _whole(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def print_table(header: Sequence[str], rows: list[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print(
            "  ".join(
                str(v).rjust(w) if i else str(v).ljust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )


LEGEND = """\
claims: accepted at intake. seconds: from submit to the last 835 written. p50 / p99: from
  submit to each claim's adjudication, in whole seconds (the engine's clock has no finer).
rows/s: rows in the claim tables at the end / seconds. vs target: claims/s / {target:,.0f}.
submit / intake / adjudicated: seconds from the start until submit returned, no interchange
  was left to ingest, no claim was left to adjudicate; remit: the payment cycle after that.
CPU busy: the whole machine's share busy, until the last adjudication / during remit.
engine CPU: the worker processes and the submitting process (submit, polls, remit);
  PG CPU: the PostgreSQL server processes of the run's connections open at the end (those
  closed before, e.g. of a remit in processes of its own, are missed); other CPU: the rest of
  the machine (other users' work included). claims/CPU s: claims per CPU second of engine,
  PostgreSQL and Redis, which other work on the machine does not skew much.
RSS: peak of one worker process (in-process: the submitting process, until the last
  adjudication); remit RSS: peak of the process running the payment cycle, during it, or
  of any process it ran (the largest of this benchmark's child processes so far)."""


def encryption_costs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each mode and W run both ways: throughput with PHI sealed over throughput without."""
    found = []
    for on in runs:
        if on.get("encryption") != "on":
            continue
        off = next(
            (
                r
                for r in runs
                if r.get("encryption") == "off"
                and r["mode"] == on["mode"]
                and r["workers"] == on["workers"]
            ),
            None,
        )
        if off is not None:
            ratio = on["claims_per_s"] / off["claims_per_s"]
            found.append(
                {
                    "mode": on["mode"],
                    "workers": on["workers"],
                    "claims_per_s_on": on["claims_per_s"],
                    "claims_per_s_off": off["claims_per_s"],
                    "ratio_on_to_off": ratio,
                    "cost": 1 - ratio,
                }
            )
    return found


def report(runs: list[dict[str, Any]]) -> None:
    print_table(
        (
            "mode",
            "W",
            "PHI sealed",
            "claims",
            "seconds",
            "claims/s",
            "p50 s",
            "p99 s",
            "rows/s",
            "vs target",
        ),
        [
            (
                r["mode"],
                str(r["workers"]),
                r.get("encryption", "on"),
                f"{r['claims_accepted']:,}",
                f"{r['total_s']:,.1f}",
                f"{r['claims_per_s']:,.0f}",
                _whole(r["latency_s"]["p50"]),
                _whole(r["latency_s"]["p99"]),
                f"{r['rows_per_s']:,.0f}",
                f"{r['vs_target']:.2f}x",
            )
            for r in runs
        ],
    )
    costs = encryption_costs(runs)
    if costs:
        print()
        print_table(
            ("PHI sealed at rest", "W", "claims/s on", "claims/s off", "on / off", "cost"),
            [
                (
                    c["mode"],
                    str(c["workers"]),
                    f"{c['claims_per_s_on']:,.0f}",
                    f"{c['claims_per_s_off']:,.0f}",
                    f"{c['ratio_on_to_off']:.3f}",
                    f"{c['cost']:.1%}",
                )
                for c in costs
            ],
        )
    print()
    header = (
        "where the time went",
        "W",
        "submit s",
        "intake s",
        "adjudicated s",
        "remit s",
        "CPU busy",
        "engine CPU s",
        "PG CPU s",
        "other CPU s",
        "claims/CPU s",
        "RSS MB",
        "remit RSS MB",
    )
    print_table(
        header,
        [
            (
                r["mode"],
                str(r["workers"]),
                _seconds(r["submit_s"]),
                _seconds(r["intake_done_s"]),
                _seconds(r["adjudicated_s"]),
                _seconds(r["remit_s"]),
                f"{r['cpu']['busy_share_to_adjudicated']:.0%} / {r['cpu']['busy_share_remit']:.0%}",
                _seconds(sum(v for k, v in r["cpu"].items() if k in ENGINE_CPU)),
                _seconds(r["cpu"].get("postgresql_s")),
                _seconds(r["cpu"]["rest_s"]),
                _whole(r["claims_accepted"] / r["cpu"]["pipeline_s"]),
                _whole(r.get("worker_peak_rss_mb", r.get("peak_rss_mb"))),
                _whole(r.get("remit_peak_rss_mb")),
            )
            for r in runs
        ],
    )
    print(LEGEND.format(target=TARGET))
    for r in runs:
        problems = r.get("worker_log", {})
        if any(problems.values()):
            print(f"worker log, W={r['workers']}: {problems}")
        decided = r["latency_s"]["decided"]
        if decided != r["claims_accepted"]:
            print(f"{r['mode']} W={r['workers']}: {decided} decided of {r['claims_accepted']}")


def parse_workers(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: worker counts like 1,2,4") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: worker counts of at least 1")
    return counts


def git(*args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


@contextmanager
def work_dir(keep: bool) -> Iterator[Path]:
    if keep:
        yield Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        return
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        yield Path(tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--workers", type=parse_workers, default=[1, 2, 4], metavar="W,W,...")
    parser.add_argument("--files", type=int, default=10, help="interchanges the claims are in")
    parser.add_argument("--seed", type=int, default=31, help="seed of the first file (+1 each)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep schemas, Redis db and files")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/14",
        help="a Redis db for this benchmark alone: it is flushed (default db 14)",
    )
    parser.add_argument(
        "--encryption",
        choices=["on", "off", "both"],
        default="both",
        help="PHI sealed at rest (on), not (off), or each in turn to measure its cost (both)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS / "bench_pipeline.json")
    parser.add_argument("--child-sqlite", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files_", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_sqlite:
        try:
            json.dump(child_sqlite(args.child_sqlite, args.files_), sys.stdout)
        except Failure as exc:
            print(f"bench_pipeline: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.files_:
        parser.error(f"unrecognized arguments: {' '.join(map(str, args.files_))}")
    if args.claims < 1 or args.files < 1 or args.files > args.claims:
        parser.error("--claims and --files must be at least 1, with no more files than claims")
    if not urlsplit(args.redis_url).path.strip("/"):
        parser.error("--redis-url needs a db number (redis://HOST:PORT/DB): that db is flushed")

    commit = git("rev-parse", "HEAD")
    dirty = bool(
        git("status", "--porcelain", "--untracked-files=no", "--", "claims_engine", "workers")
    )
    runs: list[dict[str, Any]] = []
    try:
        if not args.skip_postgres:  # fail now, not after generating
            admin_engine(args.pg_url).dispose()
            redis_client(args.redis_url).close()
        with work_dir(args.keep) as work:
            started = time.perf_counter()
            files = generate_files(work, args.claims, args.files, args.seed)
            generated = time.perf_counter() - started
            print(
                f"generated {args.claims:,} claims in {len(files)} interchanges "
                f"({sum(f.stat().st_size for f in files) / 1e6:.1f} MB) in {generated:.1f} s",
                flush=True,
            )
            modes = {"on": [True], "off": [False], "both": [True, False]}[args.encryption]
            if not args.skip_postgres:
                for w in args.workers:
                    for sealed in modes:
                        runs.append(run_postgres(args, files, w, work, args.claims, sealed))
                        r = runs[-1]
                        r["encryption"] = "on" if sealed else "off"
                        print(
                            f"postgresql+redis W={w} encryption {r['encryption']}: "
                            f"{r['claims_per_s']:,.0f} claims/s ({r['total_s']:.1f} s)",
                            flush=True,
                        )
            if not args.skip_sqlite:
                for sealed in modes:
                    runs.append(run_sqlite(files, work, args.claims, sealed))
                    runs[-1]["encryption"] = "on" if sealed else "off"
                    print(
                        f"sqlite encryption {runs[-1]['encryption']}: "
                        f"{runs[-1]['claims_per_s']:,.0f} claims/s",
                        flush=True,
                    )
            if args.keep:
                print(f"kept the files in {work}")
    except Failure as exc:
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_pipeline: interrupted", file=sys.stderr)
        return 130
    if not runs:
        print("bench_pipeline: nothing to run (--skip-postgres and --skip-sqlite)", file=sys.stderr)
        return 1
    print()
    report(runs)
    if git("rev-parse", "HEAD") != commit:
        print(f"note: the checkout moved from {commit[:12]} during the run; the runs may differ")
    results = {
        "commit": commit,
        "uncommitted_changes": dirty,  # in claims_engine/ or workers/, at the start
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "claims": args.claims,
        "files": args.files,
        "seed": args.seed,
        "target_claims_per_s": TARGET,
        "generate_seconds": generated,
        "runs": runs,
        "encryption_cost": encryption_costs(runs),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
