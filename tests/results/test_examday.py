"""The exam day in the store: exceptions, the commission's decision, the chair's release, sealing."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.documents.model import gather
from lms_bridge.documents.render import grade_sheet_pdf, grade_sheet_xlsx, protocol_pdf
from lms_bridge.domain.examday import ExamDayError
from lms_bridge.domain.session import SessionSpec
from lms_bridge.results.ballots import tally_student
from lms_bridge.results.examday import decide_by_commission, record_exception, release_results
from lms_bridge.results.seal import SealRefused, seal_session
from lms_bridge.results.writeback import run_target
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import (
    AuditEvent,
    BallotRecord,
    DecisionRecord,
    ExamSession,
    StudentExceptionRecord,
    StudentRecord,
    WritebackRecord,
)
from lms_bridge.store.repo import import_session
from lms_bridge.store.schema import ensure_schema

CHAIR = "e.zhumabekov@univ.edu.kz"
M1, M2, M3 = "g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def db(tmp_path: Path, sample_spec: SessionSpec) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    with make_sessionmaker(engine)() as session:
        import_session(session, sample_spec, source_name="sample-session.yaml", actor="test")
        session.commit()
        yield session
    engine.dispose()


def _session(db: Session) -> ExamSession:
    exam = db.scalar(select(ExamSession))
    assert exam is not None
    return exam


def _admitted(db: Session) -> list[StudentRecord]:
    return list(db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))
                           .order_by(StudentRecord.position)))


def _ballots(db: Session, exam: ExamSession, student: StudentRecord, votes: dict[str, str],
             degree: str = "") -> None:
    for i, (email, letter) in enumerate(votes.items()):
        db.add(BallotRecord(session_id=exam.id, student_id=student.id, voter_email=email, form_id=f"f{student.id}",
                            response_id=f"r{i}", submitted_at=T0 + timedelta(minutes=i), grade=letter,
                            degree=degree, status="counted"))
    db.flush()


class _Sheet:
    """The grade sheet's side of Google: records each row written and whether it said provisional."""

    def __init__(self, calls: list[tuple[str, bool]], fail: Exception | None = None) -> None:
        self.calls, self.requests, self.fail = calls, 0, fail

    def write_decision_rows(self, sheet_id: str, blocks: list[tuple[int, int, list[list[object]]]]) -> None:
        if self.fail is not None:
            raise self.fail
        self.requests += 1
        for _row, _column, (cells,) in blocks:
            self.calls.append(("sheet", any("алдын ала" in str(c) for c in cells)))


def _grade_sheet(db: Session, exam: ExamSession, spec: SessionSpec) -> None:
    """The grade sheet as provisioning leaves it in the journal: its layout and a row per student."""
    from lms_bridge.google.steps import SheetLayout
    from lms_bridge.store.models import JournalEntry

    db.add(JournalEntry(session_id=exam.id, step="google.sheet", key="sheets.gradesheet", external_id="sheet-1",
                        data={"layout": SheetLayout.for_spec(spec).to_json(),
                              "rows": {s.id: n + 2 for n, s in enumerate(spec.admitted)}},
                        created_at=T0))
    db.flush()


def _text(pdf: bytes) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(pdf)).pages)


