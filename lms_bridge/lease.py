"""One provisioning run per session at a time: a lease in the store, kept alive by a heartbeat.

Whoever runs a session's plan — ``lms-bridge provision`` in its own process, the worker running the
admin page's queued run, the demo's in-process worker — first takes the session's lease, a row of
``provisioning_leases`` keyed by the session code.  Taking it is one statement whose WHERE clause
decides (an UPDATE of a free or silent row, else an INSERT that the primary key lets only one
process win), so two processes started together cannot both get it, on SQLite or PostgreSQL.

The holder proves it is alive by moving ``heartbeat_at`` forward: a daemon thread every
``run_heartbeat_seconds``, and every journal write in the same transaction as the write (the
*fence*: a run that lost its lease cannot journal anything more).  A holder silent for
``run_lease_timeout_seconds`` is taken to be dead (killed, its machine gone): its run shows as
interrupted and the next run takes the lease over at once.

Background jobs that change what a run makes (a watch's renewal, a ticket opened in the tickets
quiz) take the same lease for the moment of their write, under the trigger :data:`JOB_TRIGGER`
(``JobQueue.session_lease``): a job never writes under a run's lease, and a run never starts while a
job writes.  A job that finds the lease held puts itself back in the queue for later; a run that
finds it held by a job waits for it (the job holds it for seconds), where it would refuse a run.

Times are the processes' clocks (UTC); hosts sharing a store are expected to keep time within a few
seconds of each other, far below the timeout.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.i18n import gettext as _
from lms_bridge.store.models import ProvisioningLease

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


TRIGGER_LABELS: dict[str, Callable[[], str]] = {
    "cli": lambda: _("the command line"),
    "admin": lambda: _("the admin page"),
    "demo": lambda: _("the demo"),
    "worker": lambda: _("a worker"),
    "job": lambda: _("a background job"),
    "auto": lambda: _("the automatic take-over of an interrupted run"),
}

# The trigger of a background job's lease (see the module docstring): held for seconds, so a run
# that finds it waits instead of being refused.
JOB_TRIGGER = "job"


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a session's lease, as the refusal message names it."""

    code: str
    trigger: str
    host: str
    pid: int
    run_id: int | None
    since: datetime
    heartbeat_at: datetime

    def describe(self, now: datetime | None = None) -> str:
        now = now or _utcnow()
        who = TRIGGER_LABELS.get(self.trigger, lambda: self.trigger)()
        quiet = max(0, int((now - self.heartbeat_at).total_seconds()))
        if self.run_id is None:
            return _("started from %(who)s on %(host)s (process %(pid)s) at %(since)s UTC, last heard from "
                     "%(seconds)s s ago", who=who, host=self.host, pid=self.pid, since=_clock_time(self.since),
                     seconds=quiet)
        return _("run %(run)s, started from %(who)s on %(host)s (process %(pid)s) at %(since)s UTC, last "
                 "heard from %(seconds)s s ago", run=self.run_id, who=who, host=self.host, pid=self.pid,
                 since=_clock_time(self.since), seconds=quiet)


def _clock_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class LeaseHeld(Exception):
    """Another live process runs this session's plan; the message names it and says since when."""

    def __init__(self, holder: Holder, timeout_seconds: float, now: datetime | None = None) -> None:
        self.holder = holder
        timeout = f"{timeout_seconds:g}"
        self.message = _("Provisioning of session %(code)s is already under way (%(holder)s). Wait for it "
                         "to finish; if its process has died, it can be retried once it has been silent for "
                         "%(timeout)s s.", code=holder.code, holder=holder.describe(now),
                         timeout=timeout)
        super().__init__(self.message)


class LeaseLost(Exception):
    """This process's lease was taken over (it was silent too long); the run must stop writing."""

    def __init__(self, code: str) -> None:
        self.message = _("Provisioning of session %(code)s was taken over by another process after this "
                         "one was silent too long; this run stopped without writing anything more.", code=code)
        super().__init__(self.message)


def _holder(row: ProvisioningLease) -> Holder:
    assert row.since is not None
    assert row.heartbeat_at is not None
    return Holder(row.session_code, row.trigger, row.host, row.pid, row.run_id, row.since, row.heartbeat_at)


def live_holder(db: Session, code: str, timeout: float, now: datetime | None = None) -> Holder | None:
    """The live holder of ``code``'s lease, or None when it is free or its holder fell silent."""
    now = now or _utcnow()
    row = db.scalar(select(ProvisioningLease).where(ProvisioningLease.session_code == code)
                    .execution_options(populate_existing=True))
    if row is None or not row.token or row.heartbeat_at is None:
        return None
    if now - row.heartbeat_at > timedelta(seconds=timeout):
        return None
    return _holder(row)


