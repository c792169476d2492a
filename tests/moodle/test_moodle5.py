"""Moodle 5.x as the product meets it, in the sandbox (actor config ``release``) and against 5.1's own answers.

What a real 5.1 did is in docs/moodle-live-check.md §10: question banks in ``mod_qbank`` after the upgrade,
the renamed attempts function and its states, the core-only path through ``core_get_fragment``, the grade
saves' feedback field.  Each test here fails when the product or the sandbox goes back to the old behaviour.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from lms_bridge.config import MoodleSettings, Secret
from lms_bridge.domain.session import Ticket
from lms_bridge.i18n import use_locale
from lms_bridge.moodle.client import MoodleClient, SiteInfo
from lms_bridge.moodle.operations import MoodleOps, Person, attempt_event
from lms_bridge.moodle.sandbox.world import _new_qcat, _new_quiz
from lms_bridge.moodle.steps import poll_attempts
from lms_bridge.store.models import JournalEntry

from .conftest import Served, reopen_quiz
from .test_steps import SPEC, _run, _session_row, _settings
from .test_steps import db as db  # the store fixture of the steps' tests

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "moodle"
TICKETS = [Ticket(1, ("A", "B")), Ticket(2, ("C",)), Ticket(3, ("D", "E"))]


def _ops(sandbox: Served, **settings: Any) -> MoodleOps:
    client = MoodleClient(sandbox.url, Secret("sandbox-token"), timeout=5)
    return MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), **settings))


def _edit(sandbox: Served) -> Any:
    """The sandbox's world for changes no web-service function makes (what a site's history did)."""
    class Edit:
        def __enter__(self) -> dict[str, Any]:
            sandbox.app.world.lock.acquire()  # type: ignore[attr-defined]
            sandbox.app.world.refresh()  # type: ignore[attr-defined]
            return sandbox.app.world.state  # type: ignore[attr-defined, no-any-return]

        def __exit__(self, *exc: object) -> None:
            sandbox.app.world.save()  # type: ignore[attr-defined]
            sandbox.app.world.lock.release()  # type: ignore[attr-defined]
    return Edit()


def _course_with_students(ops: MoodleOps, code: str) -> tuple[int, dict[str, int]]:
    course = int(ops.create_course(idnumber=code, fullname=code, shortname=code)["id"])
    users = ops.ensure_users([Person(f"s1.{code.lower()}@uni.kz", "Аружан", "Сейтқали"),
                              Person(f"s2.{code.lower()}@uni.kz", "Диас", "Омаров")])
    ops.enrol(course, [(uid, 5) for uid in users.values()])
    return course, users


# -- release-dependent functions ---------------------------------------------------------------------------
def test_the_renamed_attempts_function_exists_from_50_only(sandbox: Served) -> None:
    ops = _ops(sandbox)
    info = ops.client.site_info()
    assert info.release.startswith("4.5")
    assert "mod_quiz_get_user_quiz_attempts" not in info.functions
    assert ops.client.pick("mod_quiz_get_user_attempts") == "mod_quiz_get_user_attempts"
    body = ops.client.http.post(f"{sandbox.url}/webservice/rest/server.php", data={
        "wstoken": "sandbox-token", "wsfunction": "mod_quiz_get_user_quiz_attempts", "moodlewsrestformat": "json",
        "quizid": 1}, timeout=5).json()
    assert body["errorcode"] == "invalidrecord"  # no such function on 4.5

    sandbox.configure(release="5.1")
    ops = _ops(sandbox)
    info = ops.client.site_info()
    assert (info.release, info.version) == ("5.1+ (Build: 20251017)", "2025100600.02")
    assert {"mod_quiz_get_user_attempts", "mod_quiz_get_user_quiz_attempts"} <= info.functions
    # Both offered: the product calls the new one.
    assert ops.client.pick("mod_quiz_get_user_attempts") == "mod_quiz_get_user_quiz_attempts"


def test_on_51_the_poll_logs_no_deprecation_and_the_old_function_would(sandbox: Served) -> None:
    sandbox.configure(release="5.1")
    ops = _ops(sandbox)
    course, users = _course_with_students(ops, "DEP-1")
    out = ops.setup_tickets_plugin(course, TICKETS)
    reopen_quiz(sandbox, int(out["quizid"]))  # Moodle's own attempt, for the poll
    sandbox.actor(f"/quiz/{out['quizid']}/attempt", {"email": "s1.dep-1@uni.kz"}).raise_for_status()
    seen = poll_attempts(ops, int(out["quizid"]), list(users.values()), plugin=False)
    assert [s.state for s in seen] == ["inprogress"]
    assert sandbox.state()["php_log"] == []
    ops.client.call("mod_quiz_get_user_attempts", {"quizid": out["quizid"], "userid": users["s1.dep-1@uni.kz"],
                                                   "status": "all"})
    log = sandbox.state()["php_log"]
    assert len(log) == 1
    assert "get_user_attempts has been deprecated since 5.0" in log[0]


# -- the 5.x attempt states ---------------------------------------------------------------------------------
def test_attempt_states_map_to_what_the_student_did() -> None:
    assert attempt_event("notstarted") is None
    for state in ("inprogress", "overdue", "abandoned"):
        assert attempt_event(state) == "quiz_attempt_started"
    for state in ("submitted", "finished"):
        assert attempt_event(state) == "quiz_attempt_submitted"


def test_an_attempt_made_ahead_of_time_is_no_draw_until_the_student_starts_it(sandbox: Served) -> None:
    sandbox.configure(release="5.1")
    ops = _ops(sandbox)
    course, users = _course_with_students(ops, "PRE-1")
    quizid = int(ops.setup_tickets_plugin(course, TICKETS)["quizid"])
    reopen_quiz(sandbox, quizid)  # a quiz someone opened by hand, which 5.x then precreates attempts for
    assert sandbox.actor(f"/quiz/{quizid}/precreate").json()["attempts"]
    uids = list(users.values())
    # Moodle holds a notstarted attempt per student, its question chosen: no poll reports it.
    true_states = [a["state"] for uid in uids for a in ops.attempts(quizid, uid)]
    assert true_states == ["notstarted", "notstarted"]
    assert poll_attempts(ops, quizid, uids, plugin=False) == []
    assert poll_attempts(ops, quizid, uids, plugin=True) == []
    drawn = sandbox.actor(f"/quiz/{quizid}/attempt", {"email": "s1.pre-1@uni.kz"}).json()
    seen = poll_attempts(ops, quizid, uids, plugin=True)
    assert [(s.state, s.ticket) for s in seen] == [("inprogress", int(drawn["ticket"].split("-")[1]))]


def test_a_submitted_attempt_awaiting_grading_counts_as_handed_in(
        tmp_path: Path, sandbox: Served, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    from lms_bridge.results import moodle_poll

    sandbox.configure(release="5.1", plugin=False)
    settings = _settings(tmp_path, sandbox, template_course_id=2, plugin="core")
    row = _session_row(db, SPEC)
    assert _run(db, settings, SPEC, row).status == "succeeded"
    tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
    quizid = int(tickets.external_id)
    courseid = int(db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.course").one().external_id)
    xml = (settings.data_dir / "moodle" / f"{SPEC.code}-tickets.xml").read_text(encoding="utf-8")
    sandbox.actor(f"/course/{courseid}/import-questions", {"xml": xml, "cmid": tickets.data["cmid"]})
    sandbox.actor(f"/quiz/{quizid}/attempt", {"email": "dias@uni.kz"}).raise_for_status()
    finished = sandbox.actor(f"/quiz/{quizid}/finish", {"email": "dias@uni.kz", "grading": "pending"}).json()
    assert finished["state"] == "submitted"
    applied: list[dict[str, Any]] = []
    monkeypatch.setattr(moodle_poll, "apply_moodle_event", lambda _db, payload: applied.append(payload) or "ok")
    ops = MoodleOps(MoodleClient.from_settings(settings), settings.moodle)
    moodle_poll.poll_session(db, row, ops)
    attempts = [p for p in applied if p["event"].startswith("quiz_")]
    assert [(p["useremail"], p["event"], p["other"]["state"]) for p in attempts] == [
        ("dias@uni.kz", "quiz_attempt_submitted", "submitted")]
    # The deprecated function would have said "finished": the poll reads the true state.
    assert sandbox.state()["php_log"] == []


# -- question banks (mod_qbank) after the upgrade -----------------------------------------------------------
def _as_on_45(state: dict[str, Any], courseid: int, categoryid: int) -> None:
    """Put the Tickets category in the course's question bank, as a 4.5 course could hold it."""
    course = state["courses"][str(courseid)]
    top = _new_qcat(state, "top", course["contextid"])
    state["qcats"][str(categoryid)].update(contextid=course["contextid"], parent=top["id"])


