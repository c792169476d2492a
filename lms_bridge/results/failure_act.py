"""The act of a technical failure (003 §23): drawn up as PDF in the session's language when the
secretary records the failure, and sent to every commission member the same day (the outbox, sent
by the mail job when SMTP is configured)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from lms_bridge.documents.model import gather
from lms_bridge.documents.render import failure_act_pdf
from lms_bridge.i18n import gettext as _
from lms_bridge.i18n import use_locale
from lms_bridge.results.seal import PDF, header_text
from lms_bridge.store.models import AuditEvent, ExamSession, OutboxEmail, StudentExceptionRecord, StudentRecord


def act_file_name(session: ExamSession, student: StudentRecord, record: StudentExceptionRecord) -> str:
    return f"{session.code}-failure-act-{student.student_ref}-{record.id}.pdf"


def draw_up_act(db: Session, session: ExamSession, student: StudentRecord, record: StudentExceptionRecord, *,
                data_dir: Path, actor: str) -> list[OutboxEmail]:
    """Write the act under ``data_dir/documents/<code>/`` and queue one e-mail per active member."""
    doc = gather(db, session)
    mine = next(s for s in doc.students if s.ref == student.student_ref)
    content = failure_act_pdf(doc, mine)
    folder = data_dir / "documents" / session.code
    folder.mkdir(parents=True, exist_ok=True)
    name = act_file_name(session, student, record)
    path = folder / name
    tmp = path.with_suffix(".part")
    tmp.write_bytes(content)
    tmp.replace(path)
    attachment = [{"filename": name, "path": str(path.relative_to(data_dir)), "mimetype": PDF}]
    emails = []
    with use_locale(session.language):
        subject = header_text(_("Act of a technical failure: %(name)s, %(code)s", name=student.name,
                                code=session.code), OutboxEmail.__table__.c.subject.type.length)
        for m in session.members:
            if not m.active:
                continue
            body = _("Dear %(name)s,\n\na technical failure interrupted the attestation of %(student)s "
                     "(%(code)s). The act is attached; please sign it.\n\nlms_bridge",
                     name=m.name, student=student.name, code=session.code)
            email = OutboxEmail(session_id=session.id, recipient=m.email, subject=subject, body=body,
                                attachments=attachment)
            db.add(email)
            emails.append(email)
    db.add(AuditEvent(session_id=session.id, actor=actor, action="exception.failure_act",
                      detail={"student": student.student_ref, "file": name, "emails": len(emails)}))
    db.flush()
    return emails
