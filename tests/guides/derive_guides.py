"""Derive the packaged implementation-guide tables (``claims_engine/x12/guides/*.json``).

Dev-time only: reads pyx12's map files (pyx12 4.0.0, BSD-3-Clause, Copyright (c) John Holland)
and the hand-written sources beside this file; the engine only reads the JSON.

- ``837p.json``: pyx12 ``837.5010.X222.A1.xml`` plus :data:`OVERRIDES`.
- ``837i.json``: pyx12 ``837Q3.I.5010.X223.A1.xml`` (the map is of X223A2) plus :data:`OVERRIDES`.
- ``834.json``: pyx12 ``834.5010.X220.A1.xml``.
- ``837d.json``: pyx12 has no 5010 dental map. ``837d_source.yaml`` describes the X224A2 tree;
  its segments are either copied from a place of the 837P table (``from:``) or written out in
  the element shorthand below.
- ``276.json``: pyx12 has no 5010 276 map (``277.5010.X212.xml`` holds only the 277, and is
  broken, see ``tests/x12_maps.py``). ``276_source.yaml`` describes it in the shorthand.
- ``270.json``: pyx12 has no 5010 270 map (only the 4010 ``270.4010.X092.A1.xml``).
  ``270_source.yaml`` describes it in the shorthand.

Element shorthand of the sources: one string per element position, ``U``, ``U:C1,C2`` (allowed
codes), ``U:@name`` (pyx12 external code list) or ``U{c1;c2;...}`` for a composite whose
components use the same shorthand; ``U`` is R, S or N, ``U*99`` an element repeated up to 99
times, and ``U:=name`` takes the codes of the source's ``code_lists`` entry ``name``.
Positions left off the end are filled as N. Element numbers, names, types and lengths come
from the standard (the segment layouts of pyx12's maps and ``dataele.xml``), never from the
source.

Run ``python -m tests.guides.derive_guides`` to rewrite the JSON, ``--check`` to compare.
"""

from __future__ import annotations

import copy
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyx12
import yaml

Json = dict[str, Any]

PYX12_VERSION = "4.0.0"
MAP_DIR = Path(pyx12.__file__).resolve().parent / "map"
HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parent.parent / "claims_engine" / "x12" / "guides"
SOURCE = {
    "package": "pyx12",
    "version": PYX12_VERSION,
    "licence": "BSD-3-Clause",
    "copyright": "Copyright (c) John Holland <john@zoner.org>",
}

# Documented changes applied on top of the pyx12-derived tables. Each names the place by
# loop path (loop ids from the transaction set down, "/"-joined, every place of that loop id
# when the path is a bare loop id) and the segment by id and qualifier code.
OVERRIDES: dict[str, list[Json]] = {
    "837p": [
        {
            "id": "X222A2-ST03",
            "loop": "ST",
            "segment": "ST",
            "set": {"ST03": "R:005010X222A1,005010X222A2"},
            "reference": "005010X222A2 errata, ST03/GS08 version identifier",
            "comment": (
                "pyx12 lists no code for ST03. Accept the A2 errata's version code too; no "
                "structural change of A2 is applied (none could be verified, see README)."
            ),
        },
    ],
    "837i": [
        {
            "id": "X223A2-ST03",
            "loop": "ST",
            "segment": "ST",
            "set": {"ST03": "R:005010X223A2,005010X223A3"},
            "reference": "005010X223A2 ST03 (the HIPAA-adopted version); 005010X223A3 errata",
            "comment": (
                "The map (of X223A2) allows only 005010X223A2. Accept the A3 errata's version "
                "code too; no structural change of A3 is applied (none could be verified, see "
                "README)."
            ),
        },
    ],
}

GUIDES = {
    "837p": ("837.5010.X222.A1.xml", "005010X222A1"),
    "837i": ("837Q3.I.5010.X223.A1.xml", "005010X223A2"),
    "834": ("834.5010.X220.A1.xml", "005010X220A1"),
}
# Maps whose segment layouts (element numbers per position) make the standard dictionary.
DICTIONARY_MAPS = [
    "837.5010.X222.A1.xml",
    "837Q3.I.5010.X223.A1.xml",
    "277.5010.X212.xml",
    "277.5010.X214.xml",
    "835.5010.X221.A1.xml",
    "834.5010.X220.A1.xml",
    "837.4010.X097.A1.xml",
    "270.4010.X092.A1.xml",  # EQ and III (5010's EQ02 and EQ05 patched below)
]


