"""Optional checks against a real Moodle 4.5 with the companion plugin (run by hand).

    LMS_BRIDGE_LIVE_MOODLE_URL=http://127.0.0.1:8085 LMS_BRIDGE_LIVE_MOODLE_TOKEN=… \\
        pytest -m moodle_live tests/moodle/test_live.py

They make (once) a course "LMSB-LIVE-CHECK" with two students and a teacher, and run the Moodle steps
twice: the second run must create nothing.  Safe to repeat.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from lms_bridge.config import MoodleSettings, Secret, Settings
from lms_bridge.domain import draw
from lms_bridge.domain.session import ExamKind, Member, Role, SessionSpec, Student, Ticket
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.errors import GradeOutOfRange, InvalidToken
from lms_bridge.moodle.operations import MoodleOps
from lms_bridge.moodle.steps import moodle_steps, poll_attempts
from lms_bridge.provisioning.engine import execute_run, start_run
from lms_bridge.remote import ApiCalls
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import Base, ExamSession, JournalEntry

URL = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_URL", "")
TOKEN = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_TOKEN", "")

pytestmark = [pytest.mark.moodle_live,
              pytest.mark.skipif(not (URL and TOKEN), reason="LMS_BRIDGE_LIVE_MOODLE_URL/_TOKEN not set")]

SPEC = SessionSpec(
    code="LMSB-LIVE-CHECK", title="lms_bridge live check", kind=ExamKind.ORAL_EXAM, programme="6B01",
    group="LIVE", language="kk", timezone="Asia/Almaty", starts_at=datetime(2026, 6, 1, 4, 0, tzinfo=UTC),
    preparation_minutes=30,
    commission=(Member("Тексеруші Төраға", "lmsb-live-chair@example.edu", Role.CHAIR),),
    students=(Student("LIVE-0001", "Бірінші Студент", "lmsb-live-1@example.edu"),
              Student("LIVE-0002", "Екінші Студент", "lmsb-live-2@example.edu")),
    tickets=(Ticket(1, ("Live Q1a", "Live Q1b")), Ticket(2, ("Live Q2a", "Live Q2b"))),
)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, moodle=MoodleSettings(url=URL, token=Secret(TOKEN)))


def test_invalid_token_is_refused() -> None:
    with pytest.raises(InvalidToken):
        MoodleClient(URL, Secret("not-a-token"), timeout=15).site_info()


def test_steps_twice_then_a_decision(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine)() as db:
        seed = draw.new_seed()
        row = ExamSession(code=SPEC.code, title=SPEC.title, kind=str(SPEC.kind), language="kk",
                          timezone=SPEC.timezone, starts_at=SPEC.starts_at, preparation_minutes=30,
                          draw_seed=seed, draw_commitment=draw.commitment(seed))
        db.add(row)
        db.commit()
        runs = [_run(db, settings, row) for _ in range(2)]
        for run in runs:
            assert run.status == "succeeded", run.error
        assert runs[1].created == 0
        client = MoodleClient.from_settings(settings)
        ops = MoodleOps(client, settings.moodle)
        course = ops.find_course(SPEC.code)
        assert course is not None
        roles = ops.enrolled_roles(course["id"])
        users = {e.key.split(":", 1)[1]: int(e.external_id) for e in db.query(JournalEntry).filter(
            JournalEntry.session_id == row.id, JournalEntry.key.like("moodle.user:%"))}
        assert roles[users["lmsb-live-1@example.edu"]] == {5}
        assert roles[users["lmsb-live-chair@example.edu"]] == {3}
        result = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.result_assignment").one()
        assignment = {"assignid": int(result.external_id), **result.data}
        uid = users["lmsb-live-1@example.edu"]
        assert ops.save_decision(course["id"], uid, 87, assignment=assignment) in ("assign", "unchanged")
        with pytest.raises(GradeOutOfRange):
            ops.save_decision(course["id"], uid, 150, assignment=assignment)
        tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
        seen = poll_attempts(ops, tickets.data["quizid"], list(users.values()), plugin=True)
        assert all(s.ticket in (None, 1, 2) for s in seen)
    engine.dispose()


def _run(db: Session, settings: Settings, row: ExamSession):  # type: ignore[no-untyped-def]
    calls = ApiCalls()
    client = MoodleClient.from_settings(settings, calls)
    plan = moodle_steps(settings)
    run = start_run(db, row, plan)
    return execute_run(db, run, plan, SPEC, SimpleNamespace(moodle=client, google=None), calls)
