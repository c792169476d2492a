"""Starting and running provisioning: what the admin page's button, the CLI and the worker call.

* :func:`provision` queues a run (the admin page): one pending row per step, then the
  ``provision_session`` job; the worker runs it and the page polls the rows.
* :func:`run_now` runs a session's plan to completion in this process (``lms-bridge provision``).
* :func:`execute` is the body of both: take the session's lease, load the run, build the plan and
  the clients, run the engine.

Only the lease's holder runs a session's plan (see :mod:`lms_bridge.lease`); a second
run is refused with the holder's name.  A run whose holder fell silent is shown as interrupted and
the next run takes over at once; if nobody retries, :func:`resume_interrupted` (a periodic job)
takes it over by itself, a bounded number of times in a row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from huey import crontab
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job, periodic_job
from lms_bridge.lease import JOB_TRIGGER, Holder, Lease, LeaseHeld, LeaseLost, acquire, live_holder
from lms_bridge.provisioning.engine import execute_run, start_run
from lms_bridge.remote import ApiCalls, describe_error
from lms_bridge.store.models import AuditEvent, ExamSession, ProvisioningRun, ProvisioningStepRun

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
# How long a run waits for a background job's write under the session's lease (seconds at most).
JOB_PATIENCE_SECONDS = 10.0
# The trigger of a run the automatic take-over started (see resume_interrupted).
AUTO_TRIGGER = "auto"
# A queued run that no worker has picked up for this long (the worker is down or lost the job) may
# be retried; if its job turns up later it takes the lease in turn and finds nothing left to do.
QUEUED_PATIENCE = timedelta(minutes=10)


class ProvisioningError(Exception):
    """Provisioning cannot start; the message says why in plain words."""


class RunRefused(ProvisioningError):
    """Another live process runs the session's plan; the message names it and since when."""

    def __init__(self, held: LeaseHeld) -> None:
        super().__init__(held.message)
        self.holder = held.holder


def lease_options(settings: Settings) -> dict[str, float]:
    return {"heartbeat_seconds": settings.run_heartbeat_seconds,
            "timeout_seconds": settings.run_lease_timeout_seconds}


def _sessions_for(settings: Settings, sessions: sessionmaker[Session] | None) -> sessionmaker[Session]:
    if sessions is not None:
        return sessions
    from lms_bridge.jobs.queue import get_queue

    queue = get_queue(settings)
    if queue.settings.effective_database_url != settings.effective_database_url:
        # Jobs would run against another store than the one the run is written to.
        raise ProvisioningError(_("The job queue uses another store than the admin page; give the worker "
                                  "and the page the same LMS_BRIDGE_DATABASE_URL."))
    return queue.sessions


def _session_by_code(db: Session, code: str) -> ExamSession:
    session = db.scalar(select(ExamSession).where(ExamSession.code == code))
    if session is None:
        raise ProvisioningError(_("There is no session with the code %(code)s; import it first.", code=code))
    return session


@dataclass(frozen=True)
class RunState:
    """How a run is shown: its stored status, or ``interrupted`` when its holder is gone."""

    status: str
    note: str = ""

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


def run_state(db: Session, run: ProvisioningRun, settings: Settings, now: datetime | None = None) -> RunState:
    """``running`` only while the run's holder beats; ``queued`` only for ``QUEUED_PATIENCE``."""
    now = now or datetime.now(UTC)
    if run.status == "running":
        session = db.get(ExamSession, run.session_id)
        holder = live_holder(db, session.code, settings.run_lease_timeout_seconds, now) if session else None
        if holder is not None and holder.run_id == run.id:
            return RunState("running")
        return RunState("interrupted", _(
            "The process running it stopped giving signs of life; retry to resume where it stopped."))
    if run.status == "queued" and now - run.queued_at >= QUEUED_PATIENCE:
        return RunState("interrupted", _("No worker has picked this run up; check that a worker is running, "
                                         "then retry."))
    return RunState(run.status)


def active_run(db: Session, session: ExamSession, settings: Settings, now: datetime | None = None,
               ) -> ProvisioningRun | None:
    """The run still queued or running for ``session`` (and not interrupted), if any."""
    run = db.scalar(select(ProvisioningRun).where(
        ProvisioningRun.session_id == session.id, ProvisioningRun.status.in_(ACTIVE_STATUSES),
    ).order_by(ProvisioningRun.id.desc()).limit(1))
    if run is None:
        return None
    return run if run_state(db, run, settings, now).active else None


