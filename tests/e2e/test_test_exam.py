"""A test exam end to end in the sandboxes (004 test §2-9): five students, a bank of 25 questions in
GIFT beside the session file, a closed Moodle quiz of 20 random questions worth 2 points each for 40
minutes and one attempt; each student admitted by the secretary; Moodle's scores read back; final =
admission rating + exam points, one automatic fail under 26 of 40; one lost connection continued
with the time used and the points kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select

from lms_bridge.backends import build_backends
from lms_bridge.moodle.operations import MoodleOps
from lms_bridge.remote import ApiCalls
from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession, JournalEntry, StudentRecord

from .test_sitting import World, _wait, world  # noqa: F401  (the fixture)

STUDENTS = [  # id, rating, right answers
    ("T1", 55, 18),
    ("T2", 58, 10),  # 20 of 40: under 26, fails whatever the total (78)
    ("T3", 45, 15),
    ("T4", 60, 20),
    ("T5", 50, 16),  # loses the connection
]


def _session_file(tmp_path: Path) -> Path:
    bank = "\n\n".join(f"::Q{i}:: Question {i}? {{=right {i} ~wrong {i}a ~wrong {i}b}}" for i in range(1, 26))
    (tmp_path / "bank.gift").write_text(bank + "\n", encoding="utf-8")
    students = "".join(f"""  - id: "{sid}"
    name: "Студент {sid}"
    email: {sid.lower()}@stud.univ.edu.kz
    admission_rating: {rating}
""" for sid, rating, _right in STUDENTS)
    text = f"""session:
  code: TEST-2026-IS21
  title: "Тест емтиханы"
  kind: test_exam
  language: kk
  timezone: Asia/Almaty
  starts_at: 2026-12-20T09:00
  question_bank: bank.gift
commission:
  - name: "Төраға Т."
    email: chair@univ.edu.kz
    role: chair
  - name: "Мүше М."
    email: member@univ.edu.kz
    role: member
  - name: "Хатшы Х."
    email: secretary@univ.edu.kz
    role: secretary
