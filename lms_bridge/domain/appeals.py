"""Appeals against a released grade (003 §64-67, 004 §10-14), plain rules.

* The appeal commission has an odd number of voters (chair and members; its secretary does not
  vote) and includes neither members of the attestation commission nor administrative staff (003 §65).
* A student files within the window counted in working days from the publication of the results
  (:mod:`lms_bridge.domain.workdays`); a filing after it is recorded and refused, with the reason.
* The hearing is held within 2 working days of the filing; the answer is given within 1 working day
  of the hearing.
* The appeal commission votes like the attestation commission (one ballot per member, the first;
  quorum; :func:`lms_bridge.domain.ballots.tally`): each member chooses the grade the student should
  have and says whether the exam itself failed so that a new sitting is due.  The outcome is the
  grade kept, the grade changed, or a new sitting.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from lms_bridge.domain.ballots import Outcome, OutcomeStatus, Reason
from lms_bridge.domain.session import Member, Role
from lms_bridge.domain.workdays import AppealSettings, answer_by, filing_closes, hearing_by
from lms_bridge.i18n import gettext as _


def _l(msgid: str) -> str:
    """Mark a msgid for extraction; it is translated when the reason is shown."""
    return msgid


class AppealError(ValueError):
    """The rules refuse an appeal action; the message says why."""


# -- the appeal commission ---------------------------------------------------------------------------

class CommissionIssue(enum.StrEnum):
    EVEN_VOTERS = "even_voters"
    NO_CHAIR = "no_chair"
    EXTRA_CHAIR = "extra_chair"
    EXTRA_SECRETARY = "extra_secretary"
    ON_ATTESTATION_COMMISSION = "on_attestation_commission"
    ADMINISTRATIVE_STAFF = "administrative_staff"


@dataclass(frozen=True)
class Issue:
    issue: CommissionIssue
    index: int | None  # the member's position in the list; None: the commission as a whole


def appeal_commission_issues(members: Sequence[Member], attestation_emails: Iterable[str],
                             staff_emails: Iterable[str]) -> list[Issue]:
    """Everything 003 §65 forbids in ``members`` (empty when the commission is lawful)."""
    attestation = {e.strip().lower() for e in attestation_emails}
    staff = {e.strip().lower() for e in staff_emails}
    issues: list[Issue] = []
    chairs = secretaries = 0
    for i, m in enumerate(members):
        email = m.email.strip().lower()
        if email in attestation:
            issues.append(Issue(CommissionIssue.ON_ATTESTATION_COMMISSION, i))
        if email in staff:
            issues.append(Issue(CommissionIssue.ADMINISTRATIVE_STAFF, i))
        if m.role is Role.CHAIR:
            chairs += 1
            if chairs > 1:
                issues.append(Issue(CommissionIssue.EXTRA_CHAIR, i))
        if m.role is Role.SECRETARY:
            secretaries += 1
            if secretaries > 1:
                issues.append(Issue(CommissionIssue.EXTRA_SECRETARY, i))
    if members and chairs == 0:
        issues.append(Issue(CommissionIssue.NO_CHAIR, None))
    voters = sum(1 for m in members if m.role.votes)
    if members and voters % 2 == 0:
        # An odd number of voters, so that a majority always exists (003 §65).
        issues.append(Issue(CommissionIssue.EVEN_VOTERS, None))
    return issues


# -- filing --------------------------------------------------------------------------------------------

class AppealStatus(enum.StrEnum):
    FILED = "filed"
    REFUSED = "refused"  # filed after the window: recorded, not heard
    HEARING = "hearing"  # the hearing is scheduled, the appeal commission votes
    DECIDED = "decided"  # the appeal commission decided; the answer is due
    ANSWERED = "answered"  # letter and protocol sent
    APPLIED = "applied"  # the outcome reached the grade sheet, Moodle and Classroom (or the board)


class AppealOutcomeKind(enum.StrEnum):
    KEPT = "kept"
    CHANGED = "changed"
    NEW_SITTING = "new_sitting"


def local_date(moment: datetime, timezone: str) -> date:
    """The day ``moment`` falls on in the session's time zone (deadlines are local days)."""
    if moment.tzinfo is None:
        raise AppealError("a moment without a time zone")
    return moment.astimezone(ZoneInfo(timezone)).date()