class Lease:
    """A held lease.  ``start_heartbeat`` beats from a daemon thread until ``release``."""

    def __init__(self, sessions: sessionmaker[Session], code: str, token: str, *, trigger: str,
                 run_id: int | None, heartbeat_seconds: float, timeout_seconds: float,
                 clock: Clock = _utcnow) -> None:
        self.sessions = sessions
        self.code = code
        self.token = token
        self.trigger = trigger
        self.run_id = run_id
        self.heartbeat_seconds = heartbeat_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _mine(self) -> list[object]:
        return [ProvisioningLease.session_code == self.code, ProvisioningLease.token == self.token]

    # -- the heartbeat -----------------------------------------------------------------------------
    def beat(self) -> bool:
        """Move the heartbeat forward; False (and ``lost`` set) when the lease is no longer ours."""
        if self.lost.is_set():
            return False
        with self.sessions() as db:
            result = db.execute(update(ProvisioningLease).where(*self._mine())
                                .values(heartbeat_at=self.clock()))
            db.commit()
        if result.rowcount != 1:  # type: ignore[attr-defined]
            logger.error("the provisioning lease of %s was taken over", self.code)
            self.lost.set()
            return False
        return True

    def fence(self, db: Session) -> None:
        """Beat inside the caller's transaction: its write commits only while the lease is ours."""
        if not self.lost.is_set():
            result = db.execute(update(ProvisioningLease).where(*self._mine())
                                .values(heartbeat_at=self.clock()))
            if result.rowcount == 1:  # type: ignore[attr-defined]
                return
            self.lost.set()
        db.rollback()
        raise LeaseLost(self.code)

    def start_heartbeat(self) -> Lease:
        def loop() -> None:
            while not self._stop.wait(self.heartbeat_seconds):
                try:
                    if not self.beat():
                        return
                except Exception:  # the store hiccuped; the next beat tries again (the timeout allows it)
                    logger.exception("heartbeat of the provisioning lease of %s failed", self.code)

        self._thread = threading.Thread(target=loop, name=f"lease-{self.code}", daemon=True)
        self._thread.start()
        return self

    # -- the run it covers -------------------------------------------------------------------------
    def attach_run(self, run_id: int) -> None:
        """Name the run this lease now covers (the CLI takes the lease before its run exists)."""
        with self.sessions() as db:
            self.fence(db)
            db.execute(update(ProvisioningLease).where(*self._mine()).values(run_id=run_id))
            db.commit()
        self.run_id = run_id

    def release(self) -> None:
        """Stop beating and free the lease (if it is still ours)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_seconds + 5)
        try:
            with self.sessions() as db:
                db.execute(update(ProvisioningLease).where(*self._mine()).values(token=""))
                db.commit()
        except Exception:  # a lease left behind frees itself after the timeout
            logger.exception("could not release the provisioning lease of %s", self.code)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(sessions: sessionmaker[Session], code: str, *, trigger: str, run_id: int | None = None,
            heartbeat_seconds: float = 10.0, timeout_seconds: float = 60.0, clock: Clock = _utcnow,
            heartbeat: bool = True, job_patience: float = 0.0) -> Lease:
    """Take ``code``'s lease or raise :class:`LeaseHeld` naming its live holder.

    A lease held by a background job (:data:`JOB_TRIGGER`, seconds at a time) is waited for up to
    ``job_patience`` seconds before it is refused.
    """
    deadline = time.monotonic() + job_patience
    while True:
        try:
            return _acquire(sessions, code, trigger=trigger, run_id=run_id, heartbeat_seconds=heartbeat_seconds,
                            timeout_seconds=timeout_seconds, clock=clock, heartbeat=heartbeat)
        except LeaseHeld as held:
            if held.holder.trigger != JOB_TRIGGER or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def _acquire(sessions: sessionmaker[Session], code: str, *, trigger: str, run_id: int | None,
             heartbeat_seconds: float, timeout_seconds: float, clock: Clock, heartbeat: bool) -> Lease:
    """One attempt of :func:`acquire`.

    A free lease, or one whose holder has been silent for ``timeout_seconds``, is taken by one
    conditional UPDATE; a session never leased before gets its row by an INSERT that only one
    process can win.  No read decides anything: the row counts do.
    """
    token = secrets.token_hex(16)
    host, pid = socket.gethostname()[:255], os.getpid()
    for _attempt in range(5):
        now = clock()
        values = {"token": token, "trigger": trigger, "host": host, "pid": pid, "run_id": run_id,
                  "since": now, "heartbeat_at": now}
        with sessions() as db:
            taken = db.execute(update(ProvisioningLease).where(
                ProvisioningLease.session_code == code,
                or_(ProvisioningLease.token == "", ProvisioningLease.heartbeat_at.is_(None),
                    ProvisioningLease.heartbeat_at < now - timedelta(seconds=timeout_seconds)),
            ).values(**values))
            db.commit()
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                break
            holder = live_holder(db, code, timeout_seconds, now)
            if holder is not None:
                raise LeaseHeld(holder, timeout_seconds, now)
            exists = db.scalar(select(ProvisioningLease.session_code)
                               .where(ProvisioningLease.session_code == code))
            if exists is not None:
                continue  # freed between the two statements: take it on the next round
            db.add(ProvisioningLease(session_code=code, **values))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()  # another process inserted it first: see who on the next round
                continue
            break
    else:  # pragma: no cover - five rounds of a lease freed and taken between two statements
        raise RuntimeError(f"could not take the provisioning lease of {code}")
    lease = Lease(sessions, code, token, trigger=trigger, run_id=run_id, heartbeat_seconds=heartbeat_seconds,
                  timeout_seconds=timeout_seconds, clock=clock)
    logger.info("provisioning lease of %s taken by %s:%s (%s)", code, host, pid, trigger)
    return lease.start_heartbeat() if heartbeat else lease
