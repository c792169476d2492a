"""Who may do what, on the admin page: every role against every page and action of one session.

The expected answers are written here from the duties the product promises (README, "Who may do
what"), not read from the policy table, so a wrong line in the table fails this test.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from lms_bridge.app import create_app, state
from lms_bridge.domain.access import POLICY
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.db import transaction
from lms_bridge.store.models import (
    AppealRecord,
    AuditEvent,
    BoardEvent,
    ExamSession,
    OutboxEmail,
    ProvisioningRun,
    StudentRecord,
    User,
)

from .conftest import PASSWORD as ADMIN_PASSWORD
from .conftest import SAMPLE_YAML, _settings

CODE = "FA-2026-6B06102-IS21"
REF = "210103041"
PASSWORD = "role password"

# The people of the sample session, by the e-mail the file gives them, and two who have no part in it.
PEOPLE = {
    "secretary": ("m.tursynbayeva@univ.edu.kz", ""),
    "chair": ("e.zhumabekov@univ.edu.kz", ""),
    "member": ("g.seitkaliyeva@univ.edu.kz", ""),
    "head": ("b.kemelbayev@univ.edu.kz", ""),
    "registrar": ("registrar@univ.edu.kz", ""),
    # The appeal commission (the session file's appeal_commission).
    "appeal_chair": ("n.akhmetov@univ.edu.kz", ""),
    "appeal_member": ("a.serikova@univ.edu.kz", ""),
    "appeal_secretary": ("zh.aliyeva@univ.edu.kz", ""),
    "importer": ("importer@univ.edu.kz", "importer"),
    "outsider": ("someone.else@univ.edu.kz", ""),
    "admin": ("", "administrator"),
}

APPEAL_PEOPLE = {"appeal_chair", "appeal_member", "appeal_secretary"}

# (method, path, who may) for one session not yet sealed.  "-" = 404 for everyone else (not their
# session) is checked separately; here the people of the session are refused with 403.
ROUTES: list[tuple[str, str, set[str]]] = [
    ("GET", f"/sessions/{CODE}", {"admin", "secretary", "chair", "member", "head"}),
    ("GET", f"/sessions/{CODE}/students.json", {"admin", "secretary", "chair", "member", "head"}),
    ("GET", f"/sessions/{CODE}/journal", {"admin", "secretary", "chair", "head"}),
    ("GET", f"/sessions/{CODE}/documents", {"admin", "secretary", "chair", "head"}),
    # Appeals: every appeal of the session is its appeal commission's; the attestation commission's
    # chair and the head follow them; the hearing and the answer are the appeal commission's acts
    # (its secretary or the technical secretary records them); applying the outcome rewrites the
    # attestation's record and stays with the technical secretary.
    ("GET", f"/sessions/{CODE}/appeals", {"admin", "secretary", "chair", "head", *APPEAL_PEOPLE}),
    ("GET", f"/sessions/{CODE}/appeals.json", {"admin", "secretary", "chair", "head", *APPEAL_PEOPLE}),
    ("POST", f"/sessions/{CODE}/appeals/read", {"admin", "secretary", "appeal_secretary"}),
    ("POST", f"/sessions/{CODE}/appeals/{{appeal}}/hearing", {"admin", "secretary", "appeal_secretary"}),
    ("POST", f"/sessions/{CODE}/appeals/{{appeal}}/count", {"admin", "secretary", "appeal_secretary"}),
    ("POST", f"/sessions/{CODE}/appeals/{{appeal}}/answer", {"admin", "secretary", "appeal_secretary"}),
    ("POST", f"/sessions/{CODE}/appeals/{{appeal}}/apply", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/identified", {"admin", "secretary", "head"}),
    ("POST", f"/sessions/{CODE}/provision", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/draw", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/admit", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/test/scores", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/test/reconnect", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/plagiarism", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/ratings", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/close-vote", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/exception", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/commission-decision", {"admin", "secretary", "chair"}),
    ("POST", f"/sessions/{CODE}/release", {"admin", "secretary", "chair"}),
    ("POST", f"/sessions/{CODE}/sign-off", {"chair"}),
    ("POST", f"/sessions/{CODE}/seal", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/students/{REF}/admit", {"admin", "secretary"}),
    # The sitting board: the secretary runs it; the chair and the head of department watch it.
    ("GET", f"/sessions/{CODE}/board", {"admin", "secretary", "chair", "head"}),
    ("GET", f"/sessions/{CODE}/board.json", {"admin", "secretary", "chair", "head"}),
    ("POST", f"/sessions/{CODE}/board/links?day=2026-06-10", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/upload", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/identify", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/admit", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/confirm_receipt", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/start_answer", {"admin", "secretary"}),
    ("POST", f"/sessions/{CODE}/board/students/{REF}/finish_answer", {"admin", "secretary"}),
]
IN_SESSION = {"admin", "secretary", "chair", "member", "head", *APPEAL_PEOPLE}


def _add_people(app: Flask) -> None:
    # A cheap hash: these accounts test roles, not passwords.
    cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    with transaction(state(app).sessionmaker) as db:
        for name, (email, site) in PEOPLE.items():
            if name != "admin":
                db.add(User(username=f"as-{name}", password_hash=cheap, display_name=name, language="en", email=email,
                            site_roles=site))


def _add_appeal(app: Flask) -> int:
    """One appeal filed in the session (with the student's statement), for the appeals' routes."""
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == CODE))
        assert exam is not None
        student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == exam.id,
                                                        StudentRecord.student_ref == REF))
        assert student is not None
        appeal = AppealRecord(session_id=exam.id, student_id=student.id, status="filed",
                              filed_at=datetime(2026, 7, 3, 7, tzinfo=UTC), filed_on=date(2026, 7, 3),
                              closes_on=date(2026, 7, 7), original_letter="C+", original_points=72,
                              statement=[{"title": "STATEMENT-TITLE.pdf", "link": "https://drive.example/statement"}])
        db.add(appeal)
        db.flush()
        return appeal.id


@pytest.fixture(scope="module")
def session_template(data_dir_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The data dir of the sample session uploaded on the page, its people and one appeal, made once
    per module (the upload is the costly part); each test gets a copy, so what one test's actions
    change, the next never sees."""
    data_dir = tmp_path_factory.mktemp("roles-template") / "data"
    shutil.copytree(data_dir_template, data_dir)
    settings = _settings(data_dir)
    app = create_app(settings, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(app).engine)
    try:
        client = app.test_client()
        assert client.post("/login", data={"username": "secretary", "password": ADMIN_PASSWORD}).status_code == 302
        res = client.post("/sessions/upload", data={"file": (io.BytesIO(SAMPLE_YAML.read_bytes()),
                                                             "sample-session.yaml")},
                          content_type="multipart/form-data")
        assert res.status_code == 302, res.get_data(as_text=True)
        _add_people(app)
        appeal_id = _add_appeal(app)
    finally:
        jobqueue.reset()
        state(app).engine.dispose()
    return data_dir, appeal_id


@pytest.fixture
def session_app(tmp_path: Path, session_template: tuple[Path, int]) -> Iterator[Flask]:
    template, appeal_id = session_template
    shutil.copytree(template, tmp_path / "data")
    settings = _settings(tmp_path / "data")
    app = create_app(settings, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(app).engine)
    app.config["TEST_APPEAL_ID"] = appeal_id
    yield app
    jobqueue.reset()
    state(app).engine.dispose()


def sign_in(app: Flask, who: str) -> FlaskClient:
    client = app.test_client()
    if who == "admin":
        res = client.post("/login", data={"username": "secretary", "password": "correct horse battery"})
    else:
        res = client.post("/login", data={"username": f"as-{who}", "password": PASSWORD})
    assert res.status_code == 302, who
    return client


@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_each_role_may_do_what_it_may_and_is_refused_the_rest(session_app: Flask, who: str) -> None:
    client = sign_in(session_app, who)
    for method, path, allowed in ROUTES:
        path = path.replace("{appeal}", str(session_app.config["TEST_APPEAL_ID"]))
        res = client.open(path, method=method)
        # A JSON address is refused in JSON: its message carries the words.
        body = res.get_data(as_text=True)
        if res.is_json and res.status_code == 403:
            body = res.get_json()["message"]
        if who not in IN_SESSION:
            # Not their session: it does not exist for them, and the answer names nobody.
            assert res.status_code == 404, (who, method, path)
            assert "Тұрсынбаева" not in body
        elif who in APPEAL_PEOPLE and path == f"/sessions/{CODE}":
            # The appeal commission sees the session only through its appeals: the session's page
            # sends them to the appeals page.
            assert res.status_code == 302, (who, path, res.status_code)
            assert res.headers["Location"].endswith(f"/sessions/{CODE}/appeals"), who
        elif who in allowed:
            assert res.status_code in (200, 302), (who, method, path, res.status_code)
        else:
            assert res.status_code == 403, (who, method, path, res.status_code)
            # The refusal says who may: the roles, and the people of this session who hold them.
            assert "may do this" in body
            if "secretary" in allowed:
                assert "Тұрсынбаева Мадина Асқарқызы" in body
            if allowed == {"chair"}:
                assert "Жұмабеков Ерлан Серікұлы" in body
            if "appeal_secretary" in allowed:
                assert "Әлиева Жанар Болатқызы" in body


def test_the_list_shows_only_ones_own_sessions(session_app: Flask) -> None:
    other = SAMPLE_YAML.read_text(encoding="utf-8").replace(CODE, "OTHER-2026").replace(
        "g.seitkaliyeva@univ.edu.kz", "someone.else@univ.edu.kz")
    admin = sign_in(session_app, "admin")
    res = admin.post("/sessions/upload", data={"file": (io.BytesIO(other.encode()), "other.yaml")},
                     content_type="multipart/form-data")
    assert res.status_code == 302
    listing = {who: sign_in(session_app, who).get("/sessions").get_data(as_text=True)
               for who in ("admin", "member", "outsider", "importer", "registrar")}
    assert CODE in listing["admin"]
    assert "OTHER-2026" in listing["admin"]
    assert CODE in listing["member"]
    assert "OTHER-2026" not in listing["member"]
    # The outsider of the first session is a member of the second one.
    assert CODE not in listing["outsider"]
    assert "OTHER-2026" in listing["outsider"]
    assert CODE not in listing["importer"]
    assert CODE not in listing["registrar"]  # not sealed yet


def test_a_member_sees_the_student_list_and_own_ballots_only(session_app: Flask) -> None:
    page = sign_in(session_app, "member").get(f"/sessions/{CODE}").get_data(as_text=True)
    assert 'id="students"' in page
    assert 'id="my-ballots"' in page
    for hidden in ('id="sitting"', 'id="tickets"', 'id="commission"', 'id="journal"', 'id="provision-button"',
                   "close-vote", "commission-decision", 'id="draw-button"'):
        assert hidden not in page, hidden
    chair = sign_in(session_app, "chair").get(f"/sessions/{CODE}").get_data(as_text=True)
    assert 'id="release-form"' in chair
    assert 'id="seal-form"' not in chair
    assert 'id="draw-button"' not in chair
    assert 'id="provision-button"' not in chair
    secretary = sign_in(session_app, "secretary").get(f"/sessions/{CODE}").get_data(as_text=True)
    for shown in ('id="seal-form"', 'id="release-form"', 'id="draw-button"', 'id="provision-button"',
                  'id="identify-form"'):
        assert shown in secretary, shown
    head = sign_in(session_app, "head").get(f"/sessions/{CODE}").get_data(as_text=True)
    assert 'id="identify-form"' in head
    assert 'id="seal-form"' not in head


def test_the_head_records_the_identification(session_app: Flask) -> None:
    head = sign_in(session_app, "head")
    res = head.post(f"/sessions/{CODE}/identified", data={"confirm": "yes"}, follow_redirects=True)
    assert "the commission was identified" in res.get_data(as_text=True)
    with state(session_app).sessionmaker() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "commission.identified"))
        assert event is not None
        assert event.actor == "as-head"


