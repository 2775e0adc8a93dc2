"""The command line end to end: files in, acknowledgment files and a summary out, no tracebacks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from claims_engine.cli.main import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main
from tests.conftest import VALID_837P, X12_FIXTURES
from tests.x12_maps import x212_map_folder
from tests.x12_oracle import pyx12_errors


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_writes_acknowledgments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        ["ingest", str(VALID_837P), "--out", str(tmp_path), "--received-on", "2026-11-02"], capsys
    )
    assert code == EXIT_OK, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "837p-two-claims.000000101.277ca.x12",
        "837p-two-claims.000000101.999.x12",
        "837p-two-claims.000000101.ta1.x12",
    ]
    assert "claims accepted        2" in out
    for name in names[:2]:
        assert pyx12_errors((tmp_path / name).read_text()) == []


def test_ingest_json_lists_every_rejection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(str(p) for p in (X12_FIXTURES / "837p").glob("*.edi"))
    code, out, _ = _run(["ingest", *files, "--out", str(tmp_path), "--json"], capsys)
    assert code == EXIT_OK
    report = json.loads(out)
    assert len(report["files"]) == len(files)
    rejected = sum(f["claims"]["rejected"] for f in report["files"])
    listed = sum(len(f["rejections"]) for f in report["files"])
    assert rejected == listed == len(files)
    assert all(r["reasons"] for f in report["files"] for r in f["rejections"])


def test_snip_levels_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = X12_FIXTURES / "837p" / "ambulance.edi"  # breaks only the NPI check digit (level 5)
    code, out, _ = _run(
        ["ingest", str(path), "--out", str(tmp_path), "--snip", "1-4", "--json"], capsys
    )
    assert code == EXIT_OK
    assert json.loads(out)["files"][0]["claims"] == {"accepted": 1, "rejected": 0}


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        ["ingest", str(tmp_path / "nope.edi"), str(VALID_837P), "--out", str(tmp_path / "o")],
        capsys,
    )
    assert code == EXIT_INPUT
    assert err.strip().count("\n") == 0
    assert "cannot read" in err and "nope.edi" in err
    assert "claims accepted        2" in out  # the readable file was still processed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "expected an ISA segment"),
        (b"ISA*00*", "ISA segment is incomplete"),
    ],
)
def test_not_x12_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = tmp_path / "bad.edi"
    path.write_bytes(content)
    code, _, err = _run(["ingest", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == EXIT_INPUT
    assert message in err
    assert "Traceback" not in err


def test_directory_as_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["ingest", str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code == EXIT_INPUT
    assert "cannot read" in err


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(VALID_837P), "--out", str(tmp_path), "--snip", "9"])
    assert exc.value.code == EXIT_USAGE
    assert "the engine applies SNIP levels 1 to 5" in capsys.readouterr().err


def test_output_directory_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = _run(["ingest", str(VALID_837P), "--out", str(blocker)], capsys)
    assert code == EXIT_USAGE
    assert "cannot create output directory" in err


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.edi"
    bad.write_bytes(b"garbage")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "claims_engine.cli.main",
            "ingest",
            str(bad),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == EXIT_INPUT
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("claims-engine: ")


def test_partner_settings_choose_snip_levels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = X12_FIXTURES / "837p" / "ambulance.edi"  # sender 123456789012345, bad NPI check digit
    partners = tmp_path / "partners.json"
    partners.write_text(json.dumps({"123456789012345": {"snip": "1-4"}}))
    code, out, _ = _run(
        ["ingest", str(path), "--out", str(tmp_path / "o"), "--partners", str(partners), "--json"],
        capsys,
    )
    assert code == EXIT_OK
    assert json.loads(out)["files"][0]["claims"] == {"accepted": 1, "rejected": 0}


def test_bad_partner_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    partners = tmp_path / "partners.json"
    partners.write_text('{"X": {"snip": "0-9"}}')
    code, _, err = _run(
        ["ingest", str(VALID_837P), "--out", str(tmp_path), "--partners", str(partners)], capsys
    )
    assert code == EXIT_USAGE
    assert "partner 'X'" in err


def test_generate_then_ingest_with_other_delimiters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "batch.837"
    code, out, err = _run(
        [
            "fixtures",
            "generate",
            "--claims",
            "300",
            "--seed",
            "5",
            "--delimiters",
            "|{^\\n",
            "--as-of",
            "2026-10-31",
            "--out",
            str(batch),
        ],
        capsys,
    )
    assert code == EXIT_OK, err
    assert "wrote 300 claims" in out
    text = batch.read_text()
    assert text.startswith("ISA|00|") and "~" not in text
    code, out, _ = _run(
        [
            "ingest",
            str(batch),
            "--out",
            str(tmp_path / "o"),
            "--received-on",
            "2026-11-01",
            "--json",
        ],
        capsys,
    )
    report = json.loads(out)["files"][0]
    assert report["claims"] == {"accepted": 300, "rejected": 0}
    for ack in (tmp_path / "o").glob("*.x12"):
        if ".ta1." not in ack.name:
            assert pyx12_errors(ack.read_text()) == []


def test_demo_runs_the_whole_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["demo", "--out", str(tmp_path)], capsys)
    assert code == EXIT_OK, err
    assert "decisions:" in out and "835 remittances" in out and "claims by state:" in out
    assert "duplicate of interchange" in out
    remits = sorted((tmp_path / "835").glob("*.x12"))
    assert remits
    acks = sorted((tmp_path / "acks").glob("*.x12"))
    assert any(p.name.endswith(".999.x12") for p in acks)
    assert any(p.name.endswith(".277ca.x12") for p in acks)
    assert "*R*025~" in (tmp_path / "acks" / "resubmission.ta1.x12").read_text()
    for path in [*remits[:3], *(p for p in acks if not p.name.endswith(".ta1.x12"))]:
        assert pyx12_errors(path.read_text()) == [], path
    for path in remits + acks:
        assert str(path) in out
    # the HTTP API on the demo's store: the claim for its provider and patient, not for another
    assert "HTTP API (claims-engine serve)" in out
    assert re.search(r"another provider +GET /v1/claims/\{id\} +404  not_found", out), out
    assert re.search(r"the patient +GET /fhir/r4/ExplanationOfBenefit/\{id\} +200", out), out
    answer = (tmp_path / "api" / "answer.277.x12").read_text()
    assert "STC*F1:65*" in answer
    assert pyx12_errors(answer, str(x212_map_folder(tmp_path / "maps"))) == []
