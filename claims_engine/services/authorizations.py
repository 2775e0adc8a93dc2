"""Prior authorizations in the store: requests decided by rules or by a clinical reviewer on a
clock, and the units claims draw on the approved ones.

Transport-neutral: an X12 278, a FHIR PAS bundle and the command line all build an
:class:`~claims_engine.domain.prior_auth.AuthRequest` and call the same functions; each
answers with an :class:`AuthorizationView` that its writer turns into its own words.

- :func:`submit`: a request is checked, stored once (a request sent again, same source,
  requester and trace, is answered as it stands) and decided by the rules
  (:mod:`claims_engine.rules.authorization_rules`): not required (NA), approved (A1, A6),
  denied with a reason (A3), or pended (A4) to the ``clinical`` queue, due at the clock of
  its plan (72 hours expedited, 7 calendar days standard by default). An appeal of a denial
  (``appeal_of``) is never denied by a rule again: it goes to a reviewer.
- :func:`decide`: a clinical reviewer's decision on a pended request (every denial and
  modification with a reason in words); :func:`extend` extends a pended standard request's
  clock once; :func:`cancel`; :func:`expire` marks approved authorizations whose last day has
  passed.
- :func:`inquire` by certification number or by the requester's trace, and :func:`answered_since`
  (pended requests decided since a moment: what a provider polling the status route, a 278
  inquiry or the FHIR ``$inquire`` is sent), scoped to who asks: a provider key sees only the
  requests of its NPIs (requesting or servicing), a member key its own and its dependants',
  the insurer and examiners everything; "not yours" reads as "not found".
- :func:`clinical_queue` (open requests by due time) and :func:`alert_due` (open requests
  within their plan's ``alert_before`` of their due time: alerted once each and logged; the
  command counts them in ``claims_prior_auth_alerts_total``).
- :func:`import_reference_authorizations`: the reference data's ``authorizations.csv`` as
  approved authorizations (``reference load`` calls it; a number already stored is left).
- For adjudication: :func:`approved_for_families` (the approved authorizations of locked
  families with the units each service has left) and :func:`record_uses` (the units each
  standing decision drew, once per authorization, claim and line; a reversal gives them back).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, Connection, Engine, false, func, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from claims_engine.adjudication.adjudicate import Adjudication
from claims_engine.adjudication.decision import ClaimStatusCode, Outcome
from claims_engine.domain.benefits import Authorization
from claims_engine.domain.errors import ClaimsEngineError
from claims_engine.domain.prior_auth import (
    APPROVING,
    OPEN_STATES,
    REVIEWER_ACTIONS,
    STATE_OF_ACTION,
    Action,
    AuthRequest,
    AuthRequestError,
    AuthService,
    AuthState,
    RequestDecision,
    ServiceDecision,
    Source,
    Urgency,
    alert_at,
    decision_reason,
    due_at,
    request_action,
)
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.rules.authorization_rules import (
    CLINICAL_QUEUE,
    NOT_COVERED_X12_REASON,
    AuthRules,
    MemberFacts,
    decide_request,
)
from claims_engine.rules.book import RuleBook
from claims_engine.store.db import KeptConnections, begin_write, next_numbers
from claims_engine.store.tables import (
    AUTHORIZATION,
    prior_authorization_events_table,
    prior_authorization_services_table,
    prior_authorization_uses_table,
    prior_authorizations_table,
)
from claims_engine.store.vault import current_vault

log = logging.getLogger(__name__)

RULES_ACTOR = "prior-auth rules"
IMPORT_ACTOR = "authorizations.csv"
NUMBER_COUNTER = "prior_authorization"  # the numbers' counter on SQLite
NUMBER_SEQUENCE = "prior_authorization_numbers"  # ... and their sequence on PostgreSQL

_auths = prior_authorizations_table
_services = prior_authorization_services_table
_uses = prior_authorization_uses_table
_events = prior_authorization_events_table


class Asker(Protocol):
    """Who asks (an API key's :class:`~claims_engine.services.access.Principal`): its role, the
    NPIs of a provider key, the member lookups a member key sees."""

    @property
    def role(self) -> str: ...

    @property
    def npis(self) -> frozenset[str]: ...

    @property
    def member_id(self) -> str | None: ...

    @property
    def members(self) -> frozenset[str]: ...


_SEES_EVERYTHING = frozenset({"insurer", "examiner", "supervisor"})


class AuthorizationNotFound(ClaimsEngineError):
    """No such authorization, or not one the asker may see (the same words either way)."""


class AuthorizationRefused(ClaimsEngineError):
    """A request or an action that cannot be taken as it is; the message says why."""


class AuthorizationConflict(ClaimsEngineError):
    """The authorization is not (or no longer) in a state the action applies to."""


class _SentTwice(Exception):
    """The same request (source, requester, trace) is stored already, by another submission
    while this one decided it: nothing of this one is stored, the stored one answers it."""


@dataclass(frozen=True, slots=True)
class ServiceView:
    line: int
    codes: tuple[str, ...]
    code_kind: str
    modifiers: tuple[str, ...]
    unit: str
    requested: Decimal
    approved: Decimal
    used: Decimal
    action: str
    rule: str
    reason_code: str
    from_date: date
    to_date: date

    @property
    def left(self) -> Decimal:
        return max(self.approved - self.used, Decimal(0))


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """An authorization as a requester, a reviewer or a writer (278, FHIR) sees it."""

    number: str
    trace: str
    source: str
    state: str
    action: str
    urgency: str
    member_id: str
    subscriber_id: str
    requesting_npi: str
    servicing_npi: str
    plan_id: str
    diagnoses: tuple[str, ...]
    received_at: datetime
    due_at: datetime
    decided_at: datetime | None
    decided_by: str
    reason: str
    queue: str
    appeal_of: str
    extended_at: datetime | None
    effective_from: date
    effective_through: date
    services: tuple[ServiceView, ...]

    def as_json(self) -> dict[str, Any]:
        def when(value: datetime | date | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "number": self.number,
            "trace": self.trace,
            "source": self.source,
            "state": self.state,
            "action": self.action,
            "urgency": self.urgency,
            "member_id": self.member_id,
            "requesting_npi": self.requesting_npi,
            "servicing_npi": self.servicing_npi,
            "plan_id": self.plan_id,
            "received_at": when(self.received_at),
            "due_at": when(self.due_at),
            "decided_at": when(self.decided_at),
            "reason": self.reason,
            "queue": self.queue or None,
            "appeal_of": self.appeal_of or None,
            "extended": self.extended_at is not None,
            "effective_from": when(self.effective_from),
            "effective_through": when(self.effective_through),
            "services": [
                {
                    "line": s.line,
                    "codes": list(s.codes),
                    "unit": s.unit,
                    "requested": str(s.requested),
                    "approved": str(s.approved),
                    "used": str(s.used),
                    "left": str(s.left),
                    "action": s.action,
                    "rule": s.rule or None,
                }
                for s in self.services
            ],
        }


# -- submitting -----------------------------------------------------------------------------


def submit(
    engine: Engine,
    request: AuthRequest,
    reference: ReferenceData,
    book: RuleBook,
    rules: AuthRules,
    now: datetime,
    *,
    connections: KeptConnections | None = None,
) -> AuthorizationView:
    """Take a request and decide it by the rules (see the module docstring). Raises
    :class:`AuthorizationRefused` for a request that cannot be taken (a field missing, a
    member the payer does not know, an appeal of nothing denied).

    A request sent twice at the same moment (two server processes, each deciding it) is
    stored once: the insert that finds the requester's trace already taken does nothing (on
    SQLite its transaction is rolled back with the certification number it drew; on
    PostgreSQL that number is left unused), and it is answered with the stored request, as
    one sent again later is.

    On PostgreSQL a request is stored by one statement on an autocommit connection (one of
    ``connections`` when given: a route deciding many a second keeps a few open), the counter
    of certification numbers locked only while it runs; on SQLite in a transaction that takes
    the write lock at BEGIN. Either way what is answered is built from what was written, not
    read back."""
    try:
        request.check()
    except AuthRequestError as exc:
        raise AuthorizationRefused(str(exc)) from None
    vault = current_vault()
    trace = (request.trace or "")[:50]
    member = _patient(request, reference)
    if member is None:
        raise AuthorizationRefused("member not found")
    member_lookup = vault.lookup(member.member_id)
    try:
        return _submit(
            engine, request, reference, book, rules, now, member, member_lookup, trace, connections
        )
    except _SentTwice:
        with engine.connect() as conn:
            found = _find(
                conn, source=request.source.value, npi=request.requesting_npi, trace=trace
            )
            assert found is not None  # the insert that stopped this one is committed
            return _as_it_stands(conn, found, member_lookup, request, trace)


def _patient(request: AuthRequest, reference: ReferenceData) -> Member | None:
    """The member a request is for: its member id's, or, for a dependant named by the
    subscriber's id (a 5010 278's 2000D) with their first name and birth date, that dependant
    of the policy holder (the id may be any member of the family's: its subscriber's is
    taken)."""
    if request.relationship == "18":
        return reference.members.get(request.member_id)
    given = request.subscriber_id or request.member_id
    holder = reference.members.get(given)
    return reference.find_patient(
        holder.subscriber_id if holder is not None else given,
        request.relationship,
        request.patient_first_name.upper(),
        request.patient_birth_date,
    )


def _as_it_stands(
    conn: Connection, found: Any, member_lookup: str, request: AuthRequest, trace: str
) -> AuthorizationView:
    if found.member_id != member_lookup:
        raise AuthorizationRefused(
            f"trace {trace!r} of {request.requesting_npi} names another request"
        )
    return _view(conn, found)


def _submit(
    engine: Engine,
    request: AuthRequest,
    reference: ReferenceData,
    book: RuleBook,
    rules: AuthRules,
    now: datetime,
    member: Member,
    member_lookup: str,
    trace: str,
    connections: KeptConnections | None,
) -> AuthorizationView:
    """Decide ``request`` and store it (raises :class:`_SentTwice` when its trace is taken)."""
    vault = current_vault()
    postgres = engine.dialect.name == "postgresql"
    if not postgres and trace:  # SQLite: a request sent again is answered before deciding
        with engine.connect() as conn:
            found = _find(
                conn, source=request.source.value, npi=request.requesting_npi, trace=trace
            )
            if found is not None:
                return _as_it_stands(conn, found, member_lookup, request, trace)
    first = min(s.first_day for s in request.services if s.first_day is not None)
    last = max(s.last_day for s in request.services if s.last_day is not None)
    dental = all(s.code.upper().startswith("D") for s in request.services)
    plan_id = member.plan_on(first, dental=dental)
    if request.appeal_of:
        with engine.connect() as conn:
            appealed = _find(conn, number=request.appeal_of)
        if (
            appealed is None
            or appealed.member_id != member_lookup
            or appealed.state != AuthState.DENIED
        ):
            raise AuthorizationRefused(
                f"appeal_of {request.appeal_of!r} is not a denied request of this member"
            )
    clocks = rules.clocks_for(plan_id)
    due = due_at(now, request.urgency, clocks)
    if not all(member.covered_on(s.first_day or first) for s in request.services):
        reason = f"the member is not covered by the plan on {first.isoformat()}"
        decisions = tuple(
            ServiceDecision(n, Action.NOT_CERTIFIED, Decimal(0), reason, NOT_COVERED_X12_REASON)
            for n in range(1, len(request.services) + 1)
        )
        decision = RequestDecision(Action.NOT_CERTIFIED, decisions, reason)
    else:
        in_network = reference.in_network(
            request.servicing_npi or request.requesting_npi, plan_id, first
        )
        facts = MemberFacts(plan_id, member.birth_date, member.sex, in_network)
        decision = decide_request(request, rules, book.pack_on(first), facts)
        if request.appeal_of:
            decision = _appealed(decision)
    pended = decision.action is Action.PENDED
    state = decision.state
    content = {
        "member_id": member.member_id,
        "subscriber_id": member.subscriber_id,
        "diagnoses": list(request.diagnoses),
        "reason": decision.reason,
    }
    row: dict[str, Any] = {
        "source": request.source.value,
        "trace": trace,  # "": its number
        "requesting_npi": request.requesting_npi[:10],
        "servicing_npi": request.servicing_npi[:10],
        "member_id": member_lookup,
        "family": vault.lookup(f"family:{member.family_id}"),
        "plan_id": plan_id,
        "urgency": request.urgency.value,
        "state": state.value,
        "action": decision.action.value,
        "queue": CLINICAL_QUEUE if pended else None,
        "received_at": now,
        "due_at": due,
        "decided_at": None if pended else now,
        "decided_by": None if pended else f"{RULES_ACTOR} {rules.version}".strip(),
        "appeal_of": request.appeal_of or None,
        "effective_from": first,
        "effective_through": last,
        "rules_version": rules.version,
        "updated_at": now,
        "content": vault.seal_json(content, AUTHORIZATION),
    }
    services = [
        _service_row(0, n, s, d)
        for n, (s, d) in enumerate(zip(request.services, decision.services, strict=True), 1)
    ]
    note = "pended to the clinical queue" if pended else "decided by the rules"
    events = [
        ("requester", None, AuthState.REQUESTED.value, None, "received"),
        (RULES_ACTOR, AuthState.REQUESTED.value, state.value, decision.action.value, note),
    ]
    if postgres:
        number = _store_postgres(engine, connections, row, services, events, now)
    else:
        number = _store_sqlite(engine, row, services, events, now)
    return _stored_view(number, row, content, services)


def _stored_view(
    number: str, row: Mapping[str, Any], content: Mapping[str, Any], services: Sequence[Any]
) -> AuthorizationView:
    """The view of a request just stored, from what was written (as :func:`_view` reads it
    back: quantities to the column's three places, nothing used yet)."""
    places = Decimal("0.001")
    return AuthorizationView(
        number=number,
        trace=row["trace"] or number,
        source=row["source"],
        state=row["state"],
        action=row["action"],
        urgency=row["urgency"],
        member_id=str(content["member_id"]),
        subscriber_id=str(content["subscriber_id"]),
        requesting_npi=row["requesting_npi"],
        servicing_npi=row["servicing_npi"],
        plan_id=row["plan_id"],
        diagnoses=tuple(content["diagnoses"]),
        received_at=row["received_at"],
        due_at=row["due_at"],
        decided_at=row["decided_at"],
        decided_by=row["decided_by"] or "",
        reason=str(content["reason"]),
        queue=row["queue"] or "",
        appeal_of=row["appeal_of"] or "",
        extended_at=None,
        effective_from=row["effective_from"],
        effective_through=row["effective_through"],
        services=tuple(
            ServiceView(
                line=int(s["line"]),
                codes=tuple(str(s["codes"]).split()),
                code_kind=str(s["code_kind"]),
                modifiers=tuple(str(s["modifiers"]).split()),
                unit=str(s["unit"]),
                requested=Decimal(s["requested"]).quantize(places),
                approved=Decimal(s["approved"]).quantize(places),
                used=Decimal("0.000"),
                action=str(s["action"] or ""),
                rule=str(s["rule"]),
                reason_code=str(s["reason_code"]),
                from_date=s["from_date"],
                to_date=s["to_date"],
            )
            for s in services
        ),
    )


# Every 278 stored on PostgreSQL, as one statement on an autocommit connection (one round
# trip): the certification number drawn from the sequence prior_authorization_numbers (unless
# the requester's trace is stored already; a sequence, not the counters row SQLite uses, since
# every new request locking one row made them wait for each other: numbers are unique and
# increasing, and one is left unused when two processes store the same request at once), the
# request inserted unless its trace is taken by then (another process deciding the same
# request: nothing is inserted, and the caller reads that one), its services and its two
# events.
_PG_STORE = """
WITH n AS (
  SELECT %(prefix)s || lpad(taken.value::text, greatest(7, length(taken.value::text)), '0')
    AS number
  FROM (SELECT nextval('prior_authorization_numbers') AS value WHERE NOT EXISTS (
    SELECT 1 FROM prior_authorizations
    WHERE source = %(source)s AND requesting_npi = %(requesting_npi)s AND trace = %(trace)s)
  ) AS taken
), a AS (
  INSERT INTO prior_authorizations (number, source, trace, requesting_npi, servicing_npi,
    member_id, family, plan_id, urgency, state, action, queue, received_at, due_at,
    decided_at, decided_by, appeal_of, effective_from, effective_through, rules_version,
    updated_at, content)
  SELECT n.number, %(source)s, COALESCE(NULLIF(%(trace)s, ''), n.number), %(requesting_npi)s,
    %(servicing_npi)s, %(member_id)s, %(family)s, %(plan_id)s, %(urgency)s, %(state)s,
    %(action)s, %(queue)s, %(received_at)s, %(due_at)s, %(decided_at)s, %(decided_by)s,
    %(appeal_of)s, %(effective_from)s, %(effective_through)s, %(rules_version)s,
    %(updated_at)s, %(content)s
  FROM n
  ON CONFLICT (source, requesting_npi, trace) DO NOTHING
  RETURNING id, number
), s AS (
  INSERT INTO prior_authorization_services (authorization_id, line, codes, code_kind,
    modifiers, unit, place_of_service, category, requested, approved, action, rule,
    reason_code, from_date, to_date)
  SELECT a.id, v.* FROM a, jsonb_to_recordset(%(services)s::jsonb) AS v(line int, codes text,
    code_kind text, modifiers text, unit text, place_of_service text, category text,
    requested numeric, approved numeric, action text, rule text, reason_code text,
    from_date date, to_date date)
), e AS (
  INSERT INTO prior_authorization_events (authorization_id, at, actor, from_state, to_state,
    action, note)
  SELECT a.id, %(received_at)s, v.* FROM a, jsonb_to_recordset(%(events)s::jsonb)
    AS v(actor text, from_state text, to_state text, action text, note text)
)
SELECT id, number FROM a
"""
_SERVICE_COLUMNS = (
    "line",
    "codes",
    "code_kind",
    "modifiers",
    "unit",
    "place_of_service",
    "category",
    "requested",
    "approved",
    "action",
    "rule",
    "reason_code",
    "from_date",
    "to_date",
)
_EVENT_COLUMNS = ("actor", "from_state", "to_state", "action", "note")


def _store_postgres(
    engine: Engine,
    connections: KeptConnections | None,
    row: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]],
    events: Sequence[tuple[str | None, ...]],
    now: datetime,
) -> str:
    params: dict[str, Any] = {**row, "prefix": f"PA{now.year}"}
    # the rows as one JSON parameter each (a list of arrays costs the driver more to send)
    params["services"] = orjson.dumps(
        [{c: s[c] for c in _SERVICE_COLUMNS} for s in services], default=str
    ).decode()
    params["events"] = orjson.dumps(
        [dict(zip(_EVENT_COLUMNS, e, strict=True)) for e in events]
    ).decode()
    with (connections or KeptConnections(engine, 0)).connect() as conn:
        stored = conn.exec_driver_sql(_PG_STORE, params).first()
        if stored is not None:
            return str(stored.number)
        # the requester's trace is in the store: it was before (the number was not taken), or
        # another stored it since this statement looked (its number is left unused)
        if _find(conn, source=row["source"], npi=row["requesting_npi"], trace=row["trace"]):
            raise _SentTwice  # answered as it stands
    raise AssertionError("a request stored by none and not found")


