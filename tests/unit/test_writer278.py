"""The 278 response writer (005010X217), without a store.

pyx12 has no 5010 278 map (only the 4010 ``278.4010.X094*``), and neither x12sdk nor any
other library at hand knows the 005010X217 guide: every response written here is parsed back
and checked by ``tests/x217_oracle.py``, a parser written for the tests from the guide's
response layout that shares no code with the engine (its module docstring says what it
checks); the guide's own example responses pass it too, as the first test shows. Each HCR01
action is written; the response to each request of the guide's examples is valid; the same
request and decisions give the same bytes."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from claims_engine.x12.reader278 import ReviewRequest, read_278
from claims_engine.x12.writer278 import (
    ACTIONS,
    CERTIFIED,
    CERTIFYING,
    INVALID_PROVIDER,
    MODIFIED,
    NOT_CERTIFIED,
    PARTLY_CERTIFIED,
    PENDED,
    SUBSCRIBER_NOT_FOUND,
    Decision,
    EventDecision,
    Rejection,
    write_278,
)
from tests.unit.test_reader278 import CORPUS, OWN, REQUESTS, RESPONSES
from tests.x217_oracle import x217_errors

NOW = datetime(2026, 11, 2, 9, 31)


def _request(data: str | bytes) -> ReviewRequest:
    read = read_278(data.encode() if isinstance(data, str) else data)
    assert isinstance(read, ReviewRequest), read
    return read


def _write(request: ReviewRequest, decisions: list[EventDecision], control: int = 42) -> str:
    out = io.StringIO()
    write_278(out, request, decisions, control=control, created=NOW)
    return out.getvalue()


def _segments(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.stem)
def test_the_guides_own_responses_pass_the_oracle(path: Path) -> None:
    assert x217_errors(path.read_text()) == []


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("HCR*A1*AUTH0001", "HCR*A1", "HCR02"),
        ("HCR*A1*AUTH0001", "HCR*ZZ*AUTH0001", "HCR01"),
        ("TRN*2*111099", "TRN*1*111099", "TRN*2"),
        ("HL*4*3*EV*0", "HL*4*2*EV*0", "HL02"),
        ("SE*18*0001", "SE*17*0001", "SE"),
        ("UM*SC*I*3*11:B~HCR", "HCR", "no UM"),
        ("HI*BF:41090:D8:20050430~HSD", "HSD*VS*1~HI*BF:41090:D8:20050430~HSD", "out of place"),
        ("DTP*AAH*RD8*20050502-20050602", "DTP*472*RD8*20050502-20050602", "DTP01"),
    ],
)
def test_the_oracle_finds_what_is_wrong(old: str, new: str, says: str) -> None:
    text = (CORPUS / "referral-response-to-request-for-review.x12").read_text().replace("\n", "")
    assert old in text
    errors = x217_errors(text.replace(old, new))
    assert any(says in e for e in errors), errors


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_each_action_is_written(action: str) -> None:
    request = _request(OWN)
    [event] = request.events
    certifies = action in CERTIFYING
    decision = Decision(
        action,
        certification_number="CE-2026-000123" if certifies else "",
        reason="0U" if action == NOT_CERTIFIED else "",
        approved_units=Decimal(4) if certifies else None,
        approved_from=date(2026, 11, 10) if certifies else None,
        approved_through=date(2026, 12, 9) if certifies else None,
    )
    text = _write(request, [EventDecision(event, decision)])
    assert x217_errors(text) == [], text
    segs = _segments(text)
    hcr = [s for s in segs if s.startswith("HCR")]
    expected = f"HCR*{action}*CE-2026-000123" if certifies else f"HCR*{action}"
    if action == NOT_CERTIFIED:
        expected = "HCR*A3**0U"
    assert hcr == [expected] * 3  # the event and, with the event's answer, its two services
    assert ("DTP*007*D8*20261110" in segs) is certifies
    assert ("DTP*036*D8*20261209" in segs) is certifies
    assert ("HSD*VS*4" in segs) is certifies  # the event asked for visits (HSD*VS*6)


def test_the_response_to_our_request_segment_by_segment() -> None:
    """Worked by hand from OWN: the event certified in part (4 of the 6 visits asked, 10
    November to 9 December), the knee arthroscopy certified, the day of room not."""
    request = _request(OWN)
    [event] = request.events
    decisions = [
        EventDecision(
            event,
            Decision(
                PARTLY_CERTIFIED,
                "CE-1",
                approved_units=Decimal(4),
                approved_from=date(2026, 11, 10),
                approved_through=date(2026, 12, 9),
                administrative_reference="ADM-1",
            ),
            (
                Decision(CERTIFIED, "CE-1", approved_units=Decimal(1)),
                Decision(NOT_CERTIFIED, reason="0U"),
            ),
        )
    ]
    text = _write(request, decisions)
    assert _segments(text) == [
        "ISA*00*          *00*          *ZZ*CLAIMSENGINE   *ZZ*PROVIDER01     *261102*0931*^*00501"
        "*000000042*0*T*:",
        "GS*HI*CLAIMSENGINE*PROVIDER01*20261102*0931*42*X*005010X217",
        "ST*278*0001*005010X217",
        "BHT*0007*11*R-1*20261102*0931",
        "HL*1**20*1",
        "NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        "NM1*1P*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230",
        "HL*3*2*22*1",
        "NM1*IL*1*HILL*LIAM****MI*PG00000100",
        "HL*4*3*23*1",
        "NM1*QC*1*HILL*MIA",
        "DMG*D8*20150310*F",
        "HL*5*4*EV*1",
        "TRN*2*EV-1*9877281234",
        "UM*HS*I*2*11:B**U",
        "HCR*A2*CE-1",
        "REF*NT*ADM-1",
        "DTP*AAH*RD8*20261110-20261120",
        "DTP*007*D8*20261110",
        "DTP*036*D8*20261209",
        "HI*ABK:M25561*ABF:M2351",
        "HSD*VS*4",
        "NM1*SJ*1*STONE*ANA****XX*1234567893",
        "HL*6*5*SS*0",
        "TRN*2*SV-1*9877281234",
        "HCR*A1*CE-1",
        "DTP*472*D8*20261110",
        "SV1*HC:29881:LT:59*4331*UN*1",
        "HSD*FL*1",
        "NM1*SJ*1*STONE*ANA****XX*1234567893",
        "HL*7*5*SS*0",
        "HCR*A3**0U",
        "SV2*0360*HC:29881*1200*UN*1",
        "SE*33*0001",
        "GE*1*42",
        "IEA*1*000000042",
    ]
    assert x217_errors(text) == []
    again = _write(request, [EventDecision(event, decisions[0].decision)])
    assert again != text  # the services' own decisions are what differ
    assert _write(request, decisions) == text  # the same request and decisions, the same bytes


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_the_response_to_each_request_of_the_guide_is_valid(path: Path) -> None:
    request = _request(path.read_bytes())
    [event] = request.events
    decision = Decision(
        MODIFIED,
        "AUTH0002",
        approved_units=Decimal(5),
        approved_from=date(2005, 5, 16),
        approved_through=date(2005, 5, 20),
    )
    text = _write(request, [EventDecision(event, decision)], control=10216)
    assert x217_errors(text) == [], text
    segs = _segments(text)
    assert segs[3].startswith("BHT*0007*11*")
    for trace in event.traces:
        assert f"TRN*2*{trace.number}*{trace.company}" in segs
    assert segs.count("HCR*A6*AUTH0002") == 1 + len(event.services)
    assert [s for s in segs if s.startswith("HL*")][-1].endswith("*0")
    assert _write(request, [EventDecision(event, decision)], control=10216) == text


def test_services_are_written_under_their_event() -> None:
    """The guide's transportation request nests its services (HL*6*5*SS): the response puts
    each under the event (HL02 the event's HL), as its own example response does."""
    request = _request((CORPUS / "request-for-non-emergency-transportation.x12").read_bytes())
    [event] = request.events
    text = _write(request, [EventDecision(event, Decision(CERTIFIED, "2005010796321"))])
    assert x217_errors(text) == []
    assert [s for s in _segments(text) if s.startswith("HL*")][-3:] == [
        "HL*5*4*SS*0",
        "HL*6*4*SS*0",
        "HL*7*4*SS*0",
    ]
    assert "SV1*HC:A0428:PD*UN*8" not in text and "SV1*HC:A0428:PD**UN*8" in text


def test_rejections_are_aaa_in_their_loop_and_no_hcr() -> None:
    request = _request(OWN)
    [event] = request.events
    for loop, reason in (("2010C", SUBSCRIBER_NOT_FOUND), ("2010B", INVALID_PROVIDER)):
        text = _write(request, [EventDecision(event, Decision(rejection=Rejection(loop, reason)))])
        assert x217_errors(text) == [], text
        segs = _segments(text)
        assert f"AAA*N**{reason}*C" in segs
        assert not any(s.startswith(("HCR", "HSD*", "DTP*007", "DTP*036")) for s in segs)
        placed = segs[segs.index(f"AAA*N**{reason}*C") - 1]
        assert placed.startswith("NM1*IL" if loop == "2010C" else "NM1*1P")
    later = Rejection("2000E", "42", "R")
    text = _write(request, [EventDecision(event, Decision(rejection=later))])
    assert x217_errors(text) == [] and "AAA*Y**42*R" in _segments(text)


def test_a_pended_event_with_a_service_answered_on_its_own() -> None:
    request = _request(OWN)
    [event] = request.events
    decision = EventDecision(
        event,
        Decision(PENDED, administrative_reference="Q-7"),
        (Decision(PENDED), Decision(rejection=Rejection("2000F", "15"))),
    )
    text = _write(request, [decision])
    assert x217_errors(text) == [], text
    segs = _segments(text)
    assert segs.count("HCR*A4") == 2 and "AAA*N**15*C" in segs and "REF*NT*Q-7" in segs


def test_what_cannot_be_written_is_refused() -> None:
    request = _request(OWN)
    [event] = request.events
    with pytest.raises(ValueError, match="in order"):
        _write(request, [])
    with pytest.raises(ValueError, match="each of its services"):
        _write(request, [EventDecision(event, Decision(PENDED), (Decision(PENDED),))])
    with pytest.raises(ValueError, match="action code"):
        Decision("A5")
    with pytest.raises(ValueError, match="no action"):
        Decision(CERTIFIED, rejection=Rejection("2010C", SUBSCRIBER_NOT_FOUND))
    with pytest.raises(ValueError, match="no place"):
        Rejection("2100C", SUBSCRIBER_NOT_FOUND)


def test_values_holding_a_delimiter_are_cleaned() -> None:
    request = _request(OWN)
    [event] = request.events
    text = _write(request, [EventDecision(event, Decision(CERTIFIED, "CE*1~2:3"))])
    assert "HCR*A1*CE123" in _segments(text) and x217_errors(text) == []
