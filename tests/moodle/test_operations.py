"""Idempotent Moodle operations against the sandbox: run twice, change nothing the second time."""

from __future__ import annotations

import time

import pytest

from lms_bridge.config import MoodleSettings, Secret
from lms_bridge.domain.session import Ticket
from lms_bridge.i18n import use_locale
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.errors import GradeNotSaved, GradeOutOfRange, InvalidParameter, MoodleError, UserConflict
from lms_bridge.moodle.operations import MoodleOps, Person, plan_resume, username_for

from .conftest import Served, reopen_quiz

STUDENTS = [Person("aruzhan@uni.kz", "Аружан", "Сейтқали", "201103551234"),
            Person("dias@uni.kz", "Диас", "Омаров", "201103551235")]


def _course_with_people(ops: MoodleOps) -> tuple[int, dict[str, int]]:
    ids = ops.ensure_users(STUDENTS)
    course = ops.create_course(idnumber="SE-2026", fullname="Exam", shortname="SE-2026")
    ops.enrol(course["id"], [(uid, 5) for uid in ids.values()])
    return course["id"], ids


def test_users_are_found_or_created_once(ops: MoodleOps, sandbox: Served) -> None:
    first = ops.ensure_users(STUDENTS)
    again = ops.ensure_users([*STUDENTS, Person("new@uni.kz", "Жаңа", "Студент", "3")])
    assert {k: again[k] for k in first} == first
    users = [u for u in sandbox.state()["users"].values() if u["email"].endswith("@uni.kz")]
    assert sorted(u["email"] for u in users) == ["aruzhan@uni.kz", "dias@uni.kz", "new@uni.kz"]
    assert all(u["username"] == u["username"].lower() for u in users)


def test_usernames_are_lowercase() -> None:
    assert username_for(" Aruzhan.S@Uni.KZ ") == "aruzhan.s@uni.kz"


def test_an_idnumber_with_another_email_is_a_conflict_never_taken_silently(ops: MoodleOps) -> None:
    ops.ensure_users(STUDENTS[:1])
    moved = Person("aruzhan.new@uni.kz", "Аружан", "Сейтқали", "201103551234")
    found, conflicts = ops.find_users([moved])
    assert found == {}
    assert conflicts["aruzhan.new@uni.kz"].errorcode == "idnumbertaken"
    with use_locale("en"):
        text = conflicts["aruzhan.new@uni.kz"].user_message
    assert "aruzhan@uni.kz" in text
    assert "201103551234" in text
    with pytest.raises(UserConflict):
        ops.ensure_users([moved])


def test_new_accounts_sign_in_as_configured(sandbox: Served, client: MoodleClient) -> None:
    google = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), new_user_auth="oauth2"))
    made = google.ensure_users([Person("g.student@uni.kz", "Г", "Студент", "G-1")])
    manual = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token")))
    made.update(manual.ensure_users([Person("m.student@uni.kz", "М", "Студент", "M-1")]))
    users = sandbox.state()["users"]
    g, m = users[str(made["g.student@uni.kz"])], users[str(made["m.student@uni.kz"])]
    # A Google sign-in student has no Moodle password and is never asked to change one.
    assert (g["auth"], g["forcepasswordchange"]) == ("oauth2", 0)
    assert (m["auth"], m["forcepasswordchange"]) == ("manual", 1)


def test_an_email_taken_with_another_idnumber_is_a_clear_error(ops: MoodleOps) -> None:
    ops.ensure_users(STUDENTS[:1])
    with pytest.raises(UserConflict) as exc:
        ops.ensure_users([Person("aruzhan@uni.kz", "Аружан", "Сейтқали", "999")])
    with use_locale("en"):
        text = exc.value.user_message
    assert "aruzhan@uni.kz" in text
    assert "201103551234" in text
    assert "999" in text
    assert "session file" in text


def test_course_is_found_by_idnumber(ops: MoodleOps) -> None:
    assert ops.find_course("SE-2026") is None
    made = ops.create_course(idnumber="SE-2026", fullname="Exam", shortname="SE-2026")
    found = ops.find_course("SE-2026")
    assert found is not None
    assert found["id"] == made["id"]


