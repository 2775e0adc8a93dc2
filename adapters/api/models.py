"""The bodies of the HTTP API, as pydantic models: they are the OpenAPI document's schemas.

Money is a string with exactly two decimal places (``"1234.50"``), never a JSON number, so no
client parses it into a float by accident. Dates are ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MONEY_PATTERN = r"^-?\d+\.\d{2}$"
Money = str

ClaimStateName = Literal["received", "rejected", "accepted", "pended", "adjudicated", "remitted"]
InterchangeStateName = Literal["received", "ingested", "rejected"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Model):
    status: int = Field(description="the HTTP status, repeated")
    code: str = Field(description="a stable, machine-readable code")
    message: str = Field(description="what went wrong and where, in one line")
    acknowledgment: str | None = Field(
        default=None,
        description="the X12 TA1 or 999 that answers an unusable interchange, when one exists",
    )


class ErrorBody(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "status": 404,
                        "code": "not_found",
                        "message": "no claim 42",
                        "acknowledgment": None,
                    }
                }
            ]
        },
    )
    error: ErrorDetail


class Link(_Model):
    rel: str
    href: str


class InterchangeAccepted(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "state": "received",
                    "claims": 250,
                    "links": [{"rel": "self", "href": "/v1/interchanges/17"}],
                }
            ]
        },
    )
    id: int
    state: InterchangeStateName
    claims: int = Field(description="claims read from the body (accepted or not)")
    links: list[Link]


class AcknowledgmentOut(_Model):
    id: int
    kind: Literal["ta1", "999", "277ca"]
    control_number: str
    created_at: datetime
    href: str


class InterchangeOut(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "state": "ingested",
                    "reason": None,
                    "sender_id": "SUBMITTER01",
                    "control_number": "000000905",
                    "received_at": "2026-11-02T09:30:00",
                    "claims": {
                        "received": 0,
                        "rejected": 3,
                        "accepted": 0,
                        "pended": 1,
                        "adjudicated": 246,
                        "remitted": 0,
                    },
                    "acknowledgments": [
                        {
                            "id": 51,
                            "kind": "999",
                            "control_number": "000000012",
                            "created_at": "2026-11-02T09:30:00",
                            "href": "/v1/interchanges/17/acknowledgments/51",
                        }
                    ],
                }
            ]
        },
    )
    id: int
    state: InterchangeStateName
    reason: str | None
    sender_id: str
    control_number: str
    received_at: datetime
    claims: dict[str, int] = Field(description="the interchange's claims by state")
    acknowledgments: list[AcknowledgmentOut]


class AdjustmentOut(_Model):
    line: int | None = Field(description="the service line, or null for the claim level")
    group: str = Field(description="CAS01 group code: CO, PR, OA or PI")
    reason: str = Field(description="CAS02 claim adjustment reason code (CARC)")
    amount: Money = Field(pattern=MONEY_PATTERN)
    description: str = Field(description="the adjustment in plain language")


class EventOut(_Model):
    at: datetime
    actor: str
    from_state: str | None = Field(alias="from")
    to_state: str = Field(alias="to")
    reason: str

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ClaimInfoRequestOut(_Model):
    asked: str = Field(description="what the plan asked the provider for")
    requested_at: datetime
    answer_by: datetime = Field(description="with no answer by then the claim is denied (CO-16)")


class ClaimPendOut(_Model):
    waiting_for: Literal["review", "information"] = Field(
        description="the plan's review, or information requested from the provider"
    )
    information_requested: ClaimInfoRequestOut | None


class ClaimOut(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 42,
                    "payer_claim_number": "26112302629000000030000001",
                    "submitter_claim_id": "PATIENT-ACCT-1",
                    "member_id": "PG00000100",
                    "billing_npi": "2781759230",
                    "claim_type": "P",
                    "state": "adjudicated",
                    "received_on": "2026-11-02",
                    "charge": "250.00",
                    "allowed": "180.00",
                    "paid": "144.00",
                    "patient_responsibility": "36.00",
                    "outcome": "paid",
                    "error": None,
                    "rule_pack_version": "2026.4",
                    "reversed_by": None,
                    "remittance_trace": None,
                    "pend": None,
                    "adjustments": [
                        {
                            "line": 1,
                            "group": "CO",
                            "reason": "45",
                            "amount": "70.00",
                            "description": "Charge exceeds fee schedule/maximum allowable",
                        }
                    ],
                    "history": [
                        {
                            "at": "2026-11-02T09:30:00",
                            "actor": "intake",
                            "from": "received",
                            "to": "accepted",
                            "reason": "accepted (277CA)",
                        }
                    ],
                }
            ]
        },
    )
    id: int
    payer_claim_number: str | None
    submitter_claim_id: str
    member_id: str
    billing_npi: str
    claim_type: Literal["P", "I", "D"]
    state: ClaimStateName
    received_on: date
    charge: Money = Field(pattern=MONEY_PATTERN)
    allowed: Money | None = Field(pattern=MONEY_PATTERN)
    paid: Money | None = Field(pattern=MONEY_PATTERN)
    patient_responsibility: Money | None = Field(pattern=MONEY_PATTERN)
    outcome: str | None
    error: str | None = Field(description="why the claim was rejected or pended")
    rule_pack_version: str | None
    reversed_by: str | None = Field(description="payer claim number of a void or replacement")
    remittance_trace: str | None = Field(description="TRN02 of the 835 that paid it")
    pend: ClaimPendOut | None = Field(description="what a pended claim waits for (null otherwise)")
    adjustments: list[AdjustmentOut]
    history: list[EventOut]


class ClaimSummaryOut(_Model):
    id: int
    payer_claim_number: str | None
    submitter_claim_id: str
    member_id: str
    billing_npi: str
    claim_type: Literal["P", "I", "D"]
    state: ClaimStateName
    received_on: date
    charge: Money = Field(pattern=MONEY_PATTERN)
    paid: Money | None = Field(pattern=MONEY_PATTERN)
    href: str


class ClaimPage(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": 42,
                            "payer_claim_number": "26112302629000000030000001",
                            "submitter_claim_id": "PATIENT-ACCT-1",
                            "member_id": "PG00000100",
                            "billing_npi": "2781759230",
                            "claim_type": "P",
                            "state": "adjudicated",
                            "received_on": "2026-11-02",
                            "charge": "250.00",
                            "paid": "144.00",
                            "href": "/v1/claims/42",
                        }
                    ],
                    "next": "/v1/claims?limit=1&after=42",
                }
            ]
        },
    )
    items: list[ClaimSummaryOut]
    next: str | None = Field(description="the next page, or null on the last one")


class RemittanceClaimOut(_Model):
    claim_id: int
    payer_claim_number: str
    submitter_claim_id: str
    kind: Literal["decision", "reversal"]
    status: str = Field(description="CLP02 claim status code")
    outcome: str
    charge: Money = Field(pattern=MONEY_PATTERN)
    allowed: Money = Field(pattern=MONEY_PATTERN)
    paid: Money = Field(pattern=MONEY_PATTERN)
    patient_responsibility: Money = Field(pattern=MONEY_PATTERN)
    adjustments: list[AdjustmentOut]


class RemittanceOut(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "payee_npi": "2781759230",
                    "trace_number": "0000000003",
                    "created_at": "2026-11-02T10:00:00",
                    "total_paid": "144.00",
                    "claims": [
                        {
                            "claim_id": 42,
                            "payer_claim_number": "26112302629000000030000001",
                            "submitter_claim_id": "PATIENT-ACCT-1",
                            "kind": "decision",
                            "status": "1",
                            "outcome": "paid",
                            "charge": "250.00",
                            "allowed": "180.00",
                            "paid": "144.00",
                            "patient_responsibility": "36.00",
                            "adjustments": [],
                        }
                    ],
                    "x12_href": "/v1/remittances/3?format=x12",
                }
            ]
        },
    )
    id: int
    payee_npi: str
    trace_number: str
    created_at: datetime
    total_paid: Money = Field(pattern=MONEY_PATTERN)
    claims: list[RemittanceClaimOut]
    x12_href: str


class Health(_Model):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(description="each dependency: ok, or what is wrong")


# -- examination of pended claims -----------------------------------------------------------------

QUEUE_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"
PEND_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9-]{0,31}$"
KEY_ID_PATTERN = r"^[A-Za-z0-9]{1,32}$"
AMOUNT_PATTERN = r"^\d{1,10}\.\d{2}$"
CODE_PATTERN = r"^[A-Z0-9]{1,5}$"
MAX_VERSION = 2**31 - 1
ActionStateName = Literal["applied", "awaiting approval", "approved", "refused"]


def _example(**example: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


class QueueSummaryOut(_Model):
    model_config = _example(
        queue="pricing",
        claims=12,
        charge="18240.00",
        oldest_received="2026-10-05",
        past_due=1,
        due_soon=3,
        unassigned=9,
        href="/v1/queues/pricing/claims",
    )
    queue: str
    claims: int = Field(description="pended claims filed in the queue")
    charge: Money = Field(pattern=MONEY_PATTERN, description="their charges, together")
    oldest_received: date | None
    past_due: int = Field(description="claims past their prompt-payment due day")
    due_soon: int = Field(description="claims due within the next five days")
    unassigned: int = Field(description="claims no examiner holds")
    href: str = Field(description="the queue's claims, most urgent first")


class QueueList(_Model):
    model_config = _example(
        queues=[
            {
                "queue": "pricing",
                "claims": 12,
                "charge": "18240.00",
                "oldest_received": "2026-10-05",
                "past_due": 1,
                "due_soon": 3,
                "unassigned": 9,
                "href": "/v1/queues/pricing/claims",
            }
        ]
    )
    queues: list[QueueSummaryOut] = Field(description="every queue with pended claims, by name")


class QueueEntryOut(_Model):
    claim_id: int
    payer_claim_number: str
    queue: str
    priority: int = Field(description="1 (most urgent) to 5")
    charge: Money = Field(pattern=MONEY_PATTERN)
    received_on: date
    age_days: int = Field(description="days since the claim was received")
    due_on: date = Field(description="the day the plan's prompt-payment clock runs out")
    days_left: int = Field(description="days until then (negative: past due)")
    assigned_to: str | None = Field(description="the examiner (key id) holding it, if any")
    waiting_for_provider: bool = Field(description="information was asked of the provider")
    codes: list[str] = Field(description="its open pend reasons, most urgent first")
    version: int = Field(description="send it with an action: 409 if the claim changed since")
    href: str


class QueuePageOut(_Model):
    model_config = _example(
        queue="pricing",
        items=[
            {
                "claim_id": 42,
                "payer_claim_number": "26112302629000000030000001",
                "queue": "pricing",
                "priority": 3,
                "charge": "940.00",
                "received_on": "2026-11-02",
                "age_days": 3,
                "due_on": "2026-12-02",
                "days_left": 27,
                "assigned_to": None,
                "waiting_for_provider": False,
                "codes": ["NO-PRICE", "UNLISTED-PROCEDURE"],
                "version": 1,
                "href": "/v1/claims/42/examination",
            }
        ],
        next="/v1/queues/pricing/claims?limit=1&after=3.2026-12-02.42",
    )
    queue: str
    items: list[QueueEntryOut] = Field(
        description="most urgent first: priority, then due day, then claim id"
    )
    next: str | None = Field(description="the next page, or null on the last one")


class SnapshotPendOut(_Model):
    code: str
    line: int = Field(description="the service line, or 0 for the whole claim")
    rule: str = Field(description="the coverage rule that raised it (empty: a stage did)")
    detail: str


class SnapshotLineOut(_Model):
    line: int
    code: str | None = Field(description="procedure code, or the revenue code")
    charge: Money = Field(pattern=MONEY_PATTERN)
    allowed: Money = Field(pattern=MONEY_PATTERN)
    paid: Money = Field(pattern=MONEY_PATTERN)
    outcome: str
    adjustments: list[str] = Field(description="group-CARC amount, e.g. `CO-45 51.80`")
    remarks: list[str] = Field(description="RARCs")


class DecisionSnapshotOut(_Model):
    """A claim's decision, as an examiner sees it (and an action records before and after)."""

    outcome: str
    status: str = Field(description="CLP02 claim status code")
    charge: Money = Field(pattern=MONEY_PATTERN)
    allowed: Money = Field(pattern=MONEY_PATTERN)
    paid: Money = Field(pattern=MONEY_PATTERN)
    patient_responsibility: Money = Field(pattern=MONEY_PATTERN)
    pends: list[SnapshotPendOut]
    claim_adjustments: list[str]
    lines: list[SnapshotLineOut]


