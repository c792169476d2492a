"""The Google limiter: a moving window per user and quota bucket, shared by processes, never over the
quota; quota refusals waited out instead of failing the step."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpMockSequence

from lms_bridge.google import errors
from lms_bridge.google.classroom import ClassroomClient
from lms_bridge.google.sandbox.discovery import match
from lms_bridge.google.sandbox.errors import ApiError
from lms_bridge.google.sandbox.limits import Faults, Limiter
from lms_bridge.google.transport import Endpoints, GoogleLimiter, Transport
from lms_bridge.remote import ApiCalls
from lms_bridge.store.db import make_engine
from lms_bridge.store.ratelimit import StoreStorage, store_uri
from lms_bridge.store.schema import ensure_schema


class SleepClock:
    """A clock that moves only when someone sleeps."""

    def __init__(self, now: float = 2_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    return url


def _in_any_window(times: list[float], window: float) -> int:
    """The most entries any window (t - window, t] holds."""
    return max(sum(1 for u in times if t - window < u <= t) for t in times)


def test_never_over_the_quota_in_any_window_and_waits_for_room(store_url: str) -> None:
    clock = SleepClock()
    storage = StoreStorage(store_uri(store_url), clock=clock)
    limiter = GoogleLimiter(storage, user="sec@uni.kz", quotas={"forms.write": 10}, guard_seconds=0,
                            clock=clock, sleep=clock.sleep)
    start = clock.now
    granted = []
    for _ in range(35):
        limiter.acquire("forms.write")
        granted.append(clock.now - start)
    # The first window's ten go at once (no more: a full bucket would have let 20 through), then each
    # next one goes when the oldest leaves the window.
    assert granted[:10] == [0.0] * 10
    assert granted[10] == pytest.approx(60.0)
    assert _in_any_window(granted, 60.0) == 10
    assert granted[-1] == pytest.approx(180.0)
    # A batch takes one entry per part: 4 parts when 5 are free go at once, 6 more must wait.
    clock.now += 61
    assert limiter.acquire("forms.write", 4) == 0.0
    assert limiter.acquire("forms.write", 6) == 0.0
    assert limiter.acquire("forms.write", 1) == pytest.approx(60.0)
    # Another user, and a bucket with no quota, are not held back.
    assert limiter.for_user("other@uni.kz").acquire("forms.write", 10) == 0.0
    assert limiter.acquire("unknown", 1000) == 0.0


def _send(uri: str, user: str, count: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from limits.storage import storage_from_string

    import lms_bridge.store.ratelimit  # noqa: F401 - registers the store+… schemes in this process

    limiter = GoogleLimiter(storage_from_string(uri), user=user, quotas={"forms.write": 10},
                            window_seconds=2, guard_seconds=1)
    sent = []
    for _ in range(count):
        limiter.acquire("forms.write")
        sent.append(time.time())  # the moment the request would leave
    out.put(sent)


def test_two_processes_never_go_over_googles_window_together(store_url: str) -> None:
    """Two workers acting as one user, each sending 12 Forms writes with a 10-per-2-s quota: judged by
    the sandbox's model of Google's counting, not one is refused."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_send, args=(store_uri(store_url), "sec@uni.kz", 12, out)) for _ in range(2)]
    for p in procs:
        p.start()
    sent = sorted(t for _ in procs for t in out.get(timeout=120))
    for p in procs:
        p.join(timeout=60)
    assert len(sent) == 24
    now = [0.0]
    google = Limiter(Faults(quota_window_seconds=2, quota_limits={"forms.write": 10}), lambda: now[0])
    create, _ = match("forms.googleapis.com", "POST", "v1/forms")
    for at in sent:
        now[0] = at
        try:
            google.charge(create, "sec@uni.kz")
        except ApiError:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"{_in_any_window(sent, 2.0)} writes within 2 s; Google would refuse")
    assert google.refusals == 0


def _quota_429(retry_after: str | None = None) -> tuple[dict[str, str], str]:
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                      "message": "Quota exceeded for quota metric 'Requests' and limit 'Requests per minute "
                                 "per user' of service 'classroom.googleapis.com'",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                   "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com"}]}}
    head = {"status": "429"}
    if retry_after:
        head["retry-after"] = retry_after
    return head, json.dumps(body)


def _transport(answers: list, clock: SleepClock, *, quota_wait: float = 300.0) -> tuple[Transport, ApiCalls]:
    http = HttpMockSequence(answers)
    calls = ApiCalls()
    t = Transport(lambda s: Credentials(token="t"), endpoints=Endpoints("http://127.0.0.1:9"), api_calls=calls,
                  max_retries=2, quota_wait_seconds=quota_wait, sleep=clock.sleep, clock=clock,
                  rand=lambda: 1.0, http_factory=lambda: http)
    return t, calls


def test_a_quota_refusal_is_waited_out_not_a_failed_step() -> None:
    clock = SleepClock()
    ok = ({"status": "200"}, json.dumps({"id": "c1"}))
    # Seven refusals in a row: more than max_retries (2), fewer seconds than the quota budget.
    t, calls = _transport([_quota_429()] * 7 + [ok], clock)
    assert ClassroomClient(t).get_course("p:S1") == {"id": "c1"}
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0]
    assert calls.snapshot()["classroom"] == 8
    # Google's Retry-After is the wait when given.
    clock = SleepClock()
    t, _ = _transport([_quota_429("17"), ok], clock)
    assert ClassroomClient(t).get_course("p:S1") == {"id": "c1"}
    assert clock.sleeps == [17.0]


def test_waiting_for_quota_is_bounded_by_the_setting() -> None:
    clock = SleepClock()
    t, _ = _transport([_quota_429()] * 20, clock, quota_wait=60.0)
    with pytest.raises(errors.RateLimited):
        ClassroomClient(t).get_course("p:S1")
    assert sum(clock.sleeps) <= 60.0
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 16.0]  # the next 32 s would pass the 60 s bound
