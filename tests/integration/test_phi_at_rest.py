"""PHI at rest: a store opened without its keys shows no patient; a wrong key fails every read
with a clear error; rotating the data keys seals everything again and can be resumed.

The store is filled the way the pipeline fills it: the implementation guides' 837s (mostly
rejected, which keeps their claims too) and a generated batch, adjudicated and paid, with an API
key for a member and audited reads. Then the SQLite file itself, and a ``pg_dump`` of the
PostgreSQL schema, are searched for every PHI value of the fixtures (see
:mod:`tests.integration.phi_scan`).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from claims_engine.domain.errors import DataKeyError
from claims_engine.services import access
from claims_engine.services.data_keys import rotate_data
from claims_engine.services.intake import write_acknowledgments
from claims_engine.services.queries import claim_status, find_claims
from claims_engine.services.reference import Runtime, load_runtime
from claims_engine.services.remittance import write_remittances
from claims_engine.services.stored_adjudication import adjudicate_claims
from claims_engine.store import tables as t
from claims_engine.store.vault import DataKey, Vault, current_vault, use_vault
from tests.integration.conftest import POSTGRES_URL, in_ci
from tests.integration.phi_scan import (
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

SEALED_PREFIX = b"\x01"


@pytest.fixture(autouse=True)
def _the_test_vault() -> Iterator[None]:
    """Each test starts and ends with the suite's keys (from the environment)."""
    use_vault(None)
    yield
    use_vault(None)


def _fill(engine: Engine, tmp: Path) -> Runtime:
    runtime = prepared_store(engine)
    work_through(engine, runtime, files_with_phi(tmp, claims=300, seed=41))
    member = next(iter(runtime.reference.members))
    key = access.create_key(
        engine, access.Role.MEMBER, now=NOW, member_id=member, reference=runtime.reference
    )
    principal = access.authenticate(engine, key.token, NOW, runtime.reference)
    assert principal is not None
    with engine.begin() as conn:
        access.record_reads(conn, principal, "/v1/claims", "claim", [1, 2], NOW)
    return runtime


def _logical_sqlite(path: Path, values: dict[str, str]) -> tuple[list[Leak], int]:
    """Every value of every row of every table, sealed values aside (without the key they
    are ciphertext): the text columns and any bytes that are not sealed."""
    leaks: list[Leak] = []
    sealed = 0
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        if value.startswith(SEALED_PREFIX):
                            sealed += 1
                            continue
                        leaks += scan(table, value, values)
                    elif isinstance(value, str):
                        leaks += scan(table, value.encode(), values)
    return leaks, sealed


