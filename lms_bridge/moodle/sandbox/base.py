"""What every group of functions shares: the world, the site URL, the webhook sender and the
record lookups that raise Moodle's own exceptions."""

from __future__ import annotations

import json
import random
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from lms_bridge.moodle.sandbox.errors import missing_record
from lms_bridge.moodle.sandbox.webhooks import WebhookSender
from lms_bridge.moodle.sandbox.world import World


class SandboxBase:
    """The state the function groups below work on (set up by ``MoodleSandbox.__init__``)."""

    world: World
    site_url: str
    rng: random.Random
    webhooks: WebhookSender | None

    def _json(self, data: Any, status: int = 200) -> Response:
        return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")

    def _course(self, state: dict[str, Any], courseid: int) -> dict[str, Any]:
        c = state["courses"].get(str(courseid))
        if c is None:
            raise missing_record("course")
        return c

    def _user(self, state: dict[str, Any], userid: int) -> dict[str, Any]:
        u = state["users"].get(str(userid))
        if u is None:
            raise missing_record("user")
        return u

    def _user_by_email(self, state: dict[str, Any], email: str) -> dict[str, Any]:
        for u in state["users"].values():
            if u["email"].lower() == email.lower():
                return u
        raise NotFound(f"no user with email {email}")

    def _quiz(self, state: dict[str, Any], quizid: int) -> dict[str, Any]:
        q = state["quizzes"].get(str(quizid))
        if q is None:
            raise missing_record("quiz")
        return q

    def _assign(self, state: dict[str, Any], assignid: int) -> dict[str, Any]:
        a = state["assigns"].get(str(assignid))
        if a is None:
            raise missing_record("assign")
        return a

    def _managed(self, state: dict[str, Any], courseid: int) -> None:
        """The companion plugin remembers the courses the bridge set up (examroom::manage_course)."""
        managed = state.setdefault("managed_courses", [])
        if courseid not in managed:
            managed.append(courseid)

    def _emit(self, payload: dict[str, Any]) -> None:
        # Like the plugin: events of a course the bridge does not manage are never posted.
        if int(payload.get("courseid", 0)) not in self.world.state.get("managed_courses", []):
            return
        if self.webhooks is not None:
            self.webhooks.send(payload["event"], payload)
