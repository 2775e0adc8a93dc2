"""Health care services review requests: an X12 278 request in, the 278 response out.

:func:`answer_278` is what ``POST /v1/x12/278`` and ``claims-engine authorize`` share: it
refuses a body sent under sender ids (ISA06 / GS02) not registered to the key
(:func:`claims_engine.services.access.sending_refusal`, as for an 837), reads the request
(:func:`claims_engine.x12.reader278.read_278`; a broken one raises
:class:`~claims_engine.services.claim_inquiry.UnusableInquiry` with the TA1 or 999 answering
it), answers AAA 43 (2010B) every event whose requester is not identified by one of a provider
key's NPIs, hands the other events to ``decide``, and writes the response
(:func:`claims_engine.x12.writer278.write_278`).

``decide`` is the seam to the prior-authorization service: a :data:`Decide` takes the request
(narrowed to the events the key may ask about) and who asks, and returns one
:class:`~claims_engine.x12.writer278.EventDecision` for each of its events, in order.
:func:`authorizations_decide` is the one the route and the command use: it maps each event to
the service's :class:`~claims_engine.domain.prior_auth.AuthRequest` (:func:`auth_request`),
submits it, cancels or looks up the earlier request it names, and maps the
:class:`~claims_engine.services.authorizations.AuthorizationView` it gets back to the 278's
words (:func:`event_decision`). Whether the member is the payer's (AAA 75 when not, saying no
more than for a member that does not exist), what is certified, pended or denied, and what an
earlier request now stands at, is the service's business, not this module's.

An inquiry (a 278 under the 005010X215 guide, GS08 / ST03 ``005010X215``: the same route, the
same command) never reaches ``decide``: :func:`answer_278` answers each of its events itself,
from :func:`claims_engine.services.authorizations.inquire` (:func:`inquiry_decision`), with the
current state of the request it names (REF*BB, REF*NT, else the requester's trace, TRN*1). It
never creates or changes a request; one the asker may not see, or of another member, reads as
one that does not exist (AAA AA).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from claims_engine.domain.prior_auth import AuthRequest, AuthService, Source, Urgency
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.rules.authorization_rules import (
    DEFAULT_X12_REASON,
    X12_REASON,
    AuthRules,
    decision_rules_path,
    default_rules,
    load_authorization_rules,
)
from claims_engine.rules.book import RuleBook
from claims_engine.services import access
from claims_engine.services import authorizations as pa
from claims_engine.services.access import Principal, Role
from claims_engine.services.claim_inquiry import MAX_INQUIRIES, UnusableInquiry, unusable
from claims_engine.services.eligibility import STORE_UNAVAILABLE, control_271, fallback_control
from claims_engine.store.db import KeptConnections
from claims_engine.x12.reader278 import (
    Delivery,
    ReviewEvent,
    ReviewRequest,
    ReviewService,
    TooManyInquiries,
    Unreadable,
    read_278,
)
from claims_engine.x12.writer278 import (
    ACTIONS as _ACTIONS,
)
from claims_engine.x12.writer278 import (
    AUTHORIZATION_NOT_FOUND,
    CERTIFYING,
    INVALID_PROVIDER,
    MODIFIED,
    NOT_CERTIFIED,
    PARTLY_CERTIFIED,
    PENDED,
    REQUIRED_FIELD_MISSING,
    RESUBMIT_LATER,
    SUBSCRIBER_NOT_FOUND,
    UNABLE_TO_RESPOND,
    Decision,
    Decisions,
    EventDecision,
    Rejection,
    write_278,
)

log = logging.getLogger(__name__)

# HSD01 (and SV2-04 DA) -> the unit of an authorization's service
_UNIT_OF = {"VS": "visits", "DY": "days", "DA": "days"}
# the patient's relationship to the subscriber: 18 self; a dependent (2000D) is G8, "other
# relationship": the 2010D INS is not read, and any code but 18 has the service look for the
# dependant by birth date (and first name) on the subscriber's policy
SELF = "18"
DEPENDANT = "G8"
# the unit of an authorization's service -> HSD01 of the quantity certified
_HSD_OF = {"units": "FL", "visits": "VS", "days": "DY"}

Decide = Callable[[ReviewRequest, Principal], Decisions]


@dataclass(frozen=True, slots=True)
class ReviewAnswer:
    """The 278 response, and what it answered: ``events`` asked, ``reviewed`` answered with an
    HCR, ``rejected`` with an AAA; ``member_ids`` whose review it tells (each once), for the
    audit of health data read."""

    x12: str
    events: int
    reviewed: int
    rejected: int
    member_ids: tuple[str, ...] = ()  # the members of the events answered with an HCR (audit)


def answer_278(
    engine: Engine,
    data: bytes,
    *,
    principal: Principal,
    decide: Decide,
    now: datetime,
    max_events: int | None = MAX_INQUIRIES,
) -> ReviewAnswer:
    """The 278 response answering the request ``data`` sent by ``principal`` (see the module
    docstring). Raises :class:`UnusableInquiry`: 403 (not the key's to send, nothing of it
    answered), 400 with a TA1, 422 with a 999, 413 over ``max_events`` patient events."""
    if principal.role not in (Role.PROVIDER, Role.INSURER):
        raise UnusableInquiry(403, "only provider and insurer keys ask for reviews", None)
    refusal = access.sending_refusal(principal, data)
    if refusal is not None:
        raise UnusableInquiry(403, refusal, None)
    request = read_278(data, max_events=max_events)
    if isinstance(request, TooManyInquiries):
        raise UnusableInquiry(
            413,
            f"more than {request.limit} {request.what} (HL at segment {request.position}): "
            "ask about fewer a request, or send a batch to `claims-engine authorize`",
            None,
        )
    if isinstance(request, Unreadable):
        raise unusable(engine, request, now)
    decisions = decide_events(
        request, principal, decide, inquire=lambda e: inquiry_decision(engine, e, principal)
    )
    try:
        control = control_271(engine)
    except STORE_UNAVAILABLE:
        control = fallback_control(now)
    out = io.StringIO()
    write_278(out, request, decisions, control=control, created=now)
    rejected = sum(1 for d in decisions if d.decision.rejection is not None)
    for t in request.transactions:
        log.info(
            "278 answered with 278 %09d: ISA13 %s GS06 %s ST02 %s, %d events",
            control,
            request.interchange.control,
            t.group.control,
            t.header.control,
            len(t.events),
        )
    told = tuple(
        dict.fromkeys(
            d.patient or d.event.member_id for d in decisions if d.decision.rejection is None
        )
    )
    return ReviewAnswer(out.getvalue(), len(decisions), len(decisions) - rejected, rejected, told)


def may_ask(event: ReviewEvent, principal: Principal) -> bool:
    """Whether ``principal`` may ask about ``event``: an insurer about any, a provider only for
    a requester (2010B) identified by one of its NPIs (NM108 ``XX``)."""
    if principal.sees_everything:
        return True
    npi = event.requester_npi
    return bool(npi) and npi in principal.npis


Inquire = Callable[[ReviewEvent], EventDecision]


def decide_events(
    request: ReviewRequest,
    principal: Principal,
    decide: Decide,
    *,
    inquire: Inquire | None = None,
) -> Decisions:
    """One decision for each event of ``request``: AAA 43 in 2010B for those ``principal`` may
    not ask about, ``inquire``'s for the inquiries (X215) it may (without one: AAA 42, unable to
    respond), ``decide``'s for the others (it sees only those: never an inquiry)."""

    def decided_by_decide(e: ReviewEvent) -> bool:
        return may_ask(e, principal) and not e.inquiry

    allowed = [e for e in request.events if decided_by_decide(e)]
    decided: Decisions = ()
    if allowed:
        narrowed = replace(
            request,
            transactions=tuple(
                replace(t, events=tuple(e for e in t.events if decided_by_decide(e)))
                for t in request.transactions
            ),
        )
        decided = tuple(decide(narrowed, principal))
        if len(decided) != len(allowed) or not all(
            d.event is e for d, e in zip(decided, allowed, strict=True)
        ):
            raise ValueError("decide did not answer each event of the request, in order")
    answers = iter(decided)
    refused = Decision(rejection=Rejection("2010B", INVALID_PROVIDER))
    unable = Decision(rejection=Rejection("2000E", UNABLE_TO_RESPOND, RESUBMIT_LATER))

    def answer(e: ReviewEvent) -> EventDecision:
        if not may_ask(e, principal):
            return EventDecision(e, refused)
        if e.inquiry:
            return inquire(e) if inquire is not None else EventDecision(e, unable)
        return next(answers)

    return tuple(answer(e) for e in request.events)


