"""A sitting of the sample session on the sitting board, in a real Chromium: identification, the draw,
preparation, uploads (one on the student's behalf), the answer queue with its timers, votes arriving
live, an absence for a valid reason (a new slot on the next sitting day), a technical failure (its
act in every member's mail), a refusal, a tie the commission decides, the chair's release and Seal.
Screenshots of the board at phone and desk width."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from .conftest import LiveApp
from .test_provision_in_browser import SAMPLE, _full_page, _sign_in, _wait

pytestmark = pytest.mark.browser

CHAIR = "e.zhumabekov@univ.edu.kz"
MEMBERS = ["g.seitkaliyeva@univ.edu.kz", "d.omarov@univ.edu.kz", "a.baizhanova@univ.edu.kz"]


def _session_file(folder: Path) -> Path:
    """The sample session sitting today: its first answer starts now (after the preparation), and the
    majority rule, so that a vote can tie."""
    zone = ZoneInfo("Asia/Almaty")
    now = datetime.now(zone)
    # Never yesterday: in the first minutes after the local midnight the sitting starts at midnight
    # (a sitting day is the local date; one that started yesterday is not today's).
    start = max(now - timedelta(minutes=50), now.replace(hour=0, minute=0)).replace(second=0, microsecond=0)
    text = SAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"starts_at: .*", f"starts_at: {start.strftime('%Y-%m-%dT%H:%M')}", text, count=1)
    text = text.replace("decision: mean", "decision: majority", 1)
    path = folder / "sitting-today.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _confirm_and_click(driver: Any, row: Any, action: str) -> None:
    from selenium.webdriver.common.by import By

    form = row.find_element(By.CSS_SELECTOR, f'form.board-action:has(button[data-action="{action}"])')
    form.find_element(By.NAME, "confirm").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def _row(driver: Any, ref: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"st-{ref}")


def _stage(driver: Any, ref: str) -> str:
    return str(_row(driver, ref).get_attribute("data-stage"))


def _mark(driver: Any) -> None:
    """Mark the page shown now, so that waiting for the next one cannot see this one's messages."""
    driver.execute_script("document.body.setAttribute('data-old-page', '1')")


def _next_page(driver: Any) -> None:
    _wait(driver, lambda d: d.execute_script("return document.body && !document.body.hasAttribute('data-old-page')"
                                             " && document.readyState === 'complete'"))


def _act(driver: Any, ref: str, action: str) -> None:
    _mark(driver)
    _confirm_and_click(driver, _row(driver, ref), action)
    _next_page(driver)
    errors = [e.text for e in driver.find_elements("css selector", ".flash-error")]
    assert not errors, errors


def _exception(driver: Any, ref: str, kind: str, reason: str, **extra: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    row = _row(driver, ref)
    details = next(d for d in row.find_elements(By.CSS_SELECTOR, "details.row-action")
               if d.find_elements(By.CSS_SELECTOR, "form.exception-form"))
    details.find_element(By.TAG_NAME, "summary").click()
    form = details.find_element(By.CSS_SELECTOR, "form.exception-form")
    Select(form.find_element(By.NAME, "kind")).select_by_value(kind)
    form.find_element(By.NAME, "reason").send_keys(reason)
    if extra.get("chair_consent"):
        form.find_element(By.NAME, "chair_consent").click()
    if extra.get("continuation"):
        Select(form.find_element(By.NAME, "continuation")).select_by_value(extra["continuation"])
    form.find_element(By.NAME, "confirm").click()
    _mark(driver)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _next_page(driver)
    assert not driver.find_elements(By.CSS_SELECTOR, ".flash-error")
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'#st-{ref} [data-exception="{kind}"]'))


