"""The companion plugin's web-service functions against a real Moodle with local_lmsbridge installed.

Run by hand: ``LMS_BRIDGE_LIVE_MOODLE_URL=http://127.0.0.1:8085 LMS_BRIDGE_LIVE_MOODLE_TOKEN=… pytest -m moodle_live
tests/moodle_plugin``. The token must belong to the ``lms_bridge`` service and a user allowed to create courses.
Each run works in a new course (unique idnumber), so runs do not disturb each other.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import requests

URL = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_URL", "")
TOKEN = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_TOKEN", "")

pytestmark = [
    pytest.mark.moodle_live,
    pytest.mark.skipif(not (URL and TOKEN), reason="LMS_BRIDGE_LIVE_MOODLE_URL / _TOKEN not set"),
]


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return [(prefix, int(value) if isinstance(value, bool) else value)]
    out: list[tuple[str, Any]] = []
    for key, item in items:
        out += _flatten(item, f"{prefix}[{key}]" if prefix else str(key))
    return out


def call(function: str, params: dict[str, Any] | None = None) -> Any:
    data = [("wstoken", TOKEN), ("wsfunction", function), ("moodlewsrestformat", "json"), *_flatten(params or {})]
    response = requests.post(URL.rstrip("/") + "/webservice/rest/server.php", data=data, timeout=120)
    assert response.status_code == 200, f"{function}: HTTP {response.status_code}"
    return response.json()


def tickets(count: int, *, edited: int | None = None) -> list[dict[str, Any]]:
    out = []
    for number in range(1, count + 1):
        questions = [f"Билет {number}: сұрақ {k} <a & b>" for k in (1, 2)]
        if number == edited:
            questions.append("Қосымша сұрақ")
        out.append({"number": number, "questions": questions})
    return out


@pytest.fixture(scope="module")
def course() -> dict[str, Any]:
    code = "LIVE-" + uuid.uuid4().hex[:10].upper()
    created = call("core_course_create_courses", {"courses": [
        {"fullname": f"Live check {code}", "shortname": code, "categoryid": 1, "idnumber": code}]})
    assert isinstance(created, list), created
    return {"id": created[0]["id"], "idnumber": code}


def test_service_offers_the_plugin_functions() -> None:
    info = call("core_webservice_get_site_info")
    names = {f["name"] for f in info["functions"]}
    assert {"local_lmsbridge_setup_tickets", "local_lmsbridge_get_drawn_tickets",
            "local_lmsbridge_ensure_result_assignment"} <= names


def test_setup_tickets_is_idempotent_and_follows_the_ticket_list(course: dict[str, Any]) -> None:
    first = call("local_lmsbridge_setup_tickets", {"courseidnumber": course["idnumber"], "tickets": tickets(4)})
    assert (first["quizcreated"], first["categorycreated"], first["slotcreated"]) == (True, True, True), first
    assert [t["status"] for t in first["tickets"]] == ["created"] * 4
    assert [t["idnumber"] for t in first["tickets"]] == ["ticket-1", "ticket-2", "ticket-3", "ticket-4"]

    again = call("local_lmsbridge_setup_tickets", {"courseid": course["id"], "tickets": tickets(4)})
    assert again["changed"] is False
    for key in ("cmid", "quizid", "categoryid", "slotid"):
        assert again[key] == first[key]
    assert [t["questionid"] for t in again["tickets"]] == [t["questionid"] for t in first["tickets"]]

    # Ticket 2 edited, ticket 4 dropped: a new version for 2, ticket 4 hidden, the rest untouched.
    edited = call("local_lmsbridge_setup_tickets", {"courseid": course["id"], "tickets": tickets(3, edited=2)})
    status = {t["number"]: t["status"] for t in edited["tickets"]}
    assert status == {1: "unchanged", 2: "updated", 3: "unchanged", 4: "hidden"}
    entry = {t["number"]: t["questionbankentryid"] for t in edited["tickets"]}
    assert entry[2] == first["tickets"][1]["questionbankentryid"]
    assert edited["slotid"] == first["slotid"]

    restored = call("local_lmsbridge_setup_tickets", {"courseid": course["id"], "tickets": tickets(4, edited=2)})
    assert {t["number"]: t["status"] for t in restored["tickets"]}[4] == "updated"
    final = call("local_lmsbridge_setup_tickets", {"courseid": course["id"], "tickets": tickets(4, edited=2)})
    assert final["changed"] is False


def test_setup_tickets_refuses_bad_input_by_name(course: dict[str, Any]) -> None:
    duplicate = call("local_lmsbridge_setup_tickets", {"courseid": course["id"],
                                                       "tickets": [*tickets(2), {"number": 2, "questions": ["x"]}]})
    assert duplicate["errorcode"] == "duplicateticket"
    empty = call("local_lmsbridge_setup_tickets", {"courseid": course["id"],
                                                   "tickets": [{"number": 1, "questions": ["  "]}]})
    assert empty["errorcode"] == "emptyticket"
    missing = call("local_lmsbridge_setup_tickets", {"courseidnumber": "NO-SUCH-" + uuid.uuid4().hex,
                                                     "tickets": tickets(1)})
    assert missing["errorcode"] == "coursenotfound"


def test_drawn_tickets_of_a_quiz_without_attempts(course: dict[str, Any]) -> None:
    quiz = call("local_lmsbridge_setup_tickets", {"courseid": course["id"], "tickets": tickets(4, edited=2)})
    drawn = call("local_lmsbridge_get_drawn_tickets", {"quizid": quiz["quizid"]})
    assert drawn == {"quizid": quiz["quizid"], "cmid": quiz["cmid"], "attempts": []}


def test_result_assignment_is_created_once_and_takes_grades(course: dict[str, Any]) -> None:
    first = call("local_lmsbridge_ensure_result_assignment", {"courseid": course["id"]})
    assert first["created"] is True
    assert first["grademax"] == 100
    second = call("local_lmsbridge_ensure_result_assignment", {"courseidnumber": course["idnumber"]})
    assert second["created"] is False
    assert (second["cmid"], second["assignid"]) == (first["cmid"], first["assignid"])

    code = course["idnumber"].lower()
    user = call("core_user_create_users", {"users": [{
        "username": f"{code}-student", "firstname": "Live", "lastname": "Student",
        "email": f"{code}@example.edu", "password": "Live#Check2026", "idnumber": code}]})[0]
    assert call("enrol_manual_enrol_users", {"enrolments": [
        {"roleid": 5, "userid": user["id"], "courseid": course["id"]}]}) is None
    graded = call("mod_assign_save_grade", {
        "assignmentid": first["assignid"], "userid": user["id"], "grade": 87, "attemptnumber": -1,
        "addattempt": 0, "workflowstate": "", "applytoall": 0,
        "plugindata": {"assignfeedbackcomments_editor": {"text": "Шешім", "format": 1}}})
    assert graded is None
