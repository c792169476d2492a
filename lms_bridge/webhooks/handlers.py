"""Recording deliveries: the only thing a webhook request does besides verifying and enqueuing.

A delivery is keyed by (source, delivery id), so Pub/Sub's at-least-once redeliveries and the
Moodle plugin's retries are recorded once and processed once.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from lms_bridge.store.db import autocommit_engine, insert_new, insert_new_on
from lms_bridge.store.models import WebhookDelivery


class MalformedDelivery(ValueError):
    """The body is not what the sender documents; answered with 400 and nothing stored."""


@dataclass(frozen=True)
class Parsed:
    delivery_id: str
    kind: str
    payload: dict[str, Any]


MOODLE_EVENTS = ("quiz_attempt_started", "quiz_attempt_submitted", "assign_submitted")
DEFAULT_JSON_DEPTH = 32

# The columns a delivery is stored in: an id or kind longer than these is refused, not truncated.
_ID_CHARS = WebhookDelivery.__table__.c.delivery_id.type.length
_KIND_CHARS = WebhookDelivery.__table__.c.kind.type.length
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(set(range(256)) - set(b"[]{}"))


def _nesting(body: bytes) -> int:
    """How deep arrays and objects nest in ``body``, counted without parsing it."""
    depth = deepest = 0
    for byte in _STRING.sub(b"", body).translate(None, _NOT_BRACKET):
        depth += 1 if byte in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _storable(value: Any) -> bool:
    """True when every text in ``value`` can be stored: no NUL, no lone surrogate ("\\ud800")."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def load_json(body: bytes, max_depth: int = DEFAULT_JSON_DEPTH) -> Any:
    """Parse a delivery's body, refusing (MalformedDelivery) what the store or the parser cannot take.

    The nesting is measured before parsing: the json module recurses once per level and gives up
    with a RecursionError, which must not become a 500.
    """
    if _nesting(body) > max_depth:
        raise MalformedDelivery(f"body nests more than {max_depth} levels deep")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise MalformedDelivery("body is not JSON") from None
    if not _storable(doc):
        raise MalformedDelivery("body holds text that cannot be stored")
    return doc


def _delivery_id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > _ID_CHARS or not value.isprintable():
        raise MalformedDelivery("the delivery id is missing or malformed")
    return value


def parse_pubsub(body: bytes, max_depth: int = DEFAULT_JSON_DEPTH) -> Parsed:
    """A Pub/Sub push body: ``{"message": {"data", "attributes", "messageId", ...}, "subscription"}``.

    Forms watches put everything in the attributes (eventType, formId, watchId) and send no data;
    Classroom registrations send a JSON document in ``data``.
    """
    doc = load_json(body, max_depth)
    message = doc.get("message") if isinstance(doc, dict) else None
    if not isinstance(message, dict):
        raise MalformedDelivery("no message object")
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedDelivery("message has no messageId")
    message_id = _delivery_id(message_id)
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
            data = load_json(decoded, max_depth)
        except MalformedDelivery:
            data = decoded.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if attributes.get("formId"):
        kind = f"forms.{str(attributes.get('eventType', '')).lower() or 'unknown'}"
    elif isinstance(data, dict) and data.get("collection"):
        kind = f"classroom.{data['collection']}"
    else:
        kind = "pubsub.unknown"
    if len(kind) > _KIND_CHARS:
        raise MalformedDelivery("the event type is too long")
    payload = {
        "attributes": {str(k): str(v) for k, v in attributes.items()},
        "data": data,
        "publishTime": message.get("publishTime") or message.get("publish_time") or "",
        "subscription": doc.get("subscription", ""),
    }
    return Parsed(message_id, kind, payload)


def parse_moodle(body: bytes, header_delivery_id: str, max_depth: int = DEFAULT_JSON_DEPTH) -> Parsed:
    header_delivery_id = _delivery_id(header_delivery_id)
    doc = load_json(body, max_depth)
    if not isinstance(doc, dict):
        raise MalformedDelivery("body is not a JSON object")
    if doc.get("delivery_id") != header_delivery_id:
        raise MalformedDelivery("delivery_id differs from the X-LmsBridge-Delivery header")
    event = doc.get("event")
    if not isinstance(event, str) or not event:
        raise MalformedDelivery("no event name")
    if len(f"moodle.{event}") > _KIND_CHARS:
        raise MalformedDelivery("the event name is too long")
    # An event we do not handle (or a newer schema) is still acknowledged, so the plugin does not
    # retry it for a day; the processor records it as ignored.
    return Parsed(header_delivery_id, f"moodle.{event}", doc)


def record_delivery(db: Session, source: str, parsed: Parsed) -> int | None:
    """Store a delivery once and commit; returns its row id, or None for a delivery already stored.

    One statement (insert … on conflict do nothing … returning): a redelivery, even one racing
    the first copy in another worker, is a no-op, with no read before the write."""
    row = dict(source=source, delivery_id=parsed.delivery_id, kind=parsed.kind, payload=parsed.payload,
               status="queued")
    bind = db.get_bind()
    if bind.dialect.name in ("postgresql", "sqlite"):
        # On an autocommit connection the statement commits by itself: on PostgreSQL one round
        # trip to the server instead of three (BEGIN, the insert, COMMIT); on SQLite no BEGIN or
        # COMMIT either.  The row is committed before the 202.
        with autocommit_engine(getattr(bind, "engine", bind)).connect() as conn:
            inserted = insert_new_on(conn, WebhookDelivery, [row], unique=("source", "delivery_id"))
    else:
        inserted = insert_new(db, WebhookDelivery, [row], unique=("source", "delivery_id"))
        db.commit()
    return int(inserted[0]) if inserted else None
