"""Sealing a session: the documents are drawn up and sent to every commission member (R-PROT-1), and
to the registrar and the department when the session file names them.

The PDFs and workbooks are written under ``data_dir/documents/<code>/``; one e-mail per member is put
in the outbox with them attached.  With SMTP configured a job sends the outbox; the embedded
default has no SMTP and shows the outbox on the admin page instead.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.config import SmtpSettings
from lms_bridge.documents.model import gather
from lms_bridge.documents.render import grade_sheet_pdf, grade_sheet_xlsx, protocol_pdf, protocol_xlsx
from lms_bridge.domain.examday import ExamDayError, may_seal
from lms_bridge.domain.workdays import AppealSettings
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale
from lms_bridge.results.examday import day_states
from lms_bridge.store.models import AuditEvent, CommissionMember, ExamSession, OutboxEmail

logger = logging.getLogger(__name__)

PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# Bidi embeddings, overrides and isolates: they reorder what a mail client shows.
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def header_text(text: str, limit: int | None = None) -> str:
    """``text`` fit for an e-mail header: one line, no control characters, at most ``limit`` long.

    A line break in a header would start a new header (or, as the email library rightly refuses
    it, make the message unsendable), so every control character becomes a space.  The email
    library then encodes and folds the line (RFC 2047) when the message is built.
    """
    line = " ".join("".join(" " if c in _REORDERING or unicodedata.category(c) in ("Cc", "Zl", "Zp") else c
                            for c in text).split())
    if limit is not None and len(line) > limit:
        line = line[: limit - 1] + "…"
    return line


class SealRefused(Exception):
    """The session cannot be sealed yet; the message says why."""


def write_documents(db: Session, session: ExamSession, data_dir: Path, *,
                    appeals: AppealSettings | None = None) -> list[dict[str, str]]:
    """Render every document of the session; returns attachment descriptors (paths relative to data_dir).
    ``appeals``: the configured appeal deadlines, for the protocol's last day to appeal."""
    doc = gather(db, session, appeals=appeals)
    folder = data_dir / "documents" / session.code
    folder.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, bytes, str]] = [
        (f"{session.code}-grade-sheet.pdf", grade_sheet_pdf(doc), PDF),
        (f"{session.code}-grade-sheet.xlsx", grade_sheet_xlsx(doc), XLSX),
    ]
    for student in doc.students:
        if not student.admitted:
            continue
        files.append((f"{session.code}-protocol-{student.ref}.pdf", protocol_pdf(doc, student), PDF))
        files.append((f"{session.code}-protocol-{student.ref}.xlsx", protocol_xlsx(doc, student), XLSX))
    out = []
    for name, content, mimetype in files:
        path = folder / name
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(content)
        tmp.replace(path)  # a reader never sees half a file
        out.append({"filename": name, "path": str(path.relative_to(data_dir)), "mimetype": mimetype})
    return out


def seal_session(db: Session, session: ExamSession, *, actor: str, data_dir: Path,
                 allow_undecided: bool = False, appeals: AppealSettings | None = None) -> list[OutboxEmail]:
    """Seal the session: documents drawn up, one e-mail per member queued; returns the e-mails."""
    if session.status == "sealed":
        raise SealRefused(_("The session is already sealed."))
    if not allow_undecided:
        try:
            # Every admitted student has a decision or a recorded exception, and the chair has
            # released the results (003 §61).
            may_seal(day_states(db, session), released=session.released_at is not None)
        except ExamDayError as exc:
            raise SealRefused(str(exc)) from None
    attachments = write_documents(db, session, data_dir, appeals=appeals)
    members = list(db.scalars(select(CommissionMember).where(CommissionMember.session_id == session.id,
                                                             CommissionMember.active.is_(True))))
    emails = []
    with use_locale(session.language):
        subject = header_text(_("Attestation protocols: %(title)s (%(code)s)", title=session.title,
                                code=session.code), OutboxEmail.__table__.c.subject.type.length)
        for m in members:
            body = _("Dear %(name)s,\n\nthe attestation session %(title)s (%(code)s) is sealed. The grade "
                     "sheet and the protocol of the vote for each student are attached.\n\nlms_bridge",
                     name=m.name, title=session.title, code=session.code)
            email = OutboxEmail(session_id=session.id, recipient=m.email, subject=subject, body=body,
                                attachments=attachments)
            db.add(email)
            emails.append(email)
        # The registrar and the department keep the sealed documents too (addresses in the session
        # file); an address that is also a member's gets one e-mail.
        sent_to = {m.email for m in members}
        for office in (session.registrar_email, session.department_email):
            if not office or office in sent_to:
                continue
            sent_to.add(office)
            body = _("Dear colleagues,\n\nthe attestation session %(title)s (%(code)s) is sealed. The grade sheet "
                     "and the protocol of each student are attached for your records.\n\nlms_bridge",
                     title=session.title, code=session.code)
            email = OutboxEmail(session_id=session.id, recipient=office, subject=subject, body=body,
                                attachments=attachments)
            db.add(email)
            emails.append(email)
    session.status = "sealed"
    session.sealed_at = datetime.now(UTC)
    # The draw seed is revealed once the sitting is over, so anyone can recompute the tickets.
    if session.draw_revealed_at is None:
        session.draw_revealed_at = session.sealed_at
    db.add(AuditEvent(session_id=session.id, actor=actor, action="session.sealed",
                      detail={"documents": len(attachments), "emails": len(emails)}))
    db.flush()
    return emails


def send_email(smtp: SmtpSettings, email: OutboxEmail, data_dir: Path, *,
               connect: type[smtplib.SMTP] = smtplib.SMTP) -> None:
    """Send one outbox e-mail over SMTP (STARTTLS when configured); raises on failure."""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = email.recipient
    # The subject was made safe when queued; an outbox row written before that is made safe here.
    msg["Subject"] = header_text(email.subject)
    msg.set_content(email.body)
    for item in email.attachments or []:
        path = data_dir / str(item["path"])
        maintype, _sep, subtype = str(item.get("mimetype", "application/octet-stream")).partition("/")
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=str(item["filename"]))
    with connect(smtp.host, smtp.port, timeout=30) as server:
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context())
        if smtp.username:
            server.login(smtp.username, smtp.password.reveal())
        server.send_message(msg)
