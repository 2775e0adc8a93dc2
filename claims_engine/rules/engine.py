"""Coverage rules: effective-dated, scoped rules from YAML packs, evaluated per service line.

A rule pack is a folder of YAML files (``rules/`` at the top of the repository; its README is
the authoring guide and documents every name a condition may use). Each rule says when it is in
force (``effective_from`` / ``effective_through``), which lines it can apply to (``scope``), a
condition (``when``, a small expression evaluated with :mod:`simpleeval`) and one action
(``then``): deny with a CARC, pend for an examiner, require an authorization, cap the units,
or set the line's service category for the cost-sharing stage.

What this module owns:

- :func:`load_pack` reads a pack, checks everything it can at load time (dates, codes, actions,
  and every condition, parsed once and refused unless it uses only the documented names and
  functions) and raises :class:`RuleError` naming file, rule and problem.
- :class:`RulePack` indexes the rules by scope (procedure code, procedure range, category,
  diagnosis, plan) so a line only meets the rules that could apply to it, and evaluates a line
  (:class:`LineFacts`) against the member's earlier services (:class:`MemberHistory`).
- :data:`CARC` / :data:`RARC`: the adjustment reason and remark codes rules may use, with short
  descriptions that claim status can show.

The module is pure apart from reading the pack's files in :func:`load_pack`: no clock, no
environment. Conditions run in a sandbox: no attribute access, no comprehensions, no ``**``,
no keyword or star arguments, bounded literal and expression sizes. What a condition can build
is bounded too: at load, every value made by a literal, ``+`` or ``*`` and every function's
arguments (:data:`MAX_VALUE_CELLS`), the nesting of literals (:data:`MAX_LITERAL_NESTING`) and
the work of one evaluation (:data:`MAX_RULE_WORK`); at run time, what ``+``, ``*`` and the
functions are given or make from the line's data, and the work all the rules do for one claim
(:class:`EvaluationBudget`). Nested tuples multiply the work of ``==``, ``in`` and hashing by
their length at every level, inside C where no time limit reaches: the bounds are on the
cells of a value counted to the bottom, not on its length. An error while evaluating a
condition, or a spent budget, never escapes: it becomes a pend naming the rule.
"""

from __future__ import annotations

import ast
import hashlib
import operator
import threading
import warnings
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import yaml
from simpleeval import SimpleEval

try:
    from yaml import CSafeLoader as _CSafeLoader
except ImportError:  # PyYAML without libyaml: the same loader, slower
    from yaml import SafeLoader as _CSafeLoader  # type: ignore[assignment]

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Claim, ClaimType, Diagnosis, ServiceLine
from claims_engine.domain.pend_reasons import PEND_CODE, RULE_ERROR, RULE_REVIEW
from claims_engine.domain.reasons import CARC, RARC
from claims_engine.domain.reasons import GROUP_CODES as GROUPS

# --- code tables -------------------------------------------------------------------------------

# The adjustment groups a rule may use (CR, a 4010 group, is not sent in 5010 835s). CARC and
# RARC codes must be in the tables of :mod:`claims_engine.domain.reasons`, with the plain-language
# descriptions that claim status shows.
GROUP_CODES: Mapping[str, str] = {g: GROUPS[g] for g in ("CO", "PR", "OA", "PI")}

# Service categories a rule may set or scope on. The cost-sharing stage keys copays,
# coinsurance and no-cost-share lists on them (fixtures/reference/plans.yaml), so a typo here
# would silently change what a member pays: unknown categories are load errors.
CATEGORIES: frozenset[str] = frozenset({
    "preventive", "office_visit", "specialist", "telehealth", "urgent_care", "emergency",
    "imaging", "lab", "inpatient", "outpatient_surgery", "therapy", "mental_health",
    "maternity", "dme", "ambulance", "medical",
    "dental_preventive", "dental_basic", "dental_major", "orthodontics",
})  # fmt: skip

# The names a condition can read, and the functions it can call: nothing else resolves.
CONTEXT_NAMES: frozenset[str] = frozenset({
    "claim_type", "procedure", "modifiers", "revenue_code", "units", "charge",
    "place_of_service", "diagnoses", "principal_diagnosis", "age", "sex", "network", "plan",
    "service_date", "tooth", "category",
})  # fmt: skip
# name -> (fewest, most) positional arguments; None: no upper bound.
_ARITY: Mapping[str, tuple[int, int | None]] = {
    "units_in_year": (1, None),
    "visits_in_year": (1, None),
    "days_since_last": (1, None),
    "has_diagnosis": (1, None),
    "in_range": (2, 2),
    "startswith": (2, None),
    "len": (1, 1),
    "any_of": (2, None),
}
CONTEXT_FUNCTIONS: frozenset[str] = frozenset(_ARITY)

# What days_since_last answers when the member never had the service this plan year.
NEVER_DAYS = 99999

# Sandbox limits. A condition is a short test, not a program: these bound the work one
# evaluation can do (size of the tree times the cost of each bounded operation).
MAX_EXPRESSION_CHARS = 1000
MAX_EXPRESSION_NODES = 200
MAX_EXPRESSION_DEPTH = 32
MAX_LITERAL_CHARS = 100
# The most cells a value built by a literal, + or * may hold, and a function's arguments
# together: a string's characters, the cells of a tuple's or set's elements (an empty one, and
# anything else, is one cell). Comparing or hashing a value costs about its cells.
MAX_VALUE_CELLS = 1000
MAX_LITERAL_NESTING = 2  # ((1, 2), (3,)) nests 2 deep
# Whole numbers: converting or comparing one costs about its digits squared (a 970-digit one
# against a charge, 10 us), so a literal has at most 18 digits, as an X12 amount, and a product
# at most 38 (128 bits): never anything a sum of money or a count of units needs more of.
MAX_WHOLE_LITERAL = 10**18 - 1
MAX_PRODUCT_BITS = 128
# Work is counted in units of about one basic step (one part of a condition evaluated, one
# cell compared, hashed or built, one earlier service looked at once):
MAX_RULE_WORK = 20_000  # the most one evaluation of a condition may do, checked at load
MAX_CLAIM_WORK = 10_000_000  # what all the rules may do for one claim, spent at run time
# Looking at one earlier service costs about as much as four units, and one more for each
# code range asked about.
_SERVICE_WORK = 4
MAX_REASON_CHARS = 200


# --- errors ------------------------------------------------------------------------------------


class RuleError(ConfigurationError):
    """A rule pack cannot be loaded. ``file`` and ``rule_id`` (``None`` for a file-level
    problem) say where; ``problem`` says what."""

    def __init__(self, file: str, rule_id: str | None, problem: str) -> None:
        where = f"{file}: rule {rule_id}" if rule_id is not None else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.rule_id = rule_id
        self.problem = problem

    def __reduce__(self) -> tuple[type[RuleError], tuple[str, str | None, str]]:
        # as it was made: a simulation's worker process sends it back to the command pickled
        return (type(self), (self.file, self.rule_id, self.problem))


class _Refused(Exception):
    """A problem in one rule; the loader adds file and rule id."""


class _BudgetSpent(Exception):
    """The claim's :class:`EvaluationBudget` ran out while a condition was evaluated."""


# --- the evaluation budget ---------------------------------------------------------------------


class EvaluationBudget:
    """The work the rules may still do for one claim: :data:`MAX_CLAIM_WORK` units unless
    ``units`` says otherwise. Adjudication shares one between the lines of a claim, so neither
    many lines nor many rules can hold a worker for long. Each condition evaluated spends its
    rule's ``work`` (its bound, worked out at load), and the history functions one unit per
    earlier service looked at per code range asked about. The rule that overspends it pends
    the line (``exceeded`` names it) and no condition is evaluated with it after that."""

    __slots__ = ("exceeded", "left", "units")

    def __init__(self, units: int | None = None) -> None:
        self.units = MAX_CLAIM_WORK if units is None else units
        self.left = self.units
        self.exceeded: str | None = None

    def spend(self, units: int) -> None:
        self.left -= units
        if self.left < 0:
            raise _BudgetSpent


# --- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deny:
    """Deny the line with ``group``-``carc`` and the remarks in ``rarcs``."""

    rule_id: str
    group: str
    carc: str
    rarcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pend:
    """Hold the claim for an examiner, for a pend reason ``code`` (``pend_reasons.yaml`` of the
    reference data says its queue, priority and days)."""

    rule_id: str
    reason: str
    code: str = RULE_REVIEW


@dataclass(frozen=True, slots=True)
class RequireAuthorization:
    """The line needs an authorization on file; without one, deny with ``group``-``carc``."""

    rule_id: str
    group: str = "CO"
    carc: str = "197"
    rarcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CapUnits:
    """Allow at most ``max_units`` units; the units above it are adjusted ``group``-``carc``.
    Only returned when the line has more units than that."""

    rule_id: str
    max_units: int
    group: str
    carc: str
    rarcs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SetCategory:
    """The line's service category (for cost sharing); the last one in pack order wins."""

    rule_id: str
    category: str


