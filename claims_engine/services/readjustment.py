"""Claims that a change of enrollment in the past makes wrong, sent back to adjudication.

When an 834 ends a member's coverage on a past day, claims already paid for services after
it were paid for someone the plan did not cover; when it adds or reinstates coverage in the
past, claims denied because the patient was not covered (CARC 26, 27) or not known (CARC 31)
become payable. :func:`readjust` finds, in the transaction that writes the new enrollment, the
standing decisions of such claims and makes for each a payer-initiated replacement: a new
claim row (frequency 7, REF*F8 the original's payer claim number, received on the original's
day so timely filing judges it as before) in the 834's interchange, ``accepted``. Adjudication
then reverses the original's decision and its accumulators and decides the claim again on the
enrollment as it now is, and the next 835 carries both: the reversal (CLP02 22) and the new
decision, with the PLB forward balance of :mod:`claims_engine.services.remittance` when the
payee's remittance would go negative. A claim whose message is lost is picked up by the
recovery sweep, like any ``accepted`` claim.

A claim denied CARC 31 was stored under the ids it was submitted with (no member matched):
when the member it names is now enrolled, its stored patient and family are the member's, so
that the replacement may reverse it (see
:func:`claims_engine.services.stored_adjudication._load_reversed`) and the member sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, Connection, String, any_, bindparam, select, update

from claims_engine.adjudication.decision import ClaimDecision
from claims_engine.domain.reference_data import Member
from claims_engine.services.stored_adjudication import read_decision
from claims_engine.store.bulk import insert_rows
from claims_engine.store.tables import (
    CLAIM,
    IDENTITY,
    ClaimState,
    adjudications_table,
    claim_events_table,
    claim_lines_table,
    claims_table,
    services_table,
)
from claims_engine.store.vault import current_vault

_claims = claims_table
_adjudications = adjudications_table
_lines = claim_lines_table
_events = claim_events_table
_services = services_table

ACTOR = "enrollment"
NOT_COVERED = frozenset({"26", "27", "31"})  # CARCs of a patient the plan did not cover
CHUNK = 1_000  # ids looked up per statement (SQLite: one bind each)
KEYS_PER_QUERY = 50_000  # lookups per statement on PostgreSQL (one array bind)

Change = tuple[Member | None, Member, list[tuple[date, date | None]]]


@dataclass(frozen=True, slots=True)
class _Found:
    claim_id: int
    payer_claim_number: str
    decision: ClaimDecision
    member: Member
    row: Any


def readjust(
    conn: Connection, interchange_id: int, changes: Sequence[Change], now: datetime
) -> list[dict[str, str]]:
    """Replacements for every standing decision that ``changes`` (each member before, after,
    and the days whose coverage changed) make wrong, in ``interchange_id``; what was sent back,
    one entry per claim."""
    found = _candidates(conn, [c for c in changes if c[2]])
    sent: list[dict[str, str]] = []
    vault = current_vault()
    rows: list[dict[str, Any]] = []
    originals: list[_Found] = []
    for f in found:
        why = _why(f.decision, f.member, _ranges_of(changes, f.member.member_id))
        if why:
            originals.append(f)
            sent.append({"claim": f.payer_claim_number, "why": why})
    if not originals:
        return []
    day = now.date()
    for ordinal, (f, said) in enumerate(zip(originals, sent, strict=True), start=1):
        number = f"{day:%y%m%d}{interchange_id:010d}001{ordinal:07d}"
        patient, family = f.member.member_id, f"family:{f.member.family_id}"
        document = vault.open_json(f.row.claim, CLAIM, f.claim_id)
        identity = vault.open_json(f.row.identity, IDENTITY, f.claim_id)
        document["frequency_code"] = "7"
        document["original_claim_number"] = f.payer_claim_number
        lookups = {"member_id": vault.lookup(patient)[:80], "family": vault.lookup(family)[:90]}
        if (f.row.member_id, f.row.family) != (lookups["member_id"], lookups["family"]):
            _rekey(conn, f, lookups, patient, identity)
        rows.append(
            {
                "payer_claim_number": number,
                "interchange_id": interchange_id,
                "ordinal": ordinal,
                "submitter_claim_id": f.row.submitter_claim_id,
                "billing_npi": f.row.billing_npi,
                **lookups,
                "identity": vault.seal_json(
                    {"member_id": patient, "claim_id": identity["claim_id"]}, IDENTITY
                ),
                "claim_type": f.row.claim_type,
                "frequency": "7",
                "original_claim_number": f.payer_claim_number,
                "state": ClaimState.ACCEPTED.value,
                "total_charge": f.row.total_charge,
                "received_on": f.row.received_on,
                "updated_at": now,
                "error": None,
                "claim": vault.seal_json(document, CLAIM),
            }
        )
        said["as"] = number
        said["service"] = str(f.decision.claim.service_from or "")
    ids = insert_rows(conn, _claims, rows, return_ids=True)
    for new_id, f in zip(ids, originals, strict=True):
        line_rows = [
            {k: v for k, v in r._mapping.items() if k != "id"} | {"claim_id": new_id}
            for r in conn.execute(select(_lines).where(_lines.c.claim_id == f.claim_id))
        ]
        insert_rows(conn, _lines, line_rows)
    insert_rows(
        conn,
        _events,
        [
            {
                "claim_id": new_id,
                "at": now,
                "actor": ACTOR,
                "from_state": None,
                "to_state": ClaimState.ACCEPTED.value,
                "reason": f"adjudicated again in place of {s['claim']}: {s['why']} "
                f"(834 interchange {interchange_id})",
            }
            for new_id, s in zip(ids, sent, strict=True)
        ],
    )
    for new_id, s in zip(ids, sent, strict=True):
        s["claim_id"] = str(new_id)
    return sent


def _among(conn: Connection, column: Any, values: list[str]) -> Any:
    """``column IN values``: one array parameter on PostgreSQL (a thousand binds cost its
    planner more than the lookup), the list on SQLite."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String())))
    return column.in_(values)


