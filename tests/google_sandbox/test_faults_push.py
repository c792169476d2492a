"""Injected faults, per-user quotas and Pub/Sub push delivery with retries."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import id_token
from googleapiclient.errors import HttpError

from .conftest import SECRETARY, Clock, PushReceiver, start
from .test_forms_drive import MEMBER, make_form, publish, vote


def test_injected_429_and_500_have_googles_shape(tmp_path) -> None:
    google, server = start(tmp_path, faults={"rate_429": 0.5, "rate_500": 0.5, "seed": 7})
    try:
        drive = google.service("drive", "drive.file")
        seen = set()
        for _ in range(12):
            with pytest.raises(HttpError) as exc:
                drive.files().list().execute()
            err = json.loads(exc.value.content)["error"]
            seen.add((exc.value.status_code, err["status"]))
        assert seen == {(429, "RESOURCE_EXHAUSTED"), (500, "INTERNAL")}
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_seeded_fault_rate_lets_retries_through(tmp_path) -> None:
    google, server = start(tmp_path, faults={"rate_429": 0.1, "rate_500": 0.1, "seed": 1})
    try:
        classroom = google.service("classroom", "classroom.courses")
        created = 0
        for i in range(20):
            # googleapiclient's own retries (429/5xx) carry each call through.
            req = classroom.courses().create(body={"id": f"p:c{i}", "name": f"C{i}", "ownerId": "me"})
            req._sleep = lambda _seconds: None  # keep the test fast; the backoff itself is the client's
            req.execute(num_retries=8)
            created += 1
        assert created == 20
        failures = [line for line in google.log_lines() if line["path"].startswith("/classroom")]
        assert len(failures) > 20  # some attempts were refused and retried
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_timeout_fault_commits_then_answers_late(tmp_path) -> None:
    google, server = start(tmp_path, faults={"rate_timeout": 1.0, "timeout_seconds": 0.5})
    try:
        token = google.token_for(SECRETARY, ["classroom.courses"])
        with pytest.raises(requests.Timeout):
            requests.post(google.url + "/classroom.googleapis.com/v1/courses", timeout=0.2,
                          json={"id": "p:slow", "name": "Slow", "ownerId": "me"},
                          headers={"Authorization": f"Bearer {token}"})
        # Committed although the caller gave up: it shows up (looked for every 20 ms, not after a fixed wait).
        deadline = time.monotonic() + 10
        while google.sandbox.store.get("alias", "lms-bridge-sandbox/p:slow") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert google.sandbox.store.get("alias", "lms-bridge-sandbox/p:slow") is not None
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_sheets_quota_60_per_minute_per_user(tmp_path) -> None:
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        sheets = google.service("sheets", "spreadsheets")
        book = sheets.spreadsheets().create(body={"properties": {"title": "q"}}).execute()
        values = sheets.spreadsheets().values()  # building resources is slow in the client; reuse it
        for _ in range(60):
            values.get(spreadsheetId=book["spreadsheetId"], range="A1").execute()
        with pytest.raises(HttpError) as exc:
            sheets.spreadsheets().values().get(spreadsheetId=book["spreadsheetId"], range="A1").execute()
        assert exc.value.status_code == 429
        assert "per minute per user" in json.loads(exc.value.content)["error"]["message"]
        # Another user has a quota of their own; a minute later the first one may read again.
        other = google.as_user("sheets", "other@uni.edu.kz", "spreadsheets")
        with pytest.raises(HttpError) as exc:
            other.spreadsheets().values().get(spreadsheetId=book["spreadsheetId"], range="A1").execute()
        assert exc.value.status_code == 403  # not shared with them (not a 429): their quota is their own
        clock.now += 61
        sheets = google.service("sheets", "spreadsheets")
        sheets.spreadsheets().values().get(spreadsheetId=book["spreadsheetId"], range="A1").execute()
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_a_values_batch_update_counts_once_against_the_sheets_write_quota(tmp_path) -> None:
    """Sheets batch guide: "Each batch request, including all subrequests, is counted as one API
    request toward your usage limit".  The grade sheet's rows of a whole session go in one
    values:batchUpdate, so 60 of them, each with many ranges, fit a minute; the 61st does not."""
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp())
    google, server = start(tmp_path, clock=clock)
    try:
        sheets = google.service("sheets", "spreadsheets")
        book = sheets.spreadsheets().create(body={"properties": {"title": "q"}}).execute()
        values = sheets.spreadsheets().values()
        body = {"valueInputOption": "RAW",
                "data": [{"range": f"B{row}:C{row}", "values": [["A", 95]]} for row in range(2, 42)]}
        for _ in range(59):  # the create above was the minute's first write
            values.batchUpdate(spreadsheetId=book["spreadsheetId"], body=body).execute()
        with pytest.raises(HttpError) as exc:
            values.batchUpdate(spreadsheetId=book["spreadsheetId"], body=body).execute()
        assert exc.value.status_code == 429
        got = values.get(spreadsheetId=book["spreadsheetId"], range="B41:C41").execute()
        assert got["values"] == [["A", "95"]], got  # every range of the batch was written (FORMATTED_VALUE)
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_quotas_can_be_disabled(tmp_path) -> None:
    google, server = start(tmp_path, faults={"quotas": False})
    try:
        sheets = google.service("sheets", "spreadsheets")
        book = sheets.spreadsheets().create(body={"properties": {"title": "q"}}).execute()
        values = sheets.spreadsheets().values()
        for _ in range(70):
            values.get(spreadsheetId=book["spreadsheetId"], range="A1").execute()
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_form_response_push_is_retried_until_acknowledged(tmp_path, push_receiver: PushReceiver) -> None:
    push_receiver.fail_first = 2
    google, server = start(tmp_path, push_endpoint=push_receiver.url, push_audience="https://lms.example/aud")
    try:
        forms, form_id, _ = make_form(google)
        publish(forms, form_id)
        google.service("drive", "drive.file").permissions().create(
            fileId=form_id, body={"role": "reader", "type": "user", "emailAddress": MEMBER, "view": "published"},
        ).execute()
        watch = google.service("forms", "forms.responses.readonly").forms().watches().create(
            formId=form_id, body={"watch": {"target": {"topic": {"topicName": "projects/lms/topics/attestation"}},
                                            "eventType": "RESPONSES"}}).execute()
        assert vote(google, form_id, MEMBER, {"Grade": "5"}).status_code == 200
        deliveries = push_receiver.wait(count=1)
        assert len(deliveries) == 3  # two refused, the third acknowledged
        message = deliveries[-1]["body"]["message"]
        assert message["attributes"] == {"eventType": "RESPONSES", "formId": form_id, "watchId": watch["id"]}
        assert message["messageId"] == deliveries[0]["body"]["message"]["messageId"]  # same message redelivered
        token = deliveries[-1]["authorization"].split(" ", 1)[1]
        claims = id_token.verify_token(token, AuthRequest(), audience="https://lms.example/aud",
                                       certs_url=google.url + "/www.googleapis.com/oauth2/v1/certs")
        assert claims["email"] == "pubsub-push@lms-bridge.iam.gserviceaccount.com"
        with pytest.raises(ValueError, match="audience"):
            id_token.verify_token(token, AuthRequest(), audience="https://someone-else",
                                  certs_url=google.url + "/www.googleapis.com/oauth2/v1/certs")
    finally:
        google.sandbox.pusher.stop()
        server.shutdown()
        google.sandbox.store.close()


def test_batch_parts_fail_on_their_own_and_latency_is_added(tmp_path) -> None:
    from googleapiclient.http import BatchHttpRequest

    google, server = start(tmp_path, faults={"rate_429": 1.0, "latency_ms": 150})
    try:
        token = google.token_for(SECRETARY, ["drive.file"])
        started = time.monotonic()
        r = requests.get(google.url + "/www.googleapis.com/drive/v3/files", timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 429
        assert time.monotonic() - started >= 0.15
        drive = google.service("drive", "drive.file")
        out: dict[str, object] = {}
        batch = BatchHttpRequest(callback=lambda rid, resp, exc: out.__setitem__(rid, exc or resp),
                                 batch_uri=google.url + "/www.googleapis.com/batch/drive/v3")
        batch.add(drive.files().list(), request_id="one")
        batch.add(drive.files().list(), request_id="two")
        batch.execute(http=google.http(google.sa_creds(["https://www.googleapis.com/auth/drive.file"])))
        assert {k: getattr(v, "status_code", None) for k, v in out.items()} == {"one": 429, "two": 429}
    finally:
        server.shutdown()
        google.sandbox.store.close()
