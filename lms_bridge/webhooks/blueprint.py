"""Inbound webhooks: Pub/Sub push from Google and signed posts from the Moodle companion plugin.

Each endpoint does four things and returns: verify the sender, record the delivery id (a duplicate
is a no-op), enqueue the work, answer 2xx.  Pub/Sub's push deadline is 10 s by default and the
plugin's is 20 s, so nothing slow happens here.  A bad or missing signature gets 401/403 and a
malformed body 400, and in both cases nothing is stored.
"""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, Response, current_app, jsonify, request

from lms_bridge.appstate import state
from lms_bridge.webhooks.handlers import MalformedDelivery, parse_moodle, parse_pubsub, record_delivery
from lms_bridge.webhooks.verify import (
    DELIVERY_HEADER,
    CertCache,
    OidcPolicy,
    WebhookRejected,
    moodle_webhook_secret,
    pubsub_certs_url,
    verify_moodle,
    verify_oidc,
)

logger = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

_cert_caches: dict[str, CertCache] = {}
_cert_lock = threading.Lock()


def _certs(url: str) -> CertCache:
    with _cert_lock:
        if url not in _cert_caches:
            timeout = current_app.config.get("LMS_BRIDGE_CERTS_TIMEOUT", 10.0)
            _cert_caches[url] = CertCache(url, timeout=timeout)
        return _cert_caches[url]


def _pubsub_policy() -> tuple[OidcPolicy, CertCache]:
    settings = state().settings
    audience = settings.google.pubsub_audience or settings.public_url.rstrip("/") + "/webhooks/google/pubsub"
    certs_url = pubsub_certs_url(settings)
    if certs_url is None:
        raise WebhookRejected(401, "no key is trusted for push deliveries")
    return OidcPolicy(audience=audience, service_account_email=settings.google.pubsub_service_account), \
        _certs(certs_url)


def _moodle_secret() -> str:
    return moodle_webhook_secret(state().settings)


def _reject(exc: WebhookRejected, source: str) -> Response:
    logger.warning("%s webhook rejected: %s", source, exc.reason)
    response = jsonify(error=exc.reason)
    response.status_code = exc.status
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="lms_bridge webhooks"'
    return response


def _accept(source: str, parsed_delivery) -> Response:  # type: ignore[no-untyped-def]
    factory = state().sessionmaker
    with factory() as db:
        delivery_pk = record_delivery(db, source, parsed_delivery)
    is_new = delivery_pk is not None
    if delivery_pk is not None:
        try:
            from lms_bridge.results.jobs import process_delivery

            process_delivery.enqueue(delivery_pk)
        except Exception:
            # The delivery is stored as queued; the reconciliation job picks it up.  Answering an
            # error here would only make the sender redeliver what we already have.
            logger.exception("could not enqueue webhook delivery %s", delivery_pk)
    return jsonify(status="accepted" if is_new else "duplicate", delivery=parsed_delivery.delivery_id)


class _TooLarge(Exception):
    pass


def _body() -> bytes:
    """The request body, read no further than the webhook limit (before anything parses it)."""
    limit = state().settings.limits.webhook_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge
    body = request.stream.read(limit + 1)  # also bounds a chunked body, which has no length
    if len(body) > limit:
        raise _TooLarge
    return body


def _too_large(source: str) -> tuple[Response, int]:
    logger.warning("%s webhook rejected: body over the size limit", source)
    return jsonify(error="body too large"), 413


def _json_depth() -> int:
    return int(state().settings.limits.webhook_json_depth)


@bp.post("/google/pubsub")
def google_pubsub() -> Response | tuple[Response, int]:
    try:
        body = _body()
    except _TooLarge:
        return _too_large("pubsub")
    try:
        policy, certs = _pubsub_policy()
        verify_oidc(request.headers.get("Authorization"), policy, certs)
    except WebhookRejected as exc:
        return _reject(exc, "pubsub")
    try:
        parsed = parse_pubsub(body, _json_depth())
    except MalformedDelivery as exc:
        return jsonify(error=str(exc)), 400
    return _accept("google", parsed), 202


@bp.post("/moodle")
def moodle() -> Response | tuple[Response, int]:
    try:
        body = _body()
    except _TooLarge:
        return _too_large("moodle")
    try:
        delivery_id = verify_moodle(request.headers, body, _moodle_secret())
    except WebhookRejected as exc:
        return _reject(exc, "moodle")
    try:
        parsed = parse_moodle(body, request.headers.get(DELIVERY_HEADER, delivery_id), _json_depth())
    except MalformedDelivery as exc:
        return jsonify(error=str(exc)), 400
    return _accept("moodle", parsed), 202
