"""Rule packs in force by date: the versions an insurer ships, each from a day on.

A rules folder is either one pack (its ``*.yaml`` files, see :func:`~claims_engine.rules.engine.
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
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from claims_engine.rules.engine import MANIFEST, RuleError, RulePack, load_pack, no_rule_problem

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


def require_rules(path: str | Path) -> None:
    """Refuse, as :func:`load_rulebook` would, a rules folder or pack file that holds no rule:
    one that does not exist, a folder without a pack file, a pack whose files list no rule.
    Cheap (each file is read up to its first rule, none is checked), for ``rules lint``, which
    reports every other problem itself; a file that cannot be read as YAML, or a version
    folder that is no date, is left to lint to name. Raises :class:`RuleError` naming the
    folder (or file)."""
    root = Path(path)
    if root.is_file():
        packs = [root]
    elif root.is_dir():
        try:
            dated = [folder for _, folder in dated_versions(root)]
        except RuleError:
            return
        packs = ([root] if not dated or _has_pack_files(root) else []) + dated
    else:
        raise RuleError(str(root), None, "no such rule pack (file or folder)")
    for pack in packs:
        files = [pack] if pack.is_file() else _pack_file_list(pack)
        if not any(_may_hold_rules(file) for file in files):
            raise RuleError(str(pack), None, no_rule_problem(files))


def _pack_file_list(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and p.name != MANIFEST
    )


def _may_hold_rules(file: Path) -> bool:
    """Whether ``file`` is a mapping whose ``rules`` list has an entry, or is something lint
    reports (not YAML, not a mapping, ``rules`` not a list); reads YAML events up to the
    first entry, not the whole file."""
    try:
        with file.open("rb") as stream:
            events = iter(yaml.parse(stream, Loader=_EventLoader))
            first = next(events)
            while isinstance(first, (yaml.StreamStartEvent, yaml.DocumentStartEvent)):
                first = next(events)
            if not isinstance(first, yaml.MappingStartEvent):
                return True
            for key in events:
                if isinstance(key, yaml.MappingEndEvent):
                    return False
                _skip_node(key, events)
                value = next(events)
                if isinstance(key, yaml.ScalarEvent) and key.value == "rules":
                    if not isinstance(value, yaml.SequenceStartEvent):
                        return True
                    return not isinstance(next(events), yaml.SequenceEndEvent)
                _skip_node(value, events)
    except (OSError, yaml.YAMLError, StopIteration):
        return True
    return False


def _skip_node(first: yaml.Event, events: Iterator[yaml.Event]) -> None:
    """Consume the rest of the node that ``first`` starts (nothing for a scalar)."""
    if not isinstance(first, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
        return
    depth = 1
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
            if depth == 0:
                return


_EventLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
