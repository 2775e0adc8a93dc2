"""`claims-engine serve --workers 2` in processes of its own: connections opened together are
spread over both workers, a worker that dies is replaced, SIGTERM stops everything, workers do
not outlive a killed supervisor, and a worker that cannot start stops the server with one line.

Which process holds a connection is read from ``/proc`` (the server's side of each socket)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.api.serving import (
    STARTUP_FAILURE,
    ServeSettings,
    Supervisor,
    listening_sockets,
    run_server,
)
from claims_engine.domain.errors import ConfigurationError
from tests.e2e.cli_support import ROOT
from tests.e2e.cli_support import run_cli as _run

CONNECTIONS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(
    port: int, env: dict[str, str] | None = None, *, inherit: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """``serve --workers 2`` on ``port`` with ``env`` (over this process's environment unless
    not ``inherit``), killed at the end if it still runs."""
    command = [sys.executable, "-m", "claims_engine.cli.main", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "2", "--log-level", "warning"],
        cwd=ROOT,
        env={**(os.environ if inherit else {}), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        yield server
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def _healthy(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            return b" 200 " in _ask(s)
    except OSError:
        return False


def _ask(s: socket.socket) -> bytes:
    """GET /healthz on a keep-alive connection: the response's head and body."""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        got = s.recv(4096)
        if not got:
            break
        answer += got
    return answer


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _server_sockets(port: int, client_ports: set[int]) -> dict[int, int]:
    """The inode of the server's side of each connection from one of ``client_ports``."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == port:
                peer = int(remote.rsplit(":", 1)[1], 16)
                if peer in client_ports:
                    found[inode] = peer
    return found


def _holders(supervisor: int, port: int, connections: list[socket.socket]) -> dict[int, int]:
    """How many of ``connections`` each of ``supervisor``'s processes holds."""
    client_ports = {c.getsockname()[1] for c in connections}
    inodes = _server_sockets(port, client_ports)
    held: dict[int, int] = {}
    for pid in _children(supervisor):
        try:
            links = [os.readlink(f) for f in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                held[pid] = held.get(pid, 0) + 1
    return held


@contextmanager
def _burst(port: int) -> Iterator[list[socket.socket]]:
    connections = [
        socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(CONNECTIONS)
    ]
    try:
        for c in connections:
            assert b" 200 " in _ask(c)
        yield connections
    finally:
        for c in connections:
            c.close()


def test_connections_spread_over_workers_a_dead_one_is_replaced_and_sigterm_stops_all(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    port = _free_port()
    with _serving(port) as server:
        _wait(lambda: listening_sockets(port) == 2, 60, "the workers did not start")
        assert _healthy(port)
        # 16 keep-alive connections opened together: both workers hold some (with one shared
        # socket, the worker that woke first took all 16)
        with _burst(port) as connections:
            held = _holders(server.pid, port, connections)
            assert len(held) == 2 and sum(held.values()) == CONNECTIONS, held
            first = set(held)
        victim = min(first)
        before = _children(server.pid)
        os.kill(victim, signal.SIGKILL)
        _wait(
            lambda: bool(_children(server.pid) - before) and listening_sockets(port) == 2,
            60,
            "no worker took the dead one's place",
        )
        with _burst(port) as connections:
            now = set(_holders(server.pid, port, connections))
        assert victim not in now and len(now - first) == 1 and len(now) == 2
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
        _, err = server.communicate()
        assert b"Traceback" not in err, err
        assert not any(_alive(pid) for pid in now), "a worker outlived its supervisor's stop"
        assert not _healthy(port)


def test_workers_stop_when_their_supervisor_is_killed(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    port = _free_port()
    with _serving(port) as server:
        _wait(lambda: listening_sockets(port) == 2, 60, "the workers did not start")
        with _burst(port) as connections:
            workers = set(_holders(server.pid, port, connections))
        assert len(workers) == 2
        server.kill()  # SIGKILL: the supervisor cannot stop its workers itself
        server.communicate()
        _wait(lambda: not any(_alive(pid) for pid in workers), 15, "orphaned workers serve on")
        assert not _healthy(port)


def test_a_bad_api_setting_is_one_line_before_anything_starts(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    port = _free_port()
    with _serving(port, env={"CLAIMS_API_MAX_BODY": "lots"}) as server:
        code = server.wait(timeout=60)
        out, err = server.communicate()
    assert (code, out) == (2, b"")  # nothing announced
    assert err.decode().splitlines() == [
        "claims-engine: error: CLAIMS_API_MAX_BODY must be a number of bytes (1 or more), "
        "not 'lots'"
    ]
    assert not _healthy(port)


def broken_app() -> None:
    """An app factory that cannot make its app (as a worker's settings out of range)."""
    raise ConfigurationError("CLAIMS_SOMETHING must be on or off, not 'maybe'")


def test_a_worker_that_cannot_start_stops_the_server(caplog: pytest.LogCaptureFixture) -> None:
    """What the command checks before it starts, a worker may still meet (the keys gone, a
    setting changed): the supervisor stops every worker and answers the failure, rather than
    starting them again and again."""
    port = _free_port()
    settings = ServeSettings(
        "127.0.0.1", port, 2, "warning", app=f"{__name__}:{broken_app.__name__}"
    )
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="adapters.api.serving"):
        assert Supervisor(settings).run() == STARTUP_FAILURE
    assert time.monotonic() - started < 60
    assert "an API worker could not start" in caplog.text
    assert not _healthy(port) and listening_sockets(port) == 0


def test_every_worker_opens_an_embedded_store_with_the_keys_beside_it(tmp_path: Path) -> None:
    """An embedded store made without key variables keeps its keys in a file beside it; each
    worker (a new interpreter) reads them from there, as the command did: a page that needs
    them (the sign-in form's token is made with the store's lookup key) answers from both."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'claims.db'}"
    made = subprocess.run(
        [sys.executable, "-m", "claims_engine.cli.main", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "claims.db-keys.json").exists()
    port = _free_port()
    with _serving(port, env=env, inherit=False) as server:
        _wait(lambda: listening_sockets(port) == 2, 60, "the workers did not start")
        with _burst(port) as connections:
            assert len(_holders(server.pid, port, connections)) == 2
            for c in connections:
                c.sendall(b"GET /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert c.recv(64).startswith(b"HTTP/1.1 200 "), "a worker without the keys"


def test_elsewhere_than_linux_the_workers_share_uvicorns_socket(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where SO_REUSEPORT does not spread connections (not Linux), ``--workers N`` is
    uvicorn's own processes on one socket, as before, with a warning saying so."""
    import uvicorn

    from adapters.api import serving

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(serving, "SPREADS_CONNECTIONS", False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    with caplog.at_level(logging.WARNING, logger="adapters.api.serving"):
        assert run_server(ServeSettings("127.0.0.1", _free_port(), 3, "warning")) == 0
    assert [c["workers"] for c in calls] == [3]
    assert "share one socket" in caplog.text