RuleAction: TypeAlias = Deny | Pend | RequireAuthorization | CapUnits | SetCategory


# --- line facts and history --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LineFacts:
    """What a condition can know about one service line (see :func:`line_facts`).

    Codes are upper case without dots; ``diagnoses`` are the line's diagnoses, its primary one
    first; ``network`` is ``"in"`` or ``"out"``; ``category`` is the category the line starts
    with (rules may change it).
    """

    claim_type: str
    procedure: str
    service_date: date
    plan: str
    age: int
    sex: str
    network: str
    modifiers: tuple[str, ...] = ()
    revenue_code: str = ""
    units: Decimal = Decimal(1)
    charge: Decimal = Decimal(0)
    place_of_service: str = ""
    diagnoses: tuple[str, ...] = ()
    tooth: tuple[str, ...] = ()
    category: str = ""

    @property
    def principal_diagnosis(self) -> str:
        return self.diagnoses[0] if self.diagnoses else ""


class PriorService(NamedTuple):
    """One service the member already had: date, procedure code, units."""

    service_date: date
    procedure: str
    units: Decimal


@dataclass(frozen=True, slots=True)
class MemberHistory:
    """The member's services adjudicated before this line, in the plan year of the line.

    The caller leaves the line itself out, and adds each line of a claim once it is allowed
    (:meth:`with_service`), so that the second of two identical lines on one claim sees the
    first. Plain ``(date, code, units)`` tuples are accepted as services.
    """

    plan_year_start: date
    # any collection that can be iterated more than once: the adjudication hook passes a lazy
    # view, so a line whose rules ask nothing of the history costs nothing to give it one
    services: Iterable[PriorService | tuple[date, str, Decimal | int]] = ()

    def with_service(self, service_date: date, procedure: str, units: Decimal) -> MemberHistory:
        service = PriorService(service_date, procedure, units)
        return MemberHistory(self.plan_year_start, (*self.services, service))

    def _in_year(
        self, codes: _CodeSet, budget: EvaluationBudget | None
    ) -> Iterable[tuple[date, Decimal | int]]:
        start = self.plan_year_start
        end = _one_year_after(start)
        # a member's history is as long as the member's claims, and each range one more test
        step = _SERVICE_WORK + len(codes.ranges)
        for day, code, units in self.services:
            if budget is not None:
                budget.spend(step)
            if start <= day < end and codes.contains(code):
                yield day, units

    def units_in_year(self, *codes: str, budget: EvaluationBudget | None = None) -> Decimal:
        """Units of these codes (or same-length ``"lo-hi"`` ranges) in the plan year: any date
        in it, since claims arrive out of order and a limit counts what was already paid.
        ``budget`` (also of the other functions) pays for each service looked at."""
        found = self._in_year(_CodeSet.of(codes), budget)
        return sum((Decimal(u) for _, u in found), Decimal(0))

    def visits_in_year(self, *codes: str, budget: EvaluationBudget | None = None) -> int:
        """Distinct dates of service of these codes (or ranges) in the plan year."""
        return len({day for day, _ in self._in_year(_CodeSet.of(codes), budget)})

    def days_since_last(self, *codes: str, on: date, budget: EvaluationBudget | None = None) -> int:
        """Days from the member's last service of these codes (or ranges) on or before ``on``
        to ``on``; :data:`NEVER_DAYS` when there is none."""
        wanted = _CodeSet.of(codes)
        step = _SERVICE_WORK + len(wanted.ranges)
        days = []
        for day, code, _ in self.services:
            if budget is not None:
                budget.spend(step)
            if day <= on and wanted.contains(code):
                days.append((on - day).days)
        return min(days) if days else NEVER_DAYS


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February: the plan year ends with February
        return date(day.year + 1, 3, 1)


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (1 if before_birthday else 0)


def line_facts(
    claim: Claim,
    line: ServiceLine,
    *,
    member_birth_date: date,
    member_sex: str,
    plan_id: str,
    network: str,
    category: str = "",
) -> LineFacts:
    """The facts of ``line`` of ``claim`` for a member of ``plan_id``.

    Raises ``ValueError`` when the line has no date of service (front-end edits reject such
    claims before adjudication) or ``network`` is not ``"in"`` / ``"out"``.
    """
    if network not in ("in", "out"):
        raise ValueError(f"network must be 'in' or 'out', not {network!r}")
    day = line.service_from or claim.service_from
    if day is None:
        raise ValueError(f"line {line.number} has no date of service")
    proc = line.procedure
    codes = _diagnosis_codes(claim.diagnoses)
    # Professional and dental lines point at their diagnoses (first pointer = the line's
    # primary one); institutional lines have no pointers and carry the claim's diagnoses.
    pointed = [codes[p - 1] for p in line.diagnosis_pointers if 0 < p <= len(codes)]
    place = line.place_of_service
    if not place and claim.claim_type is not ClaimType.INSTITUTIONAL:
        place = claim.facility_code
    sex = member_sex.strip().upper()
    return LineFacts(
        claim_type=claim.claim_type.value,
        procedure=proc.code.strip().upper() if proc else "",
        modifiers=tuple(m.strip().upper() for m in proc.modifiers) if proc else (),
        revenue_code=line.revenue_code.strip(),
        units=line.units,
        charge=line.charge,
        place_of_service=place,
        diagnoses=tuple(pointed or codes),
        age=age_on(member_birth_date, day),
        sex=sex if sex in ("F", "M") else "U",
        network=network,
        plan=plan_id,
        service_date=day,
        tooth=tuple(t.code for t in line.teeth),
        category=category,
    )


@lru_cache(maxsize=4096)  # every line of a claim, and many claims, share their diagnoses
def _diagnosis_codes(diagnoses: tuple[Diagnosis, ...]) -> tuple[str, ...]:
    return tuple(_normalise_diagnosis(d.code) for d in diagnoses)


def _normalise_diagnosis(code: str) -> str:
    return code.strip().upper().replace(".", "")


# --- code sets (procedure lists and same-length ranges) ----------------------------------------


def _parse_range(text: str) -> tuple[str, str] | None:
    """``"lo-hi"`` with both ends the same length and lo <= hi, else None."""
    lo, sep, hi = text.strip().upper().partition("-")
    if not sep or not lo or len(lo) != len(hi) or lo > hi:
        return None
    return lo, hi


@dataclass(frozen=True, slots=True)
class _CodeSet:
    """Codes and same-length ranges (compared as strings)."""

    codes: frozenset[str]
    ranges: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, args: Iterable[str]) -> _CodeSet:
        codes: set[str] = set()
        ranges: list[tuple[str, str]] = []
        for arg in args:
            bounds = _parse_range(arg) if "-" in arg else None
            if bounds is not None:
                ranges.append(bounds)
            else:
                codes.add(arg.strip().upper())
        return cls(frozenset(codes), tuple(ranges))

    def contains(self, code: str) -> bool:
        if code in self.codes:
            return True
        return any(len(lo) == len(code) and lo <= code <= hi for lo, hi in self.ranges)


def _code_arguments(args: Iterable[object]) -> list[str]:
    """A condition's code arguments: strings, or tuples of them."""
    codes = []
    for arg in _flatten(args):
        if not isinstance(arg, str):
            raise TypeError(f"codes must be strings, not {type(arg).__name__}")
        codes.append(arg)
    return codes


def _flatten(args: Iterable[object]) -> list[object]:
    """Arguments, with one level of tuples / lists / sets spread out; at most
    :data:`MAX_VALUE_CELLS` of them, since each costs the functions a step in Python."""
    out: list[object] = []
    for arg in args:
        if isinstance(arg, tuple | list | frozenset | set):
            out.extend(arg)
        else:
            out.append(arg)
        if len(out) > MAX_VALUE_CELLS:
            raise ValueError(f"more than {MAX_VALUE_CELLS} arguments")
    return out


# --- the sandboxed evaluator -------------------------------------------------------------------


_SEQUENCES = (str, tuple, list, frozenset, set)


def _cells(value: object, limit: int = MAX_VALUE_CELLS) -> int:
    """The cells of ``value`` (see :data:`MAX_VALUE_CELLS`), counted until they pass
    ``limit``: a value over it is refused whatever its size, and counting a nested value to
    the bottom would take the time the limit is there to save."""
    if isinstance(value, str):
        return len(value) or 1
    if not isinstance(value, tuple | list | frozenset | set):
        return 1
    total = 0
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) or 1
        elif isinstance(item, tuple | list | frozenset | set) and item:
            if len(item) > limit:
                return len(item)
            stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def _too_big() -> ValueError:
    # no count: counting stops once past the limit
    return ValueError(f"a value of more than {MAX_VALUE_CELLS} cells")


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        cells = _cells(a) + _cells(b)
        if cells > MAX_VALUE_CELLS:
            raise _too_big()
    return a + b


