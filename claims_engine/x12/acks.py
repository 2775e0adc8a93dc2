"""Writers of the acknowledgments: TA1, 999 (005010X231A1) and 277CA (005010X214).

Each acknowledgment is written with the delimiters of the interchange it answers, so every value
echoed from the inbound file is free of delimiters by construction. Segments end with the
terminator and a line feed (unless the terminator is itself a line break) so the files read one
segment a line. Nothing here reads a clock: the caller passes ``created``.

The 277CA is streamed: claims are added one at a time and their segments go to spools (any
text stream; ``io.StringIO`` by default, temporary files for big batches) because the totals of
the information receiver (2200B) and billing provider (2200C) loops come before the claims they
count.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Final, TextIO

from claims_engine.domain.frozen import finish_dataclasses
from claims_engine.domain.issues import ClaimStatus, Issue, Scope
from claims_engine.domain.model import Claim, ClaimType
from claims_engine.domain.money import ZERO, ascii_digits, format_x12_amount, x12_number_length
from claims_engine.x12 import codes
from claims_engine.x12.envelope import (
    GroupEnd,
    GroupHeader,
    InterchangeHeader,
    TransactionEnd,
)
from claims_engine.x12.segments import SegmentWriter
from claims_engine.x12.tokenizer import INVALID_CHARACTER, Delimiters

SpoolFactory = Callable[[], TextIO]
_PENDING_CLAIMS: Final = 256  # the 277CA's claims written to a spool at a time
MAX_STC_PER_CLAIM: Final = 10
MAX_AMOUNT_DIGITS: Final = codes.ELEMENT_LENGTHS["CLM02"][1]  # element 782: STC04, AMT02 too


def _echoable(value: str, d: Delimiters) -> bool:
    """Whether a value from the input can be copied into an acknowledgment as it is."""
    if not value or len(value) > 99 or INVALID_CHARACTER.search(value):
        return False
    return not any(ch in value for ch in (d.element, d.component, d.segment, d.repetition) if ch)


def clean_value(value: str, d: Delimiters) -> str:
    """A value from the input with anything that cannot be echoed taken out."""
    value = INVALID_CHARACTER.sub("", value)
    for ch in (d.element, d.component, d.segment, d.repetition):
        if ch:
            value = value.replace(ch, "")
    return value


ACKNOWLEDGED_SETS: Final = frozenset(
    {"270", "271", "276", "277", "278", "820", "834", "835", "837"}
)
FUNCTIONAL_IDS: Final = frozenset({"BE", "HB", "HC", "HI", "HN", "HP", "HR", "HS"})


def _fit(value: str, high: int, d: Delimiters, *, low: int = 1) -> str:
    """A value echoed from the claim, cut to its maximum length, without the component or
    repetition separator (the input may carry one in a simple element; the acknowledgment must
    not); ``UNKNOWN`` when a required value is too short to send (the claim was rejected for
    it, and the acknowledgment must still be well formed)."""
    if d.component in value:
        value = value.replace(d.component, "")
    if d.repetition and d.repetition in value:
        value = value.replace(d.repetition, "")
    return value[:high] if len(value) >= low else "UNKNOWN"


def _echoed_charge(amount: Decimal) -> tuple[Decimal, str]:
    """A claim's charge as STC04 can carry it (18 digits at most), and its text: an amount too
    long for it is echoed as 0, its claim rejected for it by the reader (and counted as 0 in
    the totals)."""
    text = _amount_text(amount)
    if len(text) > MAX_AMOUNT_DIGITS and x12_number_length(text) > MAX_AMOUNT_DIGITS:
        return ZERO, "0"
    return amount, text


def _amount_text(amount: Decimal) -> str:
    """``format_x12_amount(amount)``, taken from ``str(amount)`` when that is already it (as
    for an amount read from an 837: whole cents, no trailing zero after the point), which
    spares the rounding and formatting of every claim's charge."""
    text = str(amount)
    if len(text) <= 20 and text != "-0":
        dot = text.find(".")
        whole = text[1:] if text.startswith("-") else text
        if dot < 0:
            if whole.isdigit():
                return text
        elif (
            1 <= len(text) - dot - 1 <= 2
            and text[-1] != "0"
            and whole.replace(".", "", 1).isdigit()
        ):
            return text
    return format_x12_amount(amount)


