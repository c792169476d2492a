"""Production is a deliberate mode: a production configuration (a PostgreSQL store, or
``mode = "production"``) never falls back to a sandbox nobody asked for, and the sandboxes' public
keys are believed in sandbox mode only."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from google.auth import crypt, jwt
from sqlalchemy import func, select

from lms_bridge import sandbox
from lms_bridge.app import create_app, state
from lms_bridge.backends import build_backends
from lms_bridge.cli import cli
from lms_bridge.config import ConfigError, Settings, load_settings
from lms_bridge.i18n import use_locale
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.remote import ApiCalls
from lms_bridge.store.models import WebhookDelivery
from lms_bridge.webhooks import blueprint as webhooks
from lms_bridge.webhooks.verify import (
    GOOGLE_CERTS_URL,
    SANDBOX_CERTS_PATH,
    CertCache,
    moodle_webhook_secret,
    pubsub_certs_url,
    sign_moodle,
)


def _keypair(kid: str) -> tuple[crypt.RSASigner, str]:
    """A signing key and its self-signed certificate, as Google (or the sandbox) publishes them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return crypt.RSASigner.from_string(pem_key, key_id=kid), cert.public_bytes(serialization.Encoding.PEM).decode()


def _token(signer: crypt.RSASigner, **claims: object) -> str:
    now = int(time.time())
    return jwt.encode(signer, {"iss": "https://accounts.google.com", "email_verified": True, "iat": now,
                               "exp": now + 3600, "sub": "1", **claims}).decode()

PG_URL = "postgresql+psycopg://bridge:pg-s3cret@127.0.0.1:1/lms"
SANDBOX = "http://127.0.0.1:9"
PUBLIC = "https://bridge.example.edu"
AUDIENCE = PUBLIC + "/webhooks/google/pubsub"
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


@pytest.fixture
def english() -> Iterator[None]:
    with use_locale("en"):
        yield


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(environ={}, data_dir=str(tmp_path / "data"), **overrides)


