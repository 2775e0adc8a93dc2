"""``claims-engine report``: reports on the store for the payer's compliance and operations.

::

    claims-engine report prompt-pay --since DATE --until DATE [--json]

``prompt-pay`` counts the clean claims received from ``--since`` to ``--until`` (receipt dates,
both included) and how many of them were decided within 30 and within 90 days of receipt, as
a percentage, by plan (the terms are :mod:`claims_engine.services.prompt_pay`'s, and
docs/operations.md's): a table, or the report as JSON with ``--json``. It reads the store
(``CLAIMS_DATABASE_URL``) and the reference data in force, and writes nothing. A bad date,
``--since`` after ``--until``, or a store it cannot read is one line (exit 2).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_OK,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import ConfigurationError
from claims_engine.services.prompt_pay import BOUNDS, PromptPayLine, PromptPayReport, prompt_pay


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def cmd_prompt_pay(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    if args.since > args.until:
        raise ConfigurationError(
            f"the range is empty: --since {args.since.isoformat()} is after --until "
            f"{args.until.isoformat()}"
        )
    env = environment_from_vars()
    engine = store_engine()
    with database_errors(engine):
        runtime = env.runtime()
        report = prompt_pay(engine, runtime.reference, args.since, args.until)
    if args.json:
        json.dump(report.as_json(), stdout, indent=2)
        stdout.write("\n")
    else:
        write_table(report, stdout)
    return EXIT_OK


def _percent(line: PromptPayLine, days: int) -> str:
    pct = line.percent(days)
    return f"{line.within[days]:>7,} {'-' if pct is None else f'{pct}%':>6}"


def write_table(report: PromptPayReport, out: TextIO) -> None:
    """The report as a terminal table: one row per plan, then every plan's."""
    out.write(
        f"prompt payment: clean claims received {report.since.isoformat()} to "
        f"{report.until.isoformat()}, decided within "
        + " and ".join(f"{b}" for b in BOUNDS)
        + " days of receipt\n"
    )
    within = " ".join(f"{f'within {b} days':>14}" for b in BOUNDS)
    header = (
        f"{'plan':<12} {'name':<24} {'received':>9} {'clean':>7} {'decided':>8} "
        f"{within} {'undecided':>10}\n"
    )
    out.write(header)
    rows = [*report.plans, report.total] if report.plans else [report.total]
    for line in rows:
        plan = line.plan_id if line.plan_id is not None else "all"
        out.write(
            f"{(plan or '(unknown)'):<12} {line.plan_name[:24]:<24} {line.received:>9,} "
            f"{line.clean:>7,} {line.decided:>8,} "
            + " ".join(_percent(line, b) for b in BOUNDS)
            + f" {line.undecided:>10,}\n"
        )
    out.write(
        "clean: never asked for information from the provider; decided: first decision "
        "that is not pended (docs/operations.md)\n"
    )


def add_commands(sub: Any) -> None:
    r = sub.add_parser("report", help="reports on the store: prompt payment")
    rsub = r.add_subparsers(dest="report_command", metavar="REPORT")
    rsub.required = True
    p = rsub.add_parser(
        "prompt-pay",
        help="clean claims decided within 30 and 90 days of receipt, by plan",
    )
    p.add_argument(
        "--since", type=_date, required=True, metavar="DATE", help="received on or after"
    )
    p.add_argument(
        "--until", type=_date, required=True, metavar="DATE", help="received on or before"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_prompt_pay)
