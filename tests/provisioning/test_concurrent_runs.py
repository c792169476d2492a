"""Two provisioning runs of one session started together — two ``lms-bridge provision`` processes, or
one and the admin page's run — against one served Google and Moodle sandbox: exactly one form per
student, a journal that matches the sandbox's state, and the refused run says why."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from lms_bridge import sandbox
from lms_bridge.admin.auth import create_user
from lms_bridge.app import create_app, state
from lms_bridge.config import Settings, load_settings
from lms_bridge.google.steps import P_KIND, P_SESSION, P_STUDENT, TEMPLATE_KIND
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.sessionfile import load_session
from lms_bridge.store import repo
from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
from lms_bridge.store.models import JournalEntry, ProvisioningLease, ProvisioningRun
from lms_bridge.store.schema import ensure_schema

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"
SPEC = load_session(SAMPLE)
BUSY_EXIT = 3


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A sandbox served on loopback (a little latency per Google call, so that runs overlap) and a
    data dir whose store is at the migration head before any process starts."""
    data = tmp_path / "data"
    settings = load_settings(environ={}, data_dir=str(data))
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    engine.dispose()
    url, stop = sandbox.start_server(factory=lambda base: sandbox.create_app_for(
        settings, base_url=base, faults={"latency_ms": 20}))
    yield url, data
    stop()


