"""Benefits reference data: plans (effective-dated), fee schedules, facility rates, and prior
authorizations, with their loaders and the look-ups adjudication makes.

Files live beside the members and providers in ``fixtures/reference/`` (see its README):
``plans.yaml``, ``fee_schedule.csv``, ``revenue_rates.csv``, ``authorizations.csv``. Loading is
strict, like :mod:`claims_engine.domain.reference_data`: a bad value raises
:class:`~claims_engine.domain.errors.ConfigurationError` naming file, line (or plan) and field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.money import money
from claims_engine.domain.reasons import CARC, RARC

OUT_OF_NETWORK_METHODS = frozenset({"percent_of_fee_schedule", "billed_charges", "not_covered"})
RATE_BASES = frozenset({"per_diem", "percent_of_charge", "per_unit"})


@dataclass(frozen=True, slots=True)
class Tier:
    """An amount for in- and out-of-network services."""

    in_network: Decimal
    out_of_network: Decimal

    def for_network(self, in_network: bool) -> Decimal:
        return self.in_network if in_network else self.out_of_network


@dataclass(frozen=True, slots=True)
class PlanVersion:
    """The benefits of a plan from ``effective_from`` until the next version."""

    effective_from: date
    deductible_individual: Tier
    deductible_family: Tier
    oop_individual: Tier
    oop_family: Tier
    coinsurance: Tier  # percent of the allowed amount the member pays
    coinsurance_by_category: Mapping[str, Decimal] = field(default_factory=dict)
    copays: Mapping[str, Decimal] = field(default_factory=dict)
    copay_only: frozenset[str] = frozenset()
    no_cost_share: frozenset[str] = frozenset()
    out_of_network_method: str = "percent_of_fee_schedule"
    out_of_network_percent: Decimal = Decimal(100)
    out_of_network_except: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Examination:
    """How the plan's pended claims are worked: the prompt-payment clock (days from receipt
    to decide a clean claim), the days a provider has to answer a request for information,
    whether waiting for that answer stops the clock, and the amount above which an examiner's
    override or price needs a second examiner's approval."""

    prompt_pay_days: int = 30
    info_request_days: int = 45
    info_request_stops_clock: bool = True
    second_approval_above: Decimal = Decimal("5000.00")


@dataclass(frozen=True, slots=True)
class NcciSettings:
    """How the plan applies CMS's NCCI edits (see ``docs/ncci.md``): whether at all, and the
    codes of a denial: a PTP edit's column 2 line (by default CO-97 with remark N20; CO-236 is
    the other usual choice) and the units above an MUE (CO-151 with N362)."""

    enabled: bool = True
    ptp_group: str = "CO"
    ptp_carc: str = "97"
    ptp_remark: str = "N20"
    mue_group: str = "CO"
    mue_carc: str = "151"
    mue_remark: str = "N362"


_NCCI_KEYS = frozenset({"enabled", "ptp_denial", "ptp_remark", "mue_denial", "mue_remark"})
NCCI_GROUPS = ("CO", "PR", "OA", "PI")

_EXAMINATION_KEYS = frozenset(
    {"prompt_pay_days", "info_request_days", "info_request_stops_clock", "second_approval_above"}
)


@dataclass(frozen=True, slots=True)
class Plan:
    id: str
    name: str
    kind: str
    plan_year_start: tuple[int, int]  # (month, day)
    timely_filing_days: int
    pend_above: Decimal
    versions: tuple[PlanVersion, ...]
    # which day picks the coverage rule pack in force: the claim's first date of service, or
    # the day it was received
    rules_by: str = "service_date"
    examination: Examination = Examination()
    ncci: NcciSettings = NcciSettings()

    def version_on(self, day: date) -> PlanVersion | None:
        """The version in force on ``day`` (``None`` before the first)."""
        current = None
        for v in self.versions:
            if v.effective_from <= day:
                current = v
        return current

    def plan_year(self, day: date) -> date:
        """The first day of the plan year that ``day`` falls in."""
        month, dom = self.plan_year_start
        start = date(day.year, month, dom)
        return start if start <= day else date(day.year - 1, month, dom)


@dataclass(frozen=True, slots=True)
class FeeScheduleEntry:
    procedure: str
    modifier: str  # "" matches any modifier not listed on its own
    place_of_service: str  # "*" for every place
    allowed: Decimal
    effective_from: date
    effective_through: date | None


