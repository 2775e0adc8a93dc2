"""Claim status inquiries: an X12 276 in, its 277 out, read from the store.

:func:`answer_276` reads the request (:func:`claims_engine.x12.reader276.read_276`), finds the
claims each inquiry asks about, says where each stands and writes the answer
(:func:`claims_engine.x12.writer277.write_277`). A request that cannot be answered raises
:class:`UnusableInquiry` with the TA1 (broken interchange) or 999 (broken functional group or
transaction set) answering it.

Finding a claim: by its payer claim control number (REF*1K) when the inquiry gives one, else by
the service provider's NPI and the submitter's claim id (REF*EJ, the 837's CLM01); then
narrowed by the member id (the subscriber's, 2100D) and, when the inquiry gives them, by the
service dates and the total charge. A caller limited to some billing NPIs (a provider) sees a
claim of another NPI exactly as a claim that does not exist: ``A4:35``, the same bytes.

Where a claim stands (STC01, with STC10/STC11 when more is needed):

=====================================  ===========  ==========================================
state                                  STC          meaning (claim status category: code)
=====================================  ===========  ==========================================
received, intake not run               A1:19:PRP    receipt: entity (the payer) acknowledges
accepted, not adjudicated yet          A2:20        acceptance into adjudication: accepted for
                                                    processing
rejected at intake (277CA)             A3:<why>     returned as unprocessable, with the edit's
                                                    status codes (A3:0 when none can be told)
pended for review (decision pended)    P2:46        pending/payer review: internal review
pended, information asked of provider  P3:<what>    pending/provider requested information
                                       +P3:294      (an open INFO-REQUESTED pend item): what
                                                    is asked, by the request's remark (RARC):
                                                    297 medical notes/report (also when the
                                                    remark names no document), 306 detailed
                                                    description of service, 286 other payer's
                                                    EOB, 244 tooth number or letter, 249 place
                                                    of service; then STC10 294 supporting
                                                    documentation (lines asked about: P3:<what>)
pended by a failure to adjudicate      P5:41        pending/payer administrative or system
                                                    hold: special handling at payer site
adjudicated, pays, no 835 yet          F0:3         finalized: adjudicated, awaiting payment
                                                    cycle
remitted, paid                         F1:65        finalized/payment: claim has been paid;
                                                    STC08/STC09 the 835's date and trace
denied                                 F2:<why>     finalized/denial: 54 duplicate, 88 not
                                                    eligible on the dates, 33 member not found,
                                                    84 not authorized, else 104 processed
                                                    according to plan provisions
adjudicated, pays nothing, not denied  F4:104       finalized/no payment forthcoming: processed
                                                    according to plan provisions
reversed by a replacement or a void    F3:101       finalized/revised: processed as an
                                                    adjustment to a previous claim (paid 0)
a void (frequency 8) itself            F3:101       as above, with the 835 of the reversal
a replacement (frequency 7)            +F3:101      its own status, then STC10 F3:101 (when it
                                                    reversed its original)
not found, or not the caller's         A4:35        not found: claim/encounter not found
=====================================  ===========  ==========================================

A claim waiting for its provider's answer is answered P3 from the moment it is asked (STC02 the
day of the request). What was asked, in the examiner's words, and the day it must be answered
by are not in the 277: the guide leaves STC12 (free-form message text) unused in every loop of
the 005010X212 277 (and pyx12's map of it agrees), so the provider reads them in the claim's
status (``GET /v1/claims/{id}``, ``claims-engine status``). Nothing else of the examination
(its notes, pend details, queue, examiner) is ever in a 277.

Amounts and dates: STC02 the day of the claim's last change of state, STC04 its charge, STC05
what its standing decision pays (0 until then, and once reversed), STC06 the day it was
decided, STC08 the day of the 835 it was paid in and STC09 that 835's trace number.

Each inquiry costs one query (the claims are found and narrowed by their stored rows), the
decisions and remittances of all the claims found one more, and the answer's interchange
control number a short write on the store's counter, as every document the engine sends. An
inquiry repeated in a request costs neither a query nor a decode; a request of more than
:data:`MAX_INQUIRIES` inquiries is refused before anything is read from the store.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from claims_engine.adjudication.decision import ClaimDecision, LineDecision, Outcome
from claims_engine.domain.errors import ClaimsEngineError, StoredDataError
from claims_engine.domain.issues import ClaimStatus, Scope
from claims_engine.domain.model import Adjustment, Claim, ClaimType, ServiceLine
from claims_engine.domain.money import ZERO, round_money
from claims_engine.front_end.edits import EditContext, edit_claim
from claims_engine.services.queries import (
    AdjudicationView,
    adjudications_of,
    identity_of,
    info_request_column,
    stored_time,
)
from claims_engine.services.stored_adjudication import read_claim, read_decision
from claims_engine.store.db import CONTROL_COUNTER, begin_write, next_numbers
from claims_engine.store.tables import ClaimState, claims_table, pend_items_table
from claims_engine.store.vault import current_vault
from claims_engine.x12.acks import Envelope, write_999, write_ta1
from claims_engine.x12.envelope_walk import Unreadable
from claims_engine.x12.reader276 import (
    ClaimInquiry,
    LineInquiry,
    TooManyInquiries,
    read_276,
)
from claims_engine.x12.writer277 import ClaimReport, InquiryReport, LineReport, write_277

# Claim inquiries (TRNs) one request may hold: the guide limits real-time 276s (005010X212
# 1.3.2.1, beyond one patient only up to a limit the trading partners agree); a batch belongs
# in a file. Each inquiry costs a query.
MAX_INQUIRIES = 100
MAX_CLAIMS_PER_INQUIRY = 10  # claims answered for one inquiry (a claim id reused across files)
_SCAN = 100  # candidate rows read for one inquiry before narrowing

RECEIVED = ClaimStatus("A1", "19", "PRP")
ACCEPTED = ClaimStatus("A2", "20")
UNPROCESSABLE = "A3"
NO_MORE_DETAIL = ClaimStatus("A3", "0")
IN_REVIEW = ClaimStatus("P2", "46")
SYSTEM_HOLD = ClaimStatus("P5", "41")
# A claim waiting for information requested from its provider. Category P3 (code source 507):
# "Pending/Provider Requested Information: the claim or encounter is waiting for information
# that has already been requested from the provider. (Note: a claim status code identifying the
# type of information requested must be sent)": STC01 carries the code of what is asked, chosen
# by the remark code (RARC) of the request, and STC10 status code 294 (code source 508):
# "Supporting documentation. Usage: at least one other status code is required to identify the
# supporting documentation" (STC01's). A line asked about gets STC01's status alone, which names
# the type too. Codes and texts as X12 publishes the two lists
# (x12.org/codes/claim-status-category-codes and .../claim-status-codes).
INFO_REQUESTED_STATUS = ClaimStatus("P3", "294")
REQUESTED_DOCUMENT: dict[str, str] = {  # RARC of the request -> status code of what is asked
    "M127": "297",  # missing patient medical record -> medical notes/report
    "N29": "297",  # missing documentation/orders/notes/summary/report/chart -> the same
    "N350": "306",  # description of an unlisted service missing -> detailed description
    "N4": "286",  # prior carrier's EOB missing -> other payer's explanation of benefits
    "N37": "244",  # tooth number/letter missing -> tooth number or letter
    "M77": "249",  # place of service missing -> place of service
}
REQUESTED_DEFAULT = "297"  # medical notes/report: what the default remark (N29) asks for
AWAITING_PAYMENT = ClaimStatus("F0", "3")
PAID = ClaimStatus("F1", "65")
DENIED = "F2"
NO_PAYMENT = ClaimStatus("F4", "104")
REVISED = ClaimStatus("F3", "101")
# A denial's status code by its claim adjustment reason code (CARC); else 104.
DENIAL_CODES: dict[str, tuple[str, bool]] = {  # CARC -> (status code, names the patient)
    "18": ("54", False),  # duplicate of a previously processed claim/line
    "26": ("88", True),  # entity not eligible for benefits for submitted dates of service
    "27": ("88", True),
    "31": ("33", False),  # subscriber and subscriber id not found
    "197": ("84", False),  # service not authorized
}
DENIAL_DEFAULT = "104"  # processed according to plan provisions
# Entity codes the guide allows in a claim's STC01-3 that the edits name (PR, the payer, is not
# among them: a status about another payer goes without its entity).
STATUS_ENTITIES = frozenset(
    {"03", "1P", "40", "71", "72", "77", "82", "85", "87", "DK", "DN", "DQ", "FA", "GB", "IL"}
    | {"P3", "PRP", "PW", "QB", "QC", "QD", "SEP", "TL", "TTP", "TU", "ZZ"}
)

_claims = claims_table


class UnusableInquiry(ClaimsEngineError):
    """A 276 that cannot be answered with a 277.

    ``status`` is 400 when the input is not X12 or its interchange is broken (answered with a
    TA1 when there is an ISA to answer), 422 when a functional group or transaction set is
    (answered with a 999), 413 when it holds more claim inquiries than one request may (no
    acknowledgment: the X12 is not at fault); ``reason`` says what and where in one line;
    ``acknowledgment`` is the TA1 or 999 text, ``None`` when nothing can be acknowledged.
    """

    def __init__(self, status: int, reason: str, acknowledgment: str | None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.acknowledgment = acknowledgment


@dataclass(frozen=True, slots=True)
class InquiryAnswer:
    x12: str  # the 277 text
    claim_ids: tuple[int, ...]  # claim row ids whose data went into the answer (PHI audit)


def answer_276(
    engine: Engine,
    data: bytes,
    *,
    allowed_npis: frozenset[str] | None,
    now: datetime,
    max_inquiries: int = MAX_INQUIRIES,
) -> InquiryAnswer:
    """The 277 answering the 276 ``data`` (see the module docstring).

    ``allowed_npis`` are the billing NPIs whose claims the caller may see (``None``: all, for
    the insurer). Raises :class:`UnusableInquiry` when the request cannot be answered, and
    before anything is read from the store when it holds more than ``max_inquiries`` claim
    inquiries.
    """
    request = read_276(data, max_inquiries=max_inquiries)
    if isinstance(request, TooManyInquiries):
        raise UnusableInquiry(
            413,
            f"more than {request.limit} {request.what} "
            f"({'TRN' if request.what == 'claim inquiries' else 'SVC'} at segment "
            f"{request.position}): ask about fewer a request",
            None,
        )
    if isinstance(request, Unreadable):
        raise unusable(engine, request, now)
    inquiries = request.inquiries
    with engine.connect() as conn:
        decoded = _Decoded(conn, allowed_npis)
        found = [decoded.candidates(q) for q in inquiries]
        views = adjudications_of(conn, [f.row.id for rows in found for f in rows])
    by_claim: dict[int, list[AdjudicationView]] = {}
    for view in views:
        by_claim.setdefault(view.claim_row_id, []).append(view)
    reports: list[InquiryReport] = []
    claim_ids: set[int] = set()
    for q, rows in zip(inquiries, found, strict=True):
        claims = tuple(_report(q, f, by_claim.get(f.row.id, []), decoded) for f in rows)
        claim_ids.update(int(f.row.id) for f in rows)
        reports.append(InquiryReport(q, claims))
    out = io.StringIO()
    write_277(out, request, reports, control=next_control(engine), created=now)
    return InquiryAnswer(out.getvalue(), tuple(sorted(claim_ids)))


# -- unusable requests ----------------------------------------------------------------------------
def next_control(engine: Engine) -> int:
    """An interchange control number for what the engine sends, from the store's counter."""
    with begin_write(engine) as conn:
        return next_numbers(conn, CONTROL_COUNTER, 1)


