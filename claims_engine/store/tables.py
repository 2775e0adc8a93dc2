"""The schema: one SQLModel table per thing the pipeline keeps.

Money columns are ``NUMERIC(12,2)`` on PostgreSQL and whole cents (``INTEGER``) on SQLite, which
has no exact decimal type; either way Python sees an exact ``Decimal``, never a float. States and
codes are short strings guarded by CHECK constraints rather than native enum types, so a new
state is a one-line migration.

Health data is never kept in the clear (see :mod:`claims_engine.store.vault`): documents are in
sealed ``bytes`` columns (``SEALED_COLUMNS``), and member ids, families, accumulator holders and
CLM01 are kept as keyed hashes (``LOOKUP_COLUMNS``), found by equality.

Uniqueness carries the exactly-once rules: an interchange is stored once (by content hash and by
sender + ISA13), a payer claim number names one claim, an accumulator key has one row, and a
claim can be in one remittance only.

Changing a table here means adding a migration step in :mod:`claims_engine.store.db`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, Inexact, localcontext
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel


class InterchangeState(StrEnum):
    RECEIVED = "received"
    INGESTED = "ingested"
    REJECTED = "rejected"


class ClaimState(StrEnum):
    RECEIVED = "received"
    REJECTED = "rejected"
    ACCEPTED = "accepted"
    PENDED = "pended"
    ADJUDICATED = "adjudicated"
    REMITTED = "remitted"


class PendState(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ActionState(StrEnum):
    APPLIED = "applied"  # took effect when made
    AWAITING_APPROVAL = "awaiting approval"  # four eyes: waits for a second examiner
    APPROVED = "approved"  # took effect when a second examiner approved it
    REFUSED = "refused"  # the second examiner refused it, or the claim moved on without it


class AckKind(StrEnum):
    TA1 = "ta1"
    IMPLEMENTATION = "999"
    CLAIM = "277ca"


ADJUSTMENT_GROUPS = ("CO", "PR", "OA", "PI")


class ExactDecimal(TypeDecorator[Decimal]):
    """A ``Decimal`` with a fixed scale: ``NUMERIC(p, s)`` where the database has it, else an
    integer count of the smallest unit (SQLite would store ``NUMERIC`` as a binary float).

    Values with more places than the scale are refused, not rounded: rounding belongs to
    :mod:`claims_engine.domain.money`, before anything reaches the store.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"expected a Decimal, got {type(value).__name__}: {value!r}")
        with localcontext() as ctx:
            ctx.traps[Inexact] = True
            ctx.prec = self.precision + 6
            try:
                exact = value.quantize(self._quantum)
            except Inexact:
                raise ValueError(f"{value} has more than {self.scale} decimal places") from None
        if dialect.name == "sqlite":
            return int(exact.scaleb(self.scale))
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


def _money(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(ExactDecimal(12, 2), nullable=nullable))


def _id() -> Any:
    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
    return Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    )


def _ref(target: str, *, nullable: bool = False, index: bool = True) -> Any:
    return Field(
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"),
            ForeignKey(target),
            nullable=nullable,
            index=index,
        )
    )


def _state(length: int = 16) -> Any:
    return Field(sa_column=Column(String(length), nullable=False))


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


# Sealed columns (see :mod:`claims_engine.store.vault`): the name each value is bound to, and
# whether it holds bytes, text or a JSON document.
RAW = "interchanges.raw"
ACK = "acknowledgments.content"
REFERENCE = "reference_sets.files"
CLAIM = "claims.claim"
IDENTITY = "claims.identity"
DECISION = "adjudications.decision"
REMITTANCE = "remittances.content"
EXAMINER_ACTION = "examiner_actions.content"
ENROLLED = "enrollment_members.content"
ENROLLMENT_REPORT = "enrollment_files.report"
ACCOUNT_EMAIL = "accounts.email"
ACCOUNT_TOTP = "accounts.totp_secret"
AUTHORIZATION = "prior_authorizations.content"
SEALED_COLUMNS: dict[str, str] = {
    RAW: "bytes",
    ACK: "text",
    REFERENCE: "json",
    CLAIM: "json",
    IDENTITY: "json",
    DECISION: "json",
    REMITTANCE: "text",
    EXAMINER_ACTION: "json",
    ENROLLED: "json",
    ENROLLMENT_REPORT: "json",
    ACCOUNT_EMAIL: "text",
    ACCOUNT_TOTP: "bytes",  # empty until the account's authenticator app is enrolled
    AUTHORIZATION: "json",
}
# Lookup columns: keyed hashes of member ids and patient control numbers (CLM01); a JSON list of
# them in ``api_keys.dependents``.
LOOKUP_COLUMNS: tuple[str, ...] = (
    "claims.submitter_claim_id",
    "claims.member_id",
    "claims.family",
    "services.family",
    "services.submitter_claim_id",
    "services.subscriber_id",
    "services.member_id",
    "accumulators.family",
    "accumulators.holder",
    "api_keys.member_id",
    "api_keys.dependents",
    "enrollment_members.member_id",
    "enrollment_members.subscriber_id",
    "accounts.email_lookup",  # of "email:" and the address in lower case
    "prior_authorizations.member_id",
    "prior_authorizations.family",
)


