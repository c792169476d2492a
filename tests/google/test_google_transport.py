"""The choke point's policy, driven through googleapiclient's own fake transport (HttpMockSequence)."""

from __future__ import annotations

import json
import pickle

import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.http import HttpMockSequence

from lms_bridge.google import errors
from lms_bridge.google.auth import SCOPES
from lms_bridge.google.classroom import ClassroomClient
from lms_bridge.google.transport import (
    QUOTAS_PER_MINUTE,
    Endpoints,
    GoogleLimiter,
    Transport,
    backoff_delay,
    quota_bucket,
    quota_buckets,
)
from lms_bridge.remote import ApiCalls

BASE = "http://127.0.0.1:9"  # never contacted: HttpMockSequence answers


def _err(status: int, reason: str = "", grpc: str = "") -> tuple[dict[str, str], str]:
    body = {"error": {"code": status, "message": f"msg {status}", "status": grpc,
                      "errors": [{"reason": reason, "message": "m"}] if reason else []}}
    return {"status": str(status)}, json.dumps(body)


def _ok(data: dict) -> tuple[dict[str, str], str]:
    return {"status": "200"}, json.dumps(data)


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _transport(responses: list, *, max_retries: int = 3, quota_wait_seconds: float = 300.0,
               ) -> tuple[Transport, Recorder, ApiCalls, HttpMockSequence]:
    rec, calls = Recorder(), ApiCalls()
    http = HttpMockSequence(responses)
    t = Transport(lambda scopes: Credentials(token="test-token"), endpoints=Endpoints(BASE), api_calls=calls,
                  max_retries=max_retries, quota_wait_seconds=quota_wait_seconds, sleep=rec, rand=lambda: 1.0,
                  http_factory=lambda: http)
    return t, rec, calls, http


# -- pure policy -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "reason", "expected"), [
    (429, "", True), (500, "", True), (503, "backendError", True), (0, "timeout", True),
    (403, "rateLimitExceeded", True), (403, "userRateLimitExceeded", True),
    (403, "forbidden", False), (403, "PERMISSION_DENIED", False), (400, "badRequest", False),
    (404, "notFound", False), (409, "ALREADY_EXISTS", False), (401, "authError", False),
    (403, "sharingRateLimitExceeded", True), (409, "ABORTED", True), (409, "duplicate", False),
])
def test_should_retry(status: int, reason: str, expected: bool) -> None:
    assert errors.should_retry(status, reason) is expected


def test_drive_sharing_rate_limit_is_a_rate_limit_not_a_refusal() -> None:
    # The body Drive's "Resolve errors" guide shows for 403 sharingRateLimitExceeded.
    body = json.dumps({"error": {"errors": [{"domain": "global", "reason": "sharingRateLimitExceeded",
                                             "message": "Rate limit exceeded. User message: \"These item(s) could "
                                                        "not be shared because a rate limit was exceeded\""}],
                                 "code": 403, "message": "Rate limit exceeded."}})
    err = errors.from_http(403, body, "drive")
    assert isinstance(err, errors.RateLimited)
    assert err.retryable


@pytest.mark.parametrize("body", [
    {"error": {"code": 409, "message": "The operation was aborted.", "status": "ABORTED"}},
    {"error": {"code": 409, "message": "Aborted.", "status": "ABORTED",
               "errors": [{"domain": "global", "reason": "conflict", "message": "Aborted."}]}},
])
def test_a_409_aborted_is_a_retryable_conflict_not_already_exists(body: dict) -> None:
    err = errors.from_http(409, json.dumps(body), "drive")
    assert isinstance(err, errors.Aborted)
    assert not isinstance(err, errors.AlreadyExists)
    assert err.retryable
    exists = errors.from_http(409, json.dumps({"error": {"code": 409, "message": "Requested entity already "
                                                         "exists", "status": "ALREADY_EXISTS"}}), "classroom")
    assert isinstance(exists, errors.AlreadyExists)
    assert not exists.retryable


def test_backoff_grows_is_jittered_and_bounded() -> None:
    assert backoff_delay(0, lambda: 1.0) == 1.0
    assert backoff_delay(3, lambda: 1.0) == 8.0
    assert backoff_delay(3, lambda: 0.0) == 4.0  # jitter keeps at least half
    assert backoff_delay(20, lambda: 1.0) == 32.0  # truncated
    assert backoff_delay(0, lambda: 0.0, retry_after=10) == 10  # Retry-After is a floor
    assert backoff_delay(0, lambda: 0.0, retry_after=10_000) == 64  # ... but bounded