# What each exception makes of the student, and how the protocol says it in Kazakh and Russian.
CASES = {
    "absent_valid": ("", "Дәлелді себеппен келмеді; комиссияның",
                     "Отсутствовал(а) по уважительной причине; перенесено на заседание комиссии"),
    "no_show": ("", "Дәлелді себепсіз келмеді.", "Не явился(-ась) без уважительной причины."),
    "refused": ("F", "Жауап беруден бас тартты; «қанағаттанарлықсыз» бағасы (F).",
                "Отказался(-ась) от ответа; оценка «неудовлетворительно» (F)."),
    "technical_failure": ("", "Техникалық ақау; комиссия аттестаттауды сол күні кейінірек жалғастыру",
                          "Технический сбой; комиссия решила продолжить аттестацию позже в тот же день."),
    "breach": ("F", "Ережені бұзғаны үшін тоқтатылды; «қанағаттанарлықсыз» бағасы (F).",
               "Прекращено за нарушение правил; оценка «неудовлетворительно» (F)."),
    "postponed": ("I", "Мерзімі ауыстырылды; жаңа күнге дейін уақытша баға I («пән аяқталмаған»).",
                  "Перенесено; временная оценка I («дисциплина не завершена») до новой даты."),
    # The sample's first student: current 88, midterm 84, so 86 points.
    "cumulative": ("B+", "Білім алушының өтініші бойынша жиынтық баға «жақсы» (B+): ағымдағы бақылау балы (88) мен "
                   "аралық бақылау балының (84) орташа мәні.",
                   "По заявлению обучающегося накопительная оценка «хорошо» (B+): среднее баллов текущего "
                   "контроля (88) и рубежного контроля (84)."),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_exception_is_recorded_with_who_when_why_and_shows_in_the_documents(db: Session, kind: str) -> None:
    exam = _session(db)
    student = _admitted(db)[0]
    record = record_exception(db, exam, student, kind, reason="Ауа райы: жарық өшті", actor="secretary",
                              chair_consent=True, continuation="later")
    mark, kk_text, ru_text = CASES[kind]
    assert record.mark == mark
    assert (record.moved_to is not None) == (kind == "absent_valid")
    if kind == "absent_valid":
        assert record.moved_to > exam.starts_at.date()
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "exception.recorded"))
    assert event is not None
    assert (event.actor, event.detail["kind"], event.detail["reason"]) == ("secretary", kind, "Ауа райы: жарық өшті")
    for language, expected in (("kk", kk_text), ("ru", ru_text)):
        exam.language = language
        doc = gather(db, exam)
        line = next(s for s in doc.students if s.ref == student.student_ref)
        text = _text(protocol_pdf(doc, line))
        assert expected in text
        assert "Ауа райы: жарық өшті" in text
        assert "secretary" in text
        # No exception ever shows the degree awarded; one after which the student still sits leaves it
        # undecided rather than refused.
        assert "Академиялық дәреже берілсін." not in text
        assert "Присудить академическую степень." not in text
        if language == "kk" and kind in ("absent_valid", "postponed", "technical_failure"):
            assert "аттестаттау аяқталғанда шешіледі" in text
            assert "Академиялық дәреже берілмесін." not in text
        elif language == "kk" and kind in ("no_show", "refused", "breach"):
            assert "Академиялық дәреже берілмесін." in text
        sheet = load_workbook(io.BytesIO(grade_sheet_xlsx(doc))).active
        row = next(r for r in sheet.iter_rows(values_only=True) if student.name in r)
        assert (row[4] or "") == mark  # the letter column: F, I or nothing


def test_an_exception_needs_a_reason_and_never_replaces_a_decision(db: Session) -> None:
    exam = _session(db)
    first, second = _admitted(db)[:2]
    with pytest.raises(ExamDayError):
        record_exception(db, exam, first, "no_show", reason=" ", actor="secretary")
    db.add(DecisionRecord(session_id=exam.id, student_id=second.id, rule="mean", letter="B", points=82.0, gpa=3.0,
                          votes={}))
    db.flush()
    with pytest.raises(ExamDayError):
        record_exception(db, exam, second, "refused", reason="said so", actor="secretary")
    assert db.scalar(select(StudentExceptionRecord)) is None


