"""The 270 reader and the 271 writer, without a store: the guide's examples (stupidedi, in
fixtures/x12/270), several patients a file, EQ01 repeated, structural faults answered with a
999 that pyx12 validates (the reader's own checks, and the guide walker's on the 270 table with
the IK3/IK4 codes of each fault), and a 271 that x12sdk's models of 005010X279A1 read back."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from x12sdk.io import X12ModelReader

from claims_engine.domain.issues import Scope
from claims_engine.x12.acks import Envelope, write_999
from claims_engine.x12.reader270 import EligibilityRequest, Unreadable, read_270
from claims_engine.x12.writer271 import (
    Benefit,
    EligibilityReport,
    Person,
    Rejection,
    amount_text,
    benefit_template,
    percent_text,
    write_271,
)
from tests.x12_oracle import pyx12_errors

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "x12" / "270"
NOW = datetime(2026, 11, 2, 9, 30)

TWO_PATIENTS = (
    "ISA*00*          *00*          *ZZ*PROVIDER01     *ZZ*CLAIMSENGINE   *261102*0930*^*00501"
    "*000000001*0*T*:~GS*HS*PROVIDER01*CLAIMSENGINE*20261102*0930*1*X*005010X279A1~"
    "ST*270*0001*005010X279A1~BHT*0022*13*R1*20261102*0930~HL*1**20*1~"
    "NM1*PR*2*PAYER*****PI*CE001~HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*2781759230~"
    "HL*3*2*22*0~TRN*1*A-1*9877281234~NM1*IL*1*HILL*LIAM****MI*PG00000100~DMG*D8*19871227~"
    "DTP*291*RD8*20261101-20261130~EQ*30^98~EQ*UC~"
    "HL*4*2*22*1~NM1*IL*1*JOHNSON*SOPHIA****MI*PG00000200~"
    "HL*5*4*23*0~TRN*1*B-1*9877281234~NM1*03*1*JOHNSON*CALEB~DMG*D8*20000210*M~EQ*86~"
    "SE*21*0001~GE*1*1~IEA*1*000000001~"
)


def _request(text: str | bytes) -> EligibilityRequest:
    read = read_270(text.encode() if isinstance(text, str) else text)
    assert isinstance(read, EligibilityRequest), read
    return read


def test_the_guides_examples_are_read() -> None:
    sub = _request((CORPUS / "subscriber-request.x12").read_bytes())
    [q] = sub.inquiries
    assert (q.source.entity, q.source.id) == ("PR", "842610001")
    assert (q.receiver.entity, q.receiver.id_qualifier, q.receiver.id) == ("1P", "SV", "2000035")
    assert (q.member_id, q.subscriber.last_name, q.subscriber.birth_date) == (
        "11122333301",
        "SMITH",
        date(1943, 5, 19),
    )
    assert q.dependent is None and q.trace_number == "93175-012547"
    assert q.subscriber_traces[0].company == "9877281234"
    assert q.service_types == ("30",) and q.asked_from == date(2006, 5, 1)

    dep = _request((CORPUS / "dependent-request.x12").read_bytes())
    [q] = dep.inquiries
    assert q.member_id == "11122333301" and q.subscriber.last_name == ""
    assert q.dependent is not None
    assert (q.dependent.last_name, q.dependent.first_name) == ("SMITH", "MARY")
    assert q.dependent.birth_date == date(1978, 10, 14)
    assert q.trace_number == "93175-012547" and q.levels == ("1", "2", "3", "4")


def test_several_patients_and_repeated_service_types() -> None:
    first, second = _request(TWO_PATIENTS).inquiries
    assert first.service_types == ("30", "98", "UC")
    assert (first.asked_from, first.asked_to) == (date(2026, 11, 1), date(2026, 11, 30))
    assert second.dependent is not None and second.dependent.sex == "M"
    assert second.service_types == ("86",) and second.trace_number == "B-1"
    assert second.levels == ("1", "2", "4", "5")


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("HL*5*4*23*0", "HL*5*2*23*0", "HL02 '2' does not name an HL of level 22"),
        ("NM1*03*1*JOHNSON", "NM1*IL*1*JOHNSON", "entity of the dependent"),
        ("EQ*86~", "EQ*8!6~", "not a code"),
        ("DTP*291*RD8", "DTP*472*RD8", "291"),
        ("TRN*1*A-1", "TRN*2*A-1", "trace type"),
        ("SE*21*", "SE*20*", "SE01"),
        ("HL*2*1*21*1~NM1*1P*2*CLINIC*****XX*2781759230~", "HL*2*1*21*1~", "no NM1"),
        ("ST*270*0001*005010X279A1", "ST*276*0001*005010X279A1", "only 270"),
    ],
)
def test_a_broken_set_is_answered_with_a_999(old: str, new: str, says: str) -> None:
    assert old in TWO_PATIENTS
    read = read_270(TWO_PATIENTS.replace(old, new).encode())
    assert isinstance(read, Unreadable) and read.scope in (Scope.TRANSACTION, Scope.GROUP)
    assert says in read.reason, read.reason
    assert read.interchange is not None
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 5, NOW), read.groups)
    assert pyx12_errors(out.getvalue()) == [], out.getvalue()


def _with_se(text: str) -> str:
    """``text`` with its SE01 counting the segments it now has."""
    segs = text.split("~")
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    segs[se] = f"SE*{se - st + 1}*0001"
    return "~".join(segs)


def _ik(ack: str) -> list[str]:
    return [s.strip() for s in ack.split("~") if s.strip().startswith(("IK3", "IK4"))]


# What the guide walker finds, and the 999's IK3 (segment, position, loop, IK304) and IK4
# (element, data element, IK403) for it.
GUIDE_FAULTS = [
    pytest.param(
        "EQ*UC~", "EQ*ZZ~", ["IK3*EQ*13*2110*8", "IK4*1*1365*7"], id="service type not a code"
    ),
    pytest.param(
        "EQ*86~", "EQ*86**FAM~", ["IK3*EQ*20*2110*8", "IK4*3*1207*I10"], id="EQ03 not used (D)"
    ),
    pytest.param(
        "EQ*UC~",
        "EQ*" + "^".join(["1"] * 100) + "~",
        ["IK3*EQ*13*2110*8", "IK4*1*1365*12"],
        id="EQ01 over 99 repetitions",
    ),
    pytest.param(
        "NM1*IL*1*HILL*LIAM****MI*PG00000100~",
        "NM1*IL*1*HILL*LIAM****MI~",
        ["IK3*NM1*9*2100*8", "IK4*9*67*2"],
        id="NM108 without NM109 (P0809)",
    ),
    pytest.param(
        "DMG*D8*19871227~",
        "DMG*D8*19871227~HI*XX:123~",
        ["IK3*HI*11*2100*8", "IK4*1:1*1270*7"],
        id="diagnosis qualifier",
    ),
    pytest.param(
        "EQ*86~", "EQ*86~AMT*R*100~", ["IK3*AMT*21*2110*2"], id="spend down of a dependent"
    ),
    pytest.param("EQ*86~", "", ["IK3*EQ*20*2110*3"], id="dependent without EQ"),
    pytest.param(
        "BHT*0022*13*R1*20261102*0930~",
        "BHT*0022*13*R1*20261102*0930*XX~",
        ["IK3*BHT*2**8", "IK4*6*640*7"],
        id="BHT06",
    ),
    pytest.param(
        "HL*3*2*22*0~", "HL*3*2*22*1~", ["IK3*HL*7*2000*8", "IK4*4*736*7"], id="HL04 no child"
    ),
    pytest.param(
        "NM1*1P*2*CLINIC*****XX*2781759230~",
        "NM1*1P*2*CLINIC*****XX*2781759230~REF*ZZ*1~",
        ["IK3*REF*7*2100*8", "IK4*1*128*7"],
        id="receiver REF qualifier",
    ),
    pytest.param(
        "DTP*291*RD8*20261101-20261130~",
        "DTP*291*RD8*20261101-20261130~DTP*291*D8*20261101~DTP*102*D8*20261101~",
        ["IK3*DTP*13*2100*5"],
        id="three subscriber dates",
    ),
]


@pytest.mark.parametrize(("old", "new", "ik"), GUIDE_FAULTS)
def test_the_guide_walker_answers_a_fault_with_its_999_codes(
    old: str, new: str, ik: list[str]
) -> None:
    assert old in TWO_PATIENTS
    read = read_270(_with_se(TWO_PATIENTS.replace(old, new, 1)).encode())
    assert isinstance(read, Unreadable) and read.scope is Scope.TRANSACTION, read
    assert read.interchange is not None
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 5, NOW), read.groups)
    assert _ik(out.getvalue()) == ik, out.getvalue()
    assert "IK5*R" in out.getvalue()
    assert pyx12_errors(out.getvalue()) == [], out.getvalue()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("EQ*UC~", "EQ*UC~III*ZZ*11~REF*G1*AUTH1~DTP*291*D8*20261101~"),
        (
            "DMG*D8*19871227~",
            "N3*1 MAIN ST~N4*AKRON*OH*44301~PRV*PE*PXC*207Q00000X~DMG*D8*19871227~"
            "INS*Y*18***************1~DTP*102*D8*20250101~",
        ),
        (
            "NM1*1P*2*CLINIC*****XX*2781759230~",
            "NM1*1P*2*CLINIC*****XX*2781759230~REF*EO*SUB1~N3*2 MAIN ST~N4*AKRON*OH*44301~"
            "PRV*BI*PXC*207Q00000X~",
        ),
        ("NM1*03*1*JOHNSON*CALEB~DMG*D8*20000210*M~", "NM1*03*1*JOHNSON*CALEB~INS*N*19~"),
    ],
)
def test_what_the_guide_allows_is_read(old: str, new: str) -> None:
    assert old in TWO_PATIENTS
    request = _request(_with_se(TWO_PATIENTS.replace(old, new, 1)))
    first, _ = request.inquiries
    # the 2110C date narrows nothing the subscriber's DTP*291 said; a 102 is not asked about
    assert first.asked_from == date(2026, 11, 1)


def test_not_x12_and_a_broken_interchange() -> None:
    assert isinstance(read_270(b""), Unreadable)
    broken = read_270(TWO_PATIENTS.replace("IEA*1*", "IEA*2*").encode())
    assert isinstance(broken, Unreadable) and broken.scope is Scope.INTERCHANGE


def test_the_271_mirrors_the_request_and_reads_back() -> None:
    request = _request(TWO_PATIENTS)
    first, second = request.inquiries
    liam = Person("HILL", "LIAM", date(1987, 12, 27), "M", member_id="PG00000100")
    reports = [
        EligibilityReport(
            first,
            subscriber=liam,
            dates=(("346", date(2026, 1, 1), None),),
            benefits=(
                Benefit(
                    "1",
                    service_type="30",
                    insurance_type="PR",
                    plan_name="Gold PPO",
                    references=(("18", "PPO-GOLD"),),
                ),
                Benefit("C", "IND", "30", period="23", amount=Decimal("500.00"), in_network="Y"),
                Benefit("C", "IND", "30", period="29", amount=Decimal("410.00"), in_network="Y"),
                Benefit("A", "IND", "30", percent=Decimal("0.2"), in_network="Y"),
            ),
        ),
        EligibilityReport(second, Rejection("2100D", "67")),
    ]
    out = io.StringIO()
    write_271(out, request, reports, control=42, created=NOW)
    text = out.getvalue()
    segs = [s.strip() for s in text.split("~") if s.strip()]
    assert segs[2] == "ST*271*0001*005010X279A1" and segs[3].startswith("BHT*0022*11*R1*")
    assert [s for s in segs if s.startswith("HL")] == [
        "HL*1**20*1",
        "HL*2*1*21*1",
        "HL*3*2*22*0",
        "HL*4*2*22*1",
        "HL*5*4*23*0",
    ]
    assert "TRN*2*A-1*9877281234" in segs and "TRN*2*B-1*9877281234" in segs
    assert "EB*C*IND*30***23*500*****Y" in segs and "EB*C*IND*30***29*410*****Y" in segs
    assert "EB*A*IND*30*****.2****Y" in segs and "REF*18*PPO-GOLD" in segs
    assert "AAA*N**67*C" in segs
    se = next(s for s in segs if s.startswith("SE*"))
    assert se == f"SE*{segs.index(se) - 1}*0001"
    assert segs[-2:] == ["GE*1*42", "IEA*1*000000042"]
    with X12ModelReader(text.replace("AAA*N**67*C", "AAA*N**15*C")) as reader:
        assert len(list(reader.models())) == 1  # x12sdk's 2100D AAA knows only 2100B codes
    with pytest.raises(ValueError, match="in order"):
        write_271(io.StringIO(), request, reports[:1], control=1, created=NOW)


def test_percent_text() -> None:
    assert [percent_text(Decimal(p) / 100) for p in ("20", "0", "100", "35")] == [
        ".2",
        "0",
        "1",
        ".35",
    ]


def test_a_benefit_template_writes_what_the_benefits_write() -> None:
    """The EB loops written once with slots for what remains, filled per member, are the
    text write_271 writes for the benefits with those amounts: with odd delimiters too."""
    request = _request(TWO_PATIENTS)
    first, second = request.inquiries
    plan = Benefit("1", service_type="30", insurance_type="PR", plan_name="Gold*PPO~")
    benefits = [
        plan._replace(references=(("18", "PPO-GOLD"),)),
        Benefit("B", "IND", "30", period="27", amount=Decimal("25.00"), in_network="Y"),
        Benefit("C", "IND", "30", period="23", amount=Decimal("500.00"), in_network="Y"),
        Benefit("C", "IND", "30", period="29", in_network="Y"),
        Benefit("C", "FAM", "30", period="29", in_network="N"),
        Benefit("A", "IND", "30", percent=Decimal("0.2"), in_network="Y"),
        Benefit("C", "IND", "98", period="29", in_network="Y"),
    ]
    slots = [None, None, None, 0, 1, None, 0]
    amounts = [Decimal("410.50"), Decimal("0.00")]
    template = benefit_template(benefits, slots, request.interchange.delimiters)
    written = template.fill([amount_text(a) for a in amounts])
    plain = [
        b if s is None else b._replace(amount=amounts[s])
        for b, s in zip(benefits, slots, strict=True)
    ]
    liam = Person("HILL", "LIAM", date(1987, 12, 27), "M", member_id="PG00000100")
    texts = []
    for report in (
        EligibilityReport(first, subscriber=liam, benefits=tuple(plain)),
        EligibilityReport(first, subscriber=liam, written=written),
    ):
        out = io.StringIO()
        reports = [report, EligibilityReport(second, Rejection("2100D", "67"))]
        write_271(out, request, reports, control=42, created=NOW)
        texts.append(out.getvalue())
    assert texts[0] == texts[1]
    assert "EB*C*IND*30***29*410.5*****Y~" in texts[0] and "EB*C*FAM*30***29*0*****N~" in texts[0]
    assert written.segments == len(benefits) + 1  # and the REF
