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

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

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
    """Run every step of ``plan`` in order, recording progress; stop at the first failure.

    Steps already done in an earlier run are not skipped wholesale: each one is cheap to replay
    because its items are journaled, and replaying lets a step pick up items added by a re-import
    (a student admitted late gets a form on the next run).

    ``fence`` (the run's lease) is checked with every commit; when the lease was taken over it
    raises :class:`~lms_bridge.lease.LeaseLost` and this run writes nothing more (the
    process that took over has marked it interrupted).
    """
    api_calls = api_calls or ApiCalls()
    session = db.get(ExamSession, run.session_id)
    assert session is not None

    def commit() -> None:
        if fence is not None:
            fence(db)
        db.commit()

    by_name = {s.name: s for s in run.steps}
    started = time.monotonic()
    run.status, run.started_at, run.error = "running", datetime.now(UTC), ""
    commit()
    failed = False
    for step in plan:
        row = by_name.get(step.name)
        if row is None:
            row = ProvisioningStepRun(run_id=run.id, position=len(run.steps), name=step.name)
            run.steps.append(row)
        if failed:
            row.status = "skipped"
            continue
        row.status, row.started_at, row.error = "running", datetime.now(UTC), ""
        commit()
        ctx = StepContext(db, session, spec, backends, api_calls, row, fence=fence)
        try:
            step.run(ctx)
        except LeaseLost:
            db.rollback()
            raise
        except StepFailed as exc:
            db.rollback()
            row.status, row.error = "failed", exc.message
            failed = True
        except Exception as exc:  # an unexpected failure must still show on the page, in plain words
            db.rollback()
            logger.exception("provisioning step %s failed", step.name)
            row.status, row.error = "failed", describe_error(exc)
            failed = True
        else:
            row.status = "done"
        row.created, row.reused, row.finished_at = ctx.created, ctx.reused, datetime.now(UTC)
        run.api_calls = api_calls.snapshot()
        commit()
    run.created = sum(s.created for s in run.steps)
    run.reused = sum(s.reused for s in run.steps)
    run.status = "failed" if failed else "succeeded"
    run.error = next((s.error for s in run.steps if s.status == "failed"), "")
    run.finished_at = datetime.now(UTC)
    run.api_calls = api_calls.snapshot()
    if not failed and session.status == "imported":
        session.status = "provisioned"
    commit()
    logger.info("provisioning run %s for %s %s in %.1fs", run.id, session.code, run.status,
                time.monotonic() - started)
    return run


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
