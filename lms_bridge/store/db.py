"""Engine and session factory; the one place that knows how to open the store."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

# PostgreSQL connections are replaced after this many seconds, well inside any server or proxy
# idle timeout, instead of pinging the server before every checkout (a round trip per request).
POOL_RECYCLE_SECONDS = 1800


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the admin page read while the worker writes; foreign keys are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # Under WAL, NORMAL syncs at checkpoints only: a commit survives a crash of the
            # process, and only a power loss may undo the last few (the senders redeliver those).
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # No pre-ping: a connection the server dropped fails its statement, SQLAlchemy invalidates
    # the whole pool on that disconnect, and the job or request is retried by its sender/queue.
    return create_engine(url, pool_recycle=POOL_RECYCLE_SECONDS)


_autocommit_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_autocommit_lock = threading.Lock()


def autocommit_engine(engine: Engine) -> Engine:
    """For PostgreSQL, a second small pool on the same database whose connections are in autocommit
    from the moment they connect (``engine`` itself on SQLite).

    A single-statement write there is one round trip: no ``BEGIN`` before it and no ``COMMIT``
    after it, the statement commits by itself (durably: ``synchronous_commit`` stays on).  Setting
    autocommit per checkout instead costs more round trips than it saves."""
    if engine.dialect.name == "sqlite":
        # The same pool, each connection in autocommit while checked out (an attribute of the
        # in-process driver, no round trip): a lone INSERT commits by itself, no BEGIN and COMMIT.
        with _autocommit_lock:
            made = _autocommit_engines.get(engine)
            if made is None:
                made = engine.execution_options(isolation_level="AUTOCOMMIT")
                _autocommit_engines[engine] = made
            return made
    if engine.dialect.name != "postgresql":
        return engine
    with _autocommit_lock:
        made = _autocommit_engines.get(engine)
        if made is None:
            made = create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_recycle=POOL_RECYCLE_SECONDS)
            _autocommit_engines[engine] = made
        return made


@functools.cache
def _insert_new_statement(table: Table, dialect: str, unique: tuple[str, ...],
                          returning: tuple[str, ...]) -> Insert:
    make: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt: Insert = make(table).on_conflict_do_nothing(index_elements=list(unique))
    return stmt.returning(*(table.c[name] for name in returning))


def insert_new(db: Session, model: type[Any], rows: Sequence[Mapping[str, Any]],
               unique: Sequence[str], returning: Sequence[str] = ("id",)) -> list[Any]:
    """Insert ``rows``, skipping each one whose ``unique`` columns are already stored (by another
    worker too): one ``INSERT … ON CONFLICT DO NOTHING … RETURNING`` statement per row, on
    PostgreSQL and SQLite alike.  Returns the ``returning`` values of the rows actually inserted.

    A duplicate is a no-op instead of an IntegrityError that would roll back (and retry) the
    caller's whole unit of work.  The statement is built once and run on the session's connection
    as plain SQL (column defaults still apply): it sits on the webhook's hot path."""
    if not rows:
        return []
    return insert_new_on(db.connection(), model, rows, unique, returning)


def insert_new_on(conn: Connection, model: type[Any], rows: Sequence[Mapping[str, Any]],
                  unique: Sequence[str], returning: Sequence[str] = ("id",)) -> list[Any]:
    """:func:`insert_new` on a connection (e.g. an autocommit one, where each row commits)."""
    stmt = _insert_new_statement(model.__table__, conn.dialect.name, tuple(unique), tuple(returning))
    inserted: list[Any] = []
    for row in rows:
        got = conn.execute(stmt, dict(row)).first()
        if got is not None:
            inserted.append(got[0] if len(returning) == 1 else tuple(got))
    return inserted


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (nothing is half-written)."""
    db = factory()
    try:
        yield db
        db.commit()
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
