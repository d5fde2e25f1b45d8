"""How fast the pages answer for a batch of 1,000,000 URLs.

Builds the batch once with bulk SQL (INSERT ... SELECT over a generated series, no crawl):
1,000 domains, one of them with 500,000 URLs in 50 sitemap files, the others 500 URLs each.
Then requests each page through Django's test client (middleware, session, view, template:
everything but the socket) and prints the median and worst server time and the query count.

    .venv/bin/python bench/pages.py                    # SQLite file in .bench/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sitemapadmin_pages .venv/bin/python bench/pages.py

--rebuild drops and rebuilds the batch; --runs sets how many timed requests per page.

Readers during ingest (PostgreSQL; a database of its own is created and dropped): one qcluster
worker ingests the 1,000,000-URL site of bench/site.py while 50 readers, each on its own
keep-alive connection to `runserver`, read the batch page and its status JSON in a loop (the
page polls that JSON every 1.5 s; --think 1.5 reads like that, the default reads flat out). With
a pause, each reader starts at a random moment within the first pause and pauses 0.8-1.2 times
it, as people who opened the page at different times do; --lockstep starts them all at once and
keeps them in step (every round's 50 page requests then arrive together).
Prints p50/p99 per request kind and the errors, for the requests made during the ingest and
apart from them those made after it (a fast ingest ends inside the window), and the ingest's
time from the cluster's start.

    .venv/bin/python bench/pages.py --readers [--clients 50] [--seconds 60] [--think 0]
"""

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / '.bench' / 'pages.sqlite3'}")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sitemapadmin.settings")

BATCH_NAME = "bench: 1,000,000 URLs"
BIG_DOMAIN_URLS = 500_500
SMALL_DOMAINS = 999
SMALL_DOMAIN_URLS = 500
URLS_PER_SITEMAP = 10_000


