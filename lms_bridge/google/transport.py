"""The one choke point every Google request goes through.

It builds the discovery clients (static discovery documents shipped with google-api-python-client,
pointed at the sandbox through ``api_endpoint`` or left on Google's defaults), gives each an
authorized ``httplib2`` transport with a timeout, counts every HTTP request in the shared
:class:`~lms_bridge.remote.ApiCalls`, keeps each request inside Google's per-user quota
windows (:class:`GoogleLimiter`: a moving 60-second window per user and quota bucket, shared by every
process), waits out quota refusals, retries what else may be retried (bounded, exponential, jittered)
and turns every failure into a typed :mod:`lms_bridge.google.errors` error.  HTTP batches are chunked to each
API's documented cap and only their retryable parts are sent again.

The gspread side (:mod:`lms_bridge.google.sheets`) goes through :class:`CountingSession`, which
applies the same counting, limiter, timeout and URL rewriting to ``requests``.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import google_auth_httplib2
import httplib2
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession
from googleapiclient.discovery import Resource, build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from lms_bridge.google.errors import (
    GoogleApiError,
    RateLimited,
    Unauthenticated,
    Unavailable,
    from_http,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# (discovery name, version) per API.
APIS: dict[str, tuple[str, str]] = {
    "classroom": ("classroom", "v1"),
    "forms": ("forms", "v1"),
    "drive": ("drive", "v3"),
    "sheets": ("sheets", "v4"),
}

# Where each API lives: the host and the path the discovery document's servicePath adds (Drive only).
_HOSTS: dict[str, tuple[str, str]] = {
    "classroom": ("classroom.googleapis.com", ""),
    "forms": ("forms.googleapis.com", ""),
    "drive": ("www.googleapis.com", "drive/v3/"),
    "sheets": ("sheets.googleapis.com", ""),
}

# HTTP batch endpoints (discovery ``batchPath``) and their documented caps (facts §6).  The client
# itself allows 1000 parts, so chunking is ours to do.
BATCH_PATHS: dict[str, str] = {"classroom": "batch", "drive": "batch/drive/v3"}
BATCH_LIMITS: dict[str, int] = {"classroom": 50, "drive": 100}

# Per-user-per-project quotas, requests per minute, as Google publishes them.  The service account
# acting as one Google user is counted as that user, so these are the binding limits:
# - Forms: 150 write, 390 read, 180 "expensive read" (responses.list) requests per minute per user
#   (https://developers.google.com/workspace/forms/api/limits);
# - Classroom: 1,200 requests per minute per user (same page for Classroom:
#   https://developers.google.com/workspace/classroom/reference/limits);
# - Sheets: 60 read and 60 write requests per minute per user
#   (https://developers.google.com/workspace/sheets/api/limits);
# - Drive: 12,000 queries per 60 seconds per user, the request-count limit projects created before
#   May 2026 keep; newer projects get 325,000 quota units per minute per user with no published
#   per-method cost (https://developers.google.com/workspace/drive/api/guides/limits).
# Each part of an HTTP batch counts as one request of its service
# (https://developers.google.com/workspace/classroom/guides/batch: "a set of n requests batched
# together counts toward your usage limit as n requests").
QUOTAS_PER_MINUTE: dict[str, int] = {
    "classroom": 1200,
    "forms.read": 390,
    "forms.write": 150,
    "forms.expensive": 180,
    "sheets.read": 60,
    "sheets.write": 60,
    "drive": 12000,
}

TOKEN_HOST_PATH = "oauth2.googleapis.com/token"  # noqa: S105 - a URL path, not a secret


@dataclass(frozen=True)
class Endpoints:
    """Where requests go: Google itself (``sandbox_base`` empty) or the sandbox's ``/google`` mount."""

    sandbox_base: str = ""

    @property
    def live(self) -> bool:
        return not self.sandbox_base

    def _root(self, host: str) -> str:
        if self.live:
            return f"https://{host}/"
        return f"{self.sandbox_base.rstrip('/')}/google/{host}/"

    def api_endpoint(self, api: str) -> str | None:
        """The ``client_options.api_endpoint`` (rootUrl + servicePath), None = the discovery default."""
        if self.live:
            return None
        host, service_path = _HOSTS[api]
        return self._root(host) + service_path

    def batch_uri(self, api: str) -> str:
        # The client builds the batch URL from rootUrl + batchPath and ignores api_endpoint (facts §8),
        # so it is always given explicitly.
        return self._root(_HOSTS[api][0]) + BATCH_PATHS[api]

    @property
    def token_uri(self) -> str:
        return self._root(TOKEN_HOST_PATH).rstrip("/")

    def upload_uri(self, uri: str) -> str:
        """A media upload's URL.  The client builds it from the discovery document's rootUrl and, when
        ``api_endpoint`` is set, swaps only the host (scheme and path stay Google's), so it is rebuilt
        here from the path after ``/upload/``; live: Google's own URL."""
        _head, sep, rest = uri.partition("/upload/")
        if not sep:
            return uri
        return self.rewrite("https://www.googleapis.com/upload/" + rest)

    def rewrite(self, url: str) -> str:
        """Map an absolute Google URL (as gspread builds them) onto the sandbox; live: unchanged."""
        if self.live or not url.startswith("https://"):
            return url
        host, sep, rest = url[len("https://"):].partition("/")
        if not host.endswith("googleapis.com"):
            return url
        return self._root(host) + (rest if sep else "")


