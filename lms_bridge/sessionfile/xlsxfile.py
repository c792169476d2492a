"""Reading the workbook form of a session file (sheets session, commission, students, tickets)."""

from __future__ import annotations

import io
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from lms_bridge.config import LimitsSettings
from lms_bridge.sessionfile.problems import Location, Problem, _l
from lms_bridge.sessionfile.raw import (
    COMMISSION_FIELDS,
    OPTIONAL_SECTIONS,
    SESSION_KEYS,
    STAFF_FIELDS,
    STUDENT_FIELDS,
    Cell,
    RawRecord,
    RawSession,
)

logger = logging.getLogger(__name__)

SHEETS = ("session", "commission", "students", "tickets")
# Sheets a workbook may leave out (in this order after the others when problems are sorted).
OPTIONAL_SHEETS = OPTIONAL_SECTIONS
# Other sheets (the template's instructions) are the secretary's business and are ignored.
REQUIRED_COLUMNS = {
    "commission": ("name", "email", "role"),
    "students": ("id", "name", "email"),
    "tickets": ("number", "question 1"),
    "appeal_commission": ("name", "email", "role"),
    "administrative_staff": ("name", "email"),
}
KNOWN_COLUMNS = {"commission": COMMISSION_FIELDS, "students": STUDENT_FIELDS, "tickets": ("number",),
                 "appeal_commission": COMMISSION_FIELDS, "administrative_staff": STAFF_FIELDS}
QUESTION_RE = re.compile(r"^question\s*(\d+)$")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _damaged(file: str) -> list[Problem]:
    return [Problem(file, Location(), "", _l("This is not an Excel workbook (.xlsx), or the workbook is damaged."))]


