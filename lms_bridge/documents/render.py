"""PDF (fpdf2, with DejaVu Sans embedded so that Kazakh and Russian letters render anywhere) and XLSX
(openpyxl) renderings of a student's protocol and of the session's grade sheet.

Texts are in the session's language (``use_locale``), not the viewer's: the protocol is a record of
the sitting and is signed as such.  Numbers are written the way that language writes them (Babel:
91,67 in Kazakh and Russian), and a count before a noun takes the noun's plural form (``ngettext``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from lms_bridge.documents.cells import as_text
from lms_bridge.documents.model import SessionDocument, StudentResult
from lms_bridge.i18n import current_locale, ngettext, use_locale
from lms_bridge.i18n import gettext as _

FONTS = Path(__file__).with_name("fonts")
SIGNATURE_LINE = "_______________________"


# -- words and numbers -----------------------------------------------------------------------------

def _kind(kind: str) -> str:
    """How the sitting is held (the form of conduct)."""
    return {
        "oral_exam": _("oral exam"), "written_exam": _("written exam"), "test_exam": _("test exam"),
        "creative_exam": _("creative exam"), "defense": _("thesis defense"),
    }.get(kind, kind)


def _attestation_type(kind: str) -> str:
    """The two forms of final attestation (003 §17): a comprehensive exam or a thesis defense."""
    return _("thesis defense") if kind == "defense" else _("comprehensive exam")


def _role(role: str) -> str:
    """A commission role as the signature lines and the list of those present write it."""
    return {"chair": _("Chair"), "member": _("Member"),
            "secretary": _("Technical secretary")}.get(role, role)


def still_to_sit(s: StudentResult) -> bool:
    """The exception leaves the attestation to be completed later (moved for a valid reason, continued
    after a technical failure, postponed with I): nothing is decided yet, the degree neither."""
    e = s.exception
    return e is not None and s.letter is None and (
        e.kind in ("absent_valid", "postponed") or (e.kind == "technical_failure" and e.continuation == "later"))


def _degree_text(s: StudentResult) -> str:
    if s.degree_mode == "none" or not s.admitted:
        return ""
    if still_to_sit(s):
        return _("not decided")
    if s.letter is None and s.exception is not None:
        return _("not awarded")  # no exception ever awards the degree
    if s.degree_awarded is None:
        return _("not decided")
    return _("awarded") if s.degree_awarded else _("not awarded")


def number(value: float, places: int = 2) -> str:
    """``value`` with at most ``places`` decimals, in the current language's notation (91,67)."""
    return format_decimal(value, format="0." + "#" * places, locale=current_locale())


def gpa(value: float) -> str:
    """A GPA always shows two decimals (3,67; 3,00), as the credit-system scale prints it."""
    return format_decimal(value, format="0.00", locale=current_locale())


def points_text(points: float) -> str:
    """'81 балл', '82 балла', '85 баллов'; a fraction takes the form of 2 ('91,67 балла')."""
    whole = float(points).is_integer()
    # ngettext picks the form by an integer; any fraction reads like "2" in Russian (CLDR "other").
    count = int(points) if whole else 2
    return ngettext("%(points)s point", "%(points)s points", count, points=number(points))


def _day(moment: date | datetime) -> str:
    return moment.strftime("%d.%m.%Y")


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def exception_text(s: StudentResult) -> str:
    """The exception in the protocol's words (003 §22-23, §31, §40, §46, §15; 004 oral §8)."""
    e = s.exception
    if e is None:
        return ""
    if e.kind == "absent_valid":
        moved = _day(e.moved_to) if e.moved_to else "—"
        return _("Absent for a valid reason; moved to the commission's sitting of %(date)s.", date=moved)
    if e.kind == "no_show":
        return _("Did not appear without a valid reason.")
    if e.kind == "refused":
        return _("Refused to answer; the grade «%(word)s» (%(letter)s).", word=e.mark_word, letter=e.mark)
    if e.kind == "technical_failure":
        if e.continuation == "later" and e.moved_to is not None:
            return _("Technical failure; the commission decided to continue the attestation at its sitting of "
                     "%(date)s.", date=_day(e.moved_to))
        if e.continuation == "later":
            return _("Technical failure; the commission decided to continue the attestation later the same day.")
        return _("Technical failure; the commission decided to end the attestation.")
    if e.kind == "breach":
        return _("Stopped for a breach of the rules; the grade «%(word)s» (%(letter)s).", word=e.mark_word,
                 letter=e.mark)
    if e.kind == "postponed":
        return _("Postponed; temporary grade %(letter)s («%(word)s») until the new date.", letter=e.mark,
                 word=e.mark_word)
    if e.kind == "cumulative":
        return _("On the student's application, the cumulative grade «%(word)s» (%(letter)s): the mean of the "
                 "current control score %(current)s and the midterm control score %(midterm)s.",
                 word=e.mark_word, letter=e.mark, current=_score(e.current_score), midterm=_score(e.midterm_score))
    return e.kind


