"""A sitting end to end, over loopback: the product and both sandboxes run as real HTTP servers.

The sample session is provisioned; students draw tickets in the Moodle quiz; the commission votes
in the generated forms (one member twice, one outsider, the secretary too); the sandboxes push to
the product's webhooks (Pub/Sub with an OIDC token, Moodle with an HMAC signature); the product
counts, decides and writes the decisions to the grade sheet and the Moodle gradebook.  Then every
webhook is replayed three times in shuffled order, and nothing changes.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from lms_bridge.app import create_app, state
from lms_bridge.config import Settings, load_settings
from lms_bridge.domain.grading import GradeScale
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.sandbox import create_app_for, start_server
from lms_bridge.store.models import (
    BallotRecord,
    DecisionRecord,
    JournalEntry,
    StudentRecord,
    WebhookDelivery,
    WritebackRecord,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "config" / "sample-session.yaml"
CHAIR = "e.zhumabekov@univ.edu.kz"
MEMBERS = ["g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"]
SECRETARY = "m.tursynbayeva@univ.edu.kz"
LETTERS = ["A", "A-", "B+", "B", "B-", "C+", "C", "D"]


class Recorder:
    """WSGI middleware keeping every webhook request as it arrived, for the replay."""

    def __init__(self) -> None:
        self.app: Any = None
        self.calls: list[tuple[str, dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/webhooks/"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
            if environ.get("CONTENT_TYPE"):
                headers["Content-Type"] = environ["CONTENT_TYPE"]
            with self.lock:
                self.calls.append((path, headers, body))
            import io

            environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


@dataclass
class World:
    settings: Settings
    app_url: str
    sandbox_url: str
    recorder: Recorder
    sessions: Any

    def provision_sample(self) -> Any:
        """Import the sample session and provision it; returns its spec."""
        from lms_bridge.provisioning.service import run_now
        from lms_bridge.sessionfile import load_session
        from lms_bridge.store.repo import import_session

        spec = load_session(SAMPLE)
        with self.sessions() as db:
            import_session(db, spec, source_name=SAMPLE.name, actor="secretary")
            db.commit()
        run = run_now(self.settings, spec.code, sessions=self.sessions)
        assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
        return spec


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    recorder = Recorder()
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    app_url = f"http://127.0.0.1:{server.server_port}"
    base = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://",
                         public_url=app_url, default_language="en")
    sandbox_url, stop_sandbox = start_server(create_app_for(base))
    settings = replace(base, sandbox_url=sandbox_url)
    from lms_bridge.sandbox import effective_settings

    settings = effective_settings(settings)
    app = create_app(settings, testing=True)
    recorder.app = app
    jobqueue.configure(settings, engine=state(app).engine)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield World(settings, app_url, sandbox_url, recorder, state(app).sessionmaker)
    finally:
        server.shutdown()
        stop_sandbox()
        jobqueue.reset()
        from lms_bridge import backends

        backends._backends_for.cache_clear()
        state(app).engine.dispose()


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)  # the background work is done in milliseconds; no need to oversleep it
    raise AssertionError(f"timed out waiting for {what}")


def _snapshot(w: World) -> dict[str, Any]:
    with w.sessions() as db:
        return {
            "decisions": sorted((d.student_id, d.letter, d.points, d.degree_award)
                                for d in db.scalars(select(DecisionRecord))),
            "ballots": sorted((b.form_id, b.response_id, b.voter_email, b.grade, b.status)
                              for b in db.scalars(select(BallotRecord))),
            "students": sorted((s.student_ref, s.ticket_number, s.status)
                               for s in db.scalars(select(StudentRecord))),
            "deliveries": len(list(db.scalars(select(WebhookDelivery)))),
        }


def test_a_sitting_from_votes_to_gradebook_and_replays_change_nothing(world: World) -> None:

    w = world
    spec = w.provision_sample()
    admitted = list(spec.admitted)

    # Students draw their tickets in the Moodle quiz; the sandbox posts signed webhooks.
    from lms_bridge.backends import build_backends
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.remote import ApiCalls

    backends = build_backends(w.settings, ApiCalls())
    ops = MoodleOps(backends.moodle, w.settings.moodle)
    course = ops.find_course(spec.code)
    assert course is not None
    quiz = ops.ticket_quiz(int(course["id"]))
    assert quiz is not None
    # Closed until admitted: no student can start the ticket quiz on their own.
    res = requests.post(f"{w.sandbox_url}/moodle/_actor/quiz/{quiz['id']}/attempt",
                        json={"email": admitted[0].email}, timeout=10)
    assert res.status_code == 400, res.text
    # The secretary admits each student on the sitting day: the verifiable draw gives the ticket and
    # Moodle opens the attempt with exactly that ticket (the attempt_started webhook carries it).
    from lms_bridge.results.admission import admit_now

    sitting = spec.starts_at
    for i, s in enumerate(admitted):
        done = admit_now(jobqueue.get_queue(w.settings), spec.code, s.id, "secretary",
                         now=lambda i=i: sitting + timedelta(minutes=i))
        assert done.state == "open", done
    drawn_in_moodle = {d["userid"]: d["ticketnumber"] for d in ops.drawn_tickets(int(quiz["id"]))}
    with w.sessions() as db:
        users = {e.key.split(":", 1)[1]: int(e.external_id) for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("moodle.user:")))}
        recorded = {r.email: r.ticket_number for r in db.scalars(select(StudentRecord))}
    assert {users[s.email]: recorded[s.email] for s in admitted} == drawn_in_moodle

    with w.sessions() as db:
        forms = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("forms.form:")))}
    assert set(forms) == {s.id for s in admitted}

    rng = random.Random(7)
    votes: dict[str, dict[str, str]] = {}

    def vote(email: str, student_ref: str, letter: str) -> requests.Response:
        e = forms[student_ref]
        answers = {e.data["questions"]["grade"]: letter}
        if "degree" in e.data["questions"]:
            from lms_bridge.google.steps import degree_options

            answers[e.data["questions"]["degree"]] = degree_options(spec.language)[0]
        return requests.post(f"{w.sandbox_url}/google/_actor/forms/{e.external_id}/responses",
                             json={"email": email, "answers": answers}, timeout=10)

    for s in admitted:
        votes[s.id] = {}
        for email in [CHAIR, *MEMBERS]:
            letter = rng.choice(LETTERS)
            if email == MEMBERS[0] and s.id == admitted[0].id:
                # This member votes twice on the first student: the second ballot must not count.
                assert vote(email, s.id, letter).status_code == 200
                votes[s.id][email] = letter
                letter = "F"
                assert vote(email, s.id, letter).status_code == 200
                continue
            res = vote(email, s.id, letter)
            assert res.status_code == 200, res.text
            votes[s.id][email] = letter
            if email == CHAIR and s.id == admitted[1].id:
                # The chair edits the ballot on the second student ("Edit your response"): the edit is
                # recorded as an edit and the first ballot is the one that counts.
                e = forms[s.id]
                rid = res.json()["responseId"]

                def recorded(rid: str = rid) -> bool:
                    with w.sessions() as db:
                        return db.scalar(select(BallotRecord).where(BallotRecord.response_id == rid)) is not None

                # A person edits seconds later at the earliest; here the first version has reached the
                # product by then (an edit within a second of the first submission, fetched only after
                # it, would pass for the first ballot: see lms_bridge.domain.ballots.EDIT_TOLERANCE).
                _wait(recorded, "the chair's first ballot to be recorded")
                answers = {e.data["questions"]["grade"]: "F"}
                if "degree" in e.data["questions"]:
                    from lms_bridge.google.steps import degree_options

                    answers[e.data["questions"]["degree"]] = degree_options(spec.language)[1]
                edit = requests.post(f"{w.sandbox_url}/google/_actor/forms/{e.external_id}/responses/{rid}",
                                     json={"email": email, "answers": answers}, timeout=10)
                assert edit.status_code == 200, edit.text
                assert edit.json()["responseId"] == rid
        if s.id == admitted[0].id:
            # An outsider cannot open a form not shared with them; the secretary is refused likewise
            # or, when shared, flagged as not voting.
            outsider = vote("stranger@gmail.com", s.id, "A")
            assert outsider.status_code in (403, 404)

    _wait(lambda: len(_snapshot(w)["decisions"]) == len(admitted), "a decision for every admitted student")

    scale = GradeScale.load("kz_letter")
    with w.sessions() as db:
        students = {r.student_ref: r for r in db.scalars(select(StudentRecord))}
        decisions = {d.student_id: d for d in db.scalars(select(DecisionRecord))}
        for s in admitted:
            record = students[s.id]
            assert record.ticket_number is not None, f"{s.id} drew no ticket"
            mean = sum(scale.band(v).points for v in votes[s.id].values()) / 4
            expected = scale.band_for_points(float(int(mean + 0.5)))
            assert decisions[record.id].letter == expected.letter, (s.id, votes[s.id])
        flagged = {(b.voter_email, b.status) for b in db.scalars(select(BallotRecord))
                   if b.student_id == students[admitted[0].id].id}
        assert (MEMBERS[0], "duplicate") in flagged
        second = {(b.voter_email, b.grade, b.status) for b in db.scalars(select(BallotRecord))
                  if b.student_id == students[admitted[1].id].id}
        assert (CHAIR, "F", "edited") in second
        assert (CHAIR, votes[admitted[1].id][CHAIR], "counted") in second
        # Google's precisions (createTime to the millisecond, lastSubmittedTime to the microsecond)
        # and every first ballot counted: four per student, the edit and the second ballot aside.
        counted = [b for b in db.scalars(select(BallotRecord)) if b.status == "counted"]
        assert len(counted) == 4 * len(admitted)

    # Decisions are drafts until the chair's release: each target holds a draft the students cannot
    # see (a provisional sheet row, Moodle's "readyforrelease" outside the gradebook, Classroom's
    # draftGrade alone).
    def all_drafts() -> bool:
        with w.sessions() as db:
            return {r.status for r in db.scalars(select(WritebackRecord))} == {"draft"}

    _wait(all_drafts, "a draft of every decision in every target")
    moodle_world = requests.get(f"{w.sandbox_url}/moodle/_actor/state", timeout=10).json()
    result_item = ops.result_assignment(int(course["id"]))
    assert result_item is not None
    drafts = [g for g in moodle_world["assign_grades"].values() if g["assignment"] == int(result_item["id"])]
    assert len(drafts) == len(admitted)
    assert {g["workflowstate"] for g in drafts} == {"readyforrelease"}
    assert not [g for g in moodle_world["grades"].values() if g["grade"] is not None
                and g["userid"] in {d["userid"] for d in drafts}]
    with w.sessions() as db:
        sheet_id = db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == "sheets.gradesheet"))
    rows = backends.google.sheets.read_values(sheet_id, "A1:Z40")
    refs = {s.id for s in admitted}
    provisional = [r for r in rows if len(r) > 1 and r[1] in refs]
    assert len(provisional) == len(admitted)
    assert all("(алдын ала)" in " ".join(map(str, r)) for r in provisional)
    from lms_bridge.results.jobs import release_now

    assert release_now(jobqueue.get_queue(), spec.code, "secretary") == len(admitted)
    _wait(lambda: _all_written(w), "the write-backs to the sheet and Moodle")
    google = backends.google
    with w.sessions() as db:
        sheet = db.scalar(select(JournalEntry).where(JournalEntry.key == "sheets.gradesheet"))
        assert sheet is not None
        rows = google.sheets.read_values(sheet.external_id, "A1:Z40")
        for s in admitted:
            record = students[s.id]
            row = next(r for r in rows if len(r) > 1 and r[1] == s.id)
            assert decisions[record.id].letter in row
        # The Moodle gradebook holds the points on the result assignment.
        users = {u["email"]: u for u in ops.users_by("email", [s.email for s in admitted])}
        result = ops.result_assignment(int(course["id"]))
        assert result is not None
        for s in admitted:
            got = ops.assign_grade(int(result["id"]), int(users[s.email]["id"]))
            assert got == pytest.approx(decisions[students[s.id].id].points)
        # Released: in the gradebook now, assignedGrade in Classroom, no longer provisional.
        moodle_world = requests.get(f"{w.sandbox_url}/moodle/_actor/state", timeout=10).json()
        assert {g["workflowstate"] for g in moodle_world["assign_grades"].values()
                if g["assignment"] == int(result["id"])} == {"released"}
        rows = google.sheets.read_values(sheet.external_id, "A1:Z40")
        assert not any("(алдын ала)" in " ".join(map(str, r)) for r in rows)

    _quiesce(w)
    before = _snapshot(w)
    calls = list(w.recorder.calls)
    assert any(p.endswith("/pubsub") for p, _, _ in calls)
    assert any(p.endswith("/moodle") for p, _, _ in calls)
    replays = calls * 3
    random.Random(3).shuffle(replays)
    for path, headers, body in replays:
        res = requests.post(w.app_url + path, data=body, headers=headers, timeout=10)
        # A Moodle replay outside its signing window is refused; everything else is a duplicate.
        assert res.status_code in (202, 403), res.text
        if res.status_code == 202:
            assert res.json()["status"] == "duplicate"
    assert _snapshot(w) == before


def _quiesce(w: World, quiet: float = 1.0) -> None:
    """Wait until the sandboxes have stopped pushing (their senders retry in the background)."""
    deadline = time.monotonic() + 30
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = len(w.recorder.calls)
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)
    raise AssertionError("the sandboxes kept pushing")


def _all_written(w: World) -> bool:
    with w.sessions() as db:
        rows = list(db.scalars(select(WritebackRecord).where(WritebackRecord.target.in_(("sheet", "moodle")))))
    return bool(rows) and all(r.status == "done" for r in rows)


def test_tickets_are_drawn_verifiably_handed_out_in_classroom_and_uploads_tracked(world: World) -> None:
    from lms_bridge.domain import draw as draw_rules
    from lms_bridge.results.admission import draw_tickets
    from lms_bridge.results.draw import public_record
    from lms_bridge.store.models import ExamSession

    w = world
    spec = w.provision_sample()
    with w.sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        exam.starts_at = _today(spec).starts_at  # the sitting day
        session_id = exam.id
        db.commit()
    draw_tickets.enqueue(session_id)
    draw_tickets.enqueue(session_id)  # again: nothing is drawn twice, no assignment made twice

    admitted = list(spec.admitted)
    with w.sessions() as db:
        session = db.get(ExamSession, session_id)
        assert session is not None
        record = public_record(db, session)
        assert record.seed is None  # still secret during the sitting
        assert [d.student_id for d in record.draws] == [s.id for s in admitted]
        works = {e.key.split(":", 1)[1]: e.external_id for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("classroom.ticket:")))}
        course = db.scalar(select(JournalEntry).where(JournalEntry.key == "classroom.course"))
        assert course is not None
        tickets = {s.student_ref: s.ticket_number for s in db.scalars(select(StudentRecord))}
        # Anyone with the revealed seed recomputes every ticket.
        revealed = public_record(db, session, reveal=True)
        assert draw_rules.verify(revealed) == []
        assert {d.student_id: d.ticket for d in draw_rules.recompute(revealed)} == \
            {s.id: tickets[s.id] for s in admitted}
    assert set(works) == {s.id for s in admitted}
    # Twelve tickets, eight students: nobody shares a ticket in this sitting.
    assert len({tickets[s.id] for s in admitted}) == len(admitted)

    from lms_bridge.backends import build_backends
    from lms_bridge.remote import ApiCalls

    google = build_backends(w.settings, ApiCalls()).google
    for work_id in set(works.values()):
        assignees = google.classroom.list_submissions(course.external_id, work_id)
        assert len(assignees) == 1  # the ticket is that student's alone

    first = admitted[0]
    base = f"{w.sandbox_url}/google/_actor/classroom/courses/{course.external_id}/courseWork/{works[first.id]}"
    for page in (1, 2, 3):
        res = requests.post(f"{base}/submissions/{first.email}/attachments",
                            json={"title": f"answer-sheet-{page}.jpg"}, timeout=10)
        assert res.status_code == 200, res.text
    assert requests.post(f"{base}/submissions/{first.email}/turnIn", json={}, timeout=10).status_code == 200

    def turned_in() -> bool:
        with w.sessions() as db:
            s = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == first.id))
            return s is not None and s.status == "turned_in" and s.files_received == 3

    _wait(turned_in, "the turn-in to reach the student's status")


@dataclass
class Quiet:
    """The sample session provisioned against sandboxes that push nowhere: no webhooks arrive."""

    url: str
    settings: Settings
    queue: Any
    sessions: Any
    spec: Any


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Quiet]:
    yield from _quiet(tmp_path)


def _today(spec: Any) -> Any:
    """The session moved to today, in its own time zone (tickets are drawn on a sitting day only): it starts at
    the day's first minute, so that the test's clock never crosses into another date."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(spec.timezone)
    return replace(spec, starts_at=datetime.combine(datetime.now(zone).date(), time(0, 1), tzinfo=zone))


