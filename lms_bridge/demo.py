"""``lms-bridge demo`` (the embedded default, one process) and ``lms-bridge serve`` (production).

The demo brings everything up on one machine: the SQLite store (upgraded to the newest schema),
a local admin account whose password is generated once and kept in the data dir, the Kazakh sample
session, the Google and Moodle sandboxes in a thread, the job consumer in threads, and the admin
page under waitress.  ``serve`` runs only the admin page and webhooks; the worker runs apart
(``lms-bridge worker``) and nothing is loaded automatically.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, select

from lms_bridge.config import Settings, ensure_secret_key
from lms_bridge.domain.workdays import WorkCalendar
from lms_bridge.i18n import gettext as _
from lms_bridge.store.commands import settings_or_exit

logger = logging.getLogger(__name__)

DEMO_USERNAME = "demo"
LOGIN_FILE = "demo-login.json"
# The sample session: the repository's config/ in a checkout; the packaged copy when installed.
SAMPLE_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "config" / "sample-session.yaml",
    Path(__file__).resolve().parent / "data" / "sample-session.yaml",
)


# The e-mail domain of the sample session's people (config/sample-session.yaml).
SAMPLE_DOMAIN = "univ.edu.kz"


def sample_session_path() -> Path:
    for path in SAMPLE_CANDIDATES:
        if path.is_file():
            return path
    raise click.ClickException(_("The sample session file is missing from the installation."))


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str


def ensure_demo_login(settings: Settings, engine: Engine) -> DemoLogin:
    """The demo account: created once with a random password kept (0600) in the data dir."""
    from lms_bridge.admin.auth import create_user, normalise_username, set_password
    from lms_bridge.store.db import make_sessionmaker, transaction
    from lms_bridge.store.models import User

    path = settings.data_dir / LOGIN_FILE
    stored: dict[str, str] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = {}
    username = normalise_username(stored.get("username") or DEMO_USERNAME)
    password = stored.get("password") or secrets.token_urlsafe(12)
    with transaction(make_sessionmaker(engine)) as db:
        user = db.scalar(select(User).where(User.username == username))
        if user is None:
            create_user(db, username, password, display_name="Demo", language=settings.default_language)
        elif not stored.get("password"):
            # The account exists but its password was not kept here: give it the one we now keep.
            set_password(db, username, password)
    if not stored.get("password"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"username": username, "password": password}, fh)
    return DemoLogin(username, password)


def demo_sitting_start(planned: datetime, now: datetime, calendar: WorkCalendar | None = None) -> datetime:
    """When the demo's sitting begins: the sample's own start while it is still ahead; otherwise today,
    on the next half hour, if today is a working day with time left for the sitting, else the next
    working day at the sample's hour.  The sample file is dated once; without this the demo's day
    would lie in the past and nobody could be admitted to the draw."""
    if planned > now:
        return planned
    zone = planned.tzinfo
    local = now.astimezone(zone)
    days = calendar or WorkCalendar()
    if days.is_working_day(local.date()) and local.hour < 15:
        return local.replace(second=0, microsecond=0) + timedelta(minutes=30 - local.minute % 30)
    day = days.next_working_day(local.date())
    return datetime.combine(day, planned.timetz())


def load_sample_session(engine: Engine, path: Path | None = None, *, now: datetime | None = None) -> str:
    """Import the sample session unless a session with its code is already stored; returns the code.
    With ``now``, its sitting is on a day that can still be tried (see :func:`load_demo_session`)."""
    return load_demo_session(engine, path, now=now).code


@dataclass(frozen=True)
class DemoSession:
    """The demo's session code, and a line for the console about its sitting day ("" for none)."""

    code: str
    note: str = ""


