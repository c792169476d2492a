"""Background jobs and the provisioning run's lease.

A job that changes what a run makes (a watch's renewal, a ticket opened in the tickets quiz) writes
only while it holds the session's lease: while a run holds it the job writes nothing and goes back in
the queue; a job whose lease was taken over mid-way writes nothing more.  A job that only adds to a
run's journal entry (a voting form's responses cursor) merges its keys into the row as it is now,
so neither its write nor the run's is lost.  On SQLite always, on PostgreSQL when
``LMS_BRIDGE_TEST_DATABASE_URL`` is set (CI)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.config import Settings, load_settings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.lease import acquire, live_holder
from lms_bridge.results import admission, watches
from lms_bridge.store.db import make_sessionmaker
from lms_bridge.store.models import ExamSession, JournalEntry, ProvisioningLease
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

SOON = (datetime.now(UTC) + timedelta(hours=1)).isoformat()


@dataclass
class Stored:
    queue: jobqueue.JobQueue
    sessions: sessionmaker[Session]
    session_id: int
    code: str


@pytest.fixture(params=["sqlite", "postgresql"])
def stored(request: pytest.FixtureRequest, tmp_path: Path, store_engines: Any,
           sample_spec: SessionSpec) -> Iterator[Stored]:
    made = store_engines(tmp_path, request.param)
    engine: Engine = next(made)
    ensure_schema(engine)
    settings: Settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://")
    queue = jobqueue.configure(settings, engine=engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        session = import_session(db, sample_spec, source_name="sample-session.yaml", actor="test").session
        db.add_all([
            JournalEntry(session_id=session.id, step="google.course", key="classroom.course", external_id="c-1"),
            JournalEntry(session_id=session.id, step="google.watches", key="classroom.registration",
                         external_id="reg-1", data={"expiryTime": SOON}),
            JournalEntry(session_id=session.id, step="google.watches", key="forms.watch:S1",
                         external_id="w-1", data={"formId": "f-1", "expireTime": SOON}),
        ])
        db.commit()
        found = Stored(queue, sessions, session.id, session.code)
    yield found
    jobqueue.reset()
    next(made, None)


class Google:
    """Renews watches and registrations, counting the calls; ``during`` runs inside each call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.during: Any = None

    def renew_watch(self, form_id: str, watch_id: str) -> Any:
        self.calls.append(f"watch:{watch_id}")
        if self.during is not None:
            self.during()
        return watches_watch(f"{watch_id}-renewed")

    def renew_registration(self, course_id: str) -> dict[str, str]:
        self.calls.append(f"registration:{course_id}")
        if self.during is not None:
            self.during()
        return {"registrationId": "reg-2", "expiryTime": "2099-01-01T00:00:00Z"}


def watches_watch(watch_id: str) -> Any:
    from lms_bridge.google.workspace import Watch

    return Watch(watch_id, "2099-01-01T00:00:00Z")


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Google:
    made = Google()

    class Backends:
        google = made

    monkeypatch.setattr(watches, "backends", lambda queue: Backends())
    return made


def _ids(stored: Stored) -> dict[str, str]:
    with stored.sessions() as db:
        return {e.key: e.external_id for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.in_(["classroom.registration", "forms.watch:S1"])))}


def _scheduled(stored: Stored) -> list[str]:
    return [task.name for task in stored.queue.huey.scheduled()]


def test_a_renewal_waits_while_a_run_holds_the_lease_then_renews_under_its_own(stored: Stored, google: Google,
                                                                              ) -> None:
    run = acquire(stored.sessions, stored.code, trigger="admin", heartbeat=False)  # a run under way
    watches.renew_session_watches.run(stored.queue, stored.session_id)
    assert google.calls == []  # nothing renewed under the run's lease ...
    assert _ids(stored) == {"classroom.registration": "reg-1", "forms.watch:S1": "w-1"}
    assert _scheduled(stored) == ["results.renew_session_watches"]  # ... it comes back later
    run.release()

    watches.renew_watches.run(stored.queue)  # the periodic sweep: one job per session, run at once here
    assert sorted(google.calls) == ["registration:c-1", "watch:w-1"]
    assert _ids(stored) == {"classroom.registration": "reg-2", "forms.watch:S1": "w-1-renewed"}
    with stored.sessions() as db:  # the job let the lease go
        assert live_holder(db, stored.code, stored.queue.settings.run_lease_timeout_seconds) is None