# -- pure policy: retry decision, backoff, rate limiting ----------------------------------------------

def backoff_delay(attempt: int, rand: Callable[[], float], *, base: float = 1.0, cap: float = 32.0,
                  retry_after: float | None = None) -> float:
    """Truncated exponential backoff with jitter: ``min(cap, base*2**attempt)`` scaled into [50%, 100%].

    Keeping half the delay fixed stops a burst of clients from retrying at once while still backing
    off; a server's ``Retry-After`` is a floor (bounded by twice the cap so one header cannot stall us).
    """
    delay = min(cap, base * (2 ** attempt)) * (0.5 + 0.5 * rand())
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, 2 * cap)
    return delay


class GoogleLimiter:
    """One moving-window limit per (Google user, quota bucket), shared by every process of a deployment.

    Google counts each per-user quota over a moving 60-second window (Classroom: "a moving average
    of 60 seconds"; Forms/Sheets: per minute per user).  The ``limits`` library's
    :class:`~limits.strategies.MovingWindowRateLimiter` counts exactly that, on a storage all
    processes acting as the same user share (:func:`lms_bridge.store.ratelimit.limits_storage`:
    Redis or the store).  Before each request :meth:`acquire` waits until the window has room for it
    (a batch takes one entry per part), so nothing is ever sent over the quota.

    The window is ``window_seconds + guard_seconds`` long on our side: we count a request when we
    send it and Google when it arrives, so a request that waited in a queue longer than the one sent
    a window later would otherwise land in Google's window twice.
    """

    def __init__(self, storage: Storage | None = None, *, user: str = "default",
                 quotas: Mapping[str, int] = QUOTAS_PER_MINUTE, window_seconds: int = 60,
                 guard_seconds: int = 1, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if any(q <= 0 for q in quotas.values()):
            raise ValueError("a rate limit must be positive")
        self.storage = storage if storage is not None else MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.user = user
        self.items = {name: RateLimitItemPerSecond(q, window_seconds + guard_seconds)
                      for name, q in quotas.items()}
        self._clock = clock
        self._sleep = sleep

    def for_user(self, user: str) -> GoogleLimiter:
        """The same limits and storage, counted for another Google user."""
        other = copy.copy(self)
        other.user = user
        return other

    def quota(self, bucket: str) -> int:
        item = self.items.get(bucket)
        return item.amount if item is not None else 0

    def acquire(self, bucket: str, n: int = 1) -> float:
        """Take ``n`` entries of ``bucket``'s window, sleeping until they fit; returns seconds waited.

        More entries than the quota (never the case with the documented batch caps) are taken in
        quota-sized parts, one window after another.
        """
        item = self.items.get(bucket)
        if item is None or n <= 0:
            return 0.0
        waited = 0.0
        while n > 0:
            take = min(n, item.amount)
            while not self.strategy.hit(item, self.user, bucket, cost=take):
                delay = self.until_room(bucket)
                self._sleep(delay)
                waited += delay
            n -= take
        return waited

    def until_room(self, bucket: str) -> float:
        """Seconds until the oldest entry of ``bucket``'s window leaves it (small floor: no busy loop)."""
        item = self.items.get(bucket)
        if item is None:
            return 0.0
        stats = self.strategy.get_window_stats(item, self.user, bucket)
        return max(0.05, stats.reset_time - self._clock())


def quota_bucket(api: str, method: str, *, expensive: bool = False) -> str:
    """The limiter bucket a request falls in: Forms and Sheets count reads and writes apart."""
    if api in ("forms", "sheets"):
        if expensive:
            return f"{api}.expensive"
        return f"{api}.read" if method.upper() == "GET" else f"{api}.write"
    return api


def quota_buckets(api: str, method: str, *, expensive: bool = False) -> tuple[str, ...]:
    """Every bucket a request is charged to.

    Google's Forms page lists expensive reads beside reads without saying whether one also counts
    as the other; we take the stricter reading (both), as the sandbox does.
    """
    first = quota_bucket(api, method, expensive=expensive)
    return (first, f"{api}.read") if expensive else (first,)


# -- the counted, authorized httplib2 transport ------------------------------------------------------

class CountedHttp(google_auth_httplib2.AuthorizedHttp):
    """``AuthorizedHttp`` that counts each API request it sends (a batch POST counts once).

    Counting here, above the token refresh, means OAuth token requests are not counted as API calls
    while every retry of an API request is.
    """

    def __init__(self, credentials: Credentials, http: Any, *, service: str, api_calls: Any) -> None:
        super().__init__(credentials, http=http)
        self.service = service
        self.api_calls = api_calls

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None,
                **kwargs: Any) -> Any:
        if self.api_calls is not None:
            self.api_calls.count(self.service)
        return super().request(uri, method, body=body, headers=headers, **kwargs)


