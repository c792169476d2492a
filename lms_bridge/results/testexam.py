"""A test exam's sitting (004 test §2-9): the secretary admits each student to the closed Moodle quiz,
Moodle scores the attempt, the score is read back, and the final grade follows from the admission
rating and the exam points (``lms_bridge.domain.testexam``): an exam score under the threshold fails
automatically.  The commission votes only when the session asks; otherwise the decision is the
score's, recorded like any other decision and written back after the chair's release.

A lost connection: the secretary gives the student back the time lost, the same attempt, its saved
answers and the time already used kept, by a user override, at most ``exams.test_reconnect_hours``
after the attempt started; it is recorded as an incident (an audit event and a journal entry).

Journal keys: ``testexam.admit:<student id>`` (the override opening the quiz), ``testexam.reconnect:<student
id>`` (the incident and the override that resumed the attempt).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.config import Settings
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.kinds import commission_votes, rules_for
from lms_bridge.domain.testexam import TestExamSettings, score_test_exam
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.moodle.operations import plan_resume
from lms_bridge.moodle.testquiz import finished_score, open_for
from lms_bridge.store.models import (
    AuditEvent,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    StudentRecord,
    WritebackRecord,
)
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)

QUIZ_KEY = "moodle.test_quiz"
WRITEBACK_TARGETS = ("sheet", "moodle", "classroom")
# Admission leaves this much room after the time limit before the window closes (late joiners
# still get their full time: Moodle ends an attempt at timestart + timelimit or at timeclose).
ADMISSION_GRACE_SECONDS = 15 * 60


class TestExamRefused(RuntimeError):
    """The action cannot be taken; the message says why in plain words."""

    __test__ = False


def exam_settings(settings: Settings) -> TestExamSettings:
    e = settings.exams
    return TestExamSettings(questions=e.test_questions, points_per_question=e.test_points_per_question,
                            admission_max=e.test_admission_max, pass_threshold=e.test_pass_threshold,
                            minutes=e.test_minutes)


def _quiz(db: Session, session: ExamSession) -> JournalEntry:
    if not rules_for(session.kind).test_quiz:
        raise TestExamRefused(_("Session %(code)s is not a test exam.", code=session.code))
    entry = journal_entry(db, session.id, QUIZ_KEY)
    if entry is None:
        raise TestExamRefused(_("The test quiz is not in Moodle yet: provision the session first."))
    return entry


def _userid(db: Session, session: ExamSession, student: StudentRecord) -> int:
    entry = journal_entry(db, session.id, f"moodle.user:{student.email}")
    if entry is None:
        raise TestExamRefused(_("%(student)s has no Moodle account yet: provision the session first.",
                                student=student.name))
    return int(entry.external_id)


def _remember(db: Session, session: ExamSession, key: str, external_id: str, data: dict[str, Any]) -> None:
    entry = journal_entry(db, session.id, key)
    if entry is None:
        db.add(JournalEntry(session_id=session.id, step="testexam", key=key, external_id=external_id, data=data))
    else:
        entry.external_id, entry.data = external_id, {**entry.data, **data}
    db.flush()


def admit_to_test(db: Session, session: ExamSession, student: StudentRecord, ops: Any, settings: Settings, *,
                  actor: str, now: datetime) -> int:
    """Open the closed quiz for one admitted student from now on: time limit, attempts and a window
    of the limit plus a grace period.  Returns the override's id (the same one when admitted again)."""
    if not (student.admitted and student.active):
        raise TestExamRefused(_("%(student)s is not admitted to the session.", student=student.name))
    quiz = _quiz(db, session)
    userid = _userid(db, session, student)
    start = int(now.timestamp())
    limit = int(quiz.data["timelimit"])
    override = open_for(ops, int(quiz.external_id), userid, timeopen=start,
                        timeclose=start + limit + ADMISSION_GRACE_SECONDS, timelimit=limit,
                        attempts=int(quiz.data.get("attempts", 1)))
    _remember(db, session, f"testexam.admit:{student.student_ref}", str(override),
              {"at": now.isoformat(), "by": actor, "timeclose": start + limit + ADMISSION_GRACE_SECONDS})
    if student.status in ("registered", "invited", "enrolled"):
        student.status = "answering"
    db.add(AuditEvent(session_id=session.id, at=now, actor=actor, action="testexam.admitted",
                      detail={"student": student.student_ref, "override": override}))
    db.flush()
    return override