def test_an_upgraded_course_keeps_one_ticket_slot_and_one_tickets_category(sandbox: Served) -> None:
    ops = _ops(sandbox)
    course, _users = _course_with_students(ops, "UPG-1")
    first = ops.setup_tickets_plugin(course, TICKETS)
    with _edit(sandbox) as state:
        _as_on_45(state, course, int(first["categoryid"]))
    sandbox.configure(release="5.1")
    moved = sandbox.actor(f"/course/{course}/transfer-question-banks").json()
    assert moved["moved"] == [first["categoryid"]]
    again = ops.setup_tickets_plugin(course, TICKETS)
    assert (again["categoryid"], again["categorycreated"], again["slotcreated"]) == (first["categoryid"], False, False)
    assert again["categorycontextid"] == moved["contextid"]
    state = sandbox.state()
    quiz = state["quizzes"][str(first["quizid"])]
    assert len(quiz["slots"]) == 1
    assert [c["id"] for c in state["qcats"].values() if c.get("idnumber") == "lmsbridge-tickets"] == [
        first["categoryid"]]
    bank = state["cms"][str(moved["qbankcmid"])]
    assert (bank["modname"], bank["course"]) == ("qbank", course)
    # Each attempt holds one ticket: the one opened for the student.
    now = int(time.time())
    ops.open_ticket(int(first["quizid"]), _users["s1.upg-1@uni.kz"], 2, timeopen=now - 60, timeclose=now + 600)
    drawn = sandbox.actor(f"/quiz/{first['quizid']}/attempt", {"email": "s1.upg-1@uni.kz"}).json()
    assert drawn["ticket"] == "ticket-2"