def _sealed() -> Any:
    return Field(sa_column=Column(LargeBinary(), nullable=False))


# JSON, not JSONB: the documents are written and read whole, never queried inside, and JSONB's
# parse on every insert and render on every read cost PostgreSQL about a third of its time.
_JSON = JSON()


class SchemaVersion(SQLModel, table=True):
    """One row per migration step applied, in order."""

    __tablename__ = "schema_version"

    version: int = Field(
        sa_column=Column(Integer(), primary_key=True, autoincrement=False, nullable=False)
    )
    name: str = Field(max_length=200)
    applied_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class InterchangeRow(SQLModel, table=True):
    """An interchange as received (837 claims, or 834 enrollment: ``transaction_set``): the
    raw bytes, kept sealed, and what became of it."""

    __tablename__ = "interchanges"
    __table_args__ = (
        UniqueConstraint("sender_id", "control_number", name="uq_interchanges_sender_isa13"),
        _in("state", tuple(InterchangeState), "ck_interchanges_state"),
    )

    id: int | None = _id()
    sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    sender_id: str = Field(max_length=15)
    control_number: str = Field(max_length=9)  # ISA13
    file_name: str = Field(default="", max_length=255)
    raw: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    received_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    state: str = _state()
    reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    # the API key that submitted it (None from the command line): who may read its acks
    submitted_by: str | None = Field(default=None, max_length=32, index=True)
    transaction_set: str = Field(  # ST01: 837, or 834 enrollment
        default="837", sa_column=Column(String(3), nullable=False, server_default="837")
    )


class StoreSettingRow(SQLModel, table=True):
    """Facts about the store itself, by name. ``lookup_key`` is the fingerprint of the lookup
    key its lookup columns were made with (``off`` for a store kept without encryption): a
    process whose keys would make other lookups is refused rather than let find nothing."""

    __tablename__ = "store_settings"

    name: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text(), nullable=False))


class InterchangeControlRow(SQLModel, table=True):
    """Every interchange (ISA) read from a submission, by sender and ISA13: a file may hold
    several, and any of them sent again is a duplicate (TA1 025)."""

    __tablename__ = "interchange_controls"
    __table_args__ = (
        UniqueConstraint("sender_id", "control_number", name="uq_interchange_controls"),
    )

    id: int | None = _id()
    sender_id: str = Field(max_length=15)
    control_number: str = Field(max_length=9)
    interchange_id: int = _ref("interchanges.id")


class AcknowledgmentRow(SQLModel, table=True):
    """A TA1, 999 or 277CA written for an interchange."""

    __tablename__ = "acknowledgments"
    __table_args__ = (_in("kind", tuple(AckKind), "ck_acknowledgments_kind"),)

    id: int | None = _id()
    interchange_id: int = _ref("interchanges.id")
    kind: str = _state(8)
    control_number: str = Field(max_length=9)
    file_name: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    content: bytes = _sealed()


class ReferenceSetRow(SQLModel, table=True):
    """A reference data directory as loaded (members, providers, plans, fees, authorizations,
    payer): the files' text, kept whole so that every worker adjudicates against the same data.
    The newest row is in force."""

    __tablename__ = "reference_sets"

    id: int | None = _id()
    sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    loaded_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    files: bytes = _sealed()


class CounterRow(SQLModel, table=True):
    """A named sequence (outbound interchange control numbers, 835 trace numbers), advanced
    under a row lock in the transaction that uses the numbers."""

    __tablename__ = "counters"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    value: int = Field(sa_column=Column(BigInteger(), nullable=False))


