"""Submissions into the store, and their intake.

:func:`submit` keeps an 837 file's bytes as an interchange row, once: the same content (by SHA-256)
or the same sender and ISA13 again is a duplicate, answered with a TA1 note 025 and never processed.
:func:`ingest_interchange` runs the intake (:mod:`claims_engine.front_end.ingest`) over a stored
interchange in one transaction: its TA1 / 999 / 277CA, every claim (accepted ones with their payer
claim numbers, rejected ones with their reasons), their lines and their first event. It returns the
accepted claims in batches of whole families, for adjudication. :func:`sender_ids` names the sender
ids a file sends under, for the API to refuse a key the ids not registered to it before anything is
stored.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from claims_engine.domain.codec import claim_to_json
from claims_engine.domain.errors import InputFileError, X12FormatError
from claims_engine.domain.issues import Issue, Scope
from claims_engine.domain.money import round_money
from claims_engine.front_end.edits import ALL_LEVELS
from claims_engine.front_end.ingest import IntakeOptions, MemoryAckOutput, ingest
from claims_engine.services.reference import Runtime
from claims_engine.store.bulk import insert_rows
from claims_engine.store.db import (
    CONTROL_COUNTER,
    begin_write,
    error_line,
    is_postgres,
    is_transient,
    next_numbers,
)
from claims_engine.store.tables import (
    ACK,
    CLAIM,
    IDENTITY,
    RAW,
    ClaimState,
    InterchangeState,
    acknowledgments_table,
    claim_events_table,
    claim_lines_table,
    claims_table,
    interchange_controls_table,
    interchanges_table,
)
from claims_engine.store.vault import current_vault
from claims_engine.x12 import codes
from claims_engine.x12.acks import ClaimAck, Envelope, write_ta1
from claims_engine.x12.envelope import InterchangeHeader
from claims_engine.x12.envelope_walk import read_header
from claims_engine.x12.tokenizer import SegmentReader

BATCH_CLAIMS = 500  # claims per adjudication message (a larger family stays whole)
_FLUSH_CLAIMS = 2000
_MILLI = Decimal("0.001")

_interchanges = interchanges_table
_controls = interchange_controls_table
_acks = acknowledgments_table
_claims = claims_table
_lines = claim_lines_table
_events = claim_events_table


@dataclass(frozen=True, slots=True)
class Submission:
    """What :func:`submit` did with one file."""

    file_name: str
    interchange_id: int
    sender_id: str
    control_number: str
    sha256: str
    duplicate: bool = False
    ta1: str = ""  # the TA1 025 answering a duplicate


@dataclass(slots=True)
class IngestResult:
    interchange_id: int
    state: str
    claims_accepted: int = 0
    claims_rejected: int = 0
    already_done: bool = False
    reason: str = ""
    batches: list[list[int]] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)  # claims read, by claim type
    rejections: dict[tuple[str, str], int] = field(default_factory=dict)  # (stage, code): n
    size_bytes: int = 0


def sender_ids(raw: bytes) -> frozenset[str]:
    """Every sender id in ``raw``: the ISA06 of each interchange (without its padding) and the
    GS02 of each functional group, read as the intake reads the segments, whether or not the
    intake will accept them (a blank one is ``""``)."""
    found: set[str] = set()
    reader = SegmentReader(io.BytesIO(raw))
    try:
        for texts, _bad in reader.batches():
            element = reader.delimiters.element
            for segment in texts:
                if segment.startswith(("ISA", "GS")):
                    elements = segment.split(element, 7)
                    if elements[0] == "ISA":
                        found.add(elements[6].strip() if len(elements) > 6 else "")
                    elif elements[0] == "GS":
                        found.add(elements[2].strip() if len(elements) > 2 else "")
    except X12FormatError:
        pass  # the stream stops being X12: the intake reads no further either
    return frozenset(found)


def _first_functional_id(raw: bytes, header: InterchangeHeader) -> str:
    """GS01 of the first functional group (``""`` when none is in the file's first 64 KiB)."""
    d = header.delimiters
    text = raw[:65536].decode("utf-8", errors="replace")
    for segment in text.split(d.segment):
        fields = segment.lstrip("\r\n\t ").split(d.element, 2)
        if fields[0] == "GS":
            return fields[1].strip() if len(fields) > 1 else ""
    return ""


def submit(
    engine: Engine, raw: bytes, file_name: str, now: datetime, *, submitted_by: str | None = None
) -> Submission:
    """Store ``raw`` as a new interchange, or recognize it as a duplicate of a stored one.
    ``submitted_by`` names the API key that sent it (None from the command line)."""
    header = read_header(raw, file_name)
    if _first_functional_id(raw, header) == "BE":
        raise InputFileError(
            f"{file_name}: an 834 enrollment file (GS01 BE), not claims: apply it with "
            "`claims-engine enroll` (or POST /v1/x12/834); nothing stored"
        )
    digest = hashlib.sha256(raw).hexdigest()
    for _attempt in range(2):
        try:
            with begin_write(engine) as conn:
                found = _find(conn, digest, header)
                if found is not None:
                    ta1 = _duplicate_ta1(conn, found, header, now)
                    return Submission(
                        file_name,
                        found,
                        header.sender_id,
                        header.control,
                        digest,
                        duplicate=True,
                        ta1=ta1,
                    )
                new_id = conn.execute(
                    insert(_interchanges)
                    .values(
                        sha256=digest,
                        sender_id=header.sender_id[:15],
                        control_number=header.control[:9],
                        file_name=file_name[-255:],
                        raw=current_vault().seal(raw, RAW),
                        received_at=now,
                        state=InterchangeState.RECEIVED,
                        submitted_by=submitted_by,
                    )
                    .returning(_interchanges.c.id)
                ).scalar_one()
                return Submission(file_name, new_id, header.sender_id, header.control, digest)
        except IntegrityError:
            continue  # stored by a concurrent submit since we looked: answer as a duplicate
    raise InputFileError(f"{file_name}: could not be stored (conflicting concurrent submits)")


@dataclass(frozen=True, slots=True)
class Preflight:
    """Whether a body is worth storing: ``usable`` unless it is not X12, its every interchange
    is refused (TA1), or no transaction set is accepted in an accepted functional group (999:
    every group rejected on its AK9, or every transaction set). ``kind`` names the
    acknowledgment that says why (``""`` when the body is not X12 at all, so there is none)."""

    usable: bool
    reason: str = ""
    kind: str = ""
    acknowledgment: str = ""
    claims: int = 0
    billing_npis: frozenset[str] = frozenset()  # of every claim read, accepted or not


def stored_claim_prefix(
    received_on: date, interchange_id: int
) -> Callable[[InterchangeHeader, int], str]:
    """The payer claim numbers of a stored interchange: the day received, the interchange's
    row id (ten digits) and the place of the ISA in its file (three), then each claim's place
    (seven): 26 digits, unique because the row id is, whatever the senders and their ISA13s."""

    def prefix(_header: InterchangeHeader, ordinal: int) -> str:
        return f"{received_on:%y%m%d}{interchange_id:010d}{ordinal:03d}"

    return prefix


def preflight(
    raw: bytes,
    now: datetime,
    levels: frozenset[int] = ALL_LEVELS,
    partner_levels: dict[str, frozenset[int]] | None = None,
) -> Preflight:
    """Read ``raw`` the way the intake will, storing nothing, to refuse at once a submission
    that could yield nothing (the HTTP API answers it with 400 or 422 instead of 202). The
    intake proper still runs on the stored interchange, with duplicate checks and numbering."""
    output = MemoryAckOutput()
    options = IntakeOptions(
        received_on=now.date(), created=now, levels=levels, partner_levels=partner_levels or {}
    )
    sink = _Usable()
    summary = ingest(io.BytesIO(raw), options, output, sink=sink)
    if not summary.interchanges:
        return Preflight(False, summary.file_error or "not an X12 interchange")
    if not any(ix.accepted for ix in summary.interchanges):
        first = summary.interchanges[0]
        ta1 = next((t for (k, _), t in output.files.items() if k == "ta1"), "")
        return Preflight(False, f"interchange refused: {first.reason}", "ta1", ta1)
    if not sink.usable:
        problems = "; ".join(summary.envelope_problems[:3]) or "every transaction set rejected"
        ack = next((t for (k, _), t in output.files.items() if k == "999"), "")
        return Preflight(False, f"nothing accepted: {problems}", "999", ack)
    return Preflight(True, claims=summary.claims, billing_npis=frozenset(sink.billing))


class _Usable:
    """The sink of :func:`preflight`: who bills each claim read, and whether a transaction set
    was accepted in a functional group and an interchange that were accepted too (a group its
    GE rejects takes its transaction sets down with it)."""

    def __init__(self) -> None:
        self.billing: set[str] = set()
        self.transactions = 0  # accepted, in the open functional group
        self.groups = 0  # accepted with an accepted transaction set, in the open interchange
        self.usable = False

    def claim(self, ack: ClaimAck) -> None:
        self.billing.add(ack.claim.billing_provider.npi)

    def transaction_end(self, accepted: bool, unread: int = 0) -> None:
        self.transactions += accepted

    def group_end(self, accepted: bool) -> None:
        self.groups += accepted and self.transactions > 0
        self.transactions = 0

    def interchange_end(self, accepted: bool) -> None:
        self.usable = self.usable or (accepted and self.groups > 0)
        self.groups = 0


def _find(conn: Connection, digest: str, header: InterchangeHeader) -> int | None:
    query = select(_interchanges.c.id).where(
        or_(
            _interchanges.c.sha256 == digest,
            (_interchanges.c.sender_id == header.sender_id[:15])
            & (_interchanges.c.control_number == header.control[:9]),
        )
    )
    found = conn.execute(query.order_by(_interchanges.c.id).limit(1)).scalar()
    if found is None:  # an interchange that came inside an earlier file
        found = _control_owner(conn, header)
    return None if found is None else int(found)


def _control_owner(conn: Connection, header: InterchangeHeader) -> int | None:
    k = _controls.c
    found = conn.execute(
        select(k.interchange_id).where(
            k.sender_id == header.sender_id[:15], k.control_number == header.control[:9]
        )
    ).scalar()
    return None if found is None else int(found)


class _Controls:
    """The store's answer to "was this interchange received before?" during an intake: each
    interchange header of the file is recorded, and one already recorded for another
    submission (or twice in this one) is a duplicate."""

    def __init__(self, conn: Connection, interchange_id: int) -> None:
        self.conn = conn
        self.interchange_id = interchange_id
        self.seen: set[tuple[str, str]] = set()

    def __call__(self, header: InterchangeHeader) -> str:
        key = (header.sender_id[:15], header.control[:9])
        if key in self.seen:
            return f"ISA13 {header.control} from {header.sender_id} twice in this file"
        self.seen.add(key)
        owner = _control_owner(self.conn, header)
        if owner is None:
            owner = self.conn.execute(
                select(_interchanges.c.id).where(
                    _interchanges.c.sender_id == key[0],
                    _interchanges.c.control_number == key[1],
                    _interchanges.c.id != self.interchange_id,
                )
            ).scalar()
        if owner is not None and int(owner) != self.interchange_id:
            # not naming the interchange it came in: this reason is shown to the submitter
            return f"ISA13 {header.control} from {header.sender_id} was received before"
        if owner is None:
            self.conn.execute(
                insert(_controls).values(
                    sender_id=key[0], control_number=key[1], interchange_id=self.interchange_id
                )
            )
        return ""


def _duplicate_ta1(
    conn: Connection, original: int, header: InterchangeHeader, now: datetime
) -> str:
    control = next_numbers(conn, CONTROL_COUNTER, 1)
    issue = Issue(
        "TA1-025",
        f"duplicate of interchange {original}: the same file, or the same sender and ISA13",
        1,
        Scope.INTERCHANGE,
        ack_code=codes.TA1_DUPLICATE,
    )
    out = io.StringIO()
    write_ta1(out, Envelope(header, control, now), issue)
    text = out.getvalue()
    conn.execute(
        insert(_acks).values(
            interchange_id=original,
            kind="ta1",
            control_number=f"{control:09d}",
            file_name=f"duplicate.{header.control}.{control:09d}.ta1",
            created_at=now,
            content=current_vault().seal_text(text, ACK),
        )
    )
    return text


# -- intake of a stored interchange ---------------------------------------------------------------


class _StoreSink:
    """Writes each claim of the intake as it is decided, in chunks, and marks claims rejected
    when their transaction set, group or interchange is (all inside the intake's transaction,
    so nothing is visible before the whole interchange is)."""

    def __init__(
        self, conn: Connection, interchange_id: int, runtime: Runtime, options: IntakeOptions
    ) -> None:
        self.conn = conn
        self.interchange_id = interchange_id
        self.runtime = runtime
        self.vault = current_vault()
        self.received_on = options.received_on
        self.now = options.created
        self.ordinal = 0
        self._pending: list[tuple[int, ClaimAck]] = []
        self._txn_start = 1
        self._group_start = 1
        self._ix_start = 1
        self.accepted: list[tuple[int, str, int]] = []  # (claim id, family, ordinal)
        self.rejected = 0
        self.received: dict[str, int] = {}
        self.rejections: dict[tuple[str, str], int] = {}

    def claim(self, ack: ClaimAck) -> None:
        self.ordinal += 1
        self._pending.append((self.ordinal, ack))
        if len(self._pending) >= _FLUSH_CLAIMS:
            self.flush()

    def transaction_end(self, accepted: bool, unread: int = 0) -> None:
        if not accepted:
            self._reject(self._txn_start, "its transaction set was rejected (999)", "IK5")
            if unread:  # claims never read after the fault: counted, with the set's reason
                self.rejected += unread
                key = ("transaction_set", "IK5")
                self.rejections[key] = self.rejections.get(key, 0) + unread
        self._txn_start = self.ordinal + 1

    def group_end(self, accepted: bool) -> None:
        if not accepted:
            self._reject(self._group_start, "its functional group was rejected (999)", "AK9")
        self._group_start = self._txn_start = self.ordinal + 1

    def interchange_end(self, accepted: bool) -> None:
        if not accepted:
            self._reject(self._ix_start, "its interchange was rejected (TA1)", "TA1")
        self._ix_start = self._group_start = self._txn_start = self.ordinal + 1

    def _reject(self, first: int, why: str, code: str = "") -> None:
        if self.ordinal < first:
            return
        self.flush()
        c = _claims.c
        self.conn.execute(
            update(_claims)
            .where(
                c.interchange_id == self.interchange_id,
                c.ordinal >= first,
                c.ordinal <= self.ordinal,
                c.state == ClaimState.ACCEPTED,
            )
            .values(state=ClaimState.REJECTED, payer_claim_number=None, error=why)
        )
        gone = {o for _, _, o in self.accepted if first <= o <= self.ordinal}
        if gone:
            self.accepted = [a for a in self.accepted if a[2] not in gone]
            self.rejected += len(gone)
            stage = {"IK5": "transaction_set", "AK9": "functional_group"}.get(code, "interchange")
            self.rejections[stage, code] = self.rejections.get((stage, code), 0) + len(gone)

    def flush(self) -> None:
        if not self._pending:
            return
        rows = [self._row(ordinal, ack) for ordinal, ack in self._pending]
        ids = insert_rows(self.conn, _claims, rows, return_ids=True)
        lines: list[dict[str, Any]] = []
        for claim_id, (ordinal, ack), row in zip(ids, self._pending, rows, strict=True):
            kind = ack.claim.claim_type.value
            self.received[kind] = self.received.get(kind, 0) + 1
            if ack.accepted:
                self.accepted.append((claim_id, row["family"], ordinal))
            else:
                self.rejected += 1
                key = ("claim", ack.issues[0].code if ack.issues else "other")
                self.rejections[key] = self.rejections.get(key, 0) + 1
            lines.extend(_line_rows(claim_id, ack))
        insert_rows(self.conn, _lines, lines)
        self._pending.clear()

    def _row(self, ordinal: int, ack: ClaimAck) -> dict[str, Any]:
        claim = ack.claim
        patient = self.runtime.patient_of(claim)
        return {
            "payer_claim_number": ack.payer_claim_number or None,
            "interchange_id": self.interchange_id,
            "ordinal": ordinal,
            "submitter_claim_id": self.vault.lookup(claim.claim_id)[:38],
            "billing_npi": claim.billing_provider.npi[:10],
            "member_id": self.vault.lookup(patient)[:80],
            "identity": self.vault.seal_json(
                {"member_id": patient, "claim_id": claim.claim_id}, IDENTITY
            ),
            "family": self.vault.lookup(self.runtime.family_of(claim))[:90],
            "claim_type": claim.claim_type.value,
            "frequency": claim.frequency_code[:1],
            "original_claim_number": claim.original_claim_number[:50] or None,
            "state": (ClaimState.ACCEPTED if ack.accepted else ClaimState.REJECTED).value,
            "total_charge": round_money(claim.total_charge),  # the JSON keeps what was sent
            "received_on": self.received_on,
            "updated_at": self.now,
            # without the values quoted from the claim: a failed birth date is still PHI
            "error": None
            if ack.accepted
            else "; ".join(i.describe(values=False) for i in ack.issues),
            "claim": self.vault.seal_json(claim_to_json(claim), CLAIM),
        }


def _line_rows(claim_id: int, ack: ClaimAck) -> Iterator[dict[str, Any]]:
    for line in ack.claim.lines:
        proc = line.procedure
        yield {
            "claim_id": claim_id,
            "line_number": line.number,
            "procedure": (f"{proc.qualifier}:{proc.code}" if proc else "")[:48],
            "modifiers": (":".join(proc.modifiers) if proc else "")[:16],
            "revenue_code": line.revenue_code[:4],
            "charge": round_money(line.charge),
            "units": line.units.quantize(_MILLI, ROUND_HALF_UP),
            "service_from": line.service_from,
            "service_to": line.service_to,
        }


def _ack_control(text: str) -> str:
    if len(text) > 106 and text.startswith("ISA"):
        fields = text[:106].split(text[3])
        if len(fields) > 13:
            return fields[13][:9]
    return ""


def ingest_interchange(
    engine: Engine,
    interchange_id: int,
    runtime: Runtime,
    now: datetime,
    *,
    levels: frozenset[int] = ALL_LEVELS,
    partner_levels: dict[str, frozenset[int]] | None = None,
) -> IngestResult:
    """Run the intake over a stored interchange, once; a second call finds it done and does
    nothing (its accepted claims are adjudicated by the batches the first call returned, or
    found again by :mod:`claims_engine.services.recovery`)."""
    with engine.connect() as conn:
        raw = conn.execute(
            select(_interchanges.c.raw).where(_interchanges.c.id == interchange_id)
        ).scalar()
    if raw is None:
        raise InputFileError(f"interchange {interchange_id} is not in the store")
    raw = current_vault().open(raw, RAW, interchange_id)
    # Control numbers for the acknowledgments: at most a TA1, a 999 and a 277CA per ISA.
    # Reserved in a short transaction of their own; a crash only leaves a gap.
    needed = 3 * max(1, raw.count(b"ISA")) + 3
    with begin_write(engine) as conn:
        first_control = next_numbers(conn, CONTROL_COUNTER, needed)
    try:
        return _ingest(
            engine, interchange_id, raw, runtime, now, first_control, levels, partner_levels
        )
    except Exception as exc:
        if is_transient(exc):
            raise  # the message is retried
        reason = f"intake failed: {type(exc).__name__}: {error_line(exc)}"
    # A fault that retrying will not mend: the interchange is rejected with the reason, so it
    # neither comes back forever nor holds later submissions back.
    with begin_write(engine) as conn:
        conn.execute(
            update(_interchanges)
            .where(
                _interchanges.c.id == interchange_id,
                _interchanges.c.state == InterchangeState.RECEIVED,
            )
            .values(state=InterchangeState.REJECTED.value, reason=reason)
        )
    return IngestResult(
        interchange_id, InterchangeState.REJECTED.value, reason=reason, size_bytes=len(raw)
    )


def _ingest(
    engine: Engine,
    interchange_id: int,
    raw: bytes,
    runtime: Runtime,
    now: datetime,
    first_control: int,
    levels: frozenset[int],
    partner_levels: dict[str, frozenset[int]] | None,
) -> IngestResult:
    with begin_write(engine) as conn:
        query = select(_interchanges.c.state, _interchanges.c.file_name).where(
            _interchanges.c.id == interchange_id
        )
        if is_postgres(conn):
            query = query.with_for_update()
        row = conn.execute(query).one()
        if row.state != InterchangeState.RECEIVED:
            # A redelivery: the first run may have stopped before its batches were sent.
            c = _claims.c
            waiting = conn.execute(
                select(c.id, c.family)
                .where(c.interchange_id == interchange_id, c.state == ClaimState.ACCEPTED)
                .order_by(c.ordinal)
            ).all()
            return IngestResult(
                interchange_id,
                row.state,
                already_done=True,
                batches=family_batches((int(r.id), str(r.family)) for r in waiting),
            )
        options = IntakeOptions(
            received_on=now.date(),
            created=now,
            levels=levels,
            partner_levels=partner_levels or {},
            first_control=first_control,
            duplicate_of=_Controls(conn, interchange_id),
            claim_prefix=stored_claim_prefix(now.date(), interchange_id),
        )
        output = MemoryAckOutput()
        sink = _StoreSink(conn, interchange_id, runtime, options)
        name = f"ix{interchange_id}"
        summary = ingest(io.BytesIO(raw), options, output, sink=sink, name=name)
        sink.flush()
        vault = sink.vault
        ack_rows = [
            {
                "interchange_id": interchange_id,
                "kind": kind,
                "control_number": _ack_control(text),
                "file_name": f"{key}.{kind}",
                "created_at": now,
                "content": vault.seal_text(text, ACK),
            }
            for (kind, key), text in sorted(output.files.items(), key=lambda kv: kv[0][1])
        ]
        insert_rows(conn, _acks, ack_rows)
        c = _claims.c
        accepted_reason = literal("accepted (277CA), payer claim number ") + c.payer_claim_number
        conn.execute(
            insert(_events).from_select(
                ["claim_id", "at", "actor", "from_state", "to_state", "reason"],
                select(
                    c.id,
                    literal(now),
                    literal("intake"),
                    literal(ClaimState.RECEIVED.value),
                    c.state,
                    func.coalesce(c.error, accepted_reason),
                ).where(c.interchange_id == interchange_id),
            )
        )
        accepted_any = any(ix.accepted for ix in summary.interchanges)
        reasons = [f"{ix.control}: {ix.reason}" for ix in summary.interchanges if not ix.accepted]
        if summary.file_error:
            reasons.append(summary.file_error)
        state = InterchangeState.INGESTED if accepted_any else InterchangeState.REJECTED
        conn.execute(
            update(_interchanges)
            .where(_interchanges.c.id == interchange_id)
            .values(state=state, reason="; ".join(reasons) or None)
        )
    return IngestResult(
        interchange_id,
        state,
        claims_accepted=len(sink.accepted),
        claims_rejected=sink.rejected,
        reason="; ".join(reasons),
        batches=family_batches((cid, fam) for cid, fam, _ in sink.accepted),
        received=sink.received,
        rejections=sink.rejections,
        size_bytes=len(raw),
    )


def family_batches(claims: Any, size: int = BATCH_CLAIMS) -> list[list[int]]:
    """Claim ids in batches of about ``size``, each family's claims in one batch and in order
    (a family with more claims than ``size`` gets a batch of its own)."""
    by_family: dict[str, list[int]] = {}
    for claim_id, family in claims:
        by_family.setdefault(family, []).append(claim_id)
    batches: list[list[int]] = []
    current: list[int] = []
    for family in sorted(by_family):
        ids = by_family[family]
        if current and len(current) + len(ids) > size:
            batches.append(current)
            current = []
        current.extend(ids)
    if current:
        batches.append(current)
    return batches


def write_acknowledgments(engine: Engine, interchange_ids: list[int], out_dir: Path) -> list[Path]:
    """Write the stored acknowledgments of these interchanges into ``out_dir``, in the order
    they were made; returns their paths."""
    a = _acks.c
    vault = current_vault()
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.file_name, a.content)
            .where(a.interchange_id.in_(interchange_ids))
            .order_by(a.interchange_id, a.id)
        ).all()
    paths: list[Path] = []
    if rows:
        out_dir.mkdir(parents=True, exist_ok=True)
    for row in rows:
        path = out_dir / f"{row.file_name}.x12"
        text = vault.open_text(row.content, ACK, row.file_name)
        path.write_text(text, encoding="ascii", newline="")
        paths.append(path)
    return paths
