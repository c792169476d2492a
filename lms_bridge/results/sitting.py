"""The sitting board in the store: each student's facts of the day, the secretary's board actions,
answer sheets uploaded on a student's behalf, the day's meeting and recording links, and the
Classroom announcements (the next student, the links).

The rules are in :mod:`lms_bridge.domain.sitting`; each function here records what they allow with
an AuditEvent and commits nothing itself (the caller's transaction does), except the jobs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms_bridge.backends import backends
from lms_bridge.domain import sitting as rules
from lms_bridge.domain.examday import Continuation, ExceptionKind
from lms_bridge.domain.kinds import rules_for
from lms_bridge.domain.timetable import TimetableError, plan_timetable
from lms_bridge.i18n import gettext as _
from lms_bridge.jobs.queue import JobQueue, job
from lms_bridge.results.examday import current_exceptions
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    BoardEvent,
    CommissionMember,
    DecisionRecord,
    ExamSession,
    SittingDayRecord,
    StudentRecord,
)
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)

# Board event kinds, one per action of the board recorded here (the admission to the draw is
# recorded by lms_bridge.results.admission, the receipt on the student).
EVENT_FOR_ACTION = {
    rules.Action.IDENTIFY: "identified",
    rules.Action.START_ANSWER: "answer_started",
    rules.Action.FINISH_ANSWER: "answer_ended",
}

# What the secretary may upload on a student's behalf: the answer sheets as PDF or photos.
UPLOAD_TYPES = {b"%PDF": ".pdf", b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png"}
MIME_TYPES = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".png": "image/png"}
# Answer sheets uploaded on a student's behalf, put in Drive: one journal entry per file.
ANSWERS_PREFIX = "answers.drive:"
P_ANSWER = "lmsBridgeAnswer"
MAX_FILES_PER_UPLOAD = 20


@dataclass(frozen=True)
class BoardRow:
    student_id: int
    facts: rules.StudentFacts
    stage: rules.Stage
    since: datetime | None
    position: int
    planned_start: datetime | None
    planned_end: datetime | None
    extra_slot: bool  # moved here (absent with a valid reason) or continuing after a technical failure
    pages_declared: int | None
    uploaded_by_secretary: bool
    preparation_ends_at: datetime | None
    timer: rules.AnswerTimer | None
    votes: rules.Votes
    overrun_minutes: int
    exception_reason: str = ""
    moved_to: date | None = None
    decision_letter: str = ""
    exception_mark: str = ""  # F (refusal, breach), I (postponed), the cumulative grade's letter
    commission_reason: str = ""  # the commission decided in place of a vote that could not decide


@dataclass(frozen=True)
class Board:
    day: date
    days: tuple[date, ...]
    now: datetime
    timezone: str
    rows: tuple[BoardRow, ...]
    answering: BoardRow | None
    next_up: BoardRow | None
    day_starts_at: datetime | None
    day_planned_end: datetime | None
    delay_minutes: int
    meeting_url: str = ""
    recording_url: str = ""
    links_posted_at: datetime | None = None
    timetable_error: str = ""
    files: dict[int, list[str]] = field(default_factory=dict)


def _local_start(session: ExamSession, day: date) -> datetime:
    zone = ZoneInfo(session.timezone)
    wall = session.starts_at.astimezone(zone).time().replace(tzinfo=None)
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)


def _latest_events(db: Session, session: ExamSession) -> dict[tuple[int, str], datetime]:
    rows = db.execute(select(BoardEvent.student_id, BoardEvent.kind, func.max(BoardEvent.at))
                      .where(BoardEvent.session_id == session.id)
                      .group_by(BoardEvent.student_id, BoardEvent.kind))
    return {(sid, kind): at for sid, kind, at in rows}


def _admitted_at(db: Session, session: ExamSession) -> dict[str, datetime]:
    """When each student was admitted to the draw (lms_bridge.results.admission journals it), or at a
    test exam to the test quiz (lms_bridge.results.testexam journals it)."""
    from lms_bridge.results.admission import ADMISSION_PREFIX
    from lms_bridge.store.repo import journal_entries

    prefix = "testexam.admit:" if rules_for(session.kind).test_quiz else ADMISSION_PREFIX
    out = {}
    for entry in journal_entries(db, session.id, prefix):
        try:
            out[entry.key.removeprefix(prefix)] = datetime.fromisoformat(str(entry.data.get("at")))
        except ValueError:
            continue
    return out


def student_facts(db: Session, session: ExamSession) -> dict[int, rules.StudentFacts]:
    """Every active admitted student's facts, by student id."""
    events = _latest_events(db, session)
    admitted = _admitted_at(db, session)
    exceptions = current_exceptions(db, session)
    decided = dict(db.execute(select(DecisionRecord.student_id, DecisionRecord.decided_at)
                              .where(DecisionRecord.session_id == session.id)).all())
    ballots = {sid: (n, first) for sid, n, first in db.execute(
        select(BallotRecord.student_id, func.count(), func.min(BallotRecord.submitted_at))
        .where(BallotRecord.session_id == session.id, BallotRecord.status == "counted")
        .group_by(BallotRecord.student_id))}
    out = {}
    for st in session.students:
        if not (st.active and st.admitted):
            continue
        exc = exceptions.get(st.id)
        n, first = ballots.get(st.id, (0, None))
        out[st.id] = rules.StudentFacts(
            ref=st.student_ref, name=st.name,
            identified_at=events.get((st.id, "identified")),
            admitted_at=admitted.get(st.student_ref),
            ticket_drawn_at=st.ticket_drawn_at, ticket_confirmed_at=st.ticket_confirmed_at,
            files=st.files_received,
            uploaded_at=st.turned_in_at or events.get((st.id, "uploaded")),
            answer_started_at=events.get((st.id, "answer_started")),
            answer_ended_at=events.get((st.id, "answer_ended")),
            ballots=n, first_ballot_at=first, decided_at=decided.get(st.id),
            exception=ExceptionKind(exc.kind) if exc else None,
            exception_at=exc.recorded_at if exc else None,
            continuation=Continuation(exc.continuation) if exc and exc.continuation else None,
            moved_to=exc.moved_to if exc else None)
    return out


