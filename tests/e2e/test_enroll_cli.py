"""``claims-engine enroll`` end to end on the embedded defaults (SQLite, no Redis): the guide's
834 examples applied and reported, a file applied twice changing nothing, one-line errors and
their exit codes, a retro-add that sends a CO-31 denial back to adjudication and pays it on the
next 835; and sponsor keys made by ``keys create --role sponsor``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from claims_engine.cli.demo import renumber
from tests.conftest import FIXTURES
from tests.e2e.cli_support import REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run
from tests.integration.enrollment_support import Line, Person, write_834
from tests.x12_oracle import pyx12_errors

EXAMPLES = FIXTURES / "x12" / "834"


@pytest.fixture
def store(sqlite_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, _, err = _run(["reference", "load", str(REFERENCE)], capsys)
    assert code == 0, err
    return tmp_path


def _example(store: Path, name: str, control: int) -> Path:
    """A guide example with ISA13 ``control`` (the examples all share 000010216)."""
    path = store / f"{name}.x12"
    path.write_bytes(renumber((EXAMPLES / f"{name}.x12").read_bytes(), control))
    return path


def test_guide_examples_are_applied_and_reported(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enroll = _example(store, "enroll-employee-in-multiple-health-care-insurance-products", 101)
    student = _example(store, "add-dependent-(full-time-student)-to-existing-enrollment", 102)
    code, out, err = _run(["enroll", str(enroll), str(student)], capsys)
    assert code == 0, err
    assert err == ""
    assert f"{enroll}: change file of sponsor 999888777: 1 added\n" in out
    assert "added      123456789 (INS at segment 5)" in out
    assert f"{student}: change file of sponsor 999888777: 1 added\n" in out
    assert "claims-engine acks 1 --out DIR" in out

    # the acknowledgments are stored: a 999 accepting the set, valid under pyx12
    code, out, _ = _run(["acks", "1", "--out", str(store / "acks")], capsys)
    assert code == 0
    [written] = out.split()
    nine = Path(written).read_text()
    assert "AK9*A*1*1*1~" in nine and pyx12_errors(nine) == []

    # the same file again: already applied, nothing changed
    code, out, err = _run(["enroll", str(enroll), "--json"], capsys)
    assert code == 0, err
    [again] = json.loads(out)["files"]
    assert again["duplicate_of"] == 1 and again["error"] is None
    code, out, _ = _run(["enroll", str(enroll)], capsys)
    assert code == 0 and "already applied (interchange 1): nothing changed" in out

    # a member the file cannot apply is listed with its reason; the file still applies (exit 0)
    cancel = _example(store, "cancel-a-dependent", 103)
    unknown = _example(store, "reinstate-employee-at-coverage-(hd)-level", 104)
    code, out, err = _run(["enroll", str(cancel), str(unknown), "--json"], capsys)
    assert code == 0, err
    first, second = json.loads(out)["files"]
    assert first["counts"]["terminated"] == 1
    [refused] = second["members"]
    assert refused["outcome"] == "refused" and refused["position"] == 6
    assert "not enrolled" in refused["reason"]


def test_bad_files_get_one_line_errors_and_the_others_apply(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _example(store, "enroll-employee-in-managed-care-product", 201)
    others = _example(store, "change-subscriber-information", 202)  # sponsor 000111000's
    not_x12 = store / "notes.txt"
    not_x12.write_text("hello\n")
    missing = store / "missing.x12"
    code, out, err = _run(
        ["enroll", "--sponsor", "999888777", str(not_x12), str(others), str(missing), str(good)],
        capsys,
    )
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0].startswith(f"claims-engine: {not_x12}: not an X12 interchange")
    assert lines[1] == (
        f"claims-engine: {others}: refused: the file's sponsor (N1*P5 N104) is 000111000, "
        "not 999888777: a sponsor sends its own enrollment only: nothing stored"
    )
    assert lines[2] == f"claims-engine: {missing}: cannot read: No such file or directory"
    assert "Traceback" not in err
    assert f"{good}: change file of sponsor 999888777: 1 added" in out

    # the refused file applied nothing: sent again as its own sponsor's, it applies
    code, out, err = _run(["enroll", str(others), "--json"], capsys)
    assert code == 0, err  # (it changes a member nobody enrolled: refused inside the file)
    [report] = json.loads(out)["files"]
    assert report["sponsor"] == "000111000" and report["counts"]["refused"] == 1

    # nothing could be done: exit 2 and one line
    code, _, err = _run(["enroll", "--sponsor", "424242", str(good)], capsys)
    assert code == 2
    assert err.startswith("claims-engine: error: --sponsor 424242 is not a sponsor")
    assert len(err.splitlines()) == 1


def test_a_retro_add_pays_a_co31_denial_on_the_next_835(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JOHN DOE (JD00999887777) of the two-claim sample is not enrolled: his claim is denied
    CO-31 and remitted. His employer's 834 enrolls him in the Gold PPO from 2026-10-01: the
    claim goes back to adjudication, is decided again on his coverage, and the next 835
    reverses the denial (CLP02 22) and carries the new decision."""
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0, err
    code, out, _ = _run(["status", "26463775", "--npi", "1234567893", "--json"], capsys)
    [before] = json.loads(out)
    assert {a["reason"] for a in before["adjustments"]} == {"31"}
    assert _run(["remit", "--out", str(store / "835-1")], capsys)[0] == 0

    john = Person(
        "021",
        "JD00999887777",
        last="DOE",
        first="JOHN",
        birth=date(1970, 1, 15),
        lines=[Line(begin=date(2026, 10, 1))],
    )
    add = store / "add.834"
    add.write_bytes(write_834([john], control=301, created=date(2026, 11, 2)))
    code, out, err = _run(["enroll", str(add)], capsys)
    assert code == 0, err
    assert "1 added, 1 readjusted" in out
    assert f"readjusted claim {before['payer_claim_number']} (service 2026-10-15)" in out
    assert "the member is covered on 2026-10-15 now" in out
    assert "adjudicated again: 1 decided" in out

    code, out, _ = _run(["status", before["payer_claim_number"], "--json"], capsys)
    [original] = json.loads(out)
    assert original["reversed_by"]
    code, out, _ = _run(["status", original["reversed_by"], "--json"], capsys)
    [replacement] = json.loads(out)
    assert replacement["state"] == "adjudicated"
    assert "31" not in {a["reason"] for a in replacement["adjustments"]}

    code, out, _ = _run(["remit", "--out", str(store / "835-2"), "--json"], capsys)
    assert code == 0
    [remittance] = json.loads(out)["remittances"]
    x12 = Path(remittance["path"]).read_text()
    assert "CLP*26463775*22*" in x12  # the denial reversed
    assert [e for e in pyx12_errors(x12) if "FOOTER" not in e] == []

    # applied again: nothing changes, nothing is sent back twice
    code, out, _ = _run(["enroll", str(add)], capsys)
    assert code == 0 and "already applied" in out and "readjusted claim" not in out


