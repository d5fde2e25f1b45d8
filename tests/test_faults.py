"""Fault tests with real qcluster processes: each ends with the exact URLs, counters and statuses.

Slow sites stream their sitemaps in pieces, so a fault lands in the middle of a domain.
"""

import subprocess
import time
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from batches import services
from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Domain, DomainStatus, SitemapFile, Url
from batches.services import create_batch
from tests.cluster import FAST_RECOVERY, kill_cluster, start_cluster, stop_cluster, wait_until, wait_until_db
from tests.sites import urlset

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cluster, pytest.mark.slow]

PAGES = 30_000  # three of the engine's chunks of 10,000 URLs


def streamed_sitemap(locs, pieces=6, pause=0.5):
    """A route handler sending a urlset in `pieces`, `pause` seconds apart."""
    body = urlset(locs).encode()
    step = len(body) // pieces + 1

    def handler(request):
        request.send_response(200)
        request.send_header("Content-Type", "application/xml")
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        try:
            for start in range(0, len(body), step):
                request.wfile.write(body[start:start + step])
                request.wfile.flush()
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return handler


def slow_site(site_factory, pages=PAGES, pause=0.5):
    site = site_factory()
    site.add("/robots.txt", f"Sitemap: {site.url('/big.xml')}\n", content_type="text/plain")
    site.add("/big.xml", handler=streamed_sitemap([site.url(f"/p/{i}") for i in range(pages)], pause=pause))
    site.expected = {site.url(f"/p/{i}") for i in range(pages)}
    return site


def quick_site(site_factory, pages=50):
    site = site_factory()
    site.add("/sitemap.xml", urlset([site.url(f"/q/{i}") for i in range(pages)]))
    site.expected = {site.url(f"/q/{i}") for i in range(pages)}
    return site


def new_batch(owner, sites):
    with transaction.atomic():
        batch = create_batch(owner, "faults", parse_text("\n".join(s.host for s in sites)).entries)
    connections.close_all()
    return batch


def finished(batch):
    return lambda: Batch.objects.filter(pk=batch.pk, finished_at__isnull=False).exists()


def partly_stored(site):
    return lambda: Domain.objects.filter(host=site.host, status=DomainStatus.RUNNING, urls_count__gt=0).exists()


def assert_exact(batch, sites, status=BatchStatus.COMPLETED):
    """Every site's URL set exactly, each domain done once, counters equal to the rows."""
    batch.refresh_from_db()
    for site in sites:
        domain = Domain.objects.get(batch=batch, host=site.host)
        assert set(Url.objects.filter(domain=domain).values_list("loc", flat=True)) == site.expected, site.host
        assert domain.status == DomainStatus.DONE, (site.host, domain.error)
        assert domain.urls_count == len(site.expected)
        assert domain.sitemaps_count == SitemapFile.objects.filter(domain=domain).count() == 1
    assert batch.status == status
    assert batch.domains_done == len(sites)
    assert batch.urls_count == Url.objects.filter(domain__batch=batch).count() == sum(len(s.expected) for s in sites)
    assert batch.sitemaps_count == SitemapFile.objects.filter(domain__batch=batch).count()


def test_a_cluster_killed_mid_domain_loses_nothing_once_another_starts(site_factory, owner):
    sites = [slow_site(site_factory) for _ in range(3)]
    batch = new_batch(owner, sites)
    first = start_cluster(FAST_RECOVERY)
    try:
        assert wait_until(partly_stored(sites[0]), timeout=60), "the first domain never started"
    finally:
        kill_cluster(first)
    killed = set(Domain.objects.filter(batch=batch, status=DomainStatus.RUNNING).values_list("host", flat=True))
    assert sites[0].host in killed

    second = start_cluster(FAST_RECOVERY)
    try:
        # The reaper (its schedule, or a running worker's heartbeat) takes the dead run back.
        done = wait_until(finished(batch), timeout=150)
    finally:
        output = stop_cluster(second)
    assert done, output[-3000:]

    assert_exact(batch, sites)
    attempts = dict(Domain.objects.filter(batch=batch).values_list("host", "attempts"))
    assert all(attempts[host] == 2 for host in killed), attempts


def test_two_clusters_on_one_batch_process_each_domain_exactly_once(site_factory, owner, settings):
    settings.SITEMAPS_DOMAINS_PER_TASK = 1  # sixteen messages, so that both clusters get some
    sites = [quick_site(site_factory) for _ in range(16)]
    for site in sites:
        site.latency = 0.1
    batch = new_batch(owner, sites)
    # One domain in flight per worker process: a cluster cannot take all sixteen before the
    # other one has started (each process keeps 32 by default).
    one_each = {"LOG_LEVEL": "INFO", "SITEMAPS_DOMAINS_PER_WORKER": "1"}
    clusters = [start_cluster(one_each), start_cluster(one_each)]
    try:
        done = wait_until(finished(batch), timeout=120)
    finally:
        outputs = [stop_cluster(cluster) for cluster in clusters]
    assert done, outputs[0][-2000:]

    assert_exact(batch, sites)
    assert set(Domain.objects.filter(batch=batch).values_list("attempts", flat=True)) == {1}
    # Fetched once each: no domain was crawled by both clusters.
    assert all(site.hits["/robots.txt"] == 1 and site.hits["/sitemap.xml"] == 1 for site in sites)
    assert all("Processed 'batches.tasks.crawl_domains'" in output for output in outputs), "one cluster idled"