def _retry_after(resp: Any) -> float | None:
    try:
        value = resp.get("retry-after") if resp is not None else None
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def map_exception(exc: BaseException, service: str) -> GoogleApiError:
    """Any failure of a request (HTTP error, timeout, dropped connection) as a typed error."""
    if isinstance(exc, GoogleApiError):
        return exc
    if isinstance(exc, HttpError):
        status = int(getattr(exc.resp, "status", 0) or 0)
        return from_http(status, exc.content, service)
    response = getattr(exc, "response", None)
    if isinstance(response, requests.Response):  # requests.HTTPError and gspread's APIError
        return from_http(response.status_code, response.content, service)
    if isinstance(exc, auth_exceptions.RefreshError):
        # The token endpoint refused the grant (revoked consent, delegation not set up): not retryable.
        return Unauthenticated(f"could not obtain an access token ({str(exc)[:200]}); check the delegation "
                               "scopes and the OAuth grant (docs/google-setup.md)", status=401,
                               reason="refreshFailed", service=service)
    if isinstance(exc, auth_exceptions.TransportError):
        return Unavailable("the token endpoint did not answer", status=0, reason="connection",
                           service=service)
    if isinstance(exc, TimeoutError | requests.Timeout):
        return Unavailable("the request timed out", status=0, reason="timeout", service=service)
    if isinstance(exc, OSError | httplib2.HttpLib2Error | requests.ConnectionError):
        return Unavailable(f"no answer ({type(exc).__name__})", status=0, reason="connection",
                           service=service)
    raise exc


