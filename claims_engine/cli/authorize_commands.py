"""``claims-engine authorize``: X12 278 review requests answered with 278 responses, in batch.

::

    claims-engine authorize FILE... --out DIR [--json]

Each FILE is one 278 request interchange (005010X217); its answer is written into DIR as
``<FILE name>.278``, or, when the file cannot be answered, ``<FILE name>.999`` (a broken
functional group or transaction set) or ``<FILE name>.ta1`` (a broken interchange). The
command acts for the insurer: every event is handed to the prior-authorization service
(:mod:`claims_engine.services.authorizations`, through
:func:`claims_engine.services.review_requests.authorizations_decide`) on the reference data,
rule pack and decisions file (``CLAIMS_RULES_DIR``'s ``prior-auth/decisions.yaml``) in force,
which certifies, pends, modifies or denies it, or answers what an earlier request now stands
at. A file of 278 inquiries (005010X215 in GS08 / ST03) is answered the same way, each event
with where the request it names stands now, from the store alone (nothing is decided or
changed: :func:`claims_engine.services.review_requests.inquiry_decision`; no reference data is
needed for it). A batch has no limit of events a file. One line per file says what was written
(``--json``: a list of objects); the exit status is 1 when a file was not answered, 2 when
nothing could be done (no store, an unwritable DIR; for a request for review no reference
data or a decisions file that does not load, which stops the command at that file), each said
in one line.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    _writable,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.observability import metrics
from claims_engine.runtime import clock
from claims_engine.services.access import Principal, Role
from claims_engine.services.claim_inquiry import UnusableInquiry
from claims_engine.services.review_requests import (
    Decide,
    answer_278,
    authorization_rules,
    authorizations_decide,
)
from claims_engine.x12.reader278 import ReviewRequest
from claims_engine.x12.writer278 import Decisions

# who the command speaks for: the insurer's operator, who may ask about any requester
OPERATOR = Principal("cli:authorize", Role.INSURER)


def wired_decide(engine: Engine, now: datetime) -> Decide:
    """The prior-authorization service on the reference data, rule pack and decisions file in
    force, looked up when a request for review first needs it: a file of inquiries, answered
    from the store alone, needs none (a
    :class:`~claims_engine.domain.errors.ConfigurationError` when there is none)."""
    made: list[Decide] = []

    def decide(request: ReviewRequest, who: Principal) -> Decisions:
        if not made:
            env = environment_from_vars()
            runtime = env.runtime()
            rules = authorization_rules(env.settings.rules_dir, runtime.reference.plans)
            made.append(
                authorizations_decide(
                    engine, reference=runtime.reference, book=runtime.book, rules=rules, now=now
                )
            )
        return made[0](request, who)

    return decide


def cmd_authorize(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    out_dir: Path = args.out
    _writable(out_dir)
    engine = store_engine()
    now = clock.now()
    results: list[dict[str, Any]] = []
    failed = False
    with database_errors(engine):
        decide = wired_decide(engine, now)
        for path in args.files:
            try:
                data = Path(path).read_bytes()
            except OSError as exc:  # this file is not answered; the others still are
                failed = True
                reason = f"cannot read: {exc.strerror or exc}"
                stderr.write(f"claims-engine: {path}: {reason}\n")  # as enroll says it
                results.append(
                    {"file": str(path), "answered": False, "reason": reason, "said": True}
                )
                continue
            name = Path(path).name
            try:
                answer = answer_278(
                    engine, data, principal=OPERATOR, decide=decide, now=now, max_events=None
                )
            except UnusableInquiry as exc:
                metrics.record_rejected_inquiry("278")
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
            metrics.record_inquiries("278", answer.events, answer.reviewed)
            target = out_dir / f"{name}.278"
            target.write_text(answer.x12, encoding="ascii", errors="replace")
            results.append(
                {
                    "file": str(path),
                    "answered": True,
                    "written": str(target),
                    "events": answer.events,
                    "reviewed": answer.reviewed,
                    "rejected": answer.rejected,
                }
            )
    if args.json:
        json.dump([{k: v for k, v in r.items() if k != "said"} for r in results], stdout, indent=2)
        stdout.write("\n")
    else:
        for r in results:
            if r["answered"]:
                stdout.write(
                    f"{r['file']}: 278 written to {r['written']} ({r['events']} "
                    f"event{'' if r['events'] == 1 else 's'}: "
                    f"{r['reviewed']} reviewed, {r['rejected']} rejected)\n"
                )
            elif not r.get("said"):
                where = f", {r['written']} written" if "written" in r else ""
                stdout.write(f"{r['file']}: not answered{where}: {r['reason']}\n")
    return EXIT_INPUT if failed else EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "authorize",
        help="answer X12 278 health care services review requests and inquiries (files)",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="278 requests, one a file")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where answers go")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")
    p.set_defaults(func=cmd_authorize)
