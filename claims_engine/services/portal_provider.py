"""What the portal's pages show a provider's office, read from the store and put in words.

The web adapter (:mod:`adapters.web.provider_pages`) renders these; nothing here knows HTML.
Every function takes the :class:`~claims_engine.services.access.Principal` of the signed-in
account and reads through the same scopes and queries as the API's routes
(:func:`access.claim_visibility` / :func:`access.claim_scope` and ``GET /v1/claims``,
:func:`access.remittance_visibility` and ``GET /v1/remittances/{id}``,
:func:`access.interchange_visibility` and ``GET /v1/interchanges/{id}``): a record it may not
see is answered exactly as a missing one (``None``, or left out of a list) and is not audited.
Every read of health data writes its ``phi_reads`` rows (:func:`access.record_reads`) in the
transaction that reads it, as the API does: one per claim found or shown, per 835 and per
acknowledgment downloaded. The lists of 835s and of files name no patient (payee, trace,
totals; sender, control number, counts) and are not audited, as ``GET /v1/interchanges/{id}``
is not.

* :func:`parse_search` / :func:`find_claims`: a claim by its CLM01 (the submitter's claim id,
  billed under one of the principal's NPIs), by its payer claim control number, or by its
  patient (member id) and a day of service;
* :func:`claim_view`: a claim's state in words, its decision (each line, the amounts, each
  adjustment in the words of :mod:`claims_engine.domain.reasons`), when rejected the reason
  the 277CA gave, and its history in words (:func:`history_words`: pend reasons in the
  payer's texts, never a rule id, a stage's code or an error's text);
* :func:`remittances` / :func:`remittance_file`: the 835s paying the principal's NPIs, and
  one as its X12 text;
* :func:`files` / :func:`file_view` / :func:`acknowledgment_file`: the 837s the principal sent
  with their acknowledgments (TA1, 999, 277CA), and one acknowledgment as X12;
* :func:`authorization_requests` / :func:`authorization_view`: the prior authorization requests
  of the principal's NPIs (requesting or servicing, the scope of
  :func:`claims_engine.services.authorizations.inquire`), newest first, with their state in
  words, and one request as ``inquire`` answers it; a decision's reason is shown, never the
  note that sent a request to a reviewer. One ``phi_reads`` row per request listed or shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Engine, and_, or_, select

from claims_engine.adjudication.decision import Outcome
from claims_engine.domain.money import ZERO
from claims_engine.domain.pend_reasons import DEFAULT_CATALOGUE, PendCatalogue, items_from_text
from claims_engine.domain.reasons import describe_carc, describe_group
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.services import access, authorizations, queries
from claims_engine.services.access import Principal, Role
from claims_engine.services.explanation import load_explanations
from claims_engine.services.portal import service_code
from claims_engine.store.db import begin_write
from claims_engine.store.tables import (
    AUTHORIZATION,
    ClaimState,
    claim_lines_table,
    claims_table,
    interchanges_table,
    prior_authorization_services_table,
    prior_authorizations_table,
    remittances_table,
)
from claims_engine.store.vault import current_vault

PAGE_SIZE = 20
MAX_FOUND = 50  # claims one search shows
MAX_CLAIM_ID = 38  # CLM01 (the claims table's column)
MAX_PAYER_NUMBER = 50
MAX_MEMBER_ID = 80
MAX_ID = 2**63 - 1
_PRINTABLE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


class SearchError(ValueError):
    """Search input that cannot be used, with what to correct in words."""


@dataclass(frozen=True, slots=True)
class Search:
    """One way of finding a claim: ``by`` is ``clm01``, ``payer_number`` or ``patient``."""

    by: str
    claim_id: str = ""  # CLM01
    npi: str | None = None  # with CLM01: one of the principal's NPIs, or any of them
    payer_claim_number: str = ""
    member_id: str = ""
    service_date: date | None = None


def _text(value: str | None, label: str, longest: int) -> str:
    value = (value or "").strip()
    if len(value) > longest:
        raise SearchError(f"The {label} is at most {longest} characters long.")
    if value and not _PRINTABLE.match(value):
        raise SearchError(f"The {label} may hold letters, digits and punctuation only.")
    return value


def parse_search(
    principal: Principal,
    *,
    claim_id: str | None = None,
    npi: str | None = None,
    payer_claim_number: str | None = None,
    member_id: str | None = None,
    service_date: str | None = None,
) -> Search | None:
    """The search the form's fields ask for (None when every field is empty), or
    :class:`SearchError` saying what is wrong with them (pure)."""
    clm01 = _text(claim_id, "claim number (CLM01)", MAX_CLAIM_ID)
    number = _text(payer_claim_number, "payer claim number", MAX_PAYER_NUMBER)
    member = _text(member_id, "member id", MAX_MEMBER_ID)
    day_text = _text(service_date, "date of service", 10)
    npi_text = _text(npi, "NPI", 10)
    if npi_text and principal.role is Role.PROVIDER and npi_text not in principal.npis:
        raise SearchError("Choose one of your NPIs, or any of them.")
    if npi_text and not (npi_text.isascii() and npi_text.isdigit() and len(npi_text) == 10):
        raise SearchError("An NPI is 10 digits.")
    given = [k for k, v in (("clm01", clm01), ("payer_number", number)) if v]
    if member or day_text:
        given.append("patient")
    if not given:
        return None
    if len(given) > 1:
        raise SearchError(
            "Search by one thing at a time: the claim number (CLM01), the payer claim number, "
            "or the patient and the date of service."
        )
    if given[0] == "clm01":
        return Search("clm01", claim_id=clm01, npi=npi_text or None)
    if given[0] == "payer_number":
        return Search("payer_number", payer_claim_number=number)
    if not member or not day_text:
        raise SearchError("To find a claim by its patient, give both the member id and the date.")
    day = service_day(day_text)
    return Search("patient", member_id=member, service_date=day)


def service_day(text: str) -> date:
    """A date of service as a date field sends it (2026-03-14) or as it is written in the
    United States (03/14/2026); :class:`SearchError` otherwise (pure)."""
    found = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
    parts = None if found is None else (found[1], found[2], found[3])
    written = re.fullmatch(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", text)
    if written is not None:
        parts = (written[3], written[1], written[2])
    if parts is not None:
        try:
            day = date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError:
            pass
        else:
            if 1900 <= day.year <= 2999:
                return day
    raise SearchError(f"{text!r} is not a date of service: write it as 2026-03-14 or 03/14/2026.")


# -- claims ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoundClaim:
    """One claim of a search's results."""

    claim_id: int
    submitter_claim_id: str  # CLM01
    payer_claim_number: str | None
    member_id: str
    billing_npi: str
    claim_type: str
    received_on: date
    state: str
    status: str  # the state in words
    billed: Decimal
    paid: Decimal | None


