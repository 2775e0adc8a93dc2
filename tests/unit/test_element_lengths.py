"""Element lengths: every 837 element the engine keeps is held to the guide's length on the way in.

What the engine writes back (names and ids into the 277CA and 835, CLM01 into CLP01, REF*6R
into the 835's 2110 loop ...) must fit there, so a value one character too long (or too short)
rejects its claim, or the transaction set when it sits in the header, and is never cut to fit.

Three fixtures hold every kept element at the longest the engine accepts
(``fixtures/x12/lengths/837{p,i,d}-max-lengths.edi``): the professional one has two claims from
one billing provider, MAXLEN-A (the subscriber is the patient; claim and line references,
a foreign service facility, a drug, a line rendering provider) and MAXLEN-B (a dependent, a
secondary claim with the primary payer's claim and line adjudication); the institutional and
dental ones have one claim each. Where a code set or the engine allows less than the element's
length (ICD-10 codes, revenue codes, tooth numbers, amounts below ten billion) the fixture holds
the longest allowed and the too-long mutation goes past the element's length.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime

import pytest

from claims_engine.adjudication.adjudicate import AdjudicationContext, adjudicate
from claims_engine.adjudication.decision import ClaimDecision
from claims_engine.adjudication.payment_cycle import load_payer, payment_cycle
from claims_engine.domain.reference_data import load_reference
from claims_engine.x12 import codes
from claims_engine.x12.envelope import ClaimRead
from claims_engine.x12.interchange import read_events
from claims_engine.x12.tokenizer import SegmentReader
from claims_engine.x12.writer835 import write_835
from tests.conftest import FIXTURES, VALID_837P, X12_FIXTURES, run_intake
from tests.x12_maps import PYX12_MAPS
from tests.x12_oracle import pyx12_errors

LENGTHS = X12_FIXTURES / "lengths"
MAX_P = LENGTHS / "837p-max-lengths.edi"
MAX_I = LENGTHS / "837i-max-lengths.edi"
MAX_D = LENGTHS / "837d-max-lengths.edi"
MAX_FIXTURES = {"P": MAX_P, "I": MAX_I, "D": MAX_D}
CLAIMS = {"P": 2, "I": 1, "D": 1}


# -- the table against pyx12's maps ------------------------------------------------------------
# Where each reference designator is looked up: pyx12 has 5010 maps for the professional and
# institutional 837, and for dental only the 4010 one, whose SV3 and TOO carry the same
# elements.
MAPS = ("837.5010.X222.A1.xml", "837Q3.I.5010.X223.A1.xml", "837.4010.X097.A1.xml")
# Elements the reader holds to the length of the first one named (a repeat of the same element).
ALIKE = {
    "CAS02": [f"CAS{i:02d}" for i in range(5, 18, 3)],
    "CAS03": [f"CAS{i:02d}" for i in range(6, 19, 3)],
    "CAS04": [f"CAS{i:02d}" for i in range(7, 20, 3)],
    "HI01-02": [f"HI{i:02d}-02" for i in range(2, 13)],
    "HI01-09": [f"HI{i:02d}-09" for i in range(2, 13)],
}


def _dictionary() -> dict[str, tuple[int, int]]:
    root = ET.parse(PYX12_MAPS / "dataele.xml").getroot()
    return {
        e.get("ele_num", ""): (int(e.get("min_len", "0")), int(e.get("max_len", "0")))
        for e in root.iter("data_ele")
    }


def _lengths_in_maps(ref: str) -> set[tuple[int, int]]:
    """The (min, max) of every element ``ref`` in the first map that has it."""
    dictionary = _dictionary()
    for name in MAPS:
        root = ET.parse(PYX12_MAPS / name).getroot()
        found = {
            dictionary[node.findtext("data_ele", "")]
            for node in root.iter("element")
            if node.get("xid") == ref
        }
        if found:
            return found
    return set()


def test_the_length_table_is_the_guides() -> None:
    for ref, limit in codes.ELEMENT_LENGTHS.items():
        assert _lengths_in_maps(ref) == {limit}, ref
        for alike in ALIKE.get(ref, []):
            assert _lengths_in_maps(alike) == {limit}, alike


# -- mutations ---------------------------------------------------------------------------------
def _segments(text: str) -> list[str]:
    return [s for s in text.split("~\n") if s]


@dataclass(frozen=True)
class Case:
    """One element of one segment set outside its length.

    ``locator`` starts the segment (its ``nth`` match in the fixture); ``loop`` is what the 999
    names (IK303: the first four characters of the loop); ``accepted`` the claims still
    accepted; ``status`` the 277CA status of the rejected claim ('' for the transaction set).
    """

    ref: str
    kind: str
    locator: str
    element: int
    component: int
    loop: str
    accepted: int
    status: str
    nth: int = 0
    short: bool = False

    @property
    def id(self) -> str:
        where = "-".join(self.locator.split("*")[:2]) + (f"-{self.nth + 1}" if self.nth else "")
        return f"{self.ref}-{'short' if self.short else 'long'}-{self.kind}-{where}"

    @property
    def limit(self) -> tuple[int, int]:
        return codes.ELEMENT_LENGTHS[self.ref]

    @property
    def value(self) -> str:
        low, high = self.limit
        n = low - 1 if self.short else high + 1
        numeric = self.ref in NUMBERS
        return ("1" if numeric else "Z") * n

    def mutate(self) -> tuple[str, int]:
        """The fixture with the element changed, and the changed segment's position."""
        segs = _segments(MAX_FIXTURES[self.kind].read_text())
        index = [i for i, s in enumerate(segs) if s.startswith(self.locator)][self.nth]
        elements = segs[index].split("*")
        elements += [""] * (self.element + 1 - len(elements))
        if self.component:
            parts = elements[self.element].split(":")
            parts += [""] * (self.component - len(parts))
            parts[self.component - 1] = self.value
            elements[self.element] = ":".join(parts)
        else:
            elements[self.element] = self.value
        segs[index] = "*".join(elements)
        return "".join(s + "~\n" for s in segs), index - 1  # ST is position 1; ISA, GS precede


