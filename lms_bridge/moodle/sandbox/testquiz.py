"""The test exam's quiz: ``local_lmsbridge_setup_test_quiz`` (local_lmsbridge/classes/testquiz.php) and a
student's attempt at it through the actor API.

What Moodle 4.5 does and the sandbox keeps (mod/quiz, quiz_settings and the override manager):

- a user override's ``timeopen``/``timeclose``/``timelimit``/``attempts`` replace the quiz's for that
  student (``quiz_update_effective_access``); the quiz itself is closed to everyone (``timeclose`` in
  the past), so only an admitted student with an override can start;
- an attempt ends at ``timestart + timelimit`` (the limit in force when it is read, so an override
  saved during the attempt moves the end), or at ``timeclose`` if earlier (``quiz_attempt::get_due_date``);
- ``overduehandling = autosubmit``: an attempt past its end is submitted with what was saved
  (cron's ``update_overdue_attempts``, every minute; the sandbox does it whenever the attempt is read);
- ``sumgrades`` of a finished attempt is the sum of the marks of its slots answered right (each random
  slot carries ``maxmark`` = the mark per question).

The sandbox's clock can be moved forward with the config key ``clock_offset`` (seconds), so a test can
let 40 minutes pass.
"""

from __future__ import annotations

import html
from typing import Any

from werkzeug.wrappers import Request, Response

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import EXC_MOODLE, MoodleException, invalid_parameter
from lms_bridge.moodle.sandbox.world import _new_qcat, _new_quiz, _next, _now


def _clock(state: dict[str, Any]) -> int:
    return _now() + int(state["config"].get("clock_offset", 0) or 0)


