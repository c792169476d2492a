"""``lms-bridge db``: bring the store to the newest schema, show where it stands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import DBAPIError

from lms_bridge.config import ConfigError, Settings, load_settings, require_deliberate_mode
from lms_bridge.i18n import gettext as _
from lms_bridge.store import schema
from lms_bridge.store.db import make_engine


def settings_or_exit(*, service: bool = False) -> Settings:
    """The settings, or a one-line error naming the bad setting (exit 1, no traceback).

    ``service``: the command serves or provisions, so a production configuration must have chosen
    its Google and Moodle on purpose (:func:`lms_bridge.config.require_deliberate_mode`).
    """
    try:
        settings = load_settings()
        if service:
            require_deliberate_mode(settings)
        return settings
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _safe_url(settings: Settings) -> str:
    # The URL may hold a database password: print it the way SQLAlchemy masks it.
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """A store that cannot be reached is one line naming it (password hidden), not a traceback."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise click.ClickException(_("Cannot use the store %(url)s: %(reason)s", url=_safe_url(settings),
                                     reason=reason)) from None


@click.group("db")
def db_group() -> None:
    """The store's schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.option("--sql", "as_sql", is_flag=True, help="Print the SQL instead of running it (from an empty store).")
def upgrade_cmd(revision: str, as_sql: bool) -> None:
    """Apply the migrations to the configured database."""
    settings = settings_or_exit()
    if as_sql:
        schema.upgrade_sql(settings.effective_database_url, revision)
        return
    engine = make_engine(settings.effective_database_url)
    try:
        with store_errors(settings):
            before = schema.current_revision(engine)
            schema.upgrade(engine, revision)
            after = schema.current_revision(engine)
    finally:
        engine.dispose()
    if before == after:
        click.echo(_("The store %(url)s is already at revision %(rev)s.", url=_safe_url(settings), rev=after))
    else:
        click.echo(_("The store %(url)s was upgraded from %(old)s to %(rev)s.", url=_safe_url(settings),
                     old=before or "-", rev=after))


@db_group.command("current")
def current_cmd() -> None:
    """Show the store's revision and the newest one shipped."""
    settings = settings_or_exit()
    engine = make_engine(settings.effective_database_url)
    try:
        with store_errors(settings):
            current = schema.current_revision(engine)
    finally:
        engine.dispose()
    head = schema.head_revision()
    click.echo(_("Store: %(url)s", url=_safe_url(settings)))
    click.echo(_("Revision: %(rev)s (newest: %(head)s)", rev=current or "-", head=head))
    if current != head:
        click.echo(_("Run `lms-bridge db upgrade` to bring the store up to date."))
