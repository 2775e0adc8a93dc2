"""Reference data: the members and providers a payer knows, loaded from CSV files.

This module owns the two record types and their loaders. The files live in
``fixtures/reference/`` (their columns are documented in the README there); the claim generator
draws from the records and adjudication will look members and providers up in them.

Loading is strict: a file with a missing column, a bad value or a dangling reference raises
:class:`~claims_engine.domain.errors.ConfigurationError` naming the file, the line and the column,
so a typo in reference data stops the operation instead of silently changing decisions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from claims_engine.domain.benefits import (
    Authorization,
    FeeSchedule,
    Plan,
    RevenueRates,
    load_authorizations,
    load_fee_schedule,
    load_plans,
    load_revenue_rates,
)
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.frozen import fast_init
from claims_engine.domain.model import Address
from claims_engine.domain.money import ascii_digits
from claims_engine.domain.npi import npi_is_valid
from claims_engine.domain.pend_reasons import DEFAULT_CATALOGUE, PendCatalogue, load_pend_reasons

MEMBER_COLUMNS = (
    "member_id",
    "subscriber_id",
    "family_id",
    "relationship",
    "last_name",
    "first_name",
    "birth_date",
    "sex",
    "address_line",
    "city",
    "state",
    "zip",
    "plan_id",
    "effective_from",
    "effective_through",
)
PROVIDER_COLUMNS = (
    "npi",
    "entity_type",
    "last_or_org_name",
    "first_name",
    "taxonomy",
    "tin",
    "address_line",
    "city",
    "state",
    "zip9",
    "kind",
    "networks",
    "group_npi",
)
# The files of a reference directory :func:`load_reference` reads (``payer.yaml`` beside them
# is the remittance's: see :mod:`claims_engine.services.reference`).
REFERENCE_DATA_FILES = (
    "members.csv",
    "providers.csv",
    "plans.yaml",
    "fee_schedule.csv",
    "revenue_rates.csv",
    "authorizations.csv",
)
# Read when present: a directory without it (a set stored before pend reasons were codes)
# has the engine's default pend reasons.
PEND_REASONS_FILE = "pend_reasons.yaml"
# Relationship of a member to the subscriber, as X12 codes it (PAT01 / SBR02).
RELATIONSHIPS = frozenset({"18", "01", "19"})
SEXES = frozenset({"M", "F", "U"})
PROVIDER_KINDS = frozenset({"professional", "institutional", "dental"})


@fast_init  # enrollment builds one per member version read or written
@dataclass(frozen=True, slots=True)
class CoverageSpan:
    """Coverage by one plan from ``start`` through ``end`` (``None``: open), on one insurance
    line (HD03 of an 834: HLT, DEN, ...)."""

    plan_id: str
    start: date
    end: date | None = None
    line: str = "HLT"

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@fast_init  # enrollment builds one per member version read or written
@dataclass(frozen=True, slots=True)
class Member:
    """A covered person. ``subscriber_id`` is the member id of the policy holder (themselves
    when ``relationship`` is 18). ``spans`` are the member's coverage periods as enrollment
    keeps them (see :mod:`claims_engine.enrollment.records`); a member read from
    ``members.csv`` has none, and ``plan_id``, ``effective_from`` and ``effective_through``
    (``None`` for open coverage) are its one period. With spans, those three are the newest
    span's plan, the first start and the last end (:func:`member_with_spans`). ``group_id`` is
    the sponsor's group (REF*1L) and ``sponsor_id`` the sponsor whose files enroll the member."""

    member_id: str
    subscriber_id: str
    family_id: str
    relationship: str
    last_name: str
    first_name: str
    birth_date: date
    sex: str
    address: Address
    plan_id: str
    effective_from: date
    effective_through: date | None
    group_id: str = ""
    sponsor_id: str = ""
    spans: tuple[CoverageSpan, ...] = ()

    @property
    def is_subscriber(self) -> bool:
        return self.relationship == "18"

    def covered_on(self, day: date, *, dental: bool | None = None) -> bool:
        """Whether the coverage includes ``day``: with ``dental``, the coverage of the kind a
        dental (or another) claim needs, where the member has spans of both kinds."""
        if self.spans:
            spans = self.spans
            if dental is not None:
                kind = [s for s in spans if (s.line == "DEN") == dental]
                spans = tuple(kind) or spans
            return any(s.covers(day) for s in spans)
        if day < self.effective_from:
            return False
        return self.effective_through is None or day <= self.effective_through

    def plan_on(self, day: date, *, dental: bool = False) -> str:
        """The plan covering ``day``: of a dental line (HD03 ``DEN``) for a dental claim, of
        another line for any other claim, else of any line; else the member's newest plan."""
        covering = [s for s in self.spans if s.covers(day)]
        for s in covering:
            if (s.line == "DEN") == dental:
                return s.plan_id
        return covering[0].plan_id if covering else self.plan_id


