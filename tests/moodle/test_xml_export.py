"""The ticket bank as Moodle XML: one essay question per ticket, in "Tickets", idnumber ticket-<n>."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from lms_bridge.domain.session import Ticket
from lms_bridge.moodle.xml_export import tickets_xml, write_tickets_xml

TICKETS = (Ticket(2, ("Екінші <сұрақ> & жауап", "B")), Ticket(1, ("Бірінші сұрақ", "Екінші", "Үшінші")))


def test_one_essay_question_per_ticket_holding_all_its_questions() -> None:
    root = ET.fromstring(tickets_xml(TICKETS))  # noqa: S314 - our own output
    assert root.tag == "quiz"
    questions = root.findall("question")
    category = questions[0]
    assert category.get("type") == "category"
    assert category.findtext("category/text") == "$module$/top/Tickets"
    essays = questions[1:]
    assert [q.get("type") for q in essays] == ["essay", "essay"]
    assert [q.findtext("idnumber") for q in essays] == ["ticket-1", "ticket-2"]
    assert [q.findtext("name/text") for q in essays] == ["Ticket 1", "Ticket 2"]
    first = essays[0].find("questiontext")
    assert first is not None
    assert first.get("format") == "html"
    text = first.findtext("text") or ""
    assert text.count("<li>") == 3
    assert "Бірінші сұрақ" in text
    # Markup inside a question is escaped in the HTML, then again by XML: it survives as text.
    second = essays[1].findtext("questiontext/text") or ""
    assert "&lt;сұрақ&gt; &amp; жауап" in second
    assert essays[0].findtext("responseformat") == "editor"


def test_the_file_is_written_whole(tmp_path: Path) -> None:
    path = write_tickets_xml(TICKETS, tmp_path / "out" / "tickets.xml")
    assert path.read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert not list(path.parent.glob("*.tmp"))


def test_an_empty_bank_is_refused() -> None:
    with pytest.raises(ValueError, match="no tickets"):
        tickets_xml(())
