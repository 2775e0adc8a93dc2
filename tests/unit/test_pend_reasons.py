"""Pend reasons as data: the catalogue file, the rule action that names a code, the free-text
reasons of older decisions, and what adjudication makes of an examiner's directives."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.adjudication.adjudicate import RuleHook
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.adjudication.decision import Outcome
from claims_engine.adjudication.directives import Denial, Directives
from claims_engine.domain.benefits import Examination, load_plans
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.pend_reasons import (
    DEFAULT_CATALOGUE,
    ENGINE_CODES,
    PendItem,
    items_from_text,
    load_pend_reasons,
)
from claims_engine.domain.reference_data import load_reference
from claims_engine.rules.book import RuleBook
from claims_engine.rules.engine import Pend, RuleError, load_pack
from claims_engine.services.reference import check_pend_codes
from tests.conftest import FIXTURES
from tests.unit.adjudication.support import LIAM_HILL, claim_from_837, run

D = Decimal


def test_the_fixture_catalogue_loads_and_routes_every_engine_code() -> None:
    reference = load_reference(FIXTURES / "reference")
    catalogue = reference.pend_reasons
    assert set(ENGINE_CODES) <= set(catalogue.reasons)
    assert catalogue.get("UNLISTED-PROCEDURE").queue == "pricing"
    assert catalogue.get("INFO-REQUESTED").waits_for_provider
    # a code no file defines (a decision stored under an older file) is worked, not lost
    assert catalogue.get("GONE-CODE").queue == "general"


def test_a_file_that_leaves_an_engine_code_out_keeps_its_default() -> None:
    text = 'reasons:\n  MY-CODE: {text: "Mine", queue: mine, priority: 2, days: 5}\n'
    catalogue = load_pend_reasons(text)
    assert catalogue.get("HIGH-DOLLAR") == DEFAULT_CATALOGUE.get("HIGH-DOLLAR")
    assert catalogue.get("MY-CODE").queue == "mine"
    assert "mine" in catalogue.queues


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("reasons: [1, 2]", "expected a top-level 'reasons' mapping"),
        ("reasons:\n  bad code: {text: a, queue: q, priority: 1, days: 1}", "a code is A-Z"),
        ("reasons:\n  C1: {text: a, queue: q, priority: 1}", "missing 'days'"),
        ("reasons:\n  C1: {text: a, queue: q, priority: 9, days: 1}", "priority 9"),
        ("reasons:\n  C1: {text: a, queue: q, priority: 1, days: 0}", "days 0"),
        ("reasons:\n  C1: {text: a, queue: Q Q, priority: 1, days: 1}", "queue 'Q Q'"),
        ("reasons:\n  C1: {text: '', queue: q, priority: 1, days: 1}", "text is 1 to 200"),
        ("reasons:\n  C1: {text: a, queue: q, priority: 1, days: 1, colour: red}", "unknown key"),
        (
            "reasons:\n  INFO-REQUESTED: {text: a, queue: q, priority: 1, days: 1,"
            " waits_for_provider: false}",
            "waits_for_provider of an engine code is fixed",
        ),
        ("reasons: {a: [", "is not valid YAML"),
    ],
)
def test_a_bad_catalogue_is_refused_naming_the_file_and_code(text: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=r"pend_reasons\.yaml") as caught:
        load_pend_reasons(text)
    assert problem in str(caught.value)


def test_reference_load_check_refuses_a_bad_pend_reasons_file(tmp_path: Path) -> None:
    folder = tmp_path / "reference"
    folder.mkdir()
    for f in (FIXTURES / "reference").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "pend_reasons.yaml").write_text(
        "reasons:\n  C1: {text: a, queue: q, priority: 7, days: 1}\n"
    )
    with pytest.raises(ConfigurationError, match=r"pend_reasons.yaml: reason 'C1': priority 7"):
        load_reference(folder)


def test_a_rule_names_its_pend_code_and_an_unknown_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pack.yaml").write_text("files: [r.yaml]\n")
    rule = """\
rules:
  - id: R1
    description: review
    effective_from: 2024-01-01
    scope: {{procedures: ["99213"]}}
    then: {{pend: {{reason: "look", code: {code}}}}}
