"""Moodle area fixtures: the sandbox served over loopback, a client and operations talking to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from lms_bridge.config import MoodleSettings, Secret
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.operations import MoodleOps
from lms_bridge.moodle.sandbox import create_app
from lms_bridge.remote import ApiCalls


class Served:
    def __init__(self, app: object, url: str) -> None:
        self.app = app
        self.url = url

    def actor(self, path: str, body: dict | None = None) -> requests.Response:
        return requests.post(f"{self.url}/_actor{path}", json=body or {}, timeout=5)

    def configure(self, **config: object) -> None:
        self.actor("/config", config).raise_for_status()

    def state(self) -> dict:
        return requests.get(f"{self.url}/_actor/state", timeout=5).json()


def serve(app: object) -> tuple[object, str, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}", thread


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Served]:
    app = create_app(tmp_path / "moodle-state")
    server, url, _thread = serve(app)
    try:
        yield Served(app, url)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]


@pytest.fixture
def api_calls() -> ApiCalls:
    return ApiCalls()


@pytest.fixture
def client(sandbox: Served, api_calls: ApiCalls) -> MoodleClient:
    return MoodleClient(sandbox.url, Secret("sandbox-token"), api_calls=api_calls, timeout=5,
                        sleep=lambda _s: None)


@pytest.fixture
def moodle_settings(sandbox: Served) -> MoodleSettings:
    return MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"))


@pytest.fixture
def ops(client: MoodleClient, moodle_settings: MoodleSettings) -> MoodleOps:
    return MoodleOps(client, moodle_settings)


def reopen_quiz(served: Served, quizid: int) -> None:
    """A teacher opens the ticket quiz to everyone by hand (no open or close time): Moodle then picks each
    student's question itself.  For tests of Moodle's own behaviour only; the product keeps it closed."""
    app = served.app
    with app.world.lock:  # type: ignore[attr-defined]
        app.world.refresh()  # type: ignore[attr-defined]
        app.world.state["quizzes"][str(quizid)].update(timeopen=0, timeclose=0)  # type: ignore[attr-defined]
        app.world.save()  # type: ignore[attr-defined]
