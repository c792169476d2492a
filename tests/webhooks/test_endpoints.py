"""The webhook endpoints: verify, record once, enqueue, answer 2xx; refuse and store nothing otherwise."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from lms_bridge.app import create_app, state
from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.models import AuditEvent, WebhookDelivery
from lms_bridge.webhooks import blueprint as webhooks
from lms_bridge.webhooks.verify import CertCache, sign_moodle

from .test_verify import _keypair, _token

SANDBOX = "http://127.0.0.1:9"
PUBLIC = "https://bridge.example.edu"
AUDIENCE = PUBLIC + "/webhooks/google/pubsub"
SECRET = "moodle-secret"


@pytest.fixture(scope="module")
def k1() -> tuple[object, str]:
    """Google's signing key "k1" and its certificate: made once (an RSA key costs a tenth of a second),
    nothing changes it."""
    return _keypair("k1")


@pytest.fixture
def signer_and_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   k1: tuple[object, str]) -> Iterator[tuple[object, Flask]]:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://",
                             sandbox_url=SANDBOX, public_url=PUBLIC,
                             moodle={"webhook_secret": SECRET, "url": "https://moodle.example.edu",
                                     "token": "t"})
    signer, cert = k1
    cache = CertCache("x", fetch=lambda url, timeout: ({"k1": cert}, 60.0))
    monkeypatch.setattr(webhooks, "_cert_caches", {SANDBOX + "/google/www.googleapis.com/oauth2/v1/certs": cache})
    app = create_app(settings, testing=True)
    jobqueue.configure(settings, engine=state(app).engine)
    yield signer, app
    jobqueue.reset()
    state(app).engine.dispose()


def _deliveries(app: Flask) -> int:
    with state(app).sessionmaker() as db:
        return int(db.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


def _push(message_id: str = "m-1", **attributes: str) -> dict[str, object]:
    return {"message": {"attributes": attributes or {"eventType": "RESPONSES", "formId": "f-unknown",
                                                     "watchId": "w"},
                        "messageId": message_id, "publishTime": "2026-06-10T05:00:00Z"},
            "subscription": "projects/p/subscriptions/s"}


def test_a_verified_push_is_recorded_once_and_answered_202(signer_and_app) -> None:
    signer, app = signer_and_app
    client = app.test_client()
    headers = {"Authorization": "Bearer " + _token(signer, aud=AUDIENCE)}
    first = client.post("/webhooks/google/pubsub", json=_push(), headers=headers)
    again = client.post("/webhooks/google/pubsub", json=_push(), headers=headers)
    assert first.status_code == 202
    assert first.json["status"] == "accepted"
    assert again.status_code == 202
    assert again.json["status"] == "duplicate"
    assert _deliveries(app) == 1
    with state(app).sessionmaker() as db:
        delivery = db.scalar(select(WebhookDelivery))
        assert delivery is not None
        assert delivery.kind == "forms.responses"
        # memory:// runs the job inline: a form this service never made is acknowledged and ignored.
        assert delivery.status == "ignored"


def test_classroom_push_data_is_decoded(signer_and_app) -> None:
    signer, app = signer_and_app
    data = {"collection": "courses.courseWork.studentSubmissions", "eventType": "MODIFIED",
            "resourceId": {"courseId": "1", "courseWorkId": "2", "id": "3"}}
    body = {"message": {"data": base64.b64encode(json.dumps(data).encode()).decode(), "messageId": "c-1"}}
    res = app.test_client().post("/webhooks/google/pubsub", json=body,
                                 headers={"Authorization": "Bearer " + _token(signer, aud=AUDIENCE)})
    assert res.status_code == 202
    with state(app).sessionmaker() as db:
        delivery = db.scalar(select(WebhookDelivery))
        assert delivery is not None
        assert delivery.kind == "classroom.courses.courseWork.studentSubmissions"
        assert delivery.payload["data"]["resourceId"]["id"] == "3"


@pytest.mark.parametrize(("auth", "status"), [
    (None, 401), ("Bearer garbage", 401), ("wrong-audience", 403), ("wrong-sender", 403)])
def test_an_unverified_push_is_refused_and_nothing_is_stored(signer_and_app, auth, status) -> None:
    signer, app = signer_and_app
    headers = {}
    if auth == "wrong-audience":
        headers["Authorization"] = "Bearer " + _token(signer, aud="https://elsewhere/push")
    elif auth == "wrong-sender":
        headers["Authorization"] = "Bearer " + _token(signer, aud=AUDIENCE, email="x@y.iam.gserviceaccount.com")
    elif auth:
        headers["Authorization"] = auth
    res = app.test_client().post("/webhooks/google/pubsub", json=_push(), headers=headers)
    assert res.status_code == status
    assert _deliveries(app) == 0


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"message": {"attributes": {}}}',
                                  b'{"message": {"messageId": "m", "data": "%%%"}}'])
def test_a_malformed_push_is_400_and_nothing_is_stored(signer_and_app, body) -> None:
    signer, app = signer_and_app
    res = app.test_client().post("/webhooks/google/pubsub", data=body, content_type="application/json",
                                 headers={"Authorization": "Bearer " + _token(signer, aud=AUDIENCE)})
    assert res.status_code == 400
    assert _deliveries(app) == 0


def _moodle(body: dict[str, object], secret: str = SECRET, ts: int | None = None) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    stamp = str(ts or int(time.time()))
    return raw, {"X-LmsBridge-Delivery": str(body.get("delivery_id", "")), "X-LmsBridge-Timestamp": stamp,
                 "X-LmsBridge-Signature": sign_moodle(secret, stamp, raw), "Content-Type": "application/json"}


EVENT = {"schema": 1, "event": "quiz_attempt_started", "delivery_id": "9f1c", "timestamp": 1,
         "courseidnumber": "NOPE", "useremail": "nobody@example.edu", "other": {}}


def test_a_signed_moodle_post_is_recorded_once(signer_and_app) -> None:
    _, app = signer_and_app
    client = app.test_client()
    raw, headers = _moodle(EVENT)
    assert client.post("/webhooks/moodle", data=raw, headers=headers).status_code == 202
    raw, headers = _moodle(EVENT)  # a retry: same delivery, freshly signed
    res = client.post("/webhooks/moodle", data=raw, headers=headers)
    assert res.status_code == 202
    assert res.json["status"] == "duplicate"
    assert _deliveries(app) == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong-secret", "stale", "header-mismatch", "not-json"])
def test_bad_moodle_posts_are_refused_and_nothing_is_stored(signer_and_app, case) -> None:
    _, app = signer_and_app
    raw, headers = _moodle(EVENT)
    expected = 403
    if case == "unsigned":
        headers.pop("X-LmsBridge-Signature")
        expected = 401
    elif case == "wrong-secret":
        raw, headers = _moodle(EVENT, secret="guess")
    elif case == "stale":
        raw, headers = _moodle(EVENT, ts=int(time.time()) - 3600)
    elif case == "header-mismatch":
        raw, headers = _moodle({**EVENT, "delivery_id": "other"})
        headers["X-LmsBridge-Delivery"] = "9f1c"
        headers["X-LmsBridge-Signature"] = sign_moodle(SECRET, headers["X-LmsBridge-Timestamp"], raw)
        expected = 400
    elif case == "not-json":
        raw = b"{oops"
        headers["X-LmsBridge-Signature"] = sign_moodle(SECRET, headers["X-LmsBridge-Timestamp"], raw)
        expected = 400
    res = app.test_client().post("/webhooks/moodle", data=raw, headers=headers)
    assert res.status_code == expected
    assert _deliveries(app) == 0
    with state(app).sessionmaker() as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_webhooks_need_no_csrf_token(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "d"), queue_url="memory://")
    app = create_app(settings)  # CSRF on, as in production
    assert app.config.get("WTF_CSRF_ENABLED", True)
    res = app.test_client().post("/webhooks/moodle", data=b"{}", headers={"Content-Type": "application/json"})
    # Refused for its missing signature, not for a missing CSRF token (which would be 400).
    assert res.status_code in (401, 403)
    state(app).engine.dispose()


# -- hostile bodies: refused with 4xx, never a 500, nothing stored ---------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


def _pubsub_post(app: Flask, signer: object, body: bytes) -> int:
    res = app.test_client().post("/webhooks/google/pubsub", data=body, content_type="application/json",
                                 headers={"Authorization": "Bearer " + _token(signer, aud=AUDIENCE)})
    return res.status_code


def _moodle_post(app: Flask, raw: bytes, *, delivery: str = "9f1c", stamp: str | None = None,
                 signature: str | None = None) -> int:
    stamp = stamp or str(int(time.time()))
    headers = {"X-LmsBridge-Delivery": delivery, "X-LmsBridge-Timestamp": stamp,
               "X-LmsBridge-Signature": signature or sign_moodle(SECRET, stamp, raw),
               "Content-Type": "application/json"}
    return app.test_client().post("/webhooks/moodle", data=raw, headers=headers).status_code


@pytest.mark.parametrize("body", [
    DEEP, b'{"message": ' * 5000 + b"1" + b"}" * 5000,  # nested far past any real delivery
    # Nested past the limit (32) though the parser could take it: refused before parsing.
    b'{"message": {"messageId": "m", "attributes": {}, "x": ' + b"[" * 40 + b"]" * 40 + b"}}",
    b"[1]", b'"message"', b"1", b"null",  # JSON, but not an object
    b'{"message": {"messageId": "m\xff\xfe"}}',  # not UTF-8
    b'{"message": {"messageId": "m", "attributes": {"a": "\\ud800"}}}',  # a lone surrogate
    b'{"message": {"messageId": "m", "attributes": {"a": "\\u0000"}}}',  # NUL
    json.dumps(_push(message_id="m" * 256)).encode(),  # an id longer than the store's column
])
def test_a_hostile_push_body_is_400_and_nothing_is_stored(signer_and_app, body: bytes) -> None:
    signer, app = signer_and_app
    assert _pubsub_post(app, signer, body) == 400
    assert _deliveries(app) == 0


def test_a_push_body_over_the_limit_is_refused_before_it_is_read(signer_and_app) -> None:
    signer, app = signer_and_app
    padding = "x" * (256 * 1024)
    body = json.dumps(_push(message_id="big", eventType="RESPONSES", formId="f", pad=padding)).encode()
    assert _pubsub_post(app, signer, body) == 413
    # Unsigned, too: the size is checked before anything else.
    res = app.test_client().post("/webhooks/google/pubsub", data=body, content_type="application/json")
    assert res.status_code == 413
    assert _deliveries(app) == 0
    # Just under the limit is accepted.
    small = json.dumps(_push(message_id="ok", eventType="RESPONSES", formId="f", pad="x" * 1000)).encode()
    assert _pubsub_post(app, signer, small) == 202


def test_a_nested_token_header_is_401(signer_and_app) -> None:
    _, app = signer_and_app
    header = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).rstrip(b"=").decode()
    for token in (f"{header}.e30.c2ln", "x" * 20_000):
        res = app.test_client().post("/webhooks/google/pubsub", json=_push(),
                                     headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 401
    assert _deliveries(app) == 0


@pytest.mark.parametrize("raw", [
    DEEP, b"[1]", b'"event"', b"null", b'{"event": "x\xff"}',
    json.dumps({**EVENT, "event": "e" * 80}).encode(),  # kind "moodle.<event>" longer than its column
    json.dumps({**EVENT, "other": {"a": "\ud800"}}).encode(),
])
def test_a_hostile_signed_moodle_body_is_400_and_nothing_is_stored(signer_and_app, raw: bytes) -> None:
    _, app = signer_and_app
    assert _moodle_post(app, raw) == 400
    assert _deliveries(app) == 0


@pytest.mark.parametrize(("stamp", "status"), [("9" * 400, 401), ("1" * 13, 401), ("²", 401), ("١٢٣", 401),
                                               ("1", 403)])
def test_a_signed_absurd_timestamp_is_refused_not_a_500(signer_and_app, stamp: str, status: int) -> None:
    _, app = signer_and_app
    raw = json.dumps(EVENT).encode()
    assert _moodle_post(app, raw, stamp=stamp) == status
    assert _deliveries(app) == 0


def test_a_non_ascii_signature_or_a_long_delivery_id_is_refused(signer_and_app) -> None:
    _, app = signer_and_app
    raw = json.dumps(EVENT).encode()
    assert _moodle_post(app, raw, signature="sha256=é") == 403
    long_id = "d" * 256
    assert _moodle_post(app, json.dumps({**EVENT, "delivery_id": long_id}).encode(), delivery=long_id) == 400
    assert _moodle_post(app, b"x" * (256 * 1024 + 1)) == 413
    assert _deliveries(app) == 0
