"""Database engines and schema migrations for the store.

``engine_for(url)`` builds an engine: SQLite in ``var/claims.db`` under the current directory
when no URL is given, or the URL as given, where a plain ``postgresql://user@host:port/db`` is
mapped to the psycopg 3 driver. Reading ``CLAIMS_DATABASE_URL`` is the caller's business (the CLI).

``upgrade(engine)`` is the migration runner, doing what Alembic's ``upgrade head`` would with
less machinery:

* ``MIGRATIONS`` is an ordered list of steps ``(version, name, function)``; versions count up
  from 1 with no gaps. Step 1 creates the schema of the first release, frozen in
  :mod:`claims_engine.store.migrations`; the later steps bring it to what
  :mod:`claims_engine.store.tables` declares now, so a new database and an upgraded one pass
  through the same schemas.
* Every applied step has a row in ``schema_version``. ``upgrade`` applies the steps that have no
  row yet, in order, and returns their names: a second run applies nothing and returns ``[]``.
* Each step and its ``schema_version`` row commit in one transaction, so a failed step leaves
  the schema at the previous version (DDL is transactional on PostgreSQL, and on SQLite with the
  explicit ``BEGIN`` that ``engine_for`` sets up). Concurrent upgrades are serialized, by a
  transaction-scoped advisory lock on PostgreSQL and by ``BEGIN IMMEDIATE`` on SQLite; the
  later one sees the earlier one's row and skips the step.
* On SQLite a step runs with foreign keys off, so that it can rebuild a table whose column
  types change (SQLite's ``ALTER TABLE`` cannot change them); ``PRAGMA foreign_key_check``
  must then find nothing before the step commits.
* Adding a step: append ``(n + 1, "what it does", function)`` that takes a ``Connection`` and
  changes the schema and existing rows with explicit SQL (``ALTER TABLE``, ``UPDATE``), with
  frozen copies of the tables it makes or changes (never those of ``tables.py``, which move on),
  and edit ``tables.py`` to match. Steps are never edited once released.
"""

from __future__ import annotations

import re
import threading
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlmodel import SQLModel

from claims_engine.domain.errors import ConfigurationError, StoredDataError
from claims_engine.runtime import clock
from claims_engine.store import tables
from claims_engine.store.migrations import (
    LOOKUP_SETTING,
    accounts,
    authorization_number_sequence,
    create_schema,
    enrollment,
    examination,
    examiner_roles,
    ncci_tables,
    prior_authorizations,
    register_senders,
    seal_health_data,
)
from claims_engine.store.vault import Vault

DEFAULT_SQLITE_PATH = Path("var") / "claims.db"
# The counter of the interchange control numbers (ISA13) of everything the engine sends.
CONTROL_COUNTER = "interchange_control"
_UPGRADE_LOCK_KEY = 0x636C61696D73  # "claims": any constant shared by every upgrader

# Execution option: how a SQLite transaction begins ("IMMEDIATE" for one that will write).
SQLITE_BEGIN = "claims_sqlite_begin"

Step = tuple[int, str, Callable[[Connection], None]]


def record_lookup_key(conn: Connection, vault: Vault) -> None:
    """Note in the store which lookup key its lookup columns are made with."""
    conn.execute(
        tables.store_settings_table.insert().values(name=LOOKUP_SETTING, value=vault.fingerprint())
    )


def check_lookup_key(conn: Connection, vault: Vault) -> None:
    """Refuse a vault whose lookups differ from the ones the store holds: every search by
    member would find nothing, and new rows would not match the old."""
    table = tables.store_settings_table
    stored = conn.execute(select(table.c.value).where(table.c.name == LOOKUP_SETTING)).scalar()
    if stored is None or stored == vault.fingerprint():
        return
    if stored == "off" or not vault.enabled:
        raise ConfigurationError(
            f"this store was made with encryption {'off' if stored == 'off' else 'on'} and this "
            f"process has it {'on' if vault.enabled else 'off'} (CLAIMS_ENCRYPTION): use the "
            "store's setting, or a new store"
        )
    raise ConfigurationError(
        f"this store's member lookups were made with lookup key {stored}, and the configured "
        f"lookup key is {vault.fingerprint()}: configure the store's keys (CLAIMS_LOOKUP_KEY, "
        "or the key file it was made with)"
    )


