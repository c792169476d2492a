"""From form responses to a recorded decision: the audit trail, the counting and the closing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.session import SessionSpec
from lms_bridge.results.service import close_vote, process_delivery, refresh_form
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import (
    BallotRecord,
    DecisionRecord,
    JournalEntry,
    StudentRecord,
    WebhookDelivery,
    WritebackRecord,
)
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema


def _yes_kk() -> str:
    from lms_bridge.i18n import gettext, use_locale

    with use_locale("kk"):
        return str(gettext("Yes, award"))


# The degree option as a Kazakh session's voting form offers it.
YES_KK = _yes_kk()

CHAIR = "e.zhumabekov@univ.edu.kz"
M1, M2, M3 = "g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"
SECRETARY = "m.tursynbayeva@univ.edu.kz"
# Voting happened in the last hour; "late" is judged against the moment the decision was recorded.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def google_millis(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def google_micros(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FormsStandIn:
    """The two Forms calls the tally makes, over an in-memory list of responses.

    The real calls are exercised against the Google sandbox in the end-to-end tests; here the
    point is the counting rules, so the responses are written out by hand."""

    def __init__(self) -> None:
        self.responses: list[dict[str, Any]] = []
        self.closed: list[str] = []
        self.since: list[datetime | None] = []

    def vote(self, email: str, letter: str, at: datetime, *, response_id: str | None = None,
             created: datetime | None = None, degree: str = YES_KK) -> None:
        """A submission at ``at``; with ``created`` (the first submission) it is an edit of that one.

        Timestamps are written as Google writes them: createTime to the millisecond,
        lastSubmittedTime to the microsecond, both from the same clock reading when never edited."""
        rid = response_id or f"r{len(self.responses)}"
        self.responses = [r for r in self.responses if r["responseId"] != rid]
        self.responses.append({
            "responseId": rid, "respondentEmail": email,
            "createTime": google_millis(created or at),
            "lastSubmittedTime": google_micros(at),
            "answers": {"q-grade": {"questionId": "q-grade", "textAnswers": {"answers": [{"value": letter}]}},
                        "q-degree": {"questionId": "q-degree", "textAnswers": {"answers": [{"value": degree}]}}},
        })

    def list_responses(self, form_id: str, since: datetime | None = None) -> list[dict[str, Any]]:
        self.since.append(since)
        return [r for r in self.responses
                if since is None or datetime.fromisoformat(r["lastSubmittedTime"].replace("Z", "+00:00")) >= since]

    def close_form(self, form_id: str) -> None:
        self.closed.append(form_id)


@pytest.fixture
def db(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        import_session(session, sample_spec, source_name="sample-session.yaml", actor="test")
        session.commit()
        yield session
    engine.dispose()


def _form(db: Session, ref: str = "210103045") -> JournalEntry:
    student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == ref))
    assert student is not None
    entry = JournalEntry(session_id=student.session_id, step="google.forms", key=f"forms.form:{ref}",
                         external_id=f"form-{ref}", data={"stage": "published", "questions": {
                             "grade": "q-grade", "degree": "q-degree", "comment": "q-comment"}})
    db.add(entry)
    db.commit()
    return entry


def _statuses(db: Session) -> dict[tuple[str, str], str]:
    return {(b.voter_email, b.grade): b.status for b in db.scalars(select(BallotRecord))}


def test_first_ballots_count_and_duplicates_outsiders_and_late_ballots_are_flagged(db: Session) -> None:
    forms, entry = FormsStandIn(), _form(db)
    forms.vote(CHAIR, "A", T0)
    forms.vote(M1, "B+", T0 + timedelta(minutes=1))
    forms.vote(M1, "A", T0 + timedelta(minutes=2))  # a second submission by the same member
    forms.vote("stranger@gmail.com", "F", T0 + timedelta(minutes=3))
    forms.vote(SECRETARY, "A", T0 + timedelta(minutes=3))  # the secretary does not vote
    forms.vote(M2, "A-", T0 + timedelta(minutes=4))
    result = refresh_form(db, forms, entry)
    assert result is not None
    assert not result.outcome.decided  # 3 of 4 voted: quorum, but the vote is still open
    forms.vote(M3, "B", T0 + timedelta(minutes=5))
    result = refresh_form(db, forms, entry)
    db.commit()
    assert result is not None
    assert result.newly_decided
    decision = db.scalar(select(DecisionRecord))
    assert decision is not None
    # Mean of the representative points of A, B+, A-, B under the kz_letter scale.
    assert decision.letter == result.outcome.letter
    assert decision.votes["votes_cast"] == 4
    assert forms.closed == ["form-210103045"]
    assert {w.target for w in db.scalars(select(WritebackRecord))} == {"sheet", "moodle", "classroom"}
    statuses = _statuses(db)
    assert statuses[(M1, "B+")] == "counted"
    assert statuses[(M1, "A")] == "duplicate"
    assert statuses[("stranger@gmail.com", "F")] == "outsider"
    assert statuses[(SECRETARY, "A")] == "outsider"

    # A ballot that raced the close is recorded, flagged late and changes nothing.
    forms.vote(M3, "F", datetime.now(UTC) + timedelta(minutes=1), response_id="late-one")
    refresh_form(db, forms, entry)
    db.commit()
    assert _statuses(db)[(M3, "F")] == "late"
    again = db.scalar(select(DecisionRecord))
    assert again is not None
    assert (again.letter, again.points) == (decision.letter, decision.points)
    assert len(list(db.scalars(select(DecisionRecord)))) == 1


def test_first_ballots_with_googles_two_precisions_all_count(db: Session) -> None:
    # Never edited: createTime "…58.146Z", lastSubmittedTime "…58.146607Z" (a 0.607 ms gap).
    forms, entry = FormsStandIn(), _form(db)
    for i, email in enumerate((CHAIR, M1, M2, M3)):
        forms.vote(email, "B", T0 + timedelta(minutes=i, microseconds=146_607 + i * 211_999))
    result = refresh_form(db, forms, entry)
    db.commit()
    assert result is not None
    assert set(_statuses(db).values()) == {"counted"}
    assert result.newly_decided
    assert result.outcome.votes_cast == 4


def test_an_edited_response_is_kept_but_never_counted(db: Session) -> None:
    forms, entry = FormsStandIn(), _form(db)
    forms.vote(CHAIR, "C", T0, response_id="chair")
    refresh_form(db, forms, entry)
    forms.vote(CHAIR, "A", T0 + timedelta(minutes=9), response_id="chair", created=T0)  # edited
    refresh_form(db, forms, entry)
    db.commit()
    statuses = _statuses(db)
    assert statuses[(CHAIR, "C")] == "counted"
    assert statuses[(CHAIR, "A")] == "edited"


def test_a_changed_submission_time_on_a_known_response_is_an_edit_however_close(db: Session) -> None:
    # Half a second after the first submission: within the precision tolerance, so only the
    # response id seen before with another lastSubmittedTime tells that it is an edit.
    forms, entry = FormsStandIn(), _form(db)
    forms.vote(M1, "C", T0, response_id="m1")
    refresh_form(db, forms, entry)
    forms.vote(M1, "A", T0 + timedelta(milliseconds=500), response_id="m1", created=T0)
    refresh_form(db, forms, entry)
    db.commit()
    statuses = _statuses(db)
    assert statuses[(M1, "C")] == "counted"
    assert statuses[(M1, "A")] == "edited"


def test_a_response_edited_before_it_was_first_fetched_is_an_edit(db: Session) -> None:
    # Never seen before, but submitted again nine minutes after it was created: its first content
    # is gone, so it counts neither as the member's first ballot nor at all.
    forms, entry = FormsStandIn(), _form(db)
    forms.vote(CHAIR, "A", T0 + timedelta(minutes=9, microseconds=5), response_id="chair", created=T0)
    forms.vote(M1, "B", T0 + timedelta(minutes=1, microseconds=146_607))
    result = refresh_form(db, forms, entry)
    db.commit()
    statuses = _statuses(db)
    assert statuses[(CHAIR, "A")] == "edited"
    assert statuses[(M1, "B")] == "counted"
    assert result is not None
    assert CHAIR in result.outcome.missing


def test_the_secretary_closes_a_vote_once_quorum_is_met(db: Session) -> None:
    forms, _entry = FormsStandIn(), _form(db)
    for i, email in enumerate((CHAIR, M1, M2)):
        forms.vote(email, "B", T0 + timedelta(minutes=i))
    student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "210103045"))
    assert student is not None
    session = student.session
    result = close_vote(db, forms, session, student, actor="secretary")
    db.commit()
    assert result.newly_decided
    decision = db.scalar(select(DecisionRecord))
    assert decision is not None
    assert decision.letter == "B"
    assert decision.closed_by == "secretary"


def test_no_decision_without_quorum_even_when_the_secretary_closes(db: Session) -> None:
    forms, _entry = FormsStandIn(), _form(db)
    forms.vote(CHAIR, "A", T0)
    forms.vote(M1, "A", T0 + timedelta(minutes=1))
    student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "210103045"))
    assert student is not None
    result = close_vote(db, forms, student.session, student, actor="secretary")
    db.commit()
    assert not result.newly_decided
    assert str(result.outcome.status) == "no_quorum"
    assert db.scalar(select(DecisionRecord)) is None
    assert forms.closed == []


def test_responses_are_fetched_incrementally(db: Session) -> None:
    forms, entry = FormsStandIn(), _form(db)
    forms.vote(CHAIR, "A", T0)
    refresh_form(db, forms, entry)
    refresh_form(db, forms, entry)
    assert forms.since[0] is None
    assert forms.since[1] is not None
    assert forms.since[1] <= T0  # with an overlap: at-least-once beats a lost ballot
    assert len(list(db.scalars(select(BallotRecord)))) == 1


def test_a_delivery_names_the_decision_it_recorded_and_no_other(db: Session) -> None:
    """The job enqueues the write-backs of exactly the decisions the delivery's tally recorded."""
    first, other = FormsStandIn(), FormsStandIn()
    entry, other_entry = _form(db), _form(db, "210103046")
    for i, email in enumerate((CHAIR, M1, M2, M3)):
        other.vote(email, "B", T0 + timedelta(minutes=i))
    refresh_form(db, other, other_entry)  # a decision recorded earlier, for another student
    db.commit()
    earlier = db.scalar(select(DecisionRecord))
    assert earlier is not None

    class Backends:
        google = first

    def delivery(n: int) -> WebhookDelivery:
        row = WebhookDelivery(source="google", delivery_id=f"d{n}", kind="forms.responses",
                              payload={"attributes": {"formId": entry.external_id}})
        db.add(row)
        db.flush()
        return row

    for i, email in enumerate((CHAIR, M1, M2)):
        first.vote(email, "A", T0 + timedelta(minutes=i))
    handled = process_delivery(db, delivery(1), lambda: Backends)
    assert (handled.note, handled.decisions) == ("tallied: pending", ())
    first.vote(M3, "A", T0 + timedelta(minutes=5))
    handled = process_delivery(db, delivery(2), lambda: Backends)
    db.commit()
    decisions = list(db.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))
    assert len(decisions) == 2
    assert decisions[0].id == earlier.id
    assert handled.decisions == (decisions[1].id,)
    # Counting again decides nothing new.
    assert process_delivery(db, delivery(3), lambda: Backends).decisions == ()