def test_course_from_the_template_copies_its_quiz_and_assignments(sandbox: Served, client: MoodleClient) -> None:
    ops = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), template_course_id=2))
    made = ops.create_course(idnumber="SE-T", fullname="Exam", shortname="SE-T")
    assert ops.find_course("SE-T")["id"] == made["id"]  # type: ignore[index]
    quiz = ops.ticket_quiz(made["id"])
    assert quiz is not None
    assert quiz["hasquestions"] == 1  # the template's random slot came along
    state = sandbox.state()
    slots = state["quizzes"][str(quiz["id"])]["slots"]
    assert len(slots) == 1
    # ... drawing from the copy's own "Tickets" category, in the new quiz's bank.
    cat = state["qcats"][str(slots[0]["categoryid"])]
    assert (cat["name"], cat["contextid"]) == ("Tickets", state["cms"][str(quiz["coursemodule"])]["contextid"])
    result = ops.result_assignment(made["id"])
    assert result is not None
    assert result["name"] == "Commission result"
    assert result["markingworkflow"] == 1
    assert ops.submission_assignment(made["id"])["name"] == "Answer"  # type: ignore[index]


def test_enrolment_is_idempotent(ops: MoodleOps, sandbox: Served) -> None:
    courseid, ids = _course_with_people(ops)
    ops.enrol(courseid, [(uid, 5) for uid in ids.values()])
    enrolled = ops.enrolled_roles(courseid)
    assert enrolled == {uid: {5} for uid in ids.values()}
    assert len([e for e in sandbox.state()["enrolments"] if e["courseid"] == courseid]) == 2


def test_core_only_ticket_slot_is_added_once_under_the_top_category(sandbox: Served, ops: MoodleOps) -> None:
    sandbox.configure(plugin=False)
    courseid, _ids = _course_with_people(ops)
    assert ops.ticket_quiz(courseid) is None
    # A quiz made by hand in the course, still empty; its question bank has its top category:
    state_quiz, top = _add_quiz_by_hand(sandbox, courseid)
    quiz = ops.ticket_quiz(courseid)
    assert quiz is not None
    assert quiz["id"] == state_quiz
    assert ops.add_ticket_slot(quiz, courseid=courseid, top_categoryid=top) is True
    assert ops.add_ticket_slot(ops.ticket_quiz(courseid), courseid=courseid, top_categoryid=top) is False  # type: ignore[arg-type]
    state = sandbox.state()
    slots = state["quizzes"][str(quiz["id"])]["slots"]
    assert len(slots) == 1
    ctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
    cats = [c for c in state["qcats"].values() if c["name"] == "Tickets" and c["contextid"] == ctx]
    assert len(cats) == 1
    assert cats[0]["parent"] == top
    assert [c["id"] for c in state["qcats"].values() if c["contextid"] == ctx and not c["parent"]] == [top]
    assert slots[0]["categoryid"] == cats[0]["id"]


def _add_quiz_by_hand(sandbox: Served, courseid: int) -> tuple[int, int]:
    """What a teacher does in the UI: a quiz, whose editing page makes the top category of its question
    bank.  The sandbox shares the state file with its app object.  Returns (quiz id, top category id)."""
    from lms_bridge.moodle.sandbox.world import _new_qcat, _new_quiz

    app = sandbox.app
    with app.world.lock:  # type: ignore[attr-defined]
        app.world.refresh()  # type: ignore[attr-defined]
        state = app.world.state  # type: ignore[attr-defined]
        quiz = _new_quiz(state, courseid, "Ticket", timelimit=1800)
        top = _new_qcat(state, "top", state["cms"][str(quiz["coursemodule"])]["contextid"])
        app.world.save()  # type: ignore[attr-defined]
    return int(quiz["id"]), int(top["id"])


