"""The 278 reader (005010X217): every request of the guide's examples (stupidedi, in
fixtures/x12/278) read, five of them checked field by field by hand against the files; a
request about an earlier one; structural faults answered with a 999 that pyx12 validates (a
999 is pyx12's to check: it has the 005010X231A1 map), a broken interchange with a TA1."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.domain.issues import Scope
from claims_engine.x12.acks import Envelope, write_999
from claims_engine.x12.reader278 import (
    Diagnosis,
    ReviewRequest,
    ServiceCode,
    TooManyInquiries,
    Unreadable,
    read_278,
)
from tests.x12_oracle import pyx12_errors

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "x12" / "278"
REQUESTS = sorted(p for p in CORPUS.glob("*.x12") if "response" not in p.name)
RESPONSES = sorted(p for p in CORPUS.glob("*.x12") if "response" in p.name)
NOW = datetime(2026, 11, 2, 9, 30)

# A request of our own: a dependent, two services (SV1 with modifiers, SV2), ICD-10, urgent.
OWN = (
    "ISA*00*          *00*          *ZZ*PROVIDER01     *ZZ*CLAIMSENGINE   *261102*0930*^*00501"
    "*000000001*0*T*:~GS*HI*PROVIDER01*CLAIMSENGINE*20261102*0930*1*X*005010X217~"
    "ST*278*0001*005010X217~BHT*0007*13*R-1*20261102*0930~"
    "HL*1**20*1~NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001~"
    "HL*2*1*21*1~NM1*1P*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230~"
    "HL*3*2*22*1~NM1*IL*1*HILL*LIAM****MI*PG00000100~"
    "HL*4*3*23*1~NM1*QC*1*HILL*MIA~DMG*D8*20150310*F~"
    "HL*5*4*EV*1~TRN*1*EV-1*9877281234~UM*HS*I*2*11:B**U~DTP*AAH*RD8*20261110-20261120~"
    "HI*ABK:M25561*ABF:M2351~HSD*VS*6~NM1*SJ*1*STONE*ANA****XX*1234567893~"
    "HL*6*5*SS*0~TRN*1*SV-1*9877281234~DTP*472*D8*20261110~SV1*HC:29881:LT:59*4331*UN*1~"
    "NM1*SJ*1*STONE*ANA****XX*1234567893~"
    "HL*7*5*SS*0~SV2*0360*HC:29881*1200*UN*1~HSD*DY*1~"
    "SE*27*0001~GE*1*1~IEA*1*000000001~"
)


def _request(data: str | bytes) -> ReviewRequest:
    read = read_278(data.encode() if isinstance(data, str) else data)
    assert isinstance(read, ReviewRequest), read
    return read


def test_the_fixtures_are_the_guides_examples() -> None:
    assert [p.name for p in REQUESTS] == [
        "admission-request-for-review.x12",
        "emergency-admission-request-for-review.x12",
        "referral-request-for-review.x12",
        "request-for-home-health-care.x12",
        "request-for-medical-services-reservation.x12",
        "request-for-non-emergency-transportation.x12",
    ]
    assert len(RESPONSES) == 5


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_every_request_of_the_guide_is_read(path: Path) -> None:
    request = _request(path.read_bytes())
    [event] = request.events
    assert event.umo.entity == "X3" and event.subscriber.entity == "IL"
    assert event.member_id and event.review.certification_type == "I"
    assert event.kind == "initial" and not event.refers_to_earlier


def test_an_admission_request() -> None:
    request = _request((CORPUS / "admission-request-for-review.x12").read_bytes())
    [t] = request.transactions
    assert (t.reference, t.header.control, request.control) == ("B56789", "0001", "000010216")
    [e] = request.events
    assert (e.umo.last_name, e.umo.id_qualifier, e.umo.id) == (
        "MARYLAND CAPITAL INSURANCE COMPANY",
        "46",
        "789312",
    )
    assert (e.requester.entity, e.requester.last_name, e.requester.first_name) == (
        "1P",
        "WATSON",
        "SUSAN",
    )
    assert (e.requester.id_qualifier, e.requester.id, e.requester_npi) == ("34", "98765432", "")
    assert (e.member_id, e.subscriber.last_name, e.subscriber.first_name) == (
        "12345678901",
        "SMITH",
        "JOE",
    )
    assert e.dependent is None and e.patient is e.subscriber
    assert e.levels == ("1", "2", "3", "", "4")
    assert [(t.number, t.company) for t in e.traces] == [("97021001", "9012345678")]
    assert e.trace_number == "97021001"
    r = e.review
    assert (r.category, r.certification_type, r.service_type) == ("AR", "I", "2")
    assert (r.facility, r.level_of_service) == (("21", "B"), "")
    assert e.urgency == "standard" and not e.expedited
    assert e.dates == (("435", date(2005, 5, 16), date(2005, 5, 16)),)
    assert e.date_of("435") == (date(2005, 5, 16), date(2005, 5, 16))
    assert e.diagnoses == (Diagnosis("BF", "41090", date(2005, 1, 25)),)
    assert not e.diagnoses[0].icd10
    assert [(d.qualifier, d.quantity) for d in e.delivery] == [("DY", Decimal(7))]
    assert [(p.entity, p.last_name, p.id_qualifier, p.id) for p in e.providers] == [
        ("FA", "MONTGOMERY HOSPITAL", "24", "000012121")
    ]
    [s] = e.services
    assert (s.hl_id, s.kind, s.revenue_code) == ("5", "SV2", "")
    assert s.procedure == ServiceCode("HC", "33510")
    assert (s.service_from, s.service_to) == (date(2005, 5, 16), date(2005, 5, 16))
    assert s.review is not None and (s.review.category, s.review.service_type) == ("HS", "2")
    assert [(p.entity, p.id) for p in s.providers] == [("SJ", "987654321")]


def test_an_emergency_admission_is_expedited() -> None:
    [e] = _request((CORPUS / "emergency-admission-request-for-review.x12").read_bytes()).events
    assert (e.review.level_of_service, e.urgency, e.expedited) == ("03", "expedited", True)
    assert e.review.service_type == "A4" and e.services == ()
    assert [(p.entity, p.last_name) for p in e.providers] == [
        ("FA", "GENERAL HOSPITAL"),
        ("71", "JONES"),
        ("SJ", "BROWN"),
    ]
    assert (e.requester.entity, e.requester.entity_type, e.requester.id) == (
        "FA",
        "2",
        "8189991234",
    )


def test_a_home_health_request_and_its_two_services() -> None:
    [e] = _request((CORPUS / "request-for-home-health-care.x12").read_bytes()).events
    assert e.traces == () and e.trace_number == ""
    assert e.review.facility == ("12", "B") and e.review.service_type == ""
    assert [(d.qualifier, d.code) for d in e.diagnoses] == [("BF", "1831"), ("BF", "2630")]
    [visits] = e.delivery
    assert (visits.qualifier, visits.quantity, visits.unit, visits.period, visits.periods) == (
        "VS",
        Decimal(3),
        "WK",
        "34",
        "2",
    )
    assert e.care_period == (date(2005, 5, 2), date(2005, 8, 1))  # CR6*...*RD8*20050502-20050801
    assert [s.procedure for s in e.services] == [
        ServiceCode("HC", "G0154"),
        ServiceCode("HC", "B4184"),
    ]
    assert all(s.kind == "SV1" and s.units is None for s in e.services)


def test_a_transportation_request_and_its_nested_services() -> None:
    """The guide's example names an SS as the parent of the next SS: each is read as one of
    the event's services."""
    [e] = _request((CORPUS / "request-for-non-emergency-transportation.x12").read_bytes()).events
    assert e.subscriber.birth_date == date(1958, 3, 22) and e.subscriber.sex == "M"
    assert e.dates == (("AAH", date(2005, 5, 10), date(2005, 5, 10)),)
    assert [p.entity for p in e.providers] == ["PW", "ND", "R3", "FS"]
    assert [(s.hl_id, s.procedure, s.unit_basis, s.units) for s in e.services] == [
        ("5", ServiceCode("HC", "A0428", ("RX",)), "UN", Decimal(5)),
        ("6", ServiceCode("HC", "A0428", ("PD",)), "UN", Decimal(8)),
        ("7", ServiceCode("HC", "A0428", ("DR",)), "UN", Decimal(14)),
    ]


