"""The examples of docs/enrollment.md run as printed: its last shell block, in a folder that holds
the fixtures and the .venv of a clone, every command exiting 0."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _examples() -> str:
    doc = (ROOT / "docs" / "enrollment.md").read_text()
    section = doc.split("## Examples", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the examples have no sh block"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("curl") is None, reason="the examples use curl")
def test_the_enrollment_examples_run_as_printed(tmp_path: Path) -> None:
    command = ROOT / ".venv" / "bin" / "claims-engine"
    assert command.exists(), "the examples run the installed command"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "fixtures").symlink_to(ROOT / "fixtures")
    # as a user's shell has it: none of the test suite's keys (the store makes its own)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    port = _free_port()
    script = _examples().replace("8000", str(port))
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
    out = done.stdout
    assert done.returncode == 0, f"{out[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    assert "already applied (interchange 1): nothing changed" in out
    assert '"terminated": 1' in out
    assert "the member is covered on 2026-10-15 now" in out
    assert "adjudicated again: 1 decided" in out
    assert '"state":"ingested"' in out and '"added":1' in out  # the API's answer
    assert list((tmp_path / "var" / "enrollment" / "acks").glob("*.999.x12"))
