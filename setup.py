"""Builds the intake's hot path as C extensions with mypyc; everything else is in pyproject.toml.

The modules in ``claims_engine/compiled.py`` (``COMPILED``) are ordinary typed Python: mypyc
compiles them, unchanged, into extension modules that sit beside their sources (an editable
install builds them in place). ``CLAIMS_ENGINE_COMPILE=0`` at install time skips this and
installs pure Python. The digest of every compiled source is written to
``claims_engine/_compiled.json``, so that an edited source is never shadowed by an extension
built from its old text: see :mod:`claims_engine.compiled`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "claims_engine"))
from compiled import COMPILED, RECORD, source_path  # noqa: E402  (the list lives in one place)

sys.path.pop(0)


def extensions() -> list[object]:
    record = ROOT / "claims_engine" / RECORD
    if os.environ.get("CLAIMS_ENGINE_COMPILE", "1") == "0":
        record.unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    sources = [source_path(ROOT, name) for name in COMPILED]
    digests = {
        name: hashlib.sha256(path.read_bytes()).hexdigest()
        for name, path in zip(COMPILED, sources, strict=True)
    }
    record.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    return list(
        mypycify(
            [str(path.relative_to(ROOT)) for path in sources],
            opt_level="3",
            debug_level="0",
            group_name="claims_engine._native",  # the shared library sits inside the package
        )
    )


setup(ext_modules=extensions())
