"""Two workers refreshing the same form at once store each ballot once, and neither fails.

The first worker's insert is still uncommitted while the second lists the same responses, finds
none of them stored and inserts them too: the second insert waits on the first and then does
nothing, instead of failing on the unique constraint (which rolled back and retried its job).
Run on SQLite always and on PostgreSQL when ``LMS_BRIDGE_TEST_DATABASE_URL`` is set (CI)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lms_bridge.domain.session import SessionSpec
from lms_bridge.results.service import refresh_form
from lms_bridge.store.db import make_sessionmaker
from lms_bridge.store.models import BallotRecord, JournalEntry, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

from .test_tally_flow import CHAIR, M1, M2, T0, FormsStandIn


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, store_engines: Any,
           sample_spec: SessionSpec) -> Iterator[Engine]:
    made = store_engines(tmp_path, request.param)
    engine = next(made)
    ensure_schema(engine)
    with make_sessionmaker(engine)() as db:
        import_session(db, sample_spec, source_name="sample-session.yaml", actor="test")
        student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "210103045"))
        assert student is not None
        db.add(JournalEntry(session_id=student.session_id, step="google.forms", key="forms.form:210103045",
                            external_id="form-210103045", data={"stage": "published", "questions": {
                                "grade": "q-grade", "degree": "q-degree"}}))
        db.commit()
    yield engine
    next(made, None)


def _entry(db) -> JournalEntry:  # type: ignore[no-untyped-def]
    entry = db.scalar(select(JournalEntry).where(JournalEntry.key == "forms.form:210103045"))
    assert entry is not None
    return entry


def test_the_same_responses_refreshed_by_two_workers_at_once_are_stored_once(engine: Engine) -> None:
    forms = FormsStandIn()
    for i, email in enumerate((CHAIR, M1, M2)):
        forms.vote(email, "B", T0 + timedelta(minutes=i))
    factory = make_sessionmaker(engine)
    errors: list[BaseException] = []

    first = factory()
    refresh_form(first, forms, _entry(first))  # inserted, not committed yet: its rows are locked

    def second_worker() -> None:
        try:
            with factory() as db:
                refresh_form(db, forms, _entry(db))
                db.commit()
        except BaseException as exc:  # the assertion below reports it
            errors.append(exc)

    worker = threading.Thread(target=second_worker)
    worker.start()
    worker.join(timeout=1.0)  # the second worker now waits on the first one's rows
    assert worker.is_alive(), "the second worker must have been held up by the first one's insert"
    first.commit()
    first.close()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert errors == []
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(BallotRecord)) == 3
        assert {b.status for b in db.scalars(select(BallotRecord))} == {"counted"}
