"""The timetable of a sitting: identification, ticket and preparation, 15-minute answer slots.

Rules (R-ID-1, R-TIME-1..3, R-SCHED-2): students and commission are identified 30 minutes before
the start; at the start the students of the day draw their tickets and prepare (time by exam kind,
``DEFAULT_PREPARATION_MINUTES`` in ``session.py``); then each answers in a 15-minute slot, in the
order of the list.  The commission sits at most 5 hours a day (003 §21): students who do not fit go
to the commission's next working day, at the same local start time, where they draw and prepare
in turn.  All numbers are settings.

Every instant is computed and returned in UTC; ``StudentSlot.local`` shows it in the session's
time zone (``zoneinfo``), so daylight-saving changes between days are handled by the zone data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lms_bridge.domain.session import DEFAULT_PREPARATION_MINUTES, ExamKind, SessionSpec
from lms_bridge.domain.workdays import WorkCalendar
from lms_bridge.i18n import gettext as _


class TimetableError(ValueError):
    """The timetable cannot be built with these inputs; the message names the setting or field."""


@dataclass(frozen=True)
class TimetableSettings:
    identification_minutes: int = 30
    # None: take the session's own value (SessionSpec.answer_minutes / preparation_minutes).
    answer_minutes: int | None = None
    preparation_minutes: int | None = None
    max_daily_minutes: int = 300
    # 003 §42 places identification *before* the start, so by default the 5 hours count from the
    # start of the sitting; a university that counts it as commission work switches this on.
    identification_counts_as_work: bool = False
    calendar: WorkCalendar = field(default_factory=WorkCalendar)

    def validate(self) -> None:
        for name in ("identification_minutes", "answer_minutes", "preparation_minutes", "max_daily_minutes"):
            value = getattr(self, name)
            if value is None and name in ("answer_minutes", "preparation_minutes"):
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TimetableError(f"timetable setting {name!r} must be a whole number ≥ 0, not {value!r}")
        if self.answer_minutes == 0:
            raise TimetableError("timetable setting 'answer_minutes' must be above 0")


def preparation_minutes_for(kind: ExamKind | str) -> int:
    """The default preparation time of an exam kind (used when the session file gives none)."""
    return DEFAULT_PREPARATION_MINUTES[ExamKind(kind)]


@dataclass(frozen=True)
class StudentSlot:
    student_id: str
    position: int  # 1-based place in the whole timetable
    day: int  # 0-based sitting day
    date: date  # the sitting's date in the session's time zone
    identification_at: datetime  # UTC
    preparation_starts_at: datetime  # UTC: ticket drawn, preparation starts (R-TICKET-3)
    answer_starts_at: datetime  # UTC
    answer_ends_at: datetime  # UTC
    timezone: str

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(ZoneInfo(self.timezone))

    @property
    def answer_starts_local(self) -> datetime:
        return self.local(self.answer_starts_at)

    @property
    def answer_ends_local(self) -> datetime:
        return self.local(self.answer_ends_at)

    @property
    def identification_local(self) -> datetime:
        return self.local(self.identification_at)


@dataclass(frozen=True)
class SittingDay:
    index: int
    date: date  # local
    identification_at: datetime  # UTC
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC, end of the last answer
    student_ids: tuple[str, ...]

    @property
    def work_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


@dataclass(frozen=True)
class Timetable:
    timezone: str
    days: tuple[SittingDay, ...]
    slots: tuple[StudentSlot, ...]

    def slot_for(self, student_id: str) -> StudentSlot:
        for s in self.slots:
            if s.student_id == student_id:
                return s
        raise KeyError(student_id)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimetableError(_("unknown time zone %(name)s", name=repr(name))) from None


def plan_timetable(
    student_ids: Sequence[str],
    starts_at: datetime,
    timezone: str,
    *,
    preparation_minutes: int,
    answer_minutes: int = 15,
    settings: TimetableSettings | None = None,
) -> Timetable:
    """Slots for ``student_ids`` in order, from ``starts_at`` (aware) in the session's ``timezone``."""
    settings = settings or TimetableSettings()
    settings.validate()
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise TimetableError(_("the session start must carry a time zone"))
    if len(set(student_ids)) != len(student_ids):
        raise TimetableError(_("a student appears twice in the timetable"))
    zone = _zone(timezone)
    prep = settings.preparation_minutes if settings.preparation_minutes is not None else preparation_minutes
    answer = settings.answer_minutes if settings.answer_minutes is not None else answer_minutes
    if not isinstance(prep, int) or prep < 0:
        raise TimetableError(_("preparation minutes must be a whole number ≥ 0, not %(value)s",
                               value=repr(prep)))
    if not isinstance(answer, int) or answer <= 0:
        raise TimetableError(_("answer minutes must be a whole number above 0, not %(value)s",
                               value=repr(answer)))
    ident = settings.identification_minutes
    overhead = prep + (ident if settings.identification_counts_as_work else 0)
    per_day = (settings.max_daily_minutes - overhead) // answer
    if per_day < 1 and student_ids:
        raise TimetableError(_(
            "not even one student fits in a day: %(overhead)s minutes of identification/preparation "
            "plus a %(answer)s-minute answer exceed the limit of %(limit)s minutes",
            overhead=overhead, answer=answer, limit=settings.max_daily_minutes))

    local_start = starts_at.astimezone(zone)
    wall_time = local_start.time().replace(tzinfo=None)
    day_date = local_start.date()
    days: list[SittingDay] = []
    slots: list[StudentSlot] = []
    remaining = list(student_ids)
    index = 0
    while remaining:
        group, remaining = remaining[:per_day], remaining[per_day:]
        # Same wall-clock start every day; the zone decides the UTC offset of that day.
        start = datetime.combine(day_date, wall_time, tzinfo=zone).astimezone(UTC)
        identification = start - timedelta(minutes=ident)
        first_answer = start + timedelta(minutes=prep)
        for i, sid in enumerate(group):
            begin = first_answer + timedelta(minutes=answer * i)
            slots.append(StudentSlot(
                student_id=sid, position=len(slots) + 1, day=index, date=day_date,
                identification_at=identification, preparation_starts_at=start,
                answer_starts_at=begin, answer_ends_at=begin + timedelta(minutes=answer), timezone=timezone))
        days.append(SittingDay(index=index, date=day_date, identification_at=identification, starts_at=start,
                               ends_at=first_answer + timedelta(minutes=answer * len(group)),
                               student_ids=tuple(group)))
        day_date = settings.calendar.next_working_day(day_date)
        index += 1
    return Timetable(timezone=timezone, days=tuple(days), slots=tuple(slots))


def build_timetable(spec: SessionSpec, settings: TimetableSettings | None = None) -> Timetable:
    """The timetable of a session's admitted students, in the order of the session file."""
    return plan_timetable(
        [s.id for s in spec.admitted], spec.starts_at, spec.timezone,
        preparation_minutes=spec.preparation_minutes, answer_minutes=spec.answer_minutes, settings=settings)
