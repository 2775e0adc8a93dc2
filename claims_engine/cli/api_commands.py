"""The commands of the adapters: ``serve`` (the HTTP API) and ``keys`` (its bearer keys)."""

from __future__ import annotations

import argparse
import base64
import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from claims_engine.cli.pipeline_commands import (
    EXIT_INPUT,
    EXIT_OK,
    database_errors,
    environment_from_vars,
    store_engine,
)
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.money import ascii_digits
from claims_engine.runtime import clock

MAX_KEY_DAYS = 3650  # ten years: a key lives at most this long (--days)
_ROLE_SEES = {"examiner": "pended claims", "supervisor": "pended claims, reassigns"}


def _check_listen(host: str, port: int) -> None:
    """Refuse, before anything is announced, an address the server could not listen on: a
    port out of range, a host that does not resolve, a port already in use. Every address
    ``host`` resolves to is bound and let go at once, as uvicorn will bind them."""
    if not 1 <= port <= 65535:
        raise ConfigurationError(f"--port must be from 1 to 65535, not {port}")
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    for family, kind, proto, _name, address in found:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue  # a family this machine lacks: uvicorn skips it too
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                where = f"{host}:{port}"
                if address[0] != host:  # a name, or one of several addresses
                    bound = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
                    where += f" ({bound}:{port})"
                raise ConfigurationError(
                    f"cannot listen on {where}: {exc.strerror or exc}"
                ) from exc


