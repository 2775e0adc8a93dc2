"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import freezegun
import pydantic.v1  # noqa: F401  (FastAPI imports it when it makes its first route)
import pytest

# The demo serves its store over HTTP. pydantic and FastAPI read the types of the API's models
# and routes, and cannot build them from freezegun's fake datetime: they are imported before a
# test freezes the clock (here, and the engine's modules in tests/conftest.py), and freezegun
# leaves the classes in their modules alone. (The API takes its time as a value.)
freezegun.configure(extend_ignore_list=["adapters", "fastapi", "pydantic", "starlette", "uvicorn"])


@pytest.fixture
def sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment of a command on a SQLite file of the test's own, without Redis."""
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
    monkeypatch.delenv("CLAIMS_REDIS_URL", raising=False)
    return url
