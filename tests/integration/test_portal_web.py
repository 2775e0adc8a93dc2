"""The portal's protections that need no browser, through the app itself: when cookies are
Secure (behind a proxy that reached the app on 127.0.0.1 too), forms bounded before they are
read, no invitation token in the logs, failed sign-ins limited per client address (a trusted
proxy's forwarded address only), the pre-sign-in forms' token made and checked by the server,
and Swagger UI off unless enabled."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine

from adapters.api.app import ApiConfig, create_app
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.services import access, accounts
from claims_engine.services.access import Role
from claims_engine.services.reference import load_runtime
from claims_engine.store.db import engine_for
from tests.browser.harness import environment_for
from tests.integration.pipeline_support import NOW, RULES, prepared_store

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


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


# -- sign-in throttled per client --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


def _enrolled(engine: Engine, email: str, at: datetime) -> None:
    """An account with its password and app: the right password would reach the code page."""
    invitation = accounts.create_user(engine, Role.INSURER, email=email, now=at)
    session = accounts.accept_invitation(engine, invitation.token, PASSWORD, at)
    app = accounts.totp_enrollment(engine, session, at)
    code = totp(secret_from_base32(app.secret), int(at.replace(tzinfo=UTC).timestamp()))
    accounts.confirm_totp(engine, session, code, at)


def _sign_in(client: TestClient, email: str, password: str, **headers: str) -> Response:
    token = _csrf(client.get("/sign-in", headers=headers).text)
    return client.post(
        "/sign-in",
        data={"csrf": token, "email": email, "password": password},
        headers=headers,
        follow_redirects=False,
    )


def _throttled(engine: Engine) -> list[str]:
    return [
        e["detail"] for e in accounts.account_events(engine) if e["event"] == "sign-in throttled"
    ]


def test_one_client_failing_many_accounts_is_throttled_before_any_password(
    store: Engine,
) -> None:
    clock = Clock()
    _enrolled(store, "ann@payer.example", clock.at)
    app = create_app(ApiConfig(environment_for(store), now=clock, inprocess_workers=False))
    client = TestClient(app, base_url="https://portal.example.org")
    limit = accounts.CLIENT_MAX_FAILURES
    for n in range(limit):  # credential stuffing: every attempt another email, below lockouts
        clock.at = NOW + timedelta(seconds=10 * n)
        # a forwarding header from a client that is no trusted proxy changes nothing
        refused = _sign_in(
            client, f"user{n}@example.org", "guess", **{"X-Forwarded-For": f"198.51.100.{n}"}
        )
        assert refused.status_code == 401, n
    assert len(_throttled(store)) == 1  # the failure that reached the limit is recorded
    events_before = len(accounts.account_events(store))
    clock.at = NOW + timedelta(minutes=5)
    for email, password in (("ann@payer.example", PASSWORD), ("bob@example.org", "guess")):
        answer = _sign_in(client, email, password)
        assert answer.status_code == 429, email  # even the right password: never looked at
        assert "Too many failed sign-ins" in answer.text
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        # until the first of the 20 (at NOW) is 15 minutes old: 10 minutes from now
        assert answer.headers["retry-after"] == str(10 * 60)
        assert "ce_session" not in answer.headers.get("set-cookie", "")
    assert len(accounts.account_events(store)) == events_before  # nothing counted, no hash
    [ann] = [u for u in accounts.list_users(store) if u["email"] == "ann@payer.example"]
    assert ann["state"] == "active"  # the account itself is not locked by others' failures
    # the audit holds the client's keyed hash, never its address
    assert not any("testclient" in e["detail"] for e in accounts.account_events(store))
    assert f"until {(NOW + accounts.CLIENT_WINDOW).isoformat()}" in _throttled(store)[0]
    # the first failure leaves the window: one attempt goes through again
    clock.at = NOW + accounts.CLIENT_WINDOW + timedelta(seconds=1)
    again = _sign_in(client, "ann@payer.example", PASSWORD)
    assert again.status_code == 303 and again.headers["location"] == "/sign-in/code"


def test_a_trusted_proxys_forwarded_address_is_the_client(store: Engine) -> None:
    """``claims-engine serve`` (uvicorn) puts the X-Forwarded-For address in the peer's place
    when the peer is one of FORWARDED_ALLOW_IPS: then each client behind the proxy has its own
    limit, and the proxy's own address is not everyone's."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    app = create_app(ApiConfig(environment_for(store), now=lambda: NOW, inprocess_workers=False))
    # trusting TestClient's peer, as FORWARDED_ALLOW_IPS names a proxy (uvicorn's ASGI types
    # are its own: the app and the middleware are plain ASGI callables to each other)
    proxied: Any = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts="testclient")
    client = TestClient(proxied, base_url="https://portal.example.org")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for n in range(accounts.CLIENT_MAX_FAILURES):
        assert _sign_in(client, f"user{n}@example.org", "guess", **attacker).status_code == 401
    assert _sign_in(client, "user@example.org", "guess", **attacker).status_code == 429
    other = _sign_in(client, "user@example.org", "guess", **{"X-Forwarded-For": "198.51.100.9"})
    assert other.status_code == 401  # another client behind the same proxy: its own count


# -- the pre-sign-in forms' token ---------------------------------------------------------------