def build_board(db: Session, session: ExamSession, day: date | None, now: datetime | None = None,
                data_dir: Path | None = None) -> Board:
    """The board of one sitting day (``None``: today's, or the next one)."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(session.timezone)
    facts = student_facts(db, session)
    students = {st.id: st for st in session.students if st.id in facts}
    by_ref = {st.student_ref: st.id for st in students.values()}
    exceptions = current_exceptions(db, session)
    try:
        table = plan_timetable([st.student_ref for st in sorted(students.values(), key=lambda s: s.position)],
                               session.starts_at, session.timezone,
                               preparation_minutes=session.preparation_minutes,
                               answer_minutes=session.answer_minutes)
        error = ""
    except TimetableError as exc:
        table, error = None, str(exc)
    slots = {by_ref[s.student_id]: s for s in table.slots} if table else {}
    days = {d.date for d in table.days} if table else set()
    moved = {sid: e.moved_to for sid, e in exceptions.items() if e.moved_to is not None and sid in facts}
    days |= set(moved.values())
    today = now.astimezone(zone).date()
    chosen = day if day is not None and day in days else rules.board_day(sorted(days), today)

    # Today's list: the timetable's students of the day, then the extra slots: those moved here (a
    # valid-reason absence, or a technical failure continued on this day), and those whose technical
    # failure the commission continues later today.
    planned = [sid for sid, s in sorted(slots.items(), key=lambda kv: kv[1].position) if s.date == chosen]
    extra = [sid for sid in moved if moved[sid] == chosen and sid not in planned]
    extra += [sid for sid in planned if rules.resumes(facts[sid]) and facts[sid].exception
              is ExceptionKind.TECHNICAL_FAILURE and sid not in moved]
    tday = next((d for d in table.days if d.date == chosen), None) if table else None
    day_start = tday.starts_at if tday else _local_start(session, chosen)
    day_end = tday.ends_at if tday else day_start + timedelta(minutes=session.preparation_minutes)
    extra_times = rules.extra_slots(day_end, len(extra), session.answer_minutes)

    members = [(m.email, m.name) for m in sorted(session.members, key=lambda m: m.position)
               if m.active and m.role != "secretary"]
    voted: dict[int, set[str]] = {}
    for sid, email in db.execute(select(BallotRecord.student_id, BallotRecord.voter_email).where(
            BallotRecord.session_id == session.id, BallotRecord.status == "counted")):
        voted.setdefault(sid, set()).add(email.lower())
    letters, by_commission = {}, {}
    for sid, letter, source, why in db.execute(select(
            DecisionRecord.student_id, DecisionRecord.letter, DecisionRecord.source, DecisionRecord.commission_reason)
            .where(DecisionRecord.session_id == session.id)):
        letters[sid] = letter
        if source == "commission":
            by_commission[sid] = why

    def row(sid: int, position: int, start: datetime | None, end: datetime | None, is_extra: bool) -> BoardRow:
        f, st = facts[sid], students[sid]
        stage, since = rules.stage_of(f, now)
        # On the day the student was moved away from, the row says so and stops there.
        if sid in moved and moved[sid] != chosen:
            stage, since = rules.Stage.EXCEPTION, f.exception_at
        clock = rules_for(session.kind).timer
        timer = (rules.answer_timer(f.answer_started_at, now, slot_minutes=session.answer_minutes, timer=clock)
                 if clock is not None and stage is rules.Stage.ANSWERING and f.answer_started_at else None)
        exc = exceptions.get(sid)
        return BoardRow(
            student_id=sid, facts=f, stage=stage, since=since, position=position,
            planned_start=start, planned_end=end, extra_slot=is_extra,
            pages_declared=st.pages_declared, uploaded_by_secretary=st.uploaded_by_secretary,
            preparation_ends_at=(rules.preparation_ends(f.ticket_drawn_at, session.preparation_minutes)
                                 if f.ticket_drawn_at else None),
            timer=timer, votes=rules.votes(members, voted.get(sid, set())),
            overrun_minutes=(rules.overrun_minutes(end, f.answer_ended_at, f.answer_started_at, now)
                             if end else 0),
            exception_reason=exc.reason if exc else "", moved_to=exc.moved_to if exc else None,
            decision_letter=letters.get(sid, ""), exception_mark=exc.mark if exc else "",
            commission_reason=by_commission.get(sid, ""))

    rows = [row(sid, i + 1, slots[sid].answer_starts_at, slots[sid].answer_ends_at, False)
            for i, sid in enumerate(planned)]
    rows += [row(sid, len(planned) + i + 1, start, end, True)
             for i, (sid, (start, end)) in enumerate(zip(extra, extra_times, strict=True))]
    # The extra slot replaces the student's first one in the queue's order.
    in_queue = [r for r in rows if not (r.student_id in extra and not r.extra_slot)]
    answering = next((r for r in rows if r.stage is rules.Stage.ANSWERING), None)
    nxt_facts = rules.next_to_answer([r.facts for r in in_queue if r.stage is not rules.Stage.EXCEPTION
                                      or r.extra_slot], now)
    next_up = next((r for r in in_queue if nxt_facts is not None and r.facts.ref == nxt_facts.ref
                    and (r.extra_slot or r.student_id not in extra)), None)
    if rules_for(session.kind).timer is None:
        # A test exam: everyone takes the quiz at once, nobody answers in turn (no queue, no delay).
        answering, next_up = None, None
    delay = 0
    if answering is not None and answering.planned_start and answering.facts.answer_started_at:
        delay = int((answering.facts.answer_started_at - answering.planned_start).total_seconds() // 60)
    elif next_up is not None and next_up.planned_start and now > next_up.planned_start and chosen == today:
        # Waiting counts only on the day itself: a past day's board is a record, not a running late.
        delay = int((now - next_up.planned_start).total_seconds() // 60)
    links = db.scalar(select(SittingDayRecord).where(SittingDayRecord.session_id == session.id,
                                                     SittingDayRecord.day == chosen))
    return Board(day=chosen, days=tuple(sorted(days)), now=now, timezone=session.timezone, rows=tuple(rows),
                 answering=answering, next_up=next_up, day_starts_at=day_start,
                 day_planned_end=(extra_times[-1][1] if extra_times else day_end), delay_minutes=delay,
                 meeting_url=links.meeting_url if links else "", recording_url=links.recording_url if links else "",
                 links_posted_at=links.posted_at if links else None, timetable_error=error,
                 files=uploaded_files(session, data_dir))


def _refuse_when_sealed(session: ExamSession) -> None:
    if session.status == "sealed":
        raise rules.BoardError(_("The session is sealed; nothing can change any more."))


def act(db: Session, session: ExamSession, student: StudentRecord, action: str, *, actor: str,
        now: datetime | None = None) -> str | None:
    """Do one board action for ``student`` (raises :class:`BoardError` when the rules refuse).

    Returns, for the start of an answer, the name of the student who answers next (to announce)."""
    _refuse_when_sealed(session)
    now = now or datetime.now(UTC)
    action = rules.Action(action)
    facts = student_facts(db, session)
    if student.id not in facts:
        raise rules.BoardError(_("The student is not admitted to this sitting."))
    mine = facts[student.id]
    rules.check_action(action, mine, list(facts.values()), now, draw=rules_for(session.kind).tickets,
                       oral=rules_for(session.kind).timer is not None)
    if action is rules.Action.ADMIT:
        return None  # checked only: the caller admits through lms_bridge.results.admission
    if action is rules.Action.CONFIRM_RECEIPT:
        student.ticket_confirmed_at = now
        kind = "receipt_confirmed"
    else:
        kind = EVENT_FOR_ACTION[action]
        db.add(BoardEvent(session_id=session.id, student_id=student.id, kind=kind, at=now, actor=actor))
    if action is rules.Action.START_ANSWER:
        student.status = "answering"
    db.add(AuditEvent(session_id=session.id, actor=actor, action=f"board.{kind}",
                      detail={"student": student.student_ref}))
    db.flush()
    if action is not rules.Action.START_ANSWER:
        return None
    board = build_board(db, session, None, now)
    return board.next_up.facts.name if board.next_up is not None else None


def _upload_dir(data_dir: Path, session: ExamSession, student: StudentRecord) -> Path:
    # Our own names only: the code and ref are checked identifiers, and nothing from the browser's
    # file name reaches the path.
    safe = re.compile(r"[^A-Za-z0-9_.-]")
    return data_dir / "uploads" / safe.sub("_", session.code) / safe.sub("_", student.student_ref)


def uploaded_files(session: ExamSession, data_dir: Path | None = None) -> dict[int, list[str]]:
    """The files the secretary uploaded, by student id (names only); filled by the caller that
    knows the data dir."""
    if data_dir is None:
        return {}
    out = {}
    for st in session.students:
        folder = _upload_dir(data_dir, session, st)
        if folder.is_dir():
            out[st.id] = sorted(p.name for p in folder.iterdir() if p.is_file())
    return out


def upload_on_behalf(db: Session, session: ExamSession, student: StudentRecord, files: Sequence[bytes], *,
                     pages: int | None, actor: str, data_dir: Path, max_bytes: int, now: datetime | None = None,
                     ) -> int:
    """Keep answer sheets the secretary received from the student (by mail, in the meeting's chat)
    as the student's upload; returns how many files were kept.  PDF, JPEG or PNG only."""
    _refuse_when_sealed(session)
    now = now or datetime.now(UTC)
    if not files:
        raise rules.BoardError(_("Choose at least one file."))
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise rules.BoardError(_("At most %(num)s files at once.", num=MAX_FILES_PER_UPLOAD))
    if pages is not None and not 1 <= pages <= 200:
        raise rules.BoardError(_("The number of pages must be between 1 and 200."))
    kinds = []
    for i, data in enumerate(files, 1):
        if len(data) > max_bytes:
            raise rules.BoardError(_("File %(num)s is too large.", num=i))
        ext = next((e for magic, e in UPLOAD_TYPES.items() if data.startswith(magic)), None)
        if ext is None:
            raise rules.BoardError(_("File %(num)s is not a PDF, JPEG or PNG file.", num=i))
        kinds.append(ext)
    folder = _upload_dir(data_dir, session, student)
    folder.mkdir(parents=True, exist_ok=True)
    start = len([p for p in folder.iterdir() if p.is_file()])
    for i, (data, ext) in enumerate(zip(files, kinds, strict=False), start + 1):
        (folder / f"answer-{i:02d}{ext}").write_bytes(data)
    student.files_received += len(files)
    student.uploaded_by_secretary = True
    if pages is not None:
        student.pages_declared = pages
    if student.status in ("registered", "invited", "enrolled", "ticket_drawn"):
        student.status = "answers_uploaded"
    db.add(BoardEvent(session_id=session.id, student_id=student.id, kind="uploaded", at=now, actor=actor,
                      detail={"files": len(files), "pages": pages}))
    db.add(AuditEvent(session_id=session.id, actor=actor, action="board.uploaded_on_behalf",
                      detail={"student": student.student_ref, "files": len(files), "pages": pages}))
    db.flush()
    return len(files)


def uploaded_file(data_dir: Path, session: ExamSession, student: StudentRecord, name: str) -> Path | None:
    """One uploaded file by its name on the board, or None (never a path outside the folder)."""
    folder = _upload_dir(data_dir, session, student)
    if not re.fullmatch(r"answer-\d{2,3}\.(pdf|jpg|png)", name):
        return None
    path = folder / name
    return path if path.is_file() else None


def valid_link(url: str) -> bool:
    """A meeting or recording link: an https (or http) address, nothing a browser would run."""
    return bool(re.fullmatch(r"https?://[^\s<>\"']{3,1990}", url))


def set_links(db: Session, session: ExamSession, day: date, *, meeting_url: str, recording_url: str,
              actor: str) -> SittingDayRecord:
    _refuse_when_sealed(session)
    for url in (meeting_url, recording_url):
        if url and not valid_link(url):
            raise rules.BoardError(_("A link must be a web address starting with https://."))
    record = db.scalar(select(SittingDayRecord).where(SittingDayRecord.session_id == session.id,
                                                      SittingDayRecord.day == day))
    if record is None:
        record = SittingDayRecord(session_id=session.id, day=day)
        db.add(record)
    record.meeting_url, record.recording_url = meeting_url, recording_url
    record.updated_by, record.updated_at = actor, datetime.now(UTC)
    db.add(AuditEvent(session_id=session.id, actor=actor, action="board.links",
                      detail={"day": day.isoformat(), "meeting": meeting_url, "recording": recording_url}))
    db.flush()
    return record


def announcement_text(kind: str, *, name: str = "", day: date | None = None, meeting_url: str = "",
                      recording_url: str = "") -> tuple[str, list[str]]:
    """The words and links of a Classroom announcement, in the current locale (the job sets the
    session's language)."""
    if kind == "next":
        return _("Next to answer: %(name)s. Please be ready in the meeting.", name=name), []
    if kind == "released":
        return _("The chair has announced the results of the attestation: your grade is now in Classroom "
                 "and Moodle."), []
    links = [u for u in (meeting_url, recording_url) if u]
    lines = [_("The sitting of %(day)s.", day=day.isoformat() if day else "")]
    if meeting_url:
        lines.append(_("Meeting: %(url)s", url=meeting_url))
    if recording_url:
        lines.append(_("Recording: %(url)s", url=recording_url))
    return "\n".join(lines), links


@job(retries=5, retry_delay=30.0, name="results.announce")
def announce(queue: JobQueue, session_id: int, kind: str, name: str = "", day: str | None = None) -> None:
    """Post an announcement to the session's Classroom course, in the session's language: ``next``
    (who answers next), ``released`` (the chair's release) or ``links`` (the meeting and recording
    links of ``day``, marked as posted once Classroom has them)."""
    from lms_bridge.i18n import use_locale

    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        if session is None:
            return
        course = journal_entry(db, session.id, "classroom.course")
        if course is None:
            logger.info("session %s has no Classroom course yet; nothing announced", session.code)
            return
        course_id, language = course.external_id, session.language
        record = None
        if day is not None:
            record = db.scalar(select(SittingDayRecord).where(SittingDayRecord.session_id == session_id,
                                                              SittingDayRecord.day == date.fromisoformat(day)))
            if record is None:
                return
        with use_locale(language):
            text, links = announcement_text(
                kind, name=name, day=date.fromisoformat(day) if day else None,
                meeting_url=record.meeting_url if record else "",
                recording_url=record.recording_url if record else "")
    backends(queue).google.classroom.create_announcement(course_id, text, links=links)
    with queue.transaction() as db:
        if day is not None:
            record = db.scalar(select(SittingDayRecord).where(SittingDayRecord.session_id == session_id,
                                                              SittingDayRecord.day == date.fromisoformat(day)))
            if record is not None:
                record.posted_at = datetime.now(UTC)
        db.add(AuditEvent(session_id=session_id, action="board.announced", detail={"kind": kind, "text": text}))


def voting_members(session: ExamSession) -> list[CommissionMember]:
    return [m for m in session.members if m.active and m.role != "secretary"]


def answers_key(student_ref: str, name: str) -> str:
    return f"{ANSWERS_PREFIX}{student_ref}:{name}"


def answers_in_drive(db: Session, session: ExamSession) -> dict[str, dict[str, str]]:
    """The answer sheets uploaded on a student's behalf that are in Drive: student id -> file name ->
    the Drive link ("" while a file is kept on the server only, e.g. over the upload limit)."""
    from lms_bridge.store.repo import journal_entries

    out: dict[str, dict[str, str]] = {}
    for entry in journal_entries(db, session.id, ANSWERS_PREFIX):
        ref, _sep, name = entry.key.removeprefix(ANSWERS_PREFIX).rpartition(":")
        out.setdefault(ref, {})[name] = str(entry.data.get("link") or "")
    return out


@job(retries=5, retry_delay=30.0, name="results.share_answer_sheets")
def share_answer_sheets(queue: JobQueue, session_id: int, student_ref: str) -> None:
    """Put the answer sheets the secretary uploaded on ``student_ref``'s behalf where the commission
    reads the student's own: Classroom lets only the student attach files to a submission
    (studentSubmissions.modifyAttachments; docs/google-fidelity.md), so each file becomes a Drive file
    of this app, shared (read only) with every active member, and linked from the student's ballot
    and the board.  Idempotent: a file already in the journal is not uploaded again; one lost after
    an ambiguous failure is found by its tags."""
    from lms_bridge.google.drive import MULTIPART_LIMIT
    from lms_bridge.google.steps import P_SESSION, form_requests
    from lms_bridge.store.models import JournalEntry
    from lms_bridge.store.repo import spec_from_store

    google = backends(queue).google
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session_id,
                                                        StudentRecord.student_ref == student_ref)) if session else None
        if session is None or student is None:
            return
        code = session.code
        folder = _upload_dir(queue.settings.data_dir, session, student)
        names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        done = answers_in_drive(db, session).get(student_ref, {})
        emails = sorted({m.email for m in session.members if m.active})
    for name in names:
        if name in done:
            continue
        data = (folder / name).read_bytes()
        tags = {P_SESSION: code, P_ANSWER: f"{student_ref}/{name}"}
        if len(data) > MULTIPART_LIMIT:
            made: dict[str, object] = {"id": "", "webViewLink": ""}  # kept on the server, shown on the board
        else:
            found = google.drive.find_by_app_properties(tags)
            made = found[0] if found else google.drive.upload_file(
                f"{code} {student_ref} {name}", MIME_TYPES[Path(name).suffix], data, tags,
                recover=lambda tags=tags: next(iter(google.drive.find_by_app_properties(tags)), None))
            if not made.get("webViewLink"):
                made = {**made, "webViewLink": f"https://drive.google.com/file/d/{made['id']}/view"}
            google.drive.share_readers([(str(made["id"]), email) for email in emails])
        with queue.transaction() as db:
            db.add(JournalEntry(session_id=session_id, step="board", key=answers_key(student_ref, name),
                                external_id=str(made["id"]), data={"link": str(made["webViewLink"]),
                                                                   "shared_with": emails if made["id"] else []}))
            db.add(AuditEvent(session_id=session_id, action="board.answers_in_drive", detail={
                "student": student_ref, "file": name, "drive": str(made["id"]), "shared_with": len(emails)}))
    with queue.transaction() as db:
        session = db.get(ExamSession, session_id)
        assert session is not None
        links = [link for _name, link in sorted(answers_in_drive(db, session).get(student_ref, {}).items()) if link]
        entry = journal_entry(db, session_id, f"forms.form:{student_ref}")
        if entry is None or not links or entry.data.get("on_behalf") == links:
            return
        from lms_bridge.google.steps import ADVANCE_KEY

        spec = spec_from_store(db, session)
        person = next(s for s in spec.students if s.id == student_ref)
        advance = journal_entry(db, session_id, ADVANCE_KEY)
        submission = str(entry.data.get("answers_link") or
                         ((advance.data.get("links") or {}) if advance else {}).get(student_ref, ""))
        info = form_requests(spec, person, submission=submission,
                             grading_hours=google.settings.exams.written_grading_hours, on_behalf=links)[0]
        form_id = entry.external_id
    google.forms.batch_update(form_id, [info])
    with queue.transaction() as db:
        entry = journal_entry(db, session_id, f"forms.form:{student_ref}")
        if entry is not None:
            entry.data = {**entry.data, "on_behalf": links}
