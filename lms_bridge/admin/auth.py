"""Local accounts for the admin page: password hashing, sign-in, the login guard and its throttle.

A failed sign-in says the same thing whether the name is unknown, the account disabled or the
password wrong, and takes the same time (a dummy hash is checked for unknown names), so the page
cannot be used to find out who has an account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lms_bridge.store.models import User

MIN_PASSWORD_LENGTH = 8
USER_KEY = "uid"

F = TypeVar("F", bound=Callable[..., Any])

# Checked against when the username is unknown, so that both paths cost one scrypt.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class AccountError(ValueError):
    """A username or password that cannot be used; the message says what to change."""


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def normalise_username(username: str) -> str:
    return username.strip().lower()


def create_user(db: Session, username: str, password: str, *, display_name: str = "",
                language: str = "kk") -> User:
    """Add a local account (flushed, not committed: the caller owns the transaction)."""
    from lms_bridge.i18n import gettext

    name = normalise_username(username)
    if not name or len(name) > 120 or any(c.isspace() for c in name):
        raise AccountError(gettext("A username must be 1 to 120 characters without spaces."))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(gettext("A password must have at least %(num)s characters.",
                                   num=MIN_PASSWORD_LENGTH))
    if db.scalar(select(User).where(func.lower(User.username) == name)) is not None:
        raise AccountError(gettext("The user %(name)s already exists.", name=name))
    user = User(username=name, password_hash=hash_password(password), display_name=display_name or name,
                language=language if language in ("kk", "ru", "en") else "kk")
    db.add(user)
    db.flush()
    return user


def set_password(db: Session, username: str, password: str) -> User:
    from lms_bridge.i18n import gettext

    user = db.scalar(select(User).where(func.lower(User.username) == normalise_username(username)))
    if user is None:
        raise AccountError(gettext("There is no user %(name)s.", name=normalise_username(username)))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(gettext("A password must have at least %(num)s characters.",
                                   num=MIN_PASSWORD_LENGTH))
    user.password_hash = hash_password(password)
    db.flush()
    return user


def authenticate(db: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, or None (constant work either way)."""
    user = db.scalar(select(User).where(func.lower(User.username) == normalise_username(username)))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


@dataclass
class _Attempts:
    failures: int
    first_at: float
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failed sign-ins per username; after ``limit`` failures within ``window`` seconds the
    name is locked for ``lockout`` seconds.

    Kept in memory: one admin process serves the embedded default, and a restart clearing the
    counters is acceptable for a brake on password guessing (it is not the only defence: scrypt makes
    each guess slow too).
    """

    def __init__(self, limit: int = 5, window: float = 900.0, lockout: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.lockout, self.clock = limit, window, lockout, clock
        self._lock = threading.Lock()
        self._by_name: dict[str, _Attempts] = {}

    def locked(self, username: str) -> bool:
        key = normalise_username(username)
        with self._lock:
            entry = self._by_name.get(key)
            return entry is not None and entry.locked_until > self.clock()

    def failed(self, username: str) -> None:
        key, now = normalise_username(username), self.clock()
        with self._lock:
            entry = self._by_name.get(key)
            if entry is None or now - entry.first_at > self.window:
                entry = self._by_name[key] = _Attempts(failures=0, first_at=now)
            entry.failures += 1
            if entry.failures >= self.limit:
                entry.locked_until = now + self.lockout
            # Bound the memory an attacker can make us use with made-up names.
            if len(self._by_name) > 10_000:
                for name in [n for n, e in self._by_name.items() if e.locked_until <= now][:5_000]:
                    del self._by_name[name]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._by_name.pop(normalise_username(username), None)


def login_required(view: F) -> F:
    """Send anyone not signed in to the sign-in page (and back here afterwards)."""
    from flask import g, redirect, request, url_for

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            if request.path.endswith(".json"):
                return {"error": "sign-in required"}, 401
            return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)
