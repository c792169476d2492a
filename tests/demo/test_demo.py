"""The embedded default in one process: store, demo login, sample session, sandboxes, the consumer
threads and the admin page under waitress; a sign-in over HTTP and a queued provisioning run."""

from __future__ import annotations

import re
import stat
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import select

from lms_bridge import sandbox
from lms_bridge.config import load_settings
from lms_bridge.demo import LOGIN_FILE, ensure_demo_login, start_demo
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.provisioning import service
from lms_bridge.store.db import make_engine
from lms_bridge.store.models import ProvisioningRun


def _sign_in(http: requests.Session, url: str, username: str, password: str) -> requests.Response:
    page = http.get(f"{url}/login", timeout=10)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    assert token is not None, "the sign-in form carries a CSRF token"
    return http.post(f"{url}/login", data={"csrf_token": token.group(1), "username": username,
                                            "password": password, "next": ""}, timeout=10)


def test_demo_serves_the_admin_page_with_the_sample_session_and_provisions_it(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    demo = start_demo(settings, port=0)
    thread = threading.Thread(target=demo.serve_forever, daemon=True)
    thread.start()
    try:
        assert demo.url.startswith("http://127.0.0.1:")
        assert demo.settings.public_url == demo.url  # the sandboxes' webhooks reach this server
        assert demo.settings.sandbox_url  # the embedded sandboxes are up
        assert requests.get(f"{demo.url}/healthz", timeout=10).status_code == 200

        login_file = tmp_path / LOGIN_FILE
        assert stat.S_IMODE(login_file.stat().st_mode) == 0o600
        http = requests.Session()
        assert _sign_in(http, demo.url, demo.login.username, "not-the-password").status_code == 401
        signed_in = _sign_in(http, demo.url, demo.login.username, demo.login.password)
        assert signed_in.status_code == 200
        sessions_page = http.get(f"{demo.url}/sessions", timeout=10)
        assert demo.session_code in sessions_page.text
        # The sample has an appeal commission, so the demo shows the appeals flow.
        appeals_page = http.get(f"{demo.url}/sessions/{demo.session_code}/appeals", timeout=10)
        assert appeals_page.status_code == 200
        assert "Ахметов Нұрлан Серікұлы" in appeals_page.text

        # The button's path: a run is queued in the SQLite queue and the consumer threads run it.
        run = service.provision(demo.settings, demo.session_code, trigger="admin")
        assert run.status == "queued"
        queue = jobqueue.get_queue()
        assert not queue.immediate
        deadline = time.monotonic() + 60
        status = run.status
        while time.monotonic() < deadline and status in ("queued", "running"):
            time.sleep(0.2)
            with queue.sessions() as db:
                current = db.get(ProvisioningRun, run.id)
                assert current is not None
                status, error = current.status, current.error
        assert status == "succeeded", error
    finally:
        demo.close()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert sandbox._embedded == {}


def test_the_demo_login_is_generated_once_and_kept(tmp_path: Path) -> None:
    from lms_bridge.admin.auth import authenticate
    from lms_bridge.store.db import make_sessionmaker
    from lms_bridge.store.models import User
    from lms_bridge.store.schema import ensure_schema

    settings = load_settings(environ={}, data_dir=str(tmp_path))
    engine = make_engine(settings.effective_database_url)
    try:
        ensure_schema(engine)
        first = ensure_demo_login(settings, engine)
        assert first == ensure_demo_login(settings, engine)
        assert len(first.password) >= 12
        factory = make_sessionmaker(engine)
        with factory() as db:
            assert authenticate(db, first.username, first.password) is not None
        # the kept password is lost: the account gets a new one, written down again
        (tmp_path / LOGIN_FILE).unlink()
        second = ensure_demo_login(settings, engine)
        assert second.password != first.password
        with factory() as db:
            assert authenticate(db, second.username, second.password) is not None
            assert authenticate(db, first.username, first.password) is None
            assert len(list(db.scalars(select(User)))) == 1
    finally:
        engine.dispose()
