"""A small valid session file and helpers to break it one way at a time."""

from __future__ import annotations

from pathlib import Path

from lms_bridge.sessionfile import Problem, read_session_file

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SESSION_YAML = REPO / "config" / "sample-session.yaml"
SAMPLE_SESSION_XLSX = REPO / "config" / "sample-session.xlsx"
TEMPLATE_XLSX = REPO / "config" / "session-template.xlsx"

BASE_YAML = """\
session:
  code: T-2026-1
  title: "Кешенді емтихан"
  kind: oral_exam
  programme: "6B06102 Ақпараттық жүйелер"
  group: "ИС-21-1"
  language: kk
  timezone: Asia/Almaty
  starts_at: 2026-06-10T09:00
  grading:
    decision: mean
    quorum: "2/3"
  degree_vote: secret
commission:
  - name: "Жұмабеков Ерлан"
    email: E.Zhumabekov@Univ.edu.kz
    role: chair
  - name: "Омаров Дәурен"
    email: d.omarov@univ.edu.kz
    role: member
  - name: "Байжанова Айгерім"
    email: a.baizhanova@univ.edu.kz
    role: member
  - name: "Тұрсынбаева Мадина"
    email: m.tursynbayeva@univ.edu.kz
    role: secretary
students:
  - id: "1001"
    name: "Аманов Серік"
    email: s.amanov@stud.univ.edu.kz
  - id: 1002
    name: "Досқалиев Темірлан"
    email: t.doskaliyev@stud.univ.edu.kz
    admitted: false
    admission_note: "Оқу ақысы бойынша қарызы бар"
tickets:
  - number: 1
    questions: ["Бірінші сұрақ", "Екінші сұрақ"]
  - number: 2
    questions:
      - "Үшінші сұрақ"
      - "Төртінші сұрақ"
"""


def mutate(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert text.count(old) >= 1, f"{old!r} is not in the file"
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[occurrence - 1]


def problems_of(path: Path) -> list[Problem]:
    spec, problems = read_session_file(path)
    assert spec is None, "the file was expected to be refused"
    assert problems
    return problems
