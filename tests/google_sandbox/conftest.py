"""Fixtures: the Google sandbox served on 127.0.0.1, a push receiver, and the real Google clients."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from werkzeug.wrappers import Request, Response

from lms_bridge.google.sandbox import RunningServer, create_app, sandbox_of, serve_in_thread

SCOPE = "https://www.googleapis.com/auth/"
SECRETARY = "secretary@uni.edu.kz"
ENDPOINTS = {
    "classroom": ("v1", "classroom.googleapis.com/"),
    "forms": ("v1", "forms.googleapis.com/"),
    "drive": ("v3", "www.googleapis.com/drive/v3/"),
    "sheets": ("v4", "sheets.googleapis.com/"),
}


@dataclass
class PushReceiver:
    """A stand-in for the product's /webhooks/google/pubsub: records deliveries, fails the first N."""

    fail_first: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)
    server: RunningServer | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        self.received.append({"body": json.loads(req.get_data()), "authorization": req.headers.get("Authorization")})
        status = 500 if len(self.received) <= self.fail_first else 204
        if status == 204:
            self.event.set()
        return Response(status=status)(environ, start_response)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url + "/webhooks/google/pubsub"

    def wait(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        """Wait until ``count`` deliveries were acknowledged; return every delivery attempt seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.received) < count + self.fail_first:
            time.sleep(0.02)
        return list(self.received)


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Google:
    url: str
    state_dir: Path
    app: Any
    log: Path

    @property
    def sandbox(self) -> Any:
        return sandbox_of(self.app)

    def sa_creds(self, scopes: list[str], subject: str | None = SECRETARY) -> service_account.Credentials:
        creds = service_account.Credentials.from_service_account_file(
            str(self.state_dir / "service-account.json"), scopes=scopes, subject=subject)
        return creds.with_token_uri(self.url + "/oauth2.googleapis.com/token")

    def user_creds(self) -> user_credentials.Credentials:
        # google-auth always sets Google's token endpoint for authorized-user files; point it here.
        creds = user_credentials.Credentials.from_authorized_user_file(str(self.state_dir / "user-oauth.json"))
        return creds.with_token_uri(self.url + "/oauth2.googleapis.com/token")

    def http(self, creds: Any) -> google_auth_httplib2.AuthorizedHttp:
        return google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=20))

    def build(self, api: str, creds: Any) -> Any:
        version, path = ENDPOINTS[api]
        return build(api, version, http=self.http(creds), static_discovery=True,
                     client_options={"api_endpoint": f"{self.url}/{path}"})

    def service(self, api: str, *scopes: str, subject: str | None = SECRETARY) -> Any:
        return self.build(api, self.sa_creds([SCOPE + s for s in scopes], subject))

    def token_for(self, email: str, scopes: list[str] | None = None, project: str | None = None) -> str:
        body: dict[str, Any] = {"email": email}
        if scopes:
            body["scopes"] = [SCOPE + s for s in scopes]
        if project:
            body["project"] = project
        r = requests.post(self.url + "/_actor/token", json=body, timeout=10)
        r.raise_for_status()
        return r.json()["access_token"]

    def as_user(self, api: str, email: str, *scopes: str, project: str | None = None) -> Any:
        token = self.token_for(email, list(scopes) or None, project)
        return self.build(api, user_credentials.Credentials(token))

    def log_lines(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def push_receiver() -> Iterator[PushReceiver]:
    receiver = PushReceiver()
    receiver.server = serve_in_thread(receiver)
    yield receiver
    receiver.server.shutdown()


def start(tmp_path: Path, **kwargs: Any) -> tuple[Google, RunningServer]:
    log = tmp_path / "requests.jsonl"
    kwargs.setdefault("faults", {"quotas": True})
    app = create_app(tmp_path / "state", request_log=log, push_backoff=0.05, **kwargs)
    server = serve_in_thread(app)
    return Google(server.url, tmp_path / "state", app, log), server


@pytest.fixture
def google(tmp_path: Path, push_receiver: PushReceiver) -> Iterator[Google]:
    g, server = start(tmp_path, push_endpoint=push_receiver.url)
    yield g
    g.sandbox.pusher.stop()
    server.shutdown()
    g.sandbox.store.close()