class PendItemOut(_Model):
    id: int
    code: str
    text: str = Field(description="what the code means, from the payer's pend reasons")
    line: int = Field(description="the service line, or 0 for the whole claim")
    rule: str | None
    detail: str
    queue: str
    priority: int
    raised_at: datetime
    due_at: datetime
    state: Literal["open", "resolved"]
    asked: str | None = Field(description="for INFO-REQUESTED: what the provider is asked")
    remark: str | None = Field(description="the RARC a denial for no answer carries")
    resolved_at: datetime | None
    resolved_by: str | None


class ActionOut(_Model):
    id: int
    kind: str
    actor: str = Field(description="the examiner: a key id through the API")
    at: datetime
    state: ActionStateName
    items: list[int] = Field(description="the pend items it is about")
    why: str = Field(description="the examiner's reason (never shown to members or providers)")
    request: dict[str, Any] = Field(description="what was asked, as the action's body said it")
    before: DecisionSnapshotOut | None
    after: DecisionSnapshotOut | None
    approved_by: str | None = Field(description="the second examiner, for four eyes")


class MemberClaimOut(_Model):
    claim_id: int
    payer_claim_number: str
    received_on: date
    state: ClaimStateName
    outcome: str | None
    charge: Money | None = Field(pattern=MONEY_PATTERN)
    paid: Money | None = Field(pattern=MONEY_PATTERN)