def _quiet(tmp_path: Path, change: Callable[[Any], Any] = lambda spec: spec) -> Iterator[Quiet]:
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.sandbox import create_app as sandbox_app
    from lms_bridge.sandbox import effective_settings
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.repo import import_session
    from lms_bridge.store.schema import ensure_schema

    base = load_settings(environ={}, data_dir=str(tmp_path / "data"), queue_url="memory://")
    url, stop = start_server(sandbox_app(base.data_dir / "sandbox", push_endpoint=None, webhook_url=None))
    settings = effective_settings(replace(base, sandbox_url=url))
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    queue = jobqueue.configure(settings, engine=engine)
    sessions = make_sessionmaker(engine)
    try:
        spec = change(load_session(SAMPLE))
        with sessions() as db:
            import_session(db, spec, source_name=SAMPLE.name, actor="secretary")
            db.commit()
        assert run_now(settings, spec.code, sessions=sessions).status == "succeeded"
        yield Quiet(url, settings, queue, sessions, spec)
    finally:
        stop()
        jobqueue.reset()
        from lms_bridge import backends

        backends._backends_for.cache_clear()
        engine.dispose()


def test_reconciliation_catches_votes_whose_push_was_lost(quiet: Quiet) -> None:
    """Only the periodic reconciliation can find these votes."""
    from lms_bridge.google.steps import degree_options
    from lms_bridge.results import jobs

    url, queue, sessions, spec = quiet.url, quiet.queue, quiet.sessions, quiet.spec
    student = spec.admitted[0]
    with sessions() as db:
        form = db.scalar(select(JournalEntry).where(JournalEntry.key == f"forms.form:{student.id}"))
        assert form is not None
    for email in (CHAIR, *MEMBERS):
        answers = {form.data["questions"]["grade"]: "B",
                   form.data["questions"]["degree"]: degree_options(spec.language)[0]}
        res = requests.post(f"{url}/google/_actor/forms/{form.external_id}/responses",
                            json={"email": email, "answers": answers}, timeout=10)
        assert res.status_code == 200, res.text
    with sessions() as db:
        assert db.scalar(select(DecisionRecord)) is None  # no push came
    jobs.reconcile.run(queue)
    with sessions() as db:
        decision = db.scalar(select(DecisionRecord))
        assert decision is not None
        assert decision.letter == "B"
        assert decision.degree_award is True
        sheet = db.scalar(select(WritebackRecord).where(WritebackRecord.target == "sheet"))
        assert sheet is not None
        assert sheet.status == "draft"  # written as provisional until the chair's release
    # The others did not appear; the chair releases the results and the sweep writes the grade.
    from lms_bridge.results.examday import record_exception
    from lms_bridge.store.models import ExamSession

    with sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        for other in db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True),
                                                            StudentRecord.student_ref != student.id)):
            record_exception(db, exam, other, "no_show", reason="no contact", actor="secretary")
        db.commit()
    jobs.release_now(queue, spec.code, "secretary")
    jobs.reconcile.run(queue)
    with sessions() as db:
        sheet = db.scalar(select(WritebackRecord).where(WritebackRecord.target == "sheet"))
        assert sheet is not None
        assert sheet.status == "done"
    # A second sweep finds the form closed and does nothing more.
    jobs.reconcile.run(queue)
    with sessions() as db:
        assert len(list(db.scalars(select(DecisionRecord)))) == 1


