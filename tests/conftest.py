"""Fixtures shared by every area (keep small; area fixtures live in tests/<area>/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_bridge.domain.session import SessionSpec

SAMPLE_SESSION_YAML = Path(__file__).resolve().parent.parent / "config" / "sample-session.yaml"


@pytest.fixture(scope="session")
def sample_spec() -> SessionSpec:
    """The Kazakh sample session (config/sample-session.yaml), parsed."""
    from lms_bridge.sessionfile import load_session

    return load_session(SAMPLE_SESSION_YAML)
