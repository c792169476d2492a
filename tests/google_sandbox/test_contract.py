"""The sandbox refuses what Google refuses, with Google's error shape, through the real client."""

from __future__ import annotations

import json

import pytest
import requests
from googleapiclient.errors import HttpError

from .conftest import Google


def error_of(exc: pytest.ExceptionInfo[HttpError]) -> dict:
    return json.loads(exc.value.content)["error"]


def test_unknown_body_field_is_refused_like_google(google: Google) -> None:
    classroom = google.service("classroom", "classroom.courses")
    with pytest.raises(HttpError) as exc:
        classroom.courses().create(body={"name": "Exam", "ownerId": "me", "x": 1}).execute()
    err = error_of(exc)
    assert exc.value.status_code == 400
    assert err["status"] == "INVALID_ARGUMENT"
    assert err["message"] == "Invalid JSON payload received. Unknown name \"x\" at 'course': Cannot find field."
    assert err["errors"][0]["reason"] == "badRequest"


def test_nested_unknown_field_and_wrong_type(google: Google) -> None:
    forms = google.service("forms", "forms.body")
    form = forms.forms().create(body={"info": {"title": "Vote"}}).execute()
    with pytest.raises(HttpError) as exc:
        forms.forms().batchUpdate(formId=form["formId"], body={"requests": [
            {"createItem": {"item": {"title": "Q", "bogus": True}, "location": {"index": 0}}}]}).execute()
    assert "Unknown name \"bogus\" at 'requests[0].create_item.item'" in error_of(exc)["message"]
    with pytest.raises(HttpError) as exc:
        forms.forms().batchUpdate(formId=form["formId"], body={"requests": [
            {"createItem": {"item": {"title": 5}, "location": {"index": 0}}}]}).execute()
    assert "TYPE_STRING" in error_of(exc)["message"]


def test_bad_enum_value_is_refused(google: Google) -> None:
    classroom = google.service("classroom", "classroom.courses")
    with pytest.raises(HttpError) as exc:
        classroom.courses().create(body={"name": "Exam", "ownerId": "me", "courseState": "OPEN"}).execute()
    assert exc.value.status_code == 400
    assert error_of(exc)["message"] == "Invalid value at 'course.course_state' (TYPE_ENUM), \"OPEN\""


def test_bad_enum_query_parameter_is_refused(google: Google) -> None:
    token = google.token_for("secretary@uni.edu.kz", ["classroom.courses"])
    r = requests.get(google.url + "/classroom.googleapis.com/v1/courses", params={"courseStates": "OPEN"},
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 400
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_missing_scope_is_refused_with_insufficient_permissions(google: Google) -> None:
    # A token good for rosters only cannot create a course.
    classroom = google.service("classroom", "classroom.rosters")
    with pytest.raises(HttpError) as exc:
        classroom.courses().create(body={"name": "Exam", "ownerId": "me"}).execute()
    err = error_of(exc)
    assert exc.value.status_code == 403
    assert err["status"] == "PERMISSION_DENIED"
    assert err["errors"][0]["reason"] == "insufficientPermissions"
    assert err["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_missing_required_parameter_and_unknown_method(google: Google) -> None:
    token = google.token_for("secretary@uni.edu.kz", ["spreadsheets"])
    headers = {"Authorization": f"Bearer {token}"}
    r = requests.get(google.url + "/classroom.googleapis.com/v1/nothing-here", headers=headers, timeout=10)
    assert r.status_code == 404
    assert r.json()["error"]["status"] == "NOT_FOUND"
    r = requests.get(google.url + "/sheets.googleapis.com/v4/spreadsheets/abc/values/A1",
                     params={"valueRenderOption": "PRETTY"}, headers=headers, timeout=10)
    assert r.status_code == 400
    r = requests.get(google.url + "/forms.googleapis.com/v1/forms/abc", params={"nope": "1"}, timeout=10,
                     headers=headers)
    assert r.status_code in (400, 403)


def test_requests_without_a_valid_token_are_unauthenticated(google: Google) -> None:
    r = requests.get(google.url + "/www.googleapis.com/drive/v3/files", timeout=10)
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = requests.get(google.url + "/www.googleapis.com/drive/v3/files", timeout=10,
                     headers={"Authorization": "Bearer ya29.forged"})
    assert r.status_code == 401
