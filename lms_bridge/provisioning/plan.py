"""The provisioning plan: the core checks, then the Google steps, then the Moodle steps.

Step names are stable (they key the journal and the progress rows shown on the admin page); the
order matters: the Google and Moodle steps read what the core steps journaled (the timetable).
Each form of the exam runs only the steps it needs (:func:`step_names`, from the kind's rules in
``lms_bridge.domain.kinds``): no draw commitment or ticket quiz without tickets, no voting forms
when the commission does not vote, the advance-submission assignment only for a defense or a
creative exam, the test quiz only for a test exam.
"""

from __future__ import annotations

from lms_bridge.config import Settings
from lms_bridge.domain import draw
from lms_bridge.domain.kinds import commission_votes, rules_for
from lms_bridge.domain.session import ExamKind
from lms_bridge.domain.timetable import TimetableError, build_timetable
from lms_bridge.google.steps import google_steps
from lms_bridge.i18n import gettext as _
from lms_bridge.journal import FunctionStep, Made, Step, StepContext, StepFailed
from lms_bridge.moodle.steps import moodle_steps

DRAW_KEY = "draw.commitment"
TIMETABLE_KEY = "timetable"


def check_draw_commitment(ctx: StepContext) -> None:
    """The ticket draw's commitment must be in place, match the secret seed, and never change once
    published: students and the commission see it before the sitting (R-TICKET, verifiable draw)."""
    session = ctx.session
    if not session.draw_seed or not session.draw_commitment:
        raise StepFailed(_("The session has no draw commitment; import the session file again."),
                         retryable=False)
    if draw.commitment(session.draw_seed) != session.draw_commitment:
        raise StepFailed(_("The draw commitment does not match the session's secret seed; the draw could "
                           "not be verified. Import the session file again."), retryable=False)
    published = ctx.journaled(DRAW_KEY)
    if published is not None and published.external_id != session.draw_commitment:
        raise StepFailed(_("The draw commitment changed after it was published (%(old)s…); a published "
                           "commitment cannot be replaced.", old=published.external_id[:12]), retryable=False)
    if published is None:
        ctx.remember(DRAW_KEY, Made(session.draw_commitment, {"published_at": ctx.now().isoformat()}))


def plan_timetable(ctx: StepContext) -> None:
    """Lay out the sitting (identification, preparation, answer slots, overflow days) and keep it in
    the journal, where the later steps and the page read each student's times."""
    if not ctx.spec.admitted:
        raise StepFailed(_("The session has no admitted students; there is nothing to provision."),
                         retryable=False)
    try:
        table = build_timetable(ctx.spec)
    except TimetableError as exc:
        raise StepFailed(_("The timetable cannot be laid out: %(reason)s", reason=str(exc)),
                         retryable=False) from None
    data = {
        "timezone": table.timezone,
        "days": [{"date": d.date.isoformat(), "starts_at": d.starts_at.isoformat(),
                  "ends_at": d.ends_at.isoformat(), "students": list(d.student_ids)} for d in table.days],
        "slots": {s.student_id: {"day": s.day, "position": s.position,
                                 "identification_at": s.identification_at.isoformat(),
                                 "preparation_starts_at": s.preparation_starts_at.isoformat(),
                                 "answer_starts_at": s.answer_starts_at.isoformat(),
                                 "answer_ends_at": s.answer_ends_at.isoformat()} for s in table.slots},
    }
    previous = ctx.journaled(TIMETABLE_KEY)
    if previous is None or previous.data != data:
        # A re-import may add or drop students: the journal always holds the current layout.
        ctx.remember(TIMETABLE_KEY, Made(f"{len(table.days)}d/{len(table.slots)}s", data))


def core_steps(settings: Settings) -> list[Step]:
    return [
        FunctionStep("core.draw_commitment", lambda: _("Check the ticket draw commitment"),
                     check_draw_commitment),
        FunctionStep("core.timetable", lambda: _("Timetable of the sitting"), plan_timetable),
    ]


def step_names(kind: ExamKind | str, *, commission_vote: bool | None = None) -> tuple[str, ...]:
    """The names of the steps a session of this kind runs, in plan order."""
    rules = rules_for(kind)
    votes = commission_votes(kind, commission_vote)
    wanted = {
        "core.draw_commitment": rules.tickets,
        "core.timetable": True,
        "google.classroom.course": True,
        "google.classroom.roster": True,
        "google.classroom.posts": True,
        "google.classroom.advance": bool(rules.advance),
        "google.forms": votes,
        "google.sheet": True,
        "google.watches": votes,
        # Turn-ins come back by push: answer sheets (tickets) and files sent in advance.
        "google.classroom.push": rules.tickets or bool(rules.advance),
        "moodle.connect": True,
        "moodle.users": True,
        "moodle.course": True,
        "moodle.enrolments": True,
        "moodle.tickets": rules.tickets,
        "moodle.test_quiz": rules.test_quiz,
        "moodle.result_assignment": True,
    }
    return tuple(name for name, needed in wanted.items() if needed)


def all_steps(settings: Settings) -> list[Step]:
    """Every step any kind may run, in plan order (e.g. for the titles of the progress rows)."""
    return [*core_steps(settings), *google_steps(settings), *moodle_steps(settings)]


def build_plan(settings: Settings, kind: ExamKind | str | None = None, *,
               commission_vote: bool | None = None) -> list[Step]:
    """The steps of a session's provisioning, in order: only those its kind needs (every step when
    no kind is given)."""
    steps = all_steps(settings)
    if kind is None:
        return steps
    names = step_names(kind, commission_vote=commission_vote)
    return [step for step in steps if step.name in names]
