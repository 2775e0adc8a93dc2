"""Prior authorization over FHIR (Da Vinci PAS: ``POST /fhir/r4/Claim/$submit`` and
``$inquire``) and the status routes (``GET /v1/authorizations/{number}``,
``GET /v1/authorizations?answered_since=``), on SQLite and PostgreSQL, decided by the
prior-authorization service on the fixture reference data and rules (rules/prior-auth).

The people: LIAM HILL (PG00000100, PPO-GOLD) and SOPHIA JOHNSON (PG00000200), asked for by
BUCKEYE FAMILY MEDICINE (NPI 2781759230); another practice's key holds NPI 1234567893. The
request Bundle is fixtures/fhir/pas/bariatric-request.json: bariatric surgery (43644), which
PA-BARIATRIC pends for a clinical reviewer. Every Bundle answered is parsed by the FHIR R4B
models of fhir.resources, and every error is an OperationOutcome naming where.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy import Engine

from adapters.api.app import ApiConfig, create_app
from adapters.fhir_pas import EXT_AUTHORIZATION_NUMBER, EXT_CERTIFICATION_TYPE
from claims_engine.domain.prior_auth import Action
from claims_engine.services import authorizations as pa
from claims_engine.services.access import Role, create_key, reads_of
from claims_engine.services.reference import store_reference
from claims_engine.store.db import upgrade
from claims_engine.store.vault import current_vault
from tests.conftest import FIXTURES
from tests.integration.pipeline_support import NOW, REFERENCE, RULES
from workers.settings import Environment, Settings

pytestmark = pytest.mark.integration

BUCKEYE = "2781759230"
OTHER_NPI = "1234567893"
LIAM = "PG00000100"
SOPHIA = "PG00000200"
PAS = FIXTURES / "fhir" / "pas"
REQUEST: dict[str, Any] = json.loads((PAS / "bariatric-request.json").read_text())
INQUIRY: dict[str, Any] = json.loads((PAS / "inquiry.json").read_text())
FHIR_JSON = "application/fhir+json"
CLAIM = "Bundle.entry[0].resource"


@dataclass
class Clock:
    now: datetime = NOW + timedelta(hours=1)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Served:
    client: TestClient
    engine: Engine
    clock: Clock
    keys: dict[str, str] = field(default_factory=dict)

    def post(self, key: str, operation: str, body: Any) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.keys[key]}", "Content-Type": FHIR_JSON}
        return self.client.post(f"/fhir/r4/Claim/${operation}", content=raw, headers=headers)

    def get(self, key: str, path: str, **params: str) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        return self.client.get(path, params=params, headers=headers)


@pytest.fixture
def served(engine: Engine) -> Iterator[Served]:
    upgrade(engine)
    store_reference(engine, REFERENCE, NOW)
    keys = {
        "insurer": create_key(engine, Role.INSURER, now=NOW).token,
        "provider": create_key(engine, Role.PROVIDER, now=NOW, npis=[BUCKEYE]).token,
        "other": create_key(engine, Role.PROVIDER, now=NOW, npis=[OTHER_NPI]).token,
        "liam": create_key(engine, Role.MEMBER, now=NOW, member_id=LIAM).token,
        "sophia": create_key(engine, Role.MEMBER, now=NOW, member_id=SOPHIA).token,
        "examiner": create_key(engine, Role.EXAMINER, now=NOW).token,
    }
    settings = Settings(
        engine.url.render_as_string(hide_password=False), None, RULES, frozenset({1, 2, 3, 4, 5})
    )
    clock = Clock()
    app = create_app(ApiConfig(Environment(settings, engine), now=clock, inprocess_workers=False))
    with TestClient(app) as c:
        yield Served(c, engine, clock, keys)


def _request(
    *,
    trace: str = "PA-REQ-0001",
    code: str = "43644",
    diagnosis: str = "E66.01",
    member: str = LIAM,
    npi: str = BUCKEYE,
) -> dict[str, Any]:
    bundle = copy.deepcopy(REQUEST)
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = trace
    claim["item"][0]["productOrService"]["coding"][0]["code"] = code
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = diagnosis
    bundle["entry"][1]["resource"]["identifier"][0]["value"] = member
    bundle["entry"][2]["resource"]["subscriberId"] = member
    bundle["entry"][3]["resource"]["identifier"][0]["value"] = npi
    return bundle


def _inquiry(
    *, trace: str = "PA-REQ-0001", number: str = "", member: str = LIAM, npi: str = BUCKEYE
) -> dict[str, Any]:
    bundle = copy.deepcopy(INQUIRY)
    claim = bundle["entry"][0]["resource"]
    claim["identifier"][0]["value"] = trace
    if number:
        claim["item"] = [
            {
                "sequence": 1,
                "extension": [{"url": EXT_AUTHORIZATION_NUMBER, "valueString": number}],
                "productOrService": {"coding": [{"code": "43644"}]},
            }
        ]
    bundle["entry"][1]["resource"]["identifier"][0]["value"] = member
    bundle["entry"][2]["resource"]["subscriberId"] = member
    bundle["entry"][3]["resource"]["identifier"][0]["value"] = npi
    return bundle


def _response(answer: Any) -> dict[str, Any]:
    """The ClaimResponse of a 200 answer, its Bundle validated (R4B)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    data: dict[str, Any] = answer.json()
    Bundle.model_validate(data)
    assert data["type"] == "collection"
    response: dict[str, Any] = data["entry"][0]["resource"]
    ClaimResponse.model_validate(response)
    return response