NUMBERS = frozenset(
    {"CLM02", "AMT02", "CAS03", "CAS04", "SV102", "SV104", "SV203", "SV205", "SV302", "SV306"}
    | {"CTP04", "SVD02", "SVD05"}
)


def _cases() -> list[Case]:
    cases: list[Case] = []

    def add(
        ref: str,
        kind: str,
        locator: str,
        element: int,
        component: int = 0,
        *,
        loop: str,
        accepted: int,
        status: str,
        nth: int = 0,
        short: bool = False,
    ) -> None:
        cases.append(
            Case(ref, kind, locator, element, component, loop, accepted, status, nth, short)
        )

    add("BHT03", "P", "BHT*", 3, loop="", accepted=0, status="")
    for role, loop in (("41", "1000"), ("40", "1000")):
        for ref, element in (("NM103", 3), ("NM108", 8), ("NM109", 9)):
            add(ref, "P", f"NM1*{role}*", element, loop=loop, accepted=0, status="")
    # 2000A / 2010AA: both claims of the billing provider
    add("PRV03", "P", "PRV*BI*", 3, loop="2000", accepted=0, status="145:85")
    add("NM103", "P", "NM1*85*", 3, loop="2010", accepted=0, status="125:85")
    add("NM109", "P", "NM1*85*", 9, loop="2010", accepted=0, status="562:85")
    add("N301", "P", "N3*234 SEAWAY", 1, loop="2010", accepted=0, status="503:85")
    add("N302", "P", "N3*234 SEAWAY", 2, loop="2010", accepted=0, status="503:85")
    add("N401", "P", "N4*MIAMI", 1, loop="2010", accepted=0, status="502:85")
    add("N402", "P", "N4*MIAMI", 2, loop="2010", accepted=0, status="501:85")
    # 2000B / 2010BA / 2010BB of MAXLEN-A
    add("SBR03", "P", "SBR*P*18*", 3, loop="2000", accepted=1, status="21:IL")
    add("SBR09", "P", "SBR*P*18*", 9, loop="2000", accepted=1, status="21:IL")
    for ref, element in (("NM103", 3), ("NM104", 4), ("NM105", 5)):
        add(ref, "P", "NM1*IL*", element, loop="2010", accepted=1, status="125:IL")
    add("NM109", "P", "NM1*IL*", 9, loop="2010", accepted=1, status="164:IL")
    add("N301", "P", "N3*125 CITY", 1, loop="2010", accepted=1, status="503:IL")
    add("N302", "P", "N3*125 CITY", 2, loop="2010", accepted=1, status="503:IL")
    add("N401", "P", "N4*MIAMI", 1, nth=1, loop="2010", accepted=1, status="502:IL")
    add("N402", "P", "N4*MIAMI", 2, nth=1, loop="2010", accepted=1, status="501:IL")
    add("NM103", "P", "NM1*PR*", 3, loop="2010", accepted=1, status="125:PR")
    add("NM109", "P", "NM1*PR*", 9, loop="2010", accepted=1, status="153:PR")
    # 2300 to 2420 of MAXLEN-A
    add("CLM01", "P", "CLM*MAXLEN-A", 1, loop="2300", accepted=1, status="478")
    add("CLM02", "P", "CLM*MAXLEN-A", 2, loop="2300", accepted=1, status="178")
    for qualifier in ("G1", "9F", "D9"):
        add("REF02", "P", f"REF*{qualifier}*", 2, loop="2300", accepted=1, status="21")
    add("HI01-02", "P", "HI*ABK", 1, 2, loop="2300", accepted=1, status="254")
    add("NM104", "P", "NM1*82*", 4, loop="2310", accepted=1, status="125:82")
    add("NM105", "P", "NM1*82*", 5, loop="2310", accepted=1, status="125:82")
    add("NM109", "P", "NM1*82*", 9, loop="2310", accepted=1, status="562:82")
    add("PRV03", "P", "PRV*PE*", 3, loop="2310", accepted=1, status="145:82")
    add("N403", "P", "N4*TORONTO", 3, loop="2310", accepted=1, status="500:77")
    for component in range(2, 8):
        status = "453" if 3 <= component <= 6 else "454"
        ref = f"SV101-{component:02d}"
        add(ref, "P", "SV1*ER", 1, component, loop="2400", accepted=1, status=status)
    add("SV102", "P", "SV1*ER", 2, loop="2400", accepted=1, status="583")
    add("SV104", "P", "SV1*ER", 4, loop="2400", accepted=1, status="476")
    add("SV105", "P", "SV1*ER", 5, loop="2400", accepted=1, status="249")
    add("REF02", "P", "REF*6R*", 2, loop="2400", accepted=1, status="21")
    add("REF02", "P", "REF*G1*", 2, nth=1, loop="2400", accepted=1, status="21")
    add("CTP04", "P", "CTP*", 4, loop="2410", accepted=1, status="218")
    add("CTP05-01", "P", "CTP*", 5, 1, loop="2410", accepted=1, status="218")
    add("NM103", "P", "NM1*82*", 3, nth=1, loop="2420", accepted=1, status="125:82")
    # MAXLEN-B: its subscriber, patient, other payer and line adjudications
    add("NM109", "P", "NM1*IL*", 9, nth=1, loop="2010", accepted=1, status="164:IL")
    for ref, element in (("NM103", 3), ("NM104", 4), ("NM105", 5)):
        add(ref, "P", "NM1*QC*", element, loop="2010", accepted=1, status="125:QC")
    add("N301", "P", "N3*125 CITY", 1, nth=1, loop="2010", accepted=1, status="503:QC")
    add("N401", "P", "N4*MIAMI", 1, nth=2, loop="2010", accepted=1, status="502:QC")
    for ref, element in (("SBR02", 2), ("SBR03", 3), ("SBR05", 5), ("SBR09", 9)):
        add(ref, "P", "SBR*P*01*", element, loop="2320", accepted=1, status="21:PR")
    add("CAS02", "P", "CAS*OA*", 2, loop="2320", accepted=1, status="732")
    add("CAS03", "P", "CAS*OA*", 3, loop="2320", accepted=1, status="732")
    add("CAS04", "P", "CAS*OA*", 4, loop="2320", accepted=1, status="732")
    add("AMT02", "P", "AMT*D*", 2, loop="2320", accepted=1, status="732")
    add("NM103", "P", "NM1*IL*", 3, nth=2, loop="2330", accepted=1, status="125:IL")
    add("NM109", "P", "NM1*IL*", 9, nth=2, loop="2330", accepted=1, status="164:IL")
    add("NM103", "P", "NM1*PR*", 3, nth=2, loop="2330", accepted=1, status="125:PR")
    add("NM109", "P", "NM1*PR*", 9, nth=2, loop="2330", accepted=1, status="479:PR")
    add("REF02", "P", "REF*F8*", 2, loop="2330", accepted=1, status="21")
    add("SVD01", "P", "SVD*", 1, loop="2430", accepted=1, status="479")
    add("SVD02", "P", "SVD*", 2, loop="2430", accepted=1, status="732")
    for component in range(2, 8):
        status = "453" if 3 <= component <= 6 else "454"
        ref = f"SVD03-{component:02d}"
        add(ref, "P", "SVD*", 3, component, loop="2430", accepted=1, status=status)
    add("SVD05", "P", "SVD*", 5, loop="2430", accepted=1, status="476")
    add("SVD06", "P", "SVD*", 6, loop="2430", accepted=1, status="732")
    add("CAS02", "P", "CAS*CO*", 5, nth=1, loop="2430", accepted=1, status="732")
    # institutional
    for ref, element in (("CL101", 1), ("CL102", 2), ("CL103", 3)):
        add(ref, "I", "CL1*", element, loop="2300", accepted=0, status="21")
    add("HI01-09", "I", "HI*ABK", 1, 9, loop="2300", accepted=0, status="254")
    add("HI01-09", "I", "HI*ABF", 1, 9, loop="2300", accepted=0, status="255")
    add("NM103", "I", "NM1*71*", 3, loop="2310", accepted=0, status="125:71")
    add("SV201", "I", "SV2*0450", 1, loop="2400", accepted=0, status="455")
    for component in range(2, 8):
        status = "453" if 3 <= component <= 6 else "454"
        ref = f"SV202-{component:02d}"
        add(ref, "I", "SV2*0450", 2, component, loop="2400", accepted=0, status=status)
    add("SV203", "I", "SV2*0450", 3, loop="2400", accepted=0, status="583")
    add("SV205", "I", "SV2*0120", 5, loop="2400", accepted=0, status="476")
    # dental
    for component in range(2, 8):
        status = "453" if 3 <= component <= 6 else "454"
        ref = f"SV301-{component:02d}"
        add(ref, "D", "SV3*AD:D2150", 1, component, loop="2400", accepted=0, status=status)
    add("SV302", "D", "SV3*AD:D2150", 2, loop="2400", accepted=0, status="583")
    add("SV303", "D", "SV3*AD:D2150", 3, loop="2400", accepted=0, status="249")
    for component in range(1, 6):
        ref = f"SV304-{component:02d}"
        add(ref, "D", "SV3*AD:D2150", 4, component, loop="2400", accepted=0, status="245")
    add("SV306", "D", "SV3*AD:D2150", 6, loop="2400", accepted=0, status="476")
    add("TOO02", "D", "TOO*", 2, loop="2400", accepted=0, status="244")
    for component in range(1, 6):
        ref = f"TOO03-{component:02d}"
        add(ref, "D", "TOO*", 3, component, loop="2400", accepted=0, status="240")
    # too short: the elements whose minimum is more than one character
    add("NM109", "P", "NM1*IL*", 9, loop="2010", accepted=1, status="164:IL", short=True)
    add("NM109", "P", "NM1*82*", 9, loop="2310", accepted=1, status="562:82", short=True)
    add("N401", "P", "N4*MIAMI", 1, nth=1, loop="2010", accepted=1, status="502:IL", short=True)
    add("N402", "P", "N4*MIAMI", 2, nth=1, loop="2010", accepted=1, status="501:IL", short=True)
    add("N403", "P", "N4*TORONTO", 3, loop="2310", accepted=1, status="500:77", short=True)
    add("SBR02", "P", "SBR*P*01*", 2, loop="2320", accepted=1, status="21:PR", short=True)
    add("SV101-03", "P", "SV1*ER", 1, 3, loop="2400", accepted=1, status="453", short=True)
    add("CTP05-01", "P", "CTP*", 5, 1, loop="2410", accepted=1, status="218", short=True)
    add("SVD01", "P", "SVD*", 1, loop="2430", accepted=1, status="479", short=True)
    return cases


