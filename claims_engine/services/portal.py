"""What the portal's pages show a member, read from the store and put in plain words.

The web adapter (:mod:`adapters.web`) renders these; nothing here knows HTML. Every function
takes the :class:`~claims_engine.services.access.Principal` of the signed-in account and reads
only what it may see (the same scopes as the API's keys: :func:`access.claim_visibility`); a
claim it may not see is answered exactly as a missing one (``None``). Every read of health data
writes its ``phi_reads`` rows (:func:`access.record_reads`) in the transaction that reads it, as
the API does.

* :func:`member_claims`: the claims of the member and of those whose claims the member sees (a
  subscriber's minor dependents, grants), newest first, a page at a time, each with its state
  in plain words and what the plan paid and the member owes;
* :func:`explanation_of_benefits`: one claim as an explanation of benefits: for each service,
  what was billed, what the plan allows, what it paid, what the member owes and why, each
  reason in the words of :mod:`claims_engine.domain.reasons`;
* :func:`benefit_progress`: the plan year's deductible and out-of-pocket maximum, for the
  member and the family, in and out of network: the limit, what is met, what remains (from the
  accumulators adjudication keeps: the same amounts the next claim will use).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY

from claims_engine.adjudication.adjudicate import AccumulatorKey
from claims_engine.adjudication.decision import ClaimDecision, LineDecision, Outcome
from claims_engine.domain.model import Claim
from claims_engine.domain.money import ZERO
from claims_engine.domain.pend_reasons import INFO_REQUESTED
from claims_engine.domain.reasons import describe_carc, describe_group
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services import access
from claims_engine.services.access import Principal
from claims_engine.services.eligibility import LimitProgress, limit_progress
from claims_engine.services.explanation import Explanation, read_explanations
from claims_engine.services.queries import reads_audited
from claims_engine.services.stored_adjudication import read_claim
from claims_engine.store.db import DriverStatement, is_postgres
from claims_engine.store.tables import (
    ClaimState,
    PendState,
    accumulators_table,
    adjudications_table,
    claim_lines_table,
    claims_table,
    pend_items_table,
)
from claims_engine.store.vault import current_vault

PAGE_SIZE = 20

# What the member owes, by claim adjustment reason (group PR): the headings of an EOB.
OWED_AS: dict[str, str] = {
    "1": "deductible",
    "2": "coinsurance",
    "3": "copay",
    "45": "out of network",  # PR-45: an out-of-network provider's charge above the allowed
}
WHY_OWED = {
    "deductible": "Deductible",
    "coinsurance": "Coinsurance",
    "copay": "Copay",
    "out of network": "Out of network: above what the plan allows",
    "not covered": "Not covered by your plan",
}


@dataclass(frozen=True, slots=True)
class ClaimLine:
    """One claim in a member's list."""

    claim_id: int
    patient: str  # the patient's first and last name, as the payer knows them
    provider: str  # the billing provider's name (its NPI when the payer has no name)
    service_from: date | None
    service_to: date | None
    received_on: date
    state: str  # ClaimState
    status: str  # the state in plain words
    billed: Decimal
    plan_paid: Decimal | None  # None until decided
    you_owe: Decimal | None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why part of a service's charge is not paid: who bears it, the words, the codes."""

    who: str  # "you", "provider" (may not bill you) or "other"
    text: str
    code: str  # e.g. "PR-1"
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ServiceLine:
    line: int
    service: str  # procedure code (with modifiers) or revenue code
    service_from: date | None
    service_to: date | None
    billed: Decimal
    allowed: Decimal
    plan_paid: Decimal
    you_owe: Decimal
    reasons: tuple[Reason, ...]
    note: str = ""  # why, in words, beyond the codes (e.g. the NCCI edit a line met)


