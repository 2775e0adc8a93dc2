"""What examiners decide about a pended claim, as input to adjudicating it again.

An examiner's actions on a pended claim do not edit its decision: they become
:class:`Directives` that :func:`~claims_engine.adjudication.adjudicate.adjudicate` takes with the
claim, so a released, priced or overridden claim goes through every stage again (eligibility,
duplicates, rules, pricing, cost share, coordination of benefits) and its amounts, accumulators
and 835 follow as for any claim:

- ``resolved``: pend reasons, by ``(code, line)``, that no longer pend the claim (a resolved
  cause does not pend it again; a new cause still does);
- ``prices``: a line's allowed amount set by the examiner (accepting the charge is a price of
  the charge), used in place of the fee schedule;
- ``overrides``: lines whose coverage-rule denial (or missing authorization) the examiner
  overrode;
- ``denials``: lines the examiner denied, with group code, CARC and RARCs; line 0 denies the
  whole claim.

Pure: values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class Denial:
    group: str
    carc: str
    rarcs: tuple[str, ...] = ()


_EMPTY_PRICES: Mapping[int, Decimal] = MappingProxyType({})
_EMPTY_DENIALS: Mapping[int, Denial] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Directives:
    resolved: frozenset[tuple[str, int]] = frozenset()
    prices: Mapping[int, Decimal] = field(default_factory=lambda: _EMPTY_PRICES)
    overrides: frozenset[int] = frozenset()
    denials: Mapping[int, Denial] = field(default_factory=lambda: _EMPTY_DENIALS)

    def __bool__(self) -> bool:
        return bool(self.resolved or self.prices or self.overrides or self.denials)


NONE = Directives()
