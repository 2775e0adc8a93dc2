"""``claims-engine rules lint`` and ``rules test`` end to end: exit codes 0 / 1 / 2, the JSON
shapes, a line per finding or failure, and one-line errors for bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli_support import ROOT
from tests.e2e.cli_support import run_cli as _run

RULES = ROOT / "rules"
GOOD_RULE = (
    "rules:\n  - {id: A, description: d, effective_from: 2024-01-01, "
    'scope: {procedures: ["1"]}, then: {deny: {group: CO, carc: "204"}}}\n'
)


def _pack(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "r.yaml").write_text(text)
    return folder


def test_lint_the_shipped_pack(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["rules", "lint"], capsys)
    assert (code, err) == (0, "")
    assert out == f"{RULES}: 0 error(s), 0 warning(s): ok\n"
    code, out, _ = _run(["rules", "lint", str(RULES), "--json", "--strict"], capsys)
    assert code == 0
    assert json.loads(out) == {"findings": [], "errors": 0, "warnings": 0}


def test_lint_errors_exit_1_with_a_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(
        tmp_path / "p",
        GOOD_RULE + "  - {id: B, description: d, effective_from: 2024-01-01, "
        'then: {deny: {group: CO, carc: "999"}}}\n'
        "  - {id: C, description: d, effective_from: 2024-01-01, when: 'nope', "
        "then: {pend: {reason: r}}}\n",
    )
    code, out, err = _run(["rules", "lint", str(pack)], capsys)
    assert (code, err) == (1, "")
    file = pack / "r.yaml"
    assert out.splitlines() == [
        f"{file}:3: B: error unknown-carc: unknown CARC '999'",
        f"{file}:4: C: error unknown-name: unknown name 'nope' at column 1; names are "
        "age, category, charge, claim_type, diagnoses, modifiers, network, place_of_service, "
        "plan, principal_diagnosis, procedure, revenue_code, service_date, sex, tooth, units",
        f"{pack}: 2 error(s), 0 warning(s): FAILED",
    ]
    code, out, _ = _run(["rules", "lint", str(pack), "--json"], capsys)
    assert code == 1
    report = json.loads(out)
    assert (report["errors"], report["warnings"]) == (2, 0)
    assert report["findings"][0] == {
        "file": str(file),
        "line": 3,
        "rule_id": "B",
        "severity": "error",
        "code": "unknown-carc",
        "message": "unknown CARC '999'",
    }


def test_lint_warnings_pass_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(
        tmp_path / "p",
        GOOD_RULE + "  - {id: S, description: d, effective_from: 2024-01-01, "
        'scope: {procedures: ["1"]}, when: "age > 3", then: {pend: {reason: r}}}\n',
    )
    code, out, _ = _run(["rules", "lint", str(pack)], capsys)
    assert code == 0
    assert "S: warning shadowed:" in out
    assert out.endswith("0 error(s), 1 warning(s): ok\n")
    code, out, _ = _run(["rules", "lint", str(pack), "--strict"], capsys)
    assert code == 1
    assert out.endswith("0 error(s), 1 warning(s): FAILED\n")


def test_lint_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(["rules", "lint", str(tmp_path / "missing")], capsys)
    assert code == 2 and out == ""
    missing = tmp_path / "missing"
    assert err == f"claims-engine: error: {missing}: no such rule pack (file or folder)\n"


def test_rules_test_runs_the_shipped_cases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["rules", "test"], capsys)
    assert (code, err) == (0, "")
    assert out.endswith(" failed: ok\n") and "0 failed" in out
    code, out, _ = _run(["rules", "test", str(RULES), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"cases", "passed", "failed"}
    assert report["failed"] == 0 and report["passed"] == len(report["cases"]) >= 25
    assert set(report["cases"][0]) == {
        "file",
        "line",
        "id",
        "passed",
        "problems",
        "actions",
        "fired",
        "category",
    }


def test_rules_test_failures_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pack = _pack(tmp_path / "p", GOOD_RULE)
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        "cases:\n"
        "  - id: denied\n"
        "    line: {plan: X, service_date: 2024-06-03, procedure: '1'}\n"
        "    member: {birth_date: 1980-01-01}\n"
        "    expect: [{deny: {group: CO, carc: '204'}}]\n"
        "  - id: says-none\n"
        "    line: {plan: X, service_date: 2024-06-03, procedure: '1'}\n"
        "    member: {birth_date: 1980-01-01}\n"
        "    expect: none\n"
    )
    code, out, err = _run(["rules", "test", str(pack), "--cases", str(cases)], capsys)
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        f"{cases}:6: says-none: FAIL: expected actions none, "
        "got [deny {group: CO, carc: 204, rarc: []}]",
        "2 case(s): 1 passed, 1 failed: FAILED",
    ]


def test_rules_test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = _pack(tmp_path / "p", GOOD_RULE)
    # no tests/ folder next to the pack
    code, out, err = _run(["rules", "test", str(pack)], capsys)
    assert (code, out) == (2, "")
    assert err == f"claims-engine: error: {pack / 'tests'}: no such rule test file or folder\n"
    # an unreadable case file
    (pack / "tests").mkdir()
    (pack / "tests" / "bad.yaml").write_text("cases: [\n")
    code, out, err = _run(["rules", "test", str(pack)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"claims-engine: error: {pack / 'tests' / 'bad.yaml'}:2: YAML error")
    # a pack that does not load
    broken = tmp_path / "broken"
    shutil.copytree(pack, broken)
    (broken / "r.yaml").write_text("rules: [\n")
    code, _, err = _run(["rules", "test", str(broken)], capsys)
    assert code == 2 and err.count("\n") == 1 and "YAML error" in err