@dataclass(frozen=True, slots=True)
class ExplanationOfBenefits:
    claim_id: int
    payer_claim_number: str | None
    patient: str
    provider: str
    received_on: date
    state: str
    status: str
    lines: tuple[ServiceLine, ...]
    billed: Decimal
    allowed: Decimal
    plan_paid: Decimal
    you_owe: Decimal
    provider_writes_off: Decimal  # contractual (CO): the provider may not bill the member
    other_adjustments: Decimal  # neither (OA, PI): another payer's share, for one
    owed_by_kind: tuple[tuple[str, Decimal], ...]  # (heading, amount), WHY_OWED's order
    claim_reasons: tuple[Reason, ...]  # claim-level adjustments (e.g. a duplicate)
    paid_on: date | None
    decided: bool
    note: str | None  # why it was not accepted, what it waits for, or that it was replaced


@dataclass(frozen=True, slots=True)
class BenefitProgress:
    patient: str
    plan: str
    plan_year_from: date
    limits: tuple[LimitProgress, ...]


def status_text(
    state: str,
    outcome: str | None,
    you_owe: Decimal | None,
    *,
    info_requested: bool = False,
    plan_paid: Decimal | None = None,
) -> str:
    """A claim's state in plain words (pure)."""
    if state in (ClaimState.RECEIVED, ClaimState.ACCEPTED):
        return "Received, being processed"
    if state == ClaimState.REJECTED:
        return "Not accepted: your provider must correct and resend it"
    if state == ClaimState.PENDED:
        if info_requested:
            return "On hold: waiting for information from your provider"
        return "Under review by the plan"
    owes = you_owe is not None and you_owe > ZERO
    if outcome == Outcome.DENIED:
        return "Denied: the plan pays nothing" + (" and you may owe" if owes else "")
    if plan_paid is not None and plan_paid == ZERO:
        return "Processed: the plan pays nothing this time" + (
            "; you may owe your share" if owes else ""
        )
    paid_text = "Paid" if state == ClaimState.REMITTED else "Approved, payment on its way"
    if outcome == Outcome.PARTLY_PAID:
        paid_text = "Partly paid" if state == ClaimState.REMITTED else "Partly approved"
    return paid_text + ("; you may owe your share" if owes else "")


def _name(member: Member | None, fallback: str) -> str:
    if member is None:
        return fallback
    return f"{member.first_name.title()} {member.last_name.title()}"


def _provider(reference: ReferenceData | None, npi: str) -> str:
    known = reference.providers.get(npi) if reference is not None else None
    if known is None:
        return f"Provider {npi}"
    if known.entity_type == "1" and known.first_name:
        return f"{known.first_name.title()} {known.last_or_org_name.title()}"
    return known.last_or_org_name.title()


def service_code(line: LineDecision) -> str:
    """What a line's service is called on a page: its procedure code with its modifiers, or
    its revenue code."""
    if line.procedure is None:
        return line.revenue_code
    return " ".join((line.procedure.code, *line.procedure.modifiers))


def _owed(line: LineDecision) -> Decimal:
    return sum((a.amount for a in line.adjustments if a.group == "PR"), start=ZERO)


def _reason(group: str, carc: str, amount: Decimal) -> Reason:
    who = {"PR": "you", "CO": "provider"}.get(group, "other")
    text = describe_carc(carc)
    if group == "CO":
        text += ". Your provider may not bill you for this"
    elif group not in ("PR",):
        text += f" ({describe_group(group)})"
    return Reason(who, text, f"{group}-{carc}", amount)


def _adjusted(d: ClaimDecision | None, groups: Callable[[str], bool]) -> Decimal:
    """The adjustments of ``d`` (lines and claim) whose group ``groups`` accepts."""
    if d is None:
        return ZERO
    every = [*d.claim_adjustments, *(a for ln in d.lines for a in ln.adjustments)]
    return sum((a.amount for a in every if groups(a.group)), start=ZERO)


