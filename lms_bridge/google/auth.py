"""Google credentials: the delegated service account and the user OAuth grant, one object per scope set.

Two kinds of credentials exist because domain-wide delegation cannot do everything:

* the service account acts as the secretary (``settings.google.delegated_user``) for Classroom,
  Forms, Drive and Sheets;
* an authorized-user grant (the secretary's own consent, kept as JSON) is needed for Classroom push
  registrations, which "do not support domain-wide delegation" (facts §3, §7).

Each call asks for the narrowest scopes it needs (:data:`SCOPES`), so one credentials object is
built per scope set and cached: a token for ``classroom.rosters`` is not usable to delete a course.
Key material is read from a file or, for deployments that keep secrets in the environment, from the
setting's value itself when it holds the JSON.  Nothing here logs a key or a token; errors name the
setting and the file, never their content.

In sandbox mode the key files are the ones the sandbox writes into its state directory, and their
``token_uri`` is pinned to the sandbox token endpoint so the real google-auth flow runs against it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from lms_bridge.config import Settings
from lms_bridge.google.transport import Endpoints

_P = "https://www.googleapis.com/auth/"


# Parsing a service account's private key checks the RSA key, which costs milliseconds of CPU each
# time; every workspace and every scope set needs credentials, so the parsed key is kept per key
# file and shared (``with_scopes``/``with_subject`` copy the signer, they do not parse it again).
_SA_BASES: dict[str, service_account.Credentials] = {}
_SA_LOCK = threading.Lock()


def _service_account_base(info: Mapping[str, Any]) -> service_account.Credentials:
    """Credentials of this service-account key with no scopes and no subject, parsed once per process."""
    import hashlib

    digest = hashlib.sha256(json.dumps(info, sort_keys=True, default=str).encode()).hexdigest()
    with _SA_LOCK:
        base = _SA_BASES.get(digest)
        if base is None:
            base = service_account.Credentials.from_service_account_info(dict(info))
            if len(_SA_BASES) >= 16:  # a process sees one or two keys; tests see a few
                _SA_BASES.pop(next(iter(_SA_BASES)))
            _SA_BASES[digest] = base
        return base

# The narrowest scope each group of calls needs (facts §7, checked against the discovery documents'
# per-method scope lists by tests/google/test_scopes.py).
SCOPES: dict[str, tuple[str, ...]] = {
    "classroom.courses": (_P + "classroom.courses",),
    "classroom.rosters": (_P + "classroom.rosters",),
    # Reading members' profiles when their e-mail is needed: UserProfile.emailAddress is filled only
    # for tokens holding classroom.profile.emails (UserProfile reference).
    "classroom.rosters.emails": (_P + "classroom.rosters", _P + "classroom.profile.emails"),
    "classroom.topics": (_P + "classroom.topics",),
    "classroom.announcements": (_P + "classroom.announcements",),
    "classroom.coursework": (_P + "classroom.coursework.students",),
    # Registrations need the push scope plus the scope of the feed they watch.
    "classroom.push": (_P + "classroom.push-notifications", _P + "classroom.coursework.students.readonly"),
    "forms.body": (_P + "forms.body",),
    # Creating a form: with drive.file on the same token the new form is this app's own Drive file,
    # which the drive.file scope documents as reachable, so tagging and sharing it need nothing wider
    # (docs/google-setup.md).
    "forms.create": (_P + "forms.body", _P + "drive.file"),
    "forms.responses": (_P + "forms.responses.readonly",),
    # Files this app created or opened (forms, the grade sheet): enough for appProperties and sharing.
    "drive.file": (_P + "drive.file",),
    # gspread reads and writes values (Sheets) and creates the spreadsheet file (Drive).
    "sheets": (_P + "spreadsheets", _P + "drive.file"),
}

# What an administrator grants the service account's client id in the Admin console (delegation),
# and what the secretary consents to for the user grant.  docs/google-setup.md lists the same.
DELEGATED_SCOPES: tuple[str, ...] = tuple(sorted({s for k, v in SCOPES.items() if k != "classroom.push"
                                                  for s in v}))
USER_GRANT_SCOPES: tuple[str, ...] = SCOPES["classroom.push"]


class CredentialsError(RuntimeError):
    """Credentials are missing or unreadable; the message names the setting and the file to fix."""


# The account a sandbox's user grant is made for when it names none: the sandbox's secretary.
SANDBOX_SECRETARY = "secretary@sandbox.test"

# The Google sandbox's one OAuth client for "Sign in with Google" (OpenID Connect).  Public like the
# sandbox's Moodle token: believed in sandbox mode only, never by a live configuration.
SANDBOX_SIGNIN_CLIENT_ID = "lms-bridge-sandbox-signin.apps.googleusercontent.com"
SANDBOX_SIGNIN_CLIENT_SECRET = "GOCSPX-sandbox-signin-public"  # noqa: S105 - public on purpose, sandbox only


def sandbox_key_files(state_dir: Path) -> tuple[Path, Path]:
    """The service-account key and the user grant the sandbox writes into its state directory."""
    return state_dir / "service-account.json", state_dir / "user-oauth.json"


def _load_json(value: str, setting: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Key JSON from the setting: inline JSON, a file path, or (service account only) the
    conventional ``GOOGLE_APPLICATION_CREDENTIALS`` path when the setting is empty."""
    text = value.strip()
    if not text and setting == "google.service_account_file":
        text = environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    if not text:
        raise CredentialsError(f"setting {setting} is empty: give the path of the JSON key file")
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise CredentialsError(f"setting {setting} holds text that is not valid JSON") from None
    else:
        path = Path(text).expanduser()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CredentialsError(f"{path} (setting {setting}): cannot read the key file "
                                   f"({exc.strerror or type(exc).__name__})") from None
        except ValueError:
            raise CredentialsError(f"{path} (setting {setting}): the key file is not valid JSON") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"setting {setting}: the key JSON must be an object")
    return data