def status_text(state: str, outcome: str | None, paid: Decimal | None) -> str:
    """A claim's state in a provider's words (pure)."""
    if state in (ClaimState.RECEIVED, ClaimState.ACCEPTED):
        return "Received, being processed"
    if state == ClaimState.REJECTED:
        return "Rejected: correct it and send it again"
    if state == ClaimState.PENDED:
        return "Pended: under review by the plan"
    if outcome == Outcome.DENIED or (paid is not None and paid == ZERO):
        decided = "Denied" if outcome == Outcome.DENIED else "Processed, nothing payable"
    elif outcome == Outcome.PARTLY_PAID:
        decided = "Partly paid"
    else:
        decided = "Paid"
    if state == ClaimState.REMITTED:
        return decided + ": in an 835"
    return decided + ": in the next 835"


def _day_of_service(day: date) -> ColumnElement[bool]:
    """Claims with a service line whose dates include ``day``."""
    ln = claim_lines_table.c
    covering = select(ln.claim_id).where(
        ln.service_from <= day,
        or_(
            and_(ln.service_to.is_(None), ln.service_from == day),
            ln.service_to >= day,
        ),
    )
    return claims_table.c.id.in_(covering)


def find_claims(
    engine: Engine,
    principal: Principal,
    search: Search,
    *,
    route: str,
    now: datetime,
) -> list[FoundClaim]:
    """The claims ``principal`` may see that ``search`` finds (at most :data:`MAX_FOUND`, by
    id), through the query of ``GET /v1/claims``; one ``phi_reads`` row per claim found."""
    visible = access.claim_visibility(principal)
    if search.by == "clm01":
        # CLM01 is the provider's own number: unique only with the NPI billing it. A provider
        # sees its NPIs' claims only, so within its scope the CLM01 names its claims.
        where = queries.ClaimFilter(billing_npi=search.npi, submitter_claim_id=search.claim_id)
    elif search.by == "payer_number":
        where = queries.ClaimFilter(payer_claim_number=search.payer_claim_number)
    else:
        assert search.service_date is not None
        where = queries.ClaimFilter(member_id=search.member_id)
        on_day = _day_of_service(search.service_date)
        visible = on_day if visible is None else and_(visible, on_day)
    with begin_write(engine) as conn:
        found = queries.search_claims(conn, visible, where, limit=MAX_FOUND)
        access.record_reads(conn, principal, route, "claim", [c.id for c in found], now)
    outcomes = {
        e.claim_row_id: e.decision for e in load_explanations(engine, [c.id for c in found])
    }
    return [
        FoundClaim(
            c.id,
            c.submitter_claim_id,
            c.payer_claim_number,
            c.member_id,
            c.billing_npi,
            c.claim_type,
            c.received_on,
            c.state,
            status_text(c.state, _outcome(outcomes.get(c.id)), c.paid),
            c.charge,
            c.paid,
        )
        for c in found
    ]


