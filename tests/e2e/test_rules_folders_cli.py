"""A rules folder with no rule, and a cases folder with no case, are refused wherever they are
read (issue 16, section 2): ``rules lint``, ``rules test``, ``rules simulate`` (the candidate
and ``CLAIMS_RULES_DIR``) and ``submit``, each with one line naming the folder and exit 2;
none says ok, passes, or adjudicates with no rule at all."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from claims_engine.rules.book import load_rulebook
from claims_engine.rules.engine import RuleError, load_pack
from tests.e2e.cli_support import REFERENCE, ROOT, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run

RULES = ROOT / "rules"
NO_FILE = "no rule: the folder holds no *.yaml pack file"
EMPTY_LISTS = "no rule: every 'rules' list in it is empty"


def _one_line(err: str, where: Path, problem: str) -> None:
    assert err == f"claims-engine: error: {where}: {problem}\n"
    assert "Traceback" not in err


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _empty_lists(tmp_path: Path) -> Path:
    folder = tmp_path / "lists"
    folder.mkdir()
    (folder / "a.yaml").write_text("plans: [PPO-GOLD]\nrules: []\n")
    (folder / "b.yml").write_text("rules: []\n")
    return folder


def test_lint_refuses_a_folder_with_no_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _empty(tmp_path)
    code, out, err = _run(["rules", "lint", str(empty)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, NO_FILE)

    lists = _empty_lists(tmp_path)
    code, out, err = _run(["rules", "lint", str(lists), "--json"], capsys)
    assert (code, out) == (2, "")
    _one_line(err, lists, EMPTY_LISTS)

    code, out, err = _run(["rules", "lint", str(lists / "b.yml")], capsys)
    assert (code, out) == (2, "")
    _one_line(err, lists / "b.yml", EMPTY_LISTS)

    only_tests = tmp_path / "only-tests"  # a folder of cases is no pack
    shutil.copytree(RULES / "tests", only_tests / "tests")
    code, out, err = _run(["rules", "lint", str(only_tests)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, only_tests, NO_FILE)


def test_lint_refuses_an_empty_dated_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests", "*.md"))
    version = rules / "2027-01-01"
    version.mkdir()
    code, out, err = _run(["rules", "lint", str(rules)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, version, NO_FILE)
    with pytest.raises(RuleError, match="2027-01-01: no rule"):
        load_rulebook(rules)


def test_lint_still_reports_broken_files_as_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.yaml").write_text("rules: [\n")
    code, out, err = _run(["rules", "lint", str(broken)], capsys)
    assert (code, err) == (1, "")
    assert out.endswith(f"{broken}: 1 error(s), 0 warning(s): FAILED\n")


def test_the_loader_refuses_a_pack_with_no_rule(tmp_path: Path) -> None:
    empty = _empty(tmp_path)
    with pytest.raises(RuleError) as raised:
        load_pack(empty)
    assert str(raised.value) == f"{empty}: {NO_FILE}"
    lists = _empty_lists(tmp_path)
    with pytest.raises(RuleError) as raised:
        load_pack(lists)
    assert str(raised.value) == f"{lists}: {EMPTY_LISTS}"
    with pytest.raises(RuleError) as raised:
        load_rulebook(empty)
    assert str(raised.value) == f"{empty}: {NO_FILE}"


def test_rules_test_refuses_no_rule_and_no_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = _empty(tmp_path)
    code, out, err = _run(["rules", "test", "--cases", str(empty)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, "no rule test case (no *.yaml file with a 'cases' entry)")

    no_cases = tmp_path / "no-cases"
    no_cases.mkdir()
    (no_cases / "a.yaml").write_text("cases: []\n")
    code, out, err = _run(["rules", "test", str(RULES), "--cases", str(no_cases)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, no_cases, "no rule test case (no *.yaml file with a 'cases' entry)")

    code, out, err = _run(["rules", "test", str(empty), "--cases", str(RULES / "tests")], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, NO_FILE)


def _store_with_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, _, err = _run(["reference", "load", str(REFERENCE)], capsys)
    assert code == 0, err


def test_simulate_refuses_an_empty_candidate_or_rules_in_force(
    sqlite_store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))
    _store_with_reference(capsys)
    empty = _empty(tmp_path)
    simulate = ["rules", "simulate", "--out", str(tmp_path / "out"), "--processes", "1"]
    code, out, err = _run([*simulate, "--candidate", str(empty)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, NO_FILE)

    lists = _empty_lists(tmp_path)
    code, out, err = _run([*simulate, "--candidate", str(lists)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, lists, EMPTY_LISTS)

    monkeypatch.setenv("CLAIMS_RULES_DIR", str(empty))
    code, out, err = _run([*simulate, "--candidate", str(RULES)], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, NO_FILE)


def test_submit_refuses_a_rules_folder_with_no_rule(
    sqlite_store: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _store_with_reference(capsys)
    empty = _empty(tmp_path)
    monkeypatch.setenv("CLAIMS_RULES_DIR", str(empty))
    code, out, err = _run(["submit", str(TWO_CLAIMS), "--json"], capsys)
    assert (code, out) == (2, "")
    _one_line(err, empty, NO_FILE)

    monkeypatch.setenv("CLAIMS_RULES_DIR", str(RULES))  # nothing was stored meanwhile
    code, out, err = _run(["stats", "--json"], capsys)
    assert code == 0, err
    assert '"received": 0' in out


def test_a_rule_error_crosses_a_process_boundary() -> None:
    """A simulation's worker process that finds the rules folder emptied since the command
    loaded it sends the error back pickled: it must arrive as the same one line."""
    import pickle

    for error in (RuleError("r.yaml", "R1", "bad"), RuleError("empty", None, NO_FILE)):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is RuleError
        assert (str(back), back.file, back.rule_id, back.problem) == (
            str(error),
            error.file,
            error.rule_id,
            error.problem,
        )