def test_a_reservation() -> None:
    request = _request((CORPUS / "request-for-medical-services-reservation.x12").read_bytes())
    assert request.transactions[0].transaction_type == "RU"
    [e] = request.events
    assert (e.umo.id_qualifier, e.umo.id, e.requester.id_qualifier) == ("PI", "1234560010", "24")
    [s] = e.services
    assert (s.procedure, s.units, s.service_from) == (
        ServiceCode("HC", "99212"),
        Decimal(1),
        date(2005, 5, 10),
    )


def test_a_request_of_our_own() -> None:
    request = _request(OWN)
    [e] = request.events
    assert e.dependent is not None and e.patient is e.dependent
    assert (e.dependent.last_name, e.dependent.birth_date) == ("HILL", date(2015, 3, 10))
    assert e.member_id == "PG00000100" and e.requester_npi == "2781759230"
    assert e.levels == ("1", "2", "3", "4", "5")
    assert e.expedited and e.urgency == "expedited"
    assert e.dates == (("AAH", date(2026, 11, 10), date(2026, 11, 20)),)
    assert [(d.qualifier, d.code, d.icd10) for d in e.diagnoses] == [
        ("ABK", "M25561", True),
        ("ABF", "M2351", True),
    ]
    assert e.servicing_npis == ("1234567893",)
    first, second = e.services
    assert first.procedure == ServiceCode("HC", "29881", ("LT", "59"))
    assert (first.amount, first.unit_basis, first.units) == (Decimal(4331), "UN", Decimal(1))
    assert [t.number for t in first.traces] == ["SV-1"]
    assert (second.kind, second.revenue_code, second.amount, second.units) == (
        "SV2",
        "0360",
        Decimal(1200),
        Decimal(1),
    )
    assert [(d.qualifier, d.quantity) for d in second.delivery] == [("DY", Decimal(1))]