def test_a_tie_the_chair_did_not_break_is_resolved_by_the_commissions_decision(db: Session) -> None:
    exam = _session(db)
    exam.grading = {**exam.grading, "decision": "majority"}
    student = _admitted(db)[0]
    _ballots(db, exam, student, {M1: "B", M2: "C", M3: "D"})  # the chair did not vote
    result = tally_student(db, exam, student, closed_by="secretary")
    assert result.decision is None
    assert str(result.outcome.status) == "tie"
    with pytest.raises(ExamDayError):
        decide_by_commission(db, exam, student, "A", reason="discussed", actor="secretary")  # not a tied letter
    with pytest.raises(ExamDayError):
        decide_by_commission(db, exam, student, "C", reason="", actor="secretary")  # never silently
    decision = decide_by_commission(db, exam, student, "C", reason="талқылау: екінші сұрақ толық емес",
                                    actor="secretary")
    assert (decision.letter, decision.source) == ("C", "commission")
    assert {w.target for w in db.scalars(select(WritebackRecord))} == {"sheet", "moodle", "classroom"}
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "decision.by_commission")) is not None
    doc = gather(db, exam)
    text = _text(protocol_pdf(doc, next(s for s in doc.students if s.ref == student.student_ref)))
    assert "комиссия шешімімен: талқылау: екінші сұрақ толық емес" in text


def test_a_failing_decision_never_carries_the_degree(db: Session) -> None:
    exam = _session(db)
    student = _admitted(db)[0]
    # Every member votes FX and, in the same ballot, for the degree.
    _ballots(db, exam, student, {CHAIR: "FX", M1: "FX", M2: "FX", M3: "FX"}, degree="yes")
    result = tally_student(db, exam, student)
    assert result.decision is not None
    assert result.decision.letter == "FX"
    assert result.decision.degree_award is False
    # A stored award on a failing letter (written before this rule) is still not shown as awarded.
    result.decision.degree_award = True
    doc = gather(db, exam)
    line = next(s for s in doc.students if s.ref == student.student_ref)
    assert line.degree_awarded is False
    text = _text(protocol_pdf(doc, line))
    assert "Академиялық дәреже берілмесін." in text
    assert "Академиялық дәреже берілсін." not in text


