"""The ticket bank as Moodle XML, for a core-only Moodle (no companion plugin).

One essay question per ticket holding all of its questions, in the category "Tickets", with
idnumber ``ticket-<n>``: the quiz's single random slot then draws exactly one ticket per attempt.
The secretary imports the file in the course's question bank (Question bank > Import > Moodle XML).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from xml.etree.ElementTree import Element, SubElement, indent, tostring

from lms_bridge.domain.session import Ticket
from lms_bridge.moodle.operations import TICKET_CATEGORY

# Where the random slot added by the bridge puts its category: the quiz's own question bank.
DEFAULT_CATEGORY_PATH = f"$module$/top/{TICKET_CATEGORY}"


def ticket_name(number: int) -> str:
    return f"Ticket {number}"


def ticket_html(ticket: Ticket) -> str:
    items = "".join(f"<li>{html.escape(q)}</li>" for q in ticket.questions)
    return f"<p><strong>{html.escape(ticket_name(ticket.number))}</strong></p><ol>{items}</ol>"


def _text(parent: Element, tag: str, value: str, *, fmt: str | None = None) -> Element:
    el = SubElement(parent, tag, {"format": fmt} if fmt else {})
    SubElement(el, "text").text = value
    return el


def tickets_xml(tickets: Sequence[Ticket], *, category_path: str = DEFAULT_CATEGORY_PATH) -> bytes:
    """The Moodle XML document (UTF-8 bytes)."""
    if not tickets:
        raise ValueError("the session has no tickets to export")
    quiz = Element("quiz")
    cat = SubElement(quiz, "question", {"type": "category"})
    _text(cat, "category", category_path)
    _text(cat, "info", "Examination tickets (lms_bridge)", fmt="html")
    SubElement(cat, "idnumber").text = "lmsbridge-tickets"
    for ticket in sorted(tickets, key=lambda t: t.number):
        q = SubElement(quiz, "question", {"type": "essay"})
        _text(q, "name", ticket_name(ticket.number))
        _text(q, "questiontext", ticket_html(ticket), fmt="html")
        _text(q, "generalfeedback", "", fmt="html")
        SubElement(q, "defaultgrade").text = "1"
        SubElement(q, "penalty").text = "0"
        SubElement(q, "hidden").text = "0"
        SubElement(q, "idnumber").text = f"ticket-{ticket.number}"
        # The answer is given orally to the commission; an editor lets the student take notes.
        SubElement(q, "responseformat").text = "editor"
        SubElement(q, "responserequired").text = "0"
        SubElement(q, "responsefieldlines").text = "10"
        SubElement(q, "attachments").text = "0"
        SubElement(q, "attachmentsrequired").text = "0"
        _text(q, "graderinfo", "", fmt="html")
        _text(q, "responsetemplate", "", fmt="html")
    indent(quiz)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(
        quiz, encoding="utf-8", xml_declaration=False
    )


def write_tickets_xml(tickets: Sequence[Ticket], path: Path) -> Path:
    """Write the file atomically (a half-written import file would import half the tickets)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(tickets_xml(tickets))
    tmp.replace(path)
    return path
