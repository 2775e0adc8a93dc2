"""The pipeline's commands: ``submit``, ``worker``, ``stats``, ``remit``, ``status``, ``acks``,
``remittances`` and ``reference load`` into the store.

The store is ``CLAIMS_DATABASE_URL`` (default SQLite ``var/claims.db``), the broker
``CLAIMS_REDIS_URL``. Without Redis, ``submit`` runs the workers in this process (dramatiq's
StubBroker with a Worker) until its files are adjudicated; with Redis it stores and enqueues,
and ``claims-engine worker`` processes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.runtime import clock
from claims_engine.store.db import MIGRATIONS, check_lookup_key, current_version

EXIT_OK = 0
EXIT_INPUT = 1
PARALLEL_REMIT_MIN = 5000  # decisions to pay before a payment cycle is split over processes
MAX_ROW_ID = 2**63 - 1  # the largest id a row can have (BIGINT; SQLite's INTEGER)


def _where(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """Database failures as one line that names the database, never a traceback."""
    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigurationError(f"database {_where(engine)}: {detail}") from None


def _redis_errors() -> Any:
    from redis.exceptions import RedisError

    return RedisError


def environment_from_vars() -> Any:
    """The process's worker environment, rebuilt when the variables changed since it was made
    (a long-lived process, or tests, running several commands)."""
    from claims_engine.store.vault import use_vault
    from workers.settings import Environment, Settings, environment, use_environment

    settings = Settings.from_env()
    if environment().settings != settings:
        use_environment(Environment(settings))
    current = environment()
    use_vault(current.vault)  # the keys its store is sealed with, whatever was in use before
    return current


def store_engine(*, check_schema: bool = True) -> Engine:
    """The store's engine from the environment; refuses a schema older than the engine's, and
    keys whose lookups are not the ones the store was made with (before anything is written
    with them)."""
    env = environment_from_vars()
    engine: Engine = env.engine
    if check_schema:
        with database_errors(engine):
            version = current_version(engine)
        if version < len(MIGRATIONS):
            raise ConfigurationError(
                f"the database {_where(engine)} has schema version {version}, the engine needs "
                f"{len(MIGRATIONS)}: run `claims-engine db upgrade`"
            )
        with database_errors(engine), engine.connect() as conn:
            check_lookup_key(conn, env.vault)
    return engine


def _writable(folder: Path) -> None:
    """Refuse, before anything is done, an output folder that cannot be written."""
    if folder.exists() and not folder.is_dir():
        raise InputFileError(f"--out {folder} is not a directory: --out must be a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".claims-engine-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputFileError(f"cannot write into {folder}: {exc.strerror or exc}") from None


def cmd_reference_load(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.reference import check_reference, store_reference

    ref, _ = check_reference(args.directory)  # with --check too: every check the load makes
    summary: dict[str, Any] = {
        "members": len(ref.members),
        "families": len(ref.families),
        "providers": len(ref.providers),
        "plans": {pid: len(p.versions) for pid, p in sorted(ref.plans.items())},
        "fee_schedule_procedures": len(ref.fees.entries),
        "revenue_codes": len(ref.revenue_rates.rates),
        "authorizations": sum(len(a) for a in ref.authorizations.values()),
        "pend_reasons": len(ref.pend_reasons.reasons),
    }
    if not args.check:
        engine = store_engine()
        with database_errors(engine):
            stored = store_reference(engine, args.directory, clock.now())
        summary["reference_set"] = stored.id
        summary["sha256"] = stored.sha256
        summary["new"] = stored.created
        if stored.members is not None:
            summary["enrollment"] = {
                "added": stored.members.added,
                "changed": stored.members.changed,
                "left_to_834s": stored.members.left,
            }
    if args.json:
        json.dump(summary, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    stdout.write(f"reference data in {args.directory} is valid:\n")
    for key, value in summary.items():
        if key not in ("reference_set", "sha256", "new", "enrollment"):
            stdout.write(f"  {key:24} {value}\n")
    if not args.check:
        state = "stored" if summary["new"] else "already stored"
        stdout.write(
            f"reference set {summary['reference_set']} {state} (sha256 {summary['sha256'][:12]})\n"
        )
        imported = summary.get("enrollment")
        if imported:
            stdout.write(
                f"members.csv into the enrollment: {imported['added']} added, "
                f"{imported['changed']} changed, "
                f"{imported['left_to_834s']} left as 834s keep them\n"
            )
    return EXIT_OK


def cmd_submit(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.intake import submit
    from workers import actors
    from workers.inprocess import drain

    engine = store_engine()
    env = environment_from_vars()
    if env.settings.redis_url is None:
        env.runtime()  # no reference data: say so now, before anything is stored
        with database_errors(engine):
            # in-process, nobody else sweeps: queue the work an interrupted run left undone,
            # before this run's files are stored (swept after, they would be worked twice)
            actors.sweep(None)
    results: list[dict[str, Any]] = []
    failures = 0
    now = clock.now()
    for path in args.files:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            stderr.write(f"claims-engine: {path}: cannot read: {exc.strerror or exc}\n")
            failures += 1
            continue
        try:
            with database_errors(engine):
                sub = submit(engine, raw, str(path), now)
        except InputFileError as exc:
            stderr.write(f"claims-engine: {exc}\n")
            failures += 1
            continue
        if not sub.duplicate:
            try:
                actors.ingest_interchange.send(sub.interchange_id)
            except _redis_errors() as exc:  # stored: the workers' sweep will find it
                stderr.write(
                    f"claims-engine: {path}: stored as interchange {sub.interchange_id}, "
                    f"but not queued (Redis: {exc}); a worker will pick it up when it starts\n"
                )
        results.append(
            {
                "file": str(path),
                "interchange_id": sub.interchange_id,
                "sender": sub.sender_id,
                "control_number": sub.control_number,
                "sha256": sub.sha256,
                "duplicate": sub.duplicate,
                "ta1": sub.ta1 or None,
            }
        )
    if env.settings.redis_url is None:
        with database_errors(engine):
            drain(actors.broker, threads=args.threads)
    if args.json:
        json.dump({"submitted": results}, stdout, indent=2)
        stdout.write("\n")
    else:
        for r in results:
            if r["duplicate"]:
                stdout.write(
                    f"{r['file']}: duplicate of interchange {r['interchange_id']} "
                    f"(sender {r['sender']}, ISA13 {r['control_number']}): TA1 025, not processed\n"
                )
            else:
                stdout.write(
                    f"{r['file']}: interchange {r['interchange_id']} "
                    f"(sender {r['sender']}, ISA13 {r['control_number']})\n"
                )
    return EXIT_INPUT if failures else EXIT_OK


def cmd_worker(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """dramatiq's worker processes on the Redis broker, under this process: it makes the run's
    metrics directory (``PROMETHEUS_MULTIPROC_DIR``, shared by every worker process, dramatiq's
    Prometheus middleware and the exposition server on ``--metrics-port``), passes stop
    signals on, and removes the directory when the workers have exited."""
    import signal
    import subprocess

    from claims_engine.observability import logs, metrics
    from workers.settings import Settings

    settings = Settings.from_env()
    if not settings.redis_url:
        raise ConfigurationError(
            "`claims-engine worker` serves a Redis broker: set CLAIMS_REDIS_URL "
            "(without Redis, `claims-engine submit` runs the workers in its own process)"
        )
    store_engine()
    # the reference data and the rules the workers will adjudicate with, loaded once here: a
    # store without reference data or a rules folder with no rule stops the start, in one
    # line, rather than every job it would take
    with database_errors(environment_from_vars().engine):
        environment_from_vars().runtime()
    argv = [
        sys.executable,
        "-m",
        "dramatiq",
        "workers.actors",
        "--processes",
        str(args.processes),
        "--threads",
        str(args.threads),
    ]
    if args.metrics_port:
        metrics.check_port(args.metrics_port)
    folder = metrics.make_run_dir()
    level, _fmt = logs.settings_from_env(getattr(args, "root_log_level", None))
    env = {
        **os.environ,
        metrics.MULTIPROC_ENV: str(folder),
        metrics.DRAMATIQ_DB_ENV: str(folder),
        metrics.METRICS_PORT_ENV: str(args.metrics_port),
        logs.LEVEL_ENV: level,
    }
    stdout.flush()
    stderr.flush()
    try:
        child = subprocess.Popen(argv, env=env)

        def forward(signum: int, _frame: object) -> None:
            # Ctrl-C (and a hangup) from the terminal reach every process of its foreground
            # group, dramatiq's included: passing it on as well would be a second stop signal,
            # on which dramatiq kills its workers mid-message
            if signum != signal.SIGTERM and _in_terminal_foreground():
                return
            child.send_signal(signum)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        return child.wait()
    finally:
        metrics.remove_run_dir(folder)


def _in_terminal_foreground() -> bool:
    """Whether this process is in the foreground process group of its controlling terminal."""
    try:
        tty = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:
        return False  # no controlling terminal (a service manager, a container)
    try:
        return os.tcgetpgrp(tty) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(tty)


def cmd_stats(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.queries import counts
    from workers.broker import queue_depths

    engine = store_engine()
    with database_errors(engine):
        result: dict[str, Any] = dict(counts(engine))
    from workers import actors

    try:
        result["queues"] = queue_depths(actors.broker)
    except _redis_errors() as exc:
        raise ConfigurationError(f"Redis: {exc}") from None
    if args.json:
        json.dump(result, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for section in ("interchanges", "claims", "queues"):
        stdout.write(f"{section}:\n")
        for name, n in result[section].items():
            stdout.write(f"  {name:<14} {n:>10,}\n")
    return EXIT_OK


def cmd_remit(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.remittance import payable_payees, run_payment_cycle

    engine = store_engine()
    _writable(args.out)
    now = clock.now()
    processes = args.processes or (1 if engine.dialect.name == "sqlite" else os.cpu_count() or 1)
    with database_errors(engine):
        runtime = environment_from_vars().runtime()
        waiting = payable_payees(engine)
        payees = list(waiting)
        groups = [payees[k::processes] for k in range(processes) if payees[k::processes]]
        # a process takes a second or two to start: worth it for large cycles only
        if len(groups) <= 1 or sum(waiting.values()) < PARALLEL_REMIT_MIN:
            files = run_payment_cycle(engine, runtime, now, args.out, payees)
        else:
            files = _remit_in_processes(groups, now, args.out)
    files.sort(key=lambda f: f.trace_number)
    from claims_engine.observability.metrics import record_payment_cycle

    record_payment_cycle(files)
    if args.json:
        json.dump(
            {
                "remittances": [
                    {
                        "payee_npi": f.payee_npi,
                        "trace_number": f.trace_number,
                        "claims": f.claims,
                        "total_paid": f.total_paid,
                        "path": str(f.path),
                    }
                    for f in files
                ]
            },
            stdout,
            indent=2,
        )
        stdout.write("\n")
        return EXIT_OK
    if not files:
        stdout.write("nothing to pay: no adjudicated claim is waiting for a remittance\n")
    for f in files:
        stdout.write(
            f"{f.path}: payee {f.payee_npi}, trace {f.trace_number}, "
            f"{f.claims} claims, paid {f.total_paid}\n"
        )
    return EXIT_OK


def _remit_in_processes(groups: list[list[str]], now: Any, out_dir: Path) -> list[Any]:
    """One payment cycle per group of payees, side by side in fresh processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no inherited database connections
    with ProcessPoolExecutor(len(groups), mp_context=context) as pool:
        results = pool.map(_remit_group, groups, [now] * len(groups), [out_dir] * len(groups))
        return [f for group in results for f in group]


