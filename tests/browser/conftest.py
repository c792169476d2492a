"""A real admin page (threaded werkzeug server on 127.0.0.1, port 0) with the embedded sandboxes
and a job consumer, driven by Debian's headless Chromium through its chromedriver."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from lms_bridge.config import load_settings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
USERNAME = "secretary"
PASSWORD = "browser-test-password"


def _browser_present() -> bool:
    return (Path(CHROMIUM).is_file() or shutil.which("chromium") is not None) and (
        Path(CHROMEDRIVER).is_file() or shutil.which("chromedriver") is not None)


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    if not _browser_present():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI is set but chromium/chromedriver are not installed "
                        "(apt-get install -y chromium chromium-driver)")
        pytest.skip("chromium and chromium-driver are not installed")
    chromium = CHROMIUM if Path(CHROMIUM).is_file() else str(shutil.which("chromium"))
    driver = CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else str(shutil.which("chromedriver"))
    return chromium, driver


@dataclass
class LiveApp:
    url: str
    data_dir: Path
    app: Any
    queue: Any


@pytest.fixture
def live_app(tmp_path: Path, chrome_paths: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    """The app, its worker and the sandboxes.  Parametrized indirectly with ``{"moodle_token": "x"}``
    it gives Moodle a token the sandbox refuses (a provisioning that fails part-way)."""
    from lms_bridge.admin.auth import create_user
    from lms_bridge.app import create_app, state
    from lms_bridge.config import Secret
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.sandbox import effective_settings, start_server, stop_embedded
    from lms_bridge.store.db import transaction

    options: dict[str, Any] = getattr(request, "param", None) or {}
    data_dir = tmp_path / "data"
    base = load_settings(environ={}, data_dir=str(data_dir), default_language="kk")
    if "signin_domains" in options:
        base = replace(base, google=replace(base.google, signin_domains=options["signin_domains"]))
    holder: dict[str, Any] = {}

    def factory(url: str) -> Any:
        # The webhooks' public URL is this server, known only once the port is bound.
        settings = effective_settings(replace(base, public_url=url))
        if "moodle_token" in options:
            settings = replace(settings, moodle=replace(settings.moodle, token=Secret(options["moodle_token"])))
        app = create_app(settings)
        queue = jobqueue.configure(settings, engine=state(app).engine)
        consumer = queue.consumer(workers=2, periodic=False, embedded=True)
        consumer.start()
        holder.update(app=app, consumer=consumer, queue=queue)
        with transaction(state(app).sessionmaker) as db:
            create_user(db, USERNAME, PASSWORD, display_name="Айгүл Сейітова", language="kk")
        return app

    url, stop = start_server(factory=factory)
    try:
        yield LiveApp(url=url, data_dir=data_dir, app=holder["app"], queue=holder["queue"])
    finally:
        stop()
        if "consumer" in holder:
            holder["consumer"].stop(graceful=True)
        jobqueue.reset()
        stop_embedded()
        if "app" in holder:
            state(holder["app"]).engine.dispose()


WINDOW = (1366, 900)


class _Chromium:
    """One headless Chromium (and its chromedriver) per test process, started at the first browser
    test: starting one costs more than most browser steps.  Each test gets it blank (see ``browser``)."""

    def __init__(self, chrome_paths: tuple[str, str]) -> None:
        self.chrome_paths = chrome_paths
        self.driver: Any = None
        self.profile = ""

    def start(self) -> Any:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver_path = self.chrome_paths
        self.profile = tempfile.mkdtemp(prefix="lms-bridge-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={self.profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                     "--lang=kk"):
            options.add_argument(flag)
        # The page picks its language from Accept-Language before sign-in: ask for Kazakh like a user here.
        options.add_experimental_option("prefs", {"intl.accept_languages": "kk,ru,en"})
        self.driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        self.driver.set_page_load_timeout(30)
        return self.driver

    def blank(self) -> Any:
        """The browser as a new one would be: one blank tab of the usual size, no cookies, no storage,
        no cache (every live app is on 127.0.0.1, and a cookie does not care about the port)."""
        from selenium.common.exceptions import NoAlertPresentException

        if self.driver is None:
            return self.start()
        try:
            driver = self.driver
            with contextlib.suppress(NoAlertPresentException):
                driver.switch_to.alert.dismiss()
            handles = driver.window_handles
            for handle in handles[1:]:
                driver.switch_to.window(handle)
                driver.close()
            driver.switch_to.window(handles[0])
            driver.get("about:blank")
            driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
            driver.execute_cdp_cmd("Network.clearBrowserCache", {})
            driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": "*", "storageTypes": "all"})
            driver.set_window_size(*WINDOW)
            return driver
        except Exception:  # a browser left in a state it cannot be brought back from: a new one
            self.stop()
            return self.start()

    def stop(self) -> None:
        if self.driver is not None:
            try:
                self.driver.quit()
            finally:
                self.driver = None
                shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="session")
def _chromium(chrome_paths: tuple[str, str]) -> Iterator[_Chromium]:
    chromium = _Chromium(chrome_paths)
    yield chromium
    chromium.stop()


@pytest.fixture
def browser(_chromium: _Chromium) -> Iterator[object]:
    """The process's Chromium, blank: no cookies, storage or cache of an earlier test, one tab."""
    driver = _chromium.blank()
    yield driver
    # Leave the page before the test's server stops, so no script of it keeps calling a closed port.
    with contextlib.suppress(Exception):
        driver.get("about:blank")


SCREENSHOTS_ENV = "LMS_BRIDGE_SCREENSHOTS"


def screenshots_wanted() -> bool:
    """Are the browser tests' screenshots kept somewhere to look at?  Only then are they taken."""
    return bool(os.environ.get(SCREENSHOTS_ENV))


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # LMS_BRIDGE_SCREENSHOTS keeps them somewhere to look at; otherwise pytest's tmp dir.
    wanted = os.environ.get("LMS_BRIDGE_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