def test_open_ticket_replaces_an_attempt_made_ahead_of_time(sandbox: Served) -> None:
    """5.x precreates attempts (state notstarted) with a question Moodle picked; the student has not seen it, so
    opening the drawn ticket deletes it and the student's attempt holds exactly the drawn ticket."""
    sandbox.configure(release="5.1")
    ops = _ops(sandbox)
    course, users = _course_with_students(ops, "PRE-2")
    quizid = int(ops.setup_tickets_plugin(course, TICKETS)["quizid"])
    reopen_quiz(sandbox, quizid)
    sandbox.actor(f"/quiz/{quizid}/precreate").raise_for_status()
    uid = users["s1.pre-2@uni.kz"]
    picked = next(a for a in sandbox.state()["attempts"].values() if a["userid"] == uid)
    ticket = next(int(q["idnumber"].split("-")[1]) for q in sandbox.state()["questions"].values()
                  if q["id"] != picked["questionid"] and (q.get("idnumber") or "").startswith("ticket-")
                  and not q.get("hidden"))
    now = int(time.time())
    out = ops.open_ticket(quizid, uid, ticket, timeopen=now - 60, timeclose=now + 600)
    assert out["created"]
    mine = [a for a in sandbox.state()["attempts"].values() if a["userid"] == uid]
    assert [a["state"] for a in mine] == ["inprogress"]
    assert sandbox.actor(f"/quiz/{quizid}/attempt", {"email": "s1.pre-2@uni.kz"}).json()["ticket"] == f"ticket-{ticket}"


def test_a_moved_category_without_its_slot_gets_exactly_one_slot_drawing_from_it(sandbox: Served) -> None:
    ops = _ops(sandbox)
    course, _users = _course_with_students(ops, "UPG-2")
    first = ops.setup_tickets_plugin(course, TICKETS)
    with _edit(sandbox) as state:
        _as_on_45(state, course, int(first["categoryid"]))
        state["quizzes"][str(first["quizid"])]["slots"] = []
    sandbox.configure(release="5.1")
    sandbox.actor(f"/course/{course}/transfer-question-banks").raise_for_status()
    again = ops.setup_tickets_plugin(course, TICKETS)
    assert (again["categoryid"], again["categorycreated"], again["slotcreated"]) == (first["categoryid"], False, True)
    slots = sandbox.state()["quizzes"][str(first["quizid"])]["slots"]
    assert [s["categoryid"] for s in slots] == [first["categoryid"]]


