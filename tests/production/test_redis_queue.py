"""The job queue on Redis, with the store on PostgreSQL: jobs enqueued by one side are run by a
consumer's worker threads, retried, and recorded when they give up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huey import RedisHuey
from sqlalchemy import Engine, select

from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.store.models import AuditEvent

pytestmark = pytest.mark.production

seen: list[int] = []


@job(name="tests.production.write", retries=0)
def write(queue: JobQueue, number: int) -> None:
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action="tests.production.write", detail={"n": number}))


@job(name="tests.production.broken", retries=1, retry_delay=0)
def broken(queue: JobQueue, number: int) -> None:
    seen.append(number)
    raise RuntimeError("the outside service is down")


@pytest.fixture
def redis_queue(redis_url: str, pg_engine: Engine, tmp_path: Path) -> Iterator[JobQueue]:
    settings = load_settings(environ={}, data_dir=str(tmp_path), queue_url=redis_url,
                             database_url=pg_engine.url.render_as_string(hide_password=False))
    queue = jobqueue.configure(settings, engine=pg_engine)
    queue.huey.flush()
    yield queue
    queue.huey.flush()
    jobqueue.reset()


def _events(queue: JobQueue, action: str) -> list[AuditEvent]:
    with queue.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _wait(predicate, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_redis_queue_runs_jobs_in_worker_threads_and_records_failures(redis_queue: JobQueue) -> None:
    assert isinstance(redis_queue.huey, RedisHuey)
    for n in range(5):
        write.enqueue(n)
    broken.enqueue(42)
    assert redis_queue.huey.pending_count() == 6
    consumer = redis_queue.consumer(workers=2, periodic=False, embedded=True)
    consumer.start()
    try:
        assert _wait(lambda: len(_events(redis_queue, "tests.production.write")) == 5
                     and len(_events(redis_queue, "job.failed")) == 1)
    finally:
        consumer.stop(graceful=True)
    assert sorted(e.detail["n"] for e in _events(redis_queue, "tests.production.write")) == [0, 1, 2, 3, 4]
    assert seen.count(42) == 2  # the first attempt and one retry
    [failed] = _events(redis_queue, "job.failed")
    assert failed.detail == {"job": "tests.production.broken", "args": [42],
                             "error": "the outside service is down"}
    assert redis_queue.huey.pending_count() == 0
