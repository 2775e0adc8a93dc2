"""The ``claims-engine`` command line: the edge where files, the clock and the terminal live.

Subcommands::

    claims-engine ingest FILE... --out DIR [--snip LEVELS] [--partners FILE] [--json]
    claims-engine fixtures generate --claims N --seed S [--mix P:70,I:20,D:10]
                                    [--delimiters SPEC] [--as-of DATE] --out FILE
    claims-engine demo [--out DIR]
    claims-engine --log-level LEVEL COMMAND ...   (or CLAIMS_LOG_LEVEL; CLAIMS_LOG_FORMAT=json|text)
    claims-engine db upgrade [--json]      (database from CLAIMS_DATABASE_URL, else var/claims.db)
    claims-engine reference load DIR [--check] [--json]
    claims-engine submit FILE... [--json]  (queued on CLAIMS_REDIS_URL, else processed in-process)
    claims-engine worker [--processes N] [--threads M]
    claims-engine stats [--json]
    claims-engine remit --out DIR [--json]
    claims-engine status CLAIM [--npi BILLING_NPI] [--json]
    claims-engine acks INTERCHANGE... --out DIR
    claims-engine remittances [TRACE...] --out DIR
    claims-engine rules lint [PATH] [--json] [--strict]
    claims-engine rules test [PATH] [--cases DIR] [--json]
    claims-engine audit export --since DATE [--until DATE] [--format jsonl|csv] [--out FILE]
    claims-engine audit verify [FILE] [--json]
    claims-engine pended queues|list|show|take|release|deny|price|override|request-info|...
    claims-engine report prompt-pay --since DATE --until DATE [--json]
    claims-engine enroll FILE... [--sponsor ID] [--json]
    claims-engine ncci load DIR [--quarter 2026Q4] [--check] [--json] | ncci list [--json]
    claims-engine prior-auth queue | due [--within 12h] [--alert] | show | decide | extend
                             | cancel | expire   (the clinical queue of prior authorizations)
    claims-engine report prior-auth --year YEAR [--out DIR] [--json]
    claims-engine authorize FILE... --out DIR [--json]   (278 review requests, 278 responses)

The pipeline's commands live in :mod:`claims_engine.cli.pipeline_commands`, the rule pack's in
:mod:`claims_engine.cli.rules_commands`.

Exit codes are the ``EXIT_*`` constants below. Every expected failure (bad arguments, unreadable
or non-X12 files) is one line on standard error, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli import (
    account_commands,
    api_commands,
    audit_commands,
    authorize_commands,
    eligibility_commands,
    enrollment_commands,
    examination_commands,
    ncci_commands,
    pipeline_commands,
    prior_auth_commands,
    report_commands,
    rules_commands,
)
from claims_engine.domain.errors import (
    ClaimsEngineError,
    ConfigurationError,
    DataKeyError,
    InputFileError,
    StoredDataError,
)
from claims_engine.domain.money import ascii_digits
from claims_engine.domain.reference_data import read_utf8
from claims_engine.front_end.edits import parse_levels
from claims_engine.front_end.ingest import ClaimSink, IntakeOptions, IntakeSummary, ingest
from claims_engine.observability.logs import LEVELS as LOG_LEVELS
from claims_engine.observability.logs import configure_logging
from claims_engine.runtime import PROJECT_ROOT, clock
from claims_engine.x12.acks import ClaimAck
from claims_engine.x12.tokenizer import SegmentReader

EXIT_OK = 0
EXIT_INPUT = 1  # a file could not be read or is not X12; the others were processed
EXIT_USAGE = 2  # bad arguments
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of standard output closed it

PROGRESS_MIN_BYTES = 4 << 20

FIXTURES = PROJECT_ROOT / "fixtures"


class UsageError(ClaimsEngineError):
    """A command-line argument that cannot be used."""


class DirectoryAckOutput:
    """Acknowledgments as files in a directory: written under a temporary name, renamed when
    final, removed when their interchange is rejected."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._open: dict[tuple[str, str], TextIO] = {}

    def _path(self, kind: str, key: str) -> Path:
        return self.directory / f"{key}.{kind}.x12"

    def open(self, kind: str, key: str) -> TextIO:
        tmp = self._path(kind, key).with_suffix(".x12.part")
        fh = tmp.open("w", encoding="utf-8", newline="")
        self._open[(kind, key)] = fh
        return fh

    def commit(self, kind: str, key: str) -> str:
        fh = self._open.pop((kind, key))
        fh.close()
        final = self._path(kind, key)
        os.replace(final.with_suffix(".x12.part"), final)
        return str(final)

    def discard(self, kind: str, key: str) -> None:
        fh = self._open.pop((kind, key), None)
        if fh is not None:
            fh.close()
            final = self._path(kind, key)
            final.with_suffix(".x12.part").unlink(missing_ok=True)


