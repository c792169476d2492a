"""Appeals in the store and outside: filing in Classroom, the hearing, the appeal commission's vote in
a Google Form, the answer (letter and protocol) and the change applied to the grade's targets.

The rules are in :mod:`lms_bridge.domain.appeals`.  Each function takes the store session and the
outside clients and commits nothing itself; the job or request around it commits once.

How the student sees a refusal in Classroom: the Classroom API has no call that writes a private
comment (the studentSubmissions methods are get, list, patch, turnIn, reclaim, return and
modifyAttachments), so a late filing is *returned* (``studentSubmissions.return``: the student sees
the work returned) and the reason is posted as an announcement that only this student sees
(``assigneeMode: INDIVIDUAL_STUDENTS``, reference "IndividualStudentsOptions").

Where the appeals are filed: a Classroom course of their own ("Appeals — <session>", alias
``p:<code>-appeal``), whose teachers are the appeal commission and whose students are the students
with a decision.  Not the sitting's course: its teachers are the attestation commission, and every
teacher of a course sees every submission, while a statement is for the appeal commission and the
secretary only (the secretary owns the course).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.documents.appeals import AppealDocument, appeal_letter_pdf, appeal_protocol_pdf, outcome_words
from lms_bridge.domain import ballots as vote_rules
from lms_bridge.domain.appeals import (
    AppealError,
    AppealOutcomeKind,
    AppealStatus,
    NextDeadline,
    appeal_outcome,
    check_hearing_day,
    judge_filing,
    local_date,
    next_deadline,
)
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.session import DecisionRule, DegreeVote
from lms_bridge.domain.workdays import AppealSettings, filing_closes, hearing_by, kz_calendar
from lms_bridge.google.errors import AlreadyExists, GoogleApiError, NotFound
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale
from lms_bridge.results.ballots import WRITEBACK_TARGETS, parse_time
from lms_bridge.results.seal import PDF, header_text
from lms_bridge.store.models import (
    AppealBallotRecord,
    AppealMember,
    AppealRecord,
    AuditEvent,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    OutboxEmail,
    StudentRecord,
    WritebackRecord,
)
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)

WORK_KEY_PREFIX = "classroom.appeal:"


def work_key(student_ref: str) -> str:
    return WORK_KEY_PREFIX + student_ref


def appeal_settings(settings: Any = None) -> AppealSettings:
    """The deadlines from the product's settings (``[appeals]``); the Ministry's when None."""
    if settings is None:
        return AppealSettings()
    a = settings.appeals
    return AppealSettings(filing_working_days=a.filing_working_days, hearing_working_days=a.hearing_working_days,
                          answer_working_days=a.answer_working_days,
                          calendar=kz_calendar(a.dates("extra_days_off"), a.dates("extra_working_days")))


def published_on(session: ExamSession) -> date:
    if session.released_at is None:
        raise AppealError(_("The results are not released yet; appeals open with the release."))
    return local_date(session.released_at, session.timezone)


def new_sitting_options(language: str) -> tuple[str, str]:
    """The (yes, no) option texts of the new-sitting question, as the tally reads them back."""
    with use_locale(language):
        return _("Yes, a new sitting"), _("No")


def _now() -> datetime:
    return datetime.now(UTC)


# -- filing ----------------------------------------------------------------------------------------------

def _closing_moment(session: ExamSession, closes: date) -> datetime:
    """The end of the last filing day in the session's time zone (23:59)."""
    return datetime.combine(closes, time(23, 59), ZoneInfo(session.timezone))


COURSE_KEY = "appeals.course"
REGISTRATION_KEY = "appeals.registration"  # the appeals course's COURSE_WORK_CHANGES registration


def _add_people(google: Any, course_id: str, emails: Sequence[str], role: str) -> None:
    """Enrol directly (a domain admin), else invite; already there is fine."""
    if not emails:
        return
    got = google.classroom.add_people(course_id, emails, role=role)
    retry = [e for e, r in got.items() if isinstance(r, GoogleApiError) and not isinstance(r, AlreadyExists)]
    if retry:
        for email, r in google.classroom.invite(course_id, retry, role=role).items():
            if isinstance(r, GoogleApiError) and not isinstance(r, AlreadyExists) and not _member(
                    google, course_id, email, role, r):
                raise r


def _member(google: Any, course_id: str, email: str, role: str, error: GoogleApiError) -> bool:
    """An invitation refused (FAILED_PRECONDITION) because the person already holds the role: fine.
    Google gives the same status for a disabled account, so membership is read, not guessed."""
    if error.status != 400 or error.reason.replace("_", "").lower() != "failedprecondition":
        return False
    lookup = google.classroom.get_teacher if role == "TEACHER" else google.classroom.get_student
    try:
        lookup(course_id, email)
    except NotFound:
        return False
    return True


