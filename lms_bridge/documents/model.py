"""What the documents say, gathered from the store once, rendered as PDF or XLSX after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.examday import degree_award
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.workdays import AppealSettings, filing_closes
from lms_bridge.store.models import (
    BallotRecord,
    BoardEvent,
    CommissionMember,
    DecisionRecord,
    ExamSession,
    StudentExceptionRecord,
    StudentRecord,
    TicketRecord,
)


@dataclass(frozen=True)
class MemberLine:
    name: str
    role: str
    voted: bool


@dataclass(frozen=True)
class StudentResult:
    ref: str
    name: str
    admitted: bool
    ticket_number: int | None
    ticket_questions: tuple[str, ...]
    votes: tuple[tuple[str, str], ...]  # (member name, letter) of counted ballots
    letter_totals: tuple[tuple[str, int], ...]
    letter: str | None
    points: float | None
    gpa: float | None
    word: str
    mark: str
    degree_mode: str
    degree_yes: int
    degree_no: int
    degree_awarded: bool | None
    degree_per_member: tuple[tuple[str, str], ...]  # open vote only
    decided_at: datetime | None
    # The protocol's own requisites: its number, the questions put to the student and the remarks
    # (the secretary's notes and the members' comments on their ballots, dissenting opinions included).
    protocol_number: str = ""
    questions_asked: tuple[str, ...] = ()
    remarks: tuple[tuple[str, str], ...] = ()  # (who, text); who is "" for the secretary's notes
    appeal_closes: date | None = None  # last day to file an appeal (003 §64, working days)
    # The commission's decision when the vote could not decide: its reason ("" for a vote's decision).
    commission_reason: str = ""
    exception: ExceptionLine | None = None  # an exception of the exam day in place of a decision
    # Answer sheets the secretary uploaded on the student's behalf: (file, Drive link or ""), and the
    # pages the student declared (None: not declared).
    on_behalf: tuple[tuple[str, str], ...] = ()
    on_behalf_files: int = 0
    pages_declared: int | None = None


@dataclass(frozen=True)
class ExceptionLine:
    """An exception recorded for the student (see lms_bridge.domain.examday)."""

    kind: str
    reason: str
    mark: str  # F, I or ""
    mark_word: str  # the mark's traditional word or status name in the session language
    moved_to: date | None
    continuation: str
    recorded_by: str
    recorded_at: datetime
    # The cumulative grade: the control scores it is the mean of (the session file's).
    current_score: float | None = None
    midterm_score: float | None = None


@dataclass(frozen=True)
class SessionDocument:
    code: str
    title: str
    kind: str
    programme: str
    group: str
    language: str
    timezone: str
    date: datetime  # local
    chair: str
    secretary: str
    members: tuple[MemberLine, ...]
    students: tuple[StudentResult, ...]
    university: str = ""
    commission_name: str = ""
    platform: str = ""
    # Until the chair releases the results the grade sheet is provisional (003 §61).
    released: bool = True

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))


def gather(db: Session, session: ExamSession, *, appeals: AppealSettings | None = None) -> SessionDocument:
    """The session's documents' content.  ``appeals`` are the configured deadlines and calendar
    (``[appeals]``, see :func:`lms_bridge.results.appeals.appeal_settings`); None gives the Ministry's."""
    scale = GradeScale.load(session.grading.get("scale", "kz_letter"))
    members = list(db.scalars(select(CommissionMember).where(
        CommissionMember.session_id == session.id, CommissionMember.active.is_(True))
        .order_by(CommissionMember.position)))
    names = {m.email: m.name for m in members}
    tickets = {t.number: tuple(t.questions) for t in db.scalars(select(TicketRecord).where(
        TicketRecord.session_id == session.id))}
    decisions = {d.student_id: d for d in db.scalars(select(DecisionRecord).where(
        DecisionRecord.session_id == session.id))}
    counted = list(db.scalars(select(BallotRecord).where(BallotRecord.session_id == session.id,
                                                         BallotRecord.status == "counted")))
    voted_emails = {b.voter_email for b in counted}
    exceptions = {e.student_id: e for e in db.scalars(select(StudentExceptionRecord).where(
        StudentExceptionRecord.session_id == session.id).order_by(StudentExceptionRecord.recorded_at,
                                                                   StudentExceptionRecord.id))}
    from lms_bridge.store.repo import journal_entries

    # The answer sheets uploaded on a student's behalf and put in Drive (lms_bridge.results.sitting).
    on_behalf: dict[str, list[tuple[str, str]]] = {}
    for entry in journal_entries(db, session.id, "answers.drive:"):
        ref, _sep, file_name = entry.key.removeprefix("answers.drive:").rpartition(":")
        on_behalf.setdefault(ref, []).append((file_name, str(entry.data.get("link") or "")))
    on_behalf_files: dict[int, int] = {}
    for student_id, detail in db.execute(select(BoardEvent.student_id, BoardEvent.detail).where(
            BoardEvent.session_id == session.id, BoardEvent.kind == "uploaded")):
        on_behalf_files[student_id] = on_behalf_files.get(student_id, 0) + int((detail or {}).get("files") or 0)
    students: list[StudentResult] = []
    tz = ZoneInfo(session.timezone)
    admitted_count = 0
    for s in db.scalars(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                    StudentRecord.active.is_(True))
                        .order_by(StudentRecord.position)):
        d = decisions.get(s.id)
        mine = sorted((b for b in counted if b.student_id == s.id), key=lambda b: b.submitted_at)
        band = scale.band(d.letter) if d is not None else None
        totals = (d.votes.get("letter_counts") if d is not None else None) or {}
        secret = session.degree_vote == "secret"
        per_member_degree: tuple[tuple[str, str], ...] = ()
        if s.admitted:
            admitted_count += 1
        remarks: list[tuple[str, str]] = []
        if s.protocol_remarks.strip():
            remarks.append(("", s.protocol_remarks.strip()))
        remarks.extend((names.get(b.voter_email, b.voter_email), b.comment.strip()) for b in mine
                       if b.comment.strip())
        if d is not None and d.source == "test":
            remarks.append(("", _test_remark(d.votes or {}, d.points, session.language)))
        if session.degree_vote == "open":
            per_member_degree = tuple((names.get(b.voter_email, b.voter_email), b.degree) for b in mine
                                      if b.degree)
        students.append(StudentResult(
            ref=s.student_ref, name=s.name, admitted=s.admitted, ticket_number=s.ticket_number,
            ticket_questions=tickets.get(s.ticket_number or -1, ()),
            votes=tuple((names.get(b.voter_email, b.voter_email), b.grade) for b in mine),
            letter_totals=tuple((str(k), int(v)) for k, v in totals.items()),
            letter=d.letter if d else None, points=d.points if d else None, gpa=d.gpa if d else None,
            word=band.word(session.language) if band else "", mark=str(band.mark) if band else "",
            degree_mode=session.degree_vote,
            degree_yes=int((d.degree_totals or {}).get("yes", 0)) if d else 0,
            degree_no=int((d.degree_totals or {}).get("no", 0)) if d else 0,
            # A failing letter never shows the degree awarded, whatever was stored.
            degree_awarded=degree_award(d.letter, d.degree_award, scale) if d else None,
            degree_per_member=() if secret else per_member_degree,
            decided_at=d.decided_at if d else None,
            # One protocol per admitted student, numbered within the sitting in the list's order.
            protocol_number=f"{session.code}/{admitted_count}" if s.admitted else "",
            questions_asked=tuple(str(q).strip() for q in (s.questions_asked or []) if str(q).strip()),
            remarks=tuple(remarks),
            # The window runs from the publication of the results (003 §64): the chair's release when
            # recorded (the appeal assignment in Classroom closes that day), else the decision's day.
            appeal_closes=filing_closes((session.released_at or d.decided_at).astimezone(tz).date(),
                                        appeals) if d else None,
            commission_reason=d.commission_reason if d is not None and d.source == "commission" else "",
            # The cumulative grade is both: the grade, and the exception it is given in place of the exam.
            exception=_exception_line(exceptions.get(s.id), scale, session.language, s)
            if d is None or d.source == "cumulative" else None,
            on_behalf=tuple(sorted(on_behalf.get(s.student_ref, []))) if s.uploaded_by_secretary else (),
            on_behalf_files=on_behalf_files.get(s.id, 0) if s.uploaded_by_secretary else 0,
            pages_declared=s.pages_declared))
    chair = next((m.name for m in members if m.role == "chair"), "")
    secretary = next((m.name for m in members if m.role == "secretary"), "")
    return SessionDocument(
        code=session.code, title=session.title, kind=session.kind, programme=session.programme,
        group=session.group_name, language=session.language, timezone=session.timezone,
        date=session.starts_at.astimezone(tz), chair=chair, secretary=secretary,
        members=tuple(MemberLine(m.name, m.role, m.email in voted_emails) for m in members),
        students=tuple(students), university=session.university, commission_name=session.commission_name,
        platform=session.platform, released=session.released_at is not None)


