"""The YAML form: the sample, the defaults, and every kind of bad input named by path, line and field."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lms_bridge.domain.session import DEFAULT_PREPARATION_MINUTES, DegreeVote, ExamKind, Role
from lms_bridge.sessionfile import SessionFileError, load_session, read_session, read_session_file

from .helpers import BASE_YAML, SAMPLE_SESSION_YAML, line_of, mutate, problems_of


def write(tmp_path: Path, text: str, name: str = "session.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sample_session_is_a_realistic_kazakh_session(sample_spec) -> None:  # type: ignore[no-untyped-def]
    assert sample_spec.code == "FA-2026-6B06102-IS21"
    assert sample_spec.language == "kk"
    assert sample_spec.degree_vote is DegreeVote.SECRET
    assert sample_spec.starts_at == datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    assert sample_spec.chair.role is Role.CHAIR
    assert sample_spec.secretary.role is Role.SECRETARY
    assert 3 <= len([m for m in sample_spec.commission if m.role is Role.MEMBER]) <= 4
    assert 8 <= len(sample_spec.students) <= 10
    refused = [s for s in sample_spec.students if not s.admitted]
    assert 1 <= len(refused) <= 2
    assert all(s.admission_note for s in refused)
    assert len(sample_spec.tickets) >= 12
    assert all(len(t.questions) == 3 for t in sample_spec.tickets)
    # Kazakh-specific letters in names and questions, not a transliteration.
    assert any(ch in "әғқңөұүһі" for ch in sample_spec.students[0].name.lower())
    assert any(ch in "әғқңөұүһі" for ch in sample_spec.tickets[0].questions[0])


def test_base_file_parses_with_lower_cased_emails_and_defaults(tmp_path: Path) -> None:
    spec = load_session(write(tmp_path, BASE_YAML))
    assert spec.chair.email == "e.zhumabekov@univ.edu.kz"
    assert spec.preparation_minutes == DEFAULT_PREPARATION_MINUTES[ExamKind.ORAL_EXAM]
    assert spec.answer_minutes == 15
    assert (spec.grading.quorum_num, spec.grading.quorum_den) == (2, 3)
    assert spec.students[1].id == "1002"  # an unquoted number is still an id (text)
    assert spec.students[1].admitted is False
    assert spec.students[1].admission_note == "Оқу ақысы бойынша қарызы бар"
    assert [t.number for t in spec.tickets] == [1, 2]
    assert spec.tickets[1].questions == ("Үшінші сұрақ", "Төртінші сұрақ")


def test_preparation_default_follows_the_kind(tmp_path: Path) -> None:
    spec = load_session(write(tmp_path, mutate(BASE_YAML, ("kind: oral_exam", "kind: written_exam"))))
    assert spec.preparation_minutes == DEFAULT_PREPARATION_MINUTES[ExamKind.WRITTEN_EXAM] >= 100


# (id, replacements, field, YAML path, (needle, occurrence) for the line, words of the message)
CASES = [
    ("unknown-kind", [("kind: oral_exam", "kind: oral")], "kind", "session.kind", ("kind: oral", 1),
     "Unknown value"),
    ("unknown-language", [("language: kk", "language: de")], "language", "session.language",
     ("language: de", 1), "Unknown value"),
    ("unknown-decision", [("decision: mean", "decision: median")], "grading.decision",
     "session.grading.decision", ("decision: median", 1), "Unknown value"),
    ("unknown-degree-vote", [("degree_vote: secret", "degree_vote: hidden")], "degree_vote",
     "session.degree_vote", ("degree_vote: hidden", 1), "Unknown value"),
    ("unknown-role", [("role: member", "role: expert")], "role", "commission[2].role", ("role: expert", 1),
     "Unknown value"),
    ("bad-quorum-format", [('quorum: "2/3"', "quorum: two thirds")], "grading.quorum",
     "session.grading.quorum", ("quorum: two", 1), "not a quorum"),
    ("quorum-above-one", [('quorum: "2/3"', 'quorum: "4/3"')], "grading.quorum", "session.grading.quorum",
     ("quorum:", 1), "not a quorum"),
    ("impossible-date", [("starts_at: 2026-06-10T09:00", "starts_at: 2026-02-30T09:00")], "starts_at",
     "session.starts_at", ("starts_at", 1), "not a possible date"),
    ("impossible-hour", [("starts_at: 2026-06-10T09:00", "starts_at: 2026-06-10T25:00")], "starts_at",
     "session.starts_at", ("starts_at", 1), "not a possible date"),
    ("impossible-yaml-timestamp", [("starts_at: 2026-06-10T09:00", "starts_at: 2026-02-30 09:00:00")],
     "starts_at", "session.starts_at", ("starts_at", 1), "not a possible value"),
    ("date-without-time", [("starts_at: 2026-06-10T09:00", "starts_at: 2026-06-10")], "starts_at",
     "session.starts_at", ("starts_at", 1), "not a possible date"),
    ("unknown-time-zone", [("timezone: Asia/Almaty", "timezone: Asia/Alma-Ata")], "timezone",
     "session.timezone", ("timezone", 1), "Unknown time zone"),
    ("code-charset", [("code: T-2026-1", "code: T 2026/1")], "code", "session.code", ("code:", 1),
     "Latin letters"),
    ("code-cyrillic", [("code: T-2026-1", "code: Т-2026-1")], "code", "session.code", ("code:", 1),
     "Latin letters"),
    ("missing-title", [('  title: "Кешенді емтихан"\n', "")], "title", "session", ("session:", 1),
     "required"),
    ("invalid-email", [("d.omarov@univ.edu.kz", "d.omarov@univ")], "email", "commission[2].email",
     ("d.omarov@univ", 1), "not a valid email"),
    ("email-with-comma", [("s.amanov@stud.univ.edu.kz", "s.amanov@stud,univ.edu.kz")], "email",
     "students[1].email", ("s.amanov@", 1), "not a valid email"),
    ("duplicate-commission-email", [("a.baizhanova@univ.edu.kz", "D.Omarov@univ.edu.kz")], "email",
     "commission[3].email", ("D.Omarov@", 1), "listed twice in the commission"),
    ("student-listed-twice", [('id: 1002', 'id: "1001"')], "id", "students[2].id", ('id: "1001"', 2),
     "listed twice"),
    ("duplicate-student-email", [("t.doskaliyev@stud.univ.edu.kz", "s.amanov@stud.univ.edu.kz")], "email",
     "students[2].email", ("s.amanov@", 2), "used by two students"),
    ("member-is-student", [("t.doskaliyev@stud.univ.edu.kz", "d.omarov@univ.edu.kz")], "email",
     "students[2].email", ("d.omarov@", 2), "commission member"),
    ("duplicate-ticket-number", [("  - number: 2", "  - number: 1")], "number", "tickets[2].number",
     ("number: 1", 2), "listed twice"),
    ("ticket-number-not-a-number", [("  - number: 2", "  - number: two")], "number", "tickets[2].number",
     ("number: two", 1), "not a whole number"),
    ("empty-question", [('"Төртінші сұрақ"', '""')], "question 2", "tickets[2].questions[2]", ('- ""', 1),
     "question is empty"),
    ("ticket-without-questions", [('    questions: ["Бірінші сұрақ", "Екінші сұрақ"]\n', "")], "questions",
     "tickets[1]", ("number: 1", 1), "no questions"),
    ("two-chairs", [("role: member", "role: chair")], "role", "commission[2].role", ("role: chair", 2),
     "exactly one"),
    ("no-secretary", [("role: secretary", "role: member")], "role", "commission", ("commission:", 1),
     "exactly one"),
    ("nobody-admitted", [('    email: s.amanov@stud.univ.edu.kz\n',
                          '    email: s.amanov@stud.univ.edu.kz\n    admitted: false\n')],
     "admitted", "students", ("students:", 1), "No student is admitted"),
    ("not-yes-or-no", [("admitted: false", "admitted: maybe")], "admitted", "students[2].admitted",
     ("admitted: maybe", 1), "not yes or no"),
    ("no-ticket", [(BASE_YAML[BASE_YAML.index("tickets:"):], "tickets: []\n")], "number", "tickets",
     ("tickets:", 1), "at least one ticket"),
    ("rating-above-60", [('    email: s.amanov@stud.univ.edu.kz\n',
                          '    email: s.amanov@stud.univ.edu.kz\n    admission_rating: 61\n')],
     "admission_rating", "students[1].admission_rating", ("admission_rating", 1), "out of range"),
    ("rating-below-0", [('    email: s.amanov@stud.univ.edu.kz\n',
                         '    email: s.amanov@stud.univ.edu.kz\n    admission_rating: -1\n')],
     "admission_rating", "students[1].admission_rating", ("admission_rating", 1), "out of range"),
    ("score-not-a-number", [('    email: s.amanov@stud.univ.edu.kz\n',
                             '    email: s.amanov@stud.univ.edu.kz\n    current_score: good\n')],
     "current_score", "students[1].current_score", ("current_score", 1), "not a number"),
    ("score-above-100", [('    email: s.amanov@stud.univ.edu.kz\n',
                          '    email: s.amanov@stud.univ.edu.kz\n    midterm_score: 100.5\n')],
     "midterm_score", "students[1].midterm_score", ("midterm_score", 1), "out of range"),
    ("registrar-not-an-address", [("  group:", "  registrar: registrar at univ\n  group:")],
     "registrar", "session.registrar", ("registrar:", 1), "not a valid email"),
    ("test-exam-without-rating", [("kind: oral_exam", "kind: test_exam")], "admission_rating", "students[1]",
     ("- id: \"1001\"", 1), "admission rating"),
    ("written-exam-short-preparation", [("kind: oral_exam", "kind: written_exam\n  preparation_minutes: 50")],
     "preparation_minutes", "session.preparation_minutes", ("preparation_minutes", 1), "at least 100"),
    ("unknown-field", [("    role: chair", "    role: chair\n    phone: 123")], "phone",
     "commission[1].phone", ("phone:", 1), "Unknown field"),
    ("unknown-section", [("tickets:", "exams: 1\ntickets:")], "exams", "exams", ("exams:", 1),
     "Unknown section"),
    ("missing-section", [(BASE_YAML[BASE_YAML.index("tickets:"):], "")], "tickets", "", None,
     "section tickets is missing"),
    ("repeated-key", [("  group:", "  kind: defense\n  group:")], "kind", "session.kind",
     ("kind: defense", 1), "given twice"),
    ("section-not-a-list", [(BASE_YAML[BASE_YAML.index("students:"):BASE_YAML.index("tickets:")],
                             "students: everyone\n")], "students", "students",
     ("students:", 1), "Expected a list"),
]


@pytest.mark.parametrize(("replacements", "field", "path", "line_at", "words"),
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_is_named_by_file_path_line_and_field(
        tmp_path: Path, replacements: list[tuple[str, str]], field: str, path: str,
        line_at: tuple[str, int] | None, words: str) -> None:
    text = mutate(BASE_YAML, *replacements)
    file = write(tmp_path, text)
    problems = problems_of(file)
    matching = [p for p in problems if p.field == field and p.location.path == path]
    assert matching, [str(p) for p in problems]
    problem = matching[0]
    assert words in problem.message
    assert problem.location.line == (line_of(text, *line_at) if line_at else None)
    assert problem.file == str(file)
    rendered = str(problem)
    assert rendered.startswith(f"{file}: {path}, line {problem.location.line}") or not path
    assert field in rendered


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("kind: oral_exam", "kind: oral"), ("role: member", "role: expert"),
                  ("d.omarov@univ.edu.kz", "d.omarov"), ("  - number: 2", "  - number: 1"),
                  ("timezone: Asia/Almaty", "timezone: Mars/Olympus"))
    fields = [(p.field, p.location.path) for p in problems_of(write(tmp_path, text))]
    assert ("kind", "session.kind") in fields
    assert ("timezone", "session.timezone") in fields
    assert ("role", "commission[2].role") in fields
    assert ("email", "commission[2].email") in fields
    assert ("number", "tickets[2].number") in fields


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ('    role: member\n', '    role: member\n   bad indent: [\n'))
    [problem] = problems_of(write(tmp_path, text))
    assert "not valid YAML" in problem.message
    assert problem.location.line is not None
    assert line_of(text, "role: member") <= problem.location.line <= len(text.splitlines()) + 1


def test_tab_indentation_is_malformed_yaml_with_its_line(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("  language: kk", "\tlanguage: kk"))
    [problem] = problems_of(write(tmp_path, text))
    assert "not valid YAML" in problem.message
    assert problem.location.line == line_of(text, "language: kk")


def test_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    path.write_bytes(BASE_YAML.replace("Аманов", "Amanov").encode("utf-8").replace(
        "Омаров".encode(), "Омаров".encode("cp1251")))
    [problem] = problems_of(path)
    assert "not UTF-8" in problem.message
    assert problem.location.line == line_of(BASE_YAML, "Омаров")


def test_utf16_file_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    path.write_bytes(BASE_YAML.encode("utf-16"))
    [problem] = problems_of(path)
    assert "UTF-16" in problem.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE_YAML.encode("utf-8"))
    spec, problems = read_session_file(path)
    assert problems == []
    assert spec is not None


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    [empty] = problems_of(write(tmp_path, "# nothing\n"))
    assert "empty" in empty.message
    [scalar] = problems_of(write(tmp_path, "just text\n", "b.yaml"))
    assert "key: value" in scalar.message


def test_missing_file_and_folder_are_problems_not_tracebacks(tmp_path: Path) -> None:
    [missing] = problems_of(tmp_path / "nope.yaml")
    assert "does not exist" in missing.message
    [folder] = problems_of(tmp_path)
    assert "folder" in folder.message


def test_defense_needs_no_tickets(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("kind: oral_exam", "kind: defense"),
                  (BASE_YAML[BASE_YAML.index("tickets:"):], "tickets: []\n"))
    spec = load_session(write(tmp_path, text))
    assert spec.tickets == ()
    assert spec.preparation_minutes == 0


def test_aware_start_is_converted_to_the_session_zone(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("starts_at: 2026-06-10T09:00", 'starts_at: "2026-06-10T04:00+00:00"'))
    spec = load_session(write(tmp_path, text))
    assert spec.starts_at == datetime(2026, 6, 10, 9, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    assert spec.starts_at.tzinfo == ZoneInfo("Asia/Almaty")


def test_time_skipped_by_daylight_saving_does_not_exist(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("timezone: Asia/Almaty", "timezone: Europe/Berlin"),
                  ("starts_at: 2026-06-10T09:00", "starts_at: 2026-03-29T02:30"))
    [problem] = problems_of(write(tmp_path, text))
    assert problem.field == "starts_at"
    assert "does not exist" in problem.message


def test_load_session_raises_with_all_problems(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("kind: oral_exam", "kind: oral"), ("role: member", "role: x"))
    with pytest.raises(SessionFileError) as info:
        load_session(write(tmp_path, text))
    assert len(info.value.problems) == 2


def test_read_session_from_bytes_without_a_yaml_suffix() -> None:
    spec, problems = read_session(BASE_YAML.encode(), "upload")
    assert problems == []
    assert spec is not None
    assert spec.code == "T-2026-1"


def test_yaml_and_sample_file_paths_agree(sample_spec) -> None:  # type: ignore[no-untyped-def]
    assert load_session(SAMPLE_SESSION_YAML) == sample_spec


def test_mangled_yaml_never_escapes_as_an_exception() -> None:
    rnd = random.Random(20260610)
    data = SAMPLE_SESSION_YAML.read_bytes()
    for _ in range(150):
        mangled = bytearray(data)
        for _hit in range(rnd.randint(1, 5)):
            mangled[rnd.randrange(len(mangled))] = rnd.choice(b":-[]{}\n \t\"'&*!|>%@`#,?")
        spec, problems = read_session(bytes(mangled), "mangled.yaml")
        assert (spec is None) == bool(problems)
        assert all(p.file == "mangled.yaml" for p in problems)


def test_control_character_is_malformed_yaml_with_its_line(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("  group:", "  group: \x07"))
    [problem] = problems_of(write(tmp_path, text))
    assert "control character U+0007" in problem.message
    assert problem.field == "group"
    assert problem.location.line == line_of(text, "group:")


def test_problems_come_in_file_order(tmp_path: Path) -> None:
    text = mutate(BASE_YAML, ("kind: oral_exam", "kind: oral"), ("role: member", "role: x"),
                  (BASE_YAML[BASE_YAML.index("tickets:"):], ""))
    problems = problems_of(write(tmp_path, text))
    assert [p.field for p in problems] == ["kind", "role", "tickets"]


def test_text_fields_keep_what_was_typed(tmp_path: Path) -> None:
    # YAML 1.1 reads 0123 as the octal number 83 and yes as true; ids and titles must not change.
    text = mutate(BASE_YAML, ('id: "1001"', "id: 0123"), ('title: "Кешенді емтихан"', "title: yes"),
                  ('questions: ["Бірінші сұрақ", "Екінші сұрақ"]', "questions: [1.50, off]"))
    spec = load_session(write(tmp_path, text))
    assert spec.students[0].id == "0123"
    assert spec.title == "yes"
    assert spec.tickets[0].questions == ("1.50", "off")


def test_a_voters_group_is_an_optional_e_mail_address(tmp_path: Path) -> None:
    assert load_session(write(tmp_path, BASE_YAML)).voters_group == ""
    text = mutate(BASE_YAML, ("  language: kk", "  language: kk\n  voters_group: GAK-1@Univ.edu.kz"))
    assert load_session(write(tmp_path, text)).voters_group == "gak-1@univ.edu.kz"
    bad = mutate(BASE_YAML, ("  language: kk", "  language: kk\n  voters_group: not-an-address"))
    (problem,) = problems_of(write(tmp_path, bad))
    assert problem.field == "voters_group"
