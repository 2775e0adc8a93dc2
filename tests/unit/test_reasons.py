"""Adjustment code descriptions: every CARC / RARC the engine can emit has a real description.

The codes are found by scanning the sources, not listed here, so a new code in a rule file or
an adjudication stage fails this test until ``claims_engine/domain/reasons.py`` describes it:

- ``rules/*.yaml``: every ``carc`` / ``rarc`` value (a code or a list) and ``group``;
- ``claims_engine/adjudication/*.py``: the codes the stages write (see :func:`_scan_python`);
- (the tables of codes a rule may use are these tables themselves).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml

from claims_engine.domain import reasons
from claims_engine.domain.reasons import (
    CARC,
    GROUP_CODES,
    RARC,
    describe_adjustment,
    describe_carc,
    describe_group,
    describe_rarc,
    format_amount,
)

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = sorted((ROOT / "rules").glob("*.yaml"))
ADJUDICATION_FILES = sorted((ROOT / "claims_engine" / "adjudication").glob("*.py"))

GROUPS = frozenset({"CO", "PR", "OA", "PI", "CR"})
# "1" .. "999", "A1", "P12" (no CARC starts with M or N, as remark codes do)
CARC_SHAPE = re.compile(r"(?:[1-9]\d{0,2}|[A-LO-Z]\d{1,2})\Z")
RARC_SHAPE = re.compile(r"(?:MA|M|N)\d{1,4}\Z")  # "M15", "MA01", "MA130", "N776"
# Names whose string values are reason or remark codes in the adjudication code.
CODE_NAMES = frozenset({"carc", "rarc", "reason", "remark", "remarks", "rarcs"})


@dataclass
class Found:
    carcs: set[str] = field(default_factory=set)
    rarcs: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)

    def add(self, value: str) -> None:
        if CARC_SHAPE.fullmatch(value):
            self.carcs.add(value)
        elif RARC_SHAPE.fullmatch(value):
            self.rarcs.add(value)


def _walk_yaml(node: Any, found: Found) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("carc", "rarc"):
                target = found.carcs if key == "carc" else found.rarcs
                target.update(str(v) for v in (value if isinstance(value, list) else [value]))
            elif key == "group":
                found.groups.add(str(value))
            else:
                _walk_yaml(value, found)
    elif isinstance(node, list):
        for item in node:
            _walk_yaml(item, found)


def _scan_yaml() -> Found:
    found = Found()
    for path in RULE_FILES:
        _walk_yaml(yaml.safe_load(path.read_text()), found)
    return found


def _strings(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value:
            yield sub.value


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _group_of(node: ast.AST) -> set[str]:
    """The group codes an expression can be: ``"CO"``, ``"CO" if x else "PR"``,
    ``action.group or "CO"``; empty when it is not a group expression."""
    if isinstance(node, ast.Constant) and node.value in GROUPS:
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _group_of(node.body), _group_of(node.orelse)
        return body | orelse if body and orelse else set()
    if isinstance(node, ast.BoolOp):
        constants = [v for v in node.values if isinstance(v, ast.Constant)]
        if constants and all(c.value in GROUPS for c in constants):
            return {str(c.value) for c in constants}
    return set()


def _scan_python(sources: dict[str, str]) -> Found:
    """The codes in Python sources (file name -> text), found by how the adjudication code
    writes them:

    - a string right after a group code in a tuple, list or call: ``("CO", "119", "")``,
      ``Adjustment("CO" if net else "PR", "45", x)``, ``_deny_all(claim, "OA", "18", ...)``;
    - strings given to a name like ``carc``/``rarc``/``reason``: an assignment
      (``carc = "26" if early else "27"``), a keyword argument (``reason="45"``), a default
      (``action.carc or "197"``) or a comparison (``a.reason in ("1", "2", "3")``);
    - any string shaped like a remark code (``"N54"``, ``"MA130"``).

    Other numbers (``claim.frequency_code in ("7", "8")``, status ``"22"``) are not codes.
    """
    found = Found()
    for filename, text in sources.items():
        for node in ast.walk(ast.parse(text, filename=filename)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if RARC_SHAPE.fullmatch(node.value):
                    found.rarcs.add(node.value)
            elif isinstance(node, ast.Tuple | ast.List | ast.Call):
                items = node.args if isinstance(node, ast.Call) else node.elts
                for first, second in pairwise(items):
                    groups = _group_of(first)
                    found.groups |= groups
                    if groups and isinstance(second, ast.Constant):
                        found.add(str(second.value))
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(_name(t) in CODE_NAMES for t in targets):
                    for code in _strings(node.value):
                        found.add(code)
            elif isinstance(node, ast.keyword) and node.arg == "group":
                found.groups |= _group_of(node.value)
            elif isinstance(node, ast.keyword) and node.arg in CODE_NAMES:
                for code in _strings(node.value):
                    found.add(code)
            elif isinstance(node, ast.BoolOp) and _name(node.values[0]) in CODE_NAMES:
                for operand in node.values[1:]:
                    for code in _strings(operand):
                        found.add(code)
            elif isinstance(node, ast.Compare) and _name(node.left) in CODE_NAMES:
                for comparator in node.comparators:
                    for code in _strings(comparator):
                        found.add(code)
    return found


YAML = _scan_yaml()
ADJUDICATION = _scan_python({str(p): p.read_text() for p in ADJUDICATION_FILES})
EMITTED_CARCS = sorted(YAML.carcs | ADJUDICATION.carcs, key=lambda c: (len(c), c))
EMITTED_RARCS = sorted(YAML.rarcs | ADJUDICATION.rarcs, key=lambda c: (len(c), c))
EMITTED_GROUPS = sorted(YAML.groups | ADJUDICATION.groups)


# --- the scan itself ---------------------------------------------------------------------------


def test_the_scan_finds_the_codes_it_should() -> None:
    """Guards the scanners: a scan that finds nothing would pass every test below."""
    assert len(RULE_FILES) >= 4
    assert {"6", "7", "11", "119", "151", "204", "254", "272", "288"} <= YAML.carcs
    assert {"N130", "N129", "N362", "M86", "N519", "N776"} <= YAML.rarcs
    engine = {"1", "2", "3", "16", "18", "23", "26", "27", "29", "31", "45", "59", "119"}
    engine |= {"129", "197", "198", "242"}
    assert engine <= ADJUDICATION.carcs
    assert {"N54", "N130", "N185", "M51"} <= ADJUDICATION.rarcs
    assert {"CO", "PR", "OA"} <= ADJUDICATION.groups


def test_the_scan_skips_numbers_that_are_not_codes() -> None:
    source = (
        "if claim.frequency_code in ('7', '8'):\n"
        "    status = '22'\n"
        "carc = '26' if early else '27'\n"
        "cap = ('CO', '119', 'N362')\n"
        "absent = (action.group or 'CO', action.carc or '197', action.rarc or 'N54')\n"
        "adj = Adjustment('CO' if net else 'PR', '45', over)\n"
        "ok = a.reason in ('1', '2')\n"
        "b = Adjustment(group='PI', reason='96', amount=x)\n"
        "code = rev.startswith('045')\n"
    )
    found = _scan_python({"sample.py": source})
    assert found.carcs == {"26", "27", "119", "197", "45", "1", "2", "96"}
    assert found.rarcs == {"N362", "N54"}
    assert found.groups == {"CO", "PR", "PI"}


# --- every emitted code is described -------------------------------------------------------


@pytest.mark.parametrize("code", EMITTED_CARCS)
def test_every_emitted_carc_has_a_description(code: str) -> None:
    assert code in CARC, (
        f"CARC {code} is used but claims_engine/domain/reasons.py does not describe it"
    )
    assert describe_carc(code) == CARC[code] != f"adjustment reason {code}"


@pytest.mark.parametrize("code", EMITTED_RARCS)
def test_every_emitted_rarc_has_a_description(code: str) -> None:
    assert code in RARC, (
        f"RARC {code} is used but claims_engine/domain/reasons.py does not describe it"
    )
    assert describe_rarc(code) == RARC[code] != f"remark {code}"


@pytest.mark.parametrize("group", EMITTED_GROUPS)
def test_every_emitted_group_has_a_name(group: str) -> None:
    assert group in GROUP_CODES
    assert describe_group(group) == GROUP_CODES[group]


# --- the tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "shape"), [(CARC, CARC_SHAPE), (RARC, RARC_SHAPE)], ids=["CARC", "RARC"]
)
def test_table_entries_are_well_formed(table: Mapping[str, str], shape: re.Pattern[str]) -> None:
    for code, text in table.items():
        assert shape.fullmatch(code), code
        # one sentence, no closing full stop: it is embedded in describe_adjustment's sentence
        assert text == text.strip() and text, code
        assert not text.endswith("."), code
        assert "\n" not in text and ". " not in text, code
        assert text.lstrip("'")[0].isupper(), code


def test_group_codes() -> None:
    assert dict(GROUP_CODES) == {
        "CO": "Contractual Obligations",
        "PR": "Patient Responsibility",
        "OA": "Other Adjustments",
        "PI": "Payer Initiated Reductions",
        "CR": "Corrections and Reversals",
    }


def test_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        CARC["1"] = "changed"  # type: ignore[index]


# --- known texts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("1", "Deductible amount"),
        ("2", "Coinsurance amount"),
        ("3", "Co-payment amount"),
        ("4", "The procedure code is inconsistent with the modifier used"),
        ("18", "Exact duplicate claim/service"),
        ("26", "Expenses incurred prior to coverage"),
        ("27", "Expenses incurred after coverage terminated"),
        ("29", "The time limit for filing has expired"),
        ("31", "Patient cannot be identified as our insured"),
        (
            "45",
            "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee "
            "arrangement",
        ),
        ("96", "Non-covered charge(s)"),
        ("119", "Benefit maximum for this time period or occurrence has been reached"),
        ("129", "Prior processing information appears incorrect"),
        ("197", "Precertification/authorization/notification/pre-treatment absent"),
        ("198", "Precertification/notification/authorization/pre-treatment exceeded"),
        (
            "204",
            "This service/equipment/drug is not covered under the patient's current benefit plan",
        ),
        ("242", "Services not provided by network/primary care providers"),
        ("288", "Referral absent"),
    ],
)
def test_known_carc_texts(code: str, text: str) -> None:
    assert describe_carc(code) == text


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("M51", "Missing/incomplete/invalid procedure code(s)"),
        (
            "M86",
            "Service denied because payment already made for same/similar procedure within set "
            "time frame",
        ),
        ("N54", "Claim information is inconsistent with pre-certified/authorized services"),
        (
            "N130",
            "Consult plan benefit documents/guidelines for information about restrictions for "
            "this service",
        ),
        ("N185", "Alert: Do not resubmit this claim/service"),
        ("N362", "The number of days or units of service exceeds our acceptable maximum"),
    ],
)
def test_known_rarc_texts(code: str, text: str) -> None:
    assert describe_rarc(code) == text


def test_codes_are_read_without_case_or_blanks() -> None:
    assert describe_carc(" 45 ") == CARC["45"]
    assert describe_rarc("n130") == RARC["N130"]
    assert describe_group("pr") == "Patient Responsibility"


# --- fallbacks -------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["999", "0", "A9", "ZZZ", "N130"])
def test_unknown_carc_falls_back(code: str) -> None:
    assert describe_carc(code) == f"adjustment reason {code}"


@pytest.mark.parametrize("code", ["N99999", "X1", "45", "MA999"])
def test_unknown_rarc_falls_back(code: str) -> None:
    assert describe_rarc(code) == f"remark {code}"


def test_unknown_group_falls_back() -> None:
    assert describe_group("ZZ") == "adjustment group ZZ"


# --- sentences and amounts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "carc", "amount", "sentence"),
    [
        ("PR", "1", "40", "Patient Responsibility: Deductible amount (PR-1), $40.00"),
        ("PR", "3", "25.5", "Patient Responsibility: Co-payment amount (PR-3), $25.50"),
        (
            "CO",
            "45",
            "1234567.891",
            "Contractual Obligations: Charge exceeds fee schedule/maximum allowable or "
            "contracted/legislated fee arrangement (CO-45), $1,234,567.89",
        ),
        ("OA", "18", "-140", "Other Adjustments: Exact duplicate claim/service (OA-18), -$140.00"),
        ("PI", "96", "0", "Payer Initiated Reductions: Non-covered charge(s) (PI-96), $0.00"),
        ("co", " 242", "10", "Contractual Obligations: " + CARC["242"] + " (CO-242), $10.00"),
        ("ZZ", "999", "5", "adjustment group ZZ: adjustment reason 999 (ZZ-999), $5.00"),
    ],
)
def test_describe_adjustment(group: str, carc: str, amount: str, sentence: str) -> None:
    assert describe_adjustment(group, carc, Decimal(amount)) == sentence


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "$0.00"),
        ("0.005", "$0.01"),  # half up, as claims_engine.domain.money rounds
        ("-0.004", "$0.00"),  # rounds to zero: no sign
        ("999.999", "$1,000.00"),
        ("1000", "$1,000.00"),
        ("-1234.5", "-$1,234.50"),
        ("12345678.9", "$12,345,678.90"),
        ("1E+3", "$1,000.00"),
    ],
)
def test_format_amount(amount: str, text: str) -> None:
    assert format_amount(Decimal(amount)) == text


# --- purity ----------------------------------------------------------------------------------


def test_module_is_pure() -> None:
    """Standard library (and the project's own stdlib-only money module), nothing at import."""
    path = Path(reasons.__file__)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert name == "claims_engine.domain.money" or (
                top in sys.stdlib_module_names and top not in {"os", "io", "pathlib"}
            ), name
    assert {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id in {"open", "print", "input", "eval", "exec"}
    } == set()
