"""Who may post to the webhooks: Pub/Sub push (OIDC) and the Moodle companion plugin (HMAC).

Both verifiers are plain functions/classes over bytes and headers, with the clock and the key
source injected, so they are tested without Flask and reused by the reconciliation job.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from google.auth import exceptions as gauth_exceptions
from google.auth import jwt as gjwt

from lms_bridge.backends import SANDBOX_WEBHOOK_SECRET
from lms_bridge.config import Settings

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
# Google's OIDC tokens are about a kilobyte; anything far longer is not one.
MAX_TOKEN_CHARS = 8192
# Unix seconds have 10 digits until the year 2286; a longer "timestamp" is not one (and a
# 400-digit one cannot even be compared with the clock as a float).
MAX_TIMESTAMP_DIGITS = 12
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
SANDBOX_CERTS_PATH = "/google/www.googleapis.com/oauth2/v1/certs"


class WebhookRejected(Exception):
    """A post that must not be accepted.  ``status`` is 401 (no or unverifiable credentials) or 403
    (credentials fine, but not ours: wrong audience, sender or a stale timestamp)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- Whom to trust -------------------------------------------------------------------------------

def pubsub_certs_url(settings: Settings) -> str | None:
    """Where the keys that may sign a push come from: Google's in live mode; the sandbox's only in
    sandbox mode (its key is no secret: anyone running the sandbox has it); otherwise none."""
    if settings.google_live:
        return GOOGLE_CERTS_URL
    if settings.google_sandbox_trusted and settings.sandbox_url:
        return settings.sandbox_url.rstrip("/") + SANDBOX_CERTS_PATH
    return None


def moodle_webhook_secret(settings: Settings) -> str:
    """The secret a companion-plugin post must be signed with, or "" when none may be trusted.

    The sandbox's secret is public (it is in this source code), so it opens the door only while
    Moodle is the sandbox in sandbox mode; outside it, even a configured secret equal to it is refused.
    """
    configured = settings.moodle.webhook_secret.reveal()
    if settings.moodle_sandbox_trusted:
        # Only a sandbox that is really serving (sandbox_url, filled in by the demo) posts to us.
        return configured or (SANDBOX_WEBHOOK_SECRET if settings.sandbox_url else "")
    if settings.moodle_sandbox or hmac.compare_digest(configured, SANDBOX_WEBHOOK_SECRET):
        return ""
    return configured


# -- Pub/Sub push: OIDC --------------------------------------------------------------------------

class CertCache:
    """Google-format signing certificates (``{kid: PEM}``) fetched over HTTPS and kept for their
    Cache-Control max-age, so a push does not cost a round trip to Google each time.  An unknown
    ``kid`` forces one refetch (keys rotate)."""

    def __init__(self, url: str, *, timeout: float = 10.0, default_ttl: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str, float], tuple[Mapping[str, str], float | None]] | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.default_ttl = default_ttl
        self._clock = clock
        self._fetch = fetch or _fetch_certs
        self._lock = threading.Lock()
        self._certs: Mapping[str, str] = {}
        self._expires = 0.0

    def get(self, kid: str | None = None) -> Mapping[str, str]:
        with self._lock:
            stale = self._clock() >= self._expires
            if stale or (kid is not None and kid not in self._certs):
                certs, ttl = self._fetch(self.url, self.timeout)
                self._certs = dict(certs)
                self._expires = self._clock() + (ttl if ttl is not None else self.default_ttl)
            return self._certs


def _fetch_certs(url: str, timeout: float) -> tuple[Mapping[str, str], float | None]:
    try:
        resp = requests.get(url, timeout=timeout)
        resp.raise_for_status()
        certs = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise WebhookRejected(401, f"signing keys unavailable ({type(exc).__name__})") from None
    ttl = None
    for part in resp.headers.get("Cache-Control", "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age" and value.isdigit():
            ttl = float(value)
    return certs, ttl


@dataclass(frozen=True)
class OidcPolicy:
    audience: str
    service_account_email: str
    issuers: tuple[str, ...] = GOOGLE_ISSUERS
    clock_skew_seconds: int = 10


def verify_oidc(authorization: str | None, policy: OidcPolicy, certs: CertCache) -> Mapping[str, Any]:
    """Check a push's ``Authorization: Bearer <JWT>``: signature, expiry, audience, issuer and the
    service account in ``email`` (an explicit audience is essential: google-auth skips the check
    when it is None)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise WebhookRejected(401, "missing bearer token")
    token = authorization.removeprefix("Bearer ").strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise WebhookRejected(401, "malformed token")
    try:
        header = gjwt.decode_header(token)
    # RecursionError: a header of JSON nested thousands deep, which the json module refuses so.
    except (ValueError, RecursionError, gauth_exceptions.GoogleAuthError):
        raise WebhookRejected(401, "malformed token") from None
    kid = header.get("kid") if isinstance(header, Mapping) else None
    try:
        claims = gjwt.decode(token, certs=dict(certs.get(kid)), audience=None,
                             clock_skew_in_seconds=policy.clock_skew_seconds)
    except (ValueError, RecursionError, gauth_exceptions.GoogleAuthError):
        raise WebhookRejected(401, "token signature or expiry invalid") from None
    if claims.get("aud") != policy.audience:
        raise WebhookRejected(403, "token audience is not this endpoint")
    if claims.get("iss") not in policy.issuers:
        raise WebhookRejected(403, "token issuer is not Google")
    if claims.get("email") != policy.service_account_email or claims.get("email_verified") is not True:
        raise WebhookRejected(403, "token was not issued to the push service account")
    return claims


# -- Moodle companion plugin: HMAC ---------------------------------------------------------------

DELIVERY_HEADER = "X-LmsBridge-Delivery"
TIMESTAMP_HEADER = "X-LmsBridge-Timestamp"
SIGNATURE_HEADER = "X-LmsBridge-Signature"


def sign_moodle(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value the plugin sends (docs/moodle-webhooks.md)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_moodle(headers: Mapping[str, str], body: bytes, secret: str, *, now: float | None = None,
                  window_seconds: int = 300) -> str:
    """Verify a plugin post and return its delivery id.

    The timestamp is inside the signed message and must be within ``window_seconds`` of our clock,
    so a captured post cannot be replayed later; duplicates inside the window are caught by the
    delivery id.
    """
    if not secret:
        raise WebhookRejected(403, "no Moodle webhook secret is configured")
    delivery = headers.get(DELIVERY_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    signature = headers.get(SIGNATURE_HEADER, "")
    if not (delivery and timestamp and signature):
        raise WebhookRejected(401, "missing signature headers")
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise WebhookRejected(401, "malformed timestamp")
    expected = sign_moodle(secret, timestamp, body)
    # Compared as bytes: compare_digest refuses str with non-ASCII characters (a header may hold any).
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise WebhookRejected(403, "signature mismatch")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > window_seconds:
        raise WebhookRejected(403, "timestamp outside the accepted window")
    return delivery
