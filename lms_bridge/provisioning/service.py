"""Starting and running provisioning: what the admin page's button, the CLI and the worker call.

* :func:`provision` queues a run (the admin page): one pending row per step, then the
  ``provision_session`` job; the worker runs it and the page polls the rows.
* :func:`run_now` runs a session's plan to completion in this process (``lms-bridge provision``).
* :func:`execute` is the body of both: take the session's lease, load the run, build the plan and
  the clients, run the engine.

Only the lease's holder runs a session's plan (see :mod:`lms_bridge.provisioning.lease`); a second
run is refused with the holder's name.  A run whose holder fell silent is shown as interrupted and
the next run takes over at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.provisioning.engine import execute_run, start_run
from lms_bridge.provisioning.lease import Holder, Lease, LeaseHeld, LeaseLost, acquire, live_holder
from lms_bridge.remote import ApiCalls, describe_error
from lms_bridge.store.models import ExamSession, ProvisioningRun, ProvisioningStepRun

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
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
        if holder is not None:
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
        return acquire(sessions, code, trigger=trigger, run_id=run_id, **lease_options(settings))
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


def interrupt_orphans(db: Session, session_id: int, keep: int | None = None) -> int:
    """Mark every other ``running`` run of the session interrupted.  Called by the lease's holder
    only: no other run can be alive then, so these are runs whose process died mid-way."""
    now = datetime.now(UTC)
    ids = list(db.scalars(select(ProvisioningRun.id).where(
        ProvisioningRun.session_id == session_id, ProvisioningRun.status == "running",
        ProvisioningRun.id != (keep if keep is not None else -1))))
    if not ids:
        return 0
    note = _("Interrupted: the process running it stopped giving signs of life, and a later run took over.")
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
