"""What a condition can build, and what the rules can spend on one claim, is bounded: nested
repetitions that would compare or hash for hours are refused at load, values made from the
line's data are held to the limit at run time, a claim whose rules spend the evaluation budget
pends naming the rule, and no small condition made of the documented names, functions and
operators evaluates for more than 10 ms."""

from __future__ import annotations

import dataclasses
import textwrap
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

from claims_engine.adjudication.adjudicate import PriorService as StandingService
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import Outcome
from claims_engine.rules import engine as rules
from claims_engine.rules.engine import (
    CONTEXT_FUNCTIONS,
    CONTEXT_NAMES,
    EvaluationBudget,
    LineFacts,
    MemberHistory,
    Pend,
    PriorService,
    RuleError,
    RulePack,
    compile_condition,
    load_pack,
)
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837, run

# 74 characters, within every size limit the sandbox had: ==, and hashing, go over 1000 ** 4
# elements inside C.
ATTACK = "(((('a',)*1000,)*1000,)*1000,)*1000 == (((('a',)*1000,)*1000,)*1000,)*1000"

LINE = LineFacts(
    claim_type="P",
    procedure="99213",
    service_date=date(2024, 6, 3),
    plan="PPO-GOLD",
    age=40,
    sex="F",
    network="in",
    place_of_service="11",
    modifiers=("25", "LT"),
    diagnoses=("E119", "I10"),
    units=Decimal(2),
    charge=Decimal("125.50"),
)
HISTORY = MemberHistory(
    date(2024, 1, 1),
    tuple(PriorService(date(2024, 1 + k % 5, 1 + k), "97110", Decimal(1)) for k in range(20)),
)


def pack_with(folder: Path, when: str, *, scope: str = "{}") -> Path:
    """A pack of one rule, R1, denying the lines of ``scope`` when ``when`` holds."""
    (folder / "r.yaml").write_text(
        textwrap.dedent(
            f"""\
            rules:
              - id: R1
                description: a rule under test
                effective_from: 2024-01-01
                scope: {scope}
                when: "{when}"
                then: {{deny: {{group: CO, carc: "96", rarc: "N130"}}}}
            """
        )
    )
    return folder


# --- refused at load ---------------------------------------------------------------------------


