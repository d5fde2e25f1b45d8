"""Local fixture web sites on 127.0.0.1: each site is a threaded HTTP server on its own port."""

import gzip
import threading
import zlib
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    handler: object = None  # callable(request_handler) for anything unusual


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0  # TCP connections accepted: tells kept-alive reuse from reconnecting

    def process_request(self, request, client_address):
        self.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that hang up early are part of the tests


class FixtureSite:
    def __init__(self, latency=0.0, address="127.0.0.1", port=0):
        self.routes = {}
        self.default = None  # a Route answered for every path not in `routes` (a catch-all site)
        self.hits = Counter()
        self.requests = []  # (path, {header: value}) in arrival order
        self.latency = latency
        self.address = address
        self.closed = False
        self.server = _QuietServer((address, port), self._handler_class())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def connections(self):
        return self.server.connections

    def answer_every_path(self, body, status=200, content_type="text/html"):
        """Unknown paths get this answer instead of a 404 (a single-page app, a soft 404)."""
        self.default = Route(body.encode() if isinstance(body, str) else body, status, {"Content-Type": content_type})

    @property
    def host(self):
        return f"{self.address}:{self.port}"

    @property
    def origin(self):
        return f"http://{self.host}"

    def url(self, path):
        return self.origin + path

    def add(self, path, body=b"", status=200, content_type="application/xml", gzipped=False,
            headers=None, delay=0.0, handler=None):
        if isinstance(body, str):
            body = body.encode()
        if gzipped:
            body = gzip.compress(body)
        all_headers = {"Content-Type": content_type} if content_type else {}
        all_headers.update(headers or {})
        self.routes[path] = Route(body, status, all_headers, delay, handler)
        return self.url(path)

    def requests_for(self, path):
        """The headers of every request for `path`, in order."""
        return [headers for seen, headers in self.requests if seen == path]

    def redirect(self, path, location, status=301):
        """`path` answers with a redirect to `location` (absolute, or a path on this site)."""
        return self.add(path, b"", status=status, content_type="text/html", headers={"Location": location})

    def close(self):
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()

    def _handler_class(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                site.hits[self.path] += 1
                site.requests.append((self.path, dict(self.headers.items())))
                if site.latency:
                    time.sleep(site.latency)
                route = site.routes.get(self.path, site.default)
                if route is None:
                    return self._send(404, b"not found", {"Content-Type": "text/plain"})
                if route.delay:
                    time.sleep(route.delay)
                if route.handler:
                    return route.handler(self)
                if self._not_modified(route):
                    return self._send(304, b"", {k: v for k, v in route.headers.items() if k != "Content-Type"})
                self._send(route.status, route.body, route.headers)

            def _not_modified(self, route):
                # Like a web server: a route given an ETag or Last-Modified answers a matching
                # conditional request with 304 (If-None-Match wins when both are sent).
                etag, modified = route.headers.get("ETag"), route.headers.get("Last-Modified")
                if etag and "If-None-Match" in self.headers:
                    return self.headers["If-None-Match"] == etag
                return bool(modified) and self.headers.get("If-Modified-Since") == modified

            def _send(self, status, body, headers):
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def urlset(locs, extra=""):
    rows = "".join(f"<url><loc>{loc}</loc>{extra}</url>" for loc in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>')


def sitemapindex(locs, lastmods=None):
    """An index of `locs`; `lastmods` maps some of them to a <lastmod> text."""
    lastmods = lastmods or {}
    rows = "".join(
        f"<sitemap><loc>{loc}</loc>{f'<lastmod>{lastmods[loc]}</lastmod>' if loc in lastmods else ''}</sitemap>"
        for loc in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</sitemapindex>')


def dripping(body, interval, first=b""):
    """A handler that sends `first` at once, then `body` one byte every `interval` seconds,
    announcing the full length (a server that never quite finishes)."""
    if isinstance(body, str):
        body = body.encode()

    def handle(request):
        request.send_response(200)
        request.send_header("Content-Type", "application/xml")
        request.send_header("Content-Length", str(len(first) + len(body)))
        request.end_headers()
        try:
            request.wfile.write(first)
            request.wfile.flush()
            for position in range(len(body)):
                request.wfile.write(body[position : position + 1])
                request.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    return handle


def zero_bomb(inflated_size):
    """A gzip member inflating to `inflated_size` zero bytes, built without compressing them
    all: after a full flush the compressor forgets its history, so each MiB of zeros gives the
    same deflate bytes, which are repeated. The trailer's CRC is left zero: whoever inflates
    it whole has spent the memory before finding out."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    compressor.compress(zeros)
    compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + block * (inflated_size // len(zeros)) + compressor.flush() + b"\x00" * 8


def streaming(size, headers, status=200, piece=b"\x00" * 65536):
    """A handler that announces `size` bytes and sends `piece` over and over until it has sent
    them or the client hangs up (a body too large to hold in the test's memory)."""

    def handle(request):
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(size))
        request.end_headers()
        sent = 0
        try:
            while sent < size:
                data = piece[: size - sent]
                request.wfile.write(data)
                sent += len(data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    return handle


def answering(*responses):
    """A handler that gives each (status, body, headers) in turn, then repeats the last."""
    answers = list(responses)

    def handle(request):
        status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(body, str):
            body = body.encode()
        request._send(status, body, {"Content-Type": "application/xml", **headers})

    return handle


def raw(body, headers):
    """A handler that sends `body` bytes exactly as given with `headers` (no Content-Length
    unless given: the connection is closed to end the body)."""

    def handle(request):
        request.send_response(200)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        try:
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handle


@dataclass
class Crawl:
    """What crawl_domain streamed for one domain, arranged for assertions."""

    sitemaps: dict  # url -> (SitemapStarted, SitemapFinished)
    urls: dict  # loc -> UrlRecord
    result: object  # CrawlFinished
    events: list

    def finished(self, url):
        return self.sitemaps[url][1]

    def started(self, url):
        return self.sitemaps[url][0]


def crawl(site_or_host, config, scheme="http"):
    """Run the engine to the end against a fixture site (or a "host:port")."""
    from batches.sitemaps import CrawlFinished, SitemapFinished, SitemapStarted, UrlChunk, crawl_domain

    host = getattr(site_or_host, "host", site_or_host)
    events = list(crawl_domain(host, config, scheme=scheme))
    started = {e.key: e for e in events if isinstance(e, SitemapStarted)}
    finished = {e.key: e for e in events if isinstance(e, SitemapFinished)}
    assert set(started) == set(finished), "every sitemap started must finish"
    urls = {}
    for event in events:
        if isinstance(event, UrlChunk):
            for record in event.urls:
                urls.setdefault(record.loc, record)
    assert isinstance(events[-1], CrawlFinished)
    sitemaps = {started[key].url: (started[key], finished[key]) for key in started}
    return Crawl(sitemaps, urls, events[-1], events)
