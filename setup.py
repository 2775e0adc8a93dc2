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

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "claims_engine"))
from compiled import COMPILED, RECORD, source_path  # noqa: E402  (the list lives in one place)

sys.path.pop(0)


RECORD_FILE = ROOT / "claims_engine" / RECORD


def digests() -> dict[str, str]:
    return {
        name: hashlib.sha256(source_path(ROOT, name).read_bytes()).hexdigest() for name in COMPILED
    }


def extensions() -> list[Extension]:
    RECORD_FILE.unlink(missing_ok=True)  # written again once the build has succeeded
    if os.environ.get("CLAIMS_ENGINE_COMPILE", "1") == "0":
        return []
    from mypyc.build import mypycify

    return list(
        mypycify(
            [str(source_path(ROOT, name).relative_to(ROOT)) for name in COMPILED],
            opt_level="3",
            debug_level="0",
            group_name="claims_engine._native",  # the shared library sits inside the package
        )
    )


class BuildExt(build_ext):
    """Builds the extensions, then records the sources they came from. Where they cannot be
    built (no C compiler, say), says so and installs pure Python: without the record, every
    listed module runs from its source (claims_engine/compiled.py)."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except (CCompilerError, BaseError, OSError) as error:
            RECORD_FILE.unlink(missing_ok=True)
            print(
                f"claims-engine: the intake could not be compiled ({error}); "
                "installing pure Python, which runs it about 1.3 times slower",
                file=sys.stderr,
            )
            return
        text = json.dumps(digests(), indent=1, sort_keys=True) + "\n"
        RECORD_FILE.write_text(text)
        built = Path(self.build_lib) / "claims_engine"
        if built.is_dir():
            (built / RECORD).write_text(text)


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
