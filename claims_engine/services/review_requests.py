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
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine

from claims_engine.domain.prior_auth import AuthRequest, AuthService, Source, Urgency
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.rules.authorization_rules import (
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
    NOT_CERTIFIED,
    PENDED,
    REQUIRED_FIELD_MISSING,
    SUBSCRIBER_NOT_FOUND,
    Decision,
    Decisions,
    EventDecision,
    Rejection,
    write_278,
)

log = logging.getLogger(__name__)

# HSD01 (and SV2-04 DA) -> the unit of an authorization's service
_UNIT_OF = {"VS": "visits", "DY": "days", "DA": "days"}

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
    decisions = decide_events(request, principal, decide)
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
        dict.fromkeys(d.event.member_id for d in decisions if d.decision.rejection is None)
    )
    return ReviewAnswer(out.getvalue(), len(decisions), len(decisions) - rejected, rejected, told)


def may_ask(event: ReviewEvent, principal: Principal) -> bool:
    """Whether ``principal`` may ask about ``event``: an insurer about any, a provider only for
    a requester (2010B) identified by one of its NPIs (NM108 ``XX``)."""
    if principal.sees_everything:
        return True
    npi = event.requester_npi
    return bool(npi) and npi in principal.npis


def decide_events(request: ReviewRequest, principal: Principal, decide: Decide) -> Decisions:
    """One decision for each event of ``request``: AAA 43 in 2010B for those ``principal`` may
    not ask about, ``decide``'s for the others (it sees only those)."""
    allowed = [e for e in request.events if may_ask(e, principal)]
    decided: Decisions = ()
    if allowed:
        narrowed = replace(
            request,
            transactions=tuple(
                replace(t, events=tuple(e for e in t.events if may_ask(e, principal)))
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
    return tuple(
        next(answers) if may_ask(e, principal) else EventDecision(e, refused)
        for e in request.events
    )


# -- to the prior-authorization service's request --------------------------------------------------
def auth_request(event: ReviewEvent) -> AuthRequest:
    """The prior-authorization request an event asks (its services, or, when it names none,
    the event itself as one service: an admission's days, a referral's visits). The member is
    the subscriber's id (a 5010 dependent has none of its own: the service tells the patient
    from the names); an appeal names the certification number it appeals."""
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
    return AuthRequest(
        member_id=event.member_id,
        subscriber_id=event.member_id,
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


def authorization_rules(rules_dir: Path, known_plans: Collection[str]) -> AuthRules:
    """The decisions file of the rules folder ``rules_dir`` (none there: every service that
    needs authorization goes to a reviewer, on the default clocks)."""
    path = decision_rules_path(rules_dir)
    if not path.exists():
        return default_rules()
    return load_authorization_rules(path, known_plans=known_plans)


def authorizations_decide(
    engine: Engine,
    *,
    reference: ReferenceData,
    book: RuleBook,
    rules: AuthRules,
    now: datetime,
) -> Decide:
    """The decider that hands each event to the prior-authorization service
    (:mod:`claims_engine.services.authorizations`): a new request is submitted (one sent again,
    same requester and trace, is answered as it stands); a cancel (UM02 ``3``) naming an
    earlier certification number (REF*BB) cancels it; an appeal (UM02 ``1``/``2``) is
    submitted naming the denial it appeals; an extension, renewal or revision naming an earlier
    number is answered with that request's current state. Refusals become AAAs: 75 in 2010C for
    a member the payer does not know, AA in 2000E for an earlier number the asker cannot see
    (missing or someone else's: the same words), 15 or 33 in 2000E for a request the service
    cannot take."""

    def decide(request: ReviewRequest, principal: Principal) -> Decisions:
        return tuple(
            _decided(engine, event, principal, reference, book, rules, now)
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
            view = pa.submit(engine, auth_request(event), reference, book, rules, now)
    except pa.AuthorizationNotFound:
        return _rejected(event, Rejection("2000E", AUTHORIZATION_NOT_FOUND))
    except pa.AuthorizationRefused as exc:
        message = str(exc)
        if message == "member not found":
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
        approved_from=view.effective_from if certifies else None,
        approved_through=view.effective_through if certifies else None,
        administrative_reference="" if certifies else view.number,
    )
    if not own:
        return EventDecision(event, decision)
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
    return EventDecision(event, decision, tuple(answers))


def _reason(services: Sequence[pa.ServiceView]) -> str:
    """HCR03: the code of the rule that denied (the first denied service's)."""
    return next(
        (s.reason_code for s in services if s.action == NOT_CERTIFIED and s.reason_code), ""
    )
