"""Admission to the draw: the secretary lets one student draw, on the student's sitting day.

The universities' instructions have the secretary admit each student on the day (000 step 4.5,
001 §9: "the red/green button"); only then does the student draw a ticket (R-TICKET-1) and the
preparation start (R-TICKET-3).  The draw itself is the verifiable one (``draw.py``); in Moodle the
ticket quiz stays closed to everyone and opens for the admitted student alone, with the drawn
ticket, for the preparation time.

Plain rules, no store: ``results/admission.py`` records what these functions allow.

States of a student's admission (``AdmissionState``), as the session page and the sitting board
show them:

=============  ===========================================================================
not_admitted   the session file does not admit the student (R-ADMIT-1): nothing to do
waiting        admitted by the file, sits today, has not drawn: the button admits
other_day      sits on another day of the commission (the timetable, or a move after a
               valid-reason absence): admission waits for that day
excepted       an exception of the exam day was recorded (no-show, refusal, ...): no draw
drawn          admitted: the ticket is drawn and recorded; Moodle is being opened for the
               student (or Moodle is not used for tickets)
open           the student's attempt in Moodle holds exactly the drawn ticket
failed         the ticket is drawn, but Moodle could not be opened yet (retried; the reason shows)
=============  ===========================================================================
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from lms_bridge.i18n import gettext as _


class AdmissionError(ValueError):
    """The student cannot be admitted to the draw now; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AdmissionState(enum.StrEnum):
    NOT_ADMITTED = "not_admitted"
    WAITING = "waiting"
    OTHER_DAY = "other_day"
    EXCEPTED = "excepted"
    DRAWN = "drawn"
    OPEN = "open"
    FAILED = "failed"


@dataclass(frozen=True)
class Candidate:
    """What the rules need to know about one student."""

    student_id: str
    admitted: bool  # by the session file (R-ADMIT-1)
    active: bool  # still listed in the session file
    ticket: int | None  # the ticket already drawn, if any
    sitting_date: date | None  # the student's sitting day (local date), None when unknown
    exception: str | None = None  # the kind of a recorded exception of the exam day
    moved_to: date | None = None  # a valid-reason absence moves the student to this day
    continuation: str = ""  # a technical failure: "later" (the student still sits) or "end"


#: Exceptions after which the student sits on another day (and draws then).
MOVING_EXCEPTIONS = frozenset({"absent_valid"})


def still_sits(candidate: Candidate) -> bool:
    """No exception, or one after which the student still sits and draws: a valid-reason absence, or
    a technical failure the commission continues later (today or on the day it chose, 003 §23)."""
    return (not candidate.exception or candidate.exception in MOVING_EXCEPTIONS
            or (candidate.exception == "technical_failure" and candidate.continuation == "later"))


def sitting_date(candidate: Candidate) -> date | None:
    """The day the student draws: the timetable's, or the day an exception moved them to (a
    valid-reason absence, or a technical failure continued on another day)."""
    if still_sits(candidate) and candidate.exception and candidate.moved_to is not None:
        return candidate.moved_to
    return candidate.sitting_date


def check_admission(candidate: Candidate, *, today: date, sealed: bool = False) -> None:
    """Raise :class:`AdmissionError` unless the student may be admitted to the draw today.

    ``today`` is the local date in the session's time zone.
    """
    who = candidate.student_id
    if sealed:
        raise AdmissionError("sealed", _("The session is sealed; nothing can change any more."))
    if not candidate.active or not candidate.admitted:
        raise AdmissionError("not_admitted", _(
            "%(student)s is not admitted by the session file and draws no ticket.", student=who))
    if candidate.ticket is not None:
        raise AdmissionError("already_drawn", _(
            "%(student)s has already drawn ticket %(ticket)s; a ticket is drawn once.",
            student=who, ticket=candidate.ticket))
    if not still_sits(candidate):
        raise AdmissionError("excepted", _(
            "An exception is recorded for %(student)s today; there is no draw.", student=who))
    day = sitting_date(candidate)
    if day is None:
        raise AdmissionError("no_day", _(
            "%(student)s has no place in the timetable, so the sitting day is unknown.", student=who))
    if day != today:
        raise AdmissionError("other_day", _(
            "%(student)s sits on %(day)s and draws on that day, not today.", student=who,
            day=day.isoformat()))


def admission_state(candidate: Candidate, *, today: date, moodle_open: bool = False,
                    moodle_failed: bool = False) -> AdmissionState:
    """The student's admission state (see the table in the module's text)."""
    if not candidate.active or not candidate.admitted:
        return AdmissionState.NOT_ADMITTED
    if candidate.ticket is not None:
        if moodle_open:
            return AdmissionState.OPEN
        return AdmissionState.FAILED if moodle_failed else AdmissionState.DRAWN
    if not still_sits(candidate):
        return AdmissionState.EXCEPTED
    day = sitting_date(candidate)
    if day is not None and day != today:
        return AdmissionState.OTHER_DAY
    return AdmissionState.WAITING


@dataclass(frozen=True)
class Window:
    """When the ticket quiz is open for one admitted student (UTC)."""

    opens: datetime
    closes: datetime

    def unix(self) -> tuple[int, int]:
        return int(self.opens.timestamp()), int(self.closes.timestamp())


def quiz_window(admitted_at: datetime, preparation_minutes: int, *, grace_minutes: int = 5,
                minimum_minutes: int = 15) -> Window:
    """The student's window in the ticket quiz: from the admission for the preparation time.

    A few grace minutes cover the time the ticket takes to reach the student and the clocks of the
    two machines; a sitting without preparation (a defense) still keeps the ticket readable for
    ``minimum_minutes``.  The window opens a minute before the admission for the same clock reason.
    """
    if admitted_at.utcoffset() is None:
        raise ValueError("admitted_at must be timezone-aware")
    if preparation_minutes < 0 or grace_minutes < 0:
        raise ValueError("minutes cannot be negative")
    start = admitted_at.astimezone(UTC).replace(microsecond=0)
    length = max(preparation_minutes, minimum_minutes) + grace_minutes
    return Window(opens=start - timedelta(minutes=1), closes=start + timedelta(minutes=length))


__all__ = [
    "MOVING_EXCEPTIONS",
    "AdmissionError",
    "AdmissionState",
    "Candidate",
    "Window",
    "admission_state",
    "check_admission",
    "quiz_window",
    "sitting_date",
]
