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


def enqueue_writebacks(decision_ids: list[int]) -> None:
    """Queue every target's write-back of these decisions (a draft until the chair's release)."""
    _enqueue_writebacks(decision_ids)


@job(retries=5, retry_delay=30.0, name="webhooks.process_delivery", priority=0)
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
    for entry_id in sorted({e for handled in outcomes for e in handled.close}):
        close_form.enqueue(entry_id)


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


@job(retries=8, retry_delay=60.0, name="results.write_decision", priority=10)
def write_decision(queue: JobQueue, decision_id: int, target: str) -> None:
    """Write a decision to one target (sheet, moodle, classroom); retried until it succeeds."""
    from lms_bridge.results.writeback import flush_sheet, run_target

    if target == "sheet":
        # Every waiting row of the session's sheet goes in one write; a write running elsewhere for
        # the same session writes this row too (it runs once more when marked while it wrote).
        from lms_bridge.results.coalesce import FormRefreshes
        from lms_bridge.store.models import DecisionRecord

        with queue.sessions() as db:
            session_id = db.scalar(select(DecisionRecord.session_id).where(DecisionRecord.id == decision_id))
        if session_id is None:
            return

        def flush() -> None:
            with queue.transaction() as db:
                flush_sheet(db, backends(queue).google, session_id)

        FormRefreshes(queue.huey, kind="sheet").run(str(session_id), flush)
        return
    with queue.transaction() as db:
        run_target(db, decision_id, target, backends(queue),
                   classroom_enabled=queue.settings.google.classroom_grade_writeback)


@job(retries=8, retry_delay=30.0, name="results.close_form", priority=10)
def close_form(queue: JobQueue, entry_id: int) -> None:
    """Stop a voting form accepting responses once its decision is recorded (ahead of new ballots,
    like the write-backs); a ballot racing the close is still fetched, recorded and marked late."""
    with queue.transaction() as db:
        entry = db.get(JournalEntry, entry_id)
        if entry is None or entry.data.get("closed"):
            return
        backends(queue).google.close_form(entry.external_id)
        entry.data = {**entry.data, "closed": True}


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


# The reconcile sweep's period (its crontab below) over which it spaces the forms it lists.
RECONCILE_INTERVAL_SECONDS = 600


def forms_to_reconcile(forms: list[tuple[int, str, bool]], listed_at: dict[str, float | None], now: float, *,
                       quiet_seconds: float, budget: int) -> list[tuple[int, str]]:
    """Which forms the sweep lists, in order: ``forms`` are (journal entry id, form id, decided).

    A form listed less than ``quiet_seconds`` ago (a push's refresh, or the last sweep) is left
    out: its ballots are fresh.  Undecided forms come first, then the longest unlisted; at most
    ``budget`` forms, the rest wait for the next sweep (they are then the stalest)."""
    due = [(decided, listed_at.get(form_id) or 0.0, entry_id, form_id) for entry_id, form_id, decided in forms
           if (listed_at.get(form_id) or 0.0) <= now - quiet_seconds]
    due.sort()
    return [(entry_id, form_id) for _decided, _listed, entry_id, form_id in due[:max(0, budget)]]


def reconcile_budget(settings: Any) -> int:
    """Forms one sweep may list: its share of the responses.list quota over the sweep's period."""
    from lms_bridge.google.transport import QUOTAS_PER_MINUTE

    per_minute = QUOTAS_PER_MINUTE["forms.expensive"] * settings.google.reconcile_quota_share
    return int(per_minute * RECONCILE_INTERVAL_SECONDS / 60)


@periodic_job(crontab(minute="*/10"), name="results.reconcile")
def reconcile(queue: JobQueue) -> None:
    """Catch what a lost push would have brought: re-run stuck deliveries and pending write-backs,
    and list the responses of the open forms no push has brought for a while.

    The listings are spaced evenly over the ten minutes, at most the configured share of the
    ``responses.list`` quota, so that the pushes of live voting keep the rest of it."""
    from lms_bridge.results.coalesce import FormRefreshes
    from lms_bridge.results.service import FORM_KEY_PREFIX
    from lms_bridge.store.models import DecisionRecord, StudentRecord

    now = datetime.now(UTC)
    with queue.sessions() as db:
        stuck = list(db.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.status == "queued", WebhookDelivery.received_at < now - STUCK_AFTER)))
        pending = list(db.execute(select(WritebackRecord.decision_id, WritebackRecord.target).where(
            WritebackRecord.status != "done")).all())
        decided_refs = {(session_id, ref) for session_id, ref in db.execute(
            select(StudentRecord.session_id, StudentRecord.student_ref).join(
                DecisionRecord, DecisionRecord.student_id == StudentRecord.id))}
        forms = [(e.id, e.external_id, (e.session_id, e.key.removeprefix(FORM_KEY_PREFIX)) in decided_refs)
                 for e in db.scalars(select(JournalEntry).join(ExamSession).where(
                     JournalEntry.key.startswith(FORM_KEY_PREFIX), ExamSession.status != "sealed"))
                 if not e.data.get("closed") and e.data.get("stage") == "published"]
    for delivery_pk in stuck:
        process_delivery.enqueue(delivery_pk)
    for decision_id, target in pending:
        write_decision.enqueue(int(decision_id), str(target))
    refreshes = FormRefreshes(queue.huey)
    listed = {form_id: refreshes.listed_at(form_id) for _entry, form_id, _decided in forms}
    quiet = queue.settings.google.reconcile_quiet_seconds
    due = forms_to_reconcile(forms, listed, now.timestamp(), quiet_seconds=quiet,
                             budget=reconcile_budget(queue.settings))
    if len(due) < len(forms):
        logger.info("reconcile: %s of %s open forms due (the others were listed recently or wait for "
                    "the next sweep)", len(due), len(forms))
    spacing = RECONCILE_INTERVAL_SECONDS / max(1, len(due))
    for i, (entry_id, _form_id) in enumerate(due):
        # An immediate (in-memory) queue runs jobs inline and has no scheduler for delayed ones.
        reconcile_form.enqueue(entry_id, delay=None if queue.immediate else i * spacing or None)


@job(retries=0, name="results.reconcile_form", priority=-10)
def reconcile_form(queue: JobQueue, entry_id: int) -> None:
    """List one form's responses for the sweep, unless a push had it listed since it was planned."""
    from lms_bridge.results.coalesce import FormRefreshes
    from lms_bridge.results.service import refresh_form

    with queue.sessions() as db:
        entry = db.get(JournalEntry, entry_id)
        if entry is None or entry.data.get("closed"):
            return
        form_id = entry.external_id
    refreshes = FormRefreshes(queue.huey)
    listed = refreshes.listed_at(form_id)
    if listed is not None and listed > datetime.now(UTC).timestamp() - queue.settings.google.reconcile_quiet_seconds:
        return
    new: list[int] = []

    def run_once() -> None:
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
        return
    _enqueue_writebacks(new)
