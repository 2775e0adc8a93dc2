"""Cost sharing: deductible (PR-1), copay (PR-3) and coinsurance (PR-2) against the member's
and the family's accumulators for the plan year, capped by the out-of-pocket maximum.

Pure: :func:`share_cost` takes the allowed amount of one line, the plan version, the service
category, the network and the accumulator balances so far, and returns the patient's parts and
the new balances. Lines of a claim are shared in order, each seeing the balances the previous
one left, so a deductible met inside one claim is met for its next line.

Order of application, for a line of allowed amount A:

1. categories in ``no_cost_share`` (in network): the plan pays A;
2. in network, a copay for the category: min(copay, A, out-of-pocket left) is PR-3;
   categories in ``copay_only`` stop here (out of network, copays do not apply);
3. deductible: min(rest, individual left, family left, out-of-pocket left) is PR-1;
4. coinsurance: the plan's percentage of what remains, capped by the out-of-pocket left, PR-2.

A deductible or out-of-pocket maximum of zero means the plan has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from claims_engine.domain.benefits import PlanVersion
from claims_engine.domain.money import ZERO, round_money

HUNDRED = Decimal(100)
UNLIMITED = Decimal("999999999.99")


@dataclass(frozen=True, slots=True)
class Balances:
    """What the member and the family have met so far this plan year, for one network tier."""

    individual_deductible: Decimal = ZERO
    family_deductible: Decimal = ZERO
    individual_oop: Decimal = ZERO
    family_oop: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class CostShare:
    deductible: Decimal
    copay: Decimal
    coinsurance: Decimal
    balances: Balances

    @property
    def patient(self) -> Decimal:
        return self.deductible + self.copay + self.coinsurance


def _left(limit: Decimal, met: Decimal) -> Decimal:
    if limit == ZERO:
        return UNLIMITED
    return max(limit - met, ZERO)


def share_cost(
    allowed: Decimal,
    plan: PlanVersion,
    *,
    category: str,
    in_network: bool,
    balances: Balances,
) -> CostShare:
    """The patient's share of one line (see the module docstring for the order)."""
    zero = CostShare(ZERO, ZERO, ZERO, balances)
    if allowed <= ZERO:
        return zero
    if in_network and category in plan.no_cost_share:
        return zero
    oop_left = min(
        _left(plan.oop_individual.for_network(in_network), balances.individual_oop),
        _left(plan.oop_family.for_network(in_network), balances.family_oop),
    )
    rest = allowed
    copay = ZERO
    if in_network and category in plan.copays:  # out of network: deductible and coinsurance
        copay = min(plan.copays[category], rest, oop_left)
        rest -= copay
        oop_left -= copay
    deductible = coinsurance = ZERO
    if not (in_network and category in plan.copay_only):
        ded_left = min(
            _left(
                plan.deductible_individual.for_network(in_network), balances.individual_deductible
            ),
            _left(plan.deductible_family.for_network(in_network), balances.family_deductible),
        )
        if plan.deductible_individual.for_network(in_network) == ZERO:
            ded_left = ZERO
        deductible = min(rest, ded_left, oop_left)
        rest -= deductible
        oop_left -= deductible
        percent = plan.coinsurance_by_category.get(
            category, plan.coinsurance.for_network(in_network)
        )
        coinsurance = min(round_money(rest * percent / HUNDRED), oop_left)
    paid_by_patient = copay + deductible + coinsurance
    new = Balances(
        individual_deductible=balances.individual_deductible + deductible,
        family_deductible=balances.family_deductible + deductible,
        individual_oop=balances.individual_oop + paid_by_patient,
        family_oop=balances.family_oop + paid_by_patient,
    )
    return CostShare(deductible, copay, coinsurance, new)
