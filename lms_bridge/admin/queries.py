"""Read-only queries and view models for the admin page (plain dicts; no Flask here except labels).

The JSON the live-progress script polls is built by the same functions as the server-rendered page,
so a page reloaded without JavaScript shows exactly what the script would have drawn.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from lms_bridge.admin import labels
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    ProvisioningRun,
    StudentExceptionRecord,
    StudentRecord,
    WritebackRecord,
)

ACTIVE_RUN_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class SessionRow:
    session: ExamSession
    admitted: int
    total: int
    last_run: ProvisioningRun | None


def list_sessions(db: Session) -> list[SessionRow]:
    sessions = list(db.scalars(select(ExamSession).order_by(ExamSession.starts_at.desc(), ExamSession.code)))
    counts: dict[int, tuple[int, int]] = {}
    for session_id, total, admitted in db.execute(
            select(StudentRecord.session_id, func.count(),
                   func.sum(case((StudentRecord.admitted.is_(True), 1), else_=0)))
            .where(StudentRecord.active.is_(True)).group_by(StudentRecord.session_id)):
        counts[session_id] = (int(total or 0), int(admitted or 0))
    rows = []
    for s in sessions:
        total, admitted = counts.get(s.id, (0, 0))
        rows.append(SessionRow(s, admitted, total, latest_run(db, s.id)))
    return rows


def get_session(db: Session, code: str) -> ExamSession | None:
    return db.scalar(select(ExamSession).where(ExamSession.code == code))


def latest_run(db: Session, session_id: int) -> ProvisioningRun | None:
    return db.scalar(select(ProvisioningRun).where(ProvisioningRun.session_id == session_id)
                     .order_by(ProvisioningRun.id.desc()).limit(1))


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def counts_label(created: int, reused: int) -> str:
    return _("%(created)s created, %(reused)s reused", created=created, reused=reused)


def run_view(run: ProvisioningRun, code: str, titles: dict[str, str], shown: str | None = None,
             note: str = "") -> dict[str, Any]:
    """What the progress panel shows for one run (also its JSON).

    ``shown`` overrides the stored status: a run whose process stopped beating is ``interrupted``
    (see :func:`lms_bridge.provisioning.service.run_state`), and ``note`` says why.
    """
    status = shown or run.status
    steps = []
    for step in run.steps:
        steps.append({
            "name": step.name,
            "title": titles.get(step.name) or step.name,
            "status": step.status,
            "status_label": labels.label(labels.STEP_STATUS, step.status),
            "tone": labels.tone(step.status),
            "created": step.created,
            "reused": step.reused,
            "error": step.error,
            # A step that has not run has nothing to count; "0 created" would suggest it ran.
            "counts_label": (counts_label(step.created, step.reused)
                             if step.status not in ("pending", "skipped") else ""),
        })
    done = sum(1 for s in run.steps if s.status in ("done", "failed", "skipped"))
    created, reused = sum(s.created for s in run.steps), sum(s.reused for s in run.steps)
    return {
        "id": run.id,
        "session": code,
        "status": status,
        "status_label": labels.label(labels.RUN_STATUS, status),
        "tone": labels.tone(status),
        "finished": status not in ACTIVE_RUN_STATUSES,
        "trigger": run.trigger,
        # A run a worker started by itself to take over one whose process died (provisioning.service.resume).
        "resumed_note": _("Resumed automatically after an interruption.") if run.trigger == "auto" else "",
        "created": created,
        "reused": reused,
        "summary": _("%(done)s of %(total)s steps; %(counts)s",
                     done=sum(1 for s in run.steps if s.status == "done"), total=len(run.steps),
                     counts=counts_label(created, reused)),
        "error": run.error or note,
        "retryable": status in ("failed", "interrupted"),
        "progress": {"done": done, "total": len(run.steps)},
        "api_calls": dict(run.api_calls or {}),
        "queued_at": iso(run.queued_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "steps": steps,
    }


@dataclass(frozen=True)
class BallotCounts:
    """A session's ballots counted per student and per member, and the flagged ones per student."""

    counted: Counter[int]
    flagged: Counter[int]
    by_member: Counter[int]


