"""Courses and enrolments: core_course_*, core_enrol_get_enrolled_users, enrol_manual_enrol_users."""

from __future__ import annotations

import json
from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import (
    EXC_MOODLE,
    MoodleException,
    invalid_parameter,
    missing_record,
    php_error,
)
from lms_bridge.moodle.sandbox.shapes import _course_out, _user_out
from lms_bridge.moodle.sandbox.world import _new_assign, _new_course, _new_qcat, _new_quiz, _next, _now, is_5x

# The options core_course_duplicate_course knows (course/externallib.php $backupdefaults).
_DUPLICATE_OPTIONS = frozenset({"activities", "blocks", "filters", "users", "enrolments", "role_assignments",
                                "comments", "userscompletion", "logs", "grade_histories"})


class CoursesFunctions(SandboxBase):
    def fn_core_course_get_courses_by_field(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        field, value = p["field"], p["value"]
        if field and field not in ("id", "ids", "shortname", "idnumber", "category", "sectionid"):
            raise invalid_parameter("Invalid field name")
        out = []
        for c in state["courses"].values():
            if (
                field == ""
                or (field == "id" and str(c["id"]) == str(value))
                or (field == "ids" and str(c["id"]) in str(value).split(","))
                or (field == "shortname" and c["shortname"] == value)
                or (field == "idnumber" and c.get("idnumber") == value and value)
                or (field == "category" and str(c["categoryid"]) == str(value))
            ) and (c["id"] != 1 or field in ("id", "ids")):
                out.append(_course_out(c, state))
        return {"courses": out, "warnings": []}

    def _check_course_fields(self, state: dict[str, Any], c: dict[str, Any], own: int = 0) -> None:
        if "categoryid" in c and str(c["categoryid"]) not in state["categories"]:
            # validate_context() on a category that does not exist (captured __unknown_category).
            raise MoodleException(
                EXC_MOODLE, "errorcatcontextnotvalid",
                f"You cannot execute functions in the category context (category id:{c['categoryid']}). "
                "The context error message was: Invalid parameter value detected")
        for other in state["courses"].values():
            if other["id"] == own:
                continue
            if c.get("shortname") and other["shortname"] == c["shortname"]:
                raise MoodleException(
                    EXC_MOODLE,
                    "shortnametaken",
                    f"Short name is already used for another course ({other['fullname']})",
                )
            if c.get("idnumber") and other.get("idnumber") == c["idnumber"]:
                raise MoodleException(
                    EXC_MOODLE,
                    "courseidnumbertaken",
                    f"ID number is already used for another course ({other['fullname']})",
                )

    def fn_core_course_create_courses(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        out = []
        for c in p["courses"]:
            self._check_course_fields(state, c)
            fields = {
                k: c[k]
                for k in (
                    "fullname",
                    "shortname",
                    "categoryid",
                    "summary",
                    "startdate",
                    "enddate",
                    "visible",
                    "format",
                )
                if c.get(k) is not None
            }
            course = _new_course(state, idnumber=c.get("idnumber") or "", **fields)
            _new_qcat(state, "top", course["contextid"])
            out.append({"id": course["id"], "shortname": course["shortname"]})
        return out

    def fn_core_course_update_courses(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        warnings = []
        for c in p["courses"]:
            course = state["courses"].get(str(c["id"]))
            if course is None:
                warnings.append(
                    {
                        "item": "course",
                        "itemid": c["id"],
                        "warningcode": "errorcourseupdate",
                        "message": "Course not found",
                    }
                )
                continue
            changes = {k: v for k, v in c.items() if k != "id" and v is not None}
            try:
                self._check_course_fields(state, changes, own=course["id"])
            except MoodleException as exc:
                warnings.append(
                    {
                        "item": "course",
                        "itemid": c["id"],
                        "warningcode": "errorcourseupdate",
                        "message": exc.body["message"],
                    }
                )
                continue
            course.update(changes)
            course["timemodified"] = _now()
        return {"warnings": warnings}

    def fn_core_course_duplicate_course(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        src = self._course(state, p["courseid"])
        options = {o["name"]: o["value"] for o in p["options"]}
        for name, value in options.items():
            if str(value) not in ("0", "1") or name not in _DUPLICATE_OPTIONS:
                raise MoodleException(EXC_MOODLE, "invalidextparam", f"Invalid external api parameter: {name}")
        if "enrolments" in options:
            # Accepted by the web service's own list, but 4.5 backup has no such setting (captured
            # core_course_duplicate_course__enrolments_option); nothing is created.
            raise MoodleException("base_plan_exception", "setting_by_name_not_found",
                                  "error/setting_by_name_not_found")
        self._check_course_fields(state, {"shortname": p["shortname"], "categoryid": p["categoryid"]})
        course = _new_course(
            state,
            fullname=p["fullname"],
            shortname=p["shortname"],
            categoryid=p["categoryid"],
            visible=p["visible"],
            summary=src.get("summary", ""),
        )
        if self._two_tops(state, src):
            # The restore target is created before the backup pre-check, and stays when it fails: an
            # empty, hidden course with the short name and no idnumber (captured __backupprecheckerrors).
            course.update(visible=0, leftover=True)
            raise MoodleException(EXC_MOODLE, "backupprecheckerrors", "webservice/backupprecheckerrors")
        # Backup + restore copies the activities and the question categories of the course and of its
        # activities (the plugin keeps "Tickets" in the quiz's own bank).
        ctxmap: dict[int, int] = {src["contextid"]: course["contextid"]}
        cmmap: dict[int, dict[str, Any]] = {}
        if str(options.get("activities", "1")) != "0":
            for quiz in [q for q in list(state["quizzes"].values()) if q["course"] == src["id"]]:
                copy = _new_quiz(
                    state,
                    course["id"],
                    quiz["name"],
                    timelimit=quiz["timelimit"],
                    attempts=quiz["attempts"],
                    grade=quiz["grade"],
                    intro=quiz.get("intro", ""),
                    sumgrades=quiz.get("sumgrades", 0.0),
                )
                cmmap[quiz["coursemodule"]] = copy
            for a in [a for a in list(state["assigns"].values()) if a["course"] == src["id"]]:
                # 4.5 backup does not carry nosubmissions: every copied assignment accepts submissions
                # (captured mod_assign_get_assignments__copied_course).
                copy = _new_assign(
                    state,
                    course["id"],
                    a["name"],
                    **{k: a[k] for k in ("grade", "submissiondrafts", "markingworkflow", "intro")},
                )
                cmmap[a["cmid"]] = copy
            for old_cmid, copy in cmmap.items():
                old_cm, new_cm = (
                    state["cms"][str(old_cmid)],
                    state["cms"][str(copy.get("coursemodule") or copy.get("cmid"))],
                )
                new_cm["idnumber"] = old_cm.get("idnumber", "")
                ctxmap[old_cm["contextid"]] = new_cm["contextid"]
        catmap: dict[int, int] = {}
        # Parents before children (ids grow), so a copied category hangs under the copy of its parent.
        for cat in sorted(state["qcats"].values(), key=lambda c: c["id"]):
            if cat["contextid"] in ctxmap:
                catmap[cat["id"]] = _new_qcat(
                    state, cat["name"], ctxmap[cat["contextid"]], catmap.get(cat.get("parent") or 0, 0),
                    cat.get("idnumber") or ""
                )["id"]
        for q in list(state["questions"].values()):
            if q["category"] in catmap:
                nid = _next(state, "question")
                state["questions"][str(nid)] = {**q, "id": nid, "category": catmap[q["category"]]}
        for quiz in [q for q in state["quizzes"].values() if q["course"] == src["id"]]:
            copied = cmmap.get(quiz["coursemodule"])
            if copied is None:
                continue
            for slot in quiz["slots"]:
                newcat = catmap.get(slot["categoryid"], slot["categoryid"])
                fc = json.loads(json.dumps(slot["filtercondition"]))
                fc["filter"]["category"]["values"] = [newcat]
                copied["slots"].append({**slot, "categoryid": newcat, "filtercondition": fc})
        return {"id": course["id"], "shortname": course["shortname"]}

    def _two_tops(self, state: dict[str, Any], course: dict[str, Any]) -> bool:
        """Whether a question bank of the course or its activities has two top categories (parent 0),
        which fails the backup pre-check of a copy."""
        contexts = {course["contextid"]} | {cm["contextid"] for cm in state["cms"].values()
                                             if cm["course"] == course["id"]}
        tops: dict[int, int] = {}
        for cat in state["qcats"].values():
            if cat["contextid"] in contexts and not cat.get("parent"):
                tops[cat["contextid"]] = tops.get(cat["contextid"], 0) + 1
        return any(n > 1 for n in tops.values())

    def fn_core_course_get_course_module(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        cm = state["cms"].get(str(p["cmid"]))
        if cm is None:
            raise missing_record("course_modules")
        inst = _instance(state, cm)
        out = {
            "id": cm["id"], "course": cm["course"], "module": 1 if cm["modname"] == "assign" else 2,
            "name": inst["name"], "modname": cm["modname"], "instance": cm["instance"], "section": cm["section"],
            "sectionnum": 0, "groupmode": 0, "groupingid": 0, "completion": 0, "idnumber": cm.get("idnumber", ""),
            "added": inst.get("timemodified", 0), "score": 0, "indent": 0, "visible": cm.get("visible", 1),
            "visibleoncoursepage": 1, "visibleold": 1, "completiongradeitemnumber": None, "completionpassgrade": 0,
            "completionview": 0, "completionexpected": 0, "showdescription": 0, "downloadcontent": 1,
            "availability": None, "grade": inst.get("grade", 0),
        }
        if cm["modname"] == "assign":
            # Only an activity with a grade item has these (captured: the ticket quiz, grade 0, has none).
            out.update(gradepass="0.00", gradecat=1, advancedgrading=[{"area": "submissions", "method": None}])
        return {"cm": out, "warnings": []}

    def fn_core_course_get_contents(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._course(state, p["courseid"])
        if course.get("leftover"):
            # The course a failed copy leaves has no sections at all (captured __leftover_of_failed_copy).
            return []
        modules = []
        for cm in sorted(state["cms"].values(), key=lambda c: c["id"]):
            if cm["course"] != course["id"]:
                continue
            inst = _instance(state, cm)
            modules.append(
                {
                    "id": cm["id"],
                    "url": f"{base}/mod/{cm['modname']}/view.php?id={cm['id']}",
                    "name": inst["name"],
                    "instance": cm["instance"],
                    "contextid": cm["contextid"],
                    "visible": 1,
                    "uservisible": True,
                    "visibleoncoursepage": 1,
                    "modicon": f"{base}/theme/image.php/boost/{cm['modname']}/1/monologo",
                    "modname": cm["modname"],
                    "purpose": "assessment",
                    "branded": False,
                    "modplural": _PLURALS.get(cm["modname"], cm["modname"]),
                    "availability": None,
                    "indent": 0,
                    "onclick": "",
                    "afterlink": None,
                    "activitybadge": [],
                    "customdata": '""',
                    "noviewlink": False,
                    "completion": 0,
                    "downloadcontent": 1,
                    "dates": [],
                    "groupmode": 0,
                }
            )
        general = {
            "id": course["id"] * 10,
            "name": "General",
            "visible": 1,
            "summary": "",
            "summaryformat": 1,
            "section": 0,
            "hiddenbynumsections": 0,
            "uservisible": True,
            "component": None,
            "itemid": None,
            "modules": [],
        }
        topic = {
            "id": course["id"] * 10 + 1,
            "name": "Topic 1",
            "visible": 1,
            "summary": "",
            "summaryformat": 1,
            "section": 1,
            "hiddenbynumsections": 0,
            "uservisible": True,
            "component": None,
            "itemid": None,
            "modules": modules,
        }
        return [general, topic]

    def fn_core_enrol_get_enrolled_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._course(state, p["courseid"])
        options = {o["name"]: o["value"] for o in p["options"]}
        roles: dict[int, list[int]] = {}
        for e in state["enrolments"]:
            if e["courseid"] == course["id"]:
                roles.setdefault(e["userid"], [])
                if e["roleid"] not in roles[e["userid"]]:
                    roles[e["userid"]].append(e["roleid"])
        names = {1: "manager", 3: "editingteacher", 4: "teacher", 5: "student"}
        # "userfields" narrows the answer to id, fullname and the fields asked for (course/externallib.php).
        wanted = {f.strip() for f in str(options.get("userfields", "")).split(",") if f.strip()}
        out = []
        for uid, rids in roles.items():
            user = state["users"][str(uid)]
            full = _user_out(user, base)
            row: dict[str, Any] = {k: full[k] for k in ("id", "username", "firstname", "lastname", "fullname",
                                                        "email", "department", "idnumber", "firstaccess",
                                                        "lastaccess") if k in full}
            row["lastcourseaccess"] = 0
            row["profileimageurlsmall"] = full["profileimageurlsmall"]
            row["profileimageurl"] = full["profileimageurl"]
            row["roles"] = [{"roleid": r, "name": "", "shortname": names.get(r, f"role{r}"), "sortorder": 0}
                            for r in rids]
            row["enrolledcourses"] = [{"id": course["id"], "fullname": course["fullname"],
                                       "shortname": course["shortname"]}]
            if wanted:
                row = {k: v for k, v in row.items() if k in wanted | {"id", "fullname"}}
            out.append(row)
        return out

    def fn_enrol_manual_enrol_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        for e in p["enrolments"]:
            self._course(state, e["courseid"])
            if str(e["userid"]) not in state["users"] and is_5x(state):
                # 5.1 looks the user up first (recorded scenario, enrol_unknown_user).
                raise missing_record("user")
            if str(e["userid"]) not in state["users"]:
                # 4.5 enrols the missing user, then fails building the welcome text: a PHP TypeError
                # without errorcode (captured enrol_manual_enrol_users__unknown_user).
                raise php_error("TypeError", "core\\user::get_name_placeholders(): Argument #1 ($user) must be "
                                "of type stdClass, bool given, called in /var/www/moodle/lib/enrollib.php on "
                                "line 3674")
            if e["roleid"] not in (1, 3, 4, 5):
                raise MoodleException(
                    EXC_MOODLE,
                    "wsusercannotassign",
                    "You don't have the permission to assign this role "
                    f"({e['roleid']}) to this user ({e['userid']}) in this course"
                    f"({e['courseid']}).",
                )
        new_enrolment = False
        for e in p["enrolments"]:
            # The enrolment's status follows "suspend" on every call, for an existing enrolment too: absent
            # or 0 makes it active (enrol/manual/externallib.php sets status from it; enrol_user() updates
            # a differing status).  Suspended, the user keeps the enrolment and its history but no access.
            status = 1 if e.get("suspend") else 0
            for x in state["enrolments"]:
                if x["courseid"] == e["courseid"] and x["userid"] == e["userid"]:
                    x["status"] = status
            # enrol_user() on an existing enrolment updates it; role_assign() is idempotent.
            if not any(
                x["courseid"] == e["courseid"] and x["userid"] == e["userid"] and x["roleid"] == e["roleid"]
                for x in state["enrolments"]
            ):
                new_enrolment = new_enrolment or not any(
                    x["courseid"] == e["courseid"] and x["userid"] == e["userid"] for x in state["enrolments"])
                state["enrolments"].append(
                    {
                        "id": _next(state, "enrol"),
                        "courseid": e["courseid"],
                        "userid": e["userid"],
                        "roleid": e["roleid"],
                        "timestart": e.get("timestart") or 0,
                        "timeend": e.get("timeend") or 0,
                        "status": status,
                    }
                )
        # A new enrolment sends the course welcome message from the course contact (an editing teacher;
        # enrol/manual user_enrolment_callbacks, enrol_plugin::send_course_welcome_message_to_user).  After
        # the enrolments are committed, a site that cannot send mail answers "Message was not sent."
        # (core\message\manager::send_message_to_processors; captured
        # enrol_manual_enrol_users__message_not_sent): the enrolments stay.
        courses = {e["courseid"] for e in p["enrolments"]}
        has_contact = any(x["courseid"] in courses and x["roleid"] == 3 for x in state["enrolments"])
        if new_enrolment and has_contact and not state["config"].get("mail", True):
            self.world.save()  # committed before the message fails
            raise MoodleException(EXC_MOODLE, "Message was not sent.", "error/Message was not sent.")
        return None


# 5.x lists a course's question banks (mod_qbank) among its modules, in section 0 (read on 5.1).
_PLURALS = {"quiz": "Quizzes", "assign": "Assignments", "qbank": "Question banks"}


def _instance(state: dict[str, Any], cm: dict[str, Any]) -> dict[str, Any]:
    """The activity record behind a course module (a question bank keeps its name on the module)."""
    if cm["modname"] == "qbank":
        return {"name": cm.get("name", ""), "grade": 0}
    table = "quizzes" if cm["modname"] == "quiz" else "assigns"
    return dict(state[table][str(cm["instance"])])
