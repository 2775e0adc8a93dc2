"""An independent check of a 278 inquiry's response (005010X215): no library at hand knows it.

The X215 guide ("Health Care Services Review - Inquiry and Response") answers an inquiry about
an earlier request with the HL tree of the X217 response (2000A UMO, 2000B requester, 2000C
subscriber, 2000D dependent, 2000E patient event, 2000F service) under GS08 and ST03
``005010X215``, BHT ``0007*11``. So :func:`x215_errors` is :func:`tests.x217_oracle.x217_errors`
read under that guide (every check it makes of the envelope, the HL tree, each loop's segments
in order and their values; UM02 may be left out, as an inquiry may leave it out), and what an
inquiry's answer must hold besides: each patient event is answered, with an HCR (where the
request stands) or with an AAA in its loop or a loop above it (it cannot be answered), never
both. Written for the tests from the guide's layout, it shares no code with the engine.

Of this, public descriptions of the guide confirm only the group HI, ST03 ``005010X215``, ST and
BHT heading the set and the 2000A UMO level (with its optional AAA in the response); BHT02
``11``, the HCR-or-AAA rule (X12's RFI 941, for X217) and the loops below 2000A are the X217
response's, assumed for X215 (docs/prior-auth.md, "What is confirmed").
"""

from __future__ import annotations

from tests.x217_oracle import x217_errors

VERSION = "005010X215"


def x215_errors(text: str) -> list[str]:
    """Every problem found in the 278 inquiry response ``text``; an empty list is valid."""
    errors = x217_errors(text, version=VERSION)
    text = text.lstrip()
    if not text.startswith("ISA") or len(text) < 106:
        return errors
    element, terminator = text[3], text[105]
    segments = [s.strip("\r\n").split(element) for s in text.split(terminator)]
    segments = [s for s in segments if s and s[0]]
    parents: dict[str, str] = {}  # HL01 -> HL02
    rejected: set[str] = set()  # HLs with an AAA
    answered: dict[str, int] = {}  # EV HL01 -> the segment of its HL
    hcr: set[str] = set()
    current = ""
    for n, seg in enumerate(segments, start=1):
        sid = seg[0]
        if sid == "ST":
            parents, rejected, answered, hcr, current = {}, set(), {}, set(), ""
        elif sid == "HL" and len(seg) > 3:
            current = seg[1]
            parents[current] = seg[2]
            if seg[3] == "EV":
                answered[current] = n
        elif sid == "AAA" and current:
            rejected.add(current)
        elif sid == "HCR" and current:
            hcr.add(current)
        elif sid == "SE":
            for ev, at in answered.items():
                chain, hl = set(), ev
                while hl and hl not in chain:
                    chain.add(hl)
                    hl = parents.get(hl, "")
                refused = bool(chain & rejected)
                if ev in hcr and refused:
                    errors.append(f"segment {at}: the event has both an HCR and an AAA")
                elif ev not in hcr and not refused:
                    errors.append(f"segment {at}: the event is answered by no HCR and no AAA")
    return errors
