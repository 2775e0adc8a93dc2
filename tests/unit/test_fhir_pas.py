"""FHIR PAS (Da Vinci Prior Authorization Support): a request Bundle read into the
prior-authorization service's words, and its answer as a ClaimResponse in a Bundle.

The request Bundles are fixtures/fhir/pas/ (written after the guide's request Bundle: a
collection whose Claim, use preauthorization, references the Patient, the requesting provider,
the Coverage and the insurer), varied here one element at a time. Every Bundle, ClaimResponse
and OperationOutcome written must validate against the FHIR R4B models of fhir.resources after
a JSON round trip through :func:`adapters.fhir.dumps` (PAS is an R4 guide).
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.operationoutcome import OperationOutcome

from adapters.fhir import dumps
from adapters.fhir_pas import (
    EXT_AUTHORIZATION_NUMBER,
    EXT_CERTIFICATION_TYPE,
    EXT_ITEM_PREAUTH_PERIOD,
    EXT_LEVEL_OF_SERVICE,
    EXT_REVIEW_ACTION,
    EXT_REVIEW_ACTION_CODE,
    PROFILE_CLAIM_RESPONSE,
    PROFILE_INQUIRY_RESPONSE,
    REASON_SYSTEM,
    X12_ACTION,
    X12_REASON,
    PasInputError,
    operation_outcome,
    read_json,
    read_request,
    response_bundle,
)
from claims_engine.adjudication.payment_cycle import load_payer
from claims_engine.domain.prior_auth import AuthService, Source, Urgency
from claims_engine.services.authorizations import AuthorizationView, ServiceView
from tests.conftest import FIXTURES

PAS_FIXTURES = FIXTURES / "fhir" / "pas"
REQUEST: dict[str, Any] = json.loads((PAS_FIXTURES / "bariatric-request.json").read_text())
INQUIRY: dict[str, Any] = json.loads((PAS_FIXTURES / "inquiry.json").read_text())
PAYER = load_payer(FIXTURES / "reference" / "payer.yaml")
NOW = datetime(2026, 11, 2, 10, 30)
CLAIM = "Bundle.entry[0].resource"
ITEM = f"{CLAIM}.item[0]"


def _request(**changes: Any) -> dict[str, Any]:
    """The fixture request with the Claim's elements ``changes`` set (None: removed)."""
    bundle = copy.deepcopy(REQUEST)
    claim = bundle["entry"][0]["resource"]
    for key, value in changes.items():
        if value is None:
            claim.pop(key, None)
        else:
            claim[key] = value
    return bundle


def _item(**changes: Any) -> dict[str, Any]:
    bundle = _request()
    item = bundle["entry"][0]["resource"]["item"][0]
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        else:
            item[key] = value
    return bundle


def _refused(data: Any, *, inquiry: bool = False) -> PasInputError:
    with pytest.raises(PasInputError) as caught:
        read_request(data, inquiry=inquiry)
    return caught.value


# -- reading ---------------------------------------------------------------------------------


def test_the_guides_request_is_read_as_the_services_request() -> None:
    claim = read_request(read_json((PAS_FIXTURES / "bariatric-request.json").read_bytes()))
    assert claim.kind == "initial"
    assert (claim.member_id, claim.subscriber_id) == ("PG00000100", "PG00000100")
    assert claim.requesting_npi == claim.servicing_npi == "2781759230"
    assert claim.urgency is Urgency.STANDARD  # level of service E (elective), priority normal
    assert claim.diagnoses == ("E6601",)  # ICD-10-CM as the 278 carries it: without the dot
    assert claim.services == (
        AuthService(
            "43644",
            Decimal(1),
            date(2026, 11, 10),
            date(2026, 11, 20),
            place_of_service="21",
        ),
    )
    request = claim.auth_request()
    assert request.source is Source.FHIR and request.trace == "PA-REQ-0001"
    assert request.appeal_of == "" and request.relationship == "18"
    request.check()
    # where the service's refusals point
    assert claim.member_at == "Bundle.entry[1].resource.identifier[0].value"
    assert claim.where_of("service 1: code is empty") == ITEM
    assert claim.where_of("member not found") == claim.member_at
    assert claim.where_of("something else") == CLAIM


