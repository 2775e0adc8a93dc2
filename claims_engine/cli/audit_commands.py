"""The audit commands: ``claims-engine audit export`` and ``claims-engine audit verify``.

::

    claims-engine audit export --since DATE [--until DATE] [--format jsonl|csv] [--out FILE]
    claims-engine audit verify [FILE] [--json]

``export`` writes every claim state change and every read of health data from ``--since``
(00:00 UTC, inclusive) to ``--until`` (00:00 UTC, exclusive), chained by hashes, to FILE
(written whole or not at all, and anchored only once it is in place) or to standard output,
and anchors it in the store. A job stamps its events with the time it started and commits them
when it ends, up to :data:`~claims_engine.services.audit.SETTLE_WINDOW` (an hour) later, so
``--until`` defaults to now less that window and a later ``--until`` is refused: an export that
took in unsettled times would later read as tampered with when the job's rows landed.
``verify FILE`` checks an export's own chain and then the store's rows of its range; ``verify``
alone checks the store against every anchor. The work is in :mod:`claims_engine.services.audit`.

Exit codes: :data:`EXIT_OK` when intact, :data:`EXIT_TAMPERED` when verification found a
problem (one line each), ``2`` (the command line's usage exit, from ``cli.main``) for bad input:
a bad date, a range not settled yet, an ``--out`` that is a directory or cannot be written (no
anchor is stored then), an unreadable file or one that is not an export, a store that cannot be
read.
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from claims_engine.cli.pipeline_commands import database_errors, store_engine
from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.runtime import clock
from claims_engine.services.audit import (
    AuditRange,
    ExportSummary,
    export,
    settled_until,
    utc_text,
    verify_file,
    verify_store,
    window_text,
)

EXIT_OK = 0
EXIT_TAMPERED = 1


def _day(text: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        raise ConfigurationError(f"{option} {text!r} is not a date YYYY-MM-DD") from None


def _range(args: argparse.Namespace, now: datetime) -> AuditRange:
    """The range of ``--since`` and ``--until``, refused when it is empty or not settled."""
    since = _day(args.since, "--since")
    latest = settled_until(now)
    if args.until:
        until = _day(args.until, "--until")
        if until > latest:
            raise ConfigurationError(
                f"--until {args.until} is too late: a job commits its events up to "
                f"{window_text()} after the time they carry, so only times before now less "
                f"{window_text()} ({utc_text(latest)}) are settled; the latest allowed --until is "
                f"{latest.date().isoformat()} (or leave it out to end at {utc_text(latest)})"
            )
        said = f"--until ({utc_text(until)})"
    else:
        until = latest
        said = f"--until (default: now less {window_text()}, {utc_text(until)})"
    if until <= since:
        raise ConfigurationError(
            f"the range is empty: {said} must be after --since ({utc_text(since)})"
        )
    return AuditRange(since, until)


def _out_file(text: str | None) -> Path | None:
    """``--out`` checked before any work: a file's name in a directory, not a directory, and
    not something other than a regular file (a device would be replaced by the rename)."""
    if text is None:
        return None
    out = Path(text)
    if text.endswith(("/", os.sep)) or out.name in ("", ".", "..") or out.is_dir():
        raise InputFileError(f"--out {text} is a directory: name the file to write in it")
    if out.exists() and not out.is_file():
        raise InputFileError(f"--out {text} is not a regular file")
    return out


def _export_to_file(
    engine: Engine, rng: AuditRange, out: Path, fmt: str, now: datetime
) -> ExportSummary:
    """Write the export beside ``out``, then, in the anchor's transaction, rename it into place:
    a file that cannot be put in place is not anchored, and when the anchor's commit fails
    after the rename the file is taken away again (nothing is left that no anchor holds)."""
    part = out.with_name(out.name + ".part")
    try:
        fh = part.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
    placed = False

    def publish() -> None:
        nonlocal placed
        try:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(part, out)
        except OSError as exc:
            raise InputFileError(f"cannot write {out}: {exc.strerror or exc}") from None
        placed = True

    try:
        with fh, database_errors(engine):
            return export(engine, rng, fh, fmt, now, publish)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if not placed:
            raise
        out.unlink(missing_ok=True)  # in place, but the anchor did not commit
        if isinstance(exc, ConfigurationError):
            raise ConfigurationError(
                f"{exc}; the export was not anchored, {out} was not written"
            ) from None
        raise


def cmd_audit_export(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    now = clock.now()
    rng = _range(args, now)
    out = _out_file(args.out)
    engine = store_engine()
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if out is not None and database and out.resolve() == Path(database).resolve():
        raise InputFileError(f"--out {out} is the store's database file")
    if out is None:
        with database_errors(engine):
            summary = export(engine, rng, stdout, args.format, now, stdout.flush)
        report = stderr
    else:
        summary = _export_to_file(engine, rng, out, args.format, now)
        report = stdout
    if args.json:
        json.dump({**summary.as_dict(), "file": str(out) if out else None}, report, indent=2)
        report.write("\n")
    else:
        report.write(
            f"audit export {rng.describe()}: {summary.count:,} records "
            f"({summary.claim_events:,} claim events, {summary.phi_reads:,} PHI reads, "
            f"{summary.examiner_actions:,} examiner actions), "
            f"head {summary.head[:16]}, anchor {summary.anchor_id}"
            + (f", written to {out}" if out else "")
            + "\n"
        )
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    path: Path | None = args.file
    if path is not None and path.is_dir():
        raise InputFileError(f"cannot read {path}: it is a directory")
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
    window = window_text()
    a = sub.add_parser("audit", help="export and verify the audit of claim changes and reads")
    asub = a.add_subparsers(dest="audit_command", metavar="ACTION")
    asub.required = True
    e = asub.add_parser(
        "export", help="claim state changes and PHI reads of a range, chained by hashes"
    )
    e.add_argument("--since", required=True, metavar="DATE", help="from 00:00 UTC of this day")
    e.add_argument(
        "--until",
        metavar="DATE",
        help=(
            f"to 00:00 UTC of this day, excluded (default: now less {window}). A job commits "
            f"its events up to {window} after the time they carry (its start), so later times "
            "are not settled and an --until after now less "
            f"{window} is refused"
        ),
    )
    e.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    e.add_argument(
        "--out",
        metavar="FILE",
        help="default: standard output; written beside, renamed into place, then anchored",
    )
    e.add_argument("--json", action="store_true", help="print the summary as JSON")
    e.set_defaults(func=cmd_audit_export)
    v = asub.add_parser(
        "verify", help="check an export and the store (without FILE: the store's anchors)"
    )
    v.add_argument("file", type=Path, nargs="?", metavar="FILE")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_audit_verify)
