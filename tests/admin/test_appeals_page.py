"""The appeals on the session page and the appeals page: each appeal's next deadline, an overdue one
standing out, the statement's links and the refusal's reason."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AppealRecord, ExamSession, StudentRecord, User

from .conftest import SAMPLE_YAML


def _with_appeals(app: Flask, upload: Any) -> str:
    res = upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml")
    assert res.status_code in (200, 302)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        first, second = list(db.scalars(select(StudentRecord).where(StudentRecord.session_id == exam.id)
                                        .order_by(StudentRecord.position)))[:2]
        # Filed on Friday 3 July 2026: the hearing was due by Wednesday 8 July, long past by now.
        db.add(AppealRecord(session_id=exam.id, student_id=first.id, status="filed",
                            filed_at=datetime(2026, 7, 3, 7, tzinfo=UTC), filed_on=date(2026, 7, 3),
                            closes_on=date(2026, 7, 7), original_letter="C+", original_points=72,
                            statement=[{"title": "өтініш.pdf", "link": "https://drive.example/1"},
                                       {"title": "<script>x</script>", "link": "javascript:alert(1)"}]))
        db.add(AppealRecord(session_id=exam.id, student_id=second.id, status="refused",
                            filed_at=datetime(2026, 7, 8, 4, tzinfo=UTC), filed_on=date(2026, 7, 8),
                            closes_on=date(2026, 7, 7), original_letter="B", refusal="filed after 07.07.2026"))
        return exam.code


def test_the_session_page_shows_each_appeals_next_deadline_and_an_overdue_one_stands_out(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _with_appeals(app, upload)
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    card = page[page.index('id="appeals"'):]
    assert 'class="overdue"' in card
    assert "hearing by" in card
    assert "Jul 8, 2026" in card
    assert "refused: filed late" in card


def test_the_appeals_page_lists_statement_deadline_and_refusal_safely(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _with_appeals(app, upload)
    # The statement is the technical secretary's to read (and the appeal commission's), not the
    # administrator's: the signed-in administrator is this session's technical secretary here.
    with transaction(state(app).sessionmaker) as db:
        account = db.scalar(select(User).where(User.username == "secretary"))
        assert account is not None
        account.email = "m.tursynbayeva@univ.edu.kz"
    page = signed_in.get(f"/sessions/{code}/appeals").get_data(as_text=True)
    assert '<tr id="appeal-' in page
    assert 'class="overdue"' in page
    assert '<a href="https://drive.example/1"' in page
    # A title from a student is text, and a link that is not http(s) is not made a link.
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "javascript:alert" not in page
    assert "filed after 07.07.2026" in page
    assert "Schedule the hearing" in page


def test_a_hearing_outside_the_window_is_refused_in_plain_words(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _with_appeals(app, upload)
    with state(app).sessionmaker() as db:
        appeal = db.scalar(select(AppealRecord).where(AppealRecord.status == "filed"))
        assert appeal is not None
        appeal_id = appeal.id
    res = signed_in.post(f"/sessions/{code}/appeals/{appeal_id}/hearing", follow_redirects=True,
                         data={"at": "2026-07-09T10:00", "link": "https://meet.google.com/x"})
    page = res.get_data(as_text=True)
    assert "The hearing must be held by 2026-07-08" in page


def test_an_overdue_hearing_offers_to_go_ahead_and_still_checks_the_day(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _with_appeals(app, upload)
    page = signed_in.get(f"/sessions/{code}/appeals").get_data(as_text=True)
    assert 'name="overdue"' in page
    with state(app).sessionmaker() as db:
        appeal = db.scalar(select(AppealRecord).where(AppealRecord.status == "filed"))
        assert appeal is not None
        appeal_id = appeal.id
    res = signed_in.post(f"/sessions/{code}/appeals/{appeal_id}/hearing", follow_redirects=True,
                         data={"at": "2026-07-11T10:00", "link": "https://meet.google.com/x", "overdue": "yes"})
    assert "The hearing day is not a working day." in res.get_data(as_text=True)


def test_the_appeals_state_and_next_deadline_are_readable_as_json(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _with_appeals(app, upload)
    data = signed_in.get(f"/sessions/{code}/appeals.json").get_json()
    assert data["session"] == code
    by_status = {a["status"]: a for a in data["appeals"]}
    assert set(by_status) == {"filed", "refused"}
    filed = by_status["filed"]
    assert (filed["filed_on"], filed["closes_on"], filed["original"]) == ("2026-07-03", "2026-07-07", "C+")
    # Monday 6 July is Capital Day: two working days after Friday 3 July end on Wednesday 8 July.
    assert filed["deadline"] == {"kind": "hearing", "label": "hearing by", "due": "2026-07-08", "overdue": True}
    assert by_status["refused"]["deadline"] is None
    assert by_status["refused"]["status_label"] == "refused: filed late"
    # The statement is for the page itself, not for what polls it.
    assert "statement" not in filed
    assert "drive.example" not in signed_in.get(f"/sessions/{code}/appeals.json").get_data(as_text=True)
    assert signed_in.get("/sessions/NO-SUCH-SESSION/appeals.json").status_code == 404
    res = app.test_client().get(f"/sessions/{code}/appeals.json")  # not signed in
    assert res.status_code == 401
    assert res.get_json() == {"error": "sign-in required"}