def current_holder(db: Session, code: str, settings: Settings) -> Holder | None:
    return live_holder(db, code, settings.run_lease_timeout_seconds)


def _new_run(settings: Settings, db: Session, code: str, trigger: str) -> ProvisioningRun:
    from lms_bridge.provisioning.plan import build_plan

    session = _session_by_code(db, code)
    plan = build_plan(settings, session.kind, commission_vote=(session.options or {}).get("commission_vote"))
    return start_run(db, session, plan, trigger)


def provision(settings: Settings, code: str, trigger: str = "admin", *,
              sessions: sessionmaker[Session] | None = None) -> ProvisioningRun:
    """Queue a provisioning run for the session ``code`` and return it.

    A second click while a run is queued returns that run instead of starting another; while
    another process runs the plan, :class:`RunRefused` names it.
    """
    factory = _sessions_for(settings, sessions)
    with factory() as db:
        session = _session_by_code(db, code)
        holder = current_holder(db, code, settings)
        if holder is not None and holder.trigger != JOB_TRIGGER:  # a job's write is over in seconds
            raise RunRefused(LeaseHeld(holder, settings.run_lease_timeout_seconds))
        existing = active_run(db, session, settings)
        if existing is not None:
            return existing
        run = _new_run(settings, db, code, trigger)
        run_id = run.id
    provision_session.enqueue(run_id)
    with factory() as db:  # in immediate mode the job has already run: return what it did
        fresh = db.get(ProvisioningRun, run_id)
        assert fresh is not None
        return _loaded(fresh)


def take_lease(settings: Settings, sessions: sessionmaker[Session], code: str, trigger: str,
               run_id: int | None = None) -> Lease:
    """The session's lease for this process, or :class:`RunRefused` naming its live holder."""
    try:
        return acquire(sessions, code, trigger=trigger, run_id=run_id, job_patience=JOB_PATIENCE_SECONDS,
                       **lease_options(settings))
    except LeaseHeld as held:
        raise RunRefused(held) from None


def run_now(settings: Settings, code: str, trigger: str = "cli", *,
            sessions: sessionmaker[Session] | None = None, lease: Lease | None = None) -> ProvisioningRun:
    """Run the session's whole plan here and now, returning the finished run.

    ``lease`` is the session's lease when the caller took it already (the CLI takes it before its
    import); otherwise it is taken here, and :class:`RunRefused` says who holds it.
    """
    factory = _sessions_for(settings, sessions)
    own = lease is None
    held = take_lease(settings, factory, code, trigger) if lease is None else lease
    try:
        with factory() as db:
            run_id = _new_run(settings, db, code, trigger).id
        held.attach_run(run_id)
        return execute(settings, factory, run_id, lease=held)
    finally:
        if own:
            held.release()


def execute(settings: Settings, sessions: sessionmaker[Session], run_id: int, *,
            lease: Lease | None = None) -> ProvisioningRun:
    """Run the plan for the queued run ``run_id`` (the job's body; safe to call again on the same run).

    Without ``lease`` (the worker) the session's lease is taken here for this run; when another
    live process holds it, the run is marked failed with that process's name and nothing runs.
    """
    from lms_bridge.backends import build_backends
    from lms_bridge.provisioning.plan import build_plan
    from lms_bridge.store.repo import spec_from_store

    with sessions() as db:
        run = db.get(ProvisioningRun, run_id)
        if run is None:
            raise ProvisioningError(_("Provisioning run %(run)s does not exist.", run=run_id))
        if run.status == "succeeded":
            return _loaded(run)  # a duplicate delivery of the job: nothing left to do
        session = db.get(ExamSession, run.session_id)
        assert session is not None
        own = lease is None
        if lease is None:
            try:
                lease = acquire(sessions, session.code, trigger=run.trigger, run_id=run.id,
                                **lease_options(settings))
            except LeaseHeld as held:
                if held.holder.trigger == JOB_TRIGGER and run.status == "queued":
                    # A background job writes for a few seconds (a watch's renewal): the run waits.
                    provision_session.enqueue(run_id, delay=JOB_PATIENCE_SECONDS)
                    return _loaded(run)
                _fail(db, run, held.message)
                return _loaded(run)
        try:
            interrupt_orphans(db, session.id, keep=run.id)
            spec = spec_from_store(db, session)
            api_calls = ApiCalls()
            backends = build_backends(settings, api_calls)
            plan = build_plan(settings, spec.kind, commission_vote=spec.commission_vote)
            result = execute_run(db, run, plan, spec, backends, api_calls, fence=lease.fence)
        except LeaseLost as lost:
            # Another process took over and marked this run interrupted: leave its rows as they are.
            db.rollback()
            logger.error("provisioning run %s stopped: %s", run_id, lost.message)
            db.expire_all()
            return _loaded(run)
        except Exception as exc:
            db.rollback()
            logger.exception("provisioning run %s could not run", run_id)
            _fail(db, run, describe_error(exc))
            raise
        finally:
            if own:
                lease.release()
        return _loaded(result)


