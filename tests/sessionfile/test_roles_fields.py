"""The session's roles outside the commission: department, head of department and registrar."""

from __future__ import annotations

from pathlib import Path

from lms_bridge.sessionfile import load_session, read_session_file

from .helpers import BASE_YAML, mutate, problems_of


def write(tmp_path: Path, text: str, name: str = "session.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_roles(head: str, registrar: str) -> str:
    return mutate(BASE_YAML, ("  language: kk\n", f"  language: kk\n  department: \"Кафедра ИС\"\n"
                                                  f"  head_of_department: {head}\n  registrar: {registrar}\n"))


def test_the_roles_are_read_lower_cased(tmp_path: Path) -> None:
    spec = load_session(write(tmp_path, with_roles("B.Kemelbayev@Univ.edu.kz", "registrar@univ.edu.kz")))
    assert spec.department == "Кафедра ИС"
    assert spec.head_of_department == "b.kemelbayev@univ.edu.kz"
    assert spec.registrar == "registrar@univ.edu.kz"


def test_they_are_optional(tmp_path: Path) -> None:
    spec = load_session(write(tmp_path, BASE_YAML))
    assert (spec.department, spec.head_of_department, spec.registrar) == ("", "", "")


def test_a_bad_address_is_named_with_file_line_and_field(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, with_roles("not-an-address", "registrar@univ.edu.kz")))
    assert len(problems) == 1
    problem = problems[0].as_dict()
    assert problem["field"] == "head_of_department"
    assert problem["file"].endswith("session.yaml")
    assert "session.head_of_department" in problem["location"]
    assert "line" in problem["location"]
    assert "not-an-address" in problem["message"]


def test_the_sample_names_every_role_and_the_workbook_agrees(sample_spec) -> None:  # type: ignore[no-untyped-def]
    assert sample_spec.head_of_department
    assert sample_spec.registrar
    assert sample_spec.department
    repo = Path(__file__).resolve().parents[2]
    spec, problems = read_session_file(repo / "config" / "sample-session.xlsx")
    assert problems == []
    assert spec == sample_spec
