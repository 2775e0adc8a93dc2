"""Coverage spans, sponsors and the days a change of enrollment touches (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Address
from claims_engine.domain.reference_data import CoverageSpan, Member, member_with_spans
from claims_engine.enrollment.records import (
    Sponsor,
    changed_days,
    load_sponsors,
    member_from_json,
    member_to_json,
)

PLANS = ("PPO-GOLD", "DENTAL-BASIC")


def _member(*spans: CoverageSpan) -> Member:
    base = Member(
        "M1",
        "M1",
        "F1",
        "18",
        "DOE",
        "JANE",
        date(1980, 1, 1),
        "F",
        Address("1 MAIN ST"),
        "",
        date.min,
        None,
    )
    return member_with_spans(base, spans)


def test_a_member_is_covered_on_the_days_of_its_spans() -> None:
    m = _member(
        CoverageSpan("PPO-GOLD", date(2026, 1, 1), date(2026, 3, 31)),
        CoverageSpan("PPO-GOLD", date(2026, 6, 1)),
        CoverageSpan("DENTAL-BASIC", date(2026, 1, 1), line="DEN"),
    )
    assert m.covered_on(date(2026, 3, 31)) and m.covered_on(date(2026, 4, 1))  # dental
    assert not m.covered_on(date(2026, 4, 1), dental=False)
    assert m.covered_on(date(2026, 4, 1), dental=True)
    assert m.effective_from == date(2026, 1, 1) and m.effective_through is None
    assert m.plan_on(date(2026, 7, 1)) == "PPO-GOLD"
    assert m.plan_on(date(2026, 7, 1), dental=True) == "DENTAL-BASIC"
    assert m.plan_on(date(2026, 4, 15)) == "DENTAL-BASIC"  # the only line that day
    assert member_from_json(member_to_json(m)) == m


def test_changed_days_are_the_days_whose_coverage_differs() -> None:
    before = _member(CoverageSpan("PPO-GOLD", date(2024, 1, 1)))
    ended = _member(CoverageSpan("PPO-GOLD", date(2024, 1, 1), date(2026, 9, 30)))
    assert changed_days(before, ended) == [(date(2026, 10, 1), None)]
    assert changed_days(ended, before) == [(date(2026, 10, 1), None)]
    assert changed_days(None, ended) == [(date(2024, 1, 1), date(2026, 9, 30))]
    assert changed_days(before, before) == []
    moved = _member(
        CoverageSpan("PPO-GOLD", date(2024, 1, 1), date(2025, 12, 31)),
        CoverageSpan("DENTAL-BASIC", date(2026, 1, 1)),
    )
    assert changed_days(before, moved) == [(date(2026, 1, 1), None)]


def test_a_sponsor_ends_the_members_a_full_file_leaves_out_as_it_says() -> None:
    day = date(2026, 2, 10)
    assert Sponsor("S", "S").missing_end(day) == date(2026, 2, 9)
    assert Sponsor("S", "S", terminate_on="end_of_month").missing_end(day) == date(2026, 2, 28)
    previous = Sponsor("S", "S", terminate_on="end_of_previous_month")
    assert previous.missing_end(day) == date(2026, 1, 31)


def test_sponsors_yaml_is_checked_with_the_place_of_each_problem() -> None:
    found = load_sponsors(
        "sponsors:\n  - id: '1'\n    name: A\n    groups: [G1]\n"
        "    plans: {HLT: PPO-GOLD, VIS: null}\n",
        "sponsors.yaml",
        PLANS,
    )
    assert found["1"].plans == {"HLT": "PPO-GOLD", "VIS": ""}
    assert found["1"].may_enroll("G1") and not found["1"].may_enroll("G2")
    for text, problem in (
        ("sponsors: {}", "write `sponsors:`"),
        ("sponsors:\n  - name: A\n", "sponsor 1: id is required"),
        ("sponsors:\n  - id: A\n    plans: {HLT: NOPE}\n", "unknown plan 'NOPE'"),
        ("sponsors:\n  - id: A\n  - id: A\n", "listed twice"),
        ("sponsors:\n  - id: A\n    full_file: {terminate_on: soon}\n", "terminate_on is one of"),
        ("sponsors:\n  - id: A\n    colour: red\n", "unknown keys colour"),
        ("sponsors: [", "not YAML"),
    ):
        with pytest.raises(ConfigurationError, match=problem) as raised:
            load_sponsors(text, "sponsors.yaml", PLANS)
        assert str(raised.value).startswith("sponsors.yaml")


def test_a_member_without_coverage_is_covered_on_no_day() -> None:
    none = _member()
    assert not none.covered_on(date(2026, 1, 1)) and not none.covered_on(date.max)
    cancelled = _member(CoverageSpan("PPO-GOLD", date(2026, 3, 1), date(2026, 2, 28)))
    assert cancelled.plan_id == "PPO-GOLD" and not cancelled.covered_on(date(2026, 3, 1))
