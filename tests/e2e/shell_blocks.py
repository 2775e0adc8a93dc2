"""Shell blocks of the documentation run as printed: the block under a heading, run by bash
in a folder set up as a user's, on a free port, with the user's environment (none of the
test suite's ``CLAIMS_*`` keys)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shell_block(document: Path, heading: str) -> str:
    """The first ``sh`` block after ``heading`` in ``document``."""
    section = document.read_text().split(heading, 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, f"{document.name}: no sh block after {heading!r}"
    return found.group(1)


def users_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}


def run_block(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` with its port 8000 moved to a free one, run by ``bash -euo pipefail``: every
    command must exit 0 and none may print a traceback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    moved = script.replace("8000", str(port))
    assert str(port) in moved
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", moved],
        cwd=cwd,
        env=users_environment(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    return done
