"""The adjudication pipeline for one claim:

eligibility → duplicates → timely filing → pend threshold → coverage rules → authorization →
NCCI edits (PTP pairs, MUE units: :mod:`claims_engine.adjudication.ncci_edits`) → pricing (fee
schedule, contractual, multiple-procedure reduction) → cost share (deductible, copay,
coinsurance, out-of-pocket maximum) → coordination of benefits → decision.

Pure: :func:`adjudicate` takes the claim and an :class:`AdjudicationContext` (reference data,
the member's earlier services and decisions, the accumulator balances, the rules, the receipt
date, the approved prior authorizations with the units left) and returns an
:class:`Adjudication`: the decisions (a reversal first when the claim replaces or voids an
earlier one) and the accumulator changes to apply. A line an authorization covers notes it
(``LineDecision.authorization``): the units it drew, which a reversal gives back. Storing them,
once, is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from claims_engine.adjudication.cost_share import Balances, share_cost
from claims_engine.adjudication.decision import (
    ClaimDecision,
    ClaimStatusCode,
    LineDecision,
    Outcome,
)
from claims_engine.adjudication.directives import NONE as NO_DIRECTIVES
from claims_engine.adjudication.directives import Directives
from claims_engine.adjudication.ncci_edits import (
    NO_FINDINGS,
    MueCounter,
    PtpFindings,
    check_ptp,
    same_provider_days,
    setting_of,
)
from claims_engine.adjudication.pricing import multiple_procedure_reductions, price_line
from claims_engine.domain.benefits import Authorization, Plan, PlanVersion
from claims_engine.domain.model import Adjustment, Claim, ClaimType, ServiceLine
from claims_engine.domain.money import ZERO, round_money
from claims_engine.domain.ncci import NcciTables
from claims_engine.domain.pend_reasons import HIGH_DOLLAR, NO_PRICE, RULE_REVIEW, PendItem
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.rules.engine import EvaluationBudget

DEDUCTIBLE, OOP = "deductible", "oop"


class AccumulatorKey(NamedTuple):
    """One running total: of a member or a family, for a plan year, a bucket and a network.

    A named tuple rather than a dataclass: keys are hashed on every line, and a tuple hashes
    in C."""

    holder: str  # "member:<member id>" or "family:<family id>"
    plan_id: str
    plan_year: date
    bucket: str  # deductible / oop
    network: str  # in / out


@dataclass(frozen=True, slots=True)
class PriorService:
    """A line of an earlier, still standing decision: for duplicates and rule history."""

    payer_claim_number: str
    claim_id: str
    billing_npi: str
    member_id: str
    procedure: str
    service_date: date
    charge: Decimal
    units: Decimal


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """What a coverage rule asks of a line (see :mod:`claims_engine.rules.engine`)."""

    kind: str  # deny / pend / require_authorization / cap_units / set_category
    rule_id: str
    group: str = "CO"
    carc: str = ""
    rarc: str = ""
    reason: str = ""
    units: Decimal | None = None
    category: str = ""
    pend_code: str = RULE_REVIEW


@dataclass(frozen=True, slots=True)
class LineContext:
    """What coverage rules see of a line besides the claim and the line themselves."""

    member: Member
    plan: Plan
    in_network: bool
    service_date: date
    category: str
    history: tuple[PriorService, ...]  # the member's standing services, this claim's before
    # the work the rules may still do for this claim: one for all its lines
    rule_budget: EvaluationBudget = field(default_factory=EvaluationBudget)


RuleHook = Callable[[Claim, ServiceLine, LineContext], Sequence[RuleOutcome]]


@dataclass(frozen=True, slots=True)
class AdjudicationContext:
    reference: ReferenceData
    received_on: date
    accumulators: Mapping[AccumulatorKey, Decimal] = field(default_factory=dict)
    history: tuple[PriorService, ...] = ()
    prior_decisions: Mapping[str, ClaimDecision] = field(default_factory=dict)
    rules: RuleHook | None = None
    rule_pack_version: str = ""
    directives: Directives = NO_DIRECTIVES  # an examiner's, when a pended claim is decided again
    ncci: NcciTables = field(default_factory=NcciTables)  # CMS's NCCI edits (none: no stage)
    # the approved authorizations by member id, with the units each service has left (the
    # store's); None: the reference data's, whole
    authorizations: Mapping[str, tuple[Authorization, ...]] | None = None
    # units drawn on each (authorization, service) since ``authorizations`` was read, by
    # claims decided before this one (negative: given back by a reversal)
    authorization_used: Mapping[tuple[str, int], Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Adjudication:
    decisions: tuple[ClaimDecision, ...]
    accumulator_changes: Mapping[AccumulatorKey, Decimal]

    @property
    def decision(self) -> ClaimDecision:
        """The decision on the claim itself (after any reversal)."""
        return self.decisions[-1]


def default_category(claim: Claim, line: ServiceLine) -> str:
    """The service category for cost sharing when no rule sets one."""
    code = line.procedure.code if line.procedure else ""
    if claim.claim_type is ClaimType.DENTAL:
        if code[:2] in ("D0", "D1"):
            return "dental_preventive"
        if code in ("D2740", "D3330") or code[:2] in ("D5", "D6", "D8"):
            return "dental_major"
        return "dental_basic"
    if claim.claim_type is ClaimType.INSTITUTIONAL:
        rev = line.revenue_code
        if claim.facility_code.startswith("1") and claim.facility_code[:2] in ("11", "12"):
            return "inpatient"
        if rev.startswith("045"):
            return "emergency"
        if rev.startswith("036"):
            return "outpatient_surgery"
        if rev.startswith("030"):
            return "lab"
        if rev.startswith(("032", "035", "040", "061")):
            return "imaging"
        return "outpatient"
    if "99381" <= code <= "99397" or code in ("90471", "90686", "90715"):
        return "preventive"
    if "99281" <= code <= "99285":
        return "emergency"
    if "99202" <= code <= "99215":
        return (
            "telehealth"
            if (line.place_of_service or claim.facility_code) == "02"
            else ("office_visit")
        )
    if code[:1] == "7":
        return "imaging"
    if code[:1] == "8" or code == "36415":
        return "lab"
    if "10000" <= code <= "69999":
        return "surgery"
    return "medical"


def _line_date(claim: Claim, line: ServiceLine) -> date | None:
    return line.service_from or claim.statement_from or claim.service_from


def _denied_line(
    line: ServiceLine,
    day: date | None,
    group: str,
    carc: str,
    remarks: Sequence[str] = (),
    note: str = "",
) -> LineDecision:
    return LineDecision(
        line_number=line.number,
        procedure=line.procedure,
        revenue_code=line.revenue_code,
        charge=line.charge,
        units=line.units,
        paid_units=ZERO,
        allowed=ZERO,
        paid=ZERO,
        adjustments=(Adjustment(group, carc, line.charge),) if line.charge else (),
        service_from=day,
        service_to=line.service_to or day,
        remarks=tuple(remarks),
        outcome=Outcome.DENIED,
        control_number=line.control_number,
        note=note,
    )


def _deny_all(
    claim: Claim,
    group: str,
    carc: str,
    pccn: str,
    ctx: AdjudicationContext,
    remarks: Sequence[str] = (),
    member_id: str = "",
) -> Adjudication:
    lines = tuple(
        _denied_line(ln, _line_date(claim, ln), group, carc, remarks) for ln in claim.lines
    )
    decision = ClaimDecision(
        claim=claim,
        payer_claim_number=pccn,
        status=ClaimStatusCode.DENIED,
        outcome=Outcome.DENIED,
        lines=lines,
        decided_on=ctx.received_on,
        rule_pack_version=ctx.rule_pack_version,
        member_id=member_id,
    )
    return Adjudication((decision,), {})


def _is_duplicate(claim: Claim, member: Member, history: Sequence[PriorService]) -> bool:
    """An exact duplicate: same provider and member, and every line matches an earlier one."""
    npi, member_id = claim.billing_provider.npi, member.member_id
    earlier = {
        (s.procedure, s.service_date, s.charge, s.units)
        for s in history
        if s.billing_npi == npi and s.member_id == member_id
    }
    if not earlier:
        return False
    for ln in claim.lines:
        day = _line_date(claim, ln)
        code = ln.procedure.code if ln.procedure else ln.revenue_code
        if (code, day, ln.charge, ln.units) not in earlier:
            return False
    return True


def reverse(decision: ClaimDecision, on: date) -> ClaimDecision:
    """The reversal of a decision: status 22, every amount negated."""

    def neg(adjs: Sequence[Adjustment]) -> tuple[Adjustment, ...]:
        return tuple(replace(a, amount=-a.amount) for a in adjs)

    lines = tuple(
        replace(
            ln,
            charge=-ln.charge,
            allowed=-ln.allowed,
            paid=-ln.paid,
            paid_units=-ln.paid_units,
            adjustments=neg(ln.adjustments),
        )
        for ln in decision.lines
    )
    return replace(
        decision,
        status=ClaimStatusCode.REVERSAL,
        lines=lines,
        claim_adjustments=neg(decision.claim_adjustments),
        decided_on=on,
        reverses=decision.payer_claim_number,
    )


class AccumulatorKeys(NamedTuple):
    """The four running totals one line's cost share reads and moves."""

    member_deductible: AccumulatorKey
    family_deductible: AccumulatorKey
    member_oop: AccumulatorKey
    family_oop: AccumulatorKey


