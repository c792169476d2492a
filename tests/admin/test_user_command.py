"""``lms-bridge user create/passwd`` and the account rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from werkzeug.security import check_password_hash

from lms_bridge.admin.auth import AccountError, authenticate, create_user
from lms_bridge.cli import cli
from lms_bridge.config import load_settings
from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
from lms_bridge.store.models import User
from lms_bridge.store.schema import ensure_schema


def _users(data_dir: Path) -> list[User]:
    engine = make_engine(load_settings(environ={}, data_dir=str(data_dir)).effective_database_url)
    try:
        with make_sessionmaker(engine)() as db:
            return list(db.scalars(select(User)))
    finally:
        engine.dispose()


def test_create_and_change_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    runner = CliRunner()
    res = runner.invoke(cli, ["user", "create", "Aigul", "--password-stdin", "--language", "ru"],
                        input="s3cret-pass-1\n")
    assert res.exit_code == 0, res.output
    assert "aigul" in res.output
    assert "s3cret" not in res.output
    [user] = _users(tmp_path)
    assert user.username == "aigul"
    assert user.language == "ru"
    assert user.password_hash.startswith("scrypt:")
    assert check_password_hash(user.password_hash, "s3cret-pass-1")

    res = runner.invoke(cli, ["user", "create", "aigul", "--password-stdin"], input="another-pass\n")
    assert res.exit_code == 1
    assert "already exists" in res.output
    res = runner.invoke(cli, ["user", "create", "short", "--password-stdin"], input="abc\n")
    assert res.exit_code == 1
    assert "at least 8" in res.output

    res = runner.invoke(cli, ["user", "passwd", "aigul", "--password-stdin"], input="new-pass-2026\n")
    assert res.exit_code == 0, res.output
    [user] = _users(tmp_path)
    assert check_password_hash(user.password_hash, "new-pass-2026")
    res = runner.invoke(cli, ["user", "passwd", "nobody", "--password-stdin"], input="new-pass-2026\n")
    assert res.exit_code == 1


def test_authenticate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        create_user(db, "Secretary", "long enough pw")
        with pytest.raises(AccountError):
            create_user(db, "two words", "long enough pw")
    with sessions() as db:
        assert authenticate(db, "SECRETARY ", "long enough pw") is not None
        assert authenticate(db, "secretary", "wrong") is None
        assert authenticate(db, "ghost", "long enough pw") is None
        db.scalar(select(User)).is_active = False
        db.flush()
        assert authenticate(db, "secretary", "long enough pw") is None
    engine.dispose()


def test_the_product_hashes_passwords_with_scrypt_at_full_cost(
        product_hash_password: Callable[[str], str]) -> None:
    """The suite signs in with a cheaper scrypt (tests/conftest.py); the product's own stays at 2^15."""
    hashed = product_hash_password("s3cret-pass-1")
    assert hashed.startswith("scrypt:32768:8:1$")
    assert check_password_hash(hashed, "s3cret-pass-1")
    assert not check_password_hash(hashed, "s3cret-pass-2")
