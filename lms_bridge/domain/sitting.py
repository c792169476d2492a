"""The sitting board's rules: where each student is in the day, what the secretary may do next, the
answer timers, the answer queue and the overruns against the timetable.

Plain rules, no store.  The stages follow the oral exam procedure (004) and the attestation rules
(003) as ``attestation-rules.md`` digests them:

==============  =================================================================================
stage           reached when
==============  =================================================================================
expected        the student is on today's list
identified      the ID was shown on camera, recorded by the secretary or head of department (R-ID-1)
admitted        admitted to the draw: Moodle/Classroom opened for this student alone
drawn           the ticket is drawn (preparation starts at the draw, R-TICKET-3)
preparing       the student (or the secretary) confirmed the ticket's receipt; counts down
uploaded        answer sheets uploaded (by the student, or by the secretary on the student's behalf)
answering       answering now: ``answer`` minutes of answer, then ``questions`` minutes of questions
answered        the answer is over; the commission votes
voting          at least one ballot is in: k of n
decided         the commission's decision exists (vote or the commission's own decision)
exception       an exception of the day is recorded (see :mod:`lms_bridge.domain.examday`)
==============  =================================================================================

A stage is never entered by skipping what must come before it on the board: the secretary's
actions are checked by :func:`check_action`.  One student answers at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from lms_bridge.domain.examday import Continuation, ExceptionKind
from lms_bridge.domain.kinds import ORAL_TIMER, SlotTimer
from lms_bridge.i18n import gettext as _

# 004 oral §6-7: up to 10 minutes of answer, then the commission's questions (5 minutes), in the
# 15-minute slot the timetable gives each student.
QUESTION_MINUTES = 5


class Stage(enum.StrEnum):
    EXPECTED = "expected"
    IDENTIFIED = "identified"
    ADMITTED = "admitted"
    DRAWN = "drawn"
    PREPARING = "preparing"
    UPLOADED = "uploaded"
    ANSWERING = "answering"
    ANSWERED = "answered"
    VOTING = "voting"
    DECIDED = "decided"
    EXCEPTION = "exception"


ORDER: tuple[Stage, ...] = tuple(Stage)


class Action(enum.StrEnum):
    """What the secretary does on the board (each one a POST of its own)."""

    IDENTIFY = "identify"
    ADMIT = "admit"  # admission to the draw (lms_bridge.results.admission does the draw)
    CONFIRM_RECEIPT = "confirm_receipt"
    START_ANSWER = "start_answer"
    FINISH_ANSWER = "finish_answer"


class BoardError(ValueError):
    """The board refuses the action; the message says why and what to do first."""


@dataclass(frozen=True)
class StudentFacts:
    """What is known of one student today (UTC instants; ``None``: not yet)."""

    ref: str
    name: str
    identified_at: datetime | None = None
    admitted_at: datetime | None = None
    ticket_drawn_at: datetime | None = None
    ticket_confirmed_at: datetime | None = None
    files: int = 0
    uploaded_at: datetime | None = None
    answer_started_at: datetime | None = None
    answer_ended_at: datetime | None = None
    ballots: int = 0
    first_ballot_at: datetime | None = None
    decided_at: datetime | None = None
    exception: ExceptionKind | None = None
    exception_at: datetime | None = None
    continuation: Continuation | None = None
    moved_to: date | None = None  # the exception moved the student to another sitting day


def resumes(facts: StudentFacts) -> bool:
    """An exception after which the student still sits: absent for a valid reason (moved to the next
    sitting day) or a technical failure the commission continues later (003 §22, §23)."""
    return facts.exception is ExceptionKind.ABSENT_VALID or (
        facts.exception is ExceptionKind.TECHNICAL_FAILURE and facts.continuation is Continuation.LATER)


def _after_exception(facts: StudentFacts, moment: datetime | None) -> datetime | None:
    """A fact counts after a resumable exception only when it is newer than the exception."""
    if moment is None or facts.exception is None or facts.exception_at is None:
        return moment
    return moment if moment > facts.exception_at else None


def since_exception(facts: StudentFacts) -> StudentFacts:
    """The facts that count after a resumable exception: an answer cut by it does not, and on another
    sitting day the student is identified (and admitted) again there (R-ID-1); a ticket drawn before
    stays the student's (a ticket is drawn once), and so do answer sheets already uploaded."""
    if facts.exception is None or not resumes(facts):
        return facts
    change: dict[str, object] = {"answer_started_at": _after_exception(facts, facts.answer_started_at),
                                 "answer_ended_at": _after_exception(facts, facts.answer_ended_at)}
    if facts.moved_to is not None:
        change["identified_at"] = _after_exception(facts, facts.identified_at)
        change["admitted_at"] = _after_exception(facts, facts.admitted_at)
    return StudentFacts(**{**facts.__dict__, **change})


