"""Moodle without the companion plugin sends no webhooks: a scheduled poll reads the attempts and
the answer submissions instead and feeds them through the same status rules as a webhook would."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.results.submissions import apply_moodle_event
from lms_bridge.store.models import ExamSession, JournalEntry
from lms_bridge.store.repo import journal_entries, journal_entry

logger = logging.getLogger(__name__)
T = TypeVar("T")

CURSOR_KEY = "moodle.poll"
# Read a little before the last poll: Moodle's times are seconds and a poll can race a submission.
OVERLAP_SECONDS = 120


def needs_polling(db: Session, session: ExamSession) -> bool:
    site = journal_entry(db, session.id, "moodle.site")
    return (site is not None and not site.data.get("plugin")
            and journal_entry(db, session.id, "moodle.tickets") is not None)


def poll_session(db: Session, session: ExamSession, ops: Any, *, now: int | None = None) -> list[str]:
    """One poll of a session's quiz and answer assignment; returns what was applied."""
    from lms_bridge.moodle.operations import attempt_event
    from lms_bridge.moodle.steps import poll_attempts, poll_submissions

    tickets = journal_entry(db, session.id, "moodle.tickets")
    if tickets is None:
        return []
    cursor = journal_entry(db, session.id, CURSOR_KEY)
    since = max(0, int(cursor.data.get("since", 0)) - OVERLAP_SECONDS) if cursor else 0
    users = {int(e.external_id): e.key.split(":", 1)[1]
             for e in journal_entries(db, session.id, "moodle.user:")}
    started = int(time.time()) if now is None else now
    notes: list[str] = []
    for seen in poll_attempts(ops, int(tickets.external_id), users, plugin=False, since=since):
        # 5.x reports a handed-in attempt awaiting its grading as "submitted", 4.5 and 5.1 usually "finished".
        event = attempt_event(seen.state)
        if event is None:
            continue
        other: dict[str, Any] = {"state": seen.state, "timestart": seen.timestart, "timefinish": seen.timefinish}
        if seen.ticket is not None:
            other["ticket"] = {"number": seen.ticket}
        notes.append(apply_moodle_event(db, {
            "event": event, "courseidnumber": session.code, "useremail": users.get(seen.userid, ""),
            "timestamp": seen.timefinish or seen.timestart, "other": other}))
    course = journal_entry(db, session.id, "moodle.course")
    if course is not None:
        answers = ops.submission_assignment(int(course.external_id))
        if answers is not None:
            for sub in poll_submissions(ops, int(answers["id"]), since):
                if sub.get("status") != "submitted":
                    continue
                files = sum(len(area.get("files") or []) for plugin in sub.get("plugins") or []
                            for area in plugin.get("fileareas") or [])
                notes.append(apply_moodle_event(db, {
                    "event": "assign_submitted", "courseidnumber": session.code,
                    "useremail": users.get(int(sub.get("userid", 0)), ""),
                    "timestamp": sub.get("timemodified"), "other": {"files": files}}))
    if cursor is None:
        db.add(JournalEntry(session_id=session.id, step="poll", key=CURSOR_KEY, external_id=session.code,
                            data={"since": started}))
    else:
        cursor.data = {**cursor.data, "since": started}
    db.flush()
    return notes


def poll_provisioned(queue: JobQueue, wanted: Callable[[Session, ExamSession], bool],
                     poll: Callable[[Session, ExamSession, Any, Any], T], *, what: str,
                     after: Callable[[T], None] | None = None) -> None:
    """Run ``poll(db, session, ops, backends)`` for each provisioned session ``wanted`` picks, each in
    its own transaction (then ``after`` with what it returned, outside it); one session's failure is
    logged and leaves the others and the next poll to go on."""
    from lms_bridge.moodle.operations import MoodleOps

    with queue.sessions() as db:
        ids = [s.id for s in db.scalars(select(ExamSession).where(ExamSession.status == "provisioned"))
               if wanted(db, s)]
    if not ids:
        return
    b = backends(queue)
    ops = MoodleOps(b.moodle, b.settings.moodle)
    for session_id in ids:
        try:
            with queue.transaction() as db:
                session = db.get(ExamSession, session_id)
                if session is None:
                    continue
                result = poll(db, session, ops, b)
            if after is not None:
                after(result)
        except Exception:
            logger.exception("%s for session %s failed; the next poll tries again", what, session_id)


@periodic_job(crontab(minute="*/2"), name="results.poll_moodle")
def poll_moodle(queue: JobQueue) -> None:
    """Without the companion plugin, read attempts and submissions from Moodle every two minutes."""
    poll_provisioned(queue, needs_polling, lambda db, session, ops, _b: poll_session(db, session, ops),
                     what="polling Moodle")
