"""``claims-engine rules simulate``: stored claims adjudicated again under a candidate pack,
or under another quarter's NCCI tables (``--ncci-quarter 2026Q4 --against 2026Q3``).

Reads the store (``CLAIMS_DATABASE_URL``) and the rules in force (``CLAIMS_RULES_DIR``), writes
nothing to either: a table in the terminal (or the summary as JSON), and in ``--out`` the CSV
files and ``report.html`` of :mod:`claims_engine.rules.simulation_report`. A candidate that does not
load, an unknown plan, ``--since`` after ``--until`` or a store without reference data is one
line naming the problem (exit 2).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_OK,
    _positive,
    _writable,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import ConfigurationError
from claims_engine.runtime import clock


def add_simulate_command(rules_sub: Any) -> None:
    """Register ``simulate`` on the subparsers of the ``rules`` command group."""
    s = rules_sub.add_parser(
        "simulate", help="what-if: stored claims adjudicated again under a candidate pack"
    )
    s.add_argument("--candidate", type=Path, metavar="PATH", help="rules folder")
    s.add_argument(
        "--ncci-quarter",
        metavar="QUARTER",
        help="replay the candidate side with the NCCI tables of this loaded quarter (2026Q4)",
    )
    s.add_argument(
        "--against",
        metavar="QUARTER",
        help="with --ncci-quarter: the loaded quarter the side in force uses (2026Q3)",
    )
    s.add_argument("--since", type=_day, metavar="DATE", help="received on or after (YYYY-MM-DD)")
    s.add_argument("--until", type=_day, metavar="DATE", help="received on or before")
    s.add_argument("--plan", metavar="ID", help="only claims of members of this plan")
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.add_argument(
        "--processes", type=_positive, metavar="N", help="worker processes (default: the CPUs)"
    )
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_simulate)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def cmd_simulate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.rules.simulation_report import summary, write_reports, write_table
    from claims_engine.services.simulation import SimulationRequest, default_processes, simulate

    if args.since and args.until and args.since > args.until:
        raise ConfigurationError(f"--since {args.since} is after --until {args.until}")
    new_quarter = getattr(args, "ncci_quarter", None)
    old_quarter = getattr(args, "against", None)
    if args.candidate is None and new_quarter is None:
        raise ConfigurationError("give --candidate PATH, or --ncci-quarter Q --against Q")
    if (new_quarter is None) != (old_quarter is None):
        raise ConfigurationError("--ncci-quarter and --against go together")
    if args.candidate is not None and not args.candidate.exists():
        raise ConfigurationError(f"{args.candidate}: no such rules folder or file")
    quarters = None if new_quarter is None else (str(old_quarter), str(new_quarter))
    env = environment_from_vars()
    engine = store_engine()
    _writable(args.out)
    generated = clock.now().isoformat(timespec="seconds")
    with database_errors(engine):
        runtime = env.runtime()
        request = SimulationRequest(
            database_url=engine.url.render_as_string(hide_password=False),
            rules_dir=Path(env.settings.rules_dir),
            candidate=args.candidate,
            since=args.since,
            until=args.until,
            plan=args.plan,
            processes=args.processes or default_processes(),
            store_file=env.settings.store_file,  # its key file, for the worker processes
            ncci_quarters=quarters,
        )
        result = simulate(engine, runtime, request)
    paths = write_reports(result, args.out, generated)
    if args.json:
        json.dump({**summary(result), "files": [str(p) for p in paths]}, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    write_table(result, stdout)
    stdout.write(f"\nreports in {args.out}: {', '.join(p.name for p in paths)}\n")
    return EXIT_OK
