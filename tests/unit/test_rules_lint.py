"""Rule pack lint: the shipped pack is clean, and a pack with one of each problem reports every
one of them in one run, each with its file, line and rule id."""

# The packs below are YAML with one rule a line, so that a finding's line is the rule's own:
# ruff: noqa: E501

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from claims_engine.rules import RuleError, load_pack
from claims_engine.rules_lint import Finding, lint_pack, lint_rules, version_stem

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"

# One rule a line where the problem is on the rule's own line, so the expected line is where
# the id is written; the multi-line rules check that a key's own line is reported.
BROKEN_A = """\
description: one of each problem
plans: [P1]
rules:
  - {id: SYNTAX, description: d, effective_from: 2024-01-01, when: "age >=", then: {pend: {reason: r}}}
  - {id: NAME, description: d, effective_from: 2024-01-01, when: "agee > 3", then: {pend: {reason: r}}}
  - {id: FUNC, description: d, effective_from: 2024-01-01, when: "visits(\\"1\\") > 1", then: {pend: {reason: r}}}
  - id: CODES
    description: an unknown CARC, RARC and group, all reported
    effective_from: 2024-01-01
    then: {deny: {group: XX, carc: "999", rarc: ZZ9}}
  - {id: DUP, description: d, effective_from: 2024-01-01, scope: {procedures: ["00001"]}, then: {pend: {reason: r}}}
  - {id: C-DENY, description: d, effective_from: 2024-01-01, scope: {procedures: ["11111"]}, when: "units > 2", then: {deny: {group: CO, carc: "119"}}}
  - {id: C-CAP, description: d, effective_from: 2024-06-01, scope: {procedures: ["11111"]}, when: "units > 2", then: {cap_units: {max: 1, group: CO, carc: "119"}}}
  - {id: OV, description: d, effective_from: 2024-01-01, effective_through: 2024-12-31, scope: {procedures: ["22222"]}, then: {pend: {reason: r}}}
  - {id: OV-V2, description: d, effective_from: 2024-06-01, scope: {procedures: ["22222"]}, then: {pend: {reason: r2}}}
  - {id: GAP, description: d, effective_from: 2024-01-01, effective_through: 2024-06-30, scope: {procedures: ["33333"]}, then: {pend: {reason: r}}}
  - {id: GAP-2024-08-01, description: d, effective_from: 2024-08-01, scope: {procedures: ["33333"]}, then: {pend: {reason: r}}}
  - id: DATES
    description: ends before it starts
    effective_from: 2024-06-01
    effective_through: 2024-05-31
    then: {pend: {reason: r}}
  - {id: RANGE, description: d, effective_from: 2024-01-01, scope: {procedure_ranges: ["99397-99381"]}, then: {pend: {reason: r}}}
  - {id: NOPLAN, description: d, effective_from: 2024-01-01, scope: {plans: [NOPE]}, then: {pend: {reason: r}}}
  - {id: AGES, description: d, effective_from: 2024-01-01, when: "age >= 18 and age < 12", then: {pend: {reason: r}}}
  - {id: CONSTANT, description: d, effective_from: 2024-01-01, when: "1 > 2", then: {pend: {reason: r}}}
  - {id: ALWAYS-DENY, description: d, effective_from: 2024-01-01, scope: {procedures: ["44444"]}, then: {deny: {group: CO, carc: "204"}}}
  - {id: SHADOWED, description: d, effective_from: 2024-01-01, scope: {procedures: ["44444"]}, when: "age > 3", then: {pend: {reason: r}}}
  - {id: CAT-A, description: d, effective_from: 2024-01-01, scope: {procedures: ["55555"]}, then: {set_category: lab}}
  - {id: CAT-B, description: d, effective_from: 2024-01-01, scope: {procedures: ["55555"]}, then: {set_category: imaging}}
"""
BROKEN_B = """\
plans: [P1]
rules:
  - {id: DUP, description: d, effective_from: 2024-01-01, then: {pend: {reason: r}}}
  - {id: BAD-YAML-NEXT-FILE, description: d, effective_from: 2024-01-01, then: {pend: {reason: r}}}
"""
BROKEN_C = """\
rules:
  - {id: X, description: d
    effective_from: 2024-01-01
"""