def load_demo_session(engine: Engine, path: Path | None = None, *, now: datetime | None = None) -> DemoSession:
    """Import the sample session unless a session with its code is already stored.

    With ``now``, the sitting follows :func:`demo_sitting_start` on every start of the demo, not only
    the first: a stored session whose sitting day is over (the demo started again days later on the
    same data dir) is moved to today or the next working day, at its own hour, through the same
    reconciliation as a re-import (everything else the session holds is kept, and the audit trail
    records the change).  A sealed session is left as it is, and so is one whose sitting has begun
    (tickets were drawn): the console line says so."""
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store import repo
    from lms_bridge.store.db import make_sessionmaker, transaction

    source = path or sample_session_path()
    spec = load_session(source)
    if now is not None:
        spec = replace(spec, starts_at=demo_sitting_start(spec.starts_at, now))
    with transaction(make_sessionmaker(engine)) as db:
        stored = repo.get_session(db, spec.code)
        if stored is None:
            repo.import_session(db, spec, source_name=source.name, actor="demo")
            return DemoSession(spec.code)
        if now is None:
            return DemoSession(spec.code)
        return DemoSession(spec.code, _follow_today(db, stored, now))


def _follow_today(db: Any, session: Any, now: datetime) -> str:
    """Move the stored demo session's past sitting day (see :func:`load_demo_session`); the console line."""
    from zoneinfo import ZoneInfo

    from lms_bridge.store import repo

    zone = ZoneInfo(session.timezone)
    planned = session.starts_at.astimezone(zone)
    shown = planned.strftime("%Y-%m-%d %H:%M")
    if session.status == "sealed":
        return _("Sample session %(code)s is sealed, so its sitting stays on %(day)s: a sealed session never "
                 "changes. For a fresh demo, start it with an empty data directory.", code=session.code, day=shown)
    if planned.date() >= now.astimezone(zone).date():
        return ""  # today (perhaps under way) or still ahead: the day a person is trying stays
    moved = demo_sitting_start(planned, now).astimezone(zone)
    spec = replace(repo.spec_from_store(db, session), starts_at=moved)
    try:
        repo.import_session(db, spec, source_name=session.source_name, actor="demo")
    except repo.ImportRefused as refused:
        db.rollback()
        return _("Sample session %(code)s keeps its sitting on %(day)s: %(reason)s", code=session.code,
                 day=shown, reason=" ".join(str(reason) for reason in refused.reasons))
    note = _("Sample session %(code)s: its sitting moved from %(old)s to %(new)s, a day that can still be "
             "tried.", code=session.code, old=shown, new=moved.strftime("%Y-%m-%d %H:%M"))
    if session.status == "provisioned":
        # The steps reuse what they made (ensure): the Moodle course's start date, the advance work's due date.
        note += " " + _("It was provisioned before: what was already made in Classroom and Moodle keeps the dates "
                        "it was given.")
    return note


@dataclass
class Demo:
    """A running demo: the admin page's server plus what it started; ``close()`` stops them all."""

    url: str
    login: DemoLogin
    settings: Settings
    server: Any  # waitress server
    session_code: str
    _closers: list[Callable[[], None]]
    serving: threading.Event = field(default_factory=threading.Event)
    day_note: str = ""  # what happened to the stored session's sitting day (load_demo_session)

    def serve_forever(self) -> None:
        self.serving.set()
        try:
            self.server.run()
        finally:
            self.serving.clear()

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # shutting down: finish closing the rest
                logger.exception("while stopping the demo")
        self._closers.clear()


