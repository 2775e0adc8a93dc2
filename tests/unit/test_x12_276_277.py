"""The 276 reader and the 277 writer (005010X212), from the implementation guide's examples.

Every 276 of the guide (``fixtures/x12/276``) reads; the worked example ``claim-request`` is
checked field by field against the file, read by eye. Broken requests come back as values
naming what and where, ready for a TA1 or a 999 that pyx12 accepts. The 277s written for
hand-built answers validate under pyx12 with zero errors, on a map folder that lists pyx12's
277 X212 map (see :mod:`tests.x12_maps`), which in turn rejects a broken 277.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims_engine.domain.issues import ClaimStatus, Scope
from claims_engine.domain.model import Procedure
from claims_engine.x12 import codes
from claims_engine.x12.acks import Envelope, write_999, write_ta1
from claims_engine.x12.envelope_walk import Unreadable
from claims_engine.x12.reader276 import (
    MAX_SERVICE_LINES,
    StatusRequest,
    TooManyInquiries,
    read_276,
)
from claims_engine.x12.tokenizer import Delimiters
from claims_engine.x12.writer277 import (
    NOT_FOUND,
    ClaimReport,
    InquiryReport,
    LineReport,
    write_277,
)
from tests.conftest import X12_FIXTURES
from tests.x12_maps import x212_map_folder
from tests.x12_oracle import pyx12_errors

REQUESTS = sorted((X12_FIXTURES / "276").glob("*.x12"))
RESPONSES = sorted((X12_FIXTURES / "277").glob("*.x12"))
CLAIM_REQUEST = X12_FIXTURES / "276" / "claim-request.x12"
CREATED = datetime(2005, 9, 16, 8, 10)


@pytest.fixture(scope="session")
def x212_maps(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(x212_map_folder(tmp_path_factory.mktemp("pyx12-maps")))


def _segments(path: Path) -> list[str]:
    """The segments of a one-segment-a-line fixture, without their terminators."""
    return [line.rstrip("~") for line in path.read_text().splitlines() if line.strip()]


def _x12(segments: list[str], *, recount: bool = True) -> bytes:
    """Segments back into an interchange, SE01 counted again unless ``recount`` is off."""
    out: list[str] = []
    start = 0
    for seg in segments:
        if seg.startswith("ST*"):
            start = len(out)
        if seg.startswith("SE*") and recount:
            control = seg.split("*")[2]
            seg = f"SE*{len(out) - start + 1}*{control}"
        out.append(seg)
    return ("~\n".join(out) + "~\n").encode()


def _request(path: Path = CLAIM_REQUEST) -> StatusRequest:
    read = read_276(path.read_bytes())
    assert isinstance(read, StatusRequest), read
    return read


def _unreadable(data: bytes) -> Unreadable:
    read = read_276(data)
    assert isinstance(read, Unreadable), read
    return read


def _written(request: StatusRequest, reports: list[InquiryReport], control: int = 7) -> str:
    out = io.StringIO()
    write_277(out, request, reports, control=control, created=CREATED)
    return out.getvalue()


# -- reading the guide's requests -----------------------------------------------------------------
@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_every_request_of_the_guide_reads(path: Path) -> None:
    request = _request(path)
    # one inquiry per TRN, counted without the reader
    assert len(request.inquiries) == sum(s.startswith("TRN*") for s in _segments(path))
    for q in request.inquiries:
        assert q.trace_number and q.subscriber.entity == "IL" and q.provider.entity == "1P"
        assert q.source.entity == "PR" and q.receiver.entity == "41"


def test_the_worked_example_claim_request_field_by_field() -> None:
    request = _request()
    # ISA*00*...*ZZ*123456789012345*ZZ*123456789012346*080503*1705*>*00501*000010216*0*T*:~
    assert (request.sender, request.receiver, request.control) == (
        "123456789012345",
        "123456789012346",
        "000010216",
    )
    [txn] = request.transactions
    assert (txn.group.functional_id, txn.group.control, txn.group.version) == (
        "HR",
        "20213",
        "005010X212",
    )
    assert (txn.header.set_id, txn.header.control, txn.reference) == ("276", "0001", "ABC276XXX")
    first, second, third = request.inquiries

    # HL*1**20*1 NM1*PR*2*ABC INSURANCE*****PI*12345
    assert (first.source.last_name, first.source.id_qualifier, first.source.id) == (
        "ABC INSURANCE",
        "PI",
        "12345",
    )
    # HL*2*1*21*1 NM1*41*2*XYZ SERVICE*****46*X67E
    assert (first.receiver.last_name, first.receiver.id) == ("XYZ SERVICE", "X67E")
    # HL*3*2*19*1 NM1*1P*2*HOME HOSPITAL*****XX*1666666661
    assert (first.provider.last_name, first.provider.npi) == ("HOME HOSPITAL", "1666666661")
    # HL*4*3*22*0 DMG*D8*19301210*M NM1*IL*1*SMITH*FRED****MI*123456789A
    sub = first.subscriber
    assert (sub.last_name, sub.first_name, sub.id_qualifier, sub.id) == (
        "SMITH",
        "FRED",
        "MI",
        "123456789A",
    )
    assert (sub.birth_date, sub.sex) == (date(1930, 12, 10), "M")
    assert first.dependent is None and first.member_id == "123456789A"
    # TRN*1*ABCXYZ1 REF*BLT*111 REF*EJ*SM123456 AMT*T3*8513.88 DTP*472*RD8*20050831-20050906
    assert first.trace_number == "ABCXYZ1"
    assert (first.bill_type, first.patient_control_number, first.payer_claim_number) == (
        "111",
        "SM123456",
        "",
    )
    assert first.total_charge == Decimal("8513.88")
    assert (first.service_from, first.service_to) == (date(2005, 8, 31), date(2005, 9, 6))
    assert first.levels == ("1", "2", "3", "4", "")

    # HL*5*3*22*0 ... TRN*1*ABCXYZ2 ... AMT*T3*7599 DTP*472*RD8*20050731-20050809
    assert (second.trace_number, second.subscriber.last_name) == ("ABCXYZ2", "JONES")
    assert second.total_charge == Decimal("7599.00")
    assert second.levels == ("1", "2", "3", "5", "")

    # HL*6*2*19*1 NM1*1P*2*HOME HOSPITAL PHYSICIANS*****XX*1666666666
    # HL*7*6*22*1 NM1*IL*1*MANN*JOHN****MI*345678901
    # HL*8*7*23 DMG*D8*19951101*M NM1*QC*1*MANN*JOSEPH TRN*1*ABCXYZ3 REF*EJ*MA345678
    # SVC*HC:99203*150*****1 DTP*472*D8*20050501
    assert third.provider.npi == "1666666666"
    assert (third.subscriber.last_name, third.subscriber.id) == ("MANN", "345678901")
    dep = third.dependent
    assert dep is not None
    assert (dep.last_name, dep.first_name, dep.birth_date, dep.sex) == (
        "MANN",
        "JOSEPH",
        date(1995, 11, 1),
        "M",
    )
    assert third.patient is dep and third.member_id == "345678901"
    assert (third.trace_number, third.patient_control_number) == ("ABCXYZ3", "MA345678")
    assert third.total_charge is None and third.service_from is None
    assert third.levels == ("1", "2", "6", "7", "8")
    [line] = third.lines
    assert line.procedure == Procedure("HC", "99203")
    assert (line.charge, line.units) == (Decimal("150.00"), Decimal("1"))
    assert (line.service_from, line.service_to) == (date(2005, 5, 1), date(2005, 5, 1))


def test_the_pharmacy_example_and_the_scenario_with_a_password() -> None:
    ncpdp = _request(X12_FIXTURES / "276" / "claim-ncpdp-request.x12")
    [q] = ncpdp.inquiries
    # REF*XZ*7654321 AMT*T3*85 DTP*472*D8*20060301
    assert (q.prescription_number, q.total_charge) == ("7654321", Decimal("85.00"))
    assert q.service_from == q.service_to == date(2006, 3, 1)
    scenario = _request(X12_FIXTURES / "276" / "business-scenario-1.x12")
    # ISA*00*          *01*SECRET    *ZZ*SUBMITTERS ID  *...*000000905*1*T*:~
    assert (scenario.sender, scenario.control) == ("SUBMITTERS ID", "000000905")
    assert scenario.interchange.ack_requested
    assert [q.trace_number for q in scenario.inquiries] == ["ABCXYZ1", "ABCXYZ2", "ABCXYZ3"]


def test_other_delimiters_are_read_from_the_isa() -> None:
    text = CLAIM_REQUEST.read_text()
    swapped = text.replace("*", "|").replace(":", "!").replace("~\n", "\r\n").replace(">", "^")
    request = read_276(swapped.encode())
    assert isinstance(request, StatusRequest)
    assert request.interchange.delimiters == Delimiters("|", "^", "!", "\r")
    assert [q.trace_number for q in request.inquiries] == ["ABCXYZ1", "ABCXYZ2", "ABCXYZ3"]
    assert request.inquiries[2].lines[0].procedure == Procedure("HC", "99203")


# -- broken requests ------------------------------------------------------------------------------
def _acknowledged_text(problem: Unreadable) -> str:
    assert problem.interchange is not None
    out = io.StringIO()
    env = Envelope(problem.interchange, 42, CREATED)
    if problem.scope is Scope.INTERCHANGE:
        write_ta1(out, env, problem.issue)
    else:
        write_999(out, env, problem.groups)
    return out.getvalue()


def _acknowledged(problem: Unreadable) -> str:
    """The TA1 or 999 answering ``problem``; pyx12 must accept the 999 (it has no map for an
    interchange holding a TA1 alone, whose three segments are checked by the callers)."""
    text = _acknowledged_text(problem)
    if problem.scope is Scope.INTERCHANGE:
        assert [s[:3] for s in text.splitlines()] == ["ISA", "TA1", "IEA"]
    else:
        assert pyx12_errors(text) == [], text
    return text


def test_what_is_not_x12_is_refused_without_an_acknowledgment() -> None:
    for data in (b"", b"   \n", b"hello, where is my claim?", b"GS*HR*A*B~"):
        problem = _unreadable(data)
        assert problem.scope is None and problem.interchange is None
        assert problem.reason.startswith("not an X12 interchange")


def test_a_missing_isa_names_what_was_found() -> None:
    segments = _segments(CLAIM_REQUEST)[1:]
    problem = _unreadable(_x12(segments))
    assert problem.scope is None
    assert "expected an ISA segment, found 'GS*HR" in problem.reason


def test_a_wrong_iea_count_is_answered_with_a_ta1_021() -> None:
    segments = _segments(CLAIM_REQUEST)
    segments[-1] = "IEA*2*000010216"
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.INTERCHANGE
    assert problem.issue is not None and problem.issue.ack_code == codes.TA1_GROUP_COUNT
    assert "IEA01 says '2' functional groups, the interchange has 1" in problem.reason
    assert f"at segment {len(segments)} of the interchange" in problem.reason
    assert "TA1*000010216*080503*1705*R*021~" in _acknowledged(problem)


def test_a_truncated_request_is_answered_with_a_ta1_023() -> None:
    segments = _segments(CLAIM_REQUEST)[:20]
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.INTERCHANGE
    assert problem.issue is not None and problem.issue.ack_code == codes.TA1_PREMATURE_END
    assert "without an IEA" in problem.reason
    _acknowledged(problem)


def test_a_bad_isa_is_answered_with_a_ta1() -> None:
    segments = _segments(CLAIM_REQUEST)
    segments[0] = segments[0].replace("*00501*", "*00401*")
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.INTERCHANGE
    assert problem.issue is not None and problem.issue.ack_code == codes.TA1_VERSION
    assert "ISA12 '00401'" in problem.reason
    _acknowledged(problem)


def test_a_missing_trn_rejects_the_transaction_set_naming_the_loop() -> None:
    segments = [s for s in _segments(CLAIM_REQUEST) if s != "TRN*1*ABCXYZ2"]
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.TRANSACTION
    # the REF*BLT after the subscriber JONES (HL 5) is the 20th segment of the set
    assert problem.reason.startswith("transaction set 0001 rejected (999): ")
    assert "REF outside a claim (no TRN before it) at segment 20 (REF, loop 2100D)" in (
        problem.reason
    )
    ack = _acknowledged(problem)
    assert "IK3*REF*20*2100*2~" in ack and "IK5*R*5~" in ack and "AK9*R*1*1*0~" in ack
    # and a subscriber with nothing at all under it
    segments = [
        s for s in _segments(CLAIM_REQUEST) if not s.startswith(("REF*", "AMT*", "DTP*", "SVC*"))
    ]
    segments = [s for s in segments if s != "TRN*1*ABCXYZ2"]
    problem = _unreadable(_x12(segments))
    # ST BHT, HL NM1 three times, HL DMG NM1 TRN for SMITH: JONES's HL is the 13th segment
    assert "the subscriber (HL 5, segment 13) has no claim (TRN, loop 2200D) and no dependent" in (
        problem.reason
    )


def test_an_element_error_names_the_element() -> None:
    segments = [s.replace("AMT*T3*7599", "AMT*T3*75.99.1") for s in _segments(CLAIM_REQUEST)]
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.TRANSACTION
    assert "total claim charge (AMT02) '75.99.1' is not a number" in problem.reason
    # ST BHT, HL NM1 three times, HL DMG NM1 TRN REF REF AMT DTP, HL DMG NM1 TRN REF REF AMT
    assert "at segment 23 (AMT02, loop 2200D)" in problem.reason
    ack = _acknowledged(problem)
    assert "IK3*AMT*23*2200*8~\nIK4*2**6*75.99.1~" in ack


def test_a_wrong_st01_is_answered_with_a_999_code_1() -> None:
    segments = [
        s.replace("ST*276*0001*005010X212", "ST*270*0001*005010X212")
        for s in _segments(CLAIM_REQUEST)
    ]
    problem = _unreadable(_x12(segments))
    assert problem.scope is Scope.TRANSACTION
    assert "ST01 '270': only 276 (claim status request) is accepted" in problem.reason
    assert "IK5*R*1~" in _acknowledged(problem)


def test_a_277_sent_instead_is_refused_by_its_group() -> None:
    for path in RESPONSES:
        problem = _unreadable(path.read_bytes())
        assert problem.scope is Scope.GROUP, path.name
        assert "GS01 'HN': only HR (276 claim status request) is accepted" in problem.reason
        assert "at segment 2 of the interchange" in problem.reason
        ack = _acknowledged(problem)
        assert "AK9*R*1*1*0*1~" in ack and "IK5*R*1~" in ack


def test_a_wrong_se_count_and_a_bad_hl_parent() -> None:
    segments = _segments(CLAIM_REQUEST)
    problem = _unreadable(_x12([*segments[:-3], "SE*99*0001", *segments[-2:]], recount=False))
    assert "SE01 says '99' segments, the transaction set has 36" in problem.reason
    assert "IK5*R*4~" in _acknowledged(problem)
    broken = [s.replace("HL*5*3*22*0", "HL*5*9*22*0") for s in segments]
    problem = _unreadable(_x12(broken))
    assert "HL02 '9' does not name an HL of level 19 (service provider) before it" in (
        problem.reason
    )
    _acknowledged(problem)


def test_a_second_interchange_is_refused() -> None:
    data = CLAIM_REQUEST.read_bytes()
    problem = _unreadable(data + data)
    assert problem.scope is None
    assert "a second interchange starts at segment 41" in problem.reason  # 40 segments each


def test_reading_stops_at_the_claim_inquiry_over_the_limit() -> None:
    data = CLAIM_REQUEST.read_bytes()  # three inquiries, the third's TRN is segment 34
    assert isinstance(read_276(data, max_inquiries=3), StatusRequest)
    assert read_276(data, max_inquiries=2) == TooManyInquiries(2, 34)
    assert read_276(data, max_inquiries=0) == TooManyInquiries(0, 14)
    # nothing after it is read: cut off there, the request is broken, and only too long
    cut = _x12(_segments(CLAIM_REQUEST)[:34], recount=False)
    assert isinstance(read_276(cut), Unreadable)
    assert read_276(cut, max_inquiries=2) == TooManyInquiries(2, 34)


def test_reading_stops_at_the_service_line_over_the_limit() -> None:
    """One inquiry may ask about any number of service lines, each matched against the lines
    of every claim it finds: a request asks about at most MAX_SERVICE_LINES (999) in all."""
    segments = _segments(CLAIM_REQUEST)
    at = next(i for i, s in enumerate(segments) if s.startswith("SVC*"))
    line = segments[at : at + 2]  # SVC and its DTP
    assert line[1].startswith("DTP*472*")

    def asking(n: int) -> bytes:
        return _x12(segments[:at] + line * n + segments[at + 2 :])

    assert isinstance(read_276(asking(MAX_SERVICE_LINES), max_inquiries=100), StatusRequest)
    over = read_276(asking(MAX_SERVICE_LINES + 1), max_inquiries=100)
    assert over == TooManyInquiries(
        MAX_SERVICE_LINES, at + 1 + 2 * MAX_SERVICE_LINES, "service lines"
    )
    # without a limit (the reader's own tests), every line is read
    assert isinstance(read_276(asking(MAX_SERVICE_LINES + 1)), StatusRequest)


def test_envelope_numbers_are_echoed_only_when_they_are_ascii_digits() -> None:
    """str.isdigit() takes "\u00b2": the TA1 and the 999 echo the inbound control numbers
    only when they are ASCII digits, else their zeros (X12 characters, which pyx12 reads)."""
    segments = _segments(CLAIM_REQUEST)
    segments[0] = segments[0].replace("*000010216*", "*00001021\u00b2*")
    ta1 = _acknowledged(_unreadable(_x12(segments)))
    assert "TA1*000000000*080503*1705*R*" in ta1 and ta1.isascii()

    segments = _segments(CLAIM_REQUEST)
    segments[1] = segments[1].replace("*20213*", "*2021\u00b2*")
    segments[-2] = "GE*1*2021\u00b2"
    nine = _acknowledged(_unreadable(_x12(segments)))  # pyx12 accepts it
    assert "AK1*HR*0*005010X212~" in nine and nine.isascii()


_DAMAGE = b"*:~^>\n ABCXYZ0123456789HLNMTRSVEDP-."  # what a damaged request is likely to hold
_EDITS = st.lists(
    st.tuples(
        st.floats(0, 1, exclude_max=True),  # where
        st.sampled_from(["replace", "delete", "copy", "byte"]),
        st.integers(0, 255),
        st.integers(1, 30),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=300)
@given(st.sampled_from(REQUESTS), _EDITS)
def test_any_damage_is_read_or_told_in_one_line(path: Path, edits: list[Any]) -> None:
    """Whatever the damage, the reader ends with a request or a one-line reason, and whatever
    it returns can be answered: a 277, a TA1, a 999 or (not X12 at all) the reason alone."""
    data = bytearray(path.read_bytes())
    for where, op, byte, size in edits:
        i = int(where * len(data)) if data else 0
        if op == "replace" and data:
            data[i] = _DAMAGE[byte % len(_DAMAGE)]
        elif op == "delete":
            del data[i : i + size]
        elif op == "copy":
            data[i:i] = data[byte % max(len(data), 1) :][:size]
        else:
            data[i:i] = bytes([byte])
    read = read_276(bytes(data))
    if isinstance(read, StatusRequest):
        _written(read, [InquiryReport(q) for q in read.inquiries])
        return
    assert read.reason and "\n" not in read.reason
    if read.scope is not None:
        _acknowledged_text(read)


# -- writing the 277 ------------------------------------------------------------------------------
def _guide_answers(request: StatusRequest) -> list[InquiryReport]:
    """The answers of the guide's ``claim-response`` to ``claim-request``, with a paid claim."""
    first, second, third = request.inquiries
    line = third.lines[0]
    return [
        InquiryReport(
            first,
            (
                ClaimReport(
                    (ClaimStatus("P3", "317"),),
                    date(2005, 9, 13),
                    Decimal("8513.88"),
                    payer_claim_number="05347006051",
                    bill_type="111",
                    patient_control_number="SM123456",
                    service_from=date(2005, 8, 31),
                    service_to=date(2005, 9, 6),
                ),
            ),
        ),
        InquiryReport(
            second,
            (
                ClaimReport(
                    (ClaimStatus("F1", "65"),),
                    date(2005, 9, 15),
                    Decimal("7599.00"),
                    Decimal("7599.00"),
                    adjudicated_on=date(2005, 9, 14),
                    remitted_on=date(2005, 9, 15),
                    remittance_trace="0000000012",
                    payer_claim_number="0529675341",
                    bill_type="111",
                    patient_control_number="JO234567",
                    service_from=date(2005, 7, 31),
                    service_to=date(2005, 8, 9),
                ),
            ),
        ),
        InquiryReport(
            third,
            (
                ClaimReport(
                    (ClaimStatus("F2", "88", "QC"), ClaimStatus("F2", "104")),
                    date(2005, 6, 12),
                    Decimal("150.00"),
                    adjudicated_on=date(2005, 6, 12),
                    payer_claim_number="051681010827",
                    patient_control_number="MA345678",
                    service_from=date(2005, 5, 1),
                    service_to=date(2005, 5, 1),
                    lines=(
                        LineReport(
                            line,
                            ClaimStatus("F2", "88", "QC"),
                            Decimal("150.00"),
                            Decimal("0.00"),
                            Decimal(1),
                            date(2005, 5, 1),
                            None,
                        ),
                    ),
                ),
            ),
        ),
    ]


