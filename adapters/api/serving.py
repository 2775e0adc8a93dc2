"""``claims-engine serve``: the API's app under uvicorn, in one process or several.

With ``--workers N`` above one, each worker process listens on a socket of its own bound to the
same address and port (``SO_REUSEPORT``), and the kernel hands each new connection to one of
them. uvicorn's own ``--workers`` shares one listening socket among its processes instead: the
process that wakes first accepts every connection waiting, so a burst of connections (a proxy's
or a client's pool of keep-alive connections, opened together) lands on one process and one
core while the others idle. Measured with ``benchmarks/bench_web.py`` (16 keep-alive clients, 2
processes, 2026-12-07): all 16 connections on one process in two runs of three (347 and 369
pages/s), against 525 pages/s with 11 and 5 and 652 with 8 and 8 (docs/benchmarks.md).

This is Linux's (:data:`SPREADS_CONNECTIONS`): elsewhere ``--workers N`` runs uvicorn's own
processes on one shared socket, as before, with a warning.

:class:`Supervisor` starts the workers, starts another in place of one that dies, and on SIGINT
or SIGTERM stops them all (each finishes the requests it has begun, as uvicorn does) and returns.
A worker that cannot start (its app cannot be made, its address cannot be bound) stops the whole
server with its exit code, rather than being started again and again.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

APP = "adapters.api.app:app_from_env"
STARTUP_FAILURE = 3  # uvicorn's exit code of a worker that could not start (uvicorn.config)
STOP_WAIT = 30.0  # seconds a stopping worker has to finish its requests before it is killed
RESTART_EVERY = 1.0  # a worker that died is started again at most this often (per worker)
_SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter, as uvicorn starts them
# where the kernel spreads a port's connections over the sockets bound to it with SO_REUSEPORT
# (Linux; elsewhere the option is missing, or one socket takes them all)
SPREADS_CONNECTIONS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    workers: int
    log_level: str
    app: str = APP  # the app's factory, "module:function"


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """The options of the API's uvicorn server, in every process."""
    return {
        "factory": True,
        "log_level": settings.log_level,
        "log_config": None,  # uvicorn's lines through the engine's handler (JSON by default)
        "access_log": False,  # request lines carry member ids in query strings: PHI stays out
    }


def run_server(settings: ServeSettings) -> int:
    """Serve until stopped: in this process for one worker, else under a :class:`Supervisor`.
    The exit code: 0 after a stop asked for, else :data:`STARTUP_FAILURE` (a worker could not
    start)."""
    if settings.workers <= 1:
        server = _server(settings)
        if server is None:
            return STARTUP_FAILURE
        server.run()
        return 0 if server.started else STARTUP_FAILURE
    if not SPREADS_CONNECTIONS:  # uvicorn's own processes, on one shared socket
        import uvicorn

        log.warning(
            "%s: the workers share one socket (SO_REUSEPORT spreads connections on Linux)",
            sys.platform,
        )
        uvicorn.run(
            settings.app,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            **uvicorn_options(settings),
        )
        return 0
    return Supervisor(settings).run()


def _server(settings: ServeSettings) -> Any | None:
    """uvicorn's server of the app, the app made (from the environment); None, said in one log
    line, when it cannot be (a setting out of range, say)."""
    import uvicorn

    from claims_engine.domain.errors import ConfigurationError

    config = uvicorn.Config(
        settings.app, host=settings.host, port=settings.port, **uvicorn_options(settings)
    )
    try:
        config.load()
    except ConfigurationError as exc:
        log.error("the API cannot start: %s", exc)
        return None
    except Exception:  # a bug: its traceback, and the server stops rather than retrying
        log.exception("the API cannot start")
        return None
    return uvicorn.Server(config)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` that others of this user may bind too
    (``SO_REUSEPORT``): the kernel spreads the port's connections over those listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` on this machine (Linux: ``/proc/net/tcp``), one per
    worker of a server started by :func:`run_server`: what shows that every worker is serving."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()  # sl, local address:port (hex), remote, state (0A: listening)
            count += int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A"
    return count


