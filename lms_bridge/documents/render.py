"""PDF (fpdf2, with DejaVu Sans embedded so that Kazakh and Russian letters render anywhere) and XLSX
(openpyxl) renderings of a student's protocol and of the session's grade sheet.

Texts are in the session's language (``use_locale``), not the viewer's: the protocol is a record of
the sitting and is signed as such.
"""

from __future__ import annotations

import io
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from lms_bridge.documents.cells import as_text
from lms_bridge.documents.model import SessionDocument, StudentResult
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale

FONTS = Path(__file__).with_name("fonts")


def _kind(kind: str) -> str:
    return {
        "oral_exam": _("oral exam"), "written_exam": _("written exam"), "test_exam": _("test exam"),
        "creative_exam": _("creative exam"), "defense": _("thesis defense"),
    }.get(kind, kind)


def _role(role: str) -> str:
    return {"chair": _("chair"), "member": _("member"), "secretary": _("technical secretary")}.get(role, role)


def _degree_text(s: StudentResult) -> str:
    if s.degree_mode == "none" or not s.admitted:
        return ""
    if s.degree_awarded is None:
        return _("not decided")
    return _("awarded") if s.degree_awarded else _("not awarded")


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

    def heading(self, text: str, size: int = 13) -> None:
        self.set_font("DejaVu", "B", size)
        self.multi_cell(0, 7, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def line_text(self, text: str, size: int = 10, bold: bool = False) -> None:
        self.set_font("DejaVu", "B" if bold else "", size)
        self.multi_cell(0, 5.5, text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def kv(self, key: str, value: str) -> None:
        self.set_font("DejaVu", "B", 10)
        self.cell(55, 6, key)
        self.set_font("DejaVu", "", 10)
        self.multi_cell(0, 6, value, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def signature(self, role: str, name: str) -> None:
        self.ln(6)
        self.set_font("DejaVu", "", 10)
        self.cell(60, 6, role)
        self.cell(60, 6, "_______________________")
        self.cell(0, 6, name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def protocol_pdf(doc: SessionDocument, student: StudentResult) -> bytes:
    """The voting protocol for one student, ready for the chair's and the secretary's signatures."""
    with use_locale(doc.language):
        pdf = _Pdf(f"{doc.code} · {student.ref}")
        pdf.alias_nb_pages()
        pdf.add_page()
        pdf.heading(_("PROTOCOL"))
        pdf.heading(_("of the vote of the attestation commission"), size=11)
        pdf.ln(3)
        pdf.kv(_("Session"), f"{doc.title} ({doc.code})")
        pdf.kv(_("Form of attestation"), _kind(doc.kind))
        if doc.programme:
            pdf.kv(_("Programme"), doc.programme)
        if doc.group:
            pdf.kv(_("Group"), doc.group)
        pdf.kv(_("Date"), doc.date.strftime("%d.%m.%Y"))
        pdf.kv(_("Student"), f"{student.name} ({student.ref})")
        pdf.ln(2)
        pdf.line_text(_("Commission"), bold=True)
        for m in doc.members:
            mark = _("voted") if m.voted else ("" if m.role == "secretary" else _("did not vote"))
            pdf.line_text(f"• {m.name} — {_role(m.role)}" + (f" ({mark})" if mark else ""))
        pdf.ln(2)
        pdf.line_text(_("Ticket"), bold=True)
        if student.ticket_number is not None:
            pdf.line_text(_("Ticket No. %(number)s", number=student.ticket_number))
            for i, q in enumerate(student.ticket_questions, 1):
                pdf.line_text(f"{i}. {q}")
        else:
            pdf.line_text(_("no ticket drawn"))
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
            pdf.ln(2)
            secret = student.degree_mode == "secret"
            title = _("Degree award (secret vote)") if secret else _("Degree award (open vote)")
            pdf.line_text(title, bold=True)
            pdf.line_text(_("for: %(yes)s, against: %(no)s", yes=student.degree_yes, no=student.degree_no))
            for name, answer in student.degree_per_member:
                pdf.line_text(f"• {name}: {_('for') if answer == 'yes' else _('against')}")
            pdf.line_text(_degree_text(student))
        pdf.ln(3)
        pdf.line_text(_("Decision"), bold=True)
        if student.letter is not None:
            text = _("%(letter)s, %(points)s points, GPA %(gpa)s, %(word)s", letter=student.letter,
                     points=f"{student.points:g}", gpa=f"{student.gpa:.2f}", word=student.word)
            pdf.line_text(text, size=11)
        else:
            pdf.line_text(_("no decision yet"))
        pdf.ln(4)
        pdf.signature(_("Chair"), doc.chair)
        pdf.signature(_("Technical secretary"), doc.secretary)
        return bytes(pdf.output())


def grade_sheet_pdf(doc: SessionDocument) -> bytes:
    """The session's grade sheet (statement): one line per student, signed by chair and members."""
    with use_locale(doc.language):
        pdf = _Pdf(doc.code)
        pdf.alias_nb_pages()
        pdf.add_page(orientation="L")
        pdf.heading(_("GRADE SHEET"))
        pdf.heading(f"{doc.title} ({doc.code})", size=11)
        pdf.line_text(f"{_kind(doc.kind)} · {doc.group} · {doc.date.strftime('%d.%m.%Y')}", size=9)
        pdf.ln(2)
        pdf.set_font("DejaVu", "", 9)
        with pdf.table(col_widths=(8, 60, 24, 14, 18, 16, 14, 40, 30), line_height=6,
                       text_align=("CENTER", "LEFT", "LEFT", "CENTER", "CENTER", "CENTER", "CENTER", "LEFT",
                                   "LEFT")) as table:
            head = table.row()
            for text in ("№", _("Student"), _("ID"), _("Ticket"), _("Letter"), _("Points"), _("GPA"),
                         _("Traditional grade"), _("Degree")):
                head.cell(text)
            for i, s in enumerate(doc.students, 1):
                row = table.row()
                cells = (str(i), s.name, s.ref, str(s.ticket_number or ""), s.letter or "",
                         f"{s.points:g}" if s.points is not None else "",
                         f"{s.gpa:.2f}" if s.gpa is not None else "",
                         s.word if s.admitted else _("not admitted"), _degree_text(s))
                for text in cells:
                    row.cell(text)
        pdf.ln(4)
        for m in doc.members:
            if m.role != "secretary":
                pdf.signature(_role(m.role).capitalize(), m.name)
        pdf.signature(_("Technical secretary"), doc.secretary)
        return bytes(pdf.output())


def _sheet_header(ws, titles: list[str]) -> None:  # type: ignore[no-untyped-def]
    ws.append(titles)
    for col in range(1, len(titles) + 1):
        ws.cell(row=ws.max_row, column=col).font = Font(bold=True)


def grade_sheet_xlsx(doc: SessionDocument) -> bytes:
    with use_locale(doc.language):
        wb = Workbook()
        ws = wb.active
        ws.title = _("Grade sheet")[:31]
        ws.append([f"{doc.title} ({doc.code})"])
        ws.append([f"{_kind(doc.kind)} · {doc.group} · {doc.date.strftime('%d.%m.%Y')}"])
        ws.append([])
        _sheet_header(ws, ["№", _("Student"), _("ID"), _("Ticket"), _("Letter"), _("Points"), _("GPA"),
                           _("Traditional grade"), _("Degree")])
        for i, s in enumerate(doc.students, 1):
            ws.append([i, s.name, s.ref, s.ticket_number, s.letter, s.points, s.gpa,
                       s.word if s.admitted else _("not admitted"), _degree_text(s)])
        for col, width in enumerate((5, 36, 14, 8, 8, 8, 8, 24, 16), 1):
            ws.column_dimensions[get_column_letter(col)].width = width
        ws.append([])
        for m in doc.members:
            ws.append([_role(m.role), m.name, "", "______________"])
        as_text(ws)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()


def protocol_xlsx(doc: SessionDocument, student: StudentResult) -> bytes:
    with use_locale(doc.language):
        wb = Workbook()
        ws = wb.active
        ws.title = _("Protocol")[:31]
        rows = [
            (_("Session"), f"{doc.title} ({doc.code})"), (_("Form of attestation"), _kind(doc.kind)),
            (_("Date"), doc.date.strftime("%d.%m.%Y")), (_("Student"), f"{student.name} ({student.ref})"),
            (_("Ticket"), str(student.ticket_number or "")),
        ]
        for key, value in rows:
            ws.append([key, value])
            ws.cell(row=ws.max_row, column=1).font = Font(bold=True)
        ws.append([])
        _sheet_header(ws, [_("Member"), _("Grade")])
        for name, letter in student.votes:
            ws.append([name, letter])
        ws.append([])
        if student.degree_mode != "none":
            ws.append([_("Degree award"), _("for: %(yes)s, against: %(no)s", yes=student.degree_yes,
                                              no=student.degree_no), _degree_text(student)])
        ws.append([_("Decision"), student.letter or "", student.points, student.gpa, student.word])
        ws.append([])
        ws.append([_("Chair"), doc.chair, "______________"])
        ws.append([_("Technical secretary"), doc.secretary, "______________"])
        ws.column_dimensions["A"].width = 30
        ws.column_dimensions["B"].width = 50
        for row in ws.iter_rows():
            for cell in row:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
        as_text(ws)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
