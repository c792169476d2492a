"""The Moodle REST web-service client: the one choke point for every call the product makes to Moodle.

Protocol (see /work/shared/docs/moodle-ws.md §1): ``POST {url}/webservice/rest/server.php`` with
``wstoken``, ``wsfunction`` and ``moodlewsrestformat=json``; parameters PHP-bracket form-encoded,
booleans as 0/1, empty lists omitted (Moodle rejects unknown keys and ``"true"``).  Errors come back as
HTTP 200 with an exception body and are raised as the typed errors of :mod:`lms_bridge.moodle.errors`.
A 403 with an empty body means web services or REST are switched off.

Only reads (``*_get_*`` functions) are retried: a write that timed out may have been applied, and
replaying it is the business of the idempotent operations (find first, then create), not of the transport.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from lms_bridge.config import MoodleSettings, Secret, Settings
from lms_bridge.moodle.errors import (
    AccessDenied,
    BadResponse,
    FunctionsMissing,
    MoodleError,
    MoodleUnavailable,
    RestProtocolDisabled,
    error_from_body,
)
from lms_bridge.remote import ApiCalls

logger = logging.getLogger(__name__)

REST_PATH = "/webservice/rest/server.php"
# wstoken, wsfunction and moodlewsrestformat also count against max_input_vars.
_FIXED_VARS = 3

# The companion plugin's functions (local_lmsbridge/db/services.php); all present = the plugin is
# installed and its functions are in the token's service.
PLUGIN_FUNCTIONS: tuple[str, ...] = (
    "local_lmsbridge_setup_tickets",
    "local_lmsbridge_get_drawn_tickets",
    "local_lmsbridge_ensure_result_assignment",
)

# What each feature calls (kept next to the client so the connect check and the operations agree).
FEATURE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "connect": ("core_webservice_get_site_info",),
    "users": ("core_user_get_users_by_field", "core_user_create_users"),
    "course": ("core_course_get_courses_by_field", "core_course_create_courses"),
    "template": ("core_course_duplicate_course",),
    "enrolments": ("enrol_manual_enrol_users", "core_enrol_get_enrolled_users"),
    "activities": ("mod_quiz_get_quizzes_by_courses", "mod_assign_get_assignments"),
    "tickets_core": ("mod_quiz_add_random_questions", "core_course_get_contents"),
    "attempts": ("mod_quiz_get_user_attempts", "mod_assign_get_submissions"),
    "overrides": ("mod_quiz_save_overrides",),
    "grades": ("mod_assign_save_grade", "core_grades_update_grades"),
    "plugin": PLUGIN_FUNCTIONS,
}

# Moodle 5.x renamed these (UPGRADING.md): either name satisfies the requirement, and the new one is called
# wherever the service offers it (the old one logs a deprecation notice on every call from 5.0).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "mod_quiz_get_user_attempts": ("mod_quiz_get_user_quiz_attempts",),
}

# Used when the service has them, with a weaker path otherwise (the reason is logged on connect).
OPTIONAL_FUNCTIONS: dict[str, str] = {
    "core_course_update_courses": "the course copied from the template is found by short name, not idnumber",
    "mod_quiz_get_overrides": "an existing quiz override is updated only when its id was kept",
    "mod_assign_get_grades": "a saved grade cannot be read back to catch Moodle ignoring it",
    "core_user_get_users": "an account whose e-mail has other capital letters than the session file's is missed",
    "core_course_get_course_module": "the result assignment of a copied course is found by its name only",
    "core_get_fragment": "without the plugin, the random ticket question is added to the quiz by hand after the "
                         "ticket import (its category cannot be read)",
}


def required_functions(settings: MoodleSettings, *, plugin: bool) -> list[str]:
    """Every function the configured features need, in a stable order."""
    features = ["connect", "users", "course", "enrolments", "activities", "attempts", "overrides", "grades"]
    if settings.template_course_id:
        features.append("template")
    features.append("plugin" if plugin else "tickets_core")
    seen: dict[str, None] = {}
    for feature in features:
        for fn in FEATURE_FUNCTIONS[feature]:
            seen.setdefault(fn)
    return list(seen)


def is_read(function: str) -> bool:
    """Reads are the ``get`` functions; they are safe to repeat."""
    return "_get_" in function or function.endswith("_get")


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """PHP bracket form-encoding: ``{"courses": [{"fullname": "A"}]}`` -> ``courses[0][fullname]=A``.

    Booleans become 0/1, ``None`` and empty lists/dicts are left out (Moodle fills the defaults and
    rejects an empty key).
    """
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool):
            out.append((prefix, "1" if value else "0"))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        elif isinstance(value, float):
            out.append((prefix, repr(value) if not value.is_integer() else str(int(value))))
        else:
            out.append((prefix, str(value)))

    walk("", dict(params or {}))
    return out


@dataclass(frozen=True)
class SiteInfo:
    sitename: str
    siteurl: str
    username: str
    userid: int
    release: str
    version: str
    functions: frozenset[str]

    @property
    def plugin_present(self) -> bool:
        return all(fn in self.functions for fn in PLUGIN_FUNCTIONS)

    def missing(self, required: Iterable[str]) -> list[str]:
        return [fn for fn in required if fn not in self.functions
                and not any(alt in self.functions for alt in ALTERNATIVES.get(fn, ()))]

    def pick(self, function: str) -> str:
        """The 5.x name of ``function`` when the service offers it, else ``function`` (4.5)."""
        return next((alt for alt in ALTERNATIVES.get(function, ()) if alt in self.functions), function)


class MoodleClient:
    """Calls Moodle web-service functions.  Thread-safe as long as the requests session is."""

    def __init__(
        self,
        url: str,
        token: Secret | str,
        *,
        api_calls: ApiCalls | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        max_input_vars: int = 1000,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not url:
            raise ValueError("moodle.url is not set")
        if timeout <= 0:
            raise ValueError("a Moodle call needs a positive timeout")
        self.url = url.rstrip("/")
        self._token = token if isinstance(token, Secret) else Secret(token)
        self.api_calls = api_calls or ApiCalls()
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.max_input_vars = max(_FIXED_VARS + 1, max_input_vars)
        self.http = session or requests.Session()
        self._sleep = sleep
        self._rand = rand
        self.site: SiteInfo | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings | MoodleSettings, api_calls: ApiCalls | None = None, **kw: Any
    ) -> MoodleClient:
        ms = settings.moodle if isinstance(settings, Settings) else settings
        return cls(
            ms.url,
            ms.token,
            api_calls=api_calls,
            timeout=ms.timeout_seconds,
            max_retries=ms.max_retries,
            max_input_vars=getattr(ms, "max_input_vars", 1000),
            **kw,
        )

    def __repr__(self) -> str:
        return f"MoodleClient({self.url!r})"

    # -- the choke point ---------------------------------------------------------------------------
    def call(self, function: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call one web-service function and return its decoded JSON result.

        :calls: POST /webservice/rest/server.php (wsfunction = ``function``)
        """
        pairs = encode_params(params)
        if len(pairs) + _FIXED_VARS > self.max_input_vars:
            # PHP would drop the surplus silently; callers with lists use call_batched.
            raise ValueError(
                f"{function}: {len(pairs)} parameters exceed max_input_vars={self.max_input_vars}"
            )
        body = [
            ("wstoken", self._token.reveal()),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
            *pairs,
        ]
        attempts = 1 + (self.max_retries if is_read(function) else 0)
        for attempt in range(attempts):
            try:
                return self._post_once(function, body)
            except MoodleUnavailable as exc:
                if attempt + 1 >= attempts:
                    raise
                delay = min(8.0, 0.5 * 2**attempt) * (0.5 + self._rand())
                logger.warning(
                    "moodle %s failed (%s); retry %d/%d in %.1fs",
                    function,
                    exc.detail,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_once(self, function: str, body: list[tuple[str, str]]) -> Any:
        started = time.monotonic()
        self.api_calls.count("moodle")
        try:
            resp = self.http.post(
                self.url + REST_PATH, data=body, timeout=self.timeout, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise MoodleUnavailable(self._scrub(f"{type(exc).__name__}: {exc}"), function=function) from None
        elapsed = time.monotonic() - started
        logger.debug("moodle %s -> HTTP %s in %.3fs", function, resp.status_code, elapsed)
        if resp.status_code == 403 and not resp.content.strip():
            raise RestProtocolDisabled(
                "HTTP 403 with an empty body", errorcode="restdisabled", function=function
            )
        if resp.status_code >= 500:
            raise MoodleUnavailable(f"HTTP {resp.status_code}", function=function)
        if resp.status_code != 200:
            raise BadResponse(f"HTTP {resp.status_code}", function=function)
        try:
            data = resp.json()
        except ValueError:
            snippet = self._scrub(resp.text[:120].replace("\n", " "))
            raise BadResponse(f"not JSON: {snippet!r}", function=function) from None
        # Any body naming an exception is a failure: a PHP error (TypeError…) comes without errorcode.
        if isinstance(data, dict) and "exception" in data:
            err = error_from_body({k: self._scrub(str(v)) for k, v in data.items()}, function)
            if type(err) is AccessDenied and self.site is not None and function not in self.site.functions:
                err = FunctionsMissing(
                    err.message,
                    errorcode=err.errorcode,
                    function=function,
                    debuginfo=err.debuginfo,
                    exception=err.exception,
                    missing=(function,),
                )
            logger.info("moodle %s -> %s %s", function, err.exception, err.errorcode)
            raise err
        return data

    def _scrub(self, text: str) -> str:
        token = self._token.reveal()
        return text.replace(token, "***") if token else text

    # -- batches -----------------------------------------------------------------------------------
    def chunks(
        self,
        key: str,
        items: Sequence[Any],
        other: Mapping[str, Any] | None = None,
    ) -> Iterator[list[Any]]:
        """Split ``items`` (the list under ``key``) so each request stays under max_input_vars."""
        base = len(encode_params(other)) + _FIXED_VARS
        chunk: list[Any] = []
        used = base
        for item in items:
            n = len(encode_params({key: [item]}))
            if base + n > self.max_input_vars:
                raise ValueError(f"one {key} entry alone exceeds max_input_vars={self.max_input_vars}")
            if chunk and used + n > self.max_input_vars:
                yield chunk
                chunk, used = [], base
            chunk.append(item)
            used += n
        if chunk:
            yield chunk

    def call_batched(
        self, function: str, key: str, items: Sequence[Any], other: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """Call ``function`` once per chunk of ``items``; list results are concatenated."""
        results: list[Any] = []
        for chunk in self.chunks(key, items, other):
            out = self.call(function, {**(other or {}), key: chunk})
            if isinstance(out, list):
                results.extend(out)
            elif out is not None:
                results.append(out)
        return results

    # -- connect -----------------------------------------------------------------------------------
    def site_info(self) -> SiteInfo:
        """:calls: core_webservice_get_site_info"""
        data = self.call("core_webservice_get_site_info")
        if not isinstance(data, dict) or "functions" not in data:
            raise BadResponse(
                "core_webservice_get_site_info returned no function list",
                function="core_webservice_get_site_info",
            )
        info = SiteInfo(
            sitename=str(data.get("sitename", "")),
            siteurl=str(data.get("siteurl", "")),
            username=str(data.get("username", "")),
            userid=int(data.get("userid", 0)),
            release=str(data.get("release", "")),
            version=str(data.get("version", "")),
            functions=frozenset(str(f.get("name")) for f in data.get("functions") or []),
        )
        self.site = info
        return info

    def connect(
        self,
        settings: MoodleSettings | None = None,
        *,
        plugin_mode: str = "auto",
        required: Iterable[str] | None = None,
    ) -> SiteInfo:
        """Site info + check that the token's service has every function the features need.

        Raises :class:`FunctionsMissing` naming every missing function (not just the first).
        """
        info = self.site_info()
        mode = settings.plugin if settings is not None else plugin_mode
        use_plugin = mode == "plugin" or (mode == "auto" and info.plugin_present)
        if required is None:
            required = required_functions(settings or MoodleSettings(), plugin=use_plugin)
        missing = info.missing(required)
        for fn, consequence in OPTIONAL_FUNCTIONS.items():
            if fn not in info.functions:
                logger.info("moodle service lacks optional %s: %s", fn, consequence)
        if missing:
            raise FunctionsMissing(
                "functions missing from the service",
                errorcode="functionsmissing",
                function="core_webservice_get_site_info",
                missing=tuple(missing),
            )
        return info

    def pick(self, function: str) -> str:
        """The name this site offers for ``function`` (see ALTERNATIVES)."""
        return (self.site or self.site_info()).pick(function)

    def has(self, function: str) -> bool:
        """Whether the token's service offers ``function`` (site info is fetched once)."""
        info = self.site or self.site_info()
        return function in info.functions

    def use_plugin(self, settings: MoodleSettings) -> bool:
        """Whether to use the companion plugin (setting ``plugin``: auto/plugin/core)."""
        if settings.plugin == "core":
            return False
        if settings.plugin == "plugin":
            return True
        info = self.site or self.site_info()
        return info.plugin_present


__all__ = [
    "FEATURE_FUNCTIONS",
    "PLUGIN_FUNCTIONS",
    "MoodleClient",
    "MoodleError",
    "SiteInfo",
    "encode_params",
    "is_read",
    "required_functions",
]
