"""Mutants of valid X12 files, one implementation-guide structure fault each (issue 17).

From a valid transaction set and its guide table (``claims_engine/x12/guides/*.json``), every
mutant breaks exactly one rule of the table and keeps everything else as it was: SE01 counted
again, control numbers unchanged, HL numbers, LX numbers, CLM01 and CLM02 mended where a
removed or repeated loop would otherwise break them too. Kinds:

==========================  =================================================================
``remove-required-segment``  every occurrence of a required (R) segment place in the first
                             instance of its loop is removed (ST and SE left alone)
``remove-required-loop``     every instance of a required loop under the first instance of
                             its parent is removed (HLs renumbered, HL04 recomputed)
``repeat-segment-over-max``  a segment place with a numeric max use gets copies of its last
                             occurrence until it occurs max use + 1 times (a loop's first
                             segment is left to the loop kind: a copy of it opens a new loop)
``repeat-loop-over-max``     a loop with a numeric repeat gets copies of its last instance
                             until it occurs repeat + 1 times (LX renumbered, CLM02 raised by
                             the copied lines' charges, copied claims given their own CLM01)
``bad-code``                 an ID element (or component) with a listed code set gets a code
                             of an allowed length that the list does not have (external code
                             lists, such as states, are left alone)
``drop-required-element``    a required element, composite or component that is present is
                             emptied (trailing empty elements and components trimmed)
``hl03``                     HL03 of each HL set to the next level code of the table (a level
                             its place does not allow), and to the unknown code ``99``
``hl04``                     HL04 of each HL flipped (1 with no child, 0 with a child), or set
                             to ``1`` where it is absent and the HL has no child
==========================  =================================================================

Segment and element mutants are made on the first occurrence of each segment place of the
table (a place is a loop path and a child of the loop: the place of ``DTP*472`` in the first
2400 of the first claim stands for all of them); HL mutants on every HL. There is no sampling
beyond that: 837P 2 claims give about 300 mutants. The guide tables have no segment of usage
N, so there is no "not-used-segment-present" kind.

Each mutant says what an acknowledgment should name: the segment id and its position in the
transaction set (ST is 1, as in IK302) and, for an element fault, the element (IK4). A missing
segment or loop is named at the position where it is missing (the position of the segment now
standing there, or the one before it: both are accepted).

The segments of the base are placed in the table's loop tree by a small walker of this module
(qualifier matching, the first segment of a loop opening a new instance); it raises on a
segment with no place, so a base that does not fit its table is refused.

:func:`engine_answer` runs a mutant through the engine (the 837 intake of ``tests.conftest``,
or :func:`claims_engine.x12.reader276.read_276` and its 999) and :func:`oracle_errors`
through pyx12, which has maps for the 837P and 837I only.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from claims_engine.x12.guides import load_guide

ROOT = Path(__file__).resolve().parents[2]
X12 = ROOT / "fixtures" / "x12"

Json = dict[str, Any]

# The valid bases, one transaction set each; all are accepted whole by the engine, and the two
# pyx12 has maps for validate under it with zero errors (the tests check both).
BASES: dict[str, Path] = {
    "837p": X12 / "valid" / "837p-two-claims.edi",
    "837i": X12 / "lengths" / "837i-max-lengths.edi",
    "837d": X12 / "837d" / "claim-multi-quantity-single-line.edi",
    "276": X12 / "276" / "claim-request.x12",
}
# pyx12 4.0.0 has a 5010 map for these only (no X224 dental map, no X212 276 map).
PYX12_MAPPED = frozenset({"837p", "837i"})

KINDS = (
    "remove-required-segment",
    "remove-required-loop",
    "repeat-segment-over-max",
    "repeat-loop-over-max",
    "bad-code",
    "drop-required-element",
    "hl03",
    "hl04",
)
ELEMENT_KINDS = frozenset({"bad-code", "drop-required-element", "hl03", "hl04"})
MISSING_KINDS = frozenset({"remove-required-segment", "remove-required-loop"})

# The charge of a service line, by its service segment (SV102, SV203, SV302).
_LINE_CHARGE = {"SV1": 2, "SV2": 3, "SV3": 2}
_CLAIM_ID_MAX = 38  # CLM01


# -- the file ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    terminator: str


def split_x12(text: str) -> tuple[Delimiters, list[list[str]]]:
    """The delimiters of the ISA and the segments of ``text``, each a list of elements."""
    text = text.lstrip("\ufeff \r\n")
    d = Delimiters(text[3], text[104], text[105])
    segments = []
    for raw in text.split(d.terminator):
        raw = raw.strip("\r\n ")
        if raw:
            segments.append(raw.split(d.element))
    return d, segments


def element_value(seg: list[str], ref: str, component: str) -> str:
    """The value of ``ref`` (``NM101``, ``SV101-02``) in ``seg``; ``""`` when absent. A
    composite's ref without a component reads the whole composite."""
    base, _, comp = ref.partition("-")
    index = int(base[-2:])
    if index >= len(seg):
        return ""
    value = seg[index]
    if not comp:
        return value
    parts = value.split(component)
    n = int(comp)
    return parts[n - 1] if n <= len(parts) else ""


