"""Accounts of the web portal: people (members, providers, the payer's examiners) who sign in
with an email, a password and an authenticator app, rather than holding an API key.

* An account is a principal exactly as an API key is: each has its own ``api_keys`` row
  (``web-`` and the user id), made by :func:`claims_engine.services.access.create_key` with
  the same checks as ``keys create`` (a member known to the reference data, valid NPIs, sender
  ids of no other partner), whose secret is thrown away as soon as it is made: it is never a
  bearer token. The API's scopes, its audit of reads (``phi_reads.key_id``) and examiner
  actions therefore work unchanged for a person signed in. Disabling the account revokes the
  key.
* An account starts as an invitation: a link, shown once to whoever made the account, that lets
  its owner choose a password (at least ``MIN_PASSWORD_LENGTH`` characters, not the email) and
  then enrol an authenticator app (TOTP, RFC 6238: :mod:`claims_engine.domain.totp`), after
  which ``RECOVERY_CODE_COUNT`` single-use recovery codes are shown once. Everyone has the
  second factor; there is no account without it past enrolment.
* Passwords are kept as argon2id hashes (argon2-cffi's defaults, hashed again when they change);
  the app's secret is sealed (:mod:`claims_engine.store.vault`); the email is sealed, and found
  by its lookup; invitation, session and recovery tokens are kept as their SHA-256 only (each
  is 32 random bytes, or 50 random bits used once: a slow hash would add nothing).
* ``MAX_FAILURES`` failed sign-ins in a row (a wrong password, or a wrong second factor) lock the
  account for ``LOCKOUT``, refusing even the right password; a sign-in that reaches the full
  stage starts the count again. An unknown email, a wrong password, a locked and a disabled
  account all get the same answer, so the answer never tells whether an email has an account.
  A code of the app is taken once (its time step is kept), one step either side of now.
* A session is a cookie's random token (only its SHA-256 kept) with a stage (:class:`Stage`) and
  a CSRF token. It ends after ``IDLE_TIMEOUT`` without use (its last use is kept to within
  ``TOUCH_EVERY``: a page seen sooner after the last kept one writes nothing, so a busy session
  costs no write a page and may end that much early, never late) or ``ABSOLUTE_TIMEOUT`` after its
  sign-in began, when its owner signs out, and when the account is locked, reset or disabled;
  the end is kept on the server (``ended_at``, ``end_reason``) and an ended session's token
  never works again. Each change of stage gives the session a new token and a new CSRF token,
  ending the old, so a token planted before sign-in is worth nothing after.
* Everything is recorded in ``account_events``: who, when, what; never a password, code, token
  or email.

Time is always an argument (``now``, naive UTC, as :func:`claims_engine.runtime.clock.now`
gives it).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, Row, Select, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from claims_engine.domain.errors import ClaimsEngineError, ConfigurationError
from claims_engine.domain.reference_data import ReferenceData
from claims_engine.domain.totp import base32_secret, matching_step, otpauth_uri
from claims_engine.services.access import (
    Principal,
    Role,
    create_key,
    principal_of_key,
    principal_of_row,
)
from claims_engine.store.db import DriverStatement, begin_write, is_postgres
from claims_engine.store.tables import (
    ACCOUNT_EMAIL,
    ACCOUNT_TOTP,
    account_events_table,
    account_invitations_table,
    accounts_table,
    api_keys_table,
    recovery_codes_table,
    web_sessions_table,
)
from claims_engine.store.vault import current_vault

IDLE_TIMEOUT = timedelta(minutes=15)
TOUCH_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
ABSOLUTE_TIMEOUT = timedelta(hours=12)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
# failed sign-ins from one client address (any accounts, known or not) within CLIENT_WINDOW
# that refuse its next sign-ins, before any password is checked, until the oldest is older
CLIENT_MAX_FAILURES = 20
CLIENT_WINDOW = timedelta(minutes=15)
INVITATION_LIFETIME = timedelta(days=7)
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # a longer one would only make the hash slow to compute
RECOVERY_CODE_COUNT = 10
TOTP_SECRET_BYTES = 20  # RFC 4226: the length of SHA-1's output
ISSUER = "claims-engine"
KEY_PREFIX = "web-"
KEY_LABEL = "portal account"
KEY_EXPIRES = datetime(9999, 12, 31)  # an account's key lasts until the account is disabled
EMAIL_LENGTH = 254
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
RECOVERY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # base32: no 0/O or 1/I to confuse
RECOVERY_LENGTH = 10

WRONG_SIGN_IN = (
    f"wrong email or password (after {MAX_FAILURES} failed sign-ins in a row an account is "
    f"locked for {LOCKOUT.seconds // 60} minutes)"
)
WRONG_CODE = "wrong code: give the 6 digits your authenticator app shows now, or a recovery code"
NOW_LOCKED = (
    f"too many failed attempts: you are signed out and the account is locked for "
    f"{LOCKOUT.seconds // 60} minutes"
)
THROTTLED = (
    f"too many failed sign-ins from your network: sign-in is paused for up to "
    f"{CLIENT_WINDOW.seconds // 60} minutes"
)
SESSION_OVER = "your session has ended: sign in again"
BAD_INVITATION = (
    "this invitation link does not work: it was used already, replaced by a newer one, or it "
    "expired; ask for a new one"
)

_accounts = accounts_table
_invitations = account_invitations_table
_codes = recovery_codes_table
_sessions = web_sessions_table
_events = account_events_table


class AccountError(ClaimsEngineError):
    """A sign-in, invitation or session step refused. Its text is safe to show to the person:
    it never tells whether an email has an account."""


class Throttled(AccountError):
    """A sign-in refused before its password is looked at: its client address failed
    ``CLIENT_MAX_FAILURES`` sign-ins within ``CLIENT_WINDOW``. ``retry_after``: whole seconds
    until one more is taken."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(THROTTLED)
        self.retry_after = retry_after


