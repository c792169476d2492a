"""Static configuration: a TOML file named by ``LMS_BRIDGE_CONFIG``, overridden by ``LMS_BRIDGE_*``.

The settings object is frozen and validated once at start-up (``load_settings``); code that needs a
setting receives the object, it never reads the environment itself.  Secrets are wrapped in
:class:`Secret` so that a repr, a log line or a template can never print them by accident.
"""

from __future__ import annotations

import difflib
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
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
    # "live": Google's real endpoints; "sandbox": the built-in Google stand-in, asked for by name;
    # "" (not set): the sandbox, except in production, which refuses to start until a mode is chosen.
    mode: str = ""
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
    # The ten-minute reconcile sweep (it catches a lost push) lists only forms not listed for this
    # long, spaced over the ten minutes, and uses at most this share of the 180-per-minute
    # responses.list quota; the rest stays for the pushes of live voting.
    reconcile_quiet_seconds: int = 180
    reconcile_quota_share: float = 0.25
    # Sign in with Google (OpenID Connect): the university's domain(s), comma-separated; empty turns it
    # off.  Only accounts whose `hd` claim and e-mail are of these domains get in.
    signin_domains: str = ""
    # The OAuth client for it (live Google only; the sandbox has its own public one).
    signin_client_id: str = ""
    signin_client_secret: Secret = field(default_factory=lambda: Secret(""))
    signin_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"


