"""The sitting board: one page per session and sitting day, where the secretary acts and the chair
and the head of department watch.

The page is complete without JavaScript (the server renders the board and a <noscript> refresh
keeps it current); ``board.js`` polls :func:`board_json`, which carries the same HTML the page was
rendered with, and counts the timers down between polls.  Every action is a form POST to an
endpoint here (or to the session page's exception and decision endpoints), checked by the rules in
:mod:`lms_bridge.domain.sitting`; nothing the page does exists only in its script.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_time
from flask import abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from lms_bridge.admin import labels, queries
from lms_bridge.admin.forms import ActionForm
from lms_bridge.admin.policy import may
from lms_bridge.admin.views import _session_or_404, _student_or_404
from lms_bridge.appstate import state
from lms_bridge.domain import sitting as rules
from lms_bridge.domain.kinds import rules_for
from lms_bridge.store.db import transaction
from lms_bridge.store.models import ExamSession

logger = logging.getLogger(__name__)

STAGE_LABELS = {
    rules.Stage.EXPECTED: lambda: _("Expected"),
    rules.Stage.IDENTIFIED: lambda: _("Identified"),
    rules.Stage.ADMITTED: lambda: _("Admitted to the draw"),
    rules.Stage.DRAWN: lambda: _("Ticket drawn"),
    rules.Stage.PREPARING: lambda: _("Preparing"),
    rules.Stage.UPLOADED: lambda: _("Answer sheets uploaded"),
    rules.Stage.ANSWERING: lambda: _("Answering now"),
    rules.Stage.ANSWERED: lambda: _("Answered"),
    rules.Stage.VOTING: lambda: _("Voting"),
    rules.Stage.DECIDED: lambda: _("Decided"),
    rules.Stage.EXCEPTION: lambda: _("Exception"),
}
STAGE_TONES = {
    rules.Stage.ANSWERING: "busy", rules.Stage.VOTING: "busy", rules.Stage.DECIDED: "ok",
    rules.Stage.EXCEPTION: "warn",
}
ACTION_CONFIRM = {
    rules.Action.IDENTIFY: lambda name: _("%(name)s showed an ID on camera: record it now, with your name.",
                                          name=name),
    rules.Action.ADMIT: lambda name: _("Admit %(name)s to the draw now: the verifiable draw gives the ticket and "
                                       "Moodle opens it for this student alone. This cannot be undone.", name=name),
    rules.Action.CONFIRM_RECEIPT: lambda name: _("%(name)s has the ticket: record the receipt now.", name=name),
    rules.Action.START_ANSWER: lambda name: _("%(name)s starts answering now: the timers start and the next "
                                              "student is told in Classroom.", name=name),
    rules.Action.FINISH_ANSWER: lambda name: _("%(name)s has finished answering: the answer's end is recorded "
                                               "and cannot be reopened.", name=name),
}
ACTION_BUTTONS = {
    rules.Action.IDENTIFY: lambda: _("Identified"),
    rules.Action.ADMIT: lambda: _("Admit to the draw"),
    rules.Action.CONFIRM_RECEIPT: lambda: _("Ticket received"),
    rules.Action.START_ANSWER: lambda: _("Start the answer"),
    rules.Action.FINISH_ANSWER: lambda: _("End the answer"),
}


# Each of the secretary's steps is its own route and its own line of the policy table
# (lms_bridge.domain.access.POLICY); admission to the draw is the same action as on the session page.
STEP_POLICY: dict[rules.Action, str] = {
    rules.Action.IDENTIFY: "board.identify",
    rules.Action.ADMIT: "student.admit",
    rules.Action.CONFIRM_RECEIPT: "board.confirm_receipt",
    rules.Action.START_ANSWER: "board.start_answer",
    rules.Action.FINISH_ANSWER: "board.finish_answer",
}


def _day_arg() -> date | None:
    raw = request.values.get("day", "")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        abort(404)


def _t(moment: datetime | None, tz: str, fmt: str = "short") -> str:
    if moment is None:
        return ""
    return format_time(queries.local(moment, tz), fmt, locale=get_locale() or "en")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


TIMER_LABELS = {
    "answer": lambda: _("answer"),
    "talk": lambda: _("talk"),
    "presentation": lambda: _("presentation"),
}
QUIZ_LABELS = {
    "waiting": lambda: _("Not admitted to the test yet"),
    "admitted": lambda: _("Admitted: the test is open"),
    "running": lambda: _("Test in progress"),
    "submitted": lambda: _("Test submitted"),
    "scored": lambda: _("Test scored"),
}


def _timers_json(timer: Any, session_minutes: int) -> dict[str, Any] | None:
    if timer is None:
        return None
    first, slot = rules.slot_plan(timer, session_minutes)
    return {"phase": timer.phase, "label": TIMER_LABELS[timer.phase](), "min_minutes": timer.min_minutes,
            "max_minutes": first, "slot_minutes": slot, "questions_minutes": slot - first}


GRADING_LABELS = {
    "writing": lambda: _("Writing; grading opens"),
    "grading": lambda: _("Grading until"),
    "closed": lambda: _("Grading time over"),
}


def _grading_json(exam: ExamSession, facts: rules.StudentFacts, now: datetime, tz: str) -> dict[str, Any] | None:
    """A written or open-book exam: the student's grading window (lms_bridge.domain.kinds.GradingWindow),
    counted down on the board until the ballot closes."""
    from lms_bridge.domain.kinds import grading_window

    window = grading_window(exam.kind, facts.ticket_drawn_at, exam.preparation_minutes,
                            state().settings.exams.written_grading_hours)
    if window is None:
        return None
    phase = window.phase(now)
    return {"phase": phase, "label": GRADING_LABELS[phase](), "opens_at": _iso(window.opens_at),
            "closes_at": _iso(window.closes_at), "opens_label": _t(window.opens_at, tz),
            "closes_label": _t(window.closes_at, tz)}


def _quiz_json(q: rules.QuizState | None, tz: str) -> dict[str, Any] | None:
    if q is None:
        return None
    return {"phase": q.phase, "label": QUIZ_LABELS[q.phase](), "ends_at": _iso(q.ends_at),
            "ends_label": _t(q.ends_at, tz), "seconds_left": q.seconds_left,
            "minutes_left": (q.seconds_left + 59) // 60 if q.phase == "running" else None,
            "score": q.score, "of": q.of}


def _actions(row: Any, exam: ExamSession, others: list[rules.StudentFacts], now: datetime) -> list[dict[str, str]]:
    """The board buttons this student's row offers now: those the rules allow and the viewer's roles
    may use (both checked again on POST); the chair and the head of department see none."""
    if exam.status == "sealed" or (row.stage is rules.Stage.EXCEPTION and not row.extra_slot):
        return []
    kind = rules_for(exam.kind)
    out = []
    for action in rules.Action:
        if not may(STEP_POLICY[action]):
            continue
        if action is rules.Action.ADMIT and not (kind.tickets or kind.test_quiz):
            continue  # a defense or a creative exam: nobody is admitted to a draw or a quiz
        try:
            rules.check_action(action, row.facts, others, now, draw=kind.tickets, oral=kind.timer is not None)
        except rules.BoardError:
            continue
        label, confirm = ACTION_BUTTONS[action](), ACTION_CONFIRM[action](row.facts.name)
        if action is rules.Action.ADMIT and kind.test_quiz:
            # The same admission as the session page's (lms_bridge.results.admission.admit_student).
            label = _("Admit to the test")
            confirm = _("Admit %(name)s to the test now: the test quiz opens in Moodle for this student alone.",
                        name=row.facts.name)
        out.append({"action": str(action), "label": label,
                    "url": url_for(f"admin.board_{action.value}", code=exam.code, ref=row.facts.ref),
                    "confirm": confirm})
    return out


def board_view(db: Any, exam: ExamSession, day: date | None) -> dict[str, Any]:
    """What the board shows (the page and its JSON)."""
    from lms_bridge.results.admission import admission_states
    from lms_bridge.results.examday import continuation_days_by_ref
    from lms_bridge.results.sitting import answers_in_drive, build_board

    board = build_board(db, exam, day, data_dir=state().settings.data_dir)
    admission = admission_states(db, exam, now=board.now)
    tz = exam.timezone
    locale = get_locale() or "en"
    kind = rules_for(exam.kind)
    quiz: dict[int, rules.QuizState] = {}
    if kind.test_quiz:
        from lms_bridge.results.testexam import board_states

        quiz = board_states(db, exam, board.now, state().settings)
    continue_days = continuation_days_by_ref(exam)
    drive = answers_in_drive(db, exam)
    students = []
    others = [r.facts for r in board.rows]
    for row in board.rows:
        f = row.facts
        timer = row.timer
        students.append({
            "ref": f.ref,
            "name": f.name,
            "position": row.position,
            "stage": str(row.stage),
            "stage_label": _("Admitted") if row.stage is rules.Stage.ADMITTED and not rules_for(exam.kind).tickets
            else STAGE_LABELS[row.stage](),
            "tone": STAGE_TONES.get(row.stage, "neutral"),
            "since": _iso(row.since),
            "since_label": _t(row.since, tz),
            "extra_slot": row.extra_slot,
            "planned": f"{_t(row.planned_start, tz)}–{_t(row.planned_end, tz)}" if row.planned_start else "",
            "actual": f"{_t(f.answer_started_at, tz)}–{_t(f.answer_ended_at, tz)}"
            if f.answer_started_at else "",
            "overrun_minutes": row.overrun_minutes,
            "identified_at": _t(f.identified_at, tz),
            "admitted_at": _t(f.admitted_at, tz),
            "admission": str(admission.get(f.ref, ("", ""))[0]),
            "admission_label": labels.label(labels.ADMISSION_STATE, str(admission.get(f.ref, ("", ""))[0])),
            "admission_error": admission.get(f.ref, ("", ""))[1],
            "ticket": next((s.ticket_number for s in exam.students if s.student_ref == f.ref), None),
            "drawn_at": _t(f.ticket_drawn_at, tz),
            "confirmed_at": _t(f.ticket_confirmed_at, tz),
            "preparation_ends_at": _iso(row.preparation_ends_at)
            if row.stage in (rules.Stage.DRAWN, rules.Stage.PREPARING, rules.Stage.UPLOADED) else None,
            "preparation_ends_label": _t(row.preparation_ends_at, tz),
            "files": f.files,
            "files_missing": f.files == 0 and f.ticket_drawn_at is not None and row.stage not in (
                rules.Stage.EXCEPTION, rules.Stage.DECIDED),
            "files_label": ngettext("%(num)s file", "%(num)s files", f.files) if f.files else _("no answer sheets"),
            "pages_declared": row.pages_declared,
            "uploaded_by_secretary": row.uploaded_by_secretary,
            "uploaded_files": board.files.get(row.student_id, []),
            # Classroom lets only the student attach files, so these go to Drive, shared with the commission.
            "drive_files": drive.get(f.ref, {}),
            "timer": None if timer is None else {
                "phase": timer.phase,
                "label": str(timer.label),
                "label_text": TIMER_LABELS.get(timer.label, TIMER_LABELS["answer"])(),
                "may_end_at": _iso(timer.may_end_at),
                "may_end_label": _t(timer.may_end_at, tz),
                "first_minutes": timer.first_minutes,
                "slot_minutes": timer.slot_minutes,
                "answer_ends_at": _iso(timer.answer_ends_at),
                "questions_end_at": _iso(timer.questions_end_at),
                "answer_ends_label": _t(timer.answer_ends_at, tz),
                "questions_end_label": _t(timer.questions_end_at, tz),
                "overrun_seconds": timer.overrun_seconds,
            },
            "quiz": _quiz_json(quiz.get(row.student_id), tz),
            "grading": _grading_json(exam, f, board.now, tz),
            "votes": {"cast": row.votes.cast, "of": row.votes.of, "missing": list(row.votes.missing)},
            "decision": row.decision_letter,
            "exception": None if f.exception is None else {
                "kind": str(f.exception),
                "label": labels.label(labels.STUDENT_STATUS, str(f.exception)),
                "reason": row.exception_reason,
                "moved_to": format_date(row.moved_to, "medium", locale=locale) if row.moved_to else "",
                "continuation": labels.label(labels.CONTINUATION, str(f.continuation)) if f.continuation else "",
                "mark": row.exception_mark,
            },
            "commission_reason": row.commission_reason,
            "continue_days": [{"day": d.isoformat(), "label": format_date(d, "medium", locale=locale)}
                              for d in continue_days.get(f.ref, [])],
            "actions": _actions(row, exam, others, board.now),
            "may_record_exception": f.exception is None and row.stage is not rules.Stage.DECIDED
            and exam.status != "sealed" and may("student.exception"),
        })
    now_local = queries.local(board.now, tz)
    return {
        "session": exam.code,
        "status": exam.status,
        "day": board.day.isoformat(),
        "day_label": format_date(board.day, "full", locale=locale),
        "days": [{"day": d.isoformat(), "label": format_date(d, "medium", locale=locale)} for d in board.days],
        "now": board.now.isoformat(),
        "clock": format_time(now_local, "medium", locale=locale),
        "clock_date": format_date(now_local.date(), "full", locale=locale),
        "timezone": tz,
        "day_starts": _t(board.day_starts_at, tz),
        "day_planned_end": _t(board.day_planned_end, tz),
        "delay_minutes": board.delay_minutes,
        "answering": board.answering.facts.ref if board.answering else None,
        "next_up": board.next_up.facts.name if board.next_up else None,
        "meeting_url": board.meeting_url,
        "recording_url": board.recording_url,
        "links_posted": _t(board.links_posted_at, tz),
        "timetable_error": board.timetable_error,
        "students": students,
        # The form of the exam (lms_bridge.domain.kinds): without a draw the board shows no ticket steps;
        # a test exam's admission opens the test quiz.
        "draw": kind.tickets,
        "test_quiz": kind.test_quiz,
        # The answer clock of this form of the exam (lms_bridge.domain.kinds.SlotTimer): an oral answer then
        # questions, a defense's 7-10 minute talk in at most 15, a creative exam's 10-15 minute
        # presentation; none at a test exam (the quiz's own time limit instead).
        "timers": _timers_json(kind.timer, exam.answer_minutes),
        "released": exam.released_at is not None,
        # What the viewer's roles allow beyond the steps (the policy table; checked again on POST).
        "may": {"upload": may("board.upload"), "links": may("board.links"),
                "close_vote": may("student.close_vote"), "decide": may("student.commission_decision")},
    }


def _render_live(exam: ExamSession, view: dict[str, Any]) -> str:
    return render_template("admin/_board_live.html", exam=exam, board=view,
                           action_form=ActionForm(formdata=None))


def board_page(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        view = board_view(db, exam, _day_arg())
        return render_template("admin/board.html", exam=exam, board=view, live=_render_live(exam, view))


def board_json(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        view = board_view(db, exam, _day_arg())
        return {**view, "html": _render_live(exam, view)}


def _back(code: str, anchor: str = "") -> Any:
    day = request.form.get("day", "")
    return redirect(url_for("admin.board_page", code=code, day=day or None, _anchor=anchor or None))


def _checked_form() -> None:
    if not ActionForm().validate_on_submit():
        abort(400)


def board_action(code: str, ref: str, action: str) -> Any:
    """One board action for one student: identify, confirm the ticket's receipt, start or end the
    answer.  Each is recorded with who and when, so each asks for confirmation first."""
    _checked_form()
    if action not in set(rules.Action):
        abort(404)
    back = _back(code, f"st-{ref}")
    if request.form.get("confirm") != "yes":
        flash(_("Nothing was done: tick the box to confirm the action first."), "error")
        return back
    from lms_bridge.results.sitting import act, announce

    if action == rules.Action.ADMIT:
        return _admit(code, ref, back)
    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            student = _student_or_404(db, exam, ref)
            nxt = act(db, exam, student, action, actor=g.user.username)
            exam_id, name = exam.id, student.name
    except rules.BoardError as exc:
        flash(str(exc), "error")
        return back
    if action == rules.Action.START_ANSWER and nxt:
        try:
            announce.enqueue(exam_id, "next", nxt)
        except Exception:  # the queue being down must not undo the recorded start
            logger.exception("the next student of %s could not be announced", code)
            flash(_("The next student could not be announced in Classroom; tell them in the meeting."), "error")
    flash(_("Recorded for %(name)s: %(what)s.", name=name, what=ACTION_BUTTONS[rules.Action(action)]()),
          "success")
    return back


def _admit(code: str, ref: str, back: Any) -> Any:
    """Admission from the board: the board's rule first (identified, not admitted yet), then the same
    dispatch as the session page's button (lms_bridge.results.admission.admit_student: the draw and
    Moodle for an exam with tickets, the closed quiz for a test exam)."""
    from lms_bridge.admin.views import admitted_message
    from lms_bridge.domain.admission import AdmissionError
    from lms_bridge.results.admission import admit_student
    from lms_bridge.results.sitting import act

    try:
        with state().sessionmaker() as db:
            exam = _session_or_404(db, code)
            act(db, exam, _student_or_404(db, exam, ref), rules.Action.ADMIT, actor=g.user.username)
        done = admit_student(state().queue, code, ref, g.user.username)
    except (rules.BoardError, AdmissionError) as exc:
        flash(str(exc), "error")
        return back
    except LookupError:
        abort(404)
    flash(admitted_message(done), "success")
    return back


def upload_on_behalf(code: str, ref: str) -> Any:
    """Answer sheets the student sent another way, uploaded by the secretary on the student's behalf."""
    _checked_form()
    back = _back(code, f"st-{ref}")
    if request.form.get("confirm") != "yes":
        flash(_("Nothing was done: tick the box to confirm the action first."), "error")
        return back
    limits = state().settings.limits
    files = [f.read(limits.file_bytes + 1) for f in request.files.getlist("files") if f and f.filename]
    pages_raw = request.form.get("pages", "").strip()
    try:
        pages = int(pages_raw) if pages_raw else None
    except ValueError:
        flash(_("The number of pages must be between 1 and 200."), "error")
        return back
    from lms_bridge.results.sitting import upload_on_behalf as keep

    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            student = _student_or_404(db, exam, ref)
            count = keep(db, exam, student, files, pages=pages, actor=g.user.username,
                         data_dir=state().settings.data_dir, max_bytes=limits.file_bytes)
            name, session_id = student.name, exam.id
    except rules.BoardError as exc:
        flash(str(exc), "error")
        return back
    from lms_bridge.results.sitting import share_answer_sheets

    try:
        # Into Drive, shared with the commission and linked from the ballot (Classroom lets only the
        # student attach files to the submission).
        share_answer_sheets.enqueue(session_id, ref)
    except Exception:
        logger.exception("the answer sheets of %s could not be queued for Drive", ref)
    flash(ngettext("%(num)s file uploaded on behalf of %(name)s.", "%(num)s files uploaded on behalf of %(name)s.",
                   count, name=name), "success")
    return back


