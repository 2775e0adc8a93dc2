"""Problems found in claim data: values with stable codes, never exceptions.

An :class:`Issue` says what is wrong (a stable ``code`` and a message), how bad it is
(:class:`Severity` and the SNIP ``level`` of the check that found it), where it is
(:class:`Location`: segment position, loop, element) and how the acknowledgments report it:
``syntax`` for a 999 IK3/IK4 (segment and element syntax error codes) and ``status`` for a
277CA STC (claim status category, status code, entity; a second and third status go to STC10
and STC11 when the first needs company, as 510 "future date" needs 187 "dates of service"),
and ``ack_code`` for the code of a whole envelope (TA105 for an interchange, AK905 for a group,
IK502 for a transaction set).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from claims_engine.domain.frozen import finish_dataclasses


class Scope(IntEnum):
    """What an issue condemns when it is an error."""

    INTERCHANGE = 1  # TA1 rejects the interchange
    GROUP = 2  # 999 AK9 rejects the functional group
    TRANSACTION = 3  # 999 IK5 rejects the transaction set
    CLAIM = 4  # 277CA rejects the claim alone


# A value quoted in a message, as ``repr`` quotes it: the quotes stand apart from words, so
# the apostrophe of "patient's" opens nothing.
_QUOTED = re.compile(r"(?<!\w)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")(?!\w)")


@dataclass(frozen=True, slots=True, init=False)
class Location:
    """Where an issue sits in the input.

    ``position`` counts segments from ST (ST is 1) as the 999 does; ``element`` and
    ``component`` are 1-based; ``element_ref`` is the data element dictionary number.
    """

    segment_id: str
    position: int
    loop: str = ""
    element: int = 0
    component: int = 0
    element_ref: str = ""
    value: str = ""

    def __init__(
        self,
        segment_id: str,
        position: int,
        loop: str = "",
        element: int = 0,
        component: int = 0,
        element_ref: str = "",
        value: str = "",
    ) -> None:
        self.segment_id = segment_id  # type: ignore[misc]
        self.position = position  # type: ignore[misc]
        self.loop = loop  # type: ignore[misc]
        self.element = element  # type: ignore[misc]
        self.component = component  # type: ignore[misc]
        self.element_ref = element_ref  # type: ignore[misc]
        self.value = value  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.segment_id,
                self.position,
                self.loop,
                self.element,
                self.component,
                self.element_ref,
                self.value,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
class ClaimStatus:
    """A 277CA STC composite: category (A3, A6, A7, A8 ...), status code, entity code."""

    category: str
    code: str
    entity: str = ""

    def __init__(self, category: str, code: str, entity: str = "") -> None:
        self.category = category  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.entity = entity  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.category, self.code, self.entity))


@dataclass(frozen=True, slots=True, init=False)
class Syntax:
    """How a 999 reports the issue: IK304 segment error and IK403 element error codes."""

    segment_error: str
    element_error: str = ""

    def __init__(self, segment_error: str, element_error: str = "") -> None:
        self.segment_error = segment_error  # type: ignore[misc]
        self.element_error = element_error  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.segment_error, self.element_error))


@dataclass(frozen=True, slots=True, init=False)
class Issue:
    code: str
    message: str
    level: int
    scope: Scope
    location: Location | None = None
    status: tuple[ClaimStatus, ...] = ()
    syntax: Syntax | None = None
    ack_code: str = ""

    def __init__(
        self,
        code: str,
        message: str,
        level: int,
        scope: Scope,
        location: Location | None = None,
        status: tuple[ClaimStatus, ...] = (),
        syntax: Syntax | None = None,
        ack_code: str = "",
    ) -> None:
        self.code = code  # type: ignore[misc]
        self.message = message  # type: ignore[misc]
        self.level = level  # type: ignore[misc]
        self.scope = scope  # type: ignore[misc]
        self.location = location  # type: ignore[misc]
        self.status = status  # type: ignore[misc]
        self.syntax = syntax  # type: ignore[misc]
        self.ack_code = ack_code  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.code,
                self.message,
                self.level,
                self.scope,
                self.location,
                self.status,
                self.syntax,
                self.ack_code,
            ),
        )

    def describe(self, *, values: bool = True) -> str:
        """One line for a person: code, message and where. Without ``values``, the values the
        message quotes from the input are left out (``'…'``): what is kept in the store, where
        a birth date or ZIP code that failed an edit would otherwise sit in the clear."""
        where = ""
        if self.location is not None:
            loc = self.location
            where = f" at segment {loc.position} ({loc.segment_id}"
            if loc.element:
                where += f"{loc.element:02d}"
                if loc.component:
                    where += f"-{loc.component}"
            if loc.loop:
                where += f", loop {loc.loop}"
            where += ")"
        message = self.message if values else _QUOTED.sub("'…'", self.message)
        return f"{self.code}: {message}{where}"


finish_dataclasses(globals())
