"""Credentials: scope choices against the discovery documents, key loading, and no key in messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from googleapiclient import discovery_cache

from lms_bridge.config import GoogleSettings, Settings
from lms_bridge.google.auth import DELEGATED_SCOPES, SCOPES, CredentialsError, CredentialSource

DOCS = Path(discovery_cache.__file__).with_name("documents")

# Every method the product calls and the SCOPES entry its client sends.
USED = {
    ("classroom.v1", "courses.create"): "classroom.courses",
    ("classroom.v1", "courses.get"): "classroom.courses",
    ("classroom.v1", "courses.patch"): "classroom.courses",
    ("classroom.v1", "courses.students.create"): "classroom.rosters",
    ("classroom.v1", "courses.students.get"): "classroom.rosters",
    ("classroom.v1", "courses.students.list"): "classroom.rosters",
    ("classroom.v1", "courses.teachers.create"): "classroom.rosters",
    ("classroom.v1", "invitations.create"): "classroom.rosters",
    ("classroom.v1", "invitations.list"): "classroom.rosters",
    ("classroom.v1", "courses.topics.create"): "classroom.topics",
    ("classroom.v1", "courses.topics.list"): "classroom.topics",
    ("classroom.v1", "courses.announcements.create"): "classroom.announcements",
    ("classroom.v1", "courses.announcements.list"): "classroom.announcements",
    ("classroom.v1", "courses.courseWork.create"): "classroom.coursework",
    ("classroom.v1", "courses.courseWork.list"): "classroom.coursework",
    ("classroom.v1", "courses.courseWork.studentSubmissions.list"): "classroom.coursework",
    ("classroom.v1", "courses.courseWork.studentSubmissions.patch"): "classroom.coursework",
    ("classroom.v1", "registrations.create"): "classroom.push",
    ("forms.v1", "forms.create"): "forms.body",
    ("forms.v1", "forms.get"): "forms.body",
    ("forms.v1", "forms.batchUpdate"): "forms.body",
    ("forms.v1", "forms.setPublishSettings"): "forms.body",
    ("forms.v1", "forms.responses.list"): "forms.responses",
    ("forms.v1", "forms.watches.create"): "forms.responses",
    ("forms.v1", "forms.watches.list"): "forms.responses",
    ("forms.v1", "forms.watches.renew"): "forms.responses",
    ("drive.v3", "files.list"): "drive.file",
    ("drive.v3", "files.update"): "drive.file",
    ("drive.v3", "files.create"): "sheets",
    ("drive.v3", "permissions.create"): "drive.file",
    ("drive.v3", "permissions.list"): "drive.file",
    ("sheets.v4", "spreadsheets.get"): "sheets",
    ("sheets.v4", "spreadsheets.batchUpdate"): "sheets",
    ("sheets.v4", "spreadsheets.values.batchUpdate"): "sheets",
    ("sheets.v4", "spreadsheets.values.get"): "sheets",
}


def _method(doc: dict, dotted: str) -> dict:
    *resources, method = dotted.split(".")
    node = doc
    for r in resources:
        node = node["resources"][r]
    return node["methods"][method]


@pytest.mark.parametrize(("api", "method"), sorted(USED))
def test_each_call_sends_a_scope_the_method_accepts(api: str, method: str) -> None:
    doc = json.loads((DOCS / f"{api}.json").read_text())
    accepted = set(_method(doc, method)["scopes"])
    assert accepted & set(SCOPES[USED[(api, method)]]), (api, method)


def test_delegated_scopes_exclude_the_push_scope() -> None:
    assert not any("push-notifications" in s for s in DELEGATED_SCOPES)
    assert "https://www.googleapis.com/auth/drive" not in DELEGATED_SCOPES  # drive.file is enough


def _key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                                "private_key": pem, "client_email": "sa@p.iam.gserviceaccount.com",
                                "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


def test_service_account_with_delegation_cached_per_scope_set(tmp_path: Path) -> None:
    path = _key_file(tmp_path)
    settings = Settings(google=GoogleSettings(mode="live", service_account_file=str(path),
                                              delegated_user="secretary@uni.kz"))
    src = CredentialSource.from_settings(settings, environ={})
    a = src.delegated(SCOPES["forms.body"])
    assert a is src.delegated(SCOPES["forms.body"])
    assert a is not src.delegated(SCOPES["classroom.rosters"])
    assert a._subject == "secretary@uni.kz"
    assert a._token_uri == "https://oauth2.googleapis.com/token"
    assert "PRIVATE" not in repr(src)


def test_sandbox_mode_points_the_token_uri_at_the_sandbox(tmp_path: Path) -> None:
    path = _key_file(tmp_path)
    (tmp_path / "user-oauth.json").write_text(json.dumps({
        "type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r",
        "token_uri": "https://oauth2.googleapis.com/token", "account": "secretary@sandbox.test"}))
    path.rename(tmp_path / "service-account.json")
    src = CredentialSource.from_settings(Settings(), sandbox_base="http://127.0.0.1:5/", state_dir=tmp_path,
                                         environ={})
    sa = src.delegated(SCOPES["drive.file"])
    assert sa._token_uri == "http://127.0.0.1:5/google/oauth2.googleapis.com/token"
    assert sa._subject == "secretary@sandbox.test"
    user = src.user(SCOPES["classroom.push"])
    assert user.token_uri == "http://127.0.0.1:5/google/oauth2.googleapis.com/token"


def test_key_from_the_environment_and_clear_errors(tmp_path: Path) -> None:
    text = _key_file(tmp_path).read_text()
    settings = Settings(google=GoogleSettings(mode="live", service_account_file=text,
                                              delegated_user="x@uni.kz"))
    assert CredentialSource.from_settings(settings, environ={}).delegated(SCOPES["sheets"]) is not None
    missing = Settings(google=GoogleSettings(mode="live", service_account_file=str(tmp_path / "nope.json"),
                                             delegated_user="x@uni.kz"))
    with pytest.raises(CredentialsError, match=r"nope\.json \(setting google\.service_account_file\)"):
        CredentialSource.from_settings(missing, environ={})
    broken = Settings(google=GoogleSettings(mode="live", service_account_file='{"private_key": "SECRETKEY"',
                                            delegated_user="x@uni.kz"))
    with pytest.raises(CredentialsError) as info:
        CredentialSource.from_settings(broken, environ={})
    assert "SECRETKEY" not in str(info.value)
    src = CredentialSource.from_settings(settings, environ={})
    with pytest.raises(CredentialsError, match="oauth_token_file"):
        src.user(SCOPES["classroom.push"])


def test_the_setup_guide_lists_exactly_the_delegated_scopes() -> None:
    """An administrator copies the line from docs/google-setup.md into the Admin console: a scope
    missing there (classroom.profile.emails, say) fails in production only."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[2] / "docs" / "google-setup.md").read_text(encoding="utf-8")
    line = next(x for x in guide.splitlines() if x.startswith("https://www.googleapis.com/auth/"))
    assert line.split(",") == list(DELEGATED_SCOPES)
