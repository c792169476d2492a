from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lms_bridge.config import Settings, load_settings
from lms_bridge.jobs import queue as jobqueue
from lms_bridge.store.db import make_engine
from lms_bridge.store.schema import ensure_schema


@pytest.fixture
def make_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**overrides: object) -> Settings:
        return load_settings(environ={}, data_dir=str(tmp_path / "data"), **overrides)

    return make


@pytest.fixture
def memory_queue(make_settings) -> Iterator[jobqueue.JobQueue]:  # type: ignore[no-untyped-def]
    settings = make_settings(queue_url="memory://")
    engine = make_engine(settings.effective_database_url)
    ensure_schema(engine)
    queue = jobqueue.configure(settings, engine=engine)
    yield queue
    jobqueue.reset()
    engine.dispose()