def live_google(tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "sa.json"
    key.write_text("{}")
    return {"mode": "live", "service_account_file": str(key), "delegated_user": "secretary@uni.kz"}


# -- what counts as production, and what it refuses ---------------------------------------------------

def test_a_postgresql_store_is_production_and_names_both_forgotten_choices(tmp_path: Path, english: None) -> None:
    settings = settings_for(tmp_path, database_url=PG_URL)
    assert settings.production
    refusals = settings.sandbox_refusals()
    assert len(refusals) == 2
    assert "google.mode is not set" in refusals[0]
    assert "the store is PostgreSQL" in refusals[0]
    assert "moodle.mode" in refusals[1]


def test_the_embedded_default_is_not_production(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert not settings.production
    assert settings.sandbox_refusals() == []


def test_mode_production_on_sqlite_is_production_too(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mode="production")
    assert settings.production
    assert len(settings.sandbox_refusals()) == 2


def test_a_sandbox_asked_for_by_name_is_allowed_in_production(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, mode="production", google={"mode": "sandbox"}, moodle={"mode": "sandbox"})
    assert settings.sandbox_refusals() == []
    app = create_app(settings, testing=True)
    assert app.test_client().get("/healthz").status_code == 200
    state(app).engine.dispose()


def test_live_services_need_no_sandbox_choice(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=PG_URL, google=live_google(tmp_path),
                            moodle={"url": "https://moodle.uni.kz", "token": "t"})
    assert settings.sandbox_refusals() == []


def test_the_web_app_refuses_to_start(tmp_path: Path, english: None) -> None:
    with pytest.raises(ConfigError, match=r"google\.mode is not set"):
        create_app(settings_for(tmp_path, mode="production"), testing=True)


def test_provisioning_never_starts_a_sandbox_for_itself(tmp_path: Path, english: None) -> None:
    sandbox.stop_embedded()
    settings = settings_for(tmp_path, mode="production", moodle={"url": "https://moodle.uni.kz", "token": "t"})
    with pytest.raises(ConfigError, match=r"google\.mode is not set"):
        build_backends(settings, ApiCalls())
    assert sandbox._embedded == {}  # refused before any sandbox was started


@pytest.mark.parametrize("argv", [["serve", "--port", "0"], ["worker"], ["provision", str(SAMPLE)]])
def test_serve_worker_and_provision_refuse_in_plain_words(tmp_path: Path, argv: list[str]) -> None:
    env = {"LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_DATABASE_URL": PG_URL, "LMS_BRIDGE_LANGUAGE": "en",
           "LMS_BRIDGE_QUEUE_URL": "redis://127.0.0.1:1/0"}
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 1, result.output
    assert "google.mode is not set" in result.output
    assert "LMS_BRIDGE_MOODLE_MODE" in result.output
    assert "Traceback" not in result.output
    assert "pg-s3cret" not in result.output


def test_the_refusal_is_translated(tmp_path: Path) -> None:
    env = {"LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_DATABASE_URL": PG_URL, "LMS_BRIDGE_LANGUAGE": "kk"}
    result = CliRunner().invoke(cli, ["worker"], env=env)
    assert result.exit_code == 1
    assert "Бұл өндірістік баптау" in result.output


def test_unknown_modes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mode must be"):
        settings_for(tmp_path, mode="prod")
    with pytest.raises(ConfigError, match=r"moodle\.mode"):
        settings_for(tmp_path, moodle={"mode": "real"})
    with pytest.raises(ConfigError, match=r"moodle\.url"):
        settings_for(tmp_path, moodle={"mode": "live"})
    # "live" is never quietly pointed at a served sandbox.
    with pytest.raises(ConfigError, match=r"moodle\.url"):
        settings_for(tmp_path, sandbox_url=SANDBOX, moodle={"mode": "live"})


# -- whose signatures are believed ----------------------------------------------------------------

def test_the_sandbox_push_key_is_trusted_in_sandbox_mode_only(tmp_path: Path) -> None:
    sandbox_certs = SANDBOX + SANDBOX_CERTS_PATH
    assert pubsub_certs_url(settings_for(tmp_path, sandbox_url=SANDBOX)) == sandbox_certs
    assert pubsub_certs_url(settings_for(tmp_path, mode="production", sandbox_url=SANDBOX,
                                         google={"mode": "sandbox"})) == sandbox_certs
    # Production that did not choose the sandbox: no key at all (and it does not start anyway).
    assert pubsub_certs_url(settings_for(tmp_path, mode="production", sandbox_url=SANDBOX)) is None
    # Live: Google's keys, even with a sandbox URL left in the configuration.
    assert pubsub_certs_url(settings_for(tmp_path, sandbox_url=SANDBOX, google=live_google(tmp_path))) == \
        GOOGLE_CERTS_URL


def test_the_sandbox_webhook_secret_is_trusted_in_sandbox_mode_only(tmp_path: Path) -> None:
    public = sandbox.SANDBOX_WEBHOOK_SECRET
    assert moodle_webhook_secret(settings_for(tmp_path, sandbox_url=SANDBOX)) == public
    assert moodle_webhook_secret(settings_for(tmp_path, mode="production", sandbox_url=SANDBOX,
                                              moodle={"mode": "sandbox"})) == public
    assert moodle_webhook_secret(settings_for(tmp_path, mode="production", sandbox_url=SANDBOX)) == ""
    live = {"url": "https://moodle.uni.kz", "token": "t"}
    # A real Moodle: only the configured secret, and never the public one even if configured.
    assert moodle_webhook_secret(settings_for(tmp_path, moodle={**live, "webhook_secret": "real"})) == "real"
    assert moodle_webhook_secret(settings_for(tmp_path, moodle={**live, "webhook_secret": public})) == ""
    assert moodle_webhook_secret(settings_for(tmp_path, sandbox_url=SANDBOX, moodle=live)) == ""


@pytest.fixture
def make_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Apps whose push keys are fixed: the sandbox's at its certs URL, another at Google's."""
    sandbox_signer, sandbox_cert = _keypair("k1")
    _google_signer, google_cert = _keypair("k1")
    monkeypatch.setattr(webhooks, "_cert_caches", {
        SANDBOX + SANDBOX_CERTS_PATH: CertCache("s", fetch=lambda url, timeout: ({"k1": sandbox_cert}, 60.0)),
        GOOGLE_CERTS_URL: CertCache("g", fetch=lambda url, timeout: ({"k1": google_cert}, 60.0)),
    })
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        settings = load_settings(environ={}, data_dir=str(tmp_path / f"data{len(made)}"), queue_url="memory://",
                                 public_url=PUBLIC, sandbox_url=SANDBOX, **overrides)
        app = create_app(settings, testing=True)
        jobqueue.configure(settings, engine=state(app).engine)
        made.append(app)
        return app

    build.sandbox_signer = sandbox_signer  # type: ignore[attr-defined]
    yield build
    jobqueue.reset()
    for app in made:
        state(app).engine.dispose()


def _deliveries(app: Flask) -> int:
    with state(app).sessionmaker() as db:
        return int(db.scalar(select(func.count()).select_from(WebhookDelivery)) or 0)


PUSH = {"message": {"attributes": {"eventType": "RESPONSES", "formId": "f-1", "watchId": "w"},
                    "messageId": "m-1", "publishTime": "2026-06-10T05:00:00Z"},
        "subscription": "projects/p/subscriptions/s"}


def test_a_push_signed_with_the_sandbox_key_is_refused_in_live_mode(make_app: Any, tmp_path: Path) -> None:
    token = _token(make_app.sandbox_signer, aud=AUDIENCE, email="pubsub-push@lms-bridge.iam.gserviceaccount.com")
    headers = {"Authorization": "Bearer " + token}
    sandboxed = make_app()
    assert sandboxed.test_client().post("/webhooks/google/pubsub", json=PUSH, headers=headers).status_code == 202
    live = make_app(mode="production", google=live_google(tmp_path), moodle={"mode": "sandbox"})
    assert live.test_client().post("/webhooks/google/pubsub", json=PUSH, headers=headers).status_code == 401
    assert _deliveries(live) == 0


def _moodle_post(secret: str) -> tuple[bytes, dict[str, str]]:
    body = {"schema": 1, "event": "quiz_attempt_started", "delivery_id": "9f1c", "timestamp": 1,
            "courseidnumber": "NOPE", "useremail": "nobody@example.edu", "other": {}}
    raw = json.dumps(body, separators=(",", ":")).encode()
    stamp = str(int(time.time()))
    return raw, {"X-LmsBridge-Delivery": "9f1c", "X-LmsBridge-Timestamp": stamp,
                 "X-LmsBridge-Signature": sign_moodle(secret, stamp, raw), "Content-Type": "application/json"}


def test_a_post_signed_with_the_sandbox_secret_is_refused_outside_sandbox_mode(make_app: Any,
                                                                               tmp_path: Path) -> None:
    public = sandbox.SANDBOX_WEBHOOK_SECRET
    raw, headers = _moodle_post(public)
    sandboxed = make_app()
    assert sandboxed.test_client().post("/webhooks/moodle", data=raw, headers=headers).status_code == 202
    # Production with a real Moodle whose configured secret was copied from the sandbox.
    live = make_app(mode="production", google=live_google(tmp_path),
                    moodle={"url": "https://moodle.uni.kz", "token": "t", "webhook_secret": public})
    assert live.test_client().post("/webhooks/moodle", data=raw, headers=headers).status_code == 403
    assert _deliveries(live) == 0
    # The same deployment with a secret of its own accepts the plugin's posts.
    real = make_app(mode="production", google=live_google(tmp_path),
                    moodle={"url": "https://moodle.uni.kz", "token": "t", "webhook_secret": "ours-only"})
    raw, headers = _moodle_post("ours-only")
    assert real.test_client().post("/webhooks/moodle", data=raw, headers=headers).status_code == 202
