"""Recording deliveries: the only thing a webhook request does besides verifying and enqueuing.

A delivery is keyed by (source, delivery id), so Pub/Sub's at-least-once redeliveries and the
Moodle plugin's retries are recorded once and processed once.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms_bridge.store.models import WebhookDelivery


class MalformedDelivery(ValueError):
    """The body is not what the sender documents; answered with 400 and nothing stored."""


@dataclass(frozen=True)
class Parsed:
    delivery_id: str
    kind: str
    payload: dict[str, Any]


MOODLE_EVENTS = ("quiz_attempt_started", "quiz_attempt_submitted", "assign_submitted")


def parse_pubsub(body: bytes) -> Parsed:
    """A Pub/Sub push body: ``{"message": {"data", "attributes", "messageId", ...}, "subscription"}``.

    Forms watches put everything in the attributes (eventType, formId, watchId) and send no data;
    Classroom registrations send a JSON document in ``data``.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("body is not JSON") from None
    message = doc.get("message") if isinstance(doc, dict) else None
    if not isinstance(message, dict):
        raise MalformedDelivery("no message object")
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedDelivery("message has no messageId")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise MalformedDelivery("attributes is not an object")
    data: Any = None
    raw = message.get("data")
    if raw:
        if not isinstance(raw, str):
            raise MalformedDelivery("data is not a base64 string")
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedDelivery("data is not valid base64") from None
        try:
            data = json.loads(decoded)
        except (ValueError, UnicodeDecodeError):
            data = decoded.decode("utf-8", "replace")
    if attributes.get("formId"):
        kind = f"forms.{str(attributes.get('eventType', '')).lower() or 'unknown'}"
    elif isinstance(data, dict) and data.get("collection"):
        kind = f"classroom.{data['collection']}"
    else:
        kind = "pubsub.unknown"
    payload = {
        "attributes": {str(k): str(v) for k, v in attributes.items()},
        "data": data,
        "publishTime": message.get("publishTime") or message.get("publish_time") or "",
        "subscription": doc.get("subscription", ""),
    }
    return Parsed(message_id, kind, payload)


def parse_moodle(body: bytes, header_delivery_id: str) -> Parsed:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("body is not JSON") from None
    if not isinstance(doc, dict):
        raise MalformedDelivery("body is not a JSON object")
    if doc.get("delivery_id") != header_delivery_id:
        raise MalformedDelivery("delivery_id differs from the X-LmsBridge-Delivery header")
    event = doc.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedDelivery("no event name")
    # An event we do not handle (or a newer schema) is still acknowledged, so the plugin does not
    # retry it for a day; the processor records it as ignored.
    return Parsed(header_delivery_id, f"moodle.{event}", doc)


def record_delivery(db: Session, source: str, parsed: Parsed) -> tuple[WebhookDelivery, bool]:
    """Store a delivery once; returns ``(delivery, is_new)``.  A concurrent duplicate loses the
    unique-constraint race and is reported as not new."""
    existing = db.scalar(select(WebhookDelivery).where(
        WebhookDelivery.source == source, WebhookDelivery.delivery_id == parsed.delivery_id))
    if existing is not None:
        return existing, False
    delivery = WebhookDelivery(source=source, delivery_id=parsed.delivery_id, kind=parsed.kind,
                               payload=parsed.payload, status="queued")
    db.add(delivery)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        again = db.scalar(select(WebhookDelivery).where(
            WebhookDelivery.source == source, WebhookDelivery.delivery_id == parsed.delivery_id))
        assert again is not None
        return again, False
    return delivery, True
