"""The sitting board: the page and its JSON render the same board; each action is a POST that the
rules check, with who and when, and asks for confirmation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AuditEvent, BoardEvent, ExamSession, SittingDayRecord, StudentRecord

from .conftest import SAMPLE_YAML

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _imported(app: Flask, upload: Any) -> tuple[str, list[str]]:
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        refs = [s.student_ref for s in sorted(exam.students, key=lambda s: s.position) if s.admitted and s.active]
        return exam.code, refs


def _draw(app: Flask, ref: str) -> None:
    with transaction(state(app).sessionmaker) as db:
        st = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == ref))
        st.ticket_number, st.ticket_drawn_at = 1, datetime.now(UTC) - timedelta(minutes=1)


def _post(client: FlaskClient, url: str, **data: Any) -> str:
    return client.post(url, data={"confirm": "yes", **data}, follow_redirects=True).get_data(as_text=True)


def test_the_page_and_its_json_show_the_same_board(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    page = signed_in.get(f"/sessions/{code}/board").get_data(as_text=True)
    data = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert [s["ref"] for s in data["students"]] == refs[:len(data["students"])]
    assert all(s["stage"] == "expected" for s in data["students"])
    for st in data["students"]:
        assert f'id="st-{st["ref"]}"' in page
        assert f'id="st-{st["ref"]}"' in data["html"]
    assert 'id="clock"' in page
    assert data["timezone"] in page
    assert '<noscript><meta http-equiv="refresh"' in page
    # The session page leads to the board.
    assert f'href="/sessions/{code}/board"' in signed_in.get(f"/sessions/{code}").get_data(as_text=True)


def test_a_student_goes_through_the_board(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    first, second = refs[0], refs[1]
    base = f"/sessions/{code}/board/students/{first}"
    # Unconfirmed: nothing is recorded.
    page = signed_in.post(f"{base}/identify", follow_redirects=True).get_data(as_text=True)
    assert "tick the box to confirm" in page
    page = _post(signed_in, f"{base}/identify")
    assert "Recorded for" in page
    assert "already identified" in _post(signed_in, f"{base}/identify")
    # No ticket yet, no answer sheets: the answer cannot start, and the page says why.
    assert "has not drawn a ticket" in _post(signed_in, f"{base}/start_answer")
    _draw(app, first)
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = board["students"][0]
    assert row["stage"] == "drawn"
    assert row["files_missing"]
    assert row["preparation_ends_at"]
    assert 'class="missing"' in board["html"]
    assert "wait for the upload" in _post(signed_in, f"{base}/start_answer")
    _post(signed_in, f"{base}/confirm_receipt")
    # The secretary uploads on the student's behalf: refused unless a PDF/JPEG/PNG.
    res = signed_in.post(f"{base}/upload", data={"confirm": "yes", "pages": "3",
                                                 "files": [(__import__("io").BytesIO(b"<script>"), "x.html")]},
                         content_type="multipart/form-data", follow_redirects=True)
    assert "not a PDF, JPEG or PNG" in res.get_data(as_text=True)
    res = signed_in.post(f"{base}/upload", data={"confirm": "yes", "pages": "3",
                                                 "files": [(__import__("io").BytesIO(PDF), "../../etc/passwd")]},
                         content_type="multipart/form-data", follow_redirects=True)
    assert "uploaded on behalf of" in res.get_data(as_text=True)
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = board["students"][0]
    assert (row["stage"], row["files"], row["pages_declared"], row["uploaded_by_secretary"]) == (
        "uploaded", 1, 3, True)
    assert row["uploaded_files"] == ["answer-01.pdf"]
    got = signed_in.get(f"{base}/files/answer-01.pdf")
    assert got.status_code == 200
    assert got.data == PDF
    assert signed_in.get(f"{base}/files/..%2F..%2Fsecret").status_code == 404
    # The answer starts; the next student is announced (queued), and only one answers at a time.
    queue = state(app).queue
    before = queue.huey.pending_count()
    _post(signed_in, f"{base}/start_answer")
    assert queue.huey.pending_count() == before + 1
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = board["students"][0]
    assert row["stage"] == "answering"
    assert row["timer"]["phase"] == "answer"
    assert board["answering"] == first
    assert board["next_up"] == board["students"][1]["name"]
    _post(signed_in, f"/sessions/{code}/board/students/{second}/identify")
    _draw(app, second)
    with transaction(state(app).sessionmaker) as db:
        db.scalar(select(StudentRecord).where(StudentRecord.student_ref == second)).files_received = 1
    assert "one student answers at a time" in _post(signed_in, f"/sessions/{code}/board/students/{second}/start_answer")
    _post(signed_in, f"{base}/finish_answer")
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert board["students"][0]["stage"] == "answered"
    assert board["students"][0]["votes"]["cast"] == 0
    assert board["students"][0]["votes"]["missing"]
    with state(app).sessionmaker() as db:
        kinds = [e.kind for e in db.scalars(select(BoardEvent).order_by(BoardEvent.id))]
        assert {"identified", "uploaded", "answer_started", "answer_ended"} <= set(kinds)
        actions = set(db.scalars(select(AuditEvent.action)))
        assert {"board.identified", "board.receipt_confirmed", "board.uploaded_on_behalf",
                "board.answer_started", "board.answer_ended"} <= actions


def test_an_exception_from_the_board_returns_to_the_board(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    res = signed_in.post(f"/sessions/{code}/students/{refs[0]}/exception", data={
        "kind": "refused", "reason": "refused on camera", "confirm": "yes",
        "next": f"/sessions/{code}/board"})
    assert res.status_code == 302
    assert res.location.startswith(f"/sessions/{code}/board")
    # Elsewhere is not a page to go back to.
    res = signed_in.post(f"/sessions/{code}/students/{refs[1]}/exception", data={
        "kind": "no_show", "reason": "x", "confirm": "yes", "next": "https://evil.example/"})
    assert res.location.startswith(f"/sessions/{code}")
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = board["students"][0]
    assert row["stage"] == "exception"
    assert row["exception"]["kind"] == "refused"
    assert not row["actions"]


def test_an_absent_student_gets_a_new_slot_on_the_next_sitting_day(app: Flask, upload: Any,
                                                                   signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    _post(signed_in, f"/sessions/{code}/students/{refs[0]}/exception", kind="absent_valid",
          reason="illness", chair_consent="yes")
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    assert len(board["days"]) >= 2
    first_day = board["days"][0]["day"]
    row = next(s for s in signed_in.get(f"/sessions/{code}/board.json?day={first_day}").get_json()["students"]
               if s["ref"] == refs[0])
    assert row["stage"] == "exception"
    assert row["exception"]["moved_to"]
    with state(app).sessionmaker() as db:
        from lms_bridge.store.models import StudentExceptionRecord

        moved_to = db.scalar(select(StudentExceptionRecord.moved_to))
    later = signed_in.get(f"/sessions/{code}/board.json?day={moved_to.isoformat()}").get_json()
    row = next(s for s in later["students"] if s["ref"] == refs[0])
    assert row["extra_slot"]
    assert row["planned"]
    assert row["stage"] == "exception"
    assert any(a["action"] == "identify" for a in row["actions"])


def test_links_of_the_day_are_checked_saved_and_posted(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code, _refs = _imported(app, upload)
    day = signed_in.get(f"/sessions/{code}/board.json").get_json()["day"]
    page = _post(signed_in, f"/sessions/{code}/board/links", day=day, meeting_url="javascript:alert(1)")
    assert "must be a web address" in page
    queue = state(app).queue
    before = queue.huey.pending_count()
    page = _post(signed_in, f"/sessions/{code}/board/links", day=day, meeting_url="https://meet.example.kz/abc",
                 recording_url="https://drive.example.kz/rec", post="yes")
    assert 'id="meeting-link" href="https://meet.example.kz/abc"' in page
    assert queue.huey.pending_count() == before + 1
    with state(app).sessionmaker() as db:
        rec = db.scalar(select(SittingDayRecord))
        assert rec.day.isoformat() == day
        assert rec.recording_url == "https://drive.example.kz/rec"


def test_the_board_json_is_json(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code, _refs = _imported(app, upload)
    res = signed_in.get(f"/sessions/{code}/board.json")
    assert res.mimetype == "application/json"
    json.loads(res.get_data(as_text=True))
    assert signed_in.get(f"/sessions/{code}/board?day=not-a-day").status_code == 404


def test_a_technical_failure_draws_up_an_act_for_every_member_the_same_day(app: Flask, upload: Any,
                                                                          signed_in: FlaskClient) -> None:
    import io

    from pypdf import PdfReader

    from lms_bridge.store.models import OutboxEmail

    code, refs = _imported(app, upload)
    page = _post(signed_in, f"/sessions/{code}/students/{refs[2]}/exception", kind="technical_failure",
                 reason="the student's connection dropped at 10:40 and did not come back",
                 continuation="later", next=f"/sessions/{code}/board")
    assert "in the outbox for every member" in page
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        members = {m.email for m in exam.members if m.active}
        emails = list(db.scalars(select(OutboxEmail)))
        assert {e.recipient for e in emails} == members
        assert len(emails) == len(members)
        local_day = datetime.now(UTC).astimezone(__import__("zoneinfo").ZoneInfo(exam.timezone)).date()
        assert all(e.created_at.astimezone(__import__("zoneinfo").ZoneInfo(exam.timezone)).date() == local_day
                   for e in emails)
        first = emails[0]
        assert "failure-act" in first.attachments[0]["filename"]
        # In the session's language (Kazakh), whatever the page's language.
        assert "ақау" in first.subject.lower() or "акт" in first.subject.lower()
    res = signed_in.get(f"/outbox/{first.id}/attachments/0")
    text = " ".join(PdfReader(io.BytesIO(res.data)).pages[0].extract_text().split())
    assert "connection dropped" in text
    assert "АКТ" in text
    # Continued later: the student keeps a new slot on the board.
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    again = [s for s in board["students"] if s["ref"] == refs[2]]
    assert [s["extra_slot"] for s in again] == [False, True]
    assert again[1]["stage"] == "exception"


def test_after_a_technical_failure_the_secretary_chooses_the_day_it_continues(app: Flask, upload: Any,
                                                                            signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    board = signed_in.get(f"/sessions/{code}/board.json").get_json()
    row = next(s for s in board["students"] if s["ref"] == refs[0])
    offered = [d["day"] for d in row["continue_days"]]
    # The commission's next sitting day first (the sample sits one day: the next working day).
    assert offered
    assert offered[0] > board["day"]
    page = signed_in.get(f"/sessions/{code}/board?day={board['day']}").get_data(as_text=True)
    assert f'<option value="{offered[0]}">' in page
    assert "later today" in page
    # A day that is not one of the commission's later sitting days is refused, and nothing is recorded.
    page = _post(signed_in, f"/sessions/{code}/students/{refs[0]}/exception", kind="technical_failure",
                 reason="the connection dropped", continuation="later", continue_on=board["day"],
                 next=f"/sessions/{code}/board")
    assert "later sitting days" in page
    _post(signed_in, f"/sessions/{code}/students/{refs[0]}/exception", kind="technical_failure",
          reason="the connection dropped", continuation="later", continue_on=offered[0],
          next=f"/sessions/{code}/board")
    first = signed_in.get(f"/sessions/{code}/board.json?day={board['day']}").get_json()
    mine = [s for s in first["students"] if s["ref"] == refs[0]]
    assert [(s["extra_slot"], s["stage"]) for s in mine] == [(False, "exception")]  # no slot later today
    later = signed_in.get(f"/sessions/{code}/board.json?day={offered[0]}").get_json()
    assert later["day"] == offered[0]
    row = next(s for s in later["students"] if s["ref"] == refs[0])
    assert row["extra_slot"]
    assert row["planned"]
    assert [a["action"] for a in row["actions"]][:1] == ["identify"]


def test_the_boards_admit_checks_identification_then_admits(app: Flask, upload: Any,
                                                            signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    base = f"/sessions/{code}/board/students/{refs[0]}"
    assert "Identify" in _post(signed_in, f"{base}/admit")
    _post(signed_in, f"{base}/identify")
    row = signed_in.get(f"/sessions/{code}/board.json").get_json()["students"][0]
    assert [a["action"] for a in row["actions"]][:1] == ["admit"]
    # The sample sits on 2026-06-10, not today: the admission's own rule refuses, in its words.
    page = _post(signed_in, f"{base}/admit")
    assert "Admitted to the draw: ticket" not in page
    assert 'class="flash flash-error"' in page
    with state(app).sessionmaker() as db:
        assert db.scalar(select(StudentRecord.ticket_number).where(StudentRecord.student_ref == refs[0])) is None


def test_closing_a_vote_from_the_board_returns_to_the_board(app: Flask, upload: Any,
                                                            signed_in: FlaskClient) -> None:
    code, refs = _imported(app, upload)
    res = signed_in.post(f"/sessions/{code}/students/{refs[0]}/close-vote", data={"next": f"/sessions/{code}/board"})
    assert res.status_code == 302
    assert res.location == f"/sessions/{code}/board"
    res = signed_in.post(f"/sessions/{code}/students/{refs[0]}/close-vote", data={"next": "//evil.example/x"})
    assert res.location.startswith(f"/sessions/{code}#")



def test_a_day_other_than_today_is_never_running_late(app: Flask, upload: Any) -> None:
    from lms_bridge.results.sitting import build_board

    _imported(app, upload)
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        day = exam.starts_at.astimezone(ZoneInfo(exam.timezone)).date()
        # Three hours into the sitting day and nobody has answered: the board runs late.
        on_the_day = build_board(db, exam, day, now=exam.starts_at + timedelta(hours=3))
        assert on_the_day.delay_minutes > 0
        # The same day's board a month later is a record of the day, not a running late.
        later = build_board(db, exam, day, now=exam.starts_at + timedelta(days=30))
        assert later.day == day
        assert later.delay_minutes == 0
