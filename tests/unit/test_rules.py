"""Coverage rules: loading (strict, sandboxed), scope indexing, effective dates, and the shipped
pack's rules firing on a line and not on its neighbour."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import (
    Claim,
    ClaimType,
    Diagnosis,
    Party,
    Person,
    Procedure,
    Provider,
    ServiceLine,
    Source,
    Tooth,
)
from claims_engine.domain.reasons import CARC, RARC
from claims_engine.rules.engine import (
    CONTEXT_FUNCTIONS,
    CONTEXT_NAMES,
    NEVER_DAYS,
    CapUnits,
    Deny,
    LineFacts,
    MemberHistory,
    Pend,
    PriorService,
    RequireAuthorization,
    RuleAction,
    RuleError,
    RulePack,
    SetCategory,
    _context,
    _Evaluator,
    compile_condition,
    line_facts,
    load_pack,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
PLANS = {"PPO-GOLD", "HMO-SILVER", "DENTAL-BASIC"}
DAY = date(2024, 6, 3)
YEAR = date(2024, 1, 1)
NO_HISTORY = MemberHistory(YEAR)


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(RULES, known_plans=PLANS)


def medical(procedure: str, **changes: object) -> LineFacts:
    base = LineFacts(
        claim_type="P",
        procedure=procedure,
        service_date=DAY,
        plan="PPO-GOLD",
        age=40,
        sex="F",
        network="in",
        place_of_service="11",
        diagnoses=("I10",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def dental(procedure: str, **changes: object) -> LineFacts:
    base = LineFacts(
        claim_type="D",
        procedure=procedure,
        service_date=DAY,
        plan="DENTAL-BASIC",
        age=30,
        sex="M",
        network="in",
        place_of_service="11",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def history(*services: tuple[date, str, int]) -> MemberHistory:
    return MemberHistory(YEAR, tuple(PriorService(d, c, Decimal(u)) for d, c, u in services))


def fired(
    pack: RulePack, facts: LineFacts, past: MemberHistory = NO_HISTORY
) -> dict[str, RuleAction]:
    return {a.rule_id: a for a in pack.evaluate(facts, past)}


def write_pack(folder: Path, body: str, name: str = "bad.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def one_rule(folder: Path, rule: str, name: str = "bad.yaml") -> Path:
    """A pack file holding one rule with id R1; ``rule`` holds its other keys."""
    body = "rules:\n  - id: R1\n    description: test rule\n" + textwrap.indent(
        textwrap.dedent(rule), "    "
    )
    return write_pack(folder, body, name)


# --- the shipped pack ---------------------------------------------------------------------------


def test_every_shipped_file_loads(pack: RulePack) -> None:
    for name in ("shared.yaml", "ppo-gold.yaml", "hmo-silver.yaml", "dental-basic.yaml"):
        alone = load_pack(RULES / name, known_plans=PLANS)
        assert alone.rules, name
    assert len(pack.rules) >= 50
    assert {Path(r.source).name for r in pack.rules} == {
        "shared.yaml",
        "ppo-gold.yaml",
        "hmo-silver.yaml",
        "dental-basic.yaml",
    }
    # pack.yaml order: shared first
    assert Path(pack.rules[0].source).name == "shared.yaml"


def test_version_is_a_content_hash(pack: RulePack, tmp_path: Path) -> None:
    assert len(pack.version) == 12
    assert load_pack(RULES).version == pack.version
    for f in RULES.glob("*.yaml"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    assert load_pack(tmp_path).version == pack.version
    shared = tmp_path / "shared.yaml"
    shared.write_text(shared.read_text() + "\n# a comment changes the version\n")
    assert load_pack(tmp_path).version != pack.version


def test_the_context_exposes_exactly_the_documented_names() -> None:
    names, functions = _context(medical("99213"), NO_HISTORY)
    assert set(names) == CONTEXT_NAMES
    assert set(functions) == CONTEXT_FUNCTIONS
    readme = (RULES / "README.md").read_text()
    for name in CONTEXT_NAMES | CONTEXT_FUNCTIONS:
        assert f"`{name}" in readme, name


def test_code_tables_hold_the_design_codes() -> None:
    design = "1 2 3 45 18 29 27 31 96 204 197 198 119 151 6 7 11 59 22 23".split()
    common = "4 5 8 16 39 49 50 58 97 109 167 170 171 181 182 185 199 242 272 273".split()
    assert set(design + common) <= set(CARC)
    remarks = "N130 N362 M114 N56 N115 N129 N95 M51 M80 N20 N350 N432 N657".split()
    assert set(remarks) <= set(RARC)
    assert all(text.strip() for text in [*CARC.values(), *RARC.values()])


def test_every_code_a_rule_uses_is_described(pack: RulePack) -> None:
    for rule in pack.rules:
        action = rule.action
        if isinstance(action, Deny | CapUnits | RequireAuthorization):
            assert action.carc in CARC
            assert all(r in RARC for r in action.rarcs)


# --- each kind of action fires on a line and not on its neighbour ---------------------------


def test_deny_frequency_wellness(pack: RulePack) -> None:
    past = history((date(2024, 2, 1), "99396", 1))
    assert fired(pack, medical("99396"), past)["FREQ-WELLNESS"] == Deny(
        "FREQ-WELLNESS", "CO", "119", ("N130",)
    )
    assert "FREQ-WELLNESS" not in fired(pack, medical("99396"))
    # last plan year's visit does not count
    assert "FREQ-WELLNESS" not in fired(
        pack, medical("99396"), history((date(2023, 6, 1), "99396", 1))
    )
    # a neighbouring code outside the range is not limited
    assert "FREQ-WELLNESS" not in fired(pack, medical("99401"), past)


def test_deny_dental_frequencies(pack: RulePack) -> None:
    one = history((date(2024, 2, 1), "D1110", 1))
    two = history((date(2024, 2, 1), "D1110", 1), (date(2024, 4, 1), "D1120", 1))
    assert "D-FREQ-CLEANING" not in fired(pack, dental("D1110"), one)
    assert fired(pack, dental("D1110"), two)["D-FREQ-CLEANING"] == Deny(
        "D-FREQ-CLEANING", "CO", "119", ("N130",)
    )
    bitewings = history((date(2024, 2, 1), "D0274", 1))
    assert "D-FREQ-BITEWINGS" in fired(pack, dental("D0272"), bitewings)
    assert "D-FREQ-BITEWINGS" not in fired(pack, dental("D0220"), bitewings)
    exams = history((date(2024, 2, 1), "D0120", 1), (date(2024, 5, 1), "D0150", 1))
    assert "D-FREQ-EXAM" in fired(pack, dental("D0120"), exams)
    assert "D-FREQ-EXAM" not in fired(pack, dental("D0140"), exams)


def test_deny_age(pack: RulePack) -> None:
    assert fired(pack, medical("99383", age=18))["AGE-PEDIATRIC-WELLNESS"] == Deny(
        "AGE-PEDIATRIC-WELLNESS", "CO", "6", ("N129",)
    )
    assert "AGE-PEDIATRIC-WELLNESS" not in fired(pack, medical("99383", age=17))
    assert "AGE-PEDIATRIC-WELLNESS" not in fired(pack, medical("99385", age=18))
    assert "D-AGE-FLUORIDE" in fired(pack, dental("D1208", age=19))
    assert "D-AGE-FLUORIDE" not in fired(pack, dental("D1208", age=18))
    assert "D-AGE-SEALANT" in fired(pack, dental("D1351", age=16, tooth=("3",)))
    assert "D-AGE-SEALANT" not in fired(pack, dental("D1351", age=15, tooth=("3",)))


def test_deny_sex(pack: RulePack) -> None:
    assert fired(pack, medical("77067", sex="M"))["SEX-MAMMOGRAPHY"] == Deny(
        "SEX-MAMMOGRAPHY", "CO", "7"
    )
    assert "SEX-MAMMOGRAPHY" not in fired(pack, medical("77067", sex="F"))
    assert "SEX-MAMMOGRAPHY" not in fired(pack, medical("77067", sex="U"))
    assert "SEX-PSA-SCREENING" in fired(pack, medical("G0103", sex="F", age=60))
    assert "SEX-PSA-SCREENING" not in fired(pack, medical("G0103", sex="M", age=60))
    assert "SEX-CERVICAL-SCREENING" in fired(pack, medical("88142", sex="M"))


def test_deny_diagnosis_inconsistent(pack: RulePack) -> None:
    assert fired(pack, medical("83036", diagnoses=("I10",)))["DX-GLUCOSE-A1C"] == Deny(
        "DX-GLUCOSE-A1C", "CO", "11", ("N130",)
    )
    assert "DX-GLUCOSE-A1C" not in fired(pack, medical("83036", diagnoses=("E119",)))
    assert "DX-GLUCOSE-A1C" not in fired(pack, medical("83036", diagnoses=("I10", "R7303")))
    assert "DX-VITAMIN-D" in fired(pack, medical("82306", diagnoses=("R5383",)))
    assert "DX-VITAMIN-D" not in fired(pack, medical("82306", diagnoses=("E559",)))


def test_deny_not_covered_by_plan(pack: RulePack) -> None:
    hmo = fired(pack, medical("97810", plan="HMO-SILVER"))
    assert hmo["HS-ACUPUNCTURE"] == Deny("HS-ACUPUNCTURE", "CO", "204", ("N130",))
    assert "HS-ACUPUNCTURE" not in fired(pack, medical("97810", plan="PPO-GOLD"))
    assert "NC-COSMETIC" in fired(pack, medical("15780"))
    assert "NC-COSMETIC" not in fired(pack, medical("15784"))
    assert "D-NC-WHITENING" in fired(pack, dental("D9972"))
    assert "D-NC-WHITENING" not in fired(pack, dental("D9970"))


def test_deny_place_of_service(pack: RulePack) -> None:
    assert "POS-EMERGENCY-VISITS" in fired(pack, medical("99284", place_of_service="11"))
    assert "POS-EMERGENCY-VISITS" not in fired(pack, medical("99284", place_of_service="23"))
    assert "POS-TELEHEALTH" in fired(pack, medical("93000", place_of_service="02"))
    assert "POS-TELEHEALTH" not in fired(pack, medical("99213", place_of_service="02"))
    assert "POS-TELEHEALTH" not in fired(pack, medical("93000", place_of_service="11"))


def test_deny_modifiers(pack: RulePack) -> None:
    assert "MOD-LEFT-AND-RIGHT" in fired(pack, medical("73562", modifiers=("LT", "RT")))
    assert "MOD-LEFT-AND-RIGHT" not in fired(pack, medical("73562", modifiers=("RT",)))


def test_deny_teeth(pack: RulePack) -> None:
    assert fired(pack, dental("D2140"))["D-TOOTH-REQUIRED"] == Deny(
        "D-TOOTH-REQUIRED", "CO", "16", ("N37",)
    )
    assert "D-TOOTH-REQUIRED" not in fired(pack, dental("D2140", tooth=("30",)))
    assert "D-SEALANT-MOLARS" in fired(pack, dental("D1351", age=10, tooth=("8",)))
    assert "D-SEALANT-MOLARS" not in fired(pack, dental("D1351", age=10, tooth=("19",)))


def test_require_authorization(pack: RulePack) -> None:
    assert fired(pack, medical("70553"))["AUTH-MRI"] == RequireAuthorization("AUTH-MRI")
    assert "AUTH-MRI" not in fired(pack, medical("70553", place_of_service="23"))
    assert "AUTH-MRI" not in fired(pack, medical("70554"))
    assert "AUTH-SLEEP-STUDY" in fired(pack, medical("95810"))
    assert "D-AUTH-CROWN" in fired(pack, dental("D2740", tooth=("3",)))
    assert "D-AUTH-CROWN" not in fired(pack, dental("D2330", tooth=("8",)))
    referral = fired(pack, medical("99243", plan="HMO-SILVER"))["HS-SPECIALIST-REFERRAL"]
    assert referral == RequireAuthorization("HS-SPECIALIST-REFERRAL", "CO", "288")
    assert "HS-SPECIALIST-REFERRAL" not in fired(pack, medical("99243", plan="PPO-GOLD"))


def test_inpatient_authorization_through_the_category(pack: RulePack) -> None:
    room = medical("", claim_type="I", revenue_code="0120", place_of_service="")
    evaluation = pack.explain(room, NO_HISTORY)
    assert evaluation.category == "inpatient"
    assert "AUTH-INPATIENT" in evaluation.fired
    pharmacy = dataclasses.replace(room, revenue_code="0250")
    assert "AUTH-INPATIENT" not in pack.explain(pharmacy, NO_HISTORY).fired


def test_cap_units(pack: RulePack) -> None:
    cap = fired(pack, medical("36415", units=Decimal(3)))["UNITS-VENIPUNCTURE"]
    assert cap == CapUnits("UNITS-VENIPUNCTURE", 1, "CO", "119", ("N362",))
    # not returned when the line is within the cap
    assert "UNITS-VENIPUNCTURE" not in fired(pack, medical("36415", units=Decimal(1)))
    assert "UNITS-VENIPUNCTURE" not in fired(pack, medical("36416", units=Decimal(3)))
    same_day = history((DAY, "36415", 1))
    assert "FREQ-VENIPUNCTURE-SAME-DAY" in fired(pack, medical("36415"), same_day)
    day_before = history((date(2024, 6, 2), "36415", 1))
    assert "FREQ-VENIPUNCTURE-SAME-DAY" not in fired(pack, medical("36415"), day_before)


def test_pend(pack: RulePack) -> None:
    action = fired(pack, medical("64999"))["PEND-UNLISTED"]
    assert isinstance(action, Pend)
    assert "unlisted" in action.reason
    assert "PEND-UNLISTED" not in fired(pack, medical("64998"))
    assert "D-PEND-UNLISTED" in fired(pack, dental("D9999"))


def test_set_category(pack: RulePack) -> None:
    def category(facts: LineFacts) -> str:
        return pack.explain(facts, NO_HISTORY).category

    assert category(medical("99213")) == "office_visit"
    assert category(medical("99213", place_of_service="02")) == "telehealth"
    assert category(medical("99213", place_of_service="20")) == "urgent_care"
    assert category(medical("99243")) == "specialist"
    assert category(medical("99395")) == "preventive"
    assert category(medical("83036", diagnoses=("E119",))) == "lab"
    assert category(medical("83036", diagnoses=("Z0000",))) == "preventive"
    assert category(medical("99284", place_of_service="23")) == "emergency"
    assert category(medical("71046")) == "imaging"
    assert category(medical("29881", place_of_service="22")) == "outpatient_surgery"
    assert category(medical("20610", place_of_service="11")) == ""
    assert category(medical("", claim_type="I", revenue_code="0450")) == "emergency"
    assert category(dental("D1110")) == "dental_preventive"
    assert category(dental("D2140", tooth=("3",))) == "dental_basic"
    assert category(dental("D2740", tooth=("3",))) == "dental_major"
    actions = pack.evaluate(medical("99213", place_of_service="02"), NO_HISTORY)
    assert [a for a in actions if isinstance(a, SetCategory)] == [
        SetCategory("CAT-OFFICE-VISIT", "office_visit"),
        SetCategory("CAT-TELEHEALTH", "telehealth"),
    ]


def test_category_rules_run_before_the_rules_that_read_the_category(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        """
        rules:
          - id: READS
            description: written first, still sees the category set below
            effective_from: 2024-01-01
            scope: {categories: [lab]}
            when: category == "lab"
            then: {pend: {reason: lab}}
          - id: SETS
            description: sets the category
            effective_from: 2024-01-01
            scope: {procedures: ["80053"]}
            then: {set_category: lab}
          - id: CHAINED
            description: a category rule scoped to the category another one set
            effective_from: 2024-01-01
            scope: {categories: [lab]}
            when: procedure == "80053"
            then: {set_category: preventive}
        """,
    )
    pack = load_pack(tmp_path)
    evaluation = pack.explain(medical("80053"), NO_HISTORY)
    assert evaluation.category == "preventive"
    # READS is scoped to lab, the category is preventive by the time pass 2 runs
    assert evaluation.fired == ("SETS", "CHAINED")


# --- effective dates ---------------------------------------------------------------------------


def test_effective_dates_boundaries(tmp_path: Path) -> None:
    one_rule(
        tmp_path,
        """
        effective_from: 2024-03-01
        effective_through: 2024-03-31
        then: {deny: {group: CO, carc: "96", rarc: "N130"}}
        """,
    )
    pack = load_pack(tmp_path)

    def fires(day: date) -> bool:
        return bool(pack.evaluate(medical("99213", service_date=day), NO_HISTORY))

    assert not fires(date(2024, 2, 29))
    assert fires(date(2024, 3, 1))
    assert fires(date(2024, 3, 2))
    assert fires(date(2024, 3, 30))
    assert fires(date(2024, 3, 31))
    assert not fires(date(2024, 4, 1))


def test_shipped_rule_with_a_start_date(pack: RulePack) -> None:
    before = medical("99442", service_date=date(2024, 12, 31))
    assert "NC-AUDIO-ONLY-CODES" not in fired(pack, before)
    on = medical("99442", service_date=date(2025, 1, 1))
    assert "NC-AUDIO-ONLY-CODES" in fired(pack, on)


# --- indexing ----------------------------------------------------------------------------------


def _unrelated_rules(count: int) -> Iterator[str]:
    for i in range(count):
        kind = i % 4
        if kind == 0:
            scope = f'{{procedures: ["{10100 + i}"]}}'
        elif kind == 1:
            scope = f'{{procedure_ranges: ["{20000 + i * 10}-{20000 + i * 10 + 5}"]}}'
        elif kind == 2:
            scope = f'{{diagnoses: ["S{i:02d}*"]}}'
        else:
            scope = f'{{plans: ["PLAN-{i}"]}}'
        yield textwrap.indent(
            textwrap.dedent(
                f"""\
                - id: X{i}
                  description: unrelated rule {i}
                  effective_from: 2024-01-01
                  scope: {scope}
                  when: units > 100
                  then: {{deny: {{group: CO, carc: "96", rarc: "N130"}}}}
                """
            ),
            "  ",
        )


def test_rules_considered_do_not_grow_with_unrelated_rules(pack: RulePack, tmp_path: Path) -> None:
    lines = [
        medical("99213"),
        medical("36415", diagnoses=("E119",)),
        medical("99396", plan="HMO-SILVER"),
        medical("", claim_type="I", revenue_code="0120", place_of_service=""),
        dental("D1110"),
    ]
    before = [pack.explain(f, NO_HISTORY).considered for f in lines]
    for f in RULES.glob("*.yaml"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    extra = "rules:\n" + "".join(_unrelated_rules(100))
    (tmp_path / "zz-unrelated.yaml").write_text(extra)
    manifest = (tmp_path / "pack.yaml").read_text() + "  - zz-unrelated.yaml\n"
    (tmp_path / "pack.yaml").write_text(manifest)
    bigger = load_pack(tmp_path)
    assert len(bigger.rules) == len(pack.rules) + 100
    after = [bigger.explain(f, NO_HISTORY).considered for f in lines]
    assert after == before
    # and a line that is in one of the unrelated scopes meets that rule
    assert "X0" in bigger.explain(medical("10100"), NO_HISTORY).considered
    assert "X1" in bigger.explain(medical("20013"), NO_HISTORY).considered
    assert "X2" in bigger.explain(medical("99213", diagnoses=("S02123A",)), NO_HISTORY).considered


def test_a_line_considers_far_fewer_rules_than_the_pack_holds(pack: RulePack) -> None:
    considered = pack.explain(medical("99213"), NO_HISTORY).considered
    assert len(considered) < len(pack.rules) / 4


def test_overlapping_ranges_are_found(tmp_path: Path) -> None:
    rules = "rules:\n"
    for rid, rng in (("A", "10000-20000"), ("B", "15000-15000"), ("C", "15001-30000")):
        rules += (
            f"  - id: {rid}\n    description: range {rng}\n    effective_from: 2024-01-01\n"
            f'    scope: {{procedure_ranges: ["{rng}"]}}\n'
            "    then: {pend: {reason: x}}\n"
        )
    write_pack(tmp_path, rules)
    pack = load_pack(tmp_path)

    def hits(code: str) -> list[str]:
        return [a.rule_id for a in pack.evaluate(medical(code), NO_HISTORY)]

    assert hits("09999") == []
    assert hits("10000") == ["A"]
    assert hits("15000") == ["A", "B"]
    assert hits("15001") == ["A", "C"]
    assert hits("20000") == ["A", "C"]
    assert hits("20001") == ["C"]
    assert hits("30000") == ["C"]
    assert hits("30001") == []
    assert hits("1500") == []  # another length never matches


# --- load errors name the file and the rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('when: procedure == "99213" and\nthen: {pend: {reason: x}}', "syntax error at line 1"),
        ("when: colour == 'red'\nthen: {pend: {reason: x}}", "unknown name 'colour'"),
        ("when: lower(procedure) == 'x'\nthen: {pend: {reason: x}}", "unknown function 'lower'"),
        ('then: {deny: {group: CO, carc: "9999"}}', "unknown CARC '9999'"),
        ('then: {deny: {group: CO, carc: "96", rarc: "N9999"}}', "unknown RARC 'N9999'"),
        ('then: {deny: {group: XX, carc: "96"}}', "unknown group code 'XX'"),
        ("then: {refund: {}}", "bad action: unknown action 'refund'"),
        ("then: {deny: {group: CO}}", "bad action: deny needs a group and a carc"),
        ('then: {pend: {reason: x}, deny: {group: CO, carc: "96"}}', "exactly one action"),
        ("then: {cap_units: {max: 0, group: CO, carc: '119'}}", "cap_units max"),
        ("then: {set_category: luxury}", "set_category 'luxury' is not a category"),
        ("scope: {procedures: [99213]}\nthen: {pend: {reason: x}}", "must be a quoted string"),
        ('scope: {procedure_ranges: ["100-2000"]}\nthen: {pend: {reason: x}}', "same-length"),
        ("scope: {categories: [spa]}\nthen: {pend: {reason: x}}", "unknown category 'spa'"),
    ],
)
def test_load_errors_name_file_rule_and_problem(tmp_path: Path, rule: str, problem: str) -> None:
    one_rule(tmp_path, "effective_from: 2024-01-01\n" + rule)
    with pytest.raises(RuleError) as caught:
        load_pack(tmp_path)
    message = str(caught.value)
    assert "bad.yaml" in message
    assert "rule R1" in message
    assert problem in message
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.rule_id == "R1"


@pytest.mark.parametrize(
    ("dates", "problem"),
    [
        ("effective_from: 2024-05-01\neffective_through: 2024-04-30", "before effective_from"),
        ("effective_from: 2024-13-01", "is not a date"),
        ("effective_from: 2024-01-01 10:00:00", "is not a date"),
        ("effective_from: yesterday", "is not a date"),
        ("effective_through: 2024-01-01", "'effective_from' is required"),
    ],
)
def test_bad_dates(tmp_path: Path, dates: str, problem: str) -> None:
    one_rule(tmp_path, dates + "\nthen: {pend: {reason: x}}")
    with pytest.raises(RuleError, match=r"bad\.yaml: rule R1: .*" + problem):
        load_pack(tmp_path)


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    rule = "effective_from: 2024-01-01\nthen: {pend: {reason: x}}"
    one_rule(tmp_path, rule, "a.yaml")
    one_rule(tmp_path, rule, "b.yaml")
    with pytest.raises(
        RuleError, match=r"b\.yaml: rule R1: duplicate rule id \(also in .*a\.yaml\)"
    ):
        load_pack(tmp_path)


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    write_pack(tmp_path, "rules:\n  - id: R1\n    description: [unclosed\n")
    with pytest.raises(RuleError, match=r"bad\.yaml: YAML error at line \d+"):
        load_pack(tmp_path)


def test_a_rule_without_an_id_is_named_by_position(tmp_path: Path) -> None:
    write_pack(tmp_path, "rules:\n  - description: x\n    effective_from: 2024-01-01\n")
    with pytest.raises(RuleError, match=r"bad\.yaml: rule #1 \(no id\): 'id' must be"):
        load_pack(tmp_path)


def test_unknown_plans_are_refused_when_plans_are_known(tmp_path: Path) -> None:
    one_rule(
        tmp_path, "effective_from: 2024-01-01\nscope: {plans: [GOLD]}\nthen: {pend: {reason: x}}"
    )
    assert load_pack(tmp_path).rules
    with pytest.raises(RuleError, match="unknown plan 'GOLD'"):
        load_pack(tmp_path, known_plans=PLANS)


def test_manifest_must_list_every_file(tmp_path: Path) -> None:
    one_rule(tmp_path, "effective_from: 2024-01-01\nthen: {pend: {reason: x}}", "a.yaml")
    (tmp_path / "pack.yaml").write_text("files: []\n")
    with pytest.raises(RuleError, match=r"files not listed: a\.yaml"):
        load_pack(tmp_path)


# --- the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("procedure.__class__", "dunder attribute (.__class__) is not allowed"),
        ("().__class__.__bases__", "dunder attribute (.__bases__) is not allowed"),
        ("procedure.lower() == 'x'", "method calls (.lower(...)) are not allowed"),
        ("9**9**9", "the ** operator is not allowed"),
        ("[x for x in range(10**9)]", "comprehensions are not allowed"),
        ("any_of(modifiers, *(m for m in modifiers))", "star arguments"),
        ("(lambda: True)()", "only the documented functions can be called"),
        ("lambda: True", "lambda is not allowed"),
        ("__import__('os')", "unknown function '__import__'"),
        ("open('x')", "unknown function 'open'"),
        ("getattr(procedure, 'upper')", "unknown function 'getattr'"),
        ("eval('1')", "unknown function 'eval'"),
        ("import os", "syntax error"),
        ("x = 1", "syntax error"),
        ("__builtins__", "names starting with '_' are not allowed"),
        ("diagnoses['__len__']", "subscript '__len__' is not allowed"),
        ("f'{procedure}' == ''", "f-strings are not allowed"),
        ("(y := 1)", "assignment (:=) is not allowed"),
        ("{'a': 1}", "Dict expressions are not allowed"),
        ("procedure is None", "the is comparison is not allowed"),
        ("1 << 10000", "the << operator is not allowed"),
        ("len", "function 'len' must be called"),
        ("startswith(procedure)", "startswith() takes at least 2"),
        ("startswith(procedure, prefix='9')", "keyword arguments are not allowed"),
        ("in_range(procedure, '100-20')", "not a same-length 'lo-hi' range"),
        ("'\\d' == procedure", "invalid escape sequence"),
    ],
)
def test_sandbox_refuses_at_load(condition: str, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_condition(condition)
    assert problem in str(caught.value)


def test_sandbox_refusal_is_a_load_error_naming_the_rule(tmp_path: Path) -> None:
    one_rule(
        tmp_path, "effective_from: 2024-01-01\nwhen: procedure.__class__\nthen: {pend: {reason: x}}"
    )
    with pytest.raises(RuleError, match=r"bad\.yaml: rule R1: dunder attribute"):
        load_pack(tmp_path)


def test_long_conditions_and_literals_are_refused_by_size() -> None:
    long_literal = "procedure == '" + "9" * 5000 + "'"
    with pytest.raises(ValueError, match="characters long; the limit is 1000"):
        compile_condition(long_literal)
    literal = "procedure == '" + "9" * 200 + "'"
    with pytest.raises(ValueError, match="string literal is 200 characters long"):
        compile_condition(literal)
    many_parts = "units in (" + ",".join(["1"] * 250) + ")"
    with pytest.raises(ValueError, match="more than 200 parts"):
        compile_condition(many_parts)
    deep = "-" * 60 + "units > 0"
    with pytest.raises(ValueError, match="nests deeper"):
        compile_condition(deep)


def test_run_time_growth_is_bounded_and_becomes_a_pend(tmp_path: Path) -> None:
    one_rule(
        tmp_path,
        """
        effective_from: 2024-01-01
        when: len(procedure * 100000000) > 0
        then: {deny: {group: CO, carc: "96", rarc: "N130"}}
        """,
    )
    actions = load_pack(tmp_path).evaluate(medical("99213"), NO_HISTORY)
    assert len(actions) == 1
    pend = actions[0]
    assert isinstance(pend, Pend)
    assert pend.rule_id == "R1"
    assert pend.reason.startswith("rule R1 could not be evaluated: ValueError")


@pytest.mark.parametrize(
    ("condition", "error"),
    [
        ("diagnoses[0] == 'E119'", "IndexError"),  # the line has no diagnoses
        ("procedure > 5", "TypeError"),
        ("'%0999999d' % 1 == ''", "TypeError"),
        ("units / 0 > 1", "DivisionByZero"),
        ("len(tooth)", "condition gave int, not true/false"),
    ],
)
def test_evaluation_errors_become_pends(tmp_path: Path, condition: str, error: str) -> None:
    one_rule(
        tmp_path,
        f"""
        effective_from: 2024-01-01
        when: "{condition}"
        then: {{deny: {{group: CO, carc: "96", rarc: "N130"}}}}
        """,
    )
    (action,) = load_pack(tmp_path).evaluate(medical("99213", diagnoses=()), NO_HISTORY)
    assert isinstance(action, Pend)
    assert error in action.reason
    assert "rule R1" in action.reason


def test_decimal_literals_and_division_stay_decimal() -> None:
    names, functions = _context(medical("99213", charge=Decimal("100.10")), NO_HISTORY)
    evaluator = _Evaluator(names, functions)

    def run(text: str) -> object:
        return evaluator.eval(text, previously_parsed=compile_condition(text))

    assert run("charge * 0.5") == Decimal("50.050")
    assert run("4 / 3 > 1.3") is True
    assert isinstance(run("charge / 4"), Decimal)


# --- functions ---------------------------------------------------------------------------------


def test_history_functions() -> None:
    past = history(
        (date(2023, 12, 31), "97110", 2),  # last plan year
        (date(2024, 2, 1), "97110", 2),
        (date(2024, 2, 1), "97112", 1),
        (date(2024, 3, 1), "97110", 1),
        (date(2024, 7, 1), "97110", 1),  # later date of service, already adjudicated
    )
    on = DAY
    names, functions = _context(medical("97110", service_date=on), past)
    assert functions["units_in_year"]("97110") == Decimal(4)
    assert functions["units_in_year"]("97110-97112") == Decimal(5)
    assert functions["visits_in_year"]("97110", "97112") == 3
    assert functions["visits_in_year"](("97110", "97112")) == 3
    assert functions["days_since_last"]("97110") == (on - date(2024, 3, 1)).days
    assert functions["days_since_last"]("99999") == NEVER_DAYS
    assert names["service_date"] == "2024-06-03"


def test_line_functions() -> None:
    facts = medical("99213", diagnoses=("E1165", "I10"), modifiers=("25",))
    names, functions = _context(facts, NO_HISTORY)
    assert functions["has_diagnosis"]("E11.6*")
    assert functions["has_diagnosis"]("Z00", "I10")
    assert not functions["has_diagnosis"]("E10")
    assert functions["in_range"]("99213", "99202-99215")
    assert not functions["in_range"]("992131", "99202-99215")
    assert functions["startswith"]("99213", "99", "G")
    assert functions["any_of"](("25", "59"), "59")
    assert functions["any_of"]("25", "25", "59")
    assert not functions["any_of"]((), "25")
    assert names["principal_diagnosis"] == "E1165"


def test_history_with_service_adds_a_line() -> None:
    past = NO_HISTORY.with_service(DAY, "99396", Decimal(1))
    assert past.visits_in_year("99381-99397") == 1
    assert past.units_in_year("99396") == Decimal(1)
    assert past.days_since_last("99396", on=date(2024, 6, 10)) == 7


# --- line facts from the domain model ----------------------------------------------------------


def _claim(claim_type: ClaimType, lines: tuple[ServiceLine, ...], **changes: object) -> Claim:
    party = Party("X", "PI", "1")
    person = Person("DOE", "JANE", member_id="PG00000100")
    claim = Claim(
        claim_type=claim_type,
        claim_id="C1",
        total_charge=Decimal("100.00"),
        facility_code="11",
        facility_qualifier="B",
        frequency_code="1",
        submitter=party,
        receiver=party,
        billing_provider=Provider("85", "2", "CLINIC"),
        subscriber=person,
        patient=person,
        patient_relationship="18",
        payer=party,
        payer_responsibility="P",
        lines=lines,
        source=Source("1", "S", "1", "0001", "005010X222A1", 1),
        diagnoses=(Diagnosis("ABK", "E11.9"), Diagnosis("ABF", "I10"), Diagnosis("ABF", "z00.00")),
    )
    return dataclasses.replace(claim, **changes)  # type: ignore[arg-type]


def test_line_facts_professional() -> None:
    line = ServiceLine(
        number=1,
        charge=Decimal("140.00"),
        units=Decimal(1),
        unit_type="UN",
        procedure=Procedure("HC", "99213", ("25",)),
        diagnosis_pointers=(3, 1),
        service_from=date(2024, 6, 3),
    )
    facts = line_facts(
        _claim(ClaimType.PROFESSIONAL, (line,)),
        line,
        member_birth_date=date(1984, 6, 4),
        member_sex="f",
        plan_id="PPO-GOLD",
        network="in",
    )
    assert facts.claim_type == "P"
    assert facts.procedure == "99213"
    assert facts.modifiers == ("25",)
    assert facts.diagnoses == ("Z0000", "E119")
    assert facts.principal_diagnosis == "Z0000"
    assert facts.age == 39  # birthday is the day after
    assert facts.sex == "F"
    assert facts.place_of_service == "11"  # from the claim
    assert facts.category == ""


def test_line_facts_institutional_and_dental() -> None:
    room = ServiceLine(1, Decimal("3000.00"), Decimal(3), "DA", revenue_code="0120")
    claim = _claim(ClaimType.INSTITUTIONAL, (room,), statement_from=date(2024, 6, 1))
    facts = line_facts(
        claim,
        room,
        member_birth_date=date(1950, 1, 1),
        member_sex="X",
        plan_id="HMO-SILVER",
        network="out",
    )
    assert (facts.claim_type, facts.procedure, facts.revenue_code) == ("I", "", "0120")
    assert facts.service_date == date(2024, 6, 1)
    assert facts.place_of_service == ""
    assert facts.diagnoses == ("E119", "I10", "Z0000")  # all of them, principal first
    assert facts.sex == "U"
    tooth_line = ServiceLine(
        1,
        Decimal("160.00"),
        Decimal(1),
        "UN",
        procedure=Procedure("AD", "D2140"),
        teeth=(Tooth("3", ("O",)),),
        service_from=date(2024, 6, 3),
    )
    dental_facts = line_facts(
        _claim(ClaimType.DENTAL, (tooth_line,)),
        tooth_line,
        member_birth_date=date(2000, 1, 1),
        member_sex="M",
        plan_id="DENTAL-BASIC",
        network="in",
    )
    assert dental_facts.tooth == ("3",)


def test_line_facts_refuses_a_line_without_a_date_or_a_bad_network() -> None:
    line = ServiceLine(1, Decimal(1), Decimal(1), "UN", procedure=Procedure("HC", "99213"))
    claim = _claim(ClaimType.PROFESSIONAL, (line,))
    with pytest.raises(ValueError, match="no date of service"):
        line_facts(
            claim,
            line,
            member_birth_date=date(2000, 1, 1),
            member_sex="M",
            plan_id="PPO-GOLD",
            network="in",
        )
    with pytest.raises(ValueError, match="network"):
        line_facts(
            claim,
            line,
            member_birth_date=date(2000, 1, 1),
            member_sex="M",
            plan_id="PPO-GOLD",
            network="maybe",
        )


def test_scope_by_claim_type_place_and_modifier_keeps_other_lines_out() -> None:
    """A professional office line meets neither the facility, the telehealth nor the
    left-and-right rules: they are filed under I, places 02/10 and modifier LT."""
    pack = load_pack(Path(__file__).resolve().parents[2] / "rules")
    facts = LineFacts(
        claim_type="P",
        procedure="99213",
        service_date=date(2026, 10, 15),
        plan="PPO-GOLD",
        age=40,
        sex="F",
        network="in",
        place_of_service="11",
    )
    considered = set(
        pack.explain(facts, MemberHistory(plan_year_start=date(2026, 1, 1))).considered
    )
    assert not considered & {"CAT-INPATIENT", "POS-TELEHEALTH", "MOD-LEFT-AND-RIGHT"}
    telehealth_lab = dataclasses.replace(facts, procedure="80053", place_of_service="02")
    fired = pack.explain(telehealth_lab, MemberHistory(plan_year_start=date(2026, 1, 1))).fired
    assert "POS-TELEHEALTH" in fired
    both_sides = dataclasses.replace(facts, procedure="73562", modifiers=("LT", "RT"))
    fired = pack.explain(both_sides, MemberHistory(plan_year_start=date(2026, 1, 1))).fired
    assert "MOD-LEFT-AND-RIGHT" in fired


def test_compiled_conditions_agree_with_simpleeval() -> None:
    """Every shipped condition, compiled to closures, gives simpleeval's answer on real lines."""
    from claims_engine.domain.reference_data import load_members, load_providers
    from claims_engine.synthetic.generator import generate_claims

    root = Path(__file__).resolve().parents[2]
    pack = load_pack(root / "rules")
    members = load_members(root / "fixtures" / "reference" / "members.csv")
    providers = load_providers(root / "fixtures" / "reference" / "providers.csv")
    conditions = [r for r in pack.rules if r.condition is not None]
    assert conditions and all(r.compiled is not None for r in conditions)
    checked = 0
    for claim in generate_claims(5, members, providers, as_of=date(2026, 11, 1), count=150):
        for line in claim.lines:
            if line.service_from is None:
                continue
            facts = line_facts(
                claim,
                line,
                member_birth_date=date(1980, 5, 1),
                member_sex="F",
                plan_id="PPO-GOLD",
                network="in",
                category="office_visit",
            )
            names, functions = _context(facts, MemberHistory(plan_year_start=date(2026, 1, 1)))
            evaluator = _Evaluator(names, functions)
            for rule in conditions:
                assert rule.compiled is not None
                try:
                    expected: object = evaluator.eval(rule.when, previously_parsed=rule.condition)
                except Exception as exc:  # the same failure must come out of both
                    expected = type(exc)
                try:
                    got: object = rule.compiled(names, functions)
                except Exception as exc:
                    got = type(exc)
                assert got == expected, (rule.id, line)
                checked += 1
    assert checked > 1000