def _acted_after(facts: StudentFacts) -> bool:
    """Something happened to the student after the (resumable) exception."""
    return any(_after_exception(facts, moment) is not None for moment in (
        facts.identified_at, facts.admitted_at, facts.ticket_drawn_at, facts.ticket_confirmed_at,
        facts.uploaded_at, facts.answer_started_at))


def stage_of(facts: StudentFacts, now: datetime) -> tuple[Stage, datetime | None]:
    """The student's stage and since when.  A decision outranks everything; an exception outranks
    the steps before it, except a resumable one after which the student is on the board again (on
    the day they continue: identified, admitted, drawing, answering)."""
    if facts.decided_at is not None:
        return Stage.DECIDED, facts.decided_at
    if facts.exception is not None:
        if not resumes(facts):
            return Stage.EXCEPTION, facts.exception_at
        if not _acted_after(facts):
            return Stage.EXCEPTION, facts.exception_at
        facts = since_exception(facts)
    if facts.ballots:
        return Stage.VOTING, facts.first_ballot_at or facts.answer_ended_at
    if facts.answer_ended_at is not None:
        return Stage.ANSWERED, facts.answer_ended_at
    if facts.answer_started_at is not None:
        return Stage.ANSWERING, facts.answer_started_at
    if facts.files > 0:
        return Stage.UPLOADED, facts.uploaded_at
    if facts.ticket_confirmed_at is not None and facts.ticket_drawn_at is not None:
        return Stage.PREPARING, facts.ticket_confirmed_at
    if facts.ticket_drawn_at is not None:
        return Stage.DRAWN, facts.ticket_drawn_at
    if facts.admitted_at is not None:
        return Stage.ADMITTED, facts.admitted_at
    if facts.identified_at is not None:
        return Stage.IDENTIFIED, facts.identified_at
    return Stage.EXPECTED, None


