"""Enrollment in the store: members and their coverage, kept with their history, and the 834s
that change them.

Every version of every member is a row of ``enrollment_members`` (sealed: names, birth dates,
addresses and coverage spans are health data), with when the payer recorded it and, once a
newer version replaced it, when it was superseded: the members in force are the rows not
superseded, and those the payer knew at a past moment are the rows recorded before it and
superseded after it (:func:`members_known_at`). What was true on which day is in each
version's coverage spans (:class:`~claims_engine.domain.reference_data.CoverageSpan`).

Writers take the enrollment lock (an advisory lock on PostgreSQL; SQLite has one writer), so
versions are committed in id order, and every process keeps the members in force in memory
(:func:`enrolled`), reading only the versions written since it last looked: adjudication, the
API's member keys, eligibility answers and the portal see enrollment through the runtime
(:func:`claims_engine.services.reference.load_runtime`), which takes the newest each time
enrollment changed.

:func:`apply_834` applies an 834 (see :mod:`claims_engine.enrollment.maintenance` for what each
maintenance does), stores the file, its TA1 and 999 and the report, and sends back to
adjudication, in the same transaction, every decided claim that a change of coverage in the past
makes wrong (:mod:`claims_engine.services.readjustment`). :func:`import_members` is the
``members.csv`` of a reference directory as an import into the enrollment.
"""

from __future__ import annotations

import gc
import hashlib
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, or_, select, text, update

from claims_engine.domain.errors import InputFileError
from claims_engine.domain.issues import Scope
from claims_engine.domain.reference_data import Member
from claims_engine.enrollment.maintenance import (
    ADDED,
    CHANGED,
    DIFFERS,
    MATCHES,
    OUTCOMES,
    REFUSED,
    REINSTATED,
    STALE,
    TERMINATED,
    UNCHANGED,
    Applied,
    Enroller,
    member_id_of,
)
from claims_engine.enrollment.records import (
    Sponsor,
    changed_days,
    member_from_json,
    member_to_json,
)
from claims_engine.services.queries import utc_text
from claims_engine.store.bulk import insert_rows, update_rows
from claims_engine.store.db import (
    CONTROL_COUNTER,
    begin_write,
    check_lookup_key,
    is_postgres,
    next_numbers,
)
from claims_engine.store.tables import (
    ACK,
    ENROLLED,
    ENROLLMENT_REPORT,
    RAW,
    AckKind,
    InterchangeState,
    acknowledgments_table,
    enrollment_files_table,
    enrollment_members_table,
    interchanges_table,
)
from claims_engine.store.vault import current_vault
from claims_engine.x12.acks import Envelope, write_999, write_ta1
from claims_engine.x12.envelope import GroupEnd, TransactionEnd
from claims_engine.x12.envelope_walk import Unreadable, read_header
from claims_engine.x12.reader834 import (
    ACTION_CHANGE,
    ACTION_REPLACE,
    ACTION_VERIFY,
    Enrollment,
    EnrollmentTransaction,
    read_834,
)

# what sends claims back to adjudication (:func:`claims_engine.services.readjustment.readjust`)
Readjust = Callable[
    [Connection, int, list[tuple[Member | None, Member, list[tuple[date, date | None]]]], datetime],
    list[dict[str, str]],
]

_members = enrollment_members_table
_files = enrollment_files_table
_interchanges = interchanges_table
_acks = acknowledgments_table

ENROLLMENT_LOCK = 0x454E524F4C4C  # "ENROLL": one enrollment writer at a time
CSV_SOURCE = "members.csv"
ACTIONS = {ACTION_CHANGE: "change", ACTION_VERIFY: "verify", ACTION_REPLACE: "replace"}


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a file of members is read and
    applied: it makes some ten objects a member, none in a cycle, and at the default
    thresholds the collector walked every one of them again and again (an add file of 100,000
    members: 12.1 s, 8.5 s with these thresholds). Memory stays bounded: objects without
    cycles are freed by reference counting."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def lock_enrollment(conn: Connection) -> None:
    """Hold the enrollment lock until the transaction ends (SQLite: its one writer)."""
    if is_postgres(conn):
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ENROLLMENT_LOCK})