def _explained(e: Explanation, reference: ReferenceData | None) -> ExplanationOfBenefits:
    members = reference.members if reference is not None else {}
    patient = _name(members.get(e.member_id), "the patient")
    provider = _provider(reference, e.claim.billing_provider.npi)
    d = e.decision
    lines: list[ServiceLine] = []
    kinds: dict[str, Decimal] = {}
    if d is not None:
        for ln in d.lines:
            reasons = tuple(_reason(a.group, a.reason, a.amount) for a in ln.adjustments)
            owed = _owed(ln)
            for a in ln.adjustments:
                if a.group == "PR":
                    kind = OWED_AS.get(a.reason, "not covered")
                    kinds[kind] = kinds.get(kind, ZERO) + a.amount
            lines.append(
                ServiceLine(
                    ln.line_number,
                    service_code(ln),
                    ln.service_from,
                    ln.service_to,
                    ln.charge,
                    ln.allowed,
                    ln.paid,
                    owed,
                    reasons,
                    ln.note,
                )
            )
    billed = e.claim.total_charge
    # the decision's own totals: the lines', less (paid) or with (owed) the claim-level CAS
    paid = d.paid if d is not None else ZERO
    owes = d.patient_responsibility if d is not None else ZERO
    for a in d.claim_adjustments if d is not None else ():
        if a.group == "PR":
            kind = OWED_AS.get(a.reason, "not covered")
            kinds[kind] = kinds.get(kind, ZERO) + a.amount
    outcome = str(d.outcome) if d is not None else None
    status = status_text(
        e.state,
        outcome,
        owes if d is not None else None,
        info_requested=e.info_request is not None,
        plan_paid=paid if d is not None else None,
    )
    note = None
    if e.reversed_by:
        note = f"Replaced by claim {e.reversed_by}: see that claim for what was paid"
        status = "Replaced by a corrected claim"
    elif e.is_void:
        note = "Cancelled by your provider"
        status = "Cancelled by your provider"
    elif e.info_request is not None:
        note = (
            f"The plan asked your provider for information on {e.info_request.requested_at:%b} "
            f"{e.info_request.requested_at.day}, {e.info_request.requested_at.year}"
        )
    elif e.state == ClaimState.REJECTED:
        note = "The claim was not accepted as sent; your provider was told why"
    return ExplanationOfBenefits(
        e.claim_row_id,
        e.payer_claim_number,
        patient,
        provider,
        e.received_on,
        e.state,
        status,
        tuple(lines),
        billed,
        sum((ln.allowed for ln in lines), start=ZERO),
        paid,
        owes,
        _adjusted(d, lambda g: g == "CO"),
        _adjusted(d, lambda g: g not in ("CO", "PR")),
        tuple((WHY_OWED[k], kinds[k]) for k in WHY_OWED if kinds.get(k, ZERO) != ZERO),
        tuple(_reason(a.group, a.reason, a.amount) for a in (d.claim_adjustments if d else ())),
        e.paid_on,
        d is not None,
        note,
    )


def _status(
    state: str,
    outcome: str | None,
    paid: Decimal | None,
    owes: Decimal | None,
    *,
    info_requested: bool,
    replaced: bool,
    void: bool,
) -> str:
    """The words of :func:`status_text`, or that the claim was replaced or cancelled."""
    if replaced:
        return "Replaced by a corrected claim"
    if void:
        return "Cancelled by your provider"
    return status_text(state, outcome, owes, info_requested=info_requested, plan_paid=paid)


def _period(claim: Claim) -> tuple[date | None, date | None]:
    """The first and last day of a claim's services: its lines', or an institutional claim's
    statement period when no line has a date."""
    froms = [ln.service_from for ln in claim.lines if ln.service_from is not None]
    tos = [ln.service_to or ln.service_from for ln in claim.lines if ln.service_from]
    if not froms and claim.statement_from is not None:
        froms = [claim.statement_from]
        tos = [claim.statement_to or claim.statement_from]
    return (min(froms) if froms else None), (max(t for t in tos if t) if tos else None)