def test_plugin_tickets_and_drawn_tickets(sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids = _course_with_people(ops)
    tickets = [Ticket(1, ("Q1a", "Q1b")), Ticket(2, ("Q2a", "Q2b")), Ticket(3, ("Q3a", "Q3b"))]
    first = ops.setup_tickets_plugin(courseid, tickets, timelimit=1800)
    again = ops.setup_tickets_plugin(courseid, tickets, timelimit=1800)
    assert first["quizcreated"]
    assert first["slotcreated"]
    assert not again["changed"]
    assert (again["quizid"], again["categoryid"]) == (first["quizid"], first["categoryid"])
    # Closed to everyone: no student can start an attempt, so Moodle never picks a ticket by itself.
    r = sandbox.actor(f"/quiz/{first['quizid']}/attempt", {"email": "aruzhan@uni.kz"})
    assert r.status_code == 400
    assert "not currently available" in r.text
    assert ops.drawn_tickets(first["quizid"]) == []
    # Admitted: the quiz opens for her alone, with the ticket of the verifiable draw.
    now = int(time.time())
    uid = ids["aruzhan@uni.kz"]
    opened = ops.open_ticket(first["quizid"], uid, 2, timeopen=now - 60, timeclose=now + 1800)
    assert opened["created"]
    assert opened["ticketnumber"] == 2
    r = sandbox.actor(f"/quiz/{first['quizid']}/attempt", {"email": "aruzhan@uni.kz"})
    assert r.status_code == 200, r.text
    assert r.json()["ticket"] == "ticket-2"  # she continues the attempt the bridge started
    assert r.json()["attemptid"] == opened["attemptid"]
    # The other student is still shut out.
    assert sandbox.actor(f"/quiz/{first['quizid']}/attempt", {"email": "dias@uni.kz"}).status_code == 400
    drawn = ops.drawn_tickets(first["quizid"])
    assert [(d["userid"], d["ticketnumber"]) for d in drawn] == [(uid, 2)]
    # Again: the same attempt, nothing new; another ticket for her is refused, never replaced.
    assert ops.open_ticket(first["quizid"], uid, 2, timeopen=now - 60, timeclose=now + 1800)["created"] is False
    with pytest.raises(MoodleError) as refused:
        ops.open_ticket(first["quizid"], uid, 3, timeopen=now - 60, timeclose=now + 1800)
    assert refused.value.errorcode == "ticketmismatch"
    # Attempts in progress show only with status=all.
    assert [a["state"] for a in ops.attempts(first["quizid"], uid)] == ["inprogress"]


def test_a_suspended_student_gets_no_ticket_and_a_restored_one_does(sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids = _course_with_people(ops)
    made = ops.setup_tickets_plugin(courseid, [Ticket(1, ("Q",)), Ticket(2, ("Q2",))], timelimit=1800)
    uid = ids["dias@uni.kz"]
    ops.enrol(courseid, [(uid, 5)], suspend=True)
    now = int(time.time())
    with pytest.raises(MoodleError) as refused:
        ops.open_ticket(made["quizid"], uid, 1, timeopen=now - 60, timeclose=now + 600)
    assert refused.value.errorcode == "notenrolledactive"
    rows = [e for e in sandbox.state()["enrolments"] if e["userid"] == uid and e["courseid"] == courseid]
    assert rows
    assert all(e["status"] == 1 for e in rows)  # suspended, never deleted
    # Even with the quiz open to everyone a suspended student cannot start.
    reopen_quiz(sandbox, made["quizid"])
    assert sandbox.actor(f"/quiz/{made['quizid']}/attempt", {"email": "dias@uni.kz"}).status_code == 400
    ops.enrol(courseid, [(uid, 5)])  # re-admitted: restored
    assert ops.open_ticket(made["quizid"], uid, 1, timeopen=now - 60, timeclose=now + 600)["created"]


def test_resume_plan_keeps_the_time_used() -> None:
    now = 10_000
    plan = plan_resume(timelimit=1800, timestart=now - 1200, time_used=600, now=now, window_end=now + 7200,
                       attempts_used=1, attempts_allowed=1, attempt_open=True)
    # 20 minutes passed, 10 were used: the remaining 20 minutes count from now.
    assert plan.timelimit == 1200 + 1200
    assert plan.timeclose == now + 7200
    assert plan.attempts == 1
    with pytest.raises(ValueError, match="window"):
        plan_resume(timelimit=1800, timestart=now, time_used=0, now=now, window_end=now + 60,
                    attempts_used=1, attempts_allowed=1, attempt_open=True)
    with pytest.raises(ValueError, match="all of the time"):
        plan_resume(timelimit=1800, timestart=now, time_used=1800, now=now, window_end=now + 7200,
                    attempts_used=1, attempts_allowed=1, attempt_open=True)


def test_override_for_a_disconnected_student_is_saved_then_updated(sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids = _course_with_people(ops)
    made = ops.setup_tickets_plugin(courseid, [Ticket(1, ("Q",))], timelimit=1800)
    reopen_quiz(sandbox, made["quizid"])
    sandbox.actor(f"/quiz/{made['quizid']}/attempt", {"email": "dias@uni.kz"}).raise_for_status()
    quiz = next(q for q in ops.quizzes(courseid) if q["id"] == made["quizid"])
    now = int(time.time())
    first = ops.resume_after_disconnect(quiz, ids["dias@uni.kz"], time_used=300, now=now, window_end=now + 3600)
    second = ops.resume_after_disconnect(quiz, ids["dias@uni.kz"], time_used=400, now=now, window_end=now + 3600)
    assert first == second
    overrides = sandbox.state()["overrides"]
    assert len(overrides) == 1
    row = overrides[str(first)]
    assert row["timeclose"] == now + 3600
    assert row["timelimit"] >= 1800 - 400


def test_an_override_keeps_only_what_differs_from_the_quiz(sandbox: Served, ops: MoodleOps) -> None:
    """override_manager::clear_unused_values, as a real 4.5 and 5.1 answered (moodle-live-check.md §13): a
    value equal to the quiz's is stored as null, and saving again by id writes every setting anew."""
    courseid, ids = _course_with_people(ops)
    made = ops.setup_tickets_plugin(courseid, [Ticket(1, ("Q",))], timelimit=1800)
    quizid, uid = int(made["quizid"]), ids["dias@uni.kz"]

    def saved(**values: object) -> dict:
        out = ops.client.call("mod_quiz_save_overrides", {"data": {"quizid": quizid, "overrides": [
            {"userid": uid, **values}]}})
        oid = int(out["ids"][0])
        return next(o for o in ops.client.call("mod_quiz_get_overrides", {"quizid": quizid})["overrides"]
                    if o["id"] == oid)

    row = saved(timeopen=1000, timeclose=5000, timelimit=1800, attempts=1)
    assert (row["timeopen"], row["timeclose"], row["timelimit"], row["attempts"]) == (1000, 5000, None, None)
    row = saved(id=row["id"], timelimit=2400)
    assert (row["timeopen"], row["timeclose"], row["timelimit"], row["attempts"]) == (None, None, 2400, None)
    with pytest.raises(InvalidParameter):
        saved(id=row["id"], timelimit=1800, attempts=1)


def test_submissions_are_read(sandbox: Served, client: MoodleClient) -> None:
    ops = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), template_course_id=2))
    ids = ops.ensure_users(STUDENTS)
    course = ops.create_course(idnumber="SE-S", fullname="Exam", shortname="SE-S")
    ops.enrol(course["id"], [(uid, 5) for uid in ids.values()])
    answer = ops.submission_assignment(course["id"])
    assert answer is not None
    sandbox.actor(f"/assign/{answer['id']}/submit", {"email": "aruzhan@uni.kz", "text": "Жауап"}).raise_for_status()
    subs = ops.submissions(answer["id"])
    assert [(s["userid"], s["status"]) for s in subs] == [(ids["aruzhan@uni.kz"], "submitted")]
    assert ops.submissions(answer["id"], since=int(time.time()) + 60) == []


