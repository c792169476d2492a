"""The periodic renewal of Forms watches and Classroom registrations, which bring responses and
submissions back as push notifications."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from huey import crontab
from sqlalchemy import select

from lms_bridge.backends import backends
from lms_bridge.jobs.queue import JobQueue, periodic_job
from lms_bridge.store.models import AppealRecord, ExamSession, JournalEntry
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)


@periodic_job(crontab(minute="17", hour="*/6"), name="results.renew_watches")
def renew_watches(queue: JobQueue) -> None:
    """Renew Forms watches (the sitting's voting forms and the appeals' being voted on) and Classroom
    registrations (the sitting's course and the appeals course) before their 7 days run out."""
    from lms_bridge.google.steps import RENEW_MARGIN
    from lms_bridge.results.appeal_jobs import SWEEP_DAYS
    from lms_bridge.results.appeals import COURSE_KEY as APPEALS_COURSE
    from lms_bridge.results.appeals import REGISTRATION_KEY as APPEALS_REGISTRATION
    from lms_bridge.results.appeals import WATCH_KEY_PREFIX as APPEAL_WATCH

    now = datetime.now(UTC)
    with queue.sessions() as db:
        entries = list(db.scalars(select(JournalEntry).join(ExamSession).where(
            ExamSession.status != "sealed",
            JournalEntry.key.startswith("forms.watch:") | (JournalEntry.key == "classroom.registration"))))
        # An appeal's form is voted on after the release, perhaps after the seal: its watch is
        # renewed while the appeal commission votes (status "hearing"), whatever the session's status.
        voting = {str(i) for i in db.scalars(select(AppealRecord.id).where(AppealRecord.status == "hearing"))}
        entries += [e for e in db.scalars(select(JournalEntry).where(JournalEntry.key.startswith(APPEAL_WATCH)))
                    if e.key.removeprefix(APPEAL_WATCH) in voting]
        # The appeals course's registration brings filings; it is kept as long as the appeals sweep
        # reads a released session's filings (sealed or not).
        entries += list(db.scalars(select(JournalEntry).join(ExamSession).where(
            JournalEntry.key == APPEALS_REGISTRATION, ExamSession.released_at >= now - timedelta(days=SWEEP_DAYS))))
    courses = {"classroom.registration": "classroom.course", APPEALS_REGISTRATION: APPEALS_COURSE}
    google = backends(queue).google
    for entry in entries:
        expiry = entry.data.get("expireTime") or entry.data.get("expiryTime") or ""
        try:
            due = not expiry or datetime.fromisoformat(expiry.replace("Z", "+00:00")) - now < RENEW_MARGIN
        except ValueError:
            due = True
        if not due:
            continue
        try:
            with queue.transaction() as db:
                row = db.get(JournalEntry, entry.id)
                assert row is not None
                if row.key in courses:
                    course = journal_entry(db, row.session_id, courses[row.key])
                    if course is None:
                        continue
                    got = google.renew_registration(course.external_id)
                    row.external_id = str(got.get("registrationId", row.external_id))
                    row.data = {**row.data, "expiryTime": got.get("expiryTime", "")}
                else:
                    watch = google.renew_watch(str(row.data.get("formId")), row.external_id)
                    row.external_id = watch.watch_id
                    row.data = {**row.data, "expireTime": watch.expire_time}
        except Exception:
            logger.exception("renewing %s failed; the next run tries again", entry.key)