def _outcome(decision: object) -> str | None:
    outcome = getattr(decision, "outcome", None)
    return None if outcome is None else str(outcome)


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: str
    reason: str
    amount: Decimal
    words: str  # the reason and its group in words

    @property
    def code(self) -> str:
        return f"{self.group}-{self.reason}"


@dataclass(frozen=True, slots=True)
class DecidedLine:
    line: int
    service: str  # procedure code (with modifiers) or revenue code
    service_from: date | None
    service_to: date | None
    billed: Decimal
    allowed: Decimal
    paid: Decimal
    patient_responsibility: Decimal
    adjustments: tuple[Adjustment, ...]


@dataclass(frozen=True, slots=True)
class Happened:
    """One event of a claim's history, in words."""

    at: datetime
    words: str


@dataclass(frozen=True, slots=True)
class ProviderClaim:
    """A claim as its provider sees it."""

    claim_id: int
    submitter_claim_id: str
    payer_claim_number: str | None
    member_id: str
    patient: str
    billing_npi: str
    claim_type: str
    received_on: date
    state: str
    status: str
    billed: Decimal
    allowed: Decimal | None
    paid: Decimal | None
    patient_responsibility: Decimal | None
    outcome: str | None
    rejected_because: str | None  # the 277CA's reason, when rejected at intake
    pended_because: str | None  # what a pended claim waits for (information asked for)
    replaced_by: str | None
    remittance_trace: str | None  # TRN02 of the 835 that carried the decision
    lines: tuple[DecidedLine, ...]
    claim_adjustments: tuple[Adjustment, ...]
    history: tuple[Happened, ...]


def adjustment(group: str, reason: str, amount: Decimal) -> Adjustment:
    return Adjustment(group, reason, amount, f"{describe_carc(reason)} ({describe_group(group)})")


def _patient(reference: ReferenceData | None, member_id: str) -> str:
    member = reference.members.get(member_id) if reference is not None else None
    if member is None:
        return member_id
    return f"{member.first_name.title()} {member.last_name.title()} ({member_id})"


