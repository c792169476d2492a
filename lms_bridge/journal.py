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

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms_bridge.domain.session import SessionSpec
from lms_bridge.i18n import gettext as _
from lms_bridge.remote import ApiCalls
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningStepRun
from lms_bridge.store.repo import journal_entries, journal_entry

logger = logging.getLogger(__name__)


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


Fence = Callable[[Session], None]
"""Checked before every journal commit: raises when the run no longer holds its lease."""

_UNSEEN = object()  # a key this run has not read: it may be added, never changed


class StepContext:
    """What a step gets: the session, the store, the journal, the clients and the counters.

    The journal is never overwritten behind a step's back.  A step may replace an entry's external
    id only after reading that entry in this run, and only if nobody changed it since (the UPDATE is
    conditional on the id it read): a renewal that yields a new watch id does so.  An entry that
    another run wrote in between, with a different id, fails the step in plain words and is left as
    it was.  Every journal write also passes the run's ``fence`` (its lease) in the same
    transaction, so a run that lost its lease cannot write anything more.
    """

    def __init__(self, db: Session, session: ExamSession, spec: SessionSpec, backends: Any,
                 api_calls: ApiCalls, step_run: ProvisioningStepRun | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC), fence: Fence | None = None) -> None:
        self.db = db
        self.session = session
        self.spec = spec
        self.backends = backends
        self.api_calls = api_calls
        self.step_run = step_run
        self.now = now
        self.fence = fence
        self.created = 0
        self.reused = 0
        self._step_name = step_run.name if step_run is not None else ""
        # The external id this run read for each key (None: read as absent): what it may replace.
        self._seen: dict[str, str | None] = {}

    # -- the journal -------------------------------------------------------------------------------
    def _lookup(self, key: str) -> JournalEntry | None:
        return journal_entry(self.db, self.session.id, key, fresh=True)

    def journaled(self, key: str) -> JournalEntry | None:
        entry = self._lookup(key)
        self._seen[key] = entry.external_id if entry is not None else None
        return entry

    def journal_prefix(self, prefix: str) -> list[JournalEntry]:
        entries = journal_entries(self.db, self.session.id, prefix, fresh=True)
        for entry in entries:
            self._seen[entry.key] = entry.external_id
        return entries

    def commit(self) -> None:
        """Commit this step's writes, only while the run still holds its lease."""
        if self.fence is not None:
            self.fence(self.db)
        self.db.commit()

    def _conflict(self, key: str, recorded: str, got: str) -> StepFailed:
        self.db.rollback()
        logger.error("journal conflict on %s: recorded %s, this run got %s", key, recorded, got)
        return StepFailed(_("The journal already records %(key)s as %(recorded)s, written by another run, "
                            "but this run got %(got)s. Nothing was overwritten; check %(got)s in the service "
                            "(it may be a duplicate to delete) and run the provisioning again.",
                            key=key, recorded=recorded, got=got), retryable=False)

    def _write(self, key: str, made: Made, *, merge: bool) -> JournalEntry:
        """Insert or update ``key``; never replace an external id this run did not read (see the class
        docstring), and commit at once, fenced."""
        seen = self._seen.get(key, _UNSEEN)
        for _attempt in range(2):
            # Locked until the commit: a job adding to the same entry's data (a form's responses
            # cursor) waits, and neither write loses the other's keys.
            current = journal_entry(self.db, self.session.id, key, for_update=True)
            if current is None:
                entry = JournalEntry(session_id=self.session.id, step=self._step_name, key=key,
                                     external_id=made.external_id, data=dict(made.data))
                self.db.add(entry)
                try:
                    self.commit()
                except IntegrityError:  # another run journaled the key between the lookup and now
                    self.db.rollback()
                    self._progress()  # the rollback dropped the step's counters too
                    continue
                self._seen[key] = made.external_id
                return entry
            if current.external_id != made.external_id and seen != current.external_id:
                raise self._conflict(key, current.external_id, made.external_id)
            data = {**current.data, **made.data} if merge else dict(made.data)
            # Conditional on the id just read: a concurrent replacement makes it match nothing.
            changed = self.db.execute(update(JournalEntry).where(
                JournalEntry.id == current.id, JournalEntry.external_id == current.external_id,
            ).values(external_id=made.external_id, data=data))
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                fresh = self._lookup(key)
                raise self._conflict(key, fresh.external_id if fresh is not None else "-", made.external_id)
            self.commit()
            self.db.refresh(current)
            self._seen[key] = made.external_id
            return current
        fresh = self._lookup(key)
        if fresh is not None and fresh.external_id == made.external_id:
            return fresh
        raise self._conflict(key, fresh.external_id if fresh is not None else "-", made.external_id)

    def record(self, key: str, made: Made, *, created: bool) -> JournalEntry:
        """Journal an outside object and commit at once (see the module docstring for why)."""
        if created:
            self.created += 1
        else:
            self.reused += 1
        self._progress()  # committed with the entry
        return self._write(key, made, merge=True)

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
        return self._write(key, made, merge=False)

    def update_data(self, key: str, **data: Any) -> None:
        """Add to an entry's data; it must still hold the external id this run read for it."""
        entry = self._lookup(key)
        if entry is None:
            raise KeyError(key)
        seen = self._seen.get(key, entry.external_id)
        if seen != entry.external_id:
            raise self._conflict(key, entry.external_id, str(seen))
        self._write(key, Made(entry.external_id, data), merge=True)

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
    # Steps of a ``lane`` run one after another in a thread of their own, beside the plan's other
    # steps (each on its own quota), starting once the step named ``after`` is done (at once when
    # it is "" or not in the plan).  ``needs``: steps that must be done before this one starts.
    lane: str = ""
    after: str = ""
    needs: tuple[str, ...] = ()

    def title(self) -> str:
        return self.label()

    def run(self, ctx: StepContext) -> None:
        self.fn(ctx)
