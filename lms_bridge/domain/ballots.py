"""Commission ballots and the decision for one student (R-VOTE-1..3, 003 §56-62).

One ballot per voting member counts: the first valid one.  Everything else that arrived on the
student's form is kept and returned with the reason it was not counted (the secretary keeps the
voting data, R-VOTE-3).  The technical secretary organises the vote but does not vote.

Decision rules (``Grading.decision``):

* ``mean`` - the mean of the members' points (each letter stands for its band's representative
  points, see :mod:`lms_bridge.domain.grading`), rounded half up to whole points, then converted
  to a letter;
* ``majority`` - the most-voted letter; on a tie the chair's ballot decides, and if the chair did
  not vote for one of the tied letters there is no decision (the commission must discuss).

A decision needs a quorum: ``ceil(voters * num / den)`` counted ballots.  It is final when every
voter has voted, or when the quorum is met and the secretary has closed the vote.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lms_bridge.domain.grading import GradeBand, GradeScale
from lms_bridge.domain.session import DecisionRule, DegreeVote
from lms_bridge.i18n import gettext


class BallotError(ValueError):
    """The inputs to a tally are inconsistent (the message says which)."""


@dataclass(frozen=True)
class Ballot:
    member_email: str
    letter: str
    submitted_at: datetime  # timezone-aware
    degree: bool | None = None  # the degree-award vote, when the session holds one


# How far apart a response's createTime and lastSubmittedTime may be and still be one submission.
# Google writes createTime to the millisecond and lastSubmittedTime to the microsecond, both from
# one submission: "2021-03-25T01:23:58.146Z" / "2021-03-25T01:23:58.146607Z" for a response nobody
# edited (Forms API guide "Set up an Apps Script project", sample output).  So the two differ by up
# to a millisecond without any edit, and comparing them as instants would call every ballot an
# edit.  A person needs far more than a second to reopen a submitted form, change an answer and
# submit again, so a gap above one second can only be an edit; a gap below it is precision.
EDIT_TOLERANCE = timedelta(seconds=1)


def is_edited(created: datetime, last_submitted: datetime, *, seen_before: bool,
              tolerance: timedelta = EDIT_TOLERANCE) -> bool:
    """Whether a form response version is an edit rather than a member's first ballot.

    ``seen_before``: a version of the same response id, with another ``lastSubmittedTime``, was
    already recorded; a changed ``lastSubmittedTime`` on a known response is an edit however small
    the change.  A response met for the first time is an edit when it was submitted again after it
    was created, i.e. when ``lastSubmittedTime`` is more than ``tolerance`` after ``createTime``
    (edited before we first fetched it: its first content is gone, so it cannot count as a first
    ballot either).
    """
    if created.tzinfo is None or last_submitted.tzinfo is None:
        raise BallotError("response timestamps must carry a time zone")
    return seen_before or last_submitted - created > tolerance


class BallotStatus(enum.StrEnum):
    # Values match BallotRecord.status in the store.
    COUNTED = "counted"
    DUPLICATE = "duplicate"
    OUTSIDER = "outsider"
    INVALID = "invalid"
    LATE = "late"


class OutcomeStatus(enum.StrEnum):
    DECIDED = "decided"
    PENDING = "pending"
    NO_QUORUM = "no_quorum"
    TIE = "tie"


@dataclass(frozen=True)
class Reason:
    """A translatable explanation: the English msgid and its variables, rendered on demand so the
    same outcome can be shown in kk, ru or en."""

    msgid: str
    params: tuple[tuple[str, Any], ...] = ()

    def text(self) -> str:
        return gettext(self.msgid, **dict(self.params))

    __str__ = text


def _l(msgid: str) -> str:
    """Mark a msgid for extraction (``_l`` is among the catalog tool's keywords); the text is
    translated later, when the reason is shown, so one outcome can be read in kk, ru or en."""
    return msgid


def _reason(msgid: str, **params: Any) -> Reason:
    return Reason(msgid, tuple(sorted(params.items())))


@dataclass(frozen=True)
class ReviewedBallot:
    ballot: Ballot
    status: BallotStatus
    reason: Reason | None = None


@dataclass(frozen=True)
class DegreeResult:
    mode: DegreeVote
    yes: int
    no: int
    blank: int  # counted grade ballots without a degree answer
    awarded: bool | None  # None until the decision is final
    # Only for an open vote; a secret vote keeps nothing but the totals.
    per_member: tuple[tuple[str, bool | None], ...] = ()


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    rule: DecisionRule
    reason: Reason
    voters: int
    quorum: int
    votes_cast: int  # counted ballots
    final: bool
    band: GradeBand | None = None
    points: float | None = None  # the points the letter was taken from (mean: rounded mean)
    mean_points: float | None = None  # mean rule: the unrounded mean
    letter_counts: tuple[tuple[str, int], ...] = ()  # highest letter first
    counted: tuple[ReviewedBallot, ...] = ()
    flagged: tuple[ReviewedBallot, ...] = ()
    missing: tuple[str, ...] = ()  # voters who have not voted yet
    degree: DegreeResult | None = None
    per_member: tuple[tuple[str, str], ...] = field(default=())  # (email, letter) of counted ballots

    @property
    def letter(self) -> str | None:
        return self.band.letter if self.band else None

    @property
    def gpa(self) -> float | None:
        return self.band.gpa if self.band else None

    @property
    def decided(self) -> bool:
        return self.status is OutcomeStatus.DECIDED


def quorum_size(voters: int, num: int, den: int) -> int:
    if den <= 0 or num <= 0 or num > den:
        raise BallotError(f"quorum {num}/{den} must be a fraction above 0 and at most 1")
    # Integer arithmetic: ceil(voters * num / den) without float surprises (e.g. 3 * 2/3).
    return max(1, -(-voters * num // den)) if voters else 0


def _round_half_up(value: float) -> float:
    return float(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tally(
    ballots: Iterable[Ballot],
    voters: Sequence[str],
    chair_email: str,
    rule: DecisionRule | str,
    scale: GradeScale,
    quorum: tuple[int, int] = (2, 3),
    closed_by_secretary: bool = False,
    *,
    secretary_email: str | None = None,
    closed_at: datetime | None = None,
    degree_vote: DegreeVote | str = DegreeVote.NONE,
    degree_majority_of: str = "cast",
) -> Outcome:
    """Count the ballots for one student and decide, or say why there is no decision yet.

    ``voters`` are the emails of the voting members (chair and members, not the secretary).
    ``closed_at``: ballots submitted after it are flagged ``late``.  ``degree_majority_of``:
    ``"cast"`` (default) awards the degree on a strict majority of the degree answers cast,
    ``"voters"`` on a strict majority of all voting members.
    """
    rule = DecisionRule(rule)
    degree_vote = DegreeVote(degree_vote)
    if degree_majority_of not in ("cast", "voters"):
        raise BallotError(f"degree_majority_of must be 'cast' or 'voters', not {degree_majority_of!r}")
    voter_list = [e.strip().lower() for e in voters]
    if len(set(voter_list)) != len(voter_list):
        raise BallotError("a voting member is listed twice")
    if not voter_list:
        raise BallotError("there are no voting members")
    chair = chair_email.strip().lower()
    if chair not in voter_list:
        raise BallotError(f"the chair {chair_email} is not among the voting members")
    secretary = (secretary_email or "").strip().lower()
    if secretary and secretary in voter_list:
        raise BallotError("the technical secretary does not vote and cannot be a voting member")
    need = quorum_size(len(voter_list), *quorum)

    items = list(ballots)
    for b in items:
        if b.submitted_at.tzinfo is None:
            raise BallotError(f"ballot of {b.member_email} has a submission time without a time zone")
    # Python's sort is stable: ballots with the same timestamp keep the order they were given in.
    items.sort(key=lambda b: b.submitted_at)

    voter_set = set(voter_list)
    counted: dict[str, ReviewedBallot] = {}
    flagged: list[ReviewedBallot] = []
    for b in items:
        email = b.member_email.strip().lower()
        if email not in voter_set:
            msg = (_l("the technical secretary does not vote") if email == secretary
                   else _l("not a voting member of this commission"))
            flagged.append(ReviewedBallot(b, BallotStatus.OUTSIDER, _reason(msg)))
        elif closed_at is not None and b.submitted_at > closed_at:
            flagged.append(ReviewedBallot(
                b, BallotStatus.LATE, _reason(_l("submitted after the vote was closed"))))
        elif not scale.has_letter(b.letter):
            flagged.append(ReviewedBallot(
                b, BallotStatus.INVALID, _reason(_l("%(letter)s is not a grade on the scale"), letter=b.letter)))
        elif email in counted:
            flagged.append(ReviewedBallot(
                b, BallotStatus.DUPLICATE, _reason(_l("only the member's first ballot counts"))))
        else:
            normalised = replace(b, member_email=email, letter=scale.band(b.letter).letter)
            counted[email] = ReviewedBallot(normalised, BallotStatus.COUNTED)

    counted_list = [counted[e] for e in voter_list if e in counted]
    missing = tuple(e for e in voter_list if e not in counted)
    cast = len(counted_list)
    counts = Counter(r.ballot.letter for r in counted_list)
    letter_counts = tuple((letter, counts[letter]) for letter in scale.letters() if counts[letter])
    everyone = not missing
    final = everyone or (closed_by_secretary and cast >= need)

    degree = _degree(degree_vote, counted_list, final, len(voter_list), degree_majority_of)
    if degree_vote is DegreeVote.SECRET:
        # A secret vote keeps only totals: drop the per-member answers from everything returned.
        counted_list = [replace(r, ballot=replace(r.ballot, degree=None)) for r in counted_list]
        flagged = [replace(r, ballot=replace(r.ballot, degree=None)) for r in flagged]
    common: dict[str, Any] = dict(
        rule=rule, voters=len(voter_list), quorum=need, votes_cast=cast, letter_counts=letter_counts,
        counted=tuple(counted_list), flagged=tuple(flagged), missing=missing, degree=degree,
        per_member=tuple((r.ballot.member_email, r.ballot.letter) for r in counted_list))
    n_voters = len(voter_list)

    if cast < need:
        if closed_by_secretary:
            return Outcome(status=OutcomeStatus.NO_QUORUM, final=False, **common, reason=_reason(
                _l("no decision: %(cast)s of %(voters)s members voted, the quorum is %(quorum)s"),
                cast=cast, voters=n_voters, quorum=need))
        return Outcome(status=OutcomeStatus.PENDING, final=False, **common, reason=_reason(
            _l("waiting for ballots: %(cast)s of %(voters)s members voted, the quorum is %(quorum)s"),
            cast=cast, voters=n_voters, quorum=need))
    if not final:
        return Outcome(status=OutcomeStatus.PENDING, final=False, **common, reason=_reason(
            _l("quorum reached (%(cast)s of %(voters)s); waiting for the other members or for the "
               "secretary to close the vote"), cast=cast, voters=n_voters))

    if rule is DecisionRule.MEAN:
        mean = sum(scale.band(r.ballot.letter).points for r in counted_list) / cast
        points = _round_half_up(mean)
        band = scale.band_for_points(points)
        return Outcome(status=OutcomeStatus.DECIDED, final=True, **common, band=band, points=points,
                       mean_points=round(mean, 2), reason=_reason(
                           _l("mean of %(cast)s ballots: %(mean)s points, %(letter)s"),
                           cast=cast, mean=f"{mean:.2f}", letter=band.letter))

    top = max(counts.values())
    tied = [letter for letter, n in letter_counts if n == top]
    if len(tied) == 1:
        band = scale.band(tied[0])
        return Outcome(status=OutcomeStatus.DECIDED, final=True, **common, band=band, points=band.points,
                       reason=_reason(_l("%(letter)s by %(n)s of %(cast)s ballots"),
                                      letter=band.letter, n=top, cast=cast))
    chair_ballot = counted.get(chair)
    tied_text = ", ".join(tied)
    if chair_ballot is None:
        return Outcome(status=OutcomeStatus.TIE, final=True, **common, reason=_reason(
            _l("tie between %(letters)s and the chair did not vote"), letters=tied_text))
    if chair_ballot.ballot.letter not in tied:
        return Outcome(status=OutcomeStatus.TIE, final=True, **common, reason=_reason(
            _l("tie between %(letters)s and the chair voted for none of them"), letters=tied_text))
    band = scale.band(chair_ballot.ballot.letter)
    return Outcome(status=OutcomeStatus.DECIDED, final=True, **common, band=band, points=band.points,
                   reason=_reason(_l("tie between %(letters)s broken by the chair's ballot: %(letter)s"),
                                  letters=tied_text, letter=band.letter))


def _degree(mode: DegreeVote, counted: list[ReviewedBallot], final: bool, voters: int,
            majority_of: str) -> DegreeResult | None:
    if mode is DegreeVote.NONE:
        return None
    answers = [r.ballot.degree for r in counted]
    yes = sum(1 for a in answers if a is True)
    no = sum(1 for a in answers if a is False)
    blank = len(answers) - yes - no
    base = yes + no if majority_of == "cast" else voters
    # Strict majority: more than half, so 2 of 4 is not enough.
    awarded = (base > 0 and yes * 2 > base) if final else None
    per_member: tuple[tuple[str, bool | None], ...] = ()
    if mode is DegreeVote.OPEN:
        per_member = tuple((r.ballot.member_email, r.ballot.degree) for r in counted)
    return DegreeResult(mode=mode, yes=yes, no=no, blank=blank, awarded=awarded, per_member=per_member)


def outcome_summary(outcome: Outcome) -> dict[str, Any]:
    """A JSON-ready view of an outcome for the protocol and the store (``DecisionRecord.votes``).

    A secret degree vote appears only as totals.
    """
    data: dict[str, Any] = {
        "status": str(outcome.status),
        "rule": str(outcome.rule),
        "letter": outcome.letter,
        "points": outcome.points,
        "gpa": outcome.gpa,
        "votes_cast": outcome.votes_cast,
        "voters": outcome.voters,
        "quorum": outcome.quorum,
        "letter_counts": dict(outcome.letter_counts),
        "per_member": dict(outcome.per_member),
        "reason": outcome.reason.text(),
    }
    if outcome.degree is not None:
        d = outcome.degree
        data["degree"] = {"mode": str(d.mode), "yes": d.yes, "no": d.no, "blank": d.blank,
                          "awarded": d.awarded}
        if d.mode is DegreeVote.OPEN:
            data["degree"]["per_member"] = dict(d.per_member)
    return data
