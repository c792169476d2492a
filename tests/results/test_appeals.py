"""Appeals in the store, with a stand-in for Google: the refusal of a late filing, the outcome of a
new sitting, and the rules the secretary's actions keep."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.appeals import AppealError
from lms_bridge.domain.session import Member, Role, SessionSpec
from lms_bridge.results import appeals
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import AppealRecord, AuditEvent, DecisionRecord, ExamSession, JournalEntry, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

APPEAL = (Member("Ахметов Нұрлан", "n.akhmetov@univ.edu.kz", Role.CHAIR),
          Member("Серікова Әсел", "a.serikova@univ.edu.kz", Role.MEMBER),
          Member("Қасымов Бауыржан", "b.kasymov@univ.edu.kz", Role.MEMBER),
          Member("Әлиева Жанар", "zh.aliyeva@univ.edu.kz", Role.SECRETARY))


class FakeClassroom:
    def __init__(self) -> None:
        self.returned: list[tuple[str, str, str]] = []
        self.announcements: list[tuple[str, list[str]]] = []
        self.submissions: list[dict[str, Any]] = []

    def list_submissions(self, course_id: str, work_id: str, *, states: Any = None) -> list[dict[str, Any]]:
        assert work_id == "-"  # one listing for the whole appeals course
        return [s for s in self.submissions if not states or s["state"] in states]

    def return_submission(self, course_id: str, work_id: str, sub_id: str) -> dict[str, Any]:
        self.returned.append((course_id, work_id, sub_id))
        return {}

    def create_announcement(self, course_id: str, text: str, *, student_ids: Any = ()) -> dict[str, Any]:
        self.announcements.append((text, list(student_ids)))
        return {}

    def get_student(self, course_id: str, email: str) -> dict[str, Any]:
        return {"userId": "u-" + email}


class FakeGoogle:
    def __init__(self) -> None:
        self.classroom = FakeClassroom()


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    from lms_bridge.i18n import use_locale

    with use_locale("en"):
        yield


@pytest.fixture
def db(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        import_session(session, replace(sample_spec, appeal_commission=APPEAL), source_name="s.yaml", actor="t")
        exam = session.scalar(select(ExamSession))
        assert exam is not None
        student = session.scalar(select(StudentRecord).where(StudentRecord.admitted.is_(True)))
        assert student is not None
        session.add(DecisionRecord(session_id=exam.id, student_id=student.id, rule="mean", letter="C+",
                                   points=72, gpa=2.33, decided_at=datetime(2026, 7, 2, 4, tzinfo=UTC)))
        exam.released_at = datetime(2026, 7, 2, 6, tzinfo=UTC)  # Thursday, 11:00 in Almaty
        session.add(JournalEntry(session_id=exam.id, step="google.classroom.course", key="classroom.course",
                                 external_id="c0"))
        session.add(JournalEntry(session_id=exam.id, step="appeals.filing", key=appeals.COURSE_KEY,
                                 external_id="c1"))
        session.add(JournalEntry(session_id=exam.id, step="appeals.filing", key=appeals.work_key(student.student_ref),
                                 external_id="w1"))
        session.commit()
        yield session
    engine.dispose()


def _exam(db: Session) -> ExamSession:
    exam = db.scalar(select(ExamSession))
    assert exam is not None
    return exam


def _turned_in(at: str) -> dict[str, Any]:
    return {"id": "s1", "userId": "u1", "courseWorkId": "w1", "state": "TURNED_IN", "updateTime": at,
            "assignmentSubmission": {"attachments": [
                {"driveFile": {"title": "өтініш.pdf", "alternateLink": "https://drive.example/f"}}]},
            "submissionHistory": [{"stateHistory": {"state": "TURNED_IN", "stateTimestamp": at}}]}


def test_a_filing_late_in_almaty_but_not_yet_in_utc_is_refused_returned_and_explained(db: Session) -> None:
    google = FakeGoogle()
    # 19:30 UTC on Tuesday 7 July is 00:30 on Wednesday 8 July in Almaty: a day late there.
    google.classroom.submissions = [_turned_in("2026-07-07T19:30:00Z")]
    filed = appeals.sync_filings(db, google, _exam(db))
    assert [a.status for a in filed] == ["refused"]
    assert filed[0].filed_on == date(2026, 7, 8)
    assert google.classroom.returned == [("c1", "w1", "s1")]
    (text, only), = google.classroom.announcements
    assert only == ["u1"]
    assert "08.07.2026" in text
    assert "07.07.2026" in text
    # Read again: nothing happens twice.
    appeals.sync_filings(db, google, _exam(db))
    assert len(google.classroom.returned) == 1


def test_a_new_sitting_needs_a_working_day_and_is_told_to_the_student(db: Session) -> None:
    google = FakeGoogle()
    google.classroom.submissions = [_turned_in("2026-07-03T06:00:00Z")]
    (appeal,) = appeals.sync_filings(db, google, _exam(db))
    assert appeal.status == "filed"
    with pytest.raises(AppealError, match="Answer the appeal first"):
        appeals.apply_appeal(db, _exam(db), appeal, actor="s")
    appeal.status, appeal.outcome = "answered", "new_sitting"
    appeal.answered_at = datetime(2026, 7, 8, 6, tzinfo=UTC)
    with pytest.raises(AppealError, match="date and time"):
        appeals.apply_appeal(db, _exam(db), appeal, actor="s")
    with pytest.raises(AppealError, match="not a working day"):  # Saturday 11 July
        appeals.apply_appeal(db, _exam(db), appeal, actor="s", new_sitting_at=datetime(2026, 7, 11, 5, tzinfo=UTC))
    assert appeals.apply_appeal(db, _exam(db), appeal, actor="s", google=google,
                                new_sitting_at=datetime(2026, 7, 13, 5, tzinfo=UTC)) == []
    assert appeal.status == "applied"
    text, only = google.classroom.announcements[-1]
    assert only == ["u-" + db.get(StudentRecord, appeal.student_id).email]  # type: ignore[union-attr]
    assert "13.07.2026 10:00" in text
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "appeal.new_sitting")) is not None
    decision = db.scalar(select(DecisionRecord))
    assert decision is not None
    assert decision.letter == "C+"  # a new sitting changes no grade
    assert db.scalar(select(AppealRecord)) is appeal
