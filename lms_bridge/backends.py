"""The outside services a provisioning run or a job talks to, built from the settings.

Google and Moodle each switch between a sandbox and the live service by configuration; the steps
never know which one they talk to.  A service that is not live is reached at the sandbox's URL
(``sandbox_url``: ``/google`` and ``/moodle`` under it, with the sandbox's public Moodle token).
This module never starts a sandbox: the top of the program does (``demo``, the ``lms-bridge``
command, tests) and either puts its URL in the settings or hands a starter to
:func:`use_sandbox_starter`, called the first time clients are built without a URL.
A production configuration gets a sandbox only when it asked for one by name
(:func:`lms_bridge.config.require_deliberate_mode`).
Both clients share the run's :class:`ApiCalls`, so the summary counts every HTTP request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from lms_bridge.config import ConfigError, Secret, Settings, require_deliberate_mode
from lms_bridge.i18n import gettext as _
from lms_bridge.remote import ApiCalls

if TYPE_CHECKING:
    from lms_bridge.google.workspace import GoogleWorkspace
    from lms_bridge.jobs.queue import JobQueue
    from lms_bridge.moodle.client import MoodleClient

# What the Moodle sandbox accepts as a token; see docs/architecture.md (Sandboxes).
SANDBOX_MOODLE_TOKEN = "sandbox-token"  # noqa: S105 - a fixed, public sandbox credential
# Used only when no moodle.webhook_secret is configured; the sandbox and the webhook check agree on it.
SANDBOX_WEBHOOK_SECRET = "sandbox-webhook-secret"  # noqa: S105 - public, sandbox only

SandboxStarter = Callable[[Settings], str]
_starter: SandboxStarter | None = None
_starter_lock = threading.Lock()


def use_sandbox_starter(starter: SandboxStarter | None) -> None:
    """Let clients built without a ``sandbox_url`` start a sandbox with ``starter(settings) -> url``
    (the embedded default); ``None`` forgets it."""
    global _starter
    with _starter_lock:
        _starter = starter


@dataclass(frozen=True)
class Backends:
    google: GoogleWorkspace
    moodle: MoodleClient
    # The settings the clients were built from (sandbox URL and Moodle sandbox token filled in).
    settings: Settings


def needs_sandbox(settings: Settings) -> bool:
    return not settings.google_live or not settings.moodle.live


def with_sandbox(settings: Settings, url: str) -> Settings:
    """``settings`` pointed at the sandbox served at ``url`` wherever a service is not live."""
    if not needs_sandbox(settings):
        return settings
    url = url.rstrip("/")
    out = replace(settings, sandbox_url=url)
    if not settings.moodle.live:
        moodle = replace(settings.moodle, url=url + "/moodle", token=Secret(SANDBOX_MOODLE_TOKEN))
        out = replace(out, moodle=moodle)
    return out


def resolve_settings(settings: Settings) -> Settings:
    """The settings clients are built from: the sandbox filled in where a service is not live."""
    if not needs_sandbox(settings):
        return settings
    url = settings.sandbox_url
    if not url:
        with _starter_lock:
            starter = _starter
        if starter is None:
            raise ConfigError(_("Google or Moodle is not live and no sandbox is given: serve one with "
                                "`lms-bridge sandbox serve` and set LMS_BRIDGE_SANDBOX_URL to its URL."))
        url = starter(settings)
    return with_sandbox(settings, url)


def build_backends(settings: Settings, api_calls: ApiCalls) -> Backends:
    """Clients for Google and Moodle (see the module docstring for the sandbox)."""
    from lms_bridge.google.workspace import GoogleWorkspace
    from lms_bridge.moodle.client import MoodleClient

    # Before any sandbox is started: a production worker must never provision into one it started
    # for itself because google.mode or the Moodle URL was forgotten.
    require_deliberate_mode(settings)
    resolved = resolve_settings(settings)
    return Backends(google=GoogleWorkspace.from_settings(resolved, api_calls),
                    moodle=MoodleClient.from_settings(resolved, api_calls),
                    settings=resolved)


@cache
def _backends_for(settings: Any) -> Any:
    # One set of clients per worker process: building them reads key files and, in sandbox mode,
    # may start the embedded sandbox.
    return build_backends(settings, ApiCalls())


def backends(queue: JobQueue) -> Any:
    return _backends_for(queue.settings)
