"""The bodies of the HTTP API, as pydantic models: they are the OpenAPI document's schemas.

Money is a string with exactly two decimal places (``"1234.50"``), never a JSON number, so no
client parses it into a float by accident. Dates are ISO 8601.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
