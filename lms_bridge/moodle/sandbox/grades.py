"""The gradebook: core_grades_*."""

from __future__ import annotations

from typing import Any

from lms_bridge.moodle.sandbox.base import SandboxBase
from lms_bridge.moodle.sandbox.errors import EXC_MOODLE, MoodleException
from lms_bridge.moodle.sandbox.world import _next


class GradesFunctions(SandboxBase):
    def fn_core_grades_get_gradeitems(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._course(state, p["courseid"])
        items = [{"id": str(i["id"]), "itemname": i["itemname"], "category": course["fullname"]}
                 for i in state["gradeitems"].values() if i["courseid"] == course["id"]]
        # Ids come back as strings from a real 4.5 (captured).
        return {"gradeItems": sorted(items, key=lambda i: i["itemname"]), "warnings": []}

    def _gradebook_set(
        self,
        state: dict[str, Any],
        courseid: int,
        cmid: int,
        userid: int,
        grade: float | None,
        name: str,
        grademax: float,
    ) -> None:
        key = f"{courseid}:{cmid}:0"
        item = state["gradeitems"].get(key)
        if item is None:
            item = {
                "id": _next(state, "gradeitem"),
                "courseid": courseid,
                "cmid": cmid,
                "itemname": name,
                "grademax": grademax,
                "grademin": 0.0,
                "locked": 0,
            }
            state["gradeitems"][key] = item
        state["grades"][f"{item['id']}:{userid}"] = {"itemid": item["id"], "userid": userid, "grade": grade}

    def fn_core_grades_update_grades(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        self._course(state, p["courseid"])
        cm = state["cms"].get(str(p["activityid"]))
        if cm is None or cm["course"] != p["courseid"] or "mod_" + cm["modname"] != p["component"]:
            raise MoodleException(EXC_MOODLE, "invalidcoursemodule", "Invalid course module ID")
        key = f"{p['courseid']}:{cm['id']}:{p['itemnumber']}"
        details = p["itemdetails"] or {}
        item = state["gradeitems"].get(key)
        if item is None:
            inst = state["assigns" if cm["modname"] == "assign" else "quizzes"][str(cm["instance"])]
            self._gradebook_set(
                state,
                p["courseid"],
                cm["id"],
                2,
                None,
                inst["name"],
                float(details.get("grademax") or inst.get("grade") or 100),
            )
            item = state["gradeitems"][key]
            state["grades"].pop(f"{item['id']}:2", None)
        if details.get("grademax") is not None:
            item["grademax"] = float(details["grademax"])
        if item.get("locked"):
            return 4
        for g in p["grades"]:
            # grade_update() clamps to the item's range (grade_item::bounded_grade).
            value = max(item["grademin"], min(item["grademax"], g["grade"]))
            state["grades"][f"{item['id']}:{g['studentid']}"] = {
                "itemid": item["id"],
                "userid": g["studentid"],
                "grade": value,
            }
        return 0
