"""What each form of the exam needs (attestation rules, "Forms of the exam"; 003 §13, §32-37; 001 §12,
§15, §19; 004 test and creative).

One table says, per kind, whether tickets are drawn at the sitting, whether files are collected in
advance (the thesis PDF, the performance video links), whether the students write in an assignment
open for the writing time, whether a Moodle test quiz is taken, whether the commission votes, and
how long an answer slot may be.  The provisioning plan, the session file's checks and the session
page all read it, so that a defense never offers a ticket draw and a test exam never waits for votes
nobody asked for.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from lms_bridge.domain.session import ExamKind, SessionSpec


class Advance(enum.StrEnum):
    """What the students hand in before the sitting."""

    NONE = ""
    THESIS = "thesis"  # the thesis PDF (001 §19)
    PERFORMANCE = "performance"  # links to the performance videos (000 step 5, 004 creative §4)


@dataclass(frozen=True)
class SlotTimer:
    """The board's clock for one student's slot in this form of the exam.

    ``phase``: what the student does first (an oral ``answer``, a defense's ``talk``, a creative exam's
    ``presentation``); it may end from ``min_minutes`` on and ends at the latest at ``max_minutes``
    (``None``: the slot less the commission's questions); the commission's questions fill the rest of
    the slot, which lasts the session's answer minutes, at most ``slot_max_minutes``."""

    phase: str
    min_minutes: int = 0
    max_minutes: int | None = None
    slot_max_minutes: int | None = None


# 004 oral §6-7: up to 10 minutes of answer, then 5 of questions, in the session's slot (15 by default).
ORAL_TIMER = SlotTimer("answer")
# 003 §32-33: the talk takes 7-10 minutes, the whole defense at most 15 minutes per student.
DEFENSE_TIMER = SlotTimer("talk", min_minutes=7, max_minutes=10, slot_max_minutes=15)
# 004 creative: a 10-15 minute presentation slot.
CREATIVE_TIMER = SlotTimer("presentation", min_minutes=10, max_minutes=15, slot_max_minutes=15)


@dataclass(frozen=True)
class KindRules:
    tickets: bool  # tickets are drawn at the sitting and handed out in Classroom
    advance: Advance  # files collected before the sitting
    writing: bool  # answers written in an assignment open for the writing time (the ticket assignment)
    materials_allowed: bool  # open book: the instructions say so
    test_quiz: bool  # a Moodle quiz of random questions from the session's bank, scored by Moodle
    vote_by_default: bool  # the commission votes through one form per student
    plagiarism: bool  # a plagiarism-check result is recorded per student
    min_answer_minutes: int = 1
    max_answer_minutes: int = 240
    # The board's answer clock; None: nobody answers orally (a test exam: the board shows the quiz).
    timer: SlotTimer | None = ORAL_TIMER


RULES: dict[ExamKind, KindRules] = {
    ExamKind.ORAL_EXAM: KindRules(tickets=True, advance=Advance.NONE, writing=False, materials_allowed=False,
                                  test_quiz=False, vote_by_default=True, plagiarism=False),
    ExamKind.WRITTEN_EXAM: KindRules(tickets=True, advance=Advance.NONE, writing=True, materials_allowed=False,
                                     test_quiz=False, vote_by_default=True, plagiarism=False),
    ExamKind.OPEN_BOOK: KindRules(tickets=True, advance=Advance.NONE, writing=True, materials_allowed=True,
                                  test_quiz=False, vote_by_default=True, plagiarism=False),
    # A 10-15 minute presentation slot (004 creative).
    ExamKind.CREATIVE_EXAM: KindRules(tickets=False, advance=Advance.PERFORMANCE, writing=False,
                                      materials_allowed=False, test_quiz=False, vote_by_default=True,
                                      plagiarism=False, min_answer_minutes=10, max_answer_minutes=15,
                                      timer=CREATIVE_TIMER),
    # The whole defense takes at most 15 minutes per student (003 §32-33).
    ExamKind.DEFENSE: KindRules(tickets=False, advance=Advance.THESIS, writing=False, materials_allowed=False,
                                test_quiz=False, vote_by_default=True, plagiarism=True, max_answer_minutes=15,
                                timer=DEFENSE_TIMER),
    # Scored by Moodle; the commission votes only when the session asks (004 test §2-5).
    ExamKind.TEST_EXAM: KindRules(tickets=False, advance=Advance.NONE, writing=False, materials_allowed=False,
                                  test_quiz=True, vote_by_default=False, plagiarism=False, timer=None),
}


def rules_for(kind: ExamKind | str) -> KindRules:
    return RULES[ExamKind(kind)]


def commission_votes(kind: ExamKind | str, asked: bool | None) -> bool:
    """Whether the commission votes: the session's own choice, else the kind's default."""
    return rules_for(kind).vote_by_default if asked is None else bool(asked)


def spec_votes(spec: SessionSpec) -> bool:
    return commission_votes(spec.kind, spec.commission_vote)


@dataclass(frozen=True)
class GradingWindow:
    """A written or open-book exam's grading time (001 §15: the members check the answers within 2
    hours and grade them in the system).

    It opens when the student's writing time ends (the ticket drawn + the writing minutes: the ticket
    assignment's due time) and closes ``hours`` later.  Then the student's ballot stops accepting
    responses and the vote is closed: it decides with a quorum, else the commission decides
    (``lms_bridge.domain.examday.commission_decision``).  A ballot submitted after the close is kept
    but not counted, and is an incident."""

    opens_at: datetime
    closes_at: datetime

    def phase(self, now: datetime) -> str:
        """``writing`` (the student still writes), ``grading`` or ``closed``."""
        if now < self.opens_at:
            return "writing"
        return "grading" if now < self.closes_at else "closed"

    def counts(self, submitted_at: datetime) -> bool:
        """Whether a ballot submitted at this instant counts (up to the close, inclusive)."""
        return submitted_at <= self.closes_at


def grading_window(kind: ExamKind | str, drawn_at: datetime | None, writing_minutes: int,
                   hours: int) -> GradingWindow | None:
    """The student's grading window; None for a form without writing, or before the ticket is drawn."""
    if drawn_at is None or not rules_for(kind).writing:
        return None
    opens = drawn_at + timedelta(minutes=writing_minutes)
    return GradingWindow(opens, opens + timedelta(hours=hours))
