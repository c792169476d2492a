"""The session page's timetable, computed from the stored session by the domain rules."""

from __future__ import annotations

from typing import Any

from babel.dates import format_date, format_time
from flask_babel import get_locale

from lms_bridge.domain.timetable import TimetableError, plan_timetable
from lms_bridge.store.models import ExamSession


def timetable_rows(exam: ExamSession) -> tuple[list[dict[str, Any]], str]:
    """One row per admitted student (times in the session's zone), and an error text if the rules
    cannot place them (the page shows it instead of failing)."""
    admitted = [s for s in exam.students if s.active and s.admitted]
    try:
        table = plan_timetable([s.student_ref for s in admitted], exam.starts_at, exam.timezone,
                               preparation_minutes=exam.preparation_minutes,
                               answer_minutes=exam.answer_minutes)
    except TimetableError as exc:
        return [], str(exc)
    locale = get_locale() or "en"
    names = {s.student_ref: s.name for s in admitted}
    rows = []
    for slot in table.slots:
        rows.append({
            "ref": slot.student_id,
            "day": format_date(slot.date, "medium", locale=locale),
            "student": names.get(slot.student_id, slot.student_id),
            "identification": format_time(slot.identification_local, "short", locale=locale),
            "preparation": format_time(slot.local(slot.preparation_starts_at), "short", locale=locale),
            "answer": "{}–{}".format(format_time(slot.answer_starts_local, "short", locale=locale),
                                     format_time(slot.answer_ends_local, "short", locale=locale)),
        })
    return rows, ""
