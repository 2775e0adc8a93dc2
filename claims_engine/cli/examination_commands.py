"""``claims-engine pended``: examiners' work on pended claims from the command line.

    claims-engine pended queues [--json]
    claims-engine pended list QUEUE [--limit N] [--after CURSOR] [--json]
    claims-engine pended show CLAIM [--json]
    claims-engine pended take CLAIM --as NAME [--hours H]
    claims-engine pended give-back CLAIM --as NAME
    claims-engine pended reassign CLAIM --to NAME --as NAME --supervisor --why TEXT
    claims-engine pended release CLAIM [--reason CODE]... --as NAME --why TEXT
    claims-engine pended release --reason CODE --all [--limit N] --as NAME --why TEXT
    claims-engine pended deny CLAIM [--line N] --carc CARC [--group CO] [--rarc RARC]... ...
    claims-engine pended price CLAIM --line N (--allowed AMOUNT | --accept-charge) ...
    claims-engine pended override CLAIM --line N --as NAME --why TEXT
    claims-engine pended request-info CLAIM --asked TEXT [--remark RARC] --as NAME --why TEXT
    claims-engine pended info-received CLAIM --as NAME --why TEXT
    claims-engine pended note CLAIM --as NAME --why TEXT
    claims-engine pended approve ACTION --as NAME [--refuse --why TEXT]
    claims-engine pended awaiting [--json]
    claims-engine pended sweep [--json]

CLAIM is the claim's id or its payer claim number. ``--as`` names who acts (default
``CLAIMS_EXAMINER``); the command line is the operator's, trusted as the examiner it names
(through the API, the key says who). ``--expect-version N`` makes an action fail if the claim
changed since its version N (``show`` prints it).
"""

from __future__ import annotations

import argparse
import json
import os
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from sqlalchemy import Engine, select

from claims_engine.cli.pipeline_commands import database_errors, environment_from_vars, store_engine
from claims_engine.domain.errors import ConfigurationError
from claims_engine.runtime import clock
from claims_engine.services import examination as ex
from claims_engine.store.tables import claims_table

EXIT_OK = 0
EXIT_REFUSED = 1  # not found, changed meanwhile, held by another, not allowed
EXIT_USAGE = 2


def _examiner(args: argparse.Namespace, *, supervisor: bool = False) -> ex.Examiner:
    name = args.actor or os.environ.get("CLAIMS_EXAMINER", "")
    if not name:
        raise ConfigurationError("say who acts: --as NAME (or set CLAIMS_EXAMINER)")
    return ex.Examiner(name, supervisor=supervisor)


def _claim_id(engine: Engine, text: str) -> int:
    c = claims_table.c
    if not text.isascii() or not text.isdigit() or len(text) > 50:
        raise ConfigurationError(f"CLAIM {text!r}: a claim id or a payer claim number (digits)")
    with engine.connect() as conn:
        found = conn.execute(select(c.id).where(c.payer_claim_number == text)).scalar_one_or_none()
    if found is not None:
        return int(found)
    if len(text) > 18:
        raise ex.ClaimNotFound(f"no claim with payer claim number {text}")
    return int(text)


def _money_arg(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 125.00") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount like 125.00")
    return value


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    try:
        return int(args.action(args, stdout))
    except ex.ExaminationError as exc:
        stderr.write(f"claims-engine: {'error' if exc.status == 400 else 'refused'}: {exc}\n")
        return EXIT_USAGE if exc.status == 400 else EXIT_REFUSED


def _print_result(args: argparse.Namespace, result: ex.ActionResult, out: TextIO) -> int:
    if args.json:
        json.dump(result.as_json(), out, indent=2)
        out.write("\n")
    else:
        out.write(f"action {result.action_id} ({result.kind}, {result.state}): {result.message}\n")
    return EXIT_OK


