"""The domain model: immutable claims as the engine understands them.

These are the objects every later stage works on (edits, adjudication, status). They carry the
domain's words, not X12's: a reader in :mod:`claims_engine.x12` maps segments onto them and a writer
maps them back. Every class is a frozen, slotted dataclass, built by a faster ``__init__`` that
makes the same objects (:mod:`claims_engine.domain.frozen`); collections are tuples.
"""

from __future__ import annotations

from dataclasses import dataclass, is_dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from claims_engine.domain.frozen import fast_init


class ClaimType(StrEnum):
    """Which 837 a claim came from."""

    PROFESSIONAL = "P"
    INSTITUTIONAL = "I"
    DENTAL = "D"


# Implementation guides the reader accepts, by claim type.
IMPLEMENTATIONS: dict[str, ClaimType] = {
    "005010X222A1": ClaimType.PROFESSIONAL,
    "005010X222A2": ClaimType.PROFESSIONAL,
    "005010X223A2": ClaimType.INSTITUTIONAL,
    "005010X223A3": ClaimType.INSTITUTIONAL,
    "005010X224A2": ClaimType.DENTAL,
}


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""


@dataclass(frozen=True, slots=True)
class Party:
    """A named entity identified by a qualifier and id (submitter, receiver, payer)."""

    name: str
    id_qualifier: str
    id: str
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider in one role on a claim or a line.

    ``role`` is the X12 entity identifier code (85 billing, 82 rendering, 71 attending,
    72 operating, 77 service facility, DN referring, DK ordering, DQ supervising, ...).
    ``entity_type`` is 1 for a person, 2 for an organisation.
    """

    role: str
    entity_type: str
    last_name: str
    first_name: str = ""
    middle_name: str = ""
    npi: str = ""
    taxonomy: str = ""
    tin: str = ""
    tin_qualifier: str = ""
    address: Address | None = None

    @property
    def name(self) -> str:
        if self.entity_type == "1" and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name


@dataclass(frozen=True, slots=True)
class Person:
    """A subscriber or patient as the claim names them."""

    last_name: str
    first_name: str = ""
    middle_name: str = ""
    member_id: str = ""
    birth_date: date | None = None
    sex: str = ""
    address: Address | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A diagnosis code with its HI qualifier (ABK, ABF ... for ICD-10; BK, BF ... for ICD-9)."""

    qualifier: str
    code: str
    present_on_admission: str = ""

    @property
    def is_icd10(self) -> bool:
        return self.qualifier.startswith("A")


@dataclass(frozen=True, slots=True)
class Procedure:
    """A procedure: qualifier (HC HCPCS/CPT, AD CDT, ER, IV, WK, N4 ...), code, modifiers."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Tooth:
    """A tooth named on a dental line (TOO): tooth code and surfaces."""

    code: str
    surfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A claim adjustment (CAS): group code, reason code, amount, quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True, slots=True)
class LineAdjudication:
    """What another payer did with a service line (837 loop 2430)."""

    payer_id: str
    paid_amount: Decimal
    procedure: Procedure | None
    paid_units: Decimal
    adjustments: tuple[Adjustment, ...] = ()
    adjudicated_on: date | None = None
    bundled_line_number: str = ""


@dataclass(frozen=True, slots=True)
class OtherPayer:
    """Another payer of the claim (loops 2320 / 2330x), for coordination of benefits.

    ``responsibility`` is SBR01 of 2320: P, S, T ... the other payer's place in the order.
    """

    responsibility: str
    relationship: str
    payer_name: str
    payer_id: str
    subscriber: Person | None
    paid_amount: Decimal | None
    remaining_patient_liability: Decimal | None
    non_covered_amount: Decimal | None
    adjustments: tuple[Adjustment, ...] = ()
    adjudicated_on: date | None = None
    claim_number: str = ""
    insurance_type: str = ""
    claim_filing_indicator: str = ""


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """One service line (loop 2400).

    Professional lines carry ``procedure`` and ``place_of_service``; institutional lines carry
    ``revenue_code`` and usually ``procedure``; dental lines carry ``procedure`` (CDT), ``teeth``
    and ``oral_cavity``. ``position`` is the LX segment's position in its transaction set.
    """

    number: int
    charge: Decimal
    units: Decimal
    unit_type: str
    procedure: Procedure | None = None
    revenue_code: str = ""
    place_of_service: str = ""
    diagnosis_pointers: tuple[int, ...] = ()
    service_from: date | None = None
    service_to: date | None = None
    ndc: str = ""
    ndc_quantity: Decimal | None = None
    ndc_unit: str = ""
    teeth: tuple[Tooth, ...] = ()
    oral_cavity: tuple[str, ...] = ()
    emergency: bool = False
    control_number: str = ""
    prior_authorization: str = ""
    rendering: Provider | None = None
    adjudications: tuple[LineAdjudication, ...] = ()
    position: int = 0


@dataclass(frozen=True, slots=True)
class Source:
    """Where a claim came from: envelope control numbers, the submitter's batch reference
    (BHT03) and the CLM segment's position in its transaction set."""

    interchange_control: str
    sender_id: str
    group_control: str
    transaction_control: str
    implementation: str
    position: int
    batch_reference: str = ""


