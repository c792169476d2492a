"""What the blueprints get from the running app: its settings, the store and the job queue.

``create_app`` puts an :class:`AppState` on ``app.extensions["lms_bridge"]``; the admin and webhook
blueprints read it with :func:`state`.  This module sits below the app and the blueprints, so that
neither blueprint imports the app that registers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings

EXTENSION = "lms_bridge"
# The key under which the language the user picked with the switch is kept in the session cookie.
LANGUAGE_KEY = "lang"


@dataclass
class AppState:
    """What the blueprints need: settings, the store and (lazily) the job queue."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]

    @property
    def queue(self) -> Any:
        # Imported on first use: the page must come up even while the queue backend (Redis) is away.
        # The queue is process-wide (configured by `demo`/`serve`/the worker, else from the settings).
        from lms_bridge.jobs.queue import get_queue

        return get_queue()


def state(app: Flask | None = None) -> AppState:
    """The running app's :class:`AppState`."""
    return (app or current_app).extensions[EXTENSION]  # type: ignore[no-any-return]