def appeals_course(db: Session, google: Any, session: ExamSession, students: Sequence[StudentRecord]) -> JournalEntry:
    """The session's appeals course (see the module's docstring), made once and journaled under
    ``appeals.course``; its people are brought up to date on every call."""
    entry = journal_entry(db, session.id, COURSE_KEY)
    if entry is None:
        alias = f"p:{session.code}-appeal"
        with use_locale(session.language):
            name = _("Appeals — %(title)s", title=session.title)
        try:
            course = google.classroom.create_course(alias=alias, name=name[:750], section=session.group_name)
        except AlreadyExists:
            course = google.classroom.get_course(alias)
        try:
            if course.get("courseState") == "PROVISIONED":
                course = google.classroom.set_course_state(str(course["id"]), "ACTIVE")
        except GoogleApiError as exc:
            logger.warning("the appeals course %s stays %s: %s", course["id"], course.get("courseState"), exc)
        entry = JournalEntry(session_id=session.id, step="appeals.filing", key=COURSE_KEY,
                             external_id=str(course["id"]),
                             data={"alias": alias, "link": course.get("alternateLink", "")})
        db.add(entry)
        db.flush()
        try:
            # Turn-ins are pushed like the sitting's (COURSE_WORK_CHANGES); without the secretary's
            # grant the appeals sweep reads them.  A registration lasts 7 days and a filing window
            # of more working days across holidays can outlast it: journaled, it is renewed with the
            # sitting's (lms_bridge.results.watches).
            reg = google.renew_registration(entry.external_id)
            db.add(JournalEntry(session_id=session.id, step="appeals.filing", key=REGISTRATION_KEY,
                                external_id=str(reg.get("registrationId", "")),
                                data={"expiryTime": str(reg.get("expiryTime", "")), "courseId": entry.external_id}))
            db.flush()
        except GoogleApiError as exc:
            logger.warning("no push registration for the appeals course: %s", exc)
    members = appeal_members(db, session)
    _add_people(google, entry.external_id, [m.email for m in members], "TEACHER")
    _add_people(google, entry.external_id, [s.email for s in students], "STUDENT")
    return entry


def open_filing(db: Session, google: Any, session: ExamSession, *,
                settings: AppealSettings | None = None, now: Callable[[], datetime] = _now) -> int:
    """On release: an "Appeal" assignment in the appeals course for each student with a decision,
    given to that student alone and due at the end of the filing window.  Returns how many were made
    (a repeat makes none: each is journaled under :func:`work_key`)."""
    settings = settings or appeal_settings()
    if journal_entry(db, session.id, "classroom.course") is None or not appeal_members(db, session):
        # Not provisioned, or nobody to hear an appeal: a session file without an appeal commission
        # leaves appeals to paper, as before.
        return 0
    closes = filing_closes(published_on(session), settings)
    due: datetime | None = _closing_moment(session, closes)
    assert due is not None
    if due <= now():
        due = None  # Classroom refuses a due date in the past (@DueDateInPast)
    made = 0
    rows = db.execute(select(StudentRecord, DecisionRecord).join(
        DecisionRecord, DecisionRecord.student_id == StudentRecord.id).where(
        StudentRecord.session_id == session.id, StudentRecord.active.is_(True))
        .order_by(StudentRecord.position)).all()
    have = {e.key for e in db.scalars(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                              JournalEntry.key.startswith(WORK_KEY_PREFIX)))}
    if all(work_key(student.student_ref) in have for student, _decision in rows):
        return 0  # every student has the assignment (or nobody has a decision): nothing to ask Google
    course = appeals_course(db, google, session, [student for student, _decision in rows])
    # Made by a run whose transaction did not commit: found by its unique title, never made twice.
    made_before = {str(w.get("title", "")): w for w in google.classroom.list_course_work(course.external_id)}

    def create(email: str, title: str, description: str) -> dict[str, Any]:
        if title in made_before:
            return dict(made_before[title])
        try:
            return dict(google.create_ticket_assignment(course.external_id, email, title=title,
                                                        description=description, due=due, max_points=None))
        except GoogleApiError as exc:
            # Our clock and Google's may disagree near the end of the window: without a due date the
            # filing is still judged by its turn-in time against the window (judge_filing).
            if due is None or "DueDateInPast" not in str(exc):
                raise
            return dict(google.create_ticket_assignment(course.external_id, email, title=title,
                                                        description=description, due=None, max_points=None))

    for student, _decision in rows:
        key = work_key(student.student_ref)
        if key in have:
            continue
        with use_locale(session.language):
            title = _("Appeal — %(student)s (%(ref)s)", student=student.name, ref=student.student_ref)
            description = _(
                "If you disagree with your grade, attach your statement (and screenshots if you have them) "
                "and hand in this assignment by %(closes)s, 23:59. An appeal handed in later is recorded "
                "and cannot be heard (%(days)s working days after the results were published).",
                closes=closes.strftime("%d.%m.%Y"), days=settings.filing_working_days)
        try:
            work = create(student.email, title, description)
        except NotFound:
            # Not in the appeals course yet (invited, not accepted: a domain that is not the
            # admin's); the appeals sweep tries again.
            logger.info("appeal assignment for %s waits for the student to join the appeals course",
                        student.student_ref)
            continue
        db.add(JournalEntry(session_id=session.id, step="appeals.filing", key=key, external_id=str(work["id"]),
                            data={"closes": closes.isoformat(), "link": work.get("alternateLink", "")}))
        db.flush()
        made += 1
    if made:
        db.add(AuditEvent(session_id=session.id, action="appeals.opened",
                          detail={"assignments": made, "closes": closes.isoformat()}))
    return made