def interrupt_orphans(db: Session, session_id: int, keep: int | None = None, note: str | None = None) -> int:
    """Mark every other ``running`` run of the session interrupted.  Called by the lease's holder
    only: no other run can be alive then, so these are runs whose process died mid-way."""
    now = datetime.now(UTC)
    ids = list(db.scalars(select(ProvisioningRun.id).where(
        ProvisioningRun.session_id == session_id, ProvisioningRun.status == "running",
        ProvisioningRun.id != (keep if keep is not None else -1))))
    if not ids:
        return 0
    note = note or _("Interrupted: the process running it stopped giving signs of life, and a later run took "
                     "over.")
    db.execute(update(ProvisioningStepRun).where(ProvisioningStepRun.run_id.in_(ids),
                                                 ProvisioningStepRun.status == "running")
               .values(status="failed", error=note, finished_at=now))
    db.execute(update(ProvisioningStepRun).where(ProvisioningStepRun.run_id.in_(ids),
                                                 ProvisioningStepRun.status == "pending")
               .values(status="skipped"))
    db.execute(update(ProvisioningRun).where(ProvisioningRun.id.in_(ids))
               .values(status="interrupted", error=note, finished_at=now))
    db.commit()
    logger.warning("provisioning runs %s were interrupted (their holder stopped beating)", ids)
    return len(ids)


def _loaded(run: ProvisioningRun) -> ProvisioningRun:
    """Load the step rows while the session is open: callers read them after it closes."""
    list(run.steps)
    return run


def _fail(db: Session, run: ProvisioningRun, error: str) -> None:
    now = datetime.now(UTC)
    run.status, run.error, run.finished_at = "failed", error, now
    for step in run.steps:
        if step.status == "running":
            step.status, step.error, step.finished_at = "failed", error, now
        elif step.status == "pending":
            step.status = "skipped"
    db.commit()


def mark_run_failed(sessions: sessionmaker[Session], run_id: int, error: str) -> None:
    """Record that a run's job gave up (its last attempt failed)."""
    with sessions() as db:
        run = db.get(ProvisioningRun, run_id)
        if run is not None and run.status != "succeeded":
            _fail(db, run, error)


# -- the automatic take-over of an interrupted run -------------------------------------------------

def interrupted_runs(db: Session, settings: Settings, now: datetime | None = None) -> list[tuple[str, int]]:
    """(session code, run id) of every unsealed session whose newest run is still marked running
    while nobody holds the session's lease: its process died (kill -9, a lost machine) mid-way."""
    newest = select(func.max(ProvisioningRun.id)).group_by(ProvisioningRun.session_id)
    rows = db.execute(select(ExamSession.code, ProvisioningRun.id).join(
        ExamSession, ExamSession.id == ProvisioningRun.session_id).where(
        ProvisioningRun.id.in_(newest), ProvisioningRun.status == "running",
        ExamSession.status != "sealed").order_by(ProvisioningRun.id)).all()
    return [(code, run_id) for code, run_id in rows
            if live_holder(db, code, settings.run_lease_timeout_seconds, now) is None]