def check_action(action: Action | str, facts: StudentFacts, others: Sequence[StudentFacts], now: datetime, *,
                 draw: bool = True, oral: bool = True) -> None:
    """Raise :class:`BoardError` unless the secretary may do ``action`` for this student now.

    ``draw``: the form of the exam has tickets and a draw (``lms_bridge.domain.kinds``).  Without one (a
    defense, a creative exam, a test exam) there is no ticket to receive, and the answer does not wait
    for a ticket or for answer sheets written in a preparation time.  ``oral``: the students answer the
    commission in turn (not at a test exam, where the Moodle quiz is the answer)."""
    action = Action(action)
    if not oral and action in (Action.START_ANSWER, Action.FINISH_ANSWER):
        raise BoardError(_("At a test exam the students answer in the Moodle quiz; nobody answers orally."))
    stage, _since = stage_of(facts, now)
    facts = since_exception(facts)
    if stage is Stage.DECIDED:
        raise BoardError(_("%(name)s already has a decision.", name=facts.name))
    if stage is Stage.EXCEPTION and not resumes(facts):
        raise BoardError(_("An exception is recorded for %(name)s; the board has nothing more to do.",
                           name=facts.name))
    if action is Action.IDENTIFY:
        if facts.identified_at is not None:
            raise BoardError(_("%(name)s is already identified.", name=facts.name))
        return
    if action is Action.ADMIT:
        # R-ID-1: identified before the draw; the admission's own rules (the student's day, one
        # ticket) are checked where the draw is made.
        if facts.identified_at is None:
            raise BoardError(_("Identify %(name)s first.", name=facts.name))
        if facts.admitted_at is not None or facts.ticket_drawn_at is not None:
            raise BoardError(_("%(name)s is already admitted to the draw.", name=facts.name))
        return
    if action is Action.CONFIRM_RECEIPT:
        if not draw:
            raise BoardError(_("This form of the exam has no tickets and no draw."))
        if facts.ticket_drawn_at is None:
            raise BoardError(_("%(name)s has not drawn a ticket yet.", name=facts.name))
        if facts.ticket_confirmed_at is not None:
            raise BoardError(_("The receipt of the ticket is already confirmed."))
        return
    if action is Action.START_ANSWER:
        if facts.identified_at is None:
            raise BoardError(_("Identify %(name)s first.", name=facts.name))
        if draw and facts.ticket_drawn_at is None:
            raise BoardError(_("%(name)s has not drawn a ticket yet.", name=facts.name))
        if draw and facts.files <= 0:
            raise BoardError(_("No answer sheets from %(name)s yet: wait for the upload, or upload them on "
                               "the student's behalf.", name=facts.name))
        if stage in (Stage.ANSWERING, Stage.ANSWERED, Stage.VOTING):
            raise BoardError(_("%(name)s has already answered.", name=facts.name))
        busy = [o for o in others if o.ref != facts.ref and stage_of(o, now)[0] is Stage.ANSWERING]
        if busy:
            raise BoardError(_("%(name)s is answering now; one student answers at a time.", name=busy[0].name))
        return
    # FINISH_ANSWER
    if stage is not Stage.ANSWERING:
        raise BoardError(_("%(name)s is not answering now.", name=facts.name))


@dataclass(frozen=True)
class AnswerTimer:
    """The answering student's clock: the first phase (``label``: answer, talk or presentation) until
    ``answer_ends_at`` (it may end from ``may_end_at`` on), then the commission's questions."""

    phase: str  # "answer" (the first phase, whatever its label) | "questions" | "over"
    answer_ends_at: datetime
    questions_end_at: datetime
    overrun_seconds: int  # past the end of the slot, 0 before
    label: str = "answer"
    may_end_at: datetime | None = None
    slot_minutes: int = 0
    first_minutes: int = 0


