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

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from lms_bridge.moodle.sandbox.actor import ActorApi
from lms_bridge.moodle.sandbox.assign import AssignFunctions
from lms_bridge.moodle.sandbox.courses import CoursesFunctions
from lms_bridge.moodle.sandbox.errors import (
    EXC_ACCESS,
    EXC_CAP,
    EXC_LOGIN,
    EXC_MISSING,
    EXC_MOODLE,
    MoodleException,
    invalid_parameter,
    missing_record,
)
from lms_bridge.moodle.sandbox.grades import GradesFunctions
from lms_bridge.moodle.sandbox.moodle45_functions import MOODLE_45_FUNCTIONS
from lms_bridge.moodle.sandbox.params import REQUIRED, InvalidParameterError, validate_function
from lms_bridge.moodle.sandbox.params import decode_form as decode_form
from lms_bridge.moodle.sandbox.plugin import PluginFunctions
from lms_bridge.moodle.sandbox.quiz import QuizFunctions
from lms_bridge.moodle.sandbox.signatures import CAPABILITIES, SIGNATURES
from lms_bridge.moodle.sandbox.testquiz import TestQuizFunctions
from lms_bridge.moodle.sandbox.users import UsersFunctions
from lms_bridge.moodle.sandbox.webhooks import WebhookSender
from lms_bridge.moodle.sandbox.world import DEPRECATED_SINCE, TOKEN, World, defines, php_log, release_of

_COURSE_LEVEL = frozenset({
    "core_course_get_contents", "core_enrol_get_enrolled_users", "mod_quiz_get_user_attempts",
    "mod_quiz_get_user_quiz_attempts", "core_get_fragment",
    "mod_quiz_save_overrides", "mod_quiz_get_overrides", "mod_quiz_add_random_questions", "mod_assign_save_grade",
    "mod_assign_get_submissions", "mod_assign_get_grades", "core_grades_update_grades",
    "core_grades_get_gradeitems"})




class MoodleSandbox(UsersFunctions, CoursesFunctions, QuizFunctions, AssignFunctions, GradesFunctions,
                    PluginFunctions, TestQuizFunctions, ActorApi):
    """The WSGI application (see the module docstring); each group of functions lives in its module."""

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
                Rule("/_actor/quiz/<int:quizid>/answer", endpoint="actor_answer", methods=["POST"]),
                Rule("/_actor/assign/<int:assignid>/submit", endpoint="actor_submit", methods=["POST"]),
                Rule(
                    "/_actor/course/<int:courseid>/import-questions",
                    endpoint="actor_import",
                    methods=["POST"],
                ),
                Rule("/_actor/quiz/<int:quizid>/precreate", endpoint="actor_precreate", methods=["POST"]),
                Rule(
                    "/_actor/course/<int:courseid>/transfer-question-banks",
                    endpoint="actor_transfer",
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
                    if body.get("exception") == EXC_MISSING and release_of(state) >= (5, 0):
                        # 5.x names no table without debugging (lib/dmllib.php dml_missing_record_exception;
                        # recorded on 5.1: unknown_function, enrol_unknown_user).
                        body.update(errorcode="invalidrecordunknown", message="Can't find data record in database.")
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
        known = (function in SIGNATURES or function in MOODLE_45_FUNCTIONS) and defines(state, function)
        if plugin_off or not known:
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
        deprecated = DEPRECATED_SINCE.get(function)
        if deprecated is not None and release_of(state) >= deprecated[0]:
            php_log(state, deprecated[1])
        return self.handlers[function](state, params, base)


def create_app(state_dir: Path, *, webhook_url: str | None = None, webhook_secret: str = "") -> MoodleSandbox:
    """The Moodle sandbox WSGI app (mount it at ``/moodle``)."""
    return MoodleSandbox(Path(state_dir), webhook_url=webhook_url, webhook_secret=webhook_secret)


__all__ = ["REQUIRED", "SIGNATURES", "TOKEN", "MoodleSandbox", "create_app"]
