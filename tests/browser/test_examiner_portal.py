"""The portal in Chromium, as examiners and supervisors use it: sign-in with password and TOTP,
the queues, a queue's claims, a pended claim with its reasons, rule hits, decision, events and
member history, released to a decision (the store then holds it adjudicated and paid); a price
above the plan's four-eyes amount made by one supervisor and approved by another (the requester
has no approve button for their own, and a forged post of it is refused); bad form input, a
stale version and a post without its CSRF token answered with clear pages; member and provider
accounts kept out; a claim that never pended the same 404 as a missing one. Every page passes
axe-core, and the main pages are photographed at phone and desktop widths.

The claims are those of ``tests/integration/test_api_examination.py``: LIAM HILL (PG00000100,
Gold PPO, whose plan asks a second examiner above 5,000.00 a line) billed by BUCKEYE FAMILY
MEDICINE (NPI 2781759230)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.services.intake import ingest_interchange, submit
from claims_engine.services.reference import Runtime
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.x12.writer837 import write_837
from tests.browser.conftest import PageFactory
from tests.browser.harness import (
    LiveServer,
    TestClock,
    assert_accessible,
    environment_for,
    screenshot,
)
from tests.integration.pipeline_support import prepared_store
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837

pytestmark = [pytest.mark.integration, pytest.mark.browser]

Serve = Callable[[FastAPI], LiveServer]
PASSWORD = "a long and private passphrase"
BUCKEYE_NPI = "2781759230"
OFFICE_VISIT = "LX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*20261015~\n"
UNLISTED = "LX*2~\nSV1*HC:17999*{charge}*UN*1***1~\nDTP*472*D8*20261015~\n"
HIGH_DOLLAR = "LX*1~\nSV1*HC:99214*25100*UN*1***1~\nDTP*472*D8*20261015~\n"
ALICE = "alice.examiner@example.org"
SAM = "sam.supervisor@example.org"
SUE = "sue.supervisor@example.org"
MEMBER = "liam.hill@example.org"
PROVIDER = "billing@buckeye.example.org"


@dataclass
class Desk:
    """A store with pended claims, an enrolled account of each kind, the app served over it."""

    engine: Engine
    runtime: Runtime
    clock: TestClock
    server: LiveServer
    secrets: dict[str, str]  # email: TOTP secret
    claims: dict[str, int]  # name: claim id

    def key_id(self, email: str) -> str:
        return str(
            next(u["key_id"] for u in accounts.list_users(self.engine) if u["email"] == email)
        )

    def state(self, claim_id: int) -> tuple[str, str | None, Decimal | None]:
        """The claim's state, and its decision's outcome and paid amount, as stored."""
        c, a = t.claims_table.c, t.adjudications_table.c
        with self.engine.connect() as conn:
            state = conn.execute(select(c.state).where(c.id == claim_id)).scalar_one()
            decided = conn.execute(
                select(a.outcome, a.paid).where(a.claim_id == claim_id, a.kind == "decision")
            ).first()
        if decided is None:
            return str(state), None, None
        return str(state), str(decided.outcome), decided.paid


def _claim(engine: Engine, runtime: Runtime, clock: TestClock, name: str, n: int, body: str) -> int:
    total, lines = body.split("|", 1)
    out = io.StringIO()
    text = LIAM_HILL + f"CLM*{name}*{total}***11:B:1*Y*A*Y*Y~\n" + "HI*ABK:L989~\n" + lines
    write_837(
        [claim_from_837(text)],
        out,
        interchange_control=n,
        created=clock.now(),
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    sub = submit(engine, out.getvalue().encode(), f"{name}.837", clock.now())
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, clock.now()).batches:
        adjudicate_claims(engine, batch, runtime, clock.now())
    c = t.claims_table.c
    with engine.connect() as conn:
        return int(
            conn.execute(select(c.id).where(c.interchange_id == sub.interchange_id)).scalar_one()
        )


def _code(secret: str, clock: TestClock) -> str:
    return totp(secret_from_base32(secret), int(clock.now().replace(tzinfo=UTC).timestamp()))


def _enrolled(
    engine: Engine,
    runtime: Runtime,
    clock: TestClock,
    role: Role,
    email: str,
    *,
    member_id: str | None = None,
    npis: tuple[str, ...] = (),
) -> str:
    """An account set up through the service (password and app): its TOTP secret."""
    invitation = accounts.create_user(
        engine,
        role,
        email=email,
        now=clock.now(),
        member_id=member_id,
        npis=npis,
        reference=runtime.reference,
    )
    session = accounts.accept_invitation(
        engine, invitation.token, PASSWORD, clock.now(), runtime.reference
    )
    secret = accounts.totp_enrollment(engine, session, clock.now()).secret
    accounts.confirm_totp(engine, session, _code(secret, clock), clock.now(), runtime.reference)
    clock.advance(timedelta(seconds=31))
    return secret


@pytest.fixture
def desk(migrated_postgres: Engine, clock: TestClock, live_server: Serve) -> Desk:
    engine = migrated_postgres
    runtime = prepared_store(engine)
    claims = {
        "high": _claim(engine, runtime, clock, "WEB-HIGH", 1, "25100|" + HIGH_DOLLAR),
        "four-eyes": _claim(
            engine,
            runtime,
            clock,
            "WEB-4EYES",
            2,
            "8140|" + OFFICE_VISIT + UNLISTED.format(charge="8000"),
        ),
        "unlisted": _claim(
            engine,
            runtime,
            clock,
            "WEB-UNL",
            3,
            "940|" + OFFICE_VISIT + UNLISTED.format(charge="800"),
        ),
        "clean": _claim(engine, runtime, clock, "WEB-CLEAN", 4, "140|" + OFFICE_VISIT),
    }
    secrets = {
        ALICE: _enrolled(engine, runtime, clock, Role.EXAMINER, ALICE),
        SAM: _enrolled(engine, runtime, clock, Role.SUPERVISOR, SAM),
        SUE: _enrolled(engine, runtime, clock, Role.SUPERVISOR, SUE),
        MEMBER: _enrolled(engine, runtime, clock, Role.MEMBER, MEMBER, member_id="PG00000100"),
        PROVIDER: _enrolled(engine, runtime, clock, Role.PROVIDER, PROVIDER, npis=(BUCKEYE_NPI,)),
    }
    app = create_app(ApiConfig(environment_for(engine), now=clock.now, inprocess_workers=False))
    return Desk(engine, runtime, clock, live_server(app), secrets, claims)


def _sign_in(page: Page, desk: Desk, email: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label(re.compile("6-digit code")).fill(_code(desk.secrets[email], desk.clock))
    page.get_by_role("button", name="Sign in").click()
    desk.clock.advance(timedelta(seconds=31))  # the next sign-in's code is a step of its own


def _csrf(page: Page) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def _version(page: Page) -> str:
    return str(page.locator("input[name=version]").first.get_attribute("value"))


def test_an_examiner_opens_a_queue_and_releases_a_pended_claim(
    desk: Desk, new_page: PageFactory
) -> None:
    high = desk.claims["high"]
    for viewport in ("phone", "desktop"):
        page = new_page(viewport, base_url=desk.server.url)
        _sign_in(page, desk, ALICE)
        # an examiner's start page: the queues
        expect(page.get_by_role("heading", name="Queues of pended claims")).to_be_visible()
        assert page.url.endswith("/examiner/queues")
        table = page.get_by_role("table")
        expect(table).to_contain_text("high-dollar")
        expect(table).to_contain_text("pricing")
        assert_accessible(page, "examiner queues")
        screenshot(page, "examiner-queues")

        page.get_by_role("link", name="high-dollar").click()
        expect(page.get_by_role("heading", name="Queue high-dollar")).to_be_visible()
        expect(page.get_by_role("table")).to_contain_text("HIGH-DOLLAR")
        assert_accessible(page, "examiner queue")
        screenshot(page, "examiner-queue")

        page.get_by_role("link", name=f"Claim {high}").click()
        expect(page.get_by_role("heading", name=f"Claim {high}")).to_be_visible()
        expect(page.locator("#reasons ~ div table")).to_contain_text("HIGH-DOLLAR")
        expect(page.get_by_role("heading", name="The member's other claims")).to_be_visible()
        expect(page.get_by_role("group", name="Release")).to_be_visible()
        expect(page.get_by_role("group", name="Reassign")).to_have_count(0)  # a supervisor's
        assert_accessible(page, "examiner claim")
        screenshot(page, "examiner-claim")

    # the claim is released from the desktop page (the phone's version is the same)
    page.locator("#release-why").fill("charge checked against the office notes")
    page.get_by_role("button", name="Release", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("paid 106.20")
    expect(page.locator("dl.facts")).to_contain_text("adjudicated")
    expect(page.get_by_role("group", name="Release")).to_have_count(0)  # out of the queue
    expect(page.locator("#events ~ div table")).to_contain_text("charge checked")
    assert_accessible(page, "examiner claim released")
    # the store holds it decided: 99214 allowed 131.20, copay 25.00
    assert desk.state(high) == ("adjudicated", "paid", Decimal("106.20"))
    # what the pages showed is audited under the account's key
    r = t.phi_reads_table.c
    with desk.engine.connect() as conn:
        read = conn.execute(
            select(r.key_id, r.record_id).where(r.route == "/examiner/claims/{claim_id}")
        ).all()
    assert (desk.key_id(ALICE), str(high)) in {(k, i) for k, i in read}


def test_bad_input_a_stale_version_and_a_forged_post_are_refused_on_the_page(
    desk: Desk, new_page: PageFactory
) -> None:
    claim = desk.claims["unlisted"]
    page = new_page(base_url=desk.server.url)
    _sign_in(page, desk, ALICE)
    page.goto(f"/examiner/claims/{claim}")
    expect(page.get_by_role("heading", name=f"Claim {claim}")).to_be_visible()
    url = f"{desk.server.url}/examiner/claims/{claim}/actions"

    # an unknown CARC: said on the page, what was typed kept
    page.locator("#deny-carc").fill("XYZ")
    page.locator("#deny-why").fill("not covered")
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("CARC 'XYZ' is not a code of the CARC list")
    expect(page.locator("#deny-carc")).to_have_value("XYZ")
    assert_accessible(page, "examiner refusal")
    screenshot(page, "examiner-refusal")
    # an amount that is not money
    page.locator("#price-allowed").fill("12.345")
    page.locator("#price-why").fill("from the records")
    page.get_by_role("button", name="Price", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("is not an amount of money")
    # a missing reason (the browser asks for one first: posted by hand)
    version = _version(page)
    missing = page.request.post(
        url, form={"csrf": _csrf(page), "kind": "note", "version": version, "why": " "}
    )
    assert missing.status == 400 and "say why" in missing.text()
    nonsense = page.request.post(
        url, form={"csrf": _csrf(page), "kind": "explode", "version": version, "why": "x"}
    )
    assert nonsense.status == 400 and "choose one of the actions" in nonsense.text()
    # a CARC that needs a remark code
    page.locator("#deny-carc").fill("96")
    page.locator("#deny-rarcs").fill("")
    page.locator("#deny-why").fill("cosmetic")
    page.get_by_role("button", name="Deny", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("needs at least one remark code")

    # a form of an older version of the claim: 409, and the page as the claim is now
    page.get_by_role("button", name="Take the claim").click()
    expect(page.get_by_role("status")).to_contain_text("held by")
    stale = page.request.post(
        url, form={"csrf": _csrf(page), "kind": "note", "version": version, "why": "late"}
    )
    assert stale.status == 409 and "changed since" in stale.text()

    # a request for information, its answer and a note, each one form
    page.goto(f"/examiner/claims/{claim}")
    page.locator("#request-info-asked").fill("Send the operative report for line 2")
    page.locator("#request-info-why").fill("no operative note")
    page.get_by_role("button", name="Request information").click()
    expect(page.get_by_role("status")).to_contain_text("waits for its provider")
    page.locator("#info-received-why").fill("report received by fax")
    page.get_by_role("button", name="Information received").click()
    expect(page.get_by_role("status")).to_contain_text("has its information")
    page.locator("#note-why").fill("priced next week")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_role("status")).to_contain_text("Note added")
    events = page.locator("#events ~ div table")
    for kind in ("take", "request-info", "info-received", "note"):
        expect(events).to_contain_text(kind)

    # without the CSRF token, or with another: 403, nothing done
    before = desk.state(claim)
    for form in ({}, {"csrf": "not-the-token"}):
        forged = page.request.post(
            url, form={**form, "kind": "release", "version": _version(page), "why": "forged"}
        )
        assert forged.status == 403 and "expired" in forged.text()
    assert desk.state(claim) == before and before[:2] == ("pended", "pended")

    # a claim that never pended, a missing one and a made-up id: the same 404 page
    texts = []
    for path in (
        f"/examiner/claims/{desk.claims['clean']}",
        "/examiner/claims/987654321",
        "/examiner/claims/abc",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
        texts.append(page.locator("main").inner_text())
    assert texts[0] == texts[1] == texts[2]
    assert_accessible(page, "examiner claim not found")
    forged = page.request.post(
        f"{desk.server.url}/examiner/claims/{desk.claims['clean']}/actions",
        form={"csrf": _csrf(page), "kind": "release", "version": "1", "why": "x"},
    )
    assert forged.status == 404
    for path, status in (
        ("/examiner/queues/no-such-queue", 404),
        ("/examiner/queues/Bad..Name", 404),
        ("/examiner/queues/pricing?after=nonsense", 400),
    ):
        response = page.goto(path)
        assert response is not None and response.status == status, path


def test_a_supervisors_override_above_the_plans_amount_is_approved_by_another(
    desk: Desk, new_page: PageFactory
) -> None:
    claim = desk.claims["four-eyes"]
    sam = new_page(base_url=desk.server.url)
    _sign_in(sam, desk, SAM)
    # a supervisor hands a claim to an examiner, chosen by their email
    other = desk.claims["unlisted"]
    sam.goto(f"/examiner/claims/{other}")
    sam.locator("#reassign-to").select_option(label=f"{ALICE} (examiner)")
    sam.locator("#reassign-why").fill("Alice knows this provider")
    sam.get_by_role("button", name="Reassign", exact=True).click()
    expect(sam.get_by_role("status")).to_contain_text("reassigned")
    expect(sam.locator("dl.facts")).to_contain_text(f"Held by{ALICE}")
    assert_accessible(sam, "examiner claim, reassigned")

    sam.goto(f"/examiner/claims/{claim}")
    expect(sam.get_by_role("group", name="Reassign")).to_be_visible()  # a supervisor's
    sam.locator("#price-line").select_option("2")
    sam.locator("#price-allowed").fill("6,000")
    sam.locator("#price-why").fill("priced from the operative report")
    sam.get_by_role("button", name="Price", exact=True).click()
    expect(sam.get_by_role("status")).to_contain_text("Waiting for a second examiner")
    assert desk.state(claim)[0] == "pended"

    # the requester's own: no approve button, and a forged approval is refused
    sam.get_by_role("link", name="Waiting for approval").click()
    expect(sam.get_by_role("heading", name="Waiting for approval")).to_be_visible()
    expect(sam.locator("ul.approvals")).to_contain_text("This one is yours")
    expect(sam.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
    assert_accessible(sam, "approvals, own")
    action = int(re.findall(r"Action (\d+)", sam.locator("ul.approvals h2").first.inner_text())[0])
    url = f"{desk.server.url}/examiner/approvals/{action}"
    forged = sam.request.post(f"{url}/approve", form={"csrf": _csrf(sam)})
    assert forged.status == 403 and "a second examiner approves it" in forged.text()
    forged = sam.request.post(f"{url}/refuse", form={"csrf": _csrf(sam), "why": "changed mind"})
    assert forged.status == 403
    assert desk.state(claim)[0] == "pended"

    # another supervisor approves it, in the browser: it takes effect now
    for viewport in ("phone", "desktop"):
        sue = new_page(viewport, base_url=desk.server.url)
        _sign_in(sue, desk, SUE)
        sue.goto("/examiner/approvals")
        expect(sue.get_by_role("button", name=f"Approve action {action}")).to_be_visible()
        assert_accessible(sue, "approvals")
        screenshot(sue, "examiner-approvals")
    no_token = sue.request.post(f"{url}/approve", form={})
    assert no_token.status == 403 and desk.state(claim)[0] == "pended"
    sue.get_by_role("button", name=f"Approve action {action}").click()
    expect(sue.get_by_role("status")).to_contain_text("Approved")
    expect(sue.get_by_role("status")).to_contain_text("paid 4463.20")
    assert_accessible(sue, "approvals, approved")
    # line 2: allowed 6,000.00, deductible 500.00, 20% of 5,500.00; with line 1, 4,463.20
    assert desk.state(claim) == ("adjudicated", "paid", Decimal("4463.20"))
    a = t.examiner_actions_table.c
    with desk.engine.connect() as conn:
        row = conn.execute(select(a.actor, a.state, a.approved_by).where(a.id == action)).one()
    assert tuple(row) == (desk.key_id(SAM), "approved", desk.key_id(SUE))
    # approved once: a second approval is refused with the page's words
    again = sue.request.post(f"{url}/approve", form={"csrf": _csrf(sue)})
    assert again.status == 409 and "not awaiting approval" in again.text()
    sue.goto(f"/examiner/claims/{claim}")
    expect(sue.locator("#events ~ div table")).to_contain_text("approved")


def test_members_and_providers_are_kept_out_of_the_examiners_pages(
    desk: Desk, new_page: PageFactory
) -> None:
    claim = desk.claims["unlisted"]
    for email in (MEMBER, PROVIDER):
        page = new_page(base_url=desk.server.url)
        _sign_in(page, desk, email)
        for path in (
            "/examiner/queues",
            "/examiner/queues/pricing",
            f"/examiner/claims/{claim}",
            "/examiner/approvals",
        ):
            response = page.goto(path)
            assert response is not None and response.status == 403, (email, path)
            expect(page.get_by_role("heading", name="This page is for examiners")).to_be_visible()
        assert_accessible(page, "examiner pages refused")
        token = str(page.context.cookies()[0]["value"])  # any value: refused before it counts
        forged = page.request.post(
            f"{desk.server.url}/examiner/claims/{claim}/actions",
            form={"csrf": token, "kind": "release", "version": "1", "why": "x"},
        )
        assert forged.status == 403
    assert desk.state(claim)[0] == "pended"
    # not signed in: to the sign-in page
    page = new_page(base_url=desk.server.url)
    page.goto("/examiner/queues")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
