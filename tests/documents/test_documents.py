"""The protocol and the grade sheet as a Kazakh university signs them, for an oral exam, a defense and a
test exam, in Kazakh and in Russian: official titles and roles, every requisite of a protocol, decimal
commas, the noun agreeing with the number, and not one English word of the product's own."""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Callable
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from lms_bridge.documents.model import SessionDocument, StudentResult
from lms_bridge.documents.render import (
    _grade_sheet_header,
    grade_sheet_pdf,
    grade_sheet_xlsx,
    points_text,
    protocol_pdf,
    protocol_xlsx,
)
from lms_bridge.i18n import use_locale

Sitting = Callable[[str, str], SessionDocument]
Texts = dict[str, dict[str, str]]
KINDS = ("oral_exam", "defense", "test_exam")
LANGS = ("kk", "ru")

WORDS = {
    "kk": {"protocol": "ХАТТАМА №", "sheet": "ҚОРЫТЫНДЫ АТТЕСТАТТАУ ВЕДОМОСЫ", "chair": "Комиссия төрағасы",
           "member": "Комиссия мүшесі", "secretary": "Техникалық хатшы", "present": "Қатысқандар",
           "questions": "Білім алушыға қойылған сұрақтар", "remarks": "Ескертулер мен ерекше пікірлер",
           "place": "Өткізілген орны", "hours": "Басталуы мен аяқталуы",
           "decision": "«өте жақсы» бағасы қойылсын (A-; 91,67 балл; GPA 3,67).",
           "appeal": "Апелляцияға өтініш берудің соңғы күні: 12.06.2026.",
           "for": "жақтап", "against": "қарсы"},
    "ru": {"protocol": "ПРОТОКОЛ №", "sheet": "ВЕДОМОСТЬ ИТОГОВОЙ АТТЕСТАЦИИ", "chair": "Председатель комиссии",
           "member": "Член комиссии", "secretary": "Технический секретарь", "present": "Присутствовали",
           "questions": "Вопросы, заданные обучающемуся", "remarks": "Замечания и особые мнения",
           "place": "Место проведения", "hours": "Начало и окончание",
           "decision": "Поставить оценку «отлично» (A-; 91,67 балла; GPA 3,67).",
           "appeal": "Последний день подачи апелляции: 12.06.2026.",
           "for": "за", "against": "против"},
}


def pdf_text(content: bytes) -> str:
    # Lines joined with spaces: a wrapped line is not a broken word, a broken word stays broken.
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages)


def xlsx_values(content: bytes) -> list[object]:
    ws = load_workbook(io.BytesIO(content)).active
    return [c.value for row in ws.iter_rows() for c in row if c.value is not None]


def xlsx_text(content: bytes) -> str:
    return " ".join(str(v) for v in xlsx_values(content))


def data_text(doc: SessionDocument) -> str:
    """Everything in the document that people wrote: it may hold Latin letters (1NF, SQL, Google Meet)."""
    parts = [doc.code, doc.title, doc.programme, doc.group, doc.university, doc.commission_name, doc.platform,
             doc.chair, doc.secretary, *(m.name for m in doc.members)]
    for s in doc.students:
        parts += [s.name, s.ref, s.protocol_number, *s.ticket_questions, *s.questions_asked,
                  *(text for _who, text in s.remarks), s.letter or ""]
        parts += [letter for _name, letter in s.votes]
    return " ".join(parts)


LATIN = re.compile(r"[A-Za-z][A-Za-z]+")


def english_words(text: str, doc: SessionDocument) -> set[str]:
    """Latin words in ``text`` that neither the people's data nor the GPA abbreviation explains."""
    allowed = set(LATIN.findall(data_text(doc))) | {"GPA", "ID"}
    return set(LATIN.findall(text)) - allowed