_SNAPSHOT_EXAMPLE = {
    "outcome": "pended",
    "status": "20",
    "charge": "940.00",
    "allowed": "88.20",
    "paid": "0.00",
    "patient_responsibility": "0.00",
    "pends": [{"code": "NO-PRICE", "line": 2, "rule": "", "detail": "no price for 17999"}],
    "claim_adjustments": [],
    "lines": [
        {
            "line": 2,
            "code": "17999",
            "charge": "800.00",
            "allowed": "0.00",
            "paid": "0.00",
            "outcome": "pended",
            "adjustments": [],
            "remarks": [],
        }
    ],
}


class ExaminationOut(_Model):
    model_config = _example(
        claim_id=42,
        payer_claim_number="26112302629000000030000001",
        state="pended",
        queue="pricing",
        priority=3,
        charge="940.00",
        received_on="2026-11-02",
        due_on="2026-12-02",
        assigned_to="3f2a9c0d81b4",
        assigned_until="2026-11-05T13:30:00Z",
        version=2,
        decision=_SNAPSHOT_EXAMPLE,
        pend_items=[
            {
                "id": 7,
                "code": "NO-PRICE",
                "text": "No price on file for a service",
                "line": 2,
                "rule": None,
                "detail": "no price for 17999",
                "queue": "pricing",
                "priority": 3,
                "raised_at": "2026-11-02T09:30:00Z",
                "due_at": "2026-11-12T09:30:00Z",
                "state": "open",
                "asked": None,
                "remark": None,
                "resolved_at": None,
                "resolved_by": None,
            }
        ],
        actions=[
            {
                "id": 11,
                "kind": "take",
                "actor": "3f2a9c0d81b4",
                "at": "2026-11-05T09:30:00Z",
                "state": "applied",
                "items": [],
                "why": "",
                "request": {"kind": "take", "until": "2026-11-05T13:30:00Z"},
                "before": None,
                "after": None,
                "approved_by": None,
            }
        ],
        member_history=[
            {
                "claim_id": 17,
                "payer_claim_number": "26110102629000000010000004",
                "received_on": "2026-10-01",
                "state": "remitted",
                "outcome": "paid",
                "charge": "140.00",
                "paid": "63.20",
            }
        ],
    )
    claim_id: int
    payer_claim_number: str
    state: ClaimStateName
    queue: str | None = Field(description="null once the claim left its queue (decided)")
    priority: int | None
    charge: Money = Field(pattern=MONEY_PATTERN)
    received_on: date
    due_on: date | None
    assigned_to: str | None
    assigned_until: datetime | None
    version: int = Field(description="send it with an action; 0 once the claim left its queue")
    decision: DecisionSnapshotOut | None
    pend_items: list[PendItemOut]
    actions: list[ActionOut] = Field(description="every action taken on it, oldest first")
    member_history: list[MemberClaimOut] = Field(
        description="the member's other claims, newest first (up to 20)"
    )


