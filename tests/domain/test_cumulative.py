"""Postponed: the temporary I, or on the student's application the cumulative grade (003 §15, §24)."""

from __future__ import annotations

import pytest

from lms_bridge.domain.examday import ExamDayError, ExceptionKind, cumulative_points, exception_outcome
from lms_bridge.domain.grading import GradeScale

SCALE = GradeScale.load("kz_letter")


def test_postponed_without_an_application_is_the_temporary_i() -> None:
    out = exception_outcome("postponed", reason="no internet", scale=SCALE, scores=(88, 84))
    assert out.mark == "I"
    assert out.degree_award is False


@pytest.mark.parametrize(("current", "midterm", "points"), [
    (88, 84, 86.0), (76.5, 80, 78.0), (89, 90, 90.0), (49, 50, 50.0), (0, 0, 0.0), (100, 100, 100.0),
    (89.4, 89.5, 89.0),  # 89.45 rounds half up to whole points: 89
])
def test_the_cumulative_grade_is_the_mean_of_the_control_scores_rounded_half_up(
        current: float, midterm: float, points: float) -> None:
    assert cumulative_points(current, midterm) == points
    out = exception_outcome(ExceptionKind.CUMULATIVE, reason="application", scale=SCALE, scores=(current, midterm))
    assert out.points == points
    assert out.mark == SCALE.band_for_points(points).letter
    assert out.degree_award is False


def test_the_cumulative_grade_needs_both_scores_and_a_reason() -> None:
    with pytest.raises(ExamDayError, match="control scores"):
        exception_outcome("cumulative", reason="application", scale=SCALE, scores=(88, None))
    with pytest.raises(ExamDayError, match="reason"):
        exception_outcome("cumulative", reason=" ", scale=SCALE, scores=(88, 84))


def test_a_low_cumulative_grade_fails() -> None:
    out = exception_outcome("cumulative", reason="application", scale=SCALE, scores=(20, 30))
    assert not SCALE.band(out.mark or "").passed
