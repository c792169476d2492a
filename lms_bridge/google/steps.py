"""The Google provisioning steps: course, roster, posts, voting forms, grade sheet, watches, push.

Every outside object is journaled under a deterministic key (see lms_bridge.provisioning.engine), and
each one also carries a dedupe key Google itself can be asked about, so a run that crashed before its
journal row was committed finds the object instead of making a second one:

==========================  ==========================================  ==================================
journal key                 Google object                                found again through
==========================  ==========================================  ==================================
classroom.course            the course                                   project alias ``p:<code>`` (409)
classroom.teacher:<email>   a teacher (or invitation)                    ALREADY_EXISTS on a repeat
classroom.student:<email>   a student (or invitation)                    ALREADY_EXISTS on a repeat
classroom.topic             the session topic                            its name in topics.list
classroom.announcement      the instructions post                        its text in announcements.list
forms.form:<student id>     the student's voting form                    Drive appProperties / its title
forms.watch:<student id>    the RESPONSES watch                          ALREADY_EXISTS -> watches.list
sheets.gradesheet           the grade sheet                              Drive appProperties
classroom.registration      the COURSE_WORK_CHANGES push registration    an identical create renews it
classroom.ticket:<id>       the ticket assignment (made at the draw)     its title in courseWork.list
classroom.advance           the thesis / performance assignment          its title in courseWork.list
==========================  ==========================================  ==================================

Calls are batched wherever Google allows: roster adds/invitations (50 a batch), appProperties (100 a
batch), sharing (100 a batch, but never two grants for one form in one batch: Drive keeps only one of
concurrent permission writes on a file), the read-back of every form's permissions (100 a batch), all
grade-sheet rows in one values:batchUpdate.  A voting form needs three Forms calls (create,
batchUpdate, setPublishSettings) and its watch one more; in Drive, one tag, one grant per voting member
(or a single grant to the session's ``voters_group``, a Google Group of the voting members) and one
permissions read.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lms_bridge.domain.grading import GradeScale
from lms_bridge.domain.kinds import Advance, rules_for
from lms_bridge.domain.session import DegreeVote, SessionSpec, Student
from lms_bridge.google.drive import FORM_MIME, SHEET_MIME
from lms_bridge.google.errors import AlreadyExists, GoogleApiError, InvalidArgument, NotFound, PermissionDenied
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale
from lms_bridge.journal import FunctionStep, Made, Step, StepContext, StepFailed

logger = logging.getLogger(__name__)

# Drive appProperties (private to this app's OAuth client) that make our files findable.
P_SESSION = "lmsBridgeSession"
P_STUDENT = "lmsBridgeStudent"
P_KIND = "lmsBridgeKind"

# Renew watches and registrations when less than this is left (they last about 7 days).
RENEW_MARGIN = timedelta(days=2)

# Sharing a form is verified by reading its permissions back; what did not stick is sent again, at
# most this many times in one run.
SHARE_ROUNDS = 3


class FormStage(enum.StrEnum):
    """How far a voting form has come; kept as ``data["stage"]`` of its journal entry."""

    CREATED = "created"  # the form exists (empty, unpublished)
    TAGGED = "tagged"  # it carries our Drive appProperties, so a lost journal still finds it
    CONFIGURED = "configured"  # description, verified e-mail collection and questions are in
    PUBLISHED = "published"  # published and accepting responses (sharing is tracked in "shared")


def course_alias(spec: SessionSpec) -> str:
    """The project-scoped alias that makes course creation idempotent (facts §3)."""
    return "p:" + spec.code


def form_key(student: Student) -> str:
    return f"forms.form:{student.id}"


def watch_key(student: Student) -> str:
    return f"forms.watch:{student.id}"


def ticket_key(student_ref: str) -> str:
    """Journal key of a student's ticket assignment (made at the draw, read by the grade write-back)."""
    return f"classroom.ticket:{student_ref}"


def document_title(spec: SessionSpec, student: Student) -> str:
    # Unique per session and student, so a create retried after a lost answer can be found by name.
    return f"{spec.code} · {student.id} · {student.name}"


def degree_options(lang: str) -> tuple[str, str]:
    """The (yes, no) option texts of the degree question, as the tally reads them back."""
    with use_locale(lang):
        return _("Yes, award"), _("No, do not award")


def _google(ctx: StepContext) -> Any:
    return ctx.backends.google


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _fail_on(errors: Mapping[str, GoogleApiError], what: str) -> None:
    if errors:
        first_key, first = next(iter(errors.items()))
        raise StepFailed(_("%(what)s failed for %(count)d item(s); first: %(item)s (%(error)s)",
                           what=what, count=len(errors), item=first_key, error=str(first)[:200]),
                         retryable=first.retryable)


def _course_id(ctx: StepContext) -> str:
    entry = ctx.journaled("classroom.course")
    if entry is None:
        raise StepFailed(_("The Classroom course is not made yet; run the course step first."))
    return entry.external_id


# -- course ---------------------------------------------------------------------------------------------

