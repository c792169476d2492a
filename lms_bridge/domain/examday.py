"""The exam day's exceptions, the commission's own decision, the chair's release and closing the day.

Plain rules, no store: the results layer records what these functions allow.  Rule items are cited
as in ``attestation-rules.md`` (003 = the attestation rules, 004 = the oral exam procedure,
001 = a university's instruction).

Each exception has an outcome for the student:

=================  ==========================  ===================================================
kind               mark for this sitting       why
=================  ==========================  ===================================================
absent_valid       none; sits on the next day  003 §22, 001 §17: with the chair's permission, on
                                               the commission's next sitting day
no_show            none ("did not appear")     no valid reason: nothing to grade; no re-sit in this
                                               period (003 §25-26)
refused            F                           004 oral §8: the refusal is recorded as such; the
                                               answer not given is unsatisfactory (003 §26)
technical_failure  none; continues or ends     003 §23, §31, §40: the commission decides to go on
                                               later (later the same day, or on one of its sitting
                                               days: the next by default) or to end; an act is
                                               written
breach             F                           003 §46, §55: the exam is stopped and the
                                               commission ends it; unsatisfactory
postponed          I (incomplete)              003 §14-15, §24, §41: postponed (no internet,
                                               illness); "I" until the new date
cumulative         the cumulative grade        003 §24: postponed, and on the student's
                                               application the mean of the current and midterm
                                               control scores (the session file) instead
=================  ==========================  ===================================================

A failing mark (FX, F) never carries a degree award, whatever the degree vote said.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from lms_bridge.domain.ballots import Outcome, OutcomeStatus
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.timetable import Timetable, TimetableSettings
from lms_bridge.i18n import gettext as _


class ExamDayError(ValueError):
    """What the secretary asked for is not allowed by the rules (the message says why)."""


class ExceptionKind(enum.StrEnum):
    # Values are stored in StudentExceptionRecord.kind.
    ABSENT_VALID = "absent_valid"
    NO_SHOW = "no_show"
    REFUSED = "refused"
    TECHNICAL_FAILURE = "technical_failure"
    BREACH = "breach"
    POSTPONED = "postponed"
    CUMULATIVE = "cumulative"


class Continuation(enum.StrEnum):
    """After a technical failure the commission decides (003 §31, §40)."""

    LATER = "later"  # another time is offered (003 §23)
    END = "end"


@dataclass(frozen=True)
class ExceptionOutcome:
    """What an exception means for the student at this sitting."""

    kind: ExceptionKind
    mark: str | None  # a letter on the scale (F), a status off the scale (I), or None: no grade
    # absent_valid: the commission's next sitting day; technical_failure continued on another day: that day
    moved_to: date | None = None
    continuation: Continuation | None = None  # technical_failure
    needs_act: bool = False  # technical failure: an act is written and sent the same day (003 §23)
    points: float | None = None  # cumulative: the mean of the control scores, rounded half up

    @property
    def degree_award(self) -> bool:
        # No exception ever awards the degree: the student either failed, or has not finished.
        return False


def next_sitting_day(table: Timetable, student_id: str, settings: TimetableSettings | None = None) -> date:
    """The commission's next sitting day after the student's own (003 §22): the timetable's next
    day, or, when the student's day is its last, the next working day, where the timetable would
    place a student it could not fit."""
    day = table.slot_for(student_id).date
    later = [d.date for d in table.days if d.date > day]
    if later:
        return later[0]
    return (settings or TimetableSettings()).calendar.next_working_day(table.days[-1].date)


def continuation_days(table: Timetable, student_id: str, settings: TimetableSettings | None = None) -> list[date]:
    """The days on which the commission may continue an exam a technical failure interrupted (003 §23,
    §31, §40) on another day: its sitting days after the student's own, the next first; when the
    student's day is the timetable's last, the next working day (as :func:`next_sitting_day`)."""
    day = table.slot_for(student_id).date
    later = [d.date for d in table.days if d.date > day]
    return later or [next_sitting_day(table, student_id, settings)]


def cumulative_points(current: float, midterm: float) -> float:
    """The cumulative grade's points: the mean of the current and midterm control scores, rounded
    half up to whole points as the commission's mean is (lms_bridge.domain.ballots)."""
    mean = (Decimal(str(current)) + Decimal(str(midterm))) / 2
    return float(mean.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def exception_outcome(kind: ExceptionKind | str, *, reason: str, scale: GradeScale,
                      next_day: date | None = None, chair_consent: bool = False,
                      continuation: Continuation | str | None = None,
                      scores: tuple[float | None, float | None] = (None, None),
                      continue_on: date | None = None, continue_days: Sequence[date] = ()) -> ExceptionOutcome:
    """The outcome of recording ``kind`` for a student, or :class:`ExamDayError` when the rules refuse.

    ``reason`` is always required: every exception is recorded with why.  ``next_day`` is the
    commission's next sitting day (:func:`next_sitting_day`).  ``continue_on``: after a technical
    failure the commission continues later, on this day (one of ``continue_days``, see
    :func:`continuation_days`) rather than later the same day.
    """
    kind = ExceptionKind(kind)
    if not reason.strip():
        raise ExamDayError(_("Say why: every exception is recorded with its reason."))
    if kind is ExceptionKind.ABSENT_VALID:
        # 003 §22: the application goes to the chair; the student sits with the chair's permission.
        if not chair_consent:
            raise ExamDayError(_("A student absent for a valid reason sits on another day only with "
                                 "the chair's permission."))
        if next_day is None:
            raise ExamDayError(_("The commission has no later sitting day; add one to the timetable first."))
        return ExceptionOutcome(kind, None, moved_to=next_day)
    if kind is ExceptionKind.NO_SHOW:
        return ExceptionOutcome(kind, None)
    if kind in (ExceptionKind.REFUSED, ExceptionKind.BREACH):
        # 004 oral §8 (refusal recorded as such), 003 §46/§55 (stopped, the commission ends it):
        # the lowest failing letter of the scale.
        return ExceptionOutcome(kind, _lowest_letter(scale))
    if kind is ExceptionKind.TECHNICAL_FAILURE:
        if continuation is None:
            raise ExamDayError(_("Say what the commission decided: continue later or end the exam."))
        continuation = Continuation(continuation)
        if continue_on is not None:
            if continuation is not Continuation.LATER:
                raise ExamDayError(_("A day to continue on is chosen only when the commission continues later."))
            if continue_on not in continue_days:
                raise ExamDayError(_("The commission continues on one of its later sitting days: %(days)s.",
                                     days=", ".join(d.isoformat() for d in continue_days) or "—"))
        return ExceptionOutcome(kind, None, moved_to=continue_on, continuation=continuation, needs_act=True)
    if kind is ExceptionKind.CUMULATIVE:
        # 003 §24: on the student's application, instead of sitting the postponed exam.
        current, midterm = scores
        if current is None or midterm is None:
            raise ExamDayError(_("The session file gives no current and midterm control scores for this "
                                 "student; the cumulative grade cannot be computed."))
        points = cumulative_points(current, midterm)
        return ExceptionOutcome(kind, scale.band_for_points(points).letter, points=points)
    # POSTPONED: 003 §15, the temporary "I" until the postponed exam.
    if scale.status("I") is None:
        raise ExamDayError(_("The grade scale has no temporary grade I."))
    return ExceptionOutcome(kind, "I")


def _lowest_letter(scale: GradeScale) -> str:
    return scale.letters()[-1]


def degree_award(letter: str, voted: bool | None, scale: GradeScale) -> bool | None:
    """The degree award a decision may carry: never with a failing letter (FX, F), else the vote's."""
    if not scale.band(letter).passed:
        return False
    return voted


@dataclass(frozen=True)
class CommissionDecision:
    """A decision the commission took in discussion when the vote could not decide."""

    letter: str
    points: float
    gpa: float
    reason: str
    vote_status: OutcomeStatus  # tie or no_quorum: what the vote left


def commission_decision(outcome: Outcome, letter: str, reason: str, scale: GradeScale) -> CommissionDecision:
    """The commission's decision on the chair's word, entered by the secretary (never silently).

    Only where the vote is closed and cannot decide: a tie the chair did not break, or no quorum
    (003 §56-60: the commission decides; the protocol says how).  On a tie the decision is one of
    the tied letters.
    """
    if outcome.status not in (OutcomeStatus.TIE, OutcomeStatus.NO_QUORUM):
        raise ExamDayError(_("The commission decides in place of the vote only when the vote cannot "
                             "decide (a tie the chair did not break, or no quorum)."))
    if not reason.strip():
        raise ExamDayError(_("Say why the commission decided without the vote."))
    if not scale.has_letter(letter):
        raise ExamDayError(_("%(letter)s is not a grade on the scale", letter=letter))
    band = scale.band(letter)
    if outcome.status is OutcomeStatus.TIE:
        top = max(n for _letter, n in outcome.letter_counts)
        tied = [x for x, n in outcome.letter_counts if n == top]
        if band.letter not in tied:
            raise ExamDayError(_("The vote is tied between %(letters)s; the commission decides between them.",
                                 letters=", ".join(tied)))
    return CommissionDecision(band.letter, float(band.points), float(band.gpa), reason.strip(), outcome.status)


@dataclass(frozen=True)
class StudentDayState:
    """What closing the day needs to know of one student."""

    ref: str
    name: str
    admitted: bool
    decided: bool
    exception: ExceptionKind | None = None


def day_blockers(students: Sequence[StudentDayState]) -> list[str]:
    """Names of admitted students with neither a decision nor a recorded exception.

    The day closes (results released, session sealed) once this list is empty; an exception counts
    because it is the student's outcome for this sitting (see the table above).
    """
    return [s.name for s in students if s.admitted and not s.decided and s.exception is None]


def may_release(students: Sequence[StudentDayState], *, already_released: bool) -> None:
    """The chair announces the results after the procedure ends (003 §61, 001 §16): once every
    admitted student is settled, once."""
    if already_released:
        raise ExamDayError(_("The results are already released."))
    blockers = day_blockers(students)
    if blockers:
        raise ExamDayError(_("Some admitted students have neither a decision nor a recorded exception: "
                             "%(names)s.", names=", ".join(blockers)))


def may_seal(students: Sequence[StudentDayState], *, released: bool) -> None:
    """Seal once every admitted student is settled and the chair has released the results."""
    blockers = day_blockers(students)
    if blockers:
        raise ExamDayError(_("Some admitted students have neither a decision nor a recorded exception: "
                             "%(names)s.", names=", ".join(blockers)))
    if not released:
        raise ExamDayError(_("The chair has not released the results yet."))
