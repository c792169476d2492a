"""A stateful stand-in for a Moodle 4.5 site, for the functions lms_bridge calls (plus the plugin's).

It answers ``POST /webservice/rest/server.php`` like Moodle: bracket-decoded parameters validated as
``external_api`` does (unknown keys and ``"true"`` rejected), HTTP 200 exception bodies, a 403 with an
empty body when REST is switched off (``/_actor/config``).  Its world is a JSON file under
``state_dir`` so that two processes in a row see the same site.  Students act through the actor API
(docs/sandbox-actor-api.md), and the companion plugin's webhooks are posted from a background thread.
Response shapes follow the 4.5 ``execute_returns`` definitions and the captured fixtures in
``tests/fixtures/moodle``.
"""

from __future__ import annotations

import html
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from lms_bridge.moodle.sandbox.params import (
    REQUIRED,
    InvalidParameterError,
    M,
    S,
    V,
    dflt,
    opt,
    validate_function,
)
from lms_bridge.moodle.sandbox.params import (
    decode_form as decode_form,
)
from lms_bridge.moodle.sandbox.webhooks import WebhookSender

logger = logging.getLogger(__name__)

TOKEN = "sandbox-token"  # noqa: S105 - the documented sandbox token, not a secret
RELEASE = "4.5 (Build: 20241007)"
VERSION = "2024100700"
EXC_MOODLE = "core\\exception\\moodle_exception"
EXC_PARAM = "core\\exception\\invalid_parameter_exception"
EXC_CAP = "core\\exception\\required_capability_exception"
EXC_ACCESS = "webservice_access_exception"
EXC_MISSING = "dml_missing_record_exception"
EXC_LOGIN = "core\\exception\\require_login_exception"
_COURSE_LEVEL = frozenset({
    "core_course_get_contents", "core_enrol_get_enrolled_users", "mod_quiz_get_user_attempts",
    "mod_quiz_save_overrides", "mod_quiz_get_overrides", "mod_quiz_add_random_questions", "mod_assign_save_grade",
    "mod_assign_get_submissions", "mod_assign_get_grades", "core_grades_update_grades",
    "core_grades_get_gradeitems"})


# Names shaped like Moodle's own functions exist on a real site even when the sandbox does not emulate them.
_MOODLE_FUNCTION = re.compile(
    r"^(core|mod|enrol|gradereport|tool|block|report|message|qbank|local_lmsbridge)_[a-z0-9_]+$")


class MoodleException(Exception):
    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"exception": exception, "errorcode": errorcode, "message": message}
        if debuginfo is not None:
            self.body["debuginfo"] = debuginfo


def invalid_parameter(debuginfo: str) -> MoodleException:
    return MoodleException(EXC_PARAM, "invalidparameter", "Invalid parameter value detected", debuginfo)


def missing_record(table: str, sql: str = "") -> MoodleException:
    return MoodleException(
        EXC_MISSING, "invalidrecord", f"Can't find data record in database table {table}.", sql or None
    )


def _now() -> int:
    return int(time.time())


# -- the world ---------------------------------------------------------------------------------------
def _initial_state() -> dict[str, Any]:
    now = _now()
    users = {
        "1": {
            "id": 1,
            "username": "guest",
            "firstname": "Guest user",
            "lastname": " ",
            "email": "root@localhost",
            "idnumber": "",
            "auth": "manual",
            "suspended": 0,
            "confirmed": 1,
            "timecreated": now,
        },
        "2": {
            "id": 2,
            "username": "admin",
            "firstname": "Admin",
            "lastname": "User",
            "email": "admin@example.com",
            "idnumber": "",
            "auth": "manual",
            "suspended": 0,
            "confirmed": 1,
            "timecreated": now,
        },
    }
    state: dict[str, Any] = {
        "seq": {
            "user": 2,
            "course": 2,
            "cm": 0,
            "quiz": 0,
            "assign": 0,
            "qcat": 0,
            "question": 0,
            "attempt": 0,
            "override": 0,
            "submission": 0,
            "grade": 0,
            "enrol": 0,
            "gradeitem": 0,
            "context": 100,
        },
        "config": {
            "rest_enabled": True,
            "debug": False,  # site debugging off, the production default (captured)
            "denied_capabilities": [],
            "removed_functions": [],
            "plugin": True,
        },
        "users": users,
        "categories": {"1": {"id": 1, "name": "Category 1"}},
        "courses": {
            "1": {
                "id": 1,
                "fullname": "Sandbox Moodle",
                "shortname": "sandbox",
                "categoryid": 0,
                "idnumber": "",
                "startdate": 0,
                "enddate": 0,
                "visible": 1,
                "timecreated": now,
                "contextid": 2,
                "summary": "",
                "format": "site",
            }
        },
        "enrolments": [],
        "cms": {},
        "quizzes": {},
        "assigns": {},
        "qcats": {},
        "questions": {},
        "attempts": {},
        "overrides": {},
        "submissions": {},
        "assign_grades": {},
        "gradeitems": {},
        "grades": {},
    }
    _seed_template(state)
    return state


def _next(state: dict[str, Any], kind: str) -> int:
    state["seq"][kind] += 1
    return int(state["seq"][kind])


def _new_course(state: dict[str, Any], **fields: Any) -> dict[str, Any]:
    cid = _next(state, "course") if "id" not in fields else fields.pop("id")
    now = _now()
    course = {
        "id": cid,
        "fullname": "",
        "shortname": "",
        "categoryid": 1,
        "idnumber": "",
        "summary": "",
        "summaryformat": 1,
        "format": "topics",
        "startdate": 0,
        "enddate": 0,
        "visible": 1,
        "timecreated": now,
        "timemodified": now,
        "contextid": _next(state, "context"),
        **fields,
    }
    state["courses"][str(cid)] = course
    return course


