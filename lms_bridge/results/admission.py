"""Admission to the draw, one student at a time: the draw, then the student's ticket opened in Moodle.

The entry point for every caller (the session page's button, the sitting board, the API) is
:func:`admit_student`, which dispatches on the form of the exam: a test exam's admission opens its
closed quiz (``results/testexam.py``), an exam with a draw goes to :func:`admit_now`.

:func:`admit_now` checks the rules (``domain/admission.py``), takes the student's ticket from
the verifiable draw and commits it, all in one transaction, then queues :func:`open_ticket_job`,
which opens the ticket quiz in Moodle for that student alone with exactly that ticket (companion
plugin, ``local_lmsbridge_open_ticket``) and hands the ticket out in Classroom.

Journal keys: ``admission:<student id>`` (who admitted, when, the Moodle window, the last Moodle
failure) and ``moodle.admission:<student id>`` (the attempt Moodle started with the ticket).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.domain import admission as rules
from lms_bridge.domain.draw import DrawError
from lms_bridge.domain.kinds import rules_for
from lms_bridge.domain.timetable import TimetableError, plan_timetable
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.lease import LeaseHeld
from lms_bridge.remote import describe_error
from lms_bridge.results.draw import HandOutIncomplete, draw_ticket, hand_out_tickets
from lms_bridge.results.examday import current_exceptions
from lms_bridge.store.models import AuditEvent, ExamSession, JournalEntry, StudentRecord
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)

ADMISSION_PREFIX = "admission:"
MOODLE_PREFIX = "moodle.admission:"


def admission_key(student_ref: str) -> str:
    return f"{ADMISSION_PREFIX}{student_ref}"


def moodle_key(student_ref: str) -> str:
    return f"{MOODLE_PREFIX}{student_ref}"


@dataclass(frozen=True)
class Admission:
    """What :func:`admit_now` did, for the page and the board."""

    session_code: str
    student_ref: str
    ticket: int
    state: rules.AdmissionState
    admitted_at: datetime


def local_today(session: ExamSession, now: datetime) -> date:
    return now.astimezone(ZoneInfo(session.timezone)).date()


def sitting_days(session: ExamSession) -> dict[str, date]:
    """Student id -> the local date of the student's sitting day, from the timetable."""
    admitted = [s for s in session.students if s.active and s.admitted]
    try:
        table = plan_timetable([s.student_ref for s in admitted], session.starts_at, session.timezone,
                               preparation_minutes=session.preparation_minutes,
                               answer_minutes=session.answer_minutes)
    except TimetableError:
        return {}
    return {slot.student_id: slot.date for slot in table.slots}


def candidate(db: Session, session: ExamSession, student: StudentRecord, *,
              days: dict[str, date] | None = None) -> rules.Candidate:
    days = sitting_days(session) if days is None else days
    exception = current_exceptions(db, session).get(student.id)
    return rules.Candidate(
        student_id=student.student_ref, admitted=student.admitted, active=student.active,
        ticket=student.ticket_number, sitting_date=days.get(student.student_ref),
        exception=exception.kind if exception else None, moved_to=exception.moved_to if exception else None,
        continuation=exception.continuation if exception else "")


def state_of(db: Session, session: ExamSession, student: StudentRecord, *, now: datetime | None = None,
             days: dict[str, date] | None = None) -> rules.AdmissionState:
    """The student's admission state (see ``domain/admission.py``)."""
    at = now or datetime.now(UTC)
    opened = journal_entry(db, session.id, moodle_key(student.student_ref))
    pending = journal_entry(db, session.id, admission_key(student.student_ref))
    return rules.admission_state(
        candidate(db, session, student, days=days), today=local_today(session, at),
        moodle_open=opened is not None or bool(pending and pending.data.get("moodle") == "not_used"),
        moodle_failed=bool(pending and pending.data.get("failure")))


def admit(db: Session, session: ExamSession, student: StudentRecord, *, actor: str,
          now: Callable[[], datetime] = lambda: datetime.now(UTC), today: date | None = None) -> int:
    """Admit the student to the draw: check the rules, draw the ticket, journal and audit it.

    ``today``: the sitting day the admission is for (default: the local date of ``now``).
    Raises :class:`~lms_bridge.domain.admission.AdmissionError` (nothing is changed then).
    Does not commit; returns the ticket.
    """
    at = now()
    if session.status == "imported":
        # Nothing in Moodle or Classroom to hand the ticket out through yet.
        raise rules.AdmissionError("not_provisioned", _("Provision the session first."))
    rules.check_admission(candidate(db, session, student),
                          today=local_today(session, at) if today is None else today,
                          sealed=session.status == "sealed")
    try:
        ticket = draw_ticket(db, session, student, now=lambda: at)
    except DrawError as exc:
        raise rules.AdmissionError("draw", str(exc)) from exc
    window = rules.quiz_window(at, session.preparation_minutes)
    db.add(JournalEntry(session_id=session.id, step="admission", key=admission_key(student.student_ref),
                        external_id=student.student_ref,
                        data={"by": actor, "at": at.isoformat(), "ticket": ticket,
                              "opens": window.opens.isoformat(), "closes": window.closes.isoformat()}))
    db.add(AuditEvent(session_id=session.id, actor=actor, action="admission.admitted",
                      detail={"student": student.student_ref, "ticket": ticket}))
    db.flush()
    return ticket