class ClaimRow(SQLModel, table=True):
    """A claim and where it stands; ``claim`` is the parsed claim, enough to adjudicate again.

    ``ordinal`` is the claim's place in its interchange: claims of one family are adjudicated
    in ``(interchange_id, ordinal)`` order whatever worker picks them up. ``family`` is the key
    their accumulators and history are locked by. Rejected claims are kept too (without a payer
    claim number) so that their submitters can ask why.
    """

    __tablename__ = "claims"
    __table_args__ = (
        _in("state", tuple(ClaimState), "ck_claims_state"),
        UniqueConstraint("interchange_id", "ordinal", name="uq_claims_interchange_ordinal"),
        Index("ix_claims_submitter", "submitter_claim_id", "billing_npi"),
        Index("ix_claims_state", "state", "updated_at"),
        Index("ix_claims_family", "family", "state"),
        Index("ix_claims_billing_npi", "billing_npi", "id"),
        Index("ix_claims_member", "member_id", "id"),
    )

    id: int | None = _id()
    payer_claim_number: str | None = Field(
        default=None, sa_column=Column(String(50), nullable=True, unique=True)
    )
    interchange_id: int = _ref("interchanges.id", index=False)
    ordinal: int
    submitter_claim_id: str = Field(max_length=38)  # lookup of CLM01, the patient control number
    billing_npi: str = Field(max_length=10)
    member_id: str = Field(max_length=80)  # lookup of the patient, as the payer knows them
    identity: bytes = _sealed()  # {"member_id": ..., "claim_id": CLM01}, the values themselves
    family: str = Field(max_length=90)
    claim_type: str = Field(max_length=1)
    frequency: str = Field(max_length=1)
    original_claim_number: str | None = Field(default=None, max_length=50)  # REF*F8
    state: str = _state()
    total_charge: Decimal = _money()
    received_on: date = Field(sa_column=Column(Date(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    claim: bytes = _sealed()


class ClaimLineRow(SQLModel, table=True):
    """A service line of a claim as submitted."""

    __tablename__ = "claim_lines"
    __table_args__ = (UniqueConstraint("claim_id", "line_number", name="uq_claim_lines_number"),)

    id: int | None = _id()
    claim_id: int = _ref("claims.id", index=False)
    line_number: int
    procedure: str = Field(max_length=48)
    modifiers: str = Field(max_length=16)
    revenue_code: str = Field(max_length=4)
    charge: Decimal = _money()
    units: Decimal = Field(sa_column=Column(ExactDecimal(15, 3), nullable=False))
    service_from: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    service_to: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))


class ClaimEventRow(SQLModel, table=True):
    """One state change of a claim: who, when, from, to, why."""

    __tablename__ = "claim_events"
    __table_args__ = (
        _in("to_state", tuple(ClaimState), "ck_claim_events_to_state"),
        CheckConstraint(
            "from_state IS NULL OR from_state IN (" + ", ".join(f"'{v}'" for v in ClaimState) + ")",
            name="ck_claim_events_from_state",
        ),
        Index("ix_claim_events_at", "at", "id"),  # the audit export reads by time
    )

    id: int | None = _id()
    claim_id: int = _ref("claims.id")
    at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    actor: str = Field(max_length=100)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = _state()
    reason: str = Field(sa_column=Column(Text(), nullable=False))


class AdjudicationRow(SQLModel, table=True):
    """A decision on a claim, with the rule pack version that made it.

    A claim has at most one ``decision`` and, when it replaces or voids an earlier claim, one
    ``reversal`` of that claim's decision (``reverses`` names it): the unique key on
    ``(claim_id, kind)`` is what keeps a claim from being adjudicated twice. ``reversed_by``
    marks a decision a later claim reversed. ``decision`` is the whole decision, from which
    the 835 is written.
    """

    __tablename__ = "adjudications"
    __table_args__ = (
        UniqueConstraint("claim_id", "kind", name="uq_adjudications_claim_kind"),
        _in("kind", ("decision", "reversal"), "ck_adjudications_kind"),
        Index("ix_adjudications_payer_claim_number", "payer_claim_number"),
        Index("ix_adjudications_payee", "payee_npi"),
    )

    id: int | None = _id()
    claim_id: int = _ref("claims.id", index=False)
    kind: str = Field(max_length=8)
    payer_claim_number: str = Field(max_length=50)
    payee_npi: str = Field(max_length=10)  # who the 835 pays: a reversal, the original's payee
    reverses: str | None = Field(default=None, max_length=50)
    reversed_by: str | None = Field(default=None, max_length=50)
    rule_pack_version: str = Field(max_length=64)
    status: str = Field(max_length=16)
    outcome: str = Field(max_length=16)
    charge: Decimal = _money()
    allowed: Decimal = _money()
    paid: Decimal = _money()
    patient_responsibility: Decimal = _money()
    pend_reason: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    decided_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    decision: bytes = _sealed()


class AdjustmentRow(SQLModel, table=True):
    """One adjustment of an adjudication; ``line_number`` is None for the claim level."""

    __tablename__ = "adjustments"
    __table_args__ = (_in("group_code", ADJUSTMENT_GROUPS, "ck_adjustments_group"),)

    id: int | None = _id()
    adjudication_id: int = _ref("adjudications.id")
    line_number: int | None = Field(default=None)
    group_code: str = Field(max_length=2)
    reason_code: str = Field(max_length=5)
    amount: Decimal = _money()
    quantity: Decimal | None = Field(
        default=None, sa_column=Column(ExactDecimal(15, 3), nullable=True)
    )


class ServiceRow(SQLModel, table=True):
    """A line of a standing (paid or partly paid, not reversed) decision: what later claims of
    the family see for duplicates and history rules. Deleted when its claim is reversed."""

    __tablename__ = "services"
    __table_args__ = (Index("ix_services_family", "family", "service_date"),)

    id: int | None = _id()
    family: str = Field(max_length=90)
    subscriber_id: str = Field(max_length=80)
    payer_claim_number: str = Field(max_length=50, index=True)
    submitter_claim_id: str = Field(max_length=38)
    billing_npi: str = Field(max_length=10)
    member_id: str = Field(max_length=80)
    procedure: str = Field(max_length=48)
    service_date: date = Field(sa_column=Column(Date(), nullable=False))
    charge: Decimal = _money()
    units: Decimal = Field(sa_column=Column(ExactDecimal(15, 3), nullable=False))


class AccumulatorRow(SQLModel, table=True):
    """Running total of one benefit bucket (deductible, out-of-pocket ...) for a member or a
    family, per plan year (the day it starts) and network tier; ``family`` is the lock key of
    the claims that move it."""

    __tablename__ = "accumulators"
    __table_args__ = (
        UniqueConstraint(
            "holder", "plan_id", "plan_year", "bucket", "network", name="uq_accumulators_key"
        ),
        Index("ix_accumulators_family", "family"),
    )

    id: int | None = _id()
    family: str = Field(max_length=90)
    holder: str = Field(max_length=90)
    plan_id: str = Field(max_length=50)
    plan_year: date = Field(sa_column=Column(Date(), nullable=False))
    bucket: str = Field(max_length=32)
    network: str = Field(max_length=16)
    amount: Decimal = _money()


class RemittanceRow(SQLModel, table=True):
    """An 835 written for one payee, and what the payee owes after it (``carry_forward``)."""

    __tablename__ = "remittances"

    id: int | None = _id()
    payee_npi: str = Field(max_length=10, index=True)
    trace_number: str = Field(sa_column=Column(String(50), nullable=False, unique=True))
    interchange_control: int
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    claims: int
    total_paid: Decimal = _money()
    file_name: str = Field(max_length=200)
    content: bytes = _sealed()
    # what the payee owes after this 835 (its PLB FB took more than its claims paid): the
    # payee's next 835 takes it back
    carry_forward: Decimal = Field(
        default=Decimal("0.00"),
        sa_column=Column(ExactDecimal(12, 2), nullable=False, server_default=text("0")),
    )


class RemittanceClaimRow(SQLModel, table=True):
    """A decision paid in a remittance. ``adjudication_id`` is unique: no decision is in two
    835s (a claim's own decision once, and a reversal of it once, with its replacement)."""

    __tablename__ = "remittance_claims"

    id: int | None = _id()
    remittance_id: int = _ref("remittances.id")
    adjudication_id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"),
            ForeignKey("adjudications.id"),
            nullable=False,
            unique=True,
        )
    )


