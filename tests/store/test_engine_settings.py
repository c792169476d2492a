"""How the store and the embedded queue open their databases: WAL with synchronous=NORMAL on
SQLite, and no liveness round trip before each PostgreSQL checkout."""

from __future__ import annotations

import types
from pathlib import Path

from sqlalchemy import text

from lms_bridge.jobs.queue import build_huey
from lms_bridge.store.db import POOL_RECYCLE_SECONDS, make_engine

NORMAL = 1  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL


def test_the_sqlite_store_runs_wal_with_synchronous_normal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == NORMAL
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        engine.dispose()


def test_the_sqlite_queue_runs_wal_with_synchronous_normal(tmp_path: Path) -> None:
    settings = types.SimpleNamespace(effective_queue_url=f"sqlite:///{tmp_path / 'queue.sqlite3'}")
    huey = build_huey(settings)  # type: ignore[arg-type]
    conn = huey.storage.conn
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("pragma synchronous").fetchone()[0] == NORMAL


def test_postgresql_connections_are_recycled_not_pinged_per_checkout() -> None:
    # Building the engine opens no connection, so no server is needed to see its pool settings.
    engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        assert engine.pool._pre_ping is False
        assert engine.pool._recycle == POOL_RECYCLE_SECONDS
    finally:
        engine.dispose()
