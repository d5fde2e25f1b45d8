"""Scale benchmark: 1,000 small local domains through 1 and 2 real qcluster processes on PostgreSQL.

Each domain is its own host:port (127.0.x.y on one local server), with a robots.txt naming one
100-URL sitemap. Prints domains per second for each run and the 2-cluster/1-cluster ratio.

    .venv/bin/python bench/scale.py [--domains 1000] [--workers 8] [--latency 0 0.05] [--clusters 1 2]

Load test: while one qcluster ingests a 1,000,000-URL domain, 50 clients read the batch page
through `runserver` for at most --seconds; prints p50/p99 latency and errors.

    .venv/bin/python bench/scale.py --load [--clients 50] [--seconds 60]

A database of its own is created, migrated and dropped (BENCH_POSTGRES, default
postgres://postgres@127.0.0.1:5432).
"""

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import ROOT, bench_database

URLS_PER_SITEMAP = 100


class SiteHandler(BaseHTTPRequestHandler):
    """Every 127.x.y.z host is a site: robots.txt -> /sitemap-a.xml -> 100 URLs on that host."""

    protocol_version = "HTTP/1.1"
    latency = 0.0

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.latency:
            time.sleep(self.latency)
        host = self.headers.get("Host", "")
        if self.path == "/robots.txt":
            self._send(200, f"User-agent: *\nSitemap: http://{host}/sitemap-a.xml\n", "text/plain")
        elif self.path == "/sitemap-a.xml":
            rows = "".join(f"<url><loc>http://{host}/page/{i}</loc></url>" for i in range(URLS_PER_SITEMAP))
            self._send(200, '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
                       f'"http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</urlset>', "application/xml")
        else:
            self._send(404, "not found", "text/plain")

    def _send(self, status, text, content_type):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        pass  # clients that hang up early (a crawl that stopped) are not news here


