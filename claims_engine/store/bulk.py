"""Batched writes: many rows in one statement, not a round trip per row.

On PostgreSQL, :func:`insert_rows` streams rows with ``COPY ... FROM STDIN`` (ids drawn from
the table's sequence up front when the caller needs them) and :func:`update_rows` sends one
``UPDATE ... FROM unnest(...)`` per batch. On SQLite, both are ``executemany`` of one
prepared statement, which runs in C. Rows are dicts with the same keys; values are what the
columns take (``Decimal`` money rounded to its scale, ``date``, ``dict`` for JSON columns,
plain ``str`` for states: psycopg would write an enum member by its name).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.types import JSON


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _as_sqlalchemy(exc: Exception, statement: str) -> Exception:
    """A driver error of a COPY as SQLAlchemy would have raised it, so that callers tell a
    lost connection (retried) from bad data the same way for every statement."""
    import psycopg

    if not isinstance(exc, psycopg.Error):
        return exc
    kind: type[DBAPIError] = DBAPIError
    if isinstance(exc, psycopg.OperationalError):
        kind = OperationalError
    elif isinstance(exc, psycopg.IntegrityError):
        kind = IntegrityError
    return kind(
        statement, None, exc, connection_invalidated=bool(exc.__class__ is psycopg.OperationalError)
    )


def insert_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, return_ids: bool = False
) -> list[int]:
    """Insert ``rows`` into ``table``; their new ids in order when ``return_ids``."""
    if not rows:
        return []
    if not _is_postgres(conn):
        if return_ids:
            result = conn.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            )
            return [int(i) for i in result.scalars()]
        conn.execute(insert(table), rows)
        return []
    columns = list(rows[0])
    ids: list[int] = []
    if return_ids:
        ids = [
            int(i)
            for i in conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": len(rows)},
            ).scalars()
        ]
        columns = ["id", *columns]
    json_at = [k for k, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    names = ", ".join(f'"{c}"' for c in columns)
    keys = columns[1:] if return_ids else columns
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    try:
        cursor = _raw(conn).cursor()
        with cursor.copy(statement) as copy:
            write = copy.write_row
            for n, row in enumerate(rows):
                values = [row[c] for c in keys]
                if return_ids:
                    values.insert(0, ids[n])
                for k in json_at:
                    if values[k] is not None:
                        values[k] = orjson.dumps(values[k]).decode()
                write(values)
    except Exception as exc:
        raise _as_sqlalchemy(exc, statement) from exc
    return ids


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: str = "id",
    where_state: tuple[str, str] | None = None,
) -> None:
    """Set columns of many rows by ``key``: each row holds the key and the new values. With
    ``where_state=(column, value)``, only rows whose column still has that value change."""
    if not rows:
        return
    columns = [c for c in rows[0] if c != key]
    if not _is_postgres(conn):
        condition = table.c[key] == bindparam(f"_k_{key}")
        if where_state is not None:
            condition = condition & (table.c[where_state[0]] == where_state[1])
        statement = (
            update(table).where(condition).values({c: bindparam(f"_v_{c}") for c in columns})
        )
        conn.execute(
            statement,
            [{f"_k_{key}": r[key], **{f"_v_{c}": r[c] for c in columns}} for r in rows],
        )
        return
    arrays = [key, *columns]
    casts = {name: _pg_array_type(table, name) for name in arrays}
    selects = ", ".join(f"unnest(CAST(:a_{n} AS {casts[n]})) AS {n}" for n in arrays)
    sets = ", ".join(f'"{c}" = v.{c}' for c in columns)
    target = f'"{table.name}"'
    sql = f"UPDATE {target} SET {sets} FROM (SELECT {selects}) AS v WHERE {target}.{key} = v.{key}"
    params: dict[str, Any] = {f"a_{n}": [r[n] for r in rows] for n in arrays}
    if where_state is not None:
        sql += f' AND "{table.name}"."{where_state[0]}" = :state_value'
        params["state_value"] = where_state[1]
    conn.execute(text(sql), params)


def _pg_array_type(table: Table, name: str) -> str:
    compiled = table.c[name].type.compile(dialect=_pg_dialect())
    return f"{compiled}[]"


def _pg_dialect() -> Any:
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()  # type: ignore[no-untyped-call]
