"""The Moodle part of the provisioning plan, and attempt polling for sites without the companion plugin.

Journal keys (deterministic): ``moodle.site``, ``moodle.user:<email>``, ``moodle.course``,
``moodle.enrol:<email>``, ``moodle.tickets``, ``moodle.result_assignment``.  Each step finds before it
creates, so a second run over the same session leaves one course, one enrolment per person and one
ticket category.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _
from lms_bridge.journal import FunctionStep, Made, Step, StepContext, StepFailed
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.errors import MoodleError, UserConflict, UsersRefused
from lms_bridge.moodle.operations import MoodleOps, Person, attempt_event
from lms_bridge.moodle.xml_export import write_tickets_xml

logger = logging.getLogger(__name__)


def _ops(ctx: StepContext, settings: Settings) -> MoodleOps:
    backend = getattr(ctx.backends, "moodle", None)
    if isinstance(backend, MoodleOps):
        return backend
    if isinstance(backend, MoodleClient):
        return MoodleOps(backend, settings.moodle)
    raise StepFailed(
        _(
            "Moodle is not configured: set moodle.url and moodle.token (LMS_BRIDGE_MOODLE_URL, "
            "LMS_BRIDGE_MOODLE_TOKEN)."
        ),
        retryable=False,
    )


def _guard(
    fn: Callable[[StepContext, Settings], None],
) -> Callable[[Settings], Callable[[StepContext], None]]:
    """Turn Moodle's typed errors into StepFailed with their plain-words message."""

    def bind(settings: Settings) -> Callable[[StepContext], None]:
        def run(ctx: StepContext) -> None:
            try:
                fn(ctx, settings)
            except MoodleError as exc:
                raise StepFailed(exc.user_message, retryable=exc.retryable) from exc

        return run

    return bind


CONFLICT_PREFIX = "moodle.user_conflict:"


def conflict_message(data: dict[str, Any]) -> str:
    """The plain-words text of a journaled account conflict (for the session page)."""
    extra = {k: v for k, v in data.items() if k != "errorcode"}
    return UserConflict("", errorcode=str(data.get("errorcode", "")), **extra).user_message


def _people(ctx: StepContext) -> tuple[list[Person], list[Person]]:
    students = [Person.from_name(s.name, s.email, s.id) for s in ctx.spec.admitted]
    commission = [Person.from_name(m.name, m.email) for m in ctx.spec.commission]
    return students, commission


def _course_id(ctx: StepContext) -> int:
    entry = ctx.journaled("moodle.course")
    if entry is None:
        raise StepFailed(_("The Moodle course has not been made yet; run the provisioning again."))
    return int(entry.external_id)


