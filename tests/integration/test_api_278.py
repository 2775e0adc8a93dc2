"""Health care services review requests (278 in, 278 out) through ``POST /v1/x12/278`` and
``claims-engine authorize``, on SQLite and PostgreSQL, with a decider of the tests' own at the
``decide`` seam (the prior-authorization service is wired there when it exists).

Who may ask: a provider key sends only under the sender ids registered to it (ISA06 / GS02;
another's is 403, nothing of the body answered) and is answered only for requesters (2010B)
identified by its NPIs (another is AAA 43, and the decider never sees it); a member key asks
nothing. Every 278 written is checked by ``tests/x217_oracle.py`` (pyx12 has no 5010 278 map,
and no library at hand knows the 005010X217 guide); every 999 validates under pyx12.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from adapters.api.app import ApiConfig, create_app
from claims_engine.cli import authorize_commands
from claims_engine.cli.main import main
from claims_engine.domain.prior_auth import Action, AuthService, Source, Urgency
from claims_engine.services import authorizations as pa
from claims_engine.services.access import Principal, Role, create_key, reads_of
from claims_engine.services.claim_inquiry import UnusableInquiry
from claims_engine.services.reference import store_reference
from claims_engine.services.review_requests import answer_278, auth_request
from claims_engine.store.db import upgrade
from claims_engine.store.vault import current_vault
from claims_engine.x12.reader278 import ReviewRequest, read_278
from claims_engine.x12.writer278 import (
    CERTIFIED,
    SUBSCRIBER_NOT_FOUND,
    Decision,
    Decisions,
    EventDecision,
    Rejection,
)
from tests.integration.pipeline_support import NOW, REFERENCE, RULES
from tests.unit.test_reader278 import CORPUS, REQUESTS
from tests.x12_oracle import pyx12_errors
from tests.x217_oracle import x217_errors
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

BUCKEYE_NPI = "2781759230"
OTHER_NPI = "1234567893"
SENDER = "CLINIC278"
MEMBER = "PG00000100"


def build_278(
    *,
    npi: str = BUCKEYE_NPI,
    member: str = MEMBER,
    sender: str = SENDER,
    control: int = 1,
    trace: str = "EV-1",
    code: str = "29881:LT",
    diagnosis: str = "M25561",
    certification: str = "I",
    level: str = "U",
    earlier: str = "",
) -> bytes:
    body = [
        "BHT*0007*13*R-1*20261102*0930",
        "HL*1**20*1",
        "NM1*X3*2*CLAIMS ENGINE PAYER*****PI*CE001",
        "HL*2*1*21*1",
        f"NM1*1P*2*A CLINIC*****XX*{npi}",
        "HL*3*2*22*1",
        f"NM1*IL*1*HILL*LIAM****MI*{member}",
        "HL*4*3*EV*1",
        f"TRN*1*{trace}*9877281234",
        f"UM*HS*{certification}*2*11:B**{level}".rstrip("*"),
        *([f"REF*BB*{earlier}"] if earlier else []),
        "DTP*AAH*RD8*20261110-20261120",
        f"HI*ABK:{diagnosis}",
        "HSD*VS*6",
        "HL*5*4*SS*0",
        f"SV1*HC:{code}*4331*UN*1",
    ]
    segments = ["ST*278*0001*005010X217", *body]
    segments.append(f"SE*{len(segments) + 1}*0001")
    isa = (
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*CLAIMSENGINE   *261102*0930*^*00501"
        f"*{control:09d}*0*T*:"
    )
    gs = f"GS*HI*{sender}*CLAIMSENGINE*20261102*0930*{control}*X*005010X217"
    tail = ["GE*1*" + str(control), f"IEA*1*{control:09d}"]
    return ("~".join([isa, gs, *segments, *tail]) + "~").encode()


class FakeDecider:
    """Certifies LIAM HILL's events (4 visits, 10 November to 9 December); another member is
    not found (AAA 75). Records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[ReviewRequest, Principal]] = []

    def __call__(self, request: ReviewRequest, who: Principal) -> Decisions:
        self.asked.append((request, who))
        answers = []
        for event in request.events:
            if event.member_id == MEMBER:
                decision = Decision(
                    CERTIFIED,
                    f"CE-{event.trace_number}",
                    approved_units=Decimal(4),
                    approved_from=date(2026, 11, 10),
                    approved_through=date(2026, 12, 9),
                )
            else:
                decision = Decision(rejection=Rejection("2010C", SUBSCRIBER_NOT_FOUND))
            answers.append(EventDecision(event, decision))
        return tuple(answers)