def claim_view(
    engine: Engine,
    principal: Principal,
    claim_id: int,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
) -> ProviderClaim | None:
    """The claim as ``GET /v1/claims/{id}`` reads it (scope and audit row in one), with its
    decision line by line; None when there is no such claim or ``principal`` may not see it
    (the two are not told apart, and neither is audited)."""
    if not 1 <= claim_id <= MAX_ID:
        return None
    audit = access.audit_entry(principal, route, now)
    with begin_write(engine) as conn:
        view = queries.claim_status_read(conn, claim_id, access.claim_scope(principal), audit)
    if view is None:
        return None
    found = load_explanations(engine, [claim_id])
    e = found[0] if found else None
    d = e.decision if e is not None else None
    lines: list[DecidedLine] = []
    for ln in d.lines if d is not None else ():
        lines.append(
            DecidedLine(
                ln.line_number,
                service_code(ln),
                ln.service_from,
                ln.service_to,
                ln.charge,
                ln.allowed,
                ln.paid,
                sum((a.amount for a in ln.adjustments if a.group == "PR"), start=ZERO),
                tuple(adjustment(a.group, a.reason, a.amount) for a in ln.adjustments),
            )
        )
    claim_level = tuple(
        adjustment(a.group, a.reason, a.amount) for a in (d.claim_adjustments if d else ())
    )
    pended = None
    if view.state == ClaimState.PENDED:
        info = view.info_request
        pended = (
            f"The plan asked for information: {info.asked} (answer by {info.answer_by:%Y-%m-%d})"
            if info is not None
            else "Under review by the plan's examiners"
        )
    status = status_text(view.state, view.outcome, view.paid)
    if view.reversed_by:
        status = "Replaced or cancelled by a later claim"
    return ProviderClaim(
        view.id,
        view.submitter_claim_id,
        view.payer_claim_number,
        view.member_id,
        _patient(reference, view.member_id),
        view.billing_npi,
        view.claim_type,
        view.received_on,
        view.state,
        status,
        view.charge,
        view.allowed,
        view.paid,
        view.patient_responsibility,
        view.outcome,
        view.error if view.state == ClaimState.REJECTED else None,
        pended,
        view.reversed_by,
        view.remittance_trace,
        tuple(lines),
        claim_level,
        tuple(
            Happened(e.at, history_words(e, catalogue=_catalogue(reference))) for e in view.history
        ),
    )


def _catalogue(reference: ReferenceData | None) -> PendCatalogue:
    return reference.pend_reasons if reference is not None else DEFAULT_CATALOGUE


_ACCEPTED = re.compile(r"accepted \(277CA\), payer claim number (?P<number>\S+)\Z")
_DECIDED = re.compile(
    r"(?P<outcome>paid|partly paid|denied): paid (?P<paid>-?[0-9]+\.[0-9]{2}) \(rule pack [^;)]*"
    r"(?P<again>; decided again by an examiner)?\)(?:; reversed (?P<reversed>\S+))?\Z"
)
_PENDED = re.compile(
    r"pended: (?P<why>.*?) \(rule pack [^;)]*(?:; [^)]*)?\)(?:; reversed \S+)?\Z", re.S
)
_REMITTED = re.compile(r"835 trace (?P<trace>\S+) to (?P<npi>[0-9]{10})\Z")
_AGAIN = re.compile(r"adjudicated again in place of (?P<claim>\S+): ")
_STATES = {
    "received": "Received",
    "accepted": "Accepted",
    "rejected": "Rejected: correct the claim and send it again",
    "pended": "Pended: under review by the plan",
    "adjudicated": "Decided",
    "remitted": "In an 835",
}


