"""Enrollment records: coverage spans, sponsors, members as the store keeps them.

A member's coverage is a tuple of :class:`~claims_engine.domain.reference_data.CoverageSpan`
(plan, first and last day, insurance line) on the
:class:`~claims_engine.domain.reference_data.Member` record; the store keeps every version of
every member with the time the payer learnt it (see :mod:`claims_engine.services.members`),
so "what was true on a day" is in the spans and "since when the payer knew it" is in the
version. What an 834 does to members is :mod:`claims_engine.enrollment.maintenance`'s.

A :class:`Sponsor` (an employer, exchange or agency, from the reference data's
``sponsors.yaml``) says which groups its files may enroll, its plan for each insurance line, and
what its full files do to members they leave out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import yaml

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Address
from claims_engine.domain.reference_data import CoverageSpan, Member, member_with_spans

# When a member missing from a full file is terminated (a sponsor's ``full_file.terminate_on``).
TERMINATE_ON = ("day_before_file", "end_of_month", "end_of_previous_month")


@dataclass(frozen=True, slots=True)
class Sponsor:
    """An employer, exchange or agency that sends enrollment (N1*P5 N104 of its 834s): the
    groups (REF*1L) its members may be in, its plan for each insurance line (HD03) an HD04
    does not name, and what a full file does to members it leaves out."""

    id: str
    name: str
    groups: tuple[str, ...] = ()
    plans: Mapping[str, str] = field(default_factory=dict)
    terminate_missing: bool = False
    terminate_on: str = "day_before_file"

    def may_enroll(self, group: str) -> bool:
        return not self.groups or group in self.groups

    def missing_end(self, file_day: date) -> date:
        """The last covered day of a member a full file of ``file_day`` leaves out."""
        if self.terminate_on == "end_of_month":
            first_next = (file_day.replace(day=28) + timedelta(days=4)).replace(day=1)
            return first_next - timedelta(days=1)
        if self.terminate_on == "end_of_previous_month":
            return file_day.replace(day=1) - timedelta(days=1)
        return file_day - timedelta(days=1)


def load_sponsors(text: str, source: str, plans: Sequence[str]) -> dict[str, Sponsor]:
    """The sponsors of a ``sponsors.yaml``::

    sponsors:
      - id: "999888777"            # N1*P5 N104 of its files
        name: Acme Manufacturing
        groups: ["123456001"]      # REF*1L its members may have (none listed: any)
        plans: {HLT: PPO-GOLD}     # HD03 -> plan, where HD04 names none
        full_file: {terminate_missing: true, terminate_on: end_of_month}
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source}: not YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not isinstance(raw.get("sponsors"), list):
        raise ConfigurationError(f"{source}: write `sponsors:` and a list of sponsors")
    found: dict[str, Sponsor] = {}
    for n, entry in enumerate(raw["sponsors"], start=1):
        where = f"{source}: sponsor {n}"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{where}: each sponsor is a mapping with id and name")
        unknown = set(entry) - {"id", "name", "groups", "plans", "full_file"}
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}"
            )
        sponsor_id = str(entry.get("id") or "").strip()
        if not sponsor_id or len(sponsor_id) > 80:
            raise ConfigurationError(f"{where}: id is required (1 to 80 characters)")
        if sponsor_id in found:
            raise ConfigurationError(f"{where}: id {sponsor_id!r} is listed twice")
        groups = entry.get("groups") or []
        if not isinstance(groups, list):
            raise ConfigurationError(f"{where} ({sponsor_id}): groups is a list")
        by_line = entry.get("plans") or {}
        if not isinstance(by_line, dict):
            raise ConfigurationError(f"{where} ({sponsor_id}): plans maps HD03 to a plan id")
        for line, plan in by_line.items():
            if plan is not None and str(plan) not in plans:
                raise ConfigurationError(
                    f"{where} ({sponsor_id}): plans.{line} names unknown plan {plan!r}"
                )
        full = entry.get("full_file") or {}
        if not isinstance(full, dict) or set(full) - {"terminate_missing", "terminate_on"}:
            raise ConfigurationError(
                f"{where} ({sponsor_id}): full_file takes terminate_missing and terminate_on"
            )
        terminate_on = str(full.get("terminate_on", "day_before_file"))
        if terminate_on not in TERMINATE_ON:
            raise ConfigurationError(
                f"{where} ({sponsor_id}): full_file.terminate_on is one of "
                f"{', '.join(TERMINATE_ON)}, not {terminate_on!r}"
            )
        found[sponsor_id] = Sponsor(
            id=sponsor_id,
            name=str(entry.get("name") or sponsor_id),
            groups=tuple(str(g) for g in groups),
            plans={str(k): "" if v is None else str(v) for k, v in by_line.items()},
            terminate_missing=bool(full.get("terminate_missing", False)),
            terminate_on=terminate_on,
        )
    return found


# -- members as JSON (the store's sealed content) ---------------------------------------------


def member_to_json(m: Member) -> dict[str, Any]:
    a = m.address
    return {
        "member_id": m.member_id,
        "subscriber_id": m.subscriber_id,
        "family_id": m.family_id,
        "relationship": m.relationship,
        "last_name": m.last_name,
        "first_name": m.first_name,
        "birth_date": m.birth_date.isoformat(),
        "sex": m.sex,
        "address": [a.line1, a.line2, a.city, a.state, a.postal_code],
        "group": m.group_id,
        "sponsor": m.sponsor_id,
        "spans": [
            [s.plan_id, s.start.isoformat(), s.end.isoformat() if s.end else None, s.line]
            for s in spans_of(m)
        ],
    }


def member_from_json(d: Mapping[str, Any]) -> Member:
    spans = tuple(
        CoverageSpan(p, date.fromisoformat(s), date.fromisoformat(e) if e else None, line)
        for p, s, e, line in d["spans"]
    )
    return member_with_spans(
        Member(
            member_id=d["member_id"],
            subscriber_id=d["subscriber_id"],
            family_id=d["family_id"],
            relationship=d["relationship"],
            last_name=d["last_name"],
            first_name=d["first_name"],
            birth_date=date.fromisoformat(d["birth_date"]),
            sex=d["sex"],
            address=Address(*d["address"]),
            plan_id="",
            effective_from=date.min,
            effective_through=None,
            group_id=d.get("group", ""),
            sponsor_id=d.get("sponsor", ""),
        ),
        spans,
    )


def spans_of(m: Member) -> tuple[CoverageSpan, ...]:
    """A member's coverage spans (a member read from ``members.csv`` has the one it gives)."""
    if m.spans:
        return m.spans
    return (CoverageSpan(m.plan_id, m.effective_from, m.effective_through),)


def changed_days(before: Member | None, after: Member | None) -> list[tuple[date, date | None]]:
    """The days (as inclusive ranges, ``None``: open) on which the member's coverage (whether
    covered, and by which plan) differs between ``before`` and ``after``."""
    a = spans_of(before) if before else ()
    b = spans_of(after) if after else ()
    points = sorted(
        {s.start for s in (*a, *b)} | {s.end + timedelta(days=1) for s in (*a, *b) if s.end}
    )
    ranges: list[tuple[date, date | None]] = []
    for i, start in enumerate(points):
        end = points[i + 1] - timedelta(days=1) if i + 1 < len(points) else None
        if _plan_on(a, start) != _plan_on(b, start):
            if ranges and ranges[-1][1] is not None and ranges[-1][1] + timedelta(days=1) == start:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((start, end))
    return ranges


def _plan_on(spans: Sequence[CoverageSpan], day: date) -> str | None:
    for s in spans:
        if s.covers(day):
            return s.plan_id
    return None
