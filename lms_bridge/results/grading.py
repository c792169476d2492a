"""A written or open-book exam's grading window enforced (001 §15: the members check the answers within
2 hours and grade them in the system; ``lms_bridge.domain.kinds.GradingWindow``).

Every minute the job looks at each provisioned session of such a form: a student whose window has
closed without a decision has the ballot stop accepting responses (Forms ``setPublishSettings`` with
``isAcceptingResponses`` false) and the vote closed: with a quorum it decides, without one the
commission decides (the board's and the page's "Decision by the commission").  A ballot submitted
after the close is kept, not counted, and recorded as an incident (``ballot.after_grading_window``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.domain.kinds import rules_for
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.results.ballots import fix_grading_window
from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)


def close_due_windows(db: Session, session: ExamSession, google: Any, hours: int, now: datetime) -> list[str]:
    """Close the ballots whose grading window has ended; returns the students' ids."""
    from lms_bridge.results.service import FORM_KEY_PREFIX, refresh_form

    if not rules_for(session.kind).writing:
        return []
    decided = set(db.scalars(select(DecisionRecord.student_id).where(DecisionRecord.session_id == session.id)))
    closed: list[str] = []
    for student in session.students:
        if not (student.active and student.admitted) or student.ticket_drawn_at is None:
            continue
        closes = fix_grading_window(db, session, student, hours)
        entry = journal_entry(db, session.id, FORM_KEY_PREFIX + student.student_ref)
        if closes is None or entry is None or now < closes or entry.data.get("window_closed"):
            continue
        if student.id not in decided and not entry.data.get("closed"):
            google.close_form(entry.external_id)
        entry.data = {**entry.data, "closed": True, "window_closed": now.isoformat()}
        result = refresh_form(db, google, entry)  # the last ballots, then the vote closed by the window
        outcome = result.outcome if result is not None else None
        db.add(AuditEvent(session_id=session.id, actor="system", action="grading_window.closed", detail={
            "student": student.student_ref, "closed_at": closes.isoformat(),
            "outcome": str(outcome.status) if outcome is not None else "",
            "votes_cast": outcome.votes_cast if outcome is not None else 0}))
        closed.append(student.student_ref)
    db.flush()
    return closed


@periodic_job(crontab(minute="*"), name="results.close_grading_windows")
def close_grading_windows(queue: JobQueue) -> None:
    """Every minute: the written and open-book exams' grading windows that have ended."""
    with queue.sessions() as db:
        ids = [s.id for s in db.scalars(select(ExamSession).where(ExamSession.status == "provisioned"))
               if rules_for(s.kind).writing]
    if not ids:
        return
    b = backends(queue)
    hours = b.settings.exams.written_grading_hours
    for session_id in ids:
        try:
            with queue.transaction() as db:
                session = db.get(ExamSession, session_id)
                if session is not None:
                    close_due_windows(db, session, b.google, hours, datetime.now(UTC))
        except Exception:
            logger.exception("closing the grading windows of session %s failed; the next minute tries again",
                             session_id)
