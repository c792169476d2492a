"""Texts at their limits on PostgreSQL, which (unlike SQLite) enforces column lengths.

A name of 256 characters used to pass ``check`` and then fail the import with a traceback; now the
longest accepted texts fit their columns and one character more is refused before the store.
"""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import Engine, func, select

from lms_bridge.admin.auth import create_user
from lms_bridge.app import create_app, state
from lms_bridge.config import load_settings
from lms_bridge.sessionfile import read_session
from lms_bridge.store.db import make_sessionmaker, transaction
from lms_bridge.store.models import ExamSession, StudentRecord
from lms_bridge.store.repo import import_session

SAMPLE = (Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml").read_text(encoding="utf-8")
FIRST_NAME = SAMPLE.split("students:", 1)[1].split("name:", 1)[1].split("\n", 1)[0].strip()
FIRST_ID = SAMPLE.split("students:", 1)[1].split("id:", 1)[1].split("\n", 1)[0].strip()
TITLE = SAMPLE.split("title:", 1)[1].split("\n", 1)[0].strip()


def _longest(extra: int = 0) -> bytes:
    text = SAMPLE.replace(f"name: {FIRST_NAME}", f'name: "{"Ә" * (255 + extra)}"', 1)
    text = text.replace(f"id: {FIRST_ID}", f'id: "{"0" * 64}"', 1)
    return text.replace(f"title: {TITLE}", f'title: "{"ұ" * 500}"', 1).encode()


def test_the_longest_accepted_texts_fit_postgresql_columns(pg_engine: Engine) -> None:
    spec, problems = read_session(_longest(), "longest.yaml")
    assert problems == []
    assert spec is not None
    with transaction(make_sessionmaker(pg_engine)) as db:
        import_session(db, spec, source_name="longest.yaml", actor="test")
    with make_sessionmaker(pg_engine)() as db:
        names = db.scalars(select(StudentRecord.name)).all()
        assert "Ә" * 255 in names
        assert db.scalar(select(StudentRecord.student_ref).where(StudentRecord.name == "Ә" * 255)) == "0" * 64


def test_one_character_more_is_refused_on_the_upload_page(pg_engine: Engine, tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path), default_language="en",
                             database_url=pg_engine.url.render_as_string(hide_password=False),
                             google={"mode": "sandbox"}, moodle={"mode": "sandbox"})
    app = create_app(settings, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        with transaction(state(app).sessionmaker) as db:
            create_user(db, "secretary", "correct horse battery", language="en")
        client = app.test_client()
        assert client.post("/login", data={"username": "secretary",
                                           "password": "correct horse battery"}).status_code == 302
        res = client.post("/sessions/upload", data={"file": (io.BytesIO(_longest(1)), "long.yaml")},
                          content_type="multipart/form-data")
        assert res.status_code == 422
        page = res.get_data(as_text=True)
        assert "256 characters long; at most 255" in page
        assert "<code>name</code>" in page
        with state(app).sessionmaker() as db:
            assert db.scalar(select(func.count()).select_from(ExamSession)) == 0
        # A browser may send any file name: a long one with a tab is stored cut and on one line.
        name = "сессия\t" + "ә" * 400 + ".yaml"
        res = client.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE.encode()), name)},
                          content_type="multipart/form-data")
        assert res.status_code == 302
        with state(app).sessionmaker() as db:
            source = db.scalar(select(ExamSession.source_name))
            assert source is not None
            assert len(source) == 255
            assert source.startswith("сессия ә")
    finally:
        state(app).engine.dispose()
