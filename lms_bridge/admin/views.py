"""The admin page's request handlers.  Thin: reads go through :mod:`.queries`, writes through the
colleagues' services (session-file parsing and import, the provisioning service), and every write is
one transaction (nothing half-written when something fails)."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from lms_bridge.admin import labels, queries
from lms_bridge.admin.appeals_view import appeal_summaries
from lms_bridge.admin.auth import SIGN_IN_KEY, authenticate, end_sign_in, start_sign_in, user_for_token
from lms_bridge.admin.forms import ActionForm, LanguageForm, LoginForm, UploadForm
from lms_bridge.admin.policy import (
    Refused,
    check,
    current_person,
    guarded_session,
    may,
    may_site,
    visible_sessions,
)
from lms_bridge.admin.timetable_view import timetable_rows
from lms_bridge.appstate import LANGUAGE_KEY, state
from lms_bridge.domain.access import Role
from lms_bridge.i18n import LANGUAGES
from lms_bridge.provisioning import service
from lms_bridge.store.db import transaction
from lms_bridge.store.models import (
    AuditEvent,
    DecisionRecord,
    ExamSession,
    OutboxEmail,
    ProvisioningRun,
    StudentRecord,
    User,
)

logger = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never let ?next= send a signed-in user elsewhere."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("admin.sessions")


# -- before every request --------------------------------------------------------------------------
def load_user() -> None:
    if request.blueprint == "api":
        return  # the API authenticates its callers by token (lms_bridge.admin.api), never by cookie
    g.user = None
    if request.blueprint == "webhooks" or request.endpoint == "healthz":
        return  # machine callers: no cookie, and no store round trip on their deadline
    token = session.get(SIGN_IN_KEY)
    if not isinstance(token, str):
        return
    with state().sessionmaker() as db:
        user = user_for_token(db, token)
        if user is not None:
            db.expunge(user)
            g.user = user
        else:  # signed out (perhaps elsewhere), expired, password changed, account disabled
            session.pop(SIGN_IN_KEY, None)


def template_context() -> dict[str, Any]:
    from flask_babel import get_locale

    loc = get_locale()
    return {
        "current_language": str(loc.language) if loc else state().settings.default_language,
        "language_form": LanguageForm(formdata=None, next=request.full_path.rstrip("?")),
        "action_form": ActionForm(formdata=None),
        "languages": [("kk", "Қазақша"), ("ru", "Русский"), ("en", "English")],
        "labels": labels,
        "may": may,
        "may_site": may_site,
    }


# -- sign-in ---------------------------------------------------------------------------------------
def login() -> Any:
    if g.user is not None:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    status = 200
    if form.validate_on_submit():
        # Failed attempts are throttled around this view (auth.install_sign_in_throttle): a 401
        # here costs the address, the name and the site one attempt each.
        with transaction(state().sessionmaker) as db:
            user = authenticate(db, form.username.data or "", form.password.data or "")
            if user is not None:
                db.add(AuditEvent(actor=user.username, action="admin.sign_in"))
                token = start_sign_in(db, user, current_app.permanent_session_lifetime)
                user_language = user.language
        if user is None:
            logger.info("failed sign-in")  # no name: a typed password lands in the name field too
            flash(str(labels.SIGN_IN_FAILED), "error")
            status = 401
        else:
            return _signed_in(token, user_language, form.next.data)
    elif request.method == "POST":
        status = 400
    return render_template("admin/login.html", form=form, google_signin=_google_config() is not None), status


def _signed_in(token: str, user_language: str, target: str | None) -> Any:
    language = session.get(LANGUAGE_KEY)
    # A fresh session on sign-in, so a cookie planted before it is worth nothing after.
    session.clear()
    session.permanent = True
    session[SIGN_IN_KEY] = token
    session[LANGUAGE_KEY] = language if language in LANGUAGES else user_language
    return redirect(_safe_next(target))


# -- sign in with Google (OpenID Connect) ----------------------------------------------------------------
GOOGLE_NEXT_KEY = "google_next"


def _google_config() -> Any:
    from lms_bridge.admin.google_signin import signin_config
    from lms_bridge.config import ConfigError

    try:
        return signin_config(state().settings)
    except ConfigError:  # sandbox mode without a sandbox to reach: the button is not offered
        logger.warning("Google sign-in is configured but no identity provider can be reached")
        return None


def google_login() -> Any:
    """Off to Google (or the sandbox) with state, nonce and PKCE; back at google_callback."""
    from lms_bridge.admin.google_signin import client

    config = _google_config()
    if config is None:
        abort(404)
    session[GOOGLE_NEXT_KEY] = _safe_next(request.args.get("next"))
    # `hd` only narrows Google's account chooser; the claim is checked on the way back.
    hint = {"hd": config.domains[0]} if len(config.domains) == 1 else {}
    return client(current_app, config).authorize_redirect(url_for("admin.google_callback", _external=True), **hint)


def google_callback() -> Any:
    from authlib.integrations.base_client import OAuthError

    from lms_bridge.admin.google_signin import Refusal, accepted_email, client, user_for_google

    config = _google_config()
    if config is None:
        abort(404)
    target = session.pop(GOOGLE_NEXT_KEY, None)
    try:
        # Authlib checks the state, exchanges the code and verifies the ID token (signature by the
        # provider's keys, issuer, audience, expiry, nonce).
        token = client(current_app, config).authorize_access_token()
        claims = dict(token.get("userinfo") or {})
        email = accepted_email(claims, config.domains)
    except OAuthError as exc:
        logger.info("Google sign-in failed: %s", exc.error)
        flash(_("Google sign-in did not complete. Try again."), "error")
        return render_template("admin/login.html", form=LoginForm(formdata=None), google_signin=True), 401
    except Refusal as exc:
        with transaction(state().sessionmaker) as db:
            db.add(AuditEvent(actor=str(claims.get("email") or "")[:255] or "unknown",
                              action="admin.sign_in_refused", detail={"via": "google", "hd": claims.get("hd", "")}))
        flash(str(exc), "error")
        return render_template("admin/login.html", form=LoginForm(formdata=None), google_signin=True), 403
    with transaction(state().sessionmaker) as db:
        language = session.get(LANGUAGE_KEY)
        user = user_for_google(db, email, str(claims.get("name") or ""),
                               language if language in LANGUAGES else state().settings.default_language)
        if not user.is_active:
            active = False
        else:
            active = True
            db.add(AuditEvent(actor=user.username, action="admin.sign_in", detail={"via": "google"}))
            sign_in_token = start_sign_in(db, user, current_app.permanent_session_lifetime)
            user_language = user.language
    if not active:
        flash(_("This account is disabled."), "error")
        return render_template("admin/login.html", form=LoginForm(formdata=None), google_signin=True), 403
    return _signed_in(sign_in_token, user_language, target)


def logout() -> Any:
    form = ActionForm()
    if form.validate_on_submit():
        language = session.get(LANGUAGE_KEY)
        token = session.get(SIGN_IN_KEY)
        if isinstance(token, str):
            # Ended in the store, so a copy of this cookie (captured, or left in another tab) opens
            # nothing after this.
            with transaction(state().sessionmaker) as db:
                end_sign_in(db, token)
        session.clear()
        if language:
            session[LANGUAGE_KEY] = language
        flash(_("You have signed out."), "info")
    return redirect(url_for("admin.login"))


def set_language() -> Any:
    form = LanguageForm()
    if form.validate_on_submit() and form.language.data in LANGUAGES:
        session[LANGUAGE_KEY] = form.language.data
        if g.user is not None:
            # The choice follows the user to another browser.
            with transaction(state().sessionmaker) as db:
                user = db.get(User, g.user.id)
                if user is not None:
                    user.language = form.language.data
    # Back to the page the switch was on (its path only; _safe_next refuses anything off-site).
    target = form.next.data or (urlsplit(request.referrer).path if request.referrer else "")
    return redirect(_safe_next(target))


# -- sessions --------------------------------------------------------------------------------------
def index() -> Any:
    return redirect(url_for("admin.sessions"))


def sessions() -> Any:
    return _sessions_page(UploadForm(), problems=None)


def _sessions_page(form: UploadForm, problems: list[dict[str, Any]] | None, status: int = 200,
                   file_name: str = "") -> Any:
    person = current_person()
    assert person is not None
    with state().sessionmaker() as db:
        # Only the sessions the person has a role in (every one for an administrator).
        visible = set(db.scalars(select(ExamSession.id).where(visible_sessions(person))))
        rows = [row for row in queries.list_sessions(db) if row.session.id in visible]
        # A run whose process stopped beating shows as interrupted here too, not as running.
        shown = {row.session.id: service.run_state(db, row.last_run, state().settings).status
                 for row in rows if row.last_run is not None}
        return render_template("admin/sessions.html", rows=rows, shown=shown, form=form, problems=problems,
                               file_name=file_name), status


# Room for the form's other fields and the multipart boundaries around the file.
FORM_OVERHEAD_BYTES = 64 * 1024


def upload() -> Any:
    from lms_bridge.sessionfile import read_session, too_big
    from lms_bridge.store.repo import ImportRefused, import_session

    limits = state().settings.limits
    if (request.content_length or 0) > limits.file_bytes + FORM_OVERHEAD_BYTES:
        # Refused before the body is read or parsed.
        name = _("the uploaded file")
        return _sessions_page(UploadForm(formdata=None), problems=[too_big(name, limits).as_dict()],
                              status=413, file_name=name)
    form = UploadForm()
    if not form.validate_on_submit():
        return _sessions_page(form, problems=None, status=400)
    upload_file = form.file.data
    # The name is only for the messages ("file X, sheet Y, row Z") and the record of where the session
    # came from: the content is parsed in memory.  The browser may send any name, so it is made one
    # line and cut to what the store keeps.
    original = " ".join("".join(c if c.isprintable() else " " for c in
                                Path(upload_file.filename or "session").name).split()) or "session"
    original = original[: ExamSession.__table__.c.source_name.type.length]
    data = upload_file.read(limits.file_bytes + 1)
    if len(data) > limits.file_bytes:
        return _sessions_page(form, problems=[too_big(original, limits).as_dict()], status=413,
                              file_name=original)
    spec, problems = read_session(data, original, limits)
    if spec is None or problems:
        return _sessions_page(form, problems=[p.as_dict() for p in problems], status=422,
                              file_name=original)
    with state().sessionmaker() as db:
        existing = queries.get_session(db, spec.code)
        if existing is not None:
            # Changing a session that exists is its secretary's (or an administrator's) business,
            # whoever else may import new ones.
            try:
                check(db, "session.import_again", existing)
            except NotFound:
                raise Refused("session.import_again", _("A session with the code %(code)s already exists and "
                                                          "you have no role in it.", code=spec.code)) from None
    try:
        with transaction(state().sessionmaker) as db:
            result = import_session(db, spec, source_name=original, actor=g.user.username)
    except ImportRefused as exc:
        # What the file asks for contradicts what already happened (a drawn ticket, a ballot, …).
        refusals = [{"file": original, "location": "", "field": "", "message": reason.message}
                    for reason in exc.reasons]
        return _sessions_page(form, problems=refusals, status=409, file_name=original)
    if result.created:
        flash(_("Session %(code)s imported.", code=spec.code), "success")
    elif result.changes:
        flash(_("Session %(code)s updated: %(changes)s.", code=spec.code,
                changes="; ".join(str(c) for c in result.changes)), "success")
    else:
        flash(_("Session %(code)s is already up to date.", code=spec.code), "info")
    with state().sessionmaker() as db:
        exam = queries.get_session(db, spec.code)
        person = current_person()
        if exam is None or person is None or db.scalar(select(ExamSession.id).where(
                ExamSession.id == exam.id, visible_sessions(person))) is None:
            # Imported for others to run: the file names no role of the importer's.
            flash(_("You have no role in session %(code)s, so it is not in your list; its secretary sees "
                    "it.", code=spec.code), "info")
            return redirect(url_for("admin.sessions"))
    return redirect(url_for("admin.session_page", code=spec.code))


def _titles() -> dict[str, str]:
    """Translated step titles by name, from the plan the service runs."""
    try:
        from lms_bridge.provisioning.plan import build_plan

        return {step.name: step.title() for step in build_plan(state().settings)}
    except Exception:
        # The page must still show the session and the run (with the steps' stable names) when
        # the plan cannot be built, e.g. a live-mode setting is missing; the run itself reports why.
        logger.exception("cannot build the provisioning plan for the step titles")
        return {}


def session_page(code: str) -> Any:
    """The session: its run, students (a page at a time in a large session), commission, draw,
    timetable (the slots of the students shown) and a link to the created resources."""
    requested = request.args.get("page", type=int)
    with state().sessionmaker() as db:
        exam = guarded_session(db, code)
        if exam is None:
            abort(404)
        run = queries.latest_run(db, exam.id)
        timetable, timetable_error = timetable_rows(exam)
        run_data = _run_data(db, run, code) if run is not None and may("session.board") else None
        person = current_person()
        own_ballots = (queries.own_ballots(db, exam, person.email)
                       if person is not None and may("session.ballots.own") else None)
        from lms_bridge.domain.kinds import commission_votes, rules_for

        counts = queries.ballot_counts(db, exam)
        students = queries.students_view(db, exam, counts)
        pages = queries.student_pages(len(students))
        page = requested if requested is not None else queries.sitting_page(students)
        if page < 1 or page > pages:
            abort(404)
        shown = queries.students_on_page(students, page)
        events = queries.latest_events(db, exam, "commission.identified", "protocols.signed_off")
        if pages > 1:
            refs = {st["ref"] for st in shown}
            timetable = [slot for slot in timetable if slot["ref"] in refs]
        return render_template(
            "admin/session.html", exam=exam, run=run_data, rules=rules_for(exam.kind),
            votes=commission_votes(exam.kind, (exam.options or {}).get("commission_vote")),
            exams_settings=state().settings.exams, students=shown,
            students_total=len(students), admitted_total=sum(1 for st in students if st["admitted"]),
            page=page, pages=pages, members=queries.members_view(db, exam, counts),
            journal_count=queries.journal_count(db, exam), timetable=timetable,
            timetable_error=timetable_error, tz=exam.timezone, own_ballots=own_ballots,
            identified=events["commission.identified"], signed_off=events["protocols.signed_off"],
            roles=sorted(str(r) for r in g.get("roles", ())), appeals=appeal_summaries(db, exam))


def _students_url(code: str) -> str:
    """Back to the students table, on the page the action was taken from."""
    return url_for("admin.session_page", code=code, page=request.args.get("page", type=int), _anchor="students")


def journal_page(code: str) -> Any:
    """The created resources, a page at a time (the session page links here instead of listing them)."""
    page = request.args.get("page", 1, type=int) or 1
    with state().sessionmaker() as db:
        exam = queries.get_session(db, code)
        if exam is None:
            abort(404)
        total = queries.journal_count(db, exam)
        pages = max(1, -(-total // queries.JOURNAL_PAGE_SIZE))
        if page < 1 or page > pages:
            abort(404)
        return render_template("admin/journal.html", exam=exam, journal=queries.journal_view(db, exam, page=page),
                               page=page, pages=pages, total=total, tz=exam.timezone)


def students_json(code: str) -> Any:
    with state().sessionmaker() as db:
        exam = queries.get_session(db, code)
        if exam is None:
            abort(404)
        students = queries.students_view(db, exam)
        page = request.args.get("page", type=int)
        # The page polls the rows it shows; without ?page= every student is listed.
        return {"session": code, "status": exam.status,
                "students": queries.students_on_page(students, page) if page else students}


def provision(code: str) -> Any:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    with state().sessionmaker() as db:
        exam = queries.get_session(db, code)
        if exam is None:
            abort(404)
        running = service.active_run(db, exam, state().settings)
        running_id = running.id if running is not None else None
    if running_id is not None:
        flash(_("Provisioning of this session is already under way."), "info")
        return redirect(url_for("admin.session_page", code=code, _anchor="run"))
    try:
        run = service.provision(state().settings, code, trigger="admin", sessions=state().sessionmaker)
    except service.RunRefused as exc:  # another process runs the plan: say who, and since when
        flash(str(exc), "error")
        return redirect(url_for("admin.session_page", code=code, _anchor="run"))
    except service.ProvisioningError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.session_page", code=code))
    except Exception as exc:
        # The queue (Redis) is down, say: the run row exists but no worker will ever see it.  Mark
        # it failed so that the page offers Retry instead of waiting forever.
        from lms_bridge.remote import describe_error

        logger.exception("provisioning of %s could not be queued", code)
        reason = describe_error(exc)
        with state().sessionmaker() as db:
            exam = _session_or_404(db, code)
            stuck = service.active_run(db, exam, state().settings)
            stuck_id = stuck.id if stuck is not None else None
        if stuck_id is not None:
            service.mark_run_failed(state().sessionmaker, stuck_id, reason)
        flash(_("Provisioning could not be queued: %(reason)s", reason=reason), "error")
        return redirect(url_for("admin.session_page", code=code))
    with transaction(state().sessionmaker) as db:
        db.add(AuditEvent(session_id=exam.id, actor=g.user.username, action="admin.provision",
                          detail={"run": run.id}))
    # Back to the session page, where the progress panel of this run now shows.
    return redirect(url_for("admin.session_page", code=code, _anchor="run"))


def _load_run(db: Any, code: str, run_id: int) -> ProvisioningRun:
    exam = queries.get_session(db, code)
    run = db.get(ProvisioningRun, run_id)
    if exam is None or run is None or run.session_id != exam.id:
        abort(404)
    return run  # type: ignore[no-any-return]


def run_page(code: str, run_id: int) -> Any:
    with state().sessionmaker() as db:
        run = _load_run(db, code, run_id)
        exam = queries.get_session(db, code)
        return render_template("admin/run.html", exam=exam, run=_run_data(db, run, code))


def run_json(code: str, run_id: int) -> Any:
    with state().sessionmaker() as db:
        run = _load_run(db, code, run_id)
        return _run_data(db, run, code)


def _run_data(db: Any, run: ProvisioningRun, code: str) -> dict[str, Any]:
    shown = service.run_state(db, run, state().settings)
    return queries.run_view(run, code, _titles(), shown=shown.status, note=shown.note)


# -- outbox ----------------------------------------------------------------------------------------
def outbox() -> Any:
    person = current_person()
    assert person is not None
    with state().sessionmaker() as db:
        query = select(OutboxEmail).order_by(OutboxEmail.created_at.desc(), OutboxEmail.id.desc()).limit(500)
        if not person.is_admin:
            # A secretary sees the mail of the sessions they are the secretary of.
            query = query.where(OutboxEmail.session_id.in_(select(ExamSession.id).where(
                visible_sessions(person, roles=[Role.SECRETARY]))))
        emails = list(db.scalars(query))
        # Each message's time in its session's zone (UTC for mail that belongs to no session).
        zones = dict(db.execute(select(ExamSession.id, ExamSession.timezone).where(
            ExamSession.id.in_({e.session_id for e in emails if e.session_id is not None}))).all())
        return render_template("admin/outbox.html", emails=emails, zones=zones,
                               smtp_configured=bool(state().settings.smtp.host))


def outbox_attachment(email_id: int, index: int) -> Any:
    with state().sessionmaker() as db:
        email = db.get(OutboxEmail, email_id)
        if email is None or not 0 <= index < len(email.attachments or []):
            abort(404)
        person = current_person()
        assert person is not None
        if not person.is_admin and (email.session_id is None or db.scalar(select(ExamSession.id).where(
                ExamSession.id == email.session_id, visible_sessions(person, roles=[Role.SECRETARY]))) is None):
            abort(404)
        item = email.attachments[index]
    path = Path(str(item.get("path", "")))
    # Only files the product wrote under its data directory; a row can never make the page serve
    # an arbitrary file of the server.
    data_dir = state().settings.data_dir.resolve()
    try:
        resolved = (path if path.is_absolute() else data_dir / path).resolve()
        resolved.relative_to(data_dir)
    except (OSError, ValueError):
        abort(404)
    if not resolved.is_file():
        abort(404)
    return send_file(resolved, mimetype=item.get("mimetype") or "application/octet-stream",
                     as_attachment=True, download_name=str(item.get("filename") or resolved.name))


# -- the sitting: draw, close a vote, seal ------------------------------------------------------------
def _session_or_404(db: Any, code: str) -> ExamSession:
    exam = queries.get_session(db, code)
    if exam is None:
        abort(404)
    return exam  # type: ignore[no-any-return]


def draw_tickets(code: str) -> Any:
    """Start the sitting's draw: every admitted student without a ticket gets one (in the worker)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    with transaction(state().sessionmaker) as db:
        exam = _session_or_404(db, code)
        if exam.status == "sealed":
            flash(_("The session is sealed; nothing can change any more."), "error")
            return redirect(url_for("admin.session_page", code=code))
        from datetime import UTC, datetime

        from lms_bridge.domain.kinds import rules_for
        from lms_bridge.results.admission import draw_day, local_today, sitting_days

        if not rules_for(exam.kind).tickets:
            flash(_("This form of the exam has no tickets and no draw."), "error")
            return redirect(url_for("admin.session_page", code=code))
        days = sitting_days(exam)
        if draw_day(days, local_today(exam, datetime.now(UTC))) is None:
            # No early draw: the students of each sitting day draw on that day.
            flash(_("Today is not a sitting day of this session: the students of each day draw on their day "
                    "(%(days)s).", days=", ".join(sorted({d.isoformat() for d in days.values()}))), "error")
            return redirect(url_for("admin.session_page", code=code))
        db.add(AuditEvent(session_id=exam.id, actor=g.user.username, action="admin.draw_tickets"))
        session_id = exam.id
    from lms_bridge.results.admission import draw_tickets as draw_job

    draw_job.enqueue(session_id)
    flash(_("The tickets are being drawn; each student's ticket shows here as it is drawn."), "success")
    return redirect(url_for("admin.session_page", code=code, _anchor="students"))