def test_watches_near_expiry_are_renewed(world: World) -> None:
    from lms_bridge.results import watches

    w = world
    w.provision_sample()
    with w.sessions() as db:
        watch = db.scalar(select(JournalEntry).where(JournalEntry.key.startswith("forms.watch:")))
        assert watch is not None
        fresh_expiry = watch.data["expireTime"]
        # Pretend six days went by: the watch has a day left.
        watch.data = {**watch.data, "expireTime": "2000-01-01T00:00:00Z"}
        untouched = db.scalar(select(JournalEntry).where(JournalEntry.key.startswith("forms.watch:"),
                                                         JournalEntry.id != watch.id))
        assert untouched is not None
        db.commit()
        watch_id, untouched_id, untouched_expiry = watch.id, untouched.id, untouched.data["expireTime"]
    watches.renew_watches.run(jobqueue.get_queue())
    with w.sessions() as db:
        renewed = db.get(JournalEntry, watch_id)
        other = db.get(JournalEntry, untouched_id)
        assert renewed is not None
        assert other is not None
        assert renewed.data["expireTime"] >= fresh_expiry
        assert other.data["expireTime"] == untouched_expiry


def test_without_the_companion_plugin_moodle_is_polled(quiet: Quiet) -> None:
    """No webhooks from Moodle here: the scheduled poll reads attempts and submissions instead."""
    from lms_bridge.results import moodle_poll
    from lms_bridge.store.models import ExamSession

    url, queue, sessions, spec = quiet.url, quiet.queue, quiet.sessions, quiet.spec
    with sessions() as db:
        site = db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.site"))
        quiz = db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.tickets"))
        assert site is not None
        assert quiz is not None
        assert site.data.get("plugin") is True
        moodle_poll.poll_moodle.run(queue)  # with the plugin there is nothing to poll
        assert db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.poll")) is None
        # The site loses its plugin (or never had it): the bridge falls back to polling.
        site.data = {**site.data, "plugin": False}
        db.commit()
        quiz_id = int(quiz.external_id)
    first, second = spec.admitted[0], spec.admitted[1]
    # Both were admitted while the plugin was there: their attempts hold the drawn tickets.
    from lms_bridge.backends import build_backends
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.remote import ApiCalls

    ops = MoodleOps(build_backends(quiet.settings, ApiCalls()).moodle, quiet.settings.moodle)
    with sessions() as db:
        users = {e.key.split(":", 1)[1]: int(e.external_id) for e in db.scalars(select(JournalEntry).where(
            JournalEntry.key.startswith("moodle.user:")))}
    now = int(time.time())
    for n, s in enumerate((first, second), start=1):
        ops.open_ticket(quiz_id, users[s.email], n, timeopen=now - 60, timeclose=now + 3600)
    assert requests.post(f"{url}/moodle/_actor/config", json={"plugin": False}, timeout=10).status_code == 200
    for s in (first, second):
        assert requests.post(f"{url}/moodle/_actor/quiz/{quiz_id}/attempt", json={"email": s.email},
                             timeout=10).status_code == 200
    assert requests.post(f"{url}/moodle/_actor/quiz/{quiz_id}/finish", json={"email": first.email},
                         timeout=10).status_code == 200
    moodle_poll.poll_moodle.run(queue)
    with sessions() as db:
        rows = {s.student_ref: s for s in db.scalars(select(StudentRecord))}
        assert rows[first.id].status == "turned_in"
        assert rows[first.id].attempt_state == "finished"
        assert rows[second.id].status == "attempt_started"
        assert rows[spec.admitted[2].id].status == "registered"
        assert db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.poll")) is not None
        assert db.scalar(select(ExamSession)).status == "provisioned"


