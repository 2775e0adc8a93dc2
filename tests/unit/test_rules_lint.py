"""Rule pack lint: the shipped pack is clean, and a pack with one of each problem reports every
one of them in one run, each with its file, line and rule id."""

# The packs below are YAML with one rule a line, so that a finding's line is the rule's own:
# ruff: noqa: E501

from __future__ import annotations

import ast
import dataclasses
import random
import re
import textwrap
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from claims_engine.rules import lint as rules_lint
from claims_engine.rules.engine import (
    CapUnits,
    Deny,
    RequireAuthorization,
    Rule,
    RuleAction,
    RuleError,
    RulePack,
    SetCategory,
    load_pack,
)
from claims_engine.rules.lint import Finding, lint_pack, lint_rules, version_stem

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


# --- the sandbox's bounds ----------------------------------------------------------------------

# 74 characters: comparing the two sides goes over 1000 ** 4 elements inside C
HANGS = "(((('a',)*1000,)*1000,)*1000,)*1000 == (((('a',)*1000,)*1000,)*1000,)*1000"


def test_conditions_over_the_sandbox_bounds_are_errors_with_file_line_and_rule(
    tmp_path: Path,
) -> None:
    (tmp_path / "r.yaml").write_text(
        "rules:\n"
        "  - id: HANGS\n"
        "    description: compares 10 ** 12 elements\n"
        "    effective_from: 2024-01-01\n"
        f'    when: "{HANGS}"\n'
        "    then: {pend: {reason: r}}\n"
        """  - {id: NESTS, description: d, effective_from: 2024-01-01, when: "((('a',),),) == procedure", then: {pend: {reason: r}}}\n"""
        """  - {id: WORKS, description: d, effective_from: 2024-01-01, when: "('a',)*1000 == ('a',)*999 and ('a',)*1000 == ('a',)*999 and ('a',)*1000 == ('a',)*999 and ('a',)*1000 == ('a',)*999 and ('a',)*1000 == ('a',)*999 and ('a',)*1000 == ('a',)*999", then: {pend: {reason: r}}}\n"""
        """  - {id: FINE, description: d, effective_from: 2024-01-01, when: "('a',)*1000 == modifiers", then: {pend: {reason: r}}}\n"""
    )
    findings = lint_pack(tmp_path)
    assert [(f.rule_id, f.line, f.severity, f.code) for f in findings] == [
        ("HANGS", 5, "error", "over-budget"),
        ("NESTS", 7, "error", "over-budget"),
        ("WORKS", 8, "error", "over-budget"),
    ]
    assert [f.message for f in findings] == [
        "condition builds a value of up to 1,000,000 cells at column 3; the limit is 1,000",
        "literals nest 3 deep at column 1; the limit is 2",
        # each comparison: itself 1; ('a',)*1000 is 5 parts, the 1-cell tuple built and the
        # 1000 cells built (1,005), the right side 1,004, the two compared 1,999: 4,009;
        # six of them and the `and`: 24,055
        "condition may do 24,055 units of work in one evaluation; the limit is 20,000",
    ]
    assert all(f.file == str(tmp_path / "r.yaml") for f in findings)
    with pytest.raises(RuleError, match=r"r\.yaml: rule HANGS: condition builds a value"):
        load_pack(tmp_path)


# --- many rules sharing a scope ----------------------------------------------------------------

_ACTIONS = (
    '{deny: {group: CO, carc: "96"}}',
    '{deny: {group: CO, carc: "204"}}',
    '{deny: {group: PR, carc: "96"}}',
    '{cap_units: {max: 1, group: CO, carc: "119"}}',
    '{cap_units: {max: 2, group: CO, carc: "119"}}',
    "{require_authorization: {}}",
    "{pend: {reason: r}}",
    "{set_category: lab}",
    "{set_category: imaging}",
)


def _random_pack(seed: int, size: int) -> str:
    """One rule a line (rule n on line n + 2): few scopes, conditions, actions and dates, so
    that rules meet on each; some ids are versions of one rule."""
    rng = random.Random(seed)
    lines = ["rules:"]
    for n in range(size):
        start = rng.choice(["2024-01-01", "2024-03-01", "2024-06-01"])
        through = rng.choice(["", "", "2024-02-29", "2024-06-30", "2025-12-31"])
        dates = f"effective_from: {start}" + (
            f", effective_through: {through}" if through and through >= start else ""
        )
        when = rng.choice(["", "", 'when: "age > 3", ', 'when: "units>2", ', 'when: "units > 2", '])
        # unique ids, some of them versions of another (R7-V21 of R7)
        rule_id = rng.choice([f"R{n}", f"R{n // 3}-V{n}", f"R{n}-2024"])
        lines.append(
            f"  - {{id: {rule_id}, description: d, {dates}, "
            f'scope: {{procedures: ["{rng.choice("123")}"]}}, {when}then: {rng.choice(_ACTIONS)}}}'
        )
    return "\n".join(lines) + "\n"


