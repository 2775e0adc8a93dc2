"""Who may read what through the adapters: API keys, the principal a key speaks for, the claims
it may see, and the audit of every read of health data.

* A key has a role: ``provider`` (sees claims billed under the NPIs it holds, and the
  interchanges and remittances that are its own), ``member`` (its own claims, those of the minors
  on its policy when it is the subscriber, and those of members it was granted), ``insurer``
  (everything), ``examiner`` or ``supervisor`` (the payer's claims examiners: pended claims,
  through the examination routes only, and what they need to decide them; see
  :func:`examination_refusal`), ``sponsor`` (an employer, exchange or agency of the reference
  data's ``sponsors.yaml``: sends the 834 enrollment of its own sponsor id, N1*P5, and reads
  what became of the 834s it sent; no claim, member or remittance; see
  :func:`enrollment_refusal`).
* A sender id (the ISA06 of an interchange, the GS02 of a functional group) belongs to the
  trading partner it is registered to. A provider key sends 837s only under the sender ids
  registered to it when it is made (none: it sends none); an insurer key, the payer's own,
  sends under any. While a key is active (neither expired nor revoked) no key of another
  trading partner may be given its sender ids: a new key shares them only when it is made as
  the same partner's (``same_partner_as``), e.g. to replace a key before it expires.
* The token is ``ce_<key id>_<secret>``. Only the SHA-256 of the secret is stored: the secret
  is 32 random bytes, so a slow password hash would add nothing but latency. A key expires, and
  can be revoked.
* A record a principal may not see is answered exactly as a missing one: callers get ``None``
  from these functions and cannot tell the two apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, insert, select, text, update

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.npi import npi_is_valid
from claims_engine.domain.reference_data import Member, ReferenceData
from claims_engine.services.intake import sender_ids
from claims_engine.services.queries import ClaimScope
from claims_engine.store.db import DriverStatement, begin_write, is_postgres
from claims_engine.store.tables import (
    api_key_senders_table,
    api_keys_table,
    interchanges_table,
    phi_reads_table,
    remittances_table,
)
from claims_engine.store.vault import current_vault

_keys = api_keys_table
_senders = api_key_senders_table
_reads = phi_reads_table

TOKEN_PREFIX = "ce_"
DEFAULT_LIFETIME = timedelta(days=90)
ADULT_AGE = 18
# ISA06 (trimmed of its padding) and GS02: 2 to 15 printable characters, no space at the ends
SENDER_ID = re.compile(r"[!-~][ -~]{0,13}[!-~]")
_SENDERS_LOCK = 0x73656E64657273  # "senders": serializes registrations on PostgreSQL
SPONSOR_ID_LENGTH = 80  # N1*P5 N104 (api_keys.sponsor_id)
KEY_ID = re.compile(r"[A-Za-z0-9-]{1,32}")  # no "_": it ends the key id in a token


class Role(StrEnum):
    PROVIDER = "provider"
    MEMBER = "member"
    INSURER = "insurer"
    EXAMINER = "examiner"  # works pended claims (claims_engine.services.examination)
    SUPERVISOR = "supervisor"  # an examiner who may also reassign and give back others' claims
    SPONSOR = "sponsor"  # sends its own group's 834 enrollment (services.members)


EXAMINING = frozenset({Role.EXAMINER, Role.SUPERVISOR})


@dataclass(frozen=True, slots=True)
class Principal:
    """The party a request speaks for, as its key says."""

    key_id: str
    role: Role
    npis: frozenset[str] = frozenset()
    member_id: str | None = None  # the lookup (keyed hash) of the member a key speaks for
    members: frozenset[str] = frozenset()  # lookups of whose claims it sees, itself included
    expires_at: datetime | None = None
    senders: frozenset[str] = frozenset()  # the ISA06 / GS02 ids it may send under
    sponsor_id: str | None = None  # a sponsor key's sponsor (N1*P5 N104 of its 834s)

    @property
    def sees_everything(self) -> bool:
        return self.role is Role.INSURER


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key_id: str
    token: str  # shown once, never stored
    role: Role
    npis: tuple[str, ...]
    member_id: str | None
    dependents: tuple[str, ...]
    expires_at: datetime
    senders: tuple[str, ...] = ()
    sponsor_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "token": self.token,
            "role": self.role.value,
            "npis": list(self.npis),
            "member_id": self.member_id,
            "dependents": list(self.dependents),
            "senders": list(self.senders),
            "sponsor_id": self.sponsor_id,
            "expires_at": self.expires_at.isoformat(),
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(
    engine: Engine,
    role: Role,
    *,
    now: datetime,
    npis: Sequence[str] = (),
    member_id: str | None = None,
    dependents: Sequence[str] = (),
    lifetime: timedelta = DEFAULT_LIFETIME,
    label: str = "",
    reference: ReferenceData | None = None,
    senders: Sequence[str] = (),
    same_partner_as: str | None = None,
    sponsor_id: str | None = None,
    sponsors: Iterable[str] | None = None,
    key_id: str | None = None,
) -> CreatedKey:
    """A new key; the token in the answer is the only copy of its secret.

    A provider key needs at least one valid NPI and no member; a member key needs a member id
    (known to ``reference`` when given) and no NPI; an insurer, examiner or supervisor key
    takes neither; a sponsor key takes ``sponsor_id`` (one of ``sponsors``, the ids of the
    reference data's ``sponsors.yaml``, when given) and nothing else. Only a
    provider key takes ``senders``, the sender ids it may send 837s under; one that an active
    key already holds only with ``same_partner_as`` naming such a key (see the module
    docstring). ``key_id`` names the key (a web account's, see
    :mod:`claims_engine.services.accounts`); a random id otherwise.
    """
    bad_npis = [n for n in npis if not npi_is_valid(n)]
    if bad_npis:
        raise ConfigurationError(f"not a valid NPI (ten digits, Luhn check digit): {bad_npis[0]}")
    bad_senders = [s for s in senders if not SENDER_ID.fullmatch(s)]
    if bad_senders:
        raise ConfigurationError(
            f"not a sender id (2 to 15 printable characters, no space at either end): "
            f"{bad_senders[0]!r}"
        )
    if (senders or same_partner_as) and role is not Role.PROVIDER:
        raise ConfigurationError(
            "only a provider key takes --sender (an insurer key sends under any sender id)"
        )
    sponsor_id = (sponsor_id or "").strip() or None
    if sponsor_id is not None and role is not Role.SPONSOR:
        raise ConfigurationError("only a sponsor key takes --sponsor")
    if same_partner_as and not senders:
        raise ConfigurationError("--same-partner-as shares sender ids: give them with --sender")
    if lifetime <= timedelta(0):
        raise ConfigurationError("a key's lifetime must be positive")
    if role is Role.PROVIDER:
        if not npis or member_id or dependents:
            raise ConfigurationError("a provider key takes one or more --npi and no member")
    elif role is Role.MEMBER:
        if not member_id or npis:
            raise ConfigurationError("a member key takes --member-id and no --npi")
        if reference is not None:
            for m in (member_id, *dependents):
                if m not in reference.members:
                    raise ConfigurationError(f"member {m} is not in the reference data")
    elif role is Role.INSURER:
        if npis or member_id or dependents:
            raise ConfigurationError("an insurer key sees every claim: it takes no --npi or member")
    elif role is Role.SPONSOR:
        if sponsor_id is None or npis or member_id or dependents:
            raise ConfigurationError(
                "a sponsor key takes --sponsor (its N1*P5 id in sponsors.yaml) and no --npi "
                "or member"
            )
        if len(sponsor_id) > SPONSOR_ID_LENGTH:
            raise ConfigurationError(
                f"--sponsor {sponsor_id[:20]!r}...: a sponsor id (N1*P5 N104) is at most "
                f"{SPONSOR_ID_LENGTH} characters"
            )
        if sponsors is not None:
            known = sorted(sponsors)
            if sponsor_id not in known:
                raise ConfigurationError(
                    f"sponsor {sponsor_id} is not in the reference data's sponsors.yaml "
                    f"(listed: {', '.join(known) or 'none'})"
                )
    elif npis or member_id or dependents:
        raise ConfigurationError(
            f"an {role.value} key works the payer's pended claims: it takes no --npi or member"
        )
    if key_id is not None and not KEY_ID.fullmatch(key_id):
        raise ConfigurationError(f"key id {key_id!r}: 1 to 32 letters, digits or '-'")
    key_id = key_id or secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    expires = now + lifetime
    npi_list = sorted(set(npis))
    dependent_list = sorted(set(dependents) - {member_id})
    sender_list = sorted(set(senders))
    lookup = current_vault().lookup
    with begin_write(engine) as conn:
        if sender_list:
            _check_senders_free(conn, sender_list, same_partner_as, now)
        conn.execute(
            insert(_keys).values(
                key_id=key_id,
                secret_sha256=_digest(secret),
                role=role.value,
                label=label[:200],
                npis=npi_list,
                member_id=lookup(member_id) if member_id else None,
                dependents=[lookup(m) for m in dependent_list],
                created_at=now,
                expires_at=expires,
                # only a sponsor key's: other keys are made on stores of any schema version
                **({"sponsor_id": sponsor_id} if sponsor_id is not None else {}),
            )
        )
        if sender_list:
            conn.execute(
                insert(_senders), [{"key_id": key_id, "sender_id": s} for s in sender_list]
            )
    return CreatedKey(
        key_id,
        f"{TOKEN_PREFIX}{key_id}_{secret}",
        role,
        tuple(npi_list),
        member_id,
        tuple(dependent_list),
        expires,
        tuple(sender_list),
        sponsor_id,
    )


def _check_senders_free(
    conn: Connection, senders: Sequence[str], same_partner_as: str | None, now: datetime
) -> None:
    """Refuse a sender id that an active key holds, unless ``same_partner_as`` is one of its
    holders (the new key is then of the same trading partner)."""
    if is_postgres(conn):  # two registrations of one id side by side: the second sees the first
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SENDERS_LOCK})
    k, s = _keys.c, _senders.c
    if same_partner_as is not None:
        partner = conn.execute(
            select(k.key_id).where(
                k.key_id == same_partner_as,
                k.role == Role.PROVIDER.value,
                k.revoked_at.is_(None),
                k.expires_at > now,
            )
        ).first()
        if partner is None:
            raise ConfigurationError(f"--same-partner-as: no active provider key {same_partner_as}")
    holders: dict[str, set[str]] = {}
    for sender, key_id in conn.execute(
        select(s.sender_id, s.key_id)
        .join(_keys, k.key_id == s.key_id)
        .where(s.sender_id.in_(senders), k.revoked_at.is_(None), k.expires_at > now)
    ):
        holders.setdefault(sender, set()).add(key_id)
    for sender in senders:
        held = holders.get(sender, set())
        if held and same_partner_as not in held:
            holder = min(held)
            raise ConfigurationError(
                f"sender id {sender!r} is registered to the active key {holder}: only a key of "
                f"the same trading partner may hold it too (--same-partner-as {holder})"
            )


def senders_of(conn: Connection, key_id: str | None = None) -> dict[str, list[str]]:
    """The sender ids registered to the key ``key_id`` (None: to every key), by key, sorted;
    keys without any are left out."""
    s = _senders.c
    query = select(s.key_id, s.sender_id).order_by(s.sender_id)
    if key_id is not None:
        query = query.where(s.key_id == key_id)
    found: dict[str, list[str]] = {}
    for holder, sender in conn.execute(query):
        found.setdefault(holder, []).append(sender)
    return found


def revoke_key(engine: Engine, key_id: str, now: datetime) -> bool:
    """Revoke a key; False when there is no such key (or it was revoked already)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(_keys)
            .where(_keys.c.key_id == key_id, _keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return bool(done.rowcount)


def list_keys(engine: Engine, reference: ReferenceData | None = None) -> list[dict[str, Any]]:
    """Every key without its secret, oldest first. Members are kept as lookups only: those
    in ``reference`` are named by their member id, others by ``lookup:`` and the lookup."""
    names = reference_lookups(reference)

    def name(lookup: str | None) -> str | None:
        return None if lookup is None else names.get(lookup, f"lookup:{lookup}")

    k = _keys.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                k.key_id,
                k.role,
                k.label,
                k.npis,
                k.member_id,
                k.dependents,
                k.sponsor_id,
                k.created_at,
                k.expires_at,
                k.revoked_at,
            ).order_by(k.id)
        ).all()
        senders = senders_of(conn)
    return [
        {
            "key_id": r.key_id,
            "role": r.role,
            "label": r.label,
            "npis": list(r.npis),
            "member_id": name(r.member_id),
            "dependents": [name(m) for m in r.dependents],
            "senders": senders.get(r.key_id, []),
            "sponsor_id": r.sponsor_id,
            "created_at": r.created_at.isoformat(),
            "expires_at": r.expires_at.isoformat(),
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    key_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not key_id or not secret or len(key_id) > 32:
        return None
    return key_id, secret


def authenticate(
    engine: Engine, token: str, now: datetime, reference: ReferenceData | None
) -> Principal | None:
    """The principal of a valid, unexpired, unrevoked token; None for anything else."""
    parts = split_token(token)
    if parts is None:
        return None
    key_id, secret = parts
    with engine.connect() as conn:
        row = conn.execute(select(_keys).where(_keys.c.key_id == key_id)).first()
        if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return principal_of_row(conn, row._mapping, now, reference)


def principal_of_key(
    conn: Connection, key_id: str, now: datetime, reference: ReferenceData | None
) -> Principal | None:
    """The principal the key ``key_id`` speaks for, when it is neither expired nor revoked
    (None otherwise, or when there is no such key); the caller has proven it may use the key
    (its token's secret, or a web account's sign-in)."""
    row = conn.execute(select(_keys).where(_keys.c.key_id == key_id)).first()
    if row is None:
        return None
    return principal_of_row(conn, row._mapping, now, reference)


def principal_of_row(
    conn: Connection, key: Mapping[Any, Any], now: datetime, reference: ReferenceData | None
) -> Principal | None:
    """The principal of a key read by the caller (``key``: the ``api_keys`` columns by name),
    None when it expired or was revoked; a provider's sender ids are read with ``conn``."""
    if key["revoked_at"] is not None or key["expires_at"] <= now:
        return None
    role = Role(key["role"])
    key_id = str(key["key_id"])
    senders = senders_of(conn, key_id).get(key_id, []) if role is Role.PROVIDER else []
    members: frozenset[str] = frozenset()
    if role is Role.MEMBER and key["member_id"]:
        members = visible_members(key["member_id"], key["dependents"], reference, now.date())
    return Principal(
        key_id=key_id,
        role=role,
        npis=frozenset(key["npis"]),
        member_id=key["member_id"],
        members=members,
        expires_at=key["expires_at"],
        senders=frozenset(senders),
        sponsor_id=key["sponsor_id"] if role is Role.SPONSOR else None,
    )


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


_lookups: list[tuple[object, str, dict[str, str]]] = []  # (members, vault identity, map)


def reference_lookups(reference: ReferenceData | None) -> dict[str, str]:
    """The lookup of every member id of ``reference``, to the id (made once per reference
    data and vault: one reference is in force at a time)."""
    if reference is None:
        return {}
    vault = current_vault()
    for members, identity, found in _lookups:
        if members is reference.members and identity == vault.identity():
            return found
    found = {vault.lookup(m): m for m in reference.members}
    _lookups[:] = [(reference.members, vault.identity(), found)]
    return found


_dependents: list[tuple[object, dict[str, tuple[Member, ...]]]] = []  # (members, by subscriber)


def dependents_of(reference: ReferenceData, subscriber_id: str) -> tuple[Member, ...]:
    """The members of ``reference`` on the policy of the subscriber ``subscriber_id``, but the
    subscriber (an index made once per reference data, as :func:`reference_lookups`)."""
    for members, found in _dependents:
        if members is reference.members:
            return found.get(subscriber_id, ())
    index: dict[str, list[Member]] = {}
    for other in reference.members.values():
        if other.subscriber_id and other.subscriber_id != other.member_id:
            index.setdefault(other.subscriber_id, []).append(other)
    made = {k: tuple(v) for k, v in index.items()}
    _dependents[:] = [(reference.members, made)]
    return made.get(subscriber_id, ())


def visible_members(
    member: str, granted: Iterable[str], reference: ReferenceData | None, today: date
) -> frozenset[str]:
    """Lookups of the member itself (``member``, a lookup), the members it was granted, and,
    when it is the subscriber of a policy, the dependents on that policy who are minors
    today."""
    seen = {member, *granted}
    member_id = reference_lookups(reference).get(member)
    me = reference.members.get(member_id) if reference and member_id else None
    if reference is not None and me is not None and me.is_subscriber:
        lookup = current_vault().lookup
        for other in dependents_of(reference, me.member_id):
            if age_on(other.birth_date, today) < ADULT_AGE:
                seen.add(lookup(other.member_id))
    return frozenset(seen)


# -- what a principal may see -------------------------------------------------------------------


def sending_refusal(principal: Principal, raw: bytes) -> str | None:
    """Why ``principal`` may not send the 837 body ``raw`` under the sender ids in it (every
    ISA06 and GS02), or None when it may: an insurer key sends under any, a provider key only
    under the sender ids registered to it, a member key nothing. Cheap (the envelopes alone),
    so it is asked before the body is read whole."""
    if principal.role is Role.INSURER:
        return None
    if principal.role is not Role.PROVIDER:
        return "only provider and insurer keys submit claims"
    if not principal.senders:
        return (
            "this key has no sender id registered: the insurer registers the ISA06 / GS02 "
            "ids it sends under (claims-engine keys create --sender)"
        )
    foreign = sorted(sender_ids(raw) - principal.senders)
    if foreign:
        listed = ", ".join(repr(s) for s in foreign[:5])
        return f"sender ids (ISA06 / GS02) not registered to this key: {listed}"
    return None


def claim_scope(principal: Principal) -> ClaimScope:
    """The claims a principal may see through the claim routes: all, those billed under its
    NPIs, or its members'. An examiner's or supervisor's: none (a pended claim, with what is
    needed to decide it, is read through the examination routes); a sponsor's: none."""
    if principal.role is Role.INSURER:
        return ClaimScope()
    if principal.role is Role.PROVIDER:
        return ClaimScope("billing_npi", tuple(sorted(principal.npis)))
    if principal.role in EXAMINING or principal.role is Role.SPONSOR:
        return ClaimScope("member_id", ())  # nothing
    return ClaimScope("member_id", tuple(sorted(principal.members)))


def examination_refusal(principal: Principal, *, acting: bool) -> str | None:
    """Why ``principal`` may not use an examination route (queues, a pended claim as its
    examiners see it, actions waiting for approval; ``acting``: take, act on, approve), or
    None when it may. Examiner and supervisor keys read and act; an insurer key, the payer's
    analyst rather than an examiner, reads (it sees every claim already) and acts on none;
    provider and member keys do neither."""
    if principal.role in EXAMINING:
        return None
    if principal.role is Role.INSURER:
        if not acting:
            return None
        return (
            "an insurer key reads the queues but does not act on pended claims: examiners use "
            "examiner or supervisor keys (claims-engine keys create --role examiner)"
        )
    return "only examiner, supervisor and insurer keys see the queues of pended claims"


def enrollment_refusal(principal: Principal, file_sponsors: Iterable[str]) -> str | None:
    """Why ``principal`` may not send an 834 whose transaction sets name the sponsors
    ``file_sponsors`` (their N1*P5 N104), or None when it may: an insurer key sends any
    sponsor's, a sponsor key its own sponsor's only, other keys none."""
    if principal.role is Role.INSURER:
        return None
    if principal.role is not Role.SPONSOR or not principal.sponsor_id:
        return "only insurer and sponsor keys send 834 enrollment"
    foreign = sorted(set(file_sponsors) - {principal.sponsor_id})
    if foreign:
        listed = ", ".join(repr(s or "(none)") for s in foreign[:5])
        return (
            f"the file's sponsor (N1*P5 N104) {listed} is not this key's sponsor "
            f"{principal.sponsor_id!r}: a sponsor sends its own enrollment only"
        )
    return None


def active_examiner(conn: Connection, key_id: str, now: datetime) -> bool:
    """Whether ``key_id`` is an active (unexpired, unrevoked) examiner or supervisor key:
    whom a claim may be reassigned to."""
    k = _keys.c
    found = conn.execute(
        select(k.key_id).where(
            k.key_id == key_id,
            k.role.in_(sorted(r.value for r in EXAMINING)),
            k.revoked_at.is_(None),
            k.expires_at > now,
        )
    ).first()
    return found is not None


def claim_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """The condition on ``claims`` rows a principal may see (None: every row)."""
    return claim_scope(principal).condition()


def interchange_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """Interchanges: an insurer sees all, a provider or a sponsor those its key submitted, a
    member (and an examiner) none (an interchange's acknowledgments name other patients and
    providers)."""
    if principal.role is Role.INSURER:
        return None
    if principal.role in (Role.PROVIDER, Role.SPONSOR):
        return interchanges_table.c.submitted_by == principal.key_id
    return interchanges_table.c.id.is_(None)  # nothing


def remittance_visibility(principal: Principal) -> ColumnElement[bool] | None:
    """Remittances: an insurer sees all, a provider those paying an NPI it holds, others
    none."""
    if principal.role is Role.INSURER:
        return None
    if principal.role is Role.PROVIDER:
        return remittances_table.c.payee_npi.in_(sorted(principal.npis))
    return remittances_table.c.id.is_(None)


# -- the audit of reads ---------------------------------------------------------------------------


def audit_entry(principal: Principal, route: str, now: datetime) -> dict[str, Any]:
    """The who, when and how of a read, for a query that writes its audit row itself."""
    return {
        "at": now,
        "key_id": principal.key_id,
        "role": principal.role.value,
        "route": route[:200],
    }


def record_reads(
    conn: Connection,
    principal: Principal,
    route: str,
    record_type: str,
    record_ids: Iterable[int | str],
    now: datetime,
) -> int:
    """One audit row per record read; in the caller's transaction, so a read whose audit
    cannot be written fails with it."""
    return record_reads_of(conn, principal, route, ((record_type, r) for r in record_ids), now)


def record_reads_of(
    conn: Connection,
    principal: Principal,
    route: str,
    records: Iterable[tuple[str, int | str]],
    now: datetime,
) -> int:
    """:func:`record_reads` of records of several types (``(type, id)`` each), in one
    statement (on PostgreSQL one ``INSERT ... SELECT`` of two arrays, not a statement a
    row)."""
    entry = audit_entry(principal, route, now)
    pairs = [(kind, str(r)[:64]) for kind, r in records]
    if not pairs:
        return 0
    if is_postgres(conn):
        _READS_SQL.rows(
            conn, {**entry, "types": [k for k, _ in pairs], "ids": [r for _, r in pairs]}
        )
    else:
        conn.execute(
            insert(_reads), [{**entry, "record_type": k, "record_id": r} for k, r in pairs]
        )
    return len(pairs)


_READS_FROM_ARRAYS = text(
    "INSERT INTO phi_reads (at, key_id, role, route, record_type, record_id) "
    "SELECT :at, :key_id, :role, :route, r.t, r.i "
    "FROM unnest(CAST(:types AS text[]), CAST(:ids AS text[])) AS r(t, i)"
)
_READS_SQL = DriverStatement(lambda: _READS_FROM_ARRAYS)  # every page's audit, on the driver


def reads_of(engine: Engine, record_type: str, record_id: int | str) -> list[dict[str, Any]]:
    """The audit rows of one record, oldest first."""
    r = _reads.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(_reads)
            .where(r.record_type == record_type, r.record_id == str(record_id))
            .order_by(r.id)
        ).all()
    return [dict(row._mapping) for row in rows]
