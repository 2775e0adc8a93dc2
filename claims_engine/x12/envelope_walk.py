"""The envelope of an inquiry-sized interchange, read whole: ISA, GS/GE, ST/SE, IEA.

The readers of requests that are answered at once (276 claim status, 270 eligibility, 834
enrollment) check the envelope as the 837 intake does (the ISA through
:func:`~claims_engine.x12.envelope.check_isa`, then GS, ST/SE, GE and IEA with the same TA1
notes and 999 codes) and read each transaction set's body with a reader of their own.
:class:`EnvelopeWalk` is that walk: fed every segment of one interchange, it hands a
transaction set's segments (ST to SE) to the :class:`Body` its ``make_body`` makes, and its
:meth:`~EnvelopeWalk.result` is the interchange with the bodies read, or an
:class:`Unreadable` saying what is wrong and where, with what a TA1 (a broken interchange) or a
999 (a broken functional group or transaction set) answering it needs: the problems are
values, not exceptions. :class:`EnvelopeSpec` says what the reader accepts (GS01, ST01, the
implementation guides of ST03/GS08).

Pure: no clock, no I/O beyond the bytes given.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, Protocol, TypeVar

from claims_engine.domain.errors import InputFileError, X12FormatError
from claims_engine.domain.issues import Issue, Location, Scope, Syntax
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    ENVELOPE_SEGMENTS,
    MAX_REPORTED_ISSUES,
    GroupEnd,
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
    TransactionHeader,
    check_isa,
    envelope_code,
    transaction_issue,
)
from claims_engine.x12.reader837 import parse_date8
from claims_engine.x12.tokenizer import SegmentReader, parse_isa_delimiters

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_PAD = ("",) * 16


class HierarchyLevel(Protocol):
    """An HL a set reader keeps: its level (HL03) and how many HLs name it as their parent."""

    level: str
    children: int


@dataclass(frozen=True, slots=True)
class EnvelopeSpec:
    """What a reader accepts: GS01, ST01 and the implementation guides of GS08 and ST03 (the
    first is the one named in messages); ``what`` names the transaction for a person."""

    functional_id: str
    transaction_set: str
    implementations: tuple[str, ...]
    what: str

    @property
    def implementation(self) -> str:
        return self.implementations[0]


class Body(Protocol[T_co]):
    """The reader of one transaction set's segments, ST to SE."""

    def feed(self, seg: list[str], bad: bool) -> None: ...

    def envelope(self, code: str, message: str, skip: bool = False) -> None:
        """A problem of the whole set found by the envelope (IK5 ``code``); ``skip``: read
        none of it."""
        ...

    def finish(self) -> tuple[TransactionEnd, T_co | None]: ...