def unusable(engine: Engine, problem: Unreadable, now: datetime) -> UnusableInquiry:
    """What answers a request that cannot be read: its TA1 or 999 (with the status the API
    answers with), or only the reason when nothing could acknowledge it."""
    header = problem.interchange
    if problem.scope is None or header is None:
        return UnusableInquiry(400, problem.reason, None)
    out = io.StringIO()
    env = Envelope(header, next_control(engine), now)
    if problem.scope is Scope.INTERCHANGE:
        write_ta1(out, env, problem.issue)
        return UnusableInquiry(400, problem.reason, out.getvalue())
    write_999(out, env, problem.groups)
    return UnusableInquiry(422, problem.reason, out.getvalue())


# -- finding the claims ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Found:
    row: Any
    claim: Claim | None  # None when the stored claim does not decode


class _Decoded:
    """What one request reads from the store, each claim and decision decoded once: an
    inquiry repeated, or several asking about one claim, costs no second query and no second
    decode."""

    def __init__(self, conn: Connection, allowed_npis: frozenset[str] | None) -> None:
        self.conn = conn
        self.allowed_npis = allowed_npis
        self._found: dict[tuple[str, ...], list[_Found]] = {}  # by what the query looks for
        self._claims: dict[int, Claim | None] = {}  # by claim row id
        self._decisions: dict[int, ClaimDecision | None] = {}  # by adjudication row id
        self._rejections: dict[int, tuple[ClaimStatus, ...]] = {}  # by claim row id

    def candidates(self, q: ClaimInquiry) -> list[_Found]:
        """The claims ``q`` asks about (at most :data:`MAX_CLAIMS_PER_INQUIRY`)."""
        key: tuple[str, ...]
        if q.payer_claim_number:
            key = ("1K", q.payer_claim_number)
        elif q.patient_control_number and q.provider.npi:
            key = ("EJ", q.patient_control_number, q.provider.npi)
        else:
            return []
        found = self._found.get(key)
        if found is None:
            rows = _candidate_rows(self.conn, q, self.allowed_npis)
            found = self._found[key] = [_Found(row, self._claim(row)) for row in rows]
        return [f for f in found if _matches(q, f.row, f.claim)][:MAX_CLAIMS_PER_INQUIRY]

    def _claim(self, row: Any) -> Claim | None:
        if row.id not in self._claims:
            try:
                self._claims[row.id] = read_claim(row.claim, row.id)
            except StoredDataError:
                self._claims[row.id] = None
        return self._claims[row.id]

    def decision(self, view: AdjudicationView, row: Any) -> ClaimDecision | None:
        if view.id not in self._decisions:
            self._decisions[view.id] = _decision(view, row)
        return self._decisions[view.id]

    def rejection(self, claim: Claim | None, row: Any) -> tuple[ClaimStatus, ...]:
        if row.id not in self._rejections:
            self._rejections[row.id] = _rejection(claim, row)
        return self._rejections[row.id]


