from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lms_bridge.domain.ballots import (
    Ballot,
    BallotError,
    BallotStatus,
    OutcomeStatus,
    outcome_summary,
    quorum_size,
    tally,
)
from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.session import DecisionRule, DegreeVote
from lms_bridge.i18n import use_locale

SCALE = GradeScale.load("kz_letter")
CHAIR = "chair@uni.kz"
VOTERS = [CHAIR, "m1@uni.kz", "m2@uni.kz", "m3@uni.kz"]
SECRETARY = "secretary@uni.kz"
T0 = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def b(email: str, letter: str, minute: int = 0, degree: bool | None = None) -> Ballot:
    return Ballot(email, letter, T0 + timedelta(minutes=minute), degree)


def run(ballots, rule="majority", **kw):
    kw.setdefault("secretary_email", SECRETARY)
    return tally(ballots, VOTERS, CHAIR, rule, SCALE, **kw)


def test_quorum_is_the_ceiling_of_the_share():
    assert quorum_size(4, 2, 3) == 3  # 8/3 = 2.67 -> 3
    assert quorum_size(3, 2, 3) == 2  # exactly 2, no float rounding up to 3
    assert quorum_size(5, 1, 2) == 3
    with pytest.raises(BallotError):
        quorum_size(4, 3, 2)


def test_tie_broken_by_the_chair():
    out = run([b(CHAIR, "B"), b("m1@uni.kz", "A", 1), b("m2@uni.kz", "A", 2), b("m3@uni.kz", "B", 3)])
    assert out.status is OutcomeStatus.DECIDED
    assert out.letter == "B"  # the chair's letter, not the higher one
    assert out.gpa == 3.0
    assert "chair" in out.reason.text()


def test_tie_without_the_chair_on_a_tied_letter_is_no_decision():
    voters = [CHAIR, "m1@uni.kz", "m2@uni.kz", "m3@uni.kz", "m4@uni.kz"]
    out = tally([b(CHAIR, "C"), b("m1@uni.kz", "A"), b("m2@uni.kz", "A"), b("m3@uni.kz", "B"),
                 b("m4@uni.kz", "B")], voters, CHAIR, "majority", SCALE)
    assert out.status is OutcomeStatus.TIE
    assert out.letter is None
    assert out.reason.text() == "tie between A, B and the chair voted for none of them"


def test_tie_when_the_chair_did_not_vote():
    out = run([b("m1@uni.kz", "A"), b("m2@uni.kz", "B", 1), b("m3@uni.kz", "C", 2)],
              closed_by_secretary=True)
    assert out.status is OutcomeStatus.TIE
    assert "the chair did not vote" in out.reason.text()


def test_a_second_ballot_is_ignored():
    out = run([b(CHAIR, "A"), b("m1@uni.kz", "B", 1), b("m1@uni.kz", "A", 5), b("m2@uni.kz", "B", 2),
               b("m3@uni.kz", "A", 3)])
    # Counting the second ballot of m1 would make it A 3 : B 1.
    assert dict(out.letter_counts) == {"A": 2, "B": 2}
    assert out.letter == "A"  # chair breaks the 2:2 tie
    dup = [r for r in out.flagged if r.status is BallotStatus.DUPLICATE]
    assert len(dup) == 1
    assert dup[0].ballot.letter == "A"
    assert dup[0].ballot.member_email == "m1@uni.kz"
    assert dict(out.per_member)["m1@uni.kz"] == "B"


def test_the_first_ballot_counts_by_submission_time_not_by_arrival_order():
    out = run([b("m1@uni.kz", "A", 9), b("m1@uni.kz", "C", 1), b(CHAIR, "C"), b("m2@uni.kz", "C"),
               b("m3@uni.kz", "C")], rule="mean")
    assert dict(out.per_member)["m1@uni.kz"] == "C"
    assert out.letter == "C"


