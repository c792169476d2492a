"""The sitting board's rules: stages, the secretary's actions, timers, the queue and overruns."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from lms_bridge.domain.examday import Continuation, ExceptionKind
from lms_bridge.domain.sitting import (
    Action,
    BoardError,
    Stage,
    StudentFacts,
    answer_timer,
    board_day,
    check_action,
    extra_slots,
    next_to_answer,
    overrun_minutes,
    quiz_state,
    slot_plan,
    stage_of,
    votes,
)

T0 = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)


def m(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


BASE = StudentFacts(ref="s1", name="Айша")


def test_each_fact_moves_the_student_one_stage_on_and_says_since_when():
    steps = [
        ({}, Stage.EXPECTED, None),
        ({"identified_at": m(-30)}, Stage.IDENTIFIED, m(-30)),
        ({"admitted_at": m(-1)}, Stage.ADMITTED, m(-1)),
        ({"ticket_drawn_at": m(0)}, Stage.DRAWN, m(0)),
        ({"ticket_confirmed_at": m(1)}, Stage.PREPARING, m(1)),
        ({"files": 2, "uploaded_at": m(40)}, Stage.UPLOADED, m(40)),
        ({"answer_started_at": m(45)}, Stage.ANSWERING, m(45)),
        ({"answer_ended_at": m(60)}, Stage.ANSWERED, m(60)),
        ({"ballots": 1, "first_ballot_at": m(61)}, Stage.VOTING, m(61)),
        ({"decided_at": m(65)}, Stage.DECIDED, m(65)),
    ]
    facts = BASE
    for change, stage, since in steps:
        facts = replace(facts, **change)
        assert stage_of(facts, m(70)) == (stage, since)


def test_a_final_exception_stops_the_student_and_a_decision_outranks_it():
    facts = replace(BASE, identified_at=m(-30), ticket_drawn_at=m(0), exception=ExceptionKind.REFUSED,
                    exception_at=m(20))
    assert stage_of(facts, m(30)) == (Stage.EXCEPTION, m(20))
    with pytest.raises(BoardError):
        check_action(Action.START_ANSWER, replace(facts, files=1), [], m(30))
    assert stage_of(replace(facts, decided_at=m(40)), m(50))[0] is Stage.DECIDED


def test_after_a_technical_failure_continued_later_the_student_answers_again():
    facts = replace(BASE, identified_at=m(-30), ticket_drawn_at=m(0), files=1, answer_started_at=m(45),
                    exception=ExceptionKind.TECHNICAL_FAILURE, exception_at=m(50),
                    continuation=Continuation.LATER)
    # The first answer, cut by the failure, does not count any more.
    assert stage_of(facts, m(55))[0] is Stage.EXCEPTION
    check_action(Action.START_ANSWER, facts, [], m(90))
    again = replace(facts, answer_started_at=m(90))
    assert stage_of(again, m(91)) == (Stage.ANSWERING, m(90))
    # Ended, the commission's decision to end is final: nothing more on the board.
    ended = replace(facts, continuation=Continuation.END)
    with pytest.raises(BoardError, match="exception"):
        check_action(Action.START_ANSWER, ended, [], m(90))


def test_on_the_day_a_technical_failure_continues_the_student_is_identified_again_and_keeps_the_ticket():
    facts = replace(BASE, identified_at=m(-30), ticket_drawn_at=m(0), ticket_confirmed_at=m(1), files=1,
                    answer_started_at=m(45), exception=ExceptionKind.TECHNICAL_FAILURE, exception_at=m(50),
                    continuation=Continuation.LATER, moved_to=date(2026, 6, 2))
    next_day = m(24 * 60)
    assert stage_of(facts, next_day)[0] is Stage.EXCEPTION
    # Identified on the first day only: the new day asks for the ID again (R-ID-1).
    with pytest.raises(BoardError, match="Identify"):
        check_action(Action.START_ANSWER, facts, [], next_day)
    check_action(Action.IDENTIFY, facts, [], next_day)
    there = replace(facts, identified_at=next_day)
    # The ticket drawn before the failure stays the student's: no second draw.
    assert stage_of(there, next_day)[0] is Stage.UPLOADED
    with pytest.raises(BoardError, match="already admitted"):
        check_action(Action.ADMIT, there, [], next_day)
    check_action(Action.START_ANSWER, there, [], next_day)


def test_the_answer_needs_identification_a_ticket_and_answer_sheets():
    facts = replace(BASE, ticket_drawn_at=m(0), files=1)
    with pytest.raises(BoardError, match="Identify"):
        check_action(Action.START_ANSWER, facts, [], m(45))
    facts = replace(facts, identified_at=m(-30), files=0)
    with pytest.raises(BoardError, match="behalf"):
        check_action(Action.START_ANSWER, facts, [], m(45))
    facts = replace(facts, ticket_drawn_at=None, files=1)
    with pytest.raises(BoardError, match="ticket"):
        check_action(Action.START_ANSWER, facts, [], m(45))
    check_action(Action.START_ANSWER, replace(facts, ticket_drawn_at=m(0)), [], m(45))


def test_without_a_draw_there_is_no_ticket_to_receive_and_the_answer_waits_for_none():
    """A defense, a creative exam, a test exam (lms_bridge.domain.kinds): no ticket, no preparation's sheets."""
    facts = replace(BASE, identified_at=m(-30))
    with pytest.raises(BoardError, match="ticket"):
        check_action(Action.START_ANSWER, facts, [], m(45))
    check_action(Action.START_ANSWER, facts, [], m(45), draw=False)
    with pytest.raises(BoardError, match="no tickets and no draw"):
        check_action(Action.CONFIRM_RECEIPT, replace(facts, ticket_drawn_at=m(0)), [], m(45), draw=False)
    with pytest.raises(BoardError, match="Identify"):
        check_action(Action.START_ANSWER, BASE, [], m(45), draw=False)