def _result(ops: MoodleOps) -> tuple[int, dict[str, int], dict]:
    courseid, ids = _course_with_people(ops)
    result = ops.ensure_result_assignment_plugin(courseid, grademax=100)
    return courseid, ids, result


def test_decision_lands_in_the_gradebook_once(sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids, result = _result(ops)
    uid = ids["dias@uni.kz"]
    assert ops.save_decision(courseid, uid, 87, feedback="B+", assignment=result) == "assign"
    # Without marking workflow the same grade is not saved again; with it (the product's result
    # assignment) it is, since a draft of the same grade may still wait for its release.
    again = ops.save_decision(courseid, uid, 87, assignment=result)
    assert again == ("assign" if result.get("markingworkflow") else "unchanged")
    assert ops.save_decision(courseid, uid, 87, assignment={**result, "markingworkflow": 0}) == "unchanged"
    state = sandbox.state()
    book = [g for g in state["grades"].values() if g["userid"] == uid]
    assert [g["grade"] for g in book] == [87.0]


def test_marking_workflow_grades_are_released(sandbox: Served, client: MoodleClient) -> None:
    ops = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), template_course_id=2))
    ids = ops.ensure_users(STUDENTS)
    course = ops.create_course(idnumber="SE-W", fullname="Exam", shortname="SE-W")
    result = ops.result_assignment(course["id"])
    assert result is not None
    assert result["markingworkflow"] == 1
    assert ops.save_decision(course["id"], ids["dias@uni.kz"], 70, assignment=result) == "assign"
    book = [g for g in sandbox.state()["grades"].values() if g["userid"] == ids["dias@uni.kz"]]
    assert [g["grade"] for g in book] == [70.0]


