"""Writing a decision to its targets: the grade sheet, the Moodle gradebook, Classroom.

Each target is its own :class:`WritebackRecord` and its own job, retried until it succeeds, so a
Moodle outage never holds up the grade sheet and the admin page shows the state per target.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.remote import describe_error
from lms_bridge.results.service import decision_for
from lms_bridge.store.models import BallotRecord, ExamSession, WritebackRecord
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)


class TargetUnavailable(Exception):
    """The target cannot take the decision yet (not provisioned); the job retries later."""


def _sheet_cells(db: Session, decision_id: int, layout: Any, rows: dict[str, Any], *, draft: bool,
                 ) -> tuple[int, list[Any]]:
    """The grade-sheet row of a decision and its cells (ticket ... degree decision)."""
    from lms_bridge.domain.grading import GradeScale

    decision, session, student = decision_for(db, decision_id)
    row = rows.get(student.student_ref)
    if row is None:
        raise TargetUnavailable("the student has no row in the grade sheet; provision the session again")
    counted = list(db.scalars(select(BallotRecord).where(BallotRecord.student_id == student.id,
                                                         BallotRecord.status == "counted")))
    band = GradeScale.load(session.grading.get("scale", "kz_letter")).band(decision.letter)
    degree_votes = {b.voter_email: b.degree == "yes" for b in counted if b.degree} \
        if session.degree_vote == "open" else None
    degree_decision = ""
    from lms_bridge.i18n import gettext as _
    from lms_bridge.i18n import use_locale

    word = band.word(session.language)
    with use_locale(session.language):
        if decision.degree_award is not None:
            degree_decision = _("awarded") if decision.degree_award else _("not awarded")
        if decision.source == "cumulative":
            # On the student's application, in place of the exam (003 §24): the sheet says so.
            word = _("%(word)s (cumulative grade)", word=word)
        if draft:
            # Until the chair's release the sheet says the decision is provisional (003 §61).
            word = _("%(word)s (provisional)", word=word)
    cells = layout.decision_cells(
        ticket=student.ticket_number, votes={b.voter_email: b.grade for b in counted},
        letter=decision.letter, points=decision.points, gpa=decision.gpa, word=word,
        degree_votes=degree_votes, degree_for=int(decision.degree_totals.get("yes", 0)),
        degree_against=int(decision.degree_totals.get("no", 0)), degree_decision=degree_decision)
    return int(row), list(cells)


def _sheet_layout(db: Session, session_id: int) -> tuple[str, Any, dict[str, Any]]:
    from lms_bridge.google.steps import SheetLayout

    entry = journal_entry(db, session_id, "sheets.gradesheet")
    if entry is None or "layout" not in entry.data:
        raise TargetUnavailable("the grade sheet is not provisioned yet")
    return entry.external_id, SheetLayout.from_json(entry.data["layout"]), dict(entry.data.get("rows") or {})


def _sheet_waiting(record: WritebackRecord, *, draft: bool) -> bool:
    """Whether a sheet record still needs a write: never written, failed, or a draft since released."""
    return record.status not in ("done", "draft") or (record.status == "draft" and not draft)


def flush_sheet(db: Session, google: Any, session_id: int) -> list[int]:
    """Write every decision row of the session's grade sheet that waits for a write, in one
    ``values:batchUpdate`` (one of the 60 write requests Sheets allows a user per minute), and
    record each.  Returns the decision ids written.

    A row that cannot be built (the student has no row) fails on its own record; a failed request
    fails every record it carried and raises, so the job is retried."""
    from lms_bridge.store.models import DecisionRecord

    session = db.get(ExamSession, session_id)
    if session is None:
        return []
    draft = session.released_at is None
    records = [r for r in db.scalars(select(WritebackRecord).join(
        DecisionRecord, DecisionRecord.id == WritebackRecord.decision_id).where(
        DecisionRecord.session_id == session_id, WritebackRecord.target == "sheet")
        .order_by(WritebackRecord.decision_id)) if _sheet_waiting(r, draft=draft)]
    if not records:
        return []
    try:
        sheet_id, layout, rows = _sheet_layout(db, session_id)
    except TargetUnavailable as exc:
        for record in records:
            record.attempts += 1
            record.status, record.last_error = "failed", str(exc)
        db.commit()
        raise
    blocks: list[tuple[int, int, list[list[Any]]]] = []
    carried: list[tuple[WritebackRecord, int]] = []
    for record in records:
        record.attempts += 1
        try:
            row, cells = _sheet_cells(db, record.decision_id, layout, rows, draft=draft)
        except TargetUnavailable as exc:
            record.status, record.last_error = "failed", str(exc)
            continue
        blocks.append((row, layout.ticket_column, [cells]))
        carried.append((record, row))
    if blocks:
        try:
            google.write_decision_rows(sheet_id, blocks)
        except Exception as exc:
            for record, _row in carried:
                record.status, record.last_error = "failed", describe_error(exc)
            db.commit()
            raise
    for record, row in carried:
        record.status = "draft" if draft else "done"
        record.last_error = f"row {row}, provisional" if draft else f"row {row}"
    return [record.decision_id for record, _row in carried]


def write_moodle(db: Session, moodle_ops: Any, decision_id: int, *, draft: bool = False) -> str:
    decision, session, student = decision_for(db, decision_id)
    course = moodle_ops.find_course(session.code)
    if course is None:
        raise TargetUnavailable("the Moodle course is not provisioned yet")
    users = moodle_ops.users_by("email", [student.email])
    if not users:
        raise TargetUnavailable(f"no Moodle user with the e-mail {student.email}")
    how = moodle_ops.save_decision(int(course["id"]), int(users[0]["id"]), float(decision.points),
                                   feedback=f"{decision.letter} ({decision.points:g})", release=not draft)
    return how


def write_classroom(db: Session, google: Any, decision_id: int, enabled: bool, *, draft: bool = False) -> str:
    decision, session, student = decision_for(db, decision_id)
    if not enabled:
        return "skipped: Classroom grade write-back is off"
    course = journal_entry(db, session.id, "classroom.course")
    from lms_bridge.google.steps import ticket_key

    work = journal_entry(db, session.id, ticket_key(student.student_ref))
    if course is None or work is None:
        raise TargetUnavailable("the student's ticket assignment does not exist yet")
    if draft:
        # draftGrade only: teachers see it, the student does not (StudentSubmission reference).
        google.set_draft_grade(course.external_id, work.external_id, student.email, float(decision.points))
        return "draftGrade set"
    google.set_assigned_grade(course.external_id, work.external_id, student.email, float(decision.points))
    return "assignedGrade set"


def run_target(db: Session, decision_id: int, target: str, backends: Any, *,
               classroom_enabled: bool) -> WritebackRecord:
    """Write one target and record the outcome; re-raises so the job is retried."""
    record = db.scalar(select(WritebackRecord).where(WritebackRecord.decision_id == decision_id,
                                                     WritebackRecord.target == target))
    if record is None:
        raise LookupError(f"no write-back {target} for decision {decision_id}")
    if record.status == "done":
        return record
    _decision, session, _student = decision_for(db, decision_id)
    # Decisions are drafts until the chair's release (003 §61): before it each target gets a draft
    # the student cannot see (Classroom draftGrade, Moodle "readyforrelease", "provisional" on the
    # sheet) and the record says "draft"; the release enqueues every record again for the final write.
    draft = session.released_at is None
    if draft and record.status == "draft":
        return record
    if target == "sheet":
        # The session's other waiting rows go in the same request (one Sheets write); the flush
        # records the outcome of every row it carries, this one's included.
        flush_sheet(db, backends.google, session.id)
        return record
    record.attempts += 1
    try:
        if target == "moodle":
            from lms_bridge.moodle.operations import MoodleOps

            note = write_moodle(db, MoodleOps(backends.moodle, backends.settings.moodle), decision_id,
                                draft=draft)
        elif target == "classroom":
            note = write_classroom(db, backends.google, decision_id, classroom_enabled, draft=draft)
        else:
            raise LookupError(f"unknown write-back target {target}")
    except Exception as exc:
        record.status, record.last_error = "failed", describe_error(exc)
        db.commit()
        raise
    record.status, record.last_error = ("draft" if draft else "done"), note[:500]
    return record
