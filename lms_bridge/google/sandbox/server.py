"""The sandbox WSGI application: one choke point for every emulated Google API call.

Each call (a plain HTTP request or one part of an HTTP batch) goes through :meth:`Sandbox.call`:
request log -> discovery routing -> token and scopes -> parameter and body validation -> quota ->
injected faults -> the method's handler inside one store transaction -> partial response (`fields`).
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from flask import Flask, Response, request

from . import classroom, drive, forms, sheets
from .auth import SA_EMAIL, TOKEN_PATH, Auth
from .common import Ctx, apply_fields, parse_fields
from .discovery import SERVICES, load_service, match, validate_body, validate_params
from .errors import ApiError, bad_request
from .limits import Faults, Limiter, injected_429, injected_500
from .oidc import register_oidc, token_grant
from .people import register_people
from .push import Message, Pusher
from .state import Store

HANDLERS: dict[str, Callable[[Ctx], dict[str, Any]]] = {
    **classroom.HANDLERS, **forms.HANDLERS, **drive.HANDLERS, **sheets.HANDLERS}

# Batch endpoint -> (host, most parts Google accepts).  Forms and Sheets publish no figure; the client's
# own cap (1000) applies there.
BATCH_ENDPOINTS: dict[str, tuple[str, int]] = {
    "classroom.googleapis.com/batch": ("classroom.googleapis.com", 50),
    "www.googleapis.com/batch/drive/v3": ("www.googleapis.com", 100),
    "forms.googleapis.com/batch": ("forms.googleapis.com", 1000),
    "sheets.googleapis.com/batch": ("sheets.googleapis.com", 1000),
}

# Drive's permission writes.  Their reference pages warn: "Concurrent permissions operations on the same
# file are not supported; only the last update is applied" (drive v3 permissions.create/update/delete),
# and the batch guide says the parts of a batch may run in any order.  The sandbox takes the strict
# reading: of several permission writes on one file that overlap in time (parts of one batch, or
# requests in flight together) exactly one is applied, chosen at random; the others answer 200 with
# the permission as if applied, and change nothing, as Google's lost updates do.
PERMISSION_WRITES = frozenset({"drive.permissions.create", "drive.permissions.update", "drive.permissions.delete"})
_PERMISSION_PATH = re.compile(r"(?:drive/v3/)?files/([^/?]+)/permissions(?:/[^/?]+)?$")

# Drive answers only these unless `fields` asks for more.
DRIVE_DEFAULT_FIELDS = {
    "drive.files.get": "kind,id,name,mimeType",
    "drive.files.create": "kind,id,name,mimeType",
    "drive.files.update": "kind,id,name,mimeType",
    "drive.files.copy": "kind,id,name,mimeType",
    "drive.files.list": "kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)",
    "drive.permissions.create": "kind,id,type,emailAddress,role,view",
    "drive.permissions.get": "kind,id,type,emailAddress,role,view",
    "drive.permissions.list": "kind,nextPageToken,permissions(kind,id,type,emailAddress,role,view)",
}


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    def json_bytes(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, indent=2).encode("utf-8")


class Sandbox:
    def __init__(self, state_dir: Path, *, push_endpoint: str | None, request_log: Path | None,
                 faults: dict[str, Any] | None, clock: Callable[[], float] | None, base_url: str | None,
                 push_audience: str | None, push_service_account: str, oauth_user: str | None,
                 admins: set[str] | None, push_backoff: float) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.clock: Callable[[], float] = clock or time.time
        self.store = Store(state_dir / "sandbox.sqlite3")
        self.auth = Auth(state_dir, self.store, self.clock, base_url=base_url, oauth_user=oauth_user,
                         admins=admins)
        self.faults = Faults.from_dict(faults)
        self.limiter = Limiter(self.faults, self.clock)
        # Which file has permission writes in flight (see PERMISSION_WRITES), and a random source
        # for which of several overlapping writes survives.
        self._perm_lock = threading.Lock()
        self._perm_in_flight: Counter[str] = Counter()
        self._perm_rng = random.Random(self.faults.seed)
        self.request_log = request_log
        self._log_lock = threading.Lock()
        self.push_service_account = push_service_account
        self.pusher = Pusher(push_endpoint, lambda aud: self.auth.sign_oidc(aud, push_service_account),
                             self.clock, audience=push_audience, first_backoff=push_backoff)

    # -- request log --------------------------------------------------------------------------------
    def log(self, method: str, path: str, body: bytes | str | None, *, batch: str | None = None) -> None:
        if self.request_log is None:
            return
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        parsed: Any = text
        if text:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "method": method, "path": path,
                "body": parsed if text else None}
        if batch:
            line["batch"] = batch
        with self._log_lock, self.request_log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> None:
        self.pusher.publish(Message(topic=topic, data=data, attributes=attributes, publish_time=self.clock()))

    def close(self) -> None:
        """Stop push delivery and close the store (tests, `sandbox serve` shutdown)."""
        self.pusher.stop()
        self.store.close()

    # -- the choke point ----------------------------------------------------------------------------
    def call(self, http_method: str, host: str, path: str, query: str, headers: dict[str, str], body: bytes,
             base_url: str, *, batch: str | None = None, lose_permission_write: bool = False,
             media: bytes | None = None) -> Reply:
        self.log(http_method, f"/{host}/{path}" + (f"?{query}" if query else ""), body, batch=batch)
        file_id = None if batch else _permission_file(host, http_method, path)
        if file_id is not None:
            # A lone request: it loses when another permission write on the file is in flight.
            with self._perm_lock:
                lose_permission_write = self._perm_in_flight[file_id] > 0
                self._perm_in_flight[file_id] += 1
        try:
            return self._call(http_method, host, path, query, headers, body, base_url, in_batch=bool(batch),
                              lose_permission_write=lose_permission_write, media=media)
        except ApiError as exc:
            return Reply(exc.code, exc.body(), exc.headers)
        finally:
            if file_id is not None:
                with self._perm_lock:
                    self._perm_in_flight[file_id] -= 1

    def _call(self, http_method: str, host: str, path: str, query: str, headers: dict[str, str], body: bytes,
              base_url: str, *, in_batch: bool, lose_permission_write: bool = False,
              media: bytes | None = None) -> Reply:
        method, path_values = match(host, http_method, path)
        if media is not None and method.id not in MEDIA_UPLOADS:
            raise bad_request(f"Method {method.id} takes no media upload.")
        svc = load_service(host)
        qs = parse_qs(query, keep_blank_values=True)
        token_values = qs.get("access_token") or qs.get("oauth_token") or []
        token_param = token_values[-1] if token_values else None
        principal = self.auth.principal(headers.get("authorization"), token_param)
        if method.scopes and not (principal.scopes & set(method.scopes)):
            raise ApiError(403, "Request had insufficient authentication scopes.", reason="insufficientPermissions",
                           status="PERMISSION_DENIED", details=[{
                               "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                               "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com",
                               "metadata": {"service": host if host != "www.googleapis.com" else "drive.googleapis.com",
                                            "method": method.id}}])
        params = validate_params(method, path_values, qs, svc.doc.get("parameters", {}))
        payload: dict[str, Any] = {}
        if body.strip():
            try:
                payload = json.loads(body)
            except ValueError as exc:
                raise bad_request(f"Invalid JSON payload received. {exc}") from None
            if method.request_ref is None:
                raise bad_request("Invalid JSON payload received. Unknown name: this method takes no body.")
            validate_body(svc, method.request_ref, payload)
        elif method.request_ref and http_method in ("POST", "PUT", "PATCH"):
            payload = {}
        self.limiter.charge(method, principal.email)
        fault = self.limiter.roll()
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if fault == "429":
            raise injected_429(method)
        if fault == "500":
            raise injected_500()
        handler = HANDLERS.get(method.id)
        if handler is None:
            raise ApiError(501, f"Method {method.id} is not implemented by the lms_bridge Google sandbox.")
        ctx = Ctx(sandbox=self, method=method, principal=principal, params=params, body=payload,
                  base_url=base_url, media=media)
        with self.store.transaction():
            lost = None
            if lose_permission_write and method.id in PERMISSION_WRITES:
                lost = self.store.get("file", params.get("fileId", ""))
            result = handler(ctx)
            if lost is not None:
                self.store.put("file", lost["id"], lost)  # answered as applied, but overwritten
        for event in ctx.events:
            event()  # pushes go out only once the change is committed
        if method.api == "classroom" and classroom.PROFILE_EMAILS_SCOPE not in principal.scopes:
            result = classroom.hide_profile_emails(result)
        fields = params.get("fields") or DRIVE_DEFAULT_FIELDS.get(method.id)
        if fields and isinstance(result, dict):
            result = apply_fields(result, parse_fields(fields))
        if fault == "timeout" and not in_batch:
            # The change is made, the answer comes too late: the client's timeout decides what it sees.
            time.sleep(self.faults.timeout_seconds)
        status = 204 if method.http_method == "DELETE" and not result and method.api == "drive" else 200
        return Reply(status, result, {})

    # -- HTTP batch ---------------------------------------------------------------------------------
    def batch(self, endpoint: str, content_type: str, body: bytes, headers: dict[str, str], script_root: str,
              base_url: str) -> Response:
        host, limit = BATCH_ENDPOINTS[endpoint]
        self.log("POST", f"/{endpoint}", f"<multipart batch, {len(body)} bytes>")
        if "multipart/mixed" not in content_type:
            return _json_response(bad_request("Batch requests must be multipart/mixed."))
        parser = email.parser.BytesParser(policy=email.policy.compat32)
        msg = parser.parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        parts: list[email.message.Message] = list(msg.get_payload()) if msg.is_multipart() else []  # type: ignore[arg-type]
        if not parts:
            return _json_response(bad_request("Batch request contains no parts."))
        if len(parts) > limit:
            return _json_response(bad_request(f"A batch request cannot contain more than {limit} calls; "
                                              f"this one has {len(parts)}."))
        boundary = "batch_" + uuid.uuid4().hex
        raws = []
        for part in parts:
            raw = part.get_payload(decode=False)
            raws.append(raw.encode("utf-8") if isinstance(raw, str) else str(raw).encode("utf-8"))
        # Permission writes on one file within the batch: one survives (see PERMISSION_WRITES).
        by_file: dict[str, list[int]] = {}
        for n, raw_bytes in enumerate(raws):
            fid = _part_permission_file(raw_bytes, host, script_root)
            if fid is not None:
                by_file.setdefault(fid, []).append(n)
        with self._perm_lock:
            busy = {fid for fid in by_file if self._perm_in_flight[fid] > 0}
            self._perm_in_flight.update(by_file.keys())
        losers: set[int] = set()
        for fid, indexes in by_file.items():
            keep = None if fid in busy else self._perm_rng.choice(indexes)
            losers.update(i for i in indexes if i != keep)
        out = []
        try:
            replies = [self._batch_part(raw_bytes, host, headers, script_root, base_url, endpoint,
                                        lose_permission_write=n in losers) for n, raw_bytes in enumerate(raws)]
        finally:
            with self._perm_lock:
                self._perm_in_flight.subtract(by_file.keys())
        for part, reply in zip(parts, replies, strict=True):
            content_id = part.get("Content-ID", "")
            cid = content_id.strip()
            resp_id = f"<response-{cid[1:-1]}>" if cid.startswith("<") else f"<response-{cid}>"
            text = reply.json_bytes().decode("utf-8")
            out.append(f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {resp_id}\r\n\r\n"
                       f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n"
                       "Content-Type: application/json; charset=UTF-8\r\n"
                       f"Content-Length: {len(text.encode('utf-8'))}\r\n\r\n{text}\r\n")
        out.append(f"--{boundary}--\r\n")
        return Response("".join(out).encode("utf-8"), 200,
                        content_type=f"multipart/mixed; boundary={boundary}")

    def _batch_part(self, raw: bytes, host: str, outer: dict[str, str], script_root: str, base_url: str,
                    endpoint: str, *, lose_permission_write: bool = False) -> Reply:
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n")
        head, _, part_body = text.partition("\n\n")
        lines = head.split("\n")
        try:
            verb, target, _version = lines[0].split(" ", 2)
        except ValueError:
            return Reply(400, bad_request("Malformed batch part: no request line.").body(), {})
        part_headers = dict(outer)
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                part_headers[k.strip().lower()] = v.strip()
        split = urlsplit(target)
        path = split.path
        # Parts carry the path the client built: "/google/classroom.googleapis.com/v1/..." through the
        # product's mount, "/classroom.googleapis.com/v1/..." here, or Google's own "/v1/...".
        if script_root and path.startswith(script_root + "/"):
            path = path[len(script_root):]
        path = path.lstrip("/")
        first, _, rest = path.partition("/")
        if first in SERVICES:
            if first != host:
                return Reply(400, bad_request("Cannot mix requests for different APIs in one batch.").body(), {})
            path = rest
        return self.call(verb, host, path, split.query, part_headers, part_body.encode("utf-8"),
                         base_url, batch=endpoint, lose_permission_write=lose_permission_write)


# Methods that take a media upload (discovery ``supportsMediaUpload``) and that the sandbox models.
MEDIA_UPLOADS = frozenset({"drive.files.create"})
# A multipart upload carries "a small file (5 MB or less)" with its metadata (Upload file data,
# https://developers.google.com/drive/api/guides/manage-uploads); a larger file goes resumable.
MULTIPART_LIMIT = 5 * 1024 * 1024


def media_upload(query: str, content_type: str, body: bytes) -> tuple[bytes, bytes]:
    """The metadata (JSON) and the content of a multipart upload (``uploadType=multipart``: a
    ``multipart/related`` body, metadata first, then the media).  The sandbox models only this upload
    type; simple and resumable uploads are refused as not implemented."""
    kinds = parse_qs(query).get("uploadType") or [""]
    if kinds[-1] != "multipart":
        raise ApiError(501, "The lms_bridge Google sandbox models multipart uploads only (uploadType=multipart).")
    if not content_type.lower().startswith("multipart/related"):
        raise bad_request("A multipart upload needs Content-Type: multipart/related.")
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        raise bad_request("A multipart upload has two parts: the metadata, then the media.")
    metadata = parts[0].get_payload(decode=True) or b""
    media = parts[1].get_payload(decode=True) or b""
    if len(media) > MULTIPART_LIMIT:
        raise bad_request("A multipart upload carries 5 MB or less; use a resumable upload.")
    return metadata, media


def _permission_file(host: str, http_method: str, path: str) -> str | None:
    """The file id when the request is a Drive permission write (create, update or delete)."""
    if host != "www.googleapis.com" or http_method not in ("POST", "PATCH", "DELETE"):
        return None
    m = _PERMISSION_PATH.search(urlsplit(path).path)
    return unquote(m.group(1)) if m else None


def _part_permission_file(raw: bytes, host: str, script_root: str) -> str | None:
    first = raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n", 1)[0]
    try:
        verb, target, _version = first.split(" ", 2)
    except ValueError:
        return None
    path = urlsplit(target).path
    if script_root and path.startswith(script_root + "/"):
        path = path[len(script_root):]
    return _permission_file(host, verb, path.lstrip("/"))


def _raw_rest(host: str, decoded: str) -> str:
    """The path after ``/<host>/`` as the client sent it (percent-encoding intact).

    werkzeug decodes PATH_INFO, which would turn an encoded "/" inside a parameter (a sheet name, an
    alias) into a path separator; the development server and gunicorn keep the raw target.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return decoded
    path = urlsplit(raw).path
    root = quote(request.script_root)
    if root and path.startswith(root + "/"):
        path = path[len(root):]
    prefix = f"/{host}/"
    if not path.startswith(prefix) or unquote(path[len(prefix):]) != decoded:
        return decoded  # a rewriting proxy or mount we do not understand: trust PATH_INFO
    return path[len(prefix):]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _json_response(exc: ApiError) -> Response:
    return Response(json.dumps(exc.body(), indent=2), exc.code, content_type="application/json; charset=UTF-8",
                    headers=exc.headers)