def test_a_draft_stays_out_of_the_gradebook_until_the_release(sandbox: Served, client: MoodleClient) -> None:
    ops = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), template_course_id=2))
    ids = ops.ensure_users(STUDENTS)
    course = ops.create_course(idnumber="SE-D", fullname="Exam", shortname="SE-D")
    result = ops.result_assignment(course["id"])
    assert result is not None
    uid = ids["dias@uni.kz"]
    assert ops.save_decision(course["id"], uid, 70, assignment=result, release=False) == "draft"
    state = sandbox.state()
    graded = [g for g in state["assign_grades"].values() if g["userid"] == uid]
    assert [(g["grade"], g["workflowstate"]) for g in graded] == [(70.0, "readyforrelease")]
    assert not [g for g in state["grades"].values() if g["userid"] == uid and g["grade"] is not None]
    # The release: the same grade again, now "released", reaches the gradebook.
    assert ops.save_decision(course["id"], uid, 70, assignment=result) == "assign"
    book = [g for g in sandbox.state()["grades"].values() if g["userid"] == uid]
    assert [g["grade"] for g in book] == [70.0]
    # Without marking workflow a grade would show at once: nothing is written before the release.
    assert ops.save_decision(course["id"], uid, 70, assignment={**result, "markingworkflow": 0},
                             release=False) == "kept"


def test_grade_outside_the_range_is_refused_before_moodle_ignores_it(ops: MoodleOps) -> None:
    courseid, ids, result = _result(ops)
    with pytest.raises(GradeOutOfRange) as exc:
        ops.save_decision(courseid, ids["dias@uni.kz"], 120, assignment=result)
    with use_locale("en"):
        text = exc.value.user_message
    assert "120" in text
    assert "100" in text
    assert "maximum grade" in text


def test_silent_no_op_is_detected_by_reading_back(ops: MoodleOps) -> None:
    courseid, ids, result = _result(ops)
    # Our copy of the maximum is stale (someone lowered it in Moodle to 100): Moodle drops 150 silently.
    stale = {**result, "grademax": 200}
    with pytest.raises(GradeNotSaved) as exc:
        ops.save_decision(courseid, ids["dias@uni.kz"], 150, assignment=stale)
    assert exc.value.extra["found"] == "-"


