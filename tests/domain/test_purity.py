"""The rules stay plain Python: nothing in lms_bridge/domain may pull in the web, HTTP or the database."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "lms_bridge" / "domain"
FORBIDDEN = ("flask", "flask_babel", "flask_wtf", "werkzeug", "sqlalchemy", "alembic", "requests", "httpx",
             "urllib3", "http", "urllib.request", "googleapiclient", "gspread", "lms_bridge.store",
             "lms_bridge.google", "lms_bridge.moodle", "lms_bridge.app", "lms_bridge.admin")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _forbidden(name: str) -> bool:
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


def test_the_check_recognises_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from flask import request\nimport sqlalchemy.orm\nimport httpx\n")
    assert {n for n in _imports(bad) if _forbidden(n)} == {"flask", "sqlalchemy.orm", "httpx"}


def test_no_web_http_or_database_imports_in_the_domain():
    files = sorted(DOMAIN.glob("*.py"))
    assert len(files) >= 8
    offenders = {f.name: sorted(n for n in _imports(f) if _forbidden(n)) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_the_domain_loads_no_web_or_database_module():
    code = (
        "import sys\n"
        "import lms_bridge.domain.grading, lms_bridge.domain.ballots, lms_bridge.domain.testexam\n"
        "import lms_bridge.domain.draw, lms_bridge.domain.timetable, lms_bridge.domain.workdays\n"
        "print(' '.join(m for m in ('flask', 'sqlalchemy', 'werkzeug', 'requests') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
