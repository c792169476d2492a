"""`lms-bridge check` and `lms-bridge import` as a secretary runs them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from lms_bridge.cli import cli
from lms_bridge.config import load_settings
from lms_bridge.domain.session import SessionSpec
from lms_bridge.sessionfile import read_session_file
from lms_bridge.sessionfile.workbook import build_workbook
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import AuditEvent, CommissionMember, ExamSession, StudentRecord, TicketRecord

from . import test_xlsx, test_yaml
from .helpers import BASE_YAML, SAMPLE_SESSION_XLSX, SAMPLE_SESSION_YAML, mutate


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("LMS_BRIDGE_CONFIG", "LMS_BRIDGE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return {"LMS_BRIDGE_DATA_DIR": str(tmp_path / "data"), "LMS_BRIDGE_LANGUAGE": "en"}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def store_rows(env: dict[str, str]) -> dict[str, list[tuple[object, ...]]] | None:
    """The store's content, or None when no store was ever created."""
    settings = load_settings(environ=env)
    db_file = settings.data_dir / "lms_bridge.sqlite3"
    if not db_file.exists():
        return None
    engine = make_engine(settings.effective_database_url)
    try:
        with make_sessionmaker(engine)() as db:
            return _rows(db)
    finally:
        engine.dispose()


def _rows(db: Session) -> dict[str, list[tuple[object, ...]]]:
    return {
        "sessions": [tuple(r) for r in db.execute(select(ExamSession.code, ExamSession.title,
                                                         ExamSession.draw_seed, ExamSession.updated_at))],
        "members": [tuple(r) for r in db.execute(select(CommissionMember.email, CommissionMember.role))],
        "students": [tuple(r) for r in db.execute(select(StudentRecord.student_ref, StudentRecord.email,
                                                         StudentRecord.admitted, StudentRecord.ticket_number))],
        "tickets": [tuple(r) for r in db.execute(select(TicketRecord.number))],
        "audit": [tuple(r) for r in db.execute(select(AuditEvent.id))],
    }


def assert_failed_cleanly(result: Result) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


# -- check -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [SAMPLE_SESSION_YAML, SAMPLE_SESSION_XLSX], ids=["yaml", "xlsx"])
def test_check_valid_file_prints_a_summary_and_stores_nothing(env: dict[str, str], path: Path) -> None:
    result = run(env, "check", str(path))
    assert result.exit_code == 0, result.output
    assert f"{path} is valid." in result.output
    assert "FA-2026-6B06102-IS21" in result.output
    assert "students 10 (8 admitted); tickets 12" in result.output
    assert store_rows(env) is None


def test_check_lists_every_problem_with_file_row_and_field(env: dict[str, str], tmp_path: Path,
                                                           sample_spec: SessionSpec) -> None:
    wb = build_workbook(sample_spec)
    wb["commission"]["C3"] = "boss"
    wb["students"]["C4"] = wb["students"]["C2"].value
    wb["session"].cell(row=next(c.row for c in wb["session"]["A"] if c.value == "starts_at"),
                       column=2).value = "2026-13-01 09:00"
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    result = run(env, "check", str(path))
    assert_failed_cleanly(result)
    lines = result.stdout.splitlines()  # the problems are check's output, not an error
    assert f"{path}: sheet commission, row 3 (cell C3), field role: Unknown value \"boss\"" in lines[0] or any(
        "sheet commission, row 3 (cell C3), field role" in line for line in lines)
    assert any("sheet students, row 4 (cell C4), field email" in line and "two students" in line
               for line in lines)
    assert any("sheet session" in line and "field starts_at" in line for line in lines)
    assert lines[-1] == f"3 problems in {path}; nothing was stored."
    assert store_rows(env) is None


def test_check_missing_file_is_exit_1_without_traceback(env: dict[str, str], tmp_path: Path) -> None:
    result = run(env, "check", str(tmp_path / "nope.yaml"))
    assert_failed_cleanly(result)
    assert "does not exist" in result.output


# -- import ----------------------------------------------------------------------------------------

def test_import_creates_then_reports_nothing_changed(env: dict[str, str]) -> None:
    first = run(env, "import", str(SAMPLE_SESSION_YAML))
    assert first.exit_code == 0, first.output
    assert "Session FA-2026-6B06102-IS21 created: 5 commission members, 10 students (8 admitted), 12 tickets." \
        in first.output
    rows = store_rows(env)
    assert rows is not None
    assert [r[0] for r in rows["sessions"]] == ["FA-2026-6B06102-IS21"]
    seed = rows["sessions"][0][2]
    assert "Draw commitment" in first.output
    assert str(seed) not in first.output  # the seed stays secret until after the sitting
    again = run(env, "import", str(SAMPLE_SESSION_XLSX))
    assert again.exit_code == 0, again.output
    assert "already up to date" in again.output


