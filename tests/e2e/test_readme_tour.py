"""The README's tour runs as printed: its shell block, in a folder that holds what a clone
holds after `make demo` (the demo's store, the rules, the .venv), every command exiting 0."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.shell_blocks import ROOT, run_block, shell_block, users_environment


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour uses curl")
def test_the_readme_tour_runs_as_printed(tmp_path: Path) -> None:
    command = ROOT / ".venv" / "bin" / "claims-engine"
    assert command.exists(), "the tour runs the installed command"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    # as a user's shell has it: none of the test suite's keys, the demo's key file instead
    env = users_environment()
    demo = subprocess.run(
        [str(command), "demo", "--out", "var/demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr
    done = run_block(shell_block(ROOT / "README.md", "## A five-minute tour"), tmp_path)
    assert '"payer_claim_number"' in done.stdout  # the API answered
    assert "claims changed" in done.stdout  # the simulation reported
    assert (tmp_path / "var" / "tour" / "simulation" / "report.html").exists()
