"""Sign in with Google against the sandbox as identity provider (Google's OpenID Connect reference:
discovery, authorization code, token endpoint, keys, the ID token's claims)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from google.auth import jwt

from lms_bridge.google.auth import SANDBOX_SIGNIN_CLIENT_ID as CLIENT
from lms_bridge.google.auth import SANDBOX_SIGNIN_CLIENT_SECRET as SECRET
from lms_bridge.google.sandbox import create_app

REDIRECT = "http://127.0.0.1:8300/login/google/callback"
VERIFIER = "a-code-verifier-of-forty-three-characters-xyz"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


@pytest.fixture
def idp(tmp_path: Path) -> FlaskClient:
    return create_app(tmp_path / "google").test_client()


def _authorize(idp: FlaskClient, email: str, **extra: str) -> str:
    params = {"client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid email profile",
              "state": "st-1", "nonce": "n-1", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    params.update(extra)
    page = idp.get("/accounts.google.com/o/oauth2/v2/auth", query_string=params)
    assert page.status_code == 200
    assert "id='account'" in page.get_data(as_text=True)  # the page to pick a person
    res = idp.post("/accounts.google.com/o/oauth2/v2/auth", query_string=params, data={"account": email})
    assert res.status_code == 302
    query = parse_qs(urlsplit(res.location).query)
    assert res.location.startswith(REDIRECT)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def _exchange(idp: FlaskClient, code: str, **extra: str) -> Any:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "client_id": CLIENT,
            "client_secret": SECRET, "code_verifier": VERIFIER}
    form.update(extra)
    return idp.post("/oauth2.googleapis.com/token", data=form)


def _claims(idp: FlaskClient, id_token: str) -> dict[str, Any]:
    certs = idp.get("/www.googleapis.com/oauth2/v1/certs").get_json()
    header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    assert header["kid"] in certs
    # The kid is published in the JWKS the discovery document names.
    jwks = idp.get("/www.googleapis.com/oauth2/v3/certs").get_json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    return dict(jwt.decode(id_token, certs=certs, audience=CLIENT))


def test_discovery_names_the_endpoints_as_google_does(idp: FlaskClient) -> None:
    doc = idp.get("/accounts.google.com/.well-known/openid-configuration").get_json()
    assert doc["issuer"] == "https://accounts.google.com"
    assert doc["authorization_endpoint"].endswith("/accounts.google.com/o/oauth2/v2/auth")
    assert doc["token_endpoint"].endswith("/oauth2.googleapis.com/token")
    assert doc["jwks_uri"].endswith("/www.googleapis.com/oauth2/v3/certs")
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_post", "client_secret_basic"}


def test_a_code_gives_a_signed_id_token_with_googles_claims(idp: FlaskClient) -> None:
    res = _exchange(idp, _authorize(idp, "E.Zhumabekov@univ.edu.kz"))
    assert res.status_code == 200
    body = res.get_json()
    claims = _claims(idp, body["id_token"])
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == CLIENT
    assert claims["azp"] == CLIENT
    assert claims["email"] == "e.zhumabekov@univ.edu.kz"
    assert claims["email_verified"] is True
    assert claims["hd"] == "univ.edu.kz"
    assert claims["nonce"] == "n-1"
    assert claims["sub"].isdigit()
    expected_hash = base64.urlsafe_b64encode(hashlib.sha256(body["access_token"].encode()).digest()[:16])
    assert claims["at_hash"] == expected_hash.rstrip(b"=").decode()
    info = idp.get("/openidconnect.googleapis.com/v1/userinfo",
                   headers={"Authorization": f"Bearer {body['access_token']}"}).get_json()
    assert info["email"] == "e.zhumabekov@univ.edu.kz"


def test_a_consumer_account_has_no_hd_claim(idp: FlaskClient) -> None:
    claims = _claims(idp, _exchange(idp, _authorize(idp, "visitor@gmail.com")).get_json()["id_token"])
    assert "hd" not in claims


def test_a_code_is_used_once_and_only_by_its_client_redirect_and_verifier(idp: FlaskClient) -> None:
    code = _authorize(idp, "a@univ.edu.kz")
    assert _exchange(idp, code, client_secret="wrong").status_code == 401
    # The failed attempt above did not consume it (client authentication failed first)...
    assert _exchange(idp, code).status_code == 200
    # ...the successful one did.
    assert _exchange(idp, code).get_json()["error"] == "invalid_grant"
    code = _authorize(idp, "a@univ.edu.kz")
    assert _exchange(idp, code, redirect_uri="http://127.0.0.1:9/elsewhere").get_json()["error"] == (
        "redirect_uri_mismatch")
    code = _authorize(idp, "a@univ.edu.kz")
    assert _exchange(idp, code, code_verifier="not-the-verifier").get_json()["error"] == "invalid_grant"
    # client_secret_basic works as well as _post.
    code = _authorize(idp, "a@univ.edu.kz")
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    res = idp.post("/oauth2.googleapis.com/token", headers={"Authorization": f"Basic {basic}"},
                   data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                         "code_verifier": VERIFIER})
    assert res.status_code == 200


def test_unknown_clients_and_foreign_redirects_get_googles_error_page(idp: FlaskClient) -> None:
    base = {"client_id": CLIENT, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid email"}
    res = idp.get("/accounts.google.com/o/oauth2/v2/auth", query_string={**base, "client_id": "other"})
    assert res.status_code == 401
    assert "invalid_client" in res.get_data(as_text=True)
    res = idp.get("/accounts.google.com/o/oauth2/v2/auth",
                  query_string={**base, "redirect_uri": "https://attacker.example/cb"})
    assert res.status_code == 400
    assert "redirect_uri_mismatch" in res.get_data(as_text=True)
    res = idp.get("/accounts.google.com/o/oauth2/v2/auth", query_string={**base, "scope": "email"})
    assert "error=invalid_scope" in res.location
