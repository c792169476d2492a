from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lms_bridge.domain.draw import (
    DrawError,
    DrawRecord,
    commitment,
    draw_next,
    new_seed,
    recompute,
    remaining_pool,
    verify,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "draw.md"
SEED = "5f" * 32
CODE = "GEK-2026-01"


def fresh(tickets=(1, 2, 3, 4, 5), seed: str = SEED) -> DrawRecord:
    return DrawRecord(session_code=CODE, commitment=commitment(seed), tickets=tuple(tickets))


def drawn(students, tickets=(1, 2, 3, 4, 5), seed: str = SEED) -> DrawRecord:
    record = fresh(tickets, seed)
    for sid in students:
        record, _ = draw_next(record, seed, sid, drawn_at=datetime(2026, 6, 10, 4, 0, tzinfo=UTC))
    return record


def test_seed_is_random_hex_and_commitment_is_sha256_of_its_text():
    a, b = new_seed(), new_seed()
    assert a != b
    assert re.fullmatch(r"[0-9a-f]{64}", a)
    assert commitment(a) == hashlib.sha256(a.encode("utf-8")).hexdigest()


def test_each_student_draws_once():
    record = drawn(["S1"])
    with pytest.raises(DrawError, match="S1 has already drawn"):
        draw_next(record, SEED, "S1")


def test_a_student_not_admitted_draws_nothing():
    with pytest.raises(DrawError, match="S9 is not admitted"):
        draw_next(fresh(), SEED, "S9", admitted={"S1", "S2"})


def test_a_seed_other_than_the_committed_one_is_refused():
    with pytest.raises(DrawError, match="does not match"):
        draw_next(fresh(), "00" * 32, "S1")


def test_no_ticket_is_reused_until_all_have_been_drawn():
    students = [f"S{i:02}" for i in range(1, 13)]
    record = drawn(students, tickets=(3, 7, 11, 20))
    got = [d.ticket for d in record.draws]
    # 12 draws over 4 tickets: three full rounds, each a permutation of the pool.
    for start in (0, 4, 8):
        assert sorted(got[start:start + 4]) == [3, 7, 11, 20]
    assert Counter(got) == {3: 3, 7: 3, 11: 3, 20: 3}
    assert remaining_pool((3, 7, 11, 20), got[:5]) == sorted({3, 7, 11, 20} - {got[4]})


def test_the_draw_is_recomputed_from_the_revealed_seed():
    record = drawn(["S1", "S2", "S3", "S4", "S5", "S6", "S7"]).revealed(SEED)
    # Through the public JSON form, as a third party would get it.
    public = DrawRecord.from_json(record.to_json())
    assert [d.ticket for d in recompute(public)] == [d.ticket for d in record.draws]
    assert verify(public) == []


def test_draw_depends_on_the_seed():
    other = "a1" * 32
    a = [d.ticket for d in drawn([f"S{i}" for i in range(1, 6)]).draws]
    b = [d.ticket for d in drawn([f"S{i}" for i in range(1, 6)], seed=other).draws]
    c = [d.ticket for d in drawn([f"S{i}" for i in range(1, 6)], seed="b2" * 32).draws]
    assert len({tuple(a), tuple(b), tuple(c)}) > 1


def test_a_tampered_ticket_is_a_mismatch():
    record = drawn(["S1", "S2", "S3"]).revealed(SEED)
    raw = record.to_dict()
    true_ticket = raw["draws"][1]["ticket"]
    raw["draws"][1]["ticket"] = next(t for t in raw["tickets"] if t != true_ticket)
    problems = verify(DrawRecord.from_dict(raw))
    assert [(p.kind, p.student_id, p.expected) for p in problems] == [("ticket", "S2", true_ticket)]
    assert "S2" in problems[0].describe()


def test_a_seed_that_does_not_match_the_commitment_is_reported():
    record = drawn(["S1"])
    with pytest.raises(DrawError):
        record.revealed("00" * 32)
    raw = record.to_dict() | {"seed": "00" * 32}
    assert "commitment" in [p.kind for p in verify(DrawRecord.from_dict(raw))]


def test_an_unrevealed_record_cannot_be_recomputed():
    record = drawn(["S1"])
    assert [p.kind for p in verify(record)] == ["seed_missing"]
    with pytest.raises(DrawError, match="not been revealed"):
        recompute(record)


def test_duplicate_students_and_broken_order_are_reported():
    record = drawn(["S1", "S2"]).revealed(SEED)
    raw = record.to_dict()
    raw["draws"].append(dict(raw["draws"][0], k=5))
    kinds = {p.kind for p in verify(DrawRecord.from_dict(raw))}
    assert {"duplicate_student", "sequence"} <= kinds


@pytest.mark.parametrize(("change", "message"), [
    ({"tickets": []}, "field 'tickets' must be a non-empty list"),
    ({"tickets": [1, 1]}, "lists a ticket number twice"),
    ({"commitment": None}, "field 'commitment' is missing"),
    ({"format": "other/9"}, "field 'format'"),
    ({"draws": [{"k": 1, "ticket": 2}]}, r"draws\[1\]: field 'student_id'"),
    ({"draws": [{"k": 1, "student_id": "S1", "ticket": "2"}]}, r"draws\[1\]: field 'ticket'"),
])
def test_malformed_records_name_the_field(change, message):
    raw = drawn(["S1"]).to_dict() | change
    with pytest.raises(DrawError, match=message):
        DrawRecord.from_dict(raw, source="rec.json")


def test_bad_json_is_reported_with_the_line():
    with pytest.raises(DrawError, match=r"rec\.json: not valid JSON \(line 2"):
        DrawRecord.from_json('{\n"x": }', source="rec.json")


def _doc_script() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    return blocks[0]


def test_the_documented_script_is_short():
    assert len(_doc_script().strip().splitlines()) <= 15


def test_the_documented_script_recomputes_the_products_draw(tmp_path):
    """docs/draw.md promises a person can check a draw with its script: run that very script."""
    script = tmp_path / "check_draw.py"
    script.write_text(_doc_script(), encoding="utf-8")
    seed = new_seed()
    record = drawn([f"S{i:03}" for i in range(1, 9)], tickets=(2, 4, 6), seed=seed).revealed(seed)
    good = tmp_path / "good.json"
    good.write_text(record.to_json(), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), str(good)], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines == [f"{d.k} {d.student_id} {d.ticket} OK" for d in record.draws]

    raw = json.loads(record.to_json())
    raw["draws"][3]["ticket"] = next(t for t in (2, 4, 6) if t != raw["draws"][3]["ticket"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), str(bad)], capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert out.stdout.splitlines()[3].endswith("MISMATCH")
