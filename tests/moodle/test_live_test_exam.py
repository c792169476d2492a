"""The test exam end to end against a real Moodle (4.5 or 5.1) with the companion plugin (run by hand).

    LMS_BRIDGE_LIVE_MOODLE_URL=http://127.0.0.1:8745 LMS_BRIDGE_LIVE_MOODLE_TOKEN=… \\
        pytest -s -n 0 -m moodle_live tests/moodle/test_live_test_exam.py

Through the product: the session file (5 students, a GIFT bank of 25 questions beside it) is imported and
provisioned by the run ``lms-bridge provision`` makes (Google stays the embedded sandbox); each student is
admitted by the one admission dispatch behind the page's button and the API; the five students take the quiz
as themselves (their own tokens of Moodle's mobile service, ``mod_quiz_start_attempt`` /
``mod_quiz_get_attempt_data`` / ``mod_quiz_process_attempt``, answering from the page Moodle shows them);
the scores come back through the poll (and, with ``LMS_BRIDGE_LIVE_MOODLE_DIR`` naming the Moodle's
directory, through the plugin's webhook into the bridge, Moodle's ad hoc tasks run by hand); final = admission
rating + exam points with one automatic fail under 26 of 40; one student loses the connection past the time
limit and is reconnected, keeping the time used and the points; the chair's release makes the grades visible
to the students in Moodle, and not before.

The quiz's time limit is ``exams.test_minutes = 1`` here (the reconnection needs the attempt past its end and
the check cannot wait 40 minutes): the test waits about a minute once.  It never runs Moodle's cron, which
would submit the overdue attempt (see docs/moodle-live-check.md §13).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

URL = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_URL", "")
TOKEN = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_TOKEN", "")
MOODLE_DIR = os.environ.get("LMS_BRIDGE_LIVE_MOODLE_DIR", "")  # optional: the push through the plugin
BRIDGE_PORT = int(os.environ.get("LMS_BRIDGE_LIVE_BRIDGE_PORT", "0") or 0)

pytestmark = [pytest.mark.moodle_live,
              pytest.mark.skipif(not (URL and TOKEN), reason="LMS_BRIDGE_LIVE_MOODLE_URL/_TOKEN not set")]

PASSWORD = "Test-exam-1!"  # the throwaway students of the live check, on a loopback Moodle
SECRET = "live-check-webhook-secret"  # loopback only
STUDENTS = [  # id, rating, right answers
    ("TX1", 55, 18),
    ("TX2", 58, 10),  # 20 of 40: under 26, fails whatever the total (78)
    ("TX3", 45, 15),
    ("TX4", 60, 20),
    ("TX5", 50, 16),  # loses the connection after 6 answers
]
RECORD = os.environ.get("LMS_BRIDGE_LIVE_RECORD", "")  # a file to write the raw answers to (for the docs)


def _email(sid: str) -> str:
    return f"lmsb-{sid.lower()}@example.edu"


def _session_file(tmp_path: Path, code: str) -> Path:
    bank = "\n\n".join(f"::Q{i}:: Question {i}? {{=right {i} ~wrong {i}a ~wrong {i}b}}" for i in range(1, 26))
    (tmp_path / "bank.gift").write_text(bank + "\n", encoding="utf-8")
    students = "".join(f"""  - id: "{sid}"
    name: "Студент {sid}"
    email: {_email(sid)}
    admission_rating: {rating}
""" for sid, rating, _right in STUDENTS)
    path = tmp_path / "test-session.yaml"
    path.write_text(f"""session:
  code: {code}
  title: "Тест емтиханы (live)"
  kind: test_exam
  language: kk
  timezone: Asia/Almaty
  starts_at: 2026-12-20T09:00
  question_bank: bank.gift
commission:
  - name: "Төраға Т."
    email: lmsb-tx-chair@example.edu
    role: chair
  - name: "Хатшы Х."
    email: lmsb-tx-secretary@example.edu
    role: secretary