def _audit_anchors(conn: Connection) -> None:
    # The table as this step made it, frozen here (tables.py may change it in later steps).
    # A database that step 1 made since has it and the index already: both are skipped then.
    anchors = Table(
        "audit_anchors",
        MetaData(),
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
        Column("since", DateTime(), nullable=False),
        Column("until", DateTime(), nullable=False),
        Column("records", BigInteger(), nullable=False),
        Column("head", String(64), nullable=False),
        Column("format", String(8), nullable=False),
        Column("created_at", DateTime(), nullable=False),
    )
    anchors.create(conn, checkfirst=True)
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_claim_events_at ON claim_events (at, id)")


MIGRATIONS: list[Step] = [
    (1, "create the schema", create_schema),
    (2, "audit anchors, and claim events by time", _audit_anchors),
    (3, "seal health data at rest", seal_health_data),
    (4, "sender ids registered to provider keys", register_senders),
    (5, "examination of pended claims: pend items, queues, examiner actions", examination),
    (6, "key roles for examiners and supervisors", examiner_roles),
    (7, "enrollment: members and coverage spans, 834s applied, sponsor keys", enrollment),
    (8, "accounts of the web portal: passwords, second factor, sessions", accounts),
    (9, "CMS NCCI edit tables by quarter", ncci_tables),
    (10, "prior authorizations: requests, services, units used by claims", prior_authorizations),
    (11, "prior-authorization numbers from a sequence (PostgreSQL)", authorization_number_sequence),
]


def database_url(url: str | None) -> str:
    """The SQLAlchemy URL for ``url``: the default SQLite file, or the psycopg 3 driver for a
    plain PostgreSQL URL."""
    if not url:
        return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


URL_EXAMPLES = "postgresql://USER@HOST:5432/DATABASE or sqlite:///PATH"
_PASSWORD = re.compile(r"(?<=://)([^/@:]*):.*@")


def shown_url(text: str) -> str:
    """A URL as written, for a message: its password (if any) as ``***``."""
    return _PASSWORD.sub(r"\1:***@", text)


def checked_url(url: str | None, *, variable: str = "CLAIMS_DATABASE_URL") -> URL:
    """The SQLAlchemy URL of ``url`` (see :func:`database_url`), or a
    :class:`ConfigurationError` naming ``variable`` and what is wrong: not a URL, a port that
    is no number, a database SQLAlchemy does not know. Nothing is connected to."""

    def refused(problem: str) -> ConfigurationError:
        shown = shown_url(url or "")
        return ConfigurationError(f"{variable} {problem}: {shown!r} (use {URL_EXAMPLES})")

    try:
        parsed = make_url(database_url(url))
        parsed.get_dialect()
    except NoSuchModuleError as exc:  # an ArgumentError too: first
        raise refused(f"names an unknown kind of database ({parsed.get_backend_name()!r})") from exc
    except ArgumentError as exc:
        raise refused("is not a database URL") from exc
    except ValueError as exc:  # the port, read as a number
        raise refused("has a port that is not a number") from exc
    return parsed


def _sqlite_folder(path: Path) -> None:
    """Make the folder of a SQLite file; refuse a directory given as the file."""
    if path.is_dir():
        raise ConfigurationError(f"the store {path} is a directory, not a SQLite database")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        where = exc.filename or path.parent
        if isinstance(exc, FileExistsError):
            reason = f"{where} is a file, not a folder"
        else:
            reason = f"{where}: {exc.strerror or exc}"
        raise ConfigurationError(f"the store {path} cannot be made: {reason}") from exc


def engine_for(url: str | None = None, *, pool_size: int = 5, pre_ping: bool = True) -> Engine:
    """An engine for ``url`` (see :func:`database_url`); creates the SQLite file's directory.

    On PostgreSQL the pool keeps ``pool_size`` connections (and as many more under a burst);
    ``pre_ping`` checks each connection as it leaves the pool, a round trip that a server
    answering thousands of short reads a second does without (a connection found dead fails
    its one statement, and the pool is emptied and refilled).
    """
    parsed = checked_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _sqlite_folder(Path(parsed.database))
        engine = create_engine(
            parsed,
            json_serializer=_json_text,
            json_deserializer=orjson.loads,
            # one writer at a time: a long intake makes the others wait, not fail after 5 s
            connect_args={"timeout": 120},
        )
        _sqlite_transactions(engine)
        return engine
    _fast_postgres_json()
    try:
        return create_engine(
            parsed, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=pool_size
        )
    except Exception as exc:  # a missing driver, an unknown dialect
        raise ConfigurationError(f"cannot use database URL {parsed!r}: {exc}") from exc


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def _fast_postgres_json() -> None:
    # JSONB columns hold claims and decisions: orjson reads and writes them several times
    # faster than the standard library, which psycopg uses by default.
    from psycopg.types.json import set_json_dumps, set_json_loads

    set_json_dumps(orjson.dumps)
    set_json_loads(orjson.loads)


