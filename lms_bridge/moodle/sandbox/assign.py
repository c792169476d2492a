"""Assignments: mod_assign_* (submissions, grades)."""

from __future__ import annotations

from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import MoodleException
from lms_bridge.moodle.sandbox.shapes import _assign_out, _fmt_grade
from lms_bridge.moodle.sandbox.world import _next, _now, is_5x, php_log


class AssignFunctions(SandboxBase):
    def fn_mod_assign_get_assignments(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        ids = p["courseids"] or [int(c) for c in state["courses"] if c != "1"]
        courses, warnings = [], []
        for cid in ids:
            c = state["courses"].get(str(cid))
            if c is not None and not p["includenotenrolledcourses"] and not any(
                    e["courseid"] == cid and e["userid"] == 2 for e in state["enrolments"]):
                # The web-service user (2) is not enrolled: Moodle skips the course unless asked (captured).
                warnings.append({"item": "course", "itemid": cid, "warningcode": "2",
                                 "message": "User is not enrolled or does not have requested capability"})
                continue
            if c is None:
                warnings.append(
                    {
                        "item": "course",
                        "itemid": cid,
                        "warningcode": "1",
                        "message": "No access rights in course context",
                    }
                )
                continue
            assigns = [_assign_out(a) for a in state["assigns"].values() if a["course"] == cid]
            if is_5x(state):
                # 5.0's grade penalties (recorded on 5.1: 0 when not used).
                for row in assigns:
                    row["gradepenalty"] = 0
            courses.append(
                {
                    "id": cid,
                    "fullname": c["fullname"],
                    "shortname": c["shortname"],
                    "timemodified": c.get("timemodified", 0),
                    "assignments": assigns,
                }
            )
        return {"courses": courses, "warnings": warnings}

    def fn_mod_assign_get_submissions(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        out, warnings = [], []
        for aid in p["assignmentids"]:
            if str(aid) not in state["assigns"]:
                warnings.append(
                    {
                        "item": "module",
                        "itemid": aid,
                        "warningcode": "3",
                        "message": "No access rights in module context",
                    }
                )
                continue
            subs = []
            for s in state["submissions"].values():
                if s["assignment"] != aid or (p["status"] and s["status"] != p["status"]):
                    continue
                if (p["since"] and s["timemodified"] < p["since"]) or (
                    p["before"] and s["timemodified"] >= p["before"]
                ):
                    continue
                subs.append(
                    {
                        "id": s["id"],
                        "userid": s["userid"],
                        "attemptnumber": 0,
                        "timecreated": s["timecreated"],
                        "timemodified": s["timemodified"],
                        "timestarted": None,
                        "status": s["status"],
                        "groupid": 0,
                        "plugins": [
                            {
                                "type": "onlinetext",
                                "name": "Online text",
                                "fileareas": [{"area": "submissions_onlinetext", "files": []}],
                                "editorfields": [
                                    {
                                        "name": "onlinetext",
                                        "description": "Online text submissions",
                                        "text": s.get("text", ""),
                                        "format": 1,
                                    }
                                ],
                            },
                            {"type": "file", "name": "File submissions",
                             "fileareas": [{"area": "submission_files", "files": []}]},
                            {"type": "comments", "name": "Submission comments"},
                        ],
                        "gradingstatus": "notgraded",
                    }
                )
            out.append({"assignmentid": aid, "submissions": subs})
        return {"assignments": out, "warnings": warnings}

    def fn_mod_assign_get_grades(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        out, warnings = [], []
        for aid in p["assignmentids"]:
            grades = [
                g
                for g in state["assign_grades"].values()
                if g["assignment"] == aid and g["timemodified"] >= p["since"]
            ]
            if not grades:
                warnings.append(
                    {"item": "assignment", "itemid": aid, "warningcode": "3", "message": "No grades found"}
                )
                continue
            out.append(
                {
                    "assignmentid": aid,
                    "grades": [
                        {
                            "id": g["id"],
                            "userid": g["userid"],
                            "attemptnumber": 0,
                            "timecreated": g["timecreated"],
                            "timemodified": g["timemodified"],
                            "grader": g["grader"],
                            "grade": _fmt_grade(g["grade"]),
                        }
                        for g in grades
                    ],
                }
            )
        return {"assignments": out, "warnings": warnings}

    def fn_mod_assign_save_grade(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        a = self._assign(state, p["assignmentid"])
        self._user(state, p["userid"])
        grade = p["grade"]
        # mod/assign/locallib.php apply_grade_to_user: a grade above the maximum is silently ignored.
        if grade > float(a["grade"]) or (grade < 0 and grade != -1):
            return None
        key = f"{a['id']}:{p['userid']}"
        editor = (p.get("plugindata") or {}).get("assignfeedbackcomments_editor")
        if editor is None:
            # Feedback comments on: assign_feedback_comments::is_feedback_modified() reads the field whether it
            # came or not (mod/assign/feedback/comments/locallib.php:128, 4.5 and 5.1), two warnings in the log
            # (seen on 5.1).
            where = "mod/assign/feedback/comments/locallib.php on line 128"
            php_log(state, f"PHP Warning:  Undefined property: stdClass::$assignfeedbackcomments_editor in {where}")
            php_log(state, f"PHP Warning:  Trying to access array offset on value of type null in {where}")
        if editor is None and (state["assign_grades"].get(key) or {}).get("has_feedback"):
            # 4.5 updates the existing comment with a null format and the write fails; the grade stays
            # (captured mod_assign_save_grade__regrade_without_feedback).
            raise MoodleException("dml_write_exception", "dmlwriteexception", "Error writing to database")
        now = _now()
        g = state["assign_grades"].get(key) or {
            "id": _next(state, "grade"),
            "assignment": a["id"],
            "userid": p["userid"],
            "timecreated": now,
            "grade": None,
        }
        g.update(
            grade=grade,
            timemodified=now,
            grader=2,
            workflowstate=p["workflowstate"] or "",
            feedback=(editor or {}).get("text", ""),
            has_feedback=bool(g.get("has_feedback")) or editor is not None,
        )
        state["assign_grades"][key] = g
        if not a.get("markingworkflow") or p["workflowstate"] == "released":
            self._gradebook_set(
                state, a["course"], a["cmid"], p["userid"], grade, a["name"], float(a["grade"])
            )
        return None