def _candidate_rows(
    conn: Connection, q: ClaimInquiry, allowed_npis: frozenset[str] | None
) -> Sequence[Any]:
    """The stored rows of the claims ``q`` names by payer claim number or by submitter claim
    id and NPI, before narrowing."""
    c = _claims.c
    query = select(
        c.id,
        c.payer_claim_number,
        c.identity,
        c.billing_npi,
        c.member_id,
        c.frequency,
        c.state,
        c.total_charge,
        c.received_on,
        c.updated_at,
        c.error,
        c.claim,
        info_request_column(pend_items_table.c.remark).label("info_remark"),
        info_request_column(pend_items_table.c.raised_at).label("info_requested_at"),
    )
    if q.payer_claim_number:
        query = query.where(c.payer_claim_number == q.payer_claim_number)
    elif q.patient_control_number and q.provider.npi:
        query = query.where(
            c.submitter_claim_id == current_vault().lookup(q.patient_control_number),
            c.billing_npi == q.provider.npi,
        )
    else:
        return []
    if allowed_npis is not None:
        if not allowed_npis:
            return []
        # Never loaded, so never told: a claim of another NPI is answered as not found.
        query = query.where(c.billing_npi.in_(sorted(allowed_npis)))
    return conn.execute(query.order_by(c.id).limit(_SCAN)).all()


