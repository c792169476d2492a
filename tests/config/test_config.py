"""Configuration: defaults < TOML file (LMS_BRIDGE_CONFIG) < LMS_BRIDGE_* environment < arguments;
typed, validated with errors that name the setting, and secrets that never show themselves."""

from __future__ import annotations

import dataclasses
import logging
import re
import tomllib
from pathlib import Path

import pytest

from lms_bridge import config as config_module
from lms_bridge.config import (
    ConfigError,
    Secret,
    Settings,
    SmtpSettings,
    load_settings,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "lms-bridge.example.toml"
SECTIONS: dict[str, type] = dict(config_module._SECTIONS)  # every section the loader reads
COMMENTED_SETTING = re.compile(r"^# ?([a-z_]+) = (.+)$")


def _toml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "lms-bridge.toml"
    path.write_text(text, encoding="utf-8")
    return {"LMS_BRIDGE_CONFIG": str(path)}


def _error(environ: dict[str, str], **overrides: object) -> str:
    with pytest.raises(ConfigError) as exc:
        load_settings(environ=environ, **overrides)
    return str(exc.value)


# -- where a value comes from ---------------------------------------------------------------------

def test_without_anything_the_defaults_hold(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.data_dir == tmp_path / "lms-bridge"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'lms-bridge' / 'lms_bridge.sqlite3'}"
    assert settings.google.mode == ""  # not chosen: the sandbox, which production refuses
    assert not settings.google_live
    assert not settings.moodle.live


def test_file_then_environment_then_arguments(tmp_path: Path) -> None:
    env = _toml(tmp_path, """
        public_url = "https://from-the-file.example"
        default_language = "ru"
        [smtp]
        host = "smtp.from-the-file.example"
        port = 25
        [moodle]
        poll_seconds = 300
    """.replace("\n        ", "\n"))
    from_file = load_settings(environ=env)
    assert from_file.public_url == "https://from-the-file.example"
    assert from_file.default_language == "ru"
    assert (from_file.smtp.host, from_file.smtp.port, from_file.moodle.poll_seconds) == (
        "smtp.from-the-file.example", 25, 300)
    assert from_file.smtp.sender == SmtpSettings().sender  # untouched keys keep their defaults

    env |= {"LMS_BRIDGE_PUBLIC_URL": "https://from-the-env.example", "LMS_BRIDGE_SMTP_PORT": "2525"}
    from_env = load_settings(environ=env)
    assert from_env.public_url == "https://from-the-env.example"
    assert from_env.smtp.port == 2525
    assert from_env.smtp.host == "smtp.from-the-file.example"  # the file still holds what env leaves
    assert from_env.default_language == "ru"

    given = load_settings(environ=env, public_url="https://given.example", smtp={"port": 465})
    assert given.public_url == "https://given.example"
    assert given.smtp.port == 465
    assert given.smtp.host == "smtp.from-the-file.example"


def test_sectioned_keys_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={
        "LMS_BRIDGE_GOOGLE_MODE": "live",
        "LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE": "/etc/lms-bridge/sa.json",
        "LMS_BRIDGE_GOOGLE_DELEGATED_USER": "secretary@uni.edu.kz",
        "LMS_BRIDGE_GOOGLE_CLASSROOM_GRADE_WRITEBACK": "yes",
        "LMS_BRIDGE_MOODLE_URL": "https://moodle.uni.edu.kz",
        "LMS_BRIDGE_MOODLE_TOKEN": "tok-0123456789",
        "LMS_BRIDGE_MOODLE_MAX_INPUT_VARS": "5000",
        "LMS_BRIDGE_SMTP_STARTTLS": "off",
        "LMS_BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "LMS_BRIDGE_DEFAULT_LANGUAGE": "en",
    })
    assert settings.google_live
    assert settings.google.service_account_file == "/etc/lms-bridge/sa.json"
    assert settings.google.delegated_user == "secretary@uni.edu.kz"
    assert settings.google.classroom_grade_writeback is True
    assert settings.moodle.live
    assert settings.moodle.token.reveal() == "tok-0123456789"
    assert settings.moodle.max_input_vars == 5000
    assert settings.smtp.starttls is False
    assert settings.data_dir == tmp_path / "data"
    assert settings.default_language == "en"


