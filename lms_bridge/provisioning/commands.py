"""``lms-bridge provision FILE [--json]``: import a session file and provision it to completion.

The plan runs here, in this process (not through the worker): the command returns when every step
is done or one has failed.  Human-readable lines first; with ``--json`` the last line of the output
is one JSON object (:func:`lms_bridge.provisioning.engine.run_summary`).  A second run on the same
file reports ``"created": 0``.  Exit status 1 with the failing step's message when a step fails.

The session's lease is taken before the import, so that a second ``provision`` of the same session
started at the same moment (or while the admin page's run is under way) stores and makes nothing:
it exits with status 3 and says who runs the session's provisioning and since when.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import ngettext
from lms_bridge.provisioning.engine import run_summary
from lms_bridge.sessionfile import read_session_file
from lms_bridge.sessionfile.commands import FILE_ARG, _actor, _locale, _print_problems
from lms_bridge.store.commands import settings_or_exit, store_errors
from lms_bridge.store.models import ExamSession, ProvisioningRun

# Exit status when another process runs the session's provisioning (a script may wait and retry).
BUSY_EXIT = 3

STATUS_LABELS = {
    "done": lambda: _("done"),
    "failed": lambda: _("failed"),
    "skipped": lambda: _("skipped"),
    "pending": lambda: _("not run"),
    "running": lambda: _("interrupted"),
}


def _log_to_file(settings: Settings, verbose: bool) -> None:
    """Details (and any traceback) go to the data dir's log file, not to the secretary's screen."""
    root = logging.getLogger()
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(settings.data_dir / "lms-bridge.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@click.command("provision")
@FILE_ARG
@click.option("--json", "as_json", is_flag=True, help="End with one JSON line summarising the run.")
@click.option("--actor", default=None,
              help="Who provisions (recorded in the audit log); default: the login name.")
@click.option("--verbose", is_flag=True,
              help="Show the detailed log here instead of the data dir's log file.")
def provision_cmd(file: Path, as_json: bool, actor: str | None, verbose: bool) -> None:
    """Import a session file and create everything it needs in Google and Moodle."""
    settings = settings_or_exit(service=True)
    with _locale(settings):
        spec, problems = read_session_file(file, settings.limits)
        if spec is None:
            _print_problems(file, problems)
            raise SystemExit(1)
        _log_to_file(settings, verbose)

        from lms_bridge.provisioning.plan import build_plan
        from lms_bridge.provisioning.service import ProvisioningError, RunRefused, run_now, take_lease
        from lms_bridge.store import repo
        from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
        from lms_bridge.store.schema import ensure_schema

        engine = make_engine(settings.effective_database_url)
        sessions = make_sessionmaker(engine)
        lease = None
        try:
            with store_errors(settings):
                ensure_schema(engine)
                try:
                    lease = take_lease(settings, sessions, spec.code, "cli")
                except RunRefused as refused:
                    click.echo(str(refused), err=True)
                    raise SystemExit(BUSY_EXIT) from None
                try:
                    with transaction(sessions) as db:
                        result = repo.import_session(db, spec, source_name=file.name, actor=actor or _actor())
                except repo.ImportRefused as refused:
                    click.echo(_("%(file)s cannot be imported over the stored session %(code)s; nothing was "
                                 "stored:", file=str(file), code=refused.code), err=True)
                    for reason in refused.reasons:
                        click.echo(f"  - {reason}", err=True)
                    raise SystemExit(1) from None
                for change in result.changes:
                    click.echo(str(change))

                titles = {step.name: step.title() for step in build_plan(settings)}
                started = time.monotonic()
                try:
                    run = run_now(settings, spec.code, trigger="cli", sessions=sessions, lease=lease)
                except ProvisioningError as exc:
                    raise click.ClickException(str(exc)) from None
                except Exception:  # recorded on the run (and in the log); reported below in plain words
                    run = _latest_run(sessions, spec.code)
                seconds = time.monotonic() - started
        finally:
            if lease is not None:
                lease.release()
            engine.dispose()

        for step in run.steps:
            label = STATUS_LABELS.get(step.status, lambda s=step.status: s)()
            click.echo(_("%(step)s: %(status)s, created %(created)s, reused %(reused)s",
                         step=titles.get(step.name, step.name), status=label, created=step.created,
                         reused=step.reused))
        click.echo(ngettext("Session %(code)s: %(num)s object created, %(reused)s reused, %(seconds)s s.",
                            "Session %(code)s: %(num)s objects created, %(reused)s reused, %(seconds)s s.",
                            run.created, code=spec.code, reused=run.reused, seconds=f"{seconds:.1f}"))
        if as_json:
            click.echo(json.dumps(run_summary(run, spec.code, seconds), ensure_ascii=False))
        if run.status != "succeeded":
            failed = next((s for s in run.steps if s.status == "failed"), None)
            error = run.error or _("the run stopped unexpectedly; see the log")
            if failed is None:
                click.echo(_("Provisioning could not start: %(error)s", error=error), err=True)
            else:
                click.echo(_("Provisioning failed at %(step)s: %(error)s",
                             step=titles.get(failed.name, failed.name), error=error), err=True)
            raise SystemExit(1)


def _latest_run(sessions: sessionmaker[Session], code: str) -> ProvisioningRun:
    with sessions() as db:
        run = db.scalar(select(ProvisioningRun).join(ExamSession).where(ExamSession.code == code)
                        .order_by(ProvisioningRun.id.desc()).limit(1))
        assert run is not None
        list(run.steps)  # loaded before the session closes
        return run
