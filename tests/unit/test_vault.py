"""The vault: sealed values open only with the key that sealed them, in the column they were
sealed for; lookups are keyed; keys come from the environment or a key file."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claims_engine.domain.errors import ConfigurationError, DataKeyError
from claims_engine.store.vault import (
    NONCE_BYTES,
    DataKey,
    Vault,
    key_file_for,
    new_key_file,
    parse_data_keys,
    vault_from_environment,
)

OLD = DataKey("2026a", bytes(range(32)))
NEW = DataKey("2026b", bytes(range(32, 64)))
LOOKUP = b"L" * 32
CLAIM = "claims.claim"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_sealed_value_is_the_documented_layout_and_opens_again() -> None:
    vault = Vault([OLD], LOOKUP)
    sealed = vault.seal(b'{"last_name":"HILL"}', CLAIM)
    assert sealed[:1] == b"\x01" and sealed[1] == len("2026a") and sealed[2:7] == b"2026a"
    nonce, body = sealed[7:19], sealed[19:]
    # AES-256-GCM with the column name as associated data, checked with the library directly
    assert AESGCM(OLD.secret).decrypt(nonce, body, CLAIM.encode()) == b'{"last_name":"HILL"}'
    assert b"HILL" not in sealed
    assert vault.open(sealed, CLAIM) == b'{"last_name":"HILL"}'
    assert vault.key_id_of(sealed) == "2026a"


def test_the_same_value_seals_differently_each_time() -> None:
    vault = Vault([OLD], LOOKUP)
    assert vault.seal(b"PG00000100", CLAIM) != vault.seal(b"PG00000100", CLAIM)


def test_a_wrong_key_fails_clearly_never_garbage() -> None:
    sealed = Vault([OLD], LOOKUP).seal(b"PG00000100", CLAIM)
    impostor = Vault([DataKey("2026a", NEW.secret)], LOOKUP)  # same id, other bytes
    with pytest.raises(DataKeyError, match=r"claims.claim of row 7: data key '2026a' does not"):
        impostor.open(sealed, CLAIM, 7)
    stranger = Vault([NEW], LOOKUP)
    with pytest.raises(DataKeyError, match=r"sealed with data key '2026a', which is not config"):
        stranger.open(sealed, CLAIM)


@pytest.mark.parametrize("where", [0, 5, 19, -1])
def test_an_altered_byte_is_detected(where: int) -> None:
    vault = Vault([OLD], LOOKUP)
    sealed = bytearray(vault.seal(b"PG00000100 HILL LIAM 1987-12-27", CLAIM))
    sealed[where] ^= 0x01
    with pytest.raises(DataKeyError):
        vault.open(bytes(sealed), CLAIM)


def test_a_value_opens_only_in_its_own_column() -> None:
    vault = Vault([OLD], LOOKUP)
    sealed = vault.seal(b"PG00000100", CLAIM)
    with pytest.raises(DataKeyError, match=r"remittances\.content"):
        vault.open(sealed, "remittances.content")


def test_old_keys_open_what_they_sealed_and_the_first_key_seals() -> None:
    old_vault = Vault([OLD], LOOKUP)
    sealed_before = old_vault.seal(b"before", CLAIM)
    rotated = Vault([NEW, OLD], LOOKUP)
    assert rotated.open(sealed_before, CLAIM) == b"before"
    sealed_after = rotated.seal(b"after", CLAIM)
    assert rotated.key_id_of(sealed_after) == "2026b"
    assert sealed_after.startswith(rotated.header)
    with pytest.raises(DataKeyError):
        old_vault.open(sealed_after, CLAIM)


def test_lookups_are_hmac_sha256_of_the_identifier_cut_to_128_bits() -> None:
    vault = Vault([OLD], LOOKUP)
    expected = hmac.new(LOOKUP, b"PG00000100", hashlib.sha256).hexdigest()[:32]
    assert vault.lookup("PG00000100") == expected
    assert vault.lookup("PG00000100") != Vault([OLD], b"M" * 32).lookup("PG00000100")
    # rotating data keys keeps the lookups
    assert Vault([NEW, OLD], LOOKUP).lookup("PG00000100") == expected
    assert vault.fingerprint() == Vault([NEW], LOOKUP).fingerprint() != Vault.off().fingerprint()


def test_with_encryption_off_values_and_identifiers_stay_as_given() -> None:
    off = Vault.off()
    assert off.seal(b"x", CLAIM) == b"x" and off.open(b"x", CLAIM) == b"x"
    assert off.lookup("PG00000100") == "PG00000100"
    sealed = Vault([OLD], LOOKUP).seal(b"x", CLAIM)
    with pytest.raises(DataKeyError, match="sealed but encryption is off"):
        off.open(sealed, CLAIM)
    with pytest.raises(DataKeyError, match="not sealed"):
        Vault([OLD], LOOKUP).open(b'{"plain": true}', CLAIM)


def test_json_and_text_round_trip() -> None:
    vault = Vault([OLD], LOOKUP)
    document = {"member_id": "PG00000100", "charge": "10.50", "lines": [1, 2]}
    assert vault.open_json(vault.seal_json(document, CLAIM), CLAIM) == document
    assert vault.open_text(vault.seal_text("ISA*00*~", "x"), "x") == "ISA*00*~"


def test_keys_from_the_environment() -> None:
    env = {
        "CLAIMS_DATA_KEYS": f"2026b:{_b64(NEW.secret)}, 2026a:{_b64(OLD.secret)}",
        "CLAIMS_LOOKUP_KEY": _b64(LOOKUP),
    }
    vault = vault_from_environment(env, store_file=None)
    assert vault.active_key_id == "2026b" and vault.key_ids == ("2026b", "2026a")
    assert (
        vault_from_environment({**env, "CLAIMS_ENCRYPTION": "off"}, store_file=None).enabled
        is False
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CLAIMS_DATA_KEYS": "2026a:" + _b64(bytes(32))}, "CLAIMS_LOOKUP_KEY is not"),
        ({"CLAIMS_DATA_KEYS": "2026a", "CLAIMS_LOOKUP_KEY": _b64(LOOKUP)}, "not ID:BASE64"),
        (
            {"CLAIMS_DATA_KEYS": "2026a:" + _b64(bytes(16)), "CLAIMS_LOOKUP_KEY": _b64(LOOKUP)},
            "16 bytes; it must be 32",
        ),
        ({"CLAIMS_DATA_KEYS": "2026a:!!", "CLAIMS_LOOKUP_KEY": _b64(LOOKUP)}, "not base64"),
        ({"CLAIMS_ENCRYPTION": "maybe"}, "on or off"),
        ({}, "CLAIMS_KEY_FILE names /nonexistent/keys.json, which does not exist"),
    ],
)
def test_bad_key_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        vault_from_environment(
            {"CLAIMS_KEY_FILE": "/nonexistent/keys.json", **env}, store_file=None
        )


def test_a_server_store_without_keys_is_told_to_set_them() -> None:
    with pytest.raises(ConfigurationError, match="no data keys: set CLAIMS_DATA_KEYS"):
        vault_from_environment({}, store_file=None)


def test_repeated_key_ids_are_refused() -> None:
    keys = parse_data_keys(f"a:{_b64(OLD.secret)},a:{_b64(NEW.secret)}")
    with pytest.raises(ConfigurationError, match="repeat"):
        Vault(keys, LOOKUP)


def test_an_embedded_store_makes_its_key_file_once_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "data-keys.json"
    env = {"CLAIMS_KEY_FILE": str(path)}
    with pytest.raises(ConfigurationError, match="does not exist"):
        vault_from_environment(env, store_file=tmp_path / "c.db")  # a named file is never made
    new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = vault_from_environment(env, store_file=None)
    again = vault_from_environment(env, store_file=None)
    assert first.lookup("PG00000100") == again.lookup("PG00000100")
    assert again.open(first.seal(b"x", CLAIM), CLAIM) == b"x"
    document = json.loads(path.read_text())
    assert set(document) == {"data_keys", "lookup_key"} and len(document["data_keys"]) == 1
    with pytest.raises(FileExistsError):
        new_key_file(path)


def test_a_broken_key_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "data-keys.json"
    path.write_text('{"data_keys": []}')
    with pytest.raises(ConfigurationError, match="data_keys must be a non-empty list"):
        vault_from_environment({"CLAIMS_KEY_FILE": str(path)}, store_file=None)
    path.write_text("not json")
    with pytest.raises(ConfigurationError, match="not a JSON key file"):
        vault_from_environment({"CLAIMS_KEY_FILE": str(path)}, store_file=None)


def test_an_embedded_store_keeps_its_keys_beside_it_and_a_store_that_exists_gets_none_made(
    tmp_path: Path,
) -> None:
    database = tmp_path / "claims.db"
    made = vault_from_environment({}, store_file=database)  # a new store: keys made for it
    key_file = tmp_path / "claims.db-keys.json"
    assert key_file_for(database) == key_file and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with closing(sqlite3.connect(database)) as db, db:  # the store notes its lookup key
        db.execute("CREATE TABLE store_settings (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO store_settings VALUES ('lookup_key', ?)", (made.fingerprint(),))
    again = vault_from_environment({}, store_file=database)
    assert again.open(made.seal(b"x", CLAIM), CLAIM) == b"x"  # the same keys, from the file
    # from another directory, or with the key file gone: never new keys for that store
    key_file.rename(tmp_path / "elsewhere.json")
    with pytest.raises(ConfigurationError, match="has no key file beside it") as refused:
        vault_from_environment({}, store_file=database)
    assert "CLAIMS_KEY_FILE" in str(refused.value)
    assert not key_file.exists()
    env = {"CLAIMS_KEY_FILE": str(tmp_path / "elsewhere.json")}  # named, it opens the store
    assert vault_from_environment(env, store_file=database).identity() == made.identity()


def test_a_store_made_before_sealing_gets_keys_made_and_one_made_with_none_is_told(
    tmp_path: Path,
) -> None:
    database = tmp_path / "claims.db"
    with closing(sqlite3.connect(database)) as db, db:  # a released store: nothing sealed
        db.execute("CREATE TABLE claims (id INTEGER PRIMARY KEY)")
    vault_from_environment({}, store_file=database)  # its upgrade seals with these
    assert key_file_for(database).exists()
    key_file_for(database).unlink()
    with closing(sqlite3.connect(database)) as db, db:
        db.execute("CREATE TABLE store_settings (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO store_settings VALUES ('lookup_key', 'off')")
    with pytest.raises(ConfigurationError, match="made with encryption off"):
        vault_from_environment({}, store_file=database)
    (tmp_path / "junk.db").write_bytes(b"not a database at all")  # named as what it is
    with pytest.raises(ConfigurationError, match=r"junk\.db is not a SQLite database"):
        vault_from_environment({}, store_file=tmp_path / "junk.db")
    assert not key_file_for(tmp_path / "junk.db").exists()
    assert not key_file_for(database).exists()


def test_a_cut_short_value_is_a_clear_error_not_a_crash() -> None:
    vault = Vault([NEW], LOOKUP)
    sealed = vault.seal(b"a claim", CLAIM)
    for cut in (len(vault.header) + 3, len(vault.header) + NONCE_BYTES + 5):
        with pytest.raises(DataKeyError, match="cut short"):
            vault.open(sealed[:cut], CLAIM, 7)


def test_secrets_never_show_in_reprs() -> None:
    assert "0x" not in repr(OLD) and repr(OLD) == "DataKey('2026a')"
