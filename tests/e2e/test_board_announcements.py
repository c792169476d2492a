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


def test_answer_sheets_uploaded_on_a_students_behalf_reach_the_commission_in_drive(world: World) -> None:  # noqa: F811
    """Classroom lets only the student attach files to a submission (modifyAttachments; the sandbox
    refuses a teacher), so the secretary's upload goes to Drive, is shared with every member, and is
    linked from the student's ballot and recorded in the protocol."""
    import io

    from pypdf import PdfReader

    from lms_bridge.documents.model import gather
    from lms_bridge.documents.render import protocol_pdf
    from lms_bridge.results.sitting import answers_in_drive, share_answer_sheets, upload_on_behalf
    from lms_bridge.store.models import StudentRecord

    w = world
    w.provision_sample()
    with w.sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        student = db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))
                             .order_by(StudentRecord.position)).first()
        assert student is not None
        upload_on_behalf(db, exam, student, [b"%PDF-1.4 page one", b"\x89PNG\r\n\x1a\n page two"], pages=2,
                         actor="secretary", data_dir=w.settings.data_dir, max_bytes=1024 * 1024)
        db.commit()
        session_id, ref = exam.id, student.student_ref
        members = {m.email for m in exam.members if m.active}
        form_id = db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == f"forms.form:{ref}"))
    share_answer_sheets.enqueue(session_id, ref)
    share_answer_sheets.enqueue(session_id, ref)  # again: nothing new
    google = build_backends(w.settings, ApiCalls()).google
    with w.sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        files = answers_in_drive(db, exam)[ref]
        assert sorted(files) == ["answer-01.pdf", "answer-02.png"]
        assert all(link.startswith("https://") for link in files.values())
        ids = list(db.scalars(select(JournalEntry.external_id).where(JournalEntry.key.like("answers.drive:%"))))
        doc = gather(db, exam)
        line = next(s for s in doc.students if s.ref == ref)
        pages = PdfReader(io.BytesIO(protocol_pdf(doc, line))).pages
        text = " ".join(" ".join(p.extract_text().split()) for p in pages)
    assert len(ids) == 2
    for fid in ids:
        readers = {p.get("emailAddress") for p in google.drive.list_permissions(fid) if p.get("role") == "reader"}
        assert members <= readers
    description = google.forms.get(form_id)["info"]["description"]
    assert all(link in description for link in files.values())
    assert "2 файлды техникалық хатшы білім алушының атынан жүктеді" in text
    assert "комиссияға қолжетімді" in text
