"""Appeals end to end in the sandboxes (003 §64-67), with the Google sandbox's clock in July 2026.

The sample session, with an appeal commission, is provisioned; the commission votes for two students;
the chair releases the results on Thursday 2 July 2026.  The filing window is two working days:
Friday 3 July, then the weekend and Capital Day (Monday 6 July, a public holiday), so it ends on
Tuesday 7 July.  One student appeals on Friday, in time; the other on Wednesday 8 July, a day late,
and is refused with the reason shown in Classroom.  The appeal commission votes in its form (one
member twice: only the first ballot counts) and changes the grade; the answer letter and the protocol
are drawn up in Kazakh; the new grade reaches the grade sheet and the Moodle gradebook.

No pushes here (the sandbox's clock is not the product's, so its OIDC tokens would be refused): the
appeals sweep reads what a push would have announced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pypdf import PdfReader
from sqlalchemy import select

from lms_bridge.config import Settings, load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.sandbox import start_server
from lms_bridge.store.models import (
    AppealBallotRecord,
    AppealRecord,
    AuditEvent,
    DecisionRecord,
    ExamSession,
    JournalEntry,
    OutboxEmail,
    StudentRecord,
    WritebackRecord,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "sample-session.yaml"
CHAIR = "e.zhumabekov@univ.edu.kz"
MEMBERS = ["g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"]
APPEAL_CHAIR, APPEAL_1, APPEAL_2 = "n.akhmetov@univ.edu.kz", "a.serikova@univ.edu.kz", "b.kasymov@univ.edu.kz"
APPEAL_SECRETARY = "zh.aliyeva@univ.edu.kz"


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Clock:
    """The Google sandbox's time: set to a moment, then running on from there."""

    def __init__(self, start: str) -> None:
        self.lock = threading.Lock()
        self.set(start)

    def set(self, moment: str) -> None:
        import time

        with self.lock:
            self.offset = _at(moment) - time.time()

    def __call__(self) -> float:
        import time

        with self.lock:
            return time.time() + self.offset


@dataclass
class Appeals:
    url: str
    settings: Settings
    queue: Any
    sessions: Any
    spec: Any
    clock: Clock


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Appeals]:
    from lms_bridge import backends
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.sandbox import create_app as sandbox_app
    from lms_bridge.sandbox import effective_settings
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.repo import import_session
    from lms_bridge.store.schema import ensure_schema

    clock = Clock("2026-07-02T10:00:00+05:00")  # Thursday, the day of the release
    path = tmp_path / "session.yaml"
    # The sample session has an appeal commission (the APPEAL_* people above).
    path.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    base = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://")
    url, stop = start_server(sandbox_app(base.data_dir / "sandbox", push_endpoint=None, webhook_url=None,
                                         google_clock=clock))
    settings = effective_settings(replace(base, sandbox_url=url))
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    queue = jobqueue.configure(settings, engine=engine)
    sessions = make_sessionmaker(engine)
    try:
        spec = load_session(path)
        with sessions() as db:
            import_session(db, spec, source_name=path.name, actor="secretary")
            db.commit()
        assert run_now(settings, spec.code, sessions=sessions).status == "succeeded"
        yield Appeals(url, settings, queue, sessions, spec, clock)
    finally:
        stop()
        jobqueue.reset()
        backends._backends_for.cache_clear()
        engine.dispose()


def _google(w: Appeals) -> Any:
    from lms_bridge.backends import build_backends
    from lms_bridge.remote import ApiCalls

    return build_backends(w.settings, ApiCalls()).google


def _vote(w: Appeals, form_id: str, email: str, answers: dict[str, str]) -> dict[str, Any]:
    res = requests.post(f"{w.url}/google/_actor/forms/{form_id}/responses",
                        json={"email": email, "answers": answers}, timeout=10)
    assert res.status_code == 200, res.text
    return dict(res.json())