def _store_sqlite(
    engine: Engine,
    row: Mapping[str, Any],
    services: Sequence[Mapping[str, Any]],
    events: Sequence[tuple[str | None, ...]],
    now: datetime,
) -> str:
    with begin_write(engine) as conn:  # the write lock from BEGIN: writers one at a time
        number = _new_number(conn, now)
        new_id = conn.execute(
            sqlite_insert(_auths)
            .values(**{**row, "number": number, "trace": row["trace"] or number})
            # the same requester's trace stored since it was looked for
            .on_conflict_do_nothing(index_elements=["source", "requesting_npi", "trace"])
            .returning(_auths.c.id)
        ).scalar_one_or_none()
        if new_id is None:
            raise _SentTwice  # rolls back this transaction, its number with it
        conn.execute(_services.insert(), [{**s, "authorization_id": new_id} for s in services])
        conn.execute(
            _events.insert(),
            [
                {
                    "authorization_id": new_id,
                    "at": now,
                    **dict(zip(_EVENT_COLUMNS, e, strict=True)),
                }
                for e in events
            ],
        )
    return number


APPEAL_REASON = "an appeal of a denial is decided by a clinical reviewer"


def _appealed(decision: RequestDecision) -> RequestDecision:
    """An appeal is never denied by a rule again: what a rule would deny goes to review."""
    services = tuple(
        ServiceDecision(s.line, Action.PENDED, Decimal(0), APPEAL_REASON)
        if s.action is Action.NOT_CERTIFIED
        else s
        for s in decision.services
    )
    return RequestDecision(request_action(services), services, decision_reason(services))


