"""`claims-engine data-keys generate` and `data-keys rotate` end to end, and what the
commands say when the keys are wrong: one line naming the column, never a traceback or a value."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_DATA_KEYS
from tests.e2e.cli_support import REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run

STATUS = ["status", "26463774", "--npi", "1234567893", "--json"]
WRITTEN = ("reference_sets", "api_keys", "claims", "store_settings", "schema_version")


def _store_with_two_claims(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0, err


def test_data_keys_rotate_and_the_old_key_can_go(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_with_two_claims(capsys)
    code, before, _ = _run(STATUS, capsys)
    assert code == 0

    code, out, err = _run(["data-keys", "generate", "--id", "2026-12"], capsys)
    assert code == 0, err
    new_key = out.strip()
    assert new_key.startswith("2026-12:") and len(new_key) == len("2026-12:") + 44
    monkeypatch.setenv("CLAIMS_DATA_KEYS", f"{new_key},{TEST_DATA_KEYS}")

    code, out, _ = _run(["data-keys", "rotate", "--dry-run", "--json"], capsys)
    left = json.loads(out)
    assert code == 0 and left["dry_run"] and left["key_id"] == "2026-12"
    assert left["columns"]["claims.claim"] == 2 and left["columns"]["claims.identity"] == 2
    assert left["total"] >= 2 + 2 + 2 + 1  # claims, identities, decisions, the reference set

    code, out, err = _run(["data-keys", "rotate", "--batch-size", "1", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["total"] == left["total"]
    code, out, _ = _run(["data-keys", "rotate", "--dry-run", "--json"], capsys)
    assert json.loads(out)["total"] == 0

    monkeypatch.setenv("CLAIMS_DATA_KEYS", new_key)  # the old key is gone
    code, after, err = _run(STATUS, capsys)
    assert code == 0, err
    assert json.loads(after) == json.loads(before)

    code, out, _ = _run(["data-keys", "rotate"], capsys)
    assert code == 0 and "0 sealed again under data key 2026-12" in out


def test_a_wrong_data_key_is_one_clear_line(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_with_two_claims(capsys)
    monkeypatch.setenv("CLAIMS_DATA_KEYS", "test-1:" + "B" * 43 + "=")
    code, out, err = _run(STATUS, capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("claims-engine: error: claims.identity of row 1: data key 'test-1'")
    assert "1234567893" not in err and "26463774" not in err  # names the place, not the value

    monkeypatch.setenv("CLAIMS_DATA_KEYS", "k-unknown:" + "B" * 43 + "=")
    code, _, err = _run(STATUS, capsys)
    assert code == 1 and "sealed with data key 'test-1', which is not configured" in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLAIMS_ENCRYPTION": "off"}, "made with encryption on and this process has it off"),
        ({"CLAIMS_LOOKUP_KEY": "C" * 43 + "="}, "member lookups were made with lookup key"),
        ({"CLAIMS_DATA_KEYS": "nonsense"}, "not ID:BASE64"),
    ],
)
def test_keys_that_do_not_fit_the_store_are_refused(
    sqlite_store: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    message: str,
) -> None:
    _store_with_two_claims(capsys)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, err = _run(["submit", str(TWO_CLAIMS).replace("two-claims", "two-claims")], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "command",
    [
        ["reference", "load", str(REFERENCE)],
        ["keys", "create", "--role", "provider", "--npi", "1234567893"],
        ["db", "upgrade"],
    ],
)
def test_a_store_refuses_another_lookup_key_before_anything_is_written(
    sqlite_store: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    _store_with_two_claims(capsys)
    path = sqlite_store.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        before = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in WRITTEN]
    monkeypatch.setenv("CLAIMS_LOOKUP_KEY", "C" * 43 + "=")
    code, _, err = _run(command, capsys)
    assert code == 2 and "member lookups were made with lookup key" in err, err
    with sqlite3.connect(path) as db:
        after = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in WRITTEN]
    assert after == before


def test_an_embedded_store_keeps_its_key_file_beside_it(
    sqlite_store: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _store_with_two_claims(capsys)
    key_file = tmp_path / "claims.db-keys.json"
    assert key_file.exists() and list(elsewhere.iterdir()) == []
    code, before, err = _run(STATUS, capsys)
    assert code == 0, err
    monkeypatch.chdir(tmp_path)  # from another directory: the same store, the same keys
    code, out, err = _run(STATUS, capsys)
    assert code == 0 and out == before, err
    key_file.rename(tmp_path / "kept-safe.json")  # the keys gone: refused, none made up
    done = subprocess.run(  # a process of its own: this one keeps the keys it has read
        [sys.executable, "-m", "claims_engine.cli.main", "reference", "load", str(REFERENCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    err = done.stderr
    assert done.returncode == 2 and "has no key file beside it" in err and err.count("\n") == 1
    assert not key_file.exists()
    monkeypatch.setenv("CLAIMS_KEY_FILE", str(tmp_path / "kept-safe.json"))
    code, out, err = _run(STATUS, capsys)
    assert code == 0 and out == before, err


def test_a_key_file_and_a_lookup_key_are_made_by_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _run(["data-keys", "generate-lookup"], capsys)
    assert code == 0, err
    assert len(base64.b64decode(out.strip(), validate=True)) == 32
    key_file = tmp_path / "keys.json"
    code, out, err = _run(["data-keys", "key-file", "--out", str(key_file)], capsys)
    assert code == 0 and f"CLAIMS_KEY_FILE={key_file}" in out, err
    assert key_file.stat().st_mode & 0o777 == 0o600
    # a store made and read under it
    for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAIMS_KEY_FILE", str(key_file))
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    _store_with_two_claims(capsys)
    assert _run(STATUS, capsys)[0] == 0
    # never overwritten, and a folder that is not there is named
    before = key_file.read_bytes()
    code, _, err = _run(["data-keys", "key-file", "--out", str(key_file)], capsys)
    assert code == 2 and "exists" in err and err.count("\n") == 1
    assert key_file.read_bytes() == before
    code, _, err = _run(["data-keys", "key-file", "--out", str(tmp_path / "no" / "k")], capsys)
    assert code == 2 and "no folder" in err


def test_the_help_tells_the_two_kinds_of_keys_apart(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run(["--help"], capsys)
    out = capsys.readouterr().out
    keys = next(line for line in out.splitlines() if line.strip().startswith("keys "))
    data_keys = next(line for line in out.splitlines() if line.strip().startswith("data-keys "))
    assert "bearer" in keys and "health data" in data_keys
