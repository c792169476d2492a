"""With CSRF on (as in production) every form POST needs the token; the webhooks do not."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from webhooks.test_verify import _keypair, _token  # tests/ is on sys.path

from lms_bridge.app import create_app, state
from lms_bridge.config import Secret, Settings
from lms_bridge.store.models import ExamSession, ProvisioningRun, WebhookDelivery
from lms_bridge.webhooks import blueprint as webhooks
from lms_bridge.webhooks.verify import CertCache, sign_moodle

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


def test_webhooks_are_exempt(app: Flask, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Signed deliveries to an app with the CSRF check on, as shipped: each is accepted (202) and
    # recorded, so the exemption is proven by the real success, not by "anything but 400".
    secret = "moodle-webhook-secret"
    sandbox = "http://127.0.0.1:9"
    signer, cert = _keypair("k1")
    cache = CertCache("x", fetch=lambda url, timeout: ({"k1": cert}, 60.0))
    monkeypatch.setattr(webhooks, "_cert_caches", {sandbox + "/google/www.googleapis.com/oauth2/v1/certs": cache})
    shipped = create_app(replace(settings, sandbox_url=sandbox,
                                 moodle=replace(settings.moodle, webhook_secret=Secret(secret))))
    try:
        assert shipped.config.get("WTF_CSRF_ENABLED", True)
        client = shipped.test_client()
        assert client.post("/sessions/upload").status_code == 400  # the check is on for the pages

        raw = json.dumps({"schema": 1, "event": "quiz_attempt_started", "delivery_id": "d-1", "timestamp": 1,
                          "courseidnumber": "NOPE", "useremail": "s1@uni.edu.kz", "other": {}}).encode()
        stamp = str(int(time.time()))
        res = client.post("/webhooks/moodle", data=raw, headers={
            "Content-Type": "application/json", "X-LmsBridge-Delivery": "d-1", "X-LmsBridge-Timestamp": stamp,
            "X-LmsBridge-Signature": sign_moodle(secret, stamp, raw)})
        assert res.status_code == 202, res.get_data(as_text=True)

        audience = settings.public_url.rstrip("/") + "/webhooks/google/pubsub"
        push = {"message": {"attributes": {"eventType": "RESPONSES", "formId": "f-1", "watchId": "w"},
                            "messageId": "m-1", "publishTime": "2026-06-10T05:00:00Z"},
                "subscription": "projects/p/subscriptions/s"}
        res = client.post("/webhooks/google/pubsub", json=push,
                          headers={"Authorization": "Bearer " + _token(signer, aud=audience)})
        assert res.status_code == 202, res.get_data(as_text=True)
        with state(shipped).sessionmaker() as db:
            assert db.scalar(select(func.count()).select_from(WebhookDelivery)) == 2
    finally:
        state(shipped).engine.dispose()
