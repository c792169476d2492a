"""Sign in with Google: the sandbox as an OpenID Connect provider.

Modelled on Google's OpenID Connect reference and guide
(https://developers.google.com/identity/openid-connect/reference,
https://developers.google.com/identity/openid-connect/openid-connect): the discovery document at
``accounts.google.com/.well-known/openid-configuration``, the authorization endpoint
``accounts.google.com/o/oauth2/v2/auth`` (here a page to pick a person instead of Google's account
chooser), the authorization-code grant on the token endpoint ``oauth2.googleapis.com/token``, the
keys at ``www.googleapis.com/oauth2/v3/certs`` and an RS256 ``id_token`` with Google's claims
(``iss`` https://accounts.google.com, ``aud``/``azp`` the client id, ``sub``, ``email``,
``email_verified``, ``hd`` for accounts of an organisation, ``nonce``, ``at_hash``, ``iat``/``exp``).

The sandbox knows one OAuth client, public like its Moodle token (``SANDBOX_SIGNIN_CLIENT_ID`` /
``SANDBOX_SIGNIN_CLIENT_SECRET`` in :mod:`lms_bridge.google.auth`).  docs/google-fidelity.md lists
what is modelled and where the sandbox is stricter or simpler.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, redirect, request
from google.auth import jwt

from lms_bridge.google.auth import SANDBOX_SIGNIN_CLIENT_ID, SANDBOX_SIGNIN_CLIENT_SECRET
from lms_bridge.i18n import use_locale

from .auth import push_signer
from .common import user_id
from .people import _lang as page_language
from .texts import translate

ISSUER = "https://accounts.google.com"
DISCOVERY_PATH = "accounts.google.com/.well-known/openid-configuration"
AUTH_PATH = "accounts.google.com/o/oauth2/v2/auth"
USERINFO_PATH = "openidconnect.googleapis.com/v1/userinfo"
CODE_LIFETIME = 600  # an authorization code is short-lived and used once (RFC 6749 §4.1.2)
ID_TOKEN_LIFETIME = 3600
# Consumer accounts carry no hd claim: Google sets it only for accounts of a Google Cloud
# organisation (Workspace).  The sandbox treats these domains as consumer ones.
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def discovery(base: str) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{base}/{AUTH_PATH}",
        "token_endpoint": f"{base}/oauth2.googleapis.com/token",
        "userinfo_endpoint": f"{base}/{USERINFO_PATH}",
        "jwks_uri": f"{base}/www.googleapis.com/oauth2/v3/certs",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "hd", "iat",
                             "iss", "name", "sub"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token",
                                  "urn:ietf:params:oauth:grant-type:jwt-bearer"],
    }


def _error_page(message: str, status: int = 400) -> Response:
    # Google shows its own error page (e.g. "Error 400: redirect_uri_mismatch") and does not send the
    # browser back to a redirect URI it cannot trust.
    return Response(f"<!doctype html><meta charset='utf-8'><title>Error</title><h1>{html.escape(message)}</h1>",
                    status, content_type="text/html; charset=utf-8")


def _redirect_allowed(uri: str) -> bool:
    # Google sends the code only to a redirect URI registered for the client.  The sandbox's public
    # client is "registered" for any loopback URI (it only ever runs on this machine): never to
    # another host, and never with a fragment (RFC 6749 §3.1.2).
    parts = urlsplit(uri)
    return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost", "::1") \
        and not parts.fragment


def register_oidc(app: Flask, sandbox: Any) -> None:
    store = sandbox.store

    def base() -> str:
        return request.host_url.rstrip("/") + request.script_root

    @app.get(f"/{DISCOVERY_PATH}")
    def openid_configuration() -> Response:
        return Response(_json(discovery(base())), 200, content_type="application/json; charset=utf-8")

    @app.route(f"/{AUTH_PATH}", methods=["GET", "POST"])
    def authorize() -> Any:
        args = request.values
        client_id = args.get("client_id", "")
        redirect_uri = args.get("redirect_uri", "")
        if client_id != SANDBOX_SIGNIN_CLIENT_ID:
            return _error_page("Error 401: invalid_client. The OAuth client was not found.", 401)
        if not _redirect_allowed(redirect_uri):
            return _error_page("Error 400: redirect_uri_mismatch")

        def back(**params: str) -> Any:
            joiner = "&" if urlsplit(redirect_uri).query else "?"
            state = args.get("state")
            if state is not None:
                params["state"] = state
            return redirect(redirect_uri + joiner + urlencode(params), 302)

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scopes = args.get("scope", "").split()
        if "openid" not in scopes:
            return back(error="invalid_scope")
        method = args.get("code_challenge_method", "plain" if args.get("code_challenge") else "")
        if method not in ("", "plain", "S256"):
            return back(error="invalid_request")
        email = args.get("account", "").strip().lower() if request.method == "POST" else ""
        if not email or "@" not in email:
            with use_locale(page_language()):
                page = _chooser(args, store)
            return Response(page, 200, content_type="text/html; charset=utf-8")
        code = "4/sandbox-" + secrets.token_urlsafe(32)
        store.put("oidc_code", code, {
            "client_id": client_id, "redirect_uri": redirect_uri, "email": email, "scopes": scopes,
            "nonce": args.get("nonce", ""), "challenge": args.get("code_challenge", ""), "method": method,
            "expiry": sandbox.clock() + CODE_LIFETIME})
        return back(code=code, scope=" ".join(scopes), authuser="0", prompt="consent")

    @app.get(f"/{USERINFO_PATH}")
    def userinfo() -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        rec = store.get("oidc_access", token) if token else None
        if rec is None or rec["expiry"] < sandbox.clock():
            return Response(_json({"error": "invalid_request", "error_description": "Invalid Credentials"}), 401,
                            content_type="application/json; charset=utf-8",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        claims = _person_claims(rec["email"])
        return Response(_json(claims), 200, content_type="application/json; charset=utf-8")


def _json(body: Any) -> str:
    import json

    return json.dumps(body, indent=2)


def _person_claims(email: str) -> dict[str, Any]:
    local, _, domain = email.partition("@")
    parts = [p.capitalize() for p in local.replace("_", ".").replace("-", ".").split(".") if p]
    given = parts[0] if parts else local
    family = " ".join(parts[1:])
    claims: dict[str, Any] = {"sub": user_id(email), "email": email, "email_verified": True,
                              "name": " ".join(p for p in (given, family) if p), "given_name": given}
    if family:
        claims["family_name"] = family
    if domain not in CONSUMER_DOMAINS:
        claims["hd"] = domain
    return claims


def _chooser(args: Any, store: Any) -> str:
    """The page to pick a person (Google's account chooser): known accounts and a field for any other."""
    known = sorted({u["email"] for u in store.list("user") if u.get("email")})
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in args.items(multi=True) if k != "account")
    buttons = "".join(f'<li><button type="submit" name="account" value="{html.escape(e)}">{html.escape(e)}'
                      f"</button></li>" for e in known[:200])
    title = html.escape(translate("Choose an account"))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h1>{title}</h1><p>{html.escape(translate('Google sandbox'))}</p>"
            f"<form method='post' id='chooser'>{hidden}<ul>{buttons}</ul>"
            f"<label>{html.escape(translate('Account'))} <input type='email' name='account' id='account'></label>"
            f"<button type='submit' id='continue'>{html.escape(translate('Continue'))}</button></form>"
            "</body></html>")