class SessionEnds(AccountError):
    """A session found over (idle, too old, its account locked or disabled, its key revoked)
    by a check that does not end it itself (:func:`live_session` without ``end``)."""


class Stage(StrEnum):
    ENROLL = "enroll"  # password set from an invitation, the authenticator app not yet confirmed
    SECOND = "second"  # password right, the second factor not yet given
    FULL = "full"


@dataclass(frozen=True, slots=True)
class Invitation:
    """A new account's (or a reset one's) link to choose a password; ``token`` is the only
    copy."""

    user_id: str
    email: str
    role: Role
    token: str
    expires_at: datetime

    def path(self) -> str:
        return "/invitation/" + self.token


@dataclass(frozen=True, slots=True)
class TotpEnrollment:
    secret: str  # base32, no padding: for typing into an app by hand
    uri: str  # otpauth://totp/claims-engine:<email>?secret=...&issuer=claims-engine&...
    qr_svg: str  # an <svg> element with a <title>, the URI as a QR code


@dataclass(frozen=True, slots=True)
class WebSession:
    token: str  # the cookie's value (the store has its SHA-256 only)
    user_id: str
    email: str
    role: Role
    stage: Stage
    csrf: str
    created_at: datetime  # when its sign-in began
    last_seen_at: datetime
    principal: Principal | None  # only at Stage.FULL: the account's key's principal


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id, RFC 9106's second recommended parameters


@cache
def _dummy_hash() -> str:
    """A hash to check a password against when there is no account: an unknown email takes as
    long to refuse as a wrong password."""
    return _hasher().hash(secrets.token_urlsafe(16))


def _password_matches(stored: str | None, password: str) -> bool:
    try:
        return _hasher().verify(stored or _dummy_hash(), password[:MAX_PASSWORD_LENGTH]) and bool(
            stored
        )
    except (VerificationError, InvalidHashError):
        return False


def _unix(now: datetime) -> int:
    return int(now.replace(tzinfo=UTC).timestamp())


def normal_email(email: str) -> str:
    """``email`` without spaces at its ends; ConfigurationError when it is no email address."""
    found = email.strip()
    if len(found) > EMAIL_LENGTH or not EMAIL.fullmatch(found):
        raise ConfigurationError(f"not an email address: {found[:60]!r}")
    return found


def email_lookup(email: str) -> str:
    """The lookup an account is found by: of the address in lower case."""
    return current_vault().lookup("email:" + email.strip().lower())


def _email_of(row: Row[Any]) -> str:
    return current_vault().open_text(row.email, ACCOUNT_EMAIL, row.id)


def _event(
    conn: Connection, now: datetime, user_id: str | None, event: str, detail: str = ""
) -> None:
    conn.execute(
        insert(_events).values(at=now, user_id=user_id, event=event[:40], detail=detail[:200])
    )