def _score(value: float | None) -> str:
    return number(value, 1) if value is not None else "—"


def exception_record(doc: SessionDocument, s: StudentResult) -> str:
    """Who recorded the exception, when, and why."""
    e = s.exception
    assert e is not None
    when = doc.local(e.recorded_at)
    return _("Reason: %(reason)s. Recorded by %(who)s on %(date)s at %(time)s.", reason=e.reason,
             who=e.recorded_by, date=_day(when), time=_clock(when))


def _short_exception(s: StudentResult) -> str:
    """The exception as the grade sheet's grade column writes it."""
    e = s.exception
    if e is None:
        return ""
    return {
        "absent_valid": lambda: _("absent (valid reason), moved to %(date)s",
                                  date=_day(e.moved_to) if e.moved_to else "—"),
        "no_show": lambda: _("did not appear"),
        "refused": lambda: _("refused to answer"),
        "technical_failure": lambda: (_("technical failure, continues on %(date)s", date=_day(e.moved_to))
                                      if e.moved_to else _("technical failure")),
        "breach": lambda: _("stopped for a breach of the rules"),
        "postponed": lambda: _("postponed"),
        "cumulative": lambda: _("cumulative grade"),
    }.get(e.kind, lambda: e.kind)()


def _sheet_grade_word(s: StudentResult) -> str:
    if not s.admitted:
        return _("not admitted")
    if s.exception is not None:
        short = _short_exception(s)
        return f"{short}; {s.exception.mark_word}" if s.exception.mark_word else short
    return s.word


def _sheet_letter(s: StudentResult) -> str:
    if s.letter:
        return s.letter
    return s.exception.mark if s.exception is not None else ""


def _decision_words(s: StudentResult) -> str:
    assert s.letter is not None
    assert s.points is not None
    assert s.gpa is not None
    return _("The grade «%(word)s» is given (%(letter)s; %(points)s; GPA %(gpa)s).", word=s.word,
             letter=s.letter, points=points_text(s.points), gpa=gpa(s.gpa))


def _place(doc: SessionDocument) -> str:
    return _("online (%(platform)s)", platform=doc.platform) if doc.platform else _("online")


def _hours(doc: SessionDocument, s: StudentResult) -> str:
    start = _clock(doc.date)
    if s.decided_at is None:
        return _("from %(start)s", start=start)
    end = doc.local(s.decided_at)
    if end < doc.date:
        # Recorded before the sitting began (the cumulative grade, on the student's application):
        # "09:00 – 08:12" would read as an attestation that ended before it started.
        return _("recorded at %(time)s, before the sitting began", time=_clock(end))
    return f"{start} – {_clock(end)}"


def _present(doc: SessionDocument, student: StudentResult | None = None) -> list[str]:
    """Who was present, each member marked as having voted or not: on a student's protocol for that
    student's vote (a member who voted for others but not this student did not vote here), on the
    session's documents for the session."""
    if student is not None:
        voters = {name for name, _letter in student.votes} | {name for name, _v in student.degree_per_member}
    lines = []
    for m in doc.members:
        voted = m.name in voters if student is not None else m.voted
        mark = _("voted") if voted else ("" if m.role == "secretary" else _("did not vote"))
        lines.append(f"{m.name} — {_role(m.role)}" + (f" ({mark})" if mark else ""))
    return lines


def _remark_lines(s: StudentResult) -> list[str]:
    return [f"{who}: {text}" if who else text for who, text in s.remarks]


def _degree_answer(answer: str) -> str:
    return _("for") if answer == "yes" else _("against")


def _head_lines(doc: SessionDocument) -> list[str]:
    return [text for text in (doc.university, doc.commission_name) if text]


