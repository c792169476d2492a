"""Drive v3: the files behind forms and spreadsheets, their appProperties and sharing."""

from __future__ import annotations

import re
from typing import Any

from .common import Ctx, Handler, ensure_user, page, rfc3339, token_id, user_id
from .errors import ApiError, bad_request

HANDLERS: dict[str, Handler] = {}

FORM_MIME = "application/vnd.google-apps.form"
SHEET_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
ROLES = {"owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"}

_AUTH = "https://www.googleapis.com/auth/"
DRIVE_FILE_SCOPE = _AUTH + "drive.file"
# Scopes that reach every file of the user; without one of them a token with drive.file reaches only
# the files this app created or opened ("Create new Drive files, or modify existing files, that you
# open with an app or that the user shares with an app", Drive guide "Choose Google Drive API scopes").
WHOLE_DRIVE_SCOPES = frozenset(_AUTH + s for s in (
    "drive", "drive.readonly", "drive.metadata", "drive.metadata.readonly", "drive.photos.readonly"))


def handler(method_id: str):  # type: ignore[no-untyped-def]
    def deco(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn
    return deco


def _owner_perm(email: str) -> dict[str, Any]:
    return {"kind": "drive#permission", "id": ensure_perm_id(email), "type": "user", "role": "owner",
            "emailAddress": email, "displayName": email.split("@")[0], "deleted": False, "pendingOwner": False}


def ensure_perm_id(email: str) -> str:
    return user_id(email)[:20]


def create_file(ctx: Ctx, *, name: str, mime: str, owner: str, file_id: str | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    fid = file_id or token_id(33)
    now = rfc3339(ctx.now)
    ensure_user(ctx.store, owner)
    links = {FORM_MIME: f"https://docs.google.com/forms/d/{fid}/edit",
             SHEET_MIME: f"https://docs.google.com/spreadsheets/d/{fid}/edit"}
    doc: dict[str, Any] = {
        "kind": "drive#file", "id": fid, "name": name, "mimeType": mime, "starred": False, "trashed": False,
        "parents": ["root"], "appProperties": {}, "properties": {}, "createdTime": now, "modifiedTime": now,
        "owners": [{"kind": "drive#user", "emailAddress": owner, "displayName": owner.split("@")[0],
                    "me": False, "permissionId": ensure_perm_id(owner)}],
        "webViewLink": links.get(mime, f"https://drive.google.com/file/d/{fid}/view"),
        "ownedByMe": True, "shared": False, "version": "1", "permissions": [_owner_perm(owner)],
    }
    if extra:
        doc.update(extra)
    if DRIVE_FILE_SCOPE in ctx.principal.scopes:
        # Created by this app under drive.file: its per-file grant covers the file from now on.  A
        # file made with a token that did not hold drive.file (a form created with forms.body alone)
        # gets no such grant: Google documents none for that case, so the sandbox takes the strict
        # reading and a drive.file token cannot see it.
        doc["_apps"] = [ctx.principal.project]
    ctx.store.put("file", fid, doc)
    return doc


def reachable(ctx: Ctx, doc: dict[str, Any], whole: frozenset[str] = WHOLE_DRIVE_SCOPES) -> bool:
    """Whether the caller's token reaches the file at all (before any sharing role is considered).

    ``whole``: the scopes of the API being called that reach every file of the user (for Forms,
    forms.body and its read-only kin besides the whole-Drive scopes).  Without one, only drive.file
    is left, and it reaches the app's own files."""
    if ctx.method is None or ctx.principal.scopes & whole or DRIVE_FILE_SCOPE not in ctx.principal.scopes:
        return True  # people acting in the sandbox's pages, or a token with a wider scope
    return ctx.principal.project in doc.get("_apps", [])


def role_of(doc: dict[str, Any], email: str) -> str | None:
    """The user's Drive role on the file; "published" responder permissions give no Drive access."""
    best = None
    order = ["reader", "commenter", "writer", "fileOrganizer", "organizer", "owner"]
    for p in doc.get("permissions", []):
        if p.get("view") == "published":
            continue
        mine = p["type"] == "anyone" or (p["type"] == "user" and p.get("emailAddress") == email)
        if mine and (best is None or order.index(p["role"]) > order.index(best)):
            best = p["role"]
    return best


def is_responder(doc: dict[str, Any], email: str) -> bool:
    return any(p.get("view") == "published" and p.get("emailAddress") == email for p in doc.get("permissions", []))


def get_file(ctx: Ctx, file_id: str, *, write: bool = False) -> dict[str, Any]:
    doc = ctx.store.get("file", file_id)
    role = role_of(doc, ctx.me) if doc and reachable(ctx, doc) else None
    if doc is None or role is None:
        raise ApiError(404, f"File not found: {file_id}.", reason="notFound", location="fileId")
    if write and role not in ("owner", "writer", "organizer", "fileOrganizer"):
        raise ApiError(403, "The user does not have sufficient permissions for this file.",
                       reason="insufficientFilePermissions")
    return doc


def _view(ctx: Ctx, doc: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if not k.startswith("_")}
    out["ownedByMe"] = any(o["emailAddress"] == ctx.me for o in doc["owners"])
    out["owners"] = [dict(o, me=o["emailAddress"] == ctx.me) for o in doc["owners"]]
    out["capabilities"] = {"canEdit": role_of(doc, ctx.me) in ("owner", "writer"), "canShare": True}
    return out


# -- q language ---------------------------------------------------------------------------------------
_STR = r"'((?:[^'\\]|\\.)*)'"


def _split_and(q: str) -> list[str]:
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(q):
        c = q[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == "'":
            quoted = not quoted
        elif not quoted and c in "{(":
            depth += 1
        elif not quoted and c in "})":
            depth -= 1
        elif not quoted and depth == 0 and q[i:i + 5].lower() == " and ":
            parts.append(q[start:i])
            start = i + 5
            i += 5
            continue
        elif not quoted and depth == 0 and q[i:i + 4].lower() == " or ":
            raise _bad_q(q, "'or' between terms is not supported by the sandbox")
        i += 1
    parts.append(q[start:])
    return [p.strip() for p in parts if p.strip()]


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _bad_q(q: str, why: str = "") -> ApiError:
    return ApiError(400, "Invalid Value" + (f" ({why})" if why else ""), reason="invalid", location="q")


def _predicate(clause: str, q: str):  # type: ignore[no-untyped-def]
    m = re.fullmatch(r"(appProperties|properties)\s+has\s*\{\s*key\s*=\s*" + _STR + r"\s+and\s+value\s*=\s*"
                     + _STR + r"\s*\}", clause, re.I)
    if m:
        field, key, value = m.group(1), _unescape(m.group(2)), _unescape(m.group(3))
        field = "appProperties" if field.lower() == "appproperties" else "properties"
        return lambda d: d.get(field, {}).get(key) == value
    m = re.fullmatch(r"(mimeType|name)\s*(=|!=)\s*" + _STR, clause)
    if m:
        field, op, value = m.group(1), m.group(2), _unescape(m.group(3))
        return (lambda d: d.get(field) == value) if op == "=" else (lambda d: d.get(field) != value)
    m = re.fullmatch(r"name\s+contains\s+" + _STR, clause)
    if m:
        value = _unescape(m.group(1)).lower()
        return lambda d: value in d.get("name", "").lower()
    m = re.fullmatch(r"trashed\s*(=|!=)\s*(true|false)", clause)
    if m:
        want = (m.group(2) == "true") == (m.group(1) == "=")
        return lambda d: bool(d.get("trashed")) == want
    m = re.fullmatch(_STR + r"\s+in\s+(parents|owners|writers|readers)", clause)
    if m:
        value, rel = _unescape(m.group(1)), m.group(2)
        if rel == "parents":
            return lambda d: value in d.get("parents", [])
        roles = {"owners": {"owner"}, "writers": {"owner", "writer"},
                 "readers": {"owner", "writer", "commenter", "reader"}}[rel]
        return lambda d: any(p.get("emailAddress") == value and p["role"] in roles and p.get("view") != "published"
                             for p in d.get("permissions", []))
    raise _bad_q(q, f"unsupported term: {clause}")


@handler("drive.files.list")
def files_list(ctx: Ctx) -> dict[str, Any]:
    q = ctx.params.get("q", "")
    preds = [_predicate(c, q) for c in _split_and(q)] if q else []
    files = [d for d in ctx.store.list("file")
             if role_of(d, ctx.me) is not None and reachable(ctx, d) and all(p(d) for p in preds)]
    out = page([_view(ctx, d) for d in files], ctx, "files", default_size=100, max_size=1000)
    out.setdefault("files", [])
    return {"kind": "drive#fileList", "incompleteSearch": False, **out}


@handler("drive.files.get")
def files_get(ctx: Ctx) -> dict[str, Any]:
    return _view(ctx, get_file(ctx, ctx.params["fileId"]))


@handler("drive.files.create")
def files_create(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    mime = body.get("mimeType") or "application/octet-stream"
    doc = create_file(ctx, name=body.get("name") or "Untitled", mime=mime, owner=ctx.me)
    doc["appProperties"] = {k: v for k, v in (body.get("appProperties") or {}).items() if v is not None}
    doc["properties"] = {k: v for k, v in (body.get("properties") or {}).items() if v is not None}
    if body.get("parents"):
        doc["parents"] = list(body["parents"])
    ctx.store.put("file", doc["id"], doc)
    if mime == SHEET_MIME:
        from .sheets import new_spreadsheet

        new_spreadsheet(ctx, doc["id"], doc["name"])
    elif mime == FORM_MIME:
        from .forms import new_form

        new_form(ctx, doc["id"], doc["name"], doc["name"])
    return _view(ctx, doc)


@handler("drive.files.update")
def files_update(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"], write=True)
    body = ctx.body
    for key in ("appProperties", "properties"):
        # Drive merges these maps key by key; a null value removes the key.
        for k, v in (body.get(key) or {}).items():
            if v is None:
                doc[key].pop(k, None)
            else:
                doc[key][k] = str(v)
    for key in ("name", "description", "starred", "trashed"):
        if key in body and body[key] is not None:
            doc[key] = body[key]
    doc["modifiedTime"] = rfc3339(ctx.now)
    doc["version"] = str(int(doc.get("version", "1")) + 1)
    ctx.store.put("file", doc["id"], doc)
    if "name" in body and doc["mimeType"] == SHEET_MIME:
        sheet = ctx.store.get("spreadsheet", doc["id"])
        if sheet:
            sheet["properties"]["title"] = doc["name"]
            ctx.store.put("spreadsheet", doc["id"], sheet)
    return _view(ctx, doc)


@handler("drive.files.delete")
def files_delete(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"])
    if role_of(doc, ctx.me) != "owner":
        raise ApiError(403, "The user does not have sufficient permissions for this file.",
                       reason="insufficientFilePermissions")
    ctx.store.delete("file", doc["id"])
    return {}


@handler("drive.permissions.create")
def permissions_create(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"], write=True)
    body = ctx.body
    ptype, role = body.get("type"), body.get("role")
    if not ptype or not role:
        raise ApiError(400, "The permission type field is required." if not ptype else
                       "The permission role field is required.", reason="required",
                       location="permission.type" if not ptype else "permission.role")
    if role not in ROLES:
        raise ApiError(400, f"The value of the permission role field is invalid: {role}", reason="invalid",
                       location="permission.role")
    email = (body.get("emailAddress") or "").lower()
    if ptype in ("user", "group") and not email:
        raise ApiError(400, "The permission emailAddress field is required for user and group permissions.",
                       reason="required", location="permission.emailAddress")
    view = body.get("view")
    if view is not None:
        if view != "published" or role != "reader":
            raise ApiError(400, "The only supported view is 'published' with role 'reader'.", reason="invalid",
                           location="permission.view")
        if doc["mimeType"] == FORM_MIME:
            form = ctx.store.get("form", doc["id"]) or {}
            if not form.get("publishSettings", {}).get("publishState", {}).get("isPublished"):
                raise ApiError(400, "The form must be published before responders can be added.",
                               reason="invalidSharingRequest", status="FAILED_PRECONDITION")
    if role == "owner" and not ctx.params.get("transferOwnership"):
        raise ApiError(403, "The transferOwnership parameter must be enabled when the permission role is "
                       "'owner'.", reason="forbidden", location="transferOwnership")
    for existing in doc["permissions"]:
        if existing.get("emailAddress") == email and existing["type"] == ptype and existing.get("view") == view:
            if existing["role"] != role and existing["role"] != "owner":
                existing["role"] = role
                ctx.store.put("file", doc["id"], doc)
            return existing
    pid = ensure_perm_id(email) if email else token_id(20)
    if view:
        pid += "v"  # a responder permission is separate from the person's Drive role on the file
    perm = {"kind": "drive#permission", "id": pid, "type": ptype,
            "role": role, "deleted": False, "pendingOwner": False}
    if email:
        ensure_user(ctx.store, email)
        perm.update(emailAddress=email, displayName=email.split("@")[0])
    if view:
        perm["view"] = view
    if ptype == "domain":
        perm["domain"] = body.get("domain", "")
    doc["permissions"].append(perm)
    doc["shared"] = True
    ctx.store.put("file", doc["id"], doc)
    return perm


@handler("drive.permissions.list")
def permissions_list(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"])
    out = page(doc["permissions"], ctx, "permissions", default_size=100, max_size=100)
    out.setdefault("permissions", [])
    return {"kind": "drive#permissionList", **out}


@handler("drive.permissions.get")
def permissions_get(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"])
    for p in doc["permissions"]:
        if p["id"] == ctx.params["permissionId"]:
            return p
    raise ApiError(404, f"Permission not found: {ctx.params['permissionId']}.", reason="notFound",
                   location="permissionId")


@handler("drive.permissions.delete")
def permissions_delete(ctx: Ctx) -> dict[str, Any]:
    doc = get_file(ctx, ctx.params["fileId"], write=True)
    keep = [p for p in doc["permissions"] if p["id"] != ctx.params["permissionId"] or p["role"] == "owner"]
    if len(keep) == len(doc["permissions"]):
        raise ApiError(404, f"Permission not found: {ctx.params['permissionId']}.", reason="notFound",
                       location="permissionId")
    doc["permissions"] = keep
    ctx.store.put("file", doc["id"], doc)
    return {}


__all__ = ["DRIVE_FILE_SCOPE", "FORM_MIME", "HANDLERS", "SHEET_MIME", "WHOLE_DRIVE_SCOPES", "bad_request",
           "create_file", "get_file", "is_responder", "reachable", "role_of"]
