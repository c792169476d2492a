"""The Moodle sandbox itself: PHP decoding, persistence, the actor API and signed webhooks with retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from pathlib import Path

import requests
from werkzeug.wrappers import Request, Response

from lms_bridge.config import MoodleSettings, Secret
from lms_bridge.domain.session import Ticket
from lms_bridge.moodle.client import MoodleClient
from lms_bridge.moodle.operations import MoodleOps, Person
from lms_bridge.moodle.sandbox import create_app
from lms_bridge.moodle.sandbox.params import decode_form

from .conftest import Served, reopen_quiz, serve

SECRET = "whsec-test"


def test_php_bracket_decoding() -> None:
    assert decode_form([("courses[0][fullname]", "A"), ("courses[0][options][1][name]", "x"), ("values[]", "a"),
                        ("values[]", "b"), ("plain", "1")]) == {
        "courses": {"0": {"fullname": "A", "options": {"1": {"name": "x"}}}},
        "values": {"0": "a", "1": "b"}, "plain": "1"}


def test_state_survives_a_restart(tmp_path: Path) -> None:
    first = create_app(tmp_path)
    server, url, _t = serve(first)
    try:
        ops = MoodleOps(MoodleClient(url, Secret("sandbox-token"), timeout=5), MoodleSettings())
        ids = ops.ensure_users([Person("a@uni.kz", "A", "B", "1")])
    finally:
        server.shutdown()
        server.server_close()
    second = create_app(tmp_path)
    server, url, _t = serve(second)
    try:
        ops = MoodleOps(MoodleClient(url, Secret("sandbox-token"), timeout=5), MoodleSettings())
        assert ops.ensure_users([Person("a@uni.kz", "A", "B", "1")]) == ids
    finally:
        server.shutdown()
        server.server_close()


def test_unknown_function_and_function_outside_the_service(sandbox: Served) -> None:
    def call(fn: str) -> dict:
        return requests.post(f"{sandbox.url}/webservice/rest/server.php", timeout=5, data={
            "wstoken": "sandbox-token", "wsfunction": fn, "moodlewsrestformat": "json"}).json()

    assert call("nonsense")["errorcode"] == "invalidrecord"
    sandbox.configure(debug=True)
    body = call("core_course_get_categories")
    assert (body["exception"], body["errorcode"], body["message"]) == (
        "webservice_access_exception", "accessexception", "Access control exception")
    assert "does not contain the function" in body["debuginfo"]
    sandbox.configure(debug=False)
    # A site without debugging shows no debuginfo, as the captured real Moodle did.
    assert "debuginfo" not in call("core_course_get_categories")


class Receiver:
    """The bridge's /webhooks/moodle: fails the first ``failures`` posts with 503."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        with self.lock:
            self.posts.append((dict(request.headers), request.get_data()))
            n = len(self.posts)
        status = 503 if n <= self.failures else 204
        return Response(b"", status=status)(environ, start_response)


def test_a_course_the_bridge_does_not_manage_sends_nothing(tmp_path: Path) -> None:
    """Like the plugin: an attempt at a quiz in a course the bridge never set up posts no webhook."""
    receiver = Receiver(failures=0)
    rserver, rurl, _t = serve(receiver)
    app = create_app(tmp_path, webhook_url=f"{rurl}/webhooks/moodle", webhook_secret=SECRET)
    server, url, _t2 = serve(app)
    try:
        settings = MoodleSettings(url=url, token=Secret("sandbox-token"))
        ops = MoodleOps(MoodleClient(url, Secret("sandbox-token"), timeout=5), settings)
        ids = ops.ensure_users([Person("dias@uni.kz", "Диас", "Омаров", "201103551235")])
        # A teacher's own course: its quiz was copied from the template by hand, never set up by the bridge.
        other = ops.client.call("core_course_duplicate_course", {
            "courseid": 2, "fullname": "Other", "shortname": "OTHER-1", "categoryid": 1, "visible": 1,
            "options": [{"name": "users", "value": 0}]})
        ops.enrol(int(other["id"]), [(ids["dias@uni.kz"], 5)])
        quiz = ops.ticket_quiz(int(other["id"]))
        assert quiz is not None
        actor = Served(app, url)
        actor.actor(f"/course/{other['id']}/import-questions", {
            "xml": '<quiz><question type="category"><category><text>$module$/top/Tickets</text></category>'
                   '</question><question type="essay"><name><text>T1</text></name><idnumber>ticket-1</idnumber>'
                   '<questiontext><text>Q</text></questiontext></question></quiz>',
            "cmid": quiz["coursemodule"]}).raise_for_status()
        with app.world.lock:  # type: ignore[attr-defined]
            state = app.world.state  # type: ignore[attr-defined]
            cat = max(state["qcats"].values(), key=lambda c: c["id"])
            state["quizzes"][str(quiz["id"])]["slots"][0]["categoryid"] = cat["id"]
            app.world.save()  # type: ignore[attr-defined]
        assert actor.actor(f"/quiz/{quiz['id']}/attempt", {"email": "dias@uni.kz"}).status_code == 200
        assert app.webhooks.wait_idle(10)  # type: ignore[union-attr]
    finally:
        server.shutdown()
        server.server_close()
        rserver.shutdown()
        rserver.server_close()
    assert receiver.posts == []
    assert app.webhooks.deliveries == []  # type: ignore[union-attr]