@dataclass(frozen=True, slots=True)
class RevenueRate:
    revenue_code: str
    basis: str  # per_diem / per_unit: rate is dollars; percent_of_charge: rate is a percent
    rate: Decimal
    effective_from: date
    effective_through: date | None


@dataclass(frozen=True, slots=True)
class Authorization:
    """An approved authorization's service, as adjudication draws on it: the codes it covers
    between two dates, and its units (in the store's, what is left of them). ``service``
    numbers the services of one authorization (0: the reference data's, which have one)."""

    number: str
    member_id: str
    procedures: frozenset[str]
    effective_from: date
    effective_through: date
    units: Decimal
    service: int = 0

    def covers(self, procedure: str, day: date) -> bool:
        return procedure in self.procedures and self.effective_from <= day <= self.effective_through


def _in_force(start: date, end: date | None, day: date) -> bool:
    return start <= day and (end is None or day <= end)


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Allowed amounts by procedure, modifier and place of service, effective-dated."""

    entries: Mapping[str, tuple[FeeScheduleEntry, ...]]

    def allowed(
        self, procedure: str, modifiers: Sequence[str], place: str, day: date
    ) -> Decimal | None:
        """Most specific entry first: the modifier and place, then any place, then no
        modifier; ``None`` when the procedure has no fee on that day."""
        candidates = [
            e
            for e in self.entries.get(procedure, ())
            if _in_force(e.effective_from, e.effective_through, day)
        ]
        first_modifier = modifiers[0] if modifiers else ""
        for want_mod, want_pos in (
            (first_modifier, place),
            (first_modifier, "*"),
            ("", place),
            ("", "*"),
        ):
            for e in candidates:
                if e.modifier == want_mod and e.place_of_service == want_pos:
                    return e.allowed
        return None


@dataclass(frozen=True, slots=True)
class RevenueRates:
    rates: Mapping[str, tuple[RevenueRate, ...]]

    def rate(self, revenue_code: str, day: date) -> RevenueRate | None:
        for r in self.rates.get(revenue_code, ()):
            if _in_force(r.effective_from, r.effective_through, day):
                return r
        return None


# -- loading ---------------------------------------------------------------------------------------
class _LineMap(dict[Any, Any]):
    """A ``plans.yaml`` mapping that knows its line (``line``) and each key's (``lines``)."""

    line: int = 0
    lines: dict[Any, int]


class _PlansLoader(yaml.SafeLoader):
    """YAML's safe loader with mappings as :class:`_LineMap`, and dates left as text: PyYAML
    turns a bad date (2024-13-01) into a bare ValueError; as text, :func:`_date` names it."""


_PlansLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_map(loader: _PlansLoader, node: yaml.MappingNode) -> Iterator[_LineMap]:
    data = _LineMap()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            data.lines.setdefault(loader.construct_object(key_node), key_node.start_mark.line + 1)


_PlansLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def yaml_problem(path: Path, exc: yaml.YAMLError) -> str:
    """A YAML syntax error as one line: the file, the line and column, and the problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    place = f"{path}: line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{place}: not valid YAML: {problem}"


def _line(node: Any, *keys: object) -> int:
    """The line of ``node[keys[0]][keys[1]]...``, as deep as the file has it (0: unknown)."""
    line = node.line if isinstance(node, _LineMap) else 0
    for key in keys:
        if not isinstance(node, _LineMap):
            break
        line = node.lines.get(key, line)
        node = node.get(key)
    return line


def _at(file: str, node: Any, what: str, *keys: object) -> str:
    """``FILE: line N, WHAT`` for the place of ``keys`` in ``node`` (``FILE: WHAT`` if unknown)."""
    line = _line(node, *keys)
    return f"{file}: line {line}, {what}" if line else f"{file}: {what}"


def _decimal(value: Any, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ConfigurationError(f"{where}: {value!r} is not a number") from None
    if not number.is_finite():  # NaN and Infinity parse, and no amount or percent is either
        raise ConfigurationError(f"{where}: {value!r} is not a number")
    return number


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigurationError(f"{where}: {value!r} is not a date YYYY-MM-DD") from None


def _tier(raw: Any, where: str) -> Tier:
    if not isinstance(raw, Mapping) or "in" not in raw or "out" not in raw:
        raise ConfigurationError(f"{where}: expected {{in: ..., out: ...}}")
    return Tier(money(_decimal(raw["in"], where)), money(_decimal(raw["out"], where)))


def _version(raw: Any, file: str, where: str, line: int) -> PlanVersion:
    """A plan version; ``where`` names it (``plan X version N``), ``line`` is the line of the
    plan's versions (a version that is a mapping knows its own)."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{file}: line {line}, {where}: a version is a mapping")

    def at(*keys: object) -> str:
        return _at(file, raw, f"{where} {'.'.join(str(k) for k in keys)}", *keys)

    try:
        ded, oop = raw["deductible"], raw["out_of_pocket_max"]
        oon = raw.get("out_of_network") or {}
        method = str(oon.get("method", "percent_of_fee_schedule"))
        if method not in OUT_OF_NETWORK_METHODS:
            raise ConfigurationError(
                f"{at('out_of_network', 'method')}: out_of_network method {method!r} is not one "
                f"of {', '.join(sorted(OUT_OF_NETWORK_METHODS))}"
            )
        return PlanVersion(
            effective_from=_date(raw["effective_from"], at("effective_from")),
            deductible_individual=_tier(ded["individual"], at("deductible", "individual")),
            deductible_family=_tier(ded["family"], at("deductible", "family")),
            oop_individual=_tier(oop["individual"], at("out_of_pocket_max", "individual")),
            oop_family=_tier(oop["family"], at("out_of_pocket_max", "family")),
            coinsurance=Tier(
                _decimal(raw["coinsurance"]["in"], at("coinsurance", "in")),
                _decimal(raw["coinsurance"]["out"], at("coinsurance", "out")),
            ),
            coinsurance_by_category={
                str(k): _decimal(v, at("coinsurance_by_category", k))
                for k, v in (raw.get("coinsurance_by_category") or {}).items()
            },
            copays={
                str(k): money(_decimal(v, at("copays", k)))
                for k, v in (raw.get("copays") or {}).items()
            },
            copay_only=frozenset(str(c) for c in raw.get("copay_only") or ()),
            no_cost_share=frozenset(str(c) for c in raw.get("no_cost_share") or ()),
            out_of_network_method=method,
            out_of_network_percent=_decimal(
                oon.get("percent", 100), at("out_of_network", "percent")
            ),
            out_of_network_except=frozenset(str(c) for c in oon.get("except") or ()),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{_at(file, raw, where)}: missing {exc.args[0]!r}") from None
    except (TypeError, AttributeError):
        raise ConfigurationError(f"{_at(file, raw, where)}: malformed version") from None


RULES_BY = ("service_date", "receipt_date")


def _examination(raw: object, where: str) -> Examination:
    if raw is None:
        return Examination()
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: examination is a mapping")
    unknown = set(raw) - _EXAMINATION_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: examination has an unknown key {sorted(unknown)[0]!r}")
    default = Examination()
    days: dict[str, int] = {}
    for key in ("prompt_pay_days", "info_request_days"):
        value = raw.get(key, getattr(default, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 365:
            raise ConfigurationError(f"{where}: {key} {value!r} is a whole number 1 to 365")
        days[key] = value
    stops = raw.get("info_request_stops_clock", default.info_request_stops_clock)
    if not isinstance(stops, bool):
        raise ConfigurationError(f"{where}: info_request_stops_clock is true or false")
    above = money(_decimal(raw.get("second_approval_above", "5000.00"), where))
    if above < 0:
        raise ConfigurationError(f"{where}: second_approval_above is not negative")
    return Examination(days["prompt_pay_days"], days["info_request_days"], stops, above)


def _ncci(raw: object, file: str, plan: Any, where: str) -> NcciSettings:
    """The plan's ``ncci`` mapping (absent: the edits apply, with the default codes)."""
    if raw is None:
        return NcciSettings()

    def at(*keys: str) -> str:
        return _at(file, plan, f"{where} {'.'.join(('ncci', *keys))}", "ncci", *keys)

    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{at()}: ncci is a mapping (enabled, ptp_denial, ...)")
    unknown = sorted(str(k) for k in set(raw) - _NCCI_KEYS)
    if unknown:
        known = ", ".join(sorted(_NCCI_KEYS))
        raise ConfigurationError(
            f"{at(unknown[0])}: ncci has an unknown key {unknown[0]!r} (known: {known})"
        )
    default = NcciSettings()
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigurationError(f"{at('enabled')}: enabled is true or false")

    def denial(key: str, group: str, carc: str) -> tuple[str, str]:
        text = str(raw.get(key, f"{group}-{carc}")).strip().upper()
        found_group, _, found_carc = text.partition("-")
        if found_group not in NCCI_GROUPS or found_carc not in CARC:
            raise ConfigurationError(
                f"{at(key)}: {key} {text!r} is not GROUP-CARC with a group of "
                f"{', '.join(NCCI_GROUPS)} and a known CARC (such as CO-97 or CO-236)"
            )
        return found_group, found_carc

    def remark(key: str, code: str) -> str:
        text = str(raw.get(key, code)).strip().upper()
        if text not in RARC:
            raise ConfigurationError(f"{at(key)}: {key} {text!r} is not a known remark code (RARC)")
        return text

    ptp_group, ptp_carc = denial("ptp_denial", default.ptp_group, default.ptp_carc)
    mue_group, mue_carc = denial("mue_denial", default.mue_group, default.mue_carc)
    return NcciSettings(
        enabled=enabled,
        ptp_group=ptp_group,
        ptp_carc=ptp_carc,
        ptp_remark=remark("ptp_remark", default.ptp_remark),
        mue_group=mue_group,
        mue_carc=mue_carc,
        mue_remark=remark("mue_remark", default.mue_remark),
    )


def load_plans(path: str | Path) -> dict[str, Plan]:
    """The plans of a ``plans.yaml`` file; a problem names the file, its line and the plan."""
    path = Path(path)
    file = path.name
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_PlansLoader)  # safe: see class
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(yaml_problem(path, exc)) from exc
    if not isinstance(raw, Mapping) or not isinstance(raw.get("plans"), list):
        line = _line(raw, "plans")
        place = f"{path}: line {line}" if line else str(path)
        raise ConfigurationError(f"{place}: expected a top-level 'plans' list")
    plans: dict[str, Plan] = {}
    for i, p in enumerate(raw["plans"], start=1):
        where = f"plan {p.get('id', i) if isinstance(p, Mapping) else i}"
        if not isinstance(p, Mapping):
            raise ConfigurationError(f"{_at(file, raw, where, 'plans')}: a plan is a mapping")
        try:
            year_start = p["plan_year_start"]
            month, _, day = str(year_start).partition("-")
            try:
                date(2023, int(month), int(day))  # a day every year has (not 02-29)
            except ValueError:
                raise ConfigurationError(
                    f"{_at(file, p, where, 'plan_year_start')}: plan_year_start "
                    f"{year_start!r} is not a month-day MM-DD"
                ) from None
            days = p["timely_filing_days"]
            if not str(days).isascii() or not str(days).isdigit():
                raise ConfigurationError(
                    f"{_at(file, p, where, 'timely_filing_days')}: timely_filing_days "
                    f"{days!r} is not a whole number of days"
                )
            if not isinstance(p["versions"], list):
                raise ConfigurationError(f"{_at(file, p, where, 'versions')}: versions is a list")
            base = _line(p, "versions")
            versions = tuple(
                sorted(
                    (
                        _version(v, file, f"{where} version {n}", base)
                        for n, v in enumerate(p["versions"], 1)
                    ),
                    key=lambda v: v.effective_from,
                )
            )
            rules_by = str(p.get("rules_by", "service_date"))
            if rules_by not in RULES_BY:
                raise ConfigurationError(
                    f"{_at(file, p, where, 'rules_by')}: rules_by is {rules_by!r}, not one of "
                    f"{', '.join(RULES_BY)}"
                )
            plan = Plan(
                id=str(p["id"]),
                name=str(p.get("name", p["id"])),
                kind=str(p.get("kind", "medical")),
                plan_year_start=(int(month), int(day)),
                timely_filing_days=int(str(days)),
                pend_above=money(
                    _decimal(
                        p.get("pend_above", "999999999"),
                        _at(file, p, f"{where} pend_above", "pend_above"),
                    )
                ),
                versions=versions,
                rules_by=rules_by,
                examination=_examination(p.get("examination"), _at(file, p, where, "examination")),
                ncci=_ncci(p.get("ncci"), file, p, where),
            )
        except KeyError as exc:
            raise ConfigurationError(f"{_at(file, p, where)}: missing {exc.args[0]!r}") from None
        except ValueError as exc:
            raise ConfigurationError(f"{_at(file, p, where)}: {exc}") from None
        if not versions:
            raise ConfigurationError(
                f"{_at(file, p, where, 'versions')}: needs at least one version"
            )
        if plan.id in plans:
            raise ConfigurationError(
                f"{_at(file, p, where, 'id')}: plan id {plan.id!r} is defined twice"
            )
        plans[plan.id] = plan
    return plans


def _rows(path: Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or ())]
            if missing:
                raise ConfigurationError(f"{path.name}: missing columns {', '.join(missing)}")
            return [(n, row) for n, row in enumerate(reader, start=2)]
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc


def _optional_date(value: str, where: str) -> date | None:
    return _date(value, where) if value.strip() else None


def load_fee_schedule(path: str | Path) -> FeeSchedule:
    path = Path(path)
    entries: dict[str, list[FeeScheduleEntry]] = {}
    cols = (
        "procedure",
        "modifier",
        "place_of_service",
        "allowed",
        "effective_from",
        "effective_through",
    )
    for n, row in _rows(path, cols):
        where = f"{path.name}: line {n}"
        entry = FeeScheduleEntry(
            procedure=row["procedure"].strip(),
            modifier=row["modifier"].strip(),
            place_of_service=row["place_of_service"].strip() or "*",
            allowed=money(_decimal(row["allowed"], f"{where}, column 'allowed'")),
            effective_from=_date(row["effective_from"], f"{where}, column 'effective_from'"),
            effective_through=_optional_date(
                row["effective_through"], f"{where}, column 'effective_through'"
            ),
        )
        if not entry.procedure:
            raise ConfigurationError(f"{where}, column 'procedure': empty")
        entries.setdefault(entry.procedure, []).append(entry)
    return FeeSchedule({k: tuple(v) for k, v in entries.items()})


def load_revenue_rates(path: str | Path) -> RevenueRates:
    path = Path(path)
    rates: dict[str, list[RevenueRate]] = {}
    for n, row in _rows(
        path, ("revenue_code", "basis", "rate", "effective_from", "effective_through")
    ):
        where = f"{path.name}: line {n}"
        basis = row["basis"].strip()
        if basis not in RATE_BASES:
            raise ConfigurationError(
                f"{where}, column 'basis': {basis!r} is not one of {', '.join(sorted(RATE_BASES))}"
            )
        rate = RevenueRate(
            revenue_code=row["revenue_code"].strip(),
            basis=basis,
            rate=_decimal(row["rate"], f"{where}, column 'rate'"),
            effective_from=_date(row["effective_from"], f"{where}, column 'effective_from'"),
            effective_through=_optional_date(
                row["effective_through"], f"{where}, column 'effective_through'"
            ),
        )
        rates.setdefault(rate.revenue_code, []).append(rate)
    return RevenueRates({k: tuple(v) for k, v in rates.items()})


def load_authorizations(path: str | Path) -> dict[str, tuple[Authorization, ...]]:
    """Authorizations by member id."""
    path = Path(path)
    result: dict[str, list[Authorization]] = {}
    cols = (
        "authorization",
        "member_id",
        "procedures",
        "effective_from",
        "effective_through",
        "units",
    )
    for n, row in _rows(path, cols):
        where = f"{path.name}: line {n}"
        auth = Authorization(
            number=row["authorization"].strip(),
            member_id=row["member_id"].strip(),
            procedures=frozenset(row["procedures"].split()),
            effective_from=_date(row["effective_from"], f"{where}, column 'effective_from'"),
            effective_through=_date(
                row["effective_through"], f"{where}, column 'effective_through'"
            ),
            units=_decimal(row["units"], f"{where}, column 'units'"),
        )
        if not auth.procedures:
            raise ConfigurationError(f"{where}, column 'procedures': empty")
        result.setdefault(auth.member_id, []).append(auth)
    return {k: tuple(v) for k, v in result.items()}
