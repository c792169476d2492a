"""Reading the university system's export of admission ratings (CSV or XLSX) for a test exam
(004 test §2-5: admission rating up to 60 + exam up to 40).

Liberal in what the columns are called, strict in what they hold.  A column is the student's id (the
session file's ``id``: a student ID number), their e-mail, or the rating, recognised by its header in
Kazakh, Russian or English ("Student ID", "ID студента", "Студенттің ID", "E-mail", "Эл. пошта",
"Рейтинг допуска", "Жіберу рейтингі", "Admission rating", ...); other columns (names, groups) are
ignored.  A rating is a number from 0 to the admission maximum, with a decimal point or comma
("52,5"); anything else — a formula, a percent sign, text — is refused, never evaluated: a workbook
is read with formulas as written, not their cached results.

Every problem names the file, the row (and the workbook's sheet and cell) and the column.  Bounded
like a session file: the file's size, the workbook's unpacked size and the rows read.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

from openpyxl.utils import get_column_letter

from lms_bridge.config import LimitsSettings
from lms_bridge.sessionfile.problems import Location, Problem, _l
from lms_bridge.sessionfile.xlsxfile import OLE_MAGIC, _unpacked_too_big

logger = logging.getLogger(__name__)

ZIP_MAGIC = b"PK\x03\x04"
# Header words, compared after lower-casing and dropping punctuation (kk, ru, en).
EMAIL_WORDS = ("mail", "почта", "пошта", "email")
RATING_WORDS = ("rating", "рейтинг", "admission", "допуск", "жіберу", "рұқсат")
# A whole header that names the student, or a word in it (a student's "ID", "номер", "нөмірі", ...).
ID_EXACT = {"id", "student", "студент", "білім алушы", "обучающийся", "number"}
ID_TOKENS = {"id", "ид", "иин", "жсн"}
ID_WORDS = ("номер", "нөмір", "код", "number", "шифр", "зачет", "сынақ")
RATING_RE = re.compile(r"^\d{1,3}(?:[.,]\d{1,3})?$")


@dataclass(frozen=True)
class RatingRow:
    """One student's rating as the export gives it: ``key`` is the id or the e-mail (``by``)."""

    key: str
    by: str  # "id" | "email"
    rating: float
    location: Location
    column: str  # the rating's header, as written


