"""Synthetic claim batches: realistic professional, institutional and dental claims.

This module owns the test-data generator. It is pure: :func:`generate_claims` takes a seed, the
reference records (:mod:`claims_engine.domain.reference_data`) and the date the batch is made on,
and yields :class:`~claims_engine.domain.model.Claim` objects one at a time from its own
``random.Random(seed)``, so the same arguments always give the same claims and a batch of a million
claims is never held in memory.

What "realistic" means here: CPT/HCPCS, revenue and CDT codes with charges around what US
providers bill, ICD-10 diagnoses that fit the services (written without the dot, as X12 wants
them) and diagnosis pointers to them, dates of service in a window ending at ``as_of`` and
never before the patient was born, a Zipf-like skew so some members come back several times,
replacement claims (frequency 7) now and then, and secondary claims whose primary payer's
adjustments balance (charge = paid + adjustments, per line and per claim).

Every generated claim reads back from an 837 written by :mod:`claims_engine.x12.writer837`
without a single issue; the unit tests hold it to that.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from random import Random
from typing import Protocol

from claims_engine.domain.model import (
    Address,
    Adjustment,
    Claim,
    ClaimType,
    Diagnosis,
    LineAdjudication,
    OtherPayer,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
    Source,
    Tooth,
)
from claims_engine.domain.money import money
from claims_engine.domain.reference_data import Member, ProviderRecord
from claims_engine.x12.writer837 import DEFAULT_IMPLEMENTATIONS

DEFAULT_MIX: Mapping[ClaimType, int] = {
    ClaimType.PROFESSIONAL: 70,
    ClaimType.INSTITUTIONAL: 20,
    ClaimType.DENTAL: 10,
}
DEFAULT_PAYER = Party(
    "ACME HEALTH PLAN", "PI", "ACMEHP01", Address("PO BOX 18200", "", "COLUMBUS", "OH", "43218")
)
DEFAULT_SUBMITTER = Party("BUCKEYE CLAIMS EXCHANGE", "46", "BCX0042")
DEFAULT_RECEIVER = Party("ACME HEALTH PLAN", "46", "ACMEHP01")
DEFAULT_DENTAL_PLANS = frozenset({"DENTAL-BASIC"})
# SBR09 claim filing indicator by plan: 12 PPO, HM HMO, CI commercial.
FILING_INDICATORS = {"PPO-GOLD": "12", "HMO-SILVER": "HM"}
# Primary payers of secondary claims (coordination of benefits): name, payer id, id prefix.
OTHER_PAYERS = (
    ("NORTHWIND MUTUAL INSURANCE", "NWM01", "NWM"),
    ("CONTOSO CASUALTY HEALTH", "CCH77", "CCH"),
    ("FABRIKAM BENEFIT TRUST", "FBT300", "FBT"),
)
LINE_COUNT_WEIGHTS = (36, 27, 17, 10, 6, 4)  # 1 to 6 lines, most claims have 1-3
IN_NETWORK_SHARE = 90  # percent of claims that go to an in-network provider
SECONDARY_SHARE = 7  # percent of claims where another payer paid first
REPLACEMENT_SHARE = 3  # percent of claims that replace an earlier one (frequency 7)
ZIPF_EXPONENT = 1.1


@dataclass(frozen=True, slots=True)
class _Service:
    """A billable code: base charge in cents, fitting diagnoses, modifiers, drug."""

    code: str
    cents: int
    dx: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    units: tuple[int, int] = (1, 1)
    ndc: str = ""
    ndc_unit: str = ""
    revenue: str = ""


def _s(code: str, cents: int, *dx: str, **kw: object) -> _Service:
    return _Service(code, cents, tuple(dx), **kw)  # type: ignore[arg-type]


# -- professional -----------------------------------------------------------------------------
GENERAL_DX = (
    "I10", "E119", "E785", "J069", "M545", "R051", "K219", "F419", "J309", "N390", "R109",
    "E039", "F329", "G4700", "L309", "J0190", "R5383", "M25561", "E6601", "J45909",
)  # fmt: skip
OFFICE_NEW = tuple(
    _s(c, p) for c, p in (("99202", 11000), ("99203", 17000), ("99204", 25500), ("99205", 33000))
)
OFFICE_EST = tuple(
    _s(c, p)
    for c, p in (
        ("99211", 5500), ("99212", 9500), ("99213", 14000), ("99214", 20500), ("99215", 27500),
    )
)  # fmt: skip
OFFICE_EST_WEIGHTS = (4, 18, 45, 27, 6)
ER_VISITS = tuple(
    _s(c, p)
    for c, p in (
        ("99281", 12000), ("99282", 22000), ("99283", 38000), ("99284", 62000), ("99285", 95000),
    )
)  # fmt: skip
INPATIENT_VISITS = (_s("99231", 9500), _s("99232", 14500), _s("99233", 21000))
INPATIENT_ADMIT = (_s("99221", 21000), _s("99222", 29000), _s("99223", 41000))
# Preventive medicine by age band: (upper age, new patient code, established code).
PREVENTIVE = (
    (1, "99381", "99391"), (5, "99382", "99392"), (12, "99383", "99393"),
    (18, "99384", "99394"), (40, "99385", "99395"), (65, "99386", "99396"),
    (200, "99387", "99397"),
)  # fmt: skip
LABS = (
    _s("80053", 6500, "E119", "I10", "R5383", "N179"),
    _s("85025", 3800, "D649", "R5383", "J069"),
    _s("80061", 5500, "E785", "I10"),
    _s("83036", 4500, "E119", "R7303"),
    _s("81002", 1500, "N390", "R319"),
)
VENIPUNCTURE = _s("36415", 1800)
IMAGING = (
    _s("71046", 12000, "R051", "J189", "R0602"),
    _s("73030", 10500, "M25511", "M19011"),
    _s("73562", 11500, "M25561", "M1711"),
)
VACCINES = (_s("90686", 4200, "Z23"), _s("90715", 6800, "Z23"))
VACCINE_ADMIN = _s("90471", 3500, "Z23")
PROCEDURES = (
    _s("20610", 18500, "M1711", "M170", "M25561"),
    _s("11721", 8500, "B351"),
    _s("17110", 15000, "B079"),
    _s("69210", 7500, "H6123", "H6121"),
    _s("93000", 6500, "R002", "I10", "R0789"),
    _s("97110", 7000, "M545", "M6281", units=(1, 4)),
)
# Drugs given in the office, billed by HCPCS with their NDC (loop 2410).
DRUGS = {
    "20610": _s("J3301", 2500, "M1711", units=(1, 4), ndc="00003029305", ndc_unit="ML"),
    "ER": _s("J1885", 1900, "R52", units=(1, 2), ndc="00409379501", ndc_unit="ML"),
}
PEDIATRIC_DX = ("J069", "H6690", "J029", "L209", "R509", "J45909")
# (place of service, weight)
PLACES = (("11", 70), ("02", 7), ("22", 10), ("23", 8), ("21", 5))

# -- institutional ----------------------------------------------------------------------------
INPATIENT_CASES = (
    # principal dx, admitting dx, surgical (needs the OR and an operating physician)
    ("J189", "R0602", False),
    ("I214", "R079", False),
    ("N390", "R509", False),
    ("A419", "R6520", False),
    ("I480", "R002", False),
    ("J441", "R0602", False),
    ("K3580", "R1031", True),
    ("M1711", "M25561", True),
    ("S72001A", "S72001A", True),
)
INPATIENT_OTHER_DX = ("I10", "E119", "E785", "N179", "E871", "D649", "Z7901", "F17210")
OUTPATIENT_CASES = {
    "er": (
        ("R079", "R079"),
        ("S0990XA", "S0990XA"),
        ("R1031", "R1031"),
        ("J069", "R509"),
        ("S93401A", "M25571"),
        ("N390", "R3000"),
    ),
    "lab": (("E119", "E119"), ("E785", "E785"), ("D649", "R5383")),
    "imaging": (("R051", "R051"), ("M25511", "M25511"), ("M25561", "M25561")),
    "surgery": (("K635", "Z1211"), ("H2511", "H2511"), ("M2341", "M25561")),
}
OUTPATIENT_SURGERY = {
    "K635": _s("45385", 320000, revenue="0360"),
    "H2511": _s("66984", 450000, revenue="0360"),
    "M2341": _s("29881", 610000, revenue="0360"),
}
ER_FACILITY = tuple(
    _s(c, p, revenue="0450")
    for c, p in (
        ("99281", 45000), ("99282", 80000), ("99283", 140000), ("99284", 230000),
        ("99285", 360000),
    )
)  # fmt: skip
FACILITY_LABS = (
    *(_s(s.code, s.cents * 3, *s.dx, revenue="0300") for s in LABS),
    _s("36415", 4500, revenue="0300"),
)
FACILITY_IMAGING = tuple(_s(s.code, s.cents * 4, *s.dx, revenue="0320") for s in IMAGING)
ER_DRUG = _s("J1885", 6500, units=(1, 2), ndc="00409379501", ndc_unit="ML", revenue="0636")

# -- dental -----------------------------------------------------------------------------------
DENTAL_FEES = {
    "D0120": 6500, "D0140": 8500, "D0150": 11000, "D0210": 15000, "D0274": 7500,
    "D1110": 12000, "D1120": 8500, "D1208": 4500, "D2140": 16000, "D2330": 18000,
    "D2740": 120000, "D3330": 130000, "D7140": 22000, "D4341": 25000,
}  # fmt: skip
POSTERIOR_TEETH = (1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 28, 29, 30, 31, 32)
ANTERIOR_TEETH = (6, 7, 8, 9, 10, 11, 22, 23, 24, 25, 26, 27)
MOLARS = (2, 3, 14, 15, 18, 19, 30, 31)
QUADRANTS = ("10", "20", "30", "40")
DENTAL_DX = {"D2140": "K0262", "D2330": "K0252", "D2740": "K0381", "D3330": "K0410"}
DENTAL_DX.update({"D7140": "K0889", "D4341": "K0530"})


@dataclass(slots=True)
class _ClaimDraft:
    """A claim under construction: lines keep the diagnoses they are for until the end."""

    diagnoses: list[str] = field(default_factory=list)
    lines: list[tuple[ServiceLine, tuple[str, ...]]] = field(default_factory=list)
    limit: int = 12

    def dx_index(self, code: str) -> int | None:
        if code in self.diagnoses:
            return self.diagnoses.index(code) + 1
        if len(self.diagnoses) >= self.limit:
            return None
        self.diagnoses.append(code)
        return len(self.diagnoses)

    def add(self, line: ServiceLine, dx: Sequence[str] = ()) -> None:
        self.lines.append((line, tuple(dx)))

    def finish(self) -> tuple[ServiceLine, ...]:
        out: list[ServiceLine] = []
        for i, (line, dx) in enumerate(self.lines, start=1):
            pointers: list[int] = []
            for code in dx:
                idx = self.dx_index(code)
                if idx is not None and idx not in pointers and len(pointers) < 4:
                    pointers.append(idx)
            out.append(_replace_line(line, i, tuple(pointers)))
        return tuple(out)


def _replace_line(line: ServiceLine, number: int, pointers: tuple[int, ...]) -> ServiceLine:
    return replace(line, number=number, diagnosis_pointers=pointers)


class _Picker:
    """Weighted choice with precomputed cumulative weights (bisect, not a scan per draw)."""

    def __init__(self, items: Sequence[Member], weights: Sequence[float]) -> None:
        self.items = items
        self.cumulative = list(itertools.accumulate(weights))

    def pick(self, rng: Random) -> Member:
        x = rng.random() * self.cumulative[-1]
        return self.items[bisect.bisect_right(self.cumulative, x)]


def _zipf(rng: Random, members: Sequence[Member]) -> _Picker:
    order = list(members)
    rng.shuffle(order)
    return _Picker(order, [1.0 / (rank**ZIPF_EXPONENT) for rank in range(1, len(order) + 1)])


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


class _Generator:
    def __init__(
        self,
        rng: Random,
        members: Sequence[Member],
        providers: Sequence[ProviderRecord],
        *,
        as_of: date,
        window_days: int,
        mix: Mapping[ClaimType, int],
        payer: Party,
        submitter: Party,
        receiver: Party,
        dental_plans: frozenset[str],
    ) -> None:
        self.rng = rng
        self.as_of = as_of
        self.window_start = as_of - timedelta(days=window_days - 1)
        self.payer = payer
        self.submitter = submitter
        self.receiver = receiver
        self.by_id = {m.member_id: m for m in members}
        self.families: dict[str, list[Member]] = {}
        for m in members:
            self.families.setdefault(m.family_id, []).append(m)
        self.by_npi = {p.npi: p for p in providers}
        self.groups: dict[str, list[ProviderRecord]] = {}
        for p in providers:
            if p.group_npi:
                self.groups.setdefault(p.group_npi, []).append(p)
        self.billers = {
            "professional": [
                p
                for p in providers
                if p.kind == "professional" and (not p.is_person or not p.group_npi)
            ],
            "institutional": [p for p in providers if p.kind == "institutional"],
            "dental": [p for p in providers if p.kind == "dental" and not p.group_npi],
        }
        medical = [m for m in members if m.plan_id not in dental_plans]
        dental = [m for m in members if m.plan_id in dental_plans]
        self.types: list[ClaimType] = []
        weights: list[int] = []
        for kind, weight in mix.items():
            kind = ClaimType(kind)
            pool = dental if kind is ClaimType.DENTAL else medical
            billers = self.billers[_KIND_NAMES[kind]]
            if weight <= 0:
                continue
            if not pool or not billers:
                raise ValueError(f"no members or providers for {kind.name.lower()} claims")
            self.types.append(kind)
            weights.append(weight)
        if not self.types:
            raise ValueError("the claim type mix has no positive weight")
        self.type_cumulative = list(itertools.accumulate(weights))
        self.medical = _zipf(rng, medical) if medical else None
        self.dental = _zipf(rng, dental) if dental else None
        self.claim_numbers: dict[str, int] = {}
        self.icn = rng.randint(10_000_000, 90_000_000)

    # -- shared -------------------------------------------------------------------------------
    def pick_type(self) -> ClaimType:
        x = self.rng.random() * self.type_cumulative[-1]
        return self.types[bisect.bisect_right(self.type_cumulative, x)]

    def price(self, cents: int) -> Decimal:
        """A charge around ``cents``: providers' charge masters differ by -15% to +20%."""
        return money(Decimal(cents * self.rng.randint(85, 120) // 100).scaleb(-2))

    def service_day(self, member: Member, length: int = 0) -> date:
        """A day in the window (and in coverage when possible) with ``length`` days after it."""
        start = max(self.window_start, member.birth_date, member.effective_from)
        end = self.as_of - timedelta(days=length)
        if member.effective_through is not None:
            end = min(end, member.effective_through)
        if end < start:
            # Coverage and window do not meet: bill anyway (adjudication will deny it).
            start = max(self.window_start, member.birth_date)
            end = max(start, self.as_of - timedelta(days=length))
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def biller(self, kind: str, member: Member) -> ProviderRecord:
        pool = self.billers[kind]
        if self.rng.randrange(100) < IN_NETWORK_SHARE:
            in_network = [p for p in pool if p.in_network(member.plan_id)]
            if in_network:
                pool = in_network
        return self.rng.choice(pool)

    def claim_id(self, billing: ProviderRecord) -> str:
        n = self.claim_numbers.get(billing.npi)
        if n is None:
            n = self.rng.randint(100_000, 800_000)
        self.claim_numbers[billing.npi] = n + 1
        return f"PCN{n}"

    def provider(self, record: ProviderRecord, role: str, *, taxonomy: bool = True) -> Provider:
        return Provider(
            role=role,
            entity_type=record.entity_type,
            last_name=record.last_or_org_name,
            first_name=record.first_name,
            npi=record.npi,
            taxonomy=record.taxonomy if taxonomy else "",
        )

    def billing_provider(self, record: ProviderRecord) -> Provider:
        return Provider(
            role="85",
            entity_type=record.entity_type,
            last_name=record.last_or_org_name,
            first_name=record.first_name,
            npi=record.npi,
            taxonomy=record.taxonomy,
            tin=record.tin,
            tin_qualifier="EI",
            address=record.address,
        )

    def rendering_for(self, billing: ProviderRecord) -> ProviderRecord | None:
        """Who does the work when an organisation bills: one of its people."""
        if billing.is_person:
            return None
        people = self.groups.get(billing.npi)
        return self.rng.choice(people) if people else None

    def people(self, member: Member) -> tuple[Person, Person, str]:
        """Subscriber, patient and the patient's relationship to the subscriber."""
        holder = self.by_id[member.subscriber_id]
        patient = Person(
            last_name=member.last_name,
            first_name=member.first_name,
            # A 5010 patient is known by the subscriber's id (they have none of their own).
            member_id=holder.member_id,
            birth_date=member.birth_date,
            sex=member.sex,
            address=member.address,
        )
        if member.is_subscriber:
            return patient, patient, "18"
        # The TR3 sends the subscriber's address and demographics only when they are the patient.
        subscriber = Person(holder.last_name, holder.first_name, member_id=holder.member_id)
        return subscriber, patient, member.relationship

    def base_claim(
        self,
        kind: ClaimType,
        member: Member,
        billing: ProviderRecord,
        lines: tuple[ServiceLine, ...],
        diagnoses: tuple[Diagnosis, ...],
        providers: tuple[Provider, ...],
        facility_code: str,
        service_day: date,
        **extra: object,
    ) -> Claim:
        rng = self.rng
        subscriber, patient, relationship = self.people(member)
        frequency, original = "1", ""
        if rng.randrange(100) < REPLACEMENT_SHARE:
            frequency = "7"
            self.icn += rng.randint(1, 500)
            original = f"{service_day.year}{self.icn:09d}"
        other_payers: tuple[OtherPayer, ...] = ()
        responsibility = "P"
        if rng.randrange(100) < SECONDARY_SHARE:
            responsibility = "S"
            other_payers, lines = self.primary_payer(member, patient, lines, service_day)
        claim = Claim(
            claim_type=kind,
            claim_id=self.claim_id(billing),
            total_charge=sum((ln.charge for ln in lines), Decimal("0.00")),
            facility_code=facility_code,
            facility_qualifier="A" if kind is ClaimType.INSTITUTIONAL else "B",
            frequency_code=frequency,
            submitter=self.submitter,
            receiver=self.receiver,
            billing_provider=self.billing_provider(billing),
            subscriber=subscriber,
            patient=patient,
            patient_relationship=relationship,
            payer=self.payer,
            payer_responsibility=responsibility,
            lines=lines,
            source=Source("", "", "", "", DEFAULT_IMPLEMENTATIONS[kind], 0),
            diagnoses=diagnoses,
            providers=providers,
            other_payers=other_payers,
            group_number=member.plan_id,
            claim_filing_indicator=FILING_INDICATORS.get(member.plan_id, "CI"),
            original_claim_number=original,
            clearinghouse_trace=f"BCX{rng.randint(10**11, 10**12 - 1)}"
            if rng.random() < 0.5
            else "",
            **extra,  # type: ignore[arg-type]
        )
        return claim

    # -- coordination of benefits -------------------------------------------------------------
    def primary_payer(
        self,
        member: Member,
        patient: Person,
        lines: tuple[ServiceLine, ...],
        service_day: date,
    ) -> tuple[tuple[OtherPayer, ...], tuple[ServiceLine, ...]]:
        """What the primary payer did: it allowed part of each charge and left some to the
        patient. Either per line (loop 2430, CAS per line) or for the claim (2320 CAS)."""
        rng = self.rng
        name, payer_id, prefix = rng.choice(OTHER_PAYERS)
        family = self.families[member.family_id]
        spouse = next(
            (m for m in family if m.relationship == "01" and m.member_id != member.member_id),
            None,
        )
        if spouse is not None and member.relationship in ("18", "19"):
            holder, relationship = spouse, "01" if member.relationship == "18" else "19"
        else:
            holder, relationship = member, "18"
        other_subscriber = Person(
            holder.last_name,
            holder.first_name,
            member_id=f"{prefix}{rng.randint(10**8, 10**9 - 1)}",
            address=holder.address,
        )
        adjudicated = min(self.as_of, service_day + timedelta(days=rng.randint(7, 30)))
        adjudicated = max(adjudicated, service_day)
        contractual = Decimal("0.00")
        patient_share = Decimal("0.00")
        paid_total = Decimal("0.00")
        reason = rng.choice(("1", "2", "3"))  # deductible, coinsurance, copay
        by_line = rng.random() < 0.5
        new_lines: list[ServiceLine] = []
        for ln in lines:
            charge_cents = int(ln.charge * 100)
            allowed = charge_cents * rng.randint(55, 85) // 100
            share = {
                "1": min(allowed, rng.randint(0, 500) * 100),
                "2": allowed * 20 // 100,
                "3": min(allowed, rng.choice((2000, 3000, 4000))),
            }[reason]
            co45 = money(Decimal(charge_cents - allowed).scaleb(-2))
            pr = money(Decimal(share).scaleb(-2))
            paid = ln.charge - co45 - pr
            contractual += co45
            patient_share += pr
            paid_total += paid
            if by_line:
                adjustments = [Adjustment("CO", "45", co45)]
                if pr:
                    adjustments.append(Adjustment("PR", reason, pr))
                # On the 837I the revenue code goes to SVD04, so a line without HCPCS has none.
                adj = LineAdjudication(
                    payer_id=payer_id,
                    paid_amount=paid,
                    procedure=ln.procedure,
                    paid_units=ln.units,
                    adjustments=tuple(adjustments),
                    adjudicated_on=adjudicated,
                )
                ln = replace(ln, adjudications=(adj,))
            new_lines.append(ln)
        claim_adjustments: tuple[Adjustment, ...] = ()
        if not by_line:
            claim_adjustments = (Adjustment("CO", "45", contractual),)
            if patient_share:
                claim_adjustments += (Adjustment("PR", reason, patient_share),)
        other = OtherPayer(
            responsibility="P",
            relationship=relationship,
            payer_name=name,
            payer_id=payer_id,
            subscriber=other_subscriber,
            paid_amount=paid_total,
            remaining_patient_liability=patient_share if patient_share else None,
            non_covered_amount=None,
            adjustments=claim_adjustments,
            adjudicated_on=None if by_line else adjudicated,
            claim_number=f"{prefix}{rng.randint(10**10, 10**11 - 1)}",
            claim_filing_indicator="CI",
        )
        return (other,), tuple(new_lines)

    # -- professional -------------------------------------------------------------------------
    def professional(self, member: Member) -> Claim:
        rng = self.rng
        billing = self.biller("professional", member)
        rendering = self.rendering_for(billing)
        doer = rendering or billing
        taxonomy = doer.taxonomy
        place = rng.choices([p for p, _ in PLACES], [w for _, w in PLACES])[0]
        if taxonomy.startswith("2085R"):
            place = "11"  # a radiology group reads in its own imaging centre here
        nights = rng.randint(1, 4) if place == "21" else 0
        day = self.service_day(member, nights)
        age = _age(member.birth_date, day)
        draft = _ClaimDraft()
        count = rng.choices(range(1, 7), LINE_COUNT_WEIGHTS)[0]
        emergency = place == "23"

        def line(service: _Service, dx: Sequence[str], on: date = day, **kw: object) -> None:
            units = rng.randint(*service.units)
            mods: tuple[str, ...] = tuple(kw.pop("modifiers", service.modifiers))  # type: ignore[arg-type]
            ln = ServiceLine(
                number=0,
                charge=self.price(service.cents) * units,
                units=Decimal(units),
                unit_type="UN",
                procedure=Procedure("HC", service.code, mods),
                service_from=on,
                service_to=on,
                emergency=emergency,
            )
            if service.ndc:
                ln = _with_ndc(ln, service, rng)
            draft.add(ln, dx)

        problem = rng.choice(PEDIATRIC_DX if age < 18 else GENERAL_DX)
        others = rng.sample(GENERAL_DX, rng.choices((0, 1, 2, 3), (40, 30, 20, 10))[0])
        visit_dx = [problem, *(d for d in others if d != problem)][:4]
        if taxonomy.startswith("2085R"):
            for service in rng.sample(IMAGING, min(count, 2)):
                line(service, service.dx[:1])
        elif place == "21":
            admit = rng.choice(INPATIENT_ADMIT)
            line(admit, visit_dx)
            for n in range(1, min(count, nights + 1)):
                line(rng.choice(INPATIENT_VISITS), visit_dx[:2], day + timedelta(days=n))
        elif place in ("22", "23"):
            visit = rng.choices(ER_VISITS, (5, 15, 35, 30, 15))[0] if emergency else None
            visit = visit or rng.choices(OFFICE_EST, OFFICE_EST_WEIGHTS)[0]
            line(visit, visit_dx)
            extras = [*IMAGING[:1], PROCEDURES[4], DRUGS["ER"]] if emergency else [PROCEDURES[0]]
            for service in rng.sample(extras, min(len(extras), count - 1)):
                mods = ("26",) if service in IMAGING else service.modifiers
                line(service, service.dx[:1] or visit_dx[:1], modifiers=mods)
        elif place == "02":
            visit = rng.choices(OFFICE_EST[1:4], (30, 50, 20))[0]
            line(visit, visit_dx, modifiers=("95",))
        else:
            self.office_visit(draft, line, member, day, age, count, taxonomy, visit_dx)
        lines = draft.finish()
        diagnoses = tuple(
            Diagnosis("ABK" if i == 0 else "ABF", code) for i, code in enumerate(draft.diagnoses)
        )
        providers: list[Provider] = []
        if rendering is not None:
            providers.append(self.provider(rendering, "82"))
        if place in ("21", "22", "23"):
            hospital = self.biller("institutional", member)
            providers.append(
                Provider(
                    role="77",
                    entity_type="2",
                    last_name=hospital.last_or_org_name,
                    npi=hospital.npi,
                    address=hospital.address,
                )
            )
        # Now and then a colleague in the same group did one of the lines (loop 2420A).
        if rendering is not None and len(lines) > 1 and rng.random() < 0.05:
            colleagues = [p for p in self.groups[billing.npi] if p.npi != rendering.npi]
            if colleagues:
                other = self.provider(rng.choice(colleagues), "82")
                lines = (*lines[:-1], replace(lines[-1], rendering=other))
        if rng.random() < 0.3:
            lines = _control_numbers(lines, rng)
        extra: dict[str, object] = {}
        if member.plan_id == "HMO-SILVER" and rng.random() < 0.3:
            extra["referral_number"] = f"RF{rng.randint(10**6, 10**7 - 1)}"
        return self.base_claim(
            ClaimType.PROFESSIONAL,
            member,
            billing,
            lines,
            diagnoses,
            tuple(providers),
            place,
            day,
            **extra,
        )

    def office_visit(
        self,
        draft: _ClaimDraft,
        line: _LineFn,
        member: Member,
        day: date,
        age: int,
        count: int,
        taxonomy: str,
        visit_dx: list[str],
    ) -> None:
        rng = self.rng
        procedures: list[_Service] = []
        if taxonomy.startswith("207X"):  # orthopaedics: joints
            procedures = [PROCEDURES[0], IMAGING[1], IMAGING[2]]
            visit_dx = [rng.choice(("M1711", "M25561", "M25511", "M19011")), *visit_dx[1:2]]
        elif taxonomy.startswith("213E"):  # podiatry: nails
            procedures = [PROCEDURES[1]]
            visit_dx = ["B351", "E119"]
        preventive = not procedures and rng.random() < 0.25
        if preventive:
            new = rng.random() < 0.2
            code = next(n if new else e for top, n, e in PREVENTIVE if age < top)
            if age < 18:
                well = "Z00129" if rng.random() < 0.8 else "Z00121"
            else:
                well = "Z0000" if rng.random() < 0.8 else "Z0001"
            line(_s(code, 19000 + 1000 * min(age, 65) // 5), (well,))
            if count > 1 and rng.random() < 0.3:
                # A problem dealt with at the same visit: separate E/M with modifier 25.
                visit = rng.choices(OFFICE_EST[1:4], (40, 45, 15))[0]
                line(visit, visit_dx[:2], modifiers=("25",))
        else:
            new = rng.random() < 0.15
            visit = (
                rng.choice(OFFICE_NEW) if new else rng.choices(OFFICE_EST, OFFICE_EST_WEIGHTS)[0]
            )
            mods = ("25",) if procedures and count > 1 else ()
            line(visit, visit_dx, modifiers=mods)
        pool: list[list[_Service]] = []
        if procedures:
            for service in procedures:
                bundle = [service]
                if service.code in DRUGS:
                    bundle.append(DRUGS[service.code])
                pool.append(bundle)
        else:
            labs = rng.sample(LABS, 2)
            pool += [[labs[0], VENIPUNCTURE], [labs[1]]]
            pool += [[rng.choice(VACCINES), VACCINE_ADMIN], [rng.choice(IMAGING)]]
            pool += [[rng.choice(PROCEDURES[1:])]]
        rng.shuffle(pool)
        used: set[str] = set()
        for bundle in pool:
            if len(draft.lines) + len(bundle) > count:
                continue
            for service in bundle:
                if service.code in used:
                    continue
                used.add(service.code)
                dx = (rng.choice(service.dx),) if service.dx else visit_dx[:1]
                line(service, dx)

    # -- institutional ------------------------------------------------------------------------
    def institutional(self, member: Member) -> Claim:
        rng = self.rng
        billing = self.biller("institutional", member)
        staff = self.groups.get(billing.npi) or [
            p for group in self.groups.values() for p in group if p.taxonomy.startswith("208M")
        ]
        attending = rng.choice(staff) if staff else None
        providers: list[Provider] = []
        if attending is not None:
            providers.append(self.provider(attending, "71"))
        if rng.random() < 0.25:
            return self.inpatient(member, billing, providers)
        return self.outpatient(member, billing, providers)

    def inpatient(
        self, member: Member, billing: ProviderRecord, providers: list[Provider]
    ) -> Claim:
        rng = self.rng
        principal, admitting, surgical = rng.choice(INPATIENT_CASES)
        stay = rng.choices(range(1, 7), (25, 25, 20, 15, 10, 5))[0]
        admitted = self.service_day(member, stay)
        discharged = admitted + timedelta(days=stay)
        via_er = not surgical or rng.random() < 0.2
        room_rev = "0110" if rng.random() < 0.2 else "0120"
        rate = 260000 if room_rev == "0110" else 220000
        lines: list[ServiceLine] = []

        def add(revenue: str, cents: int, units: int = 1, unit_type: str = "UN") -> None:
            lines.append(
                ServiceLine(
                    number=len(lines) + 1,
                    charge=self.price(cents) * units,
                    units=Decimal(units),
                    unit_type=unit_type,
                    revenue_code=revenue,
                )
            )

        add(room_rev, rate, stay, "DA")
        if surgical:
            add("0360", rng.randint(600000, 1500000))
        if via_er:
            add("0450", rng.randint(120000, 250000))
        extras = [("0250", 30000, 150000), ("0300", 25000, 90000), ("0320", 40000, 120000)]
        for revenue, low, high in rng.sample(extras, rng.randint(1, 3)):
            if len(lines) < 6:
                add(revenue, rng.randint(low, high))
        if surgical and rng.random() < 0.8:
            surgeons = [p for g in self.groups.values() for p in g if p.taxonomy.startswith("207X")]
            if surgeons:
                providers.append(self.provider(rng.choice(surgeons), "72", taxonomy=False))
        others = rng.sample(INPATIENT_OTHER_DX, rng.randint(1, 5))
        diagnoses = [
            Diagnosis("ABK", principal, "Y"),
            Diagnosis("ABJ", admitting),
            *(Diagnosis("ABF", d, "Y" if rng.random() < 0.9 else "N") for d in others),
        ]
        extra: dict[str, object] = {
            "statement_from": admitted,
            "statement_to": discharged,
            "admission_date": admitted,
            "discharge_date": discharged,
            "admission_type": "1" if via_er else "3",
            "admission_source": "1" if via_er else "2",
            "patient_status": rng.choices(("01", "06", "03"), (85, 10, 5))[0],
        }
        if not via_er:
            extra["prior_authorization"] = f"AUTH{rng.randint(10**6, 10**7 - 1)}"
        return self.base_claim(
            ClaimType.INSTITUTIONAL,
            member,
            billing,
            tuple(lines),
            tuple(diagnoses),
            tuple(providers),
            "11",
            admitted,
            **extra,
        )

    def outpatient(
        self, member: Member, billing: ProviderRecord, providers: list[Provider]
    ) -> Claim:
        rng = self.rng
        kind = rng.choices(("er", "lab", "imaging", "surgery"), (40, 25, 25, 10))[0]
        principal, reason = rng.choice(OUTPATIENT_CASES[kind])
        day = self.service_day(member)
        count = rng.choices(range(1, 7), LINE_COUNT_WEIGHTS)[0]
        services: list[_Service] = []
        if kind == "er":
            services.append(rng.choices(ER_FACILITY, (5, 15, 35, 30, 15))[0])
            services += rng.sample([*FACILITY_LABS[:2], FACILITY_IMAGING[0], ER_DRUG], 2)
            services.append(FACILITY_LABS[-1])
        elif kind == "lab":
            services += [*rng.sample(FACILITY_LABS[:-1], 3), FACILITY_LABS[-1]]
        elif kind == "imaging":
            services += rng.sample(FACILITY_IMAGING, 2)
        else:
            services.append(OUTPATIENT_SURGERY[principal])
            services.append(_s("", 0, revenue="0250"))
            services.append(_s("", 0, revenue="0370"))
            services.append(_s("", 0, revenue="0710"))
        services = services[: max(1, count)]
        lines: list[ServiceLine] = []
        for service in services:
            units = rng.randint(*service.units)
            cents = service.cents or {"0250": 35000, "0370": 90000, "0710": 60000}[service.revenue]
            ln = ServiceLine(
                number=len(lines) + 1,
                charge=self.price(cents) * units,
                units=Decimal(units),
                unit_type="UN",
                procedure=Procedure("HC", service.code) if service.code else None,
                revenue_code=service.revenue,
                service_from=day,
                service_to=day,
            )
            if service.ndc:
                ln = _with_ndc(ln, service, rng)
            lines.append(ln)
        line_tuple = tuple(lines)
        if rng.random() < 0.3:
            line_tuple = _control_numbers(line_tuple, rng)
        others = [d for d in rng.sample(INPATIENT_OTHER_DX, rng.randint(0, 3)) if d != principal]
        diagnoses = (
            Diagnosis("ABK", principal),
            # The guide asks for the patient's reason for visit on unscheduled outpatient care.
            Diagnosis("APR", reason),
            *(Diagnosis("ABF", d) for d in others),
        )
        return self.base_claim(
            ClaimType.INSTITUTIONAL,
            member,
            billing,
            line_tuple,
            diagnoses,
            tuple(providers),
            "13",
            day,
            statement_from=day,
            statement_to=day,
            admission_type="1" if kind == "er" else "",
            patient_status="01",
        )

    # -- dental -------------------------------------------------------------------------------
    def dental_claim(self, member: Member) -> Claim:
        rng = self.rng
        billing = self.biller("dental", member)
        rendering = self.rendering_for(billing)
        day = self.service_day(member)
        age = _age(member.birth_date, day)
        visit = rng.choices(
            ("recall", "new", "restorative", "crown", "endo", "extraction", "perio"),
            (40, 10, 20, 8, 6, 8, 8),
        )[0]
        items: list[tuple[str, tuple[Tooth, ...], tuple[str, ...]]] = []
        if visit == "recall":
            items.append(("D0120", (), ()))
            items.append(("D1110" if age >= 14 else "D1120", (), ()))
            if rng.random() < 0.5:
                items.append(("D0274", (), ()))
            if age < 19:
                items.append(("D1208", (), ()))
        elif visit == "new":
            items += [("D0150", (), ()), ("D0210", (), ())]
            items.append(("D1110" if age >= 14 else "D1120", (), ()))
        elif visit == "restorative":
            for tooth in rng.sample(POSTERIOR_TEETH + ANTERIOR_TEETH, rng.randint(1, 3)):
                if tooth in ANTERIOR_TEETH:
                    surface = rng.choice(("M", "D", "I", "F", "L"))
                    items.append(("D2330", (Tooth(str(tooth), (surface,)),), ()))
                else:
                    surface = rng.choice(("M", "O", "D", "B", "L"))
                    items.append(("D2140", (Tooth(str(tooth), (surface,)),), ()))
        elif visit == "crown":
            items.append(("D2740", (Tooth(str(rng.choice(POSTERIOR_TEETH[1:-1]))),), ()))
        elif visit == "endo":
            items.append(("D0140", (), ()))
            items.append(("D3330", (Tooth(str(rng.choice(MOLARS))),), ()))
        elif visit == "extraction":
            items.append(("D0140", (), ()))
            items.append(("D7140", (Tooth(str(rng.randint(1, 32))),), ()))
        else:
            for quadrant in sorted(rng.sample(QUADRANTS, rng.randint(1, 4))):
                items.append(("D4341", (), (quadrant,)))
        with_dx = rng.random() < 0.3
        draft = _ClaimDraft(limit=4)
        for code, teeth, cavity in items[:6]:
            dx = DENTAL_DX.get(code)
            draft.add(
                ServiceLine(
                    number=0,
                    charge=self.price(DENTAL_FEES[code]),
                    units=Decimal(1),
                    unit_type="UN",
                    procedure=Procedure("AD", code),
                    service_from=day,
                    service_to=day,
                    teeth=teeth,
                    oral_cavity=cavity,
                ),
                (dx,) if dx and with_dx else (),
            )
        lines = draft.finish()
        diagnoses = tuple(
            Diagnosis("ABK" if i == 0 else "ABF", code) for i, code in enumerate(draft.diagnoses)
        )
        providers = (self.provider(rendering, "82"),) if rendering is not None else ()
        return self.base_claim(
            ClaimType.DENTAL, member, billing, lines, diagnoses, providers, "11", day
        )

    def next_claim(self) -> Claim:
        kind = self.pick_type()
        if kind is ClaimType.DENTAL:
            assert self.dental is not None
            return self.dental_claim(self.dental.pick(self.rng))
        assert self.medical is not None
        member = self.medical.pick(self.rng)
        if kind is ClaimType.INSTITUTIONAL:
            return self.institutional(member)
        return self.professional(member)


_KIND_NAMES = {
    ClaimType.PROFESSIONAL: "professional",
    ClaimType.INSTITUTIONAL: "institutional",
    ClaimType.DENTAL: "dental",
}


class _LineFn(Protocol):
    """The shape of the ``line`` helper :meth:`_Generator.professional` hands around."""

    def __call__(
        self, service: _Service, dx: Sequence[str], on: date = ..., **kw: object
    ) -> None: ...


def _with_ndc(line: ServiceLine, service: _Service, rng: Random) -> ServiceLine:
    quantity = Decimal(rng.choice((1, 2, 4, 10))) * line.units
    return replace(line, ndc=service.ndc, ndc_quantity=quantity, ndc_unit=service.ndc_unit)


def _control_numbers(lines: tuple[ServiceLine, ...], rng: Random) -> tuple[ServiceLine, ...]:
    """Line item control numbers (REF*6R) as billing systems that track lines send them."""
    base = rng.randint(10**7, 10**8 - 1)
    return tuple(replace(ln, control_number=f"L{base}{ln.number:02d}") for ln in lines)


def generate_claims(
    seed: int,
    members: Sequence[Member],
    providers: Sequence[ProviderRecord],
    *,
    as_of: date,
    count: int,
    window_days: int = 90,
    mix: Mapping[ClaimType, int] | Mapping[str, int] = DEFAULT_MIX,
    payer: Party = DEFAULT_PAYER,
    submitter: Party = DEFAULT_SUBMITTER,
    receiver: Party = DEFAULT_RECEIVER,
    dental_plans: frozenset[str] = DEFAULT_DENTAL_PLANS,
) -> Iterator[Claim]:
    """``count`` claims, one at a time, the same ones for the same arguments.

    ``mix`` weighs the claim types (keys ``ClaimType`` or ``"P"``/``"I"``/``"D"``); dental
    claims go to members of ``dental_plans``, the others to everybody else. Dates of service
    fall in the ``window_days`` ending at ``as_of``. Raises :class:`ValueError` when a type in
    the mix has no members or providers to draw from.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    kinds = {ClaimType(k): w for k, w in mix.items()}
    gen = _Generator(
        Random(seed),
        members,
        providers,
        as_of=as_of,
        window_days=window_days,
        mix=kinds,
        payer=payer,
        submitter=submitter,
        receiver=receiver,
        dental_plans=dental_plans,
    )
    # A billing system sends its claims grouped by type and billing provider (one GS per type,
    # one 2000A loop per provider); the generator does the same within blocks, so it streams.
    remaining = count
    while remaining:
        block = [gen.next_claim() for _ in range(min(ORDERING_BLOCK, remaining))]
        remaining -= len(block)
        block.sort(key=_batch_order)
        yield from block


ORDERING_BLOCK = 2000


def _batch_order(claim: Claim) -> tuple[str, str, str]:
    return (claim.claim_type.value, claim.billing_provider.npi, claim.subscriber.member_id)
