"""The provisioning engine: runs a plan of named steps, journaling every outside object it makes.

A step never creates blindly.  For each thing it needs (a course, a form, an enrolment) it asks the
journal under a deterministic key; a key already journaled is *reused*, otherwise the step looks the
thing up outside (``find``) and only then creates it (``create``).  The journal row is committed right
after the outside call returns, so a crash loses at most the one object in flight, and that one is
found again by ``find`` on the rerun.  Hence a rerun resumes, skips what is done and makes no
duplicates, and a second run over a finished session reports ``created == 0``.

The journal is never overwritten behind a step's back.  A step may replace an entry's external id
only after reading that entry in this run, and only if nobody changed it since (the UPDATE is
conditional on the id it read): a renewal that yields a new watch id does so.  An entry that
another run wrote in between, with a different id, fails the step in plain words and is left as it
was.  Every journal write also passes the run's *fence* (its lease, see
:mod:`lms_bridge.lease`) in the same transaction, so a run that lost its lease cannot
write anything more.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.domain.session import SessionSpec
from lms_bridge.journal import Fence, Step, StepContext, StepFailed
from lms_bridge.lease import LeaseLost
from lms_bridge.remote import SERVICES, ApiCalls, describe_error
from lms_bridge.store.models import ExamSession, ProvisioningRun, ProvisioningStepRun

logger = logging.getLogger(__name__)


def start_run(db: Session, session: ExamSession, plan: Sequence[Step], trigger: str = "cli",
              ) -> ProvisioningRun:
    """Create a queued run with one pending row per step (what the admin page shows at once)."""
    run = ProvisioningRun(session_id=session.id, status="queued", trigger=trigger)
    run.steps = [ProvisioningStepRun(position=i, name=step.name, status="pending")
                 for i, step in enumerate(plan)]
    db.add(run)
    db.commit()
    return run


def execute_run(db: Session, run: ProvisioningRun, plan: Iterable[Step], spec: SessionSpec, backends: Any,
                api_calls: ApiCalls | None = None, fence: Fence | None = None) -> ProvisioningRun:
    """Run every step of ``plan``, recording progress; after the first failure no step starts.

    Steps already done in an earlier run are not skipped wholesale: each one is cheap to replay
    because its items are journaled, and replaying lets a step pick up items added by a re-import
    (a student admitted late gets a form on the next run).

    Most steps run one after another in this thread.  The steps of a *lane* (``step.lane``: the
    Classroom roster and posts, the Moodle steps) run in a thread of their own, one after another,
    from the moment the step they come ``after`` is done, beside the Forms-bound steps: each lane
    spends its own service's quota.  A lane's thread has its own store session; its journal writes
    pass the same fence.  A step that ``needs`` a lane's step waits for it.

    ``fence`` (the run's lease) is checked with every commit; when the lease was taken over it
    raises :class:`~lms_bridge.lease.LeaseLost` and this run writes nothing more (the
    process that took over has marked it interrupted).
    """
    api_calls = api_calls or ApiCalls()
    session = db.get(ExamSession, run.session_id)
    assert session is not None
    steps = list(plan)

    def commit(on: Session = db) -> None:
        if fence is not None:
            fence(on)
        on.commit()

    by_name = {s.name: s for s in run.steps}
    for step in steps:
        if step.name not in by_name:
            row = ProvisioningStepRun(run_id=run.id, position=len(run.steps), name=step.name, status="pending")
            run.steps.append(row)
            by_name[step.name] = row
    started = time.monotonic()
    run.status, run.started_at, run.error = "running", datetime.now(UTC), ""
    commit()
    failed = threading.Event()
    lost: list[LeaseLost] = []
    parallel = _lanes_allowed(db)
    names = {s.name for s in steps}
    laned = [s for s in steps if parallel and getattr(s, "lane", "")]
    lanes: dict[str, ThreadPoolExecutor] = {}
    futures: dict[str, Future[None]] = {}
    bind = db.get_bind()
    factory = sessionmaker(getattr(bind, "engine", bind), expire_on_commit=False) if laned else None

    def run_step(step: Step, on: Session, row: ProvisioningStepRun, exam: ExamSession) -> None:
        row.status, row.started_at, row.error = "running", datetime.now(UTC), ""
        commit(on)
        ctx = StepContext(on, exam, spec, backends, api_calls, row, fence=fence)
        try:
            step.run(ctx)
        except LeaseLost:
            on.rollback()
            raise
        except StepFailed as exc:
            on.rollback()
            row.status, row.error = "failed", exc.message
            failed.set()
        except Exception as exc:  # an unexpected failure must still show on the page, in plain words
            on.rollback()
            logger.exception("provisioning step %s failed", step.name)
            row.status, row.error = "failed", describe_error(exc)
            failed.set()
        else:
            row.status = "done"
        row.created, row.reused, row.finished_at = ctx.created, ctx.reused, datetime.now(UTC)
        commit(on)

    def in_lane(step: Step, row_id: int) -> None:
        assert factory is not None
        if failed.is_set() or lost:
            return  # marked skipped below
        with factory() as own:
            row = own.get(ProvisioningStepRun, row_id)
            exam = own.get(ExamSession, session.id)
            assert row is not None
            assert exam is not None
            try:
                run_step(step, own, row, exam)
            except LeaseLost as exc:
                lost.append(exc)
                failed.set()

    def start_lanes(after: str) -> None:
        for step in laned:
            wanted = getattr(step, "after", "")
            if (wanted if wanted in names else "") == after:
                lane = lanes.setdefault(step.lane, ThreadPoolExecutor(1, thread_name_prefix=f"lane-{step.lane}"))
                # The lane's thread sees this one's context (the language of the step's messages).
                futures[step.name] = lane.submit(contextvars.copy_context().run, in_lane, step,
                                                 by_name[step.name].id)

    def wait_for(step: Step) -> bool:
        """Wait for the lane steps this one needs; whether they are done."""
        ok = True
        for need in getattr(step, "needs", ()):
            if need in futures:
                futures[need].result()
                db.refresh(by_name[need])
                ok = ok and by_name[need].status == "done"
        return ok

    try:
        start_lanes("")
        for step in steps:
            if step in laned:
                continue
            row = by_name[step.name]
            if failed.is_set() or lost or not wait_for(step):
                row.status = "skipped"
                continue
            run_step(step, db, row, session)
            run.api_calls = api_calls.snapshot()
            commit()
            if row.status == "done":
                start_lanes(step.name)
    finally:
        for lane in lanes.values():
            lane.shutdown(wait=True)
    if lost:
        db.rollback()
        raise lost[0]
    for step in laned:
        row = by_name[step.name]
        db.refresh(row)
        if row.status in ("pending", "running"):
            row.status = "skipped"
    run.created = sum(s.created for s in run.steps)
    run.reused = sum(s.reused for s in run.steps)
    any_failed = any(s.status == "failed" for s in run.steps)
    run.status = "failed" if any_failed else "succeeded"
    run.error = next((s.error for s in sorted(run.steps, key=lambda r: r.position) if s.status == "failed"), "")
    run.finished_at = datetime.now(UTC)
    run.api_calls = api_calls.snapshot()
    if not any_failed and session.status == "imported":
        session.status = "provisioned"
    commit()
    logger.info("provisioning run %s for %s %s in %.1fs", run.id, session.code, run.status,
                time.monotonic() - started)
    return run


def _lanes_allowed(db: Session) -> bool:
    """Lanes need a second connection to the same store: not with an in-memory SQLite database."""
    bind = db.get_bind()
    url = getattr(bind, "engine", bind).url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


def run_summary(run: ProvisioningRun, session_code: str, seconds: float) -> dict[str, Any]:
    """The machine-readable summary `lms-bridge provision --json` prints as its last line."""
    return {
        "session": session_code,
        "run": run.id,
        "status": run.status,
        "steps": [{"name": s.name, "status": s.status, "created": s.created, "reused": s.reused,
                   **({"error": s.error} if s.error else {})} for s in run.steps],
        "created": run.created,
        "reused": run.reused,
        "api_calls": {svc: int(run.api_calls.get(svc, 0)) for svc in SERVICES},
        "seconds": round(seconds, 3),
    }
