"""The Flask application: the admin page and the webhooks, with Babel (kk, ru, en) and CSRF.

``create_app`` is the only place that wires the pieces together; the blueprints reach the settings
and the store through ``app.extensions["lms_bridge"]`` (:class:`~lms_bridge.appstate.AppState`,
defined below both the app and the blueprints), never through globals, so a test can run two apps
with two stores side by side.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import text

from lms_bridge.admin.api import bp as api_bp
from lms_bridge.admin.blueprint import bp as admin_bp
from lms_bridge.appstate import EXTENSION, LANGUAGE_KEY, AppState, state
from lms_bridge.config import Settings, ensure_secret_key, load_settings, require_deliberate_mode
from lms_bridge.i18n import LANGUAGES, TRANSLATIONS_DIR
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.webhooks.blueprint import bp as webhooks_bp

logger = logging.getLogger(__name__)

csrf = CSRFProtect()


def select_locale() -> str:
    """The page's language: the switch (session cookie), then the user's profile, then the browser."""
    chosen = session.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return str(user.language)
    best = request.accept_languages.best_match(LANGUAGES)
    if best:
        return best
    return state().settings.default_language


def create_app(settings: Settings | None = None, *, testing: bool = False) -> Flask:
    """Build the application for ``settings`` (loaded from the environment when not given)."""
    settings = settings if settings is not None else load_settings()
    # A production configuration that forgot to choose Google or Moodle does not come up at all.
    require_deliberate_mode(settings)
    settings = ensure_secret_key(settings)
    app = Flask(__name__, static_folder=None)
    if settings.trusted_proxies:
        # Only as many X-Forwarded-* hops as there are proxies of our own: a client can write the
        # header too, and the sign-in throttle is keyed by the address it yields.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies,  # type: ignore[method-assign]
                                x_proto=settings.trusted_proxies)
    secure = settings.public_url.startswith("https://")
    app.config.update(
        SECRET_KEY=settings.secret_key.reveal(),
        TESTING=testing,
        SESSION_COOKIE_NAME="lms_bridge_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Behind TLS the cookie must never travel in clear; on the embedded default (http on
        # 127.0.0.1) a Secure cookie would simply never come back, so it follows the public URL.
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # A session workbook is a few hundred kilobytes; anything far larger is not one.  The upload
        # page refuses a body over the file limit itself, with a message; this is the backstop.
        MAX_CONTENT_LENGTH=settings.limits.file_bytes + 64 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the signed-in session
        WTF_CSRF_SSL_STRICT=secure,
        BABEL_DEFAULT_LOCALE=settings.default_language,
        BABEL_DEFAULT_TIMEZONE="UTC",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS_DIR),
        PREFERRED_URL_SCHEME="https" if secure else "http",
    )

    engine = make_engine(settings.effective_database_url)
    from lms_bridge.store.schema import ensure_schema

    ensure_schema(engine)
    app.extensions[EXTENSION] = AppState(settings=settings, engine=engine,
                                         sessionmaker=make_sessionmaker(engine))

    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)

    # Google and Moodle cannot send our CSRF token; the webhooks authenticate each delivery instead
    # (OIDC token, HMAC), which is stronger than a cookie-bound token anyway.
    csrf.exempt(webhooks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(webhooks_bp)
    # The JSON API: token-authenticated, cookies ignored, so no CSRF token to check.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)

    from lms_bridge.admin.auth import install_sign_in_throttle

    install_sign_in_throttle(app, settings)

    @app.get("/healthz")
    def healthz() -> tuple[dict[str, str], int]:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:  # the probe reports, it does not crash
            logger.warning("health check: the store does not answer")
            return {"status": "error", "store": "unavailable"}, 503
        return {"status": "ok"}, 200

    @app.after_request
    def security_headers(response: Any) -> Any:
        # Everything (CSS, JS) is served from here, so the policy can be strict: no inline script,
        # no third-party origin, no framing.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    logger.info("admin page ready (store %s, default language %s)",
                engine.url.render_as_string(hide_password=True), settings.default_language)
    return app
