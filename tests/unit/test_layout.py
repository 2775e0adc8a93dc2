"""One folder per layer: a module's path names its layer, no module name means two things, and
no module of the package imports, through others, itself."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from tests.unit.layers import CORE_PACKAGES, EDGE_PACKAGES, MODULES, PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_sits_in_a_layer_folder() -> None:
    """Only the package's ``__init__`` sits at the root; every folder is a core or an edge one."""
    loose = [
        p.relative_to(PACKAGE).as_posix()
        for p in MODULES
        if len(p.relative_to(PACKAGE).parts) == 1 and p.name != "__init__.py"
    ]
    assert loose == []
    folders = {p.relative_to(PACKAGE).parts[0] for p in MODULES if p.parent != PACKAGE}
    assert folders == CORE_PACKAGES | EDGE_PACKAGES
    assert not CORE_PACKAGES & EDGE_PACKAGES


def test_no_module_name_twice() -> None:
    """``intake.py`` in one folder and ``intake.py`` in another read alike in a traceback, a log
    or a review: each file name is used once in the package (``__init__.py`` aside)."""
    names = Counter(p.name for p in MODULES if p.name != "__init__.py")
    names.update(p.parent.name + ".py" for p in MODULES if p.name == "__init__.py")
    assert sorted(n for n, count in names.items() if count > 1) == []


def _imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules ``path`` imports, anywhere in it (a function-level import counts:
    it is a cycle that only waits for its call)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        else:
            continue
        for name in candidates:
            if name in known:
                found.add(name)
                break
    return found


def test_no_import_cycle() -> None:
    names = {_module_name(p): p for p in MODULES}
    graph = {
        name: {d for d in _imports(path, set(names)) if d not in (name, "claims_engine")}
        for name, path in names.items()
    }
    # a package's __init__ importing its own modules is no cycle of concern
    graph = {n: {d for d in deps if not n.startswith(d + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*trail[trail.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_layout_table_of_the_development_guide_names_every_folder() -> None:
    text = (PACKAGE.parent / "docs" / "development.md").read_text()
    missing = [
        f for f in sorted(CORE_PACKAGES | EDGE_PACKAGES) if f"`claims_engine/{f}/`" not in text
    ]
    assert missing == []
