"""Background jobs behind the webhooks: process a delivery, write a decision to each target, and
reconcile (a periodic fetch that catches any lost push)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from huey import crontab
from sqlalchemy import select

from lms_bridge.backends import backends
from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.remote import describe_error
from lms_bridge.store.models import (
    ExamSession,
    JournalEntry,
    WebhookDelivery,
    WritebackRecord,
)

logger = logging.getLogger(__name__)

# Deliveries left queued this long (the enqueue failed, or the worker died) are picked up again.
STUCK_AFTER = timedelta(minutes=5)


def _enqueue_writebacks(decision_ids: list[int]) -> None:
    for decision_id in decision_ids:
        for target in ("sheet", "moodle", "classroom"):
            write_decision.enqueue(decision_id, target)


@job(retries=5, retry_delay=30.0, name="webhooks.process_delivery")
def process_delivery(queue: JobQueue, delivery_pk: int) -> None:
    """Handle one recorded webhook delivery; a delivery already processed is a no-op.

    A Forms push goes through :class:`FormRefreshes`: when a refresh of its form is already
    running, that refresh (or the one it runs next) covers this push, and the job ends at once."""
    from lms_bridge.results.coalesce import FormRefreshes
    from lms_bridge.results.service import Handled, delivery_form_id, refresh_form_by_id

    with queue.sessions() as db:
        delivery = db.get(WebhookDelivery, delivery_pk)
        if delivery is None or delivery.status == "processed":
            return
        form_id = delivery_form_id(delivery)
    if form_id is None:
        _process_in_one_transaction(queue, delivery_pk)
        return
    outcomes: list[Handled] = []

    def refresh() -> None:
        with queue.transaction() as db:
            outcomes.append(refresh_form_by_id(db, lambda: backends(queue), form_id))

    try:
        FormRefreshes(queue.huey).run(form_id, refresh)
    except Exception as exc:
        with queue.transaction() as db:
            delivery = db.get(WebhookDelivery, delivery_pk)
            if delivery is not None:
                delivery.error = describe_error(exc)
        raise
    # Each refresh committed on its own (a refresh is idempotent); the delivery's row says last
    # what this push came to, or that a refresh running elsewhere covered it.
    with queue.transaction() as db:
        delivery = db.get(WebhookDelivery, delivery_pk)
        if delivery is not None:
            _settle(delivery, outcomes[-1] if outcomes else Handled("covered by a refresh of the same form"))
    # After the commit: a write-back must never see a decision that was rolled back.
    _enqueue_writebacks(sorted({d for handled in outcomes for d in handled.decisions}))


def _settle(delivery: WebhookDelivery, handled: Any) -> None:
    delivery.status = "ignored" if handled.note.startswith("ignored") else "processed"
    delivery.error = "" if delivery.status == "processed" else handled.note[:500]
    delivery.processed_at = datetime.now(UTC)


def _process_in_one_transaction(queue: JobQueue, delivery_pk: int) -> None:
    """A Moodle or Classroom delivery: its work and its row's new status commit together."""
    from lms_bridge.results.service import process_delivery as handle

    with queue.transaction() as db:
        delivery = db.get(WebhookDelivery, delivery_pk)
        if delivery is None or delivery.status == "processed":
            return
        try:
            handled = handle(db, delivery, lambda: backends(queue))
        except Exception as exc:
            db.rollback()
            delivery = db.get(WebhookDelivery, delivery_pk)
            assert delivery is not None
            delivery.error = describe_error(exc)
            db.commit()
            raise
        _settle(delivery, handled)
    _enqueue_writebacks(sorted(handled.decisions))


@job(retries=8, retry_delay=60.0, name="results.write_decision")
def write_decision(queue: JobQueue, decision_id: int, target: str) -> None:
    """Write a decision to one target (sheet, moodle, classroom); retried until it succeeds."""
    from lms_bridge.results.writeback import run_target

    with queue.transaction() as db:
        run_target(db, decision_id, target, backends(queue),
                   classroom_enabled=queue.settings.google.classroom_grade_writeback)


def close_vote_now(queue: JobQueue, session_code: str, student_ref: str, actor: str) -> str:
    """The secretary's "close the vote" (runs in the request: the secretary waits for the answer)."""
    from lms_bridge.results.service import close_vote, student_form
    from lms_bridge.store.models import StudentRecord

    with queue.transaction() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == session_code))
        if session is None:
            raise LookupError("no such session")
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                        StudentRecord.student_ref == student_ref))
        if student is None:
            raise LookupError("no such student")
        if student_form(db, session, student) is None:
            # Said before the clients are built: no outside service is needed to know it.
            raise LookupError("the student has no voting form yet; provision the session first")
        result = close_vote(db, backends(queue).google, session, student, actor)
        decision_ids = [result.decision.id] if result.newly_decided and result.decision else []
        status = str(result.outcome.status)
    _enqueue_writebacks(decision_ids)
    return status


def release_now(queue: JobQueue, session_code: str, actor: str, *, now: datetime | None = None) -> int:
    """The chair's release, recorded by the secretary: every decision's write-backs go at once.

    Returns how many decisions were released; raises ``ExamDayError`` when the rules refuse."""
    from lms_bridge.results.examday import release_results

    with queue.transaction() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == session_code))
        if session is None:
            raise LookupError("no such session")
        decision_ids = release_results(db, session, actor=actor, now=now)
        session_id = session.id
    # After the commit: a write-back must see the release.
    _enqueue_writebacks(decision_ids)
    # The appeal window opens with the publication of the results (003 §64).
    from lms_bridge.results.appeal_jobs import open_appeal_filing

    open_appeal_filing.enqueue(session_id)
    return len(decision_ids)


@periodic_job(crontab(minute="*/10"), name="results.reconcile")
def reconcile(queue: JobQueue) -> None:
    """Catch what a lost push would have brought: re-fetch every open form, re-run stuck deliveries
    and pending write-backs."""
    from lms_bridge.results.coalesce import FormRefreshes
    from lms_bridge.results.service import FORM_KEY_PREFIX, refresh_form

    now = datetime.now(UTC)
    with queue.sessions() as db:
        stuck = list(db.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.status == "queued", WebhookDelivery.received_at < now - STUCK_AFTER)))
        pending = list(db.execute(select(WritebackRecord.decision_id, WritebackRecord.target).where(
            WritebackRecord.status != "done")).all())
        forms = [(e.id, e.external_id) for e in db.scalars(select(JournalEntry).join(ExamSession).where(
            JournalEntry.key.startswith(FORM_KEY_PREFIX), ExamSession.status != "sealed"))
            if not e.data.get("closed") and e.data.get("stage") == "published"]
    for delivery_pk in stuck:
        process_delivery.enqueue(delivery_pk)
    for decision_id, target in pending:
        write_decision.enqueue(int(decision_id), str(target))
    refreshes = FormRefreshes(queue.huey)
    for entry_id, form_id in forms:
        new: list[int] = []

        def run_once(entry_id: int = entry_id, new: list[int] = new) -> None:
            with queue.transaction() as db:
                entry = db.get(JournalEntry, entry_id)
                if entry is None:
                    return
                result = refresh_form(db, backends(queue).google, entry)
                if result is not None and result.newly_decided and result.decision is not None:
                    new.append(result.decision.id)

        try:
            # A form a push is refreshing right now is left to that refresh (it runs once more).
            refreshes.run(form_id, run_once)
        except Exception:
            logger.exception("reconciliation of form entry %s failed", entry_id)
            continue
        _enqueue_writebacks(new)
