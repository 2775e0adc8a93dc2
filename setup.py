"""Builds the intake's hot path as C extensions with mypyc; everything else is in pyproject.toml.

The modules in ``claims_engine/runtime/compiled.py`` (``COMPILED``) are ordinary typed Python: mypyc
compiles them, unchanged, into extension modules that sit beside their sources (an editable
install builds them in place). ``CLAIMS_ENGINE_COMPILE=0`` at install time skips this and
installs pure Python, as does a build that fails. After a build, the digests of the sources it
was made from (taken before mypyc read them) are written to ``claims_engine/_compiled.json``
beside the extension modules, so that an edited source is never shadowed by an extension built
from its old text: see :mod:`claims_engine.runtime.compiled`.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "claims_engine" / "runtime"))
# the lists live in one place
from compiled import (  # noqa: E402
    COMPILED,
    RECORD,
    missing_extensions,
    source_digests,
    source_path,
)

sys.path.pop(0)
RECORD_FILE = ROOT / "claims_engine" / RECORD


def _fall_back(why: object) -> None:
    print(
        f"claims-engine: the intake could not be compiled ({why}); installing pure Python, "
        "which runs it about 1.3 times slower",
        file=sys.stderr,
    )


def extensions() -> tuple[list[Extension], dict[str, str]]:
    """The extension modules to build, and the digests of the sources they are made from."""
    if os.environ.get("CLAIMS_ENGINE_COMPILE", "1") == "0":
        # an extension built before in this tree no longer runs (claims_engine/runtime/compiled.py)
        RECORD_FILE.unlink(missing_ok=True)
        return [], {}
    digests = source_digests(ROOT)  # before mypyc reads them
    try:
        from mypyc.build import mypycify

        built = mypycify(
            [str(source_path(ROOT, name).relative_to(ROOT)) for name in COMPILED],
            opt_level="3",
            debug_level="0",
            group_name="claims_engine._native",  # the shared library sits inside the package
        )
    except (Exception, SystemExit) as error:  # mypyc missing, or refusing: a pure install
        _fall_back(error)
        RECORD_FILE.unlink(missing_ok=True)
        return [], {}
    return list(built), digests


EXTENSIONS, DIGESTS = extensions()


class BuildExt(build_ext):
    """Builds the extensions, then records the sources they came from, where the extensions
    are put: beside the sources for an editable install (after removing any extension module
    left there by an earlier build), in the build folder for a wheel. Where they cannot be
    built (no C compiler, say), says so and installs pure Python."""

    def run(self) -> None:
        in_tree = bool(self.inplace or self.editable_mode)
        if in_tree:
            RECORD_FILE.unlink(missing_ok=True)
            for old in (ROOT / "claims_engine").rglob("*"):
                if any(str(old).endswith(s) for s in EXTENSION_SUFFIXES):
                    old.unlink()
        if not self.extensions:
            return
        try:
            super().run()
        except (CCompilerError, BaseError, OSError) as error:
            _fall_back(error)
            return
        if source_digests(ROOT) != DIGESTS:
            _fall_back("a source changed while it was being compiled: build again")
            return
        place = ROOT if in_tree else Path(self.build_lib)
        if not missing_extensions(place):
            text = json.dumps(DIGESTS, indent=1, sort_keys=True) + "\n"
            (place / "claims_engine" / RECORD).write_text(text)


setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": BuildExt})
