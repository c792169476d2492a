"""One sandbox server for both stand-ins: ``/google`` (Classroom, Forms, Drive, Sheets, OAuth) and
``/moodle`` (Moodle 4.5 web services), composed with werkzeug's ``DispatcherMiddleware``.

Three ways to use it:

* the embedded default: :func:`start_embedded` serves it in a thread on 127.0.0.1 (ephemeral port)
  with its state under ``data_dir/sandbox``; :func:`effective_settings` points the clients at it
  (``demo``), and the ``lms-bridge`` command hands it to
  :func:`lms_bridge.backends.use_sandbox_starter` so that ``provision`` and ``worker`` start it
  when they first need it;
* ``lms-bridge sandbox serve --port P`` serves it alone, and ``LMS_BRIDGE_SANDBOX_URL`` points the
  product at it instead of starting one;
* tests: ``start_server(create_app(...))`` returns ``(url, stop)``.

The sandboxes keep their state on disk, so two ``lms-bridge provision`` runs in two processes see
the same world.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Response

from lms_bridge.backends import SANDBOX_WEBHOOK_SECRET, needs_sandbox, with_sandbox
from lms_bridge.config import Settings
from lms_bridge.i18n import gettext as _

logger = logging.getLogger(__name__)

WSGIApp = Callable[..., Any]



def webhook_secret(settings: Settings) -> str:
    """The secret the Moodle sandbox signs its webhooks with (and the bridge checks them with)."""
    return settings.moodle.webhook_secret.reveal() or SANDBOX_WEBHOOK_SECRET


def push_endpoint(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/webhooks/google/pubsub"


def moodle_webhook_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + "/webhooks/moodle"


def _index(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    body = json.dumps({"google": "/google/", "moodle": "/moodle/webservice/rest/server.php"})
    return Response(body, mimetype="application/json")(environ, start_response)


def create_app(state_dir: Path, *, push_endpoint: str | None = None, webhook_url: str | None = None,
               webhook_secret: str = SANDBOX_WEBHOOK_SECRET, request_log: Path | None = None,
               faults: dict[str, Any] | None = None, base_url: str | None = None,
               google_clock: Callable[[], float] | None = None) -> WSGIApp:
    """The composed WSGI app: Google under ``/google``, Moodle under ``/moodle``.

    ``google_clock`` (epoch seconds) lets a test move the Google sandbox's time (days pass).

    ``base_url`` is where the app is served (when known before the first request): the Google
    sandbox writes it into its credential files' ``token_uri`` at once.
    """
    from lms_bridge.google.sandbox import create_app as google_app
    from lms_bridge.moodle.sandbox import create_app as moodle_app

    state_dir = Path(state_dir)
    (state_dir / "google").mkdir(parents=True, exist_ok=True)
    (state_dir / "moodle").mkdir(parents=True, exist_ok=True)
    google_base = base_url.rstrip("/") + "/google" if base_url else None
    return DispatcherMiddleware(_index, {
        "/google": google_app(state_dir / "google", push_endpoint=push_endpoint, request_log=request_log,
                              faults=faults, base_url=google_base, clock=google_clock),
        "/moodle": moodle_app(state_dir / "moodle", webhook_url=webhook_url, webhook_secret=webhook_secret),
    })


def create_app_for(settings: Settings, *, request_log: Path | None = None,
                   faults: dict[str, Any] | None = None, base_url: str | None = None) -> WSGIApp:
    """The sandbox app wired to this product's webhooks, state under ``data_dir/sandbox``."""
    return create_app(settings.data_dir / "sandbox", push_endpoint=push_endpoint(settings),
                      webhook_url=moodle_webhook_url(settings), webhook_secret=webhook_secret(settings),
                      request_log=request_log, faults=faults, base_url=base_url)