def create_app(state_dir: Path, *, push_endpoint: str | None = None, request_log: Path | None = None,
               faults: dict[str, Any] | None = None, clock: Callable[[], float] | None = None,
               base_url: str | None = None, push_audience: str | None = None,
               push_service_account: str = "pubsub-push@lms-bridge.iam.gserviceaccount.com",
               oauth_user: str | None = None, admins: set[str] | None = None,
               push_backoff: float = 1.0) -> Flask:
    """Build the Google sandbox WSGI app (mounted by the product at ``/google``).

    ``clock`` returns epoch seconds (for tests that need time to pass).  ``base_url`` is the URL the app
    is served under (e.g. ``http://127.0.0.1:8080/google``); without it the credential files' token_uri
    is rewritten on the first request.  ``faults``: rate_429, rate_500, rate_timeout, latency_ms,
    timeout_seconds, seed, quotas (False disables the per-user quotas).
    """
    sandbox = Sandbox(Path(state_dir), push_endpoint=push_endpoint, request_log=request_log, faults=faults,
                      clock=clock, base_url=base_url, push_audience=push_audience,
                      push_service_account=push_service_account, oauth_user=oauth_user, admins=admins,
                      push_backoff=push_backoff)
    app = Flask(__name__, template_folder="templates", static_folder="static", static_url_path="/_static")
    app.extensions["google_sandbox"] = sandbox

    def base() -> str:
        return request.host_url.rstrip("/") + request.script_root

    @app.before_request
    def _observe() -> None:
        sandbox.auth.observe_base(base())

    @app.post(f"/{TOKEN_PATH}")
    def token() -> Response:
        sandbox.log("POST", f"/{TOKEN_PATH}", "<token request, not logged>")
        form = request.form.to_dict()
        if form.get("grant_type") == "authorization_code":  # Sign in with Google (oidc.py)
            status, body = token_grant(sandbox, form, request.headers.get("Authorization", ""))
        else:
            status, body = sandbox.auth.token_endpoint(form)
        return Response(json.dumps(body), status, content_type="application/json; charset=utf-8",
                        headers={"Cache-Control": "no-store"})

    @app.get("/www.googleapis.com/oauth2/v1/certs")
    def certs_v1() -> Response:
        return Response(json.dumps(sandbox.auth.certs_v1()), 200, content_type="application/json")

    @app.get("/www.googleapis.com/oauth2/v3/certs")
    def certs_v3() -> Response:
        return Response(json.dumps(sandbox.auth.certs_v3()), 200, content_type="application/json")

    def _batch(endpoint: str) -> Response:
        return sandbox.batch(endpoint, request.headers.get("Content-Type", ""), request.get_data(),
                             {k.lower(): v for k, v in request.headers.items()}, request.script_root, base())

    for endpoint in BATCH_ENDPOINTS:
        app.add_url_rule(f"/{endpoint}", f"batch:{endpoint}", lambda endpoint=endpoint: _batch(endpoint),
                         methods=["POST"])

    register_people(app, sandbox)
    register_oidc(app, sandbox)

    @app.route("/<host>/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def api(host: str, rest: str) -> Response:
        query = request.query_string.decode("latin-1")
        if host not in SERVICES:
            exc = ApiError(404, f"The requested URL /{host}/{rest} was not found on this server.")
            return _json_response(exc)
        headers = {k.lower(): v for k, v in request.headers.items()}
        path, body, media = _raw_rest(host, rest), request.get_data(), None
        if path.startswith("upload/"):
            try:
                body, media = media_upload(query, headers.get("content-type", ""), body)
            except ApiError as exc:
                return _json_response(exc)
            path = path[len("upload/"):]
        reply = sandbox.call(request.method, host, path, query, headers, body, base(), media=media)
        if reply.status == 204:
            return Response(b"", 204, headers=reply.headers)
        return Response(reply.json_bytes(), reply.status, content_type="application/json; charset=UTF-8",
                        headers=reply.headers)

    return app


def sandbox_of(app: Flask) -> Sandbox:
    return app.extensions["google_sandbox"]


__all__ = ["SA_EMAIL", "Sandbox", "create_app", "sandbox_of"]
