"""Personal API tokens: made and revoked on the tokens page, each with one role and an expiry.

The token is shown once, when it is made; the store keeps only its SHA-256, so a copy of the table
opens nothing.  A token acts for its owner with at most its role (:class:`lms_bridge.admin.policy.Person`
``cap``): a member's token cannot seal even if its owner is also a secretary elsewhere.  A disabled
owner, a revoked or an expired token opens nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.domain.access import Role
from lms_bridge.store.models import ApiToken, User, utcnow

PREFIX = "lbt_"  # recognisable in a leaked log or a secret scanner
MAX_DAYS = 365


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(db: Session, user: User, *, role: Role, days: int, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user`` with ``role`` for ``days``; returns the row and the token (shown once)."""
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(user_id=user.id, name=name.strip()[:120], token_hash=_hash(token), role=role.value,
                   created_at=now, expires_at=now + timedelta(days=max(1, min(days, MAX_DAYS))))
    db.add(row)
    db.flush()
    return row, token


def user_for_api_token(db: Session, token: str) -> tuple[User, Role] | None:
    """The active owner of a live token and the token's role, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    row.last_used_at = now
    return user, Role(row.role)


def revoke_token(db: Session, user_id: int, token_id: int) -> bool:
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True


def tokens_of(db: Session, user_id: int) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                           .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))