def _is_segment_id(value: str) -> bool:
    return 2 <= len(value) <= 3 and value.isascii() and value.isalnum() and value.isupper()


def _pad(value: str, width: int) -> str:
    return value[:width].ljust(width)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who an acknowledgment goes to and when it is made: the inbound interchange reversed."""

    inbound: InterchangeHeader
    control: int
    created: datetime

    @property
    def control_text(self) -> str:
        return f"{self.control:09d}"


def outbound_envelope(
    *,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    control: int,
    created: datetime,
    delimiters: Delimiters,
    usage: str = "P",
) -> Envelope:
    """An envelope for a document the engine sends unprompted (an 835), not in answer to one.

    ``sender`` and ``receiver`` are (ISA qualifier, id) pairs as the document itself names
    them. :func:`write_isa` writes an inbound header reversed, so the header made here is the
    one the receiver would have sent us.
    """
    header = InterchangeHeader(
        control="",
        sender_qualifier=receiver[0],
        sender_id=receiver[1],
        receiver_qualifier=sender[0],
        receiver_id=sender[1],
        date="",
        time="",
        version="00501",
        ack_requested=False,
        usage=usage,
        delimiters=delimiters,
    )
    return Envelope(header, control, created)


def write_isa(w: SegmentWriter, env: Envelope) -> None:
    ih = env.inbound
    d = w.d
    w.seg(
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        clean_value(ih.receiver_qualifier, d) if len(ih.receiver_qualifier) == 2 else "ZZ",
        _pad(clean_value(ih.receiver_id, d) or "UNKNOWN", 15),
        clean_value(ih.sender_qualifier, d) if len(ih.sender_qualifier) == 2 else "ZZ",
        _pad(clean_value(ih.sender_id, d) or "UNKNOWN", 15),
        env.created.strftime("%y%m%d"),
        env.created.strftime("%H%M"),
        d.repetition or "^",
        "00501",
        env.control_text,
        "0",
        ih.usage if ih.usage in ("P", "T") else "P",
        d.component,
    )


def write_ta1(out: TextIO, env: Envelope, issue: Issue | None) -> None:
    """A TA1 interchange acknowledgment: accepted (note 000) or rejected with the issue's note."""
    w = SegmentWriter(out, env.inbound.delimiters)
    write_isa(w, env)
    ih = env.inbound
    control = ih.control if len(ih.control) == 9 and ascii_digits(ih.control) else "000000000"
    idate = (
        ih.date if len(ih.date) == 6 and ascii_digits(ih.date) else env.created.strftime("%y%m%d")
    )
    itime = ih.time if len(ih.time) == 4 and ascii_digits(ih.time) else env.created.strftime("%H%M")
    if issue is None:
        w.seg("TA1", control, idate, itime, "A", codes.TA1_NO_ERROR)
    else:
        w.seg("TA1", control, idate, itime, "R", issue.ack_code or codes.TA1_INVALID_CONTENT)
    w.seg("IEA", "0", env.control_text)


def _gs(
    w: SegmentWriter,
    env: Envelope,
    functional_id: str,
    version: str,
    inbound_group: GroupHeader | None,
) -> None:
    ih = env.inbound
    d = w.d
    # X12 values carry no leading or trailing spaces, whatever the inbound group sent
    sender = clean_value(inbound_group.receiver, d).strip() if inbound_group else ""
    receiver = clean_value(inbound_group.sender, d).strip() if inbound_group else ""
    # GS02 and GS03 are 2 to 15 characters; a group that broke that falls back on the ISA ids.
    sender = sender if 2 <= len(sender) <= 15 else ""
    receiver = receiver if 2 <= len(receiver) <= 15 else ""
    w.seg(
        "GS",
        functional_id,
        sender or clean_value(ih.receiver_id, d).strip() or "UNKNOWN",
        receiver or clean_value(ih.sender_id, d).strip() or "UNKNOWN",
        env.created.strftime("%Y%m%d"),
        env.created.strftime("%H%M"),
        str(env.control),
        "X",
        version,
    )


