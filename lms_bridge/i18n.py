"""Translations for code that runs both inside and outside a Flask request.

Flask views use Flask-Babel directly.  Domain errors, session-file problems, step titles and CLI
output use :func:`gettext` / :func:`lazy_gettext` from here: inside a request they follow the page's
language, elsewhere the language set with :func:`use_locale` (or ``LMS_BRIDGE_LANGUAGE``, else kk).
Both read the same catalogs in ``lms_bridge/translations``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

from babel.support import LazyProxy, NullTranslations, Translations

LANGUAGES = ("kk", "ru", "en")
TRANSLATIONS_DIR = Path(__file__).with_name("translations")

_locale: ContextVar[str | None] = ContextVar("lms_bridge_locale", default=None)


@cache
def translations(lang: str) -> NullTranslations:
    loaded = Translations.load(str(TRANSLATIONS_DIR), [lang], domain="messages")
    return loaded


def current_locale() -> str:
    explicit = _locale.get()
    if explicit:
        return explicit
    try:
        from flask import has_request_context
        from flask_babel import get_locale

        if has_request_context():
            loc = get_locale()
            if loc is not None:
                return str(loc.language)
    except ImportError:  # pragma: no cover - flask is always installed with the product
        pass
    env = os.environ.get("LMS_BRIDGE_LANGUAGE", "")
    return env if env in LANGUAGES else "kk"


@contextmanager
def use_locale(lang: str) -> Iterator[None]:
    token = _locale.set(lang if lang in LANGUAGES else "kk")
    try:
        yield
    finally:
        _locale.reset(token)


def gettext(msgid: str, **variables: Any) -> str:
    text = translations(current_locale()).gettext(msgid)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    variables.setdefault("num", num)
    return translations(current_locale()).ngettext(singular, plural, num) % variables


def lazy_gettext(msgid: str, **variables: Any) -> LazyProxy:
    return LazyProxy(gettext, msgid, enable_cache=False, **variables)


_ = gettext
