"""The deadlines follow the configured windows (``[appeals]``), not the Ministry's minimum: the
protocol's last day to appeal, and the next deadline the appeals' JSON gives."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, date, datetime
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
from lms_bridge.store.models import AppealRecord, DecisionRecord, ExamSession, OutboxEmail

from .conftest import SAMPLE_YAML

WINDOW = 5
HEARING = 3


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    wider = dataclasses.replace(settings, appeals=dataclasses.replace(
        settings.appeals, filing_working_days=WINDOW, hearing_working_days=HEARING))
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


def test_the_next_deadline_counts_the_configured_hearing_window(app: Flask, upload: Any,
                                                                signed_in: FlaskClient) -> None:
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        code = exam.code
        db.add(AppealRecord(session_id=exam.id, student_id=exam.students[0].id, status="filed",
                            filed_at=datetime(2026, 7, 3, 7, tzinfo=UTC), filed_on=date(2026, 7, 3),
                            closes_on=date(2026, 7, 7), original_letter="C+"))
    # Friday 3 July; Monday 6 July is Capital Day: 3 working days end on Thursday 9 July (2 on the 8th).
    appeal = signed_in.get(f"/sessions/{code}/appeals.json").get_json()["appeals"][0]
    assert appeal["deadline"]["due"] == "2026-07-09"
    page = signed_in.get(f"/sessions/{code}/appeals").get_data(as_text=True)
    assert "Jul 9, 2026" in page