def _pg_dump(engine: Engine, out: Path) -> Path:
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    dump = shutil.which("pg_dump")
    if dump is None:
        message = "pg_dump is not installed (Debian: postgresql-client)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    target = out / "store.sql"
    subprocess.run(
        [dump, "--no-owner", "--schema", schema, "--file", str(target), POSTGRES_URL],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def _dump_values(path: Path) -> Iterator[tuple[str, bytes]]:
    """(table, value) of every field of the dump's COPY blocks, ``bytea`` decoded from hex."""
    table = ""
    copying = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            table, copying = line.split()[1], True
            continue
        if copying and line == "\\.":
            copying = False
            continue
        if not copying:
            yield "schema", line.encode()
            continue
        for field in line.split("\t"):
            if field.startswith("\\\\x"):
                yield table, bytes.fromhex(field[3:])
            else:
                yield table, field.encode()


def _fingerprint_of_sealed(values: Iterator[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
    for table, value in values:
        if not value.startswith(SEALED_PREFIX + bytes((len("test-1"),)) + b"test-1"):
            yield table, value


def test_a_sqlite_store_shows_no_phi_without_its_key(sqlite_engine: Engine, tmp_path: Path) -> None:
    _fill(sqlite_engine, tmp_path)
    sqlite_engine.dispose()
    values = phi_values_of_files()
    assert len(values) > 500  # the scan looks for something: ids, names, dates, addresses
    path = Path(sqlite_engine.url.database or "")
    with sqlite3.connect(path) as db:  # the bad birth date was refused, and said so
        reasons = [r[0] for r in db.execute("SELECT error FROM claims WHERE error LIKE '%DMG02%'")]
    assert reasons and all("'…'" in r for r in reasons), reasons
    leaks, sealed = _logical_sqlite(path, values)
    assert sealed > 900  # claims, identities, decisions, acknowledgments, 835s, raw files
    assert leaks == []
    # and the file's bytes, free pages and all (long values: short ones match ciphertext)
    assert scan(path.name, path.read_bytes(), values, min_length=8) == []


def test_a_postgresql_dump_shows_no_phi_without_its_key(
    postgres_engine: Engine, tmp_path: Path
) -> None:
    _fill(postgres_engine, tmp_path)
    dump = _pg_dump(postgres_engine, tmp_path)
    values = phi_values_of_files()
    fields = list(_dump_values(dump))
    assert sum(1 for _, v in fields if v.startswith(SEALED_PREFIX)) > 900
    leaks = [
        leak
        for table, value in _fingerprint_of_sealed(iter(fields))
        for leak in scan(table, value, values)
    ]
    assert leaks == []


def _every_read(engine: Engine, tmp: Path) -> dict[str, Any]:
    """Try each kind of read of sealed data; what each raised (or returned)."""
    outcomes: dict[str, Any] = {}
    with engine.connect() as conn:
        claim_id = conn.execute(select(t.claims_table.c.id).limit(1)).scalar_one()
    reads: dict[str, Callable[[], object]] = {
        "reference": lambda: load_runtime(engine, RULES, look_seconds=0),
        "claim status": lambda: claim_status(engine, claim_id),
        "acknowledgments": lambda: write_acknowledgments(engine, [1], tmp / "acks"),
        "835s": lambda: write_remittances(engine, tmp / "835"),
    }
    for name, read in reads.items():
        try:
            outcomes[name] = read()
        except DataKeyError as exc:
            outcomes[name] = exc
    return outcomes


def test_a_wrong_key_fails_every_read_with_a_clear_error(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    runtime = _fill(sqlite_engine, tmp_path)
    good = current_vault()
    lookup = bytes(32)  # the store checks the lookup key first: keep the right one's lookups
    impostors = {
        "same id, other key": Vault([DataKey("test-1", b"\x07" * 32)], lookup),
        "another key id": Vault([DataKey("k-other", b"\x07" * 32)], lookup),
    }
    for label, vault in impostors.items():
        # the lookup key stays the store's: it is the data key that is wrong
        vault._lookup_key = good._lookup_key
        use_vault(vault)
        outcomes = _every_read(sqlite_engine, tmp_path / label.replace(" ", "-"))
        for name, outcome in outcomes.items():
            assert isinstance(outcome, DataKeyError), (label, name, outcome)
            message = str(outcome)
            assert "." in message.split(":", maxsplit=1)[0], message  # names the table and column
            assert "PG0" not in message and "HILL" not in message  # never the value
        # a batch whose claims cannot be opened is retried, not pended: nothing is lost
        with sqlite_engine.connect() as conn:
            waiting = list(
                conn.execute(
                    select(t.claims_table.c.id).where(t.claims_table.c.state == "pended")
                ).scalars()
            )
        if waiting:
            with pytest.raises(DataKeyError):
                adjudicate_claims(sqlite_engine, waiting, runtime, NOW)
    use_vault(None)
    assert not any(
        isinstance(o, Exception) for o in _every_read(sqlite_engine, tmp_path / "ok").values()
    )


def test_another_lookup_key_is_refused_by_the_store(sqlite_engine: Engine, tmp_path: Path) -> None:
    _fill(sqlite_engine, tmp_path)
    good = current_vault()
    other = Vault([DataKey("test-1", good._keys["test-1"][0].secret)], b"\x09" * 32)
    use_vault(other)
    from claims_engine.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="member lookups were made with lookup key"):
        load_runtime(sqlite_engine, RULES, look_seconds=0)
    use_vault(Vault.off())
    with pytest.raises(ConfigurationError, match="made with encryption on"):
        load_runtime(sqlite_engine, RULES, look_seconds=0)


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            column: conn.execute(
                text(f'SELECT count(*) FROM "{column.split(".")[0]}"')
            ).scalar_one()
            for column in t.SEALED_COLUMNS
        }


def _key_ids(engine: Engine) -> dict[str, set[str | None]]:
    vault = current_vault()
    found: dict[str, set[str | None]] = {}
    with engine.connect() as conn:
        for column in t.SEALED_COLUMNS:
            table, name = column.split(".")
            rows = conn.execute(text(f'SELECT "{name}" FROM "{table}"')).scalars()
            found[column] = {vault.key_id_of(bytes(v)) for v in rows}
    return found


def test_rotating_the_data_keys_seals_everything_again_and_resumes(
    engine: Engine, tmp_path: Path
) -> None:
    _fill(engine, tmp_path)
    before = _key_ids(engine)
    assert all(ids == {"test-1"} for ids in before.values() if ids), before
    good = current_vault()
    lookup_key = good._lookup_key
    old = good._keys["test-1"][0]
    new = DataKey("test-2", b"\x05" * 32)
    use_vault(Vault([new, old], lookup_key))

    total = rotate_data(engine, dry_run=True).total
    assert total == sum(_row_counts(engine).values()) > 900  # every value of every row

    class Stop(Exception):
        pass

    def stop_in_the_claims(column: str, done: int) -> None:
        if column == t.CLAIM and done >= 100:
            raise Stop

    with pytest.raises(Stop):  # interrupted in claims.claim, two batches of 50 committed
        rotate_data(engine, batch_size=50, progress=stop_in_the_claims)
    left = rotate_data(engine, dry_run=True).resealed
    counts = _row_counts(engine)
    for column in t.SEALED_COLUMNS:
        before_claims = list(t.SEALED_COLUMNS).index(column) < list(t.SEALED_COLUMNS).index(t.CLAIM)
        expected = 0 if before_claims else counts[column] - (100 if column == t.CLAIM else 0)
        assert left[column] == expected, column
    resumed = rotate_data(engine, batch_size=200)
    assert resumed.total == sum(left.values())
    assert rotate_data(engine, dry_run=True).total == 0
    assert all(ids <= {"test-2"} for ids in _key_ids(engine).values())

    # the old key can go: everything opens with the new one alone, and nothing changed
    use_vault(Vault([new], lookup_key))
    outcomes = _every_read(engine, tmp_path / "after")
    assert not any(isinstance(o, Exception) for o in outcomes.values()), outcomes
    with engine.connect() as conn:
        row = conn.execute(
            select(t.claims_table.c.payer_claim_number).where(
                t.claims_table.c.payer_claim_number.is_not(None)
            )
        ).first()
    assert row is not None and find_claims(engine, row.payer_claim_number)
