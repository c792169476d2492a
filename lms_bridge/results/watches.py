"""The periodic renewal of Forms watches and Classroom registrations, which bring responses and
submissions back as push notifications.  The renewal changes what the provisioning run makes (the
watches step), so it writes only while it holds the session's lease (``JobQueue.session_lease``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from huey import crontab
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.lease import LeaseHeld, LeaseLost
from lms_bridge.store.models import AppealRecord, ExamSession, JournalEntry
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)


def _due_entries(db: Session, now: datetime, session_id: int | None = None) -> list[JournalEntry]:
    """The watches and registrations to keep (renewed or not): see :func:`renew_watches`."""
    from lms_bridge.results.appeal_jobs import SWEEP_DAYS
    from lms_bridge.results.appeals import REGISTRATION_KEY as APPEALS_REGISTRATION
    from lms_bridge.results.appeals import WATCH_KEY_PREFIX as APPEAL_WATCH

    mine = [JournalEntry.session_id == session_id] if session_id is not None else []
    entries = list(db.scalars(select(JournalEntry).join(ExamSession).where(
        ExamSession.status != "sealed", *mine,
        JournalEntry.key.startswith("forms.watch:") | (JournalEntry.key == "classroom.registration"))))
    # An appeal's form is voted on after the release, perhaps after the seal: its watch is
    # renewed while the appeal commission votes (status "hearing"), whatever the session's status.
    voting = {str(i) for i in db.scalars(select(AppealRecord.id).where(AppealRecord.status == "hearing"))}
    entries += [e for e in db.scalars(select(JournalEntry).where(JournalEntry.key.startswith(APPEAL_WATCH), *mine))
                if e.key.removeprefix(APPEAL_WATCH) in voting]
    # The appeals course's registration brings filings; it is kept as long as the appeals sweep
    # reads a released session's filings (sealed or not).
    entries += list(db.scalars(select(JournalEntry).join(ExamSession).where(
        JournalEntry.key == APPEALS_REGISTRATION, ExamSession.released_at >= now - timedelta(days=SWEEP_DAYS),
        *mine)))
    return [e for e in entries if _due(e, now)]


def _due(entry: JournalEntry, now: datetime) -> bool:
    from lms_bridge.google.steps import RENEW_MARGIN

    expiry = entry.data.get("expireTime") or entry.data.get("expiryTime") or ""
    try:
        return not expiry or datetime.fromisoformat(expiry.replace("Z", "+00:00")) - now < RENEW_MARGIN
    except ValueError:
        return True


@periodic_job(crontab(minute="17", hour="*/6"), name="results.renew_watches")
def renew_watches(queue: JobQueue) -> None:
    """Renew Forms watches (the sitting's voting forms and the appeals' being voted on) and Classroom
    registrations (the sitting's course and the appeals course) before their 7 days run out: one
    :func:`renew_session_watches` job per session that has one due."""
    now = datetime.now(UTC)
    with queue.sessions() as db:
        session_ids = sorted({e.session_id for e in _due_entries(db, now)})
    for session_id in session_ids:
        renew_session_watches.enqueue(session_id)


@job(retries=2, retry_delay=60.0, name="results.renew_session_watches")
def renew_session_watches(queue: JobQueue, session_id: int) -> None:
    """Renew one session's due watches and registrations under the session's provisioning lease.

    The provisioning run makes and renews the same watches under the same journal keys (the watches
    step): a renewal running beside it would replace an id the run just wrote, or the run one the
    renewal wrote.  So the renewal holds the lease while it writes; while a run holds it, the job
    goes back in the queue and tries again a little later."""
    from lms_bridge.results.appeals import COURSE_KEY as APPEALS_COURSE
    from lms_bridge.results.appeals import REGISTRATION_KEY as APPEALS_REGISTRATION

    with queue.sessions() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            return
        code = session.code
    try:
        with queue.session_lease(code) as lease:
            now = datetime.now(UTC)
            with queue.sessions() as db:
                entry_ids = [e.id for e in _due_entries(db, now, session_id)]  # read again under the lease
            courses = {"classroom.registration": "classroom.course", APPEALS_REGISTRATION: APPEALS_COURSE}
            google = backends(queue).google if entry_ids else None
            for entry_id in entry_ids:
                try:
                    with queue.sessions() as db:
                        row = db.get(JournalEntry, entry_id)
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
                        lease.fence(db)  # committed only while the lease is still this job's
                        db.commit()
                except LeaseLost:
                    raise
                except Exception:
                    logger.exception("renewing %s failed; the next run tries again", entry_id)
    except LeaseHeld as held:
        logger.info("watches of %s wait for the provisioning run: %s", code, held.message)
        renew_session_watches.enqueue(session_id, delay=queue.busy_delay)
    except LeaseLost:
        logger.error("the renewal of %s's watches lost the session's lease; it tries again later", code)
        renew_session_watches.enqueue(session_id, delay=queue.busy_delay)
