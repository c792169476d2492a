from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lms_bridge.domain.session import ExamKind, SessionSpec, Student
from lms_bridge.domain.timetable import (
    TimetableError,
    TimetableSettings,
    build_timetable,
    plan_timetable,
    preparation_minutes_for,
)

ALMATY = "Asia/Almaty"  # UTC+5 since March 2024


def start(y=2026, m=6, d=10, h=10, minute=0, tz=ALMATY):
    return datetime(y, m, d, h, minute, tzinfo=ZoneInfo(tz))


def ids(n):
    return [f"S{i:02}" for i in range(1, n + 1)]


def test_identification_preparation_and_15_minute_slots():
    t = plan_timetable(ids(3), start(), ALMATY, preparation_minutes=50)
    first, second = t.slots[0], t.slots[1]
    assert first.identification_at == datetime(2026, 6, 10, 4, 30, tzinfo=UTC)  # 30 min before 10:00 local
    assert first.preparation_starts_at == datetime(2026, 6, 10, 5, 0, tzinfo=UTC)
    assert first.answer_starts_local == start(h=10, minute=50)
    assert first.answer_ends_at - first.answer_starts_at == timedelta(minutes=15)
    assert second.answer_starts_at == first.answer_ends_at
    assert first.answer_starts_at.tzinfo is UTC
    assert str(first.answer_starts_local.tzinfo) == ALMATY


def test_preparation_defaults_by_kind():
    assert preparation_minutes_for(ExamKind.ORAL_EXAM) == 50
    assert preparation_minutes_for("written_exam") == 100
    assert preparation_minutes_for(ExamKind.DEFENSE) == 0


def test_slot_overflow_to_the_next_day():
    # 300 minutes a day - 50 preparation = 250 -> 16 answers of 15 minutes; the 17th goes to Thursday.
    t = plan_timetable(ids(20), start(), ALMATY, preparation_minutes=50)
    assert [len(d.student_ids) for d in t.days] == [16, 4]
    assert all(d.work_minutes <= 300 for d in t.days)
    assert t.days[0].work_minutes == 290
    s17 = t.slot_for("S17")
    assert s17.day == 1
    assert s17.date == date(2026, 6, 11)
    # Next day starts again at 10:00 local: identification, draw and preparation for that day's students.
    assert s17.preparation_starts_at == datetime(2026, 6, 11, 5, 0, tzinfo=UTC)
    assert s17.answer_starts_local == start(d=11, h=10, minute=50)
    assert s17.identification_local == start(d=11, h=9, minute=30)


def test_overflow_skips_weekends_and_public_holidays():
    # Friday 20 March 2026; the next working day after Nauryz and the weekend is Thursday 26 March.
    t = plan_timetable(ids(18), start(2026, 3, 20), ALMATY, preparation_minutes=50)
    assert [d.date for d in t.days] == [date(2026, 3, 20), date(2026, 3, 26)]


def test_the_daily_limit_is_a_setting():
    s = TimetableSettings(max_daily_minutes=120)
    t = plan_timetable(ids(5), start(), ALMATY, preparation_minutes=60, settings=s)
    assert [len(d.student_ids) for d in t.days] == [4, 1]
    counted = TimetableSettings(max_daily_minutes=120, identification_counts_as_work=True)
    t = plan_timetable(ids(5), start(), ALMATY, preparation_minutes=60, settings=counted)
    assert [len(d.student_ids) for d in t.days] == [2, 2, 1]


def test_times_follow_the_zone_across_a_daylight_saving_change():
    # Berlin moves to summer time on Sunday 29 March 2026: 10:00 local is 09:00 UTC before, 08:00 after.
    t = plan_timetable(ids(3), start(2026, 3, 27, tz="Europe/Berlin"), "Europe/Berlin", preparation_minutes=0,
                       settings=TimetableSettings(max_daily_minutes=15))
    days = [d.starts_at for d in t.days]
    assert days == [datetime(2026, 3, 27, 9, 0, tzinfo=UTC), datetime(2026, 3, 30, 8, 0, tzinfo=UTC),
                    datetime(2026, 3, 31, 8, 0, tzinfo=UTC)]


def test_built_from_a_session_only_admitted_students_in_file_order():
    spec = SessionSpec(
        code="GEK-1", title="State exam", kind=ExamKind.ORAL_EXAM, programme="6B01", group="P-41",
        language="kk", timezone=ALMATY, starts_at=start(), preparation_minutes=50,
        students=(Student("S2", "B", "b@x.kz"), Student("S1", "A", "a@x.kz", admitted=False),
                  Student("S3", "C", "c@x.kz")))
    t = build_timetable(spec)
    assert [s.student_id for s in t.slots] == ["S2", "S3"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"starts_at": datetime(2026, 6, 10, 10, 0)}, "must carry a time zone"),
    ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"student_ids": ["S1", "S1"]}, "appears twice"),
    ({"preparation_minutes": 290}, "not even one student fits in a day"),
    ({"answer_minutes": 0}, "answer minutes must be a whole number above 0"),
])
def test_bad_inputs_are_refused(kwargs, message):
    args = {"student_ids": ids(2), "starts_at": start(), "timezone": ALMATY, "preparation_minutes": 50}
    args |= kwargs
    with pytest.raises(TimetableError, match=message):
        plan_timetable(args.pop("student_ids"), args.pop("starts_at"), args.pop("timezone"), **args)