class ApiKeyRow(SQLModel, table=True):
    """A key of the HTTP API. Only a hash of the secret is kept: the token is shown once, when
    the key is made. ``npis`` are the billing NPIs a provider key holds; ``member_id`` is the
    member a member key speaks for, and ``dependents`` the other members it may see beyond the
    minors of its own policy; ``sponsor_id`` the sponsor (see ``sponsors.yaml`` of the
    reference data) whose enrollment a sponsor key sends. The sender ids a provider key sends
    under are :class:`ApiKeySenderRow` rows."""

    __tablename__ = "api_keys"
    __table_args__ = (
        _in(
            "role",
            ("provider", "member", "insurer", "examiner", "supervisor", "sponsor"),
            "ck_api_keys_role",
        ),
    )

    id: int | None = _id()
    key_id: str = Field(sa_column=Column(String(32), nullable=False, unique=True))
    secret_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    role: str = Field(max_length=16)
    label: str = Field(default="", max_length=200)
    npis: list[str] = Field(sa_column=Column(_JSON, nullable=False))
    member_id: str | None = Field(default=None, max_length=80)
    dependents: list[str] = Field(sa_column=Column(_JSON, nullable=False))
    sponsor_id: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class ApiKeySenderRow(SQLModel, table=True):
    """A sender id (ISA06, GS02) registered to a provider key: the key may send 837s under it,
    and no key of another trading partner may hold it while this key is active."""

    __tablename__ = "api_key_senders"
    __table_args__ = (UniqueConstraint("key_id", "sender_id", name="uq_api_key_senders"),)

    id: int | None = _id()
    key_id: str = Field(sa_column=Column(String(32), ForeignKey("api_keys.key_id"), nullable=False))
    sender_id: str = Field(sa_column=Column(String(15), nullable=False, index=True))


class PhiReadRow(SQLModel, table=True):
    """One read of protected health information through an adapter: who (the key and its
    role), which record, when and by which route."""

    __tablename__ = "phi_reads"
    __table_args__ = (Index("ix_phi_reads_record", "record_type", "record_id"),)

    id: int | None = _id()
    at: datetime = Field(sa_column=Column(DateTime(), nullable=False, index=True))
    key_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    route: str = Field(max_length=200)
    record_type: str = Field(max_length=32)
    record_id: str = Field(max_length=64)


