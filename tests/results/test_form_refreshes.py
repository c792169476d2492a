"""The dirty mark and refresh lock behind coalesced pushes, on the queue's own storage (SQLite, Redis)."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lms_bridge.jobs.queue import build_huey
from lms_bridge.results.coalesce import STALE_LOCK_SECONDS, FormRefreshes


@pytest.fixture(params=["sqlite", "redis"])
def huey(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The queue's storage as deployed: the embedded SQLite file, or Redis in production."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    else:
        url = request.getfixturevalue("redis_url")
    made = build_huey(types.SimpleNamespace(effective_queue_url=url))
    made.storage.flush_results()  # the marks and locks live with Huey's key/value data
    yield made
    made.storage.flush_results()


def test_a_push_during_a_refresh_is_covered_by_one_more_refresh_of_the_holder(huey: Any) -> None:
    refreshes = FormRefreshes(huey)
    arrivals: list[int] = []
    runs: list[str] = []

    def refresh() -> None:
        runs.append("holder")
        if len(runs) == 1:  # two pushes arrive while the first listing runs
            arrivals.append(refreshes.run("form-1", lambda: runs.append("second")))
            arrivals.append(refreshes.run("form-1", lambda: runs.append("third")))

    assert refreshes.run("form-1", refresh) == 2
    assert arrivals == [0, 0]
    assert runs == ["holder", "holder"]
    assert not refreshes.marked("form-1")
    # The lock is free again: the next push refreshes by itself.
    assert refreshes.run("form-1", lambda: runs.append("later")) == 1


def test_other_forms_are_not_held_up(huey: Any) -> None:
    refreshes = FormRefreshes(huey)
    seen: list[int] = []
    assert refreshes.run("form-1", lambda: seen.append(refreshes.run("form-2", lambda: None))) == 1
    assert seen == [1]


def test_a_sessions_sheet_and_a_form_of_the_same_id_do_not_share_a_lock(huey: Any) -> None:
    forms, sheets = FormRefreshes(huey), FormRefreshes(huey, kind="sheet")
    seen: list[int] = []
    assert sheets.run("7", lambda: seen.append(forms.run("7", lambda: None))) == 1
    assert seen == [1]

    def write() -> None:  # a second write-back of the same session arrives during the first write
        if len(seen) == 1:
            seen.append(sheets.run("7", lambda: None))

    assert sheets.run("7", write) == 2  # covered by the holder's one more write
    assert seen == [1, 0]


def test_a_failed_refresh_leaves_the_form_marked_and_the_lock_free(huey: Any) -> None:
    refreshes = FormRefreshes(huey)

    def boom() -> None:
        raise RuntimeError("Google said 503")

    with pytest.raises(RuntimeError):
        refreshes.run("form-1", boom)
    assert refreshes.marked("form-1")
    assert refreshes.run("form-1", lambda: None) == 1


def test_the_lock_of_a_worker_that_died_is_taken_over_once_stale(huey: Any) -> None:
    now = [1_000.0]
    refreshes = FormRefreshes(huey, clock=lambda: now[0])
    assert huey.put_if_empty("lms-bridge.form-refresh.form-1", now[0])  # a worker died holding it
    assert refreshes.run("form-1", lambda: None) == 0
    now[0] += STALE_LOCK_SECONDS + 1
    assert refreshes.run("form-1", lambda: None) == 1


def test_a_push_between_the_last_refresh_and_the_release_is_not_lost(huey: Any) -> None:
    """The holder found no mark and is about to release when a push marks the form and fails to
    take the lock: the holder must look once more after releasing."""
    late: list[int] = []

    class PushJustBeforeRelease(FormRefreshes):
        def _release(self, form_id: str) -> None:
            if not late:
                late.append(FormRefreshes(huey).run(form_id, lambda: None))
            super()._release(form_id)

    assert PushJustBeforeRelease(huey).run("form-1", lambda: None) == 2
    assert late == [0]