CASES = _cases()


def test_every_length_in_the_table_is_tried() -> None:
    assert {c.ref for c in CASES if not c.short} == set(codes.ELEMENT_LENGTHS)
    assert all(c.limit[0] > 1 for c in CASES if c.short)


def _claim_stcs(text: str) -> list[str]:
    return [s for s in text.splitlines() if s.startswith("STC*A") and "A1:19" not in s]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_an_element_outside_its_length_rejects_its_claim(case: Case) -> None:
    text, position = case.mutate()
    run = run_intake(text.encode())
    nine = run.ack("999")
    where = f"{case.element}:{case.component}" if case.component else str(case.element)
    error = codes.ELEM_TOO_SHORT if case.short else codes.ELEM_TOO_LONG
    segment = case.locator[:3].rstrip("*")
    pattern = (
        rf"IK3\*{segment}\*{position}\*{case.loop}\*8~\n"
        rf"(?:IK4\*[^\n]*~\n)*IK4\*{re.escape(where)}\*\*{error}[*~]"
    )
    assert re.search(pattern, nine), (pattern, nine)
    assert run.summary.claims_accepted == case.accepted
    assert run.summary.claims_rejected == CLAIMS[case.kind] - case.accepted
    assert pyx12_errors(nine) == [], nine
    if not case.status:  # the header: the transaction set is rejected, no claim reaches a 277CA
        assert "IK5*R*5~" in nine
        assert "277ca" not in run.acks
        return
    assert "IK5*E*5~" in nine
    ca = run.ack("277ca")
    stcs = _claim_stcs(ca)
    assert any(s.startswith(f"STC*A7:{case.status}*") or f"*A7:{case.status}~" in s for s in stcs)
    assert sum(s.startswith("STC*A2:20*") for s in stcs) == case.accepted
    assert run.summary.reasons[f"X12-ELEMENT-{error}"] >= 1
    errors = pyx12_errors(ca)
    assert errors == [], ca