# Actions: the body of POST /v1/claims/{claim_id}/actions, one shape per kind.

Why = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2000,
        description="why: kept with the action for the examiners and the audit; never shown "
        "to members or providers",
    ),
]


class _ActionIn(_Model):
    version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_VERSION,
        description="the claim's version as you saw it (the queue and the examination give "
        "it): an action on a claim that changed since is refused with 409",
    )


class TakeIn(_ActionIn):
    model_config = _example(kind="take", version=1, hours=4)
    kind: Literal["take"]
    hours: int = Field(default=4, ge=1, le=24, description="how long you hold the claim")


class GiveBackIn(_ActionIn):
    model_config = _example(kind="give-back", version=2, why="out of office")
    kind: Literal["give-back"]
    why: str = Field(default="", max_length=2000)


class ReassignIn(_ActionIn):
    model_config = _example(kind="reassign", to="9b1e0f2a7c33", why="needs a coder")
    kind: Literal["reassign"]
    to: str = Field(pattern=KEY_ID_PATTERN, description="an active examiner or supervisor key")
    why: Why


class ReleaseIn(_ActionIn):
    model_config = _example(kind="release", version=2, why="checked", codes=["HIGH-DOLLAR"])
    kind: Literal["release"]
    why: Why
    codes: list[Annotated[str, Field(pattern=PEND_CODE_PATTERN)]] = Field(
        default_factory=list,
        max_length=50,
        description="the pend reasons to resolve (none: every open one)",
    )


