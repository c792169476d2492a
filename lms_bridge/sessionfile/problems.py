"""What is wrong with a session file, said so that the secretary can find and fix it.

A :class:`Problem` names the file, the place in it (a workbook sheet and row, or a YAML path and
line) and the field.  The message is kept as a msgid plus values and translated when it is read, so
the same problem shows in Kazakh on the command line and in Russian on a page whose user chose it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lms_bridge.i18n import gettext


def _l(msgid: str) -> str:
    """Mark ``msgid`` for extraction (scripts/catalogs.py collects ``_l``); it is translated when shown.

    Problems keep the msgid rather than translated text, so one problem reads in the language of
    whoever looks at it (the CLI's, or the page's).
    """
    return msgid


@dataclass(frozen=True)
class Location:
    """Where in the file: a workbook ``sheet``/``row``/``column``, or a YAML ``path`` and ``line``."""

    sheet: str = ""
    row: int | None = None
    column: str = ""  # spreadsheet column letter, e.g. "C"
    path: str = ""  # YAML path, e.g. "students[3].email"
    line: int | None = None

    def describe(self) -> str:
        if self.sheet:
            if self.row is None:
                return gettext("sheet %(sheet)s", sheet=self.sheet)
            if self.column:
                return gettext("sheet %(sheet)s, row %(row)s (cell %(cell)s)",
                               sheet=self.sheet, row=self.row, cell=f"{self.column}{self.row}")
            return gettext("sheet %(sheet)s, row %(row)s", sheet=self.sheet, row=self.row)
        if self.path and self.line is not None:
            return gettext("%(path)s, line %(line)s", path=self.path, line=self.line)
        if self.line is not None:
            return gettext("line %(line)s", line=self.line)
        return self.path

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Problem:
    """One thing to fix.  ``field`` is the column/key as written in the file ("" for the whole file)."""

    file: str
    location: Location
    field: str
    msgid: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return gettext(self.msgid, **self.params) if self.params else gettext(self.msgid)

    def __str__(self) -> str:
        where = [self.location.describe()]
        if self.field:
            where.append(gettext("field %(field)s", field=self.field))
        place = ", ".join(w for w in where if w)
        return f"{self.file}: {place}: {self.message}" if place else f"{self.file}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (admin page, ``--json`` outputs)."""
        return {"file": self.file, "location": self.location.describe(), "sheet": self.location.sheet,
                "row": self.location.row, "path": self.location.path, "line": self.location.line,
                "field": self.field, "message": self.message}


class SessionFileError(Exception):
    """The file cannot become a session; ``problems`` lists every reason, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
