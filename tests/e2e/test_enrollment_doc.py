"""The examples of docs/enrollment.md run as printed: its last shell block, in a folder that holds
the fixtures and the .venv of a clone, every command exiting 0."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.shell_blocks import ROOT, run_block, shell_block


@pytest.mark.skipif(shutil.which("curl") is None, reason="the examples use curl")
def test_the_enrollment_examples_run_as_printed(tmp_path: Path) -> None:
    command = ROOT / ".venv" / "bin" / "claims-engine"
    assert command.exists(), "the examples run the installed command"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    # as a user's shell has it: none of the test suite's keys (the store makes its own)
    done = run_block(shell_block(ROOT / "docs" / "enrollment.md", "## Examples"), tmp_path)
    out = done.stdout
    assert "already applied (interchange 1): nothing changed" in out
    assert '"terminated": 1' in out
    assert "the member is covered on 2026-10-15 now" in out
    assert "adjudicated again: 1 decided" in out
    assert '"state":"ingested"' in out and '"added":1' in out  # the API's answer
    assert list((tmp_path / "var" / "enrollment" / "acks").glob("*.999.x12"))
