"""Answers from the store: statistics of the pipeline and the status of one claim."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from claims_engine.reasons import describe_adjustment
from claims_engine.store.tables import (
    ClaimState,
    InterchangeState,
    adjudications_table,
    adjustments_table,
    claim_events_table,
    claims_table,
    interchanges_table,
    remittance_claims_table,
    remittances_table,
)

_claims = claims_table
_events = claim_events_table
_adjudications = adjudications_table
_adjustments = adjustments_table
_interchanges = interchanges_table
_remittances = remittances_table
_items = remittance_claims_table


def counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Interchanges and claims by state; every state is listed, with 0 where none are."""
    with engine.connect() as conn:
        ix: dict[str, int] = dict(
            conn.execute(
                select(_interchanges.c.state, func.count()).group_by(_interchanges.c.state)
            ).all()
        )
        cl: dict[str, int] = dict(
            conn.execute(select(_claims.c.state, func.count()).group_by(_claims.c.state)).all()
        )
    return {
        "interchanges": {s.value: int(ix.get(s.value, 0)) for s in InterchangeState},
        "claims": {s.value: int(cl.get(s.value, 0)) for s in ClaimState},
    }


@dataclass(frozen=True, slots=True)
class AdjustmentView:
    line: int | None
    group: str
    reason: str
    amount: Decimal
    description: str


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    actor: str
    from_state: str | None
    to_state: str
    reason: str


@dataclass(slots=True)
class ClaimStatusView:
    """Where a claim stands, for the submitter or the patient."""

    payer_claim_number: str | None
    submitter_claim_id: str
    billing_npi: str
    member_id: str
    claim_type: str
    state: str
    received_on: date
    charge: Decimal
    error: str | None
    allowed: Decimal | None = None
    paid: Decimal | None = None
    patient_responsibility: Decimal | None = None
    outcome: str | None = None
    rule_pack_version: str | None = None
    reversed_by: str | None = None
    remittance_trace: str | None = None
    adjustments: list[AdjustmentView] = field(default_factory=list)
    history: list[EventView] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def money(v: Decimal | None) -> str | None:
            return None if v is None else f"{v:.2f}"

        return {
            "payer_claim_number": self.payer_claim_number,
            "submitter_claim_id": self.submitter_claim_id,
            "billing_npi": self.billing_npi,
            "member_id": self.member_id,
            "claim_type": self.claim_type,
            "state": self.state,
            "received_on": self.received_on.isoformat(),
            "charge": money(self.charge),
            "allowed": money(self.allowed),
            "paid": money(self.paid),
            "patient_responsibility": money(self.patient_responsibility),
            "outcome": self.outcome,
            "error": self.error,
            "rule_pack_version": self.rule_pack_version,
            "reversed_by": self.reversed_by,
            "remittance_trace": self.remittance_trace,
            "adjustments": [
                {
                    "line": a.line,
                    "group": a.group,
                    "reason": a.reason,
                    "amount": money(a.amount),
                    "description": a.description,
                }
                for a in self.adjustments
            ],
            "history": [
                {
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "from": e.from_state,
                    "to": e.to_state,
                    "reason": e.reason,
                }
                for e in self.history
            ],
        }


def find_claims(engine: Engine, key: str, billing_npi: str | None = None) -> list[int]:
    """Claim row ids for a payer claim control number, or for a submitter claim id (CLM01)
    with the billing NPI (several when a provider reused a claim id across files)."""
    c = _claims.c
    with engine.connect() as conn:
        if billing_npi is None:
            found = conn.execute(select(c.id).where(c.payer_claim_number == key)).scalars()
        else:
            found = conn.execute(
                select(c.id)
                .where(c.submitter_claim_id == key, c.billing_npi == billing_npi)
                .order_by(c.id)
            ).scalars()
        return [int(i) for i in found]


def claim_status(engine: Engine, claim_row_id: int) -> ClaimStatusView:
    with engine.connect() as conn:
        return _status(conn, claim_row_id)


def _status(conn: Connection, claim_row_id: int) -> ClaimStatusView:
    c = _claims.c
    row = conn.execute(select(_claims).where(c.id == claim_row_id)).one()
    view = ClaimStatusView(
        payer_claim_number=row.payer_claim_number,
        submitter_claim_id=row.submitter_claim_id,
        billing_npi=row.billing_npi,
        member_id=row.member_id,
        claim_type=row.claim_type,
        state=row.state,
        received_on=row.received_on,
        charge=row.total_charge,
        error=row.error,
    )
    a = _adjudications.c
    decision = conn.execute(
        select(_adjudications).where(a.claim_id == claim_row_id, a.kind == "decision")
    ).first()
    if decision is not None:
        view.allowed = decision.allowed
        view.paid = decision.paid
        view.patient_responsibility = decision.patient_responsibility
        view.outcome = decision.outcome
        view.rule_pack_version = decision.rule_pack_version
        view.reversed_by = decision.reversed_by
        if decision.pend_reason:
            view.error = view.error or decision.pend_reason
        j = _adjustments.c
        for adj in conn.execute(
            select(_adjustments).where(j.adjudication_id == decision.id).order_by(j.id)
        ):
            view.adjustments.append(
                AdjustmentView(
                    adj.line_number,
                    adj.group_code,
                    adj.reason_code,
                    adj.amount,
                    describe_adjustment(adj.group_code, adj.reason_code, adj.amount),
                )
            )
        trace = conn.execute(
            select(_remittances.c.trace_number)
            .join(_items, _items.c.remittance_id == _remittances.c.id)
            .where(_items.c.adjudication_id == decision.id)
        ).scalar()
        view.remittance_trace = trace
    e = _events.c
    for ev in conn.execute(select(_events).where(e.claim_id == claim_row_id).order_by(e.id)):
        view.history.append(EventView(ev.at, ev.actor, ev.from_state, ev.to_state, ev.reason))
    return view
