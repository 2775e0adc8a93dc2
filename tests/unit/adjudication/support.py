"""Helpers of the golden scenarios: a readable 837 body in, the claim and its adjudication out."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

from claims_engine.adjudication.adjudicate import Adjudication, AdjudicationContext, adjudicate
from claims_engine.adjudication.decision import check_balance
from claims_engine.domain.model import Claim
from claims_engine.domain.reference_data import load_reference
from claims_engine.x12.envelope import ClaimRead
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import SegmentReader
from tests.conftest import FIXTURES

REFERENCE = load_reference(FIXTURES / "reference")
RECEIVED = date(2026, 11, 2)

BUCKEYE = """\
NM1*85*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230~
N3*8411 ASH WAY~
N4*AKRON*OH*443255643~
REF*EI*206973390~
"""


def subscriber(member_id: str, last: str, first: str, born: str, sex: str, plan: str) -> str:
    """A 2000B loop for a subscriber who is the patient."""
    return f"""\
HL*2*1*22*0~
SBR*P*18*{plan}******12~
NM1*IL*1*{last}*{first}****MI*{member_id}~
N3*12 ELM STREET~
N4*AKRON*OH*443201234~
DMG*D8*{born}*{sex}~
NM1*PR*2*ACME HEALTH PLAN*****PI*ACMEHP01~
"""


LIAM_HILL = subscriber("PG00000100", "HILL", "LIAM", "19871227", "M", "PPO-GOLD")


def claim_from_837(
    body: str,
    *,
    billing: str = BUCKEYE,
    implementation: str = "005010X222A1",
    allowed: frozenset[str] = frozenset(),
) -> Claim:
    """The one claim of an 837 made of an envelope, ``billing`` (2010AA) and ``body``; it must
    read without an issue, apart from those whose code is ``allowed`` (a claim a partner's
    SNIP levels would let through)."""
    head = (
        "ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*ACMEHP01       "
        "*261102*0900*^*00501*000000777*0*P*:~\n"
        f"GS*HC*SUBMITTER01*ACMEHP01*20261102*0900*777*X*{implementation}~\n"
        f"ST*837*0001*{implementation}~\n"
        "BHT*0019*00*GOLDEN*20261102*0900*CH~\n"
        "NM1*41*2*BUCKEYE CLAIMS EXCHANGE*****46*SUBMITTER01~\n"
        "PER*IC*EDI DEPARTMENT*TE*8005550100~\n"
        "NM1*40*2*ACME HEALTH PLAN*****46*ACMEHP01~\n"
        "HL*1**20*1~\n"
    )
    text = head + billing + body
    segments = text.count("~") - 2  # ST counts, ISA and GS do not
    text += f"SE*{segments + 1}*0001~\nGE*1*777~\nIEA*1*000000777~\n"
    events = list(read_events(SegmentReader(io.BytesIO(text.encode()))))
    claims = [e for e in events if isinstance(e, ClaimRead)]
    assert len(claims) == 1
    issues = [i.describe() for i in claims[0].issues if i.code not in allowed]
    assert issues == [], issues
    return claims[0].claim


def run(claim: Claim, received: date = RECEIVED, pccn: str = "PCN0001", **kw: Any) -> Adjudication:
    """Adjudicate and check that every decision balances."""
    ctx = AdjudicationContext(reference=REFERENCE, received_on=received, **kw)
    result = adjudicate(claim, ctx, pccn)
    for d in result.decisions:
        assert check_balance(d) == [], check_balance(d)
    return result


def adjustments(result: Adjudication) -> list[tuple[int, str, str, Decimal]]:
    """(line, group, reason, amount) of every line adjustment of the decision."""
    return [
        (ln.line_number, a.group, a.reason, a.amount)
        for ln in result.decision.lines
        for a in ln.adjustments
    ]
