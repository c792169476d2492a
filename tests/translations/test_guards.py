"""Guards that keep the Kazakh and Russian texts fit for official use.

- every text handed to a translation function is a plain literal, so Babel extracts it (an f-string
  or a concatenation inside ``_()`` is never extracted and reaches a protocol in English);
- the kk and ru catalogs hold no entry left in English and no raw term from the deny-list;
- no Kazakh case ending is glued to a placeholder ("%(old)s-ден"), no Russian count sits before a
  fixed noun ("%(n)s баллов"): such sentences are rewritten or use ngettext.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lms_bridge"
TRANSLATIONS = PACKAGE / "translations"
# name -> how many leading arguments are msgids (ngettext: singular and plural)
TRANSLATORS = {"_": 1, "gettext": 1, "lazy_gettext": 1, "_l": 1, "ngettext": 2, "lazy_ngettext": 2}
# The translation layer itself passes the caller's msgid on.
PASS_THROUGH = {PACKAGE / "i18n.py"}


def _read(lang: str) -> Catalog:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def _forms(string: str | tuple[str, ...]) -> tuple[str, ...]:
    return string if isinstance(string, tuple) else (string,)


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def translation_calls(source: str, filename: str = "<source>") -> list[tuple[int, str, ast.expr]]:
    """(line, function, msgid argument) of every call of a translation function in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call) and (name := _callee(node)) in TRANSLATORS:
            found.extend((node.lineno, name, arg) for arg in node.args[:TRANSLATORS[name]])
    return found


def _passes_a_msgid_on(arg: ast.expr) -> bool:
    # A message kept for later (``_l("...")`` stored, translated when shown) is handed on as
    # ``msgid`` / ``self.msgid``; its literal was extracted where it was written.
    return (isinstance(arg, ast.Name) and arg.id == "msgid") or (
        isinstance(arg, ast.Attribute) and arg.attr == "msgid")


def not_extractable(source: str, filename: str = "<source>") -> list[str]:
    """Calls whose msgid is not a plain string literal (f-string, +, %, .format(), a variable)."""
    return [f"{filename}:{line}: {name}({ast.unparse(arg)[:60]})"
            for line, name, arg in translation_calls(source, filename)
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)) and not _passes_a_msgid_on(arg)]


def _python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p not in PASS_THROUGH)


def test_every_translated_text_in_the_code_is_a_plain_literal() -> None:
    bad = [problem for path in _python_files()
           for problem in not_extractable(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not bad, "text Babel cannot extract (write a literal with %(name)s placeholders):\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    'pdf.line_text(f"• {name}: {_(\'for\') if yes else _(f\'against {name}\')}")',
    "_(f'{count} points')",
    "_('Hello ' + name)",
    "ngettext('%(n)s file', 'files: ' + str(n), n)",
    "_('Grade: {}'.format(x))",
    "_(message)",
])
def test_the_guard_catches_a_text_babel_cannot_extract(source: str) -> None:
    assert not_extractable(source)


def test_every_literal_handed_to_a_translation_function_is_in_the_catalog() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        pot = read_po(fh)
    extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in pot if m.id}
    extracted |= {m.id[1] for m in pot if isinstance(m.id, tuple)}
    missing = [f"{path.relative_to(ROOT)}:{line}: {arg.value!r}"
               for path in _python_files()
               for line, _name, arg in translation_calls(path.read_text(encoding="utf-8"))
               if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value
               and arg.value not in extracted]
    assert not missing, "run scripts/catalogs.py; not in messages.pot:\n" + "\n".join(missing)


TEMPLATE_CALL = re.compile(r"\b(?:_|gettext|ngettext)\(\s*(?!['\"])")


def test_templates_hand_only_literals_to_gettext() -> None:
    bad = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path in sorted(PACKAGE.rglob("templates/**/*.html"))
           for m in TEMPLATE_CALL.finditer(path.read_text(encoding="utf-8"))]
    assert not bad, bad


# -- the catalogs --------------------------------------------------------------------------------

# Latin words that may stand in Kazakh and Russian text: product names, standards, abbreviations.
LATIN_ALLOWED = {
    "Google", "Classroom", "Forms", "Sheets", "Drive", "Meet", "Moodle", "OAuth", "YAML", "Excel", "JSON",
    "SHA", "GPA", "ID", "URL", "PDF", "XLSX", "SMTP", "TLS", "HTTP", "HTTPS", "API", "CSRF", "CSV", "Redis",
    "PostgreSQL", "SQLite", "Huey", "null", "push", "e", "mail", "MB", "Ticket", "k", "student_id", "ticket",
    "idnumber", "lms_bridge", "webhook", "PHP", "T09", "I", "FX", "F", "ISO", "UTF", "UTC", "REST", "IP", "JavaScript",
    "Ctrl", "C", "A",  # Ctrl-C; column A
    "google", "moodle",  # the settings' section names
}
# Code that a message quotes on purpose: placeholders, `commands`, 'fields', "names", paths, keys.
CODE = re.compile(r"\S*%\(\w+\)[sdif]\S*|`[^`]*`|'[^']*'|\"[^\"]*\"|«Ticket»|\S*[./_=]\S+|--\w+"
                  r"|\b[\w.+-]+@[\w.-]+|\b[a-z]+(?:-[a-z]+)+\b")
