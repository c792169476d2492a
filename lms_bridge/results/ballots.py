"""Turning form responses into ballots, and ballots into a student's decision.

The form API gives the *current* state of each response.  Every version we see is kept as a
:class:`BallotRecord` (form id, response id, submission time), so the audit trail holds first
ballots, resubmissions (a new response by the same member) and edits (the same response submitted
again) alike; the rules in :mod:`lms_bridge.domain.ballots` then decide which one counts: only a
member's first ballot, never an edit, never an outsider's, never one after the vote closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain import ballots as rules
from lms_bridge.domain.examday import degree_award
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.session import DecisionRule, DegreeVote
from lms_bridge.store.db import insert_new
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    CommissionMember,
    DecisionRecord,
    ExamSession,
    StudentRecord,
    WritebackRecord,
)

logger = logging.getLogger(__name__)

WRITEBACK_TARGETS = ("sheet", "moodle", "classroom")


@dataclass(frozen=True)
class FormLayout:
    """Which question of a student's form holds what, and how option texts map to values."""

    grade_question: str
    grade_options: Mapping[str, str]  # option text -> letter
    degree_question: str | None = None
    degree_options: Mapping[str, bool] | None = None  # option text -> awarded?
    comment_question: str | None = None


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _answer(response: Mapping[str, Any], question_id: str | None) -> str:
    if not question_id:
        return ""
    answer = (response.get("answers") or {}).get(question_id) or {}
    values = (answer.get("textAnswers") or {}).get("answers") or []
    return str(values[0].get("value", "")) if values else ""


def record_responses(db: Session, session: ExamSession, student: StudentRecord, form_id: str,
                     layout: FormLayout, responses: Iterable[Mapping[str, Any]]) -> list[BallotRecord]:
    """Store every response version not seen yet; returns the new records (statuses settled later)."""
    members = {m.email: m for m in db.scalars(select(CommissionMember).where(
        CommissionMember.session_id == session.id))}
    known = list(db.scalars(select(BallotRecord).where(BallotRecord.form_id == form_id)))
    seen = {(r.response_id, r.submitted_at) for r in known}
    first_seen = {r.response_id for r in known}
    rows: list[dict[str, Any]] = []
    for response in responses:
        response_id = str(response.get("responseId", ""))
        stamp = response.get("lastSubmittedTime") or response.get("createTime")
        if not response_id or not stamp:
            continue
        submitted = parse_time(str(stamp))
        if (response_id, submitted) in seen:
            continue
        email = str(response.get("respondentEmail", "")).strip().lower()
        option = _answer(response, layout.grade_question)
        degree_text = _answer(response, layout.degree_question)
        degree = ""
        if layout.degree_options and degree_text in layout.degree_options:
            degree = "yes" if layout.degree_options[degree_text] else "no"
        created = parse_time(str(response.get("createTime", stamp)))
        # An edit is the same response submitted again: a new lastSubmittedTime on a response id we
        # recorded before, or (edited before we first fetched it) a lastSubmittedTime well after its
        # createTime.  The two carry different precisions, so the rule lives in the domain.
        edited = rules.is_edited(created, submitted, seen_before=response_id in first_seen)
        member = members.get(email)
        rows.append(dict(
            session_id=session.id, student_id=student.id, member_id=member.id if member else None,
            voter_email=email, form_id=form_id, response_id=response_id, submitted_at=submitted,
            grade=layout.grade_options.get(option, option), degree=degree,
            comment=_answer(response, layout.comment_question)[:2000],
            status="edited" if edited else "pending"))
        seen.add((response_id, submitted))
        first_seen.add(response_id)
    db.flush()
    # Two workers refreshing the same form both see a response as new; the second insert is a
    # no-op rather than a unique-constraint failure that would roll back and retry its whole job.
    ids = insert_new(db, BallotRecord, rows, unique=("form_id", "response_id", "submitted_at"))
    return list(db.scalars(select(BallotRecord).where(BallotRecord.id.in_(ids)))) if ids else []


# The close of a written exam's grading window, kept on the student's ballot entry in the journal when
# the ticket is handed out (lms_bridge.results.draw) or by the closing job (lms_bridge.results.grading).
WINDOW_KEY = "grading_closes_at"
BALLOT_KEY_PREFIX = "forms.form:"


def grading_closes_at(db: Session, session: ExamSession, student: StudentRecord) -> datetime | None:
    from lms_bridge.store.repo import journal_entry

    entry = journal_entry(db, session.id, BALLOT_KEY_PREFIX + student.student_ref)
    raw = entry.data.get(WINDOW_KEY) if entry is not None else None
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def fix_grading_window(db: Session, session: ExamSession, student: StudentRecord, hours: int) -> datetime | None:
    """Set the student's grading window once (from the ticket's draw, the writing minutes and ``hours``)
    on the ballot's journal entry; returns its close, or None (no writing, no ticket, no ballot yet)."""
    from lms_bridge.domain.kinds import grading_window
    from lms_bridge.store.repo import journal_entry

    entry = journal_entry(db, session.id, BALLOT_KEY_PREFIX + student.student_ref)
    window = grading_window(session.kind, student.ticket_drawn_at, session.preparation_minutes, hours)
    if entry is None or window is None:
        return None
    known = grading_closes_at(db, session, student)
    if known is not None:
        return known
    entry.data = {**entry.data, WINDOW_KEY: window.closes_at.isoformat(),
                  "grading_opens_at": window.opens_at.isoformat()}
    db.add(AuditEvent(session_id=session.id, actor="system", action="grading_window.set", detail={
        "student": student.student_ref, "opens_at": window.opens_at.isoformat(),
        "closes_at": window.closes_at.isoformat(), "hours": hours}))
    db.flush()
    return window.closes_at


