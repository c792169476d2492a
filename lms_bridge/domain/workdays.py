"""Working days in Kazakhstan and the appeal deadlines counted in them (R-APPEAL-1, R-APPEAL-3).

Public holidays come from the ``holidays`` package (``country_holidays("KZ")``).  It includes the
days off moved to Monday when a holiday falls on a weekend (the ``observed`` rule of the Labour
Code) and the government's one-off transfers it knows of (``special_public_holidays``; at the time of
writing up to 2025).  It does *not* know the Saturdays or Sundays that such a transfer turns into
working days, nor transfers decreed after the package release, so :class:`WorkCalendar` takes both
as settings (``extra_days_off``, ``extra_working_days``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import holidays

from lms_bridge.i18n import current_locale
from lms_bridge.i18n import gettext as _

SATURDAY, SUNDAY = 5, 6
# Languages the holidays package has for Kazakhstan: kk, en_US (and uk).  It has no Russian names,
# so Russian pages show the official Kazakh ones.
HOLIDAY_LANGUAGES = {"kk": "kk", "ru": "kk", "en": "en_US"}


@cache
def _country_holidays(country: str, language: str) -> holidays.HolidayBase:
    # One instance per language that fills in years lazily as dates are asked for.
    return holidays.country_holidays(country, observed=True, language=language)


class WorkdayError(ValueError):
    """A bad date or deadline setting; the message names it."""


def _plain_date(value: date, name: str) -> date:
    # datetime is a subclass of date: a UTC datetime's .date() may be the wrong local day, so the
    # caller must convert to the session's time zone and pass the date it means.
    if isinstance(value, datetime):
        raise WorkdayError(_("%(name)s must be a date in the session's time zone, not a date and time",
                             name=name))
    if not isinstance(value, date):
        raise WorkdayError(_("%(name)s must be a date, not %(value)s", name=name, value=repr(value)))
    return value


@dataclass(frozen=True)
class WorkCalendar:
    country: str = "KZ"
    weekend: frozenset[int] = frozenset({SATURDAY, SUNDAY})
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()

    @property
    def _holidays(self) -> holidays.HolidayBase:
        return _country_holidays(self.country, "kk")

    def holiday_name(self, day: date, lang: str | None = None) -> str | None:
        """The holiday's name in ``lang`` (default: the current locale), or None on an ordinary day."""
        day = _plain_date(day, "day")
        if day in self.extra_days_off:
            return _("day off")
        language = HOLIDAY_LANGUAGES.get(lang or current_locale(), "kk")
        name = _country_holidays(self.country, language).get(day)
        return str(name) if name else None

    def is_working_day(self, day: date) -> bool:
        day = _plain_date(day, "day")
        if day in self.extra_working_days:
            return True
        if day in self.extra_days_off or day.weekday() in self.weekend:
            return False
        return day not in self._holidays

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        day = _plain_date(day, "day") + timedelta(days=1)
        for _attempt in range(366):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise WorkdayError("no working day within a year; check the calendar settings")  # pragma: no cover

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (``day`` itself is not counted; ``n = 0`` is ``day``)."""
        day = _plain_date(day, "day")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise WorkdayError(f"the number of working days must be a whole number ≥ 0, not {n!r}")
        for _step in range(n):
            day = self.next_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end``."""
        start, end = _plain_date(start, "start"), _plain_date(end, "end")
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


def kz_calendar(extra_days_off: Iterable[date] = (), extra_working_days: Iterable[date] = ()) -> WorkCalendar:
    return WorkCalendar(extra_days_off=frozenset(extra_days_off),
                        extra_working_days=frozenset(extra_working_days))


@dataclass(frozen=True)
class AppealSettings:
    # 003 §64: the window for filing is at least 2 working days from publication of the results.
    filing_working_days: int = 2
    # 003 §66-67: the hearing within 2 working days of the application; the answer within 1 after it.
    hearing_working_days: int = 2
    answer_working_days: int = 1
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    def __post_init__(self) -> None:
        for name in ("filing_working_days", "hearing_working_days", "answer_working_days"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise WorkdayError(f"appeal setting {name!r} must be a whole number ≥ 0, not {value!r}")
        if self.filing_working_days < 2:
            # The Ministry's minimum; a university may give more, never less.
            raise WorkdayError("appeal setting 'filing_working_days' must be at least 2 (003 §64)")


@dataclass(frozen=True)
class AppealDeadlines:
    published: date
    filing_closes: date  # last day an appeal may be filed
    filed: date | None = None
    hearing_by: date | None = None  # latest day for the hearing
    heard: date | None = None
    answer_by: date | None = None  # latest day for the answer to the applicant


def filing_closes(published: date, settings: AppealSettings | None = None) -> date:
    settings = settings or AppealSettings()
    published = _plain_date(published, "published")
    return settings.calendar.add_working_days(published, settings.filing_working_days)


def hearing_by(filed: date, settings: AppealSettings | None = None) -> date:
    settings = settings or AppealSettings()
    return settings.calendar.add_working_days(_plain_date(filed, "filed"), settings.hearing_working_days)


def answer_by(heard: date, settings: AppealSettings | None = None) -> date:
    settings = settings or AppealSettings()
    return settings.calendar.add_working_days(_plain_date(heard, "heard"), settings.answer_working_days)


def appeal_deadlines(published: date, *, filed: date | None = None, heard: date | None = None,
                     settings: AppealSettings | None = None) -> AppealDeadlines:
    """All deadlines known so far.  A filing after the window, or a hearing before the filing, is an error."""
    settings = settings or AppealSettings()
    closes = filing_closes(published, settings)
    result = AppealDeadlines(published=published, filing_closes=closes)
    if filed is None:
        if heard is not None:
            raise WorkdayError(_("an appeal cannot be heard before it is filed"))
        return result
    filed = _plain_date(filed, "filed")
    if filed < published:
        raise WorkdayError(_("the appeal is filed on %(filed)s, before the results were published on "
                             "%(published)s", filed=filed, published=published))
    if filed > closes:
        raise WorkdayError(_("the appeal is filed on %(filed)s, after the filing window closed on %(closes)s",
                             filed=filed, closes=closes))
    result = AppealDeadlines(published=published, filing_closes=closes, filed=filed,
                             hearing_by=hearing_by(filed, settings))
    if heard is None:
        return result
    heard = _plain_date(heard, "heard")
    if heard < filed:
        raise WorkdayError(_("the hearing on %(heard)s is before the appeal was filed on %(filed)s",
                             heard=heard, filed=filed))
    return AppealDeadlines(published=published, filing_closes=closes, filed=filed,
                           hearing_by=result.hearing_by, heard=heard, answer_by=answer_by(heard, settings))