def _too_long(a: int, b: int) -> bool:
    """Whether the product of whole numbers ``a`` and ``b`` can pass MAX_PRODUCT_BITS."""
    return a.bit_length() + b.bit_length() > MAX_PRODUCT_BITS


def _mult(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and _too_long(a, b):
        raise ValueError(f"a whole number of more than {MAX_PRODUCT_BITS} bits")
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, _SEQUENCES) and isinstance(times, int) and times > 0:
            # counted only as far as can matter: cells * times over the limit is refused
            cells = _cells(seq, MAX_VALUE_CELLS // times) * times
            if cells > MAX_VALUE_CELLS:
                raise _too_big()
    return a * b


def _div(a: Any, b: Any) -> Any:
    # Whole numbers divide to a Decimal: money and units never become floats.
    if isinstance(a, int) and isinstance(b, int):
        return Decimal(a) / Decimal(b)
    return a / b


def _mod(a: Any, b: Any) -> Any:
    # "%" on a string is printf formatting, which can build strings of any width.
    if isinstance(a, str | bytes):
        raise TypeError("% is for numbers only")
    return a % b


_BINARY_OPERATORS: Mapping[type[ast.AST], Callable[..., Any]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mult,
    ast.Div: _div,
    ast.Mod: _mod,
}
_UNARY_OPERATORS: Mapping[type[ast.AST], Callable[..., Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_COMPARISONS: Mapping[type[ast.AST], Callable[..., Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda x, y: x in y,
    ast.NotIn: lambda x, y: x not in y,
}
# simpleeval looks every operator node up in one table. Ours has no ** (it is refused at load
# and absent here too), no shifts or bit operators, and bounded + * %: simpleeval's own safe_*
# operators read its module-wide MAX_* limits, which we leave alone for other users.
_OPERATORS: dict[type[ast.AST], Callable[..., Any]] = {}
for _table in (_BINARY_OPERATORS, _UNARY_OPERATORS, _COMPARISONS):
    _OPERATORS.update(_table)


class _Evaluator(SimpleEval):  # type: ignore[misc]  # simpleeval ships no type information
    """simpleeval with only the nodes the loader lets through: tuple, list and set literals
    (as immutable values), and no comprehension handler at all."""

    def __init__(self, names: dict[str, object], functions: dict[str, Callable[..., Any]]):
        super().__init__(operators=_OPERATORS, functions=functions, names=names)
        self.nodes[ast.Tuple] = self._eval_sequence
        self.nodes[ast.List] = self._eval_sequence
        self.nodes[ast.Set] = self._eval_set

    def _eval_sequence(self, node: ast.Tuple | ast.List) -> tuple[object, ...]:
        return tuple(self._eval(x) for x in node.elts)

    def _eval_set(self, node: ast.Set) -> frozenset[object]:
        return frozenset(self._eval(x) for x in node.elts)


def _in_range(code: object, bounds: object) -> bool:
    if not isinstance(code, str) or not isinstance(bounds, str):
        raise TypeError("in_range takes a code and a 'lo-hi' string")
    parsed = _parse_range(bounds)
    if parsed is None:
        raise ValueError(f"{bounds!r} is not a same-length 'lo-hi' range")
    lo, hi = parsed
    return len(code) == len(lo) and lo <= code.upper() <= hi


def _startswith(text: object, *prefixes: object) -> bool:
    flat = _flatten(prefixes)
    if not isinstance(text, str) or not all(isinstance(p, str) for p in flat):
        raise TypeError("startswith takes strings")
    return text.startswith(tuple(str(p) for p in flat))


def _any_of(seq: object, *items: object) -> bool:
    values: Iterable[object] = (seq,) if isinstance(seq, str) else _flatten([seq])
    wanted = set(_flatten(items))
    return any(v in wanted for v in values)


def _length(value: object) -> int:
    if not isinstance(value, str | tuple | list | frozenset):
        raise TypeError(f"len of {type(value).__name__}")
    return len(value)


def _context(
    facts: LineFacts, history: MemberHistory, budget: EvaluationBudget | None = None
) -> tuple[dict[str, object], dict[str, Callable[..., Any]]]:
    """The names and functions one line's conditions see (CONTEXT_NAMES, CONTEXT_FUNCTIONS);
    the history functions spend ``budget``."""
    names: dict[str, object] = {
        "claim_type": facts.claim_type,
        "procedure": facts.procedure,
        "modifiers": facts.modifiers,
        "revenue_code": facts.revenue_code,
        "units": facts.units,
        "charge": facts.charge,
        "place_of_service": facts.place_of_service,
        "diagnoses": facts.diagnoses,
        "principal_diagnosis": facts.principal_diagnosis,
        "age": facts.age,
        "sex": facts.sex,
        "network": facts.network,
        "plan": facts.plan,
        "service_date": facts.service_date.isoformat(),
        "tooth": facts.tooth,
        "category": facts.category,
    }
    day = facts.service_date

    def units_in_year(*codes: object) -> Decimal:
        return history.units_in_year(*_code_arguments(codes), budget=budget)

    def visits_in_year(*codes: object) -> int:
        return history.visits_in_year(*_code_arguments(codes), budget=budget)

    def days_since_last(*codes: object) -> int:
        return history.days_since_last(*_code_arguments(codes), on=day, budget=budget)

    def has_diagnosis(*prefixes: object) -> bool:
        wanted = []
        for p in _flatten(prefixes):
            if not isinstance(p, str):
                raise TypeError("has_diagnosis takes strings")
            wanted.append(_normalise_diagnosis(p).rstrip("*"))
        found = tuple(w for w in wanted if w)
        return bool(found) and any(d.startswith(found) for d in facts.diagnoses)

    functions: dict[str, Callable[..., Any]] = {
        "units_in_year": units_in_year,
        "visits_in_year": visits_in_year,
        "days_since_last": days_since_last,
        "has_diagnosis": has_diagnosis,
        "in_range": _in_range,
        "startswith": _startswith,
        "len": _length,
        "any_of": _any_of,
    }
    return names, functions


# --- checking a condition at load --------------------------------------------------------------

_OPERATOR_SYMBOLS: Mapping[type[ast.AST], str] = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.MatMult: "@",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


Closure = Callable[[dict[str, Any], dict[str, Callable[..., Any]]], Any]


def _closure(node: ast.AST) -> Closure | None:
    """The checked condition as nested Python closures over (names, functions), built once at
    load: evaluating one then costs a few calls instead of simpleeval's walk of the tree on
    every line. Only the node kinds the sandbox admits are compiled, with the same bounded
    operator table; ``None`` (anything else) leaves the rule to simpleeval.
    Nothing here reaches Python's ``eval``."""
    if isinstance(node, ast.Constant):
        value = node.value
        return lambda names, functions: value
    if isinstance(node, ast.Name):
        name = node.id
        return lambda names, functions: names[name]
    if isinstance(node, ast.BoolOp):
        parts = [_closure(v) for v in node.values]
        if any(p is None for p in parts):
            return None
        steps = [p for p in parts if p is not None]
        if isinstance(node.op, ast.And):

            def all_of(names: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> Any:
                value: Any = True
                for step in steps:
                    value = step(names, functions)
                    if not value:
                        return value
                return value

            return all_of

        def any_of(names: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> Any:
            value: Any = False
            for step in steps:
                value = step(names, functions)
                if value:
                    return value
            return value

        return any_of
    if isinstance(node, ast.UnaryOp):
        operand = _closure(node.operand)
        unary = _OPERATORS.get(type(node.op))
        if operand is None or unary is None:
            return None
        return lambda names, functions: unary(operand(names, functions))
    if isinstance(node, ast.BinOp):
        left, right = _closure(node.left), _closure(node.right)
        binary = _OPERATORS.get(type(node.op))
        if left is None or right is None or binary is None:
            return None
        return lambda names, functions: binary(left(names, functions), right(names, functions))
    if isinstance(node, ast.Compare):
        first = _closure(node.left)
        rest = [_closure(c) for c in node.comparators]
        ops = [_OPERATORS.get(type(op)) for op in node.ops]
        if first is None or any(r is None for r in rest) or any(o is None for o in ops):
            return None
        pairs = [(o, r) for o, r in zip(ops, rest, strict=True)]

        def compare(names: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> bool:
            left = first(names, functions)
            for op, get in pairs:
                right = get(names, functions)  # type: ignore[misc]
                if not op(left, right):  # type: ignore[misc]
                    return False
                left = right
            return True

        return compare
    if isinstance(node, ast.IfExp):
        test, body, orelse = _closure(node.test), _closure(node.body), _closure(node.orelse)
        if test is None or body is None or orelse is None:
            return None
        return lambda names, functions: (
            body(names, functions) if test(names, functions) else orelse(names, functions)
        )
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = node.func.id
        args = [_closure(a) for a in node.args]
        if any(a is None for a in args):
            return None
        getters = [a for a in args if a is not None]
        return lambda names, functions: functions[function](
            *(get(names, functions) for get in getters)
        )
    if isinstance(node, ast.Subscript):
        return _subscript_closure(node)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        items = [_closure(e) for e in node.elts]
        if any(i is None for i in items):
            return None
        getters = [i for i in items if i is not None]
        if isinstance(node, ast.Set):
            return lambda names, functions: frozenset(g(names, functions) for g in getters)
        return lambda names, functions: tuple(g(names, functions) for g in getters)
    return None


def _subscript_closure(node: ast.Subscript) -> Closure | None:
    """``x[i]`` and ``x[lo:hi:step]``, as simpleeval evaluates them (which also walks every
    value it makes, element by element in Python: a cost the compiled form does not pay)."""
    container = _closure(node.value)
    key = node.slice
    if not isinstance(key, ast.Slice):
        index = _closure(key)
        if container is None or index is None:
            return None
        return lambda names, functions: container(names, functions)[index(names, functions)]
    ends = [
        (_closure(p) if p is not None else None, p is None)
        for p in (key.lower, key.upper, key.step)
    ]
    if container is None or any(get is None and not absent for get, absent in ends):
        return None
    parts = [get for get, _ in ends]

    def sliced(names: dict[str, Any], functions: dict[str, Callable[..., Any]]) -> Any:
        bounds = [get(names, functions) if get is not None else None for get in parts]
        return container(names, functions)[slice(*bounds)]

    return sliced


def compile_condition(text: str) -> ast.expr:
    """Parse a ``when`` condition once and check it against the sandbox rules.

    Returns the tree to evaluate later; raises ``ValueError`` saying what is wrong and where
    (``column`` counts from 1).
    """
    try:
        return _compile(text)
    except _Refused as exc:
        raise ValueError(str(exc)) from None


def _compile(text: str) -> ast.expr:
    return _compile_measured(text)[0]


def _compile_measured(text: str) -> tuple[ast.expr, int]:
    """The checked tree of a condition and the work one evaluation of it may do."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise _Refused(
            f"condition is {len(text)} characters long; the limit is {MAX_EXPRESSION_CHARS}"
        )
    source = text.strip()
    if not source:
        raise _Refused("condition is empty")
    try:
        # mode="eval": statements (import, assignment, several expressions) are syntax errors,
        # not warnings simpleeval would skip over. Warnings (invalid escapes) are errors too.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise _Refused(
            f"syntax error at line {exc.lineno}, column {exc.offset}: {exc.msg}"
        ) from None
    except (ValueError, RecursionError, MemoryError, Warning) as exc:
        raise _Refused(f"condition cannot be parsed: {exc}") from None
    nodes = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:  # iterative, so a deep tree is refused rather than exhausting the stack
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_EXPRESSION_NODES:
            raise _Refused(f"condition has more than {MAX_EXPRESSION_NODES} parts")
        if depth > MAX_EXPRESSION_DEPTH:
            raise _Refused(f"condition nests deeper than {MAX_EXPRESSION_DEPTH} levels")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    _check(tree.body)
    return tree.body, _measure(tree.body)


def _at(node: ast.AST) -> str:
    return f" at column {getattr(node, 'col_offset', 0) + 1}"


def _check(node: ast.AST) -> None:
    """Refuse every node the sandbox does not allow; turn float literals into Decimals."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY_OPERATORS:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _Refused(f"the {symbol} operator is not allowed{_at(node)}")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY_OPERATORS:
            symbol = _OPERATOR_SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise _Refused(f"the {symbol} operator is not allowed{_at(node)}")
        _check(node.operand)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARISONS:
                symbol = _OPERATOR_SYMBOLS.get(type(op), type(op).__name__)
                raise _Refused(f"the {symbol} comparison is not allowed (use == or !=){_at(node)}")
        _check(node.left)
        for comparator in node.comparators:
            _check(comparator)
    elif isinstance(node, ast.IfExp):
        _check(node.test)
        _check(node.body)
        _check(node.orelse)
    elif isinstance(node, ast.Call):
        _check_call(node)
    elif isinstance(node, ast.Name):
        _check_name(node)
    elif isinstance(node, ast.Constant):
        _check_constant(node)
    elif isinstance(node, ast.Tuple | ast.List | ast.Set):
        for element in node.elts:
            if isinstance(element, ast.Starred):
                raise _Refused(f"star expressions (*x) are not allowed{_at(element)}")
            _check(element)
    elif isinstance(node, ast.Subscript):
        _check(node.value)
        key = node.slice
        if isinstance(key, ast.Slice):
            for part in (key.lower, key.upper, key.step):
                if part is not None:
                    _check(part)
        else:
            if (
                isinstance(key, ast.Constant)
                and isinstance(key.value, str)
                and key.value.startswith("_")
            ):
                raise _Refused(f"subscript {key.value!r} is not allowed{_at(node)}")
            _check(key)
    elif isinstance(node, ast.Attribute):
        what = "dunder attribute" if node.attr.startswith("__") else "attribute access"
        raise _Refused(f"{what} (.{node.attr}) is not allowed{_at(node)}")
    elif isinstance(node, ast.Lambda):
        raise _Refused(f"lambda is not allowed{_at(node)}")
    elif isinstance(node, _COMPREHENSIONS):
        raise _Refused(f"comprehensions are not allowed{_at(node)}")
    elif isinstance(node, ast.JoinedStr):
        raise _Refused(f"f-strings are not allowed{_at(node)}")
    elif isinstance(node, ast.NamedExpr):
        raise _Refused(f"assignment (:=) is not allowed{_at(node)}")
    elif isinstance(node, ast.Starred):
        raise _Refused(f"star expressions (*x) are not allowed{_at(node)}")
    else:
        raise _Refused(f"{type(node).__name__} expressions are not allowed{_at(node)}")


def _check_call(node: ast.Call) -> None:
    func = node.func
    if isinstance(func, ast.Attribute):
        raise _Refused(f"method calls (.{func.attr}(...)) are not allowed{_at(node)}")
    if not isinstance(func, ast.Name):
        raise _Refused(f"only the documented functions can be called{_at(node)}")
    name = func.id
    if name not in _ARITY:
        if name in CONTEXT_NAMES:
            raise _Refused(f"{name!r} is not a function{_at(node)}")
        raise _Refused(
            f"unknown function {name!r}{_at(node)}; "
            f"functions are {', '.join(sorted(CONTEXT_FUNCTIONS))}"
        )
    if node.keywords:
        raise _Refused(f"keyword arguments are not allowed in {name}(){_at(node)}")
    fewest, most = _ARITY[name]
    count = len(node.args)
    if count < fewest or (most is not None and count > most):
        wanted = str(fewest) if most == fewest else f"at least {fewest}"
        raise _Refused(f"{name}() takes {wanted} argument(s), not {count}{_at(node)}")
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _Refused(f"star arguments (*x) are not allowed{_at(arg)}")
        _check(arg)
    if name == "in_range":
        bounds = node.args[1]
        if (
            isinstance(bounds, ast.Constant)
            and isinstance(bounds.value, str)
            and _parse_range(bounds.value) is None
        ):
            raise _Refused(
                f"in_range: {bounds.value!r} is not a same-length 'lo-hi' range{_at(bounds)}"
            )


def _check_name(node: ast.Name) -> None:
    name = node.id
    if name in CONTEXT_NAMES:
        return
    if name in _ARITY:
        raise _Refused(f"function {name!r} must be called{_at(node)}")
    if name.startswith("_"):
        raise _Refused(f"names starting with '_' are not allowed ({name}){_at(node)}")
    raise _Refused(
        f"unknown name {name!r}{_at(node)}; names are {', '.join(sorted(CONTEXT_NAMES))}"
    )


def _check_constant(node: ast.Constant) -> None:
    value = node.value
    if isinstance(value, str):
        if len(value) > MAX_LITERAL_CHARS:
            raise _Refused(
                f"string literal is {len(value)} characters long; the limit is "
                f"{MAX_LITERAL_CHARS}{_at(node)}"
            )
    elif isinstance(value, int) and not isinstance(value, bool) and value > MAX_WHOLE_LITERAL:
        raise _Refused(
            f"whole number literal of {len(str(value))} digits{_at(node)}; the limit is 18"
        )
    elif isinstance(value, float):
        # Written as a decimal, read as a Decimal: charges and units are Decimals, and a float
        # would not mix with them in arithmetic.
        node.value = Decimal(repr(value))  # type: ignore[assignment]  # read by simpleeval only
    elif value is not None and not isinstance(value, bool | int):
        raise _Refused(f"{type(value).__name__} literals are not allowed{_at(node)}")


# --- bounding what a condition can build, at load ----------------------------------------------

_NUMBER_NAMES = frozenset({"units", "charge", "age"})


class _Extent(NamedTuple):
    """What the loader knows of the value one part of a condition makes.

    ``scalar``: surely a number, a truth value or None (not a sequence); ``cells``: the most
    cells it can hold, ``None`` when that depends on the line; ``cost``: the work of going
    over it once (its cells when known); ``least``: the cells it holds for sure as a sequence
    (0 when it may be empty, or not be one); ``number``: its value, when it is a whole number
    known at load; ``nesting``: how deep literals nest in it.
    """

    scalar: bool
    cells: int | None
    cost: int = 1
    least: int = 0
    number: int | None = None
    nesting: int = 0


_SCALAR = _Extent(scalar=True, cells=1)


def _measure(node: ast.expr) -> int:
    """Refuse a checked condition that can build a value over :data:`MAX_VALUE_CELLS` cells,
    give a function arguments over that, nest literals deeper than
    :data:`MAX_LITERAL_NESTING` or do more than :data:`MAX_RULE_WORK` units of work in one
    evaluation; else the work one evaluation may do (see :class:`EvaluationBudget`).

    The work is one unit a part, plus the cells of every value built, compared, hashed or
    passed to a function. The line's own data counts one cell (the claim formats bound its
    size); a value repeated a number of times only the line knows counts
    :data:`MAX_VALUE_CELLS` (run time holds it to that)."""
    meter = _Meter()
    meter.extent(node)
    if meter.work > MAX_RULE_WORK:
        raise _Refused(
            f"condition may do {meter.work:,} units of work in one evaluation; the limit is "
            f"{MAX_RULE_WORK:,}"
        )
    return meter.work


def _sequence(
    cells: int | None, cost: int, least: int, nesting: int, *, grown: bool = False
) -> _Extent:
    """A sequence's extent; ``grown``: made by + or *, so held to the limit at run time."""
    if cells is not None:
        cost = cells
    elif grown:
        cost = min(cost, MAX_VALUE_CELLS)
    return _Extent(False, cells, cost, least, None, nesting)


class _Meter:
    def __init__(self) -> None:
        self.work = 0

    def bounded(self, extent: _Extent, node: ast.AST, what: str = "builds a value of") -> _Extent:
        if extent.cells is not None and extent.cells > MAX_VALUE_CELLS:
            raise _Refused(
                f"condition {what} up to {extent.cells:,} cells{_at(node)}; the limit is "
                f"{MAX_VALUE_CELLS:,}"
            )
        if extent.least > MAX_VALUE_CELLS:
            raise _Refused(
                f"condition {what} at least {extent.least:,} cells{_at(node)}; the limit is "
                f"{MAX_VALUE_CELLS:,}"
            )
        if extent.nesting > MAX_LITERAL_NESTING:
            raise _Refused(
                f"literals nest {extent.nesting} deep{_at(node)}; the limit is "
                f"{MAX_LITERAL_NESTING}"
            )
        self.work += extent.cost
        return extent

    def extent(self, node: ast.AST) -> _Extent:
        self.work += 1
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, str):
                return _sequence(len(value) or 1, 1, len(value), 0)
            if isinstance(value, int):  # bool too
                return _SCALAR._replace(number=int(value))
            return _SCALAR
        if isinstance(node, ast.Name):
            return _SCALAR if node.id in _NUMBER_NAMES else _sequence(None, 1, 0, 0)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return self.bounded(self.literal(node), node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp):
            number = self.extent(node.operand).number
            if number is not None and isinstance(node.op, ast.USub | ast.UAdd):
                return _SCALAR._replace(number=-number if isinstance(node.op, ast.USub) else number)
            return _SCALAR
        if isinstance(node, ast.Compare):
            costs = [self.extent(part).cost for part in (node.left, *node.comparators)]
            self.work += sum(costs)
            return _SCALAR
        if isinstance(node, ast.BoolOp):
            return _either([self.extent(v) for v in node.values])
        if isinstance(node, ast.IfExp):
            self.extent(node.test)
            return _either([self.extent(node.body), self.extent(node.orelse)])
        if isinstance(node, ast.Call):
            args = [self.extent(a) for a in node.args]
            known = [a.cells for a in args]
            cells = None if None in known else sum(c for c in known if c is not None)
            cost = sum(a.cost for a in args)
            least = sum(a.least for a in args)
            together = _sequence(cells, cost, least, max((a.nesting for a in args), default=0))
            name = node.func.id if isinstance(node.func, ast.Name) else "a function"
            self.bounded(together, node, f"gives {name}() arguments of")
            return _SCALAR
        if isinstance(node, ast.Subscript):
            whole = self.extent(node.value)
            key = node.slice
            parts = [key.lower, key.upper, key.step] if isinstance(key, ast.Slice) else [key]
            for part in parts:
                if part is not None:
                    self.extent(part)
            # an element or a slice: no bigger than the value, of a type not known here
            return _sequence(whole.cells, whole.cost, 0, whole.nesting)
        raise _Refused(f"{type(node).__name__} expressions are not allowed{_at(node)}")

    def literal(self, node: ast.Tuple | ast.List | ast.Set) -> _Extent:
        parts = [self.extent(e) for e in node.elts]
        known = [p.cells for p in parts]
        cells = None if None in known else max(1, sum(c for c in known if c is not None))
        sure = [max(1, p.least) for p in parts]
        # a set may hold one element for all of them
        least = max(sure, default=0) if isinstance(node, ast.Set) else sum(sure)
        nesting = 1 + max((p.nesting for p in parts), default=0)
        return _sequence(cells, max(1, sum(p.cost for p in parts)), least, nesting)

    def binary(self, node: ast.BinOp) -> _Extent:
        left, right = self.extent(node.left), self.extent(node.right)
        if left.scalar and right.scalar:
            number = _fold(node.op, left.number, right.number)
            if number is not None and abs(number).bit_length() > MAX_PRODUCT_BITS:
                raise _Refused(
                    f"makes a whole number of {abs(number).bit_length()} bits{_at(node)}; "
                    f"the limit is {MAX_PRODUCT_BITS}"
                )
            return _SCALAR._replace(number=number)
        nesting = max(left.nesting, right.nesting)
        if isinstance(node.op, ast.Add):
            cells = None
            if left.cells is not None and right.cells is not None:
                cells = left.cells + right.cells
            least = left.least + right.least
            return self.bounded(
                _sequence(cells, left.cost + right.cost, least, nesting, grown=True), node
            )
        if isinstance(node.op, ast.Mult):
            times, seq = (left, right) if left.scalar else (right, left)
            n = times.number if times.scalar else None
            if n is not None and n <= 0:
                return self.bounded(_sequence(1, 1, 0, nesting), node)
            if n is not None:
                cells = seq.cells * n if seq.cells is not None else None
                made = _sequence(cells, seq.cost * n, seq.least * n, nesting, grown=True)
                return self.bounded(made, node)
            # how many times is known only at run time, which holds the result to the limit
            return self.bounded(_sequence(None, MAX_VALUE_CELLS, 0, nesting, grown=True), node)
        if isinstance(node.op, ast.Sub):  # sets: no bigger than the left one
            return self.bounded(left._replace(least=0), node)
        return _SCALAR  # / and %: numbers only


def _fold(op: ast.operator, a: int | None, b: int | None) -> int | None:
    """A whole-number result known at load (a repetition count, say)."""
    if a is None or b is None:
        return None
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.Mod) and b:
        return a % b
    return None


def _either(parts: list[_Extent]) -> _Extent:
    """What ``a or b`` / ``a and b`` / ``x if c else y`` make: one of the parts."""
    if all(p.scalar for p in parts):
        return _SCALAR
    known = [p.cells for p in parts]
    return _sequence(
        None if None in known else max(c for c in known if c is not None),
        max(p.cost for p in parts),
        min(p.least for p in parts),
        max(p.nesting for p in parts),
    )


# --- rules and scope ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Which lines a rule can apply to. Every field that is given must match; an empty scope
    matches every line. ``procedures`` and ``procedure_ranges`` together are one test (the
    code is listed or in a range); ``diagnoses`` holds codes, or prefixes ending in ``*``."""

    procedures: frozenset[str] = frozenset()
    procedure_ranges: tuple[tuple[str, str], ...] = ()
    categories: frozenset[str] = frozenset()
    diagnoses: tuple[str, ...] = ()
    plans: frozenset[str] = frozenset()
    claim_types: frozenset[str] = frozenset()
    places_of_service: frozenset[str] = frozenset()
    modifiers: frozenset[str] = frozenset()  # any of them on the line

    def matches(self, facts: LineFacts, category: str) -> bool:
        if self.plans and facts.plan not in self.plans:
            return False
        if self.claim_types and facts.claim_type not in self.claim_types:
            return False
        if self.places_of_service and facts.place_of_service not in self.places_of_service:
            return False
        if self.modifiers and not self.modifiers.intersection(facts.modifiers):
            return False
        if self.procedures or self.procedure_ranges:
            code = facts.procedure
            if code not in self.procedures and not any(
                len(lo) == len(code) and lo <= code <= hi for lo, hi in self.procedure_ranges
            ):
                return False
        if self.categories and category not in self.categories:
            return False
        return not self.diagnoses or any(
            _diagnosis_matches(entry, code) for entry in self.diagnoses for code in facts.diagnoses
        )


def _diagnosis_matches(entry: str, code: str) -> bool:
    if entry.endswith("*"):
        return code.startswith(entry[:-1])
    return code == entry


@dataclass(frozen=True, slots=True)
class Rule:
    """One coverage rule. ``condition`` is the parsed ``when`` (``None``: always true);
    ``source`` is the file it came from; ``position`` its place in pack order; ``work`` what
    one evaluation of the condition may cost (see :class:`EvaluationBudget`)."""

    id: str
    description: str
    effective_from: date
    effective_through: date | None
    scope: Scope
    when: str
    action: RuleAction
    source: str = ""
    position: int = 0
    condition: ast.expr | None = field(default=None, repr=False, compare=False)
    compiled: Callable[[dict[str, Any], dict[str, Callable[..., Any]]], Any] | None = field(
        default=None, repr=False, compare=False
    )
    work: int = field(default=0, repr=False, compare=False)

    def in_force(self, day: date) -> bool:
        if day < self.effective_from:
            return False
        return self.effective_through is None or day <= self.effective_through


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome for one line: the actions (pack order), the ids of the rules the index
    handed to the line (``considered``) and of those that fired, and the final category."""

    actions: tuple[RuleAction, ...]
    considered: tuple[str, ...]
    fired: tuple[str, ...]
    category: str


class _RangeIndex:
    """Which range-scoped rules contain a code, by binary search.

    For each code length, the sorted ends of every range cut the codes into segments; each
    segment stores the rules covering it. ``(lo, 0)`` opens a range and ``(hi, 1)`` sorts
    just after ``hi``, so ranges are closed at both ends.
    """

    def __init__(self, entries: Sequence[tuple[str, str, int]]) -> None:
        by_length: dict[int, list[tuple[str, str, int]]] = {}
        for lo, hi, index in entries:
            by_length.setdefault(len(lo), []).append((lo, hi, index))
        self._tables: dict[int, tuple[list[tuple[str, int]], list[tuple[int, ...]]]] = {}
        for length, group in by_length.items():
            opens: dict[tuple[str, int], list[int]] = {}
            closes: dict[tuple[str, int], list[int]] = {}
            for lo, hi, index in group:
                opens.setdefault((lo, 0), []).append(index)
                closes.setdefault((hi, 1), []).append(index)
            bounds = sorted(set(opens) | set(closes))
            active: set[int] = set()
            segments: list[tuple[int, ...]] = []
            for bound in bounds:
                active.update(opens.get(bound, ()))
                active.difference_update(closes.get(bound, ()))
                segments.append(tuple(sorted(active)))
            self._tables[length] = (bounds, segments)

    def containing(self, code: str) -> tuple[int, ...]:
        table = self._tables.get(len(code))
        if table is None:
            return ()
        bounds, segments = table
        k = bisect_right(bounds, (code, 0)) - 1
        return segments[k] if k >= 0 else ()


class _ScopeIndex:
    """Rules by the most selective part of their scope. Every rule sits under exactly one key:
    procedure (code or range), else category, else diagnosis (first three characters, the
    ICD-10 category), else plan, else the list of rules every line meets."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_procedure: dict[str, list[int]] = {}
        self.by_category: dict[str, list[int]] = {}
        self.by_diagnosis: dict[str, list[int]] = {}
        self.by_plan: dict[str, list[int]] = {}
        # (plan or "*", claim type): rules scoped to a kind of claim, e.g. facility rules
        self.by_claim_type: dict[tuple[str, str], list[int]] = {}
        self.by_modifier: dict[str, list[int]] = {}
        self.by_place: dict[str, list[int]] = {}
        self.everywhere: list[int] = []
        ranges: list[tuple[str, str, int]] = []
        for rule in rules:
            scope, i = rule.scope, rule.position
            if scope.procedures or scope.procedure_ranges:
                for code in scope.procedures:
                    self.by_procedure.setdefault(code, []).append(i)
                ranges.extend((lo, hi, i) for lo, hi in scope.procedure_ranges)
            elif scope.categories:
                for category in scope.categories:
                    self.by_category.setdefault(category, []).append(i)
            elif scope.diagnoses and all(len(d.rstrip("*")) >= 3 for d in scope.diagnoses):
                for key in {d.rstrip("*")[:3] for d in scope.diagnoses}:
                    self.by_diagnosis.setdefault(key, []).append(i)
            elif scope.modifiers:
                for modifier in scope.modifiers:
                    self.by_modifier.setdefault(modifier, []).append(i)
            elif scope.places_of_service:
                for place in scope.places_of_service:
                    self.by_place.setdefault(place, []).append(i)
            elif scope.claim_types:
                for plan in scope.plans or ("*",):
                    for kind in scope.claim_types:
                        self.by_claim_type.setdefault((plan, kind), []).append(i)
            elif scope.plans:
                for plan in scope.plans:
                    self.by_plan.setdefault(plan, []).append(i)
            else:
                self.everywhere.append(i)
        self.ranges = _RangeIndex(ranges)

    def base(self, facts: LineFacts) -> set[int]:
        """Candidates that do not depend on the category."""
        found = set(self.everywhere)
        found.update(self.by_procedure.get(facts.procedure, ()))
        found.update(self.ranges.containing(facts.procedure))
        found.update(self.by_plan.get(facts.plan, ()))
        if self.by_claim_type:
            found.update(self.by_claim_type.get((facts.plan, facts.claim_type), ()))
            found.update(self.by_claim_type.get(("*", facts.claim_type), ()))
        if self.by_modifier:
            for modifier in facts.modifiers:
                found.update(self.by_modifier.get(modifier, ()))
        if self.by_place:
            found.update(self.by_place.get(facts.place_of_service, ()))
        for code in facts.diagnoses:
            found.update(self.by_diagnosis.get(code[:3], ()))
        return found

    def for_category(self, category: str) -> Sequence[int]:
        return self.by_category.get(category, ())


class RulePack:
    """Rules in pack order, indexed by scope. ``version`` identifies the content (see
    :func:`load_pack`) and goes on every decision made with the pack."""

    __slots__ = ("_categorising", "_other", "rules", "version")

    def __init__(self, rules: Sequence[Rule], version: str = "") -> None:
        ordered = tuple(r if r.position == i else _with_position(r, i) for i, r in enumerate(rules))
        self.rules: tuple[Rule, ...] = ordered
        self.version = version
        # set_category rules run first, so every other rule sees the category they settle on.
        self._categorising = _ScopeIndex([r for r in ordered if isinstance(r.action, SetCategory)])
        self._other = _ScopeIndex([r for r in ordered if not isinstance(r.action, SetCategory)])

    def __repr__(self) -> str:
        return f"RulePack(version={self.version!r}, rules={len(self.rules)})"

    def evaluate(
        self, facts: LineFacts, history: MemberHistory, budget: EvaluationBudget | None = None
    ) -> tuple[RuleAction, ...]:
        """The actions of every rule in force on the line's date of service whose scope
        matches and whose condition is true, in pack order. The conditions spend ``budget``
        (the claim's, shared by its lines; by default one of the line's own)."""
        return self.explain(facts, history, budget).actions

    def explain(
        self, facts: LineFacts, history: MemberHistory, budget: EvaluationBudget | None = None
    ) -> Evaluation:
        """:meth:`evaluate`, with the rules considered and fired and the final category."""
        state = _Run(self.rules, facts, history, budget or EvaluationBudget())
        # Pass 1: the category. When a rule changes it, the rules scoped to the new category
        # join the queue (those after the rule that changed it, keeping pack order).
        queue = sorted(
            self._categorising.base(facts).union(self._categorising.for_category(state.category))
        )
        k = 0
        while k < len(queue):
            position = queue[k]
            k += 1
            before = state.category
            state.apply(position)
            if state.category != before:
                later = {j for j in self._categorising.for_category(state.category) if j > position}
                queue = sorted(later.union(queue[k:]))
                k = 0
        # Pass 2: everything else, against the settled category.
        rest = self._other.base(facts).union(self._other.for_category(state.category))
        for position in sorted(rest):
            state.apply(position)
        fired = sorted(state.fired, key=lambda item: item[0])
        return Evaluation(
            actions=tuple(action for _, action in fired),
            considered=tuple(state.considered),
            fired=tuple(self.rules[i].id for i, _ in fired),
            category=state.category,
        )


def _with_position(rule: Rule, position: int) -> Rule:
    return replace(rule, position=position)


class _Run:
    """The state of one line's evaluation: its own names and evaluator, so a pack is safe to
    share between threads."""

    def __init__(
        self,
        rules: tuple[Rule, ...],
        facts: LineFacts,
        history: MemberHistory,
        budget: EvaluationBudget,
    ):
        self.rules = rules
        self.facts = facts
        self.history = history
        self.budget = budget
        self.category = facts.category
        self.considered: list[str] = []
        self.fired: list[tuple[int, RuleAction]] = []
        self._evaluator: _Evaluator | None = None

    def apply(self, position: int) -> None:
        rule = self.rules[position]
        self.considered.append(rule.id)
        facts = self.facts
        if not rule.in_force(facts.service_date) or not rule.scope.matches(facts, self.category):
            return
        if rule.condition is not None:
            outcome = self._condition(rule)
            if isinstance(outcome, Pend):
                self.fired.append((position, outcome))
                return
            if not outcome:
                return
        action = rule.action
        if isinstance(action, CapUnits) and facts.units <= action.max_units:
            return
        if isinstance(action, SetCategory):
            self.category = action.category
        self.fired.append((position, action))

    def _condition(self, rule: Rule) -> bool | Pend:
        budget = self.budget
        if budget.exceeded is not None:
            return False  # the claim already pends for the rule that spent the budget
        evaluator = self._evaluator
        if evaluator is None:
            names, functions = _context(self.facts, self.history, budget)
            # One evaluator per thread, given this line's names: building one per line cost a
            # tenth of adjudication; a thread of its own keeps a shared pack thread-safe.
            evaluator = getattr(_EVALUATORS, "evaluator", None)
            if evaluator is None:
                evaluator = _EVALUATORS.evaluator = _Evaluator(names, functions)
            evaluator.names = names
            evaluator.functions = functions
            self._evaluator = evaluator
        evaluator.names["category"] = self.category
        try:
            budget.spend(rule.work)
            if rule.compiled is not None:
                result = rule.compiled(evaluator.names, evaluator.functions)
            else:
                result = evaluator.eval(rule.when, previously_parsed=rule.condition)
        except _BudgetSpent:
            budget.exceeded = rule.id
            reason = (
                f"rule {rule.id} exceeded the evaluation budget of {budget.units:,} units of "
                "work for one claim"
            )
            return Pend(rule.id, reason[:MAX_REASON_CHARS], RULE_ERROR)
        except Exception as exc:  # any failure is the rule's, and must pend
            return _error_pend(rule, f"{type(exc).__name__}: {exc}")
        if not isinstance(result, bool):
            return _error_pend(rule, f"condition gave {type(result).__name__}, not true/false")
        return result


_EVALUATORS = threading.local()


def _error_pend(rule: Rule, problem: str) -> Pend:
    reason = f"rule {rule.id} could not be evaluated: {problem}"
    return Pend(rule.id, reason[:MAX_REASON_CHARS], RULE_ERROR)


# --- loading -----------------------------------------------------------------------------------

MANIFEST = "pack.yaml"
_FILE_KEYS = frozenset({"description", "plans", "rules"})
_MANIFEST_KEYS = frozenset({"description", "files"})
_RULE_KEYS = frozenset({"id", "description", "effective_from", "effective_through", "scope",
                        "when", "then"})  # fmt: skip
_SCOPE_KEYS = frozenset(
    {
        "procedures",
        "procedure_ranges",
        "categories",
        "diagnoses",
        "plans",
        "claim_types",
        "places_of_service",
        "modifiers",
    }
)
CLAIM_TYPES = frozenset({"P", "I", "D"})
_ADJUSTMENT_KEYS = frozenset({"group", "carc", "rarc"})


def load_pack(path: str | Path, *, known_plans: Collection[str] | None = None) -> RulePack:
    """Load a rule pack: a folder of YAML files, or one YAML file.

    In a folder, ``pack.yaml`` (when present) lists the files in pack order and every other
    ``*.yaml`` / ``*.yml`` must be listed; without it the files load in name order. The
    version is the first 12 hex digits of the SHA-256 over the sorted file names and contents.
    With ``known_plans``, a plan id in a scope that is not in it is an error. A pack with no
    rule (an empty folder, say) is an error too: it would let every claim through unchecked.
    """
    root = Path(path)
    files = _pack_files(root)
    digest = hashlib.sha256()
    texts: list[tuple[Path, str]] = []
    for file in sorted(set(files) | _manifest_of(root), key=lambda f: f.name):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise RuleError(str(file), None, f"cannot be read: {exc.strerror}") from exc
        digest.update(file.name.encode() + b"\0" + data + b"\0")
        if file in files:
            try:
                texts.append((file, data.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise RuleError(str(file), None, f"is not UTF-8 ({exc.reason})") from exc
    order = {f: i for i, f in enumerate(files)}
    texts.sort(key=lambda item: order[item[0]])
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file, text in texts:
        for rule in _parse_file(str(file), text, known_plans, len(rules)):
            if rule.id in seen:
                raise RuleError(str(file), rule.id, f"duplicate rule id (also in {seen[rule.id]})")
            seen[rule.id] = str(file)
            rules.append(rule)
    if not rules:
        raise RuleError(str(root), None, no_rule_problem(files))
    return RulePack(rules, digest.hexdigest()[:12])


def no_rule_problem(files: Collection[Path]) -> str:
    """Why a pack with no rule is refused: adjudicating under it would apply no rule at all."""
    if not files:
        return "no rule: the folder holds no *.yaml pack file"
    return "no rule: every 'rules' list in it is empty"


def _manifest_of(root: Path) -> set[Path]:
    manifest = root / MANIFEST
    return {manifest} if root.is_dir() and manifest.is_file() else set()


def _pack_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise RuleError(str(root), None, "no such rule pack (file or folder)")
    found = sorted(
        p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.name != MANIFEST
    )
    manifest = root / MANIFEST
    if not manifest.is_file():
        return found
    raw = _yaml(str(manifest), manifest.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), list):
        raise RuleError(str(manifest), None, "must be a mapping with a 'files' list")
    unknown = set(raw) - _MANIFEST_KEYS
    if unknown:
        raise RuleError(
            str(manifest), None, f"unknown keys: {', '.join(sorted(map(str, unknown)))}"
        )
    listed: list[Path] = []
    for name in raw["files"]:
        if not isinstance(name, str) or "/" in name or "\\" in name:
            raise RuleError(str(manifest), None, f"files: {name!r} is not a file name")
        file = root / name
        if file not in found:
            raise RuleError(str(manifest), None, f"files: {name} does not exist in {root}")
        if file in listed:
            raise RuleError(str(manifest), None, f"files: {name} is listed twice")
        listed.append(file)
    missing = [p.name for p in found if p not in listed]
    if missing:
        raise RuleError(str(manifest), None, f"files not listed: {', '.join(missing)}")
    return listed


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, leaving dates as strings: PyYAML turns a bad date (2024-13-01) into
    a bare ValueError, and as a string it reaches the rule checks, which name the rule."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _FastLoader(_CSafeLoader):
    """:class:`_Loader` with libyaml's parser (the same constructor and resolvers), several
    times faster on a large pack. What it refuses goes to :class:`_Loader`, so that both say
    the same thing about a broken file (see :func:`parse_yaml`)."""


_FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers

_AnyLoader: TypeAlias = type[yaml.SafeLoader] | type[_CSafeLoader]


def parse_yaml(text: str, fast: _AnyLoader = _FastLoader, exact: _AnyLoader = _Loader) -> object:
    """``text`` read by the ``fast`` loader, or when it refuses it, by the ``exact`` one
    (which raises its own error, with its own words and place, on a broken file)."""
    try:
        return yaml.load(text, Loader=fast)  # a safe loader: see the classes above
    except yaml.YAMLError:
        return yaml.load(text, Loader=exact)  # a SafeLoader subclass: safe


def _yaml(file: str, text: str) -> object:
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise RuleError(file, None, f"YAML error{where}: {problem}") from exc


def _parse_file(
    file: str, text: str, known_plans: Collection[str] | None, first_position: int
) -> list[Rule]:
    raw = _yaml(file, text)
    if not isinstance(raw, dict):
        raise RuleError(file, None, "must be a mapping with a 'rules' list")
    unknown = set(raw) - _FILE_KEYS
    if unknown:
        raise RuleError(file, None, f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    entries = raw.get("rules")
    if not isinstance(entries, list):
        raise RuleError(file, None, "'rules' must be a list")
    try:
        default_plans = _plans(raw.get("plans"), known_plans)
    except _Refused as exc:
        raise RuleError(file, None, str(exc)) from None
    rules: list[Rule] = []
    for n, entry in enumerate(entries, start=1):
        rule_id = entry.get("id") if isinstance(entry, dict) else None
        label = rule_id if isinstance(rule_id, str) and rule_id else f"#{n} (no id)"
        try:
            rule = _parse_rule(entry, default_plans, known_plans)
        except _Refused as exc:
            raise RuleError(file, label, str(exc)) from None
        rules.append(replace(rule, source=file, position=first_position + len(rules)))
    return rules


def _parse_rule(
    entry: object,
    default_plans: frozenset[str],
    known_plans: Collection[str] | None,
    *,
    closures: bool = True,
) -> Rule:
    """One rule, checked; ``closures=False`` leaves the condition uncompiled (for a check
    that never evaluates it)."""
    if not isinstance(entry, dict):
        raise _Refused("a rule must be a mapping")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise _Refused(f"unknown keys: {', '.join(sorted(map(str, unknown)))}")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise _Refused("'id' must be a non-empty string")
    if not all(c.isalnum() or c in "-_." for c in rule_id):
        raise _Refused("'id' may hold letters, digits, '-', '_' and '.' only")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _Refused("'description' must be a non-empty string")
    start = _date(entry.get("effective_from"), "effective_from")
    if start is None:
        raise _Refused("'effective_from' is required (a date, YYYY-MM-DD)")
    end = _date(entry.get("effective_through"), "effective_through")
    if end is not None and end < start:
        raise _Refused(f"bad dates: effective_through {end} is before effective_from {start}")
    scope = _scope(entry.get("scope"), default_plans, known_plans)
    when = entry.get("when")
    condition = None
    work = 0
    if when is None:
        when = ""
    elif isinstance(when, bool):
        # YAML reads an unquoted true / false as a boolean; keep it as the condition it says.
        when = str(when)
        condition, work = _compile_measured(when)
    elif isinstance(when, str):
        condition, work = _compile_measured(when)
    else:
        raise _Refused("'when' must be a string (an expression)")
    action = _action(rule_id, entry.get("then"))
    return Rule(
        id=rule_id,
        description=description.strip(),
        effective_from=start,
        effective_through=end,
        scope=scope,
        when=when,
        action=action,
        condition=condition,
        compiled=_closure(condition) if condition is not None and closures else None,
        work=work,
    )


def _date(value: object, key: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        raise _Refused(f"bad dates: {key} must be a date without a time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Refused(f"bad dates: {key} {value!r} is not a date (YYYY-MM-DD)")


def _strings(value: object, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Refused(f"scope.{key} must be a list")
    out = []
    for item in value:
        # YAML reads 0110 as the octal number 72 and 99381 as a number: codes must be quoted.
        if not isinstance(item, str) or not item.strip():
            raise _Refused(f"scope.{key}: {item!r} must be a quoted string")
        out.append(item.strip().upper())
    return out


def _plans(value: object, known_plans: Collection[str] | None) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
        raise _Refused("plans must be a list of plan ids")
    if known_plans is not None:
        unknown = [p for p in value if p not in known_plans]
        if unknown:
            raise _Refused(f"unknown plan {unknown[0]!r}")
    return frozenset(value)


def _scope(
    value: object, default_plans: frozenset[str], known_plans: Collection[str] | None
) -> Scope:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise _Refused("'scope' must be a mapping")
    unknown = set(value) - _SCOPE_KEYS
    if unknown:
        raise _Refused(f"unknown scope keys: {', '.join(sorted(map(str, unknown)))}")
    ranges = []
    for text in _strings(value.get("procedure_ranges"), "procedure_ranges"):
        bounds = _parse_range(text)
        if bounds is None:
            raise _Refused(f"scope.procedure_ranges: {text!r} is not a same-length 'lo-hi' range")
        ranges.append(bounds)
    categories = _strings(value.get("categories"), "categories")
    for category in categories:
        if category.lower() not in CATEGORIES:
            raise _Refused(f"scope.categories: unknown category {category.lower()!r}")
    diagnoses = [_normalise_diagnosis(d) for d in _strings(value.get("diagnoses"), "diagnoses")]
    for d in diagnoses:
        if "*" in d[:-1] or d == "*":
            raise _Refused(f"scope.diagnoses: {d!r}: '*' may only end a prefix")
    plans = _plans(value.get("plans"), known_plans) if "plans" in value else default_plans
    claim_types = frozenset(t.upper() for t in _strings(value.get("claim_types"), "claim_types"))
    if claim_types - CLAIM_TYPES:
        wrong = ", ".join(sorted(claim_types - CLAIM_TYPES))
        raise _Refused(f"scope.claim_types: {wrong} (claim types are P, I and D)")
    return Scope(
        procedures=frozenset(_strings(value.get("procedures"), "procedures")),
        procedure_ranges=tuple(ranges),
        categories=frozenset(c.lower() for c in categories),
        diagnoses=tuple(diagnoses),
        plans=plans,
        claim_types=claim_types,
        places_of_service=frozenset(_strings(value.get("places_of_service"), "places_of_service")),
        modifiers=frozenset(m.upper() for m in _strings(value.get("modifiers"), "modifiers")),
    )


def _action(rule_id: str, value: object) -> RuleAction:
    kinds = "deny, pend, require_authorization, cap_units or set_category"
    if not isinstance(value, dict) or len(value) != 1:
        raise _Refused(f"bad action: 'then' must name exactly one action ({kinds})")
    ((kind, body),) = value.items()
    if kind == "deny":
        group, carc, rarcs = _adjustment(body, "deny", required=True)
        return Deny(rule_id, group, carc, rarcs)
    if kind == "pend":
        if not isinstance(body, dict) or "reason" not in body or set(body) - {"reason", "code"}:
            raise _Refused('bad action: pend takes {reason: "...", code: PEND-CODE}')
        reason = body["reason"]
        if not isinstance(reason, str) or not reason.strip():
            raise _Refused("bad action: pend reason must be a non-empty string")
        code = body.get("code", RULE_REVIEW)
        if not isinstance(code, str) or not PEND_CODE.match(code):
            raise _Refused(
                f"bad action: pend code {code!r} is A-Z, 0-9 and '-' (a code of pend_reasons.yaml)"
            )
        return Pend(rule_id, reason.strip(), code)
    if kind == "require_authorization":
        group, carc, rarcs = _adjustment(body or {}, kind, required=False)
        return RequireAuthorization(rule_id, group or "CO", carc or "197", rarcs)
    if kind == "cap_units":
        if not isinstance(body, dict) or "max" not in body:
            raise _Refused("bad action: cap_units takes {max: N, group: .., carc: ..}")
        limit = body["max"]
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _Refused(f"bad action: cap_units max must be a whole number >= 1, not {limit!r}")
        rest = {k: v for k, v in body.items() if k != "max"}
        group, carc, rarcs = _adjustment(rest, kind, required=True)
        return CapUnits(rule_id, limit, group, carc, rarcs)
    if kind == "set_category":
        if not isinstance(body, str) or body not in CATEGORIES:
            raise _Refused(
                f"bad action: set_category {body!r} is not a category "
                f"({', '.join(sorted(CATEGORIES))})"
            )
        return SetCategory(rule_id, body)
    raise _Refused(f"bad action: unknown action {kind!r} (expected {kinds})")


def _adjustment(body: object, kind: str, *, required: bool) -> tuple[str, str, tuple[str, ...]]:
    if not isinstance(body, dict):
        raise _Refused(f"bad action: {kind} takes {{group: .., carc: .., rarc: ..}}")
    unknown = set(body) - _ADJUSTMENT_KEYS
    if unknown:
        raise _Refused(
            f"bad action: {kind} has unknown keys {', '.join(sorted(map(str, unknown)))}"
        )
    group = body.get("group")
    carc = body.get("carc")
    if required and (group is None or carc is None):
        raise _Refused(f"bad action: {kind} needs a group and a carc")
    if group is not None and (not isinstance(group, str) or group not in GROUP_CODES):
        raise _Refused(f"unknown group code {group!r} (one of {', '.join(GROUP_CODES)})")
    # CARCs are plain numbers (no leading zeros), so an unquoted one is safe to accept.
    if isinstance(carc, int) and not isinstance(carc, bool):
        carc = str(carc)
    if carc is not None and (not isinstance(carc, str) or carc not in CARC):
        raise _Refused(f"unknown CARC {carc!r}")
    raw_rarcs = body.get("rarc")
    rarcs = [raw_rarcs] if isinstance(raw_rarcs, str) else raw_rarcs or []
    if not isinstance(rarcs, list):
        raise _Refused(f"bad action: {kind} rarc must be a code or a list of codes")
    for rarc in rarcs:
        if not isinstance(rarc, str) or rarc not in RARC:
            raise _Refused(f"unknown RARC {rarc!r}")
    return group or "", carc or "", tuple(rarcs)
