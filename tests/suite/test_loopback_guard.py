"""The suite's loopback guard (tests/conftest.py).

None of these tests may send a packet beyond loopback even if the guard were broken: the refused
calls go through a socket-like object the real ``connect`` cannot use (it raises ``TypeError`` on it),
or through the guard after its hand-over to the real function was replaced by a recorder, and every
test first checks that the guard is the function in place before calling it.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from conftest import (  # the suite-wide conftest (tests/ is on sys.path)
    LoopbackGuard,
    NonLoopbackConnection,
    _hosts_file_loopback_names,
    address_stays_local,
    host_stays_local,
    lookup_stays_local,
    service_url_stays_local,
)

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

# Documentation ranges (RFC 5737, RFC 3849) and names that would need the resolver.
OUTSIDE = ["192.0.2.10", "10.0.0.1", "0.0.0.0", "169.254.169.254", "128.0.0.1", "2001:db8::1", "::",
           "::ffff:192.0.2.10", "fe80::1%eth0", "example.org", "localhost.example.org", "accounts.google.com",
           "foo.localhost", b"example.org"]
INSIDE = ["127.0.0.1", "127.255.255.254", "127.1.2.3", "::1", "[::1]", "::ffff:127.0.0.1", "localhost",
          "LOCALHOST.", b"127.0.0.1", None, ""]


class Recorder:
    """Stands where the real socket function would be: records, never touches the network."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.result = result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        return self.result


def _require_installed(guard: LoopbackGuard, *functions: Any) -> None:
    # Before any refused call: the function called must be this guard's, or the call is not made.
    for fn in functions:
        if getattr(fn, "__loopback_guard__", None) is not guard:
            pytest.fail(f"the loopback guard is not installed on {fn!r}")


@pytest.mark.parametrize("host", INSIDE)
def test_loopback_hosts_are_allowed(host: object) -> None:
    assert host_stays_local(host)
    assert lookup_stays_local(host)


@pytest.mark.parametrize("host", OUTSIDE)
def test_other_hosts_are_refused(host: object) -> None:
    assert not host_stays_local(host)


def test_lookups_of_literals_stay_local_but_names_do_not() -> None:
    # Resolving a literal sends no query (a server may bind 0.0.0.0); resolving a name may.
    assert lookup_stays_local("0.0.0.0")
    assert lookup_stays_local("2001:db8::1")
    assert not lookup_stays_local("example.org")
    assert not lookup_stays_local("vm.internal")
    assert lookup_stays_local("vm", frozenset({"vm"}))
    assert not host_stays_local(("127.0.0.1", 80))  # an address tuple is not a host


def test_addresses_by_family() -> None:
    assert address_stays_local(socket.AF_INET, ("127.0.0.1", 5432))
    assert address_stays_local(socket.AF_INET6, ("::1", 6379, 0, 0))
    assert not address_stays_local(socket.AF_INET, ("192.0.2.10", 443))
    assert not address_stays_local(socket.AF_INET6, ("2001:db8::1", 443, 0, 0))
    assert not address_stays_local(socket.AF_INET, "192.0.2.10")
    assert not address_stays_local(socket.AF_INET, ())
    assert address_stays_local(socket.AF_UNIX, "/run/postgresql/.s.PGSQL.5432")
    assert address_stays_local(socket.AF_UNIX, b"\0abstract")


@pytest.mark.parametrize(("url", "local"), [
    ("postgresql+psycopg://postgres@127.0.0.1:5432/test", True),
    ("postgresql+psycopg://postgres@localhost/test", True),
    ("postgresql+psycopg://postgres@[::1]:5432/test", True),
    ("postgresql+psycopg:///test?host=/run/postgresql", True),
    ("postgresql+psycopg://postgres@db.example.org/test", False),
    ("postgresql+psycopg://postgres@10.0.0.5/test", False),
    ("postgresql+psycopg://postgres@127.0.0.1/test?host=db.example.org", False),
    ("redis://127.0.0.1:6379/1", True),
    ("redis://:pw@cache.internal:6379/0", False),
])
def test_the_test_services_must_be_on_this_machine(url: str, local: bool) -> None:
    # libpq connects from C where the socket guard cannot see: the URLs are checked before any test.
    assert service_url_stays_local(url) is local


