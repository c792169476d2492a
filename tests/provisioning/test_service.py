"""The provisioning service and ``lms-bridge provision`` with the plan's steps replaced by steps that
make objects in a recorded outside world (the real Google and Moodle steps are exercised against the
sandboxes in test_provision_sandbox.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.cli import cli
from lms_bridge.config import Settings, load_settings
from lms_bridge.domain import draw
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.provisioning import plan as plan_module
from lms_bridge.provisioning import service
from lms_bridge.provisioning.engine import start_run
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import AuditEvent, ExamSession, JournalEntry, ProvisioningRun
from lms_bridge.store.schema import ensure_schema

from .helpers import World, import_spec, make_spec, plan_for

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")  # messages are asserted in English
    world = World()
    monkeypatch.setattr(plan_module, "build_plan", lambda settings, *_a, **_k: [
        *plan_module.core_steps(settings), *plan_for(world)])
    monkeypatch.setattr("lms_bridge.backends.build_backends", lambda settings, api_calls: None)
    return world


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://")


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    jobqueue.configure(settings, engine=engine)
    yield make_sessionmaker(engine)
    jobqueue.reset()
    engine.dispose()


def test_provision_queues_a_run_that_the_immediate_queue_finishes(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=3)
    with sessions() as db:
        import_spec(db, spec)
    run = service.provision(settings, spec.code, trigger="admin")
    assert (run.status, run.trigger) == ("succeeded", "admin")
    assert [s.name for s in run.steps] == ["core.draw_commitment", "core.timetable", "test.course",
                                           "test.forms", "test.enrol"]
    assert run.created == 1 + 3 + 6
    again = service.provision(settings, spec.code)
    assert again.id != run.id
    assert (again.status, again.created) == ("succeeded", 0)


def test_a_second_click_returns_the_run_under_way_unless_it_was_abandoned(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    spec = make_spec()
    with sessions() as db:
        session = import_spec(db, spec)
        queued = start_run(db, session, plan_module.build_plan(settings))
    assert service.provision(settings, spec.code).id == queued.id
    assert world.creations == {}
    with sessions() as db:
        stale = db.get(ProvisioningRun, queued.id)
        assert stale is not None
        stale.queued_at = datetime.now(UTC) - service.QUEUED_PATIENCE - timedelta(minutes=1)
        db.commit()
    fresh = service.provision(settings, spec.code)
    assert fresh.id != queued.id
    assert fresh.status == "succeeded"


def test_unknown_session_code_is_refused_in_plain_words(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    with pytest.raises(service.ProvisioningError, match="NO-SUCH"):
        service.provision(settings, "NO-SUCH")


def test_the_core_steps_journal_the_commitment_and_the_timetable(
        world: World, settings: Settings, sessions: sessionmaker[Session]) -> None:
    spec = make_spec(students=2)
    with sessions() as db:
        import_spec(db, spec)
    service.run_now(settings, spec.code, sessions=sessions)
    with sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        assert session is not None
        entries = {e.key: e for e in db.scalars(select(JournalEntry))}
        assert entries["draw.commitment"].external_id == session.draw_commitment
        slots = entries["timetable"].data["slots"]
        assert list(slots) == ["S1", "S2"]
        assert slots["S1"]["answer_starts_at"] < slots["S2"]["answer_starts_at"]
        # a commitment that does not match the seed cannot be verified
        published = session.draw_commitment
        session.draw_commitment = "0" * 64
        db.commit()
    run = service.run_now(settings, spec.code, sessions=sessions)
    assert run.status == "failed"
    assert run.steps[0].status == "failed"
    assert "does not match the session's secret seed" in run.steps[0].error
    assert {s.status for s in run.steps[1:]} == {"skipped"}
    # a published commitment must never be replaced, even by a consistent new seed
    with sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        assert session is not None
        session.draw_seed = draw.new_seed()
        session.draw_commitment = draw.commitment(session.draw_seed)
        db.commit()
    run = service.run_now(settings, spec.code, sessions=sessions)
    assert run.steps[0].error.startswith(f"The draw commitment changed after it was published ({published[:12]}")


def test_a_run_that_cannot_start_is_marked_failed(
        world: World, settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
        ) -> None:
    def unreachable(settings: Settings, api_calls: Any) -> Any:
        raise ConnectionError("Moodle at https://moodle.uni.kz does not answer")

    monkeypatch.setattr("lms_bridge.backends.build_backends", unreachable)
    spec = make_spec()
    with sessions() as db:
        import_spec(db, spec)
    with pytest.raises(ConnectionError):
        service.run_now(settings, spec.code, sessions=sessions)
    with sessions() as db:
        run = db.scalar(select(ProvisioningRun))
        assert run is not None
        assert run.status == "failed"
        assert run.error == "Moodle at https://moodle.uni.kz does not answer"
        assert {s.status for s in run.steps} == {"skipped"}
        assert run.finished_at is not None


def test_the_job_gives_up_after_its_retries_and_marks_the_run(
        world: World, settings: Settings, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
        ) -> None:
    from lms_bridge.provisioning.service import provision_session

    spec = make_spec()
    with sessions() as db:
        run = start_run(db, import_spec(db, spec), plan_module.build_plan(settings))
    monkeypatch.setattr(service, "execute", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    queue = jobqueue.get_queue()
    # the final attempt of the job (no retries left): recorded, and the run marked failed
    wrapper = queue._wrappers["provision_session"]
    task = wrapper.s(run.id)
    task.retries = 0
    queue.huey.execute(task)
    assert provision_session.name == "provision_session"
    with sessions() as db:
        failed = db.get(ProvisioningRun, run.id)
        assert failed is not None
        assert (failed.status, failed.error) == ("failed", "disk full")
        assert db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "job.failed")) == 1


def _invoke(data_dir: Path, *args: str) -> Any:
    env = {"LMS_BRIDGE_DATA_DIR": str(data_dir), "LMS_BRIDGE_LANGUAGE": "en", "LMS_BRIDGE_QUEUE_URL": ""}
    return CliRunner().invoke(cli, ["provision", *args], env=env)


def test_provision_command_prints_steps_and_ends_with_the_json_summary(world: World, tmp_path: Path) -> None:
    first = _invoke(tmp_path, str(SAMPLE), "--json")
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["session"] == "FA-2026-6B06102-IS21"
    assert summary["status"] == "succeeded"
    assert summary["created"] > 0
    assert set(summary["api_calls"]) == {"classroom", "forms", "drive", "sheets", "moodle"}
    assert [s["name"] for s in summary["steps"]][:2] == ["core.draw_commitment", "core.timetable"]
    assert any(line.startswith("Timetable of the sitting: done") for line in lines)
    second = _invoke(tmp_path, str(SAMPLE), "--json")
    assert second.exit_code == 0, second.output
    again = json.loads(second.output.strip().splitlines()[-1])
    assert again["created"] == 0
    assert again["reused"] == summary["created"] + summary["reused"]
    assert max(world.creations.values()) == 1


def test_provision_command_exits_1_with_the_failing_steps_message(world: World, tmp_path: Path) -> None:
    world.fail_on = "course"
    result = _invoke(tmp_path, str(SAMPLE))
    assert result.exit_code == 1
    assert "Provisioning failed at Course: the service refused course" in result.output
    assert "Traceback" not in result.output


def test_provision_command_lists_the_problems_of_a_bad_file(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("code: X\nkind: [unclosed\n", encoding="utf-8")
    result = _invoke(tmp_path / "data", str(bad))
    assert result.exit_code == 1
    assert "bad.yaml" in result.output
    assert "nothing was stored" in result.output
    assert not (tmp_path / "data" / "lms_bridge.sqlite3").exists()


def test_a_queue_on_another_store_is_refused(world: World, settings: Settings, sessions: sessionmaker[Session],
                                             tmp_path: Path) -> None:
    other = load_settings(environ={}, data_dir=str(tmp_path / "elsewhere"), queue_url="memory://")
    with pytest.raises(service.ProvisioningError, match="LMS_BRIDGE_DATABASE_URL"):
        service.provision(other, "ANY")
