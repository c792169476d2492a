"""Per-user quotas counted as Google counts them: a moving 60-second window per user and bucket, each
batch part charged to its service, and Google's 429 RESOURCE_EXHAUSTED body."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from .conftest import SECRETARY, Clock, start

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC).timestamp()


def _create(forms: object, title: str) -> dict:
    return forms.forms().create(body={"info": {"title": title}}).execute()  # type: ignore[attr-defined]


def test_forms_writes_are_counted_in_a_moving_window_with_googles_refusal(tmp_path) -> None:
    clock = Clock(T0)
    google, server = start(tmp_path, clock=clock, faults={"quota_limits": {"forms.write": 3}})
    try:
        forms = google.service("forms", "forms.body")
        made = []
        for at in (0, 20, 40):  # three writes spread over the first 40 seconds
            clock.now = T0 + at
            made.append(_create(forms, f"f{at}"))
        clock.now = T0 + 59.9
        with pytest.raises(HttpError) as exc:
            _create(forms, "over")
        assert exc.value.status_code == 429
        body = json.loads(exc.value.content)["error"]
        assert body["status"] == "RESOURCE_EXHAUSTED"
        assert "errors" not in body  # Forms, like Sheets and Classroom, sends no legacy errors[]
        assert body["message"].startswith("Quota exceeded for quota metric 'Write requests' and limit "
                                          "'Write requests per minute per user' of service 'forms.googleapis.com'")
        info = body["details"][0]
        assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
        assert info["reason"] == "RATE_LIMIT_EXCEEDED"
        assert info["metadata"]["quota_limit_value"] == "3"
        assert info["metadata"]["service"] == "forms.googleapis.com"
        assert exc.value.resp.get("retry-after") is None
        # A moving window, not a fixed minute: at t = 60 only the t = 0 write has left it.
        clock.now = T0 + 60
        _create(forms, "one slot")
        with pytest.raises(HttpError):
            _create(forms, "still full")
        clock.now = T0 + 80
        _create(forms, "the t = 20 write left")
        # Reads have a count of their own, and so does another user.
        forms.forms().get(formId=made[0]["formId"]).execute()
        other = google.as_user("forms", "other@uni.edu.kz", "forms.body")
        other.forms().get(formId=_create(other, "other's")["formId"]).execute()
        assert google.sandbox.limiter.refusals == 2
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_each_batch_part_counts_for_its_service(tmp_path) -> None:
    clock = Clock(T0)
    google, server = start(tmp_path, clock=clock, faults={"quota_limits": {"classroom.requests": 4}})
    try:
        classroom = google.service("classroom", "classroom.courses")
        out: dict[str, object] = {}
        batch = BatchHttpRequest(callback=lambda rid, resp, exc: out.__setitem__(rid, exc or resp),
                                 batch_uri=google.url + "/classroom.googleapis.com/batch")
        for i in range(3):
            batch.add(classroom.courses().get(id=f"p:absent{i}"), request_id=str(i))
        batch.execute(http=google.http(google.sa_creds(
            ["https://www.googleapis.com/auth/classroom.courses"])))
        assert sorted(getattr(v, "status_code", 0) for v in out.values()) == [404, 404, 404]
        # Three parts took three of the four; reads and writes share Classroom's one count.
        classroom.courses().create(body={"id": "p:c1", "name": "C1", "ownerId": "me"}).execute()
        with pytest.raises(HttpError) as exc:
            classroom.courses().list().execute()
        assert exc.value.status_code == 429
        assert json.loads(exc.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_responses_list_counts_as_an_expensive_read_and_a_read(tmp_path) -> None:
    clock = Clock(T0)
    google, server = start(tmp_path, clock=clock, faults={"quota_limits": {"forms.read": 2}})
    try:
        form_id = _create(google.service("forms", "forms.body"), "f")["formId"]
        reader = google.service("forms", "forms.responses.readonly")
        reader.forms().responses().list(formId=form_id).execute()
        reader.forms().responses().list(formId=form_id).execute()
        with pytest.raises(HttpError) as exc:  # two expensive reads used both reads
            google.service("forms", "forms.body.readonly").forms().get(formId=form_id).execute()
        assert exc.value.status_code == 429
        assert "'Read requests'" in json.loads(exc.value.content)["error"]["message"]
    finally:
        server.shutdown()
        google.sandbox.store.close()


def test_the_window_and_quotas_can_be_shrunk_for_tests(tmp_path) -> None:
    clock = Clock(T0)
    google, server = start(tmp_path, clock=clock,
                           faults={"quota_window_seconds": 2, "quota_limits": {"forms.write": 1}})
    try:
        forms = google.service("forms", "forms.body", subject=SECRETARY)
        _create(forms, "a")
        clock.now = T0 + 1.9
        with pytest.raises(HttpError):
            _create(forms, "b")
        clock.now = T0 + 2.0
        _create(forms, "c")
    finally:
        server.shutdown()
        google.sandbox.store.close()
