"""The 835 writer: claim decisions out as a 005010X221A1 remittance, balanced at every level.

It owns one payment: one payer, one payee, one interchange holding one 835 transaction set::

    ISA GS*HP ST*835
      BPR TRN DTM*405
      1000A N1*PR N3 N4 [REF*2U] PER*BL
      1000B N1*PE [N3 N4] [REF*TJ]
      2000  LX*1                        (one claim group; absent when no claim is paid)
        2100  CLP CAS* NM1*QC [NM1*IL] [NM1*82] [MIA|MOA] [DTM*232 DTM*233] [AMT*AU]
          2110  SVC DTM*472|150+151 CAS* [REF*6R] AMT*B6 LQ*HE*
      PLB*                               (provider adjustments, forward balances)
    SE GE IEA

It writes what adjudication decided and decides nothing itself: a reversal (CLP02 22) comes
with its amounts already negated. Before a byte is written every decision is checked with
:func:`~claims_engine.adjudication.decision.check_balance` and every amount must be whole cents,
so the three balancing rules of DESIGN.md hold in the output:

* line:        SVC02 - sum(line CAS) = SVC03
* claim:       CLP03 - sum(claim CAS) - sum(line CAS) = CLP04
* transaction: BPR02 = sum(CLP04) - sum(PLB amounts), and BPR02 is never negative.

When the claims and provider adjustments would pay less than nothing, BPR02 is 0 and a PLB
``FB`` (forward balance) with the negative remainder keeps the equation; the amount the payee
then owes is reported in :attr:`RemittanceSummary.carry_forward`, to be passed back in as
:attr:`Payment.forward_balance` on the next payment, which writes it as a positive ``FB``.

The output goes to the sink only once the whole interchange is built, so a value that cannot
be written (a delimiter inside a name) raises :class:`ValueError` without leaving half an 835.
Nothing here reads a clock or the environment: ``created`` and the payment date are inputs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TextIO

from claims_engine.adjudication.decision import (
    ClaimDecision,
    ClaimStatusCode,
    LineDecision,
    Outcome,
    check_balance,
)
from claims_engine.domain.model import Address, Adjustment, ClaimType, Procedure
from claims_engine.domain.money import ZERO, format_x12_amount, format_x12_number, round_money
from claims_engine.x12.acks import outbound_envelope, write_gs, write_isa
from claims_engine.x12.segments import CheckedSegmentWriter, Composite, d8
from claims_engine.x12.tokenizer import DEFAULT_DELIMITERS, Delimiters

IMPLEMENTATION = "005010X221A1"
TRANSACTION_CONTROL = "0001"
# X12 allows six reason triplets in one CAS and six adjustment pairs in one PLB.
CAS_MAX = 6
PLB_MAX = 6
# MOA carries five claim remark codes (MOA03-07); MIA five (MIA05, MIA20-23).
CLAIM_REMARKS_MAX = 5
# CLP06 takes the 837's SBR09 claim filing indicator, but the 835 list lacks some SBR09 codes
# (CI commercial, BL, FI, 11); those are sent as 12 (PPO), the usual code of commercial plans.
FILING_INDICATORS = frozenset(
    {"12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF"}
    | {"TV", "VA", "WC", "ZZ"}
)
DEFAULT_FILING_INDICATOR = "12"
SERVICE_QUALIFIERS = frozenset({"AD", "ER", "HC", "HP", "IV", "N4", "N6", "NU", "UI", "WK"})
# First two digits of an institutional type of bill that make the claim inpatient (MIA, not MOA).
INPATIENT_FACILITIES = frozenset({"11", "18", "21", "41"})
FORWARD_BALANCE = "FB"


class PaymentMethod(StrEnum):
    """BPR04: how the money moves."""

    ACH = "ACH"
    CHECK = "CHK"
    NONE = "NON"


@dataclass(frozen=True, slots=True)
class BankAccounts:
    """The ACH fields of BPR (06-15): the payer's account debited, the payee's credited."""

    sender_routing: str
    sender_account: str
    receiver_routing: str
    receiver_account: str
    receiver_account_type: str = "DA"  # DA demand deposit (checking), SG savings
    payment_format: str = "CCP"  # CCP cash concentration/disbursement plus addenda; CTX
    routing_qualifier: str = "01"  # ABA transit routing number


@dataclass(frozen=True, slots=True)
class Contact:
    """The payer's technical contact (PER*BL, required by the guide): at least one number."""

    name: str = ""
    phone: str = ""
    email: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class ProviderAdjustment:
    """One provider-level adjustment (a PLB reason/reference/amount pair).

    ``amount`` has the PLB sign: positive takes money back from the payee (WO overpayment
    recovery, FB balance recovered), negative pays more (L6 interest, 72 authorized return).
    """

    reason: str
    reference: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Payment:
    """Who pays whom, how and when; everything of the 835 that is not a claim.

    ``payer_tin`` (nine digits) gives TRN03 and BPR10 as ``"1" + TIN``; ``payer_id`` goes in
    REF*2U when set. ``forward_balance`` is what the payee still owes from an earlier 835 (a
    previous :attr:`RemittanceSummary.carry_forward`, positive); ``forward_reference`` names it
    (usually the earlier trace number). When nothing is paid the 835 is a notification (BPR01
    H, BPR04 NON) whatever ``method`` says: no zero check or zero transfer is sent.
    """

    payer_name: str
    payer_tin: str
    payer_address: Address
    payer_contact: Contact
    payee_name: str
    payee_npi: str
    payee_tin: str
    paid_on: date
    trace_number: str
    method: PaymentMethod = PaymentMethod.CHECK
    payer_id: str = ""
    payee_address: Address | None = None
    bank: BankAccounts | None = None
    adjustments: tuple[ProviderAdjustment, ...] = ()
    forward_balance: Decimal = ZERO
    forward_reference: str = ""