def _test_remark(votes: dict[str, Any], total: float, language: str) -> str:
    """How a test exam's grade came about (004 test §2-5): the admission rating plus Moodle's score, and
    an automatic fail under the threshold."""
    from lms_bridge.i18n import gettext as _
    from lms_bridge.i18n import use_locale

    with use_locale(language):
        text = _("Test exam: admission rating %(rating)s + test points %(exam)s = %(total)s.",
                 rating=f"{float(votes.get('admission_rating', 0)):g}", exam=f"{float(votes.get('exam_points', 0)):g}",
                 total=f"{total:g}")
        if votes.get("auto_failed"):
            text += " " + _("The test points are under the threshold of %(threshold)s: the grade is a fail whatever "
                            "the total.", threshold=votes.get("pass_threshold", ""))
    return str(text)


def _exception_line(e: StudentExceptionRecord | None, scale: GradeScale, language: str,
                    student: StudentRecord | None = None) -> ExceptionLine | None:
    if e is None:
        return None
    word = ""
    if e.mark and scale.has_letter(e.mark):
        word = scale.band(e.mark).word(language)
    elif e.mark and (status := scale.status(e.mark)) is not None:
        word = status.word(language)
    return ExceptionLine(kind=e.kind, reason=e.reason, mark=e.mark, mark_word=word, moved_to=e.moved_to,
                         continuation=e.continuation, recorded_by=e.recorded_by, recorded_at=e.recorded_at,
                         current_score=student.current_score if student is not None else None,
                         midterm_score=student.midterm_score if student is not None else None)