def history_words(event: queries.EventView, *, catalogue: PendCatalogue = DEFAULT_CATALOGUE) -> str:
    """What an event of a claim's history did, in a provider's words (pure). The engine's
    reasons are read as it writes them (:mod:`claims_engine.services.intake`,
    ``stored_adjudication``, ``remittance``, ``readjustment``); pend reasons are said in
    ``catalogue``'s texts (the payer's ``pend_reasons.yaml``); anything else is said by the
    state it reached, so that no rule id, stage code or error text reaches the page."""
    reason = event.reason.strip()
    state = event.to_state
    if state == "accepted":
        accepted = _ACCEPTED.match(reason)
        if accepted:
            return f"Accepted (277CA), payer claim number {accepted['number']}"
        again = _AGAIN.match(reason)
        if again:
            return (
                f"Taken to be decided again in place of claim {again['claim']}, after a change "
                "of the patient's coverage"
            )
    if state == "adjudicated":
        decided = _DECIDED.match(reason)
        if decided:
            paid = Decimal(decided["paid"])
            outcome = decided["outcome"]
            if outcome == "denied":
                words = "Decided: denied"
            elif outcome == "partly paid":
                words = f"Decided: partly paid, {_dollars(paid)}"
            else:
                words = f"Decided: paid {_dollars(paid)}"
            if decided["again"]:
                words += ", after the plan's review"
            if decided["reversed"]:
                words += f"; the decision on claim {decided['reversed']} is reversed"
            return words
    if state == "pended":
        pended = _PENDED.match(reason)
        items = items_from_text(pended["why"] if pended else reason)
        texts = list(
            dict.fromkeys(
                catalogue.get(i.code).text + (f" (line {i.line})" if i.line else "") for i in items
            )
        )
        if texts:
            return "Pended for review: " + "; ".join(texts)
    if state == "remitted":
        remitted = _REMITTED.match(reason)
        if remitted:
            return f"Paid in the 835 with trace number {remitted['trace']} to NPI {remitted['npi']}"
    return _STATES.get(state, state.replace("_", " ").capitalize())


def _dollars(amount: Decimal) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


# -- 835s -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemittanceLine:
    remittance_id: int
    payee_npi: str
    trace_number: str
    created_at: datetime
    claims: int
    total_paid: Decimal


def remittances(
    engine: Engine, principal: Principal, *, page: int = 1, per_page: int = PAGE_SIZE
) -> tuple[list[RemittanceLine], bool]:
    """A page (from 1) of the 835s paying ``principal``'s NPIs (an insurer's: all), newest
    first, and whether there are more."""
    r = remittances_table.c
    query = select(r.id, r.payee_npi, r.trace_number, r.created_at, r.claims, r.total_paid)
    visible = access.remittance_visibility(principal)
    if visible is not None:
        query = query.where(visible)
    query = query.order_by(r.id.desc()).offset((max(page, 1) - 1) * per_page).limit(per_page + 1)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    found = [
        RemittanceLine(x.id, x.payee_npi, x.trace_number, x.created_at, x.claims, x.total_paid)
        for x in rows[:per_page]
    ]
    return found, len(rows) > per_page


@dataclass(frozen=True, slots=True)
class Download:
    file_name: str  # safe: letters, digits, dot, dash and underscore
    text: str


def safe_file_name(*parts: str, suffix: str) -> str:
    """A download's name from ``parts``, keeping letters, digits, dash and underscore (pure)."""
    stem = "-".join(re.sub(r"[^A-Za-z0-9_-]+", "_", p).strip("_") for p in parts if p)
    return f"{stem[:100] or 'file'}.{suffix}"


def remittance_file(
    engine: Engine, principal: Principal, remittance_id: int, *, route: str, now: datetime
) -> Download | None:
    """The 835 as X12, read as ``GET /v1/remittances/{id}`` reads it (audited); None when there
    is none or ``principal`` may not see it."""
    if not 1 <= remittance_id <= MAX_ID:
        return None
    with begin_write(engine) as conn:
        view = queries.remittance_view(conn, remittance_id, access.remittance_visibility(principal))
        if view is None:
            return None
        access.record_reads(conn, principal, route, "remittance", [remittance_id], now)
    name = safe_file_name("835", view.payee_npi, view.trace_number, str(view.id), suffix="x12")
    return Download(name, view.x12)


# -- files sent and their acknowledgments ------------------------------------------------------


def files(
    engine: Engine, principal: Principal, *, page: int = 1, per_page: int = PAGE_SIZE
) -> tuple[list[queries.InterchangeView], bool]:
    """A page (from 1) of the 837 interchanges ``principal`` sent (an insurer's: all), newest
    first, each with its acknowledgments, and whether there are more."""
    i = interchanges_table.c
    query = select(i.id).where(i.transaction_set == "837")
    visible = access.interchange_visibility(principal)
    if visible is not None:
        query = query.where(visible)
    query = query.order_by(i.id.desc()).offset((max(page, 1) - 1) * per_page).limit(per_page + 1)
    with engine.connect() as conn:
        ids = [int(x) for x in conn.execute(query).scalars()]
        views = [queries.interchange_view(conn, n, visible) for n in ids[:per_page]]
    return [v for v in views if v is not None], len(ids) > per_page