def _set_value(seg: list[str], ref: str, value: str, component: str) -> list[str]:
    """A copy of ``seg`` with ``ref`` set to ``value``, trailing empty elements (and empty
    components of the composite) trimmed."""
    out = list(seg)
    base, _, comp = ref.partition("-")
    index = int(base[-2:])
    while len(out) <= index:
        out.append("")
    if comp:
        parts = out[index].split(component) if out[index] else []
        n = int(comp)
        while len(parts) < n:
            parts.append("")
        parts[n - 1] = value
        while parts and not parts[-1]:
            parts.pop()
        out[index] = component.join(parts)
    else:
        out[index] = value
    while len(out) > 1 and not out[-1]:
        out.pop()
    return out


# -- placing segments in the table ---------------------------------------------------------------
def _matches(place: Json, seg: list[str], component: str) -> bool:
    if "loop" in place:
        return _matches(place["children"][0], seg, component)
    if place["segment"] != seg[0]:
        return False
    qualifier = place["qualifier"]
    return qualifier is None or element_value(seg, qualifier["ref"], component) in set(
        qualifier["codes"]
    )


def _groups(loop: Json) -> list[int]:
    """The position group of each child: siblings of one ``pos`` may come in any order."""
    groups: list[int] = []
    for i, child in enumerate(loop["children"]):
        same = i > 0 and child["pos"] == loop["children"][i - 1]["pos"]
        groups.append(groups[-1] if same else i)
    return groups


@dataclass(eq=False)
class LoopInstance:
    node: Json
    parent: LoopInstance | None
    key: str  # loop path from ST: "ST/2000A/2000B/2300"
    start: int  # index of its first segment in the transaction set
    end: int = -1  # exclusive

    @property
    def loop_id(self) -> str:
        return str(self.node["loop"])


@dataclass(frozen=True, eq=False)
class Placed:
    index: int  # in the transaction set, ST = 0
    place: Json
    place_key: str  # loop path and child number: "ST/2000A/2010AA:3"
    loop: LoopInstance  # the innermost loop instance holding it


