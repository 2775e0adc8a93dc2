"""The store is an edge layer: no core module imports it (see STYLE.md, layers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.layers import CORE, PACKAGE


def _imports_store(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found += [
            f"{path.name}:{node.lineno} imports {n}"
            for n in names
            if n == "claims_engine.store" or n.startswith("claims_engine.store.")
        ]
    return found


def test_the_store_exists_as_a_package() -> None:
    assert (PACKAGE / "store" / "tables.py").is_file()


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_core_module_does_not_import_the_store(path: Path) -> None:
    assert _imports_store(path) == []
