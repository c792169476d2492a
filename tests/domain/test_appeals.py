"""Appeal rules: the appeal commission (003 §65), the filing window and the hearing and answer deadlines
on Kazakhstan's working-day calendar (003 §64-67), the outcome of the appeal commission's vote."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from lms_bridge.domain.appeals import (
    AppealError,
    AppealOutcomeKind,
    AppealStatus,
    CommissionIssue,
    DeadlineKind,
    appeal_commission_issues,
    appeal_outcome,
    check_hearing_day,
    judge_filing,
    local_date,
    next_deadline,
)
from lms_bridge.domain.ballots import Ballot, tally
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.session import DecisionRule, DegreeVote, Member, Role
from lms_bridge.i18n import use_locale

CHAIR = Member("Ахметов", "chair@u.kz", Role.CHAIR)
M1 = Member("Серікова", "m1@u.kz", Role.MEMBER)
M2 = Member("Қасымов", "m2@u.kz", Role.MEMBER)
SEC = Member("Әлиева", "sec@u.kz", Role.SECRETARY)


def test_an_odd_appeal_commission_of_outsiders_is_lawful() -> None:
    assert appeal_commission_issues([CHAIR, M1, M2, SEC], ["other@u.kz"], ["rector@u.kz"]) == []


def test_an_even_number_of_voters_is_refused_and_the_secretary_does_not_count() -> None:
    issues = appeal_commission_issues([CHAIR, M1, SEC], [], [])
    assert [(i.issue, i.index) for i in issues] == [(CommissionIssue.EVEN_VOTERS, None)]


def test_attestation_members_and_administrative_staff_are_refused_by_position() -> None:
    issues = appeal_commission_issues([CHAIR, M1, M2, SEC], ["M1@u.kz"], ["sec@u.kz"])
    assert [(i.issue, i.index) for i in issues] == [
        (CommissionIssue.ON_ATTESTATION_COMMISSION, 1), (CommissionIssue.ADMINISTRATIVE_STAFF, 3)]


def test_no_chair_and_two_chairs_are_refused() -> None:
    assert CommissionIssue.NO_CHAIR in {i.issue for i in appeal_commission_issues([M1, M2, SEC, M1], [], [])}
    two = appeal_commission_issues([CHAIR, Member("B", "b@u.kz", Role.CHAIR), M1], [], [])
    assert [(i.issue, i.index) for i in two] == [(CommissionIssue.EXTRA_CHAIR, 1)]


# Capital Day, Monday 6 July 2026, is a public holiday; 4-5 July are a weekend.
@pytest.mark.parametrize(("filed", "accepted"), [
    (date(2026, 7, 2), True),   # the day of publication
    (date(2026, 7, 3), True),   # Friday: the first working day
    (date(2026, 7, 6), True),   # Capital Day: not counted, still inside the window
    (date(2026, 7, 7), True),   # Tuesday: the second working day, the last of the window
    (date(2026, 7, 8), False),  # Wednesday: a day late, across the weekend and the holiday
])
def test_the_filing_window_counts_working_days_across_a_weekend_and_capital_day(filed: date, accepted: bool) -> None:
    verdict = judge_filing(date(2026, 7, 2), filed)
    assert verdict.closes == date(2026, 7, 7)
    assert verdict.accepted is accepted


def test_a_late_filing_says_why_in_the_students_language() -> None:
    verdict = judge_filing(date(2026, 7, 2), date(2026, 7, 8))
    assert verdict.reason is not None
    with use_locale("kk"):
        text = verdict.reason.text()
    assert "08.07.2026" in text
    assert "07.07.2026" in text
    assert "қаралмайды" in text
    with use_locale("en"):
        assert "It is recorded and cannot be heard." in verdict.reason.text()


def test_nauryz_moves_the_window_by_a_week() -> None:
    # Thursday 19 March 2026: Friday 20 counts, then 21-25 March are Nauryz days and the weekend.
    assert judge_filing(date(2026, 3, 19), date(2026, 3, 26)).accepted
    assert not judge_filing(date(2026, 3, 19), date(2026, 3, 27)).accepted


def test_the_filing_day_is_the_local_day_in_the_sessions_time_zone() -> None:
    # 19:30 UTC on 7 July is already 8 July in Almaty (UTC+5): a day late there.
    moment = datetime(2026, 7, 7, 19, 30, tzinfo=UTC)
    assert local_date(moment, "Asia/Almaty") == date(2026, 7, 8)
    assert not judge_filing(date(2026, 7, 2), local_date(moment, "Asia/Almaty")).accepted


def test_the_hearing_is_within_two_working_days_of_the_filing_on_a_working_day() -> None:
    filed = date(2026, 7, 3)  # Friday; Monday is Capital Day
    check_hearing_day(filed, date(2026, 7, 7))
    check_hearing_day(filed, date(2026, 7, 8))
    with pytest.raises(AppealError, match="2026-07-08"):
        check_hearing_day(filed, date(2026, 7, 9))
    with pytest.raises(AppealError, match="not a working day"):
        check_hearing_day(filed, date(2026, 7, 6))
    with pytest.raises(AppealError, match="before the appeal was filed"):
        check_hearing_day(filed, date(2026, 7, 2))


def test_the_next_deadline_and_when_it_is_overdue() -> None:
    filed = date(2026, 7, 3)
    hearing = next_deadline(AppealStatus.FILED, filed_on=filed, hearing_on=None, today=date(2026, 7, 8))
    assert hearing is not None
    assert (hearing.kind, hearing.due, hearing.overdue) == (DeadlineKind.HEARING, date(2026, 7, 8), False)
    overdue = next_deadline(AppealStatus.FILED, filed_on=filed, hearing_on=None, today=date(2026, 7, 9))
    assert overdue is not None
    assert overdue.overdue
    # Heard on Friday 10 July: answered by the next working day, Monday 13 July.
    answer = next_deadline(AppealStatus.HEARING, filed_on=filed, hearing_on=date(2026, 7, 10),
                           today=date(2026, 7, 13))
    assert answer is not None
    assert (answer.kind, answer.due, answer.overdue) == (DeadlineKind.ANSWER, date(2026, 7, 13), False)
    assert next_deadline(AppealStatus.APPLIED, filed_on=filed, hearing_on=date(2026, 7, 10),
                         today=date(2026, 7, 13)) is None
    assert next_deadline(AppealStatus.REFUSED, filed_on=filed, hearing_on=None, today=date(2026, 7, 13)) is None


def _outcome(*votes: tuple[str, str, bool]) -> AppealOutcomeKind | tuple[AppealOutcomeKind, str] | None:
    at = datetime(2026, 7, 7, 10, tzinfo=UTC)
    ballots = [Ballot(email, letter, at.replace(minute=i), degree=again)
               for i, (email, letter, again) in enumerate(votes)]
    outcome = tally(ballots, ["chair@u.kz", "m1@u.kz", "m2@u.kz"], "chair@u.kz", DecisionRule.MAJORITY,
                    GradeScale.load("kz_letter"), degree_vote=DegreeVote.OPEN)
    result = appeal_outcome(outcome, "C+")
    return None if result is None else (result.kind, result.letter)


def test_the_outcome_kept_changed_or_a_new_sitting_and_only_the_first_ballot_counts() -> None:
    assert _outcome(("chair@u.kz", "C+", False), ("m1@u.kz", "C+", False), ("m2@u.kz", "B", False)) == (
        AppealOutcomeKind.KEPT, "C+")
    assert _outcome(("chair@u.kz", "B", False), ("m1@u.kz", "B", False), ("m1@u.kz", "A", False),
                    ("m2@u.kz", "C+", False)) == (AppealOutcomeKind.CHANGED, "B")
    assert _outcome(("chair@u.kz", "C+", True), ("m1@u.kz", "C+", True), ("m2@u.kz", "C+", False)) == (
        AppealOutcomeKind.NEW_SITTING, "C+")
    assert _outcome(("chair@u.kz", "B", False)) is None  # waiting for the others


def test_a_missed_hearing_deadline_still_lets_the_appeal_be_heard_when_the_secretary_says_so() -> None:
    filed = date(2026, 7, 3)
    with pytest.raises(AppealError, match="must be held by"):
        check_hearing_day(filed, date(2026, 7, 10))
    check_hearing_day(filed, date(2026, 7, 10), overdue_ok=True)
    with pytest.raises(AppealError, match="not a working day"):
        check_hearing_day(filed, date(2026, 7, 11), overdue_ok=True)