class Transport:
    """Builds the clients and executes requests with limits, retries and typed errors.

    ``credentials_for(scopes)`` returns a (cached) credentials object for a scope set; one discovery
    client is built per (API, scope set, thread) because ``httplib2.Http`` is not thread-safe.
    """

    def __init__(self, credentials_for: Callable[[tuple[str, ...]], Credentials], *,
                 endpoints: Endpoints = Endpoints(), api_calls: Any = None, timeout: float = 30.0,
                 max_retries: int = 5, limiter: GoogleLimiter | None = None, quota_wait_seconds: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic,
                 http_factory: Callable[[], Any] | None = None) -> None:
        self.credentials_for = credentials_for
        self.endpoints = endpoints
        self.api_calls = api_calls
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.rand = rand
        self.clock = clock
        self.limiter = limiter if limiter is not None else GoogleLimiter(sleep=sleep)
        # How long one request may keep waiting for Google's quota windows after 429s before its
        # step fails: several windows, since other processes and people may share the user's quota.
        self.quota_wait_seconds = quota_wait_seconds
        # Tests may hand in googleapiclient's HttpMockSequence; production uses httplib2 with a timeout.
        self._http_factory = http_factory or (lambda: httplib2.Http(timeout=self.timeout))
        self._local = threading.local()

    # -- clients -------------------------------------------------------------------------------------
    def http(self, api: str, scopes: Iterable[str]) -> CountedHttp:
        return self._cached(("http", api, tuple(sorted(scopes))), lambda: CountedHttp(
            self.credentials_for(tuple(sorted(scopes))), self._http_factory(),
            service=api, api_calls=self.api_calls))

    def service(self, api: str, scopes: Iterable[str]) -> Resource:
        """The discovery client for ``api`` whose requests carry a token for exactly ``scopes``."""
        scopes = tuple(sorted(scopes))
        name, version = APIS[api]

        def make() -> Resource:
            endpoint = self.endpoints.api_endpoint(api)
            return build(name, version, http=self.http(api, scopes), static_discovery=True,
                         cache_discovery=False,
                         client_options={"api_endpoint": endpoint} if endpoint else None)

        return self._cached(("service", api, scopes), make)

    def _cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        cache: dict[tuple[Any, ...], Any] = self._local.__dict__.setdefault("cache", {})
        if key not in cache:
            cache[key] = make()
        return cache[key]

    # -- single requests -----------------------------------------------------------------------------
    def execute(self, request: HttpRequest, *, api: str, idempotent: bool = True, expensive: bool = False,
                recover: Callable[[], Any] | None = None) -> Any:
        """Execute one request with rate limiting, bounded retries and typed errors.

        ``idempotent=False`` (a plain create) is retried only after answers that prove Google did
        nothing (429, rate-limit 403); after an ambiguous failure (5xx, timeout) it is retried only
        when ``recover`` is given: it looks the object up by its dedupe key and returns it when the
        failed attempt did make it (None = not made, safe to send again).
        """
        buckets = quota_buckets(api, request.method, expensive=expensive)
        return self.call(lambda: request.execute(num_retries=0), api=api, buckets=buckets,
                         idempotent=idempotent, recover=recover)

    def acquire(self, buckets: Iterable[str], n: int = 1) -> None:
        for bucket in buckets:
            self.limiter.acquire(bucket, n)

    def quota_delay(self, attempt: int, retry_after: float | None) -> float:
        """How long to wait after Google refused a request for quota.

        Our own count keeps us inside the quota, so a refusal means someone else (another program,
        a person in the web UI) spends the same user's quota, and we cannot see their window: wait
        Google's ``Retry-After`` when it gives one, else back off (truncated exponential with
        jitter, Google's advice on every limits page) until the window has room again.
        """
        if retry_after is not None:
            return retry_after
        return backoff_delay(attempt, self.rand)

    def call(self, fn: Callable[[], T], *, api: str, bucket: str | None = None,
             buckets: Iterable[str] | None = None, idempotent: bool = True,
             recover: Callable[[], Any] | None = None) -> T:
        """Run ``fn`` (one HTTP request) under the retry policy; see :meth:`execute`.

        A quota refusal (429, rate-limit 403) is not a failure of the step: Google did nothing, so the
        request waits for the window and is sent again, for up to ``quota_wait_seconds`` in all;
        other retryable failures get ``max_retries`` attempts.
        """
        charged = tuple(buckets) if buckets is not None else (bucket or api,)
        attempt = quota_attempt = 0
        deadline = self.clock() + self.quota_wait_seconds
        while True:
            self.acquire(charged)
            retry_after: float | None = None
            try:
                return fn()
            except Exception as exc:
                err = map_exception(exc, api)
                if isinstance(exc, HttpError):
                    retry_after = _retry_after(exc.resp)
            if isinstance(err, RateLimited):  # Google did not act on the request
                delay = self.quota_delay(quota_attempt, retry_after)
                if self.clock() + delay > deadline:
                    raise err
                logger.info("%s: %s, waiting %.1fs for the quota window", api, err.reason or err.status, delay)
                self.sleep(delay)
                quota_attempt += 1
                continue
            if not err.retryable or attempt >= self.max_retries or not (idempotent or recover):
                raise err
            if not idempotent and recover is not None:
                found = recover()
                if found is not None:
                    return found  # type: ignore[no-any-return]
            delay = backoff_delay(attempt, self.rand, retry_after=retry_after)
            logger.info("%s: %s, retry %d in %.1fs", api, err.reason or err.status, attempt + 1, delay)
            self.sleep(delay)
            attempt += 1

    def pages(self, make_request: Callable[[str | None], HttpRequest], *, api: str, items: str,
              expensive: bool = False) -> list[dict[str, Any]]:
        """All items of a paged list call (``make_request(page_token)``)."""
        out: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = self.execute(make_request(token), api=api, expensive=expensive)
            out.extend(page.get(items, []))
            token = page.get("nextPageToken")
            if not token:
                return out

    # -- HTTP batches --------------------------------------------------------------------------------
    def execute_batch(self, api: str, scopes: Iterable[str], requests_by_key: Mapping[str, HttpRequest],
                      ) -> dict[str, Any]:
        """Send requests in HTTP batches of the API's cap; returns key -> response or GoogleApiError.

        Only parts that failed retryably are sent again (in a fresh batch, after a backoff); a part's
        final failure is returned, not raised, so the caller decides (ALREADY_EXISTS is often fine).
        A failure of the whole batch request is retried the same way.  Every part given here must be
        safe to send twice (the callers batch only naturally idempotent writes).
        """
        limit = BATCH_LIMITS[api]
        keys = list(requests_by_key)
        results: dict[str, Any] = {}
        for start in range(0, len(keys), limit):
            chunk = keys[start:start + limit]
            self._run_chunk(api, scopes, {k: requests_by_key[k] for k in chunk}, results)
        return results

    def _run_chunk(self, api: str, scopes: Iterable[str], parts: dict[str, HttpRequest],
                   results: dict[str, Any]) -> None:
        pending = dict(parts)
        attempt = quota_attempt = 0
        deadline = self.clock() + self.quota_wait_seconds
        buckets = quota_buckets(api, "POST")
        while pending:
            # Part ids must be unique per batch only; the callback maps them back to our keys.  They
            # are kept short: the client prefixes a UUID, and a header line past 78 characters gets
            # folded by the MIME generator, which not every server unfolds.
            ids = {str(i): key for i, key in enumerate(pending)}
            got: dict[str, Any] = {}

            def callback(request_id: str, response: Any, exception: Any, _ids: dict[str, str] = ids,
                         _got: dict[str, Any] = got) -> None:
                key = _ids[request_id]
                _got[key] = map_exception(exception, api) if exception is not None else response

            batch = BatchHttpRequest(callback=callback, batch_uri=self.endpoints.batch_uri(api))
            for rid, key in ids.items():
                batch.add(pending[key], request_id=rid)
            # Each part counts toward the per-minute quota of its service (facts §6, C-bat).
            self.acquire(buckets, len(pending))
            retry_after: float | None = None
            try:
                batch.execute(http=self.http(api, scopes))
            except Exception as exc:
                err = map_exception(exc, api)
                if isinstance(exc, HttpError):
                    retry_after = _retry_after(exc.resp)
                got = {key: err for key in pending}
            results.update(got)
            refused = {k: pending[k] for k, v in got.items() if isinstance(v, RateLimited)}
            failed = {k: pending[k] for k, v in got.items()
                      if isinstance(v, GoogleApiError) and v.retryable and k not in refused}
            resend: dict[str, HttpRequest] = {}
            delay = 0.0
            if refused:
                # Parts refused for quota: Google did nothing; they wait for the window, within the
                # request's quota budget, and do not use up the retries.
                wait = self.quota_delay(quota_attempt, retry_after)
                if self.clock() + wait <= deadline:
                    resend.update(refused)
                    delay = wait
                    quota_attempt += 1
            if failed and attempt < self.max_retries:
                resend.update(failed)
                delay = max(delay, backoff_delay(attempt, self.rand, retry_after=retry_after))
                attempt += 1
            if not resend:
                return
            self.sleep(delay)
            pending = resend