def reconnect(db: Session, session: ExamSession, student: StudentRecord, ops: Any, settings: Settings, *,
              actor: str, now: datetime, reason: str = "") -> int:
    """Give the student back the time lost while disconnected (004 test §8-9): the same attempt, its
    answers and the time already used kept.  The time used is counted up to the attempt's last save
    (Moodle's ``timemodified``); the override's window ends ``exams.test_reconnect_hours`` after the
    attempt started.  Recorded as an incident."""
    quiz = _quiz(db, session)
    userid = _userid(db, session, student)
    attempts = ops.attempts(int(quiz.external_id), userid)
    if not attempts:
        raise TestExamRefused(_("%(student)s has not started the test; admit the student instead.",
                                student=student.name))
    last = max(attempts, key=lambda a: int(a.get("attempt", 0)))
    if last.get("state") not in ("inprogress", "overdue"):
        # Moodle submitted the attempt when its time ran out (autosubmit): its points stand, and a new
        # attempt would draw new questions.  The commission decides (003 §31).
        raise TestExamRefused(_("Moodle has already closed the attempt of %(student)s (the time ran out or it was "
                                "submitted); its points stand. The commission decides whether the student "
                                "continues another time.", student=student.name))
    at = int(now.timestamp())
    timestart = int(last["timestart"])
    window_end = timestart + 3600 * settings.exams.test_reconnect_hours
    time_used = max(0, int(last.get("timemodified") or timestart) - timestart)
    limit = int(quiz.data["timelimit"])
    try:
        plan = plan_resume(timelimit=limit, timestart=timestart, time_used=time_used, now=at, window_end=window_end,
                           attempts_used=len(attempts), attempts_allowed=int(quiz.data.get("attempts", 1)),
                           attempt_open=True)
    except ValueError:
        raise TestExamRefused(_("The test of %(student)s cannot be continued: more than %(hours)s hours have passed "
                                "since it started, or no time is left.", student=student.name,
                                hours=settings.exams.test_reconnect_hours)) from None
    override = open_for(ops, int(quiz.external_id), userid, timeopen=timestart, timeclose=plan.timeclose,
                        timelimit=plan.timelimit, attempts=plan.attempts)
    detail = {"student": student.student_ref, "attempt": int(last["id"]), "time_used": time_used,
              "remaining": limit - time_used, "timelimit": plan.timelimit, "reason": reason}
    key = f"testexam.reconnect:{student.student_ref}"
    previous = journal_entry(db, session.id, key)
    history = list((previous.data.get("incidents") if previous else None) or [])
    history.append({"at": now.isoformat(), "by": actor, **detail})
    _remember(db, session, key, str(override), {"incidents": history})
    db.add(AuditEvent(session_id=session.id, at=now, actor=actor, action="testexam.reconnected", detail=detail))
    db.flush()
    return override


@dataclass(frozen=True)
class ScoreRead:
    student_ref: str
    state: str
    points: float | None
    decided: bool
    # The decision this read recorded (None when it was recorded before, or none is due): its draft
    # write-backs are to be enqueued once the transaction commits.
    new_decision: int | None = None


def read_scores(db: Session, session: ExamSession, ops: Any, settings: Settings) -> list[ScoreRead]:
    """Read each admitted student's attempt from Moodle (the poll); record the score, and the decision
    when the commission does not vote."""
    quiz = _quiz(db, session)
    out: list[ScoreRead] = []
    students = db.scalars(select(StudentRecord).where(
        StudentRecord.session_id == session.id, StudentRecord.admitted.is_(True), StudentRecord.active.is_(True))
        .order_by(StudentRecord.position))
    for student in students:
        user = journal_entry(db, session.id, f"moodle.user:{student.email}")
        if user is None:
            continue
        attempts = ops.attempts(int(quiz.external_id), int(user.external_id))
        _note_start(db, session, student, attempts)
        state, points = finished_score(attempts)
        if state and state != student.attempt_state:
            student.attempt_state = state
        if points is not None and student.attempt_score != points:
            student.attempt_score = points
        had = db.scalar(select(DecisionRecord.id).where(DecisionRecord.student_id == student.id))
        decision = decide(db, session, student, settings) if points is not None else None
        out.append(ScoreRead(student.student_ref, state, points, decision is not None,
                             decision.id if decision is not None and had is None else None))
    db.flush()
    return out


