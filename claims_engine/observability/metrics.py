"""Prometheus metrics of the engine: their definitions, the helpers that count a service's
result, the queue collector, and the exposition of the workers and of the API.

Counting happens at the edge, after each service call (the actors, the command line, the
demo), from the services' result objects; the services themselves stay free of metrics.

Label values are bounded codes only: transaction types (837P, 837I, 837D), rejection stages
and edit codes, outcomes, CARC group and reason codes, queue names. Never a member, a name, a
claim number or any other id: each label value makes a time series of its own, and the
exposition is read by people and systems outside the PHI boundary.

Several processes add up through prometheus_client's multiprocess mode: when
``PROMETHEUS_MULTIPROC_DIR`` is set (``claims-engine worker`` makes a fresh directory per run
and sets it for its processes, before prometheus_client is imported), every process writes its
values into that directory and the exposition sums them. Without it (the in-process workers of
``submit``, the demo, tests) the values live in this process's default registry.

What the store holds rather than what one process did, the pended claims and the examiners'
actions, is read from the store at scrape time (:class:`PendedCollector`): it is the same from
every process that serves it, survives restarts, and counts the actions of the command line
and of every API process alike. Such a series is served by the API's ``/metrics`` and by the
workers' port both, so dashboards and alerts take its ``max`` over scrape targets, never the
sum.

dramatiq's own Prometheus middleware (``dramatiq.middleware.prometheus``) keeps its metrics
(``dramatiq_messages_total``, ``dramatiq_message_duration_milliseconds`` ...) in the same
multiprocess directory (``dramatiq_prom_db`` points at it), so one exposition serves both; its
own exposition server (a fork on port 9191 that knows nothing of the queue collector) is
replaced by :func:`serve_worker_metrics`, which serves the directory plus the queue depths.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from claims_engine.domain.money import ascii_digits

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DRAMATIQ_DB_ENV = "dramatiq_prom_db"
METRICS_PORT_ENV = "CLAIMS_METRICS_PORT"
METRICS_HOST_ENV = "CLAIMS_METRICS_HOST"
DEFAULT_WORKER_PORT = 9191
CONTENT_TYPE = CONTENT_TYPE_LATEST
QUEUES = ("intake", "adjudication", "payments")  # as workers.broker.QUEUES
TRANSACTIONS = {"P": "837P", "I": "837I", "D": "837D"}
log = logging.getLogger("claims_engine.adjudication.payment_cycle")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,47}$")

CLAIMS_RECEIVED = Counter(
    "claims_received_total",
    "Claims read by the intake, by 837 transaction type (837P, 837I, 837D).",
    ["transaction"],
)
INQUIRIES = Counter(
    "claims_inquiries_total",
    "Patients asked about in X12 270 eligibility inquiries, by outcome: answered (found and "
    "answered with benefits), not found (answered AAA), unavailable (answered AAA 42: the "
    "store could not be read), rejected (the request could not be read).",
    ["transaction", "outcome"],
)
ENROLLMENT_FILES = Counter(
    "claims_enrollment_files_total",
    "X12 834 enrollment files applied (applied) or refused whole (refused: the envelope, the "
    "guide, the sponsor or BGN08), a file applied before and sent again not counted.",
    ["result"],
)
ENROLLMENT_MEMBERS = Counter(
    "claims_enrollment_members_total",
    "Members of applied X12 834 files, by outcome (added, changed, terminated, reinstated, "
    "unchanged, stale, refused; differs and matches for verify files).",
    ["outcome"],
)
ENROLLMENT_READJUSTED = Counter(
    "claims_enrollment_readjusted_total",
    "Decided claims an 834's change of coverage in the past sent back to adjudication.",
)
CLAIMS_REJECTED = Counter(
    "claims_rejected_total",
    "Claims rejected by the intake, by the stage that rejected them (claim: a 277CA "
    "rejection; transaction_set, functional_group, interchange: an envelope the 999 or TA1 "
    "rejected) and a bounded reason (the edit code, or IK5 / AK9 / TA1).",
    ["stage", "reason"],
)
CLAIMS_ADJUDICATED = Counter(
    "claims_adjudicated_total",
    "Claims decided by adjudication, by outcome (paid, partly_paid, denied, pended; error: "
    "pended because adjudicating the claim raised).",
    ["outcome"],
)
CLAIM_ADJUSTMENTS = Counter(
    "claim_adjustments_total",
    "Adjustments (CAS) on claim decisions, claim and line level, by group code and CARC.",
    ["group", "reason"],
)
CLAIMS_PAID_AMOUNT = Counter(
    "claims_paid_amount_total",
    "Dollars paid on claim decisions (reversals not subtracted: see "
    "claims_reversed_amount_total). A float for Prometheus only; the store keeps Decimals.",
)
CLAIMS_REVERSED_AMOUNT = Counter(
    "claims_reversed_amount_total",
    "Dollars taken back by reversals of earlier decisions (voids and replacements).",
)
PRIOR_AUTH_ALERTS = Counter(
    "claims_prior_auth_alerts_total",
    "Open prior authorization requests alerted as near (or past) their due time, by urgency "
    "(standard, expedited); each request is alerted once.",
    ["urgency"],
)
ADJUDICATION_SECONDS = Histogram(
    "claims_adjudication_seconds",
    "Seconds of adjudication per claim: each batch's wall time divided by the claims it "
    "decided, observed once per claim (so _count is claims decided).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
INGEST_BYTES = Counter(
    "claims_ingest_bytes_total",
    "Bytes of 837 interchanges read by the intake.",
)
INTERCHANGES = Counter(
    "claims_interchanges_total",
    "Interchanges read by the intake, by the state they ended in (ingested, rejected).",
    ["state"],
)
REMITTANCES = Counter(
    "claims_remittances_total",
    "835 remittances written by payment cycles (one per payee per cycle).",
)
REMITTED_CLAIMS = Counter(
    "claims_remitted_total",
    "Claim decisions paid on an 835 by payment cycles.",
)


def bounded(code: str) -> str:
    """A label value from a code: kept when it looks like one (letters, digits, ``_.:-``, at
    most 48), else ``other``, so free text can never become a label."""
    return code if _CODE.match(code) else "other"


# -- counting the services' results ------------------------------------------------------------


def record_prior_auth_alerts(urgencies: Iterable[str]) -> None:
    """Count alerted prior authorization requests by urgency (a fixed set)."""
    for urgency in urgencies:
        PRIOR_AUTH_ALERTS.labels(urgency if urgency in ("standard", "expedited") else "other").inc()


def record_inquiries(transaction: str, asked: int, answered: int, unavailable: int = 0) -> None:
    """Count an answered inquiry file: its patients found, not found, and answered that the
    store could not be read (``unavailable``, of those not ``answered``)."""
    if answered:
        INQUIRIES.labels(transaction, "answered").inc(answered)
    if unavailable:
        INQUIRIES.labels(transaction, "unavailable").inc(unavailable)
    if asked > answered + unavailable:
        INQUIRIES.labels(transaction, "not found").inc(asked - answered - unavailable)


def record_rejected_inquiry(transaction: str) -> None:
    """Count a request that could not be read (answered with a TA1 or 999, or only a reason)."""
    INQUIRIES.labels(transaction, "rejected").inc()


def record_enrollment(report: Any) -> None:
    """Count a :class:`~claims_engine.services.members.EnrollmentReport` of an 834 applied or
    refused now (nothing for the report of a file applied before)."""
    if report.duplicate_of is not None:
        return
    if report.error:
        ENROLLMENT_FILES.labels("refused").inc()
        return
    ENROLLMENT_FILES.labels("applied").inc()
    for outcome, n in report.counts.items():
        if outcome == "readjusted":
            if n:
                ENROLLMENT_READJUSTED.inc(n)
        elif n:
            ENROLLMENT_MEMBERS.labels(bounded(outcome)).inc(n)


def record_ingest(result: Any) -> None:
    """Count an :class:`~claims_engine.services.intake.IngestResult` (nothing for a
    redelivery that found the interchange already read)."""
    if result.already_done:
        return
    INTERCHANGES.labels(bounded(str(result.state))).inc()
    INGEST_BYTES.inc(result.size_bytes)
    for claim_type, n in result.received.items():
        CLAIMS_RECEIVED.labels(TRANSACTIONS.get(claim_type, "other")).inc(n)
    for (stage, reason), n in result.rejections.items():
        CLAIMS_REJECTED.labels(bounded(stage), bounded(reason)).inc(n)


def record_adjudication(result: Any, seconds: float) -> None:
    """Count a :class:`~claims_engine.services.stored_adjudication.BatchResult` that took
    ``seconds``."""
    paid = Decimal(0)
    reversed_amount = Decimal(0)
    decided = 0
    for adjudication in result.decisions:
        for d in adjudication.decisions:
            if d.status.value == "22":  # a reversal of an earlier decision
                reversed_amount += -d.paid
                continue
            paid += d.paid
            for adj in d.claim_adjustments:
                CLAIM_ADJUSTMENTS.labels(bounded(adj.group), bounded(adj.reason)).inc()
            for line in d.lines:
                for adj in line.adjustments:
                    CLAIM_ADJUSTMENTS.labels(bounded(adj.group), bounded(adj.reason)).inc()
        outcome = adjudication.decision.outcome.value.replace(" ", "_")
        CLAIMS_ADJUDICATED.labels(outcome).inc()
        decided += 1
    if result.failed:
        CLAIMS_ADJUDICATED.labels("error").inc(result.failed)
        decided += result.failed
    if paid:
        CLAIMS_PAID_AMOUNT.inc(float(paid))
    if reversed_amount:
        CLAIMS_REVERSED_AMOUNT.inc(float(reversed_amount))
    if decided:
        per_claim = seconds / decided
        for _ in range(decided):
            ADJUDICATION_SECONDS.observe(per_claim)


def record_payment_cycle(files: Sequence[Any]) -> None:
    """Count and log the :class:`~claims_engine.services.remittance.RemitFile` of a payment
    cycle (the actor's, ``claims-engine remit``'s, the demo's)."""
    for f in files:
        REMITTANCES.inc()
        REMITTED_CLAIMS.inc(f.claims)
        log.info(
            "remittance written: trace %s, %d claims, paid %s",
            f.trace_number,
            f.claims,
            f.total_paid,
        )
    log.info("payment cycle: %d remittances", len(files))


# -- queue depths, read at scrape time ------------------------------------------------------------


class QueueCollector(Collector):
    """Depth and age of the oldest waiting message of each queue, read from the broker when
    Prometheus scrapes: a dramatiq StubBroker in this process, or Redis at ``redis_url``
    (read directly, in dramatiq's key layout, so the exposition process needs no broker)."""

    def __init__(self, *, broker: Any = None, redis_url: str | None = None) -> None:
        self.broker = broker
        self.redis_url = redis_url
        self._client: Any = None

    def describe(self) -> Iterable[Any]:
        return []  # collected at scrape time only: nothing to read at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "claims_queue_depth",
            "Messages on each queue (waiting, delayed and in progress).",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "claims_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting on each queue or its delay queue (0: empty).",
            labels=["queue"],
        )
        up = GaugeMetricFamily(
            "claims_queue_broker_up", "Whether the broker answered the last scrape (1) or not."
        )
        try:
            found = self._read()
        except Exception:  # a broker away: say so instead of failing the whole scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for name, (n, oldest) in found.items():
            depth.add_metric([name], n)
            age.add_metric([name], oldest)
        yield depth
        yield age
        yield up

    def _read(self) -> dict[str, tuple[int, float]]:
        now_ms = time.time() * 1000
        if self.broker is not None:
            return {name: self._stub_queue(name, now_ms) for name in QUEUES}
        if self.redis_url:
            return {name: self._redis_queue(name, now_ms) for name in QUEUES}
        return {}

    def _stub_queue(self, name: str, now_ms: float) -> tuple[int, float]:
        depth, oldest = 0, now_ms
        for q in (name, f"{name}.DQ"):
            queue: Any = self.broker.queues.get(q)
            if queue is None:
                continue
            depth += queue.unfinished_tasks
            try:
                head = queue.queue[0]  # the deque under the Queue: the next to be taken
            except IndexError:
                continue
            oldest = min(oldest, _timestamp(head, now_ms))
        return depth, max(0.0, (now_ms - oldest) / 1000)

    def _redis_queue(self, name: str, now_ms: float) -> tuple[int, float]:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(
                self.redis_url or "", socket_connect_timeout=1, socket_timeout=2
            )
        client, ns = self._client, "dramatiq"
        depth, oldest = 0, now_ms
        for q in (name, f"{name}.DQ"):
            # a message stays in the hash from enqueue to ack: waiting and in progress
            depth += int(client.hlen(f"{ns}:{q}.msgs"))
            head = client.lindex(f"{ns}:{q}", 0)
            if head is not None:
                data = client.hget(f"{ns}:{q}.msgs", head)
                if data is not None:
                    oldest = min(oldest, _timestamp(data, now_ms))
        return depth, max(0.0, (now_ms - oldest) / 1000)


