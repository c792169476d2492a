"""Signed webhook delivery, as the companion plugin does it, from a background thread with retries.

Format: docs/moodle-webhooks.md (schema 1): ``POST webhook_url`` with a compact JSON body and the headers
``X-LmsBridge-Delivery`` (a uuid, the same on every retry), ``X-LmsBridge-Timestamp`` (unix seconds) and
``X-LmsBridge-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``.  A non-2xx answer
or a network error is retried with doubling delays, a bounded number of times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

logger = logging.getLogger(__name__)

DELIVERY_HEADER = "X-LmsBridge-Delivery"
TIMESTAMP_HEADER = "X-LmsBridge-Timestamp"
SIGNATURE_HEADER = "X-LmsBridge-Signature"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass
class Delivery:
    id: str
    event: str
    payload: dict[str, Any]
    attempts: int = 0
    status: str = "pending"  # pending|delivered|failed
    last_error: str = ""
    statuses: list[int] = field(default_factory=list)


class WebhookSender:
    """One daemon thread posting queued events; ``deliveries`` keeps what happened (tests read it)."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.2,
        timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.timeout = timeout
        self._sleep = sleep
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="moodle-sandbox-webhooks", daemon=True)
        self._thread.start()

    def send(self, event: str, payload: dict[str, Any]) -> Delivery:
        d = Delivery(id=str(uuid.uuid4()), event=event, payload=payload)
        with self._lock:
            self.deliveries.append(d)
        self._queue.put(d)
        return d

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(d.status != "pending" for d in self.deliveries):
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        http = requests.Session()
        while True:
            d = self._queue.get()
            if d is None:
                return
            self._deliver(http, d)

    def _deliver(self, http: requests.Session, d: Delivery) -> None:
        # Same delivery id and body on every retry, re-signed with a fresh timestamp (as the plugin's task).
        body = json.dumps(
            {**d.payload, "delivery_id": d.id}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        for attempt in range(self.max_attempts):
            d.attempts = attempt + 1
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "local_lmsbridge/sandbox Moodle/4.5 (Build: 20241007)",
                DELIVERY_HEADER: d.id,
                TIMESTAMP_HEADER: ts,
                SIGNATURE_HEADER: sign(self.secret, ts, body),
            }
            try:
                resp = http.post(self.url, data=body, headers=headers, timeout=self.timeout)
                d.statuses.append(resp.status_code)
                if 200 <= resp.status_code < 300:
                    d.status = "delivered"
                    return
                d.last_error = f"HTTP {resp.status_code}"
            except requests.RequestException as exc:
                d.last_error = type(exc).__name__
            if attempt + 1 < self.max_attempts:
                self._sleep(self.base_delay * 2**attempt)
        d.status = "failed"
        logger.warning(
            "sandbox webhook %s (%s) gave up after %d attempts: %s", d.id, d.event, d.attempts, d.last_error
        )