# ---------------------------------------------------------------------------- pyx12 reading


def _text(node: ET.Element, tag: str) -> str | None:
    value = node.get(tag)
    if value is None:
        value = node.findtext(tag)
    return value.strip() if value is not None else None


def _count(value: str | None) -> int | None:
    """pyx12 repeat/max_use: ">1" is unbounded (None)."""
    if value is None:
        return 1
    return None if value.startswith(">") else int(value)


def load_dataele() -> dict[str, Json]:
    root = ET.parse(MAP_DIR / "dataele.xml").getroot()
    return {
        e.get("ele_num", ""): {
            "data_type": e.get("data_type"),
            "min_len": int(e.get("min_len", "0")),
            "max_len": int(e.get("max_len", "0")),
            "name": e.get("name"),
        }
        for e in root.iter("data_ele")
    }


class Deriver:
    def __init__(self) -> None:
        self.dataele = load_dataele()

    def element(self, node: ET.Element, ref: str) -> Json:
        ele = _text(node, "data_ele") or ""
        if node.tag == "composite":
            comps = [c for c in node if c.tag == "element"]
            out: Json = {
                "ref": ref,
                "data_ele": ele,
                "name": _text(node, "name"),
                "usage": _text(node, "usage"),
                "components": [
                    self.element(c, _text(c, "xid") or f"{ref}-{i:02d}")
                    for i, c in enumerate(comps, 1)
                ],
            }
        else:
            std = self.dataele[ele]
            out = {
                "ref": ref,
                "data_ele": ele,
                "name": _text(node, "name"),
                "usage": _text(node, "usage"),
                "data_type": std["data_type"],
                "min_len": std["min_len"],
                "max_len": std["max_len"],
            }
            codes = node.find("valid_codes")
            if codes is not None:
                if codes.get("external"):
                    out["external"] = codes.get("external")
                values = sorted({(c.text or "").strip() for c in codes.findall("code")})
                if values:
                    out["codes"] = values
            regex = node.findtext("regex")
            if regex:
                out["regex"] = regex
        repeat = _count(_text(node, "repeat"))
        if repeat != 1:
            out["repeat"] = repeat
        return out

    def segment(self, node: ET.Element) -> Json:
        sid = _text(node, "xid") or ""
        elements = []
        for child in node:
            if child.tag not in ("element", "composite"):
                continue
            seq = int(_text(child, "seq") or "0")
            elements.append(self.element(child, _text(child, "xid") or f"{sid}{seq:02d}"))
        seg: Json = {
            "segment": sid,
            "name": _text(node, "name"),
            "usage": _text(node, "usage"),
            "max_use": _count(_text(node, "max_use")),
            "pos": int(_text(node, "pos") or "0"),
            "syntax": [s.text.strip() for s in node.findall("syntax") if s.text],
            "elements": elements,
        }
        seg["qualifier"] = qualifier(seg)
        return seg

    def loop(self, node: ET.Element) -> Json:
        children: list[Json] = []
        for child in node:
            if child.tag == "segment":
                children.append(self.segment(child))
            elif child.tag == "loop":
                if child.get("type") == "wrapper":
                    children.extend(self.loop(child)["children"])
                else:
                    children.append(self.loop(child))
        return {
            "loop": _text(node, "xid"),
            "name": _text(node, "name"),
            "usage": _text(node, "usage"),
            "repeat": _count(_text(node, "repeat")),
            "pos": int(_text(node, "pos") or "0"),
            "children": children,
        }

    def transaction(self, map_file: str) -> Json:
        root = ET.parse(MAP_DIR / map_file).getroot()
        st = next(loop for loop in root.iter("loop") if loop.get("xid") == "ST_LOOP")
        tree = self.loop(st)
        tree["loop"] = "ST"
        return tree