def place_segments(tree: Json, tx: list[list[str]], component: str) -> list[Placed]:
    """Each segment of ``tx`` (ST to SE) in the table's loop tree; raises ValueError on one
    that has no place after the one before it."""
    root = LoopInstance(tree, None, "ST", 0)
    if not _matches(tree["children"][0], tx[0], component):
        raise ValueError(f"{'*'.join(tx[0])} does not open the transaction set")
    placed = [Placed(0, tree["children"][0], "ST:0", root)]
    stack: list[tuple[Json, int, LoopInstance]] = [(tree, 0, root)]
    for index in range(1, len(tx)):
        seg = tx[index]
        for depth in range(len(stack) - 1, -1, -1):
            loop, current, inst = stack[depth]
            groups = _groups(loop)
            found = next(
                (
                    i
                    for i, child in enumerate(loop["children"])
                    if i > 0 and groups[i] >= current and _matches(child, seg, component)
                ),
                None,
            )
            if found is None:
                continue
            for _, _, closed in stack[depth + 1 :]:
                closed.end = index
            del stack[depth + 1 :]
            stack[depth] = (loop, groups[found], inst)
            child = loop["children"][found]
            if "loop" in child:
                opened = LoopInstance(child, inst, f"{inst.key}/{child['loop']}", index)
                stack.append((child, 0, opened))
                placed.append(Placed(index, child["children"][0], opened.key + ":0", opened))
            else:
                placed.append(Placed(index, child, f"{inst.key}:{found}", inst))
            break
        else:
            raise ValueError(f"segment {index + 1} {'*'.join(seg)} has no place in the table")
    for _, _, inst in stack:
        inst.end = len(tx)
    return placed


# -- mutants -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    transaction: str  # "837p", "837i", "837d", "276"
    kind: str
    loop: str  # the loop the fault is in (the missing or repeated loop itself for loop kinds)
    segment: str  # the segment id an acknowledgment should name
    position: int  # its position in the transaction set, ST = 1 (IK302)
    element: str | None  # the element ref an acknowledgment should name (IK4), or None
    detail: str
    data: bytes = field(repr=False)
    # The fault is in the element that tells the segment's place from its siblings (NM101,
    # REF01, HI01-01, ...): the segment no longer fits any place, so an acknowledgment names it
    # as a segment not expected there (IK304 2) and need not name the element. HL03 is not
    # such a case: every HL has one place per level, and HL03 is named (the hl03 kind).
    unplaced: bool = False

    @property
    def target(self) -> str:
        """What the fault is about, as keyed in the known disagreements: ``"2010AA NM103"``."""
        return f"{self.loop} {self.element or self.segment}"

    @property
    def name(self) -> str:
        return f"{self.transaction} {self.kind} {self.target} @{self.position}: {self.detail}"

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def element_position(ref: str) -> tuple[int, int | None]:
    """``("SV101-02")`` -> ``(1, 2)``: the element's position and its component's, as IK401."""
    base, _, comp = ref.partition("-")
    return int(base[-2:]), int(comp) if comp else None


@dataclass
class Base:
    """A valid file of one transaction set, placed in its table."""

    name: str
    path: Path
    delimiters: Delimiters
    head: list[list[str]]  # ISA, GS
    tx: list[list[str]]  # ST ... SE
    tail: list[list[str]]  # GE, IEA
    table: Json
    placed: list[Placed]

    @property
    def data(self) -> bytes:
        return self.render(self.tx)

    def render(self, tx: list[list[str]]) -> bytes:
        """The interchange with ``tx`` as its transaction set, SE01 counted again."""
        d = self.delimiters
        tx = [list(s) for s in tx]
        tx[-1] = _set_value(tx[-1], "SE01", str(len(tx)), d.component)
        text = "".join(d.element.join(s) + d.terminator + "\n" for s in self.head + tx + self.tail)
        return text.encode("utf-8")


def load_base(name: str) -> Base:
    path = BASES[name]
    d, segments = split_x12(path.read_text(encoding="utf-8"))
    starts = [i for i, s in enumerate(segments) if s[0] == "ST"]
    ends = [i for i, s in enumerate(segments) if s[0] == "SE"]
    if len(starts) != 1 or len(ends) != 1:
        raise ValueError(f"{path.name}: a base holds exactly one transaction set")
    st, se = starts[0], ends[0]
    tx = segments[st : se + 1]
    table = load_guide(name)
    placed = place_segments(table["tree"], tx, d.component)
    return Base(name, path, d, segments[:st], tx, segments[se + 1 :], table, placed)