def test_an_invalid_ballot_does_not_use_up_the_members_vote():
    out = run([b(CHAIR, "A"), b("m1@uni.kz", "Z", 0), b("m1@uni.kz", "a-", 1), b("m2@uni.kz", "A", 2),
               b("m3@uni.kz", "A", 3)])
    assert dict(out.per_member)["m1@uni.kz"] == "A-"
    assert [r.status for r in out.flagged] == [BallotStatus.INVALID]


def test_no_decision_without_quorum():
    ballots = [b(CHAIR, "A"), b("m1@uni.kz", "A", 1)]  # 2 of 4, quorum 3
    pending = run(ballots)
    assert pending.status is OutcomeStatus.PENDING
    assert pending.letter is None
    assert not pending.final
    closed = run(ballots, closed_by_secretary=True)
    assert closed.status is OutcomeStatus.NO_QUORUM
    assert closed.letter is None
    assert not closed.decided
    assert closed.reason.text() == "no decision: 2 of 4 members voted, the quorum is 3"
    assert closed.missing == ("m2@uni.kz", "m3@uni.kz")


def test_quorum_met_is_final_only_when_closed_or_everyone_voted():
    ballots = [b(CHAIR, "A"), b("m1@uni.kz", "A", 1), b("m2@uni.kz", "B", 2)]
    assert run(ballots).status is OutcomeStatus.PENDING
    closed = run(ballots, closed_by_secretary=True)
    assert closed.status is OutcomeStatus.DECIDED
    assert closed.letter == "A"
    everyone = run([*ballots, b("m3@uni.kz", "B", 3)])
    assert everyone.final


def test_secretary_and_outsiders_do_not_vote():
    out = run([b(CHAIR, "B"), b("m1@uni.kz", "B"), b("m2@uni.kz", "C"), b(SECRETARY, "A"),
               b("stranger@gmail.com", "A"), b("m3@uni.kz", "C")])
    outsiders = {r.ballot.member_email: r for r in out.flagged if r.status is BallotStatus.OUTSIDER}
    assert set(outsiders) == {SECRETARY, "stranger@gmail.com"}
    assert outsiders[SECRETARY].reason.text() == "the technical secretary does not vote"
    assert dict(out.letter_counts) == {"B": 2, "C": 2}
    assert out.letter == "B"


def test_secretary_cannot_be_listed_as_a_voter():
    with pytest.raises(BallotError, match="secretary does not vote"):
        tally([], [*VOTERS, SECRETARY], CHAIR, "mean", SCALE, secretary_email=SECRETARY)


def test_late_ballots_after_closing_are_flagged():
    out = run([b(CHAIR, "A"), b("m1@uni.kz", "A", 1), b("m2@uni.kz", "A", 2), b("m3@uni.kz", "F", 30)],
              closed_by_secretary=True, closed_at=T0 + timedelta(minutes=10), rule="mean")
    assert [r.status for r in out.flagged] == [BallotStatus.LATE]
    assert out.letter == "A"
    assert out.votes_cast == 3


def test_a_ballot_exactly_at_closing_time_counts_and_one_a_microsecond_later_is_late():
    closed = T0 + timedelta(minutes=10)
    at_close = Ballot("m3@uni.kz", "F", closed)
    just_after = Ballot("m2@uni.kz", "F", closed + timedelta(microseconds=1))
    out = run([b(CHAIR, "A"), b("m1@uni.kz", "A", 1), just_after, at_close],
              closed_by_secretary=True, closed_at=closed, rule="mean")
    statuses = {r.ballot.member_email: r.status for r in (*out.counted, *out.flagged)}
    assert statuses["m3@uni.kz"] is BallotStatus.COUNTED
    assert statuses["m2@uni.kz"] is BallotStatus.LATE
    assert out.votes_cast == 3
    # A 97.5 + A 97.5 + F 12 = 207 / 3 = 69 -> C-: the ballot at the closing moment changed the result.
    assert out.points == 69


