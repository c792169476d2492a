"""``lms-bridge user create/passwd``: local accounts for the admin page."""

from __future__ import annotations

import sys

import click

from lms_bridge.i18n import gettext as _


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line; scripts pipe it in so the password never shows in `ps` or the shell history.
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(_("Password"), hide_input=True, confirmation_prompt=True))


def _store():  # type: ignore[no-untyped-def]
    from lms_bridge.config import load_settings
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.schema import ensure_schema

    settings = load_settings()
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    return settings, engine, make_sessionmaker(engine)


@click.group("user")
def user_group() -> None:
    """Local accounts for the admin page."""


@user_group.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--name", "display_name", default="", help="The name shown on the page.")
@click.option("--language", type=click.Choice(["kk", "ru", "en"]), default=None,
              help="The account's page language (default: the configured default language).")
@click.option("--email", default="", help="The person's e-mail: their roles in sessions are matched by it.")
@click.option("--role", "roles", multiple=True, type=click.Choice(["administrator", "importer", "none"]),
              help="Site role (repeatable); default administrator, the break-glass account.")
def create_cmd(username: str, password_stdin: bool, display_name: str, language: str | None, email: str,
               roles: tuple[str, ...]) -> None:
    """Create the account USERNAME."""
    from lms_bridge.admin.auth import AccountError, create_user
    from lms_bridge.store.db import transaction

    password = _read_password(password_stdin)
    settings, engine, sessions = _store()
    try:
        with transaction(sessions) as db:
            user = create_user(db, username, password, display_name=display_name,
                               language=language or settings.default_language, email=email,
                               site_roles=",".join(roles) if roles else "administrator")
            name = user.username
    except AccountError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    click.echo(_("User %(name)s created.", name=name))


@user_group.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def passwd_cmd(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME."""
    from lms_bridge.admin.auth import AccountError, set_password
    from lms_bridge.store.db import transaction

    password = _read_password(password_stdin)
    _settings, engine, sessions = _store()
    try:
        with transaction(sessions) as db:
            name = set_password(db, username, password).username
    except AccountError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    click.echo(_("Password of %(name)s changed.", name=name))
