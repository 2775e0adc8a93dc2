"""A replacement or a void reaches only an original of the same billing provider (NPI, and TIN
where both claims carry one) and the same patient. Any other original is treated exactly as
one that does not exist: CO-129 with N185, no reversal, nothing of the original in the answer.
(Issue 15: a provider key voided another provider's paid claim by naming it in REF*F8.)"""

from __future__ import annotations

from decimal import Decimal

import pytest

from claims_engine.adjudication.adjudicate import Adjudication, AdjudicationContext
from claims_engine.adjudication.batch import Ledger, adjudicate_in_order
from claims_engine.adjudication.decision import ClaimDecision, ClaimStatusCode, Outcome
from claims_engine.domain.model import Claim
from tests.unit.adjudication.support import (
    BUCKEYE,
    LIAM_HILL,
    RECEIVED,
    REFERENCE,
    claim_from_837,
    run,
    subscriber,
)

SCIOTO = """\
NM1*85*2*SCIOTO VALLEY INTERNAL MEDICINE*****XX*2750062418~
N3*4173 CEDAR RD~
N4*LANCASTER*OH*431334296~
REF*EI*312975124~
"""
SOPHIA_JOHNSON = subscriber("PG00000200", "JOHNSON", "SOPHIA", "19751120", "F", "PPO-GOLD")
# Sophia's husband, a dependant on her policy (2000C): same family, another patient
LIAM_JACKSON = (
    SOPHIA_JOHNSON.replace("HL*2*1*22*0~", "HL*2*1*22*1~").replace("SBR*P*18*", "SBR*P**")
    + """\
HL*3*2*23*0~
PAT*01~
NM1*QC*1*JACKSON*LIAM~
N3*12 ELM STREET~
N4*AKRON*OH*443201234~
DMG*D8*19750102*M~
"""
)

LINES = """\
HI*ABK:J069~
LX*1~
SV1*HC:99213*140*UN*1***1~
DTP*472*D8*20261015~
"""
VICTIM = "PCN-VICTIM"


def _original(patient: str = LIAM_HILL, billing: str = BUCKEYE) -> ClaimDecision:
    claim = claim_from_837(patient + "CLM*ORIG-1*140***11:B:1*Y*A*Y*Y~\n" + LINES, billing=billing)
    decision = run(claim, pccn=VICTIM).decision
    assert decision.outcome is Outcome.PAID and decision.paid > 0
    return decision


def _follow_up(
    frequency: str,
    patient: str,
    billing: str,
    names: str = VICTIM,
    allowed: frozenset[str] = frozenset(),
) -> Claim:
    return claim_from_837(
        patient + f"CLM*NEW-1*140***11:B:{frequency}*Y*A*Y*Y~\nREF*F8*{names}~\n" + LINES,
        billing=billing,
        allowed=allowed,
    )


def _as_if_unknown(claim: Claim, prior: dict[str, ClaimDecision]) -> None:
    """The answer to ``claim`` with ``prior`` is the answer it gets when no original exists."""
    refused = run(claim, pccn="PCN-NEW", prior_decisions=prior)
    unknown = run(claim, pccn="PCN-NEW", prior_decisions={})
    assert refused == unknown
    _denied_129(refused)


def _denied_129(result: Adjudication) -> None:
    assert [d.status for d in result.decisions] == [ClaimStatusCode.DENIED]
    assert not any(d.reverses for d in result.decisions)
    decision = result.decision
    assert decision.paid == 0
    assert [(a.group, a.reason) for ln in decision.lines for a in ln.adjustments] == [("CO", "129")]
    assert all(ln.remarks == ("N185",) for ln in decision.lines)
    assert result.accumulator_changes == {}


@pytest.mark.parametrize("frequency", ["7", "8"])
def test_another_provider_cannot_replace_or_void_a_claim_of_the_same_patient(
    frequency: str,
) -> None:
    original = _original(LIAM_HILL, BUCKEYE)
    attack = _follow_up(frequency, LIAM_HILL, SCIOTO)
    _as_if_unknown(attack, {VICTIM: original})


@pytest.mark.parametrize("frequency", ["7", "8"])
def test_the_same_provider_cannot_replace_or_void_a_claim_of_another_patient(
    frequency: str,
) -> None:
    original = _original(SOPHIA_JOHNSON, BUCKEYE)
    attack = _follow_up(frequency, LIAM_HILL, BUCKEYE)
    _as_if_unknown(attack, {VICTIM: original})


@pytest.mark.parametrize("frequency", ["7", "8"])
def test_another_patient_of_the_same_policy_is_another_patient(frequency: str) -> None:
    original = _original(SOPHIA_JOHNSON, BUCKEYE)
    attack = _follow_up(frequency, LIAM_JACKSON, BUCKEYE)
    _as_if_unknown(attack, {VICTIM: original})


@pytest.mark.parametrize(
    "tin", ["REF*EI*999999999~\n", ""], ids=["another TIN", "no TIN (SNIP level 2 off)"]
)
def test_the_same_npi_under_another_tin_is_another_billing_provider(tin: str) -> None:
    original = _original(LIAM_HILL, BUCKEYE)
    # 2010AA REF*EI is required by the guide (X12-SEGMENT-3, SNIP level 2): a partner whose
    # level 2 is off could still send a claim without it
    attack = _follow_up(
        "8",
        LIAM_HILL,
        BUCKEYE.replace("REF*EI*206973390~\n", tin),
        allowed=frozenset({"X12-SEGMENT-3"}),
    )
    _as_if_unknown(attack, {VICTIM: original})


@pytest.mark.parametrize("frequency", ["7", "8"])
def test_the_same_provider_and_patient_still_reverse(frequency: str) -> None:
    # the positive control of the refusals above: the same claim data otherwise
    original = _original(LIAM_JACKSON, BUCKEYE)
    result = run(_follow_up(frequency, LIAM_JACKSON, BUCKEYE), prior_decisions={VICTIM: original})
    assert result.decisions[0].status is ClaimStatusCode.REVERSAL
    assert result.decisions[0].reverses == VICTIM
    assert result.decisions[0].paid == -original.paid


def test_a_refused_void_in_a_batch_leaves_the_original_standing() -> None:
    # in one batch (the ledger the workers keep), another provider's void of a claim decided
    # just before it reverses nothing, and a later claim of the owner still sees the original
    ledger = Ledger()
    ctx = AdjudicationContext(reference=REFERENCE, received_on=RECEIVED)
    original = claim_from_837(LIAM_HILL + "CLM*ORIG-1*140***11:B:1*Y*A*Y*Y~\n" + LINES)
    attack = _follow_up("8", LIAM_HILL, SCIOTO)
    owners = _follow_up("8", LIAM_HILL, BUCKEYE)
    first, refused, voided = adjudicate_in_order(
        [(original, VICTIM), (attack, "PCN-ATTACK"), (owners, "PCN-OWNER")], ctx, ledger
    )
    assert first.decision.paid == Decimal("63.20")
    _denied_129(refused)
    assert voided.decisions[0].status is ClaimStatusCode.REVERSAL
    assert voided.decisions[0].paid == Decimal("-63.20")
