"""The board's Classroom announcements reach the course, in the session's language, with the links."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from lms_bridge.backends import build_backends
from lms_bridge.remote import ApiCalls
from lms_bridge.results.sitting import announce, set_links
from lms_bridge.store.models import ExamSession, JournalEntry, SittingDayRecord

from .test_sitting import World, world  # noqa: F401  (the fixture)


def test_the_next_student_and_the_days_links_are_announced_in_classroom(world: World) -> None:  # noqa: F811
    w = world
    w.provision_sample()
    day = date(2026, 6, 10)
    with w.sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        assert exam.language == "kk"
        set_links(db, exam, day, meeting_url="https://meet.example.kz/abc-defg-hij",
                  recording_url="https://drive.example.kz/rec/1", actor="secretary")
        db.commit()
        session_id = exam.id
        course = db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == "classroom.course"))
    before = datetime.now(UTC)
    announce.enqueue(session_id, "next", "Айша Нұрланқызы")
    announce.enqueue(session_id, "links", "", day.isoformat())
    announce.enqueue(session_id, "released")
    google = build_backends(w.settings, ApiCalls()).google
    posted = google.classroom.list_announcements(course)
    texts = [a["text"] for a in posted]
    # In Kazakh, the session's language, whatever the page's language is.
    assert any("Келесі жауап беретін: Айша Нұрланқызы" in t for t in texts), texts
    assert any("нәтижелерін жариялады" in t for t in texts), texts  # the chair's release, told to students
    links = next(a for a in posted if "meet.example.kz" in a["text"])
    assert [m["link"]["url"] for m in links.get("materials", [])] == [
        "https://meet.example.kz/abc-defg-hij", "https://drive.example.kz/rec/1"]
    with w.sessions() as db:
        record = db.scalar(select(SittingDayRecord))
        assert record is not None
        assert record.posted_at is not None
        assert record.posted_at >= before
