"""Prior authorization: requests, their lifecycle, their clocks, and the figures of the yearly
public report (CMS-0057-F). Pure: times come in as values.

A request (:class:`AuthRequest`) asks for one or more services (:class:`AuthService`) for a
member, from a requesting provider, to be done by a servicing provider; it says how urgent it
is and where it came from (an X12 278, a FHIR PAS bundle, the reference data's CSV). Its
lifecycle::

    requested ─┬─ approved (A1 in total, A2 in part, A6 modified) ─┬─ expired (its last day passed)
               ├─ denied (A3, with a reason in words)               └─ cancelled
               ├─ not required (NA: no service needs authorization)
               ├─ cancelled (C)
               └─ pended (A4, a clinical reviewer's queue; CT: waiting for the provider's call)
                    └─ approved / denied / cancelled, by a reviewer

The decision is made per service (:class:`ServiceDecision`) and summed up for the request by
:func:`request_action`. The actions are the 278's HCR01 codes, the words this module and its
callers share: an X12 writer and a FHIR ClaimResponse each map them to their own.

Clocks: :func:`due_at` is when a decision is due, from receipt: 72 hours for an expedited
request, 7 calendar days for a standard one, or what a plan's settings say
(:class:`ClockSettings`); an extension adds to it once.

The report (:func:`report_figures`): of the standard and of the expedited requests decided in
a year, the percentage approved, denied, approved after appeal and approved after the
timeframe was extended, and the mean and median time from request to decision in hours.
Percentages are rounded half up to two places, hours half up to one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Urgency(StrEnum):
    STANDARD = "standard"
    EXPEDITED = "expedited"


class Source(StrEnum):
    """Where a request came from."""

    X12 = "x12"  # a 278 request
    FHIR = "fhir"  # a FHIR PAS Claim ($submit)
    CSV = "csv"  # the reference data's authorizations.csv (imported approved)
    REVIEWER = "reviewer"  # entered by the payer's staff (the command line)


class AuthState(StrEnum):
    REQUESTED = "requested"
    PENDED = "pended"
    APPROVED = "approved"
    DENIED = "denied"
    NOT_REQUIRED = "not required"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN_STATES = frozenset({AuthState.REQUESTED, AuthState.PENDED})
# the states a decision ends in (a cancellation or an expiry is no decision on the request)
DECIDED_STATES = frozenset({AuthState.APPROVED, AuthState.DENIED, AuthState.NOT_REQUIRED})


class Action(StrEnum):
    """What was decided, in the 278's HCR01 codes."""

    CERTIFIED = "A1"  # certified in total
    PARTLY_CERTIFIED = "A2"  # certified, in part (some services or units denied)
    NOT_CERTIFIED = "A3"  # not certified: denied, with a reason
    PENDED = "A4"  # pended: a clinical reviewer decides
    MODIFIED = "A6"  # certified with changes (fewer units, other dates)
    CANCELLED = "C"
    CONTACT_PAYER = "CT"  # the provider is to call the payer: still pended
    NOT_REQUIRED = "NA"  # no action required: the service needs no authorization


APPROVING = frozenset({Action.CERTIFIED, Action.PARTLY_CERTIFIED, Action.MODIFIED})
# what a reviewer may decide on a pended request
REVIEWER_ACTIONS = frozenset(
    {
        Action.CERTIFIED,
        Action.PARTLY_CERTIFIED,
        Action.NOT_CERTIFIED,
        Action.MODIFIED,
        Action.CONTACT_PAYER,
    }
)

STATE_OF_ACTION: dict[Action, AuthState] = {
    Action.CERTIFIED: AuthState.APPROVED,
    Action.PARTLY_CERTIFIED: AuthState.APPROVED,
    Action.MODIFIED: AuthState.APPROVED,
    Action.NOT_CERTIFIED: AuthState.DENIED,
    Action.PENDED: AuthState.PENDED,
    Action.CONTACT_PAYER: AuthState.PENDED,
    Action.CANCELLED: AuthState.CANCELLED,
    Action.NOT_REQUIRED: AuthState.NOT_REQUIRED,
}

UNIT_KINDS = ("units", "visits", "days")
MAX_QUANTITY = Decimal(1_000_000)
QUANTUM = Decimal("0.001")  # units are kept to the thousandth, as a claim line's
CODE_KINDS = ("procedure", "revenue")


class AuthRequestError(ValueError):
    """A request that cannot be taken as it is: the message says which field and why."""


