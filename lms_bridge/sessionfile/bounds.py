"""What a single value of a session file may hold: its length, its characters, an id's alphabet.

Text lengths are the store's column lengths, read from :mod:`lms_bridge.store.models`, so a value
that passes ``check`` always fits its column (a name of 256 characters used to pass and then fail
the import on PostgreSQL).  Texts without a column length use ``limits.text_chars``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# Latin letters, digits, "-", "_" and "." (not first, never two in a row): an id becomes part of file
# names (protocols), URLs and Google/Moodle fields, so "/", "..", spaces and the like are refused.
ID_RE = re.compile(r"^[A-Za-z0-9_-](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?$")
CODE_RE = re.compile(r"^[A-Za-z0-9_-]+$")

# Embedding/override (U+202A-U+202E) and isolate (U+2066-U+2069) controls reorder how the text
# around them is displayed: "U+202E" makes "exe.fdp" show as "pdf.exe".  Line and paragraph
# separators (U+2028, U+2029) are line breaks in disguise.
_REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")

# (section, field) -> (model, column); sections as in the file.
_COLUMNS: dict[tuple[str, str], tuple[str, str]] = {
    ("session", "code"): ("ExamSession", "code"),
    ("session", "title"): ("ExamSession", "title"),
    ("session", "programme"): ("ExamSession", "programme"),
    ("session", "group"): ("ExamSession", "group_name"),
    ("session", "timezone"): ("ExamSession", "timezone"),
    ("session", "department"): ("ExamSession", "department"),
    ("commission", "name"): ("CommissionMember", "name"),
    ("commission", "email"): ("CommissionMember", "email"),
    ("students", "id"): ("StudentRecord", "student_ref"),
    ("students", "name"): ("StudentRecord", "name"),
    ("students", "email"): ("StudentRecord", "email"),
    ("students", "admission_note"): ("StudentRecord", "admission_note"),
}
# Texts that may span several lines (a long question, a note); every other text is one line.
MULTILINE = frozenset({("students", "admission_note"), ("tickets", "questions")})


@cache
def column_lengths() -> dict[tuple[str, str], int | None]:
    """(section, field) -> the length of the column that stores it (None: no length, e.g. Text)."""
    from lms_bridge.store import models

    out: dict[tuple[str, str], int | None] = {}
    for key, (model, column) in _COLUMNS.items():
        col_type = getattr(models, model).__table__.c[column].type
        out[key] = getattr(col_type, "length", None)
    return out


def bad_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character a text from a person must not hold, as ``U+XXXX``; None when clean.

    Control characters (NUL, CR, LF, tab, escape, the C1 range) and the bidi reordering controls
    are refused; a multi-line text may hold line feeds.
    """
    for char in text:
        if char == "\n" and multiline:
            continue
        if char in _REORDERING or unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None
