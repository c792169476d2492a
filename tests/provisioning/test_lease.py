"""The session lease (one run at a time), its heartbeat and take-over, and the journal's refusal to
overwrite an external id another run wrote — on the embedded SQLite store (tests/production runs the
lease on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings, load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.journal import Made, StepContext, StepFailed
from lms_bridge.lease import LeaseHeld, LeaseLost, acquire, live_holder
from lms_bridge.provisioning import plan as plan_module
from lms_bridge.provisioning import service
from lms_bridge.provisioning.engine import start_run
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningRun
from lms_bridge.store.schema import ensure_schema

from .helpers import World, import_spec, make_spec, plan_for


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://",
                         run_heartbeat_seconds=0.2, run_lease_timeout_seconds=1.5)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    jobqueue.configure(settings, engine=engine)
    yield make_sessionmaker(engine)
    jobqueue.reset()
    engine.dispose()


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")  # messages are asserted in English
    world = World()
    monkeypatch.setattr(plan_module, "build_plan", lambda settings, *_a, **_k: [
        *plan_module.core_steps(settings), *plan_for(world)])
    monkeypatch.setattr("lms_bridge.backends.build_backends", lambda settings, api_calls: None)
    return world


def test_a_second_holder_is_refused_with_who_holds_it_and_since_when(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    first = acquire(sessions, "SE-1", trigger="cli", heartbeat=False)
    with pytest.raises(LeaseHeld) as refused:
        acquire(sessions, "SE-1", trigger="admin", run_id=None, heartbeat=False)
    message = refused.value.message
    assert "Provisioning of session SE-1 is already under way" in message
    assert "the command line" in message
    assert f"process {refused.value.holder.pid}" in message
    assert refused.value.holder.since.strftime("%Y-%m-%d %H:%M:%S") in message
    assert "once it has been silent for 60 s" in message
    # another session is not affected, and a released lease is free again at once
    acquire(sessions, "SE-2", trigger="cli", heartbeat=False).release()
    first.release()
    acquire(sessions, "SE-1", trigger="admin", heartbeat=False).release()


def test_simultaneous_takers_of_a_new_lease_get_exactly_one(sessions: sessionmaker[Session]) -> None:
    barrier = threading.Barrier(6)
    won: list[str] = []
    refused: list[str] = []

    def take(n: int) -> None:
        barrier.wait()
        try:
            acquire(sessions, "SE-RACE", trigger=f"t{n}", heartbeat=False)
            won.append(f"t{n}")
        except LeaseHeld as exc:
            refused.append(exc.holder.trigger)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert refused == [won[0]] * 5  # every loser names the winner


def test_the_heartbeat_keeps_the_lease_and_a_silent_holder_is_taken_over(
        sessions: sessionmaker[Session]) -> None:
    beating = acquire(sessions, "SE-BEAT", trigger="cli", heartbeat_seconds=0.1, timeout_seconds=1.0)
    time.sleep(2.0)  # twice the timeout: only the heartbeat keeps it
    with pytest.raises(LeaseHeld):
        acquire(sessions, "SE-BEAT", trigger="admin", timeout_seconds=1.0, heartbeat=False)
    beating.release()

    silent = acquire(sessions, "SE-SILENT", trigger="cli", heartbeat=False, timeout_seconds=1.0)
    with sessions() as db:
        assert live_holder(db, "SE-SILENT", 1.0) is not None
    time.sleep(1.1)
    with sessions() as db:
        assert live_holder(db, "SE-SILENT", 1.0) is None
    taker = acquire(sessions, "SE-SILENT", trigger="admin", heartbeat=False, timeout_seconds=1.0)
    # the silent holder finds out at its next beat or journal write, and writes nothing more
    assert silent.beat() is False
    with sessions() as db, pytest.raises(LeaseLost):
        silent.fence(db)
    silent.release()  # releasing a lease taken over leaves the new holder's alone
    with sessions() as db, pytest.raises(LeaseHeld):
        acquire(sessions, "SE-SILENT", trigger="cli", heartbeat=False, timeout_seconds=1.0)
    taker.release()


def _contexts(sessions: sessionmaker[Session]) -> tuple[StepContext, StepContext, ExamSession]:
    spec = make_spec(students=1)
    with sessions() as db:
        session = import_spec(db, spec)
    a, b = sessions(), sessions()
    return (StepContext(a, a.get(ExamSession, session.id), spec, None, None),  # type: ignore[arg-type]
            StepContext(b, b.get(ExamSession, session.id), spec, None, None),  # type: ignore[arg-type]
            session)


def _external_id(sessions: sessionmaker[Session], key: str) -> str:
    with sessions() as db:
        return db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == key)) or ""


def test_the_journal_never_overwrites_an_id_another_run_wrote(
        sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    a, b, _session = _contexts(sessions)
    # both runs look the form up, find nothing, and make one each
    assert a.journaled("forms.form:S1") is None
    assert b.journaled("forms.form:S1") is None
    b.record("forms.form:S1", Made("form-B"), created=True)
    with pytest.raises(StepFailed) as failed:
        a.record("forms.form:S1", Made("form-A"), created=True)
    assert failed.value.message.startswith(
        "The journal already records forms.form:S1 as form-B, written by another run, but this run got form-A")
    assert _external_id(sessions, "forms.form:S1") == "form-B"
    # the same id recorded again is not a conflict (a rerun that found the object outside)
    a.record("forms.form:S1", Made("form-B", {"stage": "tagged"}), created=False)
    # data about the form this run read never lands on a form another run put in its place
    a.journaled("forms.form:S1")
    b.journaled("forms.form:S1")
    b.record("forms.form:S1", Made("form-C"), created=True)  # b read form-B: it may replace it
    with pytest.raises(StepFailed):
        a.update_data("forms.form:S1", stage="published")
    with sessions() as db:
        entry = db.scalar(select(JournalEntry).where(JournalEntry.key == "forms.form:S1"))
        assert entry is not None
        assert (entry.external_id, entry.data.get("stage")) == ("form-C", "tagged")
    a.db.close()
    b.db.close()


def test_a_step_may_replace_an_id_it_read_unless_it_changed_meanwhile(sessions: sessionmaker[Session]) -> None:
    a, b, _session = _contexts(sessions)
    a.remember("timetable", Made("1d/1s", {"v": 1}))
    assert a.journaled("timetable") is not None
    a.remember("timetable", Made("2d/1s", {"v": 2}))  # read in this run: replaced, data too
    assert _external_id(sessions, "timetable") == "2d/1s"
    # a renewal in b (which read 2d/1s) wins; a, which also read 2d/1s, may no longer replace it
    assert b.journaled("timetable") is not None
    b.record("timetable", Made("3d/1s"), created=False)
    with pytest.raises(StepFailed):
        a.remember("timetable", Made("4d/1s", {"v": 4}))
    assert _external_id(sessions, "timetable") == "3d/1s"
    a.db.close()
    b.db.close()


def test_a_run_whose_holder_fell_silent_shows_interrupted_and_a_new_run_takes_over(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=2)
    with sessions() as db:
        session = import_spec(db, spec)
        dead = start_run(db, session, plan_module.build_plan(settings), trigger="admin")
        dead.status, dead.started_at = "running", datetime.now(UTC)
        db.commit()
    # the worker that took it holds the lease and beats: the run is under way, a click is refused
    holder = acquire(sessions, spec.code, trigger="admin", run_id=dead.id, heartbeat_seconds=0.1,
                     timeout_seconds=settings.run_lease_timeout_seconds)
    with sessions() as db:
        run = db.get(ProvisioningRun, dead.id)
        assert run is not None
        assert service.run_state(db, run, settings).status == "running"
    with pytest.raises(service.RunRefused, match=f"run {dead.id}, started from the admin page"):
        service.provision(settings, spec.code, sessions=sessions)
    # the worker dies (its heartbeat stops without a release): within the timeout the run is interrupted
    holder._stop.set()
    deadline = time.monotonic() + 5
    while True:
        with sessions() as db:
            run = db.get(ProvisioningRun, dead.id)
            assert run is not None
            state = service.run_state(db, run, settings)
        if state.status == "interrupted" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert state.status == "interrupted"
    assert "retry" in state.note
    retried = service.provision(settings, spec.code, sessions=sessions)  # the Retry button
    assert (retried.status, retried.created) == ("succeeded", 1 + 2 + 5)
    with sessions() as db:
        old = db.get(ProvisioningRun, dead.id)
        assert old is not None
        assert old.status == "interrupted"
        assert "a later run took over" in old.error


def test_a_queued_run_refused_by_the_lease_says_who_holds_it(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=1)
    with sessions() as db:
        run = start_run(db, import_spec(db, spec), plan_module.build_plan(settings), trigger="admin")
    cli = acquire(sessions, spec.code, trigger="cli", timeout_seconds=settings.run_lease_timeout_seconds,
                  heartbeat_seconds=0.1)
    try:
        refused = service.execute(settings, sessions, run.id)  # what the worker does with the job
    finally:
        cli.release()
    assert refused.status == "failed"
    assert "already under way (started from the command line" in refused.error
    assert world.creations == {}


def test_a_stale_queued_run_may_be_retried(world: World, settings: Settings,
                                           sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=1)
    with sessions() as db:
        queued = start_run(db, import_spec(db, spec), plan_module.build_plan(settings))
        queued.queued_at = datetime.now(UTC) - service.QUEUED_PATIENCE - timedelta(seconds=1)
        db.commit()
        assert service.run_state(db, queued, settings).status == "interrupted"
    assert service.provision(settings, spec.code, sessions=sessions).id != queued.id


def test_the_page_shows_a_silent_run_as_interrupted_and_its_retry_takes_over(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    from lms_bridge.admin.auth import create_user
    from lms_bridge.app import create_app, state

    app = create_app(replace_language(settings), testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(app).engine)
    spec = make_spec(students=2)
    with sessions() as db:
        create_user(db, "secretary", "correct horse battery", language="en")
        db.commit()
        run = start_run(db, import_spec(db, spec), plan_module.build_plan(settings), trigger="admin")
        run.status, run.started_at = "running", datetime.now(UTC)
        db.commit()
    acquire(sessions, spec.code, trigger="admin", run_id=run.id, heartbeat=False,
            timeout_seconds=settings.run_lease_timeout_seconds)  # a worker that then died: no heartbeat
    client = app.test_client()
    client.post("/login", data={"username": "secretary", "password": "correct horse battery"})
    live = client.get(f"/sessions/{spec.code}/runs/{run.id}.json").get_json()
    assert (live["status"], live["retryable"], live["finished"]) == ("running", False, False)
    time.sleep(settings.run_lease_timeout_seconds + 0.1)
    silent = client.get(f"/sessions/{spec.code}/runs/{run.id}.json").get_json()
    assert (silent["status"], silent["status_label"]) == ("interrupted", "Interrupted")
    assert (silent["retryable"], silent["finished"]) == (True, True)
    assert "stopped giving signs of life" in silent["error"]
    page = client.get(f"/sessions/{spec.code}").get_data(as_text=True)
    assert 'data-run-status="interrupted"' in page
    assert "data-retry hidden" not in page
    assert ">Interrupted</span>" in client.get("/sessions").get_data(as_text=True)
    assert client.post(f"/sessions/{spec.code}/provision").status_code == 302  # Retry
    with sessions() as db:
        runs = db.scalars(select(ProvisioningRun).order_by(ProvisioningRun.id)).all()
        assert [r.status for r in runs] == ["interrupted", "succeeded"]
    assert world.creations == {"course": 1, "form:S1": 1, "form:S2": 1, **{
        f"enrol:{e}": 1 for e in ("chair@uni.kz", "m1@uni.kz", "sec@uni.kz", "s1@uni.kz", "s2@uni.kz")}}
    state(app).engine.dispose()


def replace_language(settings: Settings) -> Settings:
    from dataclasses import replace

    return replace(settings, default_language="en")


def test_a_run_that_lost_its_lease_writes_nothing_more(
        world: World, settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> None:
    """A holder silent past the timeout (a paused VM, say) was replaced; when it wakes up its next
    journal write is refused by the fence, and it leaves the rows the new holder owns alone."""
    from lms_bridge.journal import FunctionStep
    from lms_bridge.store.models import ProvisioningLease

    def taken_over(ctx: StepContext) -> None:
        ctx.record("before", Made("b-1"), created=True)
        with sessions() as db:  # what acquire() does for another process once this one fell silent
            lease = db.get(ProvisioningLease, ctx.session.code)
            assert lease is not None
            lease.token, lease.trigger = "someone-else", "admin"
            db.commit()
        ctx.record("after", Made("a-1"), created=True)

    monkeypatch.setattr(plan_module, "build_plan", lambda settings, *_a, **_k: [
        *plan_module.core_steps(settings), FunctionStep("test.taken_over", lambda: "Taken over", taken_over),
        *plan_for(world)])
    spec = make_spec(students=1)
    with sessions() as db:
        import_spec(db, spec)
    run = service.run_now(settings, spec.code, sessions=sessions)
    assert run.status == "running"  # left for the new holder to mark interrupted
    with sessions() as db:
        keys = set(db.scalars(select(JournalEntry.key)))
    assert "before" in keys
    assert "after" not in keys
    assert world.creations == {}  # the steps after it never ran
