"""The Drive files behind forms and spreadsheets: making one, and who may do what with it.

Drive, Forms and Sheets all work on these records, so they live below the three APIs' handlers.
"""

from __future__ import annotations

from typing import Any

from .common import Ctx, ensure_user, rfc3339, token_id, user_id

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


def group_members(store: Any, group: str) -> set[str] | None:
    """The members of a Google Group the sandbox knows (set through ``/_actor/groups``), or None."""
    rec = store.get("group", group.lower()) if store is not None else None
    return None if rec is None else {str(m).lower() for m in rec.get("members", [])}


def is_responder(doc: dict[str, Any], email: str, store: Any = None) -> bool:
    """Whether a responder permission (view "published") names the person or a group they are in
    at this moment (membership is looked up when they respond, as sharing with a group works in
    Drive: guide "Share files, folders, and drives")."""
    for p in doc.get("permissions", []):
        if p.get("view") != "published":
            continue
        if p["type"] == "user" and p.get("emailAddress") == email:
            return True
        if p["type"] == "group" and email in (group_members(store, p.get("emailAddress", "")) or set()):
            return True
    return False
