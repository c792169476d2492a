"""The store as a ``limits`` storage on SQLite (PostgreSQL and Redis: tests/production)."""

from __future__ import annotations

from pathlib import Path

import pytest
from limits.storage import RedisStorage, storage_from_string
from sqlalchemy import text

from lms_bridge.config import load_settings
from lms_bridge.store.db import make_engine
from lms_bridge.store.ratelimit import StoreStorage, limits_storage, store_uri
from lms_bridge.store.schema import ensure_schema

from . import ratelimit_cases as cases


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    return url


def _maker(url: str):  # type: ignore[no-untyped-def]
    return lambda clock: storage_from_string(store_uri(url), clock=clock)


def test_moving_window_on_sqlite(sqlite_url: str) -> None:
    cases.moving_window_counts_each_entry_for_its_window(_maker(sqlite_url))


def test_batch_cost_on_sqlite(sqlite_url: str) -> None:
    cases.moving_window_counts_a_cost_as_that_many_entries(_maker(sqlite_url))


def test_fixed_window_on_sqlite(sqlite_url: str) -> None:
    cases.fixed_window_counts_until_expiry(_maker(sqlite_url))


def test_processes_share_one_window_on_sqlite(sqlite_url: str) -> None:
    cases.processes_never_share_out_more_than_the_limit(store_uri(sqlite_url), "forms.write/sec@uni.kz")


def test_the_factory_picks_redis_or_a_sqlite_file_of_its_own(tmp_path: Path) -> None:
    on_sqlite = limits_storage(load_settings({}, data_dir=str(tmp_path)))
    assert isinstance(on_sqlite, StoreStorage)
    # Not the store's file: a job calling Google inside a store transaction must not wait on itself.
    assert on_sqlite.url == f"sqlite:///{tmp_path / 'ratelimits.sqlite3'}"
    assert on_sqlite.acquire_entry("forms.write/sec@uni.kz", 1, 60)
    again = limits_storage(load_settings({}, data_dir=str(tmp_path)))  # tables already there
    assert not again.acquire_entry("forms.write/sec@uni.kz", 1, 60)
    on_redis = limits_storage(load_settings({}, data_dir=str(tmp_path), queue_url="redis://127.0.0.1:1/7"))
    assert isinstance(on_redis, RedisStorage)  # built lazily: no connection is made here


def test_a_store_write_transaction_does_not_hold_up_the_limiter(tmp_path: Path) -> None:
    settings = load_settings({}, data_dir=str(tmp_path))
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    try:
        with engine.begin() as conn:  # a job mid-transaction, holding the store's write lock
            conn.execute(text("INSERT INTO users (username, password_hash, display_name, language, "
                              "is_active, created_at) VALUES ('u', 'x', '', 'kk', 1, '2026-12-01')"))
            assert limits_storage(settings).acquire_entry("forms.write/sec@uni.kz", 10, 60)
    finally:
        engine.dispose()


def test_expired_entries_are_deleted(sqlite_url: str) -> None:
    clock = cases.FakeClock()
    storage = storage_from_string(store_uri(sqlite_url), clock=clock)
    for _ in range(5):
        assert storage.acquire_entry("k", 100, 10)
    clock.now += 11
    assert storage.acquire_entry("k", 100, 10)
    with storage.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM rate_limit_entries")).scalar_one() == 1