def _service_row(
    authorization_id: int, line: int, service: AuthService, decision: ServiceDecision
) -> dict[str, Any]:
    first = service.first_day
    last = service.last_day
    assert first is not None and last is not None
    return {
        "authorization_id": authorization_id,
        "line": line,
        "codes": service.code.strip().upper()[:200],
        "code_kind": service.code_kind,
        "modifiers": " ".join(m.strip().upper() for m in service.modifiers)[:16],
        "unit": service.unit,
        "place_of_service": service.place_of_service[:2],
        "category": service.category[:32],
        "requested": service.quantity,
        "approved": decision.approved,
        "action": decision.action.value,
        "rule": decision.rule[:80],
        "reason_code": decision.reason_code[:8],
        "from_date": first,
        "to_date": last,
    }


def _new_number(conn: Connection, now: datetime) -> str:
    return f"PA{now.year}{next_numbers(conn, NUMBER_COUNTER, 1):07d}"


def _event(
    conn: Connection,
    authorization_id: int,
    at: datetime,
    actor: str,
    from_state: AuthState | str | None,
    to_state: AuthState | str,
    action: Action | None,
    note: str,
) -> None:
    conn.execute(
        _events.insert().values(
            authorization_id=authorization_id,
            at=at,
            actor=actor[:100],
            from_state=str(from_state) if from_state is not None else None,
            to_state=str(to_state),
            action=action.value if action is not None else None,
            note=note,
        )
    )


