"""The ``[appeals]`` settings: deadlines in working days and the calendar's moved days."""

from __future__ import annotations

from datetime import date

import pytest

from lms_bridge.config import ConfigError, load_settings
from lms_bridge.domain.workdays import filing_closes
from lms_bridge.results.appeals import appeal_settings


def test_the_defaults_are_the_ministrys() -> None:
    rules = appeal_settings(load_settings(environ={}))
    assert (rules.filing_working_days, rules.hearing_working_days, rules.answer_working_days) == (2, 2, 1)


def test_a_moved_day_off_from_the_environment_moves_the_window() -> None:
    settings = load_settings(environ={"LMS_BRIDGE_APPEALS_EXTRA_DAYS_OFF": "2026-07-03, 2026-07-08",
                                      "LMS_BRIDGE_APPEALS_FILING_WORKING_DAYS": "3"})
    rules = appeal_settings(settings)
    # Released Thursday 2 July 2026: Friday 3 is now off, then the weekend, Capital Day (6 July),
    # Tuesday 7, (Wednesday 8 off), Thursday 9, Friday 10.
    assert filing_closes(date(2026, 7, 2), rules) == date(2026, 7, 10)


@pytest.mark.parametrize(("env", "words"), [
    ({"LMS_BRIDGE_APPEALS_FILING_WORKING_DAYS": "1"}, "at least 2"),
    ({"LMS_BRIDGE_APPEALS_EXTRA_WORKING_DAYS": "2026-02-30"}, "appeals.extra_working_days"),
])
def test_bad_appeal_settings_are_refused_by_name(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(environ=env)
