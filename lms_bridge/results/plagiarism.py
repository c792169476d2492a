"""A defense's plagiarism-check result, recorded per student by the secretary (a percentage, or a link to
the university checker's report) and shown to the commission on the student's ballot."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from lms_bridge.domain.kinds import rules_for
from lms_bridge.i18n import gettext as _
from lms_bridge.store.models import AuditEvent, ExamSession, StudentRecord
from lms_bridge.store.repo import journal_entry

logger = logging.getLogger(__name__)

MAX_CHARS = 500
# Control characters (line breaks included) and bidirectional marks have no place in a one-line result.
_BAD = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class PlagiarismRefused(ValueError):
    """The result cannot be recorded; the message says why."""


def record_plagiarism(db: Session, session: ExamSession, student: StudentRecord, result: str, *, actor: str,
                      ) -> None:
    """Record (or correct) the student's plagiarism-check result; the change is audited."""
    if not rules_for(session.kind).plagiarism:
        raise PlagiarismRefused(_("Only a defense records a plagiarism check."))
    if session.status == "sealed":
        raise PlagiarismRefused(_("The session is sealed; nothing can change any more."))
    text = result.strip()
    if not text or len(text) > MAX_CHARS or _BAD.search(text):
        raise PlagiarismRefused(_("Write the result on one line, at most %(max)s characters: a percentage or a "
                                  "link to the checker's report.", max=MAX_CHARS))
    old = student.plagiarism_check
    student.plagiarism_check = text
    db.add(AuditEvent(session_id=session.id, at=datetime.now(UTC), actor=actor, action="plagiarism.recorded",
                      detail={"student": student.student_ref, "old": old, "new": text}))
    db.flush()


def update_ballot(db: Session, session: ExamSession, student: StudentRecord, google: Any) -> bool:
    """Rewrite the description of the student's ballot so it shows the current result (and the link to
    the thesis); False when the session has no ballot for the student yet (provisioning writes it)."""
    from lms_bridge.google.steps import ADVANCE_KEY, form_requests
    from lms_bridge.store.repo import spec_from_store

    entry = journal_entry(db, session.id, f"forms.form:{student.student_ref}")
    if entry is None:
        return False
    spec = spec_from_store(db, session)
    person = next(s for s in spec.students if s.id == student.student_ref)
    advance = journal_entry(db, session.id, ADVANCE_KEY)
    link = str(((advance.data.get("links") or {}) if advance else {}).get(student.student_ref, ""))
    info = form_requests(spec, person, submission=link,
                         on_behalf=list(entry.data.get("on_behalf") or []))[0]  # the description only
    google.forms.batch_update(entry.external_id, [info])
    return True
