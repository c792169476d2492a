"""The production tier: the store on PostgreSQL, the queue on Redis.

Enabled by ``LMS_BRIDGE_TEST_DATABASE_URL`` and ``LMS_BRIDGE_TEST_REDIS_URL`` (``.ci/run`` sets them);
skipped only when they are unset.  Each test run gets a fresh PostgreSQL database, dropped after.
The Redis fixture (``redis_url``) lives in tests/conftest.py, for every area.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

DB_ENV = "LMS_BRIDGE_TEST_DATABASE_URL"


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
