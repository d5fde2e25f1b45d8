"""The benchmark's web site: robots.txt -> one index -> N gzipped urlsets of 50,000 URLs each.

Files are generated once into .bench/site-<N>/ and served from memory by a threaded HTTP
server in its own process, so serving never competes with the measured process for the GIL.

    python bench/site.py serve --files 20 --port 8765

For re-runs (bench/reruns.py): --etags sends an ETag per file and answers a matching
If-None-Match with 304; --change-percent P serves the site a week later: in every urlset P% of
the URLs removed, P% with a new lastmod and P% new ones, and the index lastmods moved.
"""

import argparse
import gzip
import hashlib
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


def load(files, origin, change_percent=0):
    """{path: (body, content type)} with the origin filled in and the urlsets gzipped."""
    folder = generate(files)
    month = "02" if change_percent else "01"
    children = "".join(
        f"<sitemap><loc>{origin}/sitemap-{n}.xml.gz</loc><lastmod>2024-{month}-0{n % 9 + 1}</lastmod></sitemap>\n"
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
        if change_percent:
            text = changed(text, n, change_percent, origin)
        routes[f"/sitemap-{n}.xml.gz"] = (gzip.compress(text.encode(), compresslevel=6), "application/x-gzip")
    return routes


def changed(text, number, percent, origin):
    """The urlset a week later: of every 100 URLs, `percent` removed, `percent` with a new
    lastmod, and `percent` new URLs added."""
    head, _, rest = text.partition("\n<url>")
    rows, tail = ("<url>" + rest).rsplit("</urlset>", 1)
    kept = []
    for position, row in enumerate(rows.splitlines(keepends=True)):
        if position % 100 < percent:
            continue  # removed
        if position % 100 < 2 * percent:
            start, end = row.index("<lastmod>") + 9, row.index("</lastmod>")
            row = row[:start] + "2026-01-01T00:00:00+00:00" + row[end:]
        kept.append(row)
        if position % 100 >= 100 - percent:
            kept.append(f"<url><loc>{origin}/products/{number}/new-{position}.html</loc></url>\n")
    return head + "\n" + "".join(kept) + "</urlset>" + tail


def serve(files, port, etags=False, change_percent=0):
    origin = f"http://127.0.0.1:{port}"
    routes = load(files, origin, change_percent)
    tags = {path: '"%s"' % hashlib.sha1(body).hexdigest()[:16] for path, (body, _) in routes.items()} if etags else {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            body, content_type = routes.get(self.path, (b"not found", "text/plain"))
            tag = tags.get(self.path)
            if tag and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200 if self.path in routes else 404)
            if tag:
                self.send_header("ETag", tag)
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
    parser.add_argument("--etags", action="store_true", help="ETags, and 304 for a matching If-None-Match")
    parser.add_argument("--change-percent", type=int, default=0, help="serve the site with this %% changed")
    args = parser.parse_args()
    if args.command == "generate":
        print(generate(args.files))
    else:
        serve(args.files, args.port, args.etags, args.change_percent)
    sys.exit(0)