def _outcome(answer: Any, status: int) -> dict[str, Any]:
    """The one issue of an OperationOutcome answered with ``status``, validated (R4B)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON)
    data = answer.json()
    OperationOutcome.model_validate(data)
    [issue] = data["issue"]
    assert isinstance(issue, dict)
    return issue


def _action(response: dict[str, Any]) -> str:
    review = response["item"][0]["adjudication"][0]["extension"][0]
    code: str = review["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
    return code


def _number(response: dict[str, Any]) -> str:
    review = response["item"][0]["adjudication"][0]["extension"][0]
    number: str = review["extension"][1]["valueString"]
    return number


def test_a_request_pended_then_decided_is_told_by_inquire_and_the_status_routes(
    served: Served,
) -> None:
    pended = _response(served.post("provider", "submit", _request()))
    number = _number(pended)
    assert (_action(pended), pended["outcome"]) == ("A4", "queued")
    assert "preAuthRef" not in pended and pended["id"] == number
    assert pended["identifier"][0]["value"] == "PA-REQ-0001"
    reads = reads_of(served.engine, "member", current_vault().lookup(LIAM))
    assert [r["route"] for r in reads] == ["/fhir/r4/Claim/$submit"]
    assert reads_of(served.engine, "authorization", number)[0]["role"] == "provider"

    # sent again, the same identifier: answered as it stands, not stored twice
    again = _response(served.post("provider", "submit", _request()))
    assert _number(again) == number and _action(again) == "A4"

    # nothing decided since: the poll is empty
    since = served.clock.now.isoformat()
    assert served.get("provider", "/v1/authorizations", answered_since=since).json() == {
        "items": [],
        "next": None,
    }

    # a reviewer approves it the next day
    served.clock.now += timedelta(days=1)
    pa.decide(served.engine, number, Action.CERTIFIED, "dr-reviewer", served.clock.now)

    by_identifier = _response(served.post("provider", "inquire", _inquiry()))
    assert (_action(by_identifier), by_identifier["outcome"]) == ("A1", "complete")
    assert by_identifier["preAuthRef"] == number
    assert by_identifier["preAuthPeriod"] == {"start": "2026-11-10", "end": "2026-11-20"}
    assert by_identifier["meta"]["profile"][0].endswith("profile-claiminquiryresponse")
    by_number = _response(served.post("provider", "inquire", _inquiry(trace="X", number=number)))
    assert by_number["preAuthRef"] == number

    status = served.get("provider", f"/v1/authorizations/{number}")
    assert status.status_code == 200, status.text
    body = status.json()
    assert (body["state"], body["action"], body["source"]) == ("approved", "A1", "fhir")
    assert body["services"][0]["approved"] == "1.000" and body["services"][0]["left"] == "1.000"
    assert body["decided_at"] == served.clock.now.isoformat()

    polled = served.get("provider", "/v1/authorizations", answered_since=since).json()
    assert [i["number"] for i in polled["items"]] == [number] and polled["next"] is None
    # with a zone: the same moment
    zoned = served.get("provider", "/v1/authorizations", answered_since=f"{since}+00:00").json()
    assert [i["number"] for i in zoned["items"]] == [number]
    # another practice polls nothing of it; the patient's own key sees it, another's does not
    assert served.get("other", "/v1/authorizations", answered_since=since).json()["items"] == []
    assert served.get("liam", f"/v1/authorizations/{number}").status_code == 200
    assert served.get("sophia", f"/v1/authorizations/{number}").status_code == 404
    routes = [r["route"] for r in reads_of(served.engine, "authorization", number)]
    assert "/v1/authorizations/{number}" in routes and "/v1/authorizations" in routes
    assert routes.count("/fhir/r4/Claim/$inquire") == 2


def test_a_denial_by_a_reviewer_is_told_with_its_reason(served: Served) -> None:
    number = _number(_response(served.post("provider", "submit", _request())))
    served.clock.now += timedelta(hours=5)
    why = "the body mass index criteria are not met in the records sent"
    pa.decide(
        served.engine, number, Action.NOT_CERTIFIED, "dr-reviewer", served.clock.now, reason=why
    )
    denied = _response(served.post("provider", "inquire", _inquiry(trace="X", number=number)))
    assert (_action(denied), denied["outcome"]) == ("A3", "complete")
    assert denied["disposition"] == f"Not certified; {why}"
    assert denied["item"][0]["adjudication"][0]["reason"]["text"] == why
    review = denied["item"][0]["adjudication"][0]["extension"][0]["extension"]
    assert review[2] == {
        "url": "reasonCode",
        "valueCodeableConcept": {
            "coding": [{"system": "https://codesystem.x12.org/external/886", "code": "0F"}]
        },
    }
    assert denied["processNote"][0]["text"] == why


def test_the_rules_decide_at_once(served: Served) -> None:
    """A lumbar MRI (72148) for uncomplicated low back pain (M54.50) is denied by
    PA-LUMBAR-MRI-UNCOMPLICATED with its code; with a red flag (G83.4), approved, one study;
    an office visit (99213) needs no authorization."""
    denied = _response(
        served.post("provider", "submit", _request(trace="T-1", code="72148", diagnosis="M54.50"))
    )
    assert _action(denied) == "A3" and denied["outcome"] == "complete"
    adjudication = denied["item"][0]["adjudication"][0]
    review = {e["url"]: e for e in adjudication["extension"][0]["extension"]}
    assert review["reasonCode"]["valueCodeableConcept"]["coding"][0]["code"] == "0F"
    assert adjudication["reason"]["text"].startswith("LBP6W - ")
    assert "six weeks" in adjudication["reason"]["text"]

    approved = _response(
        served.post("provider", "submit", _request(trace="T-2", code="72148", diagnosis="G83.4"))
    )
    assert _action(approved) == "A1" and approved["preAuthRef"] == _number(approved)
    assert approved["item"][0]["adjudication"][0]["value"] == 1

    visit = _response(served.post("insurer", "submit", _request(trace="T-3", code="99213")))
    assert _action(visit) == "NA"


def test_a_cancel_names_the_authorization_it_cancels(served: Served) -> None:
    number = _number(_response(served.post("provider", "submit", _request())))
    cancel = _request(trace="PA-REQ-0002")
    cancel["entry"][0]["resource"]["item"][0]["extension"] = [
        {"url": EXT_CERTIFICATION_TYPE, "valueCodeableConcept": {"coding": [{"code": "3"}]}},
        {"url": EXT_AUTHORIZATION_NUMBER, "valueString": number},
    ]
    cancelled = _response(served.post("provider", "submit", cancel))
    assert (_action(cancelled), _number(cancelled)) == ("C", number)
    # another practice cannot cancel it: as for a number that does not exist
    theirs = copy.deepcopy(cancel)
    theirs["entry"][3]["resource"]["identifier"][0]["value"] = OTHER_NPI
    issue = _outcome(served.post("other", "submit", theirs), 404)
    assert issue["code"] == "not-found"


def test_not_yours_reads_as_missing(served: Served) -> None:
    number = _number(_response(served.post("provider", "submit", _request())))
    missing = "PA20269999999"

    # the status route: the same 404 body, but for the number asked
    theirs = served.get("other", f"/v1/authorizations/{number}")
    nothing = served.get("other", f"/v1/authorizations/{missing}")
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == json.loads(nothing.text.replace(missing, number))

    # $inquire by number with the other practice's own NPI as requester
    theirs = served.post("other", "inquire", _inquiry(trace="X", number=number, npi=OTHER_NPI))
    nothing = served.post("other", "inquire", _inquiry(trace="X", number=missing, npi=OTHER_NPI))
    assert _outcome(theirs, 404) == json.loads(nothing.text.replace(missing, number))["issue"][0]
    # ... by the identifier Buckeye gave it
    theirs = served.post("other", "inquire", _inquiry(npi=OTHER_NPI))
    nothing = served.post("other", "inquire", _inquiry(trace="PA-REQ-0404", npi=OTHER_NPI))
    assert _outcome(theirs, 404)["code"] == _outcome(nothing, 404)["code"] == "not-found"
    # Buckeye asking about its authorization as another patient's: as missing too
    other_patient = served.post("provider", "inquire", _inquiry(number=number, member=SOPHIA))
    assert _outcome(other_patient, 404)["code"] == "not-found"
    # nothing of these was told: no audit row but Buckeye's own submission's
    assert [r["role"] for r in reads_of(served.engine, "authorization", number)] == ["provider"]

    # a provider key asks only as its own NPIs
    forbidden = _outcome(served.post("other", "submit", _request(trace="T-9")), 403)
    assert forbidden["code"] == "forbidden"
    assert forbidden["expression"] == ["Bundle.entry[3].resource.identifier[0].value"]
    forbidden = _outcome(served.post("other", "inquire", _inquiry(number=number)), 403)
    assert forbidden["code"] == "forbidden"
    # roles: a member or an examiner key asks for no review; no key at all is 401
    assert _outcome(served.post("liam", "submit", _request()), 403)["code"] == "forbidden"
    assert _outcome(served.post("examiner", "inquire", _inquiry()), 403)["code"] == "forbidden"
    bare = served.client.post("/fhir/r4/Claim/$submit", content=json.dumps(_request()))
    assert _outcome(bare, 401)["code"] == "login"


def _no_member_id() -> dict[str, Any]:
    bundle = _request()
    bundle["entry"][1]["resource"]["identifier"] = []
    del bundle["entry"][2]["resource"]["subscriberId"]
    return bundle


def _no_code() -> dict[str, Any]:
    bundle = _request()
    del bundle["entry"][0]["resource"]["item"][0]["productOrService"]
    return bundle


def _no_claim() -> dict[str, Any]:
    bundle = _request()
    del bundle["entry"][0]
    return bundle


@pytest.mark.parametrize(
    ("body", "status", "issue", "where", "words"),
    [
        (b'{"resourceType": ', 400, "structure", None, "not JSON"),
        (
            {"resourceType": "Claim", "use": "preauthorization"},
            422,
            "invalid",
            "resourceType",
            "not a Bundle",
        ),
        (_no_claim(), 422, "invalid", "Bundle.entry", "no Claim"),
        (
            _no_member_id(),
            422,
            "required",
            "Bundle.entry[1].resource.identifier",
            "member identifier",
        ),
        (
            _request(member="ZZ99999999"),
            422,
            "not-found",
            "Bundle.entry[1].resource.identifier[0].value",
            "no member",
        ),
        (_no_code(), 422, "required", f"{CLAIM}.item[0].productOrService", "no code"),
    ],
)
def test_bad_input_is_an_operation_outcome_naming_where(
    served: Served, body: Any, status: int, issue: str, where: str | None, words: str
) -> None:
    found = _outcome(served.post("provider", "submit", body), status)
    assert found["code"] == issue
    assert found.get("expression") == ([where] if where else None)
    assert words in found["diagnostics"]
    # nothing was stored of it: the next good request gets the first number
    first = _number(_response(served.post("provider", "submit", _request(trace="T-OK"))))
    assert first == f"PA{served.clock.now.year}0000001"


def test_a_bad_poll_is_refused(served: Served) -> None:
    bad = served.get("provider", "/v1/authorizations", answered_since="2026-11-02", after="nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    missing = served.get("provider", "/v1/authorizations")
    assert missing.status_code == 422
    sponsor = create_key(served.engine, Role.SPONSOR, now=NOW, sponsor_id="999888777")
    served.keys["sponsor"] = sponsor.token
    assert served.get("sponsor", "/v1/authorizations/PA20260000001").status_code == 403


def test_a_page_at_a_time(served: Served) -> None:
    numbers = []
    for n in range(3):
        numbers.append(
            _number(_response(served.post("provider", "submit", _request(trace=f"P-{n}"))))
        )
    since = served.clock.now.isoformat()
    for n, number in enumerate(numbers):
        served.clock.now += timedelta(minutes=10 + n)
        pa.decide(served.engine, number, Action.CERTIFIED, "dr-reviewer", served.clock.now)
    seen: list[str] = []
    page = served.get("provider", "/v1/authorizations", answered_since=since, limit="2").json()
    seen += [i["number"] for i in page["items"]]
    assert page["next"] is not None
    following = served.client.get(
        page["next"], headers={"Authorization": f"Bearer {served.keys['provider']}"}
    )
    seen += [i["number"] for i in following.json()["items"]]
    assert seen == numbers and following.json()["next"] is None


def test_without_reference_data_the_route_says_so(engine: Engine) -> None:
    upgrade(engine)
    token = create_key(engine, Role.INSURER, now=NOW).token
    settings = Settings(
        engine.url.render_as_string(hide_password=False), None, RULES, frozenset({1, 2, 3, 4, 5})
    )
    app = create_app(ApiConfig(Environment(settings, engine), now=Clock(), inprocess_workers=False))
    with TestClient(app) as c:
        answer = c.post(
            "/fhir/r4/Claim/$submit",
            content=json.dumps(_request()),
            headers={"Authorization": f"Bearer {token}"},
        )
    assert _outcome(answer, 503)["code"] == "transient"


def test_an_identifier_reused_for_another_patient_is_refused(served: Served) -> None:
    """The requester's identifier names one request: sent again for another patient, it is
    refused where the identifier is, and the first request stands."""
    number = _number(_response(served.post("provider", "submit", _request())))
    reused = _outcome(served.post("provider", "submit", _request(member=SOPHIA)), 422)
    assert reused["expression"] == [f"{CLAIM}.identifier"]
    assert "names another request" in reused["diagnostics"]
    again = _response(served.post("provider", "submit", _request()))
    assert _number(again) == number
