"""The session page offers only the actions that make sense for the form of the exam: a defense and a
creative exam have no ticket draw, a test exam has its own actions (open the test, a lost connection,
the scores) and no draw either."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.store.models import AuditEvent, ExamSession

from .conftest import SAMPLE_YAML

INLINE_BANK = "\n  question_bank: |\n" + "\n\n".join(
    f"    Q{i}? {{=yes ~no}}" for i in range(1, 4)) + "\n"


def _upload_kind(app: Flask, upload: Any, kind: str) -> str:
    text = SAMPLE_YAML.read_text(encoding="utf-8").replace("  kind: oral_exam", f"  kind: {kind}")
    text = text.replace("  preparation_minutes: 50\n", "")
    if kind != "oral_exam":
        text = re.sub(r"\ntickets:.*", "\ntickets: []\n", text, flags=re.S)
    if kind == "test_exam":
        text = text.replace("  kind: test_exam", "  kind: test_exam" + INLINE_BANK.rstrip("\n"))
        text = text.replace("    admitted: true\n", "    admitted: true\n    admission_rating: 50\n")
    if kind == "defense":
        text = text.replace("    admitted: true\n", "    admitted: true\n    plagiarism: \"7%\"\n", 1)
    res = upload(text.encode(), f"{kind}.yaml")
    assert res.status_code == 302, res.get_data(as_text=True)
    with state(app).sessionmaker() as db:
        return str(db.scalar(select(ExamSession.code).where(ExamSession.kind == kind)))


def test_an_oral_exam_keeps_the_draw(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    page = signed_in.get(f"/sessions/{_upload_kind(app, upload, 'oral_exam')}").get_data(as_text=True)
    assert 'id="draw-button"' in page
    assert 'id="draw-commitment"' in page
    assert "Admit to the test" not in page


def test_a_defense_has_no_draw_and_no_admission_to_one(app: Flask, upload: Any,
                                                             signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "defense")
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Draw tickets" not in page
    assert 'id="draw-commitment"' not in page
    assert 'id="advance-note"' in page
    assert "Plagiarism check: 7%" in page
    # The action itself is refused too, not only hidden.
    res = signed_in.post(f"/sessions/{code}/draw")
    assert res.status_code == 302
    assert "has no tickets and no draw" in signed_in.get(res.location).get_data(as_text=True)
    with state(app).sessionmaker() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.draw_tickets")) is None
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        exam.status = "provisioned"
        ref = exam.students[0].student_ref
        db.commit()
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Admit to the draw" not in page
    res = signed_in.post(f"/sessions/{code}/students/{ref}/admit", data={"confirm": "yes"})
    assert "has no tickets and no draw" in signed_in.get(res.location).get_data(as_text=True)


def test_a_creative_exam_has_no_draw(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    page = signed_in.get(f"/sessions/{_upload_kind(app, upload, 'creative_exam')}").get_data(as_text=True)
    assert "Draw tickets" not in page
    assert "Plagiarism check" not in page


def test_a_test_exam_offers_its_own_actions(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "test_exam")
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Draw tickets" not in page
    assert 'id="test-scores-button" disabled' in page  # until provisioned
    assert "under 26 test points fails" in page
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        assert len(exam.options["question_bank"]) == 3
        exam.status = "provisioned"
        db.commit()
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Admit to the test" in page  # the session's one admission action, worded for the test
    assert "Admit to the draw" not in page
    assert "Lost connection" not in page  # only once the student is in the test
    # Without a quiz in Moodle the admission says so in plain words.
    ref = re.search(r'/students/([^/]+)/admit', page)
    assert ref
    res = signed_in.post(f"/sessions/{code}/students/{ref.group(1)}/admit", data={"confirm": "yes"})
    assert "provision the session first" in signed_in.get(res.location).get_data(as_text=True)


def test_the_secretary_records_a_plagiarism_check_for_a_defense(app: Flask, upload: Any,
                                                                 signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "defense")
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    ref = re.search(r'/students/([^/]+)/plagiarism', page)
    assert ref
    bad = signed_in.post(f"/sessions/{code}/students/{ref.group(1)}/plagiarism", data={"result": "a\nb"})
    assert "on one line" in signed_in.get(bad.location).get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/students/{ref.group(1)}/plagiarism", data={"result": "23%"})
    assert "once the session is provisioned" in signed_in.get(res.location).get_data(as_text=True)
    assert "Plagiarism check: 23%" in signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    with state(app).sessionmaker() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "plagiarism.recorded"))
        assert event is not None
        assert event.detail["new"] == "23%"


def test_an_oral_exam_records_no_plagiarism_check(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "oral_exam")
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "/plagiarism" not in page
    ref = re.search(r'/students/([^/]+)/close-vote|data-student', page)
    assert ref
    with state(app).sessionmaker() as db:
        student_ref = db.scalar(select(ExamSession).where(ExamSession.code == code)).students[0].student_ref
    res = signed_in.post(f"/sessions/{code}/students/{student_ref}/plagiarism", data={"result": "5%"})
    assert "Only a defense" in signed_in.get(res.location).get_data(as_text=True)


def _provisioned(app: Flask, code: str) -> list[str]:
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        exam.status = "provisioned"
        refs = [s.student_ref for s in sorted(exam.students, key=lambda s: s.position) if s.admitted and s.active]
        db.commit()
    return refs


def test_a_test_exams_admission_is_one_dispatch_for_the_page_and_the_board(
        app: Flask, upload: Any, signed_in: FlaskClient, monkeypatch: Any) -> None:
    """The board's Admit and the page's button both open the test quiz (results.testexam.admit_now), never
    the draw (results.admission.admit_now)."""
    from lms_bridge.results import admission, testexam

    code = _upload_kind(app, upload, "test_exam")
    refs = _provisioned(app, code)
    opened: list[tuple[str, str]] = []

    def no_draw(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a test exam has no draw")

    monkeypatch.setattr(testexam, "admit_now", lambda _q, c, ref, _actor: opened.append((c, ref)) or 7)
    monkeypatch.setattr(admission, "admit_now", no_draw)
    base = f"/sessions/{code}/board/students/{refs[0]}"
    signed_in.post(f"{base}/identify", data={"confirm": "yes"})
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = next(s for s in data["students"] if s["ref"] == refs[0])
    admit = next(a for a in row["actions"] if a["action"] == "admit")
    assert admit["label"] == "Admit to the test"
    assert "Ticket drawn" not in data["html"]
    assert "Admitted to the draw" not in data["html"]
    page = signed_in.post(f"{base}/admit", data={"confirm": "yes"}, follow_redirects=True).get_data(as_text=True)
    assert "The test is open for this student now." in page
    page = signed_in.post(f"/sessions/{code}/students/{refs[1]}/admit", data={"confirm": "yes"},
                          follow_redirects=True).get_data(as_text=True)
    assert "The test is open for this student now." in page
    assert opened == [(code, refs[0]), (code, refs[1])]


def test_a_defense_board_shows_no_ticket_steps(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "defense")
    refs = _provisioned(app, code)
    signed_in.post(f"/sessions/{code}/board/students/{refs[0]}/identify", data={"confirm": "yes"})
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = next(s for s in data["students"] if s["ref"] == refs[0])
    assert data["draw"] is False
    assert "Ticket drawn" not in data["html"]
    assert "Admitted to the draw" not in data["html"]
    # No admission and no ticket to receive: the identified student goes straight to the answer.
    assert [a["action"] for a in row["actions"]] == ["start_answer"]
    res = signed_in.post(f"/sessions/{code}/board/students/{refs[0]}/confirm_receipt", data={"confirm": "yes"},
                         follow_redirects=True)
    assert "no tickets and no draw" in res.get_data(as_text=True)


def test_a_defense_board_runs_a_talk_timer_of_seven_to_ten_minutes_in_fifteen(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "defense")
    refs = _provisioned(app, code)
    base = f"/sessions/{code}/board/students/{refs[0]}"
    signed_in.post(f"{base}/identify", data={"confirm": "yes"})
    signed_in.post(f"{base}/start_answer", data={"confirm": "yes"})
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert data["timers"] == {"phase": "talk", "label": "talk", "min_minutes": 7, "max_minutes": 10,
                              "slot_minutes": 15, "questions_minutes": 5}
    timer = next(s for s in data["students"] if s["ref"] == refs[0])["timer"]
    assert (timer["label"], timer["first_minutes"], timer["slot_minutes"]) == ("talk", 10, 15)
    from datetime import datetime, timedelta

    start = datetime.fromisoformat(timer["questions_end_at"]) - timedelta(minutes=15)
    assert datetime.fromisoformat(timer["may_end_at"]) == start + timedelta(minutes=7)
    assert datetime.fromisoformat(timer["answer_ends_at"]) == start + timedelta(minutes=10)
    assert 'data-kind="talk"' in data["html"]
    assert "talk 7–10 min, slot 15 min" in data["html"]


def test_a_creative_board_runs_a_presentation_timer(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "creative_exam")
    _provisioned(app, code)
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert data["timers"]["phase"] == "presentation"
    assert (data["timers"]["min_minutes"], data["timers"]["max_minutes"], data["timers"]["slot_minutes"]) == (
        10, 15, 15)


def test_a_test_exams_board_shows_the_quiz_not_the_answer_timers(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from datetime import UTC, datetime, timedelta

    from lms_bridge.store.models import JournalEntry, StudentRecord

    code = _upload_kind(app, upload, "test_exam")
    refs = _provisioned(app, code)
    now = datetime.now(UTC)
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        db.add(JournalEntry(session_id=exam.id, step="moodle", key="moodle.test_quiz", external_id="9",
                            data={"timelimit": 2400, "attempts": 1}))
        by_ref = {s.student_ref: s for s in db.scalars(select(StudentRecord))}
        for i, ref in enumerate(refs[:3]):
            data: dict[str, Any] = {"at": (now - timedelta(minutes=20)).isoformat(), "by": "secretary"}
            if i > 0:
                data["started"] = int((now - timedelta(minutes=15)).timestamp())
            db.add(JournalEntry(session_id=exam.id, step="testexam", key=f"testexam.admit:{ref}",
                                external_id=str(i + 1), data=data))
        by_ref[refs[1]].attempt_state = "inprogress"
        by_ref[refs[2]].attempt_state, by_ref[refs[2]].attempt_score = "finished", 32.0
        db.commit()
    signed_in.post(f"/sessions/{code}/board/students/{refs[0]}/identify", data={"confirm": "yes"})
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert data["timers"] is None
    assert data["answering"] is None
    assert data["next_up"] is None
    assert "Answering now" not in data["html"]
    assert 'id="test-summary"' in data["html"]
    rows = {s["ref"]: s for s in data["students"]}
    assert [a["action"] for a in rows[refs[0]]["actions"]] == []  # admitted already; no oral answer to start
    assert rows[refs[0]]["quiz"]["phase"] == "admitted"
    assert rows[refs[1]]["quiz"]["phase"] == "running"
    assert rows[refs[1]]["quiz"]["minutes_left"] in (25, 26)  # 40 minutes from a start 15 minutes ago
    assert (rows[refs[2]]["quiz"]["phase"], rows[refs[2]]["quiz"]["score"]) == ("scored", 32.0)
    assert "32 of 40" in data["html"]
    assert rows[refs[3]]["quiz"]["phase"] == "waiting"
    res = signed_in.post(f"/sessions/{code}/board/students/{refs[0]}/start_answer", data={"confirm": "yes"},
                         follow_redirects=True)
    assert "nobody answers orally" in res.get_data(as_text=True)


def test_a_written_exams_board_counts_the_grading_time_down(app: Flask, upload: Any,
                                                            signed_in: FlaskClient) -> None:
    from datetime import UTC, datetime, timedelta

    from lms_bridge.store.models import StudentRecord

    text = SAMPLE_YAML.read_text(encoding="utf-8").replace("  kind: oral_exam", "  kind: written_exam")
    text = text.replace("  preparation_minutes: 50\n", "  preparation_minutes: 120\n")
    assert upload(text.encode(), "written.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        code = exam.code
        first = next(s for s in sorted(exam.students, key=lambda s: s.position) if s.admitted)
        ref = first.student_ref
    drawn = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=150)  # writing ended 30 minutes ago
    with state(app).sessionmaker() as db:
        st = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == ref))
        st.ticket_number, st.ticket_drawn_at = 1, drawn
        db.commit()
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = next(s for s in data["students"] if s["ref"] == ref)
    assert row["grading"]["phase"] == "grading"
    assert datetime.fromisoformat(row["grading"]["closes_at"]) == drawn + timedelta(minutes=120 + 120)
    assert f'data-countdown="{row["grading"]["closes_at"]}"' in data["html"]
    assert 'data-grading="grading"' in data["html"]
