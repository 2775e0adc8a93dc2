"""Accounts of the web portal on SQLite and PostgreSQL: an invitation, a password, an
authenticator app (codes computed with :func:`claims_engine.domain.totp.totp` at the frozen
times the tests pass in), recovery codes, the full session's principal, lockouts, session
timeouts, token rotation, disabling and resetting, and an audit that holds no secret."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from claims_engine.domain.errors import ConfigurationError
from claims_engine.domain.reference_data import ReferenceData, load_reference
from claims_engine.domain.totp import secret_from_base32, totp
from claims_engine.services import accounts as acc
from claims_engine.services.access import (
    Role,
    active_examiner,
    authenticate,
    create_key,
    visible_members,
)
from claims_engine.services.accounts import AccountError, Stage, WebSession
from claims_engine.services.data_keys import rotate_data
from claims_engine.store import tables as t
from claims_engine.store.db import upgrade
from claims_engine.store.vault import DataKey, Vault, current_vault, use_vault

pytestmark = pytest.mark.integration

REFERENCE = Path(__file__).resolve().parents[2] / "fixtures" / "reference"
NOW = datetime(2026, 11, 2, 9, 30, 5)  # 5 seconds into a time step of 30
PASSWORD = "correct horse battery staple"
SUBSCRIBER = "PG00000500"  # subscriber of family F00005
MINOR = "PG00000502"  # born 2014-11-25: a minor on NOW
SPOUSE = "PG00000501"  # an adult on the policy: not seen without a grant
NPI = "1234567893"


@pytest.fixture(autouse=True)
def _the_test_vault() -> Iterator[None]:
    use_vault(None)
    yield
    use_vault(None)


@pytest.fixture(scope="module")
def reference() -> ReferenceData:
    return load_reference(REFERENCE)


@pytest.fixture
def store(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


def code(secret: str, at: datetime) -> str:
    return totp(secret_from_base32(secret), int(at.replace(tzinfo=UTC).timestamp()))


@dataclass
class Enrolled:
    user_id: str
    email: str
    secret: str
    codes: list[str]
    session: WebSession


def enrolled(
    engine: Engine,
    reference: ReferenceData,
    role: Role = Role.MEMBER,
    email: str = "lisa.garcia@example.org",
    at: datetime = NOW,
    **kw: object,
) -> Enrolled:
    if role is Role.MEMBER:
        kw.setdefault("member_id", SUBSCRIBER)
    invitation = acc.create_user(engine, role, email=email, now=at, reference=reference, **kw)  # type: ignore[arg-type]
    session = acc.accept_invitation(engine, invitation.token, PASSWORD, at)
    app = acc.totp_enrollment(engine, session, at)
    full, codes = acc.confirm_totp(engine, session, code(app.secret, at), at, reference)
    return Enrolled(invitation.user_id, email, app.secret, codes, full)


def events(engine: Engine, user_id: str | None) -> list[tuple[str, str]]:
    return [(e["event"], e["detail"]) for e in acc.account_events(engine, user_id)]


def signed_in(engine: Engine, who: Enrolled, at: datetime, reference: ReferenceData) -> WebSession:
    second = acc.sign_in(engine, who.email, PASSWORD, at)
    return acc.second_factor(engine, second, code(who.secret, at), at, reference)


# -- enrolment ------------------------------------------------------------------------------------


def test_an_invitation_a_password_and_an_app_make_a_full_session(
    store: Engine, reference: ReferenceData
) -> None:
    invitation = acc.create_user(
        store,
        Role.MEMBER,
        email=" Lisa.Garcia@Example.org ",
        now=NOW,
        member_id=SUBSCRIBER,
        reference=reference,
    )
    assert invitation.path() == f"/invitation/{invitation.token}" and len(invitation.token) >= 40
    assert invitation.expires_at == NOW + timedelta(days=7)
    assert invitation.email == "Lisa.Garcia@Example.org" and invitation.role is Role.MEMBER
    assert acc.invitation_of(store, invitation.token, NOW) == (
        "Lisa.Garcia@Example.org",
        Role.MEMBER,
    )
    assert acc.invitation_of(store, invitation.token + "x", NOW) is None

    with pytest.raises(AccountError, match="at least 12 characters"):
        acc.accept_invitation(store, invitation.token, "short pass", NOW)
    with pytest.raises(AccountError, match="not be the email"):
        acc.accept_invitation(store, invitation.token, "lisa.garcia@example.org", NOW)
    session = acc.accept_invitation(store, invitation.token, PASSWORD, NOW)  # still works
    assert session.stage is Stage.ENROLL and session.principal is None
    assert session.user_id == invitation.user_id and session.role is Role.MEMBER
    assert acc.invitation_of(store, invitation.token, NOW) is None  # used up
    with pytest.raises(AccountError, match="does not work"):
        acc.accept_invitation(store, invitation.token, PASSWORD + "!", NOW)

    app = acc.totp_enrollment(store, session, NOW)
    assert acc.totp_enrollment(store, session, NOW + timedelta(minutes=1)) == app  # same secret
    assert len(secret_from_base32(app.secret)) == 20 and "=" not in app.secret
    assert app.uri == (
        "otpauth://totp/claims-engine:Lisa.Garcia%40Example.org"
        f"?secret={app.secret}&issuer=claims-engine&digits=6&period=30"
    )
    assert app.qr_svg.startswith("<svg") and "<title>" in app.qr_svg
    assert "<?xml" not in app.qr_svg and "script" not in app.qr_svg.lower()

    with pytest.raises(AccountError, match="wrong code"):
        acc.confirm_totp(
            store, session, "000000" if code(app.secret, NOW) != "000000" else "111111", NOW
        )
    at = NOW + timedelta(minutes=2)
    full, codes = acc.confirm_totp(store, session, code(app.secret, at), at, reference)
    assert full.stage is Stage.FULL and full.token != session.token and full.csrf != session.csrf
    assert full.created_at == NOW and full.last_seen_at == at  # the sign-in began at NOW
    assert acc.session_of(store, session.token, at) is None  # the old token ended
    assert len(codes) == len(set(codes)) == acc.RECOVERY_CODE_COUNT
    assert all(len(c) == 11 and c[5] == "-" for c in codes)

    # the principal is the one a member key of the same member gets
    principal = full.principal
    assert principal is not None and principal.key_id == f"web-{full.user_id}"
    key = create_key(store, Role.MEMBER, now=NOW, member_id=SUBSCRIBER, reference=reference)
    as_key = authenticate(store, key.token, at, reference)
    assert as_key is not None
    lookup = current_vault().lookup
    assert principal.role is Role.MEMBER and principal.member_id == lookup(SUBSCRIBER)
    assert (
        principal.members
        == as_key.members
        == visible_members(lookup(SUBSCRIBER), (), reference, at.date())
    )
    assert lookup(MINOR) in principal.members and lookup(SPOUSE) not in principal.members
    again = acc.session_of(store, full.token, at + timedelta(minutes=5), reference)
    assert again is not None and again.principal == principal and again.csrf == full.csrf

    # the account's key: no one holds its secret, it lasts until the account is disabled
    k = t.api_keys_table.c
    with store.connect() as conn:
        row = conn.execute(select(t.api_keys_table).where(k.key_id == principal.key_id)).one()
    assert row.label == "portal account" and row.expires_at == datetime(9999, 12, 31)
    assert row.revoked_at is None
    [listed] = acc.list_users(store, at)
    assert listed["state"] == "active" and listed["email"] == "Lisa.Garcia@Example.org"
    assert listed["last_sign_in_at"] == at.isoformat() and listed["key_id"] == principal.key_id
    assert [e for e, _ in events(store, full.user_id)] == [
        "created",
        "invitation accepted",
        "invitation refused",
        "app enrolment begun",
        "sign-in failed",
        "app confirmed",
        "signed in",
    ]


def test_provider_and_examiner_accounts_speak_as_their_keys(
    store: Engine, reference: ReferenceData
) -> None:
    provider = enrolled(
        store, reference, Role.PROVIDER, "billing@clinic.example", npis=[NPI], senders=["CLINIC01"]
    )
    assert provider.session.principal is not None
    assert provider.session.principal.npis == frozenset({NPI})
    assert provider.session.principal.senders == frozenset({"CLINIC01"})
    examiner = enrolled(store, reference, Role.EXAMINER, "ex@payer.example")
    assert examiner.session.principal is not None
    assert examiner.session.principal.role is Role.EXAMINER
    with store.connect() as conn:
        assert active_examiner(conn, examiner.session.principal.key_id, NOW)
    # a provider key of another partner may not take the account's sender id
    with pytest.raises(ConfigurationError, match="registered to the active key web-"):
        create_key(store, Role.PROVIDER, now=NOW, npis=["1497758544"], senders=["CLINIC01"])


@pytest.mark.parametrize(
    ("role", "kw", "message"),
    [
        (Role.MEMBER, {"email": "not an email"}, "not an email address"),
        (Role.MEMBER, {"email": "a@b.example"}, "--member-id"),
        (Role.MEMBER, {"email": "a@b.example", "member_id": "NOBODY"}, "not in the reference"),
        (Role.PROVIDER, {"email": "a@b.example", "npis": ["1234567890"]}, "not a valid NPI"),
        (Role.EXAMINER, {"email": "a@b.example", "npis": [NPI]}, "takes no --npi"),
        (Role.SPONSOR, {"email": "a@b.example"}, "no portal account"),
    ],
)
def test_bad_accounts_are_refused(
    store: Engine, reference: ReferenceData, role: Role, kw: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        acc.create_user(store, role, now=NOW, reference=reference, **kw)  # type: ignore[arg-type]
    assert acc.list_users(store) == []
    with store.connect() as conn:
        assert conn.execute(select(t.api_keys_table)).all() == []


def test_an_email_has_one_account(store: Engine, reference: ReferenceData) -> None:
    acc.create_user(store, Role.INSURER, email="ana@payer.example", now=NOW)
    with pytest.raises(ConfigurationError, match="has an account already"):
        acc.create_user(store, Role.EXAMINER, email="ANA@payer.example", now=NOW)


def test_an_expired_or_replaced_invitation_does_not_work(
    store: Engine, reference: ReferenceData
) -> None:
    first = acc.create_user(store, Role.INSURER, email="ana@payer.example", now=NOW)
    late = NOW + timedelta(days=7)
    assert acc.invitation_of(store, first.token, late - timedelta(seconds=1)) is not None
    assert acc.invitation_of(store, first.token, late) is None
    with pytest.raises(AccountError, match="expired"):
        acc.accept_invitation(store, first.token, PASSWORD, late)
    second = acc.reset_user(store, first.user_id, late)
    assert second.token != first.token and second.user_id == first.user_id
    assert acc.invitation_of(store, first.token, late) is None
    assert acc.invitation_of(store, second.token, late) == ("ana@payer.example", Role.INSURER)
    with pytest.raises(AccountError, match="no account nobody"):
        acc.reset_user(store, "nobody", late)


# -- sign-in --------------------------------------------------------------------------------------


def test_sign_in_takes_the_password_then_the_app(store: Engine, reference: ReferenceData) -> None:
    who = enrolled(store, reference)
    acc.end_session(store, who.session.token, NOW)
    at = NOW + timedelta(hours=1)
    for email, password in (("nobody@example.org", PASSWORD), (who.email, PASSWORD + "x")):
        with pytest.raises(AccountError) as refused:
            acc.sign_in(store, email, password, at)
        assert str(refused.value) == acc.WRONG_SIGN_IN  # the same: nothing tells they differ
    second = acc.sign_in(store, who.email.upper(), PASSWORD, at)
    assert second.stage is Stage.SECOND and second.principal is None
    assert acc.session_of(store, second.token, at) == second
    later = at + timedelta(seconds=30)  # the next step's code, within the window
    full = acc.second_factor(store, second, code(who.secret, later), at, reference)
    assert full.stage is Stage.FULL and full.principal is not None
    assert acc.session_of(store, second.token, at) is None  # rotated: the old token is dead
    with pytest.raises(AccountError, match="session has ended"):
        acc.second_factor(store, second, code(who.secret, at), at, reference)

    # the code of a step used already is refused, even in a new sign-in
    again = acc.sign_in(store, who.email, PASSWORD, at)
    with pytest.raises(AccountError, match="wrong code"):
        acc.second_factor(store, again, code(who.secret, later), at, reference)
    with pytest.raises(AccountError, match="wrong code"):
        acc.second_factor(store, again, code(who.secret, at), at, reference)  # older step
    assert ("sign-in failed", "app code used already (1 in a row)") in events(store, who.user_id)
    done = acc.second_factor(
        store,
        again,
        code(who.secret, later + timedelta(seconds=30)),
        later + timedelta(seconds=30),
        reference,
    )
    assert done.stage is Stage.FULL
    assert events(store, None)[-1] == ("signed in", "app code")
    assert ("sign-in failed", "unknown email") in [
        (e["event"], e["detail"]) for e in acc.account_events(store) if e["user_id"] is None
    ]


def test_five_failures_lock_the_account_for_fifteen_minutes(
    store: Engine, reference: ReferenceData
) -> None:
    who = enrolled(store, reference)
    at = NOW + timedelta(minutes=10)  # the owner's session is still active
    for n in range(acc.MAX_FAILURES):
        with pytest.raises(AccountError):
            acc.sign_in(store, who.email, f"wrong password {n}", at)
    assert ("locked", f"until {(at + acc.LOCKOUT).isoformat()}, 0 sessions ended") in events(
        store, who.user_id
    )
    # the owner's signed-in session goes on: another's failed attempts do not sign them out
    assert acc.session_of(store, who.session.token, at) is not None
    assert acc.list_users(store, at)[0]["state"] == "locked"
    with pytest.raises(AccountError) as refused:  # even the right password
        acc.sign_in(store, who.email, PASSWORD, at + acc.LOCKOUT - timedelta(seconds=1))
    assert str(refused.value) == acc.WRONG_SIGN_IN
    assert events(store, who.user_id)[-1] == ("sign-in refused", "account locked")

    after = at + acc.LOCKOUT
    assert acc.list_users(store, after)[0]["state"] == "active"
    signed = signed_in(store, who, after, reference)
    assert signed.stage is Stage.FULL
    with store.connect() as conn:
        row = conn.execute(select(t.accounts_table)).one()
    assert row.failures == 0 and row.locked_until is None


def test_failures_from_one_client_throttle_it_whatever_the_accounts(
    store: Engine, reference: ReferenceData
) -> None:
    """Credential stuffing: one address tries many emails, each below its own lockout. Its
    failures (wrong passwords, unknown emails, refusals) are counted in ``account_events`` by
    the address's keyed hash; at ``CLIENT_MAX_FAILURES`` within ``CLIENT_WINDOW`` its next
    sign-ins are refused before any account is looked at."""
    who = enrolled(store, reference)
    client, other = "203.0.113.7", "2001:db8::1"
    mark = "; client " + current_vault().lookup("client:" + client)
    at = NOW + timedelta(minutes=1)
    for n in range(acc.CLIENT_MAX_FAILURES):
        email = who.email if n % 5 == 0 else f"user{n}@example.org"
        with pytest.raises(AccountError) as refused:
            acc.sign_in(store, email, f"guess {n}", at + timedelta(seconds=n), client)
        assert not isinstance(refused.value, acc.Throttled), n
    details = [e["detail"] for e in acc.account_events(store) if e["event"].startswith("sign-in")]
    assert details[-1].startswith(f"{acc.CLIENT_MAX_FAILURES} failed in 15 minutes, until ")
    assert sum(d.endswith(mark) for d in details) == acc.CLIENT_MAX_FAILURES + 1
    assert ("sign-in failed", f"wrong password (1 in a row){mark}") in events(store, who.user_id)
    assert not any(client in d for d in details)  # the hash, not the address
    counted = len(acc.account_events(store))
    later = at + timedelta(minutes=3)
    with pytest.raises(acc.Throttled) as throttled:  # the right password, never checked
        acc.sign_in(store, who.email, PASSWORD, later, client)
    assert str(throttled.value) == acc.THROTTLED
    assert throttled.value.retry_after == (at + acc.CLIENT_WINDOW - later).seconds
    assert len(acc.account_events(store)) == counted  # nothing written while throttled
    # another address, and the command line (no address), are not throttled
    assert acc.sign_in(store, who.email, PASSWORD, later, other).stage is Stage.SECOND
    assert acc.sign_in(store, who.email, PASSWORD, later).stage is Stage.SECOND
    # the oldest failure leaves the window: one more attempt is taken
    free = at + acc.CLIENT_WINDOW + timedelta(milliseconds=1)
    assert acc.sign_in(store, who.email, PASSWORD, free, client).stage is Stage.SECOND


def test_second_factor_failures_count_to_the_lockout(
    store: Engine, reference: ReferenceData
) -> None:
    who = enrolled(store, reference)
    at = NOW + timedelta(hours=1)
    for n in range(2):
        with pytest.raises(AccountError):
            acc.sign_in(store, who.email, f"wrong password {n}", at)
    second = acc.sign_in(store, who.email, PASSWORD, at)  # right, but not yet signed in
    wrong = "123456" if code(who.secret, at) != "123456" else "654321"
    for _ in range(2):
        with pytest.raises(AccountError, match="wrong code"):
            acc.second_factor(store, second, wrong, at, reference)
    with pytest.raises(AccountError, match="locked for 15 minutes"):  # the fifth in a row
        acc.second_factor(store, second, "AAAAA-AAAAA", at, reference)
    assert acc.session_of(store, second.token, at) is None
    with pytest.raises(AccountError):
        acc.sign_in(store, who.email, PASSWORD, at + timedelta(minutes=5))
    assert signed_in(store, who, at + acc.LOCKOUT, reference).stage is Stage.FULL


def test_a_recovery_code_works_once(store: Engine, reference: ReferenceData) -> None:
    who = enrolled(store, reference)
    at = NOW + timedelta(hours=1)
    recovery = who.codes[3]
    second = acc.sign_in(store, who.email, PASSWORD, at)
    typed = recovery.replace("-", " ").lower()  # as a person may type it
    full = acc.second_factor(store, second, typed, at, reference)
    assert full.stage is Stage.FULL and full.principal is not None
    assert events(store, who.user_id)[-2:] == [
        ("recovery code used", "9 left"),
        ("signed in", "recovery code"),
    ]
    again = acc.sign_in(store, who.email, PASSWORD, at)
    with pytest.raises(AccountError, match="wrong code"):
        acc.second_factor(store, again, recovery, at, reference)
    assert acc.second_factor(store, again, who.codes[4], at, reference).stage is Stage.FULL


# -- sessions -------------------------------------------------------------------------------------


def test_sessions_end_idle_too_old_or_signed_out(store: Engine, reference: ReferenceData) -> None:
    who = enrolled(store, reference)
    token = who.session.token
    at = NOW + timedelta(minutes=14, seconds=59)
    assert acc.session_of(store, token, at) is not None  # seen: the idle time starts again
    assert acc.session_of(store, token, at + acc.IDLE_TIMEOUT) is None
    assert acc.session_of(store, token, at + timedelta(minutes=16)) is None  # ended for good

    # in use all day: it still ends 12 hours after its sign-in
    start = NOW + timedelta(days=1)
    busy = signed_in(store, who, start, reference)
    seen = start
    while seen + timedelta(minutes=10) < start + acc.ABSOLUTE_TIMEOUT:
        seen += timedelta(minutes=10)
        assert acc.session_of(store, busy.token, seen) is not None, seen
    assert acc.session_of(store, busy.token, start + acc.ABSOLUTE_TIMEOUT) is None

    out = signed_in(store, who, start + timedelta(days=1), reference)
    acc.end_session(store, out.token, start + timedelta(days=1))
    assert acc.session_of(store, out.token, start + timedelta(days=1)) is None
    s = t.web_sessions_table.c
    with store.connect() as conn:
        reasons = conn.execute(select(s.end_reason).order_by(s.id)).scalars().all()
    assert reasons == ["new token", "idle", "new token", "too old", "new token", "signed out"]
    assert ("session ended", "idle") in events(store, who.user_id)


def test_a_disabled_account_ends_its_sessions_and_its_key(
    store: Engine, reference: ReferenceData
) -> None:
    who = enrolled(store, reference)
    invited = acc.create_user(store, Role.INSURER, email="new@payer.example", now=NOW)
    at = NOW + timedelta(minutes=1)
    assert acc.disable_user(store, who.user_id, at)
    assert not acc.disable_user(store, who.user_id, at)
    assert not acc.disable_user(store, "nobody", at)
    assert acc.session_of(store, who.session.token, at) is None
    with pytest.raises(AccountError) as refused:
        acc.sign_in(store, who.email, PASSWORD, at)
    assert str(refused.value) == acc.WRONG_SIGN_IN
    with pytest.raises(AccountError, match="disabled"):
        acc.reset_user(store, who.user_id, at)
    k = t.api_keys_table.c
    with store.connect() as conn:
        revoked = conn.execute(
            select(k.revoked_at).where(k.key_id == f"web-{who.user_id}")
        ).scalar_one()
    assert revoked == at

    assert acc.disable_user(store, invited.user_id, at)
    assert acc.invitation_of(store, invited.token, at) is None
    states = {u["user_id"]: u["state"] for u in acc.list_users(store, at)}
    assert states == {who.user_id: "disabled", invited.user_id: "disabled"}


def test_a_reset_account_starts_again(store: Engine, reference: ReferenceData) -> None:
    who = enrolled(store, reference)
    at = NOW + timedelta(hours=2)
    invitation = acc.reset_user(store, who.user_id, at)
    assert acc.session_of(store, who.session.token, at) is None
    with pytest.raises(AccountError):
        acc.sign_in(store, who.email, PASSWORD, at)  # no password until it is chosen again
    assert acc.list_users(store, at)[0]["state"] == "invited"
    session = acc.accept_invitation(store, invitation.token, "another long passphrase", at)
    app = acc.totp_enrollment(store, session, at)
    assert app.secret != who.secret
    full, codes = acc.confirm_totp(store, session, code(app.secret, at), at, reference)
    assert full.stage is Stage.FULL and not set(codes) & set(who.codes)


def test_a_password_alone_never_reaches_an_apps_enrolment(
    store: Engine, reference: ReferenceData
) -> None:
    """The app is enrolled only in the session the invitation began: someone who learns the
    password of an account whose owner left before enrolling gets nowhere (a supervisor's
    account here), with the words of any wrong sign-in; the owner asks for a new link."""
    invitation = acc.create_user(store, Role.SUPERVISOR, email="sup@payer.example", now=NOW)
    first = acc.accept_invitation(store, invitation.token, PASSWORD, NOW)
    secret = acc.totp_enrollment(store, first, NOW).secret
    acc.end_session(store, first.token, NOW)
    later = NOW + timedelta(days=30)
    with pytest.raises(AccountError) as refused:
        acc.sign_in(store, "sup@payer.example", PASSWORD, later)
    assert str(refused.value) == acc.WRONG_SIGN_IN
    assert events(store, first.user_id)[-1] == ("sign-in refused", "app never enrolled")
    with pytest.raises(AccountError, match="session has ended"):
        acc.totp_enrollment(store, first, later)
    with pytest.raises(AccountError, match="session has ended"):
        acc.confirm_totp(store, first, code(secret, later), later, reference)
    # a new link: a new secret, enrolled in the session it begins
    renewed = acc.reset_user(store, first.user_id, later)
    session = acc.accept_invitation(store, renewed.token, PASSWORD, later)
    app = acc.totp_enrollment(store, session, later)
    assert app.secret != secret


# -- the audit holds no secret --------------------------------------------------------------------


def test_no_secret_is_stored_in_the_clear(store: Engine, reference: ReferenceData) -> None:
    email = "lisa.garcia@example.org"
    who = enrolled(store, reference, email=email)
    at = NOW + timedelta(hours=1)
    with pytest.raises(AccountError):
        acc.sign_in(store, who.email, "a wrong password tried", at)
    second = acc.sign_in(store, who.email, PASSWORD, at)
    with pytest.raises(AccountError):
        acc.second_factor(store, second, "WRONG-CODE2", at)
    acc.second_factor(store, second, who.codes[0], at, reference)
    secrets = [
        PASSWORD,
        "a wrong password tried",
        who.secret,
        who.session.token,
        email,
        *who.codes,
        *(c.replace("-", "") for c in who.codes),
    ]
    stored: list[str] = []
    with store.connect() as conn:
        for table in (
            t.accounts_table,
            t.account_invitations_table,
            t.recovery_codes_table,
            t.web_sessions_table,
            t.account_events_table,
        ):
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, (bytes, memoryview)):
                        stored.append(bytes(value).decode("latin-1"))
                    elif value is not None:
                        stored.append(str(value))
    text = "\n".join(stored)
    for secret in secrets:
        assert secret not in text and secret.lower() not in text.lower(), secret
    assert "sign-in failed" in text


def test_rotating_the_data_keys_seals_emails_and_app_secrets_again(
    store: Engine, reference: ReferenceData
) -> None:
    who = enrolled(store, reference)
    acc.create_user(store, Role.INSURER, email="new@payer.example", now=NOW)  # no app yet
    good = current_vault()
    new = DataKey("test-2", b"\x05" * 32)
    use_vault(Vault([new, good._keys["test-1"][0]], good._lookup_key))
    result = rotate_data(store)
    assert result.resealed[t.ACCOUNT_EMAIL] == 2 and result.resealed[t.ACCOUNT_TOTP] == 1
    use_vault(Vault([new], good._lookup_key))  # the old key can go
    assert [u["email"] for u in acc.list_users(store)] == [who.email, "new@payer.example"]
    at = NOW + timedelta(hours=1)
    assert signed_in(store, who, at, reference).stage is Stage.FULL