def write_gs(w: SegmentWriter, env: Envelope, functional_id: str, version: str) -> None:
    """A GS whose application sender and receiver codes are the ISA ids of ``env``."""
    _gs(w, env, functional_id, version, None)


# -- 999 -----------------------------------------------------------------------------------------
def _ik5(end: TransactionEnd) -> tuple[str, list[str]]:
    envelope_codes = [i.ack_code for i in end.issues if i.ack_code]
    if not end.accepted:
        reasons = envelope_codes or [codes.TS_SEGMENTS_IN_ERROR]
        if not envelope_codes or any(i.syntax for i in end.issues):
            reasons = [*envelope_codes, codes.TS_SEGMENTS_IN_ERROR]
        return "R", list(dict.fromkeys(reasons))[:5]
    if end.issues:
        return "E", [codes.TS_SEGMENTS_IN_ERROR]
    return "A", []


def write_999_transaction(
    w: SegmentWriter, control: str, group: GroupEnd, transactions: Sequence[TransactionEnd]
) -> None:
    """One 999 transaction set answering one functional group."""
    start = w.count
    w.seg("ST", "999", control, "005010X231A1")
    gh = group.header
    d = w.d
    functional_id = gh.functional_id if gh.functional_id in FUNCTIONAL_IDS else "HC"
    # AK103 is required: when GS08 is missing or unusable, name the version alone.
    version = clean_value(gh.version, d)
    version = version if 1 <= len(version) <= 12 else "005010"
    # AK102 is numeric: a group control number that is not (itself an AK9 error) shows as 0.
    group_control = gh.control if ascii_digits(gh.control) and len(gh.control) <= 9 else "0"
    w.seg("AK1", functional_id, group_control, version)
    accepted = 0
    for end in transactions:
        th = end.header
        set_control = clean_value(th.control, d)
        w.seg(
            "AK2",
            th.set_id if th.set_id in ACKNOWLEDGED_SETS else "837",
            set_control if 4 <= len(set_control) <= 9 else "0000",
            clean_value(th.implementation, d)[:35],
        )
        last_ik3: tuple[str, int, str, str] | None = None
        for issue in end.issues:
            loc, syn = issue.location, issue.syntax
            if loc is None or syn is None:
                continue
            # IK301 is two or three letters and digits; an unreadable id is reported as UNK
            ik3 = (
                loc.segment_id if _is_segment_id(loc.segment_id) else "UNK",
                max(loc.position, 1),
                loc.loop[:4] if loc.loop[:1].isdigit() else "",
                syn.segment_error,
            )
            # one IK3 a segment in error, with an IK4 for each of its elements in error
            if not (syn.element_error and ik3 == last_ik3):
                w.seg("IK3", ik3[0], str(ik3[1]), ik3[2], ik3[3])
            last_ik3 = ik3 if syn.element_error else None
            if syn.element_error:
                pos = w.comp(str(loc.element), str(loc.component) if loc.component else "")
                value = loc.value.strip() if _echoable(loc.value.strip(), w.d) else ""
                w.seg("IK4", pos, loc.element_ref, syn.element_error, value)
        status, reasons = _ik5(end)
        if status != "R":
            accepted += 1
        w.seg("IK5", status, *reasons)
    received = len(transactions)
    if group.issues:
        ak9 = "R"
        reasons = list(dict.fromkeys(i.ack_code for i in group.issues if i.ack_code))[:5]
        accepted = 0
    else:
        reasons = []
        any_errors = any(t.issues for t in transactions)
        if accepted == received:
            ak9 = "E" if any_errors else "A"
        elif accepted == 0:
            ak9 = "R"
        else:
            ak9 = "P"
    w.seg("AK9", ak9, str(group.transaction_count), str(received), str(accepted), *reasons)
    w.seg("SE", str(w.count - start + 1), control)