def _hand_in(w: Appeals, course_id: str, work_id: str, email: str, titles: list[str]) -> None:
    base = f"{w.url}/google/_actor/classroom/courses/{course_id}/courseWork/{work_id}/submissions/{email}"
    for title in titles:
        res = requests.post(f"{base}/attachments", json={"name": title}, timeout=10)
        assert res.status_code == 200, res.text
    assert requests.post(f"{base}/turnIn", json={}, timeout=10).status_code == 200


def _expire_appeal_watch(w: Appeals, appeal_id: int, form_id: str) -> None:
    """Pretend the appeal form's watch has a day left."""
    with w.sessions() as db:
        watch = db.scalar(select(JournalEntry).where(JournalEntry.key == f"appeals.watch:{appeal_id}"))
        assert watch is not None
        assert watch.data["formId"] == form_id
        watch.data = {**watch.data, "expireTime": "2000-01-01T00:00:00Z"}
        db.commit()


def test_two_appeals_one_in_time_one_late_across_capital_day_and_a_changed_grade_reaches_sheet_and_moodle(
        world: Appeals, tmp_path: Path) -> None:
    from lms_bridge.google.steps import degree_options
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.results import appeal_jobs, appeals, jobs, watches
    from lms_bridge.results.appeal_jobs import sweep_session
    from lms_bridge.results.examday import record_exception

    w = world
    first, second = w.spec.admitted[0], w.spec.admitted[1]
    # The commission votes for the two: C+ for the first, B for the second.
    with w.sessions() as db:
        forms = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("forms.form:")))}
    for student, letter in ((first, "C+"), (second, "B")):
        form = forms[student.id]
        for email in (CHAIR, *MEMBERS):
            _vote(w, form.external_id, email, {form.data["questions"]["grade"]: letter,
                                               form.data["questions"]["degree"]: degree_options("kk")[0]})
    jobs.reconcile.run(w.queue)
    with w.sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        session_id = exam.id
        for other in db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True),
                                                            StudentRecord.student_ref.not_in([first.id, second.id]))):
            record_exception(db, exam, other, "no_show", reason="байланыс жоқ", actor="secretary")
        db.commit()

    # Thursday 2 July: the chair releases the results; each decided student gets an "Appeal" assignment.
    jobs.release_now(w.queue, w.spec.code, "secretary", now=datetime.fromisoformat("2026-07-02T11:00:00+05:00"))
    google = _google(w)
    with w.sessions() as db:
        course = db.scalar(select(JournalEntry).where(JournalEntry.key == "appeals.course"))
        sitting_course = db.scalar(select(JournalEntry).where(JournalEntry.key == "classroom.course"))
        assert sitting_course is not None
        works = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("classroom.appeal:")))}
        assert course is not None
        course_id = course.external_id
    assert set(works) == {first.id, second.id}
    assert {w_.data["closes"] for w_ in works.values()} == {"2026-07-07"}  # Capital Day and a weekend between
    work = next(cw for cw in google.classroom.list_course_work(course_id) if cw["id"] == works[first.id].external_id)
    assert work["title"].startswith("Апелляция")
    assert work["dueDate"] == {"year": 2026, "month": 7, "day": 7}  # 23:59 in Almaty is 18:59 UTC
    assert len(google.classroom.list_submissions(course_id, work["id"])) == 1  # the student's alone
    # Filed in a course of its own: the appeal commission teaches it, the attestation commission does not
    # (every teacher sees every submission, and a statement is for the appeal commission only).
    assert course_id != sitting_course.external_id
    teachers = {t["profile"]["emailAddress"] for t in google.classroom.list_teachers(course_id)}
    assert {APPEAL_CHAIR, APPEAL_1, APPEAL_2, APPEAL_SECRETARY} <= teachers
    assert not teachers & {CHAIR, *MEMBERS}

    # Friday 3 July: the first student appeals with a statement and a screenshot.
    w.clock.set("2026-07-03T12:00:00+05:00")
    _hand_in(w, course_id, works[first.id].external_id, first.email, ["өтініш.pdf", "скриншот.png"])
    sweep_session(w.queue, session_id)
    with w.sessions() as db:
        appeal = db.scalar(select(AppealRecord))
        assert appeal is not None
        assert (appeal.status, appeal.filed_on.isoformat(), appeal.original_letter) == ("filed", "2026-07-03", "C+")
        assert [s["title"] for s in appeal.statement] == ["өтініш.pdf", "скриншот.png"]
        rows = appeals.appeal_rows(db, exam_of(db), today=datetime(2026, 7, 3).date())
        assert rows[0].deadline is not None
        assert (rows[0].deadline.due.isoformat(), rows[0].deadline.overdue) == ("2026-07-08", False)
        # On Thursday 9 July a hearing not yet held is overdue.
        late_rows = appeals.appeal_rows(db, exam_of(db), today=datetime(2026, 7, 9).date())
        assert late_rows[0].deadline is not None
        assert late_rows[0].deadline.overdue is True
        # The hearing on Tuesday 7 July (Monday is Capital Day), online.
        emails = appeals.schedule_hearing(
            db, google, exam_of(db), appeal, at=datetime.fromisoformat("2026-07-07T15:00:00+05:00"),
            link="https://meet.google.com/abc-defg-hij", actor="secretary")
        assert {e.recipient for e in emails} == {first.email, APPEAL_CHAIR, APPEAL_1, APPEAL_2, APPEAL_SECRETARY}
        assert all("07.07.2026 15:00" in e.body and "https://meet.google.com/abc-defg-hij" in e.body
                   for e in emails)
        form_id, questions = appeal.form_id, dict(appeal.form_questions)
        appeal_id = appeal.id
        db.commit()
    # The form's watch is journaled and renewed like the sitting's forms' (a watch lasts 7 days).
    _expire_appeal_watch(w, appeal_id, form_id)
    watches.renew_watches.run(w.queue)
    with w.sessions() as db:
        watch = db.scalar(select(JournalEntry).where(JournalEntry.key == f"appeals.watch:{appeal_id}"))
        assert watch is not None
        assert watch.data["expireTime"] > "2026-07-03"
        assert {x["id"] for x in google.forms.list_watches(form_id)} == {watch.external_id}

    # Tuesday 7 July: the appeal commission votes; one member votes twice, only the first counts.
    w.clock.set("2026-07-07T15:30:00+05:00")
    from lms_bridge.results.appeals import new_sitting_options

    no = new_sitting_options("kk")[1]
    _vote(w, form_id, APPEAL_CHAIR, {questions["grade"]: "B", questions["new_sitting"]: no})
    _vote(w, form_id, APPEAL_1, {questions["grade"]: "B", questions["new_sitting"]: no})
    _vote(w, form_id, APPEAL_1, {questions["grade"]: "A", questions["new_sitting"]: no})
    _vote(w, form_id, APPEAL_2, {questions["grade"]: "C+", questions["new_sitting"]: no})
    # A member of the attestation commission cannot open the appeal's form.
    refused = requests.post(f"{w.url}/google/_actor/forms/{form_id}/responses",
                            json={"email": CHAIR, "answers": {questions["grade"]: "A",
                                                              questions["new_sitting"]: no}}, timeout=10)
    assert refused.status_code in (403, 404)
    sweep_session(w.queue, session_id)
    with w.sessions() as db:
        appeal = db.scalar(select(AppealRecord))
        assert appeal is not None
        assert (appeal.status, appeal.outcome, appeal.new_letter) == ("decided", "changed", "B")
        ballots = {(b.voter_email, b.grade, b.status) for b in db.scalars(select(AppealBallotRecord))}
        assert (APPEAL_1, "B", "counted") in ballots
        assert (APPEAL_1, "A", "duplicate") in ballots
        assert len([b for b in ballots if b[2] == "counted"]) == 3
    # Decided: the form is closed and its watch is left to lapse.
    _expire_appeal_watch(w, appeal.id, form_id)
    watches.renew_watches.run(w.queue)
    with w.sessions() as db:
        watch = db.scalar(select(JournalEntry).where(JournalEntry.key == f"appeals.watch:{appeal.id}"))
        assert watch is not None
        assert watch.data["expireTime"] == "2000-01-01T00:00:00Z"

    # Wednesday 8 July: the second student appeals, a day after the window closed: refused.
    w.clock.set("2026-07-08T09:30:00+05:00")
    _hand_in(w, course_id, works[second.id].external_id, second.email, ["өтініш.pdf"])
    sweep_session(w.queue, session_id)
    with w.sessions() as db:
        record = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == second.id))
        assert record is not None
        late = db.scalar(select(AppealRecord).where(AppealRecord.student_id == record.id))
        assert late is not None
        assert late.status == "refused"
        assert "08.07.2026" in late.refusal
        assert "07.07.2026" in late.refusal
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "appeal.refused_late")) is not None
    # In Classroom the student sees the work returned and, only to them, the reason.
    sub = google.classroom.list_submissions(course_id, works[second.id].external_id)[0]
    assert sub["state"] == "RETURNED"
    notes = [a for a in google.classroom.list_announcements(course_id) if "08.07.2026" in a.get("text", "")]
    assert len(notes) == 1
    assert notes[0]["assigneeMode"] == "INDIVIDUAL_STUDENTS"
    assert notes[0]["individualStudentsOptions"]["studentIds"] == [sub["userId"]]

    # The hearing's date and link reached the first student in Classroom too, to that student alone.
    hearing_notes = [a for a in google.classroom.list_announcements(course_id)
                     if "https://meet.google.com/abc-defg-hij" in a.get("text", "")]
    assert len(hearing_notes) == 1
    assert hearing_notes[0]["assigneeMode"] == "INDIVIDUAL_STUDENTS"

    # The answer (letter and protocol, in Kazakh), then the change applied to every target.
    with w.sessions() as db:
        appeal = db.scalar(select(AppealRecord).where(AppealRecord.status == "decided"))
        assert appeal is not None
        mails = appeals.answer_appeal(db, exam_of(db), appeal, actor="secretary", data_dir=w.settings.data_dir,
                                      google=google)
        assert {m.recipient for m in mails} == {first.email, APPEAL_CHAIR, APPEAL_1, APPEAL_2, APPEAL_SECRETARY}
        documents = [w.settings.data_dir / d["path"] for d in appeal.documents]
        outcome_notes = [a for a in google.classroom.list_announcements(course_id)
                         if "Апелляция қанағаттандырылды" in a.get("text", "")]
        assert len(outcome_notes) == 1
        decision_ids = appeals.apply_appeal(db, exam_of(db), appeal, actor="secretary")
        db.commit()
    for decision_id in decision_ids:
        for target in ("sheet", "moodle", "classroom"):
            jobs.write_decision.enqueue(decision_id, target)
    with w.sessions() as db:
        record = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == first.id))
        assert record is not None
        decision = db.scalar(select(DecisionRecord).where(DecisionRecord.student_id == record.id))
        assert decision is not None
        assert decision.letter == "B"
        changed = db.scalar(select(AuditEvent).where(AuditEvent.action == "appeal.grade_changed"))
        assert changed is not None
        assert changed.detail["original"]["letter"] == "C+"  # the original kept in the audit trail
        writes = {r.target: r.status for r in db.scalars(select(WritebackRecord).where(
            WritebackRecord.decision_id == decision.id))}
        assert writes["sheet"] == "done"
        assert writes["moodle"] == "done"
        sheet = db.scalar(select(JournalEntry).where(JournalEntry.key == "sheets.gradesheet"))
        assert sheet is not None
        rows = google.sheets.read_values(sheet.external_id, "A1:Z40")
        row = next(r for r in rows if len(r) > 1 and r[1] == first.id)
        assert "B" in row
        assert "C+" not in row[row.index("B"):]  # the decision cells carry the new letter
        ops = MoodleOps(_moodle(w), w.settings.moodle)
        moodle_course = ops.find_course(w.spec.code)
        assert moodle_course is not None
        result = ops.result_assignment(int(moodle_course["id"]))
        assert result is not None
        user = ops.users_by("email", [first.email])[0]
        assert ops.assign_grade(int(result["id"]), int(user["id"])) == pytest.approx(decision.points)
        subjects = [m.subject for m in db.scalars(select(OutboxEmail).where(OutboxEmail.recipient == first.email))]
        assert any(s.startswith("Апелляцияңызға жауап") for s in subjects), subjects

    # The appeals course's push registration is journaled and renewed while filings are read (the
    # sweep's horizon after the release), then left to lapse.
    for released_days_ago, renewed in ((1, True), (appeal_jobs.SWEEP_DAYS + 1, False)):
        with w.sessions() as db:
            exam = exam_of(db)
            exam.released_at = datetime.now(UTC) - timedelta(days=released_days_ago)
            registration = db.scalar(select(JournalEntry).where(JournalEntry.key == "appeals.registration"))
            assert registration is not None
            assert registration.data["courseId"] == course_id
            registration.data = {**registration.data, "expiryTime": "2000-01-01T00:00:00Z"}
            db.commit()
        watches.renew_watches.run(w.queue)
        with w.sessions() as db:
            registration = db.scalar(select(JournalEntry).where(JournalEntry.key == "appeals.registration"))
            assert registration is not None
            assert (registration.data["expiryTime"] != "2000-01-01T00:00:00Z") is renewed

    # The documents read in Kazakh (their text layer; rendered with pdftoppm and read as images too,
    # see docs/appeals.md).
    letter = " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(documents[0]).pages)
    protocol = " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(documents[1]).pages)
    assert "Апелляцияға жауап" in letter
    assert "Апелляция қанағаттандырылды: C+ бағасы B бағасына өзгертілді" in letter
    assert "апелляциялық комиссияның отырысы" in protocol
    assert "Серікова Әсел Маратқызы" in protocol
    assert "Апелляция қанағаттандырылды" in protocol