def _page_query() -> Select[Any]:
    """The claims list's statement but its scope and page: the claims' columns, their
    decisions' amounts, whether they were reversed or wait for the provider's information,
    and their lines' first and last days (made once: a statement's construction costs more
    than its run)."""
    c, ln, adj, item = (
        claims_table.c,
        claim_lines_table.c,
        adjudications_table.c,
        pend_items_table.c,
    )
    decision = adjudications_table.alias("decision")
    d = decision.c
    lines = select(ln.claim_id).where(ln.claim_id == c.id, ln.service_from.is_not(None))
    first = select(func.min(ln.service_from)).where(ln.claim_id == c.id).scalar_subquery()
    last = (
        select(func.max(func.coalesce(ln.service_to, ln.service_from)))
        .where(ln.claim_id == c.id, ln.service_from.is_not(None))
        .scalar_subquery()
    )
    reversal = select(adj.id).where(adj.claim_id == c.id, adj.kind == "reversal").exists()
    asked = (
        select(item.id)
        .where(
            item.claim_id == c.id,
            item.state == PendState.OPEN.value,
            item.code == INFO_REQUESTED,
            item.asked.is_not(None),
        )
        .exists()
    )
    query = (
        select(
            c.id,
            c.state,
            c.received_on,
            c.member_id,
            c.billing_npi,
            c.total_charge,
            c.frequency,
            d.outcome,
            d.paid,
            d.patient_responsibility,
            d.reversed_by,
            reversal.label("reversed"),
            asked.label("asked"),
            first.label("first_day"),
            last.label("last_day"),
            lines.exists().label("dated"),
        )
        .select_from(claims_table)
        .outerjoin(decision, and_(d.claim_id == c.id, d.kind == "decision"))
        .order_by(c.received_on.desc(), c.id.desc())
    )
    return query


_PAGES: dict[str | None, Select[Any]] = {}
_PAGES_SQL: dict[str | None, DriverStatement] = {}


def _page_statement(column: str | None, *, postgres: bool = False) -> Select[Any]:
    """The claims list's statement for a scope on ``column`` (None: every claim), its values,
    offset and limit parameters (``scope``, ``skip``, ``take``): made once per column. The
    scope is an expanding ``IN``, or on PostgreSQL (``postgres``) ``= ANY`` of one array."""
    found = None if postgres else _PAGES.get(column)
    if found is None:
        found = _page_query()
        if column is not None:
            if postgres:
                scope = any_(bindparam("scope", type_=ARRAY(Text())))
                found = found.where(claims_table.c[column] == scope)
            else:
                found = found.where(claims_table.c[column].in_(bindparam("scope", expanding=True)))
        found = found.offset(bindparam("skip")).limit(bindparam("take"))
        if not postgres:
            _PAGES[column] = found
    return found


def _page_rows(conn: Connection, column: str | None, values: dict[str, Any]) -> list[Any]:
    """The claims list's rows: on PostgreSQL on the driver (:class:`DriverStatement`)."""
    if not is_postgres(conn):
        return list(conn.execute(_page_statement(column), values).all())
    found = _PAGES_SQL.get(column)
    if found is None:
        found = _PAGES_SQL.setdefault(
            column, DriverStatement(lambda: _page_statement(column, postgres=True))
        )
    return found.rows(conn, values)


def _page_values(
    principal: Principal, page: int, per_page: int
) -> tuple[str | None, dict[str, Any]]:
    """The claims list statement's scope column and parameters for a page (from 1)."""
    scope = access.claim_scope(principal)
    values: dict[str, Any] = {"skip": (max(page, 1) - 1) * per_page, "take": per_page + 1}
    if scope.column is not None:
        values["scope"] = list(scope.values)
    return scope.column, values


