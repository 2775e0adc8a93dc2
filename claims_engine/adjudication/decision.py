"""What adjudication decides: per line and per claim, in the words of the 835.

Every amount is a :class:`~decimal.Decimal` rounded to the cent. The balancing rules of the
835 hold by construction and are checked by :func:`check_balance`:

* line:  charge - sum(line adjustments) == paid
* claim: charge - sum(claim adjustments) - sum(line adjustments) == paid
* patient responsibility == sum of the PR adjustments (claim and line)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from claims_engine.domain.model import Adjustment, Claim, Procedure
from claims_engine.domain.money import ZERO
from claims_engine.domain.pend_reasons import PendItem, items_from_text


class Outcome(StrEnum):
    PAID = "paid"
    PARTLY_PAID = "partly paid"
    DENIED = "denied"
    PENDED = "pended"


class ClaimStatusCode(StrEnum):
    """CLP02 claim status codes the engine sends."""

    PRIMARY = "1"
    SECONDARY = "2"
    TERTIARY = "3"
    DENIED = "4"
    REVERSAL = "22"


@dataclass(frozen=True, slots=True)
class LineDecision:
    """One service line as adjudicated (an 835 SVC loop)."""

    line_number: int
    procedure: Procedure | None
    revenue_code: str
    charge: Decimal
    units: Decimal
    paid_units: Decimal
    allowed: Decimal
    paid: Decimal
    adjustments: tuple[Adjustment, ...]
    service_from: date | None
    service_to: date | None
    remarks: tuple[str, ...] = ()
    outcome: Outcome = Outcome.PAID
    control_number: str = ""
    original_procedure: Procedure | None = None
    # why, in words, when a stage says more than its codes can: the NCCI edit a line met
    note: str = ""
    # the prior authorization (certification number) and its service the line drew its units
    # on, when a coverage rule required one
    authorization: str = ""
    authorization_service: int = 0

    @property
    def patient_responsibility(self) -> Decimal:
        return sum((a.amount for a in self.adjustments if a.group == "PR"), start=ZERO)


@dataclass(frozen=True, slots=True)
class ClaimDecision:
    """A claim as adjudicated (an 835 CLP loop).

    ``claim_adjustments`` are the claim-level CAS (for example OA-18 on a duplicate, CO-29
    late filing when the whole claim is denied); ``lines`` carry the line-level ones. A
    reversal (``status`` 22) negates every amount of the decision it reverses.
    """

    claim: Claim
    payer_claim_number: str
    status: ClaimStatusCode
    outcome: Outcome
    lines: tuple[LineDecision, ...]
    claim_adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    pend_reason: str = ""  # the pends in words (all a decision stored before codes has)
    rule_pack_version: str = ""
    decided_on: date | None = None
    reverses: str = ""  # payer claim number of the decision this one reverses
    member_id: str = ""  # the member the claim was for, as the payer knows them
    pends: tuple[PendItem, ...] = ()  # why it pends, when it does

    @property
    def pend_items(self) -> tuple[PendItem, ...]:
        """Why the claim pends: its items, or those its free-text reason stands for."""
        return self.pends or items_from_text(self.pend_reason)

    @property
    def charge(self) -> Decimal:
        return sum((ln.charge for ln in self.lines), start=ZERO)

    @property
    def allowed(self) -> Decimal:
        return sum((ln.allowed for ln in self.lines), start=ZERO)

    @property
    def paid(self) -> Decimal:
        claim_level = sum((a.amount for a in self.claim_adjustments), start=ZERO)
        return sum((ln.paid for ln in self.lines), start=ZERO) - claim_level

    @property
    def patient_responsibility(self) -> Decimal:
        claim_level = sum((a.amount for a in self.claim_adjustments if a.group == "PR"), start=ZERO)
        return claim_level + sum((ln.patient_responsibility for ln in self.lines), start=ZERO)


def check_balance(decision: ClaimDecision) -> list[str]:
    """Where a decision breaks the 835 balancing rules (empty when it balances)."""
    problems: list[str] = []
    for ln in decision.lines:
        adjusted = sum((a.amount for a in ln.adjustments), start=ZERO)
        if ln.charge - adjusted != ln.paid:
            problems.append(
                f"line {ln.line_number}: charge {ln.charge} - adjustments {adjusted} "
                f"!= paid {ln.paid}"
            )
    claim_adj = sum((a.amount for a in decision.claim_adjustments), start=ZERO)
    line_adj = sum((a.amount for ln in decision.lines for a in ln.adjustments), start=ZERO)
    if decision.charge - claim_adj - line_adj != decision.paid:
        problems.append(
            f"claim: charge {decision.charge} - adjustments {claim_adj + line_adj} "
            f"!= paid {decision.paid}"
        )
    return problems