def _note_start(db: Session, session: ExamSession, student: StudentRecord, attempts: list[dict[str, Any]]) -> None:
    """Keep when the student's attempt started (on the admission's journal entry), for the board's
    time left."""
    if not attempts:
        return
    last = max(attempts, key=lambda a: int(a.get("attempt", 0)))
    started = int(last.get("timestart") or 0)
    entry = journal_entry(db, session.id, f"testexam.admit:{student.student_ref}")
    if started and entry is not None and entry.data.get("started") != started:
        entry.data = {**entry.data, "started": started}


def board_states(db: Session, session: ExamSession, now: datetime, settings: Settings) -> dict[int, Any]:
    """Student id -> where the student's test is (``lms_bridge.domain.sitting.quiz_state``), from the
    admissions, the attempts as last read from Moodle (push or poll) and the reconnections (which give
    back time: the attempt then ends at its start plus the override's time limit)."""
    from lms_bridge.domain.sitting import quiz_state
    from lms_bridge.store.repo import journal_entries

    quiz = journal_entry(db, session.id, QUIZ_KEY)
    limit = 60 * settings.exams.test_minutes
    if quiz is not None:
        limit = int(quiz.data.get("timelimit", limit))
    admits = {e.key.split(":", 1)[1]: e.data for e in journal_entries(db, session.id, "testexam.admit:")}
    again = incidents(db, session)
    exam_max = exam_settings(settings).exam_max
    out: dict[int, Any] = {}
    for st in session.students:
        if not (st.active and st.admitted):
            continue
        admit = admits.get(st.student_ref) or {}
        try:
            admitted_at = datetime.fromisoformat(str(admit["at"])) if admit.get("at") else None
        except ValueError:
            admitted_at = None
        started = datetime.fromtimestamp(int(admit["started"]), UTC) if admit.get("started") else None
        last = (again.get(st.student_ref) or [{}])[-1]
        ends = (started + timedelta(seconds=int(last.get("timelimit") or limit))) if started else None
        out[st.id] = quiz_state(admitted_at=admitted_at, attempt_state=st.attempt_state or "",
                                attempt_started_at=started, attempt_ends_at=ends, score=st.attempt_score, now=now,
                                limit_minutes=limit // 60, exam_max=exam_max)
    return out


def decide(db: Session, session: ExamSession, student: StudentRecord, settings: Settings) -> DecisionRecord | None:
    """The score's decision: admission rating + exam points, an automatic fail under the threshold.
    None when the commission votes (the score only informs it) or nothing is to decide yet."""
    if commission_votes(session.kind, (session.options or {}).get("commission_vote")):
        return None
    existing = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == student.id))
    if existing is not None or student.attempt_score is None or student.admission_rating is None:
        return existing
    scale = GradeScale.load((session.grading or {}).get("scale", "kz_letter"))
    result = score_test_exam(student.admission_rating, scale, exam_points=student.attempt_score,
                             settings=exam_settings(settings))
    decision = DecisionRecord(
        session_id=session.id, student_id=student.id, rule="test", letter=result.letter, points=result.total,
        gpa=float(result.band.gpa),
        votes={"admission_rating": result.admission_rating, "exam_points": result.exam_points,
               "auto_failed": result.auto_failed, "pass_threshold": settings.exams.test_pass_threshold},
        decided_at=datetime.now(UTC), closed_by="", source="test")
    db.add(decision)
    db.flush()
    for target in WRITEBACK_TARGETS:
        db.add(WritebackRecord(decision_id=decision.id, target=target, status="pending"))
    student.status = "decided"
    db.add(AuditEvent(session_id=session.id, actor="moodle", action="decision.test_score",
                      detail={"student": student.student_ref, "letter": decision.letter, "total": result.total,
                              "exam_points": result.exam_points, "auto_failed": result.auto_failed}))
    db.flush()
    return decision


