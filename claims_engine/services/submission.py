"""Whether an 837 a key (or a web account) sends is taken, and what the sender is told: the one
decision behind ``POST /v1/interchanges`` and the provider portal's upload.

:func:`accept_837` refuses, storing nothing, a body sent under sender ids not the principal's
(:func:`access.sending_refusal`), one that could yield nothing (:func:`intake.preflight`: not
X12, every interchange refused by a TA1, no transaction set accepted in a 999), claims billed
under NPIs a provider does not hold, and a duplicate interchange (the TA1 025); otherwise it
stores the interchange (:func:`intake.submit`) for the intake to read. Queueing it for the
workers is the adapter's (the API's app does it for both). A refusal carries the HTTP status
the API answers it with, a code, a reason in words and the acknowledgment that says why when
there is one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from claims_engine.domain.errors import ClaimsEngineError
from claims_engine.front_end.edits import ALL_LEVELS
from claims_engine.services import access
from claims_engine.services.access import Principal, Role
from claims_engine.services.intake import preflight, submit


@dataclass(frozen=True, slots=True)
class Submitted:
    """A stored interchange, to be read by the intake."""

    interchange_id: int
    claims: int  # claims read in it, accepted or not


@dataclass(frozen=True, slots=True)
class Refused:
    """A body not stored (or a duplicate of one stored before)."""

    status: int  # what the API answers: 400, 403, 409 or 422
    code: str
    reason: str
    acknowledgment: str | None = None  # the TA1 or 999 saying why


def accept_837(
    engine: Engine,
    raw: bytes,
    principal: Principal,
    now: datetime,
    levels: frozenset[int] = ALL_LEVELS,
    *,
    file_name: str = "api-submission",
) -> Submitted | Refused:
    """Store ``raw`` sent by ``principal`` as a new interchange, or say why not."""
    if principal.role not in (Role.PROVIDER, Role.INSURER):
        return Refused(403, "forbidden", "only provider and insurer keys submit claims")
    # under sender ids not the key's: refused before the body is read whole, answered with
    # nothing of it (no TA1 or 999 of another's interchange)
    refusal = access.sending_refusal(principal, raw)
    if refusal is not None:
        return Refused(403, "forbidden", refusal)
    check = preflight(raw, now, levels)
    if not check.usable:
        status = 422 if check.kind == "999" else 400
        code = {"ta1": "interchange_refused", "999": "transaction_sets_rejected"}.get(
            check.kind, "not_x12"
        )
        return Refused(status, code, check.reason, check.acknowledgment or None)
    if principal.role is Role.PROVIDER and not check.billing_npis <= principal.npis:
        foreign = ", ".join(sorted(check.billing_npis - principal.npis)[:5])
        return Refused(
            403, "forbidden", f"claims billed under NPIs this key does not hold: {foreign}"
        )
    try:
        sub = submit(engine, raw, file_name, now, submitted_by=principal.key_id)
    except ClaimsEngineError as exc:
        return Refused(400, "not_x12", str(exc))
    if sub.duplicate:
        return Refused(
            409,
            "duplicate_interchange",
            f"sender {sub.sender_id} ISA13 {sub.control_number} was received before",
            sub.ta1 or None,
        )
    return Submitted(sub.interchange_id, check.claims)
