"""A written exam's 2-hour grading window enforced (001 §15): it opens when the writing time ends; when
it closes the ballot stops taking responses and the vote is closed (with a quorum it decides, without
one the commission decides); a ballot after the close is kept, not counted, and is an incident."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.kinds import grading_window
from lms_bridge.domain.session import ExamKind, SessionSpec
from lms_bridge.results.grading import close_due_windows
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import AuditEvent, BallotRecord, DecisionRecord, ExamSession, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

from .test_tally_flow import CHAIR, M1, M2, M3, FormsStandIn, _form

REF = "210103041"  # admitted in the sample session
NOW = datetime.now(UTC).replace(microsecond=0)
WRITING = 120  # minutes: at least 2 academic hours (003 §37)


@pytest.fixture
def written(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    spec = replace(sample_spec, kind=ExamKind.WRITTEN_EXAM, preparation_minutes=WRITING, tickets=sample_spec.tickets)
    with make_sessionmaker(engine)() as db:
        import_session(db, spec, source_name="written.yaml", actor="test")
        db.commit()
        yield db
    engine.dispose()


def _drawn(db: Session, minutes_ago: int) -> tuple[ExamSession, StudentRecord]:
    student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == REF))
    assert student is not None
    student.ticket_number, student.ticket_drawn_at = 1, NOW - timedelta(minutes=minutes_ago)
    db.commit()
    session = db.get(ExamSession, student.session_id)
    assert session is not None
    return session, student


def test_the_window_opens_at_the_end_of_writing_and_lasts_two_hours() -> None:
    drawn = NOW - timedelta(hours=3)
    window = grading_window(ExamKind.WRITTEN_EXAM, drawn, WRITING, 2)
    assert window is not None
    assert (window.opens_at, window.closes_at) == (drawn + timedelta(hours=2), drawn + timedelta(hours=4))
    assert [window.phase(drawn + timedelta(minutes=m)) for m in (119, 120, 239, 240)] == [
        "writing", "grading", "grading", "closed"]
    assert window.counts(window.closes_at)
    assert not window.counts(window.closes_at + timedelta(seconds=1))
    assert grading_window(ExamKind.OPEN_BOOK, drawn, WRITING, 2) is not None
    for kind in (ExamKind.ORAL_EXAM, ExamKind.DEFENSE, ExamKind.CREATIVE_EXAM, ExamKind.TEST_EXAM):
        assert grading_window(kind, drawn, WRITING, 2) is None
    assert grading_window(ExamKind.WRITTEN_EXAM, None, WRITING, 2) is None


def test_at_the_close_the_ballot_stops_and_without_quorum_the_commission_decides(written: Session) -> None:
    from lms_bridge.results.examday import decide_by_commission

    db = written
    session, student = _drawn(db, minutes_ago=WRITING + 2 * 60 + 10)  # the window closed 10 minutes ago
    closes = NOW - timedelta(minutes=10)
    forms, entry = FormsStandIn(), _form(db, REF)
    forms.vote(CHAIR, "A", closes - timedelta(minutes=30))
    forms.vote(M1, "B+", closes - timedelta(minutes=5))
    forms.vote(M2, "A", closes + timedelta(minutes=3))  # after the close: raced it
    assert close_due_windows(db, session, forms, 2, NOW) == [REF]
    db.commit()
    assert forms.closed == [entry.external_id]  # the ballot no longer takes responses
    statuses = {b.voter_email: b.status for b in db.scalars(select(BallotRecord))}
    assert statuses == {CHAIR: "counted", M1: "counted", M2: "late"}
    assert db.scalar(select(DecisionRecord)) is None  # 2 of 4: no quorum
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions.count("ballot.after_grading_window") == 1
    closed = db.scalar(select(AuditEvent).where(AuditEvent.action == "grading_window.closed"))
    assert closed.detail["outcome"] == "no_quorum"
    # Again: nothing more (one close, one incident).
    assert close_due_windows(db, session, forms, 2, NOW + timedelta(minutes=1)) == []
    assert [e.action for e in db.scalars(select(AuditEvent))].count("ballot.after_grading_window") == 1
    # A ballot that arrives later still is recorded, not counted, and is one more incident.
    from lms_bridge.results.service import refresh_form

    forms.vote(M3, "A", NOW)
    refresh_form(db, forms, entry)
    db.commit()
    assert {b.voter_email: b.status for b in db.scalars(select(BallotRecord))}[M3] == "late"
    assert [e.action for e in db.scalars(select(AuditEvent))].count("ballot.after_grading_window") == 2
    # The commission decides (the existing exception): the late ballots stay out of it.
    decision = decide_by_commission(db, session, student, "B", reason="no quorum in the grading time",
                                    actor="secretary")
    assert decision.source == "commission"
    assert decision.votes["votes_cast"] == 2


def test_at_the_close_a_quorum_decides_without_the_late_ballot(written: Session) -> None:
    db = written
    session, _student = _drawn(db, minutes_ago=WRITING + 2 * 60 + 10)
    closes = NOW - timedelta(minutes=10)
    forms, _entry = FormsStandIn(), _form(db, REF)
    for i, email in enumerate((CHAIR, M1, M2)):
        forms.vote(email, "A", closes - timedelta(minutes=20 - i))
    forms.vote(M3, "F", closes + timedelta(minutes=1))
    close_due_windows(db, session, forms, 2, NOW)
    db.commit()
    decision = db.scalar(select(DecisionRecord))
    assert decision is not None
    assert (decision.letter, decision.votes["votes_cast"]) == ("A", 3)


def test_while_the_window_is_open_nothing_closes(written: Session) -> None:
    db = written
    session, _student = _drawn(db, minutes_ago=WRITING + 30)  # grading for 30 minutes, 90 left
    forms, entry = FormsStandIn(), _form(db, REF)
    for email in (CHAIR, M1, M2):
        forms.vote(email, "A", NOW - timedelta(minutes=5))
    assert close_due_windows(db, session, forms, 2, NOW) == []
    assert forms.closed == []
    assert entry.data["grading_closes_at"] == (NOW + timedelta(minutes=90)).isoformat()
    from lms_bridge.results.service import refresh_form

    result = refresh_form(db, forms, entry)
    assert result is not None
    assert not result.outcome.decided  # 3 of 4 with quorum: the vote stays open within the window
