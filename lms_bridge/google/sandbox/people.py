"""Pages a person uses (form, course, grade sheet) and the actor API that lets tests and demos act as a user.

These stand in for Google's own web UI, so they work on the sandbox state directly rather than through
the API (as Google's UI does not go through the public API either) but apply the same rules: a form takes
responses only when published and accepting, and only from people it is shared with.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, redirect, render_template, request, url_for

from lms_bridge.i18n import LANGUAGES, use_locale

from .auth import PROJECT_ID, SCOPE_PREFIX, USER_GRANT_SCOPES, Principal
from .classroom import add_attachments, do_turn_in, find_course, sync_submissions
from .common import Ctx, World, ensure_user, profile, user_id
from .errors import ApiError, bad_request
from .files import create_file, group_members
from .forms import edit_response, questions, submit_response
from .sheets import col_letters, grid_rows
from .texts import translate

HIDDEN_KINDS = {"token", "refresh", "meta", "user_email"}


def _lang() -> str:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        return lang
    best = request.accept_languages.best_match(LANGUAGES)
    return best or "kk"


def _actor_ctx(sandbox: World, email: str) -> Ctx:
    principal = Principal(email=email.lower(), scopes=frozenset(USER_GRANT_SCOPES), delegated=False,
                          project=PROJECT_ID)
    return Ctx(sandbox=sandbox, method=None, principal=principal, params={}, body={},
               base_url=request.host_url.rstrip("/") + request.script_root)


def _run(sandbox: World, email: str, fn: Callable[[Ctx], Any]) -> Any:
    ctx = _actor_ctx(sandbox, email)
    with sandbox.store.transaction():
        result = fn(ctx)
    for event in ctx.events:
        event()
    return result


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False, indent=2), status, content_type="application/json")


def _actor_error(exc: ApiError) -> Response:
    return _json(exc.body(), exc.code)


def _payload() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    return data


def form_accounts(sandbox: World, form_id: str) -> list[str]:
    """Everyone the form is shared with, a group's members in place of the group."""
    file = sandbox.store.get("file", form_id) or {}
    out: set[str] = set()
    for p in file.get("permissions", []):
        if not p.get("emailAddress"):
            continue
        if p["type"] == "group":
            out |= group_members(sandbox.store, p["emailAddress"]) or set()
        else:
            out.add(p["emailAddress"])
    return sorted(out)


