"""The actor API (docs/sandbox-actor-api.md): students attempting the quiz and submitting, the
observer's view of the state, and the site's configuration switches; with the webhook bodies the
companion plugin would post for what they do."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import MoodleException
from lms_bridge.moodle.sandbox.qbank import default_qbank, transfer_course_categories
from lms_bridge.moodle.sandbox.world import RELEASES, _new_qcat, _next, _now, is_5x


class ActorApi(SandboxBase):
    def _actor_body(self, request: Request) -> dict[str, Any]:
        try:
            data = json.loads(request.get_data() or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise _BadActor("the body must be a JSON object")
        return data

    def _actor(self, fn: Callable[[dict[str, Any], dict[str, Any]], Any], request: Request) -> Response:
        with self.world.lock:
            self.world.refresh()
            try:
                result = fn(self.world.state, self._actor_body(request))
            except _BadActor as exc:
                return self._json({"error": str(exc)}, 400)
            except MoodleException as exc:
                return self._json({"error": exc.body["message"]}, 404)
            self.world.save()
        return self._json(result)

    def view_actor_attempt(self, request: Request, quizid: int) -> Response:
        if self._is_test_quiz(quizid):
            return self._test_actor(request, quizid, "attempt")
        return self._actor(lambda st, body: self._start_attempt(st, quizid, body), request)

    def view_actor_finish(self, request: Request, quizid: int) -> Response:
        if self._is_test_quiz(quizid):
            return self._test_actor(request, quizid, "finish")
        return self._actor(lambda st, body: self._finish_attempt(st, quizid, body), request)

    def view_actor_submit(self, request: Request, assignid: int) -> Response:
        return self._actor(lambda st, body: self._submit(st, assignid, body), request)

    def view_actor_import(self, request: Request, courseid: int) -> Response:
        return self._actor(lambda st, body: self._import(st, courseid, body), request)

    def view_actor_precreate(self, request: Request, quizid: int) -> Response:
        return self._actor(lambda st, body: self._precreate(st, quizid), request)

    def view_actor_transfer(self, request: Request, courseid: int) -> Response:
        def run(st: dict[str, Any], body: dict[str, Any]) -> Any:
            if not is_5x(st):
                raise _BadActor("question banks (mod_qbank) exist from Moodle 5.0: set the release first")
            self._course(st, courseid)
            return transfer_course_categories(st, courseid)

        return self._actor(run, request)

    def view_actor_config(self, request: Request) -> Response:
        def apply(st: dict[str, Any], body: dict[str, Any]) -> Any:
            unknown = set(body) - set(st["config"])
            if unknown:
                raise _BadActor(f"unknown config keys: {', '.join(sorted(unknown))}")
            if "release" in body and body["release"] not in RELEASES:
                raise _BadActor(f"release must be one of {', '.join(RELEASES)}")
            st["config"].update(body)
            return st["config"]

        return self._actor(apply, request)

    def view_actor_state(self, request: Request) -> Response:
        with self.world.lock:
            self.world.refresh()
            return self._json(self.world.state)

    def _student(self, st: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        email = str(body.get("email") or "").lower()
        if not email:
            raise _BadActor("email is required")
        u = next((u for u in st["users"].values() if u["email"].lower() == email), None)
        if u is None:
            raise _BadActor(f"no Moodle user with email {email}")
        return u

    def _start_attempt(self, st: dict[str, Any], quizid: int, body: dict[str, Any]) -> Any:
        quiz = self._quiz(st, quizid)
        user = self._student(st, body)
        mine_enrolments = [e for e in st["enrolments"] if e["courseid"] == quiz["course"] and e["userid"] == user["id"]]
        if not mine_enrolments:
            raise _BadActor(f"{user['email']} is not enrolled in course {quiz['course']}")
        if all(e.get("status") for e in mine_enrolments):
            # A suspended enrolment gives no access to the course (require_login: "You cannot enrol yourself
            # in this course" / not enrolled); the attempt page is never reached.
            raise _BadActor(f"{user['email']} has a suspended enrolment in course {quiz['course']}")
        mine = [a for a in st["attempts"].values() if a["quiz"] == quizid and a["userid"] == user["id"]]
        override = next(
            (o for o in st["overrides"].values() if o["quiz"] == quizid and o["userid"] == user["id"]), None
        )
        # The open/close access rule with the user's override in place of the quiz's own times
        # (quiz_update_effective_access): outside the window the student can neither start nor continue.
        mine_times = override or {}
        opens = mine_times["timeopen"] if mine_times.get("timeopen") is not None else quiz.get("timeopen")
        closes = mine_times["timeclose"] if mine_times.get("timeclose") is not None else quiz.get("timeclose")
        now = _now()
        if (opens and now < opens) or (closes and now > closes):
            raise _BadActor("this quiz is not currently available")
        current = next((a for a in mine if a["state"] == "inprogress"), None)
        if current is not None:
            return self._attempt_view(st, current)
        ready = next((a for a in mine if a["state"] == "notstarted"), None)
        if ready is not None:
            # 5.x: the attempt made ahead of time starts with the question it already holds
            # (quiz_attempt::process_attempt_started, MDL-68806); only now is the ticket drawn for the student.
            ready.update(state="inprogress", timestart=now, timemodified=now)
            cm = st["cms"][str(quiz["coursemodule"])]
            self._emit(self._event(st, "quiz_attempt_started", "\\mod_quiz\\event\\attempt_started", cm, ready["id"],
                                   user, self._attempt_other(st, ready, None, None)))
            return self._attempt_view(st, ready)
        allowed = (override or {}).get("attempts") or quiz["attempts"]
        if allowed and len(mine) >= allowed:
            raise _BadActor("no more attempts are allowed")
        return self._attempt_view(st, self._begin_attempt(st, quiz, user, self._draw(st, quiz)))

    def _begin_attempt(self, st: dict[str, Any], quiz: dict[str, Any], user: dict[str, Any],
                       questionid: int) -> dict[str, Any]:
        """A new attempt holding ``questionid`` in the ticket slot, and its attempt_started event."""
        mine = [a for a in st["attempts"].values() if a["quiz"] == quiz["id"] and a["userid"] == user["id"]]
        now = _now()
        aid = _next(st, "attempt")
        attempt = {
            "id": aid,
            "quiz": quiz["id"],
            "userid": user["id"],
            "attempt": len(mine) + 1,
            "uniqueid": 1000 + aid,
            "state": "inprogress",
            "timestart": now,
            "timefinish": 0,
            "timemodified": now,
            "sumgrades": None,
            "questionid": questionid,
        }
        st["attempts"][str(aid)] = attempt
        cm = st["cms"][str(quiz["coursemodule"])]
        self._emit(
            self._event(
                st,
                "quiz_attempt_started",
                "\\mod_quiz\\event\\attempt_started",
                cm,
                attempt["id"],
                user,
                self._attempt_other(st, attempt, None, None),
            )
        )
        return attempt

    def _draw(self, st: dict[str, Any], quiz: dict[str, Any]) -> int:
        """The question the random ticket slot gives a new attempt."""
        slot = next((s for s in quiz["slots"] if s["type"] == "random"), None)
        if slot is None:
            raise _BadActor("the quiz has no random ticket slot")
        # Hidden questions (a ticket the plugin dropped, a superseded version) are never drawn: Moodle's
        # random question loader takes only the latest version of each entry, and only if it is ready.
        pool = [q for q in st["questions"].values() if q["category"] == slot["categoryid"] and not q.get("hidden")]
        if not pool:
            raise _BadActor("the ticket category has no questions")
        # random_question_loader prefers the least-used question, then picks at random among them.
        used = {q["id"]: 0 for q in pool}
        for a in st["attempts"].values():
            if a.get("questionid") in used:
                used[a["questionid"]] += 1
        least = min(used.values())
        return int(self.rng.choice(sorted(q for q, n in used.items() if n == least)))

    def _precreate(self, st: dict[str, Any], quizid: int) -> Any:
        """5.x's precreate_attempts task for one quiz (mod/quiz/classes/task/precreate_attempts.php): an attempt
        in state ``notstarted`` for every student without one, its question already chosen; no event fires."""
        if not is_5x(st):
            raise _BadActor("attempts made ahead of time (notstarted) exist from Moodle 5.0: set the release first")
        quiz = self._quiz(st, quizid)
        made = []
        for e in sorted(st["enrolments"], key=lambda e: e["userid"]):
            if e["courseid"] != quiz["course"] or e.get("roleid", 5) != 5:
                continue
            if any(a["quiz"] == quizid and a["userid"] == e["userid"] for a in st["attempts"].values()):
                continue
            aid = _next(st, "attempt")
            st["attempts"][str(aid)] = {
                "id": aid, "quiz": quizid, "userid": e["userid"], "attempt": 1, "uniqueid": 1000 + aid,
                "state": "notstarted", "timestart": 0, "timefinish": 0, "timemodified": _now(), "sumgrades": None,
                "questionid": self._draw(st, quiz)}
            made.append(aid)
        return {"attempts": made}

    def _finish_attempt(self, st: dict[str, Any], quizid: int, body: dict[str, Any]) -> Any:
        self._quiz(st, quizid)
        user = self._student(st, body)
        attempt = next(
            (
                a
                for a in st["attempts"].values()
                if a["quiz"] == quizid and a["userid"] == user["id"] and a["state"] == "inprogress"
            ),
            None,
        )
        if attempt is None:
            raise _BadActor("no attempt in progress")
        # 5.x submits (state "submitted", the attempt_submitted event) and grades (state "finished") in two
        # steps of one request (quiz_attempt::process_submit, process_grade_submission); "grading": "pending"
        # stops between them, as a failed grading leaves an attempt.
        pending = body.get("grading") == "pending"
        if pending and not is_5x(st):
            raise _BadActor("the submitted state exists from Moodle 5.0: set the release first")
        now = _now()
        attempt.update(state="submitted" if pending else "finished", timefinish=now, timemodified=now)
        quiz = st["quizzes"][str(quizid)]
        cm = st["cms"][str(quiz["coursemodule"])]
        self._emit(
            self._event(
                st,
                "quiz_attempt_submitted",
                "\\mod_quiz\\event\\attempt_submitted",
                cm,
                attempt["id"],
                user,
                self._attempt_other(st, attempt, user["id"], True),
            )
        )
        return self._attempt_view(st, attempt)

    def _submit(self, st: dict[str, Any], assignid: int, body: dict[str, Any]) -> Any:
        a = self._assign(st, assignid)
        user = self._student(st, body)
        if a.get("nosubmissions"):
            raise _BadActor("this assignment does not accept submissions")
        now = _now()
        sub = next(
            (
                s
                for s in st["submissions"].values()
                if s["assignment"] == assignid and s["userid"] == user["id"]
            ),
            None,
        )
        if sub is None:
            sid = _next(st, "submission")
            sub = {"id": sid, "assignment": assignid, "userid": user["id"], "timecreated": now}
            st["submissions"][str(sid)] = sub
        sub.update(status="submitted", timemodified=now, text=str(body.get("text", "")))
        cm = st["cms"][str(a["cmid"])]
        self._emit(
            self._event(
                st,
                "assign_submitted",
                "\\mod_assign\\event\\assessable_submitted",
                cm,
                sub["id"],
                user,
                {
                    "assignid": assignid,
                    "submissionid": sub["id"],
                    "attemptnumber": 0,
                    "status": sub["status"],
                    "submissiondrafts": bool(a.get("submissiondrafts")),
                    "timemodified": now,
                    "groupid": 0,
                },
            )
        )
        return {"submissionid": sub["id"], "status": sub["status"], "assignmentid": assignid}

    def _import(self, st: dict[str, Any], courseid: int, body: dict[str, Any]) -> Any:
        """What a teacher's "Import > Moodle XML" does with the exported ticket file."""
        import xml.etree.ElementTree as ET

        course = self._course(st, courseid)
        try:
            root = ET.fromstring(str(body.get("xml", "")))  # noqa: S314
        except ET.ParseError as exc:
            raise _BadActor(f"not Moodle XML: {exc}") from None
        cm = st["cms"].get(str(body.get("cmid", "")))
        cat = None
        made = 0
        for q in root.iter("question"):
            if q.get("type") == "category":
                path = (q.findtext("category/text") or "").split("/")
                if path[0] == "$module$":
                    if cm is None or cm["course"] != courseid:
                        raise _BadActor("a $module$ category needs the cmid of an activity of this course")
                    ctx = cm["contextid"]
                elif is_5x(st):
                    # 5.x keeps no category in a course context: the import goes to the course's default
                    # question bank (public/question/format.php create_category_path).
                    ctx = default_qbank(st, course)["contextid"]
                else:
                    ctx = course["contextid"]
                name = path[-1]
                # Under the context's top category, made when missing (question_get_top_category), with the
                # file's idnumber (format.php create_category_path).
                top = next((c for c in st["qcats"].values() if c["contextid"] == ctx and not c.get("parent")),
                           None) or _new_qcat(st, "top", ctx)
                cat = next((c for c in st["qcats"].values() if c["contextid"] == ctx and c["name"] == name
                            and c.get("parent") == top["id"]), None) or _new_qcat(
                    st, name, ctx, top["id"], idnumber=q.findtext("idnumber") or "")
            elif q.get("type") == "essay" and cat is not None:
                qid = _next(st, "question")
                st["questions"][str(qid)] = {"id": qid, "category": cat["id"], "idnumber": q.findtext("idnumber"),
                                             "name": q.findtext("name/text"), "qtype": "essay",
                                             "questiontext": q.findtext("questiontext/text")}
                made += 1
        return {"questions": made, "categoryid": cat["id"] if cat else None}

    def _attempt_view(self, st: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
        q = st["questions"].get(str(attempt.get("questionid")), {})
        return {
            "attemptid": attempt["id"],
            "state": attempt["state"],
            "questionid": q.get("id"),
            "ticket": q.get("idnumber"),
            "name": q.get("name"),
            "questiontext": q.get("questiontext"),
        }

    def _attempt_other(
        self, st: dict[str, Any], attempt: dict[str, Any], submitterid: int | None, online: bool | None
    ) -> dict[str, Any]:
        q = st["questions"].get(str(attempt.get("questionid")), {})
        m = re.fullmatch(r"ticket-(\d+)", q.get("idnumber") or "")
        return {
            "quizid": attempt["quiz"],
            "attempt": attempt["attempt"],
            "state": attempt["state"],
            "timestart": attempt["timestart"],
            "timefinish": attempt["timefinish"],
            "submitterid": submitterid,
            "studentisonline": online,
            "ticket": {"number": int(m.group(1)), "idnumber": q["idnumber"], "questionid": q["id"]}
            if m
            else None,
        }

    def _event(
        self,
        st: dict[str, Any],
        event: str,
        eventname: str,
        cm: dict[str, Any],
        objectid: int,
        user: dict[str, Any],
        other: dict[str, Any],
    ) -> dict[str, Any]:
        """The body of docs/moodle-webhooks.md (schema 1); delivery_id is added by the sender."""
        course = st["courses"][str(cm["course"])]
        return {
            "schema": 1,
            "event": event,
            "eventname": eventname,
            "timestamp": _now(),
            "site": self.site_url,
            "courseid": course["id"],
            "courseidnumber": course.get("idnumber") or "",
            "cmid": cm["id"],
            "userid": user["id"],
            "useridnumber": user.get("idnumber") or "",
            "useremail": user["email"].lower(),
            "objectid": objectid,
            "other": other,
        }


class _BadActor(Exception):
    pass