def test_names_that_are_not_settings_are_left_alone() -> None:
    # Test switches, the command-line language and the file's own name share the prefix.
    settings = load_settings(environ={
        "LMS_BRIDGE_TEST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1/test",
        "LMS_BRIDGE_LANGUAGE": "ru", "LMS_BRIDGE_SCREENSHOTS": "/tmp/shots", "OTHER_PUBLIC_URL": "x",
    })
    assert settings.database_url == ""
    assert settings.public_url == Settings().public_url


def test_a_sandbox_url_stands_in_for_moodle_unless_a_real_one_is_set() -> None:
    served = load_settings(environ={"LMS_BRIDGE_SANDBOX_URL": "http://127.0.0.1:8090/"})
    assert served.moodle.url == "http://127.0.0.1:8090/moodle"
    assert served.moodle.token
    real = load_settings(environ={"LMS_BRIDGE_SANDBOX_URL": "http://127.0.0.1:8090",
                                  "LMS_BRIDGE_MOODLE_URL": "https://moodle.uni.edu.kz",
                                  "LMS_BRIDGE_MOODLE_TOKEN": "t"})
    assert real.moodle.url == "https://moodle.uni.edu.kz"


# -- types ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("1", True), ("true", True), ("Yes", True), (" on ", True),
    ("0", False), ("false", False), ("NO", False), ("off", False), ("", False),
])
def test_booleans_from_the_environment(raw: str, value: bool) -> None:
    assert load_settings(environ={"LMS_BRIDGE_GOOGLE_DOMAIN_ADMIN": raw}).google.domain_admin is value


def test_types_from_the_file(tmp_path: Path) -> None:
    settings = load_settings(environ=_toml(tmp_path, """
data_dir = "~/attestation"
[google]
timeout_seconds = 2
max_retries = "7"
domain_admin = false
[moodle]
timeout_seconds = "2.5"
[smtp]
port = "465"
password = "pw-from-file"
"""))
    assert settings.data_dir == Path("~/attestation").expanduser()
    assert settings.google.timeout_seconds == 2.0
    assert isinstance(settings.google.timeout_seconds, float)
    assert settings.google.max_retries == 7
    assert settings.google.domain_admin is False
    assert settings.moodle.timeout_seconds == 2.5
    assert settings.smtp.port == 465
    assert isinstance(settings.smtp.password, Secret)
    assert settings.smtp.password.reveal() == "pw-from-file"


# -- bad values name the setting --------------------------------------------------------------------

@pytest.mark.parametrize(("environ", "named"), [
    ({"LMS_BRIDGE_SMTP_PORT": "five-eight-seven"}, "smtp.port"),
    ({"LMS_BRIDGE_MOODLE_POLL_SECONDS": "2m"}, "moodle.poll_seconds"),
    ({"LMS_BRIDGE_GOOGLE_TIMEOUT_SECONDS": "soon"}, "google.timeout_seconds"),
    ({"LMS_BRIDGE_SMTP_STARTTLS": "maybe"}, "smtp.starttls"),
    ({"LMS_BRIDGE_GOOGLE_MODE": "cloud"}, "google.mode"),
    ({"LMS_BRIDGE_GOOGLE_MODE": "live"}, "google.service_account_file"),
    ({"LMS_BRIDGE_GOOGLE_MODE": "live", "LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE": "/sa.json"},
     "google.delegated_user"),
    ({"LMS_BRIDGE_MOODLE_PLUGIN": "sometimes"}, "moodle.plugin"),
    ({"LMS_BRIDGE_MOODLE_URL": "https://moodle.uni.edu.kz"}, "moodle.token"),
    ({"LMS_BRIDGE_MOODLE_TOKEN": "t"}, "moodle.url"),
    ({"LMS_BRIDGE_DEFAULT_LANGUAGE": "de"}, "default_language"),
])
def test_a_bad_value_names_its_setting(environ: dict[str, str], named: str) -> None:
    assert named in _error(environ)