"""
    (tmp_path / "r.yaml").write_text(rule.format(code="NOT-DEFINED"))
    pack = load_pack(tmp_path)
    (only,) = pack.rules
    assert isinstance(only.action, Pend) and only.action.code == "NOT-DEFINED"
    reference = load_reference(FIXTURES / "reference")
    with pytest.raises(ConfigurationError, match="pends for code 'NOT-DEFINED'"):
        check_pend_codes(RuleBook(((None, pack),)), reference)
    (tmp_path / "r.yaml").write_text(rule.format(code="lower case"))
    with pytest.raises(RuleError, match="pend code 'lower case'"):
        load_pack(tmp_path)


def test_free_text_reasons_of_older_decisions_become_items() -> None:
    text = (
        "charge 25350.4 is above 25000.00; "
        "line 2: unlisted procedure code: an examiner prices it (N350) (PEND-UNLISTED); "
        "line 2: no price on file for 17999; "
        "line 3: rule R9 could not be evaluated: ZeroDivisionError: division by zero (R9); "
        "something else entirely"
    )
    unlisted = "unlisted procedure code: an examiner prices it (N350)"
    failed = "rule R9 could not be evaluated: ZeroDivisionError: division by zero"
    assert items_from_text(text) == (
        PendItem("HIGH-DOLLAR", 0, "", "charge 25350.4 is above 25000.00"),
        PendItem("RULE-REVIEW", 2, "PEND-UNLISTED", unlisted),
        PendItem("NO-PRICE", 2, "", "no price on file for 17999"),
        PendItem("RULE-ERROR", 3, "R9", failed),
        PendItem("UNCLASSIFIED", 0, "", "something else entirely"),
    )
    assert items_from_text("adjudication failed: KeyError: 'x'")[0].code == "ADJUDICATION-ERROR"
    assert items_from_text("") == ()
    # the items describe themselves as the engine wrote reasons before codes
    assert "; ".join(i.describe() for i in items_from_text(text)) == text


# -- directives in adjudication ---------------------------------------------------------------

UNLISTED_CLAIM = (
    LIAM_HILL
    + """\
CLM*DIR-1*940***11:B:1*Y*A*Y*Y~
HI*ABK:L989~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
LX*2~
SV1*HC:17999*800*UN*1***1~
DTP*472*D8*20261015~
"""
)


def _rules() -> RuleHook:
    return rule_hook(load_pack(FIXTURES.parent / "rules"))


def test_a_claim_pends_with_one_item_per_cause() -> None:
    decision = run(claim_from_837(UNLISTED_CLAIM), rules=_rules()).decision
    assert decision.outcome is Outcome.PENDED
    assert [(p.code, p.line, p.rule) for p in decision.pends] == [
        ("UNLISTED-PROCEDURE", 2, "PEND-UNLISTED"),
        ("NO-PRICE", 2, ""),
    ]
    assert decision.pend_items == decision.pends


def test_directives_resolve_price_override_and_deny() -> None:
    claim = claim_from_837(UNLISTED_CLAIM)
    resolved = frozenset({("UNLISTED-PROCEDURE", 2), ("NO-PRICE", 2)})
    priced = run(claim, rules=_rules(), directives=Directives(resolved, {2: D("700.00")})).decision
    assert priced.outcome is Outcome.PAID
    assert (priced.lines[1].allowed, priced.paid) == (D("700.00"), D("223.20"))
    # resolved without a price: the line keeps the engine's CO-16 M51 and the claim is decided
    released = run(claim, rules=_rules(), directives=Directives(resolved)).decision
    assert released.outcome is Outcome.PARTLY_PAID
    assert released.lines[1].adjustments[0].reason == "16"
    # one reason resolved, the other still pends
    half = run(
        claim, rules=_rules(), directives=Directives(frozenset({("UNLISTED-PROCEDURE", 2)}))
    ).decision
    assert [p.code for p in half.pends] == ["NO-PRICE"]
    denied = run(
        claim, rules=_rules(), directives=Directives(denials={0: Denial("CO", "96", ("N130",))})
    ).decision
    assert denied.outcome is Outcome.DENIED
    assert {(a.group, a.reason) for ln in denied.lines for a in ln.adjustments} == {("CO", "96")}
    assert all(ln.remarks == ("N130",) for ln in denied.lines)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("prompt_pay_days: 0", "prompt_pay_days 0 is a whole number 1 to 365"),
        ("info_request_days: many", "info_request_days 'many'"),
        ("info_request_stops_clock: maybe", "info_request_stops_clock is true or false"),
        ("second_approval_above: '-1'", "second_approval_above is not negative"),
        ("colour: red", "unknown key 'colour'"),
    ],
)
def test_a_plans_examination_settings_are_checked(
    tmp_path: Path, setting: str, problem: str
) -> None:
    text = (FIXTURES / "reference" / "plans.yaml").read_text()
    key = setting.split(":", 1)[0]
    lines = text.splitlines()
    at = next((n for n, ln in enumerate(lines) if ln.startswith(f"      {key}:")), None)
    if at is None:
        lines.append(f"      {setting}")
    else:
        lines[at] = f"      {setting}"
    bad = "\n".join(lines) + "\n"
    (tmp_path / "plans.yaml").write_text(bad)
    with pytest.raises(ConfigurationError, match=r"plans\.yaml") as caught:
        load_plans(tmp_path / "plans.yaml")
    assert problem in str(caught.value) and "DENTAL-BASIC" in str(caught.value)
    assert load_plans(FIXTURES / "reference" / "plans.yaml")["DENTAL-BASIC"].examination == (
        Examination(30, 45, True, D("5000.00"))
    )
