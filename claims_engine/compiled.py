"""Which modules are compiled with mypyc, and whether this process runs them compiled.

Intake (tokenizer, envelopes, the 837 reader, the edits, the acknowledgment writers) is the
engine's hot path; ``setup.py`` compiles these modules with mypyc into extension modules that
sit beside their sources. Python prefers an extension to a source file of the same name, so a
source edited after the build would be silently shadowed by the extension built from its old
text. :func:`install` prevents that: when any compiled module's source no longer has the
digest it was built from (``_compiled.json``), or when ``CLAIMS_ENGINE_PURE=1`` is set, every
module of the list is loaded from its source instead. It is all of them or none: compiled
modules call each other directly, not through the import system.

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
    "claims_engine.edits",
    "claims_engine.intake",
    "claims_engine.money",
    "claims_engine.npi",
    "claims_engine.x12.acks",
    "claims_engine.x12.codes",
    "claims_engine.x12.envelope",
    "claims_engine.x12.reader837",
    "claims_engine.x12.tokenizer",
)
RECORD = "_compiled.json"  # module name -> SHA-256 of the source it was compiled from
PURE_VARIABLE = "CLAIMS_ENGINE_PURE"


def source_path(root: Path, name: str) -> Path:
    """The source file of module ``name`` under the project root ``root``."""
    path = root.joinpath(*name.split("."))
    package = path / "__init__.py"
    return package if package.exists() else path.with_suffix(".py")


def stale_sources(root: Path) -> list[str]:
    """The compiled modules whose source differs from what was compiled (all, without a record)."""
    try:
        digests = json.loads((root / "claims_engine" / RECORD).read_text())
    except (OSError, ValueError):
        return list(COMPILED)
    stale = []
    for name in COMPILED:
        try:
            digest = hashlib.sha256(source_path(root, name).read_bytes()).hexdigest()
        except OSError:
            digest = ""
        if digests.get(name) != digest:
            stale.append(name)
    return stale


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
    """Decide, once per process, whether the compiled modules run compiled (see the module doc)."""
    if "compiled" in _state:
        return
    extensions = importlib.machinery.EXTENSION_SUFFIXES
    built = any(
        source_path(root, name).with_name(source_path(root, name).stem + suffix).exists()
        for name in COMPILED
        for suffix in extensions
    )
    pure = os.environ.get(PURE_VARIABLE, "") not in ("", "0")
    if built and (pure or stale_sources(root)):
        sys.meta_path.insert(0, _SourceFinder(root))
        built = False
    _state["compiled"] = built


def running_compiled() -> bool:
    """Whether this process runs the compiled modules as extensions."""
    return _state.get("compiled", False)