def score_from_push(db: Session, payload: dict[str, Any], backends_factory: Any) -> tuple[int, ...]:
    """A submitted attempt announced by the companion plugin's webhook: read that student's score at
    once (the poll is the safety net).  Returns the ids of the decisions it recorded."""
    if str(payload.get("event", "")) != "quiz_attempt_submitted":
        return ()
    session = db.scalar(select(ExamSession).where(ExamSession.code == str(payload.get("courseidnumber") or "")))
    if session is None or not rules_for(session.kind).test_quiz:
        return ()
    quiz = journal_entry(db, session.id, QUIZ_KEY)
    if quiz is None or int(payload.get("cmid") or 0) != int(quiz.data.get("cmid", -1)):
        return ()
    email = str(payload.get("useremail") or "").lower()
    student = next((s for s in session.students if s.email == email and s.active and s.admitted), None)
    user = journal_entry(db, session.id, f"moodle.user:{email}")
    if student is None or user is None:
        return ()
    from lms_bridge.moodle.operations import MoodleOps

    b = backends_factory()
    ops = MoodleOps(b.moodle, b.settings.moodle)
    attempts = ops.attempts(int(quiz.external_id), int(user.external_id))
    _note_start(db, session, student, attempts)
    state, points = finished_score(attempts)
    if state:
        student.attempt_state = state
    if points is None:
        return ()
    student.attempt_score = points
    decision = decide(db, session, student, b.settings)
    return (decision.id,) if decision is not None else ()


@periodic_job(crontab(minute="*/2"), name="results.poll_test_scores")
def poll_test_scores(queue: JobQueue) -> None:
    """Every two minutes, read the scores of the provisioned test exams from Moodle."""
    from lms_bridge.results.moodle_poll import poll_provisioned

    poll_provisioned(
        queue, lambda db, s: rules_for(s.kind).test_quiz and journal_entry(db, s.id, QUIZ_KEY) is not None,
        lambda db, session, ops, b: read_scores(db, session, ops, b.settings),
        what="reading the test scores", after=lambda read: _enqueue_drafts(queue, read))


# -- the page's actions: one transaction each, Moodle's clients from the queue's backends -------------------

def _ops(queue: JobQueue) -> tuple[Any, Settings]:
    from lms_bridge.moodle.operations import MoodleOps

    b = backends(queue)
    return MoodleOps(b.moodle, b.settings.moodle), b.settings


def _session_student(db: Session, code: str, ref: str) -> tuple[ExamSession, StudentRecord]:
    session = db.scalar(select(ExamSession).where(ExamSession.code == code))
    student = None if session is None else next(
        (s for s in session.students if s.student_ref == ref and s.active), None)
    if session is None or student is None:
        raise LookupError(f"no student {ref} in session {code}")
    return session, student


def admit_now(queue: JobQueue, code: str, ref: str, actor: str) -> int:
    with queue.transaction() as db:
        session, student = _session_student(db, code, ref)
        _quiz(db, session)  # says what is missing before any client is built
        ops, settings = _ops(queue)
        return admit_to_test(db, session, student, ops, settings, actor=actor, now=datetime.now(UTC))


def reconnect_now(queue: JobQueue, code: str, ref: str, actor: str, reason: str = "") -> int:
    with queue.transaction() as db:
        session, student = _session_student(db, code, ref)
        _quiz(db, session)
        ops, settings = _ops(queue)
        return reconnect(db, session, student, ops, settings, actor=actor, now=datetime.now(UTC), reason=reason)


def read_scores_now(queue: JobQueue, code: str) -> list[ScoreRead]:
    with queue.transaction() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == code))
        if session is None:
            raise LookupError(f"no session {code}")
        _quiz(db, session)
        ops, settings = _ops(queue)
        read = read_scores(db, session, ops, settings)
    _enqueue_drafts(queue, read)
    return read


def _enqueue_drafts(queue: JobQueue, read: list[ScoreRead]) -> None:
    """After the commit: the decisions the poll recorded get their draft write-backs (Moodle
    "readyforrelease", Classroom draftGrade, "provisional" on the sheet), as a pushed score's do
    (the job ``results.write_decision`` of :mod:`lms_bridge.results.jobs`, by its name)."""
    for r in read:
        if r.new_decision is not None:
            for target in WRITEBACK_TARGETS:
                queue.enqueue("results.write_decision", r.new_decision, target)


def incidents(db: Session, session: ExamSession) -> dict[str, list[dict[str, Any]]]:
    """Student id -> the reconnections recorded for them (for the page and the protocol)."""
    from lms_bridge.store.repo import journal_entries

    return {e.key.split(":", 1)[1]: list(e.data.get("incidents") or [])
            for e in journal_entries(db, session.id, "testexam.reconnect:")}
