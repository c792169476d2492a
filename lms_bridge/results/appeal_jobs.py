"""The appeals' background work: the Classroom assignments made on release, and a sweep that reads
new filings and the appeal commission's ballots (what a lost push would have brought)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from huey import crontab
from sqlalchemy import select

from lms_bridge.backends import backends
from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.store.models import AppealRecord, ExamSession

logger = logging.getLogger(__name__)


@job(retries=8, retry_delay=60.0, name="appeals.open_filing")
def open_appeal_filing(queue: JobQueue, session_id: int) -> None:
    """On release: each student's "Appeal" assignment in Classroom (a repeat makes nothing twice)."""
    from lms_bridge.results.appeals import appeal_settings, open_filing

    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None or session.released_at is None:
            return
        # The due date is checked against the release, not this machine's clock: the window is the
        # release's (a job retried late still gives the window's end, or none once it has passed).
        open_filing(db, backends(queue).google, session, settings=appeal_settings(queue.settings),
                    now=lambda: session.released_at or datetime.now(UTC))


def sweep_session(queue: JobQueue, session_id: int) -> list[int]:
    """Read the session's appeal filings and the ballots of every appeal being voted on; returns the
    ids of appeals decided in this sweep."""
    from lms_bridge.results.appeals import appeal_settings, open_filing, refresh_appeal, sync_filings

    decided: list[int] = []
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None or session.released_at is None:
            return decided
        google = backends(queue).google
        rules = appeal_settings(queue.settings)
        released = session.released_at
        # Assignments a student could not get yet (not in the appeals course) are given now.
        open_filing(db, google, session, settings=rules, now=lambda: released or datetime.now(UTC))
        sync_filings(db, google, session, rules)
        for appeal in db.scalars(select(AppealRecord).where(AppealRecord.session_id == session.id,
                                                            AppealRecord.status == "hearing")):
            if refresh_appeal(db, google, session, appeal).newly_decided:
                decided.append(appeal.id)
    return decided


# Sessions released longer ago than this are not swept for filings any more (a late filing is
# refused the day it is read; nobody appeals a month late), unless an appeal is still being voted on.
SWEEP_DAYS = 30


@periodic_job(crontab(minute="*/10"), name="appeals.sweep")
def sweep_appeals(queue: JobQueue) -> None:
    since = datetime.now(UTC) - timedelta(days=SWEEP_DAYS)
    with queue.sessions() as db:
        recent = set(db.scalars(select(ExamSession.id).where(ExamSession.released_at >= since)))
        voting = set(db.scalars(select(AppealRecord.session_id).where(AppealRecord.status == "hearing")))
        ids = sorted(recent | voting)
    for session_id in ids:
        try:
            sweep_session(queue, session_id)
        except Exception:
            logger.exception("the appeals sweep of session %s failed", session_id)
