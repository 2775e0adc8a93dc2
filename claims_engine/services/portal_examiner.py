"""What the examiners' pages need beyond :mod:`claims_engine.services.examination`: who the
examiners are. An action records its examiner by key id (an account's is ``web-<user>``); the
pages show the account's email instead, and offer a supervisor the examiners a claim may be
reassigned to, by the API's rule (:func:`claims_engine.services.access.active_examiner`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from claims_engine.services import access
from claims_engine.services.access import EXAMINING, Role
from claims_engine.store.tables import ACCOUNT_EMAIL, accounts_table
from claims_engine.store.vault import current_vault


@dataclass(frozen=True, slots=True)
class Colleague:
    key_id: str
    email: str
    role: Role
    active: bool  # a claim may be reassigned to them now


def colleagues(engine: Engine, now: datetime) -> list[Colleague]:
    """Every examiner and supervisor account, in the order they were made (no other account's
    email is opened)."""
    a = accounts_table.c
    vault = current_vault()
    found = []
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.id, a.key_id, a.role, a.email)
            .where(a.role.in_(sorted(r.value for r in EXAMINING)))
            .order_by(a.id)
        ).all()
        for r in rows:
            found.append(
                Colleague(
                    str(r.key_id),
                    vault.open_text(r.email, ACCOUNT_EMAIL, r.id),
                    Role(r.role),
                    access.active_examiner(conn, str(r.key_id), now),
                )
            )
    return found


def names(found: list[Colleague]) -> dict[str, str]:
    """The email of each examiner's key id."""
    return {c.key_id: c.email for c in found}
