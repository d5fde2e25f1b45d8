"""Reliability of processing in one process: claims, reprocessing, the reaper, feeding, cancel, delete."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from batches import queue, reaper, services, worker
from batches.entries import parse_text
from batches.models import Batch, BatchStatus, Domain, DomainStatus, SitemapFile, Url
from batches.worker import claim_domain, process_domain
from tests.sites import sitemapindex, urlset

pytestmark = pytest.mark.django_db(transaction=True)


def make_batch(owner, hosts, enqueue=False):
    with transaction.atomic():
        return services.create_batch(owner, "b", parse_text("\n".join(hosts)).entries, enqueue=enqueue)


def enqueued_domains():
    """The domain ids waiting in the ORM broker, in message order."""
    return [pk for message in OrmQ.objects.order_by("pk") for pk in message.task["args"][0]]


def indexed_site(site_factory, pages=30):
    site = site_factory()
    site.add("/robots.txt", f"Sitemap: {site.url('/index.xml')}\n", content_type="text/plain")
    site.add("/index.xml", sitemapindex([site.url("/a.xml"), site.url("/b.xml")]))
    site.add("/a.xml", urlset([site.url(f"/a/{i}") for i in range(pages)]))
    site.add("/b.xml", urlset([site.url(f"/b/{i}") for i in range(pages)] + [site.url("/a/0")]))
    return site


def expected_locs(site, pages=30):
    return {site.url(f"/a/{i}") for i in range(pages)} | {site.url(f"/b/{i}") for i in range(pages)}


def assert_clean_run(batch, site, attempts):
    domain = Domain.objects.get(batch=batch)
    batch.refresh_from_db()
    assert set(Url.objects.filter(domain=domain).values_list("loc", flat=True)) == expected_locs(site)
    assert sorted(SitemapFile.objects.filter(domain=domain).values_list("url", flat=True)) == sorted(
        [site.url("/index.xml"), site.url("/a.xml"), site.url("/b.xml")])
    assert (domain.status, domain.attempts, domain.urls_count, domain.sitemaps_count) == (
        DomainStatus.DONE, attempts, 60, 3)
    assert (batch.status, batch.domains_done, batch.urls_count, batch.sitemaps_count) == (
        BatchStatus.COMPLETED, 1, 60, 3)


def test_a_second_delivery_of_a_finished_domain_is_a_no_op(site_factory, owner):
    site = indexed_site(site_factory)
    batch = make_batch(owner, [site.host])
    domain = Domain.objects.get()

    assert process_domain(domain.pk, feed=False) == DomainStatus.DONE
    assert process_domain(domain.pk, feed=False) == "not claimed"

    assert_clean_run(batch, site, attempts=1)


def test_a_domain_killed_mid_run_is_reprocessed_to_exactly_one_clean_run(site_factory, owner):
    site = indexed_site(site_factory)
    batch = make_batch(owner, [site.host])
    domain = claim_domain(Domain.objects.get().pk)
    # What a worker killed half-way leaves behind: some rows, counted, and a stopped heartbeat.
    writer = worker.DomainWriter(domain)
    from batches.sitemaps import SitemapStarted, UrlChunk
    from batches.sitemaps.records import UrlRecord
    writer.write(SitemapStarted(1, site.url("/a.xml"), None, "robots", None))
    writer.write(UrlChunk(1, [UrlRecord(loc=site.url("/a/0")), UrlRecord(loc=site.url("/stale"))]))
    Domain.objects.filter(pk=domain.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert Batch.objects.get().urls_count == 2

    assert reaper.reap()["requeued"] == 1  # q is not sync: the task waits in the ORM broker
    assert Domain.objects.get().status == DomainStatus.QUEUED
    assert process_domain(domain.pk, feed=False) == DomainStatus.DONE

    assert_clean_run(batch, site, attempts=2)


def test_two_workers_claiming_one_domain_at_once_get_it_exactly_once(owner):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent claims need PostgreSQL's row locks (SQLite serialises all writers)")
    batch = make_batch(owner, ["example.com"])
    domain_id = Domain.objects.get().pk
    barrier = threading.Barrier(8)
    claims = []

    def claim():
        barrier.wait()
        try:
            claims.append(claim_domain(domain_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len([c for c in claims if c is not None]) == 1
    assert Domain.objects.get().attempts == 1
    assert batch.pk


def test_the_reaper_fails_a_domain_whose_worker_died_on_every_attempt(owner, settings):
    settings.SITEMAPS_MAX_ATTEMPTS = 2
    batch = make_batch(owner, ["example.com"])
    long_ago = timezone.now() - timedelta(hours=1)
    Domain.objects.update(status=DomainStatus.RUNNING, attempts=2, heartbeat_at=long_ago)

    assert reaper.reap()["failed"] == 1

    domain = Domain.objects.get()
    batch.refresh_from_db()
    assert (domain.status, domain.error) == (
        DomainStatus.FAILED, "the worker stopped responding during each of 2 attempts")
    assert (batch.status, batch.domains_failed) == (BatchStatus.FAILED, 1)
    assert batch.finished_at is not None


def test_the_reaper_leaves_a_domain_with_a_live_heartbeat_alone(owner):
    make_batch(owner, ["example.com"])
    Domain.objects.update(status=DomainStatus.RUNNING, attempts=1, heartbeat_at=timezone.now())

    assert reaper.reap() == {"requeued": 0, "failed": 0, "refed": 0, "results_pruned": 0}
    assert Domain.objects.get().status == DomainStatus.RUNNING


def test_the_reaper_feeds_a_stalled_batch_whose_queue_messages_were_lost(owner, settings):
    settings.SITEMAPS_QUEUE_WINDOW = 10
    with transaction.atomic():
        batch = services.create_batch(owner, "b", parse_text("a.example\nb.example\nc.example").entries)
    OrmQ.objects.all().delete()  # lost with a Redis restart or a killed cluster's prefetch
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert reaper.reap()["refed"] == 3
    assert enqueued_domains() == list(Domain.objects.order_by("position").values_list("pk", flat=True))
    assert reaper.reap()["refed"] == 0  # not again before another STALE_AFTER


def test_the_feeder_keeps_only_a_window_of_domains_in_the_queue(owner, settings):
    settings.SITEMAPS_QUEUE_WINDOW = 4
    hosts = [f"site{i}.example" for i in range(10)]
    with transaction.atomic():
        batch = services.create_batch(owner, "b", parse_text("\n".join(hosts)).entries)
    ids = list(Domain.objects.order_by("position").values_list("pk", flat=True))
    assert enqueued_domains() == ids[:4]
    assert queue.feed_batch(batch.pk) == 0  # the window is full

    Domain.objects.filter(position__lte=3).update(status=DomainStatus.DONE)
    assert queue.feed_batch(batch.pk) == 3
    assert Batch.objects.get().enqueued_position == 7
    assert enqueued_domains() == ids[:7]


def test_sync_mode_processes_a_batch_larger_than_the_window(site_factory, owner, settings, q_sync,
                                                           django_capture_on_commit_callbacks):
    settings.SITEMAPS_QUEUE_WINDOW = 2
    sites = [site_factory() for _ in range(5)]
    for site in sites:
        site.add("/sitemap.xml", urlset([site.url("/x")]))
    with django_capture_on_commit_callbacks(execute=True):
        batch = make_batch(owner, [s.host for s in sites], enqueue=True)

    batch.refresh_from_db()
    assert (batch.status, batch.domains_done, batch.urls_count) == (BatchStatus.COMPLETED, 5, 5)


def test_cancelling_stops_queued_domains_at_once_and_the_batch_ends_cancelled(owner):
    batch = make_batch(owner, ["a.example", "b.example"])
    Domain.objects.filter(host="a.example").update(status=DomainStatus.RUNNING, heartbeat_at=timezone.now())

    with transaction.atomic():
        assert services.cancel_batch(batch.pk)
    assert Domain.objects.get(host="b.example").status == DomainStatus.CANCELLED
    assert Batch.objects.get().finished_at is None  # a.example still stops

    domain = Domain.objects.get(host="a.example")
    domain.attempts = 0
    writer = worker.DomainWriter(domain)
    assert writer.cancelled()
    writer.finish(DomainStatus.CANCELLED)
    Batch.finish_if_complete(batch.pk)

    batch.refresh_from_db()
    assert (batch.status, batch.domains_cancelled, batch.progress) == (BatchStatus.CANCELLED, 2, 100)
    assert batch.finished_at is not None


def test_statuses_only_move_along_the_allowed_transitions(owner):
    batch = make_batch(owner, ["a.example"])
    assert Domain.objects.move_to(DomainStatus.DONE) == 0  # queued -> done skips running
    assert Batch.objects.filter(pk=batch.pk).move_to(BatchStatus.PENDING) == 0
    assert Batch.objects.filter(pk=batch.pk).move_to(BatchStatus.RUNNING) == 1
    assert Batch.objects.filter(pk=batch.pk).move_to(BatchStatus.RUNNING) == 0


def test_a_deleted_batch_disappears_at_once_and_its_rows_are_purged_in_chunks(
        site_factory, owner, q_sync, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("batches.retention.URL_CHUNK", 7)
    site = indexed_site(site_factory)
    batch = make_batch(owner, [site.host])
    process_domain(Domain.objects.get().pk, feed=False)
    other = make_batch(owner, ["kept.example"])

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            services.delete_batch(batch.pk)

    assert list(Batch.all_objects.values_list("pk", flat=True)) == [other.pk]
    assert (Url.objects.count(), SitemapFile.objects.count(), Domain.objects.count()) == (0, 0, 1)


def test_stuck_domains_are_the_ones_running_without_a_heartbeat_past_the_threshold(owner):
    make_batch(owner, ["a.example", "b.example", "c.example"])
    now = timezone.now()
    Domain.objects.filter(host="a.example").update(
        status=DomainStatus.RUNNING, heartbeat_at=now - timedelta(hours=2), started_at=now - timedelta(hours=2))
    Domain.objects.filter(host="b.example").update(status=DomainStatus.RUNNING, heartbeat_at=now, started_at=now)

    assert list(Domain.objects.stuck(seconds=3600).values_list("host", flat=True)) == ["a.example"]
    assert Domain.objects.get(host="a.example").is_stuck
    assert not Domain.objects.get(host="b.example").is_stuck
