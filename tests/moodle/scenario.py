"""The scenario check: one scripted flow, recorded against a real Moodle, replayed against the sandbox.

``run_scenario(call)`` drives the flow through ``call(function, params) -> (status, body)``; each step
builds its parameters from the answers before it (ids differ between sites), so the same script runs on
a real Moodle and on the sandbox.  ``normalise`` turns an answer into something comparable across sites:
ids become ``<id>``, times ``<time>``, addresses ``<url>``, the run's own suffix ``<run>``, and whole
numbers one number type (PHP writes a whole float as ``100``).  ``compare`` lists the differences field
by field.  Recording and replay are in tests/moodle/test_live.py and test_scenario.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Call = Callable[[str, dict[str, Any]], tuple[int, Any]]

PASSWORD = "Scen#2026pass"
_PRODUCT_COPY_OPTIONS = [{"name": "activities", "value": 1}, {"name": "blocks", "value": 1},
                         {"name": "filters", "value": 1}, {"name": "users", "value": 0}]


@dataclass
class Step:
    name: str
    function: str
    params: Callable[[dict[str, Any]], dict[str, Any]]


def _duplicate(courseid: int, shortname: str, *extra: dict[str, Any]) -> dict[str, Any]:
    return {"courseid": courseid, "fullname": f"Copy {shortname}", "shortname": shortname, "categoryid": 1,
            "visible": 1, "options": [*_PRODUCT_COPY_OPTIONS, *extra]}


def _grade(r: dict[str, Any], grade: int, feedback: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"assignmentid": r["result"]["assignid"], "userid": r["users"][0]["id"], "grade": grade,
                              "attemptnumber": -1, "addattempt": 0, "workflowstate": "", "applytoall": 0}
    if feedback is not None:
        params["plugindata"] = {"assignfeedbackcomments_editor": {"text": feedback, "format": 1}}
    return params


def _copy_quiz_cm(r: dict[str, Any]) -> tuple[int, int]:
    cmid = int(r["copy_quizzes"]["quizzes"][0]["coursemodule"])
    ctx = next(m["contextid"] for s in r["copy_contents"] for m in s["modules"] if m["id"] == cmid)
    return cmid, int(ctx)


def steps(run: str) -> list[Step]:
    """The flow; ``run`` makes names unique so the script can be recorded again on the same site."""
    code = f"SCEN-{run}"
    return [
        Step("users", "core_user_create_users", lambda r: {"users": [
            {"username": f"scen.a.{run}", "firstname": "Аружан", "lastname": "Сейтқали",
             "email": f"scen.a.{run}@uni.kz", "idnumber": f"A-{run}", "password": PASSWORD},
            {"username": f"scen.caps.{run}", "firstname": "Caps", "lastname": "Mixed",
             "email": f"Scen.Caps.{run}@Uni.KZ", "idnumber": f"C-{run}", "password": PASSWORD}]}),
        Step("by_field_other_case", "core_user_get_users_by_field",
             lambda r: {"field": "email", "values": [f"scen.caps.{run}@uni.kz"]}),
        Step("get_users_any_case", "core_user_get_users",
             lambda r: {"criteria": [{"key": "email", "value": f"scen.caps.{run}@uni.kz"}]}),
        Step("create_duplicate_other_case", "core_user_create_users", lambda r: {"users": [
            {"username": f"scen.dup.{run}", "firstname": "D", "lastname": "U", "email": f"scen.caps.{run}@uni.kz",
             "password": PASSWORD}]}),
        Step("course", "core_course_create_courses", lambda r: {"courses": [
            {"fullname": "Сценарий", "shortname": code, "categoryid": 1, "idnumber": code}]}),
        Step("enrol", "enrol_manual_enrol_users", lambda r: {"enrolments": [
            {"roleid": 5, "userid": u["id"], "courseid": r["course"][0]["id"]} for u in r["users"]]}),
        Step("enrol_unknown_user", "enrol_manual_enrol_users", lambda r: {"enrolments": [
            {"roleid": 5, "userid": 987654321, "courseid": r["course"][0]["id"]}]}),
        Step("tickets", "local_lmsbridge_setup_tickets", lambda r: {
            "courseid": r["course"][0]["id"], "quizname": "Ticket", "timelimit": 1800,
            "tickets": [{"number": n, "name": f"Ticket {n}", "questions": [f"Q{n}a", f"Q{n}b"]} for n in (1, 2)]}),
        Step("result", "local_lmsbridge_ensure_result_assignment",
             lambda r: {"courseid": r["course"][0]["id"], "grademax": 100}),
        Step("grade_with_feedback", "mod_assign_save_grade", lambda r: _grade(r, 75, "Шешім")),
        Step("regrade_without_feedback", "mod_assign_save_grade", lambda r: _grade(r, 80, None)),
        Step("regrade_empty_feedback", "mod_assign_save_grade", lambda r: _grade(r, 80, "")),
        Step("grades", "mod_assign_get_grades", lambda r: {"assignmentids": [r["result"]["assignid"]]}),
        Step("copy_with_enrolments_option", "core_course_duplicate_course", lambda r: _duplicate(
            r["course"][0]["id"], f"{code}-E", {"name": "enrolments", "value": 0})),
        Step("copy", "core_course_duplicate_course", lambda r: _duplicate(r["course"][0]["id"], f"{code}-C")),
        Step("copy_assignments", "mod_assign_get_assignments",
             lambda r: {"courseids": [r["copy"]["id"]], "includenotenrolledcourses": 1}),
        Step("copy_result_cm", "core_course_get_course_module",
             lambda r: {"cmid": r["copy_assignments"]["courses"][0]["assignments"][0]["cmid"]}),
        Step("copy_quizzes", "mod_quiz_get_quizzes_by_courses", lambda r: {"courseids": [r["copy"]["id"]]}),
        Step("copy_contents", "core_course_get_contents", lambda r: {
            "courseid": r["copy"]["id"], "options": [{"name": "excludecontents", "value": 1}]}),
        Step("random_parent_zero", "mod_quiz_add_random_questions", lambda r: {
            "cmid": _copy_quiz_cm(r)[0], "addonpage": 1, "randomcount": 1, "newcategory": "Tickets",
            "parentcategory": f"0,{_copy_quiz_cm(r)[1]}"}),
        Step("copy_of_two_tops", "core_course_duplicate_course", lambda r: _duplicate(r["copy"]["id"], f"{code}-B")),
        Step("leftover", "core_course_get_courses_by_field", lambda r: {"field": "shortname", "value": f"{code}-B"}),
        Step("leftover_contents", "core_course_get_contents", lambda r: {
            "courseid": r["leftover"]["courses"][0]["id"], "options": [{"name": "excludecontents", "value": 1}]}),
        Step("unknown_function", "core_no_such_function", lambda r: {}),
        Step("unknown_category", "core_course_create_courses", lambda r: {"courses": [
            {"fullname": "X", "shortname": f"{code}-X", "categoryid": 987654}]}),
    ]


def run_scenario(call: Call, run: str) -> list[dict[str, Any]]:
    """Every step's request and answer, in order."""
    answers: dict[str, Any] = {}
    out = []
    for step in steps(run):
        params = step.params(answers)
        status, body = call(step.function, params)
        answers[step.name] = body
        out.append({"name": step.name, "wsfunction": step.function, "params": params, "status": status,
                    "response": body})
    return out


