"""Test exams in an LMS (R-GRADE-2, R-TIME-3; 004 test §2-5).

Final score = admission rating (up to 60) + exam score (up to 40: 20 questions × 2 points).
An exam score below the threshold (26 of 40) fails the student ("2", F) whatever the total.
These numbers are one university's practice, so they are settings with those values as defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lms_bridge.domain.grading import GradeBand, GradeScale
from lms_bridge.i18n import gettext as _


class TestExamError(ValueError):
    """A test-exam setting or score is out of range; the message names the field.

    Scores come from users and their messages are translated; settings are configuration and, like
    ``ConfigError``, reported in English.
    """

    __test__ = False  # not a pytest test class


@dataclass(frozen=True)
class TestExamSettings:
    __test__ = False

    questions: int = 20
    points_per_question: int = 2
    admission_max: int = 60
    pass_threshold: int = 26  # minimum exam points; below it the final grade is a fail
    fail_letter: str = "F"
    minutes: int = 40

    @property
    def exam_max(self) -> int:
        return self.questions * self.points_per_question

    @property
    def total_max(self) -> int:
        return self.admission_max + self.exam_max

    def validate(self, scale: GradeScale | None = None) -> None:
        for name in ("questions", "points_per_question", "admission_max", "pass_threshold", "minutes"):
            value = getattr(self, name)
            if not _is_int(value) or value < 0:
                raise TestExamError(f"test exam setting {name!r} must be a whole number ≥ 0, not {value!r}")
        if self.questions == 0 or self.points_per_question == 0:
            raise TestExamError("test exam settings 'questions' and 'points_per_question' must be above 0")
        if self.pass_threshold > self.exam_max:
            raise TestExamError(
                f"test exam setting 'pass_threshold' {self.pass_threshold} is above the exam maximum "
                f"{self.exam_max}")
        if scale is not None:
            if self.total_max != scale.max_points:
                raise TestExamError(
                    f"admission_max + questions × points_per_question = {self.total_max}, but the scale "
                    f"{scale.name!r} runs to {scale.max_points}")
            if scale.band(self.fail_letter).passed:
                raise TestExamError(
                    f"test exam setting 'fail_letter' {self.fail_letter!r} is a passing grade")


@dataclass(frozen=True)
class TestExamResult:
    __test__ = False

    admission_rating: float
    exam_points: float
    total: float
    auto_failed: bool  # exam below the threshold: failed whatever the total
    band: GradeBand

    @property
    def letter(self) -> str:
        return self.band.letter

    @property
    def mark(self) -> int:
        return self.band.mark

    @property
    def passed(self) -> bool:
        return self.band.passed


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object, field_name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TestExamError(_("%(field)s must be a number, not %(value)s",
                              field=field_name, value=repr(value)))
    return float(value)


def score_test_exam(
    admission_rating: float,
    scale: GradeScale,
    *,
    correct_answers: int | None = None,
    exam_points: float | None = None,
    settings: TestExamSettings | None = None,
) -> TestExamResult:
    """The final grade of a test exam from the admission rating and either the number of correct
    answers or the exam points (e.g. Moodle's attempt score already in points)."""
    settings = settings or TestExamSettings()
    settings.validate(scale)
    rating = _number(admission_rating, _("admission rating"))
    if not 0 <= rating <= settings.admission_max:
        raise TestExamError(_("admission rating %(value)s is outside 0–%(max)s",
                              value=f"{rating:g}", max=settings.admission_max))
    if (correct_answers is None) == (exam_points is None):
        raise TestExamError(_("give either the number of correct answers or the exam points, not both"))
    if correct_answers is not None:
        if not _is_int(correct_answers) or not 0 <= correct_answers <= settings.questions:
            raise TestExamError(_("correct answers must be a whole number from 0 to %(max)s, not %(value)s",
                                  max=settings.questions, value=repr(correct_answers)))
        exam = float(correct_answers * settings.points_per_question)
    else:
        exam = _number(exam_points, _("exam points"))
        if not 0 <= exam <= settings.exam_max:
            raise TestExamError(_("exam points %(value)s are outside 0–%(max)s",
                                  value=f"{exam:g}", max=settings.exam_max))
    total = rating + exam
    auto_failed = exam < settings.pass_threshold
    band = scale.band(settings.fail_letter) if auto_failed else scale.band_for_points(total)
    return TestExamResult(admission_rating=rating, exam_points=exam, total=total, auto_failed=auto_failed,
                          band=band)