def _matches(q: ClaimInquiry, row: Any, claim: Claim | None) -> bool:
    member = q.member_id
    members = set()
    if claim is not None:
        members |= {claim.subscriber.member_id, claim.patient.member_id}
    if member not in members and current_vault().lookup(member) != row.member_id:
        return False
    if q.total_charge is not None and round_money(row.total_charge) != q.total_charge:
        return False
    if q.service_from is not None and claim is not None:
        start, end = _claim_dates(claim)
        asked_end = q.service_to or q.service_from
        if start is not None and end is not None and (end < q.service_from or start > asked_end):
            return False
    return True


def _claim_dates(claim: Claim) -> tuple[date | None, date | None]:
    start = claim.statement_from or claim.service_from
    end = claim.statement_to or claim.service_to
    return start, end or start


# -- where a claim stands -------------------------------------------------------------------------
def _report(
    q: ClaimInquiry, found: _Found, views: Sequence[AdjudicationView], decoded: _Decoded
) -> ClaimReport:
    row, claim = found.row, found.claim
    decision = next((v for v in views if v.kind == "decision"), None)
    reversal = next((v for v in views if v.kind == "reversal"), None)
    read = decoded.decision(decision, row) if decision is not None else None
    statuses: tuple[ClaimStatus, ...]
    paid = ZERO
    decided: AdjudicationView | None = None  # whose date is STC06
    remitted: AdjudicationView | None = None  # whose 835 is STC08 and STC09
    state = row.state
    effective = row.updated_at.date()
    if state == ClaimState.REJECTED:
        statuses = decoded.rejection(claim, row)
    elif state == ClaimState.RECEIVED:
        statuses = (RECEIVED,)
    elif state == ClaimState.ACCEPTED:
        statuses = (ACCEPTED,)
    elif state == ClaimState.PENDED and row.info_requested_at is not None:
        statuses = _info_requested(row.info_remark)
        effective = max(effective, stored_time(row.info_requested_at).date())
    elif state == ClaimState.PENDED:
        pended = decision is not None and decision.outcome == Outcome.PENDED
        statuses = (IN_REVIEW if pended else SYSTEM_HOLD,)
    elif decision is not None and decision.reversed_by:
        statuses, decided = (REVISED,), decision
    elif decision is None and reversal is not None:  # a void: its reversal is all it decided
        statuses, decided, remitted = (REVISED,), reversal, reversal
    elif decision is None:
        statuses = (ACCEPTED,)  # decided states always have a decision; never reached
    else:
        decided = decision
        if decision.remittance_trace:
            remitted = decision
        if decision.outcome == Outcome.DENIED:
            statuses = (_denial(read, claim),)
        elif decision.paid > 0:
            paid = decision.paid
            statuses = (PAID if remitted is not None else AWAITING_PAYMENT,)
        else:
            statuses = (NO_PAYMENT,)
        if reversal is not None:  # a replacement that reversed its original
            statuses = (*statuses, REVISED)
    start, end = _claim_dates(claim) if claim is not None else (None, None)
    institutional = claim is not None and claim.claim_type is ClaimType.INSTITUTIONAL
    report = ClaimReport(
        statuses=statuses,
        effective=effective,
        charge=row.total_charge,
        paid=paid,
        adjudicated_on=decided.decided_at.date() if decided is not None else None,
        remitted_on=(
            remitted.remitted_at.date()
            if remitted is not None and remitted.remitted_at is not None
            else None
        ),
        remittance_trace=(remitted.remittance_trace or "") if remitted is not None else "",
        payer_claim_number=row.payer_claim_number or "",
        patient_control_number=identity_of(row).claim_id,
        bill_type=claim.type_of_bill if institutional and claim is not None else "",
        service_from=start,
        service_to=end,
    )
    if q.lines and claim is not None:
        standing = read if read is not None and paid else None
        return _with_lines(report, q.lines, claim, standing)
    return report