def _keys(member: Member, plan: Plan, day: date, network: str) -> AccumulatorKeys:
    return accumulator_keys(
        member.member_id, member.family_id, plan.id, plan.plan_year(day), network
    )


@lru_cache(maxsize=65536)  # the same members come back: build their keys once
def accumulator_keys(
    member_id: str, family_id: str, plan_id: str, year: date, network: str
) -> AccumulatorKeys:
    def key(holder: str, bucket: str) -> AccumulatorKey:
        return AccumulatorKey(holder, plan_id, year, bucket, network)

    member, family = f"member:{member_id}", f"family:{family_id}"
    return AccumulatorKeys(
        key(member, DEDUCTIBLE), key(family, DEDUCTIBLE), key(member, OOP), key(family, OOP)
    )


class _Running:
    """Accumulator balances as the claim's lines use them, and the changes to record."""

    def __init__(self, start: Mapping[AccumulatorKey, Decimal]) -> None:
        self.start = start
        self.changes: dict[AccumulatorKey, Decimal] = {}

    def value(self, key: AccumulatorKey) -> Decimal:
        return self.start.get(key, ZERO) + self.changes.get(key, ZERO)

    def balances(self, keys: AccumulatorKeys) -> Balances:
        return Balances(
            individual_deductible=self.value(keys.member_deductible),
            family_deductible=self.value(keys.family_deductible),
            individual_oop=self.value(keys.member_oop),
            family_oop=self.value(keys.family_oop),
        )

    def add(self, keys: AccumulatorKeys, deductible: Decimal, oop: Decimal) -> None:
        changes = self.changes
        for key, amount in (
            (keys.member_deductible, deductible),
            (keys.family_deductible, deductible),
            (keys.member_oop, oop),
            (keys.family_oop, oop),
        ):
            if amount:
                changes[key] = changes.get(key, ZERO) + amount


