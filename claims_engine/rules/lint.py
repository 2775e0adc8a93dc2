"""Lint a coverage rule pack: every problem in every file, each with file, line and rule id.

:func:`claims_engine.rules.engine.load_pack` stops at the first problem; :func:`lint_pack` goes on
and reports them all as :class:`Finding` values (problems in rule data are values, not exceptions).
It reuses the loader's own checks for one rule (dates, scope, condition, action), so a pack that
lints without errors loads, and adds the checks that need the whole pack:

==================== ======== ==============================================================
code                 severity what
==================== ======== ==============================================================
``yaml``             error    the file is not YAML (line of the parser's mark)
``manifest``         error    ``pack.yaml`` is wrong (the folder's files are linted anyway)
``invalid``          error    a file or rule key the format does not have, a missing id, ...
``syntax``           error    a condition that does not parse
``unknown-name``     error    a name a condition cannot read
``unknown-function`` error    a function a condition cannot call
``bad-condition``    error    anything else the sandbox refuses in a condition
``over-budget``      error    a condition that can build a value of over 1,000 cells (or give
                              a function arguments of more), nest literals over 2 deep, or do
                              over 20,000 units of work in one evaluation
``unknown-carc``     error    a CARC not in :data:`claims_engine.domain.reasons.CARC`
``unknown-rarc``     error    a RARC not in :data:`claims_engine.domain.reasons.RARC`
``unknown-group``    error    a group code rules may not use (CO, PR, OA, PI)
``bad-action``       error    any other problem in ``then``
``bad-scope``        error    any other problem in ``scope``
``bad-date``         error    an effective date that is not a date
``duplicate-id``     error    an id already used (in this or an earlier file)
``never-fires``      error    through-date before from-date, an empty procedure range, no
                              known plan in scope, a condition false whatever the line
                              (constant, or an empty interval of ``age`` / ``units`` /
                              ``charge``)
``contradiction``    error    two rules in force on a common date, same scope, same condition,
                              whose actions conflict (see :data:`_CONFLICTS_ALWAYS`)
``date-overlap``     error    two versions of one rule in force on a common date
``date-gap``         warning  days between the end of a version and the start of the next
``shadowed``         warning  an earlier rule with the same scope always denies the line on
                              every day this one is in force, so it never changes the outcome
``unknown-plan``     warning  a scope plan no file of the pack names (others in it are known)
``duplicate-rule``   warning  same scope, condition, dates and action as an earlier rule
==================== ======== ==============================================================

**Versions of one rule**: rules whose ids have the same *stem* and whose scopes are equal. The
stem is the id without a trailing version suffix: ``-V2`` / ``_v2`` / ``.V2``, a year
``-2025`` or a date ``-20250101`` / ``-2025-01-01`` (``FREQ-WELLNESS``, ``FREQ-WELLNESS-V2``
and ``FREQ-WELLNESS-2026`` are versions of ``FREQ-WELLNESS``). Sorted by ``effective_from``,
each version must end before the next starts (else ``date-overlap``) and should end the day
before it (else ``date-gap``), as the authoring guide says: end the old one the day before,
add the new one with a new id.

The checks over two rules never go through every pair of rules sharing a scope: rules are
grouped by scope, condition and action, and a sweep over the dates meets only the pairs a
finding can come from, so the time grows with the rules and the findings, not with their
square (50,000 rules over two scopes lint in under 10 s: ``benchmarks/bench_rules_lint.py``).

Pure: reads the pack's files, nothing else (no clock, database or network). Findings come
sorted by file, line, rule id and code.
"""

from __future__ import annotations

import ast
import gc
import heapq
import re
from bisect import bisect_right
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml

from claims_engine.domain.reasons import CARC, RARC
from claims_engine.rules import engine as R
from claims_engine.rules.book import dated_versions

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: where (file, 1-based line, rule id or ``None`` for the file), how bad,
    a stable ``code`` and a message."""

    file: str
    line: int
    rule_id: str | None
    severity: Severity
    code: str
    message: str

    def format(self) -> str:
        """``file:line: rule-id: severity code: message`` (``-`` for no rule)."""
        rule = self.rule_id if self.rule_id is not None else "-"
        return f"{self.file}:{self.line}: {rule}: {self.severity} {self.code}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }


# --- YAML with line numbers --------------------------------------------------------------------


class LineDict(dict[Any, Any]):
    """A YAML mapping that knows its line (``line``) and the line of each key (``lines``)."""

    line: int = 0
    lines: dict[Any, int]

    def line_of(self, key: object) -> int:
        return self.lines.get(key, self.line)


class _LineLoader(R._Loader):
    """The rule loader's YAML (dates left as strings), with mappings as :class:`LineDict`."""


