"""``lms-bridge user create`` with an e-mail and site roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from lms_bridge.cli import cli

from .test_user_command import _users


@pytest.mark.parametrize(("args", "roles"), [
    ([], "administrator"),  # the break-glass account, as before roles existed
    (["--role", "importer"], "importer"),
    (["--role", "importer", "--role", "administrator"], "administrator,importer"),
    (["--role", "none"], ""),
])
def test_site_roles_and_email(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], roles: str) -> None:
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    res = CliRunner().invoke(cli, ["user", "create", "aigul", "--password-stdin", "--email", "A.Seitova@Univ.edu.kz",
                                   *args], input="s3cret-pass-1\n")
    assert res.exit_code == 0, res.output
    [user] = _users(tmp_path)
    assert user.site_roles == roles
    assert user.email == "a.seitova@univ.edu.kz"


def test_a_bad_email_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    res = CliRunner().invoke(cli, ["user", "create", "aigul", "--password-stdin", "--email", "not an address"],
                             input="s3cret-pass-1\n")
    assert res.exit_code == 1
    assert "not a valid email address" in res.output
    assert _users(tmp_path) == []
