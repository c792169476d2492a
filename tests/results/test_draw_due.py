"""When a ticket assignment is due: Classroom refuses a due time already past (@DueDateInPast)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lms_bridge.results.draw import assignment_due

DRAWN = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def test_an_exam_is_due_at_the_end_of_preparation() -> None:
    assert assignment_due(DRAWN, 50, DRAWN + timedelta(seconds=5)) == DRAWN + timedelta(minutes=50)


def test_a_defense_has_no_due_time() -> None:
    # No preparation: the end of preparation is the draw itself, already past when the assignment is made.
    assert assignment_due(DRAWN, 0, DRAWN) is None


def test_a_due_time_past_or_about_to_pass_is_dropped() -> None:
    assert assignment_due(DRAWN, 50, DRAWN + timedelta(minutes=51)) is None  # handed out after a long outage
    assert assignment_due(DRAWN, 50, DRAWN + timedelta(minutes=49, seconds=30)) is None  # would pass in transit
    assert assignment_due(DRAWN, 50, DRAWN + timedelta(minutes=48)) == DRAWN + timedelta(minutes=50)
