"""The 837 writer: :class:`~claims_engine.domain.model.Claim` objects out as a 005010 837
interchange.

It is the inverse of :mod:`claims_engine.x12.reader837`: every field the reader reads is written
where the implementation guide (TR3) puts it, so reading the output gives back equal claims
(except ``Claim.source`` and ``ServiceLine.position``, which describe where a claim sat in its
input). The layout::

    ISA
      GS   one per run of consecutive claims with the same implementation (837P / I / D)
        ST   up to ``claims_per_transaction`` claims with the same submitter and receiver
          2000A HL 20  one per run of consecutive claims with the same billing provider
            2000B HL 22  one per run with the same subscriber, payer and SBR
              2000C HL 23  one per run with the same patient (when the patient is not the
                           subscriber)
                2300 CLM ...
    IEA

It streams: claims are taken from the iterable one at a time and written at once, so a
generator of a million claims never sits in memory. The output is pure text on the sink; the
clock, control numbers and ids are arguments.

Known limits, all following from what the model keeps: the discharge hour is not kept, so
``DTP*096`` carries :data:`DISCHARGE_HOUR`; a reader takes the discharge date from the
statement period, so ``Claim.discharge_date`` should equal ``statement_to``; the patient of a
2000C loop has no id of its own in 5010 and is written without one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from claims_engine.domain.model import (
    IMPLEMENTATIONS,
    Address,
    Adjustment,
    Claim,
    ClaimType,
    Diagnosis,
    OtherPayer,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
)
from claims_engine.domain.money import format_x12_amount, format_x12_number
from claims_engine.x12.reader837 import (
    CLAIM_PROVIDER_LOOPS,
    PRINCIPAL_QUALIFIERS,
)
from claims_engine.x12.segments import CheckedSegmentWriter, Composite, d8, period
from claims_engine.x12.tokenizer import DEFAULT_DELIMITERS, Delimiters

DEFAULT_IMPLEMENTATIONS = {
    ClaimType.PROFESSIONAL: "005010X222A1",
    ClaimType.INSTITUTIONAL: "005010X223A2",
    ClaimType.DENTAL: "005010X224A2",
}
# The model does not keep the discharge hour (the reader only notes that DTP*096 is there).
DISCHARGE_HOUR = "1200"
# X12 allows at most 12 diagnosis composites in one HI and 6 reason triplets in one CAS.
HI_MAX = 12
CAS_MAX = 6
# PRV01 provider code by the role the provider plays.
PRV_CODES = {"85": "BI", "82": "PE", "71": "AT", "72": "OP", "DN": "RF", "P3": "PC"}


@dataclass(frozen=True, slots=True)
class WriteSummary:
    """What :func:`write_837` wrote."""

    claims: int
    groups: int
    transactions: int
    segments: int


def implementation_of(claim: Claim) -> str:
    """GS08/ST03 for a claim: its source's implementation when that fits its type."""
    impl = claim.source.implementation
    if IMPLEMENTATIONS.get(impl) is claim.claim_type:
        return impl
    return DEFAULT_IMPLEMENTATIONS[claim.claim_type]


def _procedure(proc: Procedure) -> Composite:
    parts = [proc.qualifier, proc.code, *proc.modifiers[:4]]
    if proc.description:
        parts += [""] * (6 - len(parts)) + [proc.description]
    return Composite(parts)


def _diagnosis(dx: Diagnosis) -> Composite:
    if dx.present_on_admission:
        # HI0x-9 is the present-on-admission indicator; components 3-8 are unused here.
        return Composite([dx.qualifier, dx.code, "", "", "", "", "", "", dx.present_on_admission])
    return Composite([dx.qualifier, dx.code])