def _conflict(a: RuleAction, b: RuleAction) -> bool:
    """The definition of a contradiction, as the lint had it when it went over every pair."""
    if isinstance(a, SetCategory) and isinstance(b, SetCategory):
        return a.category != b.category
    if isinstance(a, Deny) and isinstance(b, Deny):
        return (a.group, a.carc, a.rarcs) != (b.group, b.carc, b.rarcs)
    if isinstance(a, CapUnits) and isinstance(b, CapUnits):
        return a.max_units != b.max_units
    kinds = {type(a), type(b)}
    return Deny in kinds and bool(kinds & {CapUnits, RequireAuthorization})


def _every_pair(pack: RulePack) -> set[tuple[str, str, str]]:
    """(code, later rule, earlier rule) of contradiction, duplicate-rule and shadowed, found by
    going over every pair of rules of one scope, as the lint once did."""
    found = set()

    def end(r: Rule) -> date:
        return r.effective_through or date.max

    def condition(r: Rule) -> str:
        return ast.dump(r.condition) if r.condition is not None else ""

    for j, b in enumerate(pack.rules):
        for a in pack.rules[:j]:
            if a.scope != b.scope or version_stem(a.id) == version_stem(b.id):
                continue
            if not (a.effective_from <= end(b) and b.effective_from <= end(a)):
                continue
            if condition(a) == condition(b):
                same = dataclasses.replace(a.action, rule_id="") == dataclasses.replace(
                    b.action, rule_id=""
                )
                if _conflict(a.action, b.action):
                    found.add(("contradiction", b.id, a.id))
                elif same and (a.effective_from, a.effective_through) == (
                    b.effective_from,
                    b.effective_through,
                ):
                    found.add(("duplicate-rule", b.id, a.id))
            elif (
                a.condition is None
                and isinstance(a.action, Deny)
                and not isinstance(b.action, SetCategory)
                and a.effective_from <= b.effective_from
                and end(a) >= end(b)
            ):
                found.add(("shadowed", b.id, a.id))
    return found


