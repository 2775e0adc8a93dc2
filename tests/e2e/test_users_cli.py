"""`claims-engine users`: accounts of the web portal made, listed, reset and disabled on the
command line; an invitation link it prints opens the account, and bad requests get one line."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.store import tables as t
from claims_engine.store.db import engine_for
from tests.e2e.cli_support import FROZEN_AT, REFERENCE
from tests.e2e.cli_support import run_cli as _run

NOW = datetime.fromisoformat(FROZEN_AT)


@pytest.fixture
def store(sqlite_store: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    return sqlite_store


def test_accounts_are_made_listed_reset_and_disabled(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        [
            "users",
            "create",
            "--role",
            "member",
            "--email",
            "lisa.garcia@example.org",
            "--member-id",
            "PG00000500",
        ],
        capsys,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("account ") and "(member) for lisa.garcia@example.org" in lines[0]
    assert lines[1].startswith(
        "invitation link (shown once; send it to them only): http://127.0.0.1:8000/invitation/"
    )
    assert lines[2].endswith("until 2026-11-09T09:30:00 UTC")
    user_id = lines[0].split()[1]
    token = lines[1].rsplit("/", 1)[1]

    engine = engine_for(store)
    try:
        assert accounts.invitation_of(engine, token, NOW) == (
            "lisa.garcia@example.org",
            Role.MEMBER,
        )
        code, out, err = _run(
            [
                "users",
                "create",
                "--role",
                "provider",
                "--email",
                "billing@clinic.example",
                "--npi",
                "1234567893",
                "--sender",
                "CLINIC01",
                "--base-url",
                "https://portal.example/",
                "--json",
            ],
            capsys,
        )
        assert code == 0, err
        provider = json.loads(out)
        assert provider["role"] == "provider" and provider["key_id"] == f"web-{provider['user_id']}"
        assert provider["invitation_url"].startswith("https://portal.example/invitation/")
        assert provider["expires_at"] == "2026-11-09T09:30:00"

        code, out, _ = _run(["users", "list", "--json"], capsys)
        listed = json.loads(out)["users"]
        assert [(u["user_id"], u["role"], u["state"]) for u in listed] == [
            (user_id, "member", "invited"),
            (provider["user_id"], "provider", "invited"),
        ]
        assert token not in out and "invitation" not in out  # no secret is listed
        code, out, _ = _run(["users", "list"], capsys)
        assert f"{user_id}  member      invited   lisa.garcia@example.org  never signed in" in out

        # the provider's key is listed with the others, as a portal account's
        code, out, _ = _run(["keys", "list", "--json"], capsys)
        keys = {k["key_id"]: k for k in json.loads(out)["keys"]}
        assert keys[provider["key_id"]]["label"] == "portal account"
        assert keys[provider["key_id"]]["senders"] == ["CLINIC01"]

        code, out, err = _run(["users", "reset", user_id], capsys)
        assert code == 0, err
        new_token = out.splitlines()[1].rsplit("/", 1)[1]
        assert new_token != token
        assert accounts.invitation_of(engine, token, NOW) is None
        assert accounts.invitation_of(engine, new_token, NOW) is not None

        code, out, err = _run(["users", "disable", user_id], capsys)
        assert code == 0 and f"account {user_id} disabled" in out, err
        with engine.connect() as conn:
            k = t.api_keys_table.c
            revoked = conn.execute(
                select(k.revoked_at).where(k.key_id == f"web-{user_id}")
            ).scalar_one()
        assert revoked == NOW
        assert accounts.invitation_of(engine, new_token, NOW) is None
        code, out, _ = _run(["users", "list", "--json"], capsys)
        assert [u["state"] for u in json.loads(out)["users"]] == ["disabled", "invited"]

        code, _, err = _run(["users", "disable", user_id], capsys)
        assert code == 1 and "no account" in err and err.count("\n") == 1
        code, _, err = _run(["users", "reset", user_id], capsys)
        assert code == 1 and f"account {user_id} is disabled" in err and err.count("\n") == 1
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["create", "--role", "sponsor", "--email", "a@b.example"], 2, "invalid choice"),
        (["create", "--role", "nobody", "--email", "a@b.example"], 2, "invalid choice"),
        (["create", "--role", "insurer", "--email", "not-an-email"], 2, "not an email address"),
        (["create", "--role", "member", "--email", "a@b.example"], 2, "--member-id"),
        (
            ["create", "--role", "member", "--email", "a@b.example", "--member-id", "NOBODY"],
            2,
            "member NOBODY is not in the reference data",
        ),
        (
            ["create", "--role", "provider", "--email", "a@b.example", "--npi", "1234567890"],
            2,
            "not a valid NPI",
        ),
        (
            ["create", "--role", "insurer", "--email", "a@b.example", "--base-url", "portal"],
            2,
            "--base-url",
        ),
        (["reset", "nobody"], 1, "no account nobody"),
        (["disable", "nobody"], 1, "no account nobody"),
    ],
)
def test_bad_user_requests_get_one_line_errors(
    store: str,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    exit_code: int,
    message: str,
) -> None:
    try:
        code, out, err = _run(["users", *args], capsys)
    except SystemExit as exc:  # argparse refuses a role it does not know
        code, (out, err) = int(str(exc.code)), capsys.readouterr()
    assert code == exit_code, err
    assert message in err and "Traceback" not in err
    if exit_code == 1 or "invalid choice" not in message:
        assert err.count("\n") == 1
    assert out == ""


def test_an_email_has_one_account(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["users", "create", "--role", "examiner", "--email", "ex@payer.example"]
    assert _run(args, capsys)[0] == 0
    code, out, err = _run([*args[:-1], "EX@payer.example"], capsys)
    assert code == 2 and "has an account already" in err and out == ""
