"""The admin page's routes (the handlers are in :mod:`.views`).

Every route except sign-in, the language switch and the static files requires a signed-in user
with a role that the policy table allows (:func:`lms_bridge.admin.policy.guard`); ``tests/admin``
walks the URL map to prove it.
"""

from __future__ import annotations

from flask import Blueprint

from lms_bridge.admin import appeals_view, board_view, views
from lms_bridge.admin.policy import Refused, guard

bp = Blueprint("admin", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

# Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.logout", "admin.set_language", "admin.static",
                              "admin.google_login", "admin.google_callback"})

bp.before_app_request(views.load_user)
bp.app_context_processor(views.template_context)
for _code in (400, 403, 404, 405, 413, 500):
    bp.app_errorhandler(_code)(views.error_page)
bp.app_errorhandler(429)(views.too_many_attempts)
bp.app_errorhandler(Refused)(views.refused)

bp.add_url_rule("/login", "login", views.login, methods=("GET", "POST"))
bp.add_url_rule("/logout", "logout", views.logout, methods=("POST",))
bp.add_url_rule("/login/google", "google_login", views.google_login)
bp.add_url_rule("/login/google/callback", "google_callback", views.google_callback)
bp.add_url_rule("/language", "set_language", views.set_language, methods=("POST",))

# Every other route is behind the policy table (lms_bridge.domain.access.POLICY): sign-in first,
# then the person's roles.  One line per route; a new route names its action here.
bp.add_url_rule("/", "index", guard("sessions.list", views.index))
bp.add_url_rule("/sessions", "sessions", guard("sessions.list", views.sessions))
bp.add_url_rule("/sessions/upload", "upload", guard("sessions.import", views.upload), methods=("POST",))
bp.add_url_rule("/sessions/<code>", "session_page", guard("session.view", views.session_page))
bp.add_url_rule("/sessions/<code>/journal", "journal_page", guard("session.board", views.journal_page))
bp.add_url_rule("/sessions/<code>/students.json", "students_json", guard("session.students", views.students_json))
bp.add_url_rule("/sessions/<code>/provision", "provision", guard("session.provision", views.provision),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/runs/<int:run_id>", "run_page", guard("session.board", views.run_page))
bp.add_url_rule("/sessions/<code>/runs/<int:run_id>.json", "run_json", guard("session.board", views.run_json))

bp.add_url_rule("/sessions/<code>/identified", "identify_commission",
                guard("session.identify_commission", views.identify_commission), methods=("POST",))
bp.add_url_rule("/sessions/<code>/draw", "draw_tickets", guard("session.draw", views.draw_tickets), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/admit", "admit", guard("student.admit", views.admit),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/close-vote", "close_vote",
                guard("student.close_vote", views.close_vote), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/exception", "record_exception",
                guard("student.exception", views.record_exception), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/commission-decision", "commission_decision",
                guard("student.commission_decision", views.commission_decision), methods=("POST",))
# The forms of the exam: a test exam's scores and lost connections, a defense's plagiarism check.
bp.add_url_rule("/sessions/<code>/test/scores", "test_scores", guard("session.test_scores", views.quiz_action),
                methods=("POST",), defaults={"action": "scores"})
bp.add_url_rule("/sessions/<code>/students/<ref>/test/reconnect", "test_reconnect",
                guard("student.test_reconnect", views.quiz_action), methods=("POST",), defaults={"action": "reconnect"})
bp.add_url_rule("/sessions/<code>/students/<ref>/plagiarism", "plagiarism",
                guard("student.plagiarism", views.plagiarism), methods=("POST",))
bp.add_url_rule("/sessions/<code>/ratings", "ratings", guard("session.ratings", views.import_ratings),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/release", "release", guard("session.release", views.release), methods=("POST",))
bp.add_url_rule("/sessions/<code>/sign-off", "sign_off", guard("session.sign_off", views.sign_off),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/seal", "seal", guard("session.seal", views.seal), methods=("POST",))
bp.add_url_rule("/sessions/<code>/documents", "documents", guard("session.documents", views.documents))
bp.add_url_rule("/sessions/<code>/documents/<name>", "document",
                guard("session.documents", views.document))

bp.add_url_rule("/sessions/<code>/audit", "audit_page", guard("session.audit", views.audit_page))
bp.add_url_rule("/sessions/<code>/audit.csv", "audit_csv", guard("session.audit", views.audit_csv))
bp.add_url_rule("/audit", "site_audit_page", guard("audit.view_all", views.site_audit_page))
bp.add_url_rule("/audit.csv", "site_audit_csv", guard("audit.view_all", views.site_audit_csv))

bp.add_url_rule("/tokens", "tokens_page", guard("tokens.manage", views.tokens_page))
bp.add_url_rule("/tokens/new", "create_token", guard("tokens.manage", views.create_token), methods=("POST",))
bp.add_url_rule("/tokens/<int:token_id>/revoke", "revoke_token", guard("tokens.manage", views.revoke_token),
                methods=("POST",))

# Appeals (lms_bridge.admin.appeals_view).
_appeal = "/sessions/<code>/appeals/<int:appeal_id>"
bp.add_url_rule("/sessions/<code>/appeals", "appeals_page", guard("appeals.view", appeals_view.appeals_page))
bp.add_url_rule("/sessions/<code>/appeals.json", "appeals_json", guard("appeals.view", appeals_view.appeals_json))
bp.add_url_rule("/sessions/<code>/appeals/read", "sync_appeals",
                guard("appeals.manage", appeals_view.sync_appeals), methods=("POST",))
bp.add_url_rule(f"{_appeal}/hearing", "appeal_hearing", guard("appeals.manage", appeals_view.schedule_hearing),
                methods=("POST",))
bp.add_url_rule(f"{_appeal}/count", "appeal_count", guard("appeals.manage", appeals_view.count_votes),
                methods=("POST",))
bp.add_url_rule(f"{_appeal}/answer", "appeal_answer", guard("appeals.manage", appeals_view.answer),
                methods=("POST",))
bp.add_url_rule(f"{_appeal}/apply", "appeal_apply", guard("appeals.apply", appeals_view.apply),
                methods=("POST",))

# The sitting board (lms_bridge.admin.board_view): the secretary runs it; the chair and the head of
# department watch it.  Each of the secretary's steps is a route (and a policy line) of its own; the
# board's close-vote, decision and exception forms post to the student routes above.
bp.add_url_rule("/sessions/<code>/board", "board_page", guard("board.view", board_view.board_page))
bp.add_url_rule("/sessions/<code>/board.json", "board_json", guard("board.view", board_view.board_json))
bp.add_url_rule("/sessions/<code>/board/links", "board_links", guard("board.links", board_view.set_links),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/board/students/<ref>/upload", "board_upload",
                guard("board.upload", board_view.upload_on_behalf), methods=("POST",))
bp.add_url_rule("/sessions/<code>/board/students/<ref>/files/<name>", "board_file",
                guard("board.view", board_view.uploaded_file))
for _step, _action in board_view.STEP_POLICY.items():
    bp.add_url_rule(f"/sessions/<code>/board/students/<ref>/{_step.value}", f"board_{_step.value}",
                    guard(_action, board_view.board_action), defaults={"action": _step.value}, methods=("POST",))

bp.add_url_rule("/outbox", "outbox", guard("outbox.view", views.outbox))
bp.add_url_rule("/outbox/<int:email_id>/attachments/<int:index>", "outbox_attachment",
                guard("outbox.view", views.outbox_attachment))


@bp.app_template_filter("when")
def when(value: object, tz: str = "UTC", fmt: str = "medium") -> str:
    """A UTC datetime shown in ``tz`` (the session's time zone), in the page's language."""
    from datetime import datetime

    from babel.dates import format_datetime
    from flask_babel import get_locale

    from lms_bridge.admin.queries import local

    if isinstance(value, str) and value:
        # The students' JSON carries ISO strings; the page shows the same values.
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return ""
    if not isinstance(value, datetime):
        return ""
    shown = local(value, tz)
    assert shown is not None
    return format_datetime(shown, fmt, tzinfo=shown.tzinfo, locale=get_locale() or "en")
