"""The README's tour runs as printed: its shell block, in a folder that holds what a clone
holds after `make demo` (the demo's store, the rules, the .venv), every command exiting 0."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tour() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A five-minute tour", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the tour has no sh block"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tour uses curl")
def test_the_readme_tour_runs_as_printed(tmp_path: Path) -> None:
    command = ROOT / ".venv" / "bin" / "claims-engine"
    assert command.exists(), "the tour runs the installed command"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    # as a user's shell has it: none of the test suite's keys, the demo's key file instead
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
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
    port = _free_port()
    script = _tour().replace("8000", str(port))
    assert str(port) in script
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    assert '"payer_claim_number"' in done.stdout  # the API answered
    assert "claims changed" in done.stdout  # the simulation reported
    assert (tmp_path / "var" / "tour" / "simulation" / "report.html").exists()