def _other_payer_paid(claim: Claim, line: ServiceLine) -> Decimal:
    """What earlier payers paid for a line: their line adjudications (2430), or their claim
    payment (2320 AMT*D) spread over the lines by charge."""
    paid_lines = sum((a.paid_amount for a in line.adjudications), start=ZERO)
    if line.adjudications:
        return paid_lines
    claim_paid = sum((o.paid_amount or ZERO for o in claim.other_payers), start=ZERO)
    if not claim_paid or not claim.total_charge:
        return ZERO
    return round_money(claim_paid * line.charge / claim.total_charge)


def adjudicate(claim: Claim, ctx: AdjudicationContext, payer_claim_number: str) -> Adjudication:
    """Adjudicate one accepted claim (see the module docstring)."""
    ref = ctx.reference
    pccn = payer_claim_number
    reversal: ClaimDecision | None = None
    reversal_changes: dict[AccumulatorKey, Decimal] = {}
    auth_used: dict[tuple[str, int], Decimal] = dict(ctx.authorization_used)
    if claim.frequency_code in ("7", "8"):
        original = ctx.prior_decisions.get(claim.original_claim_number)
        if original is None or not may_reverse(claim, original.claim, ref):
            # CARC 129: prior processing information appears incorrect. An original of another
            # provider or patient is answered exactly as one that does not exist.
            return _deny_all(claim, "CO", "129", pccn, ctx, ("N185",))
        reversal = reverse(original, ctx.received_on)
        reversal_changes = _reverse_accumulators(original, ref)
        # the replacement may draw again on what its original drew (the reversal gives it back)
        for key, units in authorization_draws(original):
            auth_used[key] = auth_used.get(key, ZERO) - units
        if claim.frequency_code == "8":
            return Adjudication((reversal,), reversal_changes)

    member = ref.find_patient(
        claim.subscriber.member_id,
        claim.patient_relationship,
        claim.patient.first_name,
        claim.patient.birth_date,
    )
    if member is None:
        return _with_reversal(_deny_all(claim, "CO", "31", pccn, ctx), reversal, reversal_changes)
    dental = claim.claim_type == "D"
    plan = ref.plans[member.plan_on(claim.service_from or ctx.received_on, dental=dental)]
    directives = ctx.directives
    claim_denial = directives.denials.get(0)
    if claim_denial is not None:  # an examiner denied the whole claim
        by_examiner = _deny_all(
            claim,
            claim_denial.group,
            claim_denial.carc,
            pccn,
            ctx,
            claim_denial.rarcs,
            member.member_id,
        )
        return _with_reversal(by_examiner, reversal, reversal_changes)
    # a replacement stands in its original's place: the original's services are not history
    replaced = claim.original_claim_number if reversal is not None else None
    member_id = member.member_id
    history = tuple(
        [s for s in ctx.history if s.member_id == member_id and s.payer_claim_number != replaced]
    )
    if _is_duplicate(claim, member, history):
        return _with_reversal(_deny_all(claim, "OA", "18", pccn, ctx), reversal, reversal_changes)
    last_day = claim.service_to or claim.statement_to
    if last_day is not None and (ctx.received_on - last_day).days > plan.timely_filing_days:
        return _with_reversal(_deny_all(claim, "CO", "29", pccn, ctx), reversal, reversal_changes)

    in_network = ref.in_network(claim.billing_provider.npi, plan.id, claim.service_from)
    network = "in" if in_network else "out"
    running = _Running(ctx.accumulators)
    if reversal_changes:
        # the replacement is adjudicated as though the original had never been
        running.changes.update(reversal_changes)
    resolved = directives.resolved
    pends: list[PendItem] = []
    if claim.total_charge > plan.pend_above and (HIGH_DOLLAR, 0) not in resolved:
        pends.append(
            PendItem(HIGH_DOLLAR, 0, "", f"charge {claim.total_charge} is above {plan.pend_above}")
        )

    ptp, mue = _ncci_stage(claim, ctx, member, plan, history)
    pends.extend(ptp.pends)
    edits = plan.ncci

    # First pass: eligibility, rules, authorization, NCCI edits, pricing.
    priced: list[
        tuple[
            ServiceLine,
            date,
            PlanVersion,
            str,
            Decimal,
            list[Adjustment],
            tuple[str, ...],
            Decimal,
            str,
        ]
    ] = []
    decided: dict[int, LineDecision] = {}
    line_auth: dict[int, tuple[str, int]] = {}  # the authorization each line drew on
    auths = ctx.authorizations if ctx.authorizations is not None else ref.authorizations
    claim_services: list[PriorService] = []  # earlier allowed lines of this claim, for rules
    rule_budget = EvaluationBudget()
    place_default = claim.facility_code
    for ln in claim.lines:
        day = _line_date(claim, ln) or ctx.received_on
        if not member.covered_on(day, dental=dental):
            carc = "26" if day < member.effective_from else "27"
            decided[ln.number] = _denied_line(ln, day, "CO", carc)
            continue
        version = plan.version_on(day)
        if version is None:
            decided[ln.number] = _denied_line(ln, day, "CO", "26")
            continue
        examiner_denial = directives.denials.get(ln.number)
        if examiner_denial is not None:
            decided[ln.number] = _denied_line(
                ln, day, examiner_denial.group, examiner_denial.carc, examiner_denial.rarcs
            )
            continue
        overridden = ln.number in directives.overrides
        category = default_category(claim, ln)
        units = ln.units
        cap = ("CO", "119", "")
        remarks: tuple[str, ...] = ()
        denial: tuple[str, str, str] | None = None
        if ctx.rules is not None:
            seen = history + tuple(claim_services)
            context = LineContext(member, plan, in_network, day, category, seen, rule_budget)
            for action in ctx.rules(claim, ln, context):
                if action.kind == "set_category":
                    category = action.category
                elif action.kind == "deny" and denial is None and not overridden:
                    denial = (action.group or "CO", action.carc, action.rarc)
                elif action.kind == "pend" and (action.pend_code, ln.number) not in resolved:
                    pends.append(
                        PendItem(action.pend_code, ln.number, action.rule_id, action.reason)
                    )
                elif action.kind == "cap_units" and action.units is not None:
                    units = min(units, action.units)
                    cap = (action.group or "CO", action.carc or "119", action.rarc)
                elif action.kind == "require_authorization" and denial is None and not overridden:
                    absent = (action.group or "CO", action.carc or "197", action.rarc or "N54")
                    denial = _authorization(member, ln, day, auths, auth_used, absent, line_auth)
        if denial is not None:
            group, carc, rarc = denial
            decided[ln.number] = _denied_line(ln, day, group, carc, (rarc,) if rarc else ())
            continue
        ptp_denial = ptp.denied.get(ln.number)
        if ptp_denial is not None:
            decided[ln.number] = _denied_line(
                ln, day, edits.ptp_group, edits.ptp_carc, (edits.ptp_remark,), ptp_denial
            )
            continue
        mue_units, note = ln.units, ""
        if mue is not None:
            mue_units, note = mue.units(_code(ln), day, ln.units, overridden=overridden)
            if mue_units <= ZERO:
                decided[ln.number] = _denied_line(
                    ln, day, edits.mue_group, edits.mue_carc, (edits.mue_remark,), note
                )
                continue
            units = min(units, mue_units)
        place = ln.place_of_service or place_default
        line_for_price = ln if units == ln.units else replace(ln, units=units)
        price = price_line(
            line_for_price,
            place=place,
            day=day,
            plan=version,
            in_network=in_network,
            category=category,
            fees=ref.fees,
            rates=ref.revenue_rates,
        )
        examiner_price = directives.prices.get(ln.number)
        price_allowed = price.allowed if examiner_price is None else examiner_price
        if not price.covered and examiner_price is None:
            # CARC 242: services not provided by network/primary care providers.
            decided[ln.number] = _denied_line(ln, day, "CO", "242", ("N130",))
            continue
        if price_allowed is None:
            if (NO_PRICE, ln.number) not in resolved:
                detail = f"no price on file for {_code(ln)}"
                pends.append(PendItem(NO_PRICE, ln.number, "", detail))
            decided[ln.number] = _denied_line(ln, day, "CO", "16", ("M51",))
            continue
        adjustments: list[Adjustment] = []
        charge_left = ln.charge
        if mue_units < ln.units:
            # the units above the MUE: by default CO-151, remark N362
            mue_charge = round_money(ln.charge * mue_units / ln.units)
            adjustments.append(
                Adjustment(
                    edits.mue_group, edits.mue_carc, ln.charge - mue_charge, ln.units - mue_units
                )
            )
            remarks = (*remarks, edits.mue_remark)
            charge_left = mue_charge
        if units < mue_units:
            # by default CARC 119: benefit maximum for this period or occurrence reached
            capped_charge = round_money(ln.charge * units / ln.units)
            adjustments.append(Adjustment(cap[0], cap[1], charge_left - capped_charge))
            if cap[2]:
                remarks = (*remarks, cap[2])
            charge_left = capped_charge
        allowed = min(price_allowed, charge_left)
        over = charge_left - allowed
        if over > ZERO:
            adjustments.append(Adjustment("CO" if in_network else "PR", "45", over))
        priced.append((ln, day, version, category, allowed, adjustments, remarks, units, note))
        code = _code(ln)
        claim_services.append(
            PriorService(
                pccn,
                claim.claim_id,
                claim.billing_provider.npi,
                member.member_id,
                code,
                day,
                ln.charge,
                units,
            )
        )

    reductions = multiple_procedure_reductions([(p[0], p[4], p[1]) for p in priced])

    # Second pass, in line order: reductions, cost share, coordination of benefits.
    secondary = claim.payer_responsibility not in ("", "P")
    for ln, day, version, category, allowed, adjustments, remarks, units, note in priced:
        cut = reductions.get(ln.number, ZERO)
        if cut:
            adjustments.append(Adjustment("CO", "59", cut))
            allowed -= cut
        keys = _keys(member, plan, day, network)
        share = share_cost(
            allowed,
            version,
            category=category,
            in_network=in_network,
            balances=running.balances(keys),
        )
        parts = [("1", share.deductible), ("3", share.copay), ("2", share.coinsurance)]
        plan_pays = allowed - share.patient
        if secondary:
            other = min(_other_payer_paid(claim, ln), allowed)
            left = allowed - other
            pay = min(plan_pays, left)
            patient_total = left - pay
            if other:
                adjustments.append(Adjustment("OA", "23", other))
            # what the patient still owes, taken from the deductible first
            capped: list[tuple[str, Decimal]] = []
            for carc, amount in parts:
                take = min(amount, patient_total)
                capped.append((carc, take))
                patient_total -= take
            if patient_total > ZERO:  # the primary left more than our cost share
                capped.append(("2", patient_total))
            parts = capped
            plan_pays = pay
        for carc, amount in parts:
            if amount:
                adjustments.append(Adjustment("PR", carc, amount))
        deductible = sum((a for c, a in parts if c == "1"), start=ZERO)
        patient = sum((a for _, a in parts), start=ZERO)
        running.add(keys, deductible, patient)
        decided[ln.number] = LineDecision(
            line_number=ln.number,
            procedure=ln.procedure,
            revenue_code=ln.revenue_code,
            charge=ln.charge,
            units=ln.units,
            paid_units=units,
            allowed=allowed,
            paid=plan_pays,
            adjustments=tuple(adjustments),
            service_from=day,
            service_to=ln.service_to or day,
            remarks=remarks,
            outcome=Outcome.PAID,
            control_number=ln.control_number,
            note=note,
            authorization=line_auth.get(ln.number, ("", 0))[0],
            authorization_service=line_auth.get(ln.number, ("", 0))[1],
        )

    lines = tuple(decided[ln.number] for ln in claim.lines)
    denied = sum(1 for d in lines if d.outcome is Outcome.DENIED)
    if pends:
        outcome = Outcome.PENDED
    elif denied == len(lines):
        outcome = Outcome.DENIED
    elif denied:
        outcome = Outcome.PARTLY_PAID
    else:
        outcome = Outcome.PAID
    if outcome is Outcome.DENIED:
        status = ClaimStatusCode.DENIED
    elif claim.payer_responsibility == "S":
        status = ClaimStatusCode.SECONDARY
    elif claim.payer_responsibility == "T":
        status = ClaimStatusCode.TERTIARY
    else:
        status = ClaimStatusCode.PRIMARY
    decision = ClaimDecision(
        claim=claim,
        payer_claim_number=pccn,
        status=status,
        outcome=outcome,
        lines=lines,
        pend_reason="; ".join(p.describe() for p in pends),
        pends=tuple(pends),
        rule_pack_version=ctx.rule_pack_version,
        decided_on=ctx.received_on,
        member_id=member.member_id,
    )
    changes = {} if outcome is Outcome.PENDED else dict(running.changes)
    if outcome is Outcome.PENDED and reversal_changes:
        changes = {}
        reversal = None  # nothing is reversed until the replacement is decided
    return Adjudication((*((reversal,) if reversal else ()), decision), changes)


