"""Helpers shared by the emulated APIs: request context, ids, times, users, paging, field masks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .auth import Auth, Principal
from .errors import ApiError, bad_request

if TYPE_CHECKING:
    from .discovery import Method
    from .state import Store

Handler = Callable[["Ctx"], dict[str, Any]]


class World(Protocol):
    """What the handlers and the pages reach of the running sandbox (``server.Sandbox`` is one).

    Declared here, below the handlers, so that no handler imports the server that dispatches to it.
    """

    store: Store
    auth: Auth
    clock: Callable[[], float]

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> None: ...

    def log(self, method: str, path: str, body: bytes | str | None, *, batch: str | None = None) -> None: ...


@dataclass
class Ctx:
    sandbox: World
    method: Method | None
    principal: Principal
    params: dict[str, Any]
    body: dict[str, Any]
    base_url: str
    events: list[Callable[[], None]] = field(default_factory=list)
    media: bytes | None = None  # a media upload's content (POST /upload/...), else None

    @property
    def store(self) -> Store:
        return self.sandbox.store

    @property
    def now(self) -> float:
        return self.sandbox.clock()

    @property
    def me(self) -> str:
        return self.principal.email

    def is_admin(self) -> bool:
        return self.sandbox.auth.is_admin(self.principal.email)


def rfc3339(ts: float) -> str:
    """Millisecond precision, as Google writes most timestamps (``createTime`` of a form response)."""
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def rfc3339_micro(ts: float) -> str:
    """Microsecond precision, as Google writes a form response's ``lastSubmittedTime``.

    Google's own sample output shows both precisions for one never-edited response:
    ``"createTime": "2021-03-25T01:23:58.146Z", "lastSubmittedTime": "2021-03-25T01:23:58.146607Z"``
    (Forms API guide "Set up an Apps Script project"); the two differ by up to a millisecond although
    nobody edited anything.
    """
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}Z"


def parse_rfc3339(text: str, name: str = "timestamp") -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f"Invalid value for {name}: {text!r} is not an RFC 3339 timestamp") from None


def numeric_id(digits: int = 12) -> str:
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def token_id(length: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def user_id(email: str) -> str:
    # Stable across restarts so ids in the product's journal keep pointing at the same person.
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    return str(int(digest[:16], 16) % 10**20 + 10**20)


def ensure_user(store: Store, email: str) -> dict[str, Any]:
    email = email.lower()
    uid = user_id(email)
    rec = store.get("user", uid)
    if rec is None:
        local = email.split("@")[0]
        parts = [p.capitalize() for p in local.replace("_", ".").replace("-", ".").split(".") if p]
        given, family = (parts[0], " ".join(parts[1:])) if len(parts) > 1 else (local.capitalize(), "")
        rec = {"id": uid, "email": email, "givenName": given, "familyName": family}
        store.put("user", uid, rec)
        store.put("user_email", email, {"id": uid})
    return rec


def resolve_user(ctx: Ctx, ref: str) -> dict[str, Any]:
    """A Classroom user reference: "me", an email address or a numeric user id."""
    if ref == "me":
        return ensure_user(ctx.store, ctx.me)
    if "@" in ref:
        return ensure_user(ctx.store, ref)
    rec = ctx.store.get("user", ref)
    if rec is None:
        raise ApiError(404, "Requested entity was not found.")
    return rec


def profile(user: dict[str, Any]) -> dict[str, Any]:
    full = " ".join(p for p in (user["givenName"], user["familyName"]) if p)
    return {"id": user["id"], "name": {"givenName": user["givenName"], "familyName": user["familyName"],
                                       "fullName": full},
            "emailAddress": user["email"], "photoUrl": "", "verifiedTeacher": False}


def page(items: list[dict[str, Any]], ctx: Ctx, key: str, *, default_size: int = 100,
         max_size: int = 1000, size_param: str = "pageSize") -> dict[str, Any]:
    size = int(ctx.params.get(size_param) or default_size)
    size = max(1, min(size, max_size))
    start = 0
    if ctx.params.get("pageToken"):
        try:
            start = int(base64.urlsafe_b64decode(ctx.params["pageToken"].encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Invalid page token.", location="pageToken") from None
    chunk = items[start:start + size]
    out: dict[str, Any] = {}
    if chunk:
        out[key] = chunk
    if start + size < len(items):
        out["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def mask_fields(update_mask: str | None, allowed: set[str], *, required: bool = True) -> list[str]:
    if not update_mask:
        if required:
            raise bad_request("Update mask is required and must be non-empty.", field="update_mask")
        return []
    out = []
    for raw in update_mask.split(","):
        name = raw.strip()
        camel = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(name.split("_")))
        if camel not in allowed:
            raise bad_request(f"Non-updatable field in update mask: {name}", field="update_mask")
        out.append(camel)
    return out


# -- partial responses (the `fields` system parameter) -------------------------------------------------
def parse_fields(spec: str) -> dict[str, Any]:
    pos = 0

    def parse_list() -> dict[str, Any]:
        nonlocal pos
        tree: dict[str, Any] = {}
        while pos < len(spec):
            start = pos
            while pos < len(spec) and spec[pos] not in ",()":
                pos += 1
            path = spec[start:pos].strip()
            sub: dict[str, Any] = {}
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = parse_list()
                pos += 1  # ")"
            if path:
                node = tree
                parts = path.split("/")
                for p in parts[:-1]:
                    node = node.setdefault(p, {})
                node[parts[-1]] = sub
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
            elif pos < len(spec) and spec[pos] == ")":
                break
        return tree

    return parse_list()


def apply_fields(value: Any, tree: dict[str, Any]) -> Any:
    if not tree or "*" in tree:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: apply_fields(value[k], sub) for k, sub in tree.items() if k in value}