@_guard
def _connect(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    info = ops.client.connect(settings.moodle)
    # Read first: the site's facts are observed anew on every run and may replace the journaled ones.
    ctx.journaled("moodle.site")
    ctx.record(
        "moodle.site",
        Made(
            str(info.userid),
            {
                "release": info.release,
                "version": info.version,
                "siteurl": info.siteurl,
                "plugin": ops.client.use_plugin(settings.moodle),
            },
        ),
        created=False,
    )


@_guard
def _users(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    students, commission = _people(ctx)
    todo = [p for p in (*students, *commission) if ctx.journaled(f"moodle.user:{p.email}") is None]
    # Same person twice (a member who is also listed as a student) is one Moodle user.
    todo = list({p.email: p for p in todo}.values())
    if not todo:
        ctx.reused += len({p.email for p in (*students, *commission)})
        return
    found, conflicts = ops.find_users(todo)
    for p in todo:
        # A disagreement between Moodle's e-mail and ID number is shown on the session page and that
        # account is neither taken nor enrolled; the next run looks again (and clears it when fixed).
        key = f"{CONFLICT_PREFIX}{p.email}"
        known = ctx.journaled(key)
        if p.email in conflicts:
            c = conflicts[p.email]
            logger.warning("Moodle account conflict for %s: %s", p.email, c.errorcode)
            ctx.remember(key, Made(p.email, {"errorcode": c.errorcode, **{k: str(v) for k, v in c.extra.items()}}))
        elif known is not None and not known.data.get("resolved"):
            ctx.remember(key, Made(p.email, {"resolved": True}))
    todo = [p for p in todo if p.email not in conflicts]
    for p in todo:
        if p.email in found:
            u = found[p.email]
            ctx.record(
                f"moodle.user:{p.email}",
                Made(str(u["id"]), {"username": u.get("username", "")}),
                created=False,
            )
    missing = [p for p in todo if p.email not in found]
    if missing:
        try:
            made = ops.create_users(missing)
        except UsersRefused as exc:
            # The accounts Moodle did make are journaled before the step fails on the refused ones.
            made = exc.created
            for email, uid in made.items():
                ctx.record(f"moodle.user:{email}", Made(str(uid), {}), created=True)
            raise
        for email, uid in made.items():
            ctx.record(f"moodle.user:{email}", Made(str(uid), {}), created=True)


@_guard
def _course(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    spec = ctx.spec

    def find() -> Made | None:
        c = ops.find_course(spec.code, spec.code)
        return Made(str(c["id"]), {"shortname": c["shortname"]}) if c else None

    def create() -> Made:
        fullname = f"{spec.title} ({spec.group})" if spec.group else spec.title
        c = ops.create_course(
            idnumber=spec.code,
            fullname=fullname,
            shortname=spec.code,
            startdate=int(spec.starts_at.timestamp()),
        )
        return Made(str(c["id"]), {"shortname": c["shortname"]})

    ctx.ensure("moodle.course", create=create, find=find)


@_guard
def _enrolments(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    courseid = _course_id(ctx)
    students, commission = _people(ctx)
    wanted: dict[str, int] = {p.email: settings.moodle.teacher_role_id for p in commission}
    wanted.update({p.email: settings.moodle.student_role_id for p in students})
    _follow_admission(ctx, ops, courseid, settings.moodle.student_role_id, set(wanted))
    todo = {e: r for e, r in wanted.items() if ctx.journaled(f"moodle.enrol:{e}") is None}
    ctx.reused += len(wanted) - len(todo)
    if not todo:
        return
    userids: dict[str, int] = {}
    for email in list(todo):
        entry = ctx.journaled(f"moodle.user:{email}")
        conflict = ctx.journaled(f"{CONFLICT_PREFIX}{email}")
        if entry is None and conflict is not None and not conflict.data.get("resolved"):
            del todo[email]  # never enrolled silently: the session page names the conflict
            continue
        if entry is None:
            raise StepFailed(
                _("%(email)s has no Moodle account yet; run the provisioning again.", email=email)
            )
        userids[email] = int(entry.external_id)
    if not todo:
        return
    enrolled = ops.enrolled_roles(courseid)
    missing = [(userids[e], r) for e, r in todo.items() if r not in enrolled.get(userids[e], set())]
    ops.enrol(courseid, missing)
    made = {uid for uid, _r in missing}
    student_role = settings.moodle.student_role_id
    # A student who also holds another role in the course (teacher, manager) may preview the quiz, and
    # Moodle then takes each of their attempts as a preview, which the commission never sees.
    doubled = sorted(e for e, r in todo.items()
                     if r == student_role and enrolled.get(userids[e], set()) - {student_role})
    for email, role in todo.items():
        if email in doubled:
            continue  # not journaled: checked again on the next run
        ctx.record(
            f"moodle.enrol:{email}",
            Made(f"{courseid}:{userids[email]}", {"roleid": role}),
            created=userids[email] in made,
        )
    if doubled:
        raise StepFailed(
            _(
                "%(emails)s also hold a teacher or manager role in the Moodle course besides the student "
                "role: Moodle would take their quiz attempts as previews, which the commission does not see. "
                "Remove the other role from them in the course's participants, then run again.",
                emails=", ".join(doubled),
            ),
            retryable=False,
        )


def _follow_admission(ctx: StepContext, ops: MoodleOps, courseid: int, student_role: int,
                      wanted: set[str]) -> None:
    """The enrolments follow the session file's admission (R-ADMIT-1): a student no longer admitted
    has the enrolment suspended, never deleted (the attempts and grades stay, and the student can
    neither enter the course nor be given a ticket); admitted again, the enrolment is restored.

    :calls: enrol_manual_enrol_users (suspend=1 / without suspend)
    """
    suspend: list[tuple[str, int]] = []
    for s in ctx.spec.students:
        if s.admitted or s.email.lower() in wanted:
            continue
        user = ctx.journaled(f"moodle.user:{s.email}")
        entry = ctx.journaled(f"moodle.enrol:{s.email}")
        if user is None or entry is None:
            continue  # never enrolled by the bridge: nothing to take away
        if entry.data.get("suspended"):
            ctx.reused += 1
            continue
        suspend.append((s.email, int(user.external_id)))
    if suspend:
        ops.enrol(courseid, [(uid, student_role) for _e, uid in suspend], suspend=True)
        for email, uid in suspend:
            ctx.record(f"moodle.enrol:{email}", Made(f"{courseid}:{uid}", {"roleid": student_role, "suspended": True}),
                       created=False)
    restore: list[tuple[str, int]] = []
    for email in sorted(wanted):
        entry = ctx.journaled(f"moodle.enrol:{email}")
        if entry is not None and entry.data.get("suspended"):
            restore.append((email, int(entry.external_id.split(":")[1])))
    if restore:
        ops.enrol(courseid, [(uid, student_role) for _e, uid in restore])
        for email, uid in restore:
            # Journal data is merged: "suspended" is set back explicitly.
            ctx.record(f"moodle.enrol:{email}", Made(f"{courseid}:{uid}", {"roleid": student_role, "suspended": False}),
                       created=False)


@_guard
def _tickets(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    courseid = _course_id(ctx)
    spec = ctx.spec
    if not spec.tickets:
        return
    if ops.client.use_plugin(settings.moodle):
        # Always called (not only when unjournaled): a re-imported ticket bank is brought up to date.
        out = ops.setup_tickets_plugin(courseid, spec.tickets, timelimit=60 * spec.preparation_minutes)
        ctx.record("moodle.tickets", Made(str(out["quizid"]), {
            "mode": "plugin", "quizid": int(out["quizid"]), "cmid": int(out["cmid"]),
            "categoryid": int(out["categoryid"]),
            "questions": {str(t["number"]): int(t["questionid"]) for t in out.get("tickets", [])
                          if t.get("status") != "hidden"}}), created=bool(out.get("changed")))
        return
    path = write_tickets_xml(spec.tickets, settings.data_dir / "moodle" / f"{_safe(spec.code)}-tickets.xml")
    quiz = ops.ticket_quiz(courseid)
    if quiz is None:
        raise StepFailed(
            _(
                'The Moodle course %(code)s has no quiz for the tickets. Add a quiz named "Ticket" '
                "to the course (or set moodle.template_course_id to a template course that has one), "
                "import %(path)s into its question bank, then run the provisioning again.",
                code=spec.code,
                path=str(path),
            ),
            retryable=False,
        )
    # The secretary imports the file into the quiz's question bank; its "Tickets" category is then found
    # and the slot draws from it (never a category of its own: see MoodleOps.add_ticket_slot).
    category = None if int(quiz.get("hasquestions", 0)) else ops.ticket_category(quiz, courseid=courseid)
    added = ops.add_ticket_slot(quiz, courseid=courseid, categoryid=category["id"] if category else None,
                                import_file=str(path))
    before = ctx.journaled("moodle.tickets")
    found = ({"categoryid": category["id"], "categorycontextid": category["contextid"],
              "tickets_in_category": category["questions"]} if category
             else {k: v for k, v in (before.data if before is not None else {}).items()
                   if k in ("categoryid", "categorycontextid", "tickets_in_category")})
    ctx.record(
        "moodle.tickets",
        Made(
            str(quiz["id"]),
            {
                "mode": "core",
                "quizid": int(quiz["id"]),
                "cmid": int(quiz["coursemodule"]),
                "xml": str(path),
                "import_required": True,
                **found,
            },
        ),
        created=added,
    )


@_guard
def _test_quiz(ctx: StepContext, settings: Settings) -> None:
    """The test exam's quiz: ``exams.test_questions`` random questions from the session's bank, each
    worth ``exams.test_points_per_question``, ``exams.test_minutes`` long, ``exams.test_attempts``
    attempt(s), closed until each student is admitted (lms_bridge.moodle.testquiz)."""
    from lms_bridge.domain.kinds import rules_for
    from lms_bridge.i18n import use_locale
    from lms_bridge.moodle.testquiz import QuizShape, setup_test_quiz

    spec, exams = ctx.spec, settings.exams
    if not rules_for(spec.kind).test_quiz:
        return  # only a test exam's plan holds this step; a plan run whole does nothing here
    ops = _ops(ctx, settings)
    courseid = _course_id(ctx)
    if len(spec.question_bank) < exams.test_questions:
        raise StepFailed(_("The question bank has %(have)s questions; the test draws %(need)s at random, so it "
                           "needs at least that many. Add questions to the session file and import it again.",
                           have=len(spec.question_bank), need=exams.test_questions), retryable=False)
    if not ops.client.use_plugin(settings.moodle):
        raise StepFailed(_("Moodle has no web-service function that creates a quiz or its questions: install the "
                           "companion plugin local_lmsbridge (docs/moodle-setup.md), then run again."),
                         retryable=False)
    with use_locale(spec.language):
        shape = QuizShape(
            name=_("Test: %(title)s", title=spec.title),
            intro=_("%(count)s questions, %(minutes)s minutes, one attempt. The test opens when the secretary "
                    "admits you.", count=exams.test_questions, minutes=exams.test_minutes),
            questions=exams.test_questions, mark=exams.test_points_per_question,
            timelimit=60 * exams.test_minutes, attempts=exams.test_attempts)
    out = setup_test_quiz(ops, courseid, spec.question_bank, shape)
    ctx.journaled("moodle.test_quiz")
    ctx.record("moodle.test_quiz", Made(str(out["quizid"]), {
        "quizid": int(out["quizid"]), "cmid": int(out["cmid"]), "categoryid": int(out["categoryid"]),
        "questions": int(out["questions"]), "slots": int(out["slots"]), "mark": shape.mark,
        "timelimit": shape.timelimit, "attempts": shape.attempts}), created=bool(out.get("changed")))


def _safe(code: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", code)


@_guard
def _result_assignment(ctx: StepContext, settings: Settings) -> None:
    ops = _ops(ctx, settings)
    courseid = _course_id(ctx)

    if ops.client.use_plugin(settings.moodle):
        # The plugin finds or creates it by its cm idnumber ("lmsbridge-result").
        if ctx.journaled("moodle.result_assignment") is not None:
            ctx.reused += 1
            return
        out = ops.ensure_result_assignment_plugin(courseid)
        ctx.record("moodle.result_assignment", Made(str(out["assignid"]), {
            "cmid": int(out["cmid"]), "grademax": float(out["grademax"]),
            "markingworkflow": int(bool(out["markingworkflow"]))}), created=bool(out["created"]))
        return

    def find() -> Made | None:
        a = ops.result_assignment(courseid)
        if a is None:
            return None
        return Made(
            str(a["id"]),
            {
                "cmid": int(a["cmid"]),
                "grademax": float(a["grade"]),
                "markingworkflow": int(a.get("markingworkflow", 0)),
            },
        )

    def create() -> Made:
        raise StepFailed(
            _(
                'The Moodle course %(code)s has no result assignment. Add an assignment named "Commission '
                'result" with the ID number lmsbridge-result (the commission\'s result) to the course or its '
                "template, then run the provisioning again.",
                code=ctx.spec.code,
            ),
            retryable=False,
        )

    ctx.ensure("moodle.result_assignment", create=create, find=find)


def moodle_steps(settings: Settings) -> list[Step]:
    """The Moodle steps of the provisioning plan, in order.  They read nothing the Google steps
    make: they run in a lane of their own, beside them, once the timetable is laid out."""
    steps: list[FunctionStep] = [
        FunctionStep(
            "moodle.connect", lambda: _("Moodle: connect and check the web service"), _connect(settings)
        ),
        FunctionStep("moodle.users", lambda: _("Moodle: user accounts"), _users(settings)),
        FunctionStep("moodle.course", lambda: _("Moodle: course"), _course(settings)),
        FunctionStep("moodle.enrolments", lambda: _("Moodle: enrolments"), _enrolments(settings)),
        FunctionStep("moodle.tickets", lambda: _("Moodle: ticket quiz"), _tickets(settings)),
        FunctionStep("moodle.test_quiz", lambda: _("Moodle: test quiz"), _test_quiz(settings)),
        FunctionStep(
            "moodle.result_assignment", lambda: _("Moodle: result assignment"), _result_assignment(settings)
        ),
    ]
    return [replace(step, lane="moodle", after="core.timetable") for step in steps]


# -- polling (sites without the companion plugin, and a safety net with it) ---------------------------
@dataclass(frozen=True)
class AttemptSeen:
    userid: int
    attemptid: int
    state: str
    timestart: int
    timefinish: int
    ticket: int | None  # known only through the companion plugin


def poll_attempts(
    ops: MoodleOps, quizid: int, userids: Iterable[int], *, plugin: bool, since: int = 0
) -> list[AttemptSeen]:
    """Every attempt at the ticket quiz, for the jobs module's scheduled poll.

    With the plugin one call reports all attempts and the ticket each drew; without it Moodle offers
    only a per-user read (``status=all`` so attempts in progress show up) and no ticket.  Attempts 5.x made
    ahead of time and the student has not opened (``notstarted``) are left out: their question is already
    chosen, but the student has not drawn it.
    """
    seen: list[AttemptSeen] = []
    if plugin:
        for a in ops.drawn_tickets(quizid):
            if max(int(a.get("timestart") or 0), int(a.get("timefinish") or 0)) < since:
                continue
            if attempt_event(str(a["state"])) is None:
                continue
            seen.append(
                AttemptSeen(
                    int(a["userid"]),
                    int(a["attemptid"]),
                    str(a["state"]),
                    int(a["timestart"]),
                    int(a.get("timefinish") or 0),
                    int(a["ticketnumber"]) or None,
                )
            )
        return seen
    for uid in userids:
        for a in ops.attempts(quizid, uid):
            if int(a.get("timemodified") or a.get("timestart") or 0) < since:
                continue
            if attempt_event(str(a["state"])) is None:
                continue
            seen.append(
                AttemptSeen(
                    uid,
                    int(a["id"]),
                    str(a["state"]),
                    int(a.get("timestart") or 0),
                    int(a.get("timefinish") or 0),
                    None,
                )
            )
    return seen


def poll_submissions(ops: MoodleOps, assignmentid: int, since: int = 0) -> list[dict[str, Any]]:
    """Submissions changed since ``since`` (what the assessable_submitted webhook would have said)."""
    return ops.submissions(assignmentid, since)


__all__ = ["CONFLICT_PREFIX", "AttemptSeen", "conflict_message", "moodle_steps", "poll_attempts",
           "poll_submissions"]
