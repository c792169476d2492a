"""The Google sandbox: a stateful local stand-in for Classroom, Forms, Drive and Sheets.

``create_app(state_dir, push_endpoint=..., request_log=..., faults=..., clock=...)`` returns the WSGI
app the product mounts at ``/google``; every emulated host lives under ``/<host>/...``.  Requests are
validated against the discovery documents shipped with google-api-python-client.  See
``docs/sandbox-actor-api.md`` for the people pages and the actor API.
"""

from .server import Sandbox, create_app, sandbox_of
from .serving import RunningServer, serve_in_thread

__all__ = ["RunningServer", "Sandbox", "create_app", "sandbox_of", "serve_in_thread"]