# -- the members in force ---------------------------------------------------------------------


@dataclass(slots=True)
class EnrolledView:
    """The members in force as one process knows them, and up to which version it read."""

    members: dict[str, Member] = field(default_factory=dict)
    as_of: dict[str, datetime] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    version_ids: dict[str, int] = field(default_factory=dict)
    families: dict[str, set[str]] = field(default_factory=dict)  # subscriber id -> member ids
    last_id: int = 0
    snapshot: tuple[int, Mapping[str, Member], Mapping[str, tuple[Member, ...]]] | None = None

    def remember(self, version: int, member: Member, as_of: datetime, source: str) -> None:
        """A version read (or, by the process that wrote it, committed) takes its place."""
        mid = member.member_id
        old = self.members.get(mid)
        if old is not None and old.subscriber_id != member.subscriber_id:
            self.families.get(old.subscriber_id, set()).discard(mid)
        self.families.setdefault(member.subscriber_id, set()).add(mid)
        self.members[mid] = member
        self.as_of[mid] = as_of
        self.sources[mid] = source
        self.version_ids[mid] = version
        self.last_id = max(self.last_id, version)

    def in_force(self) -> tuple[Mapping[str, Member], Mapping[str, tuple[Member, ...]]]:
        """The members and the families (by subscriber id) as of the last read: a copy that
        later reads leave as it is, so a batch never sees half an 834."""
        if self.snapshot is None or self.snapshot[0] != self.last_id:
            members = dict(self.members)
            families = {
                k: tuple(members[i] for i in sorted(ids)) for k, ids in self.families.items() if ids
            }
            self.snapshot = (self.last_id, members, families)
        return self.snapshot[1], self.snapshot[2]


_views: dict[tuple[str, str], EnrolledView] = {}
_views_lock = threading.Lock()


def enrollment_version(conn: Connection) -> int:
    """The newest version's id (0: no member enrolled): what changes when enrollment does."""
    return int(conn.execute(select(func.coalesce(func.max(_members.c.id), 0))).scalar_one())


def enrolled(conn: Connection) -> EnrolledView:
    """The members in force, read incrementally: the versions written since this process last
    looked are decoded and take their members' places. A store whose newest version is older
    than the view's (made again at the same address) is read again whole."""
    vault = current_vault()
    key = (conn.engine.url.render_as_string(hide_password=True), vault.identity())
    with _views_lock:
        view = _views.setdefault(key, EnrolledView())
        if view.last_id == 0:  # the first read: a vault of other keys is refused by name
            check_lookup_key(conn, vault)
        newest = enrollment_version(conn)
        if newest == view.last_id:
            return view
        if newest < view.last_id:  # not the store this view was read from
            view = _views[key] = EnrolledView()
            check_lookup_key(conn, vault)
        m = _members.c
        rows = conn.execute(
            select(m.id, m.content, m.as_of, m.source).where(m.id > view.last_id).order_by(m.id)
        )
        with fewer_collections():
            for r in rows:
                member = member_from_json(vault.open_json(r.content, ENROLLED, r.id))
                view.remember(int(r.id), member, r.as_of, r.source)
        return view


def members_known_at(conn: Connection, at: datetime) -> dict[str, Member]:
    """The members as the payer knew them at ``at``: each member's version recorded by then
    and not yet superseded."""
    vault = current_vault()
    m = _members.c
    rows = conn.execute(
        select(m.id, m.content)
        .where(m.recorded_at <= at, or_(m.superseded_at.is_(None), m.superseded_at > at))
        .order_by(m.id)
    )
    found: dict[str, Member] = {}
    for r in rows:
        member = member_from_json(vault.open_json(r.content, ENROLLED, r.id))
        found[member.member_id] = member
    return found