def _turned_in_at(sub: dict[str, Any]) -> datetime | None:
    stamps = [h["stateHistory"]["stateTimestamp"] for h in sub.get("submissionHistory") or []
              if (h.get("stateHistory") or {}).get("state") == "TURNED_IN"]
    if stamps:
        return parse_time(str(stamps[-1]))
    return parse_time(str(sub["updateTime"])) if sub.get("updateTime") else None


def _statement(sub: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for att in ((sub.get("assignmentSubmission") or {}).get("attachments")) or []:
        if att.get("driveFile"):
            f = att["driveFile"]
            out.append({"title": str(f.get("title", "")), "link": str(f.get("alternateLink", ""))})
        elif att.get("link"):
            out.append({"title": str(att["link"].get("title") or att["link"].get("url", "")),
                        "link": str(att["link"].get("url", ""))})
    return out


def sync_work(db: Session, google: Any, session: ExamSession, entry: JournalEntry, *,
              settings: AppealSettings | None = None,
              submissions: list[dict[str, Any]] | None = None) -> AppealRecord | None:
    """Read the student's appeal submission (or take it from ``submissions``, read for the whole
    course); a new turn-in becomes an appeal, filed or refused."""
    settings = settings or appeal_settings()
    ref = entry.key.removeprefix(WORK_KEY_PREFIX)
    student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == session.id,
                                                    StudentRecord.student_ref == ref))
    course = journal_entry(db, session.id, COURSE_KEY)
    if student is None or course is None:
        return None
    existing = db.scalar(select(AppealRecord).where(AppealRecord.session_id == session.id,
                                                    AppealRecord.student_id == student.id))
    if existing is not None:
        return existing
    if submissions is None:
        submissions = google.classroom.list_submissions(course.external_id, entry.external_id)
    for sub in submissions:
        if sub.get("state") != "TURNED_IN" or str(sub.get("courseWorkId", entry.external_id)) != entry.external_id:
            continue
        filed_at = _turned_in_at(sub)
        if filed_at is None:
            continue
        return _file(db, google, session, student, course.external_id, entry.external_id, sub, filed_at,
                     settings)
    return None


def _file(db: Session, google: Any, session: ExamSession, student: StudentRecord, course_id: str,
          work_id: str, sub: dict[str, Any], filed_at: datetime, settings: AppealSettings) -> AppealRecord:
    verdict = judge_filing(published_on(session), local_date(filed_at, session.timezone), settings)
    decision = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == student.id))
    refusal = ""
    if not verdict.accepted:
        assert verdict.reason is not None
        with use_locale(session.language):
            refusal = verdict.reason.text()
    appeal = AppealRecord(
        session_id=session.id, student_id=student.id,
        status=str(AppealStatus.FILED if verdict.accepted else AppealStatus.REFUSED),
        filed_at=filed_at, filed_on=verdict.filed_on, closes_on=verdict.closes, statement=_statement(sub),
        refusal=refusal, original_letter=decision.letter if decision else "",
        original_points=decision.points if decision else None)
    db.add(appeal)
    db.flush()
    db.add(AuditEvent(session_id=session.id, actor=student.email, action="appeal.filed" if verdict.accepted
                      else "appeal.refused_late",
                      detail={"student": student.student_ref, "filed_on": verdict.filed_on.isoformat(),
                              "closes": verdict.closes.isoformat(), "refusal": refusal}))
    if not verdict.accepted:
        # The student sees the work returned and, beside it, why (see the module's docstring).
        google.classroom.return_submission(course_id, work_id, str(sub["id"]))
        google.classroom.create_announcement(course_id, refusal, student_ids=[str(sub["userId"])])
    return appeal


def sync_filings(db: Session, google: Any, session: ExamSession,
                 settings: AppealSettings | None = None) -> list[AppealRecord]:
    """Every appeal assignment of the session read at once (what a lost push would have brought): one
    listing of the course's turned-in submissions (``courseWorkId`` "-" covers all its course work),
    not one call per student."""
    settings = settings or appeal_settings()
    course = journal_entry(db, session.id, COURSE_KEY)
    entries = list(db.scalars(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                         JournalEntry.key.startswith(WORK_KEY_PREFIX))))
    if course is None or not entries:
        return []
    filed = set(db.scalars(select(StudentRecord.student_ref).join(
        AppealRecord, AppealRecord.student_id == StudentRecord.id).where(AppealRecord.session_id == session.id)))
    open_entries = [e for e in entries if e.key.removeprefix(WORK_KEY_PREFIX) not in filed]
    if not open_entries:
        return []
    turned_in = google.classroom.list_submissions(course.external_id, "-", states=["TURNED_IN"])
    by_work: dict[str, list[dict[str, Any]]] = {}
    for sub in turned_in:
        by_work.setdefault(str(sub.get("courseWorkId", "")), []).append(sub)
    out = []
    for entry in open_entries:
        subs = by_work.get(entry.external_id, [])
        if not subs:
            continue
        appeal = sync_work(db, google, session, entry, settings=settings, submissions=subs)
        if appeal is not None:
            out.append(appeal)
    return out


