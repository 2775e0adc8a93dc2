"""The browser test harness itself: the real app served live over a fresh PostgreSQL schema
and opened in Chromium, the test's clock seen by the app, axe-core failing what it must and
passing what it must, screenshots of both viewports, the pages' isolation, and the server
stopped without leftovers."""

from __future__ import annotations

import json
import socket
import struct
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, Route
from sqlalchemy import Engine

from adapters.api.app import ApiConfig, create_app
from claims_engine.services.access import Role, create_key
from tests.browser.conftest import PageFactory
from tests.browser.harness import (
    LiveServer,
    TestClock,
    assert_accessible,
    environment_for,
    require_chromium,
    screenshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]  # PostgreSQL and Chromium

Serve = Callable[[FastAPI], LiveServer]

CLEAN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Claims</title></head>
<body><header><h1>Your claims</h1></header>
<main><p>Nothing to show yet.</p><img src="data:," alt="the payer's logo"></main></body></html>
"""
MISSING_ALT = CLEAN.replace(' alt="the payer\'s logo"', "")


def _app(engine: Engine, clock: TestClock) -> FastAPI:
    return create_app(ApiConfig(environment_for(engine), now=clock.now, inprocess_workers=False))


def _json(page: Page) -> object:
    return json.loads(page.locator("body").inner_text())


def test_the_live_app_answers_in_the_browser(
    migrated_postgres: Engine, clock: TestClock, live_server: Serve, new_page: PageFactory
) -> None:
    server = live_server(_app(migrated_postgres, clock))
    assert server.url.startswith("http://127.0.0.1:")
    page = new_page(base_url=server.url)

    response = page.goto("/healthz")
    assert response is not None and response.status == 200
    assert _json(page) == {"status": "ok", "checks": {"process": "ok"}}

    response = page.goto(f"{server.url}/readyz")  # the store answers: the test's schema
    assert response is not None and response.status == 200, page.content()
    assert _json(page) == {
        "status": "ok",
        "checks": {
            "database": "ok",
            "broker": "none: submissions are stored for a worker's sweep",
        },
    }


def test_the_app_reads_the_test_clock(
    migrated_postgres: Engine, clock: TestClock, live_server: Serve, new_page: PageFactory
) -> None:
    """A key made for an hour from the clock's time: it works while the test's clock is within
    that hour, not once the clock passes it, and again when the clock goes back (by the wall
    clock it expired long ago: the first request would already be refused)."""
    key = create_key(migrated_postgres, Role.INSURER, now=clock.now(), lifetime=timedelta(hours=1))
    server = live_server(_app(migrated_postgres, clock))
    page = new_page(base_url=server.url)
    page.set_extra_http_headers({"Authorization": f"Bearer {key.token}"})

    def status() -> int:
        response = page.goto("/v1/queues")
        assert response is not None
        return response.status

    assert status() == 200, page.content()
    clock.advance(timedelta(minutes=61))
    assert status() == 401
    assert "expired" in page.content()
    clock.advance(timedelta(minutes=-2))
    assert status() == 200


def test_the_clock() -> None:
    clock = TestClock(datetime(2026, 11, 2, 9, 30, 15, 999))
    assert clock.now() == datetime(2026, 11, 2, 9, 30, 15)  # no microseconds, like the engine's
    assert clock.advance(timedelta(days=1, seconds=5)) == datetime(2026, 11, 3, 9, 30, 20)
    assert clock.now() == datetime(2026, 11, 3, 9, 30, 20)
    clock.set(datetime(2027, 1, 1))
    assert clock.now() == datetime(2027, 1, 1)
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime.fromisoformat("2027-01-01T00:00:00+00:00"))


def test_a_server_stops_and_lets_go_of_its_port() -> None:
    app = FastAPI()
    server = LiveServer(app).start()
    assert server.thread is not None and server.thread.is_alive()
    server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_what_the_app_does_not_answer_fails_the_test(
    live_server: Serve, new_page: PageFactory
) -> None:
    """An exception no handler answers, or a warning (an error in this suite) raised on the
    server's thread, is a 500 in the browser and fails the test when the server stops."""
    app = FastAPI()

    @app.get("/broken")
    def broken() -> None:
        raise LookupError("no such page")

    @app.get("/deprecated")
    def deprecated() -> None:
        warnings.warn("an old call", DeprecationWarning, stacklevel=1)

    server = LiveServer(app).start()
    try:
        page = new_page(base_url=server.url)
        for path in ("/broken", "/deprecated"):
            response = page.goto(path)
            assert response is not None and response.status == 500
    finally:
        with pytest.raises(RuntimeError) as failed:
            server.stop()
    assert "LookupError: no such page" in str(failed.value)
    assert "DeprecationWarning: an old call" in str(failed.value)

    quiet = live_server(app)
    page.goto(f"{quiet.url}/broken")
    assert quiet.errors == ["Exception in ASGI application: LookupError: no such page"]
    quiet.errors.clear()  # expected: the test says so, and the fixture stops it quietly