def test_quota_buckets_follow_published_quotas() -> None:
    limiter = GoogleLimiter()
    assert limiter.quota("sheets.write") == 60
    assert limiter.quota("forms.write") == 150
    assert limiter.quota("forms.expensive") == 180
    assert limiter.quota("classroom") == 1200
    assert limiter.items["forms.write"].get_expiry() == 61  # Google's 60 s and a 1 s guard
    assert set(QUOTAS_PER_MINUTE) == set(limiter.items)
    assert quota_bucket("forms", "GET") == "forms.read"
    assert quota_bucket("forms", "GET", expensive=True) == "forms.expensive"
    assert quota_buckets("forms", "GET", expensive=True) == ("forms.expensive", "forms.read")
    assert quota_bucket("sheets", "POST") == "sheets.write"
    assert quota_bucket("classroom", "POST") == "classroom"


@pytest.mark.parametrize(("status", "reason", "cls"), [
    (400, "badRequest", errors.InvalidArgument), (401, "", errors.Unauthenticated),
    (403, "forbidden", errors.PermissionDenied), (403, "userRateLimitExceeded", errors.RateLimited),
    (404, "notFound", errors.NotFound), (409, "", errors.AlreadyExists), (429, "", errors.RateLimited),
    (502, "", errors.Unavailable),
])
def test_error_mapping(status: int, reason: str, cls: type) -> None:
    t, _rec, _calls, _ = _transport([_err(status, reason, "SOME_STATUS")], max_retries=0, quota_wait_seconds=0)
    svc = ClassroomClient(t)
    with pytest.raises(cls) as info:
        svc.get_course("p:S1")
    assert info.value.status == status
    assert info.value.service == "classroom"
    if status != 401:  # a 401 makes google-auth try a refresh first, which these tokens cannot do
        assert info.value.reason == (reason or "SOME_STATUS")
    assert "test-token" not in str(info.value)


def test_errors_pickle_with_their_fields() -> None:
    err = errors.RateLimited("slow down", status=429, reason="RESOURCE_EXHAUSTED", service="forms")
    back = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert type(back) is errors.RateLimited
    assert (back.status, back.reason, back.service) == (429, "RESOURCE_EXHAUSTED", "forms")
    assert back.message == "slow down"


# -- executing through the real client ----------------------------------------------------------------

def test_retries_transient_failures_then_succeeds_and_counts_each_request() -> None:
    t, rec, calls, _ = _transport([_err(429), _err(503), _err(403, "rateLimitExceeded"), _ok({"id": "1"})])
    assert ClassroomClient(t).get_course("p:S1") == {"id": "1"}
    # Quota refusals and other failures back off on counts of their own.
    assert rec.sleeps == [1.0, 1.0, 2.0]
    assert calls.snapshot()["classroom"] == 4


def test_retries_are_bounded() -> None:
    t, rec, calls, _ = _transport([_err(500)] * 5, max_retries=2)
    with pytest.raises(errors.Unavailable):
        ClassroomClient(t).get_course("p:S1")
    assert len(rec.sleeps) == 2
    assert calls.snapshot()["classroom"] == 3


def test_permission_denied_is_not_retried() -> None:
    t, rec, _calls, _ = _transport([_err(403, "forbidden"), _ok({})])
    with pytest.raises(errors.PermissionDenied):
        ClassroomClient(t).get_course("p:S1")
    assert rec.sleeps == []


def test_non_idempotent_create_is_not_resent_after_an_ambiguous_failure() -> None:
    t, rec, _calls, _ = _transport([_err(500), _ok({"id": "dup"})])
    with pytest.raises(errors.Unavailable):
        t.execute(t.service("classroom", SCOPES["classroom.topics"]).courses().topics().create(
            courseId="1", body={"name": "x"}), api="classroom", idempotent=False)
    assert rec.sleeps == []


def test_non_idempotent_create_is_resent_after_429_and_recovered_after_500() -> None:
    t, _rec, _calls, _ = _transport([_err(429), _err(500)])
    topics = t.service("classroom", SCOPES["classroom.topics"]).courses().topics()
    got = t.execute(topics.create(courseId="1", body={"name": "x"}), api="classroom", idempotent=False,
                    recover=lambda: {"topicId": "found"})
    assert got == {"topicId": "found"}


