"""The core imports no database, broker, network, environment or clock (see STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.layers import CORE, PACKAGE

FORBIDDEN_MODULES = {
    "sqlmodel",
    "sqlalchemy",
    "dramatiq",
    "redis",
    "socket",
    "http",
    "urllib",
    "requests",
    "httpx",
    "os",
    "subprocess",
    "claims_engine.runtime",
    "claims_engine.cli",
    "claims_engine.services",
    "claims_engine.observability",
    "time",
}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today")}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_MODULES):
                found.append(f"{path.name}:{getattr(node, 'lineno', 0)} imports {name}")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"{path.name}:{node.lineno} reads the clock ({node.value.id}.{node.attr})")
    return found


def test_core_modules_were_found() -> None:
    names = {p.name for p in CORE}
    assert {"model.py", "reader837.py", "ingest.py", "edits.py", "engine.py", "acks.py"} <= names


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_is_pure(path: Path) -> None:
    assert _problems(path) == []
