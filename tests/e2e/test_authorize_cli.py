"""`claims-engine authorize` on a store without reference data: an inquiry (X215) is answered
from the store alone, as the API answers it; a request for review, which needs the reference
data to be decided, stops the command in one line (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli_support import ROOT
from tests.e2e.cli_support import run_cli as _run

X278 = ROOT / "fixtures" / "x12" / "278"


def test_an_inquiry_needs_no_reference_data_a_request_does(
    sqlite_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    out = tmp_path / "out"
    code, said, err = _run(
        ["authorize", str(X278 / "x215" / "inquiry.x12"), "--out", str(out)], capsys
    )
    assert (code, err) == (0, "")
    assert said.startswith(f"{X278 / 'x215' / 'inquiry.x12'}: 278 written to")
    answer = (out / "inquiry.x12.278").read_text()
    assert "005010X215" in answer and "AAA*" in answer  # no such request in this store
    request = X278 / "referral-request-for-review.x12"
    code, said, err = _run(["authorize", str(request), "--out", str(out)], capsys)
    assert code == 2 and said == ""
    assert err.strip().splitlines() == [
        "claims-engine: error: the store holds no reference data: run "
        "`claims-engine reference load DIR` first"
    ]
    assert not (out / "referral-request-for-review.x12.278").exists()


def test_a_file_that_cannot_be_read_is_not_answered_the_others_are(
    sqlite_store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["db", "upgrade"], capsys)[0] == 0
    out = tmp_path / "out"
    inquiry = X278 / "x215" / "inquiry.x12"
    missing = tmp_path / "nosuch.x12"
    code, said, err = _run(["authorize", str(missing), str(inquiry), "--out", str(out)], capsys)
    assert code == 1
    assert err.splitlines() == [f"claims-engine: {missing}: cannot read: No such file or directory"]
    assert said.splitlines() == [
        f"{inquiry}: 278 written to {out / 'inquiry.x12.278'} (1 event: 0 reviewed, 1 rejected)",
    ]