def test_no_preparation_time_hands_out_every_ticket_with_no_past_due_time_and_shows_each_failure(
        tmp_path: Path) -> None:
    """Without preparation time the end of preparation is the draw itself, already past when the assignment
    is made, and Classroom refuses a due date in the past (@DueDateInPast, modelled by the sandbox).
    The assignments carry no due time; a student who cannot get one (gone from the course) is shown
    on the page, and everyone after that student still gets a ticket."""
    from lms_bridge.admin.queries import students_view
    from lms_bridge.app import create_app as product_app
    from lms_bridge.domain.session import ExamKind
    from lms_bridge.results.admission import draw_tickets
    from lms_bridge.results.draw import HandOutIncomplete
    from lms_bridge.store.models import ExamSession

    for q in _quiet(tmp_path, lambda spec: _today(replace(spec, kind=ExamKind.ORAL_EXAM, preparation_minutes=0))):
        admitted = list(q.spec.admitted)
        gone = admitted[1]  # not first: the ones after a failure must still get their tickets
        with q.sessions() as db:
            session_id = db.scalar(select(ExamSession.id))
            record = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == gone.id))
            assert record is not None
            record.email = "left.the.course@univ.edu.kz"
            db.commit()
        with pytest.raises(HandOutIncomplete):  # raised so that the queue retries the job
            draw_tickets.run(q.queue, session_id)
        with q.sessions() as db:
            works = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
                JournalEntry.key.startswith("classroom.ticket:")))}
            assert set(works) == {s.id for s in admitted} - {gone.id}
            assert all(e.data["due"] is None for e in works.values())
            exam = db.get(ExamSession, session_id)
            app = product_app(q.settings, testing=True)
            with app.test_request_context():
                rows = {r["ref"]: r for r in students_view(db, exam)}
        assert "HTTP 404" in rows[gone.id]["draw_error"]  # in the page's language, with Google's reason
        assert all(not rows[s.id]["draw_error"] for s in admitted if s.id != gone.id)
        assert all(rows[s.id]["ticket"] is not None for s in admitted)

        from lms_bridge.backends import build_backends
        from lms_bridge.remote import ApiCalls

        google = build_backends(q.settings, ApiCalls()).google
        with q.sessions() as db:
            course = db.scalar(select(JournalEntry).where(JournalEntry.key == "classroom.course"))
            assert course is not None
            work = google.classroom.list_course_work(course.external_id)
        assert len(work) == len(admitted) - 1
        assert all("dueDate" not in w and "dueTime" not in w for w in work)

        # The student is back under the right address: a rerun hands out the last ticket and the
        # page no longer shows a failure.
        with q.sessions() as db:
            record = db.scalar(select(StudentRecord).where(StudentRecord.student_ref == gone.id))
            assert record is not None
            record.email = gone.email
            db.commit()
        draw_tickets.run(q.queue, session_id)
        with q.sessions() as db:
            exam = db.get(ExamSession, session_id)
            with app.test_request_context():
                rows = {r["ref"]: r for r in students_view(db, exam)}
        assert not rows[gone.id]["draw_error"]


