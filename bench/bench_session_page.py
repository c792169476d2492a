"""The admin session page of a provisioned session with 600 students: its size and its queries.

Builds a store with the sample session grown to N admitted students and the provisioning journal a
run leaves for it (per student: the Classroom enrolment, the voting form and its watch, the Moodle
account and its enrolment; per commission member the same for Classroom and Moodle), signs in and
fetches the page in-process.  Prints the page's size and the SQL statements it ran, and the same
for the first page of the journal, which is loaded on demand.

    .venv/bin/python bench/bench_session_page.py [--students 600] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event, select

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "config" / "sample-session.yaml"
PASSWORD = "bench password long enough"


def grown_session(students: int, path: Path) -> Path:
    doc = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    doc["students"] = [{"id": f"2101{n:05d}", "name": f"Білім алушы {n}",
                        "email": f"s{n:05d}@stud.univ.edu.kz", "admitted": True} for n in range(students)]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def journal_rows(db: Any, session_id: int, refs: list[str], members: list[str]) -> list[Any]:
    from lms_bridge.store.models import JournalEntry

    now = datetime.now(UTC)
    rows = [JournalEntry(session_id=session_id, step="moodle.connect", key="moodle.site", external_id="1",
                         data={"siteurl": "https://moodle.univ.edu.kz"}, created_at=now)]
    for n, ref in enumerate(refs):
        rows += [
            JournalEntry(session_id=session_id, step="google.classroom.roster", key=f"classroom.student:{ref}",
                         external_id=f"1{n:020d}", data={}, created_at=now),
            JournalEntry(session_id=session_id, step="google.forms", key=f"forms.form:{ref}",
                         external_id=f"1FAIpQL{n:037d}", created_at=now,
                         data={"stage": "published", "responderUri":
                               f"https://docs.google.com/forms/d/e/1FAIpQL{n:037d}/viewform"}),
            JournalEntry(session_id=session_id, step="google.watches", key=f"forms.watch:{ref}",
                         external_id=f"watch-{n:014d}", data={}, created_at=now),
            JournalEntry(session_id=session_id, step="moodle.users", key=f"moodle.user:{ref}",
                         external_id=str(100 + n), data={}, created_at=now),
            JournalEntry(session_id=session_id, step="moodle.enrolments", key=f"moodle.enrol:{ref}",
                         external_id=str(100 + n), data={}, created_at=now),
        ]
    for n, email in enumerate(members):
        rows += [
            JournalEntry(session_id=session_id, step="google.classroom.roster", key=f"classroom.teacher:{email}",
                         external_id=f"2{n:020d}", data={}, created_at=now),
            JournalEntry(session_id=session_id, step="moodle.users", key=f"moodle.user:{email}",
                         external_id=str(10 + n), data={}, created_at=now),
        ]
    return rows


def measure(students: int) -> dict[str, Any]:
    from lms_bridge.admin.auth import create_user
    from lms_bridge.app import create_app, state
    from lms_bridge.config import load_settings
    from lms_bridge.jobs import queue as jobqueue
    from lms_bridge.sessionfile import load_session
    from lms_bridge.store.db import transaction
    from lms_bridge.store.models import CommissionMember, ExamSession, StudentRecord
    from lms_bridge.store.repo import import_session

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, data_dir=str(Path(tmp) / "data"), default_language="en")
        app = create_app(settings, testing=True)
        app.config["WTF_CSRF_ENABLED"] = False
        jobqueue.configure(settings, engine=state(app).engine)
        spec = load_session(grown_session(students, Path(tmp) / "session.yaml"))
        with transaction(state(app).sessionmaker) as db:
            create_user(db, "secretary", PASSWORD, display_name="Техникалық хатшы", language="en")
            import_session(db, spec, source_name="session.yaml", actor="bench")
        with transaction(state(app).sessionmaker) as db:
            exam = db.scalar(select(ExamSession).where(ExamSession.code == spec.code))
            assert exam is not None
            refs = list(db.scalars(select(StudentRecord.student_ref).where(StudentRecord.session_id == exam.id)))
            members = list(db.scalars(select(CommissionMember.email).where(
                CommissionMember.session_id == exam.id)))
            rows = journal_rows(db, exam.id, refs, members)
            db.add_all(rows)
        client = app.test_client()
        assert client.post("/login", data={"username": "secretary", "password": PASSWORD}).status_code == 302
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(" ".join(statement.split()))

        event.listen(state(app).engine, "before_cursor_execute", count)
        result: dict[str, Any] = {"students": students, "journal_rows": len(rows)}
        for name, url in (("session_page", f"/sessions/{spec.code}"),
                          ("journal_first_page", f"/sessions/{spec.code}/journal")):
            statements.clear()
            res = client.get(url)
            result[name] = {"status": res.status_code, "kb": round(len(res.data) / 1024, 1),
                            "queries": len(statements), "statements": [q[:160] for q in statements]}
            if name == "session_page":
                html = res.get_data(as_text=True)
                # Where the bytes are: each top-level section of the page.
                result["sections_kb"] = {
                    m.group(1): round(len(m.group(0).encode()) / 1024, 1)
                    for m in re.finditer(r'<section class="card[^"]*" id="([^"]+)".*?</section>', html, re.S)}
        jobqueue.reset()
        state(app).engine.dispose()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = measure(args.students)
    print(f"{args.students} students, {result['journal_rows']} journal rows")
    for name in ("session_page", "journal_first_page"):
        r = result[name]
        print(f"  {name:20s} HTTP {r['status']}  {r['kb']:8.1f} KB  {r['queries']:3d} queries")
    print("  session page by section: " + ", ".join(f"{k} {v} KB" for k, v in result["sections_kb"].items()))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