def member_history(conn: Connection, member_id: str) -> list[dict[str, Any]]:
    """Every version of a member, oldest first: when recorded and superseded, from which
    source, and the member as that version had them."""
    vault = current_vault()
    m = _members.c
    rows = conn.execute(
        select(m.id, m.recorded_at, m.superseded_at, m.as_of, m.source, m.content)
        .where(m.member_id == vault.lookup(member_id))
        .order_by(m.id)
    )
    return [
        {
            "version": int(r.id),
            "recorded_at": r.recorded_at.isoformat(),
            "superseded_at": r.superseded_at.isoformat() if r.superseded_at else None,
            "as_of": r.as_of.isoformat(),
            "source": r.source,
            "member": vault.open_json(r.content, ENROLLED, r.id),
        }
        for r in rows
    ]


def write_versions(
    conn: Connection,
    view: EnrolledView,
    members: Sequence[Member],
    *,
    now: datetime,
    as_of: datetime,
    source: str,
) -> list[tuple[int, Member]]:
    """New versions of ``members`` (under the enrollment lock, with ``view`` read under it):
    the versions they replace are superseded now. The new versions' ids, for
    :func:`remember_written` once the transaction is committed."""
    if not members:
        return []
    vault = current_vault()
    superseded = [
        {"id": view.version_ids[m.member_id], "superseded_at": now}
        for m in members
        if m.member_id in view.version_ids
    ]
    update_rows(conn, _members, superseded)
    lookups: dict[str, str] = {}

    def lookup(value: str) -> str:
        found = lookups.get(value)
        if found is None:
            found = lookups[value] = vault.lookup(value)[:80]
        return found

    rows = [
        {
            "member_id": lookup(m.member_id),
            "subscriber_id": lookup(m.subscriber_id),
            "sponsor_id": m.sponsor_id[:80],
            "recorded_at": now,
            "superseded_at": None,
            "as_of": as_of,
            "source": source[:120],
            "content": vault.seal_json(member_to_json(m), ENROLLED),
        }
        for m in members
    ]
    ids = insert_rows(conn, _members, rows, return_ids=True)
    return list(zip(ids, members, strict=True))


def remember_written(
    view: EnrolledView,
    read_up_to: int,
    written: Sequence[tuple[int, Member]],
    as_of: datetime,
    source: str,
) -> None:
    """After the commit, the versions this process wrote into its view without reading them
    back: only when the view was current when the lock was taken (``read_up_to``), so that no
    other writer's version falls between."""
    with _views_lock:
        if view.last_id != read_up_to:
            return
        for version, member in written:
            view.remember(version, member, as_of, source)


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    changed: int
    left: int  # members an 834 maintains now: the CSV does not change them


def import_members(engine: Engine, members: Iterable[Member], now: datetime) -> ImportResult:
    """A reference directory's ``members.csv`` into the enrollment: members not enrolled are
    added; members the CSV enrolled before take its changes; members an 834 changed since
    are the 834's, and left as they are. A member the CSV no longer lists is left too: ending
    coverage is an 834's (or a termination in the CSV's own ``effective_through``)."""
    with fewer_collections(), begin_write(engine) as conn:
        lock_enrollment(conn)
        view = enrolled(conn)
        read_up_to = view.last_id
        added: list[Member] = []
        changed: list[Member] = []
        left = 0
        for m in members:
            known = view.members.get(m.member_id)
            if known is None:
                added.append(m)
            elif view.sources.get(m.member_id) != CSV_SOURCE:
                left += 1
            elif member_to_json(known) != member_to_json(m):
                changed.append(m)
        written = write_versions(
            conn, view, [*added, *changed], now=now, as_of=now, source=CSV_SOURCE
        )
    remember_written(view, read_up_to, written, now, CSV_SOURCE)
    return ImportResult(len(added), len(changed), left)


# -- applying an 834 --------------------------------------------------------------------------


