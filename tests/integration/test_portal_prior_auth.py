"""What the portal's pages read of prior authorization requests, on SQLite and PostgreSQL: the
clinical queue as examiners see it (the soonest due first, members masked, the clocks' marks by
the decisions file's ``alert_before``), one request as its reviewer reads it (the rules that
sent it to review, its events), and a provider's own requests, newest first, with the
decision's reason and nothing of another provider's; every read audited in ``phi_reads``.

The people are those of ``test_prior_auth.py``: LIAM HILL (PG00000100) and SOPHIA JOHNSON
(PG00000200), both PPO-GOLD; BUCKEYE FAMILY MEDICINE (NPI 2781759230) and MAUMEE RADIOLOGY
ASSOCIATES (NPI 2422581191). Bariatric surgery (43775) is always reviewed (PA-BARIATRIC); a
knee MRI (73721) asked by BUCKEYE, who holds no gold card, meets no decision rule and is
reviewed too; a lumbar MRI (72148) for uncomplicated back pain is denied by a rule (LBP6W).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from claims_engine.domain.prior_auth import Action, AuthRequest, AuthService, Source, Urgency
from claims_engine.rules.authorization_rules import AuthRules, load_authorization_rules
from claims_engine.services import authorizations as pa
from claims_engine.services import portal_examiner as pe
from claims_engine.services import portal_provider as pp
from claims_engine.services.access import Principal, Role
from claims_engine.services.reference import Runtime
from claims_engine.store import tables as t
from tests.integration.pipeline_support import RULES, prepared_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 2, 9, 30)
D = Decimal
MAUMEE = "2422581191"
BUCKEYE = "2781759230"
NOV = date(2026, 11, 16)
EXAMINER = Principal("web-examiner", Role.EXAMINER)
BUCKEYE_OFFICE = Principal("web-buckeye", Role.PROVIDER, npis=frozenset({BUCKEYE}))
MAUMEE_OFFICE = Principal("web-maumee", Role.PROVIDER, npis=frozenset({MAUMEE}))
INSURER = Principal("web-insurer", Role.INSURER)

Store = tuple[Engine, Runtime, AuthRules]


@pytest.fixture
def store(engine: Engine) -> Store:
    runtime = prepared_store(engine)
    rules = load_authorization_rules(
        RULES / "prior-auth" / "decisions.yaml", known_plans=runtime.reference.plans
    )
    return engine, runtime, rules


def _submit(
    store: Store,
    code: str,
    trace: str,
    *,
    npi: str = BUCKEYE,
    member: str = "PG00000100",
    urgency: Urgency = Urgency.STANDARD,
    quantity: str = "1",
    diagnoses: tuple[str, ...] = (),
    at: datetime = NOW,
) -> pa.AuthorizationView:
    engine, runtime, rules = store
    request = AuthRequest(
        member_id=member,
        subscriber_id=member,
        requesting_npi=npi,
        servicing_npi=npi,
        urgency=urgency,
        services=(AuthService(code, D(quantity), NOV, NOV),),
        diagnoses=diagnoses,
        trace=trace,
        source=Source.X12,
    )
    return pa.submit(engine, request, runtime.reference, runtime.book, rules, at)


def _reads(engine: Engine, key_id: str) -> list[tuple[str, str, str]]:
    r = t.phi_reads_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.route, r.record_type, r.record_id).where(r.key_id == key_id).order_by(r.id)
        ).all()
    return [(str(x.route), str(x.record_type), str(x.record_id)) for x in rows]


def test_the_clinical_queue_lists_the_soonest_due_first_with_its_clocks_marks(
    store: Store,
) -> None:
    engine, runtime, rules = store
    # a standard request received 6 days and 13 hours ago: due in 11 hours, within the
    # decisions file's alert_before (12h); an expedited one received now: due in 72 hours
    late = _submit(store, "43775", "BAR-OLD", at=NOW - timedelta(days=6, hours=13))
    knee = _submit(store, "73721", "KNEE-2", quantity="2", urgency=Urgency.EXPEDITED)
    standard = _submit(store, "43775", "BAR-NEW", member="PG00000200")
    # denied by a rule: never in the queue
    _submit(store, "72148", "LBP-1", diagnoses=("M54.50",))
    entries = pe.clinical_queue(engine, rules, NOW, runtime.reference)
    assert [e.number for e in entries] == [late.number, knee.number, standard.number]
    first, second, third = entries
    assert (first.hours_left, first.mark) == (D("11.0"), pe.DUE_SOON)
    assert (second.urgency, second.hours_left, second.mark) == ("expedited", D("72.0"), "")
    assert (third.hours_left, third.mark) == (D("168.0"), "")
    # the member masked, the provider named, the services with their units
    assert second.member == "ending in 0100" and third.member == "ending in 0200"
    assert second.requesting_name == "BUCKEYE FAMILY MEDICINE"
    assert second.services == (pe.AskedService(1, ("73721",), D(2), "units"),)
    # past its due time the standard request is overdue; the summary counts it
    later = NOW + timedelta(hours=12)
    entries = pe.clinical_queue(engine, rules, later)
    assert (entries[0].hours_left, entries[0].mark) == (D("-1.0"), pe.OVERDUE)
    assert pe.clinical_summary(entries) == pe.ClinicalSummary(3, 1, 1, 0)
    # decided, a request leaves the queue
    pa.decide(engine, late.number, Action.CERTIFIED, EXAMINER.key_id, later)
    assert [e.number for e in pe.clinical_queue(engine, rules, later)] == [
        knee.number,
        standard.number,
    ]
    # the page audits each request it lists
    pe.record_queue_reads(engine, EXAMINER, entries[1:], "/examiner/authorizations", later)
    assert _reads(engine, EXAMINER.key_id) == [
        ("/examiner/authorizations", "authorization", knee.number),
        ("/examiner/authorizations", "authorization", standard.number),
    ]


def test_a_request_as_its_reviewer_reads_it(store: Store) -> None:
    engine, runtime, rules = store
    pended = _submit(store, "43775", "BAR-1")
    route = "/examiner/authorizations/{number}"
    seen = pe.reviewed_request(
        engine, EXAMINER, pended.number, rules, runtime.reference, NOW, route=route
    )
    assert (seen.member_name, seen.birth_date is not None) == ("LIAM HILL", True)
    assert seen.requesting_name == seen.servicing_name == "BUCKEYE FAMILY MEDICINE"
    assert seen.review_rules == ((1, "PA-BARIATRIC"),)
    assert "bariatric surgery criteria" in seen.view.reason
    assert (seen.hours_left, seen.mark, seen.extension) == (D("168.0"), "", timedelta(days=14))
    assert [(e.from_state, e.to_state, e.action) for e in seen.events] == [
        ("", "requested", ""),
        ("requested", "pended", "A4"),
    ]
    assert _reads(engine, EXAMINER.key_id) == [(route, "authorization", pended.number)]
    # denied by the reviewer: the event names who, the reason is the reviewer's
    pa.decide(
        engine, pended.number, Action.NOT_CERTIFIED, EXAMINER.key_id, NOW, reason="BMI under 35"
    )
    seen = pe.reviewed_request(engine, EXAMINER, pended.number, rules, None, NOW, route=route)
    assert (seen.view.state, seen.view.reason, seen.member_name) == ("denied", "BMI under 35", "")
    assert (seen.events[-1].actor, seen.events[-1].to_state) == (EXAMINER.key_id, "denied")
    with pytest.raises(pa.AuthorizationNotFound):
        pe.reviewed_request(engine, EXAMINER, "PA20269999999", rules, None, NOW, route=route)


def test_a_provider_reads_its_own_requests_newest_first_and_never_another_s(
    store: Store,
) -> None:
    engine, runtime, _ = store
    denied = _submit(store, "72148", "LBP-1", diagnoses=("M54.50",))
    pended = _submit(store, "43775", "BAR-1", at=NOW + timedelta(minutes=1))
    knee = _submit(store, "73721", "KNEE-1", quantity="2", at=NOW + timedelta(minutes=2))
    theirs = _submit(
        store, "43775", "BAR-9", npi=MAUMEE, member="PG00000200", at=NOW + timedelta(minutes=3)
    )
    pa.decide(
        engine,
        knee.number,
        Action.MODIFIED,
        EXAMINER.key_id,
        NOW + timedelta(hours=1),
        reason="one knee at a time",
        approved={1: D(1)},
    )
    route = "/provider/authorizations"
    lines, more = pp.authorization_requests(
        engine, BUCKEYE_OFFICE, runtime.reference, route=route, now=NOW
    )
    assert not more
    assert [(r.number, r.status) for r in lines] == [
        (knee.number, "Approved with changes"),
        (pended.number, "Waiting for a clinical reviewer"),
        (denied.number, "Denied"),
    ]
    assert lines[0].reason == "one knee at a time"
    assert [(s.approved, s.requested) for s in lines[0].services] == [(D(1), D(2))]
    assert (lines[0].effective_from, lines[0].effective_through) == (NOV, NOV)
    assert lines[1].reason == ""  # the note that sent it to a reviewer is not the provider's
    assert "six weeks" in lines[2].reason
    assert lines[2].patient == "Liam Hill (PG00000100)"
    assert _reads(engine, BUCKEYE_OFFICE.key_id) == [
        (route, "authorization", n) for n in (knee.number, pended.number, denied.number)
    ]
    # a page at a time
    first, more = pp.authorization_requests(
        engine, BUCKEYE_OFFICE, None, route=route, now=NOW, per_page=2
    )
    rest, more_after = pp.authorization_requests(
        engine, BUCKEYE_OFFICE, None, route=route, now=NOW, page=2, per_page=2
    )
    assert (len(first), more, [r.number for r in rest], more_after) == (
        2,
        True,
        [denied.number],
        False,
    )
    # MAUMEE sees its own only; an insurer every one; a member's account none here
    mine, _ = pp.authorization_requests(engine, MAUMEE_OFFICE, None, route=route, now=NOW)
    assert [r.number for r in mine] == [theirs.number]
    everyone, _ = pp.authorization_requests(engine, INSURER, None, route=route, now=NOW)
    assert {theirs.number, knee.number, denied.number} <= {r.number for r in everyone}
    member = Principal("web-member", Role.MEMBER, member_id="x")
    assert pp.authorization_requests(engine, member, None, route=route, now=NOW) == ([], False)
    # one request: its own, with the decision in words; another's is None, as a missing one
    one = pp.authorization_view(
        engine, BUCKEYE_OFFICE, knee.number, runtime.reference, route=route + "/{n}", now=NOW
    )
    assert one is not None
    assert (one.status, one.reason, one.view.services[0].approved) == (
        "Approved with changes",
        "one knee at a time",
        D(1),
    )
    before = len(_reads(engine, BUCKEYE_OFFICE.key_id))
    assert (
        pp.authorization_view(engine, BUCKEYE_OFFICE, theirs.number, None, route=route, now=NOW)
        is None
    )
    assert (
        pp.authorization_view(engine, BUCKEYE_OFFICE, "PA20269999999", None, route=route, now=NOW)
        is None
    )
    assert len(_reads(engine, BUCKEYE_OFFICE.key_id)) == before  # nothing read, nothing audited
