"""`claims-engine serve --workers 2` in processes of its own: connections opened together are
spread over both workers, a worker that dies is replaced, SIGTERM stops everything, workers do
not outlive a killed supervisor, and a worker that cannot start stops the server with one line.

Which process holds a connection is read from ``/proc`` (the server's side of each socket)."""

from __future__ import annotations

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

from adapters.api.serving import listening_sockets
from tests.e2e.cli_support import ROOT
from tests.e2e.cli_support import run_cli as _run

CONNECTIONS = 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """``serve --workers 2`` on ``port``, killed at the end if it still runs."""
    command = [sys.executable, "-m", "claims_engine.cli.main", "serve", "--port", str(port)]
    server = subprocess.Popen(
        [*command, "--workers", "2", "--log-level", "warning"],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
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


def test_a_worker_that_cannot_start_stops_the_server_in_one_line(
    sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    port = _free_port()
    with _serving(port, env={"CLAIMS_API_MAX_BODY": "lots"}) as server:  # no app can be made
        code = server.wait(timeout=60)  # not started again and again
        out, err = server.communicate()
    assert code == 1
    assert out.decode().startswith(f"claims-engine API on http://127.0.0.1:{port}")
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("claims-engine serve: the API could not start (exit code 3)")
    assert "CLAIMS_API_MAX_BODY" in err.decode()
    assert not _healthy(port)