def _account(conn: Connection, user_id: str, *, lock: bool = False) -> Row[Any] | None:
    query = select(_accounts).where(_accounts.c.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first()


def check_password(password: str, email: str) -> None:
    """AccountError when ``password`` may not be an account's."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().casefold() == email.strip().casefold():
        raise AccountError("a password may not be the email address")


# -- made by the payer's administrator ------------------------------------------------------------


def create_user(
    engine: Engine,
    role: Role,
    *,
    email: str,
    now: datetime,
    member_id: str | None = None,
    npis: Sequence[str] = (),
    senders: Sequence[str] = (),
    reference: ReferenceData | None = None,
) -> Invitation:
    """A new account and its invitation. A member account takes ``member_id`` (known to
    ``reference`` when given), a provider account one or more ``npis`` (and may take the
    ``senders`` it sends 837s under), an insurer, examiner or supervisor account neither, as
    their API keys do; a sponsor has no account (it sends files, through the API).
    ConfigurationError says what is wrong, including an email that has an account already."""
    if role is Role.SPONSOR:
        raise ConfigurationError("a sponsor sends 834s through the API: it has no portal account")
    email = normal_email(email)
    lookup = email_lookup(email)
    with engine.connect() as conn:
        taken = conn.execute(
            select(_accounts.c.user_id).where(_accounts.c.email_lookup == lookup)
        ).first()
    if taken is not None:
        raise ConfigurationError(f"{email} has an account already: {taken.user_id}")
    user_id = secrets.token_hex(8)
    key = create_key(
        engine,
        role,
        now=now,
        npis=npis,
        member_id=member_id,
        lifetime=KEY_EXPIRES - now,
        label=KEY_LABEL,
        reference=reference,
        senders=senders,
        key_id=KEY_PREFIX + user_id,
    )  # the token it answers with is dropped here: nobody ever holds it
    vault = current_vault()
    try:
        with begin_write(engine) as conn:
            conn.execute(
                insert(_accounts).values(
                    user_id=user_id,
                    email_lookup=lookup,
                    email=vault.seal_text(email, ACCOUNT_EMAIL),
                    role=role.value,
                    key_id=key.key_id,
                    failures=0,
                    created_at=now,
                )
            )
            invitation = _new_invitation(conn, user_id, email, role, now)
            _event(conn, now, user_id, "created", f"role {role.value}")
    except IntegrityError as exc:  # the same email made at the same moment by another
        with begin_write(engine) as conn:
            _revoke(conn, key.key_id, now)
        raise ConfigurationError(f"{email} has an account already") from exc
    return invitation


def _new_invitation(
    conn: Connection, user_id: str, email: str, role: Role, now: datetime
) -> Invitation:
    """A new invitation of the account; any older one no longer works."""
    i = _invitations.c
    conn.execute(
        update(_invitations)
        .where(i.user_id == user_id, i.used_at.is_(None), i.voided_at.is_(None))
        .values(voided_at=now)
    )
    token = secrets.token_urlsafe(32)
    expires = now + INVITATION_LIFETIME
    conn.execute(
        insert(_invitations).values(
            user_id=user_id, token_sha256=_sha256(token), created_at=now, expires_at=expires
        )
    )
    return Invitation(user_id, email, role, token, expires)


def _revoke(conn: Connection, key_id: str, now: datetime) -> None:
    k = api_keys_table.c
    conn.execute(
        update(api_keys_table)
        .where(k.key_id == key_id, k.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _end_sessions(
    conn: Connection, user_id: str, now: datetime, reason: str, *, signing_in_only: bool = False
) -> int:
    """End the account's sessions (``signing_in_only``: those not yet signed in whole)."""
    s = _sessions.c
    where = [s.user_id == user_id, s.ended_at.is_(None)]
    if signing_in_only:
        where.append(s.stage != Stage.FULL.value)
    done = conn.execute(
        update(_sessions).where(*where).values(ended_at=now, end_reason=reason[:40])
    )
    return int(done.rowcount)


def reset_user(engine: Engine, user_id: str, now: datetime) -> Invitation:
    """A lost phone or password: the account's password, authenticator app and recovery codes
    are cleared, its sessions end, its lockout is lifted, and a new invitation replaces any
    older one. AccountError when there is no such account or it is disabled."""
    with begin_write(engine) as conn:
        row = _account(conn, user_id, lock=True)
        if row is None:
            raise AccountError(f"no account {user_id} (claims-engine users list)")
        if row.disabled_at is not None:
            raise AccountError(f"account {user_id} is disabled")
        conn.execute(
            update(_accounts)
            .where(_accounts.c.user_id == user_id)
            .values(
                password_hash=None,
                totp_secret=None,
                totp_confirmed_at=None,
                totp_last_step=None,
                failures=0,
                locked_until=None,
            )
        )
        conn.execute(delete(_codes).where(_codes.c.user_id == user_id))
        ended = _end_sessions(conn, user_id, now, "account reset")
        invitation = _new_invitation(conn, user_id, _email_of(row), Role(row.role), now)
        _event(conn, now, user_id, "reset", f"{ended} sessions ended")
    return invitation


def disable_user(engine: Engine, user_id: str, now: datetime) -> bool:
    """Disable an account for good: its key is revoked, its sessions end, its invitation no
    longer works. False when there is no such account, or it was disabled already."""
    with begin_write(engine) as conn:
        row = _account(conn, user_id, lock=True)
        if row is None or row.disabled_at is not None:
            return False
        conn.execute(
            update(_accounts).where(_accounts.c.user_id == user_id).values(disabled_at=now)
        )
        _revoke(conn, row.key_id, now)
        i = _invitations.c
        conn.execute(
            update(_invitations)
            .where(i.user_id == user_id, i.used_at.is_(None), i.voided_at.is_(None))
            .values(voided_at=now)
        )
        ended = _end_sessions(conn, user_id, now, "account disabled")
        _event(conn, now, user_id, "disabled", f"key revoked, {ended} sessions ended")
    return True


def _state(row: Row[Any], now: datetime | None) -> str:
    if row.disabled_at is not None:
        return "disabled"
    if row.locked_until is not None and (now is None or row.locked_until > now):
        return "locked"
    if row.password_hash is None or row.totp_confirmed_at is None:
        return "invited"
    return "active"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def list_users(engine: Engine, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every account, oldest first, without secrets: ``user_id``, ``email``, ``role``,
    ``key_id``, ``state`` (``invited`` until its app is enrolled, ``active``, ``locked``,
    ``disabled``), ``created_at``, ``last_sign_in_at``, ``locked_until``, ``disabled_at``.
    Without ``now`` a lockout counts until the next sign-in attempt clears it."""
    with engine.connect() as conn:
        rows = conn.execute(select(_accounts).order_by(_accounts.c.id)).all()
    return [
        {
            "user_id": r.user_id,
            "email": _email_of(r),
            "role": r.role,
            "key_id": r.key_id,
            "state": _state(r, now),
            "created_at": _iso(r.created_at),
            "last_sign_in_at": _iso(r.last_sign_in_at),
            "locked_until": _iso(r.locked_until),
            "disabled_at": _iso(r.disabled_at),
        }
        for r in rows
    ]


# -- invitations ----------------------------------------------------------------------------------


def _invitation_row(conn: Connection, token: str) -> Row[Any] | None:
    i = _invitations.c
    return conn.execute(select(_invitations).where(i.token_sha256 == _sha256(token))).first()


def _invitation_valid(invitation: Row[Any] | None, account: Row[Any] | None, now: datetime) -> bool:
    return (
        invitation is not None
        and account is not None
        and invitation.used_at is None
        and invitation.voided_at is None
        and invitation.expires_at > now
        and account.disabled_at is None
    )


def invitation_of(engine: Engine, token: str, now: datetime) -> tuple[str, Role] | None:
    """The email and role of the account an invitation is for, while it works (unused, not
    replaced, unexpired, its account not disabled); None otherwise."""
    with engine.connect() as conn:
        found = _invitation_row(conn, token)
        account = _account(conn, found.user_id) if found is not None else None
        if not _invitation_valid(found, account, now) or account is None:
            return None
        return _email_of(account), Role(account.role)


def accept_invitation(
    engine: Engine,
    token: str,
    password: str,
    now: datetime,
    reference: ReferenceData | None = None,
) -> WebSession:
    """The account's password chosen from its invitation, which is then used up; a session at
    :attr:`Stage.ENROLL` (the authenticator app comes next). AccountError for a password that
    may not be (the invitation still works then) or an invitation that does not."""
    with engine.connect() as conn:
        found = _invitation_row(conn, token)
        account = _account(conn, found.user_id) if found is not None else None
    if found is None or account is None or not _invitation_valid(found, account, now):
        if found is not None:
            with begin_write(engine) as conn:
                _event(conn, now, found.user_id, "invitation refused", "used, replaced or expired")
        raise AccountError(BAD_INVITATION)
    email = _email_of(account)
    check_password(password, email)
    hashed = _hasher().hash(password)  # slow: outside the transaction
    with begin_write(engine) as conn:
        i = _invitations.c
        taken = conn.execute(
            update(_invitations)
            .where(i.id == found.id, i.used_at.is_(None), i.voided_at.is_(None), i.expires_at > now)
            .values(used_at=now)
        )
        if taken.rowcount != 1:  # used or replaced since it was read
            raise AccountError(BAD_INVITATION)
        conn.execute(
            update(_accounts)
            .where(_accounts.c.user_id == account.user_id, _accounts.c.disabled_at.is_(None))
            .values(password_hash=hashed, failures=0, locked_until=None)
        )
        made = _new_session(conn, account.user_id, Stage.ENROLL, now, now)
        _event(conn, now, account.user_id, "invitation accepted", "password set")
        return _web_session(conn, made, account, now, reference)


# -- sessions -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Made:
    token: str
    csrf: str
    stage: Stage
    created_at: datetime


def _new_session(
    conn: Connection, user_id: str, stage: Stage, now: datetime, created_at: datetime
) -> _Made:
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        insert(_sessions).values(
            token_sha256=_sha256(token),
            user_id=user_id,
            stage=stage.value,
            csrf=csrf,
            created_at=created_at,
            last_seen_at=now,
        )
    )
    return _Made(token, csrf, stage, created_at)


def _web_session(
    conn: Connection,
    made: _Made,
    account: Row[Any],
    now: datetime,
    reference: ReferenceData | None,
) -> WebSession:
    principal = None
    if made.stage is Stage.FULL:
        principal = principal_of_key(conn, account.key_id, now, reference)
    return WebSession(
        token=made.token,
        user_id=account.user_id,
        email=_email_of(account),
        role=Role(account.role),
        stage=made.stage,
        csrf=made.csrf,
        created_at=made.created_at,
        last_seen_at=now,
        principal=principal,
    )


def _end(conn: Connection, session_id: int, now: datetime, reason: str) -> bool:
    s = _sessions.c
    done = conn.execute(
        update(_sessions)
        .where(s.id == session_id, s.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason[:40])
    )
    return bool(done.rowcount)


def _live_query() -> Select[Any]:
    s, a, k = _sessions.c, _accounts.c, api_keys_table.c
    return (
        select(
            s.id,
            s.user_id,
            s.stage,
            s.csrf,
            s.created_at,
            s.last_seen_at,
            s.ended_at,
            a.id.label("account_id"),
            a.email,
            a.role,
            a.disabled_at,
            a.locked_until,
            k.key_id,
            k.role.label("key_role"),
            k.npis,
            k.member_id,
            k.dependents,
            k.sponsor_id,
            k.expires_at,
            k.revoked_at,
        )
        .select_from(_sessions)
        .outerjoin(_accounts, a.user_id == s.user_id)
        .outerjoin(api_keys_table, k.key_id == a.key_id)
        .where(s.token_sha256 == bindparam("token"))
    )


_LIVE = _live_query()  # made once: every page asks it
_LIVE_SQL = DriverStatement(_live_query)  # on PostgreSQL, past SQLAlchemy's work per statement
# a session's use, written at most every TOUCH_EVERY (a page of a busy session writes nothing)
_TOUCH = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)
_TOUCH_SQL = DriverStatement(lambda: _TOUCH)


def _live(conn: Connection, token: str, now: datetime, *, end: bool = True) -> Any | None:
    """The session of ``token`` with its account's and its key's columns, in one statement,
    while it lasts (touched: seen ``now``); one that should have ended (idle, too old, its
    account locked or disabled) is ended now, with its reason, and None answered. The row's
    ``id``, ``user_id``, ``created_at`` are the session's; ``account_id`` and ``key_role`` the
    account's id and its key's role. Without ``end``, a session that should end raises
    :class:`SessionEnds` instead (the caller, in autocommit, ends it in a transaction)."""
    token_key = {"token": _sha256(token)}
    session: Any  # a row, SQLAlchemy's or the driver's: the same names
    if is_postgres(conn):
        session = _LIVE_SQL.first(conn, token_key)
    else:
        session = conn.execute(_LIVE, token_key).first()
    if session is None or session.ended_at is not None:
        return None
    reason = None
    if session.account_id is None or session.disabled_at is not None:
        reason = "account disabled"
    elif (
        session.locked_until is not None
        and session.locked_until > now
        and session.stage != Stage.FULL.value
    ):
        reason = "account locked"
    elif now - session.last_seen_at >= IDLE_TIMEOUT:
        reason = "idle"
    elif now - session.created_at >= ABSOLUTE_TIMEOUT:
        reason = "too old"
    if reason is not None:
        if not end:
            raise SessionEnds(reason)
        if _end(conn, session.id, now, reason):
            _event(conn, now, session.user_id, "session ended", reason)
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:
        touch = {"session_id": session.id, "now": now}
        if is_postgres(conn):
            _TOUCH_SQL.rows(conn, touch)
        else:
            conn.execute(_TOUCH, touch)
    return session


def live_session(
    conn: Connection,
    token: str,
    now: datetime,
    reference: ReferenceData | None = None,
    *,
    end: bool = True,
) -> WebSession | None:
    """The session of a cookie's token, seen ``now``, in the caller's transaction (a page reads
    what it shows in the same one); None when there is none, it ended, or it ends now (idle
    for ``IDLE_TIMEOUT``, begun ``ABSOLUTE_TIMEOUT`` ago, its account locked or disabled, its
    key revoked): it is then ended with that reason. One statement, a second when its use is
    written (``TOUCH_EVERY``), one more for a provider (its sender ids). Without ``end`` (a
    connection in autocommit), a session that ends now raises :class:`SessionEnds` rather
    than being ended in two statements that are not one transaction: :func:`session_of` ends
    it."""
    if not token:
        return None
    row = _live(conn, token, now, end=end)
    if row is None:
        return None
    stage = Stage(row.stage)
    principal = None
    if stage is Stage.FULL:
        key = {
            "key_id": row.key_id,
            "role": row.key_role,
            "npis": row.npis,
            "member_id": row.member_id,
            "dependents": row.dependents,
            "sponsor_id": row.sponsor_id,
            "expires_at": row.expires_at,
            "revoked_at": row.revoked_at,
        }
        principal = principal_of_row(conn, key, now, reference)
        if principal is None:  # the key was revoked
            if not end:
                raise SessionEnds("key revoked")
            _end(conn, row.id, now, "key revoked")
            _event(conn, now, row.user_id, "session ended", "key revoked")
            return None
    return WebSession(
        token=token,
        user_id=row.user_id,
        email=current_vault().open_text(row.email, ACCOUNT_EMAIL, row.account_id),
        role=Role(row.role),
        stage=stage,
        csrf=row.csrf,
        created_at=row.created_at,
        last_seen_at=now,
        principal=principal,
    )


def session_of(
    engine: Engine, token: str, now: datetime, reference: ReferenceData | None = None
) -> WebSession | None:
    """:func:`live_session` in a transaction of its own."""
    if not token:
        return None
    with begin_write(engine) as conn:
        return live_session(conn, token, now, reference)


def end_session(engine: Engine, token: str, now: datetime, reason: str = "signed out") -> None:
    """End the session of ``token`` (nothing when there is none, or it ended already)."""
    if not token:
        return
    with begin_write(engine) as conn:
        s = _sessions.c
        session = conn.execute(
            select(s.id, s.user_id).where(s.token_sha256 == _sha256(token), s.ended_at.is_(None))
        ).first()
        if session is not None and _end(conn, session.id, now, reason):
            _event(conn, now, session.user_id, "session ended", reason)


def _require(
    conn: Connection, session: WebSession, stage: Stage, now: datetime
) -> tuple[Row[Any], Row[Any]] | None:
    """The live session ``session`` names, at ``stage``, and its account (locked for the
    change); None when it has ended (or ends now: its end is kept) or is at another stage."""
    found = _live(conn, session.token, now)
    if found is None or found.stage != stage.value:
        return None
    account = _account(conn, found.user_id, lock=True)
    return None if account is None else (found, account)


def _rotate(conn: Connection, session: Row[Any], stage: Stage, now: datetime) -> _Made:
    """A new token (and CSRF token) for the session at ``stage``; the old token ends."""
    if not _end(conn, session.id, now, "new token"):
        raise AccountError(SESSION_OVER)  # another request ended it meanwhile
    return _new_session(conn, session.user_id, stage, now, session.created_at)


# -- sign-in --------------------------------------------------------------------------------------


def _record_failure(
    conn: Connection, account: Row[Any], now: datetime, what: str, client: str = ""
) -> bool:
    """Count a failed sign-in of ``account``; True when it locks the account (its sessions
    end). A lockout that is over starts the count again. ``client``: the attempt's
    :func:`_client_mark`, at the end of the event's detail."""
    over = account.locked_until is not None and account.locked_until <= now
    failures = (0 if over else account.failures) + 1
    locked_until = now + LOCKOUT if failures >= MAX_FAILURES else None
    conn.execute(
        update(_accounts)
        .where(_accounts.c.user_id == account.user_id)
        .values(failures=failures, locked_until=locked_until)
    )
    _event(conn, now, account.user_id, "sign-in failed", f"{what} ({failures} in a row){client}")
    if locked_until is None:
        return False
    # the sessions still signing in end; one signed in whole goes on: failed attempts by
    # whoever knows the email must not sign its owner out
    ended = _end_sessions(conn, account.user_id, now, "account locked", signing_in_only=True)
    _event(
        conn,
        now,
        account.user_id,
        "locked",
        f"until {locked_until.isoformat()}, {ended} sessions ended",
    )
    return True


_CLIENT_FAILURES = ("sign-in failed", "sign-in refused")  # the events a client's count reads


def _client_mark(address: str) -> str:
    """How a sign-in's client address ends its events' detail: its keyed hash (the vault's
    lookup, as an email's), never the address itself, so that a client's failures are counted
    across accounts and processes without the audit holding where people sign in from."""
    return "; client " + current_vault().lookup("client:" + address[:64])


def _client_failures(conn: Connection, mark: str, now: datetime) -> list[datetime]:
    """When the client of ``mark`` failed to sign in within ``CLIENT_WINDOW`` of ``now``, the
    latest first: at most one more than ``CLIENT_MAX_FAILURES``."""
    e = _events.c
    return list(
        conn.execute(
            select(e.at)
            .where(
                e.at > now - CLIENT_WINDOW,
                e.event.in_(_CLIENT_FAILURES),
                e.detail.endswith(mark, autoescape=True),
            )
            .order_by(e.at.desc())
            .limit(CLIENT_MAX_FAILURES + 1)
        ).scalars()
    )


def _throttled_until(failures: list[datetime]) -> datetime | None:
    """When a client with ``failures`` (:func:`_client_failures`) may try again; None: now."""
    if len(failures) < CLIENT_MAX_FAILURES:
        return None
    return failures[CLIENT_MAX_FAILURES - 1] + CLIENT_WINDOW  # the oldest counted leaves


def _retry_after(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


def sign_in(
    engine: Engine, email: str, password: str, now: datetime, client: str | None = None
) -> WebSession:
    """A session at :attr:`Stage.SECOND` when the password is right (the second factor comes
    next). AccountError, the same for every case, when the email has no account, the password
    is wrong, the account is locked or disabled, or its authenticator app was never confirmed
    (the app is enrolled only in the session its invitation began: ``users reset`` gives a new
    invitation).

    ``client`` is the address the attempt came from (the web page's; None from elsewhere):
    :class:`Throttled`, before the account is looked up or the password hashed, while that
    address has ``CLIENT_MAX_FAILURES`` failed sign-ins within ``CLIENT_WINDOW`` whatever their
    emails (credential stuffing: many accounts tried from one place, each below its own
    lockout). The failure that reaches the limit records ``sign-in throttled``."""
    mark = _client_mark(client) if client is not None else ""
    if mark:
        with engine.connect() as conn:
            until = _throttled_until(_client_failures(conn, mark, now))
        if until is not None:
            raise Throttled(_retry_after(until, now))
    lookup = email_lookup(email)
    with engine.connect() as conn:
        account = conn.execute(select(_accounts).where(_accounts.c.email_lookup == lookup)).first()
    right = _password_matches(account.password_hash if account is not None else None, password)
    with begin_write(engine) as conn:
        if account is None:
            _event(conn, now, None, "sign-in failed", "unknown email" + mark)
            refusal: str | None = WRONG_SIGN_IN
        else:
            account = _account(conn, account.user_id, lock=True)
            assert account is not None
            refusal = None
            refused = None
            if account.disabled_at is not None:
                refused = "account disabled"
            elif account.locked_until is not None and account.locked_until > now:
                refused = "account locked"
            elif account.password_hash is None:
                refused = "no password chosen yet"
            elif right and account.totp_confirmed_at is None:
                # the app is enrolled only in the session its invitation began: a password
                # alone never reaches an account's second factor (users reset, a new link)
                refused = "app never enrolled"
            elif not right:
                _record_failure(conn, account, now, "wrong password", mark)
                refusal = WRONG_SIGN_IN
            if refused is not None:
                _event(conn, now, account.user_id, "sign-in refused", refused + mark)
                refusal = WRONG_SIGN_IN
        if refusal is None and account is not None:
            values: dict[str, Any] = {}
            if _hasher().check_needs_rehash(account.password_hash):
                values["password_hash"] = _hasher().hash(password)
            if account.locked_until is not None:  # a lockout that is over
                values.update(failures=0, locked_until=None)
            if values:
                conn.execute(
                    update(_accounts).where(_accounts.c.user_id == account.user_id).values(**values)
                )
            stage = Stage.SECOND
            made = _new_session(conn, account.user_id, stage, now, now)
            _event(conn, now, account.user_id, "password accepted", f"next: {stage.value}")
            return _web_session(conn, made, account, now, None)
        failures = _client_failures(conn, mark, now) if mark else []
        if len(failures) == CLIENT_MAX_FAILURES:  # this failure reached the limit
            until = _throttled_until(failures)
            assert until is not None
            _event(
                conn,
                now,
                None,
                "sign-in throttled",
                f"{CLIENT_MAX_FAILURES} failed in {CLIENT_WINDOW.seconds // 60} minutes, "
                f"until {until.isoformat()}{mark}",
            )
    raise AccountError(refusal or WRONG_SIGN_IN)


# -- the authenticator app and recovery codes -----------------------------------------------------


def _qr_svg(uri: str) -> str:
    import qrcode  # type: ignore[import-untyped]  # no type information published
    import qrcode.image.svg  # type: ignore[import-untyped]

    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = str(image.to_string(encoding="unicode"))
    svg = svg[svg.index("<svg") :]  # no XML declaration: the element goes inside a page
    head = svg.index(">") + 1
    title = "<title>QR code of your account's key, for an authenticator app</title>"
    return svg[:head].replace("<svg ", '<svg role="img" ', 1) + title + svg[head:]


def totp_enrollment(engine: Engine, session: WebSession, now: datetime) -> TotpEnrollment:
    """The authenticator app's secret for ``session``'s account, at :attr:`Stage.ENROLL`
    only: made on first call, the same until it is confirmed (:func:`confirm_totp`)."""
    vault = current_vault()
    with begin_write(engine) as conn:
        found = _require(conn, session, Stage.ENROLL, now)
        if found is not None:
            account = found[1]
            if account.totp_secret is None:
                raw = secrets.token_bytes(TOTP_SECRET_BYTES)
                conn.execute(
                    update(_accounts)
                    .where(_accounts.c.user_id == account.user_id)
                    .values(totp_secret=vault.seal(raw, ACCOUNT_TOTP))
                )
                _event(conn, now, account.user_id, "app enrolment begun")
            else:
                raw = vault.open(account.totp_secret, ACCOUNT_TOTP, account.id)
            email = _email_of(account)
    if found is None:  # outside the transaction: the end of a session that ended now is kept
        raise AccountError(SESSION_OVER)
    uri = otpauth_uri(raw, email, issuer=ISSUER)
    return TotpEnrollment(base32_secret(raw), uri, _qr_svg(uri))


def _recovery_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)))
    return [f"{c[:5]}-{c[5:]}" for c in sorted(codes)]


