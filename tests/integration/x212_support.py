"""276s to ask about stored claims, and the claim loops of the 277s that answer them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Ask:
    """One inquiry of a 276 built for a test."""

    trace: str
    npi: str
    member_id: str
    payer_claim_number: str = ""
    submitter_claim_id: str = ""
    charge: Decimal | None = None
    dates: tuple[date, date] | None = None
    dependent: bool = False
    line: tuple[str, Decimal, date] | None = None  # procedure, charge, date


def d8(day: date) -> str:
    return day.strftime("%Y%m%d")


def build_276(asks: list[Ask], control: int = 1) -> bytes:
    """A 276 asking ``asks``, one service provider and subscriber loop each."""
    body = [
        "ST*276*0001*005010X212",
        "BHT*0010*13*REQ0001*20261102*0930",
        "HL*1**20*1",
        "NM1*PR*2*ACME HEALTH PLAN*****PI*ACMEHP01",
        "HL*2*1*21*1",
        "NM1*41*2*CLEARING HOUSE*****46*CH0001",
    ]
    hl = 2
    for ask in asks:
        body += [f"HL*{hl + 1}*2*19*1", f"NM1*1P*2*CLINIC*****XX*{ask.npi}"]
        body += [f"HL*{hl + 2}*{hl + 1}*22*{1 if ask.dependent else 0}"]
        body += [f"NM1*IL*1*DOE*JANE****MI*{ask.member_id}"]
        hl += 2
        if ask.dependent:
            body += [f"HL*{hl + 1}*{hl}*23", "DMG*D8*20100101*F", "NM1*QC*1*DOE*JUNE"]
            hl += 1
        body += [f"TRN*1*{ask.trace}"]
        if ask.payer_claim_number:
            body += [f"REF*1K*{ask.payer_claim_number}"]
        if ask.submitter_claim_id:
            body += [f"REF*EJ*{ask.submitter_claim_id}"]
        if ask.charge is not None:
            body += [f"AMT*T3*{ask.charge}"]
        if ask.dates is not None:
            start, end = ask.dates
            body += [f"DTP*472*RD8*{d8(start)}-{d8(end)}"]
        if ask.line is not None:
            code, charge, day = ask.line
            body += [f"SVC*HC:{code}*{charge}*****1", f"DTP*472*D8*{d8(day)}"]
    body += [f"SE*{len(body) + 1}*0001"]
    segments = [
        "ISA*00*          *00*          *ZZ*CH0001         *ZZ*CLAIMSENGINE   *261102*0930*^"
        f"*00501*{control:09d}*0*P*:",
        "GS*HR*CH0001*CLAIMSENGINE*20261102*0930*1*X*005010X212",
        *body,
        "GE*1*1",
        f"IEA*1*{control:09d}",
    ]
    return ("~\n".join(segments) + "~\n").encode()


@dataclass
class Block:
    """One claim status tracking loop of a 277: its TRN, STCs, REFs, DTP and lines."""

    stc: list[list[str]]
    refs: dict[str, str]
    dates: str = ""
    lines: list[list[list[str]]] | None = None


def blocks(text: str) -> dict[str, list[Block]]:
    """The 277's claim loops by the trace number they echo."""
    found: dict[str, list[Block]] = {}
    current: Block | None = None
    in_line = False
    for raw in text.split("~"):
        seg = raw.strip().split("*")
        sid = seg[0]
        if sid == "TRN" and seg[1] == "2":
            current = Block([], {})
            found.setdefault(seg[2], []).append(current)
            in_line = False
        elif sid in ("HL", "SE"):
            current = None
        elif current is None:
            continue
        elif sid == "SVC":
            current.lines = (current.lines or []) + [[seg]]
            in_line = True
        elif in_line and current.lines:
            current.lines[-1].append(seg)
        elif sid == "STC":
            current.stc.append(seg)
        elif sid == "REF":
            current.refs[seg[1]] = seg[2]
        elif sid == "DTP":
            current.dates = "*".join(seg[2:])
    return found