def _fix_hl(tx: list[list[str]], component: str) -> list[list[str]]:
    """HL01 numbered 1, 2, ... again and HL02 following. HL04 is left as it was: an HL whose
    only child loop was removed still says it has one, part of the one fault (and what the
    guide's code list for HL04 of that level allows)."""
    renumber: dict[str, str] = {}
    for seg in tx:
        if seg[0] == "HL":
            renumber[seg[1]] = str(len(renumber) + 1)
    out = []
    for seg in tx:
        if seg[0] == "HL":
            old_id, parent = seg[1], element_value(seg, "HL02", component)
            seg = _set_value(seg, "HL01", renumber[old_id], component)
            if parent:
                seg = _set_value(seg, "HL02", renumber.get(parent, parent), component)
        out.append(seg)
    return out


def _fix_lx(tx: list[list[str]], component: str) -> list[list[str]]:
    """LX01 numbered 1, 2, ... within each claim."""
    out, n = [], 0
    for seg in tx:
        if seg[0] == "CLM":
            n = 0
        elif seg[0] == "LX":
            n += 1
            seg = _set_value(seg, "LX01", str(n), component)
        out.append(seg)
    return out


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


def _amount_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _bad_code(element: Json, avoid: frozenset[str]) -> str:
    """A code of an allowed length that neither this place nor a sibling place of the same
    segment id lists (NM1*ZZ is the 837I's other operating physician: no fault there)."""
    codes = set(element["codes"]) | avoid
    low, high = int(element["min_len"]), int(element["max_len"])
    length = low if low > 1 else min(2, high)
    for ch in "ZQXY9":
        if ch * length not in codes:
            return ch * length
    raise ValueError(f"no code outside {sorted(codes)}")  # pragma: no cover


def _table_codes(node: Json, found: dict[tuple[str, str], set[str]]) -> None:
    """Every listed code of the table by segment id and element ref."""
    if "loop" in node:
        for child in node["children"]:
            _table_codes(child, found)
        return
    for element, _ in _elements(node):
        if "codes" in element:
            found.setdefault((node["segment"], element["ref"]), set()).update(element["codes"])


def _elements(place: Json) -> Iterator[tuple[Json, Json | None]]:
    """Each element of a place, and each component of a composite with its composite."""
    for element in place["elements"]:
        yield element, None
        for component in element.get("components", []):
            yield component, element


class _Maker:
    def __init__(self, base: Base) -> None:
        self.base = base
        self.comp = base.delimiters.component
        self.out: list[Mutant] = []
        self.seen: set[str] = set()

    def add(
        self,
        kind: str,
        loop: str,
        segment: str,
        position: int,
        element: str | None,
        detail: str,
        tx: list[list[str]],
        unplaced: bool = False,
    ) -> None:
        data = self.base.render(tx)
        if data == self.base.data:
            raise AssertionError(f"mutant changes nothing: {kind} {detail}")
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:  # the same bytes from another rule: counted once
            return
        self.seen.add(digest)
        self.out.append(
            Mutant(self.base.name, kind, loop, segment, position, element, detail, data, unplaced)
        )