# -- a reviewer's work ----------------------------------------------------------------------


def decide(
    engine: Engine,
    number: str,
    action: Action,
    reviewer: str,
    now: datetime,
    *,
    reason: str = "",
    approved: Mapping[int, Decimal] | None = None,
) -> AuthorizationView:
    """A clinical reviewer's decision on pended request ``number``: ``A1`` approves every
    service asked for, ``A3`` denies them all, ``A2`` / ``A6`` approve the quantities of
    ``approved`` (by service line; a line left out or at 0 is denied), ``CT`` asks the
    provider to call and leaves it pended. A denial or a modification needs a ``reason`` a
    person can read."""
    if action not in REVIEWER_ACTIONS:
        raise AuthorizationRefused(
            f"a reviewer decides {', '.join(sorted(a.value for a in REVIEWER_ACTIONS))}, "
            f"not {action.value}"
        )
    reason = " ".join(reason.split())
    if action in (Action.NOT_CERTIFIED, Action.PARTLY_CERTIFIED, Action.MODIFIED) and not reason:
        raise AuthorizationRefused("a denial or a modification needs a reason a person can read")
    if action in (Action.PARTLY_CERTIFIED, Action.MODIFIED) and not approved:
        raise AuthorizationRefused("say what is approved of each service (line: quantity)")
    vault = current_vault()
    with begin_write(engine) as conn:
        row = _find(conn, number=number, lock=True)
        if row is None:
            raise AuthorizationNotFound(f"no authorization {number}")
        if row.state != AuthState.PENDED:
            raise AuthorizationConflict(f"authorization {number} is {row.state}, not pended")
        services = list(
            conn.execute(
                select(_services)
                .where(_services.c.authorization_id == row.id)
                .order_by(_services.c.line)
            )
        )
        decisions: list[ServiceDecision] = []
        for s in services:
            if s.action == Action.NOT_REQUIRED:
                decisions.append(ServiceDecision(s.line, Action.NOT_REQUIRED, s.requested))
            elif action is Action.CONTACT_PAYER:
                decisions.append(ServiceDecision(s.line, Action.CONTACT_PAYER, Decimal(0), reason))
            elif action is Action.CERTIFIED:
                decisions.append(ServiceDecision(s.line, Action.CERTIFIED, s.requested))
            elif action is Action.NOT_CERTIFIED:
                decisions.append(ServiceDecision(s.line, Action.NOT_CERTIFIED, Decimal(0), reason))
            else:
                amount = (approved or {}).get(s.line, Decimal(0))
                if amount < 0 or amount > s.requested:
                    raise AuthorizationRefused(
                        f"service {s.line}: approved {amount} is not between 0 and the "
                        f"{s.requested} asked for"
                    )
                if amount == 0:
                    decisions.append(
                        ServiceDecision(s.line, Action.NOT_CERTIFIED, Decimal(0), reason)
                    )
                elif amount == s.requested:
                    decisions.append(ServiceDecision(s.line, Action.CERTIFIED, amount))
                else:
                    decisions.append(ServiceDecision(s.line, Action.MODIFIED, amount, reason))
        overall = (
            Action.CONTACT_PAYER if action is Action.CONTACT_PAYER else request_action(decisions)
        )
        state = STATE_OF_ACTION[overall]
        for d in decisions:
            conn.execute(
                update(_services)
                .where(_services.c.authorization_id == row.id, _services.c.line == d.line)
                .values(approved=d.approved, action=d.action.value, rule="")
            )
        content = dict(vault.open_json(row.content, AUTHORIZATION, row.id))
        content["reason"] = reason or decision_reason(decisions)
        still = overall is Action.CONTACT_PAYER
        conn.execute(
            update(_auths)
            .where(_auths.c.id == row.id, _auths.c.state == AuthState.PENDED.value)
            .values(
                state=state.value,
                action=overall.value,
                queue=CLINICAL_QUEUE if still else None,
                decided_at=None if still else now,
                decided_by=None if still else reviewer[:100],
                updated_at=now,
                content=vault.seal_json(content, AUTHORIZATION),
            )
        )
        _event(
            conn, row.id, now, reviewer, AuthState.PENDED, state, overall, "decided by a reviewer"
        )
        found = _find(conn, number=number)
        assert found is not None
        return _view(conn, found)


