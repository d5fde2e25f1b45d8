"""The outbound address guard: no request may reach a loopback, private or otherwise non-public address.

The check runs on the socket's peer address after it connects, so every DNS answer, every
numeric spelling of an address (2130706433, 0x7f.1) and every redirect hop is judged by where
the connection really went, not by how the URL was written.
"""

import ipaddress

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


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
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, attribute):
            return label
    return "" if address.is_global else "non-public"


def _check_peer(sock, host):
    peer = sock.getpeername()[0]
    problem = address_problem(peer)
    if problem:
        sock.close()
        raise BlockedAddressError(f"refused to fetch {host}: it resolves to a {problem} address ({peer})")


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        return sock


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        return sock


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections refuse non-public peers."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}
