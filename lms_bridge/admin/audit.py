"""The audit trail: who did what, and when, in one session (or, for an administrator, on the site).

One timeline gathered from what the store already keeps: the audit events (import, provisioning,
draw, closing a vote, decisions, exceptions, release, seal, sign-in), every ballot seen on a student's
form and how it was counted (counted, duplicate, edited, outsider, late, invalid: never the grade,
so a secret vote stays secret), the provisioning runs, and the write-backs of each decision.
Filtered by student, the trail is that student's rows plus the session-wide ones (import, provisioning,
release, seal): the whole story of one student from import to seal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    DecisionRecord,
    ExamSession,
    ProvisioningRun,
    StudentRecord,
    WritebackRecord,
)

PAGE_SIZE = 100
# Site-wide (an administrator's view without a session): only the audit events, newest first.
SITE_LIMIT = 5000


@dataclass(frozen=True)
class Row:
    at: datetime
    actor: str
    action: str
    session: str
    student: str  # the student's id in the university system, "" for a session-wide row
    student_name: str
    what: str


ACTIONS: dict[str, Callable[[], str]] = {
    "session.created": lambda: _("Session imported"),
    "session.reimported": lambda: _("Session imported again"),
    "admin.provision": lambda: _("Provisioning started"),
    "provisioning.run": lambda: _("Provisioning run"),
    "provisioning.resumed": lambda: _("Provisioning resumed automatically after an interruption"),
    "provisioning.resume_stopped": lambda: _("Provisioning no longer resumed automatically"),
    "commission.identified": lambda: _("Commission identified"),
    "admin.draw_tickets": lambda: _("Ticket draw started"),
    "ticket.drawn": lambda: _("Ticket drawn"),
    "ticket.redraw_refused": lambda: _("Second draw refused"),
    "ballot.received": lambda: _("Ballot received"),
    "vote.closed": lambda: _("Vote closed"),
    "decision.recorded": lambda: _("Decision recorded"),
    "decision.by_commission": lambda: _("Decision by the commission"),
    "exception.recorded": lambda: _("Exception recorded"),
    "results.released": lambda: _("Results released"),
    "writeback": lambda: _("Write-back of the grade"),
    "session.sealed": lambda: _("Session sealed"),
    "protocols.signed_off": lambda: _("Protocols signed off"),
    "admin.sign_in": lambda: _("Signed in"),
    "admin.sign_in_refused": lambda: _("Sign-in refused"),
    "api.token_created": lambda: _("API token created"),
    "api.token_revoked": lambda: _("API token revoked"),
    "job.failed": lambda: _("Background job failed"),
}


# The details' keys as the page's language names them; a key without a name shows as it is.
DETAIL_KEYS: dict[str, Callable[[], str]] = {
    "status": lambda: _("status"), "target": lambda: _("target"), "attempts": lambda: _("attempts"),
    "error": lambda: _("error"), "letter": lambda: _("grade"), "points": lambda: _("points"),
    "votes_cast": lambda: _("votes cast"), "outcome": lambda: _("outcome"), "ticket": lambda: _("ticket"),
    "decisions": lambda: _("decisions"), "documents": lambda: _("documents"), "emails": lambda: _("e-mails"),
    "run": lambda: _("run"), "created": lambda: _("created"), "reused": lambda: _("reused"),
    "source": lambda: _("file"), "changes": lambda: _("changes"), "reason": lambda: _("reason"),
    "kind": lambda: _("kind"), "mark": lambda: _("mark"), "via": lambda: _("via"), "form": lambda: _("form"),
    "submitted": lambda: _("submitted"), "role": lambda: _("role"), "days": lambda: _("days"),
    "token": lambda: _("token"), "roles": lambda: _("roles"),
    "interrupted_run": lambda: _("interrupted run"), "attempt": lambda: _("attempt"),
}


def action_label(code: str) -> str:
    make = ACTIONS.get(code)
    return make() if make is not None else code


def _what(detail: dict[str, Any]) -> str:
    """The event's details as one line ("ticket: 7 · outcome: decided"), the student left out (it
    has its own column) and long texts cut."""
    parts = []
    for key, value in (detail or {}).items():
        if key == "student" or value in (None, "", [], {}):
            continue
        if key == "changes" and isinstance(value, list):
            value = "; ".join(str(c.get("message", c)) if isinstance(c, dict) else str(c) for c in value)
        text = str(value)
        name = DETAIL_KEYS.get(key)
        parts.append(f"{name() if name else key}: {text[:300]}")
    return " · ".join(parts)


def session_rows(db: Session, exam: ExamSession, student_ref: str | None = None) -> list[Row]:
    """Every row of one session's trail, newest first; with ``student_ref``, that student's story."""
    students = {s.id: s for s in db.scalars(select(StudentRecord).where(StudentRecord.session_id == exam.id))}
    by_ref = {s.student_ref: s for s in students.values()}
    names = {s.student_ref: s.name for s in students.values()}
    wanted = by_ref.get(student_ref) if student_ref else None
    if student_ref and wanted is None:
        return []
    rows: list[Row] = []

    def add(at: datetime | None, actor: str, action: str, ref: str, what: str) -> None:
        if at is None:
            return
        if student_ref and ref and ref != student_ref:
            return
        rows.append(Row(at, actor, action, exam.code, ref, names.get(ref, ""), what))

    for event in db.scalars(select(AuditEvent).where(AuditEvent.session_id == exam.id)):
        detail = event.detail or {}
        ref = str(detail.get("student") or "")
        add(event.at, event.actor, event.action, ref, _what(detail))
    ballots = select(BallotRecord).where(BallotRecord.session_id == exam.id)
    if wanted is not None:
        ballots = ballots.where(BallotRecord.student_id == wanted.id)
    for ballot in db.scalars(ballots):
        student = students.get(ballot.student_id)
        # How it was counted, never what it said: the vote may be secret.
        add(ballot.received_at, ballot.voter_email, "ballot.received", student.student_ref if student else "",
            _what({"status": ballot.status, "form": ballot.form_id, "submitted": ballot.submitted_at.isoformat()}))
    writebacks = (select(WritebackRecord, DecisionRecord.student_id)
                  .join(DecisionRecord, DecisionRecord.id == WritebackRecord.decision_id)
                  .where(DecisionRecord.session_id == exam.id))
    for wb, student_id in db.execute(writebacks):
        student = students.get(student_id)
        add(wb.updated_at, "write-back", "writeback", student.student_ref if student else "",
            _what({"target": wb.target, "status": wb.status, "attempts": wb.attempts, "error": wb.last_error}))
    for run in db.scalars(select(ProvisioningRun).where(ProvisioningRun.session_id == exam.id)):
        add(run.finished_at or run.started_at or run.queued_at, f"provisioning ({run.trigger})", "provisioning.run",
            "", _what({"run": run.id, "status": run.status, "created": run.created, "reused": run.reused,
                       "error": run.error}))
    rows.sort(key=lambda r: (r.at, r.action), reverse=True)
    return rows


def site_rows(db: Session) -> list[Row]:
    """The audit events of the whole site (sign-ins, failed jobs, every session's events), newest first."""
    codes = dict(db.execute(select(ExamSession.id, ExamSession.code)).all())
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(SITE_LIMIT))
    return [Row(e.at, e.actor, e.action, codes.get(e.session_id, "") if e.session_id else "",
                str((e.detail or {}).get("student") or ""), "", _what(e.detail or {})) for e in events]


# -- CSV ----------------------------------------------------------------------------------------------
# A cell a spreadsheet would read as a formula (or as a command, DDE) starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it as text: a leading apostrophe before anything a spreadsheet
    would evaluate (OWASP's advice against CSV injection), and no line breaks inside."""
    text = " ".join(str(value).splitlines())
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def to_csv(rows: Iterable[Row], tz: str) -> str:
    from lms_bridge.admin.queries import local

    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([_("When"), _("Who"), _("Action"), _("Session"), _("Student id"), _("Student"), _("Details")])
    for row in rows:
        shown = local(row.at, tz)
        writer.writerow([safe_cell(v) for v in (shown.isoformat(timespec="seconds") if shown else "", row.actor,
                                                 action_label(row.action), row.session, row.student,
                                                 row.student_name, row.what)])
    # A byte-order mark so that Excel opens the Kazakh and Russian text as UTF-8.
    return "\ufeff" + out.getvalue()
