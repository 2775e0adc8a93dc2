"""Golden scenarios decided by the shipped rule pack (rules/): non-covered services, age and
sex limits, a second preventive visit in a plan year, authorizations. Member LIAM HILL
(PG00000100) is a man born 1987-12-27: 38 years old in October 2026."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from claims_engine.adjudication.adjudicate import Adjudication, PriorService
from claims_engine.adjudication.coverage import rule_hook
from claims_engine.domain.model import Claim
from claims_engine.rules.engine import load_pack
from tests.conftest import ROOT
from tests.unit.adjudication.support import (
    LIAM_HILL,
    adjustments,
    claim_from_837,
    run,
    subscriber,
)

PACK = load_pack(ROOT / "rules")
HOOK = rule_hook(PACK)
D = Decimal


def _one_line(code: str, charge: str, dx: str = "Z0000", claim_id: str = "RULES-1") -> Claim:
    return claim_from_837(
        LIAM_HILL
        + f"""\
CLM*{claim_id}*{charge}***11:B:1*Y*A*Y*Y~
HI*ABK:{dx}~
LX*1~
SV1*HC:{code}*{charge}*UN*1***1~
DTP*472*D8*20261015~
"""
    )


def _run(claim: Claim, **kw: Any) -> Adjudication:
    return run(claim, rules=HOOK, rule_pack_version=PACK.version, **kw)


def test_non_covered_service() -> None:
    # 15780 dermabrasion is cosmetic: CO-204 for the whole charge, remark N383
    result = _run(_one_line("15780", "2500", "L905"))
    assert adjustments(result) == [(1, "CO", "204", D("2500.00"))]
    assert result.decision.lines[0].remarks == ("N383",)
    assert result.decision.rule_pack_version == PACK.version


def test_age_limit() -> None:
    # 99384 is a pediatric preventive visit; LIAM is 38: CO-6
    result = _run(_one_line("99384", "190"))
    assert adjustments(result) == [(1, "CO", "6", D("190.00"))]


def test_sex_limit() -> None:
    # screening PSA G0103 for SOPHIA JOHNSON (PG00000200), a woman of 50: CO-7
    claim = claim_from_837(
        subscriber("PG00000200", "JOHNSON", "SOPHIA", "19751120", "F", "PPO-GOLD")
        + """\
CLM*RULES-PSA*45***11:B:1*Y*A*Y*Y~
HI*ABK:Z125~
LX*1~
SV1*HC:G0103*45*UN*1***1~
DTP*472*D8*20261015~
"""
    )
    assert adjustments(_run(claim)) == [(1, "CO", "7", D("45.00"))]


def test_first_preventive_visit_is_paid_the_second_is_denied() -> None:
    # 99395 allowed 124.25, preventive: paid in full the first time in 2026. With a 99395 of
    # 2026-03-02 already in the history, the second is denied CO-119 (benefit maximum).
    first = _run(_one_line("99395", "210"))
    assert first.decision.paid == D("124.25")
    earlier = PriorService(
        "PCN0000",
        "EARLIER",
        "2781759230",
        "PG00000100",
        "99395",
        date(2026, 3, 2),
        D("210"),
        D("1"),
    )
    second = _run(_one_line("99395", "210", claim_id="RULES-2"), history=(earlier,))
    assert adjustments(second) == [(1, "CO", "119", D("210.00"))]
    # a visit of the previous plan year does not count
    last_year = PriorService(
        "PCN0000",
        "EARLIER",
        "2781759230",
        "PG00000100",
        "99395",
        date(2025, 11, 2),
        D("210"),
        D("1"),
    )
    assert _run(_one_line("99395", "210"), history=(last_year,)).decision.paid == D("124.25")


def test_mri_needs_the_authorization_on_file() -> None:
    # AUTH-MRI: PA2026000101 covers one 70551 for LIAM from 2026-09-01: paid (allowed 900.00,
    # deductible 500.00, 20% of 400.00 = 80.00, paid 320.00); 72148 has no authorization: CO-197
    covered = _run(_one_line("70551", "1500", "G4489"))
    assert covered.decision.paid == D("320.00")
    missing = _run(_one_line("72148", "1500", "M545"))
    assert [(a.group, a.reason) for a in missing.decision.lines[0].adjustments] == [("CO", "197")]
