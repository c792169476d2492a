"""A full provisioning run of the sample session in the production layout: the store on PostgreSQL,
the job on Redis run by a consumer's worker thread, Google and Moodle in the sandboxes.  A second run
creates nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from lms_bridge import sandbox
from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.provisioning import service
from lms_bridge.sessionfile import load_session
from lms_bridge.store import repo
from lms_bridge.store.db import make_sessionmaker, transaction
from lms_bridge.store.models import JournalEntry, ProvisioningRun

pytestmark = pytest.mark.production

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


def test_sample_session_provisioned_through_redis_into_postgresql(
        pg_engine: Engine, redis_url: str, tmp_path: Path) -> None:
    # The test starts the sandbox (product code never does) and points the settings at it.
    settings = sandbox.effective_settings(load_settings(
        environ={}, data_dir=str(tmp_path), queue_url=redis_url,
        database_url=pg_engine.url.render_as_string(hide_password=False),
        google={"mode": "sandbox"}, moodle={"mode": "sandbox"}))
    sessions = make_sessionmaker(pg_engine)
    spec = load_session(SAMPLE)
    with transaction(sessions) as db:
        repo.import_session(db, spec, source_name=SAMPLE.name, actor="test")
    queue = jobqueue.configure(settings, engine=pg_engine)
    queue.huey.flush()
    consumer = queue.consumer(workers=1, periodic=False, embedded=True)
    consumer.start()
    try:
        run = service.provision(settings, spec.code, trigger="admin", sessions=sessions)
        assert run.status == "queued"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with sessions() as db:
                current = db.get(ProvisioningRun, run.id)
                assert current is not None
                if current.status not in ("queued", "running"):
                    break
            time.sleep(0.2)
        assert current.status == "succeeded", current.error
        assert current.created > 0
        with sessions() as db:
            journaled = db.scalar(select(func.count()).select_from(JournalEntry))
        second = service.run_now(settings, spec.code, sessions=sessions)
        assert (second.status, second.created) == ("succeeded", 0)
        with sessions() as db:
            assert db.scalar(select(func.count()).select_from(JournalEntry)) == journaled
    finally:
        consumer.stop(graceful=True)
        queue.huey.flush()
        jobqueue.reset()
        sandbox.stop_embedded()
