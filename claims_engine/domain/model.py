"""The domain model: immutable claims as the engine understands them.

These are the objects every later stage works on (edits, adjudication, status). They carry the
domain's words, not X12's: a reader in :mod:`claims_engine.x12` maps segments onto them and a writer
maps them back. Every class is a frozen, slotted dataclass; collections are tuples. The module
is compiled with the intake (:mod:`claims_engine.runtime.compiled`), so each class writes its own
``__init__`` (``init=False``): compiled, a native one that the intake calls directly; from
source, :func:`~claims_engine.domain.frozen.finish_dataclasses` checks it against the fields and
puts the faster one of :func:`~claims_engine.domain.frozen.fast_init` in its place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from claims_engine.domain.frozen import finish_dataclasses


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


@dataclass(frozen=True, slots=True, init=False)
class Address:
    line1: str
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""

    def __init__(
        self, line1: str, line2: str = "", city: str = "", state: str = "", postal_code: str = ""
    ) -> None:
        self.line1 = line1  # type: ignore[misc]
        self.line2 = line2  # type: ignore[misc]
        self.city = city  # type: ignore[misc]
        self.state = state  # type: ignore[misc]
        self.postal_code = postal_code  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.line1, self.line2, self.city, self.state, self.postal_code))


@dataclass(frozen=True, slots=True, init=False)
class Party:
    """A named entity identified by a qualifier and id (submitter, receiver, payer)."""

    name: str
    id_qualifier: str
    id: str
    address: Address | None = None

    def __init__(
        self, name: str, id_qualifier: str, id: str, address: Address | None = None
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.id_qualifier = id_qualifier  # type: ignore[misc]
        self.id = id  # type: ignore[misc]
        self.address = address  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.name, self.id_qualifier, self.id, self.address))


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        role: str,
        entity_type: str,
        last_name: str,
        first_name: str = "",
        middle_name: str = "",
        npi: str = "",
        taxonomy: str = "",
        tin: str = "",
        tin_qualifier: str = "",
        address: Address | None = None,
    ) -> None:
        self.role = role  # type: ignore[misc]
        self.entity_type = entity_type  # type: ignore[misc]
        self.last_name = last_name  # type: ignore[misc]
        self.first_name = first_name  # type: ignore[misc]
        self.middle_name = middle_name  # type: ignore[misc]
        self.npi = npi  # type: ignore[misc]
        self.taxonomy = taxonomy  # type: ignore[misc]
        self.tin = tin  # type: ignore[misc]
        self.tin_qualifier = tin_qualifier  # type: ignore[misc]
        self.address = address  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.role,
                self.entity_type,
                self.last_name,
                self.first_name,
                self.middle_name,
                self.npi,
                self.taxonomy,
                self.tin,
                self.tin_qualifier,
                self.address,
            ),
        )

    @property
    def name(self) -> str:
        if self.entity_type == "1" and self.first_name:
            return f"{self.last_name}, {self.first_name}"
        return self.last_name


@dataclass(frozen=True, slots=True, init=False)
class Person:
    """A subscriber or patient as the claim names them."""

    last_name: str
    first_name: str = ""
    middle_name: str = ""
    member_id: str = ""
    birth_date: date | None = None
    sex: str = ""
    address: Address | None = None

    def __init__(
        self,
        last_name: str,
        first_name: str = "",
        middle_name: str = "",
        member_id: str = "",
        birth_date: date | None = None,
        sex: str = "",
        address: Address | None = None,
    ) -> None:
        self.last_name = last_name  # type: ignore[misc]
        self.first_name = first_name  # type: ignore[misc]
        self.middle_name = middle_name  # type: ignore[misc]
        self.member_id = member_id  # type: ignore[misc]
        self.birth_date = birth_date  # type: ignore[misc]
        self.sex = sex  # type: ignore[misc]
        self.address = address  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.last_name,
                self.first_name,
                self.middle_name,
                self.member_id,
                self.birth_date,
                self.sex,
                self.address,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
class Diagnosis:
    """A diagnosis code with its HI qualifier (ABK, ABF ... for ICD-10; BK, BF ... for ICD-9)."""

    qualifier: str
    code: str
    present_on_admission: str = ""

    def __init__(self, qualifier: str, code: str, present_on_admission: str = "") -> None:
        self.qualifier = qualifier  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.present_on_admission = present_on_admission  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.qualifier, self.code, self.present_on_admission))

    @property
    def is_icd10(self) -> bool:
        return self.qualifier.startswith("A")


@dataclass(frozen=True, slots=True, init=False)
class Procedure:
    """A procedure: qualifier (HC HCPCS/CPT, AD CDT, ER, IV, WK, N4 ...), code, modifiers."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...] = ()
    description: str = ""

    def __init__(
        self, qualifier: str, code: str, modifiers: tuple[str, ...] = (), description: str = ""
    ) -> None:
        self.qualifier = qualifier  # type: ignore[misc]
        self.code = code  # type: ignore[misc]
        self.modifiers = modifiers  # type: ignore[misc]
        self.description = description  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.qualifier, self.code, self.modifiers, self.description))