def start_demo(settings: Settings, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 4) -> Demo:
    """Bring the embedded default up (see the module docstring); the server is bound but not yet run."""
    from waitress.server import create_server

    from lms_bridge.app import create_app
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.sandbox import effective_settings, stop_embedded
    from lms_bridge.store.db import make_engine
    from lms_bridge.store.schema import ensure_schema

    closers: list[Callable[[], None]] = []
    serving = threading.Event()
    demo: Demo | None = None
    # Bound first so that port 0 works and the webhooks' public URL is known before anything starts.
    server = create_server(lambda environ, start_response: [], host=host, port=port, threads=8)
    closers.append(lambda: _stop_waitress(server, serving))
    try:
        url = f"http://{host}:{server.effective_port}"
        if settings.public_url == Settings().public_url:
            settings = replace(settings, public_url=url)
        settings = ensure_secret_key(settings)
        engine = make_engine(settings.effective_database_url)
        closers.append(engine.dispose)
        ensure_schema(engine)
        login = ensure_demo_login(settings, engine)
        sample = load_demo_session(engine, now=datetime.now(UTC))
        closers.append(stop_embedded)
        settings = effective_settings(settings)  # starts the embedded sandboxes unless configured
        if not settings.google.signin_domains and not settings.google_live:
            # Sign in with Google through the sandbox as anyone of the sample session (its domain).
            settings = replace(settings, google=replace(settings.google, signin_domains=SAMPLE_DOMAIN))
        queue = jobqueue.configure(settings, engine=engine)
        closers.append(jobqueue.reset)
        if not queue.immediate:
            consumer = queue.consumer(workers=workers, periodic=True, embedded=True)
            consumer.start()
            closers.append(consumer.stop)
        server.application = create_app(settings)
        demo = Demo(url=url, login=login, settings=settings, server=server, session_code=sample.code,
                    _closers=closers, serving=serving, day_note=sample.note)
        return demo
    finally:
        if demo is None:
            for closer in reversed(closers):
                closer()


def _stop_waitress(server: Any, serving: threading.Event) -> None:
    """Stop a waitress server from another thread: its loop closes every socket itself (closing
    them from here would race with its poll), then the loop finds nothing left and returns."""
    done = threading.Event()

    def close_all() -> None:
        for channel in list(server._map.values()):
            if channel is not server.trigger:
                channel.close()
        done.set()

    if serving.is_set():
        server.trigger.pull_trigger(close_all)
    if not done.wait(timeout=5 if serving.is_set() else 0):
        close_all()  # the loop is not running (never started, or stopped by Ctrl-C)
    server.trigger.close()
    server.task_dispatcher.shutdown(timeout=5)


@click.command("demo")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
def demo_cmd(port: int, host: str) -> None:
    """Run everything on this machine: store, sample session, sandboxes, worker and admin page."""
    settings = settings_or_exit()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        demo = start_demo(settings, host=host, port=port)
    except OSError as exc:
        raise click.ClickException(_("Cannot listen on %(host)s:%(port)s (%(reason)s); try another --port.",
                                     host=host, port=port, reason=exc.strerror or exc)) from None
    click.echo(_("lms_bridge demo is running at %(url)s", url=demo.url))
    click.echo(_("Sign in as %(user)s with the password %(password)s", user=demo.login.username,
                 password=demo.login.password))
    click.echo(_("Sample session %(code)s is loaded; open it and click Provision session.",
                 code=demo.session_code))
    if demo.day_note:
        click.echo(demo.day_note)
    if demo.settings.google.signin_domains == SAMPLE_DOMAIN:
        click.echo(_("Or click Sign in with Google and be anyone of the sample session, e.g. its chair "
                     "%(email)s: each sees what their role allows.", email="e.zhumabekov@univ.edu.kz"))
    click.echo(_("Data: %(dir)s. Stop with Ctrl-C.", dir=str(demo.settings.data_dir)))
    try:
        demo.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()


@click.command("serve")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
def serve_cmd(port: int, host: str, threads: int) -> None:
    """Serve the admin page and the webhooks with waitress (production; run `lms-bridge worker` beside it).

    Any WSGI server works the same way, e.g. ``gunicorn -w 4 'lms_bridge.app:create_app()'``.
    Nothing is loaded and no sandbox is started here: with Google or Moodle in sandbox mode, serve
    the sandboxes with `lms-bridge sandbox serve` and set LMS_BRIDGE_SANDBOX_URL for every process.
    """
    from waitress import serve

    from lms_bridge.app import create_app
    from lms_bridge.jobs import queue as jobqueue

    settings = settings_or_exit(service=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    # The page queues jobs through the same connection pool it reads the store with.
    jobqueue.configure(settings, engine=app.extensions["lms_bridge"].engine)
    click.echo(_("Serving %(public)s on %(host)s:%(port)s", public=settings.public_url, host=host, port=port))
    serve(app, host=host, port=port, threads=threads)
