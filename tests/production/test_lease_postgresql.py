"""One provisioning run per session on PostgreSQL, and periodic jobs once per tick with two workers
on Redis: the same rules as the embedded store's (tests/provisioning/test_lease.py, tests/jobs)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from huey import RedisHuey, crontab
from sqlalchemy import Engine, func, select

from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.store.db import make_sessionmaker
from lms_bridge.store.models import AuditEvent

pytestmark = pytest.mark.production

try:  # tests/ is not a package: the sibling areas are importable by their own names
    from jobs.test_periodic_once import schedule_and_run
    from provisioning import test_lease as lease_cases
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.jobs.test_periodic_once import schedule_and_run  # type: ignore[no-redef]
    from tests.provisioning import test_lease as lease_cases  # type: ignore[no-redef]

JOB = "periodic_probe.production.once_per_tick"  # not under "tests.", see tests/jobs/test_periodic_once.py


@periodic_job(crontab(minute="*/5"), name=JOB)
def once_per_tick(queue: JobQueue) -> None:
    with queue.transaction() as db:
        db.add(AuditEvent(actor="test", action=JOB))


def test_postgresql_simultaneous_takers_get_exactly_one(pg_engine: Engine) -> None:
    lease_cases.test_simultaneous_takers_of_a_new_lease_get_exactly_one(make_sessionmaker(pg_engine))


def test_postgresql_lease_refuses_names_the_holder_and_is_taken_over_when_silent(
        pg_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = make_sessionmaker(pg_engine)
    lease_cases.test_a_second_holder_is_refused_with_who_holds_it_and_since_when(sessions, monkeypatch)
    lease_cases.test_the_heartbeat_keeps_the_lease_and_a_silent_holder_is_taken_over(sessions)


def test_postgresql_journal_never_overwrites_another_runs_id(pg_engine: Engine,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    lease_cases.test_the_journal_never_overwrites_an_id_another_run_wrote(make_sessionmaker(pg_engine), monkeypatch)


def test_redis_two_workers_run_a_periodic_job_once_per_tick(redis_url: str, pg_engine: Engine,
                                                            tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path), queue_url=redis_url,
                             database_url=pg_engine.url.render_as_string(hide_password=False))
    workers = [JobQueue(settings, engine=pg_engine), JobQueue(settings, engine=pg_engine)]
    assert isinstance(workers[0].huey, RedisHuey)
    workers[0].huey.flush()
    # A tick no earlier run of this test claimed (claims live a day in Redis).
    base = datetime(2026, 6, 1, 10, 30) + timedelta(days=secrets.randbelow(10**6))
    try:
        assert schedule_and_run(workers, [base.replace(second=3), base.replace(second=44)], JOB) == 1
        later = base + timedelta(minutes=1)
        assert schedule_and_run(workers, [later, later.replace(second=30)], JOB) == 0
        later = base + timedelta(minutes=5)
        assert schedule_and_run(workers, [later.replace(second=59), later], JOB) == 1
        with workers[0].sessions() as db:
            assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == JOB)) == 2
    finally:
        conn = workers[0].huey.storage.conn
        for key in conn.scan_iter(match=f"{jobqueue.QUEUE_NAME}:tick:{JOB}:*"):
            conn.delete(key)
        workers[0].huey.flush()
        for worker in workers:
            worker.close()
