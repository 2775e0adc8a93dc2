"""Interchanges under given sender ids, for the tests of who may send under which: a
one-interchange 837 (``*`` and ``~`` delimited, as the valid samples are) sent again with
another ISA13, ISA06, GS02 or billing provider."""

from __future__ import annotations


def resent(
    text: str,
    *,
    control: int,
    sender: str | None = None,
    group_sender: str | None = None,
    billing_npi: str | None = None,
) -> str:
    """``text`` with ISA13 and IEA02 ``control``; ISA06 ``sender`` (padded to 15) and GS02
    ``group_sender`` (``sender`` when not given) when given; and every billing provider's
    NPI (NM1*85) ``billing_npi`` when given."""
    segments = []
    for segment in text.split("~"):
        lead = segment[: len(segment) - len(segment.lstrip("\r\n"))]
        elements = segment.lstrip("\r\n").split("*")
        tag = elements[0]
        if tag == "ISA":
            elements[13] = f"{control:09d}"
            if sender is not None:
                elements[6] = sender.ljust(15)
        elif tag == "GS" and (group_sender or sender) is not None:
            elements[2] = group_sender or sender or ""
        elif tag == "IEA":
            elements[2] = f"{control:09d}"
        elif tag == "NM1" and elements[1] == "85" and billing_npi is not None:
            elements[9] = billing_npi
        segments.append(lead + "*".join(elements))
    return "~".join(segments)
