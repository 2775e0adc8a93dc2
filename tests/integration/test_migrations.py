"""Upgrading a store of the first release to health data sealed at rest (step 3), on SQLite and
PostgreSQL; and a new store, which passes through the same steps, ends with the schema that
``tables.py`` declares.

The old store is filled as the first release filled it. With encryption off, today's services
keep what that release kept (lookups are the identifiers themselves, a sealed document is its
plain JSON or text: see :mod:`claims_engine.store.vault`), but for two things: the claims'
``identity``, which the release did not have, and rejection reasons, which quoted the values
that failed (``Issue.describe()`` with its values). So the same submissions go twice through
today's services on SQLite: once with encryption off and reasons quoting their values, whose
rows, without ``identity`` and with documents decoded back to JSON and text, are written with
step 1's frozen tables into a store that steps 1 and 2 made (the old store); and once with the
suite's keys, which is what the engine makes of those submissions today: the upgraded store
must hold the same, value for value (sealed values opened).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Column, Engine, MetaData, Table, func, inspect, select, text
from sqlmodel import SQLModel

from claims_engine.domain.codec import claim_from_json, decision_from_json
from claims_engine.domain.errors import StoredDataError
from claims_engine.domain.issues import Issue, Location, Scope
from claims_engine.services import access
from claims_engine.services.intake import write_acknowledgments
from claims_engine.services.queries import ClaimFilter, claim_status, find_claims, search_claims
from claims_engine.services.reference import load_runtime
from claims_engine.services.remittance import write_remittances
from claims_engine.services.stored_adjudication import read_claim, read_decision
from claims_engine.store import migrations
from claims_engine.store import tables as t
from claims_engine.store.db import (
    MIGRATIONS,
    check_lookup_key,
    current_version,
    engine_for,
    next_numbers,
    upgrade,
)
from claims_engine.store.vault import Vault, current_vault, use_vault
from tests.integration.conftest import fresh_postgres_schema
from tests.integration.phi_scan import (
    BAD_BIRTH_DATE,
    Leak,
    files_with_phi,
    phi_values_of_files,
    scan,
)
from tests.integration.pipeline_support import (
    NOW,
    RULES,
    prepared_store,
    work_through,
)

pytestmark = pytest.mark.integration

SEALED = b"\x01"
# Columns that differ between two runs of the same submissions: an API key's id and secret are
# random.
RANDOM = {"api_keys": ("key_id", "secret_sha256"), "phi_reads": ("key_id",)}
Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


@pytest.fixture(autouse=True)
def _the_test_vault() -> Iterator[None]:
    use_vault(None)
    yield
    use_vault(None)


@dataclass(frozen=True)
class Made:
    """The same submissions made by today's services twice (see the module docstring)."""

    old_rows: dict[str, list[dict[str, Any]]]  # by table, as step 1's tables hold them
    plain: Rows  # made with encryption off (the reasons quoting their values)
    sealed: Rows  # made with the suite's keys, sealed values opened
    token: str  # the member key's
    member: str
    dependents: tuple[str, ...]


def _fill(engine: Engine, tmp: Path) -> tuple[str, str, tuple[str, ...]]:
    runtime = prepared_store(engine)
    # with a patient's birth date that is no date: rejected, and the old reason quotes it
    assert work_through(engine, runtime, files_with_phi(tmp, claims=60, seed=43))
    member, *others = sorted(runtime.reference.members)[:3]
    key = access.create_key(
        engine,
        access.Role.MEMBER,
        now=NOW,
        member_id=member,
        dependents=others,
        reference=runtime.reference,
    )
    principal = access.authenticate(engine, key.token, NOW, runtime.reference)
    assert principal is not None
    with engine.begin() as conn:
        access.record_reads(conn, principal, "/v1/claims", "claim", [1, 2], NOW)
    return key.token, member, tuple(others)