def student(doc: SessionDocument, i: int = 0) -> StudentResult:
    return [s for s in doc.students if s.admitted][i]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_protocol_pdf_is_an_official_document(sitting: Sitting, texts: Texts, kind: str,
                                                     lang: str) -> None:
    doc = sitting(kind, lang)
    s = student(doc)
    text = pdf_text(protocol_pdf(doc, s))
    w = WORDS[lang]
    assert not english_words(text, doc)
    assert f"{w['protocol']} {doc.code}/1" in text
    for requisite in (doc.university, doc.commission_name, "10.06.2026", w["hours"], "09:00 – 11:47", w["place"],
                      "Google Meet", w["present"], doc.chair, doc.secretary, *(m.name for m in doc.members),
                      w["questions"], texts[lang]["question"], w["remarks"], texts[lang]["remark"],
                      texts[lang]["dissent"], w["decision"], w["appeal"], s.name, s.ref):
        assert requisite in text, requisite
    assert f"{w['chair']} _______________________ {doc.chair}" in text
    assert f"{w['secretary']} _______________________ {doc.secretary}" in text
    assert "91.67" not in text
    assert "3.67" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_an_open_degree_vote_names_each_answer_in_the_language(sitting: Sitting, lang: str) -> None:
    doc = sitting("defense", lang)
    s = student(doc)
    text = pdf_text(protocol_pdf(doc, s))
    for name, answer in s.degree_per_member:
        assert f"{name}: {WORDS[lang]['for' if answer == 'yes' else 'against']}" in text
    assert not re.search(r"\b(for|against)\b", text)
    values = [str(v) for v in xlsx_values(protocol_xlsx(doc, s))]
    assert WORDS[lang]["against"] in values
    assert "for" not in values
    assert "against" not in values


@pytest.mark.parametrize("lang", LANGS)
def test_a_defense_protocol_names_the_thesis_not_an_exam(sitting: Sitting, lang: str) -> None:
    text = pdf_text(protocol_pdf(doc := sitting("defense", lang), student(doc)))
    assert {"kk": "дипломдық жұмысты (жобаны) қорғау", "ru": "защита дипломной работы (проекта)"}[lang] in text
    assert {"kk": "емтихан", "ru": "экзамен"}[lang] not in text.replace(doc.title, "")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_grade_sheet_pdf_has_one_title_for_every_sitting_and_whole_words(sitting: Sitting, kind: str,
                                                                            lang: str) -> None:
    doc = sitting(kind, lang)
    text = pdf_text(grade_sheet_pdf(doc))
    w = WORDS[lang]
    assert w["sheet"] in text
    assert not english_words(text, doc)
    assert "91,67" in text
    assert "3,67" in text
    assert "0,50" in text  # FX: the digital equivalent 0.5
    assert "91.67" not in text
    # Every header word comes out whole: no "Буквенна / я оценка".
    tokens = set(text.split())
    with use_locale(lang):
        header = _grade_sheet_header(doc)
    for word in " ".join(header).split():
        assert word in tokens, word
    assert f"{w['chair']} _______________________ {doc.chair}" in text
    assert f"{w['member']} _______________________" in text
    assert f"{w['secretary']} _______________________ {doc.secretary}" in text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lang", LANGS)
def test_the_xlsx_documents_say_what_the_pdfs_say(sitting: Sitting, texts: Texts, kind: str,
                                                  lang: str) -> None:
    doc = sitting(kind, lang)
    w = WORDS[lang]
    sheet = xlsx_values(grade_sheet_xlsx(doc))
    assert w["sheet"] in sheet  # the title row
    assert sheet.index(w["sheet"]) < sheet.index(f"{doc.title} ({doc.code})")
    for role in (w["chair"], w["member"], w["secretary"]):
        assert role in sheet  # the same signature lines as the PDF, capitalised the same way
    assert not english_words(xlsx_text(grade_sheet_xlsx(doc)), doc)
    s = student(doc)
    protocol = xlsx_values(protocol_xlsx(doc, s))
    assert f"{w['protocol']} {doc.code}/1" in protocol
    for value in (w["chair"], w["secretary"], w["present"], w["questions"], w["remarks"], w["decision"],
                  w["appeal"], "09:00 – 11:47", texts[lang]["question"], texts[lang]["remark"]):
        assert any(value in str(v) for v in protocol), value
    assert not english_words(xlsx_text(protocol_xlsx(doc, s)), doc)