def report_after_window(db: Session, session: ExamSession, student: StudentRecord) -> int:
    """Every ballot submitted after the grading window closed is an incident (audited once): it is
    kept, never counted.  Returns how many were new."""
    from lms_bridge.store.repo import journal_entry

    closes = grading_closes_at(db, session, student)
    entry = journal_entry(db, session.id, BALLOT_KEY_PREFIX + student.student_ref)
    if closes is None or entry is None:
        return 0
    reported = set(entry.data.get("after_window") or [])
    late = [b for b in db.scalars(select(BallotRecord).where(BallotRecord.student_id == student.id))
            if b.submitted_at > closes and b.id not in reported]
    for b in late:
        db.add(AuditEvent(session_id=session.id, actor=b.voter_email or "forms", action="ballot.after_grading_window",
                          detail={"student": student.student_ref, "voter": b.voter_email,
                                  "submitted_at": b.submitted_at.isoformat(), "closed_at": closes.isoformat(),
                                  "status": b.status}))
        reported.add(b.id)
    if late:
        entry.data = {**entry.data, "after_window": sorted(reported)}
        db.flush()
    return len(late)


@dataclass(frozen=True)
class TallyResult:
    outcome: rules.Outcome
    decision: DecisionRecord | None
    newly_decided: bool


def tally_student(db: Session, session: ExamSession, student: StudentRecord, *, closed_by: str = "",
                  now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> TallyResult:
    """Re-count a student's ballots, settle every ballot's status and record the decision once.

    A decision, once taken, is final: ballots arriving later are marked ``late`` and change nothing
    (the form is closed at the same time, but a push may still bring one that raced the close).
    """
    scale = GradeScale.load(session.grading.get("scale", "kz_letter"))
    members = list(db.scalars(select(CommissionMember).where(
        CommissionMember.session_id == session.id, CommissionMember.active.is_(True))))
    voters = [m.email for m in members if m.role in ("chair", "member")]
    chair = next(m.email for m in members if m.role == "chair")
    secretary = next((m.email for m in members if m.role == "secretary"), None)
    existing = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == student.id))
    # A written or open-book exam: ballots count up to the close of the grading window, and once it has
    # closed the vote is closed (it decides with a quorum, else the commission decides).
    window_end = grading_closes_at(db, session, student)
    closed_at = existing.decided_at if existing is not None else None
    if window_end is not None:
        closed_at = min(closed_at, window_end) if closed_at is not None else window_end
    window_over = window_end is not None and now() >= window_end
    records = list(db.scalars(select(BallotRecord).where(BallotRecord.student_id == student.id)
                              .order_by(BallotRecord.submitted_at, BallotRecord.id)))
    countable = [r for r in records if r.status != "edited"]
    ballots = [rules.Ballot(member_email=r.voter_email, letter=r.grade, submitted_at=r.submitted_at,
                            degree=None if not r.degree else r.degree == "yes") for r in countable]
    quorum = session.grading.get("quorum", [2, 3])
    outcome = rules.tally(
        ballots, voters, chair, DecisionRule(session.grading.get("decision", "mean")), scale,
        quorum=(int(quorum[0]), int(quorum[1])),
        closed_by_secretary=bool(closed_by) or existing is not None or window_over,
        secretary_email=secretary, closed_at=closed_at,
        degree_vote=DegreeVote(session.degree_vote))

    # The domain returns ballots normalised (e-mail case, letter spelling); match each reviewed
    # ballot back to its record by who submitted it and when.
    unmatched = {r.id: r for r in countable}
    for reviewed in (*outcome.counted, *outcome.flagged):
        email = reviewed.ballot.member_email.strip().lower()
        for r in countable:
            if r.id in unmatched and r.submitted_at == reviewed.ballot.submitted_at \
                    and r.voter_email == email:
                r.status = str(reviewed.status)
                del unmatched[r.id]
                break

    if existing is not None or not outcome.decided:
        db.flush()
        return TallyResult(outcome, existing, False)

    summary = rules.outcome_summary(outcome)
    assert outcome.band is not None
    assert outcome.points is not None
    degree = outcome.degree
    decision = DecisionRecord(
        session_id=session.id, student_id=student.id, rule=str(outcome.rule), letter=outcome.band.letter,
        points=float(outcome.points), gpa=float(outcome.band.gpa), votes=summary,
        # A failing letter never carries the degree, whatever the degree vote said.
        degree_award=degree_award(outcome.band.letter, degree.awarded, scale) if degree is not None else None,
        degree_totals=({"yes": degree.yes, "no": degree.no, "blank": degree.blank} if degree else {}),
        decided_at=now(), closed_by=closed_by)
    db.add(decision)
    db.flush()
    for target in WRITEBACK_TARGETS:
        db.add(WritebackRecord(decision_id=decision.id, target=target, status="pending"))
    student.status = "decided"
    db.add(AuditEvent(session_id=session.id, actor=closed_by or "system", action="decision.recorded",
                      detail={"student": student.student_ref, "letter": decision.letter,
                              "points": decision.points, "votes_cast": outcome.votes_cast}))
    db.flush()
    return TallyResult(outcome, decision, True)
