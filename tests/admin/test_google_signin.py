"""Sign in with Google, the university's rule: the hd claim and the e-mail's domain, both."""

from __future__ import annotations

from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import select

from lms_bridge.admin.google_signin import Refusal, accepted_email, signin_config, user_for_google
from lms_bridge.app import state
from lms_bridge.config import Secret, Settings
from lms_bridge.store.db import transaction
from lms_bridge.store.models import User

DOMAINS = ("univ.edu.kz", "stud.univ.edu.kz")


@pytest.mark.parametrize(("claims", "ok"), [
    ({"email": "A.B@univ.edu.kz", "email_verified": True, "hd": "univ.edu.kz"}, True),
    ({"email": "s@stud.univ.edu.kz", "email_verified": True, "hd": "stud.univ.edu.kz"}, True),
    # A consumer account: no hd claim, whatever the address says.
    ({"email": "x@univ.edu.kz", "email_verified": True}, False),
    ({"email": "x@gmail.com", "email_verified": True}, False),
    # An organisation's account whose address is of another domain, and the reverse.
    ({"email": "x@other.kz", "email_verified": True, "hd": "univ.edu.kz"}, False),
    ({"email": "x@univ.edu.kz", "email_verified": True, "hd": "other.kz"}, False),
    # Google did not verify the address.
    ({"email": "x@univ.edu.kz", "email_verified": False, "hd": "univ.edu.kz"}, False),
    ({"email": "x@univ.edu.kz", "email_verified": "true", "hd": "univ.edu.kz"}, False),
    ({"hd": "univ.edu.kz", "email_verified": True}, False),
])
def test_only_the_universitys_verified_accounts_get_in(app: Flask, claims: dict[str, object], ok: bool) -> None:
    with app.test_request_context():
        if ok:
            assert accepted_email(claims, DOMAINS) == str(claims["email"]).lower()
        else:
            with pytest.raises(Refusal):
                accepted_email(claims, DOMAINS)


def test_the_first_google_sign_in_makes_an_account_without_password_or_site_role(app: Flask) -> None:
    from lms_bridge.admin.auth import authenticate

    with transaction(state(app).sessionmaker) as db:
        user = user_for_google(db, "e.zhumabekov@univ.edu.kz", "Ерлан", "kk")
        again = user_for_google(db, "e.zhumabekov@univ.edu.kz", "Ерлан", "kk")
        assert again.id == user.id
    with state(app).sessionmaker() as db:
        stored = db.scalar(select(User).where(User.email == "e.zhumabekov@univ.edu.kz"))
        assert stored is not None
        assert stored.site_roles == ""
        assert stored.auth == "google"
        # No password opens it: "!" is no hash of anything.
        assert authenticate(db, stored.username, "!") is None
        assert authenticate(db, stored.username, "") is None


def test_live_google_needs_its_own_client_and_the_sandbox_is_not_believed_then(settings: Settings) -> None:
    assert signin_config(settings) is None  # no domain: off
    live = replace(settings, google=replace(settings.google, mode="live", signin_domains="univ.edu.kz"))
    assert signin_config(live) is None  # no client
    live = replace(live, google=replace(live.google, signin_client_id="id", signin_client_secret=Secret("s")))
    config = signin_config(live)
    assert config is not None
    assert config.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert config.domains == ("univ.edu.kz",)