def test_write_backs_are_drafts_until_the_chairs_release(db: Session, tmp_path: Path, sample_spec: SessionSpec,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lms_bridge.results import writeback

    calls: list[tuple[str, bool]] = []
    for target in ("moodle", "classroom"):
        def fake(*args: object, draft: bool = False, target: str = target) -> str:
            calls.append((target, draft))
            return "draft" if draft else "final"
        monkeypatch.setattr(writeback, f"write_{target}", fake)
    from types import SimpleNamespace

    # The writers are replaced: what matters here is when each target is written, and how.
    outside = SimpleNamespace(google=_Sheet(calls), moodle=None, settings=SimpleNamespace(moodle=None))
    exam = _session(db)
    _grade_sheet(db, exam, sample_spec)
    students = _admitted(db)
    for st in students:
        _ballots(db, exam, st, {CHAIR: "B", M1: "B", M2: "B", M3: "B"})
        assert tally_student(db, exam, st).decision is not None
    decision_id = db.scalar(select(DecisionRecord.id))
    assert decision_id is not None
    for target in ("sheet", "moodle", "classroom"):
        record = run_target(db, decision_id, target, outside, classroom_enabled=True)
        assert (record.status, record.attempts) == ("draft", 1)
        # Written as a draft once: running it again before the release writes nothing more.
        run_target(db, decision_id, target, outside, classroom_enabled=True)
    # The sheet's rows go together: the first write-back wrote every decided student's row.
    assert calls == [("sheet", True)] * len(students) + [("moodle", True), ("classroom", True)]
    del calls[:len(students) - 1]
    # The grade sheet says the results are provisional until then.
    assert "АЛДЫН АЛА" in _text(grade_sheet_pdf(gather(db, exam)))
    with pytest.raises(SealRefused):
        seal_session(db, exam, actor="secretary", data_dir=tmp_path)
    released = release_results(db, exam, actor="secretary")
    assert sorted(released) == sorted(db.scalars(select(DecisionRecord.id)))
    assert "АЛДЫН АЛА" not in _text(grade_sheet_pdf(gather(db, exam)))
    # Now the final write-back goes out, and once done it is never written again.
    for target in ("sheet", "moodle", "classroom"):
        record = run_target(db, decision_id, target, outside, classroom_enabled=True)
        assert record.status == "done"
        run_target(db, decision_id, target, outside, classroom_enabled=True)
    assert calls[3:] == [("sheet", False)] * len(students) + [("moodle", False), ("classroom", False)]
    with pytest.raises(ExamDayError):
        release_results(db, exam, actor="secretary")


def test_seal_with_one_absent_student_succeeds_and_the_documents_show_the_absence(db: Session,
                                                                                  tmp_path: Path) -> None:
    exam = _session(db)
    absent, *others = _admitted(db)
    for st in others:
        _ballots(db, exam, st, {CHAIR: "A-", M1: "A-", M2: "A-", M3: "A-"})
        tally_student(db, exam, st)
    with pytest.raises(ExamDayError):
        release_results(db, exam, actor="secretary")  # the absent student is not settled yet
    record_exception(db, exam, absent, "absent_valid", reason="ауырып қалды, анықтама бар", actor="secretary",
                     chair_consent=True)
    release_results(db, exam, actor="secretary")
    emails = seal_session(db, exam, actor="secretary", data_dir=tmp_path)
    assert exam.status == "sealed"
    files = {a["filename"]: tmp_path / a["path"] for a in emails[0].attachments}
    protocol = _text(files[f"{exam.code}-protocol-{absent.student_ref}.pdf"].read_bytes())
    assert "Дәлелді себеппен келмеді" in protocol
    assert "ауырып қалды, анықтама бар" in protocol
    sheet = _text(files[f"{exam.code}-grade-sheet.pdf"].read_bytes())
    assert "дәлелді себеппен келмеді" in sheet
    with pytest.raises(ExamDayError):
        record_exception(db, exam, others[0], "no_show", reason="late", actor="secretary")


def test_the_cumulative_grade_is_written_like_a_decision_a_draft_until_the_release(
        db: Session, tmp_path: Path, sample_spec: SessionSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    """003 §24: on the student's application the cumulative grade replaces the exam; it reaches the
    grade sheet, Moodle and Classroom like a decided grade, as a draft until the chair's release."""
    from types import SimpleNamespace

    from lms_bridge.results import writeback

    calls: list[tuple[str, bool]] = []
    for target in ("moodle", "classroom"):
        def fake(*args: object, draft: bool = False, target: str = target) -> str:
            calls.append((target, draft))
            return "draft" if draft else "final"
        monkeypatch.setattr(writeback, f"write_{target}", fake)
    outside = SimpleNamespace(google=_Sheet(calls), moodle=None, settings=SimpleNamespace(moodle=None))
    exam = _session(db)
    _grade_sheet(db, exam, sample_spec)
    student, *others = _admitted(db)
    record_exception(db, exam, student, "cumulative", reason="өтініш: интернет жоқ", actor="secretary")
    decision = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == student.id))
    assert decision is not None, "the cumulative grade is not written anywhere"
    # The sample's first student: current 88, midterm 84 -> 86 points, B+; no degree with it.
    assert (decision.letter, decision.points, decision.source, decision.degree_award) == ("B+", 86.0, "cumulative",
                                                                                          None)
    targets = sorted(db.scalars(select(WritebackRecord.target).where(WritebackRecord.decision_id == decision.id)))
    assert targets == ["classroom", "moodle", "sheet"]
    for target in targets:
        assert run_target(db, decision.id, target, outside, classroom_enabled=True).status == "draft"
    assert sorted(calls) == [("classroom", True), ("moodle", True), ("sheet", True)], "released before the chair"
    # In the protocol: the grade, and that it is the cumulative grade, with who recorded it and why.
    for language, grade, why in (("kk", "«жақсы» бағасы қойылсын", "жиынтық баға «жақсы» (B+)"),
                                 ("ru", "«хорошо»", "накопительная оценка «хорошо» (B+)")):
        exam.language = language
        doc = gather(db, exam)
        line = next(s for s in doc.students if s.ref == student.student_ref)
        text = _text(protocol_pdf(doc, line))
        assert why in text
        assert "өтініш: интернет жоқ" in text
        assert grade in text
        sheet = load_workbook(io.BytesIO(grade_sheet_xlsx(doc))).active
        row = next(r for r in sheet.iter_rows(values_only=True) if student.name in r)
        assert row[4] == "B+"
    exam.language = "kk"
    for st in others:
        _ballots(db, exam, st, {CHAIR: "B", M1: "B", M2: "B", M3: "B"})
        tally_student(db, exam, st)
    assert decision.id in release_results(db, exam, actor="secretary")
    for target in targets:
        assert run_target(db, decision.id, target, outside, classroom_enabled=True).status == "done"
    # The sheet's write carried every decided row: the cumulative grade's and the others'.
    assert sorted(calls[3:]) == [("classroom", False), ("moodle", False)] + [("sheet", False)] * (1 + len(others))


