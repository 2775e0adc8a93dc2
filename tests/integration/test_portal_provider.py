"""What the portal shows a provider's office, from a real pipeline run (an 837 taken through
the API's door, intake, adjudication, 835s): a claim found by its CLM01, its payer claim number,
or its patient and a day of service; its decision line by line in words; the 835s paying its
NPIs and the acknowledgments of its files, as X12. Another provider's claim, 835 and file are
answered as missing ones and their reads are not audited; every read shown is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from claims_engine.domain.money import ZERO
from claims_engine.domain.pend_reasons import PendCatalogue, PendReason
from claims_engine.services import portal_provider as pp
from claims_engine.services import submission
from claims_engine.services.access import Principal, Role, authenticate, create_key, reads_of
from claims_engine.services.intake import ingest_interchange, preflight, submit
from claims_engine.services.queries import EventView, identity_of
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from tests.integration.pipeline_support import NOW, generated_837, prepared_store

pytestmark = pytest.mark.integration

SENDER = "SUBMITTER01"  # ISA06 / GS02 of the generated files
OTHER_SENDER = "OTHERSENDER"  # as long: the ISA keeps its fixed width


@dataclass(frozen=True)
class StoredClaim:
    id: int
    clm01: str
    payer_claim_number: str
    member_id: str
    billing_npi: str
    service_day: date


@dataclass
class Store:
    engine: Engine
    runtime: Runtime
    office: Principal  # sent the file: holds every NPI billing in it and its sender id
    other: Principal  # another provider: one NPI of the file, no sender id
    interchange_id: int
    claims: list[StoredClaim]
    remittances: dict[str, int]  # payee NPI: remittance id


def _principal(engine: Engine, runtime: Runtime, **kwargs: object) -> Principal:
    key = create_key(engine, Role.PROVIDER, now=NOW, reference=runtime.reference, **kwargs)  # type: ignore[arg-type]
    found = authenticate(engine, key.token, NOW, runtime.reference)
    assert found is not None
    return found


def _store(engine: Engine, tmp_path: Path) -> Store:
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "a.837", claims=60, seed=21)
    npis = sorted(preflight(raw, NOW).billing_npis)
    office = _principal(engine, runtime, npis=npis, senders=[SENDER])
    sent = submission.accept_837(engine, raw, office, NOW)
    assert isinstance(sent, submission.Submitted) and sent.claims == 60
    for batch in ingest_interchange(engine, sent.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    run_payment_cycle(engine, runtime, NOW, None)
    c, ln = t.claims_table.c, t.claim_lines_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.id, c.identity, c.payer_claim_number, c.billing_npi).order_by(c.id)
        ).all()
        days = dict(
            conn.execute(
                select(ln.claim_id, ln.service_from).where(ln.service_from.is_not(None))
            ).all()
        )
        remits = conn.execute(select(t.remittances_table.c.payee_npi, t.remittances_table.c.id))
        remittances = {str(r[0]): int(r[1]) for r in remits}
    claims = [
        StoredClaim(
            r.id,
            identity_of(r).claim_id,
            r.payer_claim_number,
            identity_of(r).member_id,
            r.billing_npi,
            days[r.id],
        )
        for r in rows
        if r.id in days
    ]
    busiest = max(npis, key=lambda n: (sum(1 for x in claims if x.billing_npi == n), n))
    other = _principal(engine, runtime, npis=[busiest])
    return Store(engine, runtime, office, other, sent.interchange_id, claims, remittances)


@dataclass(frozen=True)
class OwnedFile:
    """An 837 another provider sent itself (its key's sender id), taken in: its 999 and 277CA."""

    owner: Principal
    interchange_id: int
    acknowledgments: dict[str, int]  # kind: acknowledgment id


def _another_providers_file(store: Store, tmp_path: Path) -> OwnedFile:
    raw = generated_837(tmp_path / "b.837", claims=5, seed=22).replace(
        SENDER.encode(), OTHER_SENDER.encode()
    )
    npis = sorted(preflight(raw, NOW).billing_npis)
    owner = _principal(store.engine, store.runtime, npis=npis, senders=[OTHER_SENDER])
    sent = submission.accept_837(store.engine, raw, owner, NOW)
    assert isinstance(sent, submission.Submitted)
    ingest_interchange(store.engine, sent.interchange_id, store.runtime, NOW)
    view = pp.file_view(store.engine, owner, sent.interchange_id)
    assert view is not None  # its owner's
    acks = {a.kind: a.id for a in view.acknowledgments}
    assert set(acks) == {"999", "277ca"}
    return OwnedFile(owner, sent.interchange_id, acks)


def _search(who: Principal, **fields: str) -> pp.Search:
    search = pp.parse_search(who, **fields)
    assert search is not None
    return search


def _reads(engine: Engine, kind: str, record: int, who: Principal) -> list[str]:
    return [r["route"] for r in reads_of(engine, kind, record) if r["key_id"] == who.key_id]


def test_a_claim_is_found_by_each_key_and_shown_with_its_decision(
    engine: Engine, tmp_path: Path
) -> None:
    store = _store(engine, tmp_path)
    who = store.office
    claim = store.claims[0]
    by_clm01 = _search(who, claim_id=claim.clm01)
    by_number = _search(who, payer_claim_number=claim.payer_claim_number)
    by_patient = _search(who, member_id=claim.member_id, service_date=str(claim.service_day))
    with_npi = _search(who, claim_id=claim.clm01, npi=claim.billing_npi)
    for search in (by_clm01, by_number, by_patient, with_npi):
        found = pp.find_claims(engine, who, search, route="/provider/claims", now=NOW)
        assert claim.id in [f.claim_id for f in found], search
        row = next(f for f in found if f.claim_id == claim.id)
        assert row.submitter_claim_id == claim.clm01
        assert row.payer_claim_number == claim.payer_claim_number
        assert row.status.endswith("in an 835")
    assert _reads(engine, "claim", claim.id, who) == ["/provider/claims"] * 4
    # a day with no service of that patient's finds nothing
    nothing = _search(who, member_id=claim.member_id, service_date="1999-01-01")
    assert pp.find_claims(engine, who, nothing, route="/provider/claims", now=NOW) == []

    view = pp.claim_view(
        engine, who, claim.id, store.runtime.reference, route="/provider/claims/{id}", now=NOW
    )
    assert view is not None
    assert view.submitter_claim_id == claim.clm01 and view.state == t.ClaimState.REMITTED
    assert view.rejected_because is None and view.remittance_trace
    assert view.paid == sum((ln.paid for ln in view.lines), start=ZERO)
    assert view.billed == sum((ln.billed for ln in view.lines), start=ZERO)
    for ln in view.lines:
        adjusted = sum((a.amount for a in ln.adjustments), start=ZERO)
        assert ln.paid + adjusted == ln.billed  # every dollar of the line accounted for
        assert all(a.words and "(" in a.words for a in ln.adjustments)
    assert "/provider/claims/{id}" in _reads(engine, "claim", claim.id, who)
    # its history in words: no rule pack, stage code or raw reason
    said = [h.words for h in view.history]
    assert said[0] == f"Accepted (277CA), payer claim number {claim.payer_claim_number}"
    assert said[1].startswith("Decided: ")
    assert said[2].startswith(f"Paid in the 835 with trace number {view.remittance_trace} to NPI")
    assert not any("rule pack" in w or ":" in w.removeprefix("Decided:") for w in said)


def test_another_providers_claim_835_and_file_are_not_found_and_not_audited(
    engine: Engine, tmp_path: Path
) -> None:
    store = _store(engine, tmp_path)
    who = store.other
    (own_npi,) = who.npis
    mine = next(c for c in store.claims if c.billing_npi == own_npi)
    theirs = next(c for c in store.claims if c.billing_npi != own_npi)
    # its own claims: found
    found = pp.find_claims(
        engine, who, _search(who, claim_id=mine.clm01), route="/provider/claims", now=NOW
    )
    assert [f.claim_id for f in found] == [mine.id]
    # another NPI's: by each key, nothing
    for fields in (
        {"claim_id": theirs.clm01},
        {"payer_claim_number": theirs.payer_claim_number},
        {"member_id": theirs.member_id, "service_date": str(theirs.service_day)},
    ):
        found = pp.find_claims(
            engine, who, _search(who, **fields), route="/provider/claims", now=NOW
        )
        assert theirs.id not in [f.claim_id for f in found]
    reference = store.runtime.reference
    assert pp.claim_view(engine, who, theirs.id, reference, route="r", now=NOW) is None
    assert pp.claim_view(engine, who, 10**12, reference, route="r", now=NOW) is None
    assert _reads(engine, "claim", theirs.id, who) == []
    # an NPI not its own cannot be chosen
    with pytest.raises(pp.SearchError):
        pp.parse_search(who, claim_id=theirs.clm01, npi=theirs.billing_npi)
    # 835s: its NPI's only
    lines, more = pp.remittances(engine, who)
    assert [r.payee_npi for r in lines] == [own_npi] and not more
    foreign = store.remittances[theirs.billing_npi]
    assert pp.remittance_file(engine, who, foreign, route="r", now=NOW) is None
    assert _reads(engine, "remittance", foreign, who) == []
    # files: only those it sent (none), and not the office's acknowledgments
    assert pp.files(engine, who) == ([], False)
    assert pp.file_view(engine, who, store.interchange_id) is None
    office_file = pp.file_view(engine, store.office, store.interchange_id)
    assert office_file is not None
    for ack in office_file.acknowledgments:
        assert (
            pp.acknowledgment_file(engine, who, store.interchange_id, ack.id, route="r", now=NOW)
            is None
        )
        assert _reads(engine, "acknowledgment", ack.id, who) == []
    # a file that another provider sent and owns: the office sees neither it nor its
    # acknowledgments, by its own id or under the office's own file's id; its owner does
    theirs_file = _another_providers_file(store, tmp_path)
    office = store.office
    assert pp.file_view(engine, office, theirs_file.interchange_id) is None
    assert [f.id for f in pp.files(engine, office)[0]] == [store.interchange_id]
    assert [f.id for f in pp.files(engine, theirs_file.owner)[0]] == [theirs_file.interchange_id]
    for ack_id in theirs_file.acknowledgments.values():
        for under in (theirs_file.interchange_id, store.interchange_id):
            assert pp.acknowledgment_file(engine, office, under, ack_id, route="r", now=NOW) is None
        assert _reads(engine, "acknowledgment", ack_id, office) == []
        owned = pp.acknowledgment_file(
            engine, theirs_file.owner, theirs_file.interchange_id, ack_id, route="r", now=NOW
        )
        assert owned is not None and owned.text.startswith("ISA")
    for ack in office_file.acknowledgments:  # the office's own, under the other's file's id
        assert (
            pp.acknowledgment_file(
                engine, office, theirs_file.interchange_id, ack.id, route="r", now=NOW
            )
            is None
        )


def test_the_835s_and_acknowledgments_download_as_x12_and_are_audited(
    engine: Engine, tmp_path: Path
) -> None:
    store = _store(engine, tmp_path)
    who = store.office
    lines, more = pp.remittances(engine, who, per_page=5)
    assert len(lines) == 5 and more
    every, _ = pp.remittances(engine, who, per_page=100)
    assert {r.payee_npi for r in every} == set(store.remittances)
    assert [r.remittance_id for r in every] == sorted(store.remittances.values(), reverse=True)
    claim = store.claims[0]
    remit = store.remittances[claim.billing_npi]
    route = "/provider/remittances/{remittance_id}/835"
    got = pp.remittance_file(engine, who, remit, route=route, now=NOW)
    assert got is not None
    assert got.text.startswith("ISA") and "ST*835" in got.text
    assert f"CLP*{claim.clm01}*" in got.text and claim.payer_claim_number in got.text
    assert got.file_name.endswith(".x12") and "/" not in got.file_name
    assert _reads(engine, "remittance", remit, who) == [route]

    files, more = pp.files(engine, who)
    assert [f.id for f in files] == [store.interchange_id] and not more
    kinds = {a.kind: a.id for a in files[0].acknowledgments}
    assert set(kinds) == {"999", "277ca"}
    assert pp.counts_in_words(files[0].claims) == "60 in an 835"
    for kind, ack_id in kinds.items():
        doc = pp.acknowledgment_file(
            engine, who, store.interchange_id, ack_id, route="/provider/files", now=NOW
        )
        assert doc is not None and doc.text.startswith("ISA")
        assert ("ST*999" if kind == "999" else "ST*277") in doc.text
        assert doc.file_name.startswith(kind.upper())
        assert _reads(engine, "acknowledgment", ack_id, who) == ["/provider/files"]
    # an acknowledgment asked under another provider's owned interchange's id: not found
    theirs = _another_providers_file(store, tmp_path)
    for ack_id in (kinds["999"], theirs.acknowledgments["999"]):
        found = pp.acknowledgment_file(
            engine, who, theirs.interchange_id, ack_id, route="r", now=NOW
        )
        assert found is None


def test_a_rejected_claim_shows_the_reason_its_277ca_gave(engine: Engine, tmp_path: Path) -> None:
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "r.837", claims=3, seed=22).decode()
    served = re.search(r"DTP\*472\*D8\*[0-9]{8}", raw)
    assert served is not None
    raw = raw.replace(served.group(0), "DTP*472*D8*20291231", 1)  # a service in the future
    sent = submit(engine, raw.encode(), "r.837", NOW)
    ingest_interchange(engine, sent.interchange_id, runtime, NOW)
    c = t.claims_table.c
    with engine.connect() as conn:
        row = conn.execute(
            select(c.id, c.identity, c.billing_npi).where(c.state == t.ClaimState.REJECTED)
        ).one()
    who = _principal(engine, runtime, npis=[row.billing_npi])
    search = _search(who, claim_id=identity_of(row).claim_id)
    (found,) = pp.find_claims(engine, who, search, route="r", now=NOW)
    assert found.claim_id == row.id and found.payer_claim_number is None
    assert found.status == "Rejected: correct it and send it again"
    view = pp.claim_view(engine, who, row.id, runtime.reference, route="r", now=NOW)
    assert view is not None and view.state == t.ClaimState.REJECTED
    assert view.rejected_because is not None and "2029-12-31" in view.rejected_because
    assert view.lines == () and view.outcome is None


