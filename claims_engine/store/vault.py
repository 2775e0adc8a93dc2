"""Protected health information at rest: sealed columns and keyed lookups.

A stolen database file, dump or backup must reveal no patient. The store therefore never holds
a name, birth date, address, phone number or member id in the clear:

* **Sealed columns** hold whole documents (the parsed claim, the decision, the raw interchange,
  the acknowledgments and 835s written from them, the reference data) encrypted with AES-256-GCM,
  an authenticated cipher: a wrong key or an altered byte makes the read fail, never yield
  garbage. A sealed value is ``0x01 | len(key id) | key id | nonce (12) | ciphertext | tag
  (16)``; the column's name is the associated data, so a value moved to another column does
  not open either.
* **Lookup columns** (a claim's member, a family, an accumulator's holder, an API key's member)
  hold an HMAC-SHA-256 of the identifier under the lookup key, cut to 128 bits as 32 hex
  digits: equal identifiers give equal lookups, so "the claims of member M" is still an indexed
  equality, but the value says nothing without the key.

Data keys are named by id (``CLAIMS_DATA_KEYS="2026b:BASE64,2026a:BASE64"``): the first seals
what is written, all of them open what was. Rotating is adding a new key in front and running
``claims-engine data-keys rotate``, which seals again, in batches, everything sealed under an
older key. The lookup key (``CLAIMS_LOOKUP_KEY``) does not rotate with them: changing it would
change every lookup column. Without either variable the keys are in a key file
(``CLAIMS_KEY_FILE``). An embedded (SQLite) store without one uses the file next to its
database (``claims.db-keys.json`` for ``claims.db``), made with fresh random keys when the
store is made, never for a store that exists (its data would not open); a PostgreSQL store
requires the keys set, so that every worker of a deployment uses the same keys. A key file
beside the database travels with its copies: an embedded store meant to hold real patients
keeps its keys elsewhere (``CLAIMS_KEY_FILE``, or the variables). ``CLAIMS_ENCRYPTION=off``
turns sealing and lookups off (a benchmark's baseline, or a throwaway store); a store
remembers which lookup key it was made with and refuses another.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from claims_engine.domain.errors import ConfigurationError, DataKeyError

__all__ = [
    "DataKey",
    "Vault",
    "current_vault",
    "key_file_for",
    "new_key_file",
    "use_vault",
    "vault_from_environment",
]

SEALED = 0x01
NONCE_BYTES = 12
KEY_BYTES = 32
LOOKUP_HEX = 32
TAG_BYTES = 16
_FINGERPRINT_INPUT = b"claims-engine lookup key fingerprint"
_PLAIN_FINGERPRINT = "off"


@dataclass(frozen=True, slots=True, repr=False)
class DataKey:
    """An AES-256 key and the id that names it in every value it seals."""

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        if not self.key_id or len(self.key_id) > 64 or not self.key_id.isascii():
            raise ConfigurationError(f"data key id {self.key_id!r}: 1 to 64 ASCII characters")
        if any(c in self.key_id for c in ",:= \t\n"):
            raise ConfigurationError(f"data key id {self.key_id!r} may not hold , : = or spaces")
        if len(self.secret) != KEY_BYTES:
            raise ConfigurationError(
                f"data key {self.key_id!r} is {len(self.secret)} bytes; it must be {KEY_BYTES}"
            )

    def __repr__(self) -> str:  # never the secret
        return f"DataKey({self.key_id!r})"


class Vault:
    """Seals and opens column values, and makes lookups, with one set of keys.

    ``keys`` is None for a vault with encryption off: values are kept as they are given and
    lookups are the identifiers themselves.
    """

    def __init__(self, keys: Sequence[DataKey] | None, lookup_key: bytes | None = None) -> None:
        if keys is not None:
            if not keys:
                raise ConfigurationError("encryption is on but no data key is configured")
            ids = [k.key_id for k in keys]
            if len(set(ids)) != len(ids):
                raise ConfigurationError(f"data key ids repeat: {', '.join(ids)}")
            if lookup_key is None or len(lookup_key) < 16:
                raise ConfigurationError("the lookup key must be set, 16 bytes or more")
        self._keys = {k.key_id: (k, AESGCM(k.secret)) for k in keys or ()}
        self._active = keys[0] if keys else None
        self._lookup_key = lookup_key or b""
        self._header = b""
        if self._active is not None:
            kid = self._active.key_id.encode("ascii")
            self._header = bytes((SEALED, len(kid))) + kid
        h = hmac.new(self._lookup_key or b"off", b"claims-engine key set", "sha256")
        for key_id, (key, _aead) in self._keys.items():
            h.update(key_id.encode() + b"\0" + key.secret)
        self._identity = h.hexdigest()[:16]

    @classmethod
    def off(cls) -> Vault:
        return cls(None)

    @property
    def enabled(self) -> bool:
        return self._active is not None

    @property
    def active_key_id(self) -> str | None:
        return self._active.key_id if self._active else None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def header(self) -> bytes:
        """How every value sealed under the active key begins (b"" when encryption is off)."""
        return self._header

    def fingerprint(self) -> str:
        """Names the lookup key without revealing it: a store keeps it and refuses a vault
        whose lookups would not match the ones it holds."""
        if not self.enabled:
            return _PLAIN_FINGERPRINT
        return hmac.digest(self._lookup_key, _FINGERPRINT_INPUT, "sha256").hex()[:16]

    def identity(self) -> str:
        """Names the whole set of keys (data keys and lookup key) without revealing them: what
        was opened with one set is not reused under another."""
        return self._identity

    # -- sealing ---------------------------------------------------------------------------

    def seal(self, data: bytes, where: str) -> bytes:
        """``data`` encrypted under the active key, bound to the column ``where``."""
        if self._active is None:
            return data
        nonce = secrets.token_bytes(NONCE_BYTES)
        aead = self._keys[self._active.key_id][1]
        return self._header + nonce + aead.encrypt(nonce, data, where.encode())

    def open(self, blob: bytes, where: str, row: object = None) -> bytes:
        """The bytes :meth:`seal` was given. Raises :class:`DataKeyError` naming the column
        (and ``row``, when given) when the value cannot be opened with the configured keys."""
        if self._active is None:
            if blob[:1] == bytes((SEALED,)):
                raise DataKeyError(
                    f"{_place(where, row)}: the value is sealed but encryption is off here "
                    "(set CLAIMS_DATA_KEYS and CLAIMS_LOOKUP_KEY, or the key file)"
                )
            return bytes(blob)
        if len(blob) < 2 or blob[0] != SEALED:
            raise DataKeyError(f"{_place(where, row)}: the value is not sealed")
        size = blob[1]
        start = 2 + size
        key_id = bytes(blob[2:start]).decode("ascii", errors="replace")
        entry = self._keys.get(key_id)
        if entry is None:
            raise DataKeyError(
                f"{_place(where, row)}: sealed with data key {key_id!r}, which is not "
                f"configured (configured: {', '.join(self._keys)})"
            )
        if len(blob) < start + NONCE_BYTES + TAG_BYTES:
            raise DataKeyError(f"{_place(where, row)}: the sealed value is cut short")
        nonce = bytes(blob[start : start + NONCE_BYTES])
        try:
            return entry[1].decrypt(nonce, bytes(blob[start + NONCE_BYTES :]), where.encode())
        except InvalidTag:
            raise DataKeyError(
                f"{_place(where, row)}: data key {key_id!r} does not open the value: the "
                "configured key is not the one it was sealed with, or the value was altered"
            ) from None

    def key_id_of(self, blob: bytes) -> str | None:
        """The id of the key a value is sealed under (None for a value that is not sealed)."""
        if len(blob) < 2 or blob[0] != SEALED:
            return None
        return bytes(blob[2 : 2 + blob[1]]).decode("ascii", errors="replace")

    def seal_json(self, value: Any, where: str) -> bytes:
        return self.seal(orjson.dumps(value), where)

    def open_json(self, blob: bytes, where: str, row: object = None) -> Any:
        data = self.open(blob, where, row)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise DataKeyError(f"{_place(where, row)}: not a JSON document: {exc}") from None

    def seal_text(self, text: str, where: str) -> bytes:
        return self.seal(text.encode("utf-8"), where)

    def open_text(self, blob: bytes, where: str, row: object = None) -> str:
        data = self.open(blob, where, row)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataKeyError(f"{_place(where, row)}: not UTF-8 text: {exc}") from None

    # -- lookups ---------------------------------------------------------------------------

    def lookup(self, identifier: str) -> str:
        """The keyed hash an identifier is found by (the identifier itself with encryption
        off)."""
        if self._active is None:
            return identifier
        digest = hmac.digest(self._lookup_key, identifier.encode("utf-8"), "sha256")
        return digest.hex()[:LOOKUP_HEX]


def _place(where: str, row: object) -> str:
    return where if row is None else f"{where} of row {row}"


# -- configuration ---------------------------------------------------------------------------


def _decode_secret(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{what} is not base64") from None


def parse_data_keys(text: str) -> list[DataKey]:
    """``"id:BASE64,id:BASE64"``, the active key first."""
    keys = []
    for n, part in enumerate(p for p in text.split(",") if p.strip()):
        key_id, sep, secret = part.strip().partition(":")
        if not sep:
            raise ConfigurationError(
                f"CLAIMS_DATA_KEYS entry {n + 1} is not ID:BASE64 (the key's id, a colon, the key)"
            )
        keys.append(DataKey(key_id, _decode_secret(secret, f"data key {key_id!r}")))
    return keys


def new_secret() -> str:
    """A fresh random key (data or lookup), base64 as configured."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def fresh_key_variables(key_id: str = "run") -> dict[str, str]:
    """``CLAIMS_DATA_KEYS`` and ``CLAIMS_LOOKUP_KEY`` with new random keys: for a benchmark or
    a throwaway store whose processes must share keys that nobody keeps."""
    return {"CLAIMS_DATA_KEYS": f"{key_id}:{new_secret()}", "CLAIMS_LOOKUP_KEY": new_secret()}


