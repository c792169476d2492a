"""The provisioning engine on the SQLite store: resume after a crash, no duplicates, created == 0 on a
second run, progress rows and failures in plain words."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lms_bridge.store.db import make_engine, make_sessionmaker
from lms_bridge.store.schema import ensure_schema

from . import engine_cases


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    ensure_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_a_crashed_run_resumes_without_duplicates_and_a_second_run_creates_nothing(
        sessions: sessionmaker[Session]) -> None:
    engine_cases.crash_then_resume(sessions)


def test_a_failed_step_stops_the_run_and_a_retry_finishes_it(sessions: sessionmaker[Session]) -> None:
    engine_cases.failure_stops_and_shows(sessions)


def test_lane_steps_run_beside_the_others_and_what_needs_them_waits(sessions: sessionmaker[Session]) -> None:
    engine_cases.lanes_run_beside_and_needs_wait(sessions)
