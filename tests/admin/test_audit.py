"""The audit trail: one student's whole story, from import to seal; filters, pages, CSV, who may read it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.admin.audit import safe_cell
from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    CommissionMember,
    DecisionRecord,
    ExamSession,
    ProvisioningRun,
    StudentRecord,
    WritebackRecord,
)

from .conftest import SAMPLE_YAML
from .test_roles import CODE, _add_people, sign_in

STORY = [  # what the page must tell of the first student, oldest first
    "session.created", "admin.provision", "provisioning.run", "commission.identified", "admin.draw_tickets",
    "ticket.drawn", "ballot.received", "decision.recorded", "results.released", "writeback", "session.sealed",
]


def _sitting(app: Flask, admin: FlaskClient) -> str:
    """The sample session through its day, the way the page and the workers record it."""
    from lms_bridge.results.ballots import tally_student
    from lms_bridge.results.draw import draw_ticket

    assert admin.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE_YAML.read_bytes()), "s.yaml")},
                      content_type="multipart/form-data").status_code == 302
    assert admin.post(f"/sessions/{CODE}/provision").status_code == 302
    with transaction(state(app).sessionmaker) as db:  # the worker ran the plan
        exam = db.scalar(select(ExamSession).where(ExamSession.code == CODE))
        run = db.scalar(select(ProvisioningRun))
        run.status, run.started_at, run.finished_at, run.created = "succeeded", datetime.now(UTC), datetime.now(
            UTC), 42
        exam.status = "provisioned"
        # The sitting is today (tickets are drawn on a sitting day only), in the session's own time zone.
        zone = ZoneInfo(exam.timezone)
        exam.starts_at = datetime.combine(datetime.now(zone).date(), time(0, 1), tzinfo=zone)
    assert admin.post(f"/sessions/{CODE}/identified", data={"confirm": "yes"}).status_code == 302
    assert admin.post(f"/sessions/{CODE}/draw").status_code == 302
    with transaction(state(app).sessionmaker) as db:  # the draw job, and the commission's votes
        exam = db.scalar(select(ExamSession).where(ExamSession.code == CODE))
        admitted = [s for s in exam.students if s.admitted]
        voters = list(db.scalars(select(CommissionMember).where(CommissionMember.session_id == exam.id,
                                                                CommissionMember.role != "secretary")))
        at = datetime.now(UTC)
        for i, student in enumerate(admitted):
            draw_ticket(db, exam, student)
            for j, member in enumerate(voters):
                db.add(BallotRecord(session_id=exam.id, student_id=student.id, member_id=member.id,
                                    voter_email=member.email, form_id=f"form-{i}", response_id=f"r-{i}-{j}",
                                    submitted_at=at + timedelta(seconds=j), grade="A-", status="counted"))
            db.flush()
            tally_student(db, exam, student)
        first = admitted[0].student_ref
    assert admin.post(f"/sessions/{CODE}/release", data={"confirm": "yes"}).status_code == 302
    with transaction(state(app).sessionmaker) as db:  # the write-back jobs
        for decision in db.scalars(select(DecisionRecord)):
            found = db.scalar(select(WritebackRecord).where(WritebackRecord.decision_id == decision.id,
                                                            WritebackRecord.target == "moodle"))
            if found is None:
                db.add(WritebackRecord(decision_id=decision.id, target="moodle", status="done", attempts=1))
            else:
                found.status, found.attempts = "done", 1
    assert admin.post(f"/sessions/{CODE}/seal", data={"confirm": "yes"}).status_code == 302
    return first


def test_the_page_tells_one_students_whole_story_from_import_to_seal(app: Flask, signed_in: FlaskClient) -> None:
    first = _sitting(app, signed_in)
    page = signed_in.get(f"/sessions/{CODE}/audit?student={first}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    shown = [line.split('"')[1] for line in html.split("<tr data-action=")[1:]]
    # Newest first on the page; every step of the story is there, in the order it happened.
    story = [a for a in reversed(shown) if a in STORY]
    assert [a for a in STORY if a in story] == STORY
    assert story.index("session.created") == 0
    assert story[-1] == "session.sealed"
    # Only this student's rows besides the session-wide ones.
    with state(app).sessionmaker() as db:
        others = [s.name for s in db.scalars(select(StudentRecord).where(StudentRecord.student_ref != first))]
    table = html.split('id="audit-table"')[1]
    assert not any(name in table for name in others)
    # The ballots say who voted and how each was counted, never the grade (the vote may be secret).
    assert "g.seitkaliyeva@univ.edu.kz" in html
    assert "status: counted" in html  # how it was counted
    assert "A-" not in html.split('id="audit-table"')[1].split("decision.recorded")[0]


def test_filters_pages_and_csv(app: Flask, signed_in: FlaskClient) -> None:
    _sitting(app, signed_in)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == CODE))
        # A name that a spreadsheet would take for a formula, and enough events for three pages.
        db.add(AuditEvent(session_id=exam.id, actor='=HYPERLINK("http://evil")', action="x.test",
                          detail={"note": "+cmd|' /C calc'!A0"}))
        for i in range(220):
            db.add(AuditEvent(session_id=exam.id, actor="worker", action="x.filler", detail={"i": i}))
    first = signed_in.get(f"/sessions/{CODE}/audit")
    assert 'rel="next"' in first.get_data(as_text=True)
    assert signed_in.get(f"/sessions/{CODE}/audit?page=3").status_code == 200
    assert signed_in.get(f"/sessions/{CODE}/audit?page=99").status_code == 404
    res = signed_in.get(f"/sessions/{CODE}/audit.csv")
    assert res.status_code == 200
    assert res.mimetype == "text/csv"
    assert "attachment" in res.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(res.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) > 230
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell
    assert any(cell == "'=HYPERLINK(\"http://evil\")" for row in rows for cell in row)


def test_who_may_read_the_trail(app: Flask, upload: Any) -> None:
    assert upload(SAMPLE_YAML.read_bytes(), "s.yaml").status_code == 302
    _add_people(app)
    for who, status in (("secretary", 200), ("chair", 200), ("head", 200), ("member", 403), ("outsider", 404)):
        assert sign_in(app, who).get(f"/sessions/{CODE}/audit").status_code == status, who
        assert sign_in(app, who).get(f"/sessions/{CODE}/audit.csv").status_code == status, who
    # The whole site's trail (sign-ins, every session) is the administrator's.
    assert sign_in(app, "secretary").get("/audit").status_code == 403
    admin = sign_in(app, "admin")
    page = admin.get("/audit").get_data(as_text=True)
    assert 'data-action="admin.sign_in"' in page
    assert admin.get("/audit.csv").status_code == 200


def test_safe_cell() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("-2") == "'-2"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("\tx") == "'\tx"
    assert safe_cell("line\nbreak") == "line break"
    assert safe_cell("Аманов") == "Аманов"
