"""The sandbox's world: JSON documents in one SQLite file under ``state_dir``.

One file so that two processes in a row (``lms-bridge provision`` twice) see the same courses and forms;
one lock plus one transaction per request so concurrent requests never see half a change (a
``forms.batchUpdate`` is all-or-nothing, as at Google).
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    parent TEXT,
    doc TEXT NOT NULL,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS docs_parent ON docs (kind, parent);
"""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: durable across process restarts, without an fsync per request.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Serialise a whole request; nested use joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        with self.transaction():
            row = self._conn.execute("SELECT doc FROM docs WHERE kind=? AND key=?", (kind, key)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, kind: str, key: str, doc: dict[str, Any], parent: str | None = None) -> dict[str, Any]:
        text = json.dumps(doc, ensure_ascii=False)
        with self.transaction():
            cur = self._conn.execute("UPDATE docs SET doc=? WHERE kind=? AND key=?", (text, kind, key))
            if cur.rowcount == 0:
                self._conn.execute("INSERT INTO docs (kind, key, parent, doc) VALUES (?, ?, ?, ?)",
                                   (kind, key, parent, text))
        return doc

    def delete(self, kind: str, key: str) -> bool:
        with self.transaction():
            cur = self._conn.execute("DELETE FROM docs WHERE kind=? AND key=?", (kind, key))
        return cur.rowcount > 0

    def list(self, kind: str, parent: str | None = None) -> builtins.list[dict[str, Any]]:
        with self.transaction():
            if parent is None:
                rows = self._conn.execute("SELECT doc FROM docs WHERE kind=? ORDER BY seq", (kind,)).fetchall()
            else:
                rows = self._conn.execute("SELECT doc FROM docs WHERE kind=? AND parent=? ORDER BY seq",
                                          (kind, parent)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def kinds(self) -> builtins.list[str]:
        with self.transaction():
            return [r[0] for r in self._conn.execute("SELECT DISTINCT kind FROM docs ORDER BY kind")]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