def _code(line: ServiceLine) -> str:
    return line.procedure.code if line.procedure else line.revenue_code


def _ncci_stage(
    claim: Claim,
    ctx: AdjudicationContext,
    member: Member,
    plan: Plan,
    history: Sequence[PriorService],
) -> tuple[PtpFindings, MueCounter | None]:
    """The claim's PTP findings and its MUE counter (None: no MUE applies), when its plan
    applies the NCCI edits and its kind meets them (see :mod:`.ncci_edits`). PTP pairs are
    looked for among the lines eligibility and the examiner left standing."""
    if not ctx.ncci or not plan.ncci.enabled:
        return NO_FINDINGS, None
    setting = setting_of(claim, ctx.reference)
    if not setting:
        return NO_FINDINGS, None
    dental = claim.claim_type == "D"
    denials = ctx.directives.denials
    lines: list[tuple[ServiceLine, date]] = []
    for ln in claim.lines:
        day = _line_date(claim, ln) or ctx.received_on
        if (
            ln.number not in denials
            and member.covered_on(day, dental=dental)
            and plan.version_on(day) is not None
        ):
            lines.append((ln, day))
    earlier = same_provider_days(history, claim.billing_provider.npi, {d for _, d in lines})
    ptp = NO_FINDINGS
    if setting.ptp is not None:
        ptp = check_ptp(
            lines,
            earlier,
            ctx.ncci,
            setting.ptp,
            overrides=ctx.directives.overrides,
            resolved=ctx.directives.resolved,
        )
    mue = MueCounter(ctx.ncci, setting.mue, earlier) if setting.mue is not None else None
    return ptp, mue


