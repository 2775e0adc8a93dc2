"""The prompt-payment report: how many of the clean claims received in a range were decided
within 30 and within 90 days of their receipt, as a share of them, by plan.

Regulators measure payers this way (Medicaid fee-for-service and managed care: 90% of clean
claims paid within 30 days of receipt, 99% within 90, 42 CFR 447.45(d) and 447.46; Medicare
Advantage: 95% within 30 days for claims of providers without a contract, 42 CFR 422.520(a);
most states 30 or 45 days). The engine's terms:

- **received in the range**: claims the intake accepted (they have a payer claim number) with a
  receipt date (``claims.received_on``) from ``since`` to ``until``, both included. A claim
  rejected at intake was returned unprocessable on its 277CA and is no claim of the plan's to
  decide; a void (frequency 8) asks for no payment: neither is counted.
- **clean**: a claim "that can be processed without obtaining additional information from the
  provider of the service or from a third party" (42 CFR 447.45(b)); one with no "defect,
  impropriety, lack of any required substantiating documentation ... or particular
  circumstance requiring special treatment that prevents timely payment" (42 CFR 422.500).
  Here: a claim for which no examiner ever asked its provider for information (it never had an
  ``INFO-REQUESTED`` pend item, answered or not). A claim pended for the plan's own reasons
  (high dollar, pricing, a coverage rule's review, the engine's own errors) stays clean: the
  delay is the payer's, and Medicaid's definition counts "a claim with errors originating in a
  State's claims system" as clean.
- **decided**: the first decision that is not ``pended``: the first time the claim became
  ``adjudicated`` (its ``claim_events``), or, for a store without that event, the time of its
  standing decision when that decision is not pended. Paid, partly paid and denied alike are
  decided. The days to decide are calendar days from the receipt date to that day.
- **plan**: the plan of the member the decision was for (the decision's ``member_id`` in the
  reference data in force), else that of the claim's patient as the intake knew them; a claim
  whose member the reference data does not know is under plan ``""`` (unknown).

Claims not decided yet count as received and clean but not as decided within either bound; a
range that ends less than 90 days before the report is run is therefore not final. Reads only;
no clock: the range is the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine, exists, func, select

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.pend_reasons import INFO_REQUESTED
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.services.queries import identity_of
from claims_engine.store.tables import (
    DECISION,
    ClaimState,
    adjudications_table,
    claim_events_table,
    claims_table,
    pend_items_table,
)
from claims_engine.store.vault import current_vault

BOUNDS = (30, 90)  # days from receipt to decision the report counts claims within
UNKNOWN_PLAN = ""
_CHUNK = 2000  # claims read at a time
_TENTH = Decimal("0.1")
_VOID = "8"


@dataclass(slots=True)
class PromptPayLine:
    """One plan's (or, with ``plan_id`` None, every plan's) clean claims and how soon they were
    decided."""

    plan_id: str | None
    plan_name: str
    received: int = 0  # claims received in the range, clean or not
    clean: int = 0
    decided: int = 0  # clean claims decided (at any time)
    within: dict[int, int] = field(default_factory=lambda: dict.fromkeys(BOUNDS, 0))

    @property
    def not_clean(self) -> int:
        return self.received - self.clean

    @property
    def undecided(self) -> int:
        return self.clean - self.decided

    def percent(self, days: int) -> Decimal | None:
        """The share of clean claims decided within ``days``, in percent to a tenth (half up);
        None when there is no clean claim."""
        if not self.clean:
            return None
        share = Decimal(100 * self.within[days]) / Decimal(self.clean)
        return share.quantize(_TENTH, rounding=ROUND_HALF_UP)

    def count(self, clean: bool, days: int | None) -> None:
        self.received += 1
        if not clean:
            return
        self.clean += 1
        if days is None:
            return
        self.decided += 1
        for bound in BOUNDS:
            if days <= bound:
                self.within[bound] += 1

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "plan_id": self.plan_id,
            "plan_name": self.plan_name,
            "received": self.received,
            "clean": self.clean,
            "not_clean": self.not_clean,
            "decided": self.decided,
            "undecided": self.undecided,
        }
        for bound in BOUNDS:
            pct = self.percent(bound)
            data[f"within_{bound}_days"] = self.within[bound]
            data[f"within_{bound}_days_percent"] = None if pct is None else float(pct)
        return data


@dataclass(frozen=True, slots=True)
class PromptPayReport:
    since: date
    until: date
    plans: tuple[PromptPayLine, ...]  # by plan id, the unknown plan last
    total: PromptPayLine

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "bounds_days": list(BOUNDS),
            "plans": [p.as_json() for p in self.plans],
            "total": self.total.as_json(),
        }


def prompt_pay(
    engine: Engine, reference: ReferenceData, since: date, until: date
) -> PromptPayReport:
    """The report of the clean claims received from ``since`` to ``until`` (both included);
    see the module docstring for the terms. ``reference`` names the plans of the members."""
    if since > until:
        raise ConfigurationError(
            f"the range is empty: --since {since.isoformat()} is after --until {until.isoformat()}"
        )
    by_plan: dict[str, PromptPayLine] = {}
    total = PromptPayLine(None, "all plans")
    for plan_id, clean, days in _claims(engine, reference, since, until):
        line = by_plan.get(plan_id)
        if line is None:
            plan = reference.plans.get(plan_id)
            name = plan.name if plan is not None else "unknown plan"
            line = by_plan[plan_id] = PromptPayLine(plan_id, name)
        line.count(clean, days)
        total.count(clean, days)
    order = sorted(by_plan, key=lambda p: (p == UNKNOWN_PLAN, p))
    return PromptPayReport(since, until, tuple(by_plan[p] for p in order), total)


def _claims(
    engine: Engine, reference: ReferenceData, since: date, until: date
) -> Iterator[tuple[str, bool, int | None]]:
    """Each claim received in the range: its plan, whether it is clean, and the days from its
    receipt to its decision (None while it is undecided)."""
    c, a, e, i = claims_table.c, adjudications_table.c, claim_events_table.c, pend_items_table.c
    first_decided = (
        select(func.min(e.at))
        .where(e.claim_id == c.id, e.to_state == ClaimState.ADJUDICATED.value)
        .scalar_subquery()
    )
    asked = exists().where(i.claim_id == c.id, i.code == INFO_REQUESTED)
    query = (
        select(
            c.id,
            c.received_on,
            c.identity,
            a.id.label("decision_id"),
            a.outcome,
            a.decided_at,
            a.decision,
            first_decided.label("first_decided"),
            asked.label("asked"),
        )
        .outerjoin(adjudications_table, (a.claim_id == c.id) & (a.kind == "decision"))
        .where(
            c.payer_claim_number.is_not(None),
            c.received_on >= since,
            c.received_on <= until,
            c.frequency != _VOID,
        )
        .order_by(c.id)
    )
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(query.where(c.id > last).limit(_CHUNK)).all()
        if not rows:
            return
        last = int(rows[-1].id)
        for r in rows:
            decided = _decided(r)
            days = None if decided is None else max(0, (decided.date() - r.received_on).days)
            yield _plan_of(r, reference), not bool(r.asked), days


def _decided(row: Any) -> datetime | None:
    first: datetime | None = row.first_decided
    if isinstance(first, str):  # an aggregate's value as SQLite may hand it back
        first = datetime.fromisoformat(first)
    if first is not None:
        return first
    if row.decision_id is not None and row.outcome != "pended":
        decided_at: datetime = row.decided_at
        return decided_at
    return None


def _plan_of(row: Any, reference: ReferenceData) -> str:
    """The plan of the member the claim's decision was for, else of its patient."""
    members = []
    if row.decision_id is not None:
        document = current_vault().open_json(row.decision, DECISION, row.decision_id)
        if isinstance(document, dict):
            members.append(str(document.get("member_id") or ""))
    members.append(identity_of(row).member_id)
    for member_id in members:
        member = reference.members.get(member_id) if member_id else None
        if member is not None:
            return member.plan_id
    return UNKNOWN_PLAN