def member_with_spans(member: Member, spans: tuple[CoverageSpan, ...]) -> Member:
    """``member`` with ``spans`` as its coverage, its plan and period following them."""
    m = member
    if not spans:  # no coverage at all: covered on no day
        return replace(member, effective_from=date.max, effective_through=date.min, spans=())
    ordered = tuple(sorted(spans, key=lambda s: (s.start, s.line))) if len(spans) > 1 else spans
    last_end: date | None = date.min
    newest = ordered[0]
    for s in ordered:
        if s.end is None:
            last_end = None
        elif last_end is not None and s.end > last_end:
            last_end = s.end
        if (s.start, s.line == "HLT") >= (newest.start, newest.line == "HLT"):
            newest = s
    return Member(
        m.member_id,
        m.subscriber_id,
        m.family_id,
        m.relationship,
        m.last_name,
        m.first_name,
        m.birth_date,
        m.sex,
        m.address,
        newest.plan_id,
        ordered[0].start,
        last_end,
        m.group_id,
        m.sponsor_id,
        ordered,
    )


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A provider the payer knows. ``group_npi`` names the organisation an individual bills
    through (empty when they bill on their own); ``networks`` lists the provider's network
    participations: a plan id, and the days it starts and ends (``None``: open), so a
    provider joins or leaves a network on a date (empty: out of network for every plan)."""

    npi: str
    entity_type: str
    last_or_org_name: str
    first_name: str
    taxonomy: str
    tin: str
    address: Address
    kind: str
    networks: tuple[tuple[str, date | None, date | None], ...]
    group_npi: str = ""

    @property
    def is_person(self) -> bool:
        return self.entity_type == "1"

    def in_network(self, plan_id: str, on: date | None = None) -> bool:
        """Whether the provider is in the plan's network on ``on`` (on any day when ``None``)."""
        for plan, start, end in self.networks:
            if plan != plan_id:
                continue
            if on is None or ((start is None or start <= on) and (end is None or on <= end)):
                return True
        return False