def test_attempts_and_submissions_post_signed_webhooks_with_retries(tmp_path: Path) -> None:
    receiver = Receiver(failures=1)
    rserver, rurl, _t = serve(receiver)
    app = create_app(tmp_path, webhook_url=f"{rurl}/webhooks/moodle", webhook_secret=SECRET)
    app.webhooks.base_delay = 0.01  # type: ignore[union-attr]
    server, url, _t2 = serve(app)
    try:
        settings = MoodleSettings(url=url, token=Secret("sandbox-token"), template_course_id=2)
        ops = MoodleOps(MoodleClient(url, Secret("sandbox-token"), timeout=5), settings)
        ids = ops.ensure_users([Person("dias@uni.kz", "Диас", "Омаров", "201103551235")])
        course = ops.create_course(idnumber="SE-1", fullname="Exam", shortname="SE-1")
        ops.enrol(course["id"], [(ids["dias@uni.kz"], 5)])
        made = ops.setup_tickets_plugin(course["id"], [Ticket(7, ("Q",))])
        actor = Served(app, url)
        reopen_quiz(actor, made["quizid"])
        assert actor.actor(f"/quiz/{made['quizid']}/attempt", {"email": "dias@uni.kz"}).status_code == 200
        assert actor.actor(f"/quiz/{made['quizid']}/finish", {"email": "dias@uni.kz"}).status_code == 200
        answer = ops.submission_assignment(course["id"])
        assert answer is not None
        assert actor.actor(f"/assign/{answer['id']}/submit", {"email": "dias@uni.kz"}).status_code == 200
        assert app.webhooks.wait_idle(10)  # type: ignore[union-attr]
    finally:
        server.shutdown()
        server.server_close()
        rserver.shutdown()
        rserver.server_close()
    assert [d.status for d in app.webhooks.deliveries] == ["delivered"] * 3  # type: ignore[union-attr]
    assert app.webhooks.deliveries[0].attempts == 2  # type: ignore[union-attr]
    bodies = []
    for headers, body in receiver.posts:
        ts = headers["X-Lmsbridge-Timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Lmsbridge-Signature"], expected)
        payload = json.loads(body)
        assert payload["delivery_id"] == headers["X-Lmsbridge-Delivery"]
        bodies.append(payload)
    # The bridge's own receiver accepts every post (signature, timestamp window, delivery id).
    from werkzeug.datastructures import Headers

    from lms_bridge.webhooks.handlers import parse_moodle
    from lms_bridge.webhooks.verify import verify_moodle

    for headers, body in receiver.posts:
        delivery = verify_moodle(Headers(headers), body, SECRET)
        assert parse_moodle(body, delivery).kind.startswith("moodle.")
    # The failed first post and its retry carry the same delivery and body.
    assert bodies[0] == bodies[1]
    events = [b["event"] for b in bodies[1:]]
    assert events == ["quiz_attempt_started", "quiz_attempt_submitted", "assign_submitted"]
    started = bodies[1]
    assert set(started) == {"schema", "event", "eventname", "delivery_id", "timestamp", "site", "courseid",
                            "courseidnumber", "cmid", "userid", "useridnumber", "useremail", "objectid", "other"}
    assert (started["schema"], started["courseidnumber"], started["useremail"], started["useridnumber"]) == (
        1, "SE-1", "dias@uni.kz", "201103551235")
    assert started["other"]["ticket"] == {"number": 7, "idnumber": "ticket-7",
                                          "questionid": started["other"]["ticket"]["questionid"]}
    assert started["other"]["state"] == "inprogress"
    submitted = bodies[2]
    assert (submitted["other"]["state"], submitted["other"]["studentisonline"]) == ("finished", True)
    assign = bodies[3]
    assert set(assign["other"]) == {"assignid", "submissionid", "attemptnumber", "status", "submissiondrafts",
                                    "timemodified", "groupid"}


def test_actor_refuses_a_student_who_is_not_enrolled(sandbox: Served, ops: MoodleOps) -> None:
    ops.ensure_users([Person("x@uni.kz", "X", "Y", "1")])
    r = sandbox.actor("/quiz/1/attempt", {"email": "x@uni.kz"})
    assert r.status_code == 400
    assert "not enrolled" in r.json()["error"]
    assert sandbox.actor("/quiz/1/attempt", {"email": "nobody@uni.kz"}).status_code == 400
    assert sandbox.actor("/config", {"colour": 1}).status_code == 400