def test_person_text_stays_text_in_the_workbook(sitting: Sitting) -> None:
    doc = sitting("oral_exam", "kk")
    ws = load_workbook(io.BytesIO(grade_sheet_xlsx(doc))).active
    cells = {c.value: c for row in ws.iter_rows() for c in row if c.value is not None}
    assert cells[student(doc).name].data_type == "s"
    points = cells[91.67]  # numbers stay numbers; the viewer's locale writes the comma
    assert points.data_type == "n"
    assert cells[3.67].number_format == "0.00"


@pytest.mark.parametrize(("points", "kk", "ru"), [
    (81, "81 балл", "81 балл"), (82, "82 балла", "82 балла"), (85, "85 балл", "85 баллов"),
    (71, "71 балл", "71 балл"), (11, "11 балл", "11 баллов"), (91.67, "91,67 балл", "91,67 балла"),
    (95.5, "95,5 балл", "95,5 балла"), (100, "100 балл", "100 баллов"),
])
def test_points_agree_with_their_number(points: float, kk: str, ru: str) -> None:
    with use_locale("ru"):
        assert points_text(points) == ru
    with use_locale("kk"):
        assert points_text(points) == kk.replace("балла", "балл")
    with use_locale("en"):
        assert points_text(points) == (f"{points:g} points" if points != 1 else "1 point")


@pytest.mark.parametrize(("i", "ru"), [(1, "82 балла"), (2, "85 баллов"), (3, "81 балл")])
def test_the_russian_decision_agrees_for_every_student(sitting: Sitting, i: int, ru: str) -> None:
    doc = sitting("oral_exam", "ru")
    assert ru in pdf_text(protocol_pdf(doc, student(doc, i)))


def test_the_appeal_deadline_counts_working_days(sitting: Sitting) -> None:
    # Decided on Wednesday 10 June 2026: two working days later is Friday 12 June.
    assert student(sitting("oral_exam", "kk")).appeal_closes == date(2026, 6, 12)


@pytest.mark.parametrize("fmt", ["pdf", "xlsx"])
def test_a_student_protocol_marks_who_voted_for_that_student(sitting: Sitting, fmt: str) -> None:
    """A member who voted for other students but not this one did not vote here, whatever the session."""
    doc = sitting("oral_exam", "ru")
    s = student(doc)
    voter = s.votes[0][0]
    absent = next(m for m in doc.members if m.role == "member" and m.voted and m.name != voter)
    alone = dataclasses.replace(s, votes=((voter, s.votes[0][1]),), degree_per_member=())
    text = (pdf_text(protocol_pdf(doc, alone)) if fmt == "pdf"
            else " ".join(str(v) for v in xlsx_values(protocol_xlsx(doc, alone))))
    text = re.sub(r"\s+", " ", text)
    assert f"{voter} — Член комиссии (голос подан)" in text
    assert f"{absent.name} — Член комиссии (голос не подан)" in text


@pytest.mark.parametrize(("lang", "said"), [("kk", "08:12 тіркелді, отырыс басталғанға дейін"),
                                            ("ru", "записано в 08:12, до начала заседания")])
def test_a_grade_recorded_before_the_sitting_never_reads_as_ending_before_it_began(
        sitting: Sitting, lang: str, said: str) -> None:
    """The cumulative grade may be recorded on the student's application before the sitting: the
    protocol says when, instead of a start and an end the wrong way round."""
    from datetime import timedelta

    doc = sitting("oral_exam", lang)
    early = dataclasses.replace(student(doc), decided_at=doc.date - timedelta(minutes=48))
    for text in (pdf_text(protocol_pdf(doc, early)), " ".join(str(v) for v in xlsx_values(protocol_xlsx(doc, early)))):
        text = re.sub(r"\s+", " ", text)
        assert said in text
        assert "09:00 – 08:12" not in text
