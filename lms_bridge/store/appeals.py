"""The appeal commission in the store: kept in step with the session file at every import."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.session import Member, Role, SessionSpec
from lms_bridge.store.models import AppealMember, ExamSession


def sync_appeal_commission(db: Session, session: ExamSession, spec: SessionSpec) -> None:
    """Make the stored appeal commission the file's.  A member the file no longer lists is kept
    inactive: ballots already cast name the member by e-mail."""
    current = {m.email: m for m in db.scalars(select(AppealMember).where(AppealMember.session_id == session.id))}
    wanted = {m.email for m in spec.appeal_commission}
    for position, m in enumerate(spec.appeal_commission):
        row = current.get(m.email)
        if row is None:
            db.add(AppealMember(session_id=session.id, position=position, name=m.name, email=m.email,
                                role=m.role.value, active=True))
        else:
            row.position, row.name, row.role, row.active = position, m.name, m.role.value, True
    for email, row in current.items():
        if email not in wanted:
            row.active = False
    db.flush()


def stored_appeal_commission(db: Session, session: ExamSession) -> tuple[Member, ...]:
    """The active appeal commission as stored, in the file's order (the administrative staff is
    only checked at import, not stored)."""
    return tuple(Member(name=m.name, email=m.email, role=Role(m.role)) for m in db.scalars(
        select(AppealMember).where(AppealMember.session_id == session.id, AppealMember.active.is_(True))
        .order_by(AppealMember.position)))
