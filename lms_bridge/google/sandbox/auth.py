"""Keys, the OAuth token endpoint and bearer-token checks.

The product talks to the sandbox through the real google-auth flows: a service-account key file
(JWT-bearer grant, ``sub`` = the user acted as) and an authorized-user file (refresh-token grant).
Both files are written here on first start.  A second key signs the OIDC tokens on Pub/Sub pushes; its
certificate is served like Google's ``oauth2/v1/certs``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt
from google.auth import exceptions as auth_exceptions

from lms_bridge.google.auth import SANDBOX_SECRETARY as DEFAULT_OAUTH_USER

from .errors import ApiError
from .state import Store

PROJECT_ID = "lms-bridge-sandbox"
SA_EMAIL = f"lms-bridge@{PROJECT_ID}.iam.gserviceaccount.com"
OAUTH_CLIENT_ID = "sandbox-client.apps.googleusercontent.com"
TOKEN_PATH = "oauth2.googleapis.com/token"  # noqa: S105 - a URL path, not a secret
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
TOKEN_LIFETIME = 3600

# What the user OAuth grant was consented for (what Google would show on the consent screen).
USER_GRANT_SCOPES = tuple(SCOPE_PREFIX + s for s in (
    "classroom.courses", "classroom.courses.readonly", "classroom.rosters", "classroom.rosters.readonly",
    "classroom.coursework.students", "classroom.coursework.students.readonly", "classroom.push-notifications",
    "classroom.announcements", "classroom.announcements.readonly", "classroom.topics",
    "classroom.topics.readonly", "classroom.profile.emails", "forms.body", "forms.body.readonly",
    "forms.responses.readonly", "drive.file", "spreadsheets",
))


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for."""

    email: str
    scopes: frozenset[str]
    delegated: bool  # obtained through domain-wide delegation (service account + sub)
    project: str
    service_account: bool = False


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.lru_cache(maxsize=32)
def push_signer(private_pem: str, key_id: str) -> crypt.RSASigner:
    """The signer of the push key: parsed once (loading an RSA key checks it, a sixth of a second),
    not for every push and ID token; a signer holds no state between signatures."""
    return crypt.RSASigner.from_string(private_pem, key_id)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _self_signed_cert(key: rsa.RSAPrivateKey, common_name: str) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64url_uint(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Auth:
    def __init__(self, state_dir: Path, store: Store, clock: Callable[[], float], *,
                 base_url: str | None, oauth_user: str | None, admins: set[str] | None) -> None:
        self.state_dir = state_dir
        self.store = store
        self.clock = clock
        self.oauth_user = oauth_user.lower() if oauth_user else None
        self.admins = {a.lower() for a in admins} if admins is not None else None
        self._file_lock = threading.Lock()
        self._base_seen: str | None = None
        self.keys = self._load_keys()
        self.sa_file = state_dir / "service-account.json"
        self.user_file = state_dir / "user-oauth.json"
        self.write_credential_files(base_url)

    # -- keys and files ---------------------------------------------------------------------------
    def _load_keys(self) -> dict[str, Any]:
        keys = self.store.get("meta", "keys")
        if keys is None:
            sa_key, push_key = _new_key(), _new_key()
            keys = {
                "sa_key_id": secrets.token_hex(20), "sa_private": _pem(sa_key),
                "sa_cert": _self_signed_cert(sa_key, SA_EMAIL),
                "push_key_id": secrets.token_hex(20), "push_private": _pem(push_key),
                "push_cert": _self_signed_cert(push_key, "accounts.google.com"),
                "client_secret": secrets.token_urlsafe(24), "refresh_token": "1//sandbox-" + secrets.token_urlsafe(32),
                "sa_client_id": str(secrets.randbelow(10**20) + 10**20),
            }
            self.store.put("meta", "keys", keys)
        return keys

    def write_credential_files(self, base_url: str | None) -> None:
        """(Re)write both credential files with ``token_uri`` pointing at this server."""
        token_uri = f"{base_url.rstrip('/')}/{TOKEN_PATH}" if base_url else f"https://{TOKEN_PATH}"
        k = self.keys
        sa = {
            "type": "service_account", "project_id": PROJECT_ID, "private_key_id": k["sa_key_id"],
            "private_key": k["sa_private"], "client_email": SA_EMAIL, "client_id": k["sa_client_id"],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{SA_EMAIL}",
            "universe_domain": "googleapis.com",
        }
        user = {"type": "authorized_user", "client_id": OAUTH_CLIENT_ID, "client_secret": k["client_secret"],
                "refresh_token": k["refresh_token"], "token_uri": token_uri, "universe_domain": "googleapis.com",
                "account": self.oauth_user or ""}
        with self._file_lock:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            for path, data in ((self.sa_file, sa), (self.user_file, user)):
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
                tmp.chmod(0o600)  # a private key: readable by the owner only
                tmp.replace(path)

    def observe_base(self, base_url: str) -> None:
        """The public URL is known only once served: point the files' token_uri at it (once per base)."""
        if base_url != self._base_seen:
            self._base_seen = base_url
            self.write_credential_files(base_url)

    # -- roles ------------------------------------------------------------------------------------
    def is_admin(self, email: str) -> bool:
        if self.admins is not None:
            return email in self.admins
        # Default: whoever the service account acts for through delegation is the Workspace admin
        # (the secretary), as in the product's default `google.domain_admin = true`.
        subjects = (self.store.get("meta", "dwd_subjects") or {}).get("emails", [])
        return email in subjects or email == SA_EMAIL

    def secretary(self) -> str:
        if self.oauth_user:
            return self.oauth_user
        return (self.store.get("meta", "dwd_subjects") or {}).get("last", DEFAULT_OAUTH_USER)

    # -- tokens -----------------------------------------------------------------------------------
    def issue(self, email: str, scopes: list[str], *, delegated: bool, service_account: bool = False,
              project: str = PROJECT_ID) -> dict[str, Any]:
        token = "ya29.sandbox-" + secrets.token_urlsafe(32)
        self.store.put("token", token, {
            "email": email.lower(), "scopes": scopes, "delegated": delegated, "project": project,
            "service_account": service_account, "expiry": self.clock() + TOKEN_LIFETIME})
        return {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer",
                "scope": " ".join(scopes)}

    def token_endpoint(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return self._jwt_grant(form.get("assertion", ""))
        if grant == "refresh_token":
            return self._refresh_grant(form)
        return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant}"}

    def _jwt_grant(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            claims = jwt.decode(assertion, certs={self.keys["sa_key_id"]: self.keys["sa_cert"]}, verify=True,
                                clock_skew_in_seconds=10)
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT Signature. ({exc})"}
        if claims.get("iss") != SA_EMAIL:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: unknown issuer"}
        if not str(claims.get("aud", "")).endswith(TOKEN_PATH):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived "
                         "token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in "
                         "the JWT claim. Audience is not the token endpoint."}
        if float(claims.get("exp", 0)) - float(claims.get("iat", 0)) > 3600:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: exp is too far from iat"}
        scopes = str(claims.get("scope", "")).split()
        if not scopes:
            return 400, {"error": "invalid_scope", "error_description": "Empty or missing scope not allowed."}
        sub = str(claims.get("sub", "")).lower()
        if sub:
            meta = self.store.get("meta", "dwd_subjects") or {"emails": []}
            if sub not in meta["emails"]:
                meta["emails"].append(sub)
            meta["last"] = sub
            self.store.put("meta", "dwd_subjects", meta)
            return 200, self.issue(sub, scopes, delegated=True)
        return 200, self.issue(SA_EMAIL, scopes, delegated=False, service_account=True)

    def _refresh_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != OAUTH_CLIENT_ID or form.get("client_secret") != self.keys["client_secret"]:
            return 401, {"error": "invalid_client", "error_description": "The OAuth client was not found."}
        user = self.refresh_user(form.get("refresh_token", ""))
        if user is None:
            return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        email, granted = user
        wanted = form.get("scope", "").split() or list(granted)
        if not set(wanted) <= set(granted):
            return 400, {"error": "invalid_scope", "error_description": "Bad Request"}
        return 200, self.issue(email, wanted, delegated=False)

    def refresh_user(self, refresh_token: str) -> tuple[str, tuple[str, ...]] | None:
        if refresh_token and secrets.compare_digest(refresh_token, self.keys["refresh_token"]):
            return self.secretary(), USER_GRANT_SCOPES
        extra = self.store.get("refresh", refresh_token) if refresh_token else None
        if extra:
            return extra["email"], tuple(extra["scopes"])
        return None

    def grant_for(self, email: str, scopes: list[str] | None = None) -> dict[str, Any]:
        """An authorized-user grant for any user (actor API: act as a student through the real client)."""
        refresh = "1//sandbox-" + secrets.token_urlsafe(32)
        self.store.put("refresh", refresh, {"email": email.lower(), "scopes": scopes or [
            *USER_GRANT_SCOPES, SCOPE_PREFIX + "classroom.coursework.me"]})
        data = json.loads(self.user_file.read_text(encoding="utf-8"))
        data.update(refresh_token=refresh, account=email.lower())
        return data

    def principal(self, authorization: str | None, access_token_param: str | None) -> Principal:
        token = ""
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        elif access_token_param:
            token = access_token_param
        if not token:
            raise ApiError(401, "Request is missing required authentication credential. Expected OAuth 2 access "
                           "token, login cookie or other valid authentication credential. See "
                           "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                           reason="required", status="UNAUTHENTICATED")
        rec = self.store.get("token", token)
        if rec is None and token.count(".") == 2:
            rec = self._self_signed(token)
        if rec is None or rec["expiry"] < self.clock():
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                           "login cookie or other valid authentication credential.", reason="authError",
                           status="UNAUTHENTICATED", headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'})
        return Principal(email=rec["email"], scopes=frozenset(rec["scopes"]), delegated=rec["delegated"],
                         project=rec["project"], service_account=rec.get("service_account", False))

    def _self_signed(self, token: str) -> dict[str, Any] | None:
        """Service-account self-signed JWT used directly as the bearer token (google-auth's jwt access)."""
        try:
            claims = jwt.decode(token, certs={self.keys["sa_key_id"]: self.keys["sa_cert"]}, verify=True)
        except (ValueError, auth_exceptions.GoogleAuthError):
            return None
        if claims.get("iss") != SA_EMAIL:
            return None
        return {"email": SA_EMAIL, "scopes": str(claims.get("scope", "")).split(), "delegated": False,
                "project": PROJECT_ID, "service_account": True, "expiry": float(claims.get("exp", 0))}

    # -- push (OIDC) ------------------------------------------------------------------------------
    def sign_oidc(self, audience: str, email: str) -> str:
        now = int(self.clock())
        signer = push_signer(self.keys["push_private"], self.keys["push_key_id"])
        payload = {"aud": audience, "azp": "sandbox-pubsub", "email": email, "email_verified": True,
                   "iat": now, "exp": now + 3600, "iss": "https://accounts.google.com",
                   "sub": str(int(hashlib.sha256(email.encode()).hexdigest()[:16], 16))}
        return jwt.encode(signer, payload).decode()

    def certs_v1(self) -> dict[str, str]:
        return {self.keys["push_key_id"]: self.keys["push_cert"]}

    def certs_v3(self) -> dict[str, Any]:
        cert = x509.load_pem_x509_certificate(self.keys["push_cert"].encode())
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        nums = key.public_numbers()
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.keys["push_key_id"],
                          "n": _b64url_uint(nums.n), "e": _b64url_uint(nums.e)}]}