def qualifier(seg: Json) -> Json | None:
    """The element that tells this segment from its siblings (pyx12's segment_if rule)."""
    elements = seg["elements"]
    if seg["segment"] == "HL" and len(elements) > 2 and elements[2].get("codes"):
        return {"ref": elements[2]["ref"], "codes": elements[2]["codes"]}
    if not elements:
        return None
    first = elements[0]
    if "components" in first:
        comp = first["components"][0] if first["components"] else None
        if comp and comp.get("data_type") == "ID" and comp.get("codes"):
            return {"ref": comp["ref"], "codes": comp["codes"]}
        return None
    if first.get("data_type") == "ID" and first.get("usage") == "R" and first.get("codes"):
        return {"ref": first["ref"], "codes": first["codes"]}
    return None


# ---------------------------------------------------------------------------- tree helpers


def walk(loop: Json, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Json]]:
    here = (*path, loop["loop"])
    yield here, loop
    for child in loop["children"]:
        if "loop" in child:
            yield from walk(child, here)


def find_loops(tree: Json, loop_path: str) -> list[Json]:
    parts = tuple(loop_path.split("/"))
    return [loop for path, loop in walk(tree) if path[-len(parts) :] == parts]


def find_segment(loop: Json, seg_id: str, code: str | None = None) -> Json:
    child: Json
    for child in loop["children"]:
        if child.get("segment") != seg_id:
            continue
        qual = child["qualifier"]
        if code is None or (qual is not None and code in qual["codes"]):
            return child
    raise KeyError(f"{loop['loop']}/{seg_id}*{code}")


def element_at(seg: Json, ref: str) -> Json:
    element: Json
    comp: Json
    for element in seg["elements"]:
        if element["ref"] == ref:
            return element
        for comp in element.get("components", []):
            if comp["ref"] == ref:
                return comp
    raise KeyError(ref)


def apply_spec(element: Json, spec: str) -> None:
    """Set usage, repeat and codes of one element from shorthand (``R:A,B`` / ``S:@ext`` /
    ``S*99:A,B`` / ``N``)."""
    usage, _, codes = spec.partition(":")
    usage, star, repeat = usage.partition("*")
    element["usage"] = usage
    element.pop("codes", None)
    element.pop("external", None)
    element.pop("repeat", None)
    if star:
        element["repeat"] = int(repeat)
    if codes.startswith("@"):
        element["external"] = codes[1:]
    elif codes:
        element["codes"] = sorted(c.strip() for c in codes.split(","))


def apply_overrides(tree: Json, overrides: list[Json]) -> None:
    for override in overrides:
        loops = find_loops(tree, override["loop"])
        if not loops:
            raise KeyError(override["id"])
        for loop in loops:
            if "loop_usage" in override:
                loop["usage"] = override["loop_usage"]
            if "segment" in override:
                seg = find_segment(loop, override["segment"], override.get("code"))
                for ref, spec in override.get("set", {}).items():
                    apply_spec(element_at(seg, ref), spec)
                seg["qualifier"] = qualifier(seg)


# ---------------------------------------------------------------------------- hand sources


