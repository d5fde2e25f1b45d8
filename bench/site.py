"""The benchmark's web site: robots.txt -> one index -> N gzipped urlsets of 50,000 URLs each.

Files are generated once into .bench/site-<N>/ and served from memory by a threaded HTTP
server in its own process, so serving never competes with the measured process for the GIL.

    python bench/site.py serve --files 20 --port 8765
"""

import argparse
import gzip
import http.server
import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / ".bench"
URLS_PER_FILE = 50_000
CHANGEFREQS = ("daily", "weekly", "monthly", "yearly")


def site_dir(files):
    return ROOT / f"site-{files}"


def generate(files):
    """Write the site's files (once); returns the folder."""
    folder = site_dir(files)
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(files)
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    for number in range(1, files + 1):
        rows = []
        for position in range(URLS_PER_FILE):
            lastmod = (start + timedelta(seconds=rng.randrange(5 * 365 * 86400))).strftime("%Y-%m-%dT%H:%M:%S+00:00")
            rows.append(
                f"<url><loc>{{origin}}/products/{number}/item-{position}-{rng.randrange(10**9)}.html</loc>"
                f"<lastmod>{lastmod}</lastmod><changefreq>{rng.choice(CHANGEFREQS)}</changefreq>"
                f"<priority>{rng.randrange(1, 11) / 10:.1f}</priority></url>\n"
            )
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + "".join(rows) + "</urlset>\n")
        (folder / f"sitemap-{number}.xml").write_text(body)
    (folder / "done").write_text("ok")
    return folder


def load(files, origin):
    """{path: (body, content type)} with the origin filled in and the urlsets gzipped."""
    folder = generate(files)
    children = "".join(
        f"<sitemap><loc>{origin}/sitemap-{n}.xml.gz</loc><lastmod>2024-01-0{n % 9 + 1}</lastmod></sitemap>\n"
        for n in range(1, files + 1)
    )
    routes = {
        "/robots.txt": (f"User-agent: *\nAllow: /\nSitemap: {origin}/sitemap_index.xml\n".encode(), "text/plain"),
        "/sitemap_index.xml": (
            ('<?xml version="1.0" encoding="UTF-8"?>\n'
             '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
             f"{children}</sitemapindex>\n").encode(),
            "application/xml",
        ),
    }
    for n in range(1, files + 1):
        text = (folder / f"sitemap-{n}.xml").read_text().replace("{origin}", origin)
        routes[f"/sitemap-{n}.xml.gz"] = (gzip.compress(text.encode(), compresslevel=6), "application/x-gzip")
    return routes


def serve(files, port):
    origin = f"http://127.0.0.1:{port}"
    routes = load(files, origin)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body, content_type = routes.get(self.path, (b"not found", "text/plain"))
            self.send_response(200 if self.path in routes else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_HEAD = do_GET

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client that hangs up early (USP does) is not news

    server = Server(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["generate", "serve"])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    if args.command == "generate":
        print(generate(args.files))
    else:
        serve(args.files, args.port)
    sys.exit(0)