@dataclass(slots=True)
class EnrollmentReport:
    """What an 834 did: per member, in file order, and the claims it sent back."""

    file_name: str
    sponsor: str = ""
    actions: tuple[str, ...] = ()
    interchange_id: int | None = None
    duplicate_of: int | None = None  # the same bytes were applied before, as this interchange
    error: str = ""  # the file was refused whole: why
    acknowledgments: list[tuple[str, str]] = field(default_factory=list)  # (kind, X12)
    members: list[dict[str, Any]] = field(default_factory=list)
    readjusted: list[dict[str, str]] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for m in self.members:
            counts[m["outcome"]] += 1
        counts["readjusted"] = len(self.readjusted)
        return counts

    @property
    def applied(self) -> bool:
        return not self.error

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "sponsor": self.sponsor,
            "actions": list(self.actions),
            "interchange_id": self.interchange_id,
            "duplicate_of": self.duplicate_of,
            "error": self.error or None,
            "counts": self.counts,
            "members": self.members,
            "readjusted": self.readjusted,
            "acknowledgments": [k for k, _ in self.acknowledgments],
        }

    def text(self) -> str:
        out = io.StringIO()
        head = f"{self.file_name}: "
        if self.error:
            out.write(f"{head}refused: {self.error}\n")
            return out.getvalue()
        if self.duplicate_of is not None:
            out.write(f"{head}already applied (interchange {self.duplicate_of}): nothing changed\n")
            return out.getvalue()
        counts = self.counts
        said = ", ".join(f"{counts[k]} {k}" for k in (*OUTCOMES, "readjusted") if counts[k])
        what = "/".join(self.actions) or "change"
        out.write(f"{head}{what} file of sponsor {self.sponsor}: {said or 'no members'}\n")
        for m in self.members:
            if m["outcome"] in (UNCHANGED, MATCHES):
                continue
            where = f"INS at segment {m['position']}" if m["position"] else "not in the file"
            why = f": {m['reason']}" if m["reason"] else ""
            out.write(f"  {m['outcome']:<10} {m['member_id'] or '(no id)'} ({where}){why}\n")
        for r in self.readjusted:
            out.write(
                f"  readjusted claim {r['claim']} (service {r['service']}) as {r['as']}: "
                f"{r['why']}\n"
            )
        return out.getvalue()


@dataclass(frozen=True, slots=True)
class Received834:
    interchange_id: int
    duplicate: bool  # the same bytes were received before, as this interchange


def receive_834(
    engine: Engine, data: bytes, *, file_name: str, now: datetime, submitted_by: str | None = None
) -> Received834:
    """Store an 834 as received (``interchanges`` with ``transaction_set`` 834, state
    ``received``), for :func:`apply_stored_834` now or by a worker; the same bytes again are the
    interchange stored before. Input that is not X12 raises
    :class:`~claims_engine.domain.errors.InputFileError` naming the file, and is not stored."""
    header = read_header(data, file_name)
    digest = hashlib.sha256(data).hexdigest()
    i = _interchanges.c
    with begin_write(engine) as conn:
        found = conn.execute(select(i.id).where(i.sha256 == digest)).scalar()
        if found is not None:
            return Received834(int(found), duplicate=True)
        taken = conn.execute(
            select(i.id).where(
                i.sender_id == header.sender_id[:15], i.control_number == header.control[:9]
            )
        ).scalar()
        if taken is not None:
            raise InputFileError(
                f"{file_name}: interchange {header.control} of sender {header.sender_id} was "
                f"received before (interchange {taken}) with other content: send a new ISA13"
            )
        new_id = conn.execute(
            insert(_interchanges)
            .values(
                sha256=digest,
                sender_id=header.sender_id[:15],
                control_number=header.control[:9],
                file_name=file_name[-255:],
                raw=current_vault().seal(data, RAW),
                received_at=now,
                state=InterchangeState.RECEIVED,
                submitted_by=submitted_by,
                transaction_set="834",
            )
            .returning(i.id)
        ).scalar_one()
    return Received834(int(new_id), duplicate=False)


