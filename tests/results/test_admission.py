"""Admission to the draw in the store: one student at a time, on the student's day, with the ticket of
the verifiable draw opened in Moodle for that student alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain import draw as draw_rules
from lms_bridge.domain.admission import AdmissionError, AdmissionState
from lms_bridge.domain.session import SessionSpec
from lms_bridge.results.admission import (
    TicketNotOpened,
    admission_states,
    admit,
    draw_day,
    open_in_moodle,
    sitting_days,
)
from lms_bridge.results.draw import public_record
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import AuditEvent, ExamSession, JournalEntry, StudentRecord
from lms_bridge.store.repo import import_session, journal_entry
from lms_bridge.store.schema import ensure_schema


@pytest.fixture
def db(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        import_session(session, sample_spec, source_name="sample-session.yaml", actor="test")
        exam = session.scalar(select(ExamSession))
        assert exam is not None
        # Two students a day: the admitted ones sit on several working days.
        exam.preparation_minutes, exam.answer_minutes = 60, 120
        exam.status = "provisioned"
        session.commit()
        yield session
    engine.dispose()


def _exam(db: Session) -> ExamSession:
    exam = db.scalar(select(ExamSession))
    assert exam is not None
    return exam


def _admitted(db: Session) -> list[StudentRecord]:
    return list(db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))
                           .order_by(StudentRecord.position)))


def _on(day: Any, exam: ExamSession, minutes: int = 0) -> datetime:
    """A moment of the sitting on ``day`` (local date), after its start."""
    local = exam.starts_at.astimezone(ZoneInfo(exam.timezone))
    return datetime.combine(day, local.timetz()).astimezone(UTC) + timedelta(minutes=minutes)


def test_each_student_draws_on_their_own_day_and_the_draw_verifies(db: Session) -> None:
    exam = _exam(db)
    students = _admitted(db)
    days = sitting_days(exam)
    dates = sorted(set(days.values()))
    assert len(dates) >= 3
    day1 = [s for s in students if days[s.student_ref] == dates[0]]
    day2 = [s for s in students if days[s.student_ref] == dates[1]]
    # A day 2 student is refused on day 1, and nothing is drawn or journaled.
    with pytest.raises(AdmissionError) as refused:
        admit(db, exam, day2[0], actor="secretary", now=lambda: _on(dates[0], exam))
    assert refused.value.code == "other_day"
    assert day2[0].ticket_number is None
    assert journal_entry(db, exam.id, f"admission:{day2[0].student_ref}") is None
    states = admission_states(db, exam, now=_on(dates[0], exam))
    assert states[day1[0].student_ref][0] is AdmissionState.WAITING
    assert states[day2[0].student_ref][0] is AdmissionState.OTHER_DAY
    # Each on their day, one by one.
    for n, s in enumerate(students):
        admit(db, exam, s, actor="secretary", now=lambda s=s, n=n: _on(days[s.student_ref], exam, n))
    db.commit()
    assert [s.ticket_number for s in students].count(None) == 0
    record = public_record(db, exam, reveal=True)
    assert draw_rules.verify(record) == []
    assert [d.student_id for d in record.draws] == [s.student_ref for s in students]
    pending = journal_entry(db, exam.id, f"admission:{students[0].student_ref}")
    assert pending is not None
    assert pending.data["by"] == "secretary"
    assert pending.data["ticket"] == students[0].ticket_number
    # Twice is refused: a ticket is drawn once.
    with pytest.raises(AdmissionError) as again:
        admit(db, exam, students[0], actor="secretary", now=lambda: _on(dates[0], exam))
    assert again.value.code == "already_drawn"


def test_a_student_not_admitted_is_refused(db: Session) -> None:
    exam = _exam(db)
    out = db.scalar(select(StudentRecord).where(StudentRecord.admitted.is_(False)))
    assert out is not None
    with pytest.raises(AdmissionError) as refused:
        admit(db, exam, out, actor="secretary", now=lambda: _on(exam.starts_at.date(), exam))
    assert refused.value.code == "not_admitted"


def test_draw_day_never_mixes_days() -> None:
    from datetime import date

    d1, d2 = date(2027, 6, 10), date(2027, 6, 11)
    days = {"S1": d1, "S2": d1, "S3": d2}
    assert draw_day(days, d1) == d1
    assert draw_day(days, d2) == d2  # on day 2, day 2's students
    assert draw_day(days, date(2027, 6, 1)) is None  # before the sitting: no early draw
    assert draw_day(days, date(2027, 7, 1)) is None


class FakeOps:
    def __init__(self, *, answer_ticket: int | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answer_ticket = answer_ticket

    def open_ticket(self, quizid: int, userid: int, ticket: int, *, timeopen: int, timeclose: int) -> dict[str, Any]:
        self.calls.append((quizid, userid, ticket, timeopen, timeclose))
        return {"attemptid": 900 + userid, "questionid": 40 + ticket, "overrideid": 7, "created": True,
                "ticketnumber": self.answer_ticket if self.answer_ticket is not None else ticket}


def _plugin_quiz(db: Session, exam: ExamSession, students: list[StudentRecord]) -> None:
    db.add(JournalEntry(session_id=exam.id, step="moodle.tickets", key="moodle.tickets", external_id="31",
                        data={"mode": "plugin", "quizid": 31, "cmid": 5}))
    for i, s in enumerate(students):
        db.add(JournalEntry(session_id=exam.id, step="moodle.users", key=f"moodle.user:{s.email}",
                            external_id=str(100 + i), data={}))
    db.flush()


def test_moodle_opens_exactly_the_drawn_ticket_for_that_student(db: Session) -> None:
    exam = _exam(db)
    students = _admitted(db)
    _plugin_quiz(db, exam, students)
    first = students[0]
    at = _on(sitting_days(exam)[first.student_ref], exam, 3)
    ticket = admit(db, exam, first, actor="secretary", now=lambda: at)
    ops = FakeOps()
    assert open_in_moodle(db, exam, first, ops) == "opened"
    assert len(ops.calls) == 1
    quizid, userid, sent, opens, closes = ops.calls[0]
    assert (quizid, userid, sent) == (31, 100, ticket)
    # Open for the preparation time (60 minutes) and a few minutes' grace, from the admission.
    assert opens <= int(at.timestamp()) < closes
    assert closes - int(at.timestamp()) == (60 + 5) * 60
    opened = journal_entry(db, exam.id, f"moodle.admission:{first.student_ref}")
    assert opened is not None
    assert opened.external_id == "1000"
    assert opened.data["ticket"] == ticket
    assert open_in_moodle(db, exam, first, ops) == "already open"
    assert len(ops.calls) == 1
    assert admission_states(db, exam, now=at)[first.student_ref][0] is AdmissionState.OPEN
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"admission.admitted", "admission.ticket_opened"} <= actions


def test_another_ticket_in_moodle_is_an_error_never_recorded(db: Session) -> None:
    exam = _exam(db)
    students = _admitted(db)
    _plugin_quiz(db, exam, students)
    first = students[0]
    ticket = admit(db, exam, first, actor="secretary", now=lambda: _on(sitting_days(exam)[first.student_ref], exam))
    with pytest.raises(TicketNotOpened):
        open_in_moodle(db, exam, first, FakeOps(answer_ticket=ticket % 12 + 1))
    assert journal_entry(db, exam.id, f"moodle.admission:{first.student_ref}") is None
    assert first.ticket_number == ticket


def test_without_the_plugin_the_quiz_stays_closed(db: Session) -> None:
    exam = _exam(db)
    first = _admitted(db)[0]
    admit(db, exam, first, actor="secretary", now=lambda: _on(sitting_days(exam)[first.student_ref], exam))
    ops = FakeOps()
    assert open_in_moodle(db, exam, first, ops) == "moodle not used"
    assert ops.calls == []


def test_a_ticket_moodle_picked_by_itself_is_never_recorded(db: Session) -> None:
    from lms_bridge.results.submissions import apply_moodle_event

    exam = _exam(db)
    first = _admitted(db)[0]
    note = apply_moodle_event(db, {"event": "quiz_attempt_started", "courseidnumber": exam.code,
                                   "useremail": first.email, "other": {"ticket": {"number": 3}}})
    assert note == "attempt started"
    assert first.ticket_number is None
    refused = db.scalar(select(AuditEvent).where(AuditEvent.action == "ticket.unverified_refused"))
    assert refused is not None
    assert refused.detail == {"student": first.student_ref, "offered": 3}


def test_nothing_is_drawn_before_provisioning(db: Session) -> None:
    exam = _exam(db)
    exam.status = "imported"
    first = _admitted(db)[0]
    with pytest.raises(AdmissionError) as refused:
        admit(db, exam, first, actor="secretary", now=lambda: _on(sitting_days(exam)[first.student_ref], exam))
    assert refused.value.code == "not_provisioned"
    assert first.ticket_number is None