class Dictionary:
    """Standard segment layouts: element number per position, composites' components."""

    def __init__(self, deriver: Deriver) -> None:
        self.deriver = deriver
        self.layout: dict[str, list[Json]] = {}
        self.syntax: dict[str, list[str]] = {}
        for map_file in DICTIONARY_MAPS:
            root = ET.parse(MAP_DIR / map_file).getroot()
            for node in root.iter("segment"):
                sid = _text(node, "xid") or ""
                layout = [
                    {
                        "data_ele": _text(c, "data_ele"),
                        "components": [_text(cc, "data_ele") for cc in c if cc.tag == "element"],
                    }
                    for c in node
                    if c.tag in ("element", "composite")
                ]
                if sid not in self.layout:
                    self.syntax[sid] = [s.text.strip() for s in node.findall("syntax") if s.text]
                    self.layout[sid] = layout
                    continue
                # A place that leaves a composite unused may list none of its components.
                known = self.layout[sid]
                for i, entry in enumerate(layout[: len(known)]):
                    if entry["components"] and not known[i]["components"]:
                        known[i] = entry
        # 5010 positions the dictionary maps lack (X12 005010 standard).
        self.layout["DN2"].append({"data_ele": "1270", "components": []})  # DN206
        self.layout["SV3"][0] = copy.deepcopy(self.layout["SV1"][0])  # SV301 C003, 8 parts
        self.layout["SV3"][10] = {"data_ele": "C004", "components": ["1328"] * 4}  # SV311
        self.layout["EQ"][1] = copy.deepcopy(self.layout["SV1"][0])  # EQ02 C003, 8 parts
        self.layout["EQ"].append({"data_ele": "C004", "components": ["1328"] * 4})  # EQ05

    def element(self, sid: str, pos: int, spec: str) -> Json:
        std = self.layout[sid][pos - 1]
        ref = f"{sid}{pos:02d}"
        usage, brace, rest = spec.partition("{")
        if std["components"] or std["data_ele"].startswith("C"):
            comp_specs = rest.rstrip("}").split(";") if brace else []
            comps = []
            for i, ele in enumerate(std["components"], 1):
                cspec = comp_specs[i - 1] if i <= len(comp_specs) else "N"
                comps.append(self._simple(ele, f"{ref}-{i:02d}", cspec))
            return {
                "ref": ref,
                "data_ele": std["data_ele"],
                "name": self.deriver.dataele.get(std["data_ele"], {}).get("name")
                or _composite_name(std["data_ele"]),
                "usage": usage[0],
                "components": comps,
            }
        return self._simple(std["data_ele"], ref, spec)

    def _simple(self, ele: str, ref: str, spec: str) -> Json:
        std = self.deriver.dataele[ele]
        out: Json = {
            "ref": ref,
            "data_ele": ele,
            "name": std["name"],
            "usage": "N",
            "data_type": std["data_type"],
            "min_len": std["min_len"],
            "max_len": std["max_len"],
        }
        apply_spec(out, spec)
        return out

    def segment(self, spec: Json) -> Json:
        sid = spec["seg"]
        specs = list(spec.get("elements", []))
        specs += ["N"] * (len(self.layout[sid]) - len(specs))
        seg: Json = {
            "segment": sid,
            "name": spec["name"],
            "usage": spec["usage"],
            "max_use": spec.get("max_use", 1),
            "pos": spec["pos"],
            "syntax": list(spec.get("syntax", self.syntax.get(sid, []))),
            "elements": [self.element(sid, i, s) for i, s in enumerate(specs, 1)],
        }
        seg["qualifier"] = qualifier(seg)
        return seg


_COMPOSITES = {
    "C003": "Composite Medical Procedure Identifier",
    "C004": "Composite Diagnosis Code Pointer",
    "C005": "Tooth Surface",
    "C006": "Oral Cavity Designation",
}


def _composite_name(ele: str) -> str:
    return _COMPOSITES.get(ele, ele)


def build_from_source(source: Json, dictionary: Dictionary, base: Json | None) -> Json:
    code_lists: dict[str, str] = source.get("code_lists", {})

    def named(espec: str) -> str:
        """``U:=name`` with the codes of ``code_lists[name]``."""
        head, sep, name = espec.partition(":=")
        return f"{head}:{code_lists[name]}" if sep else espec

    def seg_of(spec: Json) -> Json:
        if "from" in spec:
            assert base is not None
            loop_path, _, seg_ref = spec["from"].rpartition("/")
            sid, _, code = seg_ref.partition("*")
            seg = copy.deepcopy(find_segment(find_loops(base, loop_path)[0], sid, code or None))
            for key in ("name", "usage", "max_use", "pos"):
                if key in spec:
                    seg[key] = spec[key]
            for ref, espec in spec.get("set", {}).items():
                apply_spec(element_at(seg, ref), espec)
            seg["qualifier"] = qualifier(seg)
            return seg
        if "elements" in spec:
            spec = {**spec, "elements": [named(e) for e in spec["elements"]]}
        return dictionary.segment(spec)

    def flat(specs: list[Any]) -> Iterator[Json]:
        for spec in specs:  # a YAML alias may bring a list of shared segments
            if isinstance(spec, list):
                yield from flat(spec)
            else:
                yield spec

    def loop_of(spec: Json) -> Json:
        children = [loop_of(c) if "loop" in c else seg_of(c) for c in flat(spec["children"])]
        return {
            "loop": spec["loop"],
            "name": spec["name"],
            "usage": spec["usage"],
            "repeat": spec.get("repeat", 1),
            "pos": spec.get("pos", 0),
            "children": children,
        }

    return loop_of(source["tree"])