def _timestamp(encoded: bytes | str, default: float) -> float:
    try:
        return float(json.loads(encoded)["message_timestamp"])
    except (ValueError, KeyError, TypeError):
        return default


# -- pended claims and examiners' actions, read from the store at scrape time --------------------

# Days since receipt of the pended claims' age histogram: the prompt-payment clocks (30 days by
# default, 45 in many states, 90 for the last Medicaid percent) fall on bucket bounds.
AGE_BUCKETS_DAYS = (1, 3, 7, 14, 21, 30, 45, 60, 90, 180, 365)


class PendedCollector(Collector):
    """Pended claims by queue and by pend reason, their age since receipt, those past their
    due day or due soon, and the examiners' actions by kind: read from the store (``engine``)
    when Prometheus scrapes, the day being that of ``now()``. Every series is the store's
    state, not this process's: it survives restarts and is the same from every process that
    serves it. A store that does not answer is ``claims_pended_store_up 0``, not a failed
    scrape."""

    def __init__(self, engine: Any, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self.now = now

    def describe(self) -> Iterable[Any]:
        return list(self._families())  # their names and kinds; nothing is read

    @staticmethod
    def _families() -> Iterator[Any]:
        yield GaugeMetricFamily(
            "claims_pended",
            "Pended claims in each examiner queue (the queue of their most urgent open pend "
            "reason), from the store.",
            labels=["queue"],
        )
        yield GaugeMetricFamily(
            "claims_pended_by_reason",
            "Pended claims with an open pend reason, by its code (a claim with two reasons "
            "counts under each), from the store.",
            labels=["reason"],
        )
        yield GaugeMetricFamily(
            "claims_pended_past_due",
            "Pended claims past their due day (receipt plus the plan's prompt-payment days, "
            "moved on while a request for information stopped the clock), by queue.",
            labels=["queue"],
        )
        yield GaugeMetricFamily(
            "claims_pended_due_soon",
            "Pended claims due today or within the next days that make a claim due soon in "
            "its queue's list (claims_engine.services.examination.DUE_SOON_DAYS), by queue.",
            labels=["queue"],
        )
        yield HistogramMetricFamily(
            "claims_pended_age_days",
            "Age of the pended claims in days since their receipt, from the store.",
        )
        yield CounterMetricFamily(
            "claims_examiner_actions",
            "Examiners' actions on pended claims, by kind (take, release, deny, price, "
            "override, request-info, note, approve ...), as the store records them.",
            labels=["kind"],
        )
        yield GaugeMetricFamily(
            "claims_pended_store_up",
            "Whether the store answered the last scrape of the pended-claim series (1) or not.",
        )

    def collect(self) -> Iterator[Any]:
        families = {f.name: f for f in self._families()}
        up = families["claims_pended_store_up"]
        try:
            found = _read_pended(self.engine, self.now().date())
        except Exception:  # a store away: say so instead of failing the whole scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for queue, (claims, past_due, due_soon) in sorted(found.queues.items()):
            families["claims_pended"].add_metric([bounded(queue)], claims)
            families["claims_pended_past_due"].add_metric([bounded(queue)], past_due)
            families["claims_pended_due_soon"].add_metric([bounded(queue)], due_soon)
        for code, claims in sorted(found.reasons.items()):
            families["claims_pended_by_reason"].add_metric([bounded(code)], claims)
        for kind, n in sorted(found.actions.items()):
            families["claims_examiner_actions"].add_metric([bounded(kind)], n)
        families["claims_pended_age_days"].add_metric(
            [], _age_buckets(found.ages), float(sum(age * n for age, n in found.ages.items()))
        )
        yield from families.values()


class _Pended:
    def __init__(self) -> None:
        self.queues: dict[str, tuple[int, int, int]] = {}  # claims, past due, due soon
        self.reasons: dict[str, int] = {}
        self.ages: dict[int, int] = {}  # days since receipt -> claims
        self.actions: dict[str, int] = {}


def _read_pended(engine: Any, today: date) -> _Pended:
    from sqlalchemy import and_, case, func, select

    from claims_engine.services.examination import DUE_SOON_DAYS
    from claims_engine.store.tables import (
        PendState,
        examiner_actions_table,
        pend_items_table,
        pended_claims_table,
    )

    p, i, a = pended_claims_table.c, pend_items_table.c, examiner_actions_table.c
    soon = today + timedelta(days=DUE_SOON_DAYS)
    found = _Pended()
    with engine.connect() as conn:
        for queue, claims, past_due, due_soon in conn.execute(
            select(
                p.queue,
                func.count(),
                func.sum(case((p.due_on < today, 1), else_=0)),
                func.sum(case((and_(p.due_on >= today, p.due_on <= soon), 1), else_=0)),
            ).group_by(p.queue)
        ):
            found.queues[str(queue)] = (int(claims), int(past_due or 0), int(due_soon or 0))
        for code, claims in conn.execute(
            select(i.code, func.count(func.distinct(i.claim_id)))
            .where(i.state == PendState.OPEN.value)
            .group_by(i.code)
        ):
            found.reasons[str(code)] = int(claims)
        for received_on, claims in conn.execute(
            select(p.received_on, func.count()).group_by(p.received_on)
        ):
            age = max(0, (today - received_on).days)
            found.ages[age] = found.ages.get(age, 0) + int(claims)
        for kind, n in conn.execute(select(a.kind, func.count()).group_by(a.kind)):
            found.actions[str(kind)] = int(n)
    return found


def _go_float(value: float) -> str:
    """A bucket bound as prometheus_client writes its own (``30.0``)."""
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


def _age_buckets(ages: dict[int, int]) -> list[tuple[str, float]]:
    """Cumulative counts of claims at most each bound's days old, then ``+Inf``."""
    buckets = [
        (_go_float(bound), float(sum(n for age, n in ages.items() if age <= bound)))
        for bound in AGE_BUCKETS_DAYS
    ]
    buckets.append(("+Inf", float(sum(ages.values()))))
    return buckets


# -- exposition ------------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition_registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What a scrape reads: every process's values from the multiprocess directory when there
    is one, else this process's default registry; plus ``extra`` collectors."""
    folder = multiprocess_dir()
    if folder is None and not extra:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    if folder is not None:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return registry


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of :func:`exposition_registry`."""
    return generate_latest(exposition_registry(extra))


RUN_DIR_PREFIX = "claims-engine-metrics-"


def make_run_dir() -> Path:
    """A fresh multiprocess directory for one run of ``claims-engine worker``, named for this
    process; the directories of runs whose process is gone (killed before they could remove
    theirs) are removed first."""
    base = Path(tempfile.gettempdir())
    for old in base.glob(f"{RUN_DIR_PREFIX}*-*"):
        pid = old.name[len(RUN_DIR_PREFIX) :].split("-", 1)[0]
        if ascii_digits(pid) and not _alive(int(pid)):
            remove_run_dir(old)
    return Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{os.getpid()}-", dir=base))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_run_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def mark_process_dead(pid: int | None = None) -> None:
    """Let the multiprocess directory drop this process's live gauges (a worker exiting)."""
    folder = multiprocess_dir()
    if folder is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid(), folder)  # type: ignore[no-untyped-call]


