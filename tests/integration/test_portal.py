"""What the portal shows a member, from a real pipeline run (intake, adjudication, 835s): only
their household's claims, newest first; every dollar of an explanation of benefits accounted
for and equal to the stored decision; the plan year's progress equal to the accumulators; every
read audited; another member's claim answered as a missing one."""

from __future__ import annotations

import io
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from claims_engine.adjudication.adjudicate import accumulator_keys
from claims_engine.domain.money import ZERO
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.services import examination as ex
from claims_engine.services import portal
from claims_engine.services.access import Principal, Role, authenticate, create_key, reads_of
from claims_engine.services.explanation import load_explanations
from claims_engine.services.reference import Runtime
from claims_engine.services.remittance import run_payment_cycle
from claims_engine.store import tables as t
from claims_engine.store.db import begin_write
from claims_engine.store.vault import current_vault
from claims_engine.x12.writer837 import write_837
from tests.integration.pipeline_support import (
    NOW,
    count,
    generated_837,
    prepared_store,
    work_through,
)

pytestmark = pytest.mark.integration


def _member(engine: Engine, runtime: Runtime, member_id: str) -> Principal:
    key = create_key(engine, Role.MEMBER, now=NOW, member_id=member_id, reference=runtime.reference)
    found = authenticate(engine, key.token, NOW, runtime.reference)
    assert found is not None
    return found


def _eob(
    engine: Engine, who: Principal, claim_id: int, reference: ReferenceData | None
) -> portal.ExplanationOfBenefits | None:
    with begin_write(engine) as conn:
        return portal.explanation_of_benefits(
            conn, who, claim_id, reference, route="/my/claims/{claim_id}", now=NOW
        )


def _store(engine: Engine, tmp_path: Path) -> tuple[Runtime, Counter[str]]:
    runtime = prepared_store(engine)
    raw = generated_837(tmp_path / "a.837", claims=120, seed=20)
    work_through(engine, runtime, [("a.837", raw)])
    with engine.connect() as conn:
        rows = conn.execute(select(t.claims_table.c.id, t.claims_table.c.identity)).all()
    from claims_engine.services.queries import identity_of

    return runtime, Counter(identity_of(r).member_id for r in rows)


def test_a_member_sees_their_household_newest_first_every_dollar_explained(
    engine: Engine, tmp_path: Path
) -> None:
    runtime, per_member = _store(engine, tmp_path)
    reference = runtime.reference
    # a subscriber with claims of their own
    subscriber = next(m for m, _ in per_member.most_common() if reference.members[m].is_subscriber)
    who = _member(engine, runtime, subscriber)
    lookups = {current_vault().lookup(m): m for m in reference.members}
    household = {lookups[k] for k in who.members}
    expected = sum(n for m, n in per_member.items() if m in household)
    assert expected >= 1

    seen: list[portal.ClaimLine] = []
    page = 1
    while True:
        with begin_write(engine) as conn:
            lines, more = portal.member_claims(
                conn, who, reference, route="/my/claims", now=NOW, page=page, per_page=3
            )
        seen += lines
        if not more:
            break
        page += 1
    assert len(seen) == expected
    assert len({c.claim_id for c in seen}) == expected
    order = [(c.received_on, c.claim_id) for c in seen]
    assert order == sorted(order, reverse=True)
    explanations = {
        e.claim_row_id: e for e in load_explanations(engine, [c.claim_id for c in seen])
    }
    for c in seen:
        e = explanations[c.claim_id]
        assert e.member_id in household
        d = e.decision
        if d is None:
            assert c.plan_paid is None and c.you_owe is None
            continue
        assert c.plan_paid == d.paid  # the 835's CLP04
        owed = sum(
            (a.amount for ln in d.lines for a in ln.adjustments if a.group == "PR"), start=ZERO
        ) + sum((a.amount for a in d.claim_adjustments if a.group == "PR"), start=ZERO)
        assert c.you_owe == owed
        assert c.status  # in words
    # one audit row for each claim listed, by this key, for the route
    for c in seen:
        rows = reads_of(engine, "claim", c.claim_id)
        assert [(r["key_id"], r["route"]) for r in rows] == [(who.key_id, "/my/claims")]

    # each explanation of benefits: every dollar of every line accounted for
    for c in seen:
        eob = _eob(engine, who, c.claim_id, reference)
        assert eob is not None and eob.claim_id == c.claim_id
        if not eob.decided:
            continue
        for ln in eob.lines:
            explained = ln.plan_paid + sum((r.amount for r in ln.reasons), start=ZERO)
            assert explained == ln.billed, (c.claim_id, ln)
            assert ln.you_owe == sum((r.amount for r in ln.reasons if r.who == "you"), start=ZERO)
            assert all(r.text and r.code for r in ln.reasons)
        assert eob.you_owe == c.you_owe and eob.plan_paid == c.plan_paid
        # the claim's charge: paid, owed, written off by contract, or adjusted otherwise
        assert eob.billed == (
            eob.plan_paid + eob.you_owe + eob.provider_writes_off + eob.other_adjustments
        ), c.claim_id
        assert sum((a for _, a in eob.owed_by_kind), start=ZERO) == eob.you_owe


