"""The background job queue (Huey), built from the settings.

* ``LMS_BRIDGE_QUEUE_URL`` empty: ``SqliteHuey`` in ``data_dir/queue.sqlite3`` (the embedded default);
* ``redis://…`` / ``rediss://…``: ``RedisHuey`` (production);
* ``memory://``: ``MemoryHuey`` in immediate mode, every task runs inline when enqueued (tests).

The same task code runs on all three.  Tasks are declared with :func:`job` / :func:`periodic_job`
independently of any Huey instance; :func:`configure` builds the instance and registers every
declared job on it, and :func:`get_queue` does so lazily from ``load_settings()``.  A job receives
the :class:`JobQueue` (settings, store sessions) as its first argument and ids after it, never ORM
objects: the arguments are serialized into the queue.

A job lives in the area whose work it does (``provisioning/service.py``, ``results/jobs.py``,
``results/draw.py``, ...).  Adding a periodic job from another area::

    # lms_bridge/results/watches.py
    from huey import crontab
    from lms_bridge.jobs.queue import periodic_job

    @periodic_job(crontab(minute="*/15"))
    def renew_watches(queue: JobQueue) -> None:
        with queue.transaction() as db:
            ...

and add ``"lms_bridge.results.watches"`` to :data:`TASK_MODULES` so that the worker (and the demo's
in-process consumer) imports it.  The queue loads those modules by name when it is built and has
no import of them: it sits below every area that declares jobs.  Periodic jobs run in the
consumer's scheduler only (``lms-bridge worker``; never in immediate mode); run one by hand in a
test with ``renew_watches.run(queue)``.

Every worker's scheduler looks at the periodic jobs each minute, but a job is enqueued once per tick
however many workers run: the scheduler that first claims the tick (job name + minute) enqueues
it, the others skip it.  The claim is ``SET NX`` with an expiry in Redis when the queue is Redis,
and a row of ``periodic_ticks`` (its primary key lets one insert win) in the store otherwise.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.api import Task
from huey.consumer import Consumer, Scheduler
from huey.storage import PriorityRedisStorage, RedisPriorityQueue, SqliteStorage
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import ConfigError, Settings, load_settings
from lms_bridge.lease import JOB_TRIGGER, Lease, acquire
from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
from lms_bridge.store.models import AuditEvent, PeriodicTick

logger = logging.getLogger(__name__)

# Modules that declare jobs; imported before the Huey instance is built so every job is registered.
TASK_MODULES: list[str] = [
    "lms_bridge.provisioning.service",
    "lms_bridge.results.jobs",
    "lms_bridge.results.draw",
    "lms_bridge.results.admission",
    "lms_bridge.results.moodle_poll",
    "lms_bridge.results.testexam",
    "lms_bridge.results.grading",
    "lms_bridge.results.watches",
    "lms_bridge.results.appeal_jobs",
    "lms_bridge.results.mail",
    "lms_bridge.results.sitting",
]

QUEUE_NAME = "lms-bridge"
# How long a claimed tick is remembered: far longer than any two schedulers' clocks drift apart.
TICK_MEMORY = timedelta(days=1)

FailureHook = Callable[..., None]


@dataclass(frozen=True)
class _Declared:
    name: str
    fn: Callable[..., Any]
    retries: int
    retry_delay: float
    schedule: Callable[[datetime], bool] | None
    on_failure: FailureHook | None
    priority: int = 0


_DECLARED: dict[str, _Declared] = {}


class Job:
    """A declared job: ``enqueue(*ids)`` queues it; ``run(queue, *ids)`` runs it in this thread."""

    def __init__(self, declared: _Declared) -> None:
        self._declared = declared
        self.__doc__ = declared.fn.__doc__

    @property
    def name(self) -> str:
        return self._declared.name

    def enqueue(self, *args: Any, delay: float | None = None) -> None:
        get_queue().enqueue(self.name, *args, delay=delay)

    def run(self, queue: JobQueue, *args: Any) -> Any:
        return self._declared.fn(queue, *args)

    def __repr__(self) -> str:
        return f"<Job {self.name}>"


def _declare(fn: Callable[..., Any], name: str | None, retries: int, retry_delay: float,
             schedule: Callable[[datetime], bool] | None, on_failure: FailureHook | None,
             priority: int = 0) -> Job:
    job_name = name or f"{fn.__module__}.{fn.__qualname__}"
    declared = _Declared(job_name, fn, retries, retry_delay, schedule, on_failure, priority)
    _DECLARED[job_name] = declared
    if _current is not None:
        # Declared after the queue was built (a module imported late): register it too.
        _current._register(declared)
    return Job(declared)


def job(*, retries: int = 3, retry_delay: float = 30.0, name: str | None = None,
        on_failure: FailureHook | None = None, priority: int = 0) -> Callable[[Callable[..., Any]], Job]:
    """Declare a job ``fn(queue, *ids)``.  It is retried ``retries`` times, ``retry_delay`` seconds apart;
    after the last attempt the failure is recorded as an audit event and ``on_failure(queue, *ids,
    error=str)`` is called (e.g. to mark a run failed).  Waiting jobs of a higher ``priority`` are
    taken first (on every queue but the in-memory one, which runs each job at once)."""

    def decorator(fn: Callable[..., Any]) -> Job:
        return _declare(fn, name, retries, retry_delay, None, on_failure, priority)

    return decorator


def periodic_job(schedule: Callable[[datetime], bool], *, name: str | None = None, retries: int = 0,
                 retry_delay: float = 0.0) -> Callable[[Callable[..., Any]], Job]:
    """Declare a job run by the consumer's scheduler when ``schedule(now)`` is true (``huey.crontab``)."""

    def decorator(fn: Callable[..., Any]) -> Job:
        return _declare(fn, name, retries, retry_delay, schedule, None)

    return decorator