def test_a_technical_failure_continues_on_the_sitting_day_the_secretary_chose(db: Session) -> None:
    from lms_bridge.results.examday import continuation_days

    exam = _session(db)
    student = _admitted(db)[0]
    days = continuation_days(exam, student)
    assert days
    assert days[0] > exam.starts_at.date()
    with pytest.raises(ExamDayError):  # not one of the commission's later sitting days
        record_exception(db, exam, student, "technical_failure", reason="жарық өшті", actor="secretary",
                         continuation="later", continue_on=exam.starts_at.date())
    with pytest.raises(ExamDayError):  # the commission ended the exam: no day to continue on
        record_exception(db, exam, student, "technical_failure", reason="жарық өшті", actor="secretary",
                         continuation="end", continue_on=days[0])
    record = record_exception(db, exam, student, "technical_failure", reason="жарық өшті", actor="secretary",
                              continuation="later", continue_on=days[-1])
    assert (record.continuation, record.moved_to) == ("later", days[-1])
    for language, text in (("kk", "комиссия аттестаттауды өзінің"), ("ru", "продолжить аттестацию на своём заседании")):
        exam.language = language
        doc = gather(db, exam)
        assert text in _text(protocol_pdf(doc, next(s for s in doc.students if s.ref == student.student_ref)))


def test_the_grade_sheet_takes_every_waiting_row_in_one_write_and_a_failed_write_fails_them_all(
        db: Session, sample_spec: SessionSpec) -> None:
    """Sheets allows 60 writes a minute per user: a release of many students must not be one
    write per row.  A failed write leaves every row it carried failed, for the retry."""
    from types import SimpleNamespace

    from lms_bridge.google.errors import GoogleApiError

    calls: list[tuple[str, bool]] = []
    exam = _session(db)
    _grade_sheet(db, exam, sample_spec)
    students = _admitted(db)
    for st in students:
        _ballots(db, exam, st, {CHAIR: "A", M1: "A", M2: "A", M3: "A"})
        tally_student(db, exam, st)
    ids = list(db.scalars(select(DecisionRecord.id).order_by(DecisionRecord.id)))
    failing = _Sheet(calls, fail=GoogleApiError("The service is unavailable.", status=503, reason="backendError"))
    with pytest.raises(GoogleApiError):
        run_target(db, ids[0], "sheet", SimpleNamespace(google=failing), classroom_enabled=True)
    sheet_records = list(db.scalars(select(WritebackRecord).where(WritebackRecord.target == "sheet")))
    assert {(r.status, r.attempts) for r in sheet_records} == {("failed", 1)}
    assert all("unavailable" in r.last_error for r in sheet_records)
    sheet = _Sheet(calls)
    run_target(db, ids[-1], "sheet", SimpleNamespace(google=sheet), classroom_enabled=True)
    assert (sheet.requests, len(calls)) == (1, len(students))
    assert {r.status for r in sheet_records} == {"draft"}
    release_results(db, exam, actor="secretary")
    for decision_id in ids:  # the release enqueues each; the first write carries them all
        run_target(db, decision_id, "sheet", SimpleNamespace(google=sheet), classroom_enabled=True)
    assert (sheet.requests, calls[len(students):]) == (2, [("sheet", False)] * len(students))
    assert {r.status for r in sheet_records} == {"done"}