def make_mutants(base: Base) -> list[Mutant]:
    """Every mutant of ``base``, in a fixed order (kind by kind, then segment order)."""
    m = _Maker(base)
    tx, comp = base.tx, m.comp
    placed = base.placed
    first: dict[str, Placed] = {}
    for p in placed:
        first.setdefault(p.place_key, p)
    envelope = ("ST", "SE")

    def in_loop(place_key: str, inst: LoopInstance) -> list[int]:
        return [p.index for p in placed if p.place_key == place_key and p.loop is inst]

    # remove-required-segment
    for p in first.values():
        if p.place["usage"] != "R" or p.place["segment"] in envelope:
            continue
        gone = set(in_loop(p.place_key, p.loop))
        inst = p.loop
        if gone == set(range(inst.start, inst.end)) and inst.node["usage"] != "R":
            continue  # the whole instance of a situational loop: no fault
        mutated = [s for i, s in enumerate(tx) if i not in gone]
        where = min(gone)
        m.add(
            "remove-required-segment",
            p.loop.loop_id,
            p.place["segment"],
            where + 1,
            None,
            f"without {'*'.join(tx[where][:3])} ({len(gone)} removed)",
            mutated,
        )

    # remove-required-loop
    instances: dict[str, LoopInstance] = {}
    all_instances: list[LoopInstance] = []
    for p in placed:
        if p.place_key.endswith(":0") and p.index == p.loop.start and p.loop.parent is not None:
            all_instances.append(p.loop)
            instances.setdefault(p.loop.key, p.loop)
    for inst in instances.values():
        if inst.node["usage"] != "R":
            continue
        siblings = [i for i in all_instances if i.key == inst.key and i.parent is inst.parent]
        gone = {i for sib in siblings for i in range(sib.start, sib.end)}
        mutated = _fix_hl([s for i, s in enumerate(tx) if i not in gone], comp)
        m.add(
            "remove-required-loop",
            inst.loop_id,
            tx[inst.start][0],
            inst.start + 1,
            None,
            f"without loop {inst.loop_id} ({len(siblings)} instance(s), {len(gone)} segments)",
            mutated,
        )

    # repeat-segment-over-max
    for p in first.values():
        max_use = p.place["max_use"]
        if max_use is None or p.place_key.endswith(":0") or p.place["segment"] in envelope:
            continue
        occurs = in_loop(p.place_key, p.loop)
        copies = max_use + 1 - len(occurs)
        last = max(occurs)
        mutated = tx[: last + 1] + [list(tx[last]) for _ in range(copies)] + tx[last + 1 :]
        m.add(
            "repeat-segment-over-max",
            p.loop.loop_id,
            p.place["segment"],
            last + copies + 1,
            None,
            f"{'*'.join(tx[last][:3])} {max_use + 1} times (max use {max_use})",
            mutated,
        )

    # repeat-loop-over-max
    for inst in instances.values():
        repeat = inst.node["repeat"]
        if repeat is None:
            continue
        siblings = [i for i in all_instances if i.key == inst.key and i.parent is inst.parent]
        final = siblings[-1]
        body = tx[final.start : final.end]
        if any(s[0] == "HL" for s in body):
            raise AssertionError(f"{inst.key}: a loop with a numeric repeat holds an HL")
        copies = repeat + 1 - len(siblings)
        inserted: list[list[str]] = []
        for n in range(1, copies + 1):
            block = [list(s) for s in body]
            if block[0][0] == "CLM":
                claim_id = element_value(block[0], "CLM01", comp)
                new_id = claim_id[: _CLAIM_ID_MAX - 5] + f"M{n:04d}"
                block[0] = _set_value(block[0], "CLM01", new_id, comp)
            inserted.extend(block)
        mutated = tx[: final.end] + inserted + tx[final.end :]
        if body[0][0] == "LX":
            added = sum(
                (
                    _amount(element_value(s, f"{s[0]}{_LINE_CHARGE[s[0]]:02d}", comp))
                    for s in inserted
                    if s[0] in _LINE_CHARGE
                ),
                Decimal(0),
            )
            claim = inst.parent
            assert claim is not None and tx[claim.start][0] == "CLM"
            total = _amount(element_value(tx[claim.start], "CLM02", comp)) + added
            mutated[claim.start] = _set_value(
                mutated[claim.start], "CLM02", _amount_text(total), comp
            )
            mutated = _fix_lx(mutated, comp)
        m.add(
            "repeat-loop-over-max",
            inst.loop_id,
            body[0][0],
            final.end + (copies - 1) * len(body) + 1,
            None,
            f"loop {inst.loop_id} {repeat + 1} times (repeat {repeat})",
            mutated,
        )

    # bad-code and drop-required-element, on the first occurrence of each place
    table_codes: dict[tuple[str, str], set[str]] = {}
    _table_codes(base.table["tree"], table_codes)
    for kind in ("bad-code", "drop-required-element"):
        for p in first.values():
            seg_id = p.place["segment"]
            if seg_id in envelope:
                continue
            seg = tx[p.index]
            for element, composite in _elements(p.place):
                ref = element["ref"]
                value = element_value(seg, ref, comp)
                if not value or (composite is not None and "-" not in ref):
                    continue
                if kind == "bad-code":
                    if (
                        "codes" not in element
                        or element.get("data_type") != "ID"
                        or "external" in element
                        or ref == "HL03"  # the hl03 kind
                    ):
                        continue
                    new = _bad_code(element, frozenset(table_codes[seg_id, ref]))
                    detail = f"{ref} {value!r} -> {new!r}"
                else:
                    if element["usage"] != "R":
                        continue
                    new = ""
                    detail = f"{ref} {value!r} dropped"
                mutated = list(tx)
                mutated[p.index] = _set_value(seg, ref, new, comp)
                qualifier = p.place["qualifier"]
                unplaced = qualifier is not None and (
                    qualifier["ref"] == ref or qualifier["ref"].startswith(ref + "-")
                )
                m.add(kind, p.loop.loop_id, seg_id, p.index + 1, ref, detail, mutated, unplaced)

    # hl03 and hl04, on every HL
    levels = sorted(base.table["hl_levels"])
    hls = [p for p in placed if p.place["segment"] == "HL"]
    parents = {element_value(tx[p.index], "HL02", comp) for p in hls}
    for p in hls:
        seg = tx[p.index]
        level = element_value(seg, "HL03", comp)
        wrong = levels[(levels.index(level) + 1) % len(levels)]
        for new in (wrong, "99"):
            mutated = list(tx)
            mutated[p.index] = _set_value(seg, "HL03", new, comp)
            m.add(
                "hl03",
                p.loop.loop_id,
                "HL",
                p.index + 1,
                "HL03",
                f"HL {seg[1]} HL03 {level!r} -> {new!r}",
                mutated,
            )
    for p in hls:
        seg = tx[p.index]
        child = element_value(seg, "HL04", comp)
        new = {"1": "0", "0": "1"}.get(child, "")
        if not child:
            if seg[1] in parents:
                continue  # absent with a child: a situational HL04 may be left out
            new = "1"
        mutated = list(tx)
        mutated[p.index] = _set_value(seg, "HL04", new, comp)
        m.add(
            "hl04",
            p.loop.loop_id,
            "HL",
            p.index + 1,
            "HL04",
            f"HL {seg[1]} HL04 {child!r} -> {new!r}",
            mutated,
        )
    return m.out


