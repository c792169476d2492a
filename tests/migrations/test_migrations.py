"""The Alembic head matches the models (a model change without a migration fails here), and the
migrations go up and down cleanly on SQLite.  tests/production repeats this on PostgreSQL."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import inspect

from lms_bridge.cli import cli
from lms_bridge.store import schema
from lms_bridge.store.db import make_engine
from lms_bridge.store.models import Base


def test_sqlite_head_matches_the_models_and_downgrades_cleanly(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        schema.ensure_schema(engine)
        assert schema.current_revision(engine) == schema.head_revision()
        assert schema.schema_differences(engine) == []
        assert set(inspect(engine).get_table_names()) == {*Base.metadata.tables, "alembic_version"}
        schema.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        schema.ensure_schema(engine)
        assert schema.schema_differences(engine) == []
    finally:
        engine.dispose()


def test_a_model_change_without_a_migration_is_reported(tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        old = MetaData()
        Table("users", old, Column("id", Integer, primary_key=True))
        old.create_all(engine)
        diffs = schema.schema_differences(engine)
        added = {d[1].name for d in diffs if isinstance(d, tuple) and d[0] == "add_table"}
        assert "exam_sessions" in added
        assert any(isinstance(d, tuple) and d[0] == "add_column" and d[2] == "users"
                   and d[3].name == "username" for d in diffs)
    finally:
        engine.dispose()


def test_db_upgrade_and_current_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_LANGUAGE": "en"}
    head = schema.head_revision()
    result = runner.invoke(cli, ["db", "current"], env=env)
    assert result.exit_code == 0, result.output
    assert f"Revision: - (newest: {head})" in result.output
    assert "lms-bridge db upgrade" in result.output
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"upgraded from - to {head}" in result.output
    result = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert f"already at revision {head}" in result.output
    result = runner.invoke(cli, ["db", "current"], env=env)
    assert f"Revision: {head} (newest: {head})" in result.output
    assert "db upgrade" not in result.output
    assert (tmp_path / "lms_bridge.sqlite3").exists()


def test_db_commands_report_bad_settings_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={"LMS_BRIDGE_DATA_DIR": str(tmp_path),
                                                             "LMS_BRIDGE_DEFAULT_LANGUAGE": "fr"})
    assert result.exit_code == 1
    assert "default_language" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_store_is_named_without_its_password(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={
        "LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_LANGUAGE": "en",
        "LMS_BRIDGE_DATABASE_URL": f"postgresql+psycopg://bridge:s3cret-pw@127.0.0.1:{port}/lms"})
    assert result.exit_code == 1
    assert f"Cannot use the store postgresql+psycopg://bridge:***@127.0.0.1:{port}/lms" in result.output
    assert "s3cret-pw" not in result.output
    assert "Traceback" not in result.output


def test_db_upgrade_sql_prints_the_script_without_touching_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", "--sql"], env={
        "LMS_BRIDGE_DATA_DIR": str(tmp_path),
        "LMS_BRIDGE_DATABASE_URL": "postgresql+psycopg://bridge@127.0.0.1:1/absent"})
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE exam_sessions" in result.output
    assert "TIMESTAMP WITH TIME ZONE" in result.output
    head = schema.head_revision()
    # The script inserts the first revision, then each later migration updates it: the last one wins.
    recorded = re.findall(r"INTO alembic_version \(version_num\) VALUES \('(\w+)'\)"
                          r"|UPDATE alembic_version SET version_num='(\w+)'", result.output)
    assert recorded
    assert "".join(recorded[-1]) == head