def appeal_work_entry(db: Session, course_id: str, work_id: str) -> JournalEntry | None:
    """The journal entry of an appeal assignment (for a Classroom push about ``work_id``)."""
    course = db.scalar(select(JournalEntry).where(JournalEntry.key == COURSE_KEY,
                                                  JournalEntry.external_id == course_id))
    if course is None:
        return None
    return db.scalar(select(JournalEntry).where(JournalEntry.session_id == course.session_id,
                                                JournalEntry.key.startswith(WORK_KEY_PREFIX),
                                                JournalEntry.external_id == work_id))


def appeal_for_form(db: Session, form_id: str) -> AppealRecord | None:
    """The appeal whose voting form is ``form_id`` (for a Forms push)."""
    if not form_id:
        return None
    return db.scalar(select(AppealRecord).where(AppealRecord.form_id == form_id))


# -- the hearing and the vote ----------------------------------------------------------------------------

def appeal_members(db: Session, session: ExamSession) -> list[AppealMember]:
    return list(db.scalars(select(AppealMember).where(AppealMember.session_id == session.id,
                                                      AppealMember.active.is_(True))
                           .order_by(AppealMember.position)))


def _form_requests(session: ExamSession, student: StudentRecord, original: str) -> list[dict[str, Any]]:
    letters = GradeScale.load(session.grading.get("scale", "kz_letter")).letters()
    yes, no = new_sitting_options(session.language)
    with use_locale(session.language):
        description = _("Appeal commission member's ballot on the appeal of %(student)s against the grade "
                        "%(letter)s. Choose the grade the student should have (the same letter keeps it). "
                        "Only your first submission counts.", student=student.name, letter=original)
        grade_title = _("Grade after the appeal")
        again_title = _("Did the exam itself fail (a new sitting)?")
        comment_title = _("Comment (optional)")
    items = [
        {"title": grade_title, "questionItem": {"question": {"required": True, "choiceQuestion": {
            "type": "RADIO", "options": [{"value": letter} for letter in letters]}}}},
        {"title": again_title, "questionItem": {"question": {"required": True, "choiceQuestion": {
            "type": "RADIO", "options": [{"value": yes}, {"value": no}]}}}},
        {"title": comment_title, "questionItem": {"question": {"required": False,
                                                               "textQuestion": {"paragraph": True}}}},
    ]
    return [
        {"updateFormInfo": {"info": {"description": description}, "updateMask": "description"}},
        {"updateSettings": {"settings": {"emailCollectionType": "VERIFIED"}, "updateMask": "emailCollectionType"}},
        *({"createItem": {"item": item, "location": {"index": i}}} for i, item in enumerate(items)),
    ]


WATCH_KEY_PREFIX = "appeals.watch:"


def watch_key(appeal_id: int) -> str:
    """Journal key of the RESPONSES watch on an appeal's voting form (renewed by
    :func:`lms_bridge.results.watches.renew_watches` while the appeal commission votes)."""
    return f"{WATCH_KEY_PREFIX}{appeal_id}"


def _watch_form(google: Any, form_id: str) -> dict[str, Any] | None:
    """The form's RESPONSES watch: made, or found when a run that did not commit made it already
    (one watch per event type and form: a second create answers ALREADY_EXISTS)."""
    try:
        return dict(google.forms.create_watch(form_id, google.settings.google.pubsub_topic))
    except AlreadyExists:
        return next((dict(w) for w in google.forms.list_watches(form_id) if w.get("eventType") == "RESPONSES"),
                    None)