def write_999(
    out: TextIO,
    env: Envelope,
    groups: Sequence[tuple[GroupEnd, Sequence[TransactionEnd]]],
) -> None:
    """A 999 interchange: one 999 transaction set for each functional group received."""
    w = SegmentWriter(out, env.inbound.delimiters)
    write_isa(w, env)
    first = groups[0][0].header if groups else None
    _gs(w, env, "FA", "005010X231A1", first)
    for n, (group, transactions) in enumerate(groups, start=1):
        write_999_transaction(w, f"{n:04d}", group, transactions)
    w.seg("GE", str(len(groups)), str(env.control))
    w.seg("IEA", "1", env.control_text)


# -- 277CA ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, init=False)
class ClaimAck:
    """One claim's answer on the 277CA (one per claim: its own ``__init__``, native when
    compiled, see :func:`~claims_engine.domain.frozen.finish_dataclasses`)."""

    claim: Claim
    accepted: bool
    issues: tuple[Issue, ...]
    payer_claim_number: str = ""

    def __init__(
        self, claim: Claim, accepted: bool, issues: tuple[Issue, ...], payer_claim_number: str = ""
    ) -> None:
        self.claim = claim  # type: ignore[misc]
        self.accepted = accepted  # type: ignore[misc]
        self.issues = issues  # type: ignore[misc]
        self.payer_claim_number = payer_claim_number  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.claim, self.accepted, self.issues, self.payer_claim_number))


def _stc_composite(w: SegmentWriter, status: ClaimStatus) -> str:
    # The entity comes from the claim's NM101; a broken one is left out rather than echoed.
    entity = status.entity
    if not (2 <= len(entity) <= 3 and entity.isascii() and entity.isalnum()):
        entity = ""
    return w.comp(status.category, status.code, entity)


def _claim_dates(claim: Claim, fallback: date) -> tuple[date, date]:
    start = claim.statement_from or claim.service_from
    end = claim.statement_to or claim.service_to
    if start is None:
        return fallback, fallback
    return start, end or start


