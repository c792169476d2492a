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
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.session import SessionSpec
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningRun, ProvisioningStepRun

logger = logging.getLogger(__name__)

SERVICES = ("classroom", "forms", "drive", "sheets", "moodle")


class ApiCalls:
    """Thread-safe count of remote calls per service; every client's choke point increments it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, service: str, n: int = 1) -> None:
        with self._lock:
            self._counts[service] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            extra = sorted(set(self._counts) - set(SERVICES))
            return {s: self._counts.get(s, 0) for s in (*SERVICES, *extra)}


@dataclass(frozen=True)
class Made:
    """What ``create``/``find`` return: the outside id and anything worth keeping (urls, cmids, ...)."""

    external_id: str
    data: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    """A step could not finish.  ``message`` is a plain-words sentence shown to the secretary."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class StepContext:
    """What a step gets: the session, the store, the journal, the clients and the counters."""

    def __init__(self, db: Session, session: ExamSession, spec: SessionSpec, backends: Any,
                 api_calls: ApiCalls, step_run: ProvisioningStepRun | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.db = db
        self.session = session
        self.spec = spec
        self.backends = backends
        self.api_calls = api_calls
        self.step_run = step_run
        self.now = now
        self.created = 0
        self.reused = 0
        self._step_name = step_run.name if step_run is not None else ""

    # -- the journal -------------------------------------------------------------------------------
    def journaled(self, key: str) -> JournalEntry | None:
        return self.db.scalar(select(JournalEntry).where(
            JournalEntry.session_id == self.session.id, JournalEntry.key == key))

    def journal_prefix(self, prefix: str) -> list[JournalEntry]:
        return list(self.db.scalars(select(JournalEntry).where(
            JournalEntry.session_id == self.session.id,
            JournalEntry.key.startswith(prefix, autoescape=True))))

    def record(self, key: str, made: Made, *, created: bool) -> JournalEntry:
        """Journal an outside object and commit at once (see the module docstring for why)."""
        entry = self.journaled(key)
        if entry is None:
            entry = JournalEntry(session_id=self.session.id, step=self._step_name, key=key,
                                 external_id=made.external_id, data=dict(made.data))
            self.db.add(entry)
        else:
            entry.external_id = made.external_id
            entry.data = {**entry.data, **made.data}
        if created:
            self.created += 1
        else:
            self.reused += 1
        self._progress()
        self.db.commit()
        return entry

    def ensure(self, key: str, create: Callable[[], Made], find: Callable[[], Made | None] | None = None,
               ) -> JournalEntry:
        """Return the journaled object for ``key``, finding or creating it outside when needed."""
        entry = self.journaled(key)
        if entry is not None:
            self.reused += 1
            self._progress()
            return entry
        found = find() if find is not None else None
        if found is not None:
            return self.record(key, found, created=False)
        return self.record(key, create(), created=True)

    def remember(self, key: str, made: Made) -> JournalEntry:
        """Journal a fact of our own (not an outside object): counted neither created nor reused."""
        entry = self.journaled(key)
        if entry is None:
            entry = JournalEntry(session_id=self.session.id, step=self._step_name, key=key,
                                 external_id=made.external_id, data=dict(made.data))
            self.db.add(entry)
        else:
            entry.external_id, entry.data = made.external_id, dict(made.data)
        self.db.commit()
        return entry

    def update_data(self, key: str, **data: Any) -> None:
        entry = self.journaled(key)
        if entry is None:
            raise KeyError(key)
        entry.data = {**entry.data, **data}
        self.db.commit()

    def _progress(self) -> None:
        if self.step_run is not None:
            self.step_run.created = self.created
            self.step_run.reused = self.reused


class Step(Protocol):
    """A named provisioning step.  ``name`` is stable (it keys the journal and the progress rows)."""

    @property
    def name(self) -> str:
        """Read-only, so that frozen dataclasses (FunctionStep) satisfy the protocol."""
        ...

    def title(self) -> str:
        """A translated, human label for the admin page (call inside a locale context)."""
        ...

    def run(self, ctx: StepContext) -> None:
        """Do the step idempotently through ``ctx.ensure``/``ctx.record``; raise StepFailed to stop."""
        ...


@dataclass(frozen=True)
class FunctionStep:
    """A step made of a function; handy for the small ones."""

    name: str
    label: Callable[[], str]
    fn: Callable[[StepContext], None]

    def title(self) -> str:
        return self.label()

    def run(self, ctx: StepContext) -> None:
        self.fn(ctx)


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


def describe_error(exc: BaseException) -> str:
    """A one-line description of an error for the secretary, never a traceback and never a secret."""
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:500]


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
