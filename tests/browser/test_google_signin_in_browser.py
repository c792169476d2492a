"""Sign in with Google in a real Chromium, the Google sandbox acting as the identity provider: the
secretary, the chair, a member, the head of department, a person of the university with no part in
the session, and someone from outside the university's domain.  Each sees and may do what their role
allows, and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveApp
from .test_provision_in_browser import SAMPLE, _full_page, _wait

pytestmark = pytest.mark.browser

CODE = "FA-2026-6B06102-IS21"
DOMAIN = "univ.edu.kz"


def _import_sample(live_app: LiveApp) -> None:
    from lms_bridge.app import state
    from lms_bridge.sessionfile import read_session_file
    from lms_bridge.store.db import transaction
    from lms_bridge.store.repo import import_session

    spec, problems = read_session_file(SAMPLE)
    assert spec is not None, problems
    with transaction(state(live_app.app).sessionmaker) as db:
        import_session(db, spec, source_name=SAMPLE.name, actor="test")


def _google_sign_in(driver: Any, live_app: LiveApp, email: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(live_app.url + "/login")
    driver.find_element(By.ID, "sign-in-google").click()
    # The sandbox's account chooser (Google's own page in production).
    _wait(driver, lambda d: d.find_elements(By.ID, "account"))
    assert "accounts.google.com/o/oauth2/v2/auth" in driver.current_url
    driver.find_element(By.ID, "account").send_keys(email)
    driver.find_element(By.ID, "continue").click()
    # Back on the product: signed in (a page with "Sign out") or refused (the sign-in page with why).
    _wait(driver, lambda d: d.current_url.startswith(live_app.url) and (
        d.find_elements(By.ID, "sign-out") or d.find_elements(By.CSS_SELECTOR, ".flash-error")))


def _post_status(driver: Any, path: str) -> int:
    """POST an action from the signed-in page as its form would (with the CSRF token); the status."""
    return int(driver.execute_async_script(
        """const token = document.querySelector('input[name=csrf_token]').value;
           const done = arguments[arguments.length - 1];
           fetch(arguments[0], {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
                                body: 'csrf_token=' + encodeURIComponent(token), redirect: 'manual'})
             .then(r => done(r.status));""", path))


@pytest.mark.parametrize("live_app", [{"signin_domains": DOMAIN}], indirect=True)
def test_each_person_signs_in_with_google_and_sees_what_they_may(live_app: LiveApp, browser: Any,
                                                                 screenshot_dir: Path) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.set_script_timeout(20)
    _import_sample(live_app)
    session_url = f"{live_app.url}/sessions/{CODE}"

    # The technical secretary: the session is in their list, with every button of the sitting.
    _google_sign_in(driver, live_app, "m.tursynbayeva@univ.edu.kz")
    assert driver.find_elements(By.ID, "sign-out")
    assert CODE in driver.page_source
    driver.get(session_url)
    for shown in ("provision-button", "draw-button", "release-form", "seal-form", "identify-form"):
        assert driver.find_elements(By.ID, shown), shown
    assert driver.find_elements(By.CSS_SELECTOR, '[data-role="secretary"]')
    _full_page(driver, screenshot_dir / "google-secretary.png")

    # The chair: the board read-only, the release, no seal, no draw; the server refuses the seal too.
    _google_sign_in(driver, live_app, "e.zhumabekov@univ.edu.kz")
    driver.get(session_url)
    assert driver.find_elements(By.ID, "release-form")
    for hidden in ("seal-form", "draw-button", "provision-button"):
        assert not driver.find_elements(By.ID, hidden), hidden
    assert _post_status(driver, f"/sessions/{CODE}/seal") == 403
    assert _post_status(driver, f"/sessions/{CODE}/draw") == 403
    _full_page(driver, screenshot_dir / "google-chair.png")

    # A member: the student list and their own ballots, nothing else.
    _google_sign_in(driver, live_app, "g.seitkaliyeva@univ.edu.kz")
    driver.get(session_url)
    assert driver.find_elements(By.ID, "students")
    assert driver.find_elements(By.ID, "my-ballots")
    for hidden in ("sitting", "tickets", "commission", "journal", "provision-button"):
        assert not driver.find_elements(By.ID, hidden), hidden
    assert _post_status(driver, f"/sessions/{CODE}/release") == 403
    driver.get(f"{live_app.url}/sessions/{CODE}/journal")
    assert "403" in driver.title or driver.find_elements(By.CSS_SELECTOR, ".error-card")
    _full_page(driver, screenshot_dir / "google-member.png")

    # The head of department: the session read-only, and records that the commission was identified.
    _google_sign_in(driver, live_app, "b.kemelbayev@univ.edu.kz")
    driver.get(session_url)
    for hidden in ("seal-form", "release-form", "draw-button", "provision-button"):
        assert not driver.find_elements(By.ID, hidden), hidden
    form = driver.find_element(By.ID, "identify-form")
    form.find_element(By.NAME, "confirm").click()
    driver.find_element(By.ID, "identify-button").click()
    _wait(driver, lambda d: d.find_elements(By.ID, "identified"))
    assert _post_status(driver, f"/sessions/{CODE}/seal") == 403

    # A person of the university with no part in this session: signed in, but the session is not theirs.
    _google_sign_in(driver, live_app, "someone.else@univ.edu.kz")
    assert driver.find_elements(By.ID, "sign-out")
    assert CODE not in driver.page_source
    driver.get(session_url)
    assert driver.find_elements(By.CSS_SELECTOR, ".error-card")
    assert "Тұрсынбаева" not in driver.page_source

    # Someone outside the university's domain: refused at the door.
    _google_sign_in(driver, live_app, "visitor@gmail.com")
    assert "/login" in driver.current_url
    assert not driver.find_elements(By.ID, "sign-out")
    assert DOMAIN in driver.find_element(By.CSS_SELECTOR, ".flash-error").text
    _full_page(driver, screenshot_dir / "google-outsider.png")
    driver.get(session_url)
    assert "/login" in driver.current_url