@dataclass(frozen=True, slots=True)
class RemittanceSummary:
    """What :func:`write_835` wrote: BPR02, the claim count, the PLB total and what the payee
    owes afterwards (positive, zero when nothing is carried)."""

    total_paid: Decimal
    claims: int
    plb_total: Decimal
    carry_forward: Decimal


def write_835(
    out: TextIO,
    decisions: Sequence[ClaimDecision],
    *,
    payment: Payment,
    interchange_control: int,
    created: datetime,
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    sender: tuple[str, str] | None = None,
    receiver: tuple[str, str] | None = None,
    usage: str = "P",
) -> RemittanceSummary:
    """Write one 835 interchange paying ``decisions`` to the payee of ``payment``.

    ``sender`` and ``receiver`` are the ISA (qualifier, id) pairs; by default ZZ with the payer
    id (else ``"1"`` + TIN) and ZZ with the payee NPI (else TIN). Reversals move before the
    claims that correct them (see :func:`remittance_order`). Raises :class:`ValueError`, before
    anything is written, when a decision does not balance, is pended, holds an amount that is
    not whole cents, or when a value cannot be written with ``delimiters``.
    """
    _check_payment(payment)
    ordered = remittance_order(decisions)
    for decision in ordered:
        _check_decision(decision)

    claims_paid = sum((d.paid for d in ordered), start=ZERO)
    plb = list(_provider_adjustments(payment))
    remainder = claims_paid - sum((a.amount for a in plb), start=ZERO)
    carry = ZERO
    if remainder < 0:
        # A negative payment cannot be sent: pay nothing and let an FB of the (negative)
        # remainder balance this 835; the payee owes it on the next one.
        plb.append(ProviderAdjustment(FORWARD_BALANCE, payment.trace_number, remainder))
        carry = -remainder
        remainder = ZERO
    total = remainder
    if total > 0 and payment.method is PaymentMethod.NONE:
        raise ValueError(f"payment {payment.trace_number}: pays {total} with method NON")
    if total > 0 and payment.method is PaymentMethod.ACH and payment.bank is None:
        raise ValueError(f"payment {payment.trace_number}: ACH needs the bank accounts")

    buffer = io.StringIO()
    w = CheckedSegmentWriter(buffer, delimiters)
    env = outbound_envelope(
        sender=sender or ("ZZ", payment.payer_id or "1" + payment.payer_tin),
        receiver=receiver or ("ZZ", payment.payee_npi or payment.payee_tin),
        control=interchange_control,
        created=created,
        delimiters=delimiters,
        usage=usage,
    )
    write_isa(w, env)
    write_gs(w, env, "HP", IMPLEMENTATION)
    start = w.count
    # ST03 is "Not Used" in the 835 guide (unlike the 837 and 999): GS08 alone names it.
    w.put("ST", "835", TRANSACTION_CONTROL)
    _header(w, payment, total, created)
    if ordered:
        w.put("LX", "1")
    for decision in ordered:
        w.context = f"claim {decision.claim.claim_id}"
        _claim(w, decision, payment)
    w.context = f"payment {payment.trace_number}"
    _plb(w, payment, plb)
    w.put("SE", str(w.count - start + 1), TRANSACTION_CONTROL)
    w.put("GE", "1", str(interchange_control))
    w.put("IEA", "1", env.control_text)
    out.write(buffer.getvalue())
    return RemittanceSummary(
        total_paid=total,
        claims=len(ordered),
        plb_total=sum((a.amount for a in plb), start=ZERO),
        carry_forward=carry,
    )


