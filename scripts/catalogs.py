"""Rebuild the translation catalogs: extract, merge the areas' pending translations, compile.

    .venv/bin/python scripts/catalogs.py            # extract + merge + compile
    .venv/bin/python scripts/catalogs.py --check    # exit 1 listing msgids without kk or ru

Each area keeps its new msgids with their Kazakh and Russian text in
``lms_bridge/translations/pending/<area>.json`` (``{"msgid": {"kk": "...", "ru": "..."}}``; a plural
message is keyed by its singular msgid and gives a list of forms: kk has 2, ru has 3). This script
is the only writer of ``messages.pot`` and the ``.po``/``.mo`` files, so the catalogs never see
merge fights. English needs no translation: the msgids are English.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "lms_bridge" / "translations"
POT = TRANSLATIONS / "messages.pot"
PENDING = TRANSLATIONS / "pending"
LANGUAGES = ("kk", "ru", "en")
# Fixed header dates: git keeps the history, and a rerun that changes no text changes no file.
STAMP = datetime(2026, 1, 1, tzinfo=UTC)
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "lazy_ngettext": (1, 2)}
METHOD_MAP = [("lms_bridge/**.py", "python"),
              ("lms_bridge/**/templates/**.html", "jinja2")]
OPTIONS_MAP = {"lms_bridge/**/templates/**.html": {"extensions": "jinja2.ext.do", "newstyle_gettext": "true"}}


def extract() -> Catalog:
    """The msgids used in the code and templates (what ``pybabel extract -F babel.cfg`` finds)."""
    pot = Catalog(project="lms_bridge", version="1", msgid_bugs_address="", fuzzy=False,
                  creation_date=STAMP, revision_date=STAMP)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map=METHOD_MAP, options_map=OPTIONS_MAP, keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
        if filename.startswith(("tests", "scripts", "bench", ".venv")):
            continue
        pot.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return pot


def pending() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted(PENDING.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for msgid, texts in data.items():
            merged.setdefault(msgid, {}).update({k: v for k, v in texts.items() if v})
    return merged


def _po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def load_po(lang: str) -> Catalog:
    path = _po_path(lang)
    if path.exists():
        with path.open("rb") as fh:
            return read_po(fh, locale=lang)
    return Catalog(locale=lang, project="lms_bridge", version="1")


def mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def merge(pot: Catalog) -> dict[str, list[str]]:
    """Update each language from the template and the pending translations; return what is missing."""
    todo = pending()
    missing: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        old = load_po(lang)
        catalog = Catalog(locale=lang, project="lms_bridge", version="1", fuzzy=False,
                          creation_date=STAMP, revision_date=STAMP)
        for message in pot:
            if not message.id:
                continue
            key = message.id[0] if isinstance(message.id, tuple) else message.id
            prev = old.get(message.id, message.context)
            string: Any = prev.string if prev is not None and not prev.fuzzy else None
            given = todo.get(key, {}).get(lang)
            if given:
                string = tuple(given) if isinstance(given, list) else given
            if isinstance(message.id, tuple):
                n = catalog.num_plurals
                if isinstance(string, str):
                    string = (string,) * n
                string = tuple((list(string or ()) + [""] * n)[:n])
            catalog.add(message.id, string or ("" if not isinstance(message.id, tuple) else None),
                        locations=message.locations, auto_comments=message.auto_comments,
                        context=message.context)
            if lang != "en":
                final = catalog.get(message.id, message.context)
                assert final is not None
                forms = final.string if isinstance(final.string, tuple) else (final.string,)
                if not all(forms):
                    missing.setdefault(lang, []).append(key)
        path = _po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=110, omit_header=False, sort_output=True)
        # Compile from what was just written, exactly as the test does.
        with path.open("rb") as fh:
            path.with_suffix(".mo").write_bytes(mo_bytes(read_po(fh, locale=lang)))
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report msgids missing a translation")
    args = parser.parse_args(argv)
    pot = extract()
    if args.check:
        gaps = 0
        for lang in ("kk", "ru"):
            have = load_po(lang)
            for message in pot:
                if not message.id:
                    continue
                found = have.get(message.id, message.context)
                forms = () if found is None else (
                    found.string if isinstance(found.string, tuple) else (found.string,))
                if not forms or not all(forms):
                    gaps += 1
                    print(f"{lang}: {message.id!r}")
        return 1 if gaps else 0
    with POT.open("wb") as fh:
        write_po(fh, pot, width=110, sort_output=True, omit_header=False)
    missing = merge(pot)
    for lang, ids in missing.items():
        for msgid in ids:
            print(f"{lang}: missing {msgid!r}", file=sys.stderr)
    print(f"{len(pot)} msgids; missing kk {len(missing.get('kk', []))}, ru {len(missing.get('ru', []))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