def run_course(ctx: StepContext) -> None:
    """Create the course under the project alias; a 409 means a previous run made it: reuse it."""
    g, spec = _google(ctx), ctx.spec
    entry = ctx.journaled("classroom.course")
    if entry is None:
        alias = course_alias(spec)
        try:
            course = g.classroom.create_course(alias=alias, name=spec.title, section=spec.group,
                                               description_heading=spec.programme)
            created = True
        except AlreadyExists:
            course = g.classroom.get_course(alias)
            created = False
        entry = ctx.record("classroom.course", Made(course["id"], {
            "alias": alias, "state": course.get("courseState", ""), "link": course.get("alternateLink", ""),
            "enrollmentCode": course.get("enrollmentCode", "")}), created=created)
    if entry.data.get("state") == "PROVISIONED":
        # New courses wait for their owner or an admin to accept them; the delegated secretary is the
        # owner, so the course is moved to ACTIVE here.  Where the domain forbids it, it stays
        # PROVISIONED and the page shows that state instead of failing the run.
        try:
            course = g.classroom.set_course_state(entry.external_id, "ACTIVE")
            ctx.update_data("classroom.course", state=course.get("courseState", "ACTIVE"))
        except (PermissionDenied, InvalidArgument) as exc:
            ctx.update_data("classroom.course", state_note=str(exc)[:300])


# -- roster ---------------------------------------------------------------------------------------------

def run_roster(ctx: StepContext) -> None:
    """The commission as teachers, the admitted students as students; batched, repeats are fine."""
    g, spec = _google(ctx), ctx.spec
    course_id = _course_id(ctx)
    direct = g.settings.google.domain_admin
    failures: dict[str, GoogleApiError] = {}
    for role, prefix, emails in (
            ("TEACHER", "classroom.teacher:", [m.email for m in spec.commission]),
            ("STUDENT", "classroom.student:", [s.email for s in spec.admitted])):
        todo = [e for e in dict.fromkeys(emails) if ctx.journaled(prefix + e) is None]
        if not todo:
            ctx.reused += len(set(emails))
            continue
        ctx.reused += len(set(emails)) - len(todo)
        how = "direct" if direct else "invitation"
        results = (g.classroom.add_people(course_id, todo, role=role) if direct
                   else g.classroom.invite(course_id, todo, role=role))
        fallback: list[str] = []
        for email in todo:
            got = results[email]
            if isinstance(got, AlreadyExists):
                ctx.record(prefix + email, Made(email, {"how": how}), created=False)
            elif not direct and isinstance(got, GoogleApiError) and _already_member(g, course_id, email, role, got):
                ctx.record(prefix + email, Made(email, {"how": "member"}), created=False)
            elif isinstance(got, PermissionDenied | InvalidArgument) and direct:
                # Adding directly needs the user in the admin's domain (facts §3); others are invited.
                fallback.append(email)
            elif isinstance(got, GoogleApiError):
                failures[email] = got
            else:
                ctx.record(prefix + email, Made(email, {"how": how, "userId": got.get("userId", "")}),
                           created=True)
        if fallback:
            for email, got in g.classroom.invite(course_id, fallback, role=role).items():
                if isinstance(got, AlreadyExists):
                    ctx.record(prefix + email, Made(email, {"how": "invitation"}), created=False)
                elif isinstance(got, GoogleApiError) and _already_member(g, course_id, email, role, got):
                    ctx.record(prefix + email, Made(email, {"how": "member"}), created=False)
                elif isinstance(got, GoogleApiError):
                    failures[email] = got
                else:
                    data = {"how": "invitation", "invitationId": got.get("id", ""),
                            "userId": got.get("userId", "")}
                    ctx.record(prefix + email, Made(email, data), created=True)
    _fail_on(failures, _("Adding people to the Classroom course"))


def _already_member(g: Any, course_id: str, email: str, role: str, error: GoogleApiError) -> bool:
    """Whether an invitation refused with FAILED_PRECONDITION was refused because the person already
    holds the role or a higher one (the course owner invited as teacher, say): then nothing is left
    to do.  Google gives the same status for a disabled account, so membership is checked, not
    guessed from the message (invitations.create reference)."""
    if error.status != 400 or error.reason.replace("_", "").lower() != "failedprecondition":
        return False
    lookups = (g.classroom.get_teacher,) if role == "TEACHER" else (g.classroom.get_student, g.classroom.get_teacher)
    for lookup in lookups:
        try:
            lookup(course_id, email)
            return True
        except NotFound:
            continue
    return False


# -- posts ----------------------------------------------------------------------------------------------

def instructions_text(spec: SessionSpec) -> str:
    """The instructions post, worded for the form of the exam (an oral exam's text is unchanged, so a
    rerun still finds the post made before)."""
    rules = rules_for(spec.kind)
    with use_locale(spec.language):
        if rules.test_quiz:
            return _("Final attestation: %(title)s. Join the video meeting on time. The test is in Moodle; it "
                     "opens for you when the secretary admits you after identification. If the connection is "
                     "lost, tell the secretary at once: the test continues with your answers and the time you "
                     "had left.", title=spec.title)
        if rules.advance:
            return _("Final attestation: %(title)s. Turn in your files to the assignment in this course by its due "
                     "date, before the sitting: the commission studies them in advance. Join the video meeting on "
                     "time for your slot.", title=spec.title)
        text = _("Final attestation: %(title)s. Join the video meeting on time. At the draw each student "
                 "gets an individual assignment with the ticket; write the answers by hand on the answer "
                 "sheets, photograph every sheet and upload them to that assignment before the preparation "
                 "time ends.", title=spec.title)
        if rules.materials_allowed:
            text += " " + _("This is an open-book exam: you may use books, notes and other materials while "
                            "writing; the answers must be your own.")
        return text