class DenyIn(_ActionIn):
    model_config = _example(
        kind="deny", version=2, why="cosmetic", line=2, group="CO", carc="96", rarcs=["N130"]
    )
    kind: Literal["deny"]
    why: Why
    line: int = Field(default=0, ge=0, le=999, description="a service line, or 0: the claim")
    carc: str = Field(pattern=CODE_PATTERN, description="claim adjustment reason code")
    group: Literal["CO", "PR", "OA", "PI"] = "CO"
    rarcs: list[Annotated[str, Field(pattern=CODE_PATTERN)]] = Field(
        default_factory=list, max_length=10, description="remark codes (some CARCs need one)"
    )


class PriceIn(_ActionIn):
    model_config = _example(
        kind="price", version=2, why="priced from the operative note", line=2, allowed="700.00"
    )
    kind: Literal["price"]
    why: Why
    line: int = Field(ge=1, le=999)
    allowed: Money | None = Field(
        default=None, pattern=AMOUNT_PATTERN, description="the line's allowed amount"
    )
    accept_charge: bool = Field(default=False, description="allow the line's charge as billed")

    @model_validator(mode="after")
    def _one_price(self) -> PriceIn:
        if (self.allowed is None) == (not self.accept_charge):
            raise ValueError("give allowed, or accept_charge: true (one of them)")
        return self


class OverrideIn(_ActionIn):
    model_config = _example(kind="override", version=2, why="authorization on file", line=3)
    kind: Literal["override"]
    why: Why
    line: int = Field(ge=1, le=999)


class RequestInfoIn(_ActionIn):
    model_config = _example(
        kind="request-info",
        version=2,
        why="need the records",
        asked="Send the operative report for line 2",
        remark="M127",
    )
    kind: Literal["request-info"]
    why: Why
    asked: str = Field(
        min_length=1, max_length=1000, description="what the provider is asked (they see it)"
    )
    remark: str = Field(
        default="N29",
        pattern=CODE_PATTERN,
        description="the RARC of a CO-16 denial when nothing arrives in the plan's days",
    )


class InfoReceivedIn(_ActionIn):
    model_config = _example(kind="info-received", version=3, why="report received")
    kind: Literal["info-received"]
    why: Why


class NoteIn(_ActionIn):
    model_config = _example(kind="note", why="called the office: records on the way")
    kind: Literal["note"]
    why: Why


ActionIn = Annotated[
    TakeIn
    | GiveBackIn
    | ReassignIn
    | ReleaseIn
    | DenyIn
    | PriceIn
    | OverrideIn
    | RequestInfoIn
    | InfoReceivedIn
    | NoteIn,
    Field(discriminator="kind"),
]


class RefusalIn(_Model):
    model_config = _example(why="the records do not support this price")
    why: Why


