"""The workbook form: the shipped workbooks, and bad workbooks named by sheet, row and field."""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from lms_bridge.domain.session import SessionSpec
from lms_bridge.sessionfile import load_session, read_session, read_session_file
from lms_bridge.sessionfile.workbook import build_workbook, workbook_bytes, write_workbook

from .helpers import SAMPLE_SESSION_XLSX, SAMPLE_SESSION_YAML, TEMPLATE_XLSX, problems_of


def save(wb: Workbook, tmp_path: Path, name: str = "session.xlsx") -> Path:
    path = tmp_path / name
    wb.save(path)
    return path


def test_sample_workbook_and_yaml_are_the_same_session(sample_spec: SessionSpec) -> None:
    assert load_session(SAMPLE_SESSION_XLSX) == sample_spec
    assert load_session(SAMPLE_SESSION_YAML) == sample_spec


def _cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    wb = load_workbook(path)
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def test_committed_workbooks_are_what_the_script_makes(tmp_path: Path, sample_spec: SessionSpec) -> None:
    # scripts/make_workbooks.py writes exactly these (every part of the zip, so styles and drop-down
    # lists too); a stale committed workbook fails here.
    write_workbook(tmp_path / "t.xlsx")
    write_workbook(tmp_path / "s.xlsx", sample_spec)
    assert _parts((tmp_path / "t.xlsx").read_bytes()) == _parts(TEMPLATE_XLSX.read_bytes())
    assert _parts((tmp_path / "s.xlsx").read_bytes()) == _parts(SAMPLE_SESSION_XLSX.read_bytes())
    assert _cells(tmp_path / "s.xlsx") == _cells(SAMPLE_SESSION_XLSX)
    # Two runs give the same bytes, so regenerating leaves the working tree clean.
    assert workbook_bytes(sample_spec) == workbook_bytes(sample_spec)


def test_template_has_instructions_headers_and_drop_down_lists() -> None:
    wb = load_workbook(TEMPLATE_XLSX)
    assert wb.sheetnames[0] == "instructions"
    text = "\n".join(str(r[0]) for r in wb["instructions"].iter_rows(values_only=True) if r[0])
    assert "ҚАЗАҚША" in text
    assert "ПО-РУССКИ" in text
    assert [c.value for c in wb["commission"][1]] == ["name", "email", "role"]
    assert [c.value for c in wb["students"][1]][:4] == ["id", "name", "email", "admitted"]
    assert [c.value for c in wb["tickets"][1]][:2] == ["number", "question 1"]

    def lists(sheet: str) -> dict[str, str]:
        return {str(dv.sqref): dv.formula1 for dv in wb[sheet].data_validations.dataValidation}

    role = lists("commission")
    assert any(ref.startswith("C2") and "chair" in f and "secretary" in f for ref, f in role.items())
    assert any(ref.startswith("D2") and "yes" in f and "no" in f for ref, f in lists("students").items())
    kind_row = next(c.row for c in wb["session"]["A"] if c.value == "kind")
    assert any(ref == f"B{kind_row}" and "oral_exam" in f and "defense" in f
               for ref, f in lists("session").items())


def test_template_is_refused_until_filled_in() -> None:
    spec, problems = read_session_file(TEMPLATE_XLSX)
    assert spec is None
    assert {p.field for p in problems} >= {"code", "title", "kind", "starts_at"}


def _row_of(ws, column: str, value: object) -> int:  # type: ignore[no-untyped-def]
    return next(c.row for c in ws[column] if c.value == value)


def _session_row(wb: Workbook, key: str) -> int:
    return _row_of(wb["session"], "A", key)


Edit = Callable[[Workbook], tuple[str, int | None, str]]  # -> (sheet, row, field) expected


def _set_session(key: str, value: object) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        row = _session_row(wb, key)
        wb["session"].cell(row=row, column=2, value=value)
        return "session", row, key
    return edit


def _set_cell(sheet: str, row: int, column: int, value: object, field: str) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        # .value directly: cell(value=None) would leave the old value in place.
        wb[sheet].cell(row=row, column=column).value = value
        return sheet, row, field
    return edit