def exam_of(db: Any) -> ExamSession:
    exam = db.scalar(select(ExamSession))
    assert exam is not None
    return exam


def _moodle(w: Appeals) -> Any:
    from lms_bridge.backends import build_backends
    from lms_bridge.remote import ApiCalls

    return build_backends(w.settings, ApiCalls()).moodle


def test_a_turn_in_on_the_appeal_assignment_is_filed_by_its_push(tmp_path: Path) -> None:
    """With pushes on (the sandbox on the product's clock): Classroom's push about the student's
    "Appeal" assignment files the appeal, with no sweep."""
    from lms_bridge.results import jobs
    from lms_bridge.results.examday import record_exception

    fixture = _push_world(tmp_path)
    w = next(fixture)
    try:
        spec = w.provision()
        first = spec.admitted[0]
        with w.sessions() as db:
            form = db.scalar(select(JournalEntry).where(JournalEntry.key == f"forms.form:{first.id}"))
            assert form is not None
        from lms_bridge.google.steps import degree_options

        for email in (CHAIR, *MEMBERS):
            res = requests.post(f"{w.sandbox_url}/google/_actor/forms/{form.external_id}/responses", json={
                "email": email, "answers": {form.data["questions"]["grade"]: "B",
                                            form.data["questions"]["degree"]: degree_options("kk")[0]}},
                timeout=10)
            assert res.status_code == 200, res.text
        _wait_for(lambda: _count(w, DecisionRecord) == 1, "the decision")
        with w.sessions() as db:
            exam = exam_of(db)
            for other in db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True),
                                                                StudentRecord.student_ref != first.id)):
                record_exception(db, exam, other, "no_show", reason="байланыс жоқ", actor="secretary")
            db.commit()
        jobs.release_now(jobqueue.get_queue(), spec.code, "secretary")
        with w.sessions() as db:
            work = db.scalar(select(JournalEntry).where(JournalEntry.key == f"classroom.appeal:{first.id}"))
            course = db.scalar(select(JournalEntry).where(JournalEntry.key == "appeals.course"))
            assert work is not None
            assert course is not None
        base = (f"{w.sandbox_url}/google/_actor/classroom/courses/{course.external_id}/courseWork/"
                f"{work.external_id}/submissions/{first.email}")
        assert requests.post(f"{base}/attachments", json={"name": "өтініш.pdf"}, timeout=10).status_code == 200
        assert requests.post(f"{base}/turnIn", json={}, timeout=10).status_code == 200
        _wait_for(lambda: _count(w, AppealRecord) == 1, "the appeal filed by the push")
        with w.sessions() as db:
            appeal = db.scalar(select(AppealRecord))
            assert appeal is not None
            assert appeal.status == "filed"
            # The hearing; the appeal commission's ballots then arrive by the form's push.
            from lms_bridge.backends import backends as built
            from lms_bridge.results.appeals import hearing_default, new_sitting_options, schedule_hearing

            schedule_hearing(db, built(jobqueue.get_queue()).google, exam_of(db), appeal,
                             at=hearing_default(appeal, exam_of(db)), link="https://meet.google.com/x", actor="s")
            form_id, questions = appeal.form_id, dict(appeal.form_questions)
            db.commit()
        no = new_sitting_options("kk")[1]
        for email, letter in ((APPEAL_CHAIR, "A-"), (APPEAL_1, "A-"), (APPEAL_2, "B")):
            res = requests.post(f"{w.sandbox_url}/google/_actor/forms/{form_id}/responses", json={
                "email": email, "answers": {questions["grade"]: letter, questions["new_sitting"]: no}}, timeout=10)
            assert res.status_code == 200, res.text

        def decided() -> bool:
            with w.sessions() as db:
                a = db.scalar(select(AppealRecord))
                return a is not None and a.status == "decided"

        _wait_for(decided, "the appeal decided from the form's pushes")
        with w.sessions() as db:
            a = db.scalar(select(AppealRecord))
            assert a is not None
            assert (a.outcome, a.new_letter) == ("changed", "A-")
    finally:
        next(fixture, None)