def _sqlite_transactions(engine: Engine) -> None:
    # pysqlite opens transactions lazily and never around DDL; take over so that a migration
    # step (DDL and its schema_version row) is one transaction, and enforce foreign keys.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # "IMMEDIATE" takes the write lock up front: two writers that both began with a read
        # would otherwise deadlock on the upgrade to a write lock (SQLITE_BUSY at once).
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # each statement its own transaction (KeptConnections): none to open
        mode = options.get(SQLITE_BEGIN, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _schema_version() -> Table:
    return SQLModel.metadata.tables[tables.SchemaVersion.__tablename__]


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK_KEY})")


def applied_versions(conn: Connection) -> set[int]:
    table = _schema_version()
    return set(conn.execute(select(table.c.version)).scalars())


def current_version(engine: Engine) -> int:
    """The highest applied step, 0 for an empty database."""
    with engine.connect() as conn:
        if not conn.dialect.has_table(conn, tables.SchemaVersion.__tablename__):
            return 0
        return max(applied_versions(conn), default=0)


def upgrade(engine: Engine, migrations: list[Step] | None = None) -> list[str]:
    """Apply the steps not applied yet, each in its own transaction; returns their names."""
    steps = MIGRATIONS if migrations is None else migrations
    versions = [v for v, _name, _fn in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise ConfigurationError(f"migration versions must be 1, 2, 3 ...; got {versions}")
    table = _schema_version()
    engine = engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
    with engine.begin() as conn:
        _lock(conn)
        table.create(conn, checkfirst=True)
    applied: list[str] = []
    for version, name, step in steps:
        with engine.connect() as conn, _foreign_keys_off(conn), conn.begin():
            _lock(conn)
            if version in applied_versions(conn):
                continue
            step(conn)
            _check_foreign_keys(conn, version)
            conn.execute(table.insert().values(version=version, name=name, applied_at=clock.now()))
        applied.append(f"{version}: {name}")
    return applied


@contextmanager
def _foreign_keys_off(conn: Connection) -> Iterator[None]:
    """On SQLite, foreign keys off for the transaction to come (the pragma is ignored inside
    one), and on again after it."""
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys = ON")


def _check_foreign_keys(conn: Connection, version: int) -> None:
    if conn.dialect.name != "sqlite":
        return  # PostgreSQL checked them as the step went
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables_of = sorted({str(row[0]) for row in broken})
        raise StoredDataError(
            f"migration step {version} would leave {len(broken)} rows whose foreign keys "
            f"name no row (in {', '.join(tables_of)})"
        )


def begin_write(engine: Engine) -> Any:
    """A transaction that will write: on SQLite it takes the write lock up front, so two
    writers queue instead of failing on the upgrade from a read lock."""
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"}).begin()


class KeptConnections:
    """Up to ``keep`` connections of ``engine`` kept open between uses, in autocommit: for a
    route that runs a few short statements a request, many times a second, where taking a
    connection from SQLAlchemy's pool and giving it back (its reset and events) costs the
    process more CPU than the statements themselves, and a transaction's BEGIN and COMMIT
    would be two round trips more. A connection whose use raised is given back to the pool,
    not kept (the next use takes another: a database that went away and came back is used
    again).
    """

    def __init__(self, engine: Engine, keep: int, *, generic_plans: bool = False) -> None:
        self.engine = engine
        self.keep = keep
        # PostgreSQL plans a prepared statement again for each call while it expects a plan
        # for its parameters to beat the generic one: for a page's statement of six
        # subqueries that planning (0.7 ms) costs the server more than the run (0.2 ms).
        # ``generic_plans``: for routes whose statements have one fixed shape and parameters
        # of one member or request (no skewed value a generic plan would serve badly), plan
        # each once per connection
        self.generic_plans = generic_plans
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self.generic_plans and is_postgres(conn):
                conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        try:
            yield conn
        except BaseException:
            self._give_back(conn)
            raise
        with self._lock:
            if not self._closed and len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        self._give_back(conn)

    def _give_back(self, conn: Connection) -> None:
        """``conn`` back to the engine's pool; one whose session settings were changed is
        reset first (the pool's next user would inherit them), or closed when that fails."""
        if self.generic_plans and is_postgres(conn):
            try:
                conn.exec_driver_sql("RESET plan_cache_mode")
            except SQLAlchemyError:  # a connection gone bad: not the pool's again
                conn.invalidate()
        conn.close()

    def close(self) -> None:
        """Give the idle connections back to the engine's pool, and any in use when it ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._give_back(conn)


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


class DriverStatement:
    """A PostgreSQL statement of a hot path, compiled by SQLAlchemy once and then run on the
    driver's connection, prepared by the server: past SQLAlchemy's own work per statement
    (finding the compiled form in its cache, processing parameters and rows: some 0.1 ms of
    CPU, more than a short indexed read costs the database).

    ``build`` makes the statement (called once, on first use); its parameters are
    :func:`~sqlalchemy.bindparam` names, a list passed as a PostgreSQL array (``= ANY(...)``
    with an ``ARRAY`` bindparam, never an expanding ``IN``). Rows are psycopg's named tuples:
    the types as the driver returns them (``numeric`` a ``Decimal``, ``timestamp`` a naive
    ``datetime``, ``bytea`` ``bytes``, JSON parsed), no SQLAlchemy type decorator applied.
    PostgreSQL only: the caller keeps its SQLAlchemy statement for SQLite."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._compiled: tuple[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        # the rows' named tuple, made from the first result's column names: a statement's
        # columns never change, and psycopg's own namedtuple_row reads and hashes the cursor's
        # description of every result to find it (half the driver's CPU of a short read)
        self._make_row: Callable[[Any], Any] | None = None

    def _sql(self, conn: Connection) -> tuple[str, dict[str, Any]]:
        found = self._compiled
        if found is None:
            with self._lock:
                if self._compiled is None:
                    compiled = self._build().compile(dialect=conn.dialect)
                    constants = {k: v for k, v in compiled.params.items() if v is not None}
                    self._compiled = (str(compiled), constants)
                found = self._compiled
        return found

    def _row_maker(self, cursor: Any) -> Callable[[Any], Any]:
        """psycopg's row factory: the statement's named tuple's ``_make``."""
        found = self._make_row
        if found is None:
            columns = cursor.description
            if columns is None:  # no rows to make (an INSERT without RETURNING)
                return tuple
            names = [c.name for c in columns]
            kind: Any = namedtuple("Row", names, rename=True)  # type: ignore[misc]
            found = self._make_row = kind._make
        return found

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        """Every row the statement answers with ``params``."""
        from psycopg import pq  # the PostgreSQL driver, only where it is used

        sql, constants = self._sql(conn)
        driver: Any = conn.connection.driver_connection
        with driver.cursor(row_factory=self._row_maker) as cursor:
            cursor.execute(sql, {**constants, **params} if constants else params, prepare=True)
            result = cursor.pgresult
            if result is None or result.status != pq.ExecStatus.TUPLES_OK:
                return []  # a statement answering no rows (an INSERT without RETURNING)
            return list(cursor.fetchall())

    def first(self, conn: Connection, params: dict[str, Any]) -> Any | None:
        """The first row the statement answers, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None


def next_numbers(conn: Connection, name: str, count: int, *, wrap: int = 999_999_999) -> int:
    """Reserve ``count`` numbers of the sequence ``name`` and return the first; numbers run
    from 1 to ``wrap`` and start again. The row stays locked until the transaction ends."""
    table = tables.counters_table
    query = select(table.c.value).where(table.c.name == name)
    if is_postgres(conn):
        query = query.with_for_update()
    current = conn.execute(query).scalar()
    if current is None:
        # The first use: transactions starting side by side may all find no row. One creates
        # it; the others' inserts do nothing and wait on its lock, then read what it left.
        insert = pg_insert if is_postgres(conn) else sqlite_insert
        conn.execute(
            insert(table).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"])
        )
        current = conn.execute(query).scalar_one()
    first = int(current) % wrap + 1
    last = (first + count - 1 - 1) % wrap + 1
    conn.execute(table.update().where(table.c.name == name).values(value=last))
    return first


def is_transient(exc: BaseException) -> bool:
    """A database error worth retrying the whole message for: the server went away, a lock
    timed out, a serialization failure or deadlock."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def error_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of an error's message (a database error's, not its SQL and parameters),
    for a claim's or an interchange's recorded reason."""
    detail = getattr(exc, "orig", None) or exc
    lines = str(detail).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:limit]
