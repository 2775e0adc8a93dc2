"""Rotating the data keys: every sealed value sealed again under the active key.

An operator puts a new key in front of ``CLAIMS_DATA_KEYS`` (keeping the old ones behind it, so
they still open what they sealed), restarts the workers and the API, which from then on seal
with the new key, and runs ``claims-engine data-keys rotate``. It walks each sealed column by
row id, a batch at a time, and seals again every value that is not under the active key, one
transaction a batch. Sealed values are written once and never changed by the pipeline, so the
rotation never races a worker. Interrupted, it is simply run again: the values already under the
active key are skipped by the query itself (their first bytes name the key), so it resumes where
it stopped. A row committed during the walk behind it (a process still sealing under an older
key, a PostgreSQL transaction that took its id early and committed late) is caught by a second
walk; what is still left after that is reported. When nothing is left, the old keys can be
dropped from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Engine, Table, func, literal, select
from sqlmodel import SQLModel

from claims_engine.domain.errors import ConfigurationError
from claims_engine.store.bulk import update_rows
from claims_engine.store.db import begin_write
from claims_engine.store.tables import SEALED_COLUMNS
from claims_engine.store.vault import Vault, current_vault

DEFAULT_BATCH = 500


@dataclass(slots=True)
class Rotation:
    """Per sealed column: values sealed again (or, for a dry run, still to seal)."""

    key_id: str
    resealed: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    left: dict[str, int] = field(default_factory=dict)  # still under older keys at the end

    @property
    def total(self) -> int:
        return sum(self.resealed.values())


def rotate_data(
    engine: Engine,
    *,
    batch_size: int = DEFAULT_BATCH,
    dry_run: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Rotation:
    """Seal again, under the active key, every value sealed under another; with ``dry_run``,
    only count them. ``progress(column, done)`` is called after each batch."""
    vault = current_vault()
    if not vault.enabled or vault.active_key_id is None:
        raise ConfigurationError(
            "encryption is off (CLAIMS_ENCRYPTION): there is nothing to rotate"
        )
    if batch_size < 1:
        raise ConfigurationError("the batch size must be at least 1")
    header = vault.header
    result = Rotation(vault.active_key_id, dry_run=dry_run)
    for column, _kind in SEALED_COLUMNS.items():
        table_name, name = column.split(".")
        table = SQLModel.metadata.tables[table_name]
        values = table.c[name]
        stale = func.substr(values, 1, len(header)) != literal(header)
        if dry_run:
            result.resealed[column] = _count(engine, stale)
            continue
        done = 0
        for _walk in range(2):  # the second walk catches what committed behind the first
            done = _reseal(engine, vault, table, name, stale, batch_size, done, progress)
            left = _count(engine, stale)
            if not left:
                break
        result.resealed[column] = done
        if left:
            result.left[column] = left
    return result


def _count(engine: Engine, stale: ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(stale)).scalar_one())


def _reseal(
    engine: Engine,
    vault: Vault,
    table: Table,
    name: str,
    stale: ColumnElement[bool],
    batch_size: int,
    done: int,
    progress: Callable[[str, int], None] | None,
) -> int:
    """One walk over ``table`` by id, a transaction a batch; returns ``done`` plus the values
    sealed again."""
    column = f"{table.name}.{name}"
    values = table.c[name]
    last = 0
    while True:
        with begin_write(engine) as conn:
            rows = conn.execute(
                select(table.c.id, values)
                .where(table.c.id > last, stale)
                .order_by(table.c.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return done
            update_rows(
                conn,
                table,
                [
                    {"id": r.id, name: vault.seal(vault.open(r[1], column, r.id), column)}
                    for r in rows
                ],
            )
        last = int(rows[-1].id)
        done += len(rows)
        if progress is not None:
            progress(column, done)