# -- an inquiry (005010X215) ----------------------------------------------------------------------
def inquiry_decision(engine: Engine, event: ReviewEvent, principal: Principal) -> EventDecision:
    """The answer to an inquiry's event: the current state of the request it names, by its
    certification number (REF*BB) or administrative reference (REF*NT: the engine's are the
    same number), else by the requester's trace of it (TRN*1, with the requesting NPI), as
    :func:`event_decision` words it. Nothing is created or changed. AAA in 2000E: AA for a
    number or trace the asker may not see, of another member, or that does not exist (the
    same words), 15 for an event that names none."""
    number = event.previous_authorization or event.previous_reference
    if not number:
        number = next(
            (
                s.previous_authorization or s.previous_reference
                for s in event.services
                if s.previous_authorization or s.previous_reference
            ),
            "",
        )
    try:
        if number:
            view = pa.inquire(engine, principal, number=number)
        elif event.trace_number:
            view = pa.inquire(
                engine,
                principal,
                trace=event.trace_number,
                requesting_npi=event.requester_npi or event.requester.id,
            )
        else:
            return _rejected(event, Rejection("2000E", REQUIRED_FIELD_MISSING))
    except pa.AuthorizationNotFound:
        return _rejected(event, Rejection("2000E", AUTHORIZATION_NOT_FOUND))
    if event.member_id and event.member_id not in (view.member_id, view.subscriber_id):
        # another member's request: as one that does not exist
        return _rejected(event, Rejection("2000E", AUTHORIZATION_NOT_FOUND))
    return event_decision(event, view)


