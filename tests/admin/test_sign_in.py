"""Sign-in a stranger cannot abuse: failed sign-ins are throttled per client address, per name and for
the whole site (Flask-Limiter, failures only), and signing out ends the session in the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from lms_bridge.admin.auth import SIGN_IN_KEY, create_user, set_password
from lms_bridge.app import create_app, state
from lms_bridge.config import Settings, SignInSettings, load_settings
from lms_bridge.store.db import transaction

from .conftest import PASSWORD

WRONG = "not the password"


def attempt(client: FlaskClient, address: str, password: str = WRONG, username: str = "secretary",
            **headers: str) -> int:
    res = client.post("/login", data={"username": username, "password": password},
                      environ_base={"REMOTE_ADDR": address}, headers=headers)
    return res.status_code


def make_app(settings: Settings) -> Flask:
    application = create_app(settings, testing=True)
    application.config["WTF_CSRF_ENABLED"] = False
    return application


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[object]:
    """An app with the secretary's account and the given sign-in limits."""
    made: list[Flask] = []

    def build(**signin: str) -> Flask:
        settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), default_language="en",
                                 signin=signin)
        application = make_app(settings)
        with transaction(state(application).sessionmaker) as db:
            from sqlalchemy import select

            from lms_bridge.store.models import User

            if db.scalar(select(User).where(User.username == "secretary")) is None:
                create_user(db, "secretary", PASSWORD, language="en")
        made.append(application)
        return application

    yield build
    for application in made:
        state(application).engine.dispose()


def test_five_failures_from_one_address_do_not_stop_the_owner_elsewhere(client: FlaskClient) -> None:
    assert [attempt(client, "203.0.113.9") for _ in range(5)] == [401] * 5
    # The attacker's address is slowed down now...
    assert attempt(client, "203.0.113.9") == 429
    assert attempt(client, "203.0.113.9", password=PASSWORD) == 429
    # ...but the owner, from their own address, signs in at once.
    assert attempt(client, "198.51.100.7", password=PASSWORD) == 302
    assert client.get("/sessions").status_code == 200


def test_spraying_names_from_one_address_is_slowed(client: FlaskClient) -> None:
    codes = [attempt(client, "203.0.113.9", username=f"user{i}") for i in range(20)]
    assert codes[:5] == [401] * 5
    assert codes[5:] == [429] * 15


def test_the_answer_is_429_with_retry_after_and_a_translated_page(client: FlaskClient) -> None:
    for _ in range(5):
        attempt(client, "203.0.113.9")
    res = client.post("/login", data={"username": "nobody", "password": WRONG},
                      environ_base={"REMOTE_ADDR": "203.0.113.9"}, headers={"Accept-Language": "ru"})
    assert res.status_code == 429
    # A slow-down, not a lockout: the per-minute window ends within a minute.
    assert 0 < int(res.headers["Retry-After"]) <= 60
    page = res.get_data(as_text=True)
    assert "Слишком много неудачных попыток входа" in page
    assert 'name="password"' in page  # the sign-in form again, to try after the wait


def test_successful_sign_ins_do_not_burn_the_budget(client: FlaskClient) -> None:
    for _ in range(12):  # more than the per-address (5) and per-name (10) failure budgets
        assert attempt(client, "198.51.100.7", password=PASSWORD) == 302
        client.post("/logout")
    assert attempt(client, "198.51.100.7") == 401


def test_guessing_one_name_from_many_addresses_is_slowed(client: FlaskClient) -> None:
    assert [attempt(client, f"203.0.113.{i}") for i in range(10)] == [401] * 10
    assert attempt(client, "203.0.113.200") == 429
    # The budget is the name's: another name from that address is still answered.
    assert attempt(client, "203.0.113.200", username="someone") == 401


def test_the_whole_site_has_a_cap_on_failures(app_with) -> None:  # type: ignore[no-untyped-def]
    client = app_with(overall="3 per minute").test_client()
    assert [attempt(client, f"203.0.113.{i}", username=f"user{i}") for i in range(3)] == [401] * 3
    assert attempt(client, "192.0.2.50", username="anyone") == 429


def test_x_forwarded_for_is_not_trusted_without_proxies(client: FlaskClient) -> None:
    codes = [attempt(client, "203.0.113.9", X_Forwarded_For=f"192.0.2.{i}") for i in range(6)]
    assert codes == [401] * 5 + [429]


