"""Hand-made X12 834s (005010X220A1) for the enrollment tests, as a sponsor would send them:
each validates under pyx12, which has the 834 5010 map (:func:`write_834` checks it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from tests.x12_oracle import pyx12_errors

SPONSOR = "999888777"
GROUP = "123456001"


@dataclass(frozen=True)
class Line:
    """One coverage line (2300 HD): maintenance HD01, insurance line HD03, plan HD04."""

    maintenance: str = "021"
    line: str = "HLT"
    plan: str = ""
    begin: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Person:
    """One member (2000 INS) of an 834."""

    maintenance: str  # INS03
    subscriber_id: str  # REF*0F
    member_id: str = ""  # NM109; a subscriber's is their REF*0F
    relationship: str = "18"
    last: str = "DOE"
    first: str = "JOHN"
    birth: date | None = date(1980, 1, 1)
    sex: str = "M"
    group: str = GROUP
    reason: str = "XN"  # INS04
    eligibility_begin: date | None = None  # DTP*356
    eligibility_end: date | None = None  # DTP*357
    lines: Sequence[Line] = field(default_factory=tuple)

    @property
    def subscriber(self) -> bool:
        return self.relationship == "18"


def _d8(day: date) -> str:
    return day.strftime("%Y%m%d")


def person_segments(p: Person) -> list[str]:
    segs = [
        f"INS*{'Y' if p.subscriber else 'N'}*{p.relationship}*{p.maintenance}*{p.reason}*A"
        + ("***FT" if p.subscriber else ""),
        f"REF*0F*{p.subscriber_id}",
        f"REF*1L*{p.group}",
    ]
    if p.eligibility_begin:
        segs.append(f"DTP*356*D8*{_d8(p.eligibility_begin)}")
    if p.eligibility_end:
        segs.append(f"DTP*357*D8*{_d8(p.eligibility_end)}")
    member_id = p.member_id or p.subscriber_id
    segs.append(f"NM1*IL*1*{p.last}*{p.first}****ZZ*{member_id}")
    if p.birth is not None:
        segs.append(f"DMG*D8*{_d8(p.birth)}*{p.sex}")
    for ln in p.lines:
        segs.append(f"HD*{ln.maintenance}**{ln.line}*{ln.plan}".rstrip("*"))
        if ln.begin:
            segs.append(f"DTP*348*D8*{_d8(ln.begin)}")
        if ln.end:
            segs.append(f"DTP*349*D8*{_d8(ln.end)}")
    return segs


def write_834(
    people: Sequence[Person],
    *,
    control: int = 1,
    action: str = "2",
    created: date = date(2026, 12, 1),
    time: str = "1200",
    sponsor: str = SPONSOR,
    sender: str = "SPONSOR01",
) -> bytes:
    """An 834 interchange of one transaction set holding ``people``, BGN08 ``action``."""
    body = [
        "ST*834*0001*005010X220A1",
        f"BGN*00*REF{control:06d}*{_d8(created)}*{time}****{action}",
        f"N1*P5**FI*{sponsor}",
        "N1*IN**FI*654456654",
    ]
    for p in people:
        body.extend(person_segments(p))
    body.append(f"SE*{len(body) + 1}*0001")
    isa = (
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{'PAYER01':<15}*"
        f"{created:%y%m%d}*{time[:4]}*^*00501*{control:09d}*0*T*:"
    )
    gs = f"GS*BE*{sender}*PAYER01*{_d8(created)}*{time[:4]}*{control}*X*005010X220A1"
    segments = [isa, gs, *body, f"GE*1*{control}", f"IEA*1*{control:09d}"]
    text = "~\n".join(segments) + "~\n"
    assert pyx12_errors(text) == [], text  # the 834s the tests write are valid ones
    return text.encode()
