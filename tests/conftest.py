"""Fixtures and rules shared by every area (keep small; area fixtures live in tests/<area>/conftest.py).

Two rules hold for the whole suite:

* **Loopback only.**  Every test runs with a guard on Python's sockets: a TCP/UDP connect, a
  ``sendto``/``sendmsg`` to an address outside 127.0.0.0/8 and ::1, or a name lookup for a name that
  does not stay on this machine, is refused (``NonLoopbackConnection``) and fails the test, even when
  the code under test swallows the error.  Unix sockets are not touched.  What connects from C or
  from another process is out of the guard's sight: libpq (the test PostgreSQL URL is checked to be
  local before any test runs), Chromium (started with background networking off, it loads only the
  pages the tests open) and the product's own subprocesses started by a few command tests.
* **In CI nothing that must run is skipped.**  With ``CI`` set, a skipped test fails the run unless it
  is marked ``moodle_live`` (a real Moodle is only ever checked by hand), so the PostgreSQL/Redis tier and
  the browser tests can never silently drop out.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import os
import shutil
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Compiled modules are kept (__pycache__, git-ignored) even where PYTHONDONTWRITEBYTECODE is set, as it
# is in many container images: otherwise every test process of every run compiles the product and
# rewrites the assertions of every test module again, some 10 s of CPU per process before its first
# test.  Set before the first import of the product, so everything from here on is cached.
sys.dont_write_bytecode = False

from werkzeug.security import generate_password_hash as _generate_password_hash  # noqa: E402

import lms_bridge.admin.auth as _auth  # noqa: E402
from lms_bridge.domain.session import SessionSpec  # noqa: E402

# Passwords: the product hashes with scrypt at werkzeug's cost (2^15), about 50 ms of CPU per hash and
# per sign-in, and the suite signs in and creates accounts some thousand times.  Here the same scrypt
# runs at a cost of 2^10: what is checked (the hash, the sign-in, the throttling) is unchanged, and
# tests/admin/test_user_command.py checks the product's own cost (fixture product_hash_password).
PRODUCT_HASH_PASSWORD = _auth.hash_password
TEST_PASSWORD_METHOD = "scrypt:1024:8:1"


def _cheap_hash_password(password: str) -> str:
    return _generate_password_hash(password, method=TEST_PASSWORD_METHOD)


_auth.hash_password = _cheap_hash_password
_auth._DUMMY_HASH = _cheap_hash_password("not a password of anyone")


@pytest.fixture
def product_hash_password() -> Callable[[str], str]:
    """The product's own password hash (the one the suite replaces with a cheaper cost)."""
    return PRODUCT_HASH_PASSWORD

pytest_plugins = ("pytester",)

SAMPLE_SESSION_YAML = Path(__file__).resolve().parent.parent / "config" / "sample-session.yaml"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two test processes per core.  Much of a process's time is spent waiting (on
    Chromium, on the sandboxes' and the worker's child processes, on a lease running out), so with one
    process per core the cores sit idle a third of the time.  Measured on 2 cores, same commit, one
    after another: 2 processes 4 min 50 s, 3 processes 4 min 14 s, 4 processes 3 min 02 s.
    PYTEST_XDIST_AUTO_NUM_WORKERS still overrides it (xdist reads it first)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 * cores


@pytest.fixture(scope="session")
def sample_spec() -> SessionSpec:
    """The Kazakh sample session (config/sample-session.yaml), parsed."""
    from lms_bridge.sessionfile import load_session

    return load_session(SAMPLE_SESSION_YAML)


# -- the loopback guard ------------------------------------------------------------------------------

class NonLoopbackConnection(OSError):
    """A test tried to reach beyond this machine.

    An ``OSError``, so the code under test meets it the way it would meet a network without a route
    (and its error handling is exercised); the guard records it as well, so the test fails anyway.
    """