def key_file_for(store_file: Path) -> Path:
    """The key file an embedded store uses when none is configured: beside its database."""
    return store_file.with_name(store_file.name + "-keys.json")


def new_key_file(path: Path) -> None:
    """A key file with one fresh data key and a fresh lookup key, readable by its owner only."""
    key_id = "k" + secrets.token_hex(4)
    document = {
        "data_keys": [{"id": key_id, "key": new_secret()}],
        "lookup_key": new_secret(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        json.dump(document, out, indent=2)
        out.write("\n")


def _vault_from_file(path: Path) -> Vault:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the key file: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{path}: not a JSON key file: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"{path}: not a key file (expected a JSON object)")
    entries = document.get("data_keys")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path}: data_keys must be a non-empty list, the active first")
    keys = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise ConfigurationError(f"{path}: data_keys[{n}] needs an id and a key")
        secret = entry.get("key")
        if not isinstance(secret, str):
            raise ConfigurationError(f"{path}: data_keys[{n}] needs a key (base64)")
        keys.append(DataKey(entry["id"], _decode_secret(secret, f"{path}: data key {n}")))
    lookup = document.get("lookup_key")
    if not isinstance(lookup, str):
        raise ConfigurationError(f"{path}: lookup_key (base64) is missing")
    return Vault(keys, _decode_secret(lookup, f"{path}: lookup_key"))


