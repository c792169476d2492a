"""Starting and running provisioning: what the admin page's button, the CLI and the worker call.

* :func:`provision` queues a run (the admin page): one pending row per step, then the
  ``provision_session`` job; the worker runs it and the page polls the rows.
* :func:`run_now` runs a session's plan to completion in this process (``lms-bridge provision``).
* :func:`execute` is the body of both: load the run, build the plan and the clients, run the engine.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.provisioning.engine import execute_run, start_run
from lms_bridge.remote import ApiCalls, describe_error
from lms_bridge.store.models import ExamSession, ProvisioningRun

logger = logging.getLogger(__name__)

ACTIVE_STATUSES = ("queued", "running")
# A run queued or running for longer than this is taken to be abandoned (its worker died):
# a new click then starts a fresh run, which resumes from the journal without duplicates.
STALE_AFTER = timedelta(minutes=30)


class ProvisioningError(Exception):
    """Provisioning cannot start; the message says why in plain words."""


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


def active_run(db: Session, session: ExamSession, now: datetime | None = None) -> ProvisioningRun | None:
    """The run still queued or running for ``session`` (and not abandoned), if any."""
    now = now or datetime.now(UTC)
    run = db.scalar(select(ProvisioningRun).where(
        ProvisioningRun.session_id == session.id, ProvisioningRun.status.in_(ACTIVE_STATUSES),
    ).order_by(ProvisioningRun.id.desc()).limit(1))
    if run is None:
        return None
    since = run.started_at or run.queued_at
    return run if now - since < STALE_AFTER else None


def _new_run(settings: Settings, db: Session, code: str, trigger: str) -> ProvisioningRun:
    from lms_bridge.provisioning.plan import build_plan

    session = _session_by_code(db, code)
    return start_run(db, session, build_plan(settings), trigger)


def provision(settings: Settings, code: str, trigger: str = "admin", *,
              sessions: sessionmaker[Session] | None = None) -> ProvisioningRun:
    """Queue a provisioning run for the session ``code`` and return it.

    A second click while a run is queued or running returns that run instead of starting another.
    """
    factory = _sessions_for(settings, sessions)
    with factory() as db:
        session = _session_by_code(db, code)
        existing = active_run(db, session)
        if existing is not None:
            return existing
        run = _new_run(settings, db, code, trigger)
        run_id = run.id
    provision_session.enqueue(run_id)
    with factory() as db:  # in immediate mode the job has already run: return what it did
        fresh = db.get(ProvisioningRun, run_id)
        assert fresh is not None
        return _loaded(fresh)


def run_now(settings: Settings, code: str, trigger: str = "cli", *,
            sessions: sessionmaker[Session] | None = None) -> ProvisioningRun:
    """Run the session's whole plan here and now, returning the finished run."""
    factory = _sessions_for(settings, sessions)
    with factory() as db:
        run_id = _new_run(settings, db, code, trigger).id
    return execute(settings, factory, run_id)


def execute(settings: Settings, sessions: sessionmaker[Session], run_id: int) -> ProvisioningRun:
    """Run the plan for the queued run ``run_id`` (the job's body; safe to call again on the same run)."""
    from lms_bridge.backends import build_backends
    from lms_bridge.provisioning.plan import build_plan
    from lms_bridge.store.repo import spec_from_store

    with sessions() as db:
        run = db.get(ProvisioningRun, run_id)
        if run is None:
            raise ProvisioningError(_("Provisioning run %(run)s does not exist.", run=run_id))
        if run.status == "succeeded":
            return run  # a duplicate delivery of the job: nothing left to do
        try:
            session = db.get(ExamSession, run.session_id)
            assert session is not None
            spec = spec_from_store(db, session)
            api_calls = ApiCalls()
            backends = build_backends(settings, api_calls)
            result = execute_run(db, run, build_plan(settings), spec, backends, api_calls)
        except Exception as exc:
            db.rollback()
            logger.exception("provisioning run %s could not run", run_id)
            _fail(db, run, describe_error(exc))
            raise
        return _loaded(result)


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
