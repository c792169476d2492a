"""The Moodle 4.5 stand-in served at ``/moodle`` (see :mod:`lms_bridge.moodle.sandbox.app`)."""

from lms_bridge.moodle.sandbox.app import TOKEN, MoodleSandbox, create_app

__all__ = ["TOKEN", "MoodleSandbox", "create_app"]
