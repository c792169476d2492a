"""The step kit: what a provisioning step is given and what it gives back.

A step never creates blindly.  For each thing it needs (a course, a form, an enrolment) it asks the
journal under a deterministic key through :meth:`StepContext.ensure`; a key already journaled is
*reused*, otherwise the step looks the thing up outside (``find``) and only then creates it
(``create``).  The journal row is committed right after the outside call returns (see
:mod:`lms_bridge.provisioning.engine`, which runs the steps).

The kit sits below the clients' steps (``lms_bridge.google.steps``, ``lms_bridge.moodle.steps``) and
the engine, so that the steps never depend on the engine that runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from lms_bridge.domain.session import SessionSpec
from lms_bridge.remote import ApiCalls
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningStepRun
from lms_bridge.store.repo import journal_entries, journal_entry


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
        return journal_entry(self.db, self.session.id, key)

    def journal_prefix(self, prefix: str) -> list[JournalEntry]:
        return journal_entries(self.db, self.session.id, prefix)

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
