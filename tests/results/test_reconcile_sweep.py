"""The reconcile sweep lists only the forms no push has had listed for a while, undecided first,
spaced over its ten minutes and within its share of the ``responses.list`` quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.jobs.queue import JobQueue
from lms_bridge.results import jobs
from lms_bridge.results.coalesce import FormRefreshes
from lms_bridge.sessionfile import load_session
from lms_bridge.store.db import make_engine, transaction
from lms_bridge.store.models import DecisionRecord, ExamSession, JournalEntry, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


def test_quiet_forms_are_left_out_undecided_and_stalest_come_first_up_to_the_budget() -> None:
    now = 10_000.0
    forms = [(1, "f1", False), (2, "f2", True), (3, "f3", False), (4, "f4", False), (5, "f5", False)]
    listed = {"f1": now - 60, "f2": None, "f3": now - 900, "f4": None, "f5": now - 200}
    due = jobs.forms_to_reconcile(forms, listed, now, quiet_seconds=180, budget=10)
    # f1 was listed a minute ago (a push); the decided f2 comes after every undecided one.
    assert due == [(4, "f4"), (3, "f3"), (5, "f5"), (2, "f2")]
    assert jobs.forms_to_reconcile(forms, listed, now, quiet_seconds=180, budget=2) == [(4, "f4"), (3, "f3")]


def test_the_budget_is_the_share_of_the_quota_over_the_period() -> None:
    settings = load_settings(environ={}, google={"reconcile_quota_share": 0.25})
    # 180 responses.list calls per minute, a quarter of them, for ten minutes.
    assert jobs.reconcile_budget(settings) == 450


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[JobQueue]:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"),
                             google={"reconcile_quota_share": 3 / 180})  # 3 forms per minute: 30 a sweep
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    made = jobqueue.configure(settings, engine=engine)
    yield made
    jobqueue.reset()
    engine.dispose()


def _published_forms(queue: JobQueue) -> dict[str, int]:
    """The sample session with a published voting form per student; returns form id -> entry id."""
    spec = load_session(SAMPLE)
    with transaction(queue.sessions) as db:
        import_session(db, spec, source_name="sample", actor="test")
    with transaction(queue.sessions) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        for st in db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))):
            db.add(JournalEntry(session_id=exam.id, step="google.forms", key=f"forms.form:{st.student_ref}",
                                external_id=f"form-{st.student_ref}", data={"stage": "published"}))
    with queue.sessions() as db:
        return {e.external_id: e.id for e in db.scalars(select(JournalEntry))}


def _scheduled(queue: JobQueue) -> list[tuple[float, int]]:
    """(seconds from now, entry id) of every reconcile_form job waiting, soonest first (a job with a
    delay waits in the queue with its time; the consumer holds it back until then)."""
    now = datetime.now(UTC).replace(tzinfo=None)  # Huey keeps times as naive UTC
    tasks = [queue.huey.deserialize_task(d) for d in queue.huey.storage.enqueued_items()]
    return sorted(((t.eta - now).total_seconds() if t.eta else 0.0, t.args[0])
                  for t in tasks if t.name == "results.reconcile_form")


def test_the_sweep_spaces_the_due_forms_over_its_period(queue: JobQueue) -> None:
    forms = _published_forms(queue)
    assert len(forms) >= 4
    refreshes = FormRefreshes(queue.huey)
    pushed = sorted(forms)[0]
    refreshes.run(pushed, lambda: None)  # a push had this one listed just now
    decided_ref = sorted(forms)[1].removeprefix("form-")
    with transaction(queue.sessions) as db:
        student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == decided_ref))
        assert student is not None
        db.add(DecisionRecord(session_id=student.session_id, student_id=student.id, rule="mean", letter="B",
                              points=80.0, gpa=3.0, votes={}))

    jobs.reconcile.run(queue)

    planned = _scheduled(queue)
    entries = [entry for _at, entry in planned]
    assert forms[pushed] not in entries
    assert sorted(entries) == sorted(v for k, v in forms.items() if k != pushed)
    assert entries[-1] == forms[f"form-{decided_ref}"]  # the decided form last
    spacing = jobs.RECONCILE_INTERVAL_SECONDS / len(entries)
    for k, (at, _entry) in enumerate(planned):
        assert at == pytest.approx(k * spacing, abs=5)


def test_a_form_listed_since_the_sweep_planned_it_is_not_listed_again(queue: JobQueue, monkeypatch: Any) -> None:
    forms = _published_forms(queue)
    form_id, entry_id = next(iter(forms.items()))
    FormRefreshes(queue.huey).run(form_id, lambda: None)

    def no_google(_queue: Any) -> Any:
        raise AssertionError("the form was listed by a push a moment ago: no call is needed")

    monkeypatch.setattr(jobs, "backends", no_google)
    jobs.reconcile_form.run(queue, entry_id)
