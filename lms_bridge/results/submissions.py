"""Students' progress from Moodle and Classroom events: ticket drawn, answers uploaded, turned in.

These functions only touch the store; the caller fetched whatever the event did not carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.store.models import AuditEvent, ExamSession, StudentRecord


def find_student(db: Session, *, course_idnumber: str = "", email: str = "",
                 student_ref: str = "") -> tuple[ExamSession, StudentRecord] | None:
    """The student an outside event is about: the session by its code (= Moodle course idnumber),
    the student by university id, then by e-mail."""
    query = select(StudentRecord, ExamSession).join(ExamSession)
    if course_idnumber:
        query = query.where(ExamSession.code == course_idnumber)
    for cond in ((StudentRecord.student_ref == student_ref) if student_ref else None,
                 (StudentRecord.email == email.strip().lower()) if email else None):
        if cond is None:
            continue
        row = db.execute(query.where(cond)).first()
        if row is not None:
            return row[1], row[0]
    return None


def _ts(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def apply_moodle_event(db: Session, payload: Mapping[str, Any]) -> str:
    """Update a student's status from a companion-plugin event; returns what was done (for the log).

    A ticket is recorded once (R-TICKET-1: a student draws only once).  A second, different ticket
    for the same student is kept in the audit trail for the secretary, never silently replacing
    the first.
    """
    found = find_student(db, course_idnumber=str(payload.get("courseidnumber") or ""),
                         email=str(payload.get("useremail") or ""),
                         student_ref=str(payload.get("useridnumber") or ""))
    if found is None:
        return "ignored: no such student in any session"
    session, student = found
    event = str(payload.get("event", ""))
    other = payload.get("other") or {}
    at = _ts(payload.get("timestamp")) or datetime.now(UTC)
    if event in ("quiz_attempt_started", "quiz_attempt_submitted"):
        ticket = (other.get("ticket") or {}).get("number")
        if ticket is not None:
            ticket = int(ticket)
            if student.ticket_number is None:
                # The verifiable draw is the only draw: a ticket Moodle picked by itself (a quiz opened
                # by hand) is never recorded as the student's; the secretary sees it in the audit trail.
                db.add(AuditEvent(session_id=session.id, actor="moodle", action="ticket.unverified_refused",
                                  detail={"student": student.student_ref, "offered": ticket}))
            elif student.ticket_number != ticket:
                db.add(AuditEvent(session_id=session.id, actor="moodle", action="ticket.redraw_refused",
                                  detail={"student": student.student_ref, "kept": student.ticket_number,
                                          "offered": ticket}))
        if event == "quiz_attempt_started":
            student.attempt_state = student.attempt_state or "inprogress"
            if student.status in ("registered", ""):
                student.status = "ticket_drawn" if student.ticket_number is not None else "attempt_started"
            return "attempt started"
        student.attempt_state = str(other.get("state") or "finished")
        student.turned_in_at = student.turned_in_at or _ts(other.get("timefinish")) or at
        if student.status not in ("decided",):
            student.status = "turned_in"
        return "attempt submitted"
    if event == "assign_submitted":
        files = other.get("files")
        if isinstance(files, int):
            student.files_received = files
        elif isinstance(files, list):
            student.files_received = len(files)
        student.turned_in_at = student.turned_in_at or at
        student.turned_in_late = bool(other.get("late")) or student.turned_in_late
        if student.status not in ("decided",):
            student.status = "turned_in"
        return "assignment submitted"
    return f"ignored: event {event!r} is not used"


def apply_classroom_submission(db: Session, session: ExamSession, student: StudentRecord,
                               submission: Mapping[str, Any]) -> str:
    """Update a student's status from a Classroom studentSubmission resource."""
    attachments = ((submission.get("assignmentSubmission") or {}).get("attachments")) or []
    student.files_received = len(attachments)
    state = str(submission.get("state", ""))
    if submission.get("late"):
        student.turned_in_late = True
    if state == "TURNED_IN":
        if student.turned_in_at is None:
            stamp = submission.get("updateTime")
            student.turned_in_at = (datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
                                    if stamp else datetime.now(UTC))
        if student.status != "decided":
            student.status = "turned_in"
    elif attachments and student.status in ("registered", "ticket_drawn", ""):
        student.status = "uploading"
    return f"submission {state.lower() or 'changed'}: {len(attachments)} file(s)"