def admit_now(queue: JobQueue, code: str, student_ref: str, actor: str, *,
              now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Admission:
    """Admit one student to the draw (the red/green button) and open the ticket in Moodle.

    The draw is committed before any outside call, so Moodle or Classroom failing never undoes
    it; :func:`open_ticket_job` then opens the student's ticket (retried on failure).

    Raises ``LookupError`` for an unknown session or student and
    :class:`~lms_bridge.domain.admission.AdmissionError` when the rules refuse.
    """
    with queue.transaction() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == code))
        if session is None:
            raise LookupError(code)
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                        StudentRecord.student_ref == student_ref))
        if student is None:
            raise LookupError(student_ref)
        ticket = admit(db, session, student, actor=actor, now=now)
        at = student.ticket_drawn_at or now()
        session_id = session.id
        db.commit()
    open_ticket_job.enqueue(session_id, student_ref)
    with queue.sessions() as db:
        session = db.get(ExamSession, session_id)
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session_id,
                                                        StudentRecord.student_ref == student_ref))
        state = state_of(db, session, student, now=now())
    return Admission(session_code=code, student_ref=student_ref, ticket=ticket, state=state, admitted_at=at)


@dataclass(frozen=True)
class Admitted:
    """What :func:`admit_student` did: a ticket drawn, or (a test exam) the test quiz opened."""

    ticket: int | None
    state: str
    test_quiz: bool = False


def admit_student(queue: JobQueue, code: str, student_ref: str, actor: str, *,
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Admitted:
    """Admit one student, whatever the form of the exam: the one dispatch behind the session page's
    button, the sitting board's Admit and the API.

    A test exam opens its closed quiz for the student alone (:func:`lms_bridge.results.testexam.admit_now`);
    an exam with a draw draws the ticket (:func:`admit_now`); a form with neither (a defense, a creative
    exam) refuses.  Raises ``LookupError`` for an unknown session or student and
    :class:`~lms_bridge.domain.admission.AdmissionError` when the admission is refused or Moodle fails.
    """
    with queue.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == code))
        if session is None:
            raise LookupError(code)
        kind_rules = rules_for(session.kind)
    if kind_rules.test_quiz:
        from lms_bridge.results import testexam

        try:
            testexam.admit_now(queue, code, student_ref, actor)
        except LookupError:
            raise
        except testexam.TestExamRefused as exc:
            raise rules.AdmissionError("test_refused", str(exc)) from exc
        except Exception as exc:  # Moodle: nothing was recorded, the secretary may try again
            logger.exception("admitting %s to the test of %s failed", student_ref, code)
            raise rules.AdmissionError("moodle", _("Moodle could not be reached: %(reason)s",
                                                   reason=describe_error(exc))) from exc
        return Admitted(ticket=None, state="test_open", test_quiz=True)
    if not kind_rules.tickets:
        raise rules.AdmissionError("no_draw", _("This form of the exam has no tickets and no draw."))
    done = admit_now(queue, code, student_ref, actor, now=now)
    return Admitted(ticket=done.ticket, state=done.state.value)


class TicketNotOpened(RuntimeError):
    """Moodle could not open the student's ticket (the job is retried; the page shows why)."""


