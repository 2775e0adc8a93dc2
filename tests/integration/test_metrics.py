"""The metrics count what was processed: a batch through the in-process actors on SQLite, and
one through ``claims-engine worker`` processes on Redis and PostgreSQL (multiprocess mode,
scraped on the workers' metrics port), each scrape parsed with prometheus_client's parser and
compared with the store's counts and sums."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from claims_engine.cli.demo import renumber
from claims_engine.front_end.edits import ALL_LEVELS
from claims_engine.observability import metrics
from claims_engine.services.intake import submit
from claims_engine.store import tables as t
from tests.integration.pipeline_support import NOW, RULES, count, generated_837, prepared_store
from tests.integration.test_workers import (
    _all_decided,
    _cli,
    _env,
    _free_port,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "fixtures" / "x12").glob("837*/*.edi"))
TRANSACTION = {"P": "837P", "I": "837I", "D": "837D"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, summed over any duplicate series."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            found[key] = found.get(key, 0.0) + s.value
    return found


def total(samples: Samples, name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (n, ls), v in samples.items():
        if n == name and v:
            key = dict(ls)[label]
            out[key] = out.get(key, 0.0) + v
    return out


def delta(after: Samples, before: Samples) -> Samples:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


def store_expectations(engine: Engine) -> dict[str, object]:
    """What the metrics must say, from the store."""
    c, a, adj = t.claims_table.c, t.adjudications_table.c, t.adjustments_table.c
    with engine.connect() as conn:
        types: dict[str, int] = dict(
            conn.execute(select(c.claim_type, func.count()).group_by(c.claim_type)).all()
        )
        outcomes: dict[str, int] = dict(
            conn.execute(
                select(a.outcome, func.count()).where(a.kind == "decision").group_by(a.outcome)
            ).all()
        )
        paid = conn.execute(select(a.paid).where(a.kind == "decision")).scalars().all()
        adjustments = conn.execute(
            select(func.count())
            .select_from(t.adjustments_table)
            .join(t.adjudications_table, a.id == adj.adjudication_id)
            .where(a.kind == "decision")
        ).scalar_one()
    return {
        "received": {TRANSACTION[k]: float(n) for k, n in types.items()},
        "rejected": float(count(engine, t.claims_table, c.state == "rejected")),
        "outcomes": {str(k).replace(" ", "_"): float(n) for k, n in outcomes.items()},
        "paid": sum((Decimal(str(p)) for p in paid), start=Decimal(0)),
        "adjustments": float(adjustments),
        "remittances": float(count(engine, t.remittances_table)),
        "remitted": float(count(engine, t.remittance_claims_table)),
    }


def check_counts(samples: Samples, engine: Engine, ingest_bytes: int) -> None:
    want = store_expectations(engine)
    assert by_label(samples, "claims_received_total", "transaction") == want["received"]
    assert total(samples, "claims_rejected_total") == want["rejected"]
    assert by_label(samples, "claims_adjudicated_total", "outcome") == want["outcomes"]
    paid = want["paid"]
    assert isinstance(paid, Decimal)
    assert abs(total(samples, "claims_paid_amount_total") - float(paid)) < 0.005
    assert total(samples, "claim_adjustments_total") == want["adjustments"]
    outcomes = want["outcomes"]
    assert isinstance(outcomes, dict)
    decided = sum(outcomes.values())
    assert total(samples, "claims_adjudication_seconds_count") == decided
    assert total(samples, "claims_ingest_bytes_total") == ingest_bytes
    assert total(samples, "claims_remittances_total") == want["remittances"]
    assert total(samples, "claims_remitted_total") == want["remitted"]
    for (name, labels), _value in samples.items():  # bounded labels only
        for label, value in labels:
            assert len(value) <= 48, (name, label, value)


def test_in_process_counters_equal_the_store(sqlite_engine: Engine, tmp_path: Path) -> None:
    from workers.settings import Environment, Settings, use_environment

    engine = sqlite_engine
    prepared_store(engine)
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False),
        redis_url=None,
        rules_dir=RULES,
        levels=ALL_LEVELS,
    )
    use_environment(Environment(settings, engine))
    from workers import actors
    from workers.inprocess import drain

    before = parse(metrics.exposition().decode())
    files = [renumber(p.read_bytes(), 800_000_000 + n) for n, p in enumerate(SAMPLES)]
    files.append(generated_837(tmp_path / "batch.837", claims=300, seed=11, control=4242))
    for n, raw in enumerate(files):
        sub = submit(engine, raw, f"file-{n}", NOW)
        actors.ingest_interchange.send(sub.interchange_id)
    drain(actors.broker)
    actors.payment_cycle.send(str(tmp_path / "835"))
    drain(actors.broker)
    text = metrics.exposition([metrics.QueueCollector(broker=actors.broker)]).decode()
    samples = delta(parse(text), before)
    assert total(samples, "claims_received_total") >= 300
    assert total(samples, "claims_rejected_total") > 0  # the samples hold rejections
    check_counts(samples, engine, sum(len(f) for f in files))
    # every rejection has a stage and a code; envelope stages are named by their ack
    stages = by_label(samples, "claims_rejected_total", "stage")
    assert set(stages) <= {"claim", "transaction_set", "functional_group", "interchange"}
    assert total(samples, "claims_queue_depth") == 0
    assert total(samples, "claims_queue_broker_up") == 1


def _run_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("claims-engine-metrics-*"))


def _scrape(url: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.headers["content-type"].startswith("text/plain; version=")
                return str(response.read().decode())
        except OSError:
            assert time.monotonic() < deadline, f"nothing answers on {url}"
            time.sleep(0.3)


def test_worker_processes_add_up_on_the_metrics_port(
    postgres_engine: Engine, redis_url: str, tmp_path: Path
) -> None:
    engine = postgres_engine
    prepared_store(engine)
    env = _env(engine, redis_url)
    port = _free_port()
    dirs_before = _run_dirs()
    log = (tmp_path / "workers.log").open("wb")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "claims_engine.cli.main", "worker"),
            *("--processes", "2", "--threads", "1", "--metrics-port", str(port)),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        paths = []
        for n in range(2):
            path = tmp_path / f"batch-{n}.837"
            generated_837(path, claims=150, seed=300 + n, control=900 + n)
            paths.append(path)
        _cli(env, "submit", *map(str, paths))
        deadline = time.monotonic() + 240
        while not _all_decided(engine):
            assert worker.poll() is None, (tmp_path / "workers.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the workers did not finish"
            time.sleep(0.3)
        run_dir = next(iter(_run_dirs() - dirs_before))
        assert any(run_dir.glob("*.db"))  # several processes' value files
        url = f"http://127.0.0.1:{port}/metrics"
        samples = parse(_scrape(url))
        for _ in range(50):  # the last batch's counts land as its message is finished
            decided = total(samples, "claims_adjudicated_total")
            if decided == count(
                engine, t.adjudications_table, t.adjudications_table.c.kind == "decision"
            ):
                break
            time.sleep(0.2)
            samples = parse(_scrape(url))
        check_counts(samples, engine, sum(p.stat().st_size for p in paths))
        # dramatiq's middleware metrics, from every worker process, in the same exposition
        ingested = total(samples, "dramatiq_messages_total", actor_name="ingest_interchange")
        assert ingested >= 2
        assert total(samples, "claims_queue_depth") == 0
        assert total(samples, "claims_queue_broker_up") == 1
        # the store's series too: the exposition reads the workers' store at scrape time
        assert total(samples, "claims_pended_store_up") == 1
        assert total(samples, "claims_pended") == count(engine, t.pended_claims_table), (
            "pended claims by queue, from the store"
        )
    finally:
        os.kill(worker.pid, signal.SIGTERM)  # the command passes it on to dramatiq
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
    assert not (_run_dirs() - dirs_before), "the run's metrics directory was left behind"


# -- pended claims and examiners' actions, read from the store at scrape time ----------------------


def test_pended_claims_and_actions_are_read_from_the_store(engine: Engine) -> None:
    """Two of LIAM HILL's claims pend for pricing (an unlisted procedure, received 2026-11-02,
    due 2026-12-02 on the plan's 30 days); an examiner asks the first one's provider for
    information (it moves to the waiting-for-provider queue) and prices a third, which leaves
    the queues. The series are the store's, as the API and the workers serve them."""
    from claims_engine.services import examination as ex
    from tests.integration.test_prompt_pay import _claim
    from tests.unit.adjudication.support import LIAM_HILL

    runtime = prepared_store(engine)
    alice = ex.Examiner("alice")
    asked, pricing, priced = (
        _claim(engine, runtime, LIAM_HILL, f"M-{n}", n, unlisted=True, served=f"2026100{n}")
        for n in (1, 2, 3)
    )
    later = NOW + timedelta(days=1)
    ex.act(engine, runtime, asked, alice, ex.RequestInfo("why", "Send the op note"), later)
    ex.act(engine, runtime, pricing, alice, ex.Note("look at the op note"), later)
    ex.act(engine, runtime, priced, alice, ex.Price("priced", 2, Decimal("700.00")), later)

    def scrape(days: int) -> Samples:
        collector = metrics.PendedCollector(engine, lambda: NOW + timedelta(days=days))
        return parse(metrics.exposition([collector]).decode())

    samples = scrape(28)  # 2026-11-30: both due within 5 days, none past due
    assert by_label(samples, "claims_pended", "queue") == {
        "pricing": 1.0,
        "waiting-for-provider": 1.0,
    }
    assert by_label(samples, "claims_pended_by_reason", "reason") == {
        "INFO-REQUESTED": 1.0,
        "NO-PRICE": 2.0,
        "UNLISTED-PROCEDURE": 2.0,
    }
    assert by_label(samples, "claims_pended_due_soon", "queue") == {
        "pricing": 1.0,
        "waiting-for-provider": 1.0,
    }
    assert total(samples, "claims_pended_past_due") == 0
    # both 28 days old: none within 21 days, both within 30
    assert total(samples, "claims_pended_age_days_bucket", le="21.0") == 0
    assert total(samples, "claims_pended_age_days_bucket", le="30.0") == 2
    assert total(samples, "claims_pended_age_days_bucket", le="+Inf") == 2
    assert total(samples, "claims_pended_age_days_count") == 2
    assert total(samples, "claims_pended_age_days_sum") == 56
    assert by_label(samples, "claims_examiner_actions_total", "kind") == {
        "request-info": 1.0,
        "note": 1.0,
        "price": 1.0,
    }
    assert total(samples, "claims_pended_store_up") == 1

    samples = scrape(31)  # 2026-12-03: both past due
    assert by_label(samples, "claims_pended_past_due", "queue") == {
        "pricing": 1.0,
        "waiting-for-provider": 1.0,
    }
    assert total(samples, "claims_pended_due_soon") == 0


def test_a_store_that_does_not_answer_is_said_not_a_failed_scrape(tmp_path: Path) -> None:
    from claims_engine.store.db import engine_for

    empty = engine_for(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    try:
        collector = metrics.PendedCollector(empty, lambda: NOW)
        samples = parse(metrics.exposition([collector]).decode())
    finally:
        empty.dispose()
    assert total(samples, "claims_pended_store_up") == 0
    assert not [n for (n, _), _v in samples.items() if n.startswith("claims_pended_age")]