def ballot_counts(db: Session, session: ExamSession) -> BallotCounts:
    """One query for the students table and the commission card."""
    counted: Counter[int] = Counter()
    flagged: Counter[int] = Counter()
    by_member: Counter[int] = Counter()
    for student_id, member_id, status in db.execute(select(
            BallotRecord.student_id, BallotRecord.member_id, BallotRecord.status).where(
            BallotRecord.session_id == session.id)):
        if status == "counted":
            counted[student_id] += 1
            if member_id is not None:
                by_member[member_id] += 1
        else:
            flagged[student_id] += 1
    return BallotCounts(counted, flagged, by_member)


# The journal entries the students table looks up (the draw's record, admissions to the draw, the
# files sent ahead, a test's admissions and reconnections, Moodle account conflicts), read at once.
STUDENT_JOURNAL_PREFIXES = ("draw.record", "admission:", "moodle.admission:", "classroom.advance",
                            "testexam.admit:", "testexam.reconnect:", "moodle.user_conflict:")


def students_view(db: Session, session: ExamSession, counts: BallotCounts | None = None) -> list[dict[str, Any]]:
    """Each student's admission, draw, answers, status and decision (also the live JSON)."""
    from lms_bridge.store.repo import end_prefetch, prefetch_journal

    prefetch_journal(db, session.id, STUDENT_JOURNAL_PREFIXES)
    try:
        return _students_view(db, session, counts or ballot_counts(db, session))
    finally:
        end_prefetch(db)


def _students_view(db: Session, session: ExamSession, counts: BallotCounts) -> list[dict[str, Any]]:
    decisions = {d.student_id: d for d in db.scalars(
        select(DecisionRecord).where(DecisionRecord.session_id == session.id))}
    writebacks: dict[int, list[WritebackRecord]] = {}
    if decisions:
        for wb in db.scalars(select(WritebackRecord).where(
                WritebackRecord.decision_id.in_([d.id for d in decisions.values()]))):
            writebacks.setdefault(wb.decision_id, []).append(wb)
    ballots, flagged = counts.counted, counts.flagged
    from lms_bridge.results.draw import handout_failures

    not_handed_out = handout_failures(db, session)
    from lms_bridge.results.examday import current_exceptions

    exceptions = current_exceptions(db, session)
    from lms_bridge.results.admission import admission_states

    admissions = admission_states(db, session, exceptions=exceptions)
    # Kind-specific: the files sent before the sitting (defense, creative exam) and a test's incidents.
    from lms_bridge.store.repo import journal_entry

    advance = journal_entry(db, session.id, "classroom.advance")
    advance_links = dict((advance.data.get("links") or {}) if advance is not None else {})
    from lms_bridge.results.testexam import incidents as test_incidents

    reconnections = test_incidents(db, session)
    from lms_bridge.store.repo import journal_entries

    test_admitted = {e.key.split(":", 1)[1] for e in journal_entries(db, session.id, "testexam.admit:")}
    from lms_bridge.moodle.steps import CONFLICT_PREFIX, conflict_message

    conflicts = {e.key.removeprefix(CONFLICT_PREFIX): conflict_message(e.data)
                 for e in journal_entries(db, session.id, CONFLICT_PREFIX) if not e.data.get("resolved")}
    from lms_bridge.results.examday import continuation_days_by_ref

    continue_days = continuation_days_by_ref(session)
    out = []
    for st in session.students:
        if not st.active:
            continue
        status = st.status if st.admitted else "not_admitted"
        decision = decisions.get(st.id)
        out.append({
            "id": st.id,
            "ref": st.student_ref,
            "name": st.name,
            "email": st.email,
            "admitted": st.admitted,
            "admission_note": st.admission_note,
            "admission_rating": st.admission_rating,
            "ticket": st.ticket_number,
            "ticket_drawn_at": iso(st.ticket_drawn_at),
            # Admission to the draw: the state, its words, and why Moodle could not open the ticket yet.
            "admission": admissions[st.student_ref][0].value,
            "admission_label": labels.label(labels.ADMISSION_STATE, admissions[st.student_ref][0].value),
            # A Moodle account whose e-mail and ID number disagree with the session file: not enrolled.
            "moodle_conflict": conflicts.get(st.email, ""),
            "admission_error": (_("Moodle: %(reason)s", reason=admissions[st.student_ref][1])
                                if admissions[st.student_ref][1] else ""),
            "draw_error": (_("Not handed out in Classroom: %(reason)s", reason=not_handed_out[st.student_ref])
                           if st.student_ref in not_handed_out else ""),
            "files": st.files_received,
            "answers_label": (ngettext("%(num)s file", "%(num)s files", st.files_received)
                              if st.files_received else ""),
            "pages_declared": st.pages_declared,
            "turned_in_at": iso(st.turned_in_at),
            "late": st.turned_in_late,
            "attempt_state": st.attempt_state,
            "attempt_score": st.attempt_score,
            "plagiarism": st.plagiarism_check,
            "submission_link": advance_links.get(st.student_ref, ""),
            "reconnections": len(reconnections.get(st.student_ref, [])),
            "test_admitted": st.student_ref in test_admitted,
            "test_auto_failed": bool(decision is not None and decision.source == "test"
                                     and (decision.votes or {}).get("auto_failed")),
            "status": status,
            "status_label": labels.label(labels.STUDENT_STATUS, status),
            "tone": labels.tone(status),
            "ballots": ballots.get(st.id, 0),
            "flagged_ballots": flagged.get(st.id, 0),
            "exception": _exception_view(exceptions.get(st.id)),
            # After a technical failure the commission may continue on one of these days.
            "continue_days": [{"day": d.isoformat(), "label": format_date(d, "medium", locale=get_locale() or "en")}
                              for d in continue_days.get(st.student_ref, [])],
            "by_commission": decision is not None and decision.source == "commission",
            "commission_reason": decision.commission_reason if decision is not None else "",
            "decision": None if decision is None else {
                "letter": decision.letter,
                "points": decision.points,
                "gpa": decision.gpa,
                "degree_award": decision.degree_award,
                "decided_at": iso(decision.decided_at),
                "writebacks": [{"target": wb.target,
                                "target_label": labels.label(labels.WRITEBACK_TARGET, wb.target),
                                "status": wb.status, "tone": labels.tone(
                                    "done" if wb.status == "done" else
                                    "failed" if wb.status == "failed" else "queued")}
                               for wb in sorted(writebacks.get(decision.id, []), key=lambda w: w.target)],
            },
        })
    return out


