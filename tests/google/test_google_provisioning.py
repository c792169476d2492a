"""Provisioning against the Google sandbox over loopback, with the real google-api-python-client and gspread.

Nothing is mocked: the sandbox is the WSGI stand-in that validates every request against the discovery
documents and keeps state, served on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from lms_bridge.config import GoogleSettings, Settings
from lms_bridge.domain import draw
from lms_bridge.domain.session import DegreeVote, ExamKind, Member, Role, SessionSpec, Student, Ticket
from lms_bridge.google.auth import SCOPES
from lms_bridge.google.errors import InvalidArgument, NotFound, PermissionDenied
from lms_bridge.google.sandbox import server as sandbox_server  # a broken sandbox fails these, never skips
from lms_bridge.google.steps import SheetLayout, google_steps
from lms_bridge.google.workspace import GoogleWorkspace
from lms_bridge.provisioning.engine import execute_run, run_summary, start_run
from lms_bridge.remote import ApiCalls
from lms_bridge.sandbox import start_server
from lms_bridge.store.models import Base, ExamSession, JournalEntry


def _yes_kk() -> str:
    from lms_bridge.i18n import gettext, use_locale

    with use_locale("kk"):
        return str(gettext("Yes, award"))


# The degree option as a Kazakh session's voting form offers it.
YES_KK = _yes_kk()

TOPIC = "projects/lms-bridge-sandbox/topics/attestation"


def make_spec(code: str = "SE-2026-G1", students: int = 5,
              degree: DegreeVote = DegreeVote.SECRET) -> SessionSpec:
    admitted = tuple(Student(f"S{i}", f"Студент {i}", f"s{i}@sandbox.test") for i in range(1, students + 1))
    return SessionSpec(
        code=code, title="Мемлекеттік емтихан: Ақпараттық жүйелер", kind=ExamKind.DEFENSE,
        programme="6B06102", group="ИС-21", language="kk", timezone="Asia/Almaty",
        starts_at=datetime(2026, 12, 1, 4, 0, tzinfo=UTC), preparation_minutes=0, degree_vote=degree,
        commission=(Member("Төраға Т.", "chair@sandbox.test", Role.CHAIR),
                    Member("Мүше М.", "member1@sandbox.test", Role.MEMBER),
                    Member("Мүше Қ.", "member2@sandbox.test", Role.MEMBER),
                    Member("Хатшы Х.", "secretary@sandbox.test", Role.SECRETARY)),
        students=(*admitted, Student("S99", "Жіберілмеген", "s99@sandbox.test", admitted=False)),
    )


@dataclass
class World:
    url: str
    state_dir: Path
    db: Session
    settings: Settings

    def workspace(self, api_calls: ApiCalls) -> GoogleWorkspace:
        return GoogleWorkspace.from_settings(self.settings, api_calls, base_url=self.url,
                                             state_dir=self.state_dir, sleep=lambda s: None)

    def provision(self, spec: SessionSpec, session: ExamSession) -> tuple[dict[str, Any], GoogleWorkspace]:
        calls = ApiCalls()
        ws = self.workspace(calls)
        plan = google_steps(self.settings)
        run = start_run(self.db, session, plan)
        run = execute_run(self.db, run, plan, spec, SimpleNamespace(google=ws), calls)
        return run_summary(run, spec.code, 0.0), ws


def _world(tmp_path: Path, faults: dict[str, Any] | None = None, request_log: Path | None = None,
           ) -> Iterator[World]:
    state = tmp_path / "google"
    app = sandbox_server.create_app(state, push_endpoint=None, faults=faults, request_log=request_log)
    url, stop = start_server(DispatcherMiddleware(HttpNotFound(), {"/google": app}))
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    Base.metadata.create_all(engine)
    db = sessionmaker(engine, expire_on_commit=False)()
    settings = Settings(data_dir=tmp_path, google=GoogleSettings(pubsub_topic=TOPIC, timeout_seconds=10))
    try:
        yield World(url, state, db, settings)
    finally:
        db.close()
        engine.dispose()
        stop()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path)


def add_session(db: Session, spec: SessionSpec) -> ExamSession:
    seed = draw.new_seed()
    session = ExamSession(code=spec.code, title=spec.title, kind=str(spec.kind), language=spec.language,
                          timezone=spec.timezone, starts_at=spec.starts_at,
                          preparation_minutes=spec.preparation_minutes, draw_seed=seed,
                          draw_commitment=draw.commitment(seed))
    db.add(session)
    db.commit()
    return session


def _journal(db: Session, prefix: str) -> list[JournalEntry]:
    return list(db.scalars(select(JournalEntry).where(JournalEntry.key.startswith(prefix))))


def test_provisioning_makes_everything_once_and_a_rerun_creates_nothing(world: World) -> None:
    spec = make_spec()
    session = add_session(world.db, spec)
    first, ws = world.provision(spec, session)
    assert first["status"] == "succeeded", first
    admitted = len(spec.admitted)
    forms = _journal(world.db, "forms.form:")
    assert len(forms) == admitted
    assert all(f.data["stage"] == "published" for f in forms)
    assert all(sorted(f.data["shared"]) == sorted(m.email for m in spec.voters) for f in forms)
    assert len(_journal(world.db, "forms.watch:")) == admitted

    # What Google now holds, read back through the real clients.
    course = ws.classroom.get_course("p:" + spec.code)
    assert course["courseState"] == "ACTIVE"
    form = ws.forms.get(forms[0].external_id)
    assert form["settings"]["emailCollectionType"] == "VERIFIED"
    choices = form["items"][0]["questionItem"]["question"]["choiceQuestion"]["options"]
    assert [o["value"] for o in choices][:2] == ["A", "A-"]
    assert len(form["items"]) == 3  # grade, degree, comment
    perms = ws.drive.list_permissions(forms[0].external_id)
    assert {p.get("emailAddress") for p in perms if p.get("view") == "published"} == \
        {m.email for m in spec.voters}
    tagged = ws.drive.find_by_app_properties({"lmsBridgeSession": spec.code, "lmsBridgeKind": "form"})
    assert len(tagged) == admitted
    sheet = _journal(world.db, "sheets.gradesheet")[0]
    values = ws.sheets.read_values(sheet.external_id, "A1:Z20")
    layout = SheetLayout.from_json(sheet.data["layout"])
    assert values[0] == list(layout.header)
    assert [row[1] for row in values[1:]] == [s.id for s in spec.admitted]
    assert values[1][layout.link_column - 1] == forms[0].data["url"] or values[1][-1]

    calls_first = sum(first["api_calls"].values())
    second, _ = world.provision(spec, session)
    assert second["status"] == "succeeded", second
    assert second["created"] == 0
    assert sum(second["api_calls"].values()) == 0  # all journaled, nothing asked
    print(f"\nGoogle calls: {first['api_calls']} = {calls_first / admitted:.1f} per student")


def test_tally_calls_votes_close_decision_ticket_and_grade(world: World) -> None:
    spec = make_spec(code="SE-2026-G2", students=2, degree=DegreeVote.NONE)
    session = add_session(world.db, spec)
    summary, ws = world.provision(spec, session)
    assert summary["status"] == "succeeded", summary
    form = next(e for e in _journal(world.db, "forms.form:") if e.key.endswith(":S1"))
    grade_q = form.data["questions"]["grade"]
    before = datetime.now(UTC) - timedelta(minutes=1)
    assert ws.list_responses(form.external_id, since=before) == []

    # The chair votes through the sandbox's actor API (as a person on the form page would).
    vote = requests.post(f"{world.url}/google/_actor/forms/{form.external_id}/responses", timeout=10,
                         json={"email": "chair@sandbox.test", "answers": {grade_q: "B+"}})
    assert vote.status_code == 200, vote.text
    got = ws.list_responses(form.external_id, since=before)
    assert [r["respondentEmail"] for r in got] == ["chair@sandbox.test"]
    assert got[0]["answers"][grade_q]["textAnswers"]["answers"][0]["value"] == "B+"
    assert ws.list_responses(form.external_id, since=datetime.now(UTC) + timedelta(minutes=1)) == []

    ws.close_form(form.external_id)
    late = requests.post(f"{world.url}/google/_actor/forms/{form.external_id}/responses", timeout=10,
                         json={"email": "member1@sandbox.test", "answers": {grade_q: "A"}})
    assert late.status_code >= 400

    sheet = _journal(world.db, "sheets.gradesheet")[0]
    layout = SheetLayout.from_json(sheet.data["layout"])
    cells = layout.decision_cells(ticket=7, votes={"chair@sandbox.test": "A", "member1@sandbox.test": "B+"},
                                  letter="A-", points=92, gpa=3.67, word="өте жақсы")
    row = sheet.data["rows"]["S1"]
    ws.write_decision_rows(sheet.external_id, [(row, layout.ticket_column, [cells])])
    values = ws.sheets.read_values(sheet.external_id, f"A{row}:Z{row}")[0]
    assert values[layout.ticket_column - 1:layout.ticket_column + 2] == ["7", "A", "B+"]
    assert values[1] == "S1"  # the identity columns are untouched

    watch = _journal(world.db, "forms.watch:")[0]
    renewed = ws.renew_watch(watch.data["formId"], watch.external_id)
    assert renewed.watch_id == watch.external_id
    assert renewed.expire_time >= watch.data["expireTime"]
    assert ws.renew_registration("p:" + spec.code)["registrationId"]

    # The ticket assignment: one student only, due at the end of preparation; then the grade.
    course = _journal(world.db, "classroom.course")[0].external_id
    due = datetime.now(UTC) + timedelta(minutes=50)
    ticket = Ticket(7, ("Деректер қорын қалыпқа келтіру", "TCP мен UDP айырмашылығы"))
    work = ws.assign_ticket(course, spec.admitted[0], ticket, due, language="kk")
    assert "Студент 1" in work["title"]
    assert "2. TCP мен UDP айырмашылығы" in work["description"]
    assert work["assigneeMode"] == "INDIVIDUAL_STUDENTS"
    assert len(work["individualStudentsOptions"]["studentIds"]) == 1
    assert work["dueTime"]["minutes"] == due.minute
    # Before the chair's release the decision is a draft: draftGrade alone (teachers see it; the
    # student's view is tested in tests/google_sandbox); the release sets assignedGrade.
    ws.set_draft_grade(course, work["id"], "s1@sandbox.test", 92)
    sub = ws.classroom.list_submissions(course, work["id"], user_id="s1@sandbox.test")[0]
    assert sub["draftGrade"] == 92
    assert "assignedGrade" not in sub
    ws.set_assigned_grade(course, work["id"], "s1@sandbox.test", 92)
    sub = ws.classroom.list_submissions(course, work["id"], user_id="s1@sandbox.test")[0]
    assert sub["assignedGrade"] == 92
    assert ws.classroom.list_submissions(course, work["id"], user_id="s2@sandbox.test") == []


def test_faults_still_complete_without_duplicates(tmp_path: Path) -> None:
    spec = make_spec(code="SE-2026-G3", students=6)
    for w in _world(tmp_path / "clean"):
        clean, _ = w.provision(spec, add_session(w.db, spec))
    for w in _world(tmp_path / "faulty", faults={"rate_429": 0.1, "rate_500": 0.1, "seed": 7}):
        summary, _ = w.provision(spec, add_session(w.db, spec))
        assert summary["status"] == "succeeded", summary
        assert summary["created"] == clean["created"]
        # The injected failures were really met and retried.
        assert sum(summary["api_calls"].values()) > sum(clean["api_calls"].values())
    # Count what the sandbox holds through a clean client on the same state.
    for w in _world(tmp_path / "faulty"):
        ws = w.workspace(ApiCalls())
        tagged = ws.drive.find_by_app_properties({"lmsBridgeSession": spec.code, "lmsBridgeKind": "form"})
        assert sorted(f["appProperties"]["lmsBridgeStudent"] for f in tagged) == sorted(s.id for s in spec.admitted)
        named = ws.drive.find_by_name(f"{spec.code} · S1 · Студент 1", mime_type="application/vnd.google-apps.form")
        assert len(named) == 1
        assert len(ws.classroom.list_topics("p:" + spec.code)) == 1
        assert len(ws.classroom.list_announcements("p:" + spec.code)) == 1
        assert len(ws.classroom.list_students("p:" + spec.code)) == len(spec.admitted)
        sheets = ws.drive.find_by_app_properties({"lmsBridgeSession": spec.code,
                                                  "lmsBridgeKind": "gradesheet"})
        assert len(sheets) == 1


def test_a_lost_journal_finds_everything_again_through_google(world: World) -> None:
    """A crash that lost journal rows: the dedupe keys Google holds (alias, appProperties, names,
    ALREADY_EXISTS) let the rerun find every object instead of making a second one."""
    spec = make_spec(code="SE-2026-G4", students=3)
    session = add_session(world.db, spec)
    first, ws = world.provision(spec, session)
    assert first["status"] == "succeeded", first
    form_ids = sorted(e.external_id for e in _journal(world.db, "forms.form:"))
    sheet_id = _journal(world.db, "sheets.gradesheet")[0].external_id
    for entry in world.db.scalars(select(JournalEntry)):
        world.db.delete(entry)
    world.db.commit()

    again, _ = world.provision(spec, session)
    assert again["status"] == "succeeded", again
    made = {s["name"]: s["created"] for s in again["steps"]}
    # An identical registration create renews the one Google holds; everything else was found.
    assert all(n == 0 for name, n in made.items() if name != "google.classroom.push"), made
    assert sorted(e.external_id for e in _journal(world.db, "forms.form:")) == form_ids
    assert _journal(world.db, "sheets.gradesheet")[0].external_id == sheet_id
    tagged = ws.drive.find_by_app_properties({"lmsBridgeSession": spec.code, "lmsBridgeKind": "form"})
    assert sorted(f["id"] for f in tagged) == form_ids
    assert len(ws.classroom.list_topics("p:" + spec.code)) == 1
    perms = ws.drive.list_permissions(form_ids[0])
    assert len([p for p in perms if p.get("view") == "published"]) == len(spec.voters)


def test_without_domain_admin_people_are_invited(tmp_path: Path) -> None:
    for w in _world(tmp_path):
        w.settings = Settings(data_dir=tmp_path, google=GoogleSettings(pubsub_topic=TOPIC, domain_admin=False))
        spec = make_spec(code="SE-2026-G5", students=2, degree=DegreeVote.OPEN)
        session = add_session(w.db, spec)
        summary, ws = w.provision(spec, session)
        assert summary["status"] == "succeeded", summary
        people = _journal(w.db, "classroom.student:") + _journal(w.db, "classroom.teacher:")
        # The secretary the service account acts as owns the course: already a teacher, not invited.
        owner = ws.credentials.delegated_user
        assert {e.data["how"] for e in people if e.external_id != owner} == {"invitation"}
        assert [e.data["how"] for e in people if e.external_id == owner] == ["member"]
        students = [i for i in ws.classroom.list_invitations("p:" + spec.code) if i["role"] == "STUDENT"]
        assert len(students) == len(spec.admitted)
        assert {i["userId"] for i in students} == {e.data["userId"] for e in _journal(w.db, "classroom.student:")}
        assert ws.classroom.list_students("p:" + spec.code) == []  # nobody enrolled until they accept


def test_answers_lost_to_timeouts_make_no_duplicates(tmp_path: Path) -> None:
    """The sandbox makes the change and answers too late: creates are then found, not repeated."""
    spec = make_spec(code="SE-2026-G6", students=4)
    for w in _world(tmp_path, faults={"rate_timeout": 0.06, "timeout_seconds": 0.8, "seed": 1}):
        w.settings = Settings(data_dir=tmp_path, google=GoogleSettings(pubsub_topic=TOPIC, timeout_seconds=0.3))
        summary, ws = w.provision(spec, add_session(w.db, spec))
        assert summary["status"] == "succeeded", summary
        for student in spec.admitted:
            title = f"{spec.code} · {student.id} · {student.name}"
            assert len(ws.drive.find_by_name(title, mime_type="application/vnd.google-apps.form")) == 1
        assert len(ws.classroom.list_topics("p:" + spec.code)) == 1
        assert len(ws.classroom.list_announcements("p:" + spec.code)) == 1


def test_sandbox_refusals_arrive_as_typed_errors_without_retries(world: World) -> None:
    calls = ApiCalls()
    ws = world.workspace(calls)
    t = ws.transport
    wrong_scope = t.service("classroom", SCOPES["forms.body"]).courses().get(id="p:nothing")
    with pytest.raises(PermissionDenied) as denied:
        t.execute(wrong_scope, api="classroom")
    assert denied.value.reason == "insufficientPermissions"
    bad_field = t.service("classroom", SCOPES["classroom.courses"]).courses().create(
        body={"id": "p:X", "name": "x", "ownerId": "me", "colour": "red"})
    with pytest.raises(InvalidArgument):
        t.execute(bad_field, api="classroom")
    with pytest.raises(NotFound):
        ws.classroom.get_course("p:no-such-course")
    assert calls.snapshot()["classroom"] == 3  # one request each: none of these is retried


def test_a_student_admitted_later_gets_a_form_and_the_next_row(world: World) -> None:
    spec = make_spec(code="SE-2026-G7", students=2, degree=DegreeVote.NONE)
    session = add_session(world.db, spec)
    first, ws = world.provision(spec, session)
    assert first["status"] == "succeeded", first
    sheet = _journal(world.db, "sheets.gradesheet")[0]
    layout = SheetLayout.from_json(sheet.data["layout"])
    ws.write_decision_rows(sheet.external_id, [(2, layout.ticket_column, [
        layout.decision_cells(ticket=3, votes={}, letter="B", points=80, gpa=3.0, word="жақсы")])])

    late = Student("S0", "Кеш қабылданған", "s0@sandbox.test")
    spec2 = SessionSpec(**{**spec.__dict__, "students": (late, *spec.students)})
    second, _ = world.provision(spec2, session)
    assert second["status"] == "succeeded", second
    made = {s["name"]: s["created"] for s in second["steps"]}
    assert made["google.forms"] == 1
    assert made["google.watches"] == 1
    assert made["google.classroom.roster"] == 1
    rows = ws.sheets.read_values(sheet.external_id, "A1:Z10")
    assert [r[1] for r in rows[1:]] == ["S1", "S2", "S0"]  # S1 kept row 2, S0 got the next free one
    assert rows[1][layout.ticket_column - 1] == "3"
    assert rows[3][-1].startswith("http")


# -- sharing when Drive keeps only one of overlapping permission writes on a file ------------------------
# Drive's permissions.create reference warns that concurrent permission operations on one file are not
# supported and only the last update is applied; the batch guide says parts run in any order.  The
# sandbox keeps exactly one of the permission writes on a file that share a batch, so a product that
# batched several members' grants for one form would leave members unable to vote.

def _provision_forms(world: World, code: str, ws: GoogleWorkspace | None = None) -> list[JournalEntry]:
    """Only the forms step (the one that shares), for a fresh two-student session."""
    spec = make_spec(code=code, students=2)
    session = add_session(world.db, spec)
    plan = [s for s in google_steps(world.settings) if s.name == "google.forms"]
    calls = ApiCalls()
    run = execute_run(world.db, start_run(world.db, session, plan), plan, spec,
                      SimpleNamespace(google=ws or world.workspace(calls)), calls)
    assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
    return list(world.db.scalars(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                            JournalEntry.key.startswith("forms.form:"))))


def test_every_voter_can_vote_on_every_form_in_twenty_provisionings(world: World) -> None:
    voters = [m.email for m in make_spec().voters]
    calls = ApiCalls()
    ws = world.workspace(calls)  # one set of credentials: reading the key is the slow part
    for n in range(20):
        before = calls.snapshot()["drive"]
        forms = _provision_forms(world, f"SHARE-{n:02d}", ws)
        assert len(forms) == 2
        # Drive: the tag search, the ballot template's search and tag, one copy per form (tagged in
        # the same call), one grant batch per voter (one grant per form in each), the read-back:
        # nothing had to be repaired.
        assert calls.snapshot()["drive"] - before == 1 + 2 + len(forms) + len(voters) + 1
        for form in forms:
            assert sorted(form.data["shared"]) == sorted(voters)
            grade = form.data["questions"]["grade"]
            for email in voters:
                res = requests.post(f"{world.url}/google/_actor/forms/{form.external_id}/responses",
                                    json={"email": email, "answers": {grade: "B", form.data["questions"]["degree"]:
                                                                      YES_KK}}, timeout=10)
                assert res.status_code == 200, (n, email, res.text)


def test_each_ballot_is_a_copy_of_the_template_two_forms_writes_per_student_here(world: World) -> None:
    # The binding quota is Forms writes (150 a minute): the questions are written once, into the
    # session's template, and each student's form is a Drive copy given its title and text in one
    # batchUpdate, then published (its watch, the third write, is the watches step's).
    for students in (2, 5):
        calls = ApiCalls()
        spec = make_spec(code=f"COPY-{students}", students=students)
        session = add_session(world.db, spec)
        plan = [s for s in google_steps(world.settings) if s.name == "google.forms"]
        run = execute_run(world.db, start_run(world.db, session, plan), plan, spec,
                          SimpleNamespace(google=world.workspace(calls)), calls)
        assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
        # The template: create, a read (is it configured?), one batchUpdate; then 2 per student.
        assert calls.snapshot()["forms"] == 3 + 2 * students
        entries = list(world.db.scalars(select(JournalEntry).where(JournalEntry.session_id == session.id)))
        template = next(e for e in entries if e.key == "forms.template")
        ballots = [e for e in entries if e.key.startswith("forms.form:")]
        assert len(ballots) == students
        assert template.external_id not in {e.external_id for e in ballots}
        assert len({e.data["questions"]["grade"] for e in ballots}) == students  # each copy's own IDs


def test_a_voters_group_takes_one_grant_per_ballot_and_every_member_votes(world: World) -> None:
    # With the session's voters_group, a ballot is shared with the Google Group of the voting
    # members in one grant (type "group"), read back once; its members respond as themselves.
    group = "commission-g1@sandbox.test"
    spec = replace(make_spec(code="GROUP-1", students=3), voters_group=group)
    voters = [m.email for m in spec.voters]
    requests.post(f"{world.url}/google/_actor/groups", json={"email": group, "members": voters},
                  timeout=10).raise_for_status()
    session = add_session(world.db, spec)
    plan = [s for s in google_steps(world.settings) if s.name == "google.forms"]
    calls = ApiCalls()
    ws = world.workspace(calls)
    run = execute_run(world.db, start_run(world.db, session, plan), plan, spec, SimpleNamespace(google=ws), calls)
    assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
    forms = _journal(world.db, "forms.form:")
    assert len(forms) == 3
    # Drive: the tag search, the template's search and tag, one copy per form, ONE grant batch (one
    # grant per form), the read-back.
    assert calls.snapshot()["drive"] == 1 + 2 + len(forms) + 1 + 1
    for form in forms:
        assert form.data["shared"] == [group]
        perms = [p for p in ws.drive.list_permissions(form.external_id) if p.get("view") == "published"]
        assert [(p["type"], p["emailAddress"]) for p in perms] == [("group", group)]
        grade = form.data["questions"]["grade"]
        for email in [*voters, "stranger@sandbox.test"]:
            res = requests.post(f"{world.url}/google/_actor/forms/{form.external_id}/responses",
                                json={"email": email, "answers": {grade: "B", form.data["questions"]["degree"]:
                                                                  YES_KK}}, timeout=10)
            assert res.status_code == (403 if email.startswith("stranger") else 200), (email, res.text)


def test_a_voters_group_google_does_not_know_fails_the_step(world: World) -> None:
    spec = replace(make_spec(code="GROUP-2", students=1), voters_group="nobody-group@sandbox.test")
    session = add_session(world.db, spec)
    plan = [s for s in google_steps(world.settings) if s.name == "google.forms"]
    calls = ApiCalls()
    run = execute_run(world.db, start_run(world.db, session, plan), plan, spec,
                      SimpleNamespace(google=world.workspace(calls)), calls)
    assert run.status != "succeeded"
    assert "nobody-group@sandbox.test" in (run.steps[0].error or "")


def test_a_batch_of_grants_on_one_form_keeps_one_in_the_sandbox(world: World) -> None:
    # The strict reading the test above relies on: without rounds, one batch would lose grants.
    spec = make_spec(code="SHARE-RAW", students=1)
    form = _provision_forms(world, spec.code)[0]
    ws = world.workspace(ApiCalls())
    perms = ws.drive.t.service("drive", ("https://www.googleapis.com/auth/drive.file",)).permissions()
    emails = [f"extra{i}@sandbox.test" for i in range(5)]
    reqs = {str(i): perms.create(fileId=form.external_id, sendNotificationEmail=False,
                                 body={"role": "reader", "type": "user", "emailAddress": e, "view": "published"})
            for i, e in enumerate(emails)}
    got = ws.drive.t.execute_batch("drive", ("https://www.googleapis.com/auth/drive.file",), reqs)
    assert all(not isinstance(v, Exception) for v in got.values())  # every part answers 200
    responders = ws.drive.published_responders([form.external_id])[form.external_id]
    assert len(responders & set(emails)) == 1


# -- people as Google shows them --------------------------------------------------------------------------

def test_a_secretary_who_owns_the_course_is_not_invited_into_it(tmp_path: Path) -> None:
    """invitations.create answers FAILED_PRECONDITION for a user who already has the role or a higher
    one: the course owner invited as a teacher.  The roster treats that as done, not as a failure."""
    for w in _world(tmp_path):
        w.settings = Settings(data_dir=tmp_path, google=GoogleSettings(
            pubsub_topic=TOPIC, domain_admin=False, delegated_user="secretary@sandbox.test"))
        spec = make_spec(code="SE-2026-G8", students=2)
        summary, ws = w.provision(spec, add_session(w.db, spec))
        assert summary["status"] == "succeeded", summary
        owner = [e for e in _journal(w.db, "classroom.teacher:") if e.key.endswith("secretary@sandbox.test")]
        assert [e.data["how"] for e in owner] == ["member"]
        invited = {i["userId"] for i in ws.classroom.list_invitations("p:" + spec.code)}
        assert ws.classroom.get_teacher("p:" + spec.code, "secretary@sandbox.test")["userId"] not in invited


def test_a_students_e_mail_is_read_with_the_profile_emails_scope(world: World) -> None:
    """UserProfile.emailAddress is filled only for a token with classroom.profile.emails; turn-ins
    are matched to students by that e-mail."""
    from lms_bridge.results.service import _classroom_email

    spec = make_spec(code="SE-2026-G9", students=2)
    summary, ws = world.provision(spec, add_session(world.db, spec))
    assert summary["status"] == "succeeded", summary
    course = ws.classroom.get_course("p:" + spec.code)["id"]
    student = spec.admitted[0]
    plain = ws.transport.service("classroom", SCOPES["classroom.rosters"]).courses().students()
    hidden = ws.transport.execute(plain.get(courseId=course, userId=student.email), api="classroom")
    assert "emailAddress" not in hidden["profile"]  # what a token without the scope gets
    assert _classroom_email(ws, course, hidden["userId"]) == student.email
    assert {s["profile"]["emailAddress"] for s in ws.classroom.list_students(course)} == \
        {s.email for s in spec.admitted}


def test_grade_sheet_cells_hold_text_as_given_never_a_formula_or_a_number(world: World) -> None:
    """Cells are written RAW: with USER_ENTERED (which the sandbox parses as Sheets does) the id
    "007" would read back as 7 and this name would become a live HYPERLINK formula."""
    spec = make_spec(code="SE-2026-GA", students=0, degree=DegreeVote.NONE)
    spec = SessionSpec(**{**spec.__dict__, "students": (
        Student("007", '=HYPERLINK("http://x")', "s7@sandbox.test"), Student("0100", "'Апостроф", "s8@sandbox.test"))})
    summary, ws = world.provision(spec, add_session(world.db, spec))
    assert summary["status"] == "succeeded", summary
    sheet = _journal(world.db, "sheets.gradesheet")[0]
    layout = SheetLayout.from_json(sheet.data["layout"])
    ws.write_decision_rows(sheet.external_id, [(2, layout.ticket_column, [
        layout.decision_cells(ticket="=1+1", votes={}, letter="A", points=95, gpa=4.0, word="өте жақсы")])])
    rows = ws.sheets.read_values(sheet.external_id, "A1:Z10")
    assert rows[1][1:3] == ["007", '=HYPERLINK("http://x")']
    assert rows[2][1:3] == ["0100", "'Апостроф"]
    assert rows[1][layout.ticket_column - 1] == "=1+1"
    assert "A" in rows[1]
    assert "95" in rows[1]
    formulas = ws.sheets.gc.http_client.values_get(sheet.external_id, "A2:C3",
                                                   params={"valueRenderOption": "FORMULA"})["values"]
    assert formulas[0][1:] == ["007", '=HYPERLINK("http://x")']  # text, not a formula



# -- the oldest client library setup.cfg allows knows every call the product makes ----------------------

REPO = Path(__file__).resolve().parents[2]


def _client_floor() -> str:
    import re

    text = (REPO / "setup.cfg").read_text(encoding="utf-8")
    found = re.search(r"google-api-python-client>=([0-9.]+)", text)
    assert found, "setup.cfg must bound google-api-python-client from below"
    version = found.group(1)
    return version if version.count(".") == 2 else version + ".0"


def test_every_call_the_product_makes_exists_in_the_oldest_allowed_client(tmp_path: Path) -> None:
    """Each request the product sends in a whole sitting (provisioning both ways, the draw, the tally,
    the write-backs, renewals) is checked against the discovery documents of the oldest
    google-api-python-client that setup.cfg allows (committed under tests/fixtures/discovery-<version>,
    taken from that version's wheel): the method exists there, and so does every query parameter and
    every body field sent.  With 2.150 as the floor, forms.setPublishSettings and
    FormSettings.emailCollectionType are missing and this fails."""
    import json
    from urllib.parse import parse_qs, urlsplit

    from lms_bridge.domain.session import Ticket as TicketSpec
    from lms_bridge.google.sandbox import discovery
    from lms_bridge.google.sandbox.errors import ApiError

    version = _client_floor()
    documents = REPO / "tests" / "fixtures" / f"discovery-{version}"
    assert documents.is_dir(), f"commit the discovery documents of google-api-python-client {version} in {documents}"
    log = tmp_path / "requests.jsonl"
    spec = make_spec(code="SE-2026-GF", students=2, degree=DegreeVote.OPEN)
    for w in _world(tmp_path, request_log=log):
        session = add_session(w.db, spec)
        summary, ws = w.provision(spec, session)
        assert summary["status"] == "succeeded", summary
        w.settings = Settings(data_dir=tmp_path, google=GoogleSettings(pubsub_topic=TOPIC, domain_admin=False))
        spec2 = make_spec(code="SE-2026-GI", students=1, degree=DegreeVote.NONE)
        invited, _ = w.provision(spec2, add_session(w.db, spec2))
        assert invited["status"] == "succeeded", invited
        # What the draw, the tally, the write-backs and the renewals call.
        course = ws.classroom.get_course("p:" + spec.code)["id"]
        student = spec.admitted[0]
        work = ws.assign_ticket(course, student, TicketSpec(number=1, questions=("Q",)),
                                datetime.now(UTC) + timedelta(hours=1), language="kk")
        ws.assign_ticket(course, spec.admitted[1], TicketSpec(number=2, questions=("Q",)), None, language="kk")
        ws.classroom.list_course_work(course)
        ws.set_assigned_grade(course, work["id"], student.email, 87.5)
        form = _journal(w.db, "forms.form:")[0]
        ws.list_responses(form.external_id)
        ws.list_responses(form.external_id, since=datetime.now(UTC) - timedelta(minutes=5))
        watch = _journal(w.db, "forms.watch:")[0]
        ws.renew_watch(form.external_id, watch.external_id)
        ws.forms.list_watches(form.external_id)
        ws.close_form(form.external_id)
        sheet = _journal(w.db, "sheets.gradesheet")[0]
        layout = SheetLayout.from_json(sheet.data["layout"])
        ws.write_decision_rows(sheet.external_id, [(2, layout.ticket_column, [
            layout.decision_cells(ticket=1, votes={}, letter="B", points=80, gpa=3.0, word="x")])])
        ws.sheets.read_values(sheet.external_id, "A1:B2")
        ws.drive.list_permissions(form.external_id)
        ws.classroom.list_students(course)
        ws.classroom.list_teachers(course)
        ws.classroom.list_invitations("p:" + spec2.code)

    old = {host: discovery.service_from(host, documents) for host in discovery.SERVICES}
    seen: set[str] = set()
    problems: list[str] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        host, _, rest = entry["path"].lstrip("/").partition("/")
        if host not in discovery.SERVICES or (isinstance(entry["body"], str) and entry["body"].startswith("<")):
            continue  # token endpoint, certificates, batch envelopes (their parts are logged one by one)
        split = urlsplit(rest)
        try:
            current, _values = discovery.match(host, entry["method"], split.path)
        except ApiError as exc:
            problems.append(f"{entry['method']} {entry['path']}: no such method ({exc})")
            continue
        method = next((m for m in old[host].methods if m.id == current.id), None)
        seen.add(current.id)
        if method is None:
            problems.append(f"{current.id}: missing in google-api-python-client {version}")
            continue
        for name in parse_qs(split.query, keep_blank_values=True):
            if name not in method.parameters and name not in old[host].doc.get("parameters", {}):
                problems.append(f"{current.id}: no parameter {name!r} in {version}")
        if isinstance(entry["body"], dict) and method.request_ref:
            try:
                discovery.validate_body(old[host], method.request_ref, entry["body"])
            except Exception as exc:
                problems.append(f"{current.id}: {exc} ({version})")
    assert not problems, sorted(set(problems))
    # The scenario reached the calls that matter most (a guard against a silently empty log).
    assert {"forms.forms.create", "forms.forms.batchUpdate", "forms.forms.setPublishSettings",
            "forms.forms.responses.list", "forms.forms.watches.create", "forms.forms.watches.renew",
            "drive.permissions.create", "drive.permissions.list", "drive.files.update", "drive.files.list",
            "drive.files.create", "classroom.courses.create", "classroom.invitations.create",
            "classroom.courses.students.create", "classroom.courses.teachers.create",
            "classroom.courses.courseWork.create", "classroom.courses.courseWork.studentSubmissions.patch",
            "classroom.registrations.create", "sheets.spreadsheets.values.batchUpdate",
            "sheets.spreadsheets.batchUpdate", "sheets.spreadsheets.get"} <= seen, sorted(seen)


@pytest.mark.parametrize(("language", "words"), [
    ("en", "Only your first submission counts; to correct it, tell the secretary."),
    ("kk", "Тек бірінші жіберген жауабыңыз ғана есептеледі"),
    ("ru", "Засчитывается только ваш первый ответ"),
])
def test_the_voting_form_says_only_the_first_submission_counts(language: str, words: str) -> None:
    from lms_bridge.google.steps import form_requests

    spec = SessionSpec(**{**make_spec(students=1).__dict__, "language": language})
    description = form_requests(spec, spec.admitted[0])[0]["updateFormInfo"]["info"]["description"]
    assert words in description
    assert "change" not in description.lower()


def test_sharing_journaled_without_a_read_back_is_read_and_repaired(world: World) -> None:
    """A journal that lists every member as shared only because the grants answered 200 (as an
    earlier version wrote it) is read back once, and a grant Drive lost is made again."""
    spec = make_spec(code="SE-2026-GB", students=1)
    session = add_session(world.db, spec)
    first, ws = world.provision(spec, session)
    assert first["status"] == "succeeded", first
    form = _journal(world.db, "forms.form:")[0]
    lost = spec.voters[1].email
    perm = next(p for p in ws.drive.list_permissions(form.external_id) if p.get("emailAddress") == lost)
    drive = ws.transport.service("drive", SCOPES["drive.file"])
    ws.transport.execute(drive.permissions().delete(fileId=form.external_id, permissionId=perm["id"]), api="drive")
    form.data = {k: v for k, v in form.data.items() if k != "shared_read"}
    world.db.commit()

    again, _ = world.provision(spec, session)
    assert again["status"] == "succeeded", again
    assert lost in {p.get("emailAddress") for p in ws.drive.list_permissions(form.external_id)}
    world.db.refresh(form)
    assert form.data["shared_read"] is True
    assert sorted(form.data["shared"]) == sorted(m.email for m in spec.voters)


def test_a_defense_collects_the_thesis_two_days_before_and_each_ballot_links_to_it(world: World) -> None:
    """The thesis assignment is due two days before the sitting (001 §19); every ballot names the
    student's own submission and the plagiarism check, so the commission reads both before voting."""
    from dataclasses import replace

    from lms_bridge.domain.session import ExamKind as Kind

    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=5)
    base = make_spec(code="DEF-2026", students=3)
    students = tuple(replace(s, plagiarism=f"{10 + i}%") for i, s in enumerate(base.students))
    spec = replace(base, kind=Kind.DEFENSE, starts_at=starts, students=students)
    session = add_session(world.db, spec)
    summary, ws = world.provision(spec, session)
    assert summary["status"] == "succeeded", summary

    advance = _journal(world.db, "classroom.advance")
    assert len(advance) == 1
    course_id = _journal(world.db, "classroom.course")[0].external_id
    work = next(w for w in ws.classroom.list_course_work(course_id) if w["id"] == advance[0].external_id)
    due = datetime(work["dueDate"]["year"], work["dueDate"]["month"], work["dueDate"]["day"],
                   work["dueTime"].get("hours", 0), work["dueTime"].get("minutes", 0), tzinfo=UTC)
    assert due == starts - timedelta(days=2)
    assert work["assigneeMode"] == "ALL_STUDENTS"
    assert work["state"] == "PUBLISHED"
    links = advance[0].data["links"]
    assert sorted(links) == sorted(s.id for s in spec.admitted)
    subs = {sub["alternateLink"] for sub in ws.classroom.list_submissions(course_id, work["id"])}
    assert set(links.values()) <= subs

    for s in spec.admitted:
        form_id = next(f.external_id for f in _journal(world.db, "forms.form:") if f.key.endswith(":" + s.id))
        description = ws.forms.get(form_id)["info"]["description"]
        assert links[s.id] in description
        assert s.plagiarism in description

    # A rerun makes no second assignment.
    again, _ws = world.provision(spec, session)
    assert again["status"] == "succeeded"
    course_work = [w for w in ws.classroom.list_course_work(course_id) if w["title"] == work["title"]]
    assert len(course_work) == 1


