"""The provisioning plan: the core checks, then the Google steps, then the Moodle steps.

Step names are stable (they key the journal and the progress rows shown on the admin page); the
order matters: the Google and Moodle steps read what the core steps journaled (the timetable).
"""

from __future__ import annotations

from lms_bridge.config import Settings
from lms_bridge.domain import draw
from lms_bridge.google.steps import google_steps
from lms_bridge.i18n import gettext as _
from lms_bridge.moodle.steps import moodle_steps
from lms_bridge.provisioning.engine import FunctionStep, Made, Step, StepContext, StepFailed

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


def core_steps(settings: Settings) -> list[Step]:
    return [
        FunctionStep("core.draw_commitment", lambda: _("Check the ticket draw commitment"),
                     check_draw_commitment),
    ]


def build_plan(settings: Settings) -> list[Step]:
    """Every step of a session's provisioning, in order."""
    return [*core_steps(settings), *google_steps(settings), *moodle_steps(settings)]