def topic_name(spec: SessionSpec) -> str:
    with use_locale(spec.language):
        return _("Final attestation")


def run_posts(ctx: StepContext) -> None:
    g, spec = _google(ctx), ctx.spec
    course_id = _course_id(ctx)
    name = topic_name(spec)

    def find_topic() -> Made | None:
        hit = next((t for t in g.classroom.list_topics(course_id) if t.get("name") == name), None)
        return Made(hit["topicId"], {"name": name}) if hit else None

    def make_topic() -> Made:
        t = g.classroom.create_topic(course_id, name)
        return Made(t["topicId"], {"name": name})

    # Looking before creating costs one list call per session and finds what a crashed run made.
    ctx.ensure("classroom.topic", make_topic, find_topic)
    text = instructions_text(spec)

    def find_post() -> Made | None:
        hit = next((a for a in g.classroom.list_announcements(course_id) if a.get("text") == text), None)
        return Made(hit["id"], {"link": hit.get("alternateLink", "")}) if hit else None

    def make_post() -> Made:
        a = g.classroom.create_announcement(course_id, text)
        return Made(a["id"], {"link": a.get("alternateLink", "")})

    ctx.ensure("classroom.announcement", make_post, find_post)


# -- files handed in before the sitting (defense, creative exam) ----------------------------------------

ADVANCE_KEY = "classroom.advance"
DUE_MARGIN = timedelta(minutes=1)


def advance_texts(spec: SessionSpec, due: datetime) -> tuple[str, str]:
    """Title and instructions of the assignment the files are handed in to (in the session's language)."""
    local = due.astimezone(spec.starts_at.tzinfo).strftime("%Y-%m-%d %H:%M")
    with use_locale(spec.language):
        if rules_for(spec.kind).advance is Advance.THESIS:
            return (_("Thesis for the defense (PDF) — %(code)s", code=spec.code),
                    _("Upload your thesis as one PDF file and turn it in by %(due)s. The commission reads it "
                      "before the defense.", due=local))
        return (_("Performance videos for the creative exam — %(code)s", code=spec.code),
                _("Add the links to your performance videos and turn them in by %(due)s. The commission "
                  "watches them before the exam.", due=local))


def advance_link(ctx: StepContext, student: Student) -> str:
    entry = ctx.journaled(ADVANCE_KEY) if rules_for(ctx.spec.kind).advance else None
    return str((entry.data.get("links") or {}).get(student.id, "")) if entry else ""


def _due_fields(due: datetime) -> dict[str, Any]:
    utc = due.astimezone(UTC)
    # dueDate and dueTime go together or not at all (Classroom reference).
    return {"dueDate": {"year": utc.year, "month": utc.month, "day": utc.day},
            "dueTime": {"hours": utc.hour, "minutes": utc.minute}}


def run_advance(ctx: StepContext) -> None:
    """One assignment for all students, due ``exams.advance_days`` before the sitting, where a defense's
    thesis PDF (001 §19) or a creative exam's video links (004 creative §4) are turned in.  The
    commission are the course's teachers and see every submission; each ballot links to the student's
    own (its ``alternateLink``), journaled here per student."""
    g, spec = _google(ctx), ctx.spec
    if not rules_for(spec.kind).advance:
        return  # only a defense's or a creative exam's plan holds this step
    course_id = _course_id(ctx)
    due = spec.starts_at - timedelta(days=g.settings.exams.advance_days)
    title, description = advance_texts(spec, due)

    def find() -> Made | None:
        hit = next((w for w in g.classroom.list_course_work(course_id) if w.get("title") == title), None)
        return Made(hit["id"], {"link": hit.get("alternateLink", "")}) if hit else None

    def create() -> Made:
        body: dict[str, Any] = {"title": title, "description": description, "workType": "ASSIGNMENT",
                                "state": "PUBLISHED", "assigneeMode": "ALL_STUDENTS"}
        topic = ctx.journaled("classroom.topic")
        if topic is not None:
            body["topicId"] = topic.external_id
        # Classroom refuses a due time already past (@DueDateInPast): a session provisioned late
        # still gets the assignment, without a due time (the page shows the date it should have had).
        if due - ctx.now() > DUE_MARGIN:
            body.update(_due_fields(due))
        work = g.classroom.create_course_work(course_id, body)
        return Made(work["id"], {"link": work.get("alternateLink", ""), "due": due.isoformat(),
                                 "due_set": "dueDate" in body})

    entry = ctx.ensure(ADVANCE_KEY, create, find)
    links: dict[str, str] = dict(entry.data.get("links") or {})
    missing = [s for s in spec.admitted if not links.get(s.id)]
    if not missing:
        return
    # One listing gives every submission; students are told apart by the ids the roster step kept,
    # and a student added by invitation (no id known yet) is looked up by e-mail.
    by_user = {sub.get("userId", ""): sub for sub in g.classroom.list_submissions(course_id, entry.external_id)}
    for s in missing:
        roster = ctx.journaled(f"classroom.student:{s.email}")
        uid = roster.data.get("userId", "") if roster else ""
        sub = by_user.get(uid) if uid else None
        if sub is None:
            subs = g.classroom.list_submissions(course_id, entry.external_id, user_id=s.email)
            sub = subs[0] if subs else None
        if sub is not None and sub.get("alternateLink"):
            links[s.id] = sub["alternateLink"]
    ctx.update_data(ADVANCE_KEY, links=links)


