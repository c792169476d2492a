"""The admission ratings of a test exam imported from the university system's export (004 test §2-5).

The export is read by :mod:`lms_bridge.sessionfile.ratings`; here each row is matched to a student of
the session (by ID number, else by e-mail) and the ratings are stored all together or not at all:
one problem anywhere (an unknown student, a student given twice, a rating out of range, a student
whose grade is already decided) and nothing is written.  The import is recorded in the audit trail
with the file's name and digest and every rating it changed (old and new).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.config import Settings
from lms_bridge.domain.kinds import rules_for
from lms_bridge.sessionfile.problems import Location, Problem, _l
from lms_bridge.sessionfile.ratings import read_ratings
from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession

AUDIT_ACTION = "ratings.imported"


class RatingsRefused(Exception):
    """Nothing was stored; ``problems`` says why, each with the file, the row and the column."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class RatingsImported:
    rows: int
    changed: list[dict[str, Any]] = field(default_factory=list)  # {"student", "old", "new"}


def import_ratings(db: Session, session: ExamSession, data: bytes, file: str, settings: Settings, *,
                   actor: str) -> RatingsImported:
    """Read the export and store its ratings in the caller's transaction; raise :class:`RatingsRefused`
    with every problem (and write nothing) when any row is wrong."""
    if not rules_for(session.kind).test_quiz:
        raise RatingsRefused([Problem(file, Location(), "", _l(
            "Session %(code)s is not a test exam: the admission rating counts only in a test exam's final grade."),
            {"code": session.code})])
    maximum = settings.exams.test_admission_max
    rows, problems = read_ratings(data, file, maximum=maximum, limits=settings.limits)
    students = [s for s in session.students if s.active]
    by_id = {s.student_ref: s for s in students}
    by_email = {s.email.lower(): s for s in students}
    decided = set(db.scalars(select(DecisionRecord.student_id).where(DecisionRecord.session_id == session.id)))
    first_row: dict[int, Location] = {}
    wanted: list[tuple[Any, float]] = []
    for row in rows:
        student = by_id.get(row.key) if row.by == "id" else by_email.get(row.key)
        if student is None:
            problems.append(Problem(file, row.location, "", _l(
                "No student %(key)s in session %(code)s."), {"key": row.key, "code": session.code}))
            continue
        if student.id in first_row:
            problems.append(Problem(file, row.location, row.column, _l(
                "Student %(key)s is given twice (first at %(first)s)."),
                {"key": row.key, "first": first_row[student.id].describe()}))
            continue
        first_row[student.id] = row.location
        if student.id in decided and student.admission_rating != row.rating:
            problems.append(Problem(file, row.location, row.column, _l(
                "The admission rating of student %(key)s cannot change: the grade is already decided."),
                {"key": row.key}))
            continue
        wanted.append((student, row.rating))
    if problems:
        raise RatingsRefused(problems)
    changed = [{"student": st.student_ref, "old": st.admission_rating, "new": rating}
               for st, rating in wanted if st.admission_rating != rating]
    for st, rating in wanted:
        st.admission_rating = rating
    db.add(AuditEvent(session_id=session.id, actor=actor, action=AUDIT_ACTION,
                      detail={"file": file[:255], "sha256": hashlib.sha256(data).hexdigest(), "rows": len(wanted),
                              "changed": changed}))
    db.flush()
    return RatingsImported(rows=len(wanted), changed=changed)
