"""What a requester polls for: the prior authorizations decided since a moment, a page at a time.

:func:`answered_page` is ``GET /v1/authorizations?answered_since=...&after=...``: the requests
that were pended and have since been decided (by a reviewer: decided after they were received;
those the rules decided at once were answered then), oldest decision first, only those the
asker may see (a provider key: its NPIs' requests, requesting or servicing; a member key: its
own and its dependants'; the insurer and examiners: all), as
:func:`claims_engine.services.authorizations.answered_since` selects them, with a cursor
(the last decision's time and number) so that a page never skips or repeats one. Each is read
back through :func:`claims_engine.services.authorizations.inquire` with the same asker, so the
scope is checked twice and the view is the service's own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, or_, select

from claims_engine.services import authorizations as pa
from claims_engine.store.tables import prior_authorizations_table

_auths = prior_authorizations_table
_CURSOR = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)~([A-Za-z0-9]{1,30})\Z")


@dataclass(frozen=True, slots=True)
class AnsweredPage:
    """One page of decisions, and the cursor of the next (``None``: this is the last)."""

    items: Sequence[pa.AuthorizationView]
    next_cursor: str | None


def _cursor(decided_at: datetime, number: str) -> str:
    """The cursor that continues after the decision of ``number`` at ``decided_at``."""
    return f"{decided_at.isoformat()}~{number}"


def parse_cursor(text: str) -> tuple[datetime, str]:
    """A cursor of a page's ``next_cursor``. Raises :class:`ValueError` for anything else."""
    found = _CURSOR.match(text)
    if found is None:
        raise ValueError(f"{text[:40]!r} is not a page cursor (give the `next` link's)")
    return datetime.fromisoformat(found.group(1)), found.group(2)


def answered_page(
    engine: Engine,
    asker: pa.Asker | None,
    since: datetime,
    *,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> AnsweredPage:
    """The pended requests decided at or after ``since`` (naive UTC, as the store keeps
    times) that ``asker`` may see, oldest decision first, at most ``limit``, after the cursor
    ``after`` (:func:`parse_cursor`)."""
    c = _auths.c
    query = select(c.number, c.decided_at).where(
        c.decided_at >= since, c.decided_at > c.received_at
    )
    scope = pa.visible_to(asker)
    if scope is not None:
        query = query.where(scope)
    if after is not None:
        at, number = after
        query = query.where(or_(c.decided_at > at, and_(c.decided_at == at, c.number > number)))
    query = query.order_by(c.decided_at, c.number).limit(limit + 1)
    with engine.connect() as conn:
        rows = [(str(r.number), r.decided_at) for r in conn.execute(query)]
    items: list[pa.AuthorizationView] = []
    for number, _at in rows[:limit]:
        try:
            items.append(pa.inquire(engine, asker, number=number))
        except pa.AuthorizationNotFound:  # not the asker's after all: left out
            continue
    if len(rows) <= limit:
        return AnsweredPage(items, None)
    number, at = rows[limit - 1]
    return AnsweredPage(items, _cursor(at, number))