def auto_resumptions(db: Session, session_id: int) -> int:
    """How many automatic take-overs in a row the session's newest runs are (a person's run ends the row)."""
    count = 0
    for trigger in db.scalars(select(ProvisioningRun.trigger).where(ProvisioningRun.session_id == session_id)
                              .order_by(ProvisioningRun.id.desc())):
        if trigger != AUTO_TRIGGER:
            break
        count += 1
    return count


def resume(settings: Settings, sessions: sessionmaker[Session], code: str, interrupted: int,
           ) -> ProvisioningRun | None:
    """Take over the interrupted run ``interrupted`` of session ``code``: a new run (trigger
    ``auto``) under the session's lease, which resumes from the journal like a person's retry.

    None when there is nothing to take over: another process holds the lease (another worker took
    over first, a person retried), the run is no longer the newest or no longer marked running, or
    the session's automatic take-overs reached ``run_auto_resume_limit`` in a row (then the run is
    marked interrupted with a note asking for a person's retry, and the audit trail says so)."""
    try:
        lease = acquire(sessions, code, trigger=AUTO_TRIGGER, **lease_options(settings))
    except LeaseHeld:
        return None
    try:
        with sessions() as db:
            session = _session_by_code(db, code)
            newest = db.scalar(select(ProvisioningRun).where(ProvisioningRun.session_id == session.id)
                               .order_by(ProvisioningRun.id.desc()).limit(1))
            if newest is None or newest.id != interrupted or newest.status != "running":
                return None  # finished, or taken over between the look and the lease
            attempts = auto_resumptions(db, session.id)
            if attempts >= settings.run_auto_resume_limit:
                interrupt_orphans(db, session.id, note=_(
                    "Interrupted: the process running it stopped giving signs of life. It was resumed "
                    "automatically %(times)s times in a row without finishing, so it is not resumed again by "
                    "itself; check the log, then retry.", times=attempts))
                db.add(AuditEvent(session_id=session.id, actor="worker", action="provisioning.resume_stopped",
                                  detail={"run": interrupted, "attempts": attempts}))
                db.commit()
                logger.error("provisioning of %s: run %s interrupted again after %s automatic take-overs; "
                             "left for a person", code, interrupted, attempts)
                return None
            interrupt_orphans(db, session.id, note=_(
                "Interrupted: the process running it stopped giving signs of life; a worker resumed it "
                "automatically."))
            run = _new_run(settings, db, code, AUTO_TRIGGER)
            db.add(AuditEvent(session_id=session.id, actor="worker", action="provisioning.resumed",
                              detail={"interrupted_run": interrupted, "run": run.id, "attempt": attempts + 1}))
            db.commit()
            run_id = run.id
        logger.warning("provisioning of %s: run %s was interrupted; run %s resumes it automatically",
                       code, interrupted, run_id)
        lease.attach_run(run_id)
        return execute(settings, sessions, run_id, lease=lease)
    finally:
        lease.release()


@periodic_job(crontab(minute="*"), name="provisioning.resume_interrupted")
def resume_interrupted(queue: JobQueue) -> None:
    """Each minute: take over every provisioning run whose process died mid-way (see :func:`resume`).
    Any number of workers may run it at once: the session's lease lets one of them take over."""
    if queue.settings.run_auto_resume_limit <= 0:
        return
    with queue.sessions() as db:
        found = interrupted_runs(db, queue.settings)
    for code, run_id in found:
        try:
            resume(queue.settings, queue.sessions, code, run_id)
        except Exception:  # recorded on the new run; the other sessions still get their turn
            logger.exception("the automatic take-over of %s's run %s failed", code, run_id)


# -- the job ---------------------------------------------------------------------------------------

def _provision_failed(queue: JobQueue, run_id: int, *, error: str) -> None:
    mark_run_failed(queue.sessions, run_id, error)


@job(retries=2, retry_delay=20.0, name="provision_session", on_failure=_provision_failed)
def provision_session(queue: JobQueue, run_id: int) -> None:
    """Run the provisioning plan for a queued run.

    Step failures are recorded on the run by the engine and do not raise; what raises here is the
    store or the worker itself failing, which the queue retries: the journal makes a rerun of the
    same run safe (it resumes and creates no duplicates).
    """
    execute(queue.settings, queue.sessions, run_id)