def test_urgency_quantities_units_modifiers_and_dates() -> None:
    level = {
        "url": EXT_LEVEL_OF_SERVICE,
        "valueCodeableConcept": {"coding": [{"code": "U"}]},
    }
    assert read_request(_request(extension=[level])).urgency is Urgency.EXPEDITED
    stat = {"coding": [{"code": "stat"}]}
    assert read_request(_request(priority=stat)).urgency is Urgency.EXPEDITED

    # 12.5 visits, exact (a JSON number with a fraction is read as a Decimal, never a float)
    body = json.dumps(_item(quantity={"value": 0, "code": "{visit}"})).replace(
        '"value": 0', '"value": 12.5'
    )
    [visits] = read_request(read_json(body.encode())).services
    assert (visits.quantity, visits.unit) == (Decimal("12.5"), "visits")
    [days] = read_request(_item(quantity={"value": 3, "unit": "d"})).services
    assert (days.quantity, days.unit) == (Decimal(3), "days")

    modifiers = [{"coding": [{"code": "lt"}]}, {"coding": [{"code": "59"}]}]
    one_day = read_request(
        _item(modifier=modifiers, servicedPeriod=None, servicedDate="2026-11-12")
    )
    [service] = one_day.services
    assert service.modifiers == ("LT", "59")
    assert service.from_date == service.to_date == date(2026, 11, 12)

    # no date of its own: the Claim's patientEvent
    event = {
        "sequence": 1,
        "category": {"coding": [{"code": "patientEvent"}]},
        "timingPeriod": {"start": "2026-12-01", "end": "2026-12-03"},
    }
    bundle = _item(servicedPeriod=None)
    bundle["entry"][0]["resource"]["supportingInfo"] = [event]
    [dated] = read_request(bundle).services
    assert (dated.from_date, dated.to_date) == (date(2026, 12, 1), date(2026, 12, 3))

    # a revenue code when no procedure is asked
    revenue = read_request(_item(productOrService=None, revenue={"coding": [{"code": "0120"}]}))
    assert (revenue.services[0].code, revenue.services[0].code_kind) == ("0120", "revenue")


def test_an_appeal_a_cancel_and_an_inquiry() -> None:
    def certification(code: str, number: str = "") -> dict[str, Any]:
        extensions: list[dict[str, Any]] = [
            {"url": EXT_CERTIFICATION_TYPE, "valueCodeableConcept": {"coding": [{"code": code}]}}
        ]
        if number:
            extensions.append({"url": EXT_AUTHORIZATION_NUMBER, "valueString": number})
        return _item(extension=extensions)

    appeal = read_request(certification("1", "PA20260000001"))
    assert appeal.kind == "appeal" and appeal.auth_request().appeal_of == "PA20260000001"
    assert appeal.earlier_at == f"{ITEM}.extension[1].valueString"
    assert read_request(certification("3", "PA20260000001")).kind == "cancel"
    assert read_request(certification("4", "PA20260000001")).kind == "extension"

    unnamed = _refused(certification("2"))
    assert (unnamed.where, unnamed.issue) == (
        f"{ITEM}.extension[0].valueCodeableConcept",
        "required",
    )
    assert "authorizationNumber" in unnamed.message
    unknown = _refused(certification("Z"))
    assert unknown.issue == "code-invalid" and "X12 1322" in unknown.message

    inquiry = read_request(INQUIRY, inquiry=True)
    assert inquiry.kind == "inquiry" and inquiry.services == ()
    assert (inquiry.identifier_value, inquiry.requesting_npi) == ("PA-REQ-0001", "2781759230")
    assert inquiry.member_id == "PG00000100" and inquiry.earlier == ""


def test_a_member_id_from_the_coverage_or_a_logical_reference() -> None:
    bundle = copy.deepcopy(REQUEST)
    bundle["entry"][1]["resource"]["identifier"] = []  # the Patient's own: none
    claim = read_request(bundle)
    assert claim.member_id == "PG00000100"
    assert claim.member_at == "Bundle.entry[2].resource.subscriberId"

    logical = {
        "identifier": {
            "type": {"coding": [{"code": "MB"}]},
            "value": "PG00000200",
        }
    }
    assert read_request(_request(patient=logical, insurance=[])).member_id == "PG00000200"


@pytest.mark.parametrize(
    ("body", "status", "where", "words"),
    [
        (b"", 400, "", "empty"),
        (b"{not json", 400, "", "not JSON"),
        (b"\xff\xfe", 400, "", "not UTF-8"),
        (b'{"resourceType": "Bundle", "total": NaN}', 400, "", "NaN"),
        (b"[" * 100_000, 400, "", "not JSON"),
    ],
)
def test_a_body_that_is_no_json(body: bytes, status: int, where: str, words: str) -> None:
    with pytest.raises(PasInputError) as caught:
        read_json(body)
    assert (caught.value.status, caught.value.where) == (status, where)
    assert words in caught.value.message


