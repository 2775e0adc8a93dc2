"""Same claims, reference data, rules and clock: byte-identical acknowledgments and 835s."""

from __future__ import annotations

from pathlib import Path

import pytest
from freezegun import freeze_time

from claims_engine.cli.main import EXIT_OK, main


def _demo(out: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, bytes]:
    with freeze_time("2026-11-02 09:30:00"):
        assert main(["demo", "--out", str(out)]) == EXIT_OK
    capsys.readouterr()
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.x12"))}


def test_demo_outputs_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _demo(tmp_path / "one", capsys)
    second = _demo(tmp_path / "two", capsys)
    assert any(name.startswith("835") for name in first)
    assert first == second
