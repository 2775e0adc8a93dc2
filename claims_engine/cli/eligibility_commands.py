"""``claims-engine eligibility``: X12 270 eligibility inquiries answered with 271s, in batch.

::

    claims-engine eligibility FILE... --out DIR [--on DATE] [--json]

Each FILE is one 270 interchange (005010X279A1); its answer is written into DIR as
``<FILE name>.271``, or, when the file cannot be answered, ``<FILE name>.999`` (a broken
functional group or transaction set) or ``<FILE name>.ta1`` (a broken interchange). Patients
are looked up in the reference data in force, what remains of their deductibles and
out-of-pocket maximums in the store's accumulators (:mod:`claims_engine.services.eligibility`);
an inquiry without a date (DTP*291) is answered for ``--on`` (default: today). A batch has no
limit of patients a file. One line per file says what was written (``--json``: a list of
objects); the exit status is 1 when a file was not answered, or answered AAA 42 for a patient
because the store could not be read while answering it (its 271 is written: ask it again
later), 2 when nothing could be done (no store, no reference data, an unwritable DIR), each
said in one line.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    _writable,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import InputFileError
from claims_engine.observability import metrics
from claims_engine.runtime import clock
from claims_engine.services.claim_inquiry import UnusableInquiry
from claims_engine.services.eligibility import answer_270


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def cmd_eligibility(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    out_dir: Path = args.out
    _writable(out_dir)
    env = environment_from_vars()
    engine = store_engine()
    now = clock.now()
    results: list[dict[str, Any]] = []
    failed = False
    with database_errors(engine):
        reference = env.runtime().reference
        for path in args.files:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:
                raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None
            name = Path(path).name
            try:
                answer = answer_270(
                    engine,
                    data,
                    reference=reference,
                    allowed_npis=None,
                    now=now,
                    on=args.on,
                    max_inquiries=None,
                )
            except UnusableInquiry as exc:
                metrics.record_rejected_inquiry("270")
                failed = True
                result: dict[str, Any] = {"file": str(path), "answered": False}
                result["reason"] = exc.reason
                if exc.acknowledgment is not None:
                    suffix = ".ta1" if exc.status == 400 else ".999"
                    target = out_dir / f"{name}{suffix}"
                    target.write_text(exc.acknowledgment, encoding="ascii", errors="replace")
                    result["written"] = str(target)
                results.append(result)
                continue
            metrics.record_inquiries("270", answer.asked, answer.answered, answer.unavailable)
            target = out_dir / f"{name}.271"
            target.write_text(answer.x12, encoding="ascii", errors="replace")
            results.append(
                {
                    "file": str(path),
                    "answered": True,
                    "written": str(target),
                    "patients_found": len(answer.member_ids),
                    "patients_unavailable": answer.unavailable,
                }
            )
            failed = failed or answer.unavailable > 0
    if args.json:
        json.dump(results, stdout, indent=2)
        stdout.write("\n")
    else:
        for r in results:
            if r["answered"]:
                later = r["patients_unavailable"]
                stdout.write(
                    f"{r['file']}: 271 written to {r['written']} "
                    f"({r['patients_found']} members found"
                    + (f", {later} answered AAA 42: the store could not be read" if later else "")
                    + ")\n"
                )
            else:
                where = f", {r['written']} written" if "written" in r else ""
                stdout.write(f"{r['file']}: not answered{where}: {r['reason']}\n")
    return EXIT_INPUT if failed else EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "eligibility", help="answer X12 270 eligibility inquiries with 271s (a batch of files)"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="270 interchanges, one a file")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where answers go")
    p.add_argument(
        "--on", type=_date, default=None, metavar="DATE", help="the day asked when a 270 says none"
    )
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_eligibility)
