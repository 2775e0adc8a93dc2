"""Rule packs in force by date: the versions an insurer ships, each from a day on.

A rules folder is either one pack (its ``*.yaml`` files, see :func:`~claims_engine.rules.
load_pack`), in force for every date, or a pack plus dated versions: each subfolder named
``YYYY-MM-DD`` is a whole pack in force from that date of service on, until the next one. The
folder's own files, when it has any, are the pack in force before the first dated version::

    rules/                    in force until 2026-06-30
    rules/2026-07-01/         from 2026-07-01
    rules/2027-01-01/         from 2027-01-01

Other subfolders (``tests/`` with rule test cases, say) are not packs. A claim is adjudicated
under the pack in force on its first date of service, or on the day it was received when its
plan says ``rules_by: receipt_date``; the decision records that pack's version.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from claims_engine.rules import RuleError, RulePack, load_pack

_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Packs by the first date each is in force (``None``: from the beginning), in order."""

    versions: tuple[tuple[date | None, RulePack], ...]

    def pack_on(self, day: date) -> RulePack:
        """The pack in force on ``day``; before the first dated version with no undated pack,
        the first version (a claim older than every version still meets rules)."""
        current = self.versions[0][1]
        for start, pack in self.versions:
            if start is None or start <= day:
                current = pack
            else:
                break
        return current

    @property
    def newest(self) -> RulePack:
        return self.versions[-1][1]

    def describe(self) -> str:
        return ", ".join(
            f"{pack.version} from {start.isoformat() if start else 'the beginning'}"
            for start, pack in self.versions
        )


def dated_versions(root: Path) -> list[tuple[date, Path]]:
    """The dated version folders of ``root``, in date order."""
    found: list[tuple[date, Path]] = []
    if not root.is_dir():
        return found
    for child in sorted(root.iterdir()):
        if not child.is_dir() or not _DATED.match(child.name):
            continue
        try:
            start = date.fromisoformat(child.name)
        except ValueError:
            raise RuleError(str(child), None, "is not a date YYYY-MM-DD") from None
        found.append((start, child))
    return found


def _has_pack_files(root: Path) -> bool:
    return any(p.suffix in (".yaml", ".yml") for p in root.iterdir() if p.is_file())


def load_rulebook(path: str | Path, *, known_plans: Collection[str] | None = None) -> RuleBook:
    """Every pack of a rules folder (or one pack file), each checked as :func:`load_pack`
    checks one; a problem names the folder and file it is in."""
    root = Path(path)
    dated = dated_versions(root)
    versions: list[tuple[date | None, RulePack]] = []
    if not dated or _has_pack_files(root):
        versions.append((None, load_pack(root, known_plans=known_plans)))
    for start, folder in dated:
        versions.append((start, load_pack(folder, known_plans=known_plans)))
    return RuleBook(tuple(versions))


def fingerprint(path: str | Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when any pack file of ``path`` changes: (name, size, modified) of every
    YAML file in it and in its dated version folders. Cheap enough to ask every few seconds."""
    root = Path(path)
    folders = [root, *(folder for _, folder in dated_versions(root))] if root.is_dir() else []
    files = [root] if root.is_file() else []
    for folder in folders:
        files += [p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml")]
    marks: list[tuple[str, int, int]] = []
    for file in sorted(files):
        try:
            stat = file.stat()
        except OSError:
            continue  # removed while looking: the next look sees it gone
        marks.append((str(file), stat.st_size, stat.st_mtime_ns))
    return tuple(marks)