def apply_834(
    engine: Engine,
    data: bytes,
    *,
    file_name: str,
    now: datetime,
    plans: Sequence[str],
    sponsors: Mapping[str, Sponsor],
    sponsor_id: str | None = None,
    submitted_by: str | None = None,
    readjust: Readjust | None = None,
) -> EnrollmentReport:
    """Store and apply one 834 (:func:`receive_834`, :func:`apply_stored_834`); the same file
    again is answered with the report of its first application, changing nothing. A readable
    file whose sponsor may not be applied (:func:`check_sponsor`) is refused before it is
    stored (``interchange_id`` None): once the sponsor is right, the same bytes may come."""
    with fewer_collections():
        read = read_834(data)
    if isinstance(read, Enrollment):
        checked = check_sponsor(read, sponsor_id, sponsors)
        if checked.sponsor is None:
            return EnrollmentReport(file_name, error=checked.problem)
    received = receive_834(engine, data, file_name=file_name, now=now, submitted_by=submitted_by)
    report = apply_stored_834(
        engine,
        received.interchange_id,
        now=now,
        plans=plans,
        sponsors=sponsors,
        sponsor_id=sponsor_id,
        readjust=readjust,
        read=None if received.duplicate else read,
    )
    if received.duplicate:
        report.duplicate_of = received.interchange_id
    return report


def apply_stored_834(
    engine: Engine,
    interchange_id: int,
    *,
    now: datetime,
    plans: Sequence[str],
    sponsors: Mapping[str, Sponsor],
    sponsor_id: str | None = None,
    readjust: Readjust | None = None,
    read: Enrollment | Unreadable | None = None,
) -> EnrollmentReport:
    """Apply a received 834 as ``sponsor_id`` (a sponsor key's own, or ``--sponsor``;
    ``None``: as the file's N1*P5 says, which an insurer may do), under the enrollment lock, in
    one transaction: the members' new versions, the claims sent back to adjudication
    (``readjust``, :func:`claims_engine.services.readjustment.readjust`), the TA1 (when ISA14
    asks) and 999, the report, and the interchange ``ingested``. A file the envelope, the guide,
    the sponsor check or BGN08 refuses is ``rejected`` with its reason (and its TA1 or 999),
    nothing of it applied; each member the file cannot apply is refused alone. An interchange
    applied (or refused) before is answered with its stored report."""
    i = _interchanges.c
    vault = current_vault()
    with fewer_collections(), begin_write(engine) as conn:
        lock_enrollment(conn)
        row = conn.execute(
            select(i.id, i.state, i.raw, i.file_name, i.reason).where(
                i.id == interchange_id, i.transaction_set == "834"
            )
        ).first()
        if row is None:
            raise InputFileError(f"interchange {interchange_id} is not an 834 this store holds")
        report = EnrollmentReport(str(row.file_name), interchange_id=interchange_id)
        if row.state != InterchangeState.RECEIVED:
            return _stored_report(conn, row, report)
        if read is None:  # (the caller that stored the bytes may have read them already)
            read = read_834(vault.open(row.raw, RAW, interchange_id))
        if isinstance(read, Unreadable):
            report.error = read.reason
            report.acknowledgments = _refusal_acks(conn, read, interchange_id, now)
            _set_state(conn, interchange_id, InterchangeState.REJECTED, _kept_reason(read))
            return report
        checked = check_sponsor(read, sponsor_id, sponsors)
        sponsor, problem = checked.sponsor, checked.problem
        unknown = [t.action for t in read.transactions if t.action not in ACTIONS]
        if sponsor is not None and unknown:
            problem = (
                f"BGN08 {unknown[0]!r} is not an action this payer takes "
                "(2 change, 4 verify, RX replace)"
            )
        if sponsor is None or problem:
            report.error = problem
            _set_state(conn, interchange_id, InterchangeState.REJECTED, problem)
            return report
        report.sponsor = sponsor.id
        report.actions = tuple(ACTIONS[t.action] for t in read.transactions)
        view = enrolled(conn)
        read_up_to = view.last_id
        applied: list[Applied] = []
        writes: dict[str, Applied] = {}
        for t in read.transactions:
            results = _apply_set(t, view, writes, plans, sponsor, now)
            applied.extend(results)
            for a in results:
                if a.writes and a.after is not None:
                    writes[a.member_id] = a
        as_of = max((t.created_at or now) for t in read.transactions)
        source = f"834 interchange {interchange_id}"
        written = write_versions(
            conn,
            view,
            [a.after for a in writes.values() if a.after is not None],
            now=now,
            as_of=as_of,
            source=source,
        )
        report.members = [_member_json(a) for a in applied]
        if readjust is not None and writes:
            changes = [
                (a.before, a.after, changed_days(a.before, a.after))
                for a in writes.values()
                if a.after is not None
            ]
            report.readjusted = readjust(conn, interchange_id, changes, now)
        report.acknowledgments = _accepted_acks(conn, read, interchange_id, now)
        conn.execute(
            insert(_files).values(
                interchange_id=interchange_id,
                sponsor_id=sponsor.id,
                action=read.transactions[0].action[:2],
                applied_at=now,
                counts=report.counts,
                report=vault.seal_json(report.to_json(), ENROLLMENT_REPORT),
            )
        )
        _set_state(conn, interchange_id, InterchangeState.INGESTED, None)
    remember_written(view, read_up_to, written, as_of, source)
    return report


