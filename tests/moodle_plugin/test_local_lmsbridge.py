"""Checks of the companion plugin's source and of the captured Moodle fixtures.

The plugin's behaviour was checked against a real Moodle 4.5 (docs/moodle-live-check.md); these tests keep
the parts that can break silently in a repository without Moodle: PHP syntax, licence headers, the service
definition, language packs in three languages, the webhook signature agreeing with the bridge's verifier,
and the fixtures staying scrubbed and well-formed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lms_bridge.webhooks.verify import sign_moodle, verify_moodle

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "local_lmsbridge"
FIXTURES = ROOT / "tests" / "fixtures" / "moodle"
PHP = shutil.which("php")
needs_php = pytest.mark.skipif(PHP is None, reason="php CLI not installed")

PHP_FILES = sorted(PLUGIN.rglob("*.php"))

# The core functions lms_bridge calls; the pre-built service must offer each of them.
CORE_FUNCTIONS = {
    "core_webservice_get_site_info", "core_user_get_users_by_field", "core_user_create_users",
    "enrol_manual_enrol_users", "core_enrol_get_enrolled_users", "core_course_create_courses",
    "core_course_get_courses_by_field", "core_course_duplicate_course", "core_course_get_contents",
    "mod_quiz_get_quizzes_by_courses", "mod_quiz_get_user_attempts", "mod_quiz_save_overrides",
    "mod_quiz_add_random_questions", "mod_assign_get_assignments", "mod_assign_get_submissions",
    "mod_assign_save_grade", "core_grades_update_grades", "core_grades_get_gradeitems",
    "core_course_update_courses", "mod_quiz_get_overrides", "mod_assign_get_grades",
    "core_user_get_users", "core_course_get_course_module", "mod_quiz_get_user_quiz_attempts", "core_get_fragment",
}
PLUGIN_FUNCTIONS = {
    "local_lmsbridge_setup_tickets", "local_lmsbridge_get_drawn_tickets", "local_lmsbridge_ensure_result_assignment",
    "local_lmsbridge_setup_test_quiz", "local_lmsbridge_open_ticket",
}


def php_json(code: str) -> object:
    """Run PHP code that echoes JSON (Moodle constants stubbed) and decode it."""
    prelude = (
        "define('MOODLE_INTERNAL', true); define('MATURITY_STABLE', 200); define('RISK_CONFIG', 2);"
        "define('RISK_XSS', 4); define('RISK_PERSONAL', 8); define('CONTEXT_COURSE', 50);"
        "define('CONTEXT_MODULE', 70); define('CAP_ALLOW', 1); $plugin = new stdClass();"
    )
    out = subprocess.run([PHP, "-r", prelude + code], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def test_plugin_has_the_expected_files() -> None:
    names = {p.relative_to(PLUGIN).as_posix() for p in PHP_FILES}
    for required in ("version.php", "settings.php", "db/services.php", "db/events.php", "db/access.php",
                     "lang/en/local_lmsbridge.php", "lang/kk/local_lmsbridge.php", "lang/ru/local_lmsbridge.php",
                     "classes/observer.php", "classes/webhook.php", "classes/tickets.php",
                     "classes/task/post_webhook.php", "classes/privacy/provider.php",
                     "classes/external/setup_tickets.php", "classes/external/get_drawn_tickets.php",
                     "classes/external/ensure_result_assignment.php"):
        assert required in names


@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: p.relative_to(PLUGIN).as_posix())
def test_every_php_file_carries_the_plugins_gpl_header(path: Path) -> None:
    head = path.read_text(encoding="utf-8")[:1200]
    assert head.startswith("<?php\n// This file is part of local_lmsbridge")
    assert "GNU General Public License" in head
    assert "either version 3 of the License" in head
    # Moodle's own header names Moodle as the work; this plugin's files must name the plugin.
    assert "This file is part of Moodle -" not in head


@needs_php
@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: p.relative_to(PLUGIN).as_posix())
def test_every_php_file_parses(path: Path) -> None:
    result = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_php
def test_version_targets_moodle_45_lts_and_5x() -> None:
    plugin = php_json(f"require '{PLUGIN / 'version.php'}'; echo json_encode($plugin);")
    assert plugin["component"] == "local_lmsbridge"
    assert plugin["requires"] == 2024100700
    assert plugin["supported"] == [405, 501]
    assert re.fullmatch(r"20\d{8}", str(plugin["version"]))


@needs_php
def test_service_offers_every_function_the_bridge_calls() -> None:
    data = php_json(f"require '{PLUGIN / 'db/services.php'}'; echo json_encode(['f' => $functions, 's' => $services]);")
    assert set(data["f"]) == PLUGIN_FUNCTIONS
    service = data["s"]["lms_bridge"]
    assert service["shortname"] == "lms_bridge"
    assert service["enabled"] == 1
    assert set(service["functions"]) == CORE_FUNCTIONS | PLUGIN_FUNCTIONS
    # Everything the bridge's client may call, optional functions included, is in the service.
    from lms_bridge.moodle.client import FEATURE_FUNCTIONS, OPTIONAL_FUNCTIONS

    wanted = {fn for fns in FEATURE_FUNCTIONS.values() for fn in fns} | set(OPTIONAL_FUNCTIONS)
    assert wanted <= set(service["functions"]), sorted(wanted - set(service["functions"]))
    for name, spec in data["f"].items():
        # classname local_lmsbridge\external\x autoloads from classes/external/x.php.
        ns, _, cls = spec["classname"].rpartition("\\")
        assert ns == "local_lmsbridge\\external", name
        assert (PLUGIN / "classes" / "external" / f"{cls}.php").is_file(), name
        assert name == f"local_lmsbridge_{cls}"


@needs_php
def test_observers_are_delivered_after_commit() -> None:
    observers = php_json(f"require '{PLUGIN / 'db/events.php'}'; echo json_encode($observers);")
    assert {o["eventname"] for o in observers} == {
        "\\mod_quiz\\event\\attempt_started", "\\mod_quiz\\event\\attempt_submitted",
        "\\mod_assign\\event\\assessable_submitted",
    }
    assert all(o["internal"] is False for o in observers)
    observer_src = (PLUGIN / "classes" / "observer.php").read_text(encoding="utf-8")
    for o in observers:
        method = o["callback"].rpartition("::")[2]
        assert f"public static function {method}(" in observer_src


def _lang(code: str) -> dict[str, str]:
    path = PLUGIN / "lang" / code / "local_lmsbridge.php"
    return php_json(f"$string = []; require '{path}'; echo json_encode($string);")


@needs_php
def test_language_packs_define_the_same_strings_in_three_languages() -> None:
    en, kk, ru = _lang("en"), _lang("kk"), _lang("ru")
    assert set(en) == set(kk) == set(ru)
    for key in en:
        # Placeholders must survive translation, or Moodle prints the raw {$a->...}.
        placeholders = set(re.findall(r"\{\$a(?:->\w+)?\}", en[key]))
        assert set(re.findall(r"\{\$a(?:->\w+)?\}", kk[key])) == placeholders, key
        assert set(re.findall(r"\{\$a(?:->\w+)?\}", ru[key])) == placeholders, key
        assert kk[key] != en[key] or key == "pluginname", key


@needs_php
def test_every_string_the_code_uses_exists() -> None:
    en = _lang("en")
    used: set[str] = set()
    for path in PHP_FILES:
        if "/lang/" in path.as_posix():
            continue
        src = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"(?:get_string|lang_string|moodle_exception)\('([\w:]+)', 'local_lmsbridge'", src))
        used |= set(re.findall(r"'(privacy:metadata:[\w:]+)'", src))
    caps = php_json(f"require '{PLUGIN / 'db/access.php'}'; echo json_encode(array_keys($capabilities));")
    used |= {cap.replace("local/", "") for cap in caps}
    assert used, "no string lookups found"
    assert sorted(used - set(en)) == []


@needs_php
def test_php_signature_is_what_the_bridge_verifies() -> None:
    body = json.dumps({"schema": 1, "event": "quiz_attempt_started", "delivery_id": "d-1",
                       "useremail": "айгерим@example.edu"}, ensure_ascii=False)
    secret, timestamp = "s3cret-with-ünïcode", 1795436600
    # Both strings travel as base64 so PHP sees exactly these UTF-8 bytes.
    b64 = {name: base64.b64encode(value.encode()).decode() for name, value in (("secret", secret), ("body", body))}
    code = (f"require '{PLUGIN / 'classes/webhook.php'}';"
            f"echo json_encode(\\local_lmsbridge\\webhook::signature(base64_decode('{b64['secret']}'), {timestamp}, "
            f"base64_decode('{b64['body']}')));")
    php_signature = php_json(code)
    assert php_signature == sign_moodle(secret, str(timestamp), body.encode())
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body.encode(), hashlib.sha256).hexdigest()
    assert php_signature == "sha256=" + expected
    headers = {"X-LmsBridge-Delivery": "d-1", "X-LmsBridge-Timestamp": str(timestamp),
               "X-LmsBridge-Signature": php_signature}
    assert verify_moodle(headers, body.encode(), secret, now=timestamp + 10) == "d-1"


# -- fixtures --------------------------------------------------------------------------------------

FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def test_every_function_the_bridge_calls_has_a_success_fixture() -> None:
    names = {p.stem for p in FIXTURE_FILES}
    assert sorted((CORE_FUNCTIONS | PLUGIN_FUNCTIONS) - names) == []


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_shape_and_scrubbing(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert doc["request"]["wsfunction"] == path.stem.split("__")[0]
    assert isinstance(doc["request"]["params"], dict)
    assert doc["status"] in (200, 403)
    assert "response" in doc
    if doc["status"] == 403:
        assert doc["body"] == ""
        assert doc["response"] is None
    response = doc["response"]
    if isinstance(response, dict) and "exception" in response:
        assert set(response) <= {"exception", "errorcode", "message", "debuginfo"}
        # A PHP error escapes Moodle's handler with no errorcode (enrol_manual_enrol_users__unknown_user).
        assert response.get("errorcode") or response["exception"] in {"TypeError", "ValueError", "Error"}
        assert response["message"]
        # Production-mode captures carry no debuginfo; only the *_debug twins may.
        if "debuginfo" in response:
            assert path.stem.endswith("_debug")
    # No local address, and nothing that looks like a 32-hex web-service token.
    assert "127.0.0.1" not in text
    assert "8085" not in text
    assert not re.search(r"\b[0-9a-f]{32}\b", text.replace("0123456789abcdef0123456789abcdef", ""))


@pytest.mark.parametrize("path", sorted((FIXTURES / "webhooks").glob("*.json")), ids=lambda p: p.name)
def test_webhook_fixtures_follow_the_published_format(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    payload = doc["payload"]
    assert payload["event"] == path.stem
    assert set(payload) == {"schema", "event", "eventname", "delivery_id", "timestamp", "site", "courseid",
                            "courseidnumber", "cmid", "userid", "useridnumber", "useremail", "objectid", "other"}
    assert payload["schema"] == 1
    assert payload["site"] == "https://moodle.example.edu"
    assert doc["headers"]["X-LmsBridge-Delivery"] == payload["delivery_id"]
    assert doc["headers"]["X-LmsBridge-Timestamp"].isdigit()
    assert doc["headers"]["Content-Type"] == "application/json; charset=utf-8"
    if path.stem.startswith("quiz_"):
        assert set(payload["other"]) == {"quizid", "attempt", "state", "timestart", "timefinish", "submitterid",
                                         "studentisonline", "ticket"}
        assert re.fullmatch(r"ticket-\d+", payload["other"]["ticket"]["idnumber"])
    else:
        assert set(payload["other"]) == {"assignid", "submissionid", "attemptnumber", "status", "submissiondrafts",
                                         "timemodified", "groupid"}


def test_published_examples_match_the_captured_payloads() -> None:
    doc = (ROOT / "docs" / "moodle-webhooks.md").read_text(encoding="utf-8")
    examples = [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", doc, flags=re.S)]
    assert len(examples) >= 3
    captured = {p.stem: json.loads(p.read_text(encoding="utf-8"))["payload"]
                for p in (FIXTURES / "webhooks").glob("*.json")}
    for example in examples:
        real = captured[example["event"]]
        assert set(example) == set(real)
        assert set(example["other"]) == set(real["other"])