@dataclass(frozen=True, slots=True, init=False)
class Tooth:
    """A tooth named on a dental line (TOO): tooth code and surfaces."""

    code: str
    surfaces: tuple[str, ...] = ()

    def __init__(self, code: str, surfaces: tuple[str, ...] = ()) -> None:
        self.code = code  # type: ignore[misc]
        self.surfaces = surfaces  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.surfaces))


@dataclass(frozen=True, slots=True, init=False)
class Adjustment:
    """A claim adjustment (CAS): group code, reason code, amount, quantity."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None

    def __init__(
        self, group: str, reason: str, amount: Decimal, quantity: Decimal | None = None
    ) -> None:
        self.group = group  # type: ignore[misc]
        self.reason = reason  # type: ignore[misc]
        self.amount = amount  # type: ignore[misc]
        self.quantity = quantity  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.group, self.reason, self.amount, self.quantity))


@dataclass(frozen=True, slots=True, init=False)
class LineAdjudication:
    """What another payer did with a service line (837 loop 2430)."""

    payer_id: str
    paid_amount: Decimal
    procedure: Procedure | None
    paid_units: Decimal
    adjustments: tuple[Adjustment, ...] = ()
    adjudicated_on: date | None = None
    bundled_line_number: str = ""

    def __init__(
        self,
        payer_id: str,
        paid_amount: Decimal,
        procedure: Procedure | None,
        paid_units: Decimal,
        adjustments: tuple[Adjustment, ...] = (),
        adjudicated_on: date | None = None,
        bundled_line_number: str = "",
    ) -> None:
        self.payer_id = payer_id  # type: ignore[misc]
        self.paid_amount = paid_amount  # type: ignore[misc]
        self.procedure = procedure  # type: ignore[misc]
        self.paid_units = paid_units  # type: ignore[misc]
        self.adjustments = adjustments  # type: ignore[misc]
        self.adjudicated_on = adjudicated_on  # type: ignore[misc]
        self.bundled_line_number = bundled_line_number  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.payer_id,
                self.paid_amount,
                self.procedure,
                self.paid_units,
                self.adjustments,
                self.adjudicated_on,
                self.bundled_line_number,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        responsibility: str,
        relationship: str,
        payer_name: str,
        payer_id: str,
        subscriber: Person | None,
        paid_amount: Decimal | None,
        remaining_patient_liability: Decimal | None,
        non_covered_amount: Decimal | None,
        adjustments: tuple[Adjustment, ...] = (),
        adjudicated_on: date | None = None,
        claim_number: str = "",
        insurance_type: str = "",
        claim_filing_indicator: str = "",
    ) -> None:
        self.responsibility = responsibility  # type: ignore[misc]
        self.relationship = relationship  # type: ignore[misc]
        self.payer_name = payer_name  # type: ignore[misc]
        self.payer_id = payer_id  # type: ignore[misc]
        self.subscriber = subscriber  # type: ignore[misc]
        self.paid_amount = paid_amount  # type: ignore[misc]
        self.remaining_patient_liability = remaining_patient_liability  # type: ignore[misc]
        self.non_covered_amount = non_covered_amount  # type: ignore[misc]
        self.adjustments = adjustments  # type: ignore[misc]
        self.adjudicated_on = adjudicated_on  # type: ignore[misc]
        self.claim_number = claim_number  # type: ignore[misc]
        self.insurance_type = insurance_type  # type: ignore[misc]
        self.claim_filing_indicator = claim_filing_indicator  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.responsibility,
                self.relationship,
                self.payer_name,
                self.payer_id,
                self.subscriber,
                self.paid_amount,
                self.remaining_patient_liability,
                self.non_covered_amount,
                self.adjustments,
                self.adjudicated_on,
                self.claim_number,
                self.insurance_type,
                self.claim_filing_indicator,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        number: int,
        charge: Decimal,
        units: Decimal,
        unit_type: str,
        procedure: Procedure | None = None,
        revenue_code: str = "",
        place_of_service: str = "",
        diagnosis_pointers: tuple[int, ...] = (),
        service_from: date | None = None,
        service_to: date | None = None,
        ndc: str = "",
        ndc_quantity: Decimal | None = None,
        ndc_unit: str = "",
        teeth: tuple[Tooth, ...] = (),
        oral_cavity: tuple[str, ...] = (),
        emergency: bool = False,
        control_number: str = "",
        prior_authorization: str = "",
        rendering: Provider | None = None,
        adjudications: tuple[LineAdjudication, ...] = (),
        position: int = 0,
    ) -> None:
        self.number = number  # type: ignore[misc]
        self.charge = charge  # type: ignore[misc]
        self.units = units  # type: ignore[misc]
        self.unit_type = unit_type  # type: ignore[misc]
        self.procedure = procedure  # type: ignore[misc]
        self.revenue_code = revenue_code  # type: ignore[misc]
        self.place_of_service = place_of_service  # type: ignore[misc]
        self.diagnosis_pointers = diagnosis_pointers  # type: ignore[misc]
        self.service_from = service_from  # type: ignore[misc]
        self.service_to = service_to  # type: ignore[misc]
        self.ndc = ndc  # type: ignore[misc]
        self.ndc_quantity = ndc_quantity  # type: ignore[misc]
        self.ndc_unit = ndc_unit  # type: ignore[misc]
        self.teeth = teeth  # type: ignore[misc]
        self.oral_cavity = oral_cavity  # type: ignore[misc]
        self.emergency = emergency  # type: ignore[misc]
        self.control_number = control_number  # type: ignore[misc]
        self.prior_authorization = prior_authorization  # type: ignore[misc]
        self.rendering = rendering  # type: ignore[misc]
        self.adjudications = adjudications  # type: ignore[misc]
        self.position = position  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.number,
                self.charge,
                self.units,
                self.unit_type,
                self.procedure,
                self.revenue_code,
                self.place_of_service,
                self.diagnosis_pointers,
                self.service_from,
                self.service_to,
                self.ndc,
                self.ndc_quantity,
                self.ndc_unit,
                self.teeth,
                self.oral_cavity,
                self.emergency,
                self.control_number,
                self.prior_authorization,
                self.rendering,
                self.adjudications,
                self.position,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        interchange_control: str,
        sender_id: str,
        group_control: str,
        transaction_control: str,
        implementation: str,
        position: int,
        batch_reference: str = "",
    ) -> None:
        self.interchange_control = interchange_control  # type: ignore[misc]
        self.sender_id = sender_id  # type: ignore[misc]
        self.group_control = group_control  # type: ignore[misc]
        self.transaction_control = transaction_control  # type: ignore[misc]
        self.implementation = implementation  # type: ignore[misc]
        self.position = position  # type: ignore[misc]
        self.batch_reference = batch_reference  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.interchange_control,
                self.sender_id,
                self.group_control,
                self.transaction_control,
                self.implementation,
                self.position,
                self.batch_reference,
            ),
        )


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        claim_type: ClaimType,
        claim_id: str,
        total_charge: Decimal,
        facility_code: str,
        facility_qualifier: str,
        frequency_code: str,
        submitter: Party,
        receiver: Party,
        billing_provider: Provider,
        subscriber: Person,
        patient: Person,
        patient_relationship: str,
        payer: Party,
        payer_responsibility: str,
        lines: tuple[ServiceLine, ...],
        source: Source,
        diagnoses: tuple[Diagnosis, ...] = (),
        providers: tuple[Provider, ...] = (),
        other_payers: tuple[OtherPayer, ...] = (),
        group_number: str = "",
        claim_filing_indicator: str = "",
        original_claim_number: str = "",
        prior_authorization: str = "",
        referral_number: str = "",
        statement_from: date | None = None,
        statement_to: date | None = None,
        admission_date: date | None = None,
        discharge_date: date | None = None,
        admission_type: str = "",
        admission_source: str = "",
        patient_status: str = "",
        clearinghouse_trace: str = "",
    ) -> None:
        self.claim_type = claim_type  # type: ignore[misc]
        self.claim_id = claim_id  # type: ignore[misc]
        self.total_charge = total_charge  # type: ignore[misc]
        self.facility_code = facility_code  # type: ignore[misc]
        self.facility_qualifier = facility_qualifier  # type: ignore[misc]
        self.frequency_code = frequency_code  # type: ignore[misc]
        self.submitter = submitter  # type: ignore[misc]
        self.receiver = receiver  # type: ignore[misc]
        self.billing_provider = billing_provider  # type: ignore[misc]
        self.subscriber = subscriber  # type: ignore[misc]
        self.patient = patient  # type: ignore[misc]
        self.patient_relationship = patient_relationship  # type: ignore[misc]
        self.payer = payer  # type: ignore[misc]
        self.payer_responsibility = payer_responsibility  # type: ignore[misc]
        self.lines = lines  # type: ignore[misc]
        self.source = source  # type: ignore[misc]
        self.diagnoses = diagnoses  # type: ignore[misc]
        self.providers = providers  # type: ignore[misc]
        self.other_payers = other_payers  # type: ignore[misc]
        self.group_number = group_number  # type: ignore[misc]
        self.claim_filing_indicator = claim_filing_indicator  # type: ignore[misc]
        self.original_claim_number = original_claim_number  # type: ignore[misc]
        self.prior_authorization = prior_authorization  # type: ignore[misc]
        self.referral_number = referral_number  # type: ignore[misc]
        self.statement_from = statement_from  # type: ignore[misc]
        self.statement_to = statement_to  # type: ignore[misc]
        self.admission_date = admission_date  # type: ignore[misc]
        self.discharge_date = discharge_date  # type: ignore[misc]
        self.admission_type = admission_type  # type: ignore[misc]
        self.admission_source = admission_source  # type: ignore[misc]
        self.patient_status = patient_status  # type: ignore[misc]
        self.clearinghouse_trace = clearinghouse_trace  # type: ignore[misc]

    def __reduce__(self) -> tuple[object, ...]:
        return (
            type(self),
            (
                self.claim_type,
                self.claim_id,
                self.total_charge,
                self.facility_code,
                self.facility_qualifier,
                self.frequency_code,
                self.submitter,
                self.receiver,
                self.billing_provider,
                self.subscriber,
                self.patient,
                self.patient_relationship,
                self.payer,
                self.payer_responsibility,
                self.lines,
                self.source,
                self.diagnoses,
                self.providers,
                self.other_payers,
                self.group_number,
                self.claim_filing_indicator,
                self.original_claim_number,
                self.prior_authorization,
                self.referral_number,
                self.statement_from,
                self.statement_to,
                self.admission_date,
                self.discharge_date,
                self.admission_type,
                self.admission_source,
                self.patient_status,
                self.clearinghouse_trace,
            ),
        )

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


finish_dataclasses(globals())
