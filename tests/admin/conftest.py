from __future__ import annotations

import re
import shutil
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


def _settings(data_dir: Path) -> Settings:
    # The default SQLite queue with no consumer: a click queues a run and nothing runs it, so the
    # page tests see exactly what the button did (the browser tests run the real worker and sandboxes).
    return load_settings(environ={}, data_dir=str(data_dir), default_language="en")


@pytest.fixture(scope="session")
def data_dir_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir made once per test process: the store at the migration head, the secretary's
    account (its scrypt hash is the costly part) and the cookie key.  Each test gets a copy."""
    data_dir = tmp_path_factory.mktemp("admin-template") / "data"
    application = create_app(_settings(data_dir), testing=True)
    with transaction(state(application).sessionmaker) as db:
        create_user(db, "secretary", PASSWORD, display_name="Айгүл Сейітова", language="en")
    state(application).engine.dispose()
    return data_dir


@pytest.fixture
def settings(tmp_path: Path, data_dir_template: Path) -> Settings:
    shutil.copytree(data_dir_template, tmp_path / "data")
    return _settings(tmp_path / "data")


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings, testing=True)
    application.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(application).engine)
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
