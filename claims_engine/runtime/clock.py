"""The one place the engine reads the wall clock. Only the edges (CLI, workers, adapters) call it;
the core takes times as arguments, so freezegun in tests only has to touch this."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time in UTC, without microseconds (X12 times have minutes at best)."""
    return datetime.now(UTC).replace(microsecond=0, tzinfo=None)
