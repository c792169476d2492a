"""Behaviour every shared rate-limit storage must show; run on SQLite here and on PostgreSQL and Redis
by tests/production."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

from limits import RateLimitItemPerSecond
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def moving_window_counts_each_entry_for_its_window(make: Callable[[FakeClock], Storage]) -> None:
    clock = FakeClock()
    storage = make(clock)
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(3, 2)  # 3 per moving 2-second window
    for step in (0.0, 0.5, 1.0):
        clock.now += step and 0.5
        assert limiter.hit(item, "forms.write", "sec@uni.kz")
    clock.now += 0.5  # t = 1.5: three entries within (−0.5, 1.5]
    assert not limiter.hit(item, "forms.write", "sec@uni.kz")
    assert limiter.hit(item, "forms.write", "other@uni.kz")  # another user has its own window
    stats = limiter.get_window_stats(item, "forms.write", "sec@uni.kz")
    assert stats.remaining == 0
    assert stats.reset_time == 1_000_002.0  # the oldest entry (t = 0) leaves at t = 2
    clock.now = 1_000_002.0  # the t = 0 entry leaves the window exactly now
    assert limiter.hit(item, "forms.write", "sec@uni.kz")
    assert not limiter.hit(item, "forms.write", "sec@uni.kz")


def moving_window_counts_a_cost_as_that_many_entries(make: Callable[[FakeClock], Storage]) -> None:
    clock = FakeClock()
    limiter = MovingWindowRateLimiter(make(clock))
    item = RateLimitItemPerSecond(10, 2)
    assert limiter.hit(item, "drive", cost=7)
    assert not limiter.hit(item, "drive", cost=4)  # a 4-part batch does not fit the 3 left
    assert limiter.hit(item, "drive", cost=3)
    assert limiter.get_window_stats(item, "drive").remaining == 0
    assert not limiter.hit(item, "drive", cost=11)  # more than the quota can never pass
    clock.now += 2
    assert limiter.hit(item, "drive", cost=10)


def fixed_window_counts_until_expiry(make: Callable[[FakeClock], Storage]) -> None:
    clock = FakeClock()
    storage = make(clock)
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(2, 5)
    assert limiter.hit(item, "login", "10.0.0.1")
    clock.now += 4
    assert limiter.hit(item, "login", "10.0.0.1")
    assert not limiter.hit(item, "login", "10.0.0.1")
    assert limiter.get_window_stats(item, "login", "10.0.0.1").reset_time == 1_000_005.0
    clock.now += 1  # the window started at t = 0 ends at t = 5
    assert limiter.hit(item, "login", "10.0.0.1")
    limiter.clear(item, "login", "10.0.0.1")
    assert storage.get(item.key_for("login", "10.0.0.1")) == 0


def _take_slots(uri: str, key: str, attempts: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import lms_bridge.store.ratelimit  # noqa: F401 - registers the store+… schemes in this process

    storage = storage_from_string(uri)
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerSecond(25, 3600)
    out.put(sum(limiter.hit(item, key) for _ in range(attempts)))


def processes_never_share_out_more_than_the_limit(uri: str, key: str) -> None:
    """Four processes race for 25 slots of one window with 20 attempts each: exactly 25 are granted."""
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_take_slots, args=(uri, key, 20, out)) for _ in range(4)]
    for p in procs:
        p.start()
    granted = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sum(granted) == 25, granted