def _construct_map(
    loader: _LineLoader | _FastLineLoader, node: yaml.MappingNode
) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            if isinstance(key, str | int | bool):
                data.lines.setdefault(key, key_node.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


class _FastLineLoader(R._FastLoader):
    """:class:`_LineLoader` with libyaml's parser (see
    :func:`claims_engine.rules.engine.parse_yaml`)."""


_FastLineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


class YamlSyntaxError(Exception):
    """A file is not YAML; ``line`` is 1-based (0 when the parser gave no place)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def load_yaml_with_lines(text: str) -> object:
    """Parse YAML as the rule loader does, mappings as :class:`LineDict`."""
    try:
        return R.parse_yaml(text, _FastLineLoader, _LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise YamlSyntaxError(line, f"YAML error: {problem}") from None


# --- linting -----------------------------------------------------------------------------------


def lint_rules(path: str | Path, *, known_plans: Collection[str] | None = None) -> list[Finding]:
    """:func:`lint_pack` for a rules folder with dated versions (:mod:`claims_engine.rules.book`):
    the folder's own pack, when it has files or no versions, and every ``YYYY-MM-DD`` version
    folder, each linted as the pack it is. One pack file or folder without versions is
    :func:`lint_pack` itself."""
    root = Path(path)
    if not root.is_dir():
        return lint_pack(root, known_plans=known_plans)
    try:
        dated = [folder for _, folder in dated_versions(root)]
    except R.RuleError as exc:
        return [Finding(exc.file, 1, None, "error", "invalid", exc.problem)]
    own = any(p.suffix in (".yaml", ".yml") for p in root.iterdir() if p.is_file())
    packs = ([root] if own or not dated else []) + dated
    findings = [f for pack in packs for f in lint_pack(pack, known_plans=known_plans)]
    return sorted(findings, key=_order)


def _order(f: Finding) -> tuple[str, int, str, str, str]:
    return (f.file, f.line, f.rule_id or "", f.code, f.message)


@dataclass(frozen=True, slots=True)
class _Parsed:
    rule: R.Rule
    file: str
    line: int
    lines: LineDict


@dataclass(frozen=True, slots=True)
class _Kept:
    """What the checks over pairs of rules need of one: the rule without its parsed
    condition, which ``condition`` (its dump, ``""`` for none) stands for."""

    rule: R.Rule
    file: str
    line: int
    condition: str

    @classmethod
    def of(cls, item: _Parsed) -> _Kept:
        rule = item.rule
        key = ast.dump(rule.condition) if rule.condition is not None else ""
        return cls(replace(rule, condition=None, compiled=None), item.file, item.line, key)


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self._seen: set[tuple[str, int, str | None, str, str]] = set()

    def add(
        self,
        file: str,
        line: int,
        rule_id: str | None,
        code: str,
        message: str,
        severity: Severity = "error",
    ) -> None:
        key = (file, line, rule_id, code, message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(file, line, rule_id, severity, code, message))


def lint_pack(path: str | Path, *, known_plans: Collection[str] | None = None) -> list[Finding]:
    """Every problem in the pack at ``path`` (a folder or one file), sorted by file and line.

    ``known_plans``: the plan ids a scope may name; by default those the pack's files list
    in their top-level ``plans``. Raises :class:`claims_engine.rules.engine.RuleError` only when
    ``path`` is neither a file nor a folder.
    """
    root = Path(path)
    if not root.exists():
        raise R.RuleError(str(root), None, "no such rule pack (file or folder)")
    # A large pack makes millions of small objects that all live to the end, none in a cycle:
    # the cyclic collector would go over them again and again (half the time of 50,000 rules).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _lint_pack(root, known_plans)
    finally:
        if collecting:
            gc.enable()


def _lint_pack(root: Path, known_plans: Collection[str] | None) -> list[Finding]:
    out = _Collector()
    try:
        files = R._pack_files(root)
    except R.RuleError as exc:
        manifest = root / R.MANIFEST
        out.add(str(manifest), 1, None, "manifest", exc.problem)
        files = sorted(
            p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.name != R.MANIFEST
        )
    documents: list[tuple[str, LineDict]] = []
    for file in files:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            out.add(name, 1, None, "invalid", f"cannot be read: {exc}")
            continue
        try:
            raw = load_yaml_with_lines(text)
        except YamlSyntaxError as exc:
            out.add(name, exc.line, None, "yaml", str(exc))
            continue
        if not isinstance(raw, LineDict):
            out.add(name, 1, None, "invalid", "must be a mapping with a 'rules' list")
            continue
        documents.append((name, raw))

    file_plans: set[str] = set()
    for _, raw in documents:
        plans = raw.get("plans")
        if isinstance(plans, list):
            file_plans.update(p for p in plans if isinstance(p, str))
    known = frozenset(known_plans) if known_plans is not None else frozenset(file_plans)

    kept: list[_Kept] = []
    first_seen: dict[str, tuple[str, int]] = {}
    documents.reverse()
    while documents:  # each file's YAML let go once linted: a large pack is large
        name, raw = documents.pop()
        for item in _lint_file(name, raw, out):
            rule_id = item.rule.id
            if rule_id in first_seen:
                other_file, other_line = first_seen[rule_id]
                out.add(
                    name,
                    item.line,
                    rule_id,
                    "duplicate-id",
                    f"duplicate rule id (also at {other_file}:{other_line})",
                )
                continue
            first_seen[rule_id] = (name, item.line)
            _check_never_fires(item, known, out)
            kept.append(_Kept.of(item))
    _check_pairs(kept, out)
    return sorted(out.findings, key=lambda f: (f.file, f.line, f.rule_id or "", f.code, f.message))


def _lint_file(name: str, raw: LineDict, out: _Collector) -> list[_Parsed]:
    unknown = set(raw) - R._FILE_KEYS
    for key in sorted(map(str, unknown)):
        out.add(name, raw.line_of(key), None, "invalid", f"unknown key {key!r}")
    try:
        default_plans = R._plans(raw.get("plans"), None)
    except R._Refused as exc:
        out.add(name, raw.line_of("plans"), None, "invalid", str(exc))
        default_plans = frozenset()
    entries = raw.get("rules")
    if not isinstance(entries, list):
        out.add(name, raw.line_of("rules"), None, "invalid", "'rules' must be a list")
        return []
    parsed: list[_Parsed] = []
    rules_line = raw.line_of("rules")
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, LineDict):
            out.add(name, rules_line, f"#{n} (no id)", "invalid", "a rule must be a mapping")
            continue
        rule = _lint_rule(name, entry, n, default_plans, out)
        if rule is not None:
            parsed.append(_Parsed(rule, name, entry.line, entry))
    return parsed


def _lint_rule(
    name: str, entry: LineDict, n: int, default_plans: frozenset[str], out: _Collector
) -> R.Rule | None:
    """Check each part of one rule with the loader's own checks; the rule when all pass."""
    raw_id = entry.get("id")
    rule_id = raw_id if isinstance(raw_id, str) and raw_id else f"#{n} (no id)"
    before = len(out.findings)

    def report(key: str, message: str, code: str | None = None) -> None:
        out.add(name, entry.line_of(key), rule_id, code or _classify(message), message)

    try:
        start = R._date(entry.get("effective_from"), "effective_from")
        end = R._date(entry.get("effective_through"), "effective_through")
        if start is not None and end is not None and end < start:
            report(
                "effective_through",
                f"effective_through {end} is before effective_from {start}: "
                "the rule can never fire",
                "never-fires",
            )
        if start is None:
            report("effective_from", "'effective_from' is required (a date, YYYY-MM-DD)")
    except R._Refused as exc:
        report("effective_from", str(exc))
    try:
        R._scope(entry.get("scope"), default_plans, None)
    except R._Refused as exc:
        report("scope", *_scope_problem(str(exc)))
    when = entry.get("when")
    if isinstance(when, str | bool):
        for message in _condition_problems(str(when)):
            code = _classify(message)
            report("when", message, "bad-condition" if code == "invalid" else code)
    for code, message in _adjustment_problems(entry.get("then")):
        report("then", message, code)
    try:
        R._action(rule_id, entry.get("then"))
    except R._Refused as exc:
        if _classify(str(exc)) not in ("unknown-carc", "unknown-rarc", "unknown-group"):
            report("then", str(exc))
    if len(out.findings) > before:
        return None
    try:  # the loader's whole check: what the parts above do not cover (keys, id, ...)
        return R._parse_rule(entry, default_plans, None, closures=False)
    except R._Refused as exc:
        message = str(exc)
        if _classify(message) != "never-fires":
            out.add(name, entry.line, rule_id, _classify(message), message)
        return None


_CODES_BY_PREFIX = (
    ("syntax error", "syntax"),
    ("condition cannot be parsed", "syntax"),
    ("condition is empty", "syntax"),
    ("unknown name", "unknown-name"),
    ("unknown function", "unknown-function"),
    ("condition builds", "over-budget"),
    ("condition gives", "over-budget"),
    ("condition may do", "over-budget"),
    ("literals nest", "over-budget"),
    ("unknown CARC", "unknown-carc"),
    ("unknown RARC", "unknown-rarc"),
    ("unknown group code", "unknown-group"),
    ("unknown plan", "unknown-plan"),
    ("bad dates: effective_through", "never-fires"),
    ("bad dates", "bad-date"),
    ("bad action", "bad-action"),
    ("scope", "bad-scope"),
    ("unknown scope keys", "bad-scope"),
    ("'scope'", "bad-scope"),
    ("'when'", "bad-condition"),
)


def _classify(message: str) -> str:
    for prefix, code in _CODES_BY_PREFIX:
        if message.startswith(prefix):
            return code
    return "invalid"


def _scope_problem(message: str) -> tuple[str, str | None]:
    """An inverted same-length range (``"99397-99381"``) matches no code: it never fires."""
    found = re.match(r"scope\.procedure_ranges: '([^']*)' is not", message)
    if found:
        lo, _, hi = found.group(1).strip().upper().partition("-")
        if lo and len(lo) == len(hi) and lo > hi:
            return f"procedure range {found.group(1)!r} is empty: the rule can never fire", (
                "never-fires"
            )
    return message, None


def _condition_problems(text: str) -> list[str]:
    """The loader's refusal of a condition, then every other unknown name and function in it
    (the loader stops at the first)."""
    try:
        R._compile(text)
    except R._Refused as exc:
        first = str(exc)
    else:
        return []
    problems = [first]
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return problems
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        try:
            if isinstance(node, ast.Name) and id(node) not in called:
                R._check_name(node)
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id not in R.CONTEXT_FUNCTIONS
            ):
                R._check_call(node)
        except R._Refused as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
    return problems


