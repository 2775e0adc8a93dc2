"""Issue 16.2, the environment and the edges of `serve`, `keys` and `fixtures`: a malformed
``CLAIMS_DATABASE_URL`` or ``CLAIMS_REDIS_URL``, a directory or a file that is no SQLite
database as the store, ``keys create --days`` out of range, ``serve`` on a port it cannot
listen on, ``fixtures generate --as-of`` out of range. Each ends in one line on standard error
saying what and where, with a non-zero exit and no traceback; ``/readyz`` answers JSON."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.api.app import ApiConfig, create_app
from claims_engine.domain.errors import ConfigurationError
from claims_engine.store.db import engine_for
from tests.e2e.cli_support import ROOT, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run
from workers.settings import Environment, Settings


def _one_line_error(code: int, err: str, *expected: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("claims-engine: error: "), err
    for part in expected:
        assert part in err, err


@pytest.fixture
def no_uvicorn(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """``serve`` must refuse before uvicorn runs: a call is recorded and returns at once."""
    from adapters.api import serving

    calls: list[Any] = []

    def recorded(settings: Any) -> int:
        calls.append(settings)
        return 0

    monkeypatch.setattr(serving, "run_server", recorded)
    yield calls


COMMANDS = [
    ["stats"],
    ["submit", str(TWO_CLAIMS)],
    ["worker"],
    ["serve", "--port", "18999"],
    ["keys", "list"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("garbage", "'garbage'", None),
        ("postgresql://claims:s3cret@db:notaport/claims", "claims:***@db:notaport", "s3cret"),
        ("nosuchdb://somewhere/x", "unknown kind of database ('nosuchdb')", None),
    ],
)
def test_a_malformed_database_url_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_uvicorn: list[Any],
    command: list[str],
    url: str,
    shown: str,
    hidden: str | None,
) -> None:
    monkeypatch.setenv("CLAIMS_DATABASE_URL", url)
    monkeypatch.setenv("CLAIMS_REDIS_URL", "redis://127.0.0.1:1/0")
    code, out, err = _run(command, capsys)
    _one_line_error(code, err, "CLAIMS_DATABASE_URL", shown)
    assert hidden is None or hidden not in err
    assert "API on" not in out and not no_uvicorn


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize(
    ("url", "shown", "hidden"),
    [
        ("notaurl", "'notaurl'", None),
        ("redis://:s3cret@localhost:99999/0", "Port out of range", "s3cret"),
    ],
)
def test_a_malformed_redis_url_is_one_line_naming_the_variable(
    sqlite_store: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_uvicorn: list[Any],
    command: list[str],
    url: str,
    shown: str,
    hidden: str | None,
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    monkeypatch.setenv("CLAIMS_REDIS_URL", url)
    code, out, err = _run(command, capsys)
    _one_line_error(code, err, "CLAIMS_REDIS_URL", shown)
    assert hidden is None or hidden not in err
    assert "API on" not in out and not no_uvicorn


def _app(tmp_path: Path, redis_url: str | None) -> tuple[Any, Any]:
    url = f"sqlite:///{tmp_path / 'claims.db'}"
    settings = Settings(
        database_url=url,
        redis_url=redis_url,
        rules_dir=ROOT / "rules",
        levels=frozenset({1, 2, 3, 4, 5}),
    )
    engine = engine_for(url)
    app = create_app(ApiConfig(Environment(settings, engine), inprocess_workers=False))
    return app, engine


@pytest.mark.parametrize("redis_url", ["notaurl", "redis://localhost:99999/0"])
def test_readyz_says_the_broker_is_down_and_why_for_a_url_that_is_none(
    tmp_path: Path, redis_url: str
) -> None:
    app, engine = _app(tmp_path, redis_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/readyz")
    engine.dispose()
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("down: ValueError: "), body


def test_readyz_says_the_database_is_down_and_why_whatever_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, engine = _app(tmp_path, None)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ConfigurationError("the store /srv/claims is a directory, not a SQLite database")

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(engine, "connect", refuse)
        answer = client.get("/readyz")
    engine.dispose()
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert checks["database"] == (
        "down: ConfigurationError: the store /srv/claims is a directory, not a SQLite database"
    )


def test_readyz_says_an_unreachable_redis_is_down(tmp_path: Path) -> None:
    app, engine = _app(tmp_path, "redis://127.0.0.1:1/0")
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/readyz")
    engine.dispose()
    assert answer.status_code == 503
    assert answer.json()["checks"]["broker"] == "down: unreachable (ConnectionError)"


@pytest.fixture
def store_keys_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys as on a clean clone: none set, the key file found beside the store."""
    for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE", "CLAIMS_ENCRYPTION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("keys", ["beside the store", "configured"])
