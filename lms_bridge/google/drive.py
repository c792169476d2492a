"""Google Drive: appProperties (our dedupe keys on forms and sheets) and sharing, batched by 100."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lms_bridge.google.auth import SCOPES
from lms_bridge.google.transport import Transport

API = "drive"
FORM_MIME = "application/vnd.google-apps.form"
# A multipart upload carries a file "5 MB or less" with its metadata in one request (Upload file data,
# https://developers.google.com/drive/api/guides/manage-uploads).
MULTIPART_LIMIT = 5 * 1024 * 1024
SHEET_MIME = "application/vnd.google-apps.spreadsheet"


def _quote(value: str) -> str:
    # Drive query string literals escape backslash and single quote.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def app_properties_query(props: Mapping[str, str], *, mime_type: str | None = None) -> str:
    parts = [f"appProperties has {{ key={_quote(k)} and value={_quote(v)} }}" for k, v in props.items()]
    if mime_type:
        parts.append(f"mimeType = {_quote(mime_type)}")
    parts.append("trashed = false")
    return " and ".join(parts)


class DriveClient:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def _files(self) -> Any:
        return self.t.service(API, SCOPES["drive.file"]).files()

    def find_by_app_properties(self, props: Mapping[str, str], *, mime_type: str | None = None,
                               ) -> list[dict[str, Any]]:
        """Files this app made that carry all of ``props``.

        :calls: GET /drive/v3/files?q=appProperties has {...}
        """
        q = app_properties_query(props, mime_type=mime_type)
        files = self._files()
        return self.t.pages(lambda tok: files.list(q=q, pageSize=1000, pageToken=tok, spaces="drive",
                                                   fields="nextPageToken,files(id,name,mimeType,appProperties)"),
                            api=API, items="files")

    def find_by_name(self, name: str, *, mime_type: str) -> list[dict[str, Any]]:
        """:calls: GET /drive/v3/files?q=name = ..."""
        q = f"name = {_quote(name)} and mimeType = {_quote(mime_type)} and trashed = false"
        files = self._files()
        return self.t.pages(lambda tok: files.list(q=q, pageSize=100, pageToken=tok, spaces="drive",
                                                   fields="nextPageToken,files(id,name,mimeType,appProperties)"),
                            api=API, items="files")

    def copy_file(self, file_id: str, name: str, app_properties: Mapping[str, str], *,
                  recover: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """A copy of ``file_id`` named ``name`` carrying ``app_properties`` (set in the same call:
        files.copy applies the body with patch semantics, so the copy is findable by its tags from
        the moment it exists).

        Not idempotent: after an ambiguous failure ``recover`` looks the copy up (by its unique
        name) before a retry.

        :calls: POST /drive/v3/files/{fileId}/copy
        """
        req = self._files().copy(fileId=file_id, fields="id,name,mimeType,appProperties",
                                 body={"name": name, "appProperties": dict(app_properties)})
        return self.t.execute(req, api=API, idempotent=False, recover=recover)  # type: ignore[no-any-return]

    def set_app_properties(self, items: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        """Set appProperties on many files, batched 100 a request; file id -> File or error.

        :calls: PATCH /drive/v3/files/{fileId} (batched)
        """
        files = self._files()
        reqs = {fid: files.update(fileId=fid, body={"appProperties": dict(props)}, fields="id,appProperties")
                for fid, props in items.items()}
        return self.t.execute_batch(API, SCOPES["drive.file"], reqs)

    def upload_file(self, name: str, mime_type: str, data: bytes, app_properties: Mapping[str, str], *,
                    recover: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """A new Drive file of this app holding ``data`` (at most :data:`MULTIPART_LIMIT` bytes), tagged
        with ``app_properties`` in the same request (a multipart upload: metadata and content at once).

        Not idempotent: after an ambiguous failure ``recover`` looks the file up by its tags.

        :calls: POST /upload/drive/v3/files?uploadType=multipart
        """
        from googleapiclient.http import MediaInMemoryUpload

        if len(data) > MULTIPART_LIMIT:
            raise ValueError("a multipart upload carries 5 MB or less")
        req = self._files().create(body={"name": name, "mimeType": mime_type, "appProperties": dict(app_properties)},
                                   media_body=MediaInMemoryUpload(data, mimetype=mime_type, resumable=False),
                                   fields="id,name,mimeType,webViewLink,appProperties")
        req.uri = self.t.endpoints.upload_uri(req.uri)
        return self.t.execute(req, api=API, idempotent=False, recover=recover)  # type: ignore[no-any-return]

    def share_readers(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """Let each email read each file (role reader, no notification mail), in rounds of one
        permission write per file per batch, as :meth:`share_published` explains.

        :calls: POST /drive/v3/files/{fileId}/permissions (batched, one per file per batch)
        """
        return self._share(pairs, {})

    def share_published(self, pairs: Iterable[tuple[str, str]], *, grantee: str = "user",
                        ) -> dict[tuple[str, str], Any]:
        """Let each email respond to each form: reader with view "published" (the responder role).
        ``grantee``: "user" (a person) or "group" (a Google Group: its members respond, each
        under their own address; Forms lets "specific users, groups, or target audiences"
        respond, Workspace Updates, 3 December 2024, and Drive's permission types include
        ``group``, guide "Share files, folders, and drives").

        Drive applies only the last of concurrent permission writes on one file ("Concurrent
        permissions operations on the same file are not supported; only the last update is
        applied", permissions.create reference) and runs a batch's parts in any order (batch
        guide), so a batch holding two writes for one form may silently keep one.  The writes are
        therefore sent in rounds: each batch holds at most one write per file, and the next round
        starts only when the previous batch has answered.  Even so an answer is no proof of the
        grant: callers verify with :meth:`published_responders`.

        No notification mail: members get their links from the course.  Returns
        (file id, email) -> Permission or error.

        :calls: POST /drive/v3/files/{fileId}/permissions (batched, one per file per batch)
        """
        return self._share(pairs, {"view": "published"}, grantee=grantee)

    def _share(self, pairs: Iterable[tuple[str, str]], extra: Mapping[str, str], *, grantee: str = "user",
               ) -> dict[tuple[str, str], Any]:
        perms = self.t.service(API, SCOPES["drive.file"]).permissions()
        rounds: list[list[tuple[str, str]]] = []
        depth: dict[str, int] = {}
        for fid, email in dict.fromkeys(pairs):
            n = depth.get(fid, 0)
            depth[fid] = n + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append((fid, email))
        out: dict[tuple[str, str], Any] = {}
        for batch in rounds:
            reqs = {f"{i}": perms.create(fileId=fid, sendNotificationEmail=False, fields="id,role,view",
                                          body={"role": "reader", "type": grantee, "emailAddress": email,
                                                **extra})
                    for i, (fid, email) in enumerate(batch)}
            got = self.t.execute_batch(API, SCOPES["drive.file"], reqs)
            out.update({batch[int(k)]: v for k, v in got.items()})
        return out

    def published_responders(self, file_ids: Iterable[str]) -> dict[str, Any]:
        """Who may respond to each form, read back from Drive: file id -> set of e-mails (lower
        case) holding a ``view: "published"`` permission, or the GoogleApiError of that read.

        One permissions.list per file, batched 100 a request (reads may share a batch freely).

        :calls: GET /drive/v3/files/{fileId}/permissions (batched)
        """
        perms = self.t.service(API, SCOPES["drive.file"]).permissions()
        ids = list(dict.fromkeys(file_ids))
        fields = "nextPageToken,permissions(id,role,type,emailAddress,view)"
        reqs = {f"{i}": perms.list(fileId=fid, pageSize=100, fields=fields) for i, fid in enumerate(ids)}
        got = self.t.execute_batch(API, SCOPES["drive.file"], reqs)
        out: dict[str, Any] = {}
        for key, value in got.items():
            fid = ids[int(key)]
            if isinstance(value, Exception):
                out[fid] = value
                continue
            listed = list(value.get("permissions", []))
            if value.get("nextPageToken"):
                listed = self.list_permissions(fid)  # more than a page: read it whole
            out[fid] = {str(p.get("emailAddress", "")).lower() for p in listed
                        if p.get("view") == "published" and p.get("emailAddress")}
        return out

    def list_permissions(self, file_id: str) -> list[dict[str, Any]]:
        """:calls: GET /drive/v3/files/{fileId}/permissions"""
        perms = self.t.service(API, SCOPES["drive.file"]).permissions()
        return self.t.pages(lambda tok: perms.list(fileId=file_id, pageSize=100, pageToken=tok,
                                                   fields="nextPageToken,permissions(id,role,type,emailAddress,view)"),
                            api=API, items="permissions")
