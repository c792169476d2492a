"""Injected faults and Google's published per-minute, per-user quotas."""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .discovery import Method
from .errors import ApiError

# requests per minute per user (docs: forms/api/limits, classroom/reference/limits, sheets/api/limits,
# drive/api/guides/limits).  Drive's limit is in quota units; one request is counted as one unit of the
# long-standing 12,000 queries per 60 s per user.
USER_QUOTAS: dict[tuple[str, str], tuple[int, str]] = {
    ("forms", "read"): (390, "Read requests"),
    ("forms", "expensive"): (180, "Expensive read requests"),
    ("forms", "write"): (150, "Write requests"),
    ("classroom", "read"): (1200, "Requests"),
    ("classroom", "write"): (1200, "Requests"),
    ("sheets", "read"): (60, "Read requests"),
    ("sheets", "write"): (60, "Write requests"),
    ("drive", "read"): (12000, "Queries"),
    ("drive", "write"): (12000, "Queries"),
}

_READ_POSTS = {"sheets.spreadsheets.values.batchGet", "sheets.spreadsheets.getByDataFilter",
               "sheets.spreadsheets.values.batchGetByDataFilter"}


def quota_bucket(method: Method) -> str:
    if method.id == "forms.forms.responses.list":
        return "expensive"
    if method.http_method == "GET" or method.id in _READ_POSTS:
        return "read"
    return "write"


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    latency_ms: int = 0
    timeout_seconds: float = 60.0
    seed: int | None = None
    quotas: bool = True

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Faults:
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**data)


class Limiter:
    def __init__(self, faults: Faults, clock: Callable[[], float]) -> None:
        self.faults = faults
        self.clock = clock
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], deque[float]] = defaultdict(deque)

    def roll(self) -> str | None:
        """Decide this request's injected fault: "429", "500", "timeout" or None."""
        f = self.faults
        with self._lock:
            x = self._rng.random()
        if x < f.rate_429:
            return "429"
        if x < f.rate_429 + f.rate_500:
            return "500"
        if x < f.rate_429 + f.rate_500 + f.rate_timeout:
            return "timeout"
        return None

    def charge(self, method: Method, user: str) -> None:
        if not self.faults.quotas:
            return
        bucket = quota_bucket(method)
        limit, metric = USER_QUOTAS.get((method.api, bucket), (0, ""))
        if not limit:
            return
        now = self.clock()
        with self._lock:
            window = self._windows[(method.api, bucket, user)]
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limit:
                raise quota_error(method, metric, limit)
            window.append(now)


def quota_error(method: Method, metric: str, limit: int) -> ApiError:
    service = method.host if method.api != "drive" else "drive.googleapis.com"
    if method.api == "drive":
        # Drive reports a per-user breach as 403 userRateLimitExceeded (which clients retry like a 429).
        return ApiError(403, "User rate limit exceeded.", status="PERMISSION_DENIED",
                        reason="userRateLimitExceeded")
    message = (f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of service "
               f"'{service}' for consumer 'project_number:{_PROJECT_NUMBER}'.")
    return ApiError(429, message, reason="rateLimitExceeded", details=[{
        "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {"quota_limit_value": str(limit), "service": service, "quota_metric": metric}}])


_PROJECT_NUMBER = "100000000001"


def injected_429(method: Method) -> ApiError:
    return ApiError(429, "Resource has been exhausted (e.g. check quota).", reason="rateLimitExceeded")


def injected_500() -> ApiError:
    return ApiError(500, "Internal error encountered.", reason="backendError")