def _kept_reason(read: Unreadable) -> str:
    """Why an 834 was refused, as the store keeps it: without the values the file held (a
    name or a birth date quoted in a finding is health data)."""
    for group, ends in read.groups:
        for end in ends:
            for issue in end.issues:
                if issue.scope <= Scope.TRANSACTION:
                    return (
                        f"transaction set {end.header.control} rejected (999): "
                        + issue.describe(values=False)
                    )
        for issue in group.issues:
            return f"functional group {group.header.control} rejected (999): " + issue.describe(
                values=False
            )
    return read.reason


def _set_state(conn: Connection, interchange_id: int, state: str, reason: str | None) -> None:
    conn.execute(
        update(_interchanges)
        .where(_interchanges.c.id == interchange_id)
        .values(state=state, reason=reason)
    )


def _apply_set(
    t: EnrollmentTransaction,
    view: EnrolledView,
    earlier: Mapping[str, Applied],
    plans: Sequence[str],
    sponsor: Sponsor,
    now: datetime,
) -> list[Applied]:
    def current(member_id: str) -> Member | None:
        done = earlier.get(member_id)
        return done.after if done is not None else view.members.get(member_id)

    by_subscriber: dict[str, list[str]] = {}
    for a in earlier.values():
        if a.after is not None:
            by_subscriber.setdefault(a.after.subscriber_id, []).append(a.member_id)

    def dependants(subscriber_id: str) -> list[Member]:
        ids = view.families.get(subscriber_id, set()) | set(by_subscriber.get(subscriber_id, ()))
        found = [current(mid) for mid in ids]
        return [m for m in found if m is not None and m.subscriber_id == subscriber_id]

    enroller = Enroller(
        current=current,
        dependants=dependants,
        as_of_of=view.as_of.get,
        plans=plans,
        sponsor=sponsor,
        file_day=t.created or now.date(),
        as_of=t.created_at or now,
        action=t.action,
        in_file=frozenset(member_id_of(m) for m in t.members),
    )
    results: list[Applied] = []
    for m in t.members:
        results.extend(enroller.apply(m))
    if t.action in (ACTION_REPLACE,) or (t.action == ACTION_VERIFY and _is_full(t)):
        mine = [current(mid) for mid, m in view.members.items() if m.sponsor_id == sponsor.id]
        results.extend(enroller.missing([m for m in mine if m is not None]))
    return results


def _is_full(t: EnrollmentTransaction) -> bool:
    """A verify file is compared as a full file when its every member is an audit (030)."""
    return bool(t.members) and all(m.maintenance == "030" for m in t.members)


