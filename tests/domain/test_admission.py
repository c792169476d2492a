"""Admission to the draw: who may draw when, and the student's window in the ticket quiz."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lms_bridge.domain.admission import (
    AdmissionError,
    AdmissionState,
    Candidate,
    admission_state,
    check_admission,
    quiz_window,
)

DAY1, DAY2 = date(2027, 6, 10), date(2027, 6, 11)


def _c(**kw: object) -> Candidate:
    base: dict[str, object] = {"student_id": "S1", "admitted": True, "active": True, "ticket": None,
                               "sitting_date": DAY1}
    return Candidate(**{**base, **kw})  # type: ignore[arg-type]


def test_a_student_of_the_day_may_be_admitted() -> None:
    check_admission(_c(), today=DAY1)
    assert admission_state(_c(), today=DAY1) is AdmissionState.WAITING


@pytest.mark.parametrize(("candidate", "today", "sealed", "code"), [
    (_c(admitted=False), DAY1, False, "not_admitted"),
    (_c(active=False), DAY1, False, "not_admitted"),
    (_c(ticket=4), DAY1, False, "already_drawn"),
    (_c(sitting_date=DAY2), DAY1, False, "other_day"),  # day 2 students draw on day 2
    (_c(), DAY2, False, "other_day"),  # and day 1 students not the day after
    (_c(exception="no_show"), DAY1, False, "excepted"),
    (_c(sitting_date=None), DAY1, False, "no_day"),
    (_c(), DAY1, True, "sealed"),
])
def test_admission_is_refused_with_a_reason(candidate: Candidate, today: date, sealed: bool, code: str) -> None:
    with pytest.raises(AdmissionError) as refused:
        check_admission(candidate, today=today, sealed=sealed)
    assert refused.value.code == code
    assert str(refused.value)


def test_a_valid_absence_moves_the_draw_to_the_next_sitting_day() -> None:
    moved = _c(exception="absent_valid", moved_to=DAY2)
    with pytest.raises(AdmissionError):
        check_admission(moved, today=DAY1)
    check_admission(moved, today=DAY2)
    assert admission_state(moved, today=DAY1) is AdmissionState.OTHER_DAY


def test_a_technical_failure_continued_on_another_day_draws_there_and_an_ended_one_never() -> None:
    later = _c(exception="technical_failure", continuation="later", moved_to=DAY2)
    with pytest.raises(AdmissionError, match="draws on that day"):
        check_admission(later, today=DAY1)
    check_admission(later, today=DAY2)
    assert admission_state(later, today=DAY1) is AdmissionState.OTHER_DAY
    # Later the same day: the draw is still today.
    check_admission(_c(exception="technical_failure", continuation="later"), today=DAY1)
    ended = _c(exception="technical_failure", continuation="end")
    with pytest.raises(AdmissionError):
        check_admission(ended, today=DAY1)
    assert admission_state(ended, today=DAY1) is AdmissionState.EXCEPTED


def test_states_after_the_draw() -> None:
    drawn = _c(ticket=3)
    assert admission_state(drawn, today=DAY1) is AdmissionState.DRAWN
    assert admission_state(drawn, today=DAY1, moodle_open=True) is AdmissionState.OPEN
    assert admission_state(drawn, today=DAY1, moodle_failed=True) is AdmissionState.FAILED
    assert admission_state(_c(admitted=False), today=DAY1) is AdmissionState.NOT_ADMITTED
    assert admission_state(_c(exception="refused"), today=DAY1) is AdmissionState.EXCEPTED


def test_the_window_covers_the_preparation_time() -> None:
    at = datetime(2027, 6, 10, 4, 0, 30, 123, tzinfo=UTC)
    w = quiz_window(at, 60)
    assert w.opens == datetime(2027, 6, 10, 3, 59, 30, tzinfo=UTC)
    assert w.closes - at.replace(microsecond=0) == timedelta(minutes=65)
    assert w.unix() == (int(w.opens.timestamp()), int(w.closes.timestamp()))
    # A defense has no preparation: the ticket stays readable for the minimum.
    assert quiz_window(at, 0).closes - at.replace(microsecond=0) == timedelta(minutes=20)
    with pytest.raises(ValueError, match="aware"):
        quiz_window(datetime(2027, 6, 10), 60)
