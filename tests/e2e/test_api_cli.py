"""`claims-engine keys` and `claims-engine serve` end to end: a key made on the command line
opens the API that `serve` starts, in a process of its own, on the embedded defaults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.cli_support import REFERENCE, ROOT, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run


def test_keys_are_made_listed_and_revoked(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    code, out, err = _run(
        ["keys", "create", "--role", "provider", "--npi", "1234567893", "--json"], capsys
    )
    assert code == 0, err
    made = json.loads(out)
    assert made["token"].startswith("ce_") and made["role"] == "provider"
    assert made["npis"] == ["1234567893"]
    assert made["expires_at"] == "2027-01-31T09:30:00"  # 90 days

    code, out, _ = _run(["keys", "list", "--json"], capsys)
    [listed] = json.loads(out)["keys"]
    assert listed["key_id"] == made["key_id"]
    assert "token" not in listed and made["token"] not in out  # the secret is not kept

    assert _run(["keys", "revoke", made["key_id"]], capsys)[0] == 0
    code, _, err = _run(["keys", "revoke", made["key_id"]], capsys)
    assert code == 1 and "no active key" in err


def test_several_values_follow_one_flag(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--npi A B`, as the help reads, and `--npi A --npi B` hold the same NPIs."""
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    made = []
    for npis in (
        ["--npi", "1234567893", "2781759230"],
        ["--npi", "2781759230", "--npi", "1234567893"],
    ):
        code, out, err = _run(["keys", "create", "--role", "provider", *npis, "--json"], capsys)
        assert code == 0, err
        made.append(sorted(json.loads(out)["npis"]))
    assert made[0] == made[1] == ["1234567893", "2781759230"]


def test_sender_ids_are_registered_to_one_trading_partner(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0

    def create(*args: str) -> tuple[int, dict[str, Any], str]:
        code, out, err = _run(["keys", "create", "--role", "provider", *args, "--json"], capsys)
        return code, json.loads(out) if code == 0 else {}, err

    code, clinic, err = create(
        "--npi", "1234567893", "--sender", "SUBMITTER01", "--sender", "APP 7"
    )
    assert code == 0, err
    assert clinic["senders"] == ["APP 7", "SUBMITTER01"]

    # another provider may not take them while the clinic's key is active
    code, _, err = create("--npi", "1497758544", "--sender", "SUBMITTER01")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert f"'SUBMITTER01' is registered to the active key {clinic['key_id']}" in err
    assert f"--same-partner-as {clinic['key_id']}" in err
    # a key of the clinic's own (to replace the first before it expires) may
    code, second, err = create(
        "--npi", "1234567893", "--sender", "SUBMITTER01", "--same-partner-as", clinic["key_id"]
    )
    assert code == 0, err
    code, _, err = create("--npi", "1497758544", "--sender", "OTHERCLINIC")
    assert code == 0, err

    code, out, _ = _run(["keys", "list", "--json"], capsys)
    assert [k["senders"] for k in json.loads(out)["keys"]] == [
        ["APP 7", "SUBMITTER01"],
        ["SUBMITTER01"],
        ["OTHERCLINIC"],
    ]
    code, out, _ = _run(["keys", "list"], capsys)
    assert "1234567893 sending as APP 7,SUBMITTER01  expires" in out

    # revoked, the clinic's keys no longer hold the id: it can be registered anew
    for key in (clinic, second):
        assert _run(["keys", "revoke", key["key_id"]], capsys)[0] == 0
    code, moved, err = create("--npi", "1497758544", "--sender", "SUBMITTER01")
    assert code == 0 and moved["senders"] == ["SUBMITTER01"], err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "provider"], "one or more --npi"),
        (["--role", "provider", "--npi", "1234567890"], "not a valid NPI"),
        (["--role", "member"], "--member-id"),
        (["--role", "member", "--member-id", "NOBODY"], "not in the reference data"),
        (["--role", "insurer", "--npi", "1234567893"], "takes no --npi"),
        (["--role", "insurer", "--days", "0"], "--days"),
        (["--role", "insurer", "--sender", "PAYER01"], "only a provider key takes --sender"),
        (["--role", "member", "--member-id", "PG00000100", "--sender", "M1"], "--sender"),
        (["--role", "provider", "--npi", "1234567893", "--sender", "X"], "not a sender id"),
        (
            ["--role", "provider", "--npi", "1234567893", "--sender", "ISA06 IS FAR TOO LONG"],
            "not a sender id",
        ),
        (
            ["--role", "provider", "--npi", "1234567893", "--same-partner-as", "abc"],
            "give them with --sender",
        ),
        (
            [
                "--role",
                "provider",
                "--npi",
                "1234567893",
                "--sender",
                "S1",
                "--same-partner-as",
                "x",
            ],
            "no active provider key x",
        ),
    ],
)
def test_bad_key_requests_get_one_line_errors(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    code, _out, err = _run(["keys", "create", *args], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/edi-x12")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_with_a_key_made_on_the_command_line(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    _code, out, _ = _run(
        ["keys", "create", "--role", "insurer", "--days", "3650", "--json"], capsys
    )
    token = json.loads(out)["token"]
    providers = {}  # the sample's billing provider, sending as its submitter, as another, as none
    for name, senders in (("own", ["SUBMITTER01"]), ("other", ["OTHER01"]), ("none", [])):
        args = ["--npi", "1234567893", *(f"--sender={s}" for s in senders)]
        code, made, problem = _run(
            ["keys", "create", "--role", "provider", "--days", "3650", *args, "--json"], capsys
        )
        assert code == 0, problem
        providers[name] = json.loads(made)["token"]
    port = _free_port()
    env = {**os.environ, "CLAIMS_DATABASE_URL": sqlite_store}
    server = subprocess.Popen(
        [sys.executable, "-m", "claims_engine.cli.main", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"{base}/readyz")
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        assert status == 200, body
        assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok"}
        assert _get(f"{base}/v1/claims/1")[0] == 401
        status, body = _get(f"{base}/v1/claims?limit=10", token)
        assert status == 200
        items = json.loads(body)["items"]
        assert [i["submitter_claim_id"] for i in items] == ["26463774", "26463775"]
        status, body = _get(f"{base}/v1/claims/{items[0]['id']}", token)
        assert status == 200 and json.loads(body)["state"] in ("adjudicated", "pended")
        # the file `submit` took in, sent again: a duplicate for its sender's key only
        sample = TWO_CLAIMS.read_bytes()
        status, body = _get(f"{base}/v1/interchanges", providers["own"], sample)
        assert status == 409, body
        for name, message in (
            ("other", "not registered to this key: 'SUBMITTER01'"),
            ("none", "no sender id registered"),
        ):
            status, body = _get(f"{base}/v1/interchanges", providers[name], sample)
            assert status == 403 and message in json.loads(body)["error"]["message"], body
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    # a clean stop, and nothing about patients in what the server wrote
    assert b"Traceback" not in err
    assert b"26463774" not in err