def extend(
    engine: Engine, number: str, rules: AuthRules, actor: str, now: datetime
) -> AuthorizationView:
    """Extend the clock of pended standard request ``number`` once, by its plan's
    ``extension`` (an expedited request's clock is not extended)."""
    with begin_write(engine) as conn:
        row = _find(conn, number=number, lock=True)
        if row is None:
            raise AuthorizationNotFound(f"no authorization {number}")
        if row.state != AuthState.PENDED:
            raise AuthorizationConflict(f"authorization {number} is {row.state}, not pended")
        if row.urgency != Urgency.STANDARD or row.extended_at is not None:
            raise AuthorizationConflict(
                f"authorization {number}: only a standard request is extended, and once"
            )
        extension = rules.clocks_for(row.plan_id).extension
        conn.execute(
            update(_auths)
            .where(_auths.c.id == row.id)
            .values(due_at=row.due_at + extension, extended_at=now, alerted_at=None, updated_at=now)
        )
        _event(
            conn, row.id, now, actor, row.state, row.state, None, f"clock extended by {extension}"
        )
        found = _find(conn, number=number)
        assert found is not None
        return _view(conn, found)


def cancel(
    engine: Engine, number: str, actor: str, now: datetime, asker: Asker | None = None
) -> AuthorizationView:
    """Cancel authorization ``number`` (requested, pended or approved; what claims drew on it
    stays drawn). ``asker``: a provider may cancel only its own NPIs' requests."""
    with begin_write(engine) as conn:
        row = _find(conn, number=number, lock=True)
        if row is None or not _may_see(row, asker):
            raise AuthorizationNotFound(f"no authorization {number}")
        if row.state not in (*OPEN_STATES, AuthState.APPROVED):
            raise AuthorizationConflict(f"authorization {number} is {row.state}: nothing to cancel")
        conn.execute(
            update(_auths)
            .where(_auths.c.id == row.id, _auths.c.state == row.state)
            .values(
                state=AuthState.CANCELLED.value,
                action=Action.CANCELLED.value,
                queue=None,
                updated_at=now,
            )
        )
        _event(
            conn, row.id, now, actor, row.state, AuthState.CANCELLED, Action.CANCELLED, "cancelled"
        )
        found = _find(conn, number=number)
        assert found is not None
        return _view(conn, found)