def test_a_renewal_whose_lease_was_taken_over_writes_nothing(stored: Stored, google: Google) -> None:
    def taken_over() -> None:  # a run takes the lease while the job waits for Google
        with stored.sessions() as db:
            db.execute(update(ProvisioningLease).where(ProvisioningLease.session_code == stored.code)
                       .values(token="a-run", trigger="admin"))
            db.commit()

    google.during = taken_over
    watches.renew_session_watches.run(stored.queue, stored.session_id)
    assert len(google.calls) == 1  # the first renewal was asked for, then its write was refused
    assert _ids(stored) == {"classroom.registration": "reg-1", "forms.watch:S1": "w-1"}
    assert _scheduled(stored) == ["results.renew_session_watches"]
    with stored.sessions() as db:  # the run's lease was left as the run holds it
        lease = db.get(ProvisioningLease, stored.code)
        assert lease is not None
        assert lease.token == "a-run"


@pytest.mark.parametrize("stored", ["sqlite"], indirect=True)
def test_a_ticket_waits_while_a_run_holds_the_lease(stored: Stored, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(admission, "_open_ticket", lambda queue, session_id, ref: opened.append(ref))
    run = acquire(stored.sessions, stored.code, trigger="cli", heartbeat=False)
    admission.open_ticket_job.run(stored.queue, stored.session_id, "S1")
    assert opened == []
    assert _scheduled(stored) == ["results.open_ticket"]
    run.release()
    admission.open_ticket_job.run(stored.queue, stored.session_id, "S1")
    assert opened == ["S1"]


@pytest.mark.parametrize("stored", ["sqlite"], indirect=True)
def test_a_click_while_a_job_holds_the_lease_queues_the_run(stored: Stored, monkeypatch: pytest.MonkeyPatch,
                                                             ) -> None:
    """A job holds the lease for seconds: the page's run is not refused, it waits its turn."""
    from lms_bridge.provisioning import service

    ran: list[int] = []
    monkeypatch.setattr(service.provision_session, "enqueue", lambda run_id, delay=None: ran.append(run_id))
    job = acquire(stored.sessions, stored.code, trigger="job", heartbeat=False)
    try:
        run = service.provision(stored.queue.settings, stored.code, sessions=stored.sessions)
    finally:
        job.release()
    assert run.status == "queued"
    assert ran == [run.id]


def test_a_job_adding_to_a_run_s_entry_keeps_what_the_run_wrote_meanwhile(stored: Stored) -> None:
    from lms_bridge.store.repo import merge_entry_data

    with stored.sessions() as db:
        db.add(JournalEntry(session_id=stored.session_id, step="google.forms", key="forms.form:S1",
                            external_id="f-1", data={"stage": "published"}))
        db.commit()
    job = stored.sessions()
    entry = job.scalar(select(JournalEntry).where(JournalEntry.key == "forms.form:S1"))
    assert entry is not None
    assert entry.data == {"stage": "published"}
    with stored.sessions() as run:  # the run's forms step adds to the same entry meanwhile
        row = run.scalar(select(JournalEntry).where(JournalEntry.key == "forms.form:S1"))
        assert row is not None
        row.data = {**row.data, "shared": ["m1@uni.kz"]}
        run.commit()
    merge_entry_data(job, entry, responses_cursor="2026-06-01T04:00:00+00:00")
    job.commit()
    job.close()
    with stored.sessions() as db:
        row = db.scalar(select(JournalEntry).where(JournalEntry.key == "forms.form:S1"))
        assert row is not None
        assert row.data == {"stage": "published", "shared": ["m1@uni.kz"],
                            "responses_cursor": "2026-06-01T04:00:00+00:00"}
        assert db.get(ExamSession, stored.session_id) is not None