def _protocol_rows(doc: SessionDocument, s: StudentResult) -> list[tuple[str, str]]:
    """The protocol's key-value requisites, the same in PDF and XLSX."""
    rows = [
        (_("Date"), _day(doc.date)),
        (_("Start and end"), _hours(doc, s)),
        (_("Place"), _place(doc)),
        (_("Sitting of the commission"), f"{doc.title} ({doc.code})"),
        (_("Type of attestation"), _attestation_type(doc.kind)),
    ]
    if doc.kind != "defense":
        rows.append((_("Form of conduct"), _kind(doc.kind)))
    if doc.programme:
        rows.append((_("Programme"), doc.programme))
    if doc.group:
        rows.append((_("Group"), doc.group))
    rows.append((_("Student"), f"{s.name} ({s.ref})"))
    if s.on_behalf_files:
        rows.append((_("Answer sheets"), on_behalf_text(s)))
    return rows


def on_behalf_text(s: StudentResult) -> str:
    """The answer sheets the secretary uploaded on the student's behalf, and where the commission reads
    them (Drive, as Classroom lets only the student attach files to the submission)."""
    text = ngettext("%(num)s file uploaded by the secretary on the student's behalf",
                    "%(num)s files uploaded by the secretary on the student's behalf", s.on_behalf_files)
    if s.pages_declared:
        text += "; " + ngettext("%(num)s page declared", "%(num)s pages declared", s.pages_declared)
    links = [link for _name, link in s.on_behalf if link]
    if links:
        text += "; " + _("in Drive, shared with the commission: %(links)s", links=" ".join(links))
    return str(text)


def _sheet_subtitle(doc: SessionDocument) -> str:
    parts = [_attestation_type(doc.kind)]
    if doc.kind != "defense":
        parts.append(_kind(doc.kind))
    parts += [p for p in (doc.group, _day(doc.date), _place(doc)) if p]
    return " · ".join(parts)


# -- PDF -----------------------------------------------------------------------------------------

