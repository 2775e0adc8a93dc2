"""Integration fixtures: a migrated store on SQLite and on a real PostgreSQL; a real Redis.

PostgreSQL is found at ``CLAIMS_TEST_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Each test gets its own schema, dropped afterwards.
When PostgreSQL cannot be reached the PostgreSQL tests fail if ``CI`` is set (a missing service
must never pass silently there) and are skipped otherwise. Redis is found at
``CLAIMS_TEST_REDIS_URL`` (default database 9 of the local server), emptied before and after
each test that uses it, and treated the same way when it cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from claims_engine.store.db import engine_for

POSTGRES_URL = os.environ.get(
    "CLAIMS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CLAIMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")
_reachable: str | None = None  # None: not tried yet; "": reachable; else the reason it is not


def _postgres_problem() -> str:
    global _reachable  # noqa: PLW0603 - one connection attempt per test session
    if _reachable is None:
        engine = engine_for(POSTGRES_URL + "?connect_timeout=3")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _reachable = ""
        except OperationalError as exc:
            _reachable = str(exc.orig or exc).strip().splitlines()[0]
        finally:
            engine.dispose()
    return _reachable


def in_ci() -> bool:
    """Whether this run is CI, where a missing service is a failure rather than a skip."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def unavailable(message: str) -> None:
    """A service a test needs is missing: a failure in CI, a skip elsewhere."""
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _require_postgres() -> None:
    problem = _postgres_problem()
    if problem:
        unavailable(
            f"PostgreSQL at {POSTGRES_URL} is not reachable ({problem}); "
            "start it with tests/services.sh or set CLAIMS_TEST_POSTGRES_URL"
        )


def redis_client(url: str = REDIS_URL) -> redis.Redis:
    """A client of the Redis at ``url``, which answers (else :func:`unavailable`)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis at {url} is not reachable ({exc}); start it with tests/services.sh")
    return client


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis database, empty before and after the test."""
    client = redis_client()
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@contextmanager
def fresh_postgres_schema() -> Iterator[Engine]:
    """An engine whose ``search_path`` is a fresh schema, dropped afterwards (for fixtures of
    any scope)."""
    _require_postgres()
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = engine_for(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = engine_for(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """An engine whose ``search_path`` is a fresh schema, dropped after the test."""
    with fresh_postgres_schema() as engine:
        yield engine


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """An empty database, once on SQLite and once on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(name)
    return result