@pytest.mark.parametrize(
    ("certification", "kind"),
    [
        ("3", "cancel"),
        ("4", "extension"),
        ("1", "appeal"),
        ("2", "appeal"),
        ("R", "renewal"),
        ("S", "revision"),
    ],
)
def test_a_request_about_an_earlier_one(certification: str, kind: str) -> None:
    text = OWN.replace("UM*HS*I*2", f"UM*HS*{certification}*2").replace(
        "DTP*AAH", "REF*BB*AUTH-77~REF*NT*ADM-9~DTP*AAH"
    )
    [e] = _request(text.replace("SE*27*", "SE*29*")).events
    assert e.kind == kind and e.refers_to_earlier
    assert (e.previous_authorization, e.previous_reference) == ("AUTH-77", "ADM-9")


def test_a_request_naming_an_earlier_certification_refers_to_it() -> None:
    text = OWN.replace("DTP*AAH", "REF*BB*AUTH-77~DTP*AAH").replace("SE*27*", "SE*28*")
    [e] = _request(text).events
    assert e.kind == "initial" and e.refers_to_earlier


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("HL*5*4*EV*1", "HL*5*2*EV*1", "HL02 '2' does not name an HL of level 22 or 23"),
        ("HL*6*5*SS*0", "HL*6*3*SS*0", "HL02 '3' does not name an HL of level EV or SS"),
        ("HL*4*3*23*1", "HL*4*3*24*1", "HL03 '24'"),
        ("NM1*IL*1*HILL", "NM1*QC*1*HILL", "entity of the subscriber"),
        ("BHT*0007*13", "BHT*0007*11", "transaction set purpose"),
        ("BHT*0007*13", "BHT*0022*13", "hierarchical structure code"),
        ("UM*HS*I*2*11:B**U", "UM*HS*X*2*11:B**U", "certification type"),
        ("UM*HS*I*2*11:B**U", "UM*HS*I*2*11:B**9", "level of service"),
        ("UM*HS*I*2*11:B**U~", "", "has no UM"),
        ("HI*ABK:M25561", "HI*ZZ:M25561", "not a diagnosis qualifier"),
        ("DTP*472*D8*20261110", "DTP*472*D8*20261310", "not a date"),
        ("DTP*AAH*RD8", "DTP*472*RD8", "date qualifier"),
        ("HSD*VS*6", "HSD*VS*SIX", "not a quantity"),
        ("TRN*1*EV-1", "TRN*2*EV-1", "trace type"),
        ("SV1*HC:29881:LT:59*4331*UN*1~NM1", "NM1*SJ*1*X~SV1*HC:29881*4331*UN*1~NM1", "before"),
        (
            "HL*2*1*21*1~NM1*1P*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230~",
            "HL*2*1*21*1~",
            "no NM1",
        ),
        ("NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001~", "NM1*X3*2*CLAIMS ENGINE PAYER~", "NM108"),
        ("XX*1234567893~HL*6", "XX*12345~HL*6", "not ten digits"),
        ("SE*27*", "SE*26*", "SE01"),
        ("HSD*VS*6~", "HSD*VS*6~FOO*1~", "unrecognized segment"),
        ("HSD*VS*6~", "HSD*VS*6~CR6*1*20261110*RD8*20261120-20261110~", "CR604"),
        ("ST*278*0001*005010X217", "ST*270*0001*005010X217", "only 278"),
    ],
)
def test_a_broken_set_is_answered_with_a_999(old: str, new: str, says: str) -> None:
    assert old in OWN
    read = read_278(OWN.replace(old, new).encode())
    assert isinstance(read, Unreadable) and read.scope in (Scope.TRANSACTION, Scope.GROUP)
    assert says in read.reason, read.reason
    assert read.interchange is not None
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 5, NOW), read.groups)
    assert pyx12_errors(out.getvalue()) == [], out.getvalue()