_ID_KEYS = re.compile(r"^(id|ids|instance|coursemodule|section|course|module|grader|gradecat|itemid|sortorder"
                      r"|questionbankentryid|questionid|slot|slotid|.*id)$")
_TIME_KEYS = re.compile(r"^(time.*|added|.*date|firstaccess|lastaccess|cacherev)$")


def normalise(value: Any, run: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, run, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, run, key) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float) and _ID_KEYS.match(key) and value:
        return "<id>"
    if isinstance(value, int | float) and _TIME_KEYS.match(key) and value:
        return "<time>"
    if isinstance(value, int | float):
        return float(value)
    text = str(value).replace(run, "<run>")
    if text.isdigit() and _ID_KEYS.match(key):
        return "<id>"
    text = re.sub(r"https?://[^\s\"'<>]+", "<url>", text)
    return re.sub(r"/[\w/.-]+/lib/enrollib\.php on line \d+", "<moodle>/lib/enrollib.php", text)


def compare(real: Any, ours: Any, path: str = "$") -> list[str]:
    """Differences field by field between two normalised answers."""
    if isinstance(real, dict) and isinstance(ours, dict):
        out = [f"{path}.{k}: missing in the sandbox" for k in real if k not in ours]
        out += [f"{path}.{k}: not in Moodle's answer" for k in ours if k not in real]
        for k in real:
            if k in ours:
                out += compare(real[k], ours[k], f"{path}.{k}")
        return out
    if isinstance(real, list) and isinstance(ours, list):
        if len(real) != len(ours):
            return [f"{path}: {len(real)} items in Moodle, {len(ours)} in the sandbox"]
        return [d for i, (a, b) in enumerate(zip(real, ours, strict=True)) for d in compare(a, b, f"{path}[{i}]")]
    if real != ours:
        return [f"{path}: {json.dumps(real, ensure_ascii=False)[:80]} in Moodle, "
                f"{json.dumps(ours, ensure_ascii=False)[:80]} in the sandbox"]
    return []