def test_another_members_claim_is_answered_as_a_missing_one(engine: Engine, tmp_path: Path) -> None:
    runtime, per_member = _store(engine, tmp_path)
    reference = runtime.reference
    (first, _), (second, _) = per_member.most_common(2)
    who = _member(engine, runtime, first)
    with engine.connect() as conn:
        rows = conn.execute(select(t.claims_table.c.id, t.claims_table.c.identity)).all()
    from claims_engine.services.queries import identity_of

    theirs = [
        r.id for r in rows if current_vault().lookup(identity_of(r).member_id) not in who.members
    ]
    assert theirs
    before = len(reads_of(engine, "claim", theirs[0]))
    assert _eob(engine, who, theirs[0], reference) is None
    missing = max(r.id for r in rows) + 1000
    assert _eob(engine, who, missing, reference) is None
    assert len(reads_of(engine, "claim", theirs[0])) == before  # nothing read, nothing audited
    assert second != first


def test_the_plan_years_progress_is_what_the_accumulators_hold(
    engine: Engine, tmp_path: Path
) -> None:
    runtime, per_member = _store(engine, tmp_path)
    reference = runtime.reference
    member_id = next(
        m for m, _ in per_member.most_common() if reference.members[m].covered_on(NOW.date())
    )
    who = _member(engine, runtime, member_id)
    with begin_write(engine) as conn:
        found = portal.benefit_progress(
            conn, who, reference, today=NOW.date(), route="/my/claims", now=NOW
        )
    me = reference.members[member_id]
    mine = [p for p in found if p.patient.upper() == f"{me.first_name} {me.last_name}".upper()]
    assert len(mine) == 1
    plan = reference.plans[me.plan_on(NOW.date())]
    year = plan.plan_year(NOW.date())
    vault = current_vault()
    with engine.connect() as conn:
        rows = conn.execute(select(t.accumulators_table)).mappings().all()
    held = {
        (r["holder"], r["bucket"], r["network"]): Decimal(r["amount"])
        for r in rows
        if r["plan_id"] == plan.id and r["plan_year"] == year
    }
    assert mine[0].limits
    for limit in mine[0].limits:
        keys = accumulator_keys(me.member_id, me.family_id, plan.id, year, limit.network)
        key = {
            ("deductible", "individual"): keys.member_deductible,
            ("deductible", "family"): keys.family_deductible,
            ("out-of-pocket maximum", "individual"): keys.member_oop,
            ("out-of-pocket maximum", "family"): keys.family_oop,
        }[(limit.kind, limit.level)]
        used = held.get((vault.lookup(key.holder), key.bucket, key.network), ZERO)
        assert limit.met == min(used, limit.limit)
        assert limit.remaining == max(limit.limit - used, ZERO)
        assert limit.met + limit.remaining == limit.limit
    assert any(limit.met > ZERO for p in found for limit in p.limits)
    reads = reads_of(engine, "member", vault.lookup(member_id))
    assert [r["route"] for r in reads] == ["/my/claims"]


def test_status_words() -> None:
    assert portal.status_text("pended", None, None) == "Under review by the plan"
    assert "information" in portal.status_text("pended", None, None, info_requested=True)
    assert portal.status_text("remitted", "paid", Decimal("0.00")) == "Paid"
    assert "you may owe" in portal.status_text("remitted", "paid", Decimal("20.00"))
    assert portal.status_text("adjudicated", "denied", ZERO).startswith("Denied")
    assert portal.status_text("rejected", None, None).startswith("Not accepted")
    zero = portal.status_text("remitted", "paid", Decimal("80.00"), plan_paid=ZERO)
    assert zero == "Processed: the plan pays nothing this time; you may owe your share"


def _future_claim() -> bytes:
    from tests.unit.adjudication.support import LIAM_HILL, claim_from_837

    ahead = (NOW + timedelta(days=30)).strftime("%Y%m%d")
    claim = claim_from_837(
        LIAM_HILL
        + "CLM*FUTURE-1*140***11:B:1*Y*A*Y*Y~\nHI*ABK:L989~\n"
        + f"LX*1~\nSV1*HC:99213*140*UN*1***1~\nDTP*472*D8*{ahead}~\n"
    )
    out = io.StringIO()
    write_837(
        [claim],
        out,
        interchange_control=909,
        created=NOW,
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
    )
    return out.getvalue().encode()


