"""The audit export: every state change of a claim and every read of health data in a time
range, in one order, chained by hashes, and its verification against the file and the store.

What an export holds, in this order (see README, ``claims-engine audit``):

* a header naming the range: ``{"kind": "header", "export": "claims-engine audit",
  "version": 1, "since": ..., "until": ...}`` (times ISO 8601 UTC, ``since`` inclusive,
  ``until`` exclusive);
* one record per ``claim_events`` row (``kind`` ``claim_event``: the claim's id and payer claim
  number, actor, states and reason), per ``phi_reads`` row (``kind`` ``phi_read``: key, role,
  route, record type and id), per examiner action (``examiner_action``: who, which action on
  which claim and pend items, the SHA-256 of its reason, the decision before and after) and per
  second examiner's approval or refusal (``examiner_approval``, at the time it was given),
  ordered by time, then kind, then row id. Each has ``seq``
  (1, 2, 3 ...), ``prev`` and ``hash``: ``hash`` is the SHA-256 (hex) of ``prev`` followed by
  the canonical JSON of the record without ``hash``, and ``prev`` is the previous record's
  ``hash``, or for the first record the SHA-256 of the header's canonical JSON. Canonical JSON
  is sorted keys, no spaces, UTF-8 (non-ASCII characters as themselves);
* an end record ``{"kind": "end", "count": N, "head": HASH}``, so that a file cut short is told
  from a whole one.

The chain is the same whatever the format (JSON lines or CSV), so the export of a range has one
head hash. Each export also stores an anchor in ``audit_anchors`` (range, count, head, format,
time). Anyone can recompute a chain, so the file alone only shows damage; the anchor is what a
rewritten file is held to, and recomputing the chain from the store's rows shows which rows of
the store were altered, removed or inserted since.

An export ends no later than now less :data:`SETTLE_WINDOW`: a job stamps its events with the
time it started and commits them when it ends, so rows of the last hour may still be on their
way, and a range that took them in would find them "inserted" once they land.

The rows are streamed (server-side cursors on PostgreSQL, in one REPEATABLE READ snapshot), never
loaded whole. The records carry ids, states, codes and reasons, no member ids, names or birth
dates; the reasons are the texts the services wrote (see :func:`claim_event_fields`).
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Engine, String, func, insert, select, type_coerce

from claims_engine.domain.errors import ConfigurationError, InputFileError
from claims_engine.store.db import begin_write, is_postgres
from claims_engine.store.tables import EXAMINER_ACTION as EXAMINER_ACTION_COLUMN
from claims_engine.store.tables import (
    audit_anchors_table,
    claim_events_table,
    claims_table,
    examiner_actions_table,
    phi_reads_table,
)
from claims_engine.store.vault import current_vault

EXPORT_NAME = "claims-engine audit"
EXPORT_VERSION = 1
FORMATS = ("jsonl", "csv")
CLAIM_EVENT = "claim_event"
PHI_READ = "phi_read"
EXAMINER_ACTION = "examiner_action"
EXAMINER_APPROVAL = "examiner_approval"
TABLE_OF = {
    CLAIM_EVENT: "claim_events",
    PHI_READ: "phi_reads",
    EXAMINER_ACTION: "examiner_actions",
    EXAMINER_APPROVAL: "examiner_actions",
}
STREAM_BATCH = 2000
MAX_STORE_PROBLEMS = 1000  # listed one by one; past this, one line counts the rest
# The longest a job may run: the intake and payment actors' time_limit in workers/actors.py
# (3,600,000 ms; mirrored, as services do not import the workers; a test holds the two equal).
# A job stamps its claim events with the time it started and commits them when it ends, so
# only events older than this are settled: an export's range ends at now less this, at latest.
SETTLE_WINDOW = timedelta(milliseconds=3_600_000)
STORED_IDS = range(-(2**63), 2**63)  # a row id the store can hold (BIGINT; SQLite INTEGER)
_INTEGER = re.compile(r"-?[0-9]{1,19}")

# The fields of each kind of line, and their types: "int", "str", or "str?" (may be null).
_CHAINED = {"seq": "int", "id": "int", "at": "str", "prev": "str", "hash": "str"}
FIELDS: dict[str, dict[str, str]] = {
    "header": {"export": "str", "version": "int", "since": "str", "until": "str"},
    CLAIM_EVENT: {
        **_CHAINED,
        "claim_id": "int",
        "payer_claim_number": "str?",
        "actor": "str",
        "from_state": "str?",
        "to_state": "str",
        "reason": "str",
    },
    PHI_READ: {
        **_CHAINED,
        "key_id": "str",
        "role": "str",
        "route": "str",
        "record_type": "str",
        "record_id": "str",
    },
    # an examiner's action as it was made: its reason as a SHA-256 (the reason itself is kept
    # sealed in the store: examiners may name the patient), the decision before and after
    # where it took effect when made
    EXAMINER_ACTION: {
        **_CHAINED,
        "claim_id": "int",
        "payer_claim_number": "str?",
        "actor": "str",
        "action": "str",
        "items": "str",
        "state": "str",
        "why_sha256": "str",
        "before": "str?",
        "after": "str?",
    },
    # a second examiner's approval or refusal of an action that waited for one (``id`` is the
    # action's): what it changed, when approved
    EXAMINER_APPROVAL: {
        **_CHAINED,
        "claim_id": "int",
        "actor": "str",
        "state": "str",
        "before": "str?",
        "after": "str?",
    },
    "end": {"count": "int", "head": "str"},
}
# The columns of the CSV form: kind first, then every field of every kind once.
CSV_COLUMNS: tuple[str, ...] = tuple(
    dict.fromkeys(["kind", *(name for spec in FIELDS.values() for name in spec)])
)
# The columns of exports made before examiner actions were chained: still read as exports.
CSV_COLUMNS_BEFORE_EXAMINERS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            "kind",
            *(
                name
                for kind, spec in FIELDS.items()
                if kind not in (EXAMINER_ACTION, EXAMINER_APPROVAL)
                for name in spec
            ),
        ]
    )
)


# -- the chain (pure) -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRange:
    """Times in UTC without a zone, as the store keeps them: ``since`` <= at < ``until``."""

    since: datetime
    until: datetime

    def describe(self) -> str:
        return f"{utc_text(self.since)} to {utc_text(self.until)}"


def utc_text(moment: datetime) -> str:
    """A stored time (UTC, without a zone) as ISO 8601 with ``Z``."""
    return moment.isoformat() + "Z"


def parse_utc(text: str) -> datetime:
    """The inverse of :func:`utc_text`; ``ValueError`` for anything else."""
    if not text.endswith("Z"):
        raise ValueError(f"{text!r} is not a UTC time ending in Z")
    moment = datetime.fromisoformat(text[:-1])
    if moment.tzinfo is not None:
        raise ValueError(f"{text!r} has a zone besides Z")
    return moment


def settled_until(now: datetime) -> datetime:
    """The latest end of a range whose events are settled: ``now`` less :data:`SETTLE_WINDOW`."""
    return now - SETTLE_WINDOW


def window_text(window: timedelta = SETTLE_WINDOW) -> str:
    """``1 hour``, ``90 minutes``: the settle window for a person."""
    n, unit = int(window.total_seconds()), "second"
    for name, size in (("hour", 3600), ("minute", 60)):
        if n % size == 0:
            n, unit = n // size, name
            break
    return f"{n} {unit}{'' if n == 1 else 's'}"


def check_settled(rng: AuditRange, now: datetime) -> None:
    """:class:`ConfigurationError` when ``rng`` ends after :func:`settled_until` ``now``."""
    latest = settled_until(now)
    if rng.until > latest:
        raise ConfigurationError(
            f"the range ends at {utc_text(rng.until)}, after {utc_text(latest)} (now less "
            f"{window_text()}): a job commits its events up to {window_text()} after the time "
            "they carry, so later events are not settled yet"
        )


def canonical(value: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def header_of(rng: AuditRange) -> dict[str, Any]:
    return {
        "kind": "header",
        "export": EXPORT_NAME,
        "version": EXPORT_VERSION,
        "since": utc_text(rng.since),
        "until": utc_text(rng.until),
    }


def genesis(header: Mapping[str, Any]) -> str:
    """The ``prev`` of the first record: the SHA-256 of the header."""
    return hashlib.sha256(canonical(header)).hexdigest()


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 of ``prev`` followed by the canonical JSON of the record without ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(str(record["prev"]).encode("utf-8") + canonical(body)).hexdigest()


def seal(fields: Mapping[str, Any], seq: int, prev: str) -> dict[str, Any]:
    """The chained record of one row: its fields with ``seq``, ``prev`` and ``hash``."""
    record = {"seq": seq, **fields, "prev": prev}
    record["hash"] = record_hash(record)
    return record


def chain(
    entries: Iterable[Mapping[str, Any]], header: Mapping[str, Any]
) -> Iterator[dict[str, Any]]:
    """The records of rows given in export order, each sealed to the one before."""
    prev = genesis(header)
    for seq, fields in enumerate(entries, start=1):
        record = seal(fields, seq, prev)
        prev = record["hash"]
        yield record


def end_of(count: int, head: str) -> dict[str, Any]:
    return {"kind": "end", "count": count, "head": head}


def order_key(fields: Mapping[str, Any]) -> tuple[datetime, str, int]:
    """Export order: time, then kind, then row id."""
    return parse_utc(fields["at"]), fields["kind"], fields["id"]


def claim_event_fields(row: Any) -> dict[str, Any]:
    """The fields of a ``claim_events`` row (joined to its claim's payer claim number).

    ``reason`` is the text the services wrote: intake's acceptance with the payer claim number
    or the rejection's issues, adjudication's outcome and amount or pend reasons, the payment
    cycle's 835 trace and payee NPI. A rejection's issues are stored without the values they
    quote from the claim (``Issue.describe(values=False)``: ``'…'`` in their place), so a
    malformed DMG02 is named, not the text sent as the patient's birth date. Reasons stored
    before that change were written with the values and are exported as stored.
    """
    return {
        "kind": CLAIM_EVENT,
        "id": int(row.id),
        "at": utc_text(row.at),
        "claim_id": int(row.claim_id),
        "payer_claim_number": row.payer_claim_number or None,
        "actor": row.actor,
        "from_state": row.from_state or None,
        "to_state": row.to_state,
        "reason": row.reason,
    }


def _decision_text(snapshot: Any) -> str | None:
    """A decision as an examiner action's record shows it: ``partly paid, paid 902.61``."""
    if not isinstance(snapshot, Mapping):
        return None
    if snapshot.get("outcome") == "pended":  # its amounts are not final: nothing is paid
        return "pended"
    return f"{snapshot.get('outcome')}, paid {snapshot.get('paid')}"


def examiner_action_fields(row: Any, content: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an ``examiner_actions`` row as it was made: the state it was made in
    (``applied``, or ``awaiting approval`` for one a second examiner approved or refused since:
    that is its own record, :func:`examiner_approval_fields`)."""
    made_applied = row.state == "applied"
    why = str(content.get("why", ""))
    return {
        "kind": EXAMINER_ACTION,
        "id": int(row.id),
        "at": utc_text(row.at),
        "claim_id": int(row.claim_id),
        "payer_claim_number": row.payer_claim_number or None,
        "actor": row.actor,
        "action": row.kind,
        "items": ",".join(str(i) for i in row._mapping["items"]),
        "state": "applied" if made_applied else "awaiting approval",
        "why_sha256": hashlib.sha256(why.encode("utf-8")).hexdigest(),
        "before": _decision_text(content.get("before")) if made_applied else None,
        "after": _decision_text(content.get("after")) if made_applied else None,
    }


def examiner_approval_fields(row: Any, content: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": EXAMINER_APPROVAL,
        "id": int(row.id),
        "at": utc_text(row.approved_at),
        "claim_id": int(row.claim_id),
        "actor": row.approved_by,
        "state": row.state,
        "before": _decision_text(content.get("before")) if row.state == "approved" else None,
        "after": _decision_text(content.get("after")) if row.state == "approved" else None,
    }


def phi_read_fields(row: Any) -> dict[str, Any]:
    """The fields of a ``phi_reads`` row: the key and its role, the route (the template, as
    ``/v1/claims/{claim_id}``, never a query string) and the record read."""
    return {
        "kind": PHI_READ,
        "id": int(row.id),
        "at": utc_text(row.at),
        "key_id": row.key_id,
        "role": row.role,
        "route": row.route,
        "record_type": row.record_type,
        "record_id": row.record_id,
    }


# -- lines of a file ------------------------------------------------------------------------------


def _is_text(value: Any) -> bool:
    """A string that is Unicode text: JSON's ``\\ud800`` escapes can give a lone surrogate,
    which no UTF-8 (and so no canonical JSON, no hash) can hold."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def conforms(line: Any) -> bool:
    """Whether a parsed line has exactly the fields of its kind, of their types (strings that
    are Unicode text, ints that are not bools)."""
    if not isinstance(line, dict) or not isinstance(line.get("kind"), str):
        return False
    spec = FIELDS.get(line["kind"])
    if spec is None or set(line) != {"kind", *spec}:
        return False
    for name, kind in spec.items():
        value = line[name]
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "str?":
            ok = value is None or _is_text(value)
        else:
            ok = _is_text(value)
        if not ok:
            return False
    return True


def _csv_line(row: list[str], columns: tuple[str, ...] = CSV_COLUMNS) -> dict[str, Any] | None:
    if len(row) != len(columns):
        return None
    cells = dict(zip(columns, row, strict=True))
    spec = FIELDS.get(cells["kind"])
    if spec is None or any(c not in cells for c in spec):
        return None
    if any(cells[c] for c in columns if c != "kind" and c not in spec):
        return None
    line: dict[str, Any] = {"kind": cells["kind"]}
    for name, kind in spec.items():
        text = cells[name]
        if kind == "int":
            if not _INTEGER.fullmatch(text):  # ASCII digits only, as JSON has them
                return None
            line[name] = int(text)
        elif kind == "str?":
            line[name] = text or None
        else:
            line[name] = text
    return line


def _csv_row(line: Mapping[str, Any]) -> list[str]:
    return ["" if line.get(c) is None else str(line[c]) for c in CSV_COLUMNS]


Line = tuple[int, dict[str, Any] | None]  # line number, the parsed line (None: unreadable)


@contextmanager
def read_lines(path: Path) -> Iterator[tuple[str, Iterator[Line]]]:
    """The format of an export file and its lines (see :func:`lines_of`).

    Raises :class:`InputFileError` for a file that cannot be read or is not an export.
    """
    try:
        fh = path.open(encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    with fh:
        try:
            yield lines_of(fh, str(path))
        except OSError as exc:  # on opening or while the lines are read
            raise InputFileError(f"cannot read {path}: {exc.strerror or exc}") from None


def lines_of(fh: TextIO, where: str) -> tuple[str, Iterator[Line]]:
    """The format of an export (``jsonl`` or ``csv``) and its lines, numbered as an editor
    numbers them; :class:`InputFileError` when it does not begin as an export (a JSON line, or
    CSV with this export's columns). ``fh`` is opened with ``newline=""``."""
    first = fh.readline()
    if first.startswith("{"):
        fh.seek(0)
        return "jsonl", _jsonl_lines(fh)
    if first.rstrip("\r\n") == ",".join(CSV_COLUMNS):
        return "csv", _csv_lines(fh, CSV_COLUMNS)
    if first.rstrip("\r\n") == ",".join(CSV_COLUMNS_BEFORE_EXAMINERS):
        return "csv", _csv_lines(fh, CSV_COLUMNS_BEFORE_EXAMINERS)
    raise InputFileError(f"{where} is not an audit export (no export header)")


def _jsonl_lines(fh: TextIO) -> Iterator[Line]:
    for number, text in enumerate(fh, start=1):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            yield number, None
            continue
        yield number, value if conforms(value) else None


def _csv_lines(fh: TextIO, columns: tuple[str, ...]) -> Iterator[Line]:
    reader = csv.reader(fh, strict=True)
    done = 0  # lines the reader has consumed (it starts after the column names, line 1)
    while True:
        start = done + 2
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            done = reader.line_num
            yield start, None
            continue
        done = reader.line_num
        yield start, _csv_line(row, columns)


def range_of(header: Mapping[str, Any] | None, where: str) -> AuditRange:
    """The range an export's header names; :class:`InputFileError` when it is not a header."""
    if (
        header is None
        or header.get("kind") != "header"
        or header.get("export") != EXPORT_NAME
        or header.get("version") != EXPORT_VERSION
    ):
        raise InputFileError(f"{where} is not an audit export (no export header)")
    try:
        rng = AuditRange(parse_utc(header["since"]), parse_utc(header["until"]))
    except ValueError as exc:
        raise InputFileError(f"{where}: the export header's range is not readable: {exc}") from None
    if rng.until <= rng.since:
        raise InputFileError(f"{where}: the export header's range is empty")
    return rng


# -- checking a file's own chain (pure) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing verification found: ``what`` is ``altered``, ``removed``, ``inserted``,
    ``out of order``, ``truncated`` or ``unanchored``; ``message`` is the line shown."""

    what: str
    message: str
    line: int | None = None
    table: str | None = None
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "message": self.message,
            "line": self.line,
            "table": self.table,
            "row": self.row,
        }


@dataclass(slots=True)
class ChainReport:
    """What a file's own lines say: its range, the records whose chain holds (``count``, up to
    ``head``), and the first problem, if any. ``bad_line`` is the line the problem names."""

    range: AuditRange
    count: int = 0
    head: str = ""
    problems: list[Problem] = field(default_factory=list)
    bad_line: int | None = None

    @property
    def intact(self) -> bool:
        return not self.problems


def check_chain(lines: Iterable[Line], where: str = "the file") -> ChainReport:
    """Check a file's lines: header, every record's hash, its link to the one before, its
    sequence number, and the end record. Stops at the first bad line and says why:

    * ``altered``: a line that is not a record of an export, whose content does not match its
      hash, or whose hash is not the next line's ``prev`` (it was edited and re-hashed);
    * ``removed``: a sequence number skipped, or an end record counting more records;
    * ``out of order``: the skipped record is the next line (lines swapped);
    * ``inserted``: a sequence number seen already, a line after the end record;
    * ``truncated``: no end record, or an unreadable last line.
    """
    it = iter(lines)
    first = next(it, None)
    report = ChainReport(range_of(first[1] if first else None, where))
    assert first is not None
    header_line, header = first
    assert header is not None  # range_of refused anything else
    report.head = genesis(header)
    expected = 1
    last_line = header_line
    end: Line | None = None

    def fail(what: str, line: int, message: str) -> ChainReport:
        report.problems.append(Problem(what, f"line {line}: {what}: {message}", line=line))
        report.bad_line = line
        return report

    current = next(it, None)
    while current is not None:
        number, record = current
        following = next(it, None)
        if end is not None:
            return fail("inserted", number, f"a line after the end record (line {end[0]})")
        if record is None:
            if following is None:
                return fail(
                    "truncated", number, "the last line is incomplete and the end record is missing"
                )
            return fail("altered", number, "not a record of this export")
        kind = record["kind"]
        if kind == "end":
            end = current
            current = following
            continue
        if kind not in TABLE_OF:
            return fail("inserted", number, f"a second {kind} line")
        if record_hash(record) != record["hash"]:
            return fail("altered", number, "its content does not match its hash")
        seq = record["seq"]
        if seq > expected:
            if following is not None and (following[1] or {}).get("seq") == expected:
                return fail(
                    "out of order",
                    number,
                    f"record {seq} comes before record {expected} (line {following[0]})",
                )
            missing = (
                f"record {expected}" if seq == expected + 1 else f"records {expected}-{seq - 1}"
            )
            return fail("removed", number, f"{missing} missing before this line")
        if seq < expected:
            also = f", as on line {last_line}" if seq == expected - 1 else ""
            return fail("inserted", number, f"record {seq} again{also}")
        if record["prev"] != report.head:
            if expected == 1:
                return fail(
                    "altered", header_line, f"the header does not match the prev of line {number}"
                )
            return fail(
                "altered",
                last_line,
                f"its hash is not the prev of line {number} (edited and re-hashed)",
            )
        report.head = record["hash"]
        report.count = expected
        expected += 1
        last_line = number
        current = following
    if end is None:
        return fail(
            "truncated",
            last_line + 1,
            f"the file ends after line {last_line} without its end record",
        )
    number, trailer = end
    assert trailer is not None
    if trailer["count"] > report.count:
        return fail(
            "removed",
            number,
            f"the end record counts {trailer['count']} records, the file has {report.count}",
        )
    if trailer["count"] < report.count:
        return fail(
            "altered",
            number,
            f"the end record counts {trailer['count']} records, the file has {report.count}",
        )
    if trailer["head"] != report.head:
        return fail(
            "altered",
            number,
            f"the end record's head is not the hash of the last record (line {last_line})",
        )
    return report


# -- the store's records --------------------------------------------------------------------------


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction in which both tables are seen as of one moment (REPEATABLE READ on
    PostgreSQL; a SQLite read transaction is a snapshot already)."""
    with engine.connect() as conn:
        if is_postgres(conn):
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def store_entries(conn: Connection, rng: AuditRange) -> Iterator[dict[str, Any]]:
    """The fields of every claim event and PHI read in ``rng``, in export order, streamed."""
    e, c, r = claim_events_table.c, claims_table.c, phi_reads_table.c
    events = (
        select(
            e.id,
            e.at,
            e.claim_id,
            c.payer_claim_number,
            e.actor,
            e.from_state,
            e.to_state,
            e.reason,
        )
        .select_from(claim_events_table.outerjoin(claims_table, c.id == e.claim_id))
        .where(*_within(conn, e.at, rng))
        .order_by(_in_order(conn, e.at), e.id)
    )
    reads = (
        select(r.id, r.at, r.key_id, r.role, r.route, r.record_type, r.record_id)
        .where(*_within(conn, r.at, rng))
        .order_by(_in_order(conn, r.at), r.id)
    )
    x = examiner_actions_table.c
    acted = (
        select(x.id, x.at, x.claim_id, c.payer_claim_number, x.actor, x.kind, x["items"],
               x.state, x.content)
        .select_from(examiner_actions_table.outerjoin(claims_table, c.id == x.claim_id))
        .where(*_within(conn, x.at, rng))
        .order_by(_in_order(conn, x.at), x.id)
    )  # fmt: skip
    approved = (
        select(x.id, x.approved_at, x.claim_id, x.approved_by, x.state, x.content)
        .where(x.approved_at.is_not(None), *_within(conn, x.approved_at, rng))
        .order_by(_in_order(conn, x.approved_at), x.id)
    )
    streaming = conn.execution_options(yield_per=STREAM_BATCH)
    event_rows = ((row.at, CLAIM_EVENT, row.id, row) for row in streaming.execute(events))
    read_rows = ((row.at, PHI_READ, row.id, row) for row in streaming.execute(reads))
    action_rows = ((row.at, EXAMINER_ACTION, row.id, row) for row in streaming.execute(acted))
    approval_rows = (
        (row.approved_at, EXAMINER_APPROVAL, row.id, row) for row in streaming.execute(approved)
    )
    vault = current_vault()
    # each stream is ordered by (at, id); the kind breaks ties of time between them
    merged = heapq.merge(event_rows, read_rows, action_rows, approval_rows, key=_store_key)
    for _at, kind, _id, row in merged:
        if kind == CLAIM_EVENT:
            yield claim_event_fields(row)
        elif kind == PHI_READ:
            yield phi_read_fields(row)
        else:
            content = vault.open_json(row.content, EXAMINER_ACTION_COLUMN, row.id)
            if kind == EXAMINER_ACTION:
                yield examiner_action_fields(row, content)
            else:
                yield examiner_approval_fields(row, content)


# SQLite keeps times as text, and the store holds two forms of them: "2026-11-02 09:30:00.000000"
# from bound values, "2026-11-02 09:30:00" from a time written as a literal in INSERT ... SELECT
# (intake's events). Text order puts the short form first whatever the ids; ranges and order
# are taken on text that means the same in both forms. PostgreSQL has timestamps.


def _sqlite_time(moment: datetime) -> str:
    # a bound in the short form compares right with both forms: "...:00" < "...:00.000000"
    return moment.isoformat(" ", "microseconds" if moment.microsecond else "seconds")


def _within(conn: Connection, column: Any, rng: AuditRange) -> list[ColumnElement[bool]]:
    if is_postgres(conn):
        return [column >= rng.since, column < rng.until]
    text = type_coerce(column, String())
    return [text >= _sqlite_time(rng.since), text < _sqlite_time(rng.until)]


def _in_order(conn: Connection, column: Any) -> Any:
    if is_postgres(conn):
        return column
    return func.substr(type_coerce(column, String()) + ".000000", 1, 26)


def _store_key(item: tuple[datetime, str, int, Any]) -> tuple[datetime, str, int]:
    return item[0], item[1], item[2]


# -- export ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportSummary:
    range: AuditRange
    count: int
    claim_events: int
    phi_reads: int
    head: str
    anchor_id: int
    format: str
    examiner_actions: int = 0  # actions and approvals

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": utc_text(self.range.since),
            "until": utc_text(self.range.until),
            "count": self.count,
            "claim_events": self.claim_events,
            "phi_reads": self.phi_reads,
            "examiner_actions": self.examiner_actions,
            "head": self.head,
            "anchor": self.anchor_id,
            "format": self.format,
        }


def write_lines(out: TextIO, fmt: str, lines: Iterable[Mapping[str, Any]]) -> None:
    """Write header, records and end record to ``out`` (opened with ``newline=""``)."""
    writer = _Writer(out, fmt)
    for line in lines:
        writer.write(line)


class _Writer:
    def __init__(self, out: TextIO, fmt: str) -> None:
        self.out = out
        self.csv = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(CSV_COLUMNS)

    def write(self, line: Mapping[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow(_csv_row(line))
        else:
            self.out.write(canonical(line).decode("utf-8"))
            self.out.write("\n")


def write_export(
    engine: Engine, rng: AuditRange, out: TextIO, fmt: str
) -> tuple[int, int, int, str]:
    """Write the export of ``rng`` to ``out``; returns the claim events, the PHI reads, the
    examiner actions and approvals, and the head. The same store and range give the same
    bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown audit export format {fmt!r}")
    header = header_of(rng)
    writer = _Writer(out, fmt)
    writer.write(header)
    counts = dict.fromkeys(TABLE_OF, 0)
    head = genesis(header)
    with snapshot(engine) as conn:
        for record in chain(store_entries(conn, rng), header):
            writer.write(record)
            counts[record["kind"]] += 1
            head = record["hash"]
    writer.write(end_of(sum(counts.values()), head))
    examiners = counts[EXAMINER_ACTION] + counts[EXAMINER_APPROVAL]
    return counts[CLAIM_EVENT], counts[PHI_READ], examiners, head


def store_anchor(
    engine: Engine,
    rng: AuditRange,
    count: int,
    head: str,
    fmt: str,
    now: datetime,
    before_commit: Callable[[], None] | None = None,
) -> int:
    """Keep an export's count and head in ``audit_anchors``; returns the anchor's id.

    ``before_commit`` runs after the row is inserted and before it is committed: when it
    raises, nothing is stored."""
    a = audit_anchors_table
    with begin_write(engine) as conn:
        anchor = int(
            conn.execute(
                insert(a)
                .values(
                    since=rng.since,
                    until=rng.until,
                    records=count,
                    head=head,
                    format=fmt,
                    created_at=now,
                )
                .returning(a.c.id)
            ).scalar_one()
        )
        if before_commit is not None:
            before_commit()
    return anchor


def export(
    engine: Engine,
    rng: AuditRange,
    out: TextIO,
    fmt: str,
    now: datetime,
    publish: Callable[[], None] | None = None,
) -> ExportSummary:
    """Write the export of ``rng`` to ``out`` and anchor it in the store.

    ``publish`` puts what was written in place (flushes it, renames a file written aside): it
    runs inside the anchor's transaction, after the insert, so an export that cannot be put in
    place is not anchored (and an anchor that cannot be inserted publishes nothing). Only the
    commit itself comes after ``publish``; the caller undoes ``publish`` when that fails.
    :class:`ConfigurationError` when ``rng`` ends within :data:`SETTLE_WINDOW` of ``now``."""
    check_settled(rng, now)
    events, reads, examiners, head = write_export(engine, rng, out, fmt)
    count = events + reads + examiners
    anchor = store_anchor(engine, rng, count, head, fmt, now, publish)
    return ExportSummary(rng, count, events, reads, head, anchor, fmt, examiners)


# -- verification ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Verification:
    """The outcome of ``audit verify``: the file (None for the store alone), the records and
    anchors checked, and every problem found."""

    file: str | None
    records: int = 0
    anchors: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "ok": self.ok,
            "records": self.records,
            "anchors": self.anchors,
            "problems": [p.as_dict() for p in self.problems],
        }


@dataclass(frozen=True, slots=True)
class Anchor:
    id: int
    range: AuditRange
    count: int
    head: str
    format: str
    created_at: datetime

    def describe(self) -> str:
        return f"anchor {self.id} ({self.range.describe()}, exported {utc_text(self.created_at)})"


def anchors(conn: Connection, rng: AuditRange | None = None) -> list[Anchor]:
    """The stored anchors, oldest first; those of ``rng`` only when given."""
    a = audit_anchors_table.c
    query = select(audit_anchors_table).order_by(a.id)
    if rng is not None:
        query = query.where(a.since == rng.since, a.until == rng.until)
    return [
        Anchor(
            int(row.id),
            AuditRange(row.since, row.until),
            int(row.records),
            row.head,
            row.format,
            row.created_at,
        )
        for row in conn.execute(query)
    ]


def store_chain(conn: Connection, rng: AuditRange) -> tuple[int, str]:
    """The count and head of the chain the store's rows give for ``rng`` now."""
    header = header_of(rng)
    count, head = 0, genesis(header)
    for record in chain(store_entries(conn, rng), header):
        count, head = record["seq"], record["hash"]
    return count, head


def verify_store(engine: Engine) -> Verification:
    """Check the store against every anchor: does each range still give its export's chain?"""
    result = Verification(None)
    with snapshot(engine) as conn:
        stored = anchors(conn)
        result.anchors = len(stored)
        found: dict[AuditRange, tuple[int, str]] = {}
        for anchor in stored:
            if anchor.range not in found:
                found[anchor.range] = store_chain(conn, anchor.range)
                result.records += found[anchor.range][0]
            count, head = found[anchor.range]
            if (count, head) == (anchor.count, anchor.head):
                continue
            result.problems.append(
                Problem(
                    "altered",
                    f"{anchor.describe()}: the store's rows no longer give its chain "
                    f"({count} records now, {anchor.count} when exported; head "
                    f"{head[:12]} now, {anchor.head[:12]} then): rows were altered, removed "
                    "or inserted; `claims-engine audit verify FILE` with that export names them",
                )
            )
    return result


@dataclass(slots=True)
class _Difference:
    """A row the store and the file disagree on: ``fields`` names what differs (empty: the row
    is on one side only, ``side`` says which)."""

    kind: str
    id: int
    line: int | None
    side: str  # "both", "file" (missing from the store), "store" (missing from the file)
    fields: tuple[str, ...] = ()
    at: str = ""


def _file_entries(lines: Iterator[Line]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in lines:
        if line is None or line["kind"] not in TABLE_OF:
            continue
        fields = {k: v for k, v in line.items() if k not in ("seq", "prev", "hash")}
        try:
            parse_utc(fields["at"])
        except ValueError:
            continue
        yield number, fields


def compare(
    file_entries: Iterable[tuple[int, dict[str, Any]]], store: Iterable[Mapping[str, Any]]
) -> Iterator[_Difference]:
    """The rows on which a file and the store differ, both given in export order.

    A row whose time changed is at another place in each stream: rows met on one side only are
    held by (kind, id) until the other side brings the same row, so a moved row is one
    difference, not two.
    """
    only_file: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
    only_store: dict[tuple[str, int], Mapping[str, Any]] = {}

    def both(
        number: int, mine: Mapping[str, Any], theirs: Mapping[str, Any]
    ) -> Iterator[_Difference]:
        differ = tuple(sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k)))
        if differ:
            yield _Difference(mine["kind"], mine["id"], number, "both", differ, theirs["at"])

    def from_file(number: int, mine: dict[str, Any]) -> Iterator[_Difference]:
        theirs = only_store.pop((mine["kind"], mine["id"]), None)
        if theirs is None:
            only_file[(mine["kind"], mine["id"])] = (number, mine)
        else:
            yield from both(number, mine, theirs)

    def from_store(theirs: Mapping[str, Any]) -> Iterator[_Difference]:
        mine = only_file.pop((theirs["kind"], theirs["id"]), None)
        if mine is None:
            only_store[(theirs["kind"], theirs["id"])] = theirs
        else:
            yield from both(mine[0], mine[1], theirs)

    files = iter(file_entries)
    stores = iter(store)
    f = next(files, None)
    s = next(stores, None)
    while f is not None or s is not None:
        if s is None or (f is not None and order_key(f[1]) < order_key(s)):
            assert f is not None
            yield from from_file(*f)
            f = next(files, None)
        elif f is None or order_key(s) < order_key(f[1]):
            yield from from_store(s)
            s = next(stores, None)
        else:  # the same time, kind and id: the same row
            yield from both(f[0], f[1], s)
            f = next(files, None)
            s = next(stores, None)
    for (kind, row_id), (number, _mine) in only_file.items():
        yield _Difference(kind, row_id, number, "file")
    for (kind, row_id), theirs in only_store.items():
        yield _Difference(kind, row_id, None, "store", (), theirs["at"])


_TABLES = {
    CLAIM_EVENT: claim_events_table,
    PHI_READ: phi_reads_table,
    EXAMINER_ACTION: examiner_actions_table,
    EXAMINER_APPROVAL: examiner_actions_table,
}


def _still_stored(conn: Connection, kind: str, ids: list[int]) -> set[int]:
    table = _TABLES[kind]
    ids = [i for i in ids if i in STORED_IDS]  # a file may name any number; the store cannot
    found: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        found.update(conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    return found


def _differ(fields: tuple[str, ...]) -> str:
    if len(fields) == 1:
        return f"{fields[0]} differs"
    return f"{', '.join(fields[:-1])} and {fields[-1]} differ"


def _store_problem(d: _Difference, moved: bool) -> Problem:
    table = TABLE_OF[d.kind]
    where = f"{table} row {d.id}"
    if d.side == "both":
        message = (
            f"{where}: altered in the store since the export ({_differ(d.fields)} "
            f"from line {d.line})"
        )
        return Problem("altered", message, line=d.line, table=table, row=d.id)
    if d.side == "file":
        if moved:
            message = (
                f"{where}: altered in the store since the export (its time moved out of the "
                f"range; line {d.line})"
            )
            return Problem("altered", message, line=d.line, table=table, row=d.id)
        message = f"{where}: removed from the store since the export (line {d.line})"
        return Problem("removed", message, line=d.line, table=table, row=d.id)
    message = (
        f"{where}: in the store at {d.at} but not in the export (inserted since, or its time "
        "moved into the range)"
    )
    return Problem("inserted", message, table=table, row=d.id)


def _file_problem(d: _Difference) -> Problem:
    table = TABLE_OF[d.kind]
    where = f"{table} row {d.id}"
    if d.side == "both":
        message = f"line {d.line}: altered: {_differ(d.fields)} from {where} in the store"
        return Problem("altered", message, line=d.line, table=table, row=d.id)
    if d.side == "file":
        message = f"line {d.line}: inserted: {where} is not in the store"
        return Problem("inserted", message, line=d.line, table=table, row=d.id)
    message = f"{where} (at {d.at}) is missing from the export: removed from the file"
    return Problem("removed", message, table=table, row=d.id)


def verify_file(engine: Engine, path: Path) -> Verification:
    """Check an export file: its own chain and end record, then against the store.

    Against the store, the rows of the file's range are read again, chained and compared. When
    the file's chain is whole and matches an anchor of its range, the file is the export as
    made, and every row that differs changed in the store since: named by table and row id.
    When instead the store's chain matches an anchor, the store is as an export left it: a
    broken file is told by its own check, and a whole one that matches no anchor was made again
    after the fact, its differing lines named. When neither matches, the differences are
    reported as the store's (but for the line the file's own check found bad).
    """
    where = str(path)
    with read_lines(path) as (_fmt, lines):
        report = check_chain(lines, where)
    result = Verification(where, records=report.count)
    result.problems.extend(report.problems)
    rng = report.range
    differences: list[_Difference] = []
    counted = 0
    with snapshot(engine) as conn:
        ranged = anchors(conn, rng)
        result.anchors = len(ranged)
        header = header_of(rng)
        store_count, store_head = 0, genesis(header)

        def chained_store() -> Iterator[dict[str, Any]]:
            nonlocal store_count, store_head
            for record in chain(store_entries(conn, rng), header):
                store_count, store_head = record["seq"], record["hash"]
                yield {k: v for k, v in record.items() if k not in ("seq", "prev", "hash")}

        with read_lines(path) as (_fmt, lines):
            next(lines, None)  # the header
            for d in compare(_file_entries(lines), chained_store()):
                counted += 1
                if len(differences) < MAX_STORE_PROBLEMS:
                    differences.append(d)
        differences.sort(key=lambda d: (d.line is None, d.line or 0))  # in the file's order
        moved: set[tuple[str, int]] = set()
        for kind in TABLE_OF:
            ids = [d.id for d in differences if d.side == "file" and d.kind == kind]
            moved.update((kind, i) for i in _still_stored(conn, kind, ids))
    store_intact = any((a.count, a.head) == (store_count, store_head) for a in ranged)
    file_anchored = report.intact and any(
        (a.count, a.head) == (report.count, report.head) for a in ranged
    )
    if not ranged:
        result.problems.append(
            Problem(
                "unanchored",
                f"no export of {rng.describe()} is anchored in this store: the file was not "
                "exported from it, or its anchor was removed",
            )
        )
    elif report.intact and not file_anchored:
        result.problems.append(
            Problem(
                "unanchored",
                f"the file's chain is whole but its head {report.head[:12]} matches no anchor of "
                f"{rng.describe()} in the store: the file was made again after the export",
            )
        )
    if file_anchored or not store_intact:
        # the file is the export as anchored (or nothing says the store is): what differs
        # changed in the store since
        result.problems.extend(
            _store_problem(d, (d.kind, d.id) in moved)
            for d in differences
            if d.line is None or d.line != report.bad_line
        )
    elif report.intact:  # the store is as an export left it, the file made again: its rows
        result.problems.extend(_file_problem(d) for d in differences)
    # else the store is as anchored and the file's own check named its first bad line
    if counted > len(differences):
        result.problems.append(
            Problem("altered", f"... and {counted - len(differences)} more rows that differ")
        )
    return result
