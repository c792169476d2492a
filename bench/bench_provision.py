"""How provisioning scales with the number of students, against the built-in sandboxes.

Runs the sample session with its students multiplied (8, then 4x and 16x as many) in one process
and prints, per size, Google and Moodle calls per admitted student, seconds per student and peak
memory, and the ratios to the smallest size.  Batching shows as a per-student call count that falls
(or stays flat) as the session grows; anything rising means a call was added per student pair.

    .venv/bin/python bench/bench_provision.py [--sizes 1,4,16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def scaled_spec(factor: int):  # type: ignore[no-untyped-def]
    from lms_bridge.sessionfile import load_session

    spec = load_session(REPO / "config" / "sample-session.yaml")
    students = []
    for k in range(factor):
        for s in spec.students:
            user, _, domain = s.email.partition("@")
            students.append(replace(s, id=f"{s.id}{k:03d}", email=f"{user}.{k}@{domain}",
                                    name=f"{s.name} {k}" if k else s.name))
    return replace(spec, code=f"{spec.code}-X{factor}", students=tuple(students))


def run_once(factor: int) -> dict[str, float]:
    from lms_bridge.config import load_settings
    from lms_bridge.provisioning.service import run_now
    from lms_bridge.sandbox import effective_settings, stop_embedded
    from lms_bridge.store.db import make_engine, make_sessionmaker
    from lms_bridge.store.repo import import_session
    from lms_bridge.store.schema import ensure_schema

    with tempfile.TemporaryDirectory() as tmp:
        settings = effective_settings(load_settings(environ={}, data_dir=tmp, queue_url="memory://"))
        engine = make_engine(settings.effective_database_url)
        ensure_schema(engine)
        sessions = make_sessionmaker(engine)
        spec = scaled_spec(factor)
        with sessions() as db:
            import_session(db, spec, source_name="bench", actor="bench")
            db.commit()
        tracemalloc.start()
        started = time.perf_counter()
        run = run_now(settings, spec.code, sessions=sessions)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        stop_embedded()
        engine.dispose()
        assert run.status == "succeeded", [(s.name, s.error) for s in run.steps]
        admitted = len(spec.admitted)
        google = sum(v for k, v in run.api_calls.items() if k != "moodle")
        return {"students": admitted, "google_per_student": google / admitted,
                "moodle_per_student": run.api_calls.get("moodle", 0) / admitted,
                "seconds_per_student": seconds / admitted, "peak_mib": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,4,16", help="multiples of the sample session's students")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandbox's access log
    run_once(1)  # warm-up: imports and discovery documents are loaded once, outside the measurement
    results = [run_once(int(f)) for f in args.sizes.split(",")]
    base = results[0]
    for r in results:
        ratios = {k: round(r[k] / base[k], 2) if base[k] else None for k in r if k != "students"}
        print(json.dumps({**{k: round(v, 3) for k, v in r.items()}, "ratio_to_smallest": ratios}))


if __name__ == "__main__":
    main()