def _unready(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    return Response("starting", status=503)(environ, start_response)


def start_server(app: WSGIApp | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 factory: Callable[[str], WSGIApp] | None = None) -> tuple[str, Callable[[], None]]:
    """Serve a WSGI app in a daemon thread (threaded werkzeug server); returns its URL and a stop function.

    Give ``app``, or ``factory(url)`` to build the app once the (possibly ephemeral) port is known.
    """
    if (app is None) == (factory is None):
        raise TypeError("give either app or factory")
    server: BaseWSGIServer = make_server(host, port, app or _unready, threaded=True)
    url = f"http://{host}:{server.server_port}"
    if factory is not None:
        try:
            server.app = factory(url)
        except BaseException:
            server.server_close()
            raise
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name=f"sandbox-{server.server_port}", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return url, stop


_embedded: dict[Path, tuple[str, Callable[[], None]]] = {}
_embedded_lock = threading.Lock()


def start_embedded(settings: Settings) -> str:
    """Start (once per process and data dir) the embedded sandbox; returns its base URL."""
    key = settings.data_dir.resolve()
    with _embedded_lock:
        if key not in _embedded:
            _embedded[key] = start_server(factory=lambda url: create_app_for(settings, base_url=url))
            logger.info("embedded sandbox at %s (state in %s)", _embedded[key][0], key / "sandbox")
        return _embedded[key][0]


def stop_embedded() -> None:
    """Stop every embedded sandbox this process started (tests, demo shutdown)."""
    with _embedded_lock:
        servers = list(_embedded.values())
        _embedded.clear()
    for _url, stop in servers:
        stop()


def effective_settings(settings: Settings) -> Settings:
    """Settings with the sandbox filled in where a service is not live.

    With ``sandbox_url`` set, that server is used; otherwise the embedded one is started.  Moodle
    without a URL and token gets the sandbox's ``/moodle`` mount and its token.
    """
    if not needs_sandbox(settings):
        return settings
    return with_sandbox(settings, settings.sandbox_url or start_embedded(settings))


# -- CLI -----------------------------------------------------------------------------------------------

def _parse_faults(fault_rate: float, fault_statuses: str, latency_ms: int, timeout_rate: float,
                  ) -> dict[str, Any] | None:
    """The Google sandbox's fault settings; the error rate is shared evenly among the statuses."""
    statuses = [int(s) for s in fault_statuses.split(",") if s.strip()]
    if any(s not in (429, 500) for s in statuses):
        raise ValueError(fault_statuses)
    if not (fault_rate or latency_ms or timeout_rate):
        return None
    faults: dict[str, Any] = {f"rate_{s}": fault_rate / len(statuses) for s in statuses} if statuses else {}
    if timeout_rate:
        faults["rate_timeout"] = timeout_rate
    if latency_ms:
        faults["latency_ms"] = latency_ms
    return faults


@click.group("sandbox")
def sandbox_group() -> None:
    """The Google and Moodle sandboxes."""


@sandbox_group.command("serve")
@click.option("--port", default=8900, show_default=True, type=click.IntRange(0, 65535),
              help="0 = any free port.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--request-log", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every Google request received (each batch part too) as a JSON line.")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0, 1), show_default=True,
              help="Share of Google requests answered with an injected error status.")
@click.option("--fault-statuses", default="429,500", show_default=True,
              help="Statuses to inject, comma-separated.")
@click.option("--timeout-rate", default=0.0, type=click.FloatRange(0, 1), show_default=True,
              help="Share of Google requests left unanswered until the client times out.")
@click.option("--latency-ms", default=0, type=click.IntRange(0, 60000), show_default=True,
              help="Added latency per Google request.")
def serve_cmd(port: int, host: str, request_log: Path | None, fault_rate: float, fault_statuses: str,
              timeout_rate: float, latency_ms: int) -> None:
    """Serve both sandboxes (Google at /google, Moodle at /moodle) until Ctrl-C."""
    from lms_bridge.store.commands import settings_or_exit

    settings = settings_or_exit()
    try:
        faults = _parse_faults(fault_rate, fault_statuses, latency_ms, timeout_rate)
    except ValueError:
        raise click.BadParameter(_("the statuses can be 429, 500 or both (429,500)"),
                                 param_hint="--fault-statuses") from None
    server = make_server(host, port, _unready, threaded=True)
    url = f"http://{host}:{server.server_port}"
    server.app = create_app_for(settings, request_log=request_log, faults=faults, base_url=url)
    click.echo(_("Sandbox serving at %(url)s (Google: %(url)s/google, Moodle: %(url)s/moodle)", url=url))
    click.echo(_("Point the product at it with LMS_BRIDGE_SANDBOX_URL=%(url)s", url=url))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