def test_the_answer_to_the_worked_example(x212_maps: str) -> None:
    request = _request()
    text = _written(request, _guide_answers(request), control=17)
    # the guide's own claim-response, segment for segment where the answers agree
    expected_body = [
        "HL*1**20*1",
        "NM1*PR*2*ABC INSURANCE*****PI*12345",
        "HL*2*1*21*1",
        "NM1*41*2*XYZ SERVICE*****46*X67E",
        "HL*3*2*19*1",
        "NM1*1P*2*HOME HOSPITAL*****XX*1666666661",
        "HL*4*3*22*0",
        "NM1*IL*1*SMITH*FRED****MI*123456789A",
        "TRN*2*ABCXYZ1",
        "STC*P3:317*20050913**8513.88*0",  # the guide leaves STC05 out; we always send it
        "REF*1K*05347006051",
        "REF*BLT*111",
        "REF*EJ*SM123456",
        "DTP*472*RD8*20050831-20050906",
        "HL*5*3*22*0",
        "NM1*IL*1*JONES*MARY****MI*234567890A",
        "TRN*2*ABCXYZ2",
        # charge 7599, paid 7599, decided 2005-09-14, paid on 2005-09-15 by trace 0000000012
        "STC*F1:65*20050915**7599*7599*20050914**20050915*0000000012",
        "REF*1K*0529675341",
        "REF*BLT*111",
        "REF*EJ*JO234567",
        "DTP*472*RD8*20050731-20050809",
        "HL*6*2*19*1",
        "NM1*1P*2*HOME HOSPITAL PHYSICIANS*****XX*1666666666",
        "HL*7*6*22*1",
        "NM1*IL*1*MANN*JOHN****MI*345678901",
        "HL*8*7*23",
        "NM1*QC*1*MANN*JOSEPH",
        "TRN*2*ABCXYZ3",
        "STC*F2:88:QC*20050612**150*0*20050612****F2:104",
        "REF*1K*051681010827",
        "REF*EJ*MA345678",
        "DTP*472*D8*20050501",
        "SVC*HC:99203*150*0****1",
        "STC*F2:88:QC*20050612",
        "DTP*472*D8*20050501",
    ]
    lines = [s.rstrip("~") for s in text.splitlines()]
    assert lines[:4] == [
        # the request's interchange reversed: we answer its receiver's side
        "ISA*00*          *00*          *ZZ*123456789012346*ZZ*123456789012345*050916*0810*>"
        "*00501*000000017*0*T*:",
        "GS*HN*123456789012346*123456789012345*20050916*0810*17*X*005010X212",
        "ST*277*0001*005010X212",
        "BHT*0010*08*ABC276XXX*20050916*0810*DG",
    ]
    assert lines[4:-3] == expected_body
    assert lines[-3:] == [f"SE*{len(expected_body) + 3}*0001", "GE*1*17", "IEA*1*000000017"]
    assert pyx12_errors(text, x212_maps) == []
    # the same answers, the same bytes
    assert _written(request, _guide_answers(request), control=17) == text


