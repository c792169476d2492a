"""``lms-bridge doctor``: what is configured and what production lacks, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lms_bridge.cli import cli
from lms_bridge.doctor import masked_url

# Every secret a configuration can hold, each one distinctive enough to be found in the output.
SECRETS = {
    "db": "Db-Pa55-7f3a",
    "redis": "Redis-Pa55-91c2",
    "cookie": "Cookie-Key-5e1d0a9c",
    "moodle_token": "MoodleTok-c0ffee42",
    "webhook": "Webhook-Secret-b4d",
    "smtp": "Smtp-Pa55-8e7f",
    "private_key": "PRIVATE-KEY-MATERIAL-a1b2",
}


def run(env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["doctor"], env={"LMS_BRIDGE_LANGUAGE": "en", **env})
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def full_production(tmp_path: Path) -> dict[str, str]:
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({"private_key": SECRETS["private_key"]}))
    return {
        "LMS_BRIDGE_DATA_DIR": str(tmp_path / "data"),
        "LMS_BRIDGE_DATABASE_URL": f"postgresql+psycopg://bridge:{SECRETS['db']}@db.uni.kz/lms",
        "LMS_BRIDGE_QUEUE_URL": f"redis://:{SECRETS['redis']}@redis.uni.kz:6379/0",
        "LMS_BRIDGE_SECRET_KEY": SECRETS["cookie"],
        "LMS_BRIDGE_PUBLIC_URL": "https://bridge.uni.kz",
        "LMS_BRIDGE_GOOGLE_MODE": "live",
        "LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file),
        "LMS_BRIDGE_GOOGLE_DELEGATED_USER": "secretary@uni.kz",
        "LMS_BRIDGE_MOODLE_URL": "https://moodle.uni.kz",
        "LMS_BRIDGE_MOODLE_TOKEN": SECRETS["moodle_token"],
        "LMS_BRIDGE_MOODLE_WEBHOOK_SECRET": SECRETS["webhook"],
        "LMS_BRIDGE_SMTP_HOST": "smtp.uni.kz",
        "LMS_BRIDGE_SMTP_PASSWORD": SECRETS["smtp"],
    }


def test_a_complete_production_configuration_passes_and_shows_no_secret(tmp_path: Path) -> None:
    code, output = run(full_production(tmp_path))
    assert code == 0, output
    assert "production (the store is PostgreSQL)" in output
    assert "postgresql+psycopg://bridge:***@db.uni.kz/lms" in output
    assert "redis://:***@redis.uni.kz:6379/0" in output
    assert "live at https://moodle.uni.kz" in output
    assert "Nothing required for production is missing." in output
    for name, value in SECRETS.items():
        assert value not in output, name


def test_an_inline_service_account_key_is_never_shown(tmp_path: Path) -> None:
    env = full_production(tmp_path)
    env["LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE"] = json.dumps({"private_key": SECRETS["private_key"]})
    code, output = run(env)
    assert code == 0, output
    assert "set (inline; not shown)" in output
    assert SECRETS["private_key"] not in output


@pytest.mark.parametrize(("drop", "expected"), [
    ("LMS_BRIDGE_GOOGLE_MODE", "google.mode is not set"),
    ("LMS_BRIDGE_QUEUE_URL", "The queue is not Redis"),
    ("LMS_BRIDGE_SECRET_KEY", "LMS_BRIDGE_SECRET_KEY"),
    ("LMS_BRIDGE_PUBLIC_URL", "The public URL is not https://"),
    ("LMS_BRIDGE_MOODLE_WEBHOOK_SECRET", "LMS_BRIDGE_MOODLE_WEBHOOK_SECRET"),
])
def test_each_missing_requirement_is_named_and_exits_1(tmp_path: Path, drop: str, expected: str) -> None:
    env = full_production(tmp_path)
    env.pop(drop)
    if drop == "LMS_BRIDGE_GOOGLE_MODE":  # live mode's own settings would be refused on loading
        env.pop("LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE")
        env.pop("LMS_BRIDGE_GOOGLE_DELEGATED_USER")
    code, output = run(env)
    assert code == 1
    missing = output.split("Missing for production:", 1)[1]
    assert expected in missing
    for name, value in SECRETS.items():
        assert value not in output, name


def test_a_missing_service_account_file_is_reported(tmp_path: Path) -> None:
    env = full_production(tmp_path)
    env["LMS_BRIDGE_GOOGLE_SERVICE_ACCOUNT_FILE"] = str(tmp_path / "absent.json")
    code, output = run(env)
    assert code == 1
    assert "(the file is missing)" in output
    assert "The Google service account file is missing" in output


def test_the_embedded_default_needs_nothing_more(tmp_path: Path) -> None:
    code, output = run({"LMS_BRIDGE_DATA_DIR": str(tmp_path)})
    assert code == 0, output
    assert "embedded default (not production)" in output
    assert "sandbox (google.mode not set)" in output
    assert "the store (shared by every process)" in output
    assert "Missing for production" not in output


def test_a_configuration_that_does_not_load_is_one_line_and_exit_1(tmp_path: Path) -> None:
    code, output = run({"LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_MODE": "prod"})
    assert code == 1
    assert "mode must be" in output


def test_the_doctor_speaks_kazakh(tmp_path: Path) -> None:
    env = full_production(tmp_path)
    env.pop("LMS_BRIDGE_QUEUE_URL")
    result = CliRunner().invoke(cli, ["doctor"], env={**env, "LMS_BRIDGE_LANGUAGE": "kk"})
    assert result.exit_code == 1
    assert "Өндірістік жұмыс үшін жетіспейді:" in result.output
    assert "Кезек Redis емес" in result.output


def test_masked_url_hides_passwords_and_queries() -> None:
    assert masked_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert "pw" not in masked_url("rediss://user:pw@h/0")
    assert "tok" not in masked_url("https://moodle.uni.kz/webservice?wstoken=tok")
    assert masked_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