def remittance_order(decisions: Sequence[ClaimDecision]) -> list[ClaimDecision]:
    """The decisions in input order, except that each reversal moves right before the claim
    that corrects it, so a payee reads the take-back before the new payment.

    The correction of a reversal is the first other decision whose claim names the reversed
    payer claim number as its original (``Claim.original_claim_number == reverses``), else the
    first with the same patient control number (``claim_id``) that is not the reversed decision
    itself. A reversal with no correction (a void) stays where it is.
    """
    by_original: dict[str, int] = {}
    by_claim_id: dict[str, list[int]] = {}
    for k, d in enumerate(decisions):
        if d.status is ClaimStatusCode.REVERSAL:
            continue
        if d.claim.original_claim_number:
            by_original.setdefault(d.claim.original_claim_number, k)
        by_claim_id.setdefault(d.claim.claim_id, []).append(k)

    targets: dict[int, list[int]] = {}
    for i, rev in enumerate(decisions):
        if rev.status is not ClaimStatusCode.REVERSAL:
            continue
        j = by_original.get(rev.reverses) if rev.reverses else None
        if j is None:
            same_id = by_claim_id.get(rev.claim.claim_id, [])
            # Not the decision being reversed, when it is in this 835 too.
            j = next(
                (
                    k
                    for k in same_id
                    if not rev.reverses or decisions[k].payer_claim_number != rev.reverses
                ),
                None,
            )
        if j is not None:
            targets.setdefault(j, []).append(i)
    moved = {i for group in targets.values() for i in group}
    ordered: list[ClaimDecision] = []
    for j, decision in enumerate(decisions):
        if j in moved:
            continue
        ordered.extend(decisions[i] for i in targets.get(j, ()))
        ordered.append(decision)
    return ordered


# -- checks --------------------------------------------------------------------------------------
def _cents(value: Decimal) -> bool:
    return value.is_finite() and round_money(value) == value