@pytest.mark.parametrize("command", [["stats"], ["db", "upgrade"]], ids=lambda c: c[0])
def test_a_directory_as_the_store_is_named_as_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    keys: str,
) -> None:
    if keys == "beside the store":
        for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE"):
            monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "store"
    folder.mkdir()
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{folder}")
    code, _out, err = _run(command, capsys)
    _one_line_error(code, err, f"the store {folder} is a directory, not a SQLite database")
    assert "key file" not in err


@pytest.mark.parametrize("content", [b"hello, not a database\n", bytes(range(256)) * 20])
@pytest.mark.parametrize("command", [["stats"], ["db", "upgrade"]], ids=lambda c: c[0])
def test_a_file_that_is_no_sqlite_database_is_named_as_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    store_keys_unset: None,
    command: list[str],
    content: bytes,
) -> None:
    store = tmp_path / "claims.db"
    store.write_bytes(content)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{store}")
    code, _out, err = _run(command, capsys)
    _one_line_error(code, err, f"the store {store} is not a SQLite database")
    assert "key file" not in err
    assert not (tmp_path / "claims.db-keys.json").exists()


@pytest.mark.parametrize("keys", ["beside the store", "configured"])
def test_a_store_under_a_file_is_named(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keys: str,
) -> None:
    if keys == "beside the store":
        for name in ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE"):
            monkeypatch.delenv(name, raising=False)
    (tmp_path / "plain").write_text("a file\n")
    store = tmp_path / "plain" / "claims.db"
    monkeypatch.setenv("CLAIMS_DATABASE_URL", f"sqlite:///{store}")
    code, _out, err = _run(["stats"], capsys)
    _one_line_error(code, err, f"the store {store}")
    assert "key file" not in err


@pytest.mark.parametrize("days", ["100000000", "3651", "0", "-5"])
def test_keys_create_days_out_of_range_is_one_line(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], days: str
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, out, err = _run(["keys", "create", "--role", "insurer", "--days", days], capsys)
    _one_line_error(code, err, f"--days must be from 1 to 3650, not {days}")
    assert "token" not in out


def test_keys_create_takes_ten_years(sqlite_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, out, _err = _run(["keys", "create", "--role", "insurer", "--days", "3650"], capsys)
    assert code == 0 and "expires 2036-10-30" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "99999"], "--port must be from 1 to 65535, not 99999"),
        (["--port", "0"], "--port must be from 1 to 65535, not 0"),
        (["--port", "-1"], "--port must be from 1 to 65535, not -1"),
        (["--workers", "0"], "--workers must be at least 1, not 0"),
        (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:8000"),
    ],
)
def test_serve_refuses_what_it_cannot_listen_with_before_announcing(
    sqlite_store: str,
    capsys: pytest.CaptureFixture[str],
    no_uvicorn: list[Any],
    args: list[str],
    message: str,
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, out, err = _run(["serve", *args], capsys)
    _one_line_error(code, err, message)
    assert "API on" not in out and not no_uvicorn


def test_serve_refuses_a_port_in_use_before_announcing(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], no_uvicorn: list[Any]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _run(["serve", "--port", str(port)], capsys)
    _one_line_error(code, err, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert "API on" not in out and not no_uvicorn


def test_serve_announces_and_runs_on_a_free_port(
    sqlite_store: str, capsys: pytest.CaptureFixture[str], no_uvicorn: list[Any]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    code, out, err = _run(["serve", "--port", str(port), "--workers", "2"], capsys)
    assert code == 0 and err == ""
    assert f"claims-engine API on http://127.0.0.1:{port}" in out
    assert no_uvicorn[0].port == port and no_uvicorn[0].workers == 2


@pytest.mark.parametrize("as_of", ["0001-01-02", "1899-12-31", "2100-01-01", "9999-12-31"])
def test_fixtures_generate_as_of_out_of_range_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_of: str
) -> None:
    out_file = tmp_path / "F"
    args = ["fixtures", "generate", "--claims", "5", "--seed", "1", "--as-of", as_of]
    code, out, err = _run([*args, "--out", str(out_file)], capsys)
    _one_line_error(code, err, f"--as-of {as_of} is out of range", "1900-01-01 to 2099-12-31")
    assert out == "" and not out_file.exists()


@pytest.mark.parametrize("as_of", ["1900-01-01", "2099-12-31"])
def test_fixtures_generate_takes_the_ends_of_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_of: str
) -> None:
    out_file = tmp_path / "F"
    args = ["fixtures", "generate", "--claims", "5", "--seed", "1", "--as-of", as_of]
    code, out, _err = _run([*args, "--out", str(out_file)], capsys)
    assert code == 0 and "wrote 5 claims" in out and out_file.stat().st_size > 0
