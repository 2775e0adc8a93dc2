"""Properties of adjudication over generated claims: every decision balances, patient
responsibility never exceeds the allowed amount, accumulators never pass their limits."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from claims_engine.adjudication.adjudicate import AccumulatorKey, AdjudicationContext, adjudicate
from claims_engine.adjudication.decision import Outcome, check_balance
from claims_engine.domain.reference_data import load_members, load_providers, load_reference
from claims_engine.synthetic.generator import generate_claims
from tests.conftest import FIXTURES

REFERENCE = load_reference(FIXTURES / "reference")
MEMBERS = load_members(FIXTURES / "reference" / "members.csv")
PROVIDERS = load_providers(FIXTURES / "reference" / "providers.csv")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), met=st.decimals(0, 7000, places=2))
def test_every_decision_balances(seed: int, met: Decimal) -> None:
    # every member and family has already paid ``met`` this plan year, in and out of network
    accumulators = {
        AccumulatorKey(holder, m.plan_id, date(2026, 1, 1), bucket, network): met
        for m in MEMBERS
        for holder in (f"member:{m.member_id}", f"family:{m.family_id}")
        for bucket in ("deductible", "oop")
        for network in ("in", "out")
    }
    ctx = AdjudicationContext(
        reference=REFERENCE, received_on=date(2026, 11, 2), accumulators=accumulators
    )
    claims = generate_claims(seed, MEMBERS, PROVIDERS, as_of=date(2026, 11, 1), count=40)
    for i, claim in enumerate(claims):
        result = adjudicate(claim, ctx, f"P{i}")
        for decision in result.decisions:
            assert check_balance(decision) == []
            for line in decision.lines:
                assert line.paid >= 0
                assert line.patient_responsibility <= line.charge
                if line.outcome is not Outcome.DENIED:
                    assert line.paid + line.patient_responsibility <= line.charge
        for key, change in result.accumulator_changes.items():
            assert change >= 0
            plan = REFERENCE.plans[key.plan_id].versions[-1]
            tiers = {
                ("member", "oop"): plan.oop_individual,
                ("family", "oop"): plan.oop_family,
                ("member", "deductible"): plan.deductible_individual,
                ("family", "deductible"): plan.deductible_family,
            }
            limit = tiers[(key.holder.split(":")[0], key.bucket)].for_network(key.network == "in")
            if limit:  # a limit of zero is no limit
                before = accumulators.get(key, Decimal(0))
                assert before + change <= max(limit, before)