@dataclass(frozen=True, slots=True)
class AuthService:
    """One service asked for: a procedure (CPT/HCPCS, with modifiers) or a revenue code, so
    many units, visits or days, between two dates. ``place_of_service`` and ``category`` (a
    coverage rules' service category, such as ``inpatient``) are what the coverage rules may
    ask of it to say whether it needs authorization."""

    code: str
    quantity: Decimal = Decimal(1)
    from_date: date | None = None
    to_date: date | None = None
    code_kind: str = "procedure"
    modifiers: tuple[str, ...] = ()
    unit: str = "units"
    place_of_service: str = ""
    category: str = ""

    @property
    def first_day(self) -> date | None:
        return self.from_date or self.to_date

    @property
    def last_day(self) -> date | None:
        return self.to_date or self.from_date


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """A prior authorization request, whatever carried it. ``trace`` is the requester's own
    reference (the 278's TRN, a FHIR Claim identifier): with the requester and the source it
    names the request, so a request sent twice is stored once. ``appeal_of`` is the
    certification number of a denied request this one appeals. ``member_id`` is the patient's
    own id, or, for a dependant without one, the subscriber's (then ``relationship``, the
    patient's first name and birth date say who)."""

    member_id: str
    subscriber_id: str
    requesting_npi: str
    servicing_npi: str
    urgency: Urgency
    services: tuple[AuthService, ...]
    diagnoses: tuple[str, ...] = ()
    trace: str = ""
    source: Source = Source.X12
    appeal_of: str = ""
    # a dependant with no member id of its own (a 5010 278's 2010D): the patient's relationship
    # to the subscriber (not 18), first name and birth date find them on the subscriber's policy
    relationship: str = "18"
    patient_first_name: str = ""
    patient_birth_date: date | None = None

    def check(self) -> None:
        """Refuse what cannot be decided (:class:`AuthRequestError`): no member, no
        requester, no service, a service without a code, a date or a positive quantity,
        a service ending before it starts."""
        if not self.member_id.strip():
            raise AuthRequestError("member_id: empty")
        if not self.requesting_npi.strip():
            raise AuthRequestError("requesting_npi: empty")
        if not self.services:
            raise AuthRequestError("services: a request asks for at least one service")
        for n, s in enumerate(self.services, 1):
            where = f"service {n}"
            if not s.code.strip():
                raise AuthRequestError(f"{where}: code is empty")
            if s.code_kind not in CODE_KINDS:
                raise AuthRequestError(
                    f"{where}: code_kind {s.code_kind!r} is not one of {CODE_KINDS}"
                )
            if s.unit not in UNIT_KINDS:
                raise AuthRequestError(f"{where}: unit {s.unit!r} is not one of {UNIT_KINDS}")
            if not s.quantity.is_finite() or not 0 < s.quantity < MAX_QUANTITY:
                raise AuthRequestError(
                    f"{where}: quantity must be above 0 and below {MAX_QUANTITY}"
                )
            if s.quantity != s.quantity.quantize(QUANTUM):
                raise AuthRequestError(f"{where}: quantity has more than three decimal places")
            if s.first_day is None:
                raise AuthRequestError(f"{where}: a from (or to) date is needed")
            last = s.last_day
            if last is not None and last < s.first_day:
                raise AuthRequestError(f"{where}: to_date is before from_date")


@dataclass(frozen=True, slots=True)
class ServiceDecision:
    """What was decided for one service (``line``, from 1). ``approved`` is the quantity
    approved (0 unless the action approves). Every denial and every modification carries a
    ``reason`` a person can read; ``reason_code`` is the rule's short code, ``rule`` its id
    (empty for a reviewer's decision)."""

    line: int
    action: Action
    approved: Decimal = Decimal(0)
    reason: str = ""
    reason_code: str = ""
    rule: str = ""


@dataclass(frozen=True, slots=True)
class RequestDecision:
    """A request's decision: its action (:func:`request_action`), each service's, and the
    reason in words when it is denied or pended."""

    action: Action
    services: tuple[ServiceDecision, ...]
    reason: str = ""

    @property
    def state(self) -> AuthState:
        return STATE_OF_ACTION[self.action]


def request_action(services: Sequence[ServiceDecision]) -> Action:
    """The request's action from its services': pended when any is; no action required when
    none needs authorization; else, of the services that need one, certified when all are
    certified in total, not certified when all are denied, modified when some are modified
    and none denied, and certified in part otherwise."""
    actions = [s.action for s in services]
    if any(a in (Action.PENDED, Action.CONTACT_PAYER) for a in actions):
        return Action.PENDED
    needed = [a for a in actions if a is not Action.NOT_REQUIRED]
    if not needed:
        return Action.NOT_REQUIRED
    if all(a is Action.CERTIFIED for a in needed):
        return Action.CERTIFIED
    if all(a is Action.NOT_CERTIFIED for a in needed):
        return Action.NOT_CERTIFIED
    if Action.NOT_CERTIFIED not in needed and Action.PARTLY_CERTIFIED not in needed:
        return Action.MODIFIED
    return Action.PARTLY_CERTIFIED