def _recovery_digest(code: str) -> str | None:
    """The SHA-256 a recovery code is kept as (spaces, dashes and case ignored); None for what
    cannot be one."""
    cleaned = "".join(c for c in code.upper() if c not in " -\t")
    if len(cleaned) != RECOVERY_LENGTH or any(c not in RECOVERY_ALPHABET for c in cleaned):
        return None
    return _sha256(cleaned)


def _app_code(code: str) -> str | None:
    cleaned = "".join(code.split())
    return cleaned if len(cleaned) == 6 and cleaned.isascii() and cleaned.isdigit() else None


def confirm_totp(
    engine: Engine,
    session: WebSession,
    code: str,
    now: datetime,
    reference: ReferenceData | None = None,
) -> tuple[WebSession, list[str]]:
    """Confirm the authenticator app with a code it shows: the session, with a new token, at
    :attr:`Stage.FULL`, and the account's recovery codes (shown once; any older ones no
    longer work). AccountError for a wrong code (a failed sign-in: it counts to the
    lockout)."""
    with begin_write(engine) as conn:
        outcome = _confirm(conn, session, code, now, reference)
    if isinstance(outcome, str):
        raise AccountError(outcome)
    return outcome


def _confirm(
    conn: Connection,
    session: WebSession,
    code: str,
    now: datetime,
    reference: ReferenceData | None,
) -> tuple[WebSession, list[str]] | str:
    """:func:`confirm_totp` in its transaction; a refusal is answered, not raised, so that
    what it records (a failure, a lockout, a session's end) is kept."""
    found = _require(conn, session, Stage.ENROLL, now)
    if found is None:
        return SESSION_OVER
    row, account = found
    if account.totp_secret is None:
        return "show the key for your authenticator app first"
    raw = current_vault().open(account.totp_secret, ACCOUNT_TOTP, account.id)
    step = matching_step(raw, code, _unix(now), after=account.totp_last_step)
    if step is None:
        locked = _record_failure(conn, account, now, "wrong code confirming the app")
        return NOW_LOCKED if locked else WRONG_CODE
    conn.execute(
        update(_accounts)
        .where(_accounts.c.user_id == account.user_id)
        .values(
            totp_confirmed_at=now,
            totp_last_step=step,
            failures=0,
            locked_until=None,
            last_sign_in_at=now,
        )
    )
    codes = _recovery_codes()
    conn.execute(delete(_codes).where(_codes.c.user_id == account.user_id))
    conn.execute(
        insert(_codes),
        [
            {"user_id": account.user_id, "code_sha256": _recovery_digest(c), "created_at": now}
            for c in codes
        ],
    )
    made = _rotate(conn, row, Stage.FULL, now)
    _event(conn, now, account.user_id, "app confirmed", f"{len(codes)} recovery codes made")
    _event(conn, now, account.user_id, "signed in", "app enrolled")
    return _web_session(conn, made, account, now, reference), codes