def _seal_in_store(app: Flask) -> None:
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession).where(ExamSession.code == CODE))
        exam.status = "sealed"
        folder = state(app).settings.data_dir / "documents" / CODE
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "protocol-1.pdf").write_bytes(b"%PDF-1.4 test")
        db.add(OutboxEmail(session_id=exam.id, recipient="e.zhumabekov@univ.edu.kz", subject="s", body="b",
                           attachments=[{"filename": "protocol-1.pdf", "path": f"documents/{CODE}/protocol-1.pdf",
                                         "mimetype": "application/pdf"}]))


def test_the_registrar_reads_a_sealed_sessions_documents_and_nothing_more(session_app: Flask) -> None:
    registrar = sign_in(session_app, "registrar")
    assert registrar.get(f"/sessions/{CODE}/documents").status_code == 404  # before the seal
    _seal_in_store(session_app)
    assert registrar.get(f"/sessions/{CODE}").status_code == 200
    listing = registrar.get(f"/sessions/{CODE}/documents").get_data(as_text=True)
    assert "protocol-1.pdf" in listing
    res = registrar.get(f"/sessions/{CODE}/documents/protocol-1.pdf")
    assert res.status_code == 200
    assert res.data.startswith(b"%PDF")
    assert registrar.get(f"/sessions/{CODE}/documents/..%2F..%2Fsecret-key").status_code == 404
    page = registrar.get(f"/sessions/{CODE}").get_data(as_text=True)
    assert 'id="documents-button"' in page
    for hidden in ('id="students"', 'id="sitting"', 'id="tickets"', 'id="commission"'):
        assert hidden not in page, hidden
    for method, path in (("POST", f"/sessions/{CODE}/seal"), ("POST", f"/sessions/{CODE}/release"),
                         ("POST", f"/sessions/{CODE}/sign-off"), ("GET", "/outbox"),
                         ("GET", f"/sessions/{CODE}/students.json"), ("GET", f"/sessions/{CODE}/journal"),
                         ("GET", f"/sessions/{CODE}/audit")):
        assert registrar.open(path, method=method).status_code == 403, path
    # The outbox is the secretary's: their sessions' mail only; an administrator sees all of it.
    assert "e.zhumabekov@univ.edu.kz" in sign_in(session_app, "secretary").get("/outbox").get_data(as_text=True)
    assert sign_in(session_app, "chair").get("/outbox").status_code == 403
    chair = sign_in(session_app, "chair")
    res = chair.post(f"/sessions/{CODE}/sign-off", data={"confirm": "yes"}, follow_redirects=True)
    assert "signed off the protocols" in res.get_data(as_text=True)


