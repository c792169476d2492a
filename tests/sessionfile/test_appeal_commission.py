"""The appeal commission in the session file: odd number of voters, nobody from the attestation
commission, nobody listed as administrative staff (003 §65); YAML and workbook alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from lms_bridge.domain.session import Role
from lms_bridge.sessionfile import read_session_file

from .helpers import BASE_YAML, SAMPLE_SESSION_XLSX, line_of, problems_of

APPEAL = """\
appeal_commission:
  - name: "Ахметов Нұрлан"
    email: n.akhmetov@univ.edu.kz
    role: chair
  - name: "Серікова Әсел"
    email: a.serikova@univ.edu.kz
    role: member
  - name: "Қасымов Бауыржан"
    email: b.kasymov@univ.edu.kz
    role: member
  - name: "Әлиева Жанар"
    email: zh.aliyeva@univ.edu.kz
    role: secretary
administrative_staff:
  - name: "Ректорат"
    email: rector.office@univ.edu.kz
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "session.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_appeal_commission_is_read_and_kept_apart_from_the_commission(tmp_path: Path) -> None:
    spec, problems = read_session_file(_write(tmp_path, BASE_YAML + APPEAL))
    assert problems == []
    assert spec is not None
    assert [(m.email, m.role) for m in spec.appeal_commission] == [
        ("n.akhmetov@univ.edu.kz", Role.CHAIR), ("a.serikova@univ.edu.kz", Role.MEMBER),
        ("b.kasymov@univ.edu.kz", Role.MEMBER), ("zh.aliyeva@univ.edu.kz", Role.SECRETARY)]
    assert spec.administrative_staff == ("rector.office@univ.edu.kz",)


def test_a_file_without_an_appeal_commission_stays_valid(tmp_path: Path) -> None:
    spec, problems = read_session_file(_write(tmp_path, BASE_YAML))
    assert problems == []
    assert spec is not None
    assert spec.appeal_commission == ()


def test_an_even_number_of_voters_is_refused_at_the_section(tmp_path: Path) -> None:
    text = BASE_YAML + APPEAL.replace('''  - name: "Қасымов Бауыржан"
    email: b.kasymov@univ.edu.kz
    role: member
''', "")
    problems = problems_of(_write(tmp_path, text))
    assert [(p.location.line, p.field, p.message) for p in problems] == [
        (line_of(text, "appeal_commission:"), "role",
         "The appeal commission has 2 voting members (chair and members); it needs an odd number.")]


def test_a_member_of_the_attestation_commission_is_refused_at_the_row(tmp_path: Path) -> None:
    text = BASE_YAML + APPEAL.replace("b.kasymov@univ.edu.kz", "D.Omarov@univ.edu.kz")
    problems = problems_of(_write(tmp_path, text))
    assert len(problems) == 1
    p = problems[0]
    assert (p.location.path, p.location.line, p.field) == (
        "appeal_commission[3].email", line_of(text, "D.Omarov@univ.edu.kz"), "email")
    assert "d.omarov@univ.edu.kz is on the attestation commission" in p.message
    assert f"(commission[2], line {line_of(text, 'Омаров Дәурен')})" in p.message


def test_administrative_staff_is_refused_and_problems_come_in_file_order(tmp_path: Path) -> None:
    text = BASE_YAML + APPEAL.replace("a.serikova@univ.edu.kz", "rector.office@univ.edu.kz").replace(
        "b.kasymov@univ.edu.kz", "m.tursynbayeva@univ.edu.kz")
    problems = problems_of(_write(tmp_path, text))
    assert [(p.location.line, p.field) for p in problems] == [
        (line_of(text, "rector.office@univ.edu.kz"), "email"),
        (line_of(text, "m.tursynbayeva@univ.edu.kz", 2), "email")]
    assert "listed as administrative staff" in problems[0].message
    assert "on the attestation commission" in problems[1].message