class CountingSession(AuthorizedSession):
    """The ``requests`` session gspread uses: sandbox URL rewriting, counting, limiter and a timeout.

    gspread builds absolute ``https://sheets.googleapis.com/...`` and ``https://www.googleapis.com/
    drive/v3/...`` URLs from module constants with no base-URL option (facts §5), so the sandbox
    prefix is applied here.  Retries are not done here but by :meth:`Transport.call` around each
    gspread call, where it is known whether the call is safe to repeat.
    """

    def __init__(self, credentials: Credentials, transport: Transport) -> None:
        super().__init__(credentials)
        self._transport = transport

    def request(self, method: str, url: str, data: Any = None, headers: Any = None,  # type: ignore[override]
                max_allowed_time: Any = None, timeout: Any = None, **kwargs: Any) -> requests.Response:
        service = "drive" if "/drive/" in url else "sheets"
        read = method.upper() == "GET" or url.endswith((":getByDataFilter", ":batchGetByDataFilter"))
        self._transport.acquire(quota_buckets(service, "GET" if read else "POST"))
        if self._transport.api_calls is not None:
            self._transport.api_calls.count(service)
        return super().request(method, self._transport.endpoints.rewrite(url), data=data, headers=headers,
                               max_allowed_time=max_allowed_time,
                               timeout=timeout if timeout is not None else self._transport.timeout, **kwargs)