def build_huey(settings: Settings) -> Huey:
    """The Huey instance the settings ask for (see the module docstring)."""
    url = settings.effective_queue_url
    if url.startswith(("redis://", "rediss://", "unix://")):
        # Task outcomes live in the store (run rows, audit events): no Huey result storage needed.
        return RedisHuey(QUEUE_NAME, url=url, results=False, storage_class=_PriorityRedisStorage)
    if url.startswith("memory://"):
        return MemoryHuey(QUEUE_NAME, immediate=True, results=False)
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=path, results=False, storage_class=_SqliteQueueStorage)
    scheme = url.split(":", 1)[0]
    raise ConfigError(f"queue_url must be empty, redis://…, sqlite:///… or memory://, not {scheme}:…")


class _SqliteQueueStorage(SqliteStorage):  # type: ignore[misc]
    """Huey's SQLite storage (WAL by default) with ``synchronous=NORMAL``: under WAL a commit is
    then not synced to disk each time, only at checkpoints.  Huey's own ``fsync`` switch offers
    FULL or OFF only."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # SQLite takes one writer at a time and makes the others poll (1, 2, 5, 10… ms sleeps);
        # threads of one process (the web server's) queue on a lock instead and wake at once.
        self._write_lock = threading.Lock()

    def _create_connection(self) -> Any:
        conn = super()._create_connection()
        conn.execute("pragma synchronous=NORMAL")
        return conn

    def enqueue(self, data: bytes, priority: Any = None) -> None:
        with self._write_lock:
            super().enqueue(data, priority)


class _PriorityRedisStorage(PriorityRedisStorage):  # type: ignore[misc]
    """Huey's Redis storage with priorities (a sorted set under the same key as the plain list).

    A queue left by a version without priorities is a list under that key: on this process's first
    use of the queue, its waiting jobs are moved into the sorted set, oldest first, at the default
    priority (nothing connects to Redis before that)."""

    _checked = False

    def _upgrade_legacy_queue(self) -> None:
        if self._checked:
            return
        if self.conn.type(self.queue_key) in (b"list", "list"):
            legacy = f"{self.queue_key}.unprioritized"
            if self.conn.renamenx(self.queue_key, legacy):  # one process moves them
                while (data := self.conn.rpop(legacy)) is not None:  # LPUSH/RPOP: oldest first
                    RedisPriorityQueue.enqueue(self, data)
        self._checked = True

    def enqueue(self, data: bytes, priority: Any = None) -> None:
        self._upgrade_legacy_queue()
        super().enqueue(data, priority)

    def dequeue(self) -> Any:
        self._upgrade_legacy_queue()
        return super().dequeue()

    def queue_size(self) -> int:
        self._upgrade_legacy_queue()
        return int(super().queue_size())


class QueueUnavailable(Exception):
    def __init__(self, where: str, cause: BaseException) -> None:
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


def describe_queue(settings: Settings) -> str:
    """The queue's URL with any password masked (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    url = settings.effective_queue_url
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        url = urlunsplit(parts._replace(netloc=netloc))
    return url


