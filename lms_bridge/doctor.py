"""``lms-bridge doctor``: what this installation is configured to use, and what production still lacks.

It reads the settings only (no network, no store connection), so it answers the same on a machine
being prepared as on the running server.  It never prints a secret: tokens, passwords and keys are
shown as "set" or "not set", URLs with their password masked, an inline service-account key not at
all.  Exit status 1 when something production requires is missing (or the settings do not load).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from lms_bridge.admin.auth import throttle_storage
from lms_bridge.config import ConfigError, Settings, load_settings
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale


@dataclass
class Report:
    """The doctor's findings: (label, value) lines and what production is missing."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def show(self, label: str, value: str) -> None:
        self.lines.append((label, value))


def masked_url(url: str) -> str:
    """A URL fit to print: any password replaced by ***, query and fragment (where tokens hide) dropped."""
    if not url:
        return ""
    if url.startswith(("sqlite", "postgresql")):
        from sqlalchemy.engine import make_url

        try:
            return make_url(url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL: say so rather than echo it
            return _("(not a valid URL)")
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _sep, host = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_set(value: object) -> str:
    return _("set") if value else _("not set")


def _inline(value: str) -> bool:
    return value.lstrip().startswith("{") or "\n" in value


def _key_usable(value: str) -> bool:
    return bool(value) and (_inline(value) or Path(value).expanduser().is_file())


def _key_file(value: str) -> str:
    """A service-account or token file: its path and whether it is there; an inline key as 'set'."""
    if not value:
        return _("not set")
    if _inline(value):
        return _("set (inline; not shown)")
    path = Path(value).expanduser()
    if path.is_file():
        return _("%(path)s (present)", path=str(path))
    return _("%(path)s (the file is missing)", path=str(path))


def examine(settings: Settings) -> Report:
    """Everything the doctor prints, as data (the command only formats it)."""
    report = Report()
    production = settings.production
    if settings.mode == "production":
        mode = _('production (mode = "production")')
    elif production:
        mode = _("production (the store is PostgreSQL)")
    else:
        mode = _("embedded default (not production)")
    report.show(_("Mode"), mode)
    report.show(_("Configuration file"), os.environ.get("LMS_BRIDGE_CONFIG") or _("none (defaults and environment)"))
    report.show(_("Store"), masked_url(settings.effective_database_url))
    queue = settings.queue_url
    report.show(_("Queue"), masked_url(queue) if queue else _("SQLite file in the data dir"))
    report.show(_("Data dir"), str(settings.data_dir))
    report.show(_("Public URL"), settings.public_url)
    report.show(_("Session-cookie key"), _("set") if settings.secret_key
                else _("not set (generated once in the data dir)"))
    report.show(_("Trusted proxies"), str(settings.trusted_proxies))
    counters = throttle_storage(settings)
    report.show(_("Sign-in counters"), _("the store (shared by every process)") if counters.startswith("store+")
                else masked_url(counters))

    google = settings.google
    if google.mode == "live":
        report.show(_("Google"), _("live"))
    elif google.mode == "sandbox":
        report.show(_("Google"), _("sandbox (chosen)"))
    else:
        report.show(_("Google"), _("sandbox (google.mode not set)"))
    report.show(_("Google service account"), _key_file(google.service_account_file))
    report.show(_("Google delegated user"), google.delegated_user or _("not set"))
    report.show(_("Google OAuth grant"), _key_file(google.oauth_token_file))
    report.show(_("Pub/Sub topic"), google.pubsub_topic or _("not set"))

    moodle = settings.moodle
    if settings.moodle_sandbox:
        report.show(_("Moodle"), _("sandbox (chosen)") if moodle.mode == "sandbox"
                    else _("sandbox (no Moodle configured)"))
    else:
        report.show(_("Moodle"), _("live at %(url)s", url=masked_url(moodle.url)))
    report.show(_("Moodle token"), _is_set(moodle.token))
    report.show(_("Moodle webhook secret"), _is_set(moodle.webhook_secret))
    if settings.sandbox_url:
        report.show(_("Sandbox URL"), masked_url(settings.sandbox_url))

    smtp = settings.smtp
    if smtp.host:
        report.show(_("SMTP"), f"{smtp.host}:{smtp.port}")
        report.show(_("SMTP password"), _is_set(smtp.password))
    else:
        report.show(_("SMTP"), _("not set (mail waits in the outbox page)"))

    if production:
        report.missing.extend(settings.sandbox_refusals())
        if not settings.effective_database_url.startswith("postgresql"):
            report.missing.append(_("The store is not PostgreSQL: set LMS_BRIDGE_DATABASE_URL."))
        if not settings.queue_url.startswith(("redis://", "rediss://")):
            report.missing.append(_("The queue is not Redis: set LMS_BRIDGE_QUEUE_URL=redis://…"))
        if not settings.secret_key:
            report.missing.append(_("No session-cookie key: set LMS_BRIDGE_SECRET_KEY, the same for every "
                                    "web process."))
        if not settings.public_url.startswith("https://"):
            report.missing.append(_("The public URL is not https://: set LMS_BRIDGE_PUBLIC_URL to the "
                                    "address Google and Moodle reach."))
        if google.mode == "live":
            if not _key_usable(google.service_account_file):
                report.missing.append(_("The Google service account file is missing: set "
                                        "LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE."))
            if not google.delegated_user:
                report.missing.append(_("No Google delegated user: set LMS_BRIDGE_GOOGLE_DELEGATED_USER."))
        if not settings.moodle_sandbox and not moodle.webhook_secret:
            report.missing.append(_("No Moodle webhook secret: set LMS_BRIDGE_MOODLE_WEBHOOK_SECRET to the "
                                    "companion plugin's."))
    return report


@contextmanager
def _cli_locale(settings: Settings | None) -> Iterator[None]:
    # LMS_BRIDGE_LANGUAGE (read by lms_bridge.i18n) wins; otherwise the configured default language.
    if os.environ.get("LMS_BRIDGE_LANGUAGE") or settings is None:
        yield
        return
    with use_locale(settings.default_language):
        yield


@click.command("doctor")
def doctor_cmd() -> None:
    """Show what is configured and what production still needs (never a secret)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with _cli_locale(settings):
        report = examine(settings)
        width = max(len(label) for label, _value in report.lines)
        for label, value in report.lines:
            click.echo(f"{label.ljust(width)}  {value}")
        click.echo("")
        if report.missing:
            click.echo(_("Missing for production:"))
            for item in report.missing:
                click.echo(f"- {item}")
            raise SystemExit(1)
        if settings.production:
            click.echo(_("Nothing required for production is missing."))
        else:
            click.echo(_("Not a production configuration: nothing more is required. Production is a "
                         "PostgreSQL store or mode = \"production\"."))