def ensure_database():
    """Create the PostgreSQL database named in DATABASE_URL when it does not exist yet."""
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    if "postgresql" not in config["ENGINE"]:
        (ROOT / ".bench").mkdir(exist_ok=True)
        return
    with psycopg.connect(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432,
                         user=config["USER"] or "postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def build(user):
    from django.db import connection, transaction

    from batches.models import Batch, BatchStatus, Domain, DomainStatus, FoundBy, SitemapFile, SitemapKind
    from django.utils import timezone

    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic():
        total_urls = BIG_DOMAIN_URLS + SMALL_DOMAINS * SMALL_DOMAIN_URLS
        batch = Batch.objects.create(
            owner=user, name=BATCH_NAME, status=BatchStatus.COMPLETED, started_at=now, finished_at=now,
            domains_total=SMALL_DOMAINS + 1, domains_done=SMALL_DOMAINS + 1, urls_count=total_urls,
        )
        hosts = ["big.example.com"] + [f"site{n:04d}.example.com" for n in range(1, SMALL_DOMAINS + 1)]
        Domain.objects.bulk_create(
            Domain(batch=batch, position=n, line_number=n, entry=host, host=host, origin=f"https://{host}",
                   status=DomainStatus.DONE, started_at=now, finished_at=now, attempts=1,
                   urls_count=BIG_DOMAIN_URLS if n == 1 else SMALL_DOMAIN_URLS)
            for n, host in enumerate(hosts, start=1)
        )
        sitemaps = 0
        for domain in Domain.objects.filter(batch=batch).order_by("position"):
            count = domain.urls_count
            index = SitemapFile.objects.create(domain=domain, url=f"{domain.origin}/sitemap_index.xml",
                                               found_by=FoundBy.ROBOTS, kind=SitemapKind.INDEX, http_status=200)
            children = SitemapFile.objects.bulk_create(
                SitemapFile(domain=domain, parent=index, url=f"{domain.origin}/sitemap-{n}.xml",
                            found_by=FoundBy.INDEX, kind=SitemapKind.URLSET, http_status=200,
                            bytes=120 * URLS_PER_SITEMAP, response_ms=35, url_count=min(URLS_PER_SITEMAP, count))
                for n in range(1, (count - 1) // URLS_PER_SITEMAP + 2)
            )
            # One multi-row INSERT hands out consecutive ids, which _insert_urls relies on.
            _insert_urls(connection, domain, min(child.pk for child in children), count)
            Domain.objects.filter(pk=domain.pk).update(sitemaps_count=len(children) + 1)
            sitemaps += len(children) + 1
        Batch.objects.filter(pk=batch.pk).update(sitemaps_count=sitemaps)
    if connection.vendor == "postgresql":
        # What autovacuum does to a table soon after a crawl: statistics, and the visibility
        # map that lets index-only scans skip the heap.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(f"built {total_urls:,} URLs in {time.perf_counter() - started:.0f} s", flush=True)
    return Batch.objects.get(pk=batch.pk)


def _insert_urls(connection, domain, first_sitemap_id, count):
    """URL n goes to sitemap file first + (n-1) // 10,000 and has a lastmod spread over four years;
    its key is n (unique in the domain, which is all the pages need), and the lastmod histogram
    is built as the store would have kept it."""
    if connection.vendor == "postgresql":
        sql = (
            "INSERT INTO batches_url (domain_id, sitemap_id, loc, loc_key, lastmod, changefreq, priority) "
            "SELECT %s, %s + (n - 1) / %s, %s || n, n, TIMESTAMPTZ '2021-01-01' + (n %% 1461) * INTERVAL '1 day', "
            "'weekly', 0.5 FROM generate_series(1, %s) AS n"
        )
        month = "date_trunc('month', lastmod AT TIME ZONE 'UTC')::date"
    else:
        sql = (
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) "
            "INSERT INTO batches_url (domain_id, sitemap_id, loc, loc_key, lastmod, changefreq, priority) "
            "SELECT %s, %s + (n - 1) / %s, %s || n, n, "
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', '2021-01-01', '+' || (n %% 1461) || ' days'), 'weekly', 0.5 FROM seq"
        )
        month = "strftime('%%Y-%%m-01', lastmod)"
    params = [domain.pk, first_sitemap_id, URLS_PER_SITEMAP, f"{domain.origin}/page/", count]
    if connection.vendor != "postgresql":
        params = [count] + params[:-1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(f"INSERT INTO batches_lastmodmonth (domain_id, month, urls) SELECT domain_id, {month}, "
                       "count(*) FROM batches_url WHERE domain_id = %s AND lastmod IS NOT NULL GROUP BY 1, 2",
                       [domain.pk])


def pages(batch):
    from django.urls import reverse

    from batches.models import Url

    big = batch.domains.get(position=1)
    small = batch.domains.get(position=500)
    last_ids = Url.objects.filter(domain=big).order_by("-pk").values_list("pk", flat=True)[:150]
    deep_after = list(last_ids)[-1]
    sitemap = big.sitemaps.filter(kind="urlset").order_by("-pk").first()
    domain_url = reverse("domain_detail", args=[batch.pk, big.pk])
    return [
        ("batch list", reverse("batch_list"), {}),
        ("batch page", reverse("batch_detail", args=[batch.pk]), {}),
        ("batch page, page 10 of domains", reverse("batch_detail", args=[batch.pk]), {"page": 10}),
        ("batch page, failed only", reverse("batch_detail", args=[batch.pk]), {"show": "failed"}),
        ("status JSON (polled)", reverse("batch_status", args=[batch.pk]), {}),
        ("API status with 1,000 domain states", reverse("api_batch", args=[batch.pk]), {}),
        ("domain page, 500,000 URLs", domain_url, {}),
        ("domain page, last URL page (keyset)", domain_url, {"after": deep_after}),
        ("domain page, search matching many", domain_url, {"q": "/page/12"}),
        ("domain page, search matching none", domain_url, {"q": "no-such-url"}),
        ("domain page, one sitemap (last file)", domain_url, {"sitemap": sitemap.pk}),
        ("domain page, lastmod range", domain_url, {"lastmod_from": "2023-03-01", "lastmod_to": "2023-03-31"}),
        ("domain page, 500 URLs", reverse("domain_detail", args=[batch.pk, small.pk]), {}),
        ("lastmod chart, 500,000 URLs", reverse("domain_chart", args=[batch.pk, big.pk]), {}),
    ]


def measure(client, url, params, runs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm caches and connections
        response = client.get(url, params)
        assert response.status_code == 200, (url, response.status_code)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(url, params)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    return statistics.median(timings), max(timings), len(queries)


def first_chart_ms(client, batch):
    """The chart's first request (no aggregate kept anywhere), after one other page has warmed the
    process up (URL resolver, middleware, session)."""
    from django.urls import reverse

    client.get(reverse("batch_list"))
    big = batch.domains.get(position=1)
    started = time.perf_counter()
    client.get(reverse("domain_chart", args=[batch.pk, big.pk]))
    return (time.perf_counter() - started) * 1000


def page_timings(args):
    ensure_database()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from batches.models import Batch

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench")
    batch = Batch.objects.filter(owner=user, name=BATCH_NAME).first()
    if batch and args.rebuild:
        batch.delete()
        batch = None
    batch = batch or build(user)

    client = Client()
    client.force_login(user)
    first_chart = first_chart_ms(client, batch)
    print(f"{connection.vendor}: batch {batch.pk}, {batch.domains_total:,} domains, {batch.urls_count:,} URLs; "
          f"{args.runs} requests a page")
    print(f"{'page':44} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for label, url, params in pages(batch):
        median, worst, queries = measure(client, url, params, args.runs)
        print(f"{label:44} {median:10.1f} {worst:8.1f} {queries:8d}", flush=True)
    print(f"{'lastmod chart, 500,000 URLs, first view':44} {first_chart:10.1f}")


# --- readers during ingest ---------------------------------------------------------
def readers_during_ingest(args):
    """50 readers on the batch page and its status JSON while one worker ingests 1,000,000 URLs."""
    from common import bench_database

    with bench_database() as database_url:
        os.environ["DATABASE_URL"] = database_url
        # runserver and qcluster refuse the development key with DEBUG off; this process signs
        # the readers' session with the same key they read it with.
        os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
        import django

        django.setup()
        site = _start_site(args.files, args.site_port)
        try:
            _load(args, database_url)
        finally:
            site.terminate()
            site.wait()
            from django.db import connections

            connections.close_all()


def _start_site(files, port):
    import subprocess

    command = [sys.executable, str(ROOT / "bench" / "site.py"), "serve", "--files", str(files), "--port", str(port)]
    site = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if site.stdout.readline().strip() != "ready":
        site.kill()
        sys.exit("the benchmark site did not start")
    return site


def _load(args, database_url):
    import signal
    import subprocess
    import threading

    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from batches.models import Batch, Domain

    user = get_user_model().objects.create_user("load", password="load-pass-123")
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.create()
    env = dict(os.environ, DATABASE_URL=database_url, SITEMAPS_ALLOW_PRIVATE_HOSTS="1", SITEMAPS_WORKERS="1",
               SITEMAPS_HOST_DELAY="0", LOG_LEVEL="WARNING")
    subprocess.run([sys.executable, "manage.py", "import_domains", "-", "--user", "load"], cwd=ROOT, env=env,
                   input=f"http://127.0.0.1:{args.site_port}\n", text=True, check=True, capture_output=True)
    batch = Batch.objects.get()
    web = subprocess.Popen([sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{args.web_port}"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_port(args.web_port)
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.perf_counter()
    try:
        while not Domain.objects.filter(batch=batch, urls_count__gt=0).exists():
            time.sleep(0.1)
        stored_from = Domain.objects.get(batch=batch).urls_count
        paths = {"batch page": f"/batches/{batch.pk}/", "status JSON": f"/batches/{batch.pk}/status.json"}
        timings = {label: [] for label in paths}
        errors = []
        stop = time.monotonic() + args.seconds
        ingesting = lambda: not Batch.objects.filter(pk=batch.pk, finished_at__isnull=False).exists()  # noqa: E731

        def reader():
            _read(args.web_port, session.session_key, paths, timings, errors, stop, args.think, args.lockstep)

        threads = [threading.Thread(target=reader) for _ in range(args.clients)]
        # When the ingest ends, seen from beside the readers: a request that started after it
        # read a finished batch, and is reported apart.
        ended = []
        watcher = threading.Thread(target=_watch_ingest, args=(ingesting, stop, ended))
        for thread in threads + [watcher]:
            thread.start()
        for thread in threads + [watcher]:
            thread.join()
        still_running = ingesting()
        window = min(args.seconds, time.perf_counter() - started)
        domain = Domain.objects.get(batch=batch)
        pacing = " in lockstep" if args.lockstep else ""
        print(f"readers: {args.clients} for {window:.0f} s (think {args.think} s{pacing}) while the worker stored "
              f"{stored_from:,} -> {domain.urls_count:,} URLs ({'still ingesting' if still_running else 'done'})")
        end = ended[0] if ended else float("inf")
        for phase, keep in (("during the ingest", lambda at: at < end), ("after it", lambda at: at >= end)):
            picked = {label: [ms for at, ms in values if keep(at)] for label, values in timings.items()}
            everything = [ms for values in picked.values() for ms in values]
            if everything:
                print(f" {phase}:")
                for label, values in list(picked.items()) + [("all requests", everything)]:
                    print(f"  {label:<14} {len(values):>6} requests  {_quantiles(values)}")
        print(f"  errors: {len(errors)} {errors[:5]}")
        while ingesting() and time.perf_counter() - started < 900:
            time.sleep(0.5)
        domain.refresh_from_db()
        took = (ended[0] if ended else time.perf_counter()) - started
        print(f"ingest: {domain.urls_count:,} URLs ({domain.status}) in {took:.1f} s from the cluster's start; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    finally:
        cluster.send_signal(signal.SIGTERM)
        web.terminate()
        cluster.wait(30)
        web.wait(10)


def _read(port, session_key, paths, timings, errors, stop, think, lockstep=False):
    """One reader: the batch page, then its status JSON, again and again (keep-alive)."""
    import http.client
    import random

    if think and not lockstep:
        time.sleep(random.uniform(0, think))
    headers = {"Cookie": f"sessionid={session_key}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < stop:
        for label, path in paths.items():
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException) as exc:
                errors.append(type(exc).__name__)
                connection.close()
            timings[label].append((started, (time.perf_counter() - started) * 1000))
        if think:
            time.sleep(think if lockstep else think * random.uniform(0.8, 1.2))
    connection.close()


def _watch_ingest(ingesting, stop, ended):
    """Append the time (perf_counter) to `ended` once the batch has finished."""
    from django.db import connection

    try:
        while time.monotonic() < stop:
            if not ingesting():
                ended.append(time.perf_counter())
                return
            time.sleep(0.2)
    finally:
        connection.close()  # this thread's own: the benchmark's database is dropped at the end


def _quantiles(values):
    if len(values) < 2:
        return "-"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:6.0f} ms  p99 {cuts[98]:6.0f} ms  max {max(values):6.0f} ms"


def _wait_for_port(port, timeout=30):
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--readers", action="store_true", help="the readers-during-ingest load test instead")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60, help="how long the readers read, at most")
    parser.add_argument("--think", type=float, default=0.0, help="pause of each reader between rounds")
    parser.add_argument("--lockstep", action="store_true", help="readers start together and stay in step")
    parser.add_argument("--files", type=int, default=20, help="urlsets of 50,000 URLs on the ingested site")
    parser.add_argument("--site-port", type=int, default=8781)
    parser.add_argument("--web-port", type=int, default=8782)
    args = parser.parse_args()
    if args.readers:
        readers_during_ingest(args)
    else:
        page_timings(args)


if __name__ == "__main__":
    main()