def _drop_sheet(name: str) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        del wb[name]
        return name, None, ""
    return edit


def _drop_column(sheet: str, column: int, field: str) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        wb[sheet].delete_cols(column)
        return sheet, 1, field
    return edit


def _copy_row(sheet: str, source: int, target: int, column: int, field: str) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        ws = wb[sheet]
        ws.cell(row=target, column=column, value=ws.cell(row=source, column=column).value)
        return sheet, target, field
    return edit


def _all_not_admitted(wb: Workbook) -> tuple[str, int | None, str]:
    ws = wb["students"]
    for row in range(2, ws.max_row + 1):
        if ws.cell(row=row, column=1).value:
            ws.cell(row=row, column=4, value="no")
    return "students", None, "admitted"


def _member_as_student(wb: Workbook) -> tuple[str, int | None, str]:
    wb["students"].cell(row=3, column=3, value=wb["commission"].cell(row=3, column=2).value.upper())
    return "students", 3, "email"


def _no_tickets(wb: Workbook) -> tuple[str, int | None, str]:
    ws = wb["tickets"]
    ws.delete_rows(2, ws.max_row)
    return "tickets", None, "number"


def _extra_session_row(key: str, value: object) -> Edit:
    def edit(wb: Workbook) -> tuple[str, int | None, str]:
        ws = wb["session"]
        row = ws.max_row + 1
        ws.cell(row=row, column=1).value = key
        ws.cell(row=row, column=2).value = value
        return "session", row, key
    return edit


# Rows: commission 2 = chair, 3..5 = members, 6 = secretary; students 2.. ; tickets 2..
CASES: list[tuple[str, Edit, str]] = [
    ("missing-sheet", _drop_sheet("students"), "sheet students is missing"),
    ("missing-column", _drop_column("commission", 2, "email"), "column email is missing"),
    ("missing-question-column", _drop_column("tickets", 2, "question 1"), "column question 1 is missing"),
    ("unknown-kind", _set_session("kind", "exam"), "Unknown value"),
    ("unknown-language", _set_session("language", "fr"), "Unknown value"),
    ("unknown-decision", _set_session("grading.decision", "vote"), "Unknown value"),
    ("unknown-degree-vote", _set_session("degree_vote", "yes"), "Unknown value"),
    ("quorum-turned-into-a-date", _set_session("grading.quorum", datetime(2026, 3, 2)), "read as a date"),
    ("bad-quorum", _set_session("grading.quorum", "0/3"), "not a quorum"),
    ("impossible-date", _set_session("starts_at", "2026-06-31 09:00"), "not a possible date"),
    ("unknown-time-zone", _set_session("timezone", "Almaty"), "Unknown time zone"),
    ("code-charset", _set_session("code", "FA 2026"), "Latin letters"),
    ("unknown-role", _set_cell("commission", 3, 3, "deputy", "role"), "Unknown value"),
    ("invalid-email", _set_cell("commission", 4, 2, "omarov.univ.edu.kz", "email"), "not a valid email"),
    ("duplicate-commission-email", _copy_row("commission", 3, 4, 2, "email"), "listed twice"),
    ("two-chairs", _set_cell("commission", 3, 3, "chair", "role"), "exactly one"),
    ("student-listed-twice", _copy_row("students", 2, 5, 1, "id"), "listed twice"),
    ("duplicate-student-email", _copy_row("students", 2, 5, 3, "email"), "used by two students"),
    ("member-is-student", _member_as_student, "commission member"),
    ("nobody-admitted", _all_not_admitted, "No student is admitted"),
    ("bad-admitted", _set_cell("students", 2, 4, "perhaps", "admitted"), "not yes or no"),
    ("rating-out-of-range", _set_cell("students", 2, 6, 75, "admission_rating"), "out of range"),
    ("duplicate-ticket", _copy_row("tickets", 2, 3, 1, "number"), "listed twice"),
    ("question-gap", _set_cell("tickets", 4, 3, None, "question 2"), "question is empty"),
    ("no-tickets", _no_tickets, "at least one ticket"),
    ("missing-name", _set_cell("students", 3, 2, None, "name"), "required"),
    ("unknown-session-key", _extra_session_row("graduation", "x"), "Unknown field"),
    ("repeated-session-key", _extra_session_row("kind", "defense"), "given twice"),
]