def test_importing_is_for_importers_and_changing_a_session_for_its_secretary(session_app: Flask) -> None:
    def upload_as(who: str, text: str) -> Any:
        return sign_in(session_app, who).post(
            "/sessions/upload", data={"file": (io.BytesIO(text.encode()), "s.yaml")},
            content_type="multipart/form-data")

    sample = SAMPLE_YAML.read_text(encoding="utf-8")
    # The secretary of the session has no site role to import with.
    assert upload_as("secretary", sample).status_code == 403
    # An importer who is not this session's secretary may not change it.
    res = upload_as("importer", sample)
    assert res.status_code == 403
    assert "already exists" in res.get_data(as_text=True)
    # A new session, imported by an importer who has no role in it: stored, and said so.
    res = upload_as("importer", sample.replace(CODE, "NEW-2026"))
    assert res.status_code == 302
    assert res.location == "/sessions"
    with state(session_app).sessionmaker() as db:
        assert db.scalar(select(ExamSession.id).where(ExamSession.code == "NEW-2026")) is not None
    # Now the secretary is made an importer too: they may re-import their own session.
    with transaction(state(session_app).sessionmaker) as db:
        db.scalar(select(User).where(User.username == "as-secretary")).site_roles = "importer"
    assert upload_as("secretary", sample).status_code == 302


