"""A test exam's admission ratings from the university system's export: on the session page (the
technical secretary uploads the file), through the API and on the command line; all stored or none,
each problem named by file, row and column, recorded in the audit trail."""

from __future__ import annotations

import io
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.config import Settings
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AuditEvent, ExamSession, StudentRecord, User

from .test_kinds_page import _upload_kind


def _ratings(app: Flask) -> dict[str, float | None]:
    with state(app).sessionmaker() as db:
        return {s.student_ref: s.admission_rating for s in db.scalars(select(StudentRecord))}


def _refs(app: Flask) -> list[str]:
    with state(app).sessionmaker() as db:
        return [s.student_ref for s in sorted(db.scalars(select(StudentRecord)), key=lambda s: s.position)
                if s.admitted and s.active]


def test_the_secretary_uploads_the_export_all_or_nothing(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "test_exam")
    refs = _refs(app)
    before = _ratings(app)
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="ratings-form"' in page
    bad = f"ФИО;ID студента;Рейтинг допуска\nA;{refs[0]};52,5\nB;{refs[1]};61\nC;999;40\n".encode()
    res = signed_in.post(f"/sessions/{code}/ratings", data={"ratings": (io.BytesIO(bad), "platonus.csv")},
                         content_type="multipart/form-data", follow_redirects=True)
    text = res.get_data(as_text=True)
    assert "platonus.csv" in text
    assert "row 3" not in text
    assert "line 3" in text
    assert "Рейтинг допуска" in text
    assert "line 4" in text
    assert "nothing was stored" in text
    assert _ratings(app) == before  # not even the good first row
    good = "\n".join(["Student ID,Admission rating", f"{refs[0]},52.5", f"{refs[1]},41"]).encode()
    res = signed_in.post(f"/sessions/{code}/ratings", data={"ratings": (io.BytesIO(good), "platonus.csv")},
                         content_type="multipart/form-data", follow_redirects=True)
    assert "2 admission ratings stored" in res.get_data(as_text=True)
    after = _ratings(app)
    assert (after[refs[0]], after[refs[1]]) == (52.5, 41.0)
    assert "rating 52.5" in signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    with state(app).sessionmaker() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "ratings.imported"))
        assert event.actor == "secretary"
        assert event.detail["file"] == "platonus.csv"
        assert {c["student"]: c["new"] for c in event.detail["changed"]} == {refs[0]: 52.5, refs[1]: 41.0}


def test_an_oral_exam_has_no_ratings_to_import(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _upload_kind(app, upload, "oral_exam")
    assert 'id="ratings-form"' not in signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    res = signed_in.post(f"/sessions/{code}/ratings", data={"ratings": (io.BytesIO(b"ID;Rating\n1;1\n"), "r.csv")},
                         content_type="multipart/form-data", follow_redirects=True)
    assert "not a test exam" in res.get_data(as_text=True)


def test_the_api_takes_the_file_as_the_body(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from lms_bridge.admin.tokens import create_token
    from lms_bridge.domain.access import Role

    code = _upload_kind(app, upload, "test_exam")
    refs = _refs(app)
    with transaction(state(app).sessionmaker) as db:
        _row, token = create_token(db, db.scalar(select(User)), role=Role.ADMINISTRATOR, days=1, name="ratings")
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    res = api.post(f"/api/sessions/{code}/ratings?name=export.csv", data="E-mail;Рейтинг\nnobody@x.kz;50\n",
                   headers=headers)
    assert res.status_code == 422
    assert res.get_json()["problems"][0]["line"] == 2
    res = api.post(f"/api/sessions/{code}/ratings?name=export.csv", data=f"ID;Рейтинг\n{refs[0]};33,5\n",
                   headers=headers)
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.get_json()["rows"] == 1
    assert _ratings(app)[refs[0]] == 33.5


def test_the_command_line_import(app: Flask, upload: Any, settings: Settings, tmp_path: Any,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from lms_bridge.cli import cli

    code = _upload_kind(app, upload, "test_exam")
    refs = _refs(app)
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    bad = tmp_path / "export.csv"
    bad.write_text(f"ID;Rating\n{refs[0]};45\n{refs[0]};46\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ratings", code, str(bad)])
    assert result.exit_code == 1
    assert "export.csv: line 3" in result.output
    assert "given twice" in result.output
    good = tmp_path / "good.csv"
    good.write_text(f"ID;Rating\n{refs[0]};45\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ratings", code, str(good), "--actor", "registrar-office"])
    assert result.exit_code == 0, result.output
    assert _ratings(app)[refs[0]] == 45.0
    with state(app).sessionmaker() as db:
        assert db.scalar(select(AuditEvent.actor).where(AuditEvent.action == "ratings.imported")) == "registrar-office"
        assert db.scalar(select(ExamSession.code)) == code
