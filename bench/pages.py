"""How fast the pages answer for a batch of 1,000,000 URLs.

Builds the batch once with bulk SQL (INSERT ... SELECT over a generated series, no crawl):
1,000 domains, one of them with 500,000 URLs in 50 sitemap files, the others 500 URLs each.
Then requests each page through Django's test client (middleware, session, view, template:
everything but the socket) and prints the median and worst server time and the query count.

    .venv/bin/python bench/pages.py                    # SQLite file in .bench/
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sitemapadmin_pages .venv/bin/python bench/pages.py

--rebuild drops and rebuilds the batch; --runs sets how many timed requests per page.
"""

import argparse
import os
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
    """URL n goes to sitemap file first + (n-1) // 10,000 and has a lastmod spread over four years."""
    if connection.vendor == "postgresql":
        sql = (
            "INSERT INTO batches_url (domain_id, sitemap_id, loc, lastmod, changefreq, priority) "
            "SELECT %s, %s + (n - 1) / %s, %s || n, TIMESTAMPTZ '2021-01-01' + (n %% 1461) * INTERVAL '1 day', "
            "'weekly', 0.5 FROM generate_series(1, %s) AS n"
        )
    else:
        sql = (
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < %s) "
            "INSERT INTO batches_url (domain_id, sitemap_id, loc, lastmod, changefreq, priority) "
            "SELECT %s, %s + (n - 1) / %s, %s || n, "
            "strftime('%%Y-%%m-%%d %%H:%%M:%%S', '2021-01-01', '+' || (n %% 1461) || ' days'), 'weekly', 0.5 FROM seq"
        )
    params = [domain.pk, first_sitemap_id, URLS_PER_SITEMAP, f"{domain.origin}/page/", count]
    if connection.vendor != "postgresql":
        params = [count] + params[:-1]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


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
        ("lastmod chart, 500,000 URLs (cached)", reverse("domain_chart", args=[batch.pk, big.pk]), {}),
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


def cold_chart_ms(client, batch):
    from django.core.cache import cache
    from django.urls import reverse

    cache.clear()
    big = batch.domains.get(position=1)
    started = time.perf_counter()
    client.get(reverse("domain_chart", args=[batch.pk, big.pk]))
    return (time.perf_counter() - started) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
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
    print(f"{connection.vendor}: batch {batch.pk}, {batch.domains_total:,} domains, {batch.urls_count:,} URLs; "
          f"{args.runs} requests a page")
    print(f"{'page':44} {'median ms':>10} {'max ms':>8} {'queries':>8}")
    for label, url, params in pages(batch):
        median, worst, queries = measure(client, url, params, args.runs)
        print(f"{label:44} {median:10.1f} {worst:8.1f} {queries:8d}", flush=True)
    print(f"{'lastmod chart, 500,000 URLs (first, uncached)':44} {cold_chart_ms(client, batch):10.1f}")


if __name__ == "__main__":
    main()