def open_in_moodle(db: Session, session: ExamSession, student: StudentRecord, ops: Any) -> str:
    """Open the drawn ticket for the student in Moodle; returns what was done.

    Only with the companion plugin: without it Moodle cannot be told which question to show, and
    a quiz that picks by itself would draw a second, unverifiable ticket, so the quiz stays closed
    and the ticket reaches the student through Classroom alone.
    """
    pending = journal_entry(db, session.id, admission_key(student.student_ref))
    if pending is None or student.ticket_number is None:
        raise LookupError("the student is not admitted to the draw")
    done = journal_entry(db, session.id, moodle_key(student.student_ref))
    if done is not None:
        return "already open"
    tickets = journal_entry(db, session.id, "moodle.tickets")
    user = journal_entry(db, session.id, f"moodle.user:{student.email}")
    if tickets is None or tickets.data.get("mode") != "plugin":
        pending.data = {**pending.data, "moodle": "not_used", "failure": None}
        return "moodle not used"
    if user is None:
        from lms_bridge.moodle.steps import CONFLICT_PREFIX, conflict_message

        conflict = journal_entry(db, session.id, f"{CONFLICT_PREFIX}{student.email}")
        if conflict is not None and not conflict.data.get("resolved"):
            raise TicketNotOpened(conflict_message(conflict.data))
        raise TicketNotOpened(f"{student.email} has no Moodle account yet; run the provisioning again")
    opens = datetime.fromisoformat(pending.data["opens"])
    closes = datetime.fromisoformat(pending.data["closes"])
    out = ops.open_ticket(int(tickets.data["quizid"]), int(user.external_id), student.ticket_number,
                          timeopen=int(opens.timestamp()), timeclose=int(closes.timestamp()))
    if int(out.get("ticketnumber", 0)) != student.ticket_number:
        raise TicketNotOpened(f"Moodle opened ticket {out.get('ticketnumber')} instead of {student.ticket_number}")
    db.add(JournalEntry(session_id=session.id, step="admission", key=moodle_key(student.student_ref),
                        external_id=str(out["attemptid"]),
                        data={"ticket": student.ticket_number, "questionid": int(out["questionid"]),
                              "overrideid": int(out["overrideid"]), "created": bool(out.get("created"))}))
    pending.data = {**pending.data, "moodle": "open", "failure": None}
    db.add(AuditEvent(session_id=session.id, actor="moodle", action="admission.ticket_opened",
                      detail={"student": student.student_ref, "ticket": student.ticket_number,
                              "attempt": int(out["attemptid"])}))
    db.flush()
    return "opened"


def _ops(b: Any) -> Any:
    from lms_bridge.moodle.operations import MoodleOps

    return b.moodle if isinstance(b.moodle, MoodleOps) else MoodleOps(b.moodle, b.settings.moodle)


def _open_or_record(db: Session, session: ExamSession, student: StudentRecord, b: Any) -> str | None:
    """Open the student's ticket in Moodle and commit; on failure keep why (for the page) and
    return it."""
    failure: str | None = None
    try:
        open_in_moodle(db, session, student, _ops(b))
    except Exception as exc:  # recorded for the page, then retried
        db.rollback()
        failure = describe_error(exc)
        logger.warning("opening the ticket of %s in Moodle failed: %s", student.student_ref, failure)
        pending = journal_entry(db, session.id, admission_key(student.student_ref))
        if pending is not None:
            pending.data = {**pending.data, "failure": failure}
    db.commit()
    return failure


def open_all_in_moodle(db: Session, session: ExamSession, students: list[StudentRecord], b: Any) -> dict[str, str]:
    """Open in Moodle the ticket of every admitted student whose ticket is not open yet; returns
    student id -> why it failed.  One student's failure never stops the others."""
    failures: dict[str, str] = {}
    for student in students:
        if journal_entry(db, session.id, admission_key(student.student_ref)) is None:
            continue
        if journal_entry(db, session.id, moodle_key(student.student_ref)) is not None:
            continue
        failure = _open_or_record(db, session, student, b)
        if failure:
            failures[student.student_ref] = failure
    return failures


@job(retries=5, retry_delay=20.0, name="results.open_ticket")
def open_ticket_job(queue: JobQueue, session_id: int, student_ref: str) -> None:
    """Open the admitted student's ticket in Moodle and hand it out in Classroom.

    Safe to run again: an opened ticket and a made assignment are reused.  A Moodle failure is kept
    in the admission's journal entry (shown on the page) and the job is retried.

    The ticket opens in the tickets quiz and for the Moodle account the provisioning run makes: the
    job works under the session's lease, and while a run holds it the job waits in the queue.
    """
    with queue.sessions() as db:
        session = db.get(ExamSession, session_id)
        code = session.code if session is not None else None
    if code is None:
        return
    try:
        with queue.session_lease(code):
            _open_ticket(queue, session_id, student_ref)
    except LeaseHeld as held:
        logger.info("the ticket of %s waits for the provisioning run: %s", student_ref, held.message)
        open_ticket_job.enqueue(session_id, student_ref, delay=queue.busy_delay)


def _open_ticket(queue: JobQueue, session_id: int, student_ref: str) -> None:
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        student = None if session is None else db.scalar(select(StudentRecord).where(
            StudentRecord.session_id == session_id, StudentRecord.student_ref == student_ref))
        if session is None or student is None:
            return
        b = backends(queue)
        failure = _open_or_record(db, session, student, b)
        google_failures = hand_out_tickets(db, session, [student], b.google)
        if failure:
            raise TicketNotOpened(failure)
        if google_failures:
            raise HandOutIncomplete(google_failures)


