"""Local accounts for the admin page: password hashing, sign-in records, the login guard and the
throttle on failed sign-ins.

A failed sign-in says the same thing whether the name is unknown, the account disabled or the
password wrong, and takes the same time (a dummy hash is checked for unknown names), so the page
cannot be used to find out who has an account.

Signing in records the browser in the store (:class:`~lms_bridge.store.models.SignIn`); the cookie
only carries a random token for it, so signing out really ends the session.  Failed sign-ins are
throttled per client address, per name and for the whole site with Flask-Limiter, counters kept where
every process sees them: an attacker is slowed down, the owner is never locked out from elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from lms_bridge.config import Settings
from lms_bridge.store.models import SignIn, User, utcnow
from lms_bridge.store.ratelimit import shared_storage_uri

if TYPE_CHECKING:
    from flask import Flask
    from flask_limiter import Limiter

MIN_PASSWORD_LENGTH = 8
# The session-cookie key holding the sign-in token (see start_sign_in).
SIGN_IN_KEY = "sid"

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
                language: str = "kk", email: str = "", site_roles: str = "administrator") -> User:
    """Add a local account (flushed, not committed: the caller owns the transaction).

    Local accounts are the embedded default's and break-glass administration's, so they are
    administrators unless ``site_roles`` says otherwise ("importer", or "" for none: the person then
    has only the roles their ``email`` gives them in sessions)."""
    from lms_bridge.domain.access import parse_site_roles
    from lms_bridge.i18n import gettext

    name = normalise_username(username)
    if not name or len(name) > 120 or any(c.isspace() for c in name):
        raise AccountError(gettext("A username must be 1 to 120 characters without spaces."))
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(gettext("A password must have at least %(num)s characters.",
                                   num=MIN_PASSWORD_LENGTH))
    if db.scalar(select(User).where(func.lower(User.username) == name)) is not None:
        raise AccountError(gettext("The user %(name)s already exists.", name=name))
    address = email.strip().lower()
    if address and ("@" not in address or len(address) > 254 or any(c.isspace() for c in address)):
        raise AccountError(gettext("%(value)s is not a valid email address.", value=address))
    roles = parse_site_roles(site_roles)
    user = User(username=name, password_hash=hash_password(password), display_name=display_name or name,
                language=language if language in ("kk", "ru", "en") else "kk", email=address,
                site_roles=",".join(sorted(r.value for r in roles)))
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
    # Whoever holds a cookie from before the change (perhaps the person the change is meant to shut
    # out) is signed out.
    end_all_sign_ins(db, user.id)
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


# -- signed-in browsers, kept in the store ---------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_sign_in(db: Session, user: User, lifetime: timedelta) -> str:
    """Record a new signed-in browser for ``user``; returns the token its cookie carries."""
    now = utcnow()
    # Expired records of this user go now: the table stays as small as the number of live browsers.
    db.execute(delete(SignIn).where(SignIn.user_id == user.id, SignIn.expires_at <= now))
    token = secrets.token_urlsafe(32)
    db.add(SignIn(token_hash=_token_hash(token), user_id=user.id, created_at=now, expires_at=now + lifetime))
    db.flush()
    return token


def user_for_token(db: Session, token: str) -> User | None:
    """The active user signed in with this token, or None (signed out, expired, password changed,
    account disabled)."""
    if not token or len(token) > 100:
        return None
    return db.scalar(select(User).join(SignIn, SignIn.user_id == User.id)
                     .where(SignIn.token_hash == _token_hash(token), SignIn.expires_at > utcnow(),
                            User.is_active.is_(True)))


def end_sign_in(db: Session, token: str) -> None:
    """Sign this browser out: its token opens nothing afterwards, wherever the cookie was copied to."""
    if token:
        db.execute(delete(SignIn).where(SignIn.token_hash == _token_hash(token)))


def end_all_sign_ins(db: Session, user_id: int) -> None:
    db.execute(delete(SignIn).where(SignIn.user_id == user_id))


# -- throttling failed sign-ins (Flask-Limiter) ----------------------------------------------------

def throttle_storage(settings: Settings) -> str:
    """Where failed sign-ins are counted, as a ``limits`` storage URI, so that every process (web
    workers, a second server) sees the same counters: the queue's Redis when there is one, else the
    store (:func:`lms_bridge.store.ratelimit.shared_storage_uri`)."""
    return shared_storage_uri(settings)[0]


def _client_address() -> str:
    from flask import request

    # remote_addr is the connection's peer, or what ProxyFix took from the trusted proxies only.
    return "address:" + (request.remote_addr or "unknown")


def _name_key() -> str:
    from flask import current_app, request

    # Keyed by a MAC of the name, not the name: what people type there is sometimes their password,
    # and the counters may live in a shared Redis.
    name = normalise_username(request.form.get("username", ""))[:200]
    mac = hmac.new(str(current_app.secret_key).encode(), name.encode(), hashlib.sha256).hexdigest()
    return "name:" + mac[:32]


def _site_key() -> str:
    return "site"


def _failed(response: Any) -> bool:
    # Only a rejected name/password costs budget: a successful sign-in (302) and a half-filled form
    # (400) do not.
    return bool(response.status_code == 401)


def install_sign_in_throttle(app: Flask, settings: Settings, endpoint: str = "admin.login") -> Limiter:
    """Put the sign-in limits on ``endpoint``'s POST: per client address, per name and for the whole
    site, counting failures only.  A breach answers 429 with Retry-After; nothing is locked."""
    from flask_limiter import Limiter

    uri, options = shared_storage_uri(settings)
    limiter = Limiter(key_func=_client_address, app=app, storage_uri=uri, storage_options=options,
                      strategy="fixed-window", key_prefix="lms_bridge:sign-in", headers_enabled=True,
                      # The store of counters being away must not keep the secretary out on exam day;
                      # each guess still costs an scrypt.
                      swallow_errors=True)
    view: Callable[..., Any] = app.view_functions[endpoint]
    for key_func, value, scope in ((_client_address, settings.signin.per_address, "address"),
                                   (_name_key, settings.signin.per_name, "name"),
                                   (_site_key, settings.signin.overall, "site")):
        view = limiter.limit(value, key_func=key_func, methods=["POST"], deduct_when=_failed,
                             scope=f"sign-in-{scope}")(view)
    # Counted before the password check, success or not: bounds attempts sent in parallel, which the
    # failure limits (deducted after the check) cannot see coming.
    view = limiter.limit(settings.signin.attempts_per_address, key_func=_client_address, methods=["POST"],
                         scope="sign-in-attempts")(view)
    app.view_functions[endpoint] = view
    return limiter


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