def test_an_insurer_account_sees_every_providers_records(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    key = create_key(engine, Role.INSURER, now=NOW)
    insurer = authenticate(engine, key.token, NOW, store.runtime.reference)
    assert insurer is not None
    claim = store.claims[-1]
    found = pp.find_claims(
        engine, insurer, _search(insurer, claim_id=claim.clm01), route="r", now=NOW
    )
    assert claim.id in [f.claim_id for f in found]
    assert len(pp.remittances(engine, insurer, per_page=100)[0]) == len(store.remittances)
    assert [f.id for f in pp.files(engine, insurer)[0]] == [store.interchange_id]


def test_the_upload_door_refuses_as_the_api_does(engine: Engine, tmp_path: Path) -> None:
    store = _store(engine, tmp_path)
    raw = generated_837(tmp_path / "a.837", claims=60, seed=21)
    again = submission.accept_837(engine, raw, store.office, NOW + timedelta(minutes=1))
    assert isinstance(again, submission.Refused)
    assert (again.status, again.code) == (409, "duplicate_interchange")
    assert again.acknowledgment and "TA1" in again.acknowledgment
    no_sender = submission.accept_837(engine, raw, store.other, NOW)
    assert isinstance(no_sender, submission.Refused) and no_sender.status == 403
    assert "sender id" in no_sender.reason
    # a sender id of its own, but claims billed under NPIs it does not hold
    (npi,) = store.other.npis
    holder = _principal(engine, store.runtime, npis=[npi], senders=["OTHERSENDER"])
    other_raw = generated_837(tmp_path / "b.837", claims=5, seed=22)
    renamed = other_raw.replace(SENDER.encode(), b"OTHERSENDER")
    refused = submission.accept_837(engine, renamed, holder, NOW)
    assert isinstance(refused, submission.Refused) and refused.status == 403
    assert "NPIs" in refused.reason
    not_x12 = submission.accept_837(engine, b"hello", store.office, NOW)
    assert isinstance(not_x12, submission.Refused) and not_x12.status == 400
    member = next(iter(store.runtime.reference.members))
    member_key = create_key(engine, Role.MEMBER, now=NOW, member_id=member)
    as_member = authenticate(engine, member_key.token, NOW, store.runtime.reference)
    assert as_member is not None
    refused = submission.accept_837(engine, raw, as_member, NOW)
    assert isinstance(refused, submission.Refused) and refused.status == 403


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"service_date": "2026-02-30", "member_id": "M1"}, "not a date"),
        ({"service_date": "yesterday", "member_id": "M1"}, "not a date"),
        ({"service_date": "2026-03-01"}, "both"),
        ({"member_id": "M1"}, "both"),
        ({"claim_id": "x" * 39}, "at most 38"),
        ({"payer_claim_number": "9" * 51}, "at most 50"),
        ({"claim_id": "A1", "payer_claim_number": "1"}, "one thing at a time"),
        ({"claim_id": "A\x00B"}, "letters, digits"),
        ({"claim_id": "A1", "npi": "1234567890"}, "your NPIs"),
    ],
)
def test_search_input_that_cannot_be_used_is_told_in_words(
    fields: dict[str, str], words: str
) -> None:
    who = Principal(
        key_id="k",
        role=Role.PROVIDER,
        npis=frozenset({"1111111111"}),
        member_id=None,
        members=frozenset(),
        expires_at=NOW,
        senders=frozenset(),
    )
    with pytest.raises(pp.SearchError, match=words):
        pp.parse_search(who, **fields)
    assert pp.parse_search(who) is None
    for written in ("2026-03-14", "03/14/2026", "3/14/2026"):
        search = pp.parse_search(who, member_id="M1", service_date=written)
        assert search is not None and search.service_date == date(2026, 3, 14)
    assert pp.parse_search(who, claim_id="  A1 ") == pp.Search("clm01", claim_id="A1")
    assert pp.safe_file_name("835", "../x y", suffix="x12") == "835-x_y.x12"
    assert pp.status_text("remitted", "paid", Decimal("5")) == "Paid: in an 835"


