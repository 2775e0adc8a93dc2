"""Which modules are compiled with mypyc, and whether this process runs them compiled.

Intake (tokenizer, envelopes, the 837 reader, the edits, the acknowledgment writers) is the
engine's hot path, and the 270, 276 and 834 readers are those of the routes answered while the
sender waits; ``setup.py`` compiles these modules with mypyc into extension modules that
sit beside their sources. Python prefers an extension to a source file of the same name, so a
source edited after the build would be silently shadowed by the extension built from its old
text. :func:`install` prevents that: unless every extension module is there and every source
the build depends on (``COMPILED`` and ``COMPILED_AGAINST``) still has the digest it was built
from (``_compiled.json``), or when ``CLAIMS_ENGINE_PURE=1`` is set, every module of the list is
loaded from its source instead. It is all of them or none: compiled modules call each other
directly, not through the import system.

This module is read by ``setup.py`` before the package is installed: standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

COMPILED: tuple[str, ...] = (
    "claims_engine.domain.issues",
    "claims_engine.domain.model",
    "claims_engine.domain.money",
    "claims_engine.domain.npi",
    "claims_engine.front_end.edits",
    "claims_engine.front_end.ingest",
    "claims_engine.x12.acks",
    "claims_engine.x12.codes",
    "claims_engine.x12.envelope",
    "claims_engine.x12.envelope_walk",
    "claims_engine.x12.interchange",
    "claims_engine.x12.reader270",
    "claims_engine.x12.reader276",
    "claims_engine.x12.reader834",
    "claims_engine.x12.reader837",
    "claims_engine.x12.situational",
    "claims_engine.x12.structure",
    "claims_engine.x12.tokenizer",
)
# Not compiled, but compiled against: mypyc builds the modules above on these modules' types,
# so a build is stale when one of them changes too (a test keeps this list complete).
COMPILED_AGAINST: tuple[str, ...] = (
    "claims_engine",
    "claims_engine.domain",
    "claims_engine.domain.errors",
    "claims_engine.domain.frozen",
    "claims_engine.front_end",
    "claims_engine.runtime",
    "claims_engine.runtime.compiled",
    "claims_engine.x12",
    "claims_engine.x12.guides",
    "claims_engine.x12.segments",
)
BUILD_INPUTS = (*COMPILED, *COMPILED_AGAINST)  # the sources a build is made from
SHARED_LIBRARY = "claims_engine._native__mypyc"  # the code of every compiled module
RECORD = "_compiled.json"  # module name -> SHA-256 of the source a build was made from
PURE_VARIABLE = "CLAIMS_ENGINE_PURE"


def source_digests(root: Path) -> dict[str, str]:
    """The SHA-256 of the source of every module a build depends on ("" when unreadable)."""
    found = {}
    for name in BUILD_INPUTS:
        try:
            found[name] = hashlib.sha256(source_path(root, name).read_bytes()).hexdigest()
        except OSError:
            found[name] = ""
    return found


def extension_paths(root: Path, name: str) -> list[Path]:
    """The extension modules that could stand for module ``name`` under ``root``."""
    base = root.joinpath(*name.split("."))
    if base.is_dir():
        base = base / "__init__"
    return [base.with_name(base.name + s) for s in importlib.machinery.EXTENSION_SUFFIXES]


def source_path(root: Path, name: str) -> Path:
    """The source file of module ``name`` under the project root ``root``."""
    path = root.joinpath(*name.split("."))
    package = path / "__init__.py"
    return package if package.exists() else path.with_suffix(".py")


def stale_sources(root: Path) -> list[str]:
    """The modules whose source differs from what the build was made from (all without one)."""
    try:
        built = json.loads((root / "claims_engine" / RECORD).read_text())
    except (OSError, ValueError):
        return list(BUILD_INPUTS)
    return [name for name, digest in source_digests(root).items() if built.get(name) != digest]


def missing_extensions(root: Path) -> list[str]:
    """The compiled modules (and the shared library) with no extension module under ``root``."""
    return [
        name
        for name in (*COMPILED, SHARED_LIBRARY)
        if not any(p.exists() for p in extension_paths(root, name))
    ]


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled modules' sources, ahead of the extension modules beside them."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        source = source_path(self.root, fullname)
        locations = [str(source.parent)] if source.name == "__init__.py" else None
        return importlib.util.spec_from_file_location(
            fullname, source, submodule_search_locations=locations
        )


_state: dict[str, bool] = {}


def install(root: Path) -> None:
    """Decide, once per process, whether the compiled modules run compiled (see the module doc):
    only a whole build (every extension module), made from the sources as they are now."""
    if "compiled" in _state:
        return
    missing = missing_extensions(root)
    compiled = len(missing) < len(COMPILED) + 1  # some extension module is there
    pure = os.environ.get(PURE_VARIABLE, "") not in ("", "0")
    if compiled and (pure or missing or stale_sources(root)):
        sys.meta_path.insert(0, _SourceFinder(root))
        compiled = False
    _state["compiled"] = compiled


def running_compiled() -> bool:
    """Whether this process runs the compiled modules as extensions."""
    return _state.get("compiled", False)
