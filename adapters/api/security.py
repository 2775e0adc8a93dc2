"""Bearer tokens to principals, with a short cache so a busy client costs no key lookup per
request; expiry is checked on every request all the same, and a revoked key stops working
within ``ttl`` seconds."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from claims_engine.domain.reference_data import ReferenceData
from claims_engine.services.access import Principal, authenticate

POSITIVE_TTL = 30.0
NEGATIVE_TTL = 2.0
MAX_ENTRIES = 10_000


class KeyRing:
    def __init__(
        self,
        engine: Engine,
        reference: Callable[[], ReferenceData | None],
        *,
        ttl: float = POSITIVE_TTL,
    ) -> None:
        self.engine = engine
        self.reference = reference
        self.ttl = ttl
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str, now: datetime) -> tuple[bool, Principal | None]:
        """(True, principal or None) when the cache answers, (False, None) when the store
        must be asked (:meth:`principal`)."""
        hit = self._cache.get(self._key(token))
        if hit is None:
            return False, None
        found, at = hit
        fresh = time.monotonic() - at < (self.ttl if found is not None else NEGATIVE_TTL)
        if not fresh:
            return False, None
        if found is not None and found.expires_at is not None and found.expires_at <= now:
            return True, None
        return True, found

    def principal(self, token: str, now: datetime) -> Principal | None:
        """The token's principal, from the cache or the store."""
        known, found = self.cached(token, now)
        if known:
            return found
        tick = time.monotonic()
        found = authenticate(self.engine, token, now, self.reference())
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[self._key(token)] = (found, tick)
        return found

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