class AuditAnchorRow(SQLModel, table=True):
    """An audit export as made: its range (``since`` inclusive, ``until`` exclusive), how many
    records it holds and the hash of the last (the head of its chain), for ``audit verify`` to
    hold the file and the store to (see :mod:`claims_engine.services.audit`)."""

    __tablename__ = "audit_anchors"

    id: int | None = _id()
    since: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    until: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    records: int = Field(sa_column=Column(BigInteger(), nullable=False))
    head: str = Field(sa_column=Column(String(64), nullable=False))
    format: str = Field(sa_column=Column(String(8), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class PendItemRow(SQLModel, table=True):
    """One reason a claim pends (:class:`~claims_engine.domain.pend_reasons.PendItem`), routed
    when it was raised: the queue, priority and days its code had then. ``line`` 0 is the whole
    claim. A request for information keeps what was asked (``asked``, shown to the provider)
    and the remark code a denial for no answer will carry. Kept when resolved, with who and by
    which action."""

    __tablename__ = "pend_items"
    __table_args__ = (
        _in("state", tuple(PendState), "ck_pend_items_state"),
        Index("ix_pend_items_claim", "claim_id", "state"),
        Index("ix_pend_items_open", "state", "code", "due_at"),
    )

    id: int | None = _id()
    claim_id: int = _ref("claims.id", index=False)
    code: str = Field(max_length=32)
    line: int = Field(default=0)
    rule: str = Field(default="", max_length=80)
    detail: str = Field(default="", sa_column=Column(Text(), nullable=False))
    queue: str = Field(max_length=32)
    priority: int
    raised_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    state: str = _state()
    asked: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    remark: str | None = Field(default=None, max_length=8)
    resolved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    resolved_by: str | None = Field(default=None, max_length=100)
    resolved_action: int | None = Field(default=None)


class PendedClaimRow(SQLModel, table=True):
    """A claim waiting for an examiner (or for its provider), as its queue lists it: the queue
    and priority of its most urgent open reason, its charge, when it was received, when it
    pended, and the day it is due (receipt plus the plan's prompt-payment days, plus the days
    a request for information stopped the clock where the plan says so). ``assigned_to`` holds
    it for one examiner until ``assigned_until``. ``version`` counts the changes to the claim's
    examination: an action made on an older version is refused (HTTP 409). The row goes when
    the claim is decided."""

    __tablename__ = "pended_claims"
    __table_args__ = (
        Index("ix_pended_claims_queue", "queue", "priority", "due_on", "claim_id"),
        Index("ix_pended_claims_due", "due_on"),
    )

    claim_id: int = Field(
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"),
            ForeignKey("claims.id"),
            primary_key=True,
            autoincrement=False,
        )
    )
    queue: str = Field(max_length=32)
    priority: int
    plan_id: str = Field(default="", max_length=50)
    charge: Decimal = _money()
    received_on: date = Field(sa_column=Column(Date(), nullable=False))
    pended_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    due_on: date = Field(sa_column=Column(Date(), nullable=False))
    waiting_since: date | None = Field(default=None, sa_column=Column(Date(), nullable=True))
    assigned_to: str | None = Field(default=None, max_length=100)
    assigned_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    version: int = Field(default=1)


class ExaminerActionRow(SQLModel, table=True):
    """One examiner's action on a claim: who, when, which kind, on which pend items, and in
    ``content`` (sealed: notes and reasons may name the patient) why, what it asked for and
    the claim before and after. An action that needs a second examiner waits ``awaiting
    approval`` until one approves it (``approved_by``) or refuses it."""

    __tablename__ = "examiner_actions"
    __table_args__ = (
        _in("state", tuple(ActionState), "ck_examiner_actions_state"),
        Index("ix_examiner_actions_claim", "claim_id", "id"),
        Index("ix_examiner_actions_at", "at", "id"),
        Index("ix_examiner_actions_state", "state", "claim_id"),
    )

    id: int | None = _id()
    claim_id: int = _ref("claims.id", index=False)
    kind: str = Field(max_length=16)
    actor: str = Field(max_length=100)
    at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    items: list[int] = Field(sa_column=Column(_JSON, nullable=False))
    state: str = Field(max_length=20)
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    content: bytes = _sealed()


class EnrolledMemberRow(SQLModel, table=True):
    """One version of a member as enrollment knows them (sealed ``content``: name, birth
    date, address, relationship, group and coverage spans; see
    :mod:`claims_engine.enrollment.records`). Versions are never changed but to be superseded:
    the version in force has ``superseded_at`` empty, and the one in force at a past moment
    is the one recorded before it and superseded after it. ``as_of`` is when the source says
    the change was made (an 834's BGN03 and BGN04): a file older than it is not applied over
    it. ``source`` names the file or the import the version came from."""

    __tablename__ = "enrollment_members"
    __table_args__ = (
        Index("ix_enrollment_members_member", "member_id", "superseded_at"),
        Index("ix_enrollment_members_subscriber", "subscriber_id", "superseded_at"),
        Index("ix_enrollment_members_sponsor", "sponsor_id", "superseded_at"),
    )

    id: int | None = _id()
    member_id: str = Field(max_length=80)  # lookup
    subscriber_id: str = Field(max_length=80)  # lookup
    sponsor_id: str = Field(default="", max_length=80)
    recorded_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    superseded_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    as_of: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    source: str = Field(max_length=120)
    content: bytes = _sealed()


class EnrollmentFileRow(SQLModel, table=True):
    """An 834 as applied (or verified): its interchange, the sponsor it was applied as, what
    it asked (BGN08), the counts of what it did, and the whole report (sealed: it names
    members)."""

    __tablename__ = "enrollment_files"
    __table_args__ = (Index("ix_enrollment_files_sponsor", "sponsor_id", "id"),)

    id: int | None = _id()
    interchange_id: int = _ref("interchanges.id")
    sponsor_id: str = Field(max_length=80)
    action: str = Field(max_length=2)
    applied_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    counts: dict[str, int] = Field(sa_column=Column(_JSON, nullable=False))
    report: bytes = _sealed()


class SessionStage(StrEnum):
    """How far a web session got (see :mod:`claims_engine.services.accounts`)."""

    ENROLL = "enroll"
    SECOND = "second"
    FULL = "full"


class AccountRow(SQLModel, table=True):
    """A person's account of the web portal. It speaks through its own ``api_keys`` row
    (``key_id``, whose secret nobody knows), so scopes, audit and examiner actions are the
    API's. The email is sealed (shown) and kept as a lookup (signed in with, unique); the
    password as its argon2id hash; the authenticator app's secret sealed, with the time step
    its last code was used at (a code is used once). ``failures`` counts failed sign-ins in a
    row; ``locked_until`` ends a lockout."""

    __tablename__ = "accounts"

    id: int | None = _id()
    user_id: str = Field(sa_column=Column(String(24), nullable=False, unique=True))
    email_lookup: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    email: bytes = _sealed()
    role: str = Field(max_length=16)
    key_id: str = Field(
        sa_column=Column(String(32), ForeignKey("api_keys.key_id"), nullable=False, unique=True)
    )
    password_hash: str | None = Field(default=None, sa_column=Column(Text(), nullable=True))
    totp_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary(), nullable=True))
    totp_confirmed_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    totp_last_step: int | None = Field(default=None, sa_column=Column(BigInteger(), nullable=True))
    failures: int = Field(default=0, sa_column=Column(Integer(), nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    last_sign_in_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    disabled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class AccountInvitationRow(SQLModel, table=True):
    """A link that lets a person set an account's password: only the SHA-256 of its token is
    kept. Used once; a newer one (a reset) voids it."""

    __tablename__ = "account_invitations"

    id: int | None = _id()
    user_id: str = Field(
        sa_column=Column(String(24), ForeignKey("accounts.user_id"), nullable=False, index=True)
    )
    token_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    voided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class RecoveryCodeRow(SQLModel, table=True):
    """A single-use recovery code of an account (its SHA-256), for a sign-in without the
    authenticator app."""

    __tablename__ = "account_recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_sha256", name="uq_recovery_codes"),)

    id: int | None = _id()
    user_id: str = Field(
        sa_column=Column(String(24), ForeignKey("accounts.user_id"), nullable=False)
    )
    code_sha256: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class WebSessionRow(SQLModel, table=True):
    """A session of the web portal: the SHA-256 of its cookie's token, the stage it reached,
    its CSRF token, and when it ended and why (a token of an ended session never works
    again). ``created_at`` is when its sign-in began (kept across the new tokens a session
    gets as its stage changes: the absolute timeout counts from it)."""

    __tablename__ = "web_sessions"
    __table_args__ = (
        _in("stage", tuple(SessionStage), "ck_web_sessions_stage"),
        Index("ix_web_sessions_user", "user_id", "ended_at"),
    )

    id: int | None = _id()
    token_sha256: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: str = Field(
        sa_column=Column(String(24), ForeignKey("accounts.user_id"), nullable=False)
    )
    stage: str = Field(max_length=8)
    csrf: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    end_reason: str | None = Field(default=None, max_length=40)


