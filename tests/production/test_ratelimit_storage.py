"""The shared rate-limit storage on PostgreSQL (the store) and Redis (the ``limits`` library's own)."""

from __future__ import annotations

import secrets

import pytest
from limits.storage import RedisStorage
from sqlalchemy import Engine

from lms_bridge.config import load_settings
from lms_bridge.store.ratelimit import StoreStorage, limits_storage, store_uri

pytestmark = pytest.mark.production

try:  # tests/ is not a package: the sibling area is importable by its own name
    from store import ratelimit_cases as cases
except ImportError:  # pragma: no cover - when tests/ becomes a package
    from tests.store import ratelimit_cases as cases  # type: ignore[no-redef]


def _pg_uri(pg_engine: Engine) -> str:
    return store_uri(pg_engine.url.render_as_string(hide_password=False))


def test_postgresql_moving_and_fixed_windows(pg_engine: Engine) -> None:
    def make(clock: cases.FakeClock) -> StoreStorage:
        return StoreStorage(_pg_uri(pg_engine), clock=clock)

    cases.moving_window_counts_each_entry_for_its_window(make)
    make(cases.FakeClock()).reset()
    cases.moving_window_counts_a_cost_as_that_many_entries(make)
    cases.fixed_window_counts_until_expiry(make)


def test_postgresql_processes_share_one_window(pg_engine: Engine) -> None:
    cases.processes_never_share_out_more_than_the_limit(_pg_uri(pg_engine), "forms.write/sec@uni.kz")


def test_redis_processes_share_one_window(redis_url: str) -> None:
    storage = limits_storage(load_settings({}, queue_url=redis_url))
    assert isinstance(storage, RedisStorage)
    key = f"forms.write/{secrets.token_hex(4)}@uni.kz"
    try:
        cases.processes_never_share_out_more_than_the_limit(redis_url, key)
    finally:
        storage.clear(f"LIMITER/{key}/25/3600/second")
        storage.clear(key)


def test_postgresql_store_is_the_storage_once_migrated(pg_engine: Engine) -> None:
    url = pg_engine.url.render_as_string(hide_password=False)
    storage = limits_storage(load_settings({}, database_url=url))
    assert isinstance(storage, StoreStorage)
    assert storage.url == url
    assert storage.acquire_entry("forms.write/sec@uni.kz", 1, 60)
    assert not storage.acquire_entry("forms.write/sec@uni.kz", 1, 60)
    storage.engine.dispose()