def _adjustment_problems(then: object) -> list[tuple[str, str]]:
    """Every unknown group, CARC and RARC in an action (the loader stops at the first), in
    the loader's words."""
    if not isinstance(then, dict) or len(then) != 1:
        return []
    ((_, body),) = then.items()
    if not isinstance(body, dict):
        return []
    problems = []
    group = body.get("group")
    if group is not None and (not isinstance(group, str) or group not in R.GROUP_CODES):
        problems.append(
            ("unknown-group", f"unknown group code {group!r} (one of {', '.join(R.GROUP_CODES)})")
        )
    carc = body.get("carc")
    if isinstance(carc, int) and not isinstance(carc, bool):
        carc = str(carc)
    if carc is not None and (not isinstance(carc, str) or carc not in CARC):
        problems.append(("unknown-carc", f"unknown CARC {carc!r}"))
    rarcs = body.get("rarc")
    for rarc in [rarcs] if isinstance(rarcs, str) else rarcs if isinstance(rarcs, list) else []:
        if not isinstance(rarc, str) or rarc not in RARC:
            problems.append(("unknown-rarc", f"unknown RARC {rarc!r}"))
    return problems


# --- rules that can never fire -----------------------------------------------------------------


def _check_never_fires(item: _Parsed, known: frozenset[str], out: _Collector) -> None:
    rule = item.rule
    plans = rule.scope.plans
    if known and plans:
        unknown = sorted(plans - known)
        plans_line = item.lines.line_of("scope")
        if len(unknown) == len(plans):
            out.add(
                item.file,
                plans_line,
                rule.id,
                "never-fires",
                f"no plan in scope is known ({', '.join(unknown)}; known: "
                f"{', '.join(sorted(known))}): the rule can never fire",
            )
        elif unknown:
            out.add(
                item.file,
                plans_line,
                rule.id,
                "unknown-plan",
                f"unknown plan(s) in scope: {', '.join(unknown)}",
                "warning",
            )
    if rule.condition is not None:
        why = _always_false(rule.condition)
        if why:
            out.add(
                item.file,
                item.lines.line_of("when"),
                rule.id,
                "never-fires",
                f"the condition is always false ({why}): the rule can never fire",
            )


