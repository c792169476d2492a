"""The secretary's exam-day actions in the store: exceptions, the commission's decision, the
chair's release.  The rules are in :mod:`lms_bridge.domain.examday`; each function here records
what they allow, with an AuditEvent, and commits nothing itself (the caller's transaction does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain import examday as rules
from lms_bridge.domain.ballots import OutcomeStatus
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.timetable import Timetable, TimetableError, plan_timetable
from lms_bridge.i18n import gettext as _
from lms_bridge.results.ballots import WRITEBACK_TARGETS, tally_student
from lms_bridge.store.models import (
    AuditEvent,
    DecisionRecord,
    ExamSession,
    StudentExceptionRecord,
    StudentRecord,
    WritebackRecord,
)


def _scale(session: ExamSession) -> GradeScale:
    return GradeScale.load(session.grading.get("scale", "kz_letter"))


def _refuse_when_sealed(session: ExamSession) -> None:
    if session.status == "sealed":
        raise rules.ExamDayError(_("The session is sealed; nothing can change any more."))


def current_exceptions(db: Session, session: ExamSession) -> dict[int, StudentExceptionRecord]:
    """The newest exception of each student of the session, by student id."""
    rows = db.scalars(select(StudentExceptionRecord).where(StudentExceptionRecord.session_id == session.id)
                      .order_by(StudentExceptionRecord.recorded_at, StudentExceptionRecord.id))
    return {r.student_id: r for r in rows}


def day_states(db: Session, session: ExamSession) -> list[rules.StudentDayState]:
    decided = set(db.scalars(select(DecisionRecord.student_id).where(DecisionRecord.session_id == session.id)))
    exceptions = current_exceptions(db, session)
    states = []
    for s in db.scalars(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                    StudentRecord.active.is_(True))
                        .order_by(StudentRecord.position)):
        exc = exceptions.get(s.id)
        states.append(rules.StudentDayState(s.student_ref, s.name, s.admitted, s.id in decided,
                                            rules.ExceptionKind(exc.kind) if exc else None))
    return states


def _table(session: ExamSession) -> Timetable:
    admitted = [s.student_ref for s in session.students if s.active and s.admitted]
    return plan_timetable(admitted, session.starts_at, session.timezone,
                          preparation_minutes=session.preparation_minutes, answer_minutes=session.answer_minutes)


def _next_day(session: ExamSession, student: StudentRecord) -> date | None:
    try:
        return rules.next_sitting_day(_table(session), student.student_ref)
    except (TimetableError, KeyError):
        return None


def continuation_days(session: ExamSession, student: StudentRecord) -> list[date]:
    """The days the commission may continue ``student``'s exam on after a technical failure, other
    than later the same day (the next sitting day first); empty when the timetable cannot say."""
    try:
        return rules.continuation_days(_table(session), student.student_ref)
    except (TimetableError, KeyError):
        return []


def continuation_days_by_ref(session: ExamSession) -> dict[str, list[date]]:
    """:func:`continuation_days` of every admitted student, by student id (one timetable)."""
    try:
        table = _table(session)
    except TimetableError:
        return {}
    return {slot.student_id: rules.continuation_days(table, slot.student_id) for slot in table.slots}


def record_exception(db: Session, session: ExamSession, student: StudentRecord, kind: str, *, reason: str,
                     actor: str, chair_consent: bool = False, continuation: str | None = None,
                     continue_on: date | None = None) -> StudentExceptionRecord:
    """Record an exception for ``student`` (raises :class:`ExamDayError` when the rules refuse).

    ``continue_on``: after a technical failure, the commission continues on that sitting day (one of
    :func:`continuation_days`) instead of later the same day; the student is identified, admitted and
    draws there (a ticket already drawn stays theirs)."""
    _refuse_when_sealed(session)
    if not student.admitted:
        raise rules.ExamDayError(_("The student is not admitted to this sitting."))
    if db.scalar(select(DecisionRecord.id).where(DecisionRecord.student_id == student.id)) is not None:
        raise rules.ExamDayError(_("The student already has a decision; an exception cannot replace it."))
    kind = rules.ExceptionKind(kind)
    next_day = _next_day(session, student) if kind is rules.ExceptionKind.ABSENT_VALID else None
    outcome = rules.exception_outcome(kind, reason=reason, scale=_scale(session), next_day=next_day,
                                      chair_consent=chair_consent, continuation=continuation,
                                      scores=(student.current_score, student.midterm_score),
                                      continue_on=continue_on,
                                      continue_days=continuation_days(session, student) if continue_on else ())
    record = StudentExceptionRecord(
        session_id=session.id, student_id=student.id, kind=str(kind), reason=reason.strip(),
        mark=outcome.mark or "", moved_to=outcome.moved_to,
        continuation=str(outcome.continuation) if outcome.continuation else "",
        recorded_by=actor, recorded_at=datetime.now(UTC))
    db.add(record)
    student.status = str(kind)
    if kind is rules.ExceptionKind.CUMULATIVE and outcome.mark and outcome.points is not None:
        # The cumulative grade is the student's grade (003 §24): written like a decided grade, a
        # draft everywhere until the chair's release (lms_bridge.results.writeback), released with
        # the rest, and marked as the cumulative grade in the protocol and the grade sheet.
        band = _scale(session).band(outcome.mark)
        decision = DecisionRecord(
            session_id=session.id, student_id=student.id, rule="cumulative", letter=band.letter,
            points=outcome.points, gpa=float(band.gpa),
            votes={"cumulative": {"current": student.current_score, "midterm": student.midterm_score,
                                  "points": outcome.points}},
            degree_award=None, degree_totals={}, decided_at=datetime.now(UTC), closed_by=actor,
            source="cumulative", commission_reason="")
        db.add(decision)
        db.flush()
        for target in WRITEBACK_TARGETS:
            db.add(WritebackRecord(decision_id=decision.id, target=target, status="pending"))
    db.add(AuditEvent(session_id=session.id, actor=actor, action="exception.recorded", detail={
        "student": student.student_ref, "kind": str(kind), "reason": record.reason, "mark": record.mark,
        "moved_to": outcome.moved_to.isoformat() if outcome.moved_to else None,
        "continuation": record.continuation, "chair_consent": chair_consent, "points": outcome.points}))
    db.flush()
    return record


def decide_by_commission(db: Session, session: ExamSession, student: StudentRecord, letter: str, *,
                         reason: str, actor: str) -> DecisionRecord:
    """The commission's decision when the closed vote cannot decide, entered on the chair's word."""
    _refuse_when_sealed(session)
    result = tally_student(db, session, student, closed_by=actor)
    if result.decision is not None:
        raise rules.ExamDayError(_("The vote has decided already; the commission's decision is not needed."))
    if result.outcome.status is OutcomeStatus.PENDING:
        raise rules.ExamDayError(_("Close the vote first."))
    scale = _scale(session)
    decided = rules.commission_decision(result.outcome, letter, reason, scale)
    degree = result.outcome.degree
    summary = {"status": str(result.outcome.status), "rule": str(result.outcome.rule),
               "letter": decided.letter, "votes_cast": result.outcome.votes_cast,
               "voters": result.outcome.voters, "quorum": result.outcome.quorum,
               "letter_counts": dict(result.outcome.letter_counts), "per_member": dict(result.outcome.per_member),
               "reason": decided.reason}
    decision = DecisionRecord(
        session_id=session.id, student_id=student.id, rule=str(result.outcome.rule), letter=decided.letter,
        points=decided.points, gpa=decided.gpa, votes=summary,
        # The degree vote of the ballots stands, but never with a failing letter.
        degree_award=rules.degree_award(decided.letter, degree.awarded if degree else None, scale)
        if degree is not None else None,
        degree_totals=({"yes": degree.yes, "no": degree.no, "blank": degree.blank} if degree else {}),
        decided_at=datetime.now(UTC), closed_by=actor, source="commission", commission_reason=decided.reason)
    db.add(decision)
    db.flush()
    for target in WRITEBACK_TARGETS:
        db.add(WritebackRecord(decision_id=decision.id, target=target, status="pending"))
    student.status = "decided"
    db.add(AuditEvent(session_id=session.id, actor=actor, action="decision.by_commission", detail={
        "student": student.student_ref, "letter": decision.letter, "vote": str(decided.vote_status),
        "reason": decided.reason}))
    db.flush()
    return decision


def release_results(db: Session, session: ExamSession, *, actor: str, now: datetime | None = None) -> list[int]:
    """Record the chair's release; returns the decisions whose write-backs may now go."""
    _refuse_when_sealed(session)
    rules.may_release(day_states(db, session), already_released=session.released_at is not None)
    session.released_at = now or datetime.now(UTC)
    session.released_by = actor
    ids = list(db.scalars(select(DecisionRecord.id).where(DecisionRecord.session_id == session.id)
                          .order_by(DecisionRecord.id)))
    db.add(AuditEvent(session_id=session.id, actor=actor, action="results.released",
                      detail={"decisions": len(ids)}))
    db.flush()
    return ids
