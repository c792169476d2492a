"""One refresh of a form covers every push that arrived while it ran.

A commission of four voting within a second sends four pushes (Pub/Sub may send more); each used
to list the form's responses, spending the 180-per-minute ``responses.list`` quota and racing the
other workers over the same ballots.  Now a push marks its form *dirty* and tries to take the
form's refresh lock:

* the holder clears the mark, refreshes, and refreshes again while the mark comes back;
* a push that finds the lock taken leaves its mark for the holder and returns at once;
* after releasing the lock the holder looks at the mark once more: a push that marked the form
  just after the last refresh and just before the release would otherwise be lost.

The mark and the lock live in the job queue's key/value storage (Redis, SQLite or memory), so
every worker process of one deployment shares them.

The grade sheet's rows are written the same way (``kind="sheet"``, one per session): every
decision's write-back marks the session's sheet, and one ``values:batchUpdate`` writes each row
waiting since the last one.  Sheets allows 60 write requests per minute per user (Sheets API
"Usage limits"): a row per request would keep the chair's release of a 300-student session off
the sheet for five minutes; one request per refresh takes a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

# A lock older than this is taken to belong to a worker that died mid-refresh (a refresh is one
# responses.list call and a few statements: seconds, never minutes).
STALE_LOCK_SECONDS = 300.0


class FormRefreshes:
    """The dirty marks and refresh locks of forms, kept in a Huey instance's storage.

    ``kind`` names what is refreshed: ``form`` (a voting form's responses, keyed by form id) or
    ``sheet`` (a session's grade sheet rows, keyed by session id: :func:`flush_sheet`)."""

    def __init__(self, huey: Any, *, clock: Callable[[], float] = time.time, kind: str = "form") -> None:
        self._huey = huey
        self._clock = clock
        self._kind = kind

    def _mark_key(self, form_id: str) -> str:
        return f"lms-bridge.{self._kind}-dirty.{form_id}"

    def _lock_key(self, form_id: str) -> str:
        return f"lms-bridge.{self._kind}-refresh.{form_id}"

    def _listed_key(self, form_id: str) -> str:
        return f"lms-bridge.{self._kind}-listed.{form_id}"

    def listed_at(self, form_id: str) -> float | None:
        """When a refresh of the form last listed its responses (epoch seconds), if ever."""
        value = self._huey.get(self._listed_key(form_id), peek=True)
        return float(value) if value is not None else None

    def mark(self, form_id: str) -> None:
        self._huey.put(self._mark_key(form_id), 1)

    def marked(self, form_id: str) -> bool:
        return self._huey.get(self._mark_key(form_id), peek=True) is not None

    def _take_mark(self, form_id: str) -> bool:
        return self._huey.get(self._mark_key(form_id)) is not None  # read and delete, atomically

    def _acquire(self, form_id: str) -> bool:
        key = self._lock_key(form_id)
        if self._huey.put_if_empty(key, self._clock()):
            return True
        taken_at = self._huey.get(key, peek=True)
        if taken_at is not None and self._clock() - float(taken_at) > STALE_LOCK_SECONDS:
            logger.warning("refresh lock of form %s is stale; taken over", form_id)
            self._huey.delete(key)
            return bool(self._huey.put_if_empty(key, self._clock()))
        return False

    def _release(self, form_id: str) -> None:
        self._huey.delete(self._lock_key(form_id))

    def run(self, form_id: str, refresh: Callable[[], None]) -> int:
        """Mark the form, then refresh it as long as it is marked, unless another worker is already
        doing so.  Returns how many refreshes ran here (0: the running one covers this push).

        A failing refresh puts the mark back (the push it served is not lost) and raises."""
        self.mark(form_id)
        runs = 0
        while self._acquire(form_id):
            try:
                while self._take_mark(form_id):
                    started = self._clock()
                    try:
                        refresh()
                    except BaseException:
                        self.mark(form_id)
                        raise
                    runs += 1
                    # The listing began at ``started``: what was submitted before then is in.
                    self._huey.put(self._listed_key(form_id), started)
            finally:
                self._release(form_id)
            if not self.marked(form_id):
                break
        return runs
