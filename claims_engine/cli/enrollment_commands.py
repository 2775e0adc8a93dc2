"""``claims-engine enroll``: X12 834 enrollment files applied to the store's enrollment.

::

    claims-engine enroll FILE... [--sponsor ID] [--json]

Each FILE is one 834 interchange (005010X220A1) of a sponsor the reference data's
``sponsors.yaml`` lists. It is stored and applied in one transaction
(:func:`claims_engine.services.members.apply_834`): its members' maintenance, its TA1 (when
ISA14 asks) and 999, its report, and, when a change of coverage in the past makes decided claims
wrong, replacements of those claims. The claims it sent back are then adjudicated here, in this
process, before the next file is read (the next 835 pays or takes back the difference:
``claims-engine remit``). Files are applied in the order given.

``--sponsor ID`` applies the files as that sponsor's: a file whose N1*P5 names another is
refused whole. Without it, each file is its N1*P5's.

One report per file (``--json``: one JSON document of every file's report): the members added,
changed, terminated, reinstated, unchanged, stale (older than what the store knows) and refused
(with the reason and the INS segment's place), and the claims sent back to adjudication. A file
applied before is answered ``already applied`` and changes nothing.

Exit status: 0 when every file was applied, members refused inside a file included (they are
listed in the report: the rest of the file applies); 1 when a file could not be read, is not
X12, or was refused whole, each said in one line naming the file on standard error, the other
files applied; 2 when nothing could be done (no store, no reference data, an unknown
``--sponsor``). A file refused for its sponsor (not ``--sponsor``, or not in ``sponsors.yaml``)
is not stored: once that is fixed, the same file may be applied. One refused for its envelope,
its guide structure or BGN08 is stored as refused, with its TA1 or 999 (``claims-engine acks``):
the sponsor sends it again corrected, with a new ISA13.
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
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.observability import metrics
from claims_engine.runtime import clock


def cmd_enroll(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.members import apply_834
    from claims_engine.services.readjustment import readjust
    from claims_engine.services.recovery import claim_batches

    engine = store_engine()
    env = environment_from_vars()
    with database_errors(engine):
        runtime = env.runtime()  # no reference data: one line, before anything is stored
    sponsor: str | None = args.sponsor
    if sponsor is not None and sponsor not in runtime.sponsors:
        listed = ", ".join(sorted(runtime.sponsors)) or "none: the reference data has no sponsors"
        raise ConfigurationError(
            f"--sponsor {sponsor} is not a sponsor of the reference data's sponsors.yaml "
            f"(listed: {listed})"
        )
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in args.files:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            errors.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        now = clock.now()
        try:
            with database_errors(engine):
                runtime = env.runtime()  # the enrollment as the files before this one left it
                report = apply_834(
                    engine,
                    data,
                    file_name=str(path),
                    now=now,
                    plans=tuple(runtime.reference.plans),
                    sponsors=runtime.sponsors,
                    sponsor_id=sponsor,
                    readjust=readjust,
                )
        except InputFileError as exc:
            errors.append(str(exc))
            continue
        metrics.record_enrollment(report)
        result = report.to_json()
        result["text"] = report.text()
        if report.error and report.interchange_id is None:
            # refused for its sponsor before it was stored: fixed, the same file may come
            errors.append(f"{path}: refused: {report.error}: nothing stored")
            continue
        if report.error:
            errors.append(f"{path}: refused: {report.error}")
        elif report.readjusted and report.duplicate_of is None:
            ids = [int(r["claim_id"]) for r in report.readjusted if r.get("claim_id")]
            with database_errors(engine):
                result["adjudication"] = _adjudicate(engine, env, claim_batches(engine, ids), now)
        results.append(result)
    if args.json:
        documents = [{k: v for k, v in r.items() if k != "text"} for r in results]
        json.dump({"files": documents, "errors": errors}, stdout, indent=2)
        stdout.write("\n")
    else:
        for r in results:
            stdout.write(r["text"])
            done = r.get("adjudication")
            if done:
                stdout.write(_adjudication_line(done))
            if r["interchange_id"] is not None and not r["error"]:
                stdout.write(
                    f"  acknowledgments: claims-engine acks {r['interchange_id']} --out DIR\n"
                )
    for line in errors:
        stderr.write(f"claims-engine: {line}\n")
    return EXIT_INPUT if errors else EXIT_OK


def _adjudicate(engine: Any, env: Any, batches: list[list[int]], now: Any) -> dict[str, int]:
    """Adjudicate the claims an 834 sent back, batch by batch, with the runtime of the
    enrollment as it now is."""
    from claims_engine.services.stored_adjudication import BatchResult, adjudicate_claims

    runtime = env.runtime()
    total = BatchResult()
    for batch in batches:
        started = time.perf_counter()
        result = adjudicate_claims(engine, batch, runtime, now)
        metrics.record_adjudication(result, time.perf_counter() - started)
        total.add(result)
    return {
        "adjudicated": total.adjudicated,
        "pended": total.pended,
        "failed": total.failed,
        "deferred": total.deferred,
    }


def _adjudication_line(done: dict[str, int]) -> str:
    said = f"  adjudicated again: {done['adjudicated']} decided"
    if done["pended"] or done["failed"]:
        said += f", {done['pended'] + done['failed']} pended"
    if done["deferred"]:
        said += (
            f", {done['deferred']} waiting for an earlier interchange's intake (the workers' "
            "sweep adjudicates them)"
        )
    return said + " (their payments and take-backs go on the next 835: claims-engine remit)\n"


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "enroll", help="apply X12 834 enrollment files; adjudicate the claims they send back"
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="834 interchanges")
    p.add_argument(
        "--sponsor",
        metavar="ID",
        help="apply the files as this sponsor's (its N1*P5 id in sponsors.yaml): a file "
        "naming another sponsor is refused",
    )
    p.add_argument("--json", action="store_true", help="print the reports as one JSON document")
    p.set_defaults(func=cmd_enroll)