def slot_plan(timer: SlotTimer, session_minutes: int, question_minutes: int = QUESTION_MINUTES) -> tuple[int, int]:
    """(minutes of the first phase, minutes of the whole slot) for this form of the exam.

    The slot is the session's, never above the form's maximum.  An oral answer: the questions take
    ``question_minutes`` of it (or half of a slot too short for them), the answer the rest.  A
    defense's talk or a creative exam's presentation ends at ``timer.max_minutes`` (never past the
    slot), the questions take the rest."""
    slot = min(session_minutes, timer.slot_max_minutes) if timer.slot_max_minutes else session_minutes
    first = slot - min(question_minutes, slot // 2) if timer.max_minutes is None else min(timer.max_minutes, slot)
    return first, slot


def answer_timer(started_at: datetime, now: datetime, *, slot_minutes: int,
                 question_minutes: int = QUESTION_MINUTES, timer: SlotTimer = ORAL_TIMER) -> AnswerTimer:
    """The first phase then the questions in the student's slot (:func:`slot_plan`); the first phase
    may end from ``timer.min_minutes`` on (a defense's talk: 7 minutes)."""
    first, slot = slot_plan(timer, slot_minutes, question_minutes)
    answer_ends = started_at + timedelta(minutes=first)
    questions_end = started_at + timedelta(minutes=slot)
    if now < answer_ends:
        phase = "answer"
    elif now < questions_end:
        phase = "questions"
    else:
        phase = "over"
    may_end = started_at + timedelta(minutes=min(timer.min_minutes, first)) if timer.min_minutes else None
    return AnswerTimer(phase, answer_ends, questions_end, max(0, int((now - questions_end).total_seconds())),
                       label=timer.phase, may_end_at=may_end, slot_minutes=slot, first_minutes=first)


def preparation_ends(drawn_at: datetime, preparation_minutes: int) -> datetime:
    """Preparation starts when the ticket is drawn (R-TICKET-3)."""
    return drawn_at + timedelta(minutes=preparation_minutes)


def next_to_answer(queue: Sequence[StudentFacts], now: datetime) -> StudentFacts | None:
    """The first student in the day's order who has still to answer (and may: no final exception)."""
    for facts in queue:
        stage, _since = stage_of(facts, now)
        if stage in (Stage.ANSWERING, Stage.ANSWERED, Stage.VOTING, Stage.DECIDED):
            continue
        if stage is Stage.EXCEPTION:
            continue
        return facts
    return None


def overrun_minutes(planned_end: datetime, actual_end: datetime | None, started: datetime | None,
                    now: datetime) -> int:
    """How many minutes past the timetable's end of the slot the answer ended (or, while it runs,
    already is); 0 when on time or not started."""
    if started is None:
        return 0
    end = actual_end or now
    return max(0, int((end - planned_end).total_seconds() // 60))


@dataclass(frozen=True)
class Votes:
    """Votes k of n, and who has not voted yet (the voting members' names)."""

    cast: int
    of: int
    missing: tuple[str, ...] = field(default_factory=tuple)


def votes(voting_members: Sequence[tuple[str, str]], voted_emails: set[str]) -> Votes:
    """``voting_members`` as (email, name); the secretary does not vote and is not listed."""
    missing = tuple(name for email, name in voting_members if email not in voted_emails)
    return Votes(len(voting_members) - len(missing), len(voting_members), missing)


def extra_slots(day_ends_at: datetime, count: int, slot_minutes: int) -> list[tuple[datetime, datetime]]:
    """New slots after the day's last one, for students moved to this day or continuing later
    (003 §22-23): one ``slot_minutes`` slot each, in the order they are given."""
    return [(day_ends_at + timedelta(minutes=slot_minutes * i), day_ends_at + timedelta(minutes=slot_minutes * (i + 1)))
            for i in range(count)]


def board_day(days: Sequence[date], today: date) -> date:
    """The sitting day the board opens on: today when the commission sits today, else the next
    sitting day, else the last one."""
    if not days:
        return today
    ordered = sorted(days)
    for d in ordered:
        if d >= today:
            return d
    return ordered[-1]


@dataclass(frozen=True)
class QuizState:
    """A test exam student's quiz on the board, instead of the oral answer's timers (004 test §2-9).

    ``phase``: ``waiting`` (not admitted yet), ``admitted`` (the quiz is open for the student, no
    attempt seen yet), ``running`` (an attempt in progress: ``ends_at``, ``seconds_left`` of the time
    limit), ``submitted`` (the attempt is closed, its score not read yet), ``scored``."""

    phase: str
    ends_at: datetime | None = None
    seconds_left: int = 0
    score: float | None = None
    of: int = 0


def quiz_state(*, admitted_at: datetime | None, attempt_state: str, attempt_started_at: datetime | None,
               attempt_ends_at: datetime | None, score: float | None, now: datetime, limit_minutes: int,
               exam_max: int) -> QuizState:
    """Where a student's test is now, from the admission and Moodle's attempt as last read.

    The attempt ends at Moodle's own deadline when known (a reconnection changes it), else at its
    start plus the time limit."""
    if score is not None:
        return QuizState("scored", score=score, of=exam_max)
    if attempt_state in ("finished", "abandoned"):
        return QuizState("submitted", of=exam_max)
    if attempt_state in ("inprogress", "overdue") and attempt_started_at is not None:
        ends = attempt_ends_at or attempt_started_at + timedelta(minutes=limit_minutes)
        return QuizState("running", ends_at=ends, seconds_left=max(0, int((ends - now).total_seconds())),
                         of=exam_max)
    if admitted_at is not None:
        return QuizState("admitted", of=exam_max)
    return QuizState("waiting", of=exam_max)
