"""Demo sitemap sites on 127.0.0.1 for trying the app on a machine without internet (`make demo`).

Three small shops of different shapes: a WordPress-like index of gzipped children, a plain
text sitemap, and a site whose second sitemap is broken, so every page has something to show.
"""

import gzip
import random
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def _urlset(origin, prefix, count, seed):
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, tzinfo=timezone.utc)
    rows = []
    for number in range(count):
        lastmod = (start + timedelta(days=rng.randrange(0, 700))).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        rows.append(f"<url><loc>{origin}/{prefix}/{number}</loc><lastmod>{lastmod}</lastmod>"
                    f"<changefreq>weekly</changefreq><priority>0.{rng.randrange(1, 10)}</priority></url>")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset {NS}>{"".join(rows)}</urlset>'.encode()


def _index(urls):
    rows = "".join(f"<sitemap><loc>{url}</loc></sitemap>" for url in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex {NS}>{rows}</sitemapindex>'.encode()


def _shop_routes(origin):
    return {
        "/robots.txt": ("text/plain", f"User-agent: *\nSitemap: {origin}/sitemap_index.xml\n".encode()),
        "/sitemap_index.xml": ("application/xml", _index([f"{origin}/post-sitemap.xml.gz", f"{origin}/product-sitemap.xml.gz"])),
        "/post-sitemap.xml.gz": ("application/gzip", gzip.compress(_urlset(origin, "blog", 400, 1))),
        "/product-sitemap.xml.gz": ("application/gzip", gzip.compress(_urlset(origin, "product", 1500, 2))),
    }


def _text_routes(origin):
    lines = "\n".join(f"{origin}/page/{n}" for n in range(250))
    return {"/sitemap.txt": ("text/plain", lines.encode())}


def _broken_routes(origin):
    return {
        "/robots.txt": ("text/plain", f"Sitemap: {origin}/sitemap.xml\nSitemap: {origin}/missing.xml\n".encode()),
        "/sitemap.xml": ("application/xml", _urlset(origin, "news", 120, 3)[:-400]),  # truncated on purpose
    }


class DemoSites:
    def __init__(self):
        self.servers = []

    @property
    def hosts(self):
        return [f"127.0.0.1:{server.server_address[1]}" for server in self.servers]

    def add(self, build_routes):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler())
        server.daemon_threads = True
        server.routes = build_routes(f"http://127.0.0.1:{server.server_address[1]}")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _handler():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            content_type, body = self.server.routes.get(self.path, ("text/plain", None))
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"not found"
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def start_demo_sites():
    sites = DemoSites()
    for build in (_shop_routes, _text_routes, _broken_routes):
        sites.add(build)
    return sites