def _pairs_found(findings: list[Finding], file: Path) -> set[tuple[str, str, str]]:
    earlier = re.compile(r"(\S+) \(" + re.escape(str(file)) + r":\d+\)")
    out = set()
    for f in findings:
        if f.code in ("contradiction", "duplicate-rule", "shadowed"):
            named = earlier.search(f.message)
            assert named is not None and f.rule_id is not None, f.message
            out.add((f.code, f.rule_id, named.group(1)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_pair_findings_are_those_of_going_over_every_pair(tmp_path: Path, seed: int) -> None:
    file = tmp_path / "r.yaml"
    file.write_text(_random_pack(seed, 150))
    pack = load_pack(tmp_path)
    expected = _every_pair(pack)
    assert {code for code, _, _ in expected} == {"contradiction", "duplicate-rule", "shadowed"}
    found = _pairs_found(lint_pack(tmp_path), file)
    assert {f for f in found if f[0] != "shadowed"} == {e for e in expected if e[0] != "shadowed"}
    # a shadowed rule is reported once, naming one of the rules that shadow it
    shadowers: dict[str, set[str]] = {}
    for code, later, earlier in expected:
        if code == "shadowed":
            shadowers.setdefault(later, set()).add(earlier)
    reported = {later: earlier for code, later, earlier in found if code == "shadowed"}
    assert len(reported) == len([f for f in found if f[0] == "shadowed"])
    assert reported.keys() == shadowers.keys()
    assert all(earlier in shadowers[later] for later, earlier in reported.items())


def test_thousands_of_rules_sharing_a_scope_keep_their_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3,000 rules over two procedure codes, each condition its own but for the rules planted:
    # a contradiction, a copy, a shadowed rule and two overlapping versions every 500 rules.
    rules = ["rules:"]
    planted = set()
    for n in range(3000):
        scope = f'{{procedures: ["{n % 2}"]}}'
        rules.append(
            f"  - {{id: G{n}, description: d, effective_from: 2024-01-01, scope: {scope}, "
            f'when: "age > {n}", then: {{deny: {{group: CO, carc: "204"}}}}}}'
        )
        if n % 500 == 499:
            rules += [
                f"  - {{id: CONTRA{n}, description: d, effective_from: 2024-06-01, scope: "
                f'{scope}, when: "age > {n}", then: {{cap_units: {{max: 1, group: CO, '
                'carc: "119"}}}',
                f"  - {{id: COPY{n}, description: d, effective_from: 2024-01-01, scope: "
                f'{scope}, when: "age > {n}", then: {{deny: {{group: CO, carc: "204"}}}}}}',
                f"  - {{id: ALWAYS{n}, description: d, effective_from: 2024-01-01, scope: "
                f'{{procedures: ["S{n}"]}}, then: {{deny: {{group: CO, carc: "96"}}}}}}',
                f"  - {{id: LATER{n}, description: d, effective_from: 2024-02-01, scope: "
                f'{{procedures: ["S{n}"]}}, when: "age > 3", then: {{pend: {{reason: r}}}}}}',
                f"  - {{id: V{n}, description: d, effective_from: 2024-01-01, scope: "
                f'{{procedures: ["V{n}"]}}, then: {{pend: {{reason: r}}}}}}',
                f"  - {{id: V{n}-V2, description: d, effective_from: 2024-05-01, scope: "
                f'{{procedures: ["V{n}"]}}, then: {{pend: {{reason: r}}}}}}',
            ]
            planted |= {
                ("contradiction", f"CONTRA{n}", f"G{n}"),
                ("contradiction", f"COPY{n}", f"CONTRA{n}"),  # COPY comes after CONTRA
                ("duplicate-rule", f"COPY{n}", f"G{n}"),
                ("shadowed", f"LATER{n}", f"ALWAYS{n}"),
            }
    file = tmp_path / "r.yaml"
    file.write_text("\n".join(rules) + "\n")
    # the pair checks look at each rule a few times, not once for every other rule of its scope
    calls = 0
    stem = rules_lint.version_stem

    def counted(rule_id: str) -> str:
        nonlocal calls
        calls += 1
        return stem(rule_id)

    monkeypatch.setattr(rules_lint, "version_stem", counted)
    findings = lint_pack(tmp_path)
    assert _pairs_found(findings, file) == planted
    overlaps = sorted(f.rule_id or "" for f in findings if f.code == "date-overlap")
    assert overlaps == sorted(f"V{n}-V2" for n in range(499, 3000, 500))
    assert {f.code for f in findings} == {
        "contradiction",
        "duplicate-rule",
        "shadowed",
        "date-overlap",
    }
    assert calls <= 3 * 3036


def test_many_rules_that_deny_every_line_are_not_compared_in_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shadowed check once went over every earlier rule that denies every line for each
    rule of the scope: 2,000 conditional rules, then 2,000 such denials (none shadowing any,
    all later in pack order) took 4,000,000 comparisons. Now each rule asks a tree, and each
    denial enters it: a few dozen steps each, whatever the scope holds."""
    lines = ["rules:"]
    for n in range(2000):
        lines.append(
            f"  - {{id: C{n}, description: c, effective_from: 2024-01-01, "
            f'scope: {{procedures: ["99213"]}}, when: "age >= {n}", then: {{pend: {{reason: r}}}}}}'
        )
    for n in range(2000):
        start = date(2000, 1, 1) + timedelta(days=n)
        lines.append(
            f"  - {{id: D{n}, description: d, effective_from: {start.isoformat()}, "
            f'scope: {{procedures: ["99213"]}}, then: {{deny: {{group: CO, carc: "204"}}}}}}'
        )
    (tmp_path / "r.yaml").write_text("\n".join(lines) + "\n")
    steps = 0
    merge = rules_lint._latest_two

    def counted(kept: list[Any], new: Any) -> list[Any]:
        nonlocal steps
        steps += 1
        return merge(kept, new)

    monkeypatch.setattr(rules_lint, "_latest_two", counted)
    assert [f for f in lint_pack(tmp_path) if f.severity == "error"] == []
    assert [f.code for f in lint_pack(tmp_path) if f.code == "shadowed"] == []
    assert 0 < steps <= 2 * 2 * 4000 * 12  # two lints, n log n: ~12 steps a rule