class TestQuizFunctions(SandboxBase):
    __test__ = False

    def fn_local_lmsbridge_setup_test_quiz(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = state["courses"].get(str(p["courseid"]))
        if course is None:
            raise MoodleException(EXC_MOODLE, "coursenotfound", f"No course with id {p['courseid']}.")
        if not p["questions"]:
            raise invalid_parameter("questions => the question bank is empty")
        for q in p["questions"]:
            right = [a for a in q["answers"] if a["correct"]]
            if len(right) != 1 or len(q["answers"]) < 2:
                raise MoodleException(EXC_MOODLE, "invalidtestquestion",
                                      f"Question {q['idnumber']} needs two answers or more, exactly one right.")
        if p["questioncount"] < 1 or p["questioncount"] > len(p["questions"]):
            raise MoodleException(EXC_MOODLE, "notenoughquestions",
                                  f"The bank has {len(p['questions'])} questions; {p['questioncount']} are drawn.")
        now = _clock(state)
        quiz = next((q for q in state["quizzes"].values() if q["course"] == course["id"]
                     and state["cms"][str(q["coursemodule"])].get("idnumber") == p["quizidnumber"]), None)
        changed = quiz is None
        if quiz is None:
            # Closed to everyone from the start: admission is a user override.
            quiz = _new_quiz(state, course["id"], p["quizname"], intro=p["intro"], timelimit=p["timelimit"],
                             attempts=p["attempts"], grade=float(p["questioncount"] * p["mark"]),
                             timeopen=0, timeclose=now - 60, kind="test")
            state["cms"][str(quiz["coursemodule"])]["idnumber"] = p["quizidnumber"]
        ctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
        cat = next((c for c in state["qcats"].values()
                    if c["contextid"] == ctx and c.get("idnumber") == "lmsbridge-test"), None)
        if cat is None:
            top = next((c for c in state["qcats"].values() if c["contextid"] == ctx and not c.get("parent")),
                       None) or _new_qcat(state, "top", ctx)
            cat = _new_qcat(state, "Test", ctx, top["id"], idnumber="lmsbridge-test")
            changed = True
        wanted = {q["idnumber"] for q in p["questions"]}
        for q in p["questions"]:
            have = next((x for x in state["questions"].values()
                         if x["category"] == cat["id"] and x["idnumber"] == q["idnumber"]), None)
            if have is None:
                qid = _next(state, "question")
                state["questions"][str(qid)] = {
                    "id": qid, "category": cat["id"], "idnumber": q["idnumber"], "name": q["name"],
                    "qtype": "multichoice", "questiontext": html.escape(q["text"]),
                    "answers": [a["text"] for a in q["answers"]],
                    "correct": next(i for i, a in enumerate(q["answers"]) if a["correct"])}
                changed = True
            elif have.get("hidden"):
                have["hidden"] = False
                changed = True
        for x in state["questions"].values():
            if x["category"] == cat["id"] and x["idnumber"] not in wanted and not x.get("hidden"):
                x["hidden"] = True  # dropped from the bank: never drawn again, past attempts kept
                changed = True
        slots = [s for s in quiz["slots"] if s.get("categoryid") == cat["id"]]
        if len(slots) != p["questioncount"]:
            if any(a["quiz"] == quiz["id"] for a in state["attempts"].values()):
                raise MoodleException(EXC_MOODLE, "quizhasattempts",
                                      "The quiz has attempts already; its questions can no longer change.")
            quiz["slots"] = [s for s in quiz["slots"] if s.get("categoryid") != cat["id"]]
            for _i in range(p["questioncount"]):
                quiz["slots"].append({"slot": len(quiz["slots"]) + 1, "page": len(quiz["slots"]) + 1,
                                      "type": "random", "categoryid": cat["id"], "maxmark": float(p["mark"])})
            changed = True
        quiz["sumgrades"] = float(sum(s.get("maxmark", 1.0) for s in quiz["slots"]))
        return {"courseid": course["id"], "cmid": quiz["coursemodule"], "quizid": quiz["id"],
                "categoryid": cat["id"], "questions": sum(1 for x in state["questions"].values()
                                                          if x["category"] == cat["id"] and not x.get("hidden")),
                "slots": len(quiz["slots"]), "changed": changed}

    # -- the student's side (actor API) ------------------------------------------------------------
    def _effective(self, state: dict[str, Any], quiz: dict[str, Any], userid: int) -> dict[str, Any]:
        override = next((o for o in state["overrides"].values()
                         if o["quiz"] == quiz["id"] and o["userid"] == userid), None) or {}
        return {k: (override.get(k) if override.get(k) is not None else quiz.get(k))
                for k in ("timeopen", "timeclose", "timelimit", "attempts")}

    def _due(self, state: dict[str, Any], quiz: dict[str, Any], attempt: dict[str, Any]) -> int:
        eff = self._effective(state, quiz, attempt["userid"])
        ends = [attempt["timestart"] + eff["timelimit"]] if eff["timelimit"] else []
        if eff["timeclose"]:
            ends.append(eff["timeclose"])
        return min(ends) if ends else 0

    def _settle_overdue(self, state: dict[str, Any], quiz: dict[str, Any]) -> None:
        """Autosubmit every attempt past its end with what it saved (cron's overdue task)."""
        now = _clock(state)
        for a in state["attempts"].values():
            if a["quiz"] == quiz["id"] and a["state"] == "inprogress":
                due = self._due(state, quiz, a)
                if due and now > due:
                    a.update(state="finished", timefinish=due, timemodified=due,
                             sumgrades=float(a.get("marks", 0.0)))

    def _test_attempt(self, st: dict[str, Any], quiz: dict[str, Any], user: dict[str, Any],
                      body: dict[str, Any]) -> dict[str, Any]:
        """Start the attempt, or continue the one in progress (after a lost connection)."""
        self._settle_overdue(st, quiz)
        now = _clock(st)
        mine = [a for a in st["attempts"].values() if a["quiz"] == quiz["id"] and a["userid"] == user["id"]]
        current = next((a for a in mine if a["state"] == "inprogress"), None)
        if current is None:
            eff = self._effective(st, quiz, user["id"])
            if (eff["timeopen"] and now < eff["timeopen"]) or (eff["timeclose"] and now >= eff["timeclose"]):
                raise _Refused("the quiz is closed")
            if eff["attempts"] and len(mine) >= eff["attempts"]:
                raise _Refused("no more attempts are allowed")
            pool = [q["id"] for q in st["questions"].values()
                    if any(q["category"] == s.get("categoryid") for s in quiz["slots"]) and not q.get("hidden")]
            if len(pool) < len(quiz["slots"]):
                raise _Refused("the quiz's category has fewer questions than random slots")
            aid = _next(st, "attempt")
            current = {"id": aid, "quiz": quiz["id"], "userid": user["id"], "attempt": len(mine) + 1,
                       "uniqueid": 1000 + aid, "state": "inprogress", "timestart": now, "timefinish": 0,
                       "timemodified": now, "sumgrades": None, "marks": 0.0,
                       "questions": self.rng.sample(sorted(pool), len(quiz["slots"]))}
            st["attempts"][str(aid)] = current
        return self._test_view(st, quiz, current)

    def _test_save(self, st: dict[str, Any], quiz: dict[str, Any], user: dict[str, Any], body: dict[str, Any],
                   *, finish: bool) -> dict[str, Any]:
        """Save the answers (``correct``: how many of the slots are answered right so far); submit them."""
        self._settle_overdue(st, quiz)
        current = next((a for a in st["attempts"].values() if a["quiz"] == quiz["id"]
                        and a["userid"] == user["id"] and a["state"] == "inprogress"), None)
        if current is None:
            raise _Refused("no attempt in progress (the time may be up)")
        correct = body.get("correct")
        if correct is not None:
            if not isinstance(correct, int) or not 0 <= correct <= len(quiz["slots"]):
                raise _Refused(f"correct must be a whole number from 0 to {len(quiz['slots'])}")
            mark = quiz["slots"][0].get("maxmark", 1.0) if quiz["slots"] else 1.0
            current["marks"] = float(correct * mark)
        now = _clock(st)
        current["timemodified"] = now
        if finish:
            current.update(state="finished", timefinish=now, sumgrades=current["marks"])
            # The companion plugin's observer posts every submitted attempt of a managed course.
            cm = st["cms"][str(quiz["coursemodule"])]
            self._emit(self._event(st, "quiz_attempt_submitted",  # type: ignore[attr-defined]
                                   "\\mod_quiz\\event\\attempt_submitted", cm, current["id"], user,
                                   {"quizid": quiz["id"], "attempt": current["attempt"], "state": "finished",
                                    "timestart": current["timestart"], "timefinish": now,
                                    "submitterid": user["id"], "studentisonline": True, "ticket": None}))
        return self._test_view(st, quiz, current)

    def _test_view(self, st: dict[str, Any], quiz: dict[str, Any], attempt: dict[str, Any]) -> dict[str, Any]:
        return {"attemptid": attempt["id"], "state": attempt["state"], "timestart": attempt["timestart"],
                "due": self._due(st, quiz, attempt), "sumgrades": attempt["sumgrades"],
                "questions": len(attempt.get("questions", []))}

    def _is_test_quiz(self, quizid: int) -> bool:
        with self.world.lock:
            self.world.refresh()
            return (self.world.state["quizzes"].get(str(quizid)) or {}).get("kind") == "test"

    def view_actor_answer(self, request: Request, quizid: int) -> Response:
        """``POST /_actor/quiz/<quizid>/answer {"email", "correct"}``: a student saving answers."""
        return self._test_actor(request, quizid, "answer")

    def _test_actor(self, request: Request, quizid: int, what: str) -> Response:
        with self.world.lock:
            self.world.refresh()
            st = self.world.state
            try:
                body = self._actor_body(request)  # type: ignore[attr-defined]
                quiz = st["quizzes"].get(str(quizid))
                if quiz is None or quiz.get("kind") != "test":
                    raise _Refused(f"quiz {quizid} is not a test quiz")
                user = self._student(st, body)  # type: ignore[attr-defined]
                if what == "attempt":
                    result = self._test_attempt(st, quiz, user, body)
                else:
                    result = self._test_save(st, quiz, user, body, finish=what == "finish")
            except Exception as exc:
                if type(exc).__name__ not in ("_Refused", "_BadActor"):
                    raise
                return self._json({"error": str(exc)}, 400)
            self.world.save()
        return self._json(result)


class _Refused(Exception):
    pass
