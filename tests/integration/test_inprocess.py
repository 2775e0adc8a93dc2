"""The in-process runner: a worker stopped while it holds a fetched message gives it back, so the
next worker processes it and a ``join`` of its queue ends (dramatiq's stub consumer drops such
messages, and the queue then waits for one that never comes)."""

from __future__ import annotations

import threading
import time

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from workers.inprocess import stop_worker


def test_a_stopped_worker_gives_back_the_messages_it_fetched() -> None:
    broker = StubBroker()
    broker.emit_after("process_boot")
    started, release = threading.Event(), threading.Event()
    done: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="slow", max_retries=0)
    def work(n: int) -> None:
        if n == 0:
            started.set()
            release.wait(10)
        done.append(n)

    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    work.send(0)
    work.send(1)
    assert started.wait(10)
    deadline = time.monotonic() + 10
    while broker.queues["slow"].qsize() and time.monotonic() < deadline:
        time.sleep(0.01)  # message 1 is fetched while message 0 runs
    assert broker.queues["slow"].qsize() == 0
    threading.Timer(0.2, release.set).start()
    stop_worker(worker)
    assert done == [0]
    assert broker.queues["slow"].qsize() == 1  # given back, not dropped

    again = Worker(broker, worker_threads=1, worker_timeout=50)
    again.start()
    try:
        broker.join("slow", timeout=10_000)  # ends: nothing counted that will not come
    finally:
        stop_worker(again)
    assert done == [0, 1]