def test_a_pre_sign_in_form_needs_the_servers_own_token_of_its_cookie(store: Engine) -> None:
    client = _client(store)
    mine = _csrf(client.get("/sign-in").text)
    assert "." in mine  # a random value and the server's HMAC of it
    theirs = _csrf(_client(store).get("/sign-in").text)  # another browser's, valid for it
    fields = {"email": "a@b.example", "password": "p"}
    mismatched = client.post("/sign-in", data={"csrf": theirs, **fields})
    assert mismatched.status_code == 403 and "expired" in mismatched.text
    assert client.post("/sign-in", data={"csrf": mine, **fields}).status_code == 401
    # a cookie planted beside the form (a sibling subdomain's), and the same value posted: the
    # server did not make it, so it is no token
    planted = _client(store)
    planted.cookies.set("ce_form", "planted-value")
    refused = planted.post("/sign-in", data={"csrf": "planted-value", **fields})
    assert refused.status_code == 403
    forged = mine.split(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    planted.cookies.set("ce_form", forged)
    assert planted.post("/sign-in", data={"csrf": forged, **fields}).status_code == 403
    # a fresh page after a planted cookie gives a token of the server's own
    assert _csrf(planted.get("/sign-in").text) != forged


def test_the_secure_form_cookie_is_a_host_cookie(store: Engine) -> None:
    client = _client(store, "https://portal.example.org")
    page = client.get("/sign-in")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-ce_form=") and "secure" in cookie.lower()
    assert "path=/" in cookie.lower() and "domain" not in cookie.lower()
    token = _csrf(page.text)
    fields = {"email": "a@b.example", "password": "p"}
    assert client.post("/sign-in", data={"csrf": token, **fields}).status_code == 401
    # the same server-made token under the name a sibling subdomain can set: not read
    sibling = _client(store, "https://portal.example.org")
    sibling.cookies.set("ce_form", token)
    assert sibling.post("/sign-in", data={"csrf": token, **fields}).status_code == 403


# -- the API's documentation ----------------------------------------------------------------------


def test_swagger_ui_is_off_unless_enabled_and_the_openapi_document_stays(store: Engine) -> None:
    client = _client(store)
    assert client.get("/docs").status_code == 404  # no CDN's script on the portal's origin
    assert client.get("/redoc").status_code == 404
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "claims-engine"
    config = ApiConfig(
        environment_for(store), now=lambda: NOW, inprocess_workers=False, api_docs=True
    )
    enabled = TestClient(create_app(config), base_url="http://127.0.0.1")
    docs = enabled.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text
    # the portal's policy is the same either way
    sign_in = enabled.get("/sign-in").headers["content-security-policy"]
    assert sign_in == client.get("/sign-in").headers["content-security-policy"]
    assert "script-src" not in sign_in and "default-src 'none'" in sign_in


def test_the_docs_setting_is_on_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.api import app as api
    from claims_engine.domain.errors import ConfigurationError

    for text, expected in (("", False), ("off", False), ("on", True), (" ON ", True)):
        monkeypatch.setenv("CLAIMS_API_DOCS", text)
        assert api._switch_setting("CLAIMS_API_DOCS") is expected
    monkeypatch.setenv("CLAIMS_API_DOCS", "yes")
    with pytest.raises(ConfigurationError, match="on or off"):
        api._switch_setting("CLAIMS_API_DOCS")


def _signed_in(engine: Engine, email: str, at: datetime) -> str:
    """A member's account signed in whole at ``at``: its session's cookie value."""
    reference = load_runtime(engine, RULES).reference
    member = next(m for m in sorted(reference.members) if reference.members[m].is_subscriber)
    invitation = accounts.create_user(
        engine, Role.MEMBER, email=email, now=at, member_id=member, reference=reference
    )
    session = accounts.accept_invitation(engine, invitation.token, PASSWORD, at, reference)
    app = accounts.totp_enrollment(engine, session, at)
    code = totp(secret_from_base32(app.secret), int(at.replace(tzinfo=UTC).timestamp()))
    full, _codes = accounts.confirm_totp(engine, session, code, at, reference)
    return full.token


@pytest.mark.parametrize("why", ["idle", "key revoked"])
def test_a_session_found_over_by_a_page_is_ended_with_its_reason_once(
    store: Engine, why: str
) -> None:
    """A page checks its session on a connection in autocommit; one found over is ended in a
    transaction of its own, its end and its event together, and the page is the sign-in."""
    clock = Clock()
    token = _signed_in(store, "ann@member.example", clock.at)
    app = create_app(ApiConfig(environment_for(store), now=clock, inprocess_workers=False))
    client = TestClient(app, base_url="http://127.0.0.1")
    client.cookies.set("ce_session", token)
    assert client.get("/my/claims").status_code == 200
    [user] = accounts.list_users(store)
    if why == "idle":
        clock.at = NOW + accounts.IDLE_TIMEOUT
    else:
        access.revoke_key(store, accounts.KEY_PREFIX + user["user_id"], clock.at)
    for _ in range(2):
        page = client.get("/my/claims", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
    ended = [
        e["detail"]
        for e in accounts.account_events(store)
        if e["event"] == "session ended" and e["detail"] != "new token"
    ]
    assert ended == [why], ended
    assert accounts.session_of(store, token, clock.at) is None
