"""Front-end claim edits (SNIP levels 3 to 5, and the checks that always apply).

Levels 1 and 2 (segment and element syntax) are checked by the reader while it reads, because
only the reader knows segment positions. The checks here work on the domain
:class:`~claims_engine.domain.model.Claim`:

* level 3, balancing: the claim charge equals the sum of its lines; other payers' line
  adjudications balance against the line charge;
* level 4, situational requirements the engine relies on: dates of service, statement and
  admission dates, the billing provider's tax id, a principal diagnosis, diagnosis pointers that
  point at a diagnosis, an original claim number on replacements and voids, another payer on a
  secondary claim, birth dates of subscriber and patient;
* level 5, code sets: NPI check digits, diagnosis code shape against its qualifier (ICD-9 or
  ICD-10) and the ICD-10 date, HCPCS / CPT / CDT / revenue code / modifier / place of service
  shape, tooth numbers, surfaces and oral cavity codes;
* always (level 0): service dates not after receipt and not before birth.

Each check is a ``check_<what>(claim, ctx) -> list[Issue]`` function in the :data:`CHECKS`
registry with its level. Duplicate claim ids inside one file need memory across claims and
live in :class:`DuplicateClaimIds`.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Final

from claims_engine.domain.issues import ClaimStatus, Issue, Location, Scope
from claims_engine.domain.model import Claim, ClaimType, Provider
from claims_engine.domain.money import ascii_digits, round_money
from claims_engine.domain.npi import npi_is_valid
from claims_engine.x12 import codes

ALL_LEVELS: Final = frozenset({1, 2, 3, 4, 5})
ALWAYS: Final = 0
ICD10_START: Final = date(2015, 10, 1)

A3: Final = codes.CATEGORY_UNPROCESSABLE
A6: Final = codes.CATEGORY_MISSING
A7: Final = codes.CATEGORY_INVALID
A8: Final = codes.CATEGORY_RELATIONAL

ICD10_CM: Final = re.compile(r"[A-Z][0-9][0-9A-Z]{1,5}\Z")
ICD9_CM: Final = re.compile(r"(?:[0-9]{3,5}|V[0-9]{2,4}|E[0-9]{3,4})\Z")
HCPCS: Final = re.compile(r"(?:[0-9]{4}[0-9FTU]|[A-V][0-9]{4})\Z")
CDT: Final = re.compile(r"D[0-9]{4}\Z")
REVENUE: Final = re.compile(r"[0-9]{4}\Z")
MODIFIER: Final = re.compile(r"[0-9A-Z]{2}\Z")
PLACE_OF_SERVICE: Final = re.compile(r"[0-9]{2}\Z")
TOOTH: Final = re.compile(r"(?:[1-9]|[12][0-9]|3[0-2]|[A-T]|5[1-9]|[67][0-9]|8[0-2]|[A-T]S)\Z")
SURFACES: Final = frozenset("MODBLIF")
ORAL_CAVITY: Final = frozenset({"00", "01", "02", "09", "10", "20", "30", "40", "L", "R"})
ICD9_QUALIFIERS: Final = frozenset({"BK", "BF", "BJ", "PR", "BN"})
PRINCIPAL_QUALIFIERS: Final = frozenset({"ABK", "BK"})
INPATIENT_BILL_TYPES: Final = frozenset({"11", "18", "21", "41", "65", "66", "86"})


@dataclass(frozen=True, slots=True)
class EditContext:
    """What the edits need besides the claim: the receipt date and the SNIP levels to apply."""

    received_on: date
    levels: frozenset[int] = ALL_LEVELS


def _issue(
    code: str,
    message: str,
    level: int,
    *statuses: ClaimStatus,
    claim: Claim,
    position: int = 0,
) -> Issue:
    return Issue(
        code=code,
        message=message,
        level=level,
        scope=Scope.CLAIM,
        location=Location("CLM" if not position else "LX", position or claim.source.position),
        status=statuses,
    )


# -- level 3: balancing --------------------------------------------------------------------------
def check_charges_balance(claim: Claim, ctx: EditContext) -> list[Issue]:
    total = claim.total_charge * 0  # zero with the claim's exponent, as the message shows it
    for ln in claim.lines:
        total += ln.charge
    if total != claim.total_charge:
        return [
            _issue(
                "CLAIM-CHARGE-MISMATCH",
                f"claim charge {claim.total_charge} is not the sum of its lines ({total})",
                3,
                ClaimStatus(A7, codes.STATUS_OUT_OF_BALANCE),
                ClaimStatus(A7, codes.STATUS_CHARGES),
                claim=claim,
            )
        ]
    return []


def check_line_adjudications_balance(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    for ln in claim.lines:
        for adj in ln.adjudications:
            if adj.bundled_line_number:
                continue  # a bundled line is paid on another line; it does not balance alone
            adjusted = adj.paid_amount + sum(
                (a.amount for a in adj.adjustments), start=ln.charge * 0
            )
            if adjusted != ln.charge:
                issues.append(
                    _issue(
                        "LINE-COB-MISMATCH",
                        f"line {ln.number}: other payer {adj.payer_id} paid {adj.paid_amount} "
                        f"and adjusted {adjusted - adj.paid_amount}, which is not the line "
                        f"charge {ln.charge}",
                        3,
                        ClaimStatus(A7, codes.STATUS_OUT_OF_BALANCE),
                        ClaimStatus(A7, codes.STATUS_LINE_CHARGE),
                        claim=claim,
                        position=ln.position,
                    )
                )
    return issues


# -- level 4: situational requirements -----------------------------------------------------------
def check_dates_present(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    if claim.claim_type is ClaimType.INSTITUTIONAL:
        if claim.statement_from is None:
            issues.append(
                _issue(
                    "CLAIM-STATEMENT-DATES-MISSING",
                    "institutional claim without statement dates (DTP*434)",
                    4,
                    ClaimStatus(A6, codes.STATUS_STATEMENT_DATES),
                    claim=claim,
                )
            )
        if claim.facility_code in INPATIENT_BILL_TYPES and claim.admission_date is None:
            issues.append(
                _issue(
                    "CLAIM-ADMISSION-DATE-MISSING",
                    f"inpatient claim (type of bill {claim.type_of_bill}) without an admission "
                    "date (DTP*435)",
                    4,
                    ClaimStatus(A6, codes.STATUS_ADMISSION_DATE),
                    claim=claim,
                )
            )
        return issues
    for ln in claim.lines:
        if ln.service_from is None:
            issues.append(
                _issue(
                    "LINE-SERVICE-DATE-MISSING",
                    f"line {ln.number} has no date of service (DTP*472)",
                    4,
                    ClaimStatus(A6, codes.STATUS_SERVICE_DATES),
                    claim=claim,
                    position=ln.position,
                )
            )
    return issues


def check_billing_tax_id(claim: Claim, ctx: EditContext) -> list[Issue]:
    if not claim.billing_provider.tin:
        return [
            _issue(
                "BILLING-TAX-ID-MISSING",
                "billing provider has no tax id (REF*EI or REF*SY in 2010AA)",
                4,
                ClaimStatus(A6, codes.STATUS_TAX_ID, codes.ENTITY_BILLING),
                claim=claim,
            )
        ]
    return []


def check_diagnoses(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    needs_principal = claim.claim_type is not ClaimType.DENTAL
    has_principal = any(d.qualifier in PRINCIPAL_QUALIFIERS for d in claim.diagnoses)
    if needs_principal and not has_principal:
        issues.append(
            _issue(
                "CLAIM-PRINCIPAL-DIAGNOSIS-MISSING",
                "no principal diagnosis (HI*ABK or HI*BK)",
                4,
                ClaimStatus(A6, codes.STATUS_PRINCIPAL_DIAGNOSIS),
                claim=claim,
            )
        )
    count = len(claim.diagnoses)
    for ln in claim.lines:
        pointers = ln.diagnosis_pointers
        if pointers and max(pointers) > count:
            bad = [p for p in pointers if p > count]
            issues.append(
                _issue(
                    "LINE-DIAGNOSIS-POINTER",
                    f"line {ln.number} points at diagnosis {bad[0]} but the claim has {count}",
                    4,
                    ClaimStatus(A8, codes.STATUS_DIAGNOSIS),
                    claim=claim,
                    position=ln.position,
                )
            )
    return issues


def check_frequency(claim: Claim, ctx: EditContext) -> list[Issue]:
    if claim.frequency_code in ("7", "8") and not claim.original_claim_number:
        kind = "replacement" if claim.frequency_code == "7" else "void"
        return [
            _issue(
                "CLAIM-ORIGINAL-NUMBER-MISSING",
                f"a {kind} (frequency {claim.frequency_code}) must name the original claim "
                "(REF*F8)",
                4,
                ClaimStatus(A8, codes.STATUS_INCONSISTENT),
                ClaimStatus(A8, codes.STATUS_FREQUENCY),
                claim=claim,
            )
        ]
    return []


def check_other_payer(claim: Claim, ctx: EditContext) -> list[Issue]:
    if claim.payer_responsibility not in ("", "P") and not claim.other_payers:
        return [
            _issue(
                "CLAIM-OTHER-PAYER-MISSING",
                f"payer responsibility {claim.payer_responsibility!r} needs the other payer's "
                "loop 2320",
                4,
                ClaimStatus(A6, codes.STATUS_OTHER_PAYER_ID, codes.ENTITY_PAYER),
                claim=claim,
            )
        ]
    return []


def check_birth_dates(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    if claim.patient_relationship == "18":
        people = [(claim.subscriber, codes.ENTITY_SUBSCRIBER)]
    else:
        people = [(claim.patient, codes.ENTITY_PATIENT)]
    for person, entity in people:
        if person.birth_date is None:
            issues.append(
                _issue(
                    "PATIENT-BIRTH-DATE-MISSING",
                    "the patient's birth date (DMG02) is missing",
                    4,
                    ClaimStatus(A6, codes.STATUS_BIRTH_DATE, entity),
                    claim=claim,
                )
            )
    return issues


# -- level 5: code sets --------------------------------------------------------------------------
def check_npis(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    _check_npi(claim.billing_provider, claim, issues)
    for p in claim.providers:
        _check_npi(p, claim, issues)
    for ln in claim.lines:
        if ln.rendering is not None:
            _check_npi(ln.rendering, claim, issues)
    return issues


def _check_npi(p: Provider, claim: Claim, issues: list[Issue]) -> None:
    if p.npi and len(p.npi) == 10 and p.npi.isdigit() and not npi_is_valid(p.npi):
        issues.append(
            _issue(
                "NPI-CHECK-DIGIT",
                f"NPI {p.npi} of the provider in role {p.role} fails its check digit",
                5,
                ClaimStatus(A7, codes.STATUS_NPI, p.role),
                claim=claim,
            )
        )


class Shape:
    """A code's shape (a pattern matched from its start): codes repeat, so each answer is kept,
    in a dict of this shape's own (up to 65,536 codes: beyond that, matched every time)."""

    __slots__ = ("_known", "pattern")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self._known: dict[str, bool] = {}

    def ok(self, code: str) -> bool:
        """Whether ``code`` has the shape."""
        known = self._known.get(code)
        if known is None:
            known = self.pattern.match(code) is not None
            if len(self._known) < 65536:
                self._known[code] = known
        return known