def _event(to_state: str, reason: str) -> EventView:
    return EventView(datetime(2026, 3, 2, 9, 0), "adjudication", "accepted", to_state, reason)


@pytest.mark.parametrize(
    ("to_state", "reason", "words"),
    [
        (
            "accepted",
            "accepted (277CA), payer claim number 26110200000000010010000001",
            "Accepted (277CA), payer claim number 26110200000000010010000001",
        ),
        ("adjudicated", "paid: paid 1585.24 (rule pack 167984a34342)", "Decided: paid $1,585.24"),
        (
            "adjudicated",
            "partly paid: paid 67.15 (rule pack 167984a34342); reversed 26110200000000010010000001",
            "Decided: partly paid, $67.15; the decision on claim 26110200000000010010000001 is "
            "reversed",
        ),
        ("adjudicated", "denied: paid 0.00 (rule pack 167984a34342)", "Decided: denied"),
        (
            "adjudicated",
            "paid: paid 700.00 (rule pack 167984a34342; decided again by an examiner)",
            "Decided: paid $700.00, after the plan's review",
        ),
        (
            "pended",
            "pended: charge 12000.00 is above 10000.00; line 2: no price on file for 99499; "
            "line 1: physical therapy past 30 visits (PT-VISIT-LIMIT) (rule pack 167984a34342)",
            "Pended for review: Charge above the plan's review threshold; No price on file for "
            "a service (line 2); A coverage rule asks for review (line 1)",
        ),
        (
            "pended",
            "adjudication failed: KeyError: 'PG00000100'",
            "Pended for review: Adjudication failed",
        ),
        (
            "remitted",
            "835 trace 0000000001 to 1095644468",
            ("Paid in the 835 with trace number 0000000001 to NPI 1095644468"),
        ),
        (
            "accepted",
            "adjudicated again in place of 2611020001: coverage ended (834 interchange 7)",
            "Taken to be decided again in place of claim 2611020001, after a change of the "
            "patient's coverage",
        ),
        (
            "rejected",
            "2029-12-31: A7/187 a date of service in the future",
            ("Rejected: correct the claim and send it again"),
        ),
        ("adjudicated", "something new: RULE-X (v9)", "Decided"),
    ],
)
def test_a_claims_history_is_told_in_words(to_state: str, reason: str, words: str) -> None:
    assert pp.history_words(_event(to_state, reason)) == words


