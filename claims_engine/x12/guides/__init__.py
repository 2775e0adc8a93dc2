"""Implementation-guide structure tables, one JSON per transaction (data, not code).

``837p`` (005010X222A1), ``837i`` (005010X223A2), ``837d`` (005010X224A2), ``276``
(005010X212), ``834`` (005010X220A1) and ``270`` (005010X279A1): the loop tree with usages and
repeats, each segment place with its qualifier, syntax rules and elements (usage, type,
lengths, codes). See README.md beside this file for their sources, licence and how they are
regenerated (tests/guides/derive_guides.py).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

GUIDE_NAMES = ("837p", "837i", "837d", "276", "834", "270")


def load_guide(name: str) -> dict[str, Any]:
    """The table of one transaction: ``load_guide("837p")``."""
    if name not in GUIDE_NAMES:
        raise KeyError(f"no guide table {name!r}; known: {', '.join(GUIDE_NAMES)}")
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table
