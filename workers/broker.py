"""The broker: Redis when a URL is given, else dramatiq's in-process StubBroker.

On Redis, a worker that dies (SIGKILL, a lost machine) stops sending heartbeats; after
``HEARTBEAT_TIMEOUT_MS`` another worker's queue maintenance puts the messages it held back on
their queues. Maintenance runs on a share of broker commands (``MAINTENANCE_CHANCE`` in a
million); both are tighter than dramatiq's defaults (60 s, 0.1 %) so a crash costs seconds.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Broker
from dramatiq.brokers.stub import StubBroker

from claims_engine.domain.errors import ConfigurationError

QUEUES = ("intake", "adjudication", "payments")
HEARTBEAT_TIMEOUT_MS = 10_000
MAINTENANCE_CHANCE = 50_000  # 5 % of commands


def make_broker(redis_url: str | None) -> Broker:
    if not redis_url:
        broker = StubBroker()
        broker.emit_after("process_boot")
        return broker
    from dramatiq.brokers.redis import RedisBroker

    try:
        return RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url,
            heartbeat_timeout=HEARTBEAT_TIMEOUT_MS,
            maintenance_chance=MAINTENANCE_CHANCE,
        )
    except ValueError as exc:  # a malformed URL
        raise ConfigurationError(f"CLAIMS_REDIS_URL {redis_url!r}: {exc}") from None


def queue_depths(broker: Broker) -> dict[str, int]:
    """Messages waiting or in progress, by queue (delayed retries included)."""
    depths: dict[str, int] = {}
    for name in QUEUES:
        if isinstance(broker, StubBroker):
            depth = 0
            for q in (name, f"{name}.DQ"):
                queue: Any = broker.queues.get(q)
                depth += queue.unfinished_tasks if queue is not None else 0
        else:
            depth = int(broker.do_qsize(name))  # type: ignore[attr-defined]
        depths[name] = depth
    return depths
