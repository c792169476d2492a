"""The catalogs are complete and compiled: every msgid has Kazakh and Russian text, the placeholders
survive translation, and each committed .mo is exactly what its .po compiles to."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "lms_bridge" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")
# Letters only Kazakh Cyrillic has; a "Kazakh" catalog without them is Russian in disguise.
KAZAKH_LETTERS = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")

sys.path.insert(0, str(ROOT / "scripts"))
import catalogs  # noqa: E402


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _forms(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


@pytest.fixture(scope="module")
def pot() -> Catalog:
    return _read(TRANSLATIONS / "messages.pot")


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_every_msgid_is_translated(pot: Catalog, lang: str) -> None:
    po = _read(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", lang)
    missing, broken = [], []
    for message in pot:
        if not message.id:
            continue
        found = po.get(message.id, message.context)
        if found is None or found.fuzzy or not all(_forms(found.string)) or not _forms(found.string):
            missing.append(message.id)
            continue
        wanted = set(PLACEHOLDER.findall(message.id if isinstance(message.id, str) else message.id[0]))
        for form in _forms(found.string):
            if set(PLACEHOLDER.findall(form)) != wanted:
                broken.append((message.id, form))
    assert not missing, f"{len(missing)} msgids without a {lang} translation, e.g. {missing[:5]}"
    assert not broken, f"placeholders changed in {lang}: {broken[:5]}"


def test_kazakh_is_kazakh() -> None:
    po = _read(TRANSLATIONS / "kk" / "LC_MESSAGES" / "messages.po", "kk")
    texts = " ".join(" ".join(_forms(m.string)) for m in po if m.id)
    assert KAZAKH_LETTERS & set(texts)
    assert sum(1 for ch in texts if ch in KAZAKH_LETTERS) > 200


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_mo_is_compiled_from_the_po(lang: str) -> None:
    """The committed .mo says what the .po says: every translation and the plural rule.

    The header's other lines (``Generated-By: Babel x.y``) change with the Babel a fresh install
    picks that day, so the messages are compared, not the bytes.
    """
    po_path = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    with po_path.with_suffix(".mo").open("rb") as fh:
        committed = read_mo(fh)
    # Compiled here, then read back: both sides pass through the same Babel, so what differs is text.
    fresh = read_mo(io.BytesIO(catalogs.mo_bytes(_read(po_path, lang))))
    stale = _stale(fresh, committed)
    assert not stale, (f"{lang}: messages.mo differs from messages.po in {len(stale)} messages, e.g. "
                       f"{stale[:3]}; run .venv/bin/python scripts/catalogs.py")


def _key(value: object) -> object:
    return tuple(value) if isinstance(value, list | tuple) else value


def _messages(catalog: Catalog) -> dict[tuple[object, str | None], object]:
    """What gettext will answer: translated, non-fuzzy messages (the header entry left out)."""
    return {(_key(m.id), m.context): _key(m.string) for m in catalog
            if m.id and not m.fuzzy and all(_forms(m.string))}


def _stale(wanted_mo: Catalog, mo: Catalog) -> list[str]:
    wanted, found = _messages(wanted_mo), _messages(mo)
    differ = {k for k in wanted.keys() | found.keys() if wanted.get(k) != found.get(k)}
    if wanted_mo.plural_forms != mo.plural_forms:
        differ.add(("Plural-Forms", None))
    return sorted(str(k) for k in differ)


def test_mo_check_sees_a_changed_translation() -> None:
    """The comparison fails when one translation of a compiled .mo is not the .po's."""
    po = _read(TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po", "ru")
    good = read_mo(io.BytesIO(catalogs.mo_bytes(po)))
    assert _stale(good, read_mo(io.BytesIO(catalogs.mo_bytes(po)))) == []
    message = next(m for m in po if m.id and isinstance(m.id, str) and m.string)
    message.string = message.string + "!"
    tampered = read_mo(io.BytesIO(catalogs.mo_bytes(po)))
    assert _stale(good, tampered) == [str((message.id, message.context))]


def test_pot_has_every_msgid_in_the_code(pot: Catalog) -> None:
    """A text added to the code or a template without re-extracting would show untranslated."""
    ids = {m.id for m in pot if m.id}
    fresh = catalogs.extract()
    absent = sorted(str(m.id) for m in fresh if m.id and m.id not in ids)
    assert not absent, (f"{len(absent)} msgids are not in messages.pot (run scripts/catalogs.py and "
                        f"translate them in translations/pending/<area>.json): {absent[:5]}")