def test_one_student_answers_at_a_time_and_only_once():
    ready = replace(BASE, identified_at=m(-30), ticket_drawn_at=m(0), files=1)
    other = replace(ready, ref="s2", name="Бауыржан", answer_started_at=m(45))
    with pytest.raises(BoardError, match="Бауыржан"):
        check_action(Action.START_ANSWER, ready, [ready, other], m(50))
    check_action(Action.START_ANSWER, ready, [ready, replace(other, answer_ended_at=m(60))], m(61))
    answered = replace(ready, answer_started_at=m(45), answer_ended_at=m(60))
    with pytest.raises(BoardError, match="already answered"):
        check_action(Action.START_ANSWER, answered, [], m(61))
    with pytest.raises(BoardError, match="not answering"):
        check_action(Action.FINISH_ANSWER, answered, [], m(61))
    check_action(Action.FINISH_ANSWER, replace(ready, answer_started_at=m(45)), [], m(50))


def test_identification_and_receipt_happen_once():
    with pytest.raises(BoardError, match="already identified"):
        check_action(Action.IDENTIFY, replace(BASE, identified_at=m(-30)), [], m(0))
    with pytest.raises(BoardError, match="not drawn"):
        check_action(Action.CONFIRM_RECEIPT, BASE, [], m(0))
    with pytest.raises(BoardError, match="already confirmed"):
        check_action(Action.CONFIRM_RECEIPT, replace(BASE, ticket_drawn_at=m(0), ticket_confirmed_at=m(1)), [],
                     m(2))
    with pytest.raises(BoardError, match="decision"):
        check_action(Action.IDENTIFY, replace(BASE, decided_at=m(0)), [], m(1))


def test_the_answer_timer_gives_ten_minutes_of_answer_then_five_of_questions():
    assert answer_timer(m(0), m(9), slot_minutes=15).phase == "answer"
    t = answer_timer(m(0), m(10), slot_minutes=15)
    assert (t.phase, t.answer_ends_at, t.questions_end_at) == ("questions", m(10), m(15))
    over = answer_timer(m(0), m(17), slot_minutes=15)
    assert (over.phase, over.overrun_seconds) == ("over", 120)
    # A short slot keeps half of it for the answer.
    assert answer_timer(m(0), m(0), slot_minutes=6).answer_ends_at == m(3)


def test_each_form_of_the_exam_has_its_own_answer_clock():
    """003 §32-33: a defense's talk takes 7-10 minutes, the whole defense at most 15; 004 creative: a
    10-15 minute presentation; 004 oral: 10 of answer and 5 of questions; a test exam: no oral answer."""
    from lms_bridge.domain.kinds import RULES
    from lms_bridge.domain.session import ExamKind

    clock = {kind: r.timer for kind, r in RULES.items()}
    assert clock[ExamKind.TEST_EXAM] is None
    for kind in (ExamKind.ORAL_EXAM, ExamKind.WRITTEN_EXAM, ExamKind.OPEN_BOOK):
        t = answer_timer(m(0), m(1), slot_minutes=15, timer=clock[kind])
        assert (t.label, t.answer_ends_at, t.questions_end_at, t.may_end_at) == ("answer", m(10), m(15), None)
    defense = clock[ExamKind.DEFENSE]
    t = answer_timer(m(0), m(1), slot_minutes=15, timer=defense)
    assert (t.label, t.may_end_at, t.answer_ends_at, t.questions_end_at) == ("talk", m(7), m(10), m(15))
    assert answer_timer(m(0), m(11), slot_minutes=15, timer=defense).phase == "questions"
    # Never more than 15 minutes per student, whatever the session says.
    assert answer_timer(m(0), m(1), slot_minutes=30, timer=defense).questions_end_at == m(15)
    assert slot_plan(defense, 30) == (10, 15)
    # A 12-minute slot: the talk still ends at 10, two minutes of questions.
    assert slot_plan(defense, 12) == (10, 12)
    creative = clock[ExamKind.CREATIVE_EXAM]
    t = answer_timer(m(0), m(1), slot_minutes=15, timer=creative)
    assert (t.label, t.may_end_at, t.answer_ends_at, t.questions_end_at) == ("presentation", m(10), m(15), m(15))
    assert slot_plan(creative, 20) == (15, 15)
    assert answer_timer(m(0), m(16), slot_minutes=15, timer=creative).overrun_seconds == 60