OUTCOME_MESSAGES = {
    "decided": lambda: _("The vote is closed and the decision is taken."),
    "pending": lambda: _("Not enough ballots yet: the vote stays open."),
    "no_quorum": lambda: _("There is no quorum: too few members have voted, so no decision can be taken."),
    "tie": lambda: _("The votes are tied and the chair's ballot is missing: no decision yet."),
}


def close_vote(code: str, ref: str) -> Any:
    """The secretary closes a student's vote once quorum is met (the tally runs at once)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    from lms_bridge.results.jobs import close_vote_now

    try:
        outcome = close_vote_now(state().queue, code, ref, g.user.username)
    except LookupError:
        flash(_("This student has no voting form yet; provision the session first."), "error")
    except Exception as exc:
        # Google being down must not show a traceback; the words say what happened.
        logger.exception("closing the vote of %s in %s failed", ref, code)
        from lms_bridge.remote import describe_error

        flash(_("The vote could not be closed: %(reason)s", reason=describe_error(exc)), "error")
    else:
        make = OUTCOME_MESSAGES.get(outcome)
        flash(make() if make else outcome, "success" if outcome == "decided" else "info")
    return _back_to(code, "students")


def quiz_action(code: str, ref: str = "", action: str = "") -> Any:
    """A test exam's actions: continue after a lost connection (recorded as an incident), read the
    scores from Moodle now (the admission to the test is :func:`admit`)."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    from lms_bridge.remote import describe_error
    from lms_bridge.results import testexam

    try:
        if action == "reconnect":
            if not _confirmed():
                return redirect(_students_url(code))
            reason = request.form.get("reason", "").strip()[:2000]
            testexam.reconnect_now(state().queue, code, ref, g.user.username, reason)
            flash(_("The student continues the same attempt with the time lost given back; recorded as an "
                    "incident."), "success")
        elif action == "scores":
            read = testexam.read_scores_now(state().queue, code)
            flash(_("Scores read from Moodle: %(scored)s of %(total)s students have finished.",
                    scored=sum(1 for r in read if r.points is not None), total=len(read)), "info")
        else:
            abort(404)
    except testexam.TestExamRefused as exc:
        flash(str(exc), "error")
    except LookupError:
        abort(404)
    except Exception as exc:
        logger.exception("test exam action %s for %s in %s failed", action, ref, code)
        flash(_("Moodle could not be reached: %(reason)s", reason=describe_error(exc)), "error")
    return redirect(_students_url(code))


