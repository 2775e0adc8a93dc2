"""The portal in Chromium, as a member uses it: an invitation, a password and an authenticator
app; sign-in with password and TOTP; their claims with the amounts of the 835 that paid them;
an explanation of benefits; another member's claim out of reach by URL; lockout after five
failures; a form without its CSRF token refused; the session ended after 15 idle minutes
(the test's clock) and by sign-out, on the server. Every page passes axe-core (no serious or
critical violation), and the main pages are photographed at phone and desktop widths."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from adapters.web.portal import SESSION_COOKIE, money
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.queries import identity_of
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from tests.browser.conftest import PageFactory
from tests.browser.harness import (
    LiveServer,
    TestClock,
    assert_accessible,
    environment_for,
    results_dir,
    screenshot,
    viewport_name,
)
from tests.integration.pipeline_support import generated_837, prepared_store

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Serve = Callable[[FastAPI], LiveServer]
PASSWORD = "a long and private passphrase"
EMAIL = "pat.member@example.org"


@dataclass
class Store:
    engine: Engine
    runtime: Runtime
    paid: dict[str, tuple[Decimal, Decimal]]  # payer claim number: CLP04 paid, CLP05 patient
    claims: dict[str, list[tuple[int, str | None]]]  # member id: (row id, payer claim number)


def _store(engine: Engine, clock: TestClock, tmp_path: Path) -> Store:
    """The fixtures' reference data, 80 generated claims taken through adjudication and a
    payment cycle (its 835s read for what they paid)."""
    now = clock.now()
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "a.837", claims=80, seed=20)
    sub = submit(engine, raw, "a.837", now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)
    paid: dict[str, tuple[Decimal, Decimal]] = {}
    for remit in run_payment_cycle(engine, runtime, now, tmp_path / "835"):
        assert remit.path is not None
        text = remit.path.read_text()
        sep, term = text[3], text[105]
        for raw_segment in text.split(term):
            seg = raw_segment.strip().split(sep)
            if seg[0] == "CLP" and seg[2] != "22":
                paid[seg[7]] = (Decimal(seg[4]), Decimal(seg[5] or "0"))
    claims: dict[str, list[tuple[int, str | None]]] = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.claims_table.c.id, t.claims_table.c.identity, t.claims_table.c.payer_claim_number
            )
        ).all()
    for r in rows:
        claims.setdefault(identity_of(r).member_id, []).append((r.id, r.payer_claim_number))
    return Store(engine, runtime, paid, claims)


def _app(engine: Engine, clock: TestClock) -> FastAPI:
    return create_app(ApiConfig(environment_for(engine), now=clock.now, inprocess_workers=False))


def _code(secret: str, clock: TestClock) -> str:
    return totp(secret_from_base32(secret), int(clock.now().replace(tzinfo=UTC).timestamp()))


def _enrolled_member(store: Store, clock: TestClock, member_id: str, email: str) -> str:
    """A member account made and set up through the service (password and app): its TOTP
    secret."""
    invitation = accounts.create_user(
        store.engine,
        Role.MEMBER,
        email=email,
        now=clock.now(),
        member_id=member_id,
        reference=store.runtime.reference,
    )
    session = accounts.accept_invitation(
        store.engine, invitation.token, PASSWORD, clock.now(), store.runtime.reference
    )
    secret = accounts.totp_enrollment(store.engine, session, clock.now()).secret
    accounts.confirm_totp(
        store.engine, session, _code(secret, clock), clock.now(), store.runtime.reference
    )
    clock.advance(timedelta(seconds=31))  # the next sign-in's code is a step of its own
    return secret


def _sign_in(page: Page, email: str, secret: str, clock: TestClock) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label(re.compile("6-digit code")).fill(_code(secret, clock))
    page.get_by_role("button", name="Sign in").click()


def _busiest_subscriber(store: Store) -> str:
    members = store.runtime.reference.members
    return max(
        (m for m in store.claims if members[m].is_subscriber),
        key=lambda m: (sum(1 for _, n in store.claims[m] if n in store.paid), m),
    )


@dataclass
class Ready:
    """A store with an enrolled member, the app served over it, a desktop page on it."""

    store: Store
    secret: str
    server: LiveServer
    page: Page


@pytest.fixture
def ready(
    migrated_postgres: Engine,
    clock: TestClock,
    live_server: Serve,
    new_page: PageFactory,
    tmp_path: Path,
) -> Ready:
    store = _store(migrated_postgres, clock, tmp_path)
    secret = _enrolled_member(store, clock, _busiest_subscriber(store), EMAIL)
    server = live_server(_app(migrated_postgres, clock))
    return Ready(store, secret, server, new_page(base_url=server.url))


def test_a_member_is_invited_sets_up_the_app_and_sees_their_claims(
    migrated_postgres: Engine,
    clock: TestClock,
    live_server: Serve,
    new_page: PageFactory,
    tmp_path: Path,
) -> None:
    store = _store(migrated_postgres, clock, tmp_path)
    member = _busiest_subscriber(store)
    server = live_server(_app(migrated_postgres, clock))
    invitation = accounts.create_user(
        migrated_postgres,
        Role.MEMBER,
        email=EMAIL,
        now=clock.now(),
        member_id=member,
        reference=store.runtime.reference,
    )
    page = new_page("phone", base_url=server.url)
    page.goto(invitation.path())
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    assert_accessible(page, "invitation")
    screenshot(page, "invitation")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD + " but not")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("alert")).to_contain_text("not the same")
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()

    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    assert page.locator("figure.qr svg").count() == 1  # the QR code, drawn without script
    assert_accessible(page, "enroll")
    screenshot(page, "enroll")
    secret = page.locator("code.secret").inner_text()
    page.get_by_label("The 6-digit code the app shows").fill("000000")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("The 6-digit code the app shows").fill(_code(secret, clock))
    page.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = page.locator("ul.codes code").all_inner_texts()
    assert len(codes) == accounts.RECOVERY_CODE_COUNT and len(set(codes)) == len(codes)
    assert_accessible(page, "recovery codes")
    page.get_by_role("link", name=re.compile("continue")).click()

    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
    assert page.url.endswith("/my/claims")
    # the invitation cannot be used twice
    again = page.goto(invitation.path())
    assert again is not None and again.status == 404


def test_a_member_signs_in_and_reads_the_835s_amounts_but_not_another_members_claim(
    migrated_postgres: Engine,
    clock: TestClock,
    live_server: Serve,
    new_page: PageFactory,
    tmp_path: Path,
) -> None:
    store = _store(migrated_postgres, clock, tmp_path)
    member = _busiest_subscriber(store)
    secret = _enrolled_member(store, clock, member, EMAIL)
    server = live_server(_app(migrated_postgres, clock))

    pages: dict[str, Page] = {}
    for viewport in ("desktop", "phone"):
        page = pages[viewport] = new_page(viewport, base_url=server.url)
        page.goto("/my/claims")  # not signed in: to the sign-in page, and back after it
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        assert_accessible(page, "sign in")
        screenshot(page, "sign-in")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        assert_accessible(page, "code")
        page.get_by_label(re.compile("6-digit code")).fill(_code(secret, clock))
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
        assert page.url.endswith("/my/claims")
        clock.advance(timedelta(seconds=31))  # one code per time step
        assert_accessible(page, "my claims")
        screenshot(page, "my-claims")
        _first_screen(page, "member-claims")

    # every claim of the member is listed; each paid one shows the 835's amounts
    mine = [(i, n) for i, n in store.claims[member]]
    links = page.locator("ul.claims a")
    assert links.count() >= len(mine)
    listed = {int(str(href).rsplit("/", 1)[1]) for href in _hrefs(links)}
    assert {i for i, _ in mine} <= listed
    # and nobody else's: every claim listed is of the member's household, none of the others'
    ours = _household(store, member) | {member}
    household = {i for m in ours for i, _ in store.claims.get(m, [])}
    others_listed = {i for m, rows in store.claims.items() if m not in ours for i, _ in rows}
    others_listed &= listed
    assert listed <= household and not others_listed
    paid_ones = [(i, n) for i, n in mine if n in store.paid]
    assert paid_ones, "the busiest subscriber has a paid claim"
    claim_id, number = paid_ones[0]
    plan_paid, patient = store.paid[number]
    page.goto(f"/my/claims/{claim_id}")
    expect(page.get_by_role("heading", name="Explanation of benefits")).to_be_visible()
    totals = page.locator("dl.totals")
    expect(totals).to_contain_text(f"Paid by your plan{money(plan_paid)}")
    expect(totals).to_contain_text(f"You may owe{money(patient)}")
    expect(page.locator("dl.facts")).to_contain_text(number)
    assert_accessible(page, "explanation of benefits")
    screenshot(page, "explanation-of-benefits")
    desktop = pages["desktop"]
    desktop.goto(f"/my/claims/{claim_id}")
    expect(desktop.locator("dl.totals")).to_contain_text(f"Paid by your plan{money(plan_paid)}")
    assert_accessible(desktop, "explanation of benefits")
    screenshot(desktop, "explanation-of-benefits")
    _first_screen(desktop, "explanation-of-benefits")

    # another member's claim, by editing the URL: the same page as a claim that does not exist
    others = [
        i for m, rows in store.claims.items() if m not in _household(store, member) for i, _ in rows
    ]
    theirs = page.goto(f"/my/claims/{others[0]}")
    theirs_text = page.locator("main").inner_text()
    nothing = page.goto("/my/claims/987654321")
    assert theirs is not None and nothing is not None
    assert theirs.status == nothing.status == 404
    assert theirs_text == page.locator("main").inner_text()
    for path in ("/my/claims/abc", "/my/claims/-1", "/my/claims/1%2F..%2F2"):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
    # a page number edited by hand: not a number is the first page, past the last one says so
    page.goto("/my/claims")
    first = page.locator("ul.claims").inner_text()
    for query in ("abc", "1.5", "", "-3"):
        response = page.goto(f"/my/claims?page={query}")
        assert response is not None and response.status == 200, query
        assert page.locator("ul.claims").inner_text() == first, query
    response = page.goto("/my/claims?page=9999")
    assert response is not None and response.status == 200
    expect(page.locator("main")).to_contain_text("past the last one")
    expect(page.locator("main")).not_to_contain_text("No claims yet")
    assert_accessible(page, "a page past the last")
    # a path that is no page at all: the portal's page too, with its headers
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def _first_screen(page: Page, name: str) -> None:
    """What the reader sees first (the viewport, not the whole page), for docs/images."""
    path = results_dir() / "docs" / f"{name}-{viewport_name(page)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def _hrefs(links: Locator) -> list[str]:
    return [str(links.nth(n).get_attribute("href")) for n in range(links.count())]


def _household(store: Store, member_id: str) -> set[str]:
    members = store.runtime.reference.members
    me = members[member_id]
    return {m.member_id for m in members.values() if m.subscriber_id == me.member_id}


def test_five_wrong_sign_ins_lock_the_account_and_are_audited(
    ready: Ready, clock: TestClock
) -> None:
    page = ready.page
    for _ in range(accounts.MAX_FAILURES):
        page.goto("/sign-in")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("alert")).to_be_visible()
    # the right password now: still refused, with the same words
    _sign_in_password_only(page, EMAIL, PASSWORD)
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    events = [e["event"] for e in accounts.account_events(ready.store.engine)]
    assert any("lock" in e for e in events), events
    # after the lockout: the right password and code work
    clock.advance(accounts.LOCKOUT + timedelta(seconds=1))
    _sign_in(page, EMAIL, ready.secret, clock)
    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()


def _sign_in_password_only(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def test_a_form_without_its_csrf_token_is_refused(ready: Ready, clock: TestClock) -> None:
    page = ready.page
    # before sign-in: the sign-in form posted without its token
    page.goto("/sign-in")
    refused = page.request.post(
        f"{ready.server.url}/sign-in", form={"email": EMAIL, "password": PASSWORD}
    )
    assert refused.status == 403 and "expired" in refused.text()
    _sign_in(page, EMAIL, ready.secret, clock)
    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
    # signed in: sign-out posted without the token (or with another) does nothing
    forms: list[dict[str, str | float | bool]] = [{}, {"csrf": "not-the-token"}]
    for form in forms:
        refused = page.request.post(f"{ready.server.url}/sign-out", form=form)
        assert refused.status == 403
    page.goto("/my/claims")
    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
    # the form's own button signs out, and the old cookie is then worth nothing
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.context.add_cookies(
        [{"name": cookie["name"], "value": cookie["value"], "url": ready.server.url}]
    )
    page.goto("/my/claims")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_the_session_ends_after_fifteen_idle_minutes(ready: Ready, clock: TestClock) -> None:
    page = ready.page
    _sign_in(page, EMAIL, ready.secret, clock)
    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
    response = page.goto("/my/claims")
    assert response is not None
    headers = response.headers
    assert "script-src" not in headers["content-security-policy"]  # no script at all
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    clock.advance(timedelta(minutes=14))  # still active: each page view counts
    page.goto("/my/claims")
    expect(page.get_by_role("heading", name="My claims", exact=True)).to_be_visible()
    clock.advance(timedelta(minutes=15, seconds=1))
    page.goto("/my/claims")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    ended = [e for e in accounts.account_events(ready.store.engine) if "idle" in str(e)]
    assert ended, accounts.account_events(ready.store.engine)
