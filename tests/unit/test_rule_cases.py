"""The rule pack's YAML test cases (``rules/tests/``), one test per case, and the case runner:
a wrong expectation fails naming file, line and case id; malformed case files are refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from claims_engine.rules.cases import (
    Case,
    RuleTestError,
    default_cases,
    load_cases,
    run_case,
    run_rule_tests,
)
from claims_engine.rules.engine import RulePack, load_pack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
CASES = RULES / "tests"
PLANS = {"PPO-GOLD", "HMO-SILVER", "DENTAL-BASIC"}
ALL_CASES = load_cases(CASES)


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(RULES, known_plans=PLANS)


def test_there_are_cases_for_every_file_of_the_pack() -> None:
    assert len(ALL_CASES) >= 25
    assert {Path(c.file).name for c in ALL_CASES} == {
        "shared.yaml",
        "ppo-gold.yaml",
        "hmo-silver.yaml",
        "dental-basic.yaml",
    }
    assert default_cases(RULES) == CASES
    # case ids are unique across the files too, so each is one pytest item
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_case(pack: RulePack, case: Case) -> None:
    result = run_case(pack, case)
    assert result.passed, result.message()


def test_the_cases_folder_is_not_read_as_rules(tmp_path: Path) -> None:
    # rules/tests/ sits inside the pack folder: load_pack reads the folder's own files only.
    assert all(Path(r.source).parent == RULES for r in load_pack(RULES).rules)
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, "
        "then: {pend: {reason: r}}}\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "cases.yaml").write_text("cases: []\n")
    assert [r.id for r in load_pack(tmp_path).rules] == ["A"]


WRONG = """\
cases:
  - id: right
    line: {plan: PPO-GOLD, service_date: 2024-06-03, procedure: "15780"}
    member: {birth_date: 1980-04-01}
    expect: [{deny: {group: CO, carc: "204", rarc: N383}}]
  - id: wrong-carc
    line: {plan: PPO-GOLD, service_date: 2024-06-03, procedure: "15780"}
    member: {birth_date: 1980-04-01}
    expect: [{deny: {group: CO, carc: "96"}}]
  - id: wrong-category-and-fired
    line: {plan: PPO-GOLD, service_date: 2024-06-03, procedure: "36415"}
    member: {birth_date: 1980-04-01}
    expect: [{category: imaging}]
    fired: [CAT-IMAGING]
"""


def test_a_wrong_expectation_fails_naming_file_line_and_case(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(WRONG)
    results = {r.case_id: r for r in run_rule_tests(RULES, tmp_path)}
    assert results["right"].passed
    wrong = results["wrong-carc"]
    assert not wrong.passed
    where = f"{tmp_path / 'cases.yaml'}:6: wrong-carc: FAIL: "
    assert wrong.message() == (
        where + "expected actions [deny {group: CO, carc: 96}], "
        "got [deny {group: CO, carc: 204, rarc: [N383]}]"
    )
    other = results["wrong-category-and-fired"].message()
    assert other.startswith(f"{tmp_path / 'cases.yaml'}:10: wrong-category-and-fired: FAIL: ")
    assert "expected category imaging, got lab" in other
    assert "expected fired [CAT-IMAGING], got [CAT-LAB]" in other


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("cases: [\n", ":2: YAML error"),
        ("- 1\n", ":1: must be a mapping with a 'cases' list"),
        (
            "cases:\n  - id: x\n    line: {plan: P, service_date: 2024-06-03}\n"
            "    member: {birth_date: 1980-01-01}\n",
            "cases.yaml:2: x: 'expect' is required",
        ),
        (
            "cases:\n  - id: x\n    line: {plan: P, service_date: 2024-06-03, colour: red}\n"
            "    expect: none\n",
            "cases.yaml:3: x: line: unknown key(s) colour",
        ),
        (
            "cases:\n  - id: x\n    line: {plan: P, service_date: 2024-06-03}\n"
            "    member: {birth_date: 1980-01-01}\n    expect: [{deny: {carc: '1'}, pend: {}}]\n",
            "cases.yaml:2: x: expect: each entry names one of",
        ),
        (
            "cases:\n  - id: x\n    line: {plan: P, service_date: 2024-02-30}\n    expect: none\n",
            "cases.yaml:2: x: line.service_date '2024-02-30' is not a date",
        ),
    ],
)
def test_malformed_case_files_are_refused(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "cases.yaml").write_text(textwrap.dedent(body))
    with pytest.raises(RuleTestError) as info:
        load_cases(tmp_path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_cases_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleTestError, match="no such rule test"):
        load_cases(tmp_path / "nope")


def test_cases_meet_the_version_in_force_on_their_date(tmp_path: Path) -> None:
    rule = (
        "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, "
        'scope: {procedures: ["1"]}, then: {deny: {group: CO, carc: "%s"}}}\n'
    )
    (tmp_path / "r.yaml").write_text(rule % "204")
    (tmp_path / "2026-07-01").mkdir()
    (tmp_path / "2026-07-01" / "r.yaml").write_text(rule % "96")
    (tmp_path / "tests").mkdir()
    case = (
        "  - id: %s\n    line: {plan: X, service_date: %s, procedure: '1'}\n"
        "    member: {birth_date: 1980-01-01}\n    expect: [{deny: {carc: '%s'}}]\n"
    )
    (tmp_path / "tests" / "cases.yaml").write_text(
        "cases:\n" + case % ("before", "2026-06-30", "204") + case % ("from", "2026-07-01", "96")
    )
    results = run_rule_tests(tmp_path)
    assert [(r.case_id, r.passed) for r in results] == [("before", True), ("from", True)]