def _new_cm(state: dict[str, Any], course: int, modname: str, instance: int) -> dict[str, Any]:
    cmid = _next(state, "cm")
    cm = {
        "id": cmid,
        "course": course,
        "modname": modname,
        "instance": instance,
        "section": 1,
        "visible": 1,
        "contextid": _next(state, "context"),
    }
    state["cms"][str(cmid)] = cm
    return cm


def _new_quiz(state: dict[str, Any], course: int, name: str, **fields: Any) -> dict[str, Any]:
    qid = _next(state, "quiz")
    cm = _new_cm(state, course, "quiz", qid)
    quiz = {
        "id": qid,
        "course": course,
        "coursemodule": cm["id"],
        "name": name,
        "intro": "",
        "timeopen": 0,
        "timeclose": 0,
        "timelimit": 0,
        "attempts": 1,
        "grade": 10.0,
        "sumgrades": 0.0,
        "slots": [],
        **fields,
    }
    state["quizzes"][str(qid)] = quiz
    return quiz


def _new_assign(state: dict[str, Any], course: int, name: str, **fields: Any) -> dict[str, Any]:
    aid = _next(state, "assign")
    cm = _new_cm(state, course, "assign", aid)
    assign = {
        "id": aid,
        "course": course,
        "cmid": cm["id"],
        "name": name,
        "intro": "",
        "grade": 100,
        "nosubmissions": 0,
        "submissiondrafts": 0,
        "markingworkflow": 0,
        "duedate": 0,
        "allowsubmissionsfromdate": 0,
        "cutoffdate": 0,
        "timemodified": _now(),
        **fields,
    }
    state["assigns"][str(aid)] = assign
    return assign


def _new_qcat(
    state: dict[str, Any],
    name: str,
    contextid: int,
    parent: int = 0,
    idnumber: str = "",
) -> dict[str, Any]:
    cid = _next(state, "qcat")
    cat = {"id": cid, "name": name, "contextid": contextid, "parent": parent, "idnumber": idnumber or None}
    state["qcats"][str(cid)] = cat
    return cat


def _seed_template(state: dict[str, Any]) -> None:
    """Course 2: the template a Moodle administrator builds once in the UI (moodle-ws.md §3)."""
    course = _new_course(
        state, id=2, fullname="Attestation template", shortname="LMSB-TEMPLATE", idnumber="lmsbridge-template"
    )
    state["seq"]["course"] = 2
    _new_qcat(state, "top", course["contextid"])
    quiz = _new_quiz(state, 2, "Ticket", timelimit=1800)
    # "Tickets" in the quiz's own question bank (where 5.x requires it, and what the bridge imports into).
    cat = _new_qcat(state, "Tickets", state["cms"][str(quiz["coursemodule"])]["contextid"])
    quiz["slots"].append(
        {
            "slot": 1,
            "page": 1,
            "type": "random",
            "categoryid": cat["id"],
            "filtercondition": {
                "filter": {
                    "category": {
                        "jointype": 1,
                        "values": [cat["id"]],
                        "filteroptions": {"includesubcategories": False},
                    }
                }
            },
        }
    )
    _new_assign(state, 2, "Answer", submissiondrafts=0)
    _new_assign(state, 2, "Commission result", nosubmissions=1, markingworkflow=1)