def _line(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle``."""
    for n, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in the text")


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    (tmp_path / "a.yaml").write_text(BROKEN_A)
    (tmp_path / "b.yaml").write_text(BROKEN_B)
    (tmp_path / "c.yaml").write_text(BROKEN_C)
    return tmp_path


def _by_code(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


def test_the_shipped_pack_lints_clean() -> None:
    # No errors and no warnings: every rule has one version, nothing contradicts or shadows.
    assert lint_pack(RULES) == []
    for name in ("shared.yaml", "ppo-gold.yaml", "hmo-silver.yaml", "dental-basic.yaml"):
        assert lint_pack(RULES / name) == [], name


def test_the_shipped_pack_lints_clean_against_the_fixture_plans() -> None:
    assert lint_pack(RULES, known_plans={"PPO-GOLD", "HMO-SILVER", "DENTAL-BASIC"}) == []


@pytest.mark.parametrize(
    ("code", "rule_id", "needle", "severity", "words"),
    [
        ("syntax", "SYNTAX", "id: SYNTAX", "error", "syntax error"),
        ("unknown-name", "NAME", "id: NAME", "error", "'agee'"),
        ("unknown-function", "FUNC", "id: FUNC", "error", "'visits'"),
        ("unknown-carc", "CODES", 'carc: "999"', "error", "'999'"),
        ("unknown-rarc", "CODES", 'carc: "999"', "error", "'ZZ9'"),
        ("unknown-group", "CODES", 'carc: "999"', "error", "'XX'"),
        ("contradiction", "C-CAP", "id: C-CAP", "error", "C-DENY"),
        ("date-overlap", "OV-V2", "id: OV-V2", "error", "2024-05-31"),
        ("date-gap", "GAP-2024-08-01", "id: GAP-2024-08-01", "warning", "2024-07-01 to 2024-07-31"),
        ("never-fires", "DATES", "effective_through: 2024-05-31", "error", "before"),
        ("never-fires", "RANGE", "id: RANGE", "error", "99397-99381"),
        ("never-fires", "NOPLAN", "id: NOPLAN", "error", "NOPE"),
        ("never-fires", "AGES", "id: AGES", "error", "age"),
        ("never-fires", "CONSTANT", "id: CONSTANT", "error", "constant"),
        ("shadowed", "SHADOWED", "id: SHADOWED", "warning", "ALWAYS-DENY"),
        ("contradiction", "CAT-B", "id: CAT-B", "error", "set_category lab"),
    ],
)
def test_each_problem_is_reported_with_file_line_and_rule(
    broken: Path, code: str, rule_id: str, needle: str, severity: str, words: str
) -> None:
    findings = [f for f in lint_pack(broken) if f.code == code and f.rule_id == rule_id]
    assert findings, f"no {code} for {rule_id}"
    wanted = _line(BROKEN_A, needle)
    hits = [f for f in findings if words in f.message]
    assert hits, [f.message for f in findings]
    (hit,) = hits
    assert (hit.file, hit.line, hit.severity) == (str(broken / "a.yaml"), wanted, severity)


def test_every_problem_in_one_run(broken: Path) -> None:
    findings = lint_pack(broken)
    codes = _by_code(findings)
    for code in (
        "syntax",
        "unknown-name",
        "unknown-function",
        "unknown-carc",
        "unknown-rarc",
        "unknown-group",
        "duplicate-id",
        "contradiction",
        "date-overlap",
        "date-gap",
        "never-fires",
        "yaml",
        "shadowed",
    ):
        assert code in codes, code
    (dup,) = codes["duplicate-id"]
    assert (dup.file, dup.line, dup.rule_id) == (str(broken / "b.yaml"), 3, "DUP")
    assert f"{broken / 'a.yaml'}:{_line(BROKEN_A, 'id: DUP')}" in dup.message
    (bad_yaml,) = codes["yaml"]
    assert bad_yaml.file == str(broken / "c.yaml") and bad_yaml.rule_id is None
    assert bad_yaml.line == 3
    # the file after a broken one is still linted, and a good rule gives nothing
    assert not [f for f in findings if f.rule_id == "BAD-YAML-NEXT-FILE"]
    # sorted by file and line, deterministic
    assert findings == sorted(findings, key=lambda f: (f.file, f.line, f.rule_id or "", f.code))
    assert findings == lint_pack(broken)
    errors = [f for f in findings if f.severity == "error"]
    assert {f.code for f in findings if f.severity == "warning"} == {"date-gap", "shadowed"}
    assert len(errors) == len(findings) - 2


def test_a_clean_rule_after_a_broken_one_is_still_checked(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - {id: A, description: d, effective_from: 2024-01-01, when: "nope", then: {pend: {reason: r}}}
              - {id: B, description: d, effective_from: 2024-01-01, then: {deny: {group: CO, carc: "1234"}}}
            """
        )
    )
    found = [(f.rule_id, f.line, f.code) for f in lint_pack(tmp_path)]
    assert found == [("A", 2, "unknown-name"), ("B", 3, "unknown-carc")]