def test_a_plagiarism_result_recorded_later_reaches_the_ballot(world: World) -> None:
    from dataclasses import replace

    from lms_bridge.domain.session import ExamKind as Kind
    from lms_bridge.results.plagiarism import PlagiarismRefused, record_plagiarism, update_ballot
    from lms_bridge.store.repo import import_session

    starts = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=5)
    spec = replace(make_spec(code="DEF-PL", students=2), kind=Kind.DEFENSE, starts_at=starts)
    session = import_session(world.db, spec, source_name="f.yaml", actor="secretary").session
    world.db.commit()
    summary, ws = world.provision(spec, session)
    assert summary["status"] == "succeeded", summary
    student = next(s for s in session.students if s.student_ref == "S1")
    with pytest.raises(PlagiarismRefused):
        record_plagiarism(world.db, session, student, "two\nlines", actor="secretary")
    record_plagiarism(world.db, session, student, "37% https://checker.example/r/1", actor="secretary")
    assert update_ballot(world.db, session, student, ws)
    world.db.commit()
    form_id = next(f.external_id for f in _journal(world.db, "forms.form:") if f.key.endswith(":S1"))
    description = ws.forms.get(form_id)["info"]["description"]
    assert "37% https://checker.example/r/1" in description
    link = _journal(world.db, "classroom.advance")[0].data["links"]["S1"]
    assert link in description  # the thesis link stays