def test_a_written_exams_ballot_links_to_the_students_answers(tmp_path: Path) -> None:
    """A written exam: each drawn ticket is the student's writing assignment, open for the writing time,
    and the student's ballot links to it, with the grading time (001 §15)."""
    from lms_bridge.backends import build_backends
    from lms_bridge.domain.session import ExamKind
    from lms_bridge.remote import ApiCalls
    from lms_bridge.results.admission import draw_tickets
    from lms_bridge.store.models import ExamSession

    for q in _quiet(tmp_path, lambda spec: _today(replace(spec, kind=ExamKind.WRITTEN_EXAM, preparation_minutes=120))):
        with q.sessions() as db:
            session_id = db.scalar(select(ExamSession.id))
        draw_tickets.run(q.queue, session_id)
        google = build_backends(q.settings, ApiCalls()).google
        with q.sessions() as db:
            works = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
                JournalEntry.key.startswith("classroom.ticket:")))}
            forms = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
                JournalEntry.key.startswith("forms.form:")))}
        assert works
        for ref, work in works.items():
            assert work.data["link"]
            assert forms[ref].data["answers_link"] == work.data["link"]
            description = google.forms.get(forms[ref].external_id)["info"]["description"]
            assert work.data["link"] in description
            assert "2 сағат ішінде" in description  # the grading time, in the session's language (kk)
