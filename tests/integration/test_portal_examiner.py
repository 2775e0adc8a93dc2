"""The examiners' pages on SQLite and PostgreSQL: examiner and supervisor accounts by email (no
member's or provider's), whom a claim may be reassigned to, and the one role gate of the
portal's pages."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Engine

from claims_engine.services import accounts, portal_examiner
from claims_engine.services.access import Role
from tests.integration.pipeline_support import NOW, prepared_store

pytestmark = pytest.mark.integration


def test_colleagues_are_the_examiner_and_supervisor_accounts(engine: Engine) -> None:
    runtime = prepared_store(engine)
    made = {
        email: accounts.create_user(
            engine, role, email=email, now=NOW, reference=runtime.reference, **more
        )
        for email, role, more in (
            ("alice@example.org", Role.EXAMINER, {}),
            ("pat@example.org", Role.MEMBER, {"member_id": "PG00000100"}),
            ("sam@example.org", Role.SUPERVISOR, {}),
            ("office@example.org", Role.PROVIDER, {"npis": ["2781759230"]}),
            ("bob@example.org", Role.EXAMINER, {}),
        )
    }
    found = portal_examiner.colleagues(engine, NOW)
    assert [(c.email, c.role, c.active) for c in found] == [
        ("alice@example.org", Role.EXAMINER, True),
        ("sam@example.org", Role.SUPERVISOR, True),
        ("bob@example.org", Role.EXAMINER, True),
    ]
    users = {u["email"]: u for u in accounts.list_users(engine)}
    assert portal_examiner.names(found) == {
        users[e]["key_id"]: e for e in ("alice@example.org", "sam@example.org", "bob@example.org")
    }
    # a disabled account's key is revoked: no claim is handed to it any more, its name stays
    assert accounts.disable_user(engine, made["bob@example.org"].user_id, NOW)
    later = portal_examiner.colleagues(engine, NOW + timedelta(minutes=1))
    assert [(c.email, c.active) for c in later][-1] == ("bob@example.org", False)


def test_the_examiners_pages_are_gated_by_the_portals_one_role_gate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every examiner page asks :meth:`Portal.signed_in_as`, as the member's and provider's
    pages do: examiners, supervisors and insurers read, examiners and supervisors act; a
    member is refused with the portal's 403 page; a form posted without a session goes to the
    sign-in page (no page to come back to)."""
    from fastapi.testclient import TestClient

    from adapters.api.app import ApiConfig, create_app
    from adapters.web.portal import SESSION_COOKIE, Portal
    from claims_engine.domain.totp import secret_from_base32, totp
    from tests.browser.harness import environment_for

    runtime = prepared_store(engine)
    asked: list[frozenset[Role]] = []
    gate = Portal.signed_in_as

    async def spy(self: Portal, request: object, roles: frozenset[Role], whose: str) -> object:
        asked.append(frozenset(roles))
        return await gate(self, request, roles, whose)  # type: ignore[arg-type]

    monkeypatch.setattr(Portal, "signed_in_as", spy)

    def session_of(role: Role, email: str, member_id: str | None) -> str:
        invitation = accounts.create_user(
            engine, role, email=email, now=NOW, reference=runtime.reference, member_id=member_id
        )
        enrolling = accounts.accept_invitation(engine, invitation.token, "a long password!", NOW)
        secret = accounts.totp_enrollment(engine, enrolling, NOW).secret
        code = totp(secret_from_base32(secret), int(NOW.replace(tzinfo=UTC).timestamp()))
        full, _ = accounts.confirm_totp(engine, enrolling, code, NOW, runtime.reference)
        return full.token

    app = create_app(ApiConfig(environment_for(engine), now=lambda: NOW, inprocess_workers=False))
    reading = frozenset({Role.EXAMINER, Role.SUPERVISOR, Role.INSURER})
    acting = frozenset({Role.EXAMINER, Role.SUPERVISOR})
    for role, email, member, queues, act in (
        (Role.EXAMINER, "alice@example.org", None, 200, 404),
        (Role.SUPERVISOR, "sam@example.org", None, 200, 404),
        (Role.INSURER, "ann@example.org", None, 200, 403),
        (Role.MEMBER, "pat@example.org", "PG00000100", 403, 403),
    ):
        client = TestClient(app, base_url="http://127.0.0.1")
        client.cookies.set(SESSION_COOKIE, session_of(role, email, member))
        asked.clear()
        page = client.get("/examiner/queues", follow_redirects=False)
        assert page.status_code == queues, role
        assert asked == [reading]
        if queues == 403:
            assert "This page is for examiners" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        asked.clear()
        posted = client.post(
            "/examiner/claims/987654321/actions",
            data={"csrf": csrf.group(1), "kind": "note", "version": "1", "why": "x"},
            follow_redirects=False,
        )
        assert posted.status_code == act, role  # a claim that never pended: 404 to who acts
        assert asked == [acting]
    stranger = TestClient(app, base_url="http://127.0.0.1")
    page = stranger.get("/examiner/queues", follow_redirects=False)
    assert page.headers["location"] == "/sign-in?next=%2Fexaminer%2Fqueues"
    post = stranger.post("/examiner/claims/1/actions", data={}, follow_redirects=False)
    assert (post.status_code, post.headers["location"]) == (303, "/sign-in")