ICD10_SHAPE: Final = Shape(ICD10_CM)
ICD9_SHAPE: Final = Shape(ICD9_CM)
HCPCS_SHAPE: Final = Shape(HCPCS)
CDT_SHAPE: Final = Shape(CDT)
REVENUE_SHAPE: Final = Shape(REVENUE)
MODIFIER_SHAPE: Final = Shape(MODIFIER)
PLACE_OF_SERVICE_SHAPE: Final = Shape(PLACE_OF_SERVICE)


def check_diagnosis_codes(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    first_date = claim.service_from
    for d in claim.diagnoses:
        principal = d.qualifier in PRINCIPAL_QUALIFIERS
        status = codes.STATUS_PRINCIPAL_DIAGNOSIS if principal else codes.STATUS_DIAGNOSIS
        icd9 = d.qualifier in ICD9_QUALIFIERS
        shape = ICD9_SHAPE if icd9 else ICD10_SHAPE
        if not shape.ok(d.code):
            issues.append(
                _issue(
                    "DIAGNOSIS-CODE-SHAPE",
                    f"diagnosis {d.code!r} is not an {'ICD-9-CM' if icd9 else 'ICD-10-CM'} code "
                    f"as its qualifier {d.qualifier} says",
                    5,
                    ClaimStatus(A7, status),
                    claim=claim,
                )
            )
        elif first_date is not None and icd9 and first_date >= ICD10_START:
            issues.append(
                _issue(
                    "DIAGNOSIS-ICD10-REQUIRED",
                    f"diagnosis {d.code!r} is ICD-9 but services from 2015-10-01 need ICD-10",
                    5,
                    ClaimStatus(A7, status),
                    ClaimStatus(A7, codes.STATUS_ICD10),
                    claim=claim,
                )
            )
        elif first_date is not None and not icd9 and first_date < ICD10_START:
            issues.append(
                _issue(
                    "DIAGNOSIS-ICD9-REQUIRED",
                    f"diagnosis {d.code!r} is ICD-10 but services before 2015-10-01 need ICD-9",
                    5,
                    ClaimStatus(A7, status),
                    claim=claim,
                )
            )
    return issues


def check_procedure_codes(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []

    def bad(message: str, status: str, position: int) -> None:
        issues.append(
            _issue(
                "PROCEDURE-CODE-SHAPE",
                message,
                5,
                ClaimStatus(A7, status),
                claim=claim,
                position=position,
            )
        )

    for ln in claim.lines:
        proc = ln.procedure
        if proc is not None and proc.code:
            shape = (
                CDT_SHAPE
                if proc.qualifier == "AD"
                else HCPCS_SHAPE
                if proc.qualifier == "HC"
                else None
            )
            if shape is not None and not shape.ok(proc.code):
                kind = "CDT" if proc.qualifier == "AD" else "HCPCS/CPT"
                bad(
                    f"line {ln.number}: {proc.code!r} is not a {kind} code",
                    codes.STATUS_PROCEDURE,
                    ln.position,
                )
            for m in proc.modifiers:
                if not MODIFIER_SHAPE.ok(m):
                    bad(
                        f"line {ln.number}: modifier {m!r} is not two letters or digits",
                        codes.STATUS_MODIFIER,
                        ln.position,
                    )
        if ln.revenue_code and not REVENUE_SHAPE.ok(ln.revenue_code):
            bad(
                f"line {ln.number}: revenue code {ln.revenue_code!r} is not four digits",
                codes.STATUS_REVENUE_CODE,
                ln.position,
            )
        if ln.place_of_service and not PLACE_OF_SERVICE_SHAPE.ok(ln.place_of_service):
            bad(
                f"line {ln.number}: place of service {ln.place_of_service!r} is not two digits",
                codes.STATUS_PLACE_OF_SERVICE,
                ln.position,
            )
        for tooth in ln.teeth:
            if not TOOTH.match(tooth.code):
                bad(
                    f"line {ln.number}: {tooth.code!r} is not a tooth number or letter",
                    codes.STATUS_TOOTH,
                    ln.position,
                )
            wrong = [s for s in tooth.surfaces if s not in SURFACES]
            if wrong:
                bad(
                    f"line {ln.number}: {wrong[0]!r} is not a tooth surface (M O D B L I F)",
                    codes.STATUS_SURFACE,
                    ln.position,
                )
        wrong_cavity = [c for c in ln.oral_cavity if c not in ORAL_CAVITY] if ln.oral_cavity else []
        if wrong_cavity:
            bad(
                f"line {ln.number}: {wrong_cavity[0]!r} is not an oral cavity designation",
                codes.STATUS_ORAL_CAVITY,
                ln.position,
            )
    if (
        claim.claim_type is not ClaimType.INSTITUTIONAL
        and claim.facility_code
        and not PLACE_OF_SERVICE_SHAPE.ok(claim.facility_code)
    ):
        bad(
            f"place of service {claim.facility_code!r} is not two digits",
            codes.STATUS_PLACE_OF_SERVICE,
            0,
        )
    return issues


# -- always --------------------------------------------------------------------------------------
def check_service_dates(claim: Claim, ctx: EditContext) -> list[Issue]:
    issues: list[Issue] = []
    latest = claim.service_to
    if claim.statement_to is not None and (latest is None or claim.statement_to > latest):
        latest = claim.statement_to
    if latest is not None and latest > ctx.received_on:
        issues.append(
            _issue(
                "SERVICE-DATE-FUTURE",
                f"date of service {latest.isoformat()} is after the claim was received "
                f"({ctx.received_on.isoformat()})",
                ALWAYS,
                ClaimStatus(A7, codes.STATUS_FUTURE_DATE),
                ClaimStatus(A7, codes.STATUS_SERVICE_DATES),
                claim=claim,
            )
        )
    earliest = claim.service_from
    person = claim.subscriber if claim.patient_relationship == "18" else claim.patient
    entity = codes.ENTITY_SUBSCRIBER if claim.patient_relationship == "18" else "QC"
    if earliest is not None and person.birth_date is not None and earliest < person.birth_date:
        issues.append(
            _issue(
                "SERVICE-DATE-BEFORE-BIRTH",
                f"date of service {earliest.isoformat()} is before the patient's birth date",
                ALWAYS,
                ClaimStatus(A8, codes.STATUS_SERVICE_DATES),
                ClaimStatus(A8, codes.STATUS_BIRTH_DATE, entity),
                claim=claim,
            )
        )
    return issues


# What the engine holds: money to the cent below ten billion (NUMERIC(12,2) in the store),
# units to the thousandth. A claim beyond that cannot be paid to the cent, so it is rejected
# on the 277CA rather than rounded.
MAX_AMOUNT: Final = Decimal("9999999999.99")
MAX_UNITS: Final = Decimal("999999999999.999")
_UNIT_EXPONENT: Final = -3


_AMOUNT_WORDS: Final = {
    "AMOUNT-TOO-LARGE": f"is larger than the engine's limit of {MAX_AMOUNT}",
    "AMOUNT-NOT-CENTS": "has more than two decimal places",
}


# Amounts repeat too: the answer for each value ("" for none) is kept, as for unit counts.
_AMOUNT_PROBLEMS: Final[dict[Decimal, str]] = {}


def _amount_problem(value: Decimal) -> str | None:
    if not value.is_finite():
        return "AMOUNT-TOO-LARGE"
    problem = _AMOUNT_PROBLEMS.get(value)
    if problem is None:
        if abs(value) > MAX_AMOUNT:
            problem = "AMOUNT-TOO-LARGE"
        elif round_money(value) != value:
            problem = "AMOUNT-NOT-CENTS"
        else:
            problem = ""
        if len(_AMOUNT_PROBLEMS) < 65536:
            _AMOUNT_PROBLEMS[value] = problem
    return problem or None


def _units_problem(units: Decimal) -> bool:
    return not units.is_finite() or _finite_units_problem(units)


# Unit counts are a handful of values (1, 2, 0.5 ...): each answer is kept. It depends on the
# number alone, so equal values written differently (2, 2.0) may share one.
_UNITS_PROBLEMS: Final[dict[Decimal, bool]] = {}


def _finite_units_problem(units: Decimal) -> bool:
    problem = _UNITS_PROBLEMS.get(units)
    if problem is None:
        problem = abs(units) > MAX_UNITS or (
            units.as_tuple().exponent < _UNIT_EXPONENT  # type: ignore[operator]
            and units != units.quantize(Decimal("0.001"))
        )
        if len(_UNITS_PROBLEMS) < 1024:
            _UNITS_PROBLEMS[units] = problem
    return problem


def _other_payer_amounts(claim: Claim) -> Iterator[Decimal]:
    """The amounts other payers reported, claim level first, then line by line."""
    for op in claim.other_payers:
        for a in (op.paid_amount, op.remaining_patient_liability, op.non_covered_amount):
            if a is not None:
                yield a
    for op in claim.other_payers:
        for adj in op.adjustments:
            yield adj.amount
    for ln in claim.lines:
        for line_adj in ln.adjudications:
            yield line_adj.paid_amount
            for adj in line_adj.adjustments:
                yield adj.amount


def check_amounts(claim: Claim, ctx: EditContext) -> list[Issue]:
    """Charges the engine can pay to the cent and units it can count."""
    issues: list[Issue] = []
    words = _AMOUNT_WORDS
    problem = _amount_problem(claim.total_charge)
    if problem:
        issues.append(
            _issue(
                problem,
                f"claim charge {claim.total_charge} {words[problem]}",
                ALWAYS,
                ClaimStatus(A7, codes.STATUS_CHARGES),
                claim=claim,
            )
        )
    adjudicated = False
    for ln in claim.lines:
        problem = _amount_problem(ln.charge)
        if problem:
            issues.append(
                _issue(
                    problem,
                    f"line {ln.number} charge {ln.charge} {words[problem]}",
                    ALWAYS,
                    ClaimStatus(A7, codes.STATUS_LINE_CHARGE),
                    claim=claim,
                    position=ln.position,
                )
            )
        adjudicated = adjudicated or bool(ln.adjudications)
        units = ln.units
        if _units_problem(units):
            issues.append(
                _issue(
                    "UNITS-TOO-FINE",
                    f"line {ln.number} units {units}: more than three decimal places or too many",
                    ALWAYS,
                    ClaimStatus(A7, codes.STATUS_UNITS),
                    claim=claim,
                    position=ln.position,
                )
            )
    if not (claim.other_payers or adjudicated):
        return issues
    bad = next((a for a in _other_payer_amounts(claim) if _amount_problem(a)), None)
    if bad is not None:
        issues.append(
            _issue(
                _amount_problem(bad) or "AMOUNT-NOT-CENTS",
                f"another payer's amount {bad} is not whole cents below {MAX_AMOUNT}",
                ALWAYS,
                ClaimStatus(A7, codes.STATUS_CHARGES),
                claim=claim,
            )
        )
    return issues


Check = Callable[[Claim, EditContext], list[Issue]]

CHECKS: Final[tuple[tuple[int, Check], ...]] = (
    (3, check_charges_balance),
    (3, check_line_adjudications_balance),
    (4, check_dates_present),
    (4, check_billing_tax_id),
    (4, check_diagnoses),
    (4, check_frequency),
    (4, check_other_payer),
    (4, check_birth_dates),
    (5, check_npis),
    (5, check_diagnosis_codes),
    (5, check_procedure_codes),
    (ALWAYS, check_service_dates),
    (ALWAYS, check_amounts),
)


@lru_cache(maxsize=128)
def checks_at(levels: frozenset[int]) -> tuple[Check, ...]:
    """The checks of :data:`CHECKS` that run at ``levels``, in registry order."""
    return tuple(check for level, check in CHECKS if level == ALWAYS or level in levels)


def edit_claim(claim: Claim, ctx: EditContext) -> list[Issue]:
    """Every issue the checks at ``ctx.levels`` (and the ones that always apply) find.

    The checks of :data:`CHECKS`, in its order, called by name: compiled, a direct call costs
    next to nothing, where a call through the registry goes through Python's calling
    convention (a test keeps the two in step)."""
    levels = ctx.levels
    issues: list[Issue] = []
    if 3 in levels:
        issues += check_charges_balance(claim, ctx)
        issues += check_line_adjudications_balance(claim, ctx)
    if 4 in levels:
        issues += check_dates_present(claim, ctx)
        issues += check_billing_tax_id(claim, ctx)
        issues += check_diagnoses(claim, ctx)
        issues += check_frequency(claim, ctx)
        issues += check_other_payer(claim, ctx)
        issues += check_birth_dates(claim, ctx)
    if 5 in levels:
        issues += check_npis(claim, ctx)
        issues += check_diagnosis_codes(claim, ctx)
        issues += check_procedure_codes(claim, ctx)
    issues += check_service_dates(claim, ctx)
    issues += check_amounts(claim, ctx)
    return issues


class HashSet64:
    """A set of 64-bit hashes in one flat array (open addressing, linear probing).

    Eight bytes a slot at most half full: a million entries take 16 to 32 MB, where a Python
    ``set`` of ``int`` takes about 80 MB and twice that while it resizes."""

    __slots__ = ("_mask", "_size", "_table")

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._table = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._size = 0

    def add(self, value: int) -> bool:
        """Add ``value``; ``False`` when it was there already."""
        h = (value & 0xFFFF_FFFF_FFFF_FFFF) or 1  # 0 marks an empty slot
        table, mask = self._table, self._mask
        i = h & mask
        while True:
            slot = table[i]
            if slot == 0:
                table[i] = h
                self._size += 1
                if self._size * 2 > mask:
                    self._grow()
                return True
            if slot == h:
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        old = self._table
        capacity = len(old) * 2
        self._table = array("Q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._size = 0
        for h in old:
            if h:
                self.add(h)

    def __len__(self) -> int:
        return self._size


@dataclass(slots=True)
class DuplicateClaimIds:
    """Remembers (billing NPI, claim id) pairs of one file to find a claim sent twice.

    Only a 64-bit hash of each pair is kept, in a :class:`HashSet64`; the chance of two
    different pairs sharing a hash in a million is about one in thirty million.
    """

    seen: HashSet64 = field(default_factory=HashSet64)

    def check(self, claim: Claim) -> list[Issue]:
        if self.seen.add(hash((claim.billing_provider.npi, claim.claim_id))):
            return []
        return [
            _issue(
                "CLAIM-DUPLICATE-IN-FILE",
                f"claim id {claim.claim_id!r} from this billing provider appears earlier in "
                "the same file",
                ALWAYS,
                ClaimStatus(A3, codes.STATUS_DUPLICATE),
                ClaimStatus(A3, codes.STATUS_CLAIM_ID),
                claim=claim,
            )
        ]


def parse_levels(text: str) -> frozenset[int]:
    """``"1-5"``, ``"1,2,3"`` or ``"1-3,5"`` as a set of SNIP levels; ``ValueError`` if bad: a
    range written backwards, or a level the engine does not apply (only those of
    :data:`ALL_LEVELS`: levels 6 and 7 would be accepted and do nothing)."""
    levels: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not ascii_digits(lo) or (sep and not ascii_digits(hi)):
            raise ValueError(f"{part!r} is not a SNIP level or range such as 1-5")
        start, end = int(lo), int(hi) if sep else int(lo)
        if start > end:
            raise ValueError(f"{part!r}: the range is backwards (write {end}-{start})")
        if start < min(ALL_LEVELS) or end > max(ALL_LEVELS):
            raise ValueError(
                f"{part!r}: the engine applies SNIP levels {min(ALL_LEVELS)} to {max(ALL_LEVELS)}"
            )
        levels.update(range(start, end + 1))
    if not levels:
        raise ValueError("no SNIP levels given")
    return frozenset(levels)