def test_draw_tickets_draws_the_sitting_day_and_opens_each_ticket_in_moodle(tmp_path: Path) -> None:
    """Two students a day: "Draw tickets" draws for the first sitting day only (later days draw on their
    day), and every ticket drawn is the one open in that student's Moodle attempt."""
    from lms_bridge.backends import build_backends
    from lms_bridge.moodle.operations import MoodleOps
    from lms_bridge.remote import ApiCalls
    from lms_bridge.results.admission import draw_tickets, sitting_days
    from lms_bridge.store.models import ExamSession

    for q in _quiet(tmp_path, lambda spec: _today(replace(spec, preparation_minutes=60, answer_minutes=120))):
        with q.sessions() as db:
            exam = db.scalar(select(ExamSession))
            assert exam is not None
            session_id = exam.id
            days = sitting_days(exam)
            first = min(days.values())
            tickets = db.scalar(select(JournalEntry).where(JournalEntry.key == "moodle.tickets"))
            assert tickets is not None
            quizid = int(tickets.data["quizid"])
            users = {e.key.split(":", 1)[1]: int(e.external_id) for e in db.scalars(select(JournalEntry).where(
                JournalEntry.key.startswith("moodle.user:")))}
        assert len(set(days.values())) > 1
        draw_tickets.run(q.queue, session_id)
        draw_tickets.run(q.queue, session_id)  # again: nothing more; day 2 draws tomorrow
        with q.sessions() as db:
            rows = {r.student_ref: r for r in db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True)))}
        drew = {ref for ref, r in rows.items() if r.ticket_number is not None}
        assert drew == {ref for ref, d in days.items() if d == first}
        ops = MoodleOps(build_backends(q.settings, ApiCalls()).moodle, q.settings.moodle)
        in_moodle = {d["userid"]: d["ticketnumber"] for d in ops.drawn_tickets(quizid)}
        assert in_moodle == {users[rows[ref].email]: rows[ref].ticket_number for ref in drew}
