"""Rule tests: YAML cases that say what a rule pack does to one service line.

Case files live next to the pack (``rules/tests/*.yaml``; a sub-folder is never read as rules).
A file is a mapping with an optional ``description`` and a ``cases`` list; a case is::

    - id: wellness-second-visit-in-year        # unique in the file
      description: a second preventive visit in one plan year is denied
      line:                                    # the service line (LineFacts)
        plan: PPO-GOLD                         # required
        service_date: 2024-06-03               # required
        claim_type: P                          # P (default), I or D
        procedure: "99395"
        modifiers: [LT]
        units: 1                               # default 1
        charge: "150.00"                       # default 0
        place_of_service: "11"
        diagnoses: [Z00.00]                    # the primary one first; dots are dropped
        revenue_code: "0450"
        tooth: ["3"]
        network: in                            # in (default) or out
      member: {birth_date: 1980-04-01, sex: F} # required; age on the date of service; sex F, M
                                               # or U (default)
      history:                                 # services already allowed (optional)
        - {date: 2024-02-10, procedure: "99395", units: 1}
      plan_year_start: 2024-01-01              # default: 1 January of the service year
      category: ""                             # the category the line starts with (optional)
      expect:                                  # `none`, or the actions in pack order
        - deny: {group: CO, carc: "119", rarc: N130}
        - category: preventive                 # the final category (optional)
      fired: [CAT-PREVENTIVE, FREQ-WELLNESS]   # optional: every rule that fired, pack order

``expect`` lists the line's actions other than ``set_category`` (``deny``, ``pend``,
``require_authorization``, ``cap_units``) in pack order, in the ``then`` syntax; keys left out
of one (``rarc``, ``reason``) are not compared. ``category: X`` in it checks the final
category. ``expect: none`` means no action but categories.

:func:`run_rule_tests` loads the pack and the cases and returns one :class:`CaseResult` per
case; a failure names file, line and case id and shows what was expected and what came.
Pure: reads the files it is given, nothing else.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from claims_engine.domain.errors import ConfigurationError
from claims_engine.rules import engine as R
from claims_engine.rules.book import load_rulebook
from claims_engine.rules.lint import LineDict, YamlSyntaxError, load_yaml_with_lines

CASES_FOLDER = "tests"  # under the pack's folder
_FILE_KEYS = frozenset({"description", "cases"})
_CASE_KEYS = frozenset(
    {"id", "description", "line", "member", "history", "plan_year_start", "category", "expect",
     "fired"}
)  # fmt: skip
_LINE_KEYS = frozenset(
    {"plan", "service_date", "claim_type", "procedure", "modifiers", "units", "charge",
     "place_of_service", "diagnoses", "revenue_code", "tooth", "network"}
)  # fmt: skip
_MEMBER_KEYS = frozenset({"birth_date", "sex"})
_HISTORY_KEYS = frozenset({"date", "procedure", "units"})
_EXPECT_KINDS = ("deny", "pend", "require_authorization", "cap_units", "category")


class RuleTestError(ConfigurationError):
    """A case file cannot be read or a case is malformed; the message names file and line."""


@dataclass(frozen=True, slots=True)
class Case:
    """One parsed case: where it is written, the line and history, what is expected."""

    file: str
    line: int
    id: str
    description: str
    facts: R.LineFacts
    history: R.MemberHistory
    expect: tuple[dict[str, object], ...] | None  # None: not given
    category: str | None
    fired: tuple[str, ...] | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}: {self.id}"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case: ``problems`` is empty when it passed."""

    file: str
    line: int
    case_id: str
    problems: tuple[str, ...]
    actions: tuple[dict[str, object], ...]
    fired: tuple[str, ...]
    category: str

    @property
    def passed(self) -> bool:
        return not self.problems

    def message(self) -> str:
        """``file:line: case-id: FAIL: ...`` / ``... ok``."""
        head = f"{self.file}:{self.line}: {self.case_id}"
        return f"{head}: ok" if self.passed else f"{head}: FAIL: {'; '.join(self.problems)}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "id": self.case_id,
            "passed": self.passed,
            "problems": list(self.problems),
            "actions": list(self.actions),
            "fired": list(self.fired),
            "category": self.category,
        }


