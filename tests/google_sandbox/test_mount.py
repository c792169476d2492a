"""Mounted at /google as the product does: token URI, API paths, batch parts and pages all carry the prefix."""

from __future__ import annotations

import json
from typing import Any

import requests
from googleapiclient.http import BatchHttpRequest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from lms_bridge.google.sandbox import create_app, sandbox_of, serve_in_thread

from .conftest import SCOPE, SECRETARY, Google


def test_mounted_under_google(tmp_path) -> None:
    app = create_app(tmp_path / "state", request_log=tmp_path / "log.jsonl")
    root = DispatcherMiddleware(Response("not here", status=404), {"/google": app})
    server = serve_in_thread(root)
    try:
        google = Google(server.url + "/google", tmp_path / "state", app, tmp_path / "log.jsonl")
        requests.get(google.url + "/www.googleapis.com/oauth2/v1/certs", timeout=10).raise_for_status()
        info = json.loads((tmp_path / "state" / "service-account.json").read_text())
        assert info["token_uri"] == server.url + "/google/oauth2.googleapis.com/token"
        classroom = google.service("classroom", "classroom.courses", "classroom.rosters", "classroom.profile.emails")
        course = classroom.courses().create(body={"id": "p:m", "name": "Mounted", "ownerId": "me"}).execute()
        assert course["alternateLink"].startswith(server.url + "/google/classroom.googleapis.com/view/")
        got: list[Any] = []
        batch = BatchHttpRequest(callback=lambda rid, resp, exc: got.append(exc or resp),
                                 batch_uri=google.url + "/classroom.googleapis.com/batch")
        batch.add(classroom.courses().students().create(courseId="p:m", body={"userId": "s@uni.edu.kz"}))
        batch.add(classroom.courses().get(id="p:m"))
        batch.execute(http=google.http(google.sa_creds([SCOPE + "classroom.rosters", SCOPE + "classroom.courses",
                                                        SCOPE + "classroom.profile.emails"],
                                                       SECRETARY)))
        assert got[0]["profile"]["emailAddress"] == "s@uni.edu.kz"
        assert got[1]["id"] == course["id"]
        page = requests.get(course["alternateLink"], timeout=10)
        assert page.status_code == 200
        assert "Mounted" in page.text
        index = requests.get(google.url + "/", params={"lang": "ru"}, timeout=10)
        assert "Курсы" in index.text
        assert f'href="/google/classroom.googleapis.com/view/{course["id"]}?lang=ru"' in index.text
    finally:
        server.shutdown()
        sandbox_of(app).store.close()
