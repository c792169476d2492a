"""Idempotent Moodle operations built on :class:`~lms_bridge.moodle.client.MoodleClient`.

Every operation looks before it writes (users by email/idnumber, the course by idnumber, enrolments
by the enrolled-users list, grades by reading them back), so running it again changes nothing.
Facts behind the choices are in /work/shared/docs/moodle-ws.md (ids: quiz functions take the quiz
instance id, assign functions the assignment id, ``core_grades_update_grades`` and
``mod_quiz_add_random_questions`` the cmid).
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lms_bridge.config import MoodleSettings
from lms_bridge.domain.session import Ticket
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.errors import (
    AccessDenied,
    GradeNotSaved,
    GradeOutOfRange,
    InvalidParameter,
    LeftoverCourse,
    MoodleError,
    TemplateCopyFailed,
    TicketCategoryUnknown,
    UserConflict,
    UsersRefused,
)

logger = logging.getLogger(__name__)

TICKET_CATEGORY = "Tickets"
# The Tickets category's idnumber: set by the companion plugin and by the Moodle XML file (xml_export).
TICKET_CATEGORY_IDNUMBER = "lmsbridge-tickets"
# An option of the "Parent category" list in Moodle's "Add a random question" form: "<catid>,<contextid>".
_CATEGORY_OPTION = re.compile(r'<option value="(\d+),(\d+)"[^>]*>([^<]*)</option>')
TICKET_QUIZ_NAME = "Ticket"
# The result assignment's course-module idnumber (set by the companion plugin, and by the administrator in
# the template); a course copy keeps it, while 4.5 backup drops the assignment's ``nosubmissions``.
RESULT_IDNUMBER = "lmsbridge-result"
# Its name as the plugin creates it (en, kk, ru): a copy keeps names too.
# The errorcode of core\message\manager when no processor could send a message (a site without mail).
MESSAGE_NOT_SENT = "Message was not sent."
RESULT_NAMES = frozenset({"commission result", "комиссия шешімі", "решение комиссии"})


@dataclass(frozen=True)
class Person:
    """Someone to have in Moodle: a student (idnumber = university id) or a commission member."""

    email: str
    firstname: str
    lastname: str
    idnumber: str = ""
    # The address as the session file wrote it, when that differs from ``email`` (lower-cased):
    # Moodle compares e-mails case-sensitively, so a lookup tries this spelling too.
    written: str = ""

    @classmethod
    def from_name(cls, name: str, email: str, idnumber: str = "") -> Person:
        written = email if email != email.lower() else ""
        # Kazakh/Russian full names are "Surname Given [Patronymic]".
        parts = name.split()
        if len(parts) >= 2:
            return cls(email.lower(), " ".join(parts[1:]), parts[0], idnumber, written)
        return cls(email.lower(), name or email, "-", idnumber, written)


def username_for(email: str) -> str:
    """Moodle usernames are lowercase and limited to [a-z0-9_.@-] (PARAM_USERNAME)."""
    return re.sub(r"[^a-z0-9_.@-]", "", email.strip().lower())


# What an attempt's state means for the student's status (mod/quiz/classes/quiz_attempt.php constants).
# 5.0 adds two states, which only mod_quiz_get_user_quiz_attempts reports truly (the deprecated
# mod_quiz_get_user_attempts gives "finished" for submitted and "inprogress" for notstarted):
# ``notstarted`` is an attempt Moodle made ahead of time (the quiz's precreateattempts setting), before the
# student opened it, so nobody has drawn anything yet; ``submitted`` is handed in and awaiting grading.
ATTEMPT_SUBMITTED_STATES = frozenset({"submitted", "finished"})
ATTEMPT_STARTED_STATES = frozenset({"inprogress", "overdue", "abandoned"})


def attempt_event(state: str) -> str | None:
    """The webhook event a polled attempt stands for, or None when the student has not started it."""
    if state in ATTEMPT_SUBMITTED_STATES:
        return "quiz_attempt_submitted"
    if state in ATTEMPT_STARTED_STATES:
        return "quiz_attempt_started"
    return None


@dataclass(frozen=True)
class ResumePlan:
    """A quiz override that lets a disconnected student continue the same attempt."""

    timelimit: int
    timeclose: int
    attempts: int


def plan_resume(
    *,
    timelimit: int,
    timestart: int,
    time_used: int,
    now: int,
    window_end: int,
    attempts_used: int,
    attempts_allowed: int,
    attempt_open: bool,
) -> ResumePlan:
    """Override values so the student gets back exactly the time they had left.

    Moodle times an attempt from ``timestart`` to ``timestart + timelimit``.  The minutes lost while
    disconnected (wall time since the start minus the time used) are added to the limit; the quiz
    must close no later than the allowed window (the same day) and no earlier than the new deadline.
    """
    if timelimit <= 0:
        raise ValueError("the quiz has no time limit, so there is nothing to give back")
    remaining = timelimit - time_used
    if remaining <= 0:
        raise ValueError("the student has used all of the time allowed")
    if attempt_open:
        new_limit = (now - timestart) + remaining
        attempts = attempts_allowed
    else:
        # The attempt was submitted or abandoned: a new one gets the remaining time only.
        new_limit = remaining
        attempts = attempts_used + 1
    deadline = now + remaining
    if deadline > window_end:
        raise ValueError("the remaining time does not fit in the allowed window")
    return ResumePlan(timelimit=max(new_limit, 60), timeclose=window_end, attempts=attempts)


class MoodleOps:
    """The operations the provisioning steps and jobs use."""

    def __init__(self, client: MoodleClient, settings: MoodleSettings) -> None:
        self.client = client
        self.settings = settings

    # -- users -------------------------------------------------------------------------------------
    def users_by(self, field: str, values: Iterable[str]) -> list[dict[str, Any]]:
        """Users whose ``field`` is one of ``values``; for ``email`` in any case.

        A real Moodle compares e-mails exactly here, so an address not found as given is looked up again
        ignoring case, one by one, when the service offers ``core_user_get_users``.

        :calls: core_user_get_users_by_field (chunked), core_user_get_users (e-mails not found)
        """
        vals = sorted({v for v in values if v})
        if not vals:
            return []
        out: list[dict[str, Any]] = []
        for chunk in self.client.chunks("values", vals, {"field": field}):
            out.extend(
                self.client.call("core_user_get_users_by_field", {"field": field, "values": chunk}) or []
            )
        if field == "email" and self.client.has("core_user_get_users"):
            seen = {str(u.get("email", "")).lower() for u in out}
            for email in sorted({v.lower() for v in vals} - seen):
                user = self.user_by_email_any_case(email)
                if user is not None:
                    out.append(user)
                    seen.add(email)
        return out

    def user_by_email_any_case(self, email: str) -> dict[str, Any] | None:
        """The account whose e-mail equals ``email`` ignoring case, or None.

        ``core_user_get_users_by_field`` compares e-mails exactly on a real Moodle (a ``Mixed.X@uni.kz``
        account is not found as ``mixed.x@uni.kz``); ``core_user_get_users`` searches with a
        case-insensitive LIKE.  ``_`` and ``%`` are LIKE wildcards there, hence the exact check below.

        :calls: core_user_get_users (criteria email)
        """
        data = self.client.call("core_user_get_users", {"criteria": [{"key": "email", "value": email}]}) or {}
        return next((u for u in data.get("users", []) if str(u.get("email", "")).lower() == email.lower()), None)

    def find_users(self, people: Sequence[Person]) -> tuple[dict[str, dict[str, Any]], dict[str, UserConflict]]:
        """Existing Moodle users, by e-mail (any case) and by ID number; and the people whose two
        lookups disagree, which are never taken for one another (nor created: their e-mail is taken):

        * ``emailtaken``: the e-mail belongs to a user with another ID number;
        * ``idnumbertaken``: a user has the person's ID number but another e-mail (a namesake, or an
          address changed on one side only: a person decides which).

        A university's Moodle already has its students and staff (often with single sign-on); they
        are found, never duplicated.

        :calls: core_user_get_users_by_field (email, idnumber), core_user_get_users (e-mails in other case)
        """
        spellings = [p.email for p in people] + [p.written for p in people if p.written]
        by_email = {u["email"].lower(): u for u in self.users_by("email", spellings)}
        by_idnumber = {
            u.get("idnumber", ""): u for u in self.users_by("idnumber", [p.idnumber for p in people])
        }
        found: dict[str, dict[str, Any]] = {}
        conflicts: dict[str, UserConflict] = {}
        for p in people:
            user = by_email.get(p.email)
            twin = by_idnumber.get(p.idnumber) if p.idnumber else None
            if user is not None:
                other = user.get("idnumber") or ""
                if p.idnumber and other and other != p.idnumber:
                    conflicts[p.email] = UserConflict(
                        "email taken by a user with another idnumber", errorcode="emailtaken",
                        function="core_user_get_users_by_field", email=p.email,
                        username=user.get("username", ""), other_idnumber=other, idnumber=p.idnumber)
                    continue
                found[p.email] = user
            elif twin is not None:
                conflicts[p.email] = UserConflict(
                    "idnumber taken by a user with another email", errorcode="idnumbertaken",
                    function="core_user_get_users_by_field", email=p.email, username=twin.get("username", ""),
                    other_email=str(twin.get("email", "")).lower(), idnumber=p.idnumber)
        return found, conflicts

    def match_users(self, people: Sequence[Person]) -> dict[str, dict[str, Any]]:
        """Existing Moodle users by email (any case); any disagreement (see :meth:`find_users`) is an error."""
        found, conflicts = self.find_users(people)
        for conflict in conflicts.values():
            raise conflict
        return found

    def create_users(self, people: Sequence[Person]) -> dict[str, int]:
        """:calls: core_user_create_users (chunked; each chunk is one Moodle transaction)"""
        # "manual": Moodle makes a password and e-mails it (changed at first sign-in).  "oauth2": the
        # person signs in with Google; no password, and never createpassword, which would also force a
        # password change (auth_forcepasswordchange) on someone who has no Moodle password to change.
        auth = self.settings.new_user_auth
        signin: dict[str, Any] = {"auth": "manual", "createpassword": True} if auth == "manual" else {"auth": auth}
        users = [
            {
                "username": username_for(p.email),
                **signin,
                "firstname": p.firstname,
                "lastname": p.lastname,
                "email": p.email,
                **({"idnumber": p.idnumber} if p.idnumber else {}),
            }
            for p in people
        ]
        by_username = {username_for(p.email): p.email for p in people}
        created: dict[str, int] = {}
        refused: list[str] = []

        def keep(made: Any) -> None:
            for m in made or []:
                created[by_username[m["username"]]] = int(m["id"])

        for chunk in self.client.chunks("users", users):
            try:
                keep(self.client.call("core_user_create_users", {"users": chunk}))
            except InvalidParameter:
                # One taken address or name rolls the whole chunk back, and Moodle does not say which
                # (debugging off): create them one by one so the others are not held back.
                for one in chunk:
                    try:
                        keep(self.client.call("core_user_create_users", {"users": [one]}))
                    except InvalidParameter:
                        refused.append(by_username[one["username"]])
        if refused:
            raise UsersRefused("users refused", errorcode="invalidparameter", function="core_user_create_users",
                               created=created, refused=tuple(refused))
        return created

    def ensure_users(self, people: Sequence[Person]) -> dict[str, int]:
        found = self.match_users(people)
        missing = [p for p in people if p.email not in found]
        ids = {email: int(u["id"]) for email, u in found.items()}
        if missing:
            ids.update(self.create_users(missing))
        return ids

    # -- courses -----------------------------------------------------------------------------------
    def find_course(self, idnumber: str, shortname: str | None = None) -> dict[str, Any] | None:
        """By idnumber; then by short name (unique in Moodle) for a copy whose idnumber could not be set.

        The bridge gives a session's course the session code as both, so ``shortname`` defaults to it.

        :calls: core_course_get_courses_by_field (field=idnumber, then field=shortname)
        """
        data = self.client.call("core_course_get_courses_by_field", {"field": "idnumber", "value": idnumber})
        courses = [c for c in (data or {}).get("courses", []) if c.get("idnumber") == idnumber]
        shortname = idnumber if shortname is None else shortname
        if not courses and shortname:
            data = self.client.call("core_course_get_courses_by_field", {"field": "shortname", "value": shortname})
            courses = [c for c in (data or {}).get("courses", []) if c.get("shortname") == shortname
                       and c.get("idnumber", "") in ("", idnumber)]
            for c in courses:
                # Only a copy can leave an empty course behind; without a template an empty course with
                # the session's short name is simply the course to fill.
                if self.settings.template_course_id and not c.get("idnumber") and self._is_leftover(c):
                    raise LeftoverCourse("empty course without idnumber", errorcode="leftovercourse",
                                         function="core_course_duplicate_course", courseid=int(c["id"]),
                                         shortname=shortname)
        return courses[0] if courses else None

    def _is_leftover(self, course: dict[str, Any]) -> bool:
        """An empty course: what a copy that failed its backup pre-check leaves behind on Moodle 4.5
        (requested short name, no idnumber, hidden, no sections at all).  A real copy whose idnumber could
        not be set has the template's activities, and is adopted.

        :calls: core_course_get_contents
        """
        if not self.client.has("core_course_get_contents"):
            return int(course.get("visible", 1)) == 0
        sections = self.client.call("core_course_get_contents", {
            "courseid": int(course["id"]), "options": [{"name": "excludecontents", "value": "1"}]}) or []
        return not any(section.get("modules") for section in sections)

    def create_course(
        self, *, idnumber: str, fullname: str, shortname: str, startdate: int = 0
    ) -> dict[str, Any]:
        """Duplicate the template course when one is configured, else create an empty course.

        :calls: core_course_duplicate_course + core_course_update_courses, or core_course_create_courses
        """
        category = self.settings.category_id
        if self.settings.template_course_id:
            try:
                made = self.client.call(
                    "core_course_duplicate_course",
                    {
                        "courseid": self.settings.template_course_id,
                        "fullname": fullname,
                        "shortname": shortname,
                        "categoryid": category,
                        "visible": 1,
                        # Activities and the question bank, but nobody from the template ("users" = 0
                        # leaves out enrolments too; 4.5 has no backup setting "enrolments" and refuses
                        # the whole copy with setting_by_name_not_found when it is named).
                        "options": [
                            {"name": "activities", "value": 1},
                            {"name": "blocks", "value": 1},
                            {"name": "filters", "value": 1},
                            {"name": "users", "value": 0},
                        ],
                    },
                )
            except TemplateCopyFailed as exc:
                exc.extra["template"] = self.settings.template_course_id
                raise
            # The duplicate cannot take an idnumber; set it at once so a rerun finds the course by it
            # (without core_course_update_courses in the service, the rerun finds it by short name).
            if self.client.has("core_course_update_courses"):
                out = self.client.call("core_course_update_courses", {"courses": [
                    {"id": int(made["id"]), "idnumber": idnumber, **({"startdate": startdate} if startdate else {})}]})
                for w in (out or {}).get("warnings", []):
                    raise MoodleError(str(w.get("message", "")), errorcode=str(w.get("warningcode", "")),
                                      function="core_course_update_courses")
            return {"id": int(made["id"]), "shortname": made["shortname"]}
        made = self.client.call(
            "core_course_create_courses",
            {
                "courses": [
                    {
                        "fullname": fullname,
                        "shortname": shortname,
                        "categoryid": category,
                        "idnumber": idnumber,
                        **({"startdate": startdate} if startdate else {}),
                    }
                ]
            },
        )
        return {"id": int(made[0]["id"]), "shortname": made[0]["shortname"]}

    # -- enrolments --------------------------------------------------------------------------------
    def enrolled_roles(self, courseid: int) -> dict[int, set[int]]:
        """:calls: core_enrol_get_enrolled_users"""
        users = (
            self.client.call(
                "core_enrol_get_enrolled_users",
                {"courseid": courseid, "options": [{"name": "userfields", "value": "id,roles"}]},
            )
            or []
        )
        return {int(u["id"]): {int(r["roleid"]) for r in u.get("roles", [])} for u in users}

    def enrol(self, courseid: int, user_roles: Sequence[tuple[int, int]], *, suspend: bool = False) -> None:
        """Manual enrolment; Moodle updates an existing one, so repeating is harmless.

        ``suspend``: the enrolment stays (with its history: attempts, grades) but gives no access to
        the course; enrolling again without it restores the access (``enrol_manual_enrol_users`` sets
        the status of an existing enrolment from ``suspend``, enrol/manual/externallib.php).

        :calls: enrol_manual_enrol_users (chunked)
        """
        # Without "suspend" Moodle makes the enrolment active: that is how a re-admission restores it.
        items = [{"roleid": role, "userid": uid, "courseid": courseid, **({"suspend": 1} if suspend else {})}
                 for uid, role in user_roles]
        if not items:
            return
        try:
            self.client.call_batched("enrol_manual_enrol_users", "enrolments", items)
        except MoodleError as exc:
            if exc.errorcode != MESSAGE_NOT_SENT:
                raise
            # Moodle commits the enrolments, then fails sending the course welcome message on a site
            # that cannot send mail (captured enrol_manual_enrol_users__message_not_sent).  Carry on
            # when every enrolment is there (call_batched stops at the failing chunk: enrol the rest).
            enrolled = self.enrolled_roles(courseid)
            missing = [i for i in items if i["roleid"] not in enrolled.get(i["userid"], set())]
            if missing:
                if len(missing) == len(items):
                    raise
                self.enrol(courseid, [(i["userid"], i["roleid"]) for i in missing], suspend=suspend)
            logger.warning("Moodle could not send the course welcome message (%s); the enrolments are in place",
                           exc.errorcode)

    # -- activities --------------------------------------------------------------------------------
    def quizzes(self, courseid: int) -> list[dict[str, Any]]:
        """:calls: mod_quiz_get_quizzes_by_courses"""
        data = self.client.call("mod_quiz_get_quizzes_by_courses", {"courseids": [courseid]})
        return [q for q in (data or {}).get("quizzes", []) if int(q.get("course", courseid)) == courseid]

    def assignments(self, courseid: int) -> list[dict[str, Any]]:
        """:calls: mod_assign_get_assignments (includenotenrolledcourses=1: the service user is not enrolled)"""
        data = self.client.call(
            "mod_assign_get_assignments", {"courseids": [courseid], "includenotenrolledcourses": True}
        )
        return [
            a for c in (data or {}).get("courses", []) if int(c["id"]) == courseid for a in c["assignments"]
        ]

    def ticket_quiz(self, courseid: int) -> dict[str, Any] | None:
        quizzes = self.quizzes(courseid)
        named = [q for q in quizzes if q["name"].strip().lower() == TICKET_QUIZ_NAME.lower()]
        candidates = named or quizzes
        return candidates[0] if candidates else None

    def result_assignment(self, courseid: int) -> dict[str, Any] | None:
        """The dedicated "Commission result" assignment, found by what a course copy keeps.

        By its course-module idnumber ``lmsbridge-result``, then by its name; "accepts no submissions"
        only for a course that was not copied (4.5 backup does not carry ``nosubmissions``: in a copy
        every assignment accepts submissions, and the first one would be taken for the result).

        :calls: mod_assign_get_assignments, core_course_get_course_module (one per assignment)
        """
        return self._result_of(self.assignments(courseid))

    def _result_of(self, assigns: list[dict[str, Any]]) -> dict[str, Any] | None:
        if self.client.has("core_course_get_course_module"):
            for a in assigns:
                cm = (self.client.call("core_course_get_course_module", {"cmid": int(a["cmid"])}) or {}).get("cm", {})
                if cm.get("idnumber") == RESULT_IDNUMBER:
                    return a
        named = [a for a in assigns if " ".join(str(a.get("name", "")).split()).lower() in RESULT_NAMES]
        if named:
            return named[0]
        return next((a for a in assigns if int(a.get("nosubmissions", 0)) == 1), None)

    def submission_assignment(self, courseid: int) -> dict[str, Any] | None:
        """The assignment students answer in: one that accepts submissions and is not the result."""
        assigns = self.assignments(courseid)
        result = self._result_of(assigns)
        return next((a for a in assigns if int(a.get("nosubmissions", 0)) == 0
                     and (result is None or a["id"] != result["id"])), None)

    def module_contextid(self, courseid: int, cmid: int) -> int:
        """:calls: core_course_get_contents"""
        sections = (
            self.client.call(
                "core_course_get_contents",
                {"courseid": courseid, "options": [{"name": "excludecontents", "value": "1"}]},
            )
            or []
        )
        for section in sections:
            for mod in section.get("modules", []):
                if int(mod["id"]) == cmid:
                    return int(mod["contextid"])
        raise MoodleError(
            f"course module {cmid} is not in course {courseid}",
            errorcode="invalidcoursemodule",
            function="core_course_get_contents",
        )

    # -- tickets -----------------------------------------------------------------------------------
    def add_ticket_slot(
        self,
        quiz: dict[str, Any],
        *,
        categoryid: int | None = None,
        courseid: int | None = None,
        top_categoryid: int | None = None,
        import_file: str = "",
    ) -> bool:
        """Add the single random ticket slot unless the quiz already has questions (idempotent).

        Into the category ``categoryid``; else into a new "Tickets" category under ``top_categoryid``,
        the top question category of the quiz's context.  ``parentcategory = 0`` would make "Tickets" a
        second top category, after which Moodle can no longer back up or copy the course (its backup
        pre-check fails), and no core web-service function tells the top category's id: without either
        id this raises :class:`TicketCategoryUnknown` with what the secretary does instead.

        :calls: mod_quiz_add_random_questions (cmid!)
        """
        if int(quiz.get("hasquestions", 0)):
            return False
        params: dict[str, Any] = {"cmid": int(quiz["coursemodule"]), "addonpage": 1, "randomcount": 1}
        if categoryid:
            params["filtercondition"] = json.dumps(
                {
                    "filter": {
                        "category": {
                            "jointype": 1,
                            "values": [categoryid],
                            "filteroptions": {"includesubcategories": False},
                        }
                    }
                }
            )
        elif top_categoryid:
            # "Tickets" in the quiz's own bank, under its top category, made together with the slot.
            ctx = self.module_contextid(courseid or int(quiz["course"]), int(quiz["coursemodule"]))
            params.update(newcategory=TICKET_CATEGORY, parentcategory=f"{int(top_categoryid)},{ctx}")
        else:
            raise TicketCategoryUnknown("the top question category of the quiz is unknown",
                                        errorcode="ticketcategoryunknown",
                                        function="mod_quiz_add_random_questions",
                                        quiz=str(quiz.get("name", "")), path=import_file)
        self.client.call("mod_quiz_add_random_questions", params)
        return True

    def ticket_category(self, quiz: dict[str, Any], *, courseid: int | None = None) -> dict[str, int] | None:
        """The Tickets category the Moodle XML import made for the quiz: ``{"id", "contextid", "questions"}``.

        No core function lists question categories or returns the quiz's top category (4.5, 5.1).  The form
        behind the quiz editing page's "Add a random question" dialog does: ``core_get_fragment`` renders it
        (``mod_quiz_output_fragment_add_random_question_form`` in mod/quiz/lib.php), and its "Parent category"
        list names every category of the quiz's question bank as ``<option value="<id>,<contextid>">`` with
        the name, ``[idnumber]`` and the number of questions.  The file's category carries the idnumber
        ``lmsbridge-tickets``.  None when the service lacks ``core_get_fragment`` or the import was not done.

        :calls: core_course_get_contents (the quiz's context), core_get_fragment
        """
        if not self.client.has("core_get_fragment"):
            return None
        cmid = int(quiz["coursemodule"])
        ctx = self.module_contextid(courseid or int(quiz["course"]), cmid)
        # 4.5 reads cmid; 5.x quizcmid and bankcmid (the bank shown: the quiz's own).
        try:
            out = self.client.call("core_get_fragment", {
                "component": "mod_quiz", "callback": "add_random_question_form", "contextid": ctx,
                "args": [{"name": name, "value": str(cmid)} for name in ("cmid", "quizcmid", "bankcmid")]}) or {}
        except MoodleError as exc:
            # A page Moodle renders for its own dialog, not a published contract: when a site refuses it, the
            # secretary adds the random question by hand (TicketCategoryUnknown says how).
            logger.warning("core_get_fragment refused (%s); the ticket category cannot be read", exc.errorcode)
            return None
        found: list[dict[str, int]] = []
        for catid, contextid, label in _CATEGORY_OPTION.findall(str(out.get("html") or "")):
            text = html.unescape(label).strip()
            if f"[{TICKET_CATEGORY_IDNUMBER}]" not in text:
                continue
            count = re.search(r"\((\d+)\)$", text)
            found.append({"id": int(catid), "contextid": int(contextid),
                          "questions": int(count.group(1)) if count else 0})
        # The quiz's own bank first; the list may repeat a category (one list per form element).
        found.sort(key=lambda c: (c["contextid"] != ctx, c["id"]))
        return next((c for c in found if c["questions"] > 0), None)

    def setup_tickets_plugin(self, courseid: int, tickets: Sequence[Ticket], *, timelimit: int = 0,
                             ) -> dict[str, Any]:
        """Quiz, "Tickets" category, one essay question per ticket and one random slot, in one call.

        Idempotent on the plugin side (tickets missing from the list are hidden, changed ones versioned).

        :calls: local_lmsbridge_setup_tickets
        """
        return dict(self.client.call("local_lmsbridge_setup_tickets", {
            "courseid": courseid, "quizname": TICKET_QUIZ_NAME, "timelimit": timelimit,
            "tickets": [{"number": t.number, "name": f"Ticket {t.number}", "questions": list(t.questions)}
                        for t in tickets]}))

    def drawn_tickets(self, quizid: int, userid: int = 0) -> list[dict[str, Any]]:
        """Which ticket each attempt drew (companion plugin).

        :calls: local_lmsbridge_get_drawn_tickets
        """
        data = self.client.call("local_lmsbridge_get_drawn_tickets", {"quizid": quizid, "userid": userid})
        return list((data or {}).get("attempts", []))

    def open_ticket(self, quizid: int, userid: int, ticket: int, *, timeopen: int, timeclose: int,
                    ) -> dict[str, Any]:
        """Open the closed ticket quiz for one admitted student (a user override from ``timeopen`` to
        ``timeclose``) and start the student's attempt with exactly ``ticket`` (companion plugin).

        Idempotent: the same student and ticket again return the attempt already started; an attempt
        with another ticket is refused by the plugin (``ticketmismatch``), never replaced.

        :calls: local_lmsbridge_open_ticket
        """
        return dict(self.client.call("local_lmsbridge_open_ticket", {
            "quizid": quizid, "userid": userid, "ticketnumber": ticket,
            "timeopen": timeopen, "timeclose": timeclose}))

    def ensure_result_assignment_plugin(self, courseid: int, *, grademax: int = 100) -> dict[str, Any]:
        """The "Commission result" assignment (companion plugin, idempotent by cm idnumber).

        :calls: local_lmsbridge_ensure_result_assignment
        """
        # With marking workflow, as the template course's result assignment: a decision saved in
        # "readyforrelease" stays out of the gradebook and hidden from the student until the chair's
        # release sets "released" (mod/assign/locallib.php ASSIGN_MARKING_WORKFLOW_STATE_*).
        return dict(self.client.call("local_lmsbridge_ensure_result_assignment", {
            "courseid": courseid, "grademax": grademax, "markingworkflow": True}))

    # -- attempts, submissions, overrides ----------------------------------------------------------
    def attempts(self, quizid: int, userid: int) -> list[dict[str, Any]]:
        """All attempts of one user, in progress included (the default would drop them).

        Through ``mod_quiz_get_user_quiz_attempts`` where the service offers it (5.x: true states), else
        the 4.5 ``mod_quiz_get_user_attempts`` (same parameters and attempt fields).

        :calls: mod_quiz_get_user_quiz_attempts or mod_quiz_get_user_attempts (status=all)
        """
        data = self.client.call(
            self.client.pick("mod_quiz_get_user_attempts"),
            {"quizid": quizid, "userid": userid, "status": "all", "includepreviews": False},
        )
        return list((data or {}).get("attempts", []))

    def submissions(self, assignmentid: int, since: int = 0) -> list[dict[str, Any]]:
        """:calls: mod_assign_get_submissions"""
        data = self.client.call(
            "mod_assign_get_submissions", {"assignmentids": [assignmentid], "since": since}
        )
        return [
            s
            for a in (data or {}).get("assignments", [])
            if int(a["assignmentid"]) == assignmentid
            for s in a.get("submissions", [])
        ]

    def resume_after_disconnect(self, quiz: dict[str, Any], userid: int, *, time_used: int, now: int,
                                window_end: int, override_id: int | None = None) -> int:
        """Save (or update) the user's quiz override so they continue with the time they had left.

        :calls: mod_quiz_get_user_attempts, mod_quiz_get_overrides, mod_quiz_save_overrides
        """
        attempts = self.attempts(int(quiz["id"]), userid)
        last = max(attempts, key=lambda a: int(a.get("attempt", 0)), default=None)
        plan = plan_resume(
            timelimit=int(quiz.get("timelimit") or 0),
            timestart=int(last["timestart"]) if last else now,
            time_used=time_used,
            now=now,
            window_end=window_end,
            attempts_used=len(attempts),
            attempts_allowed=int(quiz.get("attempts") or 0),
            attempt_open=bool(last and last.get("state") in ("inprogress", "overdue")),
        )
        mine: dict[str, Any] | None = {"id": override_id} if override_id else None
        if self.client.has("mod_quiz_get_overrides"):
            existing = self.client.call("mod_quiz_get_overrides", {"quizid": int(quiz["id"])}) or {}
            mine = next((o for o in existing.get("overrides", []) if o.get("userid") == userid), None)
        override = {
            "userid": userid,
            "timeclose": plan.timeclose,
            "timelimit": plan.timelimit,
            "attempts": plan.attempts,
        }
        if mine is not None:
            override["id"] = int(mine["id"])
        out = self.client.call(
            "mod_quiz_save_overrides", {"data": {"quizid": int(quiz["id"]), "overrides": [override]}}
        )
        return int(out["ids"][0])

    # -- grades ------------------------------------------------------------------------------------
    def assign_grade(self, assignmentid: int, userid: int) -> float | None:
        """:calls: mod_assign_get_grades"""
        data = self.client.call("mod_assign_get_grades", {"assignmentids": [assignmentid]}) or {}
        for a in data.get("assignments", []):
            for g in a.get("grades", []):
                if int(g["userid"]) == userid and str(g.get("grade", "")).strip() not in ("", "-1.00000"):
                    return float(g["grade"])
        return None

    def save_decision(
        self,
        courseid: int,
        userid: int,
        grade: float,
        *,
        feedback: str = "",
        assignment: dict[str, Any] | None = None,
        release: bool = True,
    ) -> str:
        """Write the commission's decision; returns "unchanged", "assign", "gradebook" or "draft".

        ``release=False`` writes a draft the student cannot see: the result assignment's marking
        workflow state "readyforrelease" (Moodle: with marking workflow, grades reach the gradebook
        and the student only in the state "released").  Without marking workflow, or without
        ``mod_assign_save_grade``, a grade would be visible at once, so nothing is written before the
        release ("kept").

        Prefers the dedicated result assignment (``mod_assign_save_grade``, released under marking
        workflow) and reads the grade back, because Moodle ignores a grade above the maximum without
        an error.  Falls back to ``core_grades_update_grades`` on the same activity when the service
        cannot save assignment grades.
        """
        assignment = assignment or self.result_assignment(courseid)
        if assignment is None:
            raise MoodleError(
                "no result assignment", errorcode="noresultassignment", function="mod_assign_get_assignments"
            )
        # Accept both mod_assign_get_assignments rows and local_lmsbridge_ensure_result_assignment results.
        grademax = float(assignment.get("grade") or assignment.get("grademax") or 0)
        item = str(assignment.get("name") or "Commission result")
        if grademax <= 0 or not 0 <= grade <= grademax:
            raise GradeOutOfRange(
                "grade outside the item's range",
                errorcode="gradeoutofrange",
                function="mod_assign_save_grade",
                grade=grade,
                grademin=0,
                grademax=grademax,
                item=item,
            )
        aid = int(assignment.get("assignid") or assignment["id"])
        readback = self.client.has("mod_assign_get_grades")
        workflowed = bool(int(assignment.get("markingworkflow", 0)))
        if not release and not (workflowed and self.client.has("mod_assign_save_grade")):
            return "kept"
        if self.client.has("mod_assign_save_grade"):
            # Under marking workflow the same grade may still wait in "readyforrelease": save it again.
            if readback and not workflowed and self.assign_grade(aid, userid) == grade:
                return "unchanged"
            workflow = ("released" if release else "readyforrelease") if workflowed else ""
            try:
                # The feedback field always goes, empty or not: a re-grade without it, once feedback
                # exists, fails on 4.5 (dml_write_exception, a null comment format) and keeps the old grade.
                self.client.call("mod_assign_save_grade", {
                    "assignmentid": aid, "userid": userid, "grade": grade, "attemptnumber": -1,
                    "addattempt": False, "workflowstate": workflow, "applytoall": False,
                    "plugindata": {"assignfeedbackcomments_editor": {"text": feedback, "format": 1}}})
            except AccessDenied as exc:
                # e.g. no mod/assign:releasegrades: the gradebook path below may still be allowed.
                logger.warning("mod_assign_save_grade refused (%s); writing the gradebook directly", exc.errorcode)
            else:
                if readback:
                    found = self.assign_grade(aid, userid)
                    if found is None or abs(found - grade) > 1e-6:
                        raise GradeNotSaved("grade not stored", errorcode="gradenotsaved",
                                            function="mod_assign_save_grade", userid=userid,
                                            found="-" if found is None else found)
                return "assign" if release else "draft"
            if not release:
                return "kept"  # the gradebook path below would show the grade at once
        status = self.client.call(
            "core_grades_update_grades",
            {
                "source": "lms_bridge",
                "courseid": courseid,
                "component": "mod_assign",
                "activityid": int(assignment["cmid"]),
                "itemnumber": 0,
                "grades": [{"studentid": userid, "grade": grade}],
            },
        )
        if int(status or 0) != 0:
            # 1 FAILED, 2 MULTIPLE, 4 LOCKED (lib/gradelib.php GRADE_UPDATE_*).
            raise GradeNotSaved(
                f"core_grades_update_grades returned {status}",
                errorcode=f"gradeupdate{status}",
                function="core_grades_update_grades",
                userid=userid,
                found=f"status {status}",
            )
        return "gradebook"


__all__ = [
    "ATTEMPT_STARTED_STATES",
    "ATTEMPT_SUBMITTED_STATES",
    "RESULT_IDNUMBER",
    "TICKET_CATEGORY",
    "TICKET_CATEGORY_IDNUMBER",
    "TICKET_QUIZ_NAME",
    "MoodleOps",
    "Person",
    "ResumePlan",
    "attempt_event",
    "plan_resume",
    "username_for",
]
