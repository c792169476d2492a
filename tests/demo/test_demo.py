"""The embedded default in one process: store, demo login, sample session, sandboxes, the consumer
threads and the admin page under waitress; a sign-in over HTTP and a queued provisioning run."""

from __future__ import annotations

import re
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import Engine, select

from lms_bridge import sandbox
from lms_bridge.config import load_settings
from lms_bridge.demo import LOGIN_FILE, demo_sitting_start, ensure_demo_login, load_sample_session, start_demo
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.provisioning import service
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import ExamSession, ProvisioningRun
from lms_bridge.store.schema import ensure_schema


def _sign_in(http: requests.Session, url: str, username: str, password: str) -> requests.Response:
    page = http.get(f"{url}/login", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    assert token is not None, "the sign-in form carries a CSRF token"
    return http.post(f"{url}/login", data={"csrf_token": token.group(1), "username": username,
                                            "password": password, "next": ""}, timeout=10)


def test_demo_serves_the_admin_page_with_the_sample_session_and_provisions_it(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    demo = start_demo(settings, port=0)
    thread = threading.Thread(target=demo.serve_forever, daemon=True)
    thread.start()
    try:
        assert demo.url.startswith("http://127.0.0.1:")
        assert demo.settings.public_url == demo.url  # the sandboxes' webhooks reach this server
        assert demo.settings.sandbox_url  # the embedded sandboxes are up
        assert requests.get(f"{demo.url}/healthz", timeout=10).status_code == 200

        login_file = tmp_path / LOGIN_FILE
        assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
        http = requests.Session()
        assert _sign_in(http, demo.url, demo.login.username, "not-the-password").status_code == 401
        signed_in = _sign_in(http, demo.url, demo.login.username, demo.login.password)
        assert signed_in.status_code == 200
        sessions_page = http.get(f"{demo.url}/sessions", timeout=10)
        assert demo.session_code in sessions_page.text
        # The sample has an appeal commission, so the demo shows the appeals flow.
        appeals_page = http.get(f"{demo.url}/sessions/{demo.session_code}/appeals", timeout=10)
        assert appeals_page.status_code == 200
        assert "Ахметов Нұрлан Серікұлы" in appeals_page.text

        # The button's path: a run is queued in the SQLite queue and the consumer threads run it.
        run = service.provision(demo.settings, demo.session_code, trigger="admin")
        assert run.status == "queued"
        queue = jobqueue.get_queue()
        assert not queue.immediate
        deadline = time.monotonic() + 60
        status = run.status
        while time.monotonic() < deadline and status in ("queued", "running"):
            time.sleep(0.2)
            with queue.sessions() as db:
                current = db.get(ProvisioningRun, run.id)
                assert current is not None
                status, error = current.status, current.error
        assert status == "succeeded", error
    finally:
        demo.close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sandbox._embedded == {}


def test_the_demo_login_is_generated_once_and_kept(tmp_path: Path) -> None:
    from lms_bridge.admin.auth import authenticate
    from lms_bridge.store.db import make_sessionmaker
    from lms_bridge.store.models import User
    from lms_bridge.store.schema import ensure_schema

    settings = load_settings(environ={}, data_dir=str(tmp_path))
    engine = make_engine(settings.effective_database_url)
    try:
        ensure_schema(engine)
        first = ensure_demo_login(settings, engine)
        assert first == ensure_demo_login(settings, engine)
        assert len(first.password) >= 12
        factory = make_sessionmaker(engine)
        with factory() as db:
            assert authenticate(db, first.username, first.password) is not None
        # the kept password is lost: the account gets a new one, written down again
        (tmp_path / LOGIN_FILE).unlink()
        second = ensure_demo_login(settings, engine)
        assert second.password != first.password
        with factory() as db:
            assert authenticate(db, second.username, second.password) is not None
            assert authenticate(db, first.username, first.password) is None
            assert len(list(db.scalars(select(User)))) == 1
    finally:
        engine.dispose()


ALMATY = ZoneInfo("Asia/Almaty")
PLANNED = datetime(2026, 6, 10, 9, 0, tzinfo=ALMATY)


@pytest.mark.parametrize(("now", "expected"), [
    # Before the sample's own day: its own start.
    (datetime(2026, 6, 1, 12, 0, tzinfo=ALMATY), PLANNED),
    # A working morning after it: today, on the next half hour.
    (datetime(2026, 12, 2, 10, 7, tzinfo=ALMATY), datetime(2026, 12, 2, 10, 30, tzinfo=ALMATY)),
    # A working afternoon too late for a sitting: the next working day at the sample's hour.
    (datetime(2026, 12, 2, 16, 0, tzinfo=ALMATY), datetime(2026, 12, 3, 9, 0, tzinfo=ALMATY)),
    # Friday evening: Monday.  Independence Day (16 December, a Wednesday in 2026): the 17th.
    (datetime(2026, 12, 4, 18, 0, tzinfo=ALMATY), datetime(2026, 12, 7, 9, 0, tzinfo=ALMATY)),
    (datetime(2026, 12, 16, 10, 0, tzinfo=ALMATY), datetime(2026, 12, 17, 9, 0, tzinfo=ALMATY)),
])
def test_the_demo_moves_a_past_sitting_to_a_day_that_can_be_tried(now: datetime, expected: datetime) -> None:
    assert demo_sitting_start(PLANNED, now.astimezone(UTC)) == expected


def test_the_demo_sample_sits_on_a_day_still_ahead_or_today(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    now = datetime.now(UTC)
    code = load_sample_session(engine, now=now)
    with make_sessionmaker(engine)() as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        starts = exam.starts_at if exam.starts_at.tzinfo else exam.starts_at.replace(tzinfo=UTC)
        local_today = now.astimezone(ZoneInfo(exam.timezone)).date()
        assert starts.astimezone(ZoneInfo(exam.timezone)).date() >= local_today


def _stored(engine: Engine, code: str) -> ExamSession:
    with make_sessionmaker(engine)() as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
        assert exam is not None
        db.expunge(exam)
        return exam


@pytest.fixture
def demo_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    yield engine
    engine.dispose()


def _first_start(engine: Engine) -> tuple[str, datetime]:
    """The demo's first start a month after the sample's own day: the sitting lands on that day."""
    from lms_bridge.demo import sample_session_path
    from lms_bridge.sessionfile import load_session

    first = load_session(sample_session_path()).starts_at + timedelta(days=30)
    return load_sample_session(engine, now=first), first


def test_the_demo_started_again_days_later_moves_its_stored_sitting_and_keeps_the_rest(demo_store: Engine) -> None:
    from lms_bridge.demo import load_demo_session
    from lms_bridge.store.models import AuditEvent, JournalEntry

    code, first = _first_start(demo_store)
    before = _stored(demo_store, code)
    zone = ZoneInfo(before.timezone)
    with make_sessionmaker(demo_store)() as db:  # what the person did meanwhile
        db.add(JournalEntry(session_id=before.id, step="test", key="classroom.course", external_id="c-1"))
        db.commit()
    # Started again the same day: the day stays (a sitting under way is not moved).
    same_day = load_demo_session(demo_store, now=first + timedelta(hours=1))
    assert same_day.note == ""
    assert _stored(demo_store, code).starts_at == before.starts_at

    later = first + timedelta(days=9)
    again = load_demo_session(demo_store, now=later)
    after = _stored(demo_store, code)
    expected = demo_sitting_start(before.starts_at.astimezone(zone), later)
    assert after.starts_at == expected
    assert after.starts_at.astimezone(zone).date() >= later.astimezone(zone).date()
    assert "its sitting moved from" in again.note
    # everything else is kept: the same session, its draw commitment, its journal; the change is audited
    assert (after.id, after.draw_commitment, after.status) == (before.id, before.draw_commitment, "imported")
    with make_sessionmaker(demo_store)() as db:
        assert db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == "classroom.course")) == "c-1"
        actions = list(db.scalars(select(AuditEvent.action).where(AuditEvent.session_id == after.id)
                                  .order_by(AuditEvent.id)))
        assert actions == ["session.created", "session.reimported"]


@pytest.mark.parametrize("state", ["sealed", "drawn"])
def test_the_demo_leaves_a_sealed_or_begun_sitting_where_it_was_and_says_so(demo_store: Engine, state: str) -> None:
    from lms_bridge.demo import load_demo_session
    from lms_bridge.store.models import StudentRecord

    code, first = _first_start(demo_store)
    before = _stored(demo_store, code)
    with make_sessionmaker(demo_store)() as db:
        exam = db.get(ExamSession, before.id)
        assert exam is not None
        if state == "sealed":
            exam.status = "sealed"
        else:
            student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == exam.id).limit(1))
            assert student is not None
            student.ticket_number = 1
        db.commit()
    again = load_demo_session(demo_store, now=first + timedelta(days=9))
    assert _stored(demo_store, code).starts_at == before.starts_at
    if state == "sealed":
        assert "is sealed, so its sitting stays on" in again.note
    else:
        assert "keeps its sitting on" in again.note
        assert "tickets were drawn" in again.note