def _unpacked_too_big(data: bytes, file: str, limits: LimitsSettings) -> list[Problem] | None:
    """Refuse a workbook whose parts inflate past the limit, from the zip's directory alone.

    The sizes are the ones the zip declares; :mod:`zipfile` never inflates a part past its declared
    size (it stops and reports a damaged file), so checking them bounds what openpyxl can unpack.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except Exception:
        # Any damage (BadZipFile, NotImplementedError for an unknown zip version, ...) is reported
        # by openpyxl's attempt below, in the same words as the rest.
        return None
    unpacked = sum(m.file_size for m in members)
    if unpacked > limits.workbook_unpacked_bytes:
        return [Problem(file, Location(), "",
                        _l("The workbook unpacks to more than %(mb)s MB; a session workbook is far smaller. "
                           "Copy the four sheets into a new workbook."),
                        {"mb": limits.workbook_unpacked_bytes // (1024 * 1024)})]
    return None


def read_xlsx(data: bytes, file: str,
              limits: LimitsSettings | None = None) -> tuple[RawSession | None, list[Problem]]:
    limits = limits or LimitsSettings()
    if data.startswith(OLE_MAGIC):
        # The Excel 97-2003 format, and also what Excel writes for a password-protected workbook.
        return None, [Problem(file, Location(), "",
                              _l("This is an old .xls (or password-protected) workbook; save it as an "
                              "unprotected .xlsx workbook."))]
    too_big = _unpacked_too_big(data, file, limits)
    if too_big:
        return None, too_big
    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (extended data validation, slicers);
            # they do not matter for reading values.
            warnings.simplefilter("ignore")
            # Read-only mode streams each sheet's rows instead of building every cell up front, so
            # a sheet of a million rows costs only the rows read before the row limit stops it.
            book = load_workbook(io.BytesIO(data), data_only=True, read_only=True)
    except Exception:
        # A damaged workbook fails deep inside zipfile, zlib, the XML parser or openpyxl in many
        # ways (BadZipFile, zlib.error, KeyError, ParseError, NotImplementedError for an unknown
        # compression, RuntimeError for an encrypted part, ...); all mean the same to the secretary.
        logger.info("%s: workbook could not be opened", file, exc_info=True)
        return None, _damaged(file)
    try:
        return _Reader(file, limits).read(book)
    except _TooLarge as exc:
        return None, [exc.problem]
    except Exception:
        # In read-only mode the sheets are parsed while they are read: the same damage shows here.
        logger.info("%s: workbook could not be read", file, exc_info=True)
        return None, _damaged(file)
    finally:
        book.close()


class _TooLarge(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.msgid)
        self.problem = problem


class _Reader:
    def __init__(self, file: str, limits: LimitsSettings) -> None:
        self.file = file
        self.limits = limits
        self.problems: list[Problem] = []

    def rows(self, ws: Any, name: str) -> Iterator[tuple[Any, ...]]:
        """The sheet's rows as values, refusing the sheet once it passes the row or column limit.

        Asking for one row and one column beyond the limits caps what openpyxl builds (it pads
        every row to the widest column the sheet claims) while still telling a sheet that merely
        reaches a limit from one that passes it.
        """
        max_rows, max_cols = self.limits.workbook_rows, self.limits.workbook_columns
        for row_no, row in enumerate(ws.iter_rows(max_row=max_rows + 1, max_col=max_cols + 1,
                                                  values_only=True), start=1):
            if len(row) > max_cols and not _blank(row[max_cols]):
                raise _TooLarge(Problem(
                    self.file, Location(sheet=name, row=row_no, column=get_column_letter(max_cols + 1)), "",
                    _l("The sheet has values beyond column %(column)s; a session sheet has at most %(max)s "
                       "columns."), {"column": get_column_letter(max_cols), "max": max_cols}))
            if row_no > max_rows:
                if all(_blank(v) for v in row):
                    continue
                raise _TooLarge(Problem(
                    self.file, Location(sheet=name, row=row_no), "",
                    _l("The sheet has more than %(max)s rows; a session sheet is far shorter."),
                    {"max": max_rows}))
            yield tuple(row[:max_cols])

    def problem(self, loc: Location, field: str, msgid: str, **params: Any) -> None:
        self.problems.append(Problem(self.file, loc, field, msgid, params))

    def read(self, book: Any) -> tuple[RawSession | None, list[Problem]]:
        by_name = {ws.title.strip().lower(): ws for ws in book.worksheets}
        raw = RawSession(file=self.file)
        for name in SHEETS:
            if name not in by_name:
                self.problem(Location(sheet=name), "", _l("The sheet %(sheet)s is missing."), sheet=name)
        if "session" in by_name:
            raw.session_loc = Location(sheet="session")
            self.session(by_name["session"], raw.session)
        for name in ("commission", "students", "tickets", *OPTIONAL_SHEETS):
            if name in by_name:
                records = self.table(by_name[name], name)
                setattr(raw, name, records)
                setattr(raw, f"{name}_loc", Location(sheet=name))
        return raw, self.problems

    def session(self, ws: Worksheet, out: dict[str, Cell]) -> None:
        first_key: dict[str, int] = {}
        for row_no, row in enumerate(self.rows(ws, "session"), start=1):
            key_value = row[0] if row else None
            value = row[1] if len(row) > 1 else None
            if _blank(key_value):
                if not _blank(value):
                    self.problem(Location(sheet="session", row=row_no, column="A"), "",
                                 _l("A value without a key: write the key in column A."))
                continue
            key = str(key_value).strip().lower()
            if row_no == 1 and key == "key":
                continue  # the header row
            loc = Location(sheet="session", row=row_no, column="B")
            if key not in SESSION_KEYS:
                self.problem(Location(sheet="session", row=row_no, column="A"), key,
                             _l("Unknown field %(key)s."), key=key)
                continue
            if key in first_key:
                self.problem(Location(sheet="session", row=row_no, column="A"), key,
                             _l("The key %(key)s is given twice (first at row %(first)s)."),
                             key=key, first=first_key[key])
                continue
            first_key[key] = row_no
            out[key] = Cell(value, loc)

    def table(self, ws: Worksheet, name: str) -> list[RawRecord] | None:
        rows = self.rows(ws, name)
        header = next(rows, None)
        columns: dict[int, str] = {}
        questions: dict[int, int] = {}  # column index -> question number
        for index, title in enumerate(header or (), start=1):
            if _blank(title):
                continue
            label = re.sub(r"\s+", " ", str(title).strip().lower())
            match = QUESTION_RE.match(label) if name == "tickets" else None
            if match:
                questions[index] = int(match[1])
                label = f"question {int(match[1])}"
            elif label not in KNOWN_COLUMNS[name]:
                self.problem(Location(sheet=name, row=1, column=get_column_letter(index)), label,
                             _l("Unknown column %(column)s."), column=label)
                continue
            if label in columns.values():
                self.problem(Location(sheet=name, row=1, column=get_column_letter(index)), label,
                             _l("The column %(column)s is given twice."), column=label)
                continue
            columns[index] = label
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in columns.values()]
        for column in missing:
            self.problem(Location(sheet=name, row=1), column, _l("The column %(column)s is missing."),
                         column=column)
        if missing:
            return None
        numbers = sorted(questions.values())
        if numbers != list(range(1, len(numbers) + 1)):
            self.problem(Location(sheet=name, row=1), "question",
                         _l("The question columns must be numbered 1, 2, 3, … without gaps."))
            return None
        records: list[RawRecord] = []
        for row_no, row in enumerate(rows, start=2):
            if all(_blank(v) for v in row):
                continue
            rec = RawRecord(loc=Location(sheet=name, row=row_no))
            q_cells: list[tuple[int, Cell]] = []
            for index, label in columns.items():
                value = row[index - 1] if index - 1 < len(row) else None
                if isinstance(value, str):
                    value = value.strip()
                cell = Cell(value, Location(sheet=name, row=row_no, column=get_column_letter(index)))
                if index in questions:
                    q_cells.append((questions[index], cell))
                else:
                    rec.fields[label] = cell
            for index, value in enumerate(row, start=1):
                if index not in columns and not _blank(value):
                    self.problem(Location(sheet=name, row=row_no, column=get_column_letter(index)), "",
                                 _l("A value in a column without a title."))
            if name == "tickets":
                ordered = [c for _n, c in sorted(q_cells, key=lambda nc: nc[0])]
                while ordered and _blank(ordered[-1].value):
                    ordered.pop()  # tickets may have fewer questions than the widest one
                rec.fields["questions"] = Cell(ordered, Location(sheet=name, row=row_no))
            records.append(rec)
        return records
