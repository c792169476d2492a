"""Each form of the exam is provisioned with exactly the steps it needs (attestation rules, "Forms of
the exam"): the ticket draw only where tickets are drawn, the advance assignment only for a defense
or a creative exam, the test quiz only for a test exam, voting forms only where the commission votes."""

from __future__ import annotations

import pytest

from lms_bridge.config import Settings
from lms_bridge.domain.session import ExamKind
from lms_bridge.provisioning.plan import all_steps, build_plan, step_names

CLASSROOM = ("google.classroom.course", "google.classroom.roster", "google.classroom.posts")
MOODLE = ("moodle.connect", "moodle.users", "moodle.course", "moodle.enrolments")
VOTE = ("google.forms", "google.sheet", "google.watches")

TICKETS = ("core.draw_commitment", "core.timetable", *CLASSROOM, *VOTE, "google.classroom.push", *MOODLE,
           "moodle.tickets", "moodle.result_assignment")
ADVANCE = ("core.timetable", *CLASSROOM, "google.classroom.advance", *VOTE, "google.classroom.push", *MOODLE,
           "moodle.result_assignment")

EXPECTED: dict[ExamKind, tuple[str, ...]] = {
    ExamKind.ORAL_EXAM: TICKETS,
    ExamKind.WRITTEN_EXAM: TICKETS,
    ExamKind.OPEN_BOOK: TICKETS,
    ExamKind.DEFENSE: ADVANCE,
    ExamKind.CREATIVE_EXAM: ADVANCE,
    # No draw, no voting forms (the commission does not vote unless asked), no answer-sheet push.
    ExamKind.TEST_EXAM: ("core.timetable", *CLASSROOM, "google.sheet", *MOODLE, "moodle.test_quiz",
                         "moodle.result_assignment"),
}


@pytest.mark.parametrize("kind", list(ExamKind))
def test_each_kind_runs_exactly_its_steps_in_plan_order(kind: ExamKind) -> None:
    plan = build_plan(Settings(), kind)
    assert tuple(step.name for step in plan) == EXPECTED[kind]
    assert step_names(kind) == EXPECTED[kind]


def test_every_kind_is_in_the_table() -> None:
    assert set(EXPECTED) == set(ExamKind)


def test_a_test_exam_the_commission_votes_on_gets_the_voting_forms() -> None:
    names = step_names(ExamKind.TEST_EXAM, commission_vote=True)
    assert names == ("core.timetable", *CLASSROOM, *VOTE, *MOODLE, "moodle.test_quiz", "moodle.result_assignment")
    # And a kind that votes by default can be told not to.
    assert "google.forms" not in step_names(ExamKind.DEFENSE, commission_vote=False)


def test_without_a_kind_the_plan_holds_every_step_once() -> None:
    names = [step.name for step in build_plan(Settings())]
    assert names == [step.name for step in all_steps(Settings())]
    assert len(names) == len(set(names))
    every_kind = {name for kind in ExamKind for name in step_names(kind, commission_vote=True)}
    assert every_kind == set(names)


def test_the_instructions_and_ballots_speak_of_the_form_of_the_exam() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from lms_bridge.domain.session import Member, Role, SessionSpec, Student
    from lms_bridge.google.steps import form_requests, instructions_text
    from lms_bridge.i18n import use_locale

    spec = SessionSpec(code="K-1", title="T", kind=ExamKind.ORAL_EXAM, programme="", group="", language="en",
                       timezone="UTC", starts_at=datetime(2026, 6, 10, 9, tzinfo=UTC), preparation_minutes=50,
                       commission=(Member("C", "c@u.kz", Role.CHAIR), Member("S", "s@u.kz", Role.SECRETARY)),
                       students=(Student("1", "A", "a@u.kz", plagiarism="9%"),))

    def text(kind: ExamKind) -> str:
        with use_locale("en"):
            return instructions_text(replace(spec, kind=kind))

    def ballot(kind: ExamKind, **kw: object) -> str:
        with use_locale("en"):
            reqs = form_requests(replace(spec, kind=kind), spec.students[0], **kw)  # type: ignore[arg-type]
        return str(reqs[0]["updateFormInfo"]["info"]["description"])

    assert "ticket" in text(ExamKind.ORAL_EXAM)
    assert "open-book" in text(ExamKind.OPEN_BOOK)
    assert "open-book" not in text(ExamKind.WRITTEN_EXAM)
    assert "Moodle" in text(ExamKind.TEST_EXAM)
    assert "ticket" not in text(ExamKind.TEST_EXAM)
    assert "ticket" not in text(ExamKind.DEFENSE)
    assert "within 3 hours" in ballot(ExamKind.WRITTEN_EXAM, grading_hours=3)
    assert "within" not in ballot(ExamKind.ORAL_EXAM)
    assert "Plagiarism check: 9%" in ballot(ExamKind.DEFENSE, submission="https://x/s")
    assert "https://x/s" in ballot(ExamKind.DEFENSE, submission="https://x/s")
    assert "Plagiarism" not in ballot(ExamKind.CREATIVE_EXAM)
