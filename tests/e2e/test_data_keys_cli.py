"""`claims-engine keys generate-data-key` and `keys rotate-data` end to end, and what the
commands say when the keys are wrong: one line naming the column, never a traceback or a value."""

from __future__ import annotations

import json

import pytest

from tests.conftest import TEST_DATA_KEYS
from tests.e2e.cli_support import REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run

STATUS = ["status", "26463774", "--npi", "1234567893", "--json"]


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

    code, out, err = _run(["keys", "generate-data-key", "--id", "2026-12"], capsys)
    assert code == 0, err
    new_key = out.strip()
    assert new_key.startswith("2026-12:") and len(new_key) == len("2026-12:") + 44
    monkeypatch.setenv("CLAIMS_DATA_KEYS", f"{new_key},{TEST_DATA_KEYS}")

    code, out, _ = _run(["keys", "rotate-data", "--dry-run", "--json"], capsys)
    left = json.loads(out)
    assert code == 0 and left["dry_run"] and left["key_id"] == "2026-12"
    assert left["columns"]["claims.claim"] == 2 and left["columns"]["claims.identity"] == 2
    assert left["total"] >= 2 + 2 + 2 + 1  # claims, identities, decisions, the reference set

    code, out, err = _run(["keys", "rotate-data", "--batch-size", "1", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["total"] == left["total"]
    code, out, _ = _run(["keys", "rotate-data", "--dry-run", "--json"], capsys)
    assert json.loads(out)["total"] == 0

    monkeypatch.setenv("CLAIMS_DATA_KEYS", new_key)  # the old key is gone
    code, after, err = _run(STATUS, capsys)
    assert code == 0, err
    assert json.loads(after) == json.loads(before)

    code, out, _ = _run(["keys", "rotate-data"], capsys)
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