# ---------------------------------------------------------------------------- output


def hl_levels(tree: Json) -> dict[str, str]:
    levels: dict[str, str] = {}
    for _, loop in walk(tree):
        first = loop["children"][0] if loop["children"] else None
        if first is not None and first.get("segment") == "HL" and first["qualifier"]:
            for code in first["qualifier"]["codes"]:
                levels[code] = loop["loop"]
    return dict(sorted(levels.items()))


def stats(tree: Json) -> Json:
    loops = segments = elements = codes = 0
    for _, loop in walk(tree):
        loops += 1
        for child in loop["children"]:
            if "segment" not in child:
                continue
            segments += 1
            for element in child["elements"]:
                for e in element.get("components", [element]):
                    elements += 1
                    codes += len(e.get("codes", []))
    return {"loops": loops, "segments": segments, "elements": elements, "codes": codes}


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _emit_loop(loop: Json, depth: int, lines: list[str], last: bool) -> None:
    pad = " " * depth
    head = {k: loop[k] for k in ("loop", "name", "usage", "repeat", "pos")}
    lines.append(pad + _dump(head)[:-1] + ',"children":[')
    n = len(loop["children"])
    for i, child in enumerate(loop["children"]):
        if "loop" in child:
            _emit_loop(child, depth + 1, lines, i == n - 1)
        else:
            lines.append(pad + " " + _dump(child) + ("" if i == n - 1 else ","))
    lines.append(pad + "]}" + ("" if last else ","))


def render(table: Json) -> str:
    head = {k: v for k, v in table.items() if k != "tree"}
    lines = ["{"]
    for key in sorted(head):
        lines.append(f"{_dump(key)}:{_dump(head[key])},")
    lines.append('"tree":')
    _emit_loop(table["tree"], 0, lines, True)
    lines.append("}")
    return "\n".join(lines) + "\n"


def table(
    name: str, tree: Json, guide: str, title: str, source: Json, overrides: list[Json]
) -> Json:
    return {
        "transaction_set": tree["children"][0]["elements"][0]["codes"][0],
        "name": title,
        "guide": guide,
        "source": source,
        "overrides": overrides,
        "hl_levels": hl_levels(tree),
        "stats": stats(tree),
        "tree": tree,
    }


def derive_all() -> dict[str, str]:
    deriver = Deriver()
    out: dict[str, str] = {}
    trees: dict[str, Json] = {}
    for name, (map_file, guide) in GUIDES.items():
        tree = deriver.transaction(map_file)
        overrides = OVERRIDES.get(name, [])
        apply_overrides(tree, overrides)
        trees[name] = tree
        title = ET.parse(MAP_DIR / map_file).getroot().findtext("name") or ""
        src: Json = {"file": map_file, **SOURCE}
        out[name] = render(table(name, tree, guide, title.strip(), src, overrides))
    dictionary = Dictionary(deriver)
    for name, base in (("837d", trees["837p"]), ("276", None), ("270", None)):
        source_file = HERE / f"{name}_source.yaml"
        source = yaml.safe_load(source_file.read_text(encoding="utf-8"))
        tree = build_from_source(source, dictionary, base)
        src = {
            "file": f"tests/guides/{source_file.name}",
            "basis": source["basis"],
            "layouts_from": {"file": "dataele.xml and segment layouts of pyx12 maps", **SOURCE},
        }
        out[name] = render(
            table(name, tree, source["guide"], source["name"], src, source.get("overrides", []))
        )
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in derive_all().items():
        path = OUT_DIR / f"{name}.json"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"{path.name}: {len(text.encode())} bytes")
    if stale:
        print("out of date: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
