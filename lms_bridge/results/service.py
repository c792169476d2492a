"""The work behind a delivery, a secretary's "close the vote" and the reconciliation sweep.

Each function takes the store session and the outside clients as arguments and commits nothing
itself; the job around it commits once, so a failure leaves the store as it was and the queue
retries the whole unit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.results.appeals import COURSE_KEY as APPEALS_COURSE
from lms_bridge.results.appeals import (
    appeal_for_form,
    appeal_settings,
    appeal_work_entry,
    refresh_appeal,
    sync_work,
)
from lms_bridge.results.ballots import FormLayout, TallyResult, record_responses, report_after_window, tally_student
from lms_bridge.results.submissions import apply_classroom_submission, apply_moodle_event
from lms_bridge.store.models import (
    AuditEvent,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    StudentRecord,
    WebhookDelivery,
    WritebackRecord,
)
from lms_bridge.store.repo import journal_entry, merge_entry_data

logger = logging.getLogger(__name__)

FORM_KEY_PREFIX = "forms.form:"
# Responses are fetched from a little before the newest one we hold: the Forms filter is on a
# timestamp whose exact field is not documented, and at-least-once delivery tolerates overlap.
CURSOR_OVERLAP = timedelta(minutes=2)


def form_layout(data: dict[str, Any], language: str) -> FormLayout:
    """The question ids the forms step kept in the journal; option texts are the scale's letters
    and the degree question's yes/no texts in the session language."""
    from lms_bridge.google.steps import degree_options

    questions = data.get("questions") or {}
    if "grade" not in questions:
        raise LookupError("the voting form is not configured yet (no grade question id in the journal)")
    yes, no = degree_options(language)
    return FormLayout(
        grade_question=str(questions["grade"]),
        grade_options={},  # options are the letters themselves
        degree_question=questions.get("degree"),
        degree_options={yes: True, no: False} if questions.get("degree") else None,
        comment_question=questions.get("comment"),
    )


def form_entry_for(db: Session, form_id: str) -> JournalEntry | None:
    return db.scalar(select(JournalEntry).where(JournalEntry.external_id == form_id,
                                                JournalEntry.key.startswith(FORM_KEY_PREFIX)))


def student_form(db: Session, session: ExamSession, student: StudentRecord) -> JournalEntry | None:
    return journal_entry(db, session.id, FORM_KEY_PREFIX + student.student_ref)


def refresh_form(db: Session, google: Any, entry: JournalEntry, *, closed_by: str = "",
                 close: bool = True) -> TallyResult | None:
    """Fetch the form's new responses, store them as ballots and re-count; close the form on a
    decision (``close=False``: the caller closes it after its commit, see ``results.close_form``)."""
    session = db.get(ExamSession, entry.session_id)
    student = db.scalar(select(StudentRecord).where(
        StudentRecord.session_id == entry.session_id,
        StudentRecord.student_ref == entry.key.removeprefix(FORM_KEY_PREFIX)))
    if session is None or student is None:
        return None
    cursor = entry.data.get("responses_cursor")
    since = datetime.fromisoformat(cursor) - CURSOR_OVERLAP if cursor else None
    responses = google.list_responses(entry.external_id, since=since)
    layout = form_layout(entry.data, session.language)
    record_responses(db, session, student, entry.external_id, layout, responses)
    stamps = [str(r.get("lastSubmittedTime") or r.get("createTime") or "") for r in responses]
    newest = max((s for s in stamps if s), default=None)
    if newest:
        newest_dt = datetime.fromisoformat(newest.replace("Z", "+00:00")).astimezone(UTC)
        if not cursor or newest_dt > datetime.fromisoformat(cursor):
            # Merged into the row as it is now: a provisioning run may be adding to it (sharing).
            entry = merge_entry_data(db, entry, responses_cursor=newest_dt.isoformat())
    result = tally_student(db, session, student, closed_by=closed_by)
    report_after_window(db, session, student)  # a written exam's ballot after its grading time: an incident
    if close and result.newly_decided and not entry.data.get("closed"):
        # Closed once the decision is recorded (issue: forms stop accepting responses then); a
        # ballot racing the close is still fetched, recorded and marked late.
        google.close_form(entry.external_id)
        entry = merge_entry_data(db, entry, closed=True)
    return result


@dataclass(frozen=True)
class Handled:
    """What one delivery did: a short note for the delivery row and the ids of the decisions it
    recorded (each needs its write-backs)."""

    note: str
    decisions: tuple[int, ...] = ()
    # Journal entries of voting forms to close now that their decision is recorded (after the commit).
    close: tuple[int, ...] = ()


def delivery_form_id(delivery: WebhookDelivery) -> str | None:
    """The form a Forms push is about (None for any other delivery)."""
    if delivery.source == "moodle" or not delivery.kind.startswith("forms."):
        return None
    form_id = (delivery.payload.get("attributes") or {}).get("formId")
    return str(form_id) if form_id else None


