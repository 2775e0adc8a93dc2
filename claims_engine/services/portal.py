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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine, select

from claims_engine.adjudication.adjudicate import AccumulatorKey
from claims_engine.adjudication.decision import ClaimDecision, LineDecision, Outcome
from claims_engine.domain.money import ZERO
from claims_engine.domain.reasons import describe_carc, describe_group
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services import access
from claims_engine.services.access import Principal
from claims_engine.services.eligibility import LimitProgress, limit_progress
from claims_engine.services.explanation import Explanation, load_explanations
from claims_engine.store.db import begin_write
from claims_engine.store.tables import ClaimState, accumulators_table, claims_table
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


def _explained(
    e: Explanation, reference: ReferenceData | None
) -> tuple[ClaimLine, ExplanationOfBenefits]:
    members = reference.members if reference is not None else {}
    patient = _name(members.get(e.member_id), "the patient")
    provider = _provider(reference, e.claim.billing_provider.npi)
    froms = [ln.service_from for ln in e.claim.lines if ln.service_from is not None]
    tos = [ln.service_to or ln.service_from for ln in e.claim.lines if ln.service_from]
    if not froms and e.claim.statement_from is not None:  # an institutional claim's period
        froms = [e.claim.statement_from]
        tos = [e.claim.statement_to or e.claim.statement_from]
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
    row = ClaimLine(
        e.claim_row_id,
        patient,
        provider,
        min(froms) if froms else None,
        max(t for t in tos if t is not None) if tos else None,
        e.received_on,
        e.state,
        status,
        billed,
        paid if d is not None else None,
        owes if d is not None else None,
    )
    eob = ExplanationOfBenefits(
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
    return row, eob


def member_claims(
    engine: Engine,
    principal: Principal,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> tuple[list[ClaimLine], bool]:
    """A page (from 1) of the claims ``principal`` may see, newest first (received, then id),
    and whether there are more; one ``phi_reads`` row per claim shown."""
    c = claims_table.c
    query = select(c.id).order_by(c.received_on.desc(), c.id.desc())
    visible = access.claim_visibility(principal)
    if visible is not None:
        query = query.where(visible)
    query = query.offset((max(page, 1) - 1) * per_page).limit(per_page + 1)
    with begin_write(engine) as conn:
        ids = [int(r[0]) for r in conn.execute(query)]
        more = len(ids) > per_page
        ids = ids[:per_page]
        access.record_reads(conn, principal, route, "claim", ids, now)
    return [_explained(e, reference)[0] for e in load_explanations(engine, ids)], more


def explanation_of_benefits(
    engine: Engine,
    principal: Principal,
    claim_id: int,
    reference: ReferenceData | None,
    *,
    route: str,
    now: datetime,
) -> ExplanationOfBenefits | None:
    """The claim as an explanation of benefits, or None when there is no such claim or
    ``principal`` may not see it (the two are not told apart); its read is audited."""
    from claims_engine.services.queries import claim_is_visible

    with begin_write(engine) as conn:
        if not claim_is_visible(conn, claim_id, access.claim_visibility(principal)):
            return None
        access.record_reads(conn, principal, route, "claim", [claim_id], now)
    found = load_explanations(engine, [claim_id])
    return _explained(found[0], reference)[1] if found else None


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
    engine: Engine,
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
    if reference is None:
        return []
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
    a = accumulators_table.c
    met: dict[AccumulatorKey, Decimal] = {}
    with begin_write(engine) as conn:
        if names:
            rows = conn.execute(
                select(a.holder, a.plan_id, a.plan_year, a.bucket, a.network, a.amount).where(
                    a.holder.in_(sorted(names)),
                    a.plan_id.in_(sorted({p for _, p, _ in wanted})),
                    a.plan_year.in_(sorted({y for _, _, y in wanted})),
                )
            )
            for holder, plan_id, year, bucket, network, amount in rows:
                key = AccumulatorKey(names[holder], plan_id, year, bucket, network)
                met[key] = Decimal(amount)
        lookup = vault.lookup
        access.record_reads(
            conn, principal, route, "member", [lookup(m.member_id) for m, _, _ in wanted], now
        )
    found = []
    for m, plan_id, year in wanted:
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
