"""A pyx12 map folder that knows the 277 claim status response (005010X212).

pyx12 4.0.0 ships ``277.5010.X212.xml`` but leaves it out of ``maps.xml``, and the map as
shipped rejects the implementation guide's own examples: its GS01 and GS08 codes were copied
from the 820 map (``RA``, ``005010X218``), the information receiver loop sits at the position
of the HL that opens it, the service provider, subscriber and dependent loops hang beside the
information source instead of under their parents, and SE is outside the transaction set.
(imsweb/x12-parser, whose map came from the same source, fixed the same faults in its PR 52
and issue 54.)

:func:`x212_map_folder` builds a folder of links to every pyx12 map, a ``maps.xml`` that lists
the 277 X212 map, and a copy of that map with only those faults mended: the segments and
elements, their usages, code lists and repeats are pyx12's own. The corpus examples of the
guide validate with zero errors under it and a broken 277 does not (see the unit tests), so
the oracle can still fail.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pyx12

PYX12_MAPS = Path(pyx12.__file__).resolve().parent / "map"
X212_MAP = "277.5010.X212.xml"
X212_ENTRY = '<map vriic="005010X212" fic="HN" abbr="277X212">' + X212_MAP + "</map>"
# Each HL loop opens under the loop of its parent level, after the parent's own loops.
_PARENT = {"2000B": "2000A", "2000C": "2000B", "2000D": "2000C", "2000E": "2000D"}
_CHILD_POSITION = "2000"


def _loops(node: ET.Element) -> dict[str, ET.Element]:
    return {loop.get("xid", ""): loop for loop in node.iter("loop")}


def _set_codes(segment: ET.Element, element_id: str, *values: str) -> None:
    element = segment.find(f"element[@xid='{element_id}']")
    assert element is not None, element_id
    codes = element.find("valid_codes")
    assert codes is not None, element_id
    for code in list(codes):
        codes.remove(code)
    for value in values:
        ET.SubElement(codes, "code").text = value


def mended_x212_map() -> bytes:
    """pyx12's 277 X212 map with its envelope codes and loop nesting set right."""
    tree = ET.parse(PYX12_MAPS / X212_MAP)
    root = tree.getroot()
    loops = _loops(root)
    gs_loop, st_loop, detail = loops["GS_LOOP"], loops["ST_LOOP"], loops["DETAIL"]
    gs = gs_loop.find("segment[@xid='GS']")
    assert gs is not None
    _set_codes(gs, "GS01", "HN")
    _set_codes(gs, "GS08", "005010X212")

    # Take the HL loops out of wherever they are and hang each under its parent level.
    parents = {child: parent for parent in root.iter() for child in parent}
    levels = {xid: loops[xid] for xid in ("2000A", *_PARENT)}
    for loop in levels.values():
        parents[loop].remove(loop)
    for xid, parent in _PARENT.items():
        loop = levels[xid]
        position = loop.find("pos")
        assert position is not None
        position.text = _CHILD_POSITION
        levels[parent].append(loop)
    for wrapper in [w for w in detail if w.tag == "loop"]:
        detail.remove(wrapper)  # the empty Table2 area wrappers
    detail.append(levels["2000A"])

    # SE (and the unused footer) belong to the transaction set, not to the group.
    area3 = loops["TABLE2AREA3"]
    gs_loop.remove(area3)
    se = area3.find("segment[@xid='SE']")
    assert se is not None
    st_loop.append(se)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def x212_map_folder(folder: Path) -> Path:
    """Fill ``folder`` with the pyx12 maps plus the mended 277 X212 map; returns it, to pass
    as ``map_path`` to :func:`tests.x12_oracle.pyx12_errors`."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in PYX12_MAPS.iterdir():
        if source.is_file() and source.name not in ("maps.xml", X212_MAP):
            target = folder / source.name
            if not target.exists():
                target.symlink_to(source)
    (folder / X212_MAP).write_bytes(mended_x212_map())
    index = (PYX12_MAPS / "maps.xml").read_text(encoding="utf-8")
    anchor = '<map vriic="005010X214"'
    assert anchor in index
    index = index.replace(anchor, X212_ENTRY + "\n    " + anchor, 1)
    (folder / "maps.xml").write_text(index, encoding="utf-8")
    return folder
