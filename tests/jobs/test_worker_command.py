"""``lms-bridge worker`` as a real process: it consumes the SQLite queue the admin page fills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from lms_bridge.cli import cli
from lms_bridge.config import load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.provisioning import service
from lms_bridge.sessionfile import load_session
from lms_bridge.store import repo
from lms_bridge.store.db import make_engine, make_sessionmaker, transaction
from lms_bridge.store.models import ProvisioningRun
from lms_bridge.store.schema import ensure_schema

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


def test_worker_refuses_the_inline_queue(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["worker"], env={"LMS_BRIDGE_DATA_DIR": str(tmp_path),
                                                      "LMS_BRIDGE_QUEUE_URL": "memory://",
                                                      "LMS_BRIDGE_LANGUAGE": "en"})
    assert result.exit_code == 1
    assert "nothing for a worker to consume" in result.output


def test_worker_process_runs_a_queued_provisioning_run(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_BRIDGE_")}
    env.update(LMS_BRIDGE_DATA_DIR=str(tmp_path), LMS_BRIDGE_LANGUAGE="en")
    settings = load_settings(environ=env)
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    spec = load_session(SAMPLE)
    with transaction(sessions) as db:
        repo.import_session(db, spec, source_name=SAMPLE.name, actor="test")
    jobqueue.configure(settings, engine=engine)
    worker = subprocess.Popen([sys.executable, "-m", "lms_bridge", "worker", "--workers", "1", "--no-periodic"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        run = service.provision(settings, spec.code, sessions=sessions)
        assert run.status == "queued"  # nothing runs it in this process
        deadline = time.monotonic() + 90
        status, error = run.status, ""
        while time.monotonic() < deadline and status in ("queued", "running"):
            time.sleep(0.2)
            with sessions() as db:
                current = db.scalar(select(ProvisioningRun).where(ProvisioningRun.id == run.id))
                assert current is not None
                status, error = current.status, current.error
        assert status == "succeeded", error
    finally:
        worker.send_signal(signal.SIGINT)  # huey's graceful stop
        output, _ = worker.communicate(timeout=30)
        jobqueue.reset()
        engine.dispose()
    assert "Worker started" in output
    assert "provision_session" in output
    assert worker.returncode == 0, output


def test_worker_names_an_unreachable_redis_without_its_password(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(cli, ["worker"], env={
        "LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_LANGUAGE": "en",
        "LMS_BRIDGE_QUEUE_URL": f"redis://:hunter2@127.0.0.1:{port}/0"})
    assert result.exit_code == 1
    assert f"Cannot reach the job queue redis://:***@127.0.0.1:{port}/0" in result.output
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output
