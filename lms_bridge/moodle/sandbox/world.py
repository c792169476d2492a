"""The site's world: its initial state (a 4.5 site with its template course), the records the
functions create, and the JSON file that keeps it across processes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "sandbox-token"  # noqa: S105 - the documented sandbox token, not a secret
RELEASE = "4.5 (Build: 20241007)"
VERSION = "2024100700"

# The releases the site can answer as (actor config "release"; 4.5 unless set): release and version strings
# as core_webservice_get_site_info gives them (captured on 4.5 and on 5.1, tests/fixtures/moodle/scenario).
RELEASES: dict[str, tuple[str, str]] = {
    "4.5": (RELEASE, VERSION),
    "5.1": ("5.1+ (Build: 20251017)", "2025100600.02"),
}
# Functions a release defines beyond 4.5: mod/quiz/db/services.php of 5.0 adds mod_quiz_get_user_quiz_attempts
# (the read 5.1 external_functions table lists it, tests/fixtures/moodle/functions/moodle-5.1.json).
FUNCTIONS_SINCE: dict[str, tuple[int, int]] = {"mod_quiz_get_user_quiz_attempts": (5, 0)}
# Deprecated from a release on: mod_quiz_external::get_user_attempts carries #[\core\attribute\deprecated]
# since 5.0 (MDL-68806) and core\deprecation::emit_deprecation() logs this on every call (seen in 5.1's log).
DEPRECATED_SINCE: dict[str, tuple[tuple[int, int], str]] = {
    "mod_quiz_get_user_attempts": (
        (5, 0),
        "Deprecation: mod_quiz_external::get_user_attempts has been deprecated since 5.0. The old API for fetching "
        "attempts doesn't return true states for NOT_STARTED and SUBMITTED attempts. Use "
        "mod_quiz_external::get_user_quiz_attempts instead.",
    ),
}


def release_of(state: dict[str, Any]) -> tuple[int, int]:
    """The release the site answers as, as (major, minor)."""
    major, _, minor = str(state["config"].get("release", "4.5")).partition(".")
    return int(major), int(minor or 0)


def is_5x(state: dict[str, Any]) -> bool:
    """Moodle 5.0 or later: question banks in mod_qbank, two more attempt states."""
    return release_of(state) >= (5, 0)


def defines(state: dict[str, Any], function: str) -> bool:
    """Whether the site's release has ``function`` at all (a 4.5 site lacks the 5.x additions)."""
    return release_of(state) >= FUNCTIONS_SINCE.get(function, (0, 0))


def php_log(state: dict[str, Any], line: str) -> None:
    """What Moodle writes to the PHP error log (debugging on): warnings and deprecation notices."""
    state.setdefault("php_log", []).append(line)


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
            # False: the site cannot send mail (no SMTP, no sendmail), as captured on 4.5.
            "mail": True,
            "release": "4.5",
            # Seconds added to the clock of the test quiz's attempts (a test lets time pass).
            "clock_offset": 0,
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
        "php_log": [],
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
        "timecreated": _now(),
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
    # "Tickets" under the top of the quiz's own question bank (where 5.x requires it, and what the bridge
    # imports into).
    quizctx = state["cms"][str(quiz["coursemodule"])]["contextid"]
    cat = _new_qcat(state, "Tickets", quizctx, _new_qcat(state, "top", quizctx)["id"])
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
    # Made by hand in the UI: no course-module idnumber (a copy finds it by its name).
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