def test_a_pend_reason_is_told_in_the_payers_own_words() -> None:
    catalogue = PendCatalogue(
        {"NO-PRICE": PendReason("NO-PRICE", "We are pricing this service", "pricing", 3, 10)}
    )
    said = pp.history_words(
        _event("pended", "pended: line 3: no price on file for 99499 (rule pack 1)"),
        catalogue=catalogue,
    )
    assert said == "Pended for review: We are pricing this service (line 3)"


def test_downloads_carry_the_portals_security_headers(engine: Engine, tmp_path: Path) -> None:
    """An 835, a 999 and a 277CA downloaded from the pages: health data, so the headers of
    every portal page (no-store, the CSP, nosniff, no framing), as an attachment."""
    from fastapi.testclient import TestClient

    from adapters.api.app import ApiConfig, create_app
    from adapters.web.portal import SECURITY_HEADERS, SESSION_COOKIE
    from claims_engine.domain.totp import secret_from_base32, totp
    from claims_engine.services import accounts
    from tests.browser.harness import environment_for

    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "a.837", claims=8, seed=23)
    npis = sorted(preflight(raw, NOW).billing_npis)
    invitation = accounts.create_user(
        engine,
        Role.PROVIDER,
        email="office@clinic.example",
        now=NOW,
        npis=npis,
        senders=[SENDER],
        reference=runtime.reference,
    )
    enrolling = accounts.accept_invitation(engine, invitation.token, "a long enough password", NOW)
    secret = accounts.totp_enrollment(engine, enrolling, NOW).secret
    code = totp(secret_from_base32(secret), int(NOW.replace(tzinfo=UTC).timestamp()))
    session, _ = accounts.confirm_totp(engine, enrolling, code, NOW, runtime.reference)
    assert session.principal is not None
    sent = submission.accept_837(engine, raw, session.principal, NOW)
    assert isinstance(sent, submission.Submitted)
    for batch in ingest_interchange(engine, sent.interchange_id, runtime, NOW).batches:
        adjudicate_claims(engine, batch, runtime, NOW)
    run_payment_cycle(engine, runtime, NOW, None)
    view = pp.file_view(engine, session.principal, sent.interchange_id)
    remits, _ = pp.remittances(engine, session.principal)
    assert view is not None and remits
    paths = [f"/provider/remittances/{remits[0].remittance_id}/835"] + [
        f"/provider/files/{sent.interchange_id}/acknowledgments/{a.id}"
        for a in view.acknowledgments
    ]
    assert len(paths) == 3  # the 835, the 999 and the 277CA
    app = create_app(ApiConfig(environment_for(engine), now=lambda: NOW, inprocess_workers=False))
    client = TestClient(app, base_url="http://127.0.0.1")
    client.cookies.set(SESSION_COOKIE, session.token)
    for path in paths:
        got = client.get(path, follow_redirects=False)
        assert got.status_code == 200, path
        assert got.text.startswith("ISA")
        assert got.headers["content-type"].startswith("application/edi-x12")
        assert got.headers["content-disposition"].startswith("attachment; filename=")
        for name, value in SECURITY_HEADERS.items():
            assert got.headers[name] == value, (path, name)
        assert got.headers["cache-control"] == "no-store"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert "default-src 'none'" in got.headers["content-security-policy"]
