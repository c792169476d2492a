"""The benchmark suite's own arithmetic (the suite itself runs outside the tests: it times things).

Calls are counted as Google counts them (each batch part once, the envelope never), and the
quota-bound minimum is calls / quota x 60 s for the bucket that binds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "suite.py"


@pytest.fixture(scope="module")
def suite() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_suite", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_suite"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_batch_parts_count_and_envelopes_do_not(suite: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    lines = [
        {"method": "POST", "path": "/forms.googleapis.com/v1/forms/f1:setPublishSettings", "body": {}},
        {"method": "POST", "path": "/www.googleapis.com/batch/drive/v3", "body": "<multipart batch of 2>"},
        {"method": "POST", "path": "/www.googleapis.com/drive/v3/files/f1/permissions", "body": {}},
        {"method": "POST", "path": "/www.googleapis.com/drive/v3/files/f2/permissions", "body": {}},
        {"method": "GET", "path": "/forms.googleapis.com/v1/forms/f1/responses", "body": None},
        {"method": "POST", "path": "/oauth2.googleapis.com/token", "body": {}},
    ]
    log.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    buckets, methods = suite.google_calls(log)
    assert methods["drive.permissions.create"] == 2
    assert methods["forms.forms.setPublishSettings"] == 1
    assert sum(methods.values()) == 4  # no envelope, no token request
    # responses.list is an expensive read and a read.
    assert buckets["forms.expensive"] == 1
    assert buckets["forms.read"] == 1
    minimum = suite.quota_minimum(buckets)
    assert minimum["forms.write"] == pytest.approx(60 / 150)
    assert minimum["drive.queries"] == pytest.approx(2 * 60 / 12000)


def test_latencies_report_p95_and_missing(suite: ModuleType) -> None:
    sent = {n: 100.0 for n in range(20)}
    decided = {n: 100.0 + (n + 1) / 10 for n in range(19)}  # one decision never came
    got = suite._latencies(sent, decided)
    assert got["n"] == 19
    assert got["missing"] == 1
    assert got["p95_s"] == pytest.approx(1.9)
    assert got["max_s"] == pytest.approx(1.9)