def test_hosts_file_names_mapped_to_loopback(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.1.1 vm vm.local # this host\n::1 ip6-localhost\n"
                     "10.0.0.5 db.internal\n# 127.0.0.1 commented\n", encoding="utf-8")
    assert _hosts_file_loopback_names(hosts) == {"localhost", "vm", "vm.local", "ip6-localhost"}
    assert _hosts_file_loopback_names(tmp_path / "absent") == frozenset()


def test_the_guard_is_installed_on_every_way_out(loopback_guard: LoopbackGuard) -> None:
    for fn in (socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto, socket.socket.sendmsg,
               socket.getaddrinfo, socket.gethostbyname, socket.gethostbyname_ex, socket.gethostbyaddr):
        assert getattr(fn, "__loopback_guard__", None) is loopback_guard, fn


@pytest.mark.parametrize("call", ["connect", "connect_ex", "sendto", "sendto-flags", "sendmsg"])
def test_a_socket_call_beyond_loopback_is_refused_and_recorded(
        loopback_guard: LoopbackGuard, monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    name = call.split("-")[0]
    _require_installed(loopback_guard, getattr(socket.socket, name))
    recorder = Recorder()
    monkeypatch.setattr(loopback_guard, f"real_{name}", recorder)
    # Not a socket: had the guard not been in place, the real method would refuse it with TypeError.
    fake = SimpleNamespace(family=socket.AF_INET6)
    outside = ("2001:db8::1", 443, 0, 0)
    args = {"connect": (outside,), "connect_ex": (outside,), "sendto": (b"x", outside),
            "sendto-flags": (b"x", 0, outside), "sendmsg": ([b"x"], [], 0, outside)}[call]
    with pytest.raises(NonLoopbackConnection, match="loopback only"):
        getattr(socket.socket, name)(fake, *args)
    assert recorder.calls == []
    taken = loopback_guard.unreported()  # this test's own refusal must not fail it
    assert len(taken) == 1
    assert "2001:db8::1" in taken[0].what

    getattr(socket.socket, name)(fake, *args[:-1], ("::1", 443, 0, 0))  # loopback goes through
    assert len(recorder.calls) == 1
    assert loopback_guard.unreported() == []


@pytest.mark.parametrize("fn", ["getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"])
def test_a_lookup_beyond_loopback_is_refused(loopback_guard: LoopbackGuard, monkeypatch: pytest.MonkeyPatch,
                                             fn: str) -> None:
    _require_installed(loopback_guard, getattr(socket, fn))
    recorder = Recorder()
    monkeypatch.setattr(loopback_guard, f"real_{fn}", recorder)  # no resolver is asked, whatever happens
    target = "192.0.2.10" if fn == "gethostbyaddr" else "accounts.google.com"
    with pytest.raises(NonLoopbackConnection):
        getattr(socket, fn)(target)
    assert recorder.calls == []
    assert len(loopback_guard.unreported()) == 1
    getattr(socket, fn)("localhost")
    assert recorder.calls == [("localhost",)]


def test_a_library_request_beyond_loopback_fails_and_is_recorded(
        loopback_guard: LoopbackGuard, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests -> urllib3 -> socket.create_connection -> getaddrinfo (a literal) -> socket.connect.
    _require_installed(loopback_guard, socket.socket.connect, socket.getaddrinfo)
    # Were the decision wrong, the "connected" socket would still be unconnected: nothing can leave.
    monkeypatch.setattr(loopback_guard, "real_connect", Recorder())
    with pytest.raises(requests.ConnectionError):
        requests.get("http://192.0.2.10:9/", timeout=1)
    taken = loopback_guard.unreported()
    assert taken
    assert "192.0.2.10" in taken[0].what


def test_loopback_connections_work_through_the_guard() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            accepted.append(conn.recv(16))

    thread = threading.Thread(target=accept)
    thread.start()
    with socket.create_connection(("localhost", port), timeout=5) as client:
        client.sendall(b"hello")
    thread.join(5)
    server.close()
    assert accepted == [b"hello"]


def test_a_test_that_swallows_the_refusal_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makepyfile(test_swallow="""
        import socket
        from types import SimpleNamespace

        def test_swallowed():
            try:
                # A fake socket: even an unguarded connect could not use it.
                socket.socket.connect(SimpleNamespace(family=socket.AF_INET), ("192.0.2.10", 80))
            except OSError:
                pass

        def test_clean():
            pass
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_swallowed*", "*tests may reach loopback only*",
                                 "connect to ('192.0.2.10', 80) (during test_swallow.py::test_swallowed)"])