def _temp_spool() -> TextIO:
    return tempfile.TemporaryFile("w+", encoding="utf-8", newline="")


class Progress:
    """A one-line progress bar on standard error, for files big enough to wait for."""

    def __init__(self, name: str, total: int, stream: TextIO) -> None:
        self.name = name
        self.total = max(total, 1)
        self.stream = stream
        self.started = time.monotonic()
        self.last = 0.0
        self.enabled = stream.isatty() and total >= PROGRESS_MIN_BYTES

    def update(self, done: int, claims: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        frac = min(done / self.total, 1.0)
        width = 30
        bar = "#" * int(frac * width)
        rate = claims / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r{self.name[:30]:30} [{bar:<{width}}] {frac:6.1%} {claims:>10,} claims "
            f"{rate:>9,.0f}/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


class _ProgressSink:
    """Moves the progress bar as claims go by, and passes every event on to ``inner``."""

    def __init__(self, progress: Progress, reader: SegmentReader, inner: ClaimSink | None) -> None:
        self.progress = progress
        self.reader = reader
        self.inner = inner
        self.claims = 0

    def claim(self, ack: ClaimAck) -> None:
        self.claims += 1
        if self.claims % 2000 == 0:
            self.progress.update(self.reader.bytes_read, self.claims)
        if self.inner is not None:
            self.inner.claim(ack)

    def transaction_end(self, accepted: bool, unread: int = 0) -> None:
        if self.inner is not None:
            self.inner.transaction_end(accepted, unread)

    def group_end(self, accepted: bool) -> None:
        if self.inner is not None:
            self.inner.group_end(accepted)

    def interchange_end(self, accepted: bool) -> None:
        if self.inner is not None:
            self.inner.interchange_end(accepted)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _parse_levels(text: str) -> frozenset[int]:
    try:
        return parse_levels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


PARTNER_SETTINGS = frozenset({"snip"})
PARTNER_ID_LENGTH = 15  # ISA06


def _once(path: Path, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (JSON itself keeps the last silently)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ConfigurationError(f"{path}: {key!r} is given twice")
        found[key] = value
    return found


def load_partners(path: Path) -> dict[str, frozenset[int]]:
    """Trading partner settings: a JSON object ``{"SENDER ID": {"snip": "1-4"}, ...}``, keyed
    by the sender id of ISA06 (1 to 15 characters, as the envelope has it without its padding)."""
    try:
        # read_utf8: a file that cannot be read, or a byte that is not UTF-8, in one line
        raw = json.loads(read_utf8(path), object_pairs_hook=lambda pairs: _once(path, pairs))
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected an object of sender ids")
    partners: dict[str, frozenset[int]] = {}
    for sender, settings in raw.items():
        if not sender or sender != sender.strip() or len(sender) > PARTNER_ID_LENGTH:
            raise ConfigurationError(
                f"{path}: partner {sender!r}: a sender id is ISA06, 1 to {PARTNER_ID_LENGTH} "
                "characters without spaces around them"
            )
        if not isinstance(settings, dict) or not isinstance(settings.get("snip"), str):
            raise ConfigurationError(f'{path}: partner {sender!r} needs a "snip" string')
        unknown = sorted(set(settings) - PARTNER_SETTINGS)
        if unknown:
            raise ConfigurationError(
                f"{path}: partner {sender!r}: unknown setting {unknown[0]!r} "
                f"(known: {', '.join(sorted(PARTNER_SETTINGS))})"
            )
        try:
            partners[sender] = parse_levels(settings["snip"])
        except ValueError as exc:
            raise ConfigurationError(f"{path}: partner {sender!r}: {exc}") from exc
    return partners


def summary_json(path: str, summary: IntakeSummary) -> dict[str, Any]:
    return {
        "file": path,
        "error": summary.file_error,
        "segments": summary.segments,
        "claims": {"accepted": summary.claims_accepted, "rejected": summary.claims_rejected},
        "charges": {
            "accepted": str(summary.charges_accepted),
            "rejected": str(summary.charges_rejected),
        },
        "interchanges": [asdict(ix) for ix in summary.interchanges],
        "reasons": dict(sorted(summary.reasons.items())),
        "envelope_problems": summary.envelope_problems,
        "rejections": [asdict(r) for r in summary.rejections],
    }


def print_summary(path: str, summary: IntakeSummary, out: TextIO, limit: int = 20) -> None:
    out.write(f"{path}\n")
    if summary.file_error:
        out.write(f"  not X12 past this point: {summary.file_error}\n")
    out.write(
        f"  claims accepted {summary.claims_accepted:>8,}   "
        f"rejected {summary.claims_rejected:>8,}   "
        f"charges accepted {summary.charges_accepted:>14,}\n"
    )
    for ix in summary.interchanges:
        state = "accepted" if ix.accepted else f"REJECTED ({ix.reason})"
        out.write(f"  interchange {ix.control} from {ix.sender_id}: {state}\n")
        for kind, ack in sorted(ix.acknowledgments.items()):
            out.write(f"    {kind:6} {ack}\n")
    for problem in summary.envelope_problems[:limit]:
        out.write(f"  ! {problem}\n")
    for r in summary.rejections[:limit]:
        out.write(f"  rejected claim {r.claim_id} (billing NPI {r.billing_npi or '-'}):\n")
        for reason in r.reasons:
            out.write(f"    - {reason}\n")
    more = summary.claims_rejected - min(len(summary.rejections), limit)
    if more > 0 and summary.rejections:
        out.write(f"  ... {more:,} more rejected claims (use --json for all listed reasons)\n")
    if summary.reasons:
        out.write("  reasons: " + ", ".join(f"{k} x{v}" for k, v in summary.reasons.most_common()))
        out.write("\n")


def ingest_files(
    paths: Sequence[Path],
    out_dir: Path,
    options: IntakeOptions,
    *,
    stderr: TextIO,
    sink: ClaimSink | None = None,
) -> tuple[list[tuple[str, IntakeSummary]], list[str]]:
    """Ingest each file; returns the summaries and one-line errors for unusable files."""
    results: list[tuple[str, IntakeSummary]] = []
    errors: list[str] = []
    output = DirectoryAckOutput(out_dir)
    control = options.first_control
    used: set[str] = set()
    for path in paths:
        # Acknowledgments are named after their input; two inputs of one name must not collide.
        name = path.stem
        if name in used:
            name = f"{path.parent.name}-{path.stem}"
        while name in used:
            name += "_"
        used.add(name)
        try:
            fh = path.open("rb")
            size = path.stat().st_size
        except OSError as exc:
            errors.append(f"cannot read {path}: {exc.strerror or exc}")
            continue
        with fh:
            reader = SegmentReader(fh)
            progress = Progress(path.name, size, stderr)
            opts = IntakeOptions(
                received_on=options.received_on,
                created=options.created,
                levels=options.levels,
                partner_levels=options.partner_levels,
                first_control=control,
                spool=options.spool,
            )
            try:
                summary = ingest(
                    fh,
                    opts,
                    output,
                    sink=_ProgressSink(progress, reader, sink),
                    name=name,
                    reader=reader,
                )
            except OSError as exc:
                errors.append(f"cannot read {path}: {exc.strerror or exc}")
                continue
            finally:
                progress.close()
        control += sum(len(ix.acknowledgments) for ix in summary.interchanges)
        if summary.file_error:
            errors.append(f"{path}: not X12: {summary.file_error}")
        results.append((str(path), summary))
    return results, errors


def cmd_ingest(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    out_dir: Path = args.out
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {out_dir}: {exc.strerror}") from exc
    partners = load_partners(args.partners) if args.partners else {}
    created = clock.now()
    options = IntakeOptions(
        received_on=args.received_on or created.date(),
        created=created,
        levels=args.snip,
        partner_levels=partners,
        spool=_temp_spool,
    )
    results, errors = ingest_files(args.files, out_dir, options, stderr=stderr)
    if args.json:
        json.dump(
            {"files": [summary_json(p, s) for p, s in results], "errors": errors},
            stdout,
            indent=2,
        )
        stdout.write("\n")
    else:
        for path, summary in results:
            print_summary(path, summary, stdout)
    for err in errors:
        stderr.write(f"claims-engine: {err}\n")
    return EXIT_INPUT if errors else EXIT_OK


def _parse_mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, weight = part.partition(":")
        kind = kind.strip().upper()
        weight = weight.strip()
        if kind not in ("P", "I", "D") or not sep or not ascii_digits(weight):
            raise argparse.ArgumentTypeError(
                f"{part!r}: the mix is KIND:WEIGHT pairs such as P:70,I:20,D:10"
            )
        mix[kind] = int(weight)
    if not any(mix.values()):
        raise argparse.ArgumentTypeError("the mix needs at least one positive weight")
    return mix


def parse_delimiters(text: str) -> tuple[str, str, str, str]:
    """``ELEMENT REPETITION COMPONENT TERMINATOR`` as four characters; ``\\n`` is a newline."""
    spec = text.replace("\\n", "\n").replace("\\r", "\r")
    if len(spec) != 4:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give four characters: element, repetition, component, terminator "
            "(for example '*^:~' or '|^>\\n')"
        )
    from claims_engine.x12.tokenizer import Delimiters

    problem = Delimiters(*spec).check()
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return spec[0], spec[1], spec[2], spec[3]


def cmd_generate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.cli.fixtures_commands import generate_file

    created = clock.now()
    as_of: date = args.as_of or created.date()
    count = generate_file(
        args.out,
        claims=args.claims,
        seed=args.seed,
        mix=args.mix,
        delimiters=args.delimiters,
        as_of=as_of,
        created=datetime.combine(as_of, created.time()),
        reference=args.reference,
    )
    stdout.write(f"wrote {count:,} claims to {args.out}\n")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.cli.demo import run_demo

    if args.root_log_level is None and not os.environ.get("CLAIMS_LOG_LEVEL"):
        configure_logging("warning")  # the demo's tables are the story; ask for logs to see them
    return run_demo(args.out, stdout=stdout, stderr=stderr)


def cmd_db_upgrade(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from claims_engine.store.db import check_lookup_key, current_version, engine_for, upgrade

    url = os.environ.get("CLAIMS_DATABASE_URL") or None
    # the data keys: a new store notes its lookup key, an existing one is checked against it
    vault = pipeline_commands.environment_from_vars().vault
    engine = engine_for(url)
    where = engine.url.render_as_string(hide_password=True)
    try:
        applied = upgrade(engine)
        version = current_version(engine)
        with engine.connect() as conn:
            check_lookup_key(conn, vault)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigurationError(f"cannot upgrade the database at {where}: {detail}") from exc
    finally:
        engine.dispose()
    if args.json:
        json.dump({"database": where, "applied": applied, "version": version}, stdout, indent=2)
        stdout.write("\n")
    else:
        for step in applied:
            stdout.write(f"applied {step}\n")
        state = "upgraded" if applied else "already up to date"
        stdout.write(f"{where}: schema version {version} ({state})\n")
    return EXIT_OK


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("claims-engine")
    except PackageNotFoundError:  # run from the sources, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="claims-engine",
        description="Payer-side claims engine: X12 837 intake, acknowledgments and more.",
    )
    parser.add_argument(
        "--log-level",
        dest="root_log_level",
        choices=LOG_LEVELS,
        metavar="LEVEL",
        help="the engine's log level: debug, info, warning, error, critical "
        "(default: CLAIMS_LOG_LEVEL, else info); CLAIMS_LOG_FORMAT=json|text, json by default",
    )
    parser.add_argument("--version", action="version", version=f"claims-engine {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("ingest", help="read 837 files, write TA1 / 999 / 277CA acknowledgments")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--snip",
        type=_parse_levels,
        default=frozenset({1, 2, 3, 4, 5}),
        metavar="LEVELS",
        help="SNIP levels to apply, e.g. 1-5 (default) or 1-3",
    )
    p.add_argument(
        "--partners",
        type=Path,
        metavar="FILE",
        help='JSON of per-sender settings: {"SENDERID": {"snip": "1-4"}}',
    )
    p.add_argument(
        "--received-on",
        type=_parse_date,
        metavar="DATE",
        help="receipt date for the date edits (default: today)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    f = sub.add_parser("fixtures", help="test data")
    fsub = f.add_subparsers(dest="fixtures_command", metavar="COMMAND")
    fsub.required = True
    g = fsub.add_parser("generate", help="write a synthetic 837 batch")
    g.add_argument("--claims", type=int, required=True, metavar="N")
    g.add_argument("--seed", type=int, required=True, metavar="S")
    g.add_argument("--mix", type=_parse_mix, default={"P": 70, "I": 20, "D": 10})
    g.add_argument(
        "--delimiters",
        type=parse_delimiters,
        default=("*", "^", ":", "~"),
        metavar="SPEC",
        help="element, repetition, component, terminator: '*^:~'",
    )
    g.add_argument(
        "--as-of",
        type=_parse_date,
        metavar="DATE",
        help="dates of service end on this day, 1900-01-01 to 2099-12-31 (default: today)",
    )
    g.add_argument("--reference", type=Path, default=FIXTURES / "reference", metavar="DIR")
    g.add_argument("--out", type=Path, required=True, metavar="FILE")
    g.set_defaults(func=cmd_generate)

    r = sub.add_parser("reference", help="reference data: plans, members, providers, fees")
    rsub = r.add_subparsers(dest="reference_command", metavar="COMMAND")
    rsub.required = True
    rl = rsub.add_parser("load", help="load and check a reference data directory")
    rl.add_argument("directory", type=Path, metavar="DIR")
    rl.add_argument("--json", action="store_true")
    rl.add_argument("--check", action="store_true", help="only check the files, store nothing")
    rl.set_defaults(func=pipeline_commands.cmd_reference_load)

    db = sub.add_parser("db", help="the database: create or migrate the schema")
    dbsub = db.add_subparsers(dest="db_command", metavar="COMMAND")
    dbsub.required = True
    du = dbsub.add_parser(
        "upgrade", help="apply pending schema migrations (CLAIMS_DATABASE_URL, else var/claims.db)"
    )
    du.add_argument("--json", action="store_true", help="print the applied steps as JSON")
    du.set_defaults(func=cmd_db_upgrade)

    d = sub.add_parser("demo", help="the whole flow on embedded defaults with the fixtures")
    d.add_argument("--out", type=Path, default=Path("var/demo"), metavar="DIR")
    d.set_defaults(func=cmd_demo)
    pipeline_commands.add_commands(sub)
    api_commands.add_commands(sub)
    account_commands.add_commands(sub)
    rules_commands.add_commands(sub)
    audit_commands.add_commands(sub)
    examination_commands.add_commands(sub)
    report_commands.add_commands(sub)
    eligibility_commands.add_commands(sub)
    enrollment_commands.add_commands(sub)
    ncci_commands.add_commands(sub)
    prior_auth_commands.add_commands(sub)
    authorize_commands.add_commands(sub)
    return parser


def _quiet_closed_pipes() -> None:
    """Point standard output and error at /dev/null: their reader is gone, and the flush at
    interpreter exit would raise on the closed pipe again (Python's docs on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            # no descriptor (a test's capture): nothing is flushed at exit
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    # A path given on the command line may hold bytes that are no text (they arrive as
    # surrogates): echoed in a message, they are escaped rather than end it in a traceback.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader left (`| head`): stop quietly, as Unix tools do
        _quiet_closed_pipes()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    for n, arg in enumerate(given, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are no text arrive as surrogates
            shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
            sys.stderr.write(f"claims-engine: error: argument {n} is not UTF-8 text: {shown}\n")
            return EXIT_USAGE
    args = parser.parse_args(given)
    if getattr(args, "claims", 1) is not None and getattr(args, "claims", 1) < 1:
        parser.error("--claims must be at least 1")
    try:
        configure_logging(args.root_log_level)
        result: int = args.func(args, sys.stdout, sys.stderr)
        sys.stdout.flush()  # a closed pipe is found here, not at interpreter exit
    except (UsageError, ConfigurationError, InputFileError) as exc:
        sys.stderr.write(f"claims-engine: error: {exc}\n")
        return EXIT_USAGE
    except (DataKeyError, StoredDataError) as exc:  # the store, not the command, is wrong
        sys.stderr.write(f"claims-engine: error: {str(exc).splitlines()[0]}\n")
        return EXIT_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("claims-engine: interrupted\n")
        return EXIT_INTERRUPTED
    return result


if __name__ == "__main__":
    raise SystemExit(main())