def test_the_transfer_and_precreation_exist_from_50_only(sandbox: Served) -> None:
    ops = _ops(sandbox)
    course, _users = _course_with_students(ops, "OLD-1")
    quizid = ops.setup_tickets_plugin(course, TICKETS)["quizid"]
    assert sandbox.actor(f"/course/{course}/transfer-question-banks").status_code == 400
    assert sandbox.actor(f"/quiz/{quizid}/precreate").status_code == 400


def test_on_5x_a_course_level_import_lands_in_the_courses_question_bank(sandbox: Served) -> None:
    sandbox.configure(release="5.1")
    ops = _ops(sandbox)
    course, _users = _course_with_students(ops, "IMP-1")
    xml = ('<quiz><question type="category"><category><text>$course$/top/Tickets</text></category>'
           '<idnumber>lmsbridge-tickets</idnumber></question><question type="essay"><name><text>T1</text></name>'
           '<questiontext format="html"><text>x</text></questiontext><idnumber>ticket-1</idnumber></question></quiz>')
    made = sandbox.actor(f"/course/{course}/import-questions", {"xml": xml}).json()
    state = sandbox.state()
    ctx = state["qcats"][str(made["categoryid"])]["contextid"]
    owner = next(cm for cm in state["cms"].values() if cm["contextid"] == ctx)
    assert owner["modname"] == "qbank"
    assert ctx != state["courses"][str(course)]["contextid"]


# -- the core-only path ----------------------------------------------------------------------------------------
def test_the_tickets_category_is_read_from_moodles_own_form() -> None:
    """The form a real 5.1 rendered (captured core_get_fragment): its Tickets option is the category to use."""
    captured = json.loads((FIXTURES / "core_get_fragment.json").read_text(encoding="utf-8"))

    class Client:
        def has(self, function: str) -> bool:
            return True

        def call(self, function: str, params: dict[str, Any]) -> Any:
            if function == "core_course_get_contents":
                return [{"modules": [{"id": 13, "contextid": 41}]}]
            assert function == "core_get_fragment"
            assert params["contextid"] == 41
            return captured["response"]

    ops = MoodleOps(Client(), MoodleSettings())  # type: ignore[arg-type]
    assert ops.ticket_category({"coursemodule": 13, "course": 6}) == {"id": 23, "contextid": 41, "questions": 12}