class JobQueue:
    """The Huey instance plus what jobs need: the settings and the store."""

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.huey = build_huey(settings)
        self._engine = engine
        self._own_engine = engine is None
        self._sessions: sessionmaker[Session] | None = None
        self._lock = threading.Lock()
        self._wrappers: dict[str, Any] = {}
        for module in TASK_MODULES:
            importlib.import_module(module)
        for declared in list(_DECLARED.values()):
            self._register(declared)

    # -- the store -------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(self.settings.effective_database_url)
            return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = make_sessionmaker(self.engine)
        return self._sessions

    def transaction(self) -> Any:
        """One unit of work for a job: commit once at the end, roll back on error."""
        return transaction(self.sessions)

    # -- the session's lease, for jobs that change what a provisioning run makes -----------------
    @contextmanager
    def session_lease(self, code: str) -> Iterator[Lease]:
        """Hold session ``code``'s provisioning lease (:mod:`lms_bridge.lease`) for a job's write.

        Raises :class:`~lms_bridge.lease.LeaseHeld` at once when a run (or another job) holds it:
        the job then puts itself back in the queue with :attr:`busy_delay`.  Commit the job's writes
        through ``lease.fence(db)`` first, so that nothing is written once the lease was lost."""
        lease = acquire(self.sessions, code, trigger=JOB_TRIGGER,
                        heartbeat_seconds=self.settings.run_heartbeat_seconds,
                        timeout_seconds=self.settings.run_lease_timeout_seconds)
        try:
            yield lease
        finally:
            lease.release()

    @property
    def busy_delay(self) -> float:
        """Seconds before a job that found its session's lease held tries again."""
        return max(5.0, 3 * self.settings.run_heartbeat_seconds)

    # -- jobs ------------------------------------------------------------------------------------
    @property
    def immediate(self) -> bool:
        return bool(self.huey.immediate)

    def job_names(self) -> list[str]:
        return sorted(self._wrappers)

    def _register(self, declared: _Declared) -> None:
        queue = self

        def call(*args: Any, task: Task) -> Any:
            try:
                return declared.fn(queue, *args)
            except Exception as exc:
                if not task.retries:  # the last attempt: nothing will run it again
                    queue._record_failure(declared, args, exc)
                raise

        call.__name__ = declared.name.rsplit(".", 1)[-1]
        call.__doc__ = declared.fn.__doc__
        if declared.schedule is None:
            wrapper = self.huey.task(retries=declared.retries, retry_delay=declared.retry_delay,
                                     priority=declared.priority or None, name=declared.name,
                                     context=True)(call)
        else:
            wrapper = self.huey.periodic_task(declared.schedule, retries=declared.retries,
                                              retry_delay=declared.retry_delay, name=declared.name,
                                              context=True)(call)
        self._wrappers[declared.name] = wrapper

    def enqueue(self, name: str, *args: Any, delay: float | None = None) -> None:
        wrapper = self._wrappers.get(name)
        if wrapper is None:
            raise LookupError(f"no job named {name}; is its module listed in TASK_MODULES?")
        if delay:
            wrapper.schedule(args=args, delay=delay)
        else:
            wrapper(*args)

    def _record_failure(self, declared: _Declared, args: tuple[Any, ...], exc: Exception) -> None:
        from lms_bridge.remote import describe_error

        error = describe_error(exc)
        logger.error("job %s%r failed after its last attempt: %s", declared.name, args, error)
        try:
            with self.transaction() as db:
                db.add(AuditEvent(actor="worker", action="job.failed",
                                  detail={"job": declared.name, "args": list(args), "error": error}))
            if declared.on_failure is not None:
                declared.on_failure(self, *args, error=error)
        except Exception:  # the store itself may be what failed; the log line above still stands
            logger.exception("could not record the failure of job %s", declared.name)

    def check(self) -> None:
        """Raise ``QueueUnavailable`` (naming the queue, never its password) when it cannot be reached."""
        try:
            if isinstance(self.huey, RedisHuey):
                self.huey.storage.conn.ping()
            else:
                self.huey.pending_count()
        except Exception as exc:
            raise QueueUnavailable(describe_queue(self.settings), exc) from exc

    # -- periodic jobs: once per tick ------------------------------------------------------------
    def claim_tick(self, name: str, moment: datetime) -> bool:
        """True for the first scheduler to claim job ``name`` for the minute of ``moment`` (Huey's
        scheduler time, naive UTC); every later claim of the same tick is False."""
        tick = moment.replace(second=0, microsecond=0)
        tick = tick.replace(tzinfo=UTC) if tick.tzinfo is None else tick.astimezone(UTC)
        me = f"{socket.gethostname()}:{os.getpid()}"[:255]
        if isinstance(self.huey, RedisHuey):
            key = f"{QUEUE_NAME}:tick:{name}:{tick.strftime('%Y-%m-%dT%H:%M')}"
            ttl = int(TICK_MEMORY.total_seconds())
            return bool(self.huey.storage.conn.set(key, me, nx=True, ex=ttl))
        with self.sessions() as db:
            db.add(PeriodicTick(job=name, tick=tick, claimed_by=me))
            try:
                db.commit()
            except IntegrityError:
                db.rollback()
                return False
            db.execute(delete(PeriodicTick).where(PeriodicTick.job == name,
                                                  PeriodicTick.tick < tick - TICK_MEMORY))
            db.commit()
        return True

    # -- the consumer ----------------------------------------------------------------------------
    def consumer(self, *, workers: int = 4, periodic: bool = True, embedded: bool = False) -> Consumer:
        """A thread consumer.  ``embedded`` leaves the process's signal handlers alone (the demo
        runs the consumer beside the web server, which owns Ctrl-C).  Its scheduler enqueues a
        periodic job only when it wins the job's tick (:meth:`claim_tick`)."""
        cls = _EmbeddedConsumer if embedded else _Consumer
        return cls(self.huey, self.claim_tick, workers=workers, periodic=periodic, worker_type="thread",
                   check_worker_health=True, max_delay=1.0)

    def close(self) -> None:
        if self._own_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._sessions = None