def test_an_inquiry_without_a_claim_is_not_found_told_from_the_request_alone(
    x212_maps: str,
) -> None:
    request = _request()
    text = _written(request, [InquiryReport(q) for q in request.inquiries])
    lines = [s.rstrip("~") for s in text.splitlines()]
    first = lines.index("TRN*2*ABCXYZ1")
    assert lines[first : first + 5] == [
        "TRN*2*ABCXYZ1",
        "STC*A4:35*20050916**8513.88*0",
        "REF*BLT*111",
        "REF*EJ*SM123456",
        "DTP*472*RD8*20050831-20050906",
    ]
    third = lines.index("TRN*2*ABCXYZ3")
    assert lines[third : third + 3] == [
        "TRN*2*ABCXYZ3",
        "STC*A4:35*20050916**0*0",
        "REF*EJ*MA345678",
    ]
    assert pyx12_errors(text, x212_maps) == []


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.name)
def test_every_status_the_engine_sends_validates(path: Path, x212_maps: str) -> None:
    """Each inquiry of each guide request answered with two claims, cycling through every
    status the claim inquiry service writes."""
    statuses = [
        (ClaimStatus("A1", "19", "PRP"),),
        (ClaimStatus("A2", "20"),),
        (ClaimStatus("A3", "510"), ClaimStatus("A3", "187")),
        (ClaimStatus("A3", "0"),),
        (ClaimStatus("P2", "46"),),
        (ClaimStatus("P5", "41"),),
        (ClaimStatus("F0", "3"),),
        (ClaimStatus("F1", "65"), ClaimStatus("F3", "101")),
        (ClaimStatus("F2", "88", "IL"),),
        (ClaimStatus("F2", "54"),),
        (ClaimStatus("F4", "104"),),
        (ClaimStatus("F3", "101"),),
        (NOT_FOUND,),
    ]
    request = _request(path)
    reports = []
    for k, q in enumerate(request.inquiries):
        claims = tuple(
            ClaimReport(
                statuses[(2 * k + j) % len(statuses)],
                date(2026, 11, 2),
                Decimal("120.50"),
                Decimal("80.25"),
                adjudicated_on=date(2026, 11, 1),
                remitted_on=date(2026, 11, 2) if j else None,
                remittance_trace="0000000031" if j else "",
                payer_claim_number=f"26110200010000000{k}{j}",
                patient_control_number=f"PCN{k}",
                bill_type="131" if j else "",
                service_from=date(2026, 10, 1),
                service_to=date(2026, 10, 3) if j else None,
                lines=tuple(
                    LineReport(
                        ln,
                        statuses[k % len(statuses)][0],
                        ln.charge,
                        Decimal(0),
                        Decimal(2),
                        None,
                        None,
                    )
                    for ln in q.lines
                ),
            )
            for j in range(2)
        )
        reports.append(InquiryReport(q, claims))
    text = _written(request, reports)
    assert pyx12_errors(text, x212_maps) == []