def _without_patient_member_id() -> dict[str, Any]:
    bundle = copy.deepcopy(REQUEST)
    bundle["entry"][1]["resource"]["identifier"] = [{"system": "urn:mrn", "value": "MRN-9"}]
    bundle["entry"][2]["resource"].pop("subscriberId")
    return bundle


def _two_claims() -> dict[str, Any]:
    bundle = copy.deepcopy(REQUEST)
    bundle["entry"].append(copy.deepcopy(bundle["entry"][0]))
    return bundle


def _no_claim() -> dict[str, Any]:
    bundle = copy.deepcopy(REQUEST)
    del bundle["entry"][0]
    return bundle


@pytest.mark.parametrize(
    ("data", "where", "words"),
    [
        ({"resourceType": "Claim"}, "resourceType", "a Claim, not a Bundle"),
        ([1, 2], "Bundle", "not a JSON object"),
        ({**REQUEST, "type": "transaction"}, "Bundle.type", 'collection, not "transaction"'),
        ({**REQUEST, "entry": {}}, "Bundle.entry", "not a JSON array"),
        (_no_claim(), "Bundle.entry", "no Claim"),
        (_two_claims(), "Bundle.entry", "2 Claims (Bundle.entry[0], Bundle.entry[6])"),
        (_request(use="claim"), f"{CLAIM}.use", 'not "claim"'),
        (_request(identifier=None), f"{CLAIM}.identifier", "missing"),
        (_request(identifier=[{"value": "X" * 51}]), f"{CLAIM}.identifier[0].value", "longer"),
        (_request(patient=None), f"{CLAIM}.patient", "missing"),
        (
            _request(patient={"reference": "Patient/nobody"}),
            f"{CLAIM}.patient.reference",
            "not an entry of the Bundle",
        ),
        (
            _request(patient={"reference": "Organization/acme"}),
            f"{CLAIM}.patient.reference",
            "names a Organization, not a Patient",
        ),
        (_without_patient_member_id(), "Bundle.entry[1].resource.identifier", "member identifier"),
        (_request(provider=None), f"{CLAIM}.provider", "missing"),
        (
            _request(provider={"identifier": {"system": "urn:x", "value": "1"}}),
            f"{CLAIM}.provider.identifier",
            "no NPI",
        ),
        (
            _request(
                provider={"identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "12"}}
            ),
            f"{CLAIM}.provider.identifier[0].value",
            "not an NPI",
        ),
        (_request(item=[]), f"{CLAIM}.item", "empty"),
        (_item(productOrService=None), f"{ITEM}.productOrService", "no code"),
        (
            _item(productOrService={"coding": [{"system": "x"}]}),
            f"{ITEM}.productOrService",
            "no code",
        ),
        (
            _item(productOrService={"coding": [{"code": "43644; DROP"}]}),
            f"{ITEM}.productOrService",
            "not a procedure",
        ),
        (_item(servicedPeriod=None), f"{ITEM}.serviced[x]", "no date"),
        (_item(servicedPeriod=None, servicedDate="2026-11"), f"{ITEM}.servicedDate", "full date"),
        (
            _item(servicedPeriod={"start": "2026-11-20", "end": "2026-11-10"}),
            f"{ITEM}.servicedPeriod.end",
            "before the start",
        ),
        (_item(quantity={"value": 0}), f"{ITEM}.quantity.value", "above 0"),
        (_item(quantity={"value": "2"}), f"{ITEM}.quantity.value", "not a number"),
        (_item(modifier=[{"coding": [{"code": "LEFT"}]}]), f"{ITEM}.modifier[0]", "modifier"),
        (
            _request(diagnosis=[{"sequence": 1}]),
            f"{CLAIM}.diagnosis[0].diagnosisCodeableConcept",
            "missing",
        ),
        (
            _item(locationCodeableConcept={"coding": [{"code": "X"}]}),
            f"{ITEM}.locationCodeableConcept",
            "place",
        ),
    ],
)
def test_what_cannot_be_taken_is_named_where_it_is(data: Any, where: str, words: str) -> None:
    refused = _refused(data)
    assert refused.status == 422
    assert refused.where == where, refused
    assert words in refused.message, refused.message
    outcome = operation_outcome(refused.message, refused.where, issue=refused.issue)
    OperationOutcome.model_validate(json.loads(dumps(outcome)))
    assert outcome["issue"][0]["expression"] == ([where] if where else None) or not where


def test_too_many_items() -> None:
    bundle = _request()
    claim = bundle["entry"][0]["resource"]
    claim["item"] = [copy.deepcopy(claim["item"][0]) for _ in range(101)]
    refused = _refused(bundle)
    assert (refused.status, refused.issue, refused.where) == (413, "too-costly", f"{CLAIM}.item")


# -- the answer ------------------------------------------------------------------------------


def _service(line: int, action: str, approved: str = "0", reason_code: str = "") -> ServiceView:
    return ServiceView(
        line=line,
        codes=("72148",),
        code_kind="procedure",
        modifiers=(),
        unit="units",
        requested=Decimal("1.000"),
        approved=Decimal(approved),
        used=Decimal("0.000"),
        action=action,
        rule="",
        reason_code=reason_code,
        from_date=date(2026, 11, 10),
        to_date=date(2026, 11, 20),
    )


def _view(action: str, state: str, *services: ServiceView, reason: str = "") -> AuthorizationView:
    return AuthorizationView(
        number="PA20260000007",
        trace="PA-REQ-0001",
        source="fhir",
        state=state,
        action=action,
        urgency="standard",
        member_id="PG00000100",
        subscriber_id="PG00000100",
        requesting_npi="2781759230",
        servicing_npi="",
        plan_id="PPO-GOLD",
        diagnoses=("M5450",),
        received_at=NOW,
        due_at=datetime(2026, 11, 9, 10, 30),
        decided_at=None if action == "A4" else NOW,
        decided_by="",
        reason=reason,
        queue="clinical" if action == "A4" else "",
        appeal_of="",
        extended_at=None,
        effective_from=date(2026, 11, 10),
        effective_through=date(2026, 11, 20),
        services=services,
    )


def _validated(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle after a JSON round trip, validated (Bundle and ClaimResponse, R4B)."""
    data: dict[str, Any] = json.loads(dumps(bundle))
    Bundle.model_validate(data)
    ClaimResponse.model_validate(data["entry"][0]["resource"])
    return data


def _review(item: dict[str, Any]) -> dict[str, str]:
    [adjudication] = item["adjudication"]
    [review] = adjudication["extension"]
    assert review["url"] == EXT_REVIEW_ACTION
    found: dict[str, str] = {}
    for ext in review["extension"]:
        if ext["url"] == EXT_REVIEW_ACTION_CODE:
            [coding] = ext["valueCodeableConcept"]["coding"]
            assert coding["system"] == X12_ACTION
            found["code"] = coding["code"]
        elif ext["url"] == "reasonCode":
            [coding] = ext["valueCodeableConcept"]["coding"]
            assert coding["system"] == X12_REASON
            found["reasonCode"] = coding["code"]
        else:
            found[ext["url"]] = ext["valueString"]
    return found


def test_an_approval_answers_with_its_number_period_and_quantity() -> None:
    view = _view("A1", "approved", _service(1, "A1", "1.000"))
    bundle = response_bundle(
        view, now=NOW, payer=PAYER, identifier=("http://clinic.example/pa", "PA-REQ-0001")
    )
    data = _validated(bundle)
    assert data["type"] == "collection" and data["timestamp"] == "2026-11-02T10:30:00+00:00"
    response, patient, insurer, requestor = (e["resource"] for e in data["entry"])
    assert response["meta"]["profile"] == [PROFILE_CLAIM_RESPONSE]
    assert response["outcome"] == "complete" and response["preAuthRef"] == "PA20260000007"
    assert response["preAuthPeriod"] == {"start": "2026-11-10", "end": "2026-11-20"}
    assert response["identifier"] == [
        {"system": "http://clinic.example/pa", "value": "PA-REQ-0001"}
    ]
    assert response["patient"]["reference"] == data["entry"][1]["fullUrl"]
    assert response["requestor"]["reference"] == data["entry"][3]["fullUrl"]
    [item] = response["item"]
    assert _review(item) == {"code": "A1", "number": "PA20260000007"}
    assert item["adjudication"][0]["value"] == 1  # the quantity approved, exactly: 1.000
    assert b'"value":1.000' in dumps(bundle)
    assert item["extension"][0]["url"] == EXT_ITEM_PREAUTH_PERIOD
    assert patient["identifier"][0]["value"] == "PG00000100"
    assert insurer["name"] == "ACME HEALTH PLAN" and insurer["identifier"][0]["value"] == "ACMEHP01"
    assert requestor["identifier"] == [
        {"system": "http://hl7.org/fhir/sid/us-npi", "value": "2781759230"}
    ]
    # the same authorization at the same time: the same bytes
    again = response_bundle(
        view, now=NOW, payer=PAYER, identifier=("http://clinic.example/pa", "PA-REQ-0001")
    )
    assert dumps(again) == dumps(bundle)


def test_a_denial_carries_its_reason_and_a_pended_request_is_queued() -> None:
    why = "LBP6W - Imaging of the lumbar spine is not medically necessary before six weeks"
    denied = _view("A3", "denied", _service(1, "A3", reason_code="0F"), reason=why)
    response = _validated(response_bundle(denied, now=NOW))["entry"][0]["resource"]
    assert response["outcome"] == "complete" and "preAuthRef" not in response
    assert response["disposition"] == f"Not certified; {why}"
    [item] = response["item"]
    # HCR03's code (X12 886 0F, not medically necessary), the reason in words beside it
    assert _review(item) == {"code": "A3", "number": "PA20260000007", "reasonCode": "0F"}
    assert item["adjudication"][0]["reason"] == {"text": why}
    assert response["processNote"] == [{"number": 1, "type": "display", "text": why}]
    assert "value" not in item["adjudication"][0] and "extension" not in item

    # a request stored with the decisions file's own code: that code kept beside 0F
    older = _view("A3", "denied", _service(1, "A3", reason_code="LBP6W"), reason=why)
    response = _validated(response_bundle(older, now=NOW))["entry"][0]["resource"]
    reason = response["item"][0]["adjudication"][0]["reason"]
    assert reason == {"coding": [{"system": REASON_SYSTEM, "code": "LBP6W"}], "text": why}
    assert _review(response["item"][0])["reasonCode"] == "0F"
    # a reviewer's denial names no code: 0F (not medically necessary), as the 278's HCR03
    reviewer = _view("A3", "denied", _service(1, "A3"), reason="BMI criteria not met")
    response = _validated(response_bundle(reviewer, now=NOW))["entry"][0]["resource"]
    assert _review(response["item"][0])["reasonCode"] == "0F"
    assert response["item"][0]["adjudication"][0]["reason"] == {"text": "BMI criteria not met"}

    pended = _view("A4", "pended", _service(1, "A4"), reason="bariatric surgery criteria")
    data = _validated(response_bundle(pended, now=NOW, inquiry=True))
    response = data["entry"][0]["resource"]
    assert response["meta"]["profile"] == [PROFILE_INQUIRY_RESPONSE]
    assert response["outcome"] == "queued"
    assert "a clinical reviewer decides by 2026-11-09T10:30:00+00:00" in response["disposition"]
    assert _review(response["item"][0])["code"] == "A4"
    assert response["identifier"] == [{"value": "PA-REQ-0001"}]  # the trace, as stored


def test_every_action_is_answered_with_its_code() -> None:
    for action, state in [
        ("A2", "approved"),
        ("A6", "approved"),
        ("C", "cancelled"),
        ("CT", "pended"),
        ("NA", "not required"),
    ]:
        view = _view(action, state, _service(1, action, "1.000" if action != "C" else "0"))
        response = _validated(response_bundle(view, now=NOW))["entry"][0]["resource"]
        assert _review(response["item"][0])["code"] == action
        assert response["outcome"] == ("queued" if action == "CT" else "complete")
    expired = _view("A1", "expired", _service(1, "A1", "1.000"))
    response = _validated(response_bundle(expired, now=NOW))["entry"][0]["resource"]
    assert response["disposition"] == "Certified in total (expired after 2026-11-20)"


def test_an_operation_outcome_names_where() -> None:
    outcome = operation_outcome("no code", f"{ITEM}.productOrService", issue="required")
    OperationOutcome.model_validate(json.loads(dumps(outcome)))
    [issue] = outcome["issue"]
    assert issue["expression"] == [f"{ITEM}.productOrService"]
    assert issue["diagnostics"] == f"{ITEM}.productOrService: no code"
    assert "expression" not in operation_outcome("the body is empty")["issue"][0]
