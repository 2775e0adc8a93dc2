"""The rule pack's commands: ``claims-engine rules lint`` and ``claims-engine rules test``.

::

    claims-engine rules lint [PATH] [--json] [--strict]
    claims-engine rules test [PATH] [--cases DIR] [--json]

``PATH`` is a pack folder or file (default: the project's ``rules/``); a rules folder with dated
version folders (``rules/2026-07-01/``, see :mod:`claims_engine.rules.book`) is linted version by
version, and each case runs with the version in force on its date of service. ``--cases`` is a
case file or folder (default: ``tests/`` in the pack's folder). The work is in
:mod:`claims_engine.rules.lint` and :mod:`claims_engine.rules.cases`; this module reads the
arguments and prints.

Exit codes: :data:`EXIT_OK` when the pack lints without errors (warnings allowed unless
``--strict``) or every case passes; :data:`EXIT_FAILED` when lint found an error (or, with
``--strict``, a warning) or a case failed; ``2`` (the command line's usage exit, from
``cli.main``) for bad input: a missing folder, a folder or pack with no rule, a pack that does
not load for ``test``, an unreadable or malformed case file, no case at all, printed as one
line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli.simulate_commands import add_simulate_command
from claims_engine.rules.book import require_rules
from claims_engine.rules.cases import run_rule_tests
from claims_engine.rules.lint import lint_rules
from claims_engine.runtime import PROJECT_ROOT

EXIT_OK = 0
EXIT_FAILED = 1
DEFAULT_PACK = PROJECT_ROOT / "rules"


def cmd_rules_lint(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    require_rules(args.path)  # an empty folder has nothing wrong in it, and no rule either
    findings = lint_rules(args.path)
    errors = sum(1 for f in findings if f.severity == "error")
    warnings = len(findings) - errors
    failed = errors > 0 or (args.strict and warnings > 0)
    if args.json:
        json.dump(
            {
                "findings": [f.as_dict() for f in findings],
                "errors": errors,
                "warnings": warnings,
            },
            stdout,
            indent=2,
        )
        stdout.write("\n")
    else:
        for finding in findings:
            stdout.write(finding.format() + "\n")
        verdict = "FAILED" if failed else "ok"
        stdout.write(f"{args.path}: {errors} error(s), {warnings} warning(s): {verdict}\n")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_rules_test(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    results = run_rule_tests(args.path, args.cases)
    failures = [r for r in results if not r.passed]
    if args.json:
        json.dump(
            {
                "cases": [r.as_dict() for r in results],
                "passed": len(results) - len(failures),
                "failed": len(failures),
            },
            stdout,
            indent=2,
        )
        stdout.write("\n")
    else:
        for result in failures:
            stdout.write(result.message() + "\n")
        verdict = "FAILED" if failures else "ok"
        stdout.write(
            f"{len(results)} case(s): {len(results) - len(failures)} passed, "
            f"{len(failures)} failed: {verdict}\n"
        )
    return EXIT_FAILED if failures else EXIT_OK


def add_commands(sub: Any) -> None:
    r = sub.add_parser(
        "rules", help="the coverage rule pack: lint it, test it, simulate a candidate"
    )
    rsub = r.add_subparsers(dest="rules_command", metavar="COMMAND")
    rsub.required = True
    lint = rsub.add_parser("lint", help="report every problem in a rule pack")
    lint.add_argument("path", nargs="?", type=Path, default=DEFAULT_PACK, metavar="PATH")
    lint.add_argument("--json", action="store_true", help="print the findings as JSON")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.set_defaults(func=cmd_rules_lint)
    test = rsub.add_parser("test", help="run the YAML test cases of a rule pack")
    test.add_argument("path", nargs="?", type=Path, default=DEFAULT_PACK, metavar="PATH")
    test.add_argument(
        "--cases", type=Path, metavar="DIR", help="case file or folder (default: PATH/tests)"
    )
    test.add_argument("--json", action="store_true", help="print the results as JSON")
    test.set_defaults(func=cmd_rules_test)
    add_simulate_command(rsub)