def members_view(db: Session, session: ExamSession, counts: BallotCounts | None = None) -> list[dict[str, Any]]:
    votes = (counts or ballot_counts(db, session)).by_member
    return [{"name": m.name, "email": m.email, "role": m.role,
             "role_label": labels.label(labels.ROLE, m.role), "votes": votes.get(m.id, 0),
             "voting": m.role != "secretary"}
            for m in session.members if m.active]


LINK_KEYS = ("url", "alternateLink", "alternate_link", "responderUri", "responder_uri", "webViewLink",
             "edit_url", "editUrl", "view_url", "link")


# Moodle keeps no link in its answers; these are its stable page addresses (Moodle 4.x).
MOODLE_PAGES = {
    "moodle.course": "/course/view.php?id={id}",
    "moodle.user": "/user/profile.php?id={id}",
    "moodle.tickets": "/mod/quiz/view.php?id={cmid}",
    "moodle.result_assignment": "/mod/assign/view.php?id={cmid}",
}


def _link(entry: JournalEntry, moodle_site: str) -> str | None:
    data = entry.data or {}
    for k in LINK_KEYS:
        value = data.get(k)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            return value
    page = MOODLE_PAGES.get(entry.key.split(":", 1)[0])
    if page and moodle_site.startswith(("https://", "http://")):
        cmid = data.get("cmid")
        if "{cmid}" in page and not cmid:
            return None
        return moodle_site.rstrip("/") + page.format(id=entry.external_id, cmid=cmid)
    return None


JOURNAL_PAGE_SIZE = 100
# Students per page of the session page: 600 rows with their actions made a 1.5 MB page.
STUDENTS_PAGE_SIZE = 50