@pytest.mark.parametrize("release", ["4.5", "5.1"])
def test_without_the_plugin_a_student_starts_the_quiz_and_draws_one_ticket(
        release: str, tmp_path: Path, sandbox: Served, db: Session) -> None:
    sandbox.configure(release=release, plugin=False)
    settings = _settings(tmp_path, sandbox, plugin="core")
    row = _session_row(db, SPEC)
    course = _run(db, settings, SPEC, row)
    # No quiz yet: the secretary adds one named "Ticket" (no web-service function makes a quiz).
    courseid = int(db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.course").one().external_id)
    assert course.status == "failed"
    with _edit(sandbox) as state:
        quiz = _new_quiz(state, courseid, "Ticket")
    with use_locale("en"):
        waiting = _run(db, settings, SPEC, row)
    step = next(s for s in waiting.steps if s.name == "moodle.tickets")
    assert step.status == "failed"
    assert "tickets.xml" in step.error
    assert "Tickets" in step.error
    assert sandbox.state()["quizzes"][str(quiz["id"])]["slots"] == []
    # The secretary imports the file into the quiz's question bank; the next run adds the slot itself.
    xml = (settings.data_dir / "moodle" / f"{SPEC.code}-tickets.xml").read_text(encoding="utf-8")
    imported = sandbox.actor(f"/course/{courseid}/import-questions", {"xml": xml, "cmid": quiz["coursemodule"]})
    assert imported.json()["questions"] == 3, imported.text
    _run(db, settings, SPEC, row)
    tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
    assert tickets.data["categoryid"] == imported.json()["categoryid"]
    state = sandbox.state()
    slots = state["quizzes"][str(quiz["id"])]["slots"]
    assert [s["categoryid"] for s in slots] == [imported.json()["categoryid"]]
    ctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
    assert len([c for c in state["qcats"].values() if c["contextid"] == ctx and not c.get("parent")]) == 1
    drawn = sandbox.actor(f"/quiz/{quiz['id']}/attempt", {"email": "aruzhan@uni.kz"})
    assert drawn.status_code == 200, drawn.text
    assert drawn.json()["ticket"] in ("ticket-1", "ticket-2", "ticket-3")
    # Provisioning again adds nothing.
    _run(db, settings, SPEC, row)
    assert len(sandbox.state()["quizzes"][str(quiz["id"])]["slots"]) == 1


def test_without_core_get_fragment_the_secretary_is_told_what_to_do(
        tmp_path: Path, sandbox: Served, db: Session) -> None:
    sandbox.configure(plugin=False, removed_functions=["core_get_fragment"])
    settings = _settings(tmp_path, sandbox, plugin="core")
    row = _session_row(db, SPEC)
    _run(db, settings, SPEC, row)
    courseid = int(db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.course").one().external_id)
    with _edit(sandbox) as state:
        quiz = _new_quiz(state, courseid, "Ticket")
    xml = (settings.data_dir / "moodle" / f"{SPEC.code}-tickets.xml").read_text(encoding="utf-8")
    sandbox.actor(f"/course/{courseid}/import-questions", {"xml": xml, "cmid": quiz["coursemodule"]})
    with use_locale("en"):
        run = _run(db, settings, SPEC, row)
    step = next(s for s in run.steps if s.name == "moodle.tickets")
    assert step.status == "failed"
    assert "core_get_fragment" in step.error
    assert sandbox.state()["quizzes"][str(quiz["id"])]["slots"] == []


# -- grade saves ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("release", ["4.5", "5.1"])
def test_grade_saves_always_send_the_feedback_field_so_moodle_logs_no_warning(release: str, sandbox: Served) -> None:
    sandbox.configure(release=release)
    ops = _ops(sandbox)
    course, users = _course_with_students(ops, f"GR-{release}")
    result = ops.ensure_result_assignment_plugin(course)
    uid = users[f"s1.gr-{release}@uni.kz"]
    assert ops.save_decision(course, uid, 70, assignment=result) == "assign"
    assert ops.save_decision(course, uid, 80, feedback="B", assignment=result) == "assign"
    assert ops.save_decision(course, uid, 75, assignment=result) == "assign"
    assert sandbox.state()["php_log"] == []
    # What a save without the field does: two warnings per save.
    ops.client.call("mod_assign_save_grade", {"assignmentid": result["assignid"], "userid": users[
        f"s2.gr-{release}@uni.kz"], "grade": 60, "attemptnumber": -1, "addattempt": False, "workflowstate": "",
        "applytoall": False})
    assert len(sandbox.state()["php_log"]) == 2


def test_the_site_info_of_a_51_without_the_new_function_in_the_service_still_connects() -> None:
    info = SiteInfo("s", "u", "admin", 2, "5.1", "2025100600.02", frozenset({"mod_quiz_get_user_attempts"}))
    assert info.pick("mod_quiz_get_user_attempts") == "mod_quiz_get_user_attempts"
    assert info.missing(["mod_quiz_get_user_attempts"]) == []


def test_a_site_that_refuses_the_form_leaves_the_secretary_the_instructions(sandbox: Served) -> None:
    """core_get_fragment is the page of Moodle's own dialog: an error from it must not hide what to do."""
    ops = _ops(sandbox)
    course, _users = _course_with_students(ops, "FRG-1")
    with _edit(sandbox) as state:
        quiz = _new_quiz(state, course, "Ticket")
    xml = ('<quiz><question type="category"><category><text>$module$/top/Tickets</text></category>'
           '<idnumber>lmsbridge-tickets</idnumber></question><question type="essay"><name><text>T1</text></name>'
           '<questiontext format="html"><text>x</text></questiontext><idnumber>ticket-1</idnumber></question></quiz>')
    made = sandbox.actor(f"/course/{course}/import-questions", {"xml": xml, "cmid": quiz["coursemodule"]}).json()
    row = {"id": quiz["id"], "course": course, "coursemodule": quiz["coursemodule"]}
    assert ops.ticket_category(row) == {"id": made["categoryid"], "contextid": sandbox.state()["cms"][
        str(quiz["coursemodule"])]["contextid"], "questions": 1}
    sandbox.configure(denied_capabilities=["mod/quiz:manage"])
    assert ops.ticket_category(row) is None
