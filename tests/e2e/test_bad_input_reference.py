"""Issue 16.2 on reference data, trading partner files and SNIP levels: each bad input ends in
one line naming what and where, a non-zero exit and no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from claims_engine.domain.errors import ConfigurationError
from claims_engine.front_end.edits import parse_levels
from tests.e2e.cli_support import REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run
from workers.settings import Settings

CSV_AND_YAML = (
    "members.csv",
    "providers.csv",
    "plans.yaml",
    "fee_schedule.csv",
    "revenue_rates.csv",
    "authorizations.csv",
    "payer.yaml",
)


def _reference(tmp_path: Path) -> Path:
    folder = tmp_path / "reference"
    shutil.copytree(REFERENCE, folder)
    return folder


def _one_error_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("claims-engine: error: "), err
    return lines[0]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# --- reference load: files that are not UTF-8 -----------------------------------------------------


@pytest.mark.parametrize("name", CSV_AND_YAML)
@pytest.mark.parametrize("check", [True, False])
def test_a_reference_file_not_in_utf8_is_named_with_its_line(
    name: str, check: bool, tmp_path: Path, sqlite_store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _reference(tmp_path)
    lines = (folder / name).read_bytes().split(b"\n")
    lines[2] += b" caf\xe9"  # Latin-1, as a spreadsheet may save it
    (folder / name).write_bytes(b"\n".join(lines))
    if not check:
        assert _run(["db", "upgrade"], capsys)[0] == 0
    code, out, err = _run(
        ["reference", "load", str(folder), *(["--check"] if check else [])], capsys
    )
    line = _one_error_line(err)
    assert code == 2
    assert f"{folder / name}: line 3" in line
    assert "UTF-8" in line
    assert "valid" not in out


# --- reference load --check: payer.yaml as the load checks it -------------------------------------


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "payer.yaml is missing"),
        (": [\n", "payer.yaml: line 1, column 1: not valid YAML"),
        ("name: ACME\n", "payer.yaml: missing 'address'"),
        ("- a list\n", "payer.yaml: expected a mapping"),
    ],
)
def test_check_refuses_the_payer_file_the_load_refuses(
    content: str | None,
    named: str,
    tmp_path: Path,
    sqlite_store: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _reference(tmp_path)
    if content is None:
        (folder / "payer.yaml").unlink()
    else:
        (folder / "payer.yaml").write_text(content, encoding="utf-8")
    code, out, err = _run(["reference", "load", str(folder), "--check"], capsys)
    assert code == 2
    assert named in _one_error_line(err)
    assert "valid" not in out
    # and the load itself says the same
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, _, load_err = _run(["reference", "load", str(folder)], capsys)
    assert code == 2 and load_err == err


def test_check_of_a_good_folder_still_says_valid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = _run(["reference", "load", str(REFERENCE), "--check"], capsys)
    assert code == 0, err
    assert "is valid" in out


# --- plans.yaml: the line of the problem ----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "what"),
    [
        # a date YAML cannot make a date of (month 13)
        (
            "      - effective_from: 2024-01-01\n",
            "      - effective_from: 2024-13-01\n",
            12,
            "effective_from",
        ),
        # a number that is not one, inside a flow mapping
        (
            'coinsurance:       {in: "20", out: "40"}',
            'coinsurance:       {in: "20", out: "x"}',
            15,
            "coinsurance.out",
        ),
        ("timely_filing_days: 365 ", "timely_filing_days: soon ", 9, "plan PPO-GOLD"),
        ("    kind: medical\n", "    kind: medical\n    rules_by: whim\n", 8, "rules_by is 'whim'"),
        (
            '    plan_year_start: "01-01"          #',
            "    bogus: 1          #",
            5,
            "missing 'plan_year_start'",
        ),
        (
            "        deductible:        {individual",
            "        deductible_x:      {individual",
            12,
            "missing 'deductible'",
        ),
        (
            "    versions:\n      - effective_from: 2024-01-01\n        deductible:  ",
            "    versions: [\n",
            13,
            "not valid YAML",
        ),
    ],
)
def test_a_plans_problem_names_its_line(
    old: str,
    new: str,
    line: int,
    what: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _reference(tmp_path)
    _replace(folder / "plans.yaml", old, new)
    code, out, err = _run(["reference", "load", str(folder), "--check"], capsys)
    message = _one_error_line(err)
    assert code == 2
    assert f"plans.yaml: line {line}" in message
    assert what in message
    assert "valid" not in out


# --- ingest --partners ----------------------------------------------------------------------------


def _ingest_with_partners(
    tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, Path]:
    partners = tmp_path / "partners.json"
    partners.write_bytes(content)
    code, _, err = _run(
        ["ingest", str(TWO_CLAIMS), "--out", str(tmp_path / "out"), "--partners", str(partners)],
        capsys,
    )
    return code, _one_error_line(err), partners


def test_a_partners_file_not_in_utf8_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line, partners = _ingest_with_partners(
        tmp_path, b'{\n  "SUBMITTER01": {"snip": "1-3"},\n  "CAF\xc9": {"snip": "1-3"}\n}\n', capsys
    )
    assert code == 2
    assert f"{partners}: line 3" in line and "UTF-8" in line


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"[1, 2]", "expected an object of sender ids"),
        (b'"SUBMITTER01"', "expected an object of sender ids"),
        (b"{not json", "not valid JSON"),
        (b'{"SUBMITTER01": "1-3"}', "partner 'SUBMITTER01'"),
        (
            b'{"SUBMITTER01": {"snip": "1-3"}, "SUBMITTER01": {"snip": "1-5"}}',
            "'SUBMITTER01' is given twice",
        ),
        (b'{"SUBMITTER01": {"snip": 3}}', "partner 'SUBMITTER01'"),
        (
            b'{"SUBMITTER01": {"snip": "1-3", "snipp": "1-2"}}',
            "partner 'SUBMITTER01': unknown setting 'snipp'",
        ),
        (b'{"SUBMITTER01": {"snip": "6-7"}}', "partner 'SUBMITTER01'"),
        (b'{"SUBMITTER01": {"snip": "3-1"}}', "backwards"),
        (b'{"": {"snip": "1-3"}}', "partner '': a sender id"),
        (b'{" SUBMITTER01": {"snip": "1-3"}}', "partner ' SUBMITTER01': a sender id"),
        (
            b'{"SUBMITTER01SUBMITTER01": {"snip": "1-3"}}',
            "partner 'SUBMITTER01SUBMITTER01': a sender id",
        ),
    ],
)
def test_a_wrong_partners_file_names_the_file_and_the_sender(
    content: bytes, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, line, partners = _ingest_with_partners(tmp_path, content, capsys)
    assert code == 2
    assert str(partners) in line and named in line


# --- SNIP levels ----------------------------------------------------------------------------------


def test_snip_levels_the_engine_applies() -> None:
    assert parse_levels("1-5") == frozenset({1, 2, 3, 4, 5})
    assert parse_levels("1-3,5") == frozenset({1, 2, 3, 5})
    with pytest.raises(ValueError, match=r"'3-1': the range is backwards \(write 1-3\)"):
        parse_levels("3-1")
    for text in ("6-7", "6", "0", "1-7", "4-6"):
        with pytest.raises(ValueError, match="the engine applies SNIP levels 1 to 5"):
            parse_levels(text)


@pytest.mark.parametrize(
    ("snip", "named"),
    [("3-1", "'3-1': the range is backwards"), ("6-7", "the engine applies SNIP levels 1 to 5")],
)
def test_ingest_snip_option(
    snip: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["ingest", str(TWO_CLAIMS), "--out", str(tmp_path), "--snip", snip], capsys)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"argument --snip: {snip!r}" in err and named in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value", ["banana", "6-7", "3-1"])
def test_claims_snip_levels_names_the_variable(
    value: str,
    sqlite_store: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CLAIMS_SNIP_LEVELS", value)
    with pytest.raises(ConfigurationError, match=f"CLAIMS_SNIP_LEVELS={value!r}"):
        Settings.from_env()
    for command in (["db", "upgrade"], ["stats"]):
        code, _, err = _run(command, capsys)
        assert code == 2
        assert f"CLAIMS_SNIP_LEVELS={value!r}" in _one_error_line(err)


def test_claims_snip_levels_as_set(sqlite_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAIMS_SNIP_LEVELS", "1-3")
    assert Settings.from_env().levels == frozenset({1, 2, 3})
    monkeypatch.setenv("CLAIMS_SNIP_LEVELS", "")
    assert Settings.from_env().levels == frozenset({1, 2, 3, 4, 5})


@pytest.mark.parametrize(
    ("name", "old", "new", "named"),
    [
        ("plans.yaml", 'office_visit: "25.00"', 'office_visit: "inf"', "line 16, plan PPO-GOLD"),
        ("plans.yaml", 'in: "20", out: "40"', 'in: "NaN", out: "40"', "coinsurance.in: 'NaN'"),
        ("plans.yaml", "plans:\n", "plan:\n", "plans.yaml: line 4: expected a top-level 'plans'"),
        ("fee_schedule.csv", "11721,,*,55.25,", "11721,,*,Infinity,", "line 2, column 'allowed'"),
        (
            "revenue_rates.csv",
            "0110,per_diem,1850.00,",
            "0110,per_diem,nan,",
            "line 2, column 'rate'",
        ),
    ],
)
def test_a_number_that_is_none_is_refused(
    name: str,
    old: str,
    new: str,
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = _reference(tmp_path)
    _replace(folder / name, old, new)
    code, out, err = _run(["reference", "load", str(folder), "--check"], capsys)
    assert code == 2
    assert named in _one_error_line(err)
    assert "valid" not in out
