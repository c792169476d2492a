"""Background jobs behind the webhooks: process a delivery, write a decision to each target,
renew watches and registrations, and reconcile (a periodic fetch that catches any lost push)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from huey import crontab
from sqlalchemy import select

from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.provisioning.engine import ApiCalls, describe_error
from lms_bridge.store.models import (
    DecisionRecord,
    ExamSession,
    JournalEntry,
    WebhookDelivery,
    WritebackRecord,
)

logger = logging.getLogger(__name__)

# Deliveries left queued this long (the enqueue failed, or the worker died) are picked up again.
STUCK_AFTER = timedelta(minutes=5)


@cache
def _backends_for(settings: Any) -> Any:
    # One set of clients per worker process: building them reads key files and, in sandbox mode,
    # may start the embedded sandbox.
    from lms_bridge.backends import build_backends

    return build_backends(settings, ApiCalls())


def backends(queue: JobQueue) -> Any:
    return _backends_for(queue.settings)


def _enqueue_writebacks(decision_ids: list[int]) -> None:
    for decision_id in decision_ids:
        for target in ("sheet", "moodle", "classroom"):
            write_decision.enqueue(decision_id, target)


@job(retries=5, retry_delay=30.0, name="webhooks.process_delivery")
def process_delivery(queue: JobQueue, delivery_pk: int) -> None:
    """Handle one recorded webhook delivery; a delivery already processed is a no-op."""
    from lms_bridge.results.service import process_delivery as handle

    new_decisions: list[int] = []
    with queue.transaction() as db:
        delivery = db.get(WebhookDelivery, delivery_pk)
        if delivery is None or delivery.status == "processed":
            return
        before = set(db.scalars(select(DecisionRecord.id)))
        try:
            note = handle(db, delivery, lambda: backends(queue))
        except Exception as exc:
            db.rollback()
            delivery = db.get(WebhookDelivery, delivery_pk)
            assert delivery is not None
            delivery.error = describe_error(exc)
            db.commit()
            raise
        delivery.status = "ignored" if note.startswith("ignored") else "processed"
        delivery.error = "" if delivery.status == "processed" else note[:500]
        delivery.processed_at = datetime.now(UTC)
        db.flush()
        new_decisions = sorted(set(db.scalars(select(DecisionRecord.id))) - before)
    # After the commit: a write-back must never see a decision that was rolled back.
    _enqueue_writebacks(new_decisions)


@job(retries=8, retry_delay=60.0, name="results.write_decision")
def write_decision(queue: JobQueue, decision_id: int, target: str) -> None:
    """Write a decision to one target (sheet, moodle, classroom); retried until it succeeds."""
    from lms_bridge.results.writeback import run_target

    with queue.transaction() as db:
        run_target(db, decision_id, target, backends(queue),
                   classroom_enabled=queue.settings.google.classroom_grade_writeback)


def close_vote_now(queue: JobQueue, session_code: str, student_ref: str, actor: str) -> str:
    """The secretary's "close the vote" (runs in the request: the secretary waits for the answer)."""
    from lms_bridge.results.service import close_vote
    from lms_bridge.store.models import StudentRecord

    with queue.transaction() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == session_code))
        if session is None:
            raise LookupError("no such session")
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                        StudentRecord.student_ref == student_ref))
        if student is None:
            raise LookupError("no such student")
        result = close_vote(db, backends(queue).google, session, student, actor)
        decision_ids = [result.decision.id] if result.newly_decided and result.decision else []
        status = str(result.outcome.status)
    _enqueue_writebacks(decision_ids)
    return status