def _remit_group(payees: list[str], now: Any, out_dir: Path) -> list[Any]:
    from claims_engine.services.remittance import run_payment_cycle

    env = environment_from_vars()
    try:
        return run_payment_cycle(env.engine, env.runtime(), now, out_dir, payees)
    finally:
        env.dispose()


def cmd_status(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.queries import claim_status, find_claims

    engine = store_engine()
    with database_errors(engine):
        ids = find_claims(engine, args.claim, args.npi)
        views = [claim_status(engine, i) for i in ids]
    if not views:
        what = (
            f"submitter claim id {args.claim!r} from billing NPI {args.npi}"
            if args.npi
            else f"payer claim number {args.claim!r} (to look up by the submitter's claim id, "
            "add --npi BILLING_NPI)"
        )
        stderr.write(f"claims-engine: no claim with {what}\n")
        return EXIT_INPUT
    if args.json:
        json.dump([v.to_json() for v in views], stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for v in views:
        _print_status(v.to_json(), stdout)
    return EXIT_OK


def _print_status(v: dict[str, Any], out: TextIO) -> None:
    out.write(
        f"claim {v['submitter_claim_id']} from {v['billing_npi']}, payer claim number "
        f"{v['payer_claim_number'] or '-'}\n"
    )
    outcome = f" ({v['outcome']})" if v["outcome"] else ""
    out.write(f"  {'state':<23} {v['state']}{outcome}\n")
    out.write(f"  {'received':<23} {v['received_on']}\n")
    for key in ("charge", "allowed", "paid", "patient_responsibility"):
        if v[key] is not None:
            out.write(f"  {key.replace('_', ' '):<23} {v[key]:>12}\n")
    if v["error"]:
        out.write(f"  {'why':<23} {v['error']}\n")
    asked = (v.get("pend") or {}).get("information_requested")
    if asked:
        out.write(f"  {'information requested':<23} {asked['asked']}\n")
        out.write(f"  {'answer by':<23} {asked['answer_by']}\n")
    if v["reversed_by"]:
        out.write(f"  reversed by claim {v['reversed_by']}\n")
    if v["remittance_trace"]:
        out.write(f"  paid on the 835 with trace number {v['remittance_trace']}\n")
    if v["adjustments"]:
        out.write("  adjustments:\n")
        for a in v["adjustments"]:
            where = f"line {a['line']}" if a["line"] is not None else "claim"
            out.write(f"    {where:<8} {a['description']}\n")
    out.write("  history:\n")
    for e in v["history"]:
        out.write(
            f"    {e['at']}  {e['actor']:<14} {e['from'] or '-'} -> {e['to']}: {e['reason']}\n"
        )


def cmd_acks(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.intake import write_acknowledgments

    engine = store_engine()
    _writable(args.out)
    paths: list[Path] = []
    unknown: list[str] = []
    with database_errors(engine):
        for interchange_id in dict.fromkeys(args.interchanges):
            written = (
                write_acknowledgments(engine, [interchange_id], args.out)
                if 1 <= interchange_id <= MAX_ROW_ID
                else []
            )
            if not written:
                unknown.append(_no_acknowledgments(engine, interchange_id))
            paths += written
    for path in paths:
        stdout.write(f"{path}\n")
    for line in unknown:
        stderr.write(f"claims-engine: {line}\n")
    return EXIT_INPUT if unknown else EXIT_OK


def _no_acknowledgments(engine: Engine, interchange_id: int) -> str:
    """Why interchange ``interchange_id`` has no stored acknowledgment, as a line naming it."""
    from claims_engine.services.queries import interchange_view

    view = None
    if 1 <= interchange_id <= MAX_ROW_ID:  # a row id: a store holds no other
        with engine.connect() as conn:
            view = interchange_view(conn, interchange_id, None)
    if view is None:
        return f"interchange {interchange_id}: no such interchange"
    return f"interchange {interchange_id}: no acknowledgments yet (the interchange is {view.state})"


def cmd_remittances(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.remittance import write_remittances

    engine = store_engine()
    _writable(args.out)
    paths: list[Path] = []
    unknown: list[str] = []
    with database_errors(engine):
        if not args.traces:
            paths = write_remittances(engine, args.out)
            if not paths:
                unknown.append("no 835 in the store")
        for trace in dict.fromkeys(args.traces):
            written = write_remittances(engine, args.out, [trace])
            if not written:
                unknown.append(f"trace number {trace}: no 835 with this trace number")
            paths += written
    for path in paths:
        stdout.write(f"{path}\n")
    for line in unknown:
        stderr.write(f"claims-engine: {line}\n")
    return EXIT_INPUT if unknown else EXIT_OK


def add_commands(sub: Any) -> None:
    """Register the pipeline's subcommands on the main parser."""
    s = sub.add_parser("submit", help="store 837 files and queue them for the workers")
    s.add_argument("files", nargs="+", type=Path, metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.add_argument(
        "--threads", type=int, default=1, help="in-process worker threads without Redis (1)"
    )
    s.set_defaults(func=cmd_submit)

    w = sub.add_parser("worker", help="run workers on the Redis broker (CLAIMS_REDIS_URL)")
    w.add_argument("--processes", type=_positive, default=2, metavar="N")
    w.add_argument("--threads", type=_positive, default=2, metavar="M")
    w.add_argument(
        "--metrics-port",
        type=_port,
        default=9191,
        metavar="N",
        help="Prometheus metrics of every worker process and the queues on this port "
        "(default 9191; 0: none)",
    )
    w.set_defaults(func=cmd_worker)

    st = sub.add_parser("stats", help="interchanges and claims by state, queue depths")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)

    r = sub.add_parser("remit", help="payment cycle: 835s for everything adjudicated, unpaid")
    r.add_argument("--out", type=Path, required=True, metavar="DIR")
    r.add_argument(
        "--processes",
        type=_positive,
        metavar="N",
        help="payees split over N processes (default: the CPUs on PostgreSQL, 1 on SQLite)",
    )
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_remit)

    c = sub.add_parser("status", help="where a claim stands, with its history")
    c.add_argument("claim", metavar="CLAIM", help="payer claim number, or CLM01 with --npi")
    c.add_argument("--npi", metavar="BILLING_NPI", help="look CLAIM up as the submitter's id")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_status)

    rm = sub.add_parser("remittances", help="write stored 835s again (all, or by trace number)")
    rm.add_argument("traces", nargs="*", metavar="TRACE")
    rm.add_argument("--out", type=Path, required=True, metavar="DIR")
    rm.set_defaults(func=cmd_remittances)

    a = sub.add_parser("acks", help="write the stored TA1 / 999 / 277CA of interchanges")
    a.add_argument("interchanges", nargs="+", type=int, metavar="INTERCHANGE")
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    a.set_defaults(func=cmd_acks)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0 (none) or a port number up to 65535")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
