"""The sandbox server helpers and the switch between sandbox and live services."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lms_bridge import backends, sandbox
from lms_bridge.cli import cli
from lms_bridge.config import load_settings


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_start_server_serves_on_an_ephemeral_loopback_port_and_stops() -> None:
    url, stop = sandbox.start_server(_hello)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert _get(url + "/x/y") == "|/x/y"
    finally:
        stop()
    stop()  # a second stop is harmless
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as s:
        s.settimeout(1)
        with pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))


def test_start_server_builds_the_app_once_the_url_is_known() -> None:
    seen: list[str] = []

    def factory(url: str) -> Any:
        seen.append(url)
        return _hello

    url, stop = sandbox.start_server(factory=factory)
    try:
        assert seen == [url]
        assert _get(url + "/ok") == "|/ok"
    finally:
        stop()
    with pytest.raises(TypeError):
        sandbox.start_server()


def test_live_services_need_no_sandbox(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path), google={
        "mode": "live", "service_account_file": "/etc/sa.json", "delegated_user": "sec@uni.kz"},
        moodle={"url": "https://moodle.uni.kz", "token": "t0k3n"})
    assert not sandbox.needs_sandbox(settings)
    assert sandbox.effective_settings(settings) is settings


def test_a_separately_served_sandbox_is_used_instead_of_starting_one(tmp_path: Path) -> None:
    settings = load_settings(environ={"LMS_BRIDGE_SANDBOX_URL": "http://127.0.0.1:8900/"},
                             data_dir=str(tmp_path))
    resolved = sandbox.effective_settings(settings)
    assert resolved.sandbox_url == "http://127.0.0.1:8900"
    assert resolved.moodle.url == "http://127.0.0.1:8900/moodle"
    assert resolved.moodle.token.reveal() == backends.SANDBOX_MOODLE_TOKEN
    assert sandbox._embedded == {}


def test_a_live_moodle_keeps_its_url_beside_the_google_sandbox(tmp_path: Path) -> None:
    settings = load_settings(environ={"LMS_BRIDGE_SANDBOX_URL": "http://127.0.0.1:8900"},
                             data_dir=str(tmp_path), moodle={"url": "https://moodle.uni.kz", "token": "real"})
    resolved = sandbox.effective_settings(settings)
    assert resolved.moodle.url == "https://moodle.uni.kz"
    assert resolved.moodle.token.reveal() == "real"
    assert resolved.sandbox_url == "http://127.0.0.1:8900"


def test_webhook_wiring_follows_the_public_url(tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=str(tmp_path), public_url="https://bridge.uni.kz/",
                             moodle={"webhook_secret": "s3cret"})
    assert sandbox.push_endpoint(settings) == "https://bridge.uni.kz/webhooks/google/pubsub"
    assert sandbox.moodle_webhook_url(settings) == "https://bridge.uni.kz/webhooks/moodle"
    assert sandbox.webhook_secret(settings) == "s3cret"
    plain = load_settings(environ={}, data_dir=str(tmp_path))
    assert sandbox.webhook_secret(plain) == sandbox.SANDBOX_WEBHOOK_SECRET


def test_fault_options_become_the_google_sandbox_fault_settings() -> None:
    assert sandbox._parse_faults(0.0, "429,500", 0, 0.0) is None
    assert sandbox._parse_faults(0.1, "429,500", 0, 0.0) == {"rate_429": 0.05, "rate_500": 0.05}
    assert sandbox._parse_faults(0.2, "500", 150, 0.01) == {"rate_500": 0.2, "rate_timeout": 0.01,
                                                            "latency_ms": 150}
    with pytest.raises(ValueError, match="503"):
        sandbox._parse_faults(0.1, "503", 0, 0.0)


def test_sandbox_serve_refuses_unknown_fault_statuses(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sandbox", "serve", "--port", "0", "--fault-rate", "0.1",
                                      "--fault-statuses", "418"],
                                env={"LMS_BRIDGE_DATA_DIR": str(tmp_path), "LMS_BRIDGE_LANGUAGE": "en"})
    assert result.exit_code == 2
    assert "--fault-statuses" in result.output


def test_product_code_starts_no_sandbox_unless_the_top_of_the_program_hands_it_a_starter(
        tmp_path: Path) -> None:
    from lms_bridge.config import ConfigError

    settings = load_settings(environ={}, data_dir=str(tmp_path))
    backends.use_sandbox_starter(None)
    with pytest.raises(ConfigError, match="LMS_BRIDGE_SANDBOX_URL"):
        backends.resolve_settings(settings)
    assert sandbox._embedded == {}
    started: list[Path] = []

    def starter(s: Any) -> str:
        started.append(s.data_dir)
        return "http://127.0.0.1:8901/"

    backends.use_sandbox_starter(starter)
    try:
        resolved = backends.resolve_settings(settings)
    finally:
        backends.use_sandbox_starter(None)
    assert started == [settings.data_dir]
    assert resolved.sandbox_url == "http://127.0.0.1:8901"
    assert resolved.moodle.url == "http://127.0.0.1:8901/moodle"
