"""The Moodle 4.5 stand-in served at ``/moodle`` (see :mod:`lms_bridge.moodle.sandbox.app`).

``app`` dispatches each web-service call to its group: ``users``, ``courses`` (and enrolments),
``quiz``, ``assign``, ``grades`` and ``plugin`` (the companion plugin's functions); ``actor`` is the
actor API.  They share ``base`` (lookups), ``world`` (the persisted site), ``shapes`` (answers),
``signatures`` (parameters, capabilities), ``errors``, ``params`` and ``webhooks``.
"""

from lms_bridge.moodle.sandbox.app import TOKEN, MoodleSandbox, create_app

__all__ = ["TOKEN", "MoodleSandbox", "create_app"]
