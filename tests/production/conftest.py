"""The production tier: the store on PostgreSQL, the queue on Redis.

Enabled by ``LMS_BRIDGE_TEST_DATABASE_URL`` and ``LMS_BRIDGE_TEST_REDIS_URL`` (``.ci/run`` sets them);
skipped only when they are unset.  Each test run gets a fresh PostgreSQL database, dropped after.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

DB_ENV = "LMS_BRIDGE_TEST_DATABASE_URL"
REDIS_ENV = "LMS_BRIDGE_TEST_REDIS_URL"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[URL]:
    raw = os.environ.get(DB_ENV)
    if not raw:
        pytest.skip(f"{DB_ENV} is not set")
    base = make_url(raw)
    name = f"{base.database or 'lms_bridge'}_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: URL) -> Iterator[Engine]:
    """A PostgreSQL store at the migration head, emptied of data after the test."""
    from lms_bridge.store.db import make_engine
    from lms_bridge.store.schema import downgrade, ensure_schema

    engine = make_engine(pg_url.render_as_string(hide_password=False))
    ensure_schema(engine)
    yield engine
    downgrade(engine, "base")  # also proves the downgrade path on PostgreSQL
    engine.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis database, held by one test at a time.

    The job queue has one fixed name, so two tests using the same database at once would take each
    other's jobs.  Test processes (pytest-xdist workers, or two runs side by side) wait for each other
    on a lock file named after the URL instead.
    """
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"lms-bridge-tests-redis-{digest}.lock"
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield url
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
