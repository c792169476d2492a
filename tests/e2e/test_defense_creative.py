"""A thesis defense and a creative exam end to end in the sandboxes (001 §19; 003 §32-33; 004 creative
§4): provisioned without a draw, the files collected in a Classroom assignment due 2 days before the
sitting, handed to the commission (the course's teachers) and linked from each member's ballot, then
a vote decides."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from lms_bridge.store.models import DecisionRecord, ExamSession, JournalEntry, StudentRecord

from .test_sitting import World, _wait, world  # noqa: F401  (the fixture)

ZONE = ZoneInfo("Asia/Almaty")
VOTERS = ["chair@univ.edu.kz", "m1@univ.edu.kz", "m2@univ.edu.kz"]
STUDENTS = [("D1", "d1@stud.univ.edu.kz"), ("D2", "d2@stud.univ.edu.kz")]


def _sitting_day() -> datetime:
    """A working day at least 5 days ahead, 09:00 in Almaty: the due date 2 days before is still ahead."""
    day = datetime.now(ZONE).date() + timedelta(days=5)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=ZONE)


def _session_file(tmp_path: Path, kind: str, starts: datetime) -> Path:
    students = "".join(f"""  - id: "{sid}"
    name: "Студент {sid}"
    email: {email}
    admitted: true
""" + ("    plagiarism: \"Unicheck 9%\"\n" if kind == "defense" else "") for sid, email in STUDENTS)
    text = f"""session:
  code: {kind.upper().replace("_", "-")}-2026
  title: "{kind}"
  kind: {kind}
  language: kk
  timezone: Asia/Almaty
  starts_at: {starts.strftime("%Y-%m-%dT%H:%M")}
  answer_minutes: 15
  grading:
    scale: kz_letter
    decision: mean
    quorum: "2/3"
  degree_vote: {"open" if kind == "defense" else "none"}
commission:
  - name: "Төраға Т."
    email: {VOTERS[0]}
    role: chair
  - name: "Мүше Бір"
    email: {VOTERS[1]}
    role: member
  - name: "Мүше Екі"
    email: {VOTERS[2]}
    role: member
  - name: "Хатшы Х."
    email: secretary@univ.edu.kz
    role: secretary
students:
{students}tickets: []
"""
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _google(w: World, method: str, path: str, email: str) -> requests.Response:
    """A call to the Classroom API as one person (a commission member), with that person's token."""
    token = requests.post(f"{w.sandbox_url}/google/_actor/token", json={"email": email}, timeout=10).json()
    return requests.request(method, f"{w.sandbox_url}/google/classroom.googleapis.com/v1/{path}",
                            headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10)