def _member_json(a: Applied) -> dict[str, Any]:
    return {
        "position": a.position,
        "member_id": a.member_id,
        "outcome": a.outcome,
        "reason": a.reason,
    }


MISMATCH, UNKNOWN, SEVERAL = "mismatch", "unknown", "several"


@dataclass(frozen=True, slots=True)
class SponsorCheck:
    """Whose enrollment a readable 834 is (N1*P5 N104 of every transaction set), checked
    against who sends it: ``sponsor`` when it may be applied, else ``problem`` (one line) and
    ``kind``: ``several`` sponsors named, a ``mismatch`` with the sender's sponsor, or a
    sponsor ``unknown`` to the reference data's ``sponsors.yaml``."""

    sponsor: Sponsor | None
    problem: str = ""
    kind: str = ""
    named: tuple[str, ...] = ()


def check_sponsor(
    read: Enrollment, sponsor_id: str | None, sponsors: Mapping[str, Sponsor]
) -> SponsorCheck:
    """The sponsor ``read`` is applied as: the file's own, which must be ``sponsor_id`` when
    given (a sponsor key's, or ``--sponsor``) and one of ``sponsors``."""
    named = tuple(sorted({t.sponsor.id for t in read.transactions}))
    shown = ", ".join(n or "(none)" for n in named)
    if len(named) != 1:
        problem = f"the file's transaction sets name different sponsors (N1*P5): {shown}"
        return SponsorCheck(None, problem, SEVERAL, named)
    if sponsor_id is not None and named[0] != sponsor_id:
        problem = (
            f"the file's sponsor (N1*P5 N104) is {shown}, not {sponsor_id}: a sponsor sends "
            "its own enrollment only"
        )
        return SponsorCheck(None, problem, MISMATCH, named)
    sponsor = sponsors.get(named[0])
    if sponsor is None:
        known = ", ".join(sorted(sponsors)) or "none"
        problem = (
            f"sponsor {named[0] or '(no N1*P5 N104)'} is not one the reference data's "
            f"sponsors.yaml lists (listed: {known})"
        )
        return SponsorCheck(None, problem, UNKNOWN, named)
    return SponsorCheck(sponsor, named=named)


def _accepted_acks(
    conn: Connection, read: Enrollment, interchange_id: int, now: datetime
) -> list[tuple[str, str]]:
    header = read.interchange
    groups: dict[str, tuple[GroupEnd, list[TransactionEnd]]] = {}
    order: list[str] = []
    for t in read.transactions:
        key = t.group.control
        if key not in groups:
            order.append(key)
            groups[key] = (GroupEnd(t.group, (), 0), [])
        groups[key][1].append(TransactionEnd(t.header, (), 0, len(t.members)))
    acks: list[tuple[str, str]] = []
    if header.ack_requested:
        out = io.StringIO()
        write_ta1(out, Envelope(header, next_numbers(conn, CONTROL_COUNTER, 1), now), None)
        acks.append((AckKind.TA1.value, out.getvalue()))
    out = io.StringIO()
    ended = [
        (GroupEnd(groups[k][0].header, (), len(groups[k][1])), tuple(groups[k][1])) for k in order
    ]
    write_999(out, Envelope(header, next_numbers(conn, CONTROL_COUNTER, 1), now), ended)
    acks.append((AckKind.IMPLEMENTATION.value, out.getvalue()))
    _store_acks(conn, interchange_id, header.control, acks, now)
    return acks


def _store_acks(
    conn: Connection, interchange_id: int, control: str, acks: list[tuple[str, str]], now: datetime
) -> None:
    vault = current_vault()
    insert_rows(
        conn,
        _acks,
        [
            {
                "interchange_id": interchange_id,
                "kind": kind,
                "control_number": x12[90:99] if x12.startswith("ISA") else "",
                "file_name": f"ix{interchange_id}.{control}.{kind}",
                "created_at": now,
                "content": vault.seal_text(x12, ACK),
            }
            for kind, x12 in acks
        ],
    )