def _make_form(google: Any, session: ExamSession, student: StudentRecord, appeal: AppealRecord,
               voters: Sequence[str]) -> tuple[str, str, dict[str, str], dict[str, Any] | None]:
    with use_locale(session.language):
        title = _("Appeal: %(student)s — %(session)s", student=student.name, session=session.title)
    doc_title = f"{session.code} appeal {student.student_ref}"

    def recover() -> dict[str, Any] | None:
        found = google.drive.find_by_name(doc_title, mime_type="application/vnd.google-apps.form")
        return {"formId": found[0]["id"]} if found else None

    form = google.forms.create(title, doc_title, recover=recover)
    form_id = str(form["formId"])
    current = google.forms.get(form_id)
    if not current.get("items"):
        reply = google.forms.batch_update(form_id, _form_requests(session, student, appeal.original_letter),
                                          include_form=True)
        current = reply.get("form") or google.forms.get(form_id)
    names = ("grade", "new_sitting", "comment")
    questions = {}
    for name, item in zip(names, current.get("items", []), strict=False):
        qid = item.get("questionItem", {}).get("question", {}).get("questionId")
        if qid:
            questions[name] = str(qid)
    google.forms.set_publish_state(form_id, published=True, accepting=True)
    google.drive.share_published([(form_id, email) for email in voters])
    watch = None
    try:
        # Ballots arrive by push like the commission's.  A watch lasts 7 days and a vote can outlast
        # it (a hearing put off, holidays), so it is journaled and renewed like the sitting's forms'
        # watches; without a watch the appeals sweep still reads the ballots.
        watch = _watch_form(google, form_id)
    except GoogleApiError as exc:
        logger.warning("no watch on the appeal form %s: %s", form_id, exc)
    return form_id, str(current.get("responderUri") or form.get("responderUri", "")), questions, watch


def check_hearing(db: Session, session: ExamSession, appeal: AppealRecord, *, at: datetime, link: str,
                  settings: AppealSettings | None = None, overdue_ok: bool = False) -> None:
    """Raise :class:`AppealError` when the rules refuse this hearing (nothing outside is asked)."""
    settings = settings or appeal_settings()
    if appeal.status != AppealStatus.FILED:
        raise AppealError(_("Only a filed appeal can get a hearing."))
    if not link.startswith(("https://", "http://")):
        raise AppealError(_("The meeting link must start with https://."))
    if at.tzinfo is None:
        raise AppealError("a hearing time without a time zone")
    check_hearing_day(appeal.filed_on, local_date(at, session.timezone), settings, overdue_ok=overdue_ok)
    if not appeal_members(db, session):
        raise AppealError(_("The session file has no appeal commission."))


def _tell_in_classroom(db: Session, google: Any, session: ExamSession, student: StudentRecord, text: str) -> None:
    """Post ``text`` to the student alone in the course (where the student works); a failure here
    never undoes the step: the e-mail says the same."""
    course = journal_entry(db, session.id, COURSE_KEY)
    if course is None:
        return
    try:
        user_id = str(google.classroom.get_student(course.external_id, student.email)["userId"])
        google.classroom.create_announcement(course.external_id, text, student_ids=[user_id])
    except GoogleApiError as exc:
        logger.warning("the appeal notice to %s could not be posted in Classroom: %s", student.student_ref, exc)


def schedule_hearing(db: Session, google: Any, session: ExamSession, appeal: AppealRecord, *, at: datetime,
                     link: str, actor: str, settings: AppealSettings | None = None,
                     overdue_ok: bool = False) -> list[OutboxEmail]:
    """Fix the hearing (within 2 working days of the filing; later only with ``overdue_ok``, recorded),
    make the appeal's voting form and tell the student and the appeal commission the date, time and
    meeting link."""
    settings = settings or appeal_settings()
    check_hearing(db, session, appeal, at=at, link=link, settings=settings, overdue_ok=overdue_ok)
    late = local_date(at, session.timezone) > hearing_by(appeal.filed_on, settings)
    members = appeal_members(db, session)
    student = db.get(StudentRecord, appeal.student_id)
    assert student is not None
    voters = [m.email for m in members if m.role in ("chair", "member")]
    form_id, url, questions, watch = _make_form(google, session, student, appeal, voters)
    appeal.form_id, appeal.form_url, appeal.form_questions = form_id, url, questions
    if watch is not None and journal_entry(db, session.id, watch_key(appeal.id)) is None:
        db.add(JournalEntry(session_id=session.id, step="appeals.vote", key=watch_key(appeal.id),
                            external_id=str(watch["id"]),
                            data={"formId": form_id, "expireTime": str(watch.get("expireTime", ""))}))
    appeal.hearing_at, appeal.meeting_link = at, link
    appeal.status = str(AppealStatus.HEARING)
    local = at.astimezone(ZoneInfo(session.timezone)).strftime("%d.%m.%Y %H:%M")
    emails = []
    with use_locale(session.language):
        subject = header_text(_("Appeal hearing: %(student)s, %(when)s", student=student.name, when=local),
                              OutboxEmail.__table__.c.subject.type.length)
        body = _("The appeal of %(student)s against the grade %(letter)s in %(title)s is heard online on "
                 "%(when)s.\nMeeting link: %(link)s\n\nlms_bridge", student=student.name,
                 letter=appeal.original_letter, title=session.title, when=local, link=link)
        recipients = [(student.email, body)]
        for m in members:
            extra = ("\n" + _("Your ballot: %(url)s", url=url)) if m.role in ("chair", "member") else ""
            recipients.append((m.email, body + extra))
    for email, text in recipients:
        row = OutboxEmail(session_id=session.id, recipient=email, subject=subject, body=text, attachments=[])
        db.add(row)
        emails.append(row)
    _tell_in_classroom(db, google, session, student, body.removesuffix("\n\nlms_bridge"))
    db.add(AuditEvent(session_id=session.id, actor=actor, action="appeal.hearing_scheduled",
                      detail={"student": student.student_ref, "at": at.isoformat(), "form": form_id,
                              "after_the_deadline": late}))
    db.flush()
    return emails