def _info_requested(remark: str | None) -> tuple[ClaimStatus, ...]:
    """P3 with what the request asks for (by its remark code), then P3:294 in STC10."""
    document = REQUESTED_DOCUMENT.get(remark or "", REQUESTED_DEFAULT)
    return (ClaimStatus(INFO_REQUESTED_STATUS.category, document), INFO_REQUESTED_STATUS)


def _decision(view: AdjudicationView, row: Any) -> ClaimDecision | None:
    try:
        return read_decision(view.document, row.claim, view.id, view.claim_row_id)
    except StoredDataError:
        return None


def _denial(decision: ClaimDecision | None, claim: Claim | None) -> ClaimStatus:
    adjustments: list[Adjustment] = []
    if decision is not None:
        adjustments += decision.claim_adjustments
        for line in decision.lines:
            adjustments += line.adjustments
    return _denial_status(adjustments, claim)


def _denial_status(adjustments: Iterable[Adjustment], claim: Claim | None) -> ClaimStatus:
    reason = next((a.reason for a in adjustments if a.group != "PR"), "")
    code, names_patient = DENIAL_CODES.get(reason, (DENIAL_DEFAULT, False))
    entity = ""
    if names_patient:
        self_ = claim is None or claim.patient_relationship == "18"
        entity = "IL" if self_ else "QC"
    return ClaimStatus(DENIED, code, entity)


