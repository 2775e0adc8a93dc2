"""HOTP and TOTP against the test vectors of their standards (RFC 4226 Appendix D, RFC 6238
Appendix B), the window of one step either side, replay refusal and the URI apps read."""

from __future__ import annotations

import base64

import pytest

from claims_engine.domain.totp import (
    base32_secret,
    hotp,
    matching_step,
    otpauth_uri,
    secret_from_base32,
    time_step,
    totp,
)

# RFC 4226 Appendix D: the secret is the ASCII of "12345678901234567890"
RFC4226_SECRET = b"12345678901234567890"
RFC4226_HOTP = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]

# RFC 6238 Appendix B: one seed per hash, of the hash's length (20, 32 and 64 bytes)
SEEDS = {
    "sha1": b"12345678901234567890",
    "sha256": b"12345678901234567890123456789012",
    "sha512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226_HOTP)))
def test_hotp_matches_rfc_4226(counter: int, expected: str) -> None:
    assert hotp(RFC4226_SECRET, counter) == expected


@pytest.mark.parametrize(("unix_time", "sha1", "sha256", "sha512"), RFC6238)
def test_totp_matches_rfc_6238(unix_time: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[digest], unix_time, digits=8, digest=digest) == expected, digest


def test_six_digits_are_the_last_six_of_eight() -> None:
    for unix_time, sha1, _, _ in RFC6238:
        assert totp(SEEDS["sha1"], unix_time) == sha1[-6:]


def test_time_steps_are_thirty_seconds_from_the_epoch() -> None:
    assert [time_step(t) for t in (0, 29, 30, 59, 60)] == [0, 0, 1, 1, 2]
    assert totp(SEEDS["sha1"], 30) == totp(SEEDS["sha1"], 59) != totp(SEEDS["sha1"], 60)


def test_a_code_matches_its_step_and_one_either_side() -> None:
    secret = SEEDS["sha1"]
    now = 1_800_000_015  # step 60_000_000
    step = time_step(now)
    assert matching_step(secret, totp(secret, now), now) == step
    assert matching_step(secret, totp(secret, now - 30), now) == step - 1
    assert matching_step(secret, totp(secret, now + 30), now) == step + 1
    assert matching_step(secret, totp(secret, now - 60), now) is None
    assert matching_step(secret, totp(secret, now + 60), now) is None
    assert matching_step(secret, totp(secret, now - 60), now, window=2) == step - 2
    spaced = totp(secret, now)[:3] + " " + totp(secret, now)[3:]
    assert matching_step(secret, spaced, now) == step


def test_a_step_at_or_before_the_last_used_is_refused() -> None:
    secret = SEEDS["sha1"]
    now = 1_800_000_015
    step = time_step(now)
    code = totp(secret, now)
    assert matching_step(secret, code, now, after=step - 1) == step
    assert matching_step(secret, code, now, after=step) is None  # the same code again
    assert matching_step(secret, totp(secret, now - 30), now, after=step) is None
    assert matching_step(secret, totp(secret, now + 30), now, after=step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345x"])
def test_what_is_not_six_digits_matches_nothing(code: str) -> None:
    assert matching_step(SEEDS["sha1"], code, 1_800_000_015) is None


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="digest"):
        hotp(b"k", 0, digest="md5")
    with pytest.raises(ValueError, match="digits"):
        hotp(b"k", 0, digits=4)
    with pytest.raises(ValueError, match="step"):
        totp(b"k", 0, step=0)


def test_base32_secrets_round_trip_without_padding() -> None:
    raw = bytes(range(20))
    text = base32_secret(raw)
    assert "=" not in text and text == base64.b32encode(raw).decode().rstrip("=")
    assert secret_from_base32(text.lower()) == raw
    assert secret_from_base32(base32_secret(b"12345")) == b"12345"
    with pytest.raises(ValueError, match="base32"):
        secret_from_base32("not base32!")


def test_the_uri_names_issuer_account_and_parameters() -> None:
    uri = otpauth_uri(b"12345678901234567890", "ann.lee+1@example.org", issuer="claims-engine")
    assert uri == (
        "otpauth://totp/claims-engine:ann.lee%2B1%40example.org"
        "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=claims-engine&digits=6&period=30"
    )
    assert uri.endswith("&algorithm=SHA256") is False
    assert otpauth_uri(b"k", "a", issuer="x y", digest="sha256").endswith(
        "&issuer=x%20y&digits=6&period=30&algorithm=SHA256"
    )