def _answer(response: dict[str, Any], qid: str | None) -> str:
    if not qid:
        return ""
    values = (((response.get("answers") or {}).get(qid) or {}).get("textAnswers") or {}).get("answers") or []
    return str(values[0].get("value", "")) if values else ""


@dataclass(frozen=True)
class AppealTally:
    outcome: vote_rules.Outcome
    newly_decided: bool


def refresh_appeal(db: Session, google: Any, session: ExamSession, appeal: AppealRecord, *,
                   closed_by: str = "") -> AppealTally:
    """Fetch the appeal form's responses, keep every one, and count as the commission's forms are
    counted (:func:`lms_bridge.domain.ballots.tally`): each member's first ballot, a quorum, the
    majority with the chair breaking a tie (the appeal commission is odd, so a tie needs abstentions)."""
    if not appeal.form_id:
        raise AppealError(_("The appeal has no voting form yet; schedule the hearing first."))
    yes, no = new_sitting_options(session.language)
    known = list(db.scalars(select(AppealBallotRecord).where(AppealBallotRecord.appeal_id == appeal.id)))
    seen = {(r.response_id, r.submitted_at) for r in known}
    first_seen = {r.response_id for r in known}
    q = appeal.form_questions or {}
    for response in google.list_responses(appeal.form_id):
        rid = str(response.get("responseId", ""))
        stamp = response.get("lastSubmittedTime") or response.get("createTime")
        if not rid or not stamp:
            continue
        submitted = parse_time(str(stamp))
        if (rid, submitted) in seen:
            continue
        created = parse_time(str(response.get("createTime", stamp)))
        edited = vote_rules.is_edited(created, submitted, seen_before=rid in first_seen)
        again = _answer(response, q.get("new_sitting"))
        db.add(AppealBallotRecord(
            appeal_id=appeal.id, voter_email=str(response.get("respondentEmail", "")).strip().lower(),
            form_id=appeal.form_id, response_id=rid, submitted_at=submitted,
            grade=_answer(response, q.get("grade")), new_sitting="yes" if again == yes else "no" if again == no else "",
            comment=_answer(response, q.get("comment"))[:2000], status="edited" if edited else "pending"))
        seen.add((rid, submitted))
        first_seen.add(rid)
    db.flush()
    return _tally(db, google, session, appeal, closed_by=closed_by)


def _tally(db: Session, google: Any, session: ExamSession, appeal: AppealRecord, *,
           closed_by: str) -> AppealTally:
    members = appeal_members(db, session)
    voters = [m.email for m in members if m.role in ("chair", "member")]
    chair = next(m.email for m in members if m.role == "chair")
    secretary = next((m.email for m in members if m.role == "secretary"), None)
    records = list(db.scalars(select(AppealBallotRecord).where(AppealBallotRecord.appeal_id == appeal.id)
                              .order_by(AppealBallotRecord.submitted_at, AppealBallotRecord.id)))
    countable = [r for r in records if r.status != "edited"]
    quorum = session.grading.get("quorum", [2, 3])
    outcome = vote_rules.tally(
        [vote_rules.Ballot(r.voter_email, r.grade, r.submitted_at,
                           None if not r.new_sitting else r.new_sitting == "yes") for r in countable],
        voters, chair, DecisionRule.MAJORITY, GradeScale.load(session.grading.get("scale", "kz_letter")),
        quorum=(int(quorum[0]), int(quorum[1])),
        closed_by_secretary=bool(closed_by) or appeal.decided_at is not None, secretary_email=secretary,
        closed_at=appeal.decided_at, degree_vote=DegreeVote.OPEN)
    pending = {r.id: r for r in countable}
    for reviewed in (*outcome.counted, *outcome.flagged):
        email = reviewed.ballot.member_email.strip().lower()
        for r in countable:
            if r.id in pending and r.submitted_at == reviewed.ballot.submitted_at and r.voter_email == email:
                r.status = str(reviewed.status)
                del pending[r.id]
                break
    decided = appeal_outcome(outcome, appeal.original_letter)
    if decided is None or appeal.decided_at is not None:
        db.flush()
        return AppealTally(outcome, False)
    appeal.outcome = str(decided.kind)
    appeal.new_letter = decided.letter if decided.kind is AppealOutcomeKind.CHANGED else ""
    appeal.votes = vote_rules.outcome_summary(outcome)
    appeal.decided_at = _now()
    appeal.status = str(AppealStatus.DECIDED)
    google.close_form(appeal.form_id)
    student = db.get(StudentRecord, appeal.student_id)
    db.add(AuditEvent(session_id=session.id, actor=closed_by or "system", action="appeal.decided", detail={
        "student": student.student_ref if student else "", "outcome": appeal.outcome,
        "letter": appeal.new_letter or appeal.original_letter, "votes_cast": outcome.votes_cast}))
    db.flush()
    return AppealTally(outcome, True)