def test_no_action_was_taken_by_a_refused_role(session_app: Flask) -> None:
    for who in ("member", "chair", "head", "outsider"):
        sign_in(session_app, who).post(f"/sessions/{CODE}/provision")
    with state(session_app).sessionmaker() as db:
        assert db.scalar(select(ProvisioningRun.id)) is None


def test_every_guarded_route_names_an_action_of_the_table(app: Flask) -> None:
    from lms_bridge.admin.blueprint import PUBLIC_ENDPOINTS

    for endpoint, view in app.view_functions.items():
        if not endpoint.startswith("admin.") or endpoint in PUBLIC_ENDPOINTS:
            continue
        assert getattr(view, "policy_action", None) in POLICY, endpoint


def test_the_secretary_runs_the_board_the_chair_and_the_head_watch_it(session_app: Flask) -> None:
    secretary = sign_in(session_app, "secretary")
    page = secretary.get(f"/sessions/{CODE}/board").get_data(as_text=True)
    assert 'data-action="identify"' in page
    assert 'id="links-button"' in page
    assert f'href="/sessions/{CODE}/board"' in secretary.get(f"/sessions/{CODE}").get_data(as_text=True)
    for who in ("chair", "head"):
        client = sign_in(session_app, who)
        page = client.get(f"/sessions/{CODE}/board").get_data(as_text=True)
        assert f'id="st-{REF}"' in page, who
        for hidden in ('data-action="identify"', 'id="links-button"', "Upload on the student", "board-action",
                       "exception-form"):
            assert hidden not in page, (who, hidden)
        data = client.get(f"/sessions/{CODE}/board.json").get_json()
        assert all(st["actions"] == [] and not st["may_record_exception"] for st in data["students"]), who
        assert not any(data["may"].values()) or (who == "chair" and data["may"] == {
            "upload": False, "links": False, "close_vote": False, "decide": True})
        # Refused on the server too, and nothing is recorded.
        res = client.post(f"/sessions/{CODE}/board/students/{REF}/identify", data={"confirm": "yes"})
        assert res.status_code == 403, who
        assert f'href="/sessions/{CODE}/board"' in client.get(f"/sessions/{CODE}").get_data(as_text=True)
    with state(session_app).sessionmaker() as db:
        assert db.scalar(select(BoardEvent.id)) is None
    # A member of the commission votes; the board is not theirs.
    member = sign_in(session_app, "member")
    assert member.get(f"/sessions/{CODE}/board").status_code == 403
    assert f'href="/sessions/{CODE}/board"' not in member.get(f"/sessions/{CODE}").get_data(as_text=True)


