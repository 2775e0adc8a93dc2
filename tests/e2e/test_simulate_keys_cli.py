"""``rules simulate`` in worker processes on an embedded store whose keys are in the key file
beside its database (no key variables set, as after ``claims-engine demo``): the workers open
the store with the keys the command found, not "no data keys" (issue 16, section 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from claims_engine.cli.main import main
from claims_engine.services import simulation
from claims_engine.store.vault import use_vault
from tests.e2e.cli_support import REFERENCE, ROOT, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run

RULES = ROOT / "rules"


@pytest.fixture
def keys_beside_the_store(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's SQLite store with its keys in its own key file, none in the variables."""
    from workers.settings import environment

    for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    try:
        yield Path(sqlite_store.removeprefix("sqlite:///"))
    finally:
        environment().dispose()
        use_vault(None)  # the next test reads its keys from the variables again


def test_simulate_in_processes_opens_the_store_with_its_key_file(
    keys_beside_the_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    assert _run(["reference", "load", str(REFERENCE)], capsys)[0] == 0
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0, err
    assert keys_beside_the_store.with_name("claims.db-keys.json").is_file()
    # a chunk a family: the two claims' families go to two worker processes
    monkeypatch.setattr(simulation, "CHUNK_CLAIMS", 1)

    out_dir = tmp_path / "report"
    args = ["rules", "simulate", "--candidate", str(RULES), "--out", str(out_dir), "--json"]
    code = main([*args, "--processes", "2"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    summary = json.loads(out)

    code = main([*args, "--processes", "1"])  # the same in this process
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert json.loads(out) == summary
    assert summary["claims_simulated"] == 2
