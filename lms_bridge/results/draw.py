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

from lms_bridge.domain import draw as rules
from lms_bridge.i18n import gettext as _
from lms_bridge.remote import describe_error
from lms_bridge.store.models import AuditEvent, ExamSession, JournalEntry, StudentRecord, TicketRecord
from lms_bridge.store.repo import journal_entry, merge_entry_data

RECORD_KEY = "draw.record"


class HandOutIncomplete(RuntimeError):
    """Some drawn tickets could not be handed out in Classroom (the others were)."""

    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__(f"{len(failures)} ticket(s) not handed out in Classroom: "
                         + "; ".join(f"{ref}: {why}" for ref, why in sorted(failures.items())))
        self.failures = failures


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


def ticket_assignment(db: Session, session: ExamSession, student: StudentRecord, google: Any, *,
                      now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
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
    due = assignment_due(student.ticket_drawn_at, session.preparation_minutes, now())
    topic = journal_entry(db, session.id, "classroom.topic")
    work = google.assign_ticket(
        course.external_id, Student(id=student.student_ref, name=student.name, email=student.email),
        Ticket(number=student.ticket_number, questions=tuple(ticket.questions) if ticket else ()), due,
        language=session.language, topic_id=topic.external_id if topic else None)
    link = str(work.get("alternateLink") or "")
    db.add(JournalEntry(session_id=session.id, step="draw", key=key, external_id=str(work["id"]),
                        data={"ticket": student.ticket_number, "due": due.isoformat() if due else None,
                              "link": link}))
    db.flush()
    link_answers_in_ballot(db, session, student, google, link)
    # A written exam: the grading window (from the end of the writing time) is fixed with the ticket.
    from lms_bridge.results.ballots import fix_grading_window

    fix_grading_window(db, session, student, google.settings.exams.written_grading_hours)
    return str(work["id"])


def link_answers_in_ballot(db: Session, session: ExamSession, student: StudentRecord, google: Any,
                           link: str) -> bool:
    """A written (or open-book) exam's ballot links to the student's ticket assignment, where the answer
    sheets are, so that the members grade from the form within the grading time (001 §15).  Best effort:
    the ballot already says where the answers are, so a failure here is logged and never stops the
    hand-out."""
    import logging

    from lms_bridge.domain.kinds import rules_for
    from lms_bridge.google.steps import form_requests
    from lms_bridge.store.repo import spec_from_store

    if not link or not rules_for(session.kind).writing:
        return False
    entry = journal_entry(db, session.id, f"forms.form:{student.student_ref}")
    if entry is None or entry.data.get("answers_link") == link:
        return False
    try:
        spec = spec_from_store(db, session)
        person = next(s for s in spec.students if s.id == student.student_ref)
        hours = google.settings.exams.written_grading_hours
        info = form_requests(spec, person, submission=link, grading_hours=hours,
                             on_behalf=list(entry.data.get("on_behalf") or []))[0]  # the description only
        google.forms.batch_update(entry.external_id, [info])
    except Exception:
        logging.getLogger(__name__).warning("the ballot of %s could not be linked to the answers", student.student_ref,
                                            exc_info=True)
        return False
    merge_entry_data(db, entry, answers_link=link)  # keeps what a provisioning run adds meanwhile
    db.flush()
    return True


def assignment_due(drawn_at: datetime, preparation_minutes: int, now: datetime) -> datetime | None:
    """When the ticket assignment is due: the end of preparation, or no due time at all.

    Classroom refuses a due date and time that has already passed (``@DueDateInPast``).  A defense
    has no preparation time, so its end is the moment of the draw, already past when the assignment
    is made; a draw handed out late (the job retried after a Classroom outage) may be past its end
    too.  Then the assignment carries no due time: the ticket still reaches the student, and the
    commission keeps the time.  A due time less than a minute away is dropped as well: it could pass
    while the request travels.
    """
    due = drawn_at + timedelta(minutes=preparation_minutes)
    return due if preparation_minutes > 0 and due - now > DUE_MARGIN else None


DUE_MARGIN = timedelta(minutes=1)


def hand_out_tickets(db: Session, session: ExamSession, students: list[StudentRecord], google: Any, *,
                     now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dict[str, str]:
    """Give every drawn ticket to its student in Classroom; returns student id -> why it failed.

    One student's failure never stops the others.  Each failure is kept in the draw record's
    journal entry (``data["failures"]``), where the session page shows it beside the student,
    and is cleared once that student's assignment is made.  Commits after each student.
    """
    failures: dict[str, str] = {}
    for student in students:
        if student.ticket_number is None:
            continue
        try:
            ticket_assignment(db, session, student, google, now=now)
        except Exception as exc:  # any failure is this student's alone: record it, go on
            db.rollback()
            failures[student.student_ref] = describe_error(exc)
        _set_failure(db, session, student.student_ref, failures.get(student.student_ref))
        db.commit()
    return failures


def _set_failure(db: Session, session: ExamSession, student_ref: str, reason: str | None) -> None:
    entry = journal_entry(db, session.id, RECORD_KEY)
    if entry is None:
        return
    known = dict(entry.data.get("failures") or {})
    if reason is None and student_ref not in known:
        return
    if reason is None:
        known.pop(student_ref, None)
    else:
        known[student_ref] = reason
    entry.data = {**entry.data, "failures": known}


def handout_failures(db: Session, session: ExamSession) -> dict[str, str]:
    """Student id -> why the ticket could not be handed out in Classroom (the last attempt)."""
    entry = journal_entry(db, session.id, RECORD_KEY)
    return dict((entry.data.get("failures") or {}) if entry else {})