def _shown(day: date) -> str:
    # As the university writes dates in Kazakh and Russian letters: 07.07.2026.
    return day.strftime("%d.%m.%Y")


@dataclass(frozen=True)
class FilingVerdict:
    accepted: bool
    filed_on: date
    closes: date
    reason: Reason | None = None  # why it is refused


def judge_filing(published: date, filed_on: date, settings: AppealSettings | None = None) -> FilingVerdict:
    """Whether an appeal filed on ``filed_on`` (a local day) is within the window."""
    settings = settings or AppealSettings()
    closes = filing_closes(published, settings)
    if filed_on > closes:
        late_by = settings.calendar.working_days_between(closes, filed_on)
        return FilingVerdict(False, filed_on, closes, Reason(
            _l("The appeal was filed on %(filed)s; the time to appeal ended on %(closes)s (%(days)s working "
               "days after the results were published on %(published)s). It is recorded and cannot be "
               "heard."), tuple(sorted({"filed": _shown(filed_on), "closes": _shown(closes),
                                        "days": settings.filing_working_days,
                                        "published": _shown(published), "late": late_by}.items()))))
    return FilingVerdict(True, filed_on, closes)


def check_hearing_day(filed_on: date, hearing_on: date, settings: AppealSettings | None = None, *,
                      overdue_ok: bool = False) -> None:
    """The hearing must fall between the filing and its deadline, on a working day (003 §66).

    ``overdue_ok``: the deadline is already missed and the secretary says so; the student's appeal
    is still heard (refusing it would punish the student for the commission's delay), and the
    caller records that it was late."""
    settings = settings or AppealSettings()
    latest = hearing_by(filed_on, settings)
    if hearing_on < filed_on:
        raise AppealError(_("The hearing cannot be before the appeal was filed."))
    if hearing_on > latest and not overdue_ok:
        raise AppealError(_("The hearing must be held by %(latest)s (%(days)s working days after the filing).",
                            latest=latest.isoformat(), days=settings.hearing_working_days))
    if not settings.calendar.is_working_day(hearing_on):
        raise AppealError(_("The hearing day is not a working day."))


# -- the next deadline --------------------------------------------------------------------------------

class DeadlineKind(enum.StrEnum):
    HEARING = "hearing"  # schedule and hold the hearing by
    ANSWER = "answer"  # answer the student by


@dataclass(frozen=True)
class NextDeadline:
    kind: DeadlineKind
    due: date
    overdue: bool


def next_deadline(status: AppealStatus, *, filed_on: date | None, hearing_on: date | None, today: date,
                  settings: AppealSettings | None = None) -> NextDeadline | None:
    """What the appeal waits for next and by which day; None once nothing is due any more."""
    settings = settings or AppealSettings()
    if status in (AppealStatus.FILED,) and filed_on is not None:
        due = hearing_by(filed_on, settings)
        return NextDeadline(DeadlineKind.HEARING, due, today > due)
    if status in (AppealStatus.HEARING, AppealStatus.DECIDED) and hearing_on is not None:
        due = answer_by(hearing_on, settings)
        return NextDeadline(DeadlineKind.ANSWER, due, today > due)
    return None


# -- the outcome ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AppealOutcome:
    kind: AppealOutcomeKind
    letter: str  # the grade after the appeal (the original one when kept or a new sitting)
    points: float | None = None
    gpa: float | None = None


def appeal_outcome(outcome: Outcome, original_letter: str) -> AppealOutcome | None:
    """The appeal commission's outcome from its tally, or None while it has not decided.

    The "new sitting" question rides on the tally's yes/no (open) vote: a strict majority of the
    answers for it gives a new sitting, whatever grade was chosen.
    """
    if outcome.status is not OutcomeStatus.DECIDED or outcome.band is None:
        return None
    if outcome.degree is not None and outcome.degree.awarded:
        return AppealOutcome(AppealOutcomeKind.NEW_SITTING, original_letter)
    if outcome.band.letter == original_letter:
        return AppealOutcome(AppealOutcomeKind.KEPT, original_letter, outcome.points, outcome.band.gpa)
    return AppealOutcome(AppealOutcomeKind.CHANGED, outcome.band.letter, outcome.points, outcome.band.gpa)