def expire(engine: Engine, now: datetime, actor: str = "prior-auth expiry") -> list[str]:
    """Mark approved authorizations whose last day is before ``now``'s day expired (claims
    for services within their dates still draw on them); returns their numbers."""
    today = now.date()
    with begin_write(engine) as conn:
        rows = list(
            conn.execute(
                select(_auths.c.id, _auths.c.number)
                .where(
                    _auths.c.state == AuthState.APPROVED.value, _auths.c.effective_through < today
                )
                .order_by(_auths.c.id)
            )
        )
        for r in rows:
            conn.execute(
                update(_auths)
                .where(_auths.c.id == r.id)
                .values(state=AuthState.EXPIRED.value, updated_at=now)
            )
            _event(
                conn,
                r.id,
                now,
                actor,
                AuthState.APPROVED,
                AuthState.EXPIRED,
                None,
                "its last day passed",
            )
    return [str(r.number) for r in rows]


# -- asking ---------------------------------------------------------------------------------


def inquire(
    engine: Engine,
    asker: Asker | None,
    *,
    number: str | None = None,
    trace: str | None = None,
    requesting_npi: str | None = None,
) -> AuthorizationView:
    """One authorization, by certification number or by the requester's trace (with the
    requesting NPI, as the trace is the requester's), as ``asker`` may see it (``None``: the
    payer's own staff at the command line)."""
    with engine.connect() as conn:
        if number:
            row = _find(conn, number=number)
        elif trace and requesting_npi:
            rows = list(
                conn.execute(
                    select(_auths)
                    .where(_auths.c.trace == trace, _auths.c.requesting_npi == requesting_npi)
                    .order_by(_auths.c.id)
                )
            )
            row = rows[-1] if rows else None
        else:
            raise AuthorizationRefused(
                "ask by certification number, or by trace and requesting NPI"
            )
        if row is None or not _may_see(row, asker):
            raise AuthorizationNotFound("no such authorization")
        return _view(conn, row)


def answered_since(
    engine: Engine, asker: Asker | None, since: datetime, limit: int = 500
) -> list[AuthorizationView]:
    """The requests that were pended and have been decided since ``since`` (the decisions a
    provider is sent when it asks again), oldest first, those ``asker`` may see."""
    with engine.connect() as conn:
        rows = list(
            conn.execute(
                select(_auths)
                .where(
                    _auths.c.decided_at >= since,
                    _auths.c.decided_at > _auths.c.received_at,
                )
                .order_by(_auths.c.decided_at, _auths.c.id)
                .limit(limit * 4)
            )
        )
        return [_view(conn, r) for r in rows if _may_see(r, asker)][:limit]


def visible_to(asker: Asker | None) -> ColumnElement[bool] | None:
    """The requests ``asker`` may see, as a condition on ``prior_authorizations`` (None:
    every one), the rule :func:`inquire` applies to a row: a provider its NPIs' (requesting
    or servicing), a member its own and its dependants', the insurer and examiners all,
    anyone else none."""
    a = _auths.c
    if asker is None or asker.role in _SEES_EVERYTHING:
        return None
    if asker.role == "provider":
        npis = sorted(asker.npis)
        return or_(a.requesting_npi.in_(npis), a.servicing_npi.in_(npis)) if npis else false()
    if asker.role == "member":
        members = set(asker.members) | ({asker.member_id} if asker.member_id else set())
        return a.member_id.in_(sorted(members)) if members else false()
    return false()


def _may_see(row: Any, asker: Asker | None) -> bool:
    if asker is None or asker.role in _SEES_EVERYTHING:
        return True
    if asker.role == "provider":
        return row.requesting_npi in asker.npis or row.servicing_npi in asker.npis
    if asker.role == "member":
        return row.member_id in asker.members or row.member_id == asker.member_id
    return False


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    number: str
    urgency: str
    plan_id: str
    requesting_npi: str
    received_at: datetime
    due_at: datetime
    alerted: bool

    def left(self, now: datetime) -> timedelta:
        return self.due_at - now


def clinical_queue(engine: Engine, limit: int = 100) -> list[QueuedRequest]:
    """The pended requests waiting for a clinical reviewer, the soonest due first."""
    with engine.connect() as conn:
        return _queued(conn, select(_auths).where(_auths.c.state == AuthState.PENDED.value), limit)


def due_within(
    engine: Engine, now: datetime, within: timedelta, limit: int = 500
) -> list[QueuedRequest]:
    """Open requests due before ``now + within`` (overdue ones included), soonest first."""
    with engine.connect() as conn:
        query = select(_auths).where(
            _auths.c.state.in_([s.value for s in OPEN_STATES]), _auths.c.due_at <= now + within
        )
        return _queued(conn, query, limit)


