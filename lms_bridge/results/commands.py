"""``lms-bridge ratings CODE FILE``: a test exam's admission ratings from the university system's export."""

from __future__ import annotations

from pathlib import Path

import click

from lms_bridge.config import ConfigError, load_settings
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import ngettext


@click.command("ratings")
@click.argument("code")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--actor", default=None, help="Who imports (for the audit trail); default: the login name.")
def ratings_cmd(code: str, file: Path, actor: str | None) -> None:
    """Store the admission ratings of session CODE from FILE (CSV or XLSX: the student's ID number or
    e-mail, and the rating); every problem is listed with its row, and nothing is stored then."""
    from lms_bridge.results.ratings import RatingsRefused, import_ratings
    from lms_bridge.sessionfile.commands import _actor, _locale
    from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
    from lms_bridge.store.models import ExamSession
    from lms_bridge.store.schema import ensure_schema

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with _locale(settings):
        if file.stat().st_size > settings.limits.file_bytes:
            raise click.ClickException(_("The file is larger than %(mb)s MB; an export of ratings is far smaller.",
                                         mb=settings.limits.file_bytes // (1024 * 1024)))
        data = file.read_bytes()
        from sqlalchemy import select

        engine = make_engine(settings.effective_database_url)
        try:
            ensure_schema(engine)
            with transaction(make_sessionmaker(engine)) as db:
                session = db.scalar(select(ExamSession).where(ExamSession.code == code))
                if session is None:
                    raise click.ClickException(_("No session %(code)s in the store.", code=code))
                done = import_ratings(db, session, data, file.name, settings, actor=actor or _actor())
        except RatingsRefused as refused:
            for problem in refused.problems:
                click.echo(str(problem), err=True)
            click.echo(ngettext("%(num)s problem in %(file)s; nothing was stored.",
                                "%(num)s problems in %(file)s; nothing was stored.", len(refused.problems),
                                file=str(file)), err=True)
            raise SystemExit(1) from None
        finally:
            engine.dispose()
        click.echo(ngettext("%(num)s admission rating stored for session %(code)s (%(changed)s changed).",
                            "%(num)s admission ratings stored for session %(code)s (%(changed)s changed).",
                            done.rows, code=code, changed=len(done.changed)))
