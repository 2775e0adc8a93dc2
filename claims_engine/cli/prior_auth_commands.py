"""``claims-engine prior-auth``: the clinical reviewers' and operators' side of prior
authorization (:mod:`claims_engine.services.authorizations`).

::

    claims-engine prior-auth queue [--json]
    claims-engine prior-auth due [--within 12h] [--alert] [--json]
    claims-engine prior-auth show NUMBER [--json]
    claims-engine prior-auth decide NUMBER --action A1|A2|A3|A6|CT --as WHO [--why TEXT]
                                    [--approve LINE=QUANTITY ...]
    claims-engine prior-auth extend NUMBER --as WHO
    claims-engine prior-auth cancel NUMBER --as WHO
    claims-engine prior-auth expire
    claims-engine prior-auth check [RULES_DIR] [--reference DIR]

``queue`` lists the pended requests, the soonest due first; ``due`` the open requests due
within ``--within`` (overdue ones too) and, with ``--alert``, alerts those within their plan's
``alert_before`` (each once: a warning in the log and ``claims_prior_auth_alerts_total``).
``check`` loads the decisions file of a rules folder (its plans checked against the reference
data of ``--reference``, by default ``fixtures/reference``) and runs its test cases
(``prior-auth/tests.yaml``): each failure one line, exit 1; a file that does not load, exit 2.
The decisions file is ``prior-auth/decisions.yaml`` of the rules folder (``CLAIMS_RULES_DIR``).
A request that is not there, or not in a state the action applies to, is one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.prior_auth import REVIEWER_ACTIONS, Action
from claims_engine.rules.authorization_rules import (
    AuthRules,
    decision_rules_path,
    default_rules,
    load_authorization_rules,
)
from claims_engine.runtime import clock

_WITHIN = re.compile(r"^(\d{1,5})([hd])$")


def _within(text: str) -> timedelta:
    found = _WITHIN.match(text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 12h or 2d")
    amount = int(found.group(1))
    return timedelta(hours=amount) if found.group(2) == "h" else timedelta(days=amount)


def _approval(text: str) -> tuple[int, Decimal]:
    line, sep, quantity = text.partition("=")
    try:
        if not sep or not line.isdigit():
            raise ValueError
        return int(line), Decimal(quantity)
    except (ValueError, InvalidOperation):
        raise argparse.ArgumentTypeError(f"{text!r} is not LINE=QUANTITY (such as 1=6)") from None


def authorization_rules(rules_dir: Path, known_plans: Any) -> AuthRules:
    """The decisions file of ``rules_dir`` (none there: every service that needs
    authorization goes to review, on the default clocks)."""
    path = decision_rules_path(rules_dir)
    if not path.exists():
        return default_rules()
    return load_authorization_rules(path, known_plans=known_plans)


def _errors() -> tuple[type[Exception], ...]:
    from claims_engine.services import authorizations as pa

    return (pa.AuthorizationNotFound, pa.AuthorizationConflict, pa.AuthorizationRefused)


def _show(view: Any, stdout: TextIO, as_json: bool) -> None:
    if as_json:
        json.dump(view.as_json(), stdout, indent=2)
        stdout.write("\n")
        return
    stdout.write(
        f"{view.number}: {view.state} ({view.action or '-'}), {view.urgency}, "
        f"received {view.received_at.isoformat()}, due {view.due_at.isoformat()}\n"
    )
    if view.reason:
        stdout.write(f"  reason: {view.reason}\n")
    for s in view.services:
        stdout.write(
            f"  service {s.line}: {' '.join(s.codes)} {s.unit}: asked {s.requested}, "
            f"approved {s.approved}, used {s.used}, left {s.left} ({s.action or '-'})\n"
        )


def cmd_queue(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import clinical_queue

    engine = store_engine()
    now = clock.now()
    with database_errors(engine):
        queued = clinical_queue(engine, limit=args.limit)
    _list(queued, now, stdout, args.json)
    return EXIT_OK


def _list(
    queued: list[Any], now: Any, stdout: TextIO, as_json: bool, none: str = "no open request"
) -> None:
    if as_json:
        json.dump(
            [
                {
                    "number": q.number,
                    "urgency": q.urgency,
                    "plan_id": q.plan_id,
                    "requesting_npi": q.requesting_npi,
                    "received_at": q.received_at.isoformat(),
                    "due_at": q.due_at.isoformat(),
                    "hours_left": round(q.left(now) / timedelta(hours=1), 1),
                    "alerted": q.alerted,
                }
                for q in queued
            ],
            stdout,
            indent=2,
        )
        stdout.write("\n")
        return
    if not queued:
        stdout.write(none + "\n")
        return
    stdout.write(f"{'number':<15} {'urgency':<9} {'plan':<12} {'due':<19} {'hours left':>10}\n")
    for q in queued:
        left = q.left(now) / timedelta(hours=1)
        stdout.write(
            f"{q.number:<15} {q.urgency:<9} {q.plan_id:<12} {q.due_at.isoformat():<19} "
            f"{left:>10.1f}{'  alerted' if q.alerted else ''}\n"
        )


def cmd_due(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.observability.metrics import record_prior_auth_alerts
    from claims_engine.services.authorizations import alert_due, due_within

    engine = store_engine()
    now = clock.now()
    with database_errors(engine):
        if args.alert:
            env = environment_from_vars()
            runtime = env.runtime()
            rules = authorization_rules(env.settings.rules_dir, runtime.reference.plans)
            alerted = alert_due(engine, rules, now)
            record_prior_auth_alerts(q.urgency for q in alerted)
        queued = due_within(engine, now, args.within)
    hours = args.within / timedelta(hours=1)
    within = f"{hours:g} hour{'' if hours == 1 else 's'}"
    _list(queued, now, stdout, args.json, f"no open request due within {within}")
    return EXIT_OK


def _one(
    args: argparse.Namespace,
    stdout: TextIO,
    stderr: TextIO,
    act: Callable[[Engine], Any],
) -> int:
    """What ``act`` answers on the store (one request's view), shown; a refusal (no such
    request, nothing to do, a decision the request cannot take) one line and exit 1."""
    engine = store_engine()
    try:
        with database_errors(engine):
            view = act(engine)
    except _errors() as exc:
        stderr.write(f"claims-engine: refused: {exc}\n")
        return EXIT_INPUT
    _show(view, stdout, args.json)
    return EXIT_OK


def cmd_show(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import inquire

    return _one(args, stdout, stderr, lambda engine: inquire(engine, None, number=args.number))


def cmd_decide(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import decide

    return _one(
        args,
        stdout,
        stderr,
        lambda engine: decide(
            engine,
            args.number,
            Action(args.action),
            args.actor,
            clock.now(),
            reason=args.why or "",
            approved=dict(args.approve or ()),
        ),
    )


def cmd_extend(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import extend

    env = environment_from_vars()

    def act(engine: Engine) -> Any:
        runtime = env.runtime()
        rules = authorization_rules(env.settings.rules_dir, runtime.reference.plans)
        return extend(engine, args.number, rules, args.actor, clock.now())

    return _one(args, stdout, stderr, act)


def cmd_cancel(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import cancel

    return _one(
        args, stdout, stderr, lambda engine: cancel(engine, args.number, args.actor, clock.now())
    )


def cmd_expire(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.authorizations import expire

    engine = store_engine()
    with database_errors(engine):
        numbers = expire(engine, clock.now())
    stdout.write(f"{len(numbers)} authorizations expired\n")
    for number in numbers:
        stdout.write(f"  {number}\n")
    return EXIT_OK


def cmd_check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.domain.reference_data import load_reference
    from claims_engine.rules.authorization_rules import CASES_FILE, run_cases
    from claims_engine.rules.book import load_rulebook

    rules_dir = Path(args.rules_dir)
    reference = load_reference(args.reference)
    book = load_rulebook(rules_dir, known_plans=reference.plans)
    rules = authorization_rules(rules_dir, reference.plans)
    stdout.write(
        f"{decision_rules_path(rules_dir)}: {len(rules.decisions)} decision rules, "
        f"{len(rules.gold_cards)} gold cards (version {rules.version or '-'})\n"
    )
    cases = rules_dir / CASES_FILE
    if not cases.exists():
        return EXIT_OK
    results = run_cases(cases.read_text(encoding="utf-8"), str(cases), rules, book)
    failed = [r for r in results if not r.passed]
    for r in failed:
        stdout.write(f"FAIL {r.name}: {'; '.join(r.problems)}\n")
    stdout.write(f"{len(results) - len(failed)} of {len(results)} cases passed\n")
    return EXIT_INPUT if failed else EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser("prior-auth", help="prior authorization: the clinical queue and decisions")
    psub = p.add_subparsers(dest="prior_auth_command", metavar="COMMAND")
    psub.required = True

    c = psub.add_parser("queue", help="pended requests, the soonest due first")
    c.add_argument("--limit", type=int, default=100)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_queue)

    c = psub.add_parser("due", help="open requests due soon; --alert alerts those near it")
    c.add_argument("--within", type=_within, default=timedelta(hours=12), metavar="12h")
    c.add_argument("--alert", action="store_true", help="alert (once each) the requests near")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_due)

    c = psub.add_parser("show", help="one authorization: its state, services and units left")
    c.add_argument("number")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_show)

    c = psub.add_parser("decide", help="a clinical reviewer's decision on a pended request")
    c.add_argument("number")
    c.add_argument("--action", required=True, choices=sorted(a.value for a in REVIEWER_ACTIONS))
    c.add_argument("--as", dest="actor", required=True, metavar="WHO")
    c.add_argument("--why", help="the reason in words (a denial or modification needs one)")
    c.add_argument("--approve", type=_approval, action="append", metavar="LINE=QUANTITY")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_decide)

    for name, func, text in (
        ("extend", cmd_extend, "extend a pended standard request's clock, once"),
        ("cancel", cmd_cancel, "cancel a request or an approved authorization"),
    ):
        c = psub.add_parser(name, help=text)
        c.add_argument("number")
        c.add_argument("--as", dest="actor", required=True, metavar="WHO")
        c.add_argument("--json", action="store_true")
        c.set_defaults(func=func)

    c = psub.add_parser("expire", help="mark approved authorizations past their last day")
    c.set_defaults(func=cmd_expire)

    c = psub.add_parser("check", help="load the decisions file and run its test cases")
    c.add_argument("rules_dir", nargs="?", default="rules", metavar="RULES_DIR")
    c.add_argument("--reference", default="fixtures/reference", metavar="DIR")
    c.set_defaults(func=cmd_check)