@pytest.mark.parametrize(("text", "named"), [
    ("[google]\nmodee = \"live\"\n", "google.modee"),
    ("pubilc_url = \"https://x\"\n", "pubilc_url"),
    ("google = \"live\"\n", "google"),
    ("[smtp]\nport = [587]\n", "smtp.port"),
    ("[moodle]\ncategory_id = \"first\"\n", "moodle.category_id"),
])
def test_a_bad_file_names_the_setting(tmp_path: Path, text: str, named: str) -> None:
    message = _error(_toml(tmp_path, text))
    assert re.search(rf"(^|\W){re.escape(named)}(\W|$)", message), message


def test_a_file_that_is_not_toml_or_not_there_names_the_file(tmp_path: Path) -> None:
    broken = _toml(tmp_path, "[smtp\nport = 1\n")
    message = _error(broken)
    assert broken["LMS_BRIDGE_CONFIG"] in message
    assert "TOML" in message
    absent = str(tmp_path / "nowhere.toml")
    message = _error({"LMS_BRIDGE_CONFIG": absent})
    assert absent in message
    assert "cannot read" in message


# -- secrets ----------------------------------------------------------------------------------------

SECRETS = {"LMS_BRIDGE_SECRET_KEY": "sk-cookie-0f1e2d3c4b5a", "LMS_BRIDGE_MOODLE_TOKEN": "mt-9a8b7c6d5e4f",
           "LMS_BRIDGE_MOODLE_URL": "https://moodle.uni.edu.kz",
           "LMS_BRIDGE_MOODLE_WEBHOOK_SECRET": "wh-1122334455", "LMS_BRIDGE_SMTP_PASSWORD": "pw-5566778899"}


def _secret_values() -> list[str]:
    return [v for k, v in SECRETS.items() if k != "LMS_BRIDGE_MOODLE_URL"]


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("hunter2-correct-horse")
    shown = [repr(secret), str(secret), f"{secret}", "%s" % secret, "%r" % (secret,), format(secret),  # noqa: UP031 (as logging formats)
             repr([secret]), repr({"token": secret})]
    for text in shown:
        assert "hunter2" not in text
        assert "***" in text
    assert secret.reveal() == "hunter2-correct-horse"
    assert secret == Secret("hunter2-correct-horse")
    assert secret != Secret("something else")
    assert secret != "hunter2-correct-horse"  # never equal to the bare string either
    assert hash(secret) == hash(Secret("hunter2-correct-horse"))
    assert secret
    assert not Secret("")
    assert "hunter2" not in repr(Secret(""))


