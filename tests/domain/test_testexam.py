from __future__ import annotations

import pytest

from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.testexam import TestExamError, TestExamSettings, score_test_exam

SCALE = GradeScale.load("kz_letter")


def test_defaults_are_twenty_questions_of_two_points_on_a_hundred_point_scale():
    s = TestExamSettings()
    got = (s.questions, s.points_per_question, s.exam_max, s.admission_max, s.total_max)
    assert got == (20, 2, 40, 60, 100)
    assert s.pass_threshold == 26


def test_total_is_rating_plus_exam():
    r = score_test_exam(55, SCALE, correct_answers=18)
    assert (r.exam_points, r.total, r.letter, r.auto_failed) == (36, 91, "A-", False)
    assert r.mark == 5
    assert r.passed


def test_exam_below_threshold_fails_whatever_the_total():
    r = score_test_exam(60, SCALE, correct_answers=12)  # 60 + 24 = 84 would be a B
    assert r.total == 84
    assert r.auto_failed
    assert r.letter == "F"
    assert r.mark == 2
    assert not r.passed


def test_threshold_itself_passes():
    r = score_test_exam(30, SCALE, exam_points=26)
    assert not r.auto_failed
    assert r.letter == "D+"


def test_passing_exam_with_low_rating_can_still_fail_on_the_scale():
    r = score_test_exam(10, SCALE, exam_points=30)
    assert not r.auto_failed
    assert r.letter == "FX"


def test_thresholds_are_settings():
    lenient = TestExamSettings(pass_threshold=20)
    assert score_test_exam(60, SCALE, correct_answers=12, settings=lenient).letter == "B"
    s = TestExamSettings(questions=25, points_per_question=2, admission_max=50, pass_threshold=30)
    assert score_test_exam(50, SCALE, correct_answers=14, settings=s).letter == "F"  # 28 < 30
    assert score_test_exam(50, SCALE, correct_answers=15, settings=s).letter == "B"  # 30 + 50
    assert score_test_exam(50, SCALE, correct_answers=25, settings=s).letter == "A"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"admission_rating": 61, "correct_answers": 10}, "admission rating 61 is outside 0–60"),
    ({"admission_rating": -1, "correct_answers": 10}, "admission rating"),
    ({"admission_rating": 50, "correct_answers": 21}, "correct answers must be a whole number from 0 to 20"),
    ({"admission_rating": 50, "correct_answers": 2.5}, "correct answers"),
    ({"admission_rating": 50, "exam_points": 41}, "exam points 41 are outside 0–40"),
    ({"admission_rating": 50}, "either the number of correct answers or the exam points"),
    ({"admission_rating": 50, "correct_answers": 10, "exam_points": 20}, "not both"),
    ({"admission_rating": "fifty", "correct_answers": 10}, "admission rating must be a number"),
])
def test_bad_inputs_are_refused_with_the_field_named(kwargs, message):
    rating = kwargs.pop("admission_rating")
    with pytest.raises(TestExamError, match=message):
        score_test_exam(rating, SCALE, **kwargs)


def test_settings_that_do_not_add_up_to_the_scale_are_refused():
    with pytest.raises(TestExamError, match="= 90, but the scale 'kz_letter' runs to 100"):
        score_test_exam(50, SCALE, correct_answers=10, settings=TestExamSettings(admission_max=50))
    with pytest.raises(TestExamError, match="'pass_threshold' 41 is above the exam maximum 40"):
        score_test_exam(50, SCALE, correct_answers=10, settings=TestExamSettings(pass_threshold=41))
    with pytest.raises(TestExamError, match="'fail_letter' 'C' is a passing grade"):
        score_test_exam(50, SCALE, correct_answers=10, settings=TestExamSettings(fail_letter="C"))