def decision_reason(services: Sequence[ServiceDecision]) -> str:
    """The request's reason in words: its services' reasons, each once, in order."""
    seen: list[str] = []
    for s in services:
        if s.reason and s.reason not in seen:
            seen.append(s.reason)
    return "; ".join(seen)


# -- clocks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClockSettings:
    """How long the payer has to decide, from receipt, and how long before that a request
    still open is alerted. CMS-0057-F's: 7 calendar days standard, 72 hours expedited."""

    standard: timedelta = timedelta(days=7)
    expedited: timedelta = timedelta(hours=72)
    alert_before: timedelta = timedelta(hours=12)
    extension: timedelta = timedelta(days=14)  # what one extension adds (standard requests)

    def allowed(self, urgency: Urgency) -> timedelta:
        return self.expedited if urgency is Urgency.EXPEDITED else self.standard


DEFAULT_CLOCKS = ClockSettings()


def due_at(
    received: datetime, urgency: Urgency, settings: ClockSettings = DEFAULT_CLOCKS
) -> datetime:
    """When a decision on a request received at ``received`` is due."""
    return received + settings.allowed(urgency)


def alert_at(due: datetime, settings: ClockSettings = DEFAULT_CLOCKS) -> datetime:
    """From when an open request due at ``due`` is alerted."""
    return due - settings.alert_before


# -- what adjudication draws on ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationUse:
    """Units a claim's line drew on an approved authorization's service."""

    number: str
    service: int
    payer_claim_number: str
    line_number: int
    units: Decimal


# -- the public report ------------------------------------------------------------------------

PERCENT = Decimal("0.01")
HOURS = Decimal("0.1")


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """What the report counts of one decided request."""

    urgency: Urgency
    state: AuthState
    received_at: datetime
    decided_at: datetime
    appeal: bool = False  # it appealed a denial
    extended: bool = False  # its timeframe was extended


@dataclass(frozen=True, slots=True)
class UrgencyFigures:
    """The figures of one urgency. Percentages of ``decided`` (``None`` when there is none),
    hours from request to decision."""

    urgency: Urgency
    decided: int
    approved: int
    denied: int
    approved_after_appeal: int
    approved_after_extension: int
    mean_hours: Decimal | None
    median_hours: Decimal | None

    def percent(self, count: int) -> Decimal | None:
        if not self.decided:
            return None
        return (Decimal(count) * 100 / Decimal(self.decided)).quantize(
            PERCENT, rounding=ROUND_HALF_UP
        )


@dataclass(frozen=True, slots=True)
class ReportFigures:
    year: int
    standard: UrgencyFigures
    expedited: UrgencyFigures
    services: tuple[tuple[str, str, str], ...] = field(default=())  # (plans, codes, description)


def hours_between(start: datetime, end: datetime) -> Decimal:
    """Exact hours from ``start`` to ``end`` (seconds / 3600, not rounded)."""
    seconds = (end - start) // timedelta(microseconds=1)
    return Decimal(seconds) / Decimal(3_600_000_000)


def _hours(value: Decimal) -> Decimal:
    return value.quantize(HOURS, rounding=ROUND_HALF_UP)


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def urgency_figures(urgency: Urgency, records: Iterable[ReportRecord]) -> UrgencyFigures:
    """The figures of the records of ``urgency`` (approved or denied; others are not
    counted)."""
    mine = [
        r
        for r in records
        if r.urgency is urgency and r.state in (AuthState.APPROVED, AuthState.DENIED)
    ]
    approved = [r for r in mine if r.state is AuthState.APPROVED]
    hours = [hours_between(r.received_at, r.decided_at) for r in mine]
    return UrgencyFigures(
        urgency=urgency,
        decided=len(mine),
        approved=len(approved),
        denied=len(mine) - len(approved),
        approved_after_appeal=sum(1 for r in approved if r.appeal),
        approved_after_extension=sum(1 for r in approved if r.extended),
        mean_hours=_hours(sum(hours, Decimal(0)) / len(hours)) if hours else None,
        median_hours=_hours(_median(hours)) if hours else None,
    )


def report_figures(
    year: int,
    records: Iterable[ReportRecord],
    services: Sequence[tuple[str, str, str]] = (),
) -> ReportFigures:
    """The report of ``year`` from the requests decided in it."""
    kept = [r for r in records if r.decided_at.year == year]
    return ReportFigures(
        year,
        urgency_figures(Urgency.STANDARD, kept),
        urgency_figures(Urgency.EXPEDITED, kept),
        tuple(services),
    )