def test_the_statement_is_for_the_appeal_commission_and_the_secretary_only(session_app: Flask) -> None:
    # 003 §65-67 and the appeals' privacy: the student's statement is read by the appeal commission
    # and the technical secretary; the attestation commission whose grade is appealed, the head and
    # the administrator see the appeal's status and deadline, not the statement.
    appeal = session_app.config["TEST_APPEAL_ID"]
    for who in ("secretary", *sorted(APPEAL_PEOPLE), "chair", "head", "admin"):
        client = sign_in(session_app, who)
        page = client.get(f"/sessions/{CODE}/appeals").get_data(as_text=True)
        assert f'<tr id="appeal-{appeal}"' in page, who
        assert "hearing by" in page, who
        sees = who in ("secretary", *APPEAL_PEOPLE)
        assert ("STATEMENT-TITLE.pdf" in page) is sees, who
        assert ("drive.example/statement" in page) is sees, who
        assert ('data-field="statement"' in page) is sees, who
        # What polls the page never carries the statement, whoever asks.
        data = client.get(f"/sessions/{CODE}/appeals.json")
        assert data.status_code == 200, who
        assert [a["id"] for a in data.get_json()["appeals"]] == [appeal], who
        assert data.get_json()["appeals"][0]["deadline"]["kind"] == "hearing", who
        assert "STATEMENT-TITLE" not in data.get_data(as_text=True), who
        assert "drive.example/statement" not in data.get_data(as_text=True), who
    # The API exposes no appeal: no route under /api/ names appeals (were one added, it must keep
    # the statement to the same people).
    assert not [r.rule for r in session_app.url_map.iter_rules() if r.rule.startswith("/api/") and "appeal" in r.rule]