def test_a_pack_that_lints_without_errors_loads(broken: Path, tmp_path: Path) -> None:
    with pytest.raises(RuleError):
        load_pack(broken)
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "r.yaml").write_text(
        "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, "
        "then: {pend: {reason: r}}}\n"
    )
    assert lint_pack(clean) == []
    assert len(load_pack(clean).rules) == 1


def test_a_broken_manifest_is_reported_and_the_files_still_linted(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text("files: [missing.yaml]\n")
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, "
        'then: {deny: {group: CO, carc: "0"}}}\n'
    )
    found = {(Path(f.file).name, f.code) for f in lint_pack(tmp_path)}
    assert found == {("pack.yaml", "manifest"), ("r.yaml", "unknown-carc")}


def test_a_missing_pack_is_an_operational_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="no such rule pack"):
        lint_pack(tmp_path / "nope")


def test_contradictions_need_the_same_condition_and_common_dates(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - {id: A, description: d, effective_from: 2024-01-01, effective_through: 2024-05-31, scope: {procedures: ["1"]}, then: {deny: {group: CO, carc: "204"}}}
              - {id: B, description: d, effective_from: 2024-06-01, scope: {procedures: ["1"]}, then: {require_authorization: {}}}
              - {id: C, description: d, effective_from: 2024-01-01, scope: {procedures: ["2"]}, when: "age > 3", then: {deny: {group: CO, carc: "204"}}}
              - {id: D, description: d, effective_from: 2024-01-01, scope: {procedures: ["2"]}, when: "age > 4", then: {require_authorization: {}}}
              - {id: E, description: d, effective_from: 2024-01-01, scope: {procedures: ["3"]}, then: {deny: {group: CO, carc: "204"}}}
              - {id: F, description: d, effective_from: 2024-01-01, scope: {procedures: ["3"]}, then: {set_category: lab}}
              - {id: G, description: d, effective_from: 2024-01-01, scope: {procedures: ["4"]}, when: "age>3", then: {deny: {group: CO, carc: "204"}}}
              - {id: H, description: d, effective_from: 2024-01-01, scope: {procedures: ["4"]}, when: "age > 3", then: {require_authorization: {}}}
            """
        )
    )
    found = [(f.rule_id, f.code) for f in lint_pack(tmp_path)]
    # A/B: no common date; C/D: different conditions; E/F: a category is not a verdict;
    # G/H: the same condition however it is spaced
    assert found == [("H", "contradiction")]


@pytest.mark.parametrize(
    ("rule_id", "stem"),
    [
        ("FREQ-WELLNESS", "FREQ-WELLNESS"),
        ("FREQ-WELLNESS-V2", "FREQ-WELLNESS"),
        ("FREQ-WELLNESS_v10", "FREQ-WELLNESS"),
        ("FREQ-WELLNESS-2026", "FREQ-WELLNESS"),
        ("FREQ-WELLNESS-20260101", "FREQ-WELLNESS"),
        ("FREQ-WELLNESS-2026-01-01", "FREQ-WELLNESS"),
        ("D-AGE-14", "D-AGE-14"),
    ],
)
def test_version_stem(rule_id: str, stem: str) -> None:
    assert version_stem(rule_id) == stem


def test_versions_that_meet_are_clean(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        textwrap.dedent(
            """\
            rules:
              - {id: L, description: d, effective_from: 2024-01-01, effective_through: 2024-12-31, scope: {procedures: ["1"]}, when: "units > 2", then: {deny: {group: CO, carc: "119"}}}
              - {id: L-V2, description: d, effective_from: 2025-01-01, scope: {procedures: ["1"]}, when: "units > 3", then: {deny: {group: CO, carc: "119"}}}
            """
        )
    )
    assert lint_pack(tmp_path) == []


def test_lint_rules_lints_every_dated_version(tmp_path: Path) -> None:
    good = "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, then: {pend: {reason: r}}}\n"
    (tmp_path / "r.yaml").write_text(good)
    (tmp_path / "2026-07-01").mkdir()
    (tmp_path / "2026-07-01" / "r.yaml").write_text(
        good.replace("pend: {reason: r}", "set_category: nope")
    )
    (tmp_path / "tests").mkdir()  # rule test cases: not a pack
    (tmp_path / "tests" / "cases.yaml").write_text("cases: []\n")
    assert lint_pack(tmp_path) == []
    found = [(Path(f.file).parent.name, f.rule_id, f.code) for f in lint_rules(tmp_path)]
    assert found == [("2026-07-01", "A", "bad-action")]
    assert lint_rules(tmp_path / "r.yaml") == []
