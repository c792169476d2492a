"""Static configuration: a TOML file named by ``LMS_BRIDGE_CONFIG``, overridden by ``LMS_BRIDGE_*``.

The settings object is frozen and validated once at start-up (``load_settings``); code that needs a
setting receives the object, it never reads the environment itself.  Secrets are wrapped in
:class:`Secret` so that a repr, a log line or a template can never print them by accident.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ENV_PREFIX = "LMS_BRIDGE_"


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the setting."""


class Secret:
    """A string that never shows itself in repr/str; call :meth:`reveal` where it is really needed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lms-bridge"


@dataclass(frozen=True)
class GoogleSettings:
    # "sandbox": the built-in Google stand-in; "live": Google's real endpoints.
    mode: str = "sandbox"
    # Service account with domain-wide delegation, acting as `delegated_user` (the secretary).
    service_account_file: str = ""
    delegated_user: str = ""
    # A user OAuth grant (authorized-user JSON) for what delegation cannot do: Classroom push registrations.
    oauth_token_file: str = ""
    # True when the delegated user is a Workspace admin: people are added to the course directly.
    domain_admin: bool = True
    pubsub_topic: str = "projects/lms-bridge/topics/attestation"
    # Who may push to /webhooks/google/pubsub: OIDC audience and the subscription's service account.
    pubsub_audience: str = ""
    pubsub_service_account: str = "pubsub-push@lms-bridge.iam.gserviceaccount.com"
    # Write the decision to Classroom assignedGrade on the student's ticket assignment.
    classroom_grade_writeback: bool = False
    timeout_seconds: float = 30.0
    max_retries: int = 5
    # How long one request may wait for Google's per-user quota windows after quota refusals (429)
    # before its step fails.  Requests are spaced to the published quotas first, so this only matters
    # when someone else uses the same Google user's quota.
    quota_wait_seconds: float = 300.0
    # Our quota windows are this much longer than Google's 60 s: we count a request when it leaves,
    # Google when it arrives.
    quota_guard_seconds: int = 1


@dataclass(frozen=True)
class MoodleSettings:
    url: str = ""
    token: Secret = field(default_factory=lambda: Secret(""))
    student_role_id: int = 5
    teacher_role_id: int = 3
    category_id: int = 1
    template_course_id: int = 0
    # "auto" detects the companion plugin through get_site_info; "plugin" requires it; "core" never uses it.
    plugin: str = "auto"
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    # Polling interval when the companion plugin is absent.
    poll_seconds: int = 120
    timeout_seconds: float = 30.0
    max_retries: int = 4
    # PHP's max_input_vars on the Moodle server: larger batches are split so none is silently truncated.
    max_input_vars: int = 1000

    @property
    def live(self) -> bool:
        return bool(self.url and self.token)


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    starttls: bool = True
    sender: str = "lms-bridge@localhost"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""
    # "" = SQLite-backed queue in data_dir; "redis://…" = Redis; "memory://" = run tasks inline (tests).
    queue_url: str = ""
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    # The URL at which Google and Moodle reach this service (webhook audience, links in posts).
    public_url: str = "http://127.0.0.1:5000"
    # Points both Google and Moodle at a sandbox served by `lms-bridge sandbox serve`.
    sandbox_url: str = ""
    default_language: str = "kk"
    google: GoogleSettings = field(default_factory=GoogleSettings)
    moodle: MoodleSettings = field(default_factory=MoodleSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lms_bridge.sqlite3'}"

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.sqlite3'}"

    @property
    def google_live(self) -> bool:
        return self.google.mode == "live"

    def validate(self) -> None:
        if self.google.mode not in ("sandbox", "live"):
            raise ConfigError(f"google.mode must be 'sandbox' or 'live', not {self.google.mode!r}")
        if self.google_live and not self.google.service_account_file:
            raise ConfigError("google.mode is 'live' but google.service_account_file is not set")
        if self.google_live and not self.google.delegated_user:
            raise ConfigError("google.mode is 'live' but google.delegated_user is not set")
        if self.moodle.plugin not in ("auto", "plugin", "core"):
            raise ConfigError(f"moodle.plugin must be auto, plugin or core, not {self.moodle.plugin!r}")
        if bool(self.moodle.url) != bool(self.moodle.token):
            raise ConfigError("moodle.url and moodle.token must be set together")
        if self.default_language not in ("kk", "ru", "en"):
            raise ConfigError(f"default_language must be kk, ru or en, not {self.default_language!r}")


_SECTIONS: dict[str, type] = {"google": GoogleSettings, "moodle": MoodleSettings, "smtp": SmtpSettings}


def _coerce(name: str, annotation: Any, raw: Any) -> Any:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Secret":
            return raw if isinstance(raw, Secret) else Secret(str(raw))
        if kind == "Path":
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name} has a malformed value (expected {kind})") from None


def _apply(obj: Any, values: Mapping[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {prefix}{key}")
        f = known[key]
        if key in _SECTIONS:
            if not isinstance(raw, Mapping):
                raise ConfigError(f"setting {prefix}{key} must be a table")
            changes[key] = _apply(getattr(obj, key), raw, f"{prefix}{key}.")
        else:
            changes[key] = _coerce(f"{prefix}{key}", f.type, raw)
    return replace(obj, **changes)


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    top = {f.name for f in fields(Settings)}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        key = name[len(ENV_PREFIX):].lower()
        section, _, rest = key.partition("_")
        if section in _SECTIONS and rest:
            if rest in {f.name for f in fields(_SECTIONS[section])}:
                out.setdefault(section, {})[rest] = value
        elif key in top and key not in _SECTIONS:
            out[key] = value
        # Other LMS_BRIDGE_* names (test-only switches and the like) are not settings.
    return out


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings: defaults, then the TOML file, then the environment, then ``overrides``."""
    env = os.environ if environ is None else environ
    settings = Settings()
    path = env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        settings = _apply(settings, data, "")
    settings = _apply(settings, _env_values(env), "")
    if overrides:
        settings = _apply(settings, overrides, "")
    if settings.sandbox_url and not settings.moodle.live:
        # One separately served sandbox stands in for both services.
        settings = replace(settings, moodle=replace(settings.moodle, url=settings.sandbox_url.rstrip("/") + "/moodle",
                                                    token=Secret("sandbox-token")))
    settings.validate()
    return settings


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key: the configured one, or one kept (0600) in the data dir."""
    if settings.secret_key:
        return settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return replace(settings, secret_key=Secret(path.read_text().strip()))