@functools.cache
def bases() -> dict[str, Base]:
    return {name: load_base(name) for name in BASES}


@functools.cache
def mutants(name: str) -> tuple[Mutant, ...]:
    return tuple(make_mutants(bases()[name]))


# -- the engine's answer -------------------------------------------------------------------------
@dataclass(frozen=True)
class Ik3:
    segment: str
    position: int
    loop: str
    code: str
    elements: tuple[tuple[int, int | None, str], ...]  # IK401-1, IK401-2, IK403


@dataclass(frozen=True)
class EngineAnswer:
    rejected: bool
    how: str  # "ta1", "999 set", "999 group", "277ca claim", or "" when accepted
    errors: tuple[Ik3, ...]  # the 999's IK3/IK4
    note: str = ""  # the reason the reader gives (276), or the IK5 codes

    def names_segment(self, mutant: Mutant) -> bool:
        """An IK3 names the segment at its position. A missing segment or loop is named where
        its absence shows: at its own position, the one before, or the next (segments of one
        guide position may come in any order, so a missing one shows when the position is
        left). A removed loop opener may instead be answered as pyx12 does, by the segment
        that now stands in its place being unexpected (IK304 2) or misqualified (IK304 8)."""
        if mutant.kind in MISSING_KINDS:
            return any(
                (e.segment == mutant.segment and e.position - mutant.position in (0, -1, 1))
                or (e.position == mutant.position and e.code in ("2", "8"))
                for e in self.errors
            )
        return any(
            e.segment == mutant.segment and e.position == mutant.position for e in self.errors
        )

    def names_element(self, mutant: Mutant) -> bool:
        """An IK4 under the named IK3 gives the element's position (and the component's, when
        both say one); a composite's fault may be named at any of its components."""
        if mutant.element is None or mutant.unplaced:
            return True
        want, want_comp = element_position(mutant.element)
        # an HL03 that names another level is one fault of HL02 and HL03 together: the parent
        # HL02 names is not of the level the new HL03 needs (pyx12 names HL02 too)
        wanted = {want, 2} if mutant.kind == "hl03" else {want}
        return any(
            e.segment == mutant.segment
            and e.position == mutant.position
            and any(
                el in wanted and (want_comp is None or comp in (want_comp, None))
                for el, comp, _ in e.elements
            )
            for e in self.errors
        )