def test_a_server_that_cannot_start_says_so() -> None:
    @asynccontextmanager
    async def broken(_app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("no store")
        yield  # pragma: no cover

    server = LiveServer(FastAPI(lifespan=broken))
    with pytest.raises(RuntimeError, match="did not start"):
        server.start()
    assert server.thread is not None and not server.thread.is_alive()


def test_assert_accessible_fails_a_planted_violation(new_page: PageFactory) -> None:
    page = new_page()
    page.set_content(MISSING_ALT)
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page, "planted")
    message = str(failed.value)
    assert "planted" in message and "desktop" in message
    assert "[critical] image-alt: Images must have alternative text" in message
    assert "img" in message


def test_assert_accessible_passes_a_clean_page(new_page: PageFactory) -> None:
    page = new_page("phone")
    page.set_content(CLEAN)
    assert assert_accessible(page, "clean") == []


def test_moderate_violations_alone_pass_and_are_listed_with_serious_ones(
    new_page: PageFactory,
) -> None:
    page = new_page()
    no_heading = CLEAN.replace("<h1>Your claims</h1>", "<p>Your claims</p>")
    page.set_content(no_heading)
    [moderate] = assert_accessible(page, "no heading")
    assert (moderate.id, moderate.impact) == ("page-has-heading-one", "moderate")

    page.set_content(no_heading.replace(' alt="the payer\'s logo"', ""))
    with pytest.raises(AssertionError, match=r"(?s)image-alt.*also.*page-has-heading-one"):
        assert_accessible(page, "both")


def test_axe_runs_under_a_strict_content_security_policy(new_page: PageFactory) -> None:
    """The portal's pages forbid inline script; axe-core is injected by the browser's protocol,
    which the policy does not stop."""
    page = new_page()
    body = MISSING_ALT.replace("</body>", "<script>document.title = 'ran'</script></body>")

    def fulfil(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": "default-src 'self'; script-src 'self'"},
            body=body,
        )

    page.route("http://portal.test/**", fulfil)
    page.goto("http://portal.test/claims")
    assert page.title() == "Claims"  # the inline script was refused
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, "csp")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is no PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshots_of_both_viewports(
    new_page: PageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMS_TEST_RESULTS", str(tmp_path))
    tall = CLEAN.replace("<p>Nothing", '<p style="height:2000px">Nothing')
    sizes = {}
    for viewport in ("desktop", "phone"):
        page = new_page(viewport)
        page.set_content(tall)
        path = screenshot(page, "claims list")
        assert path == tmp_path / "screenshots" / f"claims-list-{viewport}.png"
        sizes[viewport] = _png_size(path)
    desktop, phone = sizes["desktop"], sizes["phone"]
    assert desktop[0] == 1280 and desktop[1] > 2000  # the full page, not the 800 px viewport
    assert phone[0] == 390 * 2 and phone[1] > 2000 * 2  # device pixels: a scale factor of 2


def test_the_phone_viewport(new_page: PageFactory) -> None:
    page = new_page("phone")
    page.set_content(CLEAN)
    seen = page.evaluate(
        "[innerWidth, innerHeight, devicePixelRatio, navigator.maxTouchPoints > 0,"
        " matchMedia('(pointer: coarse)').matches]"
    )
    assert seen == [390, 844, 2, True, True]
    # a mobile browser lays out a page without <meta name="viewport"> 980 px wide
    unscaled = new_page("phone")
    unscaled.set_content(CLEAN.replace('<meta name="viewport"', '<meta name="not-viewport"'))
    assert unscaled.evaluate("innerWidth") == 980
    desktop = new_page()
    assert desktop.evaluate("[innerWidth, innerHeight, devicePixelRatio]") == [1280, 800, 1]


def test_each_page_has_its_own_cookies(new_page: PageFactory) -> None:
    first, second = new_page(), new_page()
    first.context.add_cookies([{"name": "session", "value": "a", "url": "http://portal.test/"}])
    assert [c["name"] for c in first.context.cookies()] == ["session"]
    assert second.context.cookies() == []


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_missing_chromium_skips_here_and_fails_in_ci(
    ci: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("CLAIMS_TEST_CHROMIUM", str(tmp_path / "no-chromium"))
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match=r"no-chromium.*tests/services\.sh"):
        require_chromium()
