"""What each emulated function accepts (Moodle 4.5 ``execute_parameters``) and the capability it checks."""

from __future__ import annotations

from typing import Any

from lms_bridge.moodle.sandbox.params import M, S, V, dflt, opt

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
    "core_user_get_users": {"criteria": M(S({"key": V("alpha"), "value": RAW}))},
    "core_course_get_course_module": {"cmid": INT},
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
    # 5.0+ (mod/quiz/classes/external.php get_user_quiz_attempts_parameters): the same parameters.
    "mod_quiz_get_user_quiz_attempts": {
        "quizid": INT,
        "userid": dflt(INT, 0),
        "status": dflt(V("alpha"), "finished"),
        "includepreviews": dflt(BOOL, False),
    },
    # lib/external/externallib.php get_fragment_parameters (4.5 and 5.1).
    "core_get_fragment": {
        "component": V("alphanumext"),
        "callback": V("alphanumext"),
        "contextid": INT,
        "args": dflt(M(_NAMEVALUE), []),
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
    "local_lmsbridge_setup_test_quiz": {
        "courseid": INT,
        "quizidnumber": dflt(RAW, "lmsbridge-test"),
        "quizname": TEXT,
        "intro": dflt(RAW, ""),
        "timelimit": INT,
        "attempts": dflt(INT, 1),
        "questioncount": INT,
        "mark": dflt(INT, 1),
        "questions": M(S({"idnumber": RAW, "name": TEXT, "text": RAW,
                          "answers": M(S({"text": RAW, "correct": BOOL}))})),
    },
    "local_lmsbridge_get_drawn_tickets": {
        "quizid": INT,
        "userid": dflt(INT, 0),
        "includepreviews": dflt(BOOL, False),
    },
    "local_lmsbridge_open_ticket": {
        "quizid": INT,
        "userid": INT,
        "ticketnumber": INT,
        "timeopen": INT,
        "timeclose": INT,
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
    "core_user_get_users": ("moodle/user:viewdetails", "View user profiles"),
    "core_course_create_courses": ("moodle/course:create", "Create courses"),
    "core_course_update_courses": ("moodle/course:update", "Update course settings"),
    "core_course_duplicate_course": ("moodle/backup:backupcourse", "Backup courses"),
    "enrol_manual_enrol_users": ("enrol/manual:enrol", "Enrol users"),
    "core_enrol_get_enrolled_users": ("moodle/course:viewparticipants", "View participants"),
    "mod_quiz_add_random_questions": ("mod/quiz:manage", "Manage quiz"),
    "mod_quiz_save_overrides": ("mod/quiz:manageoverrides", "Manage quiz overrides"),
    "mod_quiz_get_user_attempts": ("mod/quiz:viewreports", "View quiz reports"),
    "mod_quiz_get_user_quiz_attempts": ("mod/quiz:viewreports", "View quiz reports"),
    "core_get_fragment": ("mod/quiz:manage", "Manage quiz"),
    "mod_assign_get_submissions": ("mod/assign:viewgrades", "View grades"),
    "mod_assign_save_grade": ("mod/assign:grade", "Grade assignment"),
    "core_grades_update_grades": ("moodle/grade:edit", "Edit grades"),
    "local_lmsbridge_setup_tickets": ("local/lmsbridge:managetickets", "Manage the exam tickets"),
    "local_lmsbridge_ensure_result_assignment": ("mod/assign:addinstance", "Add a new assignment"),
    "local_lmsbridge_open_ticket": ("local/lmsbridge:admit", "Admit a student to the draw"),
    "local_lmsbridge_setup_test_quiz": ("local/lmsbridge:managetickets", "Manage the exam tickets"),
}
