"""The provisioning engine: runs a plan of named steps, journaling every outside object it makes.

A step never creates blindly.  For each thing it needs (a course, a form, an enrolment) it asks the
journal under a deterministic key; a key already journaled is *reused*, otherwise the step looks the
thing up outside (``find``) and only then creates it (``create``).  The journal row is committed right
after the outside call returns, so a crash loses at most the one object in flight, and that one is
found again by ``find`` on the rerun.  Hence a rerun resumes, skips what is done and makes no
duplicates, and a second run over a finished session reports ``created == 0``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from lms_bridge.domain.session import SessionSpec
from lms_bridge.journal import Step, StepContext, StepFailed
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
                api_calls: ApiCalls | None = None) -> ProvisioningRun:
    """Run every step of ``plan`` in order, recording progress; stop at the first failure.

    Steps already done in an earlier run are not skipped wholesale: each one is cheap to replay
    because its items are journaled, and replaying lets a step pick up items added by a re-import
    (a student admitted late gets a form on the next run).
    """
    api_calls = api_calls or ApiCalls()
    session = db.get(ExamSession, run.session_id)
    assert session is not None
    by_name = {s.name: s for s in run.steps}
    started = time.monotonic()
    run.status, run.started_at, run.error = "running", datetime.now(UTC), ""
    db.commit()
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
        db.commit()
        ctx = StepContext(db, session, spec, backends, api_calls, row)
        try:
            step.run(ctx)
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
        db.commit()
    run.created = sum(s.created for s in run.steps)
    run.reused = sum(s.reused for s in run.steps)
    run.status = "failed" if failed else "succeeded"
    run.error = next((s.error for s in run.steps if s.status == "failed"), "")
    run.finished_at = datetime.now(UTC)
    run.api_calls = api_calls.snapshot()
    if not failed and session.status == "imported":
        session.status = "provisioned"
    db.commit()
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