def parse_999(text: str) -> tuple[list[str], list[str], list[Ik3]]:
    """IK5 statuses, AK9 statuses and IK3s (with their IK4s) of a 999 interchange."""
    d, segments = split_x12(text)
    ik5, ak9, ik3s = [], [], []
    current: list[Any] | None = None
    for seg in [*segments, ["END"]]:
        if seg[0] in ("IK3", "IK5", "AK2", "END", "SE") and current is not None:
            ik3s.append(Ik3(current[0], current[1], current[2], current[3], tuple(current[4])))
            current = None
        if seg[0] == "IK3":
            seg = seg + [""] * 5
            position = int(seg[2]) if seg[2].isdigit() else 0
            current = [seg[1], position, seg[3], seg[4], []]
        elif seg[0] == "IK4" and current is not None:
            parts = [*seg[1].split(d.component), ""][:2]
            el = int(parts[0]) if parts[0].isdigit() else 0
            component = int(parts[1]) if parts[1].isdigit() else None
            current[4].append((el, component, seg[3] if len(seg) > 3 else ""))
        elif seg[0] == "IK5":
            ik5.append(seg[1])
        elif seg[0] == "AK9":
            ak9.append(seg[1])
    return ik5, ak9, ik3s


def _ta1_rejects(text: str) -> bool:
    _, segments = split_x12(text)
    return any(s[0] == "TA1" and len(s) > 4 and s[4] == "R" for s in segments)


def _answer_837(data: bytes, base_rejected: int) -> EngineAnswer:
    from tests.conftest import run_intake

    run = run_intake(data)
    errors: tuple[Ik3, ...] = ()
    how = ""
    note = ""
    if "999" in run.acks:
        ik5, ak9, ik3s = parse_999(run.acks["999"])
        errors = tuple(ik3s)
        note = "IK5 " + ",".join(ik5) + " AK9 " + ",".join(ak9)
        if "R" in ak9 and not ik5:
            how = "999 group"
        elif "R" in ik5:
            how = "999 set"
    if not how and "ta1" in run.acks and _ta1_rejects(run.acks["ta1"]):
        how = "ta1"
    if not how and run.summary.claims_rejected > base_rejected:
        how = "277ca claim"
    return EngineAnswer(bool(how), how, errors, note)


_CREATED = datetime(2026, 11, 2, 8, 0)


def _answer_276(data: bytes) -> EngineAnswer:
    from claims_engine.domain.issues import Scope
    from claims_engine.x12.acks import Envelope, write_999
    from claims_engine.x12.envelope_walk import Unreadable
    from claims_engine.x12.reader276 import read_276

    read = read_276(data)
    if not isinstance(read, Unreadable):
        return EngineAnswer(False, "", ())
    if read.scope is Scope.INTERCHANGE or read.interchange is None:
        return EngineAnswer(True, "ta1", (), read.reason)
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 42, _CREATED), read.groups)
    ik5, ak9, ik3s = parse_999(out.getvalue())
    how = "999 set" if "R" in ik5 else "999 group" if "R" in ak9 else ""
    return EngineAnswer(bool(how), how, tuple(ik3s), read.reason)


