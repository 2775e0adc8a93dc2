"""Running the command line in the test's process, at a fixed time, on a store of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from freezegun import freeze_time

from claims_engine.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "fixtures" / "reference"
TWO_CLAIMS = ROOT / "fixtures" / "x12" / "valid" / "837p-two-claims.edi"
FROZEN_AT = "2026-11-02 09:30:00"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``claims-engine ARGS`` at ``FROZEN_AT``."""
    with freeze_time(FROZEN_AT):
        code = main(args)
    out, err = capsys.readouterr()
    return code, out, err
