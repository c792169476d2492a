"""The appeal commission's protocol and the answer letter, in Kazakh and in Russian (text layer; the
pages were also rendered with pdftoppm and read as images when the layout was made)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from lms_bridge.documents.appeals import AppealDocument, appeal_letter_pdf, appeal_protocol_pdf

DOC = AppealDocument(
    session_code="FA-2026-X", session_title="Кешенді емтихан", university="Университет", language="kk",
    student_name="Аманов Серік Болатұлы", student_ref="210103041", filed_on=date(2026, 7, 3),
    hearing_at=datetime(2026, 7, 7, 15, 0, tzinfo=ZoneInfo("Asia/Almaty")), meeting_link="https://meet.google.com/x",
    chair="Ахметов Нұрлан", secretary="Әлиева Жанар",
    members=(("Ахметов Нұрлан", "chair"), ("Серікова Әсел", "member"), ("Қасымов Бауыржан", "member"),
             ("Әлиева Жанар", "secretary")),
    votes=(("Ахметов Нұрлан", "B", "no"), ("Серікова Әсел", "B", "no"), ("Қасымов Бауыржан", "C+", "yes")),
    original_letter="C+", original_points=72, outcome="changed", new_letter="B", new_points=82,
    statement=("өтініш.pdf", "скриншот.png"), number="FA-2026-X/A1")


def _text(data: bytes) -> str:
    return " ".join(" ".join((p.extract_text() or "").split()) for p in PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize(("language", "words"), [
    ("kk", ["Апелляцияға жауап", "Апелляция қанағаттандырылды: C+ бағасы B бағасына өзгертілді",
            "03.07.2026", "07.07.2026 15:00"]),
    ("ru", ["Ответ на апелляцию", "Апелляция удовлетворена: оценка C+ изменена на B", "03.07.2026"]),
])
def test_the_answer_letter(language: str, words: list[str]) -> None:
    text = _text(appeal_letter_pdf(replace(DOC, language=language)))
    for w in words:
        assert w in text, (w, text)
    assert "Аманов Серік Болатұлы" in text


@pytest.mark.parametrize(("language", "words"), [
    ("kk", ["ХАТТАМА № FA-2026-X/A1", "апелляциялық комиссияның отырысы", "Қайта тапсыру", "өтініш.pdf"]),
    ("ru", ["ПРОТОКОЛ № FA-2026-X/A1", "заседания апелляционной комиссии", "Повторная сдача", "скриншот.png"]),
])
def test_the_protocol_names_members_votes_and_the_statement(language: str, words: list[str]) -> None:
    text = _text(appeal_protocol_pdf(replace(DOC, language=language)))
    for w in [*words, "Серікова Әсел", "Қасымов Бауыржан", "Әлиева Жанар"]:
        assert w in text, (w, text)


def test_a_kept_grade_and_a_new_sitting_are_said_in_words() -> None:
    kept = _text(appeal_letter_pdf(replace(DOC, outcome="kept", new_letter="", new_points=None)))
    assert "Апелляция қанағаттандырылмады: C+ бағасы өзгеріссіз қалды" in kept
    again = _text(appeal_letter_pdf(replace(DOC, outcome="new_sitting", new_letter="", new_points=None,
                                            language="ru")))
    assert "сдаёт экзамен повторно" in again
