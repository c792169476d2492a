"""Forms v1: forms, batchUpdate, publish settings, responses and watches."""

from __future__ import annotations

import copy
import functools
import json
import re
import secrets
from typing import Any

from .common import Ctx, Handler, page, parse_rfc3339, rfc3339, rfc3339_micro, token_id
from .errors import ApiError, bad_request, failed_precondition
from .files import FORM_MIME, WHOLE_DRIVE_SCOPES, create_file, is_responder, reachable, role_of

HANDLERS: dict[str, Handler] = {}
WATCH_LIFETIME = 7 * 24 * 3600
QUESTION_KINDS = ("choiceQuestion", "textQuestion", "scaleQuestion", "dateQuestion", "timeQuestion",
                  "fileUploadQuestion", "rowQuestion", "ratingQuestion")
ITEM_KINDS = ("questionItem", "questionGroupItem", "pageBreakItem", "textItem", "imageItem", "videoItem")


def handler(method_id: str):  # type: ignore[no-untyped-def]
    def deco(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn
    return deco


def responder_uri(ctx: Ctx, form_id: str) -> str:
    # The people page stands in for docs.google.com/forms/d/e/…/viewform.
    return f"{ctx.base_url}/forms.googleapis.com/view/{form_id}"


def new_form(ctx: Ctx, form_id: str, title: str, document_title: str) -> dict[str, Any]:
    form = {
        "formId": form_id, "info": {"title": title, "documentTitle": document_title},
        "settings": {"emailCollectionType": "DO_NOT_COLLECT"}, "items": [],
        "revisionId": "00000001", "responderUri": responder_uri(ctx, form_id),
        # API-created forms start unpublished since 30 June 2026.
        "publishSettings": {"publishState": {"isPublished": False, "isAcceptingResponses": False}},
    }
    ctx.store.put("form", form_id, form)
    return form


def copy_form(ctx: Ctx, source_id: str, form_id: str, document_title: str) -> dict[str, Any]:
    """The form behind a Drive copy (see ``drive.files_copy``): the source's info, settings and
    items with fresh item and question IDs; unpublished, no responses, no watches."""
    source = ctx.store.get("form", source_id)
    form = new_form(ctx, form_id, "", document_title)
    if source is not None:
        form["info"] = dict(copy.deepcopy(source["info"]), documentTitle=document_title)
        form["settings"] = copy.deepcopy(source["settings"])
        used: set[str] = set()
        for item in copy.deepcopy(source["items"]):
            item.pop("itemId", None)
            for question in _questions_of(item):
                question.pop("questionId", None)
            _assign_ids(item, used)
            form["items"].append(item)
        ctx.store.put("form", form_id, form)
    return form


def _questions_of(item: dict[str, Any]) -> list[dict[str, Any]]:
    if "questionItem" in item:
        return [item["questionItem"]["question"]]
    return list((item.get("questionGroupItem") or {}).get("questions") or [])


# Forms scopes that reach every form of the user; a token with only drive.file reaches the app's own.
WHOLE_FORMS_SCOPES = WHOLE_DRIVE_SCOPES | {"https://www.googleapis.com/auth/" + s for s in (
    "forms.body", "forms.body.readonly", "forms.responses.readonly")}


def get_form(ctx: Ctx, form_id: str, *, write: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    file = ctx.store.get("file", form_id)
    form = ctx.store.get("form", form_id)
    role = role_of(file, ctx.me) if file and reachable(ctx, file, WHOLE_FORMS_SCOPES) else None
    if form is None or file is None or file.get("trashed"):
        raise ApiError(404, "Requested entity was not found.")
    if role is None:
        # A form that exists but the caller may not open: 403 PERMISSION_DENIED, as Sheets answers
        # for a spreadsheet (recorded real traffic); Forms is taken to behave alike.
        raise ApiError(403, "The caller does not have permission")
    if write and role not in ("owner", "writer"):
        raise ApiError(403, "The caller does not have permission")
    return form, file


def _bump(form: dict[str, Any]) -> None:
    form["revisionId"] = f"{int(form['revisionId'], 16) + 1:08x}"


def _view(ctx: Ctx, form: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(form)
    out["responderUri"] = responder_uri(ctx, form["formId"])
    if not out["items"]:
        del out["items"]
    return out


@handler("forms.forms.create")
def forms_create(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    info = body.get("info") or {}
    extra = [k for k in body if k != "info" and body[k] not in (None, {}, [])]
    extra += [f"info.{k}" for k in info if k not in ("title", "documentTitle") and info[k] is not None]
    if extra:
        raise bad_request("Only info.title and info.document_title can be set when creating a form. "
                          "To add items and change settings, use batchUpdate.", field=extra[0])
    title = info.get("title") or ""
    doc_title = info.get("documentTitle") or title or "Untitled form"
    file = create_file(ctx, name=doc_title, mime=FORM_MIME, owner=ctx.me, file_id=token_id(44))
    form = new_form(ctx, file["id"], title, doc_title)
    return _view(ctx, form)


@handler("forms.forms.get")
def forms_get(ctx: Ctx) -> dict[str, Any]:
    form, _ = get_form(ctx, ctx.params["formId"])
    return _view(ctx, form)


def _validate_item(item: dict[str, Any], where: str) -> None:
    kinds = [k for k in ITEM_KINDS if item.get(k) is not None]
    if len(kinds) != 1:
        raise bad_request(f"{where}: an item must have exactly one kind ({', '.join(ITEM_KINDS)}).", field=where)
    if kinds[0] == "questionItem":
        q = item["questionItem"].get("question") or {}
        qkinds = [k for k in QUESTION_KINDS if q.get(k) is not None]
        if len(qkinds) != 1:
            raise bad_request(f"{where}: a question must have exactly one kind.", field=where)
        if qkinds[0] == "choiceQuestion":
            cq = q["choiceQuestion"]
            if cq.get("type") in (None, "CHOICE_TYPE_UNSPECIFIED"):
                raise bad_request(f"{where}: choiceQuestion.type is required.", field=where)
            opts = cq.get("options") or []
            if not opts:
                raise bad_request(f"{where}: choiceQuestion needs at least one option.", field=where)
            values = [o.get("value", "") for o in opts if not o.get("isOther")]
            if any(not v for v in values):
                raise bad_request(f"{where}: option values must not be empty.", field=where)
            if len(set(values)) != len(values):
                raise bad_request(f"{where}: duplicate option values are not allowed.", field=where)
    if not (item.get("title") or "").strip() and kinds[0] in ("questionItem",):
        # Google accepts untitled questions, but they are unusable in our pages; keep Google's leniency.
        pass


def _assign_ids(item: dict[str, Any], used: set[str]) -> list[str]:
    def fresh() -> str:
        while True:
            candidate = secrets.token_hex(4)
            if candidate not in used:
                used.add(candidate)
                return candidate

    item["itemId"] = item.get("itemId") or fresh()
    qids = []
    if "questionItem" in item:
        q = item["questionItem"]["question"]
        q["questionId"] = q.get("questionId") or fresh()
        qids.append(q["questionId"])
    return qids


def _location(loc: dict[str, Any] | None, size: int, where: str, *, allow_end: bool) -> int:
    if not loc or "index" not in loc:
        raise bad_request(f"{where}: location.index is required.", field=where)
    idx = int(loc["index"])
    if idx < 0 or idx > size or (idx == size and not allow_end):
        raise bad_request(f"{where}: Index {idx} must be less than {'or equal to ' if allow_end else ''}the "
                          f"number of items ({size}).", field=where)
    return idx


def _merge_mask(target: dict[str, Any], source: dict[str, Any], mask: str, allowed: set[str], where: str) -> None:
    if not mask:
        raise bad_request(f"{where}: updateMask is required.", field=where)
    for path in mask.split(","):
        path = path.strip()
        if path == "*":
            for key in allowed:
                if key in source:
                    target[key] = copy.deepcopy(source[key])
            continue
        camel = re.sub(r"_(\w)", lambda m: m.group(1).upper(), path)
        top = camel.split(".")[0]
        if top not in allowed:
            raise bad_request(f"{where}: field '{path}' cannot be updated.", field=where)
        node_t, node_s = target, source
        parts = camel.split(".")
        for p in parts[:-1]:
            node_t = node_t.setdefault(p, {})
            node_s = node_s.get(p) or {}
        if parts[-1] in node_s:
            node_t[parts[-1]] = copy.deepcopy(node_s[parts[-1]])
        else:
            node_t.pop(parts[-1], None)


@handler("forms.forms.batchUpdate")
def forms_batch_update(ctx: Ctx) -> dict[str, Any]:
    stored, file = get_form(ctx, ctx.params["formId"], write=True)
    form = copy.deepcopy(stored)  # all-or-nothing: work on a copy, store only if every request succeeds
    wc = ctx.body.get("writeControl") or {}
    if wc.get("requiredRevisionId") and wc["requiredRevisionId"] != form["revisionId"]:
        raise failed_precondition("The revision ID in the request does not match the latest revision.")
    used = {i["itemId"] for i in form["items"]} | {
        i["questionItem"]["question"]["questionId"] for i in form["items"] if "questionItem" in i}
    replies: list[dict[str, Any]] = []
    for n, req in enumerate(ctx.body.get("requests") or []):
        kinds = [k for k, v in req.items() if v is not None]
        where = f"requests[{n}]"
        if len(kinds) != 1:
            raise bad_request(f"{where}: exactly one request kind must be set.", field=where)
        kind, arg = kinds[0], req[kinds[0]]
        if kind == "createItem":
            item = copy.deepcopy(arg.get("item") or {})
            _validate_item(item, f"{where}.create_item.item")
            idx = _location(arg.get("location"), len(form["items"]), f"{where}.create_item.location",
                            allow_end=True)
            qids = _assign_ids(item, used)
            form["items"].insert(idx, item)
            replies.append({"createItem": {"itemId": item["itemId"], **({"questionId": qids} if qids else {})}})
        elif kind == "updateItem":
            idx = _location(arg.get("location"), len(form["items"]), f"{where}.update_item.location",
                            allow_end=False)
            target = form["items"][idx]
            _merge_mask(target, arg.get("item") or {}, arg.get("updateMask", ""),
                        {"title", "description", *ITEM_KINDS}, f"{where}.update_item")
            _validate_item(target, f"{where}.update_item.item")
            _assign_ids(target, used)
            replies.append({})
        elif kind == "deleteItem":
            idx = _location(arg.get("location"), len(form["items"]), f"{where}.delete_item.location",
                            allow_end=False)
            form["items"].pop(idx)
            replies.append({})
        elif kind == "moveItem":
            src = _location(arg.get("originalLocation"), len(form["items"]), f"{where}.move_item", allow_end=False)
            dst = _location(arg.get("newLocation"), len(form["items"]), f"{where}.move_item", allow_end=False)
            form["items"].insert(dst, form["items"].pop(src))
            replies.append({})
        elif kind == "updateFormInfo":
            _merge_mask(form["info"], arg.get("info") or {}, arg.get("updateMask", ""),
                        {"title", "description"}, f"{where}.update_form_info")
            replies.append({})
        elif kind == "updateSettings":
            settings = arg.get("settings") or {}
            _merge_mask(form["settings"], settings, arg.get("updateMask", ""),
                        {"emailCollectionType", "quizSettings"}, f"{where}.update_settings")
            replies.append({})
        else:
            raise bad_request(f"{where}: {kind} is not supported.", field=where)
    if replies:
        _bump(form)
    ctx.store.put("form", form["formId"], form)
    if form["info"].get("title") != stored["info"].get("title"):
        file["modifiedTime"] = rfc3339(ctx.now)
        ctx.store.put("file", file["id"], file)
    out: dict[str, Any] = {"replies": replies, "writeControl": {"requiredRevisionId": form["revisionId"]}}
    if ctx.body.get("includeFormInResponse"):
        out["form"] = _view(ctx, form)
    if replies:
        _notify(ctx, form["formId"], "SCHEMA")
    return out


@handler("forms.forms.setPublishSettings")
def forms_set_publish(ctx: Ctx) -> dict[str, Any]:
    """https://developers.google.com/workspace/forms/api/reference/rest/v1/forms/setPublishSettings and
    PublishState (https://developers.google.com/workspace/forms/api/reference/rest/v1/forms#publishstate):
    both flags required; ``isAcceptingResponses`` true with ``isPublished`` false "isn't supported and
    returns an error"; a form published but not accepting responses takes none (the product closes a
    written exam's ballot this way at the end of its grading window)."""
    form, _ = get_form(ctx, ctx.params["formId"], write=True)
    settings = ctx.body.get("publishSettings") or {}
    mask = ctx.body.get("updateMask") or ""
    if mask not in ("publishState", "publish_state", "*"):
        raise bad_request("update_mask must be 'publishState'.", field="update_mask")
    state = settings.get("publishState")
    if not state or "isPublished" not in state or "isAcceptingResponses" not in state:
        raise bad_request("publish_settings.publish_state.is_published and is_accepting_responses are both "
                          "required.", field="publish_settings.publish_state")
    if state["isAcceptingResponses"] and not state["isPublished"]:
        raise bad_request("A form cannot accept responses while it is unpublished.",
                          field="publish_settings.publish_state.is_accepting_responses")
    form["publishSettings"] = {"publishState": {"isPublished": bool(state["isPublished"]),
                                                "isAcceptingResponses": bool(state["isAcceptingResponses"])}}
    ctx.store.put("form", form["formId"], form)
    return {"formId": form["formId"], "publishSettings": form["publishSettings"]}


# -- responses ------------------------------------------------------------------------------------------
def _filter(text: str) -> tuple[str, float] | None:
    if not text:
        return None
    m = re.fullmatch(r"\s*timestamp\s*(>=|>)\s*(\S+)\s*", text)
    if not m:
        raise bad_request(f"Invalid filter: {text!r}. Only 'timestamp > N' and 'timestamp >= N' with an RFC 3339 "
                          "timestamp are supported.", field="filter")
    return m.group(1), parse_rfc3339(m.group(2), "filter")


@handler("forms.forms.responses.list")
def responses_list(ctx: Ctx) -> dict[str, Any]:
    form, _ = get_form(ctx, ctx.params["formId"])
    flt = _filter(ctx.params.get("filter", ""))
    rows = ctx.store.list("response", form["formId"])
    if flt:
        op, ts = flt
        rows = [r for r in rows if (r["_ts"] > ts if op == ">" else r["_ts"] >= ts)]
    rows.sort(key=lambda r: r["_ts"])
    clean = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    return page(clean, ctx, "responses", default_size=5000, max_size=5000)


@handler("forms.forms.responses.get")
def responses_get(ctx: Ctx) -> dict[str, Any]:
    form, _ = get_form(ctx, ctx.params["formId"])
    rec = ctx.store.get("response", f"{form['formId']}/{ctx.params['responseId']}")
    if rec is None:
        raise ApiError(404, "Requested entity was not found.")
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def questions(form: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in form["items"]:
        if "questionItem" in item:
            q = item["questionItem"]["question"]
            out.append({"questionId": q["questionId"], "title": item.get("title", ""), "question": q})
    return out


def _open_form(ctx: Ctx, form_id: str, respondent: str) -> dict[str, Any]:
    form = ctx.store.get("form", form_id)
    file = ctx.store.get("file", form_id)
    if form is None or file is None or file.get("trashed"):
        raise ApiError(404, "Form not found.")
    state = form["publishSettings"]["publishState"]
    if not state["isPublished"] or not state["isAcceptingResponses"]:
        raise failed_precondition("The form is not accepting responses.")
    if role_of(file, respondent) is None and not is_responder(file, respondent, ctx.store):
        raise ApiError(403, f"{respondent} has no access to this form.")
    return form


def _answers(form: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    qs = questions(form)
    by_key: dict[str, dict[str, Any]] = {}
    for q in qs:
        by_key[q["questionId"]] = q
        by_key.setdefault(q["title"], q)
    out_answers: dict[str, Any] = {}
    for key, value in answers.items():
        found = by_key.get(key)
        if found is None:
            raise bad_request(f"Unknown question: {key!r}")
        q = found
        values = value if isinstance(value, list) else [value]
        values = [str(v) for v in values if str(v).strip() != ""]
        if not values:
            continue
        cq = q["question"].get("choiceQuestion")
        if cq:
            allowed = {o.get("value") for o in cq.get("options", [])}
            bad = [v for v in values if v not in allowed]
            if bad:
                raise bad_request(f"{bad[0]!r} is not an option of question {q['title']!r}")
            if cq.get("type") in ("RADIO", "DROP_DOWN") and len(values) > 1:
                raise bad_request(f"Question {q['title']!r} takes one answer")
        out_answers[q["questionId"]] = {"questionId": q["questionId"],
                                        "textAnswers": {"answers": [{"value": v} for v in values]}}
    missing = [q["title"] for q in qs if q["question"].get("required") and q["questionId"] not in out_answers]
    if missing:
        raise bad_request(f"Required question not answered: {missing[0]!r}")
    return out_answers


def submit_response(ctx: Ctx, form_id: str, respondent: str, answers: dict[str, Any]) -> dict[str, Any]:
    """A person submits the form (the people page and the actor API).  Each submission is a new response,
    as at Google: the API has no "one response per person" switch.

    ``createTime`` is written to the millisecond and ``lastSubmittedTime`` to the microsecond from the
    same clock reading, as Google does (see :func:`~.common.rfc3339_micro`): a never-edited response
    has two timestamps that differ by a fraction of a millisecond.
    """
    form = _open_form(ctx, form_id, respondent)
    out_answers = _answers(form, answers)
    now = ctx.now
    rid = "ACYDBN" + token_id(40)
    rec: dict[str, Any] = {"formId": form_id, "responseId": rid, "createTime": rfc3339(now),
                           "lastSubmittedTime": rfc3339_micro(now), "answers": out_answers, "_ts": now}
    if form["settings"].get("emailCollectionType") in ("VERIFIED", "RESPONDER_INPUT"):
        rec["respondentEmail"] = respondent
    rec["_respondent"] = respondent  # who really submitted (for "you already responded" on the page)
    ctx.store.put("response", f"{form_id}/{rid}", rec, parent=form_id)
    _notify(ctx, form_id, "RESPONSES")
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def edit_response(ctx: Ctx, form_id: str, response_id: str, respondent: str,
                  answers: dict[str, Any]) -> dict[str, Any]:
    """The respondent edits a response already submitted ("Edit your response" in Google Forms, which a
    form owner can switch on in the Forms editor; the API can neither switch it on nor off).

    The response keeps its id and ``createTime``; ``lastSubmittedTime`` moves on, and a ``RESPONSES``
    watch fires again (Forms push notifications cover new *and* updated responses).
    """
    form = _open_form(ctx, form_id, respondent)
    rec = ctx.store.get("response", f"{form_id}/{response_id}")
    if rec is None or rec.get("_respondent") != respondent:
        raise ApiError(404, "Response not found.")
    rec["answers"] = _answers(form, answers)
    now = ctx.now
    rec["lastSubmittedTime"] = rfc3339_micro(now)
    rec["_ts"] = now
    ctx.store.put("response", f"{form_id}/{response_id}", rec, parent=form_id)
    _notify(ctx, form_id, "RESPONSES")
    return {k: v for k, v in rec.items() if not k.startswith("_")}


# -- watches --------------------------------------------------------------------------------------------
def _live_watches(ctx: Ctx, form_id: str) -> list[dict[str, Any]]:
    out = []
    for w in ctx.store.list("watch", form_id):
        if parse_rfc3339(w["expireTime"]) <= ctx.now:
            ctx.store.delete("watch", f"{form_id}/{w['id']}")  # expired watches are gone
            continue
        out.append(w)
    return out


def _notify(ctx: Ctx, form_id: str, event_type: str) -> None:
    for w in _live_watches(ctx, form_id):
        if w["eventType"] == event_type and w.get("state", "ACTIVE") == "ACTIVE":
            topic = w["target"]["topic"]["topicName"]
            attrs = {"eventType": event_type, "formId": form_id, "watchId": w["id"]}
            ctx.events.append(functools.partial(ctx.sandbox.publish, topic, b"", attrs))


@handler("forms.forms.watches.create")
def watches_create(ctx: Ctx) -> dict[str, Any]:
    form, _ = get_form(ctx, ctx.params["formId"])
    watch = ctx.body.get("watch") or {}
    event = watch.get("eventType")
    topic = ((watch.get("target") or {}).get("topic") or {}).get("topicName", "")
    if event in (None, "EVENT_TYPE_UNSPECIFIED"):
        raise bad_request("watch.event_type is required.", field="watch.event_type")
    if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
        raise bad_request("watch.target.topic.topic_name must be projects/{project}/topics/{topic}.",
                          field="watch.target.topic.topic_name")
    if any(w["eventType"] == event for w in _live_watches(ctx, form["formId"])):
        raise ApiError(409, f"A watch with event type {event} already exists for this form.")
    wid = ctx.body.get("watchId") or token_id(20)
    if not re.fullmatch(r"[a-z0-9-]{4,63}|[A-Za-z0-9_-]{20}", wid):
        raise bad_request("watch_id must be 4-63 lowercase letters, digits or hyphens.", field="watch_id")
    now = ctx.now
    rec = {"id": wid, "target": {"topic": {"topicName": topic}}, "eventType": event, "createTime": rfc3339(now),
           "expireTime": rfc3339(now + WATCH_LIFETIME), "state": "ACTIVE"}
    ctx.store.put("watch", f"{form['formId']}/{wid}", rec, parent=form["formId"])
    return rec


@handler("forms.forms.watches.list")
def watches_list(ctx: Ctx) -> dict[str, Any]:
    form, _ = get_form(ctx, ctx.params["formId"])
    return {"watches": _live_watches(ctx, form["formId"])}


def _watch(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    form, _ = get_form(ctx, ctx.params["formId"])
    live = {w["id"]: w for w in _live_watches(ctx, form["formId"])}
    w = live.get(ctx.params["watchId"])
    if w is None:
        raise ApiError(404, "Requested entity was not found.")
    return form["formId"], w


@handler("forms.forms.watches.renew")
def watches_renew(ctx: Ctx) -> dict[str, Any]:
    form_id, w = _watch(ctx)
    w["expireTime"] = rfc3339(ctx.now + WATCH_LIFETIME)
    w["state"] = "ACTIVE"
    w.pop("errorType", None)
    ctx.store.put("watch", f"{form_id}/{w['id']}", w, parent=form_id)
    return w


@handler("forms.forms.watches.delete")
def watches_delete(ctx: Ctx) -> dict[str, Any]:
    form_id, w = _watch(ctx)
    ctx.store.delete("watch", f"{form_id}/{w['id']}")
    return {}


__all__ = ["HANDLERS", "edit_response", "json", "new_form", "questions", "submit_response"]