def _claims_page(
    conn: Connection,
    principal: Principal,
    reference: ReferenceData | None,
    page: int,
    per_page: int,
) -> tuple[list[ClaimLine], bool]:
    """:func:`member_claims` without its audit."""
    column, values = _page_values(principal, page, per_page)
    return _claim_lines(conn, _page_rows(conn, column, values), reference, per_page)


def _claim_lines(
    conn: Connection, rows: list[Any], reference: ReferenceData | None, per_page: int
) -> tuple[list[ClaimLine], bool]:
    """The list's lines of the claims list statement's ``rows`` (``per_page`` and one more
    when there are more), and whether there are more."""
    c = claims_table.c
    more = len(rows) > per_page
    rows = rows[:per_page]
    undated = [int(r.id) for r in rows if not r.dated]
    periods: dict[int, tuple[date | None, date | None]] = {}
    if undated:
        for row_id, sealed in conn.execute(select(c.id, c.claim).where(c.id.in_(undated))):
            periods[int(row_id)] = _period(read_claim(sealed, row_id))
    names = access.reference_lookups(reference)
    members = reference.members if reference is not None else {}
    found = []
    for r in rows:
        decided = r.outcome is not None
        paid = Decimal(r.paid) if decided else None
        owes = Decimal(r.patient_responsibility) if decided else None
        member_id = names.get(r.member_id)
        first_day, last_day = (
            (r.first_day, r.last_day) if r.dated else periods.get(int(r.id), (None, None))
        )
        found.append(
            ClaimLine(
                int(r.id),
                _name(members.get(member_id) if member_id else None, "the patient"),
                _provider(reference, r.billing_npi),
                first_day,
                last_day,
                r.received_on,
                str(r.state),
                _status(
                    r.state,
                    r.outcome,
                    paid,
                    owes,
                    info_requested=r.state == ClaimState.PENDED and bool(r.asked),
                    replaced=bool(r.reversed_by),
                    void=r.frequency == "8" and not decided and bool(r.reversed),
                ),
                Decimal(r.total_charge),
                paid,
                owes,
            )
        )
    return found, more


