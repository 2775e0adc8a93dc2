"""``claims-engine db upgrade``: the default SQLite file, the JSON output, a clear error for a
database that cannot be reached, and the URL mapping to the psycopg 3 driver."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claims_engine.cli.main import EXIT_OK, EXIT_USAGE, main
from claims_engine.store.db import MIGRATIONS, database_url


def test_db_upgrade_creates_the_default_sqlite_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAIMS_DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "applied 1: create the schema" in out
    assert (tmp_path / "var" / "claims.db").is_file()

    assert main(["db", "upgrade", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["applied"] == []
    assert report["version"] == len(MIGRATIONS)
    assert report["database"].endswith("/var/claims.db")


def test_db_upgrade_names_an_unreachable_database_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLAIMS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert main(["db", "upgrade"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("claims-engine: error: cannot upgrade the database at ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_plain_postgresql_urls_use_psycopg_3(given: str, used: str) -> None:
    assert database_url(given) == used