@periodic_job(crontab(minute="*/10"), name="results.reconcile")
def reconcile(queue: JobQueue) -> None:
    """Catch what a lost push would have brought: re-fetch every open form, re-run stuck deliveries
    and pending write-backs."""
    from lms_bridge.results.service import FORM_KEY_PREFIX, refresh_form

    now = datetime.now(UTC)
    with queue.sessions() as db:
        stuck = list(db.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.status == "queued", WebhookDelivery.received_at < now - STUCK_AFTER)))
        pending = list(db.execute(select(WritebackRecord.decision_id, WritebackRecord.target).where(
            WritebackRecord.status != "done")).all())
        forms = [e.id for e in db.scalars(select(JournalEntry).join(ExamSession).where(
            JournalEntry.key.startswith(FORM_KEY_PREFIX), ExamSession.status != "sealed"))
            if not e.data.get("closed") and e.data.get("stage") == "published"]
    for delivery_pk in stuck:
        process_delivery.enqueue(delivery_pk)
    for decision_id, target in pending:
        write_decision.enqueue(int(decision_id), str(target))
    for entry_id in forms:
        new: list[int] = []
        try:
            with queue.transaction() as db:
                entry = db.get(JournalEntry, entry_id)
                if entry is None:
                    continue
                result = refresh_form(db, backends(queue).google, entry)
                if result is not None and result.newly_decided and result.decision is not None:
                    new.append(result.decision.id)
        except Exception:
            logger.exception("reconciliation of form entry %s failed", entry_id)
            continue
        _enqueue_writebacks(new)


@periodic_job(crontab(minute="17", hour="*/6"), name="results.renew_watches")
def renew_watches(queue: JobQueue) -> None:
    """Renew Forms watches and Classroom registrations before their 7 days run out."""
    from lms_bridge.google.steps import RENEW_MARGIN

    now = datetime.now(UTC)
    with queue.sessions() as db:
        entries = list(db.scalars(select(JournalEntry).join(ExamSession).where(
            ExamSession.status != "sealed",
            JournalEntry.key.startswith("forms.watch:") | (JournalEntry.key == "classroom.registration"))))
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
                if row.key == "classroom.registration":
                    course = db.scalar(select(JournalEntry).where(JournalEntry.session_id == row.session_id,
                                                                  JournalEntry.key == "classroom.course"))
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


@job(retries=6, retry_delay=120.0, name="results.send_email")
def send_email(queue: JobQueue, email_id: int) -> None:
    """Send one outbox e-mail when SMTP is configured; without SMTP it stays on the outbox page."""
    from lms_bridge.results.seal import send_email as deliver
    from lms_bridge.store.models import OutboxEmail

    smtp = queue.settings.smtp
    if not smtp.host:
        return
    with queue.transaction() as db:
        email = db.get(OutboxEmail, email_id)
        if email is None or email.sent_at is not None:
            return
        try:
            deliver(smtp, email, queue.settings.data_dir)
        except Exception as exc:
            email.error = describe_error(exc)
            db.commit()
            raise
        email.sent_at, email.error = datetime.now(UTC), ""


@job(retries=5, retry_delay=30.0, name="results.draw_tickets")
def draw_tickets(queue: JobQueue, session_id: int) -> None:
    """Draw a ticket for every admitted student who has none, in the timetable's order, and hand each
    one out as the student's own Classroom assignment.  Safe to run again: a drawn ticket is never
    drawn twice and an assignment already made is reused."""
    from lms_bridge.results.draw import HandOutIncomplete, draw_ticket, hand_out_tickets
    from lms_bridge.store.models import StudentRecord

    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            return
        students = list(db.scalars(select(StudentRecord).where(
            StudentRecord.session_id == session_id, StudentRecord.admitted.is_(True),
            StudentRecord.active.is_(True)).order_by(StudentRecord.position)))
        for student in students:
            if student.ticket_number is None:
                draw_ticket(db, session, student)
        # The draws are committed before any outside call: a failing Classroom never undoes a draw.
        db.commit()
        google = backends(queue).google
        # Every student gets a try, whoever failed before; the failures show on the session page
        # and the job is retried for them.
        failures = hand_out_tickets(db, session, students, google)
        if failures:
            raise HandOutIncomplete(failures)


@periodic_job(crontab(minute="*/2"), name="results.poll_moodle")
def poll_moodle(queue: JobQueue) -> None:
    """Without the companion plugin, read attempts and submissions from Moodle every two minutes."""
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.results.moodle_poll import needs_polling, poll_session

    with queue.sessions() as db:
        ids = [s.id for s in db.scalars(select(ExamSession).where(ExamSession.status == "provisioned"))
               if needs_polling(db, s)]
    if not ids:
        return
    b = backends(queue)
    ops = MoodleOps(b.moodle, b.settings.moodle)
    for session_id in ids:
        try:
            with queue.transaction() as db:
                session = db.get(ExamSession, session_id)
                if session is not None:
                    poll_session(db, session, ops)
        except Exception:
            logger.exception("polling Moodle for session %s failed; the next poll tries again", session_id)
