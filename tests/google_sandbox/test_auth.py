"""Credentials the product loads with google-auth work against the sandbox's token endpoint."""

from __future__ import annotations

import json

import pytest
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account
from googleapiclient.errors import HttpError

from lms_bridge.google.sandbox import create_app

from .conftest import SCOPE, SECRETARY, Google


def test_service_account_file_is_a_real_key_with_the_sandbox_token_uri(google: Google) -> None:
    requests.get(google.url + "/www.googleapis.com/oauth2/v1/certs", timeout=10).raise_for_status()
    info = json.loads((google.state_dir / "service-account.json").read_text())
    assert info["type"] == "service_account"
    assert info["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    # The URL is known once served: the first request rewrote the placeholder.
    assert info["token_uri"] == google.url + "/oauth2.googleapis.com/token"
    creds = service_account.Credentials.from_service_account_file(
        str(google.state_dir / "service-account.json"), scopes=[SCOPE + "drive.file"], subject=SECRETARY)
    creds.refresh(AuthRequest())
    assert creds.token.startswith("ya29.")
    assert (google.state_dir / "service-account.json").stat().st_mode & 0o077 == 0


def test_a_base_url_hint_writes_the_token_uri_at_once(tmp_path) -> None:
    app = create_app(tmp_path, base_url="http://127.0.0.1:9/google")
    info = json.loads((tmp_path / "service-account.json").read_text())
    assert info["token_uri"] == "http://127.0.0.1:9/google/oauth2.googleapis.com/token"
    app.extensions["google_sandbox"].store.close()


def test_delegated_token_acts_as_the_subject(google: Google) -> None:
    drive = google.service("drive", "drive.file")
    created = drive.files().create(body={"name": "Notes", "mimeType": "application/vnd.google-apps.folder"},
                                   fields="id,owners").execute()
    assert created["owners"][0]["emailAddress"] == SECRETARY


def test_assertion_signed_by_another_key_is_refused(google: Google, tmp_path) -> None:
    other = create_app(tmp_path / "other")
    creds = service_account.Credentials.from_service_account_file(
        str(tmp_path / "other" / "service-account.json"), scopes=[SCOPE + "drive"], subject=SECRETARY,
    ).with_token_uri(google.url + "/oauth2.googleapis.com/token")
    with pytest.raises(auth_exceptions.RefreshError):
        creds.refresh(AuthRequest())
    other.extensions["google_sandbox"].store.close()


def test_user_oauth_grant_refreshes_and_registrations_refuse_delegation(google: Google) -> None:
    classroom = google.service("classroom", "classroom.courses")
    course = classroom.courses().create(body={"id": "p:push", "name": "Exam", "ownerId": "me"}).execute()
    body = {"feed": {"feedType": "COURSE_WORK_CHANGES", "courseWorkChangesInfo": {"courseId": course["id"]}},
            "cloudPubsubTopic": {"topicName": "projects/p/topics/t"}}
    delegated = google.service("classroom", "classroom.push-notifications", "classroom.coursework.students")
    with pytest.raises(HttpError) as exc:
        delegated.registrations().create(body=body).execute()
    assert exc.value.status_code == 403
    assert "delegation" in exc.value.reason
    user = google.build("classroom", google.user_creds())
    reg = user.registrations().create(body=body).execute()
    assert reg["registrationId"]
    assert reg["expiryTime"] > "2000"
    # An identical create renews the same registration.
    again = user.registrations().create(body=body).execute()
    assert again["registrationId"] == reg["registrationId"]