def member_claims(
    conn: Connection,
    principal: Principal,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> tuple[list[ClaimLine], bool]:
    """A page (from 1) of the claims ``principal`` may see, newest first (received, then id),
    and whether there are more; one ``phi_reads`` row per claim shown. One statement reads
    the page from the claims' columns, their decisions' amounts and their lines' dates: a
    stored claim is opened only when no line has a date (its statement period)."""
    found, more = _claims_page(conn, principal, reference, page, per_page)
    access.record_reads(conn, principal, route, "claim", [c.claim_id for c in found], now)
    return found, more


def explanation_of_benefits(
    conn: Connection,
    principal: Principal,
    claim_id: int,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
) -> ExplanationOfBenefits | None:
    """The claim as an explanation of benefits, or None when there is no such claim or
    ``principal`` may not see it (the two are not told apart); its read is audited."""
    audit = access.audit_entry(principal, route, now)  # on PostgreSQL: the read's statement
    found = read_explanations(conn, [claim_id], access.claim_scope(principal), audit)
    if not found:
        return None
    return _explained(found[0], reference)


def household(principal: Principal, reference: ReferenceData | None) -> list[Member]:
    """The members ``principal`` sees (itself first, then by name), as the reference data
    knows them."""
    if reference is None or not principal.members:
        return []
    lookups = access.reference_lookups(reference)
    found = [reference.members[m] for k in principal.members if (m := lookups.get(k))]
    own = lookups.get(principal.member_id or "")
    return sorted(found, key=lambda m: (m.member_id != own, m.last_name, m.first_name))


def benefit_progress(
    conn: Connection,
    principal: Principal,
    reference: ReferenceData | None,
    *,
    today: date,
    route: str,
    now: datetime,
) -> list[BenefitProgress]:
    """The plan year's deductibles and out-of-pocket maximums of each member ``principal``
    sees who is covered today, with what is met and what remains (audited: one ``phi_reads``
    row per member)."""
    found, members = _progress(conn, principal, reference, today)
    access.record_reads(conn, principal, route, "member", members, now)
    return found


@dataclass(frozen=True, slots=True)
class MemberHome:
    """A member's claims page: a page of claims, whether there are more, and the plan year's
    progress."""

    lines: list[ClaimLine]
    more: bool
    progress: list[BenefitProgress]


def member_home(
    conn: Connection,
    principal: Principal,
    reference: ReferenceData | None,
    *,
    today: date,
    route: str,
    now: datetime,
    page: int = 1,
) -> MemberHome:
    """:func:`member_claims` and :func:`benefit_progress` read together, their ``phi_reads``
    rows written in the same statement (PostgreSQL: one statement in all, :func:`_home_sql`)."""
    if not is_postgres(conn):
        lines, more = _claims_page(conn, principal, reference, page, PAGE_SIZE)
        progress, members = _progress(conn, principal, reference, today)
        reads: list[tuple[str, int | str]] = [("claim", c.claim_id) for c in lines]
        reads += [("member", m) for m in members]
        access.record_reads_of(conn, principal, route, reads, now)
        return MemberHome(lines, more, progress)
    column, values = _page_values(principal, page, PAGE_SIZE)
    wanted = _wanted(principal, reference, today)
    values.update(wanted.values())
    values.update(access.audit_entry(principal, route, now))
    values.update(shown=PAGE_SIZE, members=wanted.members)
    rows = _home_sql(column).rows(conn, values)
    accumulators = [
        (h, p, date.fromisoformat(y), b, n, Decimal(a))
        for h, p, y, b, n, a in (rows[0].accumulators or ())
    ]
    claims = [r for r in rows if r.id is not None]  # none: the one row of a page without claims
    lines, more = _claim_lines(conn, claims, reference, PAGE_SIZE)
    return MemberHome(lines, more, _progress_of(wanted, accumulators, reference, today))


_HOME_SQL: dict[str | None, DriverStatement] = {}


def _home_sql(column: str | None) -> DriverStatement:
    found = _HOME_SQL.get(column)
    if found is None:
        found = _HOME_SQL.setdefault(column, DriverStatement(lambda: _home_statement(column)))
    return found


def _home_statement(column: str | None) -> Select[Any]:
    """A member's claims page in one statement (PostgreSQL): the claims list's rows
    (:func:`_page_statement`), each with the accumulators of the plan-year progress (a JSON
    array, the same on every row) and the count of ``phi_reads`` rows written by the same
    statement, one per claim shown (``shown`` of the page's rows) and per member whose
    progress is shown (``members``). A page without claims is one row, its claim's columns
    null."""
    page = _page_statement(column, postgres=True).cte("page")
    newest_first = (page.c.received_on.desc(), page.c.id.desc())
    shown = (
        select(literal("claim").label("kind"), cast(page.c.id, Text).label("record"))
        .order_by(*newest_first)
        .limit(bindparam("shown"))
    )
    members = select(
        literal("member").label("kind"),
        func.unnest(bindparam("members", type_=ARRAY(Text()))).label("record"),
    )
    read = union_all(shown, members).subquery("read")
    audited = reads_audited(select(read.c.kind, read.c.record))
    a = accumulators_table.c
    met = (
        select(
            func.json_agg(
                func.json_build_array(
                    a.holder,
                    a.plan_id,
                    func.to_char(a.plan_year, "YYYY-MM-DD"),  # whatever the server's DateStyle
                    a.bucket,
                    a.network,
                    cast(a.amount, Text),
                )
            )
        )
        .where(_accumulators_of(postgres=True))
        .scalar_subquery()
        .label("accumulators")
    )
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(met, audited, *page.c)
        .select_from(one.outerjoin(page, true()))
        .order_by(*newest_first)
    )