def test_a_sitting_on_the_board(live_app: LiveApp, browser: Any, screenshot_dir: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from lms_bridge.app import state
    from lms_bridge.google.steps import degree_options, ticket_key
    from lms_bridge.store.models import (
        DecisionRecord,
        ExamSession,
        JournalEntry,
        OutboxEmail,
        StudentExceptionRecord,
        StudentRecord,
    )

    driver = browser
    sessions = state(live_app.app).sessionmaker
    sandbox = str(state(live_app.app).settings.sandbox_url).rstrip("/")
    _sign_in(driver, live_app)
    driver.find_element(By.ID, "file").send_keys(str(_session_file(tmp_path)))
    driver.find_element(By.ID, "upload-button").click()
    _wait(driver, lambda d: "/sessions/" in d.current_url and d.find_elements(By.ID, "provision-button"))
    session_url = driver.current_url
    driver.find_element(By.ID, "provision-button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "run").get_attribute("data-finished") == "true", seconds=120)
    assert driver.find_element(By.CSS_SELECTOR, "#run [data-run-status]").get_attribute(
        "data-run-status") == "succeeded"

    with sessions() as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        admitted = [(s.student_ref, s.email, s.name) for s in sorted(exam.students, key=lambda s: s.position)
                    if s.admitted and s.active]
        journal = {e.key: e for e in db.scalars(select(JournalEntry).where(JournalEntry.session_id == exam.id))}
    refs = [r for r, _e, _n in admitted]
    s1, s2, s3, s4, s5 = refs[:5]

    # The board: everyone expected; the secretary sets the day's meeting and recording links.
    driver.get(session_url)
    driver.find_element(By.ID, "board-link").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "board-live"))
    board_url = driver.current_url
    assert all(_stage(driver, r) == "expected" for r in refs)
    driver.find_element(By.ID, "meeting_url").send_keys("https://meet.google.com/abc-defg-hij")
    driver.find_element(By.ID, "recording_url").send_keys("https://drive.google.com/file/d/rec-1/view")
    _mark(driver)
    driver.find_element(By.ID, "links-button").click()
    _next_page(driver)
    assert driver.find_elements(By.ID, "meeting-link")
    _wait(driver, lambda d: d.get(board_url) or d.find_elements(By.CSS_SELECTOR, ".links-shown .muted.small"),
          seconds=30)  # posted to the students in Classroom by the worker

    # Identification 30 minutes before: the secretary records each ID shown on camera (s3 does not
    # come: absent for a valid reason, below).
    present = [s1, s2, s4, s5]
    for ref in present:
        _act(driver, ref, "identify")
        assert _stage(driver, ref) == "identified"

    # Admission to the draw, one student at a time: the verifiable draw gives the ticket and Moodle
    # opens it for that student alone.
    for ref in present:
        _act(driver, ref, "admit")
        assert _stage(driver, ref) == "drawn"

    def drawn(which: list[str] = present) -> bool:
        with sessions() as db:
            return all(s.ticket_number is not None for s in db.scalars(select(StudentRecord).where(
                StudentRecord.student_ref.in_(which))))

    assert drawn()
    driver.get(board_url)
    assert _stage(driver, s1) == "drawn"
    assert "done" in _row(driver, s1).find_element(By.CSS_SELECTOR, '[data-field="admission"]').get_attribute("class")
    assert _row(driver, s1).find_elements(By.CSS_SELECTOR, "[data-countdown]")  # preparation counts down
    assert "missing" in _row(driver, s1).find_element(By.CSS_SELECTOR, '[data-field="files"]').get_attribute("class")
    _act(driver, s1, "confirm_receipt")
    assert _stage(driver, s1) == "preparing"

    # s1 uploads in Classroom (the sandbox pushes the turn-in); the board follows without a reload.
    marker = "live-board"
    driver.execute_script("document.body.setAttribute('data-marker', arguments[0])", marker)
    course = journal["classroom.course"].external_id
    with sessions() as db:
        work = db.scalar(select(JournalEntry.external_id).where(JournalEntry.key == ticket_key(s1)))
    base = f"{sandbox}/google/_actor/classroom/courses/{course}/courseWork/{work}/submissions/{admitted[0][1]}"
    for page in (1, 2):
        assert requests.post(f"{base}/attachments", json={"title": f"answer-{page}.jpg"}, timeout=10).ok
    assert requests.post(f"{base}/turnIn", json={}, timeout=10).ok
    _wait(driver, lambda d: _stage(d, s1) == "uploaded", seconds=30)
    assert driver.execute_script("return document.body.getAttribute('data-marker')") == marker

    # s2 sent the sheets by mail: the secretary uploads them on the student's behalf.
    sheet = tmp_path / "s2-answer.pdf"
    sheet.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    row = _row(driver, s2)
    upload = next(d for d in row.find_elements(By.CSS_SELECTOR, "details.row-action")
              if d.find_elements(By.NAME, "files"))
    upload.find_element(By.TAG_NAME, "summary").click()
    upload.find_element(By.NAME, "files").send_keys(str(sheet))
    upload.find_element(By.NAME, "pages").send_keys("2")
    upload.find_element(By.NAME, "confirm").click()
    _mark(driver)
    upload.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _next_page(driver)
    _wait(driver, lambda d: _stage(d, s2) == "uploaded")
    assert "answer-01.pdf" in _row(driver, s2).text
    # Classroom lets only the student attach files: the worker puts the sheet in Drive, shared with
    # the commission, and the board links it.
    _wait(driver, lambda d: d.get(board_url) or _row(d, s2).find_elements(By.CSS_SELECTOR, "a[data-drive]"),
          seconds=30)

    # The answer queue: s1 answers, with the answer and questions timers; s2 is announced next.
    _act(driver, s1, "start_answer")
    assert _stage(driver, s1) == "answering"
    timer = driver.find_element(By.ID, "answer-timer")
    _wait(driver, lambda d: re.search(r"\d+:\d\d", d.find_element(By.ID, "answer-timer").text))
    assert "timer-answer" in timer.get_attribute("class")
    assert driver.find_element(By.ID, "next-up").text == admitted[1][2]
    _full_page(driver, screenshot_dir / "board-desk.png")
    driver.set_window_size(390, 844)
    sideways = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    _full_page(driver, screenshot_dir / "board-phone.png")
    driver.set_window_size(1366, 900)
    assert sideways <= 0, f"the board is {sideways}px wider than a phone's screen"

    from lms_bridge.backends import build_backends
    from lms_bridge.remote import ApiCalls

    google = build_backends(state(live_app.app).settings, ApiCalls()).google
    _wait(driver, lambda d: any(admitted[1][2] in a.get("text", "")
                                for a in google.classroom.list_announcements(course)), seconds=30)
    # One student answers at a time: the board does not offer s2's start while s1 answers.
    assert not _row(driver, s2).find_elements(By.CSS_SELECTOR, 'button[data-action="start_answer"]')
    _act(driver, s1, "finish_answer")
    assert _stage(driver, s1) == "answered"

    # The commission votes on s1 in the forms; the board shows k of n and who has not voted, live.
    def vote(ref: str, email: str, letter: str) -> None:
        e = journal[f"forms.form:{ref}"]
        answers = {e.data["questions"]["grade"]: letter}
        if "degree" in e.data["questions"]:
            answers[e.data["questions"]["degree"]] = degree_options("kk")[0]
        res = requests.post(f"{sandbox}/google/_actor/forms/{e.external_id}/responses",
                            json={"email": email, "answers": answers}, timeout=10)
        assert res.status_code == 200, res.text

    vote(s1, CHAIR, "A")
    _wait(driver, lambda d: _stage(d, s1) == "voting", seconds=30)
    votes_text = _row(driver, s1).find_element(By.CSS_SELECTOR, '[data-field="votes"]').text
    assert "1 / 4" in votes_text  # k of n
    assert "Сейтқалиева" in votes_text  # who has not voted yet
    for email in MEMBERS:
        vote(s1, email, "A")
    _wait(driver, lambda d: _stage(d, s1) == "decided", seconds=30)

    # s2 answers; the vote ties and the chair does not break it: the commission decides.
    _act(driver, s2, "start_answer")
    _act(driver, s2, "finish_answer")
    for email, letter in zip(MEMBERS, ["A", "B", "C"], strict=True):
        vote(s2, email, letter)
    _wait(driver, lambda d: _stage(d, s2) == "voting", seconds=30)
    # Closed on the board: the vote cannot decide; the commission's decision, on the chair's word.
    row = _row(driver, s2)
    _mark(driver)
    row.find_element(By.CSS_SELECTOR, 'button[data-action="close_vote"]').click()
    driver.switch_to.alert.accept()
    _next_page(driver)
    row = _row(driver, s2)
    decision = next(d for d in row.find_elements(By.CSS_SELECTOR, "details.row-action")
                    if d.find_elements(By.NAME, "letter"))
    decision.find_element(By.TAG_NAME, "summary").click()
    decision.find_element(By.NAME, "letter").send_keys("B")
    decision.find_element(By.NAME, "reason").send_keys("Дауыс тең бөлінді; комиссия талқылап, B бағасын қойды")
    decision.find_element(By.NAME, "confirm").click()
    _mark(driver)
    decision.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _next_page(driver)
    assert driver.find_elements(By.CSS_SELECTOR, ".flash-success"), driver.find_element(By.CSS_SELECTOR, ".flash").text
    assert "/board" in driver.current_url
    assert _stage(driver, s2) == "decided"

    # Exceptions, recorded from the board.
    _exception(driver, s3, "absent_valid", "Ауырып қалды; анықтама төрағаға жіберілді", chair_consent="yes")
    _exception(driver, s4, "technical_failure", "Байланыс үзілді, қайта қосылу мүмкін болмады",
               continuation="later")
    _exception(driver, s5, "refused", "Камера алдында жауап беруден бас тартты")
    # The technical failure continues later: a new slot at the end of the day.
    new_slots = driver.find_elements(By.CSS_SELECTOR, f'#board-students [data-student="{s4}"]')
    assert len(new_slots) == 2
    # The absent student sits on the commission's next sitting day, in a new slot there.
    with sessions() as db:
        moved_to = db.scalar(select(StudentExceptionRecord.moved_to).where(
            StudentExceptionRecord.kind == "absent_valid"))
    assert moved_to is not None
    driver.find_element(By.CSS_SELECTOR, f'.board-days a[href$="day={moved_to.isoformat()}"]').click()
    _wait(driver, lambda d: d.find_elements(By.ID, f"st-{s3}"))
    assert _row(driver, s3).find_elements(By.CSS_SELECTOR, ".badge-warn")  # new slot
    _full_page(driver, screenshot_dir / "board-next-day.png")
    # Not its day yet: the board offers no admission to the draw for s3 today.
    assert not _row(driver, s3).find_elements(By.CSS_SELECTOR, 'button[data-action="admit"]')

    # The next sitting day comes (the product's clock moved on by whole days): on that day's board s3
    # is identified, admitted to the draw and draws a ticket there.
    from lms_bridge.results import admission as admission_rules
    from lms_bridge.results import draw as draw_rules
    from lms_bridge.results import sitting as sitting_rules

    zone = ZoneInfo("Asia/Almaty")
    shift = timedelta(days=(moved_to - datetime.now(zone).date()).days)

    class NextDay(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + shift

    for module in (admission_rules, draw_rules, sitting_rules):
        monkeypatch.setattr(module, "datetime", NextDay)
    driver.get(board_url)
    _wait(driver, lambda d: d.find_elements(By.ID, f"st-{s3}"))
    assert moved_to.isoformat() in driver.find_element(By.ID, "board-live").get_attribute("data-url")
    _act(driver, s3, "identify")
    assert _stage(driver, s3) == "identified"
    _act(driver, s3, "admit")
    assert _stage(driver, s3) == "drawn"
    assert drawn([s3])
    monkeypatch.undo()
    # The act of the failure is in every member's mail.
    with sessions() as db:
        acts = [e for e in db.scalars(select(OutboxEmail)) if "failure-act" in str(e.attachments)]
        members = {m.email for m in db.scalar(select(ExamSession)).members if m.active}
    assert {e.recipient for e in acts} == members

    # The others of the day: voted without incident (the board is not needed to show it again).
    for ref in refs[5:]:
        for email in [CHAIR, *MEMBERS]:
            vote(ref, email, "B+")

    def all_decided() -> bool:
        with sessions() as db:
            return len(list(db.scalars(select(DecisionRecord)))) == 2 + len(refs[5:])

    _wait(driver, lambda d: all_decided(), seconds=60)
    driver.get(board_url)
    assert "draft" in _row(driver, s1).text.lower() or _row(driver, s1).find_elements(
        By.CSS_SELECTOR, ".badge-neutral")

    # The chair's release, then Seal; the board shows the sealed day without actions.
    driver.get(session_url)
    driver.find_element(By.CSS_SELECTOR, "#release-form [name=confirm]").click()
    driver.find_element(By.ID, "release-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "released"))
    driver.find_element(By.CSS_SELECTOR, "#seal-form [name=confirm]").click()
    driver.find_element(By.ID, "seal-button").click()
    _wait(driver, lambda d: d.current_url.endswith("/outbox"))
    driver.get(board_url)
    assert not driver.find_elements(By.CSS_SELECTOR, "form.board-action")
    _full_page(driver, screenshot_dir / "board-sealed.png")
