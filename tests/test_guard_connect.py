"""The guard refuses before it connects: a port scan through the engine reaches no private
listener, learns nothing from the answers, and a second DNS answer cannot differ."""

import socket
import threading

import pytest

from batches.sitemaps import CrawlConfig
from batches.sitemaps.guard import address_problem, refused_message
from batches.sitemaps.records import DomainError, SitemapProblem
from tests.sites import crawl, sitemapindex, urlset

# The "public" fixture host is 127.0.0.2, let through by name; 127.0.0.1 is private.
PUBLIC_ONLY = CrawlConfig(retries=0, probe_well_known=False, connect_timeout=1, allowed_addresses=("127.0.0.2",))


class Listener:
    """A private TCP server on 127.0.0.1 that counts every connection it accepts."""

    def __init__(self, port=0):
        self.accepts = 0
        self.sock = socket.create_server(("127.0.0.1", port))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepts += 1
            conn.close()

    def close(self):
        self.running = False
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


def _closed_port():
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


def test_it_makes_no_connection_to_a_private_listener_whatever_the_spelling(site_factory, listener):
    public = site_factory(address="127.0.0.2")
    port, closed = listener.port, _closed_port()
    targets = [
        f"http://127.0.0.1:{port}/open.xml",
        f"http://127.0.0.1:{closed}/closed.xml",
        f"http://localhost:{port}/by-name.xml",
        f"http://2130706433:{port}/decimal.xml",
        f"http://0x7f.1:{port}/hex.xml",
        f"http://[::ffff:127.0.0.1]:{port}/mapped.xml",
        f"http://[2002:7f00:1::]:{port}/6to4.xml",
        f"http://[64:ff9b::7f00:1]:{port}/nat64.xml",
        f"http://10.255.255.1:{port}/unroutable.xml",
        f"http://192.0.0.8:{port}/protocol-assignment.xml",
    ]
    children = [f"http://127.0.0.1:{port}/child.xml", f"http://localhost:{closed}/child.xml"]
    public.add("/robots.txt", "".join(f"Sitemap: {url}\n" for url in targets + [public.url("/index.xml")]))
    public.add("/index.xml", sitemapindex(children + [public.url("/hop.xml")]))
    public.redirect("/hop.xml", f"http://127.0.0.1:{port}/redirected.xml")
    found = crawl(public, PUBLIC_ONLY)
    assert listener.accepts == 0
    for url in targets + children + [public.url("/hop.xml")]:
        finished = found.finished(url)
        host = "127.0.0.1" if url.endswith("/hop.xml") else url.split("//")[1].rsplit(":", 1)[0].strip("[]")
        assert (finished.error, finished.error_code) == (refused_message(host), SitemapProblem.BLOCKED), url


def test_it_refuses_open_closed_and_unroutable_targets_with_one_message(listener):
    open_port, closed = listener.port, _closed_port()
    errors = []
    for host in (f"127.0.0.1:{open_port}", f"127.0.0.1:{closed}", "10.255.255.1:81"):
        found = crawl(host, PUBLIC_ONLY)
        errors.append((found.result.error.split(": ", 1)[1], found.result.error_code))
    assert errors == [("refused to fetch 127.0.0.1: it is not a public address", DomainError.BLOCKED)] * 2 + [
        ("refused to fetch 10.255.255.1: it is not a public address", DomainError.BLOCKED)]
    assert listener.accepts == 0


def test_it_pins_the_first_dns_answer_so_a_rebinding_name_cannot_reach_inside(site_factory, monkeypatch):
    public = site_factory(address="127.0.0.2")
    inside = Listener(port=public.port)  # same port on the private address
    # the server closes each connection, so the sitemap needs a new one (and a new lookup, unpinned)
    public.add("/robots.txt", f"Sitemap: http://rebind.test:{public.port}/a.xml\n", headers={"Connection": "close"})
    public.add("/a.xml", urlset([public.url("/a")]))
    real_getaddrinfo = socket.getaddrinfo
    answers = []

    def rebinding(host, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        answers.append(host)
        address = "127.0.0.2" if len(answers) == 1 else "127.0.0.1"  # public first, then inside
        return real_getaddrinfo(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    try:
        found = crawl(f"rebind.test:{public.port}", PUBLIC_ONLY)
    finally:
        inside.close()
    assert set(found.urls) == {public.url("/a")}
    assert (len(answers), inside.accepts) == (1, 0)
    assert public.hits["/robots.txt"] == 1 and public.hits["/a.xml"] == 1


def test_it_refuses_a_name_when_any_of_its_addresses_is_private(site_factory, monkeypatch):
    public = site_factory(address="127.0.0.2")
    real_getaddrinfo = socket.getaddrinfo

    def both(host, *args, **kwargs):
        if host != "mixed.test":
            return real_getaddrinfo(host, *args, **kwargs)
        return real_getaddrinfo("127.0.0.2", *args, **kwargs) + real_getaddrinfo("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", both)
    found = crawl(f"mixed.test:{public.port}", PUBLIC_ONLY)
    assert found.result.error == (f"http://mixed.test:{public.port}: refused to fetch mixed.test: it is not a public address; "
                                  f"http://www.mixed.test:{public.port}: the host name does not resolve")
    assert sum(public.hits.values()) == 0


@pytest.mark.parametrize("ip, problem", [
    ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b::7f00:1", "loopback"),
    ("192.0.0.8", "non-public"),  # IETF protocol assignments, public to Python
    ("192.0.0.170", "non-public"),
    ("2002:5db8:d70e::", ""),  # 6to4 of a public address
])
def test_it_judges_the_ipv4_address_embedded_in_ipv6_forms(ip, problem):
    assert address_problem(ip) == problem