def test_a_96_character_subscriber_id_rejects_its_claim_alone() -> None:
    """The case of the issue: NM109 of 2010BA, 96 characters where 80 is the most."""
    member_id = "JS" + "0" * 94
    text = VALID_837P.read_text()
    run = run_intake(text.replace("*MI*JS00111223333~", f"*MI*{member_id}~").encode())
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1)
    nine = run.ack("999")
    # NM1*IL is the 14th segment of the transaction set, in loop 2010BA
    assert f"IK3*NM1*14*2010*8~\nIK4*9**5*{member_id}~\nIK5*E*5~" in nine
    ca = run.ack("277ca")
    assert _claim_stcs(ca) == ["STC*A7:164:IL*20261102*U*100~", "STC*A2:20*20261102*WQ*125.5~"]
    assert pyx12_errors(nine) == [] and pyx12_errors(ca) == []


def test_lengths_hold_whatever_the_snip_levels() -> None:
    """A trading partner checked without level 2 still gets no value that does not fit."""
    text = VALID_837P.read_text()
    for old, new in (
        ("CLM*26463774*", "CLM*" + "9" * 39 + "*"),
        ("*MI*JS00111223333~", "*MI*" + "J" * 81 + "~"),
    ):
        run = run_intake(text.replace(old, new).encode(), levels=frozenset({1, 3, 4, 5}))
        assert (run.summary.claims_accepted, run.summary.claims_rejected) == (1, 1), new