# -- the answer and its application ----------------------------------------------------------------------

def _document(db: Session, session: ExamSession, appeal: AppealRecord) -> AppealDocument:
    student = db.get(StudentRecord, appeal.student_id)
    assert student is not None
    members = appeal_members(db, session)
    names = {m.email: m.name for m in members}
    counted = list(db.scalars(select(AppealBallotRecord).where(AppealBallotRecord.appeal_id == appeal.id,
                                                               AppealBallotRecord.status == "counted")
                              .order_by(AppealBallotRecord.submitted_at)))
    scale = GradeScale.load(session.grading.get("scale", "kz_letter"))
    # Appeals are numbered within the session in the order they were stored.
    position = len(list(db.scalars(select(AppealRecord.id).where(AppealRecord.session_id == session.id,
                                                                 AppealRecord.id <= appeal.id))))
    tz = ZoneInfo(session.timezone)
    return AppealDocument(
        session_code=session.code, session_title=session.title, university=session.university,
        language=session.language, student_name=student.name, student_ref=student.student_ref,
        filed_on=appeal.filed_on, hearing_at=appeal.hearing_at.astimezone(tz) if appeal.hearing_at else None,
        meeting_link=appeal.meeting_link,
        chair=next((m.name for m in members if m.role == "chair"), ""),
        secretary=next((m.name for m in members if m.role == "secretary"), ""),
        members=tuple((m.name, m.role) for m in members),
        votes=tuple((names.get(b.voter_email, b.voter_email), b.grade, b.new_sitting) for b in counted),
        original_letter=appeal.original_letter, original_points=appeal.original_points,
        outcome=appeal.outcome, new_letter=appeal.new_letter,
        new_points=scale.band(appeal.new_letter).points if appeal.new_letter else None,
        statement=tuple(str(s.get("title", "")) for s in appeal.statement or []),
        number=f"{session.code}/A{position}")


def answer_appeal(db: Session, session: ExamSession, appeal: AppealRecord, *, actor: str,
                  data_dir: Path, google: Any = None) -> list[OutboxEmail]:
    """Draw up the appeal commission's protocol and the answer letter (PDF, the session's language)
    and queue them: the letter to the student, both to the appeal commission.  With ``google`` the
    outcome is also posted to the student alone in the Classroom course."""
    if appeal.status != AppealStatus.DECIDED:
        raise AppealError(_("The appeal commission has not decided yet."))
    doc = _document(db, session, appeal)
    folder = data_dir / "documents" / session.code
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, content in ((f"{session.code}-appeal-{doc.student_ref}-letter.pdf", appeal_letter_pdf(doc)),
                          (f"{session.code}-appeal-{doc.student_ref}-protocol.pdf", appeal_protocol_pdf(doc))):
        path = folder / name
        tmp = path.with_suffix(".part")
        tmp.write_bytes(content)
        tmp.replace(path)
        files.append({"filename": name, "path": str(path.relative_to(data_dir)), "mimetype": PDF})
    appeal.documents = files
    student = db.get(StudentRecord, appeal.student_id)
    assert student is not None
    emails = []
    with use_locale(session.language):
        subject = header_text(_("Answer to your appeal: %(title)s", title=session.title),
                              OutboxEmail.__table__.c.subject.type.length)
        body = _("Dear %(name)s,\n\nthe answer of the appeal commission to your appeal is attached.\n\nlms_bridge",
                 name=student.name)
        emails.append(OutboxEmail(session_id=session.id, recipient=student.email, subject=subject, body=body,
                                  attachments=files[:1]))
        members_subject = header_text(_("Appeal protocol: %(student)s", student=student.name),
                                      OutboxEmail.__table__.c.subject.type.length)
        for m in appeal_members(db, session):
            emails.append(OutboxEmail(session_id=session.id, recipient=m.email, subject=members_subject,
                                      body=_("The protocol of the appeal commission and the answer sent to "
                                             "the student are attached.\n\nlms_bridge"), attachments=files))
    for e in emails:
        db.add(e)
    if google is not None:
        with use_locale(session.language):
            _tell_in_classroom(db, google, session, student, outcome_words(doc))
    appeal.status = str(AppealStatus.ANSWERED)
    appeal.answered_at = _now()
    db.add(AuditEvent(session_id=session.id, actor=actor, action="appeal.answered",
                      detail={"student": student.student_ref, "outcome": appeal.outcome}))
    db.flush()
    return emails