class AccountEventRow(SQLModel, table=True):
    """What happened to an account, for the audit: sign-ins and their failures, lockouts,
    enrolments, resets. ``user_id`` is empty for a sign-in with an unknown email. Never a
    password, code, token or email."""

    __tablename__ = "account_events"
    __table_args__ = (Index("ix_account_events_user", "user_id", "id"),)

    id: int | None = _id()
    at: datetime = Field(sa_column=Column(DateTime(), nullable=False, index=True))
    user_id: str | None = Field(default=None, max_length=24)
    event: str = Field(max_length=40)
    detail: str = Field(default="", max_length=200)


class NcciTableRow(SQLModel, table=True):
    """A CMS NCCI table of one quarter (see :mod:`claims_engine.services.ncci_store`): the PTP edits
    or the MUEs of one setting, as the compact bytes of :func:`claims_engine.domain.ncci.
    table_to_bytes`. Public CMS data, not health data: not sealed. ``digest`` is the SHA-256 of
    its content, so that loading the same edits again changes nothing."""

    __tablename__ = "ncci_tables"
    __table_args__ = (
        UniqueConstraint("kind", "setting", "quarter", name="uq_ncci_tables"),
        _in("kind", ("ptp", "mue"), "ck_ncci_tables_kind"),
        _in("setting", ("practitioner", "hospital", "dme"), "ck_ncci_tables_setting"),
    )

    id: int | None = _id()
    quarter: str = Field(max_length=6)
    kind: str = Field(max_length=3)
    setting: str = Field(max_length=12)
    effective_from: date = Field(sa_column=Column(Date(), nullable=False))
    digest: str = Field(sa_column=Column(String(64), nullable=False))
    edits: int = Field(sa_column=Column(Integer(), nullable=False))
    sources: str = Field(sa_column=Column(Text(), nullable=False))
    loaded_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    payload: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))