@dataclass(frozen=True)
class MoodleSettings:
    # "" (not set): the real Moodle when url and token are set, else the sandbox (refused in production);
    # "sandbox": the sandbox, asked for by name; "live": the real Moodle at url (url and token required).
    mode: str = ""
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
    # How the accounts lms_bridge creates sign in: "manual" (Moodle e-mails a password to change at first
    # sign-in) or "oauth2" (Google sign-in; no password, nothing to change).  Existing accounts are kept.
    new_user_auth: str = "manual"

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
class LimitsSettings:
    """How much input the product accepts from outside (session files, uploads, webhooks).

    A session is one sitting of one commission: tens of students, rarely a few hundred.  The limits
    sit well above that and far below what would take a process down; what passes them is then
    checked field by field (text lengths come from the store's columns, not from here).
    """

    # A session file (YAML or workbook) as uploaded or named on the command line.
    file_bytes: int = 10 * 1024 * 1024
    # A workbook's parts once unzipped, summed (a zip bomb inflates a few MB into gigabytes).  A
    # sheet is parsed at roughly 0.3 s per MB on an idle core (openpyxl reads a sheet's XML once
    # to find its size when the sheet does not state it), so this also bounds the time a workbook
    # can take; the sample session is 55 KB unpacked, a thousand students about 2 MB.
    workbook_unpacked_bytes: int = 5 * 1024 * 1024
    # Rows and columns read from one sheet (1 header row + one row per student or ticket).
    workbook_rows: int = 5000
    workbook_columns: int = 60
    # A YAML file: PyYAML parses a few hundred kilobytes a second, and a session of a thousand
    # students is about 150 KB.
    yaml_bytes: int = 2 * 1024 * 1024
    # YAML nesting (the format itself needs 5 levels) and the number of values once every alias
    # (``*anchor``) is expanded, which stops "billion laughs" documents.
    yaml_depth: int = 20
    yaml_nodes: int = 200_000
    # People and tickets in one session.
    students: int = 1000
    commission: int = 50
    tickets: int = 1000
    # Texts stored without a column length (notes, ticket questions).
    text_chars: int = 4000
    # The sitting's date: anything outside these years is a typo (9999-12-31 is refused).
    earliest_year: int = 2000
    latest_year: int = 2100
    # A webhook delivery's body and JSON nesting (Pub/Sub and plugin notices are a few hundred bytes).
    webhook_bytes: int = 256 * 1024
    webhook_json_depth: int = 32

    def check(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ConfigError(f"limits.{f.name} must be a positive number")
        if self.earliest_year > self.latest_year:
            raise ConfigError("limits.earliest_year must not be after limits.latest_year")


@dataclass(frozen=True)
class SignInSettings:
    """How fast failed sign-ins may come (``limits`` notation, ``;`` between several).  Only failures
    count.  A limit slows the attacker down for the rest of its window; it never locks an account."""

    # Failed sign-ins from one client address, whatever the names tried (stops spraying names).
    per_address: str = "5 per minute; 30 per hour"
    # Failed sign-ins for one name from all addresses together (stops guessing spread over addresses);
    # above per_address, so one address's failures never stop the owner signing in from another.
    per_name: str = "10 per minute; 60 per hour"
    # Failed sign-ins on the whole site: the cap against a guess spread over many names and addresses.
    overall: str = "100 per minute; 1000 per hour"
    # Every sign-in attempt from one address, failed or not.  Failures are only known once the password
    # is checked, so attempts sent all at once would all pass the failure limits; this caps such a burst
    # (far above what a person signing in ever needs).
    attempts_per_address: str = "30 per minute"


@dataclass(frozen=True)
class ExamSettings:
    """The numbers of the forms of the exam (one university's practice, 004 test §2-9, 001 §15, §19)."""

    # Defense and creative exam: the thesis PDF / performance video links are due this many days before.
    advance_days: int = 2
    # Test exam: random questions drawn from the bank, points each, minutes, attempts.
    test_questions: int = 20
    test_points_per_question: int = 2
    test_minutes: int = 40
    test_attempts: int = 1
    # Final = admission rating (up to this) + exam points; an exam score below the threshold fails.
    test_admission_max: int = 60
    test_pass_threshold: int = 26
    # A lost connection may be continued the same day within this many hours, time and points kept.
    test_reconnect_hours: int = 3
    # Written and open-book exams: the members grade within this many hours of the end of writing.
    written_grading_hours: int = 2

    def check(self) -> None:
        for f in fields(self):
            if not isinstance(getattr(self, f.name), int) or getattr(self, f.name) < 0:
                raise ConfigError(f"exams.{f.name} must be a whole number ≥ 0")
        if self.test_questions < 1 or self.test_points_per_question < 1 or self.test_minutes < 1:
            raise ConfigError("exams.test_questions, test_points_per_question and test_minutes must be above 0")
        if self.test_pass_threshold > self.test_questions * self.test_points_per_question:
            raise ConfigError("exams.test_pass_threshold is above the exam's maximum "
                              "(test_questions × test_points_per_question)")


@dataclass(frozen=True)
class AppealsSettings:
    """Appeal deadlines in working days (003 §64-67; docs/appeals.md) and the calendar's exceptions."""

    # At least 2 (the Ministry's minimum); a university may give more.
    filing_working_days: int = 2
    hearing_working_days: int = 2
    answer_working_days: int = 1
    # Dates (YYYY-MM-DD, comma-separated) the government moved: days off the holiday list does not
    # know yet, and the Saturdays or Sundays that become working days by such a transfer.
    extra_days_off: str = ""
    extra_working_days: str = ""

    def dates(self, name: str) -> tuple[date, ...]:
        out = []
        for part in str(getattr(self, name)).replace(";", ",").split(","):
            if part.strip():
                try:
                    out.append(date.fromisoformat(part.strip()))
                except ValueError:
                    raise ConfigError(f"appeals.{name}: {part.strip()!r} is not a date (YYYY-MM-DD)") from None
        return tuple(out)

    def check(self) -> None:
        if self.filing_working_days < 2:
            raise ConfigError("appeals.filing_working_days must be at least 2 (003 §64)")
        if self.hearing_working_days < 0 or self.answer_working_days < 0:
            raise ConfigError("appeals.hearing_working_days and answer_working_days must be 0 or more")
        self.dates("extra_days_off")
        self.dates("extra_working_days")


@dataclass(frozen=True)
class Settings:
    # "production" refuses a sandbox that was not asked for by name; "auto" (the default) means
    # production when the store is PostgreSQL.
    mode: str = "auto"
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
    # How many reverse proxies in front of the admin page set X-Forwarded-For/-Proto; 0 = none, and the
    # client address is the connection's.  Never more than really exist: a client can write the header.
    trusted_proxies: int = 0
    signin: SignInSettings = field(default_factory=SignInSettings)
    # A provisioning run's holder beats this often; one silent for the timeout is taken as dead (its
    # run shows as interrupted and may be retried at once).
    run_heartbeat_seconds: float = 10.0
    run_lease_timeout_seconds: float = 60.0
    # A worker resumes an interrupted run by itself (the resume_interrupted job) at most this many
    # times in a row; then the run waits for a person's retry.  0: never by itself.
    run_auto_resume_limit: int = 3
    google: GoogleSettings = field(default_factory=GoogleSettings)
    moodle: MoodleSettings = field(default_factory=MoodleSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    exams: ExamSettings = field(default_factory=ExamSettings)
    appeals: AppealsSettings = field(default_factory=AppealsSettings)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lms_bridge.sqlite3'}"

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.sqlite3'}"

    @property
    def google_live(self) -> bool:
        return self.google.mode == "live"

    @property
    def production(self) -> bool:
        """A deployment for real: ``mode = "production"``, or a PostgreSQL store under ``mode = "auto"``."""
        if self.mode == "production":
            return True
        return self.mode == "auto" and self.effective_database_url.startswith("postgresql")

    @property
    def moodle_sandbox(self) -> bool:
        """Moodle is the sandbox: no real Moodle configured, or the URL is the served sandbox's."""
        if not self.moodle.live:
            return True
        return bool(self.sandbox_url) and self.moodle.url.startswith(self.sandbox_url.rstrip("/") + "/moodle")

    @property
    def google_sandbox_trusted(self) -> bool:
        """Whether pushes signed with the sandbox's (public) key may be believed: only while Google is
        the sandbox, and in production only when the sandbox was asked for by name."""
        return not self.google_live and (self.google.mode == "sandbox" or not self.production)

    @property
    def moodle_sandbox_trusted(self) -> bool:
        """Whether posts signed with the sandbox's (public) webhook secret may be believed."""
        return self.moodle_sandbox and (self.moodle.mode == "sandbox" or not self.production)

    def sandbox_refusals(self) -> list[str]:
        """Why a service (web, worker, provisioning) must not start with these settings: in
        production a sandbox is used only when asked for by name, never because a setting was
        forgotten.  Empty when it may start."""
        from lms_bridge.i18n import gettext

        if not self.production:
            return []
        why = (gettext('mode is "production"') if self.mode == "production"
               else gettext("the store is PostgreSQL"))
        problems = []
        if not self.google.mode:
            problems.append(gettext(
                'This is a production configuration (%(why)s), but google.mode is not set, so Google would '
                'be the built-in sandbox. Set google.mode = "live" with its credentials, or google.mode = '
                '"sandbox" to use the sandbox on purpose (LMS_BRIDGE_GOOGLE_MODE).', why=why))
        if self.moodle_sandbox and self.moodle.mode != "sandbox":
            problems.append(gettext(
                'This is a production configuration (%(why)s), but no Moodle is configured, so Moodle would '
                'be the built-in sandbox. Set moodle.url and moodle.token, or moodle.mode = "sandbox" to use '
                'the sandbox on purpose (LMS_BRIDGE_MOODLE_MODE).', why=why))
        return problems

    def validate(self) -> None:
        if self.mode not in ("auto", "production"):
            raise ConfigError(f"mode must be 'auto' or 'production', not {self.mode!r}")
        if self.google.mode not in ("", "sandbox", "live"):
            raise ConfigError(f"google.mode must be 'sandbox' or 'live', not {self.google.mode!r}")
        if self.moodle.mode not in ("", "sandbox", "live"):
            raise ConfigError(f"moodle.mode must be 'sandbox' or 'live', not {self.moodle.mode!r}")
        if self.moodle.mode == "live" and not self.moodle.url:
            raise ConfigError("moodle.mode is 'live' but moodle.url is not set")
        if self.moodle.mode == "sandbox" and self.moodle.live and not self.moodle_sandbox:
            raise ConfigError("moodle.mode is 'sandbox' but moodle.url names another Moodle")
        if not 0 <= self.trusted_proxies <= 10:
            raise ConfigError(f"trusted_proxies must be 0 to 10, not {self.trusted_proxies}")
        from limits import parse_many

        for name in ("per_address", "per_name", "overall", "attempts_per_address"):
            try:
                parse_many(getattr(self.signin, name))
            except ValueError:
                raise ConfigError(f"signin.{name} is not a rate limit such as '5 per minute; 30 per hour'"
                                  ) from None
        if self.google_live and not self.google.service_account_file:
            raise ConfigError("google.mode is 'live' but google.service_account_file is not set")
        if self.google_live and not self.google.delegated_user:
            raise ConfigError("google.mode is 'live' but google.delegated_user is not set")
        if self.moodle.new_user_auth not in ("manual", "oauth2"):
            raise ConfigError(f"moodle.new_user_auth must be manual or oauth2, not {self.moodle.new_user_auth!r}")
        if self.moodle.plugin not in ("auto", "plugin", "core"):
            raise ConfigError(f"moodle.plugin must be auto, plugin or core, not {self.moodle.plugin!r}")
        if bool(self.moodle.url) != bool(self.moodle.token):
            raise ConfigError("moodle.url and moodle.token must be set together")
        if not 0 < self.run_heartbeat_seconds * 2 <= self.run_lease_timeout_seconds:
            raise ConfigError("run_lease_timeout_seconds must be at least twice run_heartbeat_seconds (> 0)")
        if self.run_auto_resume_limit < 0:
            raise ConfigError("run_auto_resume_limit must be 0 (never) or more")
        if self.default_language not in ("kk", "ru", "en"):
            raise ConfigError(f"default_language must be kk, ru or en, not {self.default_language!r}")
        if not 0 < self.google.reconcile_quota_share <= 1 or self.google.reconcile_quiet_seconds < 0:
            raise ConfigError("google.reconcile_quota_share must be above 0 and at most 1, and "
                              "google.reconcile_quiet_seconds not negative")
        self.limits.check()
        self.exams.check()
        self.appeals.check()


_SECTIONS: dict[str, type] = {"google": GoogleSettings, "moodle": MoodleSettings, "smtp": SmtpSettings,
                              "limits": LimitsSettings, "signin": SignInSettings, "exams": ExamSettings,
                              "appeals": AppealsSettings}


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


# Names under the prefix that are not settings: the tests' switches, the live-Moodle checks', the
# command line's language.
_NOT_SETTINGS = ("TEST_", "LIVE_", "LANGUAGE", "SCREENSHOTS", "RECORD_SCENARIO")


def _env_names() -> list[str]:
    """Every environment variable that sets something, e.g. ``LMS_BRIDGE_GOOGLE_MODE``."""
    names = [ENV_PREFIX + f.name.upper() for f in fields(Settings) if f.name not in _SECTIONS]
    for section, cls in _SECTIONS.items():
        names += [f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}" for f in fields(cls)]
    return names


def _env_values(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    top = {f.name for f in fields(Settings)}
    known = _env_names()
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        if name[len(ENV_PREFIX):].startswith(_NOT_SETTINGS):
            continue
        key = name[len(ENV_PREFIX):].lower()
        section, _, rest = key.partition("_")
        if section in _SECTIONS and rest:
            if rest in {f.name for f in fields(_SECTIONS[section])}:
                out.setdefault(section, {})[rest] = value
                continue
        elif key in top and key not in _SECTIONS:
            out[key] = value
            continue
        # A misspelt setting would otherwise be ignored without a word, and the product would run on
        # the default (a sandbox, say) while the operator believes it is configured.  Names under a
        # section's prefix are always settings; elsewhere only a name close to a real one is refused,
        # so that a switch unknown here passes through.
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if section in _SECTIONS or close:
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown setting {name} in the environment{hint}")
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
    if settings.sandbox_url and not settings.moodle.live and settings.moodle.mode != "live":
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


def require_deliberate_mode(settings: Settings) -> None:
    """Refuse (ConfigError, in plain words) a production configuration that would fall back to a
    sandbox nobody asked for.  Called by everything that serves or provisions."""
    problems = settings.sandbox_refusals()
    if problems:
        raise ConfigError("\n".join(problems))