class _Writer:
    def __init__(
        self,
        out: CheckedSegmentWriter,
        *,
        interchange_control: int,
        created: datetime,
        sender_id: str,
        receiver_id: str,
        claims_per_transaction: int,
        contact_name: str,
        contact_phone: str,
    ) -> None:
        self.s = out
        self.interchange_control = interchange_control
        self.created = created
        self.sender_id = sender_id
        self.receiver_id = receiver_id
        self.per_transaction = claims_per_transaction
        self.contact_name = contact_name
        self.contact_phone = contact_phone
        self.groups = 0
        self.transactions = 0
        self.claims = 0
        # open envelopes
        self.group_impl = ""
        self.group_transactions = 0
        self.in_transaction = False
        self.transaction_control = ""
        self.transaction_claims = 0
        self.submitter: Party | None = None
        self.receiver: Party | None = None
        # hierarchy of the open transaction
        self.hl = 0
        self.billing: Provider | None = None
        self.billing_hl = 0
        self.subscriber_key: tuple[object, ...] | None = None
        self.subscriber_hl = 0
        self.patient_key: tuple[object, ...] | None = None

    # -- envelopes ----------------------------------------------------------------------------
    def open_group(self, impl: str) -> None:
        self.groups += 1
        self.group_impl = impl
        self.group_transactions = 0
        c = self.created
        self.s.put(
            "GS",
            "HC",
            self.sender_id,
            self.receiver_id,
            f"{c.year:04d}{c.month:02d}{c.day:02d}",
            f"{c.hour:02d}{c.minute:02d}",
            str(self.groups),
            "X",
            impl,
        )

    def close_group(self) -> None:
        self.close_transaction()
        if self.group_impl:
            self.s.put("GE", str(self.group_transactions), str(self.groups))
            self.group_impl = ""

    def open_transaction(self, claim: Claim) -> None:
        self.transactions += 1
        self.group_transactions += 1
        self.in_transaction = True
        self.transaction_claims = 0
        self.transaction_control = f"{self.transactions:04d}"
        self.submitter, self.receiver = claim.submitter, claim.receiver
        self.hl = 0
        self.billing = None
        self.subscriber_key = None
        self.patient_key = None
        s, c = self.s, self.created
        s.count = 0
        s.put("ST", "837", self.transaction_control, self.group_impl)
        s.put(
            "BHT",
            "0019",
            "00",
            f"{self.interchange_control}{self.transaction_control}",
            d8(c.date()),
            f"{c.hour:02d}{c.minute:02d}",
            "CH",
        )
        sub = claim.submitter
        s.put("NM1", "41", "2", sub.name, "", "", "", "", sub.id_qualifier, sub.id)
        s.put("PER", "IC", self.contact_name, "TE", self.contact_phone)
        rec = claim.receiver
        s.put("NM1", "40", "2", rec.name, "", "", "", "", rec.id_qualifier, rec.id)

    def close_transaction(self) -> None:
        if self.in_transaction:
            self.s.put("SE", str(self.s.count + 1), self.transaction_control)
            self.in_transaction = False

    # -- claims -------------------------------------------------------------------------------
    def write(self, claim: Claim) -> None:
        self.s.context = f"claim {claim.claim_id!r}"
        impl = implementation_of(claim)
        if impl != self.group_impl:
            self.close_group()
            self.open_group(impl)
        if (
            not self.in_transaction
            or self.transaction_claims >= self.per_transaction
            or claim.submitter != self.submitter
            or claim.receiver != self.receiver
        ):
            self.close_transaction()
            self.open_transaction(claim)
        self.hierarchy(claim)
        self.claim(claim)
        self.transaction_claims += 1
        self.claims += 1

    def hierarchy(self, claim: Claim) -> None:
        s = self.s
        if claim.billing_provider != self.billing:
            self.hl += 1
            self.billing_hl = self.hl
            self.billing = claim.billing_provider
            self.subscriber_key = None
            s.put("HL", str(self.hl), "", "20", "1")
            bp = claim.billing_provider
            if bp.taxonomy:
                s.put("PRV", "BI", "PXC", bp.taxonomy)
            self.provider_name(bp)
            if bp.tin:
                s.put("REF", bp.tin_qualifier or "EI", bp.tin)
        is_self = claim.patient_relationship == "18"
        subscriber_key: tuple[object, ...] = (
            claim.subscriber,
            claim.payer,
            claim.payer_responsibility,
            claim.group_number,
            claim.claim_filing_indicator,
            is_self,
        )
        if subscriber_key != self.subscriber_key:
            self.hl += 1
            self.subscriber_hl = self.hl
            self.subscriber_key = subscriber_key
            self.patient_key = None
            s.put("HL", str(self.hl), str(self.billing_hl), "22", "0" if is_self else "1")
            s.put(
                "SBR",
                claim.payer_responsibility,
                "18" if is_self else "",
                claim.group_number,
                "",
                "",
                "",
                "",
                "",
                claim.claim_filing_indicator,
            )
            self.person("IL", claim.subscriber, member_id=True)
            payer = claim.payer
            s.put("NM1", "PR", "2", payer.name, "", "", "", "", payer.id_qualifier, payer.id)
            self.address(payer.address)
        if not is_self:
            patient_key: tuple[object, ...] = (claim.patient, claim.patient_relationship)
            if patient_key != self.patient_key:
                self.hl += 1
                self.patient_key = patient_key
                s.put("HL", str(self.hl), str(self.subscriber_hl), "23", "0")
                s.put("PAT", claim.patient_relationship)
                self.person("QC", claim.patient, member_id=False)

    def claim(self, c: Claim) -> None:
        s = self.s
        kind = c.claim_type
        inst = kind is ClaimType.INSTITUTIONAL
        location = Composite([c.facility_code, c.facility_qualifier, c.frequency_code])
        amount = format_x12_amount(c.total_charge)
        if inst:
            # CLM06 is not used on the 837I; CLM07-09: assigned, benefits assigned, release.
            s.put("CLM", c.claim_id, amount, "", "", location, "", "A", "Y", "Y")
        else:
            s.put("CLM", c.claim_id, amount, "", "", location, "Y", "A", "Y", "Y")
        if inst:
            if c.discharge_date is not None:
                s.put("DTP", "096", "TM", DISCHARGE_HOUR)
            if c.statement_from is not None:
                end = c.statement_to or c.statement_from
                # The 837I sends the statement period as a range even when it is one day.
                s.put("DTP", "434", "RD8", f"{d8(c.statement_from)}-{d8(end)}")
            if c.admission_date is not None:
                s.put("DTP", "435", "D8", d8(c.admission_date))
            s.put("CL1", c.admission_type, c.admission_source, c.patient_status)
        elif kind is ClaimType.PROFESSIONAL:
            if c.admission_date is not None:
                s.put("DTP", "435", "D8", d8(c.admission_date))
            if c.discharge_date is not None:
                s.put("DTP", "096", "D8", d8(c.discharge_date))
        for qual, value in (
            ("9F", c.referral_number),
            ("G1", c.prior_authorization),
            ("F8", c.original_claim_number),
            ("D9", c.clearinghouse_trace),
        ):
            if value:
                s.put("REF", qual, value)
        self.diagnoses(c.diagnoses, inst)
        loops = CLAIM_PROVIDER_LOOPS[kind]
        for p in sorted(c.providers, key=lambda p: loops.get(p.role, "2310Z")):
            self.provider_name(p)
            if p.taxonomy:
                s.put("PRV", PRV_CODES.get(p.role, "PE"), "PXC", p.taxonomy)
            if p.tin:
                s.put("REF", p.tin_qualifier or "EI", p.tin)
        for other in c.other_payers:
            self.other_payer(other, kind)
        for i, line in enumerate(c.lines, start=1):
            self.line(i, line, kind)

    def diagnoses(self, diagnoses: Sequence[Diagnosis], institutional: bool) -> None:
        if not diagnoses:
            return
        if not institutional:
            for start in range(0, len(diagnoses), HI_MAX):
                chunk = diagnoses[start : start + HI_MAX]
                self.s.put("HI", *(_diagnosis(dx) for dx in chunk))
            return
        # The 837I gives each kind of diagnosis (principal, admitting, reason for visit,
        # external cause, other) its own HI segment; the principal one stands alone.
        run: list[Diagnosis] = []
        for dx in diagnoses:
            limit = 1 if dx.qualifier in PRINCIPAL_QUALIFIERS else HI_MAX
            if run and (run[0].qualifier != dx.qualifier or len(run) >= limit):
                self.s.put("HI", *(_diagnosis(d) for d in run))
                run = []
            run.append(dx)
        if run:
            self.s.put("HI", *(_diagnosis(d) for d in run))

    def other_payer(self, o: OtherPayer, kind: ClaimType) -> None:
        s = self.s
        s.put(
            "SBR",
            o.responsibility,
            o.relationship,
            "",
            "",
            o.insurance_type,
            "",
            "",
            "",
            o.claim_filing_indicator,
        )
        self.adjustments(o.adjustments)
        for qual, value in (
            ("D", o.paid_amount),
            ("A8", o.non_covered_amount),
            ("EAF", o.remaining_patient_liability),
        ):
            if value is not None:
                s.put("AMT", qual, format_x12_amount(value))
        # OI03 benefits assigned, OI04 (837P only) patient signature on file, OI06 release.
        s.put("OI", "", "", "Y", "P" if kind is ClaimType.PROFESSIONAL else "", "", "Y")
        if o.subscriber is not None:
            sub = o.subscriber
            s.put(
                "NM1",
                "IL",
                "1",
                sub.last_name,
                sub.first_name,
                sub.middle_name,
                "",
                "",
                "MI",
                sub.member_id,
            )
            self.address(sub.address)
        s.put("NM1", "PR", "2", o.payer_name, "", "", "", "", "PI", o.payer_id)
        if o.adjudicated_on is not None:
            s.put("DTP", "573", "D8", d8(o.adjudicated_on))
        if o.claim_number:
            s.put("REF", "F8", o.claim_number)

    def line(self, number: int, ln: ServiceLine, kind: ClaimType) -> None:
        s = self.s
        s.put("LX", str(number))
        pointers = Composite([str(p) for p in ln.diagnosis_pointers])
        proc = _procedure(ln.procedure) if ln.procedure is not None else Composite()
        charge = format_x12_amount(ln.charge)
        units = format_x12_number(ln.units)
        if kind is ClaimType.PROFESSIONAL:
            emergency = "Y" if ln.emergency else ""
            s.put(
                "SV1", proc, charge, ln.unit_type, units, ln.place_of_service, "", pointers, "",
                emergency,
            )  # fmt: skip
        elif kind is ClaimType.INSTITUTIONAL:
            s.put("SV2", ln.revenue_code, proc, charge, ln.unit_type, units)
        else:
            cavity = Composite(ln.oral_cavity)
            # SV306 is sent only when more than one procedure was done (the reader's default).
            count = units if ln.units != 1 else ""
            s.put(
                "SV3", proc, charge, ln.place_of_service, cavity, "", count, "", "", "", "",
                pointers,
            )  # fmt: skip
            for tooth in ln.teeth:
                s.put("TOO", "JP", tooth.code, Composite(tooth.surfaces))
        if ln.service_from is not None:
            fmt, value = period(ln.service_from, ln.service_to)
            s.put("DTP", "472", fmt, value)
        if ln.prior_authorization:
            s.put("REF", "G1", ln.prior_authorization)
        if ln.control_number:
            s.put("REF", "6R", ln.control_number)
        if ln.ndc:
            s.put("LIN", "", "N4", ln.ndc)
            quantity = format_x12_number(ln.ndc_quantity) if ln.ndc_quantity is not None else ""
            s.put("CTP", "", "", "", quantity, Composite([ln.ndc_unit]))
        if ln.rendering is not None:
            r = ln.rendering
            self.provider_name(r)
            if r.taxonomy:
                s.put("PRV", PRV_CODES.get(r.role, "PE"), "PXC", r.taxonomy)
        for adj in ln.adjudications:
            paid_proc = _procedure(adj.procedure) if adj.procedure is not None else Composite()
            paid = format_x12_amount(adj.paid_amount)
            paid_units = format_x12_number(adj.paid_units)
            # The 837I asks for the revenue code in SVD04; the other guides leave it unused.
            revenue = ln.revenue_code if kind is ClaimType.INSTITUTIONAL else ""
            s.put(
                "SVD", adj.payer_id, paid, paid_proc, revenue, paid_units, adj.bundled_line_number
            )
            self.adjustments(adj.adjustments)
            if adj.adjudicated_on is not None:
                s.put("DTP", "573", "D8", d8(adj.adjudicated_on))

    # -- parts --------------------------------------------------------------------------------
    def adjustments(self, adjustments: Sequence[Adjustment]) -> None:
        """CAS segments: one per run of the same group code, at most six reasons each."""
        run: list[Adjustment] = []
        for adj in adjustments:
            if run and (run[0].group != adj.group or len(run) >= CAS_MAX):
                self._cas(run)
                run = []
            run.append(adj)
        if run:
            self._cas(run)

    def _cas(self, run: Sequence[Adjustment]) -> None:
        elements: list[str] = ["CAS", run[0].group]
        for adj in run:
            quantity = format_x12_number(adj.quantity) if adj.quantity is not None else ""
            elements += [adj.reason, format_x12_amount(adj.amount), quantity]
        self.s.put(*elements)

    def provider_name(self, p: Provider) -> None:
        qualifier = "XX" if p.npi else ""
        self.s.put(
            "NM1",
            p.role,
            p.entity_type,
            p.last_name,
            p.first_name,
            p.middle_name,
            "",
            "",
            qualifier,
            p.npi,
        )
        self.address(p.address)

    def person(self, role: str, p: Person, *, member_id: bool) -> None:
        s = self.s
        qualifier, ident = ("MI", p.member_id) if member_id else ("", "")
        s.put("NM1", role, "1", p.last_name, p.first_name, p.middle_name, "", "", qualifier, ident)
        self.address(p.address)
        if p.birth_date is not None or p.sex:
            birth = d8(p.birth_date) if p.birth_date is not None else ""
            s.put("DMG", "D8", birth, p.sex)

    def address(self, a: Address | None) -> None:
        if a is None:
            return
        self.s.put("N3", a.line1, a.line2)
        if a.city or a.state or a.postal_code:
            self.s.put("N4", a.city, a.state, a.postal_code)