Claim = Callable[[str, datetime], bool]


class OncePerTickScheduler(Scheduler):  # type: ignore[misc]
    """Huey's scheduler, except that a periodic job is enqueued only by the scheduler that claims
    its tick: with any number of workers (each with its scheduler) it runs once per tick."""

    def __init__(self, *args: Any, claim: Claim, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claim = claim

    def enqueue_periodic_tasks(self, now: datetime | None) -> None:
        moment = now if now is not None else self.huey._get_timestamp()
        for task in self.huey.read_periodic(moment):
            try:
                if not self._claim(task.name, moment):
                    self._logger.debug("periodic task %s already enqueued for this tick elsewhere", task.name)
                    continue
            except Exception:  # without the lock we cannot tell: skipping a tick beats running it twice
                self._logger.exception("cannot claim the tick of periodic task %s; skipped", task.name)
                continue
            self._logger.info("Enqueueing periodic task %s.", task)
            try:
                self.huey.enqueue(task)
            except Exception:
                self._logger.exception("Error enqueueing periodic task %s.", task)


class _Consumer(Consumer):  # type: ignore[misc]
    def __init__(self, huey: Huey, claim: Claim, **kwargs: Any) -> None:
        self._claim = claim  # set first: Consumer.__init__ builds the scheduler
        super().__init__(huey, **kwargs)

    def _create_scheduler(self) -> Scheduler:
        return OncePerTickScheduler(huey=self.huey, stop_flag=self.stop_flag, interval=self.scheduler_interval,
                                    periodic=self.periodic, claim=self._claim)


class _EmbeddedConsumer(_Consumer):
    def _set_signal_handlers(self) -> None:
        pass


_current: JobQueue | None = None
_current_lock = threading.Lock()


def configure(settings: Settings, *, engine: Engine | None = None) -> JobQueue:
    """Build the queue for ``settings`` and make it the one ``Job.enqueue`` uses."""
    global _current
    queue = JobQueue(settings, engine=engine)
    with _current_lock:
        previous, _current = _current, queue
    if previous is not None:
        previous.close()
    return queue


def get_queue(settings: Settings | None = None) -> JobQueue:
    """The configured queue; on first use it is built from ``settings`` (else ``load_settings()``)."""
    global _current
    with _current_lock:
        if _current is None:
            _current = JobQueue(settings if settings is not None else load_settings())
        return _current


def reset() -> None:
    """Forget the configured queue (tests)."""
    global _current
    with _current_lock:
        previous, _current = _current, None
    if previous is not None:
        previous.close()


def iter_declared() -> Iterator[str]:
    yield from sorted(_DECLARED)