# -- to the prior-authorization service's request --------------------------------------------------
def auth_request(event: ReviewEvent) -> AuthRequest:
    """The prior-authorization request an event asks (its services, or, when it names none,
    the event itself as one service: an admission's days, a referral's visits). The member is
    the 2010C member id: the patient's own when there is no dependent (2000D); with one, the
    subscriber's (a 5010 dependent has no id of its own), and the dependent's first name and
    birth date (2010D NM1, DMG) say which of the policy's dependants the patient is, as for a
    270's 2000D (the service finds them, with their own member id where the payer keeps one).
    An appeal names the certification number it appeals."""
    event_from, event_to = _event_period(event)
    services = tuple(_auth_service(s, event, event_from, event_to) for s in event.services)
    if not services:
        quantity, unit = _quantity(event.delivery, None, "")
        services = (
            AuthService(
                code=event.review.service_type,
                quantity=quantity,
                from_date=event_from,
                to_date=event_to,
                unit=unit,
                place_of_service=event.review.facility[0] if event.review.facility else "",
            ),
        )
    servicing = event.servicing_npis
    dependent = event.dependent
    return AuthRequest(
        member_id=event.member_id,
        subscriber_id=event.member_id,
        relationship=DEPENDANT if dependent is not None else SELF,
        patient_first_name=dependent.first_name if dependent is not None else "",
        patient_birth_date=dependent.birth_date if dependent is not None else None,
        requesting_npi=event.requester_npi or event.requester.id,
        servicing_npi=servicing[0] if servicing else "",
        urgency=Urgency.EXPEDITED if event.expedited else Urgency.STANDARD,
        services=services,
        diagnoses=tuple(d.code for d in event.diagnoses),
        trace=event.trace_number,
        source=Source.X12,
        appeal_of=event.previous_authorization if event.kind == "appeal" else "",
    )


def _event_period(event: ReviewEvent) -> tuple[date | None, date | None]:
    for qualifier in ("AAH", "435"):
        found = event.date_of(qualifier)
        if found is not None:
            start, end = found
            if qualifier == "435":
                discharge = event.date_of("096")
                end = discharge[1] if discharge is not None else end
            return start, end
    if event.care_period is not None:  # home health: the certification period asked
        return event.care_period
    return None, None


