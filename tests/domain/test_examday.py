"""Exceptions of the exam day, the commission's decision, release and closing the day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lms_bridge.domain.ballots import Ballot, OutcomeStatus, tally
from lms_bridge.domain.examday import (
    Continuation,
    ExamDayError,
    ExceptionKind,
    StudentDayState,
    commission_decision,
    day_blockers,
    degree_award,
    exception_outcome,
    may_release,
    may_seal,
    next_sitting_day,
)
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.timetable import plan_timetable

SCALE = GradeScale.load("kz_letter")
DAYS = [date(2026, 6, 10), date(2026, 6, 11), date(2026, 6, 15)]
CHAIR = "chair@uni.kz"
VOTERS = [CHAIR, "m1@uni.kz", "m2@uni.kz", "m3@uni.kz"]
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def outcome(*letters: tuple[str, str], closed: bool = True):
    ballots = [Ballot(e, x, T0 + timedelta(minutes=i)) for i, (e, x) in enumerate(letters)]
    return tally(ballots, VOTERS, CHAIR, "majority", SCALE, closed_by_secretary=closed)


def test_absent_with_a_valid_reason_moves_to_the_commissions_next_sitting_day():
    # Two sitting days: 2026-06-10 (Wednesday) and 2026-06-11.
    table = plan_timetable([f"s{i}" for i in range(30)], datetime(2026, 6, 10, 4, 0, tzinfo=UTC), "Asia/Almaty",
                           preparation_minutes=60, answer_minutes=15)
    assert [d.date for d in table.days] == DAYS[:2]
    assert next_sitting_day(table, "s0") == DAYS[1]
    # The last day's student goes to the next working day: Friday 12 June, not the weekend.
    assert next_sitting_day(table, "s29") == date(2026, 6, 12)
    out = exception_outcome("absent_valid", reason="illness, certificate attached", scale=SCALE,
                            next_day=next_sitting_day(table, "s0"), chair_consent=True)
    assert out.moved_to == DAYS[1]
    assert out.mark is None
    assert out.degree_award is False


def test_absent_with_a_valid_reason_needs_the_chairs_permission_and_a_later_day():
    with pytest.raises(ExamDayError):
        exception_outcome("absent_valid", reason="illness", scale=SCALE, next_day=DAYS[1],
                          chair_consent=False)
    with pytest.raises(ExamDayError):
        exception_outcome("absent_valid", reason="illness", scale=SCALE, next_day=None, chair_consent=True)


def test_did_not_appear_has_no_grade():
    out = exception_outcome(ExceptionKind.NO_SHOW, reason="no contact, no application", scale=SCALE)
    assert out.mark is None
    assert out.moved_to is None


def test_refusal_to_answer_is_recorded_as_F():
    assert exception_outcome("refused", reason="said he would not answer", scale=SCALE).mark == "F"


def test_stopped_for_a_breach_is_F():
    assert exception_outcome("breach", reason="a second person in the room", scale=SCALE).mark == "F"


def test_technical_failure_needs_the_commissions_choice_and_an_act():
    with pytest.raises(ExamDayError):
        exception_outcome("technical_failure", reason="connection lost", scale=SCALE)
    out = exception_outcome("technical_failure", reason="connection lost", scale=SCALE,
                            continuation="later")
    assert out.continuation is Continuation.LATER
    assert out.needs_act
    assert out.mark is None


def test_postponed_carries_the_temporary_grade_I():
    out = exception_outcome("postponed", reason="no internet in the village", scale=SCALE)
    assert out.mark == "I"
    assert SCALE.status(out.mark) is not None


@pytest.mark.parametrize("kind", list(ExceptionKind))
def test_every_exception_needs_a_reason(kind):
    with pytest.raises(ExamDayError):
        exception_outcome(kind, reason="  ", scale=SCALE, next_day=DAYS[1], chair_consent=True,
                          continuation="end")


@pytest.mark.parametrize("letter", ["FX", "F"])
def test_a_failing_letter_never_carries_the_degree(letter):
    assert degree_award(letter, True, SCALE) is False


def test_a_passing_letter_keeps_the_degree_vote():
    assert degree_award("B", True, SCALE) is True
    assert degree_award("D", False, SCALE) is False
    assert degree_award("A", None, SCALE) is None


def test_a_tie_the_chair_did_not_break_is_decided_by_the_commission_between_the_tied_letters():
    tie = outcome(("m1@uni.kz", "B"), ("m2@uni.kz", "B"), ("m3@uni.kz", "C"), (CHAIR, "C"))
    assert tie.status is OutcomeStatus.DECIDED  # the chair broke it
    tie = outcome(("m1@uni.kz", "B"), ("m2@uni.kz", "C"), ("m3@uni.kz", "D"))  # the chair did not vote
    assert tie.status is OutcomeStatus.TIE
    decided = commission_decision(tie, "B", "discussed: answer to question 2 was complete", SCALE)
    assert (decided.letter, decided.points, decided.vote_status) == ("B", SCALE.band("B").points, OutcomeStatus.TIE)
    with pytest.raises(ExamDayError):
        commission_decision(tie, "A", "discussed", SCALE)  # not one of the tied letters
    with pytest.raises(ExamDayError):
        commission_decision(tie, "B", "", SCALE)  # never silently


def test_no_quorum_may_be_decided_by_the_commission_but_a_decided_vote_may_not():
    short = outcome(("m1@uni.kz", "B"))
    assert short.status is OutcomeStatus.NO_QUORUM
    assert commission_decision(short, "C", "two members lost connection", SCALE).letter == "C"
    decided = outcome(("m1@uni.kz", "B"), ("m2@uni.kz", "B"), (CHAIR, "B"))
    with pytest.raises(ExamDayError):
        commission_decision(decided, "A", "the chair prefers A", SCALE)


def test_the_day_closes_when_everyone_admitted_has_a_decision_or_an_exception():
    students = [StudentDayState("1", "Amanov", True, True),
                StudentDayState("2", "Bekova", True, False, ExceptionKind.ABSENT_VALID),
                StudentDayState("3", "Ivanov", False, False),
                StudentDayState("4", "Sadykov", True, False)]
    assert day_blockers(students) == ["Sadykov"]
    with pytest.raises(ExamDayError):
        may_release(students, already_released=False)
    done = students[:3]
    may_release(done, already_released=False)
    with pytest.raises(ExamDayError):
        may_release(done, already_released=True)
    with pytest.raises(ExamDayError):
        may_seal(done, released=False)
    may_seal(done, released=True)
