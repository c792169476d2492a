"""Where a real Moodle 4.5 says no and an easy-going stand-in would say yes: the product must cope.

Each test drives the product against the sandbox, which answers these cases as the captured 4.5 did
(tests/fixtures/moodle/*: __enrolments_option, __backupprecheckerrors, __leftover_of_failed_copy,
__email_other_case, __regrade_without_feedback, __copied_course, __parent_zero, __unknown_user).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from lms_bridge.config import MoodleSettings, Secret
from lms_bridge.i18n import use_locale
from lms_bridge.moodle.client import MoodleClient, encode_params
from lms_bridge.moodle.errors import (
    LeftoverCourse,
    MoodleError,
    PhpError,
    TemplateCopyFailed,
    TicketCategoryUnknown,
    UsersRefused,
)
from lms_bridge.moodle.operations import MoodleOps, Person

from .conftest import Served, reopen_quiz

TOKEN = "sandbox-token"


def _ops(sandbox: Served, **settings: Any) -> MoodleOps:
    client = MoodleClient(sandbox.url, Secret(TOKEN), timeout=5, sleep=lambda _s: None)
    return MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret(TOKEN), **settings))


def _raw(sandbox: Served, function: str, params: dict[str, Any]) -> Any:
    data = [("wstoken", TOKEN), ("wsfunction", function), ("moodlewsrestformat", "json"), *encode_params(params)]
    return requests.post(f"{sandbox.url}/webservice/rest/server.php", data=data, timeout=5).json()


def _template_quiz_ctx(sandbox: Served) -> tuple[int, int]:
    state = sandbox.state()
    quiz = next(q for q in state["quizzes"].values() if q["course"] == 2)
    return quiz["coursemodule"], state["cms"][str(quiz["coursemodule"])]["contextid"]


# -- 1. copying the template -----------------------------------------------------------------------
def test_the_sandbox_refuses_the_enrolments_option_like_moodle_45(sandbox: Served) -> None:
    out = _raw(sandbox, "core_course_duplicate_course", {
        "courseid": 2, "fullname": "C", "shortname": "C", "categoryid": 1,
        "options": [{"name": "activities", "value": 1}, {"name": "enrolments", "value": 0}]})
    assert out["errorcode"] == "setting_by_name_not_found"
    assert not [c for c in sandbox.state()["courses"].values() if c["shortname"] == "C"]


def test_a_template_copy_works_and_is_found_again(sandbox: Served) -> None:
    ops = _ops(sandbox, template_course_id=2)
    made = ops.create_course(idnumber="SE-1", fullname="Exam", shortname="SE-1")
    found = ops.find_course("SE-1")
    assert found is not None
    assert found["id"] == made["id"]
    assert ops.quizzes(made["id"]), "the copy has the template's quiz"


def test_a_failed_copy_leaves_a_course_that_is_reported_not_adopted(sandbox: Served) -> None:
    # A second top category in the template's quiz bank (what parentcategory=0 makes) fails the pre-check.
    cmid, ctx = _template_quiz_ctx(sandbox)
    assert _raw(sandbox, "mod_quiz_add_random_questions", {
        "cmid": cmid, "addonpage": 1, "randomcount": 1, "newcategory": "Tickets", "parentcategory": f"0,{ctx}"})
    ops = _ops(sandbox, template_course_id=2)
    with pytest.raises(TemplateCopyFailed) as failed:
        ops.create_course(idnumber="SE-2", fullname="Exam", shortname="SE-2")
    leftover = next(c for c in sandbox.state()["courses"].values() if c["shortname"] == "SE-2")
    assert leftover["idnumber"] == ""
    with pytest.raises(LeftoverCourse) as found:
        ops.find_course("SE-2")
    with use_locale("en"):
        assert "2" in failed.value.user_message
        assert "pre-check" in failed.value.user_message
        text = found.value.user_message
    assert "SE-2" in text
    assert str(leftover["id"]) in text
    assert "Delete" in text


def test_a_copy_without_idnumber_but_with_activities_is_adopted(sandbox: Served) -> None:
    # Without core_course_update_courses the copy keeps no idnumber; it is still the session's course.
    sandbox.configure(removed_functions=["core_course_update_courses"])
    ops = _ops(sandbox, template_course_id=2)
    made = ops.create_course(idnumber="SE-3", fullname="Exam", shortname="SE-3")
    found = ops.find_course("SE-3")
    assert found is not None
    assert found["id"] == made["id"]


# -- 2. e-mails in another case ---------------------------------------------------------------------
def _user_with_capitals(sandbox: Served) -> int:
    out = _raw(sandbox, "core_user_create_users", {"users": [{
        "username": "mixed.x@uni.kz", "firstname": "M", "lastname": "X", "email": "Mixed.X@uni.kz",
        "idnumber": "S-2", "password": "Stud#2026pass"}]})
    return int(out[0]["id"])


def test_the_sandbox_compares_emails_exactly_like_moodle(sandbox: Served) -> None:
    _user_with_capitals(sandbox)
    assert _raw(sandbox, "core_user_get_users_by_field", {"field": "email", "values": ["mixed.x@uni.kz"]}) == []
    found = _raw(sandbox, "core_user_get_users", {"criteria": [{"key": "email", "value": "mixed.x@uni.kz"}]})
    assert [u["email"] for u in found["users"]] == ["Mixed.X@uni.kz"]


def test_an_account_created_with_capitals_is_found(sandbox: Served) -> None:
    uid = _user_with_capitals(sandbox)
    ops = _ops(sandbox)
    person = Person.from_name("X Mixed", "mixed.x@uni.kz")
    assert ops.ensure_users([person]) == {"mixed.x@uni.kz": uid}
    assert len([u for u in sandbox.state()["users"].values() if u["email"].lower() == "mixed.x@uni.kz"]) == 1


def test_without_the_search_function_the_written_spelling_is_tried(sandbox: Served) -> None:
    uid = _user_with_capitals(sandbox)
    sandbox.configure(removed_functions=["core_user_get_users"])
    ops = _ops(sandbox)
    assert ops.ensure_users([Person.from_name("X Mixed", "Mixed.X@uni.kz")]) == {"mixed.x@uni.kz": uid}


def test_a_refused_account_does_not_hold_back_the_others(sandbox: Served) -> None:
    _user_with_capitals(sandbox)
    sandbox.configure(removed_functions=["core_user_get_users"])  # so the lookup misses it
    ops = _ops(sandbox)
    people = [Person("first@uni.kz", "A", "B", "1"), Person("mixed.x@uni.kz", "M", "X", "S-9"),
              Person("third@uni.kz", "C", "D", "3")]
    with pytest.raises(UsersRefused) as exc:
        ops.ensure_users(people)
    assert exc.value.refused == ("mixed.x@uni.kz",)
    assert set(exc.value.created) == {"first@uni.kz", "third@uni.kz"}
    emails = {u["email"] for u in sandbox.state()["users"].values()}
    assert {"first@uni.kz", "third@uni.kz"} <= emails
    with use_locale("en"):
        assert "mixed.x@uni.kz" in exc.value.user_message


# -- 3. a re-grade without feedback --------------------------------------------------------------------
def test_the_sandbox_refuses_a_regrade_without_the_feedback_field(sandbox: Served) -> None:
    ops = _ops(sandbox)
    uid = ops.ensure_users([Person("s@uni.kz", "S", "T", "1")])["s@uni.kz"]
    course = ops.create_course(idnumber="G-0", fullname="G", shortname="G-0")["id"]
    ops.enrol(course, [(uid, 5)])
    aid = ops.ensure_result_assignment_plugin(course)["assignid"]
    base = {"assignmentid": aid, "userid": uid, "attemptnumber": -1, "addattempt": 0, "workflowstate": "",
            "applytoall": 0}
    fb = {"plugindata": {"assignfeedbackcomments_editor": {"text": "B+", "format": 1}}}
    assert _raw(sandbox, "mod_assign_save_grade", {**base, "grade": 70}) is None  # no feedback yet: fine
    assert _raw(sandbox, "mod_assign_save_grade", {**base, "grade": 75, **fb}) is None
    assert _raw(sandbox, "mod_assign_save_grade", {**base, "grade": 80})["errorcode"] == "dmlwriteexception"
    assert ops.assign_grade(aid, uid) == 75


def test_a_regrade_after_feedback_is_saved(sandbox: Served) -> None:
    ops = _ops(sandbox)
    uid = ops.ensure_users([Person("s@uni.kz", "S", "T", "1")])["s@uni.kz"]
    course = ops.create_course(idnumber="G-1", fullname="G", shortname="G-1")["id"]
    ops.enrol(course, [(uid, 5)])
    result = ops.ensure_result_assignment_plugin(course)
    assert ops.save_decision(course, uid, 87, feedback="B+", assignment=result) == "assign"
    assert ops.save_decision(course, uid, 90, assignment=result) == "assign"
    assert ops.assign_grade(int(result["assignid"]), uid) == 90


# -- 4. the result assignment of a copied course -------------------------------------------------------
def test_a_copy_loses_nosubmissions_and_the_result_is_found_by_name(sandbox: Served) -> None:
    ops = _ops(sandbox, template_course_id=2)
    course = ops.create_course(idnumber="R-1", fullname="R", shortname="R-1")["id"]
    assert all(int(a["nosubmissions"]) == 0 for a in ops.assignments(course))
    result = ops.result_assignment(course)
    answer = ops.submission_assignment(course)
    assert result is not None
    assert result["name"] == "Commission result"
    assert answer is not None
    assert answer["name"] == "Answer"


def test_the_result_is_found_by_its_idnumber_first(sandbox: Served) -> None:
    # A course holding the template's hand-made "Commission result" and the plugin's (idnumber
    # lmsbridge-result), copied: the idnumber decides; without core_course_get_course_module the name does.
    ops = _ops(sandbox, template_course_id=2)
    source = ops.create_course(idnumber="R-2", fullname="R", shortname="R-2")["id"]
    plugins = ops.ensure_result_assignment_plugin(source)
    copy_ops = _ops(sandbox, template_course_id=source)
    copy = copy_ops.create_course(idnumber="R-3", fullname="R", shortname="R-3")["id"]
    named = [a for a in copy_ops.assignments(copy) if a["name"] == "Commission result"]
    assert len(named) == 2
    found = copy_ops.result_assignment(copy)
    assert found is not None
    state = sandbox.state()
    assert state["cms"][str(found["cmid"])]["idnumber"] == "lmsbridge-result"
    assert found["id"] != plugins["assignid"]  # the copy's, not the source's
    sandbox.configure(removed_functions=["core_course_get_course_module"])
    by_name = _ops(sandbox).result_assignment(copy)
    assert by_name is not None
    assert by_name["id"] == named[0]["id"]


# -- 5. the ticket category under the top one ------------------------------------------------------------
def test_parent_zero_makes_a_second_top_and_the_product_never_sends_it(sandbox: Served) -> None:
    sandbox.configure(plugin=False)
    ops = _ops(sandbox)
    course = ops.create_course(idnumber="T-1", fullname="T", shortname="T-1")["id"]
    from lms_bridge.moodle.sandbox.world import _new_quiz

    app = sandbox.app
    with app.world.lock:  # type: ignore[attr-defined]
        app.world.refresh()  # type: ignore[attr-defined]
        _new_quiz(app.world.state, course, "Ticket")  # type: ignore[attr-defined]
        app.world.save()  # type: ignore[attr-defined]
    quiz = ops.ticket_quiz(course)
    assert quiz is not None
    before = sandbox.state()["qcats"]
    with pytest.raises(TicketCategoryUnknown) as exc:
        ops.add_ticket_slot(quiz, courseid=course, import_file="/data/T-1-tickets.xml")
    assert sandbox.state()["qcats"] == before
    assert sandbox.state()["quizzes"][str(quiz["id"])]["slots"] == []
    with use_locale("en"):
        assert "/data/T-1-tickets.xml" in exc.value.user_message
        assert "random question" in exc.value.user_message


def test_a_template_stays_copyable_after_the_product_adds_a_slot(sandbox: Served) -> None:
    # The product adds "Tickets" under the quiz's top category: one top per context, so a copy works.
    _cmid, ctx = _template_quiz_ctx(sandbox)
    state = sandbox.state()
    top = next(c["id"] for c in state["qcats"].values() if c["contextid"] == ctx and not c["parent"])
    ops = _ops(sandbox, template_course_id=2)
    quiz = next(q for q in ops.quizzes(2))
    ops.add_ticket_slot({**quiz, "hasquestions": 0}, courseid=2, top_categoryid=top)
    tops = [c for c in sandbox.state()["qcats"].values() if c["contextid"] == ctx and not c["parent"]]
    assert len(tops) == 1
    assert ops.create_course(idnumber="T-2", fullname="T", shortname="T-2")["id"]


# -- 6. a PHP error without errorcode ---------------------------------------------------------------------
def test_a_php_error_body_is_an_error_with_its_message_and_never_the_token(sandbox: Served) -> None:
    ops = _ops(sandbox)
    course = ops.create_course(idnumber="E-1", fullname="E", shortname="E-1")["id"]
    with pytest.raises(PhpError) as exc:
        ops.enrol(course, [(9999, 5)])
    err = exc.value
    assert isinstance(err, MoodleError)
    assert err.exception == "TypeError"
    assert "get_name_placeholders" in err.message
    with use_locale("en"):
        text = err.user_message
    assert "enrol_manual_enrol_users" in text
    assert "does not exist" in text
    assert TOKEN not in text + str(err) + repr(err.__dict__)


def test_a_coding_exception_is_a_php_error_naming_what_may_not_exist() -> None:
    # Captured on a real 4.5 with the course welcome message off (moodle-live-check.md §13).
    from lms_bridge.moodle.errors import error_from_body

    body = {"exception": "core\\exception\\coding_exception", "errorcode": "codingerror",
            "message": "Coding error detected, it must be fixed by a programmer: User ID does not exist or is deleted!"}
    err = error_from_body(body, "enrol_manual_enrol_users")
    assert type(err) is PhpError
    with use_locale("en"):
        text = err.user_message
    assert "enrol_manual_enrol_users" in text
    assert "User ID does not exist" in text


def test_a_lookup_by_email_finds_an_account_with_capitals(sandbox: Served) -> None:
    # What the grade write-back uses to find the student's account.
    uid = _user_with_capitals(sandbox)
    assert [u["id"] for u in _ops(sandbox).users_by("email", ["mixed.x@uni.kz"])] == [uid]


# -- lower impact: a ticket the plugin hid is not drawn ----------------------------------------------------
def test_a_hidden_ticket_is_never_drawn(sandbox: Served) -> None:
    from lms_bridge.domain.session import Ticket

    ops = _ops(sandbox)
    emails = [f"s{n}@uni.kz" for n in range(4)]
    ids = ops.ensure_users([Person(e, "S", str(n), str(n)) for n, e in enumerate(emails)])
    course = ops.create_course(idnumber="H-1", fullname="H", shortname="H-1")["id"]
    ops.enrol(course, [(uid, 5) for uid in ids.values()])
    ops.setup_tickets_plugin(course, [Ticket(1, ("Q1a",)), Ticket(2, ("Q2a",))])
    out = ops.setup_tickets_plugin(course, [Ticket(1, ("Q1a",))])  # ticket 2 is dropped: hidden
    reopen_quiz(sandbox, out["quizid"])  # Moodle's own pick, which the product never lets happen
    drawn = [sandbox.actor(f"/quiz/{out['quizid']}/attempt", {"email": e}).json()["ticket"] for e in emails]
    assert drawn == ["ticket-1"] * 4


def test_without_a_template_an_empty_course_with_the_short_name_is_adopted(sandbox: Served) -> None:
    # A secretary made the course by hand, empty and without ID number: nothing was copied, so it is used.
    made = _raw(sandbox, "core_course_create_courses", {"courses": [
        {"fullname": "Hand made", "shortname": "HM-1", "categoryid": 1}]})
    found = _ops(sandbox).find_course("HM-1")
    assert found is not None
    assert found["id"] == made[0]["id"]
