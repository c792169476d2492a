"""With CI set, a skipped test fails the run unless it is a moodle_live one (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TESTS = """
    import pytest

    @pytest.fixture
    def chromium():
        pytest.skip("chromium and chromium-driver are not installed")

    @pytest.mark.production
    def test_store_on_postgresql():
        pytest.skip("LMS_BRIDGE_TEST_DATABASE_URL is not set")

    @pytest.mark.browser
    def test_in_browser(chromium):
        pass

    @pytest.mark.skipif(True, reason="php CLI not installed")
    def test_plugin_syntax():
        pass

    @pytest.mark.moodle_live
    @pytest.mark.skipif(True, reason="LMS_BRIDGE_LIVE_MOODLE_URL not set")
    def test_real_moodle():
        pass

    @pytest.mark.xfail(reason="a known gap", strict=True)
    def test_known_gap():
        assert False

    def test_ordinary():
        pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini("""
        [pytest]
        markers =
            production: PostgreSQL and Redis
            browser: Chromium
            moodle_live: a real Moodle
    """)
    pytester.makepyfile(test_tiers=TESTS)
    return pytester


def test_in_ci_every_skip_but_moodle_live_fails(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    # A skip in the test body fails the test; a skip in its setup (a fixture, a skipif) errors it.
    result.assert_outcomes(passed=1, failed=1, errors=2, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random([
        "*skipped in CI (LMS_BRIDGE_TEST_DATABASE_URL is not set)*",
        "*skipped in CI (php CLI not installed)*",
        "*skipped in CI (chromium and chromium-driver are not installed)*",
        "SKIPPED*LMS_BRIDGE_LIVE_MOODLE_URL not set*",
    ])


@pytest.mark.parametrize("value", ["", "false", "0"])
def test_outside_ci_skips_stay_skips(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_in_ci_a_module_skipped_at_import_fails(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                ci: str) -> None:
    suite.makepyfile(test_needs_sandbox="""
        import pytest

        pytest.importorskip("lms_bridge_no_such_module")

        def test_flow():
            pass
    """)
    monkeypatch.setenv("CI", ci)
    result = suite.runpytest("-p", "no:cacheprovider", "test_needs_sandbox.py")
    result.assert_outcomes(errors=1)
    assert result.ret != pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*skipped at collection in CI*lms_bridge_no_such_module*"])
    monkeypatch.delenv("CI")
    result = suite.runpytest("-p", "no:cacheprovider", "test_needs_sandbox.py")
    result.assert_outcomes(skipped=1)