def test_values_that_hold_a_delimiter_are_written_without_it(x212_maps: str) -> None:
    request = _request()
    reports = [InquiryReport(q) for q in request.inquiries]
    first = request.inquiries[0]
    reports[0] = InquiryReport(
        first,
        (
            ClaimReport(
                (ClaimStatus("A2", "20"),),
                date(2026, 11, 2),
                Decimal("10"),
                payer_claim_number="26*11:02~X",
                patient_control_number="PCN\u00e9>1",
            ),
        ),
    )
    text = _written(request, reports)
    assert "REF*1K*261102X~" in text and "REF*EJ*PCN1~" in text
    assert pyx12_errors(text, x212_maps) == []


def test_the_reports_must_answer_the_inquiries_in_order() -> None:
    request = _request()
    with pytest.raises(ValueError, match="in order"):
        _written(request, [InquiryReport(q) for q in reversed(request.inquiries)])


# -- the oracle itself ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_the_guide_responses_validate_under_the_map_folder(path: Path, x212_maps: str) -> None:
    assert pyx12_errors(path.read_text(), x212_maps) == []


def test_the_map_folder_fails_a_broken_277(x212_maps: str) -> None:
    request = _request()
    good = _written(request, _guide_answers(request))
    broken = [
        good.replace("NM1*IL*1*SMITH*FRED****MI*123456789A~\n", ""),  # subscriber name missing
        good.replace("TRN*2*ABCXYZ2~\n", ""),  # a claim without its tracking number
        good.replace("HL*4*3*22*0", "HL*4*3*22*0*9"),  # one element too many
        good.replace("ST*277*", "ST*276*", 1),  # the 276's transaction set id
        good.replace("DTP*472*D8*20050501~\nSE", "DTP*999*D8*20050501~\nSE"),  # bad qualifier
    ]
    for text in broken:
        assert text != good
        assert pyx12_errors(text, x212_maps) != [], text