def _quantity(
    delivery: tuple[Delivery, ...], units: Decimal | None, basis: str
) -> tuple[Decimal, str]:
    """How much is asked, and in what: the service line's units, else its HSD's."""
    if units is not None and units > 0:
        return units, _UNIT_OF.get(basis, "units")
    for d in delivery:
        if d.quantity is not None and d.quantity > 0:
            return d.quantity, _UNIT_OF.get(d.qualifier, "units")
    return Decimal(1), "units"


def _auth_service(
    s: ReviewService, event: ReviewEvent, event_from: date | None, event_to: date | None
) -> AuthService:
    quantity, unit = _quantity(s.delivery, s.units, s.unit_basis)
    if s.procedure is not None and s.procedure.code:
        code, kind, modifiers = s.procedure.code, "procedure", s.procedure.modifiers
    else:
        code, kind, modifiers = s.revenue_code, "revenue", ()
    facility = (s.review or event.review).facility
    return AuthService(
        code=code,
        quantity=quantity,
        from_date=s.service_from or event_from,
        to_date=s.service_to or event_to,
        code_kind=kind,
        modifiers=modifiers,
        unit=unit,
        place_of_service=facility[0] if facility else "",
    )


# -- the prior-authorization service as the decider -----------------------------------------------
INPUT_ERRORS = "33"  # AAA03 of 2000E: input errors
PATIENT_NOT_FOUND = "67"  # AAA03 of 2010D: no dependant of the subscriber is the patient


# the decisions files loaded: (path, plans) -> (what the file was when read, its rules)
_loaded: dict[tuple[str, frozenset[str]], tuple[tuple[int, int, int, int], AuthRules]] = {}
_loaded_lock = threading.Lock()
_LOADED_MOST = 16  # files kept (a process has one rules folder; tests have many)


def authorization_rules(rules_dir: Path, known_plans: Collection[str]) -> AuthRules:
    """The decisions file of the rules folder ``rules_dir`` (none there: every service that
    needs authorization goes to a reviewer, on the default clocks), loaded and checked once
    for each version of the file: it is read again when its size, modification time, change
    time or inode differ from when it was read (a ``stat`` a call, not a parse: the 278 route
    asks for every request). A file that does not load raises every time it is asked for."""
    path = decision_rules_path(rules_dir)
    try:
        found = path.stat()
    except FileNotFoundError:
        return default_rules()
    mark = (found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)
    key = (str(path), frozenset(known_plans))
    with _loaded_lock:
        kept = _loaded.get(key)
    if kept is not None and kept[0] == mark:
        return kept[1]
    rules = load_authorization_rules(path, known_plans=known_plans)
    with _loaded_lock:
        if len(_loaded) >= _LOADED_MOST:
            _loaded.clear()
        _loaded[key] = (mark, rules)
    return rules


def authorizations_decide(
    engine: Engine,
    *,
    reference: ReferenceData,
    book: RuleBook,
    rules: AuthRules,
    now: datetime,
    connections: KeptConnections | None = None,
) -> Decide:
    """The decider that hands each event to the prior-authorization service
    (:mod:`claims_engine.services.authorizations`): a new request is submitted (one sent again,
    same requester and trace, is answered as it stands); a cancel (UM02 ``3``) naming an
    earlier certification number (REF*BB) cancels it; an appeal (UM02 ``1``/``2``) is
    submitted naming the denial it appeals; an extension, renewal or revision naming an earlier
    number is answered with that request's current state. Refusals become AAAs: 75 in 2010C for
    a member the payer does not know, AA in 2000E for an earlier number the asker cannot see
    (missing or someone else's: the same words), 15 or 33 in 2000E for a request the service
    cannot take. ``connections``: kept open between requests by a route deciding many a
    second, where a new request is stored in one statement (PostgreSQL; see
    :func:`~claims_engine.services.authorizations.submit`)."""

    def decide(request: ReviewRequest, principal: Principal) -> Decisions:
        return tuple(
            _decided(engine, event, principal, reference, book, rules, now, connections)
            for event in request.events
        )

    return decide