def _always_false(condition: ast.expr) -> str:
    """Why the condition is false whatever the line, or ``""`` when it may be true."""
    uses_facts = any(isinstance(n, ast.Name | ast.Call) for n in ast.walk(condition))
    if not uses_facts:
        # compiled as adjudication runs it, within the bounds the loader checked
        compiled = R._closure(condition)
        try:
            if compiled is not None:
                value = compiled({}, {})
            else:
                value = R._Evaluator({}, {}).eval("", previously_parsed=condition)
        except Exception:  # a failing constant condition pends at run time: not ours to say
            return ""
        return "it is a constant" if value is False else ""
    conjuncts = (
        condition.values
        if isinstance(condition, ast.BoolOp) and isinstance(condition.op, ast.And)
        else [condition]
    )
    bounds: dict[str, list[tuple[Decimal, str]]] = {}
    for part in conjuncts:
        for name, op, value in _comparisons(part):
            bounds.setdefault(name, []).append((value, op))
    for name, limits in sorted(bounds.items()):
        if _empty_interval(limits):
            return f"no {name} satisfies every comparison"
    return ""


_NUMERIC = frozenset({"age", "units", "charge"})
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}
_OPS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
}


def _comparisons(node: ast.expr) -> list[tuple[str, str, Decimal]]:
    """``name op number`` tests in a (chained) comparison of a numeric fact with literals."""
    if not isinstance(node, ast.Compare):
        return []
    found = []
    operands = [node.left, *node.comparators]
    for left, op, right in zip(operands, node.ops, operands[1:], strict=False):
        symbol = _OPS.get(type(op))
        if symbol is None:
            continue
        if isinstance(left, ast.Name) and left.id in _NUMERIC and _number(right) is not None:
            found.append((left.id, symbol, _number(right) or Decimal(0)))
        elif isinstance(right, ast.Name) and right.id in _NUMERIC and _number(left) is not None:
            found.append((right.id, _FLIP[symbol], _number(left) or Decimal(0)))
    return found


