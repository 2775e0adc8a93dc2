"""Adjudicating claims in order with the state they build up: accumulators, the history of
services (duplicates, frequency rules) and the decisions a replacement or void may reverse.

:class:`Ledger` is that state in memory; :func:`adjudicate_in_order` runs claims through
:func:`~claims_engine.adjudication.adjudicate.adjudicate` one after the other, each seeing what
the ones before it left. The persistent pipeline keeps the same state in its store instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal

from claims_engine.adjudication.adjudicate import (
    AccumulatorKey,
    Adjudication,
    AdjudicationContext,
    PriorService,
    adjudicate,
    authorization_draws,
)
from claims_engine.adjudication.decision import ClaimDecision, ClaimStatusCode, Outcome
from claims_engine.domain.benefits import Authorization
from claims_engine.domain.model import Claim
from claims_engine.domain.money import ZERO


@dataclass(slots=True)
class Ledger:
    """Running state of adjudication: what later claims must see of earlier ones."""

    accumulators: dict[AccumulatorKey, Decimal] = field(default_factory=dict)
    # services by the subscriber's member id: a family's history, small whatever the volume
    history: dict[str, list[PriorService]] = field(default_factory=dict)
    decisions: dict[str, ClaimDecision] = field(default_factory=dict)  # by payer claim number
    # approved authorizations by member id, with their units left when read (None: the
    # reference data's), and the units drawn on each (authorization, service) since
    authorizations: dict[str, tuple[Authorization, ...]] | None = None
    authorization_used: dict[tuple[str, int], Decimal] = field(default_factory=dict)

    def record(self, result: Adjudication) -> None:
        for key, change in result.accumulator_changes.items():
            self.accumulators[key] = self.accumulators.get(key, ZERO) + change
        used = self.authorization_used
        for decision in result.decisions:
            if decision.status is ClaimStatusCode.REVERSAL:
                for auth, units in authorization_draws(decision):
                    used[auth] = used.get(auth, ZERO) - units  # given back
                self._forget(decision.reverses)
                continue
            if decision.outcome in (Outcome.PENDED, Outcome.DENIED):
                continue
            for auth, units in authorization_draws(decision):
                used[auth] = used.get(auth, ZERO) + units
            self.decisions[decision.payer_claim_number] = decision
            self.history.setdefault(decision.claim.subscriber.member_id, []).extend(
                services_of(decision)
            )

    def _forget(self, payer_claim_number: str) -> None:
        original = self.decisions.pop(payer_claim_number, None)
        if original is None:
            return
        family = original.claim.subscriber.member_id
        self.history[family] = [
            s for s in self.history.get(family, []) if s.payer_claim_number != payer_claim_number
        ]

    def context_for(self, claim: Claim, context: AdjudicationContext) -> AdjudicationContext:
        """``context`` with what the ledger knows that ``claim`` must see."""
        return replace(
            context,
            accumulators=self.accumulators,
            history=tuple(self.history.get(claim.subscriber.member_id, ())),
            prior_decisions=self.decisions,
            authorizations=(
                self.authorizations if self.authorizations is not None else context.authorizations
            ),
            authorization_used=self.authorization_used,
        )


def services_of(decision: ClaimDecision) -> list[PriorService]:
    """The lines of a standing decision as later claims see them (not its denied lines)."""
    claim = decision.claim
    member = decision.member_id or claim.patient.member_id
    services = []
    for ln in decision.lines:
        if ln.service_from is None or ln.outcome is Outcome.DENIED:
            continue
        code = ln.procedure.code if ln.procedure else ln.revenue_code
        services.append(
            PriorService(
                decision.payer_claim_number,
                claim.claim_id,
                claim.billing_provider.npi,
                member,
                code,
                ln.service_from,
                ln.charge,
                ln.units,
            )
        )
    return services


def adjudicate_in_order(
    claims: Iterable[tuple[Claim, str]],
    context: AdjudicationContext,
    ledger: Ledger | None = None,
) -> Iterator[Adjudication]:
    """Adjudicate ``(claim, payer claim number)`` pairs in order; ``ledger`` carries the state
    (a new one when not given) and is updated as each result is yielded."""
    ledger = ledger if ledger is not None else Ledger()
    for claim, pccn in claims:
        result = adjudicate(claim, ledger.context_for(claim, context), pccn)
        ledger.record(result)
        yield result
