"""The protocol's last day to appeal follows the configured filing window (``[appeals]``), not the
Ministry's minimum of 2 working days."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select

from lms_bridge.app import create_app, state
from lms_bridge.config import Settings
from lms_bridge.domain.workdays import AppealSettings, filing_closes
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.db import transaction
from lms_bridge.store.models import DecisionRecord, ExamSession, OutboxEmail

from .conftest import SAMPLE_YAML

WINDOW = 5


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    wider = dataclasses.replace(settings, appeals=dataclasses.replace(settings.appeals,
                                                                      filing_working_days=WINDOW))
    application = create_app(wider, testing=True)
    application.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(wider, engine=state(application).engine)
    yield application
    jobqueue.reset()
    state(application).engine.dispose()


def test_the_sealed_protocol_gives_the_configured_last_day_to_appeal(app: Flask, upload: Any,
                                                                     signed_in: FlaskClient) -> None:
    client = signed_in
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        code = exam.code
        for st in exam.students:
            if st.admitted:
                db.add(DecisionRecord(session_id=exam.id, student_id=st.id, rule="mean", letter="B+",
                                      points=87.0, gpa=3.33, votes={}))
    _post(client, f"/sessions/{code}/release")
    _post(client, f"/sessions/{code}/seal")
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        assert exam.status == "sealed"
        assert exam.released_at is not None
        published = exam.released_at.astimezone(ZoneInfo(exam.timezone)).date()
        email = db.scalar(select(OutboxEmail))
        assert email is not None
        protocol = next(a for a in email.attachments if "-protocol-" in a["filename"]
                        and a["filename"].endswith(".pdf"))
    text = " ".join(page.extract_text() or "" for page in
                    PdfReader(state(app).settings.data_dir / protocol["path"]).pages)
    configured = filing_closes(published, AppealSettings(filing_working_days=WINDOW)).strftime("%d.%m.%Y")
    ministry = filing_closes(published, AppealSettings()).strftime("%d.%m.%Y")
    assert configured != ministry
    assert configured in text
    assert ministry not in text


def _post(client: FlaskClient, url: str) -> None:
    res = client.post(url, data={"confirm": "yes"})
    assert res.status_code == 302, res.get_data(as_text=True)