def _number(node: ast.expr) -> Decimal | None:
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def _empty_interval(limits: list[tuple[Decimal, str]]) -> bool:
    low: tuple[Decimal, bool] | None = None  # (bound, strict)
    high: tuple[Decimal, bool] | None = None
    for value, op in limits:
        if op in (">", ">=", "=="):
            candidate = (value, op == ">")
            if low is None or candidate[0] > low[0] or (candidate[0] == low[0] and candidate[1]):
                low = candidate
        if op in ("<", "<=", "=="):
            candidate = (value, op == "<")
            if high is None or candidate[0] < high[0] or (candidate[0] == high[0] and candidate[1]):
                high = candidate
    if low is None or high is None:
        return False
    return low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1]))


# --- checks over pairs of rules ----------------------------------------------------------------

_VERSION_SUFFIX = re.compile(r"[-_.](V\d+|\d{4}(-?\d{2}-?\d{2})?)$", re.IGNORECASE)


def version_stem(rule_id: str) -> str:
    """The id without a trailing version suffix (``-V2``, ``-2025``, ``-20250101``, ...)."""
    return _VERSION_SUFFIX.sub("", rule_id)


def _scope_key(scope: R.Scope) -> tuple[object, ...]:
    return (
        scope.procedures,
        frozenset(scope.procedure_ranges),
        scope.categories,
        frozenset(scope.diagnoses),
        scope.plans,
        scope.claim_types,
        scope.places_of_service,
        scope.modifiers,
    )


def _end(rule: R.Rule) -> date:
    return rule.effective_through or date.max


def _describe(action: R.RuleAction) -> str:
    if isinstance(action, R.Deny):
        return f"deny {action.group}-{action.carc}"
    if isinstance(action, R.Pend):
        return f"pend {action.code}"
    if isinstance(action, R.RequireAuthorization):
        return "require_authorization"
    if isinstance(action, R.CapUnits):
        return f"cap_units {action.max_units}"
    return f"set_category {action.category}"


@dataclass(frozen=True, slots=True)
class _Entry:
    """One rule of a scope group, with what the pair checks compare worked out once."""

    item: _Kept
    order: int  # place in pack order: a finding goes on the later rule of a pair
    stem: str
    condition: str
    start: date
    end: date
    kind: str  # deny / cap / auth / category / pend
    key: object  # what two actions of one kind differ in


