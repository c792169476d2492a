"""The JSON API under ``/api/`` for the university's other systems (an AIS such as Platonus or Univer)
and for scripts: sessions, students with their status, decisions, documents, and the actions the
caller's role may take; described by the OpenAPI document at ``/api/openapi.json``.

Callers present a personal API token (``Authorization: Bearer lbt_…``, made on the tokens page).
Cookies are ignored here, so no browser session can be ridden (and there is no CSRF to check).
Every route is behind the same policy table as the page (:func:`lms_bridge.admin.policy.guard`);
the token narrows its owner's roles to its one role.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, request
from sqlalchemy import select

from lms_bridge.admin.policy import guard
from lms_bridge.appstate import state
from lms_bridge.domain.access import POLICY, Scope, allowed
from lms_bridge.store.db import transaction
from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession, StudentRecord

bp = Blueprint("api", __name__, url_prefix="/api")

CODE_PATTERN = "^[A-Za-z0-9_-]{1,80}$"


@bp.before_request
def _authenticate() -> None:
    from lms_bridge.admin.tokens import user_for_api_token

    g.user = None
    g.token_role = None
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return
    with transaction(state().sessionmaker) as db:
        found = user_for_api_token(db, header[7:].strip())
        if found is not None:
            user, role = found
            db.flush()
            db.expunge(user)
            g.user, g.token_role = user, role.value


def _exam(db: Any, code: str) -> ExamSession:
    exam = db.scalar(select(ExamSession).where(ExamSession.code == code))
    if exam is None:
        abort(404)
    return exam  # type: ignore[no-any-return]


def _session_json(exam: ExamSession) -> dict[str, Any]:
    return {"code": exam.code, "title": exam.title, "kind": exam.kind, "status": exam.status,
            "language": exam.language, "timezone": exam.timezone, "starts_at": exam.starts_at.isoformat(),
            "department": exam.department, "released": exam.released_at is not None,
            "sealed_at": exam.sealed_at.isoformat() if exam.sealed_at else None}


# -- reading -------------------------------------------------------------------------------------------
def me() -> Any:
    return {"username": g.user.username, "email": g.user.email, "token_role": g.token_role}


def sessions() -> Any:
    from lms_bridge.admin.policy import current_person, visible_sessions

    person = current_person()
    assert person is not None
    with state().sessionmaker() as db:
        rows = db.scalars(select(ExamSession).where(visible_sessions(person))
                          .order_by(ExamSession.starts_at.desc(), ExamSession.code))
        return {"sessions": [_session_json(e) for e in rows]}


def session_detail(code: str) -> Any:
    roles = g.roles
    with state().sessionmaker() as db:
        exam = _exam(db, code)
        body = _session_json(exam)
        body["roles"] = sorted(str(r) for r in roles)
        # What this caller may do here: the policy table's session actions its roles allow.
        body["actions"] = sorted(a for a, r in POLICY.items() if r.scope is Scope.SESSION and allowed(a, roles))
        return body


def students(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = _exam(db, code)
        rows = db.scalars(select(StudentRecord).where(StudentRecord.session_id == exam.id,
                                                      StudentRecord.active.is_(True))
                          .order_by(StudentRecord.position))
        decided = dict(db.execute(select(DecisionRecord.student_id, DecisionRecord.letter).where(
            DecisionRecord.session_id == exam.id)).all())
        return {"session": code, "students": [
            {"id": s.student_ref, "name": s.name, "email": s.email, "admitted": s.admitted, "status": s.status,
             "ticket": s.ticket_number, "decision": decided.get(s.id)} for s in rows]}


def decisions(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = _exam(db, code)
        rows = db.execute(select(DecisionRecord, StudentRecord.student_ref).join(
            StudentRecord, StudentRecord.id == DecisionRecord.student_id).where(DecisionRecord.session_id == exam.id)
            .order_by(StudentRecord.position)).all()
        # Decisions stay drafts until the chair's release: an outside system gets them afterwards only.
        released = exam.released_at is not None
        return {"session": code, "released": released, "decisions": [
            {"student": ref, "letter": d.letter, "points": d.points, "gpa": d.gpa, "source": d.source,
             "decided_at": d.decided_at.isoformat()} for d, ref in rows] if released else []}


def _document_files(code: str) -> list[Any]:
    with state().sessionmaker() as db:
        sealed = _exam(db, code).status == "sealed"
    folder = state().settings.data_dir / "documents" / code
    return sorted(p for p in folder.iterdir() if p.is_file()) if sealed and folder.is_dir() else []


def documents(code: str) -> Any:
    from flask import url_for

    return {"session": code, "documents": [
        {"name": p.name, "url": url_for("api.document", code=code, name=p.name)} for p in _document_files(code)]}


DOCUMENT_TYPES = {".pdf": "application/pdf",
                  ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def document(code: str, name: str) -> Any:
    from flask import send_file

    # Only a file of the sealed session's listing: a name from the URL never becomes a path by itself.
    found = next((p for p in _document_files(code) if p.name == name), None)
    if found is None:
        abort(404)
    return send_file(found, mimetype=DOCUMENT_TYPES.get(found.suffix, "application/octet-stream"),
                     as_attachment=True, download_name=found.name)


# -- acting ----------------------------------------------------------------------------------------------
def _actor() -> str:
    return f"{g.user.username} (API)"


def draw(code: str) -> Any:
    from datetime import UTC, datetime

    from lms_bridge.domain.kinds import rules_for
    from lms_bridge.results.admission import draw_day, local_today, sitting_days
    from lms_bridge.results.admission import draw_tickets as draw_job

    with transaction(state().sessionmaker) as db:
        exam = _exam(db, code)
        if exam.status != "provisioned":
            return {"error": "conflict", "message": "The session is not provisioned (or already sealed)."}, 409
        if not rules_for(exam.kind).tickets:
            return {"error": "conflict", "message": "This form of the exam has no tickets and no draw."}, 409
        if draw_day(sitting_days(exam), local_today(exam, datetime.now(UTC))) is None:
            return {"error": "conflict", "message": "Today is not a sitting day of this session: the students of "
                    "each day draw on their day."}, 409
        db.add(AuditEvent(session_id=exam.id, actor=_actor(), action="admin.draw_tickets", detail={"via": "api"}))
        session_id = exam.id
    draw_job.enqueue(session_id)
    return {"session": code, "queued": True}, 202


def admit(code: str, ref: str) -> Any:
    """One student admitted (the session page's button, for the sitting board): to the draw, or at a
    test exam to the closed test quiz (``ticket`` is then null)."""
    from lms_bridge.domain.admission import AdmissionError
    from lms_bridge.results.admission import admit_student

    with transaction(state().sessionmaker) as db:
        _exam(db, code)  # 404 for a session the token's owner has no role in
    try:
        done = admit_student(state().queue, code, ref, _actor())
    except LookupError:
        abort(404)
    except AdmissionError as exc:
        return {"error": "conflict", "code": exc.code, "message": str(exc)}, 409
    return {"session": code, "student": ref, "ticket": done.ticket, "state": done.state}, 200


def ratings(code: str) -> Any:
    """A test exam's admission ratings from the university system's export: the file as the request's
    body (CSV or XLSX), or as the multipart field ``ratings``.  All stored, or none with every problem."""
    from lms_bridge.results.ratings import RatingsRefused, import_ratings

    limit = state().settings.limits.file_bytes
    upload = request.files.get("ratings")
    if upload is not None:
        data, name = upload.read(limit + 1), (upload.filename or "ratings")
    else:
        data, name = request.get_data(cache=False)[:limit + 1], request.args.get("name", "ratings")
    name = name.replace("\\", "/").rsplit("/", 1)[-1][:255] or "ratings"
    try:
        with transaction(state().sessionmaker) as db:
            exam = _exam(db, code)
            done = import_ratings(db, exam, data, name, state().settings, actor=_actor())
    except RatingsRefused as refused:
        return {"error": "invalid", "message": "Nothing was stored.",
                "problems": [p.as_dict() for p in refused.problems]}, 422
    return {"session": code, "rows": done.rows, "changed": done.changed}


def release(code: str) -> Any:
    from lms_bridge.domain.examday import ExamDayError
    from lms_bridge.results.jobs import release_now

    try:
        count = release_now(state().queue, code, _actor())
    except LookupError:
        abort(404)
    except ExamDayError as exc:
        return {"error": "conflict", "message": str(exc)}, 409
    return {"session": code, "released": count}


def seal(code: str) -> Any:
    from lms_bridge.results.mail import send_email
    from lms_bridge.results.seal import SealRefused, seal_session

    try:
        with transaction(state().sessionmaker) as db:
            exam = _exam(db, code)
            emails = seal_session(db, exam, actor=_actor(), data_dir=state().settings.data_dir)
            ids = [e.id for e in emails]
    except SealRefused as exc:
        return {"error": "conflict", "message": str(exc)}, 409
    if state().settings.smtp.host:
        for email_id in ids:
            send_email.enqueue(email_id)
    return {"session": code, "sealed": True, "emails": len(ids)}


def openapi() -> Any:
    return openapi_document()


bp.add_url_rule("/openapi.json", "openapi", openapi)
bp.add_url_rule("/me", "me", guard("tokens.manage", me))
bp.add_url_rule("/sessions", "sessions", guard("sessions.list", sessions))
bp.add_url_rule("/sessions/<code>", "session", guard("session.view", session_detail))
bp.add_url_rule("/sessions/<code>/students", "students", guard("session.students", students))
bp.add_url_rule("/sessions/<code>/decisions", "decisions", guard("session.board", decisions))
bp.add_url_rule("/sessions/<code>/documents", "documents", guard("session.documents", documents))
bp.add_url_rule("/sessions/<code>/documents/<name>", "document", guard("session.documents", document))
bp.add_url_rule("/sessions/<code>/draw", "draw", guard("session.draw", draw), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/admit", "admit", guard("student.admit", admit), methods=("POST",))
bp.add_url_rule("/sessions/<code>/ratings", "ratings", guard("session.ratings", ratings), methods=("POST",))
bp.add_url_rule("/sessions/<code>/release", "release", guard("session.release", release), methods=("POST",))
bp.add_url_rule("/sessions/<code>/seal", "seal", guard("session.seal", seal), methods=("POST",))


# -- the OpenAPI document ----------------------------------------------------------------------------------
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "401": _json(_ref("Error"), "No valid API token (missing, unknown, revoked or expired)."),
    "403": _json(_ref("Error"), "The token's role may not take this action; the message says who may."),
}
NOT_FOUND = {"404": _json(_ref("Error"), "No such session, or not one the token's owner has a role in.")}
CONFLICT = {"409": _json(_ref("Error"), "The rules refuse the action now (the message says why).")}
CODE_PARAM = {"name": "code", "in": "path", "required": True, "description": "The session's code.",
              "schema": {"type": "string", "pattern": CODE_PATTERN}}


def _op(summary: str, action: str, ok: dict[str, Any], *, session: bool = True, extra: dict[str, Any] | None = None,
        status: str = "200") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "x-policy-action": action, "security": [{"token": []}],
                          "responses": {status: ok, **ERRORS, **(NOT_FOUND if session else {}), **(extra or {})}}
    if session:
        op["parameters"] = [CODE_PARAM]
    return op


_nullable_str = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}, "message": {"type": "string"},
                             "action": {"type": "string"}, "code": {"type": "string"}}},
    "Session": {"type": "object", "required": ["code", "title", "kind", "status", "starts_at"],
                "properties": {"code": {"type": "string"}, "title": {"type": "string"}, "kind": {"type": "string"},
                               "status": {"type": "string", "enum": ["imported", "provisioned", "sealed"]},
                               "language": {"type": "string"}, "timezone": {"type": "string"},
                               "starts_at": {"type": "string", "format": "date-time"},
                               "department": {"type": "string"}, "released": {"type": "boolean"},
                               "sealed_at": _nullable_str}},
    "SessionDetail": {"allOf": [_ref("Session"), {
        "type": "object", "required": ["roles", "actions"],
        "properties": {"roles": {"type": "array", "items": {"type": "string"}},
                       "actions": {"type": "array", "items": {"type": "string"},
                                   "description": "The actions of the policy table this caller may take here."}}}]},
    "Student": {"type": "object", "required": ["id", "name", "status"],
                "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "email": {"type": "string"},
                               "admitted": {"type": "boolean"}, "status": {"type": "string"},
                               "ticket": {"type": ["integer", "null"]}, "decision": _nullable_str}},
    "Decision": {"type": "object", "required": ["student", "letter"],
                 "properties": {"student": {"type": "string"}, "letter": {"type": "string"},
                                "points": {"type": "number"}, "gpa": {"type": "number"},
                                "source": {"type": "string"}, "decided_at": {"type": "string"}}},
}


def openapi_document() -> dict[str, Any]:
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "lms_bridge API", "version": "1",
                 "description": "Sessions, students, decisions and documents of remote final attestation, and "
                                "the actions a token's role may take. Authenticate with a personal API token: "
                                "`Authorization: Bearer lbt_…`."},
        "servers": [{"url": "/api"}],
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}, "schemas": SCHEMAS},
        "paths": {
            "/me": {"get": _op("Who the token speaks for", "tokens.manage", _json(obj, "The token's owner."),
                               session=False)},
            "/sessions": {"get": _op("The sessions the token's owner has a role in", "sessions.list", _json(
                {"type": "object", "required": ["sessions"],
                 "properties": {"sessions": {"type": "array", "items": _ref("Session")}}}, "Sessions."),
                session=False)},
            "/sessions/{code}": {"get": _op("One session, with the caller's roles and actions", "session.view",
                                            _json(_ref("SessionDetail"), "The session."))},
            "/sessions/{code}/students": {"get": _op("The students with their status", "session.students", _json(
                {"type": "object", "required": ["students"],
                 "properties": {"session": {"type": "string"},
                                "students": {"type": "array", "items": _ref("Student")}}}, "Students."))},
            "/sessions/{code}/decisions": {"get": _op("The decisions, once released", "session.board", _json(
                {"type": "object", "required": ["decisions", "released"],
                 "properties": {"session": {"type": "string"}, "released": {"type": "boolean"},
                                "decisions": {"type": "array", "items": _ref("Decision")}}}, "Decisions."))},
            "/sessions/{code}/documents": {"get": _op("The sealed session's documents", "session.documents", _json(
                {"type": "object", "required": ["documents"],
                 "properties": {"session": {"type": "string"}, "documents": {"type": "array", "items": {
                     "type": "object", "properties": {"name": {"type": "string"}, "url": {"type": "string"}}}}}},
                "Documents."))},
            "/sessions/{code}/documents/{name}": {"get": {
                **_op("One document of the sealed session", "session.documents", {
                    "description": "The file.",
                    "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                for t in (*DOCUMENT_TYPES.values(), "application/octet-stream")}}),
                "parameters": [CODE_PARAM, {"name": "name", "in": "path", "required": True,
                                            "schema": {"type": "string", "pattern": "^[^/]{1,200}$"}}]}},
            "/sessions/{code}/draw": {"post": _op("Start the ticket draw", "session.draw",
                                                  _json(obj, "Queued."), extra=CONFLICT, status="202")},
            "/sessions/{code}/students/{ref}/admit": {"post": {
                **_op("Admit one student to the draw: the verifiable draw gives the ticket, which opens in Moodle "
                      "for that student alone (a test exam: the closed test quiz opens for that student, no "
                      "ticket)", "student.admit",
                      _json({"type": "object", "required": ["session", "student", "ticket", "state"],
                             "properties": {"session": {"type": "string"}, "student": {"type": "string"},
                                            "ticket": {"type": ["integer", "null"]},
                                            "state": {"type": "string"}}},
                            "Admitted; the ticket drawn."), extra=CONFLICT),
                "parameters": [CODE_PARAM, {"name": "ref", "in": "path", "required": True,
                                            "description": "The student's id in the session file.",
                                            "schema": {"type": "string", "pattern": "^[^/]{1,64}$"}}]}},
            "/sessions/{code}/ratings": {"post": {
                **_op("Store a test exam's admission ratings from the university system's export (CSV or XLSX: the "
                      "student's ID number or e-mail, and the rating 0-60): all of them, or none with every "
                      "problem's file, row and column", "session.ratings",
                      _json({"type": "object", "required": ["session", "rows", "changed"],
                             "properties": {"session": {"type": "string"}, "rows": {"type": "integer"},
                                            "changed": {"type": "array", "items": obj}}}, "Stored."),
                      extra={"422": {"description": "Nothing was stored: the problems, each with its row.",
                                     "content": {"application/json": {"schema": obj}}}}),
                # The file in the multipart field "ratings" (a script may also send the file itself as
                # the body, with ?name=FILE for the problems' words).
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {"type": "object", "properties": {
                        "ratings": {"type": "string", "format": "binary"}}}}}}}},
            "/sessions/{code}/release": {"post": _op("Record the chair's release of the results",
                                                     "session.release", _json(obj, "Released."), extra=CONFLICT)},
            "/sessions/{code}/seal": {"post": _op("Seal the session", "session.seal", _json(obj, "Sealed."),
                                                  extra=CONFLICT)},
        },
    }
