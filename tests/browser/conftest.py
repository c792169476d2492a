"""A real admin page (threaded werkzeug server on 127.0.0.1, port 0) with the embedded sandboxes
and a job consumer, driven by Debian's headless Chromium through its chromedriver."""

from __future__ import annotations

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


@pytest.fixture
def browser(chrome_paths: tuple[str, str]) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = chrome_paths
    profile = tempfile.mkdtemp(prefix="lms-bridge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", f"--user-data-dir={profile}", "--window-size=1366,900",
                 "--lang=kk"):
        options.add_argument(flag)
    # The page picks its language from Accept-Language before sign-in: ask for Kazakh like a user here.
    options.add_experimental_option("prefs", {"intl.accept_languages": "kk,ru,en"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # LMS_BRIDGE_SCREENSHOTS keeps them somewhere to look at; otherwise pytest's tmp dir.
    wanted = os.environ.get("LMS_BRIDGE_SCREENSHOTS")
    path = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