students:
{students}tickets: []
""", encoding="utf-8")
    return path


class Student:
    """One student with their own token of Moodle's mobile service, as the Moodle app would have."""

    def __init__(self, username: str) -> None:
        resp = requests.post(f"{URL.rstrip('/')}/login/token.php", data={
            "username": username, "password": PASSWORD, "service": "moodle_mobile_app"}, timeout=30)
        self.token = str(resp.json()["token"])

    def call(self, function: str, params: dict[str, Any]) -> Any:
        from lms_bridge.moodle.client import encode_params

        data = [("wstoken", self.token), ("wsfunction", function), ("moodlewsrestformat", "json"),
                *encode_params(params)]
        return requests.post(f"{URL.rstrip('/')}/webservice/rest/server.php", data=data, timeout=60).json()

    def start(self, quizid: int) -> Any:
        return self.call("mod_quiz_start_attempt", {"quizid": quizid})

    def questions(self, attemptid: int) -> list[dict[str, Any]]:
        """Every question of the attempt as Moodle shows it to the student, page by page."""
        out: list[dict[str, Any]] = []
        page = 0
        while page >= 0:
            data = self.call("mod_quiz_get_attempt_data", {"attemptid": attemptid, "page": page})
            assert "questions" in data, data
            out.extend(data["questions"])
            page = int(data.get("nextpage", -1))
        return out

    def answer(self, attemptid: int, right: int, *, skip: int = 0, count: int = 99, finish: bool) -> Any:
        """Answer ``count`` questions after the first ``skip`` (answered before), the first ``right`` of them
        right and the others wrong; submit when ``finish``."""
        data: list[dict[str, Any]] = []
        for n, q in enumerate(sorted(self.questions(attemptid), key=lambda q: int(q["slot"]))):
            if n < skip or n >= skip + count:
                continue
            data.extend(_choice(q["html"], want_right=n < skip + right))
        return self.call("mod_quiz_process_attempt", {"attemptid": attemptid, "data": data,
                                                      "finishattempt": int(finish)})