def apply_appeal(db: Session, session: ExamSession, appeal: AppealRecord, *, actor: str,
                 new_sitting_at: datetime | None = None, google: Any = None,
                 settings: AppealSettings | None = None) -> list[int]:
    """Apply the answered appeal.  A changed grade replaces the decision's letter and points and its
    write-backs go again (sheet, Moodle, Classroom); the original stays in the audit trail.  A new
    sitting needs its date and time (a working day, not in the past), which the student is told in
    Classroom (with ``google``).  Returns the decisions whose write-backs must be enqueued."""
    if appeal.status != AppealStatus.ANSWERED:
        raise AppealError(_("Answer the appeal first."))
    student = db.get(StudentRecord, appeal.student_id)
    assert student is not None
    if appeal.outcome == AppealOutcomeKind.NEW_SITTING:
        settings = settings or appeal_settings()
        if new_sitting_at is None or new_sitting_at.tzinfo is None:
            raise AppealError(_("Give the new sitting's date and time."))
        day = local_date(new_sitting_at, session.timezone)
        if appeal.answered_at is not None and new_sitting_at < appeal.answered_at:
            raise AppealError(_("The new sitting cannot be before the answer to the appeal."))
        if not settings.calendar.is_working_day(day):
            raise AppealError(_("The new sitting's day is not a working day."))
    changed: list[int] = []
    if appeal.outcome == AppealOutcomeKind.CHANGED:
        decision = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == student.id))
        if decision is None:
            raise AppealError(_("The student has no decision to change."))
        band = GradeScale.load(session.grading.get("scale", "kz_letter")).band(appeal.new_letter)
        db.add(AuditEvent(session_id=session.id, actor=actor, action="appeal.grade_changed", detail={
            "student": student.student_ref, "original": {"letter": decision.letter, "points": decision.points,
                                                         "gpa": decision.gpa},
            "new": {"letter": band.letter, "points": band.points, "gpa": band.gpa}, "appeal": appeal.id}))
        decision.letter, decision.points, decision.gpa = band.letter, float(band.points), float(band.gpa)
        decision.votes = {**decision.votes, "appeal": {"original": appeal.original_letter,
                                                       "letter": band.letter, "appeal_id": appeal.id}}
        for target in WRITEBACK_TARGETS:
            row = db.scalar(select(WritebackRecord).where(WritebackRecord.decision_id == decision.id,
                                                          WritebackRecord.target == target))
            if row is None:
                db.add(WritebackRecord(decision_id=decision.id, target=target, status="pending"))
            else:
                row.status, row.attempts, row.last_error = "pending", 0, ""
        changed.append(decision.id)
    elif appeal.outcome == AppealOutcomeKind.NEW_SITTING:
        assert new_sitting_at is not None
        appeal.new_sitting_at = new_sitting_at
        local = new_sitting_at.astimezone(ZoneInfo(session.timezone)).strftime("%d.%m.%Y %H:%M")
        db.add(AuditEvent(session_id=session.id, actor=actor, action="appeal.new_sitting", detail={
            "student": student.student_ref, "appeal": appeal.id, "at": new_sitting_at.isoformat()}))
        if google is not None:
            with use_locale(session.language):
                text = _("Your new sitting of %(title)s after the appeal: %(when)s (%(tz)s).",
                         title=session.title, when=local, tz=session.timezone)
            _tell_in_classroom(db, google, session, student, text)
    appeal.status = str(AppealStatus.APPLIED)
    appeal.applied_at = _now()
    db.add(AuditEvent(session_id=session.id, actor=actor, action="appeal.applied",
                      detail={"student": student.student_ref, "outcome": appeal.outcome}))
    db.flush()
    return changed


# -- what the session page shows -------------------------------------------------------------------------

@dataclass(frozen=True)
class AppealRow:
    appeal: AppealRecord
    student: StudentRecord
    deadline: NextDeadline | None


def appeal_rows(db: Session, session: ExamSession, *, today: date | None = None,
                settings: AppealSettings | None = None) -> list[AppealRow]:
    """The session's appeals with each one's next deadline (overdue ones flagged)."""
    tz = ZoneInfo(session.timezone)
    today = today or datetime.now(tz).date()
    settings = settings or appeal_settings()
    out = []
    for appeal, student in db.execute(select(AppealRecord, StudentRecord).join(
            StudentRecord, StudentRecord.id == AppealRecord.student_id).where(
            AppealRecord.session_id == session.id).order_by(AppealRecord.filed_at)).all():
        hearing_on = appeal.hearing_at.astimezone(tz).date() if appeal.hearing_at else None
        deadline = next_deadline(AppealStatus(appeal.status), filed_on=appeal.filed_on, hearing_on=hearing_on,
                                 today=today, settings=settings)
        out.append(AppealRow(appeal, student, deadline))
    return out


def hearing_default(appeal: AppealRecord, session: ExamSession,
                    settings: AppealSettings | None = None) -> datetime:
    """A suggestion for the hearing form: the next working day after the filing, 10:00 local."""
    settings = settings or appeal_settings()
    day = settings.calendar.next_working_day(appeal.filed_on)
    return datetime.combine(day, time(10, 0), ZoneInfo(session.timezone))

