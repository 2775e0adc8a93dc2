"""The portal's browser test harness: Debian's Chromium driven by Playwright (sync API), the
real app served by uvicorn on a thread, a clock the test moves, axe-core and screenshots.

The fixtures that use these helpers are in ``tests/browser/conftest.py``; the usage is in
``docs/development.md`` ("Browser tests").
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import uvicorn
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from fastapi import FastAPI
from playwright.sync_api import Page
from sqlalchemy import Engine

from claims_engine.front_end.edits import ALL_LEVELS
from tests.integration.conftest import unavailable
from workers.settings import Environment, Settings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
DEFAULT_RESULTS = ROOT / "tests" / "results"
# where a TestClock starts unless told: the day the integration tests' store is made
START = datetime(2026, 11, 2, 9, 30)

Viewport = Literal["desktop", "phone"]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
# axe-core impacts that fail a page; "minor" and "moderate" are only reported alongside them
FAILING_IMPACTS = frozenset({"serious", "critical"})
SHOWN_NODES = 3  # targets shown per violation

# the viewport each page of new_page was made with, for the screenshots' names
_viewport_of: weakref.WeakKeyDictionary[Page, str] = weakref.WeakKeyDictionary()


# -- Chromium --------------------------------------------------------------------------------


def chromium_path() -> Path:
    """The Chromium the tests drive: ``CLAIMS_TEST_CHROMIUM`` or Debian's ``/usr/bin/chromium``
    (Playwright's own browser download is not used)."""
    return Path(os.environ.get("CLAIMS_TEST_CHROMIUM") or DEFAULT_CHROMIUM)


def require_chromium() -> Path:
    """:func:`chromium_path` when it is an executable, else a failure in CI and a skip
    elsewhere."""
    path = chromium_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        unavailable(
            f"Chromium not found at {path}; install it with tests/services.sh "
            "(Debian's chromium package) or set CLAIMS_TEST_CHROMIUM"
        )
    return path


# -- the clock -------------------------------------------------------------------------------


class TestClock:
    """A clock the test moves: give :meth:`now` to ``ApiConfig(now=...)``. Naive UTC without
    microseconds, like :func:`claims_engine.runtime.clock.now`."""

    __test__ = False  # not a test class, though its name starts with Test

    def __init__(self, start: datetime = START) -> None:
        self._now = self._checked(start)
        self._lock = threading.Lock()  # read by the server's threads, moved by the test's

    @staticmethod
    def _checked(moment: datetime) -> datetime:
        if moment.tzinfo is not None:
            raise ValueError(f"the engine's clock is naive UTC; got {moment.isoformat()}")
        return moment.replace(microsecond=0)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (forward, or back when negative); the new time."""
        with self._lock:
            self._now = self._checked(self._now + delta)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = self._checked(moment)


# -- the app over a store --------------------------------------------------------------------


def environment_for(engine: Engine) -> Environment:
    """An :class:`Environment` over ``engine`` (a test schema's), without Redis: what
    ``ApiConfig`` takes."""
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=None,
        rules_dir=RULES,
        levels=ALL_LEVELS,
    )
    return Environment(settings, engine)


# -- a live server ---------------------------------------------------------------------------


STARTUP_SECONDS = 15.0
SHUTDOWN_SECONDS = 10.0


class _Errors(logging.Handler):
    """The errors uvicorn logs on one server's thread: an exception no handler of the app
    answered (a 500), a warning the suite turned into one included."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread: int | None = None
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        text = record.getMessage().strip()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f": {type(exc).__name__}: {exc}"
        self.found.append(text)


@dataclass
class LiveServer:
    """An app served by uvicorn on a thread, at ``url`` (``http://127.0.0.1:PORT``).

    :meth:`stop` fails when the app raised an exception it did not answer (uvicorn's
    "Exception in ASGI application", a 500), unless the test looked at :attr:`errors` and
    cleared it."""

    app: FastAPI
    url: str = ""
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    error: BaseException | None = None
    _socket: socket.socket | None = field(default=None, repr=False)
    _errors: _Errors = field(default_factory=_Errors, repr=False)

    @property
    def errors(self) -> list[str]:
        """What the app raised without answering it, so far (clear it once expected)."""
        return self._errors.found

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def start(self) -> LiveServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))  # a free port, held from now on: no race for it
        self._socket = sock
        host, port = sock.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            self.app,
            host=host,
            port=port,
            log_config=None,  # uvicorn's records go to the root logger: pytest shows them
            lifespan="on",
            ws="none",  # no websockets (nor their imports' deprecation warnings)
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"live-server-{port}", daemon=True
        )
        self.thread.start()
        self._errors.thread = self.thread.ident
        logging.getLogger("uvicorn.error").addHandler(self._errors)
        self._wait_until_up()
        return self

    def _serve(self, sock: socket.socket) -> None:
        assert self.server is not None
        try:
            self.server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit too: uvicorn exits when startup fails
            self.error = exc

    def _wait_until_up(self) -> None:
        assert self.server is not None and self.thread is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                self._close_socket()
                logging.getLogger("uvicorn.error").removeHandler(self._errors)
                raise RuntimeError(
                    f"the live server did not start ({self.error!r}); "
                    "its lifespan's error is in the captured log"
                ) from self.error
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the live server did not start in {STARTUP_SECONDS:.0f} s")
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass  # it accepts connections

    def stop(self) -> None:
        """Ask the server to finish (connections closed, lifespan shut down) and wait; fail
        when it does not, or when the app raised what it did not answer."""
        if self.server is None or self.thread is None:
            return
        self.server.should_exit = True
        self.thread.join(SHUTDOWN_SECONDS)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(SHUTDOWN_SECONDS)
        self._close_socket()
        logging.getLogger("uvicorn.error").removeHandler(self._errors)
        if self.thread.is_alive():
            raise RuntimeError(f"the live server at {self.url} did not stop")
        if self.error is not None and not _clean_exit(self.error):
            raise RuntimeError(f"the live server at {self.url} failed") from self.error
        if self.errors:
            raise RuntimeError(
                f"the app at {self.url} raised what it did not answer: " + "; ".join(self.errors)
            )

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _clean_exit(error: BaseException) -> bool:
    return isinstance(error, SystemExit) and error.code in (None, 0)