def test_the_74_character_condition_is_refused_at_load(tmp_path: Path) -> None:
    assert len(ATTACK) == 74
    with pytest.raises(RuleError) as caught:
        load_pack(pack_with(tmp_path, ATTACK))
    error = caught.value
    assert (error.file, error.rule_id) == (str(tmp_path / "r.yaml"), "R1")
    assert error.problem == (
        "condition builds a value of up to 1,000,000 cells at column 3; the limit is 1,000"
    )


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        # tuples: one and two levels fewer than the 74 characters
        ("((('a',)*1000,)*1000,)*1000 == ((('a',)*1000,)*1000,)*1000", "up to 1,000,000 cells"),
        ("(('a',)*1000,)*1000 == (('a',)*1000,)*1000", "up to 1,000,000 cells"),
        ("(('a',)*500,)*3 == ()", "up to 1,500 cells"),
        ("(('a',)*1000,)*-1 + (('a',)*10,)*101 == ()", "up to 1,010 cells"),
        # strings, by repetition (also counted at load) and by concatenation
        ("'a' * 1000000 == procedure", "up to 1,000,000 cells"),
        ("'a' * (1000 * 1000) == procedure", "up to 1,000,000 cells"),
        ("'a' * (2 * 500 + 1) == procedure", "up to 1,001 cells"),
        ("('a' * 1000,) * 1000 == ()", "up to 1,000,000 cells"),
        ("'a' * 999 + 'b' * 999 == procedure", "up to 1,998 cells"),
        # the line's data repeated: at least that many cells, whatever the line
        ("(procedure,) * 5000 == (procedure,) * 5000", "at least 5,000 cells"),
        ("(diagnoses, modifiers) * 600 == ()", "at least 1,200 cells"),
        # sets: hashing
        ("{(('a',)*1000,)*1000} == {1}", "up to 1,000,000 cells"),
        ("{('a',)*1000, ('b',)*1000} == {1}", "up to 2,000 cells"),
        # membership
        ("procedure in {(('a',)*1000,)*1000}", "up to 1,000,000 cells"),
        ("(('a',)*1000,)*1000 in ((('a',)*1000,)*1000,)", "up to 1,000,000 cells"),
        ("procedure in ('a',) * 1001", "up to 1,001 cells"),
        # any_of and the other functions: their arguments together
        ("any_of(procedure, (('a',)*1000,)*1000)", "up to 1,000,000 cells"),
        ("any_of(('a',)*1000, ('b',)*1000)", "gives any_of() arguments of up to 2,000 cells"),
        ("has_diagnosis(('E',)*600, ('I',)*600)", "gives has_diagnosis() arguments of"),
        (
            "units_in_year(('0-9',)*200, ('1-8',)*200) > 0",
            "gives units_in_year() arguments of up to 1,200 cells",
        ),
        # nesting
        ("((('a',),),) == procedure", "literals nest 3 deep at column 1; the limit is 2"),
        ("(((procedure,),) * 2,) == ()", "literals nest 3 deep"),
        # whole numbers: a 970-digit one converted for every comparison with a charge
        ("charge in (" + "9" * 970 + ",) * 1000", "whole number literal of 970 digits"),
        ("units == 1" + "0" * 18, "whole number literal of 19 digits"),
        (" * ".join(["999999999999999999"] * 8) + " == units", "makes a whole number of 1"),
        # work: six comparisons of values of a thousand cells
        (
            " and ".join(["('a',)*1000 == ('a',)*999"] * 6),
            "condition may do 24,",
        ),
    ],
)
def test_conditions_that_build_too_much_are_refused_at_load(condition: str, problem: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError) as caught:
        compile_condition(condition)
    assert problem in str(caught.value)
    assert time.perf_counter() - started < 1  # nothing is built to find out


@pytest.mark.parametrize(
    ("within", "over"),
    [
        ("('a',) * 1000 == ('a',) * 1000", "('a',) * 1001 == ('a',) * 1000"),
        ("(('a',) * 500,) * 2 == ()", "(('a',) * 500 + ('b',),) * 2 == ()"),
        ("'ab' * 500 == procedure", "'ab' * 500 + '!' == procedure"),
        ("units_in_year(('0-9',) * 333) > 0", "units_in_year(('0-9',) * 333, '12') > 0"),
        ("((procedure,),) == ()", "(((procedure,),),) == ()"),
        ("{('a',) * 999} == {('a',) * 999}", "{('a',) * 999, 'ab'} == {1}"),
    ],
)
def test_the_bounds_are_exact(within: str, over: str) -> None:
    compile_condition(within)
    with pytest.raises(ValueError, match="the limit is"):
        compile_condition(over)


# --- held at run time --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "facts", "error"),
    [
        # 3 cells of diagnoses, 300 times, 300 times: only the line knows the sizes
        (
            "((diagnoses,) * age,) * age == ((diagnoses,) * age,) * age",
            {"age": 300, "diagnoses": ("I10",)},
            "ValueError: a value of more than 1000 cells",
        ),
        # 100 times 5 cells is 500, ten times that is over
        ("len(((procedure,) * age,) * 10) > 0", {"age": 100}, "a value of more than 1000"),
        # 199 times 5 cells, and the 7 of the diagnoses
        ("len(diagnoses + (procedure,) * age) > 0", {"age": 199}, "a value of more than 1000"),
        # whole numbers grow by multiplying: at most 128 bits, whatever the line's age
        (
            "charge in (age * 999999999999999999 * 999999999999999999 * 999,) * 1000",
            {"age": 40},
            "ValueError: a whole number of more than 128 bits",
        ),
        # the functions are given at most 1000 arguments
        (
            "any_of(diagnoses, ('',) * age, ('',) * age)",
            {"age": 600},
            "ValueError: more than 1000 arguments",
        ),
    ],
)
def test_values_made_from_the_line_are_held_to_the_limit_at_run_time(
    tmp_path: Path, condition: str, facts: dict[str, object], error: str
) -> None:
    pack = load_pack(pack_with(tmp_path, condition))
    line = dataclasses.replace(LINE, **facts)  # type: ignore[arg-type]
    (action,) = pack.evaluate(line, HISTORY)
    assert isinstance(action, Pend)
    assert action.reason.startswith("rule R1 could not be evaluated: ")
    assert error in action.reason


