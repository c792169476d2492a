"""Hostile session files on the upload page: a 4xx page listing file, place and field; never a 500."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape
from sqlalchemy import func, select

from lms_bridge.app import state
from lms_bridge.i18n import use_locale
from lms_bridge.sessionfile import read_session
from lms_bridge.store.models import AuditEvent, ExamSession, StudentRecord

from .conftest import SAMPLE_YAML

SAMPLE = SAMPLE_YAML.read_text(encoding="utf-8")
FIRST_NAME = SAMPLE.split("students:", 1)[1].split("name:", 1)[1].split("\n", 1)[0].strip()


def _sample_with(old: str, new: str) -> bytes:
    assert old in SAMPLE, old
    return SAMPLE.replace(old, new, 1).encode()


def _zip_bomb() -> bytes:
    data = SAMPLE_YAML.with_name("sample-session.xlsx").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename))
        dst.writestr("xl/media/padding.bin", bytes(40 * 1024 * 1024))
    return out.getvalue()


def _many_students(count: int) -> bytes:
    head, rest = SAMPLE.split("students:\n", 1)
    tail = rest[rest.index("tickets:"):]
    rows = "".join(f'  - id: "9{i:05d}"\n    name: "Білім алушы {i}"\n    email: s{i}@stud.univ.edu.kz\n'
                   for i in range(count))
    return (head + "students:\n" + rows + tail).encode()


def _count(app: Flask, model: Any) -> int:
    with state(app).sessionmaker() as db:
        return int(db.scalar(select(func.count()).select_from(model)) or 0)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep.yaml": (_sample_with("  group:", "  group: " + "[" * 100_000 + "]" * 100_000 + "\n  x:"), "group"),
    "laughs.yaml": (b'a: &a ["l","l","l","l","l","l","l","l","l"]\n' + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n".encode()
        for i in range(9)), ""),
    "many.yaml": (_many_students(1001), ""),
    "date.yaml": (_sample_with("starts_at: ", "starts_at: 9999-12-31T23:59\n  x_starts_at: "), "starts_at"),
    "id.yaml": (_sample_with('  - id: "', '  - id: "../../x'), "id"),
    "crlf.yaml": (_sample_with("  title: ", '  title: "Емтихан\\r\\nBcc: all@evil.example"\n  x_title: '),
                  "title"),
    "bidi.yaml": (_sample_with(f"name: {FIRST_NAME}", 'name: "Аманов\\u202eСерік"'), "name"),
    "long.yaml": (_sample_with(f"name: {FIRST_NAME}", f'name: "{"Ә" * 256}"'), "name"),
    "bomb.xlsx": (_zip_bomb(), ""),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_refused_on_the_page_and_nothing_is_stored(app: Flask, upload: Any, name: str) -> None:
    content, field = HOSTILE[name]
    audit_before = _count(app, AuditEvent)  # signing in is audited
    res = upload(content, name)
    assert res.status_code == 422, res.status_code
    page = res.get_data(as_text=True)
    with use_locale("en"):  # the page's language in these tests
        _spec, problems = read_session(content, name)
        assert problems
        for p in problems:
            assert str(escape(p.message)) in page
            assert str(escape(p.location.describe())) in page
    if field:
        assert f"<code>{field}</code>" in page
    assert name in page
    assert "nothing was stored" in page
    assert _count(app, ExamSession) == 0
    assert _count(app, StudentRecord) == 0
    assert _count(app, AuditEvent) == audit_before


def test_a_body_far_over_the_limit_is_refused_before_it_is_parsed(app: Flask, upload: Any) -> None:
    res = upload(b"#" * (11 * 1024 * 1024), "huge.yaml")
    assert res.status_code == 413
    page = res.get_data(as_text=True)
    assert "larger than 10 MB" in page
    assert _count(app, ExamSession) == 0