# -- voting forms ---------------------------------------------------------------------------------------

TEMPLATE_KEY = "forms.template"
TEMPLATE_KIND = "form-template"


def form_description(spec: SessionSpec, student: Student, *, submission: str = "",
                     grading_hours: int = 2, on_behalf: Sequence[str] = ()) -> str:
    """The ballot's text for one student.

    ``submission``: the link to what the student handed in before the sitting (a defense's thesis,
    a creative exam's videos), so that every member opens it from the ballot before voting.
    ``on_behalf``: the Drive links of answer sheets the secretary uploaded on the student's behalf
    (Classroom lets only the student attach files to the submission).
    """
    with use_locale(spec.language):
        # Only a member's first submission counts (an edit or a second submission is kept but not
        # counted: lms_bridge.domain.ballots), so the form must not promise otherwise.
        description = _("Commission member's ballot for %(student)s. Choose one grade. Only your first "
                        "submission counts; to correct it, tell the secretary.", student=student.name)
        if submission:
            description += "\n" + _("The student's submission: %(link)s", link=submission)
        if rules_for(spec.kind).writing:
            # 001 §15: the members check the written answers within 2 hours and grade them.
            description += "\n" + _("Grade the written answers within %(hours)s hours of the end of the writing "
                                     "time; they are in the student's ticket assignment in Classroom.",
                                     hours=grading_hours)
        if student.plagiarism and rules_for(spec.kind).plagiarism:
            description += "\n" + _("Plagiarism check: %(result)s", result=student.plagiarism)
        if on_behalf:
            description += "\n" + _("Answer sheets uploaded by the secretary on the student's behalf: %(links)s",
                                     links=" ".join(on_behalf))
    return str(description)


def template_requests(spec: SessionSpec) -> list[dict[str, Any]]:
    """What every ballot of the session shares: verified e-mail collection and the questions."""
    letters = GradeScale.load(spec.grading.scale).letters()
    with use_locale(spec.language):
        grade_title = _("Grade")
        degree_title = _("Award the degree (qualification)?")
        comment_title = _("Comment (optional)")
    items: list[dict[str, Any]] = [
        {"title": grade_title, "questionItem": {"question": {"required": True, "choiceQuestion": {
            "type": "RADIO", "options": [{"value": letter} for letter in letters]}}}},
    ]
    if spec.degree_vote is not DegreeVote.NONE:
        yes, no = degree_options(spec.language)
        degree_q = {"type": "RADIO", "options": [{"value": yes}, {"value": no}]}
        items.append({"title": degree_title,
                      "questionItem": {"question": {"required": True, "choiceQuestion": degree_q}}})
    items.append({"title": comment_title, "questionItem": {"question": {
        "required": False, "textQuestion": {"paragraph": True}}}})
    requests: list[dict[str, Any]] = [
        {"updateSettings": {"settings": {"emailCollectionType": "VERIFIED"},
                            "updateMask": "emailCollectionType"}},
    ]
    requests += [{"createItem": {"item": item, "location": {"index": i}}} for i, item in enumerate(items)]
    return requests