class ClaimAcknowledgment:
    """Builds the 277CA transaction set answering one 837 transaction set.

    Call :meth:`add` for every claim in order, then :meth:`finish` to write ``ST`` .. ``SE``.
    """

    def __init__(
        self,
        delimiters: Delimiters,
        *,
        created: datetime,
        received_on: date,
        payer: tuple[str, str],
        submitter: tuple[str, str],
        trace: str,
        spool: SpoolFactory = io.StringIO,
    ) -> None:
        self.d = delimiters
        self.created = created
        self.received_on = received_on
        self.payer = payer
        self.submitter = submitter
        self.trace = trace
        self._spool_factory = spool
        self._body = SegmentWriter(spool(), delimiters)
        self._group: SegmentWriter | None = None
        # Claims' text waiting to go to the group's spool: written a few hundred claims at a
        # time, as a write to a spool file costs far more than adding to a list (the text
        # wrapper of a file open for reading too resets its decoder, in Python, every time).
        self._pending: list[str] = []
        self._group_key: tuple[str, str] | None = None
        self._group_head: tuple[str, str, str, str] = ("", "", "", "")
        self._group_hl = 0
        self._hl = 2  # 1 is the information source, 2 the information receiver
        self._counts = [0, 0]
        self._amounts = [ZERO, ZERO]
        self._group_counts = [0, 0]
        self._group_amounts = [ZERO, ZERO]
        self._dates: dict[date, str] = {}
        self.date_text = created.strftime("%Y%m%d")
        self._accepted_status = delimiters.component.join(
            (codes.CATEGORY_ACCEPTED, codes.STATUS_ACCEPTED)
        )

    def _d8(self, day: date) -> str:
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = day.strftime("%Y%m%d")
        return text

    def add(self, ack: ClaimAck) -> None:
        claim = ack.claim
        bp = claim.billing_provider
        key = (bp.npi, bp.last_name)
        if key != self._group_key:
            self._close_group()
            self._group_key = key
            self._hl += 1
            self._group_hl = self._hl
            qualifier, ident = ("XX", bp.npi) if bp.npi else ("FI", bp.tin or "UNKNOWN")
            self._group_head = (
                bp.entity_type if bp.entity_type in ("1", "2") else "2",
                _fit(bp.last_name, 60, self.d),
                qualifier,
                _fit(ident, 80, self.d, low=2),
            )
            self._group = SegmentWriter(self._spool_factory(), self.d)
            self._group_counts = [0, 0]
            self._group_amounts = [ZERO, ZERO]
        w = self._group
        assert w is not None
        # The hot path of a big batch: one string per claim, built directly.
        e, end_ = self.d.element, w.end
        self._hl += 1
        patient = claim.patient
        amount, charge = _echoed_charge(claim.total_charge)
        text = (
            f"HL{e}{self._hl}{e}{self._group_hl}{e}PT{end_}"
            f"NM1{e}QC{e}1{e}{_fit(patient.last_name, 60, self.d)}{e}"
            f"{_fit(patient.first_name, 35, self.d, low=0)}{e}"
            f"{_fit(patient.middle_name, 25, self.d, low=0)}{e}{e}{e}MI{e}"
            # NM109 is required here even for a claim rejected for lacking the member id.
            f"{_fit(patient.member_id, 80, self.d, low=2)}{end_}"
            f"TRN{e}2{e}{_fit(claim.claim_id, 50, self.d)}{end_}"
        )
        count = 3
        if ack.accepted:
            text += f"STC{e}{self._accepted_status}{e}{self.date_text}{e}WQ{e}{charge}{end_}"
            count += 1
        else:
            for issue in self._stc_issues(ack.issues):
                statuses = issue.status
                parts = [_stc_composite(w, st) for st in statuses[:3]]
                extra = e.join(parts[1:])
                text += (
                    f"STC{e}{parts[0]}{e}{self.date_text}{e}U{e}{charge}"
                    + (f"{e * 6}{extra}" if extra else "")
                    + end_
                )
                count += 1
        if ack.payer_claim_number:
            text += f"REF{e}1K{e}{ack.payer_claim_number}{end_}"
            count += 1
        if claim.clearinghouse_trace:
            text += f"REF{e}D9{e}{_fit(claim.clearinghouse_trace, 50, self.d)}{end_}"
            count += 1
        if claim.claim_type is ClaimType.INSTITUTIONAL and claim.type_of_bill:
            text += f"REF{e}BLT{e}{claim.type_of_bill}{end_}"
            count += 1
        start, end = _claim_dates(claim, self.received_on)
        if start == end:
            text += f"DTP{e}472{e}D8{e}{self._d8(start)}{end_}"
        else:
            text += f"DTP{e}472{e}RD8{e}{self._d8(start)}-{self._d8(end)}{end_}"
        pending = self._pending
        pending.append(text)
        if len(pending) >= _PENDING_CLAIMS:
            w.out.write("".join(pending))
            pending.clear()
        w.count += count + 1
        idx = 0 if ack.accepted else 1
        self._group_counts[idx] += 1
        self._group_amounts[idx] += amount
        self._counts[idx] += 1
        self._amounts[idx] += amount

    @staticmethod
    def _stc_issues(issues: Iterable[Issue]) -> list[Issue]:
        chosen: list[Issue] = []
        seen: set[tuple[ClaimStatus, ...]] = set()
        for issue in issues:
            if issue.status and issue.status not in seen:
                seen.add(issue.status)
                chosen.append(issue)
        if not chosen:
            chosen.append(
                Issue(
                    "CLAIM-REJECTED",
                    "rejected",
                    0,
                    Scope.CLAIM,
                    status=(
                        ClaimStatus(codes.CATEGORY_UNPROCESSABLE, codes.STATUS_MISSING_OR_INVALID),
                    ),
                )
            )
        return chosen[:MAX_STC_PER_CLAIM]

    def _close_group(self) -> None:
        g = self._group
        if g is None:
            return
        b = self._body
        etype, name, qualifier, ident = self._group_head
        b.seg("HL", str(self._group_hl), "2", "19", "1")
        b.seg("NM1", "85", etype, name, "", "", "", "", qualifier, ident)
        b.seg("TRN", "1", ident[:50])  # TRN02 holds 50, NM109 80
        total = self._group_amounts[0] + self._group_amounts[1]
        action = "WQ" if self._group_counts[0] else "U"
        b.seg("STC", b.comp("A1", "19", "85"), "", action, format_x12_amount(total))
        if self._group_counts[0]:
            b.seg("QTY", "QA", str(self._group_counts[0]))
        if self._group_counts[1]:
            b.seg("QTY", "QC", str(self._group_counts[1]))
        if self._group_counts[0]:
            b.seg("AMT", "YU", format_x12_amount(self._group_amounts[0]))
        if self._group_counts[1]:
            b.seg("AMT", "YY", format_x12_amount(self._group_amounts[1]))
        if self._pending:
            g.out.write("".join(self._pending))
            self._pending.clear()
        g.out.seek(0)
        for chunk in iter(lambda: g.out.read(1 << 16), ""):
            b.out.write(chunk)
        b.count += g.count
        g.out.close()
        self._group = None

    @property
    def claim_count(self) -> int:
        return self._counts[0] + self._counts[1]

    def finish(self, out: TextIO, control: str) -> int:
        """Write the whole transaction set to ``out`` as ``control``; returns its segment count."""
        self._close_group()
        w = SegmentWriter(out, self.d)
        w.seg("ST", "277", control, "005010X214")
        trace = _fit(self.trace, 50, self.d)
        w.seg("BHT", "0085", "08", trace, self.date_text, self.created.strftime("%H%M"), "TH")
        w.seg("HL", "1", "", "20", "1")
        payer_name, payer_id = self.payer
        w.seg(
            "NM1",
            "PR",
            "2",
            _fit(payer_name, 60, self.d),
            "",
            "",
            "",
            "",
            "46",
            _fit(payer_id, 80, self.d, low=2),
        )
        w.seg("TRN", "1", trace)
        w.seg("DTP", "050", "D8", self.received_on.strftime("%Y%m%d"))
        w.seg("DTP", "009", "D8", self.date_text)
        w.seg("HL", "2", "1", "21", "1")
        w.seg(
            "NM1",
            "41",
            "2",
            _fit(self.submitter[0], 60, self.d),
            "",
            "",
            "",
            "",
            "46",
            _fit(self.submitter[1], 80, self.d, low=2),
        )
        w.seg("TRN", "2", trace)
        total = self._amounts[0] + self._amounts[1]
        action = "WQ" if self._counts[0] else "U"
        w.seg("STC", w.comp("A1", "19", "PR"), self.date_text, action, format_x12_amount(total))
        if self._counts[0]:
            w.seg("QTY", "90", str(self._counts[0]))
        if self._counts[1]:
            w.seg("QTY", "AA", str(self._counts[1]))
        if self._counts[0]:
            w.seg("AMT", "YU", format_x12_amount(self._amounts[0]))
        if self._counts[1]:
            w.seg("AMT", "YY", format_x12_amount(self._amounts[1]))
        body = self._body
        body.out.seek(0)
        for chunk in iter(lambda: body.out.read(1 << 16), ""):
            out.write(chunk)
        body.out.close()
        total_segments = w.count + body.count + 1
        w.seg("SE", str(total_segments), control)
        return total_segments


def begin_277ca(out: TextIO, env: Envelope) -> SegmentWriter:
    """ISA and GS of a 277CA interchange; transaction sets follow, then :func:`end_277ca`."""
    w = SegmentWriter(out, env.inbound.delimiters)
    write_isa(w, env)
    _gs(w, env, "HN", "005010X214", None)
    return w


def end_277ca(w: SegmentWriter, env: Envelope, transactions: int) -> None:
    w.seg("GE", str(transactions), str(env.control))
    w.seg("IEA", "1", env.control_text)


# Only the class built once per claim has an __init__ of its own (the others are few).
finish_dataclasses({"__name__": __name__, "ClaimAck": ClaimAck})