def engine_answer(transaction: str, data: bytes) -> EngineAnswer:
    """What the engine answers to ``data``: rejected or not, how, and the 999's IK3/IK4."""
    if transaction == "276":
        return _answer_276(data)
    return _answer_837(data, 0)


# -- the oracle ----------------------------------------------------------------------------------
@contextmanager
def cached_pyx12_maps() -> Iterator[None]:
    """pyx12 parses its XML maps again for every document (0.2 s of its 0.25 s on an 837P):
    within this block each map is parsed once. Validation keeps its counts in the walker, not
    in the map (the tests compare a few mutants with and without the cache)."""
    import pyx12.map_if

    original = pyx12.map_if.load_map_file
    loaded: dict[tuple[str, str | None], Any] = {}

    def load(map_file: str, param: Any, map_path: str | None = None) -> Any:
        key = (map_file, map_path)
        if key not in loaded:
            loaded[key] = original(map_file, param, map_path)
        return loaded[key]

    pyx12.map_if.load_map_file = load
    try:
        yield
    finally:
        pyx12.map_if.load_map_file = original


_ORACLE: dict[str, tuple[str, ...]] = {}


def oracle_errors(mutant: Mutant | Base) -> tuple[str, ...] | None:
    """pyx12's errors for a mutant (or a base), ``None`` for a transaction it has no map for.
    Cached in memory by the bytes' hash."""
    name = mutant.transaction if isinstance(mutant, Mutant) else mutant.name
    if name not in PYX12_MAPPED:
        return None
    from tests.x12_oracle import pyx12_errors

    data = mutant.data
    key = hashlib.sha256(data).hexdigest()
    if key not in _ORACLE:
        _ORACLE[key] = tuple(pyx12_errors(data.decode("utf-8")))
    return _ORACLE[key]


# -- one mutant, both answers --------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    mutant: Mutant
    oracle: tuple[str, ...] | None  # pyx12's errors; None where it has no map
    answer: EngineAnswer

    @property
    def fault(self) -> bool:
        """The expected answer: pyx12 reports an error, or (no map) the table's rule is broken,
        which every mutant does."""
        return bool(self.oracle) if self.oracle is not None else True

    @property
    def named_segment(self) -> bool:
        return self.answer.rejected and self.answer.names_segment(self.mutant)

    @property
    def named_element(self) -> bool:
        return self.answer.rejected and self.answer.names_element(self.mutant)

    @property
    def category(self) -> str:
        """``agree`` (rejected, naming segment and element), ``unnamed`` (rejected without
        naming them), ``missed`` (a fault the engine accepts), ``extra`` (the engine rejects
        what pyx12 passes) or ``both-accept``."""
        if self.fault:
            if not self.answer.rejected:
                return "missed"
            return "agree" if self.named_segment and self.named_element else "unnamed"
        return "extra" if self.answer.rejected else "both-accept"

    def explain(self) -> str:
        errors = [(e.segment, e.position, e.code, e.elements) for e in self.answer.errors[:4]]
        oracle = "no map" if self.oracle is None else f"{len(self.oracle)} pyx12 errors"
        first = _first_oracle_error(self.oracle)
        return (
            f"{self.mutant.name} [{oracle}{': ' + first if first else ''}] -> engine "
            f"{self.answer.how or 'accepts'} {errors}"
        )


def _first_oracle_error(errors: tuple[str, ...] | None) -> str:
    import json

    for text in errors or ():
        if text.startswith("{"):
            return str(json.loads(text).get("err_str", text))[:120]
    return (errors or ("",))[0][:120]


def evaluate(mutant: Mutant) -> Outcome:
    """pyx12's and the engine's answers to one mutant (call within :func:`cached_pyx12_maps`
    to keep it fast)."""
    return Outcome(mutant, oracle_errors(mutant), engine_answer(mutant.transaction, mutant.data))
