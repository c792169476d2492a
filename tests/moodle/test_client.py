"""The Moodle client against the sandbox over loopback: encoding, typed errors, retries, no token leaks."""

from __future__ import annotations

import json
import logging
import pickle
import threading
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from lms_bridge.config import MoodleSettings, Secret, load_settings
from lms_bridge.i18n import use_locale
from lms_bridge.moodle.client import MoodleClient, encode_params, is_read, required_functions
from lms_bridge.moodle.errors import (
    AccessDenied,
    BadResponse,
    FunctionsMissing,
    InvalidParameter,
    InvalidToken,
    MissingCapability,
    MissingRecord,
    MoodleError,
    MoodleUnavailable,
    PhpError,
    RestProtocolDisabled,
    error_from_body,
)
from lms_bridge.remote import ApiCalls

from .conftest import Served, serve


def test_bracket_encoding_booleans_and_empty_lists() -> None:
    pairs = encode_params({
        "courses": [{"fullname": "Емтихан", "categoryid": 1, "visible": True}],
        "options": [{"name": "users", "value": False}],
        "values": ["a", "b"],
        "empty": [],
        "nothing": None,
        "grade": 85.0,
        "half": 2.5,
    })
    assert pairs == [
        ("courses[0][fullname]", "Емтихан"), ("courses[0][categoryid]", "1"), ("courses[0][visible]", "1"),
        ("options[0][name]", "users"), ("options[0][value]", "0"),
        ("values[0]", "a"), ("values[1]", "b"),
        ("grade", "85"), ("half", "2.5"),
    ]


def test_reads_are_the_get_functions() -> None:
    assert is_read("core_webservice_get_site_info")
    assert is_read("mod_quiz_get_user_attempts")
    assert not is_read("core_user_create_users")
    assert not is_read("mod_assign_save_grade")


def test_a_call_needs_a_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        MoodleClient("http://127.0.0.1:9", Secret("t"), timeout=0)


def test_from_settings_uses_url_token_and_limits() -> None:
    settings = load_settings({"LMS_BRIDGE_MOODLE_URL": "http://127.0.0.1:9/", "LMS_BRIDGE_MOODLE_TOKEN": "abc",
                              "LMS_BRIDGE_MOODLE_TIMEOUT_SECONDS": "7", "LMS_BRIDGE_MOODLE_MAX_INPUT_VARS": "50"})
    client = MoodleClient.from_settings(settings, ApiCalls())
    assert (client.url, client.timeout, client.max_input_vars) == ("http://127.0.0.1:9", 7.0, 50)
    assert "abc" not in repr(client)


def test_connect_reads_site_info_and_counts_calls(client: MoodleClient, api_calls: ApiCalls,
                                                  moodle_settings: MoodleSettings) -> None:
    info = client.connect(moodle_settings)
    assert info.release.startswith("4.5")
    assert info.plugin_present
    assert "core_user_create_users" in info.functions
    assert api_calls.snapshot()["moodle"] == 1


def test_connect_names_every_missing_function(sandbox: Served, client: MoodleClient,
                                              moodle_settings: MoodleSettings) -> None:
    sandbox.configure(removed_functions=["core_user_create_users", "enrol_manual_enrol_users"], plugin=False)
    with pytest.raises(FunctionsMissing) as exc:
        client.connect(moodle_settings)
    assert exc.value.missing == ("core_user_create_users", "enrol_manual_enrol_users")
    with use_locale("en"):
        text = exc.value.user_message
    assert "core_user_create_users, enrol_manual_enrol_users" in text
    assert "External services" in text


def test_plugin_functions_are_required_only_when_the_plugin_is_used(sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(plugin=False)
    core = MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), plugin="auto")
    info = client.connect(core)
    assert not info.plugin_present
    assert "mod_quiz_add_random_questions" in required_functions(core, plugin=False)
    with pytest.raises(FunctionsMissing) as exc:
        client.connect(MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), plugin="plugin"))
    assert "local_lmsbridge_setup_tickets" in exc.value.missing


def test_invalid_token_is_typed_and_says_what_to_fix(sandbox: Served, caplog: pytest.LogCaptureFixture) -> None:
    bad = MoodleClient(sandbox.url, Secret("wrong-token-123"), timeout=5)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidToken) as exc:
        bad.site_info()
    assert exc.value.errorcode == "invalidtoken"
    with use_locale("en"):
        assert "LMS_BRIDGE_MOODLE_TOKEN" in exc.value.user_message
    assert "wrong-token-123" not in caplog.text
    assert "wrong-token-123" not in str(exc.value) + repr(exc.value.__dict__)


