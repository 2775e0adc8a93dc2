"""Fixtures of the portal's browser tests (see ``harness.py`` and docs/development.md).

* ``browser``: Debian's Chromium, headless, launched once for the browser tests (package
  scope: Playwright's sync API keeps an event loop running on the main thread while it is
  started, which would break ``asyncio.run`` in the tests that follow, so it stops after the
  last test of ``tests/browser``);
* ``clock``: a :class:`~tests.browser.harness.TestClock` for ``ApiConfig(now=clock.now)``;
* ``migrated_postgres``: an engine on a fresh, migrated PostgreSQL schema, dropped afterwards;
* ``live_server(app)``: the app served on 127.0.0.1 on a free port, stopped after the test;
* ``new_page(viewport="desktop" | "phone", base_url=None)``: a page in a fresh browser
  context (its own cookies), closed after the test; a failed test's open pages are saved to
  ``<results>/failures/``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Protocol

import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import Engine

from claims_engine.store.db import upgrade
from tests.browser.harness import (
    VIEWPORTS,
    LiveServer,
    TestClock,
    Viewport,
    file_name,
    remember_viewport,
    require_chromium,
    results_dir,
    viewport_name,
)
from tests.integration.conftest import fresh_postgres_schema

DEFAULT_TIMEOUT_MS = 10_000  # a page that does not answer fails the test in 10 s, not 30

_OUTCOME = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_OUTCOME, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_OUTCOME, {})
    return any(r.failed for r in reports.values())


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    path = require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(path), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest.fixture
def migrated_postgres() -> Iterator[Engine]:
    """An engine whose ``search_path`` is a fresh schema with the store's tables."""
    with fresh_postgres_schema() as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def live_server() -> Iterator[Callable[[FastAPI], LiveServer]]:
    started: list[LiveServer] = []

    def serve(app: FastAPI) -> LiveServer:
        server = LiveServer(app).start()  # one that does not start raises, and is no more
        started.append(server)
        return server

    yield serve
    problems = []
    for server in reversed(started):
        try:
            server.stop()
        except RuntimeError as exc:
            problems.append(f"{exc} ({exc.__cause__!r})")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


class PageFactory(Protocol):
    def __call__(self, viewport: Viewport = "desktop", *, base_url: str | None = None) -> Page:
        """A page in a new browser context of ``viewport``'s size; relative URLs against
        ``base_url`` (a live server's ``url``) when given."""
        ...


@pytest.fixture
def new_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[PageFactory]:
    contexts: list[BrowserContext] = []

    def make(viewport: Viewport = "desktop", *, base_url: str | None = None) -> Page:
        if viewport not in VIEWPORTS:
            raise ValueError(f"viewport {viewport!r}: one of {sorted(VIEWPORTS)}")
        context = browser.new_context(**VIEWPORTS[viewport], base_url=base_url)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        remember_viewport(page, viewport)
        return page

    yield make
    if _failed(request):
        _save_failed_pages(request.node.nodeid, contexts)
    for context in contexts:
        context.close()


def _save_failed_pages(test_id: str, contexts: list[BrowserContext]) -> None:
    """Each open page of a failed test as ``<results>/failures/<test>-<n>-<viewport>.png``."""
    folder = results_dir() / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    pages = [page for context in contexts for page in context.pages if not page.is_closed()]
    for n, page in enumerate(pages, 1):
        path = folder / f"{file_name(test_id)}-{n}-{viewport_name(page)}.png"
        try:
            page.screenshot(path=str(path), full_page=True, timeout=5_000)
        except Exception:  # a page that cannot be drawn must not hide the test's own failure
            continue