def token_grant(sandbox: Any, form: dict[str, str], authorization: str) -> tuple[int, dict[str, Any]]:
    """``grant_type=authorization_code`` on the token endpoint: the code, once, for the client and
    redirect URI it was issued to; client authentication by client_secret_post or _basic."""
    client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[6:]).decode()
        except ValueError:
            decoded = ":"
        from urllib.parse import unquote

        basic_id, _, basic_secret = decoded.partition(":")
        client_id, secret = unquote(basic_id), unquote(basic_secret)
    if client_id != SANDBOX_SIGNIN_CLIENT_ID or not secrets.compare_digest(secret, SANDBOX_SIGNIN_CLIENT_SECRET):
        return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
    code = form.get("code", "")
    rec = sandbox.store.get("oidc_code", code) if code else None
    if rec is not None:
        sandbox.store.delete("oidc_code", code)  # used once, whatever happens next
    if rec is None or rec["expiry"] < sandbox.clock():
        return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
    if rec["client_id"] != client_id or rec["redirect_uri"] != form.get("redirect_uri", ""):
        return 400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
    if rec["challenge"]:
        verifier = form.get("code_verifier", "")
        expected = _b64(hashlib.sha256(verifier.encode()).digest()) if rec["method"] == "S256" else verifier
        if not verifier or not secrets.compare_digest(expected, rec["challenge"]):
            return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
    now = int(sandbox.clock())
    access = "ya29.sandbox-" + secrets.token_urlsafe(32)
    sandbox.store.put("oidc_access", access, {"email": rec["email"], "expiry": now + ID_TOKEN_LIFETIME})
    claims = {"iss": ISSUER, "azp": client_id, "aud": client_id, "iat": now, "exp": now + ID_TOKEN_LIFETIME,
              "at_hash": _b64(hashlib.sha256(access.encode()).digest()[:16])}
    person = _person_claims(rec["email"])
    claims.update({k: v for k, v in person.items() if k in ("sub", "hd")})
    if "email" in rec["scopes"]:
        claims.update(email=person["email"], email_verified=True)
    if "profile" in rec["scopes"]:
        claims.update({k: v for k, v in person.items() if k in ("name", "given_name", "family_name")})
    if rec["nonce"]:
        claims["nonce"] = rec["nonce"]
    keys = sandbox.auth.keys
    # Google signs ID tokens with the keys it publishes at oauth2/v3/certs: the sandbox's push key.
    signer = push_signer(keys["push_private"], keys["push_key_id"])
    id_token = jwt.encode(signer, claims).decode()
    return 200, {"access_token": access, "expires_in": ID_TOKEN_LIFETIME, "token_type": "Bearer",
                 "scope": " ".join(rec["scopes"]), "id_token": id_token}
