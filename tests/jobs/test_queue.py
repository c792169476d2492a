"""The job queue: which Huey the settings give, jobs running inline and in a consumer, retries and
the record a job leaves when it gives up."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import select

from lms_bridge.config import ConfigError
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.store.db import make_engine
from lms_bridge.store.models import AuditEvent
from lms_bridge.store.schema import ensure_schema

attempts: list[tuple[str, int]] = []
failures: list[tuple[int, str]] = []


@job(name="tests.note", retries=0)
def note(queue: JobQueue, number: int) -> None:
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action="tests.note", detail={"n": number}))


def _gave_up(queue: JobQueue, number: int, *, error: str) -> None:
    failures.append((number, error))


@job(name="tests.flaky", retries=2, retry_delay=0, on_failure=_gave_up)
def flaky(queue: JobQueue, number: int) -> None:
    attempts.append(("flaky", number))
    if sum(1 for name, n in attempts if name == "flaky" and n == number) <= number:
        raise RuntimeError(f"attempt failed for {number}")
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action="tests.flaky", detail={"n": number}))


@periodic_job(crontab(minute="*/15"), name="tests.every_quarter")
def every_quarter(queue: JobQueue) -> None:
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action="tests.periodic"))


def _actions(queue: JobQueue, action: str) -> list[AuditEvent]:
    with queue.sessions() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_settings_choose_the_huey(make_settings: Any, tmp_path: Path) -> None:
    default = jobqueue.build_huey(make_settings())
    assert isinstance(default, SqliteHuey)
    assert default.storage.filename == str(tmp_path / "data" / "queue.sqlite3")
    assert not default.immediate
    redis = jobqueue.build_huey(make_settings(queue_url="redis://127.0.0.1:6379/15"))
    assert isinstance(redis, RedisHuey)
    memory = jobqueue.build_huey(make_settings(queue_url="memory://"))
    assert isinstance(memory, MemoryHuey)
    assert memory.immediate
    with pytest.raises(ConfigError, match="amqp"):
        jobqueue.build_huey(make_settings(queue_url="amqp://127.0.0.1"))


def test_immediate_queue_runs_the_job_inline_with_its_own_session(memory_queue: JobQueue) -> None:
    note.enqueue(7)
    assert [e.detail for e in _actions(memory_queue, "tests.note")] == [{"n": 7}]


def test_a_failing_job_is_retried_then_succeeds(memory_queue: JobQueue) -> None:
    attempts.clear()
    flaky.enqueue(1)  # fails once, succeeds on the first retry
    assert attempts == [("flaky", 1), ("flaky", 1)]
    assert len(_actions(memory_queue, "tests.flaky")) == 1
    assert _actions(memory_queue, "job.failed") == []


def test_a_job_that_keeps_failing_is_recorded_after_its_last_attempt(memory_queue: JobQueue) -> None:
    attempts.clear()
    failures.clear()
    flaky.enqueue(5)  # would need 6 attempts; it has 3
    assert attempts == [("flaky", 5)] * 3
    assert failures == [(5, "attempt failed for 5")]
    [event] = _actions(memory_queue, "job.failed")
    assert event.detail == {"job": "tests.flaky", "args": [5], "error": "attempt failed for 5"}


def test_unknown_job_names_are_refused(memory_queue: JobQueue) -> None:
    with pytest.raises(LookupError, match="TASK_MODULES"):
        memory_queue.enqueue("tests.nothing", 1)


def test_periodic_jobs_are_scheduled_and_can_be_run_by_hand(memory_queue: JobQueue) -> None:
    assert "tests.every_quarter" in memory_queue.job_names()
    assert "provision_session" in memory_queue.job_names()
    due = memory_queue.huey.read_periodic(datetime(2026, 6, 1, 10, 30))
    assert [t.name for t in due if t.name.startswith("tests.")] == ["tests.every_quarter"]
    assert [t.name for t in memory_queue.huey.read_periodic(datetime(2026, 6, 1, 10, 31))
            if t.name.startswith("tests.")] == []
    every_quarter.run(memory_queue)
    assert len(_actions(memory_queue, "tests.periodic")) == 1


def test_sqlite_queue_is_consumed_by_worker_threads(make_settings: Any) -> None:
    settings = make_settings()
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    queue = jobqueue.configure(settings, engine=engine)
    try:
        for n in range(3):
            note.enqueue(n)
        assert queue.huey.pending_count() == 3
        assert _actions(queue, "tests.note") == []  # nothing runs until a consumer takes it
        consumer = queue.consumer(workers=2, periodic=False, embedded=True)
        consumer.start()
        try:
            deadline = time.monotonic() + 10
            while len(_actions(queue, "tests.note")) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            consumer.stop(graceful=True)
        assert sorted(e.detail["n"] for e in _actions(queue, "tests.note")) == [0, 1, 2]
        assert queue.huey.pending_count() == 0
    finally:
        jobqueue.reset()
        engine.dispose()


def test_get_queue_builds_the_queue_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         ) -> None:
    jobqueue.reset()
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LMS_BRIDGE_QUEUE_URL", "memory://")
    try:
        queue = jobqueue.get_queue()
        assert queue is jobqueue.get_queue()
        assert queue.immediate
        assert queue.settings.data_dir == tmp_path
    finally:
        jobqueue.reset()