def test_import_prints_what_changed(env: dict[str, str], tmp_path: Path, sample_spec: SessionSpec) -> None:
    assert run(env, "import", str(SAMPLE_SESSION_YAML)).exit_code == 0
    text = SAMPLE_SESSION_YAML.read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("    admitted: false\n    admission_note: \"Оқу ақысы бойынша қарызы бар; "
                                    "жіберу туралы бұйрыққа енгізілмеген\"\n", "    admitted: true\n"),
                       encoding="utf-8")
    result = run(env, "import", str(changed))
    assert result.exit_code == 0, result.output
    assert "updated, 2 changes" in result.output
    assert "210103045" in result.output
    assert "is now admitted" in result.output


def test_import_refused_when_it_contradicts_a_draw(env: dict[str, str], tmp_path: Path,
                                                   sample_spec: SessionSpec) -> None:
    assert run(env, "import", str(SAMPLE_SESSION_YAML)).exit_code == 0
    settings = load_settings(environ=env)
    engine = make_engine(settings.effective_database_url)
    with make_sessionmaker(engine)() as db:
        rec = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "210103041"))
        assert rec is not None
        rec.ticket_number = 4
        db.commit()
    engine.dispose()
    before = store_rows(env)
    text = SAMPLE_SESSION_YAML.read_text(encoding="utf-8")
    start = text.index('  - id: "210103041"')
    end = text.index('  - id: "210103042"')
    path = tmp_path / "without-amanov.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    result = run(env, "import", str(path))
    assert_failed_cleanly(result)
    assert "nothing was stored" in result.output
    assert "210103041" in result.output
    assert "cannot be removed" in result.output
    assert store_rows(env) == before


# -- every bad input: exit 1, the problem printed, the stored session untouched ---------------------

@pytest.fixture
def populated(env: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    # A store already holding a session, so "untouched" is checked against real rows.
    assert run(env, "import", str(SAMPLE_SESSION_YAML)).exit_code == 0
    rows = store_rows(env)
    assert rows is not None
    return rows


def _check_bad_import(env: dict[str, str], path: Path, before: dict[str, list[tuple[object, ...]]]) -> None:
    _spec, problems = read_session_file(path)
    assert problems
    for command in ("check", "import"):
        result = run(env, command, str(path))
        assert_failed_cleanly(result)
        for problem in problems:
            assert str(problem) in result.output
    assert store_rows(env) == before


@pytest.mark.parametrize(("replacements", "field"),
                         [pytest.param(c[1], c[2], id=c[0]) for c in test_yaml.CASES])
def test_bad_yaml_import(env: dict[str, str], populated, tmp_path: Path,  # type: ignore[no-untyped-def]
                         replacements: list[tuple[str, str]], field: str) -> None:
    # The same session code as the stored sample, so a half-write would show.
    text = mutate(BASE_YAML, *replacements).replace("code: T-2026-1", "code: FA-2026-6B06102-IS21")
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    _check_bad_import(env, path, populated)


@pytest.mark.parametrize("edit", [pytest.param(c[1], id=c[0]) for c in test_xlsx.CASES])
def test_bad_workbook_import(env: dict[str, str], populated, tmp_path: Path,  # type: ignore[no-untyped-def]
                             sample_spec: SessionSpec, edit: test_xlsx.Edit) -> None:
    wb = build_workbook(replace(sample_spec, title="Changed title"))
    edit(wb)
    path = tmp_path / "bad.xlsx"
    wb.save(path)
    _check_bad_import(env, path, populated)


@pytest.mark.parametrize("content", [b"session: [\n", "title: Омаров\n".encode("cp1251"), b"PK\x03\x04broken"],
                         ids=["malformed-yaml", "wrong-encoding", "corrupt-xlsx"])
def test_unreadable_files_import(env: dict[str, str], populated, tmp_path: Path,  # type: ignore[no-untyped-def]
                                 content: bytes) -> None:
    path = tmp_path / ("bad.xlsx" if content.startswith(b"PK") else "bad.yaml")
    path.write_bytes(content)
    _check_bad_import(env, path, populated)


def test_unreachable_store_is_one_line_without_the_password(env: dict[str, str]) -> None:
    env = {**env, "LMS_BRIDGE_DATABASE_URL": "postgresql+psycopg://postgres:s3cret@127.0.0.1:9/none"}
    result = run(env, "import", str(SAMPLE_SESSION_YAML))
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "cannot be used" in result.output
    assert "s3cret" not in result.output
