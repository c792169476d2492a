"""With CSRF on (as in production) every form POST needs the token; the webhooks do not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lms_bridge.app import create_app, state
from lms_bridge.config import Settings
from lms_bridge.store.models import ExamSession, ProvisioningRun

from .conftest import PASSWORD, SAMPLE_YAML, csrf_token


@pytest.fixture
def csrf_app(app: Flask, settings: Settings) -> Iterator[Flask]:
    # A second app on the same store, with the CSRF check as shipped.
    application = create_app(settings)
    assert application.config.get("WTF_CSRF_ENABLED", True)
    yield application
    state(application).engine.dispose()


def test_login_needs_the_token(csrf_app: Flask) -> None:
    client = csrf_app.test_client()
    res = client.post("/login", data={"username": "secretary", "password": PASSWORD})
    assert res.status_code == 400
    assert client.get("/sessions").status_code == 302
    token = csrf_token(client.get("/login").get_data(as_text=True))
    res = client.post("/login", data={"username": "secretary", "password": PASSWORD, "csrf_token": token})
    assert res.status_code == 302


def _signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    assert client.post("/login", data={"username": "secretary", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    return client


def test_every_form_needs_the_token(csrf_app: Flask) -> None:
    client = _signed_in(csrf_app)
    import io

    res = client.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE_YAML.read_bytes()), "s.yaml")},
                      content_type="multipart/form-data")
    assert res.status_code == 400
    with state(csrf_app).sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(ExamSession)) == 0
    token = csrf_token(client.get("/sessions").get_data(as_text=True))
    res = client.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE_YAML.read_bytes()), "s.yaml"),
                                                "csrf_token": token}, content_type="multipart/form-data")
    assert res.status_code == 302
    code = res.location.rsplit("/", 1)[-1]

    assert client.post(f"/sessions/{code}/provision").status_code == 400
    assert client.post("/language", data={"language": "kk"}).status_code == 400
    assert client.post("/logout").status_code == 400
    with state(csrf_app).sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(ProvisioningRun)) == 0

    token = csrf_token(client.get(f"/sessions/{code}").get_data(as_text=True))
    assert client.post(f"/sessions/{code}/provision", data={"csrf_token": token}).status_code == 302
    with state(csrf_app).sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(ProvisioningRun)) == 1


def test_webhooks_are_exempt(csrf_app: Flask) -> None:
    # Whatever the webhook answers (401 for a missing signature, 404 before its routes exist),
    # it is never the CSRF 400.
    res = csrf_app.test_client().post("/webhooks/moodle", data=b"{}", content_type="application/json")
    assert res.status_code != 400 or b"CSRF" not in res.data
