"""Pricing: the allowed amount of a line, and what the provider writes off.

Professional and dental lines are priced from the fee schedule (procedure, modifier, place of
service, date of service) times the units; institutional lines from the facility rate of their
revenue code (a per diem times the days, a percentage of the charge, or a rate per unit), and
from the fee schedule when the revenue code has no rate but the line carries a HCPCS code.
Allowed is the lesser of the charge and that price. Out of network, the plan's method applies:
a percentage of the fee schedule, the billed charges, or nothing at all.

Several surgical procedures on one day are reduced (CO-59): the one with the highest allowed
amount is paid in full, each other one at half.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from claims_engine.domain.benefits import FeeSchedule, PlanVersion, RevenueRates
from claims_engine.domain.model import ServiceLine
from claims_engine.domain.money import ZERO, round_money

HUNDRED = Decimal(100)
MULTIPLE_PROCEDURE_RATE = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class Price:
    """``allowed`` is ``None`` when nothing on file prices the line."""

    allowed: Decimal | None
    covered: bool = True  # False: out of network on a plan that pays nothing there


def fee_for(
    line: ServiceLine, place: str, day: date, fees: FeeSchedule, rates: RevenueRates
) -> Decimal | None:
    """The price on file for the whole line (all its units), before comparing to the charge."""
    if line.revenue_code:
        rate = rates.rate(line.revenue_code, day)
        if rate is not None:
            if rate.basis == "percent_of_charge":
                return round_money(line.charge * rate.rate / HUNDRED)
            return round_money(rate.rate * line.units)
    proc = line.procedure
    if proc is None:
        return None
    fee = fees.allowed(proc.code, proc.modifiers, place, day)
    return None if fee is None else round_money(fee * line.units)


def price_line(
    line: ServiceLine,
    *,
    place: str,
    day: date,
    plan: PlanVersion,
    in_network: bool,
    category: str,
    fees: FeeSchedule,
    rates: RevenueRates,
) -> Price:
    """The allowed amount of one line under the plan's network rules."""
    if not in_network and plan.out_of_network_method == "not_covered":
        if category not in plan.out_of_network_except:
            return Price(ZERO, covered=False)
        in_network = True  # an exception (emergencies) is priced as in network
    if not in_network and plan.out_of_network_method == "billed_charges":
        return Price(line.charge)
    fee = fee_for(line, place, day, fees, rates)
    if fee is None:
        return Price(None)
    if not in_network:
        fee = round_money(fee * plan.out_of_network_percent / HUNDRED)
    return Price(min(line.charge, fee))


def is_surgical(code: str) -> bool:
    return len(code) == 5 and code.isdigit() and "10000" <= code <= "69999"


def multiple_procedure_reductions(
    lines: list[tuple[ServiceLine, Decimal, date]],
) -> dict[int, Decimal]:
    """CO-59 amounts by line number: on each day, every surgical line but the most expensive
    is allowed at half. ``lines`` holds (line, allowed, date of service)."""
    by_day: dict[date, list[tuple[ServiceLine, Decimal]]] = {}
    for line, allowed, day in lines:
        proc = line.procedure
        if proc is not None and is_surgical(proc.code) and allowed > ZERO:
            by_day.setdefault(day, []).append((line, allowed))
    reductions: dict[int, Decimal] = {}
    for group in by_day.values():
        if len(group) < 2:
            continue
        ordered = sorted(group, key=lambda item: (-item[1], item[0].number))
        for line, allowed in ordered[1:]:
            reductions[line.number] = round_money(allowed * (1 - MULTIPLE_PROCEDURE_RATE))
    return reductions