def _rows(engine: Engine, vault: Vault) -> Rows:
    """Every row of every table but ``schema_version``, by primary key, sealed values opened
    with ``vault`` and random columns left out."""
    found: Rows = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == t.SchemaVersion.__tablename__:
                continue
            rows = {}
            for r in conn.execute(select(table)).mappings():
                row = dict(r)
                for column in table.columns:
                    where = f"{table.name}.{column.name}"
                    if where in t.SEALED_COLUMNS:
                        row[column.name] = vault.open(row[column.name], where, row.get("id"))
                for name in RANDOM.get(table.name, ()):
                    del row[name]
                rows[tuple(r[c.name] for c in table.primary_key)] = row
            found[table.name] = rows
    return found


def _as_released(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """The rows of a store made with encryption off, as step 1's tables held them: documents
    as JSON and text again, no identity, no store settings."""
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for old in migrations.schema_1().sorted_tables:
            now = SQLModel.metadata.tables[old.name]
            rows = []
            for r in conn.execute(select(now).order_by(*now.primary_key)).mappings():
                names = list(old.c.keys())
                row = {name: r[name] for name in names}
                for name in names:
                    kind = t.SEALED_COLUMNS.get(f"{old.name}.{name}")
                    if kind == "json":
                        row[name] = orjson.loads(row[name])
                    elif kind == "text":
                        row[name] = bytes(row[name]).decode()
                rows.append(row)
            found[old.name] = rows
    return found


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    tmp = tmp_path_factory.mktemp("made")
    describe = Issue.describe
    plain_engine = engine_for(f"sqlite:///{tmp / 'plain.db'}")
    sealed_engine = engine_for(f"sqlite:///{tmp / 'sealed.db'}")
    try:
        with pytest.MonkeyPatch.context() as patch:
            # the first release kept rejection reasons with the values they quote
            def quoting(issue: Issue, *, values: bool = True) -> str:
                return describe(issue, values=True)

            patch.setattr(Issue, "describe", quoting)
            use_vault(Vault.off())
            token, member, dependents = _fill(plain_engine, tmp)
            old_rows = _as_released(plain_engine)
            plain = _rows(plain_engine, Vault.off())
        use_vault(None)
        _fill(sealed_engine, tmp)
        sealed = _rows(sealed_engine, current_vault())
        yield Made(old_rows, plain, sealed, token, member, dependents)
    finally:
        use_vault(None)
        plain_engine.dispose()
        sealed_engine.dispose()


def _writer(old: Table) -> Table:
    """Step 1's table with today's types for binding values: money is ``ExactDecimal``."""
    now = SQLModel.metadata.tables[old.name].c
    return Table(
        old.name,
        MetaData(),
        *(
            Column(
                c.name, now[c.name].type if isinstance(now[c.name].type, t.ExactDecimal) else c.type
            )
            for c in old.columns
        ),
    )


def _old_store(engine: Engine, rows: dict[str, list[dict[str, Any]]], version: int = 2) -> None:
    """A store made by steps 1 to ``version`` and filled with ``rows``."""
    assert upgrade(engine, MIGRATIONS[:version]) == [
        f"{v}: {n}" for v, n, _ in MIGRATIONS[:version]
    ]
    with engine.begin() as conn:
        for old in migrations.schema_1().sorted_tables:
            if rows[old.name]:
                conn.execute(_writer(old).insert(), rows[old.name])
        if engine.dialect.name == "postgresql":  # as a store that made its own ids would be
            for old in migrations.schema_1().sorted_tables:
                if "id" in old.c and rows[old.name]:
                    conn.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{old.name}', 'id'), :n)"),
                        {"n": max(r["id"] for r in rows[old.name])},
                    )


def _stored_leaks(engine: Engine, values: dict[str, str]) -> tuple[list[Leak], int]:
    """PHI in the values of every row of every table (sealed values aside); and how many
    sealed values there are."""
    leaks: list[Leak] = []
    sealed = 0
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{name}"')):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        if bytes(value).startswith(SEALED):
                            sealed += 1
                            continue
                        leaks += scan(name, bytes(value), values)
                    elif isinstance(value, str):
                        leaks += scan(name, value.encode(), values)
    return leaks, sealed


