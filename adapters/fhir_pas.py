"""FHIR prior authorization after the Da Vinci Prior Authorization Support guide (PAS, FHIR R4).

Pure mapping, no database: :func:`read_json` and :func:`read_request` turn the body of
``POST /fhir/r4/Claim/$submit`` or ``$inquire`` (a Bundle of type ``collection`` whose Claim,
``use`` ``preauthorization``, names a Patient, a requesting provider and the items asked for)
into a :class:`PasClaim`, the words of the prior-authorization service
(:class:`~claims_engine.domain.prior_auth.AuthRequest`); :func:`response_bundle` turns the
:class:`~claims_engine.services.authorizations.AuthorizationView` the service answers with
into a ClaimResponse in a Bundle; :func:`operation_outcome` is the error body.

A request that cannot be read raises :class:`PasInputError` naming where, as a FHIRPath
expression from the Bundle (``Bundle.entry[0].resource.item[1].productOrService``), and what is
wrong; the route answers it as an OperationOutcome with that expression, never a traceback.

How a PAS Claim is read:

* the Claim: the one entry whose resource is a Claim (a PAS Bundle holds one); ``use`` must be
  ``preauthorization``; its first ``identifier`` (the requester's trace, up to 50 characters) is
  the request's ``trace``: the same identifier sent again by the same requester is answered as
  it stands.
* the member: the Patient ``Claim.patient`` references (in the Bundle, or a logical reference
  by identifier); its identifier typed ``MB`` or ``MI`` (v2-0203), else the ``subscriberId`` of
  the focal Coverage of ``Claim.insurance``; the subscriber is the Coverage's ``subscriberId``
  when it has one.
* the requesting provider: the Organization, Practitioner or PractitionerRole ``Claim.provider``
  references, by its NPI (``http://hl7.org/fhir/sid/us-npi``); the servicing provider: the first
  of ``Claim.careTeam`` with an NPI.
* urgency: expedited when the ``levelOfServiceCode`` extension says ``U`` (urgent) or ``03``
  (emergency), or ``Claim.priority`` is ``stat``; standard otherwise.
* what is asked (the ``certificationType`` extension of the items, X12 1322): ``I`` (or none)
  an initial request, ``1`` / ``2`` an appeal of the denial the ``authorizationNumber``
  extension names, ``3`` the cancellation of that authorization, ``4`` / ``R`` / ``S`` its
  current state.
* each item: ``productOrService`` (a CPT or HCPCS coding, the first with a code) and its
  ``modifier``\\ s, else ``revenue`` (a revenue code); ``quantity`` (units, ``{visit}`` visits
  or ``d`` days; 1 unit when none is given); ``servicedDate`` or ``servicedPeriod``, else the
  Claim's ``patientEvent`` supportingInfo; ``locationCodeableConcept`` (place of service).
* diagnoses: ``Claim.diagnosis[].diagnosisCodeableConcept`` (ICD-10-CM, kept without dots).

The answer (:func:`claim_response`): a ClaimResponse (``profile-claimresponse``, or
``profile-claiminquiryresponse`` for ``$inquire``) with ``outcome`` ``queued`` while the request
waits for a reviewer and ``complete`` once decided, ``disposition`` in words, ``preAuthRef``
the certification number and ``preAuthPeriod`` the dates certified when it certifies, and per
item an adjudication (category ``submitted``) carrying the ``reviewAction`` extension: its
``reviewActionCode`` (X12 306: A1, A2, A3, A4, A6, C, CT, NA), ``number`` (the certification
number, or the administrative reference to ask about it later) and, for a denial, ``reasonCode``
(X12 886, the 278's HCR03: the denying rule's ``x12_reason``, else ``0F`` not medically
necessary, as for a reviewer's denial); the quantity approved as
``value``, and for a denial the reason in words as the adjudication's ``reason`` text. A
cancelled request's items are all ``C``. The Bundle (``collection``) holds the ClaimResponse,
the Patient (its member identifier), the insurer and the requesting provider, each under a
``urn:uuid`` derived from the certification number: the same authorization at the same time
gives the same bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from adapters.fhir import concept as _concept
from adapters.fhir import instant as _instant
from claims_engine.adjudication.payment_cycle import Payer
from claims_engine.domain.prior_auth import (
    MAX_QUANTITY,
    AuthRequest,
    AuthService,
    Source,
    Urgency,
)
from claims_engine.rules.authorization_rules import DEFAULT_X12_REASON

if TYPE_CHECKING:
    from claims_engine.services.authorizations import AuthorizationView, ServiceView

JSON = dict[str, Any]

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
PROFILE_CLAIM = f"{PAS}/profile-claim"
PROFILE_CLAIM_INQUIRY = f"{PAS}/profile-claim-inquiry"
PROFILE_CLAIM_RESPONSE = f"{PAS}/profile-claimresponse"
PROFILE_INQUIRY_RESPONSE = f"{PAS}/profile-claiminquiryresponse"
PROFILE_RESPONSE_BUNDLE = f"{PAS}/profile-pas-response-bundle"
PROFILE_INQUIRY_RESPONSE_BUNDLE = f"{PAS}/profile-pas-inquiry-response-bundle"
EXT_REVIEW_ACTION = f"{PAS}/extension-reviewAction"
EXT_REVIEW_ACTION_CODE = f"{PAS}/extension-reviewActionCode"
EXT_LEVEL_OF_SERVICE = f"{PAS}/extension-levelOfServiceCode"
EXT_CERTIFICATION_TYPE = f"{PAS}/extension-certificationType"
EXT_AUTHORIZATION_NUMBER = f"{PAS}/extension-authorizationNumber"
EXT_ADMINISTRATION_REFERENCE = f"{PAS}/extension-administrationReferenceNumber"
EXT_ITEM_PREAUTH_PERIOD = f"{PAS}/extension-itemPreAuthPeriod"

X12_ACTION = "https://codesystem.x12.org/005010/306"  # HCR01: the review's outcome
# HCR03: Health Care Services Review Decision Reason Codes (X12's external code list 886)
X12_REASON = "https://codesystem.x12.org/external/886"
_THO = "http://terminology.hl7.org/CodeSystem"
ADJUDICATION = f"{_THO}/adjudication"
CLAIM_TYPE = f"{_THO}/claim-type"
IDENTIFIER_TYPE = f"{_THO}/v2-0203"
PROCESS_PRIORITY = f"{_THO}/processpriority"
NPI = "http://hl7.org/fhir/sid/us-npi"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# the decisions file's own reason codes (rules/prior-auth/decisions.yaml), as requests decided
# before denials carried an X12 886 code keep them
REASON_SYSTEM = "urn:claims-engine:prior-auth:reason"
PAYER_ID_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"

# what the response ids are derived from: the same authorization, the same ids
_NAMESPACE = uuid.UUID("6f1d3c52-3b7e-5a55-9d0e-4c2a1f7b8e10")

MAX_ITEMS = 100  # items of one Claim (the 278's service lines of one event are as many)
MAX_TRACE = 50  # the stored trace's length
MAX_MEMBER_ID = 80

# X12 1322 (UM02, the item's certificationType) -> what the request asks
CERTIFICATION_KINDS: Mapping[str, str] = {
    "I": "initial",
    "1": "appeal",
    "2": "appeal",
    "3": "cancel",
    "4": "extension",
    "R": "renewal",
    "S": "revision",
}
EXPEDITED_LEVELS = frozenset({"U", "03"})  # X12 1338 (UM06): urgent, emergency
_DAYS = frozenset({"d", "day", "days", "dy", "da"})
_VISITS = frozenset({"{visit}", "{visits}", "visit", "visits", "vs"})
# X12 306 (HCR01), as the guide's examples word them
ACTION_WORDS: Mapping[str, str] = {
    "A1": "Certified in total",
    "A2": "Certified - partial",
    "A3": "Not certified",
    "A4": "Pended",
    "A6": "Modified",
    "C": "Cancelled",
    "CT": "Contact payer",
    "NA": "No action required",
}
CERTIFYING = frozenset({"A1", "A2", "A6"})
WAITING = frozenset({"A4", "CT"})
_X12_REASON = re.compile(r"[0-9A-Z]{2}\Z")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.]{0,19}\Z")
_NPI = re.compile(r"[0-9]{10}\Z")
_REFERENCE = re.compile(r"(?:.*/)?([A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/.*)?\Z")


class PasInputError(ValueError):
    """A PAS Bundle that cannot be taken as it is: ``where`` (a FHIRPath expression from the
    Bundle) and what is wrong there. ``status`` is the HTTP status it is answered with (400 a
    body that is no JSON, 403 a requester not the key's, 404 an earlier authorization the key
    cannot see, 413 too many items, 422 anything else) and ``issue`` the OperationOutcome's
    issue type."""

    def __init__(self, where: str, message: str, *, status: int = 422, issue: str = "invalid"):
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where
        self.message = message
        self.status = status
        self.issue = issue


@dataclass(frozen=True, slots=True)
class PasClaim:
    """What a PAS Claim asks, in the service's words, and where each part was read (for the
    errors the service answers about them)."""

    kind: str  # initial, appeal, cancel, extension, renewal, revision
    member_id: str
    subscriber_id: str
    requesting_npi: str
    servicing_npi: str
    urgency: Urgency
    services: tuple[AuthService, ...]
    diagnoses: tuple[str, ...]
    identifier_system: str
    identifier_value: str
    earlier: str = ""  # the authorization number an appeal, cancel or inquiry names
    claim_at: str = "Bundle.entry[0].resource"
    member_at: str = ""
    provider_at: str = ""
    earlier_at: str = ""
    items_at: tuple[str, ...] = field(default=())  # each service's item

    def auth_request(self) -> AuthRequest:
        """The prior-authorization service's request (``source`` FHIR, ``trace`` the Claim's
        identifier)."""
        return AuthRequest(
            member_id=self.member_id,
            subscriber_id=self.subscriber_id or self.member_id,
            requesting_npi=self.requesting_npi,
            servicing_npi=self.servicing_npi,
            urgency=self.urgency,
            services=self.services,
            diagnoses=self.diagnoses,
            trace=self.identifier_value,
            source=Source.FHIR,
            appeal_of=self.earlier if self.kind == "appeal" else "",
        )

    def where_of(self, message: str) -> str:
        """Where in the Bundle the service's refusal ``message`` is about: the item of its
        ``service N``, the member, the requester, the earlier authorization, else the Claim."""
        found = re.match(r"service (\d+)\b", message)
        if found and 0 < int(found.group(1)) <= len(self.items_at):
            return self.items_at[int(found.group(1)) - 1]
        if message.startswith(("member", "trace")):
            return self.member_at if message.startswith("member") else f"{self.claim_at}.identifier"
        if message.startswith("requesting_npi"):
            return self.provider_at
        if message.startswith("appeal_of"):
            return self.earlier_at or self.claim_at
        return self.claim_at


# -- reading --------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(body: bytes) -> Any:
    """The body as JSON, numbers with a fraction as exact Decimals. Raises
    :class:`PasInputError` (400) for a body that is no JSON (saying where it stops being
    JSON)."""
    if not body.strip():
        raise PasInputError("", "the body is empty: send a PAS Bundle as FHIR JSON", status=400)
    try:
        return json.loads(body.decode(), parse_float=Decimal, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise PasInputError(
            "", "the body is not UTF-8 JSON", status=400, issue="structure"
        ) from None
    except json.JSONDecodeError as exc:
        raise PasInputError(
            "",
            f"the body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            status=400,
            issue="structure",
        ) from None
    except (ValueError, RecursionError) as exc:
        text = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise PasInputError(
            "", f"the body is not JSON FHIR can hold: {text}", status=400, issue="structure"
        ) from None


class _Bundle:
    """The entries of a Bundle, found by ``fullUrl`` or by ``Type/id``."""

    def __init__(self, data: Any) -> None:
        bundle = _object(data, "Bundle")
        kind = bundle.get("resourceType")
        if kind != "Bundle":
            named = f"a {kind}" if isinstance(kind, str) and kind else "no FHIR resource"
            raise PasInputError(
                "resourceType", f"the body is {named}, not a Bundle: send the PAS Bundle"
            )
        btype = bundle.get("type")
        if btype != "collection":
            raise PasInputError(
                "Bundle.type", f"a PAS Bundle is of type collection, not {_said(btype)}"
            )
        self.entries: list[tuple[str, JSON]] = []  # (where, resource)
        self._by_url: dict[str, int] = {}
        self._by_id: dict[tuple[str, str], int] = {}
        entries = _list(bundle.get("entry"), "Bundle.entry")
        for n, raw in enumerate(entries):
            where = f"Bundle.entry[{n}]"
            entry = _object(raw, where)
            resource = _object(entry.get("resource"), f"{where}.resource")
            kind = resource.get("resourceType")
            if not isinstance(kind, str) or not kind:
                raise PasInputError(
                    f"{where}.resource.resourceType", "missing: what resource is it?"
                )
            url = entry.get("fullUrl")
            if isinstance(url, str) and url:
                self._by_url.setdefault(url, n)
            ident = resource.get("id")
            if isinstance(ident, str) and ident:
                self._by_id.setdefault((kind, ident), n)
            self.entries.append((f"{where}.resource", resource))

    def claim(self) -> tuple[str, JSON]:
        found = [(w, r) for w, r in self.entries if r.get("resourceType") == "Claim"]
        if not found:
            raise PasInputError(
                "Bundle.entry", "no Claim: a PAS Bundle holds the Claim asking for authorization"
            )
        if len(found) > 1:
            places = ", ".join(w.removesuffix(".resource") for w, _ in found)
            raise PasInputError(
                "Bundle.entry", f"{len(found)} Claims ({places}): a PAS Bundle holds one Claim"
            )
        return found[0]

    def resolve(self, ref: Any, where: str, kinds: Sequence[str]) -> tuple[str, JSON]:
        """The resource a Reference names (its entry's place and the resource), of one of
        ``kinds``; a logical reference (by identifier) is a resource of that identifier."""
        reference = _object(ref, where)
        target = reference.get("reference")
        if isinstance(target, str) and target:
            n = self._by_url.get(target)
            if n is None:
                found = _REFERENCE.match(target)
                if found is not None:
                    n = self._by_id.get((found.group(1), found.group(2)))
            if n is None:
                raise PasInputError(
                    f"{where}.reference", f"{target!r} is not an entry of the Bundle"
                )
            place, resource = self.entries[n]
            if resource.get("resourceType") not in kinds:
                raise PasInputError(
                    f"{where}.reference",
                    f"names a {resource.get('resourceType')}, not a {' or '.join(kinds)}",
                )
            return place, resource
        identifier = reference.get("identifier")
        if identifier is not None:
            _object(identifier, f"{where}.identifier")
            kind = reference.get("type")
            return where, {
                "resourceType": kind if isinstance(kind, str) else kinds[0],
                "identifier": [identifier],
            }
        raise PasInputError(where, "names nothing: give a reference or an identifier")


def read_request(data: Any, *, inquiry: bool = False) -> PasClaim:
    """The PAS Claim of the Bundle ``data`` (the JSON of a ``$submit`` body; with
    ``inquiry``, of an ``$inquire`` body, whose items need no dates and may be absent). Raises
    :class:`PasInputError` naming the first thing that cannot be taken."""
    bundle = _Bundle(data)
    at, claim = bundle.claim()
    use = claim.get("use")
    if use != "preauthorization":
        raise PasInputError(f"{at}.use", f"a PAS Claim's use is preauthorization, not {_said(use)}")
    identifiers = _list(claim.get("identifier"), f"{at}.identifier", required=not inquiry)
    system, value = "", ""
    if identifiers:
        first = _object(identifiers[0], f"{at}.identifier[0]")
        value = _text(first.get("value"), f"{at}.identifier[0].value", required=True)
        if len(value) > MAX_TRACE:
            raise PasInputError(f"{at}.identifier[0].value", f"longer than {MAX_TRACE} characters")
        system = _text(first.get("system"), f"{at}.identifier[0].system")

    member_id, subscriber_id, member_at = _member(bundle, claim, at)
    npi, provider_at = _provider(bundle, claim, at, required=not inquiry)
    servicing = _servicing(bundle, claim, at)

    items = _list(claim.get("item"), f"{at}.item", required=not inquiry)
    if len(items) > MAX_ITEMS:
        raise PasInputError(
            f"{at}.item",
            f"{len(items)} items: at most {MAX_ITEMS} a Claim",
            status=413,
            issue="too-costly",
        )
    event = _event_period(claim, at)
    kinds: set[str] = set()
    kind_at = ""
    earlier, earlier_at = "", ""
    services: list[AuthService] = []
    places: list[str] = []
    for n, raw in enumerate(items):
        where = f"{at}.item[{n}]"
        item = _object(raw, where)
        for ext_at, ext in _extensions(item, where):
            url = ext.get("url")
            if url == EXT_CERTIFICATION_TYPE:
                code = _code_of(ext.get("valueCodeableConcept"), f"{ext_at}.valueCodeableConcept")
                if code not in CERTIFICATION_KINDS:
                    raise PasInputError(
                        f"{ext_at}.valueCodeableConcept",
                        f"certification type {code!r} is not one of "
                        f"{', '.join(sorted(CERTIFICATION_KINDS))} (X12 1322)",
                        issue="code-invalid",
                    )
                kinds.add(CERTIFICATION_KINDS[code])
                kind_at = kind_at or f"{ext_at}.valueCodeableConcept"
            elif url in (EXT_AUTHORIZATION_NUMBER, EXT_ADMINISTRATION_REFERENCE) and not earlier:
                earlier = _text(ext.get("valueString"), f"{ext_at}.valueString", required=True)
                earlier_at = f"{ext_at}.valueString"
        if inquiry:
            continue
        services.append(_service(item, where, event))
        places.append(where)
    if len(kinds) > 1 and not inquiry:
        raise PasInputError(
            kind_at or f"{at}.item",
            f"the items ask different things ({', '.join(sorted(kinds))}): one Claim asks one",
        )
    kind = next(iter(sorted(kinds - {"initial"})), "initial")
    if inquiry:
        kind = "inquiry"
    elif kind != "initial" and not earlier:
        raise PasInputError(
            kind_at,
            f"a{'n' if kind[0] in 'aeiou' else ''} {kind} names the earlier authorization in "
            "the item's authorizationNumber extension",
            issue="required",
        )
    return PasClaim(
        kind=kind,
        member_id=member_id,
        subscriber_id=subscriber_id,
        requesting_npi=npi,
        servicing_npi=servicing,
        urgency=_urgency(claim, at),
        services=tuple(services),
        diagnoses=_diagnoses(claim, at),
        identifier_system=system,
        identifier_value=value,
        earlier=earlier,
        claim_at=at,
        member_at=member_at,
        provider_at=provider_at,
        earlier_at=earlier_at,
        items_at=tuple(places),
    )


def _member(bundle: _Bundle, claim: JSON, at: str) -> tuple[str, str, str]:
    """The member id (and where it was read) and the subscriber id, from the Patient or the
    focal Coverage."""
    place, patient = bundle.resolve(claim.get("patient"), f"{at}.patient", ("Patient",))
    member, member_at = "", ""
    for n, raw in enumerate(_list(patient.get("identifier"), f"{place}.identifier")):
        where = f"{place}.identifier[{n}]"
        ident = _object(raw, where)
        if _identifier_type(ident, where) in ("MB", "MI"):
            member = _text(ident.get("value"), f"{where}.value", required=True)
            member_at = f"{where}.value"
            break
    subscriber = ""
    for n, raw in enumerate(_list(claim.get("insurance"), f"{at}.insurance")):
        where = f"{at}.insurance[{n}]"
        insurance = _object(raw, where)
        if insurance.get("focal") is False:
            continue
        if "coverage" not in insurance:
            continue
        cov_at, coverage = bundle.resolve(insurance["coverage"], f"{where}.coverage", ("Coverage",))
        subscriber = _text(coverage.get("subscriberId"), f"{cov_at}.subscriberId")
        if not member and subscriber:
            member, member_at = subscriber, f"{cov_at}.subscriberId"
        break
    if not member:
        raise PasInputError(
            f"{place}.identifier",
            "the Patient has no member identifier (an identifier of type MB, or the focal "
            "Coverage's subscriberId)",
            issue="required",
        )
    if len(member) > MAX_MEMBER_ID:
        raise PasInputError(member_at, f"longer than {MAX_MEMBER_ID} characters")
    return member, subscriber, member_at


def _provider(bundle: _Bundle, claim: JSON, at: str, *, required: bool) -> tuple[str, str]:
    """The requesting provider's NPI and where it was read."""
    if claim.get("provider") is None and not required:
        return "", f"{at}.provider"
    kinds = ("Organization", "Practitioner", "PractitionerRole")
    place, resource = bundle.resolve(claim.get("provider"), f"{at}.provider", kinds)
    npi = _npi_of(bundle, place, resource)
    if npi is None:
        raise PasInputError(
            place if place != f"{at}.provider" else f"{at}.provider.identifier",
            f"the requesting provider has no NPI (an identifier of system {NPI})",
            issue="required",
        )
    return npi


def _npi_of(bundle: _Bundle, place: str, resource: JSON) -> tuple[str, str] | None:
    for n, raw in enumerate(_list(resource.get("identifier"), f"{place}.identifier")):
        where = f"{place}.identifier[{n}]"
        ident = _object(raw, where)
        if ident.get("system") == NPI:
            value = _text(ident.get("value"), f"{where}.value", required=True)
            if not _NPI.match(value):
                raise PasInputError(f"{where}.value", f"{value!r} is not an NPI (10 digits)")
            return value, f"{where}.value"
    if resource.get("resourceType") == "PractitionerRole":
        for part in ("practitioner", "organization"):
            if resource.get(part) is not None:
                kinds = ("Practitioner",) if part == "practitioner" else ("Organization",)
                p_at, p = bundle.resolve(resource[part], f"{place}.{part}", kinds)
                found = _npi_of(bundle, p_at, p)
                if found is not None:
                    return found
    return None


def _servicing(bundle: _Bundle, claim: JSON, at: str) -> str:
    kinds = ("Organization", "Practitioner", "PractitionerRole")
    for n, raw in enumerate(_list(claim.get("careTeam"), f"{at}.careTeam")):
        where = f"{at}.careTeam[{n}]"
        member = _object(raw, where)
        if member.get("provider") is None:
            continue
        place, resource = bundle.resolve(member["provider"], f"{where}.provider", kinds)
        found = _npi_of(bundle, place, resource)
        if found is not None:
            return found[0]
    return ""


def _urgency(claim: JSON, at: str) -> Urgency:
    for ext_at, ext in _extensions(claim, at):
        if ext.get("url") == EXT_LEVEL_OF_SERVICE:
            code = _code_of(ext.get("valueCodeableConcept"), f"{ext_at}.valueCodeableConcept")
            if code in EXPEDITED_LEVELS:
                return Urgency.EXPEDITED
    priority = claim.get("priority")
    if priority is not None:
        for coding in _codings(priority, f"{at}.priority"):
            if coding.get("code") == "stat":
                return Urgency.EXPEDITED
    return Urgency.STANDARD


def _diagnoses(claim: JSON, at: str) -> tuple[str, ...]:
    found: list[str] = []
    for n, raw in enumerate(_list(claim.get("diagnosis"), f"{at}.diagnosis")):
        where = f"{at}.diagnosis[{n}]"
        dx = _object(raw, where)
        concept = dx.get("diagnosisCodeableConcept")
        if concept is None:
            raise PasInputError(
                f"{where}.diagnosisCodeableConcept",
                "missing: a PAS diagnosis is a code (ICD-10-CM)",
                issue="required",
            )
        code = _code_of(concept, f"{where}.diagnosisCodeableConcept").replace(".", "").upper()
        if not _CODE.match(code):
            raise PasInputError(
                f"{where}.diagnosisCodeableConcept", f"{code!r} is not a diagnosis code"
            )
        if code not in found:
            found.append(code)
    return tuple(found)


def _event_period(claim: JSON, at: str) -> tuple[date | None, date | None]:
    """The dates of the Claim's patientEvent supportingInfo (an item without its own)."""
    for n, raw in enumerate(_list(claim.get("supportingInfo"), f"{at}.supportingInfo")):
        where = f"{at}.supportingInfo[{n}]"
        info = _object(raw, where)
        codes = [c.get("code") for c in _codings(info.get("category"), f"{where}.category")]
        if "patientEvent" in codes:
            return _when(info, where, "timing")
    return None, None


def _service(item: JSON, where: str, event: tuple[date | None, date | None]) -> AuthService:
    code, kind, code_at = "", "procedure", f"{where}.productOrService"
    if item.get("productOrService") is not None:
        codings = _codings(item["productOrService"], code_at)
        coded = [c for c in codings if isinstance(c.get("code"), str) and c["code"].strip()]
        preferred = [c for c in coded if c.get("system") == CPT or "HCPCS" in str(c.get("system"))]
        chosen = preferred or coded
        if chosen:
            code = chosen[0]["code"].strip().upper()
    if not code and item.get("revenue") is not None:
        code_at = f"{where}.revenue"
        code, kind = _code_of(item["revenue"], code_at), "revenue"
    if not code:
        raise PasInputError(
            f"{where}.productOrService",
            "no code: an item asks for a procedure (CPT or HCPCS) or a revenue code",
            issue="required",
        )
    if not _CODE.match(code):
        raise PasInputError(code_at, f"{code!r} is not a procedure or revenue code", issue="value")
    modifiers: list[str] = []
    for n, raw in enumerate(_list(item.get("modifier"), f"{where}.modifier")):
        modifier = _code_of(raw, f"{where}.modifier[{n}]").upper()
        if not re.fullmatch(r"[A-Z0-9]{2}", modifier):
            raise PasInputError(f"{where}.modifier[{n}]", f"{modifier!r} is not a modifier")
        modifiers.append(modifier)
    quantity, unit = Decimal(1), "units"
    if item.get("quantity") is not None:
        quantity, unit = _quantity(item["quantity"], f"{where}.quantity")
    first, last = _when(item, where, "serviced")
    if first is None and last is None:
        first, last = event
    if first is None and last is None:
        raise PasInputError(
            f"{where}.serviced[x]",
            "no date: give servicedDate or servicedPeriod (or the Claim's patientEvent)",
            issue="required",
        )
    place = ""
    if item.get("locationCodeableConcept") is not None:
        place = _code_of(item["locationCodeableConcept"], f"{where}.locationCodeableConcept")
        if not re.fullmatch(r"[0-9]{2}", place):
            raise PasInputError(
                f"{where}.locationCodeableConcept", f"{place!r} is not a place of service code"
            )
    return AuthService(
        code=code,
        quantity=quantity,
        from_date=first,
        to_date=last,
        code_kind=kind,
        modifiers=tuple(modifiers[:4]),
        unit=unit,
        place_of_service=place,
    )


def _quantity(raw: Any, where: str) -> tuple[Decimal, str]:
    quantity = _object(raw, where)
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PasInputError(f"{where}.value", f"{_said(value)} is not a number", issue="value")
    try:
        amount = Decimal(value)
    except InvalidOperation:  # pragma: no cover - json gives ints and finite Decimals
        raise PasInputError(f"{where}.value", "not a number", issue="value") from None
    if not 0 < amount < MAX_QUANTITY:
        raise PasInputError(
            f"{where}.value", f"{amount} is not above 0 and below {MAX_QUANTITY}", issue="value"
        )
    if amount != amount.quantize(Decimal("0.001")):
        raise PasInputError(f"{where}.value", "more than three decimal places", issue="value")
    unit = ""
    for key in ("code", "unit"):
        text = quantity.get(key)
        if isinstance(text, str) and text.strip():
            unit = text.strip().lower()
            break
    if unit in _DAYS:
        return amount, "days"
    if unit in _VISITS:
        return amount, "visits"
    return amount, "units"


def _when(element: JSON, where: str, name: str) -> tuple[date | None, date | None]:
    """``<name>Date`` or ``<name>Period`` (or ``DateTime``) of ``element`` as first and last
    days."""
    single = element.get(f"{name}Date", element.get(f"{name}DateTime"))
    if single is not None:
        key = f"{name}Date" if f"{name}Date" in element else f"{name}DateTime"
        day = _date(single, f"{where}.{key}")
        return day, day
    period = element.get(f"{name}Period")
    if period is None:
        return None, None
    p_at = f"{where}.{name}Period"
    body = _object(period, p_at)
    start = _date(body["start"], f"{p_at}.start") if body.get("start") is not None else None
    end = _date(body["end"], f"{p_at}.end") if body.get("end") is not None else None
    if start is None and end is None:
        raise PasInputError(p_at, "a period with neither start nor end", issue="required")
    if start is not None and end is not None and end < start:
        raise PasInputError(f"{p_at}.end", f"{end} is before the start, {start}", issue="value")
    return start, end


def _date(raw: Any, where: str) -> date:
    text = raw if isinstance(raw, str) else ""
    try:
        if len(text) < 10:
            raise ValueError
        return date.fromisoformat(text[:10])
    except ValueError:
        raise PasInputError(
            where, f"{_said(raw)} is not a full date (YYYY-MM-DD)", issue="value"
        ) from None


# -- small readers --------------------------------------------------------------------------


def _said(value: Any) -> str:
    if value is None:
        return "none"
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _object(value: Any, where: str) -> JSON:
    if value is None:
        raise PasInputError(where, "missing", issue="required")
    if not isinstance(value, dict):
        raise PasInputError(where, f"{_said(value)} is not a JSON object", issue="structure")
    return value


def _list(value: Any, where: str, *, required: bool = False) -> list[Any]:
    if value is None:
        if required:
            raise PasInputError(where, "missing", issue="required")
        return []
    if not isinstance(value, list):
        raise PasInputError(where, f"{_said(value)} is not a JSON array", issue="structure")
    if required and not value:
        raise PasInputError(where, "empty", issue="required")
    return value


def _text(value: Any, where: str, *, required: bool = False) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise PasInputError(where, "missing", issue="required")
        return ""
    if not isinstance(value, str):
        raise PasInputError(where, f"{_said(value)} is not a string", issue="structure")
    if any(ord(c) < 32 for c in value):
        raise PasInputError(where, "holds control characters", issue="value")
    return value.strip()


def _codings(concept: Any, where: str) -> list[JSON]:
    body = _object(concept, where)
    return [
        _object(c, f"{where}.coding[{n}]")
        for n, c in enumerate(_list(body.get("coding"), f"{where}.coding"))
    ]


def _code_of(concept: Any, where: str) -> str:
    """The code of a CodeableConcept's first coding with one."""
    for n, coding in enumerate(_codings(concept, where)):
        if coding.get("code") is not None:
            return _text(coding.get("code"), f"{where}.coding[{n}].code", required=True)
    raise PasInputError(f"{where}.coding", "no code", issue="required")


def _identifier_type(ident: JSON, where: str) -> str:
    if ident.get("type") is None:
        return ""
    for coding in _codings(ident["type"], f"{where}.type"):
        code = coding.get("code")
        if isinstance(code, str):
            return code
    return ""


def _extensions(element: JSON, where: str) -> Iterator[tuple[str, JSON]]:
    for n, raw in enumerate(_list(element.get("extension"), f"{where}.extension")):
        yield f"{where}.extension[{n}]", _object(raw, f"{where}.extension[{n}]")


# -- the answer -----------------------------------------------------------------------------


def response_bundle(
    view: AuthorizationView,
    *,
    now: datetime,
    payer: Payer | None = None,
    identifier: tuple[str, str] | None = None,
    inquiry: bool = False,
) -> JSON:
    """The Bundle (``collection``) answering a ``$submit`` (or, with ``inquiry``, an
    ``$inquire``) with the authorization ``view``: its ClaimResponse, the Patient, the insurer
    (``payer``) and the requesting provider. ``identifier`` (system, value) is the Claim's
    that asked, echoed; ``now`` is the response's time."""
    patient_url = _urn(view.number, "Patient")
    insurer_url = _urn(view.number, "Organization/insurer")
    requestor_url = _urn(view.number, "Organization/requestor")
    response = claim_response(
        view,
        now=now,
        patient=patient_url,
        insurer=insurer_url,
        requestor=requestor_url if view.requesting_npi else None,
        identifier=identifier,
        inquiry=inquiry,
    )
    entries: list[JSON] = [
        {"fullUrl": _urn(view.number, "ClaimResponse"), "resource": response},
        {"fullUrl": patient_url, "resource": _patient(view, patient_url)},
        {"fullUrl": insurer_url, "resource": _insurer(payer, insurer_url)},
    ]
    if view.requesting_npi:
        entries.append({"fullUrl": requestor_url, "resource": _requestor(view, requestor_url)})
    profile = PROFILE_INQUIRY_RESPONSE_BUNDLE if inquiry else PROFILE_RESPONSE_BUNDLE
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [profile]},
        "type": "collection",
        "timestamp": _instant(now),
        "entry": entries,
    }


