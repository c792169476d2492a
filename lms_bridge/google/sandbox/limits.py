"""Injected faults and Google's published per-user quotas, counted as Google counts them.

Sources (requests per minute per user per project):

* Forms — 150 write, 390 read and 180 "expensive read" (``responses.list``) requests:
  https://developers.google.com/workspace/forms/api/limits.  The page lists expensive reads beside
  reads without saying whether one also counts as the other; the sandbox takes the stricter
  reading and charges ``responses.list`` to both.
* Classroom — 1,200 requests, one count for reads and writes alike, "calculated as a moving average
  of 60 seconds": https://developers.google.com/workspace/classroom/reference/limits.
* Sheets — 60 read and 60 write requests: https://developers.google.com/workspace/sheets/api/limits.
* Drive — 12,000 queries per 60 seconds (projects from before May 2026; newer ones count 325,000
  quota units with no published per-method cost), reads and writes together; a breach is 403
  ``userRateLimitExceeded``: https://developers.google.com/workspace/drive/api/guides/limits and
  https://developers.google.com/workspace/drive/api/guides/handle-errors.

Every quota is a moving window per user (the principal the token acts as): a request is refused
when the window of the last 60 seconds already holds the limit.  Each part of an HTTP batch is
charged for its service, as a single request would be ("a set of n requests batched together
counts toward your usage limit as n requests": https://developers.google.com/workspace/classroom/
guides/batch; https://developers.google.com/workspace/drive/api/guides/performance#batch-requests).
A refused request is not charged.

The refusal is Google's ``429 RESOURCE_EXHAUSTED`` with a ``google.rpc.ErrorInfo`` whose reason is
``RATE_LIMIT_EXCEEDED`` (https://cloud.google.com/apis/design/errors, "Error details" and the
quota example there), and the message Google writes ("Quota exceeded for quota metric 'Write
requests' and limit 'Write requests per minute per user' of service 'sheets.googleapis.com' for
consumer 'project_number:…'", as reported verbatim in public issue threads, e.g.
github.com/AutomaApp/automa/issues/1342).  Sheets, Forms and Classroom error bodies carry no legacy
``errors[]``; Google sends no ``Retry-After`` with them, so clients must work out the wait themselves.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .discovery import Method
from .errors import ApiError

# (api, bucket) -> (requests per window per user, Google's metric name, its quota limit id)
USER_QUOTAS: dict[tuple[str, str], tuple[int, str, str]] = {
    ("forms", "read"): (390, "Read requests", "ReadRequestsPerMinutePerUser"),
    ("forms", "expensive"): (180, "Expensive read requests", "ExpensiveReadRequestsPerMinutePerUser"),
    ("forms", "write"): (150, "Write requests", "WriteRequestsPerMinutePerUser"),
    ("classroom", "requests"): (1200, "Requests", "RequestsPerMinutePerUser"),
    ("sheets", "read"): (60, "Read requests", "ReadRequestsPerMinutePerUser"),
    ("sheets", "write"): (60, "Write requests", "WriteRequestsPerMinutePerUser"),
    ("drive", "queries"): (12000, "Queries", "QueriesPerMinutePerUser"),
}

_READ_POSTS = {"sheets.spreadsheets.values.batchGet", "sheets.spreadsheets.getByDataFilter",
               "sheets.spreadsheets.values.batchGetByDataFilter"}


def quota_buckets(method: Method) -> tuple[str, ...]:
    """The quota buckets one request of ``method`` is charged to (see the module docstring)."""
    if method.api == "classroom":
        return ("requests",)
    if method.api == "drive":
        return ("queries",)
    if method.id == "forms.forms.responses.list":
        return ("expensive", "read")
    if method.http_method == "GET" or method.id in _READ_POSTS:
        return ("read",)
    return ("write",)


def quota_bucket(method: Method) -> str:
    return quota_buckets(method)[0]


@dataclass
class Faults:
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    latency_ms: int = 0
    timeout_seconds: float = 60.0
    seed: int | None = None
    quotas: bool = True
    # Tests shrink Google's 60-second window and quotas (e.g. 2 s and {"forms.write": 10}) to see the
    # same counting in seconds.
    quota_window_seconds: float = 60.0
    quota_limits: dict[str, int] | None = None

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
        self.refusals = 0  # quota refusals so far (benchmarks and tests read it)

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

    def limit(self, api: str, bucket: str) -> int:
        overrides = self.faults.quota_limits or {}
        if f"{api}.{bucket}" in overrides:
            return int(overrides[f"{api}.{bucket}"])
        return USER_QUOTAS.get((api, bucket), (0, "", ""))[0]

    def charge(self, method: Method, user: str) -> None:
        """Count one request of ``user`` in each of its buckets, or refuse it when one window is full.

        All buckets are checked before any is charged: a refused request counts nowhere.
        """
        if not self.faults.quotas:
            return
        now = self.clock()
        span = self.faults.quota_window_seconds
        with self._lock:
            windows = []
            for bucket in quota_buckets(method):
                limit = self.limit(method.api, bucket)
                if not limit:
                    continue
                window = self._windows[(method.api, bucket, user)]
                while window and window[0] <= now - span:
                    window.popleft()
                if len(window) >= limit:
                    self.refusals += 1
                    raise quota_error(method, bucket, limit)
                windows.append(window)
            for window in windows:
                window.append(now)


def quota_error(method: Method, bucket: str, limit: int) -> ApiError:
    """Google's refusal of a request over a per-user quota (sources in the module docstring)."""
    _limit, metric, limit_id = USER_QUOTAS.get((method.api, bucket), (limit, "Requests", "RequestsPerMinutePerUser"))
    service = method.host if method.api != "drive" else "drive.googleapis.com"
    if method.api == "drive":
        # Drive reports a per-user breach as 403 userRateLimitExceeded (which clients retry like a 429).
        return ApiError(403, "User rate limit exceeded.", status="PERMISSION_DENIED",
                        reason="userRateLimitExceeded")
    message = (f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of service "
               f"'{service}' for consumer 'project_number:{_PROJECT_NUMBER}'.")
    return QuotaExceeded(message, details=[
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
         "domain": "googleapis.com",
         "metadata": {"service": service, "consumer": f"projects/{_PROJECT_NUMBER}",
                      "quota_metric": f"{service}/{metric.lower().replace(' ', '_')}",
                      "quota_limit": limit_id, "quota_limit_value": str(limit), "quota_location": "global"}},
        {"@type": "type.googleapis.com/google.rpc.Help",
         "links": [{"description": "Request a higher quota limit.",
                    "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])


class QuotaExceeded(ApiError):
    """429 RESOURCE_EXHAUSTED as Sheets, Forms and Classroom send it: no legacy ``errors[]``."""

    def __init__(self, message: str, *, details: list[dict[str, Any]]) -> None:
        super().__init__(429, message, status="RESOURCE_EXHAUSTED", details=details)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status,
                          "details": self.details}}


_PROJECT_NUMBER = "100000000001"


def injected_429(method: Method) -> ApiError:
    return ApiError(429, "Resource has been exhausted (e.g. check quota).", reason="rateLimitExceeded")


def injected_500() -> ApiError:
    return ApiError(500, "Internal error encountered.", reason="backendError")
