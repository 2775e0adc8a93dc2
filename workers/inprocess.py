"""Running the actors inside the current process, on the StubBroker: the embedded mode of the
demo, of ``submit`` without Redis, and of tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from dramatiq import Broker, Worker
from dramatiq.brokers.stub import StubBroker

from workers.broker import QUEUES, queue_depths


def drain(broker: Broker, *, threads: int = 1, timeout: float = 3600.0) -> None:
    """Work until every queue is empty, messages sent by actors on the way included.

    One thread (the default) processes messages in the order they were sent, so the embedded
    mode is deterministic: the same files and clock give the same control numbers.
    """
    if not isinstance(broker, StubBroker):
        raise TypeError("drain runs a StubBroker's queues; Redis queues have their own workers")
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    deadline = time.monotonic() + timeout
    try:
        while any(queue_depths(broker).values()):
            for name in QUEUES:
                left = max(1, int((deadline - time.monotonic()) * 1000))
                broker.join(name, timeout=left, fail_fast=False)
            if time.monotonic() > deadline:
                raise TimeoutError(f"the in-process workers did not finish in {timeout:.0f} s")
    finally:
        stop_worker(worker)


def stop_worker(worker: Worker) -> None:
    """Stop ``worker`` and take its middleware off its broker. dramatiq leaves it there, and a
    queue declared later (a delay queue, at the first retry or deferral) then gets a consumer
    of the stopped worker: it takes that queue's messages and nobody ever processes them.

    On the StubBroker, the messages the worker had fetched but not started are put back on
    their queues: dramatiq's stub consumer drops them on shutdown ("requeue" does nothing),
    and their queue then counts a message that never finishes, so a later ``join`` of that
    queue waits forever. (The store does not lose them either way: the sweep finds the work.)
    """
    if isinstance(worker.broker, StubBroker):
        for thread in worker.consumers.values():
            consumer = getattr(thread, "consumer", None)
            if consumer is not None:
                consumer.requeue = _put_back(consumer)
    worker.stop()
    broker = worker.broker
    broker.middleware[:] = [
        m for m in broker.middleware if getattr(m, "worker", None) is not worker
    ]


def _put_back(consumer: Any) -> Callable[[Iterable[Any]], None]:
    def requeue(messages: Iterable[Any]) -> None:
        for message in messages:
            consumer.queue.put(message.encode())  # counted again, waiting once more
            consumer.queue.task_done()  # and the fetch that never finished is done
            consumer.prefetch_semaphore.release()

    return requeue
