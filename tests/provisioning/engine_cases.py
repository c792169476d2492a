"""Engine behaviour shared by the SQLite tests here and the PostgreSQL tests in tests/production."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.provisioning.engine import execute_run, run_summary, start_run
from lms_bridge.remote import ApiCalls
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningRun

from .helpers import Crash, World, add_session, make_spec, plan_for


def crash_then_resume(sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=4)
    world = World()
    plan = plan_for(world)
    with sessions() as db:
        session = add_session(db, spec)
        run = start_run(db, session, plan)
        world.crash_after = "form:S3"  # dies after Forms made S3's form, before the journal row
        with pytest.raises(Crash):
            execute_run(db, run, plan, spec, backends=None)
        db.rollback()
        crashed_id = run.id

    with sessions() as db:
        crashed = db.get(ProvisioningRun, crashed_id)
        assert crashed is not None
        assert crashed.status == "running"  # what the page shows until someone retries
        assert [(s.name, s.status) for s in crashed.steps] == [
            ("test.course", "done"), ("test.forms", "running"), ("test.enrol", "pending")]
        # course + the forms of S1 and S2 were journaled, each right after it was made
        assert db.scalar(select(func.count()).select_from(JournalEntry)) == 3

        session = db.get(ExamSession, crashed.session_id)
        assert session is not None
        rerun = start_run(db, session, plan, trigger="retry")
        calls = ApiCalls()
        execute_run(db, rerun, plan, spec, backends=None, api_calls=calls)
        assert rerun.status == "succeeded"
        steps = {s.name: (s.status, s.created, s.reused) for s in rerun.steps}
        # S3's form was found outside (not made twice); S4's was made; the journaled ones reused
        assert steps == {"test.course": ("done", 0, 1), "test.forms": ("done", 1, 3),
                         "test.enrol": ("done", 7, 0)}
        assert (rerun.created, rerun.reused) == (8, 4)
        assert max(world.creations.values()) == 1, "an outside object was made twice"
        assert len(world.objects) == 1 + 4 + 7

        again = start_run(db, session, plan)
        execute_run(db, again, plan, spec, backends=None)
        assert (again.status, again.created, again.reused) == ("succeeded", 0, 12)
        assert max(world.creations.values()) == 1
        summary = run_summary(again, spec.code, 1.23456)
        assert summary["created"] == 0
        assert summary["steps"] == [{"name": "test.course", "status": "done", "created": 0, "reused": 1},
                                    {"name": "test.forms", "status": "done", "created": 0, "reused": 4},
                                    {"name": "test.enrol", "status": "done", "created": 0, "reused": 7}]
        assert summary["seconds"] == 1.235
        assert summary["api_calls"] == {"classroom": 1, "forms": 4, "drive": 0, "sheets": 0, "moodle": 7}


def failure_stops_and_shows(sessions: sessionmaker[Session]) -> None:
    spec = make_spec(code="SE-FAIL", students=2)
    world = World()
    plan = plan_for(world)
    world.fail_on = "form:S2"
    with sessions() as db:
        session = add_session(db, spec)
        run = start_run(db, session, plan)
        assert [(s.name, s.status) for s in run.steps] == [
            ("test.course", "pending"), ("test.forms", "pending"), ("test.enrol", "pending")]
        execute_run(db, run, plan, spec, backends=None)
        assert run.status == "failed"
        assert run.error == "the service refused form:S2"
        assert [(s.name, s.status, s.created) for s in run.steps] == [
            ("test.course", "done", 1), ("test.forms", "failed", 1), ("test.enrol", "skipped", 0)]
        assert session.status == "imported"
        # S1's form survived the failed step: it was committed when made
        assert db.scalar(select(func.count()).select_from(JournalEntry)) == 2

        world.fail_on = None
        retry = start_run(db, session, plan, trigger="retry")
        execute_run(db, retry, plan, spec, backends=None)
        assert (retry.status, retry.created, retry.reused) == ("succeeded", 1 + 5, 2)
        assert session.status == "provisioned"


def lanes_run_beside_and_needs_wait(sessions: sessionmaker[Session]) -> None:
    """A lane's steps run in their own thread beside the main steps, journal through their own
    store session, and a step that needs one waits for it; a lane's failure skips what needs it."""
    import threading

    from lms_bridge.journal import FunctionStep, Made, StepContext, StepFailed

    main_started = threading.Event()
    seen: dict[str, object] = {}

    def first(ctx: StepContext) -> None:
        ctx.remember("first", Made("f"))

    def laned(ctx: StepContext) -> None:
        # Set only by the main step that comes after this one in the plan: seeing it proves the
        # lane ran beside the main steps, not before them.
        seen["beside"] = main_started.wait(30)
        ctx.record("laned", Made("l-1"), created=True)
        if seen.get("fail"):
            raise StepFailed("the lane's service refused")

    def main_step(ctx: StepContext) -> None:
        main_started.set()

    def needs_lane(ctx: StepContext) -> None:
        seen["journaled"] = ctx.journaled("laned") is not None

    plan = [FunctionStep("t.first", lambda: "first", first),
            FunctionStep("t.laned", lambda: "laned", laned, lane="x", after="t.first"),
            FunctionStep("t.main", lambda: "main", main_step),
            FunctionStep("t.needs", lambda: "needs", needs_lane, needs=("t.laned",))]
    spec = make_spec(code="SE-LANES", students=1)
    with sessions() as db:
        session = add_session(db, spec)
        run = execute_run(db, start_run(db, session, plan), plan, spec, backends=None)
        assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
        assert seen == {"beside": True, "journaled": True}
        assert [(s.name, s.status, s.created) for s in run.steps] == [
            ("t.first", "done", 0), ("t.laned", "done", 1), ("t.main", "done", 0), ("t.needs", "done", 0)]
        assert run.created == 1

    seen.clear()
    seen["fail"] = True
    main_started.clear()
    spec = make_spec(code="SE-LANES-2", students=1)
    with sessions() as db:
        session = add_session(db, spec)
        run = execute_run(db, start_run(db, session, plan), plan, spec, backends=None)
        assert run.status == "failed"
        assert run.error == "the lane's service refused"
        assert [(s.name, s.status) for s in run.steps] == [
            ("t.first", "done"), ("t.laned", "failed"), ("t.main", "done"), ("t.needs", "skipped")]
        assert session.status == "imported"
