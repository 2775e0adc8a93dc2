"""Claims adjudicated in order see what earlier ones left: duplicates, accumulators, voids."""

from __future__ import annotations

from decimal import Decimal

from claims_engine.adjudication.adjudicate import AdjudicationContext
from claims_engine.adjudication.batch import Ledger, adjudicate_in_order
from claims_engine.adjudication.decision import ClaimStatusCode
from tests.unit.adjudication.support import LIAM_HILL, RECEIVED, REFERENCE, claim_from_837

VISIT = (
    LIAM_HILL
    + """\
CLM*BATCH-1*140***11:B:1*Y*A*Y*Y~
HI*ABK:J069~
LX*1~
SV1*HC:71046*140*UN*1***1~
DTP*472*D8*20261015~
"""
)


def test_a_claim_sent_twice_is_a_duplicate_the_second_time() -> None:
    first = claim_from_837(VISIT)
    again = claim_from_837(VISIT.replace("BATCH-1", "BATCH-2"))
    ctx = AdjudicationContext(reference=REFERENCE, received_on=RECEIVED)
    results = list(adjudicate_in_order([(first, "P1"), (again, "P2")], ctx))
    assert results[0].decision.status is ClaimStatusCode.PRIMARY
    assert [(a.group, a.reason) for a in results[1].decision.lines[0].adjustments] == [("OA", "18")]


def test_deductible_carries_from_claim_to_claim_and_a_void_gives_it_back() -> None:
    # 71046 allowed 90.00: all of it deductible, twice: 180.00 of the 500.00 met. Voiding the
    # second claim takes its 90.00 back out.
    ledger = Ledger()
    ctx = AdjudicationContext(reference=REFERENCE, received_on=RECEIVED)
    one = claim_from_837(VISIT)
    two = claim_from_837(VISIT.replace("BATCH-1", "BATCH-2").replace("20261015", "20261016"))
    void = claim_from_837(
        VISIT.replace("BATCH-1", "BATCH-2")
        .replace("20261015", "20261016")
        .replace("11:B:1", "11:B:8")
        .replace("HI*ABK", "REF*F8*P2~\nHI*ABK")
    )
    list(adjudicate_in_order([(one, "P1"), (two, "P2")], ctx, ledger))
    deductible = {k: v for k, v in ledger.accumulators.items() if k.bucket == "deductible"}
    assert set(deductible.values()) == {Decimal("180.00")}
    (result,) = adjudicate_in_order([(void, "P3")], ctx, ledger)
    assert result.decision.status is ClaimStatusCode.REVERSAL
    deductible = {k: v for k, v in ledger.accumulators.items() if k.bucket == "deductible"}
    assert set(deductible.values()) == {Decimal("90.00")}
    assert "P2" not in ledger.decisions
