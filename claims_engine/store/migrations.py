"""The store's migration steps that need tables of their own (see :mod:`claims_engine.store.db`,
whose ``MIGRATIONS`` lists them).

A step is written against the schema as it stood when the step was made, never against
:mod:`claims_engine.store.tables`, which only says what the newest schema is: each step here
holds frozen copies of the tables it makes or changes, so that a new database and one made by an
old release pass through the same schemas and end the same.

* Step 1 (:func:`create_schema`) makes the schema of the first release: every document in the
  clear, member ids, families, accumulator holders and CLM01 as they are.
* Step 3 (:func:`seal_health_data`) brings it to health data sealed at rest (see
  :mod:`claims_engine.store.vault`) with the process's vault: documents become sealed ``bytes``
  (``ALTER COLUMN ... TYPE bytea`` on PostgreSQL; on SQLite, which cannot change a column's
  type, the table is rebuilt the way SQLite's ``ALTER TABLE`` documentation describes), each
  claim gains its sealed identity, lookup columns hold the keyed hashes of what they held, the
  values that rejection reasons quoted are left out, and ``store_settings`` notes the lookup
  key. Rows are read and written a batch at a time (``BATCH`` rows), all in the step's one
  transaction. On SQLite, ``secure_delete`` is on meanwhile: the clear values it replaces are
  overwritten in the file, not left in its free pages.
* Step 4 (:func:`register_senders`) adds ``api_key_senders``, the sender ids (ISA06, GS02)
  registered to provider keys. Keys made before it have none: they read as before, and may not
  submit 837s through the API until a key with sender ids is made for their trading partner.
* Step 8 (:func:`accounts`) adds the accounts of the web portal, empty.
* Step 9 (:func:`ncci_tables`) adds ``ncci_tables``, the CMS NCCI edit tables by quarter, empty.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

from claims_engine.domain.benefits import load_authorizations
from claims_engine.domain.pend_reasons import (
    DEFAULT_CATALOGUE,
    UNCLASSIFIED,
    PendItem,
    items_from_text,
)
from claims_engine.domain.reference_data import load_members
from claims_engine.enrollment.records import member_to_json
from claims_engine.store.bulk import update_rows
from claims_engine.store.vault import Vault, current_vault

BATCH = 1_000  # rows read, changed and written at a time

# -- column types as the steps made them ----------------------------------------------------


def _key() -> TypeEngine[int]:
    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
    return BigInteger().with_variant(Integer(), "sqlite")


def _money(precision: int = 12, scale: int = 2) -> TypeEngine[Any]:
    # tables.ExactDecimal: NUMERIC on PostgreSQL, whole units of the scale on SQLite
    return Numeric(precision, scale).with_variant(BigInteger(), "sqlite")


def _id() -> Column[int]:
    return Column("id", _key(), primary_key=True)


def _ref(name: str, target: str, *, index: bool = True) -> Column[int]:
    return Column(name, _key(), ForeignKey(target), nullable=False, index=index)


def _text(name: str, length: int, *, nullable: bool = False, index: bool = False) -> Column[str]:
    return Column(name, String(length), nullable=nullable, index=index)


def _in(column: str, values: Sequence[str], name: str) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=name)


_CLAIM_STATES = ("received", "rejected", "accepted", "pended", "adjudicated", "remitted")


# The tables whose documents step 3 seals: step 1 made them with the documents in the clear
# (JSON or text), step 3 leaves them with sealed bytes and, in claims, the sealed identity.


def _acknowledgments(meta: MetaData, *, sealed: bool) -> Table:
    return Table(
        "acknowledgments",
        meta,
        _id(),
        _ref("interchange_id", "interchanges.id"),
        _text("kind", 8),
        _text("control_number", 9),
        _text("file_name", 255),
        Column("created_at", DateTime(), nullable=False),
        Column("content", LargeBinary() if sealed else Text(), nullable=False),
        _in("kind", ("ta1", "999", "277ca"), "ck_acknowledgments_kind"),
    )


def _reference_sets(meta: MetaData, *, sealed: bool) -> Table:
    return Table(
        "reference_sets",
        meta,
        _id(),
        Column("sha256", String(64), nullable=False, unique=True),
        Column("loaded_at", DateTime(), nullable=False),
        Column("files", LargeBinary() if sealed else JSON(), nullable=False),
    )


def _claims(meta: MetaData, *, sealed: bool) -> Table:
    identity = [Column("identity", LargeBinary(), nullable=False)] if sealed else []
    return Table(
        "claims",
        meta,
        _id(),
        Column("payer_claim_number", String(50), nullable=True, unique=True),
        _ref("interchange_id", "interchanges.id", index=False),
        Column("ordinal", Integer(), nullable=False),
        _text("submitter_claim_id", 38),
        _text("billing_npi", 10),
        _text("member_id", 80),
        *identity,
        _text("family", 90),
        _text("claim_type", 1),
        _text("frequency", 1),
        _text("original_claim_number", 50, nullable=True),
        _text("state", 16),
        Column("total_charge", _money(), nullable=False),
        Column("received_on", Date(), nullable=False),
        Column("updated_at", DateTime(), nullable=False),
        Column("error", Text(), nullable=True),
        Column("claim", LargeBinary() if sealed else JSON(), nullable=False),
        _in("state", _CLAIM_STATES, "ck_claims_state"),
        UniqueConstraint("interchange_id", "ordinal", name="uq_claims_interchange_ordinal"),
        Index("ix_claims_submitter", "submitter_claim_id", "billing_npi"),
        Index("ix_claims_state", "state", "updated_at"),
        Index("ix_claims_family", "family", "state"),
        Index("ix_claims_billing_npi", "billing_npi", "id"),
        Index("ix_claims_member", "member_id", "id"),
    )


def _adjudications(meta: MetaData, *, sealed: bool) -> Table:
    return Table(
        "adjudications",
        meta,
        _id(),
        _ref("claim_id", "claims.id", index=False),
        _text("kind", 8),
        _text("payer_claim_number", 50),
        _text("payee_npi", 10),
        _text("reverses", 50, nullable=True),
        _text("reversed_by", 50, nullable=True),
        _text("rule_pack_version", 64),
        _text("status", 16),
        _text("outcome", 16),
        Column("charge", _money(), nullable=False),
        Column("allowed", _money(), nullable=False),
        Column("paid", _money(), nullable=False),
        Column("patient_responsibility", _money(), nullable=False),
        Column("pend_reason", Text(), nullable=True),
        Column("decided_at", DateTime(), nullable=False),
        Column("decision", LargeBinary() if sealed else JSON(), nullable=False),
        UniqueConstraint("claim_id", "kind", name="uq_adjudications_claim_kind"),
        _in("kind", ("decision", "reversal"), "ck_adjudications_kind"),
        Index("ix_adjudications_payer_claim_number", "payer_claim_number"),
        Index("ix_adjudications_payee", "payee_npi"),
    )


def _remittances(meta: MetaData, *, sealed: bool) -> Table:
    return Table(
        "remittances",
        meta,
        _id(),
        _text("payee_npi", 10, index=True),
        Column("trace_number", String(50), nullable=False, unique=True),
        Column("interchange_control", Integer(), nullable=False),
        Column("created_at", DateTime(), nullable=False),
        Column("claims", Integer(), nullable=False),
        Column("total_paid", _money(), nullable=False),
        _text("file_name", 200),
        Column("content", LargeBinary() if sealed else Text(), nullable=False),
    )


_DOCUMENT_TABLES = {
    "acknowledgments": _acknowledgments,
    "reference_sets": _reference_sets,
    "claims": _claims,
    "adjudications": _adjudications,
    "remittances": _remittances,
}


# -- step 1: the schema of the first release ------------------------------------------------


@cache
def schema_1() -> MetaData:
    """The tables of the first release (made once a process, when first asked for)."""
    meta = MetaData()
    for make in _DOCUMENT_TABLES.values():
        make(meta, sealed=False)
    Table(
        "interchanges",
        meta,
        _id(),
        Column("sha256", String(64), nullable=False, unique=True),
        _text("sender_id", 15),
        _text("control_number", 9),
        _text("file_name", 255),
        Column("raw", LargeBinary(), nullable=False),
        Column("received_at", DateTime(), nullable=False),
        _text("state", 16),
        Column("reason", Text(), nullable=True),
        _text("submitted_by", 32, nullable=True, index=True),
        UniqueConstraint("sender_id", "control_number", name="uq_interchanges_sender_isa13"),
        _in("state", ("received", "ingested", "rejected"), "ck_interchanges_state"),
    )
    Table(
        "interchange_controls",
        meta,
        _id(),
        _text("sender_id", 15),
        _text("control_number", 9),
        _ref("interchange_id", "interchanges.id"),
        UniqueConstraint("sender_id", "control_number", name="uq_interchange_controls"),
    )
    Table(
        "counters",
        meta,
        Column("name", String(32), primary_key=True),
        Column("value", BigInteger(), nullable=False),
    )
    Table(
        "claim_lines",
        meta,
        _id(),
        _ref("claim_id", "claims.id", index=False),
        Column("line_number", Integer(), nullable=False),
        _text("procedure", 48),
        _text("modifiers", 16),
        _text("revenue_code", 4),
        Column("charge", _money(), nullable=False),
        Column("units", _money(15, 3), nullable=False),
        Column("service_from", Date(), nullable=True),
        Column("service_to", Date(), nullable=True),
        UniqueConstraint("claim_id", "line_number", name="uq_claim_lines_number"),
    )
    Table(
        "claim_events",
        meta,
        _id(),
        _ref("claim_id", "claims.id"),
        Column("at", DateTime(), nullable=False),
        _text("actor", 100),
        _text("from_state", 16, nullable=True),
        _text("to_state", 16),
        Column("reason", Text(), nullable=False),
        _in("to_state", _CLAIM_STATES, "ck_claim_events_to_state"),
        CheckConstraint(
            "from_state IS NULL OR from_state IN ("
            + ", ".join(f"'{v}'" for v in _CLAIM_STATES)
            + ")",
            name="ck_claim_events_from_state",
        ),
    )
    Table(
        "adjustments",
        meta,
        _id(),
        _ref("adjudication_id", "adjudications.id"),
        Column("line_number", Integer(), nullable=True),
        _text("group_code", 2),
        _text("reason_code", 5),
        Column("amount", _money(), nullable=False),
        Column("quantity", _money(15, 3), nullable=True),
        _in("group_code", ("CO", "PR", "OA", "PI"), "ck_adjustments_group"),
    )
    Table(
        "services",
        meta,
        _id(),
        _text("family", 90),
        _text("subscriber_id", 80),
        _text("payer_claim_number", 50, index=True),
        _text("submitter_claim_id", 38),
        _text("billing_npi", 10),
        _text("member_id", 80),
        _text("procedure", 48),
        Column("service_date", Date(), nullable=False),
        Column("charge", _money(), nullable=False),
        Column("units", _money(15, 3), nullable=False),
        Index("ix_services_family", "family", "service_date"),
    )
    Table(
        "accumulators",
        meta,
        _id(),
        _text("family", 90),
        _text("holder", 90),
        _text("plan_id", 50),
        Column("plan_year", Date(), nullable=False),
        _text("bucket", 32),
        _text("network", 16),
        Column("amount", _money(), nullable=False),
        UniqueConstraint(
            "holder", "plan_id", "plan_year", "bucket", "network", name="uq_accumulators_key"
        ),
        Index("ix_accumulators_family", "family"),
    )
    Table(
        "remittance_claims",
        meta,
        _id(),
        _ref("remittance_id", "remittances.id"),
        Column(
            "adjudication_id", _key(), ForeignKey("adjudications.id"), nullable=False, unique=True
        ),
    )
    Table(
        "api_keys",
        meta,
        _id(),
        Column("key_id", String(32), nullable=False, unique=True),
        Column("secret_sha256", String(64), nullable=False),
        _text("role", 16),
        _text("label", 200),
        Column("npis", JSON(), nullable=False),
        _text("member_id", 80, nullable=True),
        Column("dependents", JSON(), nullable=False),
        Column("created_at", DateTime(), nullable=False),
        Column("expires_at", DateTime(), nullable=False),
        Column("revoked_at", DateTime(), nullable=True),
        _in("role", ("provider", "member", "insurer"), "ck_api_keys_role"),
    )
    Table(
        "phi_reads",
        meta,
        _id(),
        Column("at", DateTime(), nullable=False, index=True),
        _text("key_id", 32),
        _text("role", 16),
        _text("route", 200),
        _text("record_type", 32),
        _text("record_id", 64),
        Index("ix_phi_reads_record", "record_type", "record_id"),
    )
    return meta


def create_schema(conn: Connection) -> None:
    """Step 1: the schema of the first release (``schema_version`` is the runner's own)."""
    schema_1().create_all(conn)


# -- step 3: health data sealed at rest -----------------------------------------------------


@cache
def schema_3() -> MetaData:
    """The schema as step 3 leaves it (step 2's audit_anchors aside): step 1's, with the
    documents sealed and the store's settings."""
    meta = MetaData()
    for old in schema_1().tables.values():
        if old.name not in _DOCUMENT_TABLES:
            old.to_metadata(meta)
    for make in _DOCUMENT_TABLES.values():
        make(meta, sealed=True)
    Table(
        "store_settings",
        meta,
        Column("name", String(64), primary_key=True),
        Column("value", Text(), nullable=False),
    )
    return meta


LOOKUP_SETTING = "lookup_key"  # the setting that holds the lookup key's fingerprint

# A value quoted in a rejection reason, as ``repr`` quotes it, the quotes apart from words (as
# ``claims_engine.domain.issues`` finds them), and where the next issue of a reason begins.
_QUOTED = re.compile(r"(?<!\w)(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")(?!\w)")
_LEFT_OUT = "'…'"
_NEXT_ISSUE = re.compile(r"; (?=[A-Z0-9][A-Z0-9_-]*: )")

_Change = Callable[[Vault, Row[Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Walk:
    """Values of ``table`` to change, row by row: ``change`` gives a row's new values from
    its ``reads``. ``lookups`` is true when only lookups change (nothing to do without
    encryption, where a lookup is the identifier itself)."""

    table: str
    reads: tuple[str, ...]
    change: _Change
    lookups: bool = False


def _interchange(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"raw": vault.seal(bytes(row.raw), "interchanges.raw")}


def _acknowledgment(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"content": vault.seal(bytes(row.content), "acknowledgments.content")}


def _reference_set(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"files": vault.seal_json(orjson.loads(row.files), "reference_sets.files")}


def _claim(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    # As intake makes them: the lookups of CLM01 (the claim's, which the column may have cut
    # short), of the patient and of the family; the identity holds the two ids themselves.
    claim = orjson.loads(row.claim)
    claim_id = str(claim.get("claim_id", row.submitter_claim_id))
    identity = {"member_id": row.member_id, "claim_id": claim_id}
    return {
        "submitter_claim_id": vault.lookup(claim_id)[:38],
        "member_id": vault.lookup(row.member_id)[:80],
        "identity": vault.seal_json(identity, "claims.identity"),
        "family": vault.lookup(row.family)[:90],
        "claim": vault.seal_json(claim, "claims.claim"),
    }


def _adjudication(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"decision": vault.seal_json(orjson.loads(row.decision), "adjudications.decision")}


def _remittance(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"content": vault.seal(bytes(row.content), "remittances.content")}


def _service(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    lookup = vault.lookup
    return {
        "family": lookup(row.family)[:90],
        "subscriber_id": lookup(row.subscriber_id)[:80],
        "submitter_claim_id": lookup(row.submitter_claim_id)[:38],
        "member_id": lookup(row.member_id)[:80],
    }


def _accumulator(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {"family": vault.lookup(row.family)[:90], "holder": vault.lookup(row.holder)}


def _api_key(vault: Vault, row: Row[Any]) -> dict[str, Any]:
    return {
        "member_id": vault.lookup(row.member_id) if row.member_id else None,
        "dependents": [vault.lookup(m) for m in row.dependents],
    }


_WALKS = (
    _Walk("interchanges", ("raw",), _interchange),
    _Walk("acknowledgments", ("content",), _acknowledgment),
    _Walk("reference_sets", ("files",), _reference_set),
    _Walk("claims", ("submitter_claim_id", "member_id", "family", "claim"), _claim),
    _Walk("adjudications", ("decision",), _adjudication),
    _Walk("remittances", ("content",), _remittance),
    _Walk(
        "services",
        ("family", "subscriber_id", "submitter_claim_id", "member_id"),
        _service,
        lookups=True,
    ),
    _Walk("accumulators", ("family", "holder"), _accumulator, lookups=True),
    _Walk("api_keys", ("member_id", "dependents"), _api_key, lookups=True),
)


def seal_health_data(conn: Connection) -> None:
    """Step 3: seal the documents, make the lookups, note the lookup key (see the module
    docstring), with the process's vault. Tables without rows (all of them in a new store)
    cost only their DDL."""
    if conn.dialect.has_table(conn, "store_settings"):
        # a development store that step 1 made before it was frozen: sealed from the start
        return
    vault = current_vault()
    filled = _tables_with_rows(
        conn, list(dict.fromkeys([*_DOCUMENT_TABLES, *(w.table for w in _WALKS)]))
    )
    tables = schema_3().tables
    settings = tables["store_settings"]
    settings.create(conn)
    conn.execute(settings.insert().values(name=LOOKUP_SETTING, value=vault.fingerprint()))
    with _overwriting_what_is_deleted(conn):
        if conn.dialect.name == "sqlite":
            for name in _DOCUMENT_TABLES:
                _rebuild(conn, tables[name], empty=name not in filled)
        else:
            # one round trip: a new store's tables are empty, and this is then all it costs
            retyping = [
                _retyping(tables[name], empty=name not in filled) for name in _DOCUMENT_TABLES
            ]
            conn.exec_driver_sql(";\n".join(retyping))
        for walk in _WALKS:
            if walk.table in filled and (vault.enabled or not walk.lookups):
                _change_rows(conn, walk, vault)
        if "claims" in filled:
            _leave_out_quoted_values(conn)


def _tables_with_rows(conn: Connection, names: Sequence[str]) -> set[str]:
    """Which of the tables ``names`` hold a row, in one query."""
    probes = ", ".join(f'EXISTS (SELECT 1 FROM "{name}")' for name in names)
    found = conn.exec_driver_sql(f"SELECT {probes}").one()
    return {name for name, has_rows in zip(names, found, strict=True) if has_rows}


@contextmanager
def _overwriting_what_is_deleted(conn: Connection) -> Iterator[None]:
    """On SQLite, ``secure_delete`` on while the step replaces clear values."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA secure_delete").scalar_one())
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {before}")


def _document_columns(table: Table) -> Iterator[tuple[str, bool]]:
    """(name, new) of each column that step 3 makes sealed bytes: ``new`` when step 1 had no
    such column."""
    old = schema_1().tables[table.name].c
    for column in table.columns:
        if not isinstance(column.type, LargeBinary):
            continue
        if column.name not in old:
            yield column.name, True
        elif not isinstance(old[column.name].type, LargeBinary):
            yield column.name, False


def _retyping(table: Table, *, empty: bool) -> str:
    """PostgreSQL: the statements that make the documents' columns ``bytea`` (their UTF-8
    text, sealed later; a new one is filled with empty bytes until then). In an ``empty``
    table each is dropped and added again, which rewrites nothing: changing a column's type
    rewrites the table and rebuilds its indexes even when it has no rows."""
    name = table.name
    changes: list[str] = []
    after: list[str] = []
    for column, new in _document_columns(table):
        if empty:
            if not new:
                changes.append(f'DROP COLUMN "{column}"')
            changes.append(f'ADD COLUMN "{column}" bytea NOT NULL')
        elif new:
            changes.append(f"ADD COLUMN \"{column}\" bytea NOT NULL DEFAULT ''")
            after.append(f'ALTER TABLE "{name}" ALTER COLUMN "{column}" DROP DEFAULT')
        else:
            changes.append(
                f'ALTER COLUMN "{column}" TYPE bytea USING convert_to("{column}"::text, \'UTF8\')'
            )
    return ";\n".join([f'ALTER TABLE "{name}" ' + ", ".join(changes), *after])


def _rebuild(conn: Connection, table: Table, *, empty: bool) -> None:
    """SQLite, which cannot change a column's type: the table made again as ``table`` says,
    its rows copied (documents as their UTF-8 bytes, a new column as empty bytes, both sealed
    later), the old one dropped and the new one renamed in its place; an ``empty`` one is
    simply dropped and made again. Foreign keys are off meanwhile
    (:func:`claims_engine.store.db.upgrade` sees to it, and checks them after)."""
    name = table.name
    made = _made(table, conn.dialect)
    if empty:
        conn.exec_driver_sql(f'DROP TABLE "{name}"')
        for statement in made:
            conn.exec_driver_sql(statement)
        return
    building = f"{name}__sealed"
    ddl = made[0]
    renamed = ddl.replace(f"CREATE TABLE {name} (", f'CREATE TABLE "{building}" (', 1)
    if renamed == ddl:
        raise RuntimeError(f"unexpected DDL for {name}: {ddl[:80]!r}")
    conn.exec_driver_sql(renamed)
    documents = dict(_document_columns(table))
    sources = [
        ("X''" if documents[c.name] else f'CAST("{c.name}" AS BLOB)')
        if c.name in documents
        else f'"{c.name}"'
        for c in table.columns
    ]
    targets = ", ".join(f'"{c.name}"' for c in table.columns)
    conn.exec_driver_sql(
        f'INSERT INTO "{building}" ({targets}) SELECT {", ".join(sources)} FROM "{name}"'
    )
    conn.exec_driver_sql(f'DROP TABLE "{name}"')
    conn.exec_driver_sql(f'ALTER TABLE "{building}" RENAME TO "{name}"')
    for statement in made[1:]:
        conn.exec_driver_sql(statement)


_compiled: dict[tuple[str, str], tuple[str, ...]] = {}


def _made(table: Table, dialect: Dialect) -> tuple[str, ...]:
    """``CREATE TABLE`` and ``CREATE INDEX`` statements of ``table``, compiled once a process
    (the test suite makes many stores)."""
    key = (dialect.name, table.name)
    found = _compiled.get(key)
    if found is None:
        indexes = sorted(table.indexes, key=lambda i: str(i.name))
        statements: list[CreateTable | CreateIndex] = [CreateTable(table)]
        statements.extend(CreateIndex(i) for i in indexes)
        found = tuple(str(ddl.compile(dialect=dialect)).strip() for ddl in statements)
        _compiled[key] = found
    return found


def _batches(
    conn: Connection, table: Table, columns: Sequence[Any], *where: Any
) -> Iterator[Sequence[Row[Any]]]:
    """The rows of ``table`` (``columns`` of them) by id, ``BATCH`` at a time."""
    last: Any = None
    while True:
        query = select(table.c.id, *columns).where(*where).order_by(table.c.id).limit(BATCH)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = conn.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _change_rows(conn: Connection, walk: _Walk, vault: Vault) -> None:
    table = schema_3().tables[walk.table]
    for rows in _batches(conn, table, [table.c[n] for n in walk.reads]):
        changed = [{"id": r.id, **walk.change(vault, r)} for r in rows]
        if any(isinstance(table.c[n].type, JSON) for n in changed[0]):
            # one statement a row: update_rows would send the JSON lists as SQL arrays
            names = [n for n in changed[0] if n != "id"]
            conn.execute(
                update(table)
                .where(table.c.id == bindparam("_id"))
                .values({n: bindparam(f"_v_{n}") for n in names}),
                [{"_id": r["id"], **{f"_v_{n}": r[n] for n in names}} for r in changed],
            )
        else:
            update_rows(conn, table, changed)


def _leave_out_quoted_values(conn: Connection) -> None:
    """The reasons of rejected claims, and the events that tell them, without the values they
    quote from the claim (as intake keeps them now): a birth date that failed an edit is PHI."""
    claims = schema_3().tables["claims"]
    events = schema_3().tables["claim_events"]
    error = claims.c.error
    for rows in _batches(conn, claims, [error], or_(error.contains("'"), error.contains('"'))):
        changed = [{"_id": r.id, "_old": r.error, "_new": _without_values(r.error)} for r in rows]
        changed = [c for c in changed if c["_new"] != c["_old"]]
        if not changed:
            continue
        conn.execute(
            update(claims).where(claims.c.id == bindparam("_id")).values(error=bindparam("_new")),
            changed,
        )
        conn.execute(
            update(events)
            .where(events.c.claim_id == bindparam("_id"), events.c.reason == bindparam("_old"))
            .values(reason=bindparam("_new")),
            changed,
        )


def _without_values(reason: str) -> str:
    """A rejection reason as intake keeps it now (``Issue.describe(values=False)`` of each
    issue): one issue at a time, so that an apostrophe in one message ("the patient's") is
    not taken for a quote that a value in the next one closes."""
    return "; ".join(_QUOTED.sub(_LEFT_OUT, part) for part in _NEXT_ISSUE.split(reason))


# -- step 4: sender ids registered to provider keys -----------------------------------------


def register_senders(conn: Connection) -> None:
    """Step 4: the ``api_key_senders`` table, empty (no key made before it has a sender id).
    A development store whose tables were made from :mod:`claims_engine.store.tables` after
    the table existed has it already: it is left as it is."""
    meta = MetaData()
    schema_3().tables["api_keys"].to_metadata(meta)  # what the foreign key names
    senders = Table(
        "api_key_senders",
        meta,
        _id(),
        Column("key_id", String(32), ForeignKey("api_keys.key_id"), nullable=False),
        Column("sender_id", String(15), nullable=False, index=True),
        UniqueConstraint("key_id", "sender_id", name="uq_api_key_senders"),
    )
    senders.create(conn, checkfirst=True)


# -- step 5: examination of pended claims -----------------------------------------------------

_PEND_STATES = ("open", "resolved")
_ACTION_STATES = ("applied", "awaiting approval", "approved", "refused")


def _examination_tables(meta: MetaData) -> tuple[Table, Table, Table]:
    """The three tables as step 5 made them (frozen: :mod:`tables` moves on)."""
    items = Table(
        "pend_items",
        meta,
        _id(),
        _ref("claim_id", "claims.id", index=False),
        _text("code", 32),
        Column("line", Integer(), nullable=False),
        _text("rule", 80),
        Column("detail", Text(), nullable=False),
        _text("queue", 32),
        Column("priority", Integer(), nullable=False),
        Column("raised_at", DateTime(), nullable=False),
        Column("due_at", DateTime(), nullable=False),
        _text("state", 16),
        Column("asked", Text(), nullable=True),
        _text("remark", 8, nullable=True),
        Column("resolved_at", DateTime(), nullable=True),
        _text("resolved_by", 100, nullable=True),
        Column("resolved_action", Integer(), nullable=True),
        _in("state", _PEND_STATES, "ck_pend_items_state"),
        Index("ix_pend_items_claim", "claim_id", "state"),
        Index("ix_pend_items_open", "state", "code", "due_at"),
    )
    pended = Table(
        "pended_claims",
        meta,
        Column("claim_id", _key(), ForeignKey("claims.id"), primary_key=True, autoincrement=False),
        _text("queue", 32),
        Column("priority", Integer(), nullable=False),
        _text("plan_id", 50),
        Column("charge", _money(), nullable=False),
        Column("received_on", Date(), nullable=False),
        Column("pended_at", DateTime(), nullable=False),
        Column("due_on", Date(), nullable=False),
        Column("waiting_since", Date(), nullable=True),
        _text("assigned_to", 100, nullable=True),
        Column("assigned_until", DateTime(), nullable=True),
        Column("version", Integer(), nullable=False),
        Index("ix_pended_claims_queue", "queue", "priority", "due_on", "claim_id"),
        Index("ix_pended_claims_due", "due_on"),
    )
    actions = Table(
        "examiner_actions",
        meta,
        _id(),
        _ref("claim_id", "claims.id", index=False),
        _text("kind", 16),
        _text("actor", 100),
        Column("at", DateTime(), nullable=False),
        Column("items", JSON(), nullable=False),
        _text("state", 20),
        _text("approved_by", 100, nullable=True),
        Column("approved_at", DateTime(), nullable=True),
        Column("content", LargeBinary(), nullable=False),
        _in("state", _ACTION_STATES, "ck_examiner_actions_state"),
        Index("ix_examiner_actions_claim", "claim_id", "id"),
        Index("ix_examiner_actions_at", "at", "id"),
        Index("ix_examiner_actions_state", "state", "claim_id"),
    )
    return items, pended, actions


def examination(conn: Connection) -> None:
    """Step 5: pend items, the queue rows of pended claims, and examiner actions; every claim
    pended before it gets its pend items from the free-text reason its decision (or its error)
    holds, routed as the engine's default pend reasons route them (no stored reference set
    had its own before this step), and is due its receipt day plus the default 30 days."""
    meta = MetaData()
    schema_3().tables["claims"].to_metadata(meta)
    schema_3().tables["adjudications"].to_metadata(meta)
    items, pended, actions = _examination_tables(meta)
    for table in (items, pended, actions):
        table.create(conn, checkfirst=True)
    claims, decisions = meta.tables["claims"], meta.tables["adjudications"]
    c, a = claims.c, decisions.c
    reason = select(a.pend_reason).where(a.claim_id == c.id, a.kind == "decision").scalar_subquery()
    already = select(pended.c.claim_id).where(pended.c.claim_id == c.id).exists()
    rows = conn.execute(
        select(c.id, c.total_charge, c.received_on, c.updated_at, c.error, reason.label("why"))
        .where(c.state == "pended", ~already)
        .order_by(c.id)
    ).all()
    catalogue = DEFAULT_CATALOGUE
    for start in range(0, len(rows), BATCH):
        item_rows: list[dict[str, Any]] = []
        pended_rows: list[dict[str, Any]] = []
        for r in rows[start : start + BATCH]:
            found = items_from_text(r.error or r.why or "") or (
                PendItem(UNCLASSIFIED, 0, "", "pended with no reason recorded"),
            )
            routed = [(item, catalogue.get(item.code)) for item in found]
            for item, why in routed:
                item_rows.append(
                    {
                        "claim_id": r.id,
                        "code": item.code,
                        "line": item.line,
                        "rule": item.rule[:80],
                        "detail": item.detail,
                        "queue": why.queue,
                        "priority": why.priority,
                        "raised_at": r.updated_at,
                        "due_at": r.updated_at + timedelta(days=why.days),
                        "state": "open",
                    }
                )
            first = min((why for _, why in routed), key=lambda w: (w.priority, w.queue))
            pended_rows.append(
                {
                    "claim_id": r.id,
                    "queue": first.queue,
                    "priority": first.priority,
                    "plan_id": "",
                    "charge": r.total_charge,
                    "received_on": r.received_on,
                    "pended_at": r.updated_at,
                    "due_on": r.received_on + timedelta(days=30),
                    "version": 1,
                }
            )
        conn.execute(items.insert(), item_rows)
        conn.execute(pended.insert(), pended_rows)


# -- step 6: key roles for examiners and supervisors --------------------------------------------

_KEY_ROLES_6 = ("provider", "member", "insurer", "examiner", "supervisor")


def _api_keys_6(meta: MetaData) -> Table:
    """``api_keys`` as step 6 leaves it (frozen: :mod:`tables` moves on): step 1's columns
    (step 3 changed its rows, not its columns), its role check naming the two new roles."""
    return Table(
        "api_keys",
        meta,
        _id(),
        Column("key_id", String(32), nullable=False, unique=True),
        Column("secret_sha256", String(64), nullable=False),
        _text("role", 16),
        _text("label", 200),
        Column("npis", JSON(), nullable=False),
        _text("member_id", 80, nullable=True),
        Column("dependents", JSON(), nullable=False),
        Column("created_at", DateTime(), nullable=False),
        Column("expires_at", DateTime(), nullable=False),
        Column("revoked_at", DateTime(), nullable=True),
        _in("role", _KEY_ROLES_6, "ck_api_keys_role"),
    )


def examiner_roles(conn: Connection) -> None:
    """Step 6: ``api_keys.role`` may also be ``examiner`` or ``supervisor``. PostgreSQL drops
    the check and adds it again; SQLite, which cannot change a check, makes the table again
    as :func:`_api_keys_6` says and copies its rows (ids kept: ``api_key_senders`` names keys
    by ``key_id``, which is kept too). A store whose check allows them already is made the
    same again, harmlessly."""
    table = _api_keys_6(MetaData())
    if conn.dialect.name != "sqlite":
        listed = ", ".join(f"'{v}'" for v in _KEY_ROLES_6)
        conn.exec_driver_sql(
            "ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS ck_api_keys_role, "
            f"ADD CONSTRAINT ck_api_keys_role CHECK (role IN ({listed}))"
        )
        return
    _remake_sqlite(conn, table, [c.name for c in table.columns])


def _remake_sqlite(conn: Connection, table: Table, copied: Sequence[str]) -> None:
    """Make ``table`` again on SQLite as ``table`` says (SQLite cannot change a check or add
    a constrained column in place) and copy the ``copied`` columns of its rows across, ids
    kept; its indexes are made again."""
    building = f"{table.name}__remade"
    statements = [str(CreateTable(table).compile(dialect=conn.dialect)).strip()]
    statements += [
        str(CreateIndex(i).compile(dialect=conn.dialect)).strip()
        for i in sorted(table.indexes, key=lambda i: str(i.name))
    ]
    ddl = statements[0]
    renamed = ddl.replace(f"CREATE TABLE {table.name} (", f'CREATE TABLE "{building}" (', 1)
    if renamed == ddl:
        raise RuntimeError(f"unexpected DDL for {table.name}: {ddl[:80]!r}")
    conn.exec_driver_sql(renamed)
    columns = ", ".join(f'"{c}"' for c in copied)
    conn.exec_driver_sql(f'INSERT INTO "{building}" ({columns}) SELECT {columns} FROM {table.name}')
    conn.exec_driver_sql(f"DROP TABLE {table.name}")
    conn.exec_driver_sql(f'ALTER TABLE "{building}" RENAME TO {table.name}')
    for statement in statements[1:]:
        conn.exec_driver_sql(statement)


# -- step 7: enrollment in the store ------------------------------------------------------------

_KEY_ROLES_7 = (*_KEY_ROLES_6, "sponsor")


def _enrollment_tables(meta: MetaData) -> tuple[Table, Table]:
    """The two tables as step 7 made them (frozen: :mod:`tables` moves on)."""
    members = Table(
        "enrollment_members",
        meta,
        _id(),
        _text("member_id", 80),
        _text("subscriber_id", 80),
        _text("sponsor_id", 80),
        Column("recorded_at", DateTime(), nullable=False),
        Column("superseded_at", DateTime(), nullable=True),
        Column("as_of", DateTime(), nullable=False),
        _text("source", 120),
        Column("content", LargeBinary(), nullable=False),
        Index("ix_enrollment_members_member", "member_id", "superseded_at"),
        Index("ix_enrollment_members_subscriber", "subscriber_id", "superseded_at"),
        Index("ix_enrollment_members_sponsor", "sponsor_id", "superseded_at"),
    )
    files = Table(
        "enrollment_files",
        meta,
        _id(),
        _ref("interchange_id", "interchanges.id"),
        _text("sponsor_id", 80),
        _text("action", 2),
        Column("applied_at", DateTime(), nullable=False),
        Column("counts", JSON(), nullable=False),
        Column("report", LargeBinary(), nullable=False),
        Index("ix_enrollment_files_sponsor", "sponsor_id", "id"),
    )
    return members, files


def _api_keys_7(meta: MetaData) -> Table:
    """``api_keys`` as step 7 leaves it: step 6's, with ``sponsor_id`` and the sponsor role."""
    return Table(
        "api_keys",
        meta,
        _id(),
        Column("key_id", String(32), nullable=False, unique=True),
        Column("secret_sha256", String(64), nullable=False),
        _text("role", 16),
        _text("label", 200),
        Column("npis", JSON(), nullable=False),
        _text("member_id", 80, nullable=True),
        Column("dependents", JSON(), nullable=False),
        _text("sponsor_id", 80, nullable=True),
        Column("created_at", DateTime(), nullable=False),
        Column("expires_at", DateTime(), nullable=False),
        Column("revoked_at", DateTime(), nullable=True),
        _in("role", _KEY_ROLES_7, "ck_api_keys_role"),
    )


def enrollment(conn: Connection) -> None:
    """Step 7: members and their coverage in the store (``enrollment_members``, every version
    kept), the 834s applied (``enrollment_files``), sponsor keys (``api_keys.sponsor_id`` and
    the ``sponsor`` role), ``interchanges.transaction_set`` (``837`` for those before it) and
    ``remittances.carry_forward`` (what a payee owes after an 835: 0 for those before it, as
    none was kept).
    The members of the newest reference set's ``members.csv`` become the enrollment's first
    versions, as ``reference load`` imports them from now on."""
    meta = MetaData()
    schema_3().tables["interchanges"].to_metadata(meta)
    members, files = _enrollment_tables(meta)
    members.create(conn, checkfirst=True)
    files.create(conn, checkfirst=True)
    if "transaction_set" not in _columns(conn, "interchanges"):
        conn.exec_driver_sql(
            "ALTER TABLE interchanges ADD COLUMN transaction_set VARCHAR(3) NOT NULL DEFAULT '837'"
        )
    if "carry_forward" not in _columns(conn, "remittances"):
        money = "NUMERIC(12, 2)" if conn.dialect.name != "sqlite" else "BIGINT"
        conn.exec_driver_sql(
            f"ALTER TABLE remittances ADD COLUMN carry_forward {money} NOT NULL DEFAULT 0"
        )
    has_sponsor = "sponsor_id" in _columns(conn, "api_keys")
    if conn.dialect.name != "sqlite":
        listed = ", ".join(f"'{v}'" for v in _KEY_ROLES_7)
        if not has_sponsor:
            conn.exec_driver_sql("ALTER TABLE api_keys ADD COLUMN sponsor_id VARCHAR(80)")
        conn.exec_driver_sql(
            "ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS ck_api_keys_role, "
            f"ADD CONSTRAINT ck_api_keys_role CHECK (role IN ({listed}))"
        )
    elif not has_sponsor:
        copied = [c.name for c in _api_keys_6(MetaData()).columns]
        _remake_sqlite(conn, _api_keys_7(MetaData()), copied)
    _import_reference_members(conn, members)


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _import_reference_members(conn: Connection, members: Table) -> None:
    """The members of the newest stored reference set as the enrollment's first versions."""
    sets = _reference_sets(MetaData(), sealed=True)
    newest = conn.execute(
        select(sets.c.id, sets.c.files, sets.c.loaded_at).order_by(sets.c.id.desc()).limit(1)
    ).first()
    if newest is None:
        return
    vault = current_vault()
    files = vault.open_json(newest.files, "reference_sets.files", newest.id)
    text = files.get("members.csv")
    if not text:
        return
    with tempfile.TemporaryDirectory(prefix="claims-members-") as tmp:
        path = Path(tmp) / "members.csv"
        path.write_text(text, encoding="utf-8")
        found = load_members(path)
    rows = [
        {
            "member_id": vault.lookup(m.member_id),
            "subscriber_id": vault.lookup(m.subscriber_id),
            "sponsor_id": m.sponsor_id,
            "recorded_at": newest.loaded_at,
            "superseded_at": None,
            "as_of": newest.loaded_at,
            "source": "members.csv",
            "content": vault.seal_json(member_to_json(m), "enrollment_members.content"),
        }
        for m in found
    ]
    for start in range(0, len(rows), BATCH):
        conn.execute(members.insert(), rows[start : start + BATCH])


# -- step 8: accounts of the web portal ---------------------------------------------------------

_SESSION_STAGES_8 = ("enroll", "second", "full")


def _account_tables(meta: MetaData) -> tuple[Table, ...]:
    """The five tables as step 8 made them (frozen: :mod:`tables` moves on)."""
    accounts = Table(
        "accounts",
        meta,
        _id(),
        Column("user_id", String(24), nullable=False, unique=True),
        Column("email_lookup", String(320), nullable=False, unique=True),
        Column("email", LargeBinary(), nullable=False),
        _text("role", 16),
        Column("key_id", String(32), ForeignKey("api_keys.key_id"), nullable=False, unique=True),
        Column("password_hash", Text(), nullable=True),
        Column("totp_secret", LargeBinary(), nullable=True),
        Column("totp_confirmed_at", DateTime(), nullable=True),
        Column("totp_last_step", BigInteger(), nullable=True),
        Column("failures", Integer(), nullable=False),
        Column("locked_until", DateTime(), nullable=True),
        Column("created_at", DateTime(), nullable=False),
        Column("last_sign_in_at", DateTime(), nullable=True),
        Column("disabled_at", DateTime(), nullable=True),
    )
    invitations = Table(
        "account_invitations",
        meta,
        _id(),
        Column("user_id", String(24), ForeignKey("accounts.user_id"), nullable=False, index=True),
        Column("token_sha256", String(64), nullable=False, unique=True),
        Column("created_at", DateTime(), nullable=False),
        Column("expires_at", DateTime(), nullable=False),
        Column("used_at", DateTime(), nullable=True),
        Column("voided_at", DateTime(), nullable=True),
    )
    codes = Table(
        "account_recovery_codes",
        meta,
        _id(),
        Column("user_id", String(24), ForeignKey("accounts.user_id"), nullable=False),
        Column("code_sha256", String(64), nullable=False),
        Column("created_at", DateTime(), nullable=False),
        Column("used_at", DateTime(), nullable=True),
        UniqueConstraint("user_id", "code_sha256", name="uq_recovery_codes"),
    )
    sessions = Table(
        "web_sessions",
        meta,
        _id(),
        Column("token_sha256", String(64), nullable=False, unique=True),
        Column("user_id", String(24), ForeignKey("accounts.user_id"), nullable=False),
        _text("stage", 8),
        Column("csrf", String(64), nullable=False),
        Column("created_at", DateTime(), nullable=False),
        Column("last_seen_at", DateTime(), nullable=False),
        Column("ended_at", DateTime(), nullable=True),
        _text("end_reason", 40, nullable=True),
        _in("stage", _SESSION_STAGES_8, "ck_web_sessions_stage"),
        Index("ix_web_sessions_user", "user_id", "ended_at"),
    )
    events = Table(
        "account_events",
        meta,
        _id(),
        Column("at", DateTime(), nullable=False, index=True),
        _text("user_id", 24, nullable=True),
        _text("event", 40),
        _text("detail", 200),
        Index("ix_account_events_user", "user_id", "id"),
    )
    return accounts, invitations, codes, sessions, events


def accounts(conn: Connection) -> None:
    """Step 8: the accounts of the web portal (see :mod:`claims_engine.services.accounts`):
    accounts, their invitations, recovery codes, sessions and events, all empty. A store
    made from :mod:`claims_engine.store.tables` after they existed has them: left as they
    are."""
    meta = MetaData()
    _api_keys_7(meta)  # what accounts.key_id names
    for table in _account_tables(meta):
        table.create(conn, checkfirst=True)


# -- step 9: CMS NCCI edit tables ---------------------------------------------------------------


def _ncci_tables_9(meta: MetaData) -> Table:
    """The table as step 9 made it (frozen: :mod:`tables` moves on)."""
    return Table(
        "ncci_tables",
        meta,
        _id(),
        _text("quarter", 6),
        _text("kind", 3),
        _text("setting", 12),
        Column("effective_from", Date(), nullable=False),
        Column("digest", String(64), nullable=False),
        Column("edits", Integer(), nullable=False),
        Column("sources", Text(), nullable=False),
        Column("loaded_at", DateTime(), nullable=False),
        Column("payload", LargeBinary(), nullable=False),
        UniqueConstraint("kind", "setting", "quarter", name="uq_ncci_tables"),
        _in("kind", ("ptp", "mue"), "ck_ncci_tables_kind"),
        _in("setting", ("practitioner", "hospital", "dme"), "ck_ncci_tables_setting"),
    )


def ncci_tables(conn: Connection) -> None:
    """Step 9: ``ncci_tables``, empty (see :mod:`claims_engine.services.ncci_store`). A store made
    from :mod:`claims_engine.store.tables` after it existed has it: left as it is."""
    _ncci_tables_9(MetaData()).create(conn, checkfirst=True)


# -- step 10: prior authorizations ---------------------------------------------------------------

_AUTHORIZATION_STATES_10 = (
    "requested",
    "pended",
    "approved",
    "denied",
    "not required",
    "cancelled",
    "expired",
)
_AUTHORIZATION_SOURCES_10 = ("x12", "fhir", "csv", "reviewer")


def _prior_authorization_tables_10(meta: MetaData) -> tuple[Table, Table, Table, Table]:
    """The four tables as step 10 made them (frozen: :mod:`tables` moves on)."""
    authorizations = Table(
        "prior_authorizations",
        meta,
        _id(),
        Column("number", String(30), nullable=False, unique=True),
        _text("source", 8),
        _text("trace", 50),
        _text("requesting_npi", 10),
        _text("servicing_npi", 10),
        _text("member_id", 80),
        _text("family", 90),
        _text("plan_id", 50),
        _text("urgency", 10),
        _text("state", 16),
        _text("action", 2, nullable=True),
        _text("queue", 32, nullable=True),
        Column("received_at", DateTime(), nullable=False),
        Column("due_at", DateTime(), nullable=False),
        Column("decided_at", DateTime(), nullable=True),
        _text("decided_by", 100, nullable=True),
        Column("extended_at", DateTime(), nullable=True),
        Column("alerted_at", DateTime(), nullable=True),
        _text("appeal_of", 30, nullable=True),
        Column("effective_from", Date(), nullable=False),
        Column("effective_through", Date(), nullable=False),
        _text("rules_version", 64),
        Column("updated_at", DateTime(), nullable=False),
        Column("content", LargeBinary(), nullable=False),
        UniqueConstraint("source", "requesting_npi", "trace", name="uq_prior_authorizations_trace"),
        _in("state", _AUTHORIZATION_STATES_10, "ck_prior_authorizations_state"),
        _in("source", _AUTHORIZATION_SOURCES_10, "ck_prior_authorizations_source"),
        _in("urgency", ("standard", "expedited"), "ck_prior_authorizations_urgency"),
        Index("ix_prior_authorizations_open", "state", "due_at"),
        Index("ix_prior_authorizations_family", "family", "state"),
        Index("ix_prior_authorizations_requesting", "requesting_npi", "id"),
        Index("ix_prior_authorizations_servicing", "servicing_npi", "id"),
        Index("ix_prior_authorizations_decided", "decided_at"),
    )
    services = Table(
        "prior_authorization_services",
        meta,
        _id(),
        _ref("authorization_id", "prior_authorizations.id", index=False),
        Column("line", Integer(), nullable=False),
        _text("codes", 200),
        _text("code_kind", 9),
        _text("modifiers", 16),
        _text("unit", 8),
        _text("place_of_service", 2),
        _text("category", 32),
        Column("requested", _money(15, 3), nullable=False),
        Column("approved", _money(15, 3), nullable=False),
        _text("action", 2, nullable=True),
        _text("rule", 80),
        _text("reason_code", 8),
        Column("from_date", Date(), nullable=False),
        Column("to_date", Date(), nullable=False),
        UniqueConstraint("authorization_id", "line", name="uq_prior_authorization_services"),
    )
    uses = Table(
        "prior_authorization_uses",
        meta,
        _id(),
        _ref("authorization_id", "prior_authorizations.id", index=False),
        Column("service_line", Integer(), nullable=False),
        _text("payer_claim_number", 50),
        Column("line_number", Integer(), nullable=False),
        Column("units", _money(15, 3), nullable=False),
        Column("used_at", DateTime(), nullable=False),
        _text("reversed_by", 50, nullable=True),
        Column("reversed_at", DateTime(), nullable=True),
        UniqueConstraint(
            "authorization_id",
            "payer_claim_number",
            "line_number",
            name="uq_prior_authorization_uses",
        ),
        Index("ix_prior_authorization_uses_claim", "payer_claim_number"),
    )
    events = Table(
        "prior_authorization_events",
        meta,
        _id(),
        _ref("authorization_id", "prior_authorizations.id", index=False),
        Column("at", DateTime(), nullable=False),
        _text("actor", 100),
        _text("from_state", 16, nullable=True),
        _text("to_state", 16),
        _text("action", 2, nullable=True),
        Column("note", Text(), nullable=False),
        Index("ix_prior_authorization_events", "authorization_id", "id"),
    )
    return authorizations, services, uses, events


def prior_authorizations(conn: Connection) -> None:
    """Step 10: prior authorizations in the store (see
    :mod:`claims_engine.services.authorizations`): the requests, their services, the units
    claims drew on them and their events. The authorizations of the newest reference set's
    ``authorizations.csv`` become approved authorizations, as ``reference load`` imports them
    from now on. A store made from :mod:`claims_engine.store.tables` after they existed has
    them: left as they are."""
    tables = _prior_authorization_tables_10(MetaData())
    for table in tables:
        table.create(conn, checkfirst=True)
    _import_reference_authorizations(conn, tables)


def _import_reference_authorizations(
    conn: Connection, tables: tuple[Table, Table, Table, Table]
) -> None:
    """The newest stored reference set's ``authorizations.csv``, approved, as step 10 kept
    them (those already in the store are left)."""
    authorizations, services, _uses, events = tables
    sets = _reference_sets(MetaData(), sealed=True)
    newest = conn.execute(
        select(sets.c.id, sets.c.files, sets.c.loaded_at).order_by(sets.c.id.desc()).limit(1)
    ).first()
    if newest is None:
        return
    vault = current_vault()
    files = vault.open_json(newest.files, "reference_sets.files", newest.id)
    if not files.get("authorizations.csv") or not files.get("members.csv"):
        return
    with tempfile.TemporaryDirectory(prefix="claims-authorizations-") as tmp:
        (Path(tmp) / "authorizations.csv").write_text(files["authorizations.csv"], encoding="utf-8")
        (Path(tmp) / "members.csv").write_text(files["members.csv"], encoding="utf-8")
        found = load_authorizations(Path(tmp) / "authorizations.csv")
        members = {m.member_id: m for m in load_members(Path(tmp) / "members.csv")}
    known = set(conn.execute(select(authorizations.c.number)).scalars())
    at = newest.loaded_at
    for member_id, auths in sorted(found.items()):
        member = members.get(member_id)
        for auth in auths:
            if auth.number in known:
                continue
            known.add(auth.number)
            document = {
                "member_id": member_id,
                "subscriber_id": member.subscriber_id if member else member_id,
                "diagnoses": [],
                "reason": "",
            }
            family = f"family:{member.family_id}" if member else f"subscriber:{member_id}"
            new_id = conn.execute(
                authorizations.insert()
                .values(
                    number=auth.number,
                    source="csv",
                    trace=auth.number,
                    requesting_npi="",
                    servicing_npi="",
                    member_id=vault.lookup(member_id),
                    family=vault.lookup(family),
                    plan_id=member.plan_id if member else "",
                    urgency="standard",
                    state="approved",
                    action="A1",
                    queue=None,
                    received_at=at,
                    due_at=at,
                    decided_at=at,
                    decided_by="authorizations.csv",
                    effective_from=auth.effective_from,
                    effective_through=auth.effective_through,
                    rules_version="",
                    updated_at=at,
                    content=vault.seal_json(document, "prior_authorizations.content"),
                )
                .returning(authorizations.c.id)
            ).scalar_one()
            conn.execute(
                services.insert().values(
                    authorization_id=new_id,
                    line=1,
                    codes=" ".join(sorted(auth.procedures)),
                    code_kind="procedure",
                    modifiers="",
                    unit="units",
                    place_of_service="",
                    category="",
                    requested=_units_10(auth.units, conn),
                    approved=_units_10(auth.units, conn),
                    action="A1",
                    rule="",
                    reason_code="",
                    from_date=auth.effective_from,
                    to_date=auth.effective_through,
                )
            )
            conn.execute(
                events.insert().values(
                    authorization_id=new_id,
                    at=at,
                    actor="authorizations.csv",
                    from_state=None,
                    to_state="approved",
                    action="A1",
                    note="imported",
                )
            )


def _units_10(units: Any, conn: Connection) -> Any:
    """Units as the frozen column keeps them: thousandths on SQLite, a number elsewhere."""
    if conn.dialect.name == "sqlite":
        return int(units.scaleb(3))
    return units


def authorization_number_sequence(conn: Connection) -> None:
    """Step 11: on PostgreSQL, prior-authorization numbers come from the sequence
    ``prior_authorization_numbers`` (1 to 999,999,999, then 1 again, as the counter wrapped),
    continuing from the ``counters`` row that gave them until now: every new request updated
    that one row, and waited for the others' to commit. SQLite (one writer at a time) keeps
    the counter."""
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql(
        "CREATE SEQUENCE IF NOT EXISTS prior_authorization_numbers AS bigint "
        "MINVALUE 1 MAXVALUE 999999999 CYCLE"
    )
    last = conn.execute(
        text("SELECT value FROM counters WHERE name = 'prior_authorization'")
    ).scalar()
    if last:  # the last number given: the sequence's next is the one after it
        conn.execute(text("SELECT setval('prior_authorization_numbers', :last)"), {"last": last})
