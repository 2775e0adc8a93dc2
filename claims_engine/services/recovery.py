"""Work a crash or a lost queue left undone, found from the store (the source of truth).

Messages can be lost (a Redis restart without persistence, a worker killed while holding a
message, retries given up). Everything they carried is also in the store as a state: an 837
interchange still ``received`` waits for its intake, an 834 still ``received`` waits to be
applied to the enrollment, a claim still ``accepted`` waits for its adjudication (an 834's
readjusted claims among them). :func:`stale_work` lists what has waited since before
``before``; enqueuing it again is safe, since the services do nothing for work already done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, select

from claims_engine.services.intake import family_batches
from claims_engine.store.tables import (
    ClaimState,
    InterchangeState,
    claims_table,
    interchanges_table,
)

_claims = claims_table
_interchanges = interchanges_table


@dataclass(slots=True)
class StaleWork:
    interchanges: list[int] = field(default_factory=list)  # 837s for the intake
    claim_batches: list[list[int]] = field(default_factory=list)
    enrollments: list[int] = field(default_factory=list)  # 834s to apply to the enrollment

    @property
    def claims(self) -> int:
        return sum(len(b) for b in self.claim_batches)


def stale_work(engine: Engine, before: datetime) -> StaleWork:
    """Interchanges not ingested (837s) or not applied (834s) and claims not adjudicated,
    untouched since ``before``."""
    i, c = _interchanges.c, _claims.c
    with engine.connect() as conn:
        received = conn.execute(
            select(i.id, i.transaction_set)
            .where(i.state == InterchangeState.RECEIVED, i.received_at <= before)
            .order_by(i.id)
        ).all()
        work = StaleWork(
            interchanges=[int(r.id) for r in received if r.transaction_set == "837"],
            enrollments=[int(r.id) for r in received if r.transaction_set == "834"],
        )
        rows = conn.execute(
            select(c.id, c.family)
            .where(c.state == ClaimState.ACCEPTED, c.updated_at <= before)
            .order_by(c.interchange_id, c.ordinal)
        ).all()
    work.claim_batches = family_batches((int(r.id), str(r.family)) for r in rows)
    return work


def claim_batches(engine: Engine, claim_ids: Iterable[int]) -> list[list[int]]:
    """The claims among ``claim_ids`` still waiting for adjudication (``accepted``), in family
    batches (:func:`~claims_engine.services.intake.family_batches`), in the order they were
    stored: what an 834 sent back to adjudication, for the adjudication actor or the command."""
    ids = sorted(set(claim_ids))
    if not ids:
        return []
    c = _claims.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(c.id, c.family)
            .where(c.id.in_(ids), c.state == ClaimState.ACCEPTED)
            .order_by(c.interchange_id, c.ordinal)
        ).all()
    return family_batches((int(r.id), str(r.family)) for r in rows)
