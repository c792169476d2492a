"""The sign-in throttle's counters on the production tier: in Redis when the queue is on Redis, in
the PostgreSQL store otherwise; either way two apps (two processes of one deployment) share them."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select

from lms_bridge.admin.auth import create_user
from lms_bridge.app import create_app, state
from lms_bridge.config import Settings, load_settings
from lms_bridge.store.db import transaction
from lms_bridge.store.models import RateLimitCounter

pytestmark = pytest.mark.production

PASSWORD = "correct horse battery"
WRONG = "not the password"


def _two_apps(settings: Settings, username: str) -> tuple[Flask, Flask]:
    first, second = create_app(settings, testing=True), create_app(settings, testing=True)
    for application in (first, second):
        application.config["WTF_CSRF_ENABLED"] = False
    with transaction(state(first).sessionmaker) as db:
        create_user(db, username, PASSWORD)
    return first, second


def _attempt(app: Flask, address: str, username: str, password: str = WRONG) -> int:
    return app.test_client().post("/login", data={"username": username, "password": password},
                                  environ_base={"REMOTE_ADDR": address}).status_code


def _fresh_address() -> str:
    # Counters outlive a test run in Redis (until their window ends): a new address and name each run.
    return "10." + ".".join(str(secrets.randbelow(250) + 1) for _ in range(3))


def _shared_throttle(first: Flask, second: Flask, username: str) -> None:
    attacker, owner = _fresh_address(), _fresh_address()
    assert [_attempt(first, attacker, username) for _ in range(3)] == [401] * 3
    assert [_attempt(second, attacker, username) for _ in range(2)] == [401] * 2
    assert _attempt(first, attacker, username) == 429
    assert _attempt(second, attacker, username) == 429
    assert _attempt(second, owner, username, PASSWORD) == 302


def test_two_apps_share_the_counters_in_redis(redis_url: str, tmp_path: Path) -> None:
    import redis

    username = "owner" + secrets.token_hex(4)
    settings = load_settings(environ={}, data_dir=str(tmp_path), queue_url=redis_url,
                             signin={"overall": "10000 per minute"})  # other runs share this Redis
    first, second = _two_apps(settings, username)
    _shared_throttle(first, second, username)
    keys = redis.Redis.from_url(redis_url).keys("*sign-in*")
    assert keys, "the counters are not in Redis"
    for application in (first, second):
        state(application).engine.dispose()


def test_two_apps_share_the_counters_in_the_postgresql_store(pg_engine: Engine, tmp_path: Path) -> None:
    username = "owner" + secrets.token_hex(4)
    settings = load_settings(environ={}, data_dir=str(tmp_path),
                             database_url=pg_engine.url.render_as_string(hide_password=False),
                             google={"mode": "sandbox"}, moodle={"mode": "sandbox"})
    first, second = _two_apps(settings, username)
    _shared_throttle(first, second, username)
    with pg_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(RateLimitCounter)) > 0
    for application in (first, second):
        state(application).engine.dispose()
