"""A periodic job runs once per tick however many workers schedule it (the SQLite queue and the
store here; tests/production does the same with Redis)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from huey import crontab
from sqlalchemy import func, select

from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.store.db import make_engine
from lms_bridge.store.models import AuditEvent, PeriodicTick
from lms_bridge.store.schema import ensure_schema

# Not under "tests.": test_queue.py lists the periodic jobs it declared by that prefix.
JOB = "periodic_probe.once_per_tick"


@periodic_job(crontab(minute="*/5"), name=JOB)
def once_per_tick(queue: JobQueue) -> None:
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action=JOB))


def schedule_and_run(workers: list[JobQueue], moments: list[datetime], job: str = JOB) -> int:
    """Each worker's scheduler looks at the periodic jobs at its own moment (as their minute loops
    do, unsynchronised), then the queue is drained; returns how many times the job ran."""
    for worker, moment in zip(workers, moments, strict=True):
        worker.consumer(workers=1, periodic=True, embedded=True)._create_scheduler().enqueue_periodic_tasks(moment)
    ran = 0
    for task in workers[0].huey.pending():
        workers[0].huey.dequeue()
        if task.name == job:
            workers[0].huey.execute(task)
            ran += 1
    return ran


def test_two_workers_run_a_periodic_job_once_per_tick(make_settings: Any) -> None:
    settings = make_settings()
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    # Two workers: each its own Huey on the shared queue file, and its own scheduler.
    workers = [JobQueue(settings, engine=engine), JobQueue(settings, engine=engine)]
    try:
        assert schedule_and_run(workers, [datetime(2026, 6, 1, 10, 30, 4), datetime(2026, 6, 1, 10, 30, 41)]) == 1
        assert schedule_and_run(workers, [datetime(2026, 6, 1, 10, 31, 2), datetime(2026, 6, 1, 10, 31, 40)]) == 0
        assert schedule_and_run(workers, [datetime(2026, 6, 1, 10, 35, 50), datetime(2026, 6, 1, 10, 35, 1)]) == 1
        with workers[0].sessions() as db:
            assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == JOB)) == 2
            # the claims are kept a day, then pruned
            assert db.scalar(select(func.count()).select_from(PeriodicTick).where(PeriodicTick.job == JOB)) == 2
        assert workers[0].claim_tick(JOB, datetime(2026, 6, 3, 10, 30)) is True
        with workers[0].sessions() as db:
            assert db.scalar(select(func.count()).select_from(PeriodicTick).where(PeriodicTick.job == JOB)) == 1
    finally:
        for worker in workers:
            worker.huey.flush()
            worker.close()
        jobqueue.reset()
        engine.dispose()