def vault_from_environment(env: Mapping[str, str], *, store_file: Path | None) -> Vault:
    """The vault the environment configures (see the module docstring). ``store_file`` is
    the database file of an embedded (SQLite) store, the one case where a key file is found,
    or made for a new store, without being named."""
    mode = env.get("CLAIMS_ENCRYPTION", "on").strip().lower()
    if mode in ("off", "0", "false", "no"):
        return Vault.off()
    if mode not in ("on", "1", "true", "yes", ""):
        raise ConfigurationError(f"CLAIMS_ENCRYPTION must be on or off, not {mode!r}")
    listed = env.get("CLAIMS_DATA_KEYS", "").strip()
    if listed:
        lookup = env.get("CLAIMS_LOOKUP_KEY", "").strip()
        if not lookup:
            raise ConfigurationError("CLAIMS_DATA_KEYS is set but CLAIMS_LOOKUP_KEY is not")
        return Vault(parse_data_keys(listed), _decode_secret(lookup, "CLAIMS_LOOKUP_KEY"))
    if env.get("CLAIMS_LOOKUP_KEY", "").strip():
        # half a configuration: taking the key file instead would seal under other keys
        raise ConfigurationError("CLAIMS_LOOKUP_KEY is set but CLAIMS_DATA_KEYS is not")
    named = env.get("CLAIMS_KEY_FILE", "").strip()
    if named:
        path = Path(named)
        if not path.exists():
            raise ConfigurationError(
                f"no data keys: CLAIMS_KEY_FILE names {path}, which does not exist"
            )
        return _vault_from_file(path)
    if store_file is None:
        raise ConfigurationError(
            "no data keys: set CLAIMS_DATA_KEYS and CLAIMS_LOOKUP_KEY, or CLAIMS_KEY_FILE"
        )
    path = key_file_for(store_file)
    if not path.exists():
        sealed_with = _lookup_setting(store_file)
        if sealed_with == _PLAIN_FINGERPRINT:
            raise ConfigurationError(
                f"the store {store_file} was made with encryption off: set CLAIMS_ENCRYPTION=off"
            )
        if sealed_with is not None:
            raise ConfigurationError(
                f"the store {store_file} has no key file beside it ({path.name}): set "
                "CLAIMS_KEY_FILE to the key file it was made with, or CLAIMS_DATA_KEYS and "
                "CLAIMS_LOOKUP_KEY (new keys would not open its data)"
            )
        try:
            new_key_file(path)
        except FileExistsError:
            pass  # another process of this machine made it first
        except OSError as exc:
            raise ConfigurationError(f"{path}: cannot write a key file: {exc.strerror}") from None
    return _vault_from_file(path)