@pytest.mark.parametrize(
    ("name", "fixed", "original"),
    [
        ("admission-request-for-review.x12", "SE*26*0001", "SE*25*0001"),
        ("request-for-home-health-care.x12", "SE*20*0001", "SE*19*0001"),
    ],
)
def test_the_guides_miscounted_se01_is_answered_with_a_999(
    name: str, fixed: str, original: str
) -> None:
    """Two of the guide's requests count one segment too few in SE01 (see the fixtures'
    README): as the guide printed them, they are answered with a 999 naming SE01."""
    text = (CORPUS / name).read_text()
    assert fixed in text
    read = read_278(text.replace(fixed, original).encode())
    assert isinstance(read, Unreadable) and read.scope is Scope.TRANSACTION
    assert "SE01" in read.reason, read.reason
    assert read.interchange is not None
    out = io.StringIO()
    write_999(out, Envelope(read.interchange, 5, NOW), read.groups)
    assert pyx12_errors(out.getvalue()) == [] and "IK5*R*4" in out.getvalue()


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.stem)
def test_a_response_is_not_a_request(path: Path) -> None:
    read = read_278(path.read_bytes())
    assert isinstance(read, Unreadable) and read.scope is Scope.TRANSACTION


def test_not_x12_a_broken_interchange_and_too_many_events() -> None:
    assert isinstance(read_278(b""), Unreadable)
    not_x12 = read_278(b"what is authorized?")
    assert isinstance(not_x12, Unreadable) and not_x12.scope is None
    broken = read_278(OWN.replace("IEA*1*", "IEA*2*").encode())
    assert isinstance(broken, Unreadable) and broken.scope is Scope.INTERCHANGE
    wrong_group = read_278(OWN.replace("GS*HI*", "GS*HS*").encode())
    assert isinstance(wrong_group, Unreadable) and wrong_group.scope is Scope.GROUP
    many = read_278(OWN.encode(), max_events=0)
    assert isinstance(many, TooManyInquiries) and many.what == "patient events"
    assert isinstance(read_278(OWN.encode(), max_events=1), ReviewRequest)