def test_x_forwarded_for_from_the_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), default_language="en",
                             trusted_proxies="1")
    application = make_app(settings)
    with transaction(state(application).sessionmaker) as db:
        create_user(db, "secretary", PASSWORD)
    client = application.test_client()
    proxy = "127.0.0.1"
    assert [attempt(client, proxy, X_Forwarded_For="203.0.113.9") for _ in range(6)] == [401] * 5 + [429]
    assert attempt(client, proxy, password=PASSWORD, X_Forwarded_For="198.51.100.7") == 302
    state(application).engine.dispose()


def test_limits_are_settings(tmp_path: Path) -> None:
    from lms_bridge.config import ConfigError

    assert load_settings(environ={"LMS_BRIDGE_SIGNIN_PER_ADDRESS": "3 per minute"}).signin.per_address == \
        "3 per minute"
    assert SignInSettings().per_name  # documented defaults exist
    with pytest.raises(ConfigError, match=r"signin\.per_name"):
        load_settings(environ={"LMS_BRIDGE_SIGNIN_PER_NAME": "often"})


# -- signing out ends the session on the server -------------------------------------------------------

def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("lms_bridge_session")
    assert cookie is not None
    return cookie.value


def _replay(app: Flask, cookie: str) -> int:
    thief = app.test_client()
    thief.set_cookie("lms_bridge_session", cookie)
    return thief.get("/sessions").status_code


def test_a_cookie_captured_before_logout_opens_nothing_after(app: Flask, signed_in: FlaskClient) -> None:
    captured = _cookie(signed_in)
    assert _replay(app, captured) == 200  # the captured cookie really was a signed-in one
    assert signed_in.post("/logout").status_code == 302
    assert _replay(app, captured) == 302
    assert signed_in.get("/sessions").status_code == 302


def test_a_password_change_signs_out_every_browser(app: Flask, signed_in: FlaskClient) -> None:
    captured = _cookie(signed_in)
    with transaction(state(app).sessionmaker) as db:
        set_password(db, "secretary", "a brand new password")
    assert _replay(app, captured) == 302
    assert signed_in.get("/sessions").status_code == 302


def test_signing_out_in_one_browser_keeps_the_other(app: Flask, signed_in: FlaskClient) -> None:
    other = app.test_client()
    assert attempt(other, "127.0.0.1", password=PASSWORD) == 302
    signed_in.post("/logout")
    assert other.get("/sessions").status_code == 200


def test_the_cookie_carries_a_token_not_the_user_id(app: Flask, signed_in: FlaskClient) -> None:
    with signed_in.session_transaction() as sess:
        token = sess[SIGN_IN_KEY]
        assert isinstance(token, str)
        assert len(token) >= 40
        assert "uid" not in sess
    from sqlalchemy import select

    from lms_bridge.store.models import SignIn

    with state(app).sessionmaker() as db:
        stored = db.scalars(select(SignIn.token_hash)).all()
    assert len(stored) == 1
    assert token not in stored  # only its hash is kept



def test_two_apps_on_one_store_share_the_counters(tmp_path: Path) -> None:
    """Two processes (here two apps) of one deployment see the same failures: the store keeps them."""
    settings = load_settings(environ={}, data_dir=str(tmp_path / "data"), default_language="en")
    first, second = make_app(settings), make_app(settings)
    with transaction(state(first).sessionmaker) as db:
        create_user(db, "secretary", PASSWORD)
    one, two = first.test_client(), second.test_client()
    assert [attempt(one, "203.0.113.9") for _ in range(3)] == [401] * 3
    assert [attempt(two, "203.0.113.9") for _ in range(2)] == [401] * 2
    assert attempt(one, "203.0.113.9") == 429
    assert attempt(two, "203.0.113.9") == 429
    for application in (first, second):
        state(application).engine.dispose()


def test_a_burst_of_parallel_guesses_is_capped(app_with) -> None:  # type: ignore[no-untyped-def]
    """Failures are known only after the password check, so guesses sent at once all pass the failure
    limits' check; the per-address cap on attempts, counted up front, bounds them."""
    from concurrent.futures import ThreadPoolExecutor

    application = app_with(per_address="5 per minute", attempts_per_address="8 per minute")

    def guess(i: int) -> int:
        return attempt(application.test_client(), "203.0.113.9", username=f"user{i}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count(401) <= 8
    assert codes.count(429) >= 12
    assert set(codes) == {401, 429}


def test_successful_sign_ins_count_towards_the_attempt_cap_only(app_with) -> None:  # type: ignore[no-untyped-def]
    client = app_with(attempts_per_address="3 per minute").test_client()
    assert [attempt(client, "198.51.100.7", password=PASSWORD) for _ in range(3)] == [302] * 3
    assert attempt(client, "198.51.100.7", password=PASSWORD) == 429
    assert attempt(client, "198.51.100.8", password=PASSWORD) == 302