AUTHORIZATION_STATES = (
    "requested",
    "pended",
    "approved",
    "denied",
    "not required",
    "cancelled",
    "expired",
)
AUTHORIZATION_SOURCES = ("x12", "fhir", "csv", "reviewer")


# The certification numbers of prior authorizations on PostgreSQL (migration step 11): a
# sequence, which no two requests wait on; SQLite gives them from the counters row.
PRIOR_AUTHORIZATION_NUMBERS = Sequence(
    "prior_authorization_numbers",
    data_type=BigInteger(),
    minvalue=1,
    maxvalue=999_999_999,
    cycle=True,
    metadata=SQLModel.metadata,
)


class PriorAuthorizationRow(SQLModel, table=True):
    """A prior authorization request and where it stands (see
    :mod:`claims_engine.services.authorizations`): ``number`` is the certification number the
    payer gives it (the 278's REF*NT / HCR02), ``trace`` the requester's own reference, unique
    with the source and the requesting NPI so that a request sent twice is kept once.
    ``member_id`` and ``family`` are lookups (the family locks it with the claims that draw
    on it); ``content`` (sealed) holds the member and subscriber ids, the diagnoses and the
    reason of the decision in words. ``due_at`` is when the decision is due (the clinical
    queue's order), ``alerted_at`` when it was alerted as near it."""

    __tablename__ = "prior_authorizations"
    __table_args__ = (
        UniqueConstraint("source", "requesting_npi", "trace", name="uq_prior_authorizations_trace"),
        _in("state", AUTHORIZATION_STATES, "ck_prior_authorizations_state"),
        _in("source", AUTHORIZATION_SOURCES, "ck_prior_authorizations_source"),
        _in("urgency", ("standard", "expedited"), "ck_prior_authorizations_urgency"),
        Index("ix_prior_authorizations_open", "state", "due_at"),
        Index("ix_prior_authorizations_family", "family", "state"),
        Index("ix_prior_authorizations_requesting", "requesting_npi", "id"),
        Index("ix_prior_authorizations_servicing", "servicing_npi", "id"),
        Index("ix_prior_authorizations_decided", "decided_at"),
    )

    id: int | None = _id()
    number: str = Field(sa_column=Column(String(30), nullable=False, unique=True))
    source: str = Field(max_length=8)
    trace: str = Field(max_length=50)
    requesting_npi: str = Field(max_length=10)
    servicing_npi: str = Field(max_length=10)
    member_id: str = Field(max_length=80)
    family: str = Field(max_length=90)
    plan_id: str = Field(max_length=50)
    urgency: str = Field(max_length=10)
    state: str = _state()
    action: str | None = Field(default=None, max_length=2)
    queue: str | None = Field(default=None, max_length=32)
    received_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    decided_by: str | None = Field(default=None, max_length=100)
    extended_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    alerted_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    appeal_of: str | None = Field(default=None, max_length=30)
    effective_from: date = Field(sa_column=Column(Date(), nullable=False))
    effective_through: date = Field(sa_column=Column(Date(), nullable=False))
    rules_version: str = Field(default="", max_length=64)
    updated_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    content: bytes = _sealed()


class PriorAuthorizationServiceRow(SQLModel, table=True):
    """A service of an authorization: its codes (one, or several sharing the units, as the
    reference data's CSV lists them), so many units, visits or days asked for and approved,
    between two dates, and what was decided of it (``action``, by ``rule``)."""

    __tablename__ = "prior_authorization_services"
    __table_args__ = (
        UniqueConstraint("authorization_id", "line", name="uq_prior_authorization_services"),
    )

    id: int | None = _id()
    authorization_id: int = _ref("prior_authorizations.id", index=False)
    line: int
    codes: str = Field(max_length=200)
    code_kind: str = Field(max_length=9)
    modifiers: str = Field(default="", max_length=16)
    unit: str = Field(max_length=8)
    place_of_service: str = Field(default="", max_length=2)
    category: str = Field(default="", max_length=32)
    requested: Decimal = Field(sa_column=Column(ExactDecimal(15, 3), nullable=False))
    approved: Decimal = Field(sa_column=Column(ExactDecimal(15, 3), nullable=False))
    action: str | None = Field(default=None, max_length=2)
    rule: str = Field(default="", max_length=80)
    reason_code: str = Field(default="", max_length=8)
    from_date: date = Field(sa_column=Column(Date(), nullable=False))
    to_date: date = Field(sa_column=Column(Date(), nullable=False))


