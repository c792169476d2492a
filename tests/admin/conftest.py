from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lms_bridge.admin.auth import create_user
from lms_bridge.app import create_app, state
from lms_bridge.config import Settings, load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.db import transaction

REPO = Path(__file__).resolve().parents[2]
SAMPLE_YAML = REPO / "config" / "sample-session.yaml"
PASSWORD = "correct horse battery"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The default SQLite queue with no consumer: a click queues a run and nothing runs it, so the
    # page tests see exactly what the button did (the browser tests run the real worker and sandboxes).
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), default_language="en")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings, testing=True)
    application.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(application).engine)
    with transaction(state(application).sessionmaker) as db:
        create_user(db, "secretary", PASSWORD, display_name="Айгүл Сейітова", language="en")
    yield application
    jobqueue.reset()
    state(application).engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def signed_in(client: FlaskClient) -> FlaskClient:
    res = client.post("/login", data={"username": "secretary", "password": PASSWORD})
    assert res.status_code == 302, res.get_data(as_text=True)
    return client


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def upload(signed_in: FlaskClient) -> Callable[..., Any]:
    def do(content: bytes, name: str) -> Any:
        import io

        return signed_in.post("/sessions/upload", data={"file": (io.BytesIO(content), name)},
                              content_type="multipart/form-data")

    return do