@dataclass(frozen=True, slots=True)
class Claim:
    """One claim (loop 2300) with everything adjudication and status need.

    ``facility_code`` is CLM05-1: place of service for professional and dental claims, the
    first two digits of the type of bill for institutional ones. ``frequency_code`` is CLM05-3:
    1 original, 7 replacement, 8 void. ``payer_responsibility`` is SBR01 (P, S, T ...): S or
    later means another payer paid first (see ``other_payers``).
    """

    claim_type: ClaimType
    claim_id: str
    total_charge: Decimal
    facility_code: str
    facility_qualifier: str
    frequency_code: str
    submitter: Party
    receiver: Party
    billing_provider: Provider
    subscriber: Person
    patient: Person
    patient_relationship: str
    payer: Party
    payer_responsibility: str
    lines: tuple[ServiceLine, ...]
    source: Source
    diagnoses: tuple[Diagnosis, ...] = ()
    providers: tuple[Provider, ...] = ()
    other_payers: tuple[OtherPayer, ...] = ()
    group_number: str = ""
    claim_filing_indicator: str = ""
    original_claim_number: str = ""
    prior_authorization: str = ""
    referral_number: str = ""
    statement_from: date | None = None
    statement_to: date | None = None
    admission_date: date | None = None
    discharge_date: date | None = None
    admission_type: str = ""
    admission_source: str = ""
    patient_status: str = ""
    clearinghouse_trace: str = ""

    def provider(self, role: str) -> Provider | None:
        """The claim-level provider in ``role`` (82 rendering, 71 attending, 77 facility, ...)."""
        for p in self.providers:
            if p.role == role:
                return p
        return None

    @property
    def rendering_provider(self) -> Provider | None:
        return self.provider("82")

    @property
    def attending_provider(self) -> Provider | None:
        return self.provider("71")

    @property
    def service_facility(self) -> Provider | None:
        return self.provider("77")

    @property
    def type_of_bill(self) -> str:
        """Institutional type of bill (facility code + frequency), empty for other claims."""
        if self.claim_type is ClaimType.INSTITUTIONAL:
            return f"{self.facility_code}{self.frequency_code}"
        return ""

    @property
    def service_from(self) -> date | None:
        """The earliest date of service on the claim (lines, else the statement period)."""
        # A plain loop: the edits and the 277CA ask for this several times for every claim.
        earliest: date | None = None
        for ln in self.lines:
            day = ln.service_from
            if day is not None and (earliest is None or day < earliest):
                earliest = day
        return self.statement_from if earliest is None else earliest

    @property
    def service_to(self) -> date | None:
        """The latest date of service on the claim (lines, else the statement period)."""
        latest: date | None = None
        for ln in self.lines:
            day = ln.service_to or ln.service_from
            if day is not None and (latest is None or day > latest):
                latest = day
        return (self.statement_to or self.statement_from) if latest is None else latest


for _cls in [c for c in list(globals().values()) if is_dataclass(c) and isinstance(c, type)]:
    fast_init(_cls)