class CredentialSource:
    """Builds and caches credentials per scope set for the delegated account and the user grant."""

    def __init__(self, *, service_account_info: dict[str, Any] | None, delegated_user: str,
                 user_grant_info: dict[str, Any] | None = None, token_uri: str | None = None,
                 service_account_setting: str = "google.service_account_file",
                 user_grant_setting: str = "google.oauth_token_file") -> None:
        self._sa_info = service_account_info
        self._user_info = user_grant_info
        self.delegated_user = delegated_user
        self._token_uri = token_uri
        self._sa_setting = service_account_setting
        self._user_setting = user_grant_setting
        self._cache: dict[tuple[str, tuple[str, ...]], Credentials] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show key material
        return f"CredentialSource(delegated_user={self.delegated_user!r})"

    @classmethod
    def from_settings(cls, settings: Settings, *, sandbox_base: str = "", state_dir: Path | None = None,
                      environ: Mapping[str, str] | None = None) -> CredentialSource:
        """Credentials as configured; in sandbox mode the sandbox's key files in ``state_dir``."""
        env = os.environ if environ is None else environ
        g = settings.google
        token_uri: str | None = None
        if sandbox_base:
            token_uri = Endpoints(sandbox_base).token_uri
        sa_value, user_value = g.service_account_file, g.oauth_token_file
        if sandbox_base and state_dir is not None:
            sa_path, user_path = sandbox_key_files(state_dir)
            sa_value = sa_value or str(sa_path)
            user_value = user_value or (str(user_path) if user_path.exists() else "")
        sa_info = _load_json(sa_value, "google.service_account_file", env)
        user_info = _load_json(user_value, "google.oauth_token_file", env) if user_value else None
        delegated = g.delegated_user
        if not delegated and sandbox_base:
            # The sandbox's user grant names the account it was given for, else its default secretary.
            delegated = str((user_info or {}).get("account") or SANDBOX_SECRETARY)
        if not delegated:
            raise CredentialsError("setting google.delegated_user is empty: give the secretary's "
                                   "Workspace address the service account acts as")
        return cls(service_account_info=sa_info, delegated_user=delegated, user_grant_info=user_info,
                   token_uri=token_uri)

    def delegated(self, scopes: tuple[str, ...]) -> Credentials:
        """Service-account credentials acting as the delegated user, for exactly ``scopes``."""
        key = ("sa", tuple(sorted(scopes)))
        with self._lock:
            if key not in self._cache:
                if self._sa_info is None:
                    raise CredentialsError(f"setting {self._sa_setting} is empty")
                info = dict(self._sa_info)
                if self._token_uri:
                    info["token_uri"] = self._token_uri
                try:
                    self._cache[key] = _service_account_base(info).with_scopes(list(key[1])).with_subject(
                        self.delegated_user)
                except (ValueError, KeyError) as exc:
                    # The message of google-auth names missing fields, never their values.
                    raise CredentialsError(f"setting {self._sa_setting}: not a service-account key "
                                           f"({type(exc).__name__}: {str(exc)[:120]})") from None
            return self._cache[key]

    def user(self, scopes: tuple[str, ...]) -> Credentials:
        """The secretary's own OAuth grant (authorized-user JSON), for what delegation cannot do."""
        key = ("user", tuple(sorted(scopes)))
        with self._lock:
            if key not in self._cache:
                if self._user_info is None:
                    raise CredentialsError(f"setting {self._user_setting} is empty: Classroom push "
                                           "registrations need the secretary's OAuth grant")
                info = dict(self._user_info)
                try:
                    creds = user_credentials.Credentials.from_authorized_user_info(info, scopes=list(key[1]))
                    if self._token_uri:
                        # google-auth always sets Google's token endpoint for authorized-user info,
                        # whatever the file says; the sandbox needs its own.
                        creds = creds.with_token_uri(self._token_uri)
                    self._cache[key] = creds
                except ValueError as exc:
                    raise CredentialsError(f"setting {self._user_setting}: not an authorized-user grant "
                                           f"({str(exc)[:160]})") from None
            return self._cache[key]

    @property
    def has_user_grant(self) -> bool:
        return self._user_info is not None
