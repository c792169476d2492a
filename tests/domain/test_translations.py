"""Every message the rules can show has Kazakh and Russian text, with the same placeholders."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.support import Translations

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "lms_bridge" / "domain"
PENDING = ROOT / "lms_bridge" / "translations" / "pending" / "domain.json"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _catalog_keywords() -> dict:
    """The keywords of the tool that builds the catalogs, so a marker it does not extract fails here."""
    tool = ROOT / "scripts" / "catalogs.py"
    if not tool.exists():  # pragma: no cover - the tool ships with the repository
        return dict(DEFAULT_KEYWORDS)
    spec = importlib.util.spec_from_file_location("_catalogs_tool", tool)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.KEYWORDS)


def _msgids() -> set[str]:
    found = extract_from_dir(str(DOMAIN), method_map=[("**.py", "python")], keywords=_catalog_keywords())
    return {m[2] for m in found if isinstance(m[2], str)}


def _translated(msgid: str, lang: str, pending: dict) -> str | None:
    if msgid in pending and pending[msgid].get(lang):
        return pending[msgid][lang]
    # Once the catalogs are rebuilt the msgid may live only in the compiled catalog.
    text = Translations.load(str(ROOT / "lms_bridge" / "translations"), [lang]).gettext(msgid)
    return text if text != msgid else None


def test_the_extraction_sees_the_domain_messages():
    ids = _msgids()
    assert "tie between %(letters)s broken by the chair's ballot: %(letter)s" in ids  # marked with _l
    assert "The draw checks out: every ticket matches." in ids


def test_every_domain_message_has_kk_and_ru_with_the_same_placeholders():
    pending = json.loads(PENDING.read_text(encoding="utf-8")) if PENDING.exists() else {}
    missing, broken = [], []
    for msgid in sorted(_msgids()):
        for lang in ("kk", "ru"):
            text = _translated(msgid, lang, pending)
            if not text:
                missing.append(f"{lang}: {msgid}")
            elif sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(msgid)):
                broken.append(f"{lang}: {msgid}")
    assert missing == []
    assert broken == []