def file_view(
    engine: Engine, principal: Principal, interchange_id: int
) -> queries.InterchangeView | None:
    """One interchange and its acknowledgments, as ``GET /v1/interchanges/{id}`` reads it;
    None when there is none or ``principal`` did not send it."""
    if not 1 <= interchange_id <= MAX_ID:
        return None
    with engine.connect() as conn:
        return queries.interchange_view(
            conn, interchange_id, access.interchange_visibility(principal)
        )


def acknowledgment_file(
    engine: Engine,
    principal: Principal,
    interchange_id: int,
    ack_id: int,
    *,
    route: str,
    now: datetime,
) -> Download | None:
    """A TA1, 999 or 277CA as X12, read as ``GET /v1/interchanges/{id}/acknowledgments/{ack}``
    reads it (audited); None when there is none or ``principal`` did not send its file."""
    if not (1 <= interchange_id <= MAX_ID and 1 <= ack_id <= MAX_ID):
        return None
    with begin_write(engine) as conn:
        found = queries.acknowledgment(
            conn, interchange_id, ack_id, access.interchange_visibility(principal)
        )
        if found is None:
            return None
        access.record_reads(conn, principal, route, "acknowledgment", [ack_id], now)
    ref, text = found
    kind = ref.kind.upper()
    return Download(
        safe_file_name(kind, str(interchange_id), ref.control_number, suffix="x12"), text
    )


def counts_in_words(claims: dict[str, int]) -> str:
    """An interchange's claims by state, in words: "3 paid, 1 rejected" (pure)."""
    words = {
        "received": "received",
        "accepted": "accepted",
        "rejected": "rejected",
        "pended": "pended",
        "adjudicated": "decided",
        "remitted": "in an 835",
    }
    parts = [f"{n} {words.get(s, s)}" for s, n in claims.items() if n]
    return ", ".join(parts) if parts else "no claims read yet"


# -- prior authorization requests ---------------------------------------------------------------

AUTH_PAGE_SIZE = 20
_AUTH_STATE_WORDS = {
    "requested": "Received, not decided yet",
    "pended": "Waiting for a clinical reviewer",
    "approved": "Approved",
    "denied": "Denied",
    "not required": "No authorization needed",
    "cancelled": "Cancelled",
    "expired": "Expired: its last day has passed",
}
_AUTH_ACTION_WORDS = {
    "A1": "Approved",
    "A2": "Approved in part",
    "A3": "Denied",
    "A4": "Waiting for a clinical reviewer",
    "A6": "Approved with changes",
    "C": "Cancelled",
    "CT": "Waiting: please call the plan",
    "NA": "No authorization needed",
}


def authorization_state_words(state: str, action: str) -> str:
    """A request's state in plain words (pure): what a 278's HCR01 says, for a person."""
    if state == "approved" and action in ("A2", "A6"):
        return _AUTH_ACTION_WORDS[action]
    if state == "pended" and action == "CT":
        return _AUTH_ACTION_WORDS["CT"]
    return _AUTH_STATE_WORDS.get(state, state)


def service_action_words(action: str) -> str:
    """One service's decision in plain words (pure)."""
    return _AUTH_ACTION_WORDS.get(action, action or "not decided yet")


def shows_reason(state: str) -> bool:
    """Whether a request's reason is the provider's to read: a decision's (a denial's, a
    modification's), never the note that sent it to a reviewer."""
    return state in ("approved", "denied")


@dataclass(frozen=True, slots=True)
class AuthorizedService:
    line: int
    codes: tuple[str, ...]
    unit: str
    requested: Decimal
    approved: Decimal
    action: str


@dataclass(frozen=True, slots=True)
class AuthorizationLine:
    """One of the provider's requests, as its list shows it."""

    number: str
    state: str
    action: str
    status: str  # the state in plain words
    urgency: str
    patient: str
    requesting_npi: str
    received_at: datetime
    decided_at: datetime | None
    effective_from: date
    effective_through: date
    reason: str  # the decision's, when it is the provider's to read (else "")
    services: tuple[AuthorizedService, ...]