def _hosts_file_loopback_names(path: Path = Path("/etc/hosts")) -> frozenset[str]:
    """Names that /etc/hosts maps to a loopback address: resolving them never leaves the machine."""
    names: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        fields_ = line.split("#", 1)[0].split()
        if len(fields_) >= 2 and is_loopback_ip(fields_[0]):
            names.update(name.lower() for name in fields_[1:])
    return frozenset(names)


def is_loopback_ip(text: str) -> bool:
    """True for an IP literal in 127.0.0.0/8 or ::1 (also written as IPv4-mapped ::ffff:127.x.y.z)."""
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    return True


def host_stays_local(host: object, local_names: frozenset[str] = frozenset({"localhost"})) -> bool:
    """May a test connect to ``host`` (an IP literal or a name)?

    Loopback literals yes; names only when they resolve without a query leaving the machine
    ("localhost" and the names /etc/hosts maps to loopback).  ``None``/"" mean the local host.
    """
    if host is None:
        return True
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host == "":
        return True
    if is_ip_literal(host):
        return is_loopback_ip(host)
    name = host.rstrip(".").lower()
    return name == "localhost" or name in local_names


def lookup_stays_local(host: object, local_names: frozenset[str] = frozenset({"localhost"})) -> bool:
    """May a test resolve ``host``?  Any IP literal (no query is sent), else as :func:`host_stays_local`.

    A server bound to 0.0.0.0 resolves its literal; connecting there is refused by the connect check.
    """
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if isinstance(host, str) and is_ip_literal(host):
        return True
    return host_stays_local(host, local_names)


