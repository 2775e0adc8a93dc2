"""Cost sharing, worked by hand against the Gold PPO of fixtures/reference/plans.yaml:
deductible 500 individual / 1,000 family in network, out-of-pocket maximum 3,000 / 6,000,
coinsurance 20% in network, office visit copay 25 (copay only), emergency copay 250 (then
deductible and coinsurance), preventive without cost share."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from claims_engine.adjudication.cost_share import Balances, share_cost
from claims_engine.domain.benefits import PlanVersion, load_plans
from tests.conftest import FIXTURES

PLANS = load_plans(FIXTURES / "reference" / "plans.yaml")


def _gold() -> PlanVersion:
    version = PLANS["PPO-GOLD"].version_on(date(2026, 6, 1))
    assert version is not None
    return version


D = Decimal


def test_copay_office_visit() -> None:
    # allowed 88.20: copay 25.00, nothing towards the deductible; the plan pays 63.20
    share = share_cost(
        D("88.20"), _gold(), category="office_visit", in_network=True, balances=Balances()
    )
    assert (share.copay, share.deductible, share.coinsurance) == (D("25.00"), D("0"), D("0"))
    assert share.balances.individual_oop == D("25.00")
    assert share.balances.individual_deductible == 0


def test_deductible_partly_met_then_coinsurance() -> None:
    # 400 met; allowed 300: deductible 100 (to reach 500), coinsurance 20% of 200 = 40
    share = share_cost(
        D("300.00"),
        _gold(),
        category="imaging",
        in_network=True,
        balances=Balances(D("400"), D("400"), D("400"), D("400")),
    )
    assert (share.deductible, share.coinsurance, share.copay) == (D("100.00"), D("40.00"), D("0"))
    assert share.balances.individual_deductible == D("500.00")
    assert share.balances.individual_oop == D("540.00")


def test_coinsurance_after_deductible_met_with_rounding() -> None:
    # deductible met; allowed 123.45: 20% = 24.69
    share = share_cost(
        D("123.45"),
        _gold(),
        category="lab",
        in_network=True,
        balances=Balances(D("500"), D("500"), D("500"), D("500")),
    )
    assert (share.deductible, share.coinsurance) == (D("0.00"), D("24.69"))


def test_out_of_pocket_maximum_caps_the_share() -> None:
    # 2,990 paid towards 3,000: allowed 1,000 with the deductible met → coinsurance 200,
    # capped at the 10 left
    share = share_cost(
        D("1000.00"),
        _gold(),
        category="inpatient",
        in_network=True,
        balances=Balances(D("500"), D("500"), D("2990"), D("2990")),
    )
    assert share.coinsurance == D("10.00")
    assert share.balances.individual_oop == D("3000.00")
    again = share_cost(
        D("50.00"), _gold(), category="office_visit", in_network=True, balances=share.balances
    )
    assert again.patient == 0  # the maximum is reached: no more copays either


def test_family_deductible_met_by_two_members() -> None:
    # family deductible 1,000: another member has put 800 in; this member 0 of their 500.
    # allowed 400: only 200 is left of the family deductible, then 20% of 200 = 40
    share = share_cost(
        D("400.00"),
        _gold(),
        category="imaging",
        in_network=True,
        balances=Balances(D("0"), D("800"), D("0"), D("800")),
    )
    assert (share.deductible, share.coinsurance) == (D("200.00"), D("40.00"))
    assert share.balances.family_deductible == D("1000.00")


def test_emergency_copay_then_deductible_and_coinsurance() -> None:
    # allowed 1,000 at the emergency room, nothing met: copay 250, deductible 500,
    # coinsurance 20% of 250 = 50; the patient owes 800
    share = share_cost(
        D("1000.00"), _gold(), category="emergency", in_network=True, balances=Balances()
    )
    assert (share.copay, share.deductible, share.coinsurance) == (
        D("250.00"),
        D("500.00"),
        D("50.00"),
    )
    assert share.patient == D("800.00")


def test_preventive_in_network_is_free_out_of_network_is_not() -> None:
    free = share_cost(
        D("150.00"), _gold(), category="preventive", in_network=True, balances=Balances()
    )
    assert free.patient == 0
    # out of network: out-of-network deductible 1,000 takes all 150
    paid = share_cost(
        D("150.00"), _gold(), category="preventive", in_network=False, balances=Balances()
    )
    assert paid.deductible == D("150.00")


@pytest.mark.parametrize("allowed", [D("0.00"), D("-5.00")])
def test_nothing_to_share(allowed: Decimal) -> None:
    assert (
        share_cost(allowed, _gold(), category="lab", in_network=True, balances=Balances()).patient
        == 0
    )


def test_dental_coinsurance_by_category() -> None:
    dental = PLANS["DENTAL-BASIC"].version_on(date(2026, 6, 1))
    assert dental is not None
    # major service allowed 1,000, deductible 50 not met: 50 deductible, 50% of 950 = 475
    share = share_cost(
        D("1000.00"), dental, category="dental_major", in_network=True, balances=Balances()
    )
    assert (share.deductible, share.coinsurance) == (D("50.00"), D("475.00"))
    # preventive: nothing
    assert (
        share_cost(
            D("100.00"), dental, category="dental_preventive", in_network=True, balances=Balances()
        ).patient
        == 0
    )