def check_port(port: int) -> None:
    """Refuse, before the workers start, a metrics port that cannot be served (taken, or not a
    port): the exposition server would fail in its own process while the workers ran on."""
    import socket

    host = os.environ.get(METRICS_HOST_ENV, "0.0.0.0")
    try:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as exc:
        from claims_engine.domain.errors import ConfigurationError

        detail = getattr(exc, "strerror", None) or exc
        raise ConfigurationError(f"metrics port {host}:{port} cannot be served: {detail}") from None


def serve_worker_metrics() -> int:
    """The workers' exposition server (a dramatiq fork process, see
    :class:`workers.actors.WorkerMetrics`): the multiprocess directory and the Redis queues on
    ``CLAIMS_METRICS_HOST:CLAIMS_METRICS_PORT``, until the process is stopped."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from prometheus_client import make_wsgi_app

    class _Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    class _Server(WSGIServer):
        allow_reuse_address = True

    from claims_engine.runtime import clock
    from claims_engine.store.db import engine_for

    port = int(os.environ.get(METRICS_PORT_ENV, DEFAULT_WORKER_PORT))
    host = os.environ.get(METRICS_HOST_ENV, "0.0.0.0")
    redis_url = os.environ.get("CLAIMS_REDIS_URL") or None
    # the store, for the pended-claim series: one connection is enough for a scrape
    store = engine_for(os.environ.get("CLAIMS_DATABASE_URL") or None, pool_size=1)
    registry = exposition_registry(
        [QueueCollector(redis_url=redis_url), PendedCollector(store, clock.now)]
    )
    app = make_wsgi_app(registry)
    with make_server(host, port, app, server_class=_Server, handler_class=_Quiet) as httpd:
        httpd.serve_forever()
    return 0
