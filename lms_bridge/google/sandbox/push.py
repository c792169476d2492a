"""Pub/Sub push delivery: at-least-once, OIDC-authenticated, retried with backoff on non-2xx."""

from __future__ import annotations

import base64
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from .common import rfc3339

log = logging.getLogger(__name__)

ACK_STATUSES = {102, 200, 201, 202, 204}


@dataclass
class Message:
    topic: str
    data: bytes
    attributes: dict[str, str]
    publish_time: float = 0.0
    message_id: str = field(default_factory=lambda: str(secrets.randbelow(10**16) + 10**15))
    attempts: int = 0


def subscription_for(topic: str) -> str:
    # projects/P/topics/T -> projects/P/subscriptions/T-push
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "topics":
        return f"projects/{parts[1]}/subscriptions/{parts[3]}-push"
    return "projects/lms-bridge-sandbox/subscriptions/sandbox-push"


class Pusher:
    def __init__(self, endpoint: str | None, sign: Callable[[str], str], clock: Callable[[], float], *,
                 audience: str | None = None, max_attempts: int = 8, first_backoff: float = 0.2,
                 max_backoff: float = 10.0, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.audience = audience or endpoint
        self.sign = sign
        self.clock = clock
        self.max_attempts = max_attempts
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.delivered: list[dict[str, Any]] = []  # for /_actor/state: what reached the endpoint
        self._queue: queue.Queue[tuple[float, Message] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._session = requests.Session()

    def publish(self, msg: Message) -> None:
        if not self.endpoint:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sandbox-pubsub-push", daemon=True)
                self._thread.start()
        self._queue.put((time.monotonic(), msg))

    def pending(self) -> int:
        return self._queue.qsize()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)

    def body(self, msg: Message) -> dict[str, Any]:
        publish_time = rfc3339(msg.publish_time or self.clock())
        return {"message": {"data": base64.b64encode(msg.data).decode(), "attributes": msg.attributes,
                            "messageId": msg.message_id, "message_id": msg.message_id,
                            "publishTime": publish_time, "publish_time": publish_time},
                "subscription": subscription_for(msg.topic)}

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            due, msg = item
            delay = due - time.monotonic()
            if delay > 0:
                # Not due yet: requeue behind others rather than block them.
                time.sleep(min(delay, 0.05))
                self._queue.put((due, msg))
                continue
            self._deliver(msg)

    def _deliver(self, msg: Message) -> None:
        assert self.endpoint is not None
        assert self.audience is not None
        msg.attempts += 1
        token = self.sign(self.audience)
        try:
            resp = self._session.post(self.endpoint, data=json.dumps(self.body(msg)), timeout=self.timeout,
                                      headers={"Content-Type": "application/json",
                                               "Authorization": f"Bearer {token}",
                                               "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"})
            ok = resp.status_code in ACK_STATUSES
            status: int | str = resp.status_code
        except requests.RequestException as exc:
            ok, status = False, type(exc).__name__
        self.delivered.append({"messageId": msg.message_id, "attributes": msg.attributes, "attempt": msg.attempts,
                               "status": status})
        del self.delivered[:-200]
        if ok:
            return
        if msg.attempts >= self.max_attempts:
            log.warning("push %s dropped after %d attempts (last: %s)", msg.message_id, msg.attempts, status)
            return
        backoff = min(self.max_backoff, self.first_backoff * 2 ** (msg.attempts - 1))
        self._queue.put((time.monotonic() + backoff, msg))