@pytest.mark.parametrize("kind", ["defense", "creative_exam"])
def test_files_handed_in_two_days_before_reach_the_commission_before_the_vote(
        world: World, tmp_path: Path, kind: str) -> None:  # noqa: F811
    from lms_bridge.domain.admission import AdmissionError
    from lms_bridge.google.steps import ADVANCE_KEY
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.results.admission import admit_student
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.repo import import_session

    w = world
    starts = _sitting_day()
    spec = load_session(_session_file(tmp_path, kind, starts))
    with w.sessions() as db:
        import_session(db, spec, source_name=f"{kind}.yaml", actor="secretary")
        db.commit()
    run = run_now(w.settings, spec.code, sessions=w.sessions)
    assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
    names = {s.name for s in run.steps}
    # No draw: no commitment, no ticket quiz, no ticket assignments; the files' assignment instead.
    assert "google.classroom.advance" in names
    assert not {"core.draw_commitment", "moodle.tickets", "moodle.test_quiz"} & names
    with pytest.raises(AdmissionError) as refused:
        admit_student(jobqueue.get_queue(w.settings), spec.code, STUDENTS[0][0], "secretary")
    assert refused.value.code == "no_draw"

    with w.sessions() as db:
        session = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
        advance = db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                       JournalEntry.key == ADVANCE_KEY))
        course = db.scalar(select(JournalEntry).where(JournalEntry.session_id == session.id,
                                                      JournalEntry.key == "classroom.course"))
        forms = {e.key.split(":", 1)[1]: e for e in db.scalars(select(JournalEntry).where(
            JournalEntry.session_id == session.id, JournalEntry.key.startswith("forms.form:")))}
        assert not list(db.scalars(select(JournalEntry).where(JournalEntry.key.startswith("classroom.ticket:"))))
    due = starts - timedelta(days=2)
    assert datetime.fromisoformat(advance.data["due"]) == due
    assert advance.data["due_set"] is True
    # The members are invited as teachers and join the course (Classroom's invitation, accepted).
    for email in [*VOTERS, *(e for _sid, e in STUDENTS)]:
        requests.post(f"{w.sandbox_url}/google/_actor/classroom/invitations/accept", json={"email": email},
                      timeout=10).raise_for_status()
    work = _google(w, "GET", f"courses/{course.external_id}/courseWork/{advance.external_id}", VOTERS[0])
    assert work.ok, work.text
    utc = due.astimezone(ZoneInfo("UTC"))
    assert work.json()["dueDate"] == {"year": utc.year, "month": utc.month, "day": utc.day}

    # Each student hands in: the thesis as a PDF, or the performance videos as links; then turns in.
    base = f"{w.sandbox_url}/google/_actor/classroom/courses/{course.external_id}/courseWork/{advance.external_id}"
    for sid, email in STUDENTS:
        body = ({"name": f"thesis-{sid}.pdf", "mimeType": "application/pdf"} if kind == "defense"
                else {"url": f"https://video.univ.edu.kz/{sid}/performance"})
        res = requests.post(f"{base}/submissions/{email}/attachments", json=body, timeout=10)
        assert res.status_code == 200, res.text
        assert requests.post(f"{base}/submissions/{email}/turnIn", json={}, timeout=10).status_code == 200

    def handed_in() -> bool:
        with w.sessions() as db:
            rows = list(db.scalars(select(StudentRecord).where(StudentRecord.session_id == session.id)))
            return all(r.turned_in_at is not None and r.files_received == 1 and not r.turned_in_late for r in rows)

    _wait(handed_in, "the turn-ins to reach the product")

    # Before voting, every member opens each student's submission from the ballot: the ballot links to
    # the submission, and as a teacher of the course the member sees its files.
    state = requests.get(f"{w.sandbox_url}/google/_actor/state", timeout=10).json()
    for voter in VOTERS:
        subs = _google(w, "GET", f"courses/{course.external_id}/courseWork/{advance.external_id}/studentSubmissions",
                       voter)
        assert subs.ok, subs.text
        by_link = {s["alternateLink"]: s for s in subs.json()["studentSubmissions"]}
        for sid, _email in STUDENTS:
            link = advance.data["links"][sid]
            form = next(f for f in state["form"] if f["formId"] == forms[sid].external_id)
            assert link in form["info"]["description"]
            assert voter in {p.get("emailAddress") for p in next(
                d for d in state["file"] if d["id"] == forms[sid].external_id)["permissions"]}
            sub = by_link[link]
            assert sub["state"] == "TURNED_IN"
            attachment = sub["assignmentSubmission"]["attachments"][0]
            if kind == "defense":
                assert attachment["driveFile"]["title"] == f"thesis-{sid}.pdf"
                # Turning in gave the thesis to the course's owner (the student keeps a writer's access).
                doc = next(d for d in state["file"] if d["id"] == attachment["driveFile"]["id"])
                roles = {p["emailAddress"]: p["role"] for p in doc["permissions"] if p.get("emailAddress")}
                assert roles[_email] == "writer"
                assert "owner" in roles.values()
                assert roles.get(_email) != "owner"
            else:
                assert attachment["link"]["url"] == f"https://video.univ.edu.kz/{sid}/performance"
        if kind == "defense":
            assert "Unicheck 9%" in form["info"]["description"]

    # Then the commission votes; the ballots decide.
    from lms_bridge.google.steps import degree_options

    for sid, _email in STUDENTS:
        e = forms[sid]
        for voter in VOTERS:
            answers = {e.data["questions"]["grade"]: "A-"}
            if "degree" in e.data["questions"]:
                answers[e.data["questions"]["degree"]] = degree_options(spec.language)[0]
            res = requests.post(f"{w.sandbox_url}/google/_actor/forms/{e.external_id}/responses",
                                json={"email": voter, "answers": answers}, timeout=10)
            assert res.status_code == 200, res.text

    def decided() -> bool:
        with w.sessions() as db:
            return len(list(db.scalars(select(DecisionRecord).where(DecisionRecord.session_id == session.id)))) == 2

    _wait(decided, "the commission's decisions")
    with w.sessions() as db:
        assert {d.letter for d in db.scalars(select(DecisionRecord).where(
            DecisionRecord.session_id == session.id))} == {"A-"}
