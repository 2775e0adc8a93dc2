"""Implementation-guide structure checks (SNIP 1 and 2, and the situational rules of SNIP 4).

:func:`compile_guide` turns one table of :mod:`claims_engine.x12.guides` into fast structures:
per loop, the candidate placements of each segment id in guide order, with the qualifier that
tells same-id siblings apart and tells which loop a segment opens; per placement its element
checks. :class:`GuideWalker` follows one transaction set, segment by segment from ST to SE
(:meth:`GuideWalker.step`), and :meth:`GuideWalker.finish` reports what is missing at the end.

Placement: a segment goes to the first place, at or after the current one in the innermost open
loop, whose id and qualifier match; a loop is entered by its first segment (HL by HL03); sibling
places of one guide position may come in any order; a segment that fits nowhere in the current
loop closes it and is tried in the loop above. A segment that fits no open loop in order is
out of sequence when its place is in an open loop before the current one, an invalid qualifier
when only its id fits, unexpected when the guide has it elsewhere and unrecognized otherwise.

Every problem is a :class:`Finding` with a stable code (``X12-SEGMENT-<IK304>``,
``X12-ELEMENT-<IK403>``, ``X12-HL...``, ``SITUATIONAL-...``), its 999 codes, where it is and the
``level`` it belongs to: ``header`` (ST, BHT, 1000A, 1000B), ``hierarchy`` (the HL tree),
``billing`` (2000A/2010Ax), ``subscriber`` (2000B/2010Bx), ``patient`` (2000C/2010Cx) and
``claim`` (2300 and below); for the 276 ``payer``, ``receiver``, ``provider``, ``subscriber``,
``patient`` (2000A to 2000E and their 2100 loops) and ``inquiry`` (2200x, 2210x).

Pure, typed and written for mypyc: no closures, plain loops over tuples, strings built only when
something is wrong.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Final

from claims_engine.domain.issues import ClaimStatus, Issue, Location, Scope, Syntax
from claims_engine.domain.money import ascii_digits
from claims_engine.x12 import situational as sit
from claims_engine.x12.codes import (
    ELEM_EXCLUSION,
    ELEM_INVALID_CHARACTER,
    ELEM_INVALID_CODE,
    ELEM_INVALID_DATE,
    ELEM_INVALID_TIME,
    ELEM_MISSING,
    ELEM_NOT_USED,
    ELEM_PATTERN,
    ELEM_TOO_LONG,
    ELEM_TOO_MANY,
    ELEM_TOO_MANY_COMPONENTS,
    ELEM_TOO_MANY_REPETITIONS,
    ELEM_TOO_SHORT,
    SEG_ELEMENT_ERRORS,
    SEG_LOOP_OVER_MAX,
    SEG_NOT_USED,
    SEG_OUT_OF_SEQUENCE,
    SEG_OVER_MAX_USE,
    SEG_REQUIRED_MISSING,
    SEG_UNEXPECTED,
    SEG_UNRECOGNIZED,
)
from claims_engine.x12.guides import load_guide

LEVEL_HEADER: Final = "header"
LEVEL_HIERARCHY: Final = "hierarchy"

# data types
_AN: Final = 0
_ID: Final = 1
_N: Final = 2
_R: Final = 3
_DT: Final = 4
_TM: Final = 5

# usages
_REQUIRED: Final = 0
_SITUATIONAL: Final = 1
_NOT_USED: Final = 2

# syntax rule kinds
_P: Final = 0
_RR: Final = 1
_C: Final = 2
_E: Final = 3
_L: Final = 4

# hooks (837 situational rules, HL)
_HOOK_NONE: Final = 0
_HOOK_HL: Final = 1
_HOOK_SBR_SUBSCRIBER: Final = 2
_HOOK_PAT_SUBSCRIBER: Final = 3
_HOOK_CLM: Final = 4

_LEVELS_837: Final = {
    "ST": LEVEL_HEADER,
    "1000A": LEVEL_HEADER,
    "1000B": LEVEL_HEADER,
    "2000A": "billing",
    "2000B": "subscriber",
    "2000C": "patient",
}
_LEVELS_276: Final = {
    "ST": LEVEL_HEADER,
    "2000A": "payer",
    "2100A": "payer",
    "2000B": "receiver",
    "2100B": "receiver",
    "2000C": "provider",
    "2100C": "provider",
    "2000D": "subscriber",
    "2100D": "subscriber",
    "2000E": "patient",
    "2100E": "patient",
}


def _level_of(transaction_set: str, loop: str) -> str:
    if transaction_set == "834":  # the 2000 loop and those under it are a member's
        return "member" if loop.startswith("2") else LEVEL_HEADER
    if transaction_set == "276":
        if loop.startswith("22"):
            return "inquiry"
        return _LEVELS_276.get(loop, LEVEL_HEADER)
    found = _LEVELS_837.get(loop)
    if found is not None:
        return found
    if loop.startswith("2010A"):
        return "billing"
    if loop.startswith("2010B"):
        return "subscriber"
    if loop.startswith("2010C"):
        return "patient"
    return "claim"


@dataclass(frozen=True, slots=True)
class Finding:
    """One structure problem: stable code, one-line message, 999 codes, where, and level."""

    code: str
    message: str
    segment_error: str  # IK304
    element_error: str  # IK403, "" for a segment problem
    segment_id: str  # from the guide table ("" when the segment is unrecognized)
    position: int  # segments counted from ST (ST is 1)
    loop: str
    element: int = 0  # 1-based
    component: int = 0  # 1-based
    element_ref: str = ""  # data element dictionary number
    level: str = LEVEL_HEADER

    def issue(self, scope: Scope, status: tuple[ClaimStatus, ...] = ()) -> Issue:
        """The finding as the readers report it: SNIP level 4 for a situational rule, 2 for
        the rest; IK402 only when the element reference is a number (not a composite's C004)."""
        ref = self.element_ref
        return Issue(
            code=self.code,
            message=self.message,
            level=4 if self.code.startswith("SITUATIONAL-") else 2,
            scope=scope,
            location=Location(
                self.segment_id or "???",
                self.position,
                self.loop,
                self.element,
                self.component,
                ref if ascii_digits(ref) else "",
            ),
            status=status,
            syntax=Syntax(self.segment_error, self.element_error),
        )


def unreported(found: list[Finding], issues: list[Issue]) -> list[Finding]:
    """The findings a reader's own ``issues`` do not already report: the same element at the
    same position (or, for a segment problem, the same IK304 there). The reader's issue stands:
    it names the element better (its 277CA status, its code)."""
    taken: set[tuple[int, str, int, int]] = set()
    for issue in issues:
        loc, syntax = issue.location, issue.syntax
        if loc is not None:
            taken.add((loc.position, "", loc.element, loc.component))
            if syntax is not None and not loc.element:
                taken.add((loc.position, syntax.segment_error, 0, 0))
    kept: list[Finding] = []
    for f in found:
        if f.element:
            if (f.position, "", f.element, f.component) in taken:
                continue
            if (f.position, "", f.element, 0) in taken:
                continue
        elif (f.position, f.segment_error, 0, 0) in taken:
            continue
        kept.append(f)
    return kept


class ElementSpec:
    """The checks of one element (or one component) at one segment place."""

    __slots__ = (
        "coded",
        "codes",
        "codes_set",
        "components",
        "data_ele",
        "date_qualifier",
        "index",
        "kind",
        "max_len",
        "min_len",
        "name",
        "plain",
        "plain_dated",
        "plain_decimal",
        "plain_number",
        "ref",
        "regex",
        "repeat",
        "usage",
    )

    def __init__(
        self,
        index: int,
        ref: str,
        data_ele: str,
        name: str,
        usage: int,
        kind: int,
        min_len: int,
        max_len: int,
        codes: frozenset[str] | None,
        regex: re.Pattern[str] | None,
        repeat: int,
        components: tuple[ElementSpec, ...],
        date_qualifier: int,
    ) -> None:
        self.index = index
        self.ref = ref
        self.data_ele = data_ele
        self.name = name
        self.usage = usage
        self.kind = kind
        self.min_len = min_len
        self.max_len = max_len
        self.codes = codes
        self.regex = regex
        self.repeat = repeat
        self.components = components
        self.date_qualifier = date_qualifier  # index of the D8/RD8 qualifier element, or 0
        self.codes_set: frozenset[str] = codes if codes is not None else frozenset()
        self.plain = False  # text: its length and characters are all there is to check
        self.plain_number = False  # a number: its digits and their count
        self.coded = False  # a listed code is all it can be
        self.plain_decimal = False  # a plain number that may have a decimal point (R)
        self.plain_dated = False  # text that is a date in the format its qualifier names
        self.settle()

    def settle(self) -> None:
        """The fast-path flags, from the checks above."""
        simple = (
            self.usage != _NOT_USED
            and not self.components
            and self.regex is None
            and self.date_qualifier == 0
        )
        self.coded = simple and self.codes is not None
        self.plain = simple and self.codes is None and self.kind in (_AN, _ID)
        self.plain_number = simple and self.codes is None and self.kind in (_N, _R)
        self.plain_decimal = self.plain_number and self.kind == _R
        self.plain_dated = (
            self.usage != _NOT_USED
            and not self.components
            and self.regex is None
            and self.date_qualifier != 0
            and self.codes is None
            and self.kind in (_AN, _ID)
        )


class SyntaxRule:
    __slots__ = ("covered", "indexes", "kind", "text")

    def __init__(self, kind: int, indexes: tuple[int, ...], text: str) -> None:
        self.kind = kind
        self.indexes = indexes
        self.text = text
        self.covered = False  # R, L: one of the elements it asks for is required by the guide


def _required(elements: tuple[ElementSpec, ...], index: int) -> bool:
    return 0 < index <= len(elements) and elements[index - 1].usage == _REQUIRED


class SegmentPlace:
    """One segment place of the guide: its id, usage, max use and element checks."""

    __slots__ = (
        "elements",
        "hook",
        "max_use",
        "name",
        "qual_codes",
        "qual_component",
        "qual_index",
        "required",
        "segment_id",
        "syntax",
        "uid",
        "usage",
    )

    def __init__(
        self,
        segment_id: str,
        name: str,
        usage: int,
        max_use: int,
        qual_index: int,
        qual_component: int,
        qual_codes: frozenset[str] | None,
        elements: tuple[ElementSpec, ...],
        syntax: tuple[SyntaxRule, ...],
    ) -> None:
        self.segment_id = segment_id
        self.name = name
        self.usage = usage
        self.max_use = max_use  # 0: unbounded
        self.qual_index = qual_index  # 0: no qualifier
        self.qual_component = qual_component
        self.qual_codes = qual_codes
        self.elements = elements
        self.syntax = syntax
        self.hook = _HOOK_NONE
        self.required = tuple(e for e in elements if e.usage == _REQUIRED)


class Child:
    """A child of a loop: a segment place or a loop (entered by its first segment place)."""

    __slots__ = ("group", "index", "loop", "maximum", "place", "usage")

    def __init__(
        self, index: int, group: int, place: SegmentPlace, loop: LoopSpec | None, usage: int
    ) -> None:
        self.index = index
        self.group = group  # ordinal of its guide position within the loop
        self.place = place
        self.loop = loop
        self.usage = usage
        self.maximum = 0


class Keyed:
    """The places of one segment id in a loop, by the value of their common qualifier."""

    __slots__ = ("by_code", "qual_component", "qual_index")

    def __init__(
        self, qual_index: int, qual_component: int, by_code: dict[str, tuple[Child, ...]]
    ) -> None:
        self.qual_index = qual_index
        self.qual_component = qual_component
        self.by_code = by_code


class Places:
    """The places of one segment id in a loop: by qualifier value (``keyed``) when the places
    share a qualifier element, else in guide order (``candidates``)."""

    __slots__ = ("candidates", "keyed")

    def __init__(self, keyed: Keyed | None, candidates: tuple[Child, ...]) -> None:
        self.keyed = keyed
        self.candidates = candidates


# Every segment id of a compiled guide (or asked for by segment_code) numbered from 1, 0 for
# an id no guide has: the walker looks each segment's id up once (GuideWalker.code), and its
# loops hold their places in lists by that number; the 837 reader dispatches on it too.
_SEGMENT_CODES: Final[dict[str, int]] = {}
_NEXT_CODE: Final = itertools.count(1)


def segment_code(segment_id: str) -> int:
    """The number of ``segment_id``, numbered on first use (from 1; two threads compiling
    guides at once may leave a number unused, never give one to two ids)."""
    code = _SEGMENT_CODES.get(segment_id, 0)
    if code == 0:
        code = _SEGMENT_CODES.setdefault(segment_id, next(_NEXT_CODE))
    return code


class LoopSpec:
    __slots__ = (
        "by_code",
        "candidates",
        "children",
        "dmg_index",
        "f8_index",
        "hl_parent_level",
        "keyed",
        "level",
        "loop_id",
        "n3_index",
        "n4_index",
        "name",
        "pair_address",
        "required",
    )

    def __init__(self, loop_id: str, name: str, level: str) -> None:
        self.loop_id = loop_id
        self.name = name
        self.level = level
        self.children: tuple[Child, ...] = ()
        self.candidates: dict[str, tuple[Child, ...]] = {}
        self.keyed: dict[str, Keyed] = {}
        # the same places by segment code (segment_code), for the walk: one list item
        # instead of a dict lookup or two at each open loop
        self.by_code: list[Places | None] = []
        self.required: tuple[Child, ...] = ()
        self.hl_parent_level = ""  # HL03 of the HL loop above (HL loops only)
        self.n3_index = -1
        self.n4_index = -1
        self.dmg_index = -1
        self.f8_index = -1
        self.pair_address = False


class Guide:
    __slots__ = (
        "all_ids",
        "hl_levels",
        "name",
        "root",
        "transaction_set",
        "version",
    )

    def __init__(
        self,
        name: str,
        transaction_set: str,
        version: str,
        root: LoopSpec,
        all_ids: frozenset[str],
        hl_levels: dict[str, str],
    ) -> None:
        self.name = name
        self.transaction_set = transaction_set
        self.version = version
        self.root = root
        self.all_ids = all_ids
        self.hl_levels = hl_levels


# --- compiling a table -----------------------------------------------------------------------
_KINDS: Final = {"AN": _AN, "ID": _ID, "R": _R, "DT": _DT, "TM": _TM}
_USAGES: Final = {"R": _REQUIRED, "S": _SITUATIONAL, "N": _NOT_USED}
_SYNTAX: Final = {"P": _P, "R": _RR, "C": _C, "E": _E, "L": _L}


def _kind(data_type: str) -> int:
    if data_type.startswith("N"):
        return _N
    return _KINDS.get(data_type, _AN)


def _element_spec(raw: dict[str, Any], index: int, segment_id: str) -> ElementSpec:
    components: tuple[ElementSpec, ...] = ()
    if "components" in raw:
        components = tuple(
            _element_spec(c, k + 1, segment_id) for k, c in enumerate(raw["components"])
        )
    codes: frozenset[str] | None = None
    if raw.get("codes"):
        codes = frozenset(raw["codes"])
    if segment_id == "HL" and index == 4:
        codes = frozenset(("0", "1"))  # HL04 against what follows: GuideWalker._hl04
    regex = re.compile(raw["regex"]) if raw.get("regex") else None
    return ElementSpec(
        index,
        raw["ref"],
        raw.get("data_ele", ""),
        raw.get("name", ""),
        _USAGES.get(raw.get("usage", "S"), _SITUATIONAL),
        _kind(raw.get("data_type") or "AN"),
        int(raw.get("min_len") or 0),
        int(raw.get("max_len") or 0),
        codes,
        regex,
        int(raw.get("repeat") or 1),
        components,
        0,
    )


def _qualifier(raw: dict[str, Any]) -> tuple[int, int, frozenset[str] | None]:
    qual = raw.get("qualifier")
    if not qual:
        return 0, 0, None
    ref: str = qual["ref"]
    base, _, comp = ref.partition("-")
    return int(base[-2:]), int(comp) if comp else 0, frozenset(qual["codes"])


def _segment_place(raw: dict[str, Any]) -> SegmentPlace:
    sid: str = raw["segment"]
    elements = tuple(_element_spec(e, i + 1, sid) for i, e in enumerate(raw["elements"]))
    # a date in the format its qualifier names (DTP02/DTP03, DMG01/DMG02)
    for i in range(1, len(elements)):
        if elements[i].data_ele == "1251" and elements[i - 1].data_ele == "1250":
            elements[i].date_qualifier = i  # 1-based index of the qualifier element
            elements[i].settle()
    rules = []
    for text in raw.get("syntax") or ():
        kind = _SYNTAX.get(text[0])
        if kind is None:
            continue
        digits = text[1:]
        indexes = tuple(int(digits[k : k + 2]) for k in range(0, len(digits), 2))
        rule = SyntaxRule(kind, indexes, text)
        asked = indexes[1:] if kind == _L else indexes
        rule.covered = any(_required(elements, i) for i in asked)
        rules.append(rule)
    qi, qc, qcodes = _qualifier(raw)
    return SegmentPlace(
        sid,
        raw.get("name", ""),
        _USAGES.get(raw.get("usage", "S"), _SITUATIONAL),
        int(raw.get("max_use") or 0),
        qi,
        qc,
        qcodes,
        elements,
        tuple(rules),
    )


def _compile_loop(
    raw: dict[str, Any],
    transaction_set: str,
    ids: set[str],
    hl_codes: dict[str, str],
    parent_hl: str,
) -> LoopSpec:
    loop_id: str = raw["loop"]
    spec = LoopSpec(loop_id, raw.get("name", ""), _level_of(transaction_set, loop_id))
    children: list[Child] = []
    previous_pos: int | None = None
    group = -1
    own_hl = hl_codes.get(loop_id, "")
    spec.hl_parent_level = parent_hl if own_hl else ""
    below_hl = own_hl or parent_hl
    raw_children: list[dict[str, Any]] = raw["children"]
    for i, rc in enumerate(raw_children):
        pos = int(rc["pos"])
        if pos != previous_pos:
            group += 1
            previous_pos = pos
        usage = _USAGES.get(rc.get("usage", "S"), _SITUATIONAL)
        if "loop" in rc:
            sub = _compile_loop(rc, transaction_set, ids, hl_codes, below_hl)
            first = sub.children[0].place
            child = Child(i, group, first, sub, usage)
            child.maximum = int(rc.get("repeat") or 0)
        else:
            place = _segment_place(rc)
            ids.add(place.segment_id)
            child = Child(i, group, place, None, usage)
            child.maximum = place.max_use
            sid = place.segment_id
            if sid == "N3":
                spec.n3_index = i
            elif sid == "N4":
                spec.n4_index = i
            elif sid == "DMG":
                spec.dmg_index = i
            elif sid == "REF" and place.qual_codes is not None and "F8" in place.qual_codes:
                spec.f8_index = i
        children.append(child)
    spec.children = tuple(children)
    candidates: dict[str, list[Child]] = {}
    for child in children:
        candidates.setdefault(child.place.segment_id, []).append(child)
    spec.candidates = {sid: tuple(found) for sid, found in candidates.items()}
    for sid, found in candidates.items():
        quals = {(c.place.qual_index, c.place.qual_component) for c in found}
        if len(quals) != 1 or any(c.place.qual_codes is None for c in found):
            continue
        qi, qc = next(iter(quals))
        by_code: dict[str, list[Child]] = {}
        for c in found:
            for code in sorted(c.place.qual_codes or ()):
                by_code.setdefault(code, []).append(c)
        spec.keyed[sid] = Keyed(qi, qc, {k: tuple(v) for k, v in by_code.items()})
    slots: dict[int, Places] = {
        segment_code(sid): Places(spec.keyed.get(sid), found)
        for sid, found in spec.candidates.items()
    }
    spec.by_code = [slots.get(n) for n in range(max(slots, default=0) + 1)]
    spec.required = tuple(c for c in children if c.usage == _REQUIRED)
    if spec.n3_index >= 0 and spec.n4_index >= 0:
        spec.pair_address = (
            children[spec.n3_index].usage == _SITUATIONAL
            and children[spec.n4_index].usage == _SITUATIONAL
        )
    if transaction_set == "837" and loop_id == "2300":
        spec.children[0].place.hook = _HOOK_CLM
    if own_hl:
        spec.children[0].place.hook = _HOOK_HL
    if transaction_set == "837" and loop_id == "2000B":
        for child in children:
            if child.place.segment_id == "SBR" and child.loop is None:
                child.place.hook = _HOOK_SBR_SUBSCRIBER
            elif child.place.segment_id == "PAT" and child.loop is None:
                child.place.hook = _HOOK_PAT_SUBSCRIBER
    return spec


_CACHE: Final[dict[str, Guide]] = {}


def compile_guide(name: str) -> Guide:
    """The compiled table of ``name`` (``837p``, ``837i``, ``837d``, ``276``), cached."""
    found = _CACHE.get(name)
    if found is not None:
        return found
    table = load_guide(name)
    transaction_set: str = table["transaction_set"]
    hl_levels: dict[str, str] = dict(table["hl_levels"])
    by_loop = {loop: code for code, loop in hl_levels.items()}
    ids: set[str] = set()
    root = _compile_loop(table["tree"], transaction_set, ids, by_loop, "")
    guide = Guide(name, transaction_set, table["guide"], root, frozenset(ids), hl_levels)
    _CACHE[name] = guide
    return guide


# --- values ----------------------------------------------------------------------------------
_ASCII_DIGITS: Final = "0123456789"
_DAYS: Final = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


_DATES: Final[dict[str, bool]] = {}


def valid_date(value: str) -> bool:
    """CCYYMMDD or YYMMDD, a real calendar date (remembered: dates repeat across claims)."""
    known = _DATES.get(value)
    if known is not None:
        return known
    ok = _valid_date(value)
    if len(_DATES) < 20_000:
        _DATES[value] = ok
    return ok


def _valid_date(value: str) -> bool:
    n = len(value)
    if (n not in {8, 6}) or not ascii_digits(value):
        return False
    if n == 8:
        year = int(value[:4])
        month = int(value[4:6])
        day = int(value[6:8])
    else:
        year = 2000 + int(value[:2])
        month = int(value[2:4])
        day = int(value[4:6])
    if month < 1 or month > 12 or day < 1 or day > _DAYS[month]:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def valid_time(value: str) -> bool:
    """HHMM, HHMMSS or HHMMSSd..d."""
    n = len(value)
    if n < 4 or n > 8 or n == 5 or not ascii_digits(value):
        return False
    if int(value[:2]) > 23 or int(value[2:4]) > 59:
        return False
    return n < 6 or int(value[4:6]) <= 59


def _numeric_length(value: str, decimal: bool) -> int:
    """The number of digits of an N or R value, or -1 when it is not such a number."""
    s = value[1:] if value[0] == "-" else value
    if decimal:
        dot = s.find(".")
        if dot >= 0:
            s = s[:dot] + s[dot + 1 :]
    if not s or not ascii_digits(s):
        return -1
    return len(s)


def _shown(value: str) -> str:
    """At most 35 bytes of an input value, printable ASCII only, quoted."""
    out = []
    for ch in value[:35]:
        out.append(ch if " " <= ch <= "~" and ch not in {"'", "\\"} else "?")
    return "'" + "".join(out) + "'"


def _shown_id(value: str) -> str:
    out = []
    for ch in value[:3]:
        out.append(ch if ch.isascii() and ch.isalnum() else "?")
    return "".join(out)


_NO_FINDINGS: Final[list[Finding]] = []


class Frame:
    """One open loop: its spec, the current guide position and the use count of each child."""

    __slots__ = ("counts", "group", "loop")

    def __init__(self, loop: LoopSpec) -> None:
        self.loop = loop
        self.group = 0
        self.counts = [0] * len(loop.children)


class GuideWalker:
    """Walks one transaction set (ST..SE) against a compiled guide.

    ``step(seg, position)`` for every segment (elements split, components and repetitions
    still joined), ``finish(position)`` at the end. Both return findings; the list returned
    when there are none is one shared empty list: do not change it.
    """

    def __init__(
        self,
        guide: Guide,
        component_separator: str = ":",
        repetition_separator: str = "^",
        *,
        check_characters: bool = True,
    ) -> None:
        self.guide = guide
        # False where the tokenizer already reports characters outside the X12 sets (the
        # intake: interchange.py calls TransactionReader.invalid_characters)
        self.check_characters = check_characters
        self.component = component_separator
        self.repetition = repetition_separator if repetition_separator not in ("", "U") else ""
        self.stack: list[Frame] = []
        self.found: list[Finding] = _NO_FINDINGS
        self.code = 0  # the segment code of the segment last stepped
        self.is_837 = guide.transaction_set == "837"
        # HL tree
        self.hl_ids: dict[str, str] = {}
        self.open_hl: dict[str, str] = {}  # level code -> HL01 of the open HL of that level
        self.last_hl = 0
        self.pending_hl_id = ""
        self.pending_hl04 = ""
        self.pending_hl_position = 0
        self.pending_hl_loop = ""
        # 837 situational state
        self.sbr02 = ""
        self.claim_frequency = ""
        self.started = False

    # -- reporting ----------------------------------------------------------------------------
    def _add(self, finding: Finding) -> None:
        if self.found is _NO_FINDINGS:
            self.found = []
        self.found.append(finding)

    def _segment(
        self,
        code: str,
        error: str,
        sid: str,
        position: int,
        loop: LoopSpec,
        message: str,
        level: str = "",
    ) -> None:
        self._add(
            Finding(
                code,
                f"{loop.loop_id} {message}",
                error,
                "",
                sid,
                position,
                loop.loop_id,
                level=level or loop.level,
            )
        )

    def _element(
        self,
        error: str,
        place: SegmentPlace,
        spec: ElementSpec,
        component: int,
        element: int,
        position: int,
        loop: LoopSpec,
        message: str,
        code: str = "",
    ) -> None:
        level = LEVEL_HIERARCHY if place.segment_id == "HL" else loop.level
        self._add(
            Finding(
                code or f"X12-ELEMENT-{error}",
                f"{loop.loop_id} {spec.ref} ({spec.name}) {message}",
                SEG_ELEMENT_ERRORS,
                error,
                place.segment_id,
                position,
                loop.loop_id,
                element,
                component,
                spec.data_ele,
                level,
            )
        )

    # -- walking ------------------------------------------------------------------------------
    def step(self, seg: list[str], position: int) -> list[Finding]:
        """The findings of one segment (the shared empty list when there are none); its
        segment code (:func:`segment_code`, 0 for an id no guide has) is left in :attr:`code`."""
        self.found = _NO_FINDINGS
        sid = seg[0]
        code = _SEGMENT_CODES.get(sid, 0)
        self.code = code
        stack = self.stack
        if not self.started:
            self.started = True
            root = self.guide.root
            frame = Frame(root)
            stack.append(frame)
            first = root.children[0]
            if sid == first.place.segment_id:
                frame.counts[0] = 1
                self._check(seg, first.place, position, root)
                return self.found
        depth = len(stack) - 1
        n = len(seg)
        while depth >= 0:
            frame = stack[depth]
            loop = frame.loop
            places = loop.by_code[code] if code < len(loop.by_code) else None
            if places is not None:
                keyed = places.keyed
                if keyed is not None:
                    qi = keyed.qual_index
                    value = seg[qi] if qi < n else ""
                    if keyed.qual_component:
                        cut = value.find(self.component) if self.component else -1
                        if cut >= 0:
                            value = value[:cut]
                    cands = keyed.by_code.get(value)
                    if cands is not None:
                        for child in cands:
                            if child.index == 0 or child.group < frame.group:
                                continue
                            self._place(seg, position, depth, frame, child)
                            return self.found
                else:
                    for child in places.candidates:
                        if child.index == 0 or child.group < frame.group:
                            continue
                        if self._matches(seg, child.place):
                            self._place(seg, position, depth, frame, child)
                            return self.found
            depth -= 1
        self._misplaced(seg, position)
        return self.found

    def _matches(self, seg: list[str], place: SegmentPlace) -> bool:
        qi = place.qual_index
        if qi == 0:
            return True
        codes = place.qual_codes
        if codes is None:
            return True
        value = seg[qi] if qi < len(seg) else ""
        if place.qual_component:
            cut = value.find(self.component) if self.component else -1
            if cut >= 0:
                value = value[:cut]
        return value in codes

    def _place(
        self,
        seg: list[str],
        position: int,
        depth: int,
        frame: Frame,
        child: Child,
        report_max: bool = True,
    ) -> None:
        stack = self.stack
        while len(stack) > depth + 1:
            self._close(stack.pop(), position)
        if child.group > frame.group:
            self._passed(frame, child.group, position)
            frame.group = child.group
        count = frame.counts[child.index] + 1
        frame.counts[child.index] = count
        loop = child.loop
        place = child.place
        if loop is not None:
            if child.maximum and count > child.maximum:
                self._segment(
                    f"X12-SEGMENT-{SEG_LOOP_OVER_MAX}",
                    SEG_LOOP_OVER_MAX,
                    place.segment_id,
                    position,
                    loop,
                    f"loop ({loop.name}) repeats {count} times, more than {child.maximum}",
                )
            if child.usage == _NOT_USED:
                self._segment(
                    f"X12-SEGMENT-{SEG_NOT_USED}",
                    SEG_NOT_USED,
                    place.segment_id,
                    position,
                    loop,
                    f"loop ({loop.name}) is not used in this guide",
                )
            inner = Frame(loop)
            inner.counts[0] = 1
            stack.append(inner)
            self._check(seg, place, position, loop)
            if place.hook != _HOOK_NONE:
                self._hook(seg, place, position, loop, frame.loop)
            return
        if report_max and child.maximum and count > child.maximum:
            self._segment(
                f"X12-SEGMENT-{SEG_OVER_MAX_USE}",
                SEG_OVER_MAX_USE,
                place.segment_id,
                position,
                frame.loop,
                f"{place.segment_id} ({place.name}) used {count} times, more than {child.maximum}",
            )
        if place.usage == _NOT_USED:
            self._segment(
                f"X12-SEGMENT-{SEG_NOT_USED}",
                SEG_NOT_USED,
                place.segment_id,
                position,
                frame.loop,
                f"{place.segment_id} ({place.name}) is not used in this guide",
            )
        self._check(seg, place, position, frame.loop)
        if place.hook != _HOOK_NONE:
            self._hook(seg, place, position, frame.loop, frame.loop)

    def _passed(self, frame: Frame, group: int, position: int) -> None:
        """Required children of ``frame`` before guide position ``group`` that never came."""
        for child in frame.loop.required:
            if child.group >= group:
                break
            if child.group >= frame.group and frame.counts[child.index] == 0:
                self._missing(frame.loop, child, position)

    def _missing(self, loop: LoopSpec, child: Child, position: int) -> None:
        sub = child.loop
        if sub is not None:
            self._segment(
                f"X12-SEGMENT-{SEG_REQUIRED_MISSING}",
                SEG_REQUIRED_MISSING,
                child.place.segment_id,
                position,
                sub,
                f"required loop ({sub.name}) is missing",
                level=loop.level,
            )
        else:
            self._segment(
                f"X12-SEGMENT-{SEG_REQUIRED_MISSING}",
                SEG_REQUIRED_MISSING,
                child.place.segment_id,
                position,
                loop,
                f"required segment {child.place.segment_id} ({child.place.name}) is missing",
            )

    def _close(self, frame: Frame, position: int) -> None:
        """A loop ends: what it required and never got, and its situational rules."""
        loop = frame.loop
        counts = frame.counts
        for child in loop.required:
            if child.group >= frame.group and counts[child.index] == 0:
                self._missing(loop, child, position)
        if loop.pair_address:
            n3 = counts[loop.n3_index]
            n4 = counts[loop.n4_index]
            if n3 and not n4:
                self._situational(sit.N3_WITHOUT_N4, "N4", position, loop)
            elif n4 and not n3:
                self._situational(sit.N4_WITHOUT_N3, "N3", position, loop)
        if not self.is_837:
            if loop.loop_id == "2000D":
                has_inquiry = False
                has_dependent = False
                for child in loop.children:
                    sub = child.loop
                    if sub is not None and counts[child.index]:
                        if sub.loop_id == "2200D":
                            has_inquiry = True
                        elif sub.loop_id == "2000E":
                            has_dependent = True
                if not has_inquiry and not has_dependent:
                    self._situational(sit.INQUIRY_2200D_MISSING, "TRN", position, loop)
            return
        lid = loop.loop_id
        if lid == "2010BA" and self.sbr02 == "18":
            if loop.dmg_index >= 0 and counts[loop.dmg_index] == 0:
                self._situational(sit.SUBSCRIBER_PATIENT_DMG, "DMG", position, loop)
            if loop.n3_index >= 0 and counts[loop.n3_index] == 0:
                self._situational(sit.SUBSCRIBER_PATIENT_ADDRESS, "N3", position, loop)
        elif lid == "2300" and (
            (self.claim_frequency in {"7", "8"})
            and loop.f8_index >= 0
            and counts[loop.f8_index] == 0
        ):
            self._situational(sit.REPLACEMENT_WITHOUT_F8, "REF", position, loop)

    def _situational(
        self, code: str, sid: str, position: int, loop: LoopSpec, level: str = ""
    ) -> None:
        rule = sit.RULES_BY_CODE[code]
        self._add(
            Finding(
                code,
                f"{loop.loop_id} {rule.text}",
                rule.segment_error,
                rule.element_error,
                sid,
                position,
                loop.loop_id,
                level=level or loop.level,
            )
        )

    def _hook(
        self, seg: list[str], place: SegmentPlace, position: int, loop: LoopSpec, parent: LoopSpec
    ) -> None:
        hook = place.hook
        if hook == _HOOK_HL:
            self._hl(seg, position, loop)
            if self.is_837:
                code = seg[3] if len(seg) > 3 else ""
                if code == "22":
                    self.sbr02 = ""
                elif code == "23" and self.sbr02 == "18":
                    self._situational(sit.SBR02_18_PATIENT_LOOP, "HL", position, loop, "subscriber")
        elif hook == _HOOK_SBR_SUBSCRIBER:
            self.sbr02 = seg[2] if len(seg) > 2 else ""
        elif hook == _HOOK_PAT_SUBSCRIBER:
            if self.sbr02 != "18":
                self._situational(sit.PAT_IN_2000B_NOT_PATIENT, "PAT", position, loop)
        elif hook == _HOOK_CLM:
            value = seg[5] if len(seg) > 5 else ""
            parts = value.split(self.component) if self.component else [value]
            self.claim_frequency = parts[2] if len(parts) > 2 else ""
            if parent.loop_id == "2000B" and self.sbr02 != "18":
                self._situational(
                    sit.SBR02_NOT_18_NO_PATIENT_LOOP, "HL", position, parent, "subscriber"
                )

    # -- the HL tree --------------------------------------------------------------------------
    def _hierarchy(
        self, code: str, element: int, position: int, loop: str, message: str, error: str = "7"
    ) -> None:
        self._add(
            Finding(
                code,
                f"{loop} HL{element:02d} {message}",
                SEG_ELEMENT_ERRORS,
                error,
                "HL",
                position,
                loop,
                element,
                0,
                ("628", "734", "735", "736")[element - 1],
                LEVEL_HIERARCHY,
            )
        )

    def _hl04(self, next_parent: str | None) -> None:
        """The previous HL's HL04 against what follows it (``None``: nothing follows)."""
        if not self.pending_hl_id:
            return
        has_child = next_parent is not None and next_parent == self.pending_hl_id
        value = self.pending_hl04
        if value == "1" and not has_child:
            self._hierarchy(
                "X12-HL04-NO-CHILD",
                4,
                self.pending_hl_position,
                self.pending_hl_loop,
                "is 1 but no HL under it follows",
            )
        elif value == "0" and has_child:
            self._hierarchy(
                "X12-HL04-HAS-CHILD",
                4,
                self.pending_hl_position,
                self.pending_hl_loop,
                "is 0 but an HL under it follows",
            )
        self.pending_hl_id = ""

    def _hl(self, seg: list[str], position: int, loop: LoopSpec) -> None:
        n = len(seg)
        hl_id = seg[1] if n > 1 else ""
        parent = seg[2] if n > 2 else ""
        level = seg[3] if n > 3 else ""
        lid = loop.loop_id
        self._hl04(parent)
        if hl_id:
            if hl_id in self.hl_ids:
                self._hierarchy(
                    "X12-HL01-NOT-UNIQUE", 1, position, lid, f"{_shown(hl_id)} is used before"
                )
            elif not ascii_digits(hl_id) or int(hl_id) != self.last_hl + 1:
                self._hierarchy(
                    "X12-HL01-SEQUENCE",
                    1,
                    position,
                    lid,
                    f"{_shown(hl_id)} does not follow {self.last_hl} by one",
                )
            if ascii_digits(hl_id):
                self.last_hl = int(hl_id)
        want = loop.hl_parent_level
        if want and parent:
            parent_level = self.hl_ids.get(parent)
            if parent_level is None:
                self._hierarchy(
                    "X12-HL02-UNKNOWN",
                    2,
                    position,
                    lid,
                    f"{_shown(parent)} names no earlier HL",
                )
            elif parent_level != want or self.open_hl.get(want) != parent:
                self._hierarchy(
                    "X12-HL02-WRONG-PARENT",
                    2,
                    position,
                    lid,
                    f"{_shown(parent)} is not the enclosing HL of level {want}",
                )
        if hl_id:
            self.hl_ids[hl_id] = level
            self.open_hl[level] = hl_id
        self.pending_hl_id = hl_id
        self.pending_hl04 = seg[4] if n > 4 else ""
        self.pending_hl_position = position
        self.pending_hl_loop = lid

    # -- segments that fit nowhere in order ---------------------------------------------------
    def _misplaced(self, seg: list[str], position: int) -> None:
        sid = seg[0]
        stack = self.stack
        # 1. its place is in an open loop, before the current position: out of sequence
        depth = len(stack) - 1
        while depth >= 0:
            frame = stack[depth]
            cands = frame.loop.candidates.get(sid)
            if cands is not None:
                for child in cands:
                    if child.index == 0 or child.loop is not None:
                        continue
                    if self._matches(seg, child.place):
                        place = child.place
                        count = frame.counts[child.index] + 1
                        frame.counts[child.index] = count
                        self._segment(
                            f"X12-SEGMENT-{SEG_OUT_OF_SEQUENCE}",
                            SEG_OUT_OF_SEQUENCE,
                            place.segment_id,
                            position,
                            frame.loop,
                            f"{sid} ({place.name}) is out of sequence",
                        )
                        self._check(seg, place, position, frame.loop)
                        return
            depth -= 1
        if sid == "HL":
            top = stack[-1].loop if stack else self.guide.root
            level = seg[3] if len(seg) > 3 else ""
            target = self.guide.hl_levels.get(level)
            if target is not None:
                self._hl04(seg[2] if len(seg) > 2 else "")
                self._hierarchy(
                    "X12-HL03-ORDER",
                    3,
                    position,
                    target,
                    f"level {_shown(level)} cannot follow loop {top.loop_id} here",
                )
                self.pending_hl_id = ""
                return
        # 2. only its id fits: an invalid qualifier, checked against the first such place
        depth = len(stack) - 1
        while depth >= 0:
            frame = stack[depth]
            cands = frame.loop.candidates.get(sid)
            if cands is not None:
                child = cands[0]
                for c in cands:
                    if c.index != 0:
                        child = c
                        break
                # Its place, in order, with a code that names none of the places of its id:
                # taken as that place (the invalid code is its finding), so that what follows
                # still fits; a loop only when it is the one loop that segment opens here.
                ahead = 0
                for c in cands:
                    if c.index != 0 and c.group >= frame.group:
                        ahead += 1
                in_order = child.index != 0 and child.group >= frame.group
                if in_order and (child.loop is None or ahead == 1):
                    self._place(seg, position, depth, frame, child, False)
                    return
                loop = child.loop if child.loop is not None else frame.loop
                self._check(seg, child.place, position, loop)
                if self.found is _NO_FINDINGS:
                    self._segment(
                        f"X12-SEGMENT-{SEG_UNEXPECTED}",
                        SEG_UNEXPECTED,
                        child.place.segment_id,
                        position,
                        loop,
                        f"{sid} is not expected here",
                    )
                return
            depth -= 1
        loop = stack[-1].loop if stack else self.guide.root
        if sid in self.guide.all_ids:
            self._segment(
                f"X12-SEGMENT-{SEG_UNEXPECTED}",
                SEG_UNEXPECTED,
                sid,
                position,
                loop,
                f"{sid} is not expected here (no open loop has a place for it)",
            )
        else:
            self._add(
                Finding(
                    f"X12-SEGMENT-{SEG_UNRECOGNIZED}",
                    f"{loop.loop_id} unrecognized segment {_shown_id(sid)}",
                    SEG_UNRECOGNIZED,
                    "",
                    "",
                    position,
                    loop.loop_id,
                    level=loop.level,
                )
            )

    def finish(self, position: int) -> list[Finding]:
        """What is missing when the transaction set ends (call after SE, or where it stops)."""
        self.found = _NO_FINDINGS
        self._hl04(None)
        stack = self.stack
        while stack:
            self._close(stack.pop(), position)
        return self.found

    # -- elements -----------------------------------------------------------------------------
    def _check(self, seg: list[str], place: SegmentPlace, position: int, loop: LoopSpec) -> None:
        self._elements(seg, place, position, loop)

    def _elements(self, seg: list[str], place: SegmentPlace, position: int, loop: LoopSpec) -> None:
        elements = place.elements
        n = len(seg)
        m = len(elements)
        if n > m + 1:
            for i in range(m + 1, n):
                if seg[i]:
                    self._add(
                        Finding(
                            f"X12-ELEMENT-{ELEM_TOO_MANY}",
                            f"{loop.loop_id} {place.segment_id} has more than {m} elements",
                            SEG_ELEMENT_ERRORS,
                            ELEM_TOO_MANY,
                            place.segment_id,
                            position,
                            loop.loop_id,
                            i,
                            0,
                            "",
                            loop.level,
                        )
                    )
                    break
        rep = self.repetition
        chars = self.check_characters
        last = n - 1 if n - 1 < m else m
        k = 0
        while k < last:
            spec = elements[k]
            k += 1
            value = seg[k]
            if not value:
                if spec.usage == _REQUIRED:
                    self._element(
                        ELEM_MISSING, place, spec, 0, k, position, loop, "is required but missing"
                    )
                continue
            if rep and rep in value:
                self._full(seg, value, spec, place, position, loop)
                continue
            if spec.plain:
                nv = len(value)
                if spec.min_len <= nv <= spec.max_len and (
                    not chars or (value.isascii() and value.isprintable())
                ):
                    continue
            elif spec.coded:
                if value in spec.codes_set:
                    continue
            elif spec.plain_number:
                if (
                    spec.min_len <= len(value) <= spec.max_len
                    and value.isdigit()
                    and (not chars or value.isascii())
                ):
                    continue
                # an amount such as 446.37: ASCII digits around one point, counted without it
                if spec.plain_decimal and value.strip(_ASCII_DIGITS) == ".":
                    nv = len(value) - 1
                    if nv and spec.min_len <= nv <= spec.max_len:
                        continue
            elif spec.plain_dated:
                # a D8 date (DTP03, DMG02): a real CCYYMMDD (the checks of _value, in short)
                q = spec.date_qualifier
                if (
                    len(value) == 8
                    and q < n
                    and seg[q] == "D8"
                    and spec.min_len <= 8 <= spec.max_len
                    and (not chars or (value.isascii() and value.isprintable()))
                    and valid_date(value)
                ):
                    continue
            elif spec.components:
                self._composite(seg, value, spec, place, position, loop)
                continue
            self._full(seg, value, spec, place, position, loop)
        for spec in place.required:
            if spec.index > last:
                self._element(
                    ELEM_MISSING,
                    place,
                    spec,
                    0,
                    spec.index,
                    position,
                    loop,
                    "is required but missing",
                )
        if place.syntax:
            self._syntax(seg, place, position, loop)

    def _full(
        self,
        seg: list[str],
        value: str,
        spec: ElementSpec,
        place: SegmentPlace,
        position: int,
        loop: LoopSpec,
    ) -> None:
        """Every check of one present element (the fast path found something to look at)."""
        i = spec.index
        if spec.usage == _NOT_USED:
            self._element(
                ELEM_NOT_USED, place, spec, 0, i, position, loop, "is not used in this guide"
            )
            return
        rep = self.repetition
        if rep and rep in value:
            reps = value.split(rep)
            if len(reps) > spec.repeat:
                self._element(
                    ELEM_TOO_MANY_REPETITIONS,
                    place,
                    spec,
                    0,
                    i,
                    position,
                    loop,
                    f"repeats {len(reps)} times, more than {spec.repeat}",
                )
                return
            for one in reps:
                if spec.components:
                    self._composite(seg, one, spec, place, position, loop)
                else:
                    self._value(seg, one, spec, place, 0, i, position, loop)
            return
        if spec.components:
            self._composite(seg, value, spec, place, position, loop)
        else:
            self._value(seg, value, spec, place, 0, i, position, loop)

    def _composite(
        self,
        seg: list[str],
        value: str,
        spec: ElementSpec,
        place: SegmentPlace,
        position: int,
        loop: LoopSpec,
    ) -> None:
        sep = self.component
        parts = value.split(sep) if sep and sep in value else [value]
        comps = spec.components
        i = spec.index
        if len(parts) > len(comps):
            for k in range(len(comps), len(parts)):
                if parts[k]:
                    self._element(
                        ELEM_TOO_MANY_COMPONENTS,
                        place,
                        spec,
                        k + 1,
                        i,
                        position,
                        loop,
                        f"has more than {len(comps)} components",
                    )
                    break
        np = len(parts)
        for comp in comps:
            k = comp.index
            v = parts[k - 1] if k <= np else ""
            if not v:
                if comp.usage == _REQUIRED:
                    self._element(
                        ELEM_MISSING, place, comp, k, i, position, loop, "is required but missing"
                    )
                continue
            if comp.plain:
                if comp.min_len <= len(v) <= comp.max_len and (
                    not self.check_characters or (v.isascii() and v.isprintable())
                ):
                    continue
            elif comp.coded:
                if v in comp.codes_set:
                    continue
            elif (
                comp.plain_number
                and comp.min_len <= len(v) <= comp.max_len
                and v.isdigit()
                and (not self.check_characters or v.isascii())
            ):
                continue
            if comp.usage == _NOT_USED:
                self._element(
                    ELEM_NOT_USED, place, comp, k, i, position, loop, "is not used in this guide"
                )
                continue
            self._value(seg, v, comp, place, k, i, position, loop)

    def _value(
        self,
        seg: list[str],
        value: str,
        spec: ElementSpec,
        place: SegmentPlace,
        component: int,
        element: int,
        position: int,
        loop: LoopSpec,
    ) -> None:
        kind = spec.kind
        if kind in (_N, _R):
            length = _numeric_length(value, kind == _R)
            if length < 0:
                self._element(
                    ELEM_INVALID_CHARACTER,
                    place,
                    spec,
                    component,
                    element,
                    position,
                    loop,
                    f"{_shown(value)} is not a number",
                )
                return
        else:
            if self.check_characters and not (value.isascii() and value.isprintable()):
                self._element(
                    ELEM_INVALID_CHARACTER,
                    place,
                    spec,
                    component,
                    element,
                    position,
                    loop,
                    "holds a character outside the X12 character sets",
                )
                return
            length = len(value)
        if length > spec.max_len > 0:
            self._element(
                ELEM_TOO_LONG,
                place,
                spec,
                component,
                element,
                position,
                loop,
                f"is {length} long, more than {spec.max_len}",
            )
            return
        if length < spec.min_len:
            self._element(
                ELEM_TOO_SHORT,
                place,
                spec,
                component,
                element,
                position,
                loop,
                f"is {length} long, fewer than {spec.min_len}",
            )
            return
        codes = spec.codes
        if codes is not None and value not in codes:
            self._element(
                ELEM_INVALID_CODE,
                place,
                spec,
                component,
                element,
                position,
                loop,
                f"{_shown(value)} is not a valid code here",
            )
            return
        if kind == _DT:
            if not valid_date(value):
                self._element(
                    ELEM_INVALID_DATE,
                    place,
                    spec,
                    component,
                    element,
                    position,
                    loop,
                    f"{_shown(value)} is not a date",
                )
            return
        if kind == _TM:
            if not valid_time(value):
                self._element(
                    ELEM_INVALID_TIME,
                    place,
                    spec,
                    component,
                    element,
                    position,
                    loop,
                    f"{_shown(value)} is not a time",
                )
            return
        if spec.date_qualifier:
            q = spec.date_qualifier
            fmt = seg[q] if q < len(seg) else ""
            ok = True
            if fmt == "D8":
                ok = len(value) == 8 and valid_date(value)
            elif fmt == "RD8":
                ok = (
                    len(value) == 17
                    and value[8] == "-"
                    and valid_date(value[:8])
                    and valid_date(value[9:])
                )
            elif fmt == "DT":
                ok = len(value) == 12 and valid_date(value[:8]) and valid_time(value[8:])
            if not ok:
                self._element(
                    ELEM_INVALID_DATE,
                    place,
                    spec,
                    component,
                    element,
                    position,
                    loop,
                    f"{_shown(value)} is not a date in the format {_shown(fmt)}",
                )
            return
        if spec.regex is not None and spec.regex.fullmatch(value) is None:
            self._element(
                ELEM_PATTERN,
                place,
                spec,
                component,
                element,
                position,
                loop,
                f"{_shown(value)} does not match {spec.regex.pattern}",
            )

    def _syntax(self, seg: list[str], place: SegmentPlace, position: int, loop: LoopSpec) -> None:
        n = len(seg)
        elements = place.elements
        for rule in place.syntax:
            indexes = rule.indexes
            kind = rule.kind
            first = indexes[0]
            present = 0
            first_missing = 0
            second_present = 0
            for i in indexes:
                if i < n and seg[i]:
                    present += 1
                    if present == 2:
                        second_present = i
                elif not first_missing:
                    first_missing = i
            # a required element the rule names is reported missing by itself (IK403 1)
            if kind == _P:
                if 0 < present < len(indexes) and not _required(elements, first_missing):
                    self._rule(place, elements, first_missing, position, loop, rule, "2")
            elif kind == _RR:
                if present == 0 and not rule.covered:
                    self._rule(place, elements, first, position, loop, rule, "2")
            elif kind == _E:
                if present > 1:
                    self._rule(place, elements, second_present, position, loop, rule, "10")
            else:
                head = first < n and seg[first] != ""
                if not head:
                    continue
                if kind == _C:
                    if present < len(indexes) and not _required(elements, first_missing):
                        self._rule(place, elements, first_missing, position, loop, rule, "2")
                elif kind == _L and present == 1 and not rule.covered:
                    self._rule(place, elements, indexes[1], position, loop, rule, "2")

    def _rule(
        self,
        place: SegmentPlace,
        elements: tuple[ElementSpec, ...],
        index: int,
        position: int,
        loop: LoopSpec,
        rule: SyntaxRule,
        error: str,
    ) -> None:
        ref = elements[index - 1].data_ele if 0 < index <= len(elements) else ""
        what = "exclusion" if error == ELEM_EXCLUSION else "condition"
        self._add(
            Finding(
                f"X12-ELEMENT-{error}",
                f"{loop.loop_id} {place.segment_id}{index:02d} breaks syntax {what} {rule.text}",
                SEG_ELEMENT_ERRORS,
                error,
                place.segment_id,
                position,
                loop.loop_id,
                index,
                0,
                ref,
                LEVEL_HIERARCHY if place.segment_id == "HL" else loop.level,
            )
        )


def walk(
    guide: Guide, segments: list[list[str]], component: str = ":", repetition: str = "^"
) -> list[Finding]:
    """Every finding of one transaction set given as its segments, ST first (for tests/tools)."""
    walker = GuideWalker(guide, component, repetition)
    out: list[Finding] = []
    position = 0
    for seg in segments:
        position += 1
        out.extend(walker.step(seg, position))
    out.extend(walker.finish(position))
    return out