students:
{students}tickets: []
"""
    path = tmp_path / "test-session.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _actor(w: World, what: str, quizid: int, email: str, **body: Any) -> requests.Response:
    return requests.post(f"{w.sandbox_url}/moodle/_actor/quiz/{quizid}/{what}",
                         json={"email": email, **body}, timeout=10)


def _clock(w: World, seconds: int) -> None:
    r = requests.post(f"{w.sandbox_url}/moodle/_actor/config", json={"clock_offset": seconds}, timeout=10)
    assert r.ok, r.text


def test_a_test_exam_end_to_end(world: World, tmp_path: Path) -> None:  # noqa: F811
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.results.testexam import TestExamRefused, admit_to_test, read_scores, reconnect
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.repo import import_session

    spec = load_session(_session_file(tmp_path))
    assert len(spec.question_bank) == 25
    with world.sessions() as db:
        import_session(db, spec, source_name="test-session.yaml", actor="secretary")
        db.commit()
    run = run_now(world.settings, spec.code, sessions=world.sessions)
    assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
    # Only the test exam's steps ran: no draw, no voting forms, no ticket quiz.
    names = [s.name for s in run.steps]
    assert "moodle.test_quiz" in names
    assert not {"core.draw_commitment", "google.forms", "moodle.tickets"} & set(names)

    with world.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        quiz_entry = db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                          JournalEntry.key == "moodle.test_quiz"))
        quizid = int(quiz_entry.external_id)
    moodle = requests.get(f"{world.sandbox_url}/moodle/_actor/state", timeout=10).json()
    quiz = moodle["quizzes"][str(quizid)]
    assert len(quiz["slots"]) == 20
    assert {s["maxmark"] for s in quiz["slots"]} == {2.0}
    assert (quiz["timelimit"], quiz["attempts"], quiz["grade"]) == (2400, 1, 40.0)

    # Closed until admitted.
    refused = _actor(world, "attempt", quizid, "t1@stud.univ.edu.kz")
    assert refused.status_code == 400
    assert "closed" in refused.json()["error"]

    ops = MoodleOps(build_backends(world.settings, ApiCalls()).moodle, world.settings.moodle)
    with world.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        for student in session.students:
            admit_to_test(db, session, student, ops, world.settings, actor="secretary", now=datetime.now(UTC))
        db.commit()

    for sid, _rating, right in STUDENTS[:4]:
        email = f"{sid.lower()}@stud.univ.edu.kz"
        started = _actor(world, "attempt", quizid, email)
        assert started.ok, started.text
        assert started.json()["questions"] == 20
        done = _actor(world, "finish", quizid, email, correct=right)
        assert done.ok, done.text

    # Pushed: the companion plugin's webhook of each submitted attempt has the score read at once.
    def pushed() -> int:
        with world.sessions() as db:
            return len(list(db.scalars(select(DecisionRecord))))

    _wait(lambda: pushed() == 4, "the four pushed scores")

    # T5 answers 6 questions in the first 10 minutes, then the connection is lost for 25 minutes.
    t5 = "t5@stud.univ.edu.kz"
    assert _actor(world, "attempt", quizid, t5).ok
    _clock(world, 10 * 60)
    assert _actor(world, "answer", quizid, t5, correct=6).ok
    _clock(world, 35 * 60)
    with world.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        student = next(s for s in session.students if s.student_ref == "T5")
        now = datetime.fromtimestamp(datetime.now(UTC).timestamp() + 35 * 60, UTC)
        reconnect(db, session, student, ops, world.settings, actor="secretary", now=now, reason="connection lost")
        # A finished attempt cannot be reopened: its points stand.
        done = next(s for s in session.students if s.student_ref == "T1")
        try:
            reconnect(db, session, done, ops, world.settings, actor="secretary", now=now)
            raise AssertionError("a finished attempt was reopened")
        except TestExamRefused:
            pass
        db.commit()
    # 60 minutes after the start, well past the 40-minute limit: the 30 minutes left are given back
    # (10 used, 25 lost), and the 6 answers saved before the loss are still there.
    _clock(world, 60 * 60)
    resumed = _actor(world, "attempt", quizid, t5)
    assert resumed.ok, resumed.text
    assert resumed.json()["state"] == "inprogress"
    assert _actor(world, "finish", quizid, t5, correct=16).ok

    with world.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        read = read_scores(db, session, ops, world.settings)
        db.commit()
        assert all(r.decided for r in read), read
        decisions = {d.student_id: d for d in db.scalars(select(DecisionRecord))}
        by_ref = {s.student_ref: s for s in db.scalars(select(StudentRecord))}
        for sid, rating, right in STUDENTS:
            student = by_ref[sid]
            assert student.attempt_score == 2 * right
            d = decisions[student.id]
            assert d.source == "test"
            assert d.points == rating + 2 * right
            assert d.votes["auto_failed"] is (2 * right < 26)
        assert decisions[by_ref["T2"].id].letter == "F"  # 78 points, but the exam part is 20 < 26
        assert decisions[by_ref["T4"].id].letter == "A"
        assert sum(1 for d in decisions.values() if d.letter == "F") == 1
        incidents = [e for e in db.scalars(select(AuditEvent)) if e.action == "testexam.reconnected"]
        assert len(incidents) == 1
        # 10 minutes of the sandbox clock between the start and the last save (a second more when the real
        # clock ticks over in between).
        assert incidents[0].detail["time_used"] in (600, 601)
        # A second read changes nothing.
        read_scores(db, session, ops, world.settings)
        assert len(list(db.scalars(select(DecisionRecord)))) == 5
        # The protocol says how each grade came about.
        from lms_bridge.documents.model import gather

        document = gather(db, session)
        t2 = next(r for r in document.students if r.ref == "T2")
        remark = " ".join(text for _who, text in t2.remarks)
        assert "58" in remark
        assert "20" in remark
        assert "78" in remark
        assert "26" in remark

    # A score only the poll sees (its push lost): the decision the poll records gets its drafts at once, as a
    # pushed one does (Moodle "readyforrelease": nothing the student sees before the chair's release).
    from lms_bridge.jobs.queue import get_queue
    from lms_bridge.results.testexam import read_scores_now
    from lms_bridge.store.models import WritebackRecord

    with world.sessions() as db:
        t5 = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == "T5"))
        lost = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == t5.id))
        from sqlalchemy import delete

        db.execute(delete(WritebackRecord).where(WritebackRecord.decision_id == lost.id))
        db.execute(delete(DecisionRecord).where(DecisionRecord.id == lost.id))
        db.commit()
    read = read_scores_now(get_queue(), spec.code)
    assert [r.student_ref for r in read if r.new_decision is not None] == ["T5"]
    with world.sessions() as db:
        redone = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == t5.id))
        statuses = {w.target: w.status for w in db.scalars(select(WritebackRecord).where(
            WritebackRecord.decision_id == redone.id))}
        assert statuses["moodle"] == "draft", statuses

    # The same through the two-minute periodic poll (the job the worker runs), for a decision lost again.
    from lms_bridge.results.testexam import poll_test_scores

    with world.sessions() as db:
        db.execute(delete(WritebackRecord).where(WritebackRecord.decision_id == redone.id))
        db.execute(delete(DecisionRecord).where(DecisionRecord.id == redone.id))
        db.commit()
    poll_test_scores.run(get_queue())
    with world.sessions() as db:
        again = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == t5.id))
        assert again is not None
        statuses = {w.target: w.status for w in db.scalars(select(WritebackRecord).where(
            WritebackRecord.decision_id == again.id))}
        assert statuses["moodle"] == "draft", statuses
