"""The admin page through Flask's test client: sign-in, the guard on every route, upload, provisioning,
progress JSON, language switch and the outbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from lms_bridge.admin.blueprint import PUBLIC_ENDPOINTS
from lms_bridge.app import state
from lms_bridge.sessionfile import read_session
from lms_bridge.store.db import transaction
from lms_bridge.store.models import (
    AuditEvent,
    ExamSession,
    OutboxEmail,
    ProvisioningRun,
    User,
)

from .conftest import PASSWORD, SAMPLE_YAML

SAMPLE_ARGS = {"code": "FA-2026-X", "run_id": 1, "email_id": 1, "index": 0, "ref": "210103041", "name": "protocol.pdf",
               "token_id": 1, "appeal_id": 1}


def _count(app: Flask, model: Any) -> int:
    with state(app).sessionmaker() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _guarded_rules(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or not rule.endpoint.startswith("admin."):
            continue
        url = rule.build({k: v for k, v in SAMPLE_ARGS.items() if k in rule.arguments})[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, url))
    return out


def test_every_admin_route_requires_sign_in(app: Flask, client: FlaskClient) -> None:
    rules = _guarded_rules(app)
    # The walk must see the pages it is meant to protect, or it proves nothing.
    assert {("GET", "/sessions"), ("POST", "/sessions/upload"), ("POST", "/sessions/FA-2026-X/provision"),
            ("GET", "/sessions/FA-2026-X/runs/1.json"), ("GET", "/outbox"), ("POST", "/sessions/FA-2026-X/seal"),
            ("POST", "/sessions/FA-2026-X/students/210103041/close-vote")} <= set(rules)
    for method, url in rules:
        res = client.open(url, method=method)
        if url.endswith(".json"):
            assert res.status_code == 401, (method, url)
        else:
            assert res.status_code == 302, (method, url)
            assert res.location.startswith("/login?next="), (method, url)
    assert _count(app, ProvisioningRun) == 0


def test_sign_in_and_out(client: FlaskClient) -> None:
    res = client.post("/login", data={"username": "Secretary", "password": PASSWORD, "next": "/outbox"})
    assert res.status_code == 302
    assert res.location == "/outbox"
    assert client.get("/sessions").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/sessions").status_code == 302


@pytest.mark.parametrize("username", ["secretary", "nobody"])
def test_failed_sign_in_reveals_nothing(client: FlaskClient, username: str) -> None:
    res = client.post("/login", data={"username": username, "password": "wrong password"})
    assert res.status_code == 401
    page = res.get_data(as_text=True)
    assert "The username or password is not right." in page
    assert "nobody" not in page.replace('value="nobody"', "")
    assert client.get("/sessions").status_code == 302


def test_next_cannot_leave_the_site(client: FlaskClient) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        res = client.post("/login", data={"username": "secretary", "password": PASSWORD, "next": target})
        assert res.location == "/sessions", target
        client.post("/logout")


def test_disabled_account_is_signed_out(app: Flask, signed_in: FlaskClient) -> None:
    with transaction(state(app).sessionmaker) as db:
        db.scalar(select(User).where(User.username == "secretary")).is_active = False
    assert signed_in.get("/sessions").status_code == 302


def test_upload_with_problems_lists_them_and_stores_nothing(app: Flask, upload: Any) -> None:
    text = SAMPLE_YAML.read_text(encoding="utf-8")
    broken = text.replace("role: chair", "role: boss", 1).encode()
    assert broken != text.encode()
    res = upload(broken, "sample-bad.yaml")
    assert res.status_code == 422
    page = res.get_data(as_text=True)
    _spec, problems = read_session(broken, "sample-bad.yaml")
    assert problems
    from markupsafe import escape

    from lms_bridge.i18n import use_locale

    with use_locale("en"):  # the page's language in these tests
        for p in problems:  # the same words as `lms-bridge check`: file, place, field, message
            assert str(escape(p.message)) in page
            assert str(escape(p.location.describe())) in page
            if p.field:
                assert f"<code>{escape(p.field)}</code>" in page
    assert "sample-bad.yaml" in page
    assert "nothing was stored" in page
    assert _count(app, ExamSession) == 0


def test_upload_rejects_other_files(app: Flask, upload: Any) -> None:
    res = upload(b"hello", "notes.txt")
    assert res.status_code == 400
    assert "Upload a .yaml, .yml or .xlsx file." in res.get_data(as_text=True)
    assert _count(app, ExamSession) == 0


def test_upload_sample_then_reupload(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    res = upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml")
    assert res.status_code == 302
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        code, n_students, commitment = exam.code, len(exam.students), exam.draw_commitment
    assert res.location == f"/sessions/{code}"
    page = signed_in.get(res.location).get_data(as_text=True)
    assert "imported" in page
    assert commitment in page
    assert page.count("data-student=") == n_students
    listing = signed_in.get("/sessions").get_data(as_text=True)
    assert code in listing
    res = upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml")
    assert res.status_code == 302
    assert "already up to date" in signed_in.get(res.location).get_data(as_text=True)
    assert _count(app, ExamSession) == 1


def _imported(app: Flask, upload: Any) -> str:
    assert upload(SAMPLE_YAML.read_bytes(), "sample-session.yaml").status_code == 302
    with state(app).sessionmaker() as db:
        return str(db.scalar(select(ExamSession.code)))


def test_provision_button_enqueues_a_run(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="provision-button"' in page
    assert f'action="/sessions/{code}/provision"' in page
    res = signed_in.post(f"/sessions/{code}/provision")
    assert res.status_code == 302
    assert res.location == f"/sessions/{code}#run"
    with state(app).sessionmaker() as db:
        runs = list(db.scalars(select(ProvisioningRun)))
        assert len(runs) == 1
        assert runs[0].trigger == "admin"
        assert runs[0].status == "queued"
        assert next(s.name for s in runs[0].steps) == "core.draw_commitment"
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "admin.provision")).actor == "secretary"
        run_id = runs[0].id
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert f'data-run-url="/sessions/{code}/runs/{run_id}.json"' in page


def test_progress_json_shape(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    signed_in.post(f"/sessions/{code}/provision")
    with state(app).sessionmaker() as db:
        run_id = db.scalar(select(ProvisioningRun.id))
    data = signed_in.get(f"/sessions/{code}/runs/{run_id}.json").get_json()
    assert {"id", "session", "status", "status_label", "finished", "created", "reused", "error", "retryable",
            "progress", "summary", "steps", "api_calls"} <= set(data)
    assert data["id"] == run_id
    assert data["session"] == code
    assert (data["status"], data["finished"], data["retryable"]) == ("queued", False, False)
    assert data["progress"] == {"done": 0, "total": len(data["steps"])}
    assert data["steps"]
    first = data["steps"][0]
    assert {"name", "title", "status", "status_label", "created", "reused", "error"} <= set(first)
    assert first["name"] == "core.draw_commitment"
    assert first["title"] == "Check the ticket draw commitment"  # the translated title, not the name
    assert first["status"] == "pending"
    assert first["status_label"] == "Waiting"
    # While a run is queued a second click does not queue another.
    signed_in.post(f"/sessions/{code}/provision")
    assert _count(app, ProvisioningRun) == 1

    # The worker reports a failure: the JSON and the page say it in plain words, with Retry.
    with transaction(state(app).sessionmaker) as db:
        run = db.get(ProvisioningRun, run_id)
        run.steps[0].status, run.steps[0].created = "done", 1
        run.steps[1].status, run.steps[1].error = "failed", "Google refused the service account's key."
        for step in run.steps[2:]:
            step.status = "skipped"
        run.status, run.error = "failed", "Google refused the service account's key."
    data = signed_in.get(f"/sessions/{code}/runs/{run_id}.json").get_json()
    assert (data["status"], data["finished"], data["retryable"]) == ("failed", True, True)
    assert data["created"] == 1
    assert data["progress"]["done"] == data["progress"]["total"]
    assert data["steps"][1]["error"] == "Google refused the service account's key."
    page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert 'id="retry-button"' in page
    assert "Google refused the service account" in page
    assert "data-retry hidden" not in page
    assert signed_in.post(f"/sessions/{code}/provision").status_code == 302  # Retry = a new run
    assert _count(app, ProvisioningRun) == 2
    assert signed_in.get(f"/sessions/{code}/runs/{run_id + 99}.json").status_code == 404
    assert signed_in.get(f"/sessions/NOPE/runs/{run_id}.json").status_code == 404


def test_students_json(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    code = _imported(app, upload)
    data = signed_in.get(f"/sessions/{code}/students.json").get_json()
    assert data["session"] == code
    students = data["students"]
    assert students
    assert all({"id", "name", "status", "status_label", "ticket", "decision"} <= set(s)
                            for s in students)
    not_admitted = [s for s in students if not s["admitted"]]
    assert not_admitted
    assert all(s["status"] == "not_admitted" and s["admission_note"] for s in not_admitted)


def test_language_switch(app: Flask, signed_in: FlaskClient) -> None:
    assert "Attestation sessions" in signed_in.get("/sessions").get_data(as_text=True)
    res = signed_in.post("/language", data={"language": "kk", "next": "/sessions"})
    assert res.status_code == 302
    assert res.location == "/sessions"
    page = signed_in.get("/sessions").get_data(as_text=True)
    assert "Аттестаттау сессиялары" in page
    assert '<html lang="kk">' in page
    with state(app).sessionmaker() as db:  # remembered on the profile for the next sign-in
        assert db.scalar(select(User.language).where(User.username == "secretary")) == "kk"
    signed_in.post("/language", data={"language": "ru", "next": "/sessions"})
    assert "Сессии аттестации" in signed_in.get("/sessions").get_data(as_text=True)
    signed_in.post("/language", data={"language": "xx", "next": "/sessions"})
    assert "Сессии аттестации" in signed_in.get("/sessions").get_data(as_text=True)


def test_language_from_browser_before_sign_in(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9"}).get_data(as_text=True)
    assert "Вход" in page
    page = client.get("/login", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Sign in" in page  # the configured default (en in these tests)


def test_outbox_lists_mail_and_serves_only_data_dir_files(app: Flask, signed_in: FlaskClient,
                                                          tmp_path: Path) -> None:
    data_dir = state(app).settings.data_dir
    (data_dir / "documents").mkdir(parents=True, exist_ok=True)
    pdf = data_dir / "documents" / "protocol-1.pdf"
    pdf.write_bytes(b"%PDF-1.4 test")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the page")
    with transaction(state(app).sessionmaker) as db:
        db.add(OutboxEmail(recipient="chair@example.kz", subject="Хаттама / Протокол", body="Құрметті төраға",
                           attachments=[{"filename": "protocol-1.pdf", "path": str(pdf),
                                         "mimetype": "application/pdf"},
                                        {"filename": "x.txt", "path": str(outside), "mimetype": "text/plain"}]))
    page = signed_in.get("/outbox").get_data(as_text=True)
    assert "Хаттама / Протокол" in page
    assert "chair@example.kz" in page
    assert "protocol-1.pdf" in page
    res = signed_in.get("/outbox/1/attachments/0")
    assert res.status_code == 200
    assert res.data == b"%PDF-1.4 test"
    assert "attachment" in res.headers["Content-Disposition"]
    assert signed_in.get("/outbox/1/attachments/1").status_code == 404
    assert signed_in.get("/outbox/1/attachments/2").status_code == 404


def test_healthz_and_security_headers(client: FlaskClient) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.get_json() == {"status": "ok"}
    res = client.get("/login")
    assert "script-src 'self'" in res.headers["Content-Security-Policy"]
    assert res.headers["X-Frame-Options"] == "DENY"
    cookie = client.get_cookie("lms_bridge_session")
    assert cookie is None or cookie.http_only


def test_error_pages_speak_the_page_language(app: Flask, signed_in: FlaskClient) -> None:
    res = signed_in.get("/sessions/NO-SUCH-SESSION")
    assert res.status_code == 404
    assert "There is nothing at this address" in res.get_data(as_text=True)
    signed_in.post("/language", data={"language": "ru", "next": "/sessions"})
    res = signed_in.get("/sessions/NO-SUCH-SESSION")
    assert "Не найдено" in res.get_data(as_text=True)
    assert signed_in.get("/sessions/NO-SUCH-SESSION/students.json").get_json() == {"error": "Not Found"}
    big = b"x" * (10 * 1024 * 1024 + 1)
    import io

    res = signed_in.post("/sessions/upload", data={"file": (io.BytesIO(big), "huge.yaml")},
                         content_type="multipart/form-data")
    assert res.status_code == 413
    assert "10 МБ" in res.get_data(as_text=True)
    assert _count(app, ExamSession) == 0


def test_upload_the_workbook(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    workbook = SAMPLE_YAML.with_name("sample-session.xlsx")
    res = upload(workbook.read_bytes(), workbook.name)
    assert res.status_code == 302
    with state(app).sessionmaker() as db:
        exam = db.scalar(select(ExamSession))
        assert exam.source_name == "sample-session.xlsx"
        code = exam.code
    signed_in.post(f"/sessions/{code}/provision")
    with state(app).sessionmaker() as db:
        run_id = db.scalar(select(ProvisioningRun.id))
    page = signed_in.get(f"/sessions/{code}/runs/{run_id}").get_data(as_text=True)
    assert f'data-run-url="/sessions/{code}/runs/{run_id}.json"' in page
    assert 'http-equiv="refresh"' in page  # without JavaScript a queued run still shows its progress


def test_reimport_that_contradicts_a_draw_is_refused(app: Flask, upload: Any) -> None:
    from datetime import UTC, datetime

    from lms_bridge.store.models import StudentRecord

    text = SAMPLE_YAML.read_text(encoding="utf-8")
    assert upload(text.encode(), "sample-session.yaml").status_code == 302
    with transaction(state(app).sessionmaker) as db:
        student = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "210103041"))
        student.ticket_number, student.ticket_drawn_at = 3, datetime.now(UTC)
    unadmitted = text.replace('s.amanov@stud.univ.edu.kz\n    admitted: true',
                              's.amanov@stud.univ.edu.kz\n    admitted: false\n    admission_note: "қарызы бар"', 1)
    assert unadmitted != text
    res = upload(unadmitted.encode(), "sample-session.yaml")
    assert res.status_code == 409
    assert 'id="problems"' in res.get_data(as_text=True)
    with state(app).sessionmaker() as db:  # nothing written
        assert db.scalar(select(StudentRecord.admitted).where(StudentRecord.student_ref == "210103041"))


def test_journal_links(app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from lms_bridge.store.models import JournalEntry

    code = _imported(app, upload)
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        db.add_all([
            JournalEntry(session_id=exam.id, step="google.forms", key="forms.form:1", external_id="f1",
                         data={"url": "https://docs.google.com/forms/d/f1/viewform"}),
            JournalEntry(session_id=exam.id, step="moodle.connect", key="moodle.site", external_id="site",
                         data={"siteurl": "https://moodle.univ.edu.kz"}),
            JournalEntry(session_id=exam.id, step="moodle.course", key="moodle.course", external_id="42"),
            JournalEntry(session_id=exam.id, step="moodle.tickets", key="moodle.tickets", external_id="7",
                         data={"cmid": "9"}),
            JournalEntry(session_id=exam.id, step="x", key="secret.thing", external_id="x",
                         data={"url": "javascript:alert(1)"}),
        ])
    page = signed_in.get(f"/sessions/{code}/journal").get_data(as_text=True)
    assert 'href="https://docs.google.com/forms/d/f1/viewform"' in page
    assert 'href="https://moodle.univ.edu.kz/course/view.php?id=42"' in page
    assert 'href="https://moodle.univ.edu.kz/mod/quiz/view.php?id=9"' in page
    assert "javascript:" not in page


def test_the_journal_is_not_on_the_session_page_but_a_page_at_a_time_behind_a_link(
        app: Flask, upload: Any, signed_in: FlaskClient) -> None:
    from lms_bridge.admin.queries import JOURNAL_PAGE_SIZE
    from lms_bridge.store.models import JournalEntry

    code = _imported(app, upload)
    total = 2 * JOURNAL_PAGE_SIZE + 7
    with transaction(state(app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        db.add_all([JournalEntry(session_id=exam.id, step="google.forms", key=f"forms.form:row{n:04d}",
                                 external_id=f"form-{n:04d}") for n in range(total)])
    session_page = signed_in.get(f"/sessions/{code}").get_data(as_text=True)
    assert "forms.form:row" not in session_page
    assert f'href="/sessions/{code}/journal"' in session_page
    assert f"{total} resources made by provisioning" in session_page

    seen: list[str] = []
    page, html = 1, signed_in.get(f"/sessions/{code}/journal").get_data(as_text=True)
    while True:
        rows = re.findall(r"<code>forms\.form:(row\d{4})</code>", html)
        assert 0 < len(rows) <= JOURNAL_PAGE_SIZE
        seen += rows
        following = re.search(r'rel="next" href="([^"]+)"', html)
        if following is None:
            break
        page += 1
        res = signed_in.get(following.group(1).replace("&amp;", "&"))
        assert res.status_code == 200
        html = res.get_data(as_text=True)
    assert page == 3
    assert seen == [f"row{n:04d}" for n in range(total)]  # every row once, in order
    assert signed_in.get(f"/sessions/{code}/journal?page=4").status_code == 404


def test_queue_down_marks_the_run_failed(app: Flask, upload: Any, signed_in: FlaskClient,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lms_bridge.provisioning import service

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(service.provision_session, "enqueue", refuse)
    code = _imported(app, upload)
    res = signed_in.post(f"/sessions/{code}/provision", follow_redirects=True)
    page = res.get_data(as_text=True)
    assert "Provisioning could not be queued: Error 111" in page
    assert 'id="retry-button"' in page
    with state(app).sessionmaker() as db:
        run = db.scalar(select(ProvisioningRun))
        assert run.status == "failed"