def test_sponsor_keys(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        ["keys", "create", "--role", "sponsor", "--sponsor", "999888777", "--json"], capsys
    )
    assert code == 0, err
    key = json.loads(out)
    assert (key["role"], key["sponsor_id"]) == ("sponsor", "999888777")
    code, out, _ = _run(["keys", "list"], capsys)
    assert f"{key['key_id']}  sponsor   834s of sponsor 999888777" in out
    for args, said in (
        (["--sponsor", "424242"], "sponsor 424242 is not in the reference data's sponsors.yaml"),
        ([], "a sponsor key takes --sponsor"),
        (["--sponsor", "999888777", "--npi", "1234567893"], "a sponsor key takes --sponsor"),
    ):
        code, _, err = _run(["keys", "create", "--role", "sponsor", *args], capsys)
        assert code == 2, args
        assert said in err and len(err.splitlines()) == 1
    code, _, err = _run(["keys", "create", "--role", "insurer", "--sponsor", "999888777"], capsys)
    assert code == 2 and "only a sponsor key takes --sponsor" in err


def test_an_834_sent_as_claims_is_refused_with_the_command_to_use(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enroll = _example(store, "enroll-employee-in-managed-care-product", 31)
    code, _, err = _run(["submit", str(enroll)], capsys)
    assert code == 1
    assert "an 834 enrollment file (GS01 BE), not claims" in err
    assert "claims-engine enroll" in err and "Traceback" not in err
    code, out, _ = _run(["enroll", str(enroll)], capsys)  # nothing was stored: it applies
    assert code == 0 and "1 added" in out
