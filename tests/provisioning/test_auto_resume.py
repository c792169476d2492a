"""The automatic take-over of an interrupted run: a worker's periodic job resumes a run whose
process died (its lease went silent), at most one taker, a bounded number of times in a row; the
audit trail and the session page say so.  The death is simulated cheaply: a run that crashes
mid-step (after making an object, before journaling it) under a lease whose heartbeat is already
older than the timeout, as a killed process leaves it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings, load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.lease import acquire
from lms_bridge.provisioning import plan as plan_module
from lms_bridge.provisioning import service
from lms_bridge.provisioning.engine import start_run
from lms_bridge.store.db import make_sessionmaker
from lms_bridge.store.models import AuditEvent, ProvisioningRun
from lms_bridge.store.schema import ensure_schema

from .helpers import Crash, World, import_spec, make_spec, plan_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://",
                         run_auto_resume_limit=2, default_language="en")


@pytest.fixture
def sessions(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path, store_engines: Any,
             ) -> Iterator[sessionmaker[Session]]:
    """SQLite; a test parametrized with ``indirect`` ``"postgresql"`` runs on PostgreSQL (CI)."""
    made = store_engines(tmp_path, getattr(request, "param", "sqlite"))
    engine = next(made)
    ensure_schema(engine)
    jobqueue.configure(settings, engine=engine)
    yield make_sessionmaker(engine)
    jobqueue.reset()
    next(made, None)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    world = World()
    monkeypatch.setattr(plan_module, "build_plan", lambda settings, *_a, **_k: [
        *plan_module.core_steps(settings), *plan_for(world)])
    monkeypatch.setattr("lms_bridge.backends.build_backends", lambda settings, api_calls: None)
    return world


def _killed_run(settings: Settings, sessions: sessionmaker[Session], world: World, code: str) -> int:
    """A page's run whose worker dies right after making S1's form: the run stays marked running
    and its lease silent for longer than the timeout."""
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.run_lease_timeout_seconds * 2)
    lease = acquire(sessions, code, trigger="admin", heartbeat=False, clock=lambda: long_ago,
                    timeout_seconds=settings.run_lease_timeout_seconds)
    with sessions() as db:
        session = db.scalar(select(service.ExamSession).where(service.ExamSession.code == code))
        run_id = start_run(db, session, plan_module.build_plan(settings), trigger="admin").id
    lease.attach_run(run_id)
    world.crash_after = "form:S1"
    with pytest.raises(Crash):
        service.execute(settings, sessions, run_id, lease=lease)
    return run_id


@pytest.mark.parametrize("sessions", ["sqlite", "postgresql"], indirect=True)
def test_a_killed_run_is_resumed_once_by_the_periodic_job(world: World, settings: Settings,
                                                          sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=2)
    with sessions() as db:
        import_spec(db, spec)
    killed = _killed_run(settings, sessions, world, spec.code)
    queue = jobqueue.get_queue()
    with sessions() as db:
        assert service.interrupted_runs(db, settings) == [(spec.code, killed)]

    service.resume_interrupted.run(queue)
    service.resume_interrupted.run(queue)  # the next minute: nothing left to take over

    with sessions() as db:
        runs = db.scalars(select(ProvisioningRun).order_by(ProvisioningRun.id)).all()
        assert [(r.status, r.trigger) for r in runs] == [("interrupted", "admin"), ("succeeded", "auto")]
        assert "a worker resumed it automatically" in runs[0].error
        events = db.scalars(select(AuditEvent).where(AuditEvent.action == "provisioning.resumed")).all()
        assert [e.detail for e in events] == [{"interrupted_run": killed, "run": runs[1].id, "attempt": 1}]
    # resumed from the journal: the form made before the crash was found again, not made twice
    assert world.creations["form:S1"] == 1
    assert world.creations["course"] == 1


def test_only_one_taker_while_someone_holds_the_lease(world: World, settings: Settings,
                                                      sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=1)
    with sessions() as db:
        import_spec(db, spec)
    killed = _killed_run(settings, sessions, world, spec.code)
    other = acquire(sessions, spec.code, trigger="auto", heartbeat=False)  # another worker took over first
    try:
        with sessions() as db:
            assert service.interrupted_runs(db, settings) == []
        assert service.resume(settings, sessions, spec.code, killed) is None
    finally:
        other.release()
    with sessions() as db:
        assert [r.trigger for r in db.scalars(select(ProvisioningRun))] == ["admin"]


def test_a_run_that_keeps_dying_is_resumed_a_bounded_number_of_times(world: World, settings: Settings,
                                                                      sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=1)
    with sessions() as db:
        import_spec(db, spec)
    interrupted = _killed_run(settings, sessions, world, spec.code)
    for _attempt in range(settings.run_auto_resume_limit):  # each take-over dies in the same place
        world.objects.pop("form:S1")  # (so that the step has to make it again, and crash)
        world.crash_after = "form:S1"
        with pytest.raises(Crash):
            service.resume(settings, sessions, spec.code, interrupted)
        with sessions() as db:
            interrupted = db.scalar(select(ProvisioningRun.id).order_by(ProvisioningRun.id.desc()).limit(1))
    assert service.resume(settings, sessions, spec.code, interrupted) is None  # the limit: left for a person
    with sessions() as db:
        runs = db.scalars(select(ProvisioningRun).order_by(ProvisioningRun.id)).all()
        assert [r.trigger for r in runs] == ["admin", "auto", "auto"]
        assert runs[-1].status == "interrupted"
        assert "resumed automatically 2 times in a row" in runs[-1].error
        assert service.interrupted_runs(db, settings) == []  # the periodic job leaves it alone now
        stopped = db.scalars(select(AuditEvent).where(AuditEvent.action == "provisioning.resume_stopped")).all()
        assert [e.detail for e in stopped] == [{"run": interrupted, "attempts": 2}]
    # a person's retry starts the count again
    retried = service.provision(settings, spec.code, sessions=sessions)
    assert retried.status == "succeeded"


def test_a_failed_run_is_not_resumed(world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    """A step that failed for a reason (a bad setting, a refusal) waits for a person, not a worker."""
    spec = make_spec(students=1)
    with sessions() as db:
        import_spec(db, spec)
    world.fail_on = "course"
    assert service.run_now(settings, spec.code, sessions=sessions).status == "failed"
    with sessions() as db:
        assert service.interrupted_runs(db, settings) == []


def test_the_session_page_says_the_run_was_resumed_automatically(world: World, settings: Settings,
                                                                 sessions: sessionmaker[Session]) -> None:
    from types import SimpleNamespace

    from flask import render_template

    from lms_bridge.admin.audit import action_label
    from lms_bridge.admin.queries import run_view
    from lms_bridge.app import create_app, state

    spec = make_spec(students=1)
    with sessions() as db:
        import_spec(db, spec)
    killed = _killed_run(settings, sessions, world, spec.code)
    resumed = service.resume(settings, sessions, spec.code, killed)
    assert resumed is not None
    assert resumed.status == "succeeded"
    app = create_app(settings, testing=True)
    with app.test_request_context(headers={"Accept-Language": "en"}), sessions() as db:
        runs = db.scalars(select(ProvisioningRun).order_by(ProvisioningRun.id)).all()
        views = [run_view(run, spec.code, {}) for run in runs]
        assert [v["resumed_note"] for v in views] == ["", "Resumed automatically after an interruption."]
        panel = render_template("admin/_run.html", run=views[1], action_form=SimpleNamespace(csrf_token=""))
        assert "Resumed automatically after an interruption." in panel
        assert "data-run-resumed" not in render_template("admin/_run.html", run=views[0],
                                                         action_form=SimpleNamespace(csrf_token=""))
        assert action_label("provisioning.resumed") == "Provisioning resumed automatically after an interruption"
    state(app).engine.dispose()