BodyMaker = Callable[[TransactionHeader, GroupHeader, str, str], Body[T]]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Why a 276 cannot be answered, and what its acknowledgment needs.

    ``scope`` is ``None`` when the input is not X12 at all (nothing can acknowledge it),
    :attr:`Scope.INTERCHANGE` when the interchange is rejected (a TA1 with ``issue``'s note),
    :attr:`Scope.GROUP` or :attr:`Scope.TRANSACTION` when a functional group or transaction set
    is (a 999 of ``groups``). ``reason`` is one line saying what and where.
    """

    scope: Scope | None
    reason: str
    interchange: InterchangeHeader | None = None
    issue: Issue | None = None
    groups: tuple[tuple[GroupEnd, tuple[TransactionEnd, ...]], ...] = ()


S = TypeVar("S")


def read_interchange(
    data: bytes,
    spec: EnvelopeSpec,
    make_body: BodyMaker[T],
    *,
    stop: Callable[[list[str], int], S | None] | None = None,
    one: str = "request",
) -> tuple[InterchangeHeader, tuple[T, ...]] | Unreadable | S:
    """Read one interchange whole: its header and the transaction sets ``make_body`` read, or
    an :class:`Unreadable`. ``stop`` sees each segment with its place and may end the reading
    with what it returns (a limit passed, say); ``one`` names what the input is in messages."""
    reader = SegmentReader(io.BytesIO(data))
    walk = EnvelopeWalk(spec, make_body)
    try:
        for seg, bad in segments(reader):
            if seg[0] == "ISA" and walk.header is not None:
                return Unreadable(
                    None,
                    f"a second interchange starts at segment {walk.count + 1}: "
                    f"send one interchange per {one}",
                )
            if stop is not None:
                stopped = stop(seg, walk.count + 1)
                if stopped is not None:
                    return stopped
            walk.feed(seg, bad, reader)
    except X12FormatError as exc:
        if walk.header is None:
            return Unreadable(None, f"not an X12 interchange: {exc}")
        return Unreadable(None, f"after the interchange's IEA: {exc}")
    if walk.header is None:
        return Unreadable(None, f"not an X12 interchange: the {one} is empty")
    return walk.result()


def read_header(raw: bytes, file_name: str) -> InterchangeHeader:
    """The first interchange header of ``raw``; a file that is not X12 is refused, naming it."""
    text = raw[:4096].decode("utf-8", errors="replace").lstrip("\r\n\t \x00\ufeff")
    if not text:
        raise InputFileError(f"{file_name}: the file is empty")
    try:
        delimiters, length = parse_isa_delimiters(text)
    except X12FormatError as exc:
        raise InputFileError(f"{file_name}: not an X12 interchange: {exc}") from None
    header, _issues = check_isa(text[: length - 1].split(delimiters.element), delimiters)
    return header


def segments(reader: SegmentReader) -> Iterator[tuple[list[str], bool]]:
    """The segments of a reader, split, each with whether it holds a character outside the
    X12 character sets."""
    for texts, bad in reader.batches():
        elem = reader.delimiters.element
        for i, text in enumerate(texts):
            yield text.split(elem), bad is not None and i in bad


def _without(value: str, *chars: str) -> str:
    for ch in chars:
        if ch:
            value = value.replace(ch, "")
    return value.rstrip()


def _group_issue(ack_code: str, message: str, segment_id: str, position: int) -> Issue:
    return Issue(
        code=envelope_code(segment_id, ack_code),
        message=message,
        level=1,
        scope=Scope.GROUP,
        location=Location(segment_id, position),
        ack_code=ack_code,
    )


def _interchange_issue(ack_code: str, message: str, segment_id: str, position: int) -> Issue:
    return Issue(
        code=envelope_code(segment_id, ack_code),
        message=message,
        level=1,
        scope=Scope.INTERCHANGE,
        location=Location(segment_id, position),
        ack_code=ack_code,
    )


class _Group(Generic[T]):  # not a dataclass: mypyc compiles no generic dataclass
    def __init__(self, header: GroupHeader) -> None:
        self.header = header
        self.issues: list[Issue] = []
        self.transactions: list[TransactionEnd] = []
        self.read: list[T] = []
        self.controls: set[str] = set()


class EnvelopeWalk(Generic[T]):
    """The envelope walk of one interchange: ISA, GS/GE, ST/SE, IEA, each transaction set's
    body read by what ``make_body`` makes (see the module docstring)."""

    def __init__(self, spec: EnvelopeSpec, make_body: BodyMaker[T]) -> None:
        self.spec = spec
        self.make_body = make_body
        self.header: InterchangeHeader | None = None
        self.issues: list[Issue] = []
        self.groups: list[_Group[T]] = []
        self.group: _Group[T] | None = None
        self.body: Body[T] | None = None
        self.count = 0  # segments read, ISA is 1
        self.ended = False

    def feed(self, seg: list[str], bad: bool, reader: SegmentReader) -> None:
        self.count += 1
        sid = seg[0]
        if sid == "ISA":
            self.header, self.issues = check_isa(seg, reader.delimiters)
            self._isa_ids()
            return
        if self.header is None or self.ended or self.issues:
            return  # nothing before an ISA; nothing more once the interchange is condemned
        if self.body is not None and sid not in ENVELOPE_SEGMENTS:
            self.body.feed(seg, bad)
            return
        if sid == "IEA":
            self._iea(seg)
        elif sid == "GS":
            self._close_group(missing=True)
            self._gs(seg, bad)
        elif self.group is None:
            self._reject(codes.TA1_INVALID_CONTENT, f"{sid[:3]!r} outside a functional group", sid)
        elif sid == "GE":
            self._ge(seg)
        elif sid == "ST":
            self._close_transaction(missing=True)
            self._st(seg)
        elif sid == "SE":
            if self.body is None:
                self._group_problem(codes.FG_NOT_SUPPORTED, "SE without ST", "SE")
            else:
                self.body.feed(seg, bad)
                self._close_transaction(missing=False)
        else:
            self._group_problem(
                codes.FG_NOT_SUPPORTED, f"{sid[:3]!r} outside a transaction set", sid[:3]
            )

    # -- envelope segments ------------------------------------------------------------------------
    def _isa_ids(self) -> None:
        """The sender and receiver ids are echoed in the answer's ISA and GS: one holding the
        repetition or component separator could not be."""
        header = self.header
        assert header is not None
        d = header.delimiters
        for code, name, value in (
            (codes.TA1_SENDER_ID, "ISA06 sender id", header.sender_id),
            (codes.TA1_RECEIVER_ID, "ISA08 receiver id", header.receiver_id),
        ):
            if any(ch and ch in value for ch in (d.repetition, d.component)):
                self._reject(code, f"{name} {value!r} holds a delimiter", "ISA")

    def _reject(self, ack_code: str, message: str, segment_id: str) -> None:
        if not self.issues:
            self.issues.append(_interchange_issue(ack_code, message, segment_id, self.count))

    def _group_problem(self, ack_code: str, message: str, segment_id: str) -> None:
        assert self.group is not None
        self.group.issues.append(_group_issue(ack_code, message, segment_id, self.count))

    def _gs(self, seg: list[str], bad: bool) -> None:
        # The acknowledgments echo these: a separator inside one (an error already) goes, and
        # so do the spaces it leaves at the end.
        assert self.header is not None
        spec = self.spec
        d = self.header.delimiters
        v = [_without(x, d.repetition, d.component) for x in [*seg[1:9], *_PAD][:8]]
        header = GroupHeader(v[0], v[1], v[2], v[3], v[4], v[5], v[7])
        self.group = group = _Group[T](header)
        self.groups.append(group)
        if bad:
            self._group_problem(
                codes.FG_NOT_SUPPORTED, "GS holds a character outside the X12 character sets", "GS"
            )
        elif header.functional_id != spec.functional_id:
            self._group_problem(
                codes.FG_NOT_SUPPORTED,
                f"GS01 {header.functional_id!r}: only {spec.functional_id} "
                f"({spec.transaction_set} {spec.what}) is accepted",
                "GS",
            )
        elif header.version not in spec.implementations:
            self._group_problem(
                codes.FG_VERSION, f"GS08 {header.version!r} is not {spec.implementation}", "GS"
            )
        if not (header.control.isdigit() and 1 <= len(header.control) <= 9):
            self._group_problem(
                codes.FG_CONTROL_SYNTAX, f"GS06 {header.control!r} is not a 1-9 digit number", "GS"
            )
        if len(seg) < 9:
            self._group_problem(
                codes.FG_NOT_SUPPORTED, f"GS has {len(seg) - 1} elements, 8 are required", "GS"
            )

    def _st(self, seg: list[str]) -> None:
        group = self.group
        assert group is not None
        v = [*seg[1:4], *_PAD][:3]
        th = TransactionHeader(v[0], v[1], v[2])
        assert self.header is not None
        spec = self.spec
        body = self.body = self.make_body(
            th, group.header, self._component(), self.header.delimiters.repetition
        )
        if group.issues:
            body.envelope(codes.TS_NOT_SUPPORTED, "its functional group was rejected", skip=True)
        elif th.set_id != spec.transaction_set:
            body.envelope(
                codes.TS_NOT_SUPPORTED,
                f"ST01 {th.set_id!r}: only {spec.transaction_set} ({spec.what}) is accepted",
                skip=True,
            )
        elif not (4 <= len(th.control) <= 9):
            body.envelope(codes.TS_INVALID_CONTROL, f"ST02 {th.control!r} is not 4-9 characters")
        elif th.control in group.controls:
            body.envelope(
                codes.TS_DUPLICATE_CONTROL,
                f"ST02 {th.control!r} is used twice in this functional group",
            )
        elif th.implementation not in spec.implementations:
            body.envelope(
                codes.TS_IMPL_NOT_SUPPORTED,
                f"ST03 {th.implementation!r} is not {spec.implementation}",
                skip=True,
            )
        group.controls.add(th.control)
        body.feed(seg, False)

    def _component(self) -> str:
        assert self.header is not None
        return self.header.delimiters.component

    def _close_transaction(self, missing: bool) -> None:
        body, group = self.body, self.group
        if body is None or group is None:
            return
        if missing:
            body.envelope(codes.TS_TRAILER_MISSING, "SE trailer is missing")
        end, read = body.finish()
        group.transactions.append(end)
        if read is not None:
            group.read.append(read)
        self.body = None

    def _ge(self, seg: list[str]) -> None:
        self._close_transaction(missing=True)
        group = self.group
        assert group is not None
        count = seg[1] if len(seg) > 1 else ""
        control = seg[2] if len(seg) > 2 else ""
        if control != group.header.control:
            self._group_problem(
                codes.FG_CONTROL_MISMATCH,
                f"GE02 {control!r} does not match GS06 {group.header.control!r}",
                "GE",
            )
        if count != str(len(group.transactions)):
            self._group_problem(
                codes.FG_COUNT_MISMATCH,
                f"GE01 says {count!r} transaction sets, the group has {len(group.transactions)}",
                "GE",
            )
        if not group.transactions:
            self._group_problem(
                codes.FG_NOT_SUPPORTED, f"the group holds no {self.spec.transaction_set}", "GE"
            )
        self.group = None

    def _close_group(self, missing: bool) -> None:
        if self.group is None:
            return
        self._close_transaction(missing=True)
        if missing:
            self._group_problem(codes.FG_TRAILER_MISSING, "GE is missing", "GE")
        self.group = None

    def _iea(self, seg: list[str]) -> None:
        assert self.header is not None
        self._close_group(missing=True)
        self.ended = True
        count = seg[1] if len(seg) > 1 else ""
        control = seg[2] if len(seg) > 2 else ""
        if control != self.header.control:
            self._reject(
                codes.TA1_CONTROL_MISMATCH,
                f"IEA02 {control!r} does not match ISA13 {self.header.control!r}",
                "IEA",
            )
        elif count != str(len(self.groups)):
            self._reject(
                codes.TA1_GROUP_COUNT,
                f"IEA01 says {count!r} functional groups, the interchange has {len(self.groups)}",
                "IEA",
            )

    # -- the verdict ------------------------------------------------------------------------------
    def result(self) -> tuple[InterchangeHeader, tuple[T, ...]] | Unreadable:
        header = self.header
        assert header is not None
        if not self.issues and not self.ended:
            self._close_group(missing=True)
            self._reject(
                codes.TA1_PREMATURE_END,
                "the interchange ends without an IEA trailer (request truncated?)",
                "IEA",
            )
        if not self.issues and not self.groups:
            self._reject(
                codes.TA1_INVALID_CONTENT,
                f"the interchange holds no {self.spec.transaction_set}",
                "IEA",
            )
        if self.issues:
            issue = self.issues[0]
            where = issue.location.position if issue.location else 0
            control = header.control
            named = control if control.isdigit() else repr(control) if control else "(no ISA13)"
            return Unreadable(
                Scope.INTERCHANGE,
                f"interchange {named} rejected (TA1 note "
                f"{issue.ack_code}): {issue.message}, at segment {where} of the interchange",
                header,
                issue,
            )
        groups = tuple(
            (GroupEnd(g.header, tuple(g.issues), len(g.transactions)), tuple(g.transactions))
            for g in self.groups
        )
        for g in self.groups:
            if g.issues:
                issue = g.issues[0]
                where = issue.location.position if issue.location else 0
                return Unreadable(
                    Scope.GROUP,
                    f"functional group {g.header.control or '(no GS06)'} rejected (999 AK9 "
                    f"code {issue.ack_code}): {issue.message}, at segment {where} of the "
                    "interchange",
                    header,
                    groups=groups,
                )
            for end in g.transactions:
                if not end.accepted:
                    issue = next(i for i in end.issues if i.scope <= Scope.TRANSACTION)
                    return Unreadable(
                        Scope.TRANSACTION,
                        f"transaction set {shown(end.header.control) or '(no ST02)'} "
                        "rejected (999): "
                        f"{issue.describe()}",
                        header,
                        groups=groups,
                    )
        return header, tuple(t for g in self.groups for t in g.read)


def shown(value: str) -> str:
    """A value from the input as a message shows it: control characters escaped, so that a
    reason stays one line."""
    return value if value.isprintable() else value.encode("unicode_escape").decode("ascii")


class SetReader:
    """What the body readers of :class:`EnvelopeWalk` share: the transaction set's place and
    issues, and the element checks that report what they find (IK3/IK4 of a 999)."""

    def __init__(
        self, header: TransactionHeader, group: GroupHeader, component: str, repetition: str = ""
    ) -> None:
        self.header = header
        self.group = group
        self.component = component
        self.repetition = repetition
        self.position = 0
        self.loop = "HEADER"
        self.issues: list[Issue] = []
        self.suppressed = 0
        self.skip = False
        self.ended = False

    # -- issues -------------------------------------------------------------------------------
    def _report(self, issue: Issue) -> None:
        if len(self.issues) < MAX_REPORTED_ISSUES:
            self.issues.append(issue)
        else:
            self.suppressed += 1

    def envelope(self, code: str, message: str, skip: bool = False) -> None:
        """A problem with the whole transaction set found by the envelope (IK5 code)."""
        self._report(transaction_issue(code, message, "ST", max(self.position, 1)))
        self.skip = self.skip or skip

    def _structure(
        self, segment_id: str, segment_error: str, message: str, *, loop: str = ""
    ) -> None:
        self._report(
            Issue(
                code=f"X12-SEGMENT-{segment_error}",
                message=message,
                level=1,
                scope=Scope.TRANSACTION,
                location=Location(segment_id[:3], self.position, loop or self.loop),
                syntax=Syntax(segment_error),
            )
        )

    def _place_hl(
        self,
        seg: Sequence[str],
        parents: Mapping[str, str],
        names: Mapping[str, str],
        levels: Mapping[str, HierarchyLevel],
    ) -> bool:
        """Whether the HL ``seg`` has a place in the hierarchy read so far: HL03 one of
        ``parents`` (level -> the level of its parent, ``""`` for the top), HL01 new, HL02
        naming an earlier HL of the parent's level (whose ``children`` it counts) or empty at
        the top. A fault is reported on its element; one that leaves the hierarchy unreadable
        stops the reading of the set (``skip``)."""
        hl_id, parent_id, level = seg[1], seg[2], seg[3]
        want = parents.get(level)
        if want is None:
            *first, last = parents
            self._element(
                seg,
                3,
                codes.ELEM_INVALID_CODE,
                f"HL03 {level!r} is not {', '.join(first)} or {last}",
            )
            self.skip = True
            return False
        if not hl_id or hl_id in levels:
            self._element(seg, 1, codes.ELEM_INVALID_CODE, f"HL01 {hl_id!r} is missing or repeated")
            self.skip = True  # the hierarchy cannot be told apart any more
            return False
        if not want:
            if parent_id:
                self._element(
                    seg, 2, codes.ELEM_INVALID_CODE, "HL02 must be empty for the information source"
                )
            return True
        parent = levels.get(parent_id)
        if parent is None or parent.level != want:
            self._element(
                seg,
                2,
                codes.ELEM_INVALID_CODE,
                f"HL02 {parent_id!r} does not name an HL of level {want} ({names[want]}) before it",
            )
            self.skip = True
            return False
        parent.children += 1
        return True

    def _element(
        self, seg: Sequence[str], element: int, error: str, message: str, component: int = 0
    ) -> None:
        value = seg[element] if element < len(seg) else ""
        if component and value:
            parts = value.split(self.component)
            value = parts[component - 1] if len(parts) >= component else ""
        value = value.rstrip()  # IK404 copies it, and X12 allows no trailing spaces
        self._report(
            Issue(
                code=f"X12-ELEMENT-{error}",
                message=message,
                level=2,
                scope=Scope.TRANSACTION,
                location=Location(seg[0], self.position, self.loop, element, component, "", value),
                syntax=Syntax(codes.SEG_ELEMENT_ERRORS, error),
            )
        )

    def _required(self, seg: Sequence[str], i: int, what: str) -> str:
        value = seg[i]
        if not value:
            self._element(seg, i, codes.ELEM_MISSING, f"{what} ({seg[0]}{i:02d}) is missing")
        return value

    def _length(self, seg: Sequence[str], i: int, what: str, high: int, low: int = 1) -> str:
        """An element the answer echoes, within its length (the X12 dictionary's)."""
        value = seg[i]
        if value and len(value) < low:
            self._element(
                seg, i, codes.ELEM_TOO_SHORT, f"{what} ({seg[0]}{i:02d}) is shorter than {low}"
            )
        elif len(value) > high:
            self._element(
                seg, i, codes.ELEM_TOO_LONG, f"{what} ({seg[0]}{i:02d}) is longer than {high}"
            )
        return value

    def _code(self, seg: Sequence[str], i: int, allowed: frozenset[str], what: str) -> str:
        value = self._required(seg, i, what)
        if value and value not in allowed:
            self._element(
                seg,
                i,
                codes.ELEM_INVALID_CODE,
                f"{what} ({seg[0]}{i:02d}) {value!r} is not one of {', '.join(sorted(allowed))}",
            )
        return value

    def _period(self, seg: Sequence[str], what: str) -> tuple[date | None, date | None]:
        """DTP02 D8 or RD8 and DTP03 as (from, to)."""
        fmt = self._code(seg, 2, frozenset({"D8", "RD8"}), f"{what} format")
        value = self._required(seg, 3, what)
        if not value or fmt not in ("D8", "RD8"):
            return None, None
        if fmt == "D8":
            day = parse_date8(value)
            if day is None:
                self._element(
                    seg,
                    3,
                    codes.ELEM_INVALID_DATE,
                    f"{what} (DTP03) {value!r} is not a date CCYYMMDD",
                )
            return day, day
        start, _, end = value.partition("-")
        first, last = parse_date8(start), parse_date8(end)
        if first is None or last is None or last < first:
            self._element(
                seg,
                3,
                codes.ELEM_INVALID_DATE,
                f"{what} (DTP03) {value!r} is not a date range CCYYMMDD-CCYYMMDD",
            )
        return first, last