class PriorAuthorizationUseRow(SQLModel, table=True):
    """Units a claim's line drew on an approved authorization's service: one row per
    authorization, payer claim number and line (the unique key is what makes a claim draw
    once). A reversal of the claim (a void or a replacement) gives them back:
    ``reversed_by`` names the claim that reversed it, and the row no longer counts."""

    __tablename__ = "prior_authorization_uses"
    __table_args__ = (
        UniqueConstraint(
            "authorization_id",
            "payer_claim_number",
            "line_number",
            name="uq_prior_authorization_uses",
        ),
        Index("ix_prior_authorization_uses_claim", "payer_claim_number"),
    )

    id: int | None = _id()
    authorization_id: int = _ref("prior_authorizations.id", index=False)
    service_line: int
    payer_claim_number: str = Field(max_length=50)
    line_number: int
    units: Decimal = Field(sa_column=Column(ExactDecimal(15, 3), nullable=False))
    used_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    reversed_by: str | None = Field(default=None, max_length=50)
    reversed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class PriorAuthorizationEventRow(SQLModel, table=True):
    """One change of an authorization: who, when, from, to, the action, and a note in fixed
    words (the reason in words is in the authorization's sealed content)."""

    __tablename__ = "prior_authorization_events"
    __table_args__ = (Index("ix_prior_authorization_events", "authorization_id", "id"),)

    id: int | None = _id()
    authorization_id: int = _ref("prior_authorizations.id", index=False)
    at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    actor: str = Field(max_length=100)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str = _state()
    action: str | None = Field(default=None, max_length=2)
    note: str = Field(default="", sa_column=Column(Text(), nullable=False))


# The tables as SQLAlchemy Core sees them, for the batched statements of the services.
interchanges_table: Table = InterchangeRow.__table__  # type: ignore[attr-defined]
interchange_controls_table: Table = InterchangeControlRow.__table__  # type: ignore[attr-defined]
acknowledgments_table: Table = AcknowledgmentRow.__table__  # type: ignore[attr-defined]
reference_sets_table: Table = ReferenceSetRow.__table__  # type: ignore[attr-defined]
counters_table: Table = CounterRow.__table__  # type: ignore[attr-defined]
claims_table: Table = ClaimRow.__table__  # type: ignore[attr-defined]
claim_lines_table: Table = ClaimLineRow.__table__  # type: ignore[attr-defined]
claim_events_table: Table = ClaimEventRow.__table__  # type: ignore[attr-defined]
adjudications_table: Table = AdjudicationRow.__table__  # type: ignore[attr-defined]
adjustments_table: Table = AdjustmentRow.__table__  # type: ignore[attr-defined]
services_table: Table = ServiceRow.__table__  # type: ignore[attr-defined]
accumulators_table: Table = AccumulatorRow.__table__  # type: ignore[attr-defined]
remittances_table: Table = RemittanceRow.__table__  # type: ignore[attr-defined]
remittance_claims_table: Table = RemittanceClaimRow.__table__  # type: ignore[attr-defined]
store_settings_table: Table = StoreSettingRow.__table__  # type: ignore[attr-defined]
api_keys_table: Table = ApiKeyRow.__table__  # type: ignore[attr-defined]
api_key_senders_table: Table = ApiKeySenderRow.__table__  # type: ignore[attr-defined]
phi_reads_table: Table = PhiReadRow.__table__  # type: ignore[attr-defined]
audit_anchors_table: Table = AuditAnchorRow.__table__  # type: ignore[attr-defined]
pend_items_table: Table = PendItemRow.__table__  # type: ignore[attr-defined]
pended_claims_table: Table = PendedClaimRow.__table__  # type: ignore[attr-defined]
examiner_actions_table: Table = ExaminerActionRow.__table__  # type: ignore[attr-defined]
enrollment_members_table: Table = EnrolledMemberRow.__table__  # type: ignore[attr-defined]
enrollment_files_table: Table = EnrollmentFileRow.__table__  # type: ignore[attr-defined]
accounts_table: Table = AccountRow.__table__  # type: ignore[attr-defined]
account_invitations_table: Table = AccountInvitationRow.__table__  # type: ignore[attr-defined]
recovery_codes_table: Table = RecoveryCodeRow.__table__  # type: ignore[attr-defined]
web_sessions_table: Table = WebSessionRow.__table__  # type: ignore[attr-defined]
account_events_table: Table = AccountEventRow.__table__  # type: ignore[attr-defined]
ncci_tables_table: Table = NcciTableRow.__table__  # type: ignore[attr-defined]
prior_authorizations_table: Table = PriorAuthorizationRow.__table__  # type: ignore[attr-defined]
prior_authorization_services_table: Table = PriorAuthorizationServiceRow.__table__  # type: ignore[attr-defined]
prior_authorization_uses_table: Table = PriorAuthorizationUseRow.__table__  # type: ignore[attr-defined]
prior_authorization_events_table: Table = PriorAuthorizationEventRow.__table__  # type: ignore[attr-defined]
