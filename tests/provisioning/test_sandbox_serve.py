"""``lms-bridge sandbox serve`` as a process: both mounts answer, and each Google request received
goes to the request log."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests


def test_sandbox_serve_mounts_google_and_moodle_and_logs_requests(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMS_BRIDGE_")}
    env.update(LMS_BRIDGE_DATA_DIR=str(tmp_path), LMS_BRIDGE_LANGUAGE="en")
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "lms_bridge", "sandbox", "serve", "--port", "0",
                             "--request-log", str(log)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
        assert match, first
        url = match.group(1)
        assert requests.get(url + "/", timeout=10).json() == {
            "google": "/google/", "moodle": "/moodle/webservice/rest/server.php"}
        moodle = requests.post(url + "/moodle/webservice/rest/server.php", timeout=10, data={
            "wstoken": "wrong", "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"})
        assert moodle.status_code == 200
        assert moodle.json()["errorcode"] == "invalidtoken"
        google = requests.get(url + "/google/classroom.googleapis.com/v1/courses", timeout=10)
        assert google.status_code == 401
        assert (tmp_path / "sandbox" / "google" / "service-account.json").is_file()
        key = json.loads((tmp_path / "sandbox" / "google" / "service-account.json").read_text())
        assert key["token_uri"].startswith(url + "/google/")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(entry["method"] == "GET" and "/v1/courses" in entry["path"] for entry in lines)
