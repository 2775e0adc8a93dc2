"""An independent check of a 278 response (005010X217): no library at hand validates one.

pyx12 4.0.0 has only the 4010 278 maps (``278.4010.X094*``), x12sdk 2.2.0 and its parent
linuxforhealth-x12 0.57.0 model the 270/271, 276/277, 834, 835 and 837s but no 278, and the
other X12 packages on PyPI validate no health care guide (or only under a commercial
licence). So the tests check the 278s the engine writes with this parser, written for them
from the guide's response layout, apart from the writer and sharing no code with the engine:
it splits the interchange by its own reading of the ISA, and checks

* the envelope: ISA/IEA, GS/GE and ST/SE control numbers and counts, GS01 ``HI``, ST01
  ``278``, ST03 and GS08 ``005010X217``; BHT01 ``0007``, BHT02 ``11`` (a response), BHT04 a
  date, BHT05 a time;
* the HL tree: HL01 1, 2, 3 ... in order, HL02 an earlier HL of the level the guide puts above
  (20 UMO, 21 requester, 22 subscriber, 23 dependent, EV patient event, SS service), HL04 ``1``
  exactly when a child follows;
* each loop's segments in the guide's order, within their repeats (:data:`LOOPS`), the
  required ones present (an NM1 in 2010A-D, UM in 2000E);
* the values the response carries: TRN01 ``2`` and a 10-character TRN03, HCR01 an action code
  with HCR02 when it certifies and HCR03 when it does not, AAA01 ``Y``/``N`` with AAA03 and an
  AAA04 follow-up code, UM01 and UM02 codes, the DTP qualifiers of each loop with D8 / RD8
  dates that are dates, HSD01 codes and HSD02 numbers, HI qualifiers, REF*BB/NT.

The guide's own response examples (``fixtures/x12/278/*response*``) pass it, as the tests
assert. :func:`x217_errors` returns every problem found; an empty list is a valid response.
With ``version="005010X215"`` it checks an inquiry's response (the same layout, UM02 may be
left out), as ``tests/x215_oracle.py`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

VERSION = "005010X217"
PARENTS = {"20": "", "21": "20", "22": "21", "23": "22", "EV": "22|23", "SS": "EV"}
# each loop: its segments in order, each with its most repeats; the first is the loop's own
_EVENT = [
    ("TRN", 2),
    ("AAA", 9),
    ("UM", 1),
    ("HCR", 1),
    ("REF", 9),
    ("DTP", 10),
    ("HI", 1),
    ("HSD", 1),
    ("CRC", 9),
    ("CL1", 1),
    ("CR1", 1),
    ("CR2", 1),
    ("CR4", 1),
    ("CR5", 1),
    ("CR6", 1),
    ("CR7", 1),
    ("CR8", 1),
    ("PWK", 10),
    ("MSG", 1),
]
_SERVICE = [
    ("TRN", 2),
    ("AAA", 9),
    ("UM", 1),
    ("HCR", 1),
    ("REF", 9),
    ("DTP", 4),
    ("SV1", 1),
    ("SV2", 1),
    ("SV3", 1),
    ("TOO", 32),
    ("HSD", 1),
    ("PWK", 10),
    ("MSG", 1),
]
_PROVIDER = [("NM1", 1), ("REF", 9), ("N3", 1), ("N4", 1), ("PER", 1), ("AAA", 9), ("PRV", 1)]
LOOPS: dict[str, list[tuple[str, int]]] = {
    "20": [("AAA", 9)],
    "2010A": [("NM1", 1), ("PER", 3), ("AAA", 9)],
    "21": [],
    "2010B": [("NM1", 1), ("REF", 9), ("N3", 1), ("N4", 1), ("PER", 1), ("AAA", 9), ("PRV", 1)],
    "22": [],
    "2010C": [("NM1", 1), ("REF", 9), ("N3", 1), ("N4", 1), ("AAA", 9), ("DMG", 1), ("INS", 1)],
    "23": [],
    "2010D": [("NM1", 1), ("REF", 9), ("N3", 1), ("N4", 1), ("AAA", 9), ("DMG", 1), ("INS", 1)],
    "EV": _EVENT,
    "2010E": _PROVIDER,
    "SS": _SERVICE,
    "2010F": _PROVIDER,
}
NAME_LOOP = {"20": "2010A", "21": "2010B", "22": "2010C", "23": "2010D", "EV": "2010E"}
NAME_LOOP["SS"] = "2010F"
NAME_ENTITY = {"20": {"X3"}, "21": {"1P", "FA"}, "22": {"IL"}, "23": {"QC"}}
ACTIONS = {"A1", "A2", "A3", "A4", "A6", "C", "CT", "NA"}
CERTIFYING = {"A1", "A2", "A6"}
FOLLOW_UPS = {"C", "N", "R", "W", "X", "Y"}
CATEGORIES = {"AR", "HS", "SC", "IN"}  # IN: as the guide's own reservation example writes
CERTIFICATION_TYPES = {"1", "2", "3", "4", "I", "R", "S"}
EVENT_DATES = {"439", "484", "ABC", "431", "AAH", "435", "096", "102", "036", "007"}
SERVICE_DATES = {"472", "102", "036", "007"}
QUANTITIES = {"DY", "FL", "HS", "MN", "VS"}
DIAGNOSES = {"ABK", "ABF", "ABJ", "ABN", "APR", "BK", "BF", "BJ", "BN", "PR", "DR"}
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")


def _date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
    except ValueError:
        return False
    return len(text) == 8


@dataclass
class _State:
    errors: list[str] = field(default_factory=list)
    loop: str = ""
    place: int = 0  # the index in the loop's list of the last segment read
    used: dict[str, int] = field(default_factory=dict)
    levels: dict[str, str] = field(default_factory=dict)  # HL01 -> HL03
    seen: set[str] = field(default_factory=set)  # segments of the current HL level
    hl_children: dict[str, bool] = field(default_factory=dict)  # HL01 -> HL04 says a child
    had_child: set[str] = field(default_factory=set)
    level: str = ""

    def bad(self, n: int, message: str) -> None:
        self.errors.append(f"segment {n}: {message}")


def x217_errors(text: str, *, version: str = VERSION) -> list[str]:
    """Every problem this parser finds in the 278 response ``text`` (see the module
    docstring), answering under the guide ``version``."""
    text = text.lstrip()
    if not text.startswith("ISA") or len(text) < 106:
        return ["not an X12 interchange"]
    element, component, terminator = text[3], text[104], text[105]
    raw = [s.strip("\r\n") for s in text.split(terminator)]
    segments = [s.split(element) for s in raw if s]
    s = _State()
    isa = segments[0]
    if len(isa) != 17 or isa[12] != "00501":
        s.bad(1, "ISA must have 16 elements and ISA12 00501")
    groups = transactions = 0
    st_at = 0
    st_control = gs_control = ""
    for n, seg in enumerate(segments, start=1):
        sid = seg[0]
        v = [*seg, *([""] * 20)]
        if sid == "ISA":
            continue
        if sid == "GS":
            groups += 1
            transactions = 0
            gs_control = v[6]
            if v[1] != "HI" or v[8] != version:
                s.bad(n, f"GS01 {v[1]!r} / GS08 {v[8]!r}: not HI / {version}")
        elif sid == "GE":
            if v[1] != str(transactions) or v[2] != gs_control:
                s.bad(n, f"GE {v[1]}*{v[2]} does not close GS {gs_control} of {transactions}")
        elif sid == "IEA":
            if v[1] != str(groups) or v[2] != isa[13]:
                s.bad(n, f"IEA {v[1]}*{v[2]} does not close ISA {isa[13]} of {groups}")
        elif sid == "ST":
            transactions += 1
            st_at, st_control = n, v[2]
            if v[1] != "278" or v[3] != version:
                s.bad(n, f"ST01 {v[1]!r} / ST03 {v[3]!r}: not 278 / {version}")
            s.levels, s.hl_children, s.had_child, s.loop, s.level = {}, {}, set(), "", ""
        elif sid == "SE":
            if v[1] != str(n - st_at + 1) or v[2] != st_control:
                s.bad(
                    n, f"SE {v[1]}*{v[2]}: the set has {n - st_at + 1} segments, ST02 {st_control}"
                )
            _close_level(s, n)
            for hl, says in s.hl_children.items():
                if says != (hl in s.had_child):
                    s.bad(n, f"HL {hl}: HL04 says {'1' if says else '0'}")
        elif sid == "BHT":
            if n != st_at + 1:
                s.bad(n, "BHT must follow ST")
            if v[1] != "0007" or v[2] != "11" or not v[3] or not _date(v[4]):
                s.bad(n, f"BHT {'*'.join(seg[1:])!r}: not 0007*11*reference*date")
            if not re.fullmatch(r"\d{4}(\d{2}(\d{2})?)?", v[5]):
                s.bad(n, f"BHT05 {v[5]!r} is not a time")
        elif sid == "HL":
            _hl(s, n, v)
        else:
            _segment(s, n, sid, v, component, inquiry=version != VERSION)
    return s.errors


def _close_level(s: _State, n: int) -> None:
    if s.level in NAME_ENTITY and "NM1" not in s.seen:
        s.bad(n, f"the level {s.level} has no NM1")
    if s.level == "EV" and "UM" not in s.seen:
        s.bad(n, "the patient event has no UM")


def _hl(s: _State, n: int, v: list[str]) -> None:
    _close_level(s, n)
    hl_id, parent, level, child = v[1], v[2], v[3], v[4]
    if hl_id != str(len(s.levels) + 1):
        s.bad(n, f"HL01 {hl_id!r} is not the next number")
    want = PARENTS.get(level)
    if want is None:
        s.bad(n, f"HL03 {level!r} is not a level of the 278")
        want = ""
    if want == "":
        if parent:
            s.bad(n, "HL02 must be empty at the top")
    elif s.levels.get(parent, "-") not in want.split("|"):
        s.bad(n, f"HL02 {parent!r} is not an HL of level {want} before it")
    else:
        s.had_child.add(parent)
    if child not in ("0", "1"):
        s.bad(n, f"HL04 {child!r} is not 0 or 1")
    s.levels[hl_id] = level
    s.hl_children[hl_id] = child == "1"
    s.level, s.loop, s.place, s.used, s.seen = level, level, -1, {}, set()


def _segment(
    s: _State, n: int, sid: str, v: list[str], component: str, *, inquiry: bool = False
) -> None:
    if not s.loop:
        s.bad(n, f"{sid} before the first HL")
        return
    if sid == "NM1" and s.loop in LOOPS and s.loop == s.level:
        s.loop, s.place, s.used = NAME_LOOP[s.level], -1, {}
    elif sid == "NM1" and s.loop in ("2010E", "2010F"):
        s.place, s.used = -1, {}  # the next provider
    places = [p for p, _ in LOOPS[s.loop]]
    if sid not in places[s.place + 1 :] and not (
        0 <= s.place < len(places) and places[s.place] == sid
    ):
        s.bad(n, f"{sid} is out of place in loop {s.loop}")
        return
    index = places.index(sid, max(s.place, 0))
    s.place = index
    s.used[sid] = s.used.get(sid, 0) + 1
    if s.used[sid] > LOOPS[s.loop][index][1]:
        s.bad(n, f"{sid} repeated more than {LOOPS[s.loop][index][1]} times in {s.loop}")
    s.seen.add(sid)
    _values(s, n, sid, v, component, inquiry)


def _values(
    s: _State, n: int, sid: str, v: list[str], component: str, inquiry: bool = False
) -> None:
    joined = "*".join(x for x in v if x)
    if sid == "NM1":
        named = s.loop.startswith("2010") and s.level in NAME_ENTITY
        entities = NAME_ENTITY.get(s.level) if named else None
        if not v[1] or (entities is not None and v[1] not in entities):
            s.bad(n, f"NM101 {v[1]!r} is not an entity of loop {s.loop}")
        if v[2] not in ("1", "2") or bool(v[8]) != bool(v[9]):
            s.bad(n, f"NM1 {joined!r}: NM102 1/2, NM108 with NM109")
        if s.level == "23" and v[8]:
            s.bad(n, "a dependent (2010D) has no id")
    elif sid == "TRN":
        if v[1] != "2" or not v[2] or len(v[3]) != 10:
            s.bad(n, f"TRN {joined!r}: a response echoes TRN*2 with a 10-character TRN03")
    elif sid == "AAA":
        if v[1] not in ("Y", "N") or not v[3] or v[4] not in FOLLOW_UPS:
            s.bad(n, f"AAA {joined!r}: AAA01 Y/N, AAA03 a reason, AAA04 a follow-up")
    elif sid == "UM":
        if v[1] not in CATEGORIES or (v[2] not in CERTIFICATION_TYPES and (v[2] or not inquiry)):
            s.bad(n, f"UM {joined!r}: UM01 / UM02 not codes")
        if v[4] and v[4].split(component)[1:2] not in (["A"], ["B"]):
            s.bad(n, f"UM04 {v[4]!r}: a facility code and qualifier A or B")
        if v[6] and v[6] not in ("03", "E", "U"):
            s.bad(n, f"UM06 {v[6]!r} is not a level of service")
    elif sid == "HCR":
        if v[1] not in ACTIONS:
            s.bad(n, f"HCR01 {v[1]!r} is not an action code")
        if v[1] in CERTIFYING and not v[2]:
            s.bad(n, f"HCR01 {v[1]} certifies: HCR02 (the certification number) is required")
        if v[1] == "A3" and not v[3]:
            s.bad(n, "HCR01 A3 (not certified): HCR03 (the reason) is required")
    elif sid == "REF":
        if s.loop in ("EV", "SS") and v[1] not in ("BB", "NT"):
            s.bad(n, f"REF01 {v[1]!r} of an event or service is not BB or NT")
        if not v[2]:
            s.bad(n, "REF02 is missing")
    elif sid == "DTP":
        allowed = EVENT_DATES if s.loop == "EV" else SERVICE_DATES
        if v[1] not in allowed:
            s.bad(n, f"DTP01 {v[1]!r} has no place in {s.loop}")
        ok = (v[2] == "D8" and _date(v[3])) or (
            v[2] == "RD8"
            and len(v[3]) == 17
            and _date(v[3][:8])
            and v[3][8] == "-"
            and _date(v[3][9:])
            and v[3][:8] <= v[3][9:]
        )
        if not ok:
            s.bad(n, f"DTP {joined!r}: not a D8 date or an RD8 range")
    elif sid == "HSD":
        if v[1] and v[1] not in QUANTITIES:
            s.bad(n, f"HSD01 {v[1]!r} is not a quantity qualifier")
        if bool(v[1]) != bool(v[2]) or (v[2] and not NUMBER.match(v[2])):
            s.bad(n, f"HSD {joined!r}: HSD01 with a number in HSD02")
    elif sid == "HI":
        for i in range(1, 13):
            if v[i]:
                parts = v[i].split(component)
                if parts[0] not in DIAGNOSES or len(parts) < 2 or not parts[1]:
                    s.bad(n, f"HI{i:02d} {v[i]!r}: not a diagnosis")
    elif sid in ("SV1", "SV3"):
        parts = v[1].split(component)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            s.bad(n, f"{sid}01 {v[1]!r}: a code qualifier and a code")
    elif sid == "SV2":
        parts = v[2].split(component) if v[2] else []
        if not v[1] and (len(parts) < 2 or not parts[1]):
            s.bad(n, "SV2: a revenue code or a procedure")
    elif sid == "DMG" and (v[1] != "D8" or not _date(v[2])):
        s.bad(n, f"DMG {joined!r}: a D8 birth date")
