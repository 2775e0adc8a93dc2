"""The NCCI stage: CMS's procedure-to-procedure (PTP) and medically unlikely (MUE) edits.

Applied by :func:`~claims_engine.adjudication.adjudicate.adjudicate` after the coverage rules,
to professional claims (the practitioner tables; a DME supplier's claims meet the DME MUEs and
no PTP edit) and outpatient institutional claims (the hospital tables), when the member's plan
has not switched the edits off (``ncci: {enabled: false}`` in ``plans.yaml``). "Same patient,
same provider, same day" is the member, the billing NPI (the provider the engine keys
duplicates by) and the line's date of service, across the claim and the member's standing
earlier claims (their lines that were not denied):

* **PTP** (:func:`check_ptp`, the whole claim at once): a line whose code is the column 2 code
  of an edit in force on its day, billed with the column 1 code on this claim or paid on an
  earlier one, is denied, unless the edit's modifier indicator is 1 and either line carries an
  NCCI PTP-associated modifier (:data:`NCCI_MODIFIERS`; an earlier claim's modifiers are not
  kept, so there only the line's own count) or an examiner overrode the line. A column 1 code
  whose column 2 code was paid on an earlier claim pends the claim (``NCCI-PTP-PAID``) for an
  examiner, rather than paying both; once the examiner resolves it, the line is paid.
* **MUE** (:class:`MueCounter`, line by line): units above the edit's value are denied as the
  units above (not the whole line). MAI 1 counts the line alone; MAI 2 and 3 count the units
  of the code on the day across the claim's earlier lines and the earlier claims (as billed,
  on lines that were paid). An examiner's override lifts MAI 1 and 3 (3 is clinical: more can
  be paid with documentation); nothing lifts MAI 2.

Every finding carries the words that name the edit (codes, table, quarter), which the line's
decision keeps as its ``note``. Pure: tables, lines and history in, findings out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from claims_engine.domain.model import Claim, ClaimType, ServiceLine
from claims_engine.domain.ncci import (
    DME,
    HOSPITAL,
    MAI_DAY_POLICY,
    MAI_LINE,
    MODIFIER_ALLOWED,
    PRACTITIONER,
    MueEdit,
    NcciTables,
    PtpEdit,
)
from claims_engine.domain.pend_reasons import NCCI_PTP_PAID, PendItem

if TYPE_CHECKING:
    from claims_engine.domain.reference_data import ReferenceData


class PriorService(Protocol):
    """What the stage reads of an earlier service (an
    :class:`~claims_engine.adjudication.adjudicate.PriorService`)."""

    @property
    def payer_claim_number(self) -> str: ...
    @property
    def billing_npi(self) -> str: ...
    @property
    def procedure(self) -> str: ...
    @property
    def service_date(self) -> date: ...
    @property
    def units(self) -> Decimal: ...


# NCCI PTP-associated modifiers (NCCI Policy Manual, chapter I): anatomic, global surgery,
# distinct procedural service and repeat test modifiers.
NCCI_MODIFIERS: frozenset[str] = frozenset(
    {
        "59",
        "XE",
        "XS",
        "XP",
        "XU",
        "24",
        "25",
        "27",
        "57",
        "58",
        "78",
        "79",
        "91",
        "E1",
        "E2",
        "E3",
        "E4",
        *(f"F{n}" for n in range(1, 10)),
        "FA",
        "LT",
        "RT",
        "LC",
        "LD",
        "LM",
        "RC",
        "RI",
        "TA",
        *(f"T{n}" for n in range(1, 10)),
    }
)
# Types of facility (CLM05-1) of inpatient claims, which no NCCI edit reaches (the engine's
# own split, as :func:`~claims_engine.adjudication.adjudicate.default_category` makes it).
INPATIENT_FACILITIES = frozenset({"11", "12"})
DME_TAXONOMY = "332B"  # durable medical equipment & medical supplies


@dataclass(frozen=True, slots=True)
class Setting:
    """Which tables a claim meets: a PTP setting and an MUE setting (None: no such edits)."""

    ptp: str | None
    mue: str | None

    def __bool__(self) -> bool:
        return self.ptp is not None or self.mue is not None


NO_SETTING = Setting(None, None)


def setting_of(claim: Claim, reference: ReferenceData) -> Setting:
    """The tables of a claim: practitioner for a professional claim (DME MUEs for a DME
    supplier's), hospital for an outpatient institutional claim, none for the others."""
    if claim.claim_type is ClaimType.PROFESSIONAL:
        taxonomy = claim.billing_provider.taxonomy
        if not taxonomy:
            known = reference.providers.get(claim.billing_provider.npi)
            taxonomy = known.taxonomy if known is not None else ""
        if taxonomy.startswith(DME_TAXONOMY):
            return Setting(None, DME)
        return Setting(PRACTITIONER, PRACTITIONER)
    if (
        claim.claim_type is ClaimType.INSTITUTIONAL
        and claim.facility_code[:2] not in INPATIENT_FACILITIES
    ):
        return Setting(HOSPITAL, HOSPITAL)
    return NO_SETTING


def _code(line: ServiceLine) -> str:
    return line.procedure.code if line.procedure is not None else ""


def _bypassed(line: ServiceLine) -> bool:
    """Whether the line carries an NCCI PTP-associated modifier."""
    procedure = line.procedure
    return procedure is not None and any(m in NCCI_MODIFIERS for m in procedure.modifiers)


def edit_name(edit: PtpEdit, setting: str, quarter: object) -> str:
    return f"NCCI PTP edit {edit.column1}/{edit.column2}, {setting} table, {quarter}"


@dataclass(frozen=True, slots=True)
class PtpFindings:
    """The lines a claim's PTP edits deny (line number -> the reason in words), and the
    pends for column 1 codes whose column 2 code an earlier claim was paid for."""

    denied: Mapping[int, str] = field(default_factory=dict)
    pends: tuple[PendItem, ...] = ()


NO_FINDINGS = PtpFindings()


def same_provider_days(
    history: Iterable[PriorService], npi: str, days: Collection[date]
) -> dict[date, list[PriorService]]:
    """The earlier services of the provider ``npi`` on each of ``days``."""
    found: dict[date, list[PriorService]] = {}
    for s in history:
        if s.billing_npi == npi and s.service_date in days:
            found.setdefault(s.service_date, []).append(s)
    return found


def check_ptp(
    lines: Sequence[tuple[ServiceLine, date]],
    earlier: Mapping[date, Sequence[PriorService]],
    tables: NcciTables,
    setting: str,
    *,
    overrides: Collection[int] = (),
    resolved: Collection[tuple[str, int]] = (),
) -> PtpFindings:
    """The PTP findings of a claim's ``lines`` (each with its date of service) against each
    other and the same provider's ``earlier`` services of the member, by day."""
    by_day: dict[date, list[ServiceLine]] = {}
    for line, day in lines:
        if _code(line):
            by_day.setdefault(day, []).append(line)
    denied: dict[int, str] = {}
    pends: dict[int, PendItem] = {}
    for day, day_lines in by_day.items():
        before = earlier.get(day, ())
        codes = {_code(ln) for ln in day_lines} | {s.procedure for s in before}
        if len(codes) < 2:
            continue  # one code on the day: no pair
        table = tables.ptp_table(setting, day)
        if table is None:
            continue
        edits = table.pairs_among(codes, day)
        if not edits:
            continue
        mine: dict[str, list[ServiceLine]] = {}
        for ln in day_lines:
            mine.setdefault(_code(ln), []).append(ln)
        theirs: dict[str, list[PriorService]] = {}
        for s in before:
            theirs.setdefault(s.procedure, []).append(s)
        for edit in edits:
            name = edit_name(edit, setting, table.quarter)
            may_bypass = edit.modifier == MODIFIER_ALLOWED
            firsts = mine.get(edit.column1, [])
            paid_firsts = theirs.get(edit.column1, [])
            for second in mine.get(edit.column2, ()):
                if second.number in denied:
                    continue
                if may_bypass and (_bypassed(second) or second.number in overrides):
                    continue
                if any(not (may_bypass and _bypassed(f)) for f in firsts):
                    denied[second.number] = f"Billed with {edit.column1} on the same day ({name})"
                elif paid_firsts:
                    denied[second.number] = (
                        f"Billed with {edit.column1}, paid on the same day on claim "
                        f"{paid_firsts[0].payer_claim_number} ({name})"
                    )
            paid_seconds = theirs.get(edit.column2)
            if not paid_seconds:
                continue
            for first in firsts:
                if first.number in pends or (NCCI_PTP_PAID, first.number) in resolved:
                    continue
                if may_bypass and (_bypassed(first) or first.number in overrides):
                    continue
                pends[first.number] = PendItem(
                    NCCI_PTP_PAID,
                    first.number,
                    "",
                    f"{edit.column1} billed after {edit.column2} of the same day was paid on "
                    f"claim {paid_seconds[0].payer_claim_number} ({name})",
                )
    if not denied and not pends:
        return NO_FINDINGS
    return PtpFindings(denied, tuple(pends[n] for n in sorted(pends)))


def _units(value: Decimal) -> str:
    return format(value.normalize(), "f")


_NO_UNITS = Decimal(0)
_MAI_WORDS = {1: "per line", 2: "per day: policy", 3: "per day: clinical"}


class MueCounter:
    """The MUE stage of one claim: the units each line may be paid for, counting the units
    of each code on each day (for MAI 2 and 3) as the claim's lines pass, on top of the same
    provider's earlier services of the member."""

    __slots__ = ("_setting", "_tables", "_used")

    def __init__(
        self, tables: NcciTables, setting: str, earlier: Mapping[date, Sequence[PriorService]]
    ) -> None:
        self._tables = tables
        self._setting = setting
        used: dict[tuple[str, date], Decimal] = {}
        for day, services in earlier.items():
            for s in services:
                key = (s.procedure, day)
                used[key] = used.get(key, _NO_UNITS) + s.units
        self._used = used

    def units(
        self, code: str, day: date, units: Decimal, *, overridden: bool = False
    ) -> tuple[Decimal, str]:
        """The units of a line (``units`` billed) that pass the MUE of ``code`` on ``day``,
        and, when fewer pass, the reason in words."""
        table = self._tables.mue_table(self._setting, day)
        edit = table.mue(code) if table is not None and code else None
        if table is None or edit is None:
            return units, ""
        value = edit.value
        if edit.mai == MAI_LINE:
            if units <= value or overridden:
                return units, ""
            return Decimal(value), (
                f"{_units(units)} units of {code} on one line, above the {value} allowed "
                f"({self._name(edit, table.quarter)})"
            )
        key = (code, day)
        used = self._used.get(key, _NO_UNITS)
        allowed = max(_NO_UNITS, min(units, value - used))
        if overridden and edit.mai != MAI_DAY_POLICY:
            allowed = units
        self._used[key] = used + allowed
        if allowed >= units:
            return units, ""
        return allowed, (
            f"{_units(used + units)} units of {code} on {day.isoformat()}, above the "
            f"{value} allowed in a day ({self._name(edit, table.quarter)})"
        )

    def _name(self, edit: MueEdit, quarter: object) -> str:
        return (
            f"NCCI MUE {edit.code} {edit.value}, {self._setting} table, {quarter}, "
            f"{_MAI_WORDS.get(edit.mai, '')}"
        )
