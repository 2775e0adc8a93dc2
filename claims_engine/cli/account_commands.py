"""The command ``users``: the accounts of the web portal (see
:mod:`claims_engine.services.accounts`), made, listed, reset and disabled by the payer's
administrator. A new or reset account's invitation link is printed once: whoever holds it
chooses the account's password, so it goes to the account's owner only."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import ConfigurationError
from claims_engine.runtime import clock

if TYPE_CHECKING:
    from claims_engine.services.accounts import Invitation

ROLES = ("member", "provider", "insurer", "examiner", "supervisor")
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def _base_url(text: str) -> str:
    """``--base-url``: where the portal is served, without a trailing slash."""
    url = text.strip().rstrip("/")
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise ConfigurationError(
            f"--base-url {text!r}: the portal's address, http:// or https://, e.g. "
            f"{DEFAULT_BASE_URL}"
        )
    return url


def _print_invitation(
    invitation: Invitation, base_url: str, args: argparse.Namespace, out: TextIO
) -> None:
    link = base_url + invitation.path()
    if args.json:
        json.dump(
            {
                "user_id": invitation.user_id,
                "email": invitation.email,
                "role": invitation.role.value,
                "key_id": f"web-{invitation.user_id}",
                "invitation_url": link,
                "expires_at": invitation.expires_at.isoformat(),
            },
            out,
            indent=2,
        )
        out.write("\n")
        return
    out.write(
        f"account {invitation.user_id} ({invitation.role.value}) for {invitation.email}\n"
        f"invitation link (shown once; send it to them only): {link}\n"
        f"it lets its holder choose the account's password, once, until "
        f"{invitation.expires_at.isoformat()} UTC\n"
    )


def cmd_users_create(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.access import Role
    from claims_engine.services.accounts import create_user

    base_url = _base_url(args.base_url)
    engine = store_engine()
    reference = None
    if args.role == "member":
        with database_errors(engine):
            reference = environment_from_vars().runtime().reference
    with database_errors(engine):
        invitation = create_user(
            engine,
            Role(args.role),
            email=args.email,
            now=clock.now(),
            member_id=args.member_id,
            npis=args.npi or (),
            senders=args.sender or (),
            reference=reference,
        )
    _print_invitation(invitation, base_url, args, stdout)
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.accounts import list_users

    engine = store_engine()
    with database_errors(engine):
        found = list_users(engine, clock.now())
    if args.json:
        json.dump({"users": found}, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for u in found:
        seen = (
            f"last signed in {u['last_sign_in_at']}" if u["last_sign_in_at"] else "never signed in"
        )
        stdout.write(f"{u['user_id']}  {u['role']:<10}  {u['state']:<8}  {u['email']}  {seen}\n")
    return EXIT_OK


def cmd_users_reset(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.accounts import AccountError, reset_user

    base_url = _base_url(args.base_url)
    engine = store_engine()
    with database_errors(engine):
        try:
            invitation = reset_user(engine, args.user_id, clock.now())
        except AccountError as exc:
            stderr.write(f"claims-engine: {exc}\n")
            return EXIT_INPUT
    _print_invitation(invitation, base_url, args, stdout)
    return EXIT_OK


def cmd_users_disable(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.accounts import disable_user

    engine = store_engine()
    with database_errors(engine):
        done = disable_user(engine, args.user_id, clock.now())
    if not done:
        stderr.write(f"claims-engine: no account {args.user_id} that is not disabled already\n")
        return EXIT_INPUT
    stdout.write(
        f"account {args.user_id} disabled: its sessions ended and its key web-{args.user_id} "
        "is revoked\n"
    )
    return EXIT_OK


def add_commands(sub: Any) -> None:
    u = sub.add_parser(
        "users", help="accounts of the web portal: people who sign in (not API keys: keys)"
    )
    usub = u.add_subparsers(dest="users_command", metavar="ACTION")
    usub.required = True
    uc = usub.add_parser("create", help="make an account; its invitation link is shown once")
    uc.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="member (--member-id), provider (--npi), insurer, examiner or supervisor",
    )
    uc.add_argument("--email", required=True, help="the person's email: they sign in with it")
    uc.add_argument("--member-id", metavar="ID", help="the member a member account speaks for")
    uc.add_argument(
        "--npi",
        action="extend",
        nargs="+",
        metavar="NPI",
        help="the billing NPIs a provider account holds (repeatable)",
    )
    uc.add_argument(
        "--sender",
        action="extend",
        nargs="+",
        metavar="ID",
        help="a sender id (ISA06, GS02) a provider account may send 837s under (repeatable)",
    )
    uc.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        help=f"where the portal is served, for the link (default {DEFAULT_BASE_URL})",
    )
    uc.add_argument("--json", action="store_true")
    uc.set_defaults(func=cmd_users_create)
    ul = usub.add_parser("list", help="every account and its state, without secrets")
    ul.add_argument("--json", action="store_true")
    ul.set_defaults(func=cmd_users_list)
    ur = usub.add_parser(
        "reset",
        help="a lost phone or password: clear password, app and recovery codes; a new link",
    )
    ur.add_argument("user_id")
    ur.add_argument("--base-url", default=DEFAULT_BASE_URL, help="where the portal is served")
    ur.add_argument("--json", action="store_true")
    ur.set_defaults(func=cmd_users_reset)
    ud = usub.add_parser("disable", help="stop an account for good: sessions end, key revoked")
    ud.add_argument("user_id")
    ud.set_defaults(func=cmd_users_disable)