def second_factor(
    engine: Engine,
    session: WebSession,
    code: str,
    now: datetime,
    reference: ReferenceData | None = None,
) -> WebSession:
    """The session, with a new token, at :attr:`Stage.FULL` when ``code`` is the authenticator
    app's code now (not one used already) or an unused recovery code (used up by this).
    AccountError otherwise: a failed sign-in, counted to the lockout (the one that locks it
    ends the session)."""
    with begin_write(engine) as conn:
        outcome = _second(conn, session, code, now, reference)
    if isinstance(outcome, str):
        raise AccountError(outcome)
    return outcome


def _second(
    conn: Connection,
    session: WebSession,
    code: str,
    now: datetime,
    reference: ReferenceData | None,
) -> WebSession | str:
    """:func:`second_factor` in its transaction; a refusal is answered, not raised (see
    :func:`_confirm`)."""
    found = _require(conn, session, Stage.SECOND, now)
    if found is None:
        return SESSION_OVER
    row, account = found
    how = None
    app_code = _app_code(code)
    if app_code is not None and account.totp_secret is not None:
        raw = current_vault().open(account.totp_secret, ACCOUNT_TOTP, account.id)
        step = matching_step(raw, app_code, _unix(now), after=account.totp_last_step)
        if step is not None:
            a = _accounts.c
            taken = conn.execute(
                update(_accounts)
                .where(
                    a.user_id == account.user_id,
                    a.totp_last_step.is_(None) | (a.totp_last_step < step),
                )
                .values(totp_last_step=step)
            )
            how = "app code" if taken.rowcount == 1 else None
        replayed = how is None and matching_step(raw, app_code, _unix(now)) is not None
        what = "app code used already" if replayed else "wrong app code"
    else:
        what = "wrong recovery code"
        digest = _recovery_digest(code)
        c = _codes.c
        if digest is not None:
            used = conn.execute(
                update(_codes)
                .where(c.user_id == account.user_id, c.code_sha256 == digest, c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount == 1:
                how = "recovery code"
                left = conn.execute(
                    select(c.id).where(c.user_id == account.user_id, c.used_at.is_(None))
                ).all()
                _event(conn, now, account.user_id, "recovery code used", f"{len(left)} left")
    if how is None:
        locked = _record_failure(conn, account, now, what)
        return NOW_LOCKED if locked else WRONG_CODE
    conn.execute(
        update(_accounts)
        .where(_accounts.c.user_id == account.user_id)
        .values(failures=0, locked_until=None, last_sign_in_at=now)
    )
    made = _rotate(conn, row, Stage.FULL, now)
    _event(conn, now, account.user_id, "signed in", how)
    return _web_session(conn, made, account, now, reference)


def account_events(engine: Engine, user_id: str | None = None) -> list[dict[str, Any]]:
    """The events of one account (None: of every account, and of sign-ins with unknown
    emails), oldest first: ``at`` (ISO 8601), ``user_id``, ``event``, ``detail``."""
    e = _events.c
    query = select(e.id, e.at, e.user_id, e.event, e.detail).order_by(e.id)
    if user_id is not None:
        query = query.where(e.user_id == user_id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        {"at": r.at.isoformat(), "user_id": r.user_id, "event": r.event, "detail": r.detail}
        for r in rows
    ]