def serve(latency):
    handler = type("Handler", (SiteHandler,), {"latency": latency})
    server = Server(("0.0.0.0", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def hosts(count, port):
    return [f"http://127.0.{1 + n // 250}.{1 + n % 250}:{port}" for n in range(count)]


def run(url, domains, clusters, workers, latency):
    """Create a batch, start `clusters` qclusters, return (seconds, batch summary)."""
    server = serve(latency)
    env = dict(os.environ, DATABASE_URL=url, SITEMAPS_ALLOW_PRIVATE_HOSTS="1", SITEMAPS_WORKERS=str(workers),
               SITEMAPS_RETRIES="0", LOG_LEVEL="WARNING")
    listing = "\n".join(hosts(domains, server.server_address[1])) + "\n"
    created = subprocess.run([sys.executable, "manage.py", "import_domains", "-", "--json", "--name",
                              f"scale {clusters}x{workers}"], input=listing, cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
    batch_id = created.stdout.strip().splitlines()[-1].split('"batch_id": ')[1].split(",")[0]
    started = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                 for _ in range(clusters)]
    try:
        done = subprocess.run([sys.executable, "manage.py", "batch_status", batch_id, "--wait", "--json"],
                              cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=900)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        server.shutdown()
    return seconds, done.stdout.strip().splitlines()[-1]


class BigSiteHandler(BaseHTTPRequestHandler):
    """One site of 1,000,000 URLs: an index of 20 sitemaps of 50,000 URLs each."""

    protocol_version = "HTTP/1.1"
    bodies = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        host = self.headers.get("Host", "")
        if self.path == "/robots.txt":
            return self._send(f"Sitemap: http://{host}/index.xml\n".encode(), "text/plain")
        if self.path == "/index.xml":
            rows = "".join(f"<sitemap><loc>http://{host}/s{n}.xml</loc></sitemap>" for n in range(20))
            return self._send(('<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/'
                               f'sitemap/0.9">{rows}</sitemapindex>').encode(), "application/xml")
        if self.path.startswith("/s") and self.path.endswith(".xml"):
            number = int(self.path[2:-4])
            if number not in self.bodies:
                rows = "".join(f"<url><loc>http://{host}/p/{number}/{i}</loc><lastmod>2024-01-01</lastmod></url>"
                               for i in range(50_000))
                self.bodies[number] = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                                       f'sitemap/0.9">{rows}</urlset>').encode()
            return self._send(self.bodies[number], "application/xml")
        self.send_error(404)

    def _send(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def load_test(url, clients, seconds):
    import statistics

    import requests

    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="sitemapadmin.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from batches.models import Batch, Domain

    user = get_user_model().objects.create_user("load", password="load-pass-123")
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.create()

    site = Server(("127.0.0.1", 0), BigSiteHandler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    env = dict(os.environ, SITEMAPS_ALLOW_PRIVATE_HOSTS="1", SITEMAPS_WORKERS="2", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "import_domains", "-", "--user", "load"], cwd=ROOT, env=env,
                   input=f"http://127.0.0.1:{site.server_address[1]}\n", text=True, check=True, capture_output=True)
    batch = Batch.objects.get()
    web_port = 18000 + os.getpid() % 1000
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{web_port}"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.perf_counter()
    try:
        while not Domain.objects.filter(batch=batch, urls_count__gt=0).exists():
            time.sleep(0.2)
        ingesting_from = Domain.objects.get(batch=batch).urls_count
        latencies, errors, stop = [], [], time.monotonic() + seconds

        def client():
            with requests.Session() as http:
                http.cookies.set("sessionid", session.session_key)
                while time.monotonic() < stop:
                    begun = time.perf_counter()
                    try:
                        answer = http.get(f"http://127.0.0.1:{web_port}/batches/{batch.pk}/", timeout=30)
                        if answer.status_code != 200:
                            errors.append(answer.status_code)
                    except requests.RequestException as exc:
                        errors.append(type(exc).__name__)
                    latencies.append(time.perf_counter() - begun)

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        domain = Domain.objects.get(batch=batch)
        cuts = statistics.quantiles(latencies, n=100)
        print(f"load: {clients} clients for {seconds} s while ingesting ({ingesting_from:,} -> "
              f"{domain.urls_count:,} URLs stored, {domain.status}): {len(latencies)} requests, "
              f"p50 {cuts[49] * 1000:.0f} ms, p99 {cuts[98] * 1000:.0f} ms, errors {len(errors)} {errors[:5]}",
              flush=True)
        while not Batch.objects.filter(pk=batch.pk, finished_at__isnull=False).exists():
            if time.perf_counter() - started > 900:
                break
            time.sleep(1)
        domain.refresh_from_db()
        took = time.perf_counter() - started
        print(f"ingest: {domain.urls_count:,} URLs ({domain.status}) in {took:.0f} s = "
              f"{domain.urls_count / took:,.0f} URLs/s", flush=True)
    finally:
        cluster.send_signal(signal.SIGTERM)
        web.terminate()
        cluster.wait(30)
        web.wait(10)
        from django.db import connections

        connections.close_all()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--load", action="store_true", help="run the load test instead")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8, help="worker processes per qcluster")
    parser.add_argument("--latency", type=float, nargs="*", default=[0.0, 0.05])
    parser.add_argument("--clusters", type=int, nargs="*", default=[1, 2])
    args = parser.parse_args()
    if args.load:
        with bench_database() as url:
            load_test(url, args.clients, args.seconds)
        return
    for latency in args.latency:
        rates = {}
        for clusters in args.clusters:
            with bench_database() as url:
                seconds, summary = run(url, args.domains, clusters, args.workers, latency)
            rates[clusters] = args.domains / seconds
            print(f"latency {latency * 1000:.0f} ms, {clusters} qcluster x {args.workers} workers: "
                  f"{args.domains} domains in {seconds:.1f} s = {rates[clusters]:.1f} domains/s  {summary}",
                  flush=True)
        if len(rates) == 2:
            first, second = sorted(rates)
            print(f"latency {latency * 1000:.0f} ms: {second} clusters / {first} cluster = "
                  f"{rates[second] / rates[first]:.2f}x", flush=True)


if __name__ == "__main__":
    main()