def _lookup_setting(store_file: Path) -> str | None:
    """What an embedded store notes of the keys it was made with (its lookup key's
    fingerprint, or ``off``); None for a store that notes nothing: no file yet, an empty one,
    or a store made before health data was sealed, which its upgrade seals with new keys. A
    directory, a file that is no SQLite database or one that cannot be read is refused with
    a :class:`ConfigurationError` naming it; a database that cannot be read otherwise (locked)
    counts as one made with keys: none are made for it."""
    try:
        if store_file.is_dir():
            raise ConfigurationError(
                f"the store {store_file} is a directory, not a SQLite database"
            )
        if store_file.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(
            f"the store {store_file} cannot be read: {exc.strerror or exc}"
        ) from exc
    try:
        with closing(sqlite3.connect(f"{store_file.as_uri()}?mode=ro", uri=True)) as db:
            if not db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'store_settings'"
            ).fetchone():
                return None
            row = db.execute(
                "SELECT value FROM store_settings WHERE name = 'lookup_key'"
            ).fetchone()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise ConfigurationError(
                f"the store {store_file} is not a SQLite database (CLAIMS_DATABASE_URL)"
            ) from exc
        return "unreadable"
    return str(row[0]) if row else None


_current: Vault | None = None
_lock = threading.Lock()


def use_vault(vault: Vault | None) -> None:
    """Make ``vault`` the process's (None: read the environment again on next use)."""
    global _current  # noqa: PLW0603 - one vault per process, like the broker
    with _lock:
        _current = vault


def current_vault() -> Vault:
    """The process's vault: the one :func:`use_vault` set (a process's environment sets the
    keys of its store), else the keys the variables name."""
    global _current  # noqa: PLW0603
    vault = _current
    if vault is not None:
        return vault
    with _lock:
        if _current is None:
            _current = vault_from_environment(os.environ, store_file=None)
        return _current
