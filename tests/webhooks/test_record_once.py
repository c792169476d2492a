"""A delivery is recorded with one statement, committed before the answer: on PostgreSQL one round
trip on an autocommit connection (no BEGIN, no COMMIT), on SQLite one insert and its commit."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url

from lms_bridge.store.db import autocommit_engine, make_engine, make_sessionmaker
from lms_bridge.store.models import WebhookDelivery
from lms_bridge.store.schema import ensure_schema
from lms_bridge.webhooks.handlers import Parsed, record_delivery

DB_ENV = "LMS_BRIDGE_TEST_DATABASE_URL"


def _sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    yield engine
    engine.dispose()


def _postgresql() -> Iterator[Engine]:
    """A fresh database of its own on the test server (dropped afterwards)."""
    raw = os.environ.get(DB_ENV)
    if not raw:
        pytest.skip(f"{DB_ENV} is not set")
    base = make_url(raw)
    name = f"{base.database or 'lms_bridge'}_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        autocommit_engine(engine).dispose()
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    made = _sqlite(tmp_path) if request.param == "sqlite" else _postgresql()
    engine = next(made)
    ensure_schema(engine)
    yield engine
    next(made, None)


def test_one_statement_records_a_delivery_and_a_redelivery_is_a_no_op(engine: Engine) -> None:
    statements: list[str] = []
    autocommit: list[bool] = []

    def seen(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0].upper())
        autocommit.append(bool(getattr(conn.connection.driver_connection, "autocommit", False)))

    writer = autocommit_engine(engine)
    event.listen(writer, "before_cursor_execute", seen)
    if writer is not engine:
        event.listen(engine, "before_cursor_execute", seen)
    parsed = Parsed("d-1", "moodle.quiz_attempt_submitted", {"event": "quiz_attempt_submitted"})
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        first = record_delivery(db, "moodle", parsed)
    assert first is not None
    assert statements == ["INSERT"]
    if engine.dialect.name == "postgresql":
        assert autocommit == [True]  # the insert commits by itself: no BEGIN or COMMIT round trip
    with sessions() as db:
        assert record_delivery(db, "moodle", parsed) is None
    # Committed before the answer: another connection sees it, once.
    with make_sessionmaker(engine)() as db:
        assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