def test_rest_disabled_is_a_403_with_an_empty_body(sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(rest_enabled=False)
    with pytest.raises(RestProtocolDisabled) as exc:
        client.site_info()
    with use_locale("en"):
        assert "REST protocol" in exc.value.user_message


def test_a_function_outside_the_service_becomes_functions_missing_after_connect(
        sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(removed_functions=["mod_quiz_save_overrides"])
    client.site_info()
    with pytest.raises(FunctionsMissing) as exc:
        client.call("mod_quiz_save_overrides", {"data": {"quizid": 1, "overrides": []}})
    assert exc.value.missing == ("mod_quiz_save_overrides",)
    assert exc.value.errorcode == "accessexception"


def test_missing_capability(sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(denied_capabilities=["moodle/user:create"])
    with pytest.raises(MissingCapability) as exc:
        client.call("core_user_create_users", {"users": [{
            "username": "x@uni.kz", "createpassword": 1, "firstname": "X", "lastname": "Y", "email": "x@uni.kz"}]})
    assert isinstance(exc.value, AccessDenied)
    with use_locale("en"):
        assert "core_user_create_users" in exc.value.user_message
        assert "Create users" in exc.value.user_message


def test_true_is_rejected_and_unknown_keys_too(sandbox: Served, client: MoodleClient) -> None:
    sandbox.configure(debug=True)  # the reason is in debuginfo only
    # Booleans must travel as 0/1: the raw string "true" is what Moodle refuses.
    with pytest.raises(InvalidParameter) as exc:
        client.call("mod_quiz_get_user_attempts", {"quizid": 1, "includepreviews": "true"})
    assert 'the value is "true"' in exc.value.debuginfo
    with pytest.raises(InvalidParameter) as unknown:
        client.call("core_course_get_courses_by_field", {"field": "id", "value": "2", "colour": "red"})
    assert "Unexpected keys (colour)" in unknown.value.debuginfo
    # The same call with a Python bool passes.
    out = client.call("mod_quiz_get_user_attempts", {"quizid": 1, "status": "all", "includepreviews": True})
    assert out == {"attempts": [], "warnings": []}


def test_missing_record(client: MoodleClient) -> None:
    with pytest.raises(MissingRecord) as exc:
        client.call("mod_quiz_get_overrides", {"quizid": 999})
    with use_locale("en"):
        assert "mod_quiz_get_overrides" in exc.value.user_message


def test_errors_map_by_errorcode_and_pickle() -> None:
    body = {"exception": "webservice_access_exception", "errorcode": "accessexception",
            "message": "Access control exception", "debuginfo": "Access to the function x() is not allowed."}
    err = error_from_body(body, "x")
    assert type(err) is AccessDenied
    assert "is not allowed" in err.detail
    assert type(error_from_body({"exception": "dml_missing_record_exception", "errorcode": "invalidrecord",
                                 "message": "m"}, "f")) is MissingRecord
    assert type(error_from_body({"exception": "e", "errorcode": "requireloginerror", "message": "m"}, "f")) \
        is MissingCapability
    assert type(error_from_body({"exception": "e", "errorcode": "somethingelse", "message": "m"}, "f")) \
        is MoodleError
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert (type(copy), copy.errorcode, copy.function, copy.debuginfo) == (AccessDenied, "accessexception", "x",
                                                                          body["debuginfo"])
    missing = pickle.loads(pickle.dumps(FunctionsMissing("m", missing=("a", "b"))))  # noqa: S301
    assert missing.missing == ("a", "b")


def test_user_messages_are_translated() -> None:
    err = InvalidToken("Invalid token - token not found", errorcode="invalidtoken", function="f")
    with use_locale("en"):
        en = err.user_message
    with use_locale("ru"):
        ru = err.user_message
    assert en
    assert ru


class Flaky:
    """A Moodle whose first ``failures`` answers are HTTP 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        with self.lock:
            self.calls += 1
            n = self.calls
        if n <= self.failures:
            return Response("oops", status=503)(environ, start_response)
        if request.form.get("wsfunction") == "html":
            return Response("<html>login</html>", mimetype="text/html")(environ, start_response)
        return Response('{"ok": 1}', mimetype="application/json")(environ, start_response)


@pytest.fixture
def flaky() -> tuple[Flaky, str]:
    app = Flaky(2)
    server, url, _t = serve(app)
    yield app, url
    server.shutdown()
    server.server_close()


def test_reads_are_retried_with_jittered_backoff(flaky: tuple[Flaky, str]) -> None:
    app, url = flaky
    sleeps: list[float] = []
    calls = ApiCalls()
    client = MoodleClient(url, Secret("t"), api_calls=calls, timeout=5, max_retries=3, sleep=sleeps.append,
                          rand=lambda: 0.5)
    assert client.call("core_course_get_contents", {"courseid": 1}) == {"ok": 1}
    assert app.calls == 3
    assert sleeps == [0.5, 1.0]
    assert calls.snapshot()["moodle"] == 3


def test_reads_give_up_after_the_bound(flaky: tuple[Flaky, str]) -> None:
    app, url = flaky
    client = MoodleClient(url, Secret("t"), timeout=5, max_retries=1, sleep=lambda _s: None)
    with pytest.raises(MoodleUnavailable) as exc:
        client.call("core_course_get_contents", {"courseid": 1})
    assert exc.value.retryable
    assert app.calls == 2


def test_writes_are_not_retried(flaky: tuple[Flaky, str]) -> None:
    app, url = flaky
    client = MoodleClient(url, Secret("t"), timeout=5, max_retries=5, sleep=lambda _s: None)
    with pytest.raises(MoodleUnavailable):
        client.call("core_user_create_users", {"users": [{"username": "a"}]})
    assert app.calls == 1


def test_a_non_json_answer_names_the_url_setting(flaky: tuple[Flaky, str]) -> None:
    app, url = flaky
    app.failures = 0
    client = MoodleClient(url, Secret("t"), timeout=5)
    with pytest.raises(BadResponse) as exc:
        client.call("html")
    with use_locale("en"):
        assert "moodle.url" in exc.value.user_message


def test_network_errors_do_not_leak_the_token(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = MoodleClient("http://127.0.0.1:9", Secret("secret-tok-42"), timeout=0.5, max_retries=1,
                          sleep=lambda _s: None)
    with pytest.raises(MoodleUnavailable) as exc:
        client.call("core_webservice_get_site_info")
    assert "secret-tok-42" not in caplog.text
    assert "secret-tok-42" not in str(exc.value) + exc.value.user_message


class EchoingMoodle:
    """A Moodle that repeats the request's token back, as debugging sites and proxies' error pages do."""

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        form = Request(environ).form
        token = form.get("wstoken", "")
        if form.get("wsfunction") == "echo_page":
            page = f"<html><body>Bad request: wstoken={token}&amp;wsfunction=echo_page</body></html>"
            return Response(page, mimetype="text/html")(environ, start_response)
        body = {"exception": "invalid_parameter_exception", "errorcode": "invalidparameter",
                "message": f"Invalid parameter value detected (token {token})",
                "debuginfo": f"wstoken => {token}; courseid => ?"}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


@pytest.mark.parametrize("function", ["echo_error", "echo_page"])
def test_a_token_moodle_echoes_back_is_scrubbed(function: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server, url, _t = serve(EchoingMoodle())
    token = "0f6e2b5c9d1a4e7f8a3b2c1d0e9f8a7b"
    client = MoodleClient(url, Secret(token), timeout=5, max_retries=0, sleep=lambda _s: None)
    try:
        with pytest.raises(MoodleError) as exc:
            client.call(function)
    finally:
        server.shutdown()
        server.server_close()
    err = exc.value
    with use_locale("en"):
        shown = " ".join([str(err), repr(err), err.detail, err.user_message, repr(vars(err)), caplog.text])
    assert token not in shown
    assert token[:12] not in shown
    assert "***" in err.detail or "***" in str(err)  # the rest of Moodle's explanation is kept


def test_batches_are_split_under_max_input_vars(client: MoodleClient, api_calls: ApiCalls) -> None:
    client.max_input_vars = 20  # 3 fixed vars + 17: each user below takes 5 vars -> 3 per request
    users = [{"username": f"u{i}@uni.kz", "createpassword": True, "firstname": "F", "lastname": "L",
              "email": f"u{i}@uni.kz"} for i in range(5)]
    assert [len(c) for c in client.chunks("users", users)] == [3, 2]
    made = client.call_batched("core_user_create_users", "users", users)
    assert [m["username"] for m in made] == [u["username"] for u in users]
    assert api_calls.snapshot()["moodle"] == 2
    with pytest.raises(ValueError, match="max_input_vars"):
        client.call("core_user_create_users", {"users": users})


def test_a_renamed_5x_function_satisfies_the_check() -> None:
    from lms_bridge.moodle.client import SiteInfo

    info = SiteInfo("s", "u", "admin", 2, "5.1", "2025100600",
                    frozenset({"mod_quiz_get_user_quiz_attempts", "core_user_create_users"}))
    assert info.missing(["mod_quiz_get_user_attempts", "core_user_create_users", "x"]) == ["x"]
    assert info.pick("mod_quiz_get_user_attempts") == "mod_quiz_get_user_quiz_attempts"
    assert info.pick("core_user_create_users") == "core_user_create_users"


def test_a_body_with_exception_but_no_errorcode_is_an_error_without_the_token() -> None:
    """Moodle 4.5 lets a PHP TypeError out as {"exception", "message"} (captured __unknown_user)."""

    def php_error(environ, start_response):  # type: ignore[no-untyped-def]
        token = Request(environ).form.get("wstoken", "")
        body = {"exception": "TypeError", "message": f"Argument #1 must be of type stdClass, bool given ({token})"}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)

    server, url, _t = serve(php_error)
    try:
        client = MoodleClient(url, Secret("s3cr3t-token"), timeout=5)
        with pytest.raises(PhpError) as exc:
            client.call("enrol_manual_enrol_users", {"enrolments": [{"roleid": 5, "userid": 9, "courseid": 2}]})
    finally:
        server.shutdown()
        server.server_close()
    err = exc.value
    assert (err.exception, err.errorcode) == ("TypeError", "")
    assert "stdClass" in err.message
    with use_locale("en"):
        text = err.user_message
    assert "s3cr3t-token" not in text + str(err) + err.detail
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(copy) is PhpError
