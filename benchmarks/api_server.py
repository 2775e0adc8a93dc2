"""The HTTP API as the benchmarks run it: ``claims-engine serve``'s app under uvicorn in worker
processes, on a free port, configured with PostgreSQL and Redis as deployed (the server runs no
actors of its own), started and stopped whole."""

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
    """uvicorn serving the app with ``env`` over the process's environment, answering
    ``/healthz`` (within ``wait`` seconds, else the benchmark ``name`` stops saying why, with
    the tail of ``log`` when the server's output goes there)."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "adapters.api.app:app_from_env",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    environment = {**os.environ, **env}
    if log is None:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=environment, start_new_session=True)
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
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise SystemExit(f"{name}: the server did not answer /healthz within {wait:.0f} s{tail()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
