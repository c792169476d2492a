"""Migrations and the provisioning engine's journal on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect

from lms_bridge.store import schema
from lms_bridge.store.db import make_sessionmaker
from lms_bridge.store.models import Base

pytestmark = pytest.mark.production

try:  # tests/ is not a package: the sibling area is importable by its own name
    from provisioning import engine_cases
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.provisioning import engine_cases  # type: ignore[no-redef]


def test_postgresql_head_matches_the_models(pg_engine: Engine) -> None:
    assert pg_engine.dialect.name == "postgresql"
    assert schema.current_revision(pg_engine) == schema.head_revision()
    assert schema.schema_differences(pg_engine) == []
    assert set(inspect(pg_engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}


def test_postgresql_crashed_run_resumes_without_duplicates(pg_engine: Engine) -> None:
    engine_cases.crash_then_resume(make_sessionmaker(pg_engine))


def test_postgresql_failed_step_and_retry(pg_engine: Engine) -> None:
    engine_cases.failure_stops_and_shows(make_sessionmaker(pg_engine))
