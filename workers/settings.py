"""What a worker process reads from its environment, read once per process.

* ``CLAIMS_DATABASE_URL``: the store (default: SQLite ``var/claims.db``);
* ``CLAIMS_REDIS_URL``: the broker (default: the in-process StubBroker);
* ``CLAIMS_RULES_DIR``: the rule pack folder (default: the project's ``rules/``);
* ``CLAIMS_SNIP_LEVELS``: the SNIP levels the intake applies (default ``1-5``);
* ``CLAIMS_DATA_KEYS``, ``CLAIMS_LOOKUP_KEY``, ``CLAIMS_KEY_FILE``, ``CLAIMS_ENCRYPTION``: the
  keys PHI is sealed with (see :mod:`claims_engine.store.vault`).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url

from claims_engine.domain.errors import ConfigurationError
from claims_engine.front_end.edits import ALL_LEVELS, parse_levels
from claims_engine.services.reference import Runtime, load_runtime
from claims_engine.store.db import checked_url, database_url, engine_for, shown_url
from claims_engine.store.vault import Vault, use_vault, vault_from_environment

KEY_VARIABLES = ("CLAIMS_DATA_KEYS", "CLAIMS_LOOKUP_KEY", "CLAIMS_KEY_FILE", "CLAIMS_ENCRYPTION")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = PROJECT_ROOT / "rules"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    redis_url: str | None
    rules_dir: Path
    levels: frozenset[int]
    keys: tuple[str, ...] = ()  # the key variables as set, so that a change is seen

    @property
    def store_file(self) -> Path | None:
        """The database file of an embedded (SQLite) store; None for a server's."""
        url = make_url(database_url(self.database_url))
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database or "").resolve()

    @classmethod
    def from_env(cls) -> Settings:
        levels_text = os.environ.get("CLAIMS_SNIP_LEVELS", "")
        try:
            levels = parse_levels(levels_text) if levels_text else ALL_LEVELS
        except ValueError as exc:
            raise ConfigurationError(f"CLAIMS_SNIP_LEVELS={levels_text!r}: {exc}") from exc
        return cls(
            database_url=_database_url_from_env(),
            redis_url=_redis_url_from_env(),
            rules_dir=Path(os.environ.get("CLAIMS_RULES_DIR") or DEFAULT_RULES),
            levels=levels,
            keys=tuple(os.environ.get(name, "") for name in KEY_VARIABLES),
        )


def _database_url_from_env() -> str | None:
    """``CLAIMS_DATABASE_URL``, refused with one line when it is no database URL."""
    url = os.environ.get("CLAIMS_DATABASE_URL") or None
    if url is not None:
        checked_url(url, variable="CLAIMS_DATABASE_URL")
    return url


def _redis_url_from_env() -> str | None:
    """``CLAIMS_REDIS_URL``, refused with one line when it is no Redis URL (nothing is
    connected to: a Redis away is the broker's business)."""
    url = os.environ.get("CLAIMS_REDIS_URL") or None
    if url is not None:
        from redis.connection import parse_url

        try:
            parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ConfigurationError(
                f"CLAIMS_REDIS_URL is not a Redis URL ({exc}): {shown_url(url)!r} "
                "(use redis://HOST:6379/0, rediss://... or unix:///PATH)"
            ) from exc
    return url


class Environment:
    """The engine and runtime of one process, built on first use."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine: Engine | None = engine  # given: an engine built elsewhere (tests)
        self._vault: Vault | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                # the keys before the store: a deployment without them stops here, one line
                use_vault(self._vault_locked())
                self._engine = engine_for(self.settings.database_url)
            return self._engine

    @property
    def vault(self) -> Vault:
        """The keys of this environment's store, read from the variables on first use."""
        with self._lock:
            return self._vault_locked()

    def _vault_locked(self) -> Vault:
        if self._vault is None:
            self._vault = vault_from_environment(os.environ, store_file=self.settings.store_file)
        return self._vault

    def runtime(self) -> Runtime:
        return load_runtime(self.engine, self.settings.rules_dir)

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


_current: Environment | None = None


def environment() -> Environment:
    global _current  # noqa: PLW0603 - one environment per process
    if _current is None:
        _current = Environment(Settings.from_env())
    return _current


def use_environment(env: Environment) -> None:
    """Replace the process's environment (the demo and tests point it at their own store)."""
    global _current  # noqa: PLW0603
    if _current is not None and _current is not env:
        _current.dispose()
    _current = env
