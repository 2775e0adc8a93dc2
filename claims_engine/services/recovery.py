"""Work a crash or a lost queue left undone, found from the store (the source of truth).

Messages can be lost (a Redis restart without persistence, a worker killed while holding a
message, retries given up). Everything they carried is also in the store as a state: an
interchange still ``received`` waits for its intake, a claim still ``accepted`` waits for its
adjudication. :func:`stale_work` lists what has waited since before ``before``; enqueuing it
again is safe, since the services do nothing for work already done.
"""

from __future__ import annotations

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
    interchanges: list[int] = field(default_factory=list)
    claim_batches: list[list[int]] = field(default_factory=list)

    @property
    def claims(self) -> int:
        return sum(len(b) for b in self.claim_batches)


def stale_work(engine: Engine, before: datetime) -> StaleWork:
    """Interchanges not ingested and claims not adjudicated, untouched since ``before``."""
    i, c = _interchanges.c, _claims.c
    with engine.connect() as conn:
        interchanges = conn.execute(
            select(i.id)
            .where(i.state == InterchangeState.RECEIVED, i.received_at <= before)
            .order_by(i.id)
        ).scalars()
        work = StaleWork(interchanges=[int(x) for x in interchanges])
        rows = conn.execute(
            select(c.id, c.family)
            .where(c.state == ClaimState.ACCEPTED, c.updated_at <= before)
            .order_by(c.interchange_id, c.ordinal)
        ).all()
    work.claim_batches = family_batches((int(r.id), str(r.family)) for r in rows)
    return work
