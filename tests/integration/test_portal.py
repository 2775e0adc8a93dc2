"""What the portal shows a member, from a real pipeline run (intake, adjudication, 835s): only
their household's claims, newest first; every dollar of an explanation of benefits accounted
for and equal to the stored decision; the plan year's progress equal to the accumulators; every
read audited; another member's claim answered as a missing one."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from claims_engine.adjudication.adjudicate import accumulator_keys
from claims_engine.domain.money import ZERO
from claims_engine.services import portal
from claims_engine.services.access import Principal, Role, authenticate, create_key, reads_of
from claims_engine.services.explanation import load_explanations
from claims_engine.services.reference import Runtime
from claims_engine.store import tables as t
from claims_engine.store.vault import current_vault
from tests.integration.pipeline_support import NOW, generated_837, prepared_store, work_through

pytestmark = pytest.mark.integration


def _member(engine: Engine, runtime: Runtime, member_id: str) -> Principal:
    key = create_key(engine, Role.MEMBER, now=NOW, member_id=member_id, reference=runtime.reference)
    found = authenticate(engine, key.token, NOW, runtime.reference)
    assert found is not None
    return found


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
        lines, more = portal.member_claims(
            engine, who, reference, route="/my/claims", now=NOW, page=page, per_page=3
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
        eob = portal.explanation_of_benefits(
            engine, who, c.claim_id, reference, route="/my/claims/{claim_id}", now=NOW
        )
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
    assert (
        portal.explanation_of_benefits(
            engine, who, theirs[0], reference, route="/my/claims/{claim_id}", now=NOW
        )
        is None
    )
    missing = max(r.id for r in rows) + 1000
    assert (
        portal.explanation_of_benefits(
            engine, who, missing, reference, route="/my/claims/{claim_id}", now=NOW
        )
        is None
    )
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
    found = portal.benefit_progress(
        engine, who, reference, today=NOW.date(), route="/my/claims", now=NOW
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
