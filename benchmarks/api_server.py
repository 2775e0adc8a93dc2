"""The HTTP API as the benchmarks run it: ``claims-engine serve --workers N`` (each worker a
process listening on the port itself: :mod:`adapters.api.serving`), on a free port, configured
with PostgreSQL and Redis as deployed (the server runs no actors of its own), started and
stopped whole. The load starts once every worker listens, so that none is left out of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.api.serving import listening_sockets  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    name: str,
    env: dict[str, str],
    port: int,
    workers: int,
    *,
    log: Path | None = None,
    wait: float = 60.0,
) -> subprocess.Popen[bytes]:
    """``claims-engine serve`` with ``env`` over the process's environment, every one of its
    ``workers`` listening (within ``wait`` seconds, else the benchmark ``name`` stops saying
    why, with the tail of ``log`` when the server's output goes there)."""
    cmd = [
        sys.executable,
        "-m",
        "claims_engine.cli.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
    ]
    environment = {**os.environ, **env}
    if log is None:  # its one line of announcement aside, what it says goes to the terminal
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=environment, start_new_session=True, stdout=subprocess.DEVNULL
        )
    else:
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                cmd, cwd=ROOT, env=environment, start_new_session=True, stdout=sink, stderr=sink
            )

    def tail() -> str:
        return "" if log is None else ":\n" + log.read_text(errors="replace")[-2000:]

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name}: the server exited with {proc.returncode}{tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                pass
        except OSError:
            time.sleep(0.2)
            continue
        if workers == 1 or listening_sockets(port) >= workers:
            return proc
        time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"{name}: the server did not answer /healthz within {wait:.0f} s{tail()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
