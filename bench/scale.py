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
import secrets
import resource
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import ROOT, bench_database, sqlite_database

URLS_PER_SITEMAP = 100
BENCH_SECRET_KEY = "bench-only-" + secrets.token_urlsafe(32)  # one run's processes share it


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


def run(url, domains, clusters, workers, latency, sqlite=False, profile=None):
    """Start `clusters` qclusters, then time `import_domains - --wait --json` of `domains` sites.

    Returns (seconds, summary line, (cluster user, cluster system, import_domains) CPU-seconds,
    peak cluster RSS in MiB, [first, last] thousand-domain rates)."""
    server = serve(latency)
    env = dict(os.environ, DATABASE_URL=url, SITEMAPS_ALLOW_PRIVATE_HOSTS="1", SITEMAPS_RETRIES="0",
               LOG_LEVEL="WARNING")
    env.setdefault("SECRET_KEY", BENCH_SECRET_KEY)  # qcluster refuses to start without one
    if workers:
        env["SITEMAPS_WORKERS"] = str(workers)
    if profile:
        env["SITEMAPS_PROFILE_DIR"] = profile
    listing = "\n".join(hosts(domains, server.server_address[1])) + "\n"
    processes = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                 for _ in range(clusters)]
    peak = {"rss": 0}
    sampling = threading.Event()
    threading.Thread(target=_sample_rss, args=(processes, peak, sampling), daemon=True).start()
    time.sleep(4)  # the clusters are up before the clock starts, as for a user whose worker runs
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "manage.py", "import_domains", "-", "--wait", "--json", "--name",
                               f"scale {clusters}x{workers or 'default'}"], input=listing, cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - started
        imported = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import command, reaped; the clusters run on
        if done.returncode:
            raise SystemExit(f"import_domains failed:\n{done.stderr[-3000:]}")
        rates = _first_and_last_thousand(url, sqlite)
    finally:
        sampling.set()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        server.shutdown()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # RUSAGE_CHILDREN counts reaped descendants: the import command was reaped when it ended,
    # the clusters and their workers only once stopped, so the two differences part them.
    cpu = (after.ru_utime - imported.ru_utime, after.ru_stime - imported.ru_stime,  # the clusters: user, system
           (imported.ru_utime + imported.ru_stime) - (before.ru_utime + before.ru_stime))  # import_domains
    return seconds, done.stdout.strip().splitlines()[-1], cpu, peak["rss"] / 1024, rates


def _sample_rss(processes, peak, stop):
    """Peak summed RSS (KiB) of every process in the clusters' sessions, sampled twice a second."""
    sessions = {process.pid for process in processes}
    while not stop.wait(0.5):
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.getsid(int(entry)) not in sessions:
                    continue
                with open(f"/proc/{entry}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except (OSError, ValueError):
                continue
        peak["rss"] = max(peak["rss"], total)


def _first_and_last_thousand(url, sqlite):
    """Domains per second over the first and the last thousand domains to finish."""
    sql = ("SELECT finished_at FROM batches_domain WHERE finished_at IS NOT NULL ORDER BY finished_at")
    if sqlite:
        import sqlite3
        from datetime import datetime

        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            moments = [datetime.fromisoformat(row[0]).timestamp() for row in db.execute(sql)]
    else:
        out = subprocess.run(["psql", url, "-qAtc", f"SELECT extract(epoch FROM finished_at) FROM ({sql}) f"],
                             capture_output=True, text=True, check=True).stdout.split()
        moments = [float(value) for value in out]
    if len(moments) < 2000:
        return None
    first, last = moments[:1000], moments[-1000:]
    return [999 / (first[-1] - first[0]), 999 / (last[-1] - last[0])]


def threaded_script(domains, latency, threads=8):
    """What a user would write instead: 8 threads, requests + lxml, robots.txt then its sitemaps."""
    server = serve(latency)
    try:
        out = subprocess.run([sys.executable, str(Path(__file__).parent / "scale_script.py"), str(threads)],
                             input="\n".join(hosts(domains, server.server_address[1])), capture_output=True,
                             text=True, check=True, timeout=1800).stdout.split()
    finally:
        server.shutdown()
    return float(out[0]), int(out[1])


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
    env.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
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
    parser.add_argument("--workers", type=int, default=0, help="worker processes per qcluster (default: settings)")
    parser.add_argument("--latency", type=float, nargs="*", default=[0.05])
    parser.add_argument("--clusters", type=int, nargs="*", default=[1])
    parser.add_argument("--sqlite", action="store_true", help="the embedded default database instead of PostgreSQL")
    parser.add_argument("--no-script", action="store_true", help="skip the 8-thread requests+lxml comparison")
    parser.add_argument("--profile", help="folder for one cProfile file per worker process")
    args = parser.parse_args()
    if args.load:
        with bench_database() as url:
            load_test(url, args.clients, args.seconds)
        return
    for latency in args.latency:
        script = None if args.no_script else threaded_script(args.domains, latency)
        if script:
            print(f"latency {latency * 1000:.0f} ms, 8-thread requests+lxml script: {args.domains} domains "
                  f"({script[1]:,} URLs) in {script[0]:.1f} s", flush=True)
        for clusters in args.clusters:
            with (sqlite_database() if args.sqlite else bench_database()) as url:
                seconds, summary, cpu, rss, rates = run(url, args.domains, clusters, args.workers, latency,
                                                        args.sqlite, args.profile)
            ratio = f" = {seconds / script[0]:.2f}x the script" if script else ""
            thousands = f"; first/last thousand {rates[0]:.0f}/{rates[1]:.0f} domains/s" if rates else ""
            print(f"latency {latency * 1000:.0f} ms, {'SQLite' if args.sqlite else 'PostgreSQL'}, {clusters} "
                  f"qcluster: {args.domains} domains in {seconds:.1f} s{ratio}; cluster CPU "
                  f"{(cpu[0] + cpu[1]) * 1000 / args.domains:.1f} ms/domain (user {cpu[0] * 1000 / args.domains:.1f}, "
                  f"system {cpu[1] * 1000 / args.domains:.1f}; import_domains {cpu[2] * 1000 / args.domains:.1f} "
                  f"more), peak RSS {rss:.0f} MiB{thousands}  {summary}",
                  flush=True)


if __name__ == "__main__":
    main()