@pytest.mark.parametrize("garbage", ["ZQX*1", "%!&*2", "\u00e9t\u00e9*3", "NM1*PR"])
def test_envelope_codes_of_a_276_come_from_a_fixed_set(garbage: str) -> None:
    """A segment where no envelope segment may be is named in the message, never in the code:
    codes and the metric labels made of them are a fixed set."""
    segments = _segments(CLAIM_REQUEST)
    for at in (1, 2):  # outside a functional group, then outside a transaction set
        broken = [*segments[:at], garbage, *segments[at:]]
        read = read_276(_x12(broken, recount=False))
        assert isinstance(read, Unreadable), garbage
        issues = [read.issue] if read.issue is not None else []
        issues += [i for group, ends in read.groups for i in group.issues]
        issues += [i for _, ends in read.groups for end in ends for i in end.issues]
        assert issues, garbage
        for issue in issues:
            assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)*", issue.code), issue.code


def test_an_isa13_with_a_line_break_is_told_in_one_line() -> None:
    """Found by the damage test above: the control number of a rejected interchange is quoted,
    never copied raw, into the one-line reason."""
    text = CLAIM_REQUEST.read_bytes()
    assert b"*000010216*" in text  # ISA13
    damaged = text.replace(b"*000010216*", b"*00001\n216*", 1)
    read = read_276(damaged)
    assert not isinstance(read, StatusRequest)
    assert read.reason and "\n" not in read.reason
    assert "'" in read.reason.split(" rejected")[0]