def _decided(
    engine: Engine,
    event: ReviewEvent,
    principal: Principal,
    reference: ReferenceData,
    book: RuleBook,
    rules: AuthRules,
    now: datetime,
    connections: KeptConnections | None = None,
) -> EventDecision:
    earlier = event.previous_authorization
    try:
        if earlier and event.kind == "cancel":
            try:
                view = pa.cancel(engine, earlier, f"278 {principal.key_id}", now, principal)
            except pa.AuthorizationConflict:  # nothing left to cancel: as it stands
                view = pa.inquire(engine, principal, number=earlier)
        elif earlier and event.kind in ("extension", "renewal", "revision"):
            view = pa.inquire(engine, principal, number=earlier)
        else:
            view = pa.submit(
                engine, auth_request(event), reference, book, rules, now, connections=connections
            )
    except pa.AuthorizationNotFound:
        return _rejected(event, Rejection("2000E", AUTHORIZATION_NOT_FOUND))
    except pa.AuthorizationRefused as exc:
        message = str(exc)
        if message == "member not found":
            if event.dependent is not None:  # no such dependant on the subscriber's policy
                return _rejected(event, Rejection("2010D", PATIENT_NOT_FOUND))
            return _rejected(event, Rejection("2010C", SUBSCRIBER_NOT_FOUND))
        if message.startswith("appeal_of"):
            return _rejected(event, Rejection("2000E", AUTHORIZATION_NOT_FOUND))
        missing = any(w in message for w in ("empty", "needed", "at least"))
        return _rejected(
            event, Rejection("2000E", REQUIRED_FIELD_MISSING if missing else INPUT_ERRORS)
        )
    return event_decision(event, view)


def _rejected(event: ReviewEvent, rejection: Rejection) -> EventDecision:
    return EventDecision(event, Decision(rejection=rejection))


def event_decision(event: ReviewEvent, view: pa.AuthorizationView) -> EventDecision:
    """The 278's answer to ``event`` from the authorization the service holds: HCR01 its
    action, HCR02 its certification number when it certifies (else the number is the
    administrative reference, REF*NT, to ask about it later), HCR03 the rule's code of a
    denial, the period and the quantities certified. Services are answered one by one when
    the request named them, else the event is its one service."""
    action = view.action if view.action in _ACTIONS else PENDED
    certifies = action in CERTIFYING
    services = view.services
    own = bool(event.services) and len(services) == len(event.services)
    single = services[0] if not event.services and len(services) == 1 else None
    decision = Decision(
        action,
        certification_number=view.number if certifies else "",
        reason=_reason(services) if action == NOT_CERTIFIED else "",
        approved_units=single.approved if single is not None and certifies else None,
        unit_qualifier=_HSD_OF.get(single.unit, "") if single is not None else "",
        approved_from=view.effective_from if certifies else None,
        approved_through=view.effective_through if certifies else None,
        administrative_reference="" if certifies else view.number,
        message=view.reason if action in _EXPLAINED else "",
    )
    if not own:
        return EventDecision(event, decision, patient=view.member_id)
    answers = []
    for s in services:
        one = s.action if s.action in _ACTIONS else action
        approves = one in CERTIFYING
        answers.append(
            Decision(
                one,
                certification_number=view.number if approves else "",
                reason=_reason((s,)) if one == NOT_CERTIFIED else "",
                approved_units=s.approved if approves else None,
                approved_from=s.from_date if approves else None,
                approved_through=s.to_date if approves else None,
            )
        )
    return EventDecision(event, decision, tuple(answers), patient=view.member_id)


# the actions whose reason in words (the decisions file's code and words, or a reviewer's) the
# response carries in the event's MSG: a denial, a modification, an approval in part
_EXPLAINED = frozenset({NOT_CERTIFIED, MODIFIED, PARTLY_CERTIFIED})


def _reason(services: Sequence[pa.ServiceView]) -> str:
    """HCR03 of a denial: the first denied service's code of X12's list 886 (Health Care
    Services Review Decision Reason Codes), as its decision rule gave it; a reviewer's denial
    (or one stored with a code of another kind) is :data:`DEFAULT_X12_REASON`, not medically
    necessary."""
    denied = [s.reason_code for s in services if s.action == NOT_CERTIFIED]
    if not denied:
        return ""
    return next((c for c in denied if X12_REASON.match(c)), DEFAULT_X12_REASON)