def _stop_with(parent: int) -> None:
    """Stop this worker (as SIGTERM does) once its supervisor ``parent`` is gone: killed, it
    could not stop its workers itself, and they would go on serving, unsupervised."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _report_started(server: Any, ready: Any) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    ready.set()


def worker_main(settings: ServeSettings, parent: int, ready: Any) -> None:
    """One worker process of the supervisor ``parent``: the app on a listening socket of its
    own; ``ready`` (an event) is set once it serves."""
    from claims_engine.observability.logs import configure_logging

    configure_logging()  # a new interpreter: CLAIMS_LOG_LEVEL, CLAIMS_LOG_FORMAT, as the app's
    threading.Thread(target=_stop_with, args=(parent,), daemon=True).start()
    try:
        sock = listening_socket(settings.host, settings.port)
    except OSError as exc:
        log.error("the API cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    server = _server(settings)
    if server is None:
        raise SystemExit(STARTUP_FAILURE)
    threading.Thread(target=_report_started, args=(server, ready), daemon=True).start()
    server.run(sockets=[sock])


class Supervisor:
    """``settings.workers`` worker processes (:func:`worker_main`), kept running."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.workers: list[Any] = []  # multiprocessing's SpawnProcess, one per slot
        self.ready: list[Any] = []  # each worker's event: set once it serves
        self.started_at: list[float] = []
        self.stopping = threading.Event()
        self.failed: int | None = None  # the exit code of a worker that could not start
        self.signalled = False  # SIGINT or SIGTERM came

    def _start(self, slot: int) -> None:
        ready = _SPAWN.Event()
        worker = _SPAWN.Process(
            target=worker_main,
            args=(self.settings, os.getpid(), ready),
            name="claims-engine-api",
            daemon=False,
        )
        worker.start()
        if slot == len(self.workers):
            self.workers.append(worker)
            self.ready.append(ready)
            self.started_at.append(time.monotonic())
        else:
            self.workers[slot], self.ready[slot] = worker, ready
            self.started_at[slot] = time.monotonic()

    def _stop_asked(self, signum: int, _frame: FrameType | None) -> None:
        # a plain assignment: a handler runs between two steps of the main thread, which may
        # be inside an Event's lock (setting the Event there would wait on it forever)
        self.signalled = True

    def run(self) -> int:
        self.signalled = False
        previous = {
            sig: signal.signal(sig, self._stop_asked) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            for slot in range(self.settings.workers):
                self._start(slot)
            while not (self.signalled or self.stopping.is_set()):
                time.sleep(0.2)
                self.keep_alive()
        finally:
            self.stopping.set()
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.failed or 0

    def keep_alive(self) -> None:
        """Start another worker in place of each that exited; stop everything when one exited
        before it served (what stopped it would stop the next one too)."""
        for slot, worker in enumerate(self.workers):
            if worker.is_alive() or self.stopping.is_set():
                continue
            code = worker.exitcode
            if not self.ready[slot].is_set():
                log.error("an API worker could not start (exit code %s): stopping the server", code)
                self.failed = STARTUP_FAILURE
                self.stopping.set()
                return
            wait = self.started_at[slot] + RESTART_EVERY - time.monotonic()
            if wait > 0:
                continue  # again at the next look, not sooner than RESTART_EVERY
            log.warning("API worker %s exited (exit code %s): starting another", worker.pid, code)
            self._start(slot)

    def stop_all(self) -> None:
        """SIGTERM to every worker still running (uvicorn finishes the requests under way), and
        SIGKILL to any still running ``STOP_WAIT`` seconds later."""
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
        deadline = time.monotonic() + STOP_WAIT
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                log.error("API worker %s did not stop in %.0f s: killed", worker.pid, STOP_WAIT)
                worker.kill()
                worker.join()
