"""``claims-engine ncci``: CMS NCCI edit tables (PTP pairs and MUEs) into the store.

::

    claims-engine ncci load DIR [--quarter 2026Q4] [--check] [--json]
    claims-engine ncci list [--json]

``load`` reads the CMS files under DIR (``ccipra-*`` and ``ccioph-*`` PTP text files, the
``MCR_MUE_*`` CSV files, or CSV exports of them; see ``docs/ncci.md``) and stores one table per
kind, setting and quarter (:mod:`claims_engine.services.ncci_store`). The quarter is ``--quarter``,
else what each file's name or folder says. ``--check`` reads and checks, and stores nothing.

Exit status: 0 when every table was stored (or was stored already); 1 when a file has a
problem, each problem one line ``FILE:LINE: what`` on standard error, and nothing is stored
(nor when DIR holds no NCCI file); 2 for bad arguments or no store.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    database_errors,
    store_engine,
)
from claims_engine.domain.ncci import NcciTable, Quarter
from claims_engine.runtime import clock


def _quarter(text: str) -> Quarter:
    try:
        return Quarter.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _describe(table: NcciTable) -> dict[str, Any]:
    return {
        "quarter": str(table.quarter),
        "kind": table.kind,
        "setting": table.setting,
        "effective_from": table.quarter.start.isoformat(),
        "edits": len(table),
        "sources": list(table.sources),
    }


def cmd_ncci_load(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.ncci_store import read_ncci, store_tables

    engine = None if args.check else store_engine()  # no store: say so before reading
    started = time.monotonic()
    read = read_ncci(args.directory, quarter=args.quarter)
    if read.problems:
        count = len(read.problems)
        if count == 1:  # one line: the problem, and that nothing was stored
            stderr.write(f"claims-engine: {read.problems[0]} (nothing stored)\n")
        else:
            for problem in read.problems:
                stderr.write(f"claims-engine: {problem}\n")
            stderr.write(f"claims-engine: {count} problems in {args.directory}: nothing stored\n")
        if args.json:
            json.dump({"problems": [str(p) for p in read.problems], "tables": []}, stdout)
            stdout.write("\n")
        return EXIT_INPUT
    read_seconds = time.monotonic() - started
    tables = [_describe(t) for t in read.tables]
    if engine is not None:
        with database_errors(engine):
            stored = store_tables(engine, read.tables, clock.now())
        for row, result in zip(tables, stored, strict=True):
            row.update(id=result.id, digest=result.digest, state=result.state)
    summary = {
        "tables": tables,
        "ignored": list(read.ignored),
        "seconds": round(time.monotonic() - started, 2),
        "read_seconds": round(read_seconds, 2),
    }
    if args.json:
        json.dump(summary, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for row in tables:
        state = row.get("state", "checked")
        names = ", ".join(Path(s).name for s in row["sources"])
        stdout.write(
            f"{row['quarter']} {row['kind']} {row['setting']:<12} {row['edits']:>10,} edits "
            f"{state:<9} ({names})\n"
        )
    if read.ignored:
        stdout.write(f"left alone (not .txt or .csv): {', '.join(read.ignored)}\n")
    if args.check:
        stdout.write(f"NCCI files in {args.directory} are valid: nothing stored (--check)\n")
    return EXIT_OK


def cmd_ncci_list(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.ncci_store import stored_tables

    engine = store_engine()
    with database_errors(engine):
        rows = stored_tables(engine)
    if args.json:
        json.dump({"tables": rows}, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    if not rows:
        stdout.write("no NCCI tables loaded: claims-engine ncci load DIR\n")
    for row in rows:
        stdout.write(
            f"{row['quarter']} {row['kind']} {row['setting']:<12} {row['edits']:>10,} edits "
            f"from {row['effective_from']} (loaded {row['loaded_at']}, "
            f"sha256 {str(row['digest'])[:12]})\n"
        )
    return EXIT_OK


def add_commands(sub: Any) -> None:
    n = sub.add_parser("ncci", help="CMS NCCI edits: PTP pairs and medically unlikely edits")
    nsub = n.add_subparsers(dest="ncci_command", metavar="COMMAND")
    nsub.required = True
    load = nsub.add_parser("load", help="load a quarter's CMS NCCI files (docs/ncci.md)")
    load.add_argument("directory", type=Path, metavar="DIR")
    load.add_argument(
        "--quarter",
        type=_quarter,
        metavar="QUARTER",
        help="the quarter the files are for, such as 2026Q4 (default: what their names say)",
    )
    load.add_argument("--check", action="store_true", help="only check the files, store nothing")
    load.add_argument("--json", action="store_true", help="print the summary as JSON")
    load.set_defaults(func=cmd_ncci_load)
    listing = nsub.add_parser("list", help="the NCCI tables in the store")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_ncci_list)
