"""The appeals page of a session: each appeal with its next deadline (an overdue one stands out), the
student's statement (only for the appeal commission and the technical secretary: ``appeals.statement``),
and the actions along the appeal's life: read the filings, schedule the hearing, count the votes, answer
(the technical secretary or the appeal commission's secretary), apply (the technical secretary).
The rules and the work are in :mod:`lms_bridge.results.appeals`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from lms_bridge.admin import queries
from lms_bridge.admin.forms import ActionForm
from lms_bridge.admin.policy import may
from lms_bridge.appstate import state
from lms_bridge.backends import backends
from lms_bridge.domain.appeals import AppealError
from lms_bridge.remote import describe_error
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AppealBallotRecord, AppealRecord, ExamSession

logger = logging.getLogger(__name__)

STATUS_LABELS = {
    "filed": lambda: _("filed"),
    "refused": lambda: _("refused: filed late"),
    "hearing": lambda: _("hearing scheduled, voting"),
    "decided": lambda: _("decided, answer due"),
    "answered": lambda: _("answered"),
    "applied": lambda: _("applied"),
}
OUTCOME_LABELS = {
    "kept": lambda: _("grade kept"),
    "changed": lambda: _("grade changed"),
    "new_sitting": lambda: _("a new sitting"),
}
DEADLINE_LABELS = {
    "hearing": lambda: _("hearing by"),
    "answer": lambda: _("answer by"),
}


def _exam_or_404(db: Any, code: str) -> ExamSession:
    exam = queries.get_session(db, code)
    if exam is None:
        abort(404)
    return exam  # type: ignore[no-any-return]


def appeal_summaries(db: Any, exam: ExamSession, *, statement: bool = False) -> list[dict[str, Any]]:
    """What the session page and the appeals page show of each appeal; the student's statement only
    when ``statement`` (the viewer may read it: ``appeals.statement``)."""
    from lms_bridge.results.appeals import appeal_rows, appeal_settings

    locale = get_locale() or "en"
    out = []
    for row in appeal_rows(db, exam, settings=appeal_settings(state().settings)):
        a = row.appeal
        ballots = list(db.scalars(select(AppealBallotRecord).where(AppealBallotRecord.appeal_id == a.id)))
        out.append({
            "id": a.id, "student": row.student.name, "ref": row.student.student_ref, "status": a.status,
            "status_label": STATUS_LABELS[a.status]() if a.status in STATUS_LABELS else a.status,
            "filed": format_date(a.filed_on, "medium", locale=locale),
            "closes": format_date(a.closes_on, "medium", locale=locale),
            "refusal": a.refusal, "statement": (a.statement or []) if statement else None,
            "original": a.original_letter, "new_letter": a.new_letter,
            "outcome": OUTCOME_LABELS[a.outcome]() if a.outcome in OUTCOME_LABELS else "",
            "hearing_at": a.hearing_at, "meeting_link": a.meeting_link, "form_url": a.form_url,
            "ballots": len([b for b in ballots if b.status == "counted"]),
            "flagged": len([b for b in ballots if b.status != "counted"]),
            "deadline": None if row.deadline is None else {
                "label": DEADLINE_LABELS[str(row.deadline.kind)](),
                "due": format_date(row.deadline.due, "medium", locale=locale),
                "overdue": row.deadline.overdue},
            "documents": a.documents or [],
            "outcome_kind": a.outcome, "new_sitting_at": a.new_sitting_at,
        })
    return out


def appeals_json(code: str) -> Any:
    """Each appeal's state and next deadline, for a page that polls (docs/admin-page.md).  Dates are
    ISO (the session's local days); the statement is left out: the page itself shows it."""
    from lms_bridge.results.appeals import appeal_rows, appeal_settings

    with state().sessionmaker() as db:
        exam = _exam_or_404(db, code)
        out = []
        for row in appeal_rows(db, exam, settings=appeal_settings(state().settings)):
            a, d = row.appeal, row.deadline
            out.append({
                "id": a.id, "ref": row.student.student_ref, "student": row.student.name, "status": a.status,
                "status_label": STATUS_LABELS[a.status]() if a.status in STATUS_LABELS else a.status,
                "filed_on": a.filed_on.isoformat(), "closes_on": a.closes_on.isoformat(),
                "hearing_at": a.hearing_at.isoformat() if a.hearing_at else None,
                "original": a.original_letter, "outcome": a.outcome, "new_letter": a.new_letter,
                "deadline": None if d is None else {
                    "kind": str(d.kind), "label": DEADLINE_LABELS[str(d.kind)](), "due": d.due.isoformat(),
                    "overdue": d.overdue},
            })
        return {"session": code, "timezone": exam.timezone, "appeals": out}


def appeals_page(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = _exam_or_404(db, code)
        from lms_bridge.results.appeals import appeal_members, appeal_settings, hearing_default

        appeals = appeal_summaries(db, exam, statement=may("appeals.statement"))
        defaults = {}
        for a in db.scalars(select(AppealRecord).where(AppealRecord.session_id == exam.id,
                                                       AppealRecord.status == "filed")):
            defaults[a.id] = hearing_default(a, exam, appeal_settings(state().settings)).strftime("%Y-%m-%dT%H:%M")
        members = appeal_members(db, exam)
        return render_template("admin/appeals.html", exam=exam, appeals=appeals, defaults=defaults,
                               members=members, tz=exam.timezone)


def _act(code: str, appeal_id: int, work: Any, done: Any) -> Any:
    """Run one action on an appeal in one transaction; the page says what happened, never a traceback."""
    if not ActionForm().validate_on_submit():
        abort(400)
    after: list[int] = []
    try:
        with transaction(state().sessionmaker) as db:
            exam = _exam_or_404(db, code)
            appeal = db.get(AppealRecord, appeal_id)
            if appeal is None or appeal.session_id != exam.id:
                abort(404)
            after = work(db, exam, appeal) or []
    except AppealError as exc:
        flash(str(exc), "error")
    except Exception as exc:
        logger.exception("an appeal action on %s failed", code)
        flash(_("The action could not be done: %(reason)s", reason=describe_error(exc)), "error")
    else:
        # After the commit: a write-back must see the changed decision.
        from lms_bridge.results.jobs import write_decision

        for decision_id in after:
            for target in ("sheet", "moodle", "classroom"):
                write_decision.enqueue(decision_id, target)
        flash(done(), "success")
    return redirect(url_for("admin.appeals_page", code=code))


def sync_appeals(code: str) -> Any:
    if not ActionForm().validate_on_submit():
        abort(400)
    from lms_bridge.results.appeal_jobs import sweep_session

    with state().sessionmaker() as db:
        exam = _exam_or_404(db, code)
        session_id = exam.id
    try:
        sweep_session(state().queue, session_id)
    except Exception as exc:
        logger.exception("reading the appeals of %s failed", code)
        flash(_("The appeals could not be read: %(reason)s", reason=describe_error(exc)), "error")
    else:
        flash(_("The filings and the appeal commission's ballots are read."), "success")
    return redirect(url_for("admin.appeals_page", code=code))


def schedule_hearing(code: str, appeal_id: int) -> Any:
    from lms_bridge.results.appeals import appeal_settings, check_hearing
    from lms_bridge.results.appeals import schedule_hearing as schedule

    def work(db: Any, exam: ExamSession, appeal: AppealRecord) -> list[int]:
        try:
            at = datetime.fromisoformat(request.form.get("at", "")).replace(tzinfo=ZoneInfo(exam.timezone))
        except ValueError:
            raise AppealError(_("Give the hearing's date and time.")) from None
        link = request.form.get("link", "").strip()
        rules = appeal_settings(state().settings)
        overdue_ok = request.form.get("overdue") == "yes"
        # Checked before any client is built.
        check_hearing(db, exam, appeal, at=at, link=link, settings=rules, overdue_ok=overdue_ok)
        schedule(db, backends(state().queue).google, exam, appeal, at=at, link=link, actor=g.user.username,
                 settings=rules, overdue_ok=overdue_ok)
        return []

    return _act(code, appeal_id, work, lambda: _("The hearing is scheduled; the student and the appeal "
                                                 "commission are told (see the outbox)."))


def count_votes(code: str, appeal_id: int) -> Any:
    from lms_bridge.results.appeals import refresh_appeal

    def work(db: Any, exam: ExamSession, appeal: AppealRecord) -> list[int]:
        refresh_appeal(db, backends(state().queue).google, exam, appeal,
                       closed_by=g.user.username if request.form.get("close") == "yes" else "")
        return []

    return _act(code, appeal_id, work, lambda: _("The appeal commission's ballots are counted."))


def answer(code: str, appeal_id: int) -> Any:
    from lms_bridge.results.appeals import answer_appeal

    def work(db: Any, exam: ExamSession, appeal: AppealRecord) -> list[int]:
        answer_appeal(db, exam, appeal, actor=g.user.username, data_dir=state().settings.data_dir,
                      google=backends(state().queue).google)
        return []

    return _act(code, appeal_id, work, lambda: _("The answer letter and the protocol are drawn up and queued "
                                                 "for the student and the appeal commission."))


def apply(code: str, appeal_id: int) -> Any:
    from lms_bridge.results.appeals import appeal_settings, apply_appeal

    def work(db: Any, exam: ExamSession, appeal: AppealRecord) -> list[int]:
        at = None
        if appeal.outcome == "new_sitting":
            try:
                at = datetime.fromisoformat(request.form.get("at", "")).replace(tzinfo=ZoneInfo(exam.timezone))
            except ValueError:
                raise AppealError(_("Give the new sitting's date and time.")) from None
        return apply_appeal(db, exam, appeal, actor=g.user.username, new_sitting_at=at,
                            google=backends(state().queue).google if at is not None else None,
                            settings=appeal_settings(state().settings))

    return _act(code, appeal_id, work, lambda: _("The appeal is applied."))
