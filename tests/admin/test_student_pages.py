"""A large session's page shows its students a page at a time, with the timetable slots of the
students shown; an action taken on a later page comes back to that page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.admin.queries import STUDENTS_PAGE_SIZE
from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import DecisionRecord, ExamSession, JournalEntry, StudentRecord

from .conftest import SAMPLE_YAML

TOTAL = 2 * STUDENTS_PAGE_SIZE + 7


def _imported(app: Flask, upload: Any) -> str:
    doc = yaml.safe_load(SAMPLE_YAML.read_text(encoding="utf-8"))
    doc["students"] = [{"id": f"2101{n:05d}", "name": f"Білім алушы {n:03d}",
                        "email": f"s{n:05d}@stud.univ.edu.kz", "admitted": n % 10 != 3} for n in range(TOTAL)]
    body = yaml.safe_dump(doc, allow_unicode=True).encode()
    assert upload(body, "session.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        return str(db.scalar(select(ExamSession.code)))


def _rows(html: str) -> list[str]:
    return re.findall(r"<strong>Білім алушы (\d{3})</strong>", html)


def test_students_a_page_at_a_time(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    seen: list[str] = []
    for page in (1, 2, 3):
        html = signed_in.get(f"/sessions/{code}?page={page}").get_data(as_text=True)
        rows = _rows(html)
        assert 0 < len(rows) <= STUDENTS_PAGE_SIZE
        seen += rows
        admitted = sum(1 for n in range(TOTAL) if n % 10 != 3)
        assert f"{admitted} admitted of {TOTAL}" in html  # the whole session's counts on every page
        assert f"Page {page} of 3" in html
        # The timetable lists the slots of the admitted students on this page, no others.
        timetable = html[html.index('id="timetable"'):html.index('id="tickets"')]
        slots = re.findall(r"<td>Білім алушы (\d{3})</td>", timetable)
        assert slots == [n for n in rows if int(n) % 10 != 3]
    assert seen == [f"{n:03d}" for n in range(TOTAL)]  # every student once, in order
    assert signed_in.get(f"/sessions/{code}?page=4").status_code == 404
    assert signed_in.get(f"/sessions/{code}?page=0").status_code == 404
    listed = signed_in.get(f"/sessions/{code}/students.json?page=3").get_json()["students"]
    assert [st["name"][-3:] for st in listed] == seen[2 * STUDENTS_PAGE_SIZE:]


def test_the_page_opens_where_the_sitting_is_and_actions_come_back_to_it(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        students = list(db.scalars(select(StudentRecord).order_by(StudentRecord.position)))
        for st in students[:STUDENTS_PAGE_SIZE + 5]:
            if st.admitted:
                db.add(DecisionRecord(session_id=exam.id, student_id=st.id, rule="mean", letter="B",
                                      points=80.0, gpa=3.0, votes={}))
        next_up = students[STUDENTS_PAGE_SIZE + 5]
    html = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Page 2 of 3" in html
    assert f"<strong>{next_up.name}</strong>" in html

    action = re.search(rf'action="(/sessions/{code}/students/{next_up.student_ref}/exception[^"]*)"', html)
    assert action is not None
    res = signed_in.post(action.group(1).replace("&amp;", "&"),
                         data={"kind": "absent_valid", "reason": "Ауырып қалды", "confirm": "yes"})
    assert res.status_code == 302
    assert res.location.endswith(f"/sessions/{code}?page=2#students")


def test_a_small_session_has_no_pages(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        code = db.scalar(select(ExamSession.code))
    html = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "Page 1 of" not in html
    assert "page=" not in html


def test_the_session_page_runs_the_same_few_queries_however_many_students(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    """Each kind of row the students table looks up is read once for the whole session, not once
    per student or once per kind of journal entry: 600 students cost what 57 do."""
    from sqlalchemy import event

    code = _imported(app, upload)
    statements: list[str] = []
    event.listen(state(app).engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert signed_in.get(f"/sessions/{code}?page=1").status_code == 200
    small = len(statements)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        assert exam is not None
        for n, student in enumerate(exam.students):
            db.add(JournalEntry(session_id=exam.id, step="moodle.users", key=f"moodle.user_conflict:{student.email}",
                                external_id="", data={"field": "idnumber"}, created_at=datetime.now(UTC))
                   if n % 2 else JournalEntry(session_id=exam.id, step="draw", key=f"admission:{student.student_ref}",
                                              external_id="", data={"failure": f"failure {n}"},
                                              created_at=datetime.now(UTC)))
        for n in range(TOTAL, TOTAL + 400):
            db.add(StudentRecord(session_id=exam.id, position=n, student_ref=f"2101{n:05d}", name=f"Білім алушы {n}",
                                 email=f"s{n:05d}@stud.univ.edu.kz", admitted=True))
    statements.clear()
    html = signed_in.get(f"/sessions/{code}?page=1").get_data(as_text=True)
    assert len(statements) == small <= 15, statements
    assert "failure 0" in html  # what the journal says still reaches the row
