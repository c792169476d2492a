"""Sign in with the university's Google account (OpenID Connect through Authlib), beside local accounts.

Authlib does the protocol: the discovery document, the authorization redirect with ``state``,
``nonce`` and PKCE, the code exchange, and the ID token's signature (the provider's JWKS), issuer,
audience, expiry and nonce.  What is left here is the university's rule: only accounts of its
domain(s) get in, checked twice, as Google advises (the ``hd`` claim, which only Google can set, and
the e-mail's own domain), with ``email_verified``.  The person's account is found (or made, without a
password and without site roles) by e-mail; their roles then come from the sessions that name them
(:mod:`lms_bridge.admin.policy`).

In sandbox mode the Google sandbox is the identity provider, with its public client; a live
configuration needs its own client (``google.signin_client_id``/``signin_client_secret``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lms_bridge.config import Settings
from lms_bridge.store.models import User

logger = logging.getLogger(__name__)

SCOPES = "openid email profile"
NO_PASSWORD = "!"  # noqa: S105 - the mark of an account without a password, not a password
_lock = threading.Lock()


@dataclass(frozen=True)
class SignInConfig:
    discovery_url: str
    client_id: str
    client_secret: str
    domains: tuple[str, ...]


def domains_of(settings: Settings) -> tuple[str, ...]:
    return tuple(d.strip().lower().lstrip("@") for d in settings.google.signin_domains.split(",") if d.strip())


def signin_config(settings: Settings) -> SignInConfig | None:
    """How to reach the identity provider, or None when Google sign-in is not set up (no domain,
    or a live Google without a sign-in client)."""
    domains = domains_of(settings)
    if not domains:
        return None
    if settings.google_live:
        secret = settings.google.signin_client_secret.reveal()
        if not settings.google.signin_client_id or not secret:
            return None
        return SignInConfig(settings.google.signin_discovery_url, settings.google.signin_client_id, secret, domains)
    if not settings.google_sandbox_trusted:
        return None
    from lms_bridge.backends import resolve_settings
    from lms_bridge.google.auth import SANDBOX_SIGNIN_CLIENT_ID, SANDBOX_SIGNIN_CLIENT_SECRET

    base = resolve_settings(settings).sandbox_url.rstrip("/")
    return SignInConfig(f"{base}/google/accounts.google.com/.well-known/openid-configuration",
                        SANDBOX_SIGNIN_CLIENT_ID, SANDBOX_SIGNIN_CLIENT_SECRET, domains)


def client(app: Any, config: SignInConfig) -> Any:
    """The app's Authlib client for Google (made once per app)."""
    from authlib.integrations.flask_client import OAuth

    with _lock:
        found = app.extensions.get("lms_bridge.google_signin")
        if found is None:
            oauth = OAuth(app)
            found = oauth.register(
                "google", client_id=config.client_id, client_secret=config.client_secret,
                server_metadata_url=config.discovery_url,
                # PKCE on top of the client secret; a timeout so a hung provider cannot hold a worker.
                client_kwargs={"scope": SCOPES, "code_challenge_method": "S256", "default_timeout": 15})
            app.extensions["lms_bridge.google_signin"] = found
        return found


class Refusal(Exception):
    """The Google account may not sign in here; the message says why, in plain words."""


def accepted_email(claims: dict[str, Any], domains: tuple[str, ...]) -> str:
    """The e-mail of a verified ID token's person when they belong to one of ``domains``; else
    :class:`Refusal`.  Both the ``hd`` claim and the address's domain must be one of them: ``hd`` alone
    is absent for consumer accounts, and the address alone can be any domain a Google account was
    registered with."""
    from flask_babel import gettext as _

    email = str(claims.get("email") or "").strip().lower()
    hosted = str(claims.get("hd") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        raise Refusal(_("Google did not confirm this account's e-mail address."))
    domain = email.rpartition("@")[2]
    if hosted not in domains or domain not in domains:
        raise Refusal(_("Only accounts of %(domains)s may sign in here; %(email)s is not one.",
                        domains=", ".join(domains), email=email))
    return email


def user_for_google(db: Session, email: str, name: str, language: str) -> User:
    """The account with this e-mail; a new one (no password, no site roles) on the first sign-in."""
    user = db.scalar(select(User).where(func.lower(User.email) == email).order_by(User.id).limit(1))
    if user is not None:
        return user
    taken = db.scalar(select(User.id).where(func.lower(User.username) == email))
    # "!" is no hash of anything: no password opens a Google account.
    user = User(username=email if taken is None else f"google:{email}"[:120], password_hash=NO_PASSWORD,
                email=email, display_name=(name or email)[:255], language=language, site_roles="", auth="google")
    db.add(user)
    db.flush()
    return user
