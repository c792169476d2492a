"""The JSON API: personal tokens (made and revoked on the page, stored hashed, one role, an expiry),
the policy table behind every route, and the OpenAPI document fuzzed with schemathesis."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from lms_bridge.app import state
from lms_bridge.store.db import transaction
from lms_bridge.store.models import ApiToken, ExamSession, User, utcnow

from .conftest import SAMPLE_YAML
from .test_roles import CODE, _add_people, sign_in


@pytest.fixture
def people_app(app: Flask, upload) -> Flask:  # type: ignore[no-untyped-def]
    assert upload(SAMPLE_YAML.read_bytes(), "s.yaml").status_code == 302
    _add_people(app)
    return app


def make_token(app: Flask, who: str, role: str, days: int = 30) -> str:
    client = sign_in(app, who)
    res = client.post("/tokens/new", data={"name": f"{who} script", "role": role, "days": str(days)})
    assert res.status_code == 200, res.get_data(as_text=True)
    match = re.search(r'id="new-token-value">(lbt_[^<]+)<', res.get_data(as_text=True))
    assert match, "the new token is shown once"
    return match.group(1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_stored_hashed_shown_once_and_revocable(people_app: Flask) -> None:
    token = make_token(people_app, "member", "member")
    with state(people_app).sessionmaker() as db:
        row = db.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str([(c.name, getattr(row, c.name)) for c in ApiToken.__table__.columns])
        token_id = row.id
    api = people_app.test_client()
    me = api.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["token_role"] == "member"
    page = sign_in(people_app, "member").get("/tokens").get_data(as_text=True)
    assert token not in page  # never shown again
    assert sign_in(people_app, "chair").post(f"/tokens/{token_id}/revoke").status_code == 404  # not theirs
    assert sign_in(people_app, "member").post(f"/tokens/{token_id}/revoke").status_code == 302
    assert api.get("/api/me", headers=bearer(token)).status_code == 401


def test_expired_unknown_and_cookie_callers_are_refused(people_app: Flask) -> None:
    token = make_token(people_app, "secretary", "secretary")
    api = people_app.test_client()
    assert api.get("/api/sessions").status_code == 401
    assert api.get("/api/sessions", headers=bearer("lbt_not-a-token")).status_code == 401
    # A signed-in browser's cookie opens nothing here.
    assert sign_in(people_app, "secretary").get("/api/sessions").status_code == 401
    with transaction(state(people_app).sessionmaker) as db:
        db.scalar(select(ApiToken)).expires_at = utcnow() - timedelta(seconds=1)
    assert api.get("/api/sessions", headers=bearer(token)).status_code == 401


def test_a_token_may_carry_only_its_owners_roles(people_app: Flask) -> None:
    client = sign_in(people_app, "member")
    assert client.post("/tokens/new", data={"name": "x", "role": "secretary", "days": "30"}).status_code == 400
    assert client.post("/tokens/new", data={"name": "x", "role": "administrator", "days": "30"}).status_code == 400


def test_a_member_token_cannot_seal_and_sees_its_actions(people_app: Flask) -> None:
    api = people_app.test_client()
    member = make_token(people_app, "member", "member")
    detail = api.get(f"/api/sessions/{CODE}", headers=bearer(member)).get_json()
    assert detail["roles"] == ["member"]
    assert "session.seal" not in detail["actions"]
    assert "session.students" in detail["actions"]
    assert api.get(f"/api/sessions/{CODE}/students", headers=bearer(member)).status_code == 200
    for path in ("seal", "release", "draw"):
        res = api.post(f"/api/sessions/{CODE}/{path}", headers=bearer(member))
        assert res.status_code == 403, path
        assert "may do this" in res.get_json()["message"]
    assert api.get(f"/api/sessions/{CODE}/decisions", headers=bearer(member)).status_code == 403
    with state(people_app).sessionmaker() as db:
        assert db.scalar(select(ExamSession.status)) == "imported"


def test_a_token_narrows_an_administrator_to_its_role(people_app: Flask) -> None:
    # The administrator is also a member of the session by e-mail; their member token cannot seal.
    with transaction(state(people_app).sessionmaker) as db:
        db.scalar(select(User).where(User.username == "secretary")).email = "d.omarov@univ.edu.kz"
    api = people_app.test_client()
    member = make_token(people_app, "admin", "member")
    assert api.post(f"/api/sessions/{CODE}/seal", headers=bearer(member)).status_code == 403
    admin = make_token(people_app, "admin", "administrator")
    # Allowed; the rules still refuse to seal a session that was never held.
    res = api.post(f"/api/sessions/{CODE}/seal", headers=bearer(admin))
    assert res.status_code == 409
    assert res.get_json()["error"] == "conflict"


def test_the_secretary_drives_the_session_and_others_do_not_see_it(people_app: Flask) -> None:
    api = people_app.test_client()
    secretary = make_token(people_app, "secretary", "secretary")
    listing = api.get("/api/sessions", headers=bearer(secretary)).get_json()
    assert [s["code"] for s in listing["sessions"]] == [CODE]
    assert api.post(f"/api/sessions/{CODE}/draw", headers=bearer(secretary)).status_code == 409  # not provisioned
    outsider = make_token(people_app, "importer", "importer")
    assert api.get("/api/sessions", headers=bearer(outsider)).get_json()["sessions"] == []
    assert api.get(f"/api/sessions/{CODE}", headers=bearer(outsider)).status_code == 404


def test_openapi_document_describes_every_api_route(people_app: Flask) -> None:
    doc = people_app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), "/api" + p.replace("{code}", "<code>").replace("{name}", "<name>")
                   .replace("{ref}", "<ref>"))
                  for p, ops in doc["paths"].items() for m in ops}
    served = {(m, r.rule) for r in people_app.url_map.iter_rules() if r.endpoint.startswith("api.")
              and r.endpoint != "api.openapi" for m in (r.methods or set()) - {"HEAD", "OPTIONS"}}
    assert served == documented


def test_the_registrar_downloads_a_sealed_sessions_documents(people_app: Flask) -> None:
    from .test_roles import _seal_in_store

    api = people_app.test_client()
    _seal_in_store(people_app)
    registrar = make_token(people_app, "registrar", "registrar")
    listing = api.get(f"/api/sessions/{CODE}/documents", headers=bearer(registrar)).get_json()
    assert [d["name"] for d in listing["documents"]] == ["protocol-1.pdf"]
    res = api.get(listing["documents"][0]["url"], headers=bearer(registrar))
    assert res.status_code == 200
    assert res.mimetype == "application/pdf"
    assert api.get(f"/api/sessions/{CODE}/documents/..%2Fsecret", headers=bearer(registrar)).status_code == 404
    assert api.get(f"/api/sessions/{CODE}/students", headers=bearer(registrar)).status_code == 403