# -- end to end: the longest values accepted and echoed whole ------------------------------------
# (locator, element, component, nth) of values at their longest that the 277CA (ECHOED_CA) and
# the 835 (ECHOED_835) carry; nth None for every match. The dependent's claim adds its own.
Echo = tuple[str, int, int, int | None]
SUBSCRIBER: list[Echo] = [("NM1*IL*", i, 0, 0) for i in (3, 4, 5, 9)]
ECHOED_CA: list[Echo] = [
    ("BHT*", 3, 0, None),
    ("NM1*41*", 3, 0, None),
    ("NM1*41*", 9, 0, None),
    ("NM1*40*", 3, 0, None),
    ("NM1*40*", 9, 0, None),
    ("NM1*85*", 3, 0, None),
    *SUBSCRIBER,
    ("CLM*", 1, 0, None),
    ("REF*D9*", 2, 0, None),
]
ECHOED_835: list[Echo] = [
    ("NM1*85*", 3, 0, None),
    ("N3*234 SEAWAY", 1, 0, None),
    ("N3*234 SEAWAY", 2, 0, None),
    ("N4*MIAMI", 1, 0, 0),
    *SUBSCRIBER,
    ("CLM*", 1, 0, None),
    *[("NM1*82*", i, 0, 0) for i in (3, 4, 5)],
    ("REF*6R*", 2, 0, None),
]
DEPENDENT: list[Echo] = [*[("NM1*QC*", i, 0, 0) for i in (3, 4, 5)], ("NM1*IL*", 9, 0, 1)]
PROCEDURE: dict[str, list[Echo]] = {
    "P": [("SV1*ER", 1, k, 0) for k in range(2, 7)],
    "I": [("SV2*0450", 2, k, 0) for k in range(2, 7)],
    "D": [("SV3*AD:D2150", 1, k, 0) for k in range(3, 7)],  # a CDT code has five characters
}