def form_requests(spec: SessionSpec, student: Student, *, submission: str = "",
                  grading_hours: int = 2, on_behalf: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The one atomic batchUpdate that turns an empty form into a ballot (facts §2); its first
    request is the description alone (the draw, the plagiarism check and the answer sheets uploaded on
    the student's behalf rewrite just that)."""
    text = form_description(spec, student, submission=submission, grading_hours=grading_hours,
                            on_behalf=on_behalf)
    return [{"updateFormInfo": {"info": {"description": text}, "updateMask": "description"}},
            *template_requests(spec)]


def copy_requests(spec: SessionSpec, student: Student, *, submission: str = "",
                  grading_hours: int = 2) -> list[dict[str, Any]]:
    """What turns a copy of the session's template into one student's ballot: its title and text
    (the form of the exam's part of the text too: submission link, plagiarism result)."""
    text = form_description(spec, student, submission=submission, grading_hours=grading_hours)
    return [{"updateFormInfo": {"info": {"title": form_title(spec, student), "description": text},
                                "updateMask": "title,description"}}]


def _is_ballot_of(form: Mapping[str, Any], spec: SessionSpec, student: Student, *, submission: str = "",
                  grading_hours: int = 2) -> bool:
    """The form has the questions and this student's text (a copy before its batchUpdate has the
    template's questions but not the text; the batch applies all or nothing)."""
    text = form_description(spec, student, submission=submission, grading_hours=grading_hours)
    return bool(form.get("items")) and form.get("info", {}).get("description") == text


def template_document_title(spec: SessionSpec) -> str:
    return f"{spec.code} · ballot template"


def _ballot_template(ctx: StepContext, g: Any) -> str:
    """The session's prepared ballot (never published, shared with nobody): each student's form is
    a Drive copy of it, so the questions cost one Forms write per session instead of per student."""
    spec = ctx.spec
    entry = ctx.journaled(TEMPLATE_KEY)
    if entry is None:
        found = g.drive.find_by_app_properties({P_SESSION: spec.code, P_KIND: TEMPLATE_KIND}, mime_type=FORM_MIME)
        if found:
            entry = ctx.record(TEMPLATE_KEY, Made(found[0]["id"], {"stage": FormStage.TAGGED}), created=False)
        else:
            doc_title = template_document_title(spec)

            def recover() -> dict[str, Any] | None:
                hit = g.drive.find_by_name(doc_title, mime_type=FORM_MIME)
                return {"formId": hit[0]["id"]} if hit else None

            form = g.forms.create(doc_title, doc_title, recover=recover)
            entry = ctx.record(TEMPLATE_KEY, Made(form["formId"], {"stage": FormStage.CREATED}), created=True)
    template_id = str(entry.external_id)
    if entry.data.get("stage") == FormStage.CREATED:
        got = g.drive.set_app_properties({template_id: {P_SESSION: spec.code, P_KIND: TEMPLATE_KIND}})
        _fail_on({k: v for k, v in got.items() if isinstance(v, GoogleApiError)},
                 _("Tagging the voting forms in Drive"))
        ctx.update_data(TEMPLATE_KEY, stage=FormStage.TAGGED)
    entry = ctx.journaled(TEMPLATE_KEY)
    if entry is not None and entry.data.get("stage") == FormStage.TAGGED:
        def applied() -> dict[str, Any] | None:
            current = g.forms.get(template_id)
            return {"form": current} if current.get("items") else None

        if applied() is None:
            g.forms.batch_update(template_id, template_requests(spec), recover=applied)
        ctx.update_data(TEMPLATE_KEY, stage=FormStage.CONFIGURED)
    return str(template_id)


def _question_ids(items: Iterable[Mapping[str, Any]], names: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, item in zip(names, items, strict=False):
        qid = item.get("questionItem", {}).get("question", {}).get("questionId")
        if qid:
            out[name] = qid
    return out


def _question_names(spec: SessionSpec) -> list[str]:
    return ["grade", *(["degree"] if spec.degree_vote is not DegreeVote.NONE else []), "comment"]


def form_title(spec: SessionSpec, student: Student) -> str:
    with use_locale(spec.language):
        return _("Vote: %(student)s — %(session)s", student=student.name, session=spec.title)


# Forms published before their grants are sent, alongside the next forms' Forms writes.
SHARE_CHUNK = 25


def run_forms(ctx: StepContext) -> None:
    """One ballot form per admitted student: copied from the session's template (tagged in the
    same call), given the student's title and text, published and shared.

    The Forms writes (the binding quota) run one form after another in this thread, each form
    from copy to publication; the Drive copies run ahead of them in one helper thread and the
    grants of each published chunk go out in another, on Drive's own quota.  The helpers only call
    Google: every journal write happens here, so the run's fence guards them all, and a copy the
    journal never got is found again by the tags it was made with."""
    g, spec = _google(ctx), ctx.spec
    students = list(spec.admitted)
    entries = {s.id: ctx.journaled(form_key(s)) for s in students}
    copying: dict[str, Future[dict[str, Any]]] = {}
    copier = ThreadPoolExecutor(1, thread_name_prefix="forms-copy")
    sharer = ThreadPoolExecutor(1, thread_name_prefix="forms-share")
    try:
        if any(e is None for e in entries.values()):
            tagged = g.drive.find_by_app_properties({P_SESSION: spec.code, P_KIND: "form"}, mime_type=FORM_MIME)
            by_ref = {f.get("appProperties", {}).get(P_STUDENT): f for f in tagged}
            for s in students:
                hit = by_ref.get(s.id)
                if entries[s.id] is None and hit is not None:
                    entries[s.id] = ctx.record(form_key(s), Made(hit["id"], {"stage": FormStage.TAGGED}),
                                               created=False)
            if any(e is None for e in entries.values()):
                template_id = _ballot_template(ctx, g)
                for s in students:
                    if entries[s.id] is None:
                        copying[s.id] = copier.submit(_copy_ballot, g, spec, s, template_id)
        _tag_legacy_forms(ctx, g, students, entries)
        sharing: list[Future[Any]] = []
        chunk: list[tuple[str, str]] = []
        voters, grantee = _grantees(spec)
        for s in students:
            if s.id in copying:
                copied = copying[s.id].result()
                entries[s.id] = ctx.record(form_key(s), Made(copied["id"], {"stage": FormStage.TAGGED}), created=True)
            e = entries[s.id]
            assert e is not None
            was_published = e.data.get("stage") == FormStage.PUBLISHED
            _configure_and_publish(ctx, g, spec, s, fresh=s.id in copying)
            e = entries[s.id] = ctx.journaled(form_key(s))
            assert e is not None
            if not was_published and e.data.get("stage") == FormStage.PUBLISHED:
                chunk += [(e.external_id, email) for email in voters if email not in e.data.get("shared", [])]
            if len(chunk) >= SHARE_CHUNK * max(1, len(voters)):
                sharing.append(sharer.submit(_share_and_read_back, g, chunk, grantee))
                chunk = []
        if chunk:
            sharing.append(sharer.submit(_share_and_read_back, g, chunk, grantee))
        by_form = {e.external_id: s for s in students if (e := entries[s.id]) is not None}
        for done in sharing:
            try:
                seen = done.result()
            except Exception as exc:  # what did not stick is sent again below
                logger.warning("sharing voting forms ahead failed: %s", exc)
                continue
            for fid, responders in seen.items():
                if isinstance(responders, GoogleApiError) or fid not in by_form:
                    continue  # read again below
                s = by_form[fid]
                ctx.update_data(form_key(s), shared=sorted(e for e in voters if e in responders), shared_read=True)
                entries[s.id] = ctx.journaled(form_key(s))
    finally:
        copier.shutdown(wait=True, cancel_futures=True)
        sharer.shutdown(wait=True, cancel_futures=True)
    # Only what did not stick (or was never read back) is left for the rounds here.
    _share_forms(ctx, g, students, entries)


def _grantees(spec: SessionSpec) -> tuple[list[str], str]:
    """Who each ballot is shared with, and as what: the voting members one by one, or the session's
    Google Group of them (one grant per form instead of one per member)."""
    if spec.voters_group:
        return [spec.voters_group.lower()], "group"
    return [m.email.lower() for m in spec.voters], "user"


def _share_and_read_back(g: Any, pairs: list[tuple[str, str]], grantee: str = "user") -> dict[str, Any]:
    """Grant a chunk of published forms to the voters and read who may respond (a helper thread;
    Drive's answer to a grant is no proof, see :func:`_share_forms`)."""
    g.drive.share_published(pairs, grantee=grantee)
    return g.drive.published_responders(sorted({fid for fid, _email in pairs}))  # type: ignore[no-any-return]


def _copy_ballot(g: Any, spec: SessionSpec, s: Student, template_id: str) -> dict[str, Any]:
    """One student's form as a copy of the template, tagged in the same call (a helper thread)."""
    doc_title = document_title(spec, s)

    def recover() -> dict[str, Any] | None:
        found = g.drive.find_by_name(doc_title, mime_type=FORM_MIME)
        return found[0] if found else None

    return g.drive.copy_file(template_id, doc_title, {P_SESSION: spec.code, P_STUDENT: s.id, P_KIND: "form"},
                             recover=recover)  # type: ignore[no-any-return]


def _tag_legacy_forms(ctx: StepContext, g: Any, students: Sequence[Student], entries: dict[str, Any]) -> None:
    """Forms an earlier version created empty and did not tag yet: tag them in Drive batches."""
    by_id = {s.id: s for s in students}
    to_tag = {e.external_id: {P_SESSION: ctx.spec.code, P_STUDENT: ref, P_KIND: "form"}
              for ref, e in entries.items() if e is not None and e.data.get("stage") == FormStage.CREATED}
    if not to_tag:
        return
    got = g.drive.set_app_properties(to_tag)
    errors = {fid: r for fid, r in got.items() if isinstance(r, GoogleApiError)}
    for ref, e in entries.items():
        if e is not None and e.external_id in to_tag and e.external_id not in errors:
            ctx.update_data(form_key(by_id[ref]), stage=FormStage.TAGGED)
            entries[ref] = ctx.journaled(form_key(by_id[ref]))
    _fail_on(errors, _("Tagging the voting forms in Drive"))


def _configure_and_publish(ctx: StepContext, g: Any, spec: SessionSpec, s: Student, *, fresh: bool) -> None:
    """Give a tagged form the student's title and text (and, for an empty form an earlier version
    made, the questions), then publish it."""
    e = ctx.journaled(form_key(s))
    assert e is not None
    if e.data.get("stage") == FormStage.TAGGED:
        names = _question_names(spec)
        # The form of the exam's part of the text: the submission link, the written answers' grading time.
        text = {"submission": advance_link(ctx, s), "grading_hours": g.settings.exams.written_grading_hours}
        requests = copy_requests(spec, s, **text)
        configured = False
        if not fresh:
            # Made by an earlier run: it may have been configured just before that run stopped, or
            # be an empty form an earlier version created (then it needs the questions too).
            form = g.forms.get(e.external_id)
            if _is_ballot_of(form, spec, s, **text):
                ctx.update_data(form_key(s), stage=FormStage.CONFIGURED,
                                url=form.get("responderUri", e.data.get("url", "")),
                                questions=_question_ids(form["items"], names))
                configured = True
            elif not form.get("items"):
                requests = form_requests(spec, s, **text)
        if not configured:
            def applied(form_id: str = e.external_id) -> dict[str, Any] | None:
                # The batch is atomic: the student's text present means it was applied before the
                # answer was lost.
                current = g.forms.get(form_id)
                return {"form": current} if _is_ballot_of(current, spec, s, **text) else None

            reply = g.forms.batch_update(e.external_id, requests, include_form=True, recover=applied)
            form = reply.get("form", {})
            # A copy's question IDs are its own (Google does not say they are kept): read them here.
            ctx.update_data(form_key(s), stage=FormStage.CONFIGURED,
                            url=form.get("responderUri") or e.data.get("url", ""),
                            questions=_question_ids(form.get("items", []), names))
        e = ctx.journaled(form_key(s))
        assert e is not None
    if e.data.get("stage") == FormStage.CONFIGURED:
        g.forms.set_publish_state(e.external_id, published=True, accepting=True)
        ctx.update_data(form_key(s), stage=FormStage.PUBLISHED)


def _share_forms(ctx: StepContext, g: Any, students: Sequence[Student], entries: dict[str, Any]) -> None:
    """Share each form with each voting member as a responder (published view), then read every
    form's permissions back and send again what did not stick.

    Drive may drop permission writes on one file that overlap (see DriveClient.share_published), so
    a 200 answer is no proof: ``data["shared"]`` of a form's journal entry lists only the members
    seen in a read of the form's permissions.
    """
    voters, grantee = _grantees(ctx.spec)
    by_form = {entries[s.id].external_id: s for s in students}
    failures: dict[str, GoogleApiError] = {}
    for _round in range(SHARE_ROUNDS):
        pairs = [(fid, email) for fid, s in by_form.items() for email in voters
                 if email not in entries[s.id].data.get("shared", [])]
        # A form whose sharing was never read back (journaled from the grants' answers alone by an
        # earlier version) is read once too.
        unread = {fid for fid, s in by_form.items() if not entries[s.id].data.get("shared_read")}
        if not pairs and not unread:
            return
        got = g.drive.share_published(pairs, grantee=grantee) if pairs else {}
        failures = {f"{fid} {email}": r for (fid, email), r in got.items()
                    if isinstance(r, GoogleApiError) and not r.retryable}
        seen = g.drive.published_responders(sorted({fid for fid, _email in pairs} | unread))
        for fid, responders in seen.items():
            if isinstance(responders, GoogleApiError):
                failures[fid] = responders
                continue
            s = by_form[fid]
            shared = sorted(e for e in voters if e in responders)
            if shared != sorted(entries[s.id].data.get("shared", [])) or not entries[s.id].data.get("shared_read"):
                ctx.update_data(form_key(s), shared=shared, shared_read=True)
                entries[s.id] = ctx.journaled(form_key(s))
        if failures:
            break
    _fail_on(failures, _("Sharing the voting forms with the commission"))
    missing = [(s, email) for s in students for email in voters if email not in entries[s.id].data.get("shared", [])]
    if missing:
        student, email = missing[0]
        raise StepFailed(_("%(count)d voting form share(s) did not take effect in Google Drive after "
                           "%(rounds)d attempts; first: %(member)s on the form of %(student)s. Retry the step.",
                           count=len(missing), rounds=SHARE_ROUNDS, member=email, student=student.name),
                         retryable=True)


# -- grade sheet ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SheetLayout:
    """The grade sheet's columns; kept in the journal so the tally writes into the same places."""

    header: tuple[str, ...]
    ticket_column: int  # 1-based; the decision block starts here
    link_column: int
    voters: tuple[str, ...]  # emails, in column order
    degree: str  # none | open | secret

    @classmethod
    def for_spec(cls, spec: SessionSpec) -> SheetLayout:
        with use_locale(spec.language):
            head = ["№", _("Student ID"), _("Student"), _("Ticket")]
            head += [m.name for m in spec.voters]
            if spec.degree_vote is DegreeVote.OPEN:
                head += [_("%(member)s: degree", member=m.name) for m in spec.voters]
            elif spec.degree_vote is DegreeVote.SECRET:
                head += [_("Degree: for"), _("Degree: against")]
            head += [_("Letter"), _("Points"), _("GPA"), _("Traditional grade")]
            if spec.degree_vote is not DegreeVote.NONE:
                head += [_("Degree decision")]
            head += [_("Voting form")]
        return cls(header=tuple(head), ticket_column=4, link_column=len(head),
                   voters=tuple(m.email for m in spec.voters), degree=spec.degree_vote.value)

    def decision_cells(self, *, ticket: int | str | None, votes: Mapping[str, str],
                       letter: str, points: float | None, gpa: float | None, word: str,
                       degree_votes: Mapping[str, bool] | None = None, degree_for: int = 0,
                       degree_against: int = 0, degree_decision: str = "") -> list[str | int | float | None]:
        """The cells from the ticket column up to (not including) the form link, in column order."""
        cells: list[str | int | float | None] = [ticket if ticket is not None else ""]
        cells += [votes.get(email, "") for email in self.voters]
        if self.degree == "open":
            dv = degree_votes or {}
            cells += [("+" if dv[email] else "−") if email in dv else "" for email in self.voters]
        elif self.degree == "secret":
            cells += [degree_for, degree_against]
        cells += [letter, "" if points is None else points, "" if gpa is None else gpa, word]
        if self.degree != "none":
            cells.append(degree_decision)
        return cells

    def to_json(self) -> dict[str, Any]:
        return {"header": list(self.header), "ticket_column": self.ticket_column,
                "link_column": self.link_column, "voters": list(self.voters), "degree": self.degree}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SheetLayout:
        return cls(header=tuple(data["header"]), ticket_column=int(data["ticket_column"]),
                   link_column=int(data["link_column"]), voters=tuple(data["voters"]),
                   degree=str(data["degree"]))


def sheet_title(spec: SessionSpec) -> str:
    with use_locale(spec.language):
        return _("Grade sheet: %(title)s (%(code)s)", title=spec.title, code=spec.code)


def run_sheet(ctx: StepContext) -> None:
    g, spec = _google(ctx), ctx.spec
    props = {P_SESSION: spec.code, P_KIND: "gradesheet"}

    def find() -> Made | None:
        found = g.drive.find_by_app_properties(props, mime_type=SHEET_MIME)
        return Made(found[0]["id"], {}) if found else None

    def create() -> Made:
        made = g.sheets.create(sheet_title(spec), props,
                               recover=lambda: ({"id": m.external_id} if (m := find()) else None))
        return Made(made["id"], {})

    entry = ctx.ensure("sheets.gradesheet", create, find)
    layout = SheetLayout.for_spec(spec)
    students = list(spec.admitted)
    # A student keeps the row given once: decisions already written there must stay beside their
    # name when a re-import admits someone new (who gets the next free row).
    rows: dict[str, int] = dict(entry.data.get("rows", {}))
    for s in students:
        if s.id not in rows:
            rows[s.id] = max(rows.values(), default=1) + 1
    blocks: list[tuple[int, int, list[list[Any]]]] = [(1, 1, [list(layout.header)])]
    for s in students:
        fe = ctx.journaled(form_key(s))
        link = (fe.data.get("url") or f"https://docs.google.com/forms/d/{fe.external_id}/viewform") if fe else ""
        blocks.append((rows[s.id], 1, [[rows[s.id] - 1, s.id, s.name]]))
        blocks.append((rows[s.id], layout.link_column, [[link]]))
    signature = hashlib.sha256(json.dumps([layout.to_json(), blocks], ensure_ascii=False).encode()).hexdigest()
    if entry.data.get("signature") == signature:
        return  # nothing changed since the last run: no call at all
    sheet_id = entry.external_id
    if not entry.data.get("formatted"):
        tab_id, url = g.sheets.first_sheet(sheet_id)
        with use_locale(spec.language):
            tab = _("Grades")
        g.sheets.format_header(sheet_id, tab_id, title=tab, columns=len(layout.header))
        ctx.update_data("sheets.gradesheet", formatted=True, url=url)
    # Header, identity columns and form links in one values:batchUpdate; the decision columns are
    # left alone so a rerun after voting never wipes a recorded decision.
    g.sheets.write_ranges(sheet_id, blocks)
    ctx.update_data("sheets.gradesheet", signature=signature, rows=rows, layout=layout.to_json())


# -- watches and push -----------------------------------------------------------------------------------

def _due_for_renewal(expiry: str, now: datetime) -> bool:
    moment = _parse_time(expiry)
    return moment is None or moment - now < RENEW_MARGIN


def run_watches(ctx: StepContext) -> None:
    """A RESPONSES watch per form on the configured topic; expiry kept so renewal can run in time."""
    g, spec = _google(ctx), ctx.spec
    topic = g.settings.google.pubsub_topic
    now = ctx.now()
    for s in spec.admitted:
        fe = ctx.journaled(form_key(s))
        if fe is None or fe.data.get("stage") != FormStage.PUBLISHED:
            raise StepFailed(_("The voting form of %(student)s is not ready; run the forms step first.",
                               student=s.name))
        we = ctx.journaled(watch_key(s))
        if we is not None:
            if _due_for_renewal(we.data.get("expireTime", ""), now):
                w = g.renew_watch(fe.external_id, we.external_id, topic)
                ctx.record(watch_key(s), Made(w.watch_id, {"formId": fe.external_id,
                                                            "expireTime": w.expire_time}), created=False)
            else:
                ctx.reused += 1
            continue
        try:
            got = g.forms.create_watch(fe.external_id, topic)
            created = True
        except AlreadyExists:
            # Made by a run that stopped before journaling it: one watch per event type and form.
            got = next((w for w in g.forms.list_watches(fe.external_id) if w.get("eventType") == "RESPONSES"),
                       None)
            if got is None:
                raise
            created = False
        ctx.record(watch_key(s), Made(got["id"], {"formId": fe.external_id,
                                                  "expireTime": got.get("expireTime", "")}), created=created)


def run_push(ctx: StepContext) -> None:
    """The COURSE_WORK_CHANGES registration (answer-sheet turn-ins), with the secretary's grant."""
    g = _google(ctx)
    course_id = _course_id(ctx)
    if g.user_transport is None:
        raise StepFailed(_("Classroom push notifications need the secretary's OAuth grant: set "
                           "google.oauth_token_file (see docs/google-setup.md)."), retryable=False)
    entry = ctx.journaled("classroom.registration")
    if entry is not None and not _due_for_renewal(entry.data.get("expiryTime", ""), ctx.now()):
        ctx.reused += 1
        return
    reg = g.renew_registration(course_id)
    ctx.record("classroom.registration", Made(reg["registrationId"], {
        "expiryTime": reg.get("expiryTime", ""), "courseId": course_id}), created=entry is None)


def google_steps(settings: Any = None) -> list[Step]:
    """The Google part of the provisioning plan, in order."""
    steps: list[tuple[str, Callable[[], str], Callable[[StepContext], None]]] = [
        ("google.classroom.course", lambda: _("Google Classroom course"), run_course),
        ("google.classroom.roster", lambda: _("Classroom roster: commission and students"), run_roster),
        ("google.classroom.posts", lambda: _("Classroom topic and instructions"), run_posts),
        ("google.classroom.advance", lambda: _("Classroom assignment for the files sent before the sitting"),
         run_advance),
        ("google.forms", lambda: _("Voting forms, one per student"), run_forms),
        ("google.sheet", lambda: _("Grade sheet"), run_sheet),
        ("google.watches", lambda: _("Notifications of new votes"), run_watches),
        ("google.classroom.push", lambda: _("Notifications of uploaded answer sheets"), run_push),
    ]
    # The roster and the posts spend Classroom's quota only: they run in a lane of their own beside
    # the Forms-bound steps, once the course exists.  The advance assignment journals each student's
    # submission, so it needs the roster.
    lanes = {"google.classroom.roster": {"lane": "classroom", "after": "google.classroom.course"},
             "google.classroom.posts": {"lane": "classroom", "after": "google.classroom.course"},
             "google.classroom.advance": {"needs": ("google.classroom.roster",)}}
    return [FunctionStep(name, label, fn, **lanes.get(name, {})) for name, label, fn in steps]  # type: ignore[arg-type]

