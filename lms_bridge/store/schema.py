"""The store's schema: brought to the newest Alembic revision, never built with ``create_all``.

Every path that opens a store (``lms-bridge db upgrade``, ``demo``, ``provision``, the tests) calls
:func:`ensure_schema`, so a database is always at the migration head and a model change without a
migration is caught by the test comparing the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None, url: str = "") -> Config:
    """An Alembic config built in code (works from an installed package; no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url:
        # ConfigParser interpolation would choke on a '%' in a password.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _connected(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as conn:
        yield conn


def ensure_schema(engine: Engine) -> None:
    """Upgrade the store behind ``engine`` to the newest revision (creating it when empty)."""
    upgrade(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    with _connected(engine) as conn:
        command.upgrade(alembic_config(conn), revision)


def upgrade_sql(url: str, revision: str = "head") -> None:
    """Print the SQL of the migrations to stdout instead of running them (for a DBA to apply)."""
    command.upgrade(alembic_config(url=url), revision, sql=True)


def downgrade(engine: Engine, revision: str) -> None:
    with _connected(engine) as conn:
        command.downgrade(alembic_config(conn), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_differences(engine: Engine) -> list[Any]:
    """What separates the database from the models (empty when the migrations match them)."""
    from alembic.autogenerate import compare_metadata

    from lms_bridge.store.models import Base

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def revision(engine: Engine, message: str, *, rev_id: str | None = None, autogenerate: bool = True) -> None:
    """Write a new revision file comparing the models with the store behind ``engine`` (at head)."""
    with _connected(engine) as conn:
        command.revision(alembic_config(conn), message=message, rev_id=rev_id, autogenerate=autogenerate)
