"""``lms-bridge check FILE`` and ``lms-bridge import FILE``.

Both print every problem of a bad file (file, sheet/row or line, field) and exit 1 without a
traceback; ``check`` never opens the store, ``import`` writes in one transaction or not at all.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from lms_bridge.config import ConfigError, Settings, load_settings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import ngettext, use_locale
from lms_bridge.sessionfile import Problem, read_session_file

FILE_ARG = click.argument("file", type=click.Path(path_type=Path, dir_okay=True))


def _settings() -> Settings | None:
    try:
        return load_settings()
    except ConfigError:
        return None


@contextmanager
def _locale(settings: Settings | None) -> Iterator[None]:
    # LMS_BRIDGE_LANGUAGE (read by lms_bridge.i18n) wins; otherwise the configured default language.
    if os.environ.get("LMS_BRIDGE_LANGUAGE") or settings is None:
        yield
        return
    with use_locale(settings.default_language):
        yield


def _print_problems(file: Path, problems: list[Problem], *, err: bool = True) -> None:
    """One line per problem, then the count.  ``check`` prints them as its output (stdout), like a
    linter; commands for which they are the reason of a failure print them as errors (stderr)."""
    for problem in problems:
        click.echo(str(problem), err=err)
    click.echo(ngettext("%(num)s problem in %(file)s; nothing was stored.",
                        "%(num)s problems in %(file)s; nothing was stored.", len(problems), file=str(file)),
               err=err)


def _summary(spec: SessionSpec) -> str:
    return _("Session %(code)s (%(kind)s, %(language)s): %(title)s; starts %(starts)s %(zone)s; "
             "commission %(members)s (chair %(chair)s, secretary %(secretary)s); students %(students)s "
             "(%(admitted)s admitted); tickets %(tickets)s.",
             code=spec.code, kind=spec.kind.value, language=spec.language, title=spec.title,
             starts=spec.starts_at.strftime("%Y-%m-%d %H:%M"), zone=spec.timezone,
             members=len(spec.commission), chair=spec.chair.name, secretary=spec.secretary.name,
             students=len(spec.students), admitted=len(spec.admitted), tickets=len(spec.tickets))


@click.command("check")
@FILE_ARG
def check_cmd(file: Path) -> None:
    """Check a session file (YAML or .xlsx) and list every problem; stores nothing."""
    settings = _settings()
    with _locale(settings):
        spec, problems = read_session_file(file, settings.limits if settings else None)
        if spec is None:
            _print_problems(file, problems, err=False)
            raise SystemExit(1)
        click.echo(_("%(file)s is valid.", file=str(file)))
        click.echo(_summary(spec))


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli"


@click.command("import")
@FILE_ARG
@click.option("--actor", default=None,
              help="Who imports (recorded in the audit log); default: the login name.")
def import_cmd(file: Path, actor: str | None) -> None:
    """Store a session file; importing the same session code again updates it."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with _locale(settings):
        spec, problems = read_session_file(file, settings.limits)
        if spec is None:
            _print_problems(file, problems)
            raise SystemExit(1)
        # Imported late: `check` must work (and stay fast) without the store's dependencies.
        from sqlalchemy.exc import OperationalError

        from lms_bridge.store import repo
        from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
        from lms_bridge.store.schema import ensure_schema

        engine = make_engine(settings.effective_database_url)
        try:
            ensure_schema(engine)
            with transaction(make_sessionmaker(engine)) as db:
                result = repo.import_session(db, spec, source_name=file.name, actor=actor or _actor())
                commitment = result.session.draw_commitment
        except OperationalError as exc:
            # Unreachable or locked database: say which store (without its password) and why.
            reason = str(getattr(exc, "orig", exc) or type(exc).__name__).strip().splitlines()[0]
            raise click.ClickException(_("The store %(url)s cannot be used: %(reason)s",
                                         url=_safe_url(settings), reason=reason)) from None
        except repo.ImportRefused as refused:
            click.echo(_("%(file)s cannot be imported over the stored session %(code)s; nothing was stored:",
                         file=str(file), code=refused.code), err=True)
            for note in refused.reasons:
                click.echo(f"  - {note}", err=True)
            raise SystemExit(1) from None
        finally:
            engine.dispose()
        if result.created:
            for change in result.changes:
                click.echo(str(change))
            click.echo(_("Draw commitment (publish before the sitting): %(commitment)s",
                         commitment=commitment))
        elif result.changes:
            click.echo(ngettext("Session %(code)s updated, %(num)s change:",
                                "Session %(code)s updated, %(num)s changes:", len(result.changes),
                                code=spec.code))
            for change in result.changes:
                click.echo(f"  - {change}")
        else:
            click.echo(_("Session %(code)s is already up to date; nothing changed.", code=spec.code))
