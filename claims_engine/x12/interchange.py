"""An 837 stream as events: envelopes checked, claims read.

:func:`read_events` walks the segments of a :class:`~claims_engine.x12.tokenizer.SegmentReader`
and yields, in order::

    InterchangeStart  GroupStart  TransactionStart  ClaimRead*  TransactionEnd  ...
    GroupEnd  ...  InterchangeEnd  ...

The envelopes are checked by :mod:`claims_engine.x12.envelope`, whose problems become
:class:`~claims_engine.domain.issues.Issue` values on the matching end event: TA1 note codes on
:class:`~claims_engine.x12.envelope.InterchangeEnd`, AK9 codes on
:class:`~claims_engine.x12.envelope.GroupEnd`, IK3/IK4/IK5 codes on
:class:`~claims_engine.x12.envelope.TransactionEnd`. Claims come from the 837 reader
(:mod:`claims_engine.x12.reader837`); a claim is only as good as the envelope around it, so the
consumer waits for the end events before it accepts anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from claims_engine.domain.issues import Issue, Scope
from claims_engine.domain.model import IMPLEMENTATIONS
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    ENVELOPE_SEGMENTS,
    Event,
    GroupEnd,
    GroupHeader,
    GroupStart,
    InterchangeEnd,
    InterchangeHeader,
    InterchangeStart,
    TransactionHeader,
    TransactionStart,
    check_isa,
    envelope_issue,
)
from claims_engine.x12.reader837 import TransactionReader
from claims_engine.x12.tokenizer import SegmentReader


@dataclass(slots=True)
class _Group:
    header: GroupHeader
    issues: list[Issue] = field(default_factory=list)
    transactions: int = 0
    controls: set[str] = field(default_factory=set)
    skip: bool = False


@dataclass(slots=True)
class _Interchange:
    header: InterchangeHeader
    issues: list[Issue]
    groups: int = 0
    skip: bool = False


def _gs_header(seg: list[str]) -> GroupHeader:
    v = [*seg[1:9], *([""] * max(0, 8 - len(seg[1:])))]
    return GroupHeader(v[0], v[1], v[2], v[3], v[4], v[5], v[7])


def _check_gs(seg: list[str], header: GroupHeader) -> list[Issue]:
    issues: list[Issue] = []

    def bad(ack: str, message: str) -> None:
        issues.append(envelope_issue(Scope.GROUP, ack, message, "GS"))

    if header.functional_id != "HC":
        bad(codes.FG_NOT_SUPPORTED, f"GS01 {header.functional_id!r}: only HC (837) is accepted")
    elif header.version not in IMPLEMENTATIONS:
        bad(codes.FG_VERSION, f"GS08 {header.version!r} is not a supported 837 version")
    if not (header.control.isdigit() and 1 <= len(header.control) <= 9):
        bad(codes.FG_CONTROL_SYNTAX, f"GS06 {header.control!r} is not a 1-9 digit number")
    if len(seg) < 9:
        bad(codes.FG_NOT_SUPPORTED, f"GS has {len(seg) - 1} elements, 8 are required")
    return issues


def read_events(reader: SegmentReader, *, received_on: date | None = None) -> Iterator[Event]:
    """Events for every interchange in the stream (see the module docstring)."""
    ix: _Interchange | None = None
    group: _Group | None = None
    txn: TransactionReader | None = None

    def close_transaction(missing_trailer: bool) -> Iterator[Event]:
        nonlocal txn
        assert txn is not None
        if missing_trailer:
            txn.add_envelope_issue(codes.TS_TRAILER_MISSING, "SE trailer is missing")
        yield from txn.finish()
        txn = None

    def close_group(missing_trailer: bool) -> Iterator[Event]:
        nonlocal group
        assert group is not None
        if txn is not None:
            yield from close_transaction(True)
        if missing_trailer:
            group.issues.append(
                envelope_issue(Scope.GROUP, codes.FG_TRAILER_MISSING, "GE is missing", "GE")
            )
        yield GroupEnd(group.header, tuple(group.issues), group.transactions)
        group = None

    def close_interchange(missing_trailer: bool) -> Iterator[Event]:
        nonlocal ix
        assert ix is not None
        if group is not None:
            yield from close_group(True)
        if missing_trailer:
            ix.issues.append(
                envelope_issue(
                    Scope.INTERCHANGE,
                    codes.TA1_PREMATURE_END,
                    "the interchange ends without an IEA trailer (file truncated?)",
                    "IEA",
                )
            )
        yield InterchangeEnd(ix.header, tuple(ix.issues[:1]))
        ix = None

    # Each segment split into elements, with whether it holds invalid characters: the
    # batches' loops are written out here, as a generator between them would cost a call
    # and a tuple for every segment.
    for texts, bad_indexes in reader.batches():
        elem = reader.delimiters.element
        for i, text in enumerate(texts):
            seg = text.split(elem)
            bad = bad_indexes is not None and i in bad_indexes
            sid = seg[0]
            if txn is not None and sid not in ENVELOPE_SEGMENTS:
                if bad:
                    txn.invalid_characters(seg)
                events = txn.feed(seg)
                if events:
                    yield from events
                continue
            if bad and sid == "GS" and ix is not None and not ix.skip:
                # Counted and closed as usual, but nothing in it is read.
                ix.groups += 1
                gh = _gs_header(seg)
                group = _Group(gh, skip=True)
                group.issues.append(
                    envelope_issue(
                        Scope.GROUP,
                        codes.FG_NOT_SUPPORTED,
                        "GS holds a character outside the X12 character sets",
                        "GS",
                    )
                )
                yield GroupStart(gh)
                continue
            if sid == "ISA":
                if ix is not None:
                    yield from close_interchange(True)
                header, issues = check_isa(seg, reader.delimiters)
                ix = _Interchange(header, issues, skip=bool(issues))
                yield InterchangeStart(header)
            elif ix is None:
                # Segments after an IEA and before the next ISA cannot be answered to.
                continue
            elif sid == "IEA":
                if group is not None:
                    yield from close_group(True)
                if not ix.issues:
                    count = seg[1] if len(seg) > 1 else ""
                    control = seg[2] if len(seg) > 2 else ""
                    if control != ix.header.control:
                        ix.issues.append(
                            envelope_issue(
                                Scope.INTERCHANGE,
                                codes.TA1_CONTROL_MISMATCH,
                                f"IEA02 {control!r} does not match ISA13 {ix.header.control!r}",
                                "IEA",
                            )
                        )
                    elif count != str(ix.groups):
                        ix.issues.append(
                            envelope_issue(
                                Scope.INTERCHANGE,
                                codes.TA1_GROUP_COUNT,
                                f"IEA01 says {count!r} functional groups, the interchange has "
                                f"{ix.groups}",
                                "IEA",
                            )
                        )
                yield from close_interchange(False)
            elif ix.skip:
                continue
            elif sid == "GS":
                if group is not None:
                    yield from close_group(True)
                ix.groups += 1
                gh = _gs_header(seg)
                group = _Group(gh)
                group.issues.extend(_check_gs(seg, gh))
                group.skip = bool(group.issues)
                yield GroupStart(gh)
            elif group is None:
                ix.issues.append(
                    envelope_issue(
                        Scope.INTERCHANGE,
                        codes.TA1_INVALID_CONTENT,
                        f"segment {sid!r} outside a functional group",
                        sid[:3],
                    )
                )
                ix.skip = True
            elif sid == "GE":
                if txn is not None:
                    yield from close_transaction(True)
                count = seg[1] if len(seg) > 1 else ""
                control = seg[2] if len(seg) > 2 else ""
                if control != group.header.control:
                    group.issues.append(
                        envelope_issue(
                            Scope.GROUP,
                            codes.FG_CONTROL_MISMATCH,
                            f"GE02 {control!r} does not match GS06 {group.header.control!r}",
                            "GE",
                        )
                    )
                if count != str(group.transactions):
                    group.issues.append(
                        envelope_issue(
                            Scope.GROUP,
                            codes.FG_COUNT_MISMATCH,
                            f"GE01 says {count!r} transaction sets, the group has "
                            f"{group.transactions}",
                            "GE",
                        )
                    )
                yield from close_group(False)
            elif sid == "ST":
                if txn is not None:
                    yield from close_transaction(True)
                group.transactions += 1
                control = seg[2] if len(seg) > 2 else ""
                th = TransactionHeader(
                    seg[1] if len(seg) > 1 else "",
                    control,
                    seg[3] if len(seg) > 3 else "",
                )
                txn = TransactionReader(
                    th,
                    interchange=ix.header,
                    group=group.header,
                    received_on=received_on,
                )
                if group.skip:
                    txn.add_envelope_issue(
                        codes.TS_NOT_SUPPORTED, "the functional group was rejected", skip=True
                    )
                elif th.set_id != "837":
                    txn.add_envelope_issue(
                        codes.TS_NOT_SUPPORTED,
                        f"ST01 {th.set_id!r}: only 837 is accepted",
                        skip=True,
                    )
                elif not (4 <= len(control) <= 9):
                    txn.add_envelope_issue(
                        codes.TS_INVALID_CONTROL, f"ST02 {control!r} is not 4-9 characters"
                    )
                elif control in group.controls:
                    txn.add_envelope_issue(
                        codes.TS_DUPLICATE_CONTROL,
                        f"ST02 {control!r} is used twice in this functional group",
                    )
                elif th.implementation != group.header.version:
                    txn.add_envelope_issue(
                        codes.TS_IMPL_NOT_SUPPORTED,
                        f"ST03 {th.implementation!r} does not match GS08 {group.header.version!r}",
                        skip=True,
                    )
                group.controls.add(control)
                yield TransactionStart(th)
                yield from txn.feed(seg)
            elif sid == "SE":
                if txn is None:
                    group.issues.append(
                        envelope_issue(Scope.GROUP, codes.FG_NOT_SUPPORTED, "SE without ST", "SE")
                    )
                    continue
                yield from txn.feed(seg)
                yield from close_transaction(False)
    if ix is not None:
        yield from close_interchange(True)