def claim_response(
    view: AuthorizationView,
    *,
    now: datetime,
    patient: str,
    insurer: str,
    requestor: str | None,
    identifier: tuple[str, str] | None = None,
    inquiry: bool = False,
) -> JSON:
    """The ClaimResponse of the authorization ``view`` (see the module docstring); the
    Patient, insurer and requestor are referenced by the given URLs."""
    action = view.action if view.action in ACTION_WORDS else "A4"
    certifies = action in CERTIFYING
    system, value = identifier if identifier is not None else ("", view.trace)
    ident: JSON = {"value": value or view.number}
    if system:
        ident = {"system": system, **ident}
    resource: JSON = {
        "resourceType": "ClaimResponse",
        "id": view.number,
        "meta": {"profile": [PROFILE_INQUIRY_RESPONSE if inquiry else PROFILE_CLAIM_RESPONSE]},
        "identifier": [ident],
        "status": "active",
        "type": _concept(CLAIM_TYPE, _claim_type(view)),
        "use": "preauthorization",
        "patient": {"reference": patient},
        "created": _instant(now),
        "insurer": {"reference": insurer},
    }
    if requestor is not None:
        resource["requestor"] = {"reference": requestor}
    resource["request"] = {"identifier": ident}
    resource["outcome"] = "queued" if action in WAITING else "complete"
    resource["disposition"] = disposition(view)
    if certifies:
        resource["preAuthRef"] = view.number
        resource["preAuthPeriod"] = {
            "start": view.effective_from.isoformat(),
            "end": view.effective_through.isoformat(),
        }
    resource["item"] = [_item(view, s, action) for s in view.services]
    if view.reason:
        resource["processNote"] = [{"number": 1, "type": "display", "text": view.reason}]
    return resource


