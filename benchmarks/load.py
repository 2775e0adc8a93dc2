"""The load the HTTP benchmarks put on a server: keep-alive clients on one asyncio loop.

Each client holds its own HTTP/1.1 connection and sends, one after another until the phase
ends, requests drawn at random from a list of requests written out in full beforehand (request
line, headers and body, as bytes), reading each answer whole (``Content-Length``) before the
next. The client does as little as it can per request, since it shares the machine's cores
with the server it measures: one thread, no HTTP library, nothing parsed but the status and
the length. :class:`Phase` keeps what was seen: every latency, the status codes, the answers a
``judge`` accepted, and the CPU time the client itself spent (so a table can show how much of
the machine the load took from the server).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Phase:
    name: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0  # answers the phase's judge accepted (all 200s without a judge)
    client_cpu_seconds: float = 0.0  # this process's CPU time during the phase

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "requests_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "max_ms": round(max(self.latencies) * 1000, 2) if self.latencies else None,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "client_cpu_ms_per_request": (
                round(self.client_cpu_seconds / self.requests * 1000, 3) if self.requests else None
            ),
        }


def request(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
) -> bytes:
    """One HTTP/1.1 request written out whole, ready to be sent again and again."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(
    host: str,
    port: int,
    requests: Sequence[bytes],
    stop_at: float,
    phase: Phase,
    judge: Callable[[int, bytes], bool] | None,
    seed: int,
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = phase.latencies
    statuses = phase.statuses
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(requests[rng.randrange(len(requests))])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            at = head.lower().find(b"\r\ncontent-length:")
            if at >= 0:
                length = int(head[at + 17 : head.index(b"\r\n", at + 2)])
            body = await reader.readexactly(length) if length else b""
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            if judge(status, body) if judge is not None else status == 200:
                phase.accepted += 1
    finally:
        writer.close()


async def _drive(
    host: str,
    port: int,
    requests: Sequence[bytes],
    clients: int,
    seconds: float,
    phase: Phase,
    judge: Callable[[int, bytes], bool] | None,
) -> None:
    started = time.perf_counter()
    cpu = time.process_time()
    stop_at = started + seconds
    await asyncio.gather(
        *(_client(host, port, requests, stop_at, phase, judge, i) for i in range(clients))
    )
    phase.seconds = time.perf_counter() - started
    phase.client_cpu_seconds = time.process_time() - cpu
    phase.requests = len(phase.latencies)


def drive(
    port: int,
    name: str,
    requests: Sequence[bytes],
    *,
    clients: int,
    seconds: float,
    judge: Callable[[int, bytes], bool] | None = None,
    host: str = "127.0.0.1",
) -> Phase:
    """``clients`` keep-alive connections sending ``requests`` at random for ``seconds``."""
    if not requests:
        raise ValueError("drive: no requests to send")
    phase = Phase(name)
    asyncio.run(_drive(host, port, requests, clients, seconds, phase, judge))
    return phase


def peer(port: int, clients: int, seconds: float = 5.0) -> Phase:
    """``/healthz`` on the same server: the peer a route's numbers are read against."""
    return drive(
        port,
        "/healthz (peer: no work)",
        [request("GET", "/healthz")],
        clients=clients,
        seconds=seconds,
    )


def print_table(peer_phase: Phase, phase: Phase, accepted: str) -> None:
    """The peer's and the phase's rates, latencies, client CPU and statuses; ``accepted``
    names what the phase's judge counted."""
    print()
    print(
        f"{'phase':<32} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f" {'client':>7}  statuses, {accepted}"
    )
    for ph in (peer_phase, phase):
        j = ph.to_json()
        print(
            f"{ph.name:<32} {j['requests_per_s']:>8.0f} {j['p50_ms']:>8.2f} {j['p95_ms']:>8.2f} "
            f"{j['p99_ms']:>8.2f} {j['max_ms']:>8.2f} {j['client_cpu_ms_per_request']:>7.3f}"
            f"  {j['statuses']}" + (f", {ph.accepted}" if ph is phase else "")
        )