@pytest.mark.parametrize(("edit", "words"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_bad_workbook_is_named_by_sheet_row_and_field(tmp_path: Path, sample_spec: SessionSpec, edit: Edit,
                                                      words: str) -> None:
    wb = build_workbook(sample_spec)
    sheet, row, field = edit(wb)
    path = save(wb, tmp_path)
    problems = problems_of(path)
    matching = [p for p in problems
                if p.location.sheet == sheet and p.location.row == row and p.field == field]
    assert matching, [str(p) for p in problems]
    assert words in matching[0].message
    rendered = str(matching[0])
    assert rendered.startswith(f"{path}: sheet {sheet}")
    if row is not None:
        assert f"row {row}" in rendered
    if field:
        assert f"field {field}" in rendered


def test_cell_reference_is_given(tmp_path: Path, sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["commission"].cell(row=4, column=2, value="not-an-email")
    [problem] = problems_of(save(wb, tmp_path))
    assert "cell B4" in str(problem)


def test_numbers_typed_into_text_columns_are_read_as_text(tmp_path: Path, sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["students"].cell(row=2, column=1, value=210103041)  # Excel made the id a number
    wb["students"].cell(row=3, column=4, value=True)  # TRUE instead of yes
    spec = load_session(save(wb, tmp_path))
    assert spec.students[0].id == "210103041"
    assert spec.students[1].admitted is True


def test_not_an_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "session.xlsx"
    path.write_text("name,email\nА,a@b.kz\n", encoding="utf-8")
    [problem] = problems_of(path)
    assert "not an Excel workbook" in problem.message
    assert problem.file == str(path)


def test_damaged_workbook(tmp_path: Path) -> None:
    data = SAMPLE_SESSION_XLSX.read_bytes()
    path = tmp_path / "session.xlsx"
    path.write_bytes(data[: len(data) // 2])
    [problem] = problems_of(path)
    assert "damaged" in problem.message


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    spec, problems = read_session(buf.getvalue(), "upload")
    assert spec is None
    assert "not an Excel workbook" in problems[0].message


def test_old_xls_format_gets_advice() -> None:
    spec, problems = read_session(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "session.xls")
    assert spec is None
    assert ".xls" in problems[0].message


def test_unknown_column_and_sheet_names_are_forgiving_about_case(tmp_path: Path,
                                                                 sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["students"].title = "tmp"
    wb["tmp"].title = "Students"
    wb["commission"]["A1"] = " Name "
    assert load_session(save(wb, tmp_path)) == sample_spec
    wb["commission"]["D1"] = "phone"
    [problem] = problems_of(save(wb, tmp_path, "b.xlsx"))
    assert problem.field == "phone"
    assert "Unknown column" in problem.message


def test_damaged_bytes_never_escape_as_exceptions() -> None:
    # Flipped bytes hit zipfile, zlib, the XML parser and openpyxl in many different ways.
    rnd = random.Random(20260610)
    data = SAMPLE_SESSION_XLSX.read_bytes()
    for _ in range(60):
        damaged = bytearray(data)
        for _flip in range(rnd.randint(1, 20)):
            damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
        spec, problems = read_session(bytes(damaged), "damaged.xlsx")
        assert (spec is None) == bool(problems)


def test_problems_come_in_sheet_and_row_order(tmp_path: Path, sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["tickets"]["A5"] = "five"
    wb["students"]["C6"] = "nobody"
    wb["students"]["C3"] = "nobody either"
    wb["commission"]["C6"] = "member"  # no secretary any more: a commission-wide problem
    problems = problems_of(save(wb, tmp_path))
    assert [(p.location.sheet, p.location.row) for p in problems] == [
        ("commission", None), ("students", 3), ("students", 6), ("tickets", 5)]