def address_stays_local(family: int, address: object,
                        local_names: frozenset[str] = frozenset({"localhost"})) -> bool:
    """May a socket of ``family`` connect or send to ``address``?  Only IP families are checked."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets, netlink and the like never leave the machine
    if not isinstance(address, tuple) or not address:
        return False
    return host_stays_local(address[0], local_names)


@dataclass
class Violation:
    what: str
    test: str
    stack: str
    reported: bool = False

    def describe(self) -> str:
        return f"{self.what} (during {self.test or 'no test'})\n{self.stack}"


@dataclass
class LoopbackGuard:
    """Wraps the socket module's ways out; every refusal is raised *and* recorded."""

    local_names: frozenset[str] = frozenset({"localhost"})
    violations: list[Violation] = field(default_factory=list)
    current_test: str = ""
    _saved: dict[tuple[Any, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # The real functions the guarded ones hand over to; kept as attributes so the guard's own test
    # can put a recorder in their place and never reach a real network.
    real_connect: Callable[..., Any] = socket.socket.connect
    real_connect_ex: Callable[..., Any] = socket.socket.connect_ex
    real_sendto: Callable[..., Any] = socket.socket.sendto
    real_sendmsg: Callable[..., Any] = socket.socket.sendmsg
    real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo
    real_gethostbyname: Callable[..., Any] = socket.gethostbyname
    real_gethostbyname_ex: Callable[..., Any] = socket.gethostbyname_ex
    real_gethostbyaddr: Callable[..., Any] = socket.gethostbyaddr

    def refuse(self, what: str) -> NonLoopbackConnection:
        stack = "".join(traceback.format_stack(limit=8)[:-2])
        with self._lock:
            self.violations.append(Violation(what, self.current_test, stack))
        return NonLoopbackConnection(f"tests may reach loopback only: {what}")

    # -- the guarded entry points --------------------------------------------------------------------
    def check_address(self, sock: Any, address: object, verb: str) -> None:
        family = getattr(sock, "family", None)
        if family is None or not address_stays_local(int(family), address, self.local_names):
            raise self.refuse(f"{verb} to {address!r}")

    def check_lookup(self, host: object, verb: str) -> None:
        if not lookup_stays_local(host, self.local_names):
            raise self.refuse(f"{verb} of {host!r}")

    def install(self) -> None:
        guard = self

        def connect(sock: Any, address: Any) -> Any:
            guard.check_address(sock, address, "connect")
            return guard.real_connect(sock, address)

        def connect_ex(sock: Any, address: Any) -> Any:
            guard.check_address(sock, address, "connect")
            return guard.real_connect_ex(sock, address)

        def sendto(sock: Any, data: Any, *rest: Any) -> Any:
            # sendto(data, address) or sendto(data, flags, address)
            guard.check_address(sock, rest[-1] if rest else None, "sendto")
            return guard.real_sendto(sock, data, *rest)

        def sendmsg(sock: Any, buffers: Any, *rest: Any) -> Any:
            # sendmsg(buffers[, ancdata[, flags[, address]]]): only a given address is checked; without
            # one the socket is already connected, and its connect was checked.
            if len(rest) >= 3 and rest[2] is not None:
                guard.check_address(sock, rest[2], "sendmsg")
            return guard.real_sendmsg(sock, buffers, *rest)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check_lookup(host, "name lookup")
            return guard.real_getaddrinfo(host, *args, **kwargs)

        def gethostbyname(host: Any) -> Any:
            guard.check_lookup(host, "name lookup")
            return guard.real_gethostbyname(host)

        def gethostbyname_ex(host: Any) -> Any:
            guard.check_lookup(host, "name lookup")
            return guard.real_gethostbyname_ex(host)

        def gethostbyaddr(host: Any) -> Any:
            # A reverse lookup of a non-loopback address is a query to the resolver.
            if not host_stays_local(host, guard.local_names):
                raise guard.refuse(f"reverse lookup of {host!r}")
            return guard.real_gethostbyaddr(host)

        replacements: dict[tuple[Any, str], Any] = {
            (socket.socket, "connect"): connect,
            (socket.socket, "connect_ex"): connect_ex,
            (socket.socket, "sendto"): sendto,
            (socket.socket, "sendmsg"): sendmsg,
            (socket, "getaddrinfo"): getaddrinfo,
            (socket, "gethostbyname"): gethostbyname,
            (socket, "gethostbyname_ex"): gethostbyname_ex,
            (socket, "gethostbyaddr"): gethostbyaddr,
        }
        # Hand over to whatever is in place now (another guard, in a nested pytest run, included).
        self.real_connect = socket.socket.connect
        self.real_connect_ex = socket.socket.connect_ex
        self.real_sendto = socket.socket.sendto
        self.real_sendmsg = socket.socket.sendmsg
        self.real_getaddrinfo = socket.getaddrinfo
        self.real_gethostbyname = socket.gethostbyname
        self.real_gethostbyname_ex = socket.gethostbyname_ex
        self.real_gethostbyaddr = socket.gethostbyaddr
        for (owner, name), replacement in replacements.items():
            self._saved[(owner, name)] = getattr(owner, name)
            replacement.__loopback_guard__ = self  # type: ignore[attr-defined]
            setattr(owner, name, replacement)

    def uninstall(self) -> None:
        for (owner, name), original in self._saved.items():
            setattr(owner, name, original)
        self._saved.clear()

    def unreported(self) -> list[Violation]:
        with self._lock:
            found = [v for v in self.violations if not v.reported]
            for v in found:
                v.reported = True
        return found


_guard_key = pytest.StashKey[LoopbackGuard]()


_data_home_key = pytest.StashKey[tuple[str | None, str]]()


TEST_SERVICE_URLS = ("LMS_BRIDGE_TEST_DATABASE_URL", "LMS_BRIDGE_TEST_REDIS_URL")


def service_url_stays_local(url: str, local_names: frozenset[str] = frozenset({"localhost"})) -> bool:
    """Does a PostgreSQL/Redis URL name this machine (a loopback host or a unix socket)?

    libpq connects from C, out of the socket guard's sight, so the test services are checked here.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    hosts = [parsed.host or ""]
    query_host = parsed.query.get("host")  # libpq's ?host=/run/postgresql (a socket dir) or a list
    if query_host:
        hosts += [h for value in ([query_host] if isinstance(query_host, str) else query_host)
                  for h in value.split(",")]
    return all(h.startswith("/") or host_stays_local(h, local_names) for h in hosts)


def pytest_configure(config: pytest.Config) -> None:
    local_names = _hosts_file_loopback_names() | {"localhost"}
    for name in TEST_SERVICE_URLS:
        if os.environ.get(name) and not service_url_stays_local(os.environ[name], local_names):
            raise pytest.UsageError(f"{name} must name a service on this machine (loopback or a unix socket)")
    guard = LoopbackGuard(local_names=local_names)
    guard.install()
    config.stash[_guard_key] = guard
    # The default data dir (~/.local/share/lms-bridge) is the user's own and, with several test
    # processes, a shared one: each test process gets an empty data home of its own instead.
    home = tempfile.mkdtemp(prefix="lms-bridge-test-data-")
    config.stash[_data_home_key] = (os.environ.get("XDG_DATA_HOME"), home)
    os.environ["XDG_DATA_HOME"] = home


def pytest_unconfigure(config: pytest.Config) -> None:
    _uninstall_made_once(config)
    guard = config.stash.get(_guard_key, None)
    if guard is not None:
        guard.uninstall()
    saved = config.stash.get(_data_home_key, None)
    if saved is not None:
        before, home = saved
        if before is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = before
        shutil.rmtree(home, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # What reached out between tests (collection, session-wide teardown) fails the run too.
    guard = session.config.stash.get(_guard_key, None)
    left = guard.unreported() if guard is not None else []
    if left:
        for violation in left:
            print("\nloopback guard: " + violation.describe())
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def loopback_guard(pytestconfig: pytest.Config) -> LoopbackGuard:
    return pytestconfig.stash[_guard_key]


@pytest.fixture(autouse=True)
def _loopback_only(request: pytest.FixtureRequest) -> Iterator[None]:
    guard = request.config.stash[_guard_key]
    guard.current_test = request.node.nodeid
    yield
    guard.current_test = ""
    found = guard.unreported()
    if found:
        pytest.fail("tests may reach loopback only; this one tried:\n"
                    + "\n".join(v.describe() for v in found), pytrace=False)


# -- the test Redis database --------------------------------------------------------------------------

TEST_REDIS_ENV = "LMS_BRIDGE_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis database, held by one test at a time.

    The job queue has one fixed name, so two tests using the same database at once would take each
    other's jobs.  Test processes (pytest-xdist workers, or two runs side by side) wait for each other
    on a lock file named after the URL instead.  A test in any area that needs Redis takes it here.
    """
    url = os.environ.get(TEST_REDIS_ENV)
    if not url:
        pytest.skip(f"{TEST_REDIS_ENV} is not set")
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"lms-bridge-tests-redis-{digest}.lock"
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield url
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- in CI, what must run does not skip -----------------------------------------------------------

def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr).removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if (report.skipped and running_in_ci() and not hasattr(report, "wasxfail")
            and item.get_closest_marker("moodle_live") is None):
        report.outcome = "failed"
        report.longrepr = (f"skipped in CI ({_skip_reason(report.longrepr)}); with CI set every test "
                           "except the moodle_live ones must run")
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[Any]:
    report = yield
    if report.skipped and running_in_ci() and collector.get_closest_marker("moodle_live") is None:
        report.outcome = "failed"
        report.longrepr = (f"{collector.nodeid} skipped at collection in CI "
                           f"({_skip_reason(report.longrepr)}); with CI set it must run")
    return report


def _store_engines(tmp_path: Path, kind: str) -> Iterator[Any]:
    """A fresh, empty store: a SQLite file under ``tmp_path``, or (``kind == "postgresql"``) a database
    of its own on the test PostgreSQL server, dropped afterwards (skips when none is configured).
    A generator: ``next()`` gives the engine, exhausting it cleans up."""
    import secrets

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from lms_bridge.store.db import autocommit_engine, make_engine

    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'store.sqlite3'}")
        yield engine
        engine.dispose()
        return
    raw = os.environ.get("LMS_BRIDGE_TEST_DATABASE_URL")
    if not raw:
        pytest.skip("LMS_BRIDGE_TEST_DATABASE_URL is not set")
    base = make_url(raw)
    name = f"{base.database or 'lms_bridge'}_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        autocommit_engine(engine).dispose()
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store_engines() -> Callable[[Path, str], Iterator[Any]]:
    """``store_engines(tmp_path, "sqlite" | "postgresql")``: see ``_store_engines``."""
    return _store_engines