def _check_payment(payment: Payment) -> None:
    where = f"payment {payment.trace_number}"
    if payment.forward_balance < 0 or not _cents(payment.forward_balance):
        raise ValueError(f"{where}: forward balance {payment.forward_balance} is not owed cents")
    for adj in payment.adjustments:
        if not _cents(adj.amount):
            raise ValueError(f"{where}: provider adjustment {adj.reason} {adj.amount} not cents")
    c = payment.payer_contact
    if not (c.phone or c.email or c.url):
        raise ValueError(f"{where}: the payer contact needs a phone, email or url (PER*BL)")


def _check_decision(decision: ClaimDecision) -> None:
    where = f"claim {decision.claim.claim_id} ({decision.payer_claim_number})"
    if decision.outcome is Outcome.PENDED:
        raise ValueError(f"{where}: pended, not ready to remit")
    if not decision.lines:
        raise ValueError(f"{where}: no service lines")
    amounts = [a.amount for a in decision.claim_adjustments]
    for ln in decision.lines:
        amounts += [ln.charge, ln.paid, ln.allowed, *(a.amount for a in ln.adjustments)]
    for amount in amounts:
        if not _cents(amount):
            raise ValueError(f"{where}: amount {amount} is not whole cents")
    problems = check_balance(decision)
    if problems:
        raise ValueError(f"{where} does not balance: " + "; ".join(problems))


# -- segments ------------------------------------------------------------------------------------


def _amount(value: Decimal) -> str:
    return format_x12_amount(value)


def _header(w: CheckedSegmentWriter, payment: Payment, total: Decimal, created: datetime) -> None:
    w.context = f"payment {payment.trace_number}"
    payer_id = "1" + payment.payer_tin
    if total > 0:
        method = payment.method
        handling = "I"
    else:
        # Nothing moves: the guide wants H (notification only) with NON for a zero payment.
        method = PaymentMethod.NONE
        handling = "H"
    paid_on = d8(payment.paid_on)
    if method is PaymentMethod.ACH:
        bank = payment.bank
        assert bank is not None  # checked in write_835
        w.put(
            "BPR",
            handling,
            _amount(total),
            "C",
            method.value,
            bank.payment_format,
            bank.routing_qualifier,
            bank.sender_routing,
            "DA",
            bank.sender_account,
            payer_id,
            "",
            bank.routing_qualifier,
            bank.receiver_routing,
            bank.receiver_account_type,
            bank.receiver_account,
            paid_on,
        )
    else:
        w.put("BPR", handling, _amount(total), "C", method.value, *[""] * 11, paid_on)
    w.put("TRN", "1", payment.trace_number, payer_id)
    w.put("DTM", "405", d8(created.date()))

    w.put("N1", "PR", payment.payer_name[:60])
    _address(w, payment.payer_address)
    if payment.payer_id:
        w.put("REF", "2U", payment.payer_id)
    c = payment.payer_contact
    numbers = [("TE", c.phone), ("EM", c.email), ("UR", c.url)]
    pairs = [part for qualifier, value in numbers if value for part in (qualifier, value)]
    w.put("PER", "BL", c.name[:60], *pairs)

    qualifier, ident = _payee_id(payment)
    w.put("N1", "PE", payment.payee_name[:60], qualifier, ident)
    if payment.payee_address is not None:
        _address(w, payment.payee_address)
    if qualifier == "XX" and payment.payee_tin:
        w.put("REF", "TJ", payment.payee_tin)


def _payee_id(payment: Payment) -> tuple[str, str]:
    if payment.payee_npi:
        return "XX", payment.payee_npi
    return "FI", payment.payee_tin


def _address(w: CheckedSegmentWriter, address: Address) -> None:
    w.put("N3", address.line1[:55], address.line2[:55])
    w.put("N4", address.city[:30], address.state, address.postal_code)


