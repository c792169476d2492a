"""The sitting's ticket draw, made verifiable (see docs/draw.md) and delivered through Classroom.

The public draw record (who drew in which order, and which ticket) is journaled under ``draw.record``
as draws happen; the seed stays secret in the store until the session is sealed.  Each drawn ticket
becomes an individual Classroom assignment carrying that student's questions, due at the end of the
preparation time (R-TICKET-1..3), to which the student uploads the answer sheets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.domain import draw as rules
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.store.models import AuditEvent, ExamSession, JournalEntry, StudentRecord, TicketRecord
from lms_bridge.store.repo import journal_entry

RECORD_KEY = "draw.record"


def public_record(db: Session, session: ExamSession, *, reveal: bool | None = None) -> rules.DrawRecord:
    """The draw record as anyone may see it: the seed only once it is revealed (or ``reveal=True``)."""
    tickets = tuple(sorted(t.number for t in db.scalars(select(TicketRecord).where(
        TicketRecord.session_id == session.id))))
    entry = journal_entry(db, session.id, RECORD_KEY)
    raw = {"session_code": session.code, "commitment": session.draw_commitment, "tickets": list(tickets),
           "draws": (entry.data.get("draws") if entry else None) or [], "seed": None}
    record = rules.DrawRecord.from_dict(raw)
    show = session.draw_revealed_at is not None if reveal is None else reveal
    return record.revealed(session.draw_seed) if show else record


def draw_ticket(db: Session, session: ExamSession, student: StudentRecord, *,
                now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    """Draw the student's ticket (once; R-TICKET-1) and record it; returns the ticket number."""
    if student.ticket_number is not None:
        raise rules.DrawError(_("student %(student)s has already drawn a ticket", student=student.student_ref))
    admitted = {s.student_ref for s in db.scalars(select(StudentRecord).where(
        StudentRecord.session_id == session.id, StudentRecord.admitted.is_(True),
        StudentRecord.active.is_(True)))}
    record = public_record(db, session, reveal=False)
    at = now()
    record, drawn = rules.draw_next(record, session.draw_seed, student.student_ref, admitted=admitted, drawn_at=at)
    entry = journal_entry(db, session.id, RECORD_KEY)
    draws = record.to_dict()["draws"]
    if entry is None:
        db.add(JournalEntry(session_id=session.id, step="draw", key=RECORD_KEY, external_id=session.code,
                            data={"draws": draws}))
    else:
        entry.data = {**entry.data, "draws": draws}
    student.ticket_number = drawn.ticket
    student.ticket_drawn_at = at  # the start of preparation (R-TICKET-3)
    student.status = "ticket_drawn"
    db.add(AuditEvent(session_id=session.id, actor="draw", action="ticket.drawn",
                      detail={"student": student.student_ref, "ticket": drawn.ticket, "k": drawn.k}))
    db.flush()
    return drawn.ticket


def ticket_assignment(db: Session, session: ExamSession, student: StudentRecord, google: Any) -> str:
    """Give the drawn ticket to the student alone, as a Classroom assignment; returns its id.

    Journaled under :func:`lms_bridge.google.steps.ticket_key`, where the Classroom grade write-back
    finds it; the assignment's title names the student, which lets the client find one whose create
    answer was lost.
    """
    from lms_bridge.domain.session import Student, Ticket
    from lms_bridge.google.steps import ticket_key

    key = ticket_key(student.student_ref)
    existing = journal_entry(db, session.id, key)
    if existing is not None:
        return existing.external_id
    course = journal_entry(db, session.id, "classroom.course")
    if course is None or student.ticket_number is None or student.ticket_drawn_at is None:
        raise LookupError("the course or the student's ticket is missing")
    ticket = db.scalar(select(TicketRecord).where(TicketRecord.session_id == session.id,
                                                  TicketRecord.number == student.ticket_number))
    due = student.ticket_drawn_at + timedelta(minutes=session.preparation_minutes)
    topic = journal_entry(db, session.id, "classroom.topic")
    work = google.assign_ticket(
        course.external_id, Student(id=student.student_ref, name=student.name, email=student.email),
        Ticket(number=student.ticket_number, questions=tuple(ticket.questions) if ticket else ()), due,
        language=session.language, topic_id=topic.external_id if topic else None)
    db.add(JournalEntry(session_id=session.id, step="draw", key=key, external_id=str(work["id"]),
                        data={"ticket": student.ticket_number, "due": due.isoformat()}))
    db.flush()
    return str(work["id"])


@job(retries=5, retry_delay=30.0, name="results.draw_tickets")
def draw_tickets(queue: JobQueue, session_id: int) -> None:
    """Draw a ticket for every admitted student who has none, in the timetable's order, and hand each
    one out as the student's own Classroom assignment.  Safe to run again: a drawn ticket is never
    drawn twice and an assignment already made is reused."""
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            return
        students = list(db.scalars(select(StudentRecord).where(
            StudentRecord.session_id == session_id, StudentRecord.admitted.is_(True),
            StudentRecord.active.is_(True)).order_by(StudentRecord.position)))
        for student in students:
            if student.ticket_number is None:
                draw_ticket(db, session, student)
        # The draws are committed before any outside call: a failing Classroom never undoes a draw.
        db.commit()
        google = backends(queue).google
        for student in students:
            ticket_assignment(db, session, student, google)
            db.commit()