def _entry(item: _Kept, order: int) -> _Entry:
    rule = item.rule
    action = rule.action
    kind: str
    key: object = None
    if isinstance(action, R.Deny):
        kind, key = "deny", (action.group, action.carc, action.rarcs)
    elif isinstance(action, R.CapUnits):
        kind, key = "cap", action.max_units
    elif isinstance(action, R.RequireAuthorization):
        kind = "auth"
    elif isinstance(action, R.SetCategory):
        kind, key = "category", action.category
    else:
        kind = "pend"
    return _Entry(
        item,
        order,
        version_stem(rule.id),
        item.condition,
        rule.effective_from,
        _end(rule),
        kind,
        key,
    )


# Two actions that cannot both be meant for one line: two categories, two different denials,
# two different caps (the same kind, ``key`` differing), or a deny beside a cap or an
# authorization requirement (the deny makes the other moot). A category beside anything,
# and a pend beside anything, are not conflicts.
_CONFLICTS_DIFFERING = frozenset({"deny", "cap", "category"})
_CONFLICTS_ALWAYS: dict[str, tuple[str, ...]] = {
    "deny": ("cap", "auth"),
    "cap": ("deny",),
    "auth": ("deny",),
}


def _check_pairs(parsed: list[_Kept], out: _Collector) -> None:
    """The checks over two rules of one scope: contradiction, duplicate-rule, shadowed (and
    the versions' date-overlap and date-gap). Each looks only at the pairs it can report,
    found by grouping and a sweep over the dates, not at every pair of a scope: a pack of
    many rules sharing a scope lints in about linear time."""
    by_scope: dict[tuple[object, ...], list[_Kept]] = {}
    for item in parsed:
        by_scope.setdefault(_scope_key(item.rule.scope), []).append(item)
    for group in by_scope.values():
        _check_versions(group, out)
        if len(group) < 2:
            continue
        entries = [_entry(item, order) for order, item in enumerate(group)]
        by_condition: dict[str, list[_Entry]] = {}
        for entry in entries:
            by_condition.setdefault(entry.condition, []).append(entry)
        for same in by_condition.values():
            if len(same) > 1:
                _check_contradictions(same, out)
                _check_duplicates(same, out)
        _check_shadowed(entries, out)


def _pair(first: _Entry, second: _Entry) -> tuple[_Entry, _Entry]:
    """(earlier, later) in pack order."""
    return (first, second) if first.order < second.order else (second, first)


def _check_contradictions(same: list[_Entry], out: _Collector) -> None:
    """Rules of one scope and condition in force on a common date whose actions conflict: a
    sweep over the start dates keeps the rules still in force, by kind and key, and a rule
    meets only the kinds and keys it conflicts with."""
    # kind -> key -> order -> rule, of the rules in force on the date the sweep is at
    active: dict[str, dict[object, dict[int, _Entry]]] = {}
    ends: list[tuple[date, int, _Entry]] = []  # a heap of the active rules by end date
    for entry in sorted(same, key=lambda e: (e.start, e.order)):
        while ends and ends[0][0] < entry.start:
            _, _, gone = heapq.heappop(ends)
            keys = active[gone.kind]
            del keys[gone.key][gone.order]
            if not keys[gone.key]:
                del keys[gone.key]
        met: list[_Entry] = []
        if entry.kind in _CONFLICTS_DIFFERING:
            for key, others in active.get(entry.kind, {}).items():
                if key != entry.key:
                    met.extend(others.values())
        for kind in _CONFLICTS_ALWAYS.get(entry.kind, ()):
            for others in active.get(kind, {}).values():
                met.extend(others.values())
        for other in met:
            if other.stem != entry.stem:  # versions of one rule: date-overlap says it
                _contradiction(*_pair(other, entry), out)
        active.setdefault(entry.kind, {}).setdefault(entry.key, {})[entry.order] = entry
        heapq.heappush(ends, (entry.end, entry.order, entry))


def _contradiction(earlier: _Entry, later: _Entry, out: _Collector) -> None:
    a, b = earlier.item, later.item
    where = f"{a.rule.id} ({a.file}:{a.line})"
    out.add(
        b.file,
        b.line,
        b.rule.id,
        "contradiction",
        f"{_describe(b.rule.action)} contradicts {_describe(a.rule.action)} of {where}: same "
        "scope and condition, in force on common dates",
    )