def test_a_test_exam_has_no_oral_answer_on_the_board():
    ready = replace(BASE, identified_at=m(-30), admitted_at=m(-20))
    for action in (Action.START_ANSWER, Action.FINISH_ANSWER):
        with pytest.raises(BoardError, match="Moodle quiz"):
            check_action(action, ready, [], m(0), draw=False, oral=False)
    check_action(Action.START_ANSWER, ready, [], m(0), draw=False)


def test_a_test_exams_board_shows_the_quiz_state():
    def q(**kw):
        base = {"admitted_at": None, "attempt_state": "", "attempt_started_at": None, "attempt_ends_at": None,
                "score": None, "now": m(15), "limit_minutes": 40, "exam_max": 40}
        return quiz_state(**{**base, **kw})

    assert q().phase == "waiting"
    assert q(admitted_at=m(0)).phase == "admitted"
    running = q(admitted_at=m(0), attempt_state="inprogress", attempt_started_at=m(5))
    assert (running.phase, running.ends_at, running.seconds_left) == ("running", m(45), 30 * 60)
    # A reconnection moves the end (the override's time limit).
    assert q(admitted_at=m(0), attempt_state="inprogress", attempt_started_at=m(5),
             attempt_ends_at=m(70)).seconds_left == 55 * 60
    assert q(attempt_state="inprogress", attempt_started_at=m(5), now=m(50)).seconds_left == 0
    assert q(admitted_at=m(0), attempt_state="finished", attempt_started_at=m(5)).phase == "submitted"
    scored = q(admitted_at=m(0), attempt_state="finished", score=32.0)
    assert (scored.phase, scored.score, scored.of) == ("scored", 32.0, 40)


def test_the_next_student_is_the_first_in_order_still_to_answer():
    done = replace(BASE, ref="a", decided_at=m(20))
    away = replace(BASE, ref="b", exception=ExceptionKind.NO_SHOW, exception_at=m(0))
    now = replace(BASE, ref="c", answer_started_at=m(30))
    nxt = replace(BASE, ref="d")
    assert next_to_answer([done, away, now, nxt], m(31)) == nxt
    assert next_to_answer([done, away], m(31)) is None


def test_overruns_count_against_the_timetables_slot():
    assert overrun_minutes(m(15), None, None, m(40)) == 0
    assert overrun_minutes(m(15), m(14), m(0), m(40)) == 0
    assert overrun_minutes(m(15), m(22), m(5), m(40)) == 7
    assert overrun_minutes(m(15), None, m(5), m(19)) == 4  # still answering


def test_votes_k_of_n_name_who_has_not_voted():
    v = votes([("a@u.kz", "A"), ("b@u.kz", "B"), ("c@u.kz", "C")], {"b@u.kz"})
    assert (v.cast, v.of, v.missing) == (1, 3, ("A", "C"))


def test_new_slots_follow_the_day_and_the_board_opens_on_today():
    assert extra_slots(m(100), 2, 15) == [(m(100), m(115)), (m(115), m(130))]
    days = [date(2026, 6, 10), date(2026, 6, 11)]
    assert board_day(days, date(2026, 6, 11)) == date(2026, 6, 11)
    assert board_day(days, date(2026, 6, 1)) == date(2026, 6, 10)
    assert board_day(days, date(2026, 7, 1)) == date(2026, 6, 11)


def test_admission_to_the_draw_follows_identification_once():
    with pytest.raises(BoardError, match="Identify"):
        check_action(Action.ADMIT, BASE, [], m(0))
    check_action(Action.ADMIT, replace(BASE, identified_at=m(-30)), [], m(0))
    with pytest.raises(BoardError, match="already admitted"):
        check_action(Action.ADMIT, replace(BASE, identified_at=m(-30), admitted_at=m(0)), [], m(1))
    with pytest.raises(BoardError, match="already admitted"):
        check_action(Action.ADMIT, replace(BASE, identified_at=m(-30), ticket_drawn_at=m(0)), [], m(1))
