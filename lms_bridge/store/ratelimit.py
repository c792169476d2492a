"""A rate-limit storage for the ``limits`` library kept in the store's database (SQLite or PostgreSQL).

``limits`` (https://limits.readthedocs.io) ships the strategies (moving window, fixed window) and
storages for Redis, Memcached and MongoDB; a deployment on the embedded default has none of those, so
this module adds the store's own database as a storage.  It follows the library's documented recipe
for custom storages ("Custom storage backends": subclass :class:`limits.storage.Storage`, implement its
abstract methods, add :class:`~limits.storage.MovingWindowSupport` for the moving window, and name
the URI schemes in ``STORAGE_SCHEME`` so that :func:`limits.storage.storage_from_string` finds it).

URIs are a SQLAlchemy URL prefixed with ``store+``: ``store+postgresql+psycopg://user@host/db``,
``store+sqlite:///path/ratelimits.sqlite3``.

Every check-and-count is one transaction that first takes a lock only that key's writers share,
so concurrent processes never both take the last slot of a window:

* PostgreSQL: ``pg_advisory_xact_lock`` on a 64-bit hash of the key (released at commit);
* SQLite: ``BEGIN IMMEDIATE`` (one writer at a time for the whole file; waits up to busy_timeout).

Times are ``time.time()`` of the calling process, as the library's other storages use; processes
sharing a limit are expected to share a clock (one host, or NTP).

:func:`limits_storage` picks the storage for a deployment: Redis when the queue is on Redis (the
library's own :class:`~limits.storage.RedisStorage`), the store on PostgreSQL, and a SQLite file of its
own beside the embedded store.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from limits.storage import MemoryStorage, MovingWindowSupport, Storage, storage_from_string
from sqlalchemy import Connection, Engine, create_engine, delete, event, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from lms_bridge.store.models import RateLimitCounter, RateLimitEntry

if TYPE_CHECKING:
    from lms_bridge.config import Settings

logger = logging.getLogger(__name__)

SCHEME_PREFIX = "store+"
# The embedded default keeps its rate limits in a SQLite file of their own (see limits_storage).
RATE_LIMIT_FILE = "ratelimits.sqlite3"

_entries = RateLimitEntry.__table__
_counters = RateLimitCounter.__table__


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for ``pg_advisory_xact_lock`` (Python's hash() differs per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # The driver's own transaction handling would start a deferred transaction that a second
            # writer could enter too; we begin explicitly with IMMEDIATE instead.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


class StoreStorage(Storage, MovingWindowSupport):
    """``limits`` storage in the store's tables ``rate_limit_entries`` and ``rate_limit_counters``.

    Supports the moving window (:class:`limits.strategies.MovingWindowRateLimiter`) and the fixed
    window (:class:`limits.strategies.FixedWindowRateLimiter`).  In the store the tables come with
    its migrations (``lms-bridge db upgrade``); ``create_tables=True`` creates them in a database
    kept for rate limits alone.
    """

    STORAGE_SCHEME: ClassVar[list[str]] = [f"{SCHEME_PREFIX}sqlite", f"{SCHEME_PREFIX}postgresql",
                      f"{SCHEME_PREFIX}postgresql+psycopg", f"{SCHEME_PREFIX}postgresql+psycopg2"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *,
                 clock: Any = time.time, create_tables: bool = False, **options: Any) -> None:
        if not uri or not uri.startswith(SCHEME_PREFIX):
            raise ValueError(f"a store rate-limit URI starts with {SCHEME_PREFIX!r}")
        self.url = uri[len(SCHEME_PREFIX):]
        self.engine = _engine_for(self.url)
        self._postgres = self.engine.dialect.name == "postgresql"
        if create_tables:
            # Only for a database of its own (the embedded default's ratelimits.sqlite3); the store's
            # tables come from its migrations.
            with self.engine.begin() as conn:
                _entries.create(conn, checkfirst=True)
                _counters.create(conn, checkfirst=True)
        self._clock = clock
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    @contextmanager
    def _locked(self, key: str) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(key)})
            yield conn

    # -- moving window ----------------------------------------------------------------------------
    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        with self._locked(key) as conn:
            now = self._clock()
            # Entries at or before now - expiry have left the window (the library's own rule).
            conn.execute(delete(_entries).where(_entries.c.key == key, _entries.c.at <= now - expiry))
            held = conn.execute(select(func.count()).select_from(_entries)
                                .where(_entries.c.key == key)).scalar_one()
            if held + amount > limit:
                return False
            conn.execute(_entries.insert(), [{"key": key, "at": now}] * amount)
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._clock()
        with self.engine.connect() as conn:
            oldest, count = conn.execute(
                select(func.min(_entries.c.at), func.count())
                .where(_entries.c.key == key, _entries.c.at > now - expiry)).one()
            conn.rollback()
        if not count:
            return now, 0
        return float(oldest), int(count)

    # -- fixed window -----------------------------------------------------------------------------
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with self._locked(key) as conn:
            now = self._clock()
            row = conn.execute(select(_counters.c.value, _counters.c.expires_at)
                               .where(_counters.c.key == key)).one_or_none()
            if row is None:
                conn.execute(_counters.insert().values(key=key, value=amount, expires_at=now + expiry))
                return amount
            if row.expires_at <= now:
                value, expires_at = amount, now + expiry
            else:
                value, expires_at = row.value + amount, row.expires_at
            conn.execute(_counters.update().where(_counters.c.key == key)
                         .values(value=value, expires_at=expires_at))
            return int(value)

    def get(self, key: str) -> int:
        now = self._clock()
        with self.engine.connect() as conn:
            value = conn.execute(select(_counters.c.value)
                                 .where(_counters.c.key == key, _counters.c.expires_at > now)).scalar()
            conn.rollback()
        return int(value or 0)

    def get_expiry(self, key: str) -> float:
        now = self._clock()
        with self.engine.connect() as conn:
            expires_at = conn.execute(select(_counters.c.expires_at)
                                      .where(_counters.c.key == key, _counters.c.expires_at > now)).scalar()
            conn.rollback()
        return float(expires_at) if expires_at is not None else now

    # -- housekeeping -----------------------------------------------------------------------------
    def check(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                conn.rollback()
            return True
        except SQLAlchemyError:
            return False

    def clear(self, key: str) -> None:
        with self._locked(key) as conn:
            conn.execute(delete(_entries).where(_entries.c.key == key))
            conn.execute(delete(_counters).where(_counters.c.key == key))

    def reset(self) -> int | None:
        with self.engine.begin() as conn:
            removed = conn.execute(delete(_entries)).rowcount + conn.execute(delete(_counters)).rowcount
        return int(removed)


def store_uri(database_url: str) -> str:
    return SCHEME_PREFIX + database_url


def shared_storage_uri(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Where a deployment keeps the counters every process shares, as a ``limits`` storage URI and
    the storage's options:

    * the queue's Redis when the queue is on Redis (``queue_url`` ``redis://…``/``rediss://…``);
    * the store's database on PostgreSQL (its own connections and advisory locks never wait on the
      store's row locks);
    * on SQLite (the embedded default: one host), a file of its own next to the store,
      ``ratelimits.sqlite3``, whose tables are made on first use.  SQLite has one write lock per
      file, and a job that calls Google while its store transaction holds that lock would
      otherwise wait on itself.

    Google's quota windows (:func:`limits_storage`) and the sign-in throttle (Flask-Limiter) both
    count here.
    """
    queue = settings.queue_url
    if queue.startswith(("redis://", "rediss://")):
        return queue, {}
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return store_uri(f"sqlite:///{settings.data_dir / RATE_LIMIT_FILE}"), {"create_tables": True}
    return store_uri(url), {}


def limits_storage(settings: Settings) -> Storage:
    """The ``limits`` storage every process of a deployment shares (see :func:`shared_storage_uri`).

    A PostgreSQL store not yet at the migration head (no ``rate_limit_entries`` table) gets a warning
    and a count kept in this process only, rather than a failure of every Google request.
    """
    uri, options = shared_storage_uri(settings)
    if uri.startswith(("redis://", "rediss://")):
        return storage_from_string(uri, key_prefix="lms_bridge_limits")  # type: ignore[no-any-return]
    if options.get("create_tables") or _store_ready(uri[len(SCHEME_PREFIX):]):
        return StoreStorage(uri, **options)
    logger.warning("the store has no rate-limit tables (run 'lms-bridge db upgrade'); Google quotas are "
                   "counted in this process only")
    return MemoryStorage()


def _store_ready(url: str) -> bool:
    engine = create_engine(url)
    try:
        return inspect(engine).has_table(_entries.name)
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()