def authorization_requests(
    engine: Engine,
    principal: Principal,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
    page: int = 1,
    per_page: int = AUTH_PAGE_SIZE,
) -> tuple[list[AuthorizationLine], bool]:
    """A page (from 1) of the prior authorization requests of ``principal``'s NPIs (an
    insurer's: all), the newest first, and whether there are more; one ``phi_reads`` row
    (type ``authorization``) per request listed."""
    a, s = prior_authorizations_table.c, prior_authorization_services_table.c
    query = select(
        a.id,
        a.number,
        a.state,
        a.action,
        a.urgency,
        a.requesting_npi,
        a.received_at,
        a.decided_at,
        a.effective_from,
        a.effective_through,
        a.content,
    )
    visible = authorizations.visible_to(principal)
    if visible is not None:
        query = query.where(visible)
    query = (
        query.order_by(a.received_at.desc(), a.id.desc())
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page + 1)
    )
    vault = current_vault()
    with begin_write(engine) as conn:
        rows = conn.execute(query).all()
        shown = rows[:per_page]
        services: dict[int, list[AuthorizedService]] = {}
        if shown:
            for sv in conn.execute(
                select(
                    s.authorization_id, s.line, s.codes, s.unit, s.requested, s.approved, s.action
                )
                .where(s.authorization_id.in_([int(r.id) for r in shown]))
                .order_by(s.authorization_id, s.line)
            ):
                services.setdefault(int(sv.authorization_id), []).append(
                    AuthorizedService(
                        int(sv.line),
                        tuple(str(sv.codes).split()),
                        str(sv.unit),
                        sv.requested,
                        sv.approved,
                        str(sv.action or ""),
                    )
                )
            access.record_reads(
                conn, principal, route, "authorization", [r.number for r in shown], now
            )
    found = []
    for r in shown:
        content = vault.open_json(r.content, AUTHORIZATION, r.id)
        state, action = str(r.state), str(r.action or "")
        found.append(
            AuthorizationLine(
                number=str(r.number),
                state=state,
                action=action,
                status=authorization_state_words(state, action),
                urgency=str(r.urgency),
                patient=_patient(reference, str(content.get("member_id", ""))),
                requesting_npi=str(r.requesting_npi),
                received_at=r.received_at,
                decided_at=r.decided_at,
                effective_from=r.effective_from,
                effective_through=r.effective_through,
                reason=str(content.get("reason", "")) if shows_reason(state) else "",
                services=tuple(services.get(int(r.id), ())),
            )
        )
    return found, len(rows) > per_page


@dataclass(frozen=True, slots=True)
class ProviderAuthorization:
    """One request as its provider reads it: the service's view and its words."""

    view: authorizations.AuthorizationView
    status: str
    patient: str
    reason: str  # the decision's, when it is the provider's to read (else "")


def authorization_view(
    engine: Engine,
    principal: Principal,
    number: str,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
) -> ProviderAuthorization | None:
    """Request ``number`` as :func:`claims_engine.services.authorizations.inquire` answers
    ``principal`` (audited); None when there is none or it is another provider's (the same)."""
    try:
        view = authorizations.inquire(engine, principal, number=number)
    except authorizations.AuthorizationNotFound:
        return None
    with begin_write(engine) as conn:
        access.record_reads(conn, principal, route, "authorization", [view.number], now)
    return ProviderAuthorization(
        view=view,
        status=authorization_state_words(view.state, view.action),
        patient=_patient(reference, view.member_id),
        reason=view.reason if shows_reason(view.state) else "",
    )


def quantity_text(value: Decimal) -> str:
    """A quantity of units, visits or days as a person writes it: "2", "1.5" (pure)."""
    return f"{value.normalize():f}"


def quantity_words(value: Decimal, unit: str) -> str:
    """A quantity with its unit: "1 unit", "2 units", "1.5 days", "1 visit" (pure)."""
    text = quantity_text(value)
    one = unit[:-1] if unit.endswith("s") else unit
    return f"{text} {one if value == 1 else unit}"