# -- costly set-up made once per test process ------------------------------------------------------
#
# Two things nearly every area sets up are costly and come out the same each time: a store brought to
# the migration head (Alembic runs every migration on an empty SQLite file, about a fifth of a second)
# and the Google sandbox's RSA keys (a tenth of a second each).  Each test process makes them once:
#
# * An empty SQLite store asked for the head gets a copy of a file this process migrated once, through
#   the real migrations (``lms_bridge.store.schema.upgrade``).  PostgreSQL, a store that already exists,
#   any other revision, and every test in tests/migrations (which test the migrations themselves) run
#   Alembic as before.
# * The sandbox's keys come from a ring of distinct keys made on first use; two keys handed out within
#   ``_KEY_RING`` calls of each other are always different, so the keys of one sandbox, and of the few
#   sandboxes one test starts, never coincide.

_KEY_RING = 12
_made_once_key = pytest.StashKey[dict[str, Any]]()


def _empty_sqlite_file(engine: Any) -> Path | None:
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    return None if path.exists() else path


def _install_made_once(config: pytest.Config) -> None:
    from lms_bridge.google.sandbox import auth as sandbox_auth
    from lms_bridge.store import schema

    home = Path(tempfile.mkdtemp(prefix="lms-bridge-test-templates-"))
    made: dict[str, Any] = {"home": home, "enabled": True, "template": None, "ring": [], "next": 0,
                            "real_upgrade": schema.upgrade, "real_new_key": sandbox_auth._new_key}
    config.stash[_made_once_key] = made
    real_upgrade = made["real_upgrade"]
    real_new_key = made["real_new_key"]

    def upgrade(engine: Any, revision: str = "head") -> None:
        path = _empty_sqlite_file(engine) if (made["enabled"] and revision == "head") else None
        if path is None:
            real_upgrade(engine, revision)
            return
        if made["template"] is None:
            from lms_bridge.store.db import make_engine

            template = home / "head.sqlite3"
            template_engine = make_engine(f"sqlite:///{template}")
            real_upgrade(template_engine, "head")
            with template_engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            template_engine.dispose()
            made["template"] = template
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made["template"], path)

    def new_key() -> Any:
        ring: list[Any] = made["ring"]
        if len(ring) < _KEY_RING:
            ring.append(real_new_key())
            return ring[-1]
        key = ring[made["next"] % _KEY_RING]
        made["next"] += 1
        return key

    schema.upgrade = upgrade
    sandbox_auth._new_key = new_key


def _uninstall_made_once(config: pytest.Config) -> None:
    made = config.stash.get(_made_once_key, None)
    if made is None:
        return
    from lms_bridge.google.sandbox import auth as sandbox_auth
    from lms_bridge.store import schema

    schema.upgrade = made["real_upgrade"]
    sandbox_auth._new_key = made["real_new_key"]
    shutil.rmtree(made["home"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _migrations_run_for_real_in_their_tests(request: pytest.FixtureRequest) -> Iterator[None]:
    # Installed at the first test, so that pytest-xdist's controller, which runs none, never imports them.
    made = request.config.stash.get(_made_once_key, None)
    if made is None:
        _install_made_once(request.config)
        made = request.config.stash[_made_once_key]
    made["enabled"] = not request.node.nodeid.startswith("tests/migrations/")
    yield
    made["enabled"] = True