def plagiarism(code: str, ref: str) -> Any:
    """A defense: the secretary records a student's plagiarism-check result; the ballot shows it."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    from lms_bridge.remote import describe_error
    from lms_bridge.results.plagiarism import PlagiarismRefused, record_plagiarism, update_ballot

    back = redirect(_students_url(code))
    with transaction(state().sessionmaker) as db:
        exam = _session_or_404(db, code)
        student = _student_or_404(db, exam, ref)
        try:
            record_plagiarism(db, exam, student, request.form.get("result", ""), actor=g.user.username)
        except PlagiarismRefused as exc:
            flash(str(exc), "error")
            return back
    try:
        from lms_bridge.backends import backends

        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            # No ballot yet: provisioning writes the result into it; no Google client is needed.
            updated = (queries.has_ballot(db, exam, ref)
                       and update_ballot(db, exam, _student_or_404(db, exam, ref), backends(state().queue).google))
    except Exception as exc:
        logger.exception("updating the ballot of %s in %s failed", ref, code)
        flash(_("The result is recorded, but the ballot could not be updated: %(reason)s",
                reason=describe_error(exc)), "error")
        return back
    flash(_("The plagiarism check is recorded and shown on the ballot.") if updated
          else _("The plagiarism check is recorded; the ballot shows it once the session is provisioned."), "success")
    return back


MAX_PROBLEMS_SHOWN = 30


def import_ratings(code: str) -> Any:
    """A test exam: the admission ratings from the university system's export (CSV or XLSX), all stored
    or none; every problem is shown with its row and column."""
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    from lms_bridge.results.ratings import RatingsRefused
    from lms_bridge.results.ratings import import_ratings as store_ratings

    upload = request.files.get("ratings")
    back = redirect(_students_url(code))
    if upload is None or not upload.filename:
        flash(_("Choose the export file (CSV or XLSX) first."), "error")
        return back
    limit = state().settings.limits.file_bytes
    data = upload.read(limit + 1)
    name = Path(upload.filename).name[:255]
    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            done = store_ratings(db, exam, data, name, state().settings, actor=g.user.username)
    except RatingsRefused as refused:
        for problem in refused.problems[:MAX_PROBLEMS_SHOWN]:
            flash(str(problem), "error")
        flash(ngettext("%(num)s problem in %(file)s; nothing was stored.",
                       "%(num)s problems in %(file)s; nothing was stored.", len(refused.problems), file=name), "error")
        return back
    flash(ngettext("%(num)s admission rating stored (%(changed)s changed).",
                   "%(num)s admission ratings stored (%(changed)s changed).", done.rows,
                   changed=len(done.changed)), "success")
    return back


def _confirmed() -> bool:
    """An irreversible action goes ahead only when the secretary ticked the box that says what it does
    (checked here, so the rule holds without the page's script too)."""
    if request.form.get("confirm") == "yes":
        return True
    flash(_("Nothing was done: tick the box to confirm the action first."), "error")
    return False


def _back_to(code: str, anchor: str) -> Any:
    """The session page, or the sitting board when the board posted here and named itself."""
    back = request.form.get("next", "")
    if back.startswith(f"/sessions/{code}/board"):
        return redirect(_safe_next(back))
    if anchor == "students":
        return redirect(_students_url(code))
    return redirect(url_for("admin.session_page", code=code, _anchor=anchor))


def _irreversible(code: str, anchor: str) -> tuple[Any, bool]:
    """The common start of an irreversible action: a valid form (else 400), the page to go back to,
    and whether the secretary confirmed it."""
    if not ActionForm().validate_on_submit():
        abort(400)
    return _back_to(code, anchor), _confirmed()


def admit(code: str, ref: str) -> Any:
    """Admit one student (the red/green button): to the draw — the verifiable draw gives the ticket and
    Moodle opens the ticket quiz for that student alone, with that ticket — or, at a test exam, to the
    closed test quiz.  The same dispatch as the sitting board's Admit and the API
    (:func:`lms_bridge.results.admission.admit_student`)."""
    back, confirmed = _irreversible(code, "students")
    if not confirmed:
        return back
    from lms_bridge.domain.admission import AdmissionError
    from lms_bridge.results.admission import admit_student

    try:
        done = admit_student(state().queue, code, ref, g.user.username)
    except LookupError:
        abort(404)
    except AdmissionError as exc:
        flash(str(exc), "error")
        return back
    flash(admitted_message(done), "success")
    return back


def admitted_message(done: Any) -> str:
    """What the secretary reads after an admission (the page and the board alike)."""
    if done.test_quiz:
        return str(_("The test is open for this student now."))
    return str(_("Admitted to the draw: ticket %(ticket)s. The ticket opens in Moodle for this student alone.",
                 ticket=done.ticket))


def _student_or_404(db: Any, exam: ExamSession, ref: str) -> StudentRecord:
    student = db.scalar(select(StudentRecord).where(StudentRecord.session_id == exam.id,
                                                    StudentRecord.student_ref == ref,
                                                    StudentRecord.active.is_(True)))
    if student is None:
        abort(404)
    return student  # type: ignore[no-any-return]


def record_exception(code: str, ref: str) -> Any:
    """Record an exception of the exam day for one student, with who, when and why."""
    back, confirmed = _irreversible(code, "students")
    if not confirmed:
        return back
    kind = request.form.get("kind", "")
    if kind not in labels.EXCEPTION_KINDS:
        abort(400)
    continuation = request.form.get("continuation") or None
    if continuation is not None and continuation not in labels.CONTINUATION:
        abort(400)
    try:
        continue_on = date.fromisoformat(request.form["continue_on"]) if request.form.get("continue_on") else None
    except ValueError:
        abort(400)
    from lms_bridge.domain.examday import ExamDayError
    from lms_bridge.results.examday import record_exception as record

    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            student = _student_or_404(db, exam, ref)
            entry = record(db, exam, student, kind, reason=request.form.get("reason", "")[:2000],
                           actor=g.user.username, chair_consent=request.form.get("chair_consent") == "yes",
                           continuation=continuation, continue_on=continue_on)
            name, email_ids = student.name, []
            cumulative = list(db.scalars(select(DecisionRecord.id).where(DecisionRecord.student_id == student.id))
                              ) if kind == "cumulative" else []
            if kind == "technical_failure":
                # The act goes to every member the same day (003 §23).
                from lms_bridge.results.failure_act import draw_up_act

                email_ids = [e.id for e in draw_up_act(db, exam, student, entry, data_dir=state().settings.data_dir,
                                                       actor=g.user.username)]
    except ExamDayError as exc:
        flash(str(exc), "error")
    else:
        flash(_("Recorded for %(name)s: %(what)s.", name=name, what=labels.label(labels.STUDENT_STATUS, kind)),
              "success")
        _send_after_commit(email_ids)
        if cumulative:
            # The cumulative grade goes out as a draft now, released with the rest (003 §61).
            from lms_bridge.results.jobs import enqueue_writebacks

            enqueue_writebacks(cumulative)
    return back


def _send_after_commit(email_ids: list[int]) -> None:
    """Queue the outbox e-mails just committed (without SMTP they wait on the outbox page)."""
    if not email_ids:
        return
    if not state().settings.smtp.host:
        flash(_("The act of the failure is in the outbox for every member."), "info")
        return
    from lms_bridge.results.mail import send_email

    for email_id in email_ids:
        send_email.enqueue(email_id)
    flash(_("The act of the failure is being e-mailed to every member."), "info")


def commission_decision(code: str, ref: str) -> Any:
    """The commission's decision when the vote cannot decide, entered on the chair's word."""
    back, confirmed = _irreversible(code, "students")
    if not confirmed:
        return back
    from lms_bridge.domain.examday import ExamDayError
    from lms_bridge.results.examday import decide_by_commission

    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            student = _student_or_404(db, exam, ref)
            decision = decide_by_commission(db, exam, student, request.form.get("letter", "").strip(),
                                            reason=request.form.get("reason", "")[:2000], actor=g.user.username)
            letter, name = decision.letter, student.name
    except ExamDayError as exc:
        flash(str(exc), "error")
    except LookupError:
        flash(_("This student has no voting form yet; provision the session first."), "error")
    else:
        flash(_("The commission's decision for %(name)s is recorded: %(letter)s.", name=name, letter=letter),
              "success")
    return back


def release(code: str) -> Any:
    """The chair's release of the results, recorded by the secretary: every write-back goes at once."""
    back, confirmed = _irreversible(code, "sitting")
    if not confirmed:
        return back
    from lms_bridge.domain.examday import ExamDayError
    from lms_bridge.results.jobs import release_now

    try:
        count = release_now(state().queue, code, g.user.username)
    except LookupError:
        abort(404)
    except ExamDayError as exc:
        flash(str(exc), "error")
    else:
        _announce_release(code)
        flash(ngettext("The results are released: %(num)s decision is being written to Moodle, Classroom and "
                       "the grade sheet.", "The results are released: %(num)s decisions are being written to "
                       "Moodle, Classroom and the grade sheet.", count), "success")
    return back


def _announce_release(code: str) -> None:
    """Tell the students in Classroom that the results are out (after the release is committed)."""
    from lms_bridge.results.sitting import announce

    try:
        with state().sessionmaker() as db:
            exam_id = _session_or_404(db, code).id
        announce.enqueue(exam_id, "released")
    except Exception:  # the release stands; the students can be told in the meeting
        logger.exception("the release of %s could not be announced in Classroom", code)
        flash(_("The students could not be told in Classroom; tell them in the meeting."), "error")


def seal(code: str) -> Any:
    """Seal the session: documents drawn up, e-mailed to every member (or kept in the outbox)."""
    back, confirmed = _irreversible(code, "sitting")
    if not confirmed:
        return back
    from lms_bridge.results.appeals import appeal_settings
    from lms_bridge.results.mail import send_email
    from lms_bridge.results.seal import SealRefused, seal_session

    try:
        with transaction(state().sessionmaker) as db:
            exam = _session_or_404(db, code)
            emails = seal_session(db, exam, actor=g.user.username, data_dir=state().settings.data_dir,
                                  appeals=appeal_settings(state().settings))
            email_ids = [e.id for e in emails]
    except SealRefused as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.session_page", code=code))
    # After the commit: a sending job must never see an e-mail that was rolled back.
    if state().settings.smtp.host:
        for email_id in email_ids:
            send_email.enqueue(email_id)
        flash(_("The session is sealed; the documents are being e-mailed to the commission."), "success")
    else:
        flash(_("The session is sealed; the documents are in the outbox."), "success")
    return redirect(url_for("admin.outbox"))


# -- the other roles' actions: identification, sign-off, documents -------------------------------------
def identify_commission(code: str) -> Any:
    """The head of department (or the secretary) records that the commission was identified before the
    sitting (003 §42-44): who, when, in the audit trail and on the session page."""
    back, confirmed = _irreversible(code, "sitting")
    if not confirmed:
        return back
    with transaction(state().sessionmaker) as db:
        exam = _session_or_404(db, code)
        db.add(AuditEvent(session_id=exam.id, actor=g.user.username, action="commission.identified",
                          detail={"roles": sorted(str(r) for r in g.get("roles", ()))}))
    flash(_("Recorded: the commission was identified."), "success")
    return back


def sign_off(code: str) -> Any:
    """The chair signs off the protocols of a sealed session (recorded with who and when)."""
    back, confirmed = _irreversible(code, "sitting")
    if not confirmed:
        return back
    with transaction(state().sessionmaker) as db:
        exam = _session_or_404(db, code)
        if exam.status != "sealed":
            flash(_("The protocols are signed off after the session is sealed."), "error")
            return back
        db.add(AuditEvent(session_id=exam.id, actor=g.user.username, action="protocols.signed_off"))
    flash(_("Recorded: the chair signed off the protocols."), "success")
    return back


def _document_files(code: str) -> list[Path]:
    folder = state().settings.data_dir / "documents" / code
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def documents(code: str) -> Any:
    """The sealed session's documents (protocols, grade sheet), for the registrar among others."""
    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        files = _document_files(code) if exam.status == "sealed" else []
        return render_template("admin/documents.html", exam=exam, files=[p.name for p in files], tz=exam.timezone)


def document(code: str, name: str) -> Any:
    with state().sessionmaker() as db:
        if _session_or_404(db, code).status != "sealed":
            abort(404)
    # Only a file of the listing: a name from the URL never becomes a path on its own.
    found = next((p for p in _document_files(code) if p.name == name), None)
    if found is None:
        abort(404)
    return send_file(found, as_attachment=True, download_name=found.name)


# -- the audit trail ------------------------------------------------------------------------------------
def _audit_page(rows: list[Any], exam: ExamSession | None, student: str, tz: str, students: list[Any],
                page_url: Any) -> Any:
    from lms_bridge.admin.audit import PAGE_SIZE, action_label

    page = request.args.get("page", 1, type=int) or 1
    total = len(rows)
    pages = max(1, -(-total // PAGE_SIZE))
    if page < 1 or page > pages:
        abort(404)
    shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    return render_template("admin/audit.html", rows=shown, exam=exam, student=student, students=students, tz=tz,
                           page=page, pages=pages, total=total, action_label=action_label, page_url=page_url)


def audit_page(code: str) -> Any:
    """One session's trail, a page at a time; ?student=REF narrows it to that student's story."""
    from lms_bridge.admin.audit import session_rows

    student = request.args.get("student", "")[:64]
    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        rows = session_rows(db, exam, student or None)
        students = list(db.scalars(select(StudentRecord).where(StudentRecord.session_id == exam.id)
                                   .order_by(StudentRecord.position)))
        return _audit_page(rows, exam, student, exam.timezone, students,
                           lambda n: url_for("admin.audit_page", code=code, student=student or None, page=n))


def audit_csv(code: str) -> Any:
    from lms_bridge.admin.audit import session_rows, to_csv

    student = request.args.get("student", "")[:64]
    with state().sessionmaker() as db:
        exam = _session_or_404(db, code)
        body = to_csv(session_rows(db, exam, student or None), exam.timezone)
    name = f"audit-{code}" + (f"-{student}" if student else "") + ".csv"
    return current_app.response_class(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"'})


def site_audit_page() -> Any:
    """Every session's events and the site's own (sign-ins, failed jobs): the administrator's view."""
    from lms_bridge.admin.audit import site_rows

    with state().sessionmaker() as db:
        rows = site_rows(db)
    return _audit_page(rows, None, "", "UTC", [], lambda n: url_for("admin.site_audit_page", page=n))


def site_audit_csv() -> Any:
    from lms_bridge.admin.audit import site_rows, to_csv

    with state().sessionmaker() as db:
        body = to_csv(site_rows(db), "UTC")
    return current_app.response_class(body, mimetype="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="audit.csv"'})


# -- personal API tokens -----------------------------------------------------------------------------------
def _token_roles() -> list[str]:
    from lms_bridge.admin.policy import roles_anywhere

    person = current_person()
    assert person is not None
    with state().sessionmaker() as db:
        return [r.value for r in Role if r in roles_anywhere(db, person)]


def tokens_page(new_token: str = "") -> Any:
    from lms_bridge.admin.tokens import tokens_of

    with state().sessionmaker() as db:
        tokens = tokens_of(db, g.user.id)
        return render_template("admin/tokens.html", tokens=tokens, roles=_token_roles(), new_token=new_token)


def create_token() -> Any:
    from lms_bridge.admin.tokens import create_token as make

    if not ActionForm().validate_on_submit():
        abort(400)
    role = request.form.get("role", "")
    if role not in _token_roles():
        abort(400)  # a token carries one of the owner's own roles, never more
    days = request.form.get("days", 30, type=int) or 30
    name = " ".join(request.form.get("name", "").split())[:120]
    with transaction(state().sessionmaker) as db:
        user = db.get(User, g.user.id)
        row, token = make(db, user, role=Role(role), days=days, name=name)
        db.add(AuditEvent(actor=g.user.username, action="api.token_created",
                          detail={"token": row.id, "role": role, "days": days}))
    # Shown on this response only: the store keeps its hash.
    return tokens_page(new_token=token)


def revoke_token(token_id: int) -> Any:
    from lms_bridge.admin.tokens import revoke_token as revoke

    if not ActionForm().validate_on_submit():
        abort(400)
    with transaction(state().sessionmaker) as db:
        if not revoke(db, g.user.id, token_id):
            abort(404)
        db.add(AuditEvent(actor=g.user.username, action="api.token_revoked", detail={"token": token_id}))
    flash(_("The token is revoked."), "success")
    return redirect(url_for("admin.tokens_page"))


def refused(exc: Refused) -> Any:
    """403 saying who may take the action (see lms_bridge.admin.policy)."""
    if request.blueprint == "api" or request.path.endswith(".json") or request.accept_mimetypes.best == (
            "application/json"):
        return {"error": "forbidden", "action": exc.action, "message": exc.words}, 403
    return render_template("admin/error.html", title=_("Not allowed"), message=exc.words), 403


# -- errors ----------------------------------------------------------------------------------------
ERROR_TEXTS = {
    400: (lambda: _("The request could not be understood"),
          lambda: _("Something in the form was missing or malformed. Go back and try again.")),
    403: (lambda: _("Not allowed"), lambda: _("You may not do this.")),
    404: (lambda: _("Not found"), lambda: _("There is nothing at this address. It may have been removed.")),
    405: (lambda: _("Not allowed"), lambda: _("This page cannot be used this way.")),
    413: (lambda: _("The file is too large"),
          lambda: _("A session file is at most 10 MB. Check that you chose the right file.")),
    429: (lambda: _("Too many attempts"), lambda: _("Wait a few minutes and try again.")),
    500: (lambda: _("Something went wrong"),
          lambda: _("The page could not be shown. The error has been logged; try again in a moment.")),
}


def _seconds_to_wait() -> int:
    """Until the breached sign-in limit's window ends (what Retry-After will say)."""
    import time

    for limiter in current_app.extensions.get("limiter", ()):
        current = limiter.current_limit
        if current is not None and current.breached:
            return max(1, int(current.reset_at - time.time()))
    return 60


def too_many_attempts(exc: Any) -> Any:
    """429 from the sign-in throttle: the sign-in page again, saying how long to wait.  The same words
    whatever the name and whichever limit was hit, so the page tells nothing about accounts."""
    if request.endpoint != "admin.login" or request.accept_mimetypes.best == "application/json":
        return error_page(exc)
    minutes = -(-_seconds_to_wait() // 60)
    flash(_("Too many failed sign-ins. Wait %(minutes)s min and try again.", minutes=minutes), "error")
    form = LoginForm()
    form.next.data = request.form.get("next", "")
    return render_template("admin/login.html", form=form), 429


def error_page(exc: Any) -> Any:
    """Errors in the page's language for people; machines (webhooks, JSON) get the plain answer."""
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, InternalServerError

    if not isinstance(exc, HTTPException):
        logger.exception("unhandled error on %s", request.path, exc_info=exc)
        exc = InternalServerError()
    code = exc.code or 500
    if request.blueprint in ("webhooks", "api") or request.path.endswith(".json") or (
            request.accept_mimetypes.best == "application/json"):
        return {"error": exc.name}, code
    if isinstance(exc, CSRFError):
        title, message = _("The form has expired"), _("The form has expired. Please try again.")
    else:
        make_title, make_message = ERROR_TEXTS.get(code, ERROR_TEXTS[500 if code >= 500 else 400])
        title, message = make_title(), make_message()
    return render_template("admin/error.html", title=title, message=message), code
