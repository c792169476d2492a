"""The ticket quiz: mod_quiz_* (random questions, overrides, attempts)."""

from __future__ import annotations

import json
from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import EXC_MISSING, EXC_MOODLE, MoodleException, invalid_parameter, missing_record
from lms_bridge.moodle.sandbox.qbank import category_options
from lms_bridge.moodle.sandbox.shapes import _attempt_out, _quiz_out
from lms_bridge.moodle.sandbox.world import _new_qcat, _next, is_5x


class QuizFunctions(SandboxBase):
    def fn_mod_quiz_get_quizzes_by_courses(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        ids = set(p["courseids"]) or {int(c) for c in state["courses"]}
        warnings = [
            {
                "item": "course",
                "itemid": c,
                "warningcode": "1",
                "message": "No access rights in course context",
            }
            for c in ids
            if str(c) not in state["courses"]
        ]
        quizzes = [_quiz_out(q) for q in state["quizzes"].values() if q["course"] in ids]
        if is_5x(state):
            # Settings 5.x added to the quiz (recorded on 5.1: all null for a quiz made without them).
            for q in quizzes:
                q.update(precreateattempts=None, enableaitools=None, enabledaiactions=None)
        return {"quizzes": quizzes, "warnings": warnings}

    def fn_mod_quiz_add_random_questions(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        cm = state["cms"].get(str(p["cmid"]))
        if cm is None or cm["modname"] != "quiz":
            raise MoodleException(EXC_MISSING, "invalidcoursemodule", "Invalid course module ID")
        quiz = state["quizzes"][str(cm["instance"])]
        if p["newcategory"]:
            # category_manager::add_category: parentcategory is "parentid,contextid".
            parent, _, ctx = str(p["parentcategory"]).partition(",")
            known = {c["contextid"] for c in state["courses"].values()} | {
                c["contextid"] for c in state["cms"].values()
            }
            if not ctx.isdigit() or int(ctx) not in known:
                raise missing_record("context")
            if parent not in ("", "0") and (state["qcats"].get(parent) or {}).get("contextid") != int(ctx):
                raise MoodleException(EXC_MOODLE, "cannotinsertquestioncatecontext",
                                      f"Could not insert the new question category {p['newcategory']} illegal "
                                      f"contextid {ctx}")
            # Parent 0 makes the new category one more top of that context, even when it has one already
            # (captured __parent_zero); the course then fails its backup pre-check.
            catid = _new_qcat(state, p["newcategory"], int(ctx), int(parent or 0))["id"]
            fc: dict[str, Any] = {
                "filter": {
                    "category": {
                        "jointype": 1,
                        "values": [catid],
                        "filteroptions": {"includesubcategories": False},
                    }
                }
            }
        else:
            try:
                fc = json.loads(p["filtercondition"]) if p["filtercondition"] else {}
                catid = int(fc["filter"]["category"]["values"][0])
            except (ValueError, KeyError, IndexError, TypeError):
                raise MoodleException(
                    EXC_MOODLE, "invalidfiltercondition", "Invalid filter condition"
                ) from None
            if str(catid) not in state["qcats"]:
                raise missing_record("question_categories")
        for _ in range(p["randomcount"]):
            quiz["slots"].append(
                {
                    "slot": len(quiz["slots"]) + 1,
                    "page": max(1, p["addonpage"]),
                    "type": "random",
                    "categoryid": catid,
                    "filtercondition": fc,
                }
            )
        quiz["sumgrades"] = float(len(quiz["slots"]))
        return {"message": "Random questions have been added"}

    def fn_mod_quiz_get_overrides(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        self._quiz(state, p["quizid"])
        return {
            "overrides": [
                {
                    k: o[k]
                    for k in (
                        "id",
                        "quiz",
                        "userid",
                        "groupid",
                        "timeopen",
                        "timeclose",
                        "timelimit",
                        "attempts",
                        "password",
                    )
                }
                for o in state["overrides"].values()
                if o["quiz"] == p["quizid"]
            ]
        }

    def fn_mod_quiz_save_overrides(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        data = p["data"]
        quiz = self._quiz(state, data["quizid"])
        ids = []
        for o in data["overrides"]:
            if not o.get("userid") and not o.get("groupid"):
                raise invalid_parameter("A user or group must be specified")
            if o.get("userid") and o.get("groupid"):
                raise invalid_parameter("Overrides cannot be both user and group")
            existing = next(
                (
                    x
                    for x in state["overrides"].values()
                    if x["quiz"] == quiz["id"]
                    and x["userid"] == o.get("userid")
                    and x["groupid"] == o.get("groupid")
                ),
                None,
            )
            if o.get("id") is None and existing is not None:
                raise invalid_parameter("A user override already exists for this user")
            # override_manager::parse_formdata / clear_unused_values (mod/quiz/classes/local/override_manager.php,
            # https://github.com/moodle/moodle/blob/MOODLE_405_STABLE/mod/quiz/classes/local/override_manager.php):
            # a value equal to the quiz's own, or empty (attempts: not numeric), is stored as null, and an
            # update writes every setting, so one left out becomes null too (seen on 4.5 and 5.1: the
            # admission override's time limit and attempts, equal to the quiz's, read back null).
            settings = {}
            for k in ("timeopen", "timeclose", "timelimit", "attempts", "password"):
                v = o.get(k)
                if v is not None and v == quiz.get(k):
                    v = None
                if k != "attempts" and not v:
                    v = None
                settings[k] = v if k != "attempts" or isinstance(v, int) else None
            if all(v is None for v in settings.values()):
                raise invalid_parameter("You must override at least one of the quiz settings.")
            oid = o.get("id") or _next(state, "override")
            row = {"id": oid, "quiz": quiz["id"], "userid": o.get("userid"), "groupid": o.get("groupid"), **settings}
            state["overrides"][str(oid)] = row
            ids.append(oid)
        return {"ids": ids}

    def _user_attempts(self, state: dict[str, Any], p: dict[str, Any], *, true_states: bool) -> Any:
        """quiz_get_user_attempts() (mod/quiz/lib.php): ``finished`` = finished, abandoned and (5.x) submitted;
        ``unfinished`` = inprogress and overdue; ``all`` = every state, 5.x's notstarted included."""
        quiz = self._quiz(state, p["quizid"])
        if quiz.get("kind") == "test":
            self._settle_overdue(state, quiz)  # type: ignore[attr-defined]
        if p["status"] not in ("all", "finished", "unfinished"):
            raise invalid_parameter("Invalid status value")
        userid = p["userid"] or 2
        out = []
        for a in state["attempts"].values():
            if a["quiz"] != p["quizid"] or a["userid"] != userid:
                continue
            finished = a["state"] in ("finished", "abandoned", "submitted")
            unfinished = a["state"] in ("inprogress", "overdue")
            if (p["status"] == "finished" and not finished) or (p["status"] == "unfinished" and not unfinished):
                continue
            row = _attempt_out(a)
            if not true_states:
                # The deprecated function on 5.x (mod/quiz/classes/external.php get_user_attempts): attempts
                # not started are left out and a submitted one reads "finished" (its marks hidden), for
                # compatibility (captured mod_quiz_get_user_attempts__notstarted_on_51).
                if a["state"] == "notstarted":
                    continue
                if a["state"] == "submitted":
                    row.update(state="finished", sumgrades=None)
            out.append(row)
        return {"attempts": out, "warnings": []}

    def fn_mod_quiz_get_user_attempts(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        return self._user_attempts(state, p, true_states=False)

    def fn_mod_quiz_get_user_quiz_attempts(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        """5.0+: the same parameters and attempt fields, with the attempts' true states."""
        return self._user_attempts(state, p, true_states=True)

    def fn_core_get_fragment(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        """Only the fragment the product renders: mod_quiz's add_random_question_form, the "Add a random
        question" dialog of the quiz editing page (mod/quiz/lib.php mod_quiz_output_fragment_add_random_question_form).
        Its category list holds the quiz's own bank; on 4.5 also the course's (question_edit_contexts of a module
        context reaches its course), while 5.x keeps no categories in a course context."""
        if (p["component"], p["callback"]) != ("mod_quiz", "add_random_question_form"):
            # component_callback() of a callback the sandbox does not render: refused rather than guessed.
            raise MoodleException(EXC_MOODLE, "codingerror",
                                  "Coding error detected, it must be fixed by a programmer: "
                                  "the sandbox renders only mod_quiz add_random_question_form")
        args = {a["name"]: a["value"] for a in p["args"]}
        cm = state["cms"].get(str(args.get("quizcmid") or args.get("cmid") or ""))
        if cm is None or cm["modname"] != "quiz":
            raise missing_record("course_modules")
        if cm["contextid"] != p["contextid"]:
            raise MoodleException(EXC_MISSING, "invalidrecordunknown", "Can't find data record in database.")
        quiz = state["quizzes"][str(cm["instance"])]
        course = state["courses"][str(cm["course"])]
        contexts = [(cm["contextid"], f"Quiz: {quiz['name']}")]
        if not is_5x(state):
            contexts.append((course["contextid"], f"Course: {course['shortname']}"))
        form = (f'<div class="mt-2 position-relative" data-region="add_random_question_form-container">'
                f'<form action="" method="POST" id="add_random_question_form" class="mform">'
                f'{category_options(state, contexts)}</form></div>')
        return {"html": form, "javascript": ""}
