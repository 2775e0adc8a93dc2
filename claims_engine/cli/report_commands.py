"""``claims-engine report``: reports on the store for the payer's compliance and operations.

::

    claims-engine report prompt-pay --since DATE --until DATE [--json]
    claims-engine report prior-auth --year YEAR [--out DIR] [--json]

``prompt-pay`` counts the clean claims received from ``--since`` to ``--until`` (receipt dates,
both included) and how many of them were decided within 30 and within 90 days of receipt, as
a percentage, by plan (the terms are :mod:`claims_engine.services.prompt_pay`'s, and
docs/operations.md's): a table, or the report as JSON with ``--json``. It reads the store
(``CLAIMS_DATABASE_URL``) and the reference data in force, and writes nothing. A bad date,
``--since`` after ``--until``, or a store it cannot read is one line (exit 2).

``prior-auth`` is the yearly public report on prior authorization (CMS-0057-F,
:mod:`claims_engine.services.prior_auth_report`): the services that need authorization, and of
the standard and of the expedited requests decided in ``--year``, the percentage approved,
denied, approved after appeal and approved after the timeframe was extended, and the mean and
median hours from request to decision. It writes ``prior-auth-YEAR.csv``,
``prior-auth-YEAR-services.csv`` and the self-contained page ``prior-auth-YEAR.html`` into
``--out`` (by default the working folder), and prints the figures (as JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
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


def cmd_prior_auth(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.cli.pipeline_commands import _writable
    from claims_engine.services.prior_auth_report import (
        figure_rows,
        prior_auth_report,
        report_csv,
        report_html,
        services_csv,
    )

    if not 2000 <= args.year <= 9998:
        raise ConfigurationError(f"--year {args.year} is not a year from 2000 on")
    out = Path(args.out)
    _writable(out)
    env = environment_from_vars()
    engine = store_engine()
    with database_errors(engine):
        runtime = env.runtime()
        figures = prior_auth_report(engine, runtime.book, args.year)
    name = f"prior-auth-{args.year}"
    (out / f"{name}.csv").write_text(report_csv(figures), encoding="utf-8")
    (out / f"{name}-services.csv").write_text(services_csv(figures), encoding="utf-8")
    (out / f"{name}.html").write_text(report_html(figures, runtime.payer.name), encoding="utf-8")
    rows = figure_rows(figures)
    if args.json:
        json.dump(
            {"year": args.year, "figures": [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]},
            stdout,
            indent=2,
        )
        stdout.write("\n")
    else:
        for row in rows[1:]:
            stdout.write(f"{row[0]:<10} {row[1]:<28} {row[2]:>7} {row[3]:>8}\n")
        stdout.write(f"wrote {out / name}.csv, {name}-services.csv and {name}.html\n")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    r = sub.add_parser("report", help="reports on the store: prompt payment, prior authorization")
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
    p = rsub.add_parser(
        "prior-auth",
        help="the yearly public prior authorization report (CSV and an HTML page)",
    )
    p.add_argument("--year", type=int, required=True, metavar="YEAR")
    p.add_argument("--out", default=".", metavar="DIR", help="where the files go")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_prior_auth)
