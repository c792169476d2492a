"""The Moodle provisioning steps through the real engine and store, against the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy.orm import Session

from lms_bridge.config import MoodleSettings, Secret, Settings
from lms_bridge.domain import draw
from lms_bridge.domain.session import ExamKind, Member, Role, SessionSpec, Student, Ticket
from lms_bridge.i18n import use_locale
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.operations import MoodleOps, Person
from lms_bridge.moodle.steps import moodle_steps, poll_attempts
from lms_bridge.provisioning.engine import execute_run, start_run
from lms_bridge.remote import ApiCalls
from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.models import Base, ExamSession, JournalEntry, ProvisioningRun

from .conftest import Served, reopen_quiz

SPEC = SessionSpec(
    code="SE-2026-6B06102", title="Мемлекеттік емтихан", kind=ExamKind.ORAL_EXAM, programme="6B06102",
    group="ИС-21", language="kk", timezone="Asia/Almaty", starts_at=datetime(2026, 6, 1, 4, 0, tzinfo=UTC),
    preparation_minutes=30,
    commission=(Member("Ахметов Ержан", "chair@uni.kz", Role.CHAIR),
                Member("Смағұлова Айгүл", "m1@uni.kz", Role.MEMBER),
                Member("Нұрланова Дана", "sec@uni.kz", Role.SECRETARY)),
    students=(Student("201103551234", "Сейтқали Аружан", "aruzhan@uni.kz"),
              Student("201103551235", "Омаров Диас", "dias@uni.kz"),
              Student("201103551236", "Ким Алина", "alina@uni.kz", admitted=False, admission_note="debt")),
    tickets=(Ticket(1, ("Q1a", "Q1b", "Q1c")), Ticket(2, ("Q2a", "Q2b")), Ticket(3, ("Q3a", "Q3b"))),
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    with factory() as session:
        yield session
    engine.dispose()


def _session_row(db: Session, spec: SessionSpec) -> ExamSession:
    seed = draw.new_seed()
    row = ExamSession(code=spec.code, title=spec.title, kind=str(spec.kind), language=spec.language,
                      timezone=spec.timezone, starts_at=spec.starts_at, preparation_minutes=spec.preparation_minutes,
                      draw_seed=seed, draw_commitment=draw.commitment(seed))
    db.add(row)
    db.commit()
    return row


def _settings(tmp_path: Path, sandbox: Served, **moodle: object) -> Settings:
    return Settings(data_dir=tmp_path / "data",
                    moodle=MoodleSettings(url=sandbox.url, token=Secret("sandbox-token"), **moodle))  # type: ignore[arg-type]


def _run(db: Session, settings: Settings, spec: SessionSpec, row: ExamSession) -> ProvisioningRun:
    calls = ApiCalls()
    client = MoodleClient.from_settings(settings, calls, sleep=lambda _s: None)
    plan = moodle_steps(settings)
    run = start_run(db, row, plan)
    return execute_run(db, run, plan, spec, SimpleNamespace(moodle=client, google=None), calls)


def test_plan_names_are_stable(tmp_path: Path, sandbox: Served) -> None:
    names = [s.name for s in moodle_steps(_settings(tmp_path, sandbox))]
    assert names == ["moodle.connect", "moodle.users", "moodle.course", "moodle.enrolments", "moodle.tickets",
                     "moodle.test_quiz", "moodle.result_assignment"]
    with use_locale("en"):
        assert all(s.title() for s in moodle_steps(_settings(tmp_path, sandbox)))


def test_twice_leaves_one_course_one_enrolment_each_and_one_ticket_category(
        tmp_path: Path, sandbox: Served, db: Session) -> None:
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    first = _run(db, settings, SPEC, row)
    assert first.status == "succeeded", first.error
    assert first.created > 0
    assert first.api_calls["moodle"] > 0
    second = _run(db, settings, SPEC, row)
    assert second.status == "succeeded", second.error
    assert second.created == 0
    state = sandbox.state()
    courses = [c for c in state["courses"].values() if c.get("idnumber") == SPEC.code]
    assert len(courses) == 1
    cid = courses[0]["id"]
    enrol = [(e["userid"], e["roleid"]) for e in state["enrolments"] if e["courseid"] == cid]
    assert len(enrol) == len(set(enrol)) == 5  # 3 commission + 2 admitted students
    by_email = {u["email"]: u["id"] for u in state["users"].values()}
    assert (by_email["chair@uni.kz"], 3) in enrol
    assert (by_email["aruzhan@uni.kz"], 5) in enrol
    assert "alina@uni.kz" not in by_email  # not admitted
    quiz_ctx = {cm["contextid"] for cm in state["cms"].values() if cm["course"] == cid}
    cats = [c for c in state["qcats"].values() if c["name"] == "Tickets" and c["contextid"] in quiz_ctx]
    assert len(cats) == 1
    questions = [q for q in state["questions"].values() if q["category"] == cats[0]["id"] and not q.get("hidden")]
    assert sorted(q["idnumber"] for q in questions) == ["ticket-1", "ticket-2", "ticket-3"]
    results = [a for a in state["assigns"].values() if a["course"] == cid and a["nosubmissions"]]
    assert len(results) == 1


def test_each_attempt_draws_one_ticket_and_polling_sees_it(tmp_path: Path, sandbox: Served, db: Session) -> None:
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    assert _run(db, settings, SPEC, row).status == "succeeded"
    tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
    quizid = tickets.data["quizid"]
    reopen_quiz(sandbox, quizid)  # Moodle's own pick, for the polling; the product never lets it happen
    for email in ("aruzhan@uni.kz", "dias@uni.kz"):
        r = sandbox.actor(f"/quiz/{quizid}/attempt", {"email": email})
        assert r.status_code == 200, r.text
        assert r.json()["ticket"].startswith("ticket-")
    client = MoodleClient.from_settings(settings)
    ops = MoodleOps(client, settings.moodle)
    seen = poll_attempts(ops, quizid, [], plugin=True)
    assert len(seen) == 2
    assert all(s.ticket in (1, 2, 3) and s.state == "inprogress" for s in seen)
    # The least-used rule spreads the first draws over different tickets.
    assert len({s.ticket for s in seen}) == 2
    users = [int(e.external_id.split(":")[1]) for e in db.query(JournalEntry).filter(
        JournalEntry.session_id == row.id, JournalEntry.key.like("moodle.enrol:%"))]
    seen_core = poll_attempts(ops, quizid, users, plugin=False)
    assert sorted(s.attemptid for s in seen_core) == sorted(s.attemptid for s in seen)
    assert all(s.ticket is None for s in seen_core)


def test_core_only_with_a_template_exports_the_xml(tmp_path: Path, sandbox: Served, db: Session) -> None:
    sandbox.configure(plugin=False)
    settings = _settings(tmp_path, sandbox, template_course_id=2, plugin="core")
    row = _session_row(db, SPEC)
    run = _run(db, settings, SPEC, row)
    assert run.status == "succeeded", run.error
    xml_path = settings.data_dir / "moodle" / f"{SPEC.code}-tickets.xml"
    root = ET.parse(xml_path).getroot()  # noqa: S314 - the file this test just had written
    assert [q.findtext("idnumber") for q in root.iter("question") if q.get("type") == "essay"] == [
        "ticket-1", "ticket-2", "ticket-3"]
    assert _run(db, settings, SPEC, row).created == 0
    state = sandbox.state()
    courses = [c for c in state["courses"].values() if c.get("idnumber") == SPEC.code]
    assert len(courses) == 1
    # The secretary imports the file into the quiz's question bank; then each attempt draws one ticket.
    tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
    r = sandbox.actor(f"/course/{courses[0]['id']}/import-questions",
                      {"xml": xml_path.read_text(encoding="utf-8"), "cmid": tickets.data["cmid"]})
    assert r.json()["questions"] == 3, r.text
    drawn = sandbox.actor(f"/quiz/{tickets.data['quizid']}/attempt", {"email": "dias@uni.kz"})
    assert drawn.status_code == 200, drawn.text
    assert drawn.json()["ticket"] in ("ticket-1", "ticket-2", "ticket-3")


def test_core_only_without_a_quiz_tells_the_secretary_what_to_do(
        tmp_path: Path, sandbox: Served, db: Session) -> None:
    sandbox.configure(plugin=False)
    settings = _settings(tmp_path, sandbox, plugin="core")
    row = _session_row(db, SPEC)
    with use_locale("en"):
        run = _run(db, settings, SPEC, row)
    assert run.status == "failed"
    step = next(s for s in run.steps if s.name == "moodle.tickets")
    assert step.status == "failed"
    assert "no quiz" in step.error
    assert "tickets.xml" in step.error
    assert "template_course_id" in step.error


def test_an_email_taken_with_another_idnumber_is_reported_not_enrolled(
        tmp_path: Path, sandbox: Served, db: Session, client: MoodleClient) -> None:
    from lms_bridge.moodle.steps import conflict_message

    other = MoodleOps(client, MoodleSettings()).create_users([Person("dias@uni.kz", "Диас", "Омаров", "000")])
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    run = _run(db, settings, SPEC, row)
    steps = {s.name: s.status for s in run.steps}
    assert steps["moodle.users"] == "done"
    assert steps["moodle.enrolments"] == "done"
    conflict = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.user_conflict:dias@uni.kz").one()
    with use_locale("en"):
        text = conflict_message(conflict.data)
    assert "dias@uni.kz" in text
    assert "000" in text
    assert not [e for e in sandbox.state()["enrolments"] if e["userid"] == other["dias@uni.kz"]]


def test_invalid_token_fails_connect_in_plain_words(tmp_path: Path, sandbox: Served, db: Session) -> None:
    settings = replace(_settings(tmp_path, sandbox), moodle=MoodleSettings(url=sandbox.url, token=Secret("nope")))
    row = _session_row(db, SPEC)
    with use_locale("en"):
        run = _run(db, settings, SPEC, row)
    step = next(s for s in run.steps if s.name == "moodle.connect")
    assert step.status == "failed"
    assert "token" in step.error
    assert "nope" not in step.error


def test_a_refused_account_fails_the_users_step_but_the_others_are_kept(
        tmp_path: Path, sandbox: Served, db: Session, client: MoodleClient) -> None:
    # An account holding dias@uni.kz in other capitals and another username, where the service cannot
    # search e-mails ignoring case: Moodle refuses to make dias@uni.kz again.
    client.call("core_user_create_users", {"users": [{
        "username": "dias.old", "firstname": "Д", "lastname": "О", "email": "Dias@Uni.KZ",
        "password": "Stud#2026pass"}]})
    sandbox.configure(removed_functions=["core_user_get_users"])
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    with use_locale("en"):
        run = _run(db, settings, SPEC, row)
    step = next(s for s in run.steps if s.name == "moodle.users")
    assert step.status == "failed"
    assert "dias@uni.kz" in step.error
    keys = {e.key for e in db.query(JournalEntry).filter(JournalEntry.session_id == row.id)}
    assert {"moodle.user:aruzhan@uni.kz", "moodle.user:chair@uni.kz", "moodle.user:sec@uni.kz"} <= keys
    assert "moodle.user:dias@uni.kz" not in keys


def test_a_student_who_also_teaches_in_the_course_stops_the_enrolments(
        tmp_path: Path, sandbox: Served, db: Session, client: MoodleClient) -> None:
    # The course and accounts exist already, and dias@uni.kz is an editing teacher there.
    ops = MoodleOps(client, MoodleSettings())
    ids = ops.ensure_users([Person.from_name(s.name, s.email, s.id) for s in SPEC.admitted])
    course = ops.create_course(idnumber=SPEC.code, fullname=SPEC.title, shortname=SPEC.code)["id"]
    ops.enrol(course, [(ids["dias@uni.kz"], 3)])
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    with use_locale("en"):
        run = _run(db, settings, SPEC, row)
    step = next(s for s in run.steps if s.name == "moodle.enrolments")
    assert step.status == "failed"
    assert "dias@uni.kz" in step.error
    assert "preview" in step.error
    keys = {e.key for e in db.query(JournalEntry).filter(JournalEntry.session_id == row.id)}
    assert "moodle.enrol:aruzhan@uni.kz" in keys
    assert "moodle.enrol:dias@uni.kz" not in keys
    assert _run(db, settings, SPEC, row).status == "failed"  # still, until the teacher role is removed


def test_admission_follows_the_session_file_suspended_never_deleted(
        tmp_path: Path, sandbox: Served, db: Session) -> None:
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    assert _run(db, settings, SPEC, row).status == "succeeded"
    dias = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.user:dias@uni.kz").one()
    uid = int(dias.external_id)

    def status() -> list[int]:
        return [e.get("status", 0) for e in sandbox.state()["enrolments"] if e["userid"] == uid]

    assert status() == [0]
    # Re-imported with Dias no longer admitted: his enrolment is suspended, not removed.
    out = replace(SPEC, students=tuple(replace(s, admitted=s.email != "dias@uni.kz") if s.email != "alina@uni.kz"
                                       else s for s in SPEC.students))
    assert _run(db, settings, out, row).status == "succeeded"
    assert status() == [1]
    tickets = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.tickets").one()
    r = sandbox.actor(f"/quiz/{tickets.data['quizid']}/attempt", {"email": "dias@uni.kz"})
    assert r.status_code == 400
    assert "suspended" in r.text
    again = _run(db, settings, out, row)
    assert again.status == "succeeded"
    assert again.created == 0
    # Admitted again: restored.
    assert _run(db, settings, SPEC, row).status == "succeeded"
    assert status() == [0]
    entry = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.enrol:dias@uni.kz").one()
    assert entry.data.get("suspended") is False


def test_provisioning_completes_on_a_moodle_that_cannot_send_mail(
        tmp_path: Path, sandbox: Served, db: Session) -> None:
    sandbox.configure(mail=False)
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    run = _run(db, settings, SPEC, row)
    assert run.status == "succeeded", run.error
    assert {s.name: s.status for s in run.steps}["moodle.enrolments"] == "done"
    state = sandbox.state()
    cid = next(c["id"] for c in state["courses"].values() if c.get("idnumber") == SPEC.code)
    assert len([e for e in state["enrolments"] if e["courseid"] == cid]) == 5
    keys = {e.key for e in db.query(JournalEntry).filter_by(session_id=row.id)}
    assert {"moodle.tickets", "moodle.result_assignment"} <= keys
    assert _run(db, settings, SPEC, row).created == 0


def test_an_account_conflict_is_reported_and_never_enrolled(tmp_path: Path, sandbox: Served, db: Session) -> None:
    from lms_bridge.moodle.steps import conflict_message

    # The university's Moodle already has a namesake with Dias's ID number but another e-mail.
    client = MoodleClient(sandbox.url, Secret("sandbox-token"), timeout=5)
    client.call("core_user_create_users", {"users": [{
        "username": "d.omarov", "firstname": "Диас", "lastname": "Омаров", "email": "d.omarov@old.kz",
        "idnumber": "201103551235", "createpassword": 1}]})
    settings = _settings(tmp_path, sandbox)
    row = _session_row(db, SPEC)
    run = _run(db, settings, SPEC, row)
    assert run.status == "succeeded", run.error
    conflict = db.query(JournalEntry).filter_by(session_id=row.id, key="moodle.user_conflict:dias@uni.kz").one()
    assert conflict.data["errorcode"] == "idnumbertaken"
    with use_locale("en"):
        assert "d.omarov@old.kz" in conflict_message(conflict.data)
    state = sandbox.state()
    cid = next(c["id"] for c in state["courses"].values() if c.get("idnumber") == SPEC.code)
    namesake = next(u["id"] for u in state["users"].values() if u["username"] == "d.omarov")
    assert not [e for e in state["enrolments"] if e["courseid"] == cid and e["userid"] == namesake]
    assert not [u for u in state["users"].values() if u["email"] == "dias@uni.kz"]  # not created either
    # Fixed in Moodle (the e-mail corrected): the next run takes the account and enrols it.
    _set_email(sandbox, namesake, "dias@uni.kz")
    assert _run(db, settings, SPEC, row).status == "succeeded"
    db.refresh(conflict)
    assert conflict.data.get("resolved") is True
    state = sandbox.state()
    assert [e["roleid"] for e in state["enrolments"] if e["courseid"] == cid and e["userid"] == namesake] == [5]


def _set_email(sandbox: Served, userid: int, email: str) -> None:
    app = sandbox.app
    with app.world.lock:  # type: ignore[attr-defined]
        app.world.refresh()  # type: ignore[attr-defined]
        app.world.state["users"][str(userid)]["email"] = email  # type: ignore[attr-defined]
        app.world.save()  # type: ignore[attr-defined]