def test_sandbox_urls_and_alias_encoding() -> None:
    t, _rec, _calls, http = _transport([_ok({"id": "1"})])
    seen: list[str] = []
    original = http.request

    def spy(uri: str, *args: object, **kwargs: object) -> object:
        seen.append(uri)
        return original(uri, *args, **kwargs)

    http.request = spy  # type: ignore[method-assign]
    ClassroomClient(t).get_course("p:S 1")
    assert seen == [f"{BASE}/google/classroom.googleapis.com/v1/courses/p%3AS%201?alt=json"]
    ep = Endpoints(BASE)
    assert ep.batch_uri("classroom") == f"{BASE}/google/classroom.googleapis.com/batch"
    assert ep.batch_uri("drive") == f"{BASE}/google/www.googleapis.com/batch/drive/v3"
    assert ep.rewrite("https://sheets.googleapis.com/v4/spreadsheets/x") == \
        f"{BASE}/google/sheets.googleapis.com/v4/spreadsheets/x"
    assert Endpoints().batch_uri("classroom") == "https://classroom.googleapis.com/batch"
    assert Endpoints().rewrite("https://sheets.googleapis.com/v4/x") == "https://sheets.googleapis.com/v4/x"


def _multipart(parts: list[tuple[int, dict]]) -> tuple[dict[str, str], str]:
    boundary = "batch_xyz"
    chunks = []
    for i, (status, body) in enumerate(parts):
        reason = "OK" if status == 200 else "Error"
        chunks.append(f"--{boundary}\r\nContent-Type: application/http\r\n"
                      f"Content-ID: <response-{{ID{i}}}>\r\n\r\n"
                      f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n\r\n"
                      f"{json.dumps(body)}\r\n")
    return ({"status": "200", "content-type": f"multipart/mixed; boundary={boundary}"},
            "".join(chunks) + f"--{boundary}--")


class BatchHttp(HttpMockSequence):
    """HttpMockSequence whose multipart answers echo the Content-IDs the client sent."""

    def __init__(self, answers: list) -> None:
        super().__init__([])
        self.answers = answers
        self.bodies: list[str] = []

    def request(self, uri, method="GET", body=None, headers=None, redirections=1, connection_type=None):
        import re

        import httplib2

        self.bodies.append(body)
        kind, data = self.answers.pop(0)
        if kind == "raw":
            resp, content = data
            return httplib2.Response(resp), content.encode()
        ids = re.findall(r"Content-ID: <([^>]+)>", body)
        resp, content = _multipart(data(len(ids)))
        for i, cid in enumerate(ids):
            content = content.replace(f"{{ID{i}}}", re.sub(r"\s+", " ", cid))
        return httplib2.Response(resp), content.encode()


def test_batch_is_chunked_to_50_and_only_retryable_parts_are_resent() -> None:
    answers = [
        # first chunk of 50: part 0 rate-limited, part 1 already there, the rest fine
        ("multi", lambda n: [(429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}),
                             (409, {"error": {"code": 409, "status": "ALREADY_EXISTS"}})]
                            + [(200, {"userId": "u"})] * (n - 2)),
        # the retry of the rate-limited part alone
        ("multi", lambda n: [(200, {"userId": "retried"})] * n),
        # second chunk of 10
        ("multi", lambda n: [(200, {"userId": "u"})] * n),
    ]
    http = BatchHttp(answers)
    rec, calls = Recorder(), ApiCalls()
    t = Transport(lambda s: Credentials(token="t"), endpoints=Endpoints(BASE), api_calls=calls, sleep=rec,
                  rand=lambda: 1.0, http_factory=lambda: http)
    emails = [f"s{i}@uni.kz" for i in range(60)]
    got = ClassroomClient(t).add_people("p:S1", emails, role="STUDENT")
    assert len(http.bodies) == 3
    assert [b.count("POST /google/classroom.googleapis.com/v1/courses/") for b in http.bodies] == [50, 1, 10]
    assert isinstance(got[emails[1]], errors.AlreadyExists)
    assert got[emails[0]] == {"userId": "retried"}
    assert all(got[e] == {"userId": "u"} for e in emails[2:])
    assert calls.snapshot()["classroom"] == 3  # one count per HTTP request
    assert rec.sleeps == [1.0]


def test_failed_batch_request_is_retried_whole() -> None:
    http = BatchHttp([("raw", _err(503)), ("multi", lambda n: [(200, {"id": "p"})] * n)])
    t = Transport(lambda s: Credentials(token="t"), endpoints=Endpoints(BASE), api_calls=ApiCalls(),
                  sleep=Recorder(), rand=lambda: 1.0, http_factory=lambda: http)
    from lms_bridge.google.drive import DriveClient

    got = DriveClient(t).share_published([("f1", "a@x.kz"), ("f2", "b@x.kz")])
    assert got == {("f1", "a@x.kz"): {"id": "p"}, ("f2", "b@x.kz"): {"id": "p"}}
    assert "/google/www.googleapis.com/drive/v3/files/f1/permissions" in http.bodies[1]