def test_cancelling_mid_run_stops_the_running_domain_and_the_queued_ones(site_factory, owner):
    running = slow_site(site_factory, pause=1.0)
    queued = [quick_site(site_factory) for _ in range(4)]
    batch = new_batch(owner, [running, *queued])
    # One domain at a time, so that the quick ones are still queued when the batch is cancelled.
    cluster = start_cluster({"SITEMAPS_WORKERS": "1", "SITEMAPS_DOMAINS_PER_WORKER": "1", **FAST_RECOVERY})
    try:
        assert wait_until(partly_stored(running), timeout=60)
        with transaction.atomic():
            assert services.cancel_batch(batch.pk)
        cancelled_at = time.monotonic()
        done = wait_until(finished(batch), timeout=30)
        took = time.monotonic() - cancelled_at
    finally:
        output = stop_cluster(cluster)
    assert done, output[-3000:]

    batch.refresh_from_db()
    assert took < 4, f"the running domain took {took:.1f} s to stop"
    assert set(Domain.objects.filter(batch=batch).values_list("status", flat=True)) == {DomainStatus.CANCELLED}
    assert (batch.status, batch.domains_cancelled, batch.domains_done, batch.progress) == (
        BatchStatus.CANCELLED, 5, 0, 100)
    stopped = Domain.objects.get(batch=batch, host=running.host)
    assert 0 < stopped.urls_count < PAGES
    assert batch.urls_count == stopped.urls_count == Url.objects.filter(domain__batch=batch).count()
    assert all(sum(site.hits.values()) == 0 for site in queued)


def test_a_host_answering_429_with_retry_after_is_asked_again_after_the_delay(site_factory, owner):
    site = quick_site(site_factory)
    body = urlset(sorted(site.expected)).encode()
    requests = []

    def throttled(request):
        requests.append(time.monotonic())
        if len(requests) == 1:
            request._send(429, b"slow down", {"Content-Type": "text/plain", "Retry-After": "2"})
        else:
            request._send(200, body, {"Content-Type": "application/xml"})

    site.add("/sitemap.xml", handler=throttled)
    batch = new_batch(owner, [site])
    cluster = start_cluster({"SITEMAPS_RETRIES": "2"})
    try:
        done = wait_until(finished(batch), timeout=60)
    finally:
        output = stop_cluster(cluster)
    assert done, output[-3000:]

    assert_exact(batch, [site])
    assert len(requests) == 2
    assert requests[1] - requests[0] >= 1.9
    assert SitemapFile.objects.get(domain__batch=batch).http_status == 200


PG_VERSION = next(iter(p.name for p in Path("/etc/postgresql").glob("*")), "") if Path("/etc/postgresql").exists() else ""


def pg_ctl(action):
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, "main", action, *(
        ["-m", "fast"] if action == "stop" else [])], check=True, capture_output=True, timeout=60)


def test_postgresql_stopping_for_a_few_seconds_mid_batch_loses_nothing(site_factory, owner):
    if connection.vendor != "postgresql" or not PG_VERSION:
        pytest.skip("stops and starts the local PostgreSQL server; needs PostgreSQL and pg_ctlcluster")
    sites = [slow_site(site_factory, pause=0.7) for _ in range(2)]
    batch = new_batch(owner, sites)
    cluster = start_cluster(FAST_RECOVERY)
    try:
        assert wait_until(lambda: all(partly_stored(site)() for site in sites), timeout=60)
        connections.close_all()
        pg_ctl("stop")
        try:
            time.sleep(3)
        finally:
            pg_ctl("start")
        done = wait_until_db(finished(batch), timeout=120)
    finally:
        output = stop_cluster(cluster)
    assert done, output[-3000:]

    assert_exact(batch, sites)


def test_a_cluster_killed_and_started_again_resumes_its_domains_within_30_seconds(site_factory, owner):
    # Default recovery settings: the restarted cluster must not wait for the heartbeat to go stale.
    sites = [slow_site(site_factory, pause=1.0) for _ in range(2)]
    batch = new_batch(owner, sites)
    first = start_cluster()
    try:
        assert wait_until(lambda: all(partly_stored(site)() for site in sites), timeout=60)
    finally:
        kill_cluster(first)
    killed_at = time.monotonic()
    time.sleep(2)

    second = start_cluster()
    try:
        resumed = wait_until(lambda: Domain.objects.filter(batch=batch, attempts=2).count() == 2, timeout=40)
        resumed_after = time.monotonic() - killed_at
        done = wait_until(finished(batch), timeout=120)
    finally:
        output = stop_cluster(second)
    assert resumed and resumed_after < 30, (resumed_after, output[-3000:])
    assert done, output[-3000:]

    assert_exact(batch, sites)
    assert set(Domain.objects.filter(batch=batch).values_list("attempts", flat=True)) == {2}
