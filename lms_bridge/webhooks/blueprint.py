"""Inbound webhooks: Pub/Sub push from Google and signed posts from the Moodle companion plugin."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