def _claim(w: CheckedSegmentWriter, decision: ClaimDecision, payment: Payment) -> None:
    claim = decision.claim
    indicator = claim.claim_filing_indicator
    if indicator not in FILING_INDICATORS:
        indicator = DEFAULT_FILING_INDICATOR
    patient_responsibility = decision.patient_responsibility
    institutional = claim.claim_type is ClaimType.INSTITUTIONAL
    w.put(
        "CLP",
        claim.claim_id,
        decision.status.value,
        _amount(decision.charge),
        _amount(decision.paid),
        # CLP05 is situational: sent when the patient owes something (or is refunded).
        _amount(patient_responsibility) if patient_responsibility else "",
        indicator,
        decision.payer_claim_number,
        claim.facility_code,
        claim.frequency_code,
    )
    _cas(w, decision.claim_adjustments)

    patient, subscriber = claim.patient, claim.subscriber
    patient_id = patient.member_id or subscriber.member_id
    w.put(
        "NM1",
        "QC",
        "1",
        patient.last_name[:60],
        patient.first_name[:35],
        patient.middle_name[:25],
        "",
        "",
        "MI" if patient_id else "",
        patient_id,
    )
    if claim.patient_relationship != "18" and subscriber.member_id:
        w.put(
            "NM1",
            "IL",
            "1",
            subscriber.last_name[:60],
            subscriber.first_name[:35],
            subscriber.middle_name[:25],
            "",
            "",
            "MI",
            subscriber.member_id,
        )
    rendering = claim.rendering_provider
    # The guide wants the rendering provider only when it differs from the payee.
    if rendering is not None and rendering.npi and rendering.npi != payment.payee_npi:
        person = rendering.entity_type == "1"
        w.put(
            "NM1",
            "82",
            "1" if person else "2",
            rendering.last_name[:60],
            rendering.first_name[:35] if person else "",
            rendering.middle_name[:25] if person else "",
            "",
            "",
            "XX",
            rendering.npi,
        )

    remarks = list(dict.fromkeys(decision.remarks))[:CLAIM_REMARKS_MAX]
    if remarks:
        if institutional and claim.facility_code in INPATIENT_FACILITIES:
            rest = remarks[1:] + [""] * (CLAIM_REMARKS_MAX - len(remarks))
            w.put("MIA", str(_covered_days(decision)), "", "", "", remarks[0], *[""] * 14, *rest)
        else:
            w.put("MOA", "", "", *remarks)

    # Claim dates: the statement period of an institutional claim, and for any claim whose
    # lines do not all carry their own date (the guide needs one or the other).
    if institutional or any(ln.service_from is None for ln in decision.lines):
        start = claim.statement_from or claim.service_from
        end = claim.statement_to or claim.service_to
        if start is not None:
            w.put("DTM", "232", d8(start))
            if end is not None:
                w.put("DTM", "233", d8(end))
    if decision.allowed:
        w.put("AMT", "AU", _amount(decision.allowed))  # what the plan covered, when anything

    for line in decision.lines:
        _line(w, line, claim.claim_type)


def _covered_days(decision: ClaimDecision) -> int:
    """MIA01: the engine does not count covered days apart from the stay, so a paid inpatient
    claim reports the days of its stay and a denied one none."""
    claim = decision.claim
    if decision.outcome is Outcome.DENIED or decision.status is ClaimStatusCode.DENIED:
        return 0
    start = claim.admission_date or claim.statement_from
    end = claim.discharge_date or claim.statement_to
    if start is None or end is None:
        return 0
    return max((end - start).days, 1)


def _service(line: LineDecision, claim_type: ClaimType) -> tuple[Composite, str]:
    """SVC01 and SVC04: the procedure (HCPCS, CDT ...) with the revenue code in SVC04 for an
    institutional line that has both; NU and the revenue code for a revenue-only line."""
    proc = line.procedure
    if proc is not None:
        revenue = line.revenue_code if claim_type is ClaimType.INSTITUTIONAL else ""
        return _procedure(proc), revenue
    if line.revenue_code:
        return Composite(("NU", line.revenue_code)), ""
    raise ValueError(f"line {line.line_number}: neither a procedure nor a revenue code")


