"""The coverage-rules stage: a :class:`~claims_engine.rules.engine.RulePack` seen from adjudication.

:func:`rule_hook` turns a pack into the hook :func:`~claims_engine.adjudication.adjudicate.
adjudicate` calls for each line: it builds the line's facts and the member's history for the
plan year, evaluates the pack (spending the claim's evaluation budget, which the line context
carries), and translates the actions into :class:`RuleOutcome` values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal

from claims_engine.adjudication.adjudicate import LineContext, PriorService, RuleHook, RuleOutcome
from claims_engine.domain.model import Claim, ServiceLine
from claims_engine.rules.engine import (
    CapUnits,
    Deny,
    MemberHistory,
    Pend,
    RequireAuthorization,
    RulePack,
    SetCategory,
    line_facts,
)


def rule_hook(pack: RulePack) -> RuleHook:
    """The adjudication hook that applies ``pack`` to each line."""

    def hook(claim: Claim, line: ServiceLine, ctx: LineContext) -> Sequence[RuleOutcome]:
        if line.service_from is None:  # facility lines dated by the statement
            line = replace(line, service_from=ctx.service_date)
        facts = line_facts(
            claim,
            line,
            member_birth_date=ctx.member.birth_date,
            member_sex=ctx.member.sex,
            plan_id=ctx.plan.id,
            network="in" if ctx.in_network else "out",
            category=ctx.category,
        )
        year = ctx.plan.plan_year(ctx.service_date)
        history = MemberHistory(plan_year_start=year, services=_FromYear(ctx.history, year))
        outcomes: list[RuleOutcome] = []
        for action in pack.evaluate(facts, history, ctx.rule_budget):
            if isinstance(action, SetCategory):
                outcomes.append(
                    RuleOutcome("set_category", action.rule_id, category=action.category)
                )
            elif isinstance(action, Deny):
                outcomes.append(
                    RuleOutcome(
                        "deny", action.rule_id, action.group, action.carc, _first(action.rarcs)
                    )
                )
            elif isinstance(action, Pend):
                outcomes.append(
                    RuleOutcome("pend", action.rule_id, reason=action.reason, pend_code=action.code)
                )
            elif isinstance(action, RequireAuthorization):
                outcomes.append(
                    RuleOutcome(
                        "require_authorization",
                        action.rule_id,
                        action.group,
                        action.carc,
                        _first(action.rarcs),
                    )
                )
            elif isinstance(action, CapUnits):
                outcomes.append(
                    RuleOutcome(
                        "cap_units",
                        action.rule_id,
                        action.group,
                        action.carc,
                        _first(action.rarcs),
                        units=Decimal(action.max_units),
                    )
                )
        return outcomes

    return hook


def _first(rarcs: Sequence[str]) -> str:
    return rarcs[0] if rarcs else ""


class _FromYear:
    """The member's services from the start of a plan year, as (date, code, units), read only
    when a rule asks: most lines meet no rule that looks at history, and the history of a
    member with many claims is long."""

    __slots__ = ("history", "start")

    def __init__(self, history: Sequence[PriorService], start: date) -> None:
        self.history = history
        self.start = start

    def __iter__(self) -> Iterator[tuple[date, str, Decimal]]:
        start = self.start
        for s in self.history:
            if s.service_date >= start:
                yield s.service_date, s.procedure, s.units