def _env(url: str, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_BRIDGE_")}
    env.update(LMS_BRIDGE_DATA_DIR=str(data), LMS_BRIDGE_SANDBOX_URL=url, LMS_BRIDGE_LANGUAGE="en",
               LMS_BRIDGE_QUEUE_URL="", LMS_BRIDGE_RUN_HEARTBEAT_SECONDS="1")
    return env


def _cli(url: str, data: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "lms_bridge", "provision", str(SAMPLE), "--json"],
                            env=_env(url, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _store(data: Path) -> Any:
    settings = load_settings(environ={}, data_dir=str(data))
    return make_sessionmaker(make_engine(settings.effective_database_url))


def assert_one_form_per_student_and_journal_matches(url: str, data: Path) -> None:
    with urllib.request.urlopen(url + "/google/_actor/state") as res:
        world = json.load(res)
    admitted = {s.id for s in SPEC.admitted}
    kinds = {f["id"]: f.get("appProperties", {}).get(P_KIND) for f in world.get("file", [])}
    templates = [f for f in world.get("form", []) if kinds.get(f["formId"]) == TEMPLATE_KIND]
    assert len(templates) == 1, "one ballot template per session, copied for each student"
    forms = {f["formId"]: f for f in world.get("form", []) if kinds.get(f["formId"]) != TEMPLATE_KIND}
    assert len(forms) == len(admitted), "a duplicate (or missing) voting form"
    tags = {f["id"]: f.get("appProperties", {}) for f in world.get("file", []) if f["id"] in forms}
    assert sorted(t.get(P_STUDENT) for t in tags.values()) == sorted(admitted)
    assert {t.get(P_SESSION) for t in tags.values()} == {SPEC.code}
    sessions = _store(data)
    with sessions() as db:
        journal = {e.key: e for e in db.scalars(select(JournalEntry).where(JournalEntry.key.startswith("forms.form:")))}
    assert {k.removeprefix("forms.form:") for k in journal} == admitted
    assert {e.external_id for e in journal.values()} == set(forms)
    for entry in journal.values():
        assert entry.data.get("stage") == "published"
        assert forms[entry.external_id]["publishSettings"]["publishState"]["isPublished"] is True
        assert tags[entry.external_id][P_STUDENT] == entry.key.removeprefix("forms.form:")


def _wait_for_lease(data: Path, trigger: str, seconds: float = 60) -> ProvisioningLease:
    sessions = _store(data)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with sessions() as db:
            lease = db.get(ProvisioningLease, SPEC.code)
            if lease is not None and lease.token and lease.trigger == trigger:
                return lease
        time.sleep(0.05)
    raise AssertionError(f"nobody took the lease as {trigger}")


def test_two_provision_commands_started_together_make_one_form_per_student(
        served: tuple[str, Path]) -> None:
    url, data = served
    first, second = _cli(url, data), _cli(url, data)
    results = [(p.wait(timeout=240), *p.communicate()) for p in (first, second)]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, BUSY_EXIT], results
    _code, out, err = next(r for r in results if r[0] == BUSY_EXIT)
    # refused during the winner's import ("started from …") or once its run exists ("run 1, started …")
    assert re.search(rf"Provisioning of session {re.escape(SPEC.code)} is already under way "
                     r"\((run \d+, )?started from the command line on .+ \(process \d+\) at ", err), err
    assert "Traceback" not in err + out
    assert out == ""  # refused before importing or making anything
    _code, out, _err = next(r for r in results if r[0] == 0)
    assert json.loads(out.strip().splitlines()[-1])["status"] == "succeeded"
    assert_one_form_per_student_and_journal_matches(url, data)


@pytest.fixture
def page(served: tuple[str, Path]) -> Iterator[tuple[Flask, FlaskClient]]:
    url, data = served
    settings: Settings = load_settings(environ={}, data_dir=str(data), sandbox_url=url, queue_url="memory://",
                                       default_language="en", run_heartbeat_seconds=1)
    app = create_app(settings, testing=True)
    app.config["WTF_CSRF_ENABLED"] = False
    jobqueue.configure(settings, engine=state(app).engine)  # the immediate queue: the run is the request's
    with transaction(state(app).sessionmaker) as db:
        create_user(db, "secretary", "correct horse battery", language="en")
        repo.import_session(db, SPEC, source_name=SAMPLE.name, actor="test")
    client = app.test_client()
    assert client.post("/login", data={"username": "secretary",
                                       "password": "correct horse battery"}).status_code == 302
    yield app, client
    jobqueue.reset()
    state(app).engine.dispose()


def test_the_page_and_the_command_line_started_together_make_one_form_per_student(
        served: tuple[str, Path], page: tuple[Flask, FlaskClient]) -> None:
    url, data = served
    app, client = page
    # 1. Started together: the command's process and the page's run (in the worker, inline here).
    #    The page's run usually wins (the command's process is still starting); either way exactly
    #    one runs and the other says who holds the session.
    cli = _cli(url, data)
    pages: list[str] = []
    clicked = threading.Thread(target=lambda: pages.append(
        client.post(f"/sessions/{SPEC.code}/provision", follow_redirects=True).get_data(as_text=True)))
    clicked.start()
    code = cli.wait(timeout=240)
    out, err = cli.communicate()
    clicked.join(timeout=240)
    assert len(pages) == 1
    with state(app).sessionmaker() as db:
        runs = {r.trigger: (r.status, r.error) for r in db.scalars(select(ProvisioningRun))}
    if code == BUSY_EXIT:
        assert runs == {"admin": ("succeeded", "")}
        with state(app).sessionmaker() as db:
            page_run = db.scalars(select(ProvisioningRun)).one()
        assert f"is already under way (run {page_run.id}, started from the admin page on " in err
    else:  # the command won: the page refused the click, or its queued run was refused by the worker
        assert code == 0, out + err
        assert runs["cli"][0] == "succeeded"
        refusal = runs["admin"][1] if "admin" in runs else pages[0]
        assert "is already under way" in refusal
        assert "started from the command line on" in refusal
    assert_one_form_per_student_and_journal_matches(url, data)

    # 2. The command first: a click while it runs is refused on the page, naming the command.
    cli = _cli(url, data)
    _wait_for_lease(data, "cli")
    res = client.post(f"/sessions/{SPEC.code}/provision", follow_redirects=True)
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert f"Provisioning of session {SPEC.code} is already under way" in html
    assert "started from the command line on" in html
    code = cli.wait(timeout=240)
    out, err = cli.communicate()
    assert code == 0, out + err
    summary = json.loads(out.strip().splitlines()[-1])
    assert (summary["status"], summary["created"]) == ("succeeded", 0)
    with state(app).sessionmaker() as db:
        last = db.scalars(select(ProvisioningRun).order_by(ProvisioningRun.id.desc())).first()
        assert last is not None
        assert (last.trigger, last.status) == ("cli", "succeeded")
    assert_one_form_per_student_and_journal_matches(url, data)


def test_a_worker_killed_mid_run_leaves_a_run_that_is_retried_at_once(served: tuple[str, Path],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of the worker running the page's run: the run shows as running while the lease's last
    heartbeat is fresh, then as interrupted; Retry then takes over without waiting, and finishes."""
    from lms_bridge.provisioning import service

    monkeypatch.setenv("LMS_BRIDGE_LANGUAGE", "en")  # the refusal below is asserted in English
    url, data = served
    env = {**_env(url, data), "LMS_BRIDGE_RUN_HEARTBEAT_SECONDS": "0.5",
           "LMS_BRIDGE_RUN_LEASE_TIMEOUT_SECONDS": "5"}
    settings = load_settings(environ=env)
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as db:
        repo.import_session(db, SPEC, source_name=SAMPLE.name, actor="test")
    jobqueue.configure(settings, engine=engine)

    def worker() -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "lms_bridge", "worker", "--workers", "1", "--no-periodic"],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)

    def watches() -> int:
        with sessions() as db:
            return len(db.scalars(select(JournalEntry.id).where(JournalEntry.key.startswith("forms.watch:"))).all())

    def shown(run_id: int) -> str:
        with sessions() as db:
            run = db.get(ProvisioningRun, run_id)
            assert run is not None
            return service.run_state(db, run, settings).status

    doomed = worker()
    try:
        run = service.provision(settings, SPEC.code, sessions=sessions)
        deadline = time.monotonic() + 120
        while watches() == 0 and time.monotonic() < deadline:  # the forms are done, the watches under way
            time.sleep(0.02)
        doomed.kill()  # SIGKILL: no finally, no release
        doomed.wait(timeout=30)
        killed_at = time.monotonic()
        with sessions() as db:
            stored = db.get(ProvisioningRun, run.id)
            assert stored is not None
            assert stored.status == "running", "the run finished before the worker was killed"
            assert watches() < len(SPEC.admitted)
        assert shown(run.id) == "running"  # its heartbeat is not a timeout old yet
        with pytest.raises(service.RunRefused, match=f"run {run.id}, started from the admin page"):
            service.provision(settings, SPEC.code, sessions=sessions)
        while shown(run.id) != "interrupted" and time.monotonic() - killed_at < 60:
            time.sleep(0.1)
        # within the loop's minute: the 5 s timeout, not the 30 minutes it used to take
        assert shown(run.id) == "interrupted"
    finally:
        if doomed.poll() is None:
            doomed.kill()
    rescuer = worker()
    try:
        retried = service.provision(settings, SPEC.code, sessions=sessions)  # the Retry button
        assert retried.id != run.id
        deadline = time.monotonic() + 120
        status = retried.status
        while status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
            with sessions() as db:
                current = db.get(ProvisioningRun, retried.id)
                assert current is not None
                status = current.status
        assert status == "succeeded"
        with sessions() as db:
            old = db.get(ProvisioningRun, run.id)
            assert old is not None
            assert old.status == "interrupted"
    finally:
        rescuer.terminate()
        rescuer.wait(timeout=30)
        jobqueue.reset()
        engine.dispose()
    assert_one_form_per_student_and_journal_matches(url, data)
