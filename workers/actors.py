"""The actors. Importing this module binds them to the broker of the environment.

Each actor decodes its arguments, calls a service function with the current time, and sends
the next step's messages. Retries with exponential backoff (0.5 s doubling to 30 s, 12 tries,
about 5 minutes) ride out a database or Redis that is gone for a while; what is still undone
after that is found again by the sweep (:mod:`claims_engine.services.recovery`) that every
worker runs when it starts and every ``SWEEP_SECONDS`` after.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq import Broker, Worker
from dramatiq.middleware import Middleware
from dramatiq.middleware.prometheus import Prometheus

from claims_engine.observability import metrics
from claims_engine.observability.logs import WORKER_READY, configure_logging, log_context
from claims_engine.runtime import clock
from claims_engine.services import (
    examination,
    intake,
    members,
    readjustment,
    recovery,
    remittance,
    stored_adjudication,
)
from claims_engine.store.tables import InterchangeState, api_keys_table, interchanges_table
from workers.broker import make_broker
from workers.settings import environment

log = logging.getLogger("claims_engine.workers")

SWEEP_SECONDS = 30
DEFER_MS = 500
BOOT_LOCK_MS = 3000
STALE_AFTER = timedelta(minutes=2)  # work older than this in a periodic sweep is re-sent
_RETRIES: dict[str, Any] = {"max_retries": 12, "min_backoff": 500, "max_backoff": 30_000}

broker: Broker = make_broker(environment().settings.redis_url)
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="intake", time_limit=3_600_000, **_RETRIES)
def ingest_interchange(interchange_id: int) -> None:
    env = environment()
    with log_context(interchange_id=interchange_id):
        log.debug("interchange received for intake")
        result = intake.ingest_interchange(
            env.engine, interchange_id, env.runtime(), clock.now(), levels=env.settings.levels
        )
        metrics.record_ingest(result)
        if result.already_done:
            log.info("interchange already read: %d batches sent again", len(result.batches))
        else:
            log.info(
                "interchange %s: %d claims accepted, %d rejected, %d batches",
                result.state,
                result.claims_accepted,
                result.claims_rejected,
                len(result.batches),
                extra={"bytes": result.size_bytes, "rejections": _reasons(result.rejections)},
            )
        for batch in result.batches:
            adjudicate_batch.send(batch)


@dramatiq.actor(queue_name="intake", time_limit=3_600_000, **_RETRIES)
def apply_enrollment(interchange_id: int, sponsor_id: str | None = None) -> None:
    """Apply a received 834 to the enrollment, as the sponsor of the key that submitted it
    (``interchanges.submitted_by``; an insurer's key: ``sponsor_id``, else the file's N1*P5),
    and send the claims it sent back to adjudication."""
    env = environment()
    with log_context(interchange_id=interchange_id):
        state, key_sponsor = _submission(interchange_id)
        if state is None:
            log.warning("no 834 interchange %d in the store: nothing to apply", interchange_id)
            return
        runtime = env.runtime()
        report = members.apply_stored_834(
            env.engine,
            interchange_id,
            now=clock.now(),
            plans=tuple(runtime.reference.plans),
            sponsors=runtime.sponsors,
            sponsor_id=key_sponsor or sponsor_id,
            readjust=readjustment.readjust,
        )
        if state == InterchangeState.RECEIVED:
            metrics.record_enrollment(report)
        if report.error:
            log.info("834 refused: %s", report.error)
            return
        counts = report.counts
        log.info(
            "834 applied: %s",
            ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no members",
        )
        ids = [int(r["claim_id"]) for r in report.readjusted if r.get("claim_id")]
        for batch in recovery.claim_batches(env.engine, ids):
            adjudicate_batch.send(batch)


def _submission(interchange_id: int) -> tuple[str | None, str | None]:
    """The state of 834 interchange ``interchange_id`` (None: no such 834) and the sponsor of
    the sponsor key that submitted it (None: an insurer's key, or the command line)."""
    from sqlalchemy import select

    i, k = interchanges_table.c, api_keys_table.c
    with environment().engine.connect() as conn:
        row = conn.execute(
            select(i.state, k.role, k.sponsor_id)
            .select_from(interchanges_table)
            .outerjoin(api_keys_table, k.key_id == i.submitted_by)
            .where(i.id == interchange_id, i.transaction_set == "834")
        ).first()
    if row is None:
        return None, None
    return str(row.state), (row.sponsor_id if row.role == "sponsor" else None) or None


def _reasons(rejections: dict[tuple[str, str], int]) -> dict[str, int]:
    return {f"{stage}:{code}": n for (stage, code), n in sorted(rejections.items())}


@dramatiq.actor(queue_name="adjudication", time_limit=600_000, **_RETRIES)
def adjudicate_batch(claim_ids: list[int]) -> None:
    env = environment()
    started = time.perf_counter()
    result = stored_adjudication.adjudicate_claims(
        env.engine, claim_ids, env.runtime(), clock.now()
    )
    metrics.record_adjudication(result, time.perf_counter() - started)
    if log.isEnabledFor(logging.DEBUG):
        for outcome in result.decisions:
            d = outcome.decision
            with log_context(payer_claim_number=d.payer_claim_number):
                log.debug("claim decided: %s", d.outcome.value, extra={"paid": str(d.paid)})
    log.info(
        "batch adjudicated: %d decided, %d pended, %d failed, %d skipped, %d deferred",
        result.adjudicated,
        result.pended,
        result.failed,
        result.skipped,
        result.deferred,
    )
    if result.deferred:  # an earlier interchange is still being read: come back in a moment
        adjudicate_batch.send_with_options(args=(claim_ids,), delay=DEFER_MS)


@dramatiq.actor(queue_name="payments", time_limit=3_600_000, **_RETRIES)
def payment_cycle(out_dir: str) -> None:
    env = environment()
    files = remittance.run_payment_cycle(env.engine, env.runtime(), clock.now(), Path(out_dir))
    metrics.record_payment_cycle(files)


def sweep(stale_after: timedelta | None = None) -> recovery.StaleWork:
    """Send again the work the store says is undone (all of it when ``stale_after`` is None)."""
    env = environment()
    now = clock.now()
    work = recovery.stale_work(env.engine, now - (stale_after or timedelta(0)))
    for interchange_id in work.interchanges:
        ingest_interchange.send(interchange_id)
    for interchange_id in work.enrollments:
        apply_enrollment.send(interchange_id)
    for batch in work.claim_batches:
        adjudicate_batch.send(batch)
    if work.interchanges or work.enrollments or work.claim_batches:
        log.warning(
            "sweep: sent again %d interchanges, %d 834s and %d claims",
            len(work.interchanges),
            len(work.enrollments),
            work.claims,
        )
    if examination.overdue_info_requests(env.engine, now):
        denied = examination.expire_info_requests(env.engine, env.runtime(), now)
        log.info(
            "sweep: denied %d claims whose request for information went unanswered", len(denied)
        )
    return work


class Sweeper(Middleware):
    """Runs :func:`sweep` in each worker process: everything at boot, then what has waited
    longer than ``STALE_AFTER`` every ``SWEEP_SECONDS``. On Redis a short lock keeps the
    processes of a deployment from sweeping at the same moment."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        threading.Thread(target=self._run, name="claims-sweeper", daemon=True).start()
        log.info(WORKER_READY, extra={"queues": sorted(broker.get_declared_queues())})

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        stale_after: timedelta | None = None  # at boot: everything undone
        while not self._stop.is_set():
            try:
                # the processes of one start share one sweep: the lock outlives their boots
                turn = BOOT_LOCK_MS if stale_after is None else SWEEP_SECONDS * 500
                if self._claim_turn(turn):
                    sweep(stale_after)
            except Exception:  # a database or Redis away: try again next round
                log.exception("sweep failed; retrying in %d s", SWEEP_SECONDS)
            stale_after = STALE_AFTER
            self._stop.wait(SWEEP_SECONDS)

    def _claim_turn(self, milliseconds: int) -> bool:
        client = getattr(broker, "client", None)
        if client is None:
            return True
        return bool(client.set("claims-engine:sweep", "1", nx=True, px=milliseconds))


class WorkerMetrics(Prometheus):
    """dramatiq's Prometheus middleware with the engine's exposition server as its fork
    (:func:`claims_engine.observability.metrics.serve_worker_metrics`: the multiprocess
    directory, dramatiq's metrics and the engine's, plus the queue depths), none when the
    port is 0; and this process marked dead in the directory when its worker stops."""

    @property
    def forks(self) -> list[Any]:
        port = os.environ.get(metrics.METRICS_PORT_ENV, str(metrics.DEFAULT_WORKER_PORT))
        return [] if port == "0" else [metrics.serve_worker_metrics]

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        metrics.mark_process_dead()


if environment().settings.redis_url:
    broker.add_middleware(Sweeper())
    if metrics.multiprocess_dir() is not None:  # `claims-engine worker` set the run up
        configure_logging()
        broker.add_middleware(WorkerMetrics())