def _segments(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


@pytest.fixture
def decider() -> FakeDecider:
    return FakeDecider()


@pytest.fixture
def client(engine: Engine, decider: FakeDecider) -> Iterator[tuple[TestClient, dict[str, str]]]:
    upgrade(engine)
    keys = {
        "insurer": create_key(engine, Role.INSURER, now=NOW).token,
        "provider": create_key(
            engine, Role.PROVIDER, now=NOW, npis=[BUCKEYE_NPI], senders=[SENDER]
        ).token,
        "member": create_key(engine, Role.MEMBER, now=NOW, member_id=MEMBER).token,
    }
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=None,
        rules_dir=RULES,
        levels=frozenset({1, 2, 3, 4, 5}),
    )
    app = create_app(
        ApiConfig(
            Environment(settings, engine),
            now=lambda: NOW + timedelta(hours=1),
            inprocess_workers=False,
            decide_278=decider,
        )
    )
    with TestClient(app) as c:
        yield c, keys


def _post(client: TestClient, token: str, body: bytes) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/edi-x12"}
    return client.post("/v1/x12/278", content=body, headers=headers)


def _counted(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "claims_inquiries_total", {"transaction": "278", "outcome": outcome}
    )
    return value or 0.0


def test_a_provider_is_answered_for_its_own_requests(
    client: tuple[TestClient, dict[str, str]], decider: FakeDecider
) -> None:
    c, keys = client
    answered = _counted("answered")
    own = _post(c, keys["provider"], build_278())
    assert own.status_code == 200, own.text
    assert own.headers["content-type"].startswith("application/edi-x12")
    assert x217_errors(own.text) == [], own.text
    segs = _segments(own.text)
    assert "TRN*2*EV-1*9877281234" in segs and segs.count("HCR*A1*CE-EV-1") == 2
    assert "DTP*007*D8*20261110" in segs and "DTP*036*D8*20261209" in segs
    assert "HSD*VS*4" in segs
    [(request, who)] = decider.asked
    assert who.role is Role.PROVIDER and [e.member_id for e in request.events] == [MEMBER]
    assert _counted("answered") == answered + 1

    nobody = _post(c, keys["provider"], build_278(member="ZZ99999999", control=2))
    assert nobody.status_code == 200 and x217_errors(nobody.text) == []
    assert "AAA*N**75*C" in _segments(nobody.text) and "HCR*" not in nobody.text


def test_another_requesters_events_are_aaa_43_and_never_decided(
    client: tuple[TestClient, dict[str, str]], decider: FakeDecider
) -> None:
    c, keys = client
    other = _post(c, keys["provider"], build_278(npi=OTHER_NPI))
    assert other.status_code == 200, other.text
    assert x217_errors(other.text) == []
    segs = _segments(other.text)
    assert "AAA*N**43*C" in segs and "HCR*" not in other.text
    assert decider.asked == []  # the decider never saw it: nothing about the member comes back
    insurer = _post(c, keys["insurer"], build_278(npi=OTHER_NPI, control=3))
    assert insurer.status_code == 200 and "HCR*A1*CE-EV-1" in _segments(insurer.text)


