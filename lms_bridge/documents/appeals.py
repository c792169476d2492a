"""The appeal's two documents, in the session's language: the protocol of the appeal commission
(signed by its chair and secretary) and the answer letter to the student (003 §66-67)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lms_bridge.documents.render import _day, _Pdf, number
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale


@dataclass(frozen=True)
class AppealDocument:
    session_code: str
    session_title: str
    university: str
    language: str
    student_name: str
    student_ref: str
    filed_on: date
    hearing_at: datetime | None  # in the session's time zone
    meeting_link: str
    chair: str
    secretary: str
    members: tuple[tuple[str, str], ...]  # (name, role) of the appeal commission
    votes: tuple[tuple[str, str, str], ...]  # (member, grade, new sitting yes/no/"")
    original_letter: str
    original_points: float | None
    outcome: str  # kept|changed|new_sitting
    new_letter: str
    new_points: float | None
    statement: tuple[str, ...]  # titles of what the student handed in
    number: str  # the appeal's number: <code>/A<n>


def outcome_words(doc: AppealDocument) -> str:
    if doc.outcome == "changed":
        return _("The appeal is granted: the grade %(old)s is changed to %(new)s (%(points)s points).",
                 old=doc.original_letter, new=doc.new_letter,
                 points=number(doc.new_points or 0, 0))
    if doc.outcome == "new_sitting":
        return _("The appeal is granted: the student sits the exam again at a new date and time, which the "
                 "student will see in the course.")
    return _("The appeal is not granted: the grade %(old)s stands.", old=doc.original_letter)


def _role(role: str) -> str:
    return {"chair": _("Chair"), "member": _("Member"), "secretary": _("Secretary")}.get(role, role)


def _hearing(doc: AppealDocument) -> str:
    if doc.hearing_at is None:
        return "—"
    return doc.hearing_at.strftime("%d.%m.%Y %H:%M")


def appeal_protocol_pdf(doc: AppealDocument) -> bytes:
    with use_locale(doc.language):
        pdf = _Pdf(f"{doc.session_code} · {doc.student_ref}")
        pdf.alias_nb_pages()
        pdf.add_page()
        if doc.university:
            pdf.heading(doc.university, size=10)
        pdf.ln(2)
        pdf.heading(_("PROTOCOL No. %(number)s", number=doc.number))
        pdf.heading(_("of the appeal commission"), size=11, bold=False)
        pdf.ln(3)
        pdf.kv(_("Attestation"), doc.session_title)
        pdf.kv(_("Student"), f"{doc.student_name} ({doc.student_ref})")
        pdf.kv(_("Appeal filed"), _day(doc.filed_on))
        pdf.kv(_("Hearing"), _hearing(doc))
        pdf.kv(_("Grade appealed"), f"{doc.original_letter} ({number(doc.original_points or 0, 0)})")
        pdf.section(_("The appeal commission"), [f"• {name} — {_role(role)}" for name, role in doc.members])
        pdf.section(_("The statement"), [f"• {title}" for title in doc.statement])
        pdf.ln(2)
        pdf.line_text(_("Votes"), bold=True)
        if doc.votes:
            pdf.set_font("DejaVu", "", 10)
            with pdf.table(col_widths=(100, 30, 44), text_align=("LEFT", "CENTER", "CENTER"),
                           line_height=6) as table:
                header = table.row()
                header.cell(_("Member"))
                header.cell(_("Grade"))
                header.cell(_("New sitting"))
                for name, letter, again in doc.votes:
                    row = table.row()
                    row.cell(name)
                    row.cell(letter)
                    row.cell(_("yes") if again == "yes" else _("no") if again == "no" else "—")
        else:
            pdf.line_text(_("no ballots"))
        pdf.ln(3)
        pdf.line_text(_("Decision"), bold=True)
        pdf.line_text(outcome_words(doc), size=11)
        pdf.ln(4)
        pdf.signature(_("Chair"), doc.chair)
        pdf.signature(_("Secretary"), doc.secretary)
        return bytes(pdf.output())


def appeal_letter_pdf(doc: AppealDocument) -> bytes:
    with use_locale(doc.language):
        pdf = _Pdf(f"{doc.session_code} · {doc.student_ref}")
        pdf.alias_nb_pages()
        pdf.add_page()
        if doc.university:
            pdf.heading(doc.university, size=10)
        pdf.ln(4)
        pdf.heading(_("Answer to the appeal"))
        pdf.ln(3)
        pdf.line_text(_("To %(name)s (%(ref)s)", name=doc.student_name, ref=doc.student_ref), bold=True)
        pdf.ln(2)
        pdf.line_text(_("The appeal commission heard your appeal of %(filed)s against the grade %(old)s in "
                        "\"%(title)s\" on %(hearing)s.", filed=_day(doc.filed_on), old=doc.original_letter,
                        title=doc.session_title, hearing=_hearing(doc)))
        pdf.ln(2)
        pdf.line_text(outcome_words(doc), size=11, bold=True)
        pdf.ln(2)
        pdf.line_text(_("The protocol No. %(number)s of the appeal commission records the vote.",
                        number=doc.number))
        pdf.ln(6)
        pdf.signature(_("Chair"), doc.chair)
        return bytes(pdf.output())