def register_people(app: Flask, sandbox: World) -> None:
    def render(template: str, **ctx: Any) -> str:
        lang = _lang()
        with use_locale(lang):
            return render_template(template, _=translate, lang=lang, languages=LANGUAGES, **ctx)

    # -- pages ----------------------------------------------------------------------------------------
    @app.get("/")
    def index() -> Any:
        return render("index.html", courses=sandbox.store.list("course"), forms=sandbox.store.list("form"),
                      sheets=sandbox.store.list("spreadsheet"))

    @app.route("/forms.googleapis.com/view/<form_id>", methods=["GET", "POST"])
    def form_page(form_id: str) -> Any:
        form = sandbox.store.get("form", form_id)
        if form is None:
            return render("missing.html"), 404
        accounts = form_accounts(sandbox, form_id)
        who = (request.values.get("as") or "").lower()
        if who and who not in accounts:
            who = ""
        error = None
        submitted = None
        if request.method == "POST" and who:
            answers = {q["questionId"]: request.form.getlist(q["questionId"]) for q in questions(form)}
            sandbox.log("POST", request.full_path, json.dumps({"email": who, "answers": answers}))
            try:
                submitted = _run(sandbox, who, lambda ctx: submit_response(ctx, form_id, who, answers))
            except ApiError as exc:
                error = exc.message
        previous = [r for r in sandbox.store.list("response", form_id) if r.get("_respondent") == who] if who else []
        state = form["publishSettings"]["publishState"]
        return render("form.html", form=form, questions=questions(form), accounts=accounts, who=who,
                      error=error, submitted=submitted, previous=previous,
                      open=state["isPublished"] and state["isAcceptingResponses"])

    @app.get("/classroom.googleapis.com/view/<course_id>")
    def course_page(course_id: str) -> Any:
        course = sandbox.store.get("course", course_id)
        if course is None:
            return render("missing.html"), 404
        users = {u["id"]: u for u in sandbox.store.list("user")}
        work = []
        for cw in sandbox.store.list("courseWork", course_id):
            subs = sandbox.store.list("submission", f"{course_id}/{cw['id']}")
            work.append({"cw": cw, "subs": [dict(s, email=users.get(s["userId"], {}).get("email", s["userId"]))
                                            for s in subs]})
        return render("course.html", course=course, owner=users.get(course["ownerId"], {}),
                      teachers=sandbox.store.list("teacher", course_id),
                      students=sandbox.store.list("student", course_id),
                      announcements=sandbox.store.list("announcement", course_id), work=work)

    @app.get("/sheets.googleapis.com/view/<sheet_id>")
    def sheet_page(sheet_id: str) -> Any:
        doc = sandbox.store.get("spreadsheet", sheet_id)
        if doc is None:
            return render("missing.html"), 404
        tabs = []
        for s in doc["sheets"]:
            rows = grid_rows(s, "FORMATTED_VALUE")
            width = max((len(r) for r in rows), default=0)
            tabs.append({"title": s["properties"]["title"], "rows": rows,
                         "columns": [col_letters(i) for i in range(width)]})
        return render("sheet.html", doc=doc, tabs=tabs)

    # -- actor API ------------------------------------------------------------------------------------
    @app.post("/_actor/forms/<form_id>/responses")
    def actor_respond(form_id: str) -> Response:
        sandbox.log("POST", request.full_path.rstrip("?"), request.get_data())
        try:
            data = _payload()
            email = str(data.get("email") or "").lower()
            if not email:
                raise bad_request("email is required")
            answers = data.get("answers") or {}
            if not isinstance(answers, dict):
                raise bad_request("answers must be an object of questionId or title -> value")
            return _json(_run(sandbox, email, lambda ctx: submit_response(ctx, form_id, email, answers)))
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/forms/<form_id>/responses/<response_id>")
    def actor_edit(form_id: str, response_id: str) -> Response:
        sandbox.log("POST", request.full_path.rstrip("?"), request.get_data())
        try:
            data = _payload()
            email = str(data.get("email") or "").lower()
            if not email:
                raise bad_request("email is required")
            answers = data.get("answers") or {}
            if not isinstance(answers, dict):
                raise bad_request("answers must be an object of questionId or title -> value")
            return _json(_run(sandbox, email,
                              lambda ctx: edit_response(ctx, form_id, response_id, email, answers)))
        except ApiError as exc:
            return _actor_error(exc)

    def _submission(ctx: Ctx, course_ref: str, cw_id: str, email: str) -> dict[str, Any]:
        course = find_course(ctx, course_ref)
        if course is None:
            raise ApiError(404, "Course not found.")
        cw = ctx.store.get("courseWork", f"{course['id']}/{cw_id}")
        if cw is None:
            raise ApiError(404, "Course work not found.")
        sync_submissions(ctx, course["id"], cw)
        uid = user_id(email)
        for sub in ctx.store.list("submission", f"{course['id']}/{cw_id}"):
            if sub["userId"] == uid:
                return sub
        raise ApiError(404, f"{email} has no submission for this course work (not assigned, or not published).")

    @app.post("/_actor/classroom/courses/<course_id>/courseWork/<cw_id>/submissions/<email>/attachments")
    def actor_attach(course_id: str, cw_id: str, email: str) -> Response:
        sandbox.log("POST", request.full_path.rstrip("?"), "<attachment upload>")
        email = email.lower()
        try:
            data = request.get_json(silent=True) or {}
            name = str(data.get("name") or "answer-sheet.pdf")
            mime = str(data.get("mimeType") or "application/pdf")
            content = data.get("content")
            if content is not None:
                try:
                    size = len(base64.b64decode(str(content), validate=True))
                except ValueError:
                    raise bad_request("content must be base64") from None
            else:
                size = 0

            url = str(data.get("url") or "")
            if url and not url.startswith(("https://", "http://")):
                raise bad_request("url must be an http(s) link")

            def attach(ctx: Ctx) -> dict[str, Any]:
                sub = _submission(ctx, course_id, cw_id, email)
                if url:  # a link attachment (a performance video's address), as modifyAttachments adds one
                    add_attachments(ctx, sub, [{"link": {"url": url}}])
                    return {k: v for k, v in sub.items() if not k.startswith("_")}
                file = create_file(ctx, name=name, mime=mime, owner=email, extra={"size": str(size)})
                add_attachments(ctx, sub, [{"driveFile": {"id": file["id"], "title": name,
                                                          "alternateLink": file["webViewLink"]}}])
                return {k: v for k, v in sub.items() if not k.startswith("_")}

            return _json(_run(sandbox, email, attach))
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/classroom/courses/<course_id>/courseWork/<cw_id>/submissions/<email>/turnIn")
    def actor_turn_in(course_id: str, cw_id: str, email: str) -> Response:
        sandbox.log("POST", request.full_path.rstrip("?"), None)
        email = email.lower()

        def turn_in(ctx: Ctx) -> dict[str, Any]:
            sub = _submission(ctx, course_id, cw_id, email)
            do_turn_in(ctx, sub, user_id(email))
            return {k: v for k, v in sub.items() if not k.startswith("_")}

        try:
            return _json(_run(sandbox, email, turn_in))
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/classroom/invitations/accept")
    def actor_accept() -> Response:
        sandbox.log("POST", request.full_path.rstrip("?"), request.get_data())
        try:
            email = str(_payload().get("email") or "").lower()

            def accept(ctx: Ctx) -> dict[str, Any]:
                me = ensure_user(ctx.store, email)
                done = []
                for inv in ctx.store.list("invitation"):
                    if inv["userId"] == me["id"]:
                        kind = "student" if inv["role"] == "STUDENT" else "teacher"
                        ctx.store.put(kind, f"{inv['courseId']}/{me['id']}", {
                            "courseId": inv["courseId"], "userId": me["id"], "profile": profile(me)},
                            parent=inv["courseId"])
                        ctx.store.delete("invitation", inv["id"])
                        done.append(inv)
                return {"accepted": done}

            return _json(_run(sandbox, email, accept))
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/groups")
    def actor_group() -> Response:
        """Make a Google Group or replace its members (what the university's Workspace admin does
        in the Admin console; the sandbox has no Directory API)."""
        try:
            data = _payload()
            email = str(data.get("email") or "").lower()
            members = data.get("members")
            if not email or not isinstance(members, list):
                raise bad_request("email and members (a list) are required")
            rec = {"email": email, "members": sorted({str(m).lower() for m in members})}
            with sandbox.store.transaction():
                sandbox.store.put("group", email, rec)
            return _json(rec)
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/token")
    def actor_token() -> Response:
        """An access token for any user, to drive the real clients as that user (e.g. a student)."""
        try:
            data = _payload()
            email = str(data.get("email") or "").lower()
            if not email:
                raise bad_request("email is required")
            scopes = data.get("scopes") or [*USER_GRANT_SCOPES, SCOPE_PREFIX + "classroom.coursework.me"]
            project = str(data.get("project") or PROJECT_ID)
            ensure_user(sandbox.store, email)
            return _json(sandbox.auth.issue(email, list(scopes), delegated=False, project=project))
        except ApiError as exc:
            return _actor_error(exc)

    @app.post("/_actor/oauth-grant")
    def actor_grant() -> Response:
        try:
            email = str(_payload().get("email") or "").lower()
            if not email:
                raise bad_request("email is required")
            return _json(sandbox.auth.grant_for(email))
        except ApiError as exc:
            return _actor_error(exc)

    @app.get("/_actor/state")
    def actor_state() -> Response:
        state: dict[str, Any] = {}
        for kind in sandbox.store.kinds():
            if kind in HIDDEN_KINDS:
                continue
            state[kind] = sandbox.store.list(kind)
        state["pushes"] = list(sandbox.pusher.delivered)
        state["pushes_pending"] = sandbox.pusher.pending()
        return _json(state)

    @app.get("/_actor/")
    def actor_index() -> Any:
        return redirect(url_for("actor_state"))



__all__ = ["register_people"]
