"""Typed Google API errors: every failure from Classroom, Forms, Drive or Sheets becomes one of these.

Callers branch on the class (``NotFound`` -> recreate a watch, ``AlreadyExists`` -> reuse the course)
instead of parsing status codes.  The errors are picklable because they cross the job queue, and they
never carry a token or a request body: only the status, Google's short reason and its message.
"""

from __future__ import annotations

import json
from typing import Any

# 403 reasons that mean "slow down", not "you may not" (facts §1; googleapiclient treats the first two
# alike).  Drive's "Resolve errors" guide lists sharingRateLimitExceeded with them: too many shares in
# a short time, to be retried with exponential backoff.
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "sharingRateLimitExceeded"})


class GoogleApiError(Exception):
    """A Google API call failed.  ``status`` is the HTTP status (0 = no response: timeout, reset)."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", service: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.service = service

    @property
    def retryable(self) -> bool:
        return should_retry(self.status, self.reason)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructor arguments are not restored by the default exception pickling.
        return (_rebuild, (type(self), self.message, self.status, self.reason, self.service))

    def __str__(self) -> str:
        where = f"{self.service}: " if self.service else ""
        code = f"HTTP {self.status}" if self.status else "no response"
        why = f" {self.reason}" if self.reason else ""
        return f"{where}{code}{why}: {self.message}"


def _rebuild(cls: type[GoogleApiError], message: str, status: int, reason: str,
             service: str) -> GoogleApiError:
    return cls(message, status=status, reason=reason, service=service)


class InvalidArgument(GoogleApiError):
    """400: the request is malformed or violates a precondition (fix the request, do not retry)."""


class Unauthenticated(GoogleApiError):
    """401: credentials are missing, expired or revoked."""


class PermissionDenied(GoogleApiError):
    """403 (not a rate limit): the acting user or the scope does not allow this."""


class NotFound(GoogleApiError):
    """404: the object does not exist (or is invisible to the caller)."""


class AlreadyExists(GoogleApiError):
    """409: the object exists already (a course alias taken, a student enrolled twice)."""


class Aborted(GoogleApiError):
    """409 ABORTED: a concurrency conflict (google.rpc.Code ABORTED, mapped to HTTP 409).  Not
    "already exists": nothing was made; the call may be tried again."""

    @property
    def retryable(self) -> bool:
        return True


class RateLimited(GoogleApiError):
    """429, or 403 rateLimitExceeded/userRateLimitExceeded: a quota was hit; retry later."""


class Unavailable(GoogleApiError):
    """5xx, a timeout or a dropped connection: Google could not answer now."""


def should_retry(status: int, reason: str = "") -> bool:
    """Whether a failed call may be retried: 429, 5xx, rate-limit 403, 409 ABORTED, and no-response
    (status 0)."""
    if status == 0 or status == 429 or 500 <= status <= 599:
        return True
    if status == 409:
        return reason.upper() == "ABORTED"
    return status == 403 and reason in RATE_LIMIT_REASONS


def parse_error_body(content: bytes | str | None) -> tuple[str, str]:
    """(reason, message) from Google's JSON error body; the reason is the most specific one given.

    Google answers ``{"error": {"code", "message", "status", "errors": [{"reason", "message"}]}}``;
    the per-error ``reason`` (``rateLimitExceeded``) is more specific than ``status``
    (``PERMISSION_DENIED``), so it wins when present.
    """
    if not content:
        return "", ""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        data = json.loads(text)
    except ValueError:
        return "", text.strip()[:300]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, str):  # OAuth token endpoint: {"error": "invalid_grant", "error_description": ...}
        return err, str(data.get("error_description", ""))[:300]
    if not isinstance(err, dict):
        return "", text.strip()[:300]
    message = str(err.get("message", ""))[:500]
    details = err.get("errors")
    if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("reason"):
        return str(details[0]["reason"]), message
    return str(err.get("status", "")), message


def _canonical_status(content: bytes | str | None) -> str:
    """The canonical status (``ABORTED``, ``ALREADY_EXISTS``…) of Google's error body, if any."""
    if not content:
        return ""
    try:
        data = json.loads(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    return str(err.get("status", "")) if isinstance(err, dict) else ""


def error_for(status: int, reason: str, message: str, service: str) -> GoogleApiError:
    """The typed error for an HTTP status and Google's reason."""
    cls: type[GoogleApiError]
    if status == 400:
        cls = InvalidArgument
    elif status == 401:
        cls = Unauthenticated
    elif status == 403:
        cls = RateLimited if reason in RATE_LIMIT_REASONS else PermissionDenied
    elif status == 404:
        cls = NotFound
    elif status == 409:
        # HTTP 409 carries two canonical codes: ALREADY_EXISTS and ABORTED (a concurrency conflict).
        cls = Aborted if reason.upper() == "ABORTED" else AlreadyExists
    elif status == 429:
        cls = RateLimited
    elif status == 0 or status >= 500:
        cls = Unavailable
    else:
        cls = GoogleApiError
    return cls(message or f"HTTP {status}", status=status, reason=reason, service=service)


def from_http(status: int, content: bytes | str | None, service: str) -> GoogleApiError:
    reason, message = parse_error_body(content)
    if status == 409 and _canonical_status(content) == "ABORTED":
        # Drive puts a legacy reason in errors[]; the canonical status is what tells ABORTED apart.
        reason = "ABORTED"
    return error_for(status, reason, message, service)
