"""The product's jobs.  Each takes ids (never ORM objects), opens its own store session and lets the
queue retry it; see :mod:`lms_bridge.jobs.queue` for how jobs are declared and run."""

from __future__ import annotations

from lms_bridge.jobs.queue import JobQueue, job


def _provision_failed(queue: JobQueue, run_id: int, *, error: str) -> None:
    from lms_bridge.provisioning.service import mark_run_failed

    mark_run_failed(queue.sessions, run_id, error)


@job(retries=2, retry_delay=20.0, name="provision_session", on_failure=_provision_failed)
def provision_session(queue: JobQueue, run_id: int) -> None:
    """Run the provisioning plan for a queued run.

    Step failures are recorded on the run by the engine and do not raise; what raises here is the
    store or the worker itself failing, which the queue retries: the journal makes a rerun of the
    same run safe (it resumes and creates no duplicates).
    """
    from lms_bridge.provisioning.service import execute

    execute(queue.settings, queue.sessions, run_id)
