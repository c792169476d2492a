"""The sitting's buttons: draw tickets (queued for the worker), close a vote, seal the session."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession, OutboxEmail, StudentRecord

from .conftest import SAMPLE_YAML


def _imported(app: Flask, upload: Any) -> str:
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        return str(db.scalar(select(ExamSession.code)))


def test_buttons_wait_for_provisioning(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="draw-button" disabled' in page
    assert 'id="seal-button" disabled' in page
    assert "Provision the session first." in page


def test_draw_tickets_is_queued(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    code = _imported(app, upload)
    queue = state(app).queue
    before = queue.huey.pending_count()
    # Not a sitting day (the sample sits in June): no early draw, and the page says when.
    res = signed_in.post(f"/sessions/{code}/draw", follow_redirects=True)
    assert "Today is not a sitting day" in res.get_data(as_text=True)
    assert queue.huey.pending_count() == before
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        zone = ZoneInfo(exam.timezone)
        if not 2 <= datetime.now(zone).hour <= 21:
            # Far from the session's midnight, so that "today" cannot change between here and the
            # admission below (Almaty's midnight is London's evening).
            exam.timezone = "Europe/London"
            zone = ZoneInfo(exam.timezone)
        exam.starts_at = datetime.combine(datetime.now(zone).date(), time(0, 1), tzinfo=zone)  # today, there
    res = signed_in.post(f"/sessions/{code}/draw")
    assert res.status_code == 302
    assert queue.huey.pending_count() == before + 1
    with state(app).sessionmaker() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.draw_tickets"))
        assert event is not None
        assert event.actor == "secretary"
    assert "being drawn" in signed_in.get(res.location).get_data(as_text=True)


def test_close_vote_without_a_form_says_so(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    with state(app).sessionmaker() as db:
        ref = db.scalar(select(StudentRecord.student_ref).where(StudentRecord.admitted.is_(True)))
    res = signed_in.post(f"/sessions/{code}/students/{ref}/close-vote", follow_redirects=True)
    assert "no voting form yet" in res.get_data(as_text=True)


def test_seal_refused_then_sealed(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    # Unconfirmed: nothing happens, and the page says why.
    res = signed_in.post(f"/sessions/{code}/seal", follow_redirects=True)
    assert "tick the box to confirm" in res.get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/seal", data={"confirm": "yes"}, follow_redirects=True)
    assert "neither a decision nor a recorded exception" in res.get_data(as_text=True)
    with state(app).sessionmaker() as db:
        assert db.scalar(select(ExamSession.status)) != "sealed"
        assert db.scalar(select(func.count()).select_from(OutboxEmail)) == 0

    # One student is absent for a valid reason; everyone else has a decision.
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        admitted = [st for st in exam.students if st.admitted]
        absent = admitted[0]
        absent_ref, absent_name = absent.student_ref, absent.name
        for st in admitted[1:]:
            db.add(DecisionRecord(session_id=exam.id, student_id=st.id, rule="mean", letter="B+",
                                  points=87.0, gpa=3.33, votes={}))
    res = signed_in.post(f"/sessions/{code}/students/{absent_ref}/exception", follow_redirects=True, data={
        "kind": "absent_valid", "reason": "illness, certificate to the chair", "chair_consent": "yes",
        "confirm": "yes"})
    page = res.get_data(as_text=True)
    assert "illness, certificate to the chair" in page
    assert 'data-exception="absent_valid"' in page
    # Results are released before the seal.
    res = signed_in.post(f"/sessions/{code}/seal", data={"confirm": "yes"}, follow_redirects=True)
    assert "has not released the results" in res.get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/release", data={"confirm": "yes"}, follow_redirects=True)
    assert "The results are released" in res.get_data(as_text=True)
    with state(app).sessionmaker() as db:
        actions = set(db.scalars(select(AuditEvent.action)))
        assert {"exception.recorded", "results.released"} <= actions

    res = signed_in.post(f"/sessions/{code}/seal", data={"confirm": "yes"})
    assert res.status_code == 302
    assert res.location == "/outbox"
    page = signed_in.get("/outbox").get_data(as_text=True)
    assert "documents are in the outbox" in page
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        assert exam.status == "sealed"
        members = [m for m in exam.members if m.active]
        emails = list(db.scalars(select(OutboxEmail)))
        assert {e.recipient for e in emails} == {m.email for m in members} | {
            exam.registrar_email, exam.department_email}
        first = emails[0]
    for i, att in enumerate(first.attachments):
        assert att["filename"] in page
        res = signed_in.get(f"/outbox/{first.id}/attachments/{i}")
        assert res.status_code == 200
        if att["filename"].endswith(".pdf"):
            assert res.data.startswith(b"%PDF")
        if att["filename"].endswith(f"protocol-{absent_ref}.pdf"):
            text = PdfReader(io.BytesIO(res.data)).pages[0].extract_text()
            assert absent_name.split()[0] in text
            assert "illness, certificate to the chair" in text
    # After sealing the page leads to the documents, not to Provision.
    session_page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="documents-button"' in session_page
    assert 'id="provision-button"' not in session_page
    # After sealing the seed is public and the sitting's buttons are gone.
    session_page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="draw-seed"' in session_page
    assert 'id="seal-button"' not in session_page


def test_admit_to_the_draw_is_a_plain_form_post(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    code = _imported(app, upload)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        exam.status = "provisioned"
        ref = next(st.student_ref for st in exam.students if st.admitted)
        refused_ref = next(st.student_ref for st in exam.students if not st.admitted)
    # Before the sitting day: refused, in plain words, and nothing drawn.
    res = signed_in.post(f"/sessions/{code}/students/{ref}/admit", data={"confirm": "yes"}, follow_redirects=True)
    assert "draws on that day, not today" in res.get_data(as_text=True)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert all(st.ticket_number is None for st in exam.students)
        zone = ZoneInfo(exam.timezone)
        if not 2 <= datetime.now(zone).hour <= 21:
            # Far from the session's midnight, so that "today" cannot change between here and the
            # admission below (Almaty's midnight is London's evening).
            exam.timezone = "Europe/London"
            zone = ZoneInfo(exam.timezone)
        exam.starts_at = datetime.combine(datetime.now(zone).date(), time(0, 1), tzinfo=zone)  # today, there
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert f'action="/sessions/{code}/students/{ref}/admit"' in page
    assert 'data-admission="waiting"' in page
    # Unconfirmed: nothing happens.
    res = signed_in.post(f"/sessions/{code}/students/{ref}/admit", follow_redirects=True)
    assert "tick the box to confirm" in res.get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/students/{ref}/admit", data={"confirm": "yes"}, follow_redirects=True)
    page = res.get_data(as_text=True)
    assert "Admitted to the draw: ticket" in page
    assert 'data-admission="drawn"' in page  # the worker opens it in Moodle next
    res = signed_in.post(f"/sessions/{code}/students/{ref}/admit", data={"confirm": "yes"}, follow_redirects=True)
    assert "a ticket is drawn once" in res.get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/students/{refused_ref}/admit", data={"confirm": "yes"},
                         follow_redirects=True)
    assert "not admitted by the session file" in res.get_data(as_text=True)
    assert signed_in.post(f"/sessions/{code}/students/nobody/admit", data={"confirm": "yes"}).status_code == 404
    with state(app).sessionmaker() as db:
        events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "admission.admitted")))
        assert [(e.actor, e.detail["student"]) for e in events] == [("secretary", ref)]
        assert db.scalar(select(StudentRecord.ticket_number).where(StudentRecord.student_ref == ref)) is not None
