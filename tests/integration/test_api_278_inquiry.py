"""The 278 inquiry (005010X215): a provider asks where an earlier request stands, through the
same ``POST /v1/x12/278`` (told apart by GS08 / ST03) and ``claims-engine authorize``, on
SQLite and PostgreSQL, with the prior-authorization service of the fixture reference data and
rules (``rules/prior-auth``).

What a pended request becomes is what the inquiry says: submitted by a 278 request (X217) and
pended (A4), decided by a reviewer (``authorizations.decide``), then asked about (X215): the
decision, its number, dates and units. An inquiry creates and changes nothing; a provider key
asks only for its own requesting NPIs (another is AAA 43), and a number that is not its own,
not its member's, or that does not exist, reads the same (AAA AA). Every response is checked
by ``tests/x215_oracle.py``; every 999 validates under pyx12.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from claims_engine.cli import authorize_commands
from claims_engine.cli.main import main
from claims_engine.domain.prior_auth import Action
from claims_engine.services import authorizations as pa
from claims_engine.store.tables import (
    prior_authorization_events_table,
    prior_authorizations_table,
)
from claims_engine.x12.reader278 import ReviewRequest
from claims_engine.x12.writer278 import Decisions
from tests.integration.pipeline_support import NOW
from tests.integration.test_api_278 import (
    BUCKEYE_NPI,
    MEMBER,
    NUMBER,
    OTHER_NPI,
    SENDER,
    _post,
    _segments,
    build_278,
    service,
)
from tests.x12_oracle import pyx12_errors
from tests.x215_oracle import x215_errors
from tests.x217_oracle import x217_errors

pytestmark = pytest.mark.integration

__all__ = ["service"]  # the fixture, shared with the X217 tests

REVIEWER = "dr-reviewer"


def build_215(
    *,
    number: str = "",
    qualifier: str = "BB",
    npi: str = BUCKEYE_NPI,
    member: str = MEMBER,
    sender: str = SENDER,
    control: int = 215,
    trace: str | None = "INQ-1",
) -> bytes:
    """An inquiry (005010X215) about the request ``number`` (REF*``qualifier``; none: by the
    requester's trace ``trace``; ``None``: no TRN)."""
    body = [
        "BHT*0007*13*Q-1*20261102*1030",
        "HL*1**20*1",
        "NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        f"NM1*1P*2*A CLINIC*****XX*{npi}",
        "HL*3*2*22*1",
        f"NM1*IL*1*HILL*LIAM****MI*{member}",
        "HL*4*3*EV*0",
        *([f"TRN*1*{trace}*9877281234"] if trace is not None else []),
        "UM*HS**2*11:B",
        *([f"REF*{qualifier}*{number}"] if number else []),
    ]
    segments = ["ST*278*0001*005010X215", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    isa = (
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*CLAIMSENGINE   *261102*1030*^*00501"
        f"*{control:09d}*0*T*:"
    )
    gs = f"GS*HI*{sender}*CLAIMSENGINE*20261102*1030*{control}*X*005010X215"
    tail = [f"GE*1*{control}", f"IEA*1*{control:09d}"]
    return ("~".join([isa, gs, *segments, *tail]) + "~").encode()


def _answered(text: str) -> list[str]:
    """The answer's HCR, AAA, REF*NT, DTP*007 / 036 and HSD, once the oracle passed it."""
    assert x215_errors(text) == [], text
    wanted = ("HCR", "AAA", "REF*NT", "DTP*007", "DTP*036", "HSD")
    return [s for s in _segments(text) if s.startswith(wanted)]


def _pended(c: TestClient, token: str, trace: str, control: int) -> str:
    """A bariatric surgery request (PA-BARIATRIC: always reviewed), pended: its number."""
    asked = _post(
        c, token, build_278(trace=trace, code="43644", diagnosis="E6601", control=control)
    )
    assert asked.status_code == 200 and x217_errors(asked.text) == [], asked.text
    hcr = [s for s in _segments(asked.text) if s.startswith(("HCR", "REF*NT"))]
    assert hcr[0] == "HCR*A4", hcr
    number = hcr[1].removeprefix("REF*NT*")
    assert NUMBER.fullmatch(number)
    return number


def _stored(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        requests = conn.execute(select(func.count()).select_from(prior_authorizations_table))
        events = conn.execute(select(func.count()).select_from(prior_authorization_events_table))
        return int(requests.scalar_one()), int(events.scalar_one())


def test_a_pended_request_decided_later_is_what_the_inquiry_says(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    """Pended (A4, its number the REF*NT), asked about: still A4; approved by a reviewer, the
    6 visits asked for (HSD*VS*6 of the request), 10 to 20 November: A1, the number in
    HCR02, DTP*007 20261110 and DTP*036 20261120, HSD*FL*1 the one unit of its service line.
    Asked by its certification number (REF*BB), its administrative reference (REF*NT) or the
    requester's trace of it (TRN*1): the same answer. Nothing was stored or changed."""
    c, keys = service
    p = keys["provider"]
    number = _pended(c, p, "T-100", 1)
    still = _post(c, p, build_215(number=number))
    assert still.status_code == 200, still.text
    assert _answered(still.text) == ["HCR*A4", f"REF*NT*{number}"]
    assert "TRN*2*INQ-1*9877281234" in _segments(still.text)
    assert "ST*278*0001*005010X215" in _segments(still.text)

    pa.decide(engine, number, Action.CERTIFIED, REVIEWER, NOW)
    before = _stored(engine)
    certified = [
        f"HCR*A1*{number}",
        "DTP*007*D8*20261110",
        "DTP*036*D8*20261120",
        "HSD*FL*1",
    ]
    by_number = _post(c, p, build_215(number=number, control=216))
    assert _answered(by_number.text) == certified
    by_reference = _post(c, p, build_215(number=number, qualifier="NT", control=217))
    assert _answered(by_reference.text) == certified
    by_trace = _post(c, p, build_215(trace="T-100", control=218))
    assert _answered(by_trace.text) == certified
    assert _stored(engine) == before  # an inquiry creates and changes nothing


def test_a_denial_decided_later_is_answered_with_its_reason(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    c, keys = service
    p = keys["provider"]
    number = _pended(c, p, "T-110", 1)
    view = pa.decide(
        engine,
        number,
        Action.NOT_CERTIFIED,
        REVIEWER,
        NOW,
        reason="BMI under 35 and no supervised weight loss on record",
    )
    assert view.action == "A3"
    answer = _answered(_post(c, p, build_215(number=number)).text)
    hcr = answer[0].split("*")
    assert hcr[:2] == ["HCR", "A3"] and len(hcr) == 4 and hcr[3], answer  # HCR03: why
    assert f"REF*NT*{number}" in answer and not any(s.startswith("DTP*007") for s in answer)


def test_a_number_not_the_askers_reads_as_missing(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    """Another provider's key (its own requesting NPI), another member named, or a number
    that does not exist: the same AAA AA in 2000E, nothing of the request said. A requester
    not the key's own is AAA 43 (2010B), as for a request for review."""
    c, keys = service
    number = _pended(c, keys["provider"], "T-120", 1)
    pa.decide(engine, number, Action.CERTIFIED, REVIEWER, NOW)
    theirs = build_215(number=number, npi=OTHER_NPI, sender="OTHER278")
    not_theirs = _answered(_post(c, keys["other"], theirs).text)
    nowhere = build_215(number="PA20269999999", npi=OTHER_NPI, sender="OTHER278", control=2)
    missing = _answered(_post(c, keys["other"], nowhere).text)
    assert not_theirs == missing == ["AAA*N**AA*C"]
    by_trace = build_215(trace="T-120", npi=OTHER_NPI, sender="OTHER278", control=3)
    assert _answered(_post(c, keys["other"], by_trace).text) == ["AAA*N**AA*C"]
    someone_else = _post(c, keys["provider"], build_215(number=number, member="PG00000101"))
    assert _answered(someone_else.text) == ["AAA*N**AA*C"]
    not_the_requester = _post(c, keys["provider"], build_215(number=number, npi=OTHER_NPI))
    assert _answered(not_the_requester.text) == ["AAA*N**43*C"]
    nothing_named = _post(c, keys["provider"], build_215(trace=None))
    assert _answered(nothing_named.text) == ["AAA*N**15*C"]  # nothing to look up
    assert _post(c, keys["provider"], build_215(trace="")).status_code == 422  # TRN02: a 999
    # the insurer sees every request
    insurer = _post(c, keys["insurer"], build_215(number=number, npi=OTHER_NPI, control=4))
    assert _answered(insurer.text)[0] == f"HCR*A1*{number}"


def test_a_broken_inquiry_is_answered_with_a_ta1_or_a_999(
    service: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = service
    broken = _post(c, keys["insurer"], build_215(number="X").replace(b"HL*4*3*EV", b"HL*4*9*EV"))
    assert broken.status_code == 422
    ack = broken.json()["error"]["acknowledgment"]
    assert pyx12_errors(ack) == [] and "AK1*HI*215*005010X215" in ack
    answer_bht = _post(
        c, keys["insurer"], build_215(number="X").replace(b"BHT*0007*13", b"BHT*0007*11")
    )
    assert answer_bht.status_code == 422  # an answer (BHT02 11) is no inquiry
    bad_count = _post(c, keys["insurer"], build_215(number="X").replace(b"IEA*1*", b"IEA*2*"))
    assert bad_count.status_code == 400
    assert bad_count.json()["error"]["acknowledgment"].startswith("ISA*")


def test_the_authorize_command_answers_an_inquiry(
    engine: Engine,
    service: tuple[TestClient, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    c, keys = service
    number = _pended(c, keys["provider"], "T-130", 1)
    pa.decide(engine, number, Action.CERTIFIED, REVIEWER, NOW)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))

    def never(request: ReviewRequest, who: Any) -> Decisions:
        raise AssertionError("an inquiry is never handed to the decider")

    monkeypatch.setattr(authorize_commands, "wired_decide", lambda engine, now: never)
    asked = tmp_path / "ask.278"
    asked.write_bytes(build_215(number=number, npi=OTHER_NPI))  # the operator: the insurer
    out = tmp_path / "out"
    assert main(["authorize", str(asked), "--out", str(out)]) == 0
    assert "(1 event: 1 reviewed, 0 rejected)" in capsys.readouterr().out
    response = (out / "ask.278.278").read_text()
    assert _answered(response)[:2] == [f"HCR*A1*{number}", "DTP*007*D8*20261110"]
    assert Decimal(_answered(response)[-1].split("*")[2]) == 1