def disposition(view: AuthorizationView) -> str:
    """The decision in words: the action's, the state when it says more (expired, waiting
    for a reviewer), and the reason."""
    action = view.action if view.action in ACTION_WORDS else "A4"
    words = ACTION_WORDS[action]
    if view.state == "expired":
        words += f" (expired after {view.effective_through.isoformat()})"
    elif action in WAITING:
        words += f": a clinical reviewer decides by {_instant(view.due_at)}"
    if view.reason:
        words += f"; {view.reason}"
    return words


def _item(view: AuthorizationView, service: ServiceView, overall: str) -> JSON:
    # a cancellation is the request's: every service is cancelled with it
    cancelled = overall == "C"
    action = service.action if service.action in ACTION_WORDS and not cancelled else overall
    review: JSON = {
        "url": EXT_REVIEW_ACTION,
        "extension": [
            {
                "url": EXT_REVIEW_ACTION_CODE,
                "valueCodeableConcept": _concept(X12_ACTION, action, ACTION_WORDS[action]),
            },
            {"url": "number", "valueString": view.number},
        ],
    }
    adjudication: JSON = {
        "extension": [review],
        "category": _concept(ADJUDICATION, "submitted", "Submitted Amount"),
    }
    if action == "A3":
        reason: JSON = {"text": view.reason} if view.reason else {}
        # X12 886, as the 278's HCR03: the denying rule's, else (a reviewer's denial, or one
        # stored with a code of the decisions file's own) not medically necessary
        code = service.reason_code
        x12 = code if _X12_REASON.match(code) else DEFAULT_X12_REASON
        review["extension"].append(
            {"url": "reasonCode", "valueCodeableConcept": _concept(X12_REASON, x12)}
        )
        if code and code != x12:
            reason = {**_concept(REASON_SYSTEM, code), **reason}
        if reason:
            adjudication["reason"] = reason
    item: JSON = {"itemSequence": service.line}
    if action in CERTIFYING:
        adjudication["value"] = service.approved
        item["extension"] = [
            {
                "url": EXT_ITEM_PREAUTH_PERIOD,
                "valuePeriod": {
                    "start": service.from_date.isoformat(),
                    "end": service.to_date.isoformat(),
                },
            }
        ]
    item["adjudication"] = [adjudication]
    return item