class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 16, 18)
        self._footer_text = footer_text

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self._footer_text} · {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)

    def heading(self, text: str, size: int = 13, bold: bool = True) -> None:
        self.set_font("DejaVu", "B" if bold else "", size)
        self.multi_cell(0, 6.5, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def line_text(self, text: str, size: int = 10, bold: bool = False) -> None:
        self.set_font("DejaVu", "B" if bold else "", size)
        self.multi_cell(0, 5.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def kv(self, key: str, value: str) -> None:
        # The key may wrap in its own column ("Образовательная программа"); the value starts beside it.
        self.set_font("DejaVu", "B", 10)
        top = self.get_y()
        self.multi_cell(58, 5.5, key, align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        key_bottom = top + 5.5 * len(self.multi_cell(58, 5.5, key, dry_run=True, output="LINES"))
        self.set_font("DejaVu", "", 10)
        self.multi_cell(0, 5.5, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(max(self.get_y(), key_bottom) + 0.5)

    def section(self, title: str, lines: Sequence[str], empty: str = "—") -> None:
        self.ln(2)
        self.line_text(title, bold=True)
        for text in lines or [empty]:
            self.line_text(text)

    def signature(self, role: str, name: str) -> None:
        self.ln(6)
        self.set_font("DejaVu", "", 10)
        self.cell(62, 6, role)
        self.cell(58, 6, SIGNATURE_LINE)
        self.cell(0, 6, name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def protocol_pdf(doc: SessionDocument, student: StudentResult) -> bytes:
    """The voting protocol for one student, ready for the chair's and the secretary's signatures."""
    with use_locale(doc.language):
        pdf = _Pdf(f"{doc.code} · {student.ref}")
        pdf.alias_nb_pages()
        pdf.add_page()
        for text in _head_lines(doc):
            pdf.heading(text, size=10)
        pdf.ln(2)
        pdf.heading(_("PROTOCOL No. %(number)s", number=student.protocol_number))
        pdf.heading(_("of the vote of the attestation commission"), size=11, bold=False)
        pdf.ln(3)
        for key, value in _protocol_rows(doc, student):
            pdf.kv(key, value)
        pdf.section(_("Present"), [f"• {line}" for line in _present(doc, student)])
        lines = []
        if student.ticket_number is not None:
            lines.append(_("Ticket No. %(number)s", number=student.ticket_number))
            lines += [f"{i}. {q}" for i, q in enumerate(student.ticket_questions, 1)]
        pdf.section(_("Ticket"), lines, empty=_("no ticket drawn"))
        pdf.section(_("Questions put to the student"),
                    [f"{i}. {q}" for i, q in enumerate(student.questions_asked, 1)])
        pdf.ln(2)
        pdf.line_text(_("Votes"), bold=True)
        if student.votes:
            pdf.set_font("DejaVu", "", 10)
            with pdf.table(col_widths=(120, 54), text_align=("LEFT", "CENTER"), line_height=6) as table:
                header = table.row()
                header.cell(_("Member"))
                header.cell(_("Grade"))
                for name, letter in student.votes:
                    row = table.row()
                    row.cell(name)
                    row.cell(letter)
        else:
            pdf.line_text(_("no ballots"))
        if student.degree_mode != "none":
            secret = student.degree_mode == "secret"
            title = _("Degree award (secret vote)") if secret else _("Degree award (open vote)")
            lines = [_("for: %(yes)s, against: %(no)s", yes=student.degree_yes, no=student.degree_no)]
            lines += [f"• {name}: {_degree_answer(answer)}" for name, answer in student.degree_per_member]
            lines.append(_degree_text(student))
            pdf.section(title, lines)
        pdf.section(_("Remarks and dissenting opinions"), _remark_lines(student))
        pdf.ln(3)
        pdf.line_text(_("Decision"), bold=True)
        if student.letter is not None:
            pdf.line_text(_decision_words(student), size=11)
            if student.commission_reason:
                pdf.line_text(_("Decided by the commission, as the vote could not decide: %(reason)s",
                                reason=student.commission_reason))
            if student.exception is not None:  # the cumulative grade, given in place of the exam
                pdf.line_text(exception_text(student))
                pdf.line_text(exception_record(doc, student))
            if student.degree_mode != "none" and student.degree_awarded is not None:
                pdf.line_text(_("The academic degree is awarded.") if student.degree_awarded
                              else _("The academic degree is not awarded."), size=11)
        elif student.exception is not None:
            pdf.line_text(exception_text(student), size=11)
            pdf.line_text(exception_record(doc, student))
            if student.degree_mode != "none":
                # A student who still sits later has no degree decision yet; the others are not awarded it.
                pdf.line_text(_("The academic degree is decided when the attestation is completed.")
                              if still_to_sit(student) else _("The academic degree is not awarded."), size=11)
        else:
            pdf.line_text(_("no decision yet"))
        if student.appeal_closes is not None:
            pdf.ln(2)
            pdf.line_text(_("Last day to file an appeal: %(date)s.", date=_day(student.appeal_closes)))
        pdf.ln(4)
        pdf.signature(_("Chair"), doc.chair)
        pdf.signature(_("Technical secretary"), doc.secretary)
        return bytes(pdf.output())


def failure_act_pdf(doc: SessionDocument, student: StudentResult) -> bytes:
    """The act of a technical failure during a student's attestation (003 §23): what happened, when,
    and what the commission decided; signed by every member present and sent to them the same day."""
    e = student.exception
    if e is None or e.kind != "technical_failure":
        raise ValueError("an act is drawn up for a technical failure only")
    with use_locale(doc.language):
        when = doc.local(e.recorded_at)
        pdf = _Pdf(f"{doc.code} · {student.ref}")
        pdf.alias_nb_pages()
        pdf.add_page()
        for text in _head_lines(doc):
            pdf.heading(text, size=10)
        pdf.ln(2)
        pdf.heading(_("ACT"))
        pdf.heading(_("of a technical failure during the final attestation"), size=11, bold=False)
        pdf.ln(3)
        pdf.kv(_("Date"), _day(when))
        pdf.kv(_("Time"), _clock(when))
        pdf.kv(_("Place"), _place(doc))
        pdf.kv(_("Sitting of the commission"), f"{doc.title} ({doc.code})")
        pdf.kv(_("Type of attestation"), _attestation_type(doc.kind))
        pdf.kv(_("Student"), f"{student.name} ({student.ref})")
        if student.ticket_number is not None:
            pdf.kv(_("Ticket"), _("Ticket No. %(number)s", number=student.ticket_number))
        pdf.section(_("What happened"), [e.reason])
        pdf.section(_("Decision of the commission"), [exception_text(student)])
        pdf.line_text(_("Recorded by %(who)s.", who=e.recorded_by))
        pdf.section(_("Present"), [f"• {m.name} — {_role(m.role)}" for m in doc.members])
        pdf.ln(4)
        for m in doc.members:
            pdf.signature(_role(m.role), m.name)
        return bytes(pdf.output())


GRADE_SHEET_COLUMNS = (8, 60, 24, 14, 25, 18, 18, 50, 44)  # mm, landscape A4 (261 mm between margins)


def _has_degree(doc: SessionDocument) -> bool:
    return any(s.degree_mode != "none" for s in doc.students)


def _grade_sheet_header(doc: SessionDocument) -> list[str]:
    head = ["№", _("Student"), _("ID"), _("Ticket"), _("Letter"), _("Points"), _("GPA"), _("Traditional grade")]
    return [*head, _("Degree")] if _has_degree(doc) else head


def grade_sheet_pdf(doc: SessionDocument) -> bytes:
    """The session's grade sheet (statement): one line per student, signed by chair and members."""
    with use_locale(doc.language):
        pdf = _Pdf(doc.code)
        pdf.alias_nb_pages()
        pdf.add_page(orientation="L")
        for text in _head_lines(doc):
            pdf.heading(text, size=10)
        pdf.ln(1)
        pdf.heading(_("GRADE SHEET"))
        if not doc.released:
            pdf.heading(_("PROVISIONAL: the chair has not announced the results yet"), size=11)
        pdf.heading(f"{doc.title} ({doc.code})", size=11)
        pdf.line_text(_sheet_subtitle(doc), size=9)
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 9)
        degree = _has_degree(doc)
        # Without a degree vote the last column goes, and its width goes to the names.
        widths = GRADE_SHEET_COLUMNS if degree else (8, 84, 24, 14, 25, 18, 18, 70)
        align = ("CENTER", "LEFT", "LEFT", "CENTER", "CENTER", "CENTER", "CENTER", "LEFT", "LEFT")
        with pdf.table(col_widths=widths, line_height=5.5, text_align=align[:len(widths)]) as table:
            head = table.row()
            for text in _grade_sheet_header(doc):
                head.cell(text)
            for i, s in enumerate(doc.students, 1):
                row = table.row()
                cells = [str(i), s.name, s.ref, str(s.ticket_number or ""), _sheet_letter(s),
                         number(s.points) if s.points is not None else "",
                         gpa(s.gpa) if s.gpa is not None else "",
                         _sheet_grade_word(s)]
                if degree:
                    cells.append(_degree_text(s))
                for text in cells:
                    row.cell(text)
        pdf.ln(4)
        for m in doc.members:
            if m.role != "secretary":
                pdf.signature(_role(m.role), m.name)
        pdf.signature(_("Technical secretary"), doc.secretary)
        return bytes(pdf.output())


# -- XLSX ----------------------------------------------------------------------------------------

def _append(ws: Worksheet, values: Sequence[Any], *, bold: bool = False) -> int:
    """Append one row; every text goes through :func:`_put_text`, numbers stay numbers."""
    ws.append([None] * max(len(values), 1))
    row = ws.max_row
    for col, value in enumerate(values, 1):
        if isinstance(value, str):
            _put_text(ws, row, col, value)
        elif value is not None:
            ws.cell(row=row, column=col, value=value)
        if bold:
            ws.cell(row=row, column=col).font = Font(bold=True)
    return row


def _put_text(ws: Worksheet, row: int, col: int, text: str) -> None:
    """The one place text (names, titles, questions, remarks) is written to a cell: always a string
    cell, never read as a formula or a number."""
    cell = ws.cell(row=row, column=col)
    cell.value = text
    cell.data_type = "s"


def _number_cell(ws: Worksheet, row: int, col: int, fmt: str) -> None:
    # Numbers stay numbers in a workbook; the viewer's locale writes the decimal comma.
    ws.cell(row=row, column=col).number_format = fmt


def grade_sheet_xlsx(doc: SessionDocument) -> bytes:
    with use_locale(doc.language):
        wb = Workbook()
        ws = wb.active
        ws.title = _("Grade sheet")[:31]
        for text in _head_lines(doc):
            _append(ws, [text])
        title_row = _append(ws, [_("GRADE SHEET")], bold=True)
        ws.cell(row=title_row, column=1).font = Font(bold=True, size=13)
        if not doc.released:
            _append(ws, [_("PROVISIONAL: the chair has not announced the results yet")], bold=True)
        _append(ws, [f"{doc.title} ({doc.code})"], bold=True)
        _append(ws, [_sheet_subtitle(doc)])
        ws.append([])
        _append(ws, _grade_sheet_header(doc), bold=True)
        degree = _has_degree(doc)
        for i, s in enumerate(doc.students, 1):
            values: list[Any] = [i, s.name, s.ref, s.ticket_number, _sheet_letter(s), s.points, s.gpa,
                                 _sheet_grade_word(s)]
            row = _append(ws, [*values, _degree_text(s)] if degree else values)
            # Points keep Excel's General format ("0.##" would show "82." for a whole number).
            _number_cell(ws, row, 7, "0.00")
        for col, width in enumerate((5, 36, 14, 8, 14, 10, 10, 30, 24), 1):
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.append([])
        for m in doc.members:
            if m.role != "secretary":
                _append(ws, [_role(m.role), m.name, "", SIGNATURE_LINE])
        _append(ws, [_("Technical secretary"), doc.secretary, "", SIGNATURE_LINE])
        as_text(ws)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()


def protocol_xlsx(doc: SessionDocument, student: StudentResult) -> bytes:
    with use_locale(doc.language):
        wb = Workbook()
        ws = wb.active
        ws.title = _("Protocol")[:31]
        for text in _head_lines(doc):
            _append(ws, [text])
        _append(ws, [_("PROTOCOL No. %(number)s", number=student.protocol_number)], bold=True)
        _append(ws, [_("of the vote of the attestation commission")])
        ws.append([])
        rows = _protocol_rows(doc, student)
        rows.append((_("Ticket"), _("Ticket No. %(number)s", number=student.ticket_number)
                     if student.ticket_number is not None else _("no ticket drawn")))
        for i, q in enumerate(student.ticket_questions, 1):
            rows.append(("", f"{i}. {q}"))
        for key, value in rows:
            row = _append(ws, [key, value])
            ws.cell(row=row, column=1).font = Font(bold=True)
        ws.append([])
        _append(ws, [_("Present")], bold=True)
        for line in _present(doc, student):
            _append(ws, ["", line])
        ws.append([])
        _append(ws, [_("Questions put to the student")], bold=True)
        for i, q in enumerate(student.questions_asked, 1):
            _append(ws, ["", f"{i}. {q}"])
        if not student.questions_asked:
            _append(ws, ["", "—"])
        ws.append([])
        _append(ws, [_("Member"), _("Grade")], bold=True)
        for name, letter in student.votes:
            _append(ws, [name, letter])
        if student.degree_mode != "none":
            ws.append([])
            secret = student.degree_mode == "secret"
            _append(ws, [_("Degree award (secret vote)") if secret else _("Degree award (open vote)"),
                         _("for: %(yes)s, against: %(no)s", yes=student.degree_yes, no=student.degree_no),
                         _degree_text(student)], bold=False)
            for name, answer in student.degree_per_member:
                _append(ws, [name, _degree_answer(answer)])
        ws.append([])
        _append(ws, [_("Remarks and dissenting opinions")], bold=True)
        for line in _remark_lines(student) or ["—"]:
            _append(ws, ["", line])
        ws.append([])
        if student.letter is not None:
            decision = _decision_words(student)
        elif student.exception is not None:
            decision = exception_text(student)
        else:
            decision = _("no decision yet")
        row = _append(ws, [_("Decision"), decision])
        ws.cell(row=row, column=1).font = Font(bold=True)
        if student.letter is not None and student.commission_reason:
            _append(ws, ["", _("Decided by the commission, as the vote could not decide: %(reason)s",
                               reason=student.commission_reason)])
        if student.letter is not None and student.exception is not None:
            _append(ws, ["", exception_text(student)])
        if student.exception is not None:
            _append(ws, ["", exception_record(doc, student)])
        if student.letter is not None and student.degree_mode != "none" and student.degree_awarded is not None:
            _append(ws, ["", _("The academic degree is awarded.") if student.degree_awarded
                         else _("The academic degree is not awarded.")])
        if student.appeal_closes is not None:
            _append(ws, ["", _("Last day to file an appeal: %(date)s.", date=_day(student.appeal_closes))])
        ws.append([])
        _append(ws, [_("Chair"), doc.chair, SIGNATURE_LINE])
        _append(ws, [_("Technical secretary"), doc.secretary, SIGNATURE_LINE])
        ws.column_dimensions["A"].width = 32
        ws.column_dimensions["B"].width = 60
        ws.column_dimensions["C"].width = 24
        for sheet_row in ws.iter_rows():
            for cell in sheet_row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        as_text(ws)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
