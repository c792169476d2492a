"""The shapes of the records in answers, as the 4.5 ``execute_returns`` define them."""

from __future__ import annotations

from typing import Any


def _user_out(u: dict[str, Any], base: str) -> dict[str, Any]:
    """core_user_get_users_by_field's row (keys as captured from 4.5; idnumber only when set)."""
    out = {"id": u["id"], "username": u["username"], "firstname": u["firstname"], "lastname": u["lastname"],
           "fullname": f"{u['firstname']} {u['lastname']}".strip(), "email": u["email"], "department": "",
           "idnumber": u.get("idnumber", ""), "firstaccess": 0, "lastaccess": 0,
           "auth": u.get("auth", "manual"), "suspended": bool(u.get("suspended")),
           "confirmed": bool(u.get("confirmed", 1)), "lang": "en", "theme": "", "timezone": "99",
           "mailformat": 1, "trackforums": 0,
           "profileimageurlsmall": f"{base}/theme/image.php/boost/core/1/u/f2",
           "profileimageurl": f"{base}/theme/image.php/boost/core/1/u/f1"}
    if not out["idnumber"]:
        del out["idnumber"]
    return out


def _course_out(c: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    cat = state["categories"].get(str(c["categoryid"]), {"name": ""})
    return {
        "id": c["id"],
        "fullname": c["fullname"],
        "displayname": c["fullname"],
        "shortname": c["shortname"],
        "courseimage": "",
        "categoryid": c["categoryid"],
        "categoryname": cat["name"],
        "sortorder": 10000,
        "summary": c.get("summary", ""),
        "summaryformat": c.get("summaryformat", 1),
        "summaryfiles": [],
        "overviewfiles": [],
        "showactivitydates": True,
        "showcompletionconditions": None,
        "contacts": [],
        "enrollmentmethods": ["manual"],
        "idnumber": c.get("idnumber", ""),
        "format": c.get("format", "topics"),
        "showgrades": 1,
        "newsitems": 5,
        "startdate": c.get("startdate", 0),
        "enddate": c.get("enddate", 0),
        "maxbytes": 0,
        "showreports": 0,
        "visible": c.get("visible", 1),
        "groupmode": 0,
        "groupmodeforce": 0,
        "defaultgroupingid": 0,
        "enablecompletion": 1,
        "completionnotify": 0,
        "lang": "",
        "theme": "",
        "marker": 0,
        "legacyfiles": 0,
        "calendartype": "",
        "timecreated": c.get("timecreated", 0),
        "timemodified": c.get("timemodified", 0),
        "requested": 0,
        "cacherev": c.get("timemodified", 0),
        "filters": [],
        "courseformatoptions": [],
    } | (_LEFTOVER if c.get("leftover") else {})


# A course as restore_dbops::create_new_course leaves it when the copy's pre-check then fails: never
# set up by course creation (recorded scenario, step "leftover").
_LEFTOVER: dict[str, Any] = {"sortorder": 0, "summaryformat": 0, "showactivitydates": False,
                             "enrollmentmethods": [], "newsitems": 1, "enablecompletion": 0, "cacherev": 0}


def _quiz_out(q: dict[str, Any]) -> dict[str, Any]:
    """mod_quiz_get_quizzes_by_courses's row, keys in the captured order."""
    return {"id": q["id"], "coursemodule": q["coursemodule"], "course": q["course"], "name": q["name"],
            "intro": q.get("intro", ""), "introformat": 1, "introfiles": [], "section": 1, "visible": True,
            "groupmode": 0, "groupingid": 0, "lang": "", "timeopen": q["timeopen"], "timeclose": q["timeclose"],
            "timelimit": q["timelimit"], "overduehandling": "autosubmit", "graceperiod": 0,
            "preferredbehaviour": "deferredfeedback", "canredoquestions": 0, "attempts": q["attempts"],
            "attemptonlast": 0, "grademethod": 1, "decimalpoints": 2, "questiondecimalpoints": -1,
            "reviewattempt": 69904, "reviewcorrectness": 0, "reviewmaxmarks": 0, "reviewmarks": 0,
            "reviewspecificfeedback": 0, "reviewgeneralfeedback": 0, "reviewrightanswer": 0,
            "reviewoverallfeedback": 0, "questionsperpage": 1, "navmethod": "free", "shuffleanswers": 0,
            "sumgrades": q.get("sumgrades", 0), "grade": q.get("grade", 0), "timecreated": q.get("timecreated", 0),
            "timemodified": q.get("timecreated", 0), "password": "", "subnet": "", "browsersecurity": "",
            "delay1": 0, "delay2": 0, "showuserpicture": 0, "showblocks": 0, "completionattemptsexhausted": 0,
            "completionpass": 0, "allowofflineattempts": 0, "autosaveperiod": 60, "hasfeedback": 0,
            "hasquestions": 1 if q["slots"] else 0}


def _assign_out(a: dict[str, Any]) -> dict[str, Any]:
    """mod_assign_get_assignments's assignment, keys in the captured order."""
    return {"id": a["id"], "cmid": a["cmid"], "course": a["course"], "name": a["name"],
            "nosubmissions": a.get("nosubmissions", 0), "submissiondrafts": a.get("submissiondrafts", 0),
            "sendnotifications": 0, "sendlatenotifications": 0, "sendstudentnotifications": 0,
            "duedate": a.get("duedate", 0), "allowsubmissionsfromdate": a.get("allowsubmissionsfromdate", 0),
            "grade": a.get("grade", 100), "timemodified": a.get("timemodified", 0), "completionsubmit": 0,
            "cutoffdate": a.get("cutoffdate", 0), "gradingduedate": 0, "teamsubmission": 0,
            "requireallteammemberssubmit": 0, "teamsubmissiongroupingid": 0, "blindmarking": 0, "hidegrader": 0,
            "revealidentities": 0, "attemptreopenmethod": "untilpass", "maxattempts": 1,
            "markingworkflow": a.get("markingworkflow", 0), "markingallocation": 0, "markinganonymous": 0,
            "requiresubmissionstatement": 0, "preventsubmissionnotingroup": 0,
            "configs": [{"plugin": "onlinetext", "subtype": "assignsubmission", "name": "enabled",
                         "value": "0" if a.get("nosubmissions") else "1"},
                        {"plugin": "comments", "subtype": "assignfeedback", "name": "enabled", "value": "1"}],
            "intro": a.get("intro", ""), "introformat": 1, "introfiles": [], "introattachments": [],
            "timelimit": 0, "submissionattachments": 0}


def _attempt_out(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": a["id"],
        "quiz": a["quiz"],
        "userid": a["userid"],
        "attempt": a["attempt"],
        "uniqueid": a["uniqueid"],
        "layout": "1,0",
        "currentpage": 0,
        "preview": 0,
        "state": a["state"],
        "timestart": a["timestart"],
        "timefinish": a["timefinish"],
        "timemodified": a["timemodified"],
        "timemodifiedoffline": 0,
        "timecheckstate": None,
        "sumgrades": a.get("sumgrades"),
        "gradeitemmarks": [],
        "gradednotificationsenttime": None,
    }


def _fmt_grade(g: float | None) -> str:
    return "" if g is None else f"{g:.5f}"