def refresh_form_by_id(db: Session, backends_factory: Any, form_id: str) -> Handled:
    """Refresh the voting form ``form_id`` (what a Forms push asks for)."""
    entry = form_entry_for(db, form_id)
    if entry is None:
        appeal = appeal_for_form(db, form_id)
        if appeal is not None:
            # The appeal commission's form (lms_bridge.results.appeals): counted the same way.
            session = db.get(ExamSession, appeal.session_id)
            assert session is not None
            tallied = refresh_appeal(db, backends_factory().google, session, appeal)
            return Handled(f"appeal tallied: {tallied.outcome.status}")
        return Handled("ignored: form not made by this service")
    # The form is closed by a job of its own after this commit: the Forms call (a write, on the
    # Forms quota) does not hold the store's transaction open nor the worker's next refresh back.
    result = refresh_form(db, backends_factory().google, entry, close=False)
    if result is None:
        return Handled("ignored: the form's student is gone")
    # Only the tally records decisions, and it says which one is new: nothing else to look up.
    decided = (result.decision.id,) if result.newly_decided and result.decision is not None else ()
    close = (entry.id,) if result.newly_decided and not entry.data.get("closed") else ()
    return Handled(f"tallied: {result.outcome.status}", decided, close)


def process_delivery(db: Session, delivery: WebhookDelivery, backends_factory: Any) -> Handled:
    """Do what one recorded delivery asks (see :class:`Handled`)."""
    if delivery.source == "moodle":
        from lms_bridge.results.testexam import score_from_push

        note = apply_moodle_event(db, delivery.payload)
        # A test exam's submitted attempt: its score is read at once (the poll is the safety net).
        return Handled(note, decisions=score_from_push(db, delivery.payload, backends_factory))
    attributes = delivery.payload.get("attributes") or {}
    if delivery.kind.startswith("forms."):
        return refresh_form_by_id(db, backends_factory, str(attributes.get("formId", "")))
    if delivery.kind == "classroom.courses.courseWork.studentSubmissions":
        data = delivery.payload.get("data") or {}
        resource = data.get("resourceId") or {}
        course_id, work_id = resource.get("courseId"), resource.get("courseWorkId")
        entry = db.scalar(select(JournalEntry).where(JournalEntry.external_id == str(course_id),
                                                     JournalEntry.key.in_(("classroom.course", APPEALS_COURSE))))
        if entry is None or not work_id:
            return Handled("ignored: course not made by this service")
        session = db.get(ExamSession, entry.session_id)
        assert session is not None
        google = backends_factory().google
        appeal_work = appeal_work_entry(db, str(course_id), str(work_id))
        if appeal_work is not None:
            # A student's "Appeal" assignment: a turn-in is a filing (lms_bridge.results.appeals).
            appeal = sync_work(db, google, session, appeal_work,
                               settings=appeal_settings(backends_factory().settings))
            return Handled(f"appeal {appeal.status}" if appeal is not None else "appeal: nothing handed in")
        notes = []
        for sub in google.classroom.list_submissions(str(course_id), str(work_id)):
            profile_email = _classroom_email(google, str(course_id), str(sub.get("userId", "")))
            student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                            StudentRecord.email == profile_email))
            if student is not None:
                notes.append(apply_classroom_submission(db, session, student, sub))
        return Handled("; ".join(notes) or "no known student")
    return Handled(f"ignored: {delivery.kind}")


def _classroom_email(google: Any, course_id: str, user_id: str) -> str:
    try:
        profile = google.classroom.get_student(course_id, user_id).get("profile") or {}
    except Exception:  # a student who left the course: nothing to update
        return ""
    return str(profile.get("emailAddress", "")).lower()


def close_vote(db: Session, google: Any, session: ExamSession, student: StudentRecord,
               actor: str) -> TallyResult:
    """The secretary closes a student's vote once quorum is met (R-VOTE-3)."""
    entry = student_form(db, session, student)
    if entry is None:
        raise LookupError("the student has no voting form yet; provision the session first")
    result = refresh_form(db, google, entry, closed_by=actor)
    assert result is not None
    db.add(AuditEvent(session_id=session.id, actor=actor, action="vote.closed",
                      detail={"student": student.student_ref, "outcome": str(result.outcome.status)}))
    return result


def pending_writebacks(db: Session) -> list[tuple[int, str]]:
    rows = db.execute(select(WritebackRecord.decision_id, WritebackRecord.target)
                      .where(WritebackRecord.status != "done")).all()
    return [(int(d), str(t)) for d, t in rows]


def decision_for(db: Session, decision_id: int) -> tuple[DecisionRecord, ExamSession, StudentRecord]:
    decision = db.get(DecisionRecord, decision_id)
    if decision is None:
        raise LookupError(f"no decision {decision_id}")
    session = db.get(ExamSession, decision.session_id)
    student = db.get(StudentRecord, decision.student_id)
    assert session is not None
    assert student is not None
    return decision, session, student