class ActionResultOut(_Model):
    model_config = _example(
        action_id=12,
        kind="price",
        state="applied",
        claim_state="adjudicated",
        outcome="paid",
        paid="223.20",
        version=0,
        message="claim 42 paid: paid 223.20",
    )
    action_id: int
    kind: str
    state: ActionStateName = Field(
        description="awaiting approval: a second examiner approves it before it takes effect"
    )
    claim_state: Literal["pended", "adjudicated"]
    outcome: str | None = Field(description="the claim's decision now")
    paid: Money | None = Field(pattern=MONEY_PATTERN)
    version: int = Field(description="the claim's version now (0: it left its queue)")
    message: str


class AwaitingOut(_Model):
    action_id: int
    claim_id: int
    kind: str
    actor: str
    at: datetime
    claim_href: str
    approve_href: str


class AwaitingList(_Model):
    model_config = _example(
        items=[
            {
                "action_id": 12,
                "claim_id": 42,
                "kind": "price",
                "actor": "3f2a9c0d81b4",
                "at": "2026-11-05T09:30:00Z",
                "claim_href": "/v1/claims/42/examination",
                "approve_href": "/v1/actions/12/approve",
            }
        ]
    )
    items: list[AwaitingOut] = Field(description="oldest first")


# -- X12 834 enrollment ---------------------------------------------------------------------


class EnrollmentAccepted(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 21,
                    "state": "received",
                    "sponsor": "999888777",
                    "members": 120,
                    "links": [
                        {"rel": "self", "href": "/v1/x12/834/21"},
                        {"rel": "interchange", "href": "/v1/interchanges/21"},
                    ],
                }
            ]
        },
    )
    id: int
    state: InterchangeStateName
    sponsor: str = Field(description="the sponsor the file is applied as (its N1*P5 N104)")
    members: int = Field(description="member maintenances (INS) read from the body")
    links: list[Link]


class EnrollmentMemberOut(_Model):
    position: int = Field(
        description="the INS segment's place in its transaction set (0: not in the file)"
    )
    member_id: str
    outcome: str = Field(
        description="added, changed, terminated, reinstated, unchanged, stale, refused; "
        "differs or matches in a verify file"
    )
    reason: str = Field(description="why a member was refused or is stale; empty otherwise")


class EnrollmentReportOut(_Model):
    file: str
    sponsor: str
    actions: list[str] = Field(description="per transaction set: change, verify or replace")
    interchange_id: int | None
    duplicate_of: int | None
    error: str | None = Field(description="why the file was refused whole")
    counts: dict[str, int] = Field(description="members by outcome, and claims readjusted")
    members: list[EnrollmentMemberOut]
    readjusted: list[dict[str, str]] = Field(
        description="claims sent back to adjudication: the claim (payer claim number), the "
        "replacement it was adjudicated again as (`as`), why, and the first day of service"
    )
    acknowledgments: list[str]


class EnrollmentOut(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": 21,
                    "state": "ingested",
                    "reason": None,
                    "sponsor": "999888777",
                    "received_at": "2026-11-02T09:30:00",
                    "applied_at": "2026-11-02T09:30:01",
                    "report": {
                        "file": "api-submission",
                        "sponsor": "999888777",
                        "actions": ["change"],
                        "interchange_id": 21,
                        "duplicate_of": None,
                        "error": None,
                        "counts": {"added": 1, "terminated": 1, "readjusted": 2},
                        "members": [
                            {
                                "position": 5,
                                "member_id": "202443307",
                                "outcome": "added",
                                "reason": "",
                            }
                        ],
                        "readjusted": [
                            {
                                "claim": "26110200000000010010000001",
                                "as": "26110200000000210010000001",
                                "why": "the member's coverage does not include 2026-10-05 now",
                                "service": "2026-10-05",
                                "claim_id": "311",
                            }
                        ],
                        "acknowledgments": ["999"],
                    },
                    "acknowledgments": [
                        {
                            "id": 77,
                            "kind": "999",
                            "control_number": "000000031",
                            "created_at": "2026-11-02T09:30:01",
                            "href": "/v1/interchanges/21/acknowledgments/77",
                        }
                    ],
                }
            ]
        },
    )
    id: int
    state: InterchangeStateName = Field(
        description="received (waiting to be applied), ingested (applied), rejected (refused)"
    )
    reason: str | None = Field(description="why the file was refused whole")
    sponsor: str | None = Field(description="the sponsor it was applied as")
    received_at: datetime
    applied_at: datetime | None
    report: EnrollmentReportOut | None = Field(description="what the file did (once applied)")
    acknowledgments: list[AcknowledgmentOut]