def test_the_claims_list_says_what_each_whole_claim_says(engine: Engine, tmp_path: Path) -> None:
    """The list reads summary columns (the claims', their decisions', their lines' dates), not
    the stored claims: for every kind of claim (paid, denied, pended and waiting for the
    provider's information, rejected, voided, replaced, and the void and the replacement
    themselves) each row says what the whole claim's explanation of benefits says."""
    from tests.integration.test_examination_status import ALICE, ASKED, _submit
    from tests.integration.test_explanation import _corrections, _ingest

    runtime = prepared_store(engine)
    _ingest(engine, runtime, generated_837(tmp_path / "a.837", claims=150, seed=41), "a.837")
    run_payment_cycle(engine, runtime, NOW, tmp_path / "835")
    _ingest(engine, runtime, _corrections(engine), "corrections.837")
    asked, _ = _submit(engine, runtime, "ASKED-1", 7)
    ex.act(engine, runtime, asked, ALICE, ex.RequestInfo("why", ASKED, "M127"), NOW)
    _submit(engine, runtime, "UNDER-REVIEW-1", 8)
    _ingest(engine, runtime, _future_claim(), "future.837")  # rejected: 510 future date
    reference = runtime.reference
    insurer = authenticate(engine, create_key(engine, Role.INSURER, now=NOW).token, NOW, reference)
    assert insurer is not None
    with begin_write(engine) as conn:
        rows, more = portal.member_claims(
            conn, insurer, reference, route="/test", now=NOW, per_page=1000
        )
    assert not more and len(rows) == count(engine, t.claims_table)
    statuses = Counter(r.status for r in rows)
    for expected in (
        "Replaced by a corrected claim",
        "Cancelled by your provider",
        "On hold: waiting for information from your provider",
        "Under review by the plan",
        "Not accepted: your provider must correct and resend it",
    ):
        assert statuses[expected] >= 1, (expected, statuses)
    whole = {e.claim_row_id: e for e in load_explanations(engine, [r.claim_id for r in rows])}
    for row in rows:
        e = whole[row.claim_id]
        eob = _eob(engine, insurer, row.claim_id, reference)
        assert eob is not None
        first, last = portal._period(e.claim)
        assert (
            row.patient,
            row.provider,
            row.received_on,
            row.state,
            row.status,
            row.billed,
            row.service_from,
            row.service_to,
        ) == (
            eob.patient,
            eob.provider,
            eob.received_on,
            eob.state,
            eob.status,
            eob.billed,
            first,
            last,
        ), row.claim_id
        if eob.decided:
            assert (row.plan_paid, row.you_owe) == (eob.plan_paid, eob.you_owe), row.claim_id
        else:
            assert row.plan_paid is None and row.you_owe is None, row.claim_id


def _reads_after(engine: Engine, last: int) -> list[tuple[str, str, str, str | None]]:
    r = t.phi_reads_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(r.record_type, r.record_id, r.route, r.key_id).where(r.id > last)
        ).all()
    return sorted((str(a), str(b), str(c), d) for a, b, c, d in rows)


def _last_read(engine: Engine) -> int:
    with engine.connect() as conn:
        found = conn.execute(select(func.max(t.phi_reads_table.c.id))).scalar()
    return int(found or 0)


def test_the_claims_page_read_in_one_go_is_its_parts_with_their_audit(
    engine: Engine, tmp_path: Path
) -> None:
    """``member_home`` (on PostgreSQL one statement: the page, the accumulators and the audit
    rows) shows what ``member_claims`` and ``benefit_progress`` show, page by page, for a
    subscriber with a household, a member with claims, and a member with none; and writes the
    same ``phi_reads`` rows as they do: one per claim shown and per member whose year is
    shown."""
    runtime, per_member = _store(engine, tmp_path)
    reference = runtime.reference
    today = NOW.date()
    covered = [m for m in reference.members if reference.members[m].covered_on(today)]
    subscriber = next(m for m, _ in per_member.most_common() if reference.members[m].is_subscriber)
    other = next(m for m, _ in per_member.most_common() if m != subscriber)
    without = next(m for m in covered if m not in per_member)
    shown = Counter[str]()
    for member_id in (subscriber, other, without):
        who = _member(engine, runtime, member_id)
        for page in (1, 2):
            last = _last_read(engine)
            with begin_write(engine) as conn:
                lines, more = portal.member_claims(
                    conn, who, reference, route="/my/claims", now=NOW, page=page, per_page=20
                )
                progress = portal.benefit_progress(
                    conn, who, reference, today=today, route="/my/claims", now=NOW
                )
            parts = _reads_after(engine, last)
            last = _last_read(engine)
            with begin_write(engine) as conn:
                home = portal.member_home(
                    conn, who, reference, today=today, route="/my/claims", now=NOW, page=page
                )
            assert (home.lines, home.more, home.progress) == (lines, more, progress)
            assert _reads_after(engine, last) == parts
            assert len(parts) == len(lines) + len(progress)
            assert {key for *_, key in parts} <= {who.key_id}
            shown.update(claims=len(lines), progress=len(progress), more=more)
    assert shown["claims"] > 20 and shown["progress"] >= 3 and shown["more"] >= 1
