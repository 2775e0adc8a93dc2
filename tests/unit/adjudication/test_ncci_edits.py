"""Hand-worked NCCI scenarios through the pure adjudication (no rules, no store).

Member LIAM HILL (PG00000100, PPO-GOLD: deductible 500.00 in network, coinsurance 20%, office
visit copay 25.00, copay only) at BUCKEYE FAMILY MEDICINE (NPI 2781759230, in network). Fees:
99213 88.20, 99214 131.20, 36415 12.78, 20610 136.90, J3301 17.00 a unit. Every line is dated
2026-10-15 unless said otherwise; the tables are small ones made here with the builders of
:mod:`claims_engine.domain.ncci`, in CMS's layout.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claims_engine.adjudication.adjudicate import (
    Adjudication,
    AdjudicationContext,
    PriorService,
    adjudicate,
)
from claims_engine.adjudication.decision import Outcome, check_balance
from claims_engine.adjudication.directives import Directives
from claims_engine.domain.benefits import NcciSettings, load_plans
from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.model import Claim
from claims_engine.domain.ncci import (
    PRACTITIONER,
    MueRows,
    MueTable,
    NcciTables,
    PtpRows,
    PtpTable,
    Quarter,
    build_mue,
    build_ptp,
    read_mue,
    read_ptp,
)
from claims_engine.domain.pend_reasons import NCCI_PTP_PAID
from claims_engine.domain.reference_data import ReferenceData
from tests.conftest import FIXTURES
from tests.unit.adjudication.support import (
    LIAM_HILL,
    RECEIVED,
    REFERENCE,
    adjustments,
    claim_from_837,
)

D = Decimal
DAY = date(2026, 10, 15)
NPI = "2781759230"
PTP_HEADER = "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale"
MUE_HEADER = "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,Rationale"


def ptp(*rows: str, quarter: str = "2026Q4") -> PtpTable:
    """A practitioner PTP table of ``rows`` (column 1, column 2, effective, deletion, modifier
    indicator, space-separated)."""
    lines = [PTP_HEADER]
    for row in rows:
        c1, c2, eff, gone, mod = row.split()
        lines.append(f"{c1}\t{c2}\t\t{eff}\t{gone}\t{mod}\tMutually exclusive procedures")
    read = PtpRows()
    assert read_ptp("ptp.txt", lines, "\t", read) == []
    table, problems = build_ptp(Quarter.parse(quarter), PRACTITIONER, read)
    assert problems == [] and table is not None
    return table


def mue(*rows: str, quarter: str = "2026Q4") -> MueTable:
    """A practitioner MUE table of ``rows`` (code, value, MAI, space-separated)."""
    lines = [MUE_HEADER] + [f"{row.replace(' ', ',')},Clinical: Data" for row in rows]
    read = MueRows()
    assert read_mue("mue.csv", lines, ",", read) == []
    return build_mue(Quarter.parse(quarter), PRACTITIONER, read)


PTP_Q4 = ptp(
    "99214 99213 20100101 * 0",  # indicator 0: never bypassed
    "20610 99213 20150101 * 1",  # indicator 1: a modifier may bypass
    "99213 36415 20150101 20260901 1",  # deleted 2026-09-01 (last quarter)
)
MUE_Q4 = mue("J3301 8 1", "36415 3 3", "99213 1 2")
TABLES = NcciTables.of([PTP_Q4, MUE_Q4])


def claim(*lines: str, claim_id: str = "NCCI-1", day: str = "20261015") -> Claim:
    """A professional claim of LIAM HILL with ``lines`` (``CODE[:MOD] CHARGE [UNITS]``)."""
    body = []
    total = D(0)
    for n, line in enumerate(lines, 1):
        code, charge, *units = line.split()
        total += D(charge)
        body.append(
            f"LX*{n}~\nSV1*HC:{code}*{charge}*UN*{units[0] if units else 1}***1~\n"
            f"DTP*472*D8*{day}~\n"
        )
    return claim_from_837(
        LIAM_HILL + f"CLM*{claim_id}*{total}***11:B:1*Y*A*Y*Y~\nHI*ABK:M545~\n" + "".join(body)
    )


def earlier(code: str, units: str = "1", npi: str = NPI, day: date = DAY) -> PriorService:
    """A line of an earlier, paid claim of LIAM HILL."""
    return PriorService("PCN0000", "EARLIER", npi, "PG00000100", code, day, D("100"), D(units))


def decide(
    c: Claim,
    tables: NcciTables = TABLES,
    received: date = RECEIVED,
    reference: ReferenceData = REFERENCE,
    **kw: Any,
) -> Adjudication:
    """Adjudicate with ``tables``; every decision must balance."""
    ctx = AdjudicationContext(reference=reference, received_on=received, ncci=tables, **kw)
    result = adjudicate(c, ctx, "PCN0001")
    for d in result.decisions:
        assert check_balance(d) == [], check_balance(d)
    return result


def codes(
    result: Adjudication, line: int
) -> tuple[list[tuple[str, str, Decimal]], tuple[str, ...]]:
    found = result.decision.lines[line - 1]
    return [(a.group, a.reason, a.amount) for a in found.adjustments], found.remarks


def test_a_ptp_pair_is_denied() -> None:
    # 99214/99213, indicator 0: 99213 (column 2) denied whole, CO-97 100.00 with N20; 99214
    # paid: allowed 131.20, less the 25.00 copay = 106.20
    result = decide(claim("99214 150", "99213 100"))
    assert codes(result, 2) == ([("CO", "97", D("100.00"))], ("N20",))
    line = result.decision.lines[1]
    assert line.outcome is Outcome.DENIED
    assert line.note == (
        "Billed with 99214 on the same day (NCCI PTP edit 99214/99213, practitioner table, 2026Q4)"
    )
    assert result.decision.lines[0].paid == D("106.20")
    assert result.decision.outcome is Outcome.PARTLY_PAID


def test_the_same_pair_with_59_is_paid_on_indicator_1_denied_on_indicator_0() -> None:
    with_59 = claim("99214 150", "99213:59 100")
    # indicator 0 (as published): 59 changes nothing
    assert codes(decide(with_59), 2)[0] == [("CO", "97", D("100.00"))]
    # the same pair with indicator 1: 59 on the column 2 line says the services were distinct;
    # 99213 paid: allowed 88.20 (the 59 has no fee of its own) less the copay: 63.20
    one = NcciTables.of([ptp("99214 99213 20100101 * 1")])
    result = decide(with_59, one)
    assert result.decision.lines[1].outcome is Outcome.PAID
    assert result.decision.lines[1].paid == D("63.20")
    # without the modifier, indicator 1 still denies
    assert codes(decide(claim("99214 150", "99213 100"), one), 2)[0] == [("CO", "97", D("100.00"))]


def test_a_modifier_on_the_column_1_line_bypasses_too() -> None:
    # 20610/99213, indicator 1: RT on the column 1 line bypasses it (either line will do)
    result = decide(claim("20610:RT 200", "99213 100"))
    assert result.decision.lines[1].outcome is Outcome.PAID


def test_an_edit_deleted_last_quarter_does_not_apply() -> None:
    # 99213/36415 was deleted as of 2026-09-01: on 2026-10-15 both are paid
    result = decide(claim("99213 100", "36415 20"))
    assert [ln.outcome for ln in result.decision.lines] == [Outcome.PAID, Outcome.PAID]
    # on 2026-08-20 it was in force: 36415 denied
    august = decide(claim("99213 100", "36415 20", day="20260820"), received=date(2026, 9, 1))
    assert codes(august, 2)[0] == [("CO", "97", D("20.00"))]


def test_mue_on_one_line_denies_the_units_above() -> None:
    # J3301 MUE 8, MAI 1: 10 units billed at 200.00 -> 8 units pass: 200 * 8 / 10 = 160.00;
    # CO-151 40.00 for 2 units, N362. Allowed 8 x 17.00 = 136.00, all to the deductible.
    result = decide(claim("J3301 200 10"))
    line = result.decision.lines[0]
    assert [(a.group, a.reason, a.amount, a.quantity) for a in line.adjustments] == [
        ("CO", "151", D("40.00"), D("2")),
        ("CO", "45", D("24.00"), None),
        ("PR", "1", D("136.00"), None),
    ]
    assert line.remarks == ("N362",)
    assert line.paid_units == D("8")
    assert line.note == (
        "10 units of J3301 on one line, above the 8 allowed "
        "(NCCI MUE J3301 8, practitioner table, 2026Q4, per line)"
    )
    # two lines of 8 each pass: MAI 1 counts a line alone
    both = decide(claim("J3301 160 8", "J3301 160 8"))
    assert [ln.paid_units for ln in both.decision.lines] == [D("8"), D("8")]


def test_mue_per_day_counts_the_earlier_claims() -> None:
    # 36415 MUE 3, MAI 3: 2 units paid earlier on the day by the same provider, 2 more now:
    # 1 passes (charge 40.00 -> 20.00 for 1 unit; CO-151 20.00)
    result = decide(claim("36415 40 2"), history=(earlier("36415", "2"),))
    assert codes(result, 1)[0][0] == ("CO", "151", D("20.00"))
    assert result.decision.lines[0].paid_units == D("1")
    assert "4 units of 36415 on 2026-10-15, above the 3 allowed in a day" in (
        result.decision.lines[0].note
    )
    # another provider's units, or another day's, do not count
    other = decide(claim("36415 40 2"), history=(earlier("36415", "2", npi="1234567893"),))
    assert other.decision.lines[0].paid_units == D("2")
    # with 3 already paid nothing passes: the line is denied whole, CO-151 with N362
    full = decide(claim("36415 40 2"), history=(earlier("36415", "3"),))
    assert codes(full, 1) == ([("CO", "151", D("40.00"))], ("N362",))


def test_mue_per_day_counts_the_claims_lines() -> None:
    # 36415 on two lines of one claim, 2 + 2 units: the second line gets 1
    result = decide(claim("36415 40 2", "36415 40 2"))
    assert [ln.paid_units for ln in result.decision.lines] == [D("2"), D("1")]


def test_an_override_lifts_mai_3_never_mai_2() -> None:
    overridden = Directives(overrides=frozenset({1}))
    lifted = decide(claim("36415 40 2"), history=(earlier("36415", "3"),), directives=overridden)
    assert lifted.decision.lines[0].paid_units == D("2")
    # 99213 MUE 1, MAI 2 (policy): a second unit is denied whatever the examiner says
    kept = decide(claim("99213 200 2"), directives=overridden)
    assert codes(kept, 1)[0][0] == ("CO", "151", D("100.00"))


def test_the_later_column_1_claim_pends() -> None:
    # 99213 (column 2) was paid on an earlier claim; 99214 (column 1) arrives now: the claim
    # pends for an examiner (NCCI-PTP-PAID on line 1) instead of paying both
    result = decide(claim("99214 150"), history=(earlier("99213"),))
    assert result.decision.outcome is Outcome.PENDED
    [item] = result.decision.pends
    assert (item.code, item.line) == (NCCI_PTP_PAID, 1)
    assert item.detail == (
        "99214 billed after 99213 of the same day was paid on claim PCN0000 "
        "(NCCI PTP edit 99214/99213, practitioner table, 2026Q4)"
    )
    assert result.accumulator_changes == {}
    # the examiner resolves it: decided again, the line is paid
    resolved = Directives(resolved=frozenset({(NCCI_PTP_PAID, 1)}))
    again = decide(claim("99214 150"), history=(earlier("99213"),), directives=resolved)
    assert again.decision.outcome is Outcome.PAID
    # a column 2 code of another provider, or another day, pends nothing
    other = decide(claim("99214 150"), history=(earlier("99213", npi="1234567893"),))
    assert other.decision.outcome is Outcome.PAID


def test_the_later_column_2_code_is_denied() -> None:
    # 99214 (column 1) paid earlier the same day: 99213 (column 2) now is denied
    result = decide(claim("99213 100"), history=(earlier("99214"),))
    assert codes(result, 1) == ([("CO", "97", D("100.00"))], ("N20",))
    assert result.decision.lines[0].note == (
        "Billed with 99214, paid on the same day on claim PCN0000 "
        "(NCCI PTP edit 99214/99213, practitioner table, 2026Q4)"
    )


def _with_plan_settings(settings: NcciSettings) -> ReferenceData:
    plans = dict(REFERENCE.plans)
    plans["PPO-GOLD"] = replace(plans["PPO-GOLD"], ncci=settings)
    return replace(REFERENCE, plans=plans)


def test_the_payer_configures_the_codes_and_may_switch_the_stage_off() -> None:
    configured = _with_plan_settings(
        NcciSettings(ptp_carc="236", ptp_remark="M80", mue_group="CO", mue_carc="119")
    )
    result = decide(claim("99214 150", "99213 100", "J3301 180 9"), reference=configured)
    assert codes(result, 2) == ([("CO", "236", D("100.00"))], ("M80",))
    assert codes(result, 3)[0][0] == ("CO", "119", D("20.00"))
    off = _with_plan_settings(NcciSettings(enabled=False))
    result = decide(claim("99214 150", "99213 100"), reference=off)
    assert [ln.outcome for ln in result.decision.lines] == [Outcome.PAID, Outcome.PAID]


def test_no_tables_no_edits() -> None:
    result = decide(claim("99214 150", "99213 100"), NcciTables())
    assert [ln.outcome for ln in result.decision.lines] == [Outcome.PAID, Outcome.PAID]


def test_the_quarter_in_force_on_the_day_decides() -> None:
    # 2026Q3's 36415 MUE was 2 (MAI 3), 2026Q4's is 3: 3 units on 2026-08-20 lose one, on
    # 2026-10-15 none
    tables = NcciTables.of([mue("36415 2 3", quarter="2026Q3"), MUE_Q4])
    august = decide(claim("36415 30 3", day="20260820"), tables, received=date(2026, 9, 1))
    assert august.decision.lines[0].paid_units == D("2")
    assert "2026Q3" in august.decision.lines[0].note
    assert decide(claim("36415 30 3"), tables).decision.lines[0].paid_units == D("3")


def test_a_claim_meeting_both_kinds_of_edit() -> None:
    # 99214 150.00: allowed 131.20 (CO-45 18.80), copay 25.00, paid 106.20
    # 99213 100.00: denied by 99214/99213 (CO-97 100.00)
    # J3301 200.00 x 10: 8 units pass (CO-151 40.00), allowed 136.00 (CO-45 24.00), all of it
    #   to the deductible (PR-1 136.00), paid 0.00
    # claim: 450.00 - 18.80 - 25.00 - 100.00 - 40.00 - 24.00 - 136.00 = 106.20
    result = decide(claim("99214 150", "99213 100", "J3301 200 10"))
    assert adjustments(result) == [
        (1, "CO", "45", D("18.80")),
        (1, "PR", "3", D("25.00")),
        (2, "CO", "97", D("100.00")),
        (3, "CO", "151", D("40.00")),
        (3, "CO", "45", D("24.00")),
        (3, "PR", "1", D("136.00")),
    ]
    assert result.decision.paid == D("106.20")


def _plans(tmp_path: Path, ncci: str) -> Path:
    text = (FIXTURES / "reference" / "plans.yaml").read_text(encoding="utf-8")
    marker = '    pend_above: "25000.00"            # claims charging more than this wait'
    assert marker in text
    path = tmp_path / "plans.yaml"
    path.write_text(text.replace(marker, f"    ncci: {ncci}\n{marker}", 1), encoding="utf-8")
    return path


def test_plan_settings_are_read_and_checked(tmp_path: Path) -> None:
    plans = load_plans(_plans(tmp_path, "{enabled: false, ptp_denial: CO-236, ptp_remark: M80}"))
    assert plans["PPO-GOLD"].ncci == NcciSettings(enabled=False, ptp_carc="236", ptp_remark="M80")
    assert plans["HMO-SILVER"].ncci == NcciSettings()
    for bad, said in (
        ("{ptp_denial: XX-97}", "ncci.ptp_denial: ptp_denial 'XX-97' is not GROUP-CARC"),
        ("{mue_remark: Q1}", "ncci.mue_remark: mue_remark 'Q1' is not a known remark"),
        ("{enabled: maybe}", "ncci.enabled: enabled is true or false"),
        ("{on: true}", "ncci has an unknown key"),
        ("yes", "ncci is a mapping"),
    ):
        with pytest.raises(ConfigurationError) as caught:
            load_plans(_plans(tmp_path, bad))
        assert "plans.yaml: line 10, plan PPO-GOLD" in str(caught.value), str(caught.value)
        assert said in str(caught.value)