# --- the budget of one claim -------------------------------------------------------------------

# Counting the member's history against 333 ranges: 337 units a service looked at.
MANY_RANGES = "units_in_year(('0-9',) * 333) > 100000"


def test_a_claim_whose_rules_spend_the_budget_pends_naming_the_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each line alone costs about 36,000 units (the condition's 2,010, and 100 or 101 earlier
    # services at 337), the two lines together 72,000: over a budget of 50,000, the claim
    # pends on line 2 with the rule that overspent it. With the real budget it is paid.
    pack = load_pack(pack_with(tmp_path, MANY_RANGES, scope='{procedures: ["99213"]}'))
    claim = claim_from_837(
        LIAM_HILL
        + """\
CLM*BUDGET-1*200***11:B:1*Y*A*Y*Y~
HI*ABK:I10~
LX*1~
SV1*HC:99213*100*UN*1***1~
DTP*472*D8*20261014~
LX*2~
SV1*HC:99213*100*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    earlier = tuple(
        StandingService(
            "PCN0000",
            f"EARLIER-{k}",
            "2781759230",
            "PG00000100",
            "97110",
            date(2026, 2, 1 + k % 28),
            Decimal("50"),
            Decimal("1"),
        )
        for k in range(100)
    )
    hook = rule_hook(pack)
    assert run(claim, rules=hook, history=earlier).decision.outcome is not Outcome.PENDED

    monkeypatch.setattr(rules, "MAX_CLAIM_WORK", 50_000)
    decision = run(claim, rules=hook, history=earlier).decision
    assert decision.outcome is Outcome.PENDED
    assert decision.pend_reason == (
        "line 2: rule R1 exceeded the evaluation budget of 50,000 units of work for one claim (R1)"
    )


def test_the_default_budget_stops_a_rule_reading_a_long_history(tmp_path: Path) -> None:
    # 29,700 services at 337 units: past the 10,000,000 units of one claim, on the first line.
    pack = load_pack(pack_with(tmp_path, "units_in_year(('0-9',) * 333) >= 0"))  # always true
    long = MemberHistory(
        date(2024, 1, 1), (PriorService(date(2024, 2, 1), "97110", Decimal(1)),) * 29_700
    )
    budget = EvaluationBudget()
    (action,) = pack.evaluate(LINE, long, budget)
    assert action == Pend(
        "R1",
        "rule R1 exceeded the evaluation budget of 10,000,000 units of work for one claim",
        "RULE-ERROR",
    )
    assert budget.exceeded == "R1"
    # the claim pends already: its other lines evaluate no condition, and the rule does not
    # deny; with a budget of its own, the line is denied
    assert pack.evaluate(LINE, HISTORY, budget) == ()
    assert [type(a).__name__ for a in pack.evaluate(LINE, HISTORY)] == ["Deny"]


# --- a search over small conditions ------------------------------------------------------------

_SIMPLE = st.one_of(
    st.sampled_from(sorted(CONTEXT_NAMES)),
    st.sampled_from(
        [
            *("0", "1", "2", "3", "-1", "10", "333", "999", "1000", "1001", "100000"),
            *("999999999999999999", "1" + "0" * 18, "9" * 970),  # the largest, and over it
        ]
    ),
    st.sampled_from(["''", "'a'", "'E11'", "'0-9'", "'99213'", "'D0120-D0999'"]),
    st.sampled_from(["True", "False", "None", "1.5"]),
)
# repetition counts: mostly the largest that pass one at a time
_COUNTS = st.sampled_from(["1000", "1000", "1000", "999", "333", "10", "age", "len(diagnoses)"])


def _nest(leaf: str, counts: list[str]) -> str:
    """``leaf`` in a tuple repeated ``counts[0]`` times, that in a tuple repeated ..."""
    for count in counts:
        leaf = f"(({leaf},) * {count})"
    return leaf


# what multiplies the work of ==, in and hashing: values nested by repetition, so that
# small conditions still reach them
_LEAVES = st.one_of(_SIMPLE, st.builds(_nest, _SIMPLE, st.lists(_COUNTS, min_size=1, max_size=4)))


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    two = st.tuples(inner, inner)
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(
            inner, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]), inner
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        # the same value built twice (so not the same object), then compared and hashed
        inner.map(lambda e: f"({e} == {e})"),
        inner.map(lambda e: f"({e} in {{{e}}})"),
        st.tuples(inner, _COUNTS).map(lambda t: f"(({t[0]},) * {t[1]})"),
        st.tuples(inner, _COUNTS).map(lambda t: f"({t[0]} * {t[1]})"),
        st.lists(inner, max_size=3).map(lambda xs: "(" + "".join(x + ", " for x in xs) + ")"),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: "{" + ", ".join(xs) + "}"),
        st.tuples(st.sampled_from(sorted(CONTEXT_FUNCTIONS)), st.lists(inner, max_size=3)).map(
            lambda t: f"{t[0]}({', '.join(t[1])})"
        ),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda e: f"(not {e})"),
        two.map(lambda t: f"({t[0]})[{t[1]}]"),
        inner.map(lambda e: f"({e})[1:]"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


CONDITIONS = st.recursive(_LEAVES, _extend, max_leaves=10)


def _cpu_seconds(pack: RulePack) -> float:
    """The least CPU time of three evaluations (of this thread: other processes on a busy
    machine do not count)."""
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        pack.explain(LINE, HISTORY)
        best = min(best, time.thread_time() - started)
    return best


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONDITIONS)
# what the search is after, each under 80 characters: before the bounds, 10 ** 9 elements
# compared or hashed inside C (seconds, where the 74 characters above take hours), 10 ** 7
@example("((('a',) * 1000,) * 1000,) * 1000 == ((('a',) * 1000,) * 1000,) * 1000")
@example("((('a',) * 1000,) * 1000,) * 1000 in {1}")
@example("any_of(((('a',) * 1000,) * 1000,) * 10, 'x')")
@example("{((('a',) * 1000,) * 1000,) * 10} == {1}")
@example("((diagnoses,) * 1000,) * age == ((diagnoses,) * 1000,) * age")
@example("charge in (" + "9" * 970 + ",) * 1000")
@example("charge in (age * 999999999999999999 * 999999999999999999,) * 1000")
def test_no_small_condition_is_slow_to_evaluate(condition: str) -> None:
    entry = {
        "id": "R1",
        "description": "generated",
        "effective_from": "2024-01-01",
        "when": condition,
        "then": {"deny": {"group": "CO", "carc": "96"}},
    }
    try:
        rule = rules._parse_rule(entry, frozenset(), None)
    except rules._Refused:
        return  # refused at load: never evaluated
    seconds = _cpu_seconds(RulePack([rule]))
    target(seconds, label="CPU seconds")  # the search leans toward the slowest conditions
    assert seconds < 0.010, f"{condition} took {seconds * 1000:.1f} ms"
