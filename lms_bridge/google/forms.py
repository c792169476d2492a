"""Google Forms: thin typed calls through the transport choke point (facts §2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lms_bridge.google.auth import SCOPES
from lms_bridge.google.transport import Transport

API = "forms"


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime cannot be sent to Google")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class FormsClient:
    def __init__(self, transport: Transport) -> None:
        self.t = transport

    def _svc(self, scope: str) -> Any:
        return self.t.service(API, SCOPES[scope])

    def create(self, title: str, document_title: str, *,
               recover: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """Create an unpublished form (only the title may be set here).

        Not idempotent: after an ambiguous failure ``recover`` looks the form up by its unique
        document title before a retry.  It starts unpublished so that nobody can answer before the
        questions, verified-email collection and sharing are in place.  The token also holds
        drive.file, so that the form is this app's own Drive file, reachable for tagging and sharing.

        :calls: POST /v1/forms?unpublished=true
        """
        req = self._svc("forms.create").forms().create(
            body={"info": {"title": title, "documentTitle": document_title}}, unpublished=True)
        return self.t.execute(req, api=API, idempotent=False, recover=recover)

    def get(self, form_id: str) -> dict[str, Any]:
        """:calls: GET /v1/forms/{formId}"""
        return self.t.execute(self._svc("forms.body").forms().get(formId=form_id), api=API)

    def batch_update(self, form_id: str, requests: list[dict[str, Any]], *, include_form: bool = False,
                     recover: Callable[[], dict[str, Any] | None] | None = None) -> dict[str, Any]:
        """Apply ``requests`` atomically (all or nothing).

        Not idempotent (a second createItem adds the question twice): after an ambiguous failure it
        is sent again only when ``recover`` (typically a :meth:`get` that checks for the items) says
        the first attempt did not apply; what ``recover`` returns stands for the reply.

        :calls: POST /v1/forms/{formId}:batchUpdate
        """
        body: dict[str, Any] = {"requests": requests}
        if include_form:
            body["includeFormInResponse"] = True
        req = self._svc("forms.body").forms().batchUpdate(formId=form_id, body=body)
        return self.t.execute(req, api=API, idempotent=False, recover=recover)

    def set_publish_state(self, form_id: str, *, published: bool, accepting: bool) -> dict[str, Any]:
        """Publish/unpublish and open/close the form; both flags are always sent (API requires it).

        :calls: POST /v1/forms/{formId}:setPublishSettings
        """
        body = {"publishSettings": {"publishState": {"isPublished": published,
                                                     "isAcceptingResponses": accepting}},
                "updateMask": "publishState"}
        return self.t.execute(self._svc("forms.body").forms().setPublishSettings(formId=form_id, body=body),
                              api=API)

    def list_responses(self, form_id: str, *, since: datetime | None = None) -> list[dict[str, Any]]:
        """All responses, or those submitted after ``since`` (the only filter the API has).

        An "expensive" read (180/min per user): call it after a push notification, not in a loop.

        :calls: GET /v1/forms/{formId}/responses
        """
        coll = self._svc("forms.responses").forms().responses()
        extra = {"filter": f"timestamp >= {rfc3339(since)}"} if since is not None else {}
        return self.t.pages(lambda tok: coll.list(formId=form_id, pageSize=5000, pageToken=tok, **extra),
                            api=API, items="responses", expensive=True)

    def create_watch(self, form_id: str, topic_name: str, event_type: str = "RESPONSES") -> dict[str, Any]:
        """One watch per event type per form; a second create answers AlreadyExists.

        :calls: POST /v1/forms/{formId}/watches
        """
        body = {"watch": {"target": {"topic": {"topicName": topic_name}}, "eventType": event_type}}
        req = self._svc("forms.responses").forms().watches().create(formId=form_id, body=body)
        return self.t.execute(req, api=API)

    def list_watches(self, form_id: str) -> list[dict[str, Any]]:
        """:calls: GET /v1/forms/{formId}/watches"""
        req = self._svc("forms.responses").forms().watches().list(formId=form_id)
        return list(self.t.execute(req, api=API).get("watches", []))

    def renew_watch(self, form_id: str, watch_id: str) -> dict[str, Any]:
        """Another 7 days; NotFound once expired (then create anew).

        :calls: POST /v1/forms/{formId}/watches/{watchId}:renew
        """
        req = self._svc("forms.responses").forms().watches().renew(formId=form_id, watchId=watch_id, body={})
        return self.t.execute(req, api=API)