def admission_states(db: Session, session: ExamSession, *, now: datetime | None = None,
                     exceptions: dict[int, Any] | None = None,
                     ) -> dict[str, tuple[rules.AdmissionState, str]]:
    """Every active student's admission state and the last Moodle failure, in a few queries (the
    session page and the sitting board show all students at once)."""
    from lms_bridge.store.repo import journal_entries

    at = now or datetime.now(UTC)
    today = local_today(session, at)
    days = sitting_days(session)
    if exceptions is None:  # the caller may have read them already (the students table has)
        exceptions = current_exceptions(db, session)
    pending = {e.key.removeprefix(ADMISSION_PREFIX): e for e in journal_entries(db, session.id, ADMISSION_PREFIX)}
    opened = {e.key.removeprefix(MOODLE_PREFIX) for e in journal_entries(db, session.id, MOODLE_PREFIX)}
    out: dict[str, tuple[rules.AdmissionState, str]] = {}
    for student in session.students:
        if not student.active:
            continue
        exc = exceptions.get(student.id)
        cand = rules.Candidate(
            student_id=student.student_ref, admitted=student.admitted, active=student.active,
            ticket=student.ticket_number, sitting_date=days.get(student.student_ref),
            exception=exc.kind if exc else None, moved_to=exc.moved_to if exc else None,
            continuation=exc.continuation if exc else "")
        entry = pending.get(student.student_ref)
        failure = str((entry.data.get("failure") if entry else None) or "")
        out[student.student_ref] = (rules.admission_state(
            cand, today=today,
            moodle_open=student.student_ref in opened or bool(entry and entry.data.get("moodle") == "not_used"),
            moodle_failed=bool(failure)), failure)
    return out


def draw_day(days: dict[str, date], today: date) -> date | None:
    """The sitting day whose students a "Draw tickets" draws for: today, when today is a sitting day
    of the session; otherwise none (no early draw, and students of a later day draw on their day)."""
    return today if today in set(days.values()) else None


@job(retries=5, retry_delay=30.0, name="results.draw_tickets")
def draw_tickets(queue: JobQueue, session_id: int) -> None:
    """Admit to the draw every admitted student of the sitting day who has no ticket, in the
    timetable's order: each draws verifiably, the ticket opens in Moodle for that student alone and
    becomes the student's own Classroom assignment.  Safe to run again: a drawn ticket is never drawn
    twice, an opened attempt and a made assignment are reused."""
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            return
        students = list(db.scalars(select(StudentRecord).where(
            StudentRecord.session_id == session_id, StudentRecord.admitted.is_(True),
            StudentRecord.active.is_(True)).order_by(StudentRecord.position)))
        at = datetime.now(UTC)
        days = sitting_days(session)
        day = draw_day(days, local_today(session, at))
        for student in students:
            if student.ticket_number is None and day is not None:
                try:
                    # The rules of admission for the day the batch draws for: a student of another day
                    # (by the timetable, or moved there after a valid-reason absence) does not draw now.
                    admit(db, session, student, actor="draw", now=lambda: at, today=day)
                except rules.AdmissionError:
                    continue
        # The draws are committed before any outside call: a failing Moodle or Classroom never undoes a draw.
        db.commit()
        try:
            # The outside calls under the session's lease (see open_ticket_job); while a run holds
            # it the job comes back later, its draws kept.
            with queue.session_lease(session.code):
                b = backends(queue)
                open_all_in_moodle(db, session, students, b)
                google = b.google
                # Every student gets a try, whoever failed before; the failures show on the session page
                # and the job is retried for them.
                failures = hand_out_tickets(db, session, students, google)
        except LeaseHeld as held:
            logger.info("the tickets of %s wait for the provisioning run: %s", session.code, held.message)
            draw_tickets.enqueue(session_id, delay=queue.busy_delay)
            return
        if failures:
            raise HandOutIncomplete(failures)


def failure_reason(db: Session, session: ExamSession, student: StudentRecord) -> str | None:
    """Why the last attempt to open the student's ticket in Moodle failed, if it did."""
    pending = journal_entry(db, session.id, admission_key(student.student_ref))
    return (pending.data.get("failure") if pending else None) or None


__all__ = [
    "Admission",
    "TicketNotOpened",
    "admission_key",
    "admission_states",
    "admit",
    "admit_now",
    "candidate",
    "draw_day",
    "draw_tickets",
    "moodle_key",
    "open_all_in_moodle",
    "open_in_moodle",
    "open_ticket_job",
    "sitting_days",
    "state_of",
]
