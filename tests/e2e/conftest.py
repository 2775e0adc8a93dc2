"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a command on a SQLite file of the test's own, without Redis."""
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    return url
