"""The implementation-guide walker (claims_engine.x12.structure) against the guides' tables.

Every example in fixtures/x12 is walked; the valid ones give no finding, and where an example
truly breaks a guide rule the exact finding is asserted (and pyx12, where it has a map, flags
the same). Then the six cases of issue 17, one test per kind of check, the HL tree and the
situational rules.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from claims_engine.x12 import situational
from claims_engine.x12.structure import (
    Finding,
    GuideWalker,
    compile_guide,
    valid_date,
    valid_time,
    walk,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "x12"
VALID_837P = FIXTURES / "valid" / "837p-two-claims.edi"
GUIDE_BY_VERSION = {
    "005010X222A1": "837p",
    "005010X223A2": "837i",
    "005010X224A2": "837d",
    "005010X212": "276",
    "005010X220A1": "834",
}
GLOBS = {
    "837p": ["837p/*.edi", "valid/*.edi", "lengths/837p-*.edi"],
    "837i": ["837i/*.edi", "lengths/837i-*.edi"],
    "837d": ["837d/*.edi", "lengths/837d-*.edi"],
    "276": ["276/*.x12"],
    "834": ["834/*.x12"],
}

Brief = tuple[str, int, str, str, int, int, str]


# ------------------------------------------------------------------------------- helpers


def _split(text: str) -> tuple[list[list[list[str]]], str, str]:
    """The transaction sets of an interchange (segments ST..SE) and its component and
    repetition separators, read from the ISA."""
    text = text.lstrip()
    element, repetition, component, terminator = text[3], text[82], text[104], text[105]
    out: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for raw in text.split(terminator):
        raw = raw.strip("\r\n ")
        if not raw:
            continue
        seg = raw.split(element)
        if seg[0] == "ST":
            current = [seg]
        elif current is not None:
            current.append(seg)
            if seg[0] == "SE":
                out.append(current)
                current = None
    return out, component, repetition


def _walk_text(text: str, name: str | None = None) -> list[Finding]:
    transactions, component, repetition = _split(text)
    found: list[Finding] = []
    for segments in transactions:
        guide = compile_guide(name or GUIDE_BY_VERSION[segments[0][3]])
        found.extend(walk(guide, segments, component, repetition))
    return found


def _brief(f: Finding) -> Brief:
    """code, position, loop, segment, element, component, level"""
    return (f.code, f.position, f.loop, f.segment_id, f.element, f.component, f.level)


def _valid() -> str:
    return VALID_837P.read_text(encoding="ascii")


def _fix_se(text: str) -> str:
    """SE01 recounted, so that pyx12 sees only the change made."""
    transactions, _, _ = _split(text)
    return re.sub(r"SE\*\d+\*0001", f"SE*{len(transactions[0])}*0001", text)


def _changed(old: str, new: str, text: str | None = None) -> str:
    base = _valid() if text is None else text
    assert old in base, old
    return _fix_se(base.replace(old, new, 1))


def _pyx12(text: str) -> list[str]:
    from tests.x12_oracle import pyx12_errors

    return pyx12_errors(text)


def _one(text: str, name: str = "837p") -> Brief:
    found = _walk_text(text, name)
    assert len(found) == 1, found
    return _brief(found[0])


def _segments_837p(*body: str) -> list[list[str]]:
    """A minimal 837P transaction set around ``body`` (claim-level segments of one claim)."""
    head = [
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*B1*20261101*0930*CH",
        "NM1*41*2*SUBMITTER*****46*S1",
        "PER*IC*JERRY*TE*3055552222",
        "NM1*40*2*RECEIVER*****46*R1",
        "HL*1**20*1",
        "NM1*85*2*BILLING*****XX*1234567893",
        "N3*1 MAIN ST",
        "N4*MIAMI*FL*331110001",
        "REF*EI*587654321",
        "HL*2*1*22*0",
        "SBR*P*18*GRP******CI",
        "NM1*IL*1*DOE*JOHN****MI*M1",
        "N3*2 MAIN ST",
        "N4*MIAMI*FL*33111",
        "DMG*D8*19700115*M",
        "NM1*PR*2*PAYER*****PI*99999",
        "CLM*C1*40***11:B:1*Y*A*Y*I",
        "HI*ABK:J069",
    ]
    lines = [*head, *body, "SE*0*0001"]
    return [line.split("*") for line in lines]


_LINE = ("LX*1", "SV1*HC:99213*40*UN*1***1", "DTP*472*D8*20261003")


def _minimal(*body: str) -> list[Finding]:
    return walk(compile_guide("837p"), _segments_837p(*(body or _LINE)))


def _codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


# ------------------------------------------------------------------------------- the tables


def test_compile_guide_is_cached_and_complete() -> None:
    guide = compile_guide("837p")
    assert compile_guide("837p") is guide
    assert guide.version == "005010X222A1"
    assert guide.hl_levels == {"20": "2000A", "22": "2000B", "23": "2000C"}
    assert {"ST", "BHT", "HL", "CLM", "SV1", "SE"} <= guide.all_ids
    for name in ("837i", "837d", "276"):
        assert compile_guide(name).root.loop_id == "ST"
    with pytest.raises(KeyError):
        compile_guide("835")


def test_situational_rules_are_data() -> None:
    codes = [rule.code for rule in situational.RULES]
    assert len(codes) == len(set(codes))
    for rule in situational.RULES:
        assert rule.code.startswith("SITUATIONAL-")
        assert rule.segment_error in {"I6", "I9"}
        assert rule.text and len(rule.text) < 100
        assert rule.guides


# ------------------------------------------------------------------------------- the examples

# Findings of the examples that truly break a guide rule; every other example gives none.
EXPECTED: dict[str, list[Brief]] = {
    # 5010 PWK02 (attachment transmission code) lists AA, BM, EL, EM, FT and FX; "AD" is not
    # one of them (made-up data of the example). pyx12 reports the same (IK403 7).
    "837p/oxygen.edi": [
        ("X12-ELEMENT-7", 22, "2400", "PWK", 2, 0, "claim"),
        ("X12-ELEMENT-7", 45, "2400", "PWK", 2, 0, "claim"),
    ],
    "837p/wheelchair.edi": [("X12-ELEMENT-7", 24, "2400", "PWK", 2, 0, "claim")],
    # X223A2: the billing provider's ZIP code (2010AA N403) must have nine digits; the
    # examples send five. pyx12 fails the same pattern (it reports code 7; the 999 code for a
    # pattern is I12, as the reader's own ZIP check uses). The first example also sends one
    # date under RD8 (DTP*434*RD8*19960911): not a range; pyx12: invalid date (8).
    "837i/837-institutional-claim.edi": [
        ("X12-ELEMENT-I12", 10, "2010AA", "N4", 3, 0, "billing"),
        ("X12-ELEMENT-8", 21, "2300", "DTP", 3, 0, "claim"),
    ],
    "837i/automobile-accident.edi": [("X12-ELEMENT-I12", 10, "2010AA", "N4", 3, 0, "billing")],
    "837i/two-claims-for-the-same-provider.edi": [
        ("X12-ELEMENT-I12", 10, "2010AA", "N4", 3, 0, "billing")
    ],
}


def _examples() -> list[tuple[str, Path]]:
    return [
        (name, path)
        for name, patterns in GLOBS.items()
        for pattern in patterns
        for path in sorted(FIXTURES.glob(pattern))
    ]


@pytest.mark.parametrize(
    ("name", "path"), _examples(), ids=[f"{p.parent.name}/{p.name}" for _, p in _examples()]
)
def test_guide_examples(name: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    transactions, _, _ = _split(text)
    assert transactions
    found = [_brief(f) for f in _walk_text(text, name)]
    assert found == EXPECTED.get(f"{path.parent.name}/{path.name}", [])


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("837p/oxygen.edi", ['"err_cde": "7"', "PWK02"]),
        ("837p/wheelchair.edi", ['"err_cde": "7"', "PWK02"]),
        ("837i/837-institutional-claim.edi", ["[0-9]{9}", '"err_cde": "8"']),
        ("837i/automobile-accident.edi", ["[0-9]{9}"]),
        ("837i/two-claims-for-the-same-provider.edi", ["[0-9]{9}"]),
    ],
)
def test_pyx12_flags_the_same_examples(path: str, wanted: list[str]) -> None:
    errors = "\n".join(_pyx12((FIXTURES / path).read_text(encoding="utf-8")))
    for text in wanted:
        assert text in errors


def test_pyx12_has_no_dental_map() -> None:
    with pytest.raises(Exception, match="Map not found"):
        _pyx12((FIXTURES / "837d" / "sales-tax.edi").read_text(encoding="utf-8"))


def test_generated_batch() -> None:
    from claims_engine.cli.fixtures_commands import FIXTURES as ROOT
    from claims_engine.domain.reference_data import load_members, load_providers
    from claims_engine.synthetic.generator import generate_claims
    from claims_engine.x12.writer837 import write_837

    members = load_members(ROOT / "reference" / "members.csv")
    providers = load_providers(ROOT / "reference" / "providers.csv")
    claims = generate_claims(
        20261101,
        members,
        providers,
        as_of=date(2026, 11, 1),
        count=600,
        mix={"P": 40, "I": 30, "D": 30},
    )
    out = io.StringIO()
    write_837(
        claims,
        out,
        interchange_control=1,
        created=datetime(2026, 11, 1, 9, 0),
        sender_id="SUBMITTER01",
        receiver_id="CLAIMSENGINE",
        claims_per_transaction=100,
    )
    transactions, component, repetition = _split(out.getvalue())
    seen = set()
    for segments in transactions:
        name = GUIDE_BY_VERSION[segments[0][3]]
        seen.add(name)
        found = walk(compile_guide(name), segments, component, repetition)
        assert found == [], found[:3]
    assert seen == {"837p", "837i", "837d"}


def test_837d_table_svd_takes_ada_codes() -> None:
    """X224A2's SVD03-01 is AD; the 837P's codes (ER, HC, IV, WK) are not the dental ones."""
    loop = compile_guide("837d").root
    for lid in ("2000A", "2000B", "2300", "2400", "2430"):
        loop = next(c.loop for c in loop.children if c.loop is not None and c.loop.loop_id == lid)
    svd = loop.children[0].place
    assert svd.elements[2].components[0].codes_set == frozenset({"AD"})


# ------------------------------------------------------------------------------- issue 17


def test_issue_billing_provider_address_missing() -> None:
    text = _changed("N3*234 SEAWAY ST~", "")
    # noticed at the N4 that follows, now position 9
    assert _one(text) == ("X12-SEGMENT-3", 9, "2010AA", "N3", 0, 0, "billing")
    assert _walk_text(text)[0].segment_error == "3"
    assert any('"err_cde": "3"' in e and "N3" in e for e in _pyx12(text))


def test_issue_tax_id_repeated() -> None:
    text = _changed("REF*EI*587654321~", "REF*EI*587654321~\nREF*EI*587654321~")
    assert _one(text) == ("X12-SEGMENT-5", 12, "2010AA", "REF", 0, 0, "billing")
    assert any('"err_cde": "5"' in e for e in _pyx12(text))


def test_issue_insurance_type_code() -> None:
    text = _changed("SBR*P**GRP2222******CI~", "SBR*P**GRP2222**CI****CI~")
    assert _one(text) == ("X12-ELEMENT-7", 13, "2000B", "SBR", 5, 0, "subscriber")
    finding = _walk_text(text)[0]
    assert (finding.segment_error, finding.element_error, finding.element_ref) == ("8", "7", "1336")
    assert any('"err_cde": "7"' in e and "SBR05" in e for e in _pyx12(text))


def test_issue_hl04_zero_with_a_child() -> None:
    text = _changed("HL*1**20*1~", "HL*1**20*0~")
    assert _one(text) == ("X12-HL04-HAS-CHILD", 6, "2000A", "HL", 4, 0, "hierarchy")
    finding = _walk_text(text)[0]
    assert (finding.segment_error, finding.element_error, finding.element_ref) == ("8", "7", "736")
    assert any("HL04" in e for e in _pyx12(text))


def test_issue_payer_loop_missing() -> None:
    text = _changed("NM1*PR*2*CLAIMS ENGINE HEALTH PLAN*****PI*99999~\n", "")
    # noticed at the patient's HL (position 16), which leaves the subscriber's name loops
    assert _one(text) == ("X12-SEGMENT-3", 16, "2010BB", "NM1", 0, 0, "subscriber")
    assert "Payer Name" in _walk_text(text)[0].message
    assert any('"err_cde": "3"' in e and "2010BB" in e for e in _pyx12(text))


def test_issue_subscriber_is_patient_with_a_patient_loop() -> None:
    text = _changed("SBR*P**GRP2222******CI~", "SBR*P*18*GRP2222******CI~")
    found = [_brief(f) for f in _walk_text(text)]
    # Being the patient, the subscriber also needs an address (2010BA N3/N4), which this
    # subscriber (a dependent's) does not send: a second finding of the same single change.
    assert found == [
        ("SITUATIONAL-SBR02-18-SUBSCRIBER-ADDRESS", 16, "2010BA", "N3", 0, 0, "subscriber"),
        ("SITUATIONAL-SBR02-18-PATIENT-LOOP", 17, "2000C", "HL", 0, 0, "subscriber"),
    ]
    assert _walk_text(text)[1].segment_error == "I9"
    # pyx12 checks no situational rule: it finds nothing here (SNIP 4 is ours alone)
    assert _pyx12(text) == []


# ------------------------------------------------------------------------------- segments


def test_happy_path_shares_one_empty_list() -> None:
    walker = GuideWalker(compile_guide("837p"))
    segments = _segments_837p(*_LINE)
    results = [walker.step(seg, i) for i, seg in enumerate(segments, start=1)]
    assert all(r == [] for r in results)
    assert len({id(r) for r in results}) == 1
    assert walker.finish(len(segments)) == []


def test_out_of_sequence() -> None:
    found = _minimal("LX*1", "DTP*472*D8*20261003", "SV1*HC:99213*40*UN*1***1")
    # DTP is placed, then SV1 comes after it: out of sequence; DTP was seen before SV1 is
    # required, which is reported missing when the DTP passes its place
    assert [(_brief(f)[0], f.position, f.segment_id) for f in found] == [
        ("X12-SEGMENT-3", 21, "SV1"),
        ("X12-SEGMENT-7", 22, "SV1"),
    ]


def test_max_use() -> None:
    found = _minimal(*_LINE, "DTP*472*D8*20261004")
    assert [_brief(f) for f in found] == [("X12-SEGMENT-5", 23, "2400", "DTP", 0, 0, "claim")]


def test_loop_over_max() -> None:
    # 2310B rendering provider: once per claim
    found = _minimal("NM1*82*1*A*B****XX*1234567893", "NM1*82*1*C*D****XX*1234567893", *_LINE)
    assert [_brief(f) for f in found] == [("X12-SEGMENT-4", 21, "2310B", "NM1", 0, 0, "claim")]


def test_required_loop_missing_at_claim_end() -> None:
    found = walk(compile_guide("837p"), _segments_837p())  # a claim without a service line
    assert [_brief(f) for f in found] == [("X12-SEGMENT-3", 20, "2400", "LX", 0, 0, "claim")]


def test_not_used_segment() -> None:
    # the 837 tables mark elements "not used", not segment places: mark one for the test
    guide = compile_guide("837p")
    segments = _segments_837p(*_LINE)
    billing = next(c.loop for c in guide.root.children if c.place.segment_id == "HL")
    assert billing is not None and billing.loop_id == "2000A"
    prv = billing.children[1].place
    assert prv.segment_id == "PRV"
    old = prv.usage
    prv.usage = 2
    try:
        found = walk(guide, [*segments[:6], ["PRV", "BI", "PXC", "207Q00000X"], *segments[6:]])
    finally:
        prv.usage = old
    assert [_brief(f) for f in found] == [("X12-SEGMENT-I4", 7, "2000A", "PRV", 0, 0, "billing")]


def test_unrecognized_and_unexpected_segments() -> None:
    found = _minimal(*_LINE, "ZZZ\x01X*1", "BHT*0019*00*B1*20261101*0930*CH")
    assert [_brief(f) for f in found] == [
        ("X12-SEGMENT-1", 23, "2400", "", 0, 0, "claim"),
        # BHT has its place, earlier, in the transaction set's header
        ("X12-SEGMENT-7", 24, "ST", "BHT", 0, 0, "header"),
    ]
    # the input's bytes stay out of the code; at most three characters, cleaned, in the text
    assert "ZZZ?" not in found[0].message and "ZZZ" in found[0].message
    assert "\x01" not in found[0].message


def test_wrong_qualifier_is_an_invalid_code() -> None:
    found = _minimal(*_LINE, "DTP*999*D8*20261003")
    assert [_brief(f) for f in found] == [("X12-ELEMENT-7", 23, "2400", "DTP", 1, 0, "claim")]


def test_missing_se_and_truncated_set() -> None:
    segments = _segments_837p(*_LINE)[:-1]
    found = walk(compile_guide("837p"), segments)
    assert [_brief(f) for f in found] == [("X12-SEGMENT-3", 22, "ST", "SE", 0, 0, "header")]


# ------------------------------------------------------------------------------- elements


@pytest.mark.parametrize(
    ("segment", "code", "element", "component"),
    [
        ("SV1*HC:99213**UN*1***1", "X12-ELEMENT-1", 2, 0),  # required missing
        ("SV1*HC:99213*40*UN*1***1" + "*" * 15 + "X", "X12-ELEMENT-3", 22, 0),  # 21 at most
        ("SV1*HC:99213*40*UN*1**X*1", "X12-ELEMENT-I10", 6, 0),  # not used
        ("SV1*HC:99213*40*UN*1***1**N", "X12-ELEMENT-7", 9, 0),  # Y or nothing
        ("SV1*HC:99213*40*UN*1234567890123456***1", "X12-ELEMENT-5", 4, 0),  # too long
        ("SV1*HC:99213*4O*UN*1***1", "X12-ELEMENT-6", 2, 0),  # not a number
        ("SV1*HC:99213*40*XX*1***1", "X12-ELEMENT-7", 3, 0),  # invalid code
        ("SV1*HC*40*UN*1***1", "X12-ELEMENT-1", 1, 2),  # composite: component missing
        ("SV1*HC:99213:A*40*UN*1***1", "X12-ELEMENT-4", 1, 3),  # modifier too short
        ("SV1*HC:99213:::::DESC:X*40*UN*1***1", "X12-ELEMENT-I10", 1, 8),  # not used
        ("SV1*HC:99213:::::::Y*40*UN*1***1", "X12-ELEMENT-13", 1, 9),  # too many components
        ("SV1*HC:99213*40*UN*1***1:13", "X12-ELEMENT-7", 7, 2),  # pointer 1 to 12
        ("SV1*HC:99213*40*UN*1***1:A", "X12-ELEMENT-6", 7, 2),  # N0: digits
        ("SV1*XX:99213*40*UN*1***1", "X12-ELEMENT-7", 1, 1),  # qualifier of a component
    ],
)
def test_element_checks(segment: str, code: str, element: int, component: int) -> None:
    found = _minimal("LX*1", segment, "DTP*472*D8*20261003")
    assert [(f.code, f.position, f.loop, f.segment_id, f.element, f.component) for f in found] == [
        (code, 21, "2400", "SV1", element, component)
    ], found
    assert found[0].segment_error == "8"
    assert found[0].element_error == code.rsplit("-", 1)[1]
    assert found[0].level == "claim"


def test_negative_and_decimal_numbers() -> None:
    assert _minimal("LX*1", "SV1*HC:99213*-40.50*UN*1.5***1", "DTP*472*D8*20261003") == []
    found = _minimal("LX*1", "SV1*HC:99213*40..5*UN*1***1", "DTP*472*D8*20261003")
    assert _codes(found) == ["X12-ELEMENT-6"]
    # R counts digits only: 18 digits fit SV102 (max 18), with sign and point
    assert _minimal("LX*1", "SV1*HC:99213*-1234567890123456.78*UN*1***1", *_LINE[2:]) == []


@pytest.mark.parametrize(
    ("segment", "code", "element"),
    [
        ("DTP*472*D8*20261303", "X12-ELEMENT-8", 3),  # month 13
        ("DTP*472*D8*20250229", "X12-ELEMENT-8", 3),  # not a leap year
        ("DTP*472*D8*20261003-20261004", "X12-ELEMENT-8", 3),  # a range under D8
        ("DTP*472*RD8*20261003", "X12-ELEMENT-8", 3),  # one date under RD8
        ("DTP*472*RD8*20261003-2026100X", "X12-ELEMENT-8", 3),
        ("DTP*472*XX*20261003", "X12-ELEMENT-7", 2),
    ],
)
def test_dates_by_their_qualifier(segment: str, code: str, element: int) -> None:
    found = _minimal("LX*1", "SV1*HC:99213*40*UN*1***1", segment)
    assert [(f.code, f.element, f.segment_id) for f in found] == [(code, element, "DTP")]


def test_range_dates_pass() -> None:
    assert _minimal("LX*1", "SV1*HC:99213*40*UN*1***1", "DTP*472*RD8*20261003-20261004") == []


def test_date_and_time_types() -> None:
    guide = compile_guide("837p")
    segments = _segments_837p(*_LINE)
    segments[1] = ["BHT", "0019", "00", "B1", "20261131", "2460", "CH"]
    found = walk(guide, segments)
    assert [(f.code, f.element, f.loop, f.level) for f in found] == [
        ("X12-ELEMENT-8", 4, "ST", "header"),
        ("X12-ELEMENT-9", 5, "ST", "header"),
    ]
    assert valid_date("20240229") and valid_date("000229") and not valid_date("20230229")
    assert valid_time("0930") and valid_time("093059") and valid_time("09305912")
    assert not valid_time("0960") and not valid_time("09305") and not valid_time("2400")


def test_invalid_characters_and_the_option_to_leave_them_to_the_tokenizer() -> None:
    segments = _segments_837p(*_LINE)
    segments[6] = ["NM1", "85", "2", "BILL\u00e9NG", "", "", "", "", "XX", "1234567893"]
    found = walk(compile_guide("837p"), segments)
    assert [_brief(f) for f in found] == [("X12-ELEMENT-6", 7, "2010AA", "NM1", 3, 0, "billing")]
    walker = GuideWalker(compile_guide("837p"), check_characters=False)
    assert [f for i, s in enumerate(segments, 1) for f in walker.step(s, i)] == []


def test_repetitions() -> None:
    # DMG05 (race or ethnicity, 10 repetitions) is the only repeating element of the 837
    # tables, and it is not used there: sent, it is that
    guide = compile_guide("837p")
    segments = _segments_837p(*_LINE)
    segments[15] = ["DMG", "D8", "19700115", "M", "", "^".join(["X"] * 11)]
    found = walk(guide, segments)
    assert [_brief(f) for f in found] == [
        ("X12-ELEMENT-I10", 16, "2010BA", "DMG", 5, 0, "subscriber")
    ]
    # were it used: 11 repetitions of 10, and each repetition checked as the composite
    loop = guide.root
    for lid in ("2000A", "2000B", "2010BA"):
        loop = next(c.loop for c in loop.children if c.loop is not None and c.loop.loop_id == lid)
    dmg = next(c.place for c in loop.children if c.place.segment_id == "DMG")
    spec = dmg.elements[4]
    old = spec.usage, [c.usage for c in spec.components]
    spec.usage = 1
    for comp in spec.components:
        comp.usage = 1
        comp.settle()
    spec.settle()
    try:
        found = walk(guide, segments)
        assert [_brief(f) for f in found] == [
            ("X12-ELEMENT-12", 16, "2010BA", "DMG", 5, 0, "subscriber")
        ]
        segments[15][5] = "RET:2106-3^RET:2135-2"
        assert walk(guide, segments) == []
    finally:
        spec.usage = old[0]
        for comp, usage in zip(spec.components, old[1], strict=True):
            comp.usage = usage
            comp.settle()
        spec.settle()
    # a repetition separator inside an element that does not repeat
    segments = _segments_837p(*_LINE)
    segments[12] = ["NM1", "IL", "1", "DOE", "JOHN", "", "", "", "MI", "M1^M2"]
    found = walk(guide, segments)
    assert [_brief(f) for f in found] == [
        ("X12-ELEMENT-12", 13, "2010BA", "NM1", 9, 0, "subscriber")
    ]


def test_pattern() -> None:
    # 837I 2010AA N403: nine digits (the examples' five are reported above)
    text = (FIXTURES / "837i" / "automobile-accident.edi").read_text(encoding="utf-8")
    assert [f.code for f in _walk_text(text)] == ["X12-ELEMENT-I12"]
    assert _walk_text(text.replace("*99998~", "*999981234~", 1)) == []


def test_message_quotes_at_most_35_bytes_and_never_puts_input_in_the_code() -> None:
    value = "Q" * 30 + "\u00e9" * 20
    found = _minimal("LX*1", f"SV1*HC:99213*{value}*UN*1***1", "DTP*472*D8*20261003")
    assert len(found) == 1
    quoted = re.findall(r"'([^']*)'", found[0].message)
    assert quoted == ["Q" * 30 + "?" * 5]
    assert found[0].message.isascii()
    assert found[0].code == "X12-ELEMENT-6"


def test_the_same_bad_segment_is_reported_each_time() -> None:
    bad = ("LX*1", "SV1*HC:99213*40*XX*1***1", "DTP*472*D8*20261003")
    found = _minimal(*bad, "LX*2", *bad[1:], "LX*3", *bad[1:])
    assert _codes(found) == ["X12-ELEMENT-7"] * 3


def test_finding_is_frozen() -> None:
    finding = _minimal(*_LINE, "DTP*472*D8*20261004")[0]
    with pytest.raises(AttributeError):
        finding.code = "X"  # type: ignore[misc]


# ------------------------------------------------------------------------------- syntax rules


def test_syntax_paired() -> None:
    text = _changed("PER*IC*JERRY*TE*3055552222~", "PER*IC*JERRY*TE*3055552222*EX~")
    assert _one(text) == ("X12-ELEMENT-2", 4, "1000A", "PER", 6, 0, "header")


def test_syntax_required_one_of() -> None:
    found = _minimal(*_LINE, "LQ*UT*01.02", "FRM*1")
    assert [_brief(f) for f in found] == [("X12-ELEMENT-2", 24, "2440", "FRM", 2, 0, "claim")]
    assert found[0].element_error == "2"
    assert _minimal(*_LINE, "LQ*UT*01.02", "FRM*1*Y") == []


def test_syntax_conditional_and_exclusion() -> None:
    text = _changed("N4*MIAMI*FL*331110001~", "N4*MIAMI**331110001****ON~")
    assert _one(text) == ("X12-ELEMENT-2", 10, "2010AA", "N4", 4, 0, "billing")
    text = _changed("N4*MIAMI*FL*331110001~", "N4*MIAMI*FL*331110001*US***ON~")
    found = _walk_text(text)
    assert [_brief(f) for f in found] == [("X12-ELEMENT-10", 10, "2010AA", "N4", 7, 0, "billing")]
    assert found[0].element_error == "10"


def test_syntax_list_conditional() -> None:
    text = (FIXTURES / "837p" / "COB-claim-from-billing-provider-to-payer-b.edi").read_text()
    assert _walk_text(text) == []
    changed = text.replace("CAS*PR*1*21.89**2*15~", "CAS*PR*1*21.89**2~", 1)
    assert changed != text
    found = _walk_text(changed)
    assert [(f.code, f.loop, f.segment_id, f.element) for f in found] == [
        ("X12-ELEMENT-2", "2320", "CAS", 6)
    ]


def test_syntax_of_a_required_element_is_reported_once() -> None:
    # REF02 is required: missing, not also "R0203 broken"
    text = _changed("REF*EI*587654321~", "REF*EI~")
    assert _one(text) == ("X12-ELEMENT-1", 11, "2010AA", "REF", 2, 0, "billing")


# ------------------------------------------------------------------------------- the HL tree


def _hl(*levels: tuple[str, str, str, str]) -> list[Finding]:
    """A minimal 837P with the HL segments given, each followed by what its level needs."""
    body: dict[str, list[str]] = {
        "20": [
            "NM1*85*2*BILLING*****XX*1234567893",
            "N3*1 MAIN ST",
            "N4*MIAMI*FL*331110001",
            "REF*EI*587654321",
        ],
        "22": [
            "SBR*P*18*GRP******CI",
            "NM1*IL*1*DOE*JOHN****MI*M1",
            "N3*2 MAIN ST",
            "N4*MIAMI*FL*33111",
            "DMG*D8*19700115*M",
            "NM1*PR*2*PAYER*****PI*99999",
            "CLM*C1*40***11:B:1*Y*A*Y*I",
            "HI*ABK:J069",
            *_LINE,
        ],
    }
    lines = [
        "ST*837*0001*005010X222A1",
        "BHT*0019*00*B1*20261101*0930*CH",
        "NM1*41*2*SUBMITTER*****46*S1",
        "PER*IC*JERRY*TE*3055552222",
        "NM1*40*2*RECEIVER*****46*R1",
    ]
    for hl in levels:
        lines.append("HL*" + "*".join(hl))
        lines.extend(body.get(hl[2], []))
    lines.append("SE*0*0001")
    return walk(compile_guide("837p"), [line.split("*") for line in lines])


def test_hl_tree_valid() -> None:
    assert _hl(("1", "", "20", "1"), ("2", "1", "22", "0"), ("3", "1", "22", "0")) == []


def test_hl01_unique_and_in_sequence() -> None:
    found = _hl(("1", "", "20", "1"), ("2", "1", "22", "0"), ("2", "1", "22", "0"))
    assert [(f.code, f.position, f.element, f.level) for f in found] == [
        ("X12-HL01-NOT-UNIQUE", 23, 1, "hierarchy")
    ]
    found = _hl(("1", "", "20", "1"), ("3", "1", "22", "0"))
    assert [(f.code, f.position, f.element) for f in found] == [("X12-HL01-SEQUENCE", 11, 1)]


def test_hl02_names_the_enclosing_parent() -> None:
    found = _hl(("1", "", "20", "1"), ("2", "7", "22", "0"))
    # and so HL 1 announced a child it does not get
    assert [(f.code, f.position, f.element) for f in found] == [
        ("X12-HL04-NO-CHILD", 6, 4),
        ("X12-HL02-UNKNOWN", 11, 2),
    ]
    # HL 2 is a subscriber, not a billing provider
    found = _hl(("1", "", "20", "1"), ("2", "1", "22", "0"), ("3", "2", "22", "0"))
    assert [(f.code, f.position, f.element) for f in found] == [
        ("X12-HL04-HAS-CHILD", 11, 4),
        ("X12-HL02-WRONG-PARENT", 23, 2),
    ]
    # the top level has no parent: HL02 is not used there
    found = _hl(("1", "1", "20", "1"), ("2", "1", "22", "0"))
    assert [(f.code, f.element, f.level) for f in found] == [("X12-ELEMENT-I10", 2, "hierarchy")]


def test_hl03_levels_in_order() -> None:
    found = _hl(("1", "", "20", "1"), ("2", "1", "23", "0"))
    codes = [(f.code, f.position, f.loop, f.level) for f in found]
    assert ("X12-HL03-ORDER", 11, "2000C", "hierarchy") in codes
    found = _hl(("1", "", "20", "1"), ("2", "1", "99", "0"))
    assert ("X12-ELEMENT-7", 11, 3, "hierarchy") in [
        (f.code, f.position, f.element, f.level) for f in found
    ]


def test_hl04_against_what_follows() -> None:
    found = _hl(("1", "", "20", "1"), ("2", "1", "22", "1"))
    assert [(f.code, f.position, f.element) for f in found] == [("X12-HL04-NO-CHILD", 11, 4)]
    found = _hl(("1", "", "20", "1"), ("2", "1", "22", "7"))
    assert [(f.code, f.element) for f in found] == [("X12-ELEMENT-7", 4)]


# ------------------------------------------------------------------------------- situational


def test_claim_under_a_subscriber_who_is_not_the_patient() -> None:
    segments = _segments_837p(*_LINE)
    segments[11] = ["SBR", "P", "", "GRP", "", "", "", "", "", "CI"]
    found = walk(compile_guide("837p"), segments)
    assert [_brief(f) for f in found] == [
        ("SITUATIONAL-SBR02-NOT-18-NO-PATIENT-LOOP", 18, "2000B", "HL", 0, 0, "subscriber")
    ]
    assert found[0].segment_error == "I6"


def test_pat_in_the_subscriber_loop() -> None:
    segments = _segments_837p(*_LINE)
    segments.insert(12, ["PAT", "", "", "", "", "D8", "20261001"])
    assert walk(compile_guide("837p"), segments) == []  # SBR02 is 18
    segments[11] = ["SBR", "P", "", "GRP", "", "", "", "", "", "CI"]
    codes = _codes(walk(compile_guide("837p"), segments))
    assert "SITUATIONAL-PAT-2000B-SBR02-NOT-18" in codes


def test_subscriber_patient_needs_demographics_and_address() -> None:
    segments = [s for s in _segments_837p(*_LINE) if s[0] not in ("DMG",)]
    segments = [s for i, s in enumerate(segments) if i not in (13, 14)]  # 2010BA N3, N4
    found = walk(compile_guide("837p"), segments)
    assert [(f.code, f.loop, f.segment_id, f.level) for f in found] == [
        ("SITUATIONAL-SBR02-18-SUBSCRIBER-DMG", "2010BA", "DMG", "subscriber"),
        ("SITUATIONAL-SBR02-18-SUBSCRIBER-ADDRESS", "2010BA", "N3", "subscriber"),
    ]


def test_address_pairs() -> None:
    segments = _segments_837p(*_LINE)
    del segments[14]  # 2010BA N4 (situational, as its N3)
    found = walk(compile_guide("837p"), segments)
    assert [(f.code, f.loop, f.segment_id) for f in found] == [
        ("SITUATIONAL-N3-WITHOUT-N4", "2010BA", "N4")
    ]


def test_replacement_claim_needs_the_original_reference() -> None:
    segments = _segments_837p(*_LINE)
    segments[17] = ["CLM", "C1", "40", "", "", "11:B:7", "Y", "A", "Y", "I"]
    found = walk(compile_guide("837p"), segments)
    assert [_brief(f) for f in found] == [
        ("SITUATIONAL-CLM05-3-REPLACEMENT-NO-F8", 23, "2300", "REF", 0, 0, "claim")
    ]
    segments.insert(18, ["REF", "F8", "ORIGINAL1"])  # before HI, as the guide orders them
    assert walk(compile_guide("837p"), segments) == []


def test_276_subscriber_needs_an_inquiry() -> None:
    text = (FIXTURES / "276" / "claim-ncpdp-request.x12").read_text(encoding="utf-8")
    transactions, component, repetition = _split(text)
    segments = transactions[0]
    guide = compile_guide("276")
    assert walk(guide, segments, component, repetition) == []
    # the subscriber without its claim status inquiry (TRN, REF, AMT, DTP) and no dependent
    cut = [s for s in segments if s[0] not in ("TRN", "REF", "AMT", "DTP")]
    found = walk(guide, cut, component, repetition)
    assert [_brief(f) for f in found] == [
        ("SITUATIONAL-276-2200D-MISSING", 12, "2000D", "TRN", 0, 0, "subscriber")
    ]
    # a problem inside the inquiry belongs to it
    bad = [["TRN", "9", *s[2:]] if s[0] == "TRN" else s for s in segments]
    found = walk(guide, bad, component, repetition)
    assert [(f.code, f.loop, f.element, f.level) for f in found] == [
        ("X12-ELEMENT-7", "2200D", 1, "inquiry")
    ]


# ------------------------------------------------------------------------------- robustness


def _variants(text: str) -> list[tuple[str, str, str]]:
    """(what, changed segment, text) for each body segment of ``text`` deleted and doubled."""
    terminator = text.lstrip()[105]
    parts = text.split(terminator)
    out = []
    for i, part in enumerate(parts):
        sid = part.strip().split("*")[0]
        if not sid or sid in ("ISA", "GS", "ST", "SE", "GE", "IEA"):
            continue
        for what in ("deleted", "doubled"):
            changed = list(parts)
            changed[i] = "" if what == "deleted" else part + terminator + part
            joined = terminator.join(p for p in changed if p)
            out.append((what, part.strip(), _fix_se(joined)))
    return out


def test_every_deletion_and_doubling_is_walked() -> None:
    for what, seg, text in _variants(_valid()):
        found = _walk_text(text)
        if what == "deleted" and seg.startswith(("BHT", "HL", "CLM", "LX", "SV1", "DTP")):
            assert found, (what, seg)  # required, or holds what follows
        for f in found:
            assert f.level in {"header", "hierarchy", "billing", "subscriber", "patient", "claim"}
            assert f.segment_error and f.code and f.message.isascii()


@pytest.mark.slow
def test_pyx12_agrees_on_deletions() -> None:
    """Each body segment of the valid 837P deleted: we find a problem exactly when pyx12 does,
    but for the SNIP 4 rules pyx12 does not check (the subscriber's own address and
    demographics when SBR02 is 18). (Doubled, the same holds but for a doubled loop opener
    (CLM, LX, 2320 SBR, SVD): a second loop without what it requires, which pyx12 takes
    without a word; checked by hand, too slow for each run.)"""
    disagree = []
    for what, seg, text in _variants(_valid()):
        if what != "deleted":
            continue
        ours = _walk_text(text)
        theirs = [e for e in _pyx12(text) if not e.startswith("Line:")]
        if bool(ours) != bool(theirs):
            disagree.append((what, seg.split("*")[0], sorted({f.code for f in ours})))
    assert disagree == [
        (
            "deleted",
            "N3",
            ["SITUATIONAL-N4-WITHOUT-N3", "SITUATIONAL-SBR02-18-SUBSCRIBER-ADDRESS"],
        ),
        ("deleted", "N4", ["SITUATIONAL-N3-WITHOUT-N4"]),
        ("deleted", "DMG", ["SITUATIONAL-SBR02-18-SUBSCRIBER-DMG"]),
    ]


def test_odd_segments_do_not_break_the_walker() -> None:
    guide = compile_guide("837p")
    for odd in (["N3"], ["NM1", "", ""], ["HL"], ["HL", "", "", ""], ["SV1", ":::", "", "", ""]):
        segments = _segments_837p(*_LINE)
        segments.insert(20, odd)
        assert walk(guide, segments)
    walker = GuideWalker(guide)
    assert walker.step(["BHT"], 1)  # no ST first
    assert walker.finish(1)


# ------------------------------------------------------------------------------- the 834

ENROLL = FIXTURES / "834" / "enroll-employee-in-managed-care-product.x12"


@pytest.mark.parametrize(
    ("old", "new", "wanted", "pyx12_says"),
    [
        # the subscriber identifier (2000 REF*0F) is required
        ("REF*0F*202443307~", "", ("X12-SEGMENT-3", "REF", "member"), "REF"),
        # INS03 maintenance type code: 001, 021, 024, 025 or 030
        ("INS*Y*18*021*", "INS*Y*18*999*", ("X12-ELEMENT-7", "INS", "member"), "INS03"),
        # BGN08 action code: 2, 4 or RX
        ("PS***2~", "PS***9~", ("X12-ELEMENT-7", "BGN", "header"), "BGN08"),
    ],
)
def test_834_single_faults_are_named_as_pyx12_names_them(
    old: str, new: str, wanted: tuple[str, str, str], pyx12_says: str
) -> None:
    text = ENROLL.read_text(encoding="utf-8").replace("\n", "")
    assert old in text
    changed = text.replace(old, new)
    (segments,), _, _ = _split(changed)
    changed = re.sub(r"SE\*\d+\*", f"SE*{len(segments)}*", changed)
    found = _walk_text(changed, "834")
    assert [(f.code, f.segment_id, f.level) for f in found] == [wanted]
    assert pyx12_says in "\n".join(_pyx12(changed))