def _accumulators_of(postgres: bool) -> ColumnElement[bool]:
    """The accumulators of some holders, plans and plan years (``holders``, ``plans``,
    ``years``): expanding ``IN`` lists, or on PostgreSQL (``postgres``) arrays."""
    a = accumulators_table.c

    def among(column: Any, name: str, kind: Any) -> Any:
        if postgres:
            return column == any_(bindparam(name, type_=ARRAY(kind)))
        return column.in_(bindparam(name, expanding=True))

    return and_(
        among(a.holder, "holders", Text()),
        among(a.plan_id, "plans", Text()),
        among(a.plan_year, "years", Date()),
    )


def _accumulators(postgres: bool) -> Select[Any]:
    a = accumulators_table.c
    return select(a.holder, a.plan_id, a.plan_year, a.bucket, a.network, a.amount).where(
        _accumulators_of(postgres)
    )


_ACCUMULATORS = _accumulators(postgres=False)  # made once: every member's page asks it
_ACCUMULATORS_SQL = DriverStatement(lambda: _accumulators(postgres=True))


@dataclass(frozen=True, slots=True)
class _Wanted:
    """Whose plan-year progress a page shows: each member covered today with its plan and plan
    year, the accumulators' holders (lookup key to holder name) and the members' lookup keys
    (what the read's audit names)."""

    people: list[tuple[Member, str, date]]
    holders: dict[str, str]
    members: list[str]

    def values(self) -> dict[str, Any]:
        """The accumulators statement's parameters."""
        return {
            "holders": sorted(self.holders),
            "plans": sorted({p for _, p, _ in self.people}),
            "years": sorted({y for _, _, y in self.people}),
        }


def _wanted(principal: Principal, reference: ReferenceData | None, today: date) -> _Wanted:
    if reference is None:
        return _Wanted([], {}, [])
    people = [m for m in household(principal, reference) if m.covered_on(today)]
    wanted: list[tuple[Member, str, date]] = []
    for m in people:
        plan = reference.plans.get(m.plan_on(today))
        if plan is not None and plan.version_on(today) is not None:
            wanted.append((m, plan.id, plan.plan_year(today)))
    vault = current_vault()
    names: dict[str, str] = {}
    for m, _, _ in wanted:
        for name in (f"member:{m.member_id}", f"family:{m.family_id}"):
            names[vault.lookup(name)] = name
    return _Wanted(wanted, names, [vault.lookup(m.member_id) for m, _, _ in wanted])


def _progress(
    conn: Connection, principal: Principal, reference: ReferenceData | None, today: date
) -> tuple[list[BenefitProgress], list[str]]:
    """:func:`benefit_progress` without its audit, and the lookups of the members read."""
    wanted = _wanted(principal, reference, today)
    rows: Any = ()
    if wanted.holders:
        if is_postgres(conn):
            rows = _ACCUMULATORS_SQL.rows(conn, wanted.values())
        else:
            rows = conn.execute(_ACCUMULATORS, wanted.values())
    return _progress_of(wanted, rows, reference, today), wanted.members


def _progress_of(
    wanted: _Wanted,
    rows: Iterable[Sequence[Any]],
    reference: ReferenceData | None,
    today: date,
) -> list[BenefitProgress]:
    """The progress of ``wanted``'s members from the accumulators' ``rows`` (holder, plan,
    plan year, bucket, network, amount)."""
    met: dict[AccumulatorKey, Decimal] = {}
    for holder, plan_id, year, bucket, network, amount in rows:
        key = AccumulatorKey(wanted.holders[holder], plan_id, year, bucket, network)
        met[key] = Decimal(amount)
    found = []
    for m, plan_id, year in wanted.people:
        assert reference is not None  # there is no one wanted without it
        plan = reference.plans[plan_id]
        version = plan.version_on(today)
        assert version is not None
        found.append(
            BenefitProgress(
                _name(m, m.member_id),
                plan.name,
                year,
                limit_progress(version, met, m, plan_id, year),
            )
        )
    return found