def _sealed_digest(engine: Engine) -> str:
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for column in t.SEALED_COLUMNS:
            table, name = column.split(".")
            for value in conn.execute(text(f'SELECT "{name}" FROM "{table}" ORDER BY id')):
                digest.update(bytes(value[0]))
    return digest.hexdigest()


def _first(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    return next(r for r in rows if all(r[k] == v for k, v in where.items()))


def test_an_old_store_is_sealed_and_reads_as_before(
    engine: Engine, made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = made.old_rows
    _old_store(engine, old)
    values = phi_values_of_files()
    before, _ = _stored_leaks(engine, values)
    kinds = {leak.kind for leak in before}
    assert any(f"'{BAD_BIRTH_DATE.decode()}'" in (r["error"] or "") for r in old["claims"])
    assert {"member id", "last name", "birth date", "patient control number"} <= kinds, kinds

    monkeypatch.setattr(migrations, "BATCH", 7)  # many batches in every table
    assert upgrade(engine) == [
        "3: seal health data at rest",
        "4: sender ids registered to provider keys",
        "5: examination of pended claims: pend items, queues, examiner actions",
        "6: key roles for examiners and supervisors",
        "7: enrollment: members and coverage spans, 834s applied, sponsor keys",
        "8: accounts of the web portal: passwords, second factor, sessions",
        "9: CMS NCCI edit tables by quarter",
        "10: prior authorizations: requests, services, units used by claims",
        "11: prior-authorization numbers from a sequence (PostgreSQL)",
    ]
    assert current_version(engine) == len(MIGRATIONS) == 11
    vault = current_vault()
    with engine.connect() as conn:
        check_lookup_key(conn, vault)  # the store notes the lookup key its lookups are made with

    # value for value what the engine makes of the same submissions today
    migrated = _rows(engine, vault)
    assert migrated.keys() == made.sealed.keys()
    for table, rows in made.sealed.items():
        assert migrated[table] == rows, table

    # the services read everything back
    runtime = load_runtime(engine, RULES, look_seconds=0)
    assert runtime.reference.members.keys() >= {made.member, *made.dependents}
    claim = _first(old["claims"], state="remitted")
    decision = _first(old["adjudications"], claim_id=claim["id"], kind="decision")
    assert find_claims(engine, claim["submitter_claim_id"], claim["billing_npi"]) == [
        r["id"]
        for r in old["claims"]
        if (r["submitter_claim_id"], r["billing_npi"])
        == (claim["submitter_claim_id"], claim["billing_npi"])
    ]
    with engine.connect() as conn:
        found = search_claims(conn, None, ClaimFilter(member_id=claim["member_id"]), limit=500)
    assert [s.id for s in found] == [
        r["id"] for r in old["claims"] if r["member_id"] == claim["member_id"]
    ]
    assert {(s.member_id, s.submitter_claim_id) for s in found if s.id == claim["id"]} == {
        (claim["member_id"], claim["submitter_claim_id"])
    }
    status = claim_status(engine, claim["id"])
    assert (status.member_id, status.submitter_claim_id) == (
        claim["member_id"],
        claim["submitter_claim_id"],
    )
    assert status.paid == decision["paid"] and status.state == "remitted"
    c, a = t.claims_table.c, t.adjudications_table.c
    with engine.connect() as conn:
        stored = conn.execute(
            select(c.claim, a.decision)
            .join_from(t.claims_table, t.adjudications_table)
            .where(a.id == decision["id"])
        ).one()
    assert read_claim(stored.claim) == claim_from_json(claim["claim"])
    assert read_decision(stored.decision, stored.claim) == decision_from_json(
        {**decision["decision"], "claim": claim["claim"]}
    )
    with engine.connect() as conn:
        raws = dict(
            conn.execute(select(t.interchanges_table.c.id, t.interchanges_table.c.raw)).all()
        )
    assert {k: vault.open(v, t.RAW) for k, v in raws.items()} == {
        r["id"]: r["raw"] for r in old["interchanges"]
    }
    acks = write_acknowledgments(engine, sorted(raws), tmp_path / "acks")
    assert sorted(p.read_bytes().decode() for p in acks) == sorted(
        r["content"] for r in old["acknowledgments"]
    )
    remits = write_remittances(engine, tmp_path / "835")
    assert {p.name: p.read_bytes().decode() for p in remits} == {
        r["file_name"]: r["content"] for r in old["remittances"]
    }
    principal = access.authenticate(engine, made.token, NOW, runtime.reference)
    assert principal is not None and principal.member_id == vault.lookup(made.member)
    assert {vault.lookup(m) for m in made.dependents} <= principal.members

    # no PHI left in the clear, in the rows or (SQLite) anywhere in the file
    leaks, sealed = _stored_leaks(engine, values)
    assert leaks == []
    # step 7 made the members of the stored reference set the enrollment's first versions
    with engine.connect() as conn:
        enrolled = conn.execute(select(func.count()).select_from(t.enrollment_members_table))
        imported = enrolled.scalar_one()
    assert imported == len(runtime.reference.members) > 0
    # step 10 made the stored set's authorizations.csv approved authorizations
    with engine.connect() as conn:
        authorizations = conn.execute(
            select(t.prior_authorizations_table.c.number).order_by("number")
        ).scalars()
        numbers = list(authorizations)
    assert numbers == sorted(
        a.number for found in runtime.reference.authorizations.values() for a in found
    )
    assert sealed == imported + len(numbers) + sum(
        len(old.get(c.split(".")[0], ())) for c in t.SEALED_COLUMNS
    )
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        engine.dispose()
        assert scan(path.name, path.read_bytes(), values, min_length=8) == []
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []

    # and a second upgrade does nothing
    digest = _sealed_digest(engine)
    assert upgrade(engine) == []
    assert _sealed_digest(engine) == digest


def test_without_encryption_an_old_store_is_kept_as_the_engine_keeps_it(
    engine: Engine, made: Made
) -> None:
    _old_store(engine, made.old_rows, version=1)  # as the first release left it
    off = Vault.off()
    use_vault(off)
    assert upgrade(engine) == [f"{v}: {n}" for v, n, _ in MIGRATIONS[1:]]
    with engine.connect() as conn:
        check_lookup_key(conn, off)
        assert conn.execute(text("SELECT value FROM store_settings")).scalar_one() == "off"
    migrated = _rows(engine, off)
    # what the engine keeps with encryption off, the reasons without their values (as today)
    expected = dict(made.plain)
    for table, column in (("claims", "error"), ("claim_events", "reason")):
        expected[table] = {
            k: {**row, column: made.sealed[table][k][column]} for k, row in expected[table].items()
        }
    assert migrated.keys() == expected.keys()
    for table, rows in expected.items():
        assert migrated[table] == rows, table
    claim = _first(made.old_rows["claims"], state="remitted")
    assert claim_status(engine, claim["id"]).member_id == claim["member_id"]


def test_reasons_lose_the_values_they_quote_one_issue_at_a_time() -> None:
    def issue(code: str, message: str) -> Issue:
        return Issue(code, message, 4, Scope.CLAIM, Location(position=22, segment_id="DMG"))

    issues = [
        issue("PATIENT-BIRTH-DATE-MISSING", "the patient's birth date (DMG02) is missing"),
        issue("X12-ELEMENT-8", "birth date (DMG02) '19931345' is not a date CCYYMMDD"),
        issue("ZIP-CODE-SHAPE", 'ZIP code "4532\'1" must be five or nine digits; or else'),
        issue("NPI-NOT-TEN-DIGITS", "the provider's NPI '12345' is not ten digits"),
    ]
    old = "; ".join(i.describe() for i in issues)
    assert "19931345" in old and "4532" in old
    assert migrations._without_values(old) == "; ".join(i.describe(values=False) for i in issues)


def _schema(engine: Engine) -> dict[str, Any]:
    """The schema as the database reports it, table by table and column by column (by name:
    PostgreSQL adds a column at the end of its table)."""
    found = inspect(engine)
    schema: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        schema[name] = {
            "columns": {
                c["name"]: (
                    str(c["type"].compile(dialect=engine.dialect)),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                )
                for c in found.get_columns(name)
            },
            "primary key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (str(i["name"]), tuple(map(str, i["column_names"])), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (str(u["name"]), tuple(u["column_names"]))
                for u in found.get_unique_constraints(name)
            ),
            "checks": sorted(
                (str(k["name"]), " ".join(str(k["sqltext"]).split()))
                for k in found.get_check_constraints(name)
            ),
        }
    return schema


def test_a_new_store_ends_with_the_schema_of_the_tables(engine: Engine, tmp_path: Path) -> None:
    assert upgrade(engine) == [f"{v}: {name}" for v, name, _ in MIGRATIONS]
    with engine.connect() as conn:
        check_lookup_key(conn, current_vault())
        assert conn.execute(text("SELECT count(*) FROM store_settings")).scalar_one() == 1
    if engine.dialect.name == "sqlite":
        declared = engine_for(f"sqlite:///{tmp_path / 'declared.db'}")
        SQLModel.metadata.create_all(declared)
        assert _schema(engine) == _schema(declared)
        declared.dispose()
        return
    with fresh_postgres_schema() as declared:
        SQLModel.metadata.create_all(declared)
        assert _schema(engine) == _schema(declared)


def test_a_store_sealed_from_the_start_is_left_as_it_is(sqlite_engine: Engine) -> None:
    # a development store: step 1 made the sealed schema before it was frozen
    SQLModel.metadata.create_all(sqlite_engine)
    schema = SQLModel.metadata.tables[t.SchemaVersion.__tablename__]
    with sqlite_engine.begin() as conn:
        conn.execute(t.store_settings_table.insert().values(name="lookup_key", value="f" * 16))
        for version, name, _ in MIGRATIONS[:2]:
            conn.execute(schema.insert().values(version=version, name=name, applied_at=NOW))
    assert upgrade(sqlite_engine) == [
        "3: seal health data at rest",
        "4: sender ids registered to provider keys",
        "5: examination of pended claims: pend items, queues, examiner actions",
        "6: key roles for examiners and supervisors",
        "7: enrollment: members and coverage spans, 834s applied, sponsor keys",
        "8: accounts of the web portal: passwords, second factor, sessions",
        "9: CMS NCCI edit tables by quarter",
        "10: prior authorizations: requests, services, units used by claims",
        "11: prior-authorization numbers from a sequence (PostgreSQL)",
    ]
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM store_settings")).scalar_one() == "f" * 16


def test_provider_keys_made_before_sender_ids_send_under_none(engine: Engine) -> None:
    """Step 4: a provider key of an older store still opens it, with no sender id (it may
    submit no 837 until one is registered); keys made afterwards hold theirs."""
    upgrade(engine, MIGRATIONS[:3])
    old = access.create_key(engine, access.Role.PROVIDER, now=NOW, npis=["1234567893"])
    assert upgrade(engine, MIGRATIONS[:4]) == ["4: sender ids registered to provider keys"]
    upgrade(engine)  # the keys as today's code reads them
    principal = access.authenticate(engine, old.token, NOW, None)
    assert principal is not None
    assert principal.npis == {"1234567893"} and principal.senders == frozenset()
    new = access.create_key(
        engine, access.Role.PROVIDER, now=NOW, npis=["1234567893"], senders=["SUBMITTER01"]
    )
    principal = access.authenticate(engine, new.token, NOW, None)
    assert principal is not None and principal.senders == {"SUBMITTER01"}
    assert [k["senders"] for k in access.list_keys(engine)] == [[], ["SUBMITTER01"]]


def test_a_store_upgraded_from_step_5_takes_examiner_and_supervisor_keys(engine: Engine) -> None:
    """Step 6: the role check of ``api_keys`` names ``examiner`` and ``supervisor``; the keys
    made before it (a provider's with its sender ids) open the store as before."""
    from sqlalchemy.exc import IntegrityError

    upgrade(engine, MIGRATIONS[:5])
    old = access.create_key(
        engine, access.Role.PROVIDER, now=NOW, npis=["1234567893"], senders=["SUBMITTER01"]
    )
    insurer = access.create_key(engine, access.Role.INSURER, now=NOW, label="analyst")
    with pytest.raises(IntegrityError, match="ck_api_keys_role"):  # step 5 refuses the role
        access.create_key(engine, access.Role.EXAMINER, now=NOW)
    assert upgrade(engine, MIGRATIONS[:6]) == ["6: key roles for examiners and supervisors"]
    upgrade(engine)  # the keys as today's code reads them
    examiner = access.create_key(engine, access.Role.EXAMINER, now=NOW, label="alice")
    supervisor = access.create_key(engine, access.Role.SUPERVISOR, now=NOW)
    for key, role in (
        (old, "provider"),
        (insurer, "insurer"),
        (examiner, "examiner"),
        (supervisor, "supervisor"),
    ):
        principal = access.authenticate(engine, key.token, NOW, None)
        assert principal is not None and principal.role == role
    principal = access.authenticate(engine, old.token, NOW, None)
    assert principal is not None and principal.senders == {"SUBMITTER01"}
    assert [(k["role"], k["label"], k["senders"]) for k in access.list_keys(engine)] == [
        ("provider", "", ["SUBMITTER01"]),
        ("insurer", "analyst", []),
        ("examiner", "alice", []),
        ("supervisor", "", []),
    ]
    with engine.begin() as conn, pytest.raises(IntegrityError, match="ck_api_keys_role"):
        conn.execute(
            t.api_keys_table.update()
            .where(t.api_keys_table.c.key_id == examiner.key_id)
            .values(role="auditor")
        )
    # a sender id still belongs to the key that holds it: the foreign key survived the rebuild
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(t.api_key_senders_table.insert().values(key_id="nosuchkey", sender_id="X1"))


def test_a_step_that_breaks_a_foreign_key_is_undone(sqlite_engine: Engine) -> None:
    # on SQLite the steps run with foreign keys off, and are checked before they commit
    def orphan(conn: Any) -> None:
        conn.exec_driver_sql(
            "INSERT INTO interchange_controls (sender_id, control_number, interchange_id) "
            "VALUES ('S', '000000001', 99)"
        )

    upgrade(sqlite_engine)
    steps = [*MIGRATIONS, (len(MIGRATIONS) + 1, "orphan", orphan)]
    with pytest.raises(StoredDataError, match="interchange_controls"):
        upgrade(sqlite_engine, steps)
    assert current_version(sqlite_engine) == len(MIGRATIONS)
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM interchange_controls")).scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_authorization_numbers_go_on_from_the_counter_after_step_11(engine: Engine) -> None:
    """Step 11: on PostgreSQL the next certification number is the one after the counter's
    last; SQLite keeps the counter (and a store that gave none starts at 1)."""
    upgrade(engine, MIGRATIONS[:10])
    with engine.begin() as conn:
        conn.execute(t.counters_table.insert().values(name="prior_authorization", value=41))
    assert upgrade(engine) == ["11: prior-authorization numbers from a sequence (PostgreSQL)"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            assert (
                conn.execute(text("SELECT nextval('prior_authorization_numbers')")).scalar() == 42
            )
        else:
            assert next_numbers(conn, "prior_authorization", 1) == 42


def test_a_new_stores_authorization_numbers_start_at_one(engine: Engine) -> None:
    upgrade(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            assert conn.execute(text("SELECT nextval('prior_authorization_numbers')")).scalar() == 1
            conn.execute(text("SELECT setval('prior_authorization_numbers', 999999999)"))
            # after the last of nine digits, 1 again (as the counter wrapped)
            assert conn.execute(text("SELECT nextval('prior_authorization_numbers')")).scalar() == 1
        else:
            assert next_numbers(conn, "prior_authorization", 1) == 1
