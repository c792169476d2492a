"""A delivery is recorded with one statement, committed before the answer: on PostgreSQL one round
trip on an autocommit connection (no BEGIN, no COMMIT), on SQLite one insert on a connection in
autocommit (it commits by itself)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from lms_bridge.store.db import autocommit_engine, make_sessionmaker
from lms_bridge.store.models import WebhookDelivery
from lms_bridge.store.schema import ensure_schema
from lms_bridge.webhooks.handlers import Parsed, record_delivery


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, store_engines: Any) -> Iterator[Engine]:
    made = store_engines(tmp_path, request.param)
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
    # On SQLite the writer is the engine's own pool in autocommit (its events are the engine's).
    event.listen(engine, "before_cursor_execute", seen)
    if engine.dialect.name == "postgresql":
        event.listen(writer, "before_cursor_execute", seen)
    parsed = Parsed("d-1", "moodle.quiz_attempt_submitted", {"event": "quiz_attempt_submitted"})
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        first = record_delivery(db, "moodle", parsed)
    assert first is not None
    assert statements == ["INSERT"]
    if engine.dialect.name == "postgresql":
        assert autocommit == [True]  # the insert commits by itself: no BEGIN or COMMIT round trip
    else:
        assert engine.dialect.name == "sqlite"
        with writer.connect() as conn:  # the driver in autocommit: no BEGIN before the insert
            assert conn.connection.driver_connection.isolation_level is None
    with sessions() as db:
        assert record_delivery(db, "moodle", parsed) is None
    # Committed before the answer: another connection sees it, once.
    with make_sessionmaker(engine)() as db:
        assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