def _isa(
    d: Delimiters,
    *,
    control: int,
    created: datetime,
    sender_qualifier: str,
    sender_id: str,
    receiver_qualifier: str,
    receiver_id: str,
    ack_requested: bool,
    usage: str,
) -> str:
    c = created
    fields = [
        "ISA",
        "00",
        " " * 10,
        "00",
        " " * 10,
        sender_qualifier,
        sender_id.ljust(15),
        receiver_qualifier,
        receiver_id.ljust(15),
        f"{c.year % 100:02d}{c.month:02d}{c.day:02d}",
        f"{c.hour:02d}{c.minute:02d}",
        d.repetition,
        "00501",
        f"{control:09d}",
        "1" if ack_requested else "0",
        usage,
        d.component,
    ]
    return d.element.join(fields)


def write_837(
    claims: Iterable[Claim],
    out: TextIO,
    *,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    interchange_control: int,
    created: datetime,
    sender_id: str,
    receiver_id: str,
    sender_qualifier: str = "ZZ",
    receiver_qualifier: str = "ZZ",
    claims_per_transaction: int = 5000,
    usage: str = "P",
    ack_requested: bool = False,
    contact_name: str = "EDI DEPARTMENT",
    contact_phone: str = "8005550100",
) -> WriteSummary:
    """Write ``claims`` to ``out`` as one 837 interchange (see the module docstring).

    ``created`` gives the ISA/GS/BHT dates and times; ``interchange_control`` is ISA13 (1 to
    999999999); ``contact_name`` and ``contact_phone`` fill the submitter's PER (loop 1000A).
    Raises :class:`ValueError` for arguments an interchange cannot carry and for a claim value
    that holds one of the delimiters; what was written before is then incomplete.
    """
    problem = delimiters.check()
    if problem is not None:
        raise ValueError(f"delimiters: {problem}")
    if len(delimiters.repetition) != 1 or delimiters.repetition.isalnum():
        raise ValueError("a 005010 interchange needs a repetition separator (ISA11)")
    if not 1 <= interchange_control <= 999_999_999:
        raise ValueError(f"interchange control {interchange_control} is not 1 to 999999999")
    for what, value in (("sender id", sender_id), ("receiver id", receiver_id)):
        if not 1 <= len(value) <= 15:
            raise ValueError(f"{what} {value!r} must be 1 to 15 characters")
    if usage not in ("P", "T"):
        raise ValueError(f"usage {usage!r} is not P (production) or T (test)")
    if claims_per_transaction < 1:
        raise ValueError("claims_per_transaction must be at least 1")
    segments = CheckedSegmentWriter(out, delimiters)
    segments.context = "envelope"
    for value in (sender_id, receiver_id, sender_qualifier, receiver_qualifier):
        segments.value(value)
    segments.raw(
        _isa(
            delimiters,
            control=interchange_control,
            created=created,
            sender_qualifier=sender_qualifier,
            sender_id=sender_id,
            receiver_qualifier=receiver_qualifier,
            receiver_id=receiver_id,
            ack_requested=ack_requested,
            usage=usage,
        )
    )
    writer = _Writer(
        segments,
        interchange_control=interchange_control,
        created=created,
        sender_id=sender_id,
        receiver_id=receiver_id,
        claims_per_transaction=claims_per_transaction,
        contact_name=contact_name,
        contact_phone=contact_phone,
    )
    for claim in claims:
        writer.write(claim)
    writer.close_group()
    segments.put("IEA", str(writer.groups), f"{interchange_control:09d}")
    return WriteSummary(writer.claims, writer.groups, writer.transactions, segments.total)


__all__ = [
    "DEFAULT_IMPLEMENTATIONS",
    "WriteSummary",
    "implementation_of",
    "write_837",
]
