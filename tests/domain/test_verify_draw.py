from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from lms_bridge.cli import cli
from lms_bridge.domain.draw import DrawRecord, commitment, draw_next, new_seed
from lms_bridge.i18n import use_locale


@pytest.fixture
def revealed() -> DrawRecord:
    seed = new_seed()
    record = DrawRecord(session_code="GEK-2026-01", commitment=commitment(seed), tickets=(1, 2, 3, 4))
    for sid in ("S001", "S002", "S003", "S004", "S005"):
        record, _ = draw_next(record, seed, sid, drawn_at=datetime(2026, 6, 10, 4, 0, tzinfo=UTC))
    return record.revealed(seed)


def run(tmp_path, data: str | dict):
    path = tmp_path / "record.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    with use_locale("en"):
        return CliRunner().invoke(cli, ["verify-draw", str(path)])


def test_a_good_record_checks_out(tmp_path, revealed):
    result = run(tmp_path, revealed.to_json())
    assert result.exit_code == 0, result.output
    for d in revealed.draws:
        line = f"{d.k}. {d.student_id}: recorded ticket {d.ticket}, recomputed {d.ticket} — OK"
        assert line in result.output
    assert "MISMATCH" not in result.output


def test_a_changed_ticket_exits_1(tmp_path, revealed):
    raw = revealed.to_dict()
    raw["draws"][2]["ticket"] = next(t for t in raw["tickets"] if t != raw["draws"][2]["ticket"])
    result = run(tmp_path, raw)
    assert result.exit_code == 1
    assert "3. S003" in result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("3. S003"))
    assert line.endswith("MISMATCH")


def test_a_seed_not_matching_the_commitment_exits_1(tmp_path, revealed):
    raw = revealed.to_dict() | {"commitment": commitment("something else")}
    result = run(tmp_path, raw)
    assert result.exit_code == 1
    assert "does not match the commitment" in result.output


def test_an_unrevealed_seed_exits_1(tmp_path, revealed):
    result = run(tmp_path, revealed.to_dict() | {"seed": None})
    assert result.exit_code == 1
    assert "not been revealed" in result.output


def test_a_malformed_record_is_named_without_a_traceback(tmp_path):
    result = run(tmp_path, '{"session_code": "X"')
    assert result.exit_code == 1
    assert "record.json: not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_a_missing_file_is_reported(tmp_path):
    with use_locale("en"):
        result = CliRunner().invoke(cli, ["verify-draw", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "cannot read the draw record" in result.output