def test_fallback_to_core_grades_update_grades(sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids, result = _result(ops)
    sandbox.configure(removed_functions=["mod_assign_save_grade"])
    ops.client.site_info()
    assert ops.save_decision(courseid, ids["aruzhan@uni.kz"], 91, assignment=result) == "gradebook"
    book = [g for g in sandbox.state()["grades"].values() if g["userid"] == ids["aruzhan@uni.kz"]]
    assert [g["grade"] for g in book] == [91.0]


def test_override_is_updated_by_its_kept_id_when_the_service_cannot_list_overrides(
        sandbox: Served, ops: MoodleOps) -> None:
    courseid, ids = _course_with_people(ops)
    made = ops.setup_tickets_plugin(courseid, [Ticket(1, ("Q",))], timelimit=1800)
    reopen_quiz(sandbox, made["quizid"])
    sandbox.actor(f"/quiz/{made['quizid']}/attempt", {"email": "dias@uni.kz"}).raise_for_status()
    sandbox.configure(removed_functions=["mod_quiz_get_overrides"])
    ops.client.site_info()
    quiz = next(q for q in ops.quizzes(courseid) if q["id"] == made["quizid"])
    now = int(time.time())
    first = ops.resume_after_disconnect(quiz, ids["dias@uni.kz"], time_used=300, now=now, window_end=now + 3600)
    again = ops.resume_after_disconnect(quiz, ids["dias@uni.kz"], time_used=500, now=now, window_end=now + 3600,
                                        override_id=first)
    assert again == first
    assert len(sandbox.state()["overrides"]) == 1


def test_a_template_copy_is_found_by_short_name_when_its_idnumber_cannot_be_set(
        sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(removed_functions=["core_course_update_courses"])
    client.site_info()
    ops = MoodleOps(client, MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), template_course_id=2))
    made = ops.create_course(idnumber="SE-N", fullname="Exam", shortname="SE-N")
    assert ops.find_course("SE-N", shortname="") is None
    found = ops.find_course("SE-N")
    assert found is not None
    assert found["id"] == made["id"]


def test_the_exam_room_twelve_students_one_verifiable_draw(sandbox: Served, ops: MoodleOps) -> None:
    """The sandbox twin of the live check (tests/moodle/test_live.py): before admission nobody can start;
    after admission each of 12 students reads exactly the drawn ticket, no repeat; the draw verifies; a
    student made not admitted can neither start nor be given a ticket."""
    from datetime import UTC, datetime

    from lms_bridge.domain import draw

    people = [Person(f"room{n:02d}@uni.kz", "Room", f"{n:02d}", f"ROOM-{n:02d}") for n in range(1, 14)]
    ids = ops.ensure_users(people)
    course = ops.create_course(idnumber="ROOM-1", fullname="Room", shortname="ROOM-1")["id"]
    ops.enrol(course, [(uid, 5) for uid in ids.values()])
    quiz = ops.setup_tickets_plugin(course, [Ticket(n, (f"Room question {n}a",)) for n in range(1, 13)])["quizid"]
    assert all(sandbox.actor(f"/quiz/{quiz}/attempt", {"email": p.email}).status_code == 400 for p in people)
    ops.enrol(course, [(ids[people[12].email], 5)], suspend=True)
    seed = draw.new_seed()
    record = draw.DrawRecord(session_code="ROOM-1", commitment=draw.commitment(seed), tickets=tuple(range(1, 13)))
    seen = {}
    now = int(time.time())
    for p in people[:12]:
        record, entry = draw.draw_next(record, seed, p.idnumber, drawn_at=datetime.now(UTC))
        ops.open_ticket(quiz, ids[p.email], entry.ticket, timeopen=now - 60, timeclose=now + 1800)
        r = sandbox.actor(f"/quiz/{quiz}/attempt", {"email": p.email})
        assert r.status_code == 200, r.text
        seen[p.idnumber] = int(r.json()["ticket"].removeprefix("ticket-"))
    assert seen == {d.student_id: d.ticket for d in record.draws}
    assert sorted(seen.values()) == list(range(1, 13))
    assert draw.verify(record.revealed(seed)) == []
    assert {d["ticketnumber"] for d in ops.drawn_tickets(quiz)} == set(range(1, 13))
    assert sandbox.actor(f"/quiz/{quiz}/attempt", {"email": people[12].email}).status_code == 400
    with pytest.raises(MoodleError) as refused:
        ops.open_ticket(quiz, ids[people[12].email], 1, timeopen=now - 60, timeclose=now + 1800)
    assert refused.value.errorcode == "notenrolledactive"
