"""Worker processes on a real Redis and PostgreSQL: several processes, SIGKILL mid-run, a Redis
restart. Every accepted claim ends adjudicated exactly once and in exactly one 835.

The workers are ``claims-engine worker`` subprocesses; files go in through
``claims-engine submit`` and payments out through ``claims-engine remit``, as an operator would.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from select import select as wait_readable

import pytest
import redis
from sqlalchemy import Engine, func, select

from claims_engine.observability.logs import WORKER_READY
from claims_engine.services.reference import load_runtime
from claims_engine.store import tables as t
from tests.integration.conftest import unavailable
from tests.integration.pipeline_support import (
    RULES,
    check_835,
    count,
    generated_837,
    prepared_store,
    sequential_outcome,
    states,
    stored_outcome,
)

pytestmark = pytest.mark.integration

_claims = t.claims_table
_events = t.claim_events_table
_adjudications = t.adjudications_table
_items = t.remittance_claims_table
_interchanges = t.interchanges_table


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A redis-server of the test's own, to stop and start again (it keeps nothing on disk,
    as the machine's Redis does: a restart loses every queued message)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed")
        self.binary = str(binary)
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.kill()


def _env(engine: Engine, redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CLAIMS_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    env["CLAIMS_REDIS_URL"] = redis_url
    env["CLAIMS_RULES_DIR"] = str(RULES)
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "claims_engine.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class Workers:
    def __init__(self, env: dict[str, str], log: Path, processes: int = 2) -> None:
        self.log = log
        with log.open("ab") as fh:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "claims_engine.cli.main",
                    "worker",
                    "--processes",
                    str(processes),
                    "--threads",
                    "1",
                    "--metrics-port",
                    "0",  # no metrics server: test_metrics.py has its own
                ],
                env=env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL to every process of the group (a crash); another signal to the command,
        as a supervisor stops it (it passes the signal on to dramatiq)."""
        if self.alive():
            if sig == signal.SIGKILL:
                os.killpg(self.process.pid, sig)
            else:
                os.kill(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])