def _procedure(proc: Procedure) -> Composite:
    if proc.qualifier not in SERVICE_QUALIFIERS:
        raise ValueError(f"procedure {proc.code}: qualifier {proc.qualifier!r} not allowed")
    return Composite((proc.qualifier, proc.code, *proc.modifiers[:4]))


def _line(w: CheckedSegmentWriter, line: LineDecision, claim_type: ClaimType) -> None:
    service, revenue = _service(line, claim_type)
    one = Decimal(1)
    # SVC05 is "assumed one when absent"; SVC07 the billed units when they were not all paid.
    units_changed = line.paid_units != line.units
    paid_units = format_x12_number(line.paid_units) if line.paid_units != one else ""
    if units_changed and not paid_units:
        paid_units = "1"
    original: Composite | str = ""
    if line.original_procedure is not None and line.original_procedure != line.procedure:
        original = _procedure(line.original_procedure)
    w.put(
        "SVC",
        service,
        _amount(line.charge),
        _amount(line.paid),
        revenue,
        paid_units,
        original,
        format_x12_number(line.units) if units_changed else "",
    )
    if line.service_from is not None:
        if line.service_to is None or line.service_to == line.service_from:
            w.put("DTM", "472", d8(line.service_from))
        else:
            w.put("DTM", "150", d8(line.service_from))
            w.put("DTM", "151", d8(line.service_to))
    _cas(w, line.adjustments)
    if line.control_number:
        w.put("REF", "6R", line.control_number)
    w.put("AMT", "B6", _amount(line.allowed))
    for remark in dict.fromkeys(line.remarks):
        w.put("LQ", "HE", remark)


def _merged(adjustments: Iterable[Adjustment]) -> dict[str, dict[str, Adjustment]]:
    """Adjustments by group then reason, in order of first appearance; a group/reason pair
    given twice is added up, because the guide lets a pair appear only once in a loop."""
    groups: dict[str, dict[str, Adjustment]] = {}
    for adj in adjustments:
        reasons = groups.setdefault(adj.group, {})
        seen = reasons.get(adj.reason)
        if seen is None:
            reasons[adj.reason] = adj
            continue
        quantity = seen.quantity
        if adj.quantity is not None:
            quantity = (quantity or Decimal(0)) + adj.quantity
        reasons[adj.reason] = Adjustment(adj.group, adj.reason, seen.amount + adj.amount, quantity)
    return groups


def _cas(w: CheckedSegmentWriter, adjustments: Iterable[Adjustment]) -> None:
    for group, reasons in _merged(adjustments).items():
        items = list(reasons.values())
        for i in range(0, len(items), CAS_MAX):
            triplets: list[str] = []
            for adj in items[i : i + CAS_MAX]:
                quantity = "" if adj.quantity is None else format_x12_number(adj.quantity)
                triplets += [adj.reason, _amount(adj.amount), quantity]
            w.put("CAS", group, *triplets)


def _provider_adjustments(payment: Payment) -> Iterable[ProviderAdjustment]:
    if payment.forward_balance:
        # Recover what the payee owes from an earlier 835 (a positive FB reduces BPR02).
        yield ProviderAdjustment(
            FORWARD_BALANCE, payment.forward_reference, payment.forward_balance
        )
    yield from payment.adjustments


def _plb(
    w: CheckedSegmentWriter, payment: Payment, adjustments: Sequence[ProviderAdjustment]
) -> None:
    _, ident = _payee_id(payment)  # PLB01 is the payee id of N104, whatever its qualifier
    fiscal_period = d8(date(payment.paid_on.year, 12, 31))
    for i in range(0, len(adjustments), PLB_MAX):
        pairs: list[str | Composite] = []
        for adj in adjustments[i : i + PLB_MAX]:
            pairs += [Composite((adj.reason, adj.reference)), _amount(adj.amount)]
        w.put("PLB", ident, fiscal_period, *pairs)
