"""The admin page on PostgreSQL (the production store): sign-in, upload, the lists and the button."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from lms_bridge.admin.auth import create_user
from lms_bridge.app import create_app, state
from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.db import transaction
from lms_bridge.store.models import ProvisioningRun

from .conftest import PASSWORD, SAMPLE_YAML

pytestmark = pytest.mark.production


@pytest.fixture
def pg_app(tmp_path: Path) -> Iterator[Flask]:
    raw = os.environ.get("LMS_BRIDGE_TEST_DATABASE_URL")
    if not raw:
        pytest.skip("LMS_BRIDGE_TEST_DATABASE_URL is not set")
    base = make_url(raw)
    name = f"{base.database or 'lms_bridge'}_admin_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        # A PostgreSQL store is a production configuration: the sandboxes are asked for by name.
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), default_language="en",
                                 database_url=base.set(database=name).render_as_string(hide_password=False),
                                 google={"mode": "sandbox"}, moodle={"mode": "sandbox"})
        app = create_app(settings, testing=True)
        app.config["WTF_CSRF_ENABLED"] = False
        jobqueue.configure(settings, engine=state(app).engine)
        with transaction(state(app).sessionmaker) as db:
            create_user(db, "secretary", PASSWORD)
        yield app
        jobqueue.reset()
        state(app).engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_admin_page_on_postgresql(pg_app: Flask) -> None:
    client = pg_app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.post("/login", data={"username": "secretary", "password": PASSWORD}).status_code == 302
    res = client.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE_YAML.read_bytes()), "s.yaml")},
                      content_type="multipart/form-data")
    assert res.status_code == 302
    code = res.location.rsplit("/", 1)[-1]
    listing = client.get("/sessions").get_data(as_text=True)
    assert code in listing
    from lms_bridge.sessionfile import load_session

    spec = load_session(SAMPLE_YAML)
    assert f"{len(spec.admitted)} / {len(spec.students)}" in listing  # counted by the database
    assert client.get(f"/sessions/{code}").status_code == 200
    assert client.post(f"/sessions/{code}/provision").status_code == 302
    with state(pg_app).sessionmaker() as db:
        run_id = db.scalar(select(ProvisioningRun.id))
    data = client.get(f"/sessions/{code}/runs/{run_id}.json").get_json()
    assert data["status"] == "queued"
    assert len(client.get(f"/sessions/{code}/students.json").get_json()["students"]) == len(spec.students)