def test_the_workbook_takes_the_same_sheets_and_names_sheet_row_and_cell(tmp_path: Path) -> None:
    wb = load_workbook(SAMPLE_SESSION_XLSX)
    ws = wb["appeal_commission"]
    ws.delete_rows(2, ws.max_row)  # the sample's appeal commission out: only the header row is left
    assert ws.max_row == 1
    ws.append(["Ахметов Нұрлан", "n.akhmetov@univ.edu.kz", "chair"])
    ws.append(["Жұмабеков Ерлан", "e.zhumabekov@univ.edu.kz", "member"])  # on the attestation commission
    ws.append(["Әлиева Жанар", "zh.aliyeva@univ.edu.kz", "secretary"])
    path = tmp_path / "session.xlsx"
    wb.save(path)
    problems = problems_of(path)
    assert [(p.location.sheet, p.location.row, p.location.column, p.field) for p in problems] == [
        ("appeal_commission", 3, "B", "email"), ("appeal_commission", None, "", "role")]
    assert "on the attestation commission" in problems[0].message
    assert "2 voting members" in problems[1].message

    # Fixed: an odd commission of outsiders is accepted.
    ws.cell(row=3, column=2, value="a.serikova@univ.edu.kz")
    ws.append(["Қасымов Бауыржан", "b.kasymov@univ.edu.kz", "member"])
    wb.save(path)
    spec, problems = read_session_file(path)
    assert problems == []
    assert spec is not None
    assert len([m for m in spec.appeal_commission if m.role.votes]) == 3


def test_lms_bridge_import_refuses_an_even_or_tainted_appeal_commission_and_stores_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lms_bridge.cli import cli

    for name in ("LMS_BRIDGE_CONFIG", "LMS_BRIDGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {"LMS_BRIDGE_DATA_DIR": str(tmp_path / "data"), "LMS_BRIDGE_LANGUAGE": "en"}
    even = BASE_YAML + APPEAL.replace('''  - name: "Қасымов Бауыржан"
    email: b.kasymov@univ.edu.kz
    role: member
''', "")
    tainted = BASE_YAML + APPEAL.replace("b.kasymov@univ.edu.kz", "d.omarov@univ.edu.kz")
    for text, words in ((even, "it needs an odd number"), (tainted, "is on the attestation commission")):
        path = _write(tmp_path, text)
        result = CliRunner().invoke(cli, ["import", str(path)], env=env)
        assert result.exit_code == 1, result.output
        assert words in result.output
        assert "appeal_commission" in result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "data" / "lms_bridge.sqlite3").exists() or _no_session(env)
    result = CliRunner().invoke(cli, ["import", str(_write(tmp_path, BASE_YAML + APPEAL))], env=env)
    assert result.exit_code == 0, result.output
    assert _appeal_members(env) == [("n.akhmetov@univ.edu.kz", "chair"), ("a.serikova@univ.edu.kz", "member"),
                                    ("b.kasymov@univ.edu.kz", "member"), ("zh.aliyeva@univ.edu.kz", "secretary")]


def _appeal_members(env: dict[str, str]) -> list[tuple[str, str]]:
    from sqlalchemy import select

    from lms_bridge.config import load_settings
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.models import AppealMember

    engine = make_engine(load_settings(environ=env).effective_database_url)
    try:
        with make_sessionmaker(engine)() as db:
            return [(m.email, m.role) for m in db.scalars(select(AppealMember).order_by(AppealMember.position))]
    finally:
        engine.dispose()


def _no_session(env: dict[str, str]) -> bool:
    from sqlalchemy import select

    from lms_bridge.config import load_settings
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.models import ExamSession

    engine = make_engine(load_settings(environ=env).effective_database_url)
    try:
        with make_sessionmaker(engine)() as db:
            return db.scalar(select(ExamSession)) is None
    finally:
        engine.dispose()


def test_a_student_of_the_session_cannot_sit_on_the_appeal_commission(tmp_path: Path) -> None:
    text = BASE_YAML + APPEAL.replace("b.kasymov@univ.edu.kz", "s.amanov@stud.univ.edu.kz")
    problems = problems_of(_write(tmp_path, text))
    assert [(p.location.path, p.field) for p in problems] == [("appeal_commission[3].email", "email")]
    assert "is a student of this session" in problems[0].message
