"""The 277 writer: the answer to a 276, a claim status response (005010X212).

It mirrors the request: one 277 transaction set for each 276 transaction set, the same HL
hierarchy (renumbered), the parties as the request named them, and for every claim asked about
a claim status tracking loop echoing its trace number::

    ISA GS*HN ST*277 BHT*0010*08
      2000A HL 20  2100A NM1*PR
        2000B HL 21  2100B NM1*41
          2000C HL 19  2100C NM1*1P
            2000D HL 22  2100D NM1*IL
              2200D TRN*2 STC [REF*1K] [REF*BLT] [REF*EJ] ... [DTP*472]   one per claim found
                2220D SVC STC [REF*FJ] DTP*472                             lines asked about
              2000E HL 23  2100E NM1*QC
                2200E TRN*2 STC ...
    SE GE IEA

A claim found is answered with its :class:`ClaimReport`: STC01 the status (category, status
code, entity), STC02 the date it took effect, STC04 the charge, STC05 the paid amount, STC06
the adjudication date, STC08 and STC09 the date and trace number of the 835 that paid it,
STC10 and STC11 further statuses. An inquiry matching no claim is answered ``A4:35`` (claim
not found) from what the request itself said, so that the answer tells nothing the asker did
not know. Which status a claim has is decided by the caller; this module only writes.

There is no free text: the guide leaves STC12 (free-form message text) unused in every loop of
the 005010X212 277, so a claim waiting for information its payer asked for is told by its
statuses alone (P3 with the codes of what is asked, see
:mod:`claims_engine.services.claim_inquiry`), never by the words of the request.

Values are written with the request's delimiters; a value that holds one of them (or a
character outside the X12 sets) has it taken out, since X12 has no escape. Nothing here reads a
clock: ``created`` and the control number are inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TextIO

from claims_engine.domain.issues import ClaimStatus
from claims_engine.domain.money import ZERO, format_x12_amount, format_x12_number
from claims_engine.x12.acks import Envelope, clean_value, write_gs, write_isa
from claims_engine.x12.reader276 import (
    ClaimInquiry,
    Entity,
    InquiryTransaction,
    LineInquiry,
    StatusRequest,
)
from claims_engine.x12.segments import SegmentWriter, d8, period

IMPLEMENTATION = "005010X212"
FUNCTIONAL_ID = "HN"
NOT_FOUND = ClaimStatus("A4", "35")  # Acknowledgement/Not Found; Claim/encounter not found
MAX_STATUSES = 3  # STC01, STC10, STC11


@dataclass(frozen=True, slots=True)
class LineReport:
    """The status of one service line asked about, as found on the claim."""

    line: LineInquiry
    status: ClaimStatus
    charge: Decimal
    paid: Decimal
    units: Decimal
    service_from: date | None
    service_to: date | None
    revenue_code: str = ""


@dataclass(frozen=True, slots=True)
class ClaimReport:
    """What the 277 says about one claim found for an inquiry (see the module docstring)."""

    statuses: tuple[ClaimStatus, ...]  # STC01, then STC10 and STC11
    effective: date  # STC02
    charge: Decimal  # STC04
    paid: Decimal = ZERO  # STC05
    adjudicated_on: date | None = None  # STC06
    remitted_on: date | None = None  # STC08
    remittance_trace: str = ""  # STC09
    payer_claim_number: str = ""  # REF*1K
    patient_control_number: str = ""  # REF*EJ
    bill_type: str = ""  # REF*BLT, institutional claims
    service_from: date | None = None  # DTP*472
    service_to: date | None = None
    lines: tuple[LineReport, ...] = ()


@dataclass(frozen=True, slots=True)
class InquiryReport:
    """The answer to one inquiry: the claims found (none: ``A4:35``)."""

    inquiry: ClaimInquiry
    claims: tuple[ClaimReport, ...] = ()


def write_277(
    out: TextIO,
    request: StatusRequest,
    reports: Sequence[InquiryReport],
    *,
    control: int,
    created: datetime,
) -> None:
    """Write the 277 interchange answering ``request``; ``reports`` answer its inquiries, in
    order. ``control`` is ISA13 (and GS06), ``created`` the time written in the envelope."""
    inquiries = request.inquiries
    if len(reports) != len(inquiries) or any(
        r.inquiry is not q for r, q in zip(reports, inquiries, strict=True)
    ):
        raise ValueError("the reports do not answer the request's inquiries in order")
    w = SegmentWriter(out, request.interchange.delimiters)
    env = Envelope(request.interchange, control, created)
    write_isa(w, env)
    write_gs(w, env, FUNCTIONAL_ID, IMPLEMENTATION)
    first = 0
    for n, transaction in enumerate(request.transactions, start=1):
        count = len(transaction.inquiries)
        _Transaction(w, created).write(transaction, reports[first : first + count], f"{n:04d}")
        first += count
    w.seg("GE", str(len(request.transactions)), str(control))
    w.seg("IEA", "1", env.control_text)


class _Transaction:
    """One 277 transaction set."""

    def __init__(self, w: SegmentWriter, created: datetime) -> None:
        self.w = w
        self.created = created
        self.today = d8(created.date())
        self.d = w.d
        self.hl = 0

    def v(self, value: str, high: int) -> str:
        """A value as it can be written: no delimiter, no space at either end, cut to size."""
        return clean_value(value, self.d).strip()[:high].rstrip()

    def write(
        self,
        transaction: InquiryTransaction,
        reports: Sequence[InquiryReport],
        control: str,
    ) -> None:
        w = self.w
        start = w.count
        w.seg("ST", "277", control, IMPLEMENTATION)
        reference = self.v(transaction.reference, 50) or control
        w.seg("BHT", "0010", "08", reference, self.today, self.created.strftime("%H%M"), "DG")
        # The HL id written for each HL id of the request, level by level.
        written: list[dict[str, int]] = [{}, {}, {}, {}, {}]
        for k, report in enumerate(reports):
            q = report.inquiry
            later = reports[k + 1 :]
            for depth, hl_id in enumerate(q.levels):
                if not hl_id or hl_id in written[depth]:
                    continue
                parent = written[depth - 1][q.levels[depth - 1]] if depth else 0
                self.hl += 1
                written[depth][hl_id] = self.hl
                self._level(depth, q, parent, later)
            for claim in report.claims or (None,):
                self._claim(q, claim)
        w.seg("SE", str(w.count - start + 1), control)

    def _level(
        self, depth: int, q: ClaimInquiry, parent: int, later: Sequence[InquiryReport]
    ) -> None:
        w = self.w
        parent_text = str(parent) if parent else ""
        if depth == 0:
            w.seg("HL", str(self.hl), "", "20", "1")
            self._name("PR", q.source, qualifiers=("PI", "XV"))
        elif depth == 1:
            w.seg("HL", str(self.hl), parent_text, "21", "1")
            self._name("41", q.receiver, qualifiers=("46",))
        elif depth == 2:
            w.seg("HL", str(self.hl), parent_text, "19", "1")
            self._name("1P", q.provider, qualifiers=("XX", "FI", "SV"))
        elif depth == 3:
            # HL04: 1 when dependents of this subscriber follow.
            children = self._has_dependents(q, later)
            w.seg("HL", str(self.hl), parent_text, "22", "1" if children else "0")
            self._name("IL", q.subscriber, qualifiers=("MI", "24", "II"))
        else:
            w.seg("HL", str(self.hl), parent_text, "23")
            dependent = q.dependent
            assert dependent is not None
            w.seg(
                "NM1",
                "QC",
                "1",
                self.v(dependent.last_name, 60) or "UNKNOWN",
                self.v(dependent.first_name, 35),
                self.v(dependent.middle_name, 25),
                "",
                self.v(dependent.suffix, 10),
            )

    @staticmethod
    def _has_dependents(q: ClaimInquiry, later: Sequence[InquiryReport]) -> bool:
        if q.levels[4]:
            return True
        return any(r.inquiry.levels[:4] == q.levels[:4] and r.inquiry.levels[4] for r in later)

    def _name(self, entity: str, party: Entity, *, qualifiers: tuple[str, ...]) -> None:
        # The payer is an organization; only a provider or subscriber name carries a suffix.
        person = party.entity_type == "1" and entity != "PR"
        suffix = self.v(party.suffix, 10) if person and entity in ("1P", "IL") else ""
        qualifier = party.id_qualifier if party.id_qualifier in qualifiers else qualifiers[0]
        self.w.seg(
            "NM1",
            entity,
            "1" if person else "2",
            self.v(party.last_name, 60) or ("" if entity in ("41", "1P") else "UNKNOWN"),
            self.v(party.first_name, 35) if person else "",
            self.v(party.middle_name, 25) if person else "",
            "",
            suffix,
            qualifier,
            self.v(party.id, 80) or "UNKNOWN",
        )

    def _claim(self, q: ClaimInquiry, claim: ClaimReport | None) -> None:
        w = self.w
        w.seg("TRN", "2", self.v(q.trace_number, 50) or "UNKNOWN")
        if claim is None:
            # Only what the asker sent: the same bytes whether or not the claim exists.
            charge = q.total_charge if q.total_charge is not None else ZERO
            w.seg("STC", self._status(NOT_FOUND), self.today, "", format_x12_amount(charge), "0")
            references = (q.payer_claim_number, q.bill_type, q.patient_control_number)
            start, end = q.service_from, q.service_to
        else:
            statuses = claim.statuses[:MAX_STATUSES] or (NOT_FOUND,)
            more = [self._status(s) for s in statuses[1:]]
            w.seg(
                "STC",
                self._status(statuses[0]),
                d8(claim.effective),
                "",
                format_x12_amount(claim.charge),
                format_x12_amount(claim.paid),
                d8(claim.adjudicated_on) if claim.adjudicated_on else "",
                "",
                d8(claim.remitted_on) if claim.remitted_on else "",
                self.v(claim.remittance_trace, 16),
                *more,
            )
            references = (claim.payer_claim_number, claim.bill_type, claim.patient_control_number)
            start, end = claim.service_from, claim.service_to
        for qualifier, value in zip(("1K", "BLT", "EJ"), references, strict=True):
            if self.v(value, 50):
                w.seg("REF", qualifier, self.v(value, 50))
        for qualifier, value in (
            ("XZ", q.prescription_number),
            ("VV", q.voucher),
            ("D9", q.clearinghouse_trace),
        ):
            if self.v(value, 50):
                w.seg("REF", qualifier, self.v(value, 50))
        if start is not None:
            w.seg("DTP", "472", *period(start, end))
        if claim is not None:
            for line in claim.lines:
                self._line(line, claim)

    def _line(self, line: LineReport, claim: ClaimReport) -> None:
        w = self.w
        asked = line.line
        proc = asked.procedure
        service = w.comp(
            self.v(proc.qualifier, 2),
            self.v(proc.code, 48),
            *(self.v(m, 2) for m in proc.modifiers),
        )
        units = asked.units if asked.units is not None else line.units
        w.seg(
            "SVC",
            service,
            format_x12_amount(line.charge),
            format_x12_amount(line.paid),
            self.v(asked.revenue_code or line.revenue_code, 48),
            "",
            "",
            format_x12_number(units),
        )
        w.seg("STC", self._status(line.status), d8(claim.effective))
        if self.v(asked.control_number, 50):
            w.seg("REF", "FJ", self.v(asked.control_number, 50))
        start = line.service_from or asked.service_from or claim.service_from or claim.effective
        end = line.service_to or asked.service_to
        if line.service_from is None and asked.service_from is None:
            end = claim.service_to if claim.service_from is not None else None
        w.seg("DTP", "472", *period(start, end))

    def _status(self, status: ClaimStatus) -> str:
        return self.w.comp(
            self.v(status.category, 3), self.v(status.code, 30), self.v(status.entity, 3)
        )
