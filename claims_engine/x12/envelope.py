"""Envelopes: ISA/IEA, GS/GE and ST/SE checked, and the events of an X12 stream.

The events (:class:`InterchangeStart` ... :class:`InterchangeEnd`) are what
:func:`claims_engine.x12.interchange.read_events` yields for an 837 stream; envelope problems
become :class:`~claims_engine.domain.issues.Issue` values on the matching end event: TA1 note
codes on :class:`InterchangeEnd`, AK9 codes on :class:`GroupEnd`, IK3/IK4/IK5 codes on
:class:`TransactionEnd`. This module reads no transaction set's body: the 837 reader
(:mod:`claims_engine.x12.reader837`) and the 276 reader build on it, never the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from claims_engine.domain.frozen import finish_dataclasses
from claims_engine.domain.issues import Issue, Location, Scope
from claims_engine.domain.model import Claim
from claims_engine.domain.money import ZERO
from claims_engine.x12 import codes
from claims_engine.x12.structure import valid_date, valid_time
from claims_engine.x12.tokenizer import INVALID_CHARACTER, Delimiters

ISA_WIDTHS: Final = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
ID_QUALIFIERS: Final = frozenset({"01", "14", "20", "27", "28", "29", "30", "33", "ZZ"})
MAX_REPORTED_ISSUES: Final = 1000


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


@dataclass(frozen=True, slots=True, init=False)
class ClaimRead:
    """A claim as read, with the claim-level issues found while reading it.

    One per claim: its own ``__init__`` is native code when compiled (see
    :func:`~claims_engine.domain.frozen.finish_dataclasses`)."""

    claim: Claim
    issues: tuple[Issue, ...]

    def __init__(self, claim: Claim, issues: tuple[Issue, ...]) -> None:
        self.claim = claim  # type: ignore[misc]
        self.issues = issues  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.claim, self.issues))


@dataclass(frozen=True, slots=True)
class TransactionEnd:
    """The end of a transaction set.

    ``issues`` are the 999 findings (transaction-scoped ones reject the set; claim-scoped ones
    are reported with IK5 ``E`` and reject only their claims on the 277CA).
    ``suppressed`` counts findings beyond :data:`MAX_REPORTED_ISSUES` that were not kept.
    ``unread_claims`` counts the CLMs after a fault that stopped the reading of the set (a
    broken hierarchy, say), and ``unread_charge`` sums their CLM02: the set is rejected, and
    every claim it holds is counted rejected with it.
    """

    header: TransactionHeader
    issues: tuple[Issue, ...]
    segment_count: int
    claim_count: int
    suppressed: int = 0
    unread_claims: int = 0
    unread_charge: Decimal = ZERO

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


def envelope_issue(scope: Scope, ack_code: str, message: str, segment_id: str) -> Issue:
    return Issue(
        code=envelope_code(segment_id, ack_code),
        message=message,
        level=1,
        scope=scope,
        location=Location(segment_id, 0),
        ack_code=ack_code,
    )


def check_isa(seg: list[str], delimiters: Delimiters) -> tuple[InterchangeHeader, list[Issue]]:
    """Read an ISA into a header and the TA1 problems with it."""
    issues: list[Issue] = []

    def bad(ack: str, message: str) -> None:
        issues.append(envelope_issue(Scope.INTERCHANGE, ack, message, "ISA"))

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
    if not (len(values[8]) == 6 and valid_date(values[8])):
        bad(codes.TA1_DATE, f"ISA09 {values[8]!r} is not a date YYMMDD")
    if not (len(values[9]) == 4 and valid_time(values[9])):
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


ENVELOPE_SEGMENTS: Final = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE"})


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


# Only the class built once per claim has an __init__ of its own (the others are few).
finish_dataclasses({"__name__": __name__, "ClaimRead": ClaimRead})