def _queued(conn: Connection, query: Any, limit: int) -> list[QueuedRequest]:
    return [
        QueuedRequest(
            str(r.number),
            str(r.urgency),
            str(r.plan_id),
            str(r.requesting_npi),
            r.received_at,
            r.due_at,
            r.alerted_at is not None,
        )
        for r in conn.execute(query.order_by(_auths.c.due_at, _auths.c.id).limit(limit))
    ]


def alert_due(engine: Engine, rules: AuthRules, now: datetime) -> list[QueuedRequest]:
    """Alert, once each, the open requests within their plan's ``alert_before`` of their due
    time (or past it): a warning in the log naming the number, the urgency and the hours
    left. Returns those alerted now (the caller counts them in
    ``claims_prior_auth_alerts_total``)."""
    longest = max(
        [
            rules.clocks.alert_before,
            *(c.alert_before for c in rules.plan_clocks.values()),
            *(c.alert_before for c in rules.line_clocks.values()),
        ]
    )
    alerted: list[QueuedRequest] = []
    with begin_write(engine) as conn:
        rows = list(
            conn.execute(
                select(_auths)
                .where(
                    _auths.c.state.in_([s.value for s in OPEN_STATES]),
                    _auths.c.alerted_at.is_(None),
                    _auths.c.due_at <= now + longest,
                )
                .order_by(_auths.c.due_at, _auths.c.id)
            )
        )
        for r in rows:
            if now < alert_at(r.due_at, rules.clocks_for(r.plan_id)):
                continue
            conn.execute(update(_auths).where(_auths.c.id == r.id).values(alerted_at=now))
            item = QueuedRequest(
                str(r.number),
                str(r.urgency),
                str(r.plan_id),
                str(r.requesting_npi),
                r.received_at,
                r.due_at,
                True,
            )
            alerted.append(item)
            hours = (r.due_at - now) / timedelta(hours=1)
            log.warning(
                "prior authorization %s (%s) is due in %.1f hours", r.number, r.urgency, hours
            )
    return alerted


# -- reading --------------------------------------------------------------------------------


def _find(
    conn: Connection,
    *,
    number: str | None = None,
    source: str | None = None,
    npi: str | None = None,
    trace: str | None = None,
    lock: bool = False,
) -> Any:
    query = select(_auths)
    if number is not None:
        query = query.where(_auths.c.number == number)
    else:
        query = query.where(
            _auths.c.source == source, _auths.c.requesting_npi == npi, _auths.c.trace == trace
        )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()


def _used(conn: Connection, authorization_ids: Sequence[int]) -> dict[tuple[int, int], Decimal]:
    u = _uses.c
    rows = conn.execute(
        select(u.authorization_id, u.service_line, func.sum(u.units))
        .where(u.authorization_id.in_(list(authorization_ids)), u.reversed_by.is_(None))
        .group_by(u.authorization_id, u.service_line)
    )
    found: dict[tuple[int, int], Decimal] = {}
    for aid, line, total in rows:
        # the sum has the column's type: an exact Decimal on either database
        found[(int(aid), int(line))] = Decimal(total).quantize(Decimal("0.001"))
    return found


def _view(conn: Connection, row: Any) -> AuthorizationView:
    content = current_vault().open_json(row.content, AUTHORIZATION, row.id)
    used = _used(conn, [row.id])
    services = tuple(
        ServiceView(
            line=int(s.line),
            codes=tuple(str(s.codes).split()),
            code_kind=str(s.code_kind),
            modifiers=tuple(str(s.modifiers).split()),
            unit=str(s.unit),
            requested=s.requested,
            approved=s.approved,
            used=used.get((int(row.id), int(s.line)), Decimal("0.000")),
            action=str(s.action or ""),
            rule=str(s.rule),
            reason_code=str(s.reason_code),
            from_date=s.from_date,
            to_date=s.to_date,
        )
        for s in conn.execute(
            select(_services)
            .where(_services.c.authorization_id == row.id)
            .order_by(_services.c.line)
        )
    )
    return AuthorizationView(
        number=str(row.number),
        trace=str(row.trace),
        source=str(row.source),
        state=str(row.state),
        action=str(row.action or ""),
        urgency=str(row.urgency),
        member_id=str(content.get("member_id", "")),
        subscriber_id=str(content.get("subscriber_id", "")),
        requesting_npi=str(row.requesting_npi),
        servicing_npi=str(row.servicing_npi),
        plan_id=str(row.plan_id),
        diagnoses=tuple(content.get("diagnoses", ())),
        received_at=row.received_at,
        due_at=row.due_at,
        decided_at=row.decided_at,
        decided_by=str(row.decided_by or ""),
        reason=str(content.get("reason", "")),
        queue=str(row.queue or ""),
        appeal_of=str(row.appeal_of or ""),
        extended_at=row.extended_at,
        effective_from=row.effective_from,
        effective_through=row.effective_through,
        services=services,
    )


# -- the reference data's authorizations.csv ------------------------------------------------