def _rejection(claim: Claim | None, row: Any) -> tuple[ClaimStatus, ...]:
    """Why the intake rejected a claim, as status codes under A3: the front-end edits run
    again on the stored claim give the codes its 277CA carried (a duplicate in its file is
    told by the stored reason); A3:0 when the reason lay in the X12 itself or its envelope,
    which the 999 reported."""
    found: list[ClaimStatus] = []
    if row.error and "CLAIM-DUPLICATE-IN-FILE" in row.error:
        found.append(ClaimStatus(UNPROCESSABLE, "54"))
    if claim is not None:
        for issue in edit_claim(claim, EditContext(row.received_on)):
            found.extend(
                ClaimStatus(UNPROCESSABLE, s.code, s.entity if s.entity in STATUS_ENTITIES else "")
                for s in issue.status
            )
    unique = tuple(dict.fromkeys(found))
    return unique[:3] or (NO_MORE_DETAIL,)


# -- service lines --------------------------------------------------------------------------------
def _with_lines(
    report: ClaimReport,
    asked: Sequence[LineInquiry],
    claim: Claim,
    decision: ClaimDecision | None,
) -> ClaimReport:
    """The report with the lines asked about that the claim has, each matched once."""
    decided = {ln.line_number: ln for ln in decision.lines} if decision is not None else {}
    # the claim's lines by the codes they are asked about by (an institutional line by its
    # procedure and its revenue code), so that a line asked about meets only its own code's
    by_code: dict[str, list[ServiceLine]] = {}
    for ln in claim.lines:
        if ln.procedure is not None:
            by_code.setdefault(ln.procedure.code, []).append(ln)
        if ln.revenue_code:
            by_code.setdefault(f"NU:{ln.revenue_code}", []).append(ln)
    taken: set[int] = set()  # id() of the lines matched already
    lines: list[LineReport] = []
    for line in asked:
        proc = line.procedure
        key = f"NU:{proc.code}" if proc.qualifier == "NU" else proc.code
        match = next(
            (ln for ln in by_code.get(key, ()) if id(ln) not in taken and _same_line(line, ln)),
            None,
        )
        if match is None:
            continue
        taken.add(id(match))
        outcome = decided.get(match.number)
        lines.append(_line_report(line, match, outcome, report, claim))
    if not lines:
        return report
    return ClaimReport(
        statuses=report.statuses,
        effective=report.effective,
        charge=report.charge,
        paid=report.paid,
        adjudicated_on=report.adjudicated_on,
        remitted_on=report.remitted_on,
        remittance_trace=report.remittance_trace,
        payer_claim_number=report.payer_claim_number,
        patient_control_number=report.patient_control_number,
        bill_type=report.bill_type,
        service_from=report.service_from,
        service_to=report.service_to,
        lines=tuple(lines),
    )


def _same_line(asked: LineInquiry, line: ServiceLine) -> bool:
    proc = asked.procedure
    if proc.qualifier == "NU":
        same = line.revenue_code == proc.code
    else:
        same = line.procedure is not None and line.procedure.code == proc.code
    if not same:
        return False
    if asked.service_from is not None and line.service_from is not None:
        end = line.service_to or line.service_from
        asked_end = asked.service_to or asked.service_from
        return not (end < asked.service_from or line.service_from > asked_end)
    return True


def _line_report(
    asked: LineInquiry,
    line: ServiceLine,
    outcome: LineDecision | None,
    report: ClaimReport,
    claim: Claim,
) -> LineReport:
    status = report.statuses[0]
    paid = ZERO
    if outcome is not None:
        paid = outcome.paid
        if outcome.outcome is Outcome.DENIED and status.category != DENIED:
            status = _denial_status(outcome.adjustments, claim)
    return LineReport(
        line=asked,
        status=status,
        charge=line.charge,
        paid=paid,
        units=line.units if line.units else Decimal(1),
        service_from=line.service_from,
        service_to=line.service_to,
        revenue_code=line.revenue_code,
    )
