"""The portal in Chromium, as a provider's office uses it: sign-in with password and TOTP; a
claim found by its CLM01 with its state and decision; its 835 downloaded (the X12 that paid
it); an 837 uploaded through the API's checks and answered, its 999 downloaded once the intake
has read it; a duplicate upload answered as the API answers it; another provider's claim and
835 out of reach by URL; search input that cannot be used told in words. Every page passes
axe-core, and the main pages are photographed at phone and desktop widths."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect
from sqlalchemy import Engine, select

from adapters.api.app import ApiConfig, create_app
from adapters.web.portal import money
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.services import accounts
from claims_engine.services.access import Role
from claims_engine.services.intake import ingest_interchange, preflight, submit
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
    screenshot,
)
from tests.integration.pipeline_support import generated_837, prepared_store

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PASSWORD = "a long and private office passphrase"
EMAIL = "billing@clinic.example.org"
SENDER = "SUBMITTER01"  # ISA06 / GS02 of the generated files


@dataclass(frozen=True)
class Claim:
    id: int
    clm01: str
    payer_claim_number: str
    billing_npi: str
    paid: Decimal  # CLP04 of the 835 that paid it


@dataclass
class Office:
    engine: Engine
    runtime: Runtime
    secret: str  # the account's TOTP secret
    npis: frozenset[str]
    upload: Path  # an 837 the office has not sent yet, under its sender id and NPIs
    mine: Claim  # a paid claim billed under the office's NPI
    theirs: Claim  # a claim billed under another provider's NPI
    theirs_remittance: int
    paid_npis: frozenset[str]  # every payee of an 835


def _code(secret: str, clock: TestClock) -> str:
    return totp(secret_from_base32(secret), int(clock.now().replace(tzinfo=UTC).timestamp()))


def _office(engine: Engine, clock: TestClock, tmp_path: Path) -> Office:
    """60 generated claims taken through adjudication and a payment cycle; an office's account
    holding the NPI billing most of them and those of a small file it will upload."""
    now = clock.now()
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "a.837", claims=60, seed=21)
    sub = submit(engine, raw, "a.837", now)
    for batch in ingest_interchange(engine, sub.interchange_id, runtime, now).batches:
        adjudicate_claims(engine, batch, runtime, now)
    paid: dict[str, Decimal] = {}
    for remit in run_payment_cycle(engine, runtime, now, tmp_path / "835"):
        assert remit.path is not None
        text = remit.path.read_text()
        sep, term = text[3], text[105]
        for raw_segment in text.split(term):
            seg = raw_segment.strip().split(sep)
            if seg[0] == "CLP" and seg[2] != "22":
                paid[seg[7]] = Decimal(seg[4])
    c = t.claims_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.id, c.identity, c.payer_claim_number, c.billing_npi).order_by(c.id)
        ).all()
        remittances = dict(
            conn.execute(select(t.remittances_table.c.payee_npi, t.remittances_table.c.id)).all()
        )
    claims = [
        Claim(r.id, identity_of(r).claim_id, r.payer_claim_number, r.billing_npi, paid[n])
        for r in rows
        if (n := r.payer_claim_number) in paid
    ]
    busiest = max(
        {x.billing_npi for x in claims},
        key=lambda n: (sum(1 for x in claims if x.billing_npi == n and x.paid > 0), n),
    )
    upload = tmp_path / "upload.837"
    upload_raw = generated_837(upload, claims=3, seed=22, control=770001)
    npis = frozenset({busiest, *preflight(upload_raw, now).billing_npis})
    mine = next(x for x in claims if x.billing_npi == busiest and x.paid > 0)
    theirs = next(x for x in claims if x.billing_npi not in npis)
    invitation = accounts.create_user(
        engine,
        Role.PROVIDER,
        email=EMAIL,
        now=now,
        npis=sorted(npis),
        senders=[SENDER],
        reference=runtime.reference,
    )
    session = accounts.accept_invitation(engine, invitation.token, PASSWORD, now, runtime.reference)
    secret = accounts.totp_enrollment(engine, session, now).secret
    accounts.confirm_totp(engine, session, _code(secret, clock), now, runtime.reference)
    clock.advance(timedelta(seconds=31))  # the sign-in's code is a time step of its own
    return Office(
        engine,
        runtime,
        secret,
        npis,
        upload,
        mine,
        theirs,
        remittances[theirs.billing_npi],
        frozenset(remittances),
    )


def _app(engine: Engine, clock: TestClock) -> FastAPI:
    return create_app(ApiConfig(environment_for(engine), now=clock.now, inprocess_workers=False))


def _sign_in(page: Page, secret: str, clock: TestClock) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label(re.compile("6-digit code")).fill(_code(secret, clock))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Find a claim")).to_be_visible()
    assert page.url.endswith("/provider/claims")
    clock.advance(timedelta(seconds=31))  # one code per time step


def test_an_office_finds_a_claim_downloads_its_835_uploads_an_837_and_reads_its_999(
    migrated_postgres: Engine,
    clock: TestClock,
    live_server: Callable[[FastAPI], LiveServer],
    new_page: PageFactory,
    tmp_path: Path,
) -> None:
    office = _office(migrated_postgres, clock, tmp_path)
    server = live_server(_app(migrated_postgres, clock))
    pages = {v: new_page(v, base_url=server.url) for v in ("desktop", "phone")}
    for page in pages.values():
        _sign_in(page, office.secret, clock)
        assert_accessible(page, "provider claims")
        screenshot(page, "provider-claims")
    page = pages["desktop"]

    # a claim by its CLM01: its state and its decision
    mine = office.mine
    page.get_by_label("Claim number on your ledger (CLM01)").fill(mine.clm01)
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="1 claim found")).to_be_visible()
    results = page.locator("table.found")
    expect(results).to_contain_text(mine.payer_claim_number)
    expect(results).to_contain_text("Paid")
    for viewport, shown in pages.items():
        if viewport != "desktop":
            shown.goto(page.url)
        assert_accessible(shown, "provider search results")
        screenshot(shown, "provider-search-results")
    page.get_by_role("link", name=mine.clm01).click()
    expect(page.get_by_role("heading", name=f"Claim {mine.clm01}")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("in an 835")
    expect(page.locator("dl.totals")).to_contain_text(f"Paid by the plan{money(mine.paid)}")
    assert page.locator("table.services tbody tr").count() >= 1
    for viewport, shown in pages.items():
        if viewport != "desktop":
            shown.goto(page.url)
        assert_accessible(shown, "provider claim")
        screenshot(shown, "provider-claim")

    # the 835 that paid it, downloaded
    page.get_by_role("link", name="835 remittances").click()
    expect(page.get_by_role("heading", name="835 remittances")).to_be_visible()
    assert_accessible(page, "provider remittances")
    screenshot(page, "provider-remittances")
    pages["phone"].goto("/provider/remittances")
    assert_accessible(pages["phone"], "provider remittances")
    screenshot(pages["phone"], "provider-remittances")
    rows = page.locator("table.remittances tbody tr")
    assert rows.count() == len(office.npis & office.paid_npis)  # the office's NPIs' only
    paying = rows.filter(has_text=mine.billing_npi).get_by_role("link")
    expect(paying).to_have_count(1)
    with page.expect_download() as info:
        paying.click()
    download = info.value
    assert re.fullmatch(r"835-[0-9]{10}-[A-Za-z0-9_-]+\.x12", download.suggested_filename)
    text = Path(download.path()).read_text()
    assert text.startswith("ISA") and "ST*835" in text
    assert f"CLP*{mine.clm01}*" in text and mine.payer_claim_number in text

    # an 837 uploaded: accepted through the API's checks
    page.get_by_role("link", name="Files sent").click()
    expect(page.get_by_role("heading", name="Files sent")).to_be_visible()
    expect(page.get_by_text("No file sent yet.")).to_be_visible()
    assert_accessible(page, "provider files")
    page.get_by_label("837 file (X12)").set_input_files(str(office.upload))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="File accepted")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("3 claims received")
    assert_accessible(page, "provider upload accepted")
    screenshot(page, "provider-upload-accepted")
    with migrated_postgres.connect() as conn:
        i = t.interchanges_table.c
        sent = conn.execute(select(i.id, i.submitted_by, i.file_name)).all()
    uploaded = [r for r in sent if r.submitted_by is not None]
    assert len(uploaded) == 1 and uploaded[0].file_name == "portal-upload"
    # no worker runs in the test: the intake reads it here, as a worker would
    ingest_interchange(migrated_postgres, uploaded[0].id, office.runtime, clock.now())
    page.get_by_role("link", name="the file").click()
    expect(page.get_by_role("heading", name=re.compile("^File "))).to_be_visible()
    ack_link = page.get_by_role("link", name=re.compile("^999 "))
    expect(ack_link).to_be_visible()
    assert_accessible(page, "provider file")
    with page.expect_download() as info:
        ack_link.click()
    ack = Path(info.value.path()).read_text()
    assert ack.startswith("ISA") and "ST*999" in ack
    assert info.value.suggested_filename.startswith("999-")
    for shown in pages.values():
        shown.goto("/provider/files")
        expect(shown.locator("table.files")).to_contain_text("999")
        assert_accessible(shown, "provider files")
        screenshot(shown, "provider-files")

    # the same file again: a duplicate, answered with the API's words and its TA1
    page.get_by_label("837 file (X12)").set_input_files(str(office.upload))
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("heading", name="Already received")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("was received before")
    assert_accessible(page, "provider upload duplicate")


def test_another_providers_claim_and_835_are_out_of_reach_and_bad_input_is_told(
    migrated_postgres: Engine,
    clock: TestClock,
    live_server: Callable[[FastAPI], LiveServer],
    new_page: PageFactory,
    tmp_path: Path,
) -> None:
    office = _office(migrated_postgres, clock, tmp_path)
    server = live_server(_app(migrated_postgres, clock))
    page = new_page(base_url=server.url)
    _sign_in(page, office.secret, clock)

    # by editing the URL: the same page as a claim that does not exist
    theirs = page.goto(f"/provider/claims/{office.theirs.id}")
    assert theirs is not None and theirs.status == 404
    theirs_text = page.locator("main").inner_text()
    assert_accessible(page, "provider claim not found")
    nothing = page.goto("/provider/claims/987654321")
    assert nothing is not None and nothing.status == 404
    assert theirs_text == page.locator("main").inner_text()
    for path in (
        "/provider/claims/abc",
        "/provider/claims/-1",
        "/provider/claims/1%2F..%2F2",
        f"/provider/remittances/{office.theirs_remittance}/835",
        "/provider/remittances/987654321/835",
        "/provider/files/1",
        "/provider/files/1/acknowledgments/1",
    ):
        response = page.goto(path)
        assert response is not None and response.status == 404, path
    # nor found by its numbers
    page.goto("/provider/claims?claim_id=" + office.theirs.clm01)
    expect(page.get_by_role("heading", name="0 claims found")).to_be_visible()
    page.goto("/provider/claims?payer_claim_number=" + office.theirs.payer_claim_number)
    expect(page.get_by_role("heading", name="0 claims found")).to_be_visible()

    # search input that cannot be used: told on the page, the form kept
    for query, words in (
        ("member_id=M1&service_date=2026-02-30", "not a date"),
        ("claim_id=" + "x" * 60, "at most 38"),
        ("member_id=M1", "both the member id and the date"),
        ("claim_id=A1&payer_claim_number=1", "one thing at a time"),
    ):
        response = page.goto(f"/provider/claims?{query}")
        assert response is not None and response.status == 400, query
        expect(page.get_by_role("alert")).to_contain_text(words)
    assert_accessible(page, "provider search problem")

    # an upload without its CSRF token changes nothing
    refused = page.request.post(
        f"{server.url}/provider/files",
        multipart={
            "file": {
                "name": "a.837",
                "mimeType": "application/edi-x12",
                "buffer": office.upload.read_bytes(),
            }
        },
    )
    assert refused.status == 403
    # with its token: an empty file, and one under a sender id not the office's, are told why
    page.goto("/provider/files")
    token = page.locator("form[enctype] input[name=csrf]").get_attribute("value")
    assert token
    foreign = office.upload.read_bytes().replace(SENDER.encode(), b"OTHERSENDER")
    for body, status, words in (
        (b"", 400, "The file is empty"),
        (foreign, 403, "not registered"),
        (b"not an X12 file at all", 400, "expected an ISA segment"),
    ):
        answered = page.request.post(
            f"{server.url}/provider/files",
            multipart={
                "csrf": token,
                "file": {"name": "x.837", "mimeType": "text/plain", "buffer": body},
            },
        )
        assert answered.status == status, answered.text()
        assert "File not accepted" in answered.text() and words in answered.text()
    with migrated_postgres.connect() as conn:
        sent = conn.execute(
            select(t.interchanges_table.c.id).where(
                t.interchanges_table.c.submitted_by.is_not(None)
            )
        ).all()
    assert sent == []
