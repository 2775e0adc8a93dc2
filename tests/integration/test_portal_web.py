"""The portal's protections that need no browser, through the app itself: when cookies are
Secure (behind a proxy that reached the app on 127.0.0.1 too), forms bounded before they are
read, and no invitation token in the logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from adapters.api.app import ApiConfig, create_app
from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.store.db import engine_for
from tests.browser.harness import environment_for
from tests.integration.pipeline_support import NOW, prepared_store

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = engine_for(f"sqlite:///{tmp_path / 'claims.db'}")
    prepared_store(engine)
    return engine


def _client(engine: Engine, base_url: str = "http://127.0.0.1") -> TestClient:
    app = create_app(ApiConfig(environment_for(engine), now=lambda: NOW, inprocess_workers=False))
    return TestClient(app, base_url=base_url)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _form_cookie(client: TestClient, headers: dict[str, str] | None = None) -> str:
    response = client.get("/sign-in", headers=headers or {})
    return response.headers["set-cookie"]


def test_cookies_are_secure_but_for_loopback_without_a_proxy(store: Engine) -> None:
    loopback = _client(store)
    assert "secure" not in _form_cookie(loopback).lower()  # development on 127.0.0.1
    for proxied in (
        {"X-Forwarded-Proto": "https"},
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=203.0.113.7;proto=https"},
    ):  # a proxy on the same host reaching the app on 127.0.0.1 (docs/operations.md)
        assert "secure" in _form_cookie(_client(store), proxied).lower(), proxied
    assert "secure" in _form_cookie(_client(store, "http://portal.example.org")).lower()


def test_a_form_is_bounded_before_it_is_read(store: Engine) -> None:
    client = _client(store)
    token = _csrf(client.get("/sign-in").text)
    big = client.post(
        "/sign-in", data={"csrf": token, "email": "a@b.example", "password": "x" * 100_000}
    )
    assert big.status_code == 413
    assert "too large" in big.text
    multipart = client.post(
        "/sign-in",
        data={"csrf": token, "email": "a@b.example", "password": "p"},
        files={"file": ("x.bin", b"0" * 1000)},
    )
    assert multipart.status_code == 413
    fine = client.post("/sign-in", data={"csrf": token, "email": "a@b.example", "password": "p"})
    assert fine.status_code == 401  # read, and answered: no such account


def test_an_invitations_token_never_reaches_the_logs(
    store: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    invitation = accounts.create_user(store, Role.INSURER, email="ann@payer.example", now=NOW)
    client = _client(store)
    with caplog.at_level(logging.INFO):
        refused = client.post(invitation.path(), data={"password": "p", "confirm": "p"})
    assert refused.status_code == 403
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert any("/invitation/{token}" in line for line in lines), lines
    assert not any(invitation.token in line for line in lines)
    assert accounts.invitation_of(store, invitation.token, NOW) is not None  # still unused


def test_a_bug_is_answered_in_the_callers_terms_with_the_headers(
    store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception no handler expects: the portal's error page with its security headers for
    a page, the API's JSON error for an API route; never a bare text."""
    from adapters.web import sign_in_pages
    from claims_engine.services import queries
    from claims_engine.services.access import create_key

    def broken(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("a bug")

    app = create_app(ApiConfig(environment_for(store), now=lambda: NOW, inprocess_workers=False))
    monkeypatch.setattr(sign_in_pages, "safe_next", broken)  # what the sign-in page calls
    monkeypatch.setattr(queries, "search_claims", broken)  # what GET /v1/claims calls
    token = create_key(store, Role.INSURER, now=NOW).token
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        page = client.get("/sign-in", headers={"Accept": "text/html"})
        assert page.status_code == 500
        assert "Something went wrong" in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        api = client.get("/v1/claims", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "internal_error"
