"""The recorded scenario (tests/fixtures/moodle/scenario/moodle-*.json) replayed against the sandbox.

The flow of tests/moodle/scenario.py was run against a real Moodle and every request and answer kept.
Here the sandbox runs the same flow and each answer must equal the recorded one field by field, after
ids, times, addresses and the run's suffix are normalised.  The few differences the sandbox keeps on
purpose are listed in KNOWN_DIFFERENCES with the reason; any other difference fails, so the sandbox
cannot drift from what a real site answers.  Re-recording: docs/moodle-live-check.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from lms_bridge.moodle.client import encode_params
from lms_bridge.moodle.sandbox.world import RELEASES

from .conftest import Served
from .scenario import compare, normalise, run_scenario, steps

RECORDINGS = sorted((Path(__file__).resolve().parent.parent / "fixtures" / "moodle" / "scenario").glob("*.json"))

# "<step> <path>": why the sandbox answers differently, on purpose.
KNOWN_DIFFERENCES: dict[str, str] = {
    "copy_assignments $.courses[0].assignments[0].configs":
        "the sandbox lists only the submission and feedback settings the product reads",
    "copy_quizzes $.quizzes[0].section": "the sandbox keeps activities in section 1; Moodle put them in 0",
    "copy_contents $": "the sandbox models no Announcements forum and always two sections (General, Topic 1)",
    "leftover $.courses[0].courseimage": "no generated course images in the sandbox",
    "leftover $.courses[0].filters": "the sandbox models no text filters",
    "leftover $.courses[0].courseformatoptions": "the sandbox models no course format options",
}

# The sandbox answers as the recording's release (actor config "release"; 4.5 unless the sandbox knows the
# release).  Where a release answers differently from what the sandbox models of it, the place is listed
# here with what that release does, so any further difference fails.
KNOWN_RELEASE_DIFFERENCES: dict[str, dict[str, str]] = {
    "5.1": {},
}


def _release(path: Path) -> str:
    return path.stem.removeprefix("moodle-")


def _sandbox_call(sandbox: Served) -> Any:
    def call(function: str, params: dict[str, Any]) -> tuple[int, Any]:
        data = [("wstoken", "sandbox-token"), ("wsfunction", function), ("moodlewsrestformat", "json"),
                *encode_params(params)]
        resp = requests.post(f"{sandbox.url}/webservice/rest/server.php", data=data, timeout=10)
        return resp.status_code, resp.json()
    return call


def test_there_is_a_recording() -> None:
    assert RECORDINGS, "no recorded scenario in tests/fixtures/moodle/scenario"


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_the_sandbox_answers_the_scenario_as_the_recorded_moodle(path: Path, sandbox: Served) -> None:
    recorded = json.loads(path.read_text(encoding="utf-8"))
    run = recorded["run"]
    assert [c["name"] for c in recorded["calls"]] == [s.name for s in steps(run)], "re-record: the flow changed"
    if _release(path) in RELEASES:
        sandbox.configure(release=_release(path))
    ours = run_scenario(_sandbox_call(sandbox), run)
    diffs: list[str] = []
    for real, mine in zip(recorded["calls"], ours, strict=True):
        assert mine["status"] == real["status"], real["name"]
        for d in compare(normalise(real["response"], run), normalise(mine["response"], run)):
            diffs.append(f"{real['name']} {d}")
    known = KNOWN_DIFFERENCES | KNOWN_RELEASE_DIFFERENCES.get(_release(path), {})
    unexpected = [d for d in diffs if d.split(": ")[0] not in known]
    assert unexpected == [], "\n".join(unexpected)
    # A listed difference that no longer occurs is stale: re-recording must shrink the list, not hide drift.
    stale = set(KNOWN_RELEASE_DIFFERENCES.get(_release(path), {})) - {d.split(": ")[0] for d in diffs}
    assert not stale, f"no longer differ on {_release(path)}: {sorted(stale)}"
