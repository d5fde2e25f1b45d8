"""The outbound address guard: no connection may be opened to a loopback, private or otherwise
non-public address.

A host name is resolved once per crawl, every address it resolves to is checked before any
socket connects, and the connection is made only to those checked addresses. The answer is
pinned for the crawl, so a second DNS answer (a rebinding attack) cannot differ from the one
that was checked, and every numeric spelling of an address (2130706433, 0x7f.1) is judged by
what the resolver makes of it, not by how the URL was written. A refused target gets one
message whatever is listening there: open, closed and unroutable ports look the same.

The same connection classes also let a request's deadline watch reach the socket in use
(see fetch._Watch), whether the connection is new or reused from the pool.
"""

import ipaddress
import socket
import threading
from contextlib import contextmanager

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _DEFAULT_TIMEOUT, allowed_gai_family

_current = threading.local()

# Python's ipaddress calls these public, yet they carry an IPv4 address a router may deliver
# inside the network (RFC 3056 6to4, RFC 6052 NAT64) or are IETF protocol assignments.
_SIXTO4 = ipaddress.ip_network("2002::/16")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")


class BlockedAddressError(Exception):
    """Raised instead of connecting to a non-public address."""


def refused_message(host):
    """The one message for every refused target: it says nothing about what listens there."""
    return f"refused to fetch {host}: it is not a public address"


def address_problem(ip):
    """Return why `ip` may not be fetched, or "" when it is a public address."""
    address = ipaddress.ip_address(ip.split("%")[0])
    for embedded in _embedded_ipv4(address):
        problem = address_problem(str(embedded))
        if problem:
            return problem
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.version == 4 and address in _PROTOCOL_ASSIGNMENTS:
        return "non-public"
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


def _embedded_ipv4(address):
    if address.version != 6:
        return []
    found = []
    if address in _SIXTO4:
        found.append(address.sixtofour)
    if address.teredo:
        found.extend(address.teredo)  # (server, client): either may be an inside address
    if any(address in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


class Resolver:
    """Resolves each host name once per crawl (the answer is pinned) and, when `guarded`,
    refuses the whole name if any address it resolves to is not public; `allowed` lists
    addresses let through anyway (an intranet server the operator trusts; the tests' hosts)."""

    def __init__(self, guarded=True, allowed=()):
        self.guarded = guarded
        self.allowed = frozenset(allowed)
        self._answers = {}
        self._lock = threading.Lock()

    def addresses(self, host):
        """[(family, sockaddr)] to connect to; raises BlockedAddressError or socket.gaierror."""
        with self._lock:
            answer = self._answers.get(host)
        if answer is None:
            answer = self._resolve(host)
            with self._lock:
                answer = self._answers.setdefault(host, answer)  # the first answer wins
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _resolve(self, host):
        try:
            infos = socket.getaddrinfo(host, 0, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as exc:
            return exc
        except UnicodeError:
            return socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = []
        for family, _, _, _, sockaddr in infos:
            if self.guarded and sockaddr[0] not in self.allowed and address_problem(sockaddr[0]):
                return BlockedAddressError(refused_message(host))
            if (family, sockaddr) not in addresses:
                addresses.append((family, sockaddr))
        return addresses


@contextmanager
def watching(watch):
    """Requests made by this thread inside the block report their connection to `watch`."""
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None


class _Watched:
    resolver = None  # set on the per-adapter subclasses below

    def _new_conn(self):
        try:
            addresses = self.resolver.addresses(self._dns_host)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error = None
        for family, sockaddr in addresses:
            try:
                return self._connect_to(family, (sockaddr[0], self.port) + tuple(sockaddr[2:]))
            except OSError as exc:
                error = exc
        if isinstance(error, socket.timeout):
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})")
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")

    def _connect_to(self, family, sockaddr):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in self.socket_options or ():
                sock.setsockopt(*option)
            if self.timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(self.timeout)
            if self.source_address:
                sock.bind(self.source_address)
            sock.connect(sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self)
        sent = super().request(*args, **kwargs)
        _ack_at_once(self.sock)
        return sent


def _ack_at_once(sock):
    """Acknowledge the answer's first segment at once instead of after the kernel's delayed-ACK
    wait (40 ms on Linux). A server that writes its headers and its body separately without
    TCP_NODELAY (Python's http.server, some application servers) holds the body back until
    that ACK: 40 ms lost on every request, twenty times per small domain."""
    if _QUICKACK is not None and sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only; elsewhere the kernel's default


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _Resolving:
    """A pool that gives each connection it opens its manager's resolver (set on the pool by
    GuardedPools): a connection without one cannot connect at all."""

    resolver = None

    def _new_conn(self):
        connection = super()._new_conn()
        connection.resolver = self.resolver
        return connection


class _HTTPPool(_Resolving, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_Resolving, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class GuardedPools(PoolManager):
    """urllib3 connection pools whose connections resolve through one pinned `Resolver`, report
    to the request's watch and, when `guarded`, never connect to non-public addresses. The
    classes are shared and the resolver is handed down: classes made per crawl cost 0.1 ms."""

    def __init__(self, guarded=True, allowed_addresses=(), **kwargs):
        super().__init__(**kwargs)
        self.resolver = Resolver(guarded, allowed_addresses)
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def _new_pool(self, scheme, host, port, request_context=None):
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.resolver = self.resolver
        return pool