def test_settings_never_show_their_secrets(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(environ=SECRETS)
    assert settings.moodle.token.reveal() == SECRETS["LMS_BRIDGE_MOODLE_TOKEN"]
    assert settings.secret_key.reveal() == SECRETS["LMS_BRIDGE_SECRET_KEY"]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("lms_bridge.test").info("settings: %s / %r", settings, settings)
    shown = " ".join([repr(settings), str(settings), repr(settings.moodle), repr(settings.smtp),
                      repr(dataclasses.asdict(settings)), caplog.text])
    for value in _secret_values():
        assert value not in shown
    assert "moodle.uni.edu.kz" in shown  # what is not secret is shown


@pytest.mark.parametrize("variable", ["LMS_BRIDGE_SMTP_PORT", "LMS_BRIDGE_MOODLE_POLL_SECONDS",
                                      "LMS_BRIDGE_SMTP_STARTTLS"])
def test_an_error_never_repeats_the_value_given(variable: str) -> None:
    # A secret pasted into the wrong variable must not come back in the error message.
    message = _error({variable: "pw-5566778899"})
    assert "pw-5566778899" not in message
    assert variable.removeprefix("LMS_BRIDGE_").lower().replace("_", ".", 1) in message


def test_a_broken_file_never_repeats_a_secret(tmp_path: Path) -> None:
    message = _error(_toml(tmp_path, '[moodle]\nurl = "https://m"\ntoken = "mt-9a8b7c6d5e4f\n'))
    assert "mt-9a8b7c6d5e4f" not in message
    message = _error(_toml(tmp_path, '[smtp]\nport = "pw-5566778899"\n'))
    assert "pw-5566778899" not in message


# -- the example file -------------------------------------------------------------------------------

def _documented_keys(text: str) -> dict[str, set[str]]:
    """Every key the example names, set or commented out, by section ("" for the top level)."""
    keys: dict[str, set[str]] = {"": set()}
    section = ""
    for line in text.splitlines():
        if match := re.match(r"^\[([a-z_]+)\]$", line):
            section = match.group(1)
            keys.setdefault(section, set())
        elif match := (re.match(r"^([a-z_]+) = ", line) or COMMENTED_SETTING.match(line)):
            assert match.group(1) not in keys[section], f"{section}.{match.group(1)} named twice"
            keys[section].add(match.group(1))
    return keys


def _uncommented(text: str) -> str:
    return "\n".join(COMMENTED_SETTING.sub(r"\1 = \2", line) for line in text.splitlines())


def test_the_example_loads_and_its_active_lines_are_the_defaults(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = load_settings(environ={"LMS_BRIDGE_CONFIG": str(EXAMPLE)})
    assert settings == Settings()


def test_the_example_names_every_setting() -> None:
    keys = _documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    wanted = {"": {f.name for f in dataclasses.fields(Settings) if f.name not in SECTIONS}}
    wanted |= {name: {f.name for f in dataclasses.fields(cls)} for name, cls in SECTIONS.items()}
    missing = {s: sorted(wanted[s] - keys.get(s, set())) for s in wanted if wanted[s] - keys.get(s, set())}
    unknown = {s: sorted(keys[s] - wanted.get(s, set())) for s in keys if keys[s] - wanted.get(s, set())}
    assert not missing, f"config/lms-bridge.example.toml does not name {missing}"
    assert not unknown, f"config/lms-bridge.example.toml names settings that do not exist: {unknown}"


def test_the_example_with_every_line_switched_on_loads(tmp_path: Path) -> None:
    text = _uncommented(EXAMPLE.read_text(encoding="utf-8"))
    assert tomllib.loads(text)  # the commented examples are valid TOML values
    settings = load_settings(environ=_toml(tmp_path, text))
    assert settings.moodle.live
    assert settings.smtp.host == "smtp.university.edu.kz"
    assert settings.google.pubsub_audience.endswith("/webhooks/google/pubsub")
    assert "service token" not in repr(settings)  # even a placeholder secret stays hidden


@pytest.mark.parametrize(("name", "suggestion"), [
    ("LMS_BRIDGE_GOOGLE_MODEE", "LMS_BRIDGE_GOOGLE_MODE"),
    ("LMS_BRIDGE_MOODLE_WEBHOK_SECRET", "LMS_BRIDGE_MOODLE_WEBHOOK_SECRET"),
    ("LMS_BRIDGE_DATABSE_URL", "LMS_BRIDGE_DATABASE_URL"),
])
def test_a_misspelt_environment_setting_is_refused_with_the_name_meant(name: str, suggestion: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings({name: "x"})
    assert name in str(err.value)
    assert f"did you mean {suggestion}?" in str(err.value)


def test_an_unknown_key_under_a_section_is_refused_even_when_nothing_is_close() -> None:
    with pytest.raises(ConfigError, match="unknown setting LMS_BRIDGE_SMTP_NOTHING_LIKE_IT"):
        load_settings({"LMS_BRIDGE_SMTP_NOTHING_LIKE_IT": "x"})