def test_a_body_under_another_senders_id_is_refused(
    client: tuple[TestClient, dict[str, str]], decider: FakeDecider
) -> None:
    c, keys = client
    foreign = _post(c, keys["provider"], build_278(sender="SOMEONEELSE"))
    assert foreign.status_code == 403
    error = foreign.json()["error"]
    assert error["code"] == "forbidden" and error["acknowledgment"] is None
    assert "SOMEONEELSE" in error["message"] and decider.asked == []
    member = _post(c, keys["member"], build_278())
    assert member.status_code == 403


def test_bad_input_is_answered_with_a_ta1_or_a_999(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = client
    rejected = _counted("rejected")
    broken = _post(c, keys["insurer"], build_278().replace(b"HL*4*3*EV", b"HL*4*9*EV"))
    assert broken.status_code == 422
    assert broken.json()["error"]["code"] == "transaction_sets_rejected"
    assert pyx12_errors(broken.json()["error"]["acknowledgment"]) == []
    bad_count = _post(c, keys["insurer"], build_278().replace(b"IEA*1*", b"IEA*2*"))
    assert bad_count.status_code == 400
    assert bad_count.json()["error"]["acknowledgment"].startswith("ISA*")
    assert _post(c, keys["insurer"], b"may I?").status_code == 400
    assert _counted("rejected") == rejected + 3


def test_without_reference_data_the_route_says_so(engine: Engine) -> None:
    upgrade(engine)
    token = create_key(engine, Role.INSURER, now=NOW).token
    settings = Settings(
        engine.url.render_as_string(hide_password=False), None, RULES, frozenset({1, 2, 3, 4, 5})
    )
    app = create_app(
        ApiConfig(Environment(settings, engine), now=lambda: NOW, inprocess_workers=False)
    )
    with TestClient(app) as c:
        answer = _post(c, token, build_278())
        broken = _post(c, token, build_278().replace(b"HL*4*3*EV", b"HL*4*9*EV"))
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "not_configured"
    assert broken.status_code == 422  # a request that cannot be read needs no reference data


def test_too_many_events(engine: Engine, decider: FakeDecider) -> None:
    upgrade(engine)
    insurer = Principal("k", Role.INSURER)
    with pytest.raises(UnusableInquiry) as raised:
        answer_278(engine, build_278(), principal=insurer, decide=decider, now=NOW, max_events=0)
    assert raised.value.status == 413


def test_the_authorize_command(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decider: FakeDecider,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(engine)
    monkeypatch.setenv("CLAIMS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    good = tmp_path / "ask.278"
    good.write_bytes(build_278(npi=OTHER_NPI))  # the operator speaks for the insurer
    bad = tmp_path / "bad.278"
    bad.write_bytes(build_278().replace(b"HL*4*3*EV", b"HL*4*9*EV"))
    out = tmp_path / "out"
    assert main(["authorize", str(good), "--out", str(out)]) == 2  # no reference data: says so
    assert "claims-engine: error:" in capsys.readouterr().err
    monkeypatch.setattr(authorize_commands, "wired_decide", lambda engine, now: decider)
    assert main(["authorize", str(good), str(bad), "--out", str(out)]) == 1
    said = capsys.readouterr().out
    assert "ask.278: 278 written" in said and "bad.278: not answered" in said
    assert "(1 event: 1 reviewed, 0 rejected)" in said
    response = (out / "ask.278.278").read_text()
    assert x217_errors(response) == [] and "HCR*A1*CE-EV-1" in response
    assert pyx12_errors((out / "bad.278.999").read_text()) == []


def _event(data: bytes) -> Any:
    read = read_278(data)
    assert isinstance(read, ReviewRequest), read
    [event] = read.events
    return event


def test_an_event_as_the_prior_authorization_services_request() -> None:
    asked = auth_request(_event(build_278()))
    assert (asked.member_id, asked.subscriber_id, asked.requesting_npi) == (
        MEMBER,
        MEMBER,
        BUCKEYE_NPI,
    )
    assert (asked.urgency, asked.source, asked.trace, asked.appeal_of) == (
        Urgency.EXPEDITED,
        Source.X12,
        "EV-1",
        "",
    )
    assert asked.diagnoses == ("M25561",) and asked.servicing_npi == ""
    # the service line's one unit, on the event's days (DTP*AAH) as it has none of its own
    assert asked.services == (
        AuthService(
            "29881",
            Decimal(1),
            date(2026, 11, 10),
            date(2026, 11, 20),
            modifiers=("LT",),
            place_of_service="11",
        ),
    )
    asked.check()
    appeal = (
        build_278().replace(b"UM*HS*I*", b"UM*HS*1*").replace(b"DTP*AAH", b"REF*BB*CE-9~DTP*AAH")
    )
    appeal = appeal.replace(b"SE*17*", b"SE*18*")
    assert auth_request(_event(appeal)).appeal_of == "CE-9"


def test_an_admission_without_its_own_service_line() -> None:
    """The guide's emergency admission names no service: the event is one, its 3 days (HSD*DY)
    from the admission (DTP*435 20050505), UM03 A4 (psychiatric) as its code."""
    path = CORPUS / "emergency-admission-request-for-review.x12"
    asked = auth_request(_event(path.read_bytes()))
    assert asked.urgency is Urgency.EXPEDITED and asked.requesting_npi == "8189991234"
    assert asked.diagnoses == ("29603",) and asked.servicing_npi == ""
    assert asked.services == (
        AuthService(
            "A4",
            Decimal(3),
            date(2005, 5, 5),
            date(2005, 5, 5),
            unit="days",
            place_of_service="21",
        ),
    )


# -- end to end: the prior-authorization service decides ------------------------------------------
@pytest.fixture
def service(engine: Engine) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API on a store with the fixture reference data and rules (rules/prior-auth): no
    decider of the tests', the prior-authorization service's."""
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    keys = {
        "insurer": create_key(engine, Role.INSURER, now=NOW).token,
        "provider": create_key(
            engine, Role.PROVIDER, now=NOW, npis=[BUCKEYE_NPI], senders=[SENDER]
        ).token,
        "other": create_key(
            engine, Role.PROVIDER, now=NOW, npis=[OTHER_NPI], senders=["OTHER278"]
        ).token,
    }
    settings = Settings(
        engine.url.render_as_string(hide_password=False), None, RULES, frozenset({1, 2, 3, 4, 5})
    )
    app = create_app(
        ApiConfig(
            Environment(settings, engine),
            now=lambda: NOW + timedelta(hours=1),
            inprocess_workers=False,
        )
    )
    with TestClient(app) as c:
        yield c, keys


def _hcr(text: str) -> list[str]:
    assert x217_errors(text) == [], text
    return [s for s in _segments(text) if s.startswith(("HCR", "AAA", "REF*NT"))]


NUMBER = re.compile(r"PA\d{11}")


def test_the_service_decides_by_the_rules(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    """LIAM HILL (PPO-GOLD), asked for by Buckeye Family Medicine (in network): a lumbar MRI
    (72148) for uncomplicated low back pain (M5450), standard, is denied by
    PA-LUMBAR-MRI-UNCOMPLICATED (HCR03 0F, not medically necessary, of X12's list 886; the
    decisions file's code LBP6W and the reason in words in the event's MSG); with a red flag
    (G834) it is approved, one study (PA-LUMBAR-MRI-RED-FLAGS); an office visit (99213) needs
    no authorization (NA); bariatric surgery (43644) is pended to a reviewer (PA-BARIATRIC),
    its number the REF*NT."""
    c, keys = service
    p = keys["provider"]
    denied = _post(c, p, build_278(trace="T-1", code="72148", diagnosis="M5450", level=""))
    assert denied.status_code == 200, denied.text
    event, reference, line = _hcr(denied.text)
    assert event == line == "HCR*A3**0F"  # the event, then its one service
    assert NUMBER.fullmatch(reference.removeprefix("REF*NT*"))
    [message] = [s for s in _segments(denied.text) if s.startswith("MSG*")]
    assert message.startswith("MSG*LBP6W - Imaging for uncomplicated low back pain is not")
    assert len(message) <= len("MSG*") + 264 and "LBP6W" not in event

    flags = _post(c, p, build_278(trace="T-2", code="72148", diagnosis="G834", control=2))
    segs = _segments(flags.text)
    [event_hcr, service_hcr] = [s for s in segs if s.startswith("HCR")]
    number = event_hcr.split("*")[2]
    assert NUMBER.fullmatch(number) and event_hcr == f"HCR*A1*{number}" == service_hcr
    assert "DTP*007*D8*20261110" in segs and "DTP*036*D8*20261120" in segs
    assert "HSD*FL*1" in segs and x217_errors(flags.text) == []
    reads = reads_of(engine, "member", current_vault().lookup(MEMBER))
    assert [r["route"] for r in reads] == ["/v1/x12/278", "/v1/x12/278"]

    again = _post(c, p, build_278(trace="T-2", code="72148", diagnosis="G834", control=3))
    assert f"HCR*A1*{number}" in _segments(again.text)  # sent again: as it stands

    visit = _post(c, p, build_278(trace="T-3", code="99213", control=4))
    assert _hcr(visit.text)[:1] == ["HCR*NA"]

    bariatric = _post(c, p, build_278(trace="T-4", code="43644", diagnosis="E6601", control=5))
    pended = _hcr(bariatric.text)
    assert pended[0] == "HCR*A4" and NUMBER.fullmatch(pended[1].removeprefix("REF*NT*"))


def test_a_request_about_an_earlier_one_is_answered_with_its_state(
    service: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = service
    p = keys["provider"]
    first = _post(c, p, build_278(trace="T-10", code="43644", diagnosis="E6601"))
    number = _hcr(first.text)[1].removeprefix("REF*NT*")
    # an extension naming it: what it stands at (still pended)
    ask = build_278(trace="T-11", certification="4", earlier=number, control=2)
    assert _hcr(_post(c, p, ask).text)[:2] == ["HCR*A4", f"REF*NT*{number}"]
    # another provider's key asking about it: as for a number that does not exist
    theirs = build_278(
        npi=OTHER_NPI, sender="OTHER278", trace="T-12", certification="4", earlier=number
    )
    answered = _post(c, keys["other"], theirs)
    assert _hcr(answered.text) == ["AAA*N**AA*C"]
    nothing = _post(c, p, build_278(trace="T-13", certification="4", earlier="PA20269999999"))
    assert _hcr(nothing.text) == ["AAA*N**AA*C"]
    # a cancel naming it: cancelled
    cancel = build_278(trace="T-14", certification="3", earlier=number, control=3)
    assert _hcr(_post(c, p, cancel).text)[:2] == ["HCR*C", f"REF*NT*{number}"]


def test_a_member_the_payer_does_not_know_is_aaa_75(
    service: tuple[TestClient, dict[str, str]],
) -> None:
    c, keys = service
    answer = _post(c, keys["insurer"], build_278(member="ZZ99999999", trace="T-20"))
    assert answer.status_code == 200 and _hcr(answer.text) == ["AAA*N**75*C"]


def test_the_guides_requests_are_answered(service: tuple[TestClient, dict[str, str]]) -> None:
    """Each request of the guide's examples, asked by the insurer: read, and answered with a
    valid response: its member unknown to the fixture reference data (AAA 75 in 2010C), or,
    for the request that says no date of service (the referral), AAA 15 (2000E): the service
    needs the days asked before it looks anything up (the home health request's are its CR6
    certification period)."""
    c, keys = service
    answered = {}
    for path in REQUESTS:
        answer = _post(c, keys["insurer"], path.read_bytes())
        assert answer.status_code == 200, (path.name, answer.text)
        answered[path.stem] = _hcr(answer.text)
    undated = {"referral-request-for-review"}
    assert answered == {
        name: ["AAA*N**15*C"] if name in undated else ["AAA*N**75*C"] for name in answered
    }


def _dependent_278(*, born: str, trace: str, code: str = "43644", control: int = 1) -> bytes:
    """SOPHIA JOHNSON's policy (PG00000200) asked about for a dependent in loop 2000D: LIAM
    JACKSON, her spouse, born 1975-01-02 in the fixtures (PG00000201, an id of his own)."""
    plain = build_278(member="PG00000200", trace=trace, code=code, control=control).decode()
    plain = plain.replace(
        "NM1*IL*1*HILL*LIAM****MI*PG00000200~HL*4*3*EV*1~",
        f"NM1*IL*1*JOHNSON*SOPHIA****MI*PG00000200~HL*4*3*23*1~NM1*QC*1*JACKSON*LIAM~"
        f"DMG*D8*{born}~HL*5*4*EV*1~",
    )
    plain = plain.replace("HL*5*4*SS*0", "HL*6*5*SS*0").replace("SE*17*", "SE*20*")
    return plain.encode()


def test_a_dependents_request_is_the_dependents(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    """A 278 for a dependent (2000D) names the policy by the subscriber's id (2010C): the
    request is the dependent's (PG00000201, the member id the payer knows him by, found by his
    birth date and first name on her policy), not the subscriber's; a dependent the policy does
    not have is AAA 67 (patient not found) in 2010D."""
    c, keys = service
    event = _event(_dependent_278(born="19750102", trace="D-1"))
    asked = auth_request(event)
    assert (asked.member_id, asked.relationship, asked.patient_first_name) == (
        "PG00000200",
        "G8",
        "LIAM",
    )
    assert asked.patient_birth_date == date(1975, 1, 2)

    answer = _post(c, keys["provider"], _dependent_278(born="19750102", trace="D-1"))
    assert answer.status_code == 200, answer.text
    pended = _hcr(answer.text)  # bariatric surgery: a reviewer's
    assert pended[0] == "HCR*A4"
    number = pended[1].removeprefix("REF*NT*")
    insurer = Principal("k", Role.INSURER)
    view = pa.inquire(engine, insurer, number=number)
    assert (view.member_id, view.subscriber_id) == ("PG00000201", "PG00000200")
    # the health data read is the dependent's, and the audit says so
    assert [r["route"] for r in reads_of(engine, "member", current_vault().lookup("PG00000201"))]
    assert not reads_of(engine, "member", current_vault().lookup("PG00000200"))

    nobody = _post(c, keys["provider"], _dependent_278(born="19750103", trace="D-2", control=2))
    assert nobody.status_code == 200 and x217_errors(nobody.text) == [], nobody.text
    segments = _segments(nobody.text)
    assert _hcr(nobody.text) == ["AAA*N**67*C"]
    assert segments.index("AAA*N**67*C") == segments.index("NM1*QC*1*JACKSON*LIAM") + 1


def test_a_reviewers_denial_carries_an_x12_reason(
    engine: Engine, service: tuple[TestClient, dict[str, str]]
) -> None:
    """A denial by a reviewer (no decision rule's code) is answered HCR03 0F (code list 886,
    not medically necessary), with the reviewer's words in the event's MSG."""
    c, keys = service
    first = _post(c, keys["provider"], build_278(trace="R-1", code="43644", diagnosis="E6601"))
    number = _hcr(first.text)[1].removeprefix("REF*NT*")
    pa.decide(
        engine,
        number,
        Action.NOT_CERTIFIED,
        "dr-who",
        NOW + timedelta(hours=2),
        reason="BMI under 35 without comorbidity",
    )
    ask = build_278(trace="R-2", certification="4", earlier=number, control=2)
    answer = _post(c, keys["provider"], ask)
    assert _hcr(answer.text)[:1] == ["HCR*A3**0F"]
    assert "MSG*BMI under 35 without comorbidity" in _segments(answer.text)