def _wait(engine: Engine, workers: Workers, done: object, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if done():  # type: ignore[operator]
            return
        assert workers.alive(), f"the workers exited:\n{workers.tail()}"
        assert time.monotonic() < deadline, f"timed out; {states(engine)}\n{workers.tail()}"
        time.sleep(0.2)


def _all_decided(engine: Engine) -> bool:
    waiting = count(engine, _claims, _claims.c.state == "accepted")
    unread = count(engine, _interchanges, _interchanges.c.state == "received")
    return waiting == 0 and unread == 0 and count(engine, _claims) > 0


def _submit_files(env: dict[str, str], tmp: Path, files: int, claims: int) -> list[Path]:
    paths = []
    for n in range(files):
        path = tmp / f"batch-{n}.837"
        generated_837(path, claims=claims, seed=100 + n, control=700 + n)
        paths.append(path)
    _cli(env, "submit", *map(str, paths))
    return paths


def _check_exactly_once(engine: Engine, tmp: Path, env: dict[str, str]) -> None:
    accepted = count(engine, _claims, _claims.c.payer_claim_number.is_not(None))
    assert count(engine, _claims, _claims.c.state == "accepted") == 0
    # one decision per accepted claim, and one adjudication event per claim
    assert count(engine, _adjudications, _adjudications.c.kind == "decision") == accepted
    with engine.connect() as conn:
        twice = conn.execute(
            select(_events.c.claim_id)
            .where(_events.c.actor == "adjudication")
            .group_by(_events.c.claim_id)
            .having(func.count() > 1)
        ).all()
    assert twice == []
    runtime = load_runtime(engine, RULES)
    assert stored_outcome(engine) == sequential_outcome(engine, runtime)
    out = tmp / "835"
    _cli(env, "remit", "--out", str(out))
    _cli(env, "remit", "--out", str(tmp / "835-again"))
    assert not list((tmp / "835-again").glob("*.x12"))
    payable = count(engine, _adjudications, _adjudications.c.outcome != "pended")
    assert count(engine, _items) == payable
    files = sorted(out.glob("*.x12"))
    assert files
    for path in files:
        assert check_835(path.read_text()) == [], path


def test_two_worker_processes_equal_a_sequential_run(
    postgres_engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    engine = postgres_engine
    prepared_store(engine)
    env = _env(engine, redis_url)
    workers = Workers(env, tmp_path / "workers.log", processes=2)
    try:
        paths = _submit_files(env, tmp_path, files=3, claims=400)
        _wait(engine, workers, lambda: _all_decided(engine))
        # resubmitting a file changes nothing
        before = states(engine)
        out = _cli(env, "submit", str(paths[0]))
        assert "duplicate of interchange" in out
        time.sleep(1)
        assert states(engine) == before
    finally:
        workers.kill(signal.SIGTERM)
    _check_exactly_once(engine, tmp_path, env)


def _crash_mid_run(
    engine: Engine, env: dict[str, str], tmp_path: Path, crash: Callable[[Workers], None]
) -> None:
    """Submit, let adjudication start, ``crash``, start the workers again, and check that
    every claim ends adjudicated exactly once and in one 835."""
    prepared_store(engine)
    workers = Workers(env, tmp_path / "workers.log", processes=2)
    try:
        _submit_files(env, tmp_path, files=4, claims=500)
        _wait(engine, workers, lambda: count(engine, _adjudications) > 0, timeout=120)
        crash(workers)
        assert (
            count(engine, _claims, _claims.c.state == "accepted")
            + count(engine, _interchanges, _interchanges.c.state == "received")
            > 0
        ), "crashed too late to leave anything undone"
        workers = Workers(env, tmp_path / "workers.log", processes=2)
        _wait(engine, workers, lambda: _all_decided(engine))
    finally:
        workers.kill(signal.SIGTERM)
    _check_exactly_once(engine, tmp_path, env)


def test_workers_killed_mid_batch_finish_exactly_once_after_a_restart(
    postgres_engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    env = _env(postgres_engine, redis_url)
    _crash_mid_run(postgres_engine, env, tmp_path, lambda w: w.kill(signal.SIGKILL))


def test_a_redis_restart_loses_no_claim(
    postgres_engine: Engine, own_redis: OwnRedis, tmp_path: Path
) -> None:
    def restart_redis(workers: Workers) -> None:
        own_redis.kill()  # every queued message is gone with it
        workers.kill(signal.SIGKILL)
        own_redis.start()

    env = _env(postgres_engine, own_redis.url)
    _crash_mid_run(postgres_engine, env, tmp_path, restart_redis)


def _controlling_terminal() -> None:
    """In the child, after its new session: standard input, a pty, becomes its terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read_until(master: int, done: Callable[[str], bool], timeout: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not done("".join(seen)):
        assert time.monotonic() < deadline, "".join(seen)[-3000:]
        ready, _, _ = wait_readable([master], [], [], 0.2)
        if ready:
            try:
                seen.append(os.read(master, 65536).decode(errors="replace"))
            except OSError:  # every writer of the terminal has gone
                return


def test_ctrl_c_in_a_terminal_stops_the_workers_once(
    postgres_engine: Engine, redis_url: str
) -> None:
    """Ctrl-C reaches every process of the terminal's foreground group, dramatiq's included:
    the command must not pass it on a second time (dramatiq kills its workers mid-message on
    a second stop signal)."""
    prepared_store(postgres_engine)
    master, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "claims_engine.cli.main", "worker"),
            *("--processes", "2", "--threads", "1", "--metrics-port", "0"),
        ],
        env=_env(postgres_engine, redis_url),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
        preexec_fn=_controlling_terminal,  # noqa: PLW1509 - a pty of its own, nothing shared
    )
    os.close(terminal)
    seen: list[str] = []
    try:
        _read_until(master, lambda text: text.count(WORKER_READY) >= 2, 90, seen)
        os.write(master, b"\x03")  # Ctrl-C, typed at the terminal
        _read_until(master, lambda _text: process.poll() is not None, 60, seen)
        assert process.wait(timeout=30) == 0, "".join(seen)[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.close(master)
    assert "Killing worker process" not in "".join(seen)