def _patient(view: AuthorizationView, url: str) -> JSON:
    return {
        "resourceType": "Patient",
        "id": _id_of(url),
        "identifier": [
            {
                "type": _concept(IDENTIFIER_TYPE, "MB", "Member Number"),
                "value": view.member_id,
            }
        ],
    }


def _insurer(payer: Payer | None, url: str) -> JSON:
    found: JSON = {"resourceType": "Organization", "id": _id_of(url), "active": True}
    if payer is not None and payer.id:
        found["identifier"] = [
            {"type": _concept(PAYER_ID_TYPE, "payerid", "Payer ID"), "value": payer.id}
        ]
    found["name"] = payer.name if payer is not None and payer.name else "the payer"
    return found


def _requestor(view: AuthorizationView, url: str) -> JSON:
    return {
        "resourceType": "Organization",
        "id": _id_of(url),
        "identifier": [{"system": NPI, "value": view.requesting_npi}],
    }


def _claim_type(view: AuthorizationView) -> str:
    codes = [c for s in view.services for c in s.codes]
    if any(s.code_kind == "revenue" for s in view.services):
        return "institutional"
    if codes and all(c.upper().startswith("D") for c in codes):
        return "oral"
    return "professional"


def _urn(number: str, what: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{number}/{what}')}"


def _id_of(url: str) -> str:
    return url.rsplit(":", 1)[-1]


# -- errors ---------------------------------------------------------------------------------


def operation_outcome(message: str, where: str = "", *, issue: str = "invalid") -> JSON:
    """An OperationOutcome with one error issue: ``message`` in ``diagnostics`` (prefixed
    with ``where``) and ``where`` as its FHIRPath ``expression``."""
    found: JSON = {
        "severity": "error",
        "code": issue,
        "diagnostics": f"{where}: {message}" if where else message,
    }
    if where:
        found["expression"] = [where]
    return {"resourceType": "OperationOutcome", "issue": [found]}