def student_pages(total: int, per_page: int = STUDENTS_PAGE_SIZE) -> int:
    return max(1, -(-total // per_page))


def students_on_page(students: list[dict[str, Any]], page: int,
                     per_page: int = STUDENTS_PAGE_SIZE) -> list[dict[str, Any]]:
    return students[(page - 1) * per_page:page * per_page]


def sitting_page(students: list[dict[str, Any]], per_page: int = STUDENTS_PAGE_SIZE) -> int:
    """The page the sitting is at: the first admitted student with neither a decision nor an
    exception (the one the commission hears next), else the first page."""
    for index, st in enumerate(students):
        if st["admitted"] and st["decision"] is None and st["exception"] is None:
            return index // per_page + 1
    return 1


def journal_count(db: Session, session: ExamSession) -> int:
    """How many resources provisioning made (the session page shows the number, not the rows)."""
    return int(db.scalar(select(func.count()).select_from(JournalEntry)
                         .where(JournalEntry.session_id == session.id)) or 0)


def journal_view(db: Session, session: ExamSession, *, page: int = 1,
                 per_page: int = JOURNAL_PAGE_SIZE) -> list[dict[str, Any]]:
    """One page of the created resources, oldest first, with a link to open each when one is known.

    A session of 600 students leaves some 3,000 rows; they are read a page at a time, on demand."""
    entries = list(db.scalars(select(JournalEntry).where(JournalEntry.session_id == session.id)
                              .order_by(JournalEntry.id).offset((max(page, 1) - 1) * per_page)
                              .limit(per_page)))
    # The site's address as Moodle itself reported it when the session was provisioned.
    site = db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                JournalEntry.key == "moodle.site"))
    moodle_site = str((site.data or {}).get("siteurl", "")) if site is not None else ""
    return [{"step": e.step, "key": e.key, "external_id": e.external_id, "link": _link(e, moodle_site),
             "created_at": e.created_at} for e in entries]


def local(value: datetime | None, tz: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(ZoneInfo(tz))
    except (KeyError, ValueError):
        return value



def _exception_view(e: StudentExceptionRecord | None) -> dict[str, Any] | None:
    """The student's exception as the page and the JSON show it: what, why, who and when."""
    if e is None:
        return None
    return {"kind": e.kind, "label": labels.label(labels.STUDENT_STATUS, e.kind), "reason": e.reason,
            "mark": e.mark, "moved_to": e.moved_to.isoformat() if e.moved_to else None,
            "continuation": labels.label(labels.CONTINUATION, e.continuation) if e.continuation else "",
            "recorded_by": e.recorded_by, "recorded_at": iso(e.recorded_at)}


def has_ballot(db: Session, session: ExamSession, student_ref: str) -> bool:
    """Whether provisioning made the student's voting form."""
    from lms_bridge.store.repo import journal_entry

    return journal_entry(db, session.id, f"forms.form:{student_ref}") is not None


# -- what one person sees of a session ------------------------------------------------------------------
def own_ballots(db: Session, exam: ExamSession, email: str) -> list[dict[str, Any]]:
    """The ballots a commission member cast in this session, newest first (their own only)."""
    if not email:
        return []
    rows = db.execute(select(BallotRecord, StudentRecord.name).join(
        StudentRecord, StudentRecord.id == BallotRecord.student_id).where(
        BallotRecord.session_id == exam.id, func.lower(BallotRecord.voter_email) == email.lower())
        .order_by(BallotRecord.submitted_at.desc())).all()
    return [{"student": name, "grade": b.grade, "degree": b.degree, "comment": b.comment,
             "submitted_at": b.submitted_at, "status": b.status} for b, name in rows]


def latest_events(db: Session, exam: ExamSession, *actions: str) -> dict[str, AuditEvent | None]:
    """The newest audit event of each of ``actions`` in one query (each is rare: a few per session)."""
    found: dict[str, AuditEvent | None] = dict.fromkeys(actions)
    for event in db.scalars(select(AuditEvent).where(AuditEvent.session_id == exam.id,
                                                     AuditEvent.action.in_(actions))
                            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())):
        if found[event.action] is None:
            found[event.action] = event
    return found


def latest_event(db: Session, exam: ExamSession, action: str) -> AuditEvent | None:
    return db.scalar(select(AuditEvent).where(AuditEvent.session_id == exam.id, AuditEvent.action == action)
                     .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1))
