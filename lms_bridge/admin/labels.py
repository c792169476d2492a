"""Translated words for the values the store keeps as codes (kinds, roles, statuses).

Kept in one place so that the pages, the JSON the live progress script reads, and the badges agree.
Unknown codes (a status added by another area before a label exists here) show as the code itself
rather than failing the page.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

KIND: dict[str, Callable[[], str]] = {
    "oral_exam": lambda: _("Oral exam"),
    "written_exam": lambda: _("Written exam"),
    "open_book": lambda: _("Open-book exam"),
    "test_exam": lambda: _("Test exam"),
    "creative_exam": lambda: _("Creative exam"),
    "defense": lambda: _("Thesis defense"),
}

ROLE: dict[str, Callable[[], str]] = {
    "chair": lambda: _("Chair"),
    "member": lambda: _("Member"),
    "secretary": lambda: _("Secretary"),
}

# Who may do what (lms_bridge.domain.access.Role): the names of the roles, and the same role as the
# refusal's words put it ("Only the technical secretary of this session … may do this.").
ACCESS_ROLE: dict[str, Callable[[], str]] = {
    "administrator": lambda: _("Administrator"),
    "importer": lambda: _("Importer of sessions"),
    "secretary": lambda: _("Secretary"),
    "chair": lambda: _("Chair"),
    "member": lambda: _("Member"),
    "head_of_department": lambda: _("Head of department"),
    "registrar": lambda: _("Registrar"),
    "appeal_secretary": lambda: _("Secretary of the appeal commission"),
    "appeal_chair": lambda: _("Chair of the appeal commission"),
    "appeal_member": lambda: _("Member of the appeal commission"),
}

ROLE_WHO: dict[str, Callable[[], str]] = {
    "administrator": lambda: _("an administrator"),
    "importer": lambda: _("a secretary allowed to import sessions"),
    "secretary": lambda: _("the technical secretary of this session"),
    "chair": lambda: _("the chair of this session's commission"),
    "member": lambda: _("a member of this session's commission"),
    "head_of_department": lambda: _("the head of department of this session"),
    "registrar": lambda: _("the registrar, once the session is sealed"),
    "appeal_secretary": lambda: _("the secretary of this session's appeal commission"),
    "appeal_chair": lambda: _("the chair of this session's appeal commission"),
    "appeal_member": lambda: _("a member of this session's appeal commission"),
}


def role_label(role: str) -> str:
    """The role as the refusal's words name it."""
    return label(ROLE_WHO, str(role))


SESSION_STATUS: dict[str, Callable[[], str]] = {
    "imported": lambda: _("Imported"),
    "provisioned": lambda: _("Provisioned"),
    "sealed": lambda: _("Sealed"),
}

RUN_STATUS: dict[str, Callable[[], str]] = {
    "queued": lambda: _("Queued"),
    "running": lambda: _("Running"),
    "succeeded": lambda: _("Succeeded"),
    "failed": lambda: _("Failed"),
    "interrupted": lambda: _("Interrupted"),
}

STEP_STATUS: dict[str, Callable[[], str]] = {
    "pending": lambda: _("Waiting"),
    "running": lambda: _("Running"),
    "done": lambda: _("Done"),
    "failed": lambda: _("Failed"),
    "skipped": lambda: _("Not run"),
}

STUDENT_STATUS: dict[str, Callable[[], str]] = {
    "registered": lambda: _("Registered"),
    "invited": lambda: _("Invited"),
    "enrolled": lambda: _("Enrolled"),
    "ticket_drawn": lambda: _("Ticket drawn"),
    "answering": lambda: _("Answering"),
    "uploaded": lambda: _("Answers uploaded"),
    "answers_uploaded": lambda: _("Answers uploaded"),
    "turned_in": lambda: _("Turned in"),
    "turned_in_late": lambda: _("Turned in late"),
    "voting": lambda: _("Voting"),
    "decided": lambda: _("Decided"),
    "absent": lambda: _("Absent"),
    "not_admitted": lambda: _("Not admitted"),
    # The exceptions of the exam day (lms_bridge.domain.examday.ExceptionKind)
    "absent_valid": lambda: _("Absent, valid reason"),
    "no_show": lambda: _("Did not appear"),
    "refused": lambda: _("Refused to answer"),
    "technical_failure": lambda: _("Technical failure"),
    "breach": lambda: _("Stopped: breach of the rules"),
    "postponed": lambda: _("Postponed (I)"),
    "cumulative": lambda: _("Cumulative grade, on application"),
}

# What the secretary may record, in the order the form offers them.
# Admission to the draw (lms_bridge.domain.admission.AdmissionState).
ADMISSION_STATE: dict[str, Callable[[], str]] = {
    "not_admitted": lambda: _("Not admitted"),
    "waiting": lambda: _("Waiting for admission"),
    "other_day": lambda: _("Draws on another day"),
    "excepted": lambda: _("No draw: exception recorded"),
    "drawn": lambda: _("Ticket drawn, opening in Moodle"),
    "open": lambda: _("Ticket open"),
    "failed": lambda: _("Ticket drawn, Moodle not opened yet"),
}

EXCEPTION_KINDS = ("absent_valid", "no_show", "refused", "technical_failure", "breach", "postponed", "cumulative")

CONTINUATION: dict[str, Callable[[], str]] = {
    "later": lambda: _("continue at another time"),
    "end": lambda: _("end the attestation"),
}

WRITEBACK_TARGET: dict[str, Callable[[], str]] = {
    "sheet": lambda: _("Grade sheet"),
    "moodle": lambda: _("Moodle"),
    "classroom": lambda: _("Classroom"),
}

# Badge colour families, by status code (the CSS knows these four).
TONE: dict[str, str] = {
    "succeeded": "ok", "done": "ok", "provisioned": "ok", "decided": "ok", "sealed": "ok",
    "turned_in": "ok",
    "running": "busy", "queued": "busy", "voting": "busy", "answering": "busy", "ticket_drawn": "busy",
    "uploaded": "busy", "answers_uploaded": "busy",
    "failed": "bad", "interrupted": "warn", "not_admitted": "bad", "absent": "bad", "turned_in_late": "warn",
    "absent_valid": "warn", "no_show": "bad", "refused": "bad", "technical_failure": "warn", "breach": "bad",
    "postponed": "warn",
}

SIGN_IN_FAILED = _l("The username or password is not right.")


def label(table: dict[str, Callable[[], str]], code: str) -> str:
    make = table.get(code)
    return make() if make is not None else code.replace("_", " ")


def tone(code: str) -> str:
    return TONE.get(code, "neutral")
