"""Writing segments: one writer for every X12 document the engine produces.

:class:`SegmentWriter` joins elements with the interchange's delimiters, drops trailing empty
elements, ends each segment with the terminator and a line feed (unless the terminator is a
line break itself) and counts what it wrote. :class:`CheckedSegmentWriter` adds the check that
documents built from stored data need: X12 has no escape character, so a value holding a
delimiter, or a character outside the X12 character sets, cannot be written and is refused with
a :class:`ValueError` naming where it was (``context``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import TextIO

from claims_engine.x12.tokenizer import Delimiters


class Composite(tuple[str, ...]):
    """An element made of components; written joined by the component separator."""

    __slots__ = ()


class SegmentWriter:
    """Writes segments with one set of delimiters and counts them."""

    def __init__(self, out: TextIO, delimiters: Delimiters) -> None:
        self.out = out
        self.d = delimiters
        self.count = 0
        term = delimiters.segment
        self.end = term if term in "\r\n" else term + "\n"

    def seg(self, *elements: str) -> None:
        parts = list(elements)
        while parts and parts[-1] == "":
            parts.pop()
        self.out.write(self.d.element.join(parts) + self.end)
        self.count += 1

    def comp(self, *parts: str) -> str:
        values = list(parts)
        while values and values[-1] == "":
            values.pop()
        return self.d.component.join(values)


class CheckedSegmentWriter(SegmentWriter):
    """A :class:`SegmentWriter` that refuses values X12 cannot carry; ``total`` counts every
    segment written, ``count`` those since it was last reset (for SE01)."""

    def __init__(self, out: TextIO, delimiters: Delimiters) -> None:
        super().__init__(out, delimiters)
        chars = {delimiters.element, delimiters.component, delimiters.segment}
        if delimiters.repetition:
            chars.add(delimiters.repetition)
        self.forbidden = re.compile("[" + re.escape("".join(sorted(chars))) + "]|[^\\x20-\\x7e]")
        self.context = ""
        self.total = 0

    def value(self, value: str) -> str:
        if self.forbidden.search(value):
            raise ValueError(
                f"{self.context}: {value!r} holds an X12 delimiter or a character outside the "
                "X12 character sets"
            )
        return value

    def put(self, *elements: str | Composite) -> None:
        parts = [p for el in elements for p in (el if isinstance(el, Composite) else (el,))]
        # one search over all the segment's values (the class is of single characters, so the
        # joined text holds one exactly when a value does); the value at fault is named after
        if self.forbidden.search("".join(parts)):
            for part in parts:
                self.value(part)
        self.seg(*(self.comp(*el) if isinstance(el, Composite) else el for el in elements))
        self.total += 1

    def raw(self, text: str) -> None:
        """A segment written as is (the ISA, whose ISA16 is the component separator)."""
        self.out.write(text + self.end)
        self.total += 1


def d8(day: date) -> str:
    """A date as X12 writes it: CCYYMMDD."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def period(start: date, end: date | None) -> tuple[str, str]:
    """DTP02 and DTP03 for a period: D8 for one day, RD8 for a range."""
    if end is None or end == start:
        return "D8", d8(start)
    return "RD8", f"{d8(start)}-{d8(end)}"