def _queues(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    with database_errors(engine):
        found = ex.queues(engine, clock.now())
    if args.json:
        json.dump([q.as_json() for q in found], out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not found:
        out.write("no pended claims\n")
        return EXIT_OK
    out.write(
        f"{'queue':<22} {'claims':>7} {'charge':>14} {'oldest':>11} {'past due':>9} "
        f"{'due soon':>9} {'free':>6}\n"
    )
    for q in found:
        oldest = q.oldest_received.isoformat() if q.oldest_received else "-"
        out.write(
            f"{q.queue:<22} {q.claims:>7,} {q.charge:>14,} {oldest:>11} {q.past_due:>9,} "
            f"{q.due_soon:>9,} {q.unassigned:>6,}\n"
        )
    return EXIT_OK


def _list(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    with database_errors(engine):
        page = ex.queue_page(engine, args.queue, clock.now(), limit=args.limit, after=args.after)
    if args.json:
        json.dump(page.as_json(), out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not page.entries:
        known = environment_from_vars().runtime().reference.pend_reasons.queues
        if args.queue not in known:
            raise ConfigurationError(
                f"no queue {args.queue!r}: the pend reasons file names {', '.join(known)}"
            )
        out.write(f"queue {args.queue}: no pended claims\n")
        return EXIT_OK
    out.write(
        f"{'claim':>8} {'payer claim number':<27} {'pri':>3} {'charge':>12} {'age':>4} "
        f"{'due':>10} {'left':>5} {'held by':<12} reasons\n"
    )
    for e in page.entries:
        waiting = " (waiting for provider)" if e.waiting_for_provider else ""
        out.write(
            f"{e.claim_id:>8} {e.payer_claim_number:<27} {e.priority:>3} {e.charge:>12,} "
            f"{e.age_days:>4} {e.due_on.isoformat():>10} {e.days_left:>5} "
            f"{e.assigned_to or '-':<12} {', '.join(e.codes)}{waiting}\n"
        )
    if page.next_after:
        out.write(f"more: --after {page.next_after}\n")
    return EXIT_OK


def _show(args: argparse.Namespace, out: TextIO) -> int:
    env = environment_from_vars()
    engine = store_engine()
    with database_errors(engine):
        view = ex.show(engine, env.runtime(), _claim_id(engine, args.claim), clock.now())
    data = view.as_json()
    if args.json:
        json.dump(data, out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(
        f"claim {view.claim_id}, payer claim number {view.payer_claim_number}: {view.state}"
        f" (version {view.version})\n"
    )
    if view.queue:
        held = f", held by {view.assigned_to}" if view.assigned_to else ""
        out.write(f"  queue {view.queue}, priority {view.priority}, due {data['due_on']}{held}\n")
    out.write(f"  charge {view.charge:,}, received {view.received_on.isoformat()}\n")
    if view.decision:
        d = view.decision
        out.write(f"  decision: {d['outcome']}, allowed {d['allowed']}, paid {d['paid']}\n")
        for ln in d["lines"]:
            out.write(
                f"    line {ln['line']} {ln['code']:<8} charge {ln['charge']:>10} allowed "
                f"{ln['allowed']:>10} paid {ln['paid']:>10} {ln['outcome']:<12} "
                f"{' '.join(ln['adjustments'])}\n"
            )
    out.write("  pend reasons:\n")
    for item in view.items:
        line = f"line {item.line}" if item.line else "claim"
        resolved = f" - resolved by {item.resolved_by}" if item.state == "resolved" else ""
        out.write(f"    [{item.id}] {item.code} ({line}, {item.state}{resolved}): {item.detail}\n")
    if view.actions:
        out.write("  actions:\n")
        for a in view.actions:
            why = f": {a.why}" if a.why else ""
            out.write(
                f"    [{a.id}] {a.at.isoformat(timespec='minutes')} {a.actor} {a.kind} "
                f"({a.state}){why}\n"
            )
    return EXIT_OK


def _act(args: argparse.Namespace, out: TextIO, request: ex.Request) -> int:
    env = environment_from_vars()
    engine = store_engine()
    examiner = _examiner(args)
    with database_errors(engine):
        claim_id = _claim_id(engine, args.claim)
        result = ex.act(
            engine,
            env.runtime(),
            claim_id,
            examiner,
            request,
            clock.now(),
            expected_version=args.expect_version,
        )
    return _print_result(args, result, out)


def _take(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    examiner = _examiner(args)
    with database_errors(engine):
        claim_id = _claim_id(engine, args.claim)
        result = ex.take(
            engine,
            claim_id,
            examiner,
            clock.now(),
            hold=timedelta(hours=args.hours),
            expected_version=args.expect_version,
        )
    return _print_result(args, result, out)


def _give_back(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    examiner = _examiner(args, supervisor=args.supervisor)
    with database_errors(engine):
        result = ex.give_back(
            engine,
            _claim_id(engine, args.claim),
            examiner,
            clock.now(),
            args.why or "",
            expected_version=args.expect_version,
        )
    return _print_result(args, result, out)


def _reassign(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    supervisor = _examiner(args, supervisor=args.supervisor)
    with database_errors(engine):
        result = ex.reassign(
            engine,
            _claim_id(engine, args.claim),
            supervisor,
            ex.Examiner(args.to),
            clock.now(),
            args.why,
            expected_version=args.expect_version,
        )
    return _print_result(args, result, out)


def _release(args: argparse.Namespace, out: TextIO) -> int:
    if args.all:
        if args.claim is not None:
            raise ConfigurationError("give a CLAIM or --all, not both")
        if len(args.reason) != 1:
            raise ConfigurationError("--all releases the claims of one --reason CODE")
        env = environment_from_vars()
        engine = store_engine()
        examiner = _examiner(args)
        with database_errors(engine):
            released, left = ex.release_all(
                engine,
                env.runtime(),
                args.reason[0],
                examiner,
                args.why,
                clock.now(),
                limit=args.limit,
            )
        if args.json:
            json.dump({"released": released, "left": left}, out, indent=2)
            out.write("\n")
        else:
            out.write(
                f"released {released:,} claims pended for {args.reason[0]}"
                + (f"; {left:,} left (held by another examiner, or changed)" if left else "")
                + "\n"
            )
        return EXIT_OK
    if args.limit is not None:
        raise ConfigurationError("--limit goes with --all")
    if args.claim is None:
        raise ConfigurationError("give the CLAIM to release, or --reason CODE --all")
    return _act(args, out, ex.Release(args.why, tuple(args.reason)))


def _deny(args: argparse.Namespace, out: TextIO) -> int:
    return _act(
        args, out, ex.Deny(args.why, args.line, args.carc.upper(), args.group.upper(),
                           tuple(r.upper() for r in args.rarc))
    )  # fmt: skip


def _price(args: argparse.Namespace, out: TextIO) -> int:
    if (args.allowed is None) == (not args.accept_charge):
        raise ConfigurationError("give --allowed AMOUNT or --accept-charge (one of them)")
    return _act(args, out, ex.Price(args.why, args.line, args.allowed))


def _override(args: argparse.Namespace, out: TextIO) -> int:
    return _act(args, out, ex.Override(args.why, args.line))


def _request_info(args: argparse.Namespace, out: TextIO) -> int:
    return _act(args, out, ex.RequestInfo(args.why, args.asked, args.remark.upper()))


def _info_received(args: argparse.Namespace, out: TextIO) -> int:
    return _act(args, out, ex.InfoReceived(args.why))


def _note(args: argparse.Namespace, out: TextIO) -> int:
    return _act(args, out, ex.Note(args.why))


def _approve(args: argparse.Namespace, out: TextIO) -> int:
    env = environment_from_vars()
    engine = store_engine()
    examiner = _examiner(args)
    if args.refuse and not args.why:
        raise ConfigurationError("--refuse needs --why TEXT")
    with database_errors(engine):
        result = ex.approve(
            engine,
            env.runtime(),
            args.action_id,
            examiner,
            clock.now(),
            refuse=args.refuse,
            why=args.why or "",
        )
    return _print_result(args, result, out)


def _awaiting(args: argparse.Namespace, out: TextIO) -> int:
    engine = store_engine()
    with database_errors(engine):
        found = ex.awaiting_approval(engine)
    if args.json:
        json.dump(found, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not found:
        out.write("no action waits for approval\n")
    for a in found:
        out.write(
            f"action {a['action_id']}: {a['kind']} of claim {a['claim_id']} by {a['actor']} "
            f"at {a['at']}\n"
        )
    return EXIT_OK


def _sweep(args: argparse.Namespace, out: TextIO) -> int:
    env = environment_from_vars()
    engine = store_engine()
    with database_errors(engine):
        results = ex.expire_info_requests(engine, env.runtime(), clock.now())
    if args.json:
        json.dump([r.as_json() for r in results], out, indent=2)
        out.write("\n")
        return EXIT_OK
    out.write(f"denied {len(results)} claims whose request for information went unanswered\n")
    for r in results:
        out.write(f"  {r.message}\n")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    p = sub.add_parser("pended", help="examiners' work on pended claims: queues and actions")
    psub = p.add_subparsers(dest="pended_command", metavar="ACTION")
    psub.required = True

    def command(name: str, action: Any, help_text: str, *, claim: bool = True) -> Any:
        c = psub.add_parser(name, help=help_text)
        if claim:
            c.add_argument("claim", metavar="CLAIM", help="claim id or payer claim number")
        c.add_argument("--json", action="store_true")
        c.set_defaults(func=_run, action=action)
        return c

    def acting(c: Any, *, why: bool = True) -> None:
        c.add_argument("--as", dest="actor", metavar="NAME", help="who acts (CLAIMS_EXAMINER)")
        c.add_argument(
            "--expect-version", type=int, metavar="N", help="refuse if the claim changed since N"
        )
        if why:
            c.add_argument("--why", required=True, metavar="TEXT", help="the reason, recorded")

    command("queues", _queues, "the queues, with counts and due dates", claim=False)
    c = command("list", _list, "a queue's claims, most urgent first", claim=False)
    c.add_argument("queue", metavar="QUEUE")
    c.add_argument("--limit", type=int, default=ex.PAGE, metavar="N")
    c.add_argument("--after", metavar="CURSOR", help="the next page after this cursor")
    command("show", _show, "a claim's pend reasons, decision, actions and member history")
    c = command("take", _take, "hold a claim for yourself")
    acting(c, why=False)
    c.add_argument("--hours", type=float, default=4.0, metavar="H")
    c = command("give-back", _give_back, "let go of a claim you hold")
    acting(c, why=False)
    c.add_argument("--why", metavar="TEXT")
    c.add_argument("--supervisor", action="store_true", help="act as a supervisor")
    c = command("reassign", _reassign, "a supervisor hands a claim to another examiner")
    acting(c)
    c.add_argument("--to", required=True, metavar="NAME")
    c.add_argument("--supervisor", action="store_true", help="act as a supervisor (required)")
    c = psub.add_parser("release", help="resolve pend reasons and adjudicate again")
    c.add_argument("claim", metavar="CLAIM", nargs="?")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_run, action=_release)
    acting(c)
    c.add_argument("--reason", action="append", default=[], metavar="CODE")
    c.add_argument("--all", action="store_true", help="every claim pended for --reason CODE")
    c.add_argument(
        "--limit", type=int, metavar="N", help="with --all: the first N claims (by claim id)"
    )
    c = command("deny", _deny, "deny a line, or the whole claim")
    acting(c)
    c.add_argument("--line", type=int, default=0, metavar="N", help="0: the whole claim")
    c.add_argument("--carc", required=True, metavar="CARC")
    c.add_argument("--group", default="CO", metavar="GROUP")
    c.add_argument("--rarc", action="append", default=[], metavar="RARC")
    c = command("price", _price, "set a line's allowed amount, or accept its charge")
    acting(c)
    c.add_argument("--line", type=int, required=True, metavar="N")
    c.add_argument("--allowed", type=_money_arg, metavar="AMOUNT")
    c.add_argument("--accept-charge", action="store_true")
    c = command("override", _override, "set aside a coverage rule's denial of a line")
    acting(c)
    c.add_argument("--line", type=int, required=True, metavar="N")
    c = command("request-info", _request_info, "ask the provider; the claim waits for them")
    acting(c)
    c.add_argument("--asked", required=True, metavar="TEXT", help="what the provider sees")
    c.add_argument("--remark", default=ex.DEFAULT_INFO_REMARK, metavar="RARC")
    c = command("info-received", _info_received, "the provider answered: the wait ends")
    acting(c)
    c = command("note", _note, "a note for the next examiner (never shown outside)")
    acting(c)
    c = psub.add_parser("approve", help="approve (or --refuse) an action waiting for you")
    c.add_argument("action_id", type=int, metavar="ACTION")
    c.add_argument("--json", action="store_true")
    c.add_argument("--refuse", action="store_true")
    c.add_argument("--as", dest="actor", metavar="NAME")
    c.add_argument("--why", metavar="TEXT")
    c.set_defaults(func=_run, action=_approve)
    command("awaiting", _awaiting, "actions waiting for a second examiner", claim=False)
    command("sweep", _sweep, "deny claims whose request for information went unanswered",
            claim=False)  # fmt: skip