def _check_duplicates(same: list[_Entry], out: _Collector) -> None:
    """Rules of one scope and condition with the same dates and action: each pair of them
    is a finding (but two versions of one rule, which date-overlap reports)."""
    alike: dict[tuple[object, ...], list[_Entry]] = {}
    for entry in same:
        rule = entry.item.rule
        action = replace(rule.action, rule_id="")
        alike.setdefault((action, rule.effective_from, rule.effective_through), []).append(entry)
    for copies in alike.values():
        for j, later in enumerate(copies):  # in pack order
            for earlier in copies[:j]:
                if earlier.stem != later.stem:
                    a, b = earlier.item, later.item
                    out.add(
                        b.file,
                        b.line,
                        b.rule.id,
                        "duplicate-rule",
                        f"does what {a.rule.id} ({a.file}:{a.line}) does (same scope, "
                        "condition, dates and action)",
                        "warning",
                    )


def _check_shadowed(entries: list[_Entry], out: _Collector) -> None:
    """A rule with a condition (not a category) after a rule of the same scope that denies
    every line, in force on every day the later one is (another version of the same rule
    aside): reported once, naming the denier in force longest.

    One sweep in pack order: the deniers met so far sit in a Fenwick tree over their start
    dates, each node keeping the two that end latest with different stems, so a rule asks
    "which earlier denier starting by my start ends latest, other than my own versions" in
    log time however many deniers the scope holds."""
    always = [e for e in entries if not e.condition and e.kind == "deny"]
    if not always:
        return
    starts = sorted({e.start for e in always})
    size = len(starts)
    tree: list[list[_Entry]] = [[] for _ in range(size + 1)]
    for entry in sorted(entries, key=lambda e: e.order):
        if not entry.condition and entry.kind == "deny":
            i = bisect_right(starts, entry.start)  # 1-based rank of its start
            while i <= size:
                tree[i] = _latest_two(tree[i], entry)
                i += i & -i
            continue
        if not entry.condition or entry.kind == "category":
            continue
        best: list[_Entry] = []
        i = bisect_right(starts, entry.start)
        while i > 0:
            for kept in tree[i]:
                best = _latest_two(best, kept)
            i -= i & -i
        shadower = next((d for d in best if d.stem != entry.stem), None)
        if shadower is None or shadower.end < entry.end:
            continue
        a, b = shadower.item, entry.item
        out.add(
            b.file,
            b.line,
            b.rule.id,
            "shadowed",
            f"{a.rule.id} ({a.file}:{a.line}) denies every line of the same scope "
            "first, on every day this rule is in force: it never changes the outcome",
            "warning",
        )


def _latest_two(kept: list[_Entry], new: _Entry) -> list[_Entry]:
    """Of ``kept`` (at most two, of different stems) and ``new``: the two that end latest
    (the earlier in pack order first on a tie) with different stems, latest first."""
    candidates = sorted([*kept, new], key=lambda e: (-e.end.toordinal(), e.order))
    chosen: list[_Entry] = []
    for e in candidates:
        if all(c.stem != e.stem for c in chosen):
            chosen.append(e)
            if len(chosen) == 2:
                break
    return chosen


def _check_versions(group: list[_Kept], out: _Collector) -> None:
    stems: dict[str, list[_Kept]] = {}
    for item in group:
        stems.setdefault(version_stem(item.rule.id), []).append(item)
    for versions in stems.values():
        versions = sorted(versions, key=lambda v: (v.rule.effective_from, _end(v.rule)))
        for a, b in pairwise(versions):
            ra, rb = a.rule, b.rule
            where = f"{ra.id} ({a.file}:{a.line})"
            if _end(ra) >= rb.effective_from:
                through = ra.effective_through or "open-ended"
                out.add(
                    b.file,
                    b.line,
                    rb.id,
                    "date-overlap",
                    f"in force from {rb.effective_from} while the earlier version {where} is "
                    f"in force through {through}; end it on {rb.effective_from - timedelta(1)}",
                )
            elif _end(ra) + timedelta(1) < rb.effective_from:
                out.add(
                    b.file,
                    b.line,
                    rb.id,
                    "date-gap",
                    f"starts {rb.effective_from} but the earlier version {where} ends "
                    f"{ra.effective_through}: no version is in force from "
                    f"{_end(ra) + timedelta(1)} to {rb.effective_from - timedelta(1)}",
                    "warning",
                )
