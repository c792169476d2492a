"""The session file says the kind, and each kind's own fields: a test exam's question bank (GIFT, in
the file or beside it, with line-precise problems), the commission's vote, a defense's plagiarism
results, and the slot lengths each kind allows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lms_bridge.domain.session import ExamKind
from lms_bridge.sessionfile import read_session_file
from lms_bridge.sessionfile.gift import parse_gift

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"

GIFT = """// A comment line
::Q1:: Which layer routes packets? {=Network ~Transport ~Session}

::Q2:: HTTP is stateless. {T}

What does SQL stand for? {
  =Structured Query Language #right
  ~Simple Question List
}
"""


def _test_file(tmp_path: Path, bank_line: str, *, extra: str = "", ratings: bool = True) -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("  kind: oral_exam", "  kind: test_exam" + bank_line + extra)
    text = text.replace("  preparation_minutes: 50\n", "")
    text = re.sub(r"\ntickets:.*", "\ntickets: []\n", text, flags=re.S)
    if ratings:
        text = text.replace("    admitted: true\n", "    admitted: true\n    admission_rating: 50\n")
    path = tmp_path / "test.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_gift_gives_multiple_choice_and_true_false() -> None:
    questions, problems = parse_gift(GIFT)
    assert problems == []
    assert [q.name for q in questions] == ["Q1", "Q2", ""]
    assert questions[0].answers == ("Network", "Transport", "Session")
    assert questions[0].correct == 0
    assert (questions[1].answers, questions[1].correct) == (("True", "False"), 0)
    assert questions[2].text == "What does SQL stand for?"
    assert questions[2].answers[questions[2].correct] == "Structured Query Language"


@pytest.mark.parametrize(("text", "line", "words"), [
    ("Q {=a ~b}\n\nNo braces here\n", 3, "no answers"),
    ("Q {=a ~b}\n\n\nQ2 {=a =b}\n", 4, "exactly one right answer"),
    ("Q {=a ~b\n", 1, "not closed"),
    ("Q {~a ~b}\n", 1, "exactly one right answer"),
    ("Q {#3:1}\n", 1, "Only single-answer"),
    ("Q {=a ~%50%b}\n", 1, "partial credit"),
    ("Q {=a}\n", 1, "at least two answers"),
])
def test_gift_problems_name_the_line(text: str, line: int, words: str) -> None:
    _questions, problems = parse_gift(text)
    assert len(problems) == 1
    assert problems[0][0] == line
    assert words in problems[0][1]


def test_a_test_exam_reads_its_bank_from_a_gift_file_beside_it(tmp_path: Path) -> None:
    (tmp_path / "bank.gift").write_text(GIFT, encoding="utf-8")
    spec, problems = read_session_file(_test_file(tmp_path, "\n  question_bank: bank.gift"))
    assert problems == []
    assert spec is not None
    assert spec.kind is ExamKind.TEST_EXAM
    assert len(spec.question_bank) == 3
    assert spec.commission_vote is None


def test_a_problem_in_the_bank_file_names_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bank.gift").write_text(GIFT + "\nBroken {=a =b}\n", encoding="utf-8")
    spec, problems = read_session_file(_test_file(tmp_path, "\n  question_bank: bank.gift"))
    assert spec is None
    assert len(problems) == 1
    assert problems[0].file.endswith("bank.gift")
    assert problems[0].location.line == 11
    assert "line 11" in str(problems[0])


def test_an_inline_bank_reports_the_line_of_the_session_file(tmp_path: Path) -> None:
    inline = "\n  question_bank: |\n    Q1 {=a ~b}\n\n    Q2 {~a ~b}"
    path = _test_file(tmp_path, inline, extra="\n  commission_vote: yes")
    spec, problems = read_session_file(path)
    assert spec is None
    assert len(problems) == 1
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[problems[0].location.line - 1].strip() == "Q2 {~a ~b}"


def test_a_bank_name_cannot_leave_the_folder(tmp_path: Path) -> None:
    spec, problems = read_session_file(_test_file(tmp_path, "\n  question_bank: ../secret.gift"))
    assert spec is None
    assert [p.field for p in problems] == ["question_bank"]


def test_a_test_exam_needs_a_bank_and_the_admission_ratings(tmp_path: Path) -> None:
    spec, problems = read_session_file(_test_file(tmp_path, "", ratings=False))
    assert spec is None
    fields = {p.field for p in problems}
    assert {"question_bank", "admission_rating"} <= fields


def test_the_commission_vote_of_a_test_exam_is_read(tmp_path: Path) -> None:
    (tmp_path / "bank.gift").write_text(GIFT, encoding="utf-8")
    spec, problems = read_session_file(_test_file(tmp_path, "\n  question_bank: bank.gift",
                                                  extra="\n  commission_vote: yes"))
    assert problems == []
    assert spec is not None
    assert spec.commission_vote is True


def _kind_file(tmp_path: Path, kind: str, *, answer: int = 15, tickets: bool = False,
               plagiarism: bool = False) -> Path:
    text = SAMPLE.read_text(encoding="utf-8").replace("  kind: oral_exam", f"  kind: {kind}")
    text = text.replace("  answer_minutes: 15", f"  answer_minutes: {answer}")
    text = text.replace("  preparation_minutes: 50\n", "")
    if not tickets:
        text = re.sub(r"\ntickets:.*", "\ntickets: []\n", text, flags=re.S)
    if plagiarism:
        text = text.replace("    admitted: true\n", "    admitted: true\n    plagiarism: \"12%\"\n", 1)
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_defense_records_the_plagiarism_check_and_has_no_tickets(tmp_path: Path) -> None:
    spec, problems = read_session_file(_kind_file(tmp_path, "defense", plagiarism=True))
    assert problems == []
    assert spec is not None
    assert spec.students[0].plagiarism == "12%"
    assert spec.tickets == ()
    spec, problems = read_session_file(_kind_file(tmp_path, "defense", tickets=True))
    assert spec is None
    assert any("no tickets" in p.message for p in problems)


@pytest.mark.parametrize(("kind", "answer", "ok"), [
    ("defense", 15, True), ("defense", 20, False),
    ("creative_exam", 10, True), ("creative_exam", 9, False), ("creative_exam", 16, False),
])
def test_slot_lengths_by_kind(tmp_path: Path, kind: str, answer: int, ok: bool) -> None:
    spec, problems = read_session_file(_kind_file(tmp_path, kind, answer=answer))
    assert (spec is not None) is ok, problems
    if not ok:
        assert [p.field for p in problems] == ["answer_minutes"]


def test_an_open_book_exam_is_a_kind_of_its_own_with_the_written_time(tmp_path: Path) -> None:
    spec, problems = read_session_file(_kind_file(tmp_path, "open_book", tickets=True))
    assert problems == []
    assert spec is not None
    assert spec.kind is ExamKind.OPEN_BOOK
    assert spec.preparation_minutes == 100


def test_a_workbook_names_its_bank_file_and_carries_the_plagiarism_column(tmp_path: Path) -> None:
    """The workbook has the same keys: `question_bank` on the session sheet, `plagiarism` on the students'."""
    from dataclasses import replace

    from lms_bridge.sessionfile import load_session
    from lms_bridge.sessionfile.workbook import build_workbook

    (tmp_path / "bank.gift").write_text(GIFT, encoding="utf-8")
    spec = load_session(_test_file(tmp_path, "\n  question_bank: bank.gift"))
    wb = build_workbook(replace(spec, students=tuple(replace(s, plagiarism="4%") for s in spec.students)))
    sheet = wb["session"]
    row = next(r for r in range(1, sheet.max_row + 1) if sheet.cell(row=r, column=1).value == "question_bank")
    sheet.cell(row=row, column=2, value="bank.gift")
    path = tmp_path / "test.xlsx"
    wb.save(path)
    again, problems = read_session_file(path)
    assert problems == []
    assert again is not None
    assert again.question_bank == spec.question_bank
    assert {s.plagiarism for s in again.students} == {"4%"}
    (tmp_path / "bank.gift").write_text("Broken {=a =b}\n", encoding="utf-8")
    again, problems = read_session_file(path)
    assert again is None
    assert [(p.file.endswith("bank.gift"), p.location.line) for p in problems] == [(True, 1)]