# -- pages -----------------------------------------------------------------------------------


def remember_viewport(page: Page, viewport: str) -> None:
    _viewport_of[page] = viewport


def viewport_name(page: Page) -> str:
    """``desktop`` or ``phone`` for a page of ``new_page``; else its size, ``WIDTHxHEIGHT``."""
    known = _viewport_of.get(page)
    if known is not None:
        return known
    size = page.viewport_size
    return f"{size['width']}x{size['height']}" if size else "no-viewport"


def results_dir() -> Path:
    """Where the browser tests write: ``CLAIMS_TEST_RESULTS`` or ``tests/results``."""
    return Path(os.environ.get("CLAIMS_TEST_RESULTS") or DEFAULT_RESULTS)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_name(name: str) -> str:
    """``name`` made safe as a file name (a test id's slashes, brackets and colons go)."""
    return _UNSAFE.sub("-", name).strip("-") or "page"


def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``<results>/screenshots/<name>-<viewport>.png``; its path."""
    path = results_dir() / "screenshots" / f"{file_name(name)}-{viewport_name(page)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


# -- accessibility ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    id: str
    impact: str
    help: str
    help_url: str
    targets: list[str]
    nodes: int

    def line(self) -> str:
        shown = ", ".join(self.targets[:SHOWN_NODES])
        more = f" and {self.nodes - SHOWN_NODES} more" if self.nodes > SHOWN_NODES else ""
        return f"  [{self.impact}] {self.id}: {self.help} ({self.nodes} nodes: {shown}{more})"


def axe_violations(page: Page) -> list[Violation]:
    """Every axe-core violation on the page as it is now (all impacts)."""
    results = Axe().run(page)
    found: list[Violation] = []
    for v in results.response["violations"]:
        nodes = v.get("nodes") or []
        found.append(
            Violation(
                id=str(v["id"]),
                impact=str(v.get("impact") or "unknown"),
                help=str(v.get("help", "")),
                help_url=str(v.get("helpUrl", "")),
                targets=[_target(n.get("target")) for n in nodes],
                nodes=len(nodes),
            )
        )
    return found


def _target(target: Any) -> str:
    """A node's CSS selector (a list: one per frame / shadow root)."""
    if isinstance(target, list):
        return " >> ".join(_target(t) for t in target)
    return str(target)


def assert_accessible(page: Page, name: str) -> list[Violation]:
    """Run axe-core on the page; fail listing every serious or critical violation (and, then,
    the minor and moderate ones too). Returns the violations that did not fail the page."""
    violations = axe_violations(page)
    failing = [v for v in violations if v.impact in FAILING_IMPACTS]
    if failing:
        others = [v for v in violations if v.impact not in FAILING_IMPACTS]
        lines = [
            f"{name} ({page.url}, {viewport_name(page)}): "
            f"{len(failing)} serious or critical accessibility violations",
            *(v.line() for v in failing),
        ]
        if others:
            lines += ["also (not failing on their own):", *(v.line() for v in others)]
        raise AssertionError("\n".join(lines))
    return violations