# --- reading cases -----------------------------------------------------------------------------


def case_files(tests_path: str | Path) -> list[Path]:
    """The ``*.yaml`` / ``*.yml`` case files of a folder (name order), or the one file."""
    root = Path(tests_path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise RuleTestError(f"{root}: no such rule test file or folder")
    return sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_cases(tests_path: str | Path) -> list[Case]:
    """Every case of the case files at ``tests_path``; raises :class:`RuleTestError`."""
    cases: list[Case] = []
    for file in case_files(tests_path):
        cases.extend(_read_file(file))
    return cases


def _read_file(file: Path) -> list[Case]:
    name = str(file)
    try:
        raw = load_yaml_with_lines(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleTestError(f"{name}: cannot be read: {exc}") from None
    except YamlSyntaxError as exc:
        raise RuleTestError(f"{name}:{exc.line}: {exc}") from None
    if not isinstance(raw, LineDict) or not isinstance(raw.get("cases"), list):
        raise RuleTestError(f"{name}:1: must be a mapping with a 'cases' list")
    _no_unknown(name, raw, _FILE_KEYS, "")
    cases: list[Case] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw["cases"], start=1):
        if not isinstance(entry, LineDict):
            raise RuleTestError(f"{name}:{raw.line_of('cases')}: case #{n} must be a mapping")
        case = _case(name, entry, n)
        if case.id in seen:
            raise RuleTestError(f"{case.where}: duplicate case id")
        seen.add(case.id)
        cases.append(case)
    return cases


def _no_unknown(file: str, raw: LineDict, allowed: Collection[str], what: str) -> None:
    unknown = sorted(map(str, set(raw) - set(allowed)))
    if unknown:
        raise RuleTestError(
            f"{file}:{raw.line_of(unknown[0])}: {what}unknown key(s) {', '.join(unknown)}"
        )


def _case(file: str, entry: LineDict, n: int) -> Case:
    case_id = entry.get("id")
    if not isinstance(case_id, str) or not case_id.strip():
        raise RuleTestError(f"{file}:{entry.line}: case #{n}: 'id' must be a non-empty string")
    where = f"{file}:{entry.line}: {case_id}"

    def bad(problem: str) -> RuleTestError:
        return RuleTestError(f"{where}: {problem}")

    _no_unknown(file, entry, _CASE_KEYS, f"{case_id}: ")
    line = entry.get("line")
    if not isinstance(line, LineDict):
        raise bad("'line' must be a mapping")
    _no_unknown(file, line, _LINE_KEYS, f"{case_id}: line: ")
    member = entry.get("member") or LineDict()
    if not isinstance(member, dict):
        raise bad("'member' must be a mapping")
    if isinstance(member, LineDict):
        _no_unknown(file, member, _MEMBER_KEYS, f"{case_id}: member: ")
    try:
        day = _day(line.get("service_date"), "line.service_date")
        plan = line.get("plan")
        if not isinstance(plan, str) or not plan:
            raise ValueError("line.plan must be a plan id")
        age = R.age_on(_day(member.get("birth_date"), "member.birth_date"), day)
        sex = str(member.get("sex") or "U").strip().upper()
        if sex not in ("F", "M", "U"):
            raise ValueError(f"member.sex must be F, M or U, not {sex!r}")
        network = str(line.get("network") or "in")
        if network not in ("in", "out"):
            raise ValueError(f"line.network must be in or out, not {network!r}")
        facts = R.LineFacts(
            claim_type=_text(line.get("claim_type") or "P").upper(),
            procedure=_text(line.get("procedure")).upper(),
            service_date=day,
            plan=plan,
            age=age,
            sex=sex,
            network=network,
            modifiers=tuple(_text(m).upper() for m in _list(line.get("modifiers"), "modifiers")),
            revenue_code=_text(line.get("revenue_code")),
            units=_decimal(line.get("units", 1), "line.units"),
            charge=_decimal(line.get("charge", 0), "line.charge"),
            place_of_service=_text(line.get("place_of_service")),
            diagnoses=tuple(
                _text(d).upper().replace(".", "") for d in _list(line.get("diagnoses"), "diagnoses")
            ),
            tooth=tuple(_text(t) for t in _list(line.get("tooth"), "tooth")),
            category=_text(entry.get("category")),
        )
        start = entry.get("plan_year_start")
        year = _day(start, "plan_year_start") if start is not None else date(day.year, 1, 1)
        history = R.MemberHistory(year, tuple(_services(entry.get("history"))))
        expect, category = _expectation(entry.get("expect", _MISSING))
        fired = entry.get("fired")
        if fired is not None and not (
            isinstance(fired, list) and all(isinstance(f, str) for f in fired)
        ):
            raise ValueError("'fired' must be a list of rule ids")
    except ValueError as exc:
        raise bad(str(exc)) from None
    description = entry.get("description")
    return Case(
        file=file,
        line=entry.line,
        id=case_id,
        description=description if isinstance(description, str) else "",
        facts=facts,
        history=history,
        expect=expect,
        category=category,
        fired=tuple(fired) if fired is not None else None,
    )


_MISSING = object()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{value!r} must be a string (quote codes)")
    return str(value).strip()


def _list(value: object, key: str) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"line.{key} must be a list")
    return value


