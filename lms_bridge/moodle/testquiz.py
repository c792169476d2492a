"""The test exam's Moodle quiz (004 test §2-9): random questions from the session's bank, a mark per
question, a time limit, one attempt, closed to everyone until the secretary admits a student.

Moodle 4.5 has no web-service function that creates a quiz or a question (moodle-ws.md §3), so the
quiz, its question category, the bank's multiple-choice questions and the random slots are made by
the companion plugin (``local_lmsbridge_setup_test_quiz``, idempotent by the quiz's course-module
idnumber and each question's bank idnumber).  Admission and a reconnection are core user overrides
(``mod_quiz_save_overrides``): the quiz stays closed for everyone else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lms_bridge.domain.session import TestQuestion
from lms_bridge.moodle.operations import MoodleOps

TEST_QUIZ_IDNUMBER = "lmsbridge-test"


def question_idnumber(question: TestQuestion) -> str:
    """A bank idnumber that changes when the question does: a changed question is a new one."""
    digest = hashlib.sha256(repr((question.text, question.answers, question.correct)).encode()).hexdigest()
    return f"test-{digest[:16]}"


@dataclass(frozen=True)
class QuizShape:
    name: str
    intro: str
    questions: int  # random slots
    mark: int  # per question
    timelimit: int  # seconds
    attempts: int


def setup_test_quiz(ops: MoodleOps, courseid: int, bank: Sequence[TestQuestion], shape: QuizShape,
                    ) -> dict[str, Any]:
    """Quiz, category, questions and random slots in one idempotent call; the quiz closed to all.

    :calls: local_lmsbridge_setup_test_quiz
    """
    return dict(ops.client.call("local_lmsbridge_setup_test_quiz", {
        "courseid": courseid, "quizidnumber": TEST_QUIZ_IDNUMBER, "quizname": shape.name, "intro": shape.intro,
        "timelimit": shape.timelimit, "attempts": shape.attempts, "questioncount": shape.questions,
        "mark": shape.mark,
        "questions": [{"idnumber": question_idnumber(q), "name": q.name or f"Q{i}", "text": q.text,
                       "answers": [{"text": a, "correct": j == q.correct} for j, a in enumerate(q.answers)]}
                      for i, q in enumerate(bank, start=1)]}))


def user_override(ops: MoodleOps, quizid: int, userid: int) -> dict[str, Any] | None:
    """:calls: mod_quiz_get_overrides"""
    data = ops.client.call("mod_quiz_get_overrides", {"quizid": quizid}) or {}
    return next((o for o in data.get("overrides", []) if o.get("userid") == userid), None)


def open_for(ops: MoodleOps, quizid: int, userid: int, *, timeopen: int, timeclose: int, timelimit: int,
             attempts: int) -> int:
    """Open the closed quiz for one admitted student: a user override from ``timeopen`` to ``timeclose``.

    Saved again (same override id) when the student already has one, so admitting twice is harmless.

    :calls: mod_quiz_get_overrides, mod_quiz_save_overrides
    """
    mine = user_override(ops, quizid, userid)
    override: dict[str, Any] = {"userid": userid, "timeopen": timeopen, "timeclose": timeclose,
                                "timelimit": timelimit, "attempts": attempts}
    if mine is not None:
        override["id"] = int(mine["id"])
    out = ops.client.call("mod_quiz_save_overrides", {"data": {"quizid": quizid, "overrides": [override]}})
    return int(out["ids"][0])


def finished_score(attempts: Sequence[dict[str, Any]]) -> tuple[str, float | None]:
    """The state of the student's last attempt and, once finished, its points (``sumgrades``: the sum
    of the slots' marks, i.e. exam points when each slot carries its mark)."""
    if not attempts:
        return "", None
    last = max(attempts, key=lambda a: int(a.get("attempt", 0)))
    state = str(last.get("state", ""))
    if state == "finished" and last.get("sumgrades") is not None:
        return state, float(last["sumgrades"])
    return state, None
