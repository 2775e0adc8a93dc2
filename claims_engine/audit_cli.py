"""The audit commands: ``claims-engine audit export`` and ``claims-engine audit verify``.

::

    claims-engine audit export --since DATE [--until DATE] [--format jsonl|csv] [--out FILE]
    claims-engine audit verify [FILE] [--json]

``export`` writes every claim state change and every read of health data from ``--since``
(00:00 UTC, inclusive) to ``--until`` (00:00 UTC, exclusive; default now), chained by hashes,
to FILE (written whole or not at all) or to standard output, and anchors it in the store.
``verify FILE`` checks an export's own chain and then the store's rows of its range; ``verify``
alone checks the store against every anchor. The work is in :mod:`claims_engine.services.audit`.

Exit codes: :data:`EXIT_OK` when intact, :data:`EXIT_TAMPERED` when verification found a
problem (one line each), ``2`` (the command line's usage exit, from ``cli.main``) for bad input:
a bad date, an unreadable file or one that is not an export, a store that cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO

from claims_engine import clock
from claims_engine.errors import ConfigurationError, InputFileError
from claims_engine.pipeline_cli import database_errors, store_engine

EXIT_OK = 0
EXIT_TAMPERED = 1


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        raise ConfigurationError(f"{option} {text!r} is not a date YYYY-MM-DD") from None


def cmd_audit_export(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.audit import AuditRange, export

    now = clock.now()
    since = _day(args.since, "--since")
    until = _day(args.until, "--until") if args.until else now
    if until <= since:
        raise ConfigurationError(
            f"the range is empty: --until ({until.isoformat()}Z) must be after --since "
            f"({since.isoformat()}Z)"
        )
    rng = AuditRange(since, until)
    engine = store_engine()
    out: Path | None = args.out
    if out is None:
        with database_errors(engine):
            summary = export(engine, rng, stdout, args.format, now)
        stdout.flush()
        report = stderr
    else:
        part = out.with_name(out.name + ".part")
        try:
            fh = part.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
        try:
            with fh, database_errors(engine):
                summary = export(engine, rng, fh, args.format, now)
            os.replace(part, out)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        report = stdout
    if args.json:
        json.dump({**summary.as_dict(), "file": str(out) if out else None}, report, indent=2)
        report.write("\n")
    else:
        report.write(
            f"audit export {rng.describe()}: {summary.count:,} records "
            f"({summary.claim_events:,} claim events, {summary.phi_reads:,} PHI reads), "
            f"head {summary.head[:16]}, anchor {summary.anchor_id}"
            + (f", written to {out}" if out else "")
            + "\n"
        )
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.audit import verify_file, verify_store

    path: Path | None = args.file
    if path is not None and not path.is_file():
        raise InputFileError(f"cannot read {path}: no such file")
    engine = store_engine()
    with database_errors(engine):
        result = verify_file(engine, path) if path is not None else verify_store(engine)
    if args.json:
        json.dump(result.as_dict(), stdout, indent=2)
        stdout.write("\n")
    else:
        for problem in result.problems:
            stdout.write(f"{result.file + ': ' if result.file else ''}{problem.message}\n")
        what = result.file or "the store"
        if result.ok:
            stdout.write(
                f"{what}: intact ({result.records:,} records, {result.anchors} anchors checked)\n"
            )
        else:
            stdout.write(f"{what}: {len(result.problems)} problem(s) found\n")
    return EXIT_OK if result.ok else EXIT_TAMPERED


def add_commands(sub: Any) -> None:
    a = sub.add_parser("audit", help="export and verify the audit of claim changes and reads")
    asub = a.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    e = asub.add_parser(
        "export", help="claim state changes and PHI reads of a range, chained by hashes"
    )
    e.add_argument("--since", required=True, metavar="DATE", help="from 00:00 UTC of this day")
    e.add_argument(
        "--until", metavar="DATE", help="to 00:00 UTC of this day, excluded (default: now)"
    )
    e.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    e.add_argument("--out", type=Path, metavar="FILE", help="default: standard output")
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.set_defaults(func=cmd_audit_export)
    v = asub.add_parser(
        "verify", help="check an export and the store (without FILE: the store's anchors)"
    )
    v.add_argument("file", type=Path, nargs="?", metavar="FILE")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_audit_verify)
