"""Sign in, upload the sample session, click Provision session and watch every step finish, in a real
Chromium against the real app, worker and sandboxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import PASSWORD, USERNAME, LiveApp, screenshots_wanted

pytestmark = pytest.mark.browser

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


def _wait(driver: Any, condition: Any, seconds: float = 60) -> Any:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d: Any) -> Any:
        try:
            return condition(d)
        except WebDriverException as exc:
            # Chromium's words for an element of a document the page replaced while it was being
            # read (a reload mid-look, on a busy machine); selenium raises it as a generic error,
            # not as a stale reference, so it is told apart by its message.
            if "does not belong to the document" in str(exc):
                return False
            raise

    # The page reloads itself (after a run, after a click): elements found a moment ago may be gone.
    return WebDriverWait(driver, seconds, poll_frequency=0.1,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
                         ).until(settled)


def _screenshot(driver: Any, path: Path) -> None:
    """A screenshot of the window, when someone will look at it (LMS_BRIDGE_SCREENSHOTS names where):
    no assertion reads them, and each costs Chromium a second of rendering and encoding."""
    if screenshots_wanted():
        driver.save_screenshot(str(path))


def _full_page(driver: Any, path: Path) -> None:
    """A screenshot of the whole page (the window stretched to the page's height for a moment), when
    someone will look at it (see ``_screenshot``)."""
    if not screenshots_wanted():
        return
    width, height = driver.get_window_size()["width"], driver.get_window_size()["height"]
    driver.execute_script("window.scrollTo(0, 0)")
    driver.set_window_size(width, min(6000, driver.execute_script("return document.body.scrollHeight")))
    driver.save_screenshot(str(path))
    driver.set_window_size(width, height)


def _sign_in(driver: Any, app: LiveApp) -> None:
    from selenium.webdriver.common.by import By

    driver.get(app.url + "/sessions")
    assert "/login" in driver.current_url  # the guard sends us to sign in
    driver.find_element(By.ID, "username").send_keys(USERNAME)
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.ID, "sign-in").click()
    flash = _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".flash-error"))
    assert flash.text == "Пайдаланушы аты немесе құпиясөз қате."
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(USERNAME)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    _wait(driver, lambda d: d.current_url.endswith("/sessions"))


def test_sign_in_upload_and_provision(live_app: LiveApp, browser: Any, screenshot_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _sign_in(driver, live_app)
    assert driver.find_element(By.TAG_NAME, "h1").text == "Аттестаттау сессиялары"

    # Upload a broken copy first: the problems show, nothing is stored.
    broken = screenshot_dir / "broken-session.yaml"
    broken.write_text(SAMPLE.read_text(encoding="utf-8").replace("role: chair", "role: boss", 1),
                      encoding="utf-8")
    driver.find_element(By.ID, "file").send_keys(str(broken))
    driver.find_element(By.ID, "upload-button").click()
    problems = _wait(driver, lambda d: d.find_element(By.ID, "problems"))
    assert "broken-session.yaml" in problems.text
    assert "boss" in problems.text
    assert not driver.find_elements(By.ID, "sessions-table")

    driver.find_element(By.ID, "file").send_keys(str(SAMPLE))
    driver.find_element(By.ID, "upload-button").click()
    _wait(driver, lambda d: "/sessions/" in d.current_url and d.find_elements(By.ID, "provision-button"))
    assert driver.find_elements(By.CSS_SELECTOR, "#students tbody tr[data-student]")
    assert driver.find_element(By.ID, "draw-commitment").text.strip()

    driver.find_element(By.ID, "provision-button").click()
    panel = _wait(driver, lambda d: d.find_element(By.ID, "run"))
    steps = panel.find_elements(By.CSS_SELECTOR, "[data-step]")
    assert len(steps) >= 3
    seen_statuses: set[str] = set()

    def finished(d: Any) -> bool:
        run = d.find_element(By.ID, "run")
        for li in run.find_elements(By.CSS_SELECTOR, "[data-step]"):
            seen_statuses.add(li.get_attribute("class"))
        return run.get_attribute("data-finished") == "true"

    _wait(driver, finished, seconds=120)
    _screenshot(driver, screenshot_dir / "provision-finished.png")
    status = driver.find_element(By.CSS_SELECTOR, "#run [data-run-status]")
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#run [data-step-error]") if e.text]
    assert status.get_attribute("data-run-status") == "succeeded", errors
    # The page reloads itself once the run is over: the link to the created resources shows.
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#journal a[href$="/journal"]'), seconds=30)
    items = driver.find_elements(By.CSS_SELECTOR, "#run [data-step]")
    assert all("step-done" in li.get_attribute("class") for li in items)
    # Folded away once succeeded: read the text even where it is not displayed.
    titles = [li.find_element(By.CSS_SELECTOR, ".step-title").get_attribute("textContent") for li in items]
    assert all(t and "." not in t.split()[0] for t in titles), titles  # translated titles, not step names
    assert driver.find_element(By.ID, "session-status").text == "Дайындалды"
    _full_page(driver, screenshot_dir / "session-provisioned.png")
    # At phone width the page never scrolls sideways: a wide table scrolls inside its own box.
    driver.set_window_size(390, 844)
    sideways = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    _screenshot(driver, screenshot_dir / "session-phone.png")
    wide = driver.execute_script(
        "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
        ".filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > w + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)")
    driver.set_window_size(1366, 900)
    assert sideways <= 0, f"the session page is {sideways}px wider than a phone's screen: {wide}"

    # Votes and submissions arrive (the webhooks' work): the students table follows without a reload.
    _student_progress_arrives(driver, live_app)

    # The language switch works on every page.
    driver.find_element(By.CSS_SELECTOR, '.langswitch button[data-lang="ru"]').click()
    _wait(driver, lambda d: d.find_element(By.ID, "provision-button").text == "Подготовить сессию")
    driver.find_element(By.CSS_SELECTOR, '.langswitch button[data-lang="en"]').click()
    _wait(driver, lambda d: d.find_element(By.ID, "provision-button").text == "Provision session")

    # A second provisioning creates nothing new.
    driver.find_element(By.ID, "provision-button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "run").get_attribute("data-finished") == "true"
          and "Provisioning run 2" in d.find_element(By.CSS_SELECTOR, "#run h2").text, seconds=120)
    summary = driver.find_element(By.CSS_SELECTOR, "#run [data-run-summary]").text
    assert "; 0 created," in summary, summary
    _full_page(driver, screenshot_dir / "second-run.png")
    driver.get(live_app.url + "/sessions")
    _full_page(driver, screenshot_dir / "sessions.png")


def _student_progress_arrives(driver: Any, app: LiveApp) -> None:
    # On the sitting day the secretary starts the draw; the worker draws and the tickets appear live.
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from selenium.webdriver.common.by import By
    from sqlalchemy import select

    from lms_bridge.app import state
    from lms_bridge.store.db import transaction
    from lms_bridge.store.models import DecisionRecord, ExamSession, StudentRecord

    with transaction(state(app.app).sessionmaker) as db:
        for exam in db.scalars(select(ExamSession)):
            zone = ZoneInfo(exam.timezone)
            exam.starts_at = datetime.combine(datetime.now(zone).date(), time(0, 1), tzinfo=zone)
    driver.find_element(By.ID, "draw-button").click()
    # The page first says what the draw will do and asks to confirm.
    alert = driver.switch_to.alert
    assert "билет" in alert.text.lower()
    alert.accept()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".flash-success"), seconds=20)
    marker = "live-" + str(id(driver))
    driver.execute_script("document.body.setAttribute('data-marker', arguments[0])", marker)
    admitted_rows = 'tr[data-student]:not(.row-muted) [data-field="ticket"]'

    def all_drawn(d: Any) -> bool:
        cells = d.find_elements(By.CSS_SELECTOR, admitted_rows)
        return bool(cells) and all(c.text.strip().isdigit() for c in cells)

    _wait(driver, all_drawn, seconds=60)
    tickets = [int(c.text) for c in driver.find_elements(By.CSS_SELECTOR, admitted_rows)]
    assert len(set(tickets)) == len(tickets)  # no ticket twice while others are left

    # A decision arrives (the tally's work): it shows without a reload.
    with transaction(state(app.app).sessionmaker) as db:
        student = db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))
                             .order_by(StudentRecord.position)).first()
        assert student is not None
        student.files_received, student.status = 3, "decided"
        db.add(DecisionRecord(session_id=student.session_id, student_id=student.id, rule="mean", letter="A-",
                              points=91.5, gpa=3.67, votes={}))
        row_id = student.id
    row = f'tr[data-student="{row_id}"]'
    _wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, row + ' [data-field="decision"]').text
          .startswith("A- 91.5"), seconds=20)
    assert driver.find_element(By.CSS_SELECTOR, row + ' [data-field="answers"]').text == "3 файл"
    assert driver.find_element(By.CSS_SELECTOR, row + ' [data-field="status"]').text == "Шешім қабылданды"
    # Updated in place, not by reloading the page.
    assert driver.execute_script("return document.body.getAttribute('data-marker')") == marker


@pytest.mark.parametrize("live_app", [{"moodle_token": "not-the-sandbox-token"}], indirect=True)
def test_failure_in_plain_words_and_retry(live_app: LiveApp, browser: Any, screenshot_dir: Path) -> None:
    from dataclasses import replace

    from selenium.webdriver.common.by import By

    from lms_bridge.app import state
    from lms_bridge.config import Secret

    driver = browser
    _sign_in(driver, live_app)
    driver.find_element(By.ID, "file").send_keys(str(SAMPLE))
    driver.find_element(By.ID, "upload-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "provision-button"))
    driver.find_element(By.ID, "provision-button").click()
    _wait(driver, lambda d: d.find_element(By.ID, "run").get_attribute("data-finished") == "true", seconds=120)
    _wait(driver, lambda d: d.find_element(By.ID, "retry-button").is_displayed(), seconds=30)
    # The page reloads itself once the run is over: read the failed steps in one go, again if it did.
    failed = _wait(driver, lambda d: [li.find_element(By.CSS_SELECTOR, "[data-step-error]").text
                                      for li in d.find_elements(By.CSS_SELECTOR, "#run .step-failed")])
    assert len(failed) == 1
    message = failed[0]
    assert "Moodle" in message
    assert "Traceback" not in message
    assert "not-the-sandbox-token" not in driver.page_source  # a secret never reaches the page
    assert driver.find_elements(By.CSS_SELECTOR, "#run .step-done")  # the Google steps got through
    assert driver.find_elements(By.CSS_SELECTOR, "#run .step-skipped")
    _full_page(driver, screenshot_dir / "provision-failed.png")

    # The secretary fixes the token (here: the running worker gets the right one) and clicks Retry.
    good = replace(live_app.queue.settings, moodle=replace(live_app.queue.settings.moodle,
                                                          token=Secret("sandbox-token")))
    live_app.queue.settings = good
    state(live_app.app).settings = good
    _wait(driver, lambda d: d.find_element(By.ID, "retry-button").click() or True)
    _wait(driver, lambda d: "2" in d.find_element(By.CSS_SELECTOR, "#run h2").text
          and d.find_element(By.ID, "run").get_attribute("data-finished") == "true", seconds=120)
    status = driver.find_element(By.CSS_SELECTOR, "#run [data-run-status]")
    assert status.get_attribute("data-run-status") == "succeeded"
    # The retry resumed: what the first run made was reused, not made again.
    counts = {li.get_attribute("data-step"):
              li.find_element(By.CSS_SELECTOR, "[data-step-counts]").get_attribute("textContent")
              for li in driver.find_elements(By.CSS_SELECTOR, "#run [data-step]")}
    assert counts["google.classroom.course"].startswith("құрылғаны: 0,"), counts
    assert not counts["moodle.users"].startswith("құрылғаны: 0,"), counts
