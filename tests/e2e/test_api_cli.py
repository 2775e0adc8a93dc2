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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "provider"], "one or more --npi"),
        (["--role", "provider", "--npi", "1234567890"], "not a valid NPI"),
        (["--role", "member"], "--member-id"),
        (["--role", "member", "--member-id", "NOBODY"], "not in the reference data"),
        (["--role", "insurer", "--npi", "1234567893"], "takes no --npi"),
        (["--role", "insurer", "--days", "0"], "--days"),
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


def _get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
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
        ["keys", "create", "--role", "insurer", "--days", "36500", "--json"], capsys
    )
    token = json.loads(out)["token"]
    port = _free_port()
    env = {**os.environ, "CLAIMS_DATABASE_URL": sqlite_store}
    server = subprocess.Popen(
        [sys.executable, "-m", "claims_engine.cli", "serve", "--port", str(port)],
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
    finally:
        server.terminate()
        _, err = server.communicate(timeout=20)
    # a clean stop, and nothing about patients in what the server wrote
    assert b"Traceback" not in err
    assert b"26463774" not in err