def _ranges_of(changes: Sequence[Change], member_id: str) -> list[tuple[date, date | None]]:
    return [r for _b, after, ranges in changes if after.member_id == member_id for r in ranges]


def _candidates(conn: Connection, changes: Sequence[Change]) -> list[_Found]:
    """The standing decisions of the claims of the changed members: stored as theirs (a member
    the payer knew), or under their subscriber's id as submitted (a member it adds: their
    claims found no member and were stored so)."""
    if not changes:
        return []
    vault = current_vault()
    by_lookup: dict[str, Member] = {}
    unknown_family: dict[str, list[Member]] = {}
    families: dict[str, str] = {}  # subscriber id -> the lookup of its family as submitted
    for before, after, _ranges in changes:
        if before is not None:  # claims of a member the payer knew are stored as theirs
            by_lookup[vault.lookup(after.member_id)[:80]] = after
        else:  # a member it did not: under the subscriber's id as submitted
            key = families.get(after.subscriber_id)
            if key is None:
                key = families[after.subscriber_id] = vault.lookup(
                    f"subscriber:{after.subscriber_id}"
                )[:90]
            unknown_family.setdefault(key, []).append(after)
    c, a = _claims.c, _adjudications.c
    decided = c.state.in_([ClaimState.ADJUDICATED.value, ClaimState.REMITTED.value])
    claim_ids: set[int] = set()
    for column, keys in ((c.member_id, sorted(by_lookup)), (c.family, sorted(unknown_family))):
        step = KEYS_PER_QUERY if conn.dialect.name == "postgresql" else CHUNK
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            claim_ids.update(
                conn.execute(select(c.id).where(_among(conn, column, chunk), decided)).scalars()
            )
    rows: list[Any] = []
    ordered = sorted(claim_ids)
    for start in range(0, len(ordered), CHUNK):
        rows.extend(
            conn.execute(
                select(
                    c.id,
                    c.payer_claim_number,
                    c.submitter_claim_id,
                    c.billing_npi,
                    c.member_id,
                    c.family,
                    c.identity,
                    c.claim_type,
                    c.total_charge,
                    c.received_on,
                    c.claim,
                    a.decision,
                    a.id.label("adjudication_id"),
                )
                .join(_adjudications, a.claim_id == c.id)
                .where(
                    c.id.in_(ordered[start : start + CHUNK]),
                    a.kind == "decision",
                    a.reversed_by.is_(None),
                )
                .order_by(c.id)
            )
        )
    found: list[_Found] = []
    for r in rows:
        decision = read_decision(r.decision, r.claim, r.adjudication_id, r.id)
        member = by_lookup.get(r.member_id)
        if member is None or r.family in unknown_family:
            member = _patient(decision, unknown_family.get(r.family, ())) or member
        if member is not None:
            found.append(_Found(int(r.id), str(r.payer_claim_number), decision, member, r))
    return found


def _patient(decision: ClaimDecision, members: Sequence[Member]) -> Member | None:
    """The member of a claim stored under its subscriber's id as submitted: the subscriber
    (relationship 18), or the dependant with the patient's birth date (and first name)."""
    claim = decision.claim
    if claim.patient_relationship == "18":
        return next((m for m in members if m.is_subscriber), None)
    same = [m for m in members if not m.is_subscriber and m.birth_date == claim.patient.birth_date]
    if len(same) > 1:
        same = [m for m in same if m.first_name == claim.patient.first_name.upper()]
    return same[0] if len(same) == 1 else None


def _why(
    decision: ClaimDecision, member: Member, ranges: Sequence[tuple[date, date | None]]
) -> str:
    """Why a decision is wrong now: a line paid for a day no longer covered, or a line denied
    as not covered for a day now covered; ``""`` when none is."""
    claim = decision.claim
    claim_denied = {adj.reason for adj in decision.claim_adjustments} & NOT_COVERED
    days = {ln.number: ln.service_from or claim.statement_from for ln in claim.lines}
    for line in decision.lines:
        day = days.get(line.line_number)
        if day is None or not any(s <= day and (e is None or day <= e) for s, e in ranges):
            continue
        denied = claim_denied or {adj.reason for adj in line.adjustments} & NOT_COVERED
        covered = member.covered_on(day)
        if covered and denied:
            return f"the member is covered on {day} now"
        if not covered and not denied:
            return f"the member's coverage does not include {day} now"
    return ""


def _rekey(
    conn: Connection, f: _Found, lookups: dict[str, str], patient: str, identity: dict[str, Any]
) -> None:
    """The original of a claim stored under the ids it was submitted with, kept as the
    member's now that the payer knows them."""
    vault = current_vault()
    conn.execute(
        update(_claims)
        .where(_claims.c.id == f.claim_id)
        .values(
            **lookups,
            identity=vault.seal_json({**identity, "member_id": patient}, IDENTITY),
        )
    )
    conn.execute(
        update(_services)
        .where(_services.c.payer_claim_number == f.payer_claim_number)
        .values(**lookups)
    )


__all__ = ["readjust"]
