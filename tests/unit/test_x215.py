"""The 278 inquiry (005010X215) read and answered, without a store.

No library at hand knows the X215 guide and the corpus has no example of it: the hand-made
pair of ``fixtures/x12/278/x215`` (an inquiry, and the response to it when the request it
names was certified) is read by the reader, written back by the writer byte for byte, and
checked by ``tests/x215_oracle.py`` (the tests' own parser, sharing no code with the engine),
which is shown to find what is wrong. An X215 set is told from an X217 one by its GS08 / ST03
only; the X217 reading is unchanged.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest

from claims_engine.x12.envelope_walk import Unreadable
from claims_engine.x12.reader278 import ReviewRequest, read_278
from claims_engine.x12.writer278 import (
    ACTIONS,
    AUTHORIZATION_NOT_FOUND,
    CERTIFIED,
    CERTIFYING,
    INVALID_PROVIDER,
    NOT_CERTIFIED,
    Decision,
    EventDecision,
    Rejection,
    write_278,
)
from tests.unit.test_reader278 import CORPUS
from tests.x215_oracle import x215_errors
from tests.x217_oracle import x217_errors

X215 = CORPUS / "x215"
INQUIRY = X215 / "inquiry.x12"
RESPONSE = X215 / "response-to-inquiry.x12"
ANSWERED_AT = datetime(2026, 11, 20, 10, 1)


def _read(data: str | bytes) -> ReviewRequest:
    read = read_278(data.encode() if isinstance(data, str) else data)
    assert isinstance(read, ReviewRequest), read
    return read


def _write(request: ReviewRequest, decisions: list[EventDecision], control: int = 42) -> str:
    out = io.StringIO()
    write_278(out, request, decisions, control=control, created=ANSWERED_AT)
    return out.getvalue()


def _flat(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


def _certified(request: ReviewRequest) -> list[EventDecision]:
    [event] = request.events
    decision = Decision(
        CERTIFIED,
        "PA20260000001",
        approved_units=Decimal(6),
        approved_from=date(2026, 11, 10),
        approved_through=date(2026, 11, 20),
    )
    return [EventDecision(event, decision)]


def test_the_inquiry_is_read() -> None:
    request = _read(INQUIRY.read_bytes())
    [transaction] = request.transactions
    assert transaction.inquiry and transaction.implementation == "005010X215"
    [event] = request.events
    assert event.inquiry and event.previous_authorization == "PA20260000001"
    assert (event.trace_number, event.requester_npi, event.member_id) == (
        "INQ-215-1",
        "2781759230",
        "PG00000100",
    )
    assert event.review.certification_type == "" and event.kind == "initial"
    assert event.date_of("AAH") == (date(2026, 11, 10), date(2026, 11, 20))


def test_the_hand_made_response_passes_the_oracle_and_is_what_the_writer_writes() -> None:
    expected = RESPONSE.read_text()
    assert x215_errors(expected) == []
    request = _read(INQUIRY.read_bytes())
    written = _write(request, _certified(request))
    assert _flat(written) == _flat(expected)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("GS*HI*CLAIMSENGINE*CLINIC278*20261120*1001*42*X*005010X215", None, "GS08"),
        ("ST*278*0001*005010X215", "ST*278*0001*005010X217", "ST03"),
        ("BHT*0007*11", "BHT*0007*13", "BHT"),
        ("HCR*A1*PA20260000001~", "", "no HCR and no AAA"),
        ("HCR*A1*PA20260000001~", "AAA*N**AA*C~HCR*A1*PA20260000001~", "both"),
        ("HCR*A1*PA20260000001", "HCR*A1", "HCR02"),
        ("TRN*2*INQ-215-1", "TRN*1*INQ-215-1", "TRN*2"),
        ("UM*HS**2*11:B", "UM*HS*Z*2*11:B", "UM02"),
    ],
)
def test_the_oracle_finds_what_is_wrong(old: str, new: str | None, says: str) -> None:
    text = _flat(RESPONSE.read_text())
    assert old in text
    if new is None:
        new = old.replace("005010X215", "005010X217")
    if says in ("no HCR and no AAA", "both"):  # the segment count follows
        count = 18 + (new.count("~") - old.count("~"))
        text = text.replace("SE*18*0001", f"SE*{count}*0001")
    errors = x215_errors(text.replace(old, new))
    assert any(says in e for e in errors), errors


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_action_is_a_valid_answer(action: str) -> None:
    request = _read(INQUIRY.read_bytes())
    [event] = request.events
    certifies = action in CERTIFYING
    decision = Decision(
        action,
        "PA20260000001" if certifies else "",
        reason="0F" if action == NOT_CERTIFIED else "",
        approved_units=Decimal(2) if certifies else None,
        approved_from=date(2026, 11, 10) if certifies else None,
        approved_through=date(2026, 11, 20) if certifies else None,
        administrative_reference="" if certifies else "PA20260000001",
    )
    text = _write(request, [EventDecision(event, decision)])
    assert x215_errors(text) == [], text
    assert f"HCR*{action}" in text


@pytest.mark.parametrize(
    ("loop", "reason"), [("2000E", AUTHORIZATION_NOT_FOUND), ("2010B", INVALID_PROVIDER)]
)
def test_an_inquiry_not_answered_says_why(loop: str, reason: str) -> None:
    request = _read(INQUIRY.read_bytes())
    [event] = request.events
    text = _write(request, [EventDecision(event, Decision(rejection=Rejection(loop, reason)))])
    assert x215_errors(text) == [], text
    assert f"AAA*N**{reason}*C" in text and "HCR*" not in text


def test_what_an_inquiry_may_say_and_may_not() -> None:
    data = INQUIRY.read_text()
    assert isinstance(read_278(data.replace("BHT*0007*13", "BHT*0007*28").encode()), ReviewRequest)
    for bad in ("BHT*0007*11", "BHT*0007*01"):  # an answer, a cancellation: no inquiry
        assert isinstance(read_278(data.replace("BHT*0007*13", bad).encode()), Unreadable)
    with_type = data.replace("BHT*0007*13*INQ-215*20261120*1000", "BHT*0007*13*I*20261120*1000*RD")
    assert isinstance(read_278(with_type.encode()), ReviewRequest)  # BHT06 read past


def test_a_dependents_query_in_the_shape_public_senders_use_is_read_and_answered() -> None:
    """The X215 inquiries found in public code (payer test clients; no guide example was
    available) send BHT02 ``28`` (query), not 13, and a dependent's event carrying a full UM
    (UM02 given), the payer's REF*NT, the event date and the event provider (2010EA), with no
    TRN. Such an inquiry, made here by hand in that shape, is read as one and its answer
    passes the oracle."""
    inquiry = "~".join(
        [
            *_flat(INQUIRY.read_text()).split("~")[:3],
            "BHT*0007*28*INQ-216*20261120*1000",
            "HL*1**20*1",
            "NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001",
            "HL*2*1*21*1",
            "NM1*1P*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230",
            "HL*3*2*22*1",
            "NM1*IL*1*HILL*LIAM****MI*PG00000100",
            "HL*4*3*23*1",
            "NM1*QC*1*HILL*EMMA",
            "DMG*D8*20150301*F",
            "HL*5*4*EV*0",
            "UM*AR*I*48*21:A",
            "REF*NT*PA20260000001",
            "DTP*AAH*RD8*20261110-20261120",
            "NM1*SJ*2*BUCKEYE FAMILY MEDICINE*****XX*2781759230",
            "SE*17*0001",
            "GE*1*215",
            "IEA*1*000000215",
        ]
    )
    request = _read(inquiry + "~")
    [event] = request.events
    assert event.inquiry and event.previous_reference == "PA20260000001"
    assert event.dependent is not None and event.trace_number == ""
    assert event.review.certification_type == "I"
    text = _write(request, [EventDecision(event, Decision(CERTIFIED, "PA20260000001"))])
    assert x215_errors(text) == [], text
    assert "HL*4*3*23*1~" in _flat(text) and "HCR*A1*PA20260000001~" in _flat(text)


def test_an_x217_request_still_needs_its_certification_type() -> None:
    path = CORPUS / "referral-request-for-review.x12"
    data = path.read_text()
    assert "UM*SC*I*" in data
    assert isinstance(read_278(data.replace("UM*SC*I*", "UM*SC**").encode()), Unreadable)
    assert not _read(path.read_bytes()).events[0].inquiry


def test_an_interchange_of_both_guides_is_answered_in_a_group_each() -> None:
    """A request for review (X217) and an inquiry (X215) in one interchange: one functional
    group answers each, under its own guide, the second GS06 one more than the first."""
    inquiry = _flat(INQUIRY.read_text()).split("~")
    referral = _flat((CORPUS / "referral-request-for-review.x12").read_text()).split("~")
    inquiry_group = [s for s in inquiry if s and not s.startswith(("ISA", "IEA"))]
    referral_group = [s for s in referral if s and not s.startswith(("ISA", "IEA"))]
    isa = inquiry[0]
    data = "~".join([isa, *referral_group, *inquiry_group, "IEA*2*000000215"]) + "~"
    request = _read(data)
    assert [t.implementation for t in request.transactions] == ["005010X217", "005010X215"]
    decisions = [
        EventDecision(e, Decision(CERTIFIED, "PA20260000001", approved_units=Decimal(1)))
        for e in request.events
    ]
    text = _write(request, decisions, control=7)
    segments = text.replace("\n", "").split("~")
    assert [s for s in segments if s.startswith(("GS", "GE", "IEA"))] == [
        "GS*HI*CLAIMSENGINE*CLINIC278*20261120*1001*7*X*005010X217",
        "GE*1*7",
        "GS*HI*CLAIMSENGINE*CLINIC278*20261120*1001*8*X*005010X215",
        "GE*1*8",
        "IEA*2*000000007",
    ]
    # each group, as its own interchange, passes its guide's oracle
    isa_out, *rest = segments
    second = rest.index("GS*HI*CLAIMSENGINE*CLINIC278*20261120*1001*8*X*005010X215")
    x217_part = "~".join([isa_out, *rest[:second], "IEA*1*000000007"]) + "~"
    x215_part = "~".join([isa_out, *rest[second:-2], "IEA*1*000000007"]) + "~"
    assert x217_errors(x217_part) == [], x217_part
    assert x215_errors(x215_part) == [], x215_part