def _authorization(
    member: Member,
    line: ServiceLine,
    day: date,
    authorizations: Mapping[str, tuple[Authorization, ...]],
    used: dict[tuple[str, int], Decimal],
    absent: tuple[str, str, str],
    drawn: dict[int, tuple[str, int]],
) -> tuple[str, str, str] | None:
    """``None`` when an authorization covers the line (``drawn`` then notes which); else the
    denial: ``absent`` (by default CO-197) when there is none, CO-198 when its units are used
    up. ``used`` counts the units drawn on each authorization's service since the units of
    ``authorizations`` were counted: by earlier claims, and by this claim's earlier lines."""
    code = _code(line)
    covered = False
    for auth in authorizations.get(member.member_id, ()):
        if auth.covers(code, day):
            covered = True
            key = (auth.number, auth.service)
            taken = used.get(key, ZERO)
            if taken + line.units > auth.units:
                continue  # used up: another may cover the line
            used[key] = taken + line.units
            drawn[line.number] = key
            return None
    return ("CO", "198", "N54") if covered else absent


def authorization_draws(decision: ClaimDecision) -> list[tuple[tuple[str, int], Decimal]]:
    """The units each paid line of ``decision`` drew, by (authorization, service)."""
    return [
        ((ln.authorization, ln.authorization_service), ln.units)
        for ln in decision.lines
        if ln.authorization and ln.outcome is not Outcome.DENIED
    ]


