"""Drive v3: the files behind forms and spreadsheets, their appProperties and sharing."""

from __future__ import annotations

import re
from typing import Any

from .common import Ctx, Handler, ensure_user, page, rfc3339, token_id
from .errors import ApiError, bad_request
from .files import (
    DRIVE_FILE_SCOPE,
    FORM_MIME,
    ROLES,
    SHEET_MIME,
    WHOLE_DRIVE_SCOPES,
    create_file,
    ensure_perm_id,
    group_members,
    is_responder,
    reachable,
    role_of,
)
from .forms import copy_form, new_form
from .sheets import new_spreadsheet

HANDLERS: dict[str, Handler] = {}


def handler(method_id: str):  # type: ignore[no-untyped-def]
    def deco(fn: Handler) -> Handler:
        HANDLERS[method_id] = fn
        return fn
    return deco


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
    if ctx.media is not None:
        # Uploaded content: Drive reports its size and MD5 (File resource: size, md5Checksum).
        import hashlib

        doc["size"] = str(len(ctx.media))
        doc["md5Checksum"] = hashlib.md5(ctx.media, usedforsecurity=False).hexdigest()
    ctx.store.put("file", doc["id"], doc)
    if mime == SHEET_MIME:
        new_spreadsheet(ctx, doc["id"], doc["name"])
    elif mime == FORM_MIME:
        new_form(ctx, doc["id"], doc["name"], doc["name"])
    return _view(ctx, doc)


@handler("drive.files.copy")
def files_copy(ctx: Ctx) -> dict[str, Any]:
    """A copy of a form or spreadsheet, owned by the caller, with the body's fields patched on.

    Google's files.copy "creates a copy of a file and applies any requested updates with patch
    semantics", and its Forms guide duplicates a form with it "to reuse content".  Where neither
    says more, the sandbox takes the stricter reading: a copied form keeps its info, settings and
    items, but its items and questions get new IDs, it has no responses and no watches, it starts
    unpublished (as forms made through the API since 30 June 2026 do) and it is shared with
    nobody (only parent folders' permissions are inherited, and these files have none)."""
    source = get_file(ctx, ctx.params["fileId"])
    body = ctx.body
    if source["mimeType"] not in (FORM_MIME, SHEET_MIME):
        raise ApiError(400, "The sandbox copies forms and spreadsheets only.", reason="invalid",
                       location="fileId")
    doc = create_file(ctx, name=body.get("name") or f"Copy of {source['name']}", mime=source["mimeType"],
                      owner=ctx.me, file_id=token_id(44) if source["mimeType"] == FORM_MIME else None)
    doc["appProperties"] = dict(source.get("appProperties") or {})
    doc["properties"] = dict(source.get("properties") or {})
    for key in ("appProperties", "properties"):
        for k, v in (body.get(key) or {}).items():  # patch semantics: a null value removes the key
            if v is None:
                doc[key].pop(k, None)
            else:
                doc[key][k] = str(v)
    if body.get("description") is not None:
        doc["description"] = body["description"]
    if body.get("parents"):
        doc["parents"] = list(body["parents"])
    ctx.store.put("file", doc["id"], doc)
    if source["mimeType"] == FORM_MIME:
        copy_form(ctx, source["id"], doc["id"], doc["name"])
    else:
        new_spreadsheet(ctx, doc["id"], doc["name"])
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
    if ptype == "group" and group_members(ctx.store, email) is None:
        # Drive shares with groups that exist; the sandbox knows only the groups set through
        # /_actor/groups (the university's Workspace admin makes the real one).  Not documented
        # either way: the stricter reading refuses an unknown group.
        raise ApiError(400, f"The group {email} does not exist.", reason="invalidSharingRequest",
                       location="permission.emailAddress")
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
        if ptype == "user":
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
