"""Closing the exam day in a real Chromium: one student absent for a valid reason, the chair's release,
Seal, and the page leading to the documents afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveApp
from .test_provision_in_browser import SAMPLE, _full_page, _sign_in, _wait

pytestmark = pytest.mark.browser


def test_mark_a_student_absent_release_and_seal(live_app: LiveApp, browser: Any, screenshot_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from sqlalchemy import select

    from lms_bridge.app import state
    from lms_bridge.store.db import transaction
    from lms_bridge.store.models import DecisionRecord, ExamSession, StudentRecord

    driver = browser
    _sign_in(driver, live_app)
    driver.find_element(By.ID, "file").send_keys(str(SAMPLE))
    driver.find_element(By.ID, "upload-button").click()
    _wait(driver, lambda d: "/sessions/" in d.current_url and d.find_elements(By.ID, "provision-button"))
    page_url = driver.current_url

    # The sitting happened: everyone admitted but the first student has a decision.
    with transaction(state(live_app.app).sessionmaker) as db:
        exam = db.scalar(select(ExamSession))
        assert exam is not None
        exam.status = "provisioned"
        admitted = list(db.scalars(select(StudentRecord).where(StudentRecord.admitted.is_(True))
                                   .order_by(StudentRecord.position)))
        absent_id = admitted[0].id
        for st in admitted[1:]:
            db.add(DecisionRecord(session_id=exam.id, student_id=st.id, rule="mean", letter="B+", points=87.0,
                                  gpa=3.33, votes={}))
    driver.get(page_url)

    # Seal is not offered before the release.
    assert not driver.find_element(By.ID, "seal-button").is_enabled()

    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-student="{absent_id}"]')
    row.find_element(By.CSS_SELECTOR, "details.row-action summary").click()
    form = row.find_element(By.CSS_SELECTOR, "form.exception-form")
    Select(form.find_element(By.NAME, "kind")).select_by_value("absent_valid")
    form.find_element(By.NAME, "reason").send_keys("Ауырып қалды; анықтама төрағаға жіберілді")
    form.find_element(By.NAME, "chair_consent").click()
    form.find_element(By.NAME, "confirm").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f'tr[data-student="{absent_id}"] [data-exception]'))
    exception = driver.find_element(By.CSS_SELECTOR, f'tr[data-student="{absent_id}"] [data-exception]')
    assert "Ауырып қалды" in exception.text
    _full_page(driver, screenshot_dir / "exception-recorded.png")

    # The chair's release: the box says what it does, the button does it.
    release = driver.find_element(By.ID, "release-form")
    assert "Moodle" in release.text
    release.find_element(By.NAME, "confirm").click()
    driver.find_element(By.ID, "release-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "released"))

    seal = driver.find_element(By.ID, "seal-form")
    seal.find_element(By.NAME, "confirm").click()
    driver.find_element(By.ID, "seal-button").click()
    _wait(driver, lambda d: d.current_url.endswith("/outbox"))
    assert "protocol" in driver.page_source

    driver.get(page_url)
    documents = driver.find_element(By.ID, "documents-button")
    assert documents.is_displayed()
    assert not driver.find_elements(By.ID, "provision-button")
    _full_page(driver, screenshot_dir / "sealed-session.png")