def _choice(page: str, *, want_right: bool) -> list[dict[str, Any]]:
    """The form fields answering one multiple-choice question right or wrong, read from its HTML: each radio
    button's value and its label's text (Moodle shuffles the choices per attempt)."""
    seq = re.search(r'name="([^"]+:sequencecheck)" value="(\d+)"', page)
    assert seq, page[:500]
    radios = re.findall(r'<input type="radio" name="([^"]+_answer)" value="(\d+)" id="([^"]+)"', page)
    assert radios, page[:500]
    for name, value, ident in radios:
        label = re.search(rf'id="{re.escape(ident)}_label"[^>]*>(.*?)</div>\s*</div>', page, re.S)
        text = html.unescape(re.sub(r"<[^>]+>", " ", label.group(1) if label else ""))
        if ("right" in text) is want_right:
            return [{"name": seq.group(1), "value": seq.group(2)}, {"name": name, "value": value}]
    raise AssertionError(f"no {'right' if want_right else 'wrong'} choice in {page[:500]}")


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Any]:
    """The bridge as ``lms-bridge serve`` runs it (its webhooks included), the live Moodle, Google's sandbox."""
    from dataclasses import replace

    from werkzeug.serving import make_server

    from lms_bridge.app import create_app, state
    from lms_bridge.config import load_settings
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.sandbox import create_app_for, effective_settings, start_server

    server = make_server("127.0.0.1", BRIDGE_PORT, None, threaded=True)  # type: ignore[arg-type]
    app_url = f"http://127.0.0.1:{server.server_port}"
    base = load_settings(environ={
        "LMS_BRIDGE_MOODLE_URL": URL, "LMS_BRIDGE_MOODLE_TOKEN": TOKEN, "LMS_BRIDGE_MOODLE_WEBHOOK_SECRET": SECRET,
        "LMS_BRIDGE_EXAMS_TEST_MINUTES": "1"},
        data_dir=str(tmp_path / "data"), queue_url="memory://", public_url=app_url, default_language="en")
    sandbox_url, stop_sandbox = start_server(create_app_for(base))
    settings = effective_settings(replace(base, sandbox_url=sandbox_url))
    app = create_app(settings, testing=True)
    server.app = app
    jobqueue.configure(settings, engine=state(app).engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield settings, app_url, state(app).sessionmaker
    finally:
        server.shutdown()
        stop_sandbox()
        jobqueue.reset()
        from lms_bridge import backends

        backends._backends_for.cache_clear()
        state(app).engine.dispose()


def _moodle_cli(*args: str) -> str:
    done = subprocess.run(["php", *args], cwd=MOODLE_DIR, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_test_exam_end_to_end_on_a_real_moodle(bridge: Any, tmp_path: Path) -> None:
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.moodle.client import MoodleClient
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.results.admission import admit_student
    from lms_bridge.results.jobs import release_now
    from lms_bridge.results.testexam import TestExamRefused, read_scores_now, reconnect_now
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.models import AuditEvent, DecisionRecord, ExamSession, JournalEntry, StudentRecord
    from lms_bridge.store.repo import import_session

    settings, app_url, sessions = bridge
    record: dict[str, Any] = {}
    ops = MoodleOps(MoodleClient.from_settings(settings), settings.moodle)
    code = f"LMSB-TEST-{int(time.time())}"

    # The students' accounts exist already (existing accounts first): made once, with a known password.
    people = [(f"lmsb-{sid.lower()}", sid) for sid, _r, _n in STUDENTS]
    existing = {u["username"] for u in ops.users_by("idnumber", [i for _u, i in people])}
    new = [{"username": u, "password": PASSWORD, "firstname": "Test", "lastname": i, "auth": "manual",
            "email": _email(i), "idnumber": i} for u, i in people if u not in existing]
    if new:
        ops.client.call("core_user_create_users", {"users": new})

    if MOODLE_DIR:  # the plugin posts into this bridge
        _moodle_cli("admin/cli/cfg.php", "--component=local_lmsbridge", "--name=bridgeurl",
                    f"--set={app_url}/webhooks/moodle")
        _moodle_cli("admin/cli/cfg.php", "--component=local_lmsbridge", "--name=secret", f"--set={SECRET}")

    # Provisioned as `lms-bridge provision` does it: import, then the session's plan.
    spec = load_session(_session_file(tmp_path, code))
    with sessions() as db:
        import_session(db, spec, source_name="test-session.yaml", actor="secretary")
        db.commit()
    run = run_now(settings, code, sessions=sessions)
    steps = [(s.name, s.status, s.created, s.reused) for s in run.steps]
    print("provision:", steps)
    record["provision"] = steps
    assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
    names = [s.name for s in run.steps]
    assert "moodle.test_quiz" in names
    assert not {"core.draw_commitment", "google.forms", "moodle.tickets"} & set(names)
    with sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == code))
        quiz_entry = db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                          JournalEntry.key == "moodle.test_quiz"))
        quizid, quizdata = int(quiz_entry.external_id), dict(quiz_entry.data)
        courseid = int(db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                            JournalEntry.key == "moodle.course")).external_id)
    print("quiz journal:", quizid, json.dumps(quizdata))
    record["quiz_journal"] = {"quizid": quizid, **quizdata}
    # The quiz as Moodle reports it: 1 attempt, 60 s (test_minutes = 1), grade 40, closed.
    quiz = next(q for q in ops.client.call("mod_quiz_get_quizzes_by_courses", {"courseids": [courseid]})["quizzes"]
                if int(q["id"]) == quizid)
    shown = {k: quiz.get(k) for k in ("timeopen", "timeclose", "timelimit", "attempts", "grade", "sumgrades",
                                      "overduehandling")}
    print("quiz:", json.dumps(shown))
    record["quiz"] = shown
    assert (quiz["timelimit"], quiz["attempts"], float(quiz["grade"]), float(quiz["sumgrades"])) == (60, 1, 40.0,
                                                                                                     40.0)

    students = {sid: Student(f"lmsb-{sid.lower()}") for sid, _r, _n in STUDENTS}
    refused = students["TX1"].start(quizid)
    print("before admission:", json.dumps(refused, ensure_ascii=False))
    record["before_admission"] = refused
    assert not refused.get("attempt")
    assert "not available" in json.dumps(refused.get("warnings"))

    # Admission: the dispatch behind the page's button, the board and the API.
    queue = jobqueue.get_queue()
    for sid, _rating, _right in STUDENTS:
        done = admit_student(queue, code, sid, "secretary")
        assert done.test_quiz
        assert done.ticket is None
    overrides = ops.client.call("mod_quiz_get_overrides", {"quizid": quizid})
    print("overrides after admission:", json.dumps(overrides))
    record["overrides_after_admission"] = overrides
    assert len(overrides["overrides"]) == 5

    # Four students take the quiz and submit.
    for sid, _rating, right in STUDENTS[:4]:
        started = students[sid].start(quizid)
        assert started.get("attempt"), started
        attemptid = int(started["attempt"]["id"])
        assert len(students[sid].questions(attemptid)) == 20
        done = students[sid].answer(attemptid, right, finish=True)
        print(f"{sid} submits:", json.dumps(done))
        assert done["state"] == "finished", done
    second = students["TX1"].start(quizid)
    print("TX1 starts again:", json.dumps(second, ensure_ascii=False))
    record["second_start"] = second
    assert not second.get("attempt")

    def decided() -> int:
        with sessions() as db:
            return len(list(db.scalars(select(DecisionRecord))))

    if MOODLE_DIR:  # pushed: the plugin's queued posts, sent by Moodle's ad hoc task runner (not cron)
        deadline = time.monotonic() + 60
        while decided() < 4 and time.monotonic() < deadline:
            out = _moodle_cli("admin/cli/adhoc_task.php", "--execute", "--ignorelimits",
                              "--classname=\\local_lmsbridge\\task\\post_webhook")
            print("ad hoc tasks:", out.strip().splitlines()[-1:])
            time.sleep(0.5)
        record["pushed_decisions"] = decided()
        assert decided() == 4, "the four pushed scores"

    # TX5 answers 6, then the connection is lost past the time limit (60 s).
    t5 = students["TX5"]
    started = t5.start(quizid)
    attempt5 = int(started["attempt"]["id"])
    saved = t5.answer(attempt5, 6, count=6, finish=False)
    assert saved["state"] == "inprogress", saved
    time.sleep(65)
    with sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == code))
        tx5 = next(s for s in session.students if s.student_ref == "TX5")
        userid5 = int(db.scalar(select(JournalEntry).where(
            JournalEntry.session_id == session.id, JournalEntry.key == f"moodle.user:{tx5.email}")).external_id)
    before = ops.attempts(quizid, userid5)
    print("TX5 attempt past its end:", json.dumps(before))
    record["tx5_past_end"] = before
    assert before[0]["state"] == "inprogress"
    assert int(time.time()) > int(before[0]["timestart"]) + 60
    reconnect_now(queue, code, "TX5", "secretary", reason="connection lost")
    with pytest.raises(TestExamRefused):
        reconnect_now(queue, code, "TX1", "secretary")  # a submitted attempt: its points stand
    overrides = ops.client.call("mod_quiz_get_overrides", {"quizid": quizid})
    mine = next(o for o in overrides["overrides"] if int(o["userid"]) == userid5)
    print("TX5 override after the reconnection:", json.dumps(mine))
    record["tx5_override"] = mine
    resumed = t5.call("mod_quiz_get_attempt_access_information", {"quizid": quizid, "attemptid": attempt5})
    print("TX5 access after the reconnection:", json.dumps(resumed))
    again = t5.start(quizid)
    print("TX5 starts again:", json.dumps(again))
    record["tx5_start_again"] = again
    assert again.get("errorcode") == "attemptstillinprogress", again
    shown = t5.questions(attempt5)
    kept = [q for q in shown if q.get("status") == "Answer saved"]
    print("TX5 answers kept:", len(kept), "of", len(shown))
    record["tx5_answers_kept"] = len(kept)
    assert len(kept) == 6
    finished = t5.answer(attempt5, 10, skip=6, finish=True)
    print("TX5 submits:", json.dumps(finished))
    assert finished["state"] == "finished", finished
    after = ops.attempts(quizid, userid5)
    print("TX5 attempt after:", json.dumps(after))
    record["tx5_after"] = after
    assert [int(a["id"]) for a in after] == [attempt5]

    # The poll reads every score; final = rating + exam, one automatic fail.
    read = read_scores_now(queue, code)
    print("poll:", [(r.student_ref, r.state, r.points, r.decided) for r in read])
    record["poll"] = [(r.student_ref, r.state, r.points, r.decided) for r in read]
    with sessions() as db:
        decisions = {d.student_id: d for d in db.scalars(select(DecisionRecord))}
        by_ref = {s.student_ref: s for s in db.scalars(select(StudentRecord))}
        finals = {}
        for sid, rating, right in STUDENTS:
            student = by_ref[sid]
            d = decisions[student.id]
            finals[sid] = (student.attempt_score, d.points, d.letter, d.votes["auto_failed"])
            assert student.attempt_score == 2 * right, (sid, student.attempt_score)
            assert d.points == rating + 2 * right
            assert d.votes["auto_failed"] is (2 * right < 26)
        print("finals:", json.dumps(finals))
        record["finals"] = finals
        assert decisions[by_ref["TX2"].id].letter == "F"
        assert sum(1 for d in decisions.values() if d.letter == "F") == 1
        incidents = [e.detail for e in db.scalars(select(AuditEvent)) if e.action == "testexam.reconnected"]
        print("incident:", json.dumps(incidents))
        record["incident"] = incidents
        assert len(incidents) == 1

    # Issue 14: the grade stays a draft (marking workflow) until the chair's release.
    with sessions() as db:
        tx4 = next(s for s in db.scalars(select(StudentRecord)) if s.student_ref == "TX4")
        userid4 = int(db.scalar(select(JournalEntry).where(JournalEntry.key == f"moodle.user:{tx4.email}")).external_id)
        result = db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.result_assignment"))
        assigncmid = int(result.data.get("cmid", 0))

    def seen_by(sid: str) -> Any:
        return students[sid].call("gradereport_user_get_grade_items", {"courseid": courseid, "userid": userid4})

    def status_seen() -> Any:
        data = students["TX4"].call("mod_assign_get_submission_status", {"assignid": int(result.external_id)})
        return {"feedback": data.get("feedback"), "gradingstatus": (data.get("lastattempt") or {}).get("gradingstatus")}

    def result_item(report: Any) -> dict[str, Any] | None:
        items = report["usergrades"][0]["gradeitems"]
        return next((i for i in items if i.get("itemmodule") == "assign"), None)

    def moodle_writebacks() -> list[str]:
        from lms_bridge.store.models import WritebackRecord

        with sessions() as db:
            return sorted(w.status for w in db.scalars(select(WritebackRecord).where(
                WritebackRecord.target == "moodle")))

    print("Moodle write-backs before the release:", moodle_writebacks())
    assert moodle_writebacks() == ["draft"] * 5
    before_release = result_item(seen_by("TX4"))
    print("TX4 sees before the release:", json.dumps(before_release))
    record["student_sees_before_release"] = before_release
    assert before_release is not None
    assert before_release.get("graderaw") is None, before_release
    status = status_seen()
    print("TX4's assignment status before the release:", json.dumps(status))
    record["student_status_before_release"] = status
    assert not status["feedback"], status
    released = release_now(queue, code, "chair")
    assert released == 5
    print("Moodle write-backs after the release:", moodle_writebacks())
    assert moodle_writebacks() == ["done"] * 5
    after_release = result_item(seen_by("TX4"))
    print("TX4 sees after the release:", json.dumps(after_release))
    record["student_sees_after_release"] = after_release
    assert after_release is not None
    assert float(after_release["graderaw"]) == 100.0, after_release
    status = status_seen()
    print("TX4's assignment status after the release:", json.dumps(status, ensure_ascii=False))
    record["student_status_after_release"] = status
    assert status["feedback"], status
    assert status["feedback"]["gradefordisplay"], status
    assert assigncmid == int(after_release["cmid"])
    if RECORD:
        Path(RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=1, default=str), encoding="utf-8")

