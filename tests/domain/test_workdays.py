from __future__ import annotations

from datetime import date, datetime

import pytest

from lms_bridge.domain.workdays import (
    AppealSettings,
    WorkCalendar,
    WorkdayError,
    answer_by,
    appeal_deadlines,
    filing_closes,
    hearing_by,
    kz_calendar,
)

KZ = WorkCalendar()


def test_weekends_and_kazakh_public_holidays_are_days_off():
    assert KZ.is_working_day(date(2026, 3, 20))  # Friday
    assert not KZ.is_working_day(date(2026, 3, 21))  # Saturday, Nauryz
    assert not KZ.is_working_day(date(2026, 3, 23))  # Monday, Nauryz
    assert not KZ.is_working_day(date(2026, 12, 16))  # Wednesday, Independence Day
    assert KZ.holiday_name(date(2026, 12, 16), "en") == "Independence Day"
    assert KZ.holiday_name(date(2026, 12, 16), "kk") == "Тәуелсіздік күні"
    assert KZ.holiday_name(date(2026, 12, 15)) is None
    assert KZ.is_working_day(date(2026, 12, 17))


def test_holidays_on_a_weekend_move_to_monday():
    # Victory Day 2026 is a Saturday; the day off moves to Monday 11 May.
    assert not KZ.is_working_day(date(2026, 5, 11))
    assert "observed" in KZ.holiday_name(date(2026, 5, 11), "en")


def test_government_transfers_known_to_the_package_are_days_off():
    assert not KZ.is_working_day(date(2025, 1, 3))  # Friday, moved from Sunday 5 January


def test_decreed_transfers_are_settings():
    cal = kz_calendar(extra_days_off=[date(2026, 6, 12)], extra_working_days=[date(2026, 6, 13)])
    assert not cal.is_working_day(date(2026, 6, 12))
    assert cal.is_working_day(date(2026, 6, 13))  # a working Saturday


def test_add_working_days_skips_weekends():
    assert KZ.add_working_days(date(2026, 6, 12), 1) == date(2026, 6, 15)  # Fri -> Mon
    assert KZ.add_working_days(date(2026, 6, 12), 0) == date(2026, 6, 12)
    assert KZ.working_days_between(date(2026, 6, 12), date(2026, 6, 16)) == 2


def test_a_deadline_across_a_public_holiday():
    # Results published on Friday 20 March 2026; 21-25 March are Nauryz and the weekend.
    # Two working days later is Friday 27 March, not Tuesday 24 March.
    assert filing_closes(date(2026, 3, 20)) == date(2026, 3, 27)
    # Filed Tuesday 15 Dec 2026: 16 Dec is Independence Day, so the hearing is due by Friday 18 Dec.
    assert hearing_by(date(2026, 12, 15)) == date(2026, 12, 18)
    # Heard Thursday 30 April 2026: 1 May is a holiday, then the weekend: answer by Monday 4 May.
    assert answer_by(date(2026, 4, 30)) == date(2026, 5, 4)


def test_appeal_deadlines_chain_and_refuse_impossible_dates():
    d = appeal_deadlines(date(2026, 6, 10), filed=date(2026, 6, 12), heard=date(2026, 6, 15))
    got = (d.filing_closes, d.hearing_by, d.answer_by)
    assert got == (date(2026, 6, 12), date(2026, 6, 16), date(2026, 6, 16))
    with pytest.raises(WorkdayError, match="after the filing window closed on 2026-06-12"):
        appeal_deadlines(date(2026, 6, 10), filed=date(2026, 6, 15))
    with pytest.raises(WorkdayError, match="before the appeal was filed"):
        appeal_deadlines(date(2026, 6, 10), filed=date(2026, 6, 12), heard=date(2026, 6, 11))


def test_deadlines_are_settings_with_the_ministry_minimum():
    longer = AppealSettings(filing_working_days=5)
    assert filing_closes(date(2026, 6, 10), longer) == date(2026, 6, 17)
    with pytest.raises(WorkdayError, match="at least 2"):
        AppealSettings(filing_working_days=1)
    with pytest.raises(WorkdayError, match="'hearing_working_days'"):
        AppealSettings(hearing_working_days=-1)


def test_datetimes_are_refused_so_the_time_zone_is_explicit():
    with pytest.raises(WorkdayError, match="not a date and time"):
        filing_closes(datetime(2026, 3, 20, 20, 0))  # type: ignore[arg-type]