def import_reference_authorizations(engine: Engine, reference: ReferenceData, now: datetime) -> int:
    """The reference data's authorizations as approved authorizations in the store (source
    ``csv``); a number already stored is left as it is. Returns how many were added."""
    vault = current_vault()
    added = 0
    with begin_write(engine) as conn:
        known = set(conn.execute(select(_auths.c.number)).scalars())
        for member_id, auths in sorted(reference.authorizations.items()):
            member = reference.members.get(member_id)
            for auth in auths:
                if auth.number in known:
                    continue
                known.add(auth.number)
                family = f"family:{member.family_id}" if member else f"subscriber:{member_id}"
                content = {
                    "member_id": member_id,
                    "subscriber_id": member.subscriber_id if member else member_id,
                    "diagnoses": [],
                    "reason": "",
                }
                new_id = conn.execute(
                    _auths.insert()
                    .values(
                        number=auth.number[:30],
                        source=Source.CSV.value,
                        trace=auth.number[:50],
                        requesting_npi="",
                        servicing_npi="",
                        member_id=vault.lookup(member_id),
                        family=vault.lookup(family),
                        plan_id=member.plan_id if member else "",
                        urgency=Urgency.STANDARD.value,
                        state=AuthState.APPROVED.value,
                        action=Action.CERTIFIED.value,
                        queue=None,
                        received_at=now,
                        due_at=now,
                        decided_at=now,
                        decided_by=IMPORT_ACTOR,
                        effective_from=auth.effective_from,
                        effective_through=auth.effective_through,
                        rules_version="",
                        updated_at=now,
                        content=vault.seal_json(content, AUTHORIZATION),
                    )
                    .returning(_auths.c.id)
                ).scalar_one()
                conn.execute(
                    _services.insert().values(
                        authorization_id=new_id,
                        line=1,
                        codes=" ".join(sorted(auth.procedures))[:200],
                        code_kind="procedure",
                        unit="units",
                        requested=auth.units,
                        approved=auth.units,
                        action=Action.CERTIFIED.value,
                        from_date=auth.effective_from,
                        to_date=auth.effective_through,
                    )
                )
                _event(
                    conn,
                    new_id,
                    now,
                    IMPORT_ACTOR,
                    None,
                    AuthState.APPROVED,
                    Action.CERTIFIED,
                    "imported",
                )
                added += 1
    return added


# -- adjudication ---------------------------------------------------------------------------

# the states whose services claims draw on: an expired authorization still covers the services
# done within its dates
_DRAWN_STATES = (AuthState.APPROVED.value, AuthState.EXPIRED.value)


def approved_for_families(
    conn: Connection,
    families: Iterable[str],
    lookups: Mapping[str, str],
    *,
    whole: bool = False,
) -> dict[str, tuple[Authorization, ...]]:
    """The approved authorizations of the (stored, locked) ``families``, by member id as
    ``lookups`` reads their lookups back, each service with the units it has left (with
    ``whole``, all it was approved for: a what-if replay draws on them anew)."""
    rows = list(
        conn.execute(
            select(_auths.c.id, _auths.c.number, _auths.c.member_id)
            .where(_auths.c.family.in_(list(families)), _auths.c.state.in_(_DRAWN_STATES))
            .order_by(_auths.c.id)
        )
    )
    if not rows:
        return {}
    ids = [int(r.id) for r in rows]
    used = {} if whole else _used(conn, ids)
    by_id = {int(r.id): r for r in rows}
    found: dict[str, list[Authorization]] = {}
    for s in conn.execute(
        select(_services)
        .where(
            _services.c.authorization_id.in_(ids),
            _services.c.action.in_([a.value for a in APPROVING]),
        )
        .order_by(_services.c.authorization_id, _services.c.line)
    ):
        r = by_id[int(s.authorization_id)]
        member = lookups.get(r.member_id, r.member_id)
        left = s.approved - used.get((int(r.id), int(s.line)), Decimal(0))
        found.setdefault(member, []).append(
            Authorization(
                number=str(r.number),
                member_id=member,
                procedures=frozenset(str(s.codes).split()),
                effective_from=s.from_date,
                effective_through=s.to_date,
                units=left,
                service=int(s.line),
            )
        )
    return {k: tuple(v) for k, v in found.items()}


def record_uses(
    conn: Connection, decided: Sequence[tuple[str, Adjudication]], now: datetime
) -> None:
    """The units each standing decision among ``decided`` (each with the payer claim number of
    the claim it is of) drew on authorizations, and the units its reversals give back."""
    reversed_pairs: list[tuple[str, str]] = []
    drawn: list[tuple[str, int, str, int, Decimal]] = []
    for pccn, outcome in decided:
        for d in outcome.decisions:
            if d.status is ClaimStatusCode.REVERSAL:
                reversed_pairs.append((d.reverses, pccn))
                continue
            if d.outcome is Outcome.PENDED or d.outcome is Outcome.DENIED:
                continue
            for ln in d.lines:
                if ln.authorization and ln.outcome is not Outcome.DENIED:
                    drawn.append(
                        (
                            ln.authorization,
                            ln.authorization_service,
                            d.payer_claim_number,
                            ln.line_number,
                            ln.units,
                        )
                    )
    for original, by in reversed_pairs:
        conn.execute(
            update(_uses)
            .where(_uses.c.payer_claim_number == original, _uses.c.reversed_by.is_(None))
            .values(reversed_by=by[:50], reversed_at=now)
        )
    if not drawn:
        return
    ids = {
        str(r.number): int(r.id)
        for r in conn.execute(
            select(_auths.c.id, _auths.c.number).where(
                _auths.c.number.in_(sorted({d[0] for d in drawn}))
            )
        )
    }
    rows = [
        {
            "authorization_id": ids[number],
            "service_line": service,
            "payer_claim_number": pccn[:50],
            "line_number": line,
            "units": units,
            "used_at": now,
            "reversed_by": None,
            "reversed_at": None,
        }
        for number, service, pccn, line, units in drawn
        if number in ids  # the reference data's, not in the store: nothing to keep
    ]
    if rows:
        conn.execute(_uses.insert(), rows)
