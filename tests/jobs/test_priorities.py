"""Waiting jobs are taken by priority: a decision's write-back before a new delivery, a delivery
before the reconcile sweep's listings; on the SQLite queue and on Redis, where a queue left by a
version without priorities is taken over with its jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue
from lms_bridge.results import jobs


def _order(queue: JobQueue) -> list[str]:
    names = []
    while (task := queue.huey.dequeue()) is not None:
        names.append(task.name)
    return names


def _enqueue_mixed() -> None:
    jobs.reconcile_form.enqueue(1)
    jobs.process_delivery.enqueue(1)
    jobs.write_decision.enqueue(1, "sheet")
    jobs.process_delivery.enqueue(2)
    jobs.write_decision.enqueue(2, "sheet")


EXPECTED = ["results.write_decision", "results.write_decision", "webhooks.process_delivery",
            "webhooks.process_delivery", "results.reconcile_form"]


@pytest.fixture
def sqlite_queue(make_settings: Any) -> Iterator[JobQueue]:
    queue = jobqueue.configure(make_settings())
    yield queue
    jobqueue.reset()


def test_write_backs_go_first_and_the_sweep_last_on_sqlite(sqlite_queue: JobQueue) -> None:
    _enqueue_mixed()
    assert _order(sqlite_queue) == EXPECTED


@pytest.fixture
def redis_queue(make_settings: Any, redis_url: str) -> Iterator[JobQueue]:
    queue = jobqueue.configure(make_settings(queue_url=redis_url))
    queue.huey.storage.conn.delete(queue.huey.storage.queue_key)
    yield queue
    queue.huey.storage.conn.delete(queue.huey.storage.queue_key)
    jobqueue.reset()


@pytest.mark.production
def test_write_backs_go_first_and_the_sweep_last_on_redis(redis_queue: JobQueue) -> None:
    _enqueue_mixed()
    assert _order(redis_queue) == EXPECTED


@pytest.mark.production
def test_a_redis_queue_without_priorities_is_taken_over_with_its_jobs(make_settings: Any, redis_url: str,
                                                                       redis_queue: JobQueue) -> None:
    # What an older version left: a plain list (LPUSH to enqueue, RPOP to take the oldest).
    huey = redis_queue.huey
    key = huey.storage.queue_key
    wrapper = redis_queue._wrappers["webhooks.process_delivery"]
    for delivery in (1, 2):
        huey.storage.conn.lpush(key, huey.serialize_task(wrapper.s(delivery)))
    assert huey.storage.conn.type(key) == b"list"
    jobqueue.reset()
    queue = jobqueue.configure(make_settings(queue_url=redis_url))
    jobs.write_decision.enqueue(9, "sheet")  # the first use moves the old jobs, then adds this one
    assert queue.huey.storage.conn.type(key) == b"zset"
    taken = []
    while (t := queue.huey.dequeue()) is not None:
        taken.append((t.name, t.args))
    assert taken == [("results.write_decision", (9, "sheet")), ("webhooks.process_delivery", (1,)),
                     ("webhooks.process_delivery", (2,))]