def may_reverse(claim: Claim, original: Claim, ref: ReferenceData) -> bool:
    """Whether ``claim``, a replacement or a void, may reverse the decision on ``original``:
    only a claim of the same billing provider (NPI, and TIN: one without a TIN matches no
    original that has one) for the same patient. Whoever names another's payer claim number
    in REF*F8 reaches nothing."""
    mine, theirs = claim.billing_provider, original.billing_provider
    if mine.npi != theirs.npi or mine.tin != theirs.tin:
        return False
    return patient_key(claim, ref) == patient_key(original, ref)


def patient_key(claim: Claim, ref: ReferenceData) -> tuple[str, ...]:
    """Who a claim is for: the member the payer knows (a dependant found on the subscriber's
    policy), else the subscriber's id and the patient as submitted."""
    patient = claim.patient
    member = ref.find_patient(
        claim.subscriber.member_id,
        claim.patient_relationship,
        patient.first_name,
        patient.birth_date,
    )
    if member is not None:
        return ("member", member.member_id)
    return (
        "submitted",
        claim.subscriber.member_id,
        patient.member_id,
        patient.last_name.upper(),
        patient.first_name.upper(),
        patient.birth_date.isoformat() if patient.birth_date else "",
    )


def _with_reversal(
    result: Adjudication, reversal: ClaimDecision | None, changes: Mapping[AccumulatorKey, Decimal]
) -> Adjudication:
    if reversal is None:
        return result
    merged = dict(changes)
    for k, v in result.accumulator_changes.items():
        merged[k] = merged.get(k, ZERO) + v
    return Adjudication((reversal, *result.decisions), merged)


def _reverse_accumulators(
    original: ClaimDecision, ref: ReferenceData
) -> dict[AccumulatorKey, Decimal]:
    """Negative changes that take an earlier decision's cost share back out."""
    claim = original.claim
    member = ref.find_patient(
        claim.subscriber.member_id,
        claim.patient_relationship,
        claim.patient.first_name,
        claim.patient.birth_date,
    )
    if member is None:
        return {}
    day = claim.service_from
    plan = ref.plans[member.plan_on(day, dental=claim.claim_type == "D") if day else member.plan_id]
    network = (
        "in" if ref.in_network(claim.billing_provider.npi, plan.id, claim.service_from) else "out"
    )
    running = _Running({})
    for ln in original.lines:
        if ln.service_from is None:
            continue
        deductible = sum(
            (a.amount for a in ln.adjustments if a.group == "PR" and a.reason == "1"), start=ZERO
        )
        patient = sum(
            (a.amount for a in ln.adjustments if a.group == "PR" and a.reason in ("1", "2", "3")),
            start=ZERO,
        )
        running.add(_keys(member, plan, ln.service_from, network), -deductible, -patient)
    return running.changes