def read_utf8(path: Path) -> str:
    """The text of a file that must be UTF-8. A file that cannot be read, or a byte that is not
    UTF-8, is a :class:`~claims_engine.domain.errors.ConfigurationError` naming the file and, for
    the byte, its line and column (a file saved as Latin-1 or Windows-1252 by a spreadsheet)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start : exc.start].decode("utf-8")) + 1  # valid up to the bad byte
        raise ConfigurationError(
            f"{path}: line {line}, column {column}: byte 0x{data[exc.start]:02x} is not UTF-8 "
            "(save the file as UTF-8)"
        ) from exc


class _Rows:
    """CSV rows with the position each came from, and errors that name it."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = columns
        self.line = 1

    def fail(self, column: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.path}: line {self.line}, column {column!r}: {problem}")

    def __iter__(self) -> Iterator[dict[str, str]]:
        text = read_utf8(self.path)
        try:
            with io.StringIO(text, newline="") as f:
                reader = csv.DictReader(f)
                header = reader.fieldnames or []
                missing = [c for c in self.columns if c not in header]
                if missing:
                    raise ConfigurationError(
                        f"{self.path}: line 1: missing column(s) {', '.join(missing)}"
                    )
                for row in reader:
                    self.line = reader.line_num
                    if None in row or any(v is None for v in row.values()):
                        raise ConfigurationError(
                            f"{self.path}: line {self.line}: expected {len(header)} fields"
                        )
                    yield {k: v.strip() for k, v in row.items()}
        except csv.Error as exc:
            raise ConfigurationError(f"{self.path}: line {self.line}: {exc}") from exc

    def required(self, row: dict[str, str], column: str) -> str:
        value = row[column]
        if not value:
            raise self.fail(column, "is empty")
        return value

    def one_of(self, row: dict[str, str], column: str, allowed: frozenset[str]) -> str:
        value = row[column]
        if value not in allowed:
            raise self.fail(column, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        return value

    def day(self, row: dict[str, str], column: str) -> date:
        value = self.required(row, column)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self.fail(column, f"{value!r} is not a date YYYY-MM-DD") from None

    def digits(self, row: dict[str, str], column: str, lengths: tuple[int, ...]) -> str:
        value = row[column]
        if not (ascii_digits(value) and len(value) in lengths):
            want = " or ".join(str(n) for n in lengths)
            raise self.fail(column, f"{value!r} must be {want} digits")
        return value


def _participations(rows: _Rows, text: str) -> tuple[tuple[str, date | None, date | None], ...]:
    """``PLAN`` or ``PLAN@FROM..THROUGH`` (ISO dates, either end may be empty), ``;``-separated."""
    result: list[tuple[str, date | None, date | None]] = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        plan, _, span = entry.partition("@")
        start = end = None
        if span:
            first, sep, last = span.partition("..")
            try:
                start = date.fromisoformat(first) if first else None
                end = date.fromisoformat(last) if last else None
            except ValueError:
                raise rows.fail("networks", f"{entry!r}: dates are YYYY-MM-DD") from None
            if not sep:
                raise rows.fail("networks", f"{entry!r}: write PLAN@FROM..THROUGH")
        result.append((plan.strip(), start, end))
    return tuple(result)


def load_members(path: str | Path) -> tuple[Member, ...]:
    """Every member in a ``members.csv`` file, in file order."""
    rows = _Rows(Path(path), MEMBER_COLUMNS)
    members: list[Member] = []
    lines: dict[str, int] = {}
    for row in rows:
        member_id = rows.required(row, "member_id")
        if member_id in lines:
            raise rows.fail("member_id", f"{member_id!r} is already on line {lines[member_id]}")
        lines[member_id] = rows.line
        effective_from = rows.day(row, "effective_from")
        effective_through = None
        if row["effective_through"]:
            effective_through = rows.day(row, "effective_through")
            if effective_through < effective_from:
                raise rows.fail("effective_through", "is before effective_from")
        relationship = rows.one_of(row, "relationship", RELATIONSHIPS)
        subscriber_id = rows.required(row, "subscriber_id")
        if relationship == "18" and subscriber_id != member_id:
            raise rows.fail(
                "subscriber_id", "a subscriber (relationship 18) is their own subscriber"
            )
        members.append(
            Member(
                member_id=member_id,
                subscriber_id=subscriber_id,
                family_id=rows.required(row, "family_id"),
                relationship=relationship,
                last_name=rows.required(row, "last_name"),
                first_name=rows.required(row, "first_name"),
                birth_date=rows.day(row, "birth_date"),
                sex=rows.one_of(row, "sex", SEXES),
                address=Address(
                    line1=rows.required(row, "address_line"),
                    city=rows.required(row, "city"),
                    state=rows.required(row, "state"),
                    postal_code=rows.digits(row, "zip", (5, 9)),
                ),
                plan_id=rows.required(row, "plan_id"),
                effective_from=effective_from,
                effective_through=effective_through,
                group_id=row.get("group_id", ""),
                sponsor_id=row.get("sponsor_id", ""),
            )
        )
    by_id = {m.member_id: m for m in members}
    for m in members:
        holder = by_id.get(m.subscriber_id)
        if holder is None or not holder.is_subscriber:
            rows.line = lines[m.member_id]
            raise rows.fail(
                "subscriber_id", f"{m.subscriber_id!r} is not the member id of a subscriber"
            )
    return tuple(members)


def load_providers(path: str | Path) -> tuple[ProviderRecord, ...]:
    """Every provider in a ``providers.csv`` file, in file order."""
    rows = _Rows(Path(path), PROVIDER_COLUMNS)
    providers: list[ProviderRecord] = []
    lines: dict[str, int] = {}
    for row in rows:
        npi = row["npi"]
        if not npi_is_valid(npi):
            raise rows.fail("npi", f"{npi!r} is not a valid NPI (ten digits, Luhn check digit)")
        if npi in lines:
            raise rows.fail("npi", f"{npi!r} is already on line {lines[npi]}")
        lines[npi] = rows.line
        entity_type = rows.one_of(row, "entity_type", frozenset({"1", "2"}))
        if entity_type == "1":
            first_name = rows.required(row, "first_name")
        elif row["first_name"]:
            raise rows.fail("first_name", "must be empty for an organisation (entity_type 2)")
        else:
            first_name = ""
        providers.append(
            ProviderRecord(
                npi=npi,
                entity_type=entity_type,
                last_or_org_name=rows.required(row, "last_or_org_name"),
                first_name=first_name,
                taxonomy=rows.required(row, "taxonomy"),
                tin=rows.digits(row, "tin", (9,)),
                address=Address(
                    line1=rows.required(row, "address_line"),
                    city=rows.required(row, "city"),
                    state=rows.required(row, "state"),
                    postal_code=rows.digits(row, "zip9", (9,)),
                ),
                kind=rows.one_of(row, "kind", PROVIDER_KINDS),
                networks=_participations(rows, row["networks"]),
                group_npi=row["group_npi"],
            )
        )
    by_npi = {p.npi: p for p in providers}
    for p in providers:
        if p.group_npi:
            group = by_npi.get(p.group_npi)
            if group is None or group.is_person:
                rows.line = lines[p.npi]
                raise rows.fail(
                    "group_npi", f"{p.group_npi!r} is not the NPI of an organisation in this file"
                )
    return tuple(providers)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Everything adjudication looks up, loaded once from a reference directory."""

    members: Mapping[str, Member]
    providers: Mapping[str, ProviderRecord]
    plans: Mapping[str, Plan]
    fees: FeeSchedule
    revenue_rates: RevenueRates
    authorizations: Mapping[str, tuple[Authorization, ...]]
    families: Mapping[str, tuple[Member, ...]]
    pend_reasons: PendCatalogue = DEFAULT_CATALOGUE

    def find_patient(
        self, subscriber_id: str, relationship: str, first_name: str, birth_date: date | None
    ) -> Member | None:
        """The member a claim is for: the subscriber themselves (relationship 18), or the
        dependant of that subscriber with the patient's birth date (and first name when two
        share a birth date, as twins do)."""
        if relationship == "18":
            return self.members.get(subscriber_id)
        candidates = [
            m
            for m in self.families.get(subscriber_id, ())
            if not m.is_subscriber and m.birth_date == birth_date
        ]
        if len(candidates) > 1:
            candidates = [m for m in candidates if m.first_name == first_name.upper()]
        return candidates[0] if len(candidates) == 1 else None

    def in_network(self, npi: str, plan_id: str, on: date | None = None) -> bool:
        provider = self.providers.get(npi)
        return provider is not None and provider.in_network(plan_id, on)


def load_reference(directory: str | Path) -> ReferenceData:
    """Load members, providers, plans, fees, facility rates and authorizations from a folder
    laid out as ``fixtures/reference/`` is; every problem names its file and place."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError(f"{root} is not a directory of reference data")
    for name in REFERENCE_DATA_FILES:  # every file text, before any is parsed
        read_utf8(root / name)
    pend_file = root / PEND_REASONS_FILE
    pend_reasons = (
        load_pend_reasons(read_utf8(pend_file), PEND_REASONS_FILE)
        if pend_file.exists()
        else DEFAULT_CATALOGUE
    )
    members = load_members(root / "members.csv")
    providers = load_providers(root / "providers.csv")
    plans = load_plans(root / "plans.yaml")
    for m in members:
        if m.plan_id not in plans:
            raise ConfigurationError(
                f"members.csv: member {m.member_id} is enrolled in unknown plan {m.plan_id!r}"
            )
    families: dict[str, list[Member]] = {}
    for m in members:
        families.setdefault(m.subscriber_id, []).append(m)
    return ReferenceData(
        members={m.member_id: m for m in members},
        providers={p.npi: p for p in providers},
        plans=plans,
        fees=load_fee_schedule(root / "fee_schedule.csv"),
        revenue_rates=load_revenue_rates(root / "revenue_rates.csv"),
        authorizations=load_authorizations(root / "authorizations.csv"),
        families={k: tuple(v) for k, v in families.items()},
        pend_reasons=pend_reasons,
    )