def test_the_appeal_commission_sees_the_session_only_through_its_appeals(session_app: Flask) -> None:
    for who in sorted(APPEAL_PEOPLE):
        client = sign_in(session_app, who)
        # Their sessions are listed, and the session's page sends them to its appeals.
        assert CODE in client.get("/sessions").get_data(as_text=True), who
        res = client.get(f"/sessions/{CODE}", follow_redirects=True)
        page = res.get_data(as_text=True)
        assert res.request.path == f"/sessions/{CODE}/appeals", who
        assert "STATEMENT-TITLE.pdf" in page, who
        # Nothing of the attestation commission's work: the students, the board, the ballots.
        for path in (f"/sessions/{CODE}/students.json", f"/sessions/{CODE}/board", f"/sessions/{CODE}/board.json",
                     f"/sessions/{CODE}/journal", f"/sessions/{CODE}/documents"):
            assert client.get(path).status_code == 403, (who, path)
        # Only their secretary may record the hearing; none may apply the outcome.
        assert ("Schedule the hearing" in page) is (who == "appeal_secretary"), who
        assert "Apply the outcome" not in page, who
    # An appeal commission's member of another session has no role in this one.
    with transaction(state(session_app).sessionmaker) as db:
        from lms_bridge.store.models import AppealMember

        for row in db.scalars(select(AppealMember).where(AppealMember.email == "a.serikova@univ.edu.kz")):
            row.active = False  # dropped from the appeal commission by a re-import
    assert sign_in(session_app, "appeal_member").get(f"/sessions/{CODE}/appeals").status_code == 404


def test_appeal_roles_come_from_the_appeal_commission_by_email() -> None:
    from lms_bridge.domain.access import Role, allowed, session_roles

    appeal = [("N.Akhmetov@univ.edu.kz", "chair"), ("a.serikova@univ.edu.kz", "member"),
              ("zh.aliyeva@univ.edu.kz", "secretary")]

    def roles(email: str) -> frozenset[Role]:
        return session_roles(email, members=[("m.t@univ.edu.kz", "secretary")], head="", registrar="",
                             sealed=False, appeal=appeal)

    assert roles("n.akhmetov@univ.edu.kz") == {Role.APPEAL_CHAIR}
    assert roles("a.serikova@univ.edu.kz") == {Role.APPEAL_MEMBER}
    assert roles("zh.aliyeva@univ.edu.kz") == {Role.APPEAL_SECRETARY}
    # The appeal commission's secretary is not the session's technical secretary.
    assert Role.SECRETARY not in roles("zh.aliyeva@univ.edu.kz")
    assert roles("m.t@univ.edu.kz") == {Role.SECRETARY}
    for role in (Role.APPEAL_CHAIR, Role.APPEAL_MEMBER, Role.APPEAL_SECRETARY):
        assert allowed("appeals.view", {role}), role
        assert allowed("appeals.statement", {role}), role
        for action in ("session.view", "session.students", "session.board", "board.view", "session.ballots.own",
                       "session.documents", "session.audit", "appeals.apply"):
            assert not allowed(action, {role}), (role, action)
    for role in (Role.CHAIR, Role.HEAD, Role.ADMINISTRATOR, Role.MEMBER, Role.REGISTRAR):
        assert not allowed("appeals.statement", {role}), role