QUOTED = re.compile(r"%\(\w+\)[sdif]|`[^`]*`|'[^']*'")
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _prose(text: str) -> str:
    return CODE.sub(" ", text)


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_no_catalog_entry_is_left_in_english(lang: str) -> None:
    left = []
    for message in _read(lang):
        if not message.id:
            continue
        for form in _forms(message.string):
            stray = {w for w in LATIN_WORD.findall(_prose(form)) if w not in LATIN_ALLOWED}
            if stray:
                left.append((message.id, sorted(stray)))
    assert not left, f"{lang}: English left in {len(left)} entries, e.g. {left[:8]}"


# Raw or wrong terms, each with the plain term used instead (one term per concept).
DENY = {
    "kk": {
        r"\bseed\b": "бастапқы мән", r"commitment": "бақылау хэші", r"sandbox": "сынақ ортасы",
        r"міндеттеме": "бақылау хэші", r"құмсалғыш": "сынақ ортасы", r"таратылу": "билет тарту",
        r"өзекті": "өзгеріс жоқ", r"студент": "білім алушы", r"(?<!техникалық )(?<!Техникалық )\b[Хх]атшы":
        "техникалық хатшы", r"жеребе": "билет тарту", r"бағалау ведомос": "ведомость",
        r"\d-ге|\d-ден|\d-қа|\d-тан": "(no suffix after a number)",
    },
    "ru": {
        r"\bseed\b": "исходное значение", r"commitment": "контрольный хеш", r"sandbox": "тестовая среда",
        r"бязательств": "контрольный хеш", r"[Пп]есочниц": "тестовая среда", r"\bзерн": "исходное значение",
        r"[Сс]тудент": "обучающийся", r"(?<![Тт]ехнический )(?<![Тт]ехнического )(?<![Тт]ехническим )"
        r"(?<![Тт]ехническому )(?<![Тт]ехническом )"
        r"\b[Сс]екретар": "технический секретарь", r"[Рр]аспредел": "жеребьёвка", r"ведомость оценок": "ведомость",
        r"хэш": "хеш",
    },
}


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_no_catalog_entry_holds_a_denied_term(lang: str) -> None:
    hits = []
    for message in _read(lang):
        if not message.id:
            continue
        for form in _forms(message.string):
            prose = QUOTED.sub(" ", form)
            hits += [(message.id, pattern, instead) for pattern, instead in DENY[lang].items()
                     if re.search(pattern, prose)]
    assert not hits, f"{lang}: {len(hits)} denied terms, e.g. {hits[:6]}"


def test_the_known_mistranslations_stay_fixed() -> None:
    kk, ru = _read("kk"), _read("ru")
    assert kk.get("skipped").string == "өткізіп жіберілді"  # "өткізілді" means "was held"
    assert kk.get("Done").string == "Орындалды"  # "Дайын" means "ready"
    assert ru.get("for").string == "за"
    assert ru.get("against").string == "против"
    assert kk.get("for").string == "жақтап"
    assert kk.get("against").string == "қарсы"
    assert kk.get("GRADE SHEET").string == "ҚОРЫТЫНДЫ АТТЕСТАТТАУ ВЕДОМОСЫ"
    assert ru.get("GRADE SHEET").string == "ВЕДОМОСТЬ ИТОГОВОЙ АТТЕСТАЦИИ"
    assert (kk.get("Chair").string, ru.get("Chair").string) == ("Комиссия төрағасы", "Председатель комиссии")
    assert (kk.get("Technical secretary").string, ru.get("Technical secretary").string) == (
        "Техникалық хатшы", "Технический секретарь")


# A Kazakh case or possessive ending after a placeholder follows the sound of a word the code
# does not know: "%(old)s-ден" prints "төраға-ден", "55-ге".
# (An ordinal with its noun, "%(line)s-жол", is how Kazakh writes "line 5", not a case ending.)
SUFFIXES = ("ден", "дан", "тен", "тан", "нен", "нан", "ге", "ға", "ке", "қа", "не", "на", "де", "да", "те", "та",
            "нің", "ның", "дің", "дың", "тің", "тың", "ні", "ны", "ді", "ды", "ті", "ты", "мен", "пен", "бен",
            "сі", "сы", "і", "ы", "ші", "шы", "еу", "ау")
GLUED = re.compile(r"%\(\w+\)[sdif][-']?(?:" + "|".join(SUFFIXES) + r")\b")


def test_no_kazakh_suffix_is_glued_to_a_placeholder() -> None:
    glued = [(m.id, form) for m in _read("kk") if m.id for form in _forms(m.string) if GLUED.search(form)]
    assert not glued, glued[:8]


# Nouns whose Russian form depends on the count before them; a fixed form is wrong for some counts.
COUNTED = re.compile(r"%\(\w+\)[sd]\s+(?:балл|минут|бюллетен|объект|член|обучающ|билет|файл|проблем|голос|"
                     r"шаг|ресурс|изменени|дн|час)", re.IGNORECASE)


def test_a_russian_count_meets_its_noun_only_through_ngettext() -> None:
    fixed = [(m.id, m.string) for m in _read("ru")
             if m.id and isinstance(m.id, str) and COUNTED.search(m.string)]
    assert not fixed, f"use ngettext or a label ('баллы: %(n)s'): {fixed[:6]}"


def test_points_are_a_plural_message() -> None:
    ru = _read("ru")
    message = ru.get(("%(points)s point", "%(points)s points"))
    assert message is not None
    assert message.string == ("%(points)s балл", "%(points)s балла", "%(points)s баллов")