def _norm(header: Any) -> str:
    text = str(header or "").strip().lower().replace("ё", "е")
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _kind_of(header: Any) -> str:
    """id, email, rating or "" (ignored) for one header."""
    h = _norm(header)
    if not h:
        return ""
    words = set(h.split())
    if any(w in h for w in EMAIL_WORDS):
        return "email"
    if any(w in h for w in RATING_WORDS):
        return "rating"
    if h in ID_EXACT or words & ID_TOKENS or any(w in h for w in ID_WORDS):
        return "id"
    return ""


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _id_text(value: Any) -> str:
    """A student id as the session file writes it: a number in a cell (210103041, 210103041.0) as digits."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class _Reader:
    def __init__(self, file: str, maximum: int, limits: LimitsSettings) -> None:
        self.file, self.maximum, self.limits = file, maximum, limits
        self.problems: list[Problem] = []

    def problem(self, loc: Location, field: str, msgid: str, **params: Any) -> None:
        self.problems.append(Problem(self.file, loc, field, msgid, params))

    def rating(self, value: Any, loc: Location, field: str) -> float | None:
        if isinstance(value, bool) or _blank(value):
            self.problem(loc, field, _l("The rating is missing: give a number from 0 to %(max)s."), max=self.maximum)
            return None
        if isinstance(value, int | float):
            number = float(value)
        else:
            text = str(value).strip().replace("\u00a0", "")
            if not RATING_RE.match(text):
                # Shown as written, cut short: a formula ("=1+59") is text here, never computed.
                self.problem(loc, field, _l("%(value)s is not a rating: give a number from 0 to %(max)s "
                                            "(a decimal comma is fine, a formula is not)."),
                             value=text[:40], max=self.maximum)
                return None
            number = float(text.replace(",", "."))
        if not math.isfinite(number) or not 0 <= number <= self.maximum:
            self.problem(loc, field, _l("The rating %(value)s is outside 0–%(max)s."), value=f"{number:g}",
                         max=self.maximum)
            return None
        return round(number, 2)

    def table(self, rows: Any, sheet: str) -> list[RatingRow]:
        """Rows of values, the first non-blank one the header."""
        header: tuple[Any, ...] | None = None
        header_row = 0
        columns: dict[str, int] = {}
        names: dict[str, str] = {}
        out: list[RatingRow] = []
        for row_no, row in enumerate(rows, start=1):
            if row_no > self.limits.workbook_rows + 1:
                if all(_blank(v) for v in row):
                    continue
                self.problem(Location(sheet=sheet, row=row_no) if sheet else Location(line=row_no), "",
                             _l("The file has more than %(max)s rows; an export of one session is far shorter."),
                             max=self.limits.workbook_rows)
                return []
            if all(_blank(v) for v in row):
                continue
            if header is None:
                header, header_row = tuple(row), row_no
                for i, cell in enumerate(header):
                    kind = _kind_of(cell)
                    if kind and kind not in columns:
                        columns[kind] = i
                        names[kind] = str(cell).strip()
                if "rating" not in columns:
                    self.problem(self._loc(sheet, row_no), "",
                                 _l("The header row names no rating column (such as \"Admission rating\", "
                                    "\"Рейтинг допуска\" or \"Жіберу рейтингі\")."))
                    return []
                if not {"id", "email"} & set(columns):
                    self.problem(self._loc(sheet, row_no), "",
                                 _l("The header row names no column for the student: the student's ID number "
                                    "(\"ID\") or e-mail."))
                    return []
                continue
            out.extend(self.record(row, row_no, sheet, columns, names))
        if header is None:
            self.problem(Location(), "", _l("The file is empty: no header row, no ratings."))
        elif not out and not self.problems:
            self.problem(self._loc(sheet, header_row), "", _l("The file has a header row but no ratings."))
        return out

    def _loc(self, sheet: str, row: int, column: int | None = None) -> Location:
        letter = get_column_letter(column + 1) if column is not None else ""
        return Location(sheet=sheet, row=row, column=letter) if sheet else Location(line=row)

    def record(self, row: Any, row_no: int, sheet: str, columns: dict[str, int],
               names: dict[str, str]) -> list[RatingRow]:
        def cell(kind: str) -> Any:
            i = columns.get(kind)
            return row[i] if i is not None and i < len(row) else None

        key, by = "", ""
        if "id" in columns and not _blank(cell("id")):
            key, by = _id_text(cell("id")), "id"
        elif "email" in columns and not _blank(cell("email")):
            key, by = str(cell("email")).strip().lower(), "email"
        if not key:
            which = names.get("id") or names.get("email", "")
            self.problem(self._loc(sheet, row_no, columns.get("id", columns.get("email"))), which,
                         _l("The student's ID number or e-mail is missing."))
            return []
        loc = self._loc(sheet, row_no, columns["rating"])
        value = self.rating(cell("rating"), loc, names["rating"])
        if value is None:
            return []
        return [RatingRow(key=key, by=by, rating=value, location=loc, column=names["rating"])]


def read_ratings(data: bytes, file: str, *, maximum: int,
                 limits: LimitsSettings | None = None) -> tuple[list[RatingRow], list[Problem]]:
    """The ratings of a CSV or XLSX export (told apart by content, not by name), and every problem."""
    limits = limits or LimitsSettings()
    reader = _Reader(file, maximum, limits)
    if len(data) > limits.file_bytes:
        reader.problem(Location(), "", _l("The file is larger than %(mb)s MB; an export of ratings is far smaller."),
                       mb=limits.file_bytes // (1024 * 1024))
        return [], reader.problems
    if data.startswith(OLE_MAGIC):
        reader.problem(Location(), "", _l("This is an old .xls (or password-protected) workbook; save it as an "
                                          "unprotected .xlsx workbook."))
        return [], reader.problems
    if data.startswith(ZIP_MAGIC):
        return _read_xlsx(data, reader, limits)
    return _read_csv(data, reader)


def _read_csv(data: bytes, reader: _Reader) -> tuple[list[RatingRow], list[Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel in Russian saves CSV in Windows-1251.
        text = data.decode("cp1251", errors="replace")
    if "\x00" in text:
        reader.problem(Location(), "", _l("This is neither a CSV file nor an .xlsx workbook."))
        return [], reader.problems
    first = next((line for line in text.splitlines() if line.strip()), "")
    # Excel in Russian and Kazakh separates with ";" (the comma is the decimal mark); else "," or a tab.
    delimiter = max((";", ",", "\t"), key=first.count)
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        found = reader.table(rows, "")
    except csv.Error as exc:
        reader.problem(Location(), "", _l("The CSV file cannot be read: %(reason)s"), reason=str(exc)[:200])
        return [], reader.problems
    return found, reader.problems


def _read_xlsx(data: bytes, reader: _Reader, limits: LimitsSettings) -> tuple[list[RatingRow], list[Problem]]:
    from openpyxl import load_workbook

    too_big = _unpacked_too_big(data, reader.file, limits)
    if too_big:
        return [], too_big
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Formulas as written (data_only=False): a cell "=60" is text to refuse, not a value.
            book = load_workbook(io.BytesIO(data), data_only=False, read_only=True)
    except Exception:
        logger.info("%s: workbook could not be opened", reader.file, exc_info=True)
        reader.problem(Location(), "", _l("This is not an Excel workbook (.xlsx), or the workbook is damaged."))
        return [], reader.problems
    try:
        ws = book.worksheets[0]
        cols = limits.workbook_columns
        rows = (tuple(r[:cols]) for r in ws.iter_rows(max_row=limits.workbook_rows + 2, max_col=cols,
                                                       values_only=True))
        return reader.table(rows, ws.title), reader.problems
    except Exception:
        logger.info("%s: workbook could not be read", reader.file, exc_info=True)
        reader.problem(Location(), "", _l("This is not an Excel workbook (.xlsx), or the workbook is damaged."))
        return [], reader.problems
    finally:
        book.close()
