"""What every client of an outside service shares: the count of remote calls and the one-line
description of an error.

It sits below the clients (Google, Moodle), the queue and the provisioning engine, so that each of
them can use it without depending on another.
"""

from __future__ import annotations

import threading
from collections import Counter

SERVICES = ("classroom", "forms", "drive", "sheets", "moodle")


class ApiCalls:
    """Thread-safe count of remote calls per service; every client's choke point increments it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, service: str, n: int = 1) -> None:
        with self._lock:
            self._counts[service] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            extra = sorted(set(self._counts) - set(SERVICES))
            return {s: self._counts.get(s, 0) for s in (*SERVICES, *extra)}


def describe_error(exc: BaseException) -> str:
    """A one-line description of an error for the secretary, never a traceback and never a secret."""
    text = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0][:500]