def _echoed(kind: str, echoes: list[Echo]) -> list[str]:
    """The values ``echoes`` name in the fixture of ``kind``, each checked to be at the
    longest its element allows."""
    segs = _segments(MAX_FIXTURES[kind].read_text())
    values: list[str] = []
    for locator, element, component, nth in echoes:
        matches = [s.split("*") for s in segs if s.startswith(locator)]
        for elements in matches if nth is None else [matches[nth]]:
            value = elements[element]
            ref = f"{elements[0]}{element:02d}"
            if component:
                value = value.split(":")[component - 1]
                ref += f"-{component:02d}"
            high = codes.ELEMENT_LENGTHS[ref][1] if ref in codes.ELEMENT_LENGTHS else 2
            assert len(value) == high, (ref, value)
            values.append(value)
    return values


def _missing(values: list[str], text: str) -> list[str]:
    """The values that ``text`` does not hold as a whole element or component."""
    return [v for v in values if not re.search(rf"[*:]{re.escape(v)}[*:~]", text)]


def _decisions(text: str) -> list[ClaimDecision]:
    reference = load_reference(FIXTURES / "reference")
    context = AdjudicationContext(reference=reference, received_on=date(2026, 11, 2))
    events = read_events(SegmentReader(io.BytesIO(text.encode())))
    claims = [e.claim for e in events if isinstance(e, ClaimRead)]
    decisions: list[ClaimDecision] = []
    for n, claim in enumerate(claims):
        decisions += adjudicate(claim, context, f"2611020000{n}").decisions
    return decisions


@pytest.mark.parametrize("kind", sorted(MAX_FIXTURES))
def test_values_at_their_longest_are_accepted_and_written_back_whole(kind: str) -> None:
    text = MAX_FIXTURES[kind].read_text()
    if kind != "D":  # pyx12 has no 5010 dental map
        assert pyx12_errors(text) == []
    dependent = DEPENDENT if kind == "P" else []

    run = run_intake(text.encode())
    assert (run.summary.claims_accepted, run.summary.claims_rejected) == (CLAIMS[kind], 0)
    ca = run.ack("277ca")
    assert pyx12_errors(run.ack("999")) == [] and pyx12_errors(ca) == [], ca
    assert _missing(_echoed(kind, ECHOED_CA + dependent), ca) == []

    payer = load_payer(FIXTURES / "reference" / "payer.yaml")
    decisions = _decisions(text)
    (remittance,) = payment_cycle(decisions, payer, paid_on=date(2026, 11, 3), first_trace=7)
    out = io.StringIO()
    write_835(
        out,
        remittance.decisions,
        payment=remittance.payment,
        interchange_control=9,
        created=datetime(2026, 11, 3, 8, 0),
    )
    remit = out.getvalue()
    assert pyx12_errors(remit) == [], remit
    echoed = _echoed(kind, ECHOED_835 + dependent + PROCEDURE[kind])
    assert _missing(echoed, remit) == [], remit