class World:
    """The persisted state plus a lock; reloaded when another process wrote the file."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "moodle-sandbox.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._mtime = 0.0
        if self.path.exists():
            self.state = self._load()
        else:
            self.state = _initial_state()
            self.save()

    def _load(self) -> dict[str, Any]:
        self._mtime = self.path.stat().st_mtime
        return json.loads(self.path.read_text(encoding="utf-8"))

    def refresh(self) -> None:
        if self.path.exists() and self.path.stat().st_mtime != self._mtime:
            self.state = self._load()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.path)
        self._mtime = self.path.stat().st_mtime


# -- output shapes -----------------------------------------------------------------------------------
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
    }


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


# -- function signatures (execute_parameters of Moodle 4.5) ------------------------------------------
INT, TEXT, RAW, BOOL = V("int"), V("text"), V("raw"), V("bool")
_NAMEVALUE = S({"name": V("alphanumext"), "value": RAW})
_USER_KEYS = {
    "createpassword": opt(BOOL),
    "username": V("raw"),
    "auth": dflt(V("plugin"), "manual"),
    "password": opt(RAW),
    "firstname": V("text"),
    "lastname": V("text"),
    "email": V("raw"),
    "maildisplay": opt(INT),
    "city": opt(TEXT),
    "country": opt(TEXT),
    "timezone": opt(TEXT),
    "description": opt(RAW),
    "firstnamephonetic": opt(TEXT),
    "lastnamephonetic": opt(TEXT),
    "middlename": opt(TEXT),
    "alternatename": opt(TEXT),
    "interests": opt(TEXT),
    "idnumber": dflt(RAW, ""),
    "institution": opt(TEXT),
    "department": opt(TEXT),
    "phone1": opt(TEXT),
    "phone2": opt(TEXT),
    "address": opt(TEXT),
    "lang": opt(TEXT),
    "calendartype": opt(TEXT),
    "theme": opt(TEXT),
    "mailformat": opt(INT),
    "customfields": opt(M(S({"type": V("alphanumext"), "value": RAW}))),
    "preferences": opt(M(S({"type": RAW, "value": RAW}))),
}
_COURSE_KEYS = {
    "fullname": TEXT,
    "shortname": TEXT,
    "categoryid": INT,
    "idnumber": opt(RAW),
    "summary": opt(RAW),
    "summaryformat": dflt(INT, 1),
    "format": dflt(V("plugin"), "topics"),
    "showgrades": dflt(INT, 1),
    "newsitems": dflt(INT, 5),
    "startdate": opt(INT),
    "enddate": opt(INT),
    "numsections": opt(INT),
    "maxbytes": dflt(INT, 0),
    "showreports": dflt(INT, 0),
    "visible": opt(INT),
    "hiddensections": opt(INT),
    "groupmode": dflt(INT, 0),
    "groupmodeforce": dflt(INT, 0),
    "defaultgroupingid": dflt(INT, 0),
    "enablecompletion": opt(INT),
    "completionnotify": opt(INT),
    "lang": opt(V("safedir")),
    "forcetheme": opt(V("plugin")),
    "courseformatoptions": opt(M(_NAMEVALUE)),
    "customfields": opt(M(S({"shortname": V("alphanumext"), "value": RAW}))),
}
_OVERRIDE = S(
    {
        "id": dflt(INT, None),
        "groupid": dflt(INT, None),
        "userid": dflt(INT, None),
        "timeopen": dflt(INT, None),
        "timeclose": opt(INT),
        "timelimit": dflt(INT, None),
        "attempts": dflt(INT, None),
        "password": dflt(TEXT, None),
    }
)

SIGNATURES: dict[str, dict[str, Any]] = {
    "core_webservice_get_site_info": {"serviceshortnames": dflt(M(V("alphanumext")), [])},
    "core_user_get_users_by_field": {"field": V("alpha"), "values": M(RAW)},
    "core_user_create_users": {"users": M(S(_USER_KEYS))},
    "core_course_get_courses_by_field": {"field": dflt(V("alpha"), ""), "value": dflt(RAW, "")},
    "core_course_create_courses": {"courses": M(S(_COURSE_KEYS))},
    "core_course_update_courses": {
        "courses": M(S({"id": INT, **{k: opt(v) for k, v in _COURSE_KEYS.items()}}))
    },
    "core_course_duplicate_course": {
        "courseid": INT,
        "fullname": TEXT,
        "shortname": TEXT,
        "categoryid": INT,
        "visible": dflt(INT, 1),
        "options": dflt(M(S({"name": V("alphaext"), "value": RAW})), []),
    },
    "core_course_get_contents": {"courseid": INT, "options": dflt(M(_NAMEVALUE), [])},
    "core_grades_get_gradeitems": {"courseid": INT},
    "core_enrol_get_enrolled_users": {"courseid": INT, "options": dflt(M(_NAMEVALUE), [])},
    "enrol_manual_enrol_users": {
        "enrolments": M(
            S(
                {
                    "roleid": INT,
                    "userid": INT,
                    "courseid": INT,
                    "timestart": opt(INT),
                    "timeend": opt(INT),
                    "suspend": opt(INT),
                }
            )
        )
    },
    "mod_quiz_get_quizzes_by_courses": {"courseids": dflt(M(INT), [])},
    "mod_quiz_add_random_questions": {
        "cmid": INT,
        "addonpage": INT,
        "randomcount": INT,
        "filtercondition": dflt(TEXT, ""),
        "newcategory": dflt(TEXT, ""),
        "parentcategory": dflt(TEXT, "0"),
    },
    "mod_quiz_get_overrides": {"quizid": INT},
    "mod_quiz_save_overrides": {"data": S({"quizid": INT, "overrides": M(_OVERRIDE)})},
    "mod_quiz_get_user_attempts": {
        "quizid": INT,
        "userid": dflt(INT, 0),
        "status": dflt(V("alpha"), "finished"),
        "includepreviews": dflt(BOOL, False),
    },
    "mod_assign_get_assignments": {
        "courseids": dflt(M(INT), []),
        "capabilities": dflt(M(TEXT), []),
        "includenotenrolledcourses": dflt(BOOL, False),
    },
    "mod_assign_get_submissions": {
        "assignmentids": M(INT),
        "status": dflt(V("alpha"), ""),
        "since": dflt(INT, 0),
        "before": dflt(INT, 0),
    },
    "mod_assign_get_grades": {"assignmentids": M(INT), "since": dflt(INT, 0)},
    "mod_assign_save_grade": {
        "assignmentid": INT,
        "userid": INT,
        "grade": V("float"),
        "attemptnumber": INT,
        "addattempt": BOOL,
        "workflowstate": V("alpha"),
        "applytoall": dflt(BOOL, True),
        "plugindata": opt(
            S(
                {
                    "assignfeedbackcomments_editor": opt(S({"text": RAW, "format": INT})),
                    "files_filemanager": opt(INT),
                }
            )
        ),
        "advancedgradingdata": opt(S({})),
    },
    "core_grades_update_grades": {
        "source": TEXT,
        "courseid": INT,
        "component": V("component"),
        "activityid": INT,
        "itemnumber": INT,
        "grades": dflt(M(S({"studentid": INT, "grade": V("float"), "str_feedback": opt(TEXT)})), []),
        "itemdetails": dflt(
            S(
                {
                    "itemname": opt(V("alphanumext")),
                    "idnumber": opt(INT),
                    "gradetype": opt(INT),
                    "grademax": opt(V("float")),
                    "grademin": opt(V("float")),
                    "scaleid": opt(INT),
                    "multfactor": opt(V("float")),
                    "plusfactor": opt(V("float")),
                    "deleted": opt(BOOL),
                    "hidden": opt(BOOL),
                }
            ),
            {},
        ),
    },
    # The companion plugin (local_lmsbridge/classes/external/*.php).
    "local_lmsbridge_setup_tickets": {
        "courseid": dflt(INT, 0),
        "courseidnumber": dflt(RAW, ""),
        "quizidnumber": dflt(RAW, "lmsbridge-tickets"),
        "quizname": dflt(TEXT, ""),
        "timelimit": dflt(INT, 0),
        "section": dflt(INT, 0),
        "tickets": M(S({"number": INT, "name": dflt(TEXT, ""), "questions": M(TEXT)})),
    },
    "local_lmsbridge_get_drawn_tickets": {
        "quizid": INT,
        "userid": dflt(INT, 0),
        "includepreviews": dflt(BOOL, False),
    },
    "local_lmsbridge_ensure_result_assignment": {
        "courseid": dflt(INT, 0),
        "courseidnumber": dflt(RAW, ""),
        "idnumber": dflt(RAW, "lmsbridge-result"),
        "name": dflt(TEXT, ""),
        "grademax": dflt(INT, 100),
        "markingworkflow": dflt(BOOL, False),
        "section": dflt(INT, 0),
    },
}

# Capability each function checks (a denied one in config -> required_capability_exception).
CAPABILITIES: dict[str, tuple[str, str]] = {
    "core_user_create_users": ("moodle/user:create", "Create users"),
    "core_user_get_users_by_field": ("moodle/user:viewdetails", "View user profiles"),
    "core_course_create_courses": ("moodle/course:create", "Create courses"),
    "core_course_update_courses": ("moodle/course:update", "Update course settings"),
    "core_course_duplicate_course": ("moodle/backup:backupcourse", "Backup courses"),
    "enrol_manual_enrol_users": ("enrol/manual:enrol", "Enrol users"),
    "core_enrol_get_enrolled_users": ("moodle/course:viewparticipants", "View participants"),
    "mod_quiz_add_random_questions": ("mod/quiz:manage", "Manage quiz"),
    "mod_quiz_save_overrides": ("mod/quiz:manageoverrides", "Manage quiz overrides"),
    "mod_quiz_get_user_attempts": ("mod/quiz:viewreports", "View quiz reports"),
    "mod_assign_get_submissions": ("mod/assign:viewgrades", "View grades"),
    "mod_assign_save_grade": ("mod/assign:grade", "Grade assignment"),
    "core_grades_update_grades": ("moodle/grade:edit", "Edit grades"),
    "local_lmsbridge_setup_tickets": ("local/lmsbridge:managetickets", "Manage the exam tickets"),
    "local_lmsbridge_ensure_result_assignment": ("mod/assign:addinstance", "Add a new assignment"),
}


class MoodleSandbox:
    """The WSGI application (see the module docstring)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        webhook_url: str | None = None,
        webhook_secret: str = "",
        rng: random.Random | None = None,
    ) -> None:
        self.world = World(Path(state_dir))
        self.site_url = "http://127.0.0.1/moodle"
        self.rng = rng or random.Random()
        self.webhooks = WebhookSender(webhook_url, webhook_secret) if webhook_url else None
        self.handlers: dict[str, Callable[[dict[str, Any], dict[str, Any], str], Any]] = {
            name: getattr(self, "fn_" + name) for name in SIGNATURES
        }
        self.url_map = Map(
            [
                Rule("/webservice/rest/server.php", endpoint="rest", methods=["GET", "POST"]),
                Rule("/_actor/quiz/<int:quizid>/attempt", endpoint="actor_attempt", methods=["POST"]),
                Rule("/_actor/quiz/<int:quizid>/finish", endpoint="actor_finish", methods=["POST"]),
                Rule("/_actor/assign/<int:assignid>/submit", endpoint="actor_submit", methods=["POST"]),
                Rule(
                    "/_actor/course/<int:courseid>/import-questions",
                    endpoint="actor_import",
                    methods=["POST"],
                ),
                Rule("/_actor/config", endpoint="actor_config", methods=["POST"]),
                Rule("/_actor/state", endpoint="actor_state", methods=["GET"]),
            ]
        )

    # -- WSGI ------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, "view_" + endpoint)(request, **args)
        except HTTPException as exc:
            response = exc.get_response()
        return response(environ, start_response)

    def _json(self, data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")

    def view_rest(self, request: Request) -> Response:
        with self.world.lock:
            self.world.refresh()
            state = self.world.state
            if not state["config"]["rest_enabled"]:
                # webservice/rest/server.php: "if (!webservice_protocol_is_enabled('rest')) { header 403; die }"
                return Response(b"", status=403)
            pairs = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
            raw = decode_form(pairs)
            token = raw.pop("wstoken", None)
            function = raw.pop("wsfunction", "")
            raw.pop("moodlewsrestformat", None)
            try:
                result = self._dispatch(state, str(token or ""), str(function), raw, self._base(request))
            except MoodleException as exc:
                body = dict(exc.body)
                if not state["config"].get("debug", False):
                    body.pop("debuginfo", None)
                return self._json(body)
            self.world.save()
            return self._json(result)

    def _base(self, request: Request) -> str:
        base = request.host_url.rstrip("/") + request.script_root
        self.site_url = base
        return base

    def _dispatch(
        self, state: dict[str, Any], token: str, function: str, raw: dict[str, Any], base: str
    ) -> Any:
        if token != TOKEN:
            raise MoodleException(EXC_MOODLE, "invalidtoken", "Invalid token - token not found")
        plugin_off = function.startswith("local_lmsbridge_") and not state["config"].get("plugin", True)
        if plugin_off or not _MOODLE_FUNCTION.match(function):
            # external_api::external_function_info(): no row in external_functions.
            raise missing_record("external_functions")
        if function not in SIGNATURES or function in state["config"]["removed_functions"]:
            # A real Moodle function that the token's service does not list.
            raise MoodleException(
                EXC_ACCESS,
                "accessexception",
                "Access control exception",
                f"Access to the function {function}() is not allowed.\n"
                "                     There could be multiple reasons for this:\n"
                "                     1. The service linked to the user token does not "
                "contain the function.\n                     2. The service is user-restricted "
                "and the user is not listed.\n                     3. The service is "
                "IP-restricted and the user IP is not listed.\n                     4. The "
                "service is time-restricted and the time has expired.\n                     5. "
                "The token is time-restricted and the time has expired.\n                     "
                "6. The service requires a specific capability which the user does not have.\n"
                "                     7. The function is called with username/password "
                "(no user token is sent)\n                     and none of the services has the "
                "function to allow the user.\n                     These settings can be found "
                "in Administration > Site administration\n                     > Server > Web "
                "services > External services and Manage tokens.",
            )
        try:
            params = validate_function(SIGNATURES[function], raw)
        except InvalidParameterError as exc:
            raise invalid_parameter(exc.debuginfo) from None
        if "moodle/course:view" in state["config"]["denied_capabilities"] and function in _COURSE_LEVEL:
            # require_login() in validate_context(): the caller cannot enter the course.
            raise MoodleException(EXC_LOGIN, "requireloginerror", "Course or activity not accessible.")
        cap = CAPABILITIES.get(function)
        if cap and cap[0] in state["config"]["denied_capabilities"]:
            raise MoodleException(
                EXC_CAP,
                "nopermissions",
                f"Sorry, but you do not currently have permissions to do that ({cap[1]}).",
            )
        return self.handlers[function](state, params, base)

    # -- helpers ---------------------------------------------------------------------------------
    def _course(self, state: dict[str, Any], courseid: int) -> dict[str, Any]:
        c = state["courses"].get(str(courseid))
        if c is None:
            raise missing_record("course")
        return c

    def _user(self, state: dict[str, Any], userid: int) -> dict[str, Any]:
        u = state["users"].get(str(userid))
        if u is None:
            raise missing_record("user")
        return u

    def _user_by_email(self, state: dict[str, Any], email: str) -> dict[str, Any]:
        for u in state["users"].values():
            if u["email"].lower() == email.lower():
                return u
        raise NotFound(f"no user with email {email}")

    def _quiz(self, state: dict[str, Any], quizid: int) -> dict[str, Any]:
        q = state["quizzes"].get(str(quizid))
        if q is None:
            raise missing_record("quiz")
        return q

    def _assign(self, state: dict[str, Any], assignid: int) -> dict[str, Any]:
        a = state["assigns"].get(str(assignid))
        if a is None:
            raise missing_record("assign")
        return a

    def _emit(self, payload: dict[str, Any]) -> None:
        if self.webhooks is not None:
            self.webhooks.send(payload["event"], payload)

    # -- core functions --------------------------------------------------------------------------
    def fn_core_webservice_get_site_info(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        admin = state["users"]["2"]
        removed = set(state["config"]["removed_functions"])
        names = [
            n
            for n in SIGNATURES
            if n not in removed
            and (state["config"].get("plugin", True) or not n.startswith("local_lmsbridge_"))
        ]
        return {
            "sitename": "Sandbox Moodle",
            "username": admin["username"],
            "firstname": admin["firstname"],
            "lastname": admin["lastname"],
            "fullname": f"{admin['firstname']} {admin['lastname']}",
            "lang": "en",
            "userid": 2,
            "siteurl": base,
            "userpictureurl": f"{base}/theme/image.php/boost/core/1/u/f1",
            "functions": [{"name": n, "version": VERSION} for n in sorted(names)],
            "downloadfiles": 1,
            "uploadfiles": 1,
            "release": RELEASE,
            "version": VERSION,
            "mobilecssurl": "",
            "advancedfeatures": [{"name": "usecomments", "value": 1}],
            "usercanmanageownfiles": True,
            "userquota": 104857600,
            "usermaxuploadfilesize": 104857600,
            "userhomepage": 1,
            "userprivateaccesskey": "",
            "siteid": 1,
            "sitecalendartype": "gregorian",
            "usercalendartype": "gregorian",
            "userissiteadmin": True,
            "theme": "boost",
            "limitconcurrentlogins": 0,
            "policyagreed": 0,
        }

    def fn_core_user_get_users_by_field(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        field = p["field"]
        if field not in ("id", "idnumber", "username", "email"):
            raise invalid_parameter(
                "The search field 'field' is not supported, look at the web service documentation"
            )
        wanted = [str(v) for v in p["values"]]
        out = []
        for u in state["users"].values():
            value = str(u.get(field, ""))
            hit = value.lower() in {w.lower() for w in wanted} if field == "email" else value in wanted and value != ""
            if hit and u["id"] != 1:
                out.append(_user_out(u, base))
        return out

    def fn_core_user_create_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        # One transaction for the batch: validate everything before creating anything.
        seen_names: set[str] = set()
        for u in p["users"]:
            if u["username"] != u["username"].lower():
                raise invalid_parameter("The username must be in lower case")
            if (
                any(x["username"] == u["username"] for x in state["users"].values())
                or u["username"] in seen_names
            ):
                raise invalid_parameter(f"Username already exists: {u['username']}")
            if any(x["email"].lower() == u["email"].lower() for x in state["users"].values()):
                raise invalid_parameter(f"Email address already exists: {u['email']}")
            if "@" not in u["email"]:
                raise invalid_parameter(f"Email address is invalid: {u['email']}")
            if not u.get("createpassword") and not u.get("password"):
                raise invalid_parameter(
                    "Invalid password: you must provide a password, or set createpassword."
                )
            seen_names.add(u["username"])
        out = []
        for u in p["users"]:
            uid = _next(state, "user")
            state["users"][str(uid)] = {
                "id": uid,
                "username": u["username"],
                "firstname": u["firstname"],
                "lastname": u["lastname"],
                "email": u["email"],
                "idnumber": u.get("idnumber") or "",
                "auth": u.get("auth") or "manual",
                "suspended": 0,
                "confirmed": 1,
                "timecreated": _now(),
            }
            out.append({"id": uid, "username": u["username"]})
        return out

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
            raise missing_record("course_categories")
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
        self._check_course_fields(state, {"shortname": p["shortname"], "categoryid": p["categoryid"]})
        options = {o["name"]: o["value"] for o in p["options"]}
        course = _new_course(
            state,
            fullname=p["fullname"],
            shortname=p["shortname"],
            categoryid=p["categoryid"],
            visible=p["visible"],
            summary=src.get("summary", ""),
        )
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
                )
                cmmap[quiz["coursemodule"]] = copy
            for a in [a for a in list(state["assigns"].values()) if a["course"] == src["id"]]:
                copy = _new_assign(
                    state,
                    course["id"],
                    a["name"],
                    **{
                        k: a[k]
                        for k in ("grade", "nosubmissions", "submissiondrafts", "markingworkflow", "intro")
                    },
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
        for cat in list(state["qcats"].values()):
            if cat["contextid"] in ctxmap:
                catmap[cat["id"]] = _new_qcat(
                    state, cat["name"], ctxmap[cat["contextid"]], 0, cat.get("idnumber") or ""
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

    def fn_core_course_get_contents(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._course(state, p["courseid"])
        modules = []
        for cm in sorted(state["cms"].values(), key=lambda c: c["id"]):
            if cm["course"] != course["id"]:
                continue
            table = "quizzes" if cm["modname"] == "quiz" else "assigns"
            inst = state[table][str(cm["instance"])]
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
                    "modplural": "Quizzes" if cm["modname"] == "quiz" else "Assignments",
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

    def fn_core_grades_get_gradeitems(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._course(state, p["courseid"])
        items = [{"id": str(i["id"]), "itemname": i["itemname"], "category": course["fullname"]}
                 for i in state["gradeitems"].values() if i["courseid"] == course["id"]]
        # Ids come back as strings from a real 4.5 (captured).
        return {"gradeItems": sorted(items, key=lambda i: i["itemname"]), "warnings": []}

    def fn_enrol_manual_enrol_users(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        for e in p["enrolments"]:
            self._course(state, e["courseid"])
            self._user(state, e["userid"])
            if e["roleid"] not in (1, 3, 4, 5):
                raise MoodleException(
                    EXC_MOODLE,
                    "wsusercannotassign",
                    "You don't have the permission to assign this role "
                    f"({e['roleid']}) to this user ({e['userid']}) in this course"
                    f"({e['courseid']}).",
                )
        for e in p["enrolments"]:
            # enrol_user() on an existing enrolment updates it; role_assign() is idempotent.
            if not any(
                x["courseid"] == e["courseid"] and x["userid"] == e["userid"] and x["roleid"] == e["roleid"]
                for x in state["enrolments"]
            ):
                state["enrolments"].append(
                    {
                        "id": _next(state, "enrol"),
                        "courseid": e["courseid"],
                        "userid": e["userid"],
                        "roleid": e["roleid"],
                        "timestart": e.get("timestart") or 0,
                        "timeend": e.get("timeend") or 0,
                    }
                )
        return None

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
        return {"quizzes": quizzes, "warnings": warnings}

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
            oid = o.get("id") or _next(state, "override")
            prev = state["overrides"].get(str(oid), {})
            row = {
                "id": oid,
                "quiz": quiz["id"],
                "userid": o.get("userid"),
                "groupid": o.get("groupid"),
                **{
                    k: o.get(k, prev.get(k))
                    for k in ("timeopen", "timeclose", "timelimit", "attempts", "password")
                },
            }
            state["overrides"][str(oid)] = row
            ids.append(oid)
        return {"ids": ids}

    def fn_mod_quiz_get_user_attempts(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        self._quiz(state, p["quizid"])
        if p["status"] not in ("all", "finished", "unfinished"):
            raise invalid_parameter("Invalid status value")
        userid = p["userid"] or 2
        out = []
        for a in state["attempts"].values():
            if a["quiz"] != p["quizid"] or a["userid"] != userid:
                continue
            finished = a["state"] in ("finished", "abandoned")
            if (p["status"] == "finished" and not finished) or (p["status"] == "unfinished" and finished):
                continue
            out.append(_attempt_out(a))
        return {"attempts": out, "warnings": []}

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
            feedback=((p.get("plugindata") or {}).get("assignfeedbackcomments_editor") or {}).get("text", ""),
        )
        state["assign_grades"][key] = g
        if not a.get("markingworkflow") or p["workflowstate"] == "released":
            self._gradebook_set(
                state, a["course"], a["cmid"], p["userid"], grade, a["name"], float(a["grade"])
            )
        return None

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

    # -- the companion plugin ----------------------------------------------------------------------
    def _plugin_course(self, state: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
        c = state["courses"].get(str(p["courseid"])) if p["courseid"] else next(
            (
                c
                for c in state["courses"].values()
                if p["courseidnumber"] and c.get("idnumber") == p["courseidnumber"]
            ),
            None,
        )
        if c is None:
            raise MoodleException(EXC_MOODLE, "coursenotfound",
                                  f"No course with id {p['courseid']} or idnumber \"{p['courseidnumber']}\".")
        return c

    def fn_local_lmsbridge_setup_tickets(self, state: dict[str, Any], p: dict[str, Any], base: str) -> Any:
        course = self._plugin_course(state, p)
        numbers = [t["number"] for t in p["tickets"]]
        for n in numbers:
            if numbers.count(n) > 1:
                raise MoodleException(EXC_MOODLE, "duplicateticket", f"Ticket number {n} appears more than once.")
        if not p["tickets"]:
            raise invalid_parameter("tickets => the ticket bank is empty")
        quiz = next(
            (
                q
                for q in state["quizzes"].values()
                if q["course"] == course["id"]
                and state["cms"][str(q["coursemodule"])].get("idnumber") == p["quizidnumber"]
            ),
            None,
        )
        quizcreated = quiz is None
        if quiz is None:
            quiz = _new_quiz(state, course["id"], p["quizname"] or "Ticket", timelimit=p["timelimit"])
            state["cms"][str(quiz["coursemodule"])]["idnumber"] = p["quizidnumber"]
        ctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
        cat = next(
            (
                c
                for c in state["qcats"].values()
                if c["contextid"] == ctx and c.get("idnumber") == "lmsbridge-tickets"
            ),
            None,
        )
        categorycreated = cat is None
        if cat is None:
            cat = _new_qcat(state, "Tickets", ctx, idnumber="lmsbridge-tickets")
        out_tickets = []
        wanted = {t["number"] for t in p["tickets"]}
        for t in p["tickets"]:
            idnumber = f"ticket-{t['number']}"
            text = "<ol>" + "".join(f"<li>{html.escape(x)}</li>" for x in t["questions"]) + "</ol>"
            name = t["name"] or f"Ticket {t['number']}"
            q = next(
                (
                    q
                    for q in state["questions"].values()
                    if q["category"] == cat["id"] and q["idnumber"] == idnumber
                ),
                None,
            )
            if q is None:
                qid = _next(state, "question")
                q = {
                    "id": qid,
                    "category": cat["id"],
                    "idnumber": idnumber,
                    "name": name,
                    "qtype": "essay",
                    "questiontext": text,
                    "hidden": 0,
                    "entry": qid,
                }
                state["questions"][str(qid)] = q
                status = "created"
            elif (q["name"], q["questiontext"], q.get("hidden", 0)) != (name, text, 0):
                # A changed ticket is a new version of the same question bank entry.
                qid = _next(state, "question")
                q.update(hidden=1, idnumber=f"{idnumber}#v{q['id']}")
                q = {**q, "id": qid, "name": name, "questiontext": text, "hidden": 0, "idnumber": idnumber}
                state["questions"][str(qid)] = q
                status = "updated"
            else:
                status = "unchanged"
            out_tickets.append(
                {
                    "number": t["number"],
                    "idnumber": idnumber,
                    "questionid": q["id"],
                    "questionbankentryid": q.get("entry", q["id"]),
                    "status": status,
                }
            )
        for q in state["questions"].values():
            m = re.fullmatch(r"ticket-(\d+)", q.get("idnumber") or "")
            if q["category"] == cat["id"] and m and int(m.group(1)) not in wanted and not q.get("hidden"):
                q["hidden"] = 1
                out_tickets.append(
                    {
                        "number": int(m.group(1)),
                        "idnumber": q["idnumber"],
                        "questionid": q["id"],
                        "questionbankentryid": q.get("entry", q["id"]),
                        "status": "hidden",
                    }
                )
        slot = next(
            (s for s in quiz["slots"] if s["type"] == "random" and s["categoryid"] == cat["id"]), None
        )
        slotcreated = slot is None
        if slot is None:
            slot = {
                "slot": len(quiz["slots"]) + 1,
                "page": 1,
                "type": "random",
                "categoryid": cat["id"],
                "slotid": 500 + quiz["id"] * 10 + len(quiz["slots"]),
                "filtercondition": {
                    "filter": {
                        "category": {
                            "jointype": 1,
                            "values": [cat["id"]],
                            "filteroptions": {"includesubcategories": False},
                        }
                    }
                },
            }
            quiz["slots"].append(slot)
            quiz["sumgrades"] = float(len(quiz["slots"]))
        changed = (
            quizcreated
            or categorycreated
            or slotcreated
            or any(t["status"] != "unchanged" for t in out_tickets)
        )
        return {
            "courseid": course["id"],
            "cmid": quiz["coursemodule"],
            "quizid": quiz["id"],
            "quizcreated": quizcreated,
            "categoryid": cat["id"],
            "categorycontextid": ctx,
            "categorycreated": categorycreated,
            "slotid": slot.get("slotid", slot["slot"]),
            "slot": slot["slot"],
            "slotcreated": slotcreated,
            "changed": changed,
            "tickets": out_tickets,
        }

    def fn_local_lmsbridge_get_drawn_tickets(
        self, state: dict[str, Any], p: dict[str, Any], base: str
    ) -> Any:
        quiz = self._quiz(state, p["quizid"])
        out = []
        for a in sorted(state["attempts"].values(), key=lambda a: a["id"]):
            if a["quiz"] != quiz["id"] or (p["userid"] and a["userid"] != p["userid"]):
                continue
            q = state["questions"].get(str(a.get("questionid")), {})
            m = re.fullmatch(r"ticket-(\d+)", q.get("idnumber") or "")
            out.append(
                {
                    "attemptid": a["id"],
                    "userid": a["userid"],
                    "attempt": a["attempt"],
                    "state": a["state"],
                    "preview": False,
                    "timestart": a["timestart"],
                    "timefinish": a["timefinish"],
                    "ticketnumber": int(m.group(1)) if m else 0,
                    "ticketidnumber": q.get("idnumber") or "" if m else "",
                    "questionid": q.get("id", 0),
                }
            )
        return {"quizid": quiz["id"], "cmid": quiz["coursemodule"], "attempts": out}

    def fn_local_lmsbridge_ensure_result_assignment(
        self, state: dict[str, Any], p: dict[str, Any], base: str
    ) -> Any:
        course = self._plugin_course(state, p)
        a = next(
            (
                a
                for a in state["assigns"].values()
                if a["course"] == course["id"]
                and state["cms"][str(a["cmid"])].get("idnumber") == p["idnumber"]
            ),
            None,
        )
        created = a is None
        if a is None:
            a = _new_assign(
                state,
                course["id"],
                p["name"] or "Commission result",
                nosubmissions=1,
                grade=p["grademax"],
                markingworkflow=int(p["markingworkflow"]),
            )
            state["cms"][str(a["cmid"])]["idnumber"] = p["idnumber"]
        key = f"{course['id']}:{a['cmid']}:0"
        if key not in state["gradeitems"]:
            state["gradeitems"][key] = {
                "id": _next(state, "gradeitem"),
                "courseid": course["id"],
                "cmid": a["cmid"],
                "itemname": a["name"],
                "grademax": float(a["grade"]),
                "grademin": 0.0,
                "locked": 0,
            }
        return {
            "courseid": course["id"],
            "cmid": a["cmid"],
            "assignid": a["id"],
            "created": created,
            "grademax": float(a["grade"]),
            "gradeitemid": state["gradeitems"][key]["id"],
            "markingworkflow": bool(a.get("markingworkflow")),
        }

    # -- actor API -------------------------------------------------------------------------------
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
        return self._actor(lambda st, body: self._start_attempt(st, quizid, body), request)

    def view_actor_finish(self, request: Request, quizid: int) -> Response:
        return self._actor(lambda st, body: self._finish_attempt(st, quizid, body), request)

    def view_actor_submit(self, request: Request, assignid: int) -> Response:
        return self._actor(lambda st, body: self._submit(st, assignid, body), request)

    def view_actor_import(self, request: Request, courseid: int) -> Response:
        return self._actor(lambda st, body: self._import(st, courseid, body), request)

    def view_actor_config(self, request: Request) -> Response:
        def apply(st: dict[str, Any], body: dict[str, Any]) -> Any:
            unknown = set(body) - set(st["config"])
            if unknown:
                raise _BadActor(f"unknown config keys: {', '.join(sorted(unknown))}")
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
        if not any(e["courseid"] == quiz["course"] and e["userid"] == user["id"] for e in st["enrolments"]):
            raise _BadActor(f"{user['email']} is not enrolled in course {quiz['course']}")
        mine = [a for a in st["attempts"].values() if a["quiz"] == quizid and a["userid"] == user["id"]]
        current = next((a for a in mine if a["state"] == "inprogress"), None)
        if current is not None:
            return self._attempt_view(st, current)
        override = next(
            (o for o in st["overrides"].values() if o["quiz"] == quizid and o["userid"] == user["id"]), None
        )
        allowed = (override or {}).get("attempts") or quiz["attempts"]
        if allowed and len(mine) >= allowed:
            raise _BadActor("no more attempts are allowed")
        slot = next((s for s in quiz["slots"] if s["type"] == "random"), None)
        if slot is None:
            raise _BadActor("the quiz has no random ticket slot")
        pool = [q for q in st["questions"].values() if q["category"] == slot["categoryid"]]
        if not pool:
            raise _BadActor("the ticket category has no questions")
        # random_question_loader prefers the least-used question, then picks at random among them.
        used = {q["id"]: 0 for q in pool}
        for a in st["attempts"].values():
            if a.get("questionid") in used:
                used[a["questionid"]] += 1
        least = min(used.values())
        question = self.rng.choice(sorted(q for q, n in used.items() if n == least))
        now = _now()
        aid = _next(st, "attempt")
        attempt = {
            "id": aid,
            "quiz": quizid,
            "userid": user["id"],
            "attempt": len(mine) + 1,
            "uniqueid": 1000 + aid,
            "state": "inprogress",
            "timestart": now,
            "timefinish": 0,
            "timemodified": now,
            "sumgrades": None,
            "questionid": question,
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
        return self._attempt_view(st, attempt)

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
        now = _now()
        attempt.update(state="finished", timefinish=now, timemodified=now)
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
                else:
                    ctx = course["contextid"]
                name = path[-1]
                cat = next((c for c in st["qcats"].values() if c["contextid"] == ctx and c["name"] == name),
                           None) or _new_qcat(st, name, ctx)
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


def create_app(state_dir: Path, *, webhook_url: str | None = None, webhook_secret: str = "") -> MoodleSandbox:
    """The Moodle sandbox WSGI app (mount it at ``/moodle``)."""
    return MoodleSandbox(Path(state_dir), webhook_url=webhook_url, webhook_secret=webhook_secret)


__all__ = ["REQUIRED", "SIGNATURES", "TOKEN", "MoodleSandbox", "create_app"]
