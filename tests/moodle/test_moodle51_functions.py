"""What the product calls, against the web-service functions a real Moodle 5.1 defines.

tests/fixtures/moodle/functions/moodle-5.1.json was read from a standard Moodle 5.1+ (2025100600.02):
every function in ``external_functions`` and the ones 5.1 marks deprecated.  A function the product or the
plugin's ``lms_bridge`` service needs that 5.1 does not define would make the connect check refuse the
site; a deprecated one logs a notice on every call and goes away in a later release.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lms_bridge.moodle.client import ALTERNATIVES, FEATURE_FUNCTIONS, OPTIONAL_FUNCTIONS, PLUGIN_FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent.parent
MOODLE51 = json.loads((ROOT / "tests" / "fixtures" / "moodle" / "functions" / "moodle-5.1.json").read_text("utf-8"))

# Deprecated on 5.1 yet still called, with what replaces it; any other deprecated call fails the test.
KNOWN_DEPRECATED = {
    "mod_quiz_get_user_attempts": "deprecated since 5.0, removed in 6.0; kept for 4.5, which lacks "
                                  "mod_quiz_get_user_quiz_attempts: where the service offers both, the client "
                                  "calls the new one (test_a_deprecated_function_is_never_picked_on_51)",
}


def _product_functions() -> set[str]:
    names = {fn for fns in FEATURE_FUNCTIONS.values() for fn in fns} | set(OPTIONAL_FUNCTIONS)
    return names - set(PLUGIN_FUNCTIONS)


def _service_functions() -> set[str]:
    text = (ROOT / "local_lmsbridge" / "db" / "services.php").read_text("utf-8")
    block = text[text.index("$services"):]
    return set(re.findall(r"'((?:core|mod|enrol)_\w+)'", block))


def test_every_function_the_product_calls_exists_on_moodle_51() -> None:
    defined = set(MOODLE51["functions"])
    assert len(defined) > 500, "the 5.1 function list looks truncated"
    missing = sorted(fn for fn in _product_functions() | _service_functions() if fn not in defined)
    assert missing == []


def test_the_renamed_attempts_function_exists_on_moodle_51() -> None:
    for old, new in ALTERNATIVES.items():
        assert old in MOODLE51["deprecated"], old
        assert all(n in MOODLE51["functions"] and n not in MOODLE51["deprecated"] for n in new), new


def test_only_the_known_deprecated_functions_are_called() -> None:
    used = _product_functions() | _service_functions()
    assert {fn for fn in used if fn in MOODLE51["deprecated"]} == set(KNOWN_DEPRECATED)


def test_a_deprecated_function_is_never_picked_on_51() -> None:
    """With every function 5.1 defines offered, no name the client picks is deprecated, and the plugin's
    service offers the replacement of each deprecated one it keeps."""
    from lms_bridge.moodle.client import SiteInfo

    info = SiteInfo("s", "u", "lmsbridge", 2, MOODLE51["release"], MOODLE51["version"],
                    frozenset(MOODLE51["functions"]))
    picked = {info.pick(fn) for fn in _product_functions()}
    assert not picked & set(MOODLE51["deprecated"]), sorted(picked & set(MOODLE51["deprecated"]))
    service = _service_functions()
    for old in KNOWN_DEPRECATED:
        assert old in ALTERNATIVES, old
        assert set(ALTERNATIVES[old]) <= service, ALTERNATIVES[old]
