"""``lms-bridge provision`` on the sample session against the real Google and Moodle sandboxes: the
embedded default (a sandbox started in-process, state kept in the data dir across runs) and a
separately served sandbox named by LMS_BRIDGE_SANDBOX_URL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lms_bridge import sandbox
from lms_bridge.cli import cli
from lms_bridge.config import load_settings

SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-session.yaml"


def _provision(env: dict[str, str]) -> tuple[int, dict[str, Any], str]:
    result = CliRunner().invoke(cli, ["provision", str(SAMPLE), "--json"],
                                env={"LMS_BRIDGE_LANGUAGE": "en", "LMS_BRIDGE_QUEUE_URL": "", **env})
    lines = result.output.strip().splitlines()
    return result.exit_code, json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}, result.output


def test_embedded_sandbox_provisioning_twice_creates_nothing_the_second_time(tmp_path: Path) -> None:
    env = {"LMS_BRIDGE_DATA_DIR": str(tmp_path)}
    code, first, output = _provision(env)
    assert code == 0, output
    assert first["status"] == "succeeded"
    assert all(step["status"] == "done" for step in first["steps"]), first["steps"]
    names = [step["name"] for step in first["steps"]]
    assert names[:2] == ["core.draw_commitment", "core.timetable"]
    assert any(n.startswith("google.") for n in names)
    assert any(n.startswith("moodle.") for n in names)
    assert first["created"] > 0
    assert first["api_calls"]["classroom"] > 0
    assert first["api_calls"]["forms"] > 0
    assert first["api_calls"]["moodle"] > 0
    assert sandbox._embedded == {}, "the command stops the sandbox it started"
    assert (tmp_path / "sandbox" / "google").is_dir()
    assert (tmp_path / "sandbox" / "moodle").is_dir()

    code, second, output = _provision(env)  # a new sandbox server, the same saved world
    assert code == 0, output
    assert second["created"] == 0
    assert second["status"] == "succeeded"
    assert sum(second["api_calls"].values()) < sum(first["api_calls"].values())


def test_a_separately_served_sandbox_is_used_when_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       ) -> None:
    def no_embedded(settings: Any) -> str:
        raise AssertionError("an embedded sandbox was started although one is named")

    monkeypatch.setattr(sandbox, "start_embedded", no_embedded)
    settings = load_settings(environ={}, data_dir=str(tmp_path))
    url, stop = sandbox.start_server(factory=lambda base: sandbox.create_app_for(settings, base_url=base))
    try:
        code, summary, output = _provision({"LMS_BRIDGE_DATA_DIR": str(tmp_path),
                                            "LMS_BRIDGE_SANDBOX_URL": url})
        assert code == 0, output
        assert summary["created"] > 0
    finally:
        stop()
