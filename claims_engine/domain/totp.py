"""One-time passwords of an authenticator app: HOTP (RFC 4226) and TOTP (RFC 6238).

Pure: the time is an argument (seconds since the Unix epoch), never read here. A code is the
HOTP of the secret at the time step ``unix_time // step``; :func:`matching_step` accepts a code
of the current step or one step either side (a phone's clock a little off, or a code typed as
it changed), and never a step at or before ``after``: the caller keeps the last step a code
was used at, so that a code seen over a shoulder or replayed from a log is refused.

The secret is the raw bytes (20 random bytes for SHA-1, as RFC 4226 recommends); apps are given
it as base32 without padding (:func:`base32_secret`) inside an ``otpauth://`` URI
(:func:`otpauth_uri`), the format of Google Authenticator's key URI, which the common apps read.
"""

from __future__ import annotations

import base64
import hmac
import struct

DIGESTS = ("sha1", "sha256", "sha512")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def hotp(secret: bytes, counter: int, *, digits: int = 6, digest: str = "sha1") -> str:
    """The HOTP value of ``counter`` (RFC 4226 section 5.3): dynamic truncation of the HMAC,
    the last ``digits`` decimal digits, zero-padded."""
    if digest not in DIGESTS:
        raise ValueError(f"digest {digest!r}: one of {', '.join(DIGESTS)}")
    if not 6 <= digits <= 10:
        raise ValueError(f"digits {digits}: from 6 to 10")
    if counter < 0:
        raise ValueError(f"counter {counter}: not negative")
    mac = hmac.digest(secret, struct.pack(">Q", counter), digest)
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def time_step(unix_time: int, step: int = 30) -> int:
    """The TOTP time step ``unix_time`` falls in (T0 = 0)."""
    if step < 1:
        raise ValueError(f"step {step}: at least 1 second")
    return unix_time // step


def totp(
    secret: bytes, unix_time: int, *, digits: int = 6, step: int = 30, digest: str = "sha1"
) -> str:
    """The TOTP code at ``unix_time`` (RFC 6238 section 4)."""
    return hotp(secret, time_step(unix_time, step), digits=digits, digest=digest)


def matching_step(
    secret: bytes,
    code: str,
    unix_time: int,
    *,
    window: int = 1,
    after: int | None = None,
    digits: int = 6,
    step: int = 30,
    digest: str = "sha1",
) -> int | None:
    """The time step, within ``window`` steps of ``unix_time``'s, whose code ``code`` is;
    None when it is none of them, or only of steps at or before ``after`` (used already).
    Spaces in ``code`` are ignored; anything but ``digits`` digits matches nothing."""
    given = "".join(code.split())
    if len(given) != digits or not (given.isascii() and given.isdigit()):
        return None
    now = time_step(unix_time, step)
    found = None
    for candidate in range(now - window, now + window + 1):
        if candidate < 0 or (after is not None and candidate <= after):
            continue
        expected = hotp(secret, candidate, digits=digits, digest=digest)
        # every candidate is compared, in constant time: the answer's timing says nothing
        if hmac.compare_digest(expected, given) and found is None:
            found = candidate
    return found


def base32_secret(raw: bytes) -> str:
    """``raw`` as an authenticator app takes it: base32, upper case, without padding."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def secret_from_base32(text: str) -> bytes:
    """The bytes of a base32 secret, with or without padding, spaces or lower case."""
    cleaned = "".join(text.split()).upper().rstrip("=")
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError as exc:
        raise ValueError(f"not a base32 secret: {exc}") from None


def _quote(text: str) -> str:
    """Percent-encoding of ``text`` (RFC 3986: unreserved characters kept, the UTF-8 bytes of
    any other encoded)."""
    return "".join(
        c if c in _UNRESERVED else "".join(f"%{b:02X}" for b in c.encode("utf-8")) for c in text
    )


def otpauth_uri(
    secret: bytes,
    account: str,
    *,
    issuer: str,
    digits: int = 6,
    step: int = 30,
    digest: str = "sha1",
) -> str:
    """The ``otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&digits=...&period=...`` URI
    an app reads from a QR code (the algorithm named only when it is not SHA-1, the default
    that every app knows)."""
    label = f"{_quote(issuer)}:{_quote(account)}"
    query = f"secret={base32_secret(secret)}&issuer={_quote(issuer)}&digits={digits}&period={step}"
    if digest != "sha1":
        query += f"&algorithm={digest.upper()}"
    return f"otpauth://totp/{label}?{query}"
