"""The outbound address guard: no request may reach a loopback, private or otherwise non-public address.

The check runs on the socket's peer address after it connects, so every DNS answer, every
numeric spelling of an address (2130706433, 0x7f.1) and every redirect hop is judged by where
the connection really went, not by how the URL was written.

The same connection classes also let a request's deadline watch reach the socket in use
(see fetch._Watch), whether the connection is new or reused from the pool.
"""

import ipaddress
import threading
from contextlib import contextmanager

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class BlockedAddressError(Exception):
    """Raised instead of talking to a non-public address."""


def address_problem(ip):
    """Return why `ip` may not be fetched, or "" when it is a public address."""
    address = ipaddress.ip_address(ip.split("%")[0])
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    for attribute, label in (
        ("is_loopback", "loopback"),
        ("is_unspecified", "unspecified"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),  # before private: Python counts 240.0.0.0/4 as both
        ("is_private", "private"),
    ):
        if getattr(address, attribute):
            return label
    return "" if address.is_global else "non-public"


class AddressGuard:
    """Judges the peer of each new connection; `allowed` lists addresses let through anyway
    (an intranet server the operator trusts; the tests' first hop)."""

    def __init__(self, allowed=()):
        self.allowed = frozenset(allowed)

    def check(self, sock, host):
        peer = sock.getpeername()[0]
        if peer in self.allowed:
            return
        problem = address_problem(peer)
        if problem:
            sock.close()
            raise BlockedAddressError(f"refused to fetch {host}: it resolves to a {problem} address ({peer})")


@contextmanager
def watching(watch):
    """Requests made by this thread inside the block report their connection to `watch`."""
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None


class _Watched:
    guard = None  # set on the per-adapter subclasses below

    def _new_conn(self):
        sock = super()._new_conn()
        if self.guard is not None:
            self.guard.check(sock, self.host)
        return sock

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self)
        return super().request(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class WatchedAdapter(HTTPAdapter):
    """A requests adapter whose connections report to the request's watch and, when
    `guarded`, refuse non-public peers."""

    def __init__(self, guarded=True, allowed_addresses=(), **kwargs):
        self.guard = AddressGuard(allowed_addresses) if guarded else None
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        guard = getattr(self, "guard", None)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("HTTPPool", (HTTPConnectionPool,), {
                "ConnectionCls": type("HTTPConnection", (_HTTPConnection,), {"guard": guard}),
            }),
            "https": type("HTTPSPool", (HTTPSConnectionPool,), {
                "ConnectionCls": type("HTTPSConnection", (_HTTPSConnection,), {"guard": guard}),
            }),
        }
