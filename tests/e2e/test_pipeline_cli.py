"""The pipeline's commands end to end on the embedded defaults (SQLite, in-process workers):
what an operator types, what they read back, and one-line errors for what goes wrong."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.cli_support import REFERENCE, TWO_CLAIMS
from tests.e2e.cli_support import run_cli as _run
from tests.x12_oracle import pyx12_errors


@pytest.fixture
def store(sqlite_store: str, tmp_path: Path) -> Path:
    return tmp_path


def _ready(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, out, err = _run(["reference", "load", str(REFERENCE)], capsys)
    assert code == 0, err
    assert "reference set 1 stored" in out


def test_submit_stats_status_remit(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _ready(capsys)
    code, out, err = _run(["submit", str(TWO_CLAIMS), "--json"], capsys)
    assert code == 0, err
    [submitted] = json.loads(out)["submitted"]
    assert submitted["duplicate"] is False and submitted["interchange_id"] == 1

    code, out, _ = _run(["stats", "--json"], capsys)
    stats = json.loads(out)
    assert set(stats) == {"interchanges", "claims", "queues"}
    assert set(stats["claims"]) == {
        "received",
        "rejected",
        "accepted",
        "pended",
        "adjudicated",
        "remitted",
    }
    assert stats["interchanges"]["ingested"] == 1
    assert stats["claims"]["adjudicated"] + stats["claims"]["pended"] == 2
    assert all(n == 0 for n in stats["queues"].values())

    code, out, _ = _run(["remit", "--out", str(store / "835"), "--json"], capsys)
    assert code == 0
    remits = json.loads(out)["remittances"]
    assert remits
    for r in remits:
        text = Path(r["path"]).read_text()
        assert [e for e in pyx12_errors(text) if "FOOTER" not in e] == []

    code, out, _ = _run(["remittances", "--out", str(store / "again")], capsys)
    assert code == 0
    for r in remits:  # the stored 835s, byte for byte
        again = store / "again" / Path(r["path"]).name
        assert again.read_bytes() == Path(r["path"]).read_bytes()
    code, _, err = _run(["remittances", "9999999999", "--out", str(store / "none")], capsys)
    assert code == 1 and "no 835" in err

    code, out, _ = _run(["acks", "1", "--out", str(store / "acks")], capsys)
    assert code == 0 and ".999.x12" in out and ".277ca.x12" in out

    code, out, err = _run(["status", "26463774", "--npi", "1234567893", "--json"], capsys)
    assert code == 0, err
    [view] = json.loads(out)
    assert view["state"] in ("remitted", "pended")
    pccn = view["payer_claim_number"]
    code, text, _ = _run(["status", pccn], capsys)
    assert code == 0
    assert "history:" in text and "intake" in text


def test_resubmission_is_answered_as_a_duplicate(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ready(capsys)
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    code, out, _ = _run(["stats", "--json"], capsys)
    before = json.loads(out)
    code, out, _ = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 0
    assert "duplicate of interchange 1" in out and "TA1 025" in out
    assert json.loads(_run(["stats", "--json"], capsys)[1]) == before


def test_bad_input_gets_one_line_errors_and_loses_nothing(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 2 and "run `claims-engine db upgrade`" in err and "Traceback" not in err
    assert _run(["db", "upgrade"], capsys)[0] == 0
    code, _, err = _run(["submit", str(TWO_CLAIMS)], capsys)
    assert code == 2 and "claims-engine reference load" in err

    _ready(capsys)
    junk = store / "junk.txt"
    junk.write_text("this is not X12\n")
    missing = store / "missing.837"
    code, out, err = _run(["submit", str(junk), str(missing), str(TWO_CLAIMS)], capsys)
    assert code == 1
    assert f"{junk}: not an X12 interchange" in err
    assert f"{missing}: cannot read" in err
    assert "Traceback" not in err
    assert "interchange 1" in out  # the good file went through
    code, _, err = _run(["status", "NO-SUCH-CLAIM"], capsys)
    assert code == 1 and "no claim with payer claim number 'NO-SUCH-CLAIM'" in err
    code, _, err = _run(["worker"], capsys)
    assert code == 2 and "CLAIMS_REDIS_URL" in err
    with socket.socket() as taken:  # a metrics port another process serves: refused up front
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("CLAIMS_REDIS_URL", "redis://127.0.0.1:1/0")  # never reached
        code, _, err = _run(["worker", "--metrics-port", str(port)], capsys)
    assert code == 2 and f"metrics port 0.0.0.0:{port} cannot be served" in err
    assert err.count("\n") == 1


def test_reference_load_names_the_bad_file(
    store: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    bad = tmp_path / "ref"
    bad.mkdir()
    for f in REFERENCE.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "members.csv").write_text("member_id\nM1\n")
    code, _, err = _run(["reference", "load", str(bad)], capsys)
    assert code == 2 and "members.csv" in err and "Traceback" not in err


def test_an_output_folder_that_cannot_be_written_is_refused_first(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ready(capsys)
    assert _run(["submit", str(TWO_CLAIMS)], capsys)[0] == 0
    blocker = store / "a-file"
    blocker.write_text("")
    code, _, err = _run(["remit", "--out", str(blocker / "835")], capsys)
    assert code == 2 and "cannot write into" in err and "Traceback" not in err
    code, out, _ = _run(["remit", "--out", str(store / "835"), "--json"], capsys)
    assert code == 0 and json.loads(out)["remittances"]  # nothing was paid by the refused run