def cmd_serve(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from adapters.api import serving

    if args.workers < 1:
        raise ConfigurationError(f"--workers must be at least 1, not {args.workers}")
    _check_listen(args.host, args.port)  # before it is announced: one line, not uvicorn's logs
    store_engine()  # refuse a missing or old schema, or missing keys, before listening
    from adapters.api.app import api_settings_from_env

    api_settings_from_env()  # and the API's own settings, before any process is started
    stdout.write(
        f"claims-engine API on http://{args.host}:{args.port} (OpenAPI at /openapi.json)\n"
    )
    stdout.flush()
    settings = serving.ServeSettings(args.host, args.port, args.workers, args.log_level)
    failed = serving.run_server(settings)
    if failed:
        stderr.write(
            f"claims-engine serve: the API could not start (exit code {failed}); "
            "the log lines above say why\n"
        )
        return EXIT_INPUT
    return EXIT_OK


def cmd_keys_create(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.access import Role, create_key

    if not 1 <= args.days <= MAX_KEY_DAYS:
        raise ConfigurationError(f"--days must be from 1 to {MAX_KEY_DAYS}, not {args.days}")
    engine = store_engine()
    env = environment_from_vars()
    reference = None
    sponsors = None
    if args.role == "member":
        with database_errors(engine):
            reference = env.runtime().reference
    elif args.role == "sponsor" and args.sponsor:
        with database_errors(engine):
            sponsors = list(env.runtime().sponsors)
    with database_errors(engine):
        key = create_key(
            engine,
            Role(args.role),
            now=clock.now(),
            npis=args.npi or (),
            member_id=args.member_id,
            dependents=args.dependent or (),
            lifetime=timedelta(days=args.days),
            label=args.label,
            reference=reference,
            senders=args.sender or (),
            same_partner_as=args.same_partner_as,
            sponsor_id=args.sponsor,
            sponsors=sponsors,
        )
    if args.json:
        json.dump(key.to_json(), stdout, indent=2)
        stdout.write("\n")
    else:
        stdout.write(
            f"key {key.key_id} ({key.role.value}), expires {key.expires_at.isoformat()}\n"
            f"token (shown once, keep it secret): {key.token}\n"
        )
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.access import revoke_key

    engine = store_engine()
    with database_errors(engine):
        done = revoke_key(engine, args.key_id, clock.now())
    if not done:
        stderr.write(f"claims-engine: no active key {args.key_id}\n")
        return EXIT_INPUT
    stdout.write(f"key {args.key_id} revoked\n")
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.access import list_keys

    engine = store_engine()
    with database_errors(engine):
        try:  # members are stored as lookups: the reference data names them
            reference = environment_from_vars().runtime().reference
        except ConfigurationError:
            reference = None
        found = list_keys(engine, reference)
    if args.json:
        json.dump({"keys": found}, stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for k in found:
        who = ",".join(k["npis"]) or k["member_id"] or _ROLE_SEES.get(k["role"], "all claims")
        if k.get("sponsor_id"):
            who = f"834s of sponsor {k['sponsor_id']}"
        if k["senders"]:
            who += f" sending as {','.join(k['senders'])}"
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else f"expires {k['expires_at']}"
        stdout.write(f"{k['key_id']}  {k['role']:<8}  {who}  {state}  {k['label']}\n")
    return EXIT_OK


def cmd_keys_rotate_data(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.services.data_keys import rotate_data

    engine = store_engine()

    def progress(column: str, done: int) -> None:
        if not args.json:
            stderr.write(f"\r{column}: {done} sealed again")
            stderr.flush()

    with database_errors(engine):
        result = rotate_data(
            engine, batch_size=args.batch_size, dry_run=args.dry_run, progress=progress
        )
    if args.json:
        json.dump(
            {
                "key_id": result.key_id,
                "dry_run": result.dry_run,
                "columns": result.resealed,
                "total": result.total,
                "left": result.left,
            },
            stdout,
            indent=2,
        )
        stdout.write("\n")
        return EXIT_OK
    if result.total and not args.dry_run:
        stderr.write("\n")
    verb = "to seal again" if args.dry_run else "sealed again"
    for column, count in result.resealed.items():
        stdout.write(f"{column:<28} {count:>10} {verb}\n")
    stdout.write(f"{'total':<28} {result.total:>10} {verb} under data key {result.key_id}\n")
    for column, count in result.left.items():
        stdout.write(
            f"{column:<28} {count:>10} still under an older key: a process still seals with "
            "it (restart it with the new key first), then run this again\n"
        )
    return EXIT_OK


def cmd_keys_generate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.store.vault import DataKey, new_secret

    secret = new_secret()
    DataKey(args.id, base64.b64decode(secret))  # checks the id
    stdout.write(f"{args.id}:{secret}\n")
    return EXIT_OK


def cmd_keys_generate_lookup(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.store.vault import new_secret

    stdout.write(f"{new_secret()}\n")
    return EXIT_OK


def cmd_keys_file(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from claims_engine.store.vault import new_key_file

    out: Path = args.out
    if out.exists() or out.is_symlink():
        raise ConfigurationError(f"--out {out}: it exists; a key file is never overwritten")
    if not out.parent.is_dir():
        raise ConfigurationError(f"--out {out}: no folder {out.parent}")
    try:
        new_key_file(out)
    except OSError as exc:
        raise ConfigurationError(f"--out {out}: cannot write it: {exc.strerror or exc}") from exc
    stdout.write(f"wrote {out} (mode 0600): set CLAIMS_KEY_FILE={out}\n")
    return EXIT_OK


def _batch_size(text: str) -> int:
    if not ascii_digits(text) or not 1 <= int(text) <= 100_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows from 1 to 100000")
    return int(text)


def add_commands(sub: Any) -> None:
    s = sub.add_parser("serve", help="the HTTP API (FastAPI on uvicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000, help="1 to 65535, free (default 8000)")
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, at least 1 (default 1), each listening on the port (SO_REUSEPORT)",
    )
    s.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser(
        "keys", help="bearer keys of the HTTP API (not the keys of health data: data-keys)"
    )
    ksub = k.add_subparsers(dest="keys_command", metavar="ACTION")
    ksub.required = True
    kc = ksub.add_parser("create", help="make a key; its token is shown once")
    kc.add_argument(
        "--role",
        required=True,
        choices=["provider", "member", "insurer", "examiner", "supervisor", "sponsor"],
        help="provider (--npi), member (--member-id), insurer (every claim), examiner or "
        "supervisor (works pended claims; a supervisor also reassigns them), sponsor "
        "(--sponsor: sends its own 834 enrollment)",
    )
    kc.add_argument(
        "--npi",
        action="extend",
        nargs="+",
        metavar="NPI",
        help="the billing NPIs a provider key holds (--npi A B, or --npi A --npi B)",
    )
    kc.add_argument("--member-id", metavar="ID", help="the member a member key speaks for")
    kc.add_argument(
        "--dependent",
        action="extend",
        nargs="+",
        metavar="ID",
        help="another member this member key may see (repeatable; minors on the member's "
        "own policy need no grant)",
    )
    kc.add_argument(
        "--sender",
        action="extend",
        nargs="+",
        metavar="ID",
        help="a sender id (ISA06, GS02) a provider key may send 837s under (repeatable; "
        "without one it sends none)",
    )
    kc.add_argument(
        "--same-partner-as",
        metavar="KEY_ID",
        help="the new key is this active key's trading partner's, and may share its sender ids",
    )
    kc.add_argument(
        "--sponsor",
        metavar="ID",
        help="the sponsor a sponsor key sends 834s for: its N1*P5 id in the reference data's "
        "sponsors.yaml",
    )
    kc.add_argument(
        "--days",
        type=int,
        default=90,
        help=f"days until it expires, 1 to {MAX_KEY_DAYS} (default 90)",
    )
    kc.add_argument("--label", default="", help="who it is for")
    kc.add_argument("--json", action="store_true")
    kc.set_defaults(func=cmd_keys_create)
    kr = ksub.add_parser("revoke", help="stop a key working")
    kr.add_argument("key_id")
    kr.set_defaults(func=cmd_keys_revoke)
    d = sub.add_parser(
        "data-keys",
        help="the keys health data is sealed with at rest (not the API's bearer keys: keys)",
    )
    dsub = d.add_subparsers(dest="data_keys_command", metavar="ACTION")
    dsub.required = True
    dg = dsub.add_parser("generate", help="print a new data key as ID:BASE64, for CLAIMS_DATA_KEYS")
    dg.add_argument("--id", required=True, help="the key's name, e.g. 2026-11")
    dg.set_defaults(func=cmd_keys_generate)
    dl = dsub.add_parser(
        "generate-lookup", help="print a new lookup key as BASE64, for CLAIMS_LOOKUP_KEY"
    )
    dl.set_defaults(func=cmd_keys_generate_lookup)
    df = dsub.add_parser(
        "key-file",
        help="write a new key file (a data key and a lookup key, mode 0600) for CLAIMS_KEY_FILE",
    )
    df.add_argument("--out", type=Path, required=True, metavar="FILE", help="a file not there yet")
    df.set_defaults(func=cmd_keys_file)
    dr = dsub.add_parser(
        "rotate",
        help="seal every stored PHI value again under the active data key (resumable)",
    )
    dr.add_argument(
        "--batch-size", type=_batch_size, default=500, help="rows a transaction, 1 to 100000"
    )
    dr.add_argument("--dry-run", action="store_true", help="only count what is left to seal")
    dr.add_argument("--json", action="store_true")
    dr.set_defaults(func=cmd_keys_rotate_data)
    kl = ksub.add_parser("list", help="every key, without secrets")
    kl.add_argument("--json", action="store_true")
    kl.set_defaults(func=cmd_keys_list)
