"""The outside services a provisioning run talks to, built from the settings.

Google and Moodle each switch between the built-in sandbox and the live service by configuration
(see :func:`lms_bridge.sandbox.effective_settings`); the steps never know which one they talk to.
Both clients share the run's :class:`ApiCalls`, so the summary counts every HTTP request.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from lms_bridge.config import Settings
from lms_bridge.jobs.queue import JobQueue
from lms_bridge.remote import ApiCalls
from lms_bridge.sandbox import effective_settings

if TYPE_CHECKING:
    from lms_bridge.google.workspace import GoogleWorkspace
    from lms_bridge.moodle.client import MoodleClient


@dataclass(frozen=True)
class Backends:
    google: GoogleWorkspace
    moodle: MoodleClient
    # The settings the clients were built from (sandbox URL and Moodle sandbox token filled in).
    settings: Settings


def build_backends(settings: Settings, api_calls: ApiCalls) -> Backends:
    """Clients for Google and Moodle; a sandbox is started when a service is not live."""
    from lms_bridge.google.workspace import GoogleWorkspace
    from lms_bridge.moodle.client import MoodleClient

    resolved = effective_settings(settings)
    return Backends(google=GoogleWorkspace.from_settings(resolved, api_calls),
                    moodle=MoodleClient.from_settings(resolved, api_calls),
                    settings=resolved)


@cache
def _backends_for(settings: Any) -> Any:
    # One set of clients per worker process: building them reads key files and, in sandbox mode,
    # may start the embedded sandbox.
    from lms_bridge.backends import build_backends

    return build_backends(settings, ApiCalls())


def backends(queue: JobQueue) -> Any:
    return _backends_for(queue.settings)