def uploaded_file(code: str, ref: str, name: str) -> Any:
    from lms_bridge.results.sitting import uploaded_file as find

    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        student = _student_or_404(db, exam, ref)
        path = find(state().settings.data_dir, exam, student, name)
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, download_name=f"{ref}-{name}")


def set_links(code: str) -> Any:
    """The day's meeting and recording links; posted to the students in Classroom when asked."""
    _checked_form()
    day = _day_arg()
    if day is None:
        abort(400)
    back = _back(code, "links")
    from lms_bridge.results.sitting import announce
    from lms_bridge.results.sitting import set_links as store_links

    meeting = request.form.get("meeting_url", "").strip()
    recording = request.form.get("recording_url", "").strip()
    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            store_links(db, exam, day, meeting_url=meeting, recording_url=recording, actor=g.user.username)
            exam_id = exam.id
    except rules.BoardError as exc:
        flash(str(exc), "error")
        return back
    if request.form.get("post") == "yes" and (meeting or recording):
        try:
            announce.enqueue(exam_id, "links", "", day.isoformat())
        except Exception:
            logger.exception("the links of %s could not be queued for Classroom", code)
            flash(_("The links are saved but could not be posted to Classroom; try again."), "error")
            return back
        flash(_("The links are saved and are being posted to the students in Classroom."), "success")
    else:
        flash(_("The links are saved."), "success")
    return back