# -- prior authorizations ---------------------------------------------------------------------

QUANTITY_PATTERN = r"^\d+\.\d{3}$"


class AuthorizationServiceOut(_Model):
    line: int = Field(description="the service's line in the request, from 1")
    codes: list[str] = Field(description="the procedure (CPT/HCPCS) or revenue code asked for")
    code_kind: Literal["procedure", "revenue"]
    modifiers: list[str]
    unit: Literal["units", "visits", "days"]
    requested: str = Field(pattern=QUANTITY_PATTERN, description="the quantity asked for")
    approved: str = Field(pattern=QUANTITY_PATTERN, description="the quantity approved")
    used: str = Field(pattern=QUANTITY_PATTERN, description="what claims have drawn on it")
    left: str = Field(pattern=QUANTITY_PATTERN, description="approved less used")
    action: str = Field(
        description="the 278's HCR01 for this service: A1, A2, A3, A4, A6, C, CT or NA"
    )
    reason_code: str | None = Field(description="the code of the rule that denied it")
    from_date: date
    to_date: date


_AUTHORIZATION_EXAMPLE: dict[str, Any] = {
    "number": "PA20260000004",
    "trace": "T-4",
    "source": "fhir",
    "state": "approved",
    "action": "A1",
    "urgency": "standard",
    "member_id": "PG00000100",
    "requesting_npi": "2781759230",
    "servicing_npi": "",
    "plan_id": "PPO-GOLD",
    "received_at": "2026-11-02T10:30:00",
    "due_at": "2026-11-09T10:30:00",
    "decided_at": "2026-11-03T08:00:00",
    "reason": "",
    "queue": None,
    "appeal_of": None,
    "extended": False,
    "effective_from": "2026-11-10",
    "effective_through": "2026-11-20",
    "services": [
        {
            "line": 1,
            "codes": ["43644"],
            "code_kind": "procedure",
            "modifiers": [],
            "unit": "units",
            "requested": "1.000",
            "approved": "1.000",
            "used": "0.000",
            "left": "1.000",
            "action": "A1",
            "reason_code": None,
            "from_date": "2026-11-10",
            "to_date": "2026-11-20",
        }
    ],
    "links": [{"rel": "self", "href": "/v1/authorizations/PA20260000004"}],
}


class AuthorizationOut(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [_AUTHORIZATION_EXAMPLE]},
    )
    number: str = Field(description="the certification number (PA, the year, seven digits)")
    trace: str = Field(description="the requester's own reference (the TRN, the Claim's id)")
    source: Literal["x12", "fhir", "csv", "reviewer"]
    state: Literal[
        "requested", "pended", "approved", "denied", "not required", "cancelled", "expired"
    ]
    action: str = Field(
        description="the 278's HCR01 for the request: A1 certified, A2 in part, A3 not "
        "certified, A4 pended, A6 modified, C cancelled, CT contact the payer, NA not required"
    )
    urgency: Literal["standard", "expedited"]
    member_id: str
    requesting_npi: str
    servicing_npi: str
    plan_id: str
    received_at: datetime
    due_at: datetime = Field(description="when a decision is due (CMS-0057-F's clocks)")
    decided_at: datetime | None = Field(description="null while it waits for a reviewer")
    reason: str = Field(description="why it was denied, modified or pended, in words")
    queue: str | None = Field(description="the queue it waits in while pended (clinical)")
    appeal_of: str | None = Field(description="the denied authorization this one appeals")
    extended: bool = Field(description="whether its clock was extended")
    effective_from: date
    effective_through: date
    services: list[AuthorizationServiceOut]
    links: list[Link]


class AuthorizationPage(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [_AUTHORIZATION_EXAMPLE],
                    "next": "/v1/authorizations?answered_since=2026-11-02T00%3A00%3A00"
                    "&limit=1&after=2026-11-03T08%3A00%3A00~PA20260000004",
                }
            ]
        },
    )
    items: list[AuthorizationOut]
    next: str | None = Field(description="the next page, or null on the last one")
