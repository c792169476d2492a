"""The admin page's routes (the handlers are in :mod:`.views`).

Every route except sign-in, the language switch and the static files requires a signed-in user;
``tests/admin`` walks the URL map to prove it.
"""

from __future__ import annotations

from flask import Blueprint

from lms_bridge.admin import appeals_view, views
from lms_bridge.admin.auth import login_required

bp = Blueprint("admin", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

# Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.logout", "admin.set_language", "admin.static"})

bp.before_app_request(views.load_user)
bp.app_context_processor(views.template_context)
for _code in (400, 403, 404, 405, 413, 500):
    bp.app_errorhandler(_code)(views.error_page)
bp.app_errorhandler(429)(views.too_many_attempts)

bp.add_url_rule("/login", "login", views.login, methods=("GET", "POST"))
bp.add_url_rule("/logout", "logout", views.logout, methods=("POST",))
bp.add_url_rule("/language", "set_language", views.set_language, methods=("POST",))

bp.add_url_rule("/", "index", login_required(views.index))
bp.add_url_rule("/sessions", "sessions", login_required(views.sessions))
bp.add_url_rule("/sessions/upload", "upload", login_required(views.upload), methods=("POST",))
bp.add_url_rule("/sessions/<code>", "session_page", login_required(views.session_page))
bp.add_url_rule("/sessions/<code>/journal", "journal_page", login_required(views.journal_page))
bp.add_url_rule("/sessions/<code>/students.json", "students_json", login_required(views.students_json))
bp.add_url_rule("/sessions/<code>/provision", "provision", login_required(views.provision), methods=("POST",))
bp.add_url_rule("/sessions/<code>/runs/<int:run_id>", "run_page", login_required(views.run_page))
bp.add_url_rule("/sessions/<code>/runs/<int:run_id>.json", "run_json", login_required(views.run_json))

bp.add_url_rule("/sessions/<code>/draw", "draw_tickets", login_required(views.draw_tickets), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/close-vote", "close_vote", login_required(views.close_vote),
                methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/exception", "record_exception",
                login_required(views.record_exception), methods=("POST",))
bp.add_url_rule("/sessions/<code>/students/<ref>/commission-decision", "commission_decision",
                login_required(views.commission_decision), methods=("POST",))
bp.add_url_rule("/sessions/<code>/release", "release", login_required(views.release), methods=("POST",))
bp.add_url_rule("/sessions/<code>/seal", "seal", login_required(views.seal), methods=("POST",))

# Appeals (lms_bridge.admin.appeals_view).
_appeal = "/sessions/<code>/appeals/<int:appeal_id>"
bp.add_url_rule("/sessions/<code>/appeals", "appeals_page", login_required(appeals_view.appeals_page))
bp.add_url_rule("/sessions/<code>/appeals.json", "appeals_json", login_required(appeals_view.appeals_json))
bp.add_url_rule("/sessions/<code>/appeals/read", "sync_appeals", login_required(appeals_view.sync_appeals),
                methods=("POST",))
bp.add_url_rule(f"{_appeal}/hearing", "appeal_hearing", login_required(appeals_view.schedule_hearing),
                methods=("POST",))
bp.add_url_rule(f"{_appeal}/count", "appeal_count", login_required(appeals_view.count_votes), methods=("POST",))
bp.add_url_rule(f"{_appeal}/answer", "appeal_answer", login_required(appeals_view.answer), methods=("POST",))
bp.add_url_rule(f"{_appeal}/apply", "appeal_apply", login_required(appeals_view.apply), methods=("POST",))

bp.add_url_rule("/outbox", "outbox", login_required(views.outbox))
bp.add_url_rule("/outbox/<int:email_id>/attachments/<int:index>", "outbox_attachment",
                login_required(views.outbox_attachment))


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