def _day(value: object, key: str) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"{key} {value!r} is not a date (YYYY-MM-DD)")


def _decimal(value: object, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{key} {value!r} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{key} {value!r} is not a number") from None


def _services(value: object) -> Iterable[R.PriorService]:
    if value is None:
        return
    if not isinstance(value, list):
        raise ValueError("'history' must be a list of {date, procedure, units}")
    for item in value:
        if not isinstance(item, dict) or set(item) - _HISTORY_KEYS or "date" not in item:
            raise ValueError("a history entry is {date: YYYY-MM-DD, procedure: CODE, units: N}")
        yield R.PriorService(
            _day(item["date"], "history.date"),
            _text(item.get("procedure")).upper(),
            _decimal(item.get("units", 1), "history.units"),
        )


def _expectation(value: object) -> tuple[tuple[dict[str, object], ...] | None, str | None]:
    """The expected non-category actions (canonical, see :func:`_canonical`) and category."""
    if value is _MISSING:
        raise ValueError("'expect' is required (a list of actions, or none)")
    if value is None or value in ("none", []):
        return (), None
    items = value if isinstance(value, list) else [value]
    actions: list[dict[str, object]] = []
    category: str | None = None
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ValueError(f"expect: each entry names one of {', '.join(_EXPECT_KINDS)}")
        ((kind, body),) = item.items()
        if kind == "category":
            if not isinstance(body, str) or body not in R.CATEGORIES:
                raise ValueError(f"expect: category {body!r} is not a category")
            category = body
            continue
        if kind not in _EXPECT_KINDS:
            raise ValueError(f"expect: unknown action {kind!r} ({', '.join(_EXPECT_KINDS)})")
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise ValueError(f"expect: {kind} takes a mapping")
        fields = {str(k): _field(k, v) for k, v in body.items()}
        allowed = {
            "deny": {"group", "carc", "rarc"},
            "pend": {"reason", "code"},
            "require_authorization": {"group", "carc", "rarc"},
            "cap_units": {"max", "group", "carc", "rarc"},
        }[kind]
        if set(fields) - allowed:
            raise ValueError(f"expect: {kind} takes {', '.join(sorted(allowed))}")
        actions.append({"action": kind, **fields})
    return tuple(actions), category


def _field(key: object, value: object) -> object:
    if key == "rarc":
        rarcs = [value] if isinstance(value, str) else value
        if not isinstance(rarcs, list):
            raise ValueError("expect: rarc is a code or a list of codes")
        return [str(r) for r in rarcs]
    if key == "max":
        return value
    return str(value)


# --- running -----------------------------------------------------------------------------------


def _canonical(action: R.RuleAction) -> dict[str, object]:
    """An action as the mapping a case compares with (``action`` plus its fields)."""
    if isinstance(action, R.Deny):
        return {"action": "deny", "group": action.group, "carc": action.carc,
                "rarc": list(action.rarcs)}  # fmt: skip
    if isinstance(action, R.Pend):
        return {"action": "pend", "reason": action.reason, "code": action.code}
    if isinstance(action, R.RequireAuthorization):
        return {"action": "require_authorization", "group": action.group, "carc": action.carc,
                "rarc": list(action.rarcs)}  # fmt: skip
    if isinstance(action, R.CapUnits):
        return {"action": "cap_units", "max": action.max_units, "group": action.group,
                "carc": action.carc, "rarc": list(action.rarcs)}  # fmt: skip
    return {"action": "set_category", "category": action.category}


def _value(value: object) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def _show(actions: Iterable[dict[str, object]]) -> str:
    parts = []
    for a in actions:
        fields = ", ".join(f"{k}: {_value(v)}" for k, v in a.items() if k != "action")
        parts.append(f"{a['action']} {{{fields}}}")
    return "[" + "; ".join(parts) + "]" if parts else "none"


def run_case(pack: R.RulePack, case: Case) -> CaseResult:
    """Evaluate one case's line with ``pack`` and compare with what the case expects."""
    evaluation = pack.explain(case.facts, case.history)
    got = tuple(_canonical(a) for a in evaluation.actions if not isinstance(a, R.SetCategory))
    problems: list[str] = []
    if case.expect is not None:
        same = len(got) == len(case.expect) and all(
            all(actual.get(k) == v for k, v in wanted.items())
            for wanted, actual in zip(case.expect, got, strict=True)
        )
        if not same:
            problems.append(f"expected actions {_show(case.expect)}, got {_show(got)}")
    if case.category is not None and evaluation.category != case.category:
        problems.append(f"expected category {case.category}, got {evaluation.category or '(none)'}")
    if case.fired is not None and tuple(evaluation.fired) != case.fired:
        problems.append(
            f"expected fired [{', '.join(case.fired)}], got [{', '.join(evaluation.fired)}]"
        )
    return CaseResult(
        file=case.file,
        line=case.line,
        case_id=case.id,
        problems=tuple(problems),
        actions=got,
        fired=evaluation.fired,
        category=evaluation.category,
    )


def default_cases(pack_path: str | Path) -> Path:
    """Where a pack's cases live: ``tests/`` in the pack's folder."""
    root = Path(pack_path)
    return (root if root.is_dir() else root.parent) / CASES_FOLDER


def run_rule_tests(
    pack_path: str | Path,
    tests_path: str | Path | None = None,
    *,
    known_plans: Collection[str] | None = None,
) -> list[CaseResult]:
    """Run every case at ``tests_path`` (default: the pack's ``tests/`` folder) against the
    pack at ``pack_path``: a rules folder with dated versions (:mod:`claims_engine.rules.book`)
    runs each case with the version in force on its date of service. Raises
    :class:`claims_engine.rules.engine.RuleError` when the pack does not load and
    :class:`RuleTestError` when a case file is malformed or there is no case at all."""
    book = load_rulebook(pack_path, known_plans=known_plans)
    where = tests_path if tests_path is not None else default_cases(pack_path)
    cases = load_cases(where)
    if not cases:  # nothing run is nothing passed
        raise RuleTestError(f"{where}: no rule test case (no *.yaml file with a 'cases' entry)")
    return [run_case(book.pack_on(case.facts.service_date), case) for case in cases]