def _refusal_acks(
    conn: Connection, read: Unreadable, interchange_id: int, now: datetime
) -> list[tuple[str, str]]:
    """The TA1 or 999 of an 834 that cannot be read (none without an ISA to answer)."""
    header = read.interchange
    if read.scope is None or header is None:
        return []
    out = io.StringIO()
    env = Envelope(header, next_numbers(conn, CONTROL_COUNTER, 1), now)
    if read.scope is Scope.INTERCHANGE:
        write_ta1(out, env, read.issue)
        kind = AckKind.TA1.value
    else:
        write_999(out, env, read.groups)
        kind = AckKind.IMPLEMENTATION.value
    acks = [(kind, out.getvalue())]
    _store_acks(conn, interchange_id, header.control, acks, now)
    return acks


def _stored_report(conn: Connection, row: Any, report: EnrollmentReport) -> EnrollmentReport:
    """The report of an 834 applied or refused before: as it was stored, and its acks."""
    vault = current_vault()
    found = conn.execute(
        select(_files.c.id, _files.c.report).where(_files.c.interchange_id == row.id)
    ).first()
    a = _acks.c
    report.acknowledgments = [
        (str(r.kind), vault.open_text(r.content, ACK, r.id))
        for r in conn.execute(
            select(a.id, a.kind, a.content).where(a.interchange_id == row.id).order_by(a.id)
        )
    ]
    if found is None:
        report.error = str(row.reason or "refused")
        return report
    stored = vault.open_json(found.report, ENROLLMENT_REPORT, found.id)
    report.sponsor = stored["sponsor"]
    report.actions = tuple(stored["actions"])
    report.members = list(stored["members"])
    report.readjusted = list(stored["readjusted"])
    return report


def enrollment_file(
    conn: Connection, interchange_id: int, visible: Any = None
) -> dict[str, Any] | None:
    """An 834 as the API shows it: its state (and the reason it was refused), the sponsor and
    when it was applied, its report, and its acknowledgments (with their hrefs); ``None`` when
    the store holds no such 834 or ``visible`` (a condition on ``interchanges``: the caller's
    key's) does not let the caller see it."""
    i, f, a = _interchanges.c, _files.c, _acks.c
    query = select(i.id, i.state, i.reason, i.received_at).where(
        i.id == interchange_id, i.transaction_set == "834"
    )
    if visible is not None:
        query = query.where(visible)
    row = conn.execute(query).first()
    if row is None:
        return None
    applied = conn.execute(
        select(f.id, f.sponsor_id, f.applied_at, f.report).where(f.interchange_id == interchange_id)
    ).first()
    report = None
    if applied is not None:
        report = current_vault().open_json(applied.report, ENROLLMENT_REPORT, applied.id)
    base = f"/v1/interchanges/{interchange_id}/acknowledgments"
    acks = conn.execute(
        select(a.id, a.kind, a.control_number, a.created_at)
        .where(a.interchange_id == interchange_id)
        .order_by(a.id)
    ).all()
    return {
        "id": int(row.id),
        "state": str(row.state),
        "reason": row.reason,
        "sponsor": applied.sponsor_id if applied is not None else None,
        "received_at": utc_text(row.received_at),
        "applied_at": utc_text(applied.applied_at) if applied is not None else None,
        "report": report,
        "acknowledgments": [
            {
                "id": int(r.id),
                "kind": str(r.kind),
                "control_number": r.control_number,
                "created_at": utc_text(r.created_at),
                "href": f"{base}/{r.id}",
            }
            for r in acks
        ],
    }


__all__ = [
    "ADDED",
    "CHANGED",
    "DIFFERS",
    "REFUSED",
    "REINSTATED",
    "STALE",
    "TERMINATED",
    "EnrollmentReport",
    "apply_834",
    "apply_stored_834",
    "enrolled",
    "enrollment_file",
    "import_members",
    "receive_834",
]
