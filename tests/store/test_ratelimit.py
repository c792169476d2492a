"""The store as a ``limits`` storage on SQLite (PostgreSQL and Redis: tests/production)."""

from __future__ import annotations

from pathlib import Path

import pytest
from limits.storage import MemoryStorage, RedisStorage, storage_from_string

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


def test_the_factory_picks_redis_or_the_store(tmp_path: Path) -> None:
    # A store not yet migrated: counted in this process, and no database file is created.
    assert isinstance(limits_storage(load_settings({}, data_dir=str(tmp_path))), MemoryStorage)
    assert not (tmp_path / "lms_bridge.sqlite3").exists()
    url = f"sqlite:///{tmp_path / 'lms_bridge.sqlite3'}"
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    on_store = limits_storage(load_settings({}, data_dir=str(tmp_path)))
    assert isinstance(on_store, StoreStorage)
    assert on_store.url == f"sqlite:///{tmp_path / 'lms_bridge.sqlite3'}"
    on_redis = limits_storage(load_settings({}, data_dir=str(tmp_path), queue_url="redis://127.0.0.1:1/7"))
    assert isinstance(on_redis, RedisStorage)  # built lazily: no connection is made here


def test_expired_entries_are_deleted(sqlite_url: str) -> None:
    clock = cases.FakeClock()
    storage = storage_from_string(store_uri(sqlite_url), clock=clock)
    for _ in range(5):
        assert storage.acquire_entry("k", 100, 10)
    clock.now += 11
    assert storage.acquire_entry("k", 100, 10)
    with storage.engine.connect() as conn:
        from sqlalchemy import text
        assert conn.execute(text("SELECT count(*) FROM rate_limit_entries")).scalar_one() == 1
