"""The university system's export of admission ratings: liberal in the column names (kk, ru, en),
strict in the values (0-60, a decimal comma), every problem with its row and column, formulas never
computed, and bounded like a session file."""

from __future__ import annotations

import io

from openpyxl import Workbook

from lms_bridge.config import LimitsSettings
from lms_bridge.sessionfile.ratings import read_ratings


def _xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    ws = book.active
    ws.title = "Рейтинг"
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_headers_in_kazakh_russian_and_english_and_a_decimal_comma() -> None:
    for header, sep, encoding in ((["Аты-жөні", "Студенттің ID", "Жіберу рейтингі"], ";", "utf-8"),
                                  (["ФИО", "ID студента", "Рейтинг допуска"], ";", "cp1251"),
                                  (["Name", "Student ID number", "Admission rating"], ",", "utf-8-sig")):
        rating = "52,5" if sep == ";" else "52.5"
        text = f"{sep.join(header)}\nАманов С.{sep}210103041{sep}{rating}\n\nӘбіл Д.{sep}210103042{sep}60\n"
        rows, problems = read_ratings(text.encode(encoding, errors="replace"), "export.csv", maximum=60)
        assert problems == [], header
        assert [(r.key, r.by, r.rating) for r in rows] == [("210103041", "id", 52.5), ("210103042", "id", 60.0)]
    rows, problems = read_ratings("Эл. пошта\tРейтинг\nA@Stud.kz\t0\n".encode(), "e.csv", maximum=60)
    assert problems == []
    assert [(r.key, r.by) for r in rows] == [("a@stud.kz", "email")]


def test_every_bad_value_is_named_by_file_row_and_column() -> None:
    text = ("ID;Рейтинг допуска\n1;61\n2;-1\n3;=10+50\n4;55%\n5;\n;40\n6;abc\n7;45,25\n")
    rows, problems = read_ratings(text.encode(), "export.csv", maximum=60)
    assert [r.key for r in rows] == ["7"]
    found = [(p.location.line, p.field) for p in problems]
    assert found == [(2, "Рейтинг допуска"), (3, "Рейтинг допуска"), (4, "Рейтинг допуска"), (5, "Рейтинг допуска"),
                     (6, "Рейтинг допуска"), (7, "ID"), (8, "Рейтинг допуска")]
    assert all(str(p).startswith("export.csv: ") for p in problems)
    assert "=10+50" in str(problems[2])  # shown as written, never computed


def test_a_workbook_cell_holding_a_formula_is_refused_not_computed() -> None:
    data = _xlsx([["Student ID", "E-mail", "Rating"], [210103041, "a@x.kz", 48.5], ["210103042", "", "=60"],
                  [None, None, None], [210103043, None, "40,5"]])
    rows, problems = read_ratings(data, "export.xlsx", maximum=60)
    assert [(r.key, r.rating) for r in rows] == [("210103041", 48.5), ("210103043", 40.5)]
    assert len(problems) == 1
    assert (problems[0].location.sheet, problems[0].location.row, problems[0].location.column) == ("Рейтинг", 3, "C")


def test_a_header_without_a_rating_or_a_student_column_is_refused() -> None:
    for text in ("ID;Name\n1;A\n", "Name;Rating\nA;50\n", "", "ID;Rating\n"):
        rows, problems = read_ratings(text.encode(), "x.csv", maximum=60)
        assert rows == [], text
        assert len(problems) == 1, text


def test_size_and_rows_are_bounded() -> None:
    limits = LimitsSettings(file_bytes=1000, workbook_rows=5)
    rows, problems = read_ratings(b"ID;Rating\n" + b"1;1\n" * 400, "big.csv", maximum=60, limits=limits)
    assert rows == []
    assert "larger than" in problems[0].message
    many = "ID;Rating\n" + "".join(f"{i};1\n" for i in range(10))
    rows, problems = read_ratings(many.encode(), "long.csv", maximum=60, limits=limits)
    assert rows == []
    assert "more than 5 rows" in problems[-1].message
    rows, problems = read_ratings(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old", "old.xls", maximum=60)
    assert ".xls" in problems[0].message
    rows, problems = read_ratings(b"PK\x03\x04 not really", "bad.xlsx", maximum=60)
    assert "damaged" in problems[0].message
