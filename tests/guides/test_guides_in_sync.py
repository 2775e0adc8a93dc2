"""The packaged guide tables match their sources, and place every segment of the guides' examples.

The walker here is the test's own (not the engine's): a segment goes to the first place, at
or after the current one in its loop, whose id and qualifier match it; a loop is entered by
its first segment; siblings that share a position may come in any order; a segment that fits
nowhere in the current loop closes it and is tried in the parent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.guides import derive_guides

Json = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "x12"
NAMES = ["837p", "837i", "837d", "276", "834", "270"]
GLOBS = {
    "837p": ["837p/*.edi", "valid/*.edi", "lengths/837p-*.edi"],
    "837i": ["837i/*.edi", "lengths/837i-*.edi"],
    "837d": ["837d/*.edi", "lengths/837d-*.edi"],
    "276": ["276/*.x12"],
    "834": ["834/*.x12"],
    "270": ["270/*.x12"],
}
# loops, segment places, element places (components counted), listed codes
EXPECTED_STATS = {
    "837p": {"loops": 66, "segments": 381, "elements": 2862, "codes": 1940},
    "837i": {"loops": 60, "segments": 273, "elements": 3552, "codes": 1716},
    "837d": {"loops": 54, "segments": 248, "elements": 1827, "codes": 1248},
    "276": {"loops": 15, "segments": 41, "elements": 329, "codes": 90},
    "834": {"loops": 22, "segments": 76, "elements": 468, "codes": 784},
    "270": {"loops": 11, "segments": 43, "elements": 516, "codes": 627},
}


def _packaged(name: str) -> str:
    # by path: the sync and walker tests need no import of the engine
    return (derive_guides.OUT_DIR / f"{name}.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def derived() -> dict[str, str]:
    return derive_guides.derive_all()


@pytest.mark.parametrize("name", NAMES)
def test_packaged_json_is_derived(derived: dict[str, str], name: str) -> None:
    assert _packaged(name) == derived[name], f"run python -m tests.guides.derive_guides ({name})"


@pytest.mark.parametrize("name", NAMES)
def test_counts(name: str) -> None:
    table = json.loads(_packaged(name))
    assert table["stats"] == EXPECTED_STATS[name]
    assert derive_guides.stats(table["tree"]) == EXPECTED_STATS[name]


def test_load_guide_reads_the_packaged_table() -> None:
    from claims_engine.x12.guides import GUIDE_NAMES, load_guide

    assert tuple(NAMES) == GUIDE_NAMES
    for name in NAMES:
        assert load_guide(name) == json.loads(_packaged(name))
    with pytest.raises(KeyError):
        load_guide("835")


def test_header_and_hl_levels() -> None:
    p = json.loads(_packaged("837p"))
    assert p["guide"] == "005010X222A1"
    assert p["transaction_set"] == "837"
    assert p["source"]["licence"] == "BSD-3-Clause"
    assert p["hl_levels"] == {"20": "2000A", "22": "2000B", "23": "2000C"}
    assert json.loads(_packaged("837d"))["hl_levels"] == p["hl_levels"]
    assert json.loads(_packaged("276"))["hl_levels"] == {
        "19": "2000C",
        "20": "2000A",
        "21": "2000B",
        "22": "2000D",
        "23": "2000E",
    }
    assert json.loads(_packaged("270"))["hl_levels"] == {
        "20": "2000A",
        "21": "2000B",
        "22": "2000C",
        "23": "2000D",
    }
    for name in NAMES:
        table = json.loads(_packaged(name))
        for override in table["overrides"]:
            assert override["comment"] and override["reference"]


# ------------------------------------------------------------------------------- the walker


def _segments(text: str) -> list[list[str]]:
    text = text.lstrip()
    element, component, terminator = text[3], text[104], text[105]
    out = []
    for raw in text.split(terminator):
        raw = raw.strip("\r\n ")
        if raw:
            out.append([e.split(component) if i else [e] for i, e in enumerate(raw.split(element))])
    return [[":".join(parts) for parts in seg] for seg in out]


def _value(seg: list[str], ref: str) -> str:
    base, _, comp = ref.partition("-")
    index = int(base[-2:])
    if index >= len(seg):
        return ""
    value = seg[index]
    if comp:
        parts = value.split(":")
        n = int(comp)
        return parts[n - 1] if n <= len(parts) else ""
    return value.split(":")[0] if ":" in value and not comp else value


def _matches(place: Json, seg: list[str]) -> bool:
    if "loop" in place:
        return _matches(place["children"][0], seg)
    if place["segment"] != seg[0]:
        return False
    qual = place["qualifier"]
    return qual is None or _value(seg, qual["ref"]) in qual["codes"]


def _groups(loop: Json) -> list[int]:
    """Group number per child: adjacent siblings of one position share a group."""
    groups: list[int] = []
    for i, child in enumerate(loop["children"]):
        same = i and child["pos"] == loop["children"][i - 1]["pos"]
        groups.append(groups[-1] if same else i)
    return groups


def place_all(tree: Json, segments: list[list[str]]) -> list[str]:
    """Loop path of each segment from ST to SE; raises AssertionError on one that fits nowhere."""
    stack: list[list[Any]] = [[tree, 0]]  # [loop, current group]
    paths = []
    assert _matches(tree["children"][0], segments[0])
    for seg in segments[1:]:
        for depth in range(len(stack) - 1, -1, -1):
            loop, current = stack[depth]
            groups = _groups(loop)
            found = None
            for i, child in enumerate(loop["children"]):
                if i == 0 or groups[i] < current:  # the loop's first segment opens a new one
                    continue
                if _matches(child, seg):
                    found = (i, child)
                    break
            if found is not None:
                i, child = found
                del stack[depth + 1 :]
                stack[depth][1] = groups[i]
                if "loop" in child:
                    stack.append([child, 0])
                paths.append("/".join(str(s[0]["loop"]) for s in stack))
                break
        else:
            raise AssertionError(f"no place for {'*'.join(seg)} after {paths[-1:]}")
    return paths


def _transactions(path: Path) -> list[list[list[str]]]:
    out: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for seg in _segments(path.read_text(encoding="utf-8")):
        if seg[0] == "ST":
            current = [seg]
        elif current is not None:
            current.append(seg)
            if seg[0] == "SE":
                out.append(current)
                current = None
    return out


def _files(name: str) -> list[Path]:
    return sorted(p for pattern in GLOBS[name] for p in FIXTURES.glob(pattern))


@pytest.mark.parametrize("name", NAMES)
def test_every_example_segment_has_a_place(name: str) -> None:
    tree = json.loads(_packaged(name))["tree"]
    files = _files(name)
    assert files
    placed = 0
    for path in files:
        transactions = _transactions(path)
        assert transactions, path.name
        for segments in transactions:
            try:
                paths = place_all(tree, segments)
            except AssertionError as exc:
                raise AssertionError(f"{path.name}: {exc}") from None
            assert paths[-1] == "ST"  # SE closes the transaction set
            placed += len(paths)
    assert placed > 0


def test_walker_rejects_what_has_no_place() -> None:
    tree = json.loads(_packaged("837d"))["tree"]
    segments = _transactions(FIXTURES / "837d" / "multiple-tooth-numbers.edi")[0]
    sv1 = ["SV1", "HC:99213", "40"]
    at = next(i for i, s in enumerate(segments) if s[0] == "SV3")
    with pytest.raises(AssertionError, match="no place for SV1"):
        place_all(tree, [*segments[:at], sv1, *segments[at + 1 :]])
    # a dental tooth segment has no place in the professional claim
    ptree = json.loads(_packaged("837p"))["tree"]
    with pytest.raises(AssertionError, match="no place for SV3"):
        place_all(ptree, segments)
