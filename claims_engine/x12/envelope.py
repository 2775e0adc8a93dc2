"""Envelopes: ISA/IEA, GS/GE and ST/SE, checked, turned into a stream of events.

:func:`read_events` walks the segments of a :class:`~claims_engine.x12.tokenizer.SegmentReader`
and yields, in order::

    InterchangeStart  GroupStart  TransactionStart  ClaimRead*  TransactionEnd  ...
    GroupEnd  ...  InterchangeEnd  ...

Envelope problems become :class:`~claims_engine.issues.Issue` values on the matching end event:
TA1 note codes on :class:`InterchangeEnd`, AK9 codes on :class:`GroupEnd`, IK3/IK4/IK5 codes on
:class:`TransactionEnd`. Claims come from the 837 reader in :mod:`claims_engine.x12.reader837`;
a claim is only as good as the envelope around it, so the consumer waits for the end events
before it accepts anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from claims_engine.issues import Issue, Location, Scope
from claims_engine.model import IMPLEMENTATIONS, Claim
from claims_engine.x12 import codes
from claims_engine.x12.tokenizer import INVALID_CHARACTER, Delimiters, SegmentReader

ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ID_QUALIFIERS = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
MAX_REPORTED_ISSUES = 1000


@dataclass(frozen=True, slots=True)
class InterchangeHeader:
    control: str
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    date: str
    time: str
    version: str
    ack_requested: bool
    usage: str
    delimiters: Delimiters


@dataclass(frozen=True, slots=True)
class GroupHeader:
    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control: str
    version: str


@dataclass(frozen=True, slots=True)
class TransactionHeader:
    set_id: str
    control: str
    implementation: str


@dataclass(frozen=True, slots=True)
class InterchangeStart:
    header: InterchangeHeader


@dataclass(frozen=True, slots=True)
class GroupStart:
    header: GroupHeader


@dataclass(frozen=True, slots=True)
class TransactionStart:
    header: TransactionHeader


@dataclass(frozen=True, slots=True)
class ClaimRead:
    """A claim as read, with the claim-level issues found while reading it."""

    claim: Claim
    issues: tuple[Issue, ...]


@dataclass(frozen=True, slots=True)
class TransactionEnd:
    """The end of a transaction set.

    ``issues`` are the 999 findings (transaction-scoped ones reject the set; claim-scoped ones
    are reported with IK5 ``E`` and reject only their claims on the 277CA).
    ``suppressed`` counts findings beyond :data:`MAX_REPORTED_ISSUES` that were not kept.
    """

    header: TransactionHeader
    issues: tuple[Issue, ...]
    segment_count: int
    claim_count: int
    suppressed: int = 0

    @property
    def accepted(self) -> bool:
        return not any(i.scope <= Scope.TRANSACTION for i in self.issues)


@dataclass(frozen=True, slots=True)
class GroupEnd:
    header: GroupHeader
    issues: tuple[Issue, ...]
    transaction_count: int

    @property
    def accepted(self) -> bool:
        return not self.issues


@dataclass(frozen=True, slots=True)
class InterchangeEnd:
    header: InterchangeHeader
    issues: tuple[Issue, ...]

    @property
    def accepted(self) -> bool:
        return not self.issues


Event = (
    InterchangeStart
    | GroupStart
    | TransactionStart
    | ClaimRead
    | TransactionEnd
    | GroupEnd
    | InterchangeEnd
)


def envelope_code(segment_id: str, ack_code: str) -> str:
    """The code of an envelope issue (a reason's key, a metric's label): one of a fixed set,
    never the input's bytes: a segment id that is no envelope segment's is SEGMENT in it (the
    message names it)."""
    named = segment_id if segment_id in ENVELOPE_SEGMENTS else "SEGMENT"
    return f"ENVELOPE-{named}-{ack_code}"


def _envelope_issue(scope: Scope, ack_code: str, message: str, segment_id: str) -> Issue:
    return Issue(
        code=envelope_code(segment_id, ack_code),
        message=message,
        level=1,
        scope=scope,
        location=Location(segment_id, 0),
        ack_code=ack_code,
    )


def _valid_date(text: str, fmt: str) -> bool:
    try:
        datetime.strptime(text, fmt)
    except ValueError:
        return False
    return True


def check_isa(seg: list[str], delimiters: Delimiters) -> tuple[InterchangeHeader, list[Issue]]:
    """Read an ISA into a header and the TA1 problems with it."""
    issues: list[Issue] = []

    def bad(ack: str, message: str) -> None:
        issues.append(_envelope_issue(Scope.INTERCHANGE, ack, message, "ISA"))

    values = [*seg[1:17], *([""] * max(0, 16 - len(seg[1:])))]
    for i, value in enumerate(values[:15]):
        if INVALID_CHARACTER.search(value):
            code = {5: codes.TA1_SENDER_ID, 7: codes.TA1_RECEIVER_ID}.get(
                i, codes.TA1_INVALID_CONTENT
            )
            bad(code, f"ISA{i + 1:02d} holds a character outside the X12 character sets")
    for i, width in enumerate(ISA_WIDTHS):
        if len(values[i]) != width:
            code = {
                1: codes.TA1_AUTH_VALUE,
                3: codes.TA1_SECURITY_VALUE,
                5: codes.TA1_SENDER_ID,
                7: codes.TA1_RECEIVER_ID,
                12: codes.TA1_CONTROL_NUMBER,
            }.get(i, codes.TA1_INVALID_CONTENT)
            bad(code, f"ISA{i + 1:02d} must be {width} characters, got {len(values[i])}")
            break
    if len(seg) != 17:
        bad(codes.TA1_INVALID_CONTENT, f"ISA must have 16 elements, found {len(seg) - 1}")
    if values[0] not in ("00", "03"):
        bad(codes.TA1_AUTH_QUALIFIER, f"ISA01 {values[0]!r} is not 00 or 03")
    if values[2] not in ("00", "01"):
        bad(codes.TA1_SECURITY_QUALIFIER, f"ISA03 {values[2]!r} is not 00 or 01")
    if values[4] not in ID_QUALIFIERS:
        bad(codes.TA1_SENDER_QUALIFIER, f"ISA05 {values[4]!r} is not an interchange id qualifier")
    if not values[5].strip():
        bad(codes.TA1_SENDER_ID, "ISA06 sender id is blank")
    if values[6] not in ID_QUALIFIERS:
        bad(codes.TA1_RECEIVER_QUALIFIER, f"ISA07 {values[6]!r} is not an id qualifier")
    if not values[7].strip():
        bad(codes.TA1_RECEIVER_ID, "ISA08 receiver id is blank")
    if not _valid_date(values[8], "%y%m%d"):
        bad(codes.TA1_DATE, f"ISA09 {values[8]!r} is not a date YYMMDD")
    if not _valid_date(values[9], "%H%M"):
        bad(codes.TA1_TIME, f"ISA10 {values[9]!r} is not a time HHMM")
    if values[11] != "00501":
        bad(codes.TA1_VERSION, f"ISA12 {values[11]!r}: only version 00501 is supported")
    if not (len(values[12]) == 9 and values[12].isdigit()):
        bad(codes.TA1_CONTROL_NUMBER, f"ISA13 {values[12]!r} is not a 9-digit control number")
    if values[13] not in ("0", "1"):
        bad(codes.TA1_ACK_REQUESTED, f"ISA14 {values[13]!r} is not 0 or 1")
    if values[14] not in ("P", "T"):
        bad(codes.TA1_TEST_INDICATOR, f"ISA15 {values[14]!r} is not P or T")
    # A TA1 carries one note code: keep the first problem found.
    header = InterchangeHeader(
        control=values[12],
        sender_qualifier=values[4],
        sender_id=values[5].strip(),
        receiver_qualifier=values[6],
        receiver_id=values[7].strip(),
        date=values[8],
        time=values[9],
        version=values[11],
        ack_requested=values[13] == "1",
        usage=values[14],
        delimiters=delimiters,
    )
    return header, issues[:1]


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
        issues.append(_envelope_issue(Scope.GROUP, ack, message, "GS"))

    if header.functional_id != "HC":
        bad(codes.FG_NOT_SUPPORTED, f"GS01 {header.functional_id!r}: only HC (837) is accepted")
    elif header.version not in IMPLEMENTATIONS:
        bad(codes.FG_VERSION, f"GS08 {header.version!r} is not a supported 837 version")
    if not (header.control.isdigit() and 1 <= len(header.control) <= 9):
        bad(codes.FG_CONTROL_SYNTAX, f"GS06 {header.control!r} is not a 1-9 digit number")
    if len(seg) < 9:
        bad(codes.FG_NOT_SUPPORTED, f"GS has {len(seg) - 1} elements, 8 are required")
    return issues


ENVELOPE_SEGMENTS = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


def _segments(reader: SegmentReader) -> Iterator[tuple[list[str], bool]]:
    """Each segment split into elements, with whether it holds invalid characters."""
    for texts, bad in reader.batches():
        elem = reader.delimiters.element
        if bad is None:
            for text in texts:
                yield text.split(elem), False
        else:
            for i, text in enumerate(texts):
                yield text.split(elem), i in bad


def read_events(reader: SegmentReader, *, received_on: date | None = None) -> Iterator[Event]:
    """Events for every interchange in the stream (see the module docstring)."""
    from claims_engine.x12.reader837 import TransactionReader

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
                _envelope_issue(Scope.GROUP, codes.FG_TRAILER_MISSING, "GE is missing", "GE")
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
                _envelope_issue(
                    Scope.INTERCHANGE,
                    codes.TA1_PREMATURE_END,
                    "the interchange ends without an IEA trailer (file truncated?)",
                    "IEA",
                )
            )
        yield InterchangeEnd(ix.header, tuple(ix.issues[:1]))
        ix = None

    for seg, bad in _segments(reader):
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
                _envelope_issue(
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
                        _envelope_issue(
                            Scope.INTERCHANGE,
                            codes.TA1_CONTROL_MISMATCH,
                            f"IEA02 {control!r} does not match ISA13 {ix.header.control!r}",
                            "IEA",
                        )
                    )
                elif count != str(ix.groups):
                    ix.issues.append(
                        _envelope_issue(
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
                _envelope_issue(
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
                    _envelope_issue(
                        Scope.GROUP,
                        codes.FG_CONTROL_MISMATCH,
                        f"GE02 {control!r} does not match GS06 {group.header.control!r}",
                        "GE",
                    )
                )
            if count != str(group.transactions):
                group.issues.append(
                    _envelope_issue(
                        Scope.GROUP,
                        codes.FG_COUNT_MISMATCH,
                        f"GE01 says {count!r} transaction sets, the group has {group.transactions}",
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
                    codes.TS_NOT_SUPPORTED, f"ST01 {th.set_id!r}: only 837 is accepted", skip=True
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
                    _envelope_issue(Scope.GROUP, codes.FG_NOT_SUPPORTED, "SE without ST", "SE")
                )
                continue
            yield from txn.feed(seg)
            yield from close_transaction(False)
    if ix is not None:
        yield from close_interchange(True)


def transaction_issue(code: str, message: str, segment_id: str, position: int) -> Issue:
    """An IK5-level problem with a whole transaction set."""
    return Issue(
        code=f"TRANSACTION-{code}",
        message=message,
        level=1,
        scope=Scope.TRANSACTION,
        location=Location(segment_id, position),
        ack_code=code,
    )


def trailer_issues(seg: list[str], control: str, position: int) -> list[Issue]:
    """What is wrong with an SE that closes the transaction set ``control`` at ``position``
    (the SE's own place, which is also the set's segment count)."""
    count, found = [*seg, "", ""][1:3]
    issues: list[Issue] = []
    if found != control:
        issues.append(
            transaction_issue(
                codes.TS_CONTROL_MISMATCH,
                f"SE02 {found!r} does not match ST02 {control!r}",
                "SE",
                position,
            )
        )
    if count != str(position):
        issues.append(
            transaction_issue(
                codes.TS_COUNT_MISMATCH,
                f"SE01 says {count!r} segments, the transaction set has {position}",
                "SE",
                position,
            )
        )
    return issues
