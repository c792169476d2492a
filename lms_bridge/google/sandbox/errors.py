"""Google-shaped error responses.

Google's JSON APIs answer failures with ``{"error": {"code", "message", "status", "errors": [...]}}``;
the client libraries (googleapiclient's ``HttpError``, gspread's ``APIError``) read exactly these keys,
so the sandbox builds every failure through :class:`ApiError`.
"""

from __future__ import annotations

from typing import Any

# HTTP status -> (canonical gRPC status, legacy "errors[].reason")
_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "badRequest"),
    401: ("UNAUTHENTICATED", "authError"),
    403: ("PERMISSION_DENIED", "forbidden"),
    404: ("NOT_FOUND", "notFound"),
    409: ("ALREADY_EXISTS", "duplicate"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    500: ("INTERNAL", "backendError"),
    501: ("UNIMPLEMENTED", "notImplemented"),
    503: ("UNAVAILABLE", "backendError"),
    504: ("DEADLINE_EXCEEDED", "backendError"),
}


class ApiError(Exception):
    """A failure answered to the client with Google's error body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        default_status, default_reason = _STATUS.get(code, ("UNKNOWN", "unknown"))
        self.code = code
        self.message = message
        self.status = status or default_status
        self.reason = reason or default_reason
        self.location = location
        self.details = details or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "domain": "global", "reason": self.reason}
        if self.location:
            err["location"] = self.location
            err["locationType"] = "parameter"
        body: dict[str, Any] = {"code": self.code, "message": self.message, "errors": [err], "status": self.status}
        if self.details:
            body["details"] = self.details
        return {"error": body}


def bad_request(message: str, *, field: str | None = None, location: str | None = None) -> ApiError:
    details = []
    if field is not None:
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": field, "description": message}]}]
    return ApiError(400, message, location=location, details=details)


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    return ApiError(404, message)


def already_exists(message: str = "Requested entity already exists") -> ApiError:
    return ApiError(409, message)


def permission_denied(message: str = "The caller does not have permission") -> ApiError:
    return ApiError(403, message)


def failed_precondition(message: str) -> ApiError:
    return ApiError(400, message, status="FAILED_PRECONDITION", reason="failedPrecondition")
