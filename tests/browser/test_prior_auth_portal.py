"""Prior authorization on the portal, in Chromium (issue 22): an examiner opens the clinical
queue from the queues page and finds the requests the soonest due first (a standard request
near its due time marked "due soon", then an expedited request ahead of the standard one sent
before it), denies one (without a reason: refused on the page; with one: denied) and approves
another for fewer units than asked; the provider's office then reads both decisions on its
authorization requests page, while another provider's request, asked by URL, is the same 404
as a missing one. Every new page passes axe-core and is photographed at phone and desktop
widths.

The requests go through the prior authorization service as a 278 would send them, decided by
the fixture rules (``rules/prior-auth/decisions.yaml``): bariatric surgery (43775) is always
reviewed (PA-BARIATRIC), and a knee MRI (73721) asked by BUCKEYE FAMILY MEDICINE (NPI
2781759230, no gold card) meets no decision rule, so a reviewer decides it too. The patients
are LIAM HILL (PG00000100) and SOPHIA JOHNSON (PG00000200); MAUMEE RADIOLOGY ASSOCIATES (NPI
2422581191) is the other provider."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.domain.prior_auth import AuthRequest, AuthService, Source, Urgency
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.rules.authorization_rules import load_authorization_rules
from claims_engine.services import accounts
from claims_engine.services import authorizations as pa
from claims_engine.services.access import Role
from claims_engine.services.reference import Runtime
from claims_engine.store import tables as t
from tests.browser.conftest import PageFactory
from tests.browser.harness import (
    RULES,
    LiveServer,
    TestClock,
    Viewport,
    assert_accessible,
    environment_for,
    screenshot,
)
from tests.integration.pipeline_support import prepared_store

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Serve = Callable[[FastAPI], LiveServer]
PASSWORD = "a long and private reviewer passphrase"
BUCKEYE = "2781759230"
MAUMEE = "2422581191"
SURGERY_DAY = date(2026, 11, 16)
REVIEWER = "rita.reviewer@example.org"
BUCKEYE_OFFICE = "auth@buckeye.example.org"
MAUMEE_OFFICE = "auth@maumee.example.org"
DENIAL = "BMI of 32 is under the plan's 35 without a comorbidity; send the dietitian's notes"
MODIFICATION = "one knee first; ask again for the other once its results are read"
WIDTHS: tuple[Viewport, ...] = ("phone", "desktop")


@dataclass
class Desk:
    engine: Engine
    runtime: Runtime
    clock: TestClock
    server: LiveServer
    secrets: dict[str, str]  # email: TOTP secret
    requests: dict[str, str]  # name: certification number

    def key_id(self, email: str) -> str:
        return str(
            next(u["key_id"] for u in accounts.list_users(self.engine) if u["email"] == email)
        )


def _code(secret: str, clock: TestClock) -> str:
    return totp(secret_from_base32(secret), int(clock.now().replace(tzinfo=UTC).timestamp()))


def _enrolled(
    engine: Engine,
    runtime: Runtime,
    clock: TestClock,
    role: Role,
    email: str,
    npis: tuple[str, ...] = (),
) -> str:
    """An account set up through the service (password and app): its TOTP secret."""
    invitation = accounts.create_user(
        engine, role, email=email, now=clock.now(), npis=npis, reference=runtime.reference
    )
    session = accounts.accept_invitation(
        engine, invitation.token, PASSWORD, clock.now(), runtime.reference
    )
    secret = accounts.totp_enrollment(engine, session, clock.now()).secret
    accounts.confirm_totp(engine, session, _code(secret, clock), clock.now(), runtime.reference)
    clock.advance(timedelta(seconds=31))
    return secret


def _request(
    code: str,
    trace: str,
    *,
    npi: str = BUCKEYE,
    member: str = "PG00000100",
    urgency: Urgency = Urgency.STANDARD,
    quantity: int = 1,
) -> AuthRequest:
    return AuthRequest(
        member_id=member,
        subscriber_id=member,
        requesting_npi=npi,
        servicing_npi=npi,
        urgency=urgency,
        services=(AuthService(code, Decimal(quantity), SURGERY_DAY, SURGERY_DAY),),
        diagnoses=("E66.01",) if code == "43775" else ("M17.0",),
        trace=trace,
        source=Source.X12,
    )


@pytest.fixture
def desk(migrated_postgres: Engine, clock: TestClock, live_server: Serve) -> Desk:
    engine = migrated_postgres
    runtime = prepared_store(engine)
    rules = load_authorization_rules(
        RULES / "prior-auth" / "decisions.yaml", known_plans=runtime.reference.plans
    )

    def submit(request: AuthRequest, at: datetime) -> str:
        view = pa.submit(engine, request, runtime.reference, runtime.book, rules, at)
        assert view.state == "pended", view
        return view.number

    now = clock.now()
    requests = {
        # standard, received 6 days and 13 hours ago: due in 11 hours, within alert_before
        "bariatric": submit(_request("43775", "BAR-1"), now - timedelta(days=6, hours=13)),
        # standard, received an hour ago: due in 167 hours
        "standard": submit(_request("27447", "TKA-1"), now - timedelta(hours=1)),
        # expedited, received now: due in 72 hours, ahead of the standard one sent before it
        "knee": submit(_request("73721", "MRI-1", urgency=Urgency.EXPEDITED, quantity=2), now),
        # the other provider's
        "maumee": submit(_request("43775", "BAR-9", npi=MAUMEE, member="PG00000200"), now),
    }
    secrets = {
        REVIEWER: _enrolled(engine, runtime, clock, Role.EXAMINER, REVIEWER),
        BUCKEYE_OFFICE: _enrolled(
            engine, runtime, clock, Role.PROVIDER, BUCKEYE_OFFICE, (BUCKEYE,)
        ),
        MAUMEE_OFFICE: _enrolled(engine, runtime, clock, Role.PROVIDER, MAUMEE_OFFICE, (MAUMEE,)),
    }
    app = create_app(ApiConfig(environment_for(engine), now=clock.now, inprocess_workers=False))
    return Desk(engine, runtime, clock, live_server(app), secrets, requests)


def _sign_in(page: Page, desk: Desk, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label(re.compile("6-digit code")).fill(_code(desk.secrets[email], desk.clock))
    page.get_by_role("button", name="Sign in").click()
    desk.clock.advance(timedelta(seconds=31))  # the next sign-in's code is a step of its own


def test_a_reviewer_decides_from_the_clinical_queue_and_the_provider_reads_it(
    desk: Desk, new_page: PageFactory
) -> None:
    numbers = desk.requests
    for viewport in WIDTHS:
        page = new_page(viewport, base_url=desk.server.url)
        _sign_in(page, desk, REVIEWER)
        expect(page.get_by_role("heading", name="Queues of pended claims")).to_be_visible()
        clinical = page.locator("section[aria-labelledby=clinical]")
        expect(clinical).to_contain_text("4 requests waiting for a clinical reviewer")
        expect(clinical).to_contain_text("1 due soon")
        page.get_by_role("link", name="The clinical queue").click()
        expect(page.get_by_role("heading", name="Clinical queue")).to_be_visible()
        rows = page.locator("table.clinical tbody tr")
        expect(rows).to_have_count(4)
        # the soonest due first: the old standard request (due soon), then the expedited one
        # ahead of the standard request sent before it, then the rest
        order = [numbers["bariatric"], numbers["knee"], numbers["standard"], numbers["maumee"]]
        for n, number in enumerate(order):
            expect(rows.nth(n).locator("th")).to_contain_text(number)
        expect(rows.nth(0)).to_contain_text("Due soon")
        expect(rows.nth(0)).to_contain_text("in 11 hours")
        expect(rows.nth(1)).to_contain_text("expedited")
        expect(rows.nth(1)).to_contain_text("in 72 hours")
        expect(rows.nth(1)).to_contain_text("73721, 2 units")
        expect(rows.nth(1)).to_contain_text("ending in 0100")
        expect(rows.nth(1)).to_contain_text("BUCKEYE FAMILY MEDICINE")
        expect(rows.nth(2)).to_contain_text("standard")
        expect(page.locator("table.clinical")).not_to_contain_text("PG00000100")  # masked
        assert_accessible(page, "clinical queue")
        screenshot(page, "examiner-clinical-queue")

        rows.nth(0).get_by_role("link").click()
        expect(
            page.get_by_role("heading", name=f"Prior authorization request {numbers['bariatric']}")
        ).to_be_visible()
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text("LIAM HILL, member id PG00000100")
        expect(facts).to_contain_text("rule PA-BARIATRIC (service 1)")
        expect(facts).to_contain_text("Due soon")
        expect(page.locator("#events ~ div table")).to_contain_text("pended to the clinical queue")
        expect(page.get_by_role("group", name="Extend the clock")).to_be_visible()
        assert_accessible(page, "clinical request")
        screenshot(page, "examiner-clinical-request")

    # a denial without a reason is refused on the page, and nothing is decided
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("needs a reason a person can read")
    assert pa.inquire(desk.engine, None, number=numbers["bariatric"]).state == "pended"
    assert_accessible(page, "clinical request refused")
    screenshot(page, "examiner-clinical-refusal")
    # with one, denied: the page says so and shows the request decided, with no forms left
    page.locator("#deny-why").fill(DENIAL)
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Decided: denied")
    expect(page.locator("dl.facts")).to_contain_text(DENIAL)
    expect(page.get_by_role("group", name="Deny")).to_have_count(0)
    # denied again (the same form posted twice): refused with the request as it is now
    again = page.request.post(
        f"{desk.server.url}/examiner/authorizations/{numbers['bariatric']}/actions",
        form={"csrf": _csrf(page), "kind": "deny", "why": "again"},
    )
    assert again.status == 409 and "not pended" in again.text()

    # the expedited knee MRI: one knee of the two asked for
    page.goto(f"/examiner/authorizations/{numbers['knee']}")
    expect(page.get_by_role("group", name="Extend the clock")).to_have_count(0)  # expedited
    page.locator("#modify-units-1").fill("1")
    page.locator("#modify-why").fill(MODIFICATION)
    page.get_by_role("button", name="Approve these units").click()
    expect(page.get_by_role("status")).to_contain_text("Decided: approved with changes")
    expect(page.locator("#services ~ div table")).to_contain_text("A6")

    # the store holds both, decided by the reviewer's account
    reviewer = desk.key_id(REVIEWER)
    denied = pa.inquire(desk.engine, None, number=numbers["bariatric"])
    assert (denied.state, denied.action, denied.reason, denied.decided_by) == (
        "denied",
        "A3",
        DENIAL,
        reviewer,
    )
    knee = pa.inquire(desk.engine, None, number=numbers["knee"])
    assert (knee.state, knee.action, knee.decided_by) == ("approved", "A6", reviewer)
    assert (knee.services[0].requested, knee.services[0].approved) == (Decimal(2), Decimal(1))
    # what the pages showed is audited under the account's key
    r = t.phi_reads_table.c
    with desk.engine.connect() as conn:
        read = conn.execute(
            select(r.route, r.record_id).where(
                r.key_id == reviewer, r.record_type == "authorization"
            )
        ).all()
    assert ("/examiner/authorizations", numbers["maumee"]) in {tuple(x) for x in read}
    assert ("/examiner/authorizations/{number}", numbers["knee"]) in {tuple(x) for x in read}

    # the provider's office reads both decisions
    for viewport in WIDTHS:
        office = new_page(viewport, base_url=desk.server.url)
        _sign_in(office, desk, BUCKEYE_OFFICE)
        office.get_by_role("link", name="Authorization requests").click()
        expect(office.get_by_role("heading", name="Authorization requests")).to_be_visible()
        table = office.locator("table")
        expect(table).not_to_contain_text(numbers["maumee"])
        knee_row = office.locator("tbody tr", has_text=numbers["knee"])
        expect(knee_row).to_contain_text("Approved with changes")
        expect(knee_row).to_contain_text("73721: 1 of 2 units approved")
        expect(knee_row).to_contain_text(MODIFICATION)
        expect(knee_row).to_contain_text("Nov 16, 2026")
        denied_row = office.locator("tbody tr", has_text=numbers["bariatric"])
        expect(denied_row).to_contain_text("Denied")
        expect(denied_row).to_contain_text(DENIAL)
        waiting_row = office.locator("tbody tr", has_text=numbers["standard"])
        expect(waiting_row).to_contain_text("Waiting for a clinical reviewer")
        # the note that sent it to a reviewer is the payer's, not the provider's
        expect(waiting_row).not_to_contain_text("no decision rule")
        assert_accessible(office, "provider authorization requests")
        screenshot(office, "provider-authorizations")

        office.get_by_role("link", name=numbers["bariatric"]).click()
        expect(
            office.get_by_role("heading", name=f"Authorization request {numbers['bariatric']}")
        ).to_be_visible()
        expect(office.get_by_role("heading", name="Why it was denied")).to_be_visible()
        expect(office.locator("p.problem")).to_contain_text(DENIAL)
        expect(office.locator("dl.facts")).to_contain_text("Liam Hill (PG00000100)")
        assert_accessible(office, "provider authorization request")
        screenshot(office, "provider-authorization")

    office.goto(f"/provider/authorizations/{numbers['knee']}")
    expect(office.locator("dl.facts")).to_contain_text("Approved with changes")
    expect(office.locator("dl.facts")).to_contain_text("Nov 16, 2026")
    expect(office.get_by_role("table")).to_contain_text("Approved with changes")

    # another provider's request by URL: exactly the page of a missing one
    theirs = office.goto(f"/provider/authorizations/{numbers['maumee']}")
    assert theirs is not None and theirs.status == 404
    shown = office.locator("main").inner_text()
    missing = office.goto("/provider/authorizations/PA20269999999")
    assert missing is not None and missing.status == 404
    assert office.locator("main").inner_text() == shown
    expect(office.get_by_role("heading", name="Request not found")).to_be_visible()
    assert_accessible(office, "provider authorization not found")
    # and the clinical queue is not a provider's page
    refused = office.goto("/examiner/authorizations")
    assert refused is not None and refused.status == 403


def test_a_reviewer_extends_a_standard_request_s_clock_and_cancels_another(
    desk: Desk, new_page: PageFactory
) -> None:
    numbers = desk.requests
    page = new_page(base_url=desk.server.url)
    _sign_in(page, desk, REVIEWER)
    page.goto(f"/examiner/authorizations/{numbers['standard']}")
    page.get_by_role("button", name="Extend").click()
    expect(page.get_by_role("status")).to_contain_text("The clock is extended")
    expect(page.get_by_role("group", name="Extend the clock")).to_have_count(0)  # once
    extended = pa.inquire(desk.engine, None, number=numbers["standard"])
    assert extended.extended_at is not None
    assert extended.due_at - extended.received_at == timedelta(days=21)  # 7 days, then 14
    # a forged second extension is refused in words, not a 500
    again = page.request.post(
        f"{desk.server.url}/examiner/authorizations/{numbers['standard']}/actions",
        form={"csrf": _csrf(page), "kind": "extend"},
    )
    assert again.status == 409 and "only a standard request is extended, and once" in again.text()
    # a post without the form's token changes nothing
    forged = page.request.post(
        f"{desk.server.url}/examiner/authorizations/{numbers['maumee']}/actions",
        form={"kind": "cancel"},
    )
    assert forged.status == 403
    assert pa.inquire(desk.engine, None, number=numbers["maumee"]).state == "pended"
    page.goto(f"/examiner/authorizations/{numbers['maumee']}")
    page.get_by_role("button", name="Cancel the request").click()
    expect(page.get_by_role("status")).to_contain_text("The request is cancelled")
    assert pa.inquire(desk.engine, None, number=numbers["maumee"]).state == "cancelled"
    # units that are no number are said on the page, what was typed kept
    page.goto(f"/examiner/authorizations/{numbers['standard']}")
    page.locator("#modify-units-1").fill("one")
    page.locator("#modify-why").fill("one")
    page.get_by_role("button", name="Approve these units").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a number of units")
    expect(page.locator("#modify-units-1")).to_have_value("one")
    # a number that is no request's, and one that is no number at all: the same 404
    for path in ("PA20269999999", "..%2F..%2Fetc"):
        response = page.goto(f"/examiner/authorizations/{path}")
        assert response is not None and response.status == 404


def _csrf(page: Page) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))