def test_mean_rule_converts_the_mean_of_points():
    # A 97.5 + B 82 + C 67 + F 12 = 258.5 / 4 = 64.625 -> 65 -> C
    out = run([b(CHAIR, "A"), b("m1@uni.kz", "B"), b("m2@uni.kz", "C"), b("m3@uni.kz", "F")], rule="mean")
    assert out.status is OutcomeStatus.DECIDED
    assert out.mean_points == pytest.approx(64.625, abs=0.006)
    assert out.points == 65
    assert out.letter == "C"
    assert out.gpa == 2.0


def test_mean_rounds_half_up():
    # A- 92 and B+ 87 -> 89.5 -> 90 -> A- (not B+, as 89.5 would be unrounded)
    voters = [CHAIR, "m1@uni.kz"]
    out = tally([b(CHAIR, "A-"), b("m1@uni.kz", "B+")], voters, CHAIR, DecisionRule.MEAN, SCALE)
    assert out.points == 90
    assert out.letter == "A-"
    # D 52 and FX 37 -> 44.5 -> 45 (banker's rounding would give 44)
    out = tally([b(CHAIR, "D"), b("m1@uni.kz", "FX")], voters, CHAIR, DecisionRule.MEAN, SCALE)
    assert out.points == 45


def test_open_degree_vote_keeps_each_members_answer():
    out = run([b(CHAIR, "A", degree=True), b("m1@uni.kz", "A", degree=True),
               b("m2@uni.kz", "A", degree=False), b("m3@uni.kz", "B", degree=None)],
              degree_vote=DegreeVote.OPEN)
    assert (out.degree.yes, out.degree.no, out.degree.blank) == (2, 1, 1)
    assert out.degree.awarded is True  # 2 of 3 answers cast
    assert dict(out.degree.per_member)["m2@uni.kz"] is False
    assert outcome_summary(out)["degree"]["per_member"]["m1@uni.kz"] is True


def test_secret_degree_vote_keeps_only_totals():
    out = run([b(CHAIR, "A", degree=True), b("m1@uni.kz", "A", degree=True),
               b("m2@uni.kz", "A", degree=False), b("m3@uni.kz", "B", degree=False),
               b("m3@uni.kz", "B", 9, degree=True)],
              degree_vote=DegreeVote.SECRET)
    assert (out.degree.yes, out.degree.no) == (2, 2)
    assert out.degree.awarded is False  # 2 of 4 is not a strict majority
    assert out.degree.per_member == ()
    assert all(r.ballot.degree is None for r in (*out.counted, *out.flagged))
    summary = outcome_summary(out)
    assert "per_member" not in summary["degree"]
    assert summary["degree"] == {"mode": "secret", "yes": 2, "no": 2, "blank": 0, "awarded": False}


def test_degree_majority_of_all_voters_is_a_setting():
    ballots = [b(CHAIR, "A", degree=True), b("m1@uni.kz", "A", degree=True), b("m2@uni.kz", "A", degree=None)]
    cast = run(ballots, degree_vote="open", closed_by_secretary=True)
    of_voters = run(ballots, degree_vote="open", closed_by_secretary=True, degree_majority_of="voters")
    assert cast.degree.awarded is True  # 2 of 2 answers
    assert of_voters.degree.awarded is False  # 2 of 4 members


def test_degree_not_awarded_before_the_decision_is_final():
    out = run([b(CHAIR, "A", degree=True)], degree_vote="open")
    assert out.degree.awarded is None


def test_reasons_are_rendered_on_demand():
    out = run([b(CHAIR, "A")], closed_by_secretary=True)
    with use_locale("en"):
        english = out.reason.text()
    assert english.startswith("no decision")
    assert str(out.reason) == out.reason.text()


def test_times_without_zone_are_refused():
    with pytest.raises(BallotError, match="without a time zone"):
        run([Ballot(CHAIR, "A", datetime(2026, 6, 10, 9, 0))])


def test_chair_must_be_a_voter():
    with pytest.raises(BallotError, match="chair"):
        tally([], ["m1@uni.kz"], CHAIR, "mean", SCALE)