def _count(w: Any, model: Any) -> int:
    with w.sessions() as db:
        return len(list(db.scalars(select(model))))


def _wait_for(predicate: Any, what: str, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)  # the background work is done in milliseconds; no need to oversleep it
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class PushWorld:
    settings: Settings
    sandbox_url: str
    sessions: Any
    path: Path

    def provision(self) -> Any:
        from lms_bridge.provisioning.service import run_now
        from lms_bridge.sessionfile import load_session
        from lms_bridge.store.repo import import_session

        spec = load_session(self.path)
        with self.sessions() as db:
            import_session(db, spec, source_name=self.path.name, actor="secretary")
            db.commit()
        assert run_now(self.settings, spec.code, sessions=self.sessions).status == "succeeded"
        return spec


def _push_world(tmp_path: Path) -> Iterator[PushWorld]:
    from werkzeug.serving import make_server

    from lms_bridge import backends
    from lms_bridge.app import create_app, state
    from lms_bridge.sandbox import create_app_for, effective_settings

    server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
    app_url = f"http://127.0.0.1:{server.server_port}"
    base = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://",
                         public_url=app_url, default_language="en")
    sandbox_url, stop_sandbox = start_server(create_app_for(base))
    settings = effective_settings(replace(base, sandbox_url=sandbox_url))
    app = create_app(settings, testing=True)
    server.app = app  # type: ignore[attr-defined]
    jobqueue.configure(settings, engine=state(app).engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    path = tmp_path / "session.yaml"
    # The sample session has an appeal commission (the APPEAL_* people above).
    path.write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    try:
        yield PushWorld(settings, sandbox_url, state(app).sessionmaker, path)
    finally:
        server.shutdown()
        stop_sandbox()
        jobqueue.reset()
        backends._backends_for.cache_clear()
        state(app).engine.dispose()
